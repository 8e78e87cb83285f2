//! Plugin `catalog`: `consul catalog nodes` and `consul catalog services` of Consul 1.9.3, byte for
//! byte, plus `--format json`.
//!
//! `nodes` reads `/v1/catalog/nodes` (or `/v1/catalog/service/NAME` with `--service`) and prints
//! columnize output; `services` reads `/v1/catalog/services` (or `/v1/catalog/node/NODE` with
//! `--node`) and prints names, or names and sorted tags through Go's tabwriter with `--tags`.
//! An empty result prints Consul's message on standard error and exits 0, as Consul does.

use std::collections::BTreeMap;

use carbonio_mesh_plugin_api::consul::{agent_version, VersionFound};
use carbonio_mesh_plugin_api::nodes::{Lookup, NodeDirectory};
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{
    anonymous_warning, export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin,
    PluginError, Request, Response, Suggest, Table, Widths,
};
use serde::{Deserialize, Serialize};

const NO_NODES: &str = "No nodes match the given query - try expanding your search.\n";
const NO_SERVICES: &str = "No services match the given query - try expanding your search.\n";

/// A node as `--format json` prints it (stable field names, see the README): `node` the Consul
/// node name, `address` its IP, `host` its hostname.
#[derive(Debug, Deserialize, Serialize)]
struct NodeView {
    #[serde(rename(deserialize = "Node", serialize = "node"))]
    name: String,
    #[serde(rename(deserialize = "ID"))]
    id: String,
    #[serde(rename(deserialize = "Address"))]
    address: String,
    #[serde(rename(deserialize = "Datacenter"))]
    dc: String,
    #[serde(rename(deserialize = "TaggedAddresses"), default)]
    tagged_addresses: BTreeMap<String, String>,
    #[serde(rename(deserialize = "Meta"), default)]
    meta: BTreeMap<String, String>,
    /// The Carbonio hostname this node is, from Carbonio's server list; null when unknown.
    /// JSON only: the table stays Consul's.
    #[serde(skip_deserializing)]
    host: Option<String>,
}

/// `structs.ServiceNode`, the answer of `/v1/catalog/service/NAME`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceNode {
    node: String,
    #[serde(rename = "ID")]
    id: String,
    address: String,
    datacenter: String,
    #[serde(default)]
    tagged_addresses: BTreeMap<String, String>,
    #[serde(default)]
    node_meta: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NodeService {
    service: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NodeServices {
    #[serde(default)]
    services: BTreeMap<String, NodeService>,
}

/// `k=v` pairs of a map, sorted by key, joined by `, ` (`mapToKV` in the Consul CLI).
fn key_values(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `catalog nodes` table (command/catalog/helpers_ce.go NodeRow: the ID cut at its first
/// `-` unless `-detailed`).
fn nodes_table(nodes: &[NodeView], detailed: bool) -> Table<'static> {
    let mut header = vec!["Node", "ID", "Address", "DC"];
    if detailed {
        header.extend(["TaggedAddresses", "Meta"]);
    }
    let mut table = Table::new(header);
    for node in nodes {
        let id = match node.id.find('-') {
            Some(at) if at > 0 && !detailed => node.id[..at].to_owned(),
            _ => node.id.clone(),
        };
        let mut row = vec![node.name.clone(), id, node.address.clone(), node.dc.clone()];
        if detailed {
            row.extend([key_values(&node.tagged_addresses), key_values(&node.meta)]);
        }
        table.push(row);
    }
    table
}

/// A table as the agent's `consul` prints it: columns are measured in bytes up to Consul 1.11,
/// in characters since, which differs only when a cell is not ASCII; only then is the agent
/// asked which Consul it runs (one `/v1/agent/self`).
fn render_as_agents(host: &Host<'_>, table: &Table<'_>) -> (String, Option<VersionFound>) {
    if table.is_ascii() {
        return (table.render(), None);
    }
    let version = agent_version(host);
    (table.render_as(Widths::of(&version.version)), Some(version))
}

/// Go's `text/tabwriter` with minwidth 0, tabwidth 2, padding 6, padchar ' ', as
/// `consul catalog services -tags` uses it, then `strings.TrimSpace` of the whole block: every
/// name is padded to the longest name plus 6, and only the very end loses its trailing blanks.
fn render_tagged(services: &BTreeMap<String, Vec<String>>) -> String {
    let width = services
        .keys()
        .map(|name| name.chars().count())
        .max()
        .unwrap_or(0)
        + 6;
    let mut block = String::new();
    for (name, tags) in services {
        block.push_str(name);
        block.extend(std::iter::repeat_n(' ', width - name.chars().count()));
        block.push_str(&tags.join(","));
        block.push('\n');
    }
    let mut out = block.trim().to_owned();
    out.push('\n');
    out
}

/// `--node-meta KEY=VALUE` (repeatable) as Consul's `node-meta=KEY:VALUE` query parameters,
/// and `--near NODE`.
fn filtered(mut get: ConsulRequest, request: &Request) -> Result<ConsulRequest, PluginError> {
    for pair in request.values("node-meta") {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            PluginError::usage(format!("--node-meta {pair}: give KEY=VALUE"))
                .hint("for example --node-meta consul-network-segment=")
        })?;
        get = get.query("node-meta", &format!("{key}:{value}"));
    }
    if let Some(near) = request.value("near") {
        get = get.query("near", near);
    }
    Ok(get)
}

