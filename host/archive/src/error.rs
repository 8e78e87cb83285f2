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
