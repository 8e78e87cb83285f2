//! Plugin `credentials`: the Mesh credentials archive without `gpg | tar | jq`.
//!
//! - `token`: prints the bootstrap token's SecretID and nothing else (for
//!   `export CONSUL_HTTP_TOKEN=$(carbonio-mesh credentials token)`).
//! - `show`: members, sizes, the token's public fields, the CA's subject and expiry, the gossip
//!   key's length; secrets only with `--reveal`.
//! - `verify`: the archive opens, all four members are there, the CA key belongs to the CA, the
//!   gossip key has the right shape, and Consul accepts the token (`/v1/acl/token/self`).
//! - `rekey`: the same content under a new password, the old file backed up.
//!
//! The host opens and writes the archive (`credentials.open`, `credentials.write`) and finds the
//! password; this plugin never sees a password.

mod inspect;

use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{
    ConsulRequest, Credentials, LdapCredentials, LdapCredentialsCopy, NewMember, OpenCredentials,
    PasswordSource, WriteCredentials,
};
use carbonio_mesh_plugin_api::ServiceError;
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, ErrorKind, Host, Manifest, OutputFormat, Plugin,
    PluginError, Request, Response, SecretText,
};
use serde::Serialize;

/// The host's exit code for an unusable archive (README, "Exit codes").
const EXIT_BAD_ARCHIVE: u8 = 8;

fn archive_error(message: String) -> PluginError {
    PluginError::new(ErrorKind::Operation, message)
        .hint("copy a good archive from the Mesh leader or restore it from a backup")
        .with_exit_code(EXIT_BAD_ARCHIVE)
}

/// The archive option as a system path: relative paths are taken from the current directory.
fn archive_arg(request: &Request) -> Result<Option<String>, PluginError> {
    let Some(path) = request.value("archive") else {
        return Ok(None);
    };
    if path.starts_with('/') {
        return Ok(Some(path.to_owned()));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| PluginError::usage(format!("cannot resolve --archive {path}: {e}")))?;
    Ok(Some(cwd.join(path).display().to_string()))
}

fn open(host: &Host<'_>, request: &Request) -> Result<Credentials, PluginError> {
    let open = OpenCredentials {
        archive: archive_arg(request)?,
        password: PasswordSource {
            file: request.value("password-file").map(str::to_owned),
            stdin: request.flag("password-stdin"),
            ..PasswordSource::default()
        },
        known_password: None,
    };
    Ok(host.call(&open)?)
}

fn token_of(credentials: &Credentials) -> Result<BootstrapToken, PluginError> {
    inspect::token(credentials).map_err(archive_error)
}

fn token(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let credentials = open(host, request)?;
    let token = token_of(&credentials)?;
    let response = match request.format {
        OutputFormat::Json => Response::json(&serde_json::json!({
            "secret_id": token.secret_id.expose(),
            "accessor_id": token.accessor_id,
        }))?,
        OutputFormat::Human => Response::text(format!("{}\n", token.secret_id.expose())),
    };
    // The token is what the user asked for.
    Ok(response.revealing(&token.secret_id))
}

#[derive(Serialize)]
struct MemberView {
    name: String,
    mode: String,
    size: u64,
}

#[derive(Serialize)]
struct TokenView {
    accessor_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_id: Option<String>,
    description: String,
    policies: Vec<String>,
    create_time: String,
}

#[derive(Serialize)]
struct ShowView {
    archive: String,
    archive_size: u64,
    password_source: String,
    members: Vec<MemberView>,
    token: Option<TokenView>,
    ca: Option<inspect::CaInfo>,
    gossip_key_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gossip_key: Option<String>,
    problems: Vec<String>,
}

