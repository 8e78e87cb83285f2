//! The double as Consul 1.9.3 against every file of tests/fixtures/consul/1.9.3 that it serves: bodies byte for
//! byte (order-insensitive only where Consul's own order is Go map order), status codes, error
//! texts, encodings and headers.

mod common;

use common::{get, request, sorted_by_name, tag_sets, Fixtures, TOKEN};
use consul_double::{Cluster, Double, Status};
use serde_json::Value;

/// The 1.9.3 files, written from Consul's source at that tag.
const F: Fixtures = Fixtures("1.9.3");

fn fixture(name: &str) -> Vec<u8> {
    F.read(name)
}

fn assert_same_bytes(reply: &common::Reply, file: &str) {
    F.assert_same_bytes(reply, file)
}

fn assert_error(reply: common::Reply, status: u16, file: &str) {
    F.assert_error(reply, status, file)
}

#[test]
fn json_bodies_match_the_fixtures() {
    let double = Double::start(Cluster::fixture()).unwrap();
    for (target, file) in [
        ("/v1/status/leader?pretty", "v1_status_leader.json"),
        ("/v1/status/peers?pretty", "v1_status_peers.json"),
        (
            "/v1/agent/members?segment=_all&pretty",
            "v1_agent_members.json",
        ),
        ("/v1/catalog/nodes?pretty", "v1_catalog_nodes.json"),
        (
            "/v1/catalog/node/agent-mail-example-com?pretty",
            "v1_catalog_node_agent-mail-example-com.json",
        ),
        (
            "/v1/catalog/node/agent-proxy-example-com?pretty",
            "v1_catalog_node_agent-proxy-example-com.json",
        ),
        (
            "/v1/catalog/node/server-srv1-example-com?pretty",
            "v1_catalog_node_server-srv1-example-com.json",
        ),
        (
            "/v1/catalog/node/UNKNOWN?pretty",
            "v1_catalog_node_UNKNOWN.json",
        ),
        (
            "/v1/catalog/node-services/agent-mail-example-com?pretty",
            "v1_catalog_node-services_agent-mail-example-com.json",
        ),
        (
            "/v1/catalog/node-services/agent-proxy-example-com?pretty",
            "v1_catalog_node-services_agent-proxy-example-com.json",
        ),
        (
            "/v1/catalog/node-services/server-srv1-example-com?pretty",
            "v1_catalog_node-services_server-srv1-example-com.json",
        ),
        (
            "/v1/catalog/node-services/UNKNOWN?pretty",
            "v1_catalog_node-services_UNKNOWN.json",
        ),
        (
            "/v1/catalog/service/carbonio-mailbox?pretty",
            "v1_catalog_service_carbonio-mailbox.json",
        ),
        ("/v1/acl/token/self?pretty", "v1_acl_token_self.json"),
    ] {
        let reply = get(&double, target);
        assert_eq!(reply.status, 200, "{target}: {}", reply.text());
        assert_eq!(
            reply.header("Content-Type"),
            Some("application/json"),
            "{target}"
        );
        assert_same_bytes(&reply, file);
    }
}

#[test]
fn map_ordered_bodies_match_as_sets() {
    let double = Double::start(Cluster::fixture()).unwrap();
    // WAN members come in Go map order.
    let reply = get(&double, "/v1/agent/members?wan=1&pretty");
    assert_eq!(
        sorted_by_name(&reply.body),
        sorted_by_name(&fixture("v1_agent_members_wan.json"))
    );
    let reply = get(&double, "/v1/catalog/services?pretty");
    assert_eq!(
        tag_sets(&reply.body),
        tag_sets(&fixture("v1_catalog_services.json"))
    );
}

#[test]
fn the_model_changes_what_is_served() {
    let double = Double::start(Cluster::fixture_degraded()).unwrap();
    assert_same_bytes(
        &get(&double, "/v1/agent/members?segment=_all&pretty"),
        "v1_agent_members_degraded.json",
    );
    // A member that left is reaped from the catalog; a failed one stays.
    let nodes: Vec<Value> =
        serde_json::from_str(&get(&double, "/v1/catalog/nodes").text()).unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["Node"].as_str().unwrap()).collect();
    assert!(!names.contains(&"agent-mta-example-com"), "{names:?}");
    assert!(names.contains(&"agent-proxy-example-com"), "{names:?}");
    assert!(names.contains(&"agent-files-example-com"), "{names:?}");
    double.cluster().leader = None;
    assert_same_bytes(
        &get(&double, "/v1/status/leader?pretty"),
        "v1_status_leader_no_leader.json",
    );
}

