//! Where the workspace and its build output are, for harnesses that build or cache peers.

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (a relative one taken from the workspace
/// root, as cargo does), else `<workspace>/target`. CI's fresh clone shares its checkout's
/// target dir, so the peer caches kept here survive into that run.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        Some(p) => workspace_root().join(p),
        None => workspace_root().join("target"),
    }
}
