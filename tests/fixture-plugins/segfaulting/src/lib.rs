//! Fixture plugin `segfaulting`: its ELF constructor writes to an unmapped address, so the
//! process that loads it dies with SIGSEGV before any plugin function is called. See ../README.md.

use carbonio_mesh_plugin_api::{
    export_plugin, CommandSpec, Host, Manifest, Plugin, PluginError, Request, Response,
};

pub struct Fixture;

impl Plugin for Fixture {
    fn manifest() -> Manifest {
        Manifest::new(
            "segfaulting",
            "0.1.0",
            "Fixture plugin that segfaults when loaded",
        )
        .command(CommandSpec::new("segfaulting", "Never reached"))
    }

    fn run(_host: &Host<'_>, _request: &Request) -> Result<Response, PluginError> {
        Ok(Response::text("unreachable: the constructor crashed\n"))
    }
}

export_plugin!(Fixture);

/// Runs when the dynamic loader maps the file. Address 16 is in the never-mapped first page, and
/// non-null and aligned, so the write is a real page fault rather than a failed debug assertion.
extern "C" fn crash_on_load() {
    // SAFETY: not safe at all, on purpose: this fixture exists to fault.
    unsafe { std::ptr::write_volatile(16 as *mut u64, 1) };
}

#[used]
#[link_section = ".init_array"]
static CRASH_ON_LOAD: extern "C" fn() = crash_on_load;
