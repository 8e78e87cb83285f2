//! Where service-discover keeps a node's Mesh setup (docs/carbonio-mesh.md, "Files on a node").

pub const SERVICE: &str = "service-discover";
pub const MAIN_JSON: &str = "/etc/zextras/service-discover/main.json";
pub const CONFIG_JSON: &str = "/etc/zextras/service-discover/config.json";
pub const LIB_DIR: &str = "/var/lib/service-discover";
pub const DEFAULT_DATA_DIR: &str = "/var/lib/service-discover/data";
/// The largest archive a node accepts (on standard input or from `--archive FILE`).
pub const MAX_ARCHIVE: u64 = 8 << 20;
