//! Fixture plugin `panicking`: its command panics. See ../README.md.

use carbonio_mesh_plugin_api::{
    export_plugin, CommandSpec, Host, Manifest, Plugin, PluginError, Request, Response,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new("panicking", "0.1.0", "Fixture plugin that panics")
            .command(CommandSpec::new("panicking", "Panics"))
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        let members: Vec<&str> = Vec::new();
        panic!(
            "index out of range: the cluster has {} members",
            members.len()
        );
    }
}

export_plugin!(Fixture);
