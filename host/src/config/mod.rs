//! Configuration: every system path under `--root`, and the host's configuration files (vendor,
//! site, drop-ins), read through the same trust rules as plugins.

pub mod paths;
pub mod settings;
