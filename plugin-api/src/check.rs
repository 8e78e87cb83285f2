//! One check's verdict, in the one shape every list of checks has: `doctor`'s checks,
//! `credentials verify`'s, a workflow's steps: `{name, status, detail, fix}`.
//!
//! `status` is `ok`, `warn`, `fail`, or `unknown`: not checked, with the reason in `detail` (a
//! probe that did not answer, a token that was refused, a check this node cannot make). An
//! unknown check is never a verdict on the thing checked: it neither passes nor fails, and
//! [`CheckStatus::worst`] leaves it out. `fix` is what to do (a command where one exists), null
//! when there is nothing to do.

use serde::{Deserialize, Serialize};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// It passed.
    Ok,
    /// It passed, with something to look at.
    Warn,
    /// It failed.
    Fail,
    /// It could not be made: `detail` says why.
    Unknown,
}

impl CheckStatus {
    /// The word people read: `ok`, `WARN`, `FAIL`, `unknown` (what is wrong stands out).
    pub fn word(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Unknown => "unknown",
        }
    }

    /// The JSON name: `ok`, `warn`, `fail`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Unknown => "unknown",
        }
    }

    /// How bad a verdict is: unknown and ok 0, warn 1, fail 2.
    fn severity(self) -> u8 {
        match self {
            CheckStatus::Ok | CheckStatus::Unknown => 0,
            CheckStatus::Warn => 1,
            CheckStatus::Fail => 2,
        }
    }

    /// The worst verdict of `statuses`: fail, else warn, else ok (also when there are none, or
    /// only unknown ones: what was not checked says nothing either way).
    pub fn worst(statuses: impl IntoIterator<Item = CheckStatus>) -> CheckStatus {
        statuses
            .into_iter()
            .filter(|s| *s != CheckStatus::Unknown)
            .max_by_key(|s| s.severity())
            .unwrap_or(CheckStatus::Ok)
    }
}

/// One check: its name, its verdict, what was found, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The check's name (lower-case words joined by dashes); the same whatever the verdict.
    pub name: String,
    /// The verdict.
    pub status: CheckStatus,
    /// What was found, one line; for an unknown check, why it was not made.
    pub detail: String,
    /// What to do: a command where one exists; null when there is nothing to do.
    #[serde(default)]
    pub fix: Option<String>,
}

impl Check {
    /// A check with `status` and `detail`, no fix yet.
    pub fn new(name: &str, status: CheckStatus, detail: impl Into<String>) -> Self {
        Check {
            name: name.to_owned(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A check that passed.
    pub fn ok(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Ok, detail)
    }

    /// A check that passed with something to look at.
    pub fn warn(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Warn, detail)
    }

    /// A check that failed.
    pub fn fail(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Fail, detail)
    }

    /// A check that could not be made, `why` saying why.
    pub fn unknown(name: &str, why: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Unknown, why)
    }

    /// The fix, kept unless the check passed (a passing check has nothing to fix).
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        if self.status != CheckStatus::Ok {
            let fix = fix.into();
            self.fix = (!fix.is_empty()).then_some(fix);
        }
        self
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.status == CheckStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shape_is_name_status_detail_fix() {
        let check = Check::fail("token", "ACL not found").fix("give a token");
        assert_eq!(
            serde_json::to_string(&check).unwrap(),
            r#"{"name":"token","status":"fail","detail":"ACL not found","fix":"give a token"}"#
        );
        let ok = Check::ok("leader", "leader at x").fix("never shown");
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"name":"leader","status":"ok","detail":"leader at x","fix":null}"#
        );
        let back: Check = serde_json::from_str(
            r#"{"name":"keyring","status":"unknown","detail":"not checked here"}"#,
        )
        .unwrap();
        assert_eq!(back, Check::unknown("keyring", "not checked here"));
        assert_eq!(
            Check::warn("x", "y").fix("").fix,
            None,
            "an empty fix is none"
        );
    }

    #[test]
    fn unknown_is_no_verdict() {
        use CheckStatus::*;
        assert_eq!(CheckStatus::worst([Ok, Unknown]), Ok);
        assert_eq!(CheckStatus::worst([Unknown]), Ok);
        assert_eq!(CheckStatus::worst([Unknown, Warn, Ok]), Warn);
        assert_eq!(CheckStatus::worst([Fail, Warn, Unknown]), Fail);
        assert_eq!(CheckStatus::worst([]), Ok);
        assert_eq!(
            [Ok, Warn, Fail, Unknown].map(CheckStatus::name),
            ["ok", "warn", "fail", "unknown"]
        );
    }
}
