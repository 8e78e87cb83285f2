//! The `carbonio.*` services: what Carbonio's LDAP says, read bound as service-discover binds
//! (localconfig.xml's `zimbra_ldap_userdn` and `zimbra_ldap_password`).
//!
//! - `carbonio.servers`: the `zimbraServer` entries under `cn=servers,cn=zimbra` (what
//!   `carbonio prov gas [SERVICE]` prints), with their `zimbraServiceEnabled`.
//! - `carbonio.ldap-credentials`: the copy of the Mesh archive service-discover uploaded (base64
//!   of the whole file in `carbonioMeshCredentials` on `cn=config,cn=zimbra`).
//!
//! The URLs are tried in service-discover's reading order (`ldap_master_url`, then `ldap_url`),
//! plain `ldap://` as it dials them or `ldaps://`, each with a connect and an operation time
//! limit, so a dead LDAP server costs seconds, not minutes. The bind password is registered as a
//! secret of the run before it is used and wiped afterwards, and it goes over plain `ldap://` to
//! an address of this host only when root or zextras owns the socket listening there (the
//! socket table says who, `crate::listeners`): anyone could have bound the port while slapd was
//! down.

use std::time::Duration;

use base64::Engine as _;
use carbonio_mesh_plugin_api::services::{
    CarbonioServer, CarbonioServers, LdapCredentials, LdapCredentialsCopy, ServerList,
    ServiceErrorKind, ServiceFailure,
};
use carbonio_mesh_plugin_api::{mesh, SecretText};
use ldap3::{LdapConn, LdapConnSettings, LdapError, Scope, SearchEntry};

use super::localconfig::{self, LdapSettings};
use super::{failure, HostContext};

const SERVERS_BASE: &str = "cn=servers,cn=zimbra";
const CONFIG_DN: &str = mesh::LDAP_ARCHIVE_DN;
const CREDENTIALS_ATTRIBUTE: &str = mesh::LDAP_ARCHIVE_ATTRIBUTE;
/// How long connecting to one URL, and then each operation, may take.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// What to do when LDAP cannot be reached.
const UNREACHABLE_FIX: &str =
    "check that Carbonio's LDAP server is running and reachable from this node, and that \
ldap_master_url / ldap_url in /opt/zextras/conf/localconfig.xml name it";

/// A bound connection and the URL it went to.
struct Bound {
    conn: LdapConn,
    url: String,
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = self.conn.with_timeout(TIME_LIMIT).unbind();
    }
}

/// The LDAP result code's name (RFC 4511), for messages an admin can look up.
fn result_name(rc: u32) -> String {
    let name = match rc {
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => return format!("result code {rc}"),
    };
    format!("{name} ({rc})")
}

/// An ldap3 error in words: the LDAP result's name and text, or the transport's error.
fn describe(error: &LdapError) -> String {
    match error {
        LdapError::LdapResult { result } if result.text.is_empty() => result_name(result.rc),
        LdapError::LdapResult { result } => {
            format!("{}: {}", result_name(result.rc), result.text.trim())
        }
        LdapError::Timeout { .. } => format!("no answer within {} s", TIME_LIMIT.as_secs()),
        other => other.to_string(),
    }
}

fn result_code(error: &LdapError) -> Option<u32> {
    match error {
        LdapError::LdapResult { result } => Some(result.rc),
        _ => None,
    }
}

