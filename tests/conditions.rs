//! Every condition and reason of DESIGN.md §3, as the engine computes them for ScrapeIntents.

use std::path::Path;

use scrapepath::api::Mode;
use scrapepath::engine::{evaluate, EngineConfig, SubjectReport};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{parse_text, LoadStats};

/// A Ready Prometheus selecting PodMonitors labelled `release: kps` from namespaces labelled `monitored`.
const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {monitored: "yes"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: attic}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  podMonitorSelector: {matchLabels: {release: kps}}
  podMonitorNamespaceSelector: {matchLabels: {monitored: "yes"}}
  serviceMonitorSelector: {matchLabels: {release: kps}}
  serviceMonitorNamespaceSelector: {matchLabels: {monitored: "yes"}}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-k8s-0, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k8s, prometheus: k8s}}
spec: {containers: [{name: prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: shop, labels: {app: api}}
spec: {containers: [{name: api, ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9100}]}]}
status: {phase: Running, podIP: 10.1.1.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-old, namespace: shop, labels: {app: api}}
spec: {containers: [{name: api, ports: [{name: metrics, containerPort: 9100}]}]}
status: {phase: Succeeded, podIP: 10.1.1.9}
"#;

fn intent(ns: &str, name: &str, spec: &str) -> String {
    format!("---\napiVersion: scrapepath.io/v1alpha1\nkind: ScrapeIntent\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n")
}

fn world(extra: &str) -> ClusterIndex {
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    for o in parse_text(Path::new("t.yaml"), &format!("{BASE}{extra}"), &mut stats).unwrap() {
        idx.apply(o);
    }
    idx
}

fn run(idx: &ClusterIndex, cfg: &EngineConfig, name: &str) -> SubjectReport {
    evaluate(idx, cfg)
        .subjects
        .into_iter()
        .find(|s| s.kind == "ScrapeIntent" && s.name == name)
        .unwrap()
}

fn cond(s: &SubjectReport, t: &str) -> (String, String, String) {
    let c = s.condition(t).unwrap_or_else(|| panic!("no {t}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

const PM: &str = r#"
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: api, namespace: shop, labels: {release: kps}}
spec: {selector: {matchLabels: {app: api}}, podMetricsEndpoints: [{port: metrics}]}
"#;

#[test]
fn an_intent_whose_every_layer_passes_is_ready() {
    let idx = world(&format!(
        "{PM}{}",
        intent(
            "shop",
            "api",
            "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}"
        )
    ));
    let s = run(&idx, &EngineConfig::default(), "api");
    assert!(s.ready, "{:?}", s.conditions);
    assert_eq!(
        cond(&s, "MonitorSelected").1,
        "Selected",
        "an existing monitor that covers the targets counts"
    );
    assert_eq!(
        cond(&s, "TargetsResolved").2,
        "1 pods, 1 targets",
        "a Succeeded pod is no target"
    );
    assert!(s.remediation.is_empty());
    assert_eq!(
        s.mode,
        Some(Mode::Report),
        "the default mode without settings is Report"
    );
}

#[test]
fn no_matching_pods_and_port_not_found_name_what_is_missing() {
    let idx = world(&format!(
        "{}{}",
        intent(
            "shop",
            "nopods",
            "{selector: {matchLabels: {app: nothing}}, endpoints: [{port: metrics}]}"
        ),
        intent(
            "shop",
            "noport",
            "{selector: {matchLabels: {app: api}}, endpoints: [{port: http-envoy-prom}]}"
        )
    ));
    let cfg = EngineConfig::default();
    let s = run(&idx, &cfg, "nopods");
    assert_eq!(cond(&s, "TargetsResolved").1, "NoMatchingPods");
    assert_eq!(cond(&s, "Ready").1, "NoMatchingPods");
    let s = run(&idx, &cfg, "noport");
    let (st, reason, msg) = cond(&s, "TargetsResolved");
    assert_eq!((st.as_str(), reason.as_str()), ("False", "PortNotFound"));
    assert!(
        msg.contains("api-1")
            && msg.contains("\"http-envoy-prom\"")
            && msg.contains("metrics=9100"),
        "{msg}"
    );
}

#[test]
fn scraper_not_found_ambiguous_and_default() {
    let second = r#"
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: other, namespace: monitoring}
spec: {podMonitorSelector: {}}
"#;
    let missing = intent("shop", "missing", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], scraper: {kind: Prometheus, namespace: monitoring, name: nope}}");
    let implicit = intent(
        "shop",
        "implicit",
        "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}",
    );
    let idx = world(&format!("{PM}{second}{missing}{implicit}"));
    let s = run(&idx, &EngineConfig::default(), "missing");
    let (_, reason, msg) = cond(&s, "ScraperReady");
    assert_eq!(reason, "ScraperNotFound");
    assert!(msg.contains("monitoring/nope"), "{msg}");
    assert_eq!(cond(&s, "NetworkReachable").0, "Unknown");
    let s = run(&idx, &EngineConfig::default(), "implicit");
    assert_eq!(cond(&s, "ScraperReady").1, "ScraperAmbiguous");
    let cfg = EngineConfig {
        default_scraper: Some(("monitoring".into(), "k8s".into())),
        ..Default::default()
    };
    let s = run(&idx, &cfg, "implicit");
    assert!(
        s.ready,
        "the cluster default resolves the ambiguity: {:?}",
        s.conditions
    );
}

