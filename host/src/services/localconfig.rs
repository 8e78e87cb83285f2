//! Carbonio's `/opt/zextras/conf/localconfig.xml`: where LDAP is and how to bind to it, read the
//! way service-discover reads it (`<localconfig><key name="K"><value>V</value></key>...`).
//!
//! The file holds the LDAP bind password, so it is believed only when root or zextras owns it and
//! nobody else can write it (the same reason plugins must be root's): whoever could write it
//! could point carbonio-mesh at their own LDAP server and have it take that server's word for the
//! Mesh archive or the server list.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode, SFlag};
use zeroize::Zeroizing;

use super::failure;
use crate::config::paths::SystemPaths;

/// Where Carbonio keeps it.
pub const PATH: &str = "/opt/zextras/conf/localconfig.xml";

/// A localconfig.xml is a few kilobytes; more is not one.
const MAX_BYTES: u64 = 1 << 20;

/// What LDAP binding needs from localconfig.xml.
pub struct LdapSettings {
    /// `ldap_master_url` then `ldap_url`, each split on blanks, duplicates dropped: the order
    /// service-discover tries them in for reading.
    pub urls: Vec<String>,
    /// `zimbra_ldap_userdn`.
    pub bind_dn: String,
    /// `zimbra_ldap_password`.
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("urls", &self.urls)
            .field("bind_dn", &self.bind_dn)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why localconfig.xml gives no LDAP settings.
#[derive(Debug, thiserror::Error)]
pub enum LocalConfigError {
    #[error("not a Carbonio node: no {PATH}")]
    Missing,
    #[error("{PATH} is refused: {why}")]
    Refused { why: String, fix: String },
    #[error("cannot read {PATH}: {0}")]
    Unreadable(String),
    #[error("{PATH} is not Carbonio's localconfig XML: {0}")]
    Malformed(String),
    #[error("{PATH} has no '{0}' key")]
    MissingKey(&'static str),
}

impl From<LocalConfigError> for ServiceFailure {
    fn from(error: LocalConfigError) -> Self {
        let (kind, hint) = match &error {
            LocalConfigError::Missing => (ServiceErrorKind::NotFound, None),
            LocalConfigError::Refused { fix, .. } => (ServiceErrorKind::Denied, Some(fix.clone())),
            LocalConfigError::Unreadable(_) => (
                ServiceErrorKind::Denied,
                Some("run carbonio-mesh as root".to_owned()),
            ),
            LocalConfigError::Malformed(_) | LocalConfigError::MissingKey(_) => (
                ServiceErrorKind::Failed,
                Some(
                    "Carbonio is not set up on this node: run carbonio-bootstrap, or restore localconfig.xml"
                        .to_owned(),
                ),
            ),
        };
        ServiceFailure {
            hint,
            ..failure(kind, error.to_string())
        }
    }
}

/// The uid owning localconfig.xml may be root, zextras, or (when carbonio-mesh does not run as
/// root: tests and `--root` trees) the invoking user.
fn owner_ok(uid: u32) -> bool {
    let me = nix::unistd::Uid::effective().as_raw();
    let zextras = nix::unistd::User::from_name("zextras")
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw());
    uid == 0 || uid == me || Some(uid) == zextras
}

/// Reads the LDAP settings from localconfig.xml (under `--root`, resolved inside it).
pub fn read(paths: &SystemPaths) -> Result<LdapSettings, LocalConfigError> {
    let opened = paths.open(
        PATH,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_NONBLOCK,
        Mode::empty(),
    );
    let text = read_checked(opened)?;
    parse(&text)
}

/// The file's text, after checking on the opened descriptor who owns it and who may write it.
fn read_checked(opened: std::io::Result<OwnedFd>) -> Result<Zeroizing<String>, LocalConfigError> {
    let fd = match opened {
        Ok(fd) => fd,
        Err(e) => {
            return Err(
                match nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)) {
                    nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => {
                        LocalConfigError::Missing
                    }
                    nix::errno::Errno::ELOOP => LocalConfigError::Refused {
                        why: "it is a symbolic link".into(),
                        fix: format!(
                            "replace the link with the file it points to (readlink -f {PATH})"
                        ),
                    },
                    _ => LocalConfigError::Unreadable(e.to_string()),
                },
            )
        }
    };
    let mut file = std::fs::File::from(fd);
    let stat = fstat(file.as_raw_fd()).map_err(|e| LocalConfigError::Unreadable(e.to_string()))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(LocalConfigError::Refused {
            why: "it is not a regular file".into(),
            fix: format!("restore {PATH} as a regular file"),
        });
    }
    if !owner_ok(stat.st_uid) {
        return Err(LocalConfigError::Refused {
            why: format!("it is owned by uid {}, not by root or zextras", stat.st_uid),
            fix: format!("chown zextras:zextras {PATH}"),
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let who = if mode & 0o002 != 0 {
            "everyone"
        } else {
            "its group"
        };
        return Err(LocalConfigError::Refused {
            why: format!("it is writable by {who} (mode {mode:04o})"),
            fix: format!("chmod 0640 {PATH}"),
        });
    }
    let mut bytes = Zeroizing::new(Vec::new());
    (&mut file)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LocalConfigError::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(LocalConfigError::Malformed(format!(
            "larger than {MAX_BYTES} bytes"
        )));
    }
    let text =
        std::str::from_utf8(&bytes).map_err(|_| LocalConfigError::Malformed("not UTF-8".into()))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// The LDAP settings in a localconfig.xml text.
pub fn parse(text: &str) -> Result<LdapSettings, LocalConfigError> {
    let document =
        roxmltree::Document::parse(text).map_err(|e| LocalConfigError::Malformed(e.to_string()))?;
    let root = document.root_element();
    if root.tag_name().name() != "localconfig" {
        return Err(LocalConfigError::Malformed(format!(
            "the root element is <{}>, not <localconfig>",
            root.tag_name().name()
        )));
    }
    let value = |name: &str| -> Option<String> {
        root.children()
            .rfind(|n| n.has_tag_name("key") && n.attribute("name") == Some(name))
            .map(|key| {
                key.children()
                    .find(|n| n.has_tag_name("value"))
                    .and_then(|v| v.text())
                    .unwrap_or("")
                    .to_owned()
            })
    };
    let mut urls: Vec<String> = Vec::new();
    for key in ["ldap_master_url", "ldap_url"] {
        for url in value(key).unwrap_or_default().split_whitespace() {
            if !urls.iter().any(|u| u == url) {
                urls.push(url.to_owned());
            }
        }
    }
    if urls.is_empty() {
        return Err(LocalConfigError::MissingKey("ldap_url"));
    }
    let bind_dn = value("zimbra_ldap_userdn")
        .filter(|dn| !dn.trim().is_empty())
        .ok_or(LocalConfigError::MissingKey("zimbra_ldap_userdn"))?;
    let password = Zeroizing::new(
        value("zimbra_ldap_password")
            .ok_or(LocalConfigError::MissingKey("zimbra_ldap_password"))?,
    );
    Ok(LdapSettings {
        urls,
        bind_dn: bind_dn.trim().to_owned(),
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const CARBONIO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<localconfig>
  <key name="ldap_master_url">
    <value>ldap://ldap1.example.com:389</value>
  </key>
  <key name="ldap_url">
    <value>ldap://ldap1.example.com:389 ldap://ldap2.example.com:389</value>
  </key>
  <key name="zimbra_ldap_userdn">
    <value>uid=zimbra,cn=admins,cn=zimbra</value>
  </key>
  <key name="zimbra_ldap_password">
    <value>p&amp;ss&lt;word&gt;</value>
  </key>
  <key name="zimbra_server_hostname">
    <value>mail.example.com</value>
  </key>
</localconfig>
"#;

    #[test]
    fn carbonio_keys_are_read_masters_first_and_entities_decoded() {
        let settings = parse(CARBONIO).unwrap();
        assert_eq!(
            settings.urls,
            [
                "ldap://ldap1.example.com:389",
                "ldap://ldap2.example.com:389"
            ]
        );
        assert_eq!(settings.bind_dn, "uid=zimbra,cn=admins,cn=zimbra");
        assert_eq!(settings.password.as_str(), "p&ss<word>");
        assert!(!format!("{settings:?}").contains("ss<word"));
    }

    #[test]
    fn ldap_url_alone_is_enough_and_missing_keys_are_named() {
        let only = r#"<localconfig><key name="ldap_url"><value>ldap://a:389</value></key>
<key name="zimbra_ldap_userdn"><value>uid=zimbra,cn=admins,cn=zimbra</value></key>
<key name="zimbra_ldap_password"><value>secret</value></key></localconfig>"#;
        assert_eq!(parse(only).unwrap().urls, ["ldap://a:389"]);
        let no_password = only.replace("zimbra_ldap_password", "other");
        assert!(matches!(
            parse(&no_password),
            Err(LocalConfigError::MissingKey("zimbra_ldap_password"))
        ));
        assert!(matches!(
            parse("<localconfig/>"),
            Err(LocalConfigError::MissingKey("ldap_url"))
        ));
        assert!(matches!(
            parse("<config/>"),
            Err(LocalConfigError::Malformed(_))
        ));
        assert!(matches!(
            parse("<localconfig>"),
            Err(LocalConfigError::Malformed(_))
        ));
    }

    #[test]
    fn a_missing_file_is_not_found_and_a_writable_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let paths = SystemPaths::new(Some(dir.path().to_owned()));
        let path = dir.path().join(PATH.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let missing = read(&paths).unwrap_err();
        assert!(matches!(missing, LocalConfigError::Missing));
        let failure = ServiceFailure::from(missing);
        assert_eq!(failure.kind, ServiceErrorKind::NotFound);
        assert_eq!(
            failure.message,
            "not a Carbonio node: no /opt/zextras/conf/localconfig.xml"
        );
        std::fs::write(&path, CARBONIO).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(read(&paths).unwrap().password.as_str(), "p&ss<word>");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
        let refused = ServiceFailure::from(read(&paths).unwrap_err());
        assert_eq!(refused.kind, ServiceErrorKind::Denied);
        assert!(
            refused
                .message
                .contains("writable by its group (mode 0660)"),
            "{}",
            refused.message
        );
        assert_eq!(
            refused.hint.as_deref(),
            Some("chmod 0640 /opt/zextras/conf/localconfig.xml")
        );
        assert!(!refused.message.contains("ss<word"));
        // Someone else's file (only root can give a file away).
        if nix::unistd::Uid::effective().is_root() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
            nix::unistd::chown(&path, Some(nobody.uid), None).unwrap();
            let refused = ServiceFailure::from(read(&paths).unwrap_err());
            assert!(
                refused.message.contains("not by root or zextras"),
                "{}",
                refused.message
            );
            assert_eq!(
                refused.hint.as_deref(),
                Some("chown zextras:zextras /opt/zextras/conf/localconfig.xml")
            );
        }
        let real = dir.path().join("real.xml");
        std::fs::rename(&path, &real).unwrap();
        std::os::unix::fs::symlink(&real, &path).unwrap();
        assert!(matches!(
            read(&paths),
            Err(LocalConfigError::Refused { .. })
        ));
    }
}
