//! `secret runs`, `secret show` and `secret prune` end to end, over real runs of `secret
//! regenerate` on a simulated Mesh leader (finished, failed, resumed, restored) and a run named
//! the way earlier versions named them.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use carbonio_mesh_tests::{run, MeshLeader};

const OLD_PASSWORD: &str = "old-Mesh-password-1";
const NEW_PASSWORD: &str = "new-Mesh-password-2";
/// A run of an earlier version: named `UNIX-SECONDS-PID`, started before every other run here.
const OLD_RUN: &str = "1796135620-5193";

struct Runs {
    leader: MeshLeader,
    password: PathBuf,
}

impl Runs {
    fn new() -> Self {
        let leader = MeshLeader::new(OLD_PASSWORD);
        let password = leader
            .sandbox
            .file_beside_root("new-password", &format!("{NEW_PASSWORD}\n"));
        Runs { leader, password }
    }

    /// `secret regenerate` with `extra`; its exit code and the run's name.
    fn regenerate(&self, extra: &[&str]) -> (i32, String) {
        // Names and starts are to the second: one second apart, runs have distinct starts.
        std::thread::sleep(Duration::from_millis(1100));
        let (code, out, err) = run(self
            .leader
            .cmd()
            .args(["--yes", "secret", "regenerate", "--password-file"])
            .arg(&self.password)
            .args(extra));
        let name = out
            .lines()
            .find_map(|l| l.strip_prefix("Run: "))
            .unwrap_or_else(|| panic!("no run name in {out}{err}"))
            .to_owned();
        (code, name)
    }

    /// A run whose run-setup fails (a site command in its place, as an admin's would).
    fn failed(&self) -> String {
        let fail = self.leader.config(
            "30-fail.toml",
            "[steps.run-setup]\nexec = [\"sh\", \"-c\", \"echo 'No space left on device' >&2; exit 1\"]\n",
        );
        let (code, name) = self.regenerate(&[]);
        assert_eq!(code, 5);
        fs::remove_file(fail).unwrap();
        name
    }

    fn secret(&self, args: &[&str]) -> (i32, String, String) {
        run(self.leader.cmd().arg("secret").args(args))
    }

    fn journal_dir(&self, run: &str) -> PathBuf {
        self.leader
            .sandbox
            .path(&format!("/var/lib/carbonio-mesh/runs/{run}"))
    }

    /// The backup directories (real paths) the run's `removed` records name.
    fn backup_dirs(&self, run: &str) -> Vec<PathBuf> {
        let journal = fs::read_to_string(self.journal_dir(run).join("journal.jsonl")).unwrap();
        let mut dirs: Vec<PathBuf> = journal
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter_map(|r| r["backup"].as_str().map(str::to_owned))
            .map(|b| {
                let top: Vec<&str> = b.split('/').take(5).collect();
                assert_eq!(top[..4], ["", "var", "backups", "carbonio-mesh"], "{b}");
                self.leader.sandbox.path(&top.join("/"))
            })
            .collect();
        dirs.dedup();
        dirs
    }

    /// The run an earlier version left: its journal (finished) and a backup it names.
    fn old_run(&self) {
        let backup =
            "/var/backups/carbonio-mesh/1796135620-5193/etc/zextras/service-discover/main.json";
        let file = self.leader.sandbox.path(backup);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "{\"old\": \"secret\"}").unwrap();
        let dir = self.journal_dir(OLD_RUN);
        fs::create_dir_all(&dir).unwrap();
        let records = [
            r#"{"event":"run","workflow":"secret-regenerate","at":1796135620}"#.to_owned(),
            r#"{"step":"backup-and-remove","event":"start","at":1796135621}"#.to_owned(),
            format!(
                r#"{{"step":"backup-and-remove","event":"removed","path":"/etc/zextras/service-discover/main.json","backup":"{backup}"}}"#
            ),
            r#"{"step":"backup-and-remove","event":"done","at":1796135622,"facts":{}}"#.to_owned(),
            r#"{"event":"finished","at":1796135623}"#.to_owned(),
        ];
        fs::write(dir.join("journal.jsonl"), records.join("\n") + "\n").unwrap();
    }
}

