//! The steps this plugin provides, each declared once in [`STEPS`] (what it does, where it goes,
//! what it needs and records) next to the function that carries it out. Each is safe to repeat:
//! it checks before it changes, and a resumed run may run it again after a crash in the middle
//! of it.

use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::nodes::{Lookup, NodeDirectory};
use carbonio_mesh_plugin_api::services::{
    ConsulRequest, Exec, ExecArg, LdapCredentials, OpenCredentials, RemovePath, ServiceErrorKind,
};
use carbonio_mesh_plugin_api::step::{
    facts, Facts, JournalRecord, StepOutcome as Outcome, StepSpec,
};
use carbonio_mesh_plugin_api::{Host, PluginError, SecretText};
use serde_json::Value;

use crate::nodes::NODES;

/// Everything a step may use.
pub struct StepContext<'a> {
    pub host: &'a Host<'a>,
    pub run: &'a str,
    pub dry_run: bool,
    pub facts: &'a Facts,
    pub new_password: Option<&'a SecretText>,
    pub service_user: &'a str,
    pub revoke_old_token: bool,
    /// `--nodes`: `all`, or names separated by commas (none: the nodes are not driven).
    pub nodes: Option<&'a str>,
    /// `--include-failed`: `--nodes all` tries failed members too.
    pub include_failed: bool,
    /// How many nodes at a time.
    pub parallel: usize,
    /// The new archive, for a node (`secret rejoin --input-stdin`).
    pub new_archive: Option<&'a SecretText>,
    /// The file holding the new archive (`secret rejoin --archive FILE`, a system path): read
    /// and checked by node-preflight, read again by install-archive (also on a resumed run:
    /// the archive never enters the journal).
    pub archive_file: Option<&'a str>,
    /// `archive_file`'s content, once a step read and checked it (see `rejoin::archive_file`).
    pub archive_read: &'a std::cell::OnceCell<SecretText>,
}

const SERVICE: &str = "service-discover";
const MAIN_JSON: &str = "/etc/zextras/service-discover/main.json";
const CONFIG_JSON: &str = "/etc/zextras/service-discover/config.json";
const LIB_DIR: &str = "/var/lib/service-discover";
const DEFAULT_DATA_DIR: &str = "/var/lib/service-discover/data";

fn fail(message: impl Into<String>) -> PluginError {
    PluginError::operation(message)
}

/// The leader's workflow, and the one each other node runs.
pub const REGENERATE: &str = "secret-regenerate";
pub const REJOIN: &str = "secret-rejoin";

