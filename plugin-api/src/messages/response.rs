//! What a command produced: its output (text or a JSON document), warnings, exit status.

use carbonio_mesh_plugin_abi::abi_stable::std_types::RString;
use serde::{Deserialize, Serialize};

use super::{OutputFormat, PluginError};
use crate::step::StepOutcome;
use crate::SecretText;

/// What a command produced.
///
/// The host prints it with every secret the run has seen (passwords, tokens, keys) replaced by
/// `<redacted>`, except the ones listed in `reveal`, which may appear on standard output only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Printed to standard output, secrets redacted.
    #[serde(default)]
    pub stdout: String,
    /// Printed to standard error, secrets redacted (added in 1.2), for messages the Consul CLI
    /// prints there.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// The process exit status; 0 unless the command defines others (`members` exits 2 on no match).
    #[serde(default)]
    pub exit_code: u8,
    /// Secrets this answer prints on purpose on standard output (added in 1.4): the token of
    /// `credentials token`, a generated password shown once. Never shown on standard error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reveal: Vec<SecretText>,
    /// Warnings for standard error (added in 1.5): the host prints each as
    /// `carbonio-mesh: warning: ...` with its fix, and leaves them out with `-q`. Standard output
    /// stays the command's product, byte for byte.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The outcome of the step a [`Request::step`](super::Request::step) asked for (added in 1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepOutcome>,
    /// A JSON document for standard output (added in 1.6), printed after `stdout` and followed
    /// by a newline, secrets redacted like `stdout`. It crosses the boundary as text of stated
    /// length before the other fields (1.8; JSON inside the response in 1.6 and 1.7), never as
    /// a string: a 2.6 MB `members --format json` answer is neither escaped by the plugin nor
    /// unescaped, scanned or copied by the host. [`Response::json`] fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_json: Option<JsonDocument>,
}

/// One JSON value, kept as the text it was written as (see [`Response::stdout_json`]).
///
/// Written by serde_json ([`JsonDocument::pretty`]) or by a plugin's own writer
/// ([`JsonDocument::written`], which vouches for its text being one JSON value), or read back by
/// the host from a plugin's answer without being parsed (see [`Response::from_answer`]).
#[derive(Debug, Clone)]
pub struct JsonDocument {
    /// The document is `buffer[start..end]`. Before it, a document a plugin wrote holds the
    /// answer's frame ([`JsonDocument::FRAME_TAG`] and room for the length): the plugin's answer
    /// is then finished in this buffer, without copying the document (see
    /// `export::encode_response`); after it, in an answer the host read, the other fields.
    buffer: DocumentBuffer,
    start: usize,
    end: usize,
}

/// Where a document lies: a buffer of this library, or the plugin's answer as the host received
/// it (a string of the plugin's allocation, which `RString::into_string` would copy: 2.6 MB).
#[derive(Debug, Clone)]
enum DocumentBuffer {
    Own(String),
    Answer(RString),
}

impl DocumentBuffer {
    fn as_str(&self) -> &str {
        match self {
            DocumentBuffer::Own(text) => text,
            DocumentBuffer::Answer(text) => text.as_str(),
        }
    }
}

