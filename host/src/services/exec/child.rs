//! Who a child runs as and with what: its program file, environment, user, session, process
//! group and parent-death signal, all set by [`contained`] (see the `exec` module's
//! documentation for why each).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use carbonio_mesh_plugin_api::services::{ServiceErrorKind, ServiceFailure};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, User};

use crate::services::failure;

/// The children's `PATH` when ours has no absolute entry.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables of ours every child inherits, with `LC_*`: how to talk to the operator, nothing more.
pub(super) const INHERITED: [&str; 4] = ["LANG", "LANGUAGE", "TERM", "TZ"];

/// Names (separated by blanks or commas) of further variables of ours that children inherit: the
/// one way to hand a program something from our environment. The test stand-ins' settings travel
/// this way.
const CHILD_ENV: &str = "CARBONIO_MESH_CHILD_ENV";

/// Who a program runs as.
pub(super) struct Identity {
    /// Its `USER` and `LOGNAME`.
    name: String,
    home: PathBuf,
    /// Credentials the child takes before exec; `None`: ours.
    switch: Option<Credentials>,
}

struct Credentials {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
}

impl Identity {
    /// `user` with its groups (switching needs root unless it is us), or the user we are.
    pub(super) fn of(user: Option<&str>) -> Result<Identity, ServiceFailure> {
        let Some(user) = user else {
            return Identity::ours();
        };
        let entry = User::from_name(user)
            .map_err(|e| {
                failure(
                    ServiceErrorKind::Failed,
                    format!("cannot look up user {user}: {e}"),
                )
            })?
            .ok_or_else(|| {
                failure(
                    ServiceErrorKind::NotFound,
                    format!("there is no user '{user}' on this system"),
                )
            })?;
        let switch = if Uid::effective() == entry.uid {
            None
        } else {
            if !Uid::effective().is_root() {
                return Err(failure(
                    ServiceErrorKind::Denied,
                    format!("running a command as {user} needs root"),
                ));
            }
            let name = std::ffi::CString::new(user).map_err(|_| {
                failure(ServiceErrorKind::Invalid, "a user name cannot contain NUL")
            })?;
            let groups = nix::unistd::getgrouplist(&name, entry.gid).map_err(|e| {
                failure(
                    ServiceErrorKind::Failed,
                    format!("cannot read the groups of {user}: {e}"),
                )
            })?;
            Some(Credentials {
                uid: entry.uid,
                gid: entry.gid,
                groups,
            })
        };
        Ok(Identity {
            name: user.to_owned(),
            home: entry.dir,
            switch,
        })
    }

    /// The user we are; without a passwd entry, our uid as the name and `/` as the home.
    fn ours() -> Result<Identity, ServiceFailure> {
        let uid = Uid::effective();
        let entry = User::from_uid(uid).map_err(|e| {
            failure(
                ServiceErrorKind::Failed,
                format!("cannot look up user {uid}: {e}"),
            )
        })?;
        let (name, home) = match entry {
            Some(entry) => (entry.name, entry.dir),
            None => (uid.to_string(), PathBuf::from("/")),
        };
        Ok(Identity {
            name,
            home,
            switch: None,
        })
    }
}

