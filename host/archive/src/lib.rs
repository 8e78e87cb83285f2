//! The Carbonio Mesh credentials archive: an OpenPGP message, encrypted with a passphrase, around
//! a tar of the cluster's secrets (see `docs/carbonio-mesh.md`, "The credentials archive").
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
//!
//! A hostile archive costs bounded time and memory ([`Limits`] has the numbers and
//! `docs/BENCHMARKS.md` the measurements). Before any key is derived from the passphrase, the
//! password packets are judged by their S2K parameters alone: at most 4 of them; their iterated
//! S2Ks hash at most 130,023,424 bytes together (one packet at the largest count OpenPGP encodes,
//! hashed twice: the most gpg 2.2's defaults ask for; service-discover's asks for 16,777,216);
//! Argon2 is refused whatever its parameters (service-discover never writes it, GnuPG cannot read
//! it, and its cost is memory by design); so is an unknown S2K. Such a file is
//! [`ArchiveError::KeyDerivationRefused`], never a wrong password. At most 64 packets are parsed,
//! at any depth ([`ArchiveError::TooManyPackets`]): sequoia's grammar check makes parsing cost grow
//! with the square of the packet count. The worst file these limits accept costs under 1.2 s of
//! hashing and about 4 MiB; a refused one, a few milliseconds.

mod error;
mod members;
mod message;

pub use error::{ArchiveError, KeyDerivationRefusal};
pub use members::{read_tar, write_tar, Member};
pub use message::{decrypt, encrypt, Passphrase};

use zeroize::Zeroizing;

/// How much the reader accepts. The real archive is about 5 KB; the defaults leave room for
/// growth, and for archives gpg writes, while keeping a hostile file from costing more than a few
/// MiB of memory and about a second of hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The encrypted file, armored or binary. Default 8 MiB.
    pub max_archive_bytes: u64,
    /// The decrypted tar (caps decompression bombs too). Default 8 MiB.
    pub max_plaintext_bytes: u64,
    /// One member's content. Default 1 MiB.
    pub max_member_bytes: u64,
    /// Members in the tar. Default 64.
    pub max_members: usize,
    /// OpenPGP packets in the message, at every depth. service-discover writes 4 (password
    /// packet, encrypted data, literal data, MDC), gpg 5 (plus compression); default 64 leaves
    /// room for an archive also encrypted to keys. sequoia re-checks the message grammar over all
    /// packets so far at each new one, so its work grows with the square of this count.
    pub max_packets: usize,
    /// Password packets (SKESK) in the message, each of which may cost a key derivation.
    /// service-discover writes one; default 4.
    pub max_password_packets: usize,
    /// Bytes the iterated and salted S2Ks of all password packets may hash together, each
    /// count taken once per digest the key needs. Default 130,023,424: one packet with the
    /// largest count OpenPGP encodes (65,011,712) hashed twice, the most gpg 2.2's defaults ask
    /// for (SHA-1, whose 20-byte digest is hashed twice for an AES-256 key; gpg calibrates the
    /// count, up to that largest one on a fast machine). service-discover's packet asks for
    /// 16,777,216 (SHA-256, one digest).
    pub max_s2k_hash_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_archive_bytes: 8 << 20,
            max_plaintext_bytes: 8 << 20,
            max_member_bytes: 1 << 20,
            max_members: 64,
            max_packets: 64,
            max_password_packets: 4,
            max_s2k_hash_bytes: 2 * 65_011_712,
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
