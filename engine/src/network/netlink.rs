//! Links through rtnetlink: bridges, veth pairs, addresses, routes (being written).

/// A netlink operation failed.
#[derive(Debug, thiserror::Error)]
#[error("netlink: {0}")]
pub struct NetlinkError(pub String);
