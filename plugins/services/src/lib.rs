//! Plugin `services`: `services deregister --id ID...`, `consul services deregister -id` of
//! Consul 1.9.3 made safe.
//!
//! Consul 1.9.3 answers 200 for an ID its agent does not have when ACLs are off, so a typo
//! "succeeds" silently. This plugin first reads the agent's services (`/v1/agent/services`);
//! an ID the agent lacks is looked up in the catalog to say which node holds it (deregistration
//! only works on the owning agent), and nothing is changed. Then it asks, deregisters each ID
//! (`PUT /v1/agent/service/deregister/:id`), prints Consul's `Deregistered service: ID`, and
//! writes an audit line per ID.

use std::collections::BTreeMap;

use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError,
    Request, Response,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct AgentService {
    #[serde(rename = "Service")]
    service: String,
}

#[derive(Deserialize)]
struct CatalogNode {
    #[serde(rename = "Node")]
    node: String,
    #[serde(rename = "Address", default)]
    address: String,
}

#[derive(Deserialize)]
struct NodeServiceList {
    #[serde(rename = "Services", default)]
    services: Option<Vec<NodeServiceId>>,
}

#[derive(Deserialize)]
struct NodeServiceId {
    #[serde(rename = "ID")]
    id: String,
}

#[derive(Serialize)]
struct Outcome {
    id: String,
    service: Option<String>,
    /// Where the catalog has it, when it is not on this agent.
    registered_on: Vec<String>,
    result: String,
}

/// The catalog nodes that have a service with this ID.
/// The catalog nodes holding service `id`, each with its hostname when Carbonio's server list
/// names it (where to run the command).
fn nodes_holding(host: &Host<'_>, id: &str) -> Result<Vec<(String, Option<String>)>, PluginError> {
    let nodes: Vec<CatalogNode> =
        host.consul_get(&ConsulRequest::get(&["v1", "catalog", "nodes"]))?;
    let mut holding = Vec::new();
    for node in &nodes {
        let list: NodeServiceList = host.consul_get(&ConsulRequest::get(&[
            "v1",
            "catalog",
            "node-services",
            &node.node,
        ]))?;
        if list.services.unwrap_or_default().iter().any(|s| s.id == id) {
            holding.push(node.node.clone());
        }
    }
    if holding.is_empty() {
        return Ok(Vec::new());
    }
    let directory = NodeDirectory::of_listed(
        host,
        nodes.iter().map(|n| (n.node.as_str(), n.address.as_str())),
    );
    Ok(holding
        .into_iter()
        .map(|node| {
            let hostname = directory.host_of(&node).map(str::to_owned);
            (node, hostname)
        })
        .collect())
}

