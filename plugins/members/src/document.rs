//! `--format json`: the members' document written as Consul's answer is decoded, one member at
//! a time, with no list of members or views in between.
//!
//! Each member is decoded (typed, its strings borrowed from the answer), rewritten as the CLI
//! does ([`crate::rewrite`]) and written at once into a scratch buffer; only where it lies and
//! its place in the CLI's order are kept. Then the places are sorted and the pieces copied, in
//! that order, into the document the host prints. The layout (with or without the partition)
//! is the first member's version's; when the whole list says otherwise (members of several
//! versions, and the agent's own is another layout), the answer is written again.

use std::borrow::Cow;
use std::ops::Range;

use carbonio_mesh_plugin_api::consul::{
    agent_version, member_status, AgentVersion, KnownVersion, VersionFound,
};
use carbonio_mesh_plugin_api::nodes::{self, Hostnames};
use carbonio_mesh_plugin_api::{ConsulText, Host, JsonDocument, PluginError};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};

use crate::member::{build_of, rewrite, version_of, Layout, Member, Order};
use crate::tags::{AllTags, Tags};

/// The document, the agent's version, how many members it lists, and whether Consul may have
/// filtered the list (read without a token under deny).
pub(crate) struct Written {
    pub document: JsonDocument,
    pub version: VersionFound,
    pub listed: usize,
    pub anonymous: bool,
}

/// Writes the members of `answer` whose status matches `status`, in the CLI's order, with the
/// Carbonio hostname of each.
pub(crate) fn write(
    host: &Host<'_>,
    answer: &ConsulText,
    status: &regex::Regex,
) -> Result<Written, PluginError> {
    // Carbonio's server list first: each member's hostname is then known when it is written.
    let hostnames = nodes::carbonio_hostnames(host).unwrap_or_else(|note| {
        host.debug(&note);
        Vec::new()
    });
    let hostnames = Hostnames::new(&hostnames);
    let mut versions = Versions::default();
    let mut forced = None;
    loop {
        let mut pass = Pass {
            host,
            status,
            hostnames: &hostnames,
            versions: &mut versions,
            layout: forced,
            // Our document is about 1.55 times Consul's answer on 1.21.4 (indentation, derived
            // fields), and a member takes some 340 bytes of it: buffers of about the size, not
            // ones that double (and copy) on the way.
            scratch: String::with_capacity(answer.len() / 5 * 8),
            entries: Vec::with_capacity(answer.len() / 256),
        };
        let ((), anonymous) = answer.decode_seed_noting_acl(&mut pass)?;
        let Pass {
            layout,
            scratch,
            mut entries,
            ..
        } = pass;
        let version = versions.found(host);
        let layout_of_list = Layout::of(&version.version);
        // Only the partition changes the document (the widths are the table's).
        if layout.is_some_and(|used| used.partition != layout_of_list.partition) {
            forced = Some(layout_of_list);
            continue;
        }
        entries.sort_by(|a, b| a.order().cmp(&b.order()));
        let document = JsonDocument::written(scratch.len() + 8, |out| {
            assemble(out, &scratch, &entries);
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap_or_else(|never| match never {});
        return Ok(Written {
            document,
            version,
            listed: entries.len(),
            anonymous,
        });
    }
}

/// The array of the written members, in the order of `entries`, as serde_json prints a list.
fn assemble(out: &mut String, scratch: &str, entries: &[Entry<'_>]) {
    if entries.is_empty() {
        out.push_str("[]");
        return;
    }
    out.push('[');
    for (i, entry) in entries.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&scratch[entry.range.clone()]);
    }
    out.push_str("\n]");
}

/// What the members' `build` tags say of the agent's version: all the first one's (then it is
/// the agent's, which is among them), or not (then the agent is asked, once).
#[derive(Default)]
struct Versions {
    /// The first member's version, once a member was seen.
    first: Option<Option<String>>,
    /// Every member seen names the first one's version.
    agree: bool,
    /// The agent's answer, once asked.
    asked: Option<VersionFound>,
}

impl Versions {
    /// Notes a member's version; the layout to write the first member in.
    fn note(&mut self, host: &Host<'_>, version: Option<&str>) -> Option<Layout> {
        match &self.first {
            None => {
                self.first = Some(version.map(str::to_owned));
                self.agree = true;
                let parsed = version.and_then(AgentVersion::parse);
                Some(match parsed {
                    Some(parsed) => Layout::of(&parsed),
                    None => Layout::of(&self.ask(host).version),
                })
            }
            Some(first) => {
                self.agree &= first.as_deref() == version;
                None
            }
        }
    }

    fn ask(&mut self, host: &Host<'_>) -> &VersionFound {
        self.asked.get_or_insert_with(|| agent_version(host))
    }

    /// The agent's version as the whole list gave it (as `common_version` reads a list).
    fn found(&mut self, host: &Host<'_>) -> VersionFound {
        match &self.first {
            None => VersionFound::reported(AgentVersion::of_known(KnownVersion::V1_21_4)),
            Some(Some(first)) if self.agree => match AgentVersion::parse(first) {
                Some(version) => VersionFound::reported(version),
                None => self.ask(host).clone(),
            },
            Some(_) => self.ask(host).clone(),
        }
    }
}

/// A written member: where its text lies in the scratch buffer, and its place in the order.
struct Entry<'a> {
    server: bool,
    segment: Cow<'a, str>,
    partition: Option<Cow<'a, str>>,
    name: Cow<'a, str>,
    range: Range<usize>,
}

