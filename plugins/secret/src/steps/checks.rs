//! service-discover setup's own checks (SD `pkg/command/common.go`, `pkg/carbonio/ldap.go`,
//! `cmd/.../setup` at f79641d), made before anything stops: what would make its setup refuse
//! after this run has already stopped the node. On this node, and (a regeneration with
//! `--nodes`) through the transport on every node the run will set up again.

use std::net::IpAddr;

use carbonio_mesh_plugin_api::fanout::{failed_run, NodePlan, Target, Transport};
use carbonio_mesh_plugin_api::services::{
    Exec, ExecMany, LdapCredentials, LocalAddresses, ServiceErrorKind, SetupCheck,
};
use carbonio_mesh_plugin_api::step::{facts, NodeLine, NodeStatus, StepError, StepOutcome};
use carbonio_mesh_plugin_api::{Args, Host, PluginError, Response, StepCall};

use super::archive::bind_address;
use super::node::root_and_service;
use super::nodes::NODES;
use super::reach::checked_transport;
use crate::node_request::{encode, NodeRequest};

/// The checks on this node, set up on `ip`: a line saying what passed.
pub fn setup_preconditions(host: &Host<'_>, ip: &str) -> Result<String, PluginError> {
    bind_ip_usable(host, ip)?;
    let checked = match host.call(&SetupCheck {}) {
        Ok(checked) => checked,
        Err(e) if e.kind == ServiceErrorKind::NotFound => {
            return Ok(format!(
                "{ip} is on a network interface; localconfig and LDAP not checked ({})",
                e.message.split(':').next().unwrap_or_default()
            ))
        }
        Err(e) => {
            let mut refused = PluginError::from(e);
            refused.message = format!("service-discover setup would refuse: {}", refused.message);
            return Err(refused);
        }
    };
    // Every node but the first downloads the archive from there during its setup.
    let copy = host.call(&LdapCredentials {})?;
    let copy = match copy.archive {
        Some(_) => format!("LDAP's copy of the archive readable at {}", copy.url),
        None => format!("LDAP holds no copy of the archive yet ({})", copy.url),
    };
    Ok(format!(
        "{ip} is on a network interface; localconfig.xml complete; the LDAP master {} binds; {} resolves to {}; {copy}",
        checked.master_url,
        checked.hostname,
        checked.addresses.join(", ")
    ))
}

/// The address setup binds to must be one of this host's, on an interface other than `lo`.
fn bind_ip_usable(host: &Host<'_>, ip: &str) -> Result<(), PluginError> {
    let local = host.call(&LocalAddresses {})?;
    let loopback = ip.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
        || local.loopback.iter().any(|a| a == ip);
    if loopback {
        return Err(PluginError::operation(format!(
            "the setup address {ip} is on the loopback interface: service-discover setup binds only to an address of another interface"
        ))
        .hint("give this node's network address in /etc/zextras/service-discover/config.json (bind_addr)"));
    }
    if !local.addresses.iter().any(|a| a == ip) {
        return Err(PluginError::operation(format!(
            "the setup address {ip} is not an address of this host"
        ))
        .hint(
            "give this node's own address in /etc/zextras/service-discover/config.json (bind_addr)",
        ));
    }
    Ok(())
}

