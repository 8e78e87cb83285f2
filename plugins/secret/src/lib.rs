//! Plugin `secret`: regenerate Carbonio Mesh's secrets (bootstrap token, CA, gossip key,
//! credentials archive) on the leader, and set every other node up again, as workflows of
//! named, replaceable, resumable steps.
//!
//! The workflow engine is plugin-api's (`workflow`): it resolves the steps from the
//! configuration, journals each one before the next starts, resumes, asks for the password and
//! prints the run. This plugin gives it its workflows (`run`) and its steps (`steps`), and has
//! the commands around the runs: `plan`, `restore`, `runs`, `show`, `prune`. Secrets never enter
//! the journal: a resumed run asks for the new password again, or reads back the one
//! service-discover kept.
//!
//! Modules: `manifest` (the command line), `run` (regenerate and rejoin), `steps` (every step,
//! declared next to its function), `node_request` (what the leader sends a node), `plan`,
//! `restore`, `runs`, and `paths` (service-discover's files).

mod manifest;
mod node_request;
mod paths;
mod plan;
mod restore;
mod run;
mod runs;
mod steps;
mod workflows;

use carbonio_mesh_plugin_api::{
    export_plugin, Host, Manifest, Plugin, PluginError, Request, Response,
};

pub struct Secret;

impl Plugin for Secret {
    fn manifest() -> Manifest {
        manifest::manifest()
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "regenerate" => run::regenerate(host, request),
            "rejoin" => run::rejoin(host, request),
            "recover-quorum" => run::recover_quorum(host, request),
            "plan" => plan::plan(host, request),
            "restore" => restore::restore(host, request),
            "runs" => runs::list(host, request),
            "show" => runs::show(host, request),
            "prune" => runs::prune(host, request),
            "" => Err(PluginError::usage(
                "secret needs a subcommand: regenerate, rejoin, recover-quorum, plan, restore, runs, show, prune",
            )),
            other => Err(PluginError::usage(format!(
                "unknown secret command '{other}'"
            ))),
        }
    }
}

export_plugin!(Secret);
