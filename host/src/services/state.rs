//! `fs.write-state`: a file inside service-discover's state directory (`/var/lib/service-discover`)
//! for its own user, written by root without ever following a link.
//!
//! The service user owns the state directory's contents and main.json, which names Consul's data
//! directory: whatever that user can change may point anywhere. So the path must lie inside the
//! state directory; the state directory is opened from its parent (`/var/lib`), which must pass
//! the trust rules (root's, nobody else may write it or anything above it), and every directory
//! below it is opened with `O_NOFOLLOW`; the file itself is replaced as `fs.write` replaces one
//! (`files::replace_in`: temporary file beside it, owner set on the descriptor, renamed over the
//! name, a link there replaced, never followed). A data directory that is a link to
//! `/etc/cron.hourly`, or main.json naming `/etc/update-motd.d`, is refused with the fix.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use carbonio_mesh_plugin_api::mesh::STATE_DIR;
use carbonio_mesh_plugin_api::services::{
    Changed, ServiceErrorKind, ServiceFailure, WriteStateFile,
};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode, SFlag};

use super::fs::{replace_in, user_ids};
use super::{failure, HostContext};
use crate::config::paths::{is_type, open_at, Entry};
use crate::plugins::trust::{self, TrustPolicy};

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// What to do when the path is not service-discover's to write.
const FIX: &str = "service-discover keeps its state, Consul's data directory (/var/lib/service-discover/data) included, in /var/lib/service-discover: \
set data_dir in /etc/zextras/service-discover/main.json back to it and make it a real directory, not a link (the service user can change both: find out who did)";

fn refused(path: &str, why: String) -> ServiceFailure {
    ServiceFailure {
        hint: Some(FIX.to_owned()),
        ..failure(
            ServiceErrorKind::Denied,
            format!("{path} is not written: {why}"),
        )
    }
}

/// The components of `path` below the state directory, when it lies inside it.
fn inside_state_dir(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix(STATE_DIR)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let plain = !parts.is_empty() && parts.iter().all(|p| *p != "." && *p != "..");
    plain.then_some(parts)
}

fn is_link(dir: &OwnedFd, name: &str) -> bool {
    nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        OsStr::new(name),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .is_ok_and(|stat| is_type(&stat, SFlag::S_IFLNK))
}

/// Opens `name` in `dir` as a directory, refusing a link.
fn open_dir(dir: &OwnedFd, name: &str, path: &str, shown: &str) -> Result<OwnedFd, ServiceFailure> {
    let opened = open_at(dir, OsStr::new(name), DIR_FLAGS, Mode::empty())
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)));
    match opened {
        Ok(fd) => Ok(fd),
        // O_NOFOLLOW with O_DIRECTORY answers ENOTDIR for a link.
        Err(Errno::ELOOP | Errno::ENOTDIR) if is_link(dir, name) => Err(refused(
            path,
            format!("{shown} is a symbolic link, which root never follows into the service user's files"),
        )),
        Err(Errno::ENOTDIR) => Err(refused(path, format!("{shown} is not a directory"))),
        Err(errno) => Err(super::io_failure("open", shown, errno.into())),
    }
}

