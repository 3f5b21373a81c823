//! npm packages for tests (openid-client, axe-core): installed once per target directory
//! with the system's npm, pinned versions, one install at a time per process.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Installs `packages` (`name@version`) into `dir` unless each is already there at that
/// version; returns `dir`.
///
/// # Errors
/// A sentence saying what is missing (node/npm) or what failed (the registry).
pub fn install(dir: &Path, packages: &[&str]) -> Result<PathBuf, String> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let missing: Vec<&&str> = packages
        .iter()
        .filter(|spec| {
            let (name, version) = spec.rsplit_once('@').unwrap_or((spec, ""));
            let manifest = dir.join("node_modules").join(name).join("package.json");
            !std::fs::read_to_string(manifest)
                .is_ok_and(|p| p.contains(&format!("\"version\": \"{version}\"")))
        })
        .collect();
    if missing.is_empty() {
        return Ok(dir.to_path_buf());
    }
    if !Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Err("these tests need node and npm: run scripts/deps.sh test".into());
    }
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        std::fs::write(&manifest, "{\"private\":true,\"type\":\"module\"}\n")
            .map_err(|e| e.to_string())?;
    }
    let status = Command::new("npm")
        .current_dir(dir)
        .args(["install", "--no-audit", "--no-fund", "--silent"])
        .args(missing.iter().map(|s| **s))
        .status()
        .map_err(|e| format!("npm: {e}"))?;
    if !status.success() {
        return Err(format!(
            "npm install {missing:?} failed (npm registry unreachable?)"
        ));
    }
    Ok(dir.to_path_buf())
}
