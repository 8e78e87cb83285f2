//! Helpers for the end-to-end tests: the built binary, the built fixture plugins, and sandboxes
//! (a `--root` tree plus a plugin directory) whose every ancestor passes the host's trust checks.
//!
//! The binary and fixtures come from `cargo build --workspace` (the README's test command runs it
//! first); the tests never rebuild anything themselves.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub use cluster::{ClusterSandbox, TOKEN};

pub mod cluster;
pub mod imports;
pub mod simulated_mesh;
pub mod slapd;
pub mod snapshot;
pub mod ssh_mesh;
pub mod sshd;

/// `target/debug` (or `$CARGO_TARGET_DIR/debug`).
pub fn build_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    fs::canonicalize(target)
        .expect("the target directory exists")
        .join("debug")
}

fn built(file: &str) -> PathBuf {
    let path = build_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// The built `carbonio-mesh`.
pub fn binary() -> PathBuf {
    built("carbonio-mesh")
}

/// The built fixture plugin `name` (see tests/fixture-plugins/README.md).
pub fn fixture(name: &str) -> PathBuf {
    built(&format!("libfixture_{}.so", name.replace('-', "_")))
}

/// Where sandboxes go: `CARBONIO_MESH_TEST_DIR` (chosen by scripts/test.sh), else the target
/// directory. Never /tmp: a world-writable ancestor would (rightly) make every plugin refused.
pub(crate) fn scratch_base() -> PathBuf {
    let base = match std::env::var_os("CARBONIO_MESH_TEST_DIR") {
        Some(dir) => PathBuf::from(dir).join("e2e"),
        None => build_dir().join("e2e"),
    };
    fs::create_dir_all(&base).unwrap();
    base
}

/// The `version` of the package whose manifest is `path` (relative to the workspace root).
fn package_version(path: &str) -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    let text = fs::read_to_string(&manifest).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{} has no version line", manifest.display()))
        .to_owned()
}

/// The plugin-api version the host speaks (`plugin-api/Cargo.toml`).
pub fn api_version() -> String {
    package_version("plugin-api/Cargo.toml")
}

/// The version the `next-minor` fixture plugin is built against: one minor above the host's.
pub fn next_minor_api_version() -> String {
    package_version("tests/fixture-plugins/api-next-minor/Cargo.toml")
}

/// Every product plugin, by name.
pub const PRODUCT_PLUGINS: &[&str] = &[
    "members",
    "catalog",
    "leader",
    "credentials",
    "secret",
    "services",
    "force-leave",
    "reload",
    "doctor",
];

/// A product plugin as cargo built it (`libcarbonio_mesh_plugin_<name>.so`).
pub fn product_plugin(name: &str) -> PathBuf {
    built(&format!(
        "libcarbonio_mesh_plugin_{}.so",
        name.replace('-', "_")
    ))
}

