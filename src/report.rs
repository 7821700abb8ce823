//! Rendering a [`Report`] for people (text) and for scripts (JSON, YAML: the `check` contract).

use std::fmt::Write as _;

use crate::conditions;
use crate::engine::{ConditionOut, LayerOut, RefOut, Report, SubjectReport, TargetOut};

/// Output formats of `scrapepath check` and `scrapepath audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

/// Renders for `check` and `audit`: text is the diagnosis ([`text`]); JSON and YAML are the contract.
pub fn render(report: &Report, format: Format) -> String {
    render_with(report, format, false)
}

/// [`render`], with `verbose` text: every layer's full reasoning and every target ([`text_verbose`]).
/// JSON and YAML do not depend on `verbose`.
pub fn render_with(report: &Report, format: Format, verbose: bool) -> String {
    match format {
        Format::Json | Format::Yaml => {
            let mut out = Vec::new();
            write_with(report, format, verbose, &mut out).expect("report serialises");
            String::from_utf8(out).expect("the report is UTF-8")
        }
        Format::Text if verbose => text_verbose(report),
        Format::Text => text(report),
    }
}

/// The report written to `out` as it is produced (what [`render_with`] returns as a string): a JSON or YAML report of 20,000 targets is 50 MB,
/// which `check` need not hold as one string besides the report.
pub fn write_with(
    report: &Report,
    format: Format,
    verbose: bool,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            out.write_all(b"\n")
        }
        Format::Yaml => serde_yaml_ng::to_writer(&mut *out, report).map_err(std::io::Error::other),
        Format::Text if verbose => out.write_all(text_verbose(report).as_bytes()),
        Format::Text => out.write_all(text(report).as_bytes()),
    }
}

fn mark(status: &str) -> &'static str {
    match status {
        "True" => "ok ",
        "False" => "XX ",
        _ => "?? ",
    }
}

/// The width the text report wraps at.
const WIDTH: usize = 100;
/// Indentation of what a failing layer says under its line.
const DETAIL: &str = "     ";
/// Targets named per group before "and N more".
const NAMED_TARGETS: usize = 4;
/// Subjects named per cause in the summary before "and N more".
const NAMED_SUBJECTS: usize = 3;
/// Reasons that only restate that a passing layer passes (left out of its one line).
const PLAIN_REASONS: [&str; 5] = ["Resolved", "ScraperReady", "Selected", "Allowed", "Up"];

/// A diagnosis a person reads top to bottom: per subject the failing layers first, each with the objects
/// and rules to blame and what to change, then the fix to apply, then one line per passing layer; at the
/// end the causes across subjects, each once with what it breaks. `-v` ([`text_verbose`]) gives the full
/// reasoning of every layer and every target.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for s in &report.subjects {
        diagnosis_text(&mut out, s);
    }
    summary_text(&mut out, report);
    if report.subjects.iter().any(|s| !s.targets.is_empty()) {
        out.push_str("(-v: every target and the full reasoning of every layer)\n");
    }
    out
}

/// The full reasoning: every layer's message, every target with its verdicts and why it is refused, the
/// fix; then the causes across subjects.
pub fn text_verbose(report: &Report) -> String {
    let mut out = String::new();
    for s in &report.subjects {
        subject_text(&mut out, s);
    }
    summary_text(&mut out, report);
    out
}

fn count_line(out: &mut String, report: &Report) {
    let ready = report.subjects.iter().filter(|s| s.ready).count();
    let _ = writeln!(
        out,
        "{}: {ready} ready, {} not ready",
        plural(report.subjects.len(), "subject"),
        report.subjects.len() - ready
    );
}

/// Whether a layer stops the scrape: False, or Unknown where Unknown fails Ready (every layer but
/// Scraped), unless it is only the consequence of an earlier layer (no targets, no scraper).
fn failing(c: &ConditionOut) -> bool {
    c.type_ != conditions::READY
        && (c.status == "False"
            || (c.status == "Unknown"
                && c.type_ != conditions::SCRAPED
                && c.type_ != conditions::DISCOVERY_PERMITTED
                && c.reason != conditions::reason::NO_TARGETS
                && c.reason != conditions::reason::NO_SCRAPER))
}