#[test]
fn a_node_is_found_by_name_then_by_a_unique_node_id_prefix() {
    let double = Double::start(Cluster::fixture_degraded()).unwrap();
    // The seeds' `consul catalog services -node b9bb7ab4`: the short ID `catalog nodes` prints.
    // An odd length is cut to an even one: `b9bb7ab45` looks up `b9bb7ab4`.
    for key in [
        "agent-files-example-com",
        "b9bb7ab4",
        "b9bb7ab45",
        "B9BB7AB4-5d1e",
    ] {
        let node: Value =
            serde_json::from_str(&get(&double, &format!("/v1/catalog/node/{key}")).text()).unwrap();
        assert_eq!(node["Node"]["Node"], "agent-files-example-com", "{key}");
        assert_eq!(
            node["Node"]["TaggedAddresses"]["lan_ipv6"], "2001:db8:56::113",
            "an IPv6 address is tagged _ipv6"
        );
        assert!(node["Node"]["TaggedAddresses"].get("lan_ipv4").is_none());
        let list: Value =
            serde_json::from_str(&get(&double, &format!("/v1/catalog/node-services/{key}")).text())
                .unwrap();
        assert_eq!(list["Node"]["Node"], "agent-files-example-com", "{key}");
    }
    // Too short, cut to one character, unknown, the ID of a member that left, a hostname:
    // Consul answers null.
    for key in ["b", "zzzz", "3c9e1a57", "files.example.com"] {
        assert_eq!(
            get(&double, &format!("/v1/catalog/node/{key}")).text(),
            "null",
            "{key}"
        );
    }
    // A prefix two nodes share finds neither (00000001-... and 00000002-...).
    let generated = Double::start(Cluster::generated(2, 0, 0)).unwrap();
    assert_eq!(get(&generated, "/v1/catalog/node/0000000").text(), "null");
    let node: Value =
        serde_json::from_str(&get(&generated, "/v1/catalog/node/00000002").text()).unwrap();
    assert_eq!(node["Node"]["Node"], "server-srv2-mesh-test");
}

#[test]
fn agent_self_names_the_answering_agents_node() {
    let double = Double::start(Cluster::fixture()).unwrap();
    let me: Value = serde_json::from_str(&get(&double, "/v1/agent/self").text()).unwrap();
    assert_eq!(me["Config"]["NodeName"], "server-srv1-example-com");
    assert_eq!(me["Config"]["Server"], true);
    assert_eq!(me["Member"]["Addr"], "192.168.56.101");
    double.cluster().local_node = "agent-mail-example-com".into();
    let me: Value = serde_json::from_str(&get(&double, "/v1/agent/self").text()).unwrap();
    assert_eq!(me["Config"]["NodeName"], "agent-mail-example-com");
    assert_eq!(me["Config"]["Server"], false);
}

