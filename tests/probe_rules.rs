//! Truth tables for `semantics/prometheus-operator-probe.md` (P1–P9): a Probe's selection and rejection,
//! the job prometheus-operator generates for it, the shard of each probed target, and the two network legs
//! of the Probe subject (scraper to prober, prober to probed targets). Bad input (a hostname target, a
//! prober URL with a scheme, an empty targets section, a malformed spec) gives a verdict or a message.

use std::path::Path;

use scrapepath::engine::{evaluate, EngineConfig, SubjectReport};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{parse_text, LoadStats};
use scrapepath::model::Labels;
use scrapepath::promop::{self, ShardKey, ShardRule};

fn world(yaml: &str) -> ClusterIndex {
    let mut stats = LoadStats::default();
    let mut idx = ClusterIndex::new();
    for o in parse_text(Path::new("t.yaml"), yaml, &mut stats).expect("fixtures parse") {
        idx.apply(o);
    }
    idx
}

/// A Prometheus `k` in monitoring with `spec` (selectors), its Ready pod at 10.0.1.10.
fn prometheus(spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: monitoring}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: shop, labels: {{team: shop}}}}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k, namespace: monitoring}}
spec:
  version: v3.5.0
  serviceAccountName: prometheus
{spec}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k-0
  namespace: monitoring
  labels: {{app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k, operator.prometheus.io/shard: "0"}}
spec: {{containers: [{{name: prometheus, image: prom/prometheus, ports: [{{name: web, containerPort: 9090}}]}}]}}
status: {{phase: Running, podIP: 10.0.1.10, conditions: [{{type: Ready, status: "True"}}]}}
"#
    )
}

fn probe(ns: &str, labels: &str, spec: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: Probe\nmetadata: {{name: health, namespace: {ns}, labels: {{{labels}}}}}\nspec:\n{spec}\n"
    )
}

const STATIC: &str =
    "  prober: {url: 'blackbox.monitoring.svc:9115'}\n  targets: {staticConfig: {static: ['web.shop.svc:8080']}}";

/// P1: (probeSelector/probeNamespaceSelector, Probe namespace, labels) → selected, or the reason.
#[test]
fn p1_selection_by_probe_selector_and_namespace_selector() {
    let rows: &[(&str, &str, &str, Result<(), &str>)] = &[
        (
            "  serviceMonitorSelector: {}",
            "monitoring",
            "",
            Err("no spec.probeSelector (null selects nothing)"),
        ),
        (
            "",
            "monitoring",
            "",
            Err("leaves its configuration unmanaged"),
        ),
        ("  probeSelector: {}", "monitoring", "", Ok(())),
        (
            "  probeSelector: {}",
            "shop",
            "",
            Err("only its own namespace monitoring"),
        ),
        (
            "  probeSelector: {}\n  probeNamespaceSelector: {}",
            "shop",
            "",
            Ok(()),
        ),
        (
            "  probeSelector: {}\n  probeNamespaceSelector: {matchLabels: {team: other}}",
            "shop",
            "",
            Err("namespace shop does not match"),
        ),
        (
            "  probeSelector: {matchLabels: {release: a}}",
            "monitoring",
            "release: b",
            Err("lacks release=a"),
        ),
        (
            "  probeSelector: {matchLabels: {release: a}}",
            "monitoring",
            "release: a",
            Ok(()),
        ),
        (
            "  probeSelector: {}\n  paused: true",
            "monitoring",
            "",
            Err("is paused"),
        ),
    ];
    for (spec, ns, labels, want) in rows {
        let idx = world(&format!(
            "{}---\n{}",
            prometheus(spec),
            probe(ns, labels, STATIC)
        ));
        let p = idx.prometheuses().next().unwrap();
        let pr = idx.probe(ns, "health").unwrap();
        let got = promop::selects_probe(p, pr, &idx)
            .map_err(|e| e.message_for(p, scrapepath::model::Kind::Probe, ns, "health"));
        match (want, &got) {
            (Ok(()), Ok(())) => {}
            (Err(w), Err(g)) if g.contains(w) => {}
            _ => panic!("{spec:?} {ns} {labels:?}: want {want:?}, got {got:?}"),
        }
    }
    // P1: a DaemonSet-mode agent renders no Probe.
    let idx = world(&format!(
        "apiVersion: monitoring.coreos.com/v1alpha1\nkind: PrometheusAgent\nmetadata: {{name: a, namespace: monitoring}}\nspec: {{mode: DaemonSet, probeSelector: {{}}}}\n---\n{}",
        probe("monitoring", "", STATIC)
    ));
    let p = idx.prometheuses().next().unwrap();
    let pr = idx.probe("monitoring", "health").unwrap();
    assert!(promop::selects_probe(p, pr, &idx).is_err());
}

