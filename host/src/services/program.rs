//! Which file a program word names, decided before anything runs it as root.
//!
//! An absolute path is taken as it is: whoever wrote it is trusted (a plugin, or a configuration
//! file that passed the trust checks). A bare name is looked up in the child's `PATH`, in the
//! directories root owns and nobody else may write (when carbonio-mesh does not run as root, the
//! user it runs as counts as root), and the file found there must be owned and writable the same
//! way: a directory someone else can write, early in root's `PATH`, would let them choose what
//! runs. A relative path with a `/` (`bin/x`) is refused outright: it is looked up from the
//! current directory, which may be another user's.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};

use super::failure;

/// Refuses a relative program path (`bin/x`, `./x`): the one kind no lookup makes safe.
pub(super) fn check_word(program: &str) -> Result<(), ServiceFailure> {
    if program.contains('/') && !program.starts_with('/') {
        return Err(ServiceFailure {
            hint: Some(
                "give the program's absolute path (/usr/local/sbin/x), or a bare name found in PATH"
                    .to_owned(),
            ),
            ..failure(
                ServiceErrorKind::Denied,
                format!(
                    "the program '{program}' is a relative path, which would be found from the current directory"
                ),
            )
        });
    }
    Ok(())
}

/// Whether root (or the user we are) owns `meta` and nobody else may write to it.
fn safe(meta: &std::fs::Metadata) -> bool {
    let me = nix::unistd::Uid::effective().as_raw();
    (meta.uid() == 0 || meta.uid() == me) && meta.mode() & 0o022 == 0
}

/// The file to run for `program`, looked up in `search_path` (the child's `PATH`) when it is a
/// bare name; see the module documentation.
pub(super) fn locate(program: &str, search_path: &OsStr) -> Result<PathBuf, ServiceFailure> {
    check_word(program)?;
    if program.starts_with('/') {
        return Ok(PathBuf::from(program));
    }
    let mut unsafe_dirs = Vec::new();
    for dir in search_path.as_bytes().split(|&b| b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        let candidate = dir.join(program);
        let Ok(file) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !file.is_file() || file.mode() & 0o111 == 0 {
            continue;
        }
        if std::fs::metadata(dir).is_ok_and(|d| safe(&d)) && safe(&file) {
            return Ok(candidate);
        }
        unsafe_dirs.push(candidate.display().to_string());
    }
    if unsafe_dirs.is_empty() {
        return Err(failure(
            ServiceErrorKind::NotFound,
            format!(
                "cannot run {program}: not found in PATH ({})",
                search_path.to_string_lossy()
            ),
        ));
    }
    Err(ServiceFailure {
        hint: Some(format!(
            "install {program} where only root can write (/usr/local/sbin), or take the directory out of PATH"
        )),
        ..failure(
            ServiceErrorKind::Denied,
            format!(
                "refusing to run {}: someone other than root can write it or its directory",
                unsafe_dirs.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn executable(path: &Path) {
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn relative_paths_are_refused_and_names_found_only_in_safe_directories() {
        assert!(check_word("bin/x").is_err() && check_word("./x").is_err());
        assert_eq!(
            locate("/usr/bin/env", OsStr::new("")).unwrap(),
            Path::new("/usr/bin/env")
        );
        let open = crate::plugins::trust::tests::scratch();
        let closed = crate::plugins::trust::tests::scratch();
        executable(&open.path().join("tool"));
        executable(&closed.path().join("tool"));
        fs::set_permissions(open.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let path = format!("{}:{}", open.path().display(), closed.path().display());
        assert_eq!(
            locate("tool", OsStr::new(&path)).unwrap(),
            closed.path().join("tool"),
            "the writable directory first in PATH is passed over"
        );
        let only_open = open.path().display().to_string();
        let error = locate("tool", OsStr::new(&only_open)).unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Denied);
        assert!(error.message.contains(&only_open), "{}", error.message);
        let error = locate("no-such-tool", OsStr::new(&path)).unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::NotFound);
    }
}