/// Reads from Consul, noting whether any answer may have been filtered by ACLs because it was
/// read without a token under default-deny: an empty catalog then says nothing about the cluster.
struct Reads<'h, 'a> {
    host: &'h Host<'a>,
    anonymous: std::cell::Cell<bool>,
}

impl<'h, 'a> Reads<'h, 'a> {
    fn new(host: &'h Host<'a>) -> Self {
        Reads {
            host,
            anonymous: std::cell::Cell::new(false),
        }
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        request: &ConsulRequest,
    ) -> Result<T, PluginError> {
        let (value, anonymous) = self.host.consul_text(request)?.decode_noting_acl()?;
        if anonymous {
            self.anonymous.set(true);
        }
        Ok(value)
    }

    /// `response`, with the warning when an answer was read anonymously under deny.
    fn warn_into(&self, response: Response, what: &str, right: &str) -> Response {
        if self.anonymous.get() {
            let (message, fix) = anonymous_warning(what, right);
            response.with_warning(message, Some(fix))
        } else {
            response
        }
    }
}

/// The catalog's nodes under their three names.
fn directory_of(host: &Host<'_>, nodes: &[NodeView]) -> NodeDirectory {
    NodeDirectory::of_listed(
        host,
        nodes.iter().map(|n| (n.name.as_str(), n.address.as_str())),
    )
}

/// Fills in `host` from Carbonio's server list, by the dashed form of the node names.
fn add_hosts(host: &Host<'_>, nodes: &mut [NodeView]) {
    let directory = directory_of(host, nodes);
    for note in &directory.unmapped {
        host.debug(note);
    }
    let hosts = directory.hosts_by_node();
    for node in nodes {
        node.host = hosts.get(node.name.as_str()).map(|h| (*h).to_owned());
    }
}

fn nodes(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let reads = Reads::new(host);
    let response = nodes_read(host, &reads, request)?;
    Ok(reads.warn_into(response, "the nodes", "node:read"))
}