/// P2, P3: a selected Probe's spec → the first rejection (substring), or accepted.
#[test]
fn p2_p3_rejections_in_the_operators_order() {
    let rows: &[(&str, Option<&str>)] = &[
        (STATIC, None),
        ("  prober: {url: blackbox.monitoring.svc:9115}\n  targets: {}", Some("at least one of .spec.targets.staticConfig and .spec.targets.ingress is required")),
        ("  prober: {url: blackbox.monitoring.svc:9115}", Some("at least one of")),
        ("  prober: {url: 'http://blackbox:9115'}\n  targets: {staticConfig: {static: [a:1]}}", Some("should be of the format `hostname` or `hostname:port`: invalid host: \"http://blackbox:9115\"")),
        ("  prober: {url: 'blackbox:0'}\n  targets: {staticConfig: {static: [a:1]}}", Some("invalid port: \"0\"")),
        ("  prober: {url: 'blackbox:port'}\n  targets: {staticConfig: {static: [a:1]}}", Some("invalid port: \"port\"")),
        ("  prober: {url: ''}\n  targets: {staticConfig: {static: [a:1]}}", Some("invalid host: \"\"")),
        ("  prober: {url: 'blackbox'}\n  targets: {staticConfig: {static: [a:1]}}", None),
        ("  prober: {url: '[::1]:9115'}\n  targets: {staticConfig: {static: [a:1]}}", None),
        ("  prober: {url: '10.0.0.9:9115'}\n  targets: {staticConfig: {static: [a:1]}}", None),
        ("  scrapeClass: missing\n  interval: 5s\n  scrapeTimeout: 10s\nSTATIC", Some("scrapeClassName: spec.scrapeClass \"missing\"")),
        ("  interval: 5s\n  scrapeTimeout: 10s\nSTATIC", Some("scrapeTimeout 10s is greater than the interval 5s")),
        ("  prober: {url: b:1}\n  targets: {staticConfig: {static: [a:1], relabelingConfigs: [{action: keep, sourceLabels: [x], regex: 'a('}]}}", Some("spec.targets.staticConfig.relabelingConfigs[0]")),
        ("  prober: {url: b:1}\n  targets: {ingress: {relabelingConfigs: [{action: Bogus}]}}", Some("spec.targets.ingress.relabelingConfigs[0]")),
        ("  metricRelabelings: [{action: labeldrop, regex: '[z'}]\nSTATIC", Some("spec.metricRelabelings[0]")),
    ];
    for (spec, want) in rows {
        let spec = spec.replace("STATIC", STATIC);
        let idx = world(&format!(
            "{}---\n{}",
            prometheus("  probeSelector: {}"),
            probe("monitoring", "", &spec)
        ));
        let p = idx.prometheuses().next().unwrap();
        let pr = idx.probe("monitoring", "health").unwrap();
        let got = promop::probe_rejections(p, pr);
        match want {
            None => assert!(got.is_empty(), "{spec}: rejected {got:?}"),
            Some(w) => assert!(
                got.first().is_some_and(|g| g.contains(w)),
                "{spec}: want first rejection {w:?}, got {got:?}"
            ),
        }
    }
}