fn show(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let credentials = open(host, request)?;
    let reveal = request.flag("reveal");
    let mut problems = Vec::new();
    let token = match token_of(&credentials) {
        Ok(token) => Some(TokenView {
            accessor_id: token.accessor_id.clone(),
            secret_id: reveal.then(|| token.secret_id.expose().to_owned()),
            description: token.description.clone(),
            policies: token
                .policies
                .iter()
                .map(|p| format!("{} - {}", p.id, p.name))
                .collect(),
            create_time: token.create_time.clone(),
        }),
        Err(e) => {
            problems.push(e.message);
            None
        }
    };
    let ca = credentials
        .member(mesh::CA_CERT_MEMBER)
        .map(|m| inspect::ca_info(m.content.expose()));
    let ca = match ca {
        Some(Ok(ca)) => Some(ca),
        Some(Err(e)) => {
            problems.push(e);
            None
        }
        None => None,
    };
    let gossip = credentials.member(mesh::GOSSIP_KEY_MEMBER);
    let gossip_key_bytes =
        gossip.and_then(|m| match inspect::gossip_key_bytes(m.content.expose()) {
            Ok(n) => Some(n),
            Err(e) => {
                problems.push(e);
                None
            }
        });
    for name in mesh::MEMBERS {
        if credentials.member(name).is_none() {
            problems.push(format!("the member '{name}' is missing"));
        }
    }
    let view = ShowView {
        archive: credentials.archive.clone(),
        archive_size: credentials.archive_size,
        password_source: credentials.password_source.clone(),
        members: credentials
            .members
            .iter()
            .map(|m| MemberView {
                name: m.name.clone(),
                mode: format!("{:04o}", m.mode),
                size: m.size,
            })
            .collect(),
        token,
        ca,
        gossip_key_bytes,
        gossip_key: gossip
            .filter(|_| reveal)
            .map(|m| m.content.expose().to_owned()),
        problems,
    };
    let response = match request.format {
        OutputFormat::Json => Response::json(&view)?,
        OutputFormat::Human => Response::text(render_show(&view)),
    };
    // With --reveal, the token and the gossip key are what the user asked for.
    Ok([
        &view.token.as_ref().and_then(|t| t.secret_id.clone()),
        &view.gossip_key,
    ]
    .into_iter()
    .flatten()
    .fold(response, |response, secret| {
        response.revealing(&SecretText::new(secret.trim()))
    }))
}

fn render_show(view: &ShowView) -> String {
    let mut out = format!(
        "Archive:          {} ({} bytes, password from {})\nMembers:\n",
        view.archive, view.archive_size, view.password_source
    );
    let width = view.members.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in &view.members {
        out.push_str(&format!(
            "  {:width$}  {}  {} bytes\n",
            m.name, m.mode, m.size
        ));
    }
    if let Some(token) = &view.token {
        out.push_str(&format!("AccessorID:       {}\n", token.accessor_id));
        match &token.secret_id {
            Some(secret) => out.push_str(&format!("SecretID:         {secret}\n")),
            None => out.push_str("SecretID:         (hidden; --reveal shows it)\n"),
        }
        out.push_str(&format!("Description:      {}\n", token.description));
        out.push_str(&format!("Create Time:      {}\n", token.create_time));
        out.push_str("Policies:\n");
        for policy in &token.policies {
            out.push_str(&format!("   {policy}\n"));
        }
    }
    if let Some(ca) = &view.ca {
        let days = ca.expires_in_secs / 86_400;
        let when = if ca.expires_in_secs < 0 {
            format!("EXPIRED {} days ago", -days)
        } else {
            format!("in {days} days")
        };
        out.push_str(&format!("CA subject:       {}\n", ca.subject));
        out.push_str(&format!("CA expires:       {} ({when})\n", ca.not_after));
    }
    if let Some(bytes) = view.gossip_key_bytes {
        out.push_str(&format!("Gossip key:       {bytes} bytes\n"));
    }
    if let Some(key) = &view.gossip_key {
        out.push_str(&format!("Gossip key value: {key}\n"));
    }
    for problem in &view.problems {
        out.push_str(&format!("Problem:          {problem}\n"));
    }
    out
}

/// One check of `verify`.
#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    /// Not made (nothing to check against); `ok` stays true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skipped: bool,
    /// What to do about a failed check.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Check {
            name,
            ok,
            detail: detail.into(),
            skipped: false,
            fix: None,
        }
    }
}

/// The `ldap-copy` check: the archive service-discover uploaded to LDAP (which nodes download
/// during their setup) against this node's file, byte for byte (`mesh::compare_ldap_copy`,
/// shared with `doctor`).
fn ldap_copy_check(
    local: &str,
    archive_path: &str,
    ldap: Result<LdapCredentialsCopy, ServiceError>,
) -> Check {
    let verdict = mesh::compare_ldap_copy(local, archive_path, ldap);
    Check {
        skipped: verdict.skipped,
        fix: verdict.fix,
        ..Check::new("ldap-copy", verdict.ok, verdict.detail)
    }
}

