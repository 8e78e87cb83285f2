//! What a plugin implements: [`Plugin`], exported by [`export_plugin!`](crate::export_plugin).

use crate::messages::Manifest;
use crate::{Host, PluginError, Request, Response, StepCall, StepOutcome};

/// What a plugin implements. Both functions are called through [`export_plugin!`](crate::export_plugin), which catches
/// panics and turns them into errors the host reports.
pub trait Plugin {
    /// Describes the plugin: name, version, commands and flags. The host builds its command line
    /// from this, so it must be cheap and must not have side effects.
    fn manifest() -> Manifest;

    /// Runs the command named in `request.command`.
    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError>;

    /// Runs the workflow step `call.step`, one the manifest declares (see [`step`](crate::step)). The host
    /// calls it only for a step the manifest declares; the default answers that there is none.
    fn run_step(_host: &Host<'_>, call: &StepCall) -> Result<StepOutcome, PluginError> {
        Err(PluginError::config(format!(
            "this plugin provides no step '{}'",
            call.step
        )))
    }
}
