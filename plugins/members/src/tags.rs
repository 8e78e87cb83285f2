//! A member's serf tags, decoded two ways: every tag (`-detailed`, `--format json`) as a sorted
//! list of strings borrowed from Consul's answer, or only the five the standard table shows.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// Every tag, for `--detailed` and `--format json`, sorted by name (as a map would be, and as
/// Consul's own output is). A list of borrowed pairs, not a map: 5,000 members carry 80,000
/// tags, and a map would be built, walked and freed for each member.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AllTags<'a>(pub Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> AllTags<'a> {
    /// Sorted by name, one value per name (the last one given, as a map keeps it).
    pub fn from_pairs(mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Self {
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

    pub fn iter(&self) -> impl Iterator<Item = (&Cow<'a, str>, &Cow<'a, str>)> {
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
                // Kept in a list of their number and one (a client has 9 tags, not 16): the
                // 16-slot list is freed at once and reused for the next member, so 5,000
                // members' tags lie packed, 1.6 MB less memory to fault in; the one more slot
                // takes the `ap` tag Consul 1.11+'s CLI adds without moving the list.
                let mut exact = Vec::with_capacity(pairs.len() + 1);
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
pub struct TableTags<'a> {
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
    /// The admin partition (Enterprise; the CLI shows `default` when absent, from 1.11).
    #[serde(borrow, default)]
    ap: Option<Cow<'a, str>>,
}

/// What `view` needs from a member's tags, whichever way they were decoded.
pub trait Tags<'a> {
    fn get(&self, key: &str) -> Option<&Cow<'a, str>>;
    /// Sets a tag the CLI writes into the member's map before rendering (`segment`, `ap`).
    fn set(&mut self, key: &'static str, value: &'static str);
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

    fn set(&mut self, key: &'static str, value: &'static str) {
        let value = Cow::Borrowed(value);
        match self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key)) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (Cow::Borrowed(key), value)),
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
            "ap" => self.ap.as_ref(),
            _ => None,
        }
    }

    fn set(&mut self, key: &'static str, value: &'static str) {
        let value = Some(Cow::Borrowed(value));
        match key {
            "segment" => self.segment = value,
            "ap" => self.ap = value,
            _ => {}
        }
    }

    fn into_map(self) -> AllTags<'a> {
        // Not shown by the standard table; kept empty rather than half-filled.
        AllTags::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        tags.set("segment", "<default>");
        tags.set("ap", "default");
        assert_eq!(
            Tags::get(&tags, "segment").map(|s| s.as_ref()),
            Some("<default>")
        );
        let names: Vec<&str> = tags.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            names,
            ["a\"b", "ap", "build", "dc", "role", "segment", "vsn"]
        );
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
    fn the_table_tags_are_the_five_columns_and_the_partition() {
        let json = r#"{"role":"node","build":"1.21.4:","vsn":"2","dc":"dc1","segment":"","id":"x","ap":"p1"}"#;
        let mut tags: TableTags<'_> = serde_json::from_str(json).unwrap();
        assert_eq!(tags.get("ap").map(|p| p.as_ref()), Some("p1"));
        assert_eq!(tags.get("id"), None, "not decoded");
        tags.set("segment", "<default>");
        assert_eq!(tags.get("segment").map(|s| s.as_ref()), Some("<default>"));
        assert_eq!(tags.into_map(), AllTags::default());
    }
}
