//! Rendering a [`Report`] for people (text) and for scripts (JSON, YAML: the `check` contract).

use std::fmt::Write as _;

use crate::engine::{LayerOut, Report, SubjectReport};

/// Output formats of `scrapepath check` and `scrapepath audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).expect("report serialises");
            s.push('\n');
            s
        }
        Format::Yaml => serde_yaml_ng::to_string(report).expect("report serialises"),
        Format::Text => text(report),
    }
}

fn mark(status: &str) -> &'static str {
    match status {
        "True" => "ok ",
        "False" => "XX ",
        _ => "?? ",
    }
}

/// A diagnosis a person reads top to bottom: verdict per layer, the objects and rules to blame, the fix.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for s in &report.subjects {
        subject_text(&mut out, s);
    }
    let ready = report.subjects.iter().filter(|s| s.ready).count();
    let _ = writeln!(
        out,
        "{} subjects: {ready} ready, {} not ready",
        report.subjects.len(),
        report.subjects.len() - ready
    );
    out
}

fn subject_text(out: &mut String, s: &SubjectReport) {
    let verdict = if s.ready {
        "READY".to_string()
    } else {
        let reason = s
            .condition(crate::conditions::READY)
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        format!("NOT READY ({reason})")
    };
    let _ = writeln!(out, "{} {}/{}: {verdict}", s.kind, s.namespace, s.name);
    if !s.scrapers.is_empty() {
        let names: Vec<String> = s
            .scrapers
            .iter()
            .map(|r| format!("{} {}/{}", r.kind, r.namespace, r.name))
            .collect();
        let _ = writeln!(out, "  scraper: {}", names.join(", "));
    }
    for c in &s.conditions {
        if c.type_ == crate::conditions::READY {
            continue;
        }
        let _ = writeln!(
            out,
            "  {}{:<17} {}: {}",
            mark(&c.status),
            c.type_,
            c.reason,
            c.message
        );
    }
    if !s.targets.is_empty() {
        let _ = writeln!(out, "  targets:");
        for t in &s.targets {
            let mut port = match &t.port_name {
                Some(n) => format!("{}:{} ({n})", t.pod, t.port),
                None => format!("{}:{}", t.pod, t.port),
            };
            if let Some(a) = &t.address {
                port.push_str(&format!(" at {a}"));
            }
            let observed = t
                .observed
                .as_ref()
                .map(|o| format!(", observed {}", o.health))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {port} {}  <- {}: network {}, mesh {}{observed}",
                t.path, t.scraper, t.network.verdict, t.mesh.verdict
            );
            if let Some(e) = t.observed.as_ref().and_then(|o| o.last_error.as_ref()) {
                let _ = writeln!(out, "        last error: {e}");
            }
            if t.network.verdict != "Allowed" {
                layer_text(out, "why", &t.network);
            }
            if !matches!(t.mesh.verdict.as_str(), "Allowed" | "NotApplicable") {
                layer_text(out, "mesh", &t.mesh);
            }
        }
    }
    if !s.remediation.is_empty() {
        let _ = writeln!(out, "  fix (kubectl apply --server-side -f -):");
        for r in &s.remediation {
            let yaml = serde_yaml_ng::to_string(r).expect("object serialises");
            let _ = writeln!(out, "    ---");
            for line in yaml.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out.push('\n');
}

/// Why a layer refuses a target, and the objects that decide.
fn layer_text(out: &mut String, label: &str, l: &LayerOut) {
    let _ = writeln!(out, "        {label}: {}", l.reason);
    if !l.decided_by.is_empty() {
        let by: Vec<String> = l
            .decided_by
            .iter()
            .map(|r| {
                if r.namespace.is_empty() {
                    format!("{} {}", r.kind, r.name)
                } else {
                    format!("{} {}/{}", r.kind, r.namespace, r.name)
                }
            })
            .collect();
        let _ = writeln!(out, "        decided by: {}", by.join(", "));
    }
}
