//! Python tools the tests run as real parts (pyHanko, certomancer, aiosmtpd, an S3 server, …),
//! installed from PyPI into a venv on first use. A missing tool fails the test with a clear
//! message; nothing is skipped. Test binaries run in parallel: one installs under a lock
//! directory beside the venv, the others wait for it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The tests' shared venv (pyHanko, certomancer, aiosmtpd): `$DOCFLOW_VENV` or `<repo>/.venv`.
pub fn test_venv_dir() -> PathBuf {
    std::env::var_os("DOCFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"))
}

/// The pinned versions of every Python tool the tests install (`tests/python-constraints.txt`).
pub fn constraints() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python-constraints.txt")
}

/// The shared venv with pyHanko, its CLI, certomancer and its CSC test server.
pub fn pyhanko_venv() -> PathBuf {
    venv_at(
        &test_venv_dir(),
        &[
            "pyhanko",
            "pyhanko-cli",
            "certomancer[web-api]",
            "certomancer-csc-dummy",
        ],
        &["pyhanko", "certomancer", "certomancer-csc"],
    )
}

/// A tool in its own venv `target/pyenv-<name>` (kept apart when its dependencies would clash
/// with pyHanko's: moto's botocore wants python-dateutil < 3, pyHanko's venv has 4); `probe` is
/// a file under `bin/` whose presence means the install finished. The shared constraints do not
/// apply there: pin the tool in `packages` (`moto[server]==5.2.5`).
pub fn tool_venv(name: &str, packages: &[&str], probe: &str) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("pyenv-{name}"));
    install(&venv, packages, &[probe], None)
}

/// The venv at `venv` with `packages` installed at the versions of `tests/python-constraints.txt`;
/// every name in `probes` is a file under `bin/` whose presence means the install finished.
pub fn venv_at(venv: &Path, packages: &[&str], probes: &[&str]) -> PathBuf {
    install(venv, packages, probes, Some(&constraints()))
}

fn install(venv: &Path, packages: &[&str], probes: &[&str], constraints: Option<&Path>) -> PathBuf {
    let ready = || probes.iter().all(|p| venv.join("bin").join(p).exists());
    if ready() {
        return venv.to_path_buf();
    }
    let lock = venv.with_extension("lock");
    let _ = std::fs::create_dir_all(venv.parent().unwrap_or(Path::new(".")));
    let start = Instant::now();
    while std::fs::create_dir(&lock).is_err() {
        if ready() {
            return venv.to_path_buf();
        }
        let stale = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(900))
            .unwrap_or(false);
        if stale {
            let _ = std::fs::remove_dir(&lock);
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "timed out waiting for another test to install {packages:?} ({})",
            lock.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Another binary may have finished between our check and taking the lock.
    let result = if ready() {
        Ok(())
    } else {
        (|| -> Result<(), String> {
            if !venv.join("bin/pip").exists() {
                run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
            }
            let mut pip = Command::new(venv.join("bin/pip"));
            pip.args(["install", "-q"]);
            if let Some(c) = constraints {
                pip.arg("-c").arg(c);
            }
            run(pip.args(packages))
        })()
    };
    let _ = std::fs::remove_dir(&lock);
    if let Err(e) = result {
        panic!(
            "{packages:?} are required by the tests and could not be installed into {} \
             (needs python3-venv and PyPI): {e}",
            venv.display()
        );
    }
    assert!(
        ready(),
        "{probes:?} missing under {} after installing {packages:?}",
        venv.display()
    );
    venv.to_path_buf()
}

pub fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
