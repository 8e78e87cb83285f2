//! A real OpenSSH server (Debian's `/usr/sbin/sshd`) for the tests, standing in for the sshd of
//! every simulated node at once: one `sshd -D -e` started by the test on a free port, listening on
//! 127.0.0.2, 127.0.0.3, ... (one loopback address per node), with its own configuration, host
//! keys, client keys, `authorized_keys` and `known_hosts` in a temporary directory: nothing of
//! `/etc/ssh` nor the system's sshd service is used.
//!
//! The leader's key may run one thing: the node's `carbonio-mesh` (a forced command in
//! `authorized_keys`). That is a small script standing in for carbonio-mesh as installed on the
//! node: it finds the node from the address the connection came in on (`SSH_CONNECTION`), refuses
//! anything but a `carbonio-mesh ...` command line, and runs the real built binary against that
//! node's sandbox root with the node's environment (its stand-ins on `PATH`, ...).
//!
//! The client side is an ssh configuration file (`ssh -F`) naming each node, as a real leader's
//! `~/.ssh/config` or DNS would, with `BatchMode` and `StrictHostKeyChecking` on.
//!
//! A second key stands for a site's Ansible (`ansible_inventory`): it may run any command, as
//! Ansible runs its Python on the node, with the same carbonio-mesh first on `PATH`.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// sshd's privilege separation directory: sshd refuses to start without it (Debian's unit creates
/// it through `RuntimeDirectory=sshd`; nothing does when the service never ran).
const PRIVSEP_DIR: &str = "/run/sshd";

/// How long sshd gets to listen on every address.
const START_LIMIT: Duration = Duration::from_secs(10);

/// One simulated node as sshd serves it.
#[derive(Clone, Debug)]
pub struct SshNode {
    /// What the leader connects to (`ssh root@NAME`): `Host NAME` in the client configuration.
    pub name: String,
    /// The node's system root: its carbonio-mesh runs with `--root` there.
    pub root: PathBuf,
    /// Its carbonio-mesh's `--plugin-dir`.
    pub plugin_dir: PathBuf,
    /// Variables set for its carbonio-mesh on top of what sshd gives a session (the stand-ins'
    /// settings, `PATH` with the stand-ins first, `CARBONIO_MESH_CHILD_ENV`).
    pub env: Vec<(String, String)>,
}

impl SshNode {
    pub fn new(name: &str, root: &Path, plugin_dir: &Path) -> Self {
        SshNode {
            name: name.to_owned(),
            root: root.to_owned(),
            plugin_dir: plugin_dir.to_owned(),
            env: Vec::new(),
        }
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.push((name.to_owned(), value.into()));
        self
    }
}

/// What the leader's `known_hosts` says about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKey {
    /// The key sshd presents.
    Known,
    /// Another server's key: as if the node had been reinstalled, or a machine in the middle.
    Wrong,
    /// No entry.
    Unknown,
}

#[derive(Clone, Debug)]
struct Served {
    node: SshNode,
    address: Ipv4Addr,
    host_key: HostKey,
    /// Whether the client offers the key in `authorized_keys` (else a key sshd does not know).
    authorized: bool,
}

/// A running sshd, killed with its process group on drop.
pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    nodes: Vec<Served>,
}

