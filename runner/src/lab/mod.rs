//! Lab files: the model serde reads, and the loader that says where a file is wrong.

mod lint;
mod load;
pub mod model;

pub use lint::{lint, Finding, LAB_IMAGES};
pub use load::{check_kind, load, parse, show_kind, LabError};
pub use model::*;

/// Every lab (`*.yaml`) in `dir`, sorted by file name; the first broken one is an error.
pub fn load_dir(dir: &std::path::Path) -> Result<Vec<Lab>, LabError> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| LabError {
            file: dir.into(),
            line: None,
            place: None,
            message: format!("cannot read the folder: {e}"),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

/// A fingerprint of everything a lab file says (sha256 of its JSON form, hex): a recording made of
/// another version of the lab no longer matches it.
pub fn digest(lab: &Lab) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(lab).expect("a lab serializes");
    Sha256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
