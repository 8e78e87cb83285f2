//! The double as Consul 1.21.4 (what a new Carbonio install runs) against every file of
//! tests/fixtures/consul/1.21.4 that it serves: bodies byte for byte (as sets only where
//! Consul's order is Go map order), status codes, error texts and content types.

mod common;

use common::{get, request, sorted_by_name, tag_sets, Fixtures, TOKEN};
use consul_double::{Cluster, Double, Status, Version};
use serde_json::Value;

const F: Fixtures = Fixtures("1.21.4");

fn double() -> Double {
    Double::start(Cluster::fixture_at(Version::V1_21_4)).unwrap()
}

#[test]
fn json_bodies_match_the_fixtures() {
    let double = double();
    for (target, file) in [
        ("/v1/status/leader?pretty", "v1_status_leader.json"),
        ("/v1/status/peers?pretty", "v1_status_peers.json"),
        ("/v1/catalog/nodes?pretty", "v1_catalog_nodes.json"),
        (
            "/v1/catalog/service/carbonio-mailbox?pretty",
            "v1_catalog_service_carbonio-mailbox.json",
        ),
        ("/v1/acl/token/self?pretty", "v1_acl_token_self.json"),
        ("/v1/agent/self?pretty", "v1_agent_self.json"),
        ("/v1/operator/keyring?pretty", "v1_operator_keyring.json"),
        (
            "/v1/operator/raft/configuration?pretty",
            "v1_operator_raft_configuration.json",
        ),
    ] {
        let reply = get(&double, target);
        assert_eq!(reply.status, 200, "{target}: {}", reply.text());
        assert_eq!(reply.header("Content-Type"), Some("application/json"));
        F.assert_same_bytes(&reply, file);
    }
    for node in [
        "agent-mail-example-com",
        "agent-proxy-example-com",
        "server-srv1-example-com",
        "UNKNOWN",
    ] {
        for kind in ["node", "node-services"] {
            let reply = get(&double, &format!("/v1/catalog/{kind}/{node}?pretty"));
            F.assert_same_bytes(&reply, &format!("v1_catalog_{kind}_{node}.json"));
        }
    }
}

#[test]
fn members_carry_each_nodes_own_tags() {
    let double = double();
    for (target, file) in [
        (
            "/v1/agent/members?segment=_all&pretty",
            "v1_agent_members.json",
        ),
        (
            "/v1/agent/members?segment=_all&wan=1&pretty",
            "v1_agent_members_wan.json",
        ),
    ] {
        let reply = get(&double, target);
        assert_eq!(
            sorted_by_name(&reply.body),
            sorted_by_name(&F.read(file)),
            "{file}"
        );
    }
    let reply = get(&double, "/v1/catalog/services?pretty");
    assert_eq!(
        tag_sets(&reply.body),
        tag_sets(&F.read("v1_catalog_services.json"))
    );
    *double.cluster() = Cluster::fixture_degraded().with_version(Version::V1_21_4);
    let reply = get(&double, "/v1/agent/members?segment=_all&pretty");
    F.assert_same_bytes(&reply, "v1_agent_members_degraded.json");
    let reply = get(&double, "/v1/health/state/critical?pretty");
    F.assert_same_bytes(&reply, "v1_health_state_critical_degraded.json");
    // A 1.9.3 node in a 1.21.4 cluster (mid-upgrade) tags itself as 1.9.3 does.
    double.cluster().nodes[1].version = Version::V1_9_3;
    double.cluster().nodes[1].revision = "f55da930".into();
    let members: Vec<Value> =
        serde_json::from_str(&get(&double, "/v1/agent/members").text()).unwrap();
    let mail = members
        .iter()
        .find(|m| m["Name"] == "agent-mail-example-com")
        .unwrap();
    assert_eq!(mail["Tags"]["build"], "1.9.3:f55da930");
    assert_eq!(mail["Tags"]["acls"], "1", "clients sent acls before 1.11");
}

