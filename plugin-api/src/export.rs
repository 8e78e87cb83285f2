//! The glue behind [`export_plugin!`](crate::export_plugin): JSON in and out, and no panic ever
//! crosses the boundary (a panic in an `extern "C"` function aborts the whole host).

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use carbonio_mesh_plugin_abi::{
    abi_stable::std_types::{RResult, RStr, RString},
    AbiResult, HostHandle,
};

use crate::{Host, Plugin, PluginError, Request, Response};

thread_local! {
    /// Where the panic hook leaves "file:line" for the error message.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces this plugin's panic hook (each cdylib has its own copy of std) with one that only
/// remembers where the panic happened: the host prints one clear error instead of a backtrace.
fn quiet_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
        }));
    });
}

fn encode_error(error: &PluginError) -> RString {
    serde_json::to_string(error)
        .unwrap_or_else(|_| error.message.clone())
        .into()
}

/// Runs `body`, turning a panic into an internal error.
fn guarded(body: impl FnOnce() -> Result<String, PluginError>) -> AbiResult {
    quiet_panic_hook();
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(json)) => RResult::ROk(json.into()),
        Ok(Err(error)) => RResult::RErr(encode_error(&error)),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic payload".to_owned());
            let location = PANIC_LOCATION.with(|slot| slot.borrow_mut().take());
            let message = match location {
                Some(location) => format!("the plugin panicked at {location}: {what}"),
                None => format!("the plugin panicked: {what}"),
            };
            // Forgetting the payload avoids running a destructor that might panic again.
            std::mem::forget(payload);
            RResult::RErr(encode_error(&PluginError::internal(message)))
        }
    }
}

/// `manifest()` of a plugin: its manifest as JSON, with this crate's [`crate::API_VERSION`].
pub fn manifest<P: Plugin>() -> AbiResult {
    guarded(|| {
        let mut manifest = P::manifest();
        manifest.api_version = crate::API_VERSION.to_owned();
        serde_json::to_string(&manifest)
            .map_err(|e| PluginError::internal(format!("cannot encode the manifest: {e}")))
    })
}

/// `invoke()` of a plugin: decodes the request, runs the plugin, encodes the response.
pub fn invoke<P: Plugin>(handle: &HostHandle, request: RStr<'_>) -> AbiResult {
    guarded(|| {
        let request: Request = serde_json::from_str(request.as_str()).map_err(|e| {
            PluginError::internal(format!("the host's request is not understood: {e}"))
        })?;
        let host = Host::new(handle);
        let response = match &request.step {
            Some(call) => Response {
                step: Some(P::run_step(&host, call)?),
                ..Response::text("")
            },
            None => P::run(&host, &request)?,
        };
        encode_response(response)
    })
}

/// The response as the host reads it ([`Response::from_answer`]): with a document
/// ([`Response::stdout_json`]), the document framed with its length, then the other fields as
/// JSON; the host takes the document as the bytes stated, without scanning or copying it. A
/// document from [`crate::JsonDocument::pretty`] is not copied here either: its buffer already
/// starts with room for the frame.
fn encode_response(mut response: Response) -> Result<String, PluginError> {
    let document = response.stdout_json.take();
    let fields = serde_json::to_string(&response)
        .map_err(|e| PluginError::internal(format!("cannot encode the response: {e}")))?;
    let Some(document) = document else {
        return Ok(fields);
    };
    let mut answer = document.into_framed();
    answer.push_str(&fields);
    Ok(answer)
}