/// Human `verify`: a line per check, a fix under each failed one.
fn render_checks(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let mark = match (check.skipped, check.ok) {
            (true, _) => "skip",
            (false, true) => "ok  ",
            (false, false) => "FAIL",
        };
        out.push_str(&format!("{mark}  {:15} {}\n", check.name, check.detail));
        if let Some(fix) = check.fix.as_ref().filter(|_| !check.ok) {
            out.push_str(&format!("      fix: {fix}\n"));
        }
    }
    out
}

fn verify(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let credentials = open(host, request)?;
    let mut checks = vec![Check::new(
        "archive",
        true,
        format!(
            "{} opened (password from {})",
            credentials.archive, credentials.password_source
        ),
    )];
    let missing: Vec<&str> = mesh::MEMBERS
        .into_iter()
        .filter(|name| credentials.member(name).is_none())
        .collect();
    checks.push(Check::new(
        "members",
        missing.is_empty(),
        if missing.is_empty() {
            "all 4 present".to_owned()
        } else {
            format!("missing: {}", missing.join(", "))
        },
    ));
    let token = token_of(&credentials);
    checks.push(match &token {
        Ok(token) => Check::new("token", true, format!("AccessorID {}", token.accessor_id)),
        Err(e) => Check::new("token", false, e.message.clone()),
    });
    if let Some(gossip) = credentials.member(mesh::GOSSIP_KEY_MEMBER) {
        checks.push(match inspect::gossip_key_bytes(gossip.content.expose()) {
            Ok(n) => Check::new("gossip-key", true, format!("{n} bytes")),
            Err(e) => Check::new("gossip-key", false, e),
        });
    }
    if let Some(cert) = credentials.member(mesh::CA_CERT_MEMBER) {
        match inspect::ca_info(cert.content.expose()) {
            Ok(ca) => {
                checks.push(Check::new(
                    "ca-certificate",
                    ca.expires_in_secs > 0,
                    format!("{}, expires {}", ca.subject, ca.not_after),
                ));
                if let Some(key) = credentials.member(mesh::CA_KEY_MEMBER) {
                    checks.push(match inspect::key_matches(&ca, key.content.expose()) {
                        Ok(true) => Check::new("ca-key", true, "matches the CA certificate"),
                        Ok(false) => {
                            Check::new("ca-key", false, "does NOT match the CA certificate")
                        }
                        Err(e) => Check::new("ca-key", false, e),
                    });
                }
            }
            Err(e) => checks.push(Check::new("ca-certificate", false, e)),
        }
    }
    let archive_ok = checks.iter().all(|c| c.ok);
    let local = host.read_file(&credentials.archive);
    let ldap_check = match local {
        Ok(local) => ldap_copy_check(&local, &credentials.archive, host.call(&LdapCredentials {})),
        Err(e) => Check::new("ldap-copy", false, format!("cannot compare: {}", e.message)),
    };
    let ldap_ok = ldap_check.ok;
    let mut consul_ok = true;
    if let Ok(token) = &token {
        let self_request =
            ConsulRequest::get(&["v1", "acl", "token", "self"]).with_token(token.secret_id.clone());
        let check = match host.consul_get::<TokenSelf>(&self_request) {
            Ok(answer) => {
                let accessor = answer.accessor_id;
                Check::new(
                    "consul",
                    accessor == token.accessor_id,
                    if accessor == token.accessor_id {
                        "Consul accepts the token (/v1/acl/token/self)".to_owned()
                    } else {
                        format!("Consul answered for another token (AccessorID {accessor})")
                    },
                )
            }
            Err(e) => Check::new("consul", false, e.message),
        };
        consul_ok = check.ok;
        checks.push(check);
    }
    checks.push(ldap_check);
    let exit_code = if !archive_ok {
        EXIT_BAD_ARCHIVE
    } else if !consul_ok || !ldap_ok {
        5
    } else {
        0
    };
    let response = match request.format {
        OutputFormat::Json => Response::json(&serde_json::json!({
            "ok": exit_code == 0,
            "checks": checks,
        }))?,
        OutputFormat::Human => Response::text(render_checks(&checks)),
    };
    Ok(response.with_exit_code(exit_code))
}

/// The part of `/v1/acl/token/self` that says which token Consul saw.
#[derive(serde::Deserialize)]
struct TokenSelf {
    #[serde(rename = "AccessorID", default)]
    accessor_id: String,
}

