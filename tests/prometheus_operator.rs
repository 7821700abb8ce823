//! Truth tables for prometheus-operator semantics (`semantics/prometheus-operator.md`): which
//! Prometheus/PrometheusAgent selects which PodMonitor/ServiceMonitor (A1–A10), which targets result
//! (B1–B4, C1–C3, E), and what the operator's own pods look like (D1–D3).
//!
//! Every case is plain Kubernetes YAML over the spec's baseline: Prometheus `k8s` in `monitoring`,
//! namespace `app` {team: a}, and pod `web-0` (app: web, Running, 10.1.0.5) with containers `main`
//! (http:8080, metrics:9090) and `log` (no ports) and the native-sidecar init container `istio-proxy`
//! (http-envoy-prom:15090). Targets are rendered as
//! `<ns>/<pod> <scheme>://<podIP>:<port><path> <container>/<port name> #<endpoint index>`.

use std::path::{Path, PathBuf};

use scrapepath::engine::{evaluate, EngineConfig, SubjectReport};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{load_index, parse_text, LoadStats};
use scrapepath::model::{Kind, Monitor, MonitorKind, ObjRef, PromWorkload};
use scrapepath::promop::{rejections, selects, targets, workload_pods, NotSelected, Target};

// ---------------------------------------------------------------------------------------------------------
// Fixtures.

/// The spec's baseline: namespaces `app` {team: a} and `monitoring`, and pod `web-0`.
const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: app
  labels: {team: a}
---
apiVersion: v1
kind: Namespace
metadata:
  name: monitoring
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: app
  labels: {app: web}
spec:
  containers:
  - name: main
    image: registry.local/web:1
    ports:
    - {name: http, containerPort: 8080}
    - {name: metrics, containerPort: 9090}
  - name: log
    image: registry.local/log:1
  initContainers:
  - name: istio-proxy
    image: docker.io/istio/proxyv2:1.25.2
    restartPolicy: Always
    ports:
    - {name: http-envoy-prom, containerPort: 15090}
status:
  phase: Running
  podIP: 10.1.0.5
  conditions:
  - {type: Ready, status: "True"}
"#;

/// A second replica of web, not Ready (row 19's notReady endpoint 10.1.0.6).
const WEB1: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: app
  labels: {app: web}
spec:
  containers:
  - name: main
    image: registry.local/web:1
    ports:
    - {name: http, containerPort: 8080}
    - {name: metrics, containerPort: 9090}
status:
  phase: Running
  podIP: 10.1.0.6
  conditions:
  - {type: Ready, status: "False"}
"#;

/// A pod with Istio's prometheus.io annotations (merged-metrics port 15020), as injected pods carry them.
const MESH0: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: mesh-0
  namespace: app
  uid: 5a1c9e2e-0000-4000-8000-00000000e5a0
  labels: {app: mesh, app.kubernetes.io/name: mesh}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: "15020"
    prometheus.io/path: /stats/prometheus
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: mesh-5d4f, uid: 1f0c, controller: true}
spec:
  nodeName: node-1
  containers:
  - name: app
    image: registry.local/mesh:1
    ports:
    - {name: http, containerPort: 8080}
  - name: istio-proxy
    image: docker.io/istio/proxyv2:1.25.2
    ports:
    - {name: http-envoy-prom, containerPort: 15090}
status:
  phase: Running
  hostIP: 192.168.1.11
  podIP: 10.1.0.8
  conditions:
  - {type: Ready, status: "True"}
"#;

/// A web pod with one container `app` (metrics:9090) in the given phase, with or without an IP.
fn web_pod(name: &str, phase: &str, ip: Option<&str>) -> String {
    let ip = ip.map(|ip| format!("\n  podIP: {ip}")).unwrap_or_default();
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: app
  labels: {{app: web}}
spec:
  containers:
  - name: app
    image: registry.local/web:1
    ports:
    - {{name: metrics, containerPort: 9090}}
status:
  phase: {phase}{ip}
"#
    )
}

/// A pod in `app` with the given labels, one container `worker` (metrics:9100), IP 10.1.0.9.
fn labelled_pod(name: &str, labels: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: app
  labels: {labels}
spec:
  containers:
  - name: worker
    image: registry.local/worker:1
    ports:
    - {{name: metrics, containerPort: 9100}}
status:
  phase: Running
  podIP: 10.1.0.9
"#
    )
}

/// Service `web` in `app` (labels {app: web, k8s-app: webapp}) with the given ports.
fn web_service(ports: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: app
  labels: {{app: web, k8s-app: webapp, empty: ""}}
spec:
  selector: {{app: web}}
  ports: {ports}
"#
    )
}

/// The EndpointSlice of Service `web`: 10.1.0.5 (web-0) ready, 10.1.0.6 (web-1) not ready.
fn web_slice(ports: &str) -> String {
    format!(
        r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc12
  namespace: app
  labels: {{kubernetes.io/service-name: web}}
addressType: IPv4
ports: {ports}
endpoints:
- addresses: [10.1.0.5]
  conditions: {{ready: true}}
  targetRef: {{kind: Pod, namespace: app, name: web-0}}
- addresses: [10.1.0.6]
  conditions: {{ready: false}}
  targetRef: {{kind: Pod, namespace: app, name: web-1}}
"#
    )
}

/// Row 19's Service: port `http-metrics` 80 → targetPort 9090.
fn row19_objects() -> Vec<String> {
    vec![
        WEB1.to_string(),
        web_service("[{name: http-metrics, port: 80, targetPort: 9090}]"),
        web_slice("[{name: http-metrics, port: 9090, protocol: TCP}]"),
    ]
}

/// Prometheus `k8s` in `monitoring` with `spec` (flow YAML).
fn prometheus(spec: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {{name: k8s, namespace: monitoring}}\nspec: {spec}\n"
    )
}

/// PrometheusAgent `k8s` in `monitoring` with `spec` (flow YAML).
fn agent(spec: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1alpha1\nkind: PrometheusAgent\nmetadata: {{name: k8s, namespace: monitoring}}\nspec: {spec}\n"
    )
}

/// PodMonitor `pm` in `ns` with `labels` and `spec` (flow YAML).
fn pod_monitor(ns: &str, labels: &str, spec: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {{name: pm, namespace: {ns}, labels: {labels}}}\nspec: {spec}\n"
    )
}

/// ServiceMonitor `sm` in `ns` with `labels` and `spec` (flow YAML).
fn service_monitor(ns: &str, labels: &str, spec: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {{name: sm, namespace: {ns}, labels: {labels}}}\nspec: {spec}\n"
    )
}

/// Selects every PodMonitor and ServiceMonitor in every namespace (row 4's "pmSel {}, pmNsSel {}").
const ALL: &str = "{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}}";

/// Row 4's PodMonitor spec: web pods, port `metrics`.
const PM_WEB_METRICS: &str =
    "{selector: {matchLabels: {app: web}}, podMetricsEndpoints: [{port: metrics}]}";

/// PodMonitor spec selecting web pods with one endpoint `ep` (flow YAML).
fn pm_web(ep: &str) -> String {
    format!("{{selector: {{matchLabels: {{app: web}}}}, podMetricsEndpoints: [{ep}]}}")
}

/// ServiceMonitor spec selecting Service `web` by its labels, with one endpoint `ep` (flow YAML).
fn sm_web(ep: &str) -> String {
    format!("{{selector: {{matchLabels: {{app: web}}}}, endpoints: [{ep}]}}")
}

fn index_of(docs: &[String]) -> ClusterIndex {
    let text = docs.join("\n---\n");
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    let objects = parse_text(Path::new("case.yaml"), &text, &mut stats)
        .unwrap_or_else(|e| panic!("fixture does not load: {e}\n{text}"));
    assert!(
        stats.unknown.is_empty(),
        "fixture has unread kinds {:?}",
        stats.unknown
    );
    for o in objects {
        idx.apply(o);
    }
    idx
}

/// Baseline plus a workload, a monitor and extra objects.
fn world(workload: &str, monitor: &str, extra: &[String]) -> ClusterIndex {
    let mut docs = vec![BASE.to_string(), workload.to_string(), monitor.to_string()];
    docs.extend(extra.iter().cloned());
    index_of(&docs)
}

fn the_workload(idx: &ClusterIndex) -> &PromWorkload {
    let all: Vec<&PromWorkload> = idx.prometheuses().collect();
    assert_eq!(all.len(), 1, "one workload per case");
    all[0]
}

fn the_monitor(idx: &ClusterIndex) -> &Monitor {
    let all: Vec<&Monitor> = idx.monitors().collect();
    assert_eq!(all.len(), 1, "one monitor per case");
    all[0]
}

fn render(idx: &ClusterIndex, t: &Target) -> String {
    let pod = idx.pod(t.pod);
    format!(
        "{}/{} {}://{}:{}{} {}/{} #{}",
        pod.namespace,
        pod.name,
        t.scheme,
        pod.pod_ip.as_deref().unwrap_or("?"),
        t.port,
        t.path,
        t.container.as_deref().unwrap_or("-"),
        t.port_name.as_deref().unwrap_or("-"),
        t.endpoint
    )
}

