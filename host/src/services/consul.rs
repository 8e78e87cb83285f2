//! The `consul` service: one request through the host's Consul client.

use carbonio_mesh_plugin_api::services::{
    ConsulRequest, ConsulResponse, ServiceErrorKind, ServiceFailure,
};

use super::{failure, HostContext};

/// Answers with the `ConsulResponse` JSON. A change (anything but GET) is recorded, not sent,
/// under `--dry-run`. Not through `serve`: the body is spliced into the answer unparsed (see
/// `ConsulAnswer::into_json`), so a 4 MB member list is never decoded and re-encoded here.
pub(super) fn request(context: &HostContext, payload: &str) -> Result<String, ServiceFailure> {
    let request: ConsulRequest = serde_json::from_str(payload).map_err(|e| {
        failure(
            ServiceErrorKind::Invalid,
            format!("bad request to 'consul': {e}"),
        )
    })?;
    if let Some(name) = &request.save_in_backup {
        return save_in_backup(context, &request, name);
    }
    if request.method != "GET" && context.dry_run {
        context.record(format!(
            "send {} /{} to Consul",
            request.method,
            request.path.join("/")
        ));
        let planned = ConsulResponse {
            status: 200,
            json: None,
            text: String::new(),
            index: None,
            default_acl_policy: None,
            token_sent: false,
        };
        return serde_json::to_string(&planned)
            .map_err(|e| failure(ServiceErrorKind::Failed, e.to_string()));
    }
    if let Some(token) = &request.token {
        context.add_secret(token.expose());
    }
    let answer = context.consul.request(&request);
    if let Some(token) = context.consul.token_in_use() {
        context.add_secret(token);
    }
    answer.map(|answer| answer.into_json())
}

/// A request whose body is saved in the run's backup directory (a snapshot): the answer's text
/// is the file's system path. Recorded, not fetched, under `--dry-run`.
fn save_in_backup(
    context: &HostContext,
    request: &ConsulRequest,
    name: &str,
) -> Result<String, ServiceFailure> {
    let shown = format!("{} /{}", request.method, request.path.join("/"));
    let path = if context.dry_run {
        let path = context.backups.new_file_target(name)?;
        context.record(format!("save Consul's answer to {shown} as {path}"));
        path
    } else {
        if let Some(token) = &request.token {
            context.add_secret(token.expose());
        }
        let answer = context.consul.request(request)?;
        let bytes = answer.raw.unwrap_or_default();
        let path = context.backups.new_file(name, &bytes)?;
        tracing::info!(plugin = %context.plugin, "saved Consul's answer to {shown} ({} bytes) as {path}", bytes.len());
        path
    };
    let answer = ConsulResponse {
        status: 200,
        json: None,
        text: path,
        index: None,
        default_acl_policy: None,
        token_sent: request.token.is_some() || context.consul.token_in_use().is_some(),
    };
    serde_json::to_string(&answer).map_err(|e| failure(ServiceErrorKind::Failed, e.to_string()))
}
