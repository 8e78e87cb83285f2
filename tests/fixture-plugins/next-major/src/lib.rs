//! Fixture plugin `next-major`: see ../README.md.

use carbonio_mesh_plugin_api::{
    export_plugin, Host, Manifest, Plugin, PluginError, Request, Response, API_VERSION,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new("next-major", "0.1.0", "Fixture plugin next-major")
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        Ok(Response::text(format!(
            "next-major built against plugin-api {API_VERSION}\n"
        )))
    }
}

export_plugin!(Fixture);
