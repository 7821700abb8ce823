//! The `<relabel_config>` section of Prometheus' configuration documentation
//! (docs/configuration/configuration.md), statement by statement: one row per documented behaviour,
//! every action, through the one relabel engine and through a scrape_configs job.

use std::path::Path;

use scrapepath::index::ClusterIndex;
use scrapepath::load::{parse_text, LoadStats};
use scrapepath::relabel::{dropping_rule, Labels, RelabelConfig, RelabelSpec};
use scrapepath::scrapeconfig::{discover, parse_config};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `Some(labels)` when kept, `None` when dropped.
fn run(input: &[(&str, &str)], rules: &[&str]) -> Option<Labels> {
    let configs: Vec<RelabelConfig> = rules
        .iter()
        .map(|r| {
            let spec: RelabelSpec = serde_yaml_ng::from_str(r).expect("rule parses");
            RelabelConfig::compile(&spec).unwrap_or_else(|e| panic!("{r}: {e}"))
        })
        .collect();
    let mut l = labels(input);
    match dropping_rule(&mut l, &configs) {
        Some(_) => None,
        None => Some(l),
    }
}

struct Row {
    /// The documentation's words.
    doc: &'static str,
    input: &'static [(&'static str, &'static str)],
    rules: &'static [&'static str],
    want: Option<&'static [(&'static str, &'static str)]>,
}

const ROWS: &[Row] = &[
    Row {
        doc: "separator defaults to ;, regex to (.*), replacement to $1, action to replace",
        input: &[("a", "x"), ("b", "y")],
        rules: &["{source_labels: [a, b], target_label: c}"],
        want: Some(&[("a", "x"), ("b", "y"), ("c", "x;y")]),
    },
    Row {
        doc: "Separator placed between concatenated source label values",
        input: &[("a", "x"), ("b", "y")],
        rules: &["{source_labels: [a, b], separator: '/', target_label: c}"],
        want: Some(&[("a", "x"), ("b", "y"), ("c", "x/y")]),
    },
    Row {
        doc: "The regex is anchored on both ends",
        input: &[("a", "foo")],
        rules: &["{source_labels: [a], regex: oo, action: keep}"],
        want: None,
    },
    Row {
        doc: "To un-anchor the regex, use .*<regex>.*",
        input: &[("a", "foo")],
        rules: &["{source_labels: [a], regex: .*oo.*, action: keep}"],
        want: Some(&[("a", "foo")]),
    },
    Row {
        doc: "replace: set target_label to replacement, with match group references substituted",
        input: &[("__address__", "10.0.0.1:8080"), ("port", "9100")],
        rules: &["{source_labels: [__address__, port], regex: '([^:]+)(?::\\d+)?;(\\d+)', replacement: '${1}:${2}', target_label: __address__}"],
        want: Some(&[("__address__", "10.0.0.1:9100"), ("port", "9100")]),
    },
    Row {
        doc: "replace: if regex does not match, no replacement takes place",
        input: &[("a", "foo"), ("t", "keep-me")],
        rules: &["{source_labels: [a], regex: 'bar(.*)', target_label: t}"],
        want: Some(&[("a", "foo"), ("t", "keep-me")]),
    },
    Row {
        doc: "target_label: regex capture groups are available",
        input: &[("a", "env-prod")],
        rules: &["{source_labels: [a], regex: '(\\w+)-(\\w+)', target_label: '${1}', replacement: '${2}'}"],
        want: Some(&[("a", "env-prod"), ("env", "prod")]),
    },
    Row {
        doc: "lowercase: maps the concatenated source_labels to their lower case",
        input: &[("a", "Foo"), ("b", "BAR")],
        rules: &["{source_labels: [a, b], action: lowercase, target_label: c}"],
        want: Some(&[("a", "Foo"), ("b", "BAR"), ("c", "foo;bar")]),
    },
    Row {
        doc: "uppercase: maps the concatenated source_labels to their upper case",
        input: &[("a", "Foo")],
        rules: &["{source_labels: [a], action: uppercase, target_label: c}"],
        want: Some(&[("a", "Foo"), ("c", "FOO")]),
    },
    Row {
        doc: "keep: drop targets for which regex does not match the concatenated source_labels",
        input: &[("a", "x"), ("b", "y")],
        rules: &["{source_labels: [a, b], regex: 'x;z', action: keep}"],
        want: None,
    },
    Row {
        doc: "drop: drop targets for which regex matches the concatenated source_labels",
        input: &[("a", "x"), ("b", "y")],
        rules: &["{source_labels: [a, b], regex: 'x;y', action: drop}"],
        want: None,
    },
    Row {
        doc: "keepequal: drop targets for which the concatenated source_labels do not match target_label",
        input: &[("port", "80"), ("want", "8080")],
        rules: &["{source_labels: [port], target_label: want, action: keepequal}"],
        want: None,
    },
    Row {
        doc: "dropequal: drop targets for which the concatenated source_labels do match target_label",
        input: &[("port", "80"), ("want", "80")],
        rules: &["{source_labels: [port], target_label: want, action: dropequal}"],
        want: None,
    },
    Row {
        doc: "hashmod: set target_label to the modulus of a hash of the concatenated source_labels",
        // md5("baz") mod 1000 = 976 (Prometheus' relabel_test.go).
        input: &[("c", "baz")],
        rules: &["{source_labels: [c], target_label: d, modulus: 1000, action: hashmod}"],
        want: Some(&[("c", "baz"), ("d", "976")]),
    },
    Row {
        doc: "labelmap: match regex against all source label names, not just those in source_labels",
        input: &[("__meta_kubernetes_pod_label_app", "web"), ("x", "1")],
        rules: &["{source_labels: [x], regex: '__meta_kubernetes_pod_label_(.+)', action: labelmap}"],
        want: Some(&[("__meta_kubernetes_pod_label_app", "web"), ("app", "web"), ("x", "1")]),
    },
    Row {
        doc: "labeldrop: any label that matches will be removed from the set of labels",
        input: &[("a", "1"), ("b1", "2"), ("b2", "3")],
        rules: &["{regex: 'b.*', action: labeldrop}"],
        want: Some(&[("a", "1")]),
    },
    Row {
        doc: "labelkeep: any label that does not match will be removed from the set of labels",
        input: &[("a", "1"), ("b1", "2"), ("b2", "3")],
        rules: &["{regex: 'b.*', action: labelkeep}"],
        want: Some(&[("b1", "2"), ("b2", "3")]),
    },
    Row {
        doc: "use the __tmp label name prefix to store a value temporarily for a later step",
        input: &[("a", "x:1")],
        rules: &[
            "{source_labels: [a], regex: '([^:]+):.*', target_label: __tmp_host}",
            "{source_labels: [__tmp_host], target_label: host}",
        ],
        want: Some(&[("__tmp_host", "x"), ("a", "x:1"), ("host", "x")]),
    },
];