fn rendered_targets(idx: &ClusterIndex, p: &PromWorkload, m: &Monitor) -> Vec<String> {
    let mut out: Vec<String> = targets(Some(p), m, idx)
        .iter()
        .map(|t| render(idx, t))
        .collect();
    out.sort();
    out
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn finish(table: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} of the {table} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// Baseline targets of web-0 (endpoint 0, default scheme and path).
const W_HTTP: &str = "app/web-0 http://10.1.0.5:8080/metrics main/http #0";
const W_METRICS: &str = "app/web-0 http://10.1.0.5:9090/metrics main/metrics #0";
const W_LOG: &str = "app/web-0 http://10.1.0.5:80/metrics log/- #0";
const W_ENVOY: &str = "app/web-0 http://10.1.0.5:15090/metrics istio-proxy/http-envoy-prom #0";

// ---------------------------------------------------------------------------------------------------------
// A: selection.

/// A selection case: the expected `selects` result, compared on its Debug form (a prefix of it for
/// variants whose payload is prose).
struct SelCase {
    name: &'static str,
    workload: String,
    monitor: String,
    extra: Vec<String>,
    expect: &'static str,
}

fn sel(name: &'static str, workload: String, monitor: String, expect: &'static str) -> SelCase {
    SelCase {
        name,
        workload,
        monitor,
        extra: vec![],
        expect,
    }
}

fn run_selection(cases: Vec<SelCase>) {
    let mut failures = Vec::new();
    for c in &cases {
        let idx = world(&c.workload, &c.monitor, &c.extra);
        let got = format!("{:?}", selects(the_workload(&idx), the_monitor(&idx), &idx));
        let ok = if c.expect.ends_with(')') {
            got == c.expect
        } else {
            got.starts_with(c.expect)
        };
        if !ok {
            failures.push(format!(
                "{}\n  expected {}\n  got      {got}",
                c.name, c.expect
            ));
        }
    }
    finish("selection", failures);
}

fn selection_cases() -> Vec<SelCase> {
    let pm_app = |labels: &str| pod_monitor("app", labels, PM_WEB_METRICS);
    vec![
        // A1
        sel(
            "a paused Prometheus selects nothing, even with selectors that match everything",
            prometheus("{paused: true, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            "Err(Paused)",
        ),
        // A2
        sel(
            "row 2: a null podMonitorSelector selects no PodMonitor even though serviceMonitorSelector is {}",
            prometheus("{podMonitorSelector: null, serviceMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            "Err(NullSelector)",
        ),
        sel(
            "an absent podMonitorSelector is null and selects nothing",
            prometheus("{serviceMonitorSelector: {}}"),
            pod_monitor("monitoring", "{}", PM_WEB_METRICS),
            "Err(NullSelector)",
        ),
        sel(
            "an empty podMonitorSelector {} selects a PodMonitor with no labels",
            prometheus("{podMonitorSelector: {}}"),
            pod_monitor("monitoring", "{}", PM_WEB_METRICS),
            "Ok(())",
        ),
        sel(
            "row 5: matchLabels release=kps rejects a PodMonitor without labels, naming release=kps",
            prometheus("{podMonitorSelector: {matchLabels: {release: kps}}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            r#"Err(LabelsMismatch(["release=kps"]))"#,
        ),
        sel(
            "matchLabels release=kps selects a PodMonitor labelled release=kps among other labels",
            prometheus("{podMonitorSelector: {matchLabels: {release: kps}}, podMonitorNamespaceSelector: {}}"),
            pm_app("{release: kps, team: a}"),
            "Ok(())",
        ),
        sel(
            "the Prometheus selector is exact Kubernetes matching: release=k.s does not match release=kps",
            prometheus("{podMonitorSelector: {matchLabels: {release: k.s}}, podMonitorNamespaceSelector: {}}"),
            pm_app("{release: kps}"),
            r#"Err(LabelsMismatch(["release=k.s"]))"#,
        ),
        sel(
            "matchLabels AND matchExpressions: a PodMonitor meeting only matchLabels is not selected",
            prometheus("{podMonitorSelector: {matchLabels: {release: kps}, matchExpressions: [{key: tier, operator: In, values: [a, b]}]}, podMonitorNamespaceSelector: {}}"),
            pm_app("{release: kps, tier: c}"),
            r#"Err(LabelsMismatch(["tier in (a,b)"]))"#,
        ),
        sel(
            "matchLabels AND matchExpressions: a PodMonitor meeting both is selected",
            prometheus("{podMonitorSelector: {matchLabels: {release: kps}, matchExpressions: [{key: tier, operator: In, values: [a, b]}]}, podMonitorNamespaceSelector: {}}"),
            pm_app("{release: kps, tier: b}"),
            "Ok(())",
        ),
        sel(
            "a NotIn selector selects a PodMonitor that lacks the label",
            prometheus("{podMonitorSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [x]}]}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            "Ok(())",
        ),
        sel(
            "a DoesNotExist selector does not select a PodMonitor carrying the label",
            prometheus("{podMonitorSelector: {matchExpressions: [{key: skip, operator: DoesNotExist}]}, podMonitorNamespaceSelector: {}}"),
            pm_app("{skip: \"yes\"}"),
            r#"Err(LabelsMismatch(["!skip"]))"#,
        ),
        sel(
            "an unparsable podMonitorSelector (Exists with values) fails the whole reconcile",
            prometheus("{podMonitorSelector: {matchExpressions: [{key: release, operator: Exists, values: [kps]}]}, podMonitorNamespaceSelector: {}}"),
            pm_app("{release: kps}"),
            "Err(InvalidSelector(",
        ),
        sel(
            "an unknown selector operator fails the whole reconcile",
            prometheus("{podMonitorSelector: {matchExpressions: [{key: release, operator: Equals, values: [kps]}]}, podMonitorNamespaceSelector: {}}"),
            pm_app("{release: kps}"),
            "Err(InvalidSelector(",
        ),
        // A3
        sel(
            "row 3: a null podMonitorNamespaceSelector does not reach a PodMonitor in app",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: null}"),
            pm_app("{}"),
            "Err(NamespaceNotSelected",
        ),
        sel(
            "a null podMonitorNamespaceSelector reaches a PodMonitor in the Prometheus's own namespace",
            prometheus("{podMonitorSelector: {}}"),
            pod_monitor("monitoring", "{}", PM_WEB_METRICS),
            "Ok(())",
        ),
        sel(
            "row 4: podMonitorNamespaceSelector {} reaches a PodMonitor in app",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            "Ok(())",
        ),
        sel(
            "row 6: podMonitorNamespaceSelector team=b does not reach namespace app {team: a}",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {matchLabels: {team: b}}}"),
            pm_app("{}"),
            "Err(NamespaceNotSelected",
        ),
        sel(
            "podMonitorNamespaceSelector team=a reaches namespace app {team: a}",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {matchLabels: {team: a}}}"),
            pm_app("{}"),
            "Ok(())",
        ),
        sel(
            "a namespace selector does not include the Prometheus's own namespace unless it matches",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {matchLabels: {team: a}}}"),
            pod_monitor("monitoring", "{}", PM_WEB_METRICS),
            "Err(NamespaceNotSelected",
        ),
        sel(
            "every namespace carries kubernetes.io/metadata.name even when the manifest omits it",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}}"),
            pm_app("{}"),
            "Ok(())",
        ),
        SelCase {
            name: "a namespace missing from the input still has its kubernetes.io/metadata.name label",
            workload: prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [other]}]}}"),
            monitor: pod_monitor("other", "{}", PM_WEB_METRICS),
            extra: vec![],
            expect: "Ok(())",
        },
        // A4
        sel(
            "A4: matching labels in an unselected namespace are not enough",
            prometheus("{podMonitorSelector: {matchLabels: {release: kps}}, podMonitorNamespaceSelector: {matchLabels: {team: b}}}"),
            pm_app("{release: kps}"),
            "Err(NamespaceNotSelected",
        ),
        sel(
            "A4: a selected namespace is not enough without matching labels",
            prometheus("{podMonitorSelector: {matchLabels: {release: kps}}, podMonitorNamespaceSelector: {matchLabels: {team: a}}}"),
            pm_app("{}"),
            r#"Err(LabelsMismatch(["release=kps"]))"#,
        ),
        sel(
            "ServiceMonitors use serviceMonitorSelector: podMonitorSelector {} does not select them",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            service_monitor("monitoring", "{}", &sm_web("{port: http-metrics}")),
            "Err(NullSelector)",
        ),
        sel(
            "a null serviceMonitorNamespaceSelector does not reach a ServiceMonitor in app",
            prometheus("{serviceMonitorSelector: {}}"),
            service_monitor("app", "{}", &sm_web("{port: http-metrics}")),
            "Err(NamespaceNotSelected",
        ),
        sel(
            "serviceMonitorSelector {} with serviceMonitorNamespaceSelector {} selects a ServiceMonitor in app",
            prometheus("{serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}}"),
            service_monitor("app", "{}", &sm_web("{port: http-metrics}")),
            "Ok(())",
        ),
        // A5
        sel(
            "A5: a Prometheus with all four selectors null leaves its configuration unmanaged",
            prometheus("{podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            "Err(Unmanaged)",
        ),
        sel(
            "A5: a probeSelector alone makes the configuration managed, and the null podMonitorSelector selects nothing",
            prometheus("{probeSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            "Err(NullSelector)",
        ),
        sel(
            "A5: a scrapeConfigSelector alone makes the configuration managed",
            prometheus("{scrapeConfigSelector: {matchLabels: {a: b}}}"),
            pod_monitor("monitoring", "{}", PM_WEB_METRICS),
            "Err(NullSelector)",
        ),
        sel(
            "A5: a serviceMonitorSelector alone makes the configuration managed",
            prometheus("{serviceMonitorSelector: {}}"),
            pod_monitor("monitoring", "{}", PM_WEB_METRICS),
            "Err(NullSelector)",
        ),
        sel(
            "A5: a PrometheusAgent has no unmanaged mode: all-null selectors just select nothing",
            agent("{}"),
            pod_monitor("monitoring", "{}", PM_WEB_METRICS),
            "Err(NullSelector)",
        ),
        // A8
        sel(
            "A8: a PrometheusAgent selects PodMonitors like a Prometheus",
            agent("{podMonitorSelector: {matchLabels: {release: kps}}, podMonitorNamespaceSelector: {}}"),
            pm_app("{release: kps}"),
            "Ok(())",
        ),
        sel(
            "A8: a PrometheusAgent's null podMonitorNamespaceSelector gives only its own namespace",
            agent("{podMonitorSelector: {}}"),
            pm_app("{}"),
            "Err(NamespaceNotSelected",
        ),
        sel(
            "A8: a PrometheusAgent in StatefulSet mode selects ServiceMonitors",
            agent("{serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}}"),
            service_monitor("app", "{}", &sm_web("{port: http-metrics}")),
            "Ok(())",
        ),
        sel(
            "A8: a DaemonSet-mode PrometheusAgent renders only PodMonitors, never ServiceMonitors",
            agent("{mode: DaemonSet, podMonitorSelector: {}, podMonitorNamespaceSelector: {}, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}}"),
            service_monitor("app", "{}", &sm_web("{port: http-metrics}")),
            "Err(KindNotRendered)",
        ),
        sel(
            "A8: a DaemonSet-mode PrometheusAgent selects PodMonitors",
            agent("{mode: DaemonSet, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            "Ok(())",
        ),
        // A10
        sel(
            "A10: kube-prometheus-stack's release selector skips a PodMonitor without release=kube-prometheus-stack (seed 000)",
            prometheus("{podMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, podMonitorNamespaceSelector: {}, serviceMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, serviceMonitorNamespaceSelector: {}}"),
            pod_monitor("monitoring", "{app: istio}", "{selector: {matchExpressions: [{key: istio-prometheus-ignore, operator: DoesNotExist}]}, namespaceSelector: {any: true}, podMetricsEndpoints: [{port: http-envoy-prom, path: /stats/prometheus}]}"),
            r#"Err(LabelsMismatch(["release=kube-prometheus-stack"]))"#,
        ),
        sel(
            "A10: the same PodMonitor labelled release=kube-prometheus-stack is selected",
            prometheus("{podMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, podMonitorNamespaceSelector: {}, serviceMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, serviceMonitorNamespaceSelector: {}}"),
            pod_monitor("monitoring", "{release: kube-prometheus-stack}", "{selector: {matchExpressions: [{key: istio-prometheus-ignore, operator: DoesNotExist}]}, namespaceSelector: {any: true}, podMetricsEndpoints: [{port: http-envoy-prom, path: /stats/prometheus}]}"),
            "Ok(())",
        ),
        sel(
            "A10: kube-prometheus-stack's release selector applies to ServiceMonitors too",
            prometheus("{podMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, podMonitorNamespaceSelector: {}, serviceMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, serviceMonitorNamespaceSelector: {}}"),
            service_monitor("app", "{release: prom}", &sm_web("{port: http-metrics}")),
            r#"Err(LabelsMismatch(["release=kube-prometheus-stack"]))"#,
        ),
        sel(
            "A10: with agentMode the chart renders a PrometheusAgent with the same release selector",
            agent("{podMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, podMonitorNamespaceSelector: {}}"),
            pm_app("{}"),
            r#"Err(LabelsMismatch(["release=kube-prometheus-stack"]))"#,
        ),
    ]
}

#[test]
fn selection_truth_table() {
    run_selection(selection_cases());
}

#[test]
fn a_not_selected_message_names_the_missing_label_and_the_field() {
    let idx = world(
        &prometheus("{podMonitorSelector: {matchLabels: {release: kube-prometheus-stack}}, podMonitorNamespaceSelector: {}}"),
        &pod_monitor("monitoring", "{}", PM_WEB_METRICS),
        &[],
    );
    let (p, m) = (the_workload(&idx), the_monitor(&idx));
    let err = selects(p, m, &idx).unwrap_err();
    let msg = err.message(p, m);
    assert!(
        msg.contains("release=kube-prometheus-stack") && msg.contains("podMonitorSelector"),
        "{msg}"
    );
    let idx = world(
        &prometheus(
            "{podMonitorSelector: {}, podMonitorNamespaceSelector: {matchLabels: {team: b}}}",
        ),
        &pod_monitor("app", "{}", PM_WEB_METRICS),
        &[],
    );
    let (p, m) = (the_workload(&idx), the_monitor(&idx));
    let msg = selects(p, m, &idx).unwrap_err().message(p, m);
    assert!(
        msg.contains("podMonitorNamespaceSelector")
            && msg.contains("team=b")
            && msg.contains("app"),
        "{msg}"
    );
    assert!(matches!(
        selects(p, m, &idx),
        Err(NotSelected::NamespaceNotSelected { .. })
    ));
}

#[test]
fn a7_status_bindings_on_a_monitor_are_read_without_error_and_do_not_change_the_verdict() {
    // The bindings (feature gate StatusForConfigurationResources) are the operator's own record; the verdict
    // is still derived from the selectors, so a stale binding cannot make an unselected monitor look selected.
    let monitor = format!(
        "{}status:\n  bindings:\n  - {{group: monitoring.coreos.com, resource: prometheuses, name: k8s, namespace: monitoring, conditions: [{{type: Accepted, status: \"True\", reason: \"\"}}]}}\n",
        pod_monitor("app", "{}", PM_WEB_METRICS)
    );
    let idx = world(
        &prometheus(
            "{podMonitorSelector: {matchLabels: {release: kps}}, podMonitorNamespaceSelector: {}}",
        ),
        &monitor,
        &[],
    );
    assert_eq!(
        selects(the_workload(&idx), the_monitor(&idx), &idx),
        Err(NotSelected::LabelsMismatch(vec!["release=kps".into()]))
    );
}

// ---------------------------------------------------------------------------------------------------------
// A6: rejection of a selected monitor.

struct RejCase {
    name: &'static str,
    workload: String,
    monitor: String,
    /// Each must appear in some rejection; empty means accepted.
    expect: &'static [&'static str],
}

