//! Fixture plugin `next-minor`: see ../README.md.

use carbonio_mesh_plugin_api::{
    export_plugin, Host, Manifest, Plugin, PluginError, Request, Response, API_VERSION,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new("next-minor", "0.1.0", "Fixture plugin next-minor")
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        Ok(Response::text(format!(
            "next-minor built against plugin-api {API_VERSION}\n"
        )))
    }
}

export_plugin!(Fixture);
