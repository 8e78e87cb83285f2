//! The host services a plugin may call, one request/answer pair each.
//!
//! Every side effect goes through these, so the host can apply `--dry-run`, `--root`, backups
//! before deletion, audit logging and secret redaction in one place. The service name is the
//! [`Service::NAME`] of the request type.
//!
//! One file per family of services, named as the services' prefix (`fs.*` in `fs.rs`); the host's
//! handler of each family is the file of the same name in `host/src/services/`.

mod audit;
mod base;
mod carbonio;
mod consul;
mod credentials;
mod exec;
mod fs;
mod input;
mod journal;
mod log;
mod net;
mod prompt;
mod steps;

pub use audit::*;
pub use base::{Empty, Service, ServiceErrorKind, ServiceFailure};
pub use carbonio::*;
pub use consul::*;
pub use credentials::*;
pub use exec::*;
pub use fs::*;
pub use input::*;
pub use journal::*;
pub use log::*;
pub use net::*;
pub use prompt::*;
pub use steps::*;
