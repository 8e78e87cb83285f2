//! The frozen binary boundary between the `carbonio-mesh` host and its plugins.
//!
//! Plugins never use this crate directly: `carbonio-mesh-plugin-api` re-exports it and wraps it in
//! a safe, typed SDK. It is a crate of its own for one reason: abi_stable records the *package
//! version* of every type in its layout and refuses a library whose types come from an older
//! minor version than the loader's. Keeping the ABI types in a crate whose version moves only with
//! the plugin-api major lets a plugin built against plugin-api 1.0 load in a host built with 1.9.
//!
//! The surface is deliberately tiny and must never change within a major version:
//! - [`PluginModule`]: the root module a plugin exports, with `manifest()` and `invoke()`;
//! - [`HostHandle`]: what the host hands to `invoke`, with a single `call(service, payload)`.
//!
//! Everything else (manifests, requests, answers, host calls) is JSON text defined in
//! plugin-api, which evolves by adding optional fields.

use std::ffi::c_void;

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString},
    StableAbi,
};

/// The answer of every function that crosses the boundary: `ROk(json)` or `RErr(json)`.
pub type AbiResult = RResult<RString, RString>;

/// The host's side of the boundary, valid only for the duration of one `invoke` call.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct HostHandle {
    /// Opaque pointer to the host's state; only `call` knows what it is.
    pub ctx: *const c_void,
    /// Performs one host service request: `(ctx, service, payload) -> answer`. Written out here
    /// rather than through an alias because the StableAbi derive only reads inline fn types.
    pub call: extern "C" fn(
        ctx: *const c_void,
        service: RStr<'_>,
        payload: RStr<'_>,
    ) -> RResult<RString, RString>,
}

impl HostHandle {
    /// Sends one request to a host service. Both the payload and the answer are JSON text.
    pub fn call(&self, service: &str, payload: &str) -> AbiResult {
        (self.call)(self.ctx, RStr::from_str(service), RStr::from_str(payload))
    }
}

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// Returns the plugin's manifest as JSON.
    pub manifest: extern "C" fn() -> RResult<RString, RString>,
    /// Runs one command. The request and the answer are JSON.
    #[sabi(last_prefix_field)]
    pub invoke: extern "C" fn(host: &HostHandle, request: RStr<'_>) -> RResult<RString, RString>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "carbonio_mesh_plugin";
    const NAME: &'static str = "carbonio_mesh_plugin";
    // This crate's version: it stays at `<major>.0.0` for a whole plugin-api major, so abi_stable
    // refuses other majors and the host applies the minor rule itself (see plugin-api's docs).
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// Builds the root module value a plugin exports (used by plugin-api's `export_plugin!`).
pub const fn module(
    manifest: extern "C" fn() -> AbiResult,
    invoke: extern "C" fn(host: &HostHandle, request: RStr<'_>) -> AbiResult,
) -> PluginModule {
    PluginModule { manifest, invoke }
}

// Re-exported so that plugin-api's export macro can name them without a direct abi_stable
// dependency in every plugin crate.
pub use abi_stable;

/// The symbol under which abi_stable looks for a library's header. `#[export_root_module]` would
/// write it for us, but its expansion names `::abi_stable` and so forces every plugin crate to
/// depend on abi_stable directly; the test below keeps this copy in step with abi_stable.
#[doc(hidden)]
#[macro_export]
macro_rules! export_root_module {
    ($manifest:path, $invoke:path) => {
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        #[doc(hidden)]
        pub static __CARBONIO_MESH_PLUGIN_HEADER: $crate::abi_stable::library::LibHeader = {
            extern "C" fn construct() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(
                    || -> $crate::PluginModuleRef {
                        $crate::abi_stable::prefix_type::PrefixTypeTrait::leak_into_prefix(
                            $crate::module($manifest, $invoke),
                        )
                    },
                )
            }
            // SAFETY: `construct` returns the type-erased `PluginModuleRef` the header names.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginModuleRef>(
                    construct,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_symbol_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader",
            "update export_root_module! to the symbol name of this abi_stable version"
        );
    }
}
