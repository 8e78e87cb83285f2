//! The HTTP side: routes, ACL filtering, Consul's headers and error texts.

use std::collections::BTreeMap;
use std::io;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use tiny_http::{Header, Method, Request, Response, Server};

use crate::model::{Cluster, Role, Status};
use crate::wire;

/// A running double on loopback. Dropping it stops the server.
pub struct Double {
    addr: SocketAddr,
    state: Arc<Mutex<Cluster>>,
    /// `(METHOD /path?query, X-Consul-Token)` of every request.
    log: Arc<Log>,
    server: Arc<Server>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl Double {
    /// Serves `cluster` on `127.0.0.1` at a free port.
    pub fn start(cluster: Cluster) -> io::Result<Double> {
        Double::start_on("127.0.0.1:0", cluster)
    }

    pub fn start_on(listen: &str, cluster: Cluster) -> io::Result<Double> {
        let server = Arc::new(Server::http(listen).map_err(io::Error::other)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        let state = Arc::new(Mutex::new(cluster));
        let log = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..4)
            .map(|_| {
                let (server, state, log) = (server.clone(), state.clone(), log.clone());
                thread::spawn(move || {
                    while let Ok(request) = server.recv() {
                        serve(&state, &log, request);
                    }
                })
            })
            .collect();
        Ok(Double {
            addr,
            state,
            log,
            server,
            workers,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The model, to inspect or change.
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request received so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.requests_with_tokens()
            .into_iter()
            .map(|(line, _)| line)
            .collect()
    }

    /// Every request received so far, with the token it carried (header or `?token=`).
    pub fn requests_with_tokens(&self) -> Vec<(String, Option<String>)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.server.unblock();
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// One answer: status, body, and whether it is JSON.
struct Answer {
    status: u16,
    body: Vec<u8>,
    json: bool,
    /// `/v1/catalog/*` and `/v1/acl/token/self` carry the blocking-query headers.
    blocking: bool,
    allow: Option<&'static str>,
}

fn error(status: u16, text: impl Into<String>) -> Answer {
    Answer {
        status,
        body: text.into().into_bytes(),
        json: false,
        blocking: false,
        allow: None,
    }
}

fn json<T: serde::Serialize>(value: &T, pretty: bool) -> Answer {
    Answer {
        status: 200,
        body: wire::encode(value, pretty),
        json: true,
        blocking: false,
        allow: None,
    }
}

fn empty() -> Answer {
    Answer {
        status: 200,
        body: Vec::new(),
        json: false,
        blocking: false,
        allow: None,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Who sent the request, by its token.
enum Caller {
    Anonymous,
    Unknown,
    Known { management: bool },
}

fn caller(cluster: &Cluster, token: Option<&str>) -> Caller {
    match token.filter(|t| !t.is_empty()) {
        None => Caller::Anonymous,
        Some(secret) => match cluster.token(secret) {
            Some(known) => Caller::Known {
                management: known.is_management(),
            },
            None => Caller::Unknown,
        },
    }
}

type Log = Mutex<Vec<(String, Option<String>)>>;

fn serve(state: &Mutex<Cluster>, log: &Log, mut request: Request) {
    let mut body = String::new();
    let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
    let method = request.method().clone();
    let target = request.url().to_owned();
    let token = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("X-Consul-Token"))
        .map(|h| h.value.as_str().to_owned());
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let token = token.or_else(|| query.get("token").cloned());
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((format!("{method} {target}"), token.clone()));
    let segments: Vec<String> = path.split('/').skip(1).map(percent_decode).collect();
    // Requests are served one at a time under the lock: the double is for correctness, and
    // mutations (bootstrap, later force-leave) must be atomic.
    let mut cluster = state.lock().unwrap_or_else(|e| e.into_inner());
    match &mut cluster.answers_left {
        Some(0) => {
            // "Consul went down mid-way": the connection breaks instead of an answer.
            drop(cluster);
            let mut writer = request.into_writer();
            let _ = writer.write_all(b"\x00 connection lost\r\n\r\n");
            let _ = writer.flush();
            return;
        }
        Some(left) => *left -= 1,
        None => {}
    }
    let answer = match segments.as_slice() {
        // The keyring's changes carry `{"Key": ...}` (`api.KeyringRequest`).
        [v1, operator, keyring]
            if v1 == "v1"
                && operator == "operator"
                && keyring == "keyring"
                && method != Method::Get =>
        {
            keyring_change(&mut cluster, &method, &body, token.as_deref())
        }
        _ => route(&mut cluster, &method, &segments, &query, token.as_deref()),
    };
    respond(&cluster, &query, request, answer);
}

fn respond(cluster: &Cluster, query: &BTreeMap<String, String>, request: Request, answer: Answer) {
    let mut response = Response::from_data(answer.body).with_status_code(answer.status);
    let mut add = |name: &str, value: &str| {
        response.add_header(
            Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header"),
        );
    };
    if answer.json {
        add("Content-Type", "application/json");
    } else if answer.status != 200 {
        add("Content-Type", "text/plain; charset=utf-8");
    }
    add("Vary", "Accept-Encoding");
    add(
        "X-Consul-Default-Acl-Policy",
        if cluster.acl_enabled { "deny" } else { "allow" },
    );
    if answer.blocking {
        add("X-Consul-Index", &cluster.catalog_index.max(1).to_string());
        add(
            "X-Consul-Knownleader",
            if cluster.leader.is_some() {
                "true"
            } else {
                "false"
            },
        );
        add("X-Consul-Lastcontact", "0");
        let consistency = if query.contains_key("stale") {
            "stale"
        } else {
            "leader"
        };
        add("X-Consul-Effective-Consistency", consistency);
    }
    if let Some(allow) = answer.allow {
        add("Allow", allow);
    }
    let _ = request.respond(response);
}

/// `POST` (install), `PUT` (use), `DELETE` (remove) `/v1/operator/keyring` on every alive
/// member (`keyring:write`: the management token here). Memberlist refuses removing the primary
/// key (`keyring.go` `RemoveKey`). The first key of the model's list is the primary.
fn keyring_change(
    cluster: &mut Cluster,
    method: &Method,
    body: &str,
    token: Option<&str>,
) -> Answer {
    if !token
        .and_then(|t| cluster.token(t))
        .is_some_and(|t| t.is_management())
    {
        return error(403, "Permission denied");
    }
    let Some(key) = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["Key"].as_str().map(str::to_owned))
    else {
        return error(400, "Request decoding failed: missing Key");
    };
    if cluster.keyring.is_empty() {
        cluster.keyring = vec![(crate::model::FIXTURE_GOSSIP_KEY.to_owned(), Vec::new())];
    }
    let at = cluster.keyring.iter().position(|(k, _)| *k == key);
    match (method, at) {
        (Method::Post, None) => cluster.keyring.push((key, Vec::new())),
        (Method::Post, Some(_)) => {}
        (Method::Put, Some(at)) => {
            let entry = cluster.keyring.remove(at);
            cluster.keyring.insert(0, entry);
        }
        (Method::Put, None) => {
            return error(
                500,
                "1 error occurred:\n\t* Requested key is not in the keyring\n\n",
            )
        }
        (Method::Delete, Some(0)) => {
            return error(
                500,
                "1 error occurred:\n\t* Removing the primary key is not allowed\n\n",
            )
        }
        (Method::Delete, Some(at)) => {
            cluster.keyring.remove(at);
        }
        (Method::Delete, None) => {}
        _ => return error(405, format!("method {method} not allowed")),
    }
    Answer {
        status: 200,
        body: Vec::new(),
        json: false,
        blocking: false,
        allow: None,
    }
}

fn route(
    cluster: &mut Cluster,
    method: &Method,
    segments: &[String],
    query: &BTreeMap<String, String>,
    token: Option<&str>,
) -> Answer {
    let pretty = query.contains_key("pretty");
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let expect = |wanted: Method| -> Option<Answer> {
        (*method != wanted && *method != Method::Options).then(|| Answer {
            allow: Some(if wanted == Method::Get {
                "GET,OPTIONS"
            } else {
                "OPTIONS,PUT"
            }),
            ..error(405, format!("method {method} not allowed"))
        })
    };
    if query.contains_key("stale") && query.contains_key("consistent") {
        return error(
            400,
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        );
    }
    if query
        .get("dc")
        .is_some_and(|dc| !dc.is_empty() && *dc != cluster.datacenter)
    {
        return error(500, "No path to datacenter");
    }
    if query
        .get("wait")
        .is_some_and(|w| !w.is_empty() && parse_wait(w).is_none())
    {
        return error(400, "Invalid wait time");
    }
    if query
        .get("index")
        .is_some_and(|i| i.parse::<u64>().is_err())
    {
        return error(400, "Invalid index");
    }
    let who = caller(cluster, token);
    let can_read = match who {
        Caller::Unknown => return error(403, "ACL not found"),
        Caller::Known { .. } => true,
        Caller::Anonymous => !cluster.acl_enabled,
    };
    // agent:write / operator:write / service:write: only a management token has them here.
    let can_write = matches!(who, Caller::Known { management: true }) || !cluster.acl_enabled;
    match parts.as_slice() {
        ["v1", "status", "leader"] => expect(Method::Get).unwrap_or_else(|| {
            let leader = cluster
                .leader
                .as_deref()
                .and_then(|name| cluster.node(name));
            json(
                &leader
                    .map(|n| format!("{}:8300", n.address))
                    .unwrap_or_default(),
                pretty,
            )
        }),
        ["v1", "status", "peers"] => expect(Method::Get).unwrap_or_else(|| {
            let mut servers: Vec<_> = cluster.servers().collect();
            servers.sort_by(|a, b| a.name.cmp(&b.name));
            json(
                &servers
                    .iter()
                    .map(|n| format!("{}:8300", n.address))
                    .collect::<Vec<_>>(),
                pretty,
            )
        }),
        ["v1", "agent", "members"] => expect(Method::Get).unwrap_or_else(|| {
            let wan = query.get("wan").is_some_and(|v| v != "0" && v != "false");
            if wan && query.get("segment").is_some_and(|s| !s.is_empty()) {
                return error(400, "Cannot provide a segment with wan=true");
            }
            let local_is_server = cluster
                .node(&cluster.local_node)
                .is_some_and(|n| n.role == Role::Server);
            if wan && !local_is_server {
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
        }),
        ["v1", "agent", "force-leave", node] => expect(Method::Put).unwrap_or_else(|| {
            if !can_write {
                return error(403, "Permission denied");
            }
            let prune = query.contains_key("prune");
            // A server agent also removes a WAN member, `NODE.DC` (Consul 1.9.3's
            // `Server.RemoveFailedNode`); the double keeps one status per server, so the WAN
            // name acts on the server node.
            let local_is_server = cluster
                .node(&cluster.local_node)
                .is_some_and(|n| n.role == Role::Server);
            let wan_suffix = format!(".{}", cluster.datacenter);
            let lan_name = match node.strip_suffix(wan_suffix.as_str()) {
                Some(name)
                    if local_is_server
                        && cluster.node(name).is_some_and(|n| n.role == Role::Server) =>
                {
                    name
                }
                _ => node,
            };
            let Some(at) = cluster.nodes.iter().position(|n| n.name == lan_name) else {
                return error(500, format!("agent: No node found with name '{node}'"));
            };
            // A node that is still alive answers the gossip and rejoins at once.
            if cluster.nodes[at].status != Status::Alive {
                if prune {
                    let name = cluster.nodes.remove(at).name;
                    cluster.services.retain(|s| s.node != name);
                } else {
                    cluster.nodes[at].status = Status::Left;
                }
            }
            empty()
        }),
        ["v1", "agent", "service", "deregister", id] => expect(Method::Put).unwrap_or_else(|| {
            if !can_write {
                return error(403, "Permission denied");
            }
            let local = cluster.local_node.clone();
            let before = cluster.services.len();
            cluster
                .services
                .retain(|s| !(s.node == local && s.id == *id));
            if cluster.services.len() == before && cluster.acl_enabled {
                // With ACLs off, 1.9.3 only logs this and answers 200.
                return error(500, format!("Unknown service {id:?}"));
            }
            empty()
        }),
        ["v1", "agent", "reload"] => expect(Method::Put).unwrap_or_else(|| {
            if !can_write {
                return error(403, "Permission denied");
            }
            match &cluster.reload_error {
                Some(text) => error(500, text.clone()),
                None => empty(),
            }
        }),
        ["v1", "agent", "self"] => expect(Method::Get).unwrap_or_else(|| {
            // agent:read; the double keeps the part of Consul's answer that says who this
            // agent is (`Config`, `Member`), not its whole configuration.
            if !can_read {
                return error(403, "Permission denied");
            }
            match cluster.node(&cluster.local_node) {
                Some(node) => json(&wire::agent_self(cluster, node), pretty),
                None => error(500, "agent: local node not found"),
            }
        }),
        ["v1", "agent", "services"] => expect(Method::Get).unwrap_or_else(|| {
            // The local agent's services by ID; what an anonymous caller may not read is left out.
            let services: BTreeMap<String, wire::AgentService> = cluster
                .services
                .iter()
                .filter(|s| s.node == cluster.local_node && can_read)
                .map(|s| (s.id.clone(), wire::agent_service(cluster, s)))
                .collect();
            json(&services, pretty)
        }),
        ["v1", "catalog", rest @ ..] => expect(Method::Get).unwrap_or_else(|| {
            let local_is_client = cluster
                .node(&cluster.local_node)
                .is_some_and(|n| n.role == Role::Client);
            if local_is_client && !cluster.servers().any(|s| s.status == Status::Alive) {
                return error(500, "No known Consul servers");
            }
            if cluster.leader.is_none() && !query.contains_key("stale") {
                return error(500, "No cluster leader");
            }
            Answer {
                blocking: true,
                ..catalog(cluster, rest, query, can_read, pretty)
            }
        }),
        ["v1", "health", "state", "critical"] => expect(Method::Get).unwrap_or_else(|| {
            // node:read and service:read: an anonymous caller under default-deny sees none.
            let checks = if can_read {
                wire::critical_checks(cluster)
            } else {
                Vec::new()
            };
            Answer {
                blocking: true,
                ..json(&checks, pretty)
            }
        }),
        ["v1", "operator", "keyring"] => expect(Method::Get).unwrap_or_else(|| {
            // keyring:read; only the management token has it here.
            if !can_write {
                return error(403, "Permission denied");
            }
            json(&wire::keyring(cluster), pretty)
        }),
        ["v1", "operator", "raft", "configuration"] => expect(Method::Get).unwrap_or_else(|| {
            // operator:read.
            if !can_write {
                return error(403, "Permission denied");
            }
            if cluster.leader.is_none() && !query.contains_key("stale") {
                return error(500, "No cluster leader");
            }
            json(&wire::raft_configuration(cluster), pretty)
        }),
        ["v1", "acl", "bootstrap"] => {
            expect(Method::Put).unwrap_or_else(|| acl_bootstrap(cluster, pretty))
        }
        ["v1", "acl", "token", "self"] => expect(Method::Get).unwrap_or_else(|| {
            if !cluster.acl_enabled {
                return error(401, "ACL support disabled");
            }
            match token.and_then(|secret| cluster.token(secret)) {
                Some(found) => Answer {
                    blocking: true,
                    ..json(&wire::acl_token(found), pretty)
                },
                None => error(403, "ACL not found"),
            }
        }),
        ["v1", "acl", "token", accessor] if *method == Method::Delete => {
            // Deleting is idempotent here: an unknown AccessorID answers `true` too (the
            // fixtures hold no delete answer; this follows the API docs' `true` body).
            if !can_write {
                return error(403, "Permission denied");
            }
            cluster.tokens.retain(|t| t.accessor != *accessor);
            json(&true, pretty)
        }
        _ => Answer {
            status: 404,
            ..empty_with("404 page not found\n")
        },
    }
}

fn empty_with(text: &str) -> Answer {
    Answer {
        body: text.as_bytes().to_vec(),
        ..empty()
    }
}

/// Whether `node` has every `key:value` of a `node-meta` filter (the double keeps one filter
/// per request; Consul takes the parameter several times).
fn meta_matches(node: &crate::model::Node, filter: Option<&String>) -> bool {
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
fn sort_near(cluster: &Cluster, nodes: &mut [&crate::model::Node], near: Option<&String>) {
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
    let distance = |n: &crate::model::Node| {
        n.coordinate
            .as_ref()
            .map_or(f64::INFINITY, |c| origin.distance_to(c))
    };
    nodes.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
}

fn catalog<'a>(
    cluster: &'a Cluster,
    rest: &[&str],
    query: &BTreeMap<String, String>,
    can_read: bool,
    pretty: bool,
) -> Answer {
    // Consul's leader reaps members that left from the catalog; failed ones stay.
    let mut nodes: Vec<_> = cluster
        .nodes
        .iter()
        .filter(|n| can_read && n.status != crate::model::Status::Left)
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    // Lookups by node name are not filtered; lists are.
    let by_name = nodes.clone();
    let node_meta = query.get("node-meta");
    nodes.retain(|n| meta_matches(n, node_meta));
    sort_near(cluster, &mut nodes, query.get("near"));
    fn services_on<'a>(
        cluster: &'a Cluster,
        node: &'a str,
    ) -> impl Iterator<Item = &'a crate::model::Service> {
        cluster.services.iter().filter(move |s| s.node == node)
    }
    let services_of = |node: &'a str| services_on(cluster, node);
    match rest {
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
                for service in services_of(&node.name) {
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
                    services: services_of(&node.name)
                        .map(|s| (s.id.clone(), wire::node_service(s)))
                        .collect(),
                },
                pretty,
            ),
            None => json(&serde_json::Value::Null, pretty),
        },
        ["node-services", name] => {
            let node = cluster.lookup_node(name).filter(|n| by_name.contains(n));
            let mut services: Vec<_> = node
                .map(|n| services_of(&n.name).collect())
                .unwrap_or_default();
            services.sort_by(|a, b| a.id.cmp(&b.id));
            json(
                &wire::NodeServiceList {
                    node: node.map(|n| wire::catalog_node(cluster, n)),
                    services: node.map(|_| services.into_iter().map(wire::node_service).collect()),
                },
                pretty,
            )
        }
        ["service", name] => {
            let list: Vec<_> = nodes
                .iter()
                .flat_map(|node| {
                    services_of(&node.name)
                        .filter(|s| s.name == *name)
                        .map(|s| wire::service_node(cluster, node, s))
                })
                .collect();
            json(&list, pretty)
        }
        _ => Answer {
            status: 404,
            ..empty_with("404 page not found\n")
        },
    }
}

/// `PUT /v1/acl/bootstrap`, with the texts each hop adds: none on the leader, one
/// `rpc error making call: ` on a follower, two on a client agent.
fn acl_bootstrap(cluster: &mut Cluster, pretty: bool) -> Answer {
    use crate::model::BootstrapRefusal;
    if !cluster.acl_enabled {
        return error(401, "ACL support disabled");
    }
    if cluster.acl_legacy_mode {
        return error(500, "The ACL system is currently in legacy mode.");
    }
    let local_role = cluster.node(&cluster.local_node).map(|n| n.role);
    let hops = match local_role {
        _ if cluster.leader.as_deref() == Some(cluster.local_node.as_str()) => "",
        Some(Role::Server) => "rpc error making call: ",
        _ => "rpc error making call: rpc error making call: ",
    };
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
