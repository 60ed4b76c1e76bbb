//! Image archives: `load` (docker-archive in its legacy and Docker 25+ layouts, oci-archive),
//! `save` (both layouts in one file), and `import` (a root filesystem tarball as a one-layer image).

pub mod compression;
pub mod import;
pub mod load;
pub mod save;