impl Entry<'_> {
    fn order(&self) -> Order<'_> {
        Order::new(
            self.partition.is_some(),
            self.server,
            &self.segment,
            self.partition.as_deref(),
            &self.name,
        )
    }
}

/// One pass over Consul's answer: each member decoded, then written at once.
struct Pass<'a, 'h> {
    host: &'h Host<'h>,
    status: &'h regex::Regex,
    hostnames: &'h Hostnames<'h>,
    versions: &'h mut Versions,
    /// The layout members are written in (the first member's version's, or forced).
    layout: Option<Layout>,
    scratch: String,
    entries: Vec<Entry<'a>>,
}

impl<'a, 'h> Pass<'a, 'h> {
    fn member(&mut self, mut member: Member<'a, AllTags<'a>>) -> Result<(), serde_json::Error> {
        let noted = self.versions.note(self.host, version_of(&member));
        let layout = *self
            .layout
            .get_or_insert_with(|| noted.expect("the first member's version gives the layout"));
        if !self.status.is_match(member_status(member.status)) {
            return Ok(());
        }
        let kind = rewrite(&mut member, layout);
        let host = self.host_of(&member);
        let start = self.scratch.len();
        let out = &mut self.scratch;
        let tag = |key: &str| member.tags.get(key).cloned().unwrap_or_default();
        let partition = layout.partition.then(|| tag("ap"));
        let segment = tag("segment");
        out.push_str("  {\n    \"node\": ");
        string(out, &member.name)?;
        out.push_str(",\n    \"address\": ");
        string(out, &member.addr)?;
        out.push_str(",\n    \"port\": ");
        number(out, member.port);
        out.push_str(",\n    \"status\": ");
        string(out, member_status(member.status))?;
        out.push_str(",\n    \"type\": ");
        string(out, kind)?;
        out.push_str(",\n    \"build\": ");
        string(out, &build_of(member.tags.get("build")))?;
        out.push_str(",\n    \"protocol\": ");
        string(out, &tag("vsn"))?;
        out.push_str(",\n    \"dc\": ");
        string(out, &tag("dc"))?;
        if let Some(partition) = &partition {
            out.push_str(",\n    \"partition\": ");
            string(out, partition)?;
        }
        out.push_str(",\n    \"segment\": ");
        string(out, &segment)?;
        out.push_str(",\n    \"tags\": ");
        tags(out, &member.tags)?;
        out.push_str(",\n    \"host\": ");
        match host {
            Some(host) => string(out, host)?,
            None => out.push_str("null"),
        }
        out.push_str("\n  }");
        let range = start..self.scratch.len();
        self.entries.push(Entry {
            server: kind == "server",
            segment,
            partition,
            name: member.name,
            range,
        });
        Ok(())
    }