#[test]
fn every_documented_relabel_behaviour_holds() {
    let mut failures = Vec::new();
    for row in ROWS {
        let got = run(row.input, row.rules);
        let want = row.want.map(labels);
        if got != want {
            failures.push(format!("{}: want {want:?}, got {got:?}", row.doc));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_action_has_a_documented_row() {
    for action in [
        "replace",
        "lowercase",
        "uppercase",
        "keep",
        "drop",
        "keepequal",
        "dropequal",
        "hashmod",
        "labelmap",
        "labeldrop",
        "labelkeep",
    ] {
        assert!(
            ROWS.iter()
                .any(|r| r.doc.starts_with(&format!("{action}:"))),
            "no row for {action}"
        );
    }
}

/// "Initially, a target's job label is set to the job_name ... __address__ to <host>:<port> ...
/// After relabeling, the instance label is set to the value of __address__ by default if it was not
/// set during relabeling. The __scheme__ and __metrics_path__ labels are set to the scheme and metrics
/// path of the target ... The __scrape_interval__ ... labels are set to the target's interval."
#[test]
fn a_jobs_targets_carry_the_documented_initial_labels_and_instance_default() {
    let cluster = r#"
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: app}
spec: {containers: [{name: web, ports: [{name: metrics, containerPort: 9100}]}]}
status: {phase: Running, podIP: 10.0.0.5}
"#;
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    for o in parse_text(Path::new("c.yaml"), cluster, &mut stats).unwrap() {
        idx.apply(o);
    }
    let cfg = parse_config(
        r#"
global: {scrape_interval: 15s}
scrape_configs:
- job_name: defaults
  kubernetes_sd_configs: [{role: pod}]
- job_name: relabelled
  scheme: https
  metrics_path: /m
  kubernetes_sd_configs: [{role: pod}]
  relabel_configs:
  - {source_labels: [__address__], target_label: __param_target}
  - {source_labels: [__meta_kubernetes_pod_name], target_label: instance}
"#,
    )
    .unwrap();
    let d = discover(cfg.job("defaults").unwrap(), &idx, "mon");
    let t = &d.targets[0];
    assert_eq!(t.labels["job"], "defaults");
    assert_eq!(t.labels["__address__"], "10.0.0.5:9100");
    assert_eq!(t.labels["instance"], "10.0.0.5:9100");
    assert_eq!(t.labels["__scheme__"], "http");
    assert_eq!(t.labels["__metrics_path__"], "/metrics");
    assert_eq!(t.labels["__scrape_interval__"], "15s");
    let d = discover(cfg.job("relabelled").unwrap(), &idx, "mon");
    let t = &d.targets[0];
    // instance set during relabeling is kept; scheme and path come from the job.
    assert_eq!(t.labels["instance"], "web-0");
    assert_eq!((t.scheme.as_str(), t.path.as_str()), ("https", "/m"));
    assert_eq!(t.labels["__param_target"], "10.0.0.5:9100");
}