#[test]
fn a_scraper_known_only_from_its_manifest_is_declared_not_failed() {
    let text = BASE.replace(
        "status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: \"True\"}]}",
        "status: {phase: Pending}",
    );
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    for o in parse_text(
        Path::new("t.yaml"),
        &format!(
            "{text}{PM}{}",
            intent(
                "shop",
                "api",
                "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}"
            )
        ),
        &mut stats,
    )
    .unwrap()
    {
        idx.apply(o);
    }
    // A pod that exists but is not Ready is a failure.
    let s = run(&idx, &EngineConfig::default(), "api");
    assert_eq!(cond(&s, "ScraperReady").1, "ScraperNotReady");
    // With no pod at all (a GitOps repository), readiness is not observed and does not fail the check.
    idx.delete(&scrapepath::model::ObjRef::new(
        scrapepath::model::Kind::Pod,
        "monitoring",
        "prometheus-k8s-0",
    ));
    let s = run(&idx, &EngineConfig::default(), "api");
    let (st, reason, _) = cond(&s, "ScraperReady");
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("True", "ReadinessNotObserved")
    );
    assert!(s.ready, "{:?}", s.conditions);
}

#[test]
fn monitor_reasons_name_labels_namespaces_and_rejections() {
    let unlabelled = "---\napiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: api, namespace: shop}\nspec: {selector: {matchLabels: {app: api}}, podMetricsEndpoints: [{port: metrics}]}\n";
    let idx = world(&format!(
        "{unlabelled}{}{}{}",
        intent("shop", "byref", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], monitor: {ref: {name: api}}}"),
        intent("shop", "dangling", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], monitor: {ref: {name: gone}}}"),
        intent("attic", "attic", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}"),
    ));
    let cfg = EngineConfig::default();
    let s = run(&idx, &cfg, "byref");
    let (_, reason, msg) = cond(&s, "MonitorSelected");
    assert_eq!(reason, "LabelsMismatch");
    assert!(msg.contains("release=kps"), "{msg}");
    // The monitor is in the intent's namespace: the fix is the label-add, and only that.
    assert_eq!(s.remediation.len(), 1);
    assert_eq!(s.remediation[0]["metadata"]["labels"]["release"], "kps");
    assert!(
        s.remediation[0].get("spec").is_none(),
        "a label patch, not a replacement"
    );
    let s = run(&idx, &cfg, "dangling");
    assert_eq!(cond(&s, "MonitorSelected").1, "MonitorMissing");
    let s = run(&idx, &cfg, "attic");
    assert_eq!(cond(&s, "TargetsResolved").1, "NoMatchingPods");
    let (_, reason, msg) = cond(&s, "MonitorSelected");
    assert_eq!(reason, "NamespaceNotSelected");
    assert!(
        msg.contains("attic") && msg.contains("podMonitorNamespaceSelector"),
        "{msg}"
    );
    assert!(
        s.remediation.is_empty(),
        "a monitor there would never be read"
    );
}

#[test]
fn a_selected_monitor_that_misses_the_targets_or_is_rejected_says_so() {
    let wrong_path = "---\napiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: api, namespace: shop, labels: {release: kps}}\nspec: {selector: {matchLabels: {app: api}}, podMetricsEndpoints: [{port: metrics, path: /other}]}\n";
    let rejected = "---\napiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: bad, namespace: shop, labels: {release: kps}}\nspec: {selector: {matchLabels: {app: api}}, podMetricsEndpoints: [{port: metrics, relabelings: [{action: keep, regex: '(unclosed'}]}]}\n";
    let idx = world(&format!(
        "{wrong_path}{rejected}{}{}",
        intent("shop", "path", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], monitor: {ref: {name: api}}}"),
        intent("shop", "rej", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], monitor: {ref: {name: bad}}}"),
    ));
    let s = run(&idx, &EngineConfig::default(), "path");
    let (_, reason, msg) = cond(&s, "MonitorSelected");
    assert_eq!(reason, "TargetsNotCovered");
    assert!(msg.contains("api-1:9100 /metrics"), "{msg}");
    let s = run(&idx, &EngineConfig::default(), "rej");
    let (_, reason, msg) = cond(&s, "MonitorSelected");
    assert_eq!(reason, "MonitorRejected");
    assert!(msg.contains("relabelings[0]"), "{msg}");
}

#[test]
fn a_policy_cilium_rejects_is_reported_as_invalid() {
    let bad = r#"
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: mixed, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{}]
    fromEntities: [cluster]
