//! The Mesh credentials archive as the host uses it: where the passphrase comes from, reading
//! and decrypting the file, and the bootstrap token inside it for Consul requests that were given
//! no token. The format itself is `carbonio-mesh-archive`'s job.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use carbonio_mesh_archive::{ArchiveError, Limits, Member, Passphrase};
use carbonio_mesh_plugin_api::mesh::{self, BootstrapToken};
use carbonio_mesh_plugin_api::services::{PasswordSource, ServiceErrorKind, ServiceFailure};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use zeroize::Zeroizing;

use crate::config::paths::SystemPaths;
use crate::exit;
use crate::terminal::tty;

/// The Mesh files (under `--root`, resolved inside it) the token fallback and the default
/// archive use.
#[derive(Debug, Clone)]
pub struct MeshFiles {
    paths: SystemPaths,
}

impl MeshFiles {
    pub fn under(paths: &SystemPaths) -> Self {
        MeshFiles {
            paths: paths.clone(),
        }
    }

    /// Where the archive is (its real path, for messages and tests).
    pub fn archive(&self) -> PathBuf {
        self.paths.system(mesh::ARCHIVE_PATH)
    }

    /// Where the password file is (its real path, for messages and tests).
    pub fn password(&self) -> PathBuf {
        self.paths.system(mesh::PASSWORD_PATH)
    }

    /// The password file's bytes, raw.
    fn read_password(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        File::from(
            self.paths
                .open(mesh::PASSWORD_PATH, OFlag::O_RDONLY, Mode::empty())?,
        )
        .take(64 * 1024)
        .read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

fn service_failure(
    kind: ServiceErrorKind,
    message: String,
    hint: &str,
    code: u8,
) -> ServiceFailure {
    ServiceFailure {
        kind,
        message,
        hint: Some(hint.to_owned()),
        exit_code: Some(code),
    }
}

fn usage(message: String, hint: &str) -> ServiceFailure {
    service_failure(ServiceErrorKind::Invalid, message, hint, exit::USAGE)
}

/// A passphrase and, for `-v` and answers, where it came from.
pub struct Found {
    pub passphrase: Passphrase,
    pub source: String,
}

/// The first line of a file the user named (not under `--root`: it is the admin's own file).
fn first_line_of(path: &str) -> Result<Zeroizing<Vec<u8>>, ServiceFailure> {
    let file = File::open(path).map_err(|e| {
        usage(
            format!("cannot read the password file {path}: {e}"),
            "give a readable file with the password on its first line",
        )
    })?;
    tty::read_line(file.take(64 * 1024)).map_err(|e| {
        usage(
            format!("cannot read the password file {path}: {e}"),
            "give a readable file with the password on its first line",
        )
    })
}

/// A new password file: one line (a final line break is fine). More is refused rather than cut,
/// because the rest may be part of what the admin meant as the password.
fn only_line_of(path: &str) -> Result<Zeroizing<Vec<u8>>, ServiceFailure> {
    let bad = |e: String| {
        usage(
            format!("cannot read the password file {path}: {e}"),
            "give a readable file with the password on its first line",
        )
    };
    let mut bytes = Zeroizing::new(Vec::new());
    File::open(path)
        .and_then(|file| file.take(64 * 1024).read_to_end(&mut bytes))
        .map_err(|e| bad(e.to_string()))?;
    let end = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .map_or(bytes.len(), <[u8]>::len);
    if bytes[..end].contains(&b'\n') {
        return Err(usage(
            format!("the password file {path} holds more than one line"),
            "put the new password alone on the first line: a password cannot contain a line break",
        ));
    }
    Ok(Zeroizing::new(bytes[..end].to_vec()))
}

fn first_line_of_stdin() -> Result<Zeroizing<Vec<u8>>, ServiceFailure> {
    tty::read_line(std::io::stdin().lock()).map_err(|e| {
        usage(
            format!("cannot read the password from standard input: {e}"),
            "pipe the password, one line, into --password-stdin",
        )
    })
}

/// The passphrase of an existing archive, from the first source that has one: `--password-file`,
/// `--password-stdin`, the Mesh password file (when readable), a prompt without echo.
pub fn existing_passphrase(
    source: &PasswordSource,
    files: &MeshFiles,
    archive: &str,
) -> Result<Found, ServiceFailure> {
    let (bytes, from) = if let Some(path) = &source.file {
        (first_line_of(path)?, format!("--password-file {path}"))
    } else if source.stdin {
        (first_line_of_stdin()?, "stdin".to_owned())
    } else if let Ok(bytes) = files.read_password() {
        // Raw, no newline, exactly as service-discover wrote it.
        (
            Zeroizing::new(bytes),
            files.password().display().to_string(),
        )
    } else if tty::available() {
        let prompt = format!("Password for {archive}: ");
        let bytes = tty::read_hidden(&prompt).map_err(|e| {
            usage(
                format!("cannot ask for the password: {e}"),
                "use --password-file FILE",
            )
        })?;
        (bytes, "prompt".to_owned())
    } else {
        return Err(usage(
            format!(
                "no password for {archive}: {} is not readable and there is no terminal to ask on",
                files.password().display()
            ),
            "give --password-file FILE or --password-stdin (on a Mesh server, run as root to use the Mesh password file)",
        ));
    };
    tracing::info!("archive password from {from}");
    Ok(Found {
        passphrase: Passphrase::new(bytes.to_vec()),
        source: from,
    })
}

/// A generated password: 24 bytes from the kernel's CSPRNG, base64url without padding (32
/// characters, safe in any command line or config file).
pub fn generated_password() -> Result<Found, ServiceFailure> {
    let mut raw = Zeroizing::new([0u8; 24]);
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw[..]))
        .map_err(|e| {
            usage(
                format!("cannot generate a password: {e}"),
                "give --password-file FILE",
            )
        })?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = Vec::with_capacity(32);
    for chunk in raw.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            text.push(ALPHABET[((n >> shift) & 63) as usize]);
        }
    }
    Ok(Found {
        passphrase: Passphrase::new(text),
        source: "generated".to_owned(),
    })
}

