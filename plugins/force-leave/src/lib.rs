//! Plugin `force-leave`: `consul force-leave` made safe, as the agent's own Consul does it, plus
//! the cleanup users ask Consul for: `force-leave --failed`.
//!
//! It asks the agent which Consul it runs (`/v1/agent/self`) and reads the member list. A node
//! is named by its Consul node name, its Carbonio hostname or its address; a WAN name (`NODE.DC`,
//! in the list `members --wan` prints) goes to Consul as it is from Consul 1.11, which looks in
//! both pools, and is refused before with Consul's own words (1.9 and 1.10 look among LAN members
//! only; a server's LAN name removes it from the WAN pool too). `--wan` (1.11+, servers) sends
//! `?wan`: the WAN pool only. An unknown node gets Consul's own text and the closest names; an
//! alive node is refused unless `--force` (it answers the gossip and rejoins at once).
//! After asking, it sends `PUT /v1/agent/force-leave/:node` (`?prune` with `--prune`) for each
//! target, then polls the member list until each is `left` (or gone with `--prune`) or `--wait`
//! runs out, and reports every node's final state. Each node gets an audit line.

mod act;
mod names;

use std::collections::BTreeMap;
use std::time::Duration;

use carbonio_mesh_plugin_api::consul::version::FORCE_LEAVE_WAN;
use carbonio_mesh_plugin_api::consul::{member_status, AgentSelf, VersionFound, ALIVE, FAILED};
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError,
    Request, Response, Table,
};
use serde::Serialize;

use act::{act, reached, Acted};
use names::{close_names, lan_members, name_node, wan_members, wan_name, Named};

/// What the command line asks.
struct Ask {
    node: Option<String>,
    prune: bool,
    force: bool,
    /// `--wan`: the WAN pool only.
    wan: bool,
    wait: Duration,
}

impl Ask {
    fn verb(&self) -> &'static str {
        if self.prune {
            "force-leave and prune"
        } else {
            "force-leave"
        }
    }
}

fn parse(request: &Request) -> Result<Ask, PluginError> {
    let node = request.value("node").map(str::to_owned);
    if node.is_some() == request.flag("failed") {
        return Err(
            PluginError::usage("give a node name, or --failed for every failed member")
                .hint("carbonio-mesh force-leave NODE, or carbonio-mesh force-leave --failed"),
        );
    }
    Ok(Ask {
        node,
        prune: request.flag("prune"),
        force: request.flag("force"),
        wan: request.flag("wan"),
        wait: Duration::from_secs(request.parsed("wait")?.unwrap_or(30)),
    })
}

/// The agent answering: which Consul, whether a server, its datacenter.
struct Agent {
    version: VersionFound,
    server: bool,
    datacenter: String,
}

impl Agent {
    fn ask(host: &Host<'_>) -> Agent {
        let me = AgentSelf::read(host);
        let version = VersionFound::of_answer(&me);
        let (server, datacenter) = match me {
            Ok(me) => (me.config.server, me.config.datacenter),
            // Unknown: let Consul decide what a client would refuse.
            Err(_) => (true, "dc1".to_owned()),
        };
        Agent {
            version,
            server,
            datacenter,
        }
    }

    fn finds_wan_names(&self) -> bool {
        self.version.version.has(&FORCE_LEAVE_WAN)
    }
}

/// What will be sent: the targets and, for each, its status before and its hostname.
struct Plan {
    targets: Vec<String>,
    before: BTreeMap<String, u8>,
    hosts: BTreeMap<String, String>,
    /// Poll the WAN pool too (a WAN target).
    wan_pool: bool,
    /// Send `?wan` (`--wan`).
    wan_query: bool,
}

impl Plan {
    fn label(&self, node: &str) -> String {
        match self.hosts.get(node) {
            Some(host) => format!("{node} ({host})"),
            None => node.to_owned(),
        }
    }
}

