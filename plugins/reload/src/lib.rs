//! Plugin `reload`: `consul reload` of Consul 1.9.3 (`PUT /v1/agent/reload`), with confirmation,
//! `--dry-run`, an audit line, and Consul's configuration error shown when the reload fails.

use carbonio_mesh_plugin_api::consul::missing_right;
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{
    export_plugin, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError, Request,
    Response,
};

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
        let put = ConsulRequest::put(&["v1", "agent", "reload"]).accepting_errors();
        let answer = host.consul(&put);
        let (ok, result, stderr) = match &answer {
            Ok(a) if a.status == 200 => (true, "ok".to_owned(), String::new()),
            Ok(a) => (
                false,
                format!("failed: {}", a.unexpected()),
                format!("Error reloading: {}\n", a.unexpected()),
            ),
            Err(e) => (false, format!("failed: {}", e.message), String::new()),
        };
        let result = if request.dry_run {
            "dry-run".to_owned()
        } else {
            result
        };
        host.audit("reload", "local agent", &result);
        // The right Consul names (1.12+ says it, and on what), else the one reload needs.
        let forbidden = match &answer {
            Ok(a) if a.status == 403 => Some(
                missing_right(&a.text).map_or_else(|| "agent:write".to_owned(), |r| r.describe()),
            ),
            _ => None,
        };
        answer?;
        match (request.format, ok) {
            (_, _) if request.dry_run => Ok(Response::text("")),
            (OutputFormat::Json, _) => Ok(Response::json(&serde_json::json!({
                "reloaded": ok,
                "error": (!ok).then(|| stderr.trim_end().trim_start_matches("Error reloading: ")),
            }))?
            .with_exit_code(if ok { 0 } else { 5 })),
            (OutputFormat::Human, true) => Ok(Response::text("Configuration reload triggered\n")),
            (OutputFormat::Human, false) => {
                // Consul's line as Consul prints it, then ours.
                let fix = match forbidden {
                    Some(right) => format!("this needs a token with {right}: give --token-file FILE"),
                    None => "correct what Consul names above and reload again; until then the agent keeps its previous configuration".to_owned(),
                };
                Ok(Response::text("")
                    .with_stderr(format!("{stderr}  fix: {fix}\n"))
                    .with_exit_code(5))
            }
        }
    }
}

export_plugin!(Reload);
