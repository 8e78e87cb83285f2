//! Fixture plugin `marker`: see ../README.md.

use carbonio_mesh_plugin_api::{
    export_plugin, Host, Manifest, Plugin, PluginError, Request, Response, API_VERSION,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new("marker", "0.1.0", "Fixture plugin marker")
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        Ok(Response::text(format!(
            "marker built against plugin-api {API_VERSION}\n"
        )))
    }
}

export_plugin!(Fixture);

/// Runs when the dynamic loader maps the file, before any plugin function is called.
extern "C" fn write_marker() {
    if let Some(path) = std::env::var_os("CARBONIO_MESH_TEST_MARKER") {
        let _ = std::fs::write(path, b"loaded\n");
    }
}

#[used]
#[link_section = ".init_array"]
static WRITE_MARKER_ON_LOAD: extern "C" fn() = write_marker;