impl Sshd {
    /// Starts sshd for `nodes` (the first on 127.0.0.2, the next on 127.0.0.3, ...), every node's
    /// host key known and the client's key authorized; answers once sshd accepts connections on
    /// every address.
    pub fn start(nodes: Vec<SshNode>) -> Sshd {
        assert!(
            (1..=250).contains(&nodes.len()),
            "1 to 250 nodes on 127.0.0.2 and up"
        );
        ensure_privsep_dir();
        // Under the trusted scratch directory, not /tmp: sshd's StrictModes (left on, as on a real
        // node) refuses an authorized_keys file below a group- or world-writable directory.
        let dir = tempfile::tempdir_in(crate::scratch_base()).unwrap();
        let path = |name: &str| dir.path().join(name);
        for key in [
            "host_key",
            "impostor_host_key",
            "leader_key",
            "stranger_key",
            "ansible_key",
        ] {
            keygen(&path(key));
        }
        let nodes: Vec<Served> = nodes
            .into_iter()
            .zip(2u8..)
            .map(|(node, last)| Served {
                node,
                address: Ipv4Addr::new(127, 0, 0, last),
                host_key: HostKey::Known,
                authorized: true,
            })
            .collect();
        let (wrapper, any_command) = write_node_carbonio_mesh(dir.path(), &nodes);
        fs::write(
            path("authorized_keys"),
            format!(
                "command=\"{}\",restrict {}\ncommand=\"{}\",restrict {}\n",
                wrapper.display(),
                public_key(&path("leader_key")),
                any_command.display(),
                public_key(&path("ansible_key")),
            ),
        )
        .unwrap();
        let addresses: Vec<Ipv4Addr> = nodes.iter().map(|n| n.address).collect();
        let mut log = String::new();
        // A free port can be taken by someone else before sshd binds it: try another then.
        for _ in 0..5 {
            let port = free_port(&addresses);
            fs::write(
                path("sshd_config"),
                sshd_config(dir.path(), &addresses, port),
            )
            .unwrap();
            let mut child = spawn_sshd(&path("sshd_config"), &path("sshd.log"));
            if listening(&mut child, &addresses, port) {
                let sshd = Sshd {
                    dir,
                    child,
                    port,
                    nodes,
                };
                sshd.write_client_files();
                return sshd;
            }
            kill_group(&mut child);
            log = fs::read_to_string(path("sshd.log")).unwrap_or_default();
            if !log.contains("Address already in use") {
                break;
            }
        }
        panic!("sshd did not start:\n{log}");
    }

    /// The ssh client configuration (`ssh -F FILE`) naming every node.
    pub fn client_config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The loopback address serving node `name`.
    pub fn address(&self, name: &str) -> Ipv4Addr {
        self.served(name).address
    }

    /// The forced command: the script standing in for carbonio-mesh as installed on the nodes.
    pub fn node_carbonio_mesh(&self) -> PathBuf {
        self.dir.path().join("node-bin/carbonio-mesh")
    }

    /// An Ansible inventory (INI) listing every node under its name and its address, reached
    /// as root with the Ansible key, host keys checked against the leader's `known_hosts`.
    pub fn ansible_inventory(&self) -> PathBuf {
        let path = |name: &str| self.dir.path().join(name);
        let mut inventory = String::from("[mesh]\n");
        for served in &self.nodes {
            let name = &served.node.name;
            let ssh_args = format!(
                "-o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o HostKeyAlias={name} \
                 -o StrictHostKeyChecking=yes -o CheckHostIP=no -o IdentitiesOnly=yes \
                 -o IdentityAgent=none -o BatchMode=yes",
                path("known_hosts").display()
            );
            for alias in [name.clone(), served.address.to_string()] {
                writeln!(
                    inventory,
                    "{alias} ansible_host={} ansible_port={} ansible_user=root \
                     ansible_ssh_private_key_file={} ansible_ssh_common_args='{ssh_args}' \
                     ansible_python_interpreter=/usr/bin/python3",
                    served.address,
                    self.port,
                    path("ansible_key").display(),
                )
                .unwrap();
            }
        }
        fs::write(path("ansible_inventory"), inventory).unwrap();
        path("ansible_inventory")
    }

    /// What sshd logged so far (`-e`: its log on standard error).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(self.dir.path().join("sshd.log")) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Changes what the leader's `known_hosts` says about node `name`.
    pub fn set_host_key(&mut self, name: &str, key: HostKey) {
        self.served_mut(name).host_key = key;
        self.write_client_files();
    }

    /// Whether the leader offers node `name` its authorized key (else one sshd does not know).
    pub fn set_authorized(&mut self, name: &str, authorized: bool) {
        self.served_mut(name).authorized = authorized;
        self.write_client_files();
    }

