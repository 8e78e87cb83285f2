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
