//! Python tools the tests run as real parts (an S3 server, …), each in its own venv under
//! `target/`, made on first use. A missing tool fails the test with a clear message.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The venv `target/pyenv-<name>` with `packages` installed; `probe` is a file under `bin/`
/// whose presence means the install finished.
pub fn tool_venv(name: &str, packages: &[&str], probe: &str) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("pyenv-{name}"));
    let ready = |v: &Path| v.join("bin").join(probe).exists();
    if ready(&venv) {
        return venv;
    }
    // Test binaries run in parallel: one installs, the others wait for its lock directory.
    let lock = venv.with_extension("lock");
    let _ = std::fs::create_dir_all(venv.parent().unwrap_or(Path::new(".")));
    let start = Instant::now();
    while std::fs::create_dir(&lock).is_err() {
        if ready(&venv) {
            return venv;
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
    let result = (|| -> Result<(), String> {
        if !venv.join("bin/pip").exists() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "-q"])
            .args(packages))
    })();
    let _ = std::fs::remove_dir(&lock);
    if let Err(e) = result {
        panic!(
            "{packages:?} could not be installed into {}: {e}",
            venv.display()
        );
    }
    assert!(
        ready(&venv),
        "{probe} missing after installing {packages:?}"
    );
    venv
}

fn run(cmd: &mut Command) -> Result<(), String> {
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
