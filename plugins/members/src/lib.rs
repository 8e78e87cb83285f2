//! Plugin `members`: `consul members` as the agent's own Consul prints it, byte for byte, plus
//! `--format json`.
//!
//! `GET /v1/agent/members?segment=_all` (or `?wan=1`), optional `--status` regular expression,
//! the segment tag rewritten to `<all>` (servers) or `<default>`, exit status 2 when no member
//! matches, all as `command/members/members.go` does. Which Consul prints the table is read
//! from the answer itself: the agent is one of the members, so when every member runs one
//! version that is the agent's (no extra request); when they differ (an upgrade under way) one
//! `/v1/agent/self` says. Up to 1.10 the table has eight columns sorted by segment then name;
//! from 1.11 a Partition column, `ap=default` in every member's tags, servers first.

mod document;
mod member;
mod tags;

use std::borrow::Cow;
use std::net::IpAddr;

use carbonio_mesh_plugin_api::consul::{agent_version, member_status, AgentVersion, VersionFound};
use carbonio_mesh_plugin_api::services::ConsulRequest;
use carbonio_mesh_plugin_api::{
    anonymous_warning, export_plugin, ArgSpec, CommandSpec, ConsulText, Host, Manifest,
    OutputFormat, Plugin, PluginError, Request, Response, Suggest, Table,
};
use serde::{Deserialize, Serialize};

use member::{build_of, rewrite, version_of, Layout, Member, Order};
use tags::{AllTags, TableTags, Tags};

/// No member matched `--status` (Consul's `members` exits 2 then).
const EXIT_NO_MATCH: u8 = 2;

/// One member as the table shows it. `--format json` writes the same fields, and `host` after
/// them, straight from Consul's answer (see `document`); its field names are stable (see the
/// README): `node` the Consul node name, `address` the IP and `port` apart (the table joins
/// them). As serde_json prints this struct is what `document`'s writer is tested against.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct MemberView<'a> {
    #[serde(rename = "node")]
    name: Cow<'a, str>,
    address: Cow<'a, str>,
    port: u16,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    build: Cow<'a, str>,
    protocol: Cow<'a, str>,
    dc: Cow<'a, str>,
    /// From Consul 1.11, which shows it (`default` unless Enterprise says otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    partition: Option<Cow<'a, str>>,
    segment: Cow<'a, str>,
    tags: AllTags<'a>,
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

