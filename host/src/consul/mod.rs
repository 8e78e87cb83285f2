//! Consul: the one HTTP client every plugin's requests go through, where it connects and whether
//! a token may go there, and the Mesh credentials archive that holds Consul's bootstrap token,
//! gossip key and CA.

pub mod client;
pub mod credentials;
pub mod destination;
pub mod settings;