#[test]
fn error_texts_and_statuses_are_1_21_4s() {
    let double = double();
    let anonymous = |method: &str, target: &str| request(&double, method, target, None);
    for (reply, status, file) in [
        (
            anonymous("PUT", "/v1/agent/force-leave/agent-proxy-example-com"),
            403,
            "v1_agent_force-leave_403_anonymous.txt",
        ),
        (
            anonymous("PUT", "/v1/agent/reload"),
            403,
            "v1_agent_reload_403_anonymous.txt",
        ),
        (
            anonymous("GET", "/v1/agent/self"),
            403,
            "v1_agent_self_403_anonymous.txt",
        ),
        (
            anonymous("GET", "/v1/operator/keyring"),
            403,
            "v1_operator_keyring_403_anonymous.txt",
        ),
        (
            request(
                &double,
                "PUT",
                "/v1/agent/force-leave/nope.example.com",
                Some(TOKEN),
            ),
            500,
            "v1_agent_force-leave_500_unknown_node.txt",
        ),
        (
            request(
                &double,
                "DELETE",
                "/v1/acl/token/00000000-0000-4000-8000-00000000beef",
                Some(TOKEN),
            ),
            404,
            "v1_acl_token_DELETE_404_unknown.txt",
        ),
        (
            get(&double, "/v1/agent/members?wan=1&segment=x"),
            400,
            "v1_agent_members_400_segment_with_wan.txt",
        ),
        (
            get(&double, "/v1/no/such/path"),
            404,
            "error_404_unknown_path.txt",
        ),
        (
            request(&double, "GET", "/v1/acl/token/self", Some("wrong-token")),
            403,
            "error_403_acl_not_found.txt",
        ),
    ] {
        F.assert_error(reply, status, file);
    }
    double.cluster().local_node = "agent-mail-example-com".into();
    F.assert_error(
        request(
            &double,
            "PUT",
            "/v1/agent/service/deregister/nope",
            Some(TOKEN),
        ),
        404,
        "v1_agent_service_deregister_404_unknown_service.txt",
    );
    F.assert_error(
        anonymous("PUT", "/v1/agent/service/deregister/carbonio-mailbox"),
        403,
        "v1_agent_service_deregister_403_anonymous.txt",
    );
    // 1.21.4 has no ACL legacy mode: without a leader, bootstrap finds none.
    double.cluster().local_node = "server-srv1-example-com".into();
    double.cluster().acl_legacy_mode = true;
    double.cluster().leader = None;
    F.assert_error(
        anonymous("PUT", "/v1/acl/bootstrap"),
        500,
        "v1_acl_bootstrap_500_no_cluster_leader.txt",
    );
}

#[test]
fn force_leave_finds_wan_names_and_empty_answers_are_typed() {
    let double = double();
    double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "server-srv2-example-com")
        .unwrap()
        .status = Status::Failed;
    for target in [
        "/v1/agent/force-leave/server-srv2-example-com.dc1",
        "/v1/agent/force-leave/SERVER-SRV2-example-com",
        "/v1/agent/force-leave/server-srv2-example-com.dc1?wan",
    ] {
        let reply = request(&double, "PUT", target, Some(TOKEN));
        assert_eq!((reply.status, reply.text().as_str()), (200, ""), "{target}");
        assert_eq!(reply.header("Content-Type"), Some("application/json"));
    }
    let reply = request(
        &double,
        "PUT",
        "/v1/agent/force-leave/nope?wan",
        Some(TOKEN),
    );
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (500, "agent: No node found with name ''")
    );
    double.cluster().local_node = "agent-mail-example-com".into();
    let reply = request(&double, "PUT", "/v1/agent/force-leave/x?wan", Some(TOKEN));
    assert_eq!(
        reply.text(),
        "Must be a server to force-leave a node from the WAN cluster"
    );
}

#[test]
fn bootstrap_texts_are_unchanged_from_1_9_3() {
    let mut cluster = Cluster::fixture_unbootstrapped().with_version(Version::V1_21_4);
    cluster.local_node = "server-srv2-example-com".into();
    let double = Double::start(cluster).unwrap();
    let first = request(&double, "PUT", "/v1/acl/bootstrap?pretty", None);
    assert_eq!(first.status, 200);
    F.assert_same_bytes(&first, "v1_acl_bootstrap_200.json");
    F.assert_error(
        request(&double, "PUT", "/v1/acl/bootstrap", None),
        403,
        "v1_acl_bootstrap_403_via_follower.txt",
    );
    double.cluster().local_node = "agent-mail-example-com".into();
    F.assert_error(
        request(&double, "PUT", "/v1/acl/bootstrap", None),
        403,
        "v1_acl_bootstrap_403_via_client_agent.txt",
    );
}

/// `/v1/operator/autopilot/health` in Consul's documented shape: every raft server, healthy
/// while in contact and current; 429 with the same document once one is not (a failed
/// server, one trailing the leader); operator:read.
#[test]
fn autopilot_health_is_429_when_a_server_is_unhealthy() {
    let double = double();
    let reply = get(&double, "/v1/operator/autopilot/health");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let health: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        (&health["Healthy"], &health["FailureTolerance"]),
        (&Value::from(true), &Value::from(1))
    );
    let servers = health["Servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    for key in [
        "ID",
        "Name",
        "Address",
        "SerfStatus",
        "Version",
        "Leader",
        "LastContact",
        "LastTerm",
        "LastIndex",
        "Healthy",
        "Voter",
        "StableSince",
    ] {
        assert!(servers[0].get(key).is_some(), "{key} in {}", servers[0]);
    }
    double
        .cluster()
        .raft_lag
        .insert("server-srv2-example-com".into(), ("1.5s".into(), 900));
    let reply = get(&double, "/v1/operator/autopilot/health");
    assert_eq!(reply.status, 429);
    let health: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        (&health["Healthy"], &health["FailureTolerance"]),
        (&Value::from(false), &Value::from(0))
    );
    double.cluster().raft_lag.clear();
    double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "server-srv3-example-com")
        .unwrap()
        .status = Status::Failed;
    assert_eq!(get(&double, "/v1/operator/autopilot/health").status, 429);
    let anonymous = request(&double, "GET", "/v1/operator/autopilot/health", None);
    assert_eq!(anonymous.status, 403, "{}", anonymous.text());
}
