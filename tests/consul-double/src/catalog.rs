//! `/v1/catalog/*`: nodes and services as the leader's catalog has them, filtered and sorted as
//! Consul does.

use std::collections::BTreeMap;

use crate::answer::{error, json, unknown_path, Answer};
use crate::model::{Cluster, Node, Role, Service, Status};
use crate::wire;

/// Whether `node` has every `key:value` of a `node-meta` filter (the double keeps one filter
/// per request; Consul takes the parameter several times).
fn meta_matches(node: &Node, filter: Option<&String>) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    let (key, value) = filter.split_once(':').unwrap_or((filter, ""));
    let segment = (key == "consul-network-segment").then_some("");
    node.meta.get(key).map(String::as_str).or(segment) == Some(value)
}

/// `?near=NODE` (`_agent`: this agent's node): stable sort by network distance from it; nodes
/// without a coordinate go last; an unknown node or one without a coordinate sorts nothing
/// (`agent/consul/rtt.go`).
fn sort_near(cluster: &Cluster, nodes: &mut [&Node], near: Option<&String>) {
    let Some(near) = near else {
        return;
    };
    let name = if near == "_agent" {
        cluster.local_node.as_str()
    } else {
        near.as_str()
    };
    let Some(origin) = cluster.node(name).and_then(|n| n.coordinate.as_ref()) else {
        return;
    };
    let distance = |n: &Node| {
        n.coordinate
            .as_ref()
            .map_or(f64::INFINITY, |c| origin.distance_to(c))
    };
    nodes.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
}

fn services_on<'a>(cluster: &'a Cluster, node: &'a str) -> impl Iterator<Item = &'a Service> {
    cluster.services.iter().filter(move |s| s.node == node)
}

/// Why the catalog cannot be read: a client agent that knows no live server, or no leader
/// (without `?stale`); the client agent adds its hop to the server's words.
fn unreadable(cluster: &Cluster, query: &BTreeMap<String, String>) -> Option<Answer> {
    let local_is_client = cluster.local().is_some_and(|n| n.role == Role::Client);
    if local_is_client && !cluster.servers().any(|s| s.status == Status::Alive) {
        return Some(error(500, "No known Consul servers"));
    }
    if cluster.leader.is_none() && !query.contains_key("stale") {
        let hop = if local_is_client {
            "rpc error making call: "
        } else {
            ""
        };
        return Some(error(500, format!("{hop}No cluster leader")));
    }
    None
}

pub fn catalog(
    cluster: &Cluster,
    rest: &[&str],
    query: &BTreeMap<String, String>,
    can_read: bool,
) -> Answer {
    if let Some(refused) = unreadable(cluster, query) {
        return refused;
    }
    let pretty = query.contains_key("pretty");
    // Consul's leader reaps members that left from the catalog; failed ones stay.
    let mut nodes: Vec<&Node> = cluster
        .nodes
        .iter()
        .filter(|n| can_read && n.status != Status::Left)
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    // Lookups by node name are not filtered; lists are.
    let by_name = nodes.clone();
    nodes.retain(|n| meta_matches(n, query.get("node-meta")));
    sort_near(cluster, &mut nodes, query.get("near"));
    let answer = match rest {
        ["nodes"] => json(
            &nodes
                .iter()
                .map(|n| wire::catalog_node(cluster, n))
                .collect::<Vec<_>>(),
            pretty,
        ),
        ["services"] => {
            let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for node in &nodes {
                for service in services_on(cluster, &node.name) {
                    let tags = by_name.entry(&service.name).or_default();
                    for tag in &service.tags {
                        if !tags.contains(&tag.as_str()) {
                            tags.push(tag);
                        }
                    }
                }
            }
            json(&by_name, pretty)
        }
        ["node", name] => match cluster.lookup_node(name).filter(|n| by_name.contains(n)) {
            Some(node) => json(
                &wire::NodeServices {
                    node: wire::catalog_node(cluster, node),
                    services: services_on(cluster, &node.name)
                        .map(|s| (s.id.clone(), wire::node_service(cluster, s)))
                        .collect(),
                },
                pretty,
            ),
            None => json(&serde_json::Value::Null, pretty),
        },
        ["node-services", name] => {
            let node = cluster.lookup_node(name).filter(|n| by_name.contains(n));
            let mut services: Vec<&Service> = node
                .map(|n| services_on(cluster, &n.name).collect())
                .unwrap_or_default();
            services.sort_by(|a, b| a.id.cmp(&b.id));
            json(
                &wire::NodeServiceList {
                    node: node.map(|n| wire::catalog_node(cluster, n)),
                    services: node.map(|_| {
                        services
                            .into_iter()
                            .map(|s| wire::node_service(cluster, s))
                            .collect()
                    }),
                },
                pretty,
            )
        }
        ["service", name] => {
            let list: Vec<_> = nodes
                .iter()
                .flat_map(|node| {
                    services_on(cluster, &node.name)
                        .filter(|s| s.name == *name)
                        .map(|s| wire::service_node(cluster, node, s))
                })
                .collect();
            json(&list, pretty)
        }
        _ => return unknown_path(cluster),
    };
    Answer {
        blocking: true,
        ..answer
    }
}
