//! This node's checks: its files (modes, owners, stale certificates), its certificates, its
//! archive (opens; equals LDAP's copy) and its service (unit active, `bind_addr` an address of
//! this host). The `*_check` functions are pure; [`gather`] reads.

use carbonio_mesh_plugin_api::mesh::{self, compare_ldap_copy};
use carbonio_mesh_plugin_api::services::{
    Credentials, Exec, ExecOutput, LdapCredentials, LocalAddresses, Stat,
};
use carbonio_mesh_plugin_api::untrusted::one_line;
use carbonio_mesh_plugin_api::{Host, ServiceError};
use serde::Deserialize;

use crate::certs::{self, Cert};
use crate::report::{CertificateExpiry, Check, Report, Status};

pub const MAIN_JSON: &str = "/etc/zextras/service-discover/main.json";
pub const CONFIG_JSON: &str = "/etc/zextras/service-discover/config.json";
pub const LIB_DIR: &str = "/var/lib/service-discover";
pub const CA_PATH: &str = "/var/lib/service-discover/consul-agent-ca.pem";

/// What opening the archive gave (opened once, for the cluster and the node checks).
pub enum ArchiveState {
    Opened(Credentials),
    /// Not tried: no password file (an agent keeps none).
    NoPassword,
    Failed(ServiceError),
}

/// The part of main.json the checks read; older files keep the TLS keys at the top level,
/// newer ones under `tls.defaults`.
#[derive(Debug, Default, Deserialize)]
pub struct MainJson {
    #[serde(default)]
    pub server: bool,
    /// The Consul node name setup gave this node (`server-`/`agent-` and the dashed hostname).
    #[serde(default)]
    pub node_name: Option<String>,
    /// The gossip key setup wrote (a secret: compared, never printed).
    #[serde(default)]
    pub encrypt: Option<carbonio_mesh_plugin_api::SecretText>,
    #[serde(default)]
    pub datacenter: Option<String>,
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    tls: Option<Tls>,
    #[serde(default)]
    data_dir: Option<String>,
    /// A Go duration (`168h`), Consul's limit on how long a server may have been down.
    #[serde(default)]
    pub server_rejoin_age_max: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Tls {
    #[serde(default)]
    defaults: Option<TlsDefaults>,
}

#[derive(Debug, Default, Deserialize)]
struct TlsDefaults {
    #[serde(default)]
    cert_file: Option<String>,
}

impl MainJson {
    pub fn cert_file(&self) -> Option<&str> {
        self.tls
            .as_ref()
            .and_then(|t| t.defaults.as_ref())
            .and_then(|d| d.cert_file.as_deref())
            .or(self.cert_file.as_deref())
    }

    pub fn datacenter(&self) -> &str {
        self.datacenter.as_deref().unwrap_or("dc1")
    }