"#;
    let idx = world(&format!(
        "{PM}{bad}{}",
        intent(
            "shop",
            "api",
            "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}"
        )
    ));
    let s = run(&idx, &EngineConfig::default(), "api");
    let (st, reason, msg) = cond(&s, "NetworkReachable");
    assert_eq!((st.as_str(), reason.as_str()), ("False", "InvalidPolicy"));
    assert!(
        // Cilium's own words, with the field path of the element.
        msg.contains("CiliumNetworkPolicy shop/mixed")
            && msg.contains(
                "spec.ingress[0]: combining FromEndpoints and FromEntities is not supported yet"
            ),
        "{msg}"
    );
    // The rejected policy has no effect: the target itself is reachable.
    assert_eq!(s.targets[0].network.verdict, "Allowed");
}

#[test]
fn a_policy_cilium_rejects_is_named_even_when_another_blocks_the_targets() {
    let policies = r#"
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: isolate, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: admit-prometheus, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: monitoring}}]
    toPorts: [{ports: [{port: "9100", protocol: TCP}], rules: {http: [{path: "/metrics(["}]}}]
"#;
    let idx = world(&format!(
        "{PM}{policies}{}",
        intent(
            "shop",
            "api",
            "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}"
        )
    ));
    let s = run(&idx, &EngineConfig::default(), "api");
    let (st, reason, msg) = cond(&s, "NetworkReachable");
    // The blocking policy decides the reason; the rejected one, which was meant to admit Prometheus,
    // is named too: fixing the first alone would not open the port.
    assert_eq!((st.as_str(), reason.as_str()), ("False", "BlockedByPolicy"));
    assert!(msg.contains("CiliumNetworkPolicy shop/isolate"), "{msg}");
    assert!(
        msg.contains("CiliumNetworkPolicy shop/admit-prometheus")
            && msg.contains("Cilium rejects it"),
        "{msg}"
    );
    assert_eq!(s.targets[0].network.verdict, "Denied");
}

#[test]
fn ready_takes_the_first_failing_layer_in_scrape_order() {
    let idx = world(&intent("attic", "attic", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], scraper: {kind: Prometheus, namespace: monitoring, name: nope}}"));
    let s = run(&idx, &EngineConfig::default(), "attic");
    assert_eq!(cond(&s, "Ready").1, "NoMatchingPods");
    let types: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(
        types,
        [
            "TargetsResolved",
            "ScraperReady",
            "MonitorSelected",
            "DiscoveryPermitted",
            "NetworkReachable",
            "MeshAuthorized",
            "Scraped",
            "Ready"
        ]
    );
}

#[test]
fn a_pods_scraper_reads_no_monitors_and_a_prometheus_without_additional_jobs_scrapes_no_annotations(
) {
    let pods = intent("shop", "pods", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], scraper: {kind: Pods, namespace: monitoring, podSelector: {matchLabels: {prometheus: k8s}}}}");
    let ann = intent("shop", "ann", "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}], monitor: {kind: Annotations}}");
    let idx = world(&format!("{pods}{ann}"));
    let s = run(&idx, &EngineConfig::default(), "pods");
    assert_eq!(cond(&s, "ScraperReady").0, "True");
    assert_eq!(cond(&s, "MonitorSelected").1, "ScraperUnmanaged");
    let s = run(&idx, &EngineConfig::default(), "ann");
    let (status, reason, message) = cond(&s, "MonitorSelected");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "JobMissing"));
    assert!(message.contains("additionalScrapeConfigs"), "{message}");
    assert!(!s.ready);
}

#[test]
fn pods_share_policy_sets_only_when_they_are_one_cilium_identity() {
    // Same labels; one pod runs under another service account and one carries a pod-template-hash
    // (not an identity label). A policy on the service account isolates only the first.
    let extra = r#"
---
apiVersion: v1
kind: Pod
metadata: {name: api-2, namespace: shop, labels: {app: api, pod-template-hash: abc}}
spec: {serviceAccountName: special, containers: [{name: api, ports: [{name: metrics, containerPort: 9100}]}]}
status: {phase: Running, podIP: 10.1.1.3, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-3, namespace: shop, labels: {app: api, pod-template-hash: def}}
spec: {containers: [{name: api, ports: [{name: metrics, containerPort: 9100}]}]}
status: {phase: Running, podIP: 10.1.1.4, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: special-only, namespace: shop}
spec:
  endpointSelector: {matchLabels: {io.cilium.k8s.policy.serviceaccount: special}}
  ingress: [{fromEndpoints: [{}]}]
"#;
    let idx = world(&format!(
        "{PM}{extra}{}",
        intent(
            "shop",
            "api",
            "{selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}"
        )
    ));
    let s = run(&idx, &EngineConfig::default(), "api");
    let verdicts: Vec<(String, String)> = s
        .targets
        .iter()
        .map(|t| (t.pod.clone(), t.network.verdict.clone()))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("shop/api-1".to_string(), "Allowed".to_string()),
            ("shop/api-2".to_string(), "Denied".to_string()),
            ("shop/api-3".to_string(), "Allowed".to_string()),
        ]
    );
}
