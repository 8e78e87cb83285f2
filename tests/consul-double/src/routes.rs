//! The endpoints carbonio-mesh calls, each answering as the answering agent's Consul version
//! does (texts, statuses, what it finds), over the model.

use std::collections::BTreeMap;

use tiny_http::Method;

use crate::answer::{denial, denied, empty, error, hops, json, unknown_path, Answer, Caller};
use crate::catalog::catalog;
use crate::model::{BootstrapRefusal, Cluster, Role, Status};
use crate::wire;

/// One request, decoded.
pub struct Call<'a> {
    pub method: &'a Method,
    pub parts: Vec<&'a str>,
    pub query: &'a BTreeMap<String, String>,
    pub token: Option<&'a str>,
    /// The request's body (the keyring's changes carry `{"Key": ...}`).
    pub body: &'a str,
}

impl Call<'_> {
    pub(crate) fn pretty(&self) -> bool {
        self.query.contains_key("pretty")
    }

    /// 405 unless the method is `wanted` (or OPTIONS).
    pub(crate) fn expect(&self, wanted: Method) -> Option<Answer> {
        let method = self.method;
        (*method != wanted && *method != Method::Options).then(|| Answer {
            allow: Some(if wanted == Method::Get {
                "GET,OPTIONS"
            } else {
                "OPTIONS,PUT"
            }),
            ..error(405, format!("method {method} not allowed"))
        })
    }
}

/// The query-string checks every wrapped endpoint makes before its own work.
pub(crate) fn bad_query(cluster: &Cluster, query: &BTreeMap<String, String>) -> Option<Answer> {
    if query.contains_key("stale") && query.contains_key("consistent") {
        return Some(error(
            400,
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        ));
    }
    if query
        .get("dc")
        .is_some_and(|dc| !dc.is_empty() && *dc != cluster.datacenter)
    {
        return Some(error(500, "No path to datacenter"));
    }
    if query
        .get("wait")
        .is_some_and(|w| !w.is_empty() && parse_wait(w).is_none())
    {
        return Some(error(400, "Invalid wait time"));
    }
    if query
        .get("index")
        .is_some_and(|i| i.parse::<u64>().is_err())
    {
        return Some(error(400, "Invalid index"));
    }
    None
}

pub fn route(cluster: &mut Cluster, call: &Call<'_>) -> Answer {
    if let Some(bad) = bad_query(cluster, call.query) {
        return bad;
    }
    let who = Caller::of(cluster, call.token);
    if matches!(who, Caller::Unknown) {
        return error(403, "ACL not found");
    }
    match call.parts.as_slice() {
        ["v1", "status", "leader"] => call.expect(Method::Get).unwrap_or_else(|| {
            let leader = cluster
                .leader
                .as_deref()
                .and_then(|name| cluster.node(name));
            let address = leader
                .map(|n| format!("{}:{}", n.address, n.ports.server))
                .unwrap_or_default();
            json(&address, call.pretty())
        }),
        ["v1", "status", "peers"] => call.expect(Method::Get).unwrap_or_else(|| {
            let peers: Vec<String> = cluster
                .raft_peers()
                .iter()
                .map(|n| format!("{}:{}", n.address, n.ports.server))
                .collect();
            json(&peers, call.pretty())
        }),
        ["v1", "agent", ..] => agent(cluster, call, &who),
        ["v1", "operator", "keyring"] if *call.method != Method::Get => {
            keyring_change(cluster, call, &who)
        }
        ["v1", "catalog", rest @ ..] => call.expect(Method::Get).unwrap_or_else(|| {
            let can_read = !matches!(who, Caller::Anonymous) || !cluster.acl_enabled;
            catalog(cluster, rest, call.query, can_read)
        }),
        ["v1", "health", "state", "critical"] => call.expect(Method::Get).unwrap_or_else(|| {
            // node:read and service:read: an anonymous caller under default-deny sees none.
            let checks = if matches!(who, Caller::Anonymous) && cluster.acl_enabled {
                Vec::new()
            } else {
                wire::critical_checks(cluster)
            };
            Answer {
                blocking: true,
                ..json(&checks, call.pretty())
            }
        }),
        ["v1", "operator", ..] => operator(cluster, call, &who),
        ["v1", "acl", ..] => acl(cluster, call, &who),
        _ => unknown_path(cluster),
    }
}

