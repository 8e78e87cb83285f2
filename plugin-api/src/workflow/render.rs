//! What a run prints: the step table (or one JSON document), each step's nodes below it, the
//! run's name, and on a failure how to go on or back; a generated password once, at the end
//! (inside the document with `--format json`).

use serde::Serialize;

use crate::step::NodeLine;
use crate::{Check, CheckStatus, OutputFormat, PluginError, Response, SecretText, Table};

/// One step's line in the run's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub step: String,
    /// `ok`, `done` (by an earlier attempt) or `FAIL`.
    pub status: &'static str,
    pub detail: String,
    pub nodes: Vec<NodeLine>,
    /// Free text a step of another plugin printed below the table.
    pub report: String,
}

/// A step in the JSON document: the one shape of every list of checks (`name`, `status`,
/// `detail`, `fix`: the failed step's fix), whether an earlier attempt of the run did it, and
/// the nodes it drove.
#[derive(Serialize)]
struct StepView<'a> {
    #[serde(flatten)]
    check: Check,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    done_earlier: bool,
    #[serde(skip_serializing_if = "<[NodeLine]>::is_empty")]
    nodes: &'a [NodeLine],
    #[serde(skip_serializing_if = "str::is_empty")]
    report: &'a str,
}

impl Line {
    /// The line as a check: a failed step takes the failure's hint as its fix.
    fn view<'a>(&'a self, failure: Option<&PluginError>) -> StepView<'a> {
        let status = match self.status {
            "FAIL" => CheckStatus::Fail,
            _ => CheckStatus::Ok,
        };
        let fix = failure
            .and_then(|e| e.hint.clone())
            .filter(|_| status == CheckStatus::Fail);
        StepView {
            check: Check::new(&self.step, status, self.detail.clone()).fix(fix.unwrap_or_default()),
            done_earlier: self.status == "done",
            nodes: &self.nodes,
            report: &self.report,
        }
    }
}

/// How a run ended, for [`render`].
pub(super) struct Ended<'a> {
    pub format: OutputFormat,
    pub dry_run: bool,
    /// `secret regenerate`: named in the way to go on.
    pub command: &'a str,
    /// `secret restore`: named in the way back, when there is one.
    pub restore: Option<&'a str>,
    pub run: &'a str,
    /// The run's journal is kept (false: it failed before anything changed, and was removed).
    pub kept: bool,
    pub lines: Vec<Line>,
    pub failure: Option<PluginError>,
    /// A generated password the run gave to its steps, and where it is kept.
    pub generated: Option<(SecretText, Option<&'a str>)>,
}

#[derive(Serialize)]
struct Document<'a> {
    /// None when nothing was changed and the run was not kept.
    run: Option<&'a str>,
    dry_run: bool,
    finished: bool,
    steps: Vec<StepView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_password: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
}

pub(super) fn render(ended: Ended<'_>) -> Response {
    let mut stdout = match ended.format {
        OutputFormat::Json => document(&ended),
        OutputFormat::Human => human(&ended),
    };
    let mut response = match &ended.failure {
        Some(error) => Response::text(String::new())
            .with_stderr(failure_text(&ended, error))
            .with_exit_code(error.exit_code.unwrap_or(5)),
        None => Response::text(String::new()),
    };
    if let Some((password, kept)) = &ended.generated {
        if ended.format == OutputFormat::Human {
            let kept = kept
                .map(|path| format!("; also kept in {path}"))
                .unwrap_or_default();
            stdout.push_str(&format!(
                "New password (shown once{kept}): {}\n",
                password.expose()
            ));
        }
        response = response.revealing(password);
    }
    response.stdout = stdout;
    response
}

fn document(ended: &Ended<'_>) -> String {
    let document = Document {
        run: ended.kept.then_some(ended.run),
        dry_run: ended.dry_run,
        finished: ended.failure.is_none(),
        steps: ended
            .lines
            .iter()
            .map(|line| line.view(ended.failure.as_ref()))
            .collect(),
        error: ended.failure.as_ref().map(|e| ErrorDoc {
            message: &e.message,
            hint: e.hint.as_deref(),
        }),
        new_password: ended.generated.as_ref().map(|(p, _)| p.expose()),
    };
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

fn human(ended: &Ended<'_>) -> String {
    let mut table = Table::new(["Status", "Step", "Detail"]);
    for line in &ended.lines {
        table.push([line.status, line.step.as_str(), line.detail.as_str()]);
    }
    let mut out = table.render();
    for line in &ended.lines {
        if !line.nodes.is_empty() {
            out.push_str(&node_table(&line.nodes));
        }
        out.push_str(&line.report);
        if !line.report.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    if ended.dry_run {
        out.push_str("Run: none (dry run: nothing recorded)\n");
    } else if !ended.kept {
        out.push_str("Run: none (nothing was changed: not kept)\n");
    } else {
        out.push_str(&format!("Run: {}\n", ended.run));
    }
    out
}

/// The per-node table of a step that drove other nodes.
pub fn node_table(nodes: &[NodeLine]) -> String {
    let mut table = Table::new(["Node", "Host", "Address", "Result", "Detail"]);
    for line in nodes {
        table.push([
            line.target.node.as_str(),
            line.target.host.as_deref().unwrap_or("-"),
            line.target.address.as_str(),
            line.status.word(),
            line.detail.as_str(),
        ]);
    }
    table.render()
}

/// A failed step, its fix, and (a real run) how to go on or back.
fn failure_text(ended: &Ended<'_>, error: &PluginError) -> String {
    let fix = error
        .hint
        .as_ref()
        .map(|h| format!("  fix: {h}\n"))
        .unwrap_or_default();
    if ended.dry_run {
        return format!(
            "{}: the dry run stops at a step that would fail: {}\n{fix}",
            ended.command, error.message
        );
    }
    if !ended.kept {
        return format!(
            "{}: step failed: {}\n{fix}  Nothing was changed and no run was kept: fix the cause and run the same command again.\n",
            ended.command, error.message
        );
    }
    let mut text = format!(
        "{}: step failed: {}\n{fix}  Continue with: carbonio-mesh {} --resume --run {}\n",
        ended.command, error.message, ended.command, ended.run
    );
    if let Some(restore) = ended.restore {
        text.push_str(&format!(
            "  Or go back:    carbonio-mesh {restore} {}\n",
            ended.run
        ));
    }
    text
}
