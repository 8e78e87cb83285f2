//! Plugin `members`: `consul members` of Consul 1.9.3, byte for byte, plus `--format json`.
//!
//! `GET /v1/agent/members?segment=_all` (or `?wan=1`), optional `--status` regular expression,
//! sorted by segment then name, the segment tag rewritten to `<all>` (servers) or `<default>`, and
//! exit status 2 when no member matches, all as `command/members/members.go` does.

use std::borrow::Cow;
use std::net::IpAddr;

use carbonio_mesh_plugin_api::consul::member_status;
use carbonio_mesh_plugin_api::nodes;
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{
    anonymous_warning, export_plugin, ArgSpec, CommandSpec, ConsulText, Host, Manifest,
    OutputFormat, Plugin, PluginError, Request, Response, Suggest, Table,
};
use serde::{Deserialize, Serialize};

/// No member matched `--status` (Consul's `members` exits 2 then).
const EXIT_NO_MATCH: u8 = 2;

/// `serf.Member` as `/v1/agent/members` sends it (fields we do not use are skipped). Strings
/// borrow from Consul's answer: 5,000 members carry 80,000 tag strings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[serde(bound(deserialize = "T: Deserialize<'de> + Default"))]
struct Member<'a, T> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    addr: Cow<'a, str>,
    port: u16,
    #[serde(default)]
    tags: T,
    status: u8,
}

/// Every tag, for `--detailed` and `--format json`, sorted by name (as a map would be, and as
/// Consul's own output is). A list of borrowed pairs, not a map: 5,000 members carry 80,000
/// tags, and a map would be built, walked and freed for each member.
#[derive(Debug, Default, PartialEq, Eq)]
struct AllTags<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> AllTags<'a> {
    /// Sorted by name, one value per name (the last one given, as a map keeps it).
    fn from_pairs(mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Self {
        // Consul writes a map's keys sorted and once each (Go's encoding/json): then a pass
        // that finds them in order is all the work.
        if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            return AllTags(pairs);
        }
        pairs.reverse();
        // Stable: of pairs with the same name, the last one given is now first, and kept.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, first| later.0 == first.0);
        AllTags(pairs)
    }

    fn iter(&self) -> impl Iterator<Item = (&Cow<'a, str>, &Cow<'a, str>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for AllTags<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Pairs<'a> {
            type Value = AllTags<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of tags")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((key, value)) = map.next_entry::<Borrowed<'a>, Borrowed<'a>>()? {
                    pairs.push((key.0, value.0));
                }
                // Kept in a list of exactly their number (a client has 9 tags, not 16): the
                // 16-slot list is freed at once and reused for the next member, so 5,000
                // members' tags lie packed, 1.6 MB less memory to fault in.
                let mut exact = Vec::with_capacity(pairs.len());
                exact.append(&mut pairs);
                Ok(AllTags::from_pairs(exact))
            }
        }
        deserializer.deserialize_map(Pairs(std::marker::PhantomData))
    }
}

/// A string borrowed from Consul's answer when it has no escapes (`Cow` alone always copies).
struct Borrowed<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Borrowed<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wrap<'a>(#[serde(borrow)] Cow<'a, str>);
        Wrap::deserialize(deserializer).map(|w| Borrowed(w.0))
    }
}

impl Serialize for AllTags<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

/// Only the tags the standard table shows: serde skips the others without allocating, which
/// halves the decoding of a 5,000-member list.
#[derive(Debug, Default, Deserialize)]
struct TableTags<'a> {
    #[serde(borrow, default)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    build: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    vsn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    dc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    segment: Option<Cow<'a, str>>,
}

/// What `view` needs from a member's tags, whichever way they were decoded.
trait Tags<'a> {
    fn get(&self, key: &str) -> Option<&Cow<'a, str>>;
    fn set_segment(&mut self, segment: &'static str);
    fn into_map(self) -> AllTags<'a>;
}

impl<'a> Tags<'a> for AllTags<'a> {
    fn get(&self, key: &str) -> Option<&Cow<'a, str>> {
        // A walk that compares lengths first: a member has 9 to 16 tags, and a binary search
        // compared bytes 4 times a lookup (memcmp was 4% of `--format json`'s CPU).
        self.0
            .iter()
            .find(|(k, _)| k.len() == key.len() && k == key)
            .map(|(_, v)| v)
    }

    fn set_segment(&mut self, segment: &'static str) {
        let value = Cow::Borrowed(segment);
        match self.0.binary_search_by(|(k, _)| k.as_ref().cmp("segment")) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (Cow::Borrowed("segment"), value)),
        }
    }

    fn into_map(self) -> AllTags<'a> {
        self
    }
}