const REKEY_ABOUT: &str = "Re-encrypts the credentials archive with a new password: the same token, gossip key and \
CA, a new passphrase. The old file is backed up first, and on a Mesh server the password file \
/var/lib/service-discover/password is updated to match (also backed up).

Only this node's copy changes. The other Mesh nodes keep their own copy under the old password, and \
LDAP still holds the old archive (attribute carbonioMeshCredentials, which new nodes download during \
setup): copy the new archive to every node and upload it to LDAP, or they keep using the old password.";

fn rekey(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let credentials = open(host, request)?;
    let members: Vec<NewMember> = credentials
        .members
        .iter()
        .map(|m| NewMember {
            name: m.name.clone(),
            content: m.content.clone(),
        })
        .collect();
    let changes = vec![
        format!(
            "re-encrypt {} ({} members) with a new password, backing up the old file",
            credentials.archive,
            members.len()
        ),
        "other nodes and LDAP keep the old archive until you copy the new one".to_owned(),
    ];
    if !host.confirm(changes, "Re-encrypt the credentials archive?")? {
        return Ok(Response::declined_as(request.format));
    }
    let write = WriteCredentials {
        archive: Some(credentials.archive.clone()),
        members,
        password: PasswordSource {
            file: request.value("new-password-file").map(str::to_owned),
            stdin: false,
            file_flag: Some("--new-password-file".to_owned()),
            ..PasswordSource::default()
        },
        update_password_file: true,
    };
    let written = host.call(&write);
    let result = match (&written, request.dry_run) {
        (Ok(_), true) => "dry-run".to_owned(),
        (Ok(_), false) => "ok".to_owned(),
        (Err(e), _) => format!("failed: {}", e.message),
    };
    host.audit("credentials rekey", &credentials.archive, &result);
    let written = written?;
    match request.format {
        OutputFormat::Json => Response::json(&serde_json::json!({
            "archive": written.archive,
            "backup": written.backup,
            "dry_run": request.dry_run,
        })),
        OutputFormat::Human if request.dry_run => Ok(Response::text("")),
        OutputFormat::Human => {
            let backup = written
                .backup
                .map(|b| format!(" The old file is saved at {b}."))
                .unwrap_or_default();
            Ok(Response::text(format!(
                "Re-encrypted {} with the new password.{backup}\n",
                written.archive
            ))
            .with_stderr(
                "Other nodes and LDAP still hold the archive under the old password: copy the new one to them.\n",
            ))
        }
    }
}

fn common(command: CommandSpec) -> CommandSpec {
    command
        .arg(
            ArgSpec::option(
                "archive",
                "The credentials archive [default: /etc/zextras/service-discover/cluster-credentials.tar.gpg]",
            )
            .value_name("FILE"),
        )
        .arg(
            ArgSpec::option(
                "password-file",
                "Read the archive's password from the first line of FILE",
            )
            .value_name("FILE"),
        )
        .arg(ArgSpec::flag(
            "password-stdin",
            "Read the archive's password from the first line of standard input",
        ))
}

pub struct CredentialsPlugin;

