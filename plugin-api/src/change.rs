//! A change sent to Consul (a `PUT` or `DELETE`) and what it came to, in the words every
//! command that changes Consul reports and audits: `dry-run`, the command's own word for done,
//! or `failed: ...` with Consul's text (1.7).
//!
//! ```no_run
//! # use carbonio_mesh_plugin_api::{change::ConsulChange, services::ConsulRequest, Host, PluginError, Request};
//! # fn reload(host: &Host<'_>, request: &Request) -> Result<(), PluginError> {
//! let change = ConsulChange::send(host, ConsulRequest::put(&["v1", "agent", "reload"]), request.dry_run);
//! change.audit(host, "reload", "local agent", "ok");
//! if let Some(why) = change.error() {
//!     eprintln!("Error reloading: {why}");
//! }
//! # Ok(())
//! # }
//! ```

use crate::services::{ConsulRequest, ConsulResponse};
use crate::{Host, ServiceError};

/// What a change sent to Consul came to.
#[derive(Debug)]
pub enum ConsulChange {
    /// `--dry-run`: the host recorded the change instead of sending it.
    Planned,
    /// Consul answered 200.
    Done(ConsulResponse),
    /// Consul answered an error status (its text is in the answer).
    Refused(ConsulResponse),
    /// It could not be sent, or Consul's answer could not be read.
    Failed(ServiceError),
}

impl ConsulChange {
    /// Sends `request` as a change, Consul's error statuses answered rather than failing (see
    /// [`ConsulRequest::accepting_errors`]); under `--dry-run` the host only records it.
    pub fn send(host: &Host<'_>, request: ConsulRequest, dry_run: bool) -> Self {
        match host.consul(&request.accepting_errors()) {
            Ok(_) if dry_run => ConsulChange::Planned,
            Ok(answer) if answer.status == 200 => ConsulChange::Done(answer),
            Ok(answer) => ConsulChange::Refused(answer),
            Err(error) => ConsulChange::Failed(error),
        }
    }

    /// Whether Consul made the change.
    pub fn is_done(&self) -> bool {
        matches!(self, ConsulChange::Done(_))
    }

    /// Whether Consul refused it, or it could not be sent.
    pub fn is_failed(&self) -> bool {
        matches!(self, ConsulChange::Refused(_) | ConsulChange::Failed(_))
    }

    /// Whether Consul refused it for want of rights (403): the token needs more.
    pub fn forbidden(&self) -> bool {
        matches!(self, ConsulChange::Refused(answer) if answer.status == 403)
    }

    /// The right a refusal for want of rights names (Consul 1.12+ says which, and on what:
    /// `agent:write on "NODE"`; 1.9 and 1.10 mostly do not), else `usual`, the right the change
    /// normally needs. See [`missing_right`](crate::consul::missing_right).
    pub fn right_needed(&self, usual: &str) -> String {
        match self {
            ConsulChange::Refused(answer) => crate::consul::missing_right(&answer.text)
                .map_or_else(|| usual.to_owned(), |right| right.describe()),
            _ => usual.to_owned(),
        }
    }

    /// Why it failed, as the `consul` CLI says it after its own prefix (`Unexpected response
    /// code: 500 (...)`), or as the host said it; `None` unless it failed.
    pub fn error(&self) -> Option<String> {
        match self {
            ConsulChange::Refused(answer) => Some(answer.unexpected()),
            ConsulChange::Failed(error) => Some(error.message.clone()),
            ConsulChange::Planned | ConsulChange::Done(_) => None,
        }
    }

    /// The outcome in the reports' and the audit's words: `dry-run`, `done` (the command's word
    /// for it: `ok`, `deregistered`, ...) or `failed: WHY`.
    pub fn result(&self, done: &str) -> String {
        match (self, self.error()) {
            (ConsulChange::Planned, _) => "dry-run".to_owned(),
            (_, Some(why)) => format!("failed: {why}"),
            _ => done.to_owned(),
        }
    }

    /// Audits the change as `action` on `target` with its [`result`](Self::result), which it
    /// gives back.
    pub fn audit(&self, host: &Host<'_>, action: &str, target: &str, done: &str) -> String {
        let result = self.result(done);
        host.audit(action, target, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::ffi::c_void;

    use carbonio_mesh_plugin_abi::abi_stable::std_types::{RResult, RStr, RString};
    use carbonio_mesh_plugin_abi::HostHandle;

    use super::*;

    /// A host whose `consul` service gives `answer` (an answer or a failure, as JSON) and
    /// whose `audit` service keeps what it is told.
    struct FakeHost {
        answer: Result<&'static str, &'static str>,
        audits: RefCell<Vec<String>>,
    }

    extern "C" fn call(
        ctx: *const c_void,
        service: RStr<'_>,
        payload: RStr<'_>,
    ) -> RResult<RString, RString> {
        // SAFETY: the tests below pass a `FakeHost` that outlives the handle.
        let fake = unsafe { &*(ctx as *const FakeHost) };
        match service.as_str() {
            "audit" => {
                fake.audits.borrow_mut().push(payload.as_str().to_owned());
                RResult::ROk("{}".into())
            }
            _ => match fake.answer {
                Ok(answer) => RResult::ROk(answer.into()),
                Err(failure) => RResult::RErr(failure.into()),
            },
        }
    }

    fn sent(
        answer: Result<&'static str, &'static str>,
        dry_run: bool,
    ) -> (ConsulChange, Vec<String>) {
        let fake = FakeHost {
            answer,
            audits: RefCell::new(Vec::new()),
        };
        let handle = HostHandle {
            ctx: &fake as *const FakeHost as *const c_void,
            call,
        };
        let host = Host::new(&handle);
        let change = ConsulChange::send(
            &host,
            ConsulRequest::put(&["v1", "agent", "reload"]),
            dry_run,
        );
        change.audit(&host, "reload", "local agent", "ok");
        let audits = fake.audits.take();
        (change, audits)
    }

    #[test]
    fn each_outcome_in_the_words_reports_and_the_audit_use() {
        let ok = r#"{"status":200,"text":""}"#;
        let (change, audits) = sent(Ok(ok), false);
        assert!(change.is_done() && change.error().is_none());
        assert!(audits[0].contains(r#""result":"ok""#), "{audits:?}");
        let (change, audits) = sent(Ok(ok), true);
        assert_eq!(change.result("ok"), "dry-run");
        assert!(audits[0].contains(r#""result":"dry-run""#), "{audits:?}");
        let (change, _) = sent(Ok(r#"{"status":403,"text":"Permission denied"}"#), false);
        assert!(change.forbidden() && change.is_failed());
        assert_eq!(change.right_needed("agent:write"), "agent:write");
        assert_eq!(
            change.result("ok"),
            "failed: Unexpected response code: 403 (Permission denied)"
        );
        let (change, _) = sent(
            Ok(
                r#"{"status":403,"text":"Permission denied: token with AccessorID 'a1' lacks permission 'agent:write' on \"mail1\""}"#,
            ),
            false,
        );
        assert_eq!(
            change.right_needed("agent:write"),
            r#"agent:write on "mail1""#
        );
        let (change, audits) = sent(
            Err(r#"{"kind":"failed","message":"cannot reach Consul"}"#),
            false,
        );
        assert_eq!(change.error().as_deref(), Some("cannot reach Consul"));
        assert!(
            audits[0].contains("failed: cannot reach Consul"),
            "{audits:?}"
        );
    }
}
