//! `credentials verify`: the archive opens, all four members are there and make sense together,
//! Consul accepts the token, and LDAP holds this very archive; one line per check, the fix under
//! a failed one.

use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{
    ConsulRequest, Credentials, LdapCredentials, LdapCredentialsCopy,
};
use carbonio_mesh_plugin_api::{
    Check, CheckStatus, Host, PluginError, Request, Response, ServiceError,
};
use serde::Serialize;

use crate::archive::{archive_request, token_of, EXIT_BAD_ARCHIVE};
use crate::inspect;

/// `credentials verify`.
pub fn verify(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let open = archive_request(request)?;
    let verification = examine(host, &host.call(&open)?);
    let response = Response::render(request.format, &verification, |v| render_checks(&v.checks))?;
    Ok(response.with_exit_code(verification.exit_code))
}

/// Every check, and what they come to (`--format json`: `checks` and `ok`).
#[derive(Serialize)]
struct Verification {
    checks: Vec<Check>,
    ok: bool,
    /// 8 when the archive itself is wrong, 5 when Consul or LDAP disagree with it.
    #[serde(skip)]
    exit_code: u8,
}

/// The archive's own checks, then Consul's view of its token, then LDAP's copy.
fn examine(host: &Host<'_>, credentials: &Credentials) -> Verification {
    let token = token_of(credentials);
    let mut checks = archive_checks(credentials, &token);
    let archive_ok = checks.iter().all(|c| c.status != CheckStatus::Fail);
    let consul = token.as_ref().ok().map(|token| consul_check(host, token));
    let consul_ok = consul
        .as_ref()
        .is_none_or(|c| c.status != CheckStatus::Fail);
    checks.extend(consul);
    let ldap = ldap_check(host, credentials);
    let ldap_ok = ldap.status != CheckStatus::Fail;
    checks.push(ldap);
    let exit_code = if !archive_ok {
        EXIT_BAD_ARCHIVE
    } else if !consul_ok || !ldap_ok {
        5
    } else {
        0
    };
    Verification {
        checks,
        ok: exit_code == 0,
        exit_code,
    }
}

