//! Interoperability with the real tools: archives made by `gpg` and `tar` open, archives we seal
//! decrypt with `gpg` and list with `tar`, and every malformed input gets its own error.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use carbonio_mesh_archive::{decrypt, open, seal, ArchiveError, Limits, Member, Passphrase};
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery staple";

/// A scratch directory with its own GnuPG home (no agent state shared between tests).
struct Gpg {
    dir: TempDir,
}

impl Gpg {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("home")).unwrap();
        let mut perms = fs::metadata(dir.path().join("home")).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        fs::set_permissions(dir.path().join("home"), perms).unwrap();
        fs::write(dir.path().join("pass"), format!("{PASSWORD}\n")).unwrap();
        Gpg { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs gpg with the test password on a file descriptor, never in argv.
    fn run(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("gpg")
            .arg("--homedir")
            .arg(self.path("home"))
            .args(["--batch", "--quiet", "--yes", "--pinentry-mode", "loopback"])
            .arg("--passphrase-file")
            .arg(self.path("pass"))
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// A tar of the four Mesh members made by real `tar`, as service-discover lays them out.
    fn real_tar(&self) -> PathBuf {
        let root = self.path("tree");
        let lib = root.join("var/lib/service-discover");
        fs::create_dir_all(&lib).unwrap();
        fs::write(root.join("consul-acl-secret.json"), SECRET_JSON).unwrap();
        fs::write(root.join("gossip-key"), GOSSIP_KEY).unwrap();
        fs::write(
            lib.join("consul-agent-ca.pem"),
            "-----BEGIN CERTIFICATE-----\n",
        )
        .unwrap();
        fs::write(
            lib.join("consul-agent-ca-key.pem"),
            "-----BEGIN EC PRIVATE KEY-----\n",
        )
        .unwrap();
        let tar = self.path("credentials.tar");
        let status = Command::new("tar")
            .args([
                "--format=ustar",
                "--owner=0",
                "--group=0",
                "--mode=0600",
                "-C",
            ])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .args([
                "gossip-key",
                "./consul-acl-secret.json",
                "var/lib/service-discover/consul-agent-ca.pem",
                "var/lib/service-discover/consul-agent-ca-key.pem",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        tar
    }

    fn encrypt(&self, input: &Path, extra: &[&str]) -> Vec<u8> {
        let out = self.path("out.gpg");
        let mut args = vec!["--symmetric", "-o", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(input.to_str().unwrap());
        self.run(&args);
        fs::read(out).unwrap()
    }
}

const SECRET_JSON: &str = r#"{"AccessorID":"a","SecretID":"260570b8-e9af-05cf-9513-c03866285b98"}"#;
const GOSSIP_KEY: &str = "H5LWbLNvzQy4dZuWpTzP+kgVUTR1D2ccyIe3nuXy1Wo=";

fn passphrase() -> Passphrase {
    Passphrase::new(PASSWORD.as_bytes().to_vec())
}

fn member<'a>(members: &'a [Member], name: &str) -> &'a [u8] {
    &members
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} in {members:?}"))
        .data
}

#[test]
fn archives_made_by_gpg_and_tar_open() {
    let gpg = Gpg::new();
    let tar = gpg.real_tar();
    let variants: &[&[&str]] = &[
        &[],
        &["--armor"],
        &["--cipher-algo", "AES256", "--s2k-digest-algo", "SHA512"],
        &[
            "--armor",
            "--compress-algo",
            "zlib",
            "--compress-level",
            "9",
        ],
        &["--compress-algo", "bzip2"],
        &["--compress-algo", "none", "--s2k-count", "65536"],
        &["--cipher-algo", "CAST5"],
        // gpg 2.2's default S2K at the largest count, whatever this machine's calibration
        // picks: exactly the reader's default hashing budget (SHA-1 hashed twice for AES-256).
        &[
            "--cipher-algo",
            "AES256",
            "--s2k-digest-algo",
            "SHA1",
            "--s2k-count",
            "65011712",
        ],
    ];
    for extra in variants {
        let archive = gpg.encrypt(&tar, extra);
        let members = open(&archive, &passphrase(), &Limits::default())
            .unwrap_or_else(|e| panic!("gpg {extra:?}: {e}"));
        assert_eq!(members.len(), 4, "{extra:?}");
        assert_eq!(
            member(&members, "consul-acl-secret.json"),
            SECRET_JSON.as_bytes()
        );
        assert_eq!(member(&members, "gossip-key"), GOSSIP_KEY.as_bytes());
        assert!(members.iter().all(|m| m.mode == 0o600));
    }
}

#[test]
fn sealed_archives_decrypt_with_gpg_and_list_with_tar() {
    let gpg = Gpg::new();
    let members = vec![
        Member::new("consul-acl-secret.json", SECRET_JSON.into()),
        Member::new("gossip-key", GOSSIP_KEY.into()),
    ];
    let archive = seal(&members, &passphrase()).unwrap();
    assert!(archive.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    fs::write(gpg.path("sealed.tar.gpg"), &archive).unwrap();
    let tar = gpg.run(&["-d", gpg.path("sealed.tar.gpg").to_str().unwrap()]);
    fs::write(gpg.path("sealed.tar"), &tar).unwrap();
    let listing = Command::new("tar")
        .args(["-tvf"])
        .arg(gpg.path("sealed.tar"))
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(listing.contains("-rw------- 0/0"), "{listing}");
    assert!(listing.contains("consul-acl-secret.json") && listing.contains("gossip-key"));
    let extracted = Command::new("tar")
        .arg("-xOf")
        .arg(gpg.path("sealed.tar"))
        .arg("consul-acl-secret.json")
        .output()
        .unwrap();
    assert_eq!(extracted.stdout, SECRET_JSON.as_bytes());
}

/// The packets are exactly service-discover's: as `gpg --list-packets` describes them.
#[test]
fn sealed_archives_have_the_service_discover_format() {
    let gpg = Gpg::new();
    let archive = seal(
        &[Member::new("gossip-key", GOSSIP_KEY.into())],
        &passphrase(),
    )
    .unwrap();
    fs::write(gpg.path("sealed.tar.gpg"), &archive).unwrap();
    let packets = String::from_utf8(gpg.run(&[
        "--list-packets",
        gpg.path("sealed.tar.gpg").to_str().unwrap(),
    ]))
    .unwrap();
    assert!(
        packets.contains(
            "symkey enc packet: version 4, cipher 9, aead 0,s2k 3, hash 8, seskey 256 bits"
        ),
        "{packets}"
    );
    assert!(packets.contains("count 16777216"), "{packets}");
    assert!(
        packets.contains("encrypted data packet:") && packets.contains("mdc_method: 2"),
        "{packets}"
    );
    assert!(!packets.contains("compressed packet"), "{packets}");
    assert!(
        packets.contains("literal data packet:") && packets.contains("mode u"),
        "{packets}"
    );
}

#[test]
fn the_committed_service_discover_format_fixture_round_trips() {
    let fixture = fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/service-discover-format.tar.gpg"
    ))
    .unwrap();
    let limits = Limits::default();
    let members = open(&fixture, &passphrase(), &limits).unwrap();
    let resealed = seal(&members, &passphrase()).unwrap();
    let again = open(&resealed, &passphrase(), &limits).unwrap();
    let names = |m: &[Member]| {
        m.iter()
            .map(|m| (m.name.clone(), m.data.to_vec()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&members), names(&again));
    assert_eq!(member(&members, "gossip-key"), GOSSIP_KEY.as_bytes());
}

#[test]
fn an_empty_passphrase_archive_opens() {
    // `service-discover setup` without --password encrypts with the empty passphrase.
    let empty = Passphrase::new(Vec::new());
    let archive = seal(&[Member::new("gossip-key", GOSSIP_KEY.into())], &empty).unwrap();
    assert_eq!(open(&archive, &empty, &Limits::default()).unwrap().len(), 1);
    assert!(matches!(
        open(&archive, &passphrase(), &Limits::default()),
        Err(ArchiveError::WrongPassword)
    ));
}

fn open_err(archive: &[u8]) -> ArchiveError {
    open(archive, &passphrase(), &Limits::default()).expect_err("must be refused")
}

#[test]
fn each_broken_input_gets_its_own_error() {
    let gpg = Gpg::new();
    let tar = gpg.real_tar();
    let binary = gpg.encrypt(&tar, &["--compress-algo", "none"]);
    let armored = gpg.encrypt(&tar, &["--armor"]);

    let wrong = open(
        &binary,
        &Passphrase::new(b"wrong".to_vec()),
        &Limits::default(),
    );
    assert!(
        matches!(wrong, Err(ArchiveError::WrongPassword)),
        "{wrong:?}"
    );

    assert!(matches!(open_err(b""), ArchiveError::Empty));
    assert!(matches!(
        open_err(&fs::read(&tar).unwrap()),
        ArchiveError::NotOpenPgp(_)
    ));

    for cut in [binary.len() - 1, binary.len() / 2, 40] {
        let error = open_err(&binary[..cut]);
        assert!(
            matches!(error, ArchiveError::Damaged(_)),
            "cut at {cut}: {error:?}"
        );
    }
    let cut = armored.len() / 2;
    assert!(matches!(
        open_err(&armored[..cut]),
        ArchiveError::Damaged(_)
    ));

    // A flipped byte in the encrypted body: the MDC catches it.
    let mut flipped = binary.clone();
    let at = flipped.len() - 100;
    flipped[at] ^= 0x01;
    let error = open_err(&flipped);
    assert!(matches!(error, ArchiveError::Damaged(_)), "{error:?}");

    let stored = gpg.path("stored.gpg");
    gpg.run(&[
        "--store",
        "-o",
        stored.to_str().unwrap(),
        tar.to_str().unwrap(),
    ]);
    let error = open_err(&fs::read(&stored).unwrap());
    assert!(matches!(error, ArchiveError::NotEncrypted), "{error:?}");

    gpg.run(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "signer@example.com",
        "ed25519",
        "sign",
        "never",
    ]);
    let signed = gpg.path("signed.gpg");
    gpg.run(&[
        "--sign",
        "-o",
        signed.to_str().unwrap(),
        tar.to_str().unwrap(),
    ]);
    let error = open_err(&fs::read(&signed).unwrap());
    assert!(matches!(error, ArchiveError::Signed), "{error:?}");

    let too_big = vec![0x8c; (Limits::default().max_archive_bytes + 1) as usize];
    assert!(matches!(open_err(&too_big), ArchiveError::TooLarge { .. }));
}

