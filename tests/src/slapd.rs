//! A real OpenLDAP `slapd` (Debian's package) on 127.0.0.1, shaped like Carbonio's LDAP as far as
//! carbonio-mesh and service-discover see it: the `cn=zimbra` tree, servers as `zimbraServer`
//! entries under `cn=servers,cn=zimbra`, the Mesh archive in `carbonioMeshCredentials` on
//! `cn=config,cn=zimbra`, and Carbonio's bind DN `uid=zimbra,cn=admins,cn=zimbra`.
//!
//! Each instance has its own configuration (`slapd.conf` through `-f`), schema and database in a
//! temporary directory and its own free port; it is killed when dropped. The schema holds only
//! what is needed, with Carbonio's names and a private OID arc (2.25, a UUID: no registration).
//! The test talks to it with ldap-utils' `ldapsearch` and `ldapmodify`, the password in a 0600
//! file (`-y`), never in argv.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Sandbox;

/// Carbonio's LDAP bind DN (`zimbra_ldap_userdn`).
pub const BIND_DN: &str = "uid=zimbra,cn=admins,cn=zimbra";
/// The bind password of every test slapd (`zimbra_ldap_password`).
pub const BIND_PASSWORD: &str = "Ldap-Bind-Pw-5f3a9c";
/// Where localconfig.xml lives on a Carbonio node.
pub const LOCALCONFIG: &str = "/opt/zextras/conf/localconfig.xml";

/// 2.25.N: an OID made from a random UUID (ITU-T X.667), so it clashes with nobody's.
const ARC: &str = "2.25.254961541297745208405389062830113371186";