/// Exports a [`Plugin`] implementation as the library's root module.
///
/// Call it once, at the crate root of a `cdylib`: `export_plugin!(MyPlugin);`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        extern "C" fn __carbonio_mesh_manifest() -> $crate::__private::AbiResult {
            $crate::__private::manifest::<$plugin>()
        }

        extern "C" fn __carbonio_mesh_invoke(
            host: &$crate::__private::HostHandle,
            request: $crate::__private::RStr<'_>,
        ) -> $crate::__private::AbiResult {
            $crate::__private::invoke::<$plugin>(host, request)
        }

        $crate::__private::export_root_module!(__carbonio_mesh_manifest, __carbonio_mesh_invoke);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_internal_error_with_its_location() {
        let result = guarded(|| panic!("boom {}", 42));
        let RResult::RErr(json) = result else {
            panic!("expected an error")
        };
        let error: PluginError = serde_json::from_str(json.as_str()).unwrap();
        assert_eq!(error.kind, crate::ErrorKind::Internal);
        assert!(error.message.contains("boom 42"), "{}", error.message);
        assert!(error.message.contains("export.rs:"), "{}", error.message);
    }

    #[test]
    fn an_error_is_passed_on_as_json() {
        let result = guarded(|| Err(PluginError::usage("bad flag").hint("use --x")));
        let RResult::RErr(json) = result else {
            panic!("expected an error")
        };
        let error: PluginError = serde_json::from_str(json.as_str()).unwrap();
        assert_eq!(error.hint.as_deref(), Some("use --x"));
    }

    #[test]
    fn a_json_answer_is_framed_as_written_and_reads_back_the_same() {
        let value = serde_json::json!([{"name": "a \"quoted\"\nname", "tags": {"k": "v"}}]);
        let response = Response::json(&value)
            .unwrap()
            .with_warning("w", None)
            .with_exit_code(2);
        let wire = encode_response(response.clone()).unwrap();
        let document = serde_json::to_string_pretty(&value).unwrap();
        assert!(
            wire.starts_with(&format!(
                "document {:016}\n{document}{{\"stdout\":",
                document.len()
            )),
            "{wire}"
        );
        // The host reads back what was sent, the document where it lies in the answer.
        let back = Response::from_answer(wire.clone().into()).unwrap();
        assert_eq!(back, response);
        assert_eq!(back.stdout_json.as_ref().unwrap().as_str(), document);
        // A document read back (as the host has it) is written in the same way.
        assert_eq!(encode_response(back.clone()).unwrap(), wire);
        // As any other encoder writes the response (the form of plugins 1.6 and 1.7, which
        // began their answers with `{"stdout_json":`): the host reads that too.
        let general = serde_json::to_string(&response).unwrap();
        assert!(general.contains(r#""stdout_json":["#), "{general}");
        assert_eq!(Response::from_answer(general.into()).unwrap(), response);
        let old = format!(r#"{{"stdout_json":{document},"stdout":"","exit_code":2}}"#);
        assert_eq!(
            Response::from_answer(old.into()).unwrap().stdout_text(),
            format!("{document}\n")
        );
        // Without a document, the response as serde writes it.
        let text = Response::text("x\n");
        assert_eq!(
            encode_response(text.clone()).unwrap(),
            serde_json::to_string(&text).unwrap()
        );
    }

    #[test]
    fn a_broken_frame_is_refused_saying_what_is_wrong() {
        let refused = |answer: &str| Response::from_answer(answer.into()).unwrap_err();
        let frame = |length: usize| format!("document {length:016}\n");
        for (answer, why) in [
            ("document 12\n[]{}".to_owned(), "no length"),
            ("document 000000000000000x\n".to_owned(), "no length"),
            (format!("document {:016} []{{}}", 2), "no newline"),
            (format!("{}[]{{}}", frame(99)), "goes past"),
            // Inside a character: the document would not be text.
            (format!("{}\"é\"{{}}", frame(2)), "goes past"),
            (
                format!(r#"{}[]{{"stdout_json":[]}}"#, frame(2)),
                "second document",
            ),
        ] {
            let error = refused(&answer).to_string();
            assert!(error.contains(why), "{answer:?}: {error}");
        }
        assert!(matches!(
            refused(&format!("{}[]not json", frame(2))),
            crate::messages::AnswerError::Fields(_)
        ));
        // A document of no bytes is still a frame the host reads.
        let empty = Response::from_answer(format!("{}{{}}", frame(0)).into()).unwrap();
        assert_eq!(empty.stdout_json.unwrap().as_str(), "");
    }
}