fn agent(cluster: &mut Cluster, call: &Call<'_>, who: &Caller) -> Answer {
    let can_read = !matches!(who, Caller::Anonymous) || !cluster.acl_enabled;
    match call.parts.as_slice() {
        ["v1", "agent", "members"] => call
            .expect(Method::Get)
            .unwrap_or_else(|| members(cluster, call.query, can_read, call.pretty())),
        ["v1", "agent", "force-leave", node] => call.expect(Method::Put).unwrap_or_else(|| {
            if !who.may_write(cluster) {
                return denied(cluster, who, "operator:write", None);
            }
            force_leave(cluster, node, call.query)
        }),
        ["v1", "agent", "service", "deregister", id] => call
            .expect(Method::Put)
            .unwrap_or_else(|| deregister(cluster, who, id)),
        ["v1", "agent", "reload"] => call.expect(Method::Put).unwrap_or_else(|| {
            if !who.may_write(cluster) {
                let node = cluster.local_node.clone();
                return denied(cluster, who, "agent:write", Some(&node));
            }
            match &cluster.reload_error {
                Some(text) => error(500, text.clone()),
                None => empty(cluster),
            }
        }),
        ["v1", "agent", "self"] => call.expect(Method::Get).unwrap_or_else(|| {
            if !can_read {
                let node = cluster.local_node.clone();
                return denied(cluster, who, "agent:read", Some(&node));
            }
            match cluster.local() {
                Some(node) => json(&wire::agent_self(cluster, node), call.pretty()),
                None => error(500, "agent: local node not found"),
            }
        }),
        ["v1", "agent", "services"] => call.expect(Method::Get).unwrap_or_else(|| {
            // The local agent's services by ID; what an anonymous caller may not read is left out.
            let services: BTreeMap<String, wire::AgentService> = cluster
                .services
                .iter()
                .filter(|s| s.node == cluster.local_node && can_read)
                .map(|s| (s.id.clone(), wire::agent_service(cluster, s)))
                .collect();
            json(&services, call.pretty())
        }),
        _ => unknown_path(cluster),
    }
}

/// `GET /v1/agent/members` (agent/agent_endpoint.go AgentMembers): any non-empty `wan` asks for
/// the WAN pool, which takes no segment but `_all`; a client agent has no WAN pool (`null`).
fn members(
    cluster: &Cluster,
    query: &BTreeMap<String, String>,
    can_read: bool,
    pretty: bool,
) -> Answer {
    let wan = query.get("wan").is_some_and(|v| !v.is_empty());
    if wan
        && query
            .get("segment")
            .is_some_and(|s| !s.is_empty() && s != "_all")
    {
        return error(400, "Cannot provide a segment with wan=true");
    }
    if wan && !cluster.local_is_server() {
        return json(&serde_json::Value::Null, pretty);
    }
    // Default policy deny: members an anonymous caller may not read are filtered out.
    let members: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|_| can_read)
        .filter(|n| !wan || n.role == Role::Server)
        .map(|n| wire::member(cluster, n, wan))
        .collect();
    json(&members, pretty)
}

/// `PUT /v1/agent/force-leave/NODE[?prune][?wan]`. Up to 1.10 the agent looks for `NODE` among
/// its LAN members only (agent/agent.go ForceLeave: `NODE.DC` is not found); from 1.11 a server
/// looks in the LAN pool (names compared without case) and the WAN pool (`NODE.DC`, the suffix
/// added when missing), or with `?wan` in the WAN pool only (agent/consul/server.go
/// RemoveFailedNode[WAN]). The double keeps one status per server: a WAN name acts on the
/// server. A node still alive answers the gossip and rejoins at once.
fn force_leave(cluster: &mut Cluster, node: &str, query: &BTreeMap<String, String>) -> Answer {
    let prune = query.contains_key("prune");
    let version = cluster.local_version();
    let wan_query = version.force_leave_finds_wan() && query.contains_key("wan");
    let server = cluster.local_is_server();
    if wan_query && !server {
        return error(
            500,
            "Must be a server to force-leave a node from the WAN cluster",
        );
    }
    let suffix = format!(".{}", cluster.datacenter);
    let lan_name = node.strip_suffix(suffix.as_str()).unwrap_or(node);
    let found = cluster.nodes.iter().position(|n| {
        let lan = !wan_query
            && if version.force_leave_finds_wan() {
                n.name.eq_ignore_ascii_case(node)
            } else {
                n.name == node
            };
        let wan = version.force_leave_finds_wan()
            && server
            && n.role == Role::Server
            && n.name.eq_ignore_ascii_case(lan_name);
        lan || wan
    });
    let Some(at) = found else {
        let named = if wan_query { "" } else { node };
        return error(500, format!("agent: No node found with name '{named}'"));
    };
    if cluster.nodes[at].status != Status::Alive {
        if prune {
            let name = cluster.nodes.remove(at).name;
            cluster.services.retain(|s| s.node != name);
        } else {
            cluster.nodes[at].status = Status::Left;
        }
    }
    empty(cluster)
}