/// A new passphrase: `--new-password-file`/`stdin`, else asked twice. Never empty.
/// The shortest new archive password accepted (in bytes).
pub const MIN_NEW_PASSWORD_LEN: usize = 12;

pub fn new_passphrase(source: &PasswordSource) -> Result<Found, ServiceFailure> {
    let (bytes, from) = if let Some(path) = &source.file {
        (only_line_of(path)?, format!("--new-password-file {path}"))
    } else if source.stdin {
        (first_line_of_stdin()?, "stdin".to_owned())
    } else if tty::available() {
        let ask = |prompt: &str| {
            tty::read_hidden(prompt).map_err(|e| {
                usage(
                    format!("cannot ask for the new password: {e}"),
                    "use --new-password-file FILE",
                )
            })
        };
        let first = ask("New password: ")?;
        let second = ask("New password again: ")?;
        if first != second {
            return Err(usage(
                "the two new passwords differ".to_owned(),
                "type the same password twice",
            ));
        }
        (first, "prompt".to_owned())
    } else {
        return Err(usage(
            "no new password: there is no terminal to ask on".to_owned(),
            "give --new-password-file FILE",
        ));
    };
    if bytes.is_empty() {
        return Err(usage(
            "the new password is empty".to_owned(),
            "choose a non-empty password (an empty one leaves the cluster's secrets unprotected)",
        ));
    }
    // The password protects the token that can do anything in the cluster; a short one is also
    // too likely to turn up inside other text, where redaction would cut it out.
    if bytes.len() < MIN_NEW_PASSWORD_LEN {
        return Err(usage(
            format!("the new password is shorter than {MIN_NEW_PASSWORD_LEN} characters"),
            "choose a longer one, or let carbonio-mesh make one (`secret regenerate --generate`)",
        ));
    }
    // service-discover takes the password on its command line and writes it to a one-line file:
    // a line break or another control character would be cut, or change its meaning, there.
    if bytes.iter().any(|b| b.is_ascii_control()) {
        return Err(usage(
            "the new password contains a line break or another control character".to_owned(),
            "choose a password of printable characters (spaces, quotes, `\\`, `%` and non-ASCII letters are fine)",
        ));
    }
    Ok(Found {
        passphrase: Passphrase::new(bytes.to_vec()),
        source: from,
    })
}

