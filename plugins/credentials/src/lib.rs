//! Plugin `credentials`: the Mesh credentials archive without `gpg | tar | jq`.
//!
//! - `token`: prints the bootstrap token's SecretID and nothing else (for
//!   `export CONSUL_HTTP_TOKEN=$(carbonio-mesh credentials token)`).
//! - `show`: members, sizes, the token's public fields, the CA's subject and expiry, the gossip
//!   key's length; secrets only with `--reveal`.
//! - `verify`: the archive opens, all four members are there, the CA key belongs to the CA, the
//!   gossip key has the right shape, and Consul accepts the token (`/v1/acl/token/self`).
//! - `rekey`: the same content under a new password, the old file backed up.
//!
//! The host opens and writes the archive (`credentials.open`, `credentials.write`) and finds the
//! password; this plugin never sees a password.
//!
//! Each command is its own module, parse → act → render: `show` (token, show), `verify`,
//! `rekey`; `inspect` reads what the members say.

mod archive;
mod inspect;
mod rekey;
mod show;
mod verify;

use carbonio_mesh_plugin_api::{
    export_plugin, ArgSpec, CommandSpec, Host, Manifest, Plugin, PluginError, Request, Response,
};

fn common(command: CommandSpec) -> CommandSpec {
    command
        .arg(
            ArgSpec::option(
                "archive",
                "The credentials archive [default: /etc/zextras/service-discover/cluster-credentials.tar.gpg]",
            )
            .value_name("FILE"),
        )
        .arg(
            ArgSpec::option(
                "password-file",
                "Read the archive's password from the first line of FILE",
            )
            .value_name("FILE"),
        )
        .arg(ArgSpec::flag(
            "password-stdin",
            "Read the archive's password from the first line of standard input",
        ))
}

pub struct CredentialsPlugin;

impl Plugin for CredentialsPlugin {
    fn manifest() -> Manifest {
        let about = "Read, check and re-encrypt the Mesh credentials archive";
        Manifest::new("credentials", env!("CARGO_PKG_VERSION"), about).command(
            CommandSpec::new("credentials", about)
                .long_about(
                    "The credentials archive holds the Consul bootstrap token, the gossip key and the \
cluster CA, encrypted with a password. Without --password-file or --password-stdin, the password \
comes from /var/lib/service-discover/password when readable (root on a Mesh server), else a prompt.",
                )
                .subcommand(
                    common(CommandSpec::new(
                        "token",
                        "Print the bootstrap token (SecretID) and nothing else",
                    ))
                    .example(
                        "export CONSUL_HTTP_TOKEN=$(sudo carbonio-mesh credentials token)",
                        "The token for the consul CLI, instead of gpg | tar | jq",
                    )
                    .read_only(),
                )
                .subcommand(
                    common(CommandSpec::new(
                        "show",
                        "Describe the archive: members, token, CA expiry (no secrets unless --reveal)",
                    ))
                    .arg(ArgSpec::flag("reveal", "Also print the SecretID and the gossip key"))
                    .example("sudo carbonio-mesh credentials show", "What the archive holds, secrets hidden")
                    .example(
                        "carbonio-mesh credentials show --archive copy.tar.gpg --password-file pw",
                        "A copy elsewhere, its password from a file",
                    )
                    .read_only(),
                )
                .subcommand(
                    common(CommandSpec::new(
                        "verify",
                        "Check the archive: members, CA key, gossip key, and that Consul accepts the token",
                    ))
                    .example(
                        "sudo carbonio-mesh credentials verify",
                        "Every check, with the fix for a failed one",
                    )
                    .example(
                        "carbonio-mesh credentials verify --format json",
                        "The same for monitoring",
                    )
                    .read_only(),
                )
                .subcommand(
                    common(
                        CommandSpec::new("rekey", "Re-encrypt the archive with a new password")
                            .long_about(rekey::REKEY_ABOUT)
                            .example(
                                "sudo carbonio-mesh credentials rekey",
                                "Asks the new password twice, backs up the old archive",
                            )
                            .example(
                                "sudo carbonio-mesh credentials rekey --new-password-file /root/pw",
                                "The new password from a file",
                            ),
                    )
                    .arg(
                        ArgSpec::option(
                            "new-password-file",
                            "Read the new password from the first line of FILE (default: ask twice)",
                        )
                        .value_name("FILE"),
                    ),
                ),
        )
    }

    fn run(host: &Host<'_>, request: &Request) -> Result<Response, PluginError> {
        match request.command_path().as_str() {
            "token" => show::token(host, request),
            "show" => show::show(host, request),
            "verify" => verify::verify(host, request),
            "rekey" => rekey::rekey(host, request),
            "" => Err(PluginError::usage("credentials needs a subcommand")
                .hint("carbonio-mesh credentials --help lists them: token, show, verify, rekey")),
            other => Err(PluginError::usage(format!(
                "unknown credentials command '{other}'"
            ))),
        }
    }
}

export_plugin!(CredentialsPlugin);
