//! Plugin `reload`: `consul reload` of Consul 1.9.3 (`PUT /v1/agent/reload`), with confirmation,
//! `--dry-run`, an audit line, and Consul's configuration error shown when the reload fails.

use carbonio_mesh_plugin_api::change::ConsulChange;
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{
    export_plugin, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError, Request,
    Response,
};
use serde::Serialize;

pub struct Reload;

impl Plugin for Reload {
    fn manifest() -> Manifest {
        let about = "Make the local Consul agent reload its configuration (consul reload)";
        Manifest::new("reload", env!("CARGO_PKG_VERSION"), about).command(
            CommandSpec::new("reload", about)
.example("carbonio-mesh reload", "The local agent reads its configuration again (asks first)")
.example("carbonio-mesh --yes reload", "Without asking, from a script").long_about(
                "Sends PUT /v1/agent/reload to the agent (--http-addr, default the local one). \
Consul re-reads its configuration files; a broken file makes it answer 500 with the parse error, \
which is shown, and the agent keeps its running configuration. Needs a token with agent:write.",
            ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        let changes = vec!["the Consul agent re-reads its configuration files".to_owned()];
        if !host.confirm(changes, "Reload the agent's configuration?")? {
            return Ok(Response::declined_as(request.format));
        }
        let reload = ConsulRequest::put(&["v1", "agent", "reload"]);
        let change = ConsulChange::send(host, reload, request.dry_run);
        change.audit(host, "reload", "local agent", "ok");
        if let ConsulChange::Failed(error) = change {
            return Err(error.into());
        }
        render(request, &change)
    }
}

/// `reload`'s answer (`--format json`).
#[derive(Serialize)]
struct Reloaded {
    reloaded: bool,
    /// Consul's error, as the `consul` CLI prints it after `Error reloading: `.
    error: Option<String>,
}

fn render(request: &Request, change: &ConsulChange) -> Result<Response, PluginError> {
    if request.dry_run {
        return Ok(Response::text(""));
    }
    let reloaded = Reloaded {
        reloaded: change.is_done(),
        error: change.error(),
    };
    let response = Response::render(request.format, &reloaded, |r| {
        if r.reloaded {
            "Configuration reload triggered\n".to_owned()
        } else {
            String::new()
        }
    })?;
    let Some(error) = reloaded.error else {
        return Ok(response);
    };
    let mut response = response.with_exit_code(5);
    if request.format == OutputFormat::Human {
        // Consul's line as Consul prints it, then ours.
        let fix = if change.forbidden() {
            format!(
                "this needs a token with {}: give --token-file FILE",
                change.right_needed("agent:write")
            )
        } else {
            "correct what Consul names above and reload again; until then the agent keeps its \
             previous configuration"
                .to_owned()
        };
        response = response.with_stderr(format!("Error reloading: {error}\n  fix: {fix}\n"));
    }
    Ok(response)
}

export_plugin!(Reload);
