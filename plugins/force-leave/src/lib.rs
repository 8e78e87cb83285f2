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
mod plan;

use carbonio_mesh_plugin_api::consul::member_status;
use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, OutputFormat, Plugin, PluginError,
    Request, Response, Suggest, Table,
};
use serde::Serialize;

use act::{act, reached, Acted};
use plan::{parse, plan, Agent, Ask, Plan, Planned};

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
                .arg(ArgSpec::positional("node", "The member to remove: its Consul node name, Carbonio hostname or address, or a WAN name NODE.DC").value_name("NODE").suggest(Suggest::Nodes { extra: Vec::new(), list: false }))
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
