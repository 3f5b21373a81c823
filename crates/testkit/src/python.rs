//! pysaml2 (PyPI) for the interoperability tests: a virtualenv made once per target
//! directory; pysaml2 signs and encrypts through Debian's `xmlsec1` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// pysaml2's pinned version.
pub const PYSAML2: &str = "pysaml2==7.5.5";

/// The virtualenv's `python` with pysaml2 importable, made under `target_dir` if needed.
///
/// # Errors
/// A sentence naming what is missing (python3-venv, xmlsec1) or what failed (PyPI).
pub fn pysaml2(target_dir: &Path) -> Result<PathBuf, String> {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = target_dir.join("pysaml2-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import saml2"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .map_err(|e| e.to_string())?;
        if !made.success() {
            return Err("python3 -m venv failed: run scripts/deps.sh test (python3-venv)".into());
        }
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", PYSAML2])
            .status()
            .map_err(|e| e.to_string())?;
        if !pip.success() {
            return Err("pip install pysaml2 failed (PyPI unreachable?)".into());
        }
    }
    if !Path::new("/usr/bin/xmlsec1").exists() {
        return Err(
            "pysaml2 needs the xmlsec1 binary: run scripts/deps.sh test (Debian package xmlsec1)"
                .into(),
        );
    }
    Ok(python)
}
