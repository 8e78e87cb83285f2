//! `credentials.*`: the Mesh credentials archive, opened and written by the host, and new passwords.

use serde::{Deserialize, Serialize};

use super::Service;

/// Where a passphrase comes from. Unset fields fall through, in this order: `file` (its first
/// line), standard input (its first line), the Mesh password file when readable, then a prompt
/// without echo on the terminal. The passphrase itself never travels in a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordSource {
    /// A file whose first line is the passphrase (`--password-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Read the first line of standard input (`--password-stdin`).
    #[serde(default)]
    pub stdin: bool,
}

/// `credentials.open` (1.3): decrypts and reads the Mesh credentials archive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCredentials {
    /// The archive file (under `--root`); default: the Mesh path ([`crate::mesh::ARCHIVE_PATH`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// Where the passphrase comes from.
    #[serde(default)]
    pub password: PasswordSource,
    /// A password the plugin already holds (the new one, during a workflow): used first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_password: Option<crate::SecretText>,
}

impl Service for OpenCredentials {
    const NAME: &'static str = "credentials.open";
    type Answer = Credentials;
}

/// The archive's content. Dropping it wipes every member.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// The archive file read (as given, without `--root`).
    pub archive: String,
    /// Where the passphrase came from: `--password-file FILE`, `stdin`, the Mesh password file's
    /// path, or `prompt`.
    pub password_source: String,
    /// The armored size on disk.
    pub archive_size: u64,
    /// The archive's members, in order.
    pub members: Vec<CredentialsMember>,
}

impl Credentials {
    /// The member called `name` (normalized: no leading `./`).
    pub fn member(&self, name: &str) -> Option<&CredentialsMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// One member of the archive.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CredentialsMember {
    /// Its name in the tar (`consul-acl-secret.json`, ...).
    pub name: String,
    /// Its mode bits.
    pub mode: u32,
    /// Its size in bytes.
    pub size: u64,
    /// The content as UTF-8 text (every Mesh member is text).
    pub content: crate::SecretText,
}

/// `credentials.write` (1.3): encrypts `members` in service-discover's format and replaces the
/// archive atomically (temp file, fsync, rename; mode 0600 root), backing up the old file first.
/// Under `--dry-run` it is recorded, not done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WriteCredentials {
    /// The archive's system path; none: the Mesh archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// The members to write, in order.
    pub members: Vec<NewMember>,
    /// The new passphrase: `file`, or `stdin`, else asked twice on the terminal. Never the Mesh
    /// password file (that holds the old one). An empty passphrase is refused.
    #[serde(default)]
    pub password: PasswordSource,
    /// Also write the new passphrase to the Mesh password file when it exists (backed up
    /// first, mode 0400 root), so it keeps opening the archive.
    #[serde(default)]
    pub update_password_file: bool,
}

/// A member to write into the archive.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewMember {
    /// Its name in the tar.
    pub name: String,
    /// Its content: a secret.
    pub content: crate::SecretText,
}

impl Service for WriteCredentials {
    const NAME: &'static str = "credentials.write";
    type Answer = Written;
}

/// [`WriteCredentials`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The archive written (a system path).
    pub archive: String,
    /// Where the previous file was saved (none when there was none, or under `--dry-run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

/// `credentials.new-password` (1.3): a new password from `--password-file`, `--password-stdin`,
/// generated (`generate`: 24 random bytes, base64url), or asked twice without echo. Never empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPassword {
    /// Where the password comes from when it is not generated.
    #[serde(default)]
    pub password: PasswordSource,
    /// Generate one instead (24 random bytes, base64url).
    #[serde(default)]
    pub generate: bool,
}

impl Service for NewPassword {
    const NAME: &'static str = "credentials.new-password";
    type Answer = NewPasswordAnswer;
}

/// [`NewPassword`]'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewPasswordAnswer {
    /// The new password: a secret.
    pub password: crate::SecretText,
    /// `--password-file FILE`, `stdin`, `generated` or `prompt`.
    pub source: String,
}