/// Every kind of run, oldest first: an earlier version's, finished, failed and restored,
/// failed, failed and resumed to the end.
fn five_runs(runs: &Runs) -> [String; 5] {
    runs.old_run();
    let (code, finished) = runs.regenerate(&[]);
    assert_eq!(code, 0);
    let restored = runs.failed();
    let (code, out, err) = run(runs
        .leader
        .cmd()
        .args(["--yes", "secret", "restore", &restored]));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Restored "), "{out}{err}");
    // This one leaves the node without its files: the next run has nothing to back up.
    let failed = runs.failed();
    let resumed = runs.failed();
    let (code, again) = runs.regenerate(&["--resume", "--run", &resumed]);
    assert_eq!((code, again.as_str()), (0, resumed.as_str()));
    [OLD_RUN.to_owned(), finished, restored, failed, resumed]
}

/// `2026-12-01T10-15-02Z-3f2a`.
fn assert_run_id(id: &str) {
    let b = id.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    assert!(
        b.len() == 25
            && digits(0..4)
            && digits(5..7)
            && digits(8..10)
            && digits(11..13)
            && digits(14..16)
            && digits(17..19)
            && [b[4], b[7], b[13], b[16], b[20]] == [b'-', b'-', b'-', b'-', b'-']
            && b[10] == b'T'
            && b[19] == b'Z'
            && b[21..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)),
        "{id} is not like 2026-12-01T10-15-02Z-3f2a"
    );
}