/// Why a plugin's answer could not be read (see [`Response::from_answer`]).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The response's fields are not the JSON of a [`Response`].
    #[error("{0}")]
    Fields(#[from] serde_json::Error),
    /// The frame of a document does not fit the answer.
    #[error("its document frame is broken: {0}")]
    Frame(&'static str),
}

impl JsonDocument {
    /// How a plugin's answer starts when it carries a document (1.8): this, the document's
    /// length in bytes as [`JsonDocument::LENGTH_DIGITS`] decimal digits, a newline; then the
    /// document, then the response's other fields as a JSON object. The host takes the document
    /// as the bytes the frame states, neither scanning it for its end nor copying it.
    pub const FRAME_TAG: &'static str = "document ";
    /// How many digits state a framed document's length (zero-padded).
    pub const LENGTH_DIGITS: usize = 16;
    const FRAME_LEN: usize = Self::FRAME_TAG.len() + Self::LENGTH_DIGITS + 1;

    /// `value` pretty-printed (two-space indent, as every `--format json` answer is).
    pub fn pretty<T: Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        Self::pretty_sized(value, 0)
    }

    /// [`JsonDocument::pretty`] written into a buffer made for about `expected` bytes. A large
    /// document written into a growing buffer is copied, and its memory touched afresh, at each
    /// doubling: 2.4 MB of members went through 128 KB, 256 KB, ... 4 MB.
    pub fn pretty_sized<T: Serialize>(
        value: &T,
        expected: usize,
    ) -> Result<Self, serde_json::Error> {
        let mut buffer = Self::framed_buffer(expected).into_bytes();
        serde_json::to_writer_pretty(&mut buffer, value)?;
        // serde_json writes UTF-8; its own output is not parsed again (checking a 2.4 MB
        // member list as JSON took 3 ms).
        let buffer = String::from_utf8(buffer).map_err(serde::ser::Error::custom)?;
        Ok(Self::framed(buffer))
    }

    /// A document a plugin writes itself into `buffer` (made for about `expected` bytes), for
    /// an answer too large to go through a `Serialize` value at a reasonable cost (`members`
    /// writes 5,000 members as it decodes them). The writer vouches that it writes one JSON
    /// value, pretty-printed as serde_json would.
    pub fn written<E>(
        expected: usize,
        write: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<Self, E> {
        let mut buffer = Self::framed_buffer(expected);
        write(&mut buffer)?;
        Ok(Self::framed(buffer))
    }

    /// A buffer for a document of about `expected` bytes, starting with room for the frame,
    /// and with room for the response's other fields after the document, so finishing the
    /// answer does not move it.
    fn framed_buffer(expected: usize) -> String {
        let mut buffer = String::with_capacity(Self::FRAME_LEN + expected.max(128) + 256);
        buffer.push_str(Self::FRAME_TAG);
        buffer.extend(std::iter::repeat_n('0', Self::LENGTH_DIGITS));
        buffer.push('\n');
        buffer
    }

    /// The document written after the frame of [`JsonDocument::framed_buffer`].
    fn framed(buffer: String) -> Self {
        JsonDocument {
            end: buffer.len(),
            buffer: DocumentBuffer::Own(buffer),
            start: Self::FRAME_LEN,
        }
    }

    /// The document's text, exactly as written.
    pub fn as_str(&self) -> &str {
        &self.buffer.as_str()[self.start..self.end]
    }

    /// The answer's frame and the document, in the buffer the document was written into (when
    /// it has room for the frame before it), the length filled in. A document read back from
    /// another answer is copied into a new buffer.
    pub(crate) fn into_framed(self) -> String {
        let length = self.end - self.start;
        let digits = format!("{length:0width$}", width = Self::LENGTH_DIGITS);
        // Sixteen digits hold any length a memory holds.
        let mut buffer = match self.buffer {
            DocumentBuffer::Own(mut buffer) if self.start == Self::FRAME_LEN => {
                buffer.truncate(self.end);
                buffer
            }
            other => {
                let mut buffer = Self::framed_buffer(length);
                buffer.push_str(&other.as_str()[self.start..self.end]);
                buffer
            }
        };
        buffer.replace_range(Self::FRAME_TAG.len()..Self::FRAME_LEN - 1, &digits);
        buffer
    }

    /// The document an answer frames and where the other fields start, or why it cannot be.
    fn unframe(answer: &str) -> Result<(usize, usize), AnswerError> {
        let digits = answer
            .get(Self::FRAME_TAG.len()..Self::FRAME_LEN - 1)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(AnswerError::Frame("no length after its tag"))?;
        if answer.as_bytes().get(Self::FRAME_LEN - 1) != Some(&b'\n') {
            return Err(AnswerError::Frame("no newline after its length"));
        }
        let end = digits
            .parse::<usize>()
            .ok()
            .and_then(|length| length.checked_add(Self::FRAME_LEN))
            .filter(|end| answer.is_char_boundary(*end))
            .ok_or(AnswerError::Frame("its length goes past the answer"))?;
        Ok((Self::FRAME_LEN, end))
    }
}

impl Serialize for JsonDocument {
    /// As the JSON it is, not as a string. The plugin's own answer does not come this way (its
    /// document is spliced in, see `export::encode_response`); this serves any other encoder.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::value::RawValue::from_string(self.as_str().to_owned())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonDocument {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Checked while read (serde_json finds where the value ends), then kept without a copy.
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(|raw| {
            let buffer = Box::<str>::from(raw).into_string();
            JsonDocument {
                end: buffer.len(),
                buffer: DocumentBuffer::Own(buffer),
                start: 0,
            }
        })
    }
}

impl PartialEq for JsonDocument {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JsonDocument {}

/// A warning a command gives alongside its answer (see [`Response::with_warning`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The exit status of a declined confirmation (see [`Response::declined`]); the host documents it.
pub const EXIT_DECLINED: u8 = 9;

impl Response {
    /// A response printing `stdout`, exit status 0.
    pub fn text(stdout: impl Into<String>) -> Self {
        Response {
            stdout: stdout.into(),
            stderr: String::new(),
            exit_code: 0,
            reveal: Vec::new(),
            warnings: Vec::new(),
            step: None,
            stdout_json: None,
        }
    }

