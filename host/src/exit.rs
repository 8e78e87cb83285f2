//! The exit codes: scripts rely on these, so they never change meaning (the README's table, the
//! man pages' EXIT STATUS). A leaf: every layer uses it, it uses nothing.

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const CONFIG: u8 = 3;
pub const PLUGIN: u8 = 4;
pub const OPERATION: u8 = 5;
// 6 is `leader`'s "another host is the leader" (the plugin's own).
/// The credentials archive's password is wrong.
pub const WRONG_PASSWORD: u8 = 7;
/// The credentials archive is unreadable: damaged, not encrypted, incomplete, unsafe.
pub const BAD_ARCHIVE: u8 = 8;
// 9 is a declined confirmation: the user answered no, nothing was changed (the plugins'
// `Response::declined`, `carbonio_mesh_plugin_api::EXIT_DECLINED`).
// 10 and 11 are `doctor`'s (the plugin's own): 10 every check passed or warned and one
// warned, 11 a check failed or a node could not be checked.
