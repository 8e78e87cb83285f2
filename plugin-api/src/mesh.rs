//! Facts about Carbonio Mesh that the host and plugins share: where its files live and what the
//! credentials archive holds (`docs/carbonio-mesh.md`).

use serde::{Deserialize, Serialize};

use crate::services::{LdapCredentialsCopy, ServiceErrorKind};
use crate::{SecretText, ServiceError};

/// The credentials archive (ASCII-armored despite its name).
pub const ARCHIVE_PATH: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";
/// The archive's passphrase, raw, no newline; present on Mesh servers only.
pub const PASSWORD_PATH: &str = "/var/lib/service-discover/password";
/// service-discover's state directory: its certificates, the password file and Consul's data
/// directory (`data`, where the ACL reset file goes) are inside.
pub const STATE_DIR: &str = "/var/lib/service-discover";

/// Where service-discover setup (`--first-instance`) uploads the archive in Carbonio's LDAP, and
/// other nodes' setup downloads it from: base64 of the whole file in this attribute of this entry.
pub const LDAP_ARCHIVE_DN: &str = "cn=config,cn=zimbra";
/// The LDAP attribute holding the base64 archive on [`LDAP_ARCHIVE_DN`].
pub const LDAP_ARCHIVE_ATTRIBUTE: &str = "carbonioMeshCredentials";

/// How an admin puts this node's archive into LDAP at `url` the way service-discover setup does
/// (an LDAP modify replacing the attribute; nothing in Carbonio uploads it again by itself). The
/// bind password goes through a file, never on the command line.
pub fn ldap_upload_command(url: &str, archive: &str) -> String {
    format!(
        "{{ printf 'dn: {LDAP_ARCHIVE_DN}\\nchangetype: modify\\nreplace: {LDAP_ARCHIVE_ATTRIBUTE}\\n{LDAP_ARCHIVE_ATTRIBUTE}: '; \
base64 -w0 {archive}; echo; }} | ldapmodify -x -H {url} -D ZIMBRA_LDAP_USERDN -y PASSWORD_FILE \
(ZIMBRA_LDAP_USERDN and, in a 0600 PASSWORD_FILE without newline, zimbra_ldap_password: from /opt/zextras/conf/localconfig.xml)"
    )
}

/// How this node's archive compares with LDAP's copy (see [`compare_ldap_copy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapCopyVerdict {
    /// The copy is this archive byte for byte, or there was nothing to compare with.
    pub ok: bool,
    /// Not compared: this host has no Carbonio LDAP configuration (`ok` stays true).
    pub skipped: bool,
    /// What was found, one line.
    pub detail: String,
    /// What to do when not `ok`.
    pub fix: Option<String>,
}

/// The archive service-discover uploaded to LDAP (which nodes download during their setup)
/// against this node's file `local` (read from `archive_path`), byte for byte. `ldap` is what
/// the host's `carbonio.ldap-credentials` answered; NotFound means this is no Carbonio node.
pub fn compare_ldap_copy(
    local: &str,
    archive_path: &str,
    ldap: Result<LdapCredentialsCopy, ServiceError>,
) -> LdapCopyVerdict {
    let verdict = |ok, detail: String, fix| LdapCopyVerdict {
        ok,
        skipped: false,
        detail,
        fix,
    };
    let upload = |url: &str| {
        format!(
            "if this archive is the current one (the checks above pass on the Mesh leader), upload it as \
service-discover setup does: {}; or run `carbonio-mesh secret regenerate` on the leader, whose setup uploads a new one",
            ldap_upload_command(url, archive_path)
        )
    };
    let copy = match ldap {
        Ok(copy) => copy,
        Err(e) if e.kind == ServiceErrorKind::NotFound => {
            return LdapCopyVerdict {
                skipped: true,
                ..verdict(true, format!("not checked: {}", e.message), None)
            }
        }
        Err(e) => return verdict(false, e.message, e.hint),
    };
    let place = format!(
        "{LDAP_ARCHIVE_ATTRIBUTE} on {LDAP_ARCHIVE_DN} at {}",
        copy.url
    );
    match &copy.archive {
        Some(archive) if archive.expose() == local => {
            verdict(true, format!("LDAP holds the same archive ({place})"), None)
        }
        Some(_) => verdict(
            false,
            format!("{LDAP_DIFFERENT} ({place}): nodes set up now get that one"),
            Some(upload(&copy.url)),
        ),
        None => verdict(
            false,
            format!("LDAP holds no archive ({place} is empty): nodes cannot be set up"),
            Some(upload(&copy.url)),
        ),
    }
}

/// How [`compare_ldap_copy`]'s detail starts when LDAP holds another archive than this node's.
pub const LDAP_DIFFERENT: &str = "LDAP holds a different archive";

/// The bootstrap token, as `consul acl bootstrap -format json` printed it.
pub const ACL_SECRET_MEMBER: &str = "consul-acl-secret.json";
/// The gossip encryption key: 44 base64 characters, no newline.
pub const GOSSIP_KEY_MEMBER: &str = "gossip-key";
/// The cluster CA certificate.
pub const CA_CERT_MEMBER: &str = "var/lib/service-discover/consul-agent-ca.pem";
/// The cluster CA private key.
pub const CA_KEY_MEMBER: &str = "var/lib/service-discover/consul-agent-ca-key.pem";
/// Every member a complete archive holds.
pub const MEMBERS: [&str; 4] = [
    ACL_SECRET_MEMBER,
    GOSSIP_KEY_MEMBER,
    CA_CERT_MEMBER,
    CA_KEY_MEMBER,
];

/// `consul-acl-secret.json`: the fields carbonio-mesh uses; the rest is kept as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootstrapToken {
    /// The token's public ID.
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    /// The token itself: a secret.
    #[serde(rename = "SecretID")]
    pub secret_id: SecretText,
    /// The token's description.
    #[serde(rename = "Description", default)]
    pub description: String,
    /// The policies linked to the token.
    #[serde(rename = "Policies", default)]
    pub policies: Vec<PolicyLink>,
    /// When the token was made, as Consul wrote it.
    #[serde(rename = "CreateTime", default)]
    pub create_time: String,
}

/// A policy linked to a token (ID and name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyLink {
    /// The policy's ID.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// The policy's name.
    #[serde(rename = "Name", default)]
    pub name: String,
}

impl BootstrapToken {
    /// Parses the member's content. The error never quotes the content (it holds the secret).
    pub fn parse(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| {
            format!(
                "{ACL_SECRET_MEMBER} is not the JSON of a Consul token (line {}, column {}: {})",
                e.line(),
                e.column(),
                match e.classify() {
                    serde_json::error::Category::Data => "a field is missing or has the wrong type",
                    _ => "malformed JSON",
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_output_parses_and_errors_hide_the_content() {
        let json = r#"{"AccessorID":"15e8","SecretID":"2605","Description":"Bootstrap Token (Global Management)","Policies":[{"ID":"00000000-0000-0000-0000-000000000001","Name":"global-management"}],"Local":false,"CreateTime":"2021-03-01T10:00:00Z"}"#;
        let token = BootstrapToken::parse(json).unwrap();
        assert_eq!(token.secret_id.expose(), "2605");
        assert_eq!(token.policies[0].name, "global-management");
        let error = BootstrapToken::parse(r#"{"SecretID":"2605-secret"}"#).unwrap_err();
        assert!(!error.contains("2605"), "{error}");
    }
}