    /// Lets `secret` appear in standard output: the user asked for it.
    pub fn revealing(mut self, secret: &SecretText) -> Self {
        self.reveal.push(secret.clone());
        self
    }

    /// `value` as pretty JSON followed by a newline, for `--format json` (in
    /// [`Response::stdout_json`]; a host before 1.6 does not load a plugin built with this).
    pub fn json<T: Serialize>(value: &T) -> Result<Self, PluginError> {
        Self::json_sized(value, 0)
    }

    /// The same data for scripts and for people: `data` as the JSON document with `--format
    /// json`, else the text `human` makes of it. One value feeds both outputs, so they cannot
    /// tell different stories (1.7).
    pub fn render<T: Serialize>(
        format: OutputFormat,
        data: &T,
        human: impl FnOnce(&T) -> String,
    ) -> Result<Self, PluginError> {
        match format {
            OutputFormat::Json => Self::json(data),
            OutputFormat::Human => Ok(Self::text(human(data))),
        }
    }

    /// [`Response::json`] for a large answer of about `expected` bytes (see
    /// [`JsonDocument::pretty_sized`]); a wrong guess costs time, not correctness.
    pub fn json_sized<T: Serialize>(value: &T, expected: usize) -> Result<Self, PluginError> {
        let document = JsonDocument::pretty_sized(value, expected)
            .map_err(|e| PluginError::internal(format!("cannot encode the JSON answer: {e}")))?;
        Ok(Response {
            stdout_json: Some(document),
            ..Response::text("")
        })
    }

    /// Everything this response prints on standard output: `stdout`, then the JSON document
    /// and its newline. Borrowed when there is only one of them.
    pub fn stdout_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.stdout_json {
            None => std::borrow::Cow::Borrowed(&self.stdout),
            Some(document) => {
                let mut text =
                    String::with_capacity(self.stdout.len() + document.as_str().len() + 1);
                text.push_str(&self.stdout);
                text.push_str(document.as_str());
                text.push('\n');
                std::borrow::Cow::Owned(text)
            }
        }
    }

    /// A plugin's answer as the host reads it: a framed document (1.8, see
    /// [`JsonDocument::FRAME_TAG`]) taken as the bytes its frame states, without a copy, then
    /// the other fields; or the whole answer as one JSON object (plugins before 1.8, and any
    /// answer without a document).
    pub fn from_answer(answer: RString) -> Result<Self, AnswerError> {
        if !answer.starts_with(JsonDocument::FRAME_TAG) {
            return Ok(serde_json::from_str(&answer)?);
        }
        let (start, end) = JsonDocument::unframe(&answer)?;
        let mut response: Response = serde_json::from_str(&answer[end..])?;
        if response.stdout_json.is_some() {
            return Err(AnswerError::Frame("its fields hold a second document"));
        }
        // The document stays where the plugin wrote it.
        response.stdout_json = Some(JsonDocument {
            buffer: DocumentBuffer::Answer(answer),
            start,
            end,
        });
        Ok(response)
    }

    /// The user said no to a confirmation: `Nothing changed.` on standard error (with
    /// `--format json`, `{"declined": true}` on standard output), exit [`EXIT_DECLINED`].
    pub fn declined_as(format: OutputFormat) -> Self {
        let response = match format {
            OutputFormat::Json => {
                Response::text("{\n  \"declined\": true,\n  \"changed\": false\n}\n")
            }
            OutputFormat::Human => Response::text(""),
        };
        response
            .with_stderr("Nothing changed.\n")
            .with_exit_code(EXIT_DECLINED)
    }

    /// [`Response::declined_as`] for a human reader.
    pub fn declined() -> Self {
        Response::declined_as(OutputFormat::Human)
    }

    /// Adds a warning the host prints on standard error unless `-q` was given.
    pub fn with_warning(mut self, message: impl Into<String>, fix: Option<String>) -> Self {
        self.warnings.push(Warning {
            message: message.into(),
            fix,
        });
        self
    }

    /// Exits with `exit_code` (a plugin's own codes are declared with [`Manifest::exit_code`](super::Manifest::exit_code)).
    pub fn with_exit_code(mut self, exit_code: u8) -> Self {
        self.exit_code = exit_code;
        self
    }

    /// Adds a message for standard error.
    pub fn with_stderr(mut self, stderr: impl Into<String>) -> Self {
        self.stderr = stderr.into();
        self
    }
}
