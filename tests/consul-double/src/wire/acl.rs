//! `/v1/acl/*`: tokens as the same struct encodes them in every version the double knows
//! (`structs.ACLToken`; the fields added later are `omitempty` and empty for these tokens).

use serde::Serialize;

use crate::model::Token;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyLink {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
}

/// `structs.ACLToken` as `/v1/acl/token/self` answers it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclToken {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    pub description: String,
    pub policies: Vec<PolicyLink>,
    pub local: bool,
    pub create_time: String,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

pub fn acl_token(token: &Token) -> AclToken {
    AclToken {
        accessor_id: token.accessor.clone(),
        secret_id: token.secret.clone(),
        description: token.description.clone(),
        policies: token
            .policies
            .iter()
            .map(|(id, name)| PolicyLink {
                id: id.clone(),
                name: name.clone(),
            })
            .collect(),
        local: false,
        create_time: token.create_time.clone(),
        hash: token.hash.clone(),
        create_index: token.create_index,
        modify_index: token.create_index,
    }
}

/// `aclBootstrapResponse` of `PUT /v1/acl/bootstrap`: the deprecated `ID` (= SecretID), then the
/// token's fields.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclBootstrap {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub token: AclToken,
}

pub fn acl_bootstrap(token: &Token) -> AclBootstrap {
    AclBootstrap {
        id: token.secret.clone(),
        token: acl_token(token),
    }
}