fn rej(
    name: &'static str,
    workload: String,
    monitor: String,
    expect: &'static [&'static str],
) -> RejCase {
    RejCase {
        name,
        workload,
        monitor,
        expect,
    }
}

fn run_rejections(cases: Vec<RejCase>) {
    let mut failures = Vec::new();
    for c in &cases {
        let idx = world(&c.workload, &c.monitor, &[]);
        let (p, m) = (the_workload(&idx), the_monitor(&idx));
        if let Err(e) = selects(p, m, &idx) {
            failures.push(format!(
                "{}\n  the monitor is not even selected: {e:?}",
                c.name
            ));
            continue;
        }
        let got = rejections(p, m);
        let ok = if c.expect.is_empty() {
            got.is_empty()
        } else {
            c.expect
                .iter()
                .all(|want| got.iter().any(|r| r.contains(want)))
        };
        if !ok {
            failures.push(format!(
                "{}\n  expected {:?}\n  got      {got:?}",
                c.name, c.expect
            ));
        }
    }
    finish("rejection", failures);
}

const P_CLASSES: &str = "{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}, scrapeClasses: [{name: istio-mtls}]}";

fn rejection_cases() -> Vec<RejCase> {
    let p = || prometheus(P_CLASSES);
    let pm = |spec: &str| pod_monitor("app", "{}", spec);
    vec![
        rej(
            "a well-formed PodMonitor is accepted",
            p(),
            pm(PM_WEB_METRICS),
            &[],
        ),
        rej(
            "a relabeling whose regex does not compile rejects the PodMonitor",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: 'istio-(proxy'}]}")),
            &["relabelings[0]", "does not compile"],
        ),
        rej(
            "a relabeling error in the second endpoint is reported against that endpoint",
            p(),
            pm("{selector: {}, podMetricsEndpoints: [{port: metrics}, {port: http, relabelings: [{action: drop, sourceLabels: [a], regex: '[z-a]'}]}]}"),
            &["podMetricsEndpoints[1].relabelings[0]"],
        ),
        rej(
            "a replace relabeling without targetLabel rejects the PodMonitor",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: replace, sourceLabels: [__address__], replacement: x}]}")),
            &["requires"],
        ),
        rej(
            "a hashmod relabeling without modulus rejects the PodMonitor",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: hashmod, sourceLabels: [__address__], targetLabel: __tmp_hash}]}")),
            &["modulus"],
        ),
        rej(
            "a labeldrop relabeling with sourceLabels rejects the PodMonitor (labeldrop takes only regex)",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: labeldrop, sourceLabels: [a], regex: 'tmp_.*'}]}")),
            &["labeldrop"],
        ),
        rej(
            "relabeling actions are case-insensitive: Keep is accepted",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: Keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: main}]}")),
            &[],
        ),
        rej(
            "an empty regex is left out of the rendered rule, so a replace with regex \"\" is valid",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: replace, sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: node, regex: ''}]}")),
            &[],
        ),
        rej(
            "scrapeTimeout greater than the endpoint interval rejects the PodMonitor",
            p(),
            pm(&pm_web("{port: metrics, interval: 15s, scrapeTimeout: 30s}")),
            &["scrapeTimeout 30s is greater than the interval 15s"],
        ),
        rej(
            "scrapeTimeout 1m30s greater than interval 1m rejects the PodMonitor",
            p(),
            pm(&pm_web("{port: metrics, interval: 1m, scrapeTimeout: 1m30s}")),
            &["scrapeTimeout"],
        ),
        rej(
            "scrapeTimeout equal to the interval is accepted",
            p(),
            pm(&pm_web("{port: metrics, interval: 15s, scrapeTimeout: 15s}")),
            &[],
        ),
        rej(
            "scrapeTimeout below the interval is accepted",
            p(),
            pm(&pm_web("{port: metrics, interval: 1m, scrapeTimeout: 500ms}")),
            &[],
        ),
        rej(
            "two auth methods (basicAuth and authorization) on one endpoint reject the PodMonitor",
            p(),
            pm(&pm_web("{port: metrics, basicAuth: {username: {name: creds, key: user}, password: {name: creds, key: pass}}, authorization: {credentials: {name: token, key: t}}}")),
            &["at most one of authorization, basicAuth, bearerTokenSecret and oauth2"],
        ),
        rej(
            "bearerTokenSecret and oauth2 together reject the PodMonitor",
            p(),
            pm(&pm_web("{port: metrics, bearerTokenSecret: {name: token, key: t}, oauth2: {clientId: {secret: {name: o, key: id}}, clientSecret: {name: o, key: secret}, tokenUrl: 'https://idp/token'}}")),
            &["at most one"],
        ),
        rej(
            "a single auth method is accepted",
            p(),
            pm(&pm_web("{port: metrics, authorization: {credentials: {name: token, key: t}}}")),
            &[],
        ),
        rej(
            "a scrapeClass missing from the Prometheus's scrapeClasses rejects the PodMonitor",
            p(),
            pm("{scrapeClass: istio, selector: {}, podMetricsEndpoints: [{port: metrics}]}"),
            &["scrapeClass \"istio\" is not defined"],
        ),
        rej(
            "a scrapeClass defined in the Prometheus is accepted",
            p(),
            pm("{scrapeClass: istio-mtls, selector: {}, podMetricsEndpoints: [{port: metrics}]}"),
            &[],
        ),
        rej(
            "a scrapeClass on a Prometheus without scrapeClasses rejects the PodMonitor",
            prometheus(ALL),
            pm("{scrapeClass: istio-mtls, selector: {}, podMetricsEndpoints: [{port: metrics}]}"),
            &["scrapeClass"],
        ),
        rej(
            "a PodMonitor spec.selector that does not parse rejects the PodMonitor",
            p(),
            pm("{selector: {matchExpressions: [{key: app, operator: In}]}, podMetricsEndpoints: [{port: metrics}]}"),
            &["spec.selector"],
        ),
        rej(
            "a DoesNotExist spec.selector is accepted (v0.79.2+)",
            p(),
            pm("{selector: {matchExpressions: [{key: istio-prometheus-ignore, operator: DoesNotExist}]}, podMetricsEndpoints: [{port: http-envoy-prom}]}"),
            &[],
        ),
        rej(
            "ServiceMonitors get the same checks: a bad relabel regex rejects it",
            p(),
            service_monitor("app", "{}", &sm_web("{port: http-metrics, relabelings: [{action: keep, sourceLabels: [job], regex: '(web'}]}")),
            &["spec.endpoints[0].relabelings[0]"],
        ),
        rej(
            "ServiceMonitors get the same checks: scrapeTimeout over interval rejects it",
            p(),
            service_monitor("app", "{}", &sm_web("{port: http-metrics, interval: 10s, scrapeTimeout: 20s}")),
            &["spec.endpoints[0]: scrapeTimeout"],
        ),
        rej(
            "a ServiceMonitor with bearerTokenFile is accepted when arbitraryFSAccessThroughSMs is not denied",
            p(),
            service_monitor("app", "{}", &sm_web("{port: http-metrics, bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token}")),
            &[],
        ),
    ]
}