fn nodes_read(
    host: &Host<'_>,
    reads: &Reads<'_, '_>,
    request: &Request,
) -> Result<Response, PluginError> {
    let mut nodes: Vec<NodeView> = match request.value("service") {
        Some(service) => {
            let found: Vec<ServiceNode> = reads.get(&filtered(
                ConsulRequest::get(&["v1", "catalog", "service", service]),
                request,
            )?)?;
            found
                .into_iter()
                .map(|s| NodeView {
                    name: s.node,
                    id: s.id,
                    address: s.address,
                    dc: s.datacenter,
                    tagged_addresses: s.tagged_addresses,
                    meta: s.node_meta,
                    host: None,
                })
                .collect()
        }
        None => reads
            .get::<Option<Vec<NodeView>>>(&filtered(
                ConsulRequest::get(&["v1", "catalog", "nodes"]),
                request,
            )?)?
            .unwrap_or_default(),
    };
    match request.format {
        OutputFormat::Json => {
            add_hosts(host, &mut nodes);
            Response::json(&nodes)
        }
        OutputFormat::Human if nodes.is_empty() => Ok(Response::text("").with_stderr(NO_NODES)),
        OutputFormat::Human => {
            let table = nodes_table(&nodes, request.flag("detailed"));
            let (text, version) = render_as_agents(host, &table);
            let response = Response::text(text);
            Ok(match version {
                Some(version) => version.warn_into(response),
                None => response,
            })
        }
    }
}

/// The catalog node a Carbonio hostname or an address names, if exactly one.
fn node_named(host: &Host<'_>, name: &str) -> Result<Option<String>, PluginError> {
    let nodes = host
        .consul_get::<Option<Vec<NodeView>>>(&ConsulRequest::get(&["v1", "catalog", "nodes"]))?
        .unwrap_or_default();
    Ok(match directory_of(host, &nodes).find(name) {
        Lookup::Found(node) => Some(node.node.clone()),
        _ => None,
    })
}

fn services(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let reads = Reads::new(host);
    let response = services_read(host, &reads, request)?;
    Ok(reads.warn_into(response, "the services", "service:read"))
}

fn services_read(
    host: &Host<'_>,
    reads: &Reads<'_, '_>,
    request: &Request,
) -> Result<Response, PluginError> {
    // A node the catalog does not have: Consul answers `null`, the CLI "No services match";
    // we say which name matched nothing.
    let mut unknown_node = None;
    let mut services: BTreeMap<String, Vec<String>> = match request.value("node") {
        Some(node) => {
            // An unknown node is `null`, which Consul reports as "no services". Consul finds a
            // node by name or node-ID prefix; a Carbonio hostname or an address is tried next.
            let mut found: Option<NodeServices> =
                reads.get(&ConsulRequest::get(&["v1", "catalog", "node", node]))?;
            if found.is_none() {
                if let Some(name) = node_named(host, node)? {
                    found = reads.get(&ConsulRequest::get(&["v1", "catalog", "node", &name]))?;
                }
            }
            if found.is_none() && !reads.anonymous.get() {
                unknown_node = Some(node);
            }
            let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for service in found.map(|f| f.services).unwrap_or_default().into_values() {
                by_name
                    .entry(service.service)
                    .or_default()
                    .extend(service.tags.unwrap_or_default());
            }
            by_name
        }
        None => reads
            .get::<Option<BTreeMap<String, Option<Vec<String>>>>>(&filtered(
                ConsulRequest::get(&["v1", "catalog", "services"]),
                request,
            )?)?
            .unwrap_or_default()
            .into_iter()
            .map(|(name, tags)| (name, tags.unwrap_or_default()))
            .collect(),
    };
    for tags in services.values_mut() {
        tags.sort();
    }
    let response = render_services(request, &services)?;
    Ok(match unknown_node {
        Some(node) => response.with_warning(
            format!("no node named '{node}' in the catalog"),
            Some("`carbonio-mesh catalog nodes` lists them: give a node name, node-ID prefix, Carbonio hostname (or its first label, when one node has it) or address".to_owned()),
        ),
        None => response,
    })
}

/// The services, for people (Consul's lines) or as JSON.
fn render_services(
    request: &Request,
    services: &BTreeMap<String, Vec<String>>,
) -> Result<Response, PluginError> {
    match request.format {
        OutputFormat::Json => {
            #[derive(Serialize)]
            struct ServiceView<'a> {
                name: &'a str,
                tags: &'a [String],
            }
            let list: Vec<ServiceView<'_>> = services
                .iter()
                .map(|(name, tags)| ServiceView { name, tags })
                .collect();
            Response::json(&list)
        }
        OutputFormat::Human if services.is_empty() => {
            Ok(Response::text("").with_stderr(NO_SERVICES))
        }
        OutputFormat::Human if request.flag("tags") => Ok(Response::text(render_tagged(services))),
        OutputFormat::Human => Ok(Response::text(
            services
                .keys()
                .map(|name| format!("{name}\n"))
                .collect::<String>(),
        )),
    }
}

