//! `secret plan`: the workflow's steps as the configuration resolves them, and the transport.

use carbonio_mesh_plugin_api::services::{ResolvedStep, WorkflowSteps};
use carbonio_mesh_plugin_api::{Host, OutputFormat, PluginError, Request, Response, Table};

use carbonio_mesh_plugin_api::fanout::NodePlan;
use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::LocalAddresses;

use crate::steps::{procedure_text, read_topology, RECOVER, REGENERATE, REJOIN};

fn workflow_steps(host: &Host<'_>, workflow: &str) -> Result<Vec<ResolvedStep>, PluginError> {
    Ok(host
        .call(&WorkflowSteps {
            workflow: workflow.to_owned(),
        })?
        .steps)
}

pub fn plan(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let workflow = if request.flag("rejoin") {
        REJOIN
    } else if request.flag("recover-quorum") {
        RECOVER
    } else {
        REGENERATE
    };
    let steps = workflow_steps(host, workflow)?;
    if request.format == OutputFormat::Json {
        return Response::json(&steps);
    }
    let mut table = Table::new([
        "#",
        "Step",
        "Provider",
        "From",
        "Needs",
        "Provides",
        "Defined in",
    ]);
    let listed = |items: Vec<&str>| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(",")
        }
    };
    let rows: Vec<[String; 7]> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (provider, from) = match (&s.plugin, &s.exec) {
                (Some(p), _) => (
                    format!(
                        "plugin {p} {}",
                        s.plugin_version.as_deref().unwrap_or_default()
                    )
                    .trim_end()
                    .to_owned(),
                    s.plugin_file
                        .clone()
                        .unwrap_or_else(|| "(not found)".into()),
                ),
                (None, Some(argv)) => ("command".to_owned(), argv.join(" ")),
                _ => ("-".to_owned(), "-".to_owned()),
            };
            let mut needs: Vec<&str> = s.needs.facts.iter().map(String::as_str).collect();
            if s.needs.password {
                needs.insert(0, "password");
            }
            let defined_in = match s.line {
                Some(line) => format!("{}:{line}", s.defined_in),
                None => s.defined_in.clone(),
            };
            [
                (i + 1).to_string(),
                s.name.clone(),
                provider,
                from,
                listed(needs),
                listed(s.provides.iter().map(String::as_str).collect()),
                defined_in,
            ]
        })
        .collect();
    for row in &rows {
        table.push(row.iter().map(String::as_str));
    }
    let mut out = table.render();
    if workflow == REGENERATE {
        out.push_str(&transport_line(host)?);
        out.push_str(&procedure(host));
    }
    Ok(Response::text(out))
}

/// rejoin-nodes's command step: what `--nodes` runs on each node.
fn transport_line(host: &Host<'_>) -> Result<String, PluginError> {
    let transport = workflow_steps(host, "transport")?;
    Ok(match transport.first() {
        Some(step) => {
            let words = step.exec.as_deref().unwrap_or_default();
            let at = match step.line {
                Some(line) => format!("{}:{line}", step.defined_in),
                None => step.defined_in.clone(),
            };
            // What `--nodes` would refuse, the plan refuses now.
            carbonio_mesh_plugin_api::fanout::check_transport(words, &at)?;
            let argv = words.join(" ");
            format!("Transport (how rejoin-nodes reaches each node; {at}): {argv}\n")
        }
        None => String::new(),
    })
}

/// The procedure the Mesh needs as this node's agent sees it, and every action per node
/// (`--nodes all`, default parallelism).
fn procedure(host: &Host<'_>) -> String {
    let read = || -> Result<String, PluginError> {
        let directory = NodeDirectory::load(host)?;
        let local = host.call(&LocalAddresses {})?.addresses;
        let topology = read_topology(host, &directory, &local)?;
        let agents = NodePlan::all(&directory, &local, false)
            .targets
            .iter()
            .filter(|t| !t.is_server())
            .count();
        Ok(procedure_text(&topology, agents, 32))
    };
    match read() {
        Ok(text) => text,
        Err(e) => format!(
            "Procedure: not known here (Consul: {}); `secret plan` on the Mesh leader says which applies\n",
            e.message
        ),
    }
}
