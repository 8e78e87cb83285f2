//! Fixture plugin `aborting`: loads and describes itself like any plugin, then aborts the process
//! (SIGABRT, which no `catch_unwind` can stop) when its command runs. See ../README.md.

use carbonio_mesh_plugin_api::{
    export_plugin, CommandSpec, Host, Manifest, Plugin, PluginError, Request, Response,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new("aborting", "0.1.0", "Fixture plugin that aborts when run")
            .command(CommandSpec::new("aborting", "Aborts"))
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        std::process::abort()
    }
}

export_plugin!(Fixture);
