//! Every class of disagreement the differential against Cilium's own engine (`tests/cilium_oracle.rs`)
//! ever found, kept as a minimal case that runs without Go: `tests/fixtures/cilium-regressions/<case>/`
//! holds `cluster.yaml` (the objects) and `case.yaml`: what the case is about, its flows, and for each
//! Cilium minor the oracle's answer (the policies Cilium rejects and each flow's verdict), as the oracle
//! wrote it.
//!
//! The oracle's answers are recorded, never written by hand: with Go at hand,
//! `SCRAPEPATH_RECORD_REGRESSIONS=1 cargo test --test cilium_regressions` asks every oracle binary of
//! `tests/cilium-oracle/ensure.sh` and rewrites the `oracle:` part of each `case.yaml`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::cilium_diff::{self, Oracle};
use common::cilium_gen::Flow;
use scrapepath::cilium::{eval::rejected_by_agent, NetVerdict, Version};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Case {
    /// The disagreement class, one line.
    why: String,
    flows: Vec<Flow>,
    /// Minor ("1.19") → the oracle's answer.
    #[serde(default)]
    oracle: BTreeMap<String, Answer>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Answer {
    /// Cilium's release the answer came from (`v1.19.7`).
    release: String,
    /// Policies Cilium rejects, as `Kind namespace/name`.
    #[serde(default)]
    rejected: Vec<String>,
    /// One verdict per flow, in order: `Allowed` or `Denied` (at L3/L4; audit mode counts as Allowed).
    verdicts: Vec<String>,
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cilium-regressions");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read_case(dir: &Path) -> Case {
    let text = std::fs::read_to_string(dir.join("case.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}/case.yaml: {e}", dir.display()))
}

/// scrapepath's answer for a case at one Cilium minor; `None` when that release's API server would
/// refuse the input (a field its CRD lacks): the agent never sees it there.
fn ours(
    dir: &Path,
    case: &Case,
    version: Version,
) -> Option<(Vec<String>, Vec<String>, Vec<String>)> {
    let admit = scrapepath::admission::Settings {
        cilium_version: Some(version),
        istio_version: None,
        ..Default::default()
    };
    let (idx, _) =
        scrapepath::load::load_index_with(&[dir.join("cluster.yaml")], false, &admit).ok()?;
    let settings = idx.cilium_settings(Some(version));
    let mut rejected: Vec<String> = idx
        .policies()
        .filter(|p| rejected_by_agent(p, &settings).is_some())
        .map(|p| {
            if p.obj.namespace.is_empty() {
                format!("{} {}", p.obj.kind, p.obj.name)
            } else {
                format!("{} {}/{}", p.obj.kind, p.obj.namespace, p.obj.name)
            }
        })
        .collect();
    rejected.sort();
    let mut verdicts = Vec::new();
    let mut reasons = Vec::new();
    for f in &case.flows {
        let (v, reason) = cilium_diff::our_verdict(&idx, &settings, f);
        verdicts.push(
            match v {
                NetVerdict::Allowed | NetVerdict::L7Denied => "Allowed",
                NetVerdict::Denied => "Denied",
            }
            .to_string(),
        );
        reasons.push(reason);
    }
    Some((rejected, verdicts, reasons))
}

#[test]
fn every_disagreement_ever_found_with_ciliums_engine_stays_fixed() {
    if std::env::var_os("SCRAPEPATH_RECORD_REGRESSIONS").is_some() {
        record(&cilium_diff::oracles());
    }
    let dirs = cases();
    assert!(!dirs.is_empty(), "no regression case found");
    let mut failures = Vec::new();
    for dir in &dirs {
        let case = read_case(dir);
        assert!(
            !case.oracle.is_empty(),
            "{}: no oracle answer recorded (SCRAPEPATH_RECORD_REGRESSIONS=1)",
            dir.display()
        );
        let mut compared = 0;
        for (minor, answer) in &case.oracle {
            let version = Version::parse(minor).unwrap();
            let Some((rejected, verdicts, reasons)) = ours(dir, &case, version) else {
                continue;
            };
            compared += 1;
            if rejected != answer.rejected {
                failures.push(format!(
                    "{} at {minor}: Cilium rejects {:?}, scrapepath {:?}",
                    dir.display(),
                    answer.rejected,
                    rejected
                ));
            }
            for (i, f) in case.flows.iter().enumerate() {
                // A pod's connection to itself: the datapath's answer is the reference (`to_itself`).
                let (want, by) = if cilium_diff::to_itself(f) {
                    ("Allowed", "the real datapath")
                } else {
                    (answer.verdicts[i].as_str(), "Cilium")
                };
                if verdicts[i] != want {
                    failures.push(format!(
                        "{} at {minor}: {} -> {} TCP/{}: {by} {want}, scrapepath {} ({})",
                        dir.display(),
                        f.src,
                        f.dst,
                        f.port,
                        verdicts[i],
                        reasons[i]
                    ));
                }
            }
        }
        if compared == 0 {
            failures.push(format!(
                "{}: every release's API server would refuse it: nothing compared",
                dir.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} regressions:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Asks every oracle for every case and rewrites the recorded answers.
fn record(oracles: &[Oracle]) {
    for dir in cases() {
        let mut case = read_case(&dir);
        let flows_file = std::env::temp_dir().join(format!(
            "scrapepath-regression-flows-{}.json",
            std::process::id()
        ));
        std::fs::write(&flows_file, serde_json::to_vec(&case.flows).unwrap()).unwrap();
        case.oracle.clear();
        for o in oracles {
            let (_, answer) = o
                .ask(&dir.join("cluster.yaml"), &flows_file)
                .unwrap_or_else(|why| panic!("{}: oracle 1.{}: {why}", dir.display(), o.minor));
            let mut rejected: Vec<String> = answer.policies.iter().map(|p| p.display()).collect();
            rejected.sort();
            let verdicts = case
                .flows
                .iter()
                .map(|f| {
                    let a = answer
                        .flows
                        .iter()
                        .find(|a| a.src == f.src && a.dst == f.dst && a.port == f.port)
                        .unwrap_or_else(|| panic!("{}: no answer for {f:?}", dir.display()));
                    if a.forwarded() { "Allowed" } else { "Denied" }.to_string()
                })
                .collect();
            case.oracle.insert(
                format!("1.{}", o.minor),
                Answer {
                    release: answer.cilium.clone(),
                    rejected,
                    verdicts,
                },
            );
        }
        let _ = std::fs::remove_file(&flows_file);
        std::fs::write(
            dir.join("case.yaml"),
            serde_yaml_ng::to_string(&case).unwrap(),
        )
        .unwrap();
    }
}