    fn served(&self, name: &str) -> &Served {
        self.nodes
            .iter()
            .find(|n| n.node.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    fn served_mut(&mut self, name: &str) -> &mut Served {
        self.nodes
            .iter_mut()
            .find(|n| n.node.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    /// `ssh_config` and `known_hosts`, from each node's settings. A node is reached by its name
    /// or its address (`{host}` is the hostname when LDAP knows it, else the gossip address); its
    /// host key is looked up by its name (`HostKeyAlias`), so each node has its own entry although
    /// one sshd serves them all.
    fn write_client_files(&self) {
        let path = |name: &str| self.dir.path().join(name);
        let right = public_key(&path("host_key"));
        let wrong = public_key(&path("impostor_host_key"));
        let mut config = String::new();
        let mut known = String::new();
        for served in &self.nodes {
            let name = &served.node.name;
            let key = if served.authorized {
                "leader_key"
            } else {
                "stranger_key"
            };
            writeln!(
                config,
                "Host {name} {}\n    HostName {}\n    Port {}\n    User root\n    \
                 IdentityFile \"{}\"\n    IdentitiesOnly yes\n    IdentityAgent none\n    \
                 HostKeyAlias {name}\n    UserKnownHostsFile \"{}\"\n    \
                 GlobalKnownHostsFile /dev/null\n    CheckHostIP no\n    UpdateHostKeys no\n    \
                 BatchMode yes\n    StrictHostKeyChecking yes\n",
                served.address,
                served.address,
                self.port,
                path(key).display(),
                path("known_hosts").display(),
            )
            .unwrap();
            match served.host_key {
                HostKey::Known => writeln!(known, "{name} {right}").unwrap(),
                HostKey::Wrong => writeln!(known, "{name} {wrong}").unwrap(),
                HostKey::Unknown => {}
            }
        }
        fs::write(path("ssh_config"), config).unwrap();
        fs::write(path("known_hosts"), known).unwrap();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Starts `/usr/sbin/sshd -D -e -f CONFIG` (an absolute path: sshd re-executes itself for each
/// connection), its log to `log`.
fn spawn_sshd(config: &Path, log: &Path) -> Child {
    let mut command = Command::new("/usr/sbin/sshd");
    command
        .args(["-D", "-e", "-f"])
        .arg(config)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(log).unwrap())
        // Its own group, killed whole on drop.
        .process_group(0);
    // SAFETY: only a system call between fork and exec.
    unsafe {
        // If the test process dies without unwinding, sshd goes with it.
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
            Ok(())
        });
    }
    command.spawn().expect("/usr/sbin/sshd (openssh-server)")
}

/// Whether `sshd` accepts connections on every address within [`START_LIMIT`] (false at once
/// when it exits).
fn listening(sshd: &mut Child, addresses: &[Ipv4Addr], port: u16) -> bool {
    let deadline = Instant::now() + START_LIMIT;
    let mut waiting: Vec<Ipv4Addr> = addresses.to_vec();
    while Instant::now() < deadline {
        if sshd.try_wait().unwrap().is_some() {
            return false;
        }
        waiting.retain(|a| {
            TcpStream::connect_timeout(
                &SocketAddrV4::new(*a, port).into(),
                Duration::from_millis(200),
            )
            .is_err()
        });
        if waiting.is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// SIGTERM to the child's group, SIGKILL after 2 s, reaped.
fn kill_group(child: &mut Child) {
    use nix::sys::signal::{killpg, Signal};
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

/// `/run/sshd`, 0755 root, when missing.
fn ensure_privsep_dir() {
    match fs::create_dir(PRIVSEP_DIR) {
        Ok(()) => fs::set_permissions(PRIVSEP_DIR, fs::Permissions::from_mode(0o755)).unwrap(),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("sshd needs {PRIVSEP_DIR}: {e} (run the tests as root)"),
    }
}

/// A new ed25519 key pair at `path` and `path.pub`, without a passphrase.
fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "carbonio-mesh-test",
            "-f",
        ])
        .arg(path)
        .output()
        .expect("ssh-keygen (openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `TYPE BASE64` of the public half of the key at `private` (`private.pub`), without its comment.
fn public_key(private: &Path) -> String {
    let text = fs::read_to_string(format!("{}.pub", private.display())).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A port free on every address (sshd is then told to listen on it on each).
fn free_port(addresses: &[Ipv4Addr]) -> u16 {
    'search: loop {
        let first = TcpListener::bind(SocketAddrV4::new(addresses[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let mut held = vec![first];
        for address in &addresses[1..] {
            match TcpListener::bind(SocketAddrV4::new(*address, port)) {
                Ok(listener) => held.push(listener),
                Err(_) => continue 'search,
            }
        }
        return port;
    }
}

fn sshd_config(dir: &Path, addresses: &[Ipv4Addr], port: u16) -> String {
    let path = |name: &str| dir.join(name).display().to_string();
    let mut config = String::new();
    for address in addresses {
        writeln!(config, "ListenAddress {address}:{port}").unwrap();
    }
    writeln!(
        config,
        "HostKey {host_key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {authorized}\n\
         AuthorizedPrincipalsFile none\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         PermitUserEnvironment no\n\
         AllowTcpForwarding no\n\
         X11Forwarding no\n\
         PrintMotd no\n\
         UseDNS no\n\
         MaxStartups 100\n\
         LogLevel VERBOSE",
        host_key = path("host_key"),
        pid = path("sshd.pid"),
        authorized = path("authorized_keys"),
    )
    .unwrap();
    config
}

/// A word for a POSIX shell, single-quoted.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The forced commands: `node-bin/carbonio-mesh`, standing in for carbonio-mesh as installed on
/// each node (see the module documentation), and `node-bin/any-command` for the Ansible key,
/// which runs the command asked for with `node-bin/ansible/carbonio-mesh` (the same, called
/// with its arguments) first on `PATH`.
fn write_node_carbonio_mesh(dir: &Path, nodes: &[Served]) -> (PathBuf, PathBuf) {
    let mut cases = String::new();
    for served in nodes {
        let node = &served.node;
        write!(
            cases,
            "    {})\n        root={}\n        plugins={}\n",
            served.address,
            quoted(&node.root.display().to_string()),
            quoted(&node.plugin_dir.display().to_string()),
        )
        .unwrap();
        for (name, value) in &node.env {
            writeln!(cases, "        export {name}={}", quoted(value)).unwrap();
        }
        cases.push_str("        ;;\n");
    }
    let find_node = format!(
        r#"# SSH_CONNECTION: client address, client port, server address, server port.
server=${{SSH_CONNECTION#* * }}
server=${{server%% *}}
case "$server" in
{cases}    *)
        echo "carbonio-mesh (test node): no node is served on $server" >&2
        exit 127
        ;;
esac"#
    );
    let binary = quoted(&crate::binary().display().to_string());
    let script = format!(
        r#"#!/bin/sh
# Stands in for carbonio-mesh as installed on the simulated nodes (/usr/bin/carbonio-mesh there).
# sshd runs it as the forced command of the leader's key: it finds the node from the address the
# connection came in on, accepts only a carbonio-mesh command line, and runs the real built binary
# against that node's system root with that node's environment. Made by tests/src/sshd.rs.
set -eu
{find_node}
case "$SSH_ORIGINAL_COMMAND" in
    "carbonio-mesh "*) ;;
    *)
        echo "carbonio-mesh (test node): this key only runs carbonio-mesh, not: $SSH_ORIGINAL_COMMAND" >&2
        exit 126
        ;;
esac
# ssh sends its command words joined by blanks and the node's login shell splits them again;
# eval splits them the same way.
eval "set -- ${{SSH_ORIGINAL_COMMAND#carbonio-mesh }}"
exec {binary} --root "$root" --plugin-dir "$plugins" "$@"
"#
    );
    let bin = dir.join("node-bin");
    fs::create_dir_all(bin.join("ansible")).unwrap();
    let write = |path: PathBuf, text: &str| {
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    let forced = write(bin.join("carbonio-mesh"), &script);
    write(
        bin.join("ansible/carbonio-mesh"),
        &format!(
            "#!/bin/sh\n# carbonio-mesh on a simulated node, as a command Ansible runs there (called with its\n\
             # arguments). Made by tests/src/sshd.rs.\nset -eu\n{find_node}\n\
             exec {binary} --root \"$root\" --plugin-dir \"$plugins\" \"$@\"\n"
        ),
    );
    let any_command = write(
        bin.join("any-command"),
        &format!(
            "#!/bin/sh\n# The forced command of the Ansible key: the command asked for, with this node's\n\
             # carbonio-mesh first on PATH. Made by tests/src/sshd.rs.\n\
             PATH={}:$PATH\nexport PATH\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
            quoted(&bin.join("ansible").display().to_string())
        ),
    );
    (forced, any_command)
}
