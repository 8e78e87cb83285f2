//! Facts about the Consul 1.9.3 API that several plugins need.

/// The name the `consul` CLI prints for a serf member status code (`/v1/agent/members`'
/// `Status`): 1 alive, 2 leaving, 3 left, 4 failed, anything else none.
pub fn member_status(status: u8) -> &'static str {
    match status {
        1 => "alive",
        2 => "leaving",
        3 => "left",
        4 => "failed",
        _ => "none",
    }
}

/// The serf status code of a member that is alive.
pub const ALIVE: u8 = 1;
/// The serf status code of a member that left.
pub const LEFT: u8 = 3;
/// The serf status code of a member that failed.
pub const FAILED: u8 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_clis() {
        let names: Vec<_> = (0..=5).map(member_status).collect();
        assert_eq!(
            names,
            ["none", "alive", "leaving", "left", "failed", "none"]
        );
        assert_eq!(member_status(FAILED), "failed");
    }
}
