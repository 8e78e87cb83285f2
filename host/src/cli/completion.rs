//! Shell completion scripts for the whole command line, from clap_complete, with the one fix its
//! bash script needs for a program name with a hyphen.

use clap::Command;
use clap_complete::Shell;

/// The program the scripts complete.
const PROGRAM: &str = "carbonio-mesh";

/// The completion script for `shell`.
pub fn script(shell: Shell, command: &mut Command) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, command, PROGRAM, &mut out);
    let script = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => fix_bash_states(&script),
        _ => script,
    }
}

/// clap_complete's bash script (4.6) tracks the words typed as a state such as
/// `carbonio__mesh__subcmd__catalog` (the program's `-` spelt `__`), but names the `case` arm
/// for that state `carbonio__subcmd__mesh__subcmd__catalog` (every `-` of the path spelt
/// `__subcmd__`), so no arm past the first word ever matches and `carbonio-mesh catalog <TAB>`
/// offers nothing (clap-rs/clap#6421). The arms are renamed to the states' spelling; once
/// clap_complete spells them alike, there is nothing left to rename.
fn fix_bash_states(script: &str) -> String {
    let state = PROGRAM.replace('-', "__");
    let arm = PROGRAM.replace('-', "__subcmd__");
    script.replace(&format!("{arm}__subcmd__"), &format!("{state}__subcmd__"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bash_arm_names_a_state_the_walker_reaches() {
        let mut command = Command::new(PROGRAM)
            .subcommand(Command::new("catalog").subcommand(Command::new("nodes")));
        let script = script(Shell::Bash, &mut command);
        for state in [
            "carbonio__mesh__subcmd__catalog",
            "carbonio__mesh__subcmd__catalog__subcmd__nodes",
        ] {
            assert!(script.contains(&format!("cmd=\"{state}\"")), "{script}");
            assert!(script.contains(&format!("        {state})")), "{script}");
        }
        assert!(!script.contains("carbonio__subcmd__mesh"), "{script}");
    }
}
