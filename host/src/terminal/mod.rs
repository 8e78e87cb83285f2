//! What reaches the admin's terminal and comes back from it: untrusted text escaped, progress
//! lines of long commands, and questions asked on the controlling terminal.

pub mod progress;
pub mod tty;
pub mod untrusted;