/// Either a plan to carry out, or the answer already (Consul's refusal, nothing to do).
enum Planned {
    Send(Plan),
    Answer(Response),
}

/// Consul's refusal of a node it does not have, as the CLI prints it (`Error force leaving: ...`
/// on standard error, exit 5; in JSON the host's error document), with the closest names.
fn no_such_node(
    named: &str,
    known: &BTreeMap<String, u8>,
    wanted: &str,
    fix: &str,
    format: OutputFormat,
) -> Result<Planned, PluginError> {
    let consul =
        format!("Unexpected response code: 500 (agent: No node found with name '{named}')");
    let close = close_names(wanted, known.keys());
    let did_you_mean = (!close.is_empty()).then(|| format!("Did you mean: {}?", close.join(", ")));
    match format {
        OutputFormat::Json => {
            Err(PluginError::operation(consul).hint(did_you_mean.unwrap_or_else(|| fix.to_owned())))
        }
        OutputFormat::Human => {
            let mut stderr = format!("Error force leaving: {consul}\n");
            if let Some(line) = did_you_mean {
                stderr.push_str(&line);
                stderr.push('\n');
            }
            // Consul's text above stays as Consul prints it; the fix is ours.
            stderr.push_str(&format!("  fix: {fix}\n"));
            Ok(Planned::Answer(
                Response::text("").with_stderr(stderr).with_exit_code(5),
            ))
        }
    }
}

/// `--wan` needs an agent that has it: Consul 1.11 or later (command/forceleave), a server.
fn wan_allowed(agent: &Agent) -> Result<(), PluginError> {
    if !agent.finds_wan_names() {
        return Err(PluginError::usage(format!(
            "--wan needs Consul 1.11 or later, and this agent runs {}",
            agent.version.version.reported
        ))
        .hint(
            "give the server's LAN node name without --wan: a server leaves the WAN pool with it",
        ));
    }
    if !agent.server {
        return Err(PluginError::usage(
            "Must be a server to force-leave a node from the WAN cluster (Consul's answer on a client agent)",
        )
        .hint("run it on a Mesh server: only servers are in the WAN pool"));
    }
    Ok(())
}

/// `--wan [NODE]` (Consul 1.11+, a server agent): the WAN member `NODE` names, or every failed
/// WAN member.
fn plan_wan(
    host: &Host<'_>,
    agent: &Agent,
    name: Option<&str>,
    format: OutputFormat,
) -> Result<Planned, PluginError> {
    wan_allowed(agent)?;
    let lan = lan_members(host)?;
    let wan = wan_members(host);
    let before: BTreeMap<String, u8> = wan.iter().map(|m| (m.name.clone(), m.status)).collect();
    let wan_plan = |targets| Plan {
        targets,
        before: before.clone(),
        hosts: BTreeMap::new(),
        wan_pool: true,
        wan_query: true,
    };
    let Some(name) = name else {
        return Ok(Planned::Send(wan_plan(failed_of(&before))));
    };
    let Some(node) = wan_name(host, &lan, &wan, name, &agent.datacenter)? else {
        // Consul names no node here: `?wan` looks up an empty LAN name (server_ce.go).
        let fix = "name a member `carbonio-mesh members --wan` lists";
        return no_such_node("", &before, name, fix, format);
    };
    Ok(Planned::Send(wan_plan(vec![node])))
}

/// The members in status failed.
fn failed_of(members: &BTreeMap<String, u8>) -> Vec<String> {
    members
        .iter()
        .filter(|(_, status)| **status == FAILED)
        .map(|(name, _)| name.clone())
        .collect()
}