#[test]
fn rejection_truth_table() {
    run_rejections(rejection_cases());
}

#[test]
fn a6_scrape_timeout_over_the_prometheus_scrape_interval_rejects_an_endpoint_without_interval() {
    run_rejections(vec![
        rej(
            "an endpoint without interval inherits spec.scrapeInterval 30s: scrapeTimeout 1m is too long",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeInterval: 30s}"),
            pod_monitor("app", "{}", &pm_web("{port: metrics, scrapeTimeout: 1m}")),
            &["scrapeTimeout"],
        ),
        rej(
            "an endpoint without interval on a Prometheus without scrapeInterval uses the 30s default",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pod_monitor("app", "{}", &pm_web("{port: metrics, scrapeTimeout: 45s}")),
            &["scrapeTimeout"],
        ),
        rej(
            "an endpoint without interval is fine under a long spec.scrapeInterval",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeInterval: 2m}"),
            pod_monitor("app", "{}", &pm_web("{port: metrics, scrapeTimeout: 1m}")),
            &[],
        ),
    ]);
}

#[test]
fn a6_a_bad_metric_relabeling_regex_rejects_the_monitor() {
    run_rejections(vec![rej(
        "metricRelabelings are validated like relabelings",
        prometheus(ALL),
        pod_monitor("app", "{}", &pm_web("{port: metrics, metricRelabelings: [{action: drop, sourceLabels: [__name__], regex: 'go_(gc'}]}")),
        &["metricRelabelings[0]"],
    )]);
}

#[test]
fn a6_arbitrary_fs_access_deny_rejects_service_monitors_reading_files() {
    run_rejections(vec![
        rej(
            "with arbitraryFSAccessThroughSMs.deny a bearerTokenFile rejects the ServiceMonitor",
            prometheus("{serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}, arbitraryFSAccessThroughSMs: {deny: true}}"),
            service_monitor("app", "{}", &sm_web("{port: http-metrics, bearerTokenFile: /etc/token}")),
            &["bearerTokenFile"],
        ),
        rej(
            "with arbitraryFSAccessThroughSMs.deny a tlsConfig.caFile rejects the ServiceMonitor",
            prometheus("{serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}, arbitraryFSAccessThroughSMs: {deny: true}}"),
            service_monitor("app", "{}", &sm_web("{port: http-metrics, scheme: https, tlsConfig: {caFile: /etc/ca.crt}}")),
            &["caFile"],
        ),
    ]);
}

