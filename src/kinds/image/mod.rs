//! `[[image]]`: container images and OCI artifacts. Resolution and fetching are the OCI pull
//! client's (`oci::pull`), which OCI charts share; this kind plugs it into the list.

pub mod entry;
mod kind;

pub use entry::RawImage;
pub use kind::Images;
