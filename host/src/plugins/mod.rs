//! Plugins: where they are looked for, whether a file may be loaded by root, loading it and
//! talking to it through the ABI, probing it in a child process for the inventory, and naming it
//! when it crashes the process.

pub mod crash;
pub mod discovery;
pub mod inventory;
pub mod loader;
pub mod open;
pub mod probe;
pub mod probe_cache;
pub mod trust;
