//! The double as Consul 1.10.12 against what a real 1.10.12 answered
//! (`tests/fixtures/consul/1.10.12`, recorded from a real agent): every request of
//! `headers.txt` is replayed against `Cluster::recorded_1_10_12` put in the state the real
//! cluster was in, and the status, the Content-Type and the body must be what was recorded.

mod common;

use common::{request, status_code, Fixtures, Reply};
use consul_double::{Cluster, Double, Role, Status};
use serde_json::Value;

const F: Fixtures = Fixtures("1.10.12");
/// The recorded cluster's bootstrap token.
const TOKEN: &str = "9db38395-8190-f21e-6ac9-292481a159f4";

/// One request of `headers.txt`: the file it answered, how it was asked, and what came back.
struct Recorded {
    file: String,
    method: String,
    target: String,
    port: u16,
    token: bool,
    status: u16,
    content_type: Option<String>,
}

fn recorded() -> Vec<Recorded> {
    F.text("headers.txt")
        .split("== ")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let head = lines.next().unwrap();
            let (file, rest) = head.split_once(": ").unwrap();
            let (method, rest) = rest.split_once(' ').unwrap();
            let (target, rest) = rest.split_once(" (agent port ").unwrap();
            let port = rest[..5].parse().unwrap();
            let status = status_code(lines.next().unwrap());
            let content_type = lines
                .find_map(|l| l.strip_prefix("Content-Type: "))
                .map(str::to_owned);
            Recorded {
                file: file.to_owned(),
                method: method.to_owned(),
                target: target.to_owned(),
                port,
                token: rest.contains("with a token"),
                status,
                content_type,
            }
        })
        .collect()
}

fn node_of(port: u16) -> &'static str {
    match port {
        18510 | 18590 => "server-srv1-example-com",
        18520 => "server-srv2-example-com",
        18530 => "server-srv3-example-com",
        18540 => "agent-mail-example-com",
        other => panic!("no agent on port {other}"),
    }
}

/// The recorded cluster as it was when `file` was recorded (see the README's "What was done").
fn cluster_for(file: &str, data_dir: &std::path::Path) -> Cluster {
    let mut cluster = Cluster::recorded_1_10_12();
    let proxy = "agent-proxy-example-com";
    match file {
        "v1_acl_bootstrap_200.json" => {
            cluster.tokens.clear();
            cluster.bootstraps = 0;
        }
        f if f.starts_with("v1_acl_bootstrap_403") => cluster.bootstrap_index = 19,
        "v1_acl_bootstrap_500_bad_reset_index.txt" => {
            cluster.bootstrap_index = 19;
            std::fs::write(data_dir.join("acl-bootstrap-reset"), "18\n").unwrap();
            cluster.data_dir = Some(data_dir.to_owned());
        }
        "v1_acl_bootstrap_500_legacy_mode.txt" | "v1_status_leader_lone_server.json" => {
            cluster.acl_legacy_mode = true;
            cluster.leader = None;
        }
        f if f.ends_with("_failed.json")
            || f == "v1_agent_force-leave_agent-proxy-example-com.txt" =>
        {
            cluster.set_status(proxy, Status::Failed);
        }
        f if f.ends_with("_left.json") || f == "v1_agent_force-leave_prune.txt" => {
            cluster.set_status(proxy, Status::Left);
        }
        f if f.contains("no_leader") || f.contains("no_cluster_leader") => {
            cluster.leader = None;
            for server in ["server-srv1-example-com", "server-srv3-example-com"] {
                cluster.set_status(server, Status::Failed);
            }
            cluster.nodes.retain(|n| n.name != proxy);
        }
        "error_500_no_known_servers.txt" => {
            cluster.leader = None;
            let servers: Vec<String> = cluster.servers().map(|n| n.name.clone()).collect();
            for server in servers {
                cluster.set_status(&server, Status::Failed);
            }
        }
        _ => {}
    }
    cluster
}

/// Bodies whose order is Go map order in Consul (serf's member list): compared as sets.
fn normalized(file: &str, body: &[u8]) -> Option<Value> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    if file.starts_with("v1_agent_members") {
        if let Some(list) = value.as_array_mut() {
            list.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
        }
    }
    if file.starts_with("v1_health_state_critical") {
        // The raft index at which serf marked a member failed is not in the model.
        for check in value.as_array_mut()? {
            if check["CheckID"] == "serfHealth" {
                check["ModifyIndex"] = Value::Null;
            }
        }
    }
    if file.starts_with("v1_agent_self") {
        // The double answers only `Config` and `Member` of /v1/agent/self.
        value = serde_json::json!({"Config": value["Config"], "Member": value["Member"]});
    }
    Some(value)
}

fn check(record: &Recorded, reply: &Reply) {
    let file = &record.file;
    assert_eq!(reply.status, record.status, "{file}: {}", reply.text());
    assert_eq!(
        reply.header("Content-Type"),
        record.content_type.as_deref(),
        "{file}"
    );
    let expected = F.read(file);
    let exact = !file.starts_with("v1_agent_members")
        && !file.starts_with("v1_agent_self")
        && !file.starts_with("v1_health_state_critical");
    if exact || expected.len() <= 5 {
        assert_eq!(reply.text(), F.text(file), "{file}");
    } else {
        assert_eq!(
            normalized(file, &reply.body),
            normalized(file, &expected),
            "{file}"
        );
    }
}

#[test]
fn every_recorded_request_is_answered_as_the_real_agent_answered_it() {
    let data_dir = tempfile::tempdir().unwrap();
    let records = recorded();
    assert!(records.len() > 60, "{} records", records.len());
    for record in &records {
        let mut cluster = cluster_for(&record.file, data_dir.path());
        cluster.local_node = node_of(record.port).to_owned();
        let double = Double::start(cluster).unwrap();
        // `..._acl_not_found` was asked with a token no one created.
        let token = match record.token {
            true if record.file.contains("acl_not_found") => {
                Some("11111111-2222-3333-4444-555555555555")
            }
            true => Some(TOKEN),
            false => None,
        };
        let reply = request(&double, &record.method, &record.target, token);
        check(record, &reply);
    }
}

#[test]
fn force_leave_moves_a_failed_member_to_left_and_prune_removes_it() {
    let mut cluster = Cluster::recorded_1_10_12();
    cluster.set_status("agent-proxy-example-com", Status::Failed);
    let double = Double::start(cluster).unwrap();
    let put = |target: &str| request(&double, "PUT", target, Some(TOKEN));
    assert_eq!(
        put("/v1/agent/force-leave/agent-proxy-example-com").status,
        200
    );
    let members = request(
        &double,
        "GET",
        "/v1/agent/members?segment=_all&pretty",
        Some(TOKEN),
    );
    assert_eq!(
        normalized("v1_agent_members", &members.body),
        normalized("v1_agent_members", &F.read("v1_agent_members_left.json"))
    );
    assert_eq!(
        put("/v1/agent/force-leave/agent-proxy-example-com?prune=1").status,
        200
    );
    assert!(double.cluster().node("agent-proxy-example-com").is_none());
    // The recorded servers were started as service-discover starts three: expect=2.
    assert!(double
        .cluster()
        .servers()
        .all(|n| n.role == Role::Server && n.ports.grpc.is_none()));
}
