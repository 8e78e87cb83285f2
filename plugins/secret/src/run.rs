//! `secret regenerate` and `secret rejoin`: each hands the engine its workflow
//! (`carbonio_mesh_plugin_api::workflow`), with what only this plugin knows about it.

use carbonio_mesh_plugin_api::mesh;
use carbonio_mesh_plugin_api::step::Facts;
use carbonio_mesh_plugin_api::workflow::{self, Given, Workflow};
use carbonio_mesh_plugin_api::{ArgValue, Args, Host, PluginError, Request, Response, StepCall};

use crate::node_request::{self, Input, NodeRequest};
use crate::steps::{
    answer_check, answer_leave, archive_arg, builtins, decide, recover_scope, remove_reset_file,
    scope, RECOVER, REGENERATE, REJOIN,
};

/// This plugin's name: its own steps run in-process, another plugin's through `step.run`.
const NAME: &str = "secret";

fn nothing_decided(_host: &Host<'_>, _call: &StepCall) -> Result<Facts, PluginError> {
    Ok(Facts::new())
}

fn this_node(_host: &Host<'_>, _call: &StepCall) -> String {
    String::new()
}

pub fn regenerate(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let builtins = builtins();
    let workflow = Workflow {
        name: REGENERATE,
        command: "secret regenerate",
        restore: Some("secret restore"),
        plugin: NAME,
        builtins: &builtins,
        action: "Regenerate the Mesh secrets",
        scope,
        prepare: decide,
        // With --nodes the password also goes to each node.
        needs_password: |call| call.value("nodes").is_some(),
        kept_password: Some(mesh::PASSWORD_PATH),
        cleanup: Some(remove_reset_file),
    };
    workflow::run(host, request, &workflow, Given::default())
}

pub fn rejoin(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let input_stdin = request.flag("input-stdin");
    let password_file = request.value("password-file").is_some();
    let password_stdin = request.flag("password-stdin");
    if input_stdin && request.value("archive").is_some() {
        return Err(PluginError::usage(
            "--archive and --input-stdin both give the new archive: use one of them",
        )
        .hint("--archive FILE for the archive you copied from the leader; --input-stdin is how the leader's `secret regenerate --nodes` sends it"));
    }
    if input_stdin && (password_file || password_stdin) {
        return Err(PluginError::usage(
            "--input-stdin reads the new password from the first line of standard input: --password-file and --password-stdin do not go with it",
        )
        .hint("with --archive FILE, give the password by --password-file or --password-stdin"));
    }
    if password_file && password_stdin {
        return Err(PluginError::usage(
            "--password-file and --password-stdin both give the new password: use one of them",
        ));
    }
    // `--archive FILE` as a system path, so that a resumed run finds it from anywhere.
    let mut request = request.clone();
    if let Some(path) = request.value("archive") {
        let path = archive_arg(path)?;
        request
            .args
            .insert("archive".to_owned(), ArgValue::One(path));
    }
    let given = if input_stdin {
        match node_request::read(host)? {
            Input::Request(NodeRequest::Check) => return answer_check(host),
            Input::Request(NodeRequest::Leave) => return answer_leave(host),
            Input::Setup { password, archive } => Given {
                password: Some(password),
                input: Some(archive),
            },
        }
    } else {
        Given::default()
    };
    let builtins = builtins();
    let workflow = Workflow {
        name: REJOIN,
        command: "secret rejoin",
        restore: Some("secret restore"),
        plugin: NAME,
        builtins: &builtins,
        action: "Set this node up again with the new secrets",
        scope: this_node,
        prepare: nothing_decided,
        needs_password: |_| false,
        kept_password: None,
        cleanup: None,
    };
    workflow::run(host, &request, &workflow, given)
}

/// The explicit recovery of a lost quorum, on the one server to keep.
pub fn recover_quorum(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let builtins = builtins();
    let workflow = Workflow {
        name: RECOVER,
        command: "secret recover-quorum",
        // Consul reads peers.json and deletes it: the raft configuration it replaced is gone
        // (the regeneration's snapshot, or a `consul snapshot save` of before, is the way back).
        restore: None,
        plugin: NAME,
        builtins: &builtins,
        action: "Recover the Mesh's lost quorum on this server (peers.json)",
        scope: recover_scope,
        prepare: nothing_decided,
        needs_password: |_| false,
        kept_password: None,
        cleanup: None,
    };
    workflow::run(host, request, &workflow, Given::default())
}
