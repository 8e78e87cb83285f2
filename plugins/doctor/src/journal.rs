//! `journal`: TLS and gossip errors in service-discover's journal since Consul last started
//! (after its last "Consul agent running!"): what a node that cannot talk to the others logs
//! while every API answer still looks fine. Consul's texts (Go's crypto/tls and x509, memberlist):
//! "No installed keys could decrypt the message" (gossip from a node with a key this one lacks),
//! "x509: certificate signed by unknown authority" and "remote error: tls: bad certificate" (a
//! node on another CA). [`journal_check`] is pure; [`gather`] runs journalctl.

use carbonio_mesh_plugin_api::services::{Exec, ExecOutput};
use carbonio_mesh_plugin_api::untrusted::one_line;
use carbonio_mesh_plugin_api::{Host, ServiceError};

use crate::report::{Check, Status};

const NAME: &str = "journal";

/// What Consul logs when it is up (every version from 1.9 to 1.21).
const STARTED: &str = "Consul agent running!";

/// The errors looked for: the text, what it means, and what to do.
const ERRORS: [(&str, &str, &str); 3] = [
    (
        "No installed keys could decrypt the message",
        "gossip from a node whose key this one lacks",
        "doctor's keyring and gossip-keyring checks name the node on another key: carbonio-mesh secret rejoin there",
    ),
    (
        "x509: certificate signed by unknown authority",
        "a peer's certificate from another CA",
        "carbonio-mesh doctor --nodes all names the node on another CA (leader-ca): carbonio-mesh secret rejoin there",
    ),
    (
        "tls: bad certificate",
        "a peer refused this node's certificate",
        "carbonio-mesh doctor --nodes all names the node on another CA (leader-ca): carbonio-mesh secret rejoin there",
    ),
];

/// The check from what `journalctl --unit service-discover --output cat` printed.
pub fn journal_check(scope: &str, answer: Result<ExecOutput, ServiceError>) -> Check {
    let out = match answer {
        Ok(out) if out.success() => out,
        Ok(out) => {
            let said = one_line(out.stderr.trim()).into_owned();
            return Check::new(
                NAME,
                scope,
                Status::Unknown,
                format!("not checked: journalctl failed ({said})"),
            );
        }
        Err(e) => {
            return Check::new(
                NAME,
                scope,
                Status::Unknown,
                format!("not checked: cannot run journalctl: {}", e.message),
            )
        }
    };
    let lines: Vec<&str> = out.stdout.lines().collect();
    let since = lines
        .iter()
        .rposition(|l| l.contains(STARTED))
        .map_or(0, |at| at + 1);
    let recent = &lines[since..];
    let mut found = Vec::new();
    let mut fixes: Vec<&str> = Vec::new();
    for (text, meaning, fix) in ERRORS {
        let count = recent.iter().filter(|l| l.contains(text)).count();
        if count > 0 {
            found.push(format!("{count} x \"{text}\" ({meaning})"));
            if !fixes.contains(&fix) {
                fixes.push(fix);
            }
        }
    }
    let when = if since > 0 {
        "since Consul last started"
    } else {
        "in this boot's journal"
    };
    if found.is_empty() {
        return Check::new(
            NAME,
            scope,
            Status::Ok,
            format!("no TLS or gossip error in service-discover's journal {when}"),
        );
    }
    Check::new(
        NAME,
        scope,
        Status::Warn,
        format!("service-discover's journal {when}: {}", found.join("; ")),
    )
    .fix(fixes.join("; "))
}

/// Reads service-discover's journal of this boot (its last 20,000 lines).
pub fn gather(host: &Host<'_>, scope: &str) -> Check {
    let answer = host.exec(
        &Exec::new([
            "journalctl",
            "--unit",
            "service-discover",
            "--boot",
            "--output",
            "cat",
            "--no-pager",
            "--lines",
            "20000",
        ])
        .timeout_ms(20_000),
    );
    journal_check(scope, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(stdout: &str) -> Result<ExecOutput, ServiceError> {
        Ok(ExecOutput {
            status: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
            dry_run: false,
        })
    }

    #[test]
    fn errors_since_the_last_start_are_counted_and_older_ones_are_not() {
        let journal = "\
[ERROR] agent.client.memberlist.lan: memberlist: failed to receive: No installed keys could decrypt the message from=10.0.0.9:8301
==> Consul agent running!
[WARN]  agent: grpc: addrConn.createTransport failed: x509: certificate signed by unknown authority
[ERROR] agent.client.memberlist.lan: memberlist: failed to receive: No installed keys could decrypt the message from=10.0.0.9:8301
[ERROR] agent.client.memberlist.lan: memberlist: failed to receive: No installed keys could decrypt the message from=10.0.0.9:8301
";
        let check = journal_check("n", said(journal));
        assert_eq!(check.status, Status::Warn);
        assert_eq!(
            check.detail,
            "service-discover's journal since Consul last started: 2 x \"No installed keys could decrypt the message\" (gossip from a node whose key this one lacks); 1 x \"x509: certificate signed by unknown authority\" (a peer's certificate from another CA)"
        );
        let quiet = journal_check(
            "n",
            said("==> Consul agent running!\n[INFO] agent: Synced node info\n"),
        );
        assert_eq!(quiet.status, Status::Ok);
        assert_eq!(journal_check("n", said("")).status, Status::Ok);
        let refused = journal_check(
            "n",
            Ok(ExecOutput {
                status: Some(1),
                stdout: String::new(),
                stderr: "No journal files were found.\n".into(),
                dry_run: false,
            }),
        );
        assert_eq!(refused.status, Status::Unknown);
    }
}