/// A member as the table shows it (see [`rewrite`]).
fn view<'a, T: Tags<'a>>(mut member: Member<'a, T>, layout: Layout) -> MemberView<'a> {
    let kind = rewrite(&mut member, layout);
    let build = build_of(member.tags.get("build"));
    let tag = |key: &str| member.tags.get(key).cloned().unwrap_or_default();
    MemberView {
        address: member.addr,
        port: member.port,
        status: member_status(member.status),
        kind,
        build,
        protocol: tag("vsn"),
        dc: tag("dc"),
        partition: layout.partition.then(|| tag("ap")),
        segment: tag("segment"),
        name: member.name,
        tags: member.tags.into_map(),
    }
}

/// The version every member's `build` tag names, when they all name the same one (the agent
/// answering is among them); `None` when they differ or none says.
fn common_version<'a, T: Tags<'a>>(members: &[Member<'a, T>]) -> Option<AgentVersion> {
    let first = version_of(members.first()?)?;
    members
        .iter()
        .all(|m| version_of(m) == Some(first))
        .then(|| AgentVersion::parse(first))
        .flatten()
}

/// The members as the agent's CLI shows them, the agent's version, and whether Consul may
/// have filtered the list (read without a token under deny). Tags are decoded all, or only the
/// table's (`T`); members whose status does not match are left out.
struct Listed<'a> {
    members: Vec<MemberView<'a>>,
    version: VersionFound,
    anonymous: bool,
}

fn listed<'a, T>(
    host: &Host<'_>,
    answer: &'a ConsulText,
    status: &regex::Regex,
) -> Result<Listed<'a>, PluginError>
where
    T: Tags<'a> + Deserialize<'a> + Default,
{
    // A client agent answers `null` to ?wan=1.
    let (members, anonymous): (Option<Vec<Member<'a, T>>>, bool) = answer.decode_noting_acl()?;
    let members = members.unwrap_or_default();
    let version = match common_version(&members) {
        Some(version) => VersionFound::reported(version),
        None if members.is_empty() => VersionFound::reported(AgentVersion::of_known(
            carbonio_mesh_plugin_api::consul::KnownVersion::V1_21_4,
        )),
        None => agent_version(host),
    };
    let layout = Layout::of(&version.version);
    let members = members
        .into_iter()
        .filter(|m| status.is_match(member_status(m.status)))
        .map(|m| view(m, layout))
        .collect();
    Ok(Listed {
        members,
        version,
        anonymous,
    })
}

/// A table row's place in the CLI's order.
fn order_of<'m>(member: &'m MemberView<'_>, layout: Layout) -> Order<'m> {
    Order::new(
        layout.partition,
        member.kind == "server",
        &member.segment,
        member.partition.as_deref(),
        &member.name,
    )
}

fn sort(members: &mut [MemberView<'_>], layout: Layout) {
    members.sort_by(|a, b| order_of(a, layout).cmp(&order_of(b, layout)));
}

fn render(members: &[MemberView<'_>], detailed: bool, layout: Layout) -> String {
    let mut table = if detailed {
        Table::new(["Node", "Address", "Status", "Tags"])
    } else if layout.partition {
        Table::new([
            "Node",
            "Address",
            "Status",
            "Type",
            "Build",
            "Protocol",
            "DC",
            "Partition",
            "Segment",
        ])
    } else {
        Table::new([
            "Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Segment",
        ])
    };
    for m in members {
        // One allocation per row: the widest row has nine cells.
        let mut row: Vec<Cow<'_, str>> = Vec::with_capacity(9);
        row.extend([
            Cow::Borrowed(m.name.as_ref()),
            Cow::Owned(socket_address(&m.address, m.port)),
            Cow::Borrowed(m.status),
        ]);
        if detailed {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            row.push(Cow::Owned(tags.join(",")));
        } else if m.kind == "unknown" {
            // A member of no known role: its type, and every other column empty.
            row.push(Cow::Borrowed("unknown"));
            let empty = if layout.partition { 5 } else { 4 };
            row.extend(std::iter::repeat_n(Cow::Borrowed(""), empty));
        } else {
            row.push(Cow::Borrowed(m.kind));
            for cell in [&m.build, &m.protocol, &m.dc] {
                row.push(Cow::Borrowed(cell.as_ref()));
            }
            if let Some(partition) = &m.partition {
                row.push(Cow::Borrowed(partition.as_ref()));
            }
            row.push(Cow::Borrowed(m.segment.as_ref()));
        }
        table.push(row);
    }
    table.render_as(layout.widths)
}

pub struct Members;

impl Members {
    fn manifest_command() -> CommandSpec {
        CommandSpec::new("members", "List the Mesh agents (consul members)")
            .example(
                "carbonio-mesh members",
                "Every agent, as this node's consul members prints them",
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
                "List the agents of Carbonio Mesh, as `consul members` does. The table is the one \
                 the agent's own Consul prints: up to 1.10 eight columns, from 1.11 (Carbonio's \
                 1.19 and 1.21.4) a Partition column too, and ap=default in --detailed.\n\n\
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
            )
    }
}

impl Plugin for Members {
    fn manifest() -> Manifest {
        Manifest::new(
            "members",
            env!("CARGO_PKG_VERSION"),
            "List the Mesh agents (consul members)",
        )
        .exit_code(EXIT_NO_MATCH, "no member matched (as Consul)")
        .command(Members::manifest_command())
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
        if request.format == OutputFormat::Json {
            let written = document::write(host, &answer, &pattern)?;
            let response = Response {
                stdout_json: Some(written.document),
                ..Response::text("")
            };
            return Ok(finish(
                response,
                written.listed,
                written.version,
                written.anonymous,
            ));
        }
        let mut listed = if request.flag("detailed") {
            listed::<AllTags<'_>>(host, &answer, &pattern)?
        } else {
            listed::<TableTags<'_>>(host, &answer, &pattern)?
        };
        let layout = Layout::of(&listed.version.version);
        sort(&mut listed.members, layout);
        // Consul prints nothing at all, not even the header, when no member matches.
        let response = if listed.members.is_empty() {
            Response::text("")
        } else {
            Response::text(render(&listed.members, request.flag("detailed"), layout))
        };
        Ok(finish(
            response,
            listed.members.len(),
            listed.version,
            listed.anonymous,
        ))
    }
}

/// Consul's exit status 2 for no match (with --format json the answer is still a document),
/// and the warnings: an unknown version, a list Consul may have filtered.
fn finish(response: Response, listed: usize, version: VersionFound, anonymous: bool) -> Response {
    let response = if listed == 0 {
        response.with_exit_code(EXIT_NO_MATCH)
    } else {
        response
    };
    let response = version.warn_into(response);
    if anonymous {
        let (message, fix) = anonymous_warning("the members", "node:read");
        response.with_warning(message, Some(fix))
    } else {
        response
    }
}

export_plugin!(Members);

#[cfg(test)]
mod tests {
    use std::ffi::c_void;

    use carbonio_mesh_plugin_abi::abi_stable::std_types::{RResult, RStr, RString};
    use carbonio_mesh_plugin_abi::HostHandle;
    use carbonio_mesh_plugin_api::ConsulText;

    use super::document::{self, Written};
    use super::*;

    /// A host that knows one Carbonio server and whose agent runs 1.21.4 (what it answers to
    /// `/v1/agent/self`, asked only when the members' versions differ).
    extern "C" fn fake_host(
        _ctx: *const c_void,
        service: RStr<'_>,
        _payload: RStr<'_>,
    ) -> RResult<RString, RString> {
        let answer = match service.as_str() {
            "carbonio.servers" => r#"{"servers":[{"hostname":"mail.example.com"}]}"#,
            "consul" => {
                r#"{"json":{"Config":{"NodeName":"server-srv1","Version":"1.21.4"}},"status":200}"#
            }
            _ => "{}",
        };
        RResult::ROk(answer.into())
    }

    /// Members in Consul's form: a server, a client of the mapped host, a name that needs
    /// escapes, a member of no known role, a WAN name, an IPv6 address; with `bare`, a member
    /// with no tags at all (no version: the agent is asked).
    fn answer(server_build: &str, client_build: &str, bare: bool) -> String {
        let member = |name: &str, addr: &str, status: u8, tags: String| {
            format!(
                r#"{{"Name":{name},"Addr":"{addr}","Port":8301,"Tags":{tags},"Status":{status},"ProtocolMin":1}}"#
            )
        };
        let tags = |role: &str, build: &str, segment: &str| {
            format!(
                r#"{{"build":"{build}","dc":"dc1","role":"{role}","segment":"{segment}","vsn":"2"}}"#
            )
        };
        let list = [
            member(
                r#""agent-mail-example-com""#,
                "10.0.0.2",
                1,
                tags("node", client_build, ""),
            ),
            member(
                r#""server-srv1-example-com.dc1""#,
                "fd00::1",
                1,
                tags("consul", server_build, ""),
            ),
            member(
                r#""agent-\"odd\"\tname""#,
                "10.0.0.3",
                4,
                tags("node", client_build, "seg"),
            ),
            member(
                r#""agent-a-example-com""#,
                "10.0.0.4",
                3,
                tags("node", client_build, ""),
            ),
            member(
                r#""other""#,
                "10.0.0.5",
                1,
                format!(r#"{{"build":"{client_build}"}}"#),
            ),
            member(r#""bare""#, "10.0.0.6", 1, "{}".to_owned()),
        ];
        let list = &list[..list.len() - usize::from(!bare)];
        format!(r#"{{"json":[{}],"status":200}}"#, list.join(","))
    }

    /// The document as serde_json printed the views before the writer: the oracle.
    fn expected(text: &str, layout: Layout, status: &regex::Regex) -> String {
        #[derive(Serialize)]
        struct WithHost<'a> {
            #[serde(flatten)]
            view: MemberView<'a>,
            host: Option<&'a str>,
        }
        let answer = ConsulText::for_tests(text);
        let (members, _): (Vec<Member<'_, AllTags<'_>>>, bool) =
            answer.decode_noting_acl().unwrap();
        let mut views: Vec<MemberView<'_>> = members
            .into_iter()
            .filter(|m| status.is_match(member_status(m.status)))
            .map(|m| view(m, layout))
            .collect();
        sort(&mut views, layout);
        let listed: Vec<WithHost<'_>> = views
            .into_iter()
            .map(|view| WithHost {
                host: (view.name == "agent-mail-example-com").then_some("mail.example.com"),
                view,
            })
            .collect();
        serde_json::to_string_pretty(&listed).unwrap()
    }

    fn write_document(text: &str, status: &str) -> Written {
        let handle = HostHandle {
            ctx: std::ptr::null(),
            call: fake_host,
        };
        let host = Host::new(&handle);
        let status = regex::Regex::new(status).unwrap();
        document::write(&host, &ConsulText::for_tests(text), &status).unwrap()
    }

    #[test]
    fn the_document_is_what_serde_json_printed_for_the_views_in_either_layout() {
        for (build, partition) in [("1.9.3:abc", false), ("1.21.4:", true)] {
            let text = answer(build, build, false);
            let layout =
                Layout::of(&AgentVersion::parse(build.split(':').next().unwrap()).unwrap());
            assert_eq!(layout.partition, partition);
            for status in [".*", "alive", "nothing"] {
                let written = write_document(&text, status);
                let regex = regex::Regex::new(status).unwrap();
                assert_eq!(
                    written.document.as_str(),
                    expected(&text, layout, &regex),
                    "{build} {status}"
                );
                assert_eq!(
                    written.version.version.reported,
                    build.split(':').next().unwrap()
                );
            }
        }
    }

    #[test]
    fn members_of_two_versions_are_written_in_the_agents_layout() {
        // The first member says 1.9.3 (no partition), the agent answers 1.21.4: written again.
        // So does a member without a version among members of one.
        let layout = Layout::of(&AgentVersion::parse("1.21.4").unwrap());
        let every = regex::Regex::new(".*").unwrap();
        for text in [
            answer("1.21.4:", "1.9.3:abc", false),
            answer("1.9.3:abc", "1.9.3:abc", true),
        ] {
            let written = write_document(&text, ".*");
            assert_eq!(written.version.version.reported, "1.21.4");
            let expected = expected(&text, layout, &every);
            assert_eq!(written.document.as_str(), expected);
            assert!(expected.contains(r#""partition": "default""#), "{expected}");
        }
        // No member at all: an empty list, 1.21.4 assumed as before.
        let empty = write_document(r#"{"json":[],"status":200}"#, ".*");
        assert_eq!((empty.document.as_str(), empty.listed), ("[]", 0));
        let none = write_document(r#"{"json":null,"status":200}"#, ".*");
        assert_eq!(none.document.as_str(), "[]");
    }

    fn member(
        name: &'static str,
        role: &'static str,
        status: u8,
        build: &'static str,
    ) -> Member<'static, AllTags<'static>> {
        let tags = [
            ("build", build),
            ("dc", "dc1"),
            ("role", role),
            ("segment", ""),
            ("vsn", "2"),
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

    fn layout(version: &str) -> Layout {
        Layout::of(&AgentVersion::parse(version).unwrap())
    }

    #[test]
    fn servers_first_then_names_and_derived_columns_in_both_layouts() {
        for version in ["1.9.3", "1.21.4"] {
            let layout = layout(version);
            let mut members: Vec<MemberView<'_>> = vec![
                member("b", "node", 1, "1.9.3:f55da930"),
                member("z", "consul", 4, "1.9.3:f55da930"),
                member("a", "node", 3, "1.9.3:f55da930"),
            ]
            .into_iter()
            .map(|m| view(m, layout))
            .collect();
            sort(&mut members, layout);
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
                ],
                "{version}"
            );
            assert_eq!(members[0].build, "1.9.3");
            assert_eq!(
                members[0].partition.as_deref(),
                (version == "1.21.4").then_some("default")
            );
        }
    }

    #[test]
    fn from_1_11_the_partition_column_and_ap_default_appear() {
        let old = render(
            &[view(member("n", "node", 1, "1.10.12:"), layout("1.10.12"))],
            false,
            layout("1.10.12"),
        );
        assert_eq!(old.lines().next().unwrap().split_whitespace().count(), 8);
        let new_layout = layout("1.21.4");
        let new = render(
            &[view(member("n", "node", 1, "1.21.4:"), new_layout)],
            false,
            new_layout,
        );
        assert!(
            new.starts_with(
                "Node  Address        Status  Type    Build   Protocol  DC   Partition  Segment\n"
            ),
            "{new}"
        );
        assert!(new.ends_with("default    <default>\n"), "{new}");
        let detailed = render(
            &[view(member("n", "node", 1, "1.21.4:"), new_layout)],
            true,
            new_layout,
        );
        assert!(
            detailed.contains("  ap=default,build=1.21.4:,dc=dc1,"),
            "{detailed}"
        );
        // A member of no known role: empty cells after its type, one more from 1.11.
        let unknown = render(
            &[view(member("u", "other", 1, "1.21.4:"), new_layout)],
            false,
            new_layout,
        );
        let row = unknown.lines().nth(1).unwrap();
        assert_eq!(
            row.trim_end(),
            "u     10.0.0.1:8301  alive   unknown",
            "{unknown:?}"
        );
        assert_eq!(
            row.len(),
            unknown.lines().next().unwrap().len() - "Segment".len()
        );
    }

    #[test]
    fn the_agents_version_is_read_from_the_build_tags_when_they_agree() {
        let same = [
            member("a", "node", 1, "1.21.4:"),
            member("b", "consul", 1, "1.21.4:abc"),
        ];
        let version = common_version(&same).unwrap();
        assert_eq!((version.reported.as_str(), version.exact), ("1.21.4", true));
        let mixed = [
            member("a", "node", 1, "1.21.4:"),
            member("b", "consul", 1, "1.19.1:"),
        ];
        assert_eq!(
            common_version(&mixed),
            None,
            "an upgrade under way: ask the agent"
        );
        assert_eq!(common_version::<AllTags<'_>>(&[]), None);
    }

    #[test]
    fn ipv6_addresses_are_bracketed_and_missing_build_is_old() {
        assert_eq!(socket_address("fd00::1", 8301), "[fd00::1]:8301");
        assert_eq!(socket_address("10.0.0.1", 8301), "10.0.0.1:8301");
        // Not an address Consul sends, but written as it is rather than lost.
        assert_eq!(socket_address("a:b", 1), "a:b:1");
        let mut old = member("x", "weird", 1, "");
        old.tags.0.retain(|(k, _)| k != "build");
        let view = view(old, layout("1.9.3"));
        assert_eq!((view.build.as_ref(), view.kind), ("< 0.3", "unknown"));
    }
}
