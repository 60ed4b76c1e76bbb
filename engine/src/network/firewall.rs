//! iptables rules for networks and published ports (being written).

/// An iptables operation failed.
#[derive(Debug, thiserror::Error)]
#[error("iptables: {0}")]
pub struct FirewallError(pub String);
