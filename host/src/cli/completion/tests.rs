use carbonio_mesh_plugin_api::{ArgSpec, CommandSpec, Suggest};

use super::engine::{complete, tree, Answer};
use super::safe_word;

fn specs() -> Vec<CommandSpec> {
    vec![
        CommandSpec::new("catalog", "Catalog")
            .read_only()
            .subcommand(
                CommandSpec::new("nodes", "List the nodes")
                    .read_only()
                    .arg(ArgSpec::flag("detailed", "More"))
                    .arg(
                        ArgSpec::option("near", "Near NODE")
                            .value_name("NODE")
                            .suggest(Suggest::Nodes {
                                extra: vec!["_agent".into()],
                                list: false,
                            }),
                    ),
            )
            .subcommand(CommandSpec::new("services", "List the services").read_only()),
        CommandSpec::new("secret", "Secret")
            .subcommand(
                CommandSpec::new("show", "Show one run").read_only().arg(
                    ArgSpec::positional("run", "The run")
                        .value_name("RUN")
                        .required()
                        .suggest(Suggest::Runs),
                ),
            )
            .subcommand(
                CommandSpec::new("rejoin", "Rejoin")
                    .arg(ArgSpec::option("archive", "The archive").value_name("FILE")),
            ),
        CommandSpec::new("members", "Members").read_only().arg(
            ArgSpec::option("status", "Only STATUS")
                .value_name("REGEX")
                .suggest(Suggest::Values {
                    values: vec!["alive".into(), "failed".into()],
                }),
        ),
    ]
}

fn words(line: &str) -> Vec<String> {
    let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    if line.ends_with(' ') {
        words.push(String::new());
    }
    words
}

fn offered(line: &str) -> Vec<String> {
    let specs = specs();
    match complete(&tree(&specs), &specs, &words(line)[1..]) {
        Answer::Words(words) => words.into_iter().map(|c| c.word).collect(),
        other => panic!("{line}: {other:?}"),
    }
}

fn answer(line: &str) -> Answer {
    let specs = specs();
    complete(&tree(&specs), &specs, &words(line)[1..])
}

#[test]
fn an_empty_word_offers_subcommands_never_flags() {
    assert_eq!(offered("carbonio-mesh catalog "), ["nodes", "services"]);
    assert!(offered("carbonio-mesh ").contains(&"catalog".to_owned()));
    assert!(offered("carbonio-mesh ").contains(&"generate".to_owned()));
    assert!(!offered("carbonio-mesh ").iter().any(|w| w.starts_with('-')));
}

#[test]
fn a_dash_offers_the_flags_and_only_where_the_command_takes_them() {
    let flags = offered("carbonio-mesh catalog nodes --");
    assert!(flags.contains(&"--detailed".to_owned()), "{flags:?}");
    assert!(flags.contains(&"--format".to_owned()), "{flags:?}");
    assert!(
        !flags.contains(&"--dry-run".to_owned()),
        "read-only: {flags:?}"
    );
    assert!(!flags.contains(&"--yes".to_owned()), "read-only: {flags:?}");
    let rejoin = offered("carbonio-mesh secret rejoin --");
    assert!(rejoin.contains(&"--dry-run".to_owned()), "{rejoin:?}");
    assert!(rejoin.contains(&"--yes".to_owned()), "{rejoin:?}");
    assert_eq!(offered("carbonio-mesh catalog nodes --det"), ["--detailed"]);
    // Built-ins: only `generate man` writes, so only it takes --dry-run.
    assert!(offered("carbonio-mesh generate man --").contains(&"--dry-run".to_owned()));
    assert!(!offered("carbonio-mesh plugins list --").contains(&"--dry-run".to_owned()));
}

#[test]
fn a_positional_offers_its_values_not_flags() {
    assert_eq!(
        answer("carbonio-mesh secret show "),
        Answer::Live {
            source: Suggest::Runs,
            prefix: String::new(),
            partial: String::new()
        }
    );
}

#[test]
fn option_values_from_possible_values_suggestions_and_files() {
    assert_eq!(
        offered("carbonio-mesh members --format "),
        ["human", "json"]
    );
    assert_eq!(
        offered("carbonio-mesh members --format=j"),
        ["--format=json"]
    );
    assert_eq!(
        answer("carbonio-mesh catalog nodes --near ser"),
        Answer::Live {
            source: Suggest::Nodes {
                extra: vec!["_agent".into()],
                list: false
            },
            prefix: String::new(),
            partial: "ser".into()
        }
    );
    assert!(matches!(
        answer("carbonio-mesh members --status "),
        Answer::Live {
            source: Suggest::Values { .. },
            ..
        }
    ));
    assert_eq!(
        answer("carbonio-mesh secret rejoin --archive /r"),
        Answer::Files { dirs_only: false }
    );
    assert_eq!(
        answer("carbonio-mesh --root "),
        Answer::Files { dirs_only: true }
    );
    // Options given before keep the walk on track.
    assert_eq!(
        offered("carbonio-mesh --format json -v catalog --http-addr http://x "),
        ["nodes", "services"]
    );
}

#[test]
fn only_plain_words_reach_the_command_line() {
    assert!(safe_word("agent-mail-example-com"));
    assert!(safe_word("--nodes=srv1.example.com,mail.example.com"));
    assert!(!safe_word("x;rm -rf /"));
    assert!(!safe_word("$(id)"));
    assert!(!safe_word(""));
}