/// The targets: every failed member, or the one node named (refused while alive, unless
/// `--force`).
fn plan(
    host: &Host<'_>,
    ask: &Ask,
    agent: &Agent,
    format: OutputFormat,
) -> Result<Planned, PluginError> {
    if ask.wan {
        return plan_wan(host, agent, ask.node.as_deref(), format);
    }
    let Some(name) = ask.node.as_deref() else {
        let lan = lan_members(host)?;
        let before: BTreeMap<String, u8> = lan.into_iter().map(|m| (m.name, m.status)).collect();
        return Ok(Planned::Send(Plan {
            targets: failed_of(&before),
            before,
            hosts: BTreeMap::new(),
            wan_pool: false,
            wan_query: false,
        }));
    };
    let lan = lan_members(host)?;
    let mut before: BTreeMap<String, u8> = lan.iter().map(|m| (m.name.clone(), m.status)).collect();
    let mut hosts = BTreeMap::new();
    let mut wan_pool = false;
    let node = match name_node(host, &lan, || wan_members(host), name)? {
        Named::Lan { node, host } => {
            if let Some(host) = host {
                hosts.insert(node.clone(), host);
            }
            node
        }
        Named::Wan(node) if !agent.finds_wan_names() => {
            // 1.9 and 1.10 look for the name among LAN members only (agent/agent.go ForceLeave).
            let lan_name = node
                .strip_suffix(&format!(".{}", agent.datacenter))
                .unwrap_or(&node)
                .to_owned();
            let fix = format!(
                "Consul {} finds force-leave's node among LAN members only: give its LAN node name, {lan_name} (a server leaves the WAN pool with it)",
                agent.version.version.reported
            );
            return no_such_node(&node, &before, &node, &fix, format);
        }
        Named::Wan(node) => {
            wan_pool = true;
            before.extend(wan_members(host).into_iter().map(|m| (m.name, m.status)));
            node
        }
        Named::Unknown => {
            let fix = "name a member `carbonio-mesh members` lists: its node name, Carbonio hostname or address";
            return no_such_node(name, &before, name, fix, format);
        }
    };
    let plan = Plan {
        targets: vec![node.clone()],
        before,
        hosts,
        wan_pool,
        wan_query: false,
    };
    if plan.before.get(&node) == Some(&ALIVE) && !ask.force {
        return Err(PluginError::usage(format!(
            "{} is alive: force-leave would not last, an alive node answers the gossip and rejoins at once",
            plan.label(&node)
        ))
        .hint(format!(
            "stop its agent first (systemctl stop service-discover on {}), or pass --force to send it anyway",
            plan.hosts.get(&node).map_or(node.as_str(), String::as_str)
        )));
    }
    Ok(Planned::Send(plan))
}

#[derive(Serialize)]
struct Outcome {
    node: String,
    /// The Carbonio hostname the command line named it by (null otherwise).
    host: Option<String>,
    before: String,
    after: String,
    result: String,
}

/// Each target's outcome (audited), and whether every one got where it was sent.
fn outcomes(
    host: &Host<'_>,
    plan: &Plan,
    ask: &Ask,
    acted: &Acted,
    dry_run: bool,
) -> (Vec<Outcome>, bool) {
    let verb = ask.verb();
    let mut all_done = true;
    let list = plan
        .targets
        .iter()
        .map(|node| {
            let now = acted.after.get(node).copied();
            let state = now.map(member_status).unwrap_or("removed").to_owned();
            let sent = &acted.results[node];
            let result = if sent == "sent" {
                if reached(now, ask.prune) {
                    "ok".to_owned()
                } else {
                    all_done = false;
                    format!("still {state} after {}s", ask.wait.as_secs())
                }
            } else {
                all_done &= sent == "dry-run";
                sent.clone()
            };
            host.audit(verb, node, &result);
            Outcome {
                node: node.clone(),
                host: plan.hosts.get(node).cloned(),
                before: member_status(plan.before[node]).to_owned(),
                after: if dry_run {
                    "unchanged (dry run)".to_owned()
                } else {
                    state
                },
                result,
            }
        })
        .collect();
    (list, all_done)
}