impl Plugin for CredentialsPlugin {
    fn manifest() -> Manifest {
        let about = "Read, check and re-encrypt the Mesh credentials archive";
        Manifest::new("credentials", env!("CARGO_PKG_VERSION"), about).command(
            CommandSpec::new("credentials", about)
                .long_about(
                    "The credentials archive holds the Consul bootstrap token, the gossip key and the \
cluster CA, encrypted with a password. Without --password-file or --password-stdin, the password \
comes from /var/lib/service-discover/password when readable (root on a Mesh server), else a prompt.",
                )
                .subcommand(
                    common(CommandSpec::new(
                        "token",
                        "Print the bootstrap token (SecretID) and nothing else",
                    ))
                    .example(
                        "export CONSUL_HTTP_TOKEN=$(sudo carbonio-mesh credentials token)",
                        "The token for the consul CLI, instead of gpg | tar | jq",
                    )
                    .read_only(),
                )
                .subcommand(
                    common(CommandSpec::new(
                        "show",
                        "Describe the archive: members, token, CA expiry (no secrets unless --reveal)",
                    ))
                    .arg(ArgSpec::flag("reveal", "Also print the SecretID and the gossip key"))
                    .example("sudo carbonio-mesh credentials show", "What the archive holds, secrets hidden")
                    .example(
                        "carbonio-mesh credentials show --archive copy.tar.gpg --password-file pw",
                        "A copy elsewhere, its password from a file",
                    )
                    .read_only(),
                )
                .subcommand(
                    common(CommandSpec::new(
                        "verify",
                        "Check the archive: members, CA key, gossip key, and that Consul accepts the token",
                    ))
                    .example(
                        "sudo carbonio-mesh credentials verify",
                        "Every check, with the fix for a failed one",
                    )
                    .example(
                        "carbonio-mesh credentials verify --format json",
                        "The same for monitoring",
                    )
                    .read_only(),
                )
                .subcommand(
                    common(
                        CommandSpec::new("rekey", "Re-encrypt the archive with a new password")
                            .long_about(REKEY_ABOUT)
                            .example(
                                "sudo carbonio-mesh credentials rekey",
                                "Asks the new password twice, backs up the old archive",
                            )
                            .example(
                                "sudo carbonio-mesh credentials rekey --new-password-file /root/pw",
                                "The new password from a file",
                            ),
                    )
                    .arg(
                        ArgSpec::option(
                            "new-password-file",
                            "Read the new password from the first line of FILE (default: ask twice)",
                        )
                        .value_name("FILE"),
                    ),
                ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "token" => token(host, request),
            "show" => show(host, request),
            "verify" => verify(host, request),
            "rekey" => rekey(host, request),
            "" => Err(PluginError::usage("credentials needs a subcommand")
                .hint("carbonio-mesh credentials --help lists them: token, show, verify, rekey")),
            other => Err(PluginError::usage(format!(
                "unknown credentials command '{other}'"
            ))),
        }
    }
}

export_plugin!(CredentialsPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::services::ServiceErrorKind;

    const ARCHIVE: &str = "-----BEGIN PGP MESSAGE-----\n\nwy4ECQMI\n-----END PGP MESSAGE-----\n";

    fn copy(archive: Option<&str>) -> Result<LdapCredentialsCopy, ServiceError> {
        Ok(LdapCredentialsCopy {
            archive: archive.map(SecretText::new),
            url: "ldap://ldap.example.com:389".into(),
        })
    }

    fn error(kind: ServiceErrorKind, message: &str) -> Result<LdapCredentialsCopy, ServiceError> {
        Err(ServiceError {
            service: "carbonio.ldap-credentials".into(),
            kind,
            message: message.into(),
            hint: Some("the hint".into()),
            exit_code: None,
        })
    }

    #[test]
    fn the_ldap_copy_is_compared_byte_for_byte() {
        let path = mesh::ARCHIVE_PATH;
        let same = ldap_copy_check(ARCHIVE, path, copy(Some(ARCHIVE)));
        assert!(same.ok && !same.skipped && same.fix.is_none());
        assert!(same.detail.contains("at ldap://ldap.example.com:389"));
        // One more newline is another file: nodes would download other bytes.
        let other = format!("{ARCHIVE}\n");
        for (ldap, says) in [
            (copy(Some(&other)), "a different archive"),
            (copy(None), "no archive"),
        ] {
            let check = ldap_copy_check(ARCHIVE, path, ldap);
            assert!(!check.ok, "{}", check.detail);
            assert!(check.detail.contains(says), "{}", check.detail);
            let fix = check.fix.unwrap();
            assert!(
                fix.contains("ldapmodify -x -H ldap://ldap.example.com:389"),
                "{fix}"
            );
            assert!(fix.contains(&format!("base64 -w0 {path}")), "{fix}");
        }
    }

    #[test]
    fn no_localconfig_is_not_checked_and_ldap_trouble_fails_with_its_fix() {
        let skipped = ldap_copy_check(
            ARCHIVE,
            mesh::ARCHIVE_PATH,
            error(ServiceErrorKind::NotFound, "not a Carbonio node: no X"),
        );
        assert!(skipped.ok && skipped.skipped);
        assert_eq!(skipped.detail, "not checked: not a Carbonio node: no X");
        let down = ldap_copy_check(
            ARCHIVE,
            mesh::ARCHIVE_PATH,
            error(
                ServiceErrorKind::Failed,
                "cannot reach LDAP: ldap://x (refused)",
            ),
        );
        assert!(!down.ok);
        let text = render_checks(&[skipped, down]);
        assert_eq!(
            text,
            "skip  ldap-copy       not checked: not a Carbonio node: no X\n\
FAIL  ldap-copy       cannot reach LDAP: ldap://x (refused)\n      fix: the hint\n"
        );
    }
}
