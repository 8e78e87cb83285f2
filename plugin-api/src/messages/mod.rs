//! The JSON messages between host and plugin: the manifest, a request, a response, an error.
//!
//! They evolve only by adding optional fields (`#[serde(default)]`), never by renaming or removing,
//! within a major version. One framing came in 1.8: a plugin's answer that carries a JSON
//! document states the document's length before it, so the host takes it without parsing it
//! (see [`JsonDocument::FRAME_TAG`]); hosts read the unframed answers of older plugins as before.
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

pub use args::{ArgKind, ArgSpec, ArgValue, Args, Suggest, ValueKind};
pub use error::{ErrorKind, PluginError};
pub use manifest::{CommandSpec, Example, ExitCodeSpec, Manifest, API_VERSION};
pub use request::{OutputFormat, Request};
pub use response::{AnswerError, JsonDocument, Response, Warning, EXIT_DECLINED};
