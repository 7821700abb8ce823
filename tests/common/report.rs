//! Reading `check -o json` reports in tests: a subject, a condition, a target.
//! (Included by path, `#[path = "common/report.rs"] mod report;`, by the tests that read reports only.)
#![allow(dead_code)]

use serde_json::Value;

pub fn subject<'a>(r: &'a Value, kind: &str, ns: &str, name: &str) -> &'a Value {
    r["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind && s["namespace"] == ns && s["name"] == name)
        .unwrap_or_else(|| panic!("no subject {kind} {ns}/{name} in {r:#}"))
}

pub fn cond<'a>(s: &'a Value, type_: &str) -> &'a Value {
    s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no condition {type_} in {s:#}"))
}

pub fn target<'a>(s: &'a Value, pod: &str) -> &'a Value {
    s["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["pod"] == pod)
        .unwrap_or_else(|| panic!("no target {pod}"))
}

/// The ScraperReady condition of seed 003's self-monitor (`ServiceMonitor
/// monitoring/kps-kube-prometheus-stack-prometheus`), and its message.
pub fn seed_003_scraper_ready(r: &Value) -> (Value, String) {
    let sm = subject(
        r,
        "ServiceMonitor",
        "monitoring",
        "kps-kube-prometheus-stack-prometheus",
    );
    let c = cond(sm, "ScraperReady").clone();
    let msg = c["message"].as_str().unwrap_or_default().to_string();
    (c, msg)
}

/// Panics naming the first of `needles` that `text` lacks.
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?}: {text}");
    }
}