pub(super) fn write_state(
    context: &HostContext,
    request: WriteStateFile,
) -> Result<Changed, ServiceFailure> {
    let path = request.path.as_str();
    context.resolve(path)?;
    let Some(parts) = inside_state_dir(path) else {
        return Err(refused(
            path,
            format!("it is outside service-discover's state directory {STATE_DIR}"),
        ));
    };
    let user = &context.config.service_user;
    if context.dry_run {
        let note = if context.exists(path) {
            format!(", after backing up to {}", context.backups.target(path))
        } else {
            String::new()
        };
        context.record(format!(
            "write {path} (mode {:04o}, owner {user}){note}",
            request.mode
        ));
        return Ok(Changed {
            backup: None,
            dry_run: true,
        });
    }
    let state = Path::new(STATE_DIR);
    let (Some(parent), Some(name)) = (state.parent(), state.file_name()) else {
        unreachable!("the state directory is an absolute path below /");
    };
    let parent_real = context.paths.system(&parent.display().to_string());
    let mut dir = trust::open_trusted_dir(&TrustPolicy::for_current_user(), &parent_real).map_err(
        |refusal| ServiceFailure {
            hint: Some(refusal.fix()),
            ..refused(
                path,
                format!("the directory above the state directory is not trusted: {refusal}"),
            )
        },
    )?;
    dir = open_dir(&dir, &name.to_string_lossy(), path, STATE_DIR)?;
    let owner = user_ids(user)?;
    let me = nix::unistd::Uid::effective().as_raw();
    let state_owner = fstat(dir.as_raw_fd())
        .map_err(|e| super::io_failure("examine", STATE_DIR, e.into()))?
        .st_uid;
    if ![0, me, owner.0].contains(&state_owner) {
        return Err(refused(
            path,
            format!(
                "{STATE_DIR} belongs to {}, neither root nor the service user {user}",
                crate::listeners::describe_uid(state_owner)
            ),
        ));
    }
    let (file, dirs) = parts.split_last().expect("inside_state_dir answers a name");
    let mut shown = STATE_DIR.to_owned();
    for part in dirs {
        shown = format!("{shown}/{part}");
        dir = open_dir(&dir, part, path, &shown)?;
    }
    let entry = Entry {
        dir,
        name: (*file).into(),
    };
    let backup = replace_in(
        context,
        &entry,
        path,
        request.content.as_bytes(),
        request.mode,
        Some(owner),
    )?;
    tracing::info!(plugin = %context.plugin, "wrote {path} (owner {user})");
    Ok(Changed {
        backup,
        dry_run: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::paths::SystemPaths;
    use crate::config::settings::Config;
    use crate::services::test_consul;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    fn context(root: &Path) -> HostContext {
        let config = Config {
            service_user: nix::unistd::User::from_uid(nix::unistd::Uid::effective())
                .unwrap()
                .unwrap()
                .name,
            ..Config::default()
        };
        HostContext::new(
            "test",
            SystemPaths::new(Some(root.to_owned())),
            config,
            false,
            test_consul(),
        )
    }

    fn write(context: &HostContext, path: &str) -> Result<Changed, ServiceFailure> {
        write_state(
            context,
            WriteStateFile {
                path: path.to_owned(),
                content: "908".to_owned(),
                mode: 0o600,
            },
        )
    }

    /// Issue 24, item 1: root wrote the reset file, owned by the service user, wherever
    /// main.json's data_dir (the service user's file) or a link in its place pointed:
    /// `etc/cron.hourly` and `etc/update-motd.d`, where that user can make it a program root runs.
    #[test]
    fn a_state_file_is_written_only_inside_the_state_directory_through_no_link() {
        let root = crate::plugins::trust::tests::scratch();
        let state = root.path().join("var/lib/service-discover");
        fs::create_dir_all(state.join("data")).unwrap();
        fs::create_dir_all(root.path().join("etc/cron.hourly")).unwrap();
        let context = context(root.path());
        write(
            &context,
            "/var/lib/service-discover/data/acl-bootstrap-reset",
        )
        .unwrap();
        let written = state.join("data/acl-bootstrap-reset");
        assert_eq!(fs::read_to_string(&written).unwrap(), "908");
        assert_eq!(
            fs::metadata(&written).unwrap().uid(),
            nix::unistd::Uid::effective().as_raw()
        );
        for elsewhere in [
            "/etc/cron.hourly/acl-bootstrap-reset",
            "/var/lib/service-discover-x/acl-bootstrap-reset",
            "/var/lib/service-discover/../../../etc/cron.hourly/x",
            "/var/lib/service-discover",
        ] {
            let error = write(&context, elsewhere).unwrap_err();
            assert!(
                error.message.contains("outside") || error.kind == ServiceErrorKind::Invalid,
                "{elsewhere}: {}",
                error.message
            );
        }
        assert!(!root
            .path()
            .join("etc/cron.hourly/acl-bootstrap-reset")
            .exists());
        // The data directory replaced by a link (relative or absolute): refused, not followed.
        fs::remove_dir_all(state.join("data")).unwrap();
        std::os::unix::fs::symlink("../../../etc/cron.hourly", state.join("data")).unwrap();
        let error = write(
            &context,
            "/var/lib/service-discover/data/acl-bootstrap-reset",
        )
        .unwrap_err();
        assert!(error.message.contains("symbolic link"), "{}", error.message);
        assert!(error.hint.unwrap().contains("data_dir"));
        assert!(!root
            .path()
            .join("etc/cron.hourly/acl-bootstrap-reset")
            .exists());
        // So is the state directory itself.
        fs::remove_file(state.join("data")).unwrap();
        fs::rename(&state, root.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.path().join("elsewhere"), &state).unwrap();
        let error = write(&context, "/var/lib/service-discover/password").unwrap_err();
        assert!(error.message.contains("symbolic link"), "{}", error.message);
        assert!(!root.path().join("elsewhere/password").exists());
    }
}
