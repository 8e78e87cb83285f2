//! What Consul keeps in its data directory that no API shows, checked with no token (so on
//! agents too, where the keyring API is forbidden):
//!
//! - `gossip-keyring`: `data/serf/local.keyring` against main.json's `encrypt` and the archive's
//!   gossip key. Consul uses `encrypt` only when that file does not exist; otherwise it keeps the
//!   file's keys and logs "keyring doesn't include key provided with -encrypt, using keyring"
//!   (agent/keyring.go `setupBaseKeyrings`): a node set up again with a new key gossips on with
//!   the old one, and a node built later from the archive cannot join.
//! - `acl-bootstrap-reset` (Mesh servers): a reset file left behind lets anyone who reaches the
//!   agent's HTTP port make a global-management token with an anonymous `PUT /v1/acl/bootstrap`
//!   as soon as that server leads.
//!
//! Keys are secrets: they are compared, never printed. The `*_check` functions are pure.

use carbonio_mesh_plugin_api::{Host, SecretText};

use crate::local::{naming, read_if_present};
use crate::report::{Check, Status};

/// `<data_dir>/serf/local.keyring`, relative to the data directory.
const LOCAL_KEYRING: &str = "serf/local.keyring";
/// `<data_dir>/acl-bootstrap-reset`.
const RESET_FILE: &str = "acl-bootstrap-reset";

const REJOIN: &str = "set this node up again from the current archive: carbonio-mesh secret rejoin --archive FILE (it backs up and removes data/serf, so Consul starts from main.json's key)";

/// `gossip-keyring`: `file` is local.keyring's text (`Ok(None)`: there is none), `encrypt`
/// main.json's key, `archive_key` the archive's (on a Mesh server, where it opens).
pub fn keyring_file_check(
    scope: &str,
    path: &str,
    file: Result<Option<String>, String>,
    encrypt: Option<&str>,
    archive_key: Option<&str>,
) -> Check {
    let name = "gossip-keyring";
    let encrypt = encrypt.map(str::trim);
    if let (Some(encrypt), Some(archive)) = (encrypt, archive_key.map(str::trim)) {
        if encrypt != archive {
            return Check::new(
                name,
                scope,
                Status::Fail,
                "main.json's encrypt is not the archive's gossip key: this node was set up from another archive",
            )
            .fix(REJOIN);
        }
    }
    let text = match file {
        Ok(None) => {
            return Check::new(
                name,
                scope,
                Status::Ok,
                format!("no {path} yet: Consul starts with main.json's encrypt"),
            )
        }
        Ok(Some(text)) => text,
        Err(e) => return Check::new(name, scope, Status::Unknown, format!("not checked: {e}")),
    };
    let Ok(keys) = serde_json::from_str::<Vec<SecretText>>(&text) else {
        return Check::new(
            name,
            scope,
            Status::Fail,
            format!("{path} is not a list of keys: Consul does not start with it"),
        )
        .fix(REJOIN);
    };
    let Some(encrypt) = encrypt else {
        return Check::new(
            name,
            scope,
            Status::Unknown,
            format!(
                "not checked: main.json has no encrypt to compare {path}'s {} key(s) with",
                keys.len()
            ),
        );
    };
    if keys.iter().any(|k| k.expose().trim() == encrypt) {
        let of = if archive_key.is_some() {
            "main.json's and the archive's gossip key"
        } else {
            "main.json's gossip key"
        };
        return Check::new(
            name,
            scope,
            Status::Ok,
            format!("{path} holds {of} ({} key(s))", keys.len()),
        );
    }
    Check::new(
        name,
        scope,
        Status::Fail,
        format!(
            "{path} does not hold main.json's gossip key ({} other key(s)): Consul uses the file's keys, so this node gossips with an old key (\"No installed keys could decrypt the message\" on the others)",
            keys.len()
        ),
    )
    .fix(REJOIN)
}

/// `acl-bootstrap-reset`: `exists` says whether `path` is there.
pub fn reset_file_check(scope: &str, path: &str, exists: Result<bool, String>) -> Check {
    let name = "acl-bootstrap-reset";
    match exists {
        Ok(false) => Check::new(name, scope, Status::Ok, format!("no {path}")),
        Ok(true) => Check::new(
            name,
            scope,
            Status::Fail,
            format!("{path} is left behind: anyone who reaches Consul's HTTP port here can make a global-management token (PUT /v1/acl/bootstrap) once this server leads"),
        )
        .fix(format!("rm {path}")),
        Err(e) => Check::new(name, scope, Status::Unknown, format!("not checked: {e}")),
    }
}

/// Both checks for this node: `data_dir` from main.json, `encrypt` its key, `archive_key` the
/// archive's, `server` whether it is a Mesh server (the reset file is a server's).
pub fn gather(
    host: &Host<'_>,
    scope: &str,
    data_dir: &str,
    encrypt: Option<&str>,
    archive_key: Option<&str>,
    server: bool,
) -> Vec<Check> {
    let data_dir = data_dir.trim_end_matches('/');
    let exists = |path: &str| {
        host.stat(path)
            .map(|s| s.exists)
            .map_err(|e| naming(path, &e, "cannot look at"))
    };
    let keyring = format!("{data_dir}/{LOCAL_KEYRING}");
    let file = read_if_present(host, &keyring);
    let mut checks = vec![keyring_file_check(
        scope,
        &keyring,
        file,
        encrypt,
        archive_key,
    )];
    if server {
        let reset = format!("{data_dir}/{RESET_FILE}");
        checks.push(reset_file_check(scope, &reset, exists(&reset)));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/var/lib/service-discover/data/serf/local.keyring";
    const K1: &str = "K1K1K1K1K1K1K1K1K1K1K1K1K1K1K1K1K1K1K1K1K1E=";
    const K2: &str = "K2K2K2K2K2K2K2K2K2K2K2K2K2K2K2K2K2K2K2K2K2E=";

    #[test]
    fn a_keyring_file_without_main_jsons_key_fails_without_showing_a_key() {
        let file = |keys: &[&str]| Ok(Some(serde_json::to_string(keys).unwrap()));
        let ok = keyring_file_check("n", PATH, file(&[K1]), Some(K1), Some(K1));
        assert_eq!(ok.status, Status::Ok, "{}", ok.detail);
        let old = keyring_file_check("n", PATH, file(&[K2]), Some(K1), None);
        assert_eq!(old.status, Status::Fail);
        assert!(old.fix.as_deref().unwrap().contains("secret rejoin"));
        assert!(!old.detail.contains("K2") && !old.detail.contains("K1"));
        let other_archive = keyring_file_check("n", PATH, file(&[K1]), Some(K1), Some(K2));
        assert_eq!(other_archive.status, Status::Fail);
        assert_eq!(
            keyring_file_check("n", PATH, Ok(None), Some(K1), None).status,
            Status::Ok
        );
        assert_eq!(
            keyring_file_check("n", PATH, Ok(Some("{".into())), Some(K1), None).status,
            Status::Fail
        );
    }

    #[test]
    fn a_leftover_reset_file_fails_with_its_removal() {
        let path = "/var/lib/service-discover/data/acl-bootstrap-reset";
        let left = reset_file_check("n", path, Ok(true));
        assert_eq!(left.status, Status::Fail);
        assert_eq!(left.fix.as_deref(), Some(format!("rm {path}").as_str()));
        assert_eq!(reset_file_check("n", path, Ok(false)).status, Status::Ok);
    }
}