#[test]
fn hostile_tars_inside_real_encryption_are_refused() {
    let gpg = Gpg::new();
    // A member named `../../etc/cron.d/x`, written byte by byte as a hostile tool would.
    let mut header = tar::Header::new_ustar();
    let name = b"../../etc/cron.d/x";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(1);
    header.set_mode(0o600);
    header.set_cksum();
    let mut traversal = header.as_bytes().to_vec();
    traversal.extend_from_slice(&[b'x'; 512]);
    traversal.extend_from_slice(&[0; 1024]);
    fs::write(gpg.path("traversal.tar"), &traversal).unwrap();
    let error = open_err(&gpg.encrypt(&gpg.path("traversal.tar"), &[]));
    assert!(
        matches!(error, ArchiveError::UnsafePath { .. }),
        "{error:?}"
    );

    // A header claiming a 2 GiB member in a tiny file.
    let mut header = tar::Header::new_ustar();
    header.set_path("consul-acl-secret.json").unwrap();
    header.set_size(2 << 30);
    header.set_mode(0o600);
    header.set_cksum();
    let mut huge = header.as_bytes().to_vec();
    huge.extend_from_slice(&[0; 1024]);
    fs::write(gpg.path("huge.tar"), &huge).unwrap();
    let error = open_err(&gpg.encrypt(&gpg.path("huge.tar"), &[]));
    assert!(
        matches!(error, ArchiveError::MemberTooLarge { .. }),
        "{error:?}"
    );
}

