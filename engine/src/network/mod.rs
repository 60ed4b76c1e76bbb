//! Networks: bridges, veth pairs and addresses through netlink (`netlink`), the iptables rules that
//! isolate networks and publish ports (`firewall`), and the embedded DNS responder of user-defined
//! networks (`dns`).

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod model;
pub mod netlink;
pub mod ports;
pub mod store;

pub use model::Network;
pub mod bridge;
pub mod connect;
pub mod create;
pub mod endpoint;
pub mod remove;
