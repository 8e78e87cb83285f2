//! Reaching another node: the configured transport, and one request driven through it with its
//! result journaled.

use carbonio_mesh_plugin_api::fanout::{Target, Transport};
use carbonio_mesh_plugin_api::services::Exec;
use carbonio_mesh_plugin_api::workflow::{drive, Driven, NodeGroup, Pace};
use carbonio_mesh_plugin_api::{Host, PluginError, StepCall};

use crate::node_request::{encode, NodeRequest};

/// The command step that reaches a node.
const TRANSPORT: &str = "transport";

/// The transport, refused when it is not a command or connects to the node name.
pub fn checked_transport(host: &Host<'_>) -> Result<Transport, PluginError> {
    Transport::configured(host, TRANSPORT)
}

/// `request` to one node through the transport, its result journaled.
pub fn drive_one(
    host: &Host<'_>,
    call: &StepCall,
    transport: &Transport,
    target: &Target,
    request: &NodeRequest,
    done: &str,
) -> Result<Driven, PluginError> {
    let stdin = encode(request);
    let exec_for = |t: &Target| -> Result<Exec, String> {
        Ok(Exec {
            argv: transport.command_for(t, &call.run)?,
            stdin: Some(stdin.clone()),
            mutating: true,
            ..Exec::default()
        })
    };
    let group = [NodeGroup {
        pace: Pace::OneAtATime,
        targets: vec![target.clone()],
    }];
    drive(host, call, &group, &exec_for, done)
}
