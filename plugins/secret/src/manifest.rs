//! The command line of `secret`: its subcommands, flags, help and examples, and the workflows
//! and steps it declares.

use carbonio_mesh_plugin_api::{ArgSpec, CommandSpec, Manifest, Suggest};

use crate::runs;
use crate::steps::{builtins, RECOVER, REGENERATE, REJOIN};

fn password_args(command: CommandSpec) -> CommandSpec {
    command
        .arg(
            ArgSpec::option(
                "password-file",
                "Read the new password from the first line of FILE",
            )
            .value_name("FILE"),
        )
        .arg(ArgSpec::flag(
            "password-stdin",
            "Read the new password from the first line of standard input",
        ))
        .arg(ArgSpec::flag(
            "generate",
            "Generate a strong password and print it once at the end",
        ))
}

/// The plugin's manifest.
pub fn manifest() -> Manifest {
    let about =
        "Regenerate the Mesh secrets as a resumable workflow (bootstrap token, CA, gossip key, archive); list, show and prune the runs";
    let mut manifest = Manifest::new("secret", env!("CARGO_PKG_VERSION"), about).command(
        CommandSpec::new("secret", about)
            .subcommand(regenerate())
            .subcommand(rejoin())
            .subcommand(recover_quorum())
            .subcommand(plan())
            .subcommand(restore())
            .subcommand(runs())
            .subcommand(show())
            .subcommand(prune()),
    );
    manifest = manifest
        .workflow(
            REGENERATE,
            "regenerate the Mesh secrets on the leader (secret regenerate)",
        )
        .workflow(
            REJOIN,
            "set a node up again with the leader's new secrets (secret rejoin)",
        )
        .workflow(
            RECOVER,
            "make the Mesh server to keep lead alone when the quorum is lost (secret recover-quorum)",
        )
        .plan(REGENERATE, "carbonio-mesh secret plan")
        .plan(REJOIN, "carbonio-mesh secret plan --rejoin")
        .plan(RECOVER, "carbonio-mesh secret plan --recover-quorum");
    for builtin in builtins() {
        manifest = manifest.with_step(builtin.spec);
    }
    manifest
}

/// `secret regenerate`: the leader's workflow.
fn regenerate() -> CommandSpec {
    password_args(CommandSpec::new("regenerate", "Run the secret-regeneration workflow on the Mesh leader").long_about(
        "Runs the configured steps of the secret-regenerate workflow (see `secret plan`): \
preflight, find-leader, check-on-leader, check-setup, save-snapshot, shrink-raft, read-reset-index, write-reset-file, \
stop-service, backup-and-remove, run-setup, verify, check-ldap-copy, rotate-gossip-key, rejoin-nodes, revoke-old-token. \
The procedure follows the Mesh: with one Mesh server it is reset and the gossip key rotated; with several, a snapshot is \
saved, the other servers leave raft one at a time, this one is reset, and --nodes must name every other server, set up \
again one at a time before any agent; with the quorum lost it refuses (see `secret recover-quorum`). `secret plan` and a \
dry run say which applies and every action per node. Each step's start and result go to the run's journal under \
/var/lib/carbonio-mesh/runs; a run that stopped (killed, failed step) continues with --resume. Every file \
removed is backed up first; `secret restore RUN` puts them back. The new password comes from \
--password-file, --password-stdin, --generate, or is asked twice; it is never written to the journal.",
    ))
    .arg(ArgSpec::flag("resume", "Continue the newest run (or --run RUN) at its first unfinished step"))
    .arg(ArgSpec::option("run", "The run to resume").value_name("RUN").suggest(Suggest::Runs))
                        .arg(ArgSpec::flag("revoke-old-token", "Delete the previous bootstrap token at the end"))
    .arg(
        ArgSpec::option("nodes", "Then set up the other nodes again through the transport step: `all` alive members but this host, or a list of node names, hostnames or addresses")
            .value_name("all|LIST")
            .suggest(Suggest::Nodes { extra: vec!["all".into()], list: true }),
    )
    .arg(ArgSpec::flag("include-failed", "With --nodes all, also try the members Consul lists as failed"))
    .arg(
        ArgSpec::option("parallel", "How many nodes at a time")
            .value_name("N")
            .default_value("32")
            .unsigned(1, 64),
    )
    .example("sudo carbonio-mesh --dry-run secret regenerate --nodes all --generate", "What regenerating the whole cluster's secrets would do")
    .example("sudo carbonio-mesh secret regenerate --nodes all --password-file /root/pw", "Regenerate on the leader, then set up every alive node again over ssh")
    .example("sudo carbonio-mesh secret regenerate --resume", "Continue the newest run where it stopped")
}