fn header(s: &SubjectReport) -> String {
    let verdict = if s.ready {
        "READY".to_string()
    } else {
        let mut reasons: Vec<&str> = Vec::new();
        for c in s.conditions.iter().filter(|c| failing(c)) {
            if !reasons.contains(&c.reason.as_str()) {
                reasons.push(&c.reason);
            }
        }
        if reasons.is_empty() {
            if let Some(c) = s.condition(conditions::READY) {
                reasons.push(&c.reason);
            }
        }
        format!("NOT READY ({})", reasons.join(", "))
    };
    format!("{} {}/{}: {verdict}", s.kind, s.namespace, s.name)
}

fn ref_text(r: &RefOut) -> String {
    if r.namespace.is_empty() {
        format!("{} {}", r.kind, r.name)
    } else {
        format!("{} {}/{}", r.kind, r.namespace, r.name)
    }
}

/// `text` wrapped at [`WIDTH`]: the first line after `first`, the others after `rest`. Words longer than
/// a line are not broken.
fn wrapped(first: &str, rest: &str, text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut len = first.chars().count();
    let mut empty = true;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if !empty && len + 1 + w > WIDTH {
            lines.push(line.trim_end().to_string());
            line = rest.to_string();
            len = rest.chars().count();
            empty = true;
        }
        if !empty {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += w;
        empty = false;
    }
    lines.push(line.trim_end().to_string());
    lines
}

/// Writes `text` [`wrapped`].
fn wrap(out: &mut String, first: &str, rest: &str, text: &str) {
    wrap_max(out, first, rest, text, usize::MAX);
}

/// Writes `text` [`wrapped`] on at most `max` lines ("..." where it is cut).
fn wrap_max(out: &mut String, first: &str, rest: &str, text: &str, max: usize) {
    let mut lines = wrapped(first, rest, text);
    if lines.len() > max {
        let more = format!("{} {}", lines[max - 1], lines[max].trim_start());
        lines.truncate(max);
        lines[max - 1] = fit(&more, WIDTH);
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
}

/// `text` cut to fit `room` characters ("..." where it is cut).
fn fit(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_string();
    }
    let cut: String = text.chars().take(room.saturating_sub(3)).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > room / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}...", cut.trim_end_matches([',', ';', ':', ' ']))
}

/// The first sentence of a message (its summary; the rest is detail).
fn first_sentence(message: &str) -> &str {
    message.split_once(". ").map_or(message, |(h, _)| h)
}

/// Which verdict of a target a layer is about.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Network,
    Mesh,
}

impl Side {
    fn of(type_: &str) -> Option<Side> {
        match type_ {
            conditions::NETWORK_REACHABLE => Some(Side::Network),
            conditions::MESH_AUTHORIZED => Some(Side::Mesh),
            _ => None,
        }
    }

    fn layer(self, t: &TargetOut) -> &LayerOut {
        match self {
            Side::Network => &t.network,
            Side::Mesh => &t.mesh,
        }
    }

    /// Whether this target is refused at this layer.
    fn refused(self, t: &TargetOut) -> bool {
        let v = self.layer(t).verdict.as_str();
        match self {
            Side::Network => v != "Allowed",
            Side::Mesh => !matches!(v, "Allowed" | "NotApplicable"),
        }
    }
}

/// Targets refused at one layer for one reason by the same objects.
struct Group<'r> {
    verdict: &'r str,
    decided_by: &'r [RefOut],
    reason: &'r str,
    targets: Vec<String>,
}

impl Group<'_> {
    fn title(&self) -> String {
        if self.decided_by.is_empty() {
            self.verdict.to_string()
        } else {
            let by: Vec<String> = self.decided_by.iter().map(ref_text).collect();
            format!("{} by {}", self.verdict, by.join(", "))
        }
    }
}