fn node_meta_arg() -> ArgSpec {
    ArgSpec::option(
        "node-meta",
        "Only nodes with this metadata (repeat for several; all must match)",
    )
    .value_name("KEY=VALUE")
    .multiple()
}

pub struct Catalog;

impl Plugin for Catalog {
    fn manifest() -> Manifest {
        Manifest::new(
            "catalog",
            env!("CARGO_PKG_VERSION"),
            "List the nodes and services Carbonio Mesh knows (consul catalog)",
        )
        .command(
            CommandSpec::new(
                "catalog",
                "List the nodes and services Carbonio Mesh knows (consul catalog)",
            )
            .read_only()
            .subcommand(
                CommandSpec::new("nodes", "List the nodes in the catalog")
.example("carbonio-mesh catalog nodes", "Every node, its short ID and address")
.example("carbonio-mesh catalog nodes --service carbonio-mailbox", "The nodes running a service")
.example("carbonio-mesh catalog nodes --near _agent", "Nearest to this agent first")
.read_only()
                    .arg(ArgSpec::flag(
                        "detailed",
                        "Show full IDs, tagged addresses and node metadata",
                    ))
                    .arg(
                        ArgSpec::option("service", "Only nodes that provide SERVICE")
                            .value_name("SERVICE"),
                    )
                    .arg(
                        ArgSpec::option("near", "Sort by network distance from NODE (_agent: this agent)")
                            .value_name("NODE")
                            .suggest(Suggest::Nodes { extra: vec!["_agent".into()], list: false }),
                    )
                    .arg(node_meta_arg()),
            )
            .subcommand(
                CommandSpec::new("services", "List the services in the catalog")
.example("carbonio-mesh catalog services --tags", "Every service and its tags")
.example("carbonio-mesh catalog services --node mail.example.com", "What one node runs (node name, short ID, hostname or address)")
.read_only()
                    .arg(
                        ArgSpec::option("node", "Only services registered on NODE: its Consul node name, node-ID prefix, Carbonio hostname or address")
                            .value_name("NODE")
                            .suggest(Suggest::Nodes { extra: Vec::new(), list: false }),
                    )
                    .arg(node_meta_arg())
                    .arg(ArgSpec::flag("tags", "Show each service's tags")),
            ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "nodes" => nodes(host, request),
            "services" => services(host, request),
            other => Err(PluginError::usage(format!(
                "unknown catalog command '{other}'"
            ))),
        }
    }
}

export_plugin!(Catalog);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_pads_to_the_longest_name_plus_six_and_trims_only_the_end() {
        let services: BTreeMap<String, Vec<String>> = [
            ("consul", vec![]),
            ("web", vec!["b".to_owned(), "c".to_owned()]),
            ("zz", vec![]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(
            render_tagged(&services),
            "consul      \nweb         b,c\nzz\n"
        );
    }

    #[test]
    fn short_ids_are_cut_at_the_first_dash() {
        let node = |id: &str| NodeView {
            name: "n".into(),
            id: id.into(),
            address: "a".into(),
            dc: "dc1".into(),
            tagged_addresses: BTreeMap::new(),
            meta: BTreeMap::new(),
            host: None,
        };
        assert_eq!(
            nodes_table(&[node("f1c36ec8-cfd8")], false).render(),
            "Node  ID        Address  DC\nn     f1c36ec8  a        dc1\n"
        );
        // Not a UUID: as Consul, no dash (or one first) keeps the whole ID.
        let odd = nodes_table(&[node("abc"), node("-x")], false).render();
        assert!(odd.contains("  abc  ") && odd.contains("  -x   "), "{odd}");
    }
}
