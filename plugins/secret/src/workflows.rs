//! The names of this plugin's workflows (a leaf: the steps and the commands both name them).

/// The leader's workflow, and the one each other node runs.
pub const REGENERATE: &str = "secret-regenerate";
pub const REJOIN: &str = "secret-rejoin";
/// The explicit recovery of a lost quorum on the server to keep (`secret recover-quorum`).
pub const RECOVER: &str = "secret-recover-quorum";
