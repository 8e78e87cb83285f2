//! `input.stdin`: the rest of standard input, which the host owns.

use serde::{Deserialize, Serialize};

use super::Service;

/// `input.stdin` (1.3): the rest of standard input as text (after what `--password-stdin`
/// took), at most `max_bytes`. The host owns standard input, so plugins read it through here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStdin {
    /// Read at most this many bytes.
    pub max_bytes: u64,
}

impl Service for ReadStdin {
    const NAME: &'static str = "input.stdin";
    type Answer = StdinText;
}

/// [`ReadStdin`]'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StdinText {
    /// What was read: it may hold a secret.
    pub text: crate::SecretText,
}