    /// Consul's data directory (service-discover's default when main.json names none).
    pub fn data_dir(&self) -> &str {
        self.data_dir
            .as_deref()
            .unwrap_or("/var/lib/service-discover/data")
    }
}

#[derive(Debug, Deserialize)]
struct ConfigJson {
    bind_addr: String,
}

/// What a file must be.
pub struct FileRule<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub mode: Option<u32>,
    pub uid: u32,
    pub owner: &'a str,
    /// Status and fix when the file is missing.
    pub missing: (Status, &'a str),
}

pub fn file_check(rule: &FileRule<'_>, scope: &str, stat: Result<Stat, ServiceError>) -> Check {
    let path = rule.path;
    let stat = match stat {
        Ok(stat) if stat.exists => stat,
        Ok(_) => {
            return Check::new(
                rule.name,
                scope,
                rule.missing.0,
                format!("{path} is missing"),
            )
            .fix(rule.missing.1)
        }
        Err(e) => {
            return Check::new(
                rule.name,
                scope,
                Status::Fail,
                naming(path, &e, "cannot look at"),
            )
        }
    };
    let mode = stat.mode & 0o7777;
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if let Some(want) = rule.mode.filter(|want| *want != mode) {
        problems.push(format!("mode {mode:04o}, not {want:04o}"));
        fixes.push(format!("chmod {want:04o} {path}"));
    }
    if stat.uid != rule.uid {
        problems.push(format!(
            "owned by uid {}, not {} ({})",
            stat.uid, rule.owner, rule.uid
        ));
        fixes.push(format!("chown {}: {path}", rule.owner));
    }
    if problems.is_empty() {
        let mode = rule.mode.map(|m| format!("{m:04o} ")).unwrap_or_default();
        Check::new(
            rule.name,
            scope,
            Status::Ok,
            format!("{path}: {mode}{}", rule.owner),
        )
    } else {
        Check::new(
            rule.name,
            scope,
            Status::Fail,
            format!("{path}: {}", problems.join(", ")),
        )
        .fix(fixes.join("; "))
    }
}

/// `stale-certificates`: a `...-consul-1.pem` beside `...-consul-0.pem` is what Consul writes
/// when old certificates were left behind while main.json names `-0` (`names`: the files in
/// /var/lib/service-discover).
pub fn stale_certificates_check(scope: &str, names: &[String]) -> Check {
    let stale: Vec<&String> = names
        .iter()
        .filter(|n| {
            n.contains("-consul-1")
                && n.ends_with(".pem")
                && names.contains(&n.replacen("-consul-1", "-consul-0", 1))
        })
        .collect();
    if stale.is_empty() {
        return Check::new(
            "stale-certificates",
            scope,
            Status::Ok,
            "no leftover certificate",
        );
    }
    let paths: Vec<String> = stale.iter().map(|n| format!("{LIB_DIR}/{n}")).collect();
    Check::new(
        "stale-certificates",
        scope,
        Status::Warn,
        format!(
            "leftover certificates beside the -0 ones main.json names: {}",
            paths.join(", ")
        ),
    )
    .fix(format!("rm {}", paths.join(" ")))
}

/// The expiry part of a certificate check: fail when expired, warn within 30 days.
fn expiry(what: &str, cert: &Cert, now: i64) -> (Status, String) {
    let secs = cert.expires_in_secs(now);
    let words = format!(
        "{what} {} ({})",
        certs::expiry_words(secs),
        cert.not_after()
    );
    if secs < 0 {
        (Status::Fail, words)
    } else if secs < certs::EXPIRY_WARNING_SECS {
        (Status::Warn, words)
    } else {
        (Status::Ok, words)
    }
}

/// The fix of a node whose archive is not LDAP's while LDAP's is the Mesh leader's: the secrets
/// were regenerated without this node (a run without `--nodes`); uploading its old archive
/// would undo the regeneration for every node set up next.
pub const STALE_NODE: &str = "this node keeps an older archive than the Mesh leader's (the secrets were regenerated without it): copy the leader's /etc/zextras/service-discover/cluster-credentials.tar.gpg here and run carbonio-mesh secret rejoin --archive FILE; never upload this node's archive to LDAP";

const RESETUP: &str = "set this node up again with the cluster's archive: carbonio-mesh secret rejoin --archive FILE (on a Mesh server whose CA expires: carbonio-mesh secret regenerate)";

/// `ca-certificate`: the CA file parses, is the archive's CA (when the archive is open), and is
/// not expired.
pub fn ca_check(
    scope: &str,
    file: &Result<Cert, String>,
    archive_ca: Option<Result<Cert, String>>,
    now: i64,
) -> Check {
    let ca = match file {
        Ok(ca) => ca,
        Err(e) => return Check::new("ca-certificate", scope, Status::Fail, e.clone()).fix(RESETUP),
    };
    match archive_ca {
        Some(Ok(archived)) if archived.der() != ca.der() => {
            return Check::new(
                "ca-certificate",
                scope,
                Status::Fail,
                format!(
                    "{CA_PATH} is not the archive's CA ({} here, {} in the archive)",
                    ca.subject(),
                    archived.subject()
                ),
            )
            .fix(RESETUP)
        }
        Some(Err(e)) => {
            return Check::new(
                "ca-certificate",
                scope,
                Status::Fail,
                format!("the archive's CA: {e}"),
            )
        }
        _ => {}
    }
    let (status, words) = expiry("the CA", ca, now);
    Check::new(
        "ca-certificate",
        scope,
        status,
        format!("{}: {words}", ca.subject()),
    )
    .fix(RESETUP)
}

/// `node-certificate`: signed by the CA, names this node's role, not expired.
pub fn node_cert_check(
    scope: &str,
    path: &str,
    cert: &Result<Cert, String>,
    ca: Option<&Cert>,
    expected_name: &str,
    now: i64,
) -> Check {
    let cert = match cert {
        Ok(cert) => cert,
        Err(e) => {
            return Check::new("node-certificate", scope, Status::Fail, e.clone()).fix(RESETUP)
        }
    };
    if let Some(ca) = ca {
        if let Err(e) = cert.signed_by(ca) {
            return Check::new(
                "node-certificate",
                scope,
                Status::Fail,
                format!("{path} is not signed by the CA in {CA_PATH}: {e}"),
            )
            .fix(RESETUP);
        }
    }
    let names = cert.names();
    if !names.iter().any(|n| n.eq_ignore_ascii_case(expected_name)) {
        return Check::new(
            "node-certificate",
            scope,
            Status::Fail,
            format!("{path} is for {}, not {expected_name}", names.join(", ")),
        )
        .fix(RESETUP);
    }
    let (status, words) = expiry(path, cert, now);
    Check::new(
        "node-certificate",
        scope,
        status,
        format!("{expected_name}, {words}"),
    )
    .fix(RESETUP)
}

/// `service`: what `systemctl is-active service-discover` said; when it said no state (it
/// failed, or could not be run), the service is not checked, with the reason.
pub fn service_check(scope: &str, answer: Result<ExecOutput, ServiceError>) -> Check {
    match answer {
        Ok(out) if out.success() => {
            Check::new("service", scope, Status::Ok, "service-discover is active")
        }
        Ok(out) if out.stdout.trim().is_empty() => {
            let status = out
                .status
                .map_or_else(|| "killed".to_owned(), |s| format!("exit {s}"));
            // Its standard error, its lines joined (a real systemctl without systemd says why
            // on two lines).
            let lines: Vec<&str> = out
                .stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let said = match lines.as_slice() {
                [] => "and nothing else".to_owned(),
                lines => one_line(&lines.join("; ")).into_owned(),
            };
            Check::new(
                "service",
                scope,
                Status::Unknown,
                format!("not checked: systemctl is-active service-discover printed no state ({status}) {said}"),
            )
            .fix("systemctl status service-discover")
        }
        Ok(out) => Check::new(
            "service",
            scope,
            Status::Fail,
            format!("service-discover is {}", out.stdout.trim()),
        )
        .fix(
            "systemctl start service-discover; journalctl -u service-discover says why it stopped",
        ),
        Err(e) => Check::new(
            "service",
            scope,
            Status::Unknown,
            format!("not checked: cannot ask systemctl: {}", e.message),
        ),
    }
}

/// `bind-address`: config.json's `bind_addr` is one of this host's addresses.
pub fn bind_check(scope: &str, bind: Result<String, String>, local: &[String]) -> Check {
    match bind {
        Ok(bind) if local.contains(&bind) => Check::new(
            "bind-address",
            scope,
            Status::Ok,
            format!("bind_addr {bind} is an address of this host"),
        ),
        Ok(bind) => {
            let ours: Vec<&String> = local
                .iter()
                .filter(|a| !a.starts_with("127.") && *a != "::1")
                .collect();
            let fix = match ours.as_slice() {
                [one] => format!("service-discover config set bind-address {one}; systemctl restart service-discover"),
                _ => "service-discover config set bind-address IP (one of this host's addresses: ip -br addr); systemctl restart service-discover".to_owned(),
            };
            Check::new(
                "bind-address",
                scope,
                Status::Fail,
                format!("{CONFIG_JSON}: bind_addr {bind} is not an address of this host"),
            )
            .fix(fix)
        }
        // config.json is checked by `config-json`: without it, this is not checked.
        Err(e) => Check::new(
            "bind-address",
            scope,
            Status::Unknown,
            format!("not checked: {e}"),
        ),
    }
}

/// Why `path` could not be read: the host's message, which names the path already
/// ("cannot read PATH: ..."), else that message after the path.
pub fn unread(path: &str, e: &ServiceError) -> String {
    naming(path, e, "cannot read")
}

/// The host's message about `path` when it names it, else `what PATH: message` (said once).
pub fn naming(path: &str, e: &ServiceError, what: &str) -> String {
    if e.message.contains(path) {
        e.message.clone()
    } else {
        format!("{what} {path}: {}", e.message)
    }
}

/// `path`'s text, `None` when there is no such file, or why it could not be read.
pub fn read_if_present(host: &Host<'_>, path: &str) -> Result<Option<String>, String> {
    match host.stat(path) {
        Ok(stat) if !stat.exists => Ok(None),
        Ok(_) => host.read_file(path).map(Some).map_err(|e| unread(path, &e)),
        Err(e) => Err(naming(path, &e, "cannot look at")),
    }
}

/// The uid of `user` (`id -u`): the service user's files are checked by owner.
fn uid_of(host: &Host<'_>, user: &str) -> Option<u32> {
    let out = host
        .exec(&Exec::new(["id", "-u", user]).timeout_ms(5_000))
        .ok()?;
    out.stdout.trim().parse().ok()
}

/// Runs this node's checks into `report` (scope `node`).
pub fn gather(
    host: &Host<'_>,
    node: &str,
    main: &Result<MainJson, String>,
    service_user: &str,
    archive: &ArchiveState,
    report: &mut Report,
) {
    let server = main.as_ref().map(|m| m.server).unwrap_or(false);
    report
        .checks
        .extend(file_checks(host, node, server, service_user));
    certificate_checks(host, node, main, archive, report);
    report
        .checks
        .extend(archive_checks(host, node, server, archive));
    report.checks.extend(service_checks(host, node));
}

/// The files' owners and modes (the password file on a Mesh server only), and leftover
/// certificates.
fn file_checks(host: &Host<'_>, node: &str, server: bool, service_user: &str) -> Vec<Check> {
    let service_uid = uid_of(host, service_user);
    let mut rules = vec![FileRule {
        name: "archive-file",
        path: mesh::ARCHIVE_PATH,
        mode: Some(0o600),
        uid: 0,
        owner: "root",
        missing: (
            Status::Fail,
            "copy the archive from the Mesh leader: carbonio-mesh secret rejoin --archive FILE",
        ),
    }];
    if server {
        rules.push(FileRule {
            name: "password-file",
            path: mesh::PASSWORD_PATH,
            mode: Some(0o400),
            uid: 0,
            owner: "root",
            missing: (Status::Fail, "a Mesh server keeps the archive's password there: write it (no newline) with mode 0400, owner root"),
        });
    }
    for (name, path) in [("main-json", MAIN_JSON), ("config-json", CONFIG_JSON)] {
        rules.push(FileRule {
            name,
            path,
            // main.json holds the gossip key (`encrypt`): setup writes both 0600.
            mode: Some(0o600),
            uid: service_uid.unwrap_or(u32::MAX),
            owner: service_user,
            missing: (Status::Fail, "service-discover is not set up on this node: service-discover setup (or carbonio-mesh secret rejoin)"),
        });
    }
    let mut checks: Vec<Check> = rules
        .iter()
        .map(|rule| file_check(rule, node, host.stat(rule.path)))
        .collect();
    let names = host.list_dir(LIB_DIR).unwrap_or_default();
    checks.push(stale_certificates_check(node, &names));
    checks
}

/// The CA against the archive's, the node certificate against the CA and the node's role,
/// both expiries (kept in `report.certificates` for the metrics too).
fn certificate_checks(
    host: &Host<'_>,
    node: &str,
    main: &Result<MainJson, String>,
    archive: &ArchiveState,
    report: &mut Report,
) {
    let now = certs::now();
    let read = |path: &str| {
        host.read_file(path)
            .map_err(|e| unread(path, &e))
            .and_then(|text| Cert::parse(&text, path))
    };
    let ca = read(CA_PATH);
    let archive_ca = match archive {
        ArchiveState::Opened(credentials) => credentials
            .member(mesh::CA_CERT_MEMBER)
            .map(|m| Cert::parse(m.content.expose(), mesh::CA_CERT_MEMBER)),
        _ => None,
    };
    report.checks.push(ca_check(node, &ca, archive_ca, now));
    let mut expiry = |certificate: &str, cert: &Cert| {
        report.certificates.push(CertificateExpiry {
            certificate: certificate.into(),
            node: node.into(),
            expires_in_secs: cert.expires_in_secs(now),
            subject: Some(cert.subject()),
        })
    };
    if let Ok(ca) = &ca {
        expiry("ca", ca);
    }
    let main = match main {
        Ok(main) => main,
        Err(e) => {
            report.checks.push(Check::new(
                "node-certificate",
                node,
                Status::Unknown,
                format!("not checked: {e}"),
            ));
            return;
        }
    };
    let Some(path) = main.cert_file() else {
        report.checks.push(
            Check::new(
                "node-certificate",
                node,
                Status::Fail,
                format!("{MAIN_JSON} names no cert_file: Consul runs without TLS"),
            )
            .fix(RESETUP),
        );
        return;
    };
    let cert = read(path);
    if let Ok(cert) = &cert {
        expiry("node", cert);
    }
    let role = if main.server { "server" } else { "client" };
    let expected = format!("{role}.{}.consul", main.datacenter());
    report.checks.push(node_cert_check(
        node,
        path,
        &cert,
        ca.as_ref().ok(),
        &expected,
        now,
    ));
}

/// The archive opens (with the password file, on a Mesh server), and it is LDAP's copy.
fn archive_checks(host: &Host<'_>, node: &str, server: bool, archive: &ArchiveState) -> Vec<Check> {
    let mut checks = vec![match archive {
        ArchiveState::Opened(c) => Check::new(
            "archive",
            node,
            Status::Ok,
            format!(
                "{} opens with the password from {}",
                c.archive, c.password_source
            ),
        ),
        ArchiveState::NoPassword if server => Check::new(
            "archive",
            node,
            Status::Fail,
            format!("not opened: {} is missing", mesh::PASSWORD_PATH),
        ),
        ArchiveState::NoPassword => Check::new(
            "archive",
            node,
            Status::Ok,
            "not opened: an agent keeps no password file",
        ),
        ArchiveState::Failed(e) => Check::new("archive", node, Status::Fail, e.message.clone())
            .fix(
                e.hint
                    .clone()
                    .unwrap_or_else(|| "copy a good archive from the Mesh leader".into()),
            ),
    }];
    if let Ok(local) = host.read_file(mesh::ARCHIVE_PATH) {
        let verdict = compare_ldap_copy(&local, mesh::ARCHIVE_PATH, host.call(&LdapCredentials {}));
        let status = if verdict.ok { Status::Ok } else { Status::Fail };
        // An agent never holds the archive LDAP should have: it is the stale one.
        let fix = match verdict.fix {
            Some(_) if !server && verdict.detail.contains(mesh::LDAP_DIFFERENT) => {
                Some(STALE_NODE.to_owned())
            }
            fix => fix,
        };
        let mut check = Check::new("ldap-copy", node, status, verdict.detail);
        check.fix = fix.filter(|_| !verdict.ok);
        checks.push(check);
    }
    checks
}

/// The unit is active, and config.json's bind_addr is an address of this host.
fn service_checks(host: &Host<'_>, node: &str) -> Vec<Check> {
    let active =
        host.exec(&Exec::new(["systemctl", "is-active", "service-discover"]).timeout_ms(10_000));
    let bind = host
        .read_file(CONFIG_JSON)
        .map_err(|e| unread(CONFIG_JSON, &e))
        .and_then(|text| {
            serde_json::from_str::<ConfigJson>(&text)
                .map(|c| c.bind_addr)
                .map_err(|e| format!("{CONFIG_JSON} has no bind_addr: {e}"))
        });
    let local = host
        .call(&LocalAddresses {})
        .map(|a| a.addresses)
        .unwrap_or_default();
    vec![service_check(node, active), bind_check(node, bind, &local)]
}

/// Reads main.json (for the role, the datacenter and the certificate's path).
pub fn main_json(host: &Host<'_>) -> Result<MainJson, String> {
    let text = host
        .read_file(MAIN_JSON)
        .map_err(|e| unread(MAIN_JSON, &e))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{MAIN_JSON} is not Consul's JSON configuration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mode: u32, uid: u32) -> Result<Stat, ServiceError> {
        Ok(Stat {
            exists: true,
            file_type: None,
            mode: 0o100000 | mode,
            uid,
            gid: 0,
            size: 1,
        })
    }