/// `secret rejoin`: another node's workflow.
fn rejoin() -> CommandSpec {
    CommandSpec::new("rejoin", "On another node: set it up again with the leader's new secrets")
        .long_about(
            "Runs the secret-rejoin workflow (see `secret plan --rejoin`): node-preflight, \
check-setup, stop-service, backup-and-remove, install-archive, node-setup, node-verify. Journaled and resumable like \
regenerate. Besides main.json, config.json and the certificates it removes (backed up) data/serf, whose keyring would keep \
the old gossip key, and on a Mesh server data/raft, whose configuration names the old voters; data/node-id stays.\n\n\
The new archive comes one of two ways. By hand, as Carbonio's documented procedure does it: copy the leader's \
/etc/zextras/service-discover/cluster-credentials.tar.gpg to the node (scp), then run \
`secret rejoin --archive FILE` with the new password from --password-file, --password-stdin, or asked twice \
without echo on the terminal. Before anything changes, node-preflight checks that FILE is a regular file of at \
most 8 MiB, an armored OpenPGP message, and that it opens with the password: a wrong password stops with exit 7, \
a damaged file with exit 8, and nothing is touched. The archive never goes into the journal: a resumed run \
(--resume) reads FILE again, from the path the journal names or from --archive, so keep the file until the run \
has finished. Or on standard input (--input-stdin): the new password on the first line, the archive after it, \
which is how the leader's `secret regenerate --nodes` calls it through its transport (ssh by default).\n\n\
The node is set up on the bind_addr of /etc/zextras/service-discover/config.json when that is an address of \
this host; else on the local address the routing table uses to reach the Mesh leader (from the local agent's \
/v1/status/leader); if the agent cannot tell, on the host's only non-loopback IPv4 address. With several and \
no answer it stops: write the right address into config.json's bind_addr.",
        )
        .arg(
            ArgSpec::option("archive", "The new archive, copied from the leader (read again by --resume)")
                .value_name("FILE"),
        )
        .arg(
            ArgSpec::option("password-file", "With --archive: read the new password from the first line of FILE")
                .value_name("FILE"),
        )
        .arg(ArgSpec::flag("password-stdin", "With --archive: read the new password from the first line of standard input"))
        .arg(ArgSpec::flag("input-stdin", "Read the new password (first line) and the new archive (the rest) from standard input"))
        .arg(ArgSpec::flag("resume", "Continue the newest run (or --run RUN) at its first unfinished step"))
        .arg(ArgSpec::option("run", "The run to resume").value_name("RUN").suggest(Suggest::Runs))
        .example("sudo carbonio-mesh secret rejoin --archive /root/cluster-credentials.tar.gpg --password-file /root/pw", "On a node, with the archive copied by hand from the leader")
        .example("sudo carbonio-mesh secret rejoin --resume", "Continue after fixing what stopped it")
}

/// `secret recover-quorum`: the explicit recovery of a lost quorum.
fn recover_quorum() -> CommandSpec {
    CommandSpec::new("recover-quorum", "On the one Mesh server to keep, when the quorum is lost: it leads alone (peers.json)")
        .long_about(
            "Runs the secret-recover-quorum workflow (see `secret plan --recover-quorum`): quorum-preflight, \
stop-service, write-peers-json, start-service, wait-leader. For a Mesh whose servers lost their quorum (raft peers, no \
leader), which no regeneration can run on: never done by `secret regenerate` on its own. Stop service-discover on every \
other Mesh server first; run it on the one whose raft data is to be kept (the last leader). It refuses while the agent \
sees a leader or another server alive (a server cut off by a new CA sees no leader while the others have one), and when \
data/raft/peers.info is missing (Consul would delete peers.json unread). It writes data/raft/peers.json as a JSON array \
naming this server alone, [{\"id\": NODE-ID, \"address\": \"IP:8300\", \"non_voter\": false}] (an object, as some \
documentation shows, is refused by raft), as the service user; Consul reads it at start, replaces the raft configuration \
and deletes it. Then `secret regenerate --nodes all --include-failed` sets the other servers up again from empty raft \
data. The raft configuration it replaces cannot be put back: there is no restore (take `consul snapshot save` first when \
the agent still answers).",
        )
        .arg(ArgSpec::flag("resume", "Continue the newest run (or --run RUN) at its first unfinished step"))
        .arg(ArgSpec::option("run", "The run to resume").value_name("RUN").suggest(Suggest::Runs))
        .example("sudo carbonio-mesh --dry-run secret recover-quorum", "What it would write and do, nothing changed")
        .example("sudo carbonio-mesh secret recover-quorum", "On the server to keep, every other server stopped")
}

