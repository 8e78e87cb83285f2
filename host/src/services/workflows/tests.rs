//! The resolver against small manifests and real configuration files (through `config::load`,
//! so every error names the file and line an admin would open).

use std::collections::BTreeMap;

use carbonio_mesh_plugin_api::step::{FactKey, StepSpec};
use carbonio_mesh_plugin_api::Manifest;

use super::*;
use crate::config::paths::SystemPaths;
use crate::plugins::trust::TrustPolicy;

const IP: FactKey<String> = FactKey::new("ip");
const INDEX: FactKey<u64> = FactKey::new("index");

/// An owner shaped like the secret plugin: two workflows sharing a step, a command step.
fn owner() -> Known {
    let manifest = Manifest::new("owner", "2.0.0", "runs workflows")
        .workflow("main", "the leader's")
        .workflow("node", "each node's")
        .with_step(
            StepSpec::new("check", "finds the ip")
                .in_workflow("main")
                .provides(&IP),
        )
        .with_step(
            StepSpec::new("read", "reads the index")
                .in_workflow("main")
                .provides(&INDEX),
        )
        .with_step(
            StepSpec::new("stop", "stops the service")
                .in_workflow("main")
                .in_workflow("node")
                .changes_system(),
        )
        .with_step(
            StepSpec::new("setup", "sets up on the ip")
                .in_workflow("main")
                .needs_fact(&IP)
                .needs_password()
                .changes_system(),
        )
        .with_step(
            StepSpec::new("first", "runs first on a node").in_workflow_before("node", "stop"),
        )
        .with_step(StepSpec::new("transport", "reaches a node").command(["ssh", "{host}"], true));
    Known {
        manifest,
        file: "/usr/lib/carbonio-mesh/plugins/owner.so".to_owned(),
    }
}

/// Other plugins found, by name.
struct Found(BTreeMap<String, Known>);

impl Manifests for Found {
    fn manifest(&self, name: &str) -> Result<Known, String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no plugin file {name}.so was found"))
    }

    fn all(&self) -> Vec<Known> {
        self.0.values().cloned().collect()
    }
}

fn site_plugin(api: &str) -> Found {
    let mut manifest = Manifest::new("site-x", "0.3.0", "site steps").with_step(
        StepSpec::new("announce", "tells the admins")
            .in_workflow_before("main", "stop")
            .needs_fact(&IP),
    );
    manifest.api_version = api.to_owned();
    let other = Manifest::new("doctor", "1.0.0", "checks")
        .with_step(StepSpec::new("doctor-transport", "reaches a node").command(["ssh"], false));
    Found(BTreeMap::from([
        (
            "site-x".to_owned(),
            Known {
                manifest,
                file: "/usr/local/lib/carbonio-mesh/plugins/site-x.so".to_owned(),
            },
        ),
        (
            "doctor".to_owned(),
            Known {
                manifest: other,
                file: "/usr/lib/carbonio-mesh/plugins/doctor.so".to_owned(),
            },
        ),
    ]))
}