/// P4–P6: the generated job's targets: (spec) → per target (address, __param_target, path, scheme,
/// __param_module, instance, job, team label).
#[test]
fn p4_p6_the_job_scrapes_the_prober_with_each_target_as_a_parameter() {
    type Row<'a> = (&'a str, &'a [[&'a str; 8]]);
    let rows: &[Row] = &[
        (
            "  module: http_2xx\n  prober: {url: 'bb:9115'}\n  targets: {staticConfig: {static: ['web.shop.svc:8080', 'https://example.com'], labels: {team: sre}}}",
            &[
                ["bb:9115", "web.shop.svc:8080", "/probe", "http", "http_2xx", "web.shop.svc:8080", "probe/monitoring/health", "sre"],
                ["bb:9115", "https://example.com", "/probe", "http", "http_2xx", "https://example.com", "probe/monitoring/health", "sre"],
            ],
        ),
        (
            "  jobName: blackbox\n  prober: {url: bb, scheme: HTTPS, path: /p}\n  params: [{name: module, values: [icmp, x]}, {name: debug, values: ['true']}]\n  targets: {staticConfig: {static: [a:1]}}",
            &[["bb", "a:1", "/p", "https", "icmp", "a:1", "blackbox", ""]],
        ),
        (
            // spec.module wins over a params entry named module.
            "  module: tcp_connect\n  prober: {url: bb:1}\n  params: [{name: module, values: [icmp]}]\n  targets: {staticConfig: {static: [a:1]}}",
            &[["bb:1", "a:1", "/probe", "http", "tcp_connect", "a:1", "probe/monitoring/health", ""]],
        ),
        (
            "  prober: {url: bb:1}\n  targets: {staticConfig: {static: [a:1, b:2], relabelingConfigs: [{action: drop, sourceLabels: [__param_target], regex: 'b:2'}]}}",
            &[["bb:1", "a:1", "/probe", "http", "", "a:1", "probe/monitoring/health", ""]],
        ),
        ("  prober: {url: bb:1}\n  targets: {staticConfig: {static: []}}", &[]),
    ];
    for (spec, want) in rows {
        let idx = world(&format!(
            "{}---\n{}",
            prometheus("  probeSelector: {}"),
            probe("monitoring", "", spec)
        ));
        let p = idx.prometheuses().next().unwrap();
        let pr = idx.probe("monitoring", "health").unwrap();
        let job = promop::probe_job(p, pr).unwrap();
        let d = scrapepath::scrapeconfig::discover(&job, &idx, "monitoring");
        let got: Vec<[String; 8]> = d
            .targets
            .iter()
            .map(|t| {
                let l = |k: &str| t.labels.get(k).cloned().unwrap_or_default();
                [
                    t.address.clone(),
                    l("__param_target"),
                    t.path.clone(),
                    t.scheme.clone(),
                    l("__param_module"),
                    l("instance"),
                    l("job"),
                    l("team"),
                ]
            })
            .collect();
        let want: Vec<[String; 8]> = want.iter().map(|r| r.map(str::to_string)).collect();
        assert_eq!(got, want, "{spec}");
        // P6: the static group carries the Probe's namespace unless its labels set one.
        assert!(d
            .targets
            .iter()
            .all(|t| t.labels["namespace"] == "monitoring"));
    }
}

/// P8: the shard key is the probed target, `__tmp_hash` where set, every shard with
/// `__tmp_disable_sharding`.
#[test]
fn p8_probes_are_sharded_by_the_probed_target() {
    let l = |pairs: &[(&str, &str)]| -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let rows: &[(&[(&str, &str)], ShardKey)] = &[
        (
            &[("__address__", "bb:9115"), ("__param_target", "a:1")],
            ShardKey::address("a:1"),
        ),
        (
            &[
                ("__address__", "bb:9115"),
                ("__param_target", "a:1"),
                ("__tmp_hash", "h"),
            ],
            ShardKey::address("h"),
        ),
        (
            &[
                ("__param_target", "a:1"),
                ("__tmp_disable_sharding", "true"),
            ],
            ShardKey {
                rule: ShardRule::Disabled,
                zone: None,
            },
        ),
        (&[("__address__", "bb:9115")], ShardKey::address("")),
    ];
    for (labels, want) in rows {
        assert_eq!(&ShardKey::of_probe_target(&l(labels)), want, "{labels:?}");
    }
    // Two probed targets with one address land on the shards of their own hashes.
    let (a, b) = ("http://a.shop.svc:8080/", "http://b.shop.svc:8080/");
    let two = promop::Sharding {
        shards: 2,
        zones: vec![],
    };
    assert_eq!(
        ShardKey::address(a).shards(&two),
        Some(vec![scrapepath::relabel::hash_mod(a, 2) as u32])
    );
    assert_eq!(
        ShardKey::address(b).shards(&two),
        Some(vec![scrapepath::relabel::hash_mod(b, 2) as u32])
    );
}