/// What carries out a step.
type StepFn = fn(&StepContext<'_>) -> Result<Outcome, PluginError>;

/// Every step of this plugin, in its workflows' order: adding a step is adding it here.
pub fn steps() -> Vec<(StepSpec, StepFn)> {
    let step = StepSpec::new;
    vec![
        (
            step("preflight", "root, consul and service-discover present, Consul reachable, servers and agents counted; with --nodes, which nodes")
                .in_workflow(REGENERATE)
                .provides(&facts::SERVERS)
                .provides(&facts::AGENTS)
                .provides(&facts::OLD_ACCESSOR)
                .provides(&NODES),
            preflight,
        ),
        (
            step("find-leader", "the leader's address from /v1/status/leader")
                .in_workflow(REGENERATE)
                .provides(&facts::LEADER_IP),
            find_leader,
        ),
        (
            step("check-on-leader", "refuse unless this host is the leader")
                .in_workflow(REGENERATE)
                .needs_fact(&facts::LEADER_IP)
                .provides(&facts::SETUP_IP),
            check_on_leader,
        ),
        (
            step("read-reset-index", "PUT /v1/acl/bootstrap and read the reset index")
                .in_workflow(REGENERATE)
                .provides(&facts::RESET_INDEX)
                .provides(&facts::INTERIM_ACCESSOR)
                .changes_system(),
            read_reset_index,
        ),
        (
            step("write-reset-file", "the reset index into Consul's data directory, as its user")
                .in_workflow(REGENERATE)
                .needs_fact(&facts::RESET_INDEX)
                .provides(&facts::RESET_FILE)
                .changes_system(),
            write_reset_file,
        ),
        (
            step("node-preflight", "on a node: root, service-discover present, the new archive opens, this node's address")
                .in_workflow(REJOIN)
                .needs_password()
                .provides(&facts::SETUP_IP)
                .provides(&facts::ARCHIVE_FILE),
            node_preflight,
        ),
        (
            // Needs the address setup will use: on the leader, check-on-leader records it only
            // once it knows this host leads; nothing stops before that.
            step("stop-service", "systemctl stop service-discover")
                .in_workflow(REGENERATE)
                .in_workflow(REJOIN)
                .needs_fact(&facts::SETUP_IP)
                .changes_system(),
            stop_service,
        ),
        (
            step("backup-and-remove", "back up and remove main.json, config.json, the certificates, the archive and the password")
                .in_workflow(REGENERATE)
                .in_workflow(REJOIN)
                .needs_fact(&facts::SETUP_IP)
                .changes_system(),
            backup_and_remove,
        ),
        (
            step("install-archive", "on a node: the leader's new archive in place (--archive FILE: read and checked again)")
                .in_workflow(REJOIN)
                .needs_password()
                .changes_system(),
            install_archive,
        ),
        (
            // Consul takes the new bootstrap only with the reset file in place.
            step("run-setup", "service-discover setup IP --first-instance with the new password")
                .in_workflow(REGENERATE)
                .needs_password()
                .needs_fact(&facts::SETUP_IP)
                .needs_fact(&facts::RESET_FILE)
                .changes_system(),
            run_setup,
        ),
        (
            step("node-setup", "on a node: service-discover setup IP with the new password")
                .in_workflow(REJOIN)
                .needs_password()
                .needs_fact(&facts::SETUP_IP)
                .changes_system(),
            node_setup,
        ),
        (
            step("verify", "the new archive opens and Consul accepts its token")
                .in_workflow(REGENERATE)
                .provides(&facts::NEW_ACCESSOR),
            verify,
        ),
        (
            step("node-verify", "on a node: the new archive opens and Consul accepts its token")
                .in_workflow(REJOIN)
                .needs_password(),
            node_verify,
        ),
        (
            step("check-ldap-copy", "LDAP holds the new archive, as nodes download it there (skipped without localconfig.xml)")
                .in_workflow(REGENERATE),
            check_ldap_copy,
        ),
        (
            step("revoke-old-token", "delete the previous bootstrap token (with --revoke-old-token)")
                .in_workflow(REGENERATE)
                .changes_system(),
            revoke_old_token,
        ),
        (
            // The password goes to each node, with --nodes only: the engine asks for it then.
            step("rejoin-nodes", "set up the other nodes again through the transport (with --nodes)")
                .in_workflow(REGENERATE)
                .changes_system(),
            crate::nodes::rejoin_nodes,
        ),
        (
            step("transport", "how rejoin-nodes reaches a node: {host} is its Carbonio hostname (from LDAP), else its address; {node} its Consul node name; {address} its gossip address; the new password, then the new archive, on its standard input")
                .command(
                    [
                        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
                        "ConnectTimeout=10", "root@{host}", "carbonio-mesh", "--yes", "secret",
                        "rejoin", "--input-stdin",
                    ],
                    true,
                ),
            crate::nodes::not_a_workflow_step,
        ),
    ]
}

/// Runs this plugin's step `name`.
pub fn run(name: &str, ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    match steps().into_iter().find(|(spec, _)| spec.name == name) {
        Some((_, step)) => step(ctx),
        None => Err(PluginError::config(format!(
            "the secret plugin provides no step '{name}'"
        ))
        .hint("`carbonio-mesh secret plan` shows the steps and their providers; fix [steps] in the configuration")),
    }
}

fn preflight(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let host = ctx.host;
    let uid = host.exec(&Exec::new(["id", "-u"]))?;
    if uid.stdout.trim() != "0" {
        return Err(PluginError::usage("secret regeneration must run as root")
            .hint("run it with sudo on the Mesh leader"));
    }
    let which = host.exec(&Exec::new(["which", "consul", SERVICE]))?;
    for program in ["consul", SERVICE] {
        if !which
            .stdout
            .lines()
            .any(|l| l.ends_with(&format!("/{program}")))
        {
            return Err(
                fail(format!("'{program}' is not installed (not found in PATH)")).hint(
                    "run this on a Carbonio Mesh server, where service-discover is installed",
                ),
            );
        }
    }
    let peers: Vec<String> =
        host.consul_get(&ConsulRequest::get(&["v1", "status", "peers"]).anonymous())?;
    #[derive(serde::Deserialize)]
    struct Member {
        #[serde(rename = "Name")]
        _name: String,
    }
    let members: Vec<Member> = host.consul_get(&ConsulRequest::get(&["v1", "agent", "members"]))?;
    if peers.len() > 1 {
        host.warn(&format!(
            "{} Mesh servers: stopping service-discover on the leader makes the other servers elect a new leader, \
and this node comes back with a new CA. Every other node must then be set up again with the new archive \
(`--nodes all` does it through the transport, or run `carbonio-mesh secret rejoin` on each).",
            peers.len()
        ));
    }
    // The old token's AccessorID, to revoke it at the end: read now, before anything changes.
    let old_accessor = host
        .call(&OpenCredentials::default())
        .ok()
        .and_then(|c| {
            let member = c.member(mesh::ACL_SECRET_MEMBER)?;
            BootstrapToken::parse(member.content.expose()).ok()
        })
        .map(|t| t.accessor_id);
    let mut outcome = Outcome::new(format!(
        "root, consul and service-discover present; Consul answers: {} Mesh server(s), {} agent(s)",
        peers.len(),
        members.len()
    ))
    .fact(&facts::SERVERS, &(peers.len() as u64))
    .fact(&facts::AGENTS, &(members.len() as u64));
    if let Some(accessor) = old_accessor {
        outcome = outcome.fact(&facts::OLD_ACCESSOR, &accessor);
    }
    // The nodes to set up again, decided now: once this host has a new gossip key, the others
    // show as failed in its member list.
    if let Some(nodes) = ctx.nodes {
        crate::nodes::transport(ctx)?;
        let plan = crate::nodes::plan(ctx, nodes)?;
        outcome.detail.push_str(&format!(
            "; {} node(s) to set up again{}",
            plan.targets.len(),
            if plan.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", plan.skipped.len())
            }
        ));
        outcome = outcome.fact(&NODES, &plan);
    }
    Ok(outcome)
}

