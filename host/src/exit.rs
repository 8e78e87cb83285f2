//! The exit codes: scripts rely on these, so they never change meaning (the README's table, the
//! man pages' EXIT STATUS). A leaf: every layer uses it, it uses nothing.

pub const OK: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const CONFIG: u8 = 3;
pub const PLUGIN: u8 = 4;
pub const OPERATION: u8 = 5;
/// The credentials archive's password is wrong.
pub const WRONG_PASSWORD: u8 = 7;
/// The credentials archive is unreadable: damaged, not encrypted, incomplete, unsafe.
pub const BAD_ARCHIVE: u8 = 8;
// 9 is a declined confirmation: the user answered no, nothing was changed (the plugins'
// `Response::declined`, `carbonio_mesh_plugin_api::EXIT_DECLINED`).
// A plugin's own codes (leader's 6, doctor's 10 and 11), and its own meaning of one of these
// (members' 2: no member matched), are declared in its manifest (`Manifest::exit_code`),
// which the man pages read: the host names none.