    #[test]
    fn a_file_with_the_wrong_mode_or_owner_fails_with_chmod_and_chown() {
        let rule = FileRule {
            name: "archive-file",
            path: mesh::ARCHIVE_PATH,
            mode: Some(0o600),
            uid: 0,
            owner: "root",
            missing: (Status::Fail, "copy it"),
        };
        assert_eq!(file_check(&rule, "n", stat(0o600, 0)).status, Status::Ok);
        let bad = file_check(&rule, "n", stat(0o644, 1000));
        assert_eq!(bad.status, Status::Fail);
        assert_eq!(
            bad.fix.as_deref(),
            Some(format!("chmod 0600 {0}; chown root: {0}", mesh::ARCHIVE_PATH).as_str())
        );
        let missing = file_check(&rule, "n", Ok(Stat::default()));
        assert_eq!(
            (missing.status, missing.fix.as_deref()),
            (Status::Fail, Some("copy it"))
        );
    }

    #[test]
    fn only_a_dash_1_beside_its_dash_0_is_stale() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let check = stale_certificates_check(
            "n",
            &names(&[
                "dc1-server-consul-0.pem",
                "dc1-server-consul-0-key.pem",
                "dc1-server-consul-1.pem",
                "dc1-server-consul-1-key.pem",
            ]),
        );
        assert_eq!(check.status, Status::Warn);
        assert_eq!(
            check.fix.as_deref(),
            Some("rm /var/lib/service-discover/dc1-server-consul-1.pem /var/lib/service-discover/dc1-server-consul-1-key.pem")
        );
        assert_eq!(
            stale_certificates_check("n", &names(&["dc1-client-consul-1.pem"])).status,
            Status::Ok
        );
    }

    #[test]
    fn bind_addr_must_be_local_and_the_fix_names_the_only_address() {
        let local = vec!["127.0.0.1".to_owned(), "10.0.0.5".to_owned()];
        assert_eq!(
            bind_check("n", Ok("10.0.0.5".into()), &local).status,
            Status::Ok
        );
        let wrong = bind_check("n", Ok("192.0.2.2".into()), &local);
        assert_eq!(wrong.status, Status::Fail);
        assert!(wrong
            .fix
            .as_deref()
            .unwrap()
            .starts_with("service-discover config set bind-address 10.0.0.5"));
    }
}