/// Refuses a plain `ldap://` URL whose address is this host's when the socket listening there
/// belongs to anyone but root or zextras (Carbonio's slapd runs as zextras): the bind password
/// would go to whoever took the port. Other hosts' listeners are not in this host's table.
fn local_listener_trusted(url: &str) -> Result<(), String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(()); // ldap3 says what is wrong with it
    };
    let Some(host) = parsed.host_str().filter(|_| parsed.scheme() == "ldap") else {
        return Ok(());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port().unwrap_or(389);
    let Ok(addresses) = std::net::ToSocketAddrs::to_socket_addrs(&(host, port)) else {
        return Ok(()); // ldap3 fails to resolve it too, and says so
    };
    let mut trusted = vec![0, nix::unistd::Uid::effective().as_raw()];
    trusted.extend(crate::listeners::uid_of("zextras"));
    for address in addresses.filter(|a| crate::listeners::is_local(a.ip())) {
        match crate::listeners::check(address, &trusted) {
            Ok(crate::listeners::Verdict::Foreign { uid }) => {
                return Err(format!(
                    "not bound: the socket listening at {address} belongs to {}, not to root or zextras, and the bind password is not sent to it",
                    crate::listeners::describe_uid(uid)
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(format!("not bound: cannot read the socket table: {e}")),
        }
    }
    Ok(())
}

/// Connects to the first URL that answers and binds there. A refused bind is not retried on
/// the next URL: every Carbonio LDAP server takes the same credentials, so the next one would
/// refuse them too (service-discover stops there as well).
fn bind(context: &HostContext, settings: &LdapSettings) -> Result<Bound, ServiceFailure> {
    context.add_secret(&settings.password);
    let mut unreachable = Vec::new();
    for url in &settings.urls {
        if let Err(why) = local_listener_trusted(url) {
            tracing::debug!("LDAP {url}: {why}");
            unreachable.push(format!("{url} ({why})"));
            continue;
        }
        let conn_settings = LdapConnSettings::new().set_conn_timeout(TIME_LIMIT);
        let mut conn = match LdapConn::with_settings(conn_settings, url) {
            Ok(conn) => conn,
            Err(error) => {
                tracing::debug!("LDAP {url}: {}", describe(&error));
                unreachable.push(format!("{url} ({})", describe(&error)));
                continue;
            }
        };
        let bound = conn
            .with_timeout(TIME_LIMIT)
            .simple_bind(&settings.bind_dn, &settings.password)
            .and_then(|result| result.success());
        return match bound {
            Ok(_) => Ok(Bound {
                conn,
                url: url.clone(),
            }),
            Err(error) => {
                let fix = match result_code(&error) {
                    Some(49) | Some(48) => format!(
                        "the bind DN and password are zimbra_ldap_userdn ({}) and zimbra_ldap_password in \
/opt/zextras/conf/localconfig.xml: make them match what LDAP at {url} accepts (they are the same on every Carbonio node)",
                        settings.bind_dn
                    ),
                    _ => UNREACHABLE_FIX.to_owned(),
                };
                Err(ServiceFailure {
                    hint: Some(fix),
                    ..failure(
                        ServiceErrorKind::Failed,
                        format!(
                            "LDAP at {url} refused the bind as {}: {}",
                            settings.bind_dn,
                            describe(&error)
                        ),
                    )
                })
            }
        };
    }
    Err(ServiceFailure {
        hint: Some(UNREACHABLE_FIX.to_owned()),
        ..failure(
            ServiceErrorKind::Failed,
            format!("cannot reach LDAP: {}", unreachable.join("; ")),
        )
    })
}

/// localconfig.xml under `--root`, bound.
fn connect(context: &HostContext) -> Result<Bound, ServiceFailure> {
    let settings = localconfig::read(&context.paths)?;
    bind(context, &settings)
}

/// A search on a bound connection; its entries, or a failure naming the URL and the base.
fn search(
    bound: &mut Bound,
    base: &str,
    scope: Scope,
    filter: &str,
    attributes: &[&str],
) -> Result<Vec<SearchEntry>, ServiceFailure> {
    let answer = bound
        .conn
        .with_timeout(TIME_LIMIT)
        .search(base, scope, filter, attributes.to_vec())
        .and_then(|result| result.success());
    match answer {
        Ok((entries, _)) => Ok(entries.into_iter().map(SearchEntry::construct).collect()),
        Err(error) => Err(ServiceFailure {
            hint: Some(match result_code(&error) {
                Some(32) => format!(
                    "{base} is missing: is {} Carbonio's LDAP server?",
                    bound.url
                ),
                Some(50) => format!(
                    "the bind DN (zimbra_ldap_userdn in {}) may not read {base}",
                    localconfig::PATH
                ),
                _ => UNREACHABLE_FIX.to_owned(),
            }),
            ..failure(
                ServiceErrorKind::Failed,
                format!(
                    "LDAP at {} refused the search of {base}: {}",
                    bound.url,
                    describe(&error)
                ),
            )
        }),
    }
}

/// The values of `name` in `entry` (attribute names are case-insensitive).
fn values<'a>(entry: &'a SearchEntry, name: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, values)| values.as_slice())
        .unwrap_or_default()
}

/// The search filter for `carbonio prov gas [SERVICE]`.
fn servers_filter(service: Option<&str>) -> String {
    match service {
        Some(service) => format!(
            "(&(objectClass=zimbraServer)(zimbraServiceEnabled={}))",
            ldap3::ldap_escape(service)
        ),
        None => "(objectClass=zimbraServer)".to_owned(),
    }
}

pub(super) fn servers(
    context: &HostContext,
    request: CarbonioServers,
) -> Result<ServerList, ServiceFailure> {
    let mut bound = connect(context)?;
    let entries = search(
        &mut bound,
        SERVERS_BASE,
        Scope::OneLevel,
        &servers_filter(request.service.as_deref()),
        &["cn", "zimbraServiceEnabled"],
    )?;
    let mut servers: Vec<CarbonioServer> = entries
        .iter()
        .filter_map(|entry| {
            let hostname = values(entry, "cn").first()?.clone();
            Some(CarbonioServer {
                hostname,
                services: values(entry, "zimbraServiceEnabled").to_vec(),
            })
        })
        .collect();
    servers.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(ServerList { servers })
}

