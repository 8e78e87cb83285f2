//! The JSON messages between host and plugin: the manifest, a request, a response, an error.
//!
//! They evolve only by adding optional fields (`#[serde(default)]`), never by renaming or removing,
//! within a major version.
//!
//! One file per message: [`Manifest`] (and the [`CommandSpec`] tree, [`ArgSpec`] arguments),
//! [`Request`], [`Response`], [`PluginError`].

mod args;
mod error;
mod manifest;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use args::{ArgKind, ArgSpec, ArgValue, Suggest, ValueKind};
pub use error::{ErrorKind, PluginError};
pub use manifest::{CommandSpec, Example, ExitCodeSpec, Manifest, API_VERSION};
pub use request::{OutputFormat, Request};
pub use response::{JsonDocument, Response, Warning, EXIT_DECLINED};
