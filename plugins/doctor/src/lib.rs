//! Plugin `doctor`: the whole Mesh's health in one command. Cluster checks from the local agent
//! (leader and raft peers against LDAP's Mesh servers, members, critical health checks, the
//! gossip keyring, the token), this node's checks (files, certificates, archive, service), and
//! with `--nodes` every other node's own checks through the `doctor-transport` step. Each check
//! is ok, warn or fail, with a detail and the fix. Gathering (`cluster`, `local`, `nodes`),
//! the report as data (`report`) and rendering (`render`) are separate.

mod autopilot;
mod certs;
mod cluster;
mod datadir;
mod health;
mod journal;
mod keyring;
mod local;
mod nodes;
mod rejoin;
mod render;
mod report;
mod runs;

use carbonio_mesh_plugin_api::fanout::Transport;
use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{OpenCredentials, ResolvedWorkflow, WorkflowSteps};
use carbonio_mesh_plugin_api::step::StepSpec;
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError,
    Request, Response, SecretText, Suggest,
};

use crate::cluster::ArchiveSecrets;
use crate::local::ArchiveState;
use crate::report::Report;

/// How many nodes `--nodes` checks at a time: the host's ceiling for `exec.many`. Checking is
/// read-only and a node's own checks take well under a second, so one wave covers a 64-node
/// cluster (with 32, a 50-node run took two: docs/BENCHMARKS.md).
const DEFAULT_PARALLEL: usize = 64;

/// The step whose command reaches another node for `--nodes`.
const TRANSPORT_STEP: &str = "doctor-transport";

/// What the command line asked for.
struct Options<'a> {
    local_only: bool,
    nodes: Option<&'a str>,
    parallel: usize,
    prometheus: bool,
}

fn options(request: &Request) -> Result<Options<'_>, PluginError> {
    let options = Options {
        local_only: request.flag("local"),
        nodes: request.value("nodes"),
        // The host checked it is a whole number from 1 to 64 (`ArgSpec::unsigned`).
        parallel: request.parsed("parallel")?.unwrap_or(DEFAULT_PARALLEL),
        prometheus: request.flag("prometheus"),
    };
    if options.local_only && options.nodes.is_some() {
        return Err(
            PluginError::usage("--local and --nodes exclude each other").hint(
                "--local checks this node only; --nodes adds other nodes to the cluster checks",
            ),
        );
    }
    if options.prometheus && request.format == OutputFormat::Json {
        return Err(PluginError::usage(
            "--prometheus and --format json exclude each other",
        ));
    }
    Ok(options)
}

/// Opens the archive when this node keeps its password (a Mesh server); an agent has none.
fn open_archive(host: &Host<'_>) -> ArchiveState {
    match host.stat(mesh::PASSWORD_PATH) {
        Ok(stat) if stat.exists => match host.call(&OpenCredentials::default()) {
            Ok(credentials) => ArchiveState::Opened(credentials),
            Err(e) => ArchiveState::Failed(e),
        },
        _ => ArchiveState::NoPassword,
    }
}

/// The configured `doctor-transport` step and the service user (`[mesh] service_user`); the
/// step's command is checked only when `--nodes` needs it.
fn configured(host: &Host<'_>) -> Result<ResolvedWorkflow, PluginError> {
    Ok(host.call(&WorkflowSteps {
        workflow: TRANSPORT_STEP.to_owned(),
    })?)
}

/// `doctor`: what the command line asks (parse), the checks run into a report (act), the report
/// as the output asked for (render).
fn doctor(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let options = options(request)?;
    let report = examine(host, &options)?;
    render(request, &options, &report)
}

