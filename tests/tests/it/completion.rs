//! The completion scripts `generate completion` writes, run by the real shells: bash (the
//! script's own completion function, called as bash calls it, COMP_LINE and all), zsh (its
//! completion system in a pseudo-terminal, tests/shells/complete.zsh) and fish (`complete -C`).
//! Each TAB runs the built carbonio-mesh (first on PATH) with the sandbox's plugins: commands
//! and flags where they belong, option values, runs from this host, nodes from the live cluster
//! (the Consul double), and a Consul that does not answer costing a bounded wait.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use carbonio_mesh_tests::{binary, stdout_of, Sandbox, TOKEN};
use consul_double::{Cluster, Double};

/// A sandbox with every product plugin, and the three scripts generated from it.
struct Scripts {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    /// The variables every shell runs with: PATH finds the built binary, the plugin directory,
    /// the Consul agent and its token.
    env: Vec<(String, String)>,
}

impl Scripts {
    fn new() -> Self {
        let sandbox = Sandbox::new();
        sandbox.install_all_products();
        let dir = tempfile::tempdir().unwrap();
        for (shell, file) in [
            ("bash", "carbonio-mesh.bash"),
            ("zsh", "_carbonio-mesh"),
            ("fish", "carbonio-mesh.fish"),
        ] {
            let script = stdout_of(sandbox.cmd().args(["generate", "completion", shell]));
            fs::write(dir.path().join(file), script).unwrap();
        }
        let path = format!(
            "{}:{}",
            binary().parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env = vec![
            ("PATH".to_owned(), path),
            (
                "CARBONIO_MESH_PLUGIN_DIR".to_owned(),
                sandbox.plugin_dir().display().to_string(),
            ),
            // Nothing listens there: no live values unless a test points at a double.
            (
                "CONSUL_HTTP_ADDR".to_owned(),
                "http://127.0.0.1:1".to_owned(),
            ),
        ];
        Scripts { sandbox, dir, env }
    }

    /// Shells from now on talk to this agent, with this token.
    fn consul(&mut self, url: &str, token: &str) {
        self.env.retain(|(name, _)| !name.starts_with("CONSUL_"));
        self.env
            .push(("CONSUL_HTTP_ADDR".to_owned(), url.to_owned()));
        self.env
            .push(("CONSUL_HTTP_TOKEN".to_owned(), token.to_owned()));
    }

    fn shell(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("HOME", self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What bash offers for `line` (the words typed, the last one being completed): the
    /// function `complete -p` names, called with COMP_WORDS/COMP_CWORD and its three arguments.
    fn bash(&self, line: &str) -> Vec<String> {
        let program = r#"
            source "$1"
            COMP_LINE=$2
            COMP_POINT=${#2}
            read -ra COMP_WORDS <<<"$2"
            [[ $2 == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            function=$(complete -p carbonio-mesh | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
            "$function" carbonio-mesh "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}"
        "#;
        shell_words(
            self.shell("bash")
                .args(["--norc", "--noprofile", "-c", program, "bash"])
                .arg(self.file("carbonio-mesh.bash"))
                .arg(line),
        )
    }

    /// What zsh's completion system offers for `line`.
    fn zsh(&self, line: &str) -> Vec<String> {
        let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("shells/complete.zsh");
        shell_words(
            self.shell("zsh")
                .arg("-f")
                .arg(harness)
                .arg(self.dir.path())
                .arg(line),
        )
    }

    /// What fish offers for `line`: `complete -C` prints "word<TAB>description".
    fn fish(&self, line: &str) -> Vec<String> {
        shell_words(
            self.shell("fish")
                .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
                .arg(self.file("carbonio-mesh.fish"))
                .arg(line),
        )
        .into_iter()
        .map(|line| line.split('\t').next().unwrap_or_default().to_owned())
        .collect()
    }

    /// What each shell offers for `line`.
    fn offered(&self, line: &str) -> [(&'static str, Vec<String>); 3] {
        [
            ("bash", self.bash(line)),
            ("zsh", self.zsh(line)),
            ("fish", self.fish(line)),
        ]
    }

    /// Every shell offers exactly `expected` (in any order) for `line`.
    fn assert_exactly(&self, line: &str, expected: &[&str]) {
        for (shell, mut offered) in self.offered(line) {
            offered.retain(|w| !w.is_empty());
            offered.sort();
            let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            expected.sort();
            assert_eq!(offered, expected, "{shell}: `{line}<TAB>`");
        }
    }

    /// No shell offers any of `refused` for `line`.
    fn assert_not_offered(&self, line: &str, refused: &[&str]) {
        for (shell, offered) in self.offered(line) {
            for word in refused {
                assert!(
                    !offered.iter().any(|o| o == word),
                    "{shell}: `{line}<TAB>` offers {word}: {offered:?}"
                );
            }
        }
    }

    /// Every shell offers at least `expected` for `line`.
    fn assert_offered(&self, line: &str, expected: &[&str]) {
        for (shell, offered) in self.offered(line) {
            for word in expected {
                assert!(
                    offered.iter().any(|o| o == word),
                    "{shell}: `{line}<TAB>` does not offer {word}: {offered:?}"
                );
            }
        }
    }
}

fn shell_words(command: &mut Command) -> Vec<String> {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_first_word_offers_the_plugins_and_the_built_in_commands() {
    let scripts = Scripts::new();
    scripts.assert_offered(
        "carbonio-mesh ",
        &[
            "plugins",
            "generate",
            "members",
            "catalog",
            "leader",
            "credentials",
            "secret",
            "services",
            "force-leave",
            "reload",
        ],
    );
    scripts.assert_offered("carbonio-mesh cre", &["credentials"]);
}

#[test]
fn the_second_word_offers_the_commands_of_the_first_never_its_flags() {
    let scripts = Scripts::new();
    scripts.assert_exactly("carbonio-mesh catalog ", &["nodes", "services"]);
    scripts.assert_offered(
        "carbonio-mesh secret ",
        &["regenerate", "rejoin", "plan", "restore"],
    );
    scripts.assert_not_offered("carbonio-mesh secret ", &["--dry-run", "--format"]);
    scripts.assert_offered(
        "carbonio-mesh credentials ",
        &["show", "token", "verify", "rekey"],
    );
    scripts.assert_exactly("carbonio-mesh plugins ", &["list", "check"]);
    scripts.assert_exactly("carbonio-mesh generate ", &["man", "completion"]);
    scripts.assert_exactly(
        "carbonio-mesh generate completion ",
        &["bash", "zsh", "fish"],
    );
}

#[test]
fn flags_once_the_word_starts_with_a_dash_and_only_those_the_command_takes() {
    let scripts = Scripts::new();
    scripts.assert_offered(
        "carbonio-mesh members --",
        &["--status", "--detailed", "--wan", "--format"],
    );
    scripts.assert_offered(
        "carbonio-mesh catalog nodes --",
        &["--detailed", "--service", "--near"],
    );
    // Read-only commands refuse --dry-run and --yes after their name: not offered there.
    for line in [
        "carbonio-mesh catalog nodes --",
        "carbonio-mesh members --",
        "carbonio-mesh leader --",
        "carbonio-mesh secret show --",
        "carbonio-mesh plugins list --",
    ] {
        scripts.assert_not_offered(line, &["--dry-run", "--yes"]);
    }
    scripts.assert_offered(
        "carbonio-mesh force-leave --",
        &["--dry-run", "--yes", "--prune"],
    );
    scripts.assert_offered(
        "carbonio-mesh secret regenerate --",
        &["--password-file", "--resume", "--dry-run"],
    );
    scripts.assert_exactly("carbonio-mesh members --st", &["--status", "--stale"]);
}

#[test]
fn option_values_are_offered() {
    let scripts = Scripts::new();
    scripts.assert_exactly(
        "carbonio-mesh members --status ",
        &["alive", "leaving", "left", "failed"],
    );
    scripts.assert_exactly("carbonio-mesh members --format ", &["human", "json"]);
    // `--format=j`: zsh and fish replace the word, bash what follows its `=`.
    assert_eq!(scripts.bash("carbonio-mesh members --format=j"), ["json"]);
    assert_eq!(
        scripts.fish("carbonio-mesh members --format=j"),
        ["--format=json"]
    );
    assert_eq!(
        scripts.zsh("carbonio-mesh members --format=j"),
        ["--format=json"]
    );
}

#[test]
fn secret_show_offers_this_hosts_runs_and_never_a_dash() {
    let scripts = Scripts::new();
    let root = scripts.sandbox.root();
    let line = format!("carbonio-mesh --root {} secret show ", root.display());
    // No run yet: nothing at all (bash used to insert `-`, the flags' common prefix).
    scripts.assert_exactly(&line, &[]);
    for run in ["2026-12-01T10-15-02Z-3f2a", "2026-12-02T08-00-00Z-0001"] {
        let dir = scripts
            .sandbox
            .make_dir(&format!("/var/lib/carbonio-mesh/runs/{run}"));
        fs::write(dir.join("journal.jsonl"), "{}\n").unwrap();
    }
    scripts.assert_exactly(
        &line,
        &["2026-12-01T10-15-02Z-3f2a", "2026-12-02T08-00-00Z-0001"],
    );
    scripts.assert_exactly(&format!("{line}2026-12-02"), &["2026-12-02T08-00-00Z-0001"]);
}

#[test]
fn node_names_come_from_the_live_cluster() {
    let mut scripts = Scripts::new();
    let double = Double::start(Cluster::fixture()).unwrap();
    scripts.consul(&double.url(), TOKEN);
    let nodes = [
        "server-srv1-example-com",
        "server-srv2-example-com",
        "server-srv3-example-com",
        "agent-mail-example-com",
        "agent-proxy-example-com",
    ];
    scripts.assert_exactly("carbonio-mesh force-leave ", &nodes);
    scripts.assert_exactly("carbonio-mesh catalog services --node agent-", &nodes[3..]);
    scripts.assert_offered("carbonio-mesh catalog nodes --near ", &["_agent", nodes[0]]);
    scripts.assert_offered("carbonio-mesh doctor --nodes ", &["all", nodes[0]]);
    // A list completes its last element, without the ones already given.
    let offered = scripts.fish("carbonio-mesh doctor --nodes=agent-mail-example-com,agent-");
    assert_eq!(
        offered,
        ["--nodes=agent-mail-example-com,agent-proxy-example-com"]
    );
    // The token reached the agent on loopback; nothing else was asked.
    assert!(double
        .requests_with_tokens()
        .iter()
        .all(
            |(request, token)| request.starts_with("GET /v1/agent/members")
                && token.as_deref() == Some(TOKEN)
        ));
}

#[test]
fn a_consul_that_does_not_answer_costs_a_bounded_wait() {
    let mut scripts = Scripts::new();
    // Accepts connections (the kernel's backlog) and never answers.
    let stuck = TcpListener::bind("127.0.0.1:0").unwrap();
    scripts.consul(&format!("http://{}", stuck.local_addr().unwrap()), TOKEN);
    let started = Instant::now();
    assert_eq!(scripts.bash("carbonio-mesh doctor --nodes "), ["all"]);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "a TAB waited {waited:?} for a silent agent"
    );
}
