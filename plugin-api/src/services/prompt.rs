//! `prompt.confirm`: the confirmation of a destructive command.

use serde::{Deserialize, Serialize};

use super::Service;

/// `prompt.confirm` (1.3): asks a yes/no question on the terminal. `--yes` answers yes without
/// asking; with no terminal and no `--yes` the answer is a `Denied` failure telling the user to
/// pass `--yes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirm {
    /// What will change, one line each, shown before the question.
    pub changes: Vec<String>,
    /// The question, answered yes or no.
    pub question: String,
}

impl Service for Confirm {
    const NAME: &'static str = "prompt.confirm";
    type Answer = Confirmed;
}

/// [`Confirm`]'s answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    /// The answer.
    pub yes: bool,
}
