//! Test tools built from Go modules by a script of the repository (`tests/*/ensure.sh`): the script is
//! run (its progress on stderr), and the path it prints as `KEY=path` on stdout is returned.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// Runs `script` (relative to the repository) and returns the value of its `KEY=` line.
pub fn ensure(script: &str, key: &str) -> String {
    ensure_all(script)
        .remove(key)
        .unwrap_or_else(|| panic!("{script} printed no {key}= line"))
}

/// Runs `script` (relative to the repository) once and returns every `KEY=value` line it printed.
pub fn ensure_all(script: &str) -> BTreeMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new("bash")
        .arg(&path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(out.status.success(), "{script} failed (see above)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