/// `PUT /v1/agent/service/deregister/ID` (agent/acl.go vetServiceUpdate): a service of this
/// agent needs `service:write` on its name; an ID the agent lacks is 500 `Unknown service "ID"`
/// up to 1.10 (ACLs on; with ACLs off 1.9 only logs it and answers 200), 404 with a longer text
/// from 1.12.
fn deregister(cluster: &mut Cluster, who: &Caller, id: &str) -> Answer {
    let local = cluster.local_node.clone();
    let version = cluster.local_version();
    let Some(at) = cluster
        .services
        .iter()
        .position(|s| s.node == local && s.id == id)
    else {
        if version.has_long_denials() {
            return error(
                404,
                format!("Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."),
            );
        }
        if cluster.acl_enabled {
            return error(500, format!("Unknown service {id:?}"));
        }
        return empty(cluster);
    };
    if !who.may_write(cluster) {
        let name = cluster.services[at].name.clone();
        if !version.has_long_denials() {
            return error(
                403,
                format!("Permission denied: Missing service:write on {name}"),
            );
        }
        return denied(cluster, who, "service:write", Some(&name));
    }
    cluster.services.remove(at);
    empty(cluster)
}

fn operator(cluster: &Cluster, call: &Call<'_>, who: &Caller) -> Answer {
    let version = cluster.local_version();
    match call.parts.as_slice() {
        ["v1", "operator", "keyring"] => call.expect(Method::Get).unwrap_or_else(|| {
            // Up to 1.11 only a server answers (agent/keyring.go keyringProcess), and its
            // denial is a 500 the HTTP layer does not see as one.
            if !version.has_long_denials() && !cluster.local_is_server() {
                return error(500, "keyring operations must run against a server node");
            }
            if !who.may_write(cluster) {
                if !version.has_long_denials() {
                    return error(500, "Reading keyring denied by ACLs");
                }
                return denied(cluster, who, "keyring:read", None);
            }
            json(&wire::keyring(cluster), call.pretty())
        }),
        ["v1", "operator", "raft", "configuration"] => {
            call.expect(Method::Get).unwrap_or_else(|| {
                // operator:read, checked by the leader the request is forwarded to.
                if !who.may_write(cluster) {
                    let text = denial(cluster, who, "operator:read", None);
                    return error(403, format!("{}{text}", hops(cluster)));
                }
                if cluster.leader.is_none() && !call.query.contains_key("stale") {
                    return error(500, "No cluster leader");
                }
                json(&wire::raft_configuration(cluster), call.pretty())
            })
        }
        ["v1", "operator", "autopilot", "health"] => {
            call.expect(Method::Get).unwrap_or_else(|| {
                // operator:read, checked by the leader the request is forwarded to; 429 when
                // unhealthy, with the same document (agent/operator_endpoint.go).
                if !who.may_write(cluster) {
                    let text = denial(cluster, who, "operator:read", None);
                    return error(403, format!("{}{text}", hops(cluster)));
                }
                if cluster.leader.is_none() {
                    return error(500, "No cluster leader");
                }
                let health = wire::autopilot_health(cluster);
                let mut answer = json(&health, call.pretty());
                if !health.healthy {
                    answer.status = 429;
                }
                answer
            })
        }
        _ => unknown_path(cluster),
    }
}

fn acl(cluster: &mut Cluster, call: &Call<'_>, who: &Caller) -> Answer {
    match call.parts.as_slice() {
        ["v1", "acl", "bootstrap"] => call
            .expect(Method::Put)
            .unwrap_or_else(|| acl_bootstrap(cluster, call.pretty())),
        ["v1", "acl", "token", "self"] => call.expect(Method::Get).unwrap_or_else(|| {
            if !cluster.acl_enabled {
                return error(401, "ACL support disabled");
            }
            match call.token.and_then(|secret| cluster.token(secret)) {
                Some(found) => Answer {
                    blocking: true,
                    ..json(&wire::acl_token(found), call.pretty())
                },
                None => error(403, "ACL not found"),
            }
        }),
        ["v1", "acl", "token", accessor] if *call.method == Method::Delete => {
            if !who.may_write(cluster) {
                return denied(cluster, who, "acl:write", None);
            }
            // A token that is gone: 200 `true` up to 1.14, 404 from 1.15 (agent/acl_endpoint.go).
            let before = cluster.tokens.len();
            cluster.tokens.retain(|t| t.accessor != *accessor);
            if cluster.tokens.len() == before && cluster.local_version().token_delete_404() {
                return error(404, "Cannot find token to delete");
            }
            json(&true, call.pretty())
        }
        _ => unknown_path(cluster),
    }
}

