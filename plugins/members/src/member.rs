//! A member of Consul's list as the CLI sees it, shared by the table and the JSON document:
//! `serf.Member` decoded, the CLI's rewrite of its tags, its version, the layout its agent's
//! version gives and its place in the CLI's order.

use std::borrow::Cow;

use carbonio_mesh_plugin_api::consul::version::MEMBERS_PARTITION;
use carbonio_mesh_plugin_api::consul::AgentVersion;
use carbonio_mesh_plugin_api::Widths;
use serde::Deserialize;

use crate::tags::Tags;

/// `serf.Member` as `/v1/agent/members` sends it (fields we do not use are skipped). Strings
/// borrow from Consul's answer: 5,000 members carry 80,000 tag strings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(bound(deserialize = "T: Deserialize<'de> + Default"))]
pub(crate) struct Member<'a, T> {
    #[serde(borrow)]
    pub(crate) name: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) addr: Cow<'a, str>,
    pub(crate) port: u16,
    #[serde(default)]
    pub(crate) tags: T,
    pub(crate) status: u8,
}

/// How the agent's `consul members` lays the table out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// 1.11+: a Partition column, `ap=default` in the tags, servers sorted first.
    pub(crate) partition: bool,
    pub(crate) widths: Widths,
}

impl Layout {
    pub(crate) fn of(version: &AgentVersion) -> Layout {
        Layout {
            partition: version.has(&MEMBERS_PARTITION),
            widths: Widths::of(version),
        }
    }
}

/// The part of a build tag before `:` (`1.9.3:f55da930` -> `1.9.3`), `< 0.3` when there is none.
pub(crate) fn build_of<'a>(tag: Option<&Cow<'a, str>>) -> Cow<'a, str> {
    match tag {
        None => Cow::Borrowed("< 0.3"),
        Some(build) if build.is_empty() => Cow::Borrowed("< 0.3"),
        Some(Cow::Borrowed(build)) => Cow::Borrowed(before_colon(build)),
        Some(Cow::Owned(build)) => Cow::Owned(before_colon(build).to_owned()),
    }
}

/// The CLI's rewrite of a member (command/members/members.go `Run`): the partition `default`
/// when absent (1.11+), the segment `<all>` for a server and `<default>` when empty. Gives the
/// member's type.
pub(crate) fn rewrite<'a, T: Tags<'a>>(member: &mut Member<'a, T>, layout: Layout) -> &'static str {
    let role = member.tags.get("role").map_or("", |r| r.as_ref());
    let kind = match role {
        "consul" => "server",
        "node" => "client",
        _ => "unknown",
    };
    if role == "consul" {
        member.tags.set("segment", "<all>");
    } else if member.tags.get("segment").is_none_or(|s| s.is_empty()) {
        member.tags.set("segment", "<default>");
    }
    if layout.partition && member.tags.get("ap").is_none_or(|p| p.is_empty()) {
        member.tags.set("ap", "default");
    }
    kind
}

/// The version a member's `build` tag names (`1.21.4` of `1.21.4:abcdef`).
pub(crate) fn version_of<'m, 'a, T: Tags<'a>>(member: &'m Member<'a, T>) -> Option<&'m str> {
    member.tags.get("build").map(|b| before_colon(b))
}

/// The part of `text` before its first `:` (a byte loop: the tags are a few bytes long, shorter
/// than what `split` sets up to search).
fn before_colon(text: &str) -> &str {
    text.bytes()
        .position(|b| b == b':')
        .map_or(text, |colon| &text[..colon])
}

/// A member's place in the CLI's order: up to 1.10 `ByMemberNameAndSegment` (segment, then
/// name: `<all>` sorts before `<default>`); from 1.11 `ByMemberNamePartitionAndSegment`
/// (servers, the default partition, segment, partition, name).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Order<'m> {
    not_server: bool,
    other_partition: bool,
    segment: &'m str,
    partition: Option<&'m str>,
    name: &'m str,
}

impl<'m> Order<'m> {
    /// `partition_layout`: the 1.11+ order (the member's partition is then `Some`).
    pub(crate) fn new(
        partition_layout: bool,
        server: bool,
        segment: &'m str,
        partition: Option<&'m str>,
        name: &'m str,
    ) -> Self {
        if !partition_layout {
            return Order {
                not_server: false,
                other_partition: false,
                segment,
                partition: None,
                name,
            };
        }
        let other_partition = partition.is_some_and(|p| !(p.is_empty() || p == "default"));
        Order {
            not_server: !server,
            other_partition,
            segment,
            partition,
            name,
        }
    }
}
