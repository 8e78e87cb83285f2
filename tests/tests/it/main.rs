//! Every end-to-end test of the built binary and plugins, in one test binary (uv's layout): one
//! module per topic, all of them sharing the context the `carbonio_mesh_tests` library gives
//! (tests/src: sandboxes whose every ancestor passes the trust checks, the Consul double
//! behind a sandbox, a Mesh leader, the snapshot filters). One binary links once: 23 test
//! binaries each linked the whole of it before.
//!
//! `cargo test --test it TOPIC::` runs one topic (`cargo test --test it doctor::`); snapshots
//! are in `snapshots/`, named `it__TOPIC__NAME.snap` (`cargo insta review`).

mod architecture;
mod attack;
mod attack_local;
mod cluster_changes;
mod commands;
mod completion;
mod consul_cli;
mod consul_spelling;
mod containment;
mod crashing;
mod credentials;
mod doctor;
mod ldap;
mod leader;
mod loading;
mod man_pages;
mod quorum;
mod rejoin;
mod runs;
mod scripting;
mod secret;
mod service_discover_stand_in;
mod site_steps;
mod snapshots;
mod three_servers;
mod transport_ansible;
mod transport_ssh;
