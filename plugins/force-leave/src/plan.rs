//! What the command line asks and what will be sent: the agent's version and role decide how a
//! node is found (a WAN name, `--wan`), Consul's refusals are given before anything is sent, and
//! an alive node is refused unless `--force`.

use std::collections::BTreeMap;
use std::time::Duration;

use carbonio_mesh_plugin_api::consul::version::FORCE_LEAVE_WAN;
use carbonio_mesh_plugin_api::consul::{AgentSelf, VersionFound, ALIVE, FAILED};
use carbonio_mesh_plugin_api::nodes::NodeDirectory;
use carbonio_mesh_plugin_api::{Host, OutputFormat, PluginError, Request, Response};

use crate::names::{close_names, lan_members, name_node, wan_members, wan_name, Named};

/// What the command line asks.
pub struct Ask {
    pub node: Option<String>,
    pub prune: bool,
    pub force: bool,
    /// `--wan`: the WAN pool only.
    pub wan: bool,
    pub wait: Duration,
}

impl Ask {
    pub fn verb(&self) -> &'static str {
        if self.prune {
            "force-leave and prune"
        } else {
            "force-leave"
        }
    }
}

pub fn parse(request: &Request) -> Result<Ask, PluginError> {
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
pub struct Agent {
    pub version: VersionFound,
    pub server: bool,
    pub datacenter: String,
}

impl Agent {
    pub fn ask(host: &Host<'_>) -> Agent {
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
pub struct Plan {
    pub targets: Vec<String>,
    pub before: BTreeMap<String, u8>,
    pub hosts: BTreeMap<String, String>,
    /// Poll the WAN pool too (a WAN target).
    pub wan_pool: bool,
    /// Send `?wan` (`--wan`).
    pub wan_query: bool,
}

impl Plan {
    pub fn label(&self, node: &str) -> String {
        match self.hosts.get(node) {
            Some(host) => format!("{node} ({host})"),
            None => node.to_owned(),
        }
    }
}

/// Either a plan to carry out, or the answer already (Consul's refusal, nothing to do).
pub enum Planned {
    Send(Plan),
    Answer(Response),
}

/// Consul's refusal of a node it does not have, as the CLI prints it (`Error force leaving: ...`
/// on standard error, exit 5; in JSON the host's error document), with the closest names.
fn no_such_node(
    named: &str,
    close: Vec<String>,
    fix: &str,
    format: OutputFormat,
) -> Result<Planned, PluginError> {
    let consul =
        format!("Unexpected response code: 500 (agent: No node found with name '{named}')");
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
        let close = close_names(name, before.keys())
            .into_iter()
            .map(str::to_owned)
            .collect();
        return no_such_node("", close, fix, format);
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
pub fn plan(
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
        // Each failed member keeps its hostname in the prompt, the table and the JSON.
        let hosts = NodeDirectory::with_servers_of(host, &lan)
            .nodes
            .into_iter()
            .filter(|n| n.status == FAILED)
            .filter_map(|n| Some((n.node, n.host?)))
            .collect();
        let before: BTreeMap<String, u8> = lan.into_iter().map(|m| (m.name, m.status)).collect();
        return Ok(Planned::Send(Plan {
            targets: failed_of(&before),
            before,
            hosts,
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
            let close = close_names(&node, before.keys())
                .into_iter()
                .map(str::to_owned)
                .collect();
            return no_such_node(&node, close, &fix, format);
        }
        Named::Wan(node) => {
            wan_pool = true;
            before.extend(wan_members(host).into_iter().map(|m| (m.name, m.status)));
            node
        }
        Named::Unknown(close) => {
            let fix = "name a member `carbonio-mesh members` lists: its node name, Carbonio hostname (or its first label, when one node has it) or address";
            return no_such_node(name, close, fix, format);
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
