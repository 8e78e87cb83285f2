//! `carbonio-mesh credentials` against archives made by the `service-discover` stand-in (real
//! openssl, tar and gpg), and the token fallback for Consul requests.

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use carbonio_mesh_tests::{
    first_mesh_server, gpg_decrypt, gpg_with_password, on_a_terminal, run, stdout_of, Sandbox,
};
use consul_double::Double;

const PASSWORD: &str = "S3cr3T-credentials-test";
const ARCHIVE: &str = "/etc/zextras/service-discover/cluster-credentials.tar.gpg";
const PASSWORD_FILE: &str = "/var/lib/service-discover/password";

/// A Mesh server's files, made by `service-discover setup --first-instance` against the double.
struct MeshServer {
    sandbox: Sandbox,
    double: Double,
    /// The bootstrap token the double issued, read the documented gpg | tar | jq way.
    token: String,
}

impl MeshServer {
    fn new() -> Self {
        let (sandbox, double) = first_mesh_server(PASSWORD);
        sandbox.install_product("credentials");
        sandbox.install_product("members");
        let token = gpg_tar_jq(&sandbox.path(ARCHIVE), PASSWORD);
        MeshServer {
            sandbox,
            double,
            token,
        }
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = self.sandbox.cmd();
        cmd.arg("--http-addr").arg(self.double.url());
        cmd
    }

    /// A file outside the root holding `text` (for --password-file).
    fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        self.sandbox.file_beside_root(name, text)
    }

    fn archive_bytes(&self) -> Vec<u8> {
        fs::read(self.sandbox.path(ARCHIVE)).unwrap()
    }
}

