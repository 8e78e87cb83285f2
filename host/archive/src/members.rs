//! The tar layer: a flat list of small regular files.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use tar::{EntryType, Header};
use zeroize::Zeroizing;

use crate::{ArchiveError, Limits};

/// One file of the archive. `name` is normalized: `./gossip-key` and `gossip-key` are both
/// `gossip-key`.
pub struct Member {
    pub name: String,
    pub mode: u32,
    pub data: Zeroizing<Vec<u8>>,
}

impl Member {
    /// A member with mode 0600, as service-discover writes them.
    pub fn new(name: impl Into<String>, data: Vec<u8>) -> Self {
        Member {
            name: name.into(),
            mode: 0o600,
            data: Zeroizing::new(data),
        }
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("mode", &format_args!("{:o}", self.mode))
            .field("size", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// Reads every member of a tar, refusing anything but uniquely named regular files inside the
/// archive's own directory. Sizes are checked against `limits` before content is read.
pub fn read_tar(tar: &[u8], limits: &Limits) -> Result<Vec<Member>, ArchiveError> {
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|e| ArchiveError::BadTar(e.to_string()))?;
    let mut members: Vec<Member> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| ArchiveError::BadTar(e.to_string()))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            continue; // pax global metadata, no file
        }
        if let Some(kind) = not_regular(kind) {
            return Err(ArchiveError::NotRegularFile { name: raw, kind });
        }
        let name = normalize(&raw).ok_or_else(|| ArchiveError::UnsafePath { name: raw.clone() })?;
        if members.iter().any(|m| m.name == name) {
            return Err(ArchiveError::Duplicate { name });
        }
        if members.len() == limits.max_members {
            return Err(ArchiveError::TooManyMembers {
                limit: limits.max_members,
            });
        }
        let size = entry.size();
        if size > limits.max_member_bytes {
            return Err(ArchiveError::MemberTooLarge {
                name,
                size,
                limit: limits.max_member_bytes,
            });
        }
        let mode = entry.header().mode().unwrap_or(0o600);
        // `size` is capped above, so this allocation is bounded.
        let mut data = Zeroizing::new(Vec::with_capacity(size as usize));
        entry
            .read_to_end(&mut data)
            .map_err(|e| ArchiveError::BadTar(format!("member '{name}': {e}")))?;
        if data.len() as u64 != size {
            return Err(ArchiveError::BadTar(format!(
                "member '{name}' is cut short ({} of {size} bytes)",
                data.len()
            )));
        }
        members.push(Member { name, mode, data });
    }
    Ok(members)
}

/// What a non-regular entry is, in words; `None` for a regular file.
fn not_regular(kind: EntryType) -> Option<&'static str> {
    match kind {
        EntryType::Regular | EntryType::Continuous => None,
        EntryType::Directory => Some("directory"),
        EntryType::Symlink => Some("symbolic link"),
        EntryType::Link => Some("hard link"),
        EntryType::Char | EntryType::Block => Some("device"),
        EntryType::Fifo => Some("named pipe"),
        _ => Some("special entry"),
    }
}

/// `./a/b` and `a//b` become `a/b`; absolute paths, `..` and empty names give `None`.
fn normalize(raw: &str) -> Option<String> {
    if raw.starts_with('/') || raw.contains('\0') {
        return None;
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Writes `members` as an uncompressed USTAR tar owned by root, in the given order.
pub fn write_tar(members: &[Member]) -> Result<Zeroizing<Vec<u8>>, ArchiveError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let name = normalize(&member.name)
            .filter(|n| *n == member.name)
            .ok_or_else(|| ArchiveError::UnsafePath {
                name: member.name.clone(),
            })?;
        let mut header = Header::new_ustar();
        header
            .set_path(&name)
            .map_err(|e| ArchiveError::Encrypt(format!("member '{name}': {e}")))?;
        header.set_entry_type(EntryType::Regular);
        header.set_size(member.data.len() as u64);
        header.set_mode(member.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(now);
        header.set_cksum();
        builder
            .append(&header, &member.data[..])
            .map_err(|e| ArchiveError::Encrypt(e.to_string()))?;
    }
    let tar = builder
        .into_inner()
        .map_err(|e| ArchiveError::Encrypt(e.to_string()))?;
    Ok(Zeroizing::new(tar))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_tar(entries: &[(&str, EntryType, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut header = Header::new_gnu();
            // set_path refuses `..`: write the name bytes directly, like a hostile tar would.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn names_are_normalized_and_round_trip() {
        let written = write_tar(&[
            Member::new("gossip-key", b"k".to_vec()),
            Member::new(
                "var/lib/service-discover/consul-agent-ca.pem",
                b"pem".to_vec(),
            ),
        ])
        .unwrap();
        let read = read_tar(&written, &Limits::default()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].name, "var/lib/service-discover/consul-agent-ca.pem");
        assert_eq!(&read[1].data[..], b"pem");
        assert_eq!(read[0].mode, 0o600);

        let dotted = raw_tar(&[("./gossip-key", EntryType::Regular, b"k")]);
        assert_eq!(
            read_tar(&dotted, &Limits::default()).unwrap()[0].name,
            "gossip-key"
        );
    }

    #[test]
    fn hostile_entries_are_refused() {
        let limits = Limits::default();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                raw_tar(&[("../etc/passwd", EntryType::Regular, b"x")]),
                "unsafe path",
            ),
            (
                raw_tar(&[("/etc/passwd", EntryType::Regular, b"x")]),
                "unsafe path",
            ),
            (
                raw_tar(&[("a/../../b", EntryType::Regular, b"x")]),
                "unsafe path",
            ),
            (
                raw_tar(&[("link", EntryType::Symlink, b"")]),
                "symbolic link",
            ),
            (raw_tar(&[("hard", EntryType::Link, b"")]), "hard link"),
            (raw_tar(&[("dir/", EntryType::Directory, b"")]), "directory"),
            (
                raw_tar(&[
                    ("gossip-key", EntryType::Regular, b"a"),
                    ("./gossip-key", EntryType::Regular, b"b"),
                ]),
                "appears twice",
            ),
        ];
        for (tar, expected) in cases {
            let error = read_tar(&tar, &limits).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} should say {expected}");
        }
    }

    #[test]
    fn a_huge_size_claim_is_refused_before_reading() {
        let mut header = Header::new_ustar();
        header.set_path("gossip-key").unwrap();
        header.set_size(2 << 30);
        header.set_mode(0o600);
        header.set_cksum();
        let mut tar = header.as_bytes().to_vec();
        tar.extend_from_slice(&[0u8; 1024]);
        let error = read_tar(&tar, &Limits::default()).unwrap_err();
        assert!(
            matches!(error, ArchiveError::MemberTooLarge { size, .. } if size == 2 << 30),
            "{error}"
        );
    }

    #[test]
    fn too_many_members_are_refused() {
        let limits = Limits {
            max_members: 2,
            ..Limits::default()
        };
        let members: Vec<Member> = (0..3)
            .map(|i| Member::new(format!("m{i}"), vec![]))
            .collect();
        let tar = write_tar(&members).unwrap();
        assert!(matches!(
            read_tar(&tar, &limits),
            Err(ArchiveError::TooManyMembers { limit: 2 })
        ));
    }

    #[test]
    fn writing_refuses_names_that_would_not_read_back() {
        for bad in ["../x", "/abs", "./x", ""] {
            assert!(write_tar(&[Member::new(bad, vec![])]).is_err(), "{bad}");
        }
    }
}