/// Reads the archive at `system_path` (under `--root`, resolved inside it), refusing more than
/// the reader would accept; `shown` names it in messages.
pub fn read_archive(
    paths: &SystemPaths,
    system_path: &str,
    shown: &str,
) -> Result<Vec<u8>, ServiceFailure> {
    let limit = Limits::default().max_archive_bytes;
    let not_found = |e: std::io::Error| {
        service_failure(
            crate::services::io_error_kind(&e),
            format!("cannot read the credentials archive {shown}: {e}"),
            "on a Mesh node it is /etc/zextras/service-discover/cluster-credentials.tar.gpg (root only); give another with --archive FILE",
            exit::OPERATION,
        )
    };
    let file = File::from(
        paths
            .open(
                system_path,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK,
                Mode::empty(),
            )
            .map_err(not_found)?,
    );
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(not_found)?;
    Ok(bytes)
}

/// The archive's error as a host-service failure, with its exit code and what to do.
pub fn archive_failure(error: &ArchiveError, shown: &str) -> ServiceFailure {
    let (code, hint) = match error {
        ArchiveError::WrongPassword => (
            exit::WRONG_PASSWORD,
            "give the cluster's credentials password (--password-file FILE); on the first Mesh server it is in /var/lib/service-discover/password",
        ),
        _ => (
            exit::BAD_ARCHIVE,
            "copy a good archive from the Mesh leader (/etc/zextras/service-discover/cluster-credentials.tar.gpg) or restore it from a backup",
        ),
    };
    let kind = match error {
        ArchiveError::WrongPassword => ServiceErrorKind::Denied,
        _ => ServiceErrorKind::Failed,
    };
    service_failure(kind, format!("{shown}: {error}"), hint, code)
}

/// Decrypts and reads the archive.
pub fn open(
    bytes: &[u8],
    passphrase: &Passphrase,
    shown: &str,
) -> Result<Vec<Member>, ServiceFailure> {
    carbonio_mesh_archive::open(bytes, passphrase, &Limits::default())
        .map_err(|e| archive_failure(&e, shown))
}

/// The bootstrap token from the Mesh archive, for Consul requests given no token: only when the
/// archive and the Mesh password file are both readable (root on a Mesh server), never asking.
pub fn mesh_token(files: &MeshFiles) -> Option<Zeroizing<String>> {
    let password = files.read_password().ok()?;
    let shown = files.archive().display().to_string();
    let bytes = read_archive(&files.paths, mesh::ARCHIVE_PATH, &shown).ok()?;
    let passphrase = Passphrase::new(password);
    let outcome = open(&bytes, &passphrase, &shown).and_then(|members| {
        let member = members
            .iter()
            .find(|m| m.name == mesh::ACL_SECRET_MEMBER)
            .ok_or_else(|| {
                let missing = ArchiveError::MissingMember {
                    name: mesh::ACL_SECRET_MEMBER.to_owned(),
                };
                archive_failure(&missing, &shown)
            })?;
        let bad = |reason: String| {
            let bad = ArchiveError::BadMember {
                name: mesh::ACL_SECRET_MEMBER.to_owned(),
                reason,
            };
            archive_failure(&bad, &shown)
        };
        let text = std::str::from_utf8(&member.data).map_err(|_| bad("not UTF-8 text".into()))?;
        BootstrapToken::parse(text)
            .map(|token| Zeroizing::new(token.secret_id.expose().to_owned()))
            .map_err(bad)
    });
    match outcome {
        Ok(token) => Some(token),
        Err(failure) => {
            tracing::warn!("no token from the Mesh archive: {}", failure.message);
            None
        }
    }
}