/// The blackbox-exporter in monitoring behind Service `blackbox`, and `web` in shop behind Service `web`.
fn two_leg_world(policies: &str, probe_spec: &str) -> Vec<SubjectReport> {
    let yaml = format!(
        r#"{}
---
apiVersion: v1
kind: Pod
metadata: {{name: blackbox-0, namespace: monitoring, labels: {{app: blackbox}}}}
spec: {{containers: [{{name: bb, image: bb, ports: [{{name: http, containerPort: 9115}}]}}]}}
status: {{phase: Running, podIP: 10.0.1.20, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: blackbox, namespace: monitoring}}
spec: {{selector: {{app: blackbox}}, ports: [{{name: http, port: 9115, targetPort: http}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-0, namespace: shop, labels: {{app: web}}}}
spec: {{containers: [{{name: web, image: web, ports: [{{name: http, containerPort: 8080}}]}}]}}
status: {{phase: Running, podIP: 10.0.2.30, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: shop}}
spec: {{selector: {{app: web}}, ports: [{{name: http, port: 80, targetPort: 8080}}]}}
---
{}
{policies}"#,
        prometheus("  probeSelector: {}"),
        probe("monitoring", "", probe_spec)
    );
    let idx = world(&yaml);
    evaluate(&idx, &EngineConfig::default()).subjects
}

fn probe_subject(subjects: &[SubjectReport]) -> &SubjectReport {
    subjects
        .iter()
        .find(|s| s.kind == "Probe")
        .expect("the Probe subject")
}

fn cond<'s>(s: &'s SubjectReport, t: &str) -> (&'s str, &'s str, &'s str) {
    let c = s.condition(t).unwrap_or_else(|| panic!("no {t}"));
    (&c.status, &c.reason, &c.message)
}

const DENY_SHOP_FROM_MONITORING: &str = r#"---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: shop-only, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {}}]}]
"#;

const ADMIT_ONLY_PROMETHEUS_AT_SHOP: &str = r#"---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: prometheus-only, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}}]}]
"#;

const DENY_MONITORING_INGRESS: &str = r#"---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: blackbox-closed, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: blackbox}}
  policyTypes: [Ingress]
"#;

const WEB_PROBE: &str = "  module: http_2xx\n  prober: {url: 'blackbox.monitoring.svc:9115'}\n  targets: {staticConfig: {static: ['http://web.shop.svc/healthz', 'https://status.example.com']}}";

/// P9: both legs, each judged from its own source; Ready needs both.
#[test]
fn p9_the_network_verdict_has_two_legs_both_needed() {
    // (policies, probe spec) → (Ready, NetworkReachable status, a leg named in the message, a policy named).
    let rows: &[(&str, &str, bool, &str, &str, &str)] = &[
        ("", WEB_PROBE, true, "True", "leg 2, prober to probed targets: 1/1 targets admit the prober", ""),
        (DENY_SHOP_FROM_MONITORING, WEB_PROBE, false, "False", "leg 2, prober to probed targets: 1/1 targets are unreachable from monitoring/blackbox-0", "shop/shop-only"),
        // Prometheus is admitted at the target, but the prober is what connects to it.
        (ADMIT_ONLY_PROMETHEUS_AT_SHOP, WEB_PROBE, false, "False", "leg 2", "shop/prometheus-only"),
        (DENY_MONITORING_INGRESS, WEB_PROBE, false, "False", "leg 1, scraper to prober: 1/1 targets are unreachable from monitoring/k", "monitoring/blackbox-closed"),
    ];
    for (policies, spec, ready, status, leg, policy) in rows {
        let subjects = two_leg_world(policies, spec);
        let s = probe_subject(&subjects);
        let (st, _, msg) = cond(s, "NetworkReachable");
        assert_eq!((s.ready, st), (*ready, *status), "{policies}: {msg}");
        assert!(msg.contains(leg), "{policies}: {msg}");
        if !policy.is_empty() {
            assert!(
                s.blocked_by
                    .iter()
                    .any(|b| format!("{}/{}", b.0.namespace, b.0.name) == *policy),
                "{policies}: blocked_by {:?}",
                s.blocked_by
            );
        }
        // The target port is the Service's target port, the path the probed URL's.
        let (_, _, resolved) = cond(s, "TargetsResolved");
        assert!(
            resolved.contains(
                "hostnames, resolved only at probe time (not judged): status.example.com"
            ),
            "{resolved}"
        );
        let web = s
            .targets
            .iter()
            .find(|t| t.pod == "shop/web-0")
            .expect("leg 2 target");
        assert_eq!((web.port, web.path.as_str()), (8080, "/healthz"));
        assert_eq!(web.scraper, "monitoring/blackbox-0");
        let bb = s
            .targets
            .iter()
            .find(|t| t.pod == "monitoring/blackbox-0")
            .expect("leg 1 target");
        assert_eq!((bb.port, bb.path.as_str()), (9115, "/probe"));
    }
    // The remedy of leg 2 admits the prober's pods, not Prometheus'.
    let subjects = two_leg_world(DENY_SHOP_FROM_MONITORING, WEB_PROBE);
    let fix = serde_json::to_string(&probe_subject(&subjects).remediation).unwrap();
    assert!(fix.contains("\"app\":\"blackbox\""), "{fix}");
}

/// Bad input: a prober that resolves to nothing, a hostname-only Probe, an empty static list, a prober
/// URL with a scheme, a malformed spec.
#[test]
fn bad_input_gives_verdicts_and_messages() {
    // A prober Service that does not exist names the URL.
    let subjects = two_leg_world(
        "",
        &WEB_PROBE.replace("blackbox.monitoring", "nothing.monitoring"),
    );
    let s = probe_subject(&subjects);
    let (st, _, msg) = cond(s, "TargetsResolved");
    assert_eq!(st, "False");
    assert!(
        msg.contains(
            "the prober \"nothing.monitoring.svc:9115\" (spec.prober.url) resolves to no pod"
        ),
        "{msg}"
    );
    // A port the prober's Service does not have.
    let subjects = two_leg_world("", &WEB_PROBE.replace(":9115", ":9999"));
    let (st, _, msg) = cond(probe_subject(&subjects), "TargetsResolved");
    assert_eq!(st, "False");
    assert!(
        msg.contains("Service monitoring/blackbox has no port 9999 (its ports: 9115)"),
        "{msg}"
    );
    // A prober URL without a port is the scheme's port: 443 for https, which the Service lacks.
    let subjects = two_leg_world(
        "",
        &WEB_PROBE.replace(
            "'blackbox.monitoring.svc:9115'}",
            "blackbox.monitoring.svc, scheme: https}",
        ),
    );
    let (st, _, msg) = cond(probe_subject(&subjects), "TargetsResolved");
    assert_eq!(st, "False");
    assert!(
        msg.contains("Service monitoring/blackbox has no port 443"),
        "{msg}"
    );
    // Only hostnames: resolved at probe time, not judged, and nothing blocks Ready.
    let subjects = two_leg_world(
        DENY_SHOP_FROM_MONITORING,
        "  prober: {url: 'blackbox.monitoring.svc:9115'}\n  targets: {staticConfig: {static: [example.com, 'https://status.example.com']}}",
    );
    let s = probe_subject(&subjects);
    assert!(s.ready, "{:?}", s.conditions);
    let (_, _, msg) = cond(s, "TargetsResolved");
    assert!(
        msg.contains("resolved only at probe time (not judged): example.com, status.example.com"),
        "{msg}"
    );
    assert_eq!(cond(s, "NetworkReachable").0, "True");
    // An empty static list probes nothing.
    let subjects = two_leg_world(
        "",
        "  prober: {url: 'blackbox.monitoring.svc:9115'}\n  targets: {staticConfig: {static: []}}",
    );
    let (st, reason, msg) = cond(probe_subject(&subjects), "TargetsResolved");
    assert_eq!((st, reason), ("False", "NoTargets"));
    assert!(
        msg.contains("spec.targets.staticConfig.static lists no target"),
        "{msg}"
    );
    // A prober URL with a scheme, and an empty targets section: rejected with the operator's reasons.
    for (spec, want) in [
        ("  prober: {url: 'http://blackbox.monitoring.svc:9115'}\n  targets: {staticConfig: {static: [a:1]}}", "should be of the format `hostname` or `hostname:port`"),
        ("  prober: {url: 'blackbox.monitoring.svc:9115'}\n  targets: {}", "at least one of .spec.targets.staticConfig and .spec.targets.ingress is required"),
    ] {
        let subjects = two_leg_world("", spec);
        let s = probe_subject(&subjects);
        let (st, reason, msg) = cond(s, "MonitorSelected");
        assert_eq!((st, reason), ("False", "MonitorRejected"), "{msg}");
        assert!(msg.contains(want), "{msg}");
        assert!(!s.ready);
    }
    // A malformed spec is a load error naming the object, not a panic.
    let mut stats = LoadStats::default();
    let err = parse_text(
        Path::new("bad.yaml"),
        "apiVersion: monitoring.coreos.com/v1\nkind: Probe\nmetadata: {name: bad, namespace: x}\nspec: {targets: {staticConfig: {static: 5}}}\n",
        &mut stats,
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(err.contains("bad.yaml") && err.contains("Probe"), "{err}");
}

/// P8 with P9: leg 1 is judged from the pods of the shard that owns the probed target (hashmod of
/// `__param_target`), not from every scraper pod: the prober admits only shard 0's pod, so a Probe whose
/// target hashes to shard 0 is Ready and one whose target hashes to shard 1 is blocked at the prober.
#[test]
fn p8_p9_leg_1_is_judged_from_the_shard_that_owns_the_probed_target() {
    let on_shard = |shard: u64| {
        (0..)
            .map(|i| format!("t{i}.example.com"))
            .find(|t| scrapepath::relabel::hash_mod(t, 2) == shard)
            .unwrap()
    };
    for (shard, ready) in [(0, true), (1, false)] {
        let target = on_shard(shard);
        let yaml = format!(
            r#"{}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k-shard-1-0
  namespace: monitoring
  labels: {{app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k, operator.prometheus.io/shard: "1"}}
spec: {{containers: [{{name: prometheus, image: prom/prometheus, ports: [{{name: web, containerPort: 9090}}]}}]}}
status: {{phase: Running, podIP: 10.0.1.11, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: blackbox-0, namespace: monitoring, labels: {{app: blackbox}}}}
spec: {{containers: [{{name: bb, image: bb, ports: [{{name: http, containerPort: 9115}}]}}]}}
status: {{phase: Running, podIP: 10.0.1.20, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: blackbox, namespace: monitoring}}
spec: {{selector: {{app: blackbox}}, ports: [{{name: http, port: 9115, targetPort: http}}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: shard-0-only, namespace: monitoring}}
spec:
  podSelector: {{matchLabels: {{app: blackbox}}}}
  policyTypes: [Ingress]
  ingress: [{{from: [{{podSelector: {{matchLabels: {{operator.prometheus.io/shard: "0"}}}}}}]}}]
---
{}"#,
            prometheus("  probeSelector: {}\n  shards: 2"),
            probe(
                "monitoring",
                "",
                &format!("  prober: {{url: 'blackbox.monitoring.svc:9115'}}\n  targets: {{staticConfig: {{static: ['{target}']}}}}")
            )
        );
        let idx = world(&yaml);
        let subjects = evaluate(&idx, &EngineConfig::default()).subjects;
        let s = probe_subject(&subjects);
        let (st, _, msg) = cond(s, "NetworkReachable");
        assert_eq!(s.ready, ready, "shard {shard}: {msg}");
        assert_eq!(st, if ready { "True" } else { "False" }, "{msg}");
        if !ready {
            assert!(msg.contains("leg 1, scraper to prober"), "{msg}");
            assert!(
                s.blocked_by.iter().any(|b| b.0.name == "shard-0-only"),
                "{:?}",
                s.blocked_by
            );
        }
    }
}

/// Ingresses of shop and other: `web` (class nginx, TLS for `*.shop.example`, a rule of two paths one of
/// them empty, a rule without `http`, a rule without host), `api` (no TLS, labelled app: api, in
/// namespace other).
const INGRESSES: &str = r#"---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop, labels: {app: web, tier.io/x: y}, annotations: {team: sre}}
spec:
  ingressClassName: nginx
  tls: [{hosts: ['*.shop.example'], secretName: tls}]
  rules:
  - host: www.shop.example
    http:
      paths:
      - {path: /health, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
  - host: status.example.com
  - http:
      paths:
      - {path: /x, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: api, namespace: other, labels: {app: api}}
spec:
  rules:
  - host: api.other.example
    http:
      paths:
      - {path: /v1, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
"#;

/// The targets of the Probe `shop/health` with `ingress` as its `spec.targets.ingress`, selected by a
/// Prometheus with `prom_spec`, discovered on the world and `extra` objects.
fn ingress_probe_targets(
    prom_spec: &str,
    ingress: &str,
    extra: &str,
) -> scrapepath::scrapeconfig::Discovery {
    let spec = format!("  prober: {{url: 'bb:9115'}}\n  targets: {{ingress: {ingress}}}");
    let idx = world(&format!(
        "{}---\n{}{extra}",
        prometheus(prom_spec),
        probe("shop", "", &spec)
    ));
    let p = idx.prometheuses().next().unwrap();
    let job = promop::probe_job(p, idx.probe("shop", "health").unwrap()).unwrap();
    scrapepath::scrapeconfig::discover(&job, &idx, "monitoring")
}

/// P7 with Prometheus' role `ingress`: one target per rule × path (`/` for an empty path and for a
/// rule without `http`), the host as `__address__`, https where a TLS host (a `*.` pattern too) matches;
/// the operator's selector as keep/drop rules on the Ingress' labels, its namespace selector as the
/// SD's namespaces; `__param_target` = `<scheme>://<host><path>`, the prober as the address.
#[test]
fn p7_ingress_targets_are_discovered_as_prometheus_discovers_them() {
    // (ingress section) → [(__param_target, instance, ingress label, namespace label)].
    let rows: &[(&str, &[[&str; 4]])] = &[
        (
            "{selector: {matchLabels: {app: web}}}",
            &[
                // The rule without host: no __param_target, the instance is the prober's address.
                ["", "bb:9115", "web", "shop"],
                ["http://status.example.com/", "http://status.example.com/", "web", "shop"],
                ["https://www.shop.example/", "https://www.shop.example/", "web", "shop"],
                ["https://www.shop.example/health", "https://www.shop.example/health", "web", "shop"],
            ],
        ),
        // The Probe's own namespace by default: api (in other) is not discovered.
        ("{selector: {matchLabels: {app: api}}}", &[]),
        (
            "{selector: {matchLabels: {app: api}}, namespaceSelector: {any: true}}",
            &[["http://api.other.example/v1", "http://api.other.example/v1", "api", "other"]],
        ),
        (
            "{selector: {matchExpressions: [{key: app, operator: NotIn, values: [web]}]}, namespaceSelector: {matchNames: [shop, other]}}",
            &[["http://api.other.example/v1", "http://api.other.example/v1", "api", "other"]],
        ),
        (
            "{selector: {matchExpressions: [{key: tier.io/x, operator: Exists}]}, namespaceSelector: {any: true}, relabelingConfigs: [{action: keep, sourceLabels: [__meta_kubernetes_ingress_path], regex: /health}]}",
            &[["https://www.shop.example/health", "https://www.shop.example/health", "web", "shop"]],
        ),
    ];
    for (ingress, want) in rows {
        let d = ingress_probe_targets(
            "  probeSelector: {}\n  probeNamespaceSelector: {}",
            ingress,
            INGRESSES,
        );
        let mut got: Vec<[String; 4]> = d
            .targets
            .iter()
            .map(|t| {
                assert_eq!(t.address, "bb:9115", "{ingress}");
                assert_eq!(t.role, scrapepath::scrapeconfig::Role::Ingress);
                let l = |k: &str| t.labels.get(k).cloned().unwrap_or_default();
                [
                    l("__param_target"),
                    l("instance"),
                    l("ingress"),
                    l("namespace"),
                ]
            })
            .collect();
        got.sort();
        let want: Vec<[String; 4]> = want.iter().map(|r| r.map(str::to_string)).collect();
        assert_eq!(got, want, "{ingress}");
    }
    // The rule without host: a target whose relabeling sets no __param_target (the operator's regex
    // needs a host; an empty label is no label); the meta labels of role ingress as Prometheus sets
    // them.
    let d = ingress_probe_targets(
        "  probeSelector: {}",
        "{selector: {matchLabels: {app: web}}}",
        INGRESSES,
    );
    assert_eq!(d.targets.len(), 4, "{:#?}", d.targets);
    let hostless = d
        .targets
        .iter()
        .find(|t| !t.labels.contains_key("__meta_kubernetes_ingress_host"))
        .expect("the rule without host");
    assert!(!hostless.labels.contains_key("__param_target"));
    let www = d
        .targets
        .iter()
        .find(|t| {
            t.labels.get("__param_target").map(String::as_str)
                == Some("https://www.shop.example/health")
        })
        .unwrap();
    for (k, v) in [
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_ingress_name", "web"),
        ("__meta_kubernetes_ingress_class_name", "nginx"),
        ("__meta_kubernetes_ingress_scheme", "https"),
        ("__meta_kubernetes_ingress_host", "www.shop.example"),
        ("__meta_kubernetes_ingress_path", "/health"),
        ("__meta_kubernetes_ingress_label_app", "web"),
        ("__meta_kubernetes_ingress_labelpresent_app", "true"),
        ("__meta_kubernetes_ingress_label_tier_io_x", "y"),
        ("__meta_kubernetes_ingress_annotation_team", "sre"),
        ("__meta_kubernetes_ingress_annotationpresent_team", "true"),
        ("__tmp_ingress_address", "www.shop.example"),
    ] {
        assert_eq!(
            www.labels.get(k).map(String::as_str),
            Some(v),
            "{k}: {:?}",
            www.labels
        );
    }
    // enforcedNamespaceLabel sets `namespace` to the Probe's after the ingress relabelings: the same
    // host and path in two namespaces are then one target (the scrape pool keeps one per label set).
    let twin = INGRESSES
        .split("---\n")
        .find(|d| d.contains("name: web, namespace: shop"))
        .unwrap()
        .replace("namespace: shop", "namespace: other");
    for (enforced, want) in [("", 8), ("  enforcedNamespaceLabel: namespace\n", 4)] {
        let d = ingress_probe_targets(
            &format!("  probeSelector: {{}}\n{enforced}"),
            "{selector: {matchLabels: {app: web}}, namespaceSelector: {any: true}}",
            &format!("{INGRESSES}---\n{twin}"),
        );
        assert_eq!(d.targets.len(), want, "{enforced}");
        assert!(enforced.is_empty() || d.targets.iter().all(|t| t.labels["namespace"] == "shop"));
    }
    // P8: ingress targets are sharded by their probed URL like static ones.
    assert_eq!(
        ShardKey::of_probe_target(&www.labels),
        ShardKey::address("https://www.shop.example/health")
    );
}

/// P9 for ingress targets: leg 1 (scraper to prober) is judged as for static targets; leg 2 is not
/// evaluated — the prober reaches each Ingress host through DNS — and never reads as admitted: no
/// target of leg 2 is listed, the condition names each host and its Ingress. A rule without host is
/// named as a target the prober gets without a URL.
#[test]
fn p9_ingress_hosts_are_not_evaluated_for_leg_2() {
    let spec = "  prober: {url: 'blackbox.monitoring.svc:9115'}\n  targets: {ingress: {selector: {matchLabels: {app: web}}, namespaceSelector: {matchNames: [shop]}}}";
    for (policies, ready, leg1) in [
        ("", true, "True"),
        (DENY_MONITORING_INGRESS, false, "False"),
    ] {
        let subjects = two_leg_world(&format!("{policies}{INGRESSES}"), spec);
        let s = probe_subject(&subjects);
        let (st, _, msg) = cond(s, "NetworkReachable");
        assert_eq!(st, leg1, "{msg}");
        assert!(
            msg.contains("leg 2, prober to probed targets: no probed target is a pod or Service of the input; not evaluated: the prober reaches host www.shop.example of Ingress shop/web (https://www.shop.example/health)"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "host status.example.com of Ingress shop/web (http://status.example.com/)"
            ),
            "{msg}"
        );
        // Leg 2 lists no target: nothing of it reads as admitted.
        assert!(
            s.targets.iter().all(|t| t.pod == "monitoring/blackbox-0"),
            "{:?}",
            s.targets
        );
        let (rst, _, resolved) = cond(s, "TargetsResolved");
        assert_eq!(rst, "False", "{resolved}");
        assert!(
            resolved.contains("ingress targets, not evaluated"),
            "{resolved}"
        );
        assert!(
            resolved.contains("a rule without host of Ingress shop/web: the job sets no __param_target, and the prober gets no target"),
            "{resolved}"
        );
        assert!(!s.ready || ready, "{:?}", s.conditions);
    }
    // Without the hostless rule: resolved, and leg 1 decides Ready.
    let no_hostless = INGRESSES.replace(
        "  - http:\n      paths:\n      - {path: /x, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n",
        "",
    );
    let subjects = two_leg_world(&no_hostless, spec);
    let s = probe_subject(&subjects);
    assert_eq!(cond(s, "TargetsResolved").0, "True");
    assert_eq!(cond(s, "NetworkReachable").0, "True");
    let (_, _, mesh) = cond(s, "MeshAuthorized");
    assert!(
        mesh.contains("not evaluated: the prober reaches host www.shop.example"),
        "{mesh}"
    );
    assert!(s.ready, "{:?}", s.conditions);
}
