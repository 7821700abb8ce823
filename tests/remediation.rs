//! Remediation must do no harm (DESIGN.md §4): every plan is applied back into the index and the engine
//! is run on the result. The plan must admit exactly the resolved scraper pods, to exactly the intent's
//! pods, on exactly the declared ports — and never isolate a pod that was not isolated.

use std::path::{Path, PathBuf};

use scrapepath::cilium::eval::NetVerdict;
use scrapepath::cilium::Version;
use scrapepath::engine::{
    evaluate, network_verdict, EngineConfig, PolicyBackend, Report, SubjectReport,
};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{load_index, parse_text, LoadStats};
use scrapepath::parse::{parse_value, Parsed};

fn example(dir: &str) -> ClusterIndex {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(dir);
    load_index(&[p], false).unwrap().0
}

fn add(idx: &mut ClusterIndex, yaml: &str) {
    let mut stats = LoadStats::default();
    for o in parse_text(Path::new("extra.yaml"), yaml, &mut stats).unwrap() {
        idx.apply(o);
    }
}

fn subject<'a>(r: &'a Report, kind: &str, name: &str) -> &'a SubjectReport {
    r.subjects
        .iter()
        .find(|s| s.kind == kind && s.name == name)
        .unwrap()
}

/// Applies every remediation object of a subject as Enforce would (the label-add patch is skipped: it is
/// a partial object).
fn apply_plan(idx: &mut ClusterIndex, s: &SubjectReport) -> usize {
    let mut n = 0;
    for obj in &s.remediation {
        if obj.get("spec").is_none() {
            continue;
        }
        match parse_value(obj.clone()).expect("a remedy parses as its kind") {
            Parsed::Object(o) => {
                idx.apply(o);
                n += 1;
            }
            other => panic!("remedy not understood: {other:?}"),
        }
    }
    n
}

fn verdict(
    idx: &ClusterIndex,
    cfg: &EngineConfig,
    dest: (&str, &str),
    src: (&str, &str),
    port: u16,
) -> NetVerdict {
    network_verdict(idx, cfg, dest, src, port, "/stats/prometheus")
        .unwrap()
        .verdict
}

const PROM: (&str, &str) = (
    "monitoring",
    "prometheus-kube-prometheus-stack-prometheus-0",
);
const WAS: (&str, &str) = ("blog-system", "was-56975b7586-r8tr5");
const WEB: (&str, &str) = ("blog-system", "web-d96db7f88-6hnhm");

/// Pods that must stay out: Prometheus' labels in the wrong namespace, and another pod in `monitoring`.
const OUTSIDERS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Pod
metadata:
  name: impostor
  namespace: other
  labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: kube-prometheus-stack-prometheus, prometheus: kube-prometheus-stack-prometheus}
spec: {containers: [{name: c}]}
status: {phase: Running, podIP: 10.0.9.1}
---
apiVersion: v1
kind: Pod
metadata: {name: grafana-0, namespace: monitoring, labels: {app.kubernetes.io/name: grafana}}
spec: {containers: [{name: c}]}
status: {phase: Running, podIP: 10.0.9.2}
"#;

#[test]
fn the_generated_policy_admits_the_scraper_and_nothing_else() {
    let mut idx = example("blog-system/intent");
    add(&mut idx, OUTSIDERS);
    let cfg = EngineConfig::default();
    let sources = [
        PROM,
        ("other", "impostor"),
        ("monitoring", "grafana-0"),
        WEB,
    ];
    let dests = [
        WAS,
        WEB,
        ("istio-system", "istio-ingressgateway-7d9f8c6b5-abcde"),
    ];
    let ports = [15090, 15021, 8080, 80];
    let mut before: Vec<NetVerdict> = Vec::new();
    for d in dests {
        for s in sources {
            for p in ports {
                before.push(verdict(&idx, &cfg, d, s, p));
            }
        }
    }

    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    assert_eq!(apply_plan(&mut idx, si), 1, "exactly one object: the CNP");

    let mut i = 0;
    for d in dests {
        for s in sources {
            for p in ports {
                let after = verdict(&idx, &cfg, d, s, p);
                let want = if d == WAS && s == PROM && p == 15090 {
                    NetVerdict::Allowed
                } else {
                    before[i]
                };
                assert_eq!(after, want, "{d:?} <- {s:?} on {p}");
                i += 1;
            }
        }
    }
    // The intent now reads Reachable, decided by the managed policy, and the plan is still needed.
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    let net = si.condition("NetworkReachable").unwrap();
    assert_eq!(net.status, "True", "{}", net.message);
    assert_eq!(
        si.targets[0].network.decided_by[0].name,
        "scrapepath-was-envoy"
    );
    assert!(
        si.remediation
            .iter()
            .any(|o| o["kind"] == "CiliumNetworkPolicy"),
        "still needed: computed without managed objects"
    );
}

