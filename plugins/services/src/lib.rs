//! Plugin `services`: `services deregister --id ID...`, `consul services deregister -id` made
//! safe, worded as the agent's own Consul words it.
//!
//! Consul 1.9 answers 200 for an ID its agent does not have when ACLs are off, so a typo
//! "succeeds" silently. This plugin first reads the agent's services (`/v1/agent/services`);
//! an ID the agent lacks is looked up in the catalog to say which node holds it (deregistration
//! only works on the owning agent), and nothing is changed. Then it asks, deregisters each ID
//! (`PUT /v1/agent/service/deregister/:id`), prints Consul's `Deregistered service: ID`, and
//! writes an audit line per ID. A refusal is printed as the agent's CLI prints it (`Error
//! registering service ""` up to 1.12, `Error deregistering service ""` from 1.13: Consul names
//! the service, which `-id` leaves empty), followed by a fix that names the ID and the right.
//!
//! Admins know services by name (`carbonio-mailbox`), Consul deregisters by ID. A name is
//! accepted where an ID is asked for when this agent has exactly one service of that name (said
//! on standard error); with several, or none here, the IDs the name has on each node are listed
//! and nothing is changed.

use std::collections::BTreeMap;

use carbonio_mesh_plugin_api::change::ConsulChange;
use carbonio_mesh_plugin_api::consul::version::DEREGISTER_WORDING;
use carbonio_mesh_plugin_api::consul::{agent_version, missing_right, AgentVersion};
use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::services::{ConsulRequest, ConsulResponse};
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

/// A `/v1/catalog/service/NAME` entry: where a service of that name runs, under which ID.
#[derive(Deserialize)]
struct CatalogService {
    #[serde(rename = "Node")]
    node: String,
    #[serde(rename = "Address", default)]
    address: String,
    #[serde(rename = "ServiceID")]
    service_id: String,
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

/// The IDs (or names) the command line names: `--id ID...` and the positional `SERVICE`.
fn parse(request: &Request) -> Result<Vec<String>, PluginError> {
    let ids: Vec<String> = request
        .values("id")
        .into_iter()
        .chain(request.value("service"))
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(PluginError::usage(
            "give the service to deregister: its ID (--id ID) or its name",
        )
        .hint("carbonio-mesh catalog services --node NODE lists what a node runs"));
    }
    Ok(ids)
}

/// Each wanted ID, or the one ID this agent has for a service of that name (noted on standard
/// error). A name with several IDs here is refused, listing them.
fn resolve(
    wanted: &[String],
    local: &BTreeMap<String, AgentService>,
) -> Result<(Vec<String>, String), PluginError> {
    let mut ids = Vec::new();
    let mut notes = String::new();
    for name in wanted {
        if local.contains_key(name) {
            ids.push(name.clone());
            continue;
        }
        let here: Vec<&String> = local
            .iter()
            .filter(|(_, s)| s.service == *name)
            .map(|(id, _)| id)
            .collect();
        match here.as_slice() {
            [] => ids.push(name.clone()),
            [one] => {
                notes.push_str(&format!(
                    "{name} is a service name: its one ID on this agent is {one}\n"
                ));
                ids.push((*one).clone());
            }
            many => {
                let list: Vec<&str> = many.iter().map(|id| id.as_str()).collect();
                let args: Vec<String> = list.iter().map(|id| format!("--id {id}")).collect();
                return Err(PluginError::usage(format!(
                    "{name} is a service name with {} IDs on this agent: {}",
                    list.len(),
                    list.join(", ")
                ))
                .hint(format!(
                    "name the ones to deregister: carbonio-mesh services deregister {}",
                    args.join(" ")
                )));
            }
        }
    }
    Ok((ids, notes))
}