/// `secret plan`: a workflow as the configuration resolves it.
fn plan() -> CommandSpec {
    CommandSpec::new("plan", "Print the workflow's steps, the plugin or command providing each, and where that is configured")
        .arg(ArgSpec::flag("rejoin", "The nodes' workflow (secret rejoin) instead of the leader's"))
        .arg(ArgSpec::flag("recover-quorum", "The quorum recovery's workflow (secret recover-quorum)"))
        .example("carbonio-mesh secret plan", "The leader's steps and who provides each")
        .example("carbonio-mesh secret plan --rejoin", "The steps each other node runs")
        .read_only()
}

/// `secret restore RUN`.
fn restore() -> CommandSpec {
    CommandSpec::new(
        "restore",
        "Put back the files a run backed up, and restart service-discover",
    )
    .arg(
        ArgSpec::positional("run", "The run, as `secret regenerate` printed it")
            .value_name("RUN")
            .required()
            .suggest(Suggest::Runs),
    )
    .example(
        "sudo carbonio-mesh secret restore 2026-12-01T10-15-02Z-3f2a",
        "Put back what that run removed or replaced, and restart service-discover",
    )
}

/// `secret runs`.
fn runs() -> CommandSpec {
    CommandSpec::new("runs", "List the runs, oldest first, with their state (finished, failed at STEP, in progress or interrupted, resumed, restored)")
        .long_about(
            "Lists every run journaled under /var/lib/carbonio-mesh/runs, oldest first by its start: its name (UTC start time, then four random hex digits, as in 2026-12-01T10-15-02Z-3f2a; runs of earlier versions are named UNIX-SECONDS-PID), the workflow, the start, and the state: finished, failed at STEP, in progress or interrupted at STEP (the journal cannot tell a running run from a killed one), how often it was resumed, and whether `secret restore` put its files back.",
        )
        .example("sudo carbonio-mesh secret runs", "Every run and its state")
        .example("sudo carbonio-mesh secret runs --format json", "The same for scripts")
        .read_only()
}

/// `secret show RUN`.
fn show() -> CommandSpec {
    CommandSpec::new("show", "Show one run: its steps with status and detail, the files it removed and where their backups are")
        .arg(ArgSpec::positional("run", "The run, as `secret regenerate` or `secret runs` printed it").value_name("RUN").required().suggest(Suggest::Runs))
        .example("sudo carbonio-mesh secret show 2026-12-01T10-15-02Z-3f2a", "Its steps, and where the backups of what it removed are")
        .read_only()
}

/// `secret prune`.
fn prune() -> CommandSpec {
    CommandSpec::new("prune", "Delete old runs for good: their journals and backups (which hold the old secrets)")
        .long_about(
            "Keeps the newest N runs (--keep, default 10) and every run that is neither finished nor restored (it may still be resumed or restored; --include-unfinished removes those too), and deletes the others: each run's journal directory under /var/lib/carbonio-mesh/runs and the backup directories under /var/backups/carbonio-mesh ([backup] dir) its journal names. The backups hold the previous secrets (the old archive, certificates and password file), so nothing is backed up first: the removal is final and audited. Asks for confirmation on a terminal; --yes confirms, --dry-run shows what would go.",
        )
        .arg(
            ArgSpec::option("keep", "How many of the newest runs to keep")
                .value_name("N")
                .default_value(runs::DEFAULT_KEEP)
                .unsigned(0, 1_000_000),
        )
        .arg(ArgSpec::flag("include-unfinished", "Also delete old runs that are neither finished nor restored"))
        .example("sudo carbonio-mesh --dry-run secret prune", "Which runs (and old secrets) would be deleted")
        .example("sudo carbonio-mesh secret prune --keep 3 --yes", "Keep the newest three, without asking")
}