/// The environment a program starts with, built from `ours` (the caller passes
/// `std::env::vars_os()`; tests pass their own rather than change the process's).
fn child_environment(
    ours: impl IntoIterator<Item = (OsString, OsString)>,
    identity: &Identity,
) -> BTreeMap<OsString, OsString> {
    let ours: BTreeMap<OsString, OsString> = ours.into_iter().collect();
    let listed: Vec<&str> = ours
        .get(OsStr::new(CHILD_ENV))
        .and_then(|names| names.to_str())
        .map(|names| {
            names
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|name| !name.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut env: BTreeMap<OsString, OsString> = ours
        .iter()
        .filter(|(name, _)| {
            name.to_str().is_some_and(|name| {
                INHERITED.contains(&name) || name.starts_with("LC_") || listed.contains(&name)
            })
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    env.insert("PATH".into(), search_path(ours.get(OsStr::new("PATH"))));
    // Last, so that nothing listed can make a program believe it runs as someone else.
    env.insert("HOME".into(), identity.home.clone().into_os_string());
    env.insert("USER".into(), identity.name.clone().into());
    env.insert("LOGNAME".into(), identity.name.clone().into());
    env
}

/// Our `PATH` without relative or empty entries, which would make the lookup depend on the
/// working directory; [`DEFAULT_PATH`] when nothing is left.
///
/// Ours rather than a fixed one, because it is safe to pass on: root chose it, it found
/// carbonio-mesh itself, a root shell would find the same programs through it (and `sudo` has
/// already replaced it with its `secure_path`), and it holds no secret. Site commands and the test
/// stand-ins are found through it.
fn search_path(ours: Option<&OsString>) -> OsString {
    let entries: Vec<&[u8]> = ours
        .map(|path| {
            path.as_bytes()
                .split(|&byte| byte == b':')
                .filter(|entry| entry.starts_with(b"/"))
                .collect()
        })
        .unwrap_or_default();
    if entries.is_empty() {
        DEFAULT_PATH.into()
    } else {
        OsString::from_vec(entries.join(&b':'))
    }
}

/// `argv` as a contained command (see the module documentation): the one place where a child's
/// program file, environment, session, process group, credentials and parent-death signal are
/// set.
pub(super) fn contained(
    argv: &[String],
    identity: Identity,
    ours: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Command, ServiceFailure> {
    let env = child_environment(ours, &identity);
    let search_path = env.get(OsStr::new("PATH")).cloned().unwrap_or_default();
    // The file found is the file run (no second lookup by exec); argv[0] stays the word given.
    let mut command = Command::new(crate::services::program::locate(&argv[0], &search_path)?);
    command
        .arg0(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let parent = nix::unistd::getpid();
    let switch = identity.switch;
    if switch.is_none() {
        // Its own group (whose id is its pid), killed whole at the time limit. A Ctrl-C at the
        // terminal then reaches only carbonio-mesh, whose death ends the child. (Another user's
        // program gets a session of its own below, which is such a group too.)
        command.process_group(0);
    }
    // SAFETY: between fork and exec: only plain system calls on memory prepared before the fork;
    // nothing allocates (an io::Error from an errno does not).
    unsafe {
        command.pre_exec(move || {
            if let Some(credentials) = &switch {
                // A session of its own, without a controlling terminal: /dev/tty opens nothing
                // and TIOCSTI has no terminal to push keystrokes into. Its id is the pid, so the
                // group kill at the time limit reaches it as any other child's group.
                nix::unistd::setsid()?;
                // Groups, then group, then user, all here: std's own uid()/gid() would drop root
                // before this hook could still call setgroups.
                nix::unistd::setgroups(&credentials.groups)?;
                nix::unistd::setgid(credentials.gid)?;
                nix::unistd::setuid(credentials.uid)?;
            }
            // After the switch: a change of credentials clears the parent-death signal.
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // carbonio-mesh may have died before that line, and then nothing would end us.
            if nix::unistd::getppid() != parent {
                return Err(Errno::ESRCH.into());
            }
            Ok(())
        });
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_environment_holds_only_what_is_listed() {
        let identity = Identity {
            name: "nobody".into(),
            home: "/nonexistent".into(),
            switch: None,
        };
        let ours = [
            ("CONSUL_HTTP_TOKEN", "secret-token"),
            ("PATH", "/opt/site/bin:.::relative/bin:/usr/bin"),
            ("HOME", "/root"),
            ("USER", "root"),
            ("LANG", "C.UTF-8"),
            ("LC_TIME", "de_DE.UTF-8"),
            ("TERM", "xterm"),
            ("SITE_SETTING", "kept"),
            ("OTHER_SETTING", "dropped"),
            (CHILD_ENV, "SITE_SETTING, USER"),
        ]
        .map(|(name, value)| (OsString::from(name), OsString::from(value)));
        let env = child_environment(ours, &identity);
        let env: Vec<(&str, &str)> = env
            .iter()
            .map(|(name, value)| (name.to_str().unwrap(), value.to_str().unwrap()))
            .collect();
        assert_eq!(
            env,
            [
                ("HOME", "/nonexistent"),
                ("LANG", "C.UTF-8"),
                ("LC_TIME", "de_DE.UTF-8"),
                ("LOGNAME", "nobody"),
                ("PATH", "/opt/site/bin:/usr/bin"),
                ("SITE_SETTING", "kept"),
                ("TERM", "xterm"),
                ("USER", "nobody"),
            ]
        );
        // No usable PATH of ours: the fixed default.
        let env = child_environment([("PATH".into(), ".:bin".into())], &identity);
        assert_eq!(env[OsStr::new("PATH")], DEFAULT_PATH);
    }
}