#[test]
fn a_decompression_bomb_stops_at_the_plaintext_limit() {
    let gpg = Gpg::new();
    fs::write(gpg.path("zeros"), vec![0u8; 9 << 20]).unwrap();
    let archive = gpg.encrypt(&gpg.path("zeros"), &["--compress-algo", "zlib"]);
    assert!(archive.len() < 100_000);
    let error = decrypt(&archive, &passphrase(), &Limits::default()).unwrap_err();
    assert!(
        matches!(error, ArchiveError::PlaintextTooLarge { .. }),
        "{error:?}"
    );
}

#[test]
fn errors_never_contain_the_password_or_content() {
    let gpg = Gpg::new();
    let tar = gpg.real_tar();
    let archive = gpg.encrypt(&tar, &[]);
    let mut flipped = archive.clone();
    let at = flipped.len() - 60;
    flipped[at] ^= 0x80;
    for error in [
        open(
            &archive,
            &Passphrase::new(b"wrong".to_vec()),
            &Limits::default(),
        )
        .unwrap_err(),
        open_err(&flipped),
        open_err(&archive[..archive.len() - 3]),
    ] {
        let text = format!("{error} {error:?}");
        assert!(
            !text.contains(PASSWORD) && !text.contains("260570b8"),
            "{text}"
        );
    }
    assert_eq!(format!("{:?}", passphrase()), "Passphrase(<redacted>)");
}
