//! The Carbonio Mesh credentials archive: an OpenPGP message, encrypted with a passphrase, around
//! a tar of the cluster's secrets (see `../shared/docs/carbonio-mesh.md`, "The credentials archive").
//!
//! This crate knows the container format and nothing about Consul: [`open`] turns the archive's
//! bytes and a passphrase into its [`Member`]s, [`seal`] does the reverse in exactly the format
//! `service-discover` writes. It does no file I/O; the host reads and writes the files (atomically,
//! with backups) and decides where the passphrase comes from.
//!
//! Reading is strict because the input is a file root trusts: every size is capped before memory
//! is spent on it, the whole message is decrypted and its integrity (MDC) checked before the tar is
//! parsed, and a member that is not a regular file, escapes its directory or appears twice is
//! refused. Every buffer that holds plaintext or the passphrase is wiped when dropped.

mod error;
mod members;
mod message;

pub use error::ArchiveError;
pub use members::{read_tar, write_tar, Member};
pub use message::{decrypt, encrypt, Passphrase};

use zeroize::Zeroizing;

/// How much the reader accepts. The real archive is about 5 KB; the defaults leave room for
/// growth while keeping a hostile file from costing more than a few MiB of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The encrypted file, armored or binary.
    pub max_archive_bytes: u64,
    /// The decrypted tar (caps decompression bombs too).
    pub max_plaintext_bytes: u64,
    /// One member's content.
    pub max_member_bytes: u64,
    /// Members in the tar.
    pub max_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_archive_bytes: 8 << 20,
            max_plaintext_bytes: 8 << 20,
            max_member_bytes: 1 << 20,
            max_members: 64,
        }
    }
}

/// Decrypts `archive` and reads the tar inside it.
pub fn open(
    archive: &[u8],
    passphrase: &Passphrase,
    limits: &Limits,
) -> Result<Vec<Member>, ArchiveError> {
    let tar: Zeroizing<Vec<u8>> = decrypt(archive, passphrase, limits)?;
    read_tar(&tar, limits)
}

/// Writes `members` as a tar and encrypts it the way `service-discover` does: ASCII armor,
/// AES-256, iterated and salted SHA-256 S2K with count 16,777,216, SEIPD v1 (MDC), no compression.
pub fn seal(members: &[Member], passphrase: &Passphrase) -> Result<Vec<u8>, ArchiveError> {
    let tar = write_tar(members)?;
    encrypt(&tar, passphrase)
}