/// The step: this node's checks, then (with `--nodes`) every node's through the transport.
pub fn check_setup(host: &Host<'_>, call: &StepCall) -> Result<StepOutcome, StepError> {
    // Under --dry-run a site command replacing the step that records it recorded nothing.
    let here = match call.facts.get(&facts::SETUP_IP)? {
        Some(ip) => setup_preconditions(host, &ip)?,
        None if call.dry_run => "would check service-discover setup's own checks here".to_owned(),
        None => call
            .facts
            .require(&facts::SETUP_IP)
            .map(|_| String::new())?,
    };
    let Some(plan) = call.facts.get(&NODES)? else {
        return Ok(StepOutcome::new(format!("this node: {here}")));
    };
    let transport = checked_transport(host)?;
    if !transport.password_stdin {
        return Ok(StepOutcome::new(format!(
            "this node: {here}; the other nodes check for themselves when they are set up (the transport takes nothing on its standard input)"
        )));
    }
    let lines = check_nodes(host, &plan, &transport, call.value("parallel"))?;
    let refused: Vec<&NodeLine> = lines
        .iter()
        .filter(|l| l.status == NodeStatus::Failed)
        .collect();
    if refused.is_empty() {
        return Ok(StepOutcome {
            detail: format!(
                "this node and {} other node(s): setup's checks pass",
                lines.len()
            ),
            nodes: lines,
            ..StepOutcome::default()
        });
    }
    let named: Vec<String> = refused
        .iter()
        .map(|l| format!("{} ({})", l.target.node, l.target.reach()))
        .collect();
    let error = PluginError::operation(format!(
        "{} of {} node(s) would not be set up again: {}",
        refused.len(),
        lines.len(),
        named.join(", ")
    ))
    .hint("fix what each node's line says, or leave the node out (--nodes with the others) and set it up later with `carbonio-mesh secret rejoin` there; nothing has been changed");
    Err(StepError::with_nodes(error, lines))
}

/// Each node of `plan` asked to check itself (nothing changes there), at most `parallel` at a
/// time.
fn check_nodes(
    host: &Host<'_>,
    plan: &NodePlan,
    transport: &Transport,
    parallel: Option<&str>,
) -> Result<Vec<NodeLine>, PluginError> {
    let request = encode(&NodeRequest::Check);
    // A node whose names may not go into the transport's words is not asked, and says why.
    let commands: Vec<Result<Exec, String>> = plan
        .targets
        .iter()
        .map(|target| {
            Ok(Exec {
                argv: transport.command_for(target, "")?,
                stdin: Some(request.clone()),
                ..Exec::default()
            })
        })
        .collect();
    let asked: Vec<(&Target, Exec)> = plan
        .targets
        .iter()
        .zip(&commands)
        .filter_map(|(t, c)| c.as_ref().ok().map(|exec| (t, exec.clone())))
        .collect();
    let answer = host.call(&ExecMany {
        execs: asked.iter().map(|(_, exec)| exec.clone()).collect(),
        labels: asked.iter().map(|(t, _)| t.reach().to_owned()).collect(),
        parallel: parallel.and_then(|p| p.parse().ok()).unwrap_or(32),
    })?;
    let mut results = answer.results.into_iter();
    Ok(plan
        .targets
        .iter()
        .zip(commands)
        .map(|(target, command)| {
            let (status, detail) = match command {
                Ok(_) => check_result(results.next().unwrap_or_default()),
                Err(why) => (NodeStatus::Failed, why),
            };
            NodeLine {
                target: target.clone(),
                status,
                detail,
            }
        })
        .collect())
}

/// What a node's answer to a check request says.
fn check_result(result: carbonio_mesh_plugin_api::services::ExecResult) -> (NodeStatus, String) {
    match (result.output, result.error) {
        (Some(o), _) if o.status == Some(0) => (
            NodeStatus::Ok,
            o.stdout.trim().trim_start_matches("ok: ").to_owned(),
        ),
        (Some(o), _) => (NodeStatus::Failed, failed_run(&o)),
        (None, Some(e)) => (NodeStatus::Failed, e.message),
        (None, None) => (NodeStatus::Failed, "no answer".to_owned()),
    }
}

/// A node asked by the leader to check itself: root, service-discover present, the address it
/// would be set up on, and setup's own checks. Nothing changes; no run is kept.
pub fn answer_check(host: &Host<'_>) -> Result<Response, PluginError> {
    root_and_service(host)?;
    let (ip, _) = bind_address(host)?;
    let detail = setup_preconditions(host, &ip)?;
    Ok(Response::text(format!("ok: {detail}\n")))
}
