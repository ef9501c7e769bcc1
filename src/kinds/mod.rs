//! The artifact kinds, each in its own folder, and the one list of them.

pub mod apt;
pub mod chart;
pub mod file;
pub mod git;
pub mod image;
pub mod yum;