impl<'a> Tags<'a> for TableTags<'a> {
    fn get(&self, key: &str) -> Option<&Cow<'a, str>> {
        match key {
            "role" => self.role.as_ref(),
            "build" => self.build.as_ref(),
            "vsn" => self.vsn.as_ref(),
            "dc" => self.dc.as_ref(),
            "segment" => self.segment.as_ref(),
            _ => None,
        }
    }

    fn set_segment(&mut self, segment: &'static str) {
        self.segment = Some(Cow::Borrowed(segment));
    }

    fn into_map(self) -> AllTags<'a> {
        // Not shown by the standard table; kept empty rather than half-filled.
        AllTags::default()
    }
}

/// One member as `--format json` prints it: these field names are stable (see the README).
#[derive(Debug, Serialize, PartialEq, Eq)]
struct MemberView<'a> {
    name: Cow<'a, str>,
    address: String,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    build: Cow<'a, str>,
    protocol: Cow<'a, str>,
    dc: Cow<'a, str>,
    segment: Cow<'a, str>,
    tags: AllTags<'a>,
    /// The Carbonio hostname this node is (`agent-mail-example-com` is `mail.example.com`),
    /// from Carbonio's server list; null when unknown. JSON only: the table stays Consul's.
    host: Option<String>,
}

/// Go's `net.TCPAddr.String()`: IPv6 in brackets.
fn socket_address(addr: &str, port: u16) -> String {
    use std::fmt::Write;
    // Only an IPv6 address has a colon; the others are written as they are, without parsing.
    if addr.contains(':') {
        if let Ok(IpAddr::V6(v6)) = addr.parse::<IpAddr>() {
            return format!("[{v6}]:{port}");
        }
    }
    let mut address = String::with_capacity(addr.len() + 6);
    address.push_str(addr);
    let _ = write!(address, ":{port}");
    address
}

/// The part of a build tag before `:` (`1.9.3:f55da930` -> `1.9.3`), `< 0.3` when there is none.
fn build_of<'a>(tag: Option<&Cow<'a, str>>) -> Cow<'a, str> {
    match tag {
        None => Cow::Borrowed("< 0.3"),
        Some(build) if build.is_empty() => Cow::Borrowed("< 0.3"),
        Some(Cow::Borrowed(build)) => Cow::Borrowed(build.split(':').next().unwrap_or(build)),
        Some(Cow::Owned(build)) => Cow::Owned(build.split(':').next().unwrap_or(build).to_owned()),
    }
}

fn view<'a, T: Tags<'a>>(mut member: Member<'a, T>) -> MemberView<'a> {
    let role = member
        .tags
        .get("role")
        .map(|r| r.as_ref())
        .unwrap_or_default();
    let kind = match role {
        "consul" => "server",
        "node" => "client",
        _ => "unknown",
    };
    if member.tags.get("segment").is_none_or(|s| s.is_empty()) {
        let segment = if role == "consul" {
            "<all>"
        } else {
            "<default>"
        };
        member.tags.set_segment(segment);
    }
    let build = build_of(member.tags.get("build"));
    let tag = |key: &str| member.tags.get(key).cloned().unwrap_or_default();
    MemberView {
        address: socket_address(&member.addr, member.port),
        status: member_status(member.status),
        kind,
        build,
        protocol: tag("vsn"),
        dc: tag("dc"),
        segment: tag("segment"),
        name: member.name,
        tags: member.tags.into_map(),
        host: None,
    }
}

/// Fills in `host` from Carbonio's server list. A WAN name (`NODE.DC`) is its LAN node's.
fn add_hosts(host: &Host<'_>, members: &mut [MemberView<'_>]) {
    fn lan_name<'m>(m: &'m MemberView<'_>) -> &'m str {
        m.name
            .strip_suffix(m.dc.as_ref())
            .and_then(|name| name.strip_suffix('.'))
            .unwrap_or(&m.name)
    }
    // Only the names matter for a hostname; the address is the socket address here.
    let directory =
        nodes::NodeDirectory::of_listed(host, members.iter().map(|m| (lan_name(m), "")));
    for note in &directory.unmapped {
        host.debug(note);
    }
    let hosts = directory.hosts_by_node();
    let found: Vec<Option<String>> = members
        .iter()
        .map(|m| hosts.get(lan_name(m)).map(|h| (*h).to_owned()))
        .collect();
    for (member, host) in members.iter_mut().zip(found) {
        member.host = host;
    }
}

