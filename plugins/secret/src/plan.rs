//! `secret plan`: the workflow's steps as the configuration resolves them, and the transport.

use carbonio_mesh_plugin_api::services::{ResolvedStep, WorkflowSteps};
use carbonio_mesh_plugin_api::{Host, OutputFormat, PluginError, Request, Response, Table};

use crate::steps::{REGENERATE, REJOIN};

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
    // rejoin-nodes's command step: what `--nodes` runs on each node.
    if workflow == REGENERATE {
        let transport = workflow_steps(host, "transport")?;
        if let Some(step) = transport.first() {
            let argv = step.exec.as_deref().unwrap_or_default().join(" ");
            let at = match step.line {
                Some(line) => format!("{}:{line}", step.defined_in),
                None => step.defined_in.clone(),
            };
            out.push_str(&format!(
                "Transport (how rejoin-nodes reaches each node; {at}): {argv}\n"
            ));
        }
    }
    Ok(Response::text(out))
}