/// The refused targets of a layer, grouped by verdict, deciding objects and reason, in target order.
fn groups(s: &SubjectReport, side: Side) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for t in s.targets.iter().filter(|t| side.refused(t)) {
        let l = side.layer(t);
        let name = format!("{}:{}", t.pod, t.port);
        match out.iter_mut().find(|g| {
            g.verdict == l.verdict && g.decided_by == &l.decided_by[..] && *g.reason == *l.reason
        }) {
            Some(g) => {
                if !g.targets.contains(&name) {
                    g.targets.push(name);
                }
            }
            None => out.push(Group {
                verdict: &l.verdict,
                decided_by: &l.decided_by,
                reason: &l.reason,
                targets: vec![name],
            }),
        }
    }
    out
}

fn some_of(names: &[String], named: usize) -> String {
    if names.len() <= named {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..named].join(", "),
            names.len() - named
        )
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// One subject, causes first.
fn diagnosis_text(out: &mut String, s: &SubjectReport) {
    let _ = writeln!(out, "{}", header(s));
    for c in s.conditions.iter().filter(|c| failing(c)) {
        failing_layer_text(out, s, c);
    }
    remediation_text(out, s);
    for c in s
        .conditions
        .iter()
        .filter(|c| c.type_ != conditions::READY && !failing(c))
    {
        let lead = format!("  {}{:<17} ", mark(&c.status), c.type_);
        let summary = if PLAIN_REASONS.contains(&c.reason.as_str()) {
            first_sentence(&c.message).to_string()
        } else {
            format!("{}: {}", c.reason, first_sentence(&c.message))
        };
        let _ = writeln!(out, "{lead}{}", fit(&summary, WIDTH - lead.chars().count()));
    }
    if !s.scrapers.is_empty() {
        let names: Vec<String> = s.scrapers.iter().map(ref_text).collect();
        wrap(out, "  scraper: ", "           ", &names.join(", "));
    }
    out.push('\n');
}

/// A failing layer: its verdict, the objects and rules to blame, what to change.
fn failing_layer_text(out: &mut String, s: &SubjectReport, c: &ConditionOut) {
    let lead = format!("  {}{:<17} ", mark(&c.status), c.type_);
    let groups = Side::of(&c.type_)
        .map(|side| groups(s, side))
        .unwrap_or_default();
    if groups.is_empty() {
        wrap(out, &lead, DETAIL, &format!("{}: {}", c.reason, c.message));
        return;
    }
    wrap(
        out,
        &lead,
        DETAIL,
        &format!("{}: {}", c.reason, first_sentence(&c.message)),
    );
    for g in &groups {
        wrap(
            out,
            DETAIL,
            &format!("{DETAIL}  "),
            &format!(
                "{} ({}): {}",
                g.title(),
                plural(g.targets.len(), "target"),
                some_of(&g.targets, NAMED_TARGETS)
            ),
        );
        wrap(
            out,
            &format!("{DETAIL}  "),
            &format!("{DETAIL}  "),
            g.reason,
        );
    }
    // What the message adds after the targets: policies Cilium or Istio reject, the mesh's advice.
    if let Some((_, besides)) = c.message.split_once(". Besides, ") {
        wrap(
            out,
            DETAIL,
            &format!("{DETAIL}  "),
            &format!("besides, {besides}"),
        );
    }
    if let Some((_, fix)) = c.message.split_once("To fix, in order of preference: ") {
        wrap(
            out,
            DETAIL,
            &format!("{DETAIL}  "),
            &format!("fix, in order of preference: {fix}"),
        );
    }
}