/// Decodes the members (with every tag, or only the table's), keeps those whose status matches.
/// Also says whether Consul may have filtered the list (read without a token under deny).
fn views<'a, T>(
    answer: &'a ConsulText,
    status: &regex::Regex,
) -> Result<(Vec<MemberView<'a>>, bool), PluginError>
where
    T: Tags<'a> + Deserialize<'a> + Default,
{
    // A client agent answers `null` to ?wan=1.
    let (members, anonymous): (Option<Vec<Member<'a, T>>>, bool) = answer.decode_noting_acl()?;
    let views = members
        .unwrap_or_default()
        .into_iter()
        .filter(|m| status.is_match(member_status(m.status)))
        .map(view)
        .collect();
    Ok((views, anonymous))
}

/// `ByMemberNameAndSegment`: by the (rewritten) segment tag, then by name. `<all>` sorts before
/// `<default>`, which is why servers come first.
fn sort(members: &mut [MemberView<'_>]) {
    members.sort_by(|a, b| (&a.segment, &a.name).cmp(&(&b.segment, &b.name)));
}

fn render(members: &[MemberView<'_>], detailed: bool) -> String {
    let mut table = if detailed {
        Table::new(["Node", "Address", "Status", "Tags"])
    } else {
        Table::new([
            "Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Segment",
        ])
    };
    for m in members {
        if detailed {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            table.push([
                Cow::Borrowed(m.name.as_ref()),
                Cow::Borrowed(m.address.as_str()),
                Cow::Borrowed(m.status),
                Cow::Owned(tags.join(",")),
            ]);
        } else {
            table.push([
                m.name.as_ref(),
                m.address.as_str(),
                m.status,
                m.kind,
                m.build.as_ref(),
                m.protocol.as_ref(),
                m.dc.as_ref(),
                m.segment.as_ref(),
            ]);
        }
    }
    table.render()
}

/// Consul prints nothing at all, not even the header, when no member matches.
fn render_or_nothing(members: &[MemberView<'_>], detailed: bool) -> String {
    if members.is_empty() {
        String::new()
    } else {
        render(members, detailed)
    }
}

pub struct Members;

impl Plugin for Members {
    fn manifest() -> Manifest {
        Manifest::new(
            "members",
            env!("CARGO_PKG_VERSION"),
            "List the Mesh agents (consul members)",
        )
        .exit_code(EXIT_NO_MATCH, "no member matched (as Consul)")
        .command(
            CommandSpec::new("members", "List the Mesh agents (consul members)")
                .example(
                    "carbonio-mesh members",
                    "Every agent, as consul members prints them",
                )
                .example(
                    "carbonio-mesh members --status failed",
                    "Only the failed ones (exit 2 when there are none)",
                )
                .example(
                    "carbonio-mesh members --format json",
                    "With each node's Carbonio hostname, for scripts",
                )
                .read_only()
                .long_about(
                    "List the agents of Carbonio Mesh, as `consul members` does.\n\n\
                     Exits 2 when no member matches --status.",
                )
                .arg(ArgSpec::flag("detailed", "Show every tag of every member"))
                .arg(ArgSpec::flag(
                    "wan",
                    "List the servers of every datacenter (WAN pool)",
                ))
                .arg(
                    ArgSpec::option("status", "Only members whose status matches REGEX")
                        .value_name("REGEX")
                        .suggest(Suggest::Values {
                            values: ["alive", "leaving", "left", "failed"]
                                .map(String::from)
                                .to_vec(),
                        }),
                ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        let status_filter = request.value("status").unwrap_or(".*");
        let pattern = regex::Regex::new(status_filter).map_err(|e| {
            PluginError::usage(format!(
                "--status {status_filter:?} is not a regular expression: {e}"
            ))
        })?;
        let query = if request.flag("wan") {
            ConsulRequest::get(&["v1", "agent", "members"]).query("wan", "1")
        } else {
            ConsulRequest::get(&["v1", "agent", "members"]).query("segment", "_all")
        };
        let answer = host.consul_text(&query)?;
        let all_tags = request.flag("detailed") || request.format == OutputFormat::Json;
        let (mut members, anonymous) = if all_tags {
            views::<AllTags<'_>>(&answer, &pattern)?
        } else {
            views::<TableTags<'_>>(&answer, &pattern)?
        };
        sort(&mut members);
        let response = match request.format {
            OutputFormat::Json => {
                add_hosts(host, &mut members);
                // Our document is about 1.45 times Consul's answer (indentation, derived
                // fields): one buffer of that size, not a doubling one.
                Response::json_sized(&members, answer.len() / 2 * 3)?
            }
            OutputFormat::Human => {
                Response::text(render_or_nothing(&members, request.flag("detailed")))
            }
        };
        // Consul's exit status 2 for no match; with --format json the answer is still a document.
        let response = if members.is_empty() {
            response.with_exit_code(EXIT_NO_MATCH)
        } else {
            response
        };
        Ok(if anonymous {
            let (message, fix) = anonymous_warning("the members", "node:read");
            response.with_warning(message, Some(fix))
        } else {
            response
        })
    }
}

export_plugin!(Members);

#[cfg(test)]
mod tests {
    use super::*;

    fn member(
        name: &'static str,
        role: &'static str,
        status: u8,
    ) -> Member<'static, AllTags<'static>> {
        let tags = [
            ("role", role),
            ("build", "1.9.3:f55da930"),
            ("vsn", "2"),
            ("dc", "dc1"),
            ("segment", ""),
        ];
        Member {
            name: Cow::Borrowed(name),
            addr: Cow::Borrowed("10.0.0.1"),
            port: 8301,
            tags: AllTags::from_pairs(
                tags.iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            ),
            status,
        }
    }

    #[test]
    fn servers_first_then_names_and_derived_columns() {
        let mut members: Vec<MemberView<'_>> = vec![
            member("b", "node", 1),
            member("z", "consul", 4),
            member("a", "node", 3),
        ]
        .into_iter()
        .map(view)
        .collect();
        sort(&mut members);
        let names: Vec<_> = members
            .iter()
            .map(|m| (m.name.as_ref(), m.kind, m.status, m.segment.as_ref()))
            .collect();
        assert_eq!(
            names,
            [
                ("z", "server", "failed", "<all>"),
                ("a", "client", "left", "<default>"),
                ("b", "client", "alive", "<default>")
            ]
        );
        assert_eq!(members[0].build, "1.9.3");
    }

    #[test]
    fn all_tags_decode_sorted_borrowed_and_print_as_a_map_would() {
        let json =
            r#"{"vsn":"2","role":"node","build":"1.9.3:x","dc":"dc1","role":"consul","a\"b":"q"}"#;
        let tags: AllTags<'_> = serde_json::from_str(json).unwrap();
        let names: Vec<&str> = tags.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(names, ["a\"b", "build", "dc", "role", "vsn"]);
        // A repeated name keeps its last value, as a map does.
        assert_eq!(Tags::get(&tags, "role").map(|r| r.as_ref()), Some("consul"));
        assert!(matches!(Tags::get(&tags, "vsn"), Some(Cow::Borrowed(_))));
        let map: std::collections::BTreeMap<String, String> = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_string_pretty(&tags).unwrap(),
            serde_json::to_string_pretty(&map).unwrap()
        );
        let mut tags = tags;
        tags.set_segment("<default>");
        assert_eq!(
            Tags::get(&tags, "segment").map(|s| s.as_ref()),
            Some("<default>")
        );
        let names: Vec<&str> = tags.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(names, ["a\"b", "build", "dc", "role", "segment", "vsn"]);
    }

    #[test]
    fn tags_in_order_are_kept_and_a_repeated_name_keeps_its_last_value() {
        let pairs =
            |list: &[(&'static str, &'static str)]| -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
                list.iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect()
            };
        let sorted = pairs(&[("acls", "1"), ("build", "x"), ("dc", "dc1")]);
        assert_eq!(AllTags::from_pairs(sorted.clone()).0, sorted);
        // In order but repeated: not the fast path, and the last value wins.
        let repeated = pairs(&[("acls", "1"), ("dc", "old"), ("dc", "new")]);
        assert_eq!(
            AllTags::from_pairs(repeated).0,
            pairs(&[("acls", "1"), ("dc", "new")])
        );
    }

    #[test]
    fn ipv6_addresses_are_bracketed_and_missing_build_is_old() {
        assert_eq!(socket_address("fd00::1", 8301), "[fd00::1]:8301");
        assert_eq!(socket_address("10.0.0.1", 8301), "10.0.0.1:8301");
        // Not an address Consul sends, but written as it is rather than lost.
        assert_eq!(socket_address("a:b", 1), "a:b:1");
        let mut old = member("x", "weird", 1);
        old.tags.0.retain(|(k, _)| k != "build");
        let view = view(old);
        assert_eq!((view.build.as_ref(), view.kind), ("< 0.3", "unknown"));
    }
}