fn render(
    request: &Request,
    outcomes: &[Outcome],
    stderr: String,
    all_done: bool,
) -> Result<Response, PluginError> {
    let response = match request.format {
        OutputFormat::Json => Response::json(&outcomes)?,
        OutputFormat::Human if request.dry_run => Response::text(""),
        OutputFormat::Human => {
            let mut table = Table::new(["Node", "Before", "After", "Result"]);
            for o in outcomes {
                let node = match &o.host {
                    Some(host) => format!("{} ({host})", o.node),
                    None => o.node.clone(),
                };
                table.push([node, o.before.clone(), o.after.clone(), o.result.clone()]);
            }
            Response::text(table.render())
        }
    };
    Ok(response
        .with_stderr(stderr)
        .with_exit_code(if all_done { 0 } else { 5 }))
}

fn force_leave(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
    let ask = parse(request)?;
    let agent = Agent::ask(host);
    let plan = match plan(host, &ask, &agent, request.format)? {
        Planned::Send(plan) => plan,
        Planned::Answer(response) => return Ok(agent.version.warn_into(response)),
    };
    if plan.targets.is_empty() {
        let response = match request.format {
            OutputFormat::Json => Response::json(&Vec::<Outcome>::new())?,
            OutputFormat::Human => Response::text("").with_stderr("No failed members.\n"),
        };
        return Ok(agent.version.warn_into(response));
    }
    let verb = ask.verb();
    let changes = plan
        .targets
        .iter()
        .map(|n| {
            format!(
                "{verb} {} (now {})",
                plan.label(n),
                member_status(plan.before[n])
            )
        })
        .collect();
    let question = format!("Force {} member(s) to leave?", plan.targets.len());
    if !host.confirm(changes, &question)? {
        return Ok(Response::declined_as(request.format));
    }
    let acted = act(host, &plan, &ask, request.dry_run);
    let (list, all_done) = outcomes(host, &plan, &ask, &acted, request.dry_run);
    Ok(agent
        .version
        .warn_into(render(request, &list, acted.stderr, all_done)?))
}

pub struct ForceLeave;

impl Plugin for ForceLeave {
    fn manifest() -> Manifest {
        let about = "Make failed members leave the cluster (consul force-leave)";
        Manifest::new("force-leave", env!("CARGO_PKG_VERSION"), about).command(
            CommandSpec::new("force-leave", about)
.example("carbonio-mesh force-leave --failed", "Every failed member leaves (asks first)")
.example("carbonio-mesh force-leave proxy.example.com", "One node, by hostname, node name or address")
.example("carbonio-mesh --dry-run force-leave --prune agent-proxy-example-com", "What removing it from the list would send")
                .long_about(
                    "Moves a failed member to 'left' (PUT /v1/agent/force-leave/NODE), or with --prune \
removes it from the member list, then waits until the member list shows it. --failed does this for \
every member in status failed. An alive member is refused unless --force: it answers the gossip and \
rejoins at once. A WAN name (NODE.DC) is sent as it is to Consul 1.11 and later, which look in both \
pools; Consul 1.9 and 1.10 find LAN members only, where a server's LAN name also removes it from the \
WAN pool. --wan (Consul 1.11+, on a server) acts on the WAN pool only. Needs a token with \
operator:write.",
                )
                .arg(ArgSpec::positional("node", "The member to remove: its Consul node name, Carbonio hostname or address, or a WAN name NODE.DC").value_name("NODE"))
                .arg(ArgSpec::flag("failed", "Every member whose status is failed"))
                .arg(ArgSpec::flag("prune", "Remove the member from the list entirely"))
                .arg(ArgSpec::flag("force", "Send it even to an alive member"))
                .arg(ArgSpec::flag("wan", "Only the WAN pool: NODE.DC, or every failed WAN member with --failed (Consul 1.11 and later, on a server)"))
                .arg(
                    ArgSpec::option("wait", "How long to wait for the member list to show the change")
                        .value_name("SECONDS")
                        .default_value("30")
                        .unsigned(0, 3600),
                ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        force_leave(host, request)
    }
}

export_plugin!(ForceLeave);