/// A copy of a stand-in program from `tests/stand-ins` (see its README) in a world-readable
/// temporary directory: stand-ins run as other users (`nobody`), who may not be able to reach the
/// checkout. Removed on drop.
pub struct StandIn {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn stand_in(name: &str) -> StandIn {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("stand-ins")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let path = copy_executable(&source, &dir.path().join(name));
    StandIn { _dir: dir, path }
}

/// Copies `source` to `destination` with mode 0755 (plugins and stand-ins alike).
fn copy_executable(source: &Path, destination: &Path) -> PathBuf {
    fs::copy(source, destination).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    fs::set_permissions(destination, fs::Permissions::from_mode(0o755)).unwrap();
    destination.to_owned()
}

/// `tests/fixtures/consul/1.9.3/<name>`: Consul 1.9.3's answers (see the README there).
pub fn consul_fixture(name: &str) -> PathBuf {
    consul_fixture_at(consul_double::Version::V1_9_3, name)
}

/// `tests/fixtures/consul/<version>/<name>`: that version's answers and CLI output.
pub fn consul_fixture_at(version: consul_double::Version, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/consul")
        .join(version.as_str())
        .join(name)
}

/// The variables the stand-ins read (see tests/stand-ins), which carbonio-mesh passes on to the
/// programs it runs only when `CARBONIO_MESH_CHILD_ENV` names them; the list names itself too, so
/// that a carbonio-mesh run by a step (the node transport) passes them on in turn.
/// What `leader` prints on another host of the recorded cluster when srv1..srv3 are its Mesh
/// servers and the members can be read (tests/tests/it/leader.rs, ldap.rs).
pub const FIXTURE_LEADER_REPORT: &str = "Leader: srv1.example.com (192.168.56.101:8300)\n\
    This host is not the leader.\n\n\
    Server            Node                     Address         Raft peer  Leader\n\
    srv1.example.com  server-srv1-example-com  192.168.56.101  yes        yes\n\
    srv2.example.com  server-srv2-example-com  192.168.56.102  yes        no\n\
    srv3.example.com  server-srv3-example-com  192.168.56.103  yes        no\n";

pub const STAND_IN_ENV: &str =
    "CARBONIO_MESH_CHILD_ENV SERVICE_DISCOVER_STANDIN_ROOT SERVICE_DISCOVER_STANDIN_DELAY \
     CONSUL_HTTP_ADDR CARBONIO_STANDIN_SERVERS CARBONIO_STANDIN_USER CARBONIO_STANDIN_FAIL \
     CARBONIO_STANDIN_ROOT SERVICE_DISCOVER_STANDIN_LDAP_UPLOAD CONSUL_STANDIN_VERSION \
     SERVICE_DISCOVER_STANDIN_LAYOUT SERVICE_DISCOVER_STANDIN_FAIL CONSUL_DOUBLE_CONTROL \
     SERVICE_DISCOVER_STANDIN_BOOTSTRAP_WAIT SERVICE_DISCOVER_STANDIN_TOKEN_WAIT";

/// A temporary `--root` tree and plugin directory, removed on drop.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        let base = scratch_base();
        fs::create_dir_all(&base).unwrap();
        let dir = tempfile::tempdir_in(&base).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let sandbox = Sandbox { dir };
        for sub in ["root", "plugins"] {
            fs::create_dir(sandbox.dir.path().join(sub)).unwrap();
        }
        sandbox
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The `--plugin-dir` directory.
    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// `/usr/lib/carbonio-mesh/plugins` under the root, created.
    pub fn vendor_dir(&self) -> PathBuf {
        self.make_dir("usr/lib/carbonio-mesh/plugins")
    }

    /// `/usr/local/lib/carbonio-mesh/plugins` under the root, created.
    pub fn site_dir(&self) -> PathBuf {
        self.make_dir("usr/local/lib/carbonio-mesh/plugins")
    }

    /// A directory under the root, created with mode 0755 all the way down.
    pub fn make_dir(&self, system_path: &str) -> PathBuf {
        let mut path = self.root();
        for part in system_path.split('/').filter(|p| !p.is_empty()) {
            path.push(part);
            if !path.exists() {
                fs::create_dir(&path).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        path
    }

    /// `/etc/hosts` naming the recorded cluster's three servers (`srv1`..`srv3.example.com`,
    /// 192.168.56.101-103), for commands that map addresses to hostnames.
    pub fn write_fixture_hosts(&self) {
        self.make_dir("/etc");
        fs::write(
            self.path("/etc/hosts"),
            "127.0.0.1 localhost\n192.168.56.101 srv1.example.com\n192.168.56.102 srv2.example.com\n192.168.56.103 srv3.example.com\n",
        )
        .unwrap();
    }

    /// A path under the root.
    pub fn path(&self, system_path: &str) -> PathBuf {
        self.root().join(system_path.trim_start_matches('/'))
    }

    /// A file beside the root (not part of the simulated system) holding `text`: password and
    /// token files given on the command line.
    pub fn file_beside_root(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// Copies fixture `fixture` into `dir` as `<name>.so`, mode 0755.
    pub fn install(&self, fixture_name: &str, dir: &Path, name: &str) -> PathBuf {
        copy_executable(&fixture(fixture_name), &dir.join(format!("{name}.so")))
    }

    /// Installs the built product plugin `name` into the plugin directory as `<name>.so`.
    pub fn install_product(&self, name: &str) -> PathBuf {
        copy_executable(
            &product_plugin(name),
            &self.plugin_dir().join(format!("{name}.so")),
        )
    }

    /// Installs every product plugin into the plugin directory.
    pub fn install_all_products(&self) {
        for name in PRODUCT_PLUGINS {
            self.install_product(name);
        }
    }

    /// `carbonio-mesh --root ROOT` with a clean environment, searching only the sandbox, handing
    /// the stand-ins' settings to the programs it runs.
    pub fn bare_cmd(&self) -> Command {
        Command::from_std(self.bare_process())
    }

    /// [`Sandbox::bare_cmd`] as a `std::process::Command`, for a test that starts the run and
    /// watches it while it runs.
    pub fn bare_process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(binary());
        cmd.env("CARBONIO_MESH_CHILD_ENV", STAND_IN_ENV)
            .env_remove("CARBONIO_MESH_PLUGIN_DIR")
            .env_remove("CONSUL_HTTP_ADDR")
            .env_remove("CONSUL_HTTP_TOKEN")
            .env_remove("CONSUL_HTTP_TOKEN_FILE")
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .arg("--root")
            .arg(self.root());
        cmd
    }

    /// [`Sandbox::bare_cmd`] plus `--plugin-dir` pointing at the sandbox's plugin directory.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.process())
    }

    /// [`Sandbox::cmd`] as a `std::process::Command`.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = self.bare_process();
        cmd.arg("--plugin-dir").arg(self.plugin_dir());
        cmd
    }
}