/// The archive in an attribute value: base64 of armored text (as service-discover uploads it).
fn decode_archive(value: &str, url: &str) -> Result<SecretText, ServiceFailure> {
    let bad = |why: &str| {
        ServiceFailure {
            hint: Some("run `carbonio-mesh credentials verify` on the Mesh leader: it says how to upload the archive again".to_owned()),
            ..failure(
                ServiceErrorKind::Failed,
                format!("the {CREDENTIALS_ATTRIBUTE} value on {CONFIG_DN} at {url} {why}"),
            )
        }
    };
    let bytes = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| bad("is not base64"))?,
    );
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("is not an armored archive"))?;
    Ok(SecretText::new(text))
}

pub(super) fn credentials(
    context: &HostContext,
    _request: LdapCredentials,
) -> Result<LdapCredentialsCopy, ServiceFailure> {
    let mut bound = connect(context)?;
    let entries = search(
        &mut bound,
        CONFIG_DN,
        Scope::Base,
        "(objectClass=*)",
        &[CREDENTIALS_ATTRIBUTE],
    )?;
    let archive = match entries
        .first()
        .and_then(|entry| values(entry, CREDENTIALS_ATTRIBUTE).first())
    {
        Some(value) => Some(decode_archive(value, &bound.url)?),
        None => None,
    };
    Ok(LdapCredentialsCopy {
        archive,
        url: bound.url.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_filters_are_escaped() {
        assert_eq!(servers_filter(None), "(objectClass=zimbraServer)");
        assert_eq!(
            servers_filter(Some("service-discover")),
            "(&(objectClass=zimbraServer)(zimbraServiceEnabled=service-discover))"
        );
        assert_eq!(
            servers_filter(Some("x)(cn=*")),
            "(&(objectClass=zimbraServer)(zimbraServiceEnabled=x\\29\\28cn=\\2a))"
        );
    }

    #[test]
    fn archives_are_decoded_or_refused_by_name() {
        let armored = "-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----\n";
        let value = base64::engine::general_purpose::STANDARD.encode(armored);
        assert_eq!(
            decode_archive(&value, "ldap://x").unwrap().expose(),
            armored
        );
        let refused = decode_archive("not base64!", "ldap://x").unwrap_err();
        assert!(
            refused.message.contains("at ldap://x is not base64"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn result_codes_have_their_names() {
        assert_eq!(result_name(49), "invalidCredentials (49)");
        assert_eq!(result_name(999), "result code 999");
    }
}

/// The services as a plugin reaches them: through the dispatcher, by name.
#[cfg(test)]
mod dispatch_tests {
    use std::path::Path;

    use carbonio_mesh_plugin_api::services::Service;

    use super::*;
    use crate::config::paths::SystemPaths;
    use crate::config::settings::Config;
    use crate::services::test_consul;

    fn context(root: &Path) -> HostContext {
        HostContext::new(
            "test",
            SystemPaths::new(Some(root.to_owned())),
            Config::default(),
            false,
            test_consul(),
        )
    }

    #[test]
    fn without_localconfig_both_services_answer_not_found() {
        let root = tempfile::tempdir().unwrap();
        let context = context(root.path());
        for service in [CarbonioServers::NAME, LdapCredentials::NAME] {
            let error = crate::services::dispatch(&context, service, "{}").unwrap_err();
            assert_eq!(error.kind, ServiceErrorKind::NotFound, "{service}");
            assert_eq!(
                error.message,
                "not a Carbonio node: no /opt/zextras/conf/localconfig.xml"
            );
        }
    }

    #[test]
    fn an_unreachable_ldap_is_named_and_the_password_registered() {
        let root = tempfile::tempdir().unwrap();
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = root.path().join("opt/zextras/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("localconfig.xml"),
            format!(
                "<localconfig><key name=\"ldap_url\"><value>ldap://127.0.0.1:{port}</value></key>\
<key name=\"zimbra_ldap_userdn\"><value>uid=zimbra,cn=admins,cn=zimbra</value></key>\
<key name=\"zimbra_ldap_password\"><value>Bind-Password-42</value></key></localconfig>"
            ),
        )
        .unwrap();
        let context = context(root.path());
        let error = crate::services::dispatch(&context, LdapCredentials::NAME, "{}").unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Failed);
        assert!(
            error
                .message
                .starts_with(&format!("cannot reach LDAP: ldap://127.0.0.1:{port} (")),
            "{}",
            error.message
        );
        assert!(error.hint.unwrap().contains("localconfig.xml"));
        assert_eq!(context.redact("pw Bind-Password-42"), "pw <redacted>");
        let bad = crate::services::dispatch(&context, CarbonioServers::NAME, "{\"service\": 3}")
            .unwrap_err();
        assert_eq!(bad.kind, ServiceErrorKind::Invalid);
    }
}
