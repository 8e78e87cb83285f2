//! A test double of a Consul 1.9.3 agent's HTTP API: it stands in for Consul, which cannot run
//! on the build machines. It answers the endpoints carbonio-mesh uses with the bodies, status
//! codes, headers and error texts of `tests/fixtures/consul` (checked by
//! `tests/fixtures.rs`), over a [`Cluster`] model that tests build and change.
//!
//! Never part of the product: only tests, benchmarks and the demo use it.

pub mod model;
mod server;
pub mod wire;

pub use model::{
    BootstrapRefusal, Cluster, Coordinate, HealthCheck, Node, Role, Service, Status, Token,
};
pub use server::Double;