/// The objects to apply, each named.
fn remediation_text(out: &mut String, s: &SubjectReport) {
    if s.remediation.is_empty() {
        return;
    }
    let _ = writeln!(out, "  fix (kubectl apply --server-side -f -):");
    for r in &s.remediation {
        let name = |p: &str| r.pointer(p).and_then(serde_json::Value::as_str);
        let what = match (
            name("/kind"),
            name("/metadata/namespace"),
            name("/metadata/name"),
        ) {
            (Some(k), Some(ns), Some(n)) => format!(" # {k} {ns}/{n}"),
            (Some(k), None, Some(n)) => format!(" # {k} {n}"),
            _ => String::new(),
        };
        let yaml = serde_yaml_ng::to_string(r).expect("object serialises");
        let _ = writeln!(out, "    ---{what}");
        for line in yaml.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
}

/// One cause across subjects: a layer refusing for the same reason (targets: by the same objects).
struct Cause {
    title: String,
    subjects: Vec<String>,
    targets: usize,
}

/// Where `reason` names a rule of `by` (`CiliumNetworkPolicy ns/x spec.ingress[2]: ...`), that rule's
/// field path.
fn rule_of(by: &str, reason: &str) -> Option<String> {
    let at = reason.find(&format!("{by} spec."))? + by.len() + 1;
    let path: String = reason[at..]
        .chars()
        .take_while(|c| !matches!(c, ':' | ' ' | ',' | ';'))
        .collect();
    Some(path)
}

/// The causes of every subject, each once: the same objects refusing targets of many subjects are one
/// cause, with how many targets and subjects it breaks; most subjects first, then in layer order.
fn causes(report: &Report) -> Vec<Cause> {
    let mut keyed: Vec<(String, usize, Cause)> = Vec::new();
    let mut add = |key: String, layer: usize, title: String, subject: &str, targets: usize| {
        let i = match keyed.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                let cause = Cause {
                    title,
                    subjects: vec![],
                    targets: 0,
                };
                keyed.push((key, layer, cause));
                keyed.len() - 1
            }
        };
        let cause = &mut keyed[i].2;
        if !cause.subjects.iter().any(|x| x == subject) {
            cause.subjects.push(subject.to_string());
        }
        cause.targets += targets;
    };
    for s in &report.subjects {
        let subject = format!("{} {}/{}", s.kind, s.namespace, s.name);
        for c in s.conditions.iter().filter(|c| failing(c)) {
            let layer = conditions::LAYERS
                .iter()
                .position(|l| *l == c.type_)
                .unwrap_or(conditions::LAYERS.len());
            let groups = Side::of(&c.type_)
                .map(|side| groups(s, side))
                .unwrap_or_default();
            if groups.is_empty() {
                add(
                    format!("{}\0{}\0{}", c.type_, c.reason, c.message),
                    layer,
                    format!("{} {}: {}", c.type_, c.reason, c.message),
                    &subject,
                    0,
                );
            }
            for g in &groups {
                // The objects (and their rules) identify the cause; without any, the reason does.
                let by: Vec<String> = g
                    .decided_by
                    .iter()
                    .map(|r| {
                        let r = ref_text(r);
                        match rule_of(&r, g.reason) {
                            Some(rule) => format!("{r} {rule}"),
                            None => r,
                        }
                    })
                    .collect();
                let (key, title) = if by.is_empty() {
                    (
                        format!("{}\0{}\0\0{}", c.type_, g.verdict, g.reason),
                        format!("{} {}: {}", c.type_, g.verdict, g.reason),
                    )
                } else {
                    (
                        format!("{}\0{}\0{}", c.type_, g.verdict, by.join("\0")),
                        format!("{} {} by {}", c.type_, g.verdict, by.join(", ")),
                    )
                };
                add(key, layer, title, &subject, g.targets.len());
            }
        }
    }
    keyed.sort_by_key(|(_, layer, c)| (std::cmp::Reverse(c.subjects.len()), *layer));
    keyed.into_iter().map(|(_, _, c)| c).collect()
}

/// The causes across subjects, one entry each (the reasoning is in the subjects above), then the count
/// of Ready subjects.
fn summary_text(out: &mut String, report: &Report) {
    let causes = causes(report);
    if !causes.is_empty() {
        let _ = writeln!(
            out,
            "{}, by the subjects they break:",
            plural(causes.len(), "cause")
        );
        for (i, c) in causes.iter().enumerate() {
            let num = format!("  {}. ", i + 1);
            let pad = " ".repeat(num.chars().count());
            wrap_max(out, &num, &pad, &c.title, 2);
            let of = if c.targets > 0 {
                format!("{} of ", plural(c.targets, "target"))
            } else {
                String::new()
            };
            let subjects = if c.subjects.len() > NAMED_SUBJECTS {
                format!(
                    "{} ({} subjects)",
                    some_of(&c.subjects, NAMED_SUBJECTS),
                    c.subjects.len()
                )
            } else {
                some_of(&c.subjects, NAMED_SUBJECTS)
            };
            wrap(
                out,
                &pad,
                &format!("{pad}  "),
                &format!("breaks {of}{subjects}"),
            );
        }
    }
    count_line(out, report);
}