fn find_leader(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let leader: String = ctx
        .host
        .consul_get(&ConsulRequest::get(&["v1", "status", "leader"]).anonymous())?;
    let ip = crate::rejoin::leader_ip(&leader)
        .map(|ip| ip.to_string())
        .unwrap_or_default();
    if ip.is_empty() {
        return Err(
            fail("the Mesh has no leader right now (/v1/status/leader is empty)").hint(
                "wait for the servers to elect one (carbonio-mesh leader), then run it again",
            ),
        );
    }
    Ok(Outcome::new(format!("leader at {ip}")).fact(&facts::LEADER_IP, &ip))
}

fn check_on_leader(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let leader_ip = ctx.facts.require(&facts::LEADER_IP)?;
    let leader_ip = leader_ip.as_str();
    let local = ctx
        .host
        .call(&carbonio_mesh_plugin_api::services::LocalAddresses {})?;
    if local.addresses.iter().any(|a| a == leader_ip) {
        if leader_ip.starts_with("127.") || leader_ip == "::1" {
            return Err(fail(format!(
                "the leader's address {leader_ip} is a loopback address"
            ))
            .hint("service-discover setup needs this host's own network address"));
        }
        return Ok(
            Outcome::new(format!("this host is the leader ({leader_ip})"))
                .fact(&facts::SETUP_IP, &leader_ip.to_owned()),
        );
    }
    // Name the leader as admins know it: node name, hostname when known, address.
    let leader =
        NodeDirectory::load(ctx.host)
            .ok()
            .and_then(|directory| match directory.find(leader_ip) {
                Lookup::Found(node) => Some((node.node.clone(), node.host.clone())),
                _ => None,
            });
    let (name, reach) = match &leader {
        Some((node, Some(host))) => (format!("{node} ({host}, {leader_ip})"), host.as_str()),
        Some((node, None)) => (format!("{node} ({leader_ip})"), leader_ip),
        None => (leader_ip.to_owned(), leader_ip),
    };
    Err(PluginError::usage(format!(
        "this host is not the Mesh leader: the leader is {name}"
    ))
    .hint(format!("run `carbonio-mesh secret regenerate` on {reach}")))
}