/// Every check `options` asks for: the cluster's from the local agent (unless `--local`), this
/// node's, and with `--nodes` the other nodes' own.
fn examine(host: &Host<'_>, options: &Options<'_>) -> Result<Report, PluginError> {
    let configured = configured(host)?;
    let service_user = configured.service_user.clone();
    let main = local::main_json(host);
    let archive = open_archive(host);
    let token = match &archive {
        ArchiveState::Opened(c) => c
            .member(mesh::ACL_SECRET_MEMBER)
            .and_then(|m| BootstrapToken::parse(m.content.expose()).ok()),
        _ => None,
    };
    let secrets = ArchiveSecrets {
        token: token
            .as_ref()
            .map(|t| (t.accessor_id.as_str(), SecretText::clone(&t.secret_id))),
        gossip_key: match &archive {
            ArchiveState::Opened(c) => c
                .member(mesh::GOSSIP_KEY_MEMBER)
                .map(|m| m.content.expose()),
            _ => None,
        },
    };
    let mut report = Report::default();
    let directory = if options.local_only {
        carbonio_mesh_plugin_api::nodes::NodeDirectory {
            local_node: carbonio_mesh_plugin_api::nodes::agent_node(host),
            ..Default::default()
        }
    } else {
        cluster::gather(host, &secrets, &mut report).directory
    };
    // A wrong --nodes list or transport is refused before this node's checks run.
    let fan_out = match options.nodes {
        Some(list) => Some((
            nodes::plan(host, &directory, list)?,
            Transport::from_resolved(TRANSPORT_STEP, configured.steps.into_iter().next())?,
        )),
        None => None,
    };
    // This node's name: its agent's, else the one setup wrote into main.json (the same, and
    // there when the agent is down), so the labels do not change with what fails.
    let node = directory
        .local_node
        .clone()
        .or_else(|| main.as_ref().ok().and_then(|m| m.node_name.clone()))
        .unwrap_or_else(|| "this-node".to_owned());
    local::gather(host, &node, &main, &service_user, &archive, &mut report);
    report.checks.push(journal::gather(host, &node));
    if let Ok(main) = &main {
        report.checks.extend(datadir::gather(
            host,
            &node,
            main.data_dir(),
            main.encrypt.as_ref().map(SecretText::expose),
            secrets.gossip_key,
            main.server,
        ));
    }
    if let Some(main) = main.as_ref().ok().filter(|m| m.server) {
        report.checks.push(rejoin::gather(
            host,
            &node,
            main.data_dir(),
            main.server_rejoin_age_max.as_deref(),
            certs::now(),
        ));
    }
    // A run left half-way comes first: every other fix waits for it.
    let unfinished = runs::newest(host);
    report
        .checks
        .push(runs::run_check(&node, unfinished.clone()));
    if let Ok(Some(run)) = &unfinished {
        runs::defer_fixes(&mut report.checks, run);
    }
    let role = nodes::role_of(&node).or_else(|| {
        main.as_ref()
            .ok()
            .map(|m| if m.server { "server" } else { "agent" }.to_owned())
    });
    report.add_row(&node, directory.host_of(&node).map(str::to_owned), role);
    if let Some((plan, transport)) = fan_out {
        nodes::run(host, &transport, &plan, options.parallel, &mut report)?;
        nodes::stale_nodes(&mut report, &node);
        nodes::same_ca(&mut report, &node);
    }
    Ok(report.finish())
}

/// The report in Prometheus' text format, as the JSON document, or for people; its exit code.
fn render(
    request: &Request,
    options: &Options<'_>,
    report: &Report,
) -> Result<Response, PluginError> {
    let response = if options.prometheus {
        Response::text(render::prometheus(report))
    } else {
        Response::render(request.format, report, |report| {
            render::human(report, request.color)
        })?
    };
    Ok(response.with_exit_code(report.exit_code()))
}

const ABOUT: &str = "Check the health of the whole Mesh: cluster, this node, every node";

const LONG_ABOUT: &str =
    "Checks what an experienced Carbonio admin would check every morning, each \
ok, warn or fail with a detail and the fix, or unknown: not checked (here), with the reason; \
unknown is no verdict.

