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

/// `carbonio.setup-check` (1.7): what `service-discover setup` checks before it changes
/// anything, checked the way it checks it (SD `pkg/command/common.go`, `pkg/carbonio/ldap.go`
/// at f79641d): localconfig.xml holds `ldap_master_url`, `ldap_url`, `zimbra_ldap_userdn`,
/// `zimbra_ldap_password` and `zimbra_server_hostname`; a simple bind succeeds on an
/// `ldap_master_url` (setup uploads the archive there); `zimbra_server_hostname` resolves, and
/// not to a loopback address. `NotFound` when this host has no localconfig.xml (not a Carbonio
/// node); `Failed` naming what is wrong, with the fix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupCheck {}

impl Service for SetupCheck {
    const NAME: &'static str = "carbonio.setup-check";
    type Answer = SetupChecked;
}

/// `carbonio.setup-check`'s answer: what passed, for the step's detail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupChecked {
    /// `zimbra_server_hostname`, and what it resolves to.
    pub hostname: String,
    /// The addresses `hostname` resolves to.
    pub addresses: Vec<String>,
    /// The `ldap_master_url` that bound.
    pub master_url: String,
}