fn schema() -> String {
    format!(
        "attributetype ( {ARC}.1.1 NAME 'zimbraServiceEnabled'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{{256}} )
attributetype ( {ARC}.1.2 NAME 'zimbraServiceHostname'
    EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{{256}} SINGLE-VALUE )
attributetype ( {ARC}.1.3 NAME 'carbonioMeshCredentials'
    EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( {ARC}.2.1 NAME 'zimbraServer' SUP top STRUCTURAL
    MUST cn MAY ( zimbraServiceEnabled $ zimbraServiceHostname ) )
objectclass ( {ARC}.2.2 NAME 'zimbraGlobalConfig' SUP top AUXILIARY
    MAY carbonioMeshCredentials )
"
    )
}

fn base_entries() -> String {
    format!(
        "dn: cn=zimbra
objectClass: organizationalRole
cn: zimbra

dn: cn=admins,cn=zimbra
objectClass: organizationalRole
cn: admins

dn: {BIND_DN}
objectClass: account
objectClass: simpleSecurityObject
uid: zimbra
userPassword: {BIND_PASSWORD}

dn: cn=servers,cn=zimbra
objectClass: organizationalRole
cn: servers

dn: cn=config,cn=zimbra
objectClass: organizationalRole
objectClass: zimbraGlobalConfig
cn: config
"
    )
}

/// Carbonio's localconfig.xml text with the LDAP keys service-discover reads.
pub fn localconfig_xml(url: &str, bind_dn: &str, password: &str) -> String {
    let key = |name: &str, value: &str| {
        format!("  <key name=\"{name}\">\n    <value>{value}</value>\n  </key>\n")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<localconfig>\n{}{}{}{}{}</localconfig>\n",
        key("ldap_master_url", url),
        key("ldap_url", url),
        key("zimbra_ldap_userdn", bind_dn),
        key("zimbra_ldap_password", password),
        key("zimbra_server_hostname", "srv1.example.com"),
    )
}

/// Writes `text` as the sandbox's localconfig.xml the way Carbonio keeps it: 0640, its group
/// the one the stand-ins run as (`nobody`'s; zextras on a real node), not writable by others.
pub fn install_localconfig(sandbox: &Sandbox, text: &str) -> PathBuf {
    sandbox.make_dir("/opt/zextras/conf");
    let path = sandbox.path(LOCALCONFIG);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    if nix::unistd::Uid::effective().is_root() {
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        nix::unistd::chown(&path, None, Some(nobody.gid)).unwrap();
    }
    path
}

/// A running slapd; killed on drop.
pub struct Slapd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Slapd {
    /// Starts a slapd holding the base `cn=zimbra` entries and waits until it answers.
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        fs::create_dir(path.join("db")).unwrap();
        fs::write(path.join("carbonio.schema"), schema()).unwrap();
        fs::write(
            path.join("slapd.conf"),
            format!(
                "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include {dir}/carbonio.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
database ldif
directory {dir}/db
suffix \"cn=zimbra\"
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact=\"{BIND_DN}\" write by * none
",
                dir = path.display()
            ),
        )
        .unwrap();
        fs::write(path.join("base.ldif"), base_entries()).unwrap();
        let load = Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(path.join("slapd.conf"))
            .arg("-l")
            .arg(path.join("base.ldif"))
            .output()
            .expect("slapd is installed (Debian package slapd)");
        assert!(
            load.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        let password_file = path.join("bind-password");
        write_private(&password_file, BIND_PASSWORD);
        // Another test may take the port between our probe and slapd's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("/usr/sbin/slapd")
                .arg("-f")
                .arg(path.join("slapd.conf"))
                .arg("-h")
                .arg(format!("ldap://127.0.0.1:{port}/"))
                // In the foreground (a debug level keeps it there), logging nothing.
                .args(["-d", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("slapd starts");
            if wait_listening(&mut child, port) {
                return Slapd {
                    dir,
                    child: Some(child),
                    port,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("slapd did not start on a free port in 5 tries");
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Carbonio's localconfig.xml for this slapd.
    pub fn localconfig(&self) -> String {
        localconfig_xml(&self.url(), BIND_DN, BIND_PASSWORD)
    }

    /// Kills slapd now (LDAP down); the port stays named in any localconfig.xml written.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn tool(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .args(["-x", "-H", &self.url(), "-D", BIND_DN, "-y"])
            .arg(self.dir.path().join("bind-password"));
        command
    }

    /// `ldapmodify` with `ldif` on its standard input; panics when it fails.
    pub fn modify(&self, ldif: &str) {
        let mut child = self
            .tool("ldapmodify")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldap-utils is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A `zimbraServer` entry for `fqdn` with `services` enabled.
    pub fn add_server(&self, fqdn: &str, services: &[&str]) {
        let mut ldif = format!(
            "dn: cn={fqdn},cn=servers,cn=zimbra\nchangetype: add\nobjectClass: zimbraServer\ncn: {fqdn}\nzimbraServiceHostname: {fqdn}\n"
        );
        for service in services {
            ldif.push_str(&format!("zimbraServiceEnabled: {service}\n"));
        }
        self.modify(&ldif);
    }

    /// Stores `archive` as service-discover does: base64 of the whole file.
    pub fn set_credentials(&self, archive: &[u8]) {
        let encoded = base64_encode(archive);
        self.modify(&format!(
            "dn: cn=config,cn=zimbra\nchangetype: modify\nreplace: carbonioMeshCredentials\ncarbonioMeshCredentials: {encoded}\n"
        ));
    }

    /// Removes the archive from LDAP.
    pub fn clear_credentials(&self) {
        self.modify(
            "dn: cn=config,cn=zimbra\nchangetype: modify\ndelete: carbonioMeshCredentials\n",
        );
    }

    /// The archive LDAP holds, decoded; none when the attribute is absent.
    pub fn credentials(&self) -> Option<Vec<u8>> {
        let out = self
            .tool("ldapsearch")
            .args([
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-b",
                "cn=config,cn=zimbra",
                "-s",
                "base",
                "(objectClass=*)",
                "carbonioMeshCredentials",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ldapsearch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("carbonioMeshCredentials: "))?;
        Some(base64_decode(value))
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_private(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// Whether slapd accepts connections on `port` within 10 s (false if it exits first).
fn wait_listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// coreutils' `base64 -w0`, the encoding service-discover uses (standard, padded).
fn base64_encode(bytes: &[u8]) -> String {
    String::from_utf8(base64_tool(&["-w0"], bytes))
        .unwrap()
        .trim()
        .to_owned()
}

fn base64_decode(text: &str) -> Vec<u8> {
    base64_tool(&["-d"], text.as_bytes())
}

fn base64_tool(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("base64")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    out.stdout
}