Cluster (from the local agent): a raft leader exists; the raft peers are the Mesh servers LDAP \
lists (an even number warns); autopilot: every server healthy, the failure tolerance the \
servers allow, each in contact with the leader and not trailing it; no failed member, no member that left still listed, one Consul \
version and gossip protocol; no critical health check; one gossip key, on every node; the token \
in use is accepted, and on a Mesh server so is the archive's bootstrap token.

This node: the archive 0600 root, the password file 0400 root (Mesh servers), main.json and \
config.json owned by service-discover, no leftover -1 certificates beside the -0 ones; the CA \
is the archive's, the node certificate is signed by it and names the node's role, neither \
expires within 30 days; the archive opens with the password file and is LDAP's copy; the \
service-discover unit is active and config.json's bind_addr is an address of this host; \
data/serf/local.keyring holds main.json's gossip key (the archive's); no ACL reset file is left \
behind; no TLS or gossip error in service-discover's journal since Consul started; no run of secret regenerate or rejoin is left unfinished.

--nodes all|LIST runs `carbonio-mesh doctor --local --format json` on each other node through \
the doctor-transport step (ssh by default; [steps.doctor-transport] in the configuration \
replaces it), at most --parallel at a time, and names the nodes it could not reach.

Exit status: 0 every check ok (or not checked), 10 warnings only, 11 a check failed or a node was not reached.";

pub struct DoctorPlugin;

impl Plugin for DoctorPlugin {
    fn manifest() -> Manifest {
        Manifest::new("doctor", env!("CARGO_PKG_VERSION"), ABOUT)
            .exit_code(report::EXIT_WARNINGS, "it worked, no check failed, and at least one warned")
            .exit_code(report::EXIT_FAILED, "it worked, and a check failed or a node could not be checked")
            .command(
            CommandSpec::new("doctor", ABOUT)
                .long_about(LONG_ABOUT)
                .arg(ArgSpec::flag("local", "Check this node only (no cluster checks): what --nodes runs on each node"))
                .arg(
                    ArgSpec::option(
                        "nodes",
                        "Also run each other node's checks through the doctor-transport step: `all` alive members but this host, or a list of node names, hostnames or addresses",
                    )
                    .value_name("all|LIST")
                    .suggest(Suggest::Nodes { extra: vec!["all".into()], list: true }),
                )
                .arg(
                    ArgSpec::option("parallel", "How many nodes at a time with --nodes")
                        .value_name("N")
                        .default_value("64")
                        .unsigned(1, 64),
                )
                .arg(ArgSpec::flag(
                    "prometheus",
                    "Print metrics in Prometheus' text format (for node_exporter's textfile collector) instead of the report",
                ))
                .example("sudo carbonio-mesh doctor", "The cluster's and this node's checks, each problem with its fix")
                .example("sudo carbonio-mesh doctor --nodes all", "Every node's checks too, in one table")
                .example("carbonio-mesh doctor --format json", "The same for scripts")
                .example(
                    "sudo carbonio-mesh doctor --prometheus > /var/lib/prometheus/node-exporter/carbonio-mesh.prom.tmp",
                    "Metrics for node_exporter (the packaged carbonio-mesh-doctor.timer does this)",
                )
                .read_only(),
        )
        .with_step(
            StepSpec::new(
                TRANSPORT_STEP,
                "how doctor --nodes runs each node's own checks: {host} is its Carbonio hostname (from LDAP), else its address; {node} its Consul node name; {address} its gossip address; nothing on its standard input; it prints `doctor --local --format json`'s document",
            )
            .command(
                [
                    "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
                    "ConnectTimeout=10", "root@{host}", "carbonio-mesh", "doctor", "--local",
                    "--format", "json",
                ],
                false,
            ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "" => doctor(host, request),
            other => Err(PluginError::usage(format!(
                "unknown doctor command '{other}'"
            ))),
        }
    }
}

export_plugin!(DoctorPlugin);
