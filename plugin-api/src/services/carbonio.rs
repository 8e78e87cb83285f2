//! `carbonio.*`: what Carbonio's LDAP says (the server list, the archive's copy).

use serde::{Deserialize, Serialize};

use super::Service;

/// `carbonio.servers` (1.5): Carbonio's servers as LDAP lists them (the `zimbraServer` entries
/// under `cn=servers,cn=zimbra`, what `carbonio prov gas` prints), read by the host bound as
/// service-discover binds (`/opt/zextras/conf/localconfig.xml`: `ldap_url`,
/// `zimbra_ldap_userdn`, `zimbra_ldap_password`). `NotFound` when this host has no
/// localconfig.xml (not a Carbonio node); `Failed` when LDAP cannot be reached or refuses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarbonioServers {
    /// Only the servers with this service enabled (`zimbraServiceEnabled`), as
    /// `carbonio prov gas SERVICE`; none: every server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl Service for CarbonioServers {
    const NAME: &'static str = "carbonio.servers";
    type Answer = ServerList;
}

/// [`CarbonioServers`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerList {
    /// Sorted by hostname.
    pub servers: Vec<CarbonioServer>,
}

impl ServerList {
    /// The servers' hostnames, sorted.
    pub fn hostnames(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.hostname.clone()).collect()
    }
}

/// One server of Carbonio's LDAP list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarbonioServer {
    /// The entry's `cn`: the server's FQDN.
    pub hostname: String,
    /// `zimbraServiceEnabled`.
    #[serde(default)]
    pub services: Vec<String>,
}

/// `carbonio.ldap-credentials` (1.5): the copy of the Mesh credentials archive service-discover
/// uploaded to LDAP (base64 of the whole file in `carbonioMeshCredentials` on
/// `cn=config,cn=zimbra`), which other nodes download during their setup. Same binding and
/// failures as [`CarbonioServers`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LdapCredentials {}

impl Service for LdapCredentials {
    const NAME: &'static str = "carbonio.ldap-credentials";
    type Answer = LdapCredentialsCopy;
}

/// [`LdapCredentials`]'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LdapCredentialsCopy {
    /// The decoded archive (armored text), none when the attribute is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<crate::SecretText>,
    /// The LDAP URL read from.
    pub url: String,
}