#[test]
fn a6_relabel_checks_depend_on_the_prometheus_version() {
    run_rejections(vec![
        rej(
            "keepequal on Prometheus v2.40 rejects the PodMonitor",
            prometheus("{version: v2.40.0, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pod_monitor("app", "{}", &pm_web("{port: metrics, relabelings: [{action: keepequal, sourceLabels: [a], targetLabel: b}]}")),
            &["keepequal"],
        ),
        rej(
            "lowercase on Prometheus v2.35 rejects the PodMonitor",
            prometheus("{version: v2.35.0, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pod_monitor("app", "{}", &pm_web("{port: metrics, relabelings: [{action: lowercase, sourceLabels: [a], targetLabel: b}]}")),
            &["lowercase"],
        ),
        rej(
            "keepequal on a Prometheus image tagged v2.45 is accepted",
            prometheus("{image: 'quay.io/prometheus/prometheus:v2.45.0', podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pod_monitor("app", "{}", &pm_web("{port: metrics, relabelings: [{action: keepequal, sourceLabels: [a], targetLabel: b}]}")),
            &[],
        ),
    ]);
}

#[test]
fn a6_utf8_label_names_are_valid_on_prometheus_3() {
    run_rejections(vec![
        rej(
            "a UTF-8 targetLabel is valid on Prometheus v3",
            prometheus("{version: v3.5.0, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pod_monitor("app", "{}", &pm_web("{port: metrics, relabelings: [{action: replace, sourceLabels: [__meta_kubernetes_pod_name], targetLabel: service.name}]}")),
            &[],
        ),
    ]);
}

#[test]
fn a6_the_engine_reports_a_monitor_rejected_by_every_selecting_prometheus() {
    let idx = world(
        &prometheus(ALL),
        &pod_monitor(
            "app",
            "{}",
            &pm_web("{port: metrics, interval: 15s, scrapeTimeout: 30s}"),
        ),
        &[],
    );
    let report = evaluate(&idx, &EngineConfig::default());
    let s = subject(&report.subjects, "PodMonitor", "app", "pm");
    let c = s.condition("MonitorSelected").expect("MonitorSelected");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "MonitorRejected"),
        "{c:?}"
    );
    assert!(c.message.contains("scrapeTimeout"), "{}", c.message);
}

// ---------------------------------------------------------------------------------------------------------
// A9, B, D2, E: PodMonitor targets.

struct TgtCase {
    name: &'static str,
    workload: String,
    monitor: String,
    extra: Vec<String>,
    expect: Vec<&'static str>,
}

fn tgt(
    name: &'static str,
    workload: String,
    monitor: String,
    extra: Vec<String>,
    expect: Vec<&'static str>,
) -> TgtCase {
    TgtCase {
        name,
        workload,
        monitor,
        extra,
        expect,
    }
}

/// Each case's monitor must be selected and accepted; then its targets must be exactly `expect`.
fn run_targets(cases: Vec<TgtCase>) {
    let mut failures = Vec::new();
    for c in &cases {
        let idx = world(&c.workload, &c.monitor, &c.extra);
        let (p, m) = (the_workload(&idx), the_monitor(&idx));
        if let Err(e) = selects(p, m, &idx) {
            failures.push(format!("{}\n  the monitor is not selected: {e:?}", c.name));
            continue;
        }
        let rejected = rejections(p, m);
        if !rejected.is_empty() {
            failures.push(format!(
                "{}\n  the monitor is rejected: {rejected:?}",
                c.name
            ));
            continue;
        }
        let got = rendered_targets(&idx, p, m);
        let want = sorted(&c.expect);
        if got != want {
            failures.push(format!(
                "{}\n  expected {want:#?}\n  got      {got:#?}",
                c.name
            ));
        }
    }
    finish("target", failures);
}

fn pod_target_cases() -> Vec<TgtCase> {
    let p = || prometheus(ALL);
    let pm = |spec: &str| pod_monitor("app", "{}", spec);
    let pm_mon = |spec: &str| pod_monitor("monitoring", "{}", spec);
    vec![
        // The spec's sample rows.
        tgt(
            "row 4: port metrics yields 10.1.0.5:9090 from container main",
            p(),
            pm(PM_WEB_METRICS),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "row 4: the target carries job=app/pm and endpoint=metrics",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [job, endpoint, namespace, pod, container], regex: 'app/pm;metrics;app;web-0;main'}]}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "row 7: port \"9090\" is a port name, and no port is named 9090",
            p(),
            pm(&pm_web("{port: \"9090\"}")),
            vec![],
            vec![],
        ),
        tgt(
            "row 9: no port field scrapes every port of every container, the init sidecar, and the port-less container on 80",
            p(),
            pm(&pm_web("{}")),
            vec![],
            vec![W_HTTP, W_METRICS, W_LOG, W_ENVOY],
        ),
        tgt(
            "row 9: the init container's target carries __meta_kubernetes_pod_container_init=true",
            p(),
            pm(&pm_web("{relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_init], regex: 'true'}]}")),
            vec![],
            vec![W_ENVOY],
        ),
        tgt(
            "row 13: a PodMonitor in monitoring with an empty namespaceSelector looks only in monitoring",
            p(),
            pm_mon(PM_WEB_METRICS),
            vec![],
            vec![],
        ),
        tgt(
            "row 13: namespaceSelector matchNames [app] finds web-0",
            p(),
            pm_mon("{selector: {matchLabels: {app: web}}, namespaceSelector: {matchNames: [app]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "row 13: namespaceSelector any: true finds web-0",
            p(),
            pm_mon("{selector: {matchLabels: {app: web}}, namespaceSelector: {any: true}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "row 13: ignoreNamespaceSelectors overrides any: true and keeps the PodMonitor in its own namespace",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, ignoreNamespaceSelectors: true}"),
            pm_mon("{selector: {matchLabels: {app: web}}, namespaceSelector: {any: true}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![],
        ),
        tgt(
            "row 16: a keep on __meta_kubernetes_pod_container_name =~ istio-proxy leaves only 15090",
            p(),
            pm(&pm_web("{relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: istio-proxy}]}")),
            vec![],
            vec![W_ENVOY],
        ),
        // B1
        tgt(
            "B1: ignoreNamespaceSelectors overrides matchNames too",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, ignoreNamespaceSelectors: true}"),
            pm_mon("{selector: {matchLabels: {app: web}}, namespaceSelector: {matchNames: [app]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![],
        ),
        tgt(
            "B1: ignoreNamespaceSelectors still scrapes the PodMonitor's own namespace",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, ignoreNamespaceSelectors: true}"),
            pm("{selector: {matchLabels: {app: web}}, namespaceSelector: {matchNames: [monitoring]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B1: matchNames does not add the PodMonitor's own namespace",
            p(),
            pm("{selector: {matchLabels: {app: web}}, namespaceSelector: {matchNames: [monitoring]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![],
        ),
        tgt(
            "B1: any: true wins over matchNames",
            p(),
            pm_mon("{selector: {matchLabels: {app: web}}, namespaceSelector: {any: true, matchNames: [monitoring]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B1: matchNames lists exactly the namespaces to discover in, here two",
            p(),
            pm_mon("{selector: {}, namespaceSelector: {matchNames: [app, other]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x-0, namespace: other, labels: {app: web}}\nspec: {containers: [{name: x, image: x, ports: [{name: metrics, containerPort: 9090}]}]}\nstatus: {phase: Running, podIP: 10.2.0.1}\n".to_string(),
                "apiVersion: v1\nkind: Pod\nmetadata: {name: y-0, namespace: third, labels: {app: web}}\nspec: {containers: [{name: y, image: y, ports: [{name: metrics, containerPort: 9090}]}]}\nstatus: {phase: Running, podIP: 10.3.0.1}\n".to_string(),
            ],
            vec![W_METRICS, "other/x-0 http://10.2.0.1:9090/metrics x/metrics #0"],
        ),
        // B2
        tgt(
            "B2: a pod without status.podIP yields no target",
            p(),
            pm(PM_WEB_METRICS),
            vec![web_pod("web-2", "Pending", None)],
            vec![W_METRICS],
        ),
        tgt(
            "B2: a port-less container scraped over https is scraped on 443",
            p(),
            pm(&pm_web("{scheme: https, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: log}]}")),
            vec![],
            vec!["app/web-0 https://10.1.0.5:443/metrics log/- #0"],
        ),
        tgt(
            "B2: port-less targets have no port meta labels, so a keep on the port name drops them",
            p(),
            pm(&pm_web("{relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_port_protocol], regex: TCP}]}")),
            vec![],
            vec![W_HTTP, W_METRICS, W_ENVOY],
        ),
        tgt(
            "B2: a port-less init container also yields a port-less target",
            p(),
            pm("{selector: {matchLabels: {app: init}}, podMetricsEndpoints: [{}]}"),
            vec!["apiVersion: v1\nkind: Pod\nmetadata: {name: init-0, namespace: app, labels: {app: init}}\nspec: {initContainers: [{name: setup, image: busybox}], containers: [{name: app, image: app, ports: [{name: metrics, containerPort: 9090}]}]}\nstatus: {phase: Running, podIP: 10.1.0.20}\n".to_string()],
            vec![
                "app/init-0 http://10.1.0.20:9090/metrics app/metrics #0",
                "app/init-0 http://10.1.0.20:80/metrics setup/- #0",
            ],
        ),
        tgt(
            "B2: a hostNetwork pod is scraped on its pod IP, which is the node's IP",
            p(),
            pm("{selector: {matchLabels: {app: node-exporter}}, podMetricsEndpoints: [{port: metrics}]}"),
            vec!["apiVersion: v1\nkind: Pod\nmetadata: {name: node-exporter-abcde, namespace: app, labels: {app: node-exporter}}\nspec: {hostNetwork: true, nodeName: node-1, containers: [{name: node-exporter, image: ne, ports: [{name: metrics, containerPort: 9100, hostPort: 9100}]}]}\nstatus: {phase: Running, hostIP: 192.168.1.11, podIP: 192.168.1.11}\n".to_string()],
            vec!["app/node-exporter-abcde http://192.168.1.11:9100/metrics node-exporter/metrics #0"],
        ),
        // B3.2 phases
        tgt(
            "B3: Failed and Succeeded pods are dropped, Pending and Unknown pods are kept",
            p(),
            pm(PM_WEB_METRICS),
            vec![
                web_pod("web-failed", "Failed", Some("10.1.0.11")),
                web_pod("web-done", "Succeeded", Some("10.1.0.12")),
                web_pod("web-pending", "Pending", Some("10.1.0.13")),
                web_pod("web-unknown", "Unknown", Some("10.1.0.14")),
            ],
            vec![
                W_METRICS,
                "app/web-pending http://10.1.0.13:9090/metrics app/metrics #0",
                "app/web-unknown http://10.1.0.14:9090/metrics app/metrics #0",
            ],
        ),
        tgt(
            "B3: filterRunning: false keeps Failed and Succeeded pods",
            p(),
            pm(&pm_web("{port: metrics, filterRunning: false}")),
            vec![
                web_pod("web-failed", "Failed", Some("10.1.0.11")),
                web_pod("web-done", "Succeeded", Some("10.1.0.12")),
            ],
            vec![
                W_METRICS,
                "app/web-failed http://10.1.0.11:9090/metrics app/metrics #0",
                "app/web-done http://10.1.0.12:9090/metrics app/metrics #0",
            ],
        ),
        tgt(
            "B3: filterRunning: true drops a Failed pod like the default",
            p(),
            pm(&pm_web("{port: metrics, filterRunning: true}")),
            vec![web_pod("web-failed", "Failed", Some("10.1.0.11"))],
            vec![W_METRICS],
        ),
        // B3.3 selector as relabel rules
        tgt(
            "B3: matchLabels values are unescaped regexes, so app: w.b matches app=web",
            p(),
            pm("{selector: {matchLabels: {app: w.b}}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: with selectorMechanism RoleSelector, app: w.b is exact and matches nothing",
            p(),
            pm("{selector: {matchLabels: {app: w.b}}, selectorMechanism: RoleSelector, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![],
        ),
        tgt(
            "B3: selectorMechanism Relabel is the default's regex semantics",
            p(),
            pm("{selector: {matchLabels: {app: w.b}}, selectorMechanism: Relabel, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: with RoleSelector an exact match still selects",
            p(),
            pm("{selector: {matchLabels: {app: web}}, selectorMechanism: RoleSelector, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: the relabel form is fully anchored: app: we does not match app=web",
            p(),
            pm("{selector: {matchLabels: {app: we}}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![],
        ),
        tgt(
            "B3: In values are alternatives of one regex: In [db, we.] matches app=web",
            p(),
            pm("{selector: {matchExpressions: [{key: app, operator: In, values: [db, we.]}]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: NotIn keeps pods without the label and drops regex matches: NotIn [w.*] drops web-0",
            p(),
            pm("{selector: {matchExpressions: [{key: app, operator: NotIn, values: ['w.*']}]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![labelled_pod("batch-0", "{role: batch}")],
            vec!["app/batch-0 http://10.1.0.9:9100/metrics worker/metrics #0"],
        ),
        tgt(
            "B3: with RoleSelector NotIn [w.*] is literal and keeps web-0",
            p(),
            pm("{selector: {matchExpressions: [{key: app, operator: NotIn, values: ['w.*']}]}, selectorMechanism: RoleSelector, podMetricsEndpoints: [{port: metrics}]}"),
            vec![labelled_pod("batch-0", "{role: batch}")],
            vec![W_METRICS, "app/batch-0 http://10.1.0.9:9100/metrics worker/metrics #0"],
        ),
        tgt(
            "B3: Exists keeps pods carrying the label",
            p(),
            pm("{selector: {matchExpressions: [{key: role, operator: Exists}]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![labelled_pod("batch-0", "{role: batch}")],
            vec!["app/batch-0 http://10.1.0.9:9100/metrics worker/metrics #0"],
        ),
        tgt(
            "B3: DoesNotExist drops pods carrying the label (seed 000's istio-prometheus-ignore)",
            p(),
            pm("{selector: {matchExpressions: [{key: istio-prometheus-ignore, operator: DoesNotExist}]}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![labelled_pod("batch-0", "{istio-prometheus-ignore: \"true\"}")],
            vec![W_METRICS],
        ),
        tgt(
            "B3: an empty PodMonitor selector selects every pod in the namespace",
            p(),
            pm("{selector: {}, podMetricsEndpoints: [{port: metrics}]}"),
            vec![labelled_pod("batch-0", "{}")],
            vec![W_METRICS, "app/batch-0 http://10.1.0.9:9100/metrics worker/metrics #0"],
        ),
        // B3.4 port filters
        tgt(
            "B3: port is an anchored regex over port names: http.* matches http and http-envoy-prom",
            p(),
            pm(&pm_web("{port: 'http.*'}")),
            vec![],
            vec![W_HTTP, W_ENVOY],
        ),
        tgt(
            "B3: port is anchored: metric matches no port name",
            p(),
            pm(&pm_web("{port: metric}")),
            vec![],
            vec![],
        ),
        tgt(
            "B3: portNumber 9090 keeps the port numbered 9090",
            p(),
            pm(&pm_web("{portNumber: 9090}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: portNumber reaches the native sidecar's 15090",
            p(),
            pm(&pm_web("{portNumber: 15090}")),
            vec![],
            vec![W_ENVOY],
        ),
        tgt(
            "B3: port wins over portNumber",
            p(),
            pm(&pm_web("{port: http, portNumber: 9090}")),
            vec![],
            vec![W_HTTP],
        ),
        tgt(
            "B3: deprecated targetPort as a string keeps on the port name",
            p(),
            pm(&pm_web("{targetPort: metrics}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: deprecated targetPort as an integer keeps on the port number",
            p(),
            pm(&pm_web("{targetPort: 8080}")),
            vec![],
            vec![W_HTTP],
        ),
        tgt(
            "B3: portNumber wins over targetPort",
            p(),
            pm(&pm_web("{portNumber: 9090, targetPort: 8080}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: endpoint is the deprecated targetPort when port is unset",
            p(),
            pm(&pm_web("{targetPort: metrics, relabelings: [{action: keep, sourceLabels: [endpoint], regex: metrics}]}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: each podMetricsEndpoints entry is its own job with its own targets",
            p(),
            pm("{selector: {matchLabels: {app: web}}, podMetricsEndpoints: [{port: metrics}, {port: http-envoy-prom, path: /stats/prometheus}]}"),
            vec![],
            vec![
                W_METRICS,
                "app/web-0 http://10.1.0.5:15090/stats/prometheus istio-proxy/http-envoy-prom #1",
            ],
        ),
        tgt(
            "B: an empty podMetricsEndpoints list produces no job and no target",
            p(),
            pm("{selector: {matchLabels: {app: web}}, podMetricsEndpoints: []}"),
            vec![],
            vec![],
        ),
        // B3.5 job
        tgt(
            "B3: jobLabel takes job from the pod's label",
            p(),
            pm("{selector: {matchLabels: {app: web}}, jobLabel: app, podMetricsEndpoints: [{port: metrics, relabelings: [{action: keep, sourceLabels: [job], regex: web}]}]}"),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "B3: a jobLabel the pod does not carry leaves job=<ns>/<name>",
            p(),
            pm("{selector: {matchLabels: {app: web}}, jobLabel: envoy-stats, podMetricsEndpoints: [{port: metrics, relabelings: [{action: keep, sourceLabels: [job], regex: app/pm}]}]}"),
            vec![],
            vec![W_METRICS],
        ),
        // B3.7 sharding
        tgt(
            "B3: shards split targets between shards but together scrape them all",
            prometheus("{shards: 3, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm(&pm_web("{}")),
            vec![],
            vec![W_HTTP, W_METRICS, W_LOG, W_ENVOY],
        ),
        // B4
        tgt(
            "B4: scheme and path come from the endpoint",
            p(),
            pm(&pm_web("{port: metrics, scheme: https, path: /admin/metrics}")),
            vec![],
            vec!["app/web-0 https://10.1.0.5:9090/admin/metrics main/metrics #0"],
        ),
        // D2
        tgt(
            "D2: spec.hostNetwork on the Prometheus does not change targets",
            prometheus("{hostNetwork: true, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm(PM_WEB_METRICS),
            vec![],
            vec![W_METRICS],
        ),
        // A8
        tgt(
            "A8: a DaemonSet-mode PrometheusAgent (all agents together) scrapes the same PodMonitor targets",
            agent("{mode: DaemonSet, podMonitorSelector: {}, podMonitorNamespaceSelector: {}}"),
            pm(PM_WEB_METRICS),
            vec![],
            vec![W_METRICS],
        ),
        // A9 scrape classes
        tgt(
            "A9: the default scrape class's keep filters a monitor that names no class",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeClasses: [{name: main-only, default: true, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: main}]}]}"),
            pm(&pm_web("{}")),
            vec![],
            vec![W_HTTP, W_METRICS],
        ),
        tgt(
            "A9: a named scrapeClass replaces the default class",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeClasses: [{name: main-only, default: true, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: main}]}, {name: plain}]}"),
            pm("{scrapeClass: plain, selector: {matchLabels: {app: web}}, podMetricsEndpoints: [{}]}"),
            vec![],
            vec![W_HTTP, W_METRICS, W_LOG, W_ENVOY],
        ),
        tgt(
            "A9: a non-default class applies only to monitors naming it",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeClasses: [{name: main-only, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: main}]}]}"),
            pm(&pm_web("{}")),
            vec![],
            vec![W_HTTP, W_METRICS, W_LOG, W_ENVOY],
        ),
        tgt(
            "A9: class relabelings run before the monitor's: a label the class sets is visible to the monitor's keep",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeClasses: [{name: tagged, default: true, relabelings: [{action: replace, targetLabel: tier, replacement: gold}]}]}"),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [tier], regex: gold}]}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "A9: class relabelings run before the monitor's: a label only the monitor sets is not visible to the class's keep",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeClasses: [{name: gate, default: true, relabelings: [{action: keep, sourceLabels: [tier], regex: gold}]}]}"),
            pm(&pm_web("{port: metrics, relabelings: [{action: replace, targetLabel: tier, replacement: gold}]}")),
            vec![],
            vec![],
        ),
        tgt(
            "A9: class relabelings run after the operator's own rules and see job and endpoint",
            prometheus("{podMonitorSelector: {}, podMonitorNamespaceSelector: {}, scrapeClasses: [{name: gate, default: true, relabelings: [{action: keep, sourceLabels: [job, endpoint], regex: 'app/pm;metrics'}]}]}"),
            pm(PM_WEB_METRICS),
            vec![],
            vec![W_METRICS],
        ),
        // E: meta labels in user rules
        tgt(
            "E: seed 002's rules keep the annotated pod's istio-proxy and rewrite __address__ to prometheus.io/port 15020",
            p(),
            pod_monitor("app", "{}", SEED002_PM_SPEC),
            vec![MESH0.to_string()],
            vec![
                "app/mesh-0 http://10.1.0.8:15020/stats/prometheus istio-proxy/- #0",
                // web-0's proxy has no prometheus.io annotations: the annotationpresent keep has the default
                // regex (.*), which matches the missing label's "", and the address rewrite does not match.
                "app/web-0 http://10.1.0.5:15090/stats/prometheus istio-proxy/http-envoy-prom #0",
            ],
        ),
        tgt(
            "E: a keep on annotationpresent with regex 'true' drops pods without the annotation",
            p(),
            pm("{selector: {}, podMetricsEndpoints: [{relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape], regex: 'true'}, {action: keep, sourceLabels: [__meta_kubernetes_pod_container_port_name], regex: http}]}]}"),
            vec![MESH0.to_string()],
            vec!["app/mesh-0 http://10.1.0.8:8080/metrics app/http #0"],
        ),
        tgt(
            "E: __metrics_path__ rewritten from the prometheus.io/path annotation changes the scraped path",
            p(),
            pm("{selector: {matchLabels: {app: mesh}}, podMetricsEndpoints: [{port: http, relabelings: [{action: replace, sourceLabels: [__meta_kubernetes_pod_annotation_prometheus_io_path], targetLabel: __metrics_path__, regex: '(.+)'}]}]}"),
            vec![MESH0.to_string()],
            vec!["app/mesh-0 http://10.1.0.8:8080/stats/prometheus app/http #0"],
        ),
        tgt(
            "E: __scheme__ rewritten by a rule changes the scheme",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: replace, targetLabel: __scheme__, replacement: https}]}")),
            vec![],
            vec!["app/web-0 https://10.1.0.5:9090/metrics main/metrics #0"],
        ),
        tgt(
            "E: label keys are sanitized: app.kubernetes.io/name is __meta_kubernetes_pod_label_app_kubernetes_io_name",
            p(),
            pm("{selector: {}, podMetricsEndpoints: [{port: http, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_name, __meta_kubernetes_pod_labelpresent_app_kubernetes_io_name], regex: 'mesh;true'}]}]}"),
            vec![MESH0.to_string()],
            vec!["app/mesh-0 http://10.1.0.8:8080/metrics app/http #0"],
        ),
        tgt(
            "E: identity and state labels: namespace, pod name, IP, node, phase, ready, controller, uid, host IP",
            p(),
            pm("{selector: {}, podMetricsEndpoints: [{port: http, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_namespace, __meta_kubernetes_pod_name, __meta_kubernetes_pod_ip, __meta_kubernetes_pod_node_name, __meta_kubernetes_pod_phase, __meta_kubernetes_pod_ready, __meta_kubernetes_pod_controller_kind, __meta_kubernetes_pod_controller_name, __meta_kubernetes_pod_uid, __meta_kubernetes_pod_host_ip], regex: 'app;mesh-0;10.1.0.8;node-1;Running;true;ReplicaSet;mesh-5d4f;5a1c9e2e-0000-4000-8000-00000000e5a0;192.168.1.11'}]}]}"),
            vec![MESH0.to_string()],
            vec!["app/mesh-0 http://10.1.0.8:8080/metrics app/http #0"],
        ),
        tgt(
            "E: per-container labels: name, image, init, port name, number and protocol",
            p(),
            pm(&pm_web("{relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_image, __meta_kubernetes_pod_container_init, __meta_kubernetes_pod_container_port_name, __meta_kubernetes_pod_container_port_number, __meta_kubernetes_pod_container_port_protocol], regex: 'main;registry.local/web:1;false;metrics;9090;TCP'}]}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "E: a drop on the port name removes matching ports and keeps the port-less target",
            p(),
            pm(&pm_web("{relabelings: [{action: drop, sourceLabels: [__meta_kubernetes_pod_container_port_name], regex: 'http.*'}]}")),
            vec![],
            vec![W_METRICS, W_LOG],
        ),
        tgt(
            "E: node labels are absent without attachMetadata",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_node_name], regex: '.+'}]}")),
            vec![],
            vec![],
        ),
        tgt(
            "E: namespace labels are never present in operator-generated configs",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_namespace_label_team], regex: a}]}")),
            vec![],
            vec![],
        ),
        tgt(
            "E: a pod not Ready reports __meta_kubernetes_pod_ready=false",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_ready], regex: 'false'}]}")),
            vec![WEB1.to_string()],
            vec!["app/web-1 http://10.1.0.6:9090/metrics main/metrics #0"],
        ),
        tgt(
            "E: a pod without a Ready condition reports __meta_kubernetes_pod_ready=unknown",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_ready], regex: unknown}]}")),
            vec![web_pod("web-pending", "Pending", Some("10.1.0.13"))],
            vec!["app/web-pending http://10.1.0.13:9090/metrics app/metrics #0"],
        ),
        tgt(
            "E: a keep with the default regex keeps every target, even when the source label is missing",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_annotation_does_not_exist]}]}")),
            vec![],
            vec![W_METRICS],
        ),
        tgt(
            "E: regex \"\" in a monitor is left out by the operator, so a keep with it keeps like (.*)",
            p(),
            pm(&pm_web("{port: metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: ''}]}")),
            vec![],
            vec![W_METRICS],
        ),
    ]
}