/// The configuration of one site file `10-site.toml` in config.d.
fn config_of(text: &str) -> (tempfile::TempDir, Config) {
    let root = crate::plugins::trust::tests::scratch();
    let dir = root.path().join("etc/carbonio-mesh/config.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("10-site.toml"), text).unwrap();
    let paths = SystemPaths::new(Some(root.path().to_owned()));
    let config = crate::config::settings::load(&paths, &TrustPolicy::for_current_user()).unwrap();
    (root, config)
}

fn resolve(text: &str, workflow: &str) -> Result<Vec<ResolvedStep>, PlanError> {
    resolve_with(text, workflow, &site_plugin("1.6.0"))
}

fn resolve_with(text: &str, workflow: &str, found: &Found) -> Result<Vec<ResolvedStep>, PlanError> {
    let (_root, config) = config_of(text);
    let owner = owner();
    Resolver {
        config: &config,
        owner: &owner,
        plugins: found,
    }
    .resolve(workflow)
}

fn names(steps: &[ResolvedStep]) -> Vec<&str> {
    steps.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn without_configuration_the_workflows_are_the_manifests() {
    let main = resolve("", "main").unwrap();
    assert_eq!(names(&main), ["check", "read", "stop", "setup"]);
    assert_eq!(main[3].plugin.as_deref(), Some("owner"));
    assert_eq!(main[3].plugin_version.as_deref(), Some("2.0.0"));
    assert_eq!(main[3].defined_in, "built-in");
    assert!(main[3].needs.password && main[3].changes_system);
    assert_eq!(main[0].provides, ["ip"]);
    assert_eq!(names(&resolve("", "node").unwrap()), ["first", "stop"]);
    let transport = resolve("", "transport").unwrap();
    assert_eq!(
        transport[0].exec.as_deref(),
        Some(&["ssh".to_owned(), "{host}".to_owned()][..])
    );
}

#[test]
fn a_site_plugin_step_goes_where_its_manifest_says_and_only_in_that_workflow() {
    let text = "[steps.announce]\nplugin = \"site-x\"\n";
    let main = resolve(text, "main").unwrap();
    assert_eq!(names(&main), ["check", "read", "announce", "stop", "setup"]);
    assert_eq!(main[2].plugin.as_deref(), Some("site-x"));
    assert_eq!(main[2].defined_in.rsplit('/').next(), Some("10-site.toml"));
    assert_eq!(main[2].line, Some(1));
    assert_eq!(names(&resolve(text, "node").unwrap()), ["first", "stop"]);
    // The configuration's place wins over the manifest's.
    let text = "[steps.announce]\nplugin = \"site-x\"\nafter = \"setup\"\n";
    assert_eq!(
        names(&resolve(text, "main").unwrap()),
        ["check", "read", "stop", "setup", "announce"]
    );
}

#[test]
fn commands_are_added_replaced_and_moved_by_name() {
    let text =
        "[steps.note]\nexec = [\"logger\", \"{leader}\"]\nafter = \"check\"\nworkflow = \"main\"\n\
                [steps.note2]\nexec = [\"true\"]\nafter = \"check\"\nworkflow = \"main\"\n\
                [steps.read]\nexec = [\"echo\", \"index=7\"]\nprovides = [\"index\"]\n\
                [steps.stop]\nbefore = \"check\"\n";
    let main = resolve(text, "main");
    // `{leader}` needs leader_ip, which nothing records.
    let error = main.unwrap_err();
    assert!(
        error
            .message
            .contains("10-site.toml: line 1: step note needs the fact 'leader_ip'"),
        "{error:?}"
    );
    let text = text.replace("{leader}", "{run}");
    let main = resolve(&text, "main").unwrap();
    assert_eq!(
        names(&main),
        ["stop", "check", "note", "note2", "read", "setup"]
    );
    assert_eq!(main[4].provides, ["index"]);
    assert_eq!(main[4].line, Some(9));
    // `stop` moved in main; in node it has no `before = "check"` to follow: it stays.
    assert_eq!(names(&resolve(&text, "node").unwrap()), ["first", "stop"]);
}

#[test]
fn a_replaced_step_that_recorded_a_needed_fact_is_named_with_its_line() {
    let text = "# site\n[steps.check]\nexec = [\"true\"]\n";
    let error = resolve(text, "main").unwrap_err();
    assert!(
        error
            .message
            .contains("10-site.toml: line 2: steps.check replaces a step that records 'ip'"),
        "{error:?}"
    );
    assert!(
        error.message.contains("step setup needs the fact 'ip'"),
        "{error:?}"
    );
    assert!(error.hint.contains("provides = [\"ip\"]"), "{}", error.hint);
    let fixed = "# site\n[steps.check]\nexec = [\"true\"]\nprovides = [\"ip\"]\n";
    assert!(resolve(fixed, "main").is_ok());
}

#[test]
fn misspellings_are_refused_with_file_and_line() {
    for (text, says) in [
        ("\n[steps.stop-servce]\nexec = [\"true\"]\n", "line 2: no workflow has a step 'stop-servce'"),
        ("\n[steps.x]\nexec = [\"true\"]\nbefore = \"stpo\"\n", "line 2: steps.x goes next to 'stpo', which no workflow has"),
        ("\n[steps.x]\nexec = [\"true\"]\nbefore = \"stpo\"\nworkflow = \"main\"\n", "line 2: steps.x goes next to 'stpo', but main has no such step"),
        ("\n[workflows]\nmian = [\"check\"]\n", "line 3: there is no workflow 'mian'"),
        ("\n[workflows]\nmain = [\"check\", \"verify\"]\n", "line 3: workflow main names step 'verify', which no plugin provides"),
        ("\n[steps.announce]\nplugin = \"site-y\"\n", "line 2: steps.announce comes from plugin 'site-y', which cannot be used"),
        ("\n[steps.announse]\nplugin = \"site-x\"\n", "line 2: plugin site-x (/usr/local/lib/carbonio-mesh/plugins/site-x.so) provides no step 'announse'; it provides announce"),
        ("\n[steps.transport]\nplugin = \"site-x\"\n", "provides no step 'transport'"),
    ] {
        let error = resolve(text, "main").unwrap_err();
        assert!(error.message.contains(says), "{text}: {error:?}");
        assert!(!error.hint.is_empty());
    }
    // A step another plugin declares (its command step) is not a misspelling.
    assert!(resolve("[steps.doctor-transport]\nexec = [\"true\"]\n", "main").is_ok());
    assert!(resolve("", "mian")
        .unwrap_err()
        .message
        .contains("the workflows are main, node"));
}

#[test]
fn a_plugin_older_than_step_calls_cannot_provide_a_step() {
    let error = resolve_with(
        "[steps.announce]\nplugin = \"site-x\"\n",
        "main",
        &site_plugin("1.5.0"),
    )
    .unwrap_err();
    assert!(
        error.message.contains("built against plugin-api 1.5.0"),
        "{error:?}"
    );
}

#[test]
fn a_restated_workflow_keeps_its_order_and_checks_its_facts() {
    let text = "[workflows]\nmain = [\"setup\", \"check\"]\n";
    let error = resolve(text, "main").unwrap_err();
    assert!(
        error
            .message
            .contains("10-site.toml: line 2: step setup needs the fact 'ip'"),
        "{error:?}"
    );
    let text = "[workflows]\nmain = [\"check\", \"setup\"]\n";
    assert_eq!(names(&resolve(text, "main").unwrap()), ["check", "setup"]);
}

#[test]
fn a_place_that_names_no_step_is_refused_even_for_a_known_step() {
    for text in [
        "[steps.announce]\nplugin = \"site-x\"\nbefore = \"stpo\"\n",
        "[steps.stop]\nbefore = \"chekc\"\n",
    ] {
        let error = resolve(text, "main").unwrap_err();
        assert!(
            error.message.contains("10-site.toml: line 1: steps.")
                && error.message.contains("which no workflow has"),
            "{text}: {error:?}"
        );
    }
}

#[test]
fn a_command_step_cannot_be_a_step_of_a_workflow() {
    for (text, line) in [
        ("[steps.transport]\nafter = \"stop\"\n", "line 1"),
        (
            "[workflows]\nmain = [\"check\", \"transport\", \"setup\"]\n",
            "line 2",
        ),
    ] {
        let error = resolve(text, "main").unwrap_err();
        assert!(
            error.message.contains(&format!(
                "10-site.toml: {line}: transport is a command step"
            )),
            "{text}: {error:?}"
        );
    }
}

#[test]
fn moving_a_step_behind_the_one_that_needs_its_fact_names_the_move() {
    let error = resolve("\n[steps.check]\nafter = \"setup\"\n", "main").unwrap_err();
    assert!(
        error.message.contains(
            "10-site.toml: line 2: steps.check moves a step so that step setup needs the fact 'ip'"
        ),
        "{error:?}"
    );
    let error = resolve("[steps.foo]\nafter = \"stop\"\n", "main").unwrap_err();
    assert!(
        error
            .message
            .contains("10-site.toml: line 1: steps.foo places a step that no plugin provides"),
        "{error:?}"
    );
}

#[test]
fn chains_and_several_steps_after_one_keep_the_order_written() {
    let text = "[steps.zeta]\nexec = [\"true\"]\nafter = \"check\"\nworkflow = \"main\"\n\
                [steps.alpha]\nexec = [\"true\"]\nafter = \"check\"\nworkflow = \"main\"\n\
                [steps.tail]\nexec = [\"true\"]\nafter = \"head\"\nworkflow = \"main\"\n\
                [steps.head]\nexec = [\"true\"]\nafter = \"alpha\"\nworkflow = \"main\"\n";
    assert_eq!(
        names(&resolve(text, "main").unwrap()),
        ["check", "zeta", "alpha", "head", "tail", "read", "stop", "setup"]
    );
}

#[test]
fn a_workflow_no_plugin_runs_is_refused_and_a_step_for_the_other_workflow_needs_no_plugin() {
    let text = "[steps.announce]\nplugin = \"site-x\"\nafter = \"setup\"\nworkflow = \"mian\"\n";
    let error = resolve(text, "main").unwrap_err();
    assert!(
        error
            .message
            .contains("line 1: steps.announce names workflow 'mian', which no plugin runs"),
        "{error:?}"
    );
    // A node without the leader's site plugin resolves its own workflow.
    let text = "[steps.announce]\nplugin = \"site-x\"\nworkflow = \"main\"\n";
    let none = Found(BTreeMap::new());
    assert_eq!(
        names(&resolve_with(text, "node", &none).unwrap()),
        ["first", "stop"]
    );
    assert!(resolve_with(text, "main", &none).is_err());
}

#[test]
fn a_shell_variable_in_a_site_command_is_not_a_fact() {
    let text = "[steps.note]\nexec = [\"sh\", \"-c\", \"echo ${u} {index}\"]\nafter = \"read\"\nworkflow = \"main\"\n";
    let main = resolve(text, "main").unwrap();
    let note = main.iter().find(|s| s.name == "note").unwrap();
    assert_eq!(note.needs.facts, ["index"]);
}

/// The command that shows a workflow is the owner's to name: its manifest's `plan` for that
/// workflow, or a command listing every plugin's steps when it names none.
#[test]
fn messages_name_the_plan_command_the_manifest_declares() {
    let text = "[steps.nothing]\nafter = \"stop\"\n";
    let (_root, config) = config_of(text);
    let plain = owner();
    let mut planned = owner();
    planned.manifest = planned
        .manifest
        .plan("main", "carbonio-mesh owner plan")
        .plan("node", "carbonio-mesh owner plan --node");
    let hint = |owner: &Known, workflow: &str| {
        Resolver {
            config: &config,
            owner,
            plugins: &site_plugin("1.6.0"),
        }
        .resolve(workflow)
        .unwrap_err()
        .hint
    };
    assert!(hint(&planned, "main").contains("`carbonio-mesh owner plan` lists them"));
    assert!(hint(&planned, "node").contains("`carbonio-mesh owner plan --node` lists them"));
    assert!(hint(&plain, "main").contains("`carbonio-mesh plugins list --format json` lists them"));
}