fn deregister(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let ids: Vec<String> = request
        .values("id")
        .into_iter()
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(
            PluginError::usage("give the service ID to deregister with --id ID")
                .hint("carbonio-mesh catalog services --node NODE lists what a node runs"),
        );
    }
    let local: BTreeMap<String, AgentService> = host.consul_get_filtered(
        &ConsulRequest::get(&["v1", "agent", "services"]),
        "the agent's services",
        "service:write",
    )?;
    let missing: Vec<&String> = ids.iter().filter(|id| !local.contains_key(*id)).collect();
    if !missing.is_empty() {
        let mut stderr = String::new();
        let mut outcomes = Vec::new();
        for id in missing {
            let holding = nodes_holding(host, id)?;
            stderr.push_str(&format!(
                "Error deregistering service {id:?}: this agent has no service with that ID\n"
            ));
            if holding.is_empty() {
                stderr.push_str("  fix: no node in the catalog has it either: check the ID with `carbonio-mesh catalog services --node NODE`.\n");
            } else {
                stderr.push_str(&format!(
                    // Carbonio's agents listen on localhost only: another node's agent is reached
                    // by running the command there, not over the network.
                    "  fix: it is registered on {}: run `carbonio-mesh services deregister --id {id}` on that node (its agent listens on localhost only).\n",
                    holding
                        .iter()
                        .map(|(node, hostname)| match hostname {
                            Some(hostname) => format!("{node} ({hostname})"),
                            None => node.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            outcomes.push(Outcome {
                id: id.clone(),
                service: None,
                registered_on: holding.into_iter().map(|(node, _)| node).collect(),
                result: "not on this agent".into(),
            });
        }
        stderr.push_str("Nothing was changed.\n");
        return Ok(render(request, &outcomes, String::new(), stderr).with_exit_code(5));
    }

    let changes = ids
        .iter()
        .map(|id| {
            format!(
                "deregister service {id} ({}) from this agent",
                local[id].service
            )
        })
        .collect();
    if !host.confirm(changes, "Deregister these services?")? {
        return Ok(Response::declined_as(request.format));
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut outcomes = Vec::new();
    let mut failed = false;
    for id in &ids {
        let put =
            ConsulRequest::put(&["v1", "agent", "service", "deregister", id]).accepting_errors();
        let answer = host.consul(&put);
        let result = match &answer {
            Ok(_) if request.dry_run => "dry-run".to_owned(),
            Ok(a) if a.status == 200 => {
                stdout.push_str(&format!("Deregistered service: {id}\n"));
                "deregistered".to_owned()
            }
            Ok(a) => {
                stderr.push_str(&format!(
                    "Error deregistering service {id:?}: {}\n",
                    a.unexpected()
                ));
                if a.status == 403 {
                    stderr.push_str(
                        "  fix: this needs a token with service:write: give --token-file FILE\n",
                    );
                }
                format!("failed: {}", a.unexpected())
            }
            Err(e) => {
                stderr.push_str(&format!(
                    "Error deregistering service {id:?}: {}\n",
                    e.message
                ));
                format!("failed: {}", e.message)
            }
        };
        host.audit("deregister service", id, &result);
        failed = result.starts_with("failed");
        outcomes.push(Outcome {
            id: id.clone(),
            service: Some(local[id].service.clone()),
            registered_on: Vec::new(),
            result,
        });
        if failed {
            // As `consul services deregister`: stop at the first failure.
            break;
        }
    }
    Ok(render(request, &outcomes, stdout, stderr).with_exit_code(if failed { 5 } else { 0 }))
}

fn render(request: &Request, outcomes: &[Outcome], stdout: String, stderr: String) -> Response {
    match request.format {
        OutputFormat::Json => Response::json(&outcomes)
            .unwrap_or_else(|_| Response::text(""))
            .with_stderr(stderr),
        OutputFormat::Human => Response::text(stdout).with_stderr(stderr),
    }
}

pub struct Services;

impl Plugin for Services {
    fn manifest() -> Manifest {
        let about = "Change the services registered with the local Consul agent";
        Manifest::new("services", env!("CARGO_PKG_VERSION"), about).command(
            CommandSpec::new("services", about).subcommand(
                CommandSpec::new(
                    "deregister",
                    "Deregister services from this agent (consul services deregister)",
                )
                .example(
                    "carbonio-mesh services deregister --id carbonio-mailbox",
                    "Deregister one service of this node's agent (asks first)",
                )
                .example(
                    "carbonio-mesh --dry-run services deregister --id a --id b",
                    "What deregistering two services would send",
                )
                .long_about(
                    "Checks that this agent has each ID (/v1/agent/services), says which node holds \
an ID it lacks, asks, then sends PUT /v1/agent/service/deregister/ID for each. Consul 1.9.3 answers \
200 for unknown IDs when ACLs are off: that check is what makes a typo visible.",
                )
                .arg(
                    ArgSpec::option("id", "The service ID (repeat for several)")
                        .value_name("ID")
                        .multiple()
                        .required(),
                ),
            ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "deregister" => deregister(host, request),
            "" => Err(PluginError::usage(
                "services needs a subcommand: deregister",
            )),
            other => Err(PluginError::usage(format!(
                "unknown services command '{other}'"
            ))),
        }
    }
}

export_plugin!(Services);
