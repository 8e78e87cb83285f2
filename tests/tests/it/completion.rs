//! The completion scripts `generate completion` writes, run by the real shells: bash (the
//! script's own completion function, called as bash calls it), zsh (its completion system in a
//! pseudo-terminal, tests/shells/complete.zsh) and fish (`complete -C`). Beyond the first word:
//! the second-level commands and the flags of a plugin's command.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use carbonio_mesh_tests::{stdout_of, Sandbox};

/// A sandbox with every product plugin, and the three scripts generated from it.
struct Scripts {
    _sandbox: Sandbox,
    dir: tempfile::TempDir,
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
        Scripts {
            _sandbox: sandbox,
            dir,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What bash offers for `line` (the words typed, the last one being completed): the
    /// function `complete -p` names, called with COMP_WORDS/COMP_CWORD and its three arguments.
    fn bash(&self, line: &str) -> Vec<String> {
        let program = r#"
            source "$1"
            read -ra COMP_WORDS <<<"$2"
            [[ $2 == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            function=$(complete -p carbonio-mesh | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
            "$function" carbonio-mesh "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}"
        "#;
        shell_words(
            Command::new("bash")
                .args(["--norc", "--noprofile", "-c", program, "bash"])
                .arg(self.file("carbonio-mesh.bash"))
                .arg(line),
        )
    }

    /// What zsh's completion system offers for `line`.
    fn zsh(&self, line: &str) -> Vec<String> {
        let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("shells/complete.zsh");
        shell_words(
            Command::new("zsh")
                .arg("-f")
                .arg(harness)
                .arg(self.dir.path())
                .arg(line),
        )
    }

    /// What fish offers for `line`: `complete -C` prints "word<TAB>description".
    fn fish(&self, line: &str) -> Vec<String> {
        shell_words(
            Command::new("fish")
                .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
                .arg(self.file("carbonio-mesh.fish"))
                .arg(line),
        )
        .into_iter()
        .map(|line| line.split('\t').next().unwrap_or_default().to_owned())
        .collect()
    }

    /// Every shell offers at least `expected` for `line`.
    fn assert_offered(&self, line: &str, expected: &[&str]) {
        for (shell, offered) in [
            ("bash", self.bash(line)),
            ("zsh", self.zsh(line)),
            ("fish", self.fish(line)),
        ] {
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
fn the_second_word_offers_the_commands_of_the_first() {
    let scripts = Scripts::new();
    scripts.assert_offered("carbonio-mesh catalog ", &["nodes", "services"]);
    scripts.assert_offered(
        "carbonio-mesh secret ",
        &["regenerate", "rejoin", "plan", "restore"],
    );
    scripts.assert_offered(
        "carbonio-mesh credentials ",
        &["show", "token", "verify", "rekey"],
    );
    scripts.assert_offered("carbonio-mesh plugins ", &["list", "check"]);
    scripts.assert_offered("carbonio-mesh generate ", &["man", "completion"]);
}

#[test]
fn a_commands_flags_are_offered_after_it() {
    let scripts = Scripts::new();
    scripts.assert_offered(
        "carbonio-mesh members --",
        &["--status", "--detailed", "--wan"],
    );
    scripts.assert_offered(
        "carbonio-mesh catalog nodes --",
        &["--detailed", "--service"],
    );
    scripts.assert_offered(
        "carbonio-mesh secret regenerate --",
        &["--password-file", "--resume"],
    );
}
