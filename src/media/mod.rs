//! The media tree: placing verified bytes, `SHA256SUMS` and its signature, and checking a tree
//! offline. Depends on `digest`, `lock` and `store`; never on the network.

pub mod delta;
pub mod mirror;
pub mod place;
pub mod signing;
pub mod sums;
pub mod tree;
pub mod verify;
