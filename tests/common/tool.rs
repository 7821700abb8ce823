//! Test tools built from Go modules by a script of the repository (`tests/*/ensure.sh`): the script is
//! run (its progress on stderr), and the path it prints as `KEY=path` on stdout is returned.
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Runs `script` (relative to the repository) and returns the value of its `KEY=` line.
pub fn ensure(script: &str, key: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new("bash")
        .arg(&path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(out.status.success(), "{script} failed (see above)");
    let prefix = format!("{key}=");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("{script} printed no {key}= line"))
}