    /// The Carbonio hostname of a member; a WAN name (`NODE.DC`) is its LAN node's.
    fn host_of(&self, member: &Member<'a, AllTags<'a>>) -> Option<&'h String> {
        let name = member.name.as_ref();
        let dc = member.tags.get("dc").map_or("", |dc| dc.as_ref());
        let lan = name
            .strip_suffix(dc)
            .and_then(|name| name.strip_suffix('.'))
            .unwrap_or(name);
        self.hostnames.of_node(lan).unwrap_or_else(|note| {
            self.host.debug(&note);
            None
        })
    }
}

/// A JSON string as serde_json writes it. Most need no escape (Consul's names and tags): those
/// are copied between quotes.
fn string(out: &mut String, text: &str) -> Result<(), serde_json::Error> {
    if needs_escape(text.as_bytes()) {
        out.push_str(&serde_json::to_string(text)?);
        return Ok(());
    }
    out.reserve(text.len() + 2);
    out.push('"');
    out.push_str(text);
    out.push('"');
    Ok(())
}

/// Whether serde_json escapes anything in `text`: a control character, `"` or `\`. Eight bytes
/// at a time (the strings here are too short for the compiler's vectors): a word holds a byte
/// below `n` when subtracting `n` from each byte borrows into a byte whose top bit was clear,
/// and a byte equal to `c` when the word XOR `c` in every byte holds a byte below 1. A string
/// of eight bytes or more ends with the word of its last eight, overlapping the one before.
fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & TOPS != 0;
    let escapes = |word: &[u8]| {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
    };
    if text.len() < 8 {
        return text.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    }
    text.chunks_exact(8).any(escapes) || escapes(&text[text.len() - 8..])
}

/// A port in decimal.
fn number(out: &mut String, value: u16) {
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// A member's tags as serde_json pretty-prints a map at this depth (`{}` when there are none),
/// each line's indentation written in one piece.
fn tags(out: &mut String, tags: &AllTags<'_>) -> Result<(), serde_json::Error> {
    if tags.0.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (key, value)) in tags.iter().enumerate() {
        out.push_str(if i == 0 { "\n      " } else { ",\n      " });
        string(out, key)?;
        out.push_str(": ");
        string(out, value)?;
    }
    out.push_str("\n    }");
    Ok(())
}

/// Consul's body: `null` (a client agent asked for `?wan=1`) or the member list, whose
/// elements are handed to the pass one by one.
impl<'de> DeserializeSeed<'de> for &mut Pass<'de, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for &mut Pass<'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of members")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(member) = seq.next_element::<Member<'de, AllTags<'de>>>()? {
            self.member(member).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_ports_are_written_as_serde_json_writes_them() {
        for text in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "é<>&\u{7f}",
        ] {
            let mut out = String::new();
            string(&mut out, text).unwrap();
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
        }
        for port in [0, 7, 10, 8301, u16::MAX] {
            let mut out = String::new();
            number(&mut out, port);
            assert_eq!(out, port.to_string());
        }
        // Every byte at every place of strings up to three words long, beside bytes that need
        // no escape (one with the top bit set, as UTF-8's are).
        for length in 1..=24 {
            for at in 0..length {
                for byte in 0..=255u8 {
                    let mut text = vec![b'a'; length];
                    text[(at + 1) % length] = 0xff;
                    text[at] = byte;
                    let naive = text.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
                    assert_eq!(needs_escape(&text), naive, "{text:?}");
                }
            }
        }
    }
}