#[test]
fn once_the_users_own_policy_admits_the_scraper_the_managed_policy_is_no_longer_needed() {
    let mut idx = example("blog-system/intent");
    let cfg = EngineConfig::default();
    let report = evaluate(&idx, &cfg);
    apply_plan(&mut idx, subject(&report, "ScrapeIntent", "was-envoy"));
    // The user fixes was-isolation the way seed 000 did.
    let fixed = example("blog-system/fixed");
    let mut stats = LoadStats::default();
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/examples/blog-system/fixed/policies.yaml"),
    )
    .unwrap();
    for o in parse_text(Path::new("policies.yaml"), &text, &mut stats).unwrap() {
        idx.apply(o);
    }
    drop(fixed);
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    assert_eq!(si.condition("NetworkReachable").unwrap().status, "True");
    assert!(
        si.remediation
            .iter()
            .all(|o| o["kind"] != "CiliumNetworkPolicy"),
        "{:?}",
        si.remediation
    );
}

const GATEWAY_INTENT: &str = r#"
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {matchLabels: {app: istio-ingressgateway}}
  endpoints: [{port: http-envoy-prom, path: /stats/prometheus}]
  scraper: {kind: Prometheus, namespace: monitoring, name: kube-prometheus-stack-prometheus}
"#;

#[test]
fn a_pod_with_no_policy_gets_no_policy() {
    for backend in [
        PolicyBackend::Auto,
        PolicyBackend::Cilium,
        PolicyBackend::Kubernetes,
    ] {
        for v in [Version::new(1, 14), Version::new(1, 16), Version::NEWEST] {
            let mut idx = example("blog-system");
            add(&mut idx, GATEWAY_INTENT);
            let cfg = EngineConfig {
                cilium_version: Some(v),
                policy_backend: backend,
                ..Default::default()
            };
            let report = evaluate(&idx, &cfg);
            let si = subject(&report, "ScrapeIntent", "gw");
            assert_eq!(si.condition("NetworkReachable").unwrap().status, "True");
            assert!(
                si.remediation
                    .iter()
                    .all(|o| !o["kind"].as_str().unwrap().contains("NetworkPolicy")),
                "{backend:?} {v}: {:?}",
                si.remediation
            );
        }
    }
}

/// was-isolation selects only one of the two `app=was` pods: a policy over both would isolate the other.
const HALF_ISOLATED: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: was-unisolated, namespace: blog-system, labels: {app: was, canary: "true"}}
spec: {containers: [{name: istio-proxy, ports: [{name: http-envoy-prom, containerPort: 15090}]}]}
status: {phase: Running, podIP: 10.0.1.250, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: was-isolation, namespace: blog-system}
spec:
  endpointSelector:
    matchExpressions: [{key: canary, operator: DoesNotExist}]
  ingress:
  - fromEndpoints: [{}]
    toPorts: [{ports: [{port: "15090", protocol: TCP}]}]
"#;