/// seed 002's envoy-stats-monitor rules (ch7/pod-monitor-dp.yaml), over any namespace.
const SEED002_PM_SPEC: &str = r#"{selector: {matchExpressions: [{key: istio-prometheus-ignore, operator: DoesNotExist}]}, namespaceSelector: {any: true}, jobLabel: envoy-stats, podMetricsEndpoints: [{path: /stats/prometheus, interval: 15s, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_name], regex: istio-proxy}, {action: keep, sourceLabels: [__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape]}, {sourceLabels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port], action: replace, regex: '([^:]+)(?::\d+)?;(\d+)', replacement: '$1:$2', targetLabel: __address__}, {action: labeldrop, regex: '__meta_kubernetes_pod_label_(.+)'}, {sourceLabels: [__meta_kubernetes_namespace], action: replace, targetLabel: namespace}, {sourceLabels: [__meta_kubernetes_pod_name], action: replace, targetLabel: pod_name}]}]}"#;

#[test]
fn pod_monitor_target_truth_table() {
    run_targets(pod_target_cases());
}

// ---------------------------------------------------------------------------------------------------------
// C: ServiceMonitor targets.

// Row 19's targets: the ready and the notReady endpoint, both on 9090.
const S_WEB0: &str = "app/web-0 http://10.1.0.5:9090/metrics main/metrics #0";
const S_WEB1: &str = "app/web-1 http://10.1.0.6:9090/metrics main/metrics #0";