/// The reset index in any of Consul's texts: `... (reset index: 908)`, with or without the
/// `rpc error making call: ` prefixes a hop adds.
pub fn parse_reset_index(text: &str) -> Option<u64> {
    let at = text.find("reset index: ")? + "reset index: ".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Answers to `PUT /v1/acl/bootstrap` that pass: Consul up to 1.10 keeps ACLs in legacy mode
/// until a leader has set them up; every version says `No cluster leader` while an election is
/// under way (from 1.11 the only one of the two, legacy mode being gone).
const TRANSIENT: [&str; 2] = [
    "The ACL system is currently in legacy mode.",
    "No cluster leader",
];

fn read_reset_index(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let put = ConsulRequest::put(&["v1", "acl", "bootstrap"])
        .accept(403)
        .accept(500);
    let mut last = String::new();
    for attempt in 1..=10 {
        let answer = ctx.host.consul(&put)?;
        if ctx.dry_run {
            return Ok(Outcome::new(
                "would ask Consul for the reset index (PUT /v1/acl/bootstrap)",
            ));
        }
        if answer.status == 200 {
            // ACLs had never been bootstrapped: this call did it. Its index is the one the
            // reset file must name, and the token it made is revoked with the old one.
            let token: serde_json::Value = answer.decode().unwrap_or_default();
            let index = token["CreateIndex"]
                .as_u64()
                .ok_or_else(|| fail("Consul's bootstrap answer has no CreateIndex"))?;
            let mut outcome = Outcome::new(format!(
                "ACLs were not bootstrapped yet; bootstrapped at index {index}"
            ))
            .fact(&facts::RESET_INDEX, &index);
            if let Some(accessor) = token["AccessorID"].as_str() {
                outcome = outcome.fact(&facts::INTERIM_ACCESSOR, &accessor.to_owned());
            }
            return Ok(outcome);
        }
        if let Some(index) = parse_reset_index(&answer.text) {
            return Ok(
                Outcome::new(format!("reset index {index}")).fact(&facts::RESET_INDEX, &index)
            );
        }
        if !TRANSIENT.iter().any(|t| answer.text.contains(t)) {
            return Err(fail(format!(
                "Consul's answer to PUT /v1/acl/bootstrap has no reset index: {}",
                answer.unexpected()
            ))
            .hint(
                "check that ACLs are enabled and the cluster has a leader (carbonio-mesh leader)",
            ));
        }
        last = answer.unexpected();
        if attempt < 10 {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    let hint = if last.contains("legacy mode") {
        "wait a minute after the agent starts (Consul 1.10 and older leave legacy mode once a leader has set ACLs up), then --resume"
    } else {
        "the Mesh servers have no leader: check service-discover on each (carbonio-mesh leader, carbonio-mesh doctor), then --resume"
    };
    Err(fail(format!("Consul kept answering {last} for 5 seconds")).hint(hint))
}

/// Consul's data directory, from main.json (`data_dir`), else Carbonio's default.
fn data_dir(ctx: &StepContext<'_>) -> String {
    ctx.host
        .read_file(MAIN_JSON)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["data_dir"].as_str().map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned())
}

fn write_reset_file(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    if ctx.dry_run && !ctx.facts.contains(facts::RESET_INDEX.name()) {
        return Ok(Outcome::new(
            "would write the reset index to the data directory's acl-bootstrap-reset",
        ));
    }
    let index = ctx.facts.require(&facts::RESET_INDEX)?;
    let path = format!(
        "{}/acl-bootstrap-reset",
        data_dir(ctx).trim_end_matches('/')
    );
    // As the service user's file, inside service-discover's state directory and through no
    // link: main.json, which names the data directory, is that user's to change.
    ctx.host
        .write_state_file(&path, &index.to_string(), 0o600)?;
    Ok(
        Outcome::new(format!("{path} holds {index} (owner {})", ctx.service_user))
            .fact(&facts::RESET_FILE, &path),
    )
}

fn stop_service(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let stop = ctx.host.exec(&Exec {
        mutating: true,
        ..Exec::new(["systemctl", "stop", SERVICE])
    })?;
    if stop.status != Some(0) {
        return Err(fail(format!(
            "systemctl stop {SERVICE} failed: {}",
            stop.stderr.trim()
        )));
    }
    Ok(Outcome::new(format!("{SERVICE} stopped")))
}

fn backup_and_remove(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let mut paths = vec![
        MAIN_JSON.to_owned(),
        CONFIG_JSON.to_owned(),
        mesh::ARCHIVE_PATH.to_owned(),
        mesh::PASSWORD_PATH.to_owned(),
    ];
    match ctx.host.list_dir(LIB_DIR) {
        Ok(names) => paths.extend(
            names
                .into_iter()
                .filter(|n| n.ends_with(".pem"))
                .map(|n| format!("{LIB_DIR}/{n}")),
        ),
        Err(e) if e.kind == ServiceErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let mut removed = 0;
    for path in &paths {
        let answer = ctx.host.call(&RemovePath { path: path.clone() })?;
        if answer.existed {
            removed += 1;
            // Recorded at once: a crash after this removal must still let `restore` find it.
            if let Some(backup) = &answer.backup {
                crate::journal(
                    ctx.host,
                    ctx.run,
                    &JournalRecord::Removed {
                        step: "backup-and-remove".to_owned(),
                        path: path.clone(),
                        backup: backup.clone(),
                    },
                )?;
            }
        }
    }
    Ok(Outcome::new(format!(
        "{removed} file(s) backed up and removed"
    )))
}

fn run_setup(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    setup(ctx, true)
}

fn node_setup(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    setup(ctx, false)
}

/// `service-discover setup IP [--first-instance] --password=...` (its interface takes the
/// password in argv: ours shows it as `<redacted>`).
fn setup(ctx: &StepContext<'_>, first_instance: bool) -> Result<Outcome, PluginError> {
    let ip = if ctx.dry_run && !ctx.facts.contains(facts::SETUP_IP.name()) {
        "<this host's address>".to_owned()
    } else {
        ctx.facts.require(&facts::SETUP_IP)?
    };
    let password = ctx.new_password.ok_or_else(|| fail("no new password"))?;
    let mut argv = vec![
        ExecArg::from(SERVICE),
        ExecArg::from("setup"),
        ExecArg::from(ip.as_str()),
    ];
    if first_instance {
        argv.push(ExecArg::from("--first-instance"));
    }
    argv.push(ExecArg::Secret {
        secret: format!("--password={}", password.expose()),
    });
    let setup = ctx.host.exec(&Exec {
        mutating: true,
        ..Exec::new(argv)
    })?;
    if setup.status != Some(0) {
        return Err(fail(format!(
            "service-discover setup failed (exit {}): {}",
            setup.status.map(|s| s.to_string()).unwrap_or_else(|| "killed".into()),
            setup.stderr.trim()
        ))
        .hint("fix the cause, then `carbonio-mesh secret regenerate --resume`, or `carbonio-mesh secret restore RUN` to go back"));
    }
    Ok(Outcome::new(format!(
        "service-discover set up again on {ip}"
    )))
}

fn verify(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    if ctx.dry_run {
        return Ok(Outcome::new(
            "would open the new archive and check its token with Consul",
        ));
    }
    let credentials = ctx.host.call(&OpenCredentials::default())?;
    let member = credentials
        .member(mesh::ACL_SECRET_MEMBER)
        .ok_or_else(|| fail("the new archive has no consul-acl-secret.json"))?;
    let token = BootstrapToken::parse(member.content.expose()).map_err(fail)?;
    #[derive(serde::Deserialize)]
    struct TokenSelf {
        #[serde(rename = "AccessorID")]
        accessor_id: String,
    }
    let seen: TokenSelf = ctx.host.consul_get(
        &ConsulRequest::get(&["v1", "acl", "token", "self"]).with_token(token.secret_id.clone()),
    )?;
    if seen.accessor_id != token.accessor_id {
        return Err(fail(
            "Consul answered for another token than the new archive's",
        ));
    }
    let members: Vec<Value> = ctx.host.consul_get(
        &ConsulRequest::get(&["v1", "agent", "members"]).with_token(token.secret_id.clone()),
    )?;
    Ok(Outcome::new(format!(
        "the new archive opens, Consul accepts its token (AccessorID {}), {} member(s) listed",
        token.accessor_id,
        members.len()
    ))
    .fact(&facts::NEW_ACCESSOR, &token.accessor_id))
}

/// Nodes download the archive from LDAP during their own setup, so the leader's setup must have
/// uploaded the new one: a failed or lost upload hands every node set up later the old archive,
/// which the new password cannot open.
fn check_ldap_copy(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    if ctx.dry_run {
        return Ok(Outcome::new(
            "would compare the archive in LDAP with the new archive",
        ));
    }
    let ldap = match ctx.host.call(&LdapCredentials {}) {
        Ok(ldap) => ldap,
        Err(e) if e.kind == ServiceErrorKind::NotFound => {
            return Ok(Outcome::new(format!("skipped: {}", e.message)))
        }
        Err(e) => return Err(e.into()),
    };
    let local = ctx.host.read_file(mesh::ARCHIVE_PATH)?;
    let place = format!(
        "{} on {} at {}",
        mesh::LDAP_ARCHIVE_ATTRIBUTE,
        mesh::LDAP_ARCHIVE_DN,
        ldap.url
    );
    let problem = match &ldap.archive {
        Some(archive) if archive.expose() == local => {
            return Ok(Outcome::new(format!(
                "LDAP holds the new archive ({place})"
            )))
        }
        Some(_) => format!("LDAP still holds another archive than the new one ({place})"),
        None => format!("LDAP holds no archive ({place} is empty)"),
    };
    Err(fail(format!(
        "{problem}: nodes set up from now on would not get the new archive"
    ))
    .hint(format!(
        "service-discover setup did not upload it; upload it as setup does: {}; then `carbonio-mesh secret regenerate --resume`",
        mesh::ldap_upload_command(&ldap.url, mesh::ARCHIVE_PATH)
    )))
}

fn revoke_old_token(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    if !ctx.revoke_old_token {
        return Ok(Outcome::new(
            "skipped (--revoke-old-token not given; the old token stays valid)",
        ));
    }
    let mut old: Vec<String> = Vec::new();
    for key in [&facts::OLD_ACCESSOR, &facts::INTERIM_ACCESSOR] {
        if let Some(accessor) = ctx.facts.get(key)? {
            old.push(accessor);
        }
    }
    if old.is_empty() {
        return Ok(Outcome::new(
            "no old token known (the old archive could not be read in preflight)",
        ));
    }
    if ctx.dry_run {
        return Ok(Outcome::new(format!(
            "would delete the old token(s) {}",
            old.join(", ")
        )));
    }
    let credentials = ctx.host.call(&OpenCredentials::default())?;
    let token = credentials
        .member(mesh::ACL_SECRET_MEMBER)
        .map(|m| BootstrapToken::parse(m.content.expose()))
        .transpose()
        .map_err(fail)?
        .ok_or_else(|| fail("the new archive has no consul-acl-secret.json"))?;
    let mut gone = Vec::new();
    for accessor in &old {
        if *accessor == token.accessor_id {
            continue;
        }
        // A token already gone is 200 `true` up to Consul 1.14 and 404 `Cannot find token to
        // delete` from 1.15 (agent/acl_endpoint.go): either way it no longer works.
        let delete = ConsulRequest::delete(&["v1", "acl", "token", accessor])
            .with_token(token.secret_id.clone())
            .accept(404);
        if ctx.host.consul(&delete)?.status == 404 {
            gone.push(accessor.clone());
        }
    }
    let deleted: Vec<&str> = old
        .iter()
        .filter(|a| !gone.contains(a))
        .map(String::as_str)
        .collect();
    let detail = match (deleted.is_empty(), gone.is_empty()) {
        (false, true) => format!("deleted the old token(s) {}", deleted.join(", ")),
        (false, false) => format!(
            "deleted the old token(s) {}; already gone: {}",
            deleted.join(", "),
            gone.join(", ")
        ),
        (true, _) => format!("the old token(s) {} were already gone", gone.join(", ")),
    };
    Ok(Outcome::new(detail))
}

/// On a node, before anything changes: root, service-discover present, the new archive (from
/// `--archive FILE`: it opens with the new password) and this node's own address.
fn node_preflight(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let host = ctx.host;
    let uid = host.exec(&Exec::new(["id", "-u"]))?;
    if uid.stdout.trim() != "0" {
        return Err(PluginError::usage("secret rejoin must run as root"));
    }
    let which = host.exec(&Exec::new(["which", SERVICE]))?;
    if which.status != Some(0) {
        return Err(fail(format!(
            "'{SERVICE}' is not installed (not found in PATH)"
        )));
    }
    let mut archive = "the new archive came on standard input".to_owned();
    let mut found = Facts::new();
    match (ctx.archive_file, ctx.new_archive) {
        (Some(path), _) => {
            let read = crate::rejoin::archive_file(ctx, path)?;
            let ldap = crate::rejoin::compare_with_ldap(host, path, read)?;
            archive = format!("{path} opens with the new password; {ldap}");
            found.set(&facts::ARCHIVE_FILE, &path.to_owned());
        }
        (None, Some(_)) => {}
        (None, None) if ctx.dry_run => archive = "no new archive given".to_owned(),
        (None, None) => {
            return Err(PluginError::usage(
                "no new archive: give the file copied from the leader (--archive FILE), or the password and archive on standard input (--input-stdin)",
            )
            .hint("scp LEADER:/etc/zextras/service-discover/cluster-credentials.tar.gpg /root/ then carbonio-mesh secret rejoin --archive /root/cluster-credentials.tar.gpg"))
        }
    }
    let (ip, source) = crate::rejoin::bind_address(host)?;
    found.set(&facts::SETUP_IP, &ip.to_string());
    Ok(Outcome {
        detail: format!(
            "root, service-discover present; {archive}; this node is {ip} (from the {source})"
        ),
        facts: found,
        report: String::new(),
    })
}

/// The leader's new archive in place (0600 root), before setup reads it. From a file, the
/// bytes node-preflight read and checked; a resumed run reads and checks the file again.
fn install_archive(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    let (archive, origin) = match (ctx.archive_file, ctx.new_archive) {
        // The bytes node-preflight checked and compared (read again only by a resumed run).
        (Some(path), _) => (crate::rejoin::archive_file(ctx, path)?, path),
        (None, Some(archive)) => (archive, "standard input"),
        (None, None) if ctx.dry_run => {
            return Ok(Outcome::new("would install the leader's new archive"))
        }
        (None, None) => {
            return Err(PluginError::usage(
                "no new archive: give the file copied from the leader again (--archive FILE)",
            )
            .hint("the archive is never kept in the journal: a resumed run reads it again"))
        }
    };
    ctx.host
        .call(&carbonio_mesh_plugin_api::services::WriteFile {
            path: mesh::ARCHIVE_PATH.to_owned(),
            content: archive.expose().to_owned(),
            mode: 0o600,
            owner: None,
        })?;
    Ok(Outcome::new(format!(
        "the leader's new archive (from {origin}) is {}",
        mesh::ARCHIVE_PATH
    )))
}

/// The archive opens with the new password and Consul accepts its token.
fn node_verify(ctx: &StepContext<'_>) -> Result<Outcome, PluginError> {
    if ctx.dry_run {
        return Ok(Outcome::new("would check the new archive and its token"));
    }
    let credentials = ctx.host.call(&OpenCredentials {
        known_password: ctx.new_password.cloned(),
        ..OpenCredentials::default()
    })?;
    let member = credentials
        .member(mesh::ACL_SECRET_MEMBER)
        .ok_or_else(|| fail("the new archive has no consul-acl-secret.json"))?;
    let token = BootstrapToken::parse(member.content.expose()).map_err(fail)?;
    let members: Vec<Value> = ctx.host.consul_get(
        &ConsulRequest::get(&["v1", "agent", "members"]).with_token(token.secret_id.clone()),
    )?;
    Ok(Outcome::new(format!(
        "the new archive opens; Consul accepts its token; {} member(s) listed",
        members.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_index_is_found_in_every_known_text() {
        let fixture = |version: &str, name: &str| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/consul")
                .join(version);
            std::fs::read_to_string(dir.join(name)).unwrap()
        };
        // 1.10.12's were answered by a real agent (reset index 19, its CLI's 22).
        for (version, index) in [("1.9.3", 908), ("1.10.12", 19), ("1.21.4", 908)] {
            for name in [
                "v1_acl_bootstrap_403.txt",
                "v1_acl_bootstrap_403_via_follower.txt",
                "v1_acl_bootstrap_403_via_client_agent.txt",
                "v1_acl_bootstrap_500_bad_reset_index.txt",
            ] {
                assert_eq!(
                    parse_reset_index(&fixture(version, name)),
                    Some(index),
                    "{version}/{name}"
                );
            }
        }
        assert_eq!(
            parse_reset_index(&fixture("1.10.12", "cli/acl_bootstrap_403.stderr")),
            Some(22)
        );
        for (version, name) in [
            ("1.9.3", "v1_acl_bootstrap_500_legacy_mode.txt"),
            ("1.10.12", "v1_acl_bootstrap_500_legacy_mode.txt"),
            ("1.10.12", "v1_acl_bootstrap_500_no_cluster_leader.txt"),
            ("1.21.4", "v1_acl_bootstrap_500_no_cluster_leader.txt"),
        ] {
            let text = fixture(version, name);
            assert_eq!(parse_reset_index(&text), None, "{version}/{name}");
            assert!(
                TRANSIENT.iter().any(|t| text.contains(t)),
                "{version}/{name} passes"
            );
        }
    }
}