/// The IDs a service named `name` has on each catalog node, with the node's hostname.
fn ids_of_name(host: &Host<'_>, name: &str) -> Result<Vec<String>, PluginError> {
    let entries: Vec<CatalogService> = host
        .consul_get::<Option<Vec<CatalogService>>>(&ConsulRequest::get(&[
            "v1", "catalog", "service", name,
        ]))?
        .unwrap_or_default();
    let directory = NodeDirectory::of_listed(
        host,
        entries
            .iter()
            .map(|e| (e.node.as_str(), e.address.as_str())),
    );
    Ok(entries
        .iter()
        .map(|e| match directory.host_of(&e.node) {
            Some(hostname) => format!("{} on {} ({hostname})", e.service_id, e.node),
            None => format!("{} on {}", e.service_id, e.node),
        })
        .collect())
}

/// The IDs this agent lacks, each with where the catalog has it: nothing is changed then.
fn missing(
    host: &Host<'_>,
    ids: &[String],
    local: &BTreeMap<String, AgentService>,
) -> Result<Option<(Vec<Outcome>, String)>, PluginError> {
    let absent: Vec<&String> = ids.iter().filter(|id| !local.contains_key(*id)).collect();
    if absent.is_empty() {
        return Ok(None);
    }
    let mut stderr = String::new();
    let mut outcomes = Vec::new();
    for id in absent {
        let holding = nodes_holding(host, id)?;
        stderr.push_str(&format!(
            "Error deregistering service {id:?}: this agent has no service with that ID\n"
        ));
        let by_name = if holding.is_empty() {
            ids_of_name(host, id)?
        } else {
            Vec::new()
        };
        if !by_name.is_empty() {
            stderr.push_str(&format!(
                "  fix: {id} is a service name, not an ID; its IDs: {}: run `carbonio-mesh services deregister --id ID` on that node (its agent listens on localhost only).\n",
                by_name.join(", ")
            ));
        } else if holding.is_empty() {
            stderr.push_str("  fix: no node in the catalog has it either, as an ID or a name: check it with `carbonio-mesh catalog services --node NODE`.\n");
        } else {
            let places: Vec<String> = holding
                .iter()
                .map(|(node, hostname)| match hostname {
                    Some(hostname) => format!("{node} ({hostname})"),
                    None => node.clone(),
                })
                .collect();
            // Carbonio's agents listen on localhost only: another node's agent is reached by
            // running the command there, not over the network.
            stderr.push_str(&format!(
                "  fix: it is registered on {}: run `carbonio-mesh services deregister --id {id}` on that node (its agent listens on localhost only).\n",
                places.join(", ")
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
    Ok(Some((outcomes, stderr)))
}

/// Consul's refusal as the agent's `consul services deregister -id ID` prints it (its verb,
/// and the service name `-id` leaves empty: command/services/deregister/deregister.go), then
/// the fix, naming the ID.
fn refusal(version: &AgentVersion, id: &str, answer: &ConsulResponse) -> String {
    let verb = if version.has(&DEREGISTER_WORDING) {
        "deregistering"
    } else {
        "registering"
    };
    let fix = match answer.status {
        403 => {
            let right = missing_right(&answer.text)
                .map_or_else(|| "service:write".to_owned(), |r| r.describe());
            format!("{id} needs a token with {right}: give --token-file FILE")
        }
        404 | 500 if answer.text.contains("Unknown service") => format!(
            "this agent no longer has {id} (deregistered meanwhile?): `carbonio-mesh catalog services --node NODE` lists what is left"
        ),
        _ => format!("{id} was not deregistered: see Consul's message"),
    };
    format!(
        "Error {verb} service \"\": {}\n  fix: {fix}\n",
        answer.unexpected()
    )
}

/// What deregistering did: each ID's outcome (until the first failure, as Consul stops there)
/// and what to print.
struct Acted {
    outcomes: Vec<Outcome>,
    stdout: String,
    stderr: String,
    failed: bool,
}

fn act(
    host: &Host<'_>,
    ids: &[String],
    local: &BTreeMap<String, AgentService>,
    version: &AgentVersion,
    dry_run: bool,
) -> Acted {
    let mut acted = Acted {
        outcomes: Vec::new(),
        stdout: String::new(),
        stderr: String::new(),
        failed: false,
    };
    for id in ids {
        let put = ConsulRequest::put(&["v1", "agent", "service", "deregister", id]);
        let change = ConsulChange::send(host, put, dry_run);
        match &change {
            ConsulChange::Done(_) => acted
                .stdout
                .push_str(&format!("Deregistered service: {id}\n")),
            ConsulChange::Refused(answer) => acted.stderr.push_str(&refusal(version, id, answer)),
            ConsulChange::Failed(error) => acted.stderr.push_str(&format!(
                "Error deregistering service {id:?}: {}\n",
                error.message
            )),
            ConsulChange::Planned => {}
        }
        let result = change.audit(host, "deregister service", id, "deregistered");
        acted.failed = change.is_failed();
        acted.outcomes.push(Outcome {
            id: id.clone(),
            service: Some(local[id].service.clone()),
            registered_on: Vec::new(),
            result,
        });
        if acted.failed {
            // As `consul services deregister`: stop at the first failure.
            break;
        }
    }
    acted
}

fn deregister(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let wanted = parse(request)?;
    let local: BTreeMap<String, AgentService> = host.consul_get_filtered(
        &ConsulRequest::get(&["v1", "agent", "services"]),
        "the agent's services",
        "service:write",
    )?;
    let (ids, notes) = resolve(&wanted, &local)?;
    if let Some((outcomes, stderr)) = missing(host, &ids, &local)? {
        return Ok(render(request, &outcomes, String::new(), notes + &stderr).with_exit_code(5));
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
    let version = agent_version(host);
    let acted = act(host, &ids, &local, &version.version, request.dry_run);
    let response = render(
        request,
        &acted.outcomes,
        acted.stdout,
        notes + &acted.stderr,
    )
    .with_exit_code(if acted.failed { 5 } else { 0 });
    Ok(version.warn_into(response))
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
                .example(
                    "carbonio-mesh services deregister carbonio-mailbox",
                    "By name, when this agent has one service of that name",
                )
                .long_about(
                    "Checks that this agent has each ID (/v1/agent/services), says which node holds \
an ID it lacks, asks, then sends PUT /v1/agent/service/deregister/ID for each. Consul 1.9 answers \
200 for unknown IDs when ACLs are off: that check is what makes a typo visible. Consul's refusals are \
printed as the agent's own Consul prints them. A service name is accepted for its ID when this agent \
has one service of that name; otherwise the IDs the name has on each node are listed.",
                )
                .arg(
                    ArgSpec::positional(
                        "service",
                        "A service ID, or a name this agent has one service of",
                    )
                    .value_name("SERVICE"),
                )
                .arg(
                    ArgSpec::option("id", "The service ID (repeat for several)")
                        .value_name("ID")
                        .multiple(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, text: &str) -> ConsulResponse {
        ConsulResponse {
            status,
            json: None,
            text: text.to_owned(),
            index: None,
            default_acl_policy: None,
            token_sent: true,
        }
    }

    #[test]
    fn a_refusal_is_worded_as_the_agents_consul_words_it_and_the_fix_names_the_right() {
        let old = AgentVersion::parse("1.9.3").unwrap();
        let new = AgentVersion::parse("1.21.4").unwrap();
        let denied_old = answer(
            403,
            "Permission denied: Missing service:write on carbonio-proxy",
        );
        assert_eq!(
            refusal(&old, "carbonio-proxy", &denied_old),
            "Error registering service \"\": Unexpected response code: 403 (Permission denied: Missing service:write on carbonio-proxy)\n  fix: carbonio-proxy needs a token with service:write on \"carbonio-proxy\": give --token-file FILE\n"
        );
        let denied_new = answer(403, "Permission denied: token with AccessorID 'a' lacks permission 'service:write' on \"carbonio-proxy\"");
        assert!(refusal(&new, "carbonio-proxy", &denied_new)
            .starts_with("Error deregistering service \"\": Unexpected response code: 403"));
        let gone = answer(
            404,
            "Unknown service ID \"x\". Ensure that the service ID is passed, not the service name.",
        );
        assert!(refusal(&new, "x", &gone).contains("fix: this agent no longer has x"));
    }
}
