//! The `service-discover` stand-in against the facts (docs/carbonio-mesh.md): files,
//! modes, and a credentials archive that real gpg decrypts and real tar lists as four 0600 members.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use carbonio_mesh_tests::{gpg_decrypt, stand_in, Sandbox};
use consul_double::{Cluster, Double};

const PASSWORD: &str = "S3cr3T-stand-in";

fn service_discover(sandbox: &Sandbox, double: &Double, args: &[&str]) -> std::process::Output {
    let program = stand_in("service-discover");
    carbonio_mesh_tests::service_discover(&program.path, &sandbox.root(), &double.url(), args)
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `gpg -d` with the password on a descriptor, then `tar -tv`: the documented way to open it.
fn open_archive(archive: &std::path::Path) -> (Vec<u8>, String) {
    let decrypted = gpg_decrypt(archive, PASSWORD);
    let mut tar = Command::new("tar")
        .args(["-tvf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tar.stdin.take().unwrap().write_all(&decrypted).unwrap();
    let listing = tar.wait_with_output().unwrap();
    (decrypted, String::from_utf8(listing.stdout).unwrap())
}

#[test]
fn first_instance_setup_writes_the_mesh_files_and_a_gpg_readable_archive() {
    let sandbox = Sandbox::new();
    let double = Double::start(Cluster::fixture_unbootstrapped()).unwrap();
    let password_arg = format!("--password={PASSWORD}");
    let out = service_discover(
        &sandbox,
        &double,
        &["setup", "192.168.56.101", &password_arg, "--first-instance"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "service-discover server set up on 192.168.56.101\n"
    );

    for (path, expected) in [
        ("/etc/zextras/service-discover/main.json", 0o600),
        ("/etc/zextras/service-discover/config.json", 0o600),
        (
            "/etc/zextras/service-discover/cluster-credentials.tar.gpg",
            0o600,
        ),
        ("/var/lib/service-discover/password", 0o400),
        ("/var/lib/service-discover/consul-agent-ca.pem", 0o600),
        ("/var/lib/service-discover/consul-agent-ca-key.pem", 0o600),
        ("/var/lib/service-discover/dc1-server-consul-0.pem", 0o600),
        (
            "/var/lib/service-discover/dc1-server-consul-0-key.pem",
            0o600,
        ),
    ] {
        assert_eq!(mode(&sandbox.path(path)), expected, "{path}");
    }
    assert_eq!(
        fs::read_to_string(sandbox.path("/var/lib/service-discover/password")).unwrap(),
        PASSWORD
    );
    let config: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(sandbox.path("/etc/zextras/service-discover/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config, serde_json::json!({"bind_addr": "192.168.56.101"}));
    let main: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(sandbox.path("/etc/zextras/service-discover/main.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        main["tls"]["defaults"]["cert_file"],
        "/var/lib/service-discover/dc1-server-consul-0.pem"
    );
    assert_eq!(
        main["encrypt"].as_str().unwrap().len(),
        44,
        "a 32-byte gossip key in base64"
    );
    // `consul tls ca create`'s subject (recorded in tests/fixtures/consul/1.10.12): the CN ends
    // in the certificate's serial, in decimal.
    let ca = std::process::Command::new("openssl")
        .args([
            "x509", "-noout", "-subject", "-serial", "-nameopt", "RFC2253", "-in",
        ])
        .arg(sandbox.path("/var/lib/service-discover/consul-agent-ca.pem"))
        .output()
        .unwrap();
    let ca = String::from_utf8(ca.stdout).unwrap();
    let serial = ca.lines().find_map(|l| l.strip_prefix("serial=")).unwrap();
    let decimal = u128::from_str_radix(serial, 16).unwrap();
    assert!(
        ca.starts_with(&format!(
            "subject=CN=Consul Agent CA {decimal},O=HashiCorp Inc.,postalCode=94105,"
        )),
        "{ca}"
    );

    let archive = sandbox.path("/etc/zextras/service-discover/cluster-credentials.tar.gpg");
    assert!(fs::read_to_string(&archive)
        .unwrap()
        .starts_with("-----BEGIN PGP MESSAGE-----"));
    let (tar_bytes, listing) = open_archive(&archive);
    let members: Vec<&str> = listing.lines().collect();
    assert_eq!(members.len(), 4, "{listing}");
    assert!(
        members.iter().all(|m| m.starts_with("-rw-------")),
        "{listing}"
    );
    for name in [
        "consul-acl-secret.json",
        "gossip-key",
        "var/lib/service-discover/consul-agent-ca.pem",
        "var/lib/service-discover/consul-agent-ca-key.pem",
    ] {
        assert!(
            members.iter().any(|m| m.ends_with(&format!(" {name}"))),
            "{name} in {listing}"
        );
    }
    // The token in the archive is the one the double's bootstrap created.
    let tar_text = String::from_utf8_lossy(&tar_bytes);
    let secret = &double.cluster().tokens[0].secret;
    assert!(
        tar_text.contains(&format!("\"SecretID\": \"{secret}\"")),
        "the archive holds the bootstrap token"
    );

    let again = service_discover(
        &sandbox,
        &double,
        &["setup", "192.168.56.101", &password_arg, "--first-instance"],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr)
        .contains("setup of service-discover already performed, manually reset and try again"));
    let bind = service_discover(&sandbox, &double, &["config", "get", "bind-address"]);
    assert_eq!(String::from_utf8_lossy(&bind.stdout), "192.168.56.101\n");
}

#[test]
fn another_node_sets_up_from_the_copied_archive_and_a_wrong_password_fails() {
    let first = Sandbox::new();
    let double = Double::start(Cluster::fixture_unbootstrapped()).unwrap();
    let password_arg = format!("--password={PASSWORD}");
    assert!(service_discover(
        &first,
        &double,
        &["setup", "192.168.56.101", &password_arg, "--first-instance"]
    )
    .status
    .success());

    let agent = Sandbox::new();
    let etc = agent.make_dir("/etc/zextras/service-discover");
    fs::copy(
        first.path("/etc/zextras/service-discover/cluster-credentials.tar.gpg"),
        etc.join("cluster-credentials.tar.gpg"),
    )
    .unwrap();
    let wrong = service_discover(
        &agent,
        &double,
        &["setup", "192.168.56.110", "--password=nope"],
    );
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("cannot decrypt the credentials archive")
    );
    let out = service_discover(&agent, &double, &["setup", "192.168.56.110", &password_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(agent
        .path("/var/lib/service-discover/dc1-client-consul-0.pem")
        .exists());
    assert!(
        !agent.path("/var/lib/service-discover/password").exists(),
        "only Mesh servers keep the password"
    );
    assert_eq!(
        fs::read(agent.path("/var/lib/service-discover/consul-agent-ca.pem")).unwrap(),
        fs::read(first.path("/var/lib/service-discover/consul-agent-ca.pem")).unwrap()
    );
}
