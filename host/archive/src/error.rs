//! Everything that can be wrong with an archive, each with what to do about it.

/// Why an archive could not be read or written. Messages name the problem; none of them ever
/// contains the passphrase or any member's content.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive is empty")]
    Empty,
    #[error("the archive is {size} bytes, over the {limit}-byte limit: this is not a credentials archive")]
    TooLarge { size: u64, limit: u64 },
    #[error("the archive is not an OpenPGP message ({0}); a credentials archive starts with '-----BEGIN PGP MESSAGE-----' or is binary OpenPGP")]
    NotOpenPgp(String),
    #[error("the archive is not encrypted (plain OpenPGP data): a credentials archive is always encrypted with a password")]
    NotEncrypted,
    #[error("the archive is signed: a credentials archive is encrypted only, with a password")]
    Signed,
    #[error("the archive is encrypted to a public key, not with a password")]
    NotPasswordEncrypted,
    #[error("wrong password for the credentials archive")]
    WrongPassword,
    /// Refused before any key was derived from the passphrase, so a hostile file costs nothing;
    /// never reported as a wrong password, which would send the operator hunting for another one.
    #[error("the archive was refused before trying the password: {0}. service-discover writes one password packet with an iterated and salted SHA-256 S2K, so this file was not written by service-discover: restore the archive from the Mesh leader or a backup")]
    KeyDerivationRefused(KeyDerivationRefusal),
    #[error("the archive holds more than {limit} OpenPGP packets; service-discover writes 4, so this file was not written by service-discover: restore the archive from the Mesh leader or a backup")]
    TooManyPackets { limit: usize },
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error("the decrypted archive is over the {limit}-byte limit")]
    PlaintextTooLarge { limit: u64 },
    #[error("the decrypted archive is not a valid tar: {0}")]
    BadTar(String),
    #[error("archive member '{name}' is a {kind}; only regular files are accepted")]
    NotRegularFile { name: String, kind: &'static str },
    #[error("archive member '{name}' has an unsafe path (absolute, '..' or empty)")]
    UnsafePath { name: String },
    #[error("archive member '{name}' appears twice")]
    Duplicate { name: String },
    #[error("archive member '{name}' claims {size} bytes, over the {limit}-byte limit")]
    MemberTooLarge { name: String, size: u64, limit: u64 },
    #[error("the archive holds more than {limit} members")]
    TooManyMembers { limit: usize },
    #[error("the archive has no member '{name}'; a complete credentials archive holds consul-acl-secret.json, gossip-key and the CA's two .pem files")]
    MissingMember { name: String },
    #[error("archive member '{name}' is unusable: {reason}")]
    BadMember { name: String, reason: String },
    #[error("cannot encrypt the archive: {0}")]
    Encrypt(String),
}

/// What about the archive's password packets would make deriving a key from the passphrase cost
/// more time or memory than the [`Limits`](crate::Limits) allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyDerivationRefusal {
    #[error("it holds more than {limit} password packets (SKESK)")]
    TooManyPasswordPackets { limit: usize },
    #[error("its password packets ask for {bytes} bytes of S2K hashing (iterated count times digests per key), over the {limit}-byte limit")]
    TooMuchHashing { bytes: u64, limit: u64 },
    /// Argon2 is refused whatever its parameters: service-discover never writes it, GnuPG
    /// cannot read it (so neither can the documented `gpg -d` recovery), and its cost is memory
    /// by design (RFC 9580 recommends 2 GiB), which is exactly what a hostile file asks for.
    #[error("a password packet uses the Argon2 S2K (passes: {passes}, lanes: {lanes}, memory: 2^{memory_exponent} KiB), which credentials archives never use")]
    Argon2 {
        passes: u8,
        lanes: u8,
        memory_exponent: u8,
    },
    #[error("a password packet uses an unknown S2K (type {tag})")]
    UnknownS2k { tag: u8 },
    #[error("a password packet has version {version}, which this reader does not know")]
    UnknownPasswordPacket { version: u8 },
}