/// The archive opened; its members; the token parses; the gossip key's shape; the CA
/// certificate's validity and its key.
fn archive_checks(
    credentials: &Credentials,
    token: &Result<BootstrapToken, PluginError>,
) -> Vec<Check> {
    let mut checks = vec![verdict(
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
    checks.push(verdict(
        "members",
        missing.is_empty(),
        if missing.is_empty() {
            "all 4 present".to_owned()
        } else {
            format!("missing: {}", missing.join(", "))
        },
    ));
    checks.push(match token {
        Ok(token) => verdict("token", true, format!("AccessorID {}", token.accessor_id)),
        Err(e) => verdict("token", false, e.message.clone()),
    });
    if let Some(gossip) = credentials.member(mesh::GOSSIP_KEY_MEMBER) {
        checks.push(match inspect::gossip_key_bytes(gossip.content.expose()) {
            Ok(n) => verdict("gossip-key", true, format!("{n} bytes")),
            Err(e) => verdict("gossip-key", false, e),
        });
    }
    if let Some(cert) = credentials.member(mesh::CA_CERT_MEMBER) {
        checks.extend(ca_checks(credentials, cert.content.expose()));
    }
    checks
}

/// The CA certificate is valid, and the archive's CA key is its private half.
fn ca_checks(credentials: &Credentials, cert: &str) -> Vec<Check> {
    let ca = match inspect::ca_info(cert) {
        Ok(ca) => ca,
        Err(e) => return vec![verdict("ca-certificate", false, e)],
    };
    let mut checks = vec![verdict(
        "ca-certificate",
        ca.expires_in_secs > 0,
        format!("{}, expires {}", ca.subject, ca.not_after),
    )];
    if let Some(key) = credentials.member(mesh::CA_KEY_MEMBER) {
        checks.push(match inspect::key_matches(&ca, key.content.expose()) {
            Ok(true) => verdict("ca-key", true, "matches the CA certificate"),
            Ok(false) => verdict("ca-key", false, "does NOT match the CA certificate"),
            Err(e) => verdict("ca-key", false, e),
        });
    }
    checks
}

/// Consul accepts the archive's token: `/v1/acl/token/self`, sent with that token.
fn consul_check(host: &Host<'_>, token: &BootstrapToken) -> Check {
    let request =
        ConsulRequest::get(&["v1", "acl", "token", "self"]).with_token(token.secret_id.clone());
    match host.consul_get::<TokenSelf>(&request) {
        Ok(answer) if answer.accessor_id == token.accessor_id => verdict(
            "consul",
            true,
            "Consul accepts the token (/v1/acl/token/self)",
        ),
        Ok(answer) => verdict(
            "consul",
            false,
            format!(
                "Consul answered for another token (AccessorID {})",
                answer.accessor_id
            ),
        ),
        Err(e) => verdict("consul", false, e.message),
    }
}

/// LDAP's copy against this node's file.
fn ldap_check(host: &Host<'_>, credentials: &Credentials) -> Check {
    match host.read_file(&credentials.archive) {
        Ok(local) => ldap_copy_check(&local, &credentials.archive, host.call(&LdapCredentials {})),
        Err(e) => verdict("ldap-copy", false, format!("cannot compare: {}", e.message)),
    }
}

/// A check that passed (`ok`) or failed, in plugin-api's one shape.
fn verdict(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    let status = if ok {
        CheckStatus::Ok
    } else {
        CheckStatus::Fail
    };
    Check::new(name, status, detail)
}

/// The `ldap-copy` check: the archive service-discover uploaded to LDAP (which nodes download
/// during their setup) against this node's file, byte for byte (`mesh::compare_ldap_copy`,
/// shared with `doctor`).
fn ldap_copy_check(
    local: &str,
    archive_path: &str,
    ldap: Result<LdapCredentialsCopy, ServiceError>,
) -> Check {
    let compared = mesh::compare_ldap_copy(local, archive_path, ldap);
    let check = match (compared.skipped, compared.ok) {
        (true, _) => Check::unknown("ldap-copy", compared.detail),
        (false, ok) => verdict("ldap-copy", ok, compared.detail),
    };
    check.fix(compared.fix.unwrap_or_default())
}

/// Human `verify`: a line per check, a fix under each failed one.
fn render_checks(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let mark = match check.status {
            CheckStatus::Unknown => "skip",
            CheckStatus::Ok => "ok  ",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
        };
        out.push_str(&format!("{mark}  {:15} {}\n", check.name, check.detail));
        if let Some(fix) = check
            .fix
            .as_ref()
            .filter(|_| check.status == CheckStatus::Fail)
        {
            out.push_str(&format!("      fix: {fix}\n"));
        }
    }
    out
}

/// The part of `/v1/acl/token/self` that says which token Consul saw.
#[derive(serde::Deserialize)]
struct TokenSelf {
    #[serde(rename = "AccessorID", default)]
    accessor_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use carbonio_mesh_plugin_api::services::ServiceErrorKind;
    use carbonio_mesh_plugin_api::SecretText;

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
        assert_eq!((same.status, same.fix), (CheckStatus::Ok, None));
        assert!(same.detail.contains("at ldap://ldap.example.com:389"));
        // One more newline is another file: nodes would download other bytes.
        let other = format!("{ARCHIVE}\n");
        for (ldap, says) in [
            (copy(Some(&other)), "a different archive"),
            (copy(None), "no archive"),
        ] {
            let check = ldap_copy_check(ARCHIVE, path, ldap);
            assert_eq!(check.status, CheckStatus::Fail, "{}", check.detail);
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
        assert_eq!(skipped.status, CheckStatus::Unknown);
        assert_eq!(skipped.detail, "not checked: not a Carbonio node: no X");
        let down = ldap_copy_check(
            ARCHIVE,
            mesh::ARCHIVE_PATH,
            error(
                ServiceErrorKind::Failed,
                "cannot reach LDAP: ldap://x (refused)",
            ),
        );
        assert_eq!(down.status, CheckStatus::Fail);
        let text = render_checks(&[skipped, down]);
        assert_eq!(
            text,
            "skip  ldap-copy       not checked: not a Carbonio node: no X\n\
FAIL  ldap-copy       cannot reach LDAP: ldap://x (refused)\n      fix: the hint\n"
        );
    }
}
