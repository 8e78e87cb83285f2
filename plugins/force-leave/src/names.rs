//! Which member the command line names: a LAN member by any of its three names (node name,
//! Carbonio hostname, address), a WAN member (`NODE.DC`), or none, with the closest names.

use carbonio_mesh_plugin_api::nodes::{
    node_names_for, Lookup, Member, NameForm, NodeDirectory, NodeRole,
};
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{Host, PluginError};

/// The LAN members, as the agent sees them (refused without a token under default-deny).
pub fn lan_members(host: &Host<'_>) -> Result<Vec<Member>, PluginError> {
    host.consul_get_filtered(
        &ConsulRequest::get(&["v1", "agent", "members"]).query("segment", "_all"),
        "the member list",
        "operator:write",
    )
}

/// The WAN pool (`NODE.DC` names) a server agent knows; a client agent has none (`null`).
pub fn wan_members(host: &Host<'_>) -> Vec<Member> {
    host.consul_get::<Option<Vec<Member>>>(
        &ConsulRequest::get(&["v1", "agent", "members"]).query("wan", "1"),
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// What the node named on the command line is: a LAN member found by any of its names (with
/// the hostname, when known), a WAN member, or nothing Consul knows (with the closest members,
/// named in the form the name was typed: hostnames for a hostname, addresses for an address).
#[derive(Debug, PartialEq, Eq)]
pub enum Named {
    Lan { node: String, host: Option<String> },
    Wan(String),
    Unknown(Vec<String>),
}

/// Up to three members close to `wanted`, named in its form.
fn suggestions(directory: &NodeDirectory, wanted: &str) -> Vec<String> {
    let form = NameForm::of(wanted);
    if form == NameForm::Address {
        return directory
            .nodes
            .iter()
            .filter(|n| strsim::levenshtein(&n.address, wanted) <= 2)
            .take(3)
            .map(|n| n.address.clone())
            .collect();
    }
    let names: Vec<String> = directory.nodes.iter().map(|n| n.node.clone()).collect();
    close_names(wanted, names.iter())
        .into_iter()
        .filter_map(|name| directory.nodes.iter().find(|n| n.node == name))
        .map(|node| form.name_of(node, wanted))
        .collect()
}

/// `name` among `lan` (with Carbonio's server list) and, when not found there, `wan`.
pub fn name_node(
    host: &Host<'_>,
    lan: &[Member],
    wan: impl FnOnce() -> Vec<Member>,
    name: &str,
) -> Result<Named, PluginError> {
    let directory = NodeDirectory::with_servers_of(host, lan);
    match directory.find(name) {
        Lookup::Found(node) => Ok(Named::Lan {
            node: node.node.clone(),
            host: node.host.clone(),
        }),
        Lookup::Ambiguous(nodes) => {
            let names: Vec<String> = nodes.iter().map(|n| n.label()).collect();
            Err(PluginError::usage(format!(
                "'{name}' fits several members: {}",
                names.join(", ")
            ))
            .hint("name the one meant by its Consul node name"))
        }
        Lookup::NotFound if wan().iter().any(|m| m.name == name) => Ok(Named::Wan(name.to_owned())),
        Lookup::NotFound => Ok(Named::Unknown(suggestions(&directory, name))),
    }
}

/// The WAN member `name` means for `--wan`: itself when the WAN pool has it, else the WAN name
/// of the LAN server it names (`NODE.DC`, as Consul's WAN pool names servers).
pub fn wan_name(
    host: &Host<'_>,
    lan: &[Member],
    wan: &[Member],
    name: &str,
    dc: &str,
) -> Result<Option<String>, PluginError> {
    if wan.iter().any(|m| m.name == name) {
        return Ok(Some(name.to_owned()));
    }
    let lan_node = match name_node(host, lan, Vec::new, name)? {
        Named::Lan { node, .. } => node,
        _ => return Ok(None),
    };
    let wan_node = format!("{lan_node}.{dc}");
    Ok(wan.iter().any(|m| m.name == wan_node).then_some(wan_node))
}

/// Up to three member names close to `wanted`: at most two edits away from it or from the node
/// names its hostname form would have (a typo), or whose host part starts with its first label
/// (`agent-mail-example-com` for `mail.example.org`).
pub fn close_names<'a>(wanted: &str, names: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    let forms: Vec<String> = if wanted.contains('.') {
        node_names_for(wanted).into()
    } else {
        vec![wanted.to_owned()]
    };
    let label = wanted.split('.').next().unwrap_or(wanted);
    // A short hostname (`mial`) is compared with each node's first word too (`mail`).
    let short = !wanted.contains('.') && NodeRole::split(wanted).is_none();
    let mut scored: Vec<(usize, &str)> = names
        .map(|n| {
            let first_word = NodeRole::split(n).and_then(|(_, dashed)| dashed.split('-').next());
            let nearest = forms
                .iter()
                .map(|f| strsim::levenshtein(f, n))
                .chain(
                    first_word
                        .filter(|_| short)
                        .map(|w| strsim::levenshtein(wanted, w)),
                )
                .min()
                .unwrap_or(usize::MAX);
            (nearest, n.as_str())
        })
        .filter(|(d, n)| {
            let host_part = NodeRole::split(n).map_or(*n, |(_, dashed)| dashed);
            *d <= 2 || (label.len() > 1 && host_part.starts_with(label))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_find_typos_and_shared_first_labels() {
        let names: Vec<String> = [
            "server-srv1-example-com",
            "server-srv2-example-com",
            "agent-mail-example-com",
            "agent-proxy-example-com",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            close_names("server-srv4-example-com", names.iter()),
            vec!["server-srv1-example-com", "server-srv2-example-com"]
        );
        // A hostname typo is compared in its node-name forms.
        assert_eq!(
            close_names("srv4.example.com", names.iter()),
            vec!["server-srv1-example-com", "server-srv2-example-com"]
        );
        assert_eq!(
            close_names("mail.example.org", names.iter()),
            vec!["agent-mail-example-com"]
        );
        assert_eq!(
            close_names("mail", names.iter()),
            vec!["agent-mail-example-com"]
        );
        assert!(close_names("nope.example.org", names.iter()).len() <= 3);
    }
}