/// One subject with every layer's full message and every target (`-v`).
fn subject_text(out: &mut String, s: &SubjectReport) {
    let _ = writeln!(out, "{}", header(s));
    if !s.scrapers.is_empty() {
        let names: Vec<String> = s.scrapers.iter().map(ref_text).collect();
        wrap(out, "  scraper: ", "           ", &names.join(", "));
    }
    let aligned = " ".repeat(23);
    for c in &s.conditions {
        if c.type_ == conditions::READY {
            continue;
        }
        let lead = format!("  {}{:<17} ", mark(&c.status), c.type_);
        wrap(
            out,
            &lead,
            &aligned,
            &format!("{}: {}", c.reason, c.message),
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
            wrap(
                out,
                "    ",
                "        ",
                &format!(
                    "{port} {} <- {}: network {}, mesh {}{observed}",
                    t.path, t.scraper, t.network.verdict, t.mesh.verdict
                ),
            );
            if let Some(e) = t.observed.as_ref().and_then(|o| o.last_error.as_ref()) {
                wrap(out, "        last error: ", "            ", e);
            }
            if t.network.verdict != "Allowed" {
                layer_text(out, "why", &t.network);
            }
            if !matches!(t.mesh.verdict.as_str(), "Allowed" | "NotApplicable") {
                layer_text(out, "mesh", &t.mesh);
            }
        }
    }
    remediation_text(out, s);
    out.push('\n');
}

/// Why a layer refuses a target, and the objects that decide.
fn layer_text(out: &mut String, label: &str, l: &LayerOut) {
    wrap(
        out,
        &format!("        {label}: "),
        "            ",
        &l.reason,
    );
    if !l.decided_by.is_empty() {
        let by: Vec<String> = l.decided_by.iter().map(ref_text).collect();
        wrap(out, "        decided by: ", "            ", &by.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{evaluate, EngineConfig};
    use crate::index::ClusterIndex;
    use crate::load::{parse_text, LoadStats};

    /// Three PodMonitors on one Prometheus: `a` and `b` blocked by the same rule of one policy,
    /// `c` not selected (no `release` label) and blocked too.
    const WORLD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {kubernetes.io/metadata.name: app}}
---
apiVersion: v1
kind: Namespace
metadata: {name: monitoring, labels: {kubernetes.io/metadata.name: monitoring}}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: prom, namespace: monitoring}
spec:
  serviceAccountName: prometheus
  podMonitorSelector: {matchLabels: {release: prom}}
  podMonitorNamespaceSelector: {}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: same-namespace-only, namespace: app}
spec:
  endpointSelector: {}
  ingress:
  - fromEndpoints: [{}]
