//! A test double of a Consul agent's HTTP API, as Consul 1.9.3, 1.10.12, 1.19.1 or 1.21.4
//! answers it: it stands in for Consul, which cannot run on the build machines. Each node of
//! the [`Cluster`] model runs its own [`Version`]: the answering agent's decides the texts,
//! statuses and shapes, each member's its tags and meta. It answers the endpoints carbonio-mesh
//! uses with the bodies, status codes, headers and error texts of `tests/fixtures/consul/<version>`
//! (checked by `tests/fixtures.rs`).
//!
//! Never part of the product: only tests, benchmarks and the demo use it.

mod answer;
mod catalog;
mod clusters;
pub mod mesh;
pub mod model;
mod routes;
mod server;
pub mod version;
pub mod wire;

pub use clusters::RECORDED_GOSSIP_KEY;
pub use mesh::Mesh;
pub use model::{
    BootstrapRefusal, Cluster, Coordinate, HealthCheck, Node, Ports, Role, Service, Status, Token,
};
pub use server::Double;
pub use version::Version;