/// Standard output of a successful run, as text.
pub fn stdout_of(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// (exit code, stdout, stderr) of a run.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let output = cmd.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Asserts `checks` is a list in the one shape of every list of checks (README, "`--format
/// json` fields"): each `{name, status, detail, fix}`, `status` one of ok, warn, fail, unknown,
/// `fix` a string or null (null when ok), `extra` the other fields the document may add.
pub fn assert_check_shape(checks: &serde_json::Value, extra: &[&str]) {
    let list = checks
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {checks}"));
    assert!(!list.is_empty(), "no checks");
    for check in list {
        let object = check
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {check}"));
        for key in object.keys() {
            assert!(
                ["name", "status", "detail", "fix"].contains(&key.as_str())
                    || extra.contains(&key.as_str()),
                "unexpected field {key}: {check}"
            );
        }
        assert!(check["name"].is_string(), "{check}");
        assert!(check["detail"].is_string(), "{check}");
        let status = check["status"].as_str().unwrap_or_default();
        assert!(
            ["ok", "warn", "fail", "unknown"].contains(&status),
            "status {status}: {check}"
        );
        assert!(object.contains_key("fix"), "no fix field: {check}");
        assert!(
            check["fix"].is_string() || check["fix"].is_null(),
            "{check}"
        );
        if status == "ok" {
            assert!(check["fix"].is_null(), "an ok check has no fix: {check}");
        }
    }
}

/// Real `gpg` in batch mode with its own throwaway home and the password on a descriptor
/// (never in argv), `args` added; its standard output.
pub fn gpg_with_password(password: &str, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let home = tempfile::tempdir().unwrap();
    let mut gpg = std::process::Command::new("gpg")
        .env("GNUPGHOME", home.path())
        .args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    gpg.stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = gpg.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gpg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Decrypts `archive` with real `gpg`: the documented way to open a credentials archive.
pub fn gpg_decrypt(archive: &Path, password: &str) -> Vec<u8> {
    gpg_with_password(password, &["-d".as_ref(), archive.as_os_str()])
}

/// Runs `command` (a shell command line) on a real pseudo-terminal (util-linux `script`),
/// answering each prompt of `dialogue` once it is on the screen. Returns the exit code and all
/// the screen showed (what was typed appears only if the terminal echoed it).
pub fn on_a_terminal(command: &str, dialogue: &[(&str, &str)]) -> (i32, String) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (sender, screen) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    // Where the next prompt is looked for: after the last one answered, so a repeated prompt
    // is waited for again.
    let mut from = 0;
    let mut stdin = child.stdin.take().unwrap();
    for (prompt, answer) in dialogue {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen[from..].contains(prompt) {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = screen
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {prompt:?} on the screen: {seen}"));
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        from += seen[from..].find(prompt).unwrap() + prompt.len();
        stdin.write_all(answer.as_bytes()).unwrap();
    }
    drop(stdin);
    let status = child.wait().unwrap();
    while let Ok(chunk) = screen.recv_timeout(Duration::from_millis(200)) {
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    (status.code().unwrap_or(-1), seen)
}

/// Several stand-ins in one world-readable directory, to put first in `PATH`.
pub struct StandInBin {
    dir: tempfile::TempDir,
}

impl StandInBin {
    pub fn new(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let bin = StandInBin { dir };
        bin.add(names);
        bin
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds more stand-ins to the directory.
    pub fn add(&self, names: &[&str]) {
        for name in names {
            let source = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("stand-ins")
                .join(name);
            copy_executable(&source, &self.dir.path().join(name));
        }
    }

    /// `PATH` with this directory first.
    pub fn search_path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

/// Runs the `service-discover` stand-in at `program` on the system under `root`, against the
/// Consul double at `consul`.
pub fn service_discover(
    program: &Path,
    root: &Path,
    consul: &str,
    args: &[&str],
) -> std::process::Output {
    // The stand-in was just copied: a child another test thread is forking may still hold the
    // copy's write descriptor until it execs, and exec then fails with "Text file busy".
    for _ in 0..50 {
        match std::process::Command::new(program)
            .env("SERVICE_DISCOVER_STANDIN_ROOT", root)
            .env("CONSUL_HTTP_ADDR", consul)
            .args(args)
            .output()
        {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result.unwrap(),
        }
    }
    panic!("{} stayed busy (Text file busy)", program.display());
}

/// `service-discover setup IP [--first-instance] --password=P` through the stand-in: a Mesh
/// server (first instance) or node under `root`. Panics with its error when it fails.
pub fn service_discover_setup(
    program: &Path,
    root: &Path,
    consul: &str,
    ip: &str,
    password: &str,
    first_instance: bool,
) {
    let password = format!("--password={password}");
    let mut args = vec!["setup", ip, password.as_str()];
    if first_instance {
        args.push("--first-instance");
    }
    let out = service_discover(program, root, consul, &args);
    assert!(
        out.status.success(),
        "service-discover setup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A first Mesh server under a new sandbox's root, made by `service-discover setup
/// --first-instance --password=PASSWORD` (the stand-in) against a new Consul double whose ACLs
/// it bootstraps.
pub fn first_mesh_server(password: &str) -> (Sandbox, consul_double::Double) {
    first_mesh_server_with(password, |_| {})
}

/// [`first_mesh_server`], with `prepare` run on the sandbox before setup (a localconfig.xml, so
/// that setup uploads the archive to LDAP as the real one does).
pub fn first_mesh_server_with(
    password: &str,
    prepare: impl FnOnce(&Sandbox),
) -> (Sandbox, consul_double::Double) {
    let sandbox = Sandbox::new();
    prepare(&sandbox);
    let double =
        consul_double::Double::start(consul_double::Cluster::fixture_unbootstrapped()).unwrap();
    let program = stand_in("service-discover");
    service_discover_setup(
        &program.path,
        &sandbox.root(),
        &double.url(),
        "192.168.56.101",
        password,
        true,
    );
    (sandbox, double)
}

/// This machine's first non-loopback IPv4 address, as `ip` lists it: the address a node or
/// leader simulated on this machine is "this host" at.
pub fn local_ip() -> String {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .map(str::to_owned)
        .expect("these tests need a non-loopback IPv4 address on this machine")
}

/// `sha256sum` of every file of the Mesh setup under `root` (service-discover's configuration
/// and data directories), by path: equal before and after means nothing was changed.
pub fn mesh_checksums(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut sums = std::collections::BTreeMap::new();
    for dir in ["etc/zextras/service-discover", "var/lib/service-discover"] {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let out = std::process::Command::new("sha256sum")
                    .arg(&path)
                    .output()
                    .unwrap();
                sums.insert(
                    path.display().to_string(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                );
            }
        }
    }
    sums
}

/// A Mesh leader on this host for `secret` runs: the Consul double with this host's address as
/// the leader's, set up by the service-discover stand-in with `password`, the stand-ins for
/// service-discover, systemctl and consul on PATH, and Consul's user `nobody`.
pub struct MeshLeader {
    pub sandbox: Sandbox,
    pub double: consul_double::Double,
    pub bin: StandInBin,
}

/// The recorded cluster with one Mesh server, the fixture's first (its other two servers and
/// their `consul` services left out): the single-server regeneration. Three servers need the
/// procedure that shrinks raft first, which `secret regenerate` refuses to skip.
pub fn one_mesh_server(mut cluster: consul_double::Cluster) -> consul_double::Cluster {
    let others = ["server-srv2-example-com", "server-srv3-example-com"];
    cluster.nodes.retain(|n| !others.contains(&n.name.as_str()));
    cluster
        .services
        .retain(|s| !others.contains(&s.node.as_str()));
    cluster
}

impl MeshLeader {
    /// A leader that is the Mesh's only server (what `secret regenerate` on one server needs).
    pub fn new(password: &str) -> Self {
        Self::prepared(password, |_| {})
    }

    /// [`MeshLeader::new`], with `prepare` run on the sandbox before service-discover's setup
    /// (a localconfig.xml, so that setup uploads the archive to LDAP).
    pub fn prepared(password: &str, prepare: impl FnOnce(&Sandbox)) -> Self {
        let cluster = one_mesh_server(consul_double::Cluster::fixture_unbootstrapped());
        Self::with_cluster(password, cluster, prepare)
    }

    /// A leader of `cluster` (its first server this host), `prepare` run on the sandbox before
    /// service-discover's setup.
    pub fn with_cluster(
        password: &str,
        mut cluster: consul_double::Cluster,
        prepare: impl FnOnce(&Sandbox),
    ) -> Self {
        let sandbox = Sandbox::new();
        sandbox.install_product("secret");
        prepare(&sandbox);
        let ip = local_ip();
        cluster
            .nodes
            .iter_mut()
            .find(|n| n.name == "server-srv1-example-com")
            .expect("the fixture's first server")
            .address = ip;
        cluster.data_dir = Some(sandbox.path("/var/lib/service-discover/data"));
        let double = consul_double::Double::start(cluster).unwrap();
        let bin = StandInBin::new(&["service-discover", "systemctl", "consul", "journalctl"]);
        service_discover_setup(
            &bin.path().join("service-discover"),
            &sandbox.root(),
            &double.url(),
            "192.0.2.2",
            password,
            true,
        );
        let leader = MeshLeader {
            sandbox,
            double,
            bin,
        };
        // Consul runs as service-discover on a real node; this machine has no such user.
        leader.config("10-test.toml", "[mesh]\nservice_user = \"nobody\"\n");
        leader
    }

    /// `carbonio-mesh` in the sandbox, with the stand-ins and the double.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.sandbox.cmd();
        cmd.env("PATH", self.bin.search_path())
            .env("SERVICE_DISCOVER_STANDIN_ROOT", self.sandbox.root())
            .env("CONSUL_HTTP_ADDR", self.double.url());
        cmd
    }

    /// Writes a configuration file into /etc/carbonio-mesh/config.d; returns its real path.
    pub fn config(&self, name: &str, text: &str) -> PathBuf {
        let path = self
            .sandbox
            .make_dir("/etc/carbonio-mesh/config.d")
            .join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

/// The steps of the workflow `secret plan` resolves with `cmd`'s plugins and configuration, in
/// order (`rejoin`: the node's, `secret plan --rejoin`), read from `secret plan --format json`:
/// what a run goes through, never a list copied by hand.
pub fn planned_steps(mut cmd: Command, rejoin: bool) -> Vec<String> {
    cmd.args(["secret", "plan", "--format", "json"]);
    if rejoin {
        cmd.arg("--rejoin");
    }
    let plan: serde_json::Value = serde_json::from_str(&stdout_of(&mut cmd)).unwrap();
    plan.as_array()
        .expect("secret plan --format json is a list of steps")
        .iter()
        .map(|step| step["name"].as_str().expect("a step has a name").to_owned())
        .collect()
}