/// The seeds' pipeline `gpg -d | tar xOf - consul-acl-secret.json | jq .SecretID`, with the
/// password on a descriptor rather than in argv.
fn gpg_tar_jq(archive: &std::path::Path, password: &str) -> String {
    let tar = gpg_decrypt(archive, password);
    let mut extract = Command::new("tar")
        .args(["-xOf", "-", "consul-acl-secret.json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    extract.stdin.take().unwrap().write_all(&tar).unwrap();
    let json = extract.wait_with_output().unwrap().stdout;
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    value["SecretID"].as_str().unwrap().to_owned()
}

#[test]
fn token_prints_the_secret_id_from_every_password_source() {
    let mesh = MeshServer::new();
    let expected = format!("{}\n", mesh.token);
    // The Mesh password file under the root (root on a Mesh server).
    assert_eq!(
        stdout_of(mesh.cmd().args(["credentials", "token"])),
        expected
    );
    // --password-file: first line, newline stripped.
    let file = mesh.file("pw", &format!("{PASSWORD}\nignored\n"));
    let mut cmd = mesh.cmd();
    cmd.args(["credentials", "token", "--password-file"])
        .arg(&file);
    assert_eq!(stdout_of(&mut cmd), expected);
    // --password-stdin.
    let mut cmd = mesh.cmd();
    cmd.args(["credentials", "token", "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"));
    assert_eq!(stdout_of(&mut cmd), expected);
    // --archive: a copy elsewhere, relative to the current directory.
    let copy_dir = mesh.sandbox.make_dir("/srv/copy");
    fs::copy(mesh.sandbox.path(ARCHIVE), copy_dir.join("creds.tar.gpg")).unwrap();
    let mut cmd = mesh.cmd();
    cmd.current_dir(mesh.sandbox.root()).args([
        "credentials",
        "token",
        "--archive",
        "/srv/copy/creds.tar.gpg",
    ]);
    assert_eq!(stdout_of(&mut cmd), expected);
    // JSON.
    let json: serde_json::Value = serde_json::from_str(&stdout_of(mesh.cmd().args([
        "--format",
        "json",
        "credentials",
        "token",
    ])))
    .unwrap();
    assert_eq!(json["secret_id"], mesh.token.as_str());
}

#[test]
fn a_wrong_password_has_its_own_exit_code_and_says_so() {
    let mesh = MeshServer::new();
    let file = mesh.file("wrong", "not-the-password\n");
    let (code, out, err) = run(mesh
        .cmd()
        .args(["credentials", "token", "--password-file"])
        .arg(&file));
    assert_eq!(code, 7, "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("wrong password for the credentials archive"),
        "{err}"
    );
    assert!(err.contains("fix:"), "{err}");
    assert!(
        !err.contains(PASSWORD) && !err.contains(&mesh.token),
        "{err}"
    );
}

#[test]
fn with_no_password_source_and_no_terminal_it_says_how_to_give_one() {
    let mesh = MeshServer::new();
    fs::remove_file(mesh.sandbox.path(PASSWORD_FILE)).unwrap();
    let (code, _, err) = run(mesh.cmd().args(["credentials", "token"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no password for") && err.contains("--password-file"),
        "{err}"
    );
}

#[test]
fn broken_archives_exit_8_and_missing_ones_say_where_they_looked() {
    let mesh = MeshServer::new();
    let archive = mesh.sandbox.path(ARCHIVE);
    let good = mesh.archive_bytes();
    for (bytes, expected) in [
        (good[..good.len() / 2].to_vec(), "damaged"),
        (Vec::new(), "empty"),
        (
            b"plain text, not OpenPGP".to_vec(),
            "not an OpenPGP message",
        ),
    ] {
        fs::write(&archive, &bytes).unwrap();
        let (code, _, err) = run(mesh.cmd().args(["credentials", "token"]));
        assert_eq!(code, 8, "{err}");
        assert!(err.contains(expected), "{err}");
    }
    fs::remove_file(&archive).unwrap();
    let (code, _, err) = run(mesh.cmd().args(["credentials", "verify"]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("cannot read the credentials archive") && err.contains("--archive"),
        "{err}"
    );
}

#[test]
fn show_describes_without_secrets_unless_revealed() {
    let mesh = MeshServer::new();
    let out = stdout_of(mesh.cmd().args(["credentials", "show"]));
    for expected in [
        "consul-acl-secret.json",
        "gossip-key",
        "var/lib/service-discover/consul-agent-ca.pem",
        "0600",
        "AccessorID:",
        "SecretID:         (hidden; --reveal shows it)",
        "global-management",
        "CA subject:",
        "CA expires:",
        "Gossip key:       32 bytes",
    ] {
        assert!(out.contains(expected), "{expected} in\n{out}");
    }
    assert!(!out.contains(&mesh.token), "{out}");
    assert!(!out.contains("Problem"), "{out}");
    let revealed = stdout_of(mesh.cmd().args(["credentials", "show", "--reveal"]));
    assert!(revealed.contains(&mesh.token));
    let json: serde_json::Value = serde_json::from_str(&stdout_of(mesh.cmd().args([
        "--format",
        "json",
        "credentials",
        "show",
    ])))
    .unwrap();
    assert_eq!(json["members"].as_array().unwrap().len(), 4);
    assert_eq!(json["gossip_key_bytes"], 32);
    assert!(json["token"].get("secret_id").is_none());
    assert!(json["ca"]["expires_in_secs"].as_i64().unwrap() > 0);
}

#[test]
fn verify_checks_the_members_the_ca_key_and_the_token_with_consul() {
    let mesh = MeshServer::new();
    let out = stdout_of(mesh.cmd().args(["credentials", "verify"]));
    for line in [
        "ok    archive",
        "ok    members         all 4 present",
        "ok    token",
        "ok    gossip-key      32 bytes",
        "ok    ca-certificate",
        "ok    ca-key          matches the CA certificate",
        "ok    consul          Consul accepts the token",
    ] {
        assert!(out.contains(line), "{line} in\n{out}");
    }
    // The token was sent, by the plugin's request, to /v1/acl/token/self.
    assert!(mesh
        .double
        .requests_with_tokens()
        .iter()
        .any(|(line, token)| line == "GET /v1/acl/token/self"
            && token.as_deref() == Some(mesh.token.as_str())));

    // A cluster that no longer knows the token (regenerated elsewhere): Consul rejects it, exit 5.
    mesh.double
        .cluster()
        .tokens
        .retain(|t| t.secret != mesh.token);
    let (code, out, _) = run(mesh.cmd().args(["credentials", "verify"]));
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("FAIL  consul"), "{out}");
    // The JSON document: the checks in the one shape (name, status, detail, fix).
    let (code, out, _) = run(mesh
        .cmd()
        .args(["credentials", "verify", "--format", "json"]));
    assert_eq!(code, 5, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    carbonio_mesh_tests::assert_check_shape(&doc["checks"], &[]);
    assert_eq!(doc["ok"], false);
    let consul = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "consul")
        .unwrap();
    assert_eq!(consul["status"], "fail", "{doc:#}");
}

#[test]
fn rekey_re_encrypts_backs_up_and_keeps_the_password_file_in_step() {
    let mesh = MeshServer::new();
    let archive = mesh.sandbox.path(ARCHIVE);
    let before = mesh.archive_bytes();
    let new_password = mesh.file("new", "An0ther-long-passphrase\n");

    // --dry-run changes nothing.
    let (code, _, err) = run(mesh
        .cmd()
        .args(["--dry-run", "credentials", "rekey", "--new-password-file"])
        .arg(&new_password));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Dry run: nothing was changed") && err.contains("encrypt 4 members"),
        "{err}"
    );
    assert_eq!(mesh.archive_bytes(), before);

    // No terminal and no --yes: refused, nothing changed.
    let (code, _, err) = run(mesh
        .cmd()
        .args(["credentials", "rekey", "--new-password-file"])
        .arg(&new_password));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(mesh.archive_bytes(), before);

    let (code, out, err) = run(mesh
        .cmd()
        .args(["--yes", "credentials", "rekey", "--new-password-file"])
        .arg(&new_password));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("Re-encrypted {ARCHIVE} with the new password.")),
        "{out}"
    );
    assert!(err.contains("LDAP"), "{err}");
    // Real gpg opens the new archive with the new password and finds the same token.
    assert_eq!(gpg_tar_jq(&archive, "An0ther-long-passphrase"), mesh.token);
    assert_eq!(
        fs::read_to_string(mesh.sandbox.path(PASSWORD_FILE)).unwrap(),
        "An0ther-long-passphrase"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(mesh.sandbox.path(PASSWORD_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o400
    );
    // The old archive is in the backup, byte for byte.
    let saved = out
        .split("The old file is saved at ")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('.');
    assert_eq!(fs::read(mesh.sandbox.path(saved)).unwrap(), before);
    // The old password no longer opens it.
    let old = mesh.file("old", PASSWORD);
    let (code, _, _) = run(mesh
        .cmd()
        .args(["credentials", "token", "--password-file"])
        .arg(&old));
    assert_eq!(code, 7);

    // An empty new password is refused.
    let empty = mesh.file("empty", "\n");
    let (code, _, err) = run(mesh
        .cmd()
        .args(["--yes", "credentials", "rekey", "--new-password-file"])
        .arg(&empty));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the new password is empty"), "{err}");
}

#[test]
fn consul_requests_without_a_token_use_the_archive_token_and_say_so() {
    let mesh = MeshServer::new();
    let (code, out, err) = run(mesh.cmd().args(["-v", "members"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("Consul token from the Mesh credentials archive"),
        "{err}"
    );
    assert!(
        out.lines().count() > 1,
        "members listed with the token:\n{out}"
    );
    assert!(mesh
        .double
        .requests_with_tokens()
        .iter()
        .any(|(line, token)| line.starts_with("GET /v1/agent/members")
            && token.as_deref() == Some(mesh.token.as_str())));
    // A token given explicitly wins, and a broken token file fails only commands that need it.
    let (_, _, err) = run(mesh.cmd().args(["-v", "--token", "given", "members"]));
    assert!(err.contains("Consul token from --token"), "{err}");
}

#[test]
fn no_secret_reaches_logs_errors_or_output_at_full_verbosity() {
    let mesh = MeshServer::new();
    let new_password = mesh.file("new", "Brand-new-passphrase-xyz\n");
    let wrong = mesh.file("wrong", "wrong-password-value\n");
    let runs: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["-vvv".into(), "credentials".into(), "show".into()],
        vec!["-vvv".into(), "credentials".into(), "verify".into()],
        vec!["-vvv".into(), "members".into()],
        vec![
            "-vvv".into(),
            "credentials".into(),
            "token".into(),
            "--password-file".into(),
            wrong.into(),
        ],
        vec![
            "-vvv".into(),
            "--yes".into(),
            "credentials".into(),
            "rekey".into(),
            "--new-password-file".into(),
            new_password.into(),
        ],
    ];
    for args in runs {
        let output = mesh.cmd().args(&args).output().unwrap();
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            for secret in [
                PASSWORD,
                mesh.token.as_str(),
                "Brand-new-passphrase-xyz",
                "wrong-password-value",
            ] {
                assert!(!text.contains(secret), "{args:?} leaked a secret:\n{text}");
            }
        }
    }
}

#[test]
fn on_a_terminal_passwords_are_asked_without_echo() {
    let mesh = MeshServer::new();
    fs::remove_file(mesh.sandbox.path(PASSWORD_FILE)).unwrap();
    let base = format!(
        "{} --root {} --plugin-dir {} --http-addr {}",
        carbonio_mesh_tests::binary().display(),
        mesh.sandbox.root().display(),
        mesh.sandbox.plugin_dir().display(),
        mesh.double.url()
    );
    let (code, screen) = on_a_terminal(
        &format!("{base} credentials token"),
        &[(
            &format!("Password for {ARCHIVE}: "),
            &format!("{PASSWORD}\n"),
        )],
    );
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains(&mesh.token), "{screen}");
    assert!(
        !screen.contains(PASSWORD),
        "the password was echoed: {screen}"
    );

    // rekey asks for the new password twice; a mismatch changes nothing.
    let before = mesh.archive_bytes();
    let (code, screen) = on_a_terminal(
        &format!("{base} --yes credentials rekey"),
        &[
            (
                &format!("Password for {ARCHIVE}: "),
                &format!("{PASSWORD}\n"),
            ),
            ("New password: ", "first-new-password\n"),
            ("New password again: ", "second-new-password\n"),
        ],
    );
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("the two new passwords differ"), "{screen}");
    assert!(!screen.contains("first-new-password"), "{screen}");
    assert_eq!(mesh.archive_bytes(), before);
}

/// An archive with only `members` (name, content), made with real tar and gpg.
fn archive_of(members: &[(&str, &[u8])], password: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    for (name, content) in members {
        let path = tree.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    let tar = dir.path().join("c.tar");
    let status = Command::new("tar")
        .args(["--format=ustar", "-C"])
        .arg(&tree)
        .arg("-cf")
        .arg(&tar)
        .args(members.iter().map(|(name, _)| *name))
        .status()
        .unwrap();
    assert!(status.success());
    let args = [
        "--armor",
        "--symmetric",
        "--cipher-algo",
        "AES256",
        "-o",
        "-",
    ];
    let mut args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    args.push(tar.as_os_str());
    gpg_with_password(password, &args)
}

#[test]
fn a_missing_member_is_named_and_nothing_is_written() {
    let mesh = MeshServer::new();
    let archive = mesh.sandbox.path(ARCHIVE);
    let ca = fs::read(
        mesh.sandbox
            .path("/var/lib/service-discover/consul-agent-ca.pem"),
    )
    .unwrap();
    let secret = format!(
        r#"{{"AccessorID":"a1","SecretID":"{}","Policies":[]}}"#,
        mesh.token
    );
    // No gossip key, no CA key: token still works, verify names what is missing.
    fs::write(
        &archive,
        archive_of(
            &[
                ("consul-acl-secret.json", secret.as_bytes()),
                ("var/lib/service-discover/consul-agent-ca.pem", &ca),
            ],
            PASSWORD,
        ),
    )
    .unwrap();
    assert_eq!(
        stdout_of(mesh.cmd().args(["credentials", "token"])),
        format!("{}\n", mesh.token)
    );
    let (code, out, _) = run(mesh.cmd().args(["credentials", "verify"]));
    assert_eq!(code, 8, "{out}");
    assert!(
        out.contains("FAIL  members         missing: gossip-key, var/lib/service-discover/consul-agent-ca-key.pem"),
        "{out}"
    );
    // No token member: token fails with exit 8 naming it.
    fs::write(
        &archive,
        archive_of(
            &[(
                "gossip-key",
                b"H5LWbLNvzQy4dZuWpTzP+kgVUTR1D2ccyIe3nuXy1Wo=",
            )],
            PASSWORD,
        ),
    )
    .unwrap();
    let before = mesh.archive_bytes();
    let (code, _, err) = run(mesh.cmd().args(["credentials", "token"]));
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("no member 'consul-acl-secret.json'"), "{err}");
    // Nothing was written or backed up by any of the failures.
    assert_eq!(mesh.archive_bytes(), before);
    assert!(!mesh.sandbox.path("/var/backups/carbonio-mesh").exists());
}
