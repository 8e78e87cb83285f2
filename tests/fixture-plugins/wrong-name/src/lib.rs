//! Fixture plugin `wrong-name`: see ../README.md.

use carbonio_mesh_plugin_api::{
    export_plugin, Host, Manifest, Plugin, PluginError, Request, Response, API_VERSION,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new("not-wrong-name", "0.1.0", "Fixture plugin wrong-name")
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        Ok(Response::text(format!(
            "not-wrong-name built against plugin-api {API_VERSION}\n"
        )))
    }
}

export_plugin!(Fixture);