#[test]
fn compact_without_pretty_and_go_escaping() {
    let double = Double::start(Cluster::fixture()).unwrap();
    let reply = get(&double, "/v1/catalog/nodes");
    let compact = reply.text();
    assert!(
        !compact.contains('\n') && !compact.contains("  "),
        "{compact}"
    );
    let parsed: Value = serde_json::from_str(&compact).unwrap();
    assert_eq!(
        parsed,
        serde_json::from_slice::<Value>(&fixture("v1_catalog_nodes.json")).unwrap()
    );
    double.cluster().nodes[0].name = "a<b>&c".into();
    let text = get(&double, "/v1/agent/members").text();
    assert!(text.contains(r#""Name":"a\u003cb\u003e\u0026c""#), "{text}");
}

#[test]
fn error_texts_and_status_codes_match_the_fixtures() {
    let double = Double::start(Cluster::fixture()).unwrap();
    let check = assert_error;
    check(
        request(&double, "GET", "/v1/acl/token/self", Some("wrong-token")),
        403,
        "error_403_acl_not_found.txt",
    );
    check(
        request(&double, "GET", "/v1/catalog/nodes", Some("wrong-token")),
        403,
        "error_403_acl_not_found.txt",
    );
    check(
        get(&double, "/v1/agent/members?wan=1&segment=x"),
        400,
        "v1_agent_members_400_segment_with_wan.txt",
    );
    check(
        get(&double, "/v1/catalog/nodes?stale&consistent"),
        400,
        "error_400_stale_and_consistent.txt",
    );
    check(
        get(&double, "/v1/catalog/nodes?dc=dc9"),
        500,
        "error_500_no_path_to_datacenter.txt",
    );
    let reply = request(&double, "PUT", "/v1/status/leader", Some(TOKEN));
    assert_eq!(reply.status, 405);
    assert_eq!(reply.text(), "method PUT not allowed");
    double.cluster().leader = None;
    check(
        get(&double, "/v1/catalog/nodes"),
        500,
        "error_500_no_cluster_leader.txt",
    );
    assert_eq!(
        get(&double, "/v1/catalog/nodes?stale").status,
        200,
        "?stale reads without a leader"
    );
    double.cluster().acl_enabled = false;
    check(
        get(&double, "/v1/acl/token/self"),
        401,
        "v1_acl_401_acl_disabled.txt",
    );
}

#[test]
fn default_deny_filters_anonymous_reads_and_headers_are_set() {
    let double = Double::start(Cluster::fixture()).unwrap();
    let reply = request(&double, "GET", "/v1/agent/members", None);
    assert_eq!((reply.status, reply.text().as_str()), (200, "[]"));
    assert_eq!(reply.header("X-Consul-Default-Acl-Policy"), Some("deny"));
    assert_eq!(
        reply.header("X-Consul-Index"),
        None,
        "agent endpoints carry no index"
    );
    assert_eq!(
        request(&double, "GET", "/v1/catalog/services", None).text(),
        "{}"
    );
    let reply = get(&double, "/v1/catalog/nodes");
    assert_eq!(reply.header("X-Consul-Index"), Some("450"));
    assert_eq!(reply.header("X-Consul-Knownleader"), Some("true"));
    assert_eq!(
        reply.header("X-Consul-Effective-Consistency"),
        Some("leader")
    );
    assert_eq!(reply.header("Vary"), Some("Accept-Encoding"));
    // The leader needs no token.
    assert_eq!(
        request(&double, "GET", "/v1/status/leader", None).text(),
        "\"192.168.56.101:8300\""
    );
    assert_eq!(double.requests().len(), 4);
}

#[test]
fn a_client_agent_answers_null_to_wan() {
    let mut cluster = Cluster::fixture();
    cluster.local_node = "agent-mail-example-com".into();
    let double = Double::start(cluster).unwrap();
    assert_eq!(get(&double, "/v1/agent/members?wan=1").text(), "null");
}

#[test]
fn acl_bootstrap_and_its_reset_index() {
    let double = Double::start(Cluster::fixture_unbootstrapped()).unwrap();
    let first = request(&double, "PUT", "/v1/acl/bootstrap?pretty", None);
    assert_eq!(first.status, 200);
    assert_same_bytes(&first, "v1_acl_bootstrap_200.json");
    let again = request(&double, "PUT", "/v1/acl/bootstrap", None);
    assert_eq!(again.status, 403);
    assert_same_bytes(&again, "v1_acl_bootstrap_403.txt");

    let data_dir = tempfile::tempdir().unwrap();
    double.cluster().data_dir = Some(data_dir.path().to_owned());
    let reset = data_dir.path().join("acl-bootstrap-reset");
    std::fs::write(&reset, "907").unwrap();
    let wrong = request(&double, "PUT", "/v1/acl/bootstrap", None);
    assert_eq!(wrong.status, 500);
    assert_same_bytes(&wrong, "v1_acl_bootstrap_500_bad_reset_index.txt");
    assert!(reset.exists(), "a wrong index leaves the file");

    std::fs::write(&reset, "908\n").unwrap();
    let reset_ok = request(&double, "PUT", "/v1/acl/bootstrap", None);
    assert_eq!(reset_ok.status, 200, "{}", reset_ok.text());
    assert!(!reset.exists(), "a used reset file is removed");
    let new: Value = serde_json::from_slice(&reset_ok.body).unwrap();
    let new_secret = new["SecretID"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, TOKEN);
    assert_eq!(new["ID"], new["SecretID"]);
    // Both the new token and the old one work: a reset does not revoke the old token.
    assert_eq!(
        request(&double, "GET", "/v1/acl/token/self", Some(&new_secret)).status,
        200
    );
    assert_eq!(
        request(&double, "GET", "/v1/acl/token/self", Some(TOKEN)).status,
        200
    );
    let new_index = new["CreateIndex"].as_u64().unwrap();
    let refused = request(&double, "PUT", "/v1/acl/bootstrap", None);
    assert_eq!(
        refused.text(),
        format!("Permission denied: ACL bootstrap no longer allowed (reset index: {new_index})")
    );
}

#[test]
fn acl_bootstrap_texts_through_hops_and_modes() {
    let mut follower = Cluster::fixture();
    follower.local_node = "server-srv2-example-com".into();
    let double = Double::start(follower).unwrap();
    assert_same_bytes(
        &request(&double, "PUT", "/v1/acl/bootstrap", None),
        "v1_acl_bootstrap_403_via_follower.txt",
    );
    double.cluster().local_node = "agent-mail-example-com".into();
    assert_same_bytes(
        &request(&double, "PUT", "/v1/acl/bootstrap", None),
        "v1_acl_bootstrap_403_via_client_agent.txt",
    );
    double.cluster().acl_legacy_mode = true;
    let legacy = request(&double, "PUT", "/v1/acl/bootstrap", None);
    assert_eq!(legacy.status, 500);
    assert_same_bytes(&legacy, "v1_acl_bootstrap_500_legacy_mode.txt");
    double.cluster().acl_enabled = false;
    let disabled = request(&double, "PUT", "/v1/acl/bootstrap", None);
    assert_eq!(disabled.status, 401);
    assert_same_bytes(&disabled, "v1_acl_401_acl_disabled.txt");
    let get = request(&double, "GET", "/v1/acl/bootstrap", None);
    assert_eq!(get.status, 405);
    assert_same_bytes(&get, "error_405_method_not_allowed_GET.txt");
    assert_eq!(get.header("Allow"), Some("OPTIONS,PUT"));
}

#[test]
fn force_leave_deregister_and_reload_change_the_model() {
    let double = Double::start(Cluster::fixture()).unwrap();
    let unknown = request(
        &double,
        "PUT",
        "/v1/agent/force-leave/nope.example.com",
        Some(TOKEN),
    );
    assert_eq!(unknown.status, 500);
    assert_same_bytes(&unknown, "v1_agent_force-leave_500_unknown_node.txt");
    assert_same_bytes(
        &request(
            &double,
            "PUT",
            "/v1/agent/force-leave/agent-mail-example-com",
            None,
        ),
        "error_403_permission_denied.txt",
    );

    double
        .cluster()
        .nodes
        .iter_mut()
        .find(|n| n.name == "agent-proxy-example-com")
        .unwrap()
        .status = Status::Failed;
    assert_eq!(
        request(
            &double,
            "PUT",
            "/v1/agent/force-leave/agent-proxy-example-com",
            Some(TOKEN)
        )
        .status,
        200
    );
    assert_eq!(
        double
            .cluster()
            .node("agent-proxy-example-com")
            .unwrap()
            .status,
        Status::Left
    );
    assert_eq!(
        request(
            &double,
            "PUT",
            "/v1/agent/force-leave/agent-proxy-example-com?prune",
            Some(TOKEN)
        )
        .status,
        200
    );
    assert!(double.cluster().node("agent-proxy-example-com").is_none());
    // An alive node rejoins: force-leave does not change it.
    assert_eq!(
        request(
            &double,
            "PUT",
            "/v1/agent/force-leave/agent-mail-example-com",
            Some(TOKEN)
        )
        .status,
        200
    );
    assert_eq!(
        double
            .cluster()
            .node("agent-mail-example-com")
            .unwrap()
            .status,
        Status::Alive
    );

    let reply = request(
        &double,
        "PUT",
        "/v1/agent/service/deregister/nope",
        Some(TOKEN),
    );
    assert_eq!(reply.status, 500);
    assert_same_bytes(
        &reply,
        "v1_agent_service_deregister_500_unknown_service.txt",
    );
    double.cluster().local_node = "agent-mail-example-com".into();
    let reply = request(
        &double,
        "PUT",
        "/v1/agent/service/deregister/carbonio-mailbox",
        Some(TOKEN),
    );
    assert_eq!((reply.status, reply.text().as_str()), (200, ""));
    assert!(!double
        .cluster()
        .services
        .iter()
        .any(|s| s.id == "carbonio-mailbox"));
    double.cluster().acl_enabled = false;
    assert_eq!(
        request(&double, "PUT", "/v1/agent/service/deregister/nope", None).status,
        200,
        "1.9.3 with ACLs off"
    );

    double.cluster().acl_enabled = true;
    assert_same_bytes(
        &request(&double, "PUT", "/v1/agent/reload", None),
        "error_403_permission_denied.txt",
    );
    assert_eq!(
        request(&double, "PUT", "/v1/agent/reload", Some(TOKEN)).status,
        200
    );
}

#[test]
fn query_parameter_errors_and_a_client_without_servers() {
    let double = Double::start(Cluster::fixture()).unwrap();
    let check = assert_error;
    check(
        get(&double, "/v1/catalog/nodes?wait=soon"),
        400,
        "error_400_invalid_wait.txt",
    );
    check(
        get(&double, "/v1/catalog/nodes?index=abc"),
        400,
        "error_400_invalid_index.txt",
    );
    assert_eq!(
        get(&double, "/v1/catalog/nodes?wait=10s&index=43").status,
        200
    );
    double.cluster().local_node = "agent-mail-example-com".into();
    for server in double
        .cluster()
        .nodes
        .iter_mut()
        .filter(|n| n.name.starts_with("server-"))
    {
        server.status = Status::Failed;
    }
    check(
        get(&double, "/v1/catalog/nodes"),
        500,
        "error_500_no_known_servers.txt",
    );
}