#[test]
fn before_cilium_1_16_no_policy_is_written_over_a_pod_that_is_not_isolated() {
    let mut idx = example("blog-system/intent");
    add(&mut idx, HALF_ISOLATED);
    let old = EngineConfig {
        cilium_version: Some(Version::new(1, 15)),
        ..Default::default()
    };
    let report = evaluate(&idx, &old);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    assert_eq!(
        si.condition("NetworkReachable").unwrap().reason,
        "BlockedByPolicy"
    );
    assert!(
        si.remediation
            .iter()
            .all(|o| o["kind"] != "CiliumNetworkPolicy"),
        "would isolate was-unisolated"
    );
    // From 1.16 the policy opts out of default-deny, so it is safe over both pods.
    let new = EngineConfig {
        cilium_version: Some(Version::new(1, 16)),
        ..Default::default()
    };
    let report = evaluate(&idx, &new);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    let cnp = si
        .remediation
        .iter()
        .find(|o| o["kind"] == "CiliumNetworkPolicy")
        .unwrap();
    assert_eq!(cnp["spec"]["enableDefaultDeny"]["ingress"], false);
    let mut idx2 = idx.clone();
    apply_plan(&mut idx2, si);
    // The unisolated pod stays open to everyone; the isolated ones open only to Prometheus.
    assert_eq!(
        verdict(
            &idx2,
            &new,
            ("blog-system", "was-unisolated"),
            ("istio-system", "istio-ingressgateway-7d9f8c6b5-abcde"),
            15090
        ),
        NetVerdict::Allowed
    );
    assert_eq!(
        verdict(
            &idx2,
            &new,
            WAS,
            ("istio-system", "istio-ingressgateway-7d9f8c6b5-abcde"),
            15090
        ),
        NetVerdict::Denied
    );
    assert_eq!(verdict(&idx2, &new, WAS, PROM, 15090), NetVerdict::Allowed);
}

#[test]
fn on_cilium_1_15_the_policy_has_no_enable_default_deny_and_still_only_admits_the_scraper() {
    let mut idx = example("blog-system/intent");
    add(&mut idx, OUTSIDERS);
    let cfg = EngineConfig {
        cilium_version: Some(Version::new(1, 15)),
        ..Default::default()
    };
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    let cnp = si
        .remediation
        .iter()
        .find(|o| o["kind"] == "CiliumNetworkPolicy")
        .unwrap();
    assert!(cnp["spec"].get("enableDefaultDeny").is_none());
    apply_plan(&mut idx, si);
    assert_eq!(verdict(&idx, &cfg, WAS, PROM, 15090), NetVerdict::Allowed);
    assert_eq!(
        verdict(&idx, &cfg, WAS, ("other", "impostor"), 15090),
        NetVerdict::Denied
    );
}

/// The same incident on a cluster without Cilium: Kubernetes NetworkPolicies isolate the pods.
const KNP_ONLY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {podMonitorSelector: {}, podMonitorNamespaceSelector: {}}
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
metadata: {name: peer, namespace: shop, labels: {app: peer}}
spec: {containers: [{name: c}]}
status: {phase: Running, podIP: 10.1.1.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: same-namespace-only, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {}}]}]
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  endpoints: [{port: metrics}]
"#;

#[test]
fn without_cilium_the_remedy_is_a_network_policy_that_admits_only_prometheus() {
    let mut idx = ClusterIndex::new();
    add(&mut idx, KNP_ONLY);
    add(&mut idx, "apiVersion: v1\nkind: Pod\nmetadata: {name: grafana-0, namespace: monitoring, labels: {app.kubernetes.io/name: grafana}}\nspec: {containers: [{name: c}]}\nstatus: {phase: Running, podIP: 10.1.0.3}\n");
    let cfg = EngineConfig::default();
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "api");
    assert_eq!(
        si.condition("NetworkReachable").unwrap().reason,
        "BlockedByPolicy"
    );
    let np = si
        .remediation
        .iter()
        .find(|o| o["kind"] == "NetworkPolicy")
        .expect("a NetworkPolicy remedy");
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], 9100);
    apply_plan(&mut idx, si);
    let src = ("monitoring", "prometheus-k8s-0");
    assert_eq!(
        verdict(&idx, &cfg, ("shop", "api-1"), src, 9100),
        NetVerdict::Allowed
    );
    assert_eq!(
        verdict(&idx, &cfg, ("shop", "api-1"), src, 8080),
        NetVerdict::Denied
    );
    assert_eq!(
        verdict(
            &idx,
            &cfg,
            ("shop", "api-1"),
            ("monitoring", "grafana-0"),
            9100
        ),
        NetVerdict::Denied
    );
    assert_eq!(
        verdict(&idx, &cfg, ("shop", "api-1"), ("shop", "peer"), 8080),
        NetVerdict::Allowed
    );
    let report = evaluate(&idx, &cfg);
    assert!(subject(&report, "ScrapeIntent", "api").ready);
}

