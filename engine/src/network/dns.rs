//! The embedded DNS responder of user-defined networks (being written).
