//! The one crate a carbonio-mesh plugin depends on.
//!
//! A plugin is a Rust `cdylib` that implements [`Plugin`] and calls [`export_plugin!`]. The host
//! (`carbonio-mesh`) loads it, reads its [`Manifest`] to build the command line, and calls
//! [`Plugin::run`] with a [`Request`]. The plugin does every side effect through the [`Host`]
//! handle (run a command, read or change a file, log), which is what gives every plugin dry-run,
//! backups before deletion, the `--root` prefix used by tests, audit logging and secret redaction
//! for free.
//!
//! # Compatibility rule
//!
//! **Same major loads; the typed surface never changes within a major.**
//!
//! - The binary boundary is two functions (`manifest`, `invoke`) and one host callback
//!   (`call(service, payload)`), defined in `carbonio-mesh-plugin-abi`, whose version stays at
//!   `1.0.0` for the whole of major 1.
//! - Everything that crosses it is JSON ([`messages`], [`services`]). Minor versions only add
//!   optional fields (with `#[serde(default)]`), so old plugins and new hosts read each other.
//! - A plugin built against `1.x` loads in a host built with `1.y` when `y >= x`. A plugin built
//!   against a newer minor than the host, or against another major, is refused with a message
//!   naming both versions. [`API_VERSION`] is compiled into every plugin's manifest.
//!
//! # Writing a plugin
//!
//! ```
//! use carbonio_mesh_plugin_api::{
//!     export_plugin, CommandSpec, ArgSpec, Host, Manifest, Plugin, PluginError, Request, Response,
//! };
//!
//! pub struct Hello;
//!
//! impl Plugin for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::new("hello", env!("CARGO_PKG_VERSION"), "Greets the operator").command(
//!             CommandSpec::new("hello", "Greets the operator").arg(ArgSpec::option("name", "Who to greet")),
//!         )
//!     }
//!
//!     fn run(_host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
//!         let name = request.value("name").unwrap_or("admin");
//!         Ok(Response::text(format!("hello, {name}\n")))
//!     }
//! }
//!
//! export_plugin!(Hello);
//! # fn main() {}
//! ```

#![warn(missing_docs)]

pub mod change;
pub mod check;
pub mod consul;
mod export;
pub mod fact;
pub mod fanout;
mod host;
pub mod journal;
pub mod mesh;
pub mod messages;
pub mod nodes;
mod plugin;
mod secret;
pub mod services;
pub mod step;
mod table;
pub mod target;
pub mod untrusted;
pub mod workflow;

pub use check::{Check, CheckStatus};
pub use host::{anonymous_warning, ConsulText, Host, ServiceError};
pub use messages::{
    AnswerError, ArgKind, ArgSpec, ArgValue, Args, CommandSpec, ErrorKind, Example, ExitCodeSpec,
    JsonDocument, Manifest, OutputFormat, PluginError, Request, Response, Suggest, ValueKind,
    Warning, API_VERSION, EXIT_DECLINED,
};
pub use plugin::Plugin;
pub use secret::SecretText;
pub use step::{StepCall, StepError, StepOutcome, StepSpec};
pub use table::{Table, Widths};

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{invoke, manifest};
    pub use carbonio_mesh_plugin_abi::abi_stable::std_types::RStr;
    pub use carbonio_mesh_plugin_abi::{export_root_module, AbiResult, HostHandle};
}