/// `PUT /v1/acl/bootstrap`, with the texts each hop adds. Without a leader the RPC finds none:
/// `No cluster leader`; up to 1.10 a server that has not seen ACLs set up by a leader answers
/// `The ACL system is currently in legacy mode.` instead (recorded from 1.10.12).
fn acl_bootstrap(cluster: &mut Cluster, pretty: bool) -> Answer {
    if !cluster.acl_enabled {
        return error(401, "ACL support disabled");
    }
    if cluster.acl_legacy_mode && cluster.local_version().has_acl_legacy_mode() {
        return error(500, "The ACL system is currently in legacy mode.");
    }
    let hops = hops(cluster);
    if cluster.leader.is_none() {
        let prefix = if cluster.local_is_server() {
            ""
        } else {
            "rpc error making call: "
        };
        return error(500, format!("{prefix}No cluster leader"));
    }
    match cluster.acl_bootstrap() {
        Ok(token) => json(&wire::acl_bootstrap(&token), pretty),
        Err(BootstrapRefusal::NoLongerAllowed { reset_index }) => error(
            403,
            format!("Permission denied: {hops}ACL bootstrap no longer allowed (reset index: {reset_index})"),
        ),
        Err(BootstrapRefusal::WrongIndex { specified, reset_index }) => error(
            500,
            format!("{hops}Invalid bootstrap reset index (specified {specified}, reset index: {reset_index})"),
        ),
        Err(BootstrapRefusal::Unparsable { text }) => {
            error(500, format!("{hops}strconv.ParseUint: parsing {text:?}: invalid syntax"))
        }
    }
}

/// Go's `time.ParseDuration` for the units `?wait=` takes (`10s`, `5m`, `100ms`); `None` if invalid.
fn parse_wait(text: &str) -> Option<u64> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    Some(number * millis)
}

/// `POST` (install), `PUT` (use), `DELETE` (remove) `/v1/operator/keyring` with `{"Key": K}`
/// (`api.KeyringRequest`) on every alive member (`keyring:write`: the management token here).
/// The first key of the model's list is the primary. Errors as a real 1.10.12 answered them
/// (docs/secret-regeneration.md, "Checked on a real Consul 1.10.12"): every member's error in
/// a 500: using a key not installed "Requested key is not in the keyring", removing the primary
/// "Removing the primary key is not allowed" (memberlist `keyring.go` `UseKey`, `RemoveKey`).
fn keyring_change(cluster: &mut Cluster, call: &Call<'_>, who: &Caller) -> Answer {
    if !who.may_write(cluster) {
        return denied(cluster, who, "keyring:write", None);
    }
    let Some(key) = serde_json::from_str::<serde_json::Value>(call.body)
        .ok()
        .and_then(|v| v["Key"].as_str().map(str::to_owned))
    else {
        return error(400, "Request decoding failed: missing Key");
    };
    if cluster.keyring.is_empty() {
        cluster.keyring = vec![(crate::model::FIXTURE_GOSSIP_KEY.to_owned(), Vec::new())];
    }
    let at = cluster.keyring.iter().position(|(k, _)| *k == key);
    let refused = |why: &str| error(500, format!("1 error occurred:\n\t* {why}\n\n"));
    match (call.method, at) {
        (Method::Post, None) => cluster.keyring.push((key, Vec::new())),
        (Method::Post, Some(_)) => {}
        (Method::Put, Some(at)) => {
            let entry = cluster.keyring.remove(at);
            cluster.keyring.insert(0, entry);
        }
        (Method::Put, None) => return refused("Requested key is not in the keyring"),
        (Method::Delete, Some(0)) => return refused("Removing the primary key is not allowed"),
        (Method::Delete, Some(at)) => {
            cluster.keyring.remove(at);
        }
        // memberlist's RemoveKey drops a key it has, and answers nil for one it lacks.
        (Method::Delete, None) => {}
        (method, _) => return error(405, format!("method {method} not allowed")),
    }
    Answer {
        status: 200,
        body: Vec::new(),
        json: false,
        blocking: false,
        allow: None,
    }
}