#[test]
fn runs_list_show_and_prune_every_kind_of_run() {
    let runs = Runs::new();
    let [old, finished, restored, failed, resumed] = five_runs(&runs);
    let new_names = [&finished, &restored, &failed, &resumed];
    for id in new_names {
        assert_run_id(id);
    }
    let mut sorted = new_names.to_vec();
    sorted.sort();
    assert_eq!(sorted, new_names, "names sort by time");
    // The UTC time in the name is when the run started: its first record's `at`, as date(1)
    // writes it.
    let journal = fs::read_to_string(runs.journal_dir(&resumed).join("journal.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    let at = format!("@{}", first["at"].as_u64().unwrap());
    let date = std::process::Command::new("date")
        .args(["-u", "-d", &at, "+%Y-%m-%dT%H-%M-%SZ-"])
        .output()
        .unwrap();
    let stamp = String::from_utf8_lossy(&date.stdout).trim().to_owned();
    assert!(resumed.starts_with(&stamp), "{resumed} vs {stamp}");

    // The table, oldest first, each run with its state.
    let (code, out, err) = runs.secret(&["runs"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(
        out.starts_with("Run") && out.lines().next().unwrap().contains("State"),
        "{out}"
    );
    let expected = [
        (&old, "finished"),
        (&finished, "finished"),
        (&restored, "failed at run-setup, restored"),
        (&failed, "failed at run-setup"),
        (&resumed, "finished, resumed 1 time"),
    ];
    assert_eq!(rows.len(), expected.len(), "{out}");
    for (row, (run, state)) in rows.iter().zip(expected) {
        assert!(
            row.starts_with(run.as_str())
                && row.contains("secret-regenerate")
                && row.trim_end().ends_with(state),
            "{run}: {state} in\n{out}"
        );
    }
    assert!(rows[0].contains("2026-12-01T14:33:40Z"), "{out}");
    let (code, out, _) = runs.secret(&["runs", "--format", "json"]);
    assert_eq!(code, 0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list[2]["restored"], true);
    assert_eq!(list[3]["run"], failed.as_str());
    assert_eq!(list[3]["state"], "failed");
    assert_eq!(list[3]["step"], "run-setup");
    assert_eq!(list[3]["restored"], false);
    assert_eq!(list[4]["resumed"], 1);
    assert_eq!(list[4]["state"], "finished");

    // One run: the failed step with its error, the files removed and their backups.
    let (code, out, err) = runs.secret(&["show", &failed]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("State:    failed at run-setup"), "{out}");
    assert!(out.contains("Restored: no"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("FAIL")
            && l.contains("run-setup")
            && l.contains("No space left on device")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok") && l.contains("backup-and-remove")),
        "{out}"
    );
    let backups = runs.backup_dirs(&failed);
    assert_eq!(backups.len(), 1);
    let shown = backups[0]
        .strip_prefix(runs.leader.sandbox.root())
        .unwrap()
        .display()
        .to_string();
    assert!(
        out.lines()
            .any(|l| l.starts_with("/etc/zextras/service-discover/main.json")
                && l.contains(&format!("/{shown}/etc/zextras/service-discover/main.json"))),
        "{shown} in\n{out}"
    );
    // An earlier version's run is shown too.
    let (code, out, _) = runs.secret(&["show", &old]);
    assert_eq!(code, 0);
    assert!(out.contains("State:    finished"), "{out}");

    // Prune: without a terminal and without --yes it refuses, saying how to go on.
    let journals = |list: &[&String]| list.iter().map(|r| runs.journal_dir(r)).collect::<Vec<_>>();
    let pruned = [&old, &finished, &restored];
    let kept = [&failed, &resumed];
    let pruned_dirs: Vec<PathBuf> = journals(&pruned)
        .into_iter()
        .chain(pruned.iter().flat_map(|r| runs.backup_dirs(r)))
        .collect();
    let kept_dirs: Vec<PathBuf> = journals(&kept)
        .into_iter()
        .chain(kept.iter().flat_map(|r| runs.backup_dirs(r)))
        .collect();
    assert_eq!(pruned_dirs.len(), 3 + 3, "{pruned_dirs:?}");
    let all_there = || pruned_dirs.iter().chain(&kept_dirs).all(|d| d.is_dir());
    assert!(all_there());
    let (code, _, err) = runs.secret(&["prune", "--keep", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fix:") && err.contains("--yes"), "{err}");
    assert!(all_there());
    // --dry-run names what would go and removes nothing.
    let (code, out, err) =
        run(runs
            .leader
            .cmd()
            .args(["--dry-run", "secret", "prune", "--keep", "1"]));
    assert_eq!(code, 0, "{err}");
    for run in pruned {
        assert!(out.contains(&format!("Would remove run {run}")), "{out}");
    }
    assert!(
        !out.contains(failed.as_str()) && !out.contains(resumed.as_str()),
        "{out}"
    );
    assert!(err.contains("Dry run"), "{err}");
    assert!(all_there());

    // For real: the older settled runs' journals and backups go, audited; the newest run and
    // the unfinished one stay.
    let socket_path = runs
        .leader
        .sandbox
        .make_dir("/run/systemd/journal")
        .join("socket");
    let journald = UnixDatagram::bind(&socket_path).unwrap();
    journald
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (code, out, err) = run(runs
        .leader
        .cmd()
        .args(["--yes", "secret", "prune", "--keep", "1"]));
    assert_eq!(code, 0, "{out}{err}");
    for dir in &pruned_dirs {
        assert!(!dir.exists(), "{} was not removed", dir.display());
    }
    for dir in &kept_dirs {
        assert!(dir.is_dir(), "{} was removed", dir.display());
    }
    let mut audited = Vec::new();
    let mut buffer = [0u8; 4096];
    for _ in 0..pruned.len() {
        let n = journald.recv(&mut buffer).unwrap();
        audited.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    for run in pruned {
        assert!(
            audited
                .iter()
                .any(|e| e.contains("CARBONIO_MESH_ACTION=remove run\n")
                    && e.contains(&format!("CARBONIO_MESH_TARGET={run}\n"))
                    && e.contains("CARBONIO_MESH_RESULT=journal and 1 backup dir(s) removed\n")),
            "{run} in {audited:?}"
        );
    }
    let (_, out, _) = runs.secret(&["runs"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    // Now nothing is left to prune but the unfinished run, which only goes when asked to.
    let (code, _, err) = runs.secret(&["prune", "--keep", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Nothing to prune"), "{err}");
    let (code, _, err) = run(runs.leader.cmd().args([
        "--yes",
        "secret",
        "prune",
        "--keep",
        "1",
        "--include-unfinished",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(!runs.journal_dir(&failed).exists());
    assert!(runs.journal_dir(&resumed).is_dir());
}