#[test]
fn an_l7_block_gets_an_http_rule_for_exactly_the_scrape_path() {
    let mut idx = example("blog-system/intent");
    add(
        &mut idx,
        r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: was-isolation, namespace: blog-system}
spec:
  endpointSelector: {matchLabels: {app: was}}
  ingress:
  - fromEntities: [cluster]
    toPorts:
    - ports: [{port: "15090", protocol: TCP}]
      rules: {http: [{method: GET, path: /metrics}]}
"#,
    );
    let cfg = EngineConfig::default();
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    assert_eq!(si.condition("NetworkReachable").unwrap().reason, "L7Denied");
    let cnp = si
        .remediation
        .iter()
        .find(|o| o["kind"] == "CiliumNetworkPolicy")
        .unwrap();
    let http = &cnp["spec"]["ingress"][0]["toPorts"][0]["rules"]["http"][0];
    assert_eq!(http["method"], "GET");
    assert_eq!(http["path"], "/stats/prometheus");
    apply_plan(&mut idx, si);
    let d = network_verdict(&idx, &cfg, WAS, PROM, 15090, "/stats/prometheus").unwrap();
    assert_eq!(d.verdict, NetVerdict::Allowed);
    let other = network_verdict(&idx, &cfg, WAS, PROM, 15090, "/admin").unwrap();
    assert_eq!(
        other.verdict,
        NetVerdict::L7Denied,
        "only the scrape path is opened"
    );
}

#[test]
fn an_explicit_deny_is_reported_not_overridden() {
    let mut idx = example("blog-system/intent");
    add(
        &mut idx,
        r#"
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: no-monitoring-into-blog}
spec:
  endpointSelector: {matchLabels: {k8s:io.kubernetes.pod.namespace: blog-system}}
  ingressDeny:
  - fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: monitoring}}]
"#,
    );
    let report = evaluate(&idx, &EngineConfig::default());
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    let net = si.condition("NetworkReachable").unwrap();
    assert_eq!(net.reason, "DeniedByRule");
    assert!(
        net.message.contains("no-monitoring-into-blog"),
        "{}",
        net.message
    );
    assert!(si
        .remediation
        .iter()
        .all(|o| o["kind"] != "CiliumNetworkPolicy"));
}

#[test]
fn a_host_network_scraper_is_admitted_by_node_entities() {
    let mut idx = example("blog-system/intent");
    add(
        &mut idx,
        r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: kube-prometheus-stack-prometheus, namespace: monitoring, labels: {release: kube-prometheus-stack}}
spec:
  hostNetwork: true
  podMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}
  podMonitorNamespaceSelector: {}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-kube-prometheus-stack-prometheus-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: kube-prometheus-stack-prometheus, prometheus: kube-prometheus-stack-prometheus}
spec: {hostNetwork: true, nodeName: node-3, containers: [{name: prometheus, ports: [{name: http-web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 192.168.0.3, hostIP: 192.168.0.3, conditions: [{type: Ready, status: "True"}]}
"#,
    );
    let cfg = EngineConfig::default();
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-envoy");
    let cnp = si
        .remediation
        .iter()
        .find(|o| o["kind"] == "CiliumNetworkPolicy")
        .unwrap();
    assert_eq!(
        cnp["spec"]["ingress"][0]["fromEntities"],
        serde_json::json!(["remote-node", "host"])
    );
    apply_plan(&mut idx, si);
    assert_eq!(verdict(&idx, &cfg, WAS, PROM, 15090), NetVerdict::Allowed);
    assert_eq!(verdict(&idx, &cfg, WAS, PROM, 8080), NetVerdict::Denied);
}

#[test]
fn a_monitor_is_generated_with_exactly_the_labels_the_scraper_selects_on() {
    let mut idx = example("blog-system/fixed");
    add(
        &mut idx,
        r#"
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: was-app, namespace: blog-system}
spec:
  selector: {matchLabels: {app: was}}
  endpoints: [{port: http, path: /actuator/prometheus}]
"#,
    );
    let cfg = EngineConfig::default();
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-app");
    assert_eq!(
        si.condition("MonitorSelected").unwrap().reason,
        "MonitorMissing"
    );
    let pm = si
        .remediation
        .iter()
        .find(|o| o["kind"] == "PodMonitor")
        .unwrap();
    assert_eq!(pm["metadata"]["name"], "scrapepath-was-app");
    assert_eq!(pm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["port"], "http");
    apply_plan(&mut idx, si);
    let report = evaluate(&idx, &cfg);
    let si = subject(&report, "ScrapeIntent", "was-app");
    let c = si.condition("MonitorSelected").unwrap();
    assert_eq!(c.status, "True", "{}", c.message);
}