"#;

    fn pod_and_monitor(app: &str, ip: &str, labelled: bool) -> String {
        let labels = if labelled { "{release: prom}" } else { "{}" };
        format!(
            r#"
---
apiVersion: v1
kind: Pod
metadata: {{name: {app}-0, namespace: app, labels: {{app: {app}}}}}
spec: {{containers: [{{name: c, image: x, ports: [{{name: metrics, containerPort: 9100}}]}}]}}
status: {{phase: Running, podIP: {ip}}}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: {app}, namespace: app, labels: {labels}}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  podMetricsEndpoints: [{{port: metrics}}]
"#
        )
    }

    fn report() -> Report {
        let yaml = format!(
            "{WORLD}{}{}{}",
            pod_and_monitor("a", "10.0.0.1", true),
            pod_and_monitor("b", "10.0.0.2", true),
            pod_and_monitor("c", "10.0.0.3", false)
        );
        let mut stats = LoadStats::default();
        let mut idx = ClusterIndex::new();
        for o in parse_text(std::path::Path::new("t.yaml"), &yaml, &mut stats).unwrap() {
            idx.apply(o);
        }
        evaluate(&idx, &EngineConfig::default())
    }

    /// The lines of the report outside the fix blocks (YAML to apply is printed as is).
    fn prose(text: &str) -> Vec<&str> {
        let mut in_fix = false;
        text.lines()
            .filter(|l| {
                if l.starts_with("  fix (") {
                    in_fix = true;
                } else if !l.starts_with("    ") {
                    in_fix = false;
                }
                !in_fix
            })
            .collect()
    }

    #[test]
    fn causes_lead_each_subject_and_passing_layers_take_one_line() {
        let text = text(&report());
        let c: Vec<&str> = text
            .split("\n\n")
            .find(|s| s.starts_with("PodMonitor app/c:"))
            .unwrap()
            .lines()
            .collect();
        assert_eq!(
            c[0],
            "PodMonitor app/c: NOT READY (LabelsMismatch, BlockedByPolicy)"
        );
        assert!(
            c[1].starts_with("  XX MonitorSelected   LabelsMismatch: "),
            "{text}"
        );
        let network = c
            .iter()
            .position(|l| l.starts_with("  XX NetworkReachable  BlockedByPolicy: "))
            .unwrap();
        assert!(
            c[network + 1].contains(
                "Denied by CiliumNetworkPolicy app/same-namespace-only (1 target): app/c-0:9100"
            ),
            "{text}"
        );
        // The fix comes before the passing layers, each one line.
        let fix = c.iter().position(|l| l.starts_with("  fix (")).unwrap();
        let passing: Vec<usize> = (0..c.len())
            .filter(|&i| c[i].starts_with("  ok "))
            .collect();
        assert!(
            !passing.is_empty() && passing.iter().all(|&i| i > fix),
            "{text}"
        );
        assert!(c
            .iter()
            .any(|l| l.starts_with("  ok TargetsResolved   1 pods, 1 targets")));
        assert!(
            !text.contains("why:"),
            "the reasoning per target is for -v: {text}"
        );
    }

    #[test]
    fn one_rule_blocking_many_subjects_is_one_cause_with_a_count() {
        let text = text(&report());
        let summary = text
            .split("causes, by the subjects they break:\n")
            .nth(1)
            .unwrap();
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(
            lines[0],
            "  1. NetworkReachable Denied by CiliumNetworkPolicy app/same-namespace-only spec.ingress[0]",
            "{text}"
        );
        assert_eq!(
            lines[1],
            "     breaks 3 targets of PodMonitor app/a, PodMonitor app/b, PodMonitor app/c",
            "{text}"
        );
        assert!(
            lines[2].starts_with("  2. MonitorSelected LabelsMismatch: "),
            "{text}"
        );
        assert_eq!(
            summary
                .matches("same-namespace-only spec.ingress[0]")
                .count(),
            1,
            "{text}"
        );
        assert!(text.ends_with(
            "3 subjects: 0 ready, 3 not ready\n(-v: every target and the full reasoning of every layer)\n"
        ));
    }

    #[test]
    fn prose_fits_100_columns() {
        let r = report();
        for text in [text(&r), text_verbose(&r)] {
            for l in prose(&text) {
                assert!(
                    l.chars().count() <= WIDTH,
                    "{} columns: {l}",
                    l.chars().count()
                );
            }
        }
    }

    #[test]
    fn verbose_is_the_full_reasoning() {
        let r = report();
        let v = render_with(&r, Format::Text, true);
        assert!(v.contains("        why: "), "{v}");
        assert!(v.contains("        decided by: CiliumNetworkPolicy app/same-namespace-only"));
        // Every layer's whole message (wrapped).
        let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        let all = words(&v);
        for s in &r.subjects {
            for c in &s.conditions {
                if c.type_ != conditions::READY {
                    assert!(all.contains(&words(&c.message)), "{}", c.message);
                }
            }
        }
        assert!(v.contains("causes, by the subjects they break:"));
    }

    #[test]
    fn json_and_yaml_do_not_depend_on_verbose() {
        let r = report();
        for f in [Format::Json, Format::Yaml] {
            assert_eq!(render_with(&r, f, true), render(&r, f));
        }
        assert_eq!(
            render(&r, Format::Json),
            format!("{}\n", serde_json::to_string_pretty(&r).unwrap())
        );
    }
}