fn service_target_cases() -> Vec<TgtCase> {
    let p = || prometheus(ALL);
    let sm = |spec: &str| service_monitor("app", "{}", spec);
    let failed_backend = || {
        vec![
            web_service("[{name: http-metrics, port: 80, targetPort: 9090}]"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web-old, namespace: app, labels: {app: web}}\nspec: {containers: [{name: main, image: web, ports: [{name: metrics, containerPort: 9090}]}]}\nstatus: {phase: Failed, podIP: 10.1.0.30}\n".to_string(),
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-x, namespace: app, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{name: http-metrics, port: 9090, protocol: TCP}]\nendpoints: [{addresses: [10.1.0.30], conditions: {ready: false}, targetRef: {kind: Pod, namespace: app, name: web-old}}]\n".to_string(),
        ]
    };
    let undeclared = || {
        vec![
            WEB1.to_string(),
            web_service("[{name: http-metrics, port: 80, targetPort: 9100}]"),
            web_slice("[{name: http-metrics, port: 9100, protocol: TCP}]"),
        ]
    };
    vec![
        tgt(
            "row 19: port http-metrics scrapes the ready and the notReady endpoint on 9090",
            p(),
            sm(&sm_web("{port: http-metrics}")),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "row 19: job is the Service name",
            p(),
            sm(&sm_web("{port: http-metrics, relabelings: [{action: keep, sourceLabels: [job, endpoint], regex: 'web;http-metrics'}]}")),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C2: the notReady endpoint carries endpoint_ready=false and is not filtered by the operator",
            p(),
            sm(&sm_web("{port: http-metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_endpoint_ready], regex: 'false'}]}")),
            row19_objects(),
            vec![S_WEB1],
        ),
        tgt(
            "C2: without a port filter the backing pods' other container ports are extra targets",
            p(),
            sm(&sm_web("{}")),
            row19_objects(),
            vec![
                S_WEB0,
                S_WEB1,
                W_HTTP,
                W_ENVOY,
                "app/web-1 http://10.1.0.6:8080/metrics main/http #0",
            ],
        ),
        tgt(
            "C2: the extra container-port targets have no endpoint_port_name",
            p(),
            sm(&sm_web("{relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_endpoint_port_name], regex: '.+'}]}")),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C2: endpoint targets carry the Service's labels",
            p(),
            sm(&sm_web("{port: http-metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_service_name, __meta_kubernetes_service_label_k8s_app], regex: 'web;webapp'}]}")),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C2: endpoint targets carry the backing pod's labels and the matching container",
            p(),
            sm(&sm_web("{port: http-metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_label_app, __meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_port_name], regex: 'web;main;metrics'}]}")),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C2: pod labels are attached even when no container declares the endpoint's port",
            p(),
            sm(&sm_web("{port: http-metrics, relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_name], regex: 'web-.*'}]}")),
            undeclared(),
            vec![
                "app/web-0 http://10.1.0.5:9100/metrics -/- #0",
                "app/web-1 http://10.1.0.6:9100/metrics -/- #0",
            ],
        ),
        // C3
        tgt(
            "C3: port matches the Service port name, not the container port name",
            p(),
            sm(&sm_web("{port: metrics}")),
            row19_objects(),
            vec![],
        ),
        tgt(
            "C3: an unnamed Service port cannot match a port filter",
            p(),
            sm(&sm_web("{port: http-metrics}")),
            vec![
                WEB1.to_string(),
                web_service("[{port: 80, targetPort: 9090}]"),
                web_slice("[{port: 9090, protocol: TCP}]"),
            ],
            vec![],
        ),
        tgt(
            "C3: an unnamed Service port is still scraped without a port filter",
            p(),
            sm(&sm_web("{relabelings: [{action: keep, sourceLabels: [__meta_kubernetes_pod_container_port_number], regex: '9090'}]}")),
            vec![
                WEB1.to_string(),
                web_service("[{port: 80, targetPort: 9090}]"),
                web_slice("[{port: 9090, protocol: TCP}]"),
            ],
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C3: targetPort as a name keeps on the container port name, reaching a port the Service does not expose",
            p(),
            sm(&sm_web("{targetPort: http}")),
            row19_objects(),
            vec![W_HTTP, "app/web-1 http://10.1.0.6:8080/metrics main/http #0"],
        ),
        tgt(
            "C3: targetPort as a number keeps on the container port number",
            p(),
            sm(&sm_web("{targetPort: 9090}")),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C3: targetPort as a number needs a container to declare that port",
            p(),
            sm(&sm_web("{targetPort: 9100}")),
            undeclared(),
            vec![],
        ),
        tgt(
            "C3: port wins over targetPort",
            p(),
            sm(&sm_web("{port: http-metrics, targetPort: http}")),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C3: the Service selector is a relabel regex too: app: w.b matches the Service labelled app=web",
            p(),
            sm("{selector: {matchLabels: {app: w.b}}, endpoints: [{port: http-metrics}]}"),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C3: the selector matches Service labels, not pod labels",
            p(),
            sm("{selector: {matchLabels: {k8s-app: webapp}}, endpoints: [{port: http-metrics}]}"),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C3: a selector no Service matches yields nothing",
            p(),
            sm("{selector: {matchLabels: {app: db}}, endpoints: [{port: http-metrics}]}"),
            row19_objects(),
            vec![],
        ),
        tgt(
            "C3: filterRunning drops endpoints backed by a Failed pod",
            p(),
            sm(&sm_web("{port: http-metrics}")),
            failed_backend(),
            vec![],
        ),
        tgt(
            "C3: filterRunning: false keeps endpoints backed by a Failed pod",
            p(),
            sm(&sm_web("{port: http-metrics, filterRunning: false}")),
            failed_backend(),
            vec!["app/web-old http://10.1.0.30:9090/metrics main/metrics #0"],
        ),
        tgt(
            "C3: jobLabel takes job from the Service's label",
            p(),
            sm("{selector: {matchLabels: {app: web}}, jobLabel: k8s-app, endpoints: [{port: http-metrics, relabelings: [{action: keep, sourceLabels: [job], regex: webapp}]}]}"),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C3: a jobLabel whose Service label is empty leaves job as the Service name",
            p(),
            sm("{selector: {matchLabels: {app: web}}, jobLabel: empty, endpoints: [{port: http-metrics, relabelings: [{action: keep, sourceLabels: [job], regex: web}]}]}"),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        // C1
        tgt(
            "C1: serviceDiscoveryRole EndpointSlice discovers the same targets",
            prometheus("{serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}, serviceDiscoveryRole: EndpointSlice}"),
            service_monitor("app", "{}", "{serviceDiscoveryRole: EndpointSlice, selector: {matchLabels: {app: web}}, endpoints: [{port: http-metrics}]}"),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C1: namespaces follow B1: a ServiceMonitor in monitoring without namespaceSelector finds nothing in app",
            p(),
            service_monitor("monitoring", "{}", &sm_web("{port: http-metrics}")),
            row19_objects(),
            vec![],
        ),
        tgt(
            "C1: namespaces follow B1: matchNames [app] finds the Service",
            p(),
            service_monitor("monitoring", "{}", "{selector: {matchLabels: {app: web}}, namespaceSelector: {matchNames: [app]}, endpoints: [{port: http-metrics}]}"),
            row19_objects(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C1: namespaces follow B1: ignoreNamespaceSelectors overrides any: true",
            prometheus("{serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {}, ignoreNamespaceSelectors: true}"),
            service_monitor("monitoring", "{}", "{selector: {matchLabels: {app: web}}, namespaceSelector: {any: true}, endpoints: [{port: http-metrics}]}"),
            row19_objects(),
            vec![],
        ),
        tgt(
            "C2: without an EndpointSlice in the input, endpoints are derived from the Service selector, notReady pods included",
            p(),
            sm(&sm_web("{port: http-metrics}")),
            vec![
                WEB1.to_string(),
                web_service("[{name: http-metrics, port: 80, targetPort: metrics}]"),
            ],
            vec![S_WEB0, S_WEB1],
        ),
    ]
}

#[test]
fn service_monitor_target_truth_table() {
    run_targets(service_target_cases());
}

#[test]
fn c3_endpoints_of_a_missing_service_are_kept_only_by_an_empty_selector() {
    let orphan = || {
        vec![
            WEB1.to_string(),
            web_slice("[{name: http-metrics, port: 9090, protocol: TCP}]"),
        ]
    };
    run_targets(vec![
        tgt(
            "C3: with an empty selector the endpoints of a Service missing from the input are still scraped",
            prometheus(ALL),
            service_monitor("app", "{}", "{selector: {}, endpoints: [{port: http-metrics}]}"),
            orphan(),
            vec![S_WEB0, S_WEB1],
        ),
        tgt(
            "C3: with a label selector the endpoints of a missing Service are dropped",
            prometheus(ALL),
            service_monitor("app", "{}", &sm_web("{port: http-metrics}")),
            orphan(),
            vec![],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------------------
// D: the operator's own pods and status.

fn operator_pod(name: &str, ns: &str, labels: &str, ready: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\nspec: {{containers: [{{name: prometheus, image: prom, ports: [{{name: web, containerPort: 9090}}]}}, {{name: config-reloader, image: reloader, ports: [{{name: reloader-web, containerPort: 8080}}]}}]}}\nstatus: {{phase: Running, podIP: 10.0.0.10, conditions: [{{type: Ready, status: \"{}\"}}]}}\n",
        if ready { "True" } else { "False" }
    )
}

fn pod_names(idx: &ClusterIndex, p: &PromWorkload) -> Vec<String> {
    let mut v: Vec<String> = workload_pods(idx, p)
        .iter()
        .map(|(_, pod)| pod.name.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn d1_workload_pods_are_found_by_the_operator_labels() {
    let prom_labels = "{app.kubernetes.io/name: prometheus, app.kubernetes.io/instance: k8s, app.kubernetes.io/managed-by: prometheus-operator, operator.prometheus.io/name: k8s, operator.prometheus.io/shard: \"0\", prometheus: k8s}";
    let agent_labels = "{app.kubernetes.io/name: prometheus-agent, app.kubernetes.io/instance: k8s, app.kubernetes.io/managed-by: prometheus-operator, operator.prometheus.io/name: k8s}";
    let cases: Vec<(&str, String, Vec<String>, Vec<&str>)> = vec![
        (
            "D1: a Prometheus's pods carry operator.prometheus.io/name=<P>",
            prometheus(ALL),
            vec![
                operator_pod("prometheus-k8s-0", "monitoring", prom_labels, true),
                operator_pod("prometheus-k8s-shard-1-0", "monitoring", &prom_labels.replace("shard: \"0\"", "shard: \"1\""), true),
                operator_pod("prometheus-other-0", "monitoring", &prom_labels.replace("k8s", "other"), true),
                operator_pod("prometheus-k8s-0", "elsewhere", prom_labels, true),
            ],
            vec!["prometheus-k8s-0", "prometheus-k8s-shard-1-0"],
        ),
        (
            "D1: a PrometheusAgent's pods are app.kubernetes.io/name=prometheus-agent, not a same-named Prometheus's",
            agent("{podMonitorSelector: {}}"),
            vec![
                operator_pod("prom-agent-k8s-0", "monitoring", agent_labels, true),
                operator_pod("prometheus-k8s-0", "monitoring", prom_labels, true),
            ],
            vec!["prom-agent-k8s-0"],
        ),
        (
            "D1: pods of older operators are found by the legacy prometheus=<P> label",
            prometheus(ALL),
            vec![operator_pod("prometheus-k8s-0", "monitoring", "{app: prometheus, prometheus: k8s}", true)],
            vec!["prometheus-k8s-0"],
        ),
        (
            "D1: podMetadata labels do not make an unrelated pod the workload's",
            prometheus("{podMonitorSelector: {}, podMetadata: {labels: {team: obs}}}"),
            vec![operator_pod("grafana-0", "monitoring", "{team: obs}", true)],
            vec![],
        ),
    ];
    let mut failures = Vec::new();
    for (name, workload, extra, want) in cases {
        let mut docs = vec![BASE.to_string(), workload];
        docs.extend(extra);
        let idx = index_of(&docs);
        let got = pod_names(&idx, the_workload(&idx));
        if got != want {
            failures.push(format!("{name}\n  expected {want:?}\n  got      {got:?}"));
        }
    }
    finish("workload pod", failures);
}

#[test]
fn d1_identity_labels_differ_between_prometheus_and_agent() {
    let idx = index_of(&[prometheus(ALL)]);
    let l = the_workload(&idx).pod_identity_labels();
    let want: Vec<(&str, &str)> = vec![
        ("app.kubernetes.io/instance", "k8s"),
        ("app.kubernetes.io/managed-by", "prometheus-operator"),
        ("app.kubernetes.io/name", "prometheus"),
        ("operator.prometheus.io/name", "k8s"),
        ("prometheus", "k8s"),
    ];
    assert_eq!(
        l.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        want
    );
    let idx = index_of(&[agent("{}")]);
    let l = the_workload(&idx).pod_identity_labels();
    assert_eq!(
        l.get("app.kubernetes.io/name").map(String::as_str),
        Some("prometheus-agent")
    );
    assert!(!l.contains_key("prometheus"), "{l:?}");
}

#[test]
fn d3_status_fields_are_read_and_decide_scraper_readiness() {
    let status_prom = |available: i32, status: &str| {
        format!(
            "{}status: {{availableReplicas: {available}, replicas: 1, conditions: [{{type: Available, status: \"{status}\", reason: NoPodReady, message: 'shard 0: pod prometheus-k8s-0: containers with incomplete status: [init-config-reloader]'}}, {{type: Reconciled, status: \"True\"}}]}}\n",
            prometheus(ALL)
        )
    };
    let idx = index_of(&[
        BASE.to_string(),
        status_prom(0, "False"),
        pod_monitor("app", "{}", PM_WEB_METRICS),
    ]);
    let p = the_workload(&idx);
    assert!(p.has_status);
    assert_eq!(p.available_replicas, Some(0));
    let available = p
        .conditions
        .iter()
        .find(|c| c.type_ == "Available")
        .expect("Available condition");
    assert_eq!(
        (available.status.as_str(), available.reason.as_deref()),
        ("False", Some("NoPodReady"))
    );
    assert!(p
        .conditions
        .iter()
        .any(|c| c.type_ == "Reconciled" && c.status == "True"));

    let report = evaluate(&idx, &EngineConfig::default());
    let c = subject(&report.subjects, "PodMonitor", "app", "pm")
        .condition("ScraperReady")
        .expect("ScraperReady")
        .clone();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "ScraperNotReady"),
        "{c:?}"
    );

    let idx = index_of(&[
        BASE.to_string(),
        status_prom(1, "True"),
        pod_monitor("app", "{}", PM_WEB_METRICS),
    ]);
    let report = evaluate(&idx, &EngineConfig::default());
    let c = subject(&report.subjects, "PodMonitor", "app", "pm")
        .condition("ScraperReady")
        .expect("ScraperReady")
        .clone();
    assert_eq!(c.status, "True", "{c:?}");
}

// ---------------------------------------------------------------------------------------------------------
// The whole engine on the shipped seeds.

fn example(dir: &str) -> ClusterIndex {
    let path: PathBuf = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(dir);
    load_index(&[path], false)
        .unwrap_or_else(|e| panic!("{dir} does not load: {e}"))
        .0
}

fn subject<'a>(
    subjects: &'a [SubjectReport],
    kind: &str,
    ns: &str,
    name: &str,
) -> &'a SubjectReport {
    subjects
        .iter()
        .find(|s| s.kind == kind && s.namespace == ns && s.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no subject {kind} {ns}/{name} among {:?}",
                subjects
                    .iter()
                    .map(|s| format!("{} {}/{}", s.kind, s.namespace, s.name))
                    .collect::<Vec<_>>()
            )
        })
}

#[test]
fn seed_000_the_istio_proxies_pod_monitor_lacks_release_kube_prometheus_stack() {
    let idx = example("blog-system");
    let report = evaluate(&idx, &EngineConfig::default());
    let s = subject(
        &report.subjects,
        "PodMonitor",
        "monitoring",
        "istio-proxies",
    );
    let c = s.condition("MonitorSelected").expect("MonitorSelected");
    assert_eq!(c.status, "False", "{c:?}");
    assert_eq!(c.reason, "LabelsMismatch", "{c:?}");
    assert!(
        c.message.contains("release=kube-prometheus-stack"),
        "{}",
        c.message
    );
    assert!(!s.ready);

    // The same verdict from the promop API directly.
    let p = idx
        .prometheus(&ObjRef::new(
            Kind::Prometheus,
            "monitoring",
            "kube-prometheus-stack-prometheus",
        ))
        .expect("the kube-prometheus-stack Prometheus");
    let m = idx
        .monitor(MonitorKind::PodMonitor, "monitoring", "istio-proxies")
        .expect("istio-proxies");
    assert_eq!(
        selects(p, m, &idx),
        Err(NotSelected::LabelsMismatch(vec![
            "release=kube-prometheus-stack".into()
        ]))
    );
    assert_eq!(rejections(p, m), Vec::<String>::new());
}

#[test]
fn seed_000_fixed_the_labelled_pod_monitor_is_selected() {
    let idx = example("blog-system/fixed");
    let report = evaluate(&idx, &EngineConfig::default());
    let s = subject(
        &report.subjects,
        "PodMonitor",
        "monitoring",
        "istio-proxies",
    );
    let c = s.condition("MonitorSelected").expect("MonitorSelected");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "Selected"),
        "{c:?}"
    );
}

#[test]
fn seed_002_envoy_stats_monitor_scrapes_catalog_and_webapp_on_15020_only() {
    let idx = example("seed-002-istio-monitors");
    let report = evaluate(&idx, &EngineConfig::default());
    let s = subject(
        &report.subjects,
        "PodMonitor",
        "prometheus",
        "envoy-stats-monitor",
    );
    let c = s.condition("MonitorSelected").expect("MonitorSelected");
    assert_eq!(c.status, "True", "{c:?}");
    let mut got: Vec<(String, u16, String)> = s
        .targets
        .iter()
        .map(|t| (t.pod.clone(), t.port, t.path.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "istioinaction/catalog-6cf4b97d-ks72d".to_string(),
                15020,
                "/stats/prometheus".to_string()
            ),
            (
                "istioinaction/webapp-8578f44594-c2l9c".to_string(),
                15020,
                "/stats/prometheus".to_string()
            ),
        ]
    );
    assert!(
        !s.targets.iter().any(|t| t.pod.contains("batch-job")),
        "the batch-job pod has no istio-proxy"
    );

    // The same targets from the promop API directly.
    let p = idx
        .prometheus(&ObjRef::new(
            Kind::Prometheus,
            "prometheus",
            "prom-kube-prometheus-stack-prometheus",
        ))
        .expect("the prom Prometheus");
    let m = idx
        .monitor(MonitorKind::PodMonitor, "prometheus", "envoy-stats-monitor")
        .expect("envoy-stats-monitor");
    assert_eq!(selects(p, m, &idx), Ok(()));
    assert_eq!(rejections(p, m), Vec::<String>::new());
    let mut direct: Vec<String> = targets(Some(p), m, &idx)
        .iter()
        .map(|t| {
            let pod = idx.pod(t.pod);
            format!(
                "{}/{} {}:{} {}",
                pod.namespace,
                pod.name,
                pod.pod_ip.as_deref().unwrap_or("?"),
                t.port,
                t.container.as_deref().unwrap_or("-")
            )
        })
        .collect();
    direct.sort();
    assert_eq!(
        direct,
        vec![
            "istioinaction/catalog-6cf4b97d-ks72d 10.10.0.9:15020 istio-proxy",
            "istioinaction/webapp-8578f44594-c2l9c 10.10.0.11:15020 istio-proxy",
        ]
    );
}

#[test]
fn seed_002_istio_component_monitor_scrapes_istiod_on_its_http_monitoring_port() {
    let idx = example("seed-002-istio-monitors");
    let p = idx
        .prometheus(&ObjRef::new(
            Kind::Prometheus,
            "prometheus",
            "prom-kube-prometheus-stack-prometheus",
        ))
        .expect("the prom Prometheus");
    let m = idx
        .monitor(
            MonitorKind::ServiceMonitor,
            "prometheus",
            "istio-component-monitor",
        )
        .expect("istio-component-monitor");
    assert_eq!(selects(p, m, &idx), Ok(()));
    let got: Vec<(String, u16)> = targets(Some(p), m, &idx)
        .iter()
        .map(|t| (idx.pod(t.pod).display(), t.port))
        .collect();
    assert_eq!(
        got,
        vec![("istio-system/istiod-7df6ffc78d-xm4q2".to_string(), 15014)]
    );
}
