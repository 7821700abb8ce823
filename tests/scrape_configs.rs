//! Targets of plain Prometheus `scrape_configs` (issue 6, item 2): the Cilium monitoring example's
//! `kubernetes-pods` and `kubernetes-endpoints` jobs, `endpointslice`, namespace restrictions, and
//! dropped targets naming the rule that dropped them.
//!
//! Targets are rendered as `<ns>/<pod> <scheme>://<address><path> <container>/<port name>`; dropped ones
//! as `<ns>/<pod> <__address__ as discovered> dropped by <reason>`.

use std::path::Path;

use scrapepath::index::ClusterIndex;
use scrapepath::load::{parse_text, LoadStats};
use scrapepath::scrapeconfig::{discover, parse_config, DropReason, PrometheusConfig};

/// Namespaces `app` and `cilium-monitoring`; pod `web-0` annotated for scraping on 9090 at /stats with
/// containers `main` (http:8080, metrics:9090) and `log` (no ports); pod `quiet-0` without annotations;
/// Prometheus itself in `cilium-monitoring`; Service `web` (annotated, no slices) and Service `api`
/// with an EndpointSlice.
const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Namespace
metadata: {name: cilium-monitoring}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: app
  labels: {app: web}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: "9090"
    prometheus.io/path: /stats
spec:
  containers:
  - name: main
    image: registry.local/web:1
    ports:
    - {name: http, containerPort: 8080}
    - {name: metrics, containerPort: 9090}
  - name: log
    image: registry.local/log:1
status:
  phase: Running
  podIP: 10.1.0.5
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: quiet-0
  namespace: app
  labels: {app: quiet}
spec:
  containers:
  - name: main
    image: registry.local/quiet:1
    ports: [{name: http, containerPort: 8080}]
status:
  phase: Running
  podIP: 10.1.0.6
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-0
  namespace: cilium-monitoring
  labels: {app: prometheus}
  annotations: {prometheus.io/scrape: "true"}
spec:
  containers:
  - name: prometheus
    image: prom/prometheus:v3.5.0
    ports: [{name: web, containerPort: 9090}]
status:
  phase: Running
  podIP: 10.1.0.9
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: app
  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9090"}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: app
  labels: {app: api}
spec:
  ports: [{name: metrics, port: 9090}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-x1
  namespace: app
  labels: {kubernetes.io/service-name: api}
addressType: IPv4
ports: [{name: metrics, port: 9090, protocol: TCP}]
endpoints:
- addresses: [10.1.0.5]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: web-0, namespace: app}
- addresses: [10.9.9.9]
  conditions: {ready: false}
"#;

/// The Cilium monitoring example's jobs (examples/kubernetes/addons/prometheus/monitoring-example.yaml),
/// and small jobs for the other cases.
const PROMETHEUS_YML: &str = r#"
global:
  scrape_interval: 10s
  evaluation_interval: 10s
scrape_configs:
- job_name: kubernetes-pods
  kubernetes_sd_configs:
  - role: pod
  relabel_configs:
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
    action: keep
    regex: true
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
    action: replace
    target_label: __metrics_path__
    regex: (.+)
  - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
    action: replace
    regex: ([^:]+)(?::\d+)?;(\d+)
    replacement: $1:$2
    target_label: __address__
  - action: labelmap
    regex: __meta_kubernetes_pod_label_(.+)
  - source_labels: [__meta_kubernetes_namespace]
    action: replace
    target_label: namespace
  - source_labels: [__meta_kubernetes_pod_name]
    action: replace
    target_label: pod
  - source_labels: [__meta_kubernetes_pod_container_port_number]
    action: keep
    regex: \d+
- job_name: kubernetes-endpoints
  scrape_interval: 30s
  kubernetes_sd_configs:
  - role: endpoints
  relabel_configs:
  - source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scrape]
    action: keep
    regex: true
  - source_labels: [__address__, __meta_kubernetes_service_annotation_prometheus_io_port]
    action: replace
    target_label: __address__
    regex: (.+)(?::\d+);(\d+)
    replacement: $1:$2
- job_name: api-slices
  kubernetes_sd_configs:
  - role: endpointslice
  relabel_configs:
  - source_labels: [__meta_kubernetes_service_name, __meta_kubernetes_endpointslice_port_name]
    action: keep
    regex: api;metrics
- job_name: own-namespace-only
  kubernetes_sd_configs:
  - role: pod
    namespaces: {own_namespace: true}
- job_name: named-namespace
  scheme: https
  metrics_path: /m
  kubernetes_sd_configs:
  - role: pod
    namespaces: {names: [app]}
    selectors:
    - {role: pod, label: "app=quiet"}
"#;

fn cluster() -> ClusterIndex {
    let mut stats = LoadStats::default();
    let mut idx = ClusterIndex::new();
    for o in parse_text(Path::new("cluster.yaml"), CLUSTER, &mut stats).expect("fixtures parse") {
        idx.apply(o);
    }
    idx
}

fn config() -> PrometheusConfig {
    parse_config(PROMETHEUS_YML).expect("prometheus.yml parses")
}

fn render(job: &str) -> (Vec<String>, Vec<String>) {
    let idx = cluster();
    let cfg = config();
    let d = discover(cfg.job(job).expect("job exists"), &idx, "cilium-monitoring");
    let pod = |id: Option<usize>| {
        id.map(|id| idx.pod(id).display())
            .unwrap_or_else(|| "-".into())
    };
    let kept = d
        .targets
        .iter()
        .map(|t| {
            format!(
                "{} {}://{}{} {}/{}",
                pod(t.pod),
                t.scheme,
                t.address,
                t.path,
                t.container.as_deref().unwrap_or("-"),
                t.port_name.as_deref().unwrap_or("-"),
            )
        })
        .collect();
    let dropped = d
        .dropped
        .iter()
        .map(|t| {
            let reason = match t.reason {
                DropReason::Rule(i) => format!("relabel_configs[{i}]"),
                DropReason::NoAddress => "no address".to_string(),
            };
            format!(
                "{} {} dropped by {reason}",
                pod(t.pod),
                t.discovered["__address__"]
            )
        })
        .collect();
    (kept, dropped)
}

struct Case {
    name: &'static str,
    job: &'static str,
    kept: &'static [&'static str],
    dropped: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "the kubernetes-pods job scrapes annotated pods on their prometheus.io/port at their prometheus.io/path, once",
        job: "kubernetes-pods",
        kept: &[
            // Both ports of web-0 are rewritten to 9090: the scrape pool keeps one target.
            "app/web-0 http://10.1.0.5:9090/stats main/metrics",
            // Annotated without prometheus.io/port or path: its declared port, the default path.
            "cilium-monitoring/prometheus-0 http://10.1.0.9:9090/metrics prometheus/web",
        ],
        dropped: &[
            // The port-less container has no port number: the last keep rule drops it.
            "app/web-0 10.1.0.5 dropped by relabel_configs[6]",
            "app/quiet-0 10.1.0.6:8080 dropped by relabel_configs[0]",
        ],
    },
    Case {
        name: "the kubernetes-endpoints job scrapes the pods behind annotated services on the service's port annotation",
        job: "kubernetes-endpoints",
        kept: &["app/web-0 http://10.1.0.5:9090/metrics main/metrics"],
        dropped: &[
            // Service api is not annotated: its slice's addresses, and web-0's port 8080 that no
            // endpoint port of api covers.
            "app/web-0 10.1.0.5:9090 dropped by relabel_configs[0]",
            "- 10.9.9.9:9090 dropped by relabel_configs[0]",
            "app/web-0 10.1.0.5:8080 dropped by relabel_configs[0]",
        ],
    },
    Case {
        name: "the endpointslice role yields every slice address, pod-backed or not, with the service's name",
        job: "api-slices",
        kept: &[
            "app/web-0 http://10.1.0.5:9090/metrics main/metrics",
            "- http://10.9.9.9:9090/metrics -/-",
        ],
        dropped: &[
            // Service web (endpoints derived from its selector): both of web-0's ports.
            "app/web-0 10.1.0.5:8080 dropped by relabel_configs[0]",
            "app/web-0 10.1.0.5:9090 dropped by relabel_configs[0]",
            // Service api: web-0's port 8080, which no endpoint port covers, has no slice port name.
            "app/web-0 10.1.0.5:8080 dropped by relabel_configs[0]",
        ],
    },
    Case {
        name: "own_namespace restricts discovery to the Prometheus namespace",
        job: "own-namespace-only",
        kept: &["cilium-monitoring/prometheus-0 http://10.1.0.9:9090/metrics prometheus/web"],
        dropped: &[],
    },
    Case {
        name: "named namespaces and a pod label selector narrow discovery, with the job's scheme and path",
        job: "named-namespace",
        kept: &["app/quiet-0 https://10.1.0.6:8080/m main/http"],
        dropped: &[],
    },
];

#[test]
fn scrape_config_jobs_yield_the_targets_prometheus_discovers() {
    let mut failures = Vec::new();
    for c in CASES {
        let (kept, dropped) = render(c.job);
        let mut want_dropped: Vec<&str> = c.dropped.to_vec();
        let mut got_dropped: Vec<&str> = dropped.iter().map(String::as_str).collect();
        want_dropped.sort();
        got_dropped.sort();
        if kept != c.kept || got_dropped != want_dropped {
            failures.push(format!(
                "{}\n  kept:    {kept:#?}\n  want:    {:#?}\n  dropped: {got_dropped:#?}\n  want:    {want_dropped:#?}",
                c.name, c.kept
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_discovered_labels_are_the_ones_prometheus_documents() {
    let idx = cluster();
    let cfg = config();
    let d = discover(
        cfg.job("kubernetes-pods").unwrap(),
        &idx,
        "cilium-monitoring",
    );
    let dropped = d
        .dropped
        .iter()
        .find(|t| t.discovered["__address__"] == "10.1.0.6:8080")
        .expect("quiet-0 is discovered");
    for (k, v) in [
        ("__meta_kubernetes_namespace", "app"),
        ("__meta_kubernetes_pod_name", "quiet-0"),
        ("__meta_kubernetes_pod_ip", "10.1.0.6"),
        ("__meta_kubernetes_pod_label_app", "quiet"),
        ("__meta_kubernetes_pod_labelpresent_app", "true"),
        ("__meta_kubernetes_pod_container_name", "main"),
        ("__meta_kubernetes_pod_container_port_name", "http"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_ready", "unknown"),
        ("__scheme__", "http"),
        ("__metrics_path__", "/metrics"),
        ("__scrape_interval__", "10s"),
        ("job", "kubernetes-pods"),
    ] {
        assert_eq!(
            dropped.discovered.get(k).map(String::as_str),
            Some(v),
            "{k}"
        );
    }
    let kept = &d.targets[0];
    assert_eq!(
        kept.labels["__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape"],
        "true"
    );
    assert_eq!(kept.labels["app"], "web", "labelmap copies the pod labels");
    assert_eq!(kept.labels["namespace"], "app");
    assert_eq!(
        kept.labels["instance"], "10.1.0.5:9090",
        "instance defaults to the address"
    );

    let e = discover(
        cfg.job("kubernetes-endpoints").unwrap(),
        &idx,
        "cilium-monitoring",
    );
    let t = &e.targets[0];
    for (k, v) in [
        ("__meta_kubernetes_endpoints_name", "web"),
        ("__meta_kubernetes_service_name", "web"),
        (
            "__meta_kubernetes_service_annotation_prometheus_io_port",
            "9090",
        ),
        (
            "__meta_kubernetes_service_annotationpresent_prometheus_io_scrape",
            "true",
        ),
        ("__meta_kubernetes_endpoint_port_name", "http"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "web-0"),
        ("__meta_kubernetes_pod_container_port_name", "http"),
        ("__scrape_interval__", "30s"),
    ] {
        assert_eq!(t.labels.get(k).map(String::as_str), Some(v), "{k}");
    }
}

/// An excerpt of Prometheus' documentation/examples/prometheus-kubernetes.yml: TLS, authorization,
/// params and the node, service and ingress roles are read (or tolerated) without error.
const PROMETHEUS_KUBERNETES_EXAMPLE: &str = r#"
scrape_configs:
  - job_name: "kubernetes-apiservers"
    kubernetes_sd_configs:
      - role: endpoints
    scheme: https
    tls_config:
      ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    authorization:
      credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
    relabel_configs:
      - source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_service_name, __meta_kubernetes_endpoint_port_name]
        action: keep
        regex: default;kubernetes;https
  - job_name: "kubernetes-nodes"
    scheme: https
    kubernetes_sd_configs:
      - role: node
    relabel_configs:
      - action: labelmap
        regex: __meta_kubernetes_node_label_(.+)
  - job_name: "kubernetes-service-endpoints"
    kubernetes_sd_configs:
      - role: endpoints
    relabel_configs:
      - source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scrape]
        action: keep
        regex: true
      - source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scheme]
        action: replace
        target_label: __scheme__
        regex: (https?)
      - source_labels: [__meta_kubernetes_service_annotation_prometheus_io_path]
        action: replace
        target_label: __metrics_path__
        regex: (.+)
      - source_labels: [__address__, __meta_kubernetes_service_annotation_prometheus_io_port]
        action: replace
        target_label: __address__
        regex: ([^:]+)(?::\d+)?;(\d+)
        replacement: $1:$2
  - job_name: "kubernetes-services"
    metrics_path: /probe
    params:
      module: [http_2xx]
    kubernetes_sd_configs:
      - role: service
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
  - job_name: "kubernetes-ingresses"
    kubernetes_sd_configs:
      - role: ingress
  - job_name: "static"
    static_configs:
      - targets: ["localhost:9090"]
        labels: {env: test}
"#;

#[test]
fn the_prometheus_kubernetes_example_parses_and_its_service_endpoints_job_finds_annotated_services()
{
    let cfg = parse_config(PROMETHEUS_KUBERNETES_EXAMPLE).expect("the example parses");
    assert_eq!(cfg.jobs.len(), 6);
    assert_eq!(cfg.scrape_interval, "1m", "Prometheus' default");
    let idx = cluster();
    let names = |job: &str| -> Vec<String> {
        discover(cfg.job(job).unwrap(), &idx, "cilium-monitoring")
            .targets
            .iter()
            .map(|t| format!("{}://{}{}", t.scheme, t.address, t.path))
            .collect()
    };
    assert_eq!(
        names("kubernetes-service-endpoints"),
        ["http://10.1.0.5:9090/metrics"]
    );
    assert!(
        names("kubernetes-apiservers").is_empty(),
        "no default/kubernetes Service here"
    );
    // Roles other than pod, endpoints and endpointslice yield no targets here (yet).
    assert!(names("kubernetes-nodes").is_empty());
    assert!(names("kubernetes-services").is_empty());
    let s = cfg.job("static").unwrap();
    assert_eq!(s.static_configs[0].targets, ["localhost:9090"]);
    assert_eq!(s.static_configs[0].labels["env"], "test");
}

#[test]
fn configurations_prometheus_refuses_are_errors_naming_job_and_field() {
    for (text, want) in [
        (
            "scrape_configs:\n- job_name: a\n- job_name: a\n",
            "job \"a\": scrape_configs[1].job_name: found multiple scrape configs with this job name",
        ),
        (
            "scrape_configs:\n- job_name: a\n  scheme: ftp\n",
            "job \"a\": scrape_configs[0].scheme: scheme must be http or https, not \"ftp\"",
        ),
        (
            "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pod\n    selectors:\n    - {role: service, label: a=b}\n",
            "job \"a\": scrape_configs[0].kubernetes_sd_configs[0].selectors[0].role: service is not a valid selector role for role pod",
        ),
        (
            "scrape_configs:\n- job_name: a\n  relabel_configs:\n  - {source_labels: [a], action: hashmod, target_label: b}\n",
            "job \"a\": scrape_configs[0].relabel_configs[0]: ",
        ),
        (
            "global: {scrape_interval: often}\n",
            "global.scrape_interval: not a duration: \"often\"",
        ),
    ] {
        let e = parse_config(text).expect_err(text).to_string();
        assert!(e.starts_with(want), "{text}\n  got:  {e}\n  want: {want}");
    }
}

/// cilium-agent and cilium-envoy run with hostNetwork on the same node: both have the node's IP.
const HOST_NETWORK_PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: cilium-abcde
  namespace: kube-system
  labels: {k8s-app: cilium}
  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9962"}
spec:
  hostNetwork: true
  containers:
  - name: cilium-agent
    image: quay.io/cilium/cilium:v1.18.0
    ports: [{name: prometheus, containerPort: 9962, hostPort: 9962}]
status:
  phase: Running
  podIP: 192.168.1.10
  hostIP: 192.168.1.10
---
apiVersion: v1
kind: Pod
metadata:
  name: cilium-envoy-fghij
  namespace: kube-system
  labels: {k8s-app: cilium-envoy}
  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9964"}
spec:
  hostNetwork: true
  containers:
  - name: cilium-envoy
    image: quay.io/cilium/cilium-envoy:v1.34
    ports: [{name: envoy-metrics, containerPort: 9964, hostPort: 9964}]
status:
  phase: Running
  podIP: 192.168.1.10
  hostIP: 192.168.1.10
"#;

#[test]
fn a_rewritten_address_maps_back_to_the_pod_with_that_ip_preferring_the_discovered_one() {
    let mut idx = cluster();
    let mut stats = LoadStats::default();
    for o in parse_text(Path::new("host.yaml"), HOST_NETWORK_PODS, &mut stats).unwrap() {
        idx.apply(o);
    }
    let cfg = parse_config(&format!(
        "{PROMETHEUS_YML}- job_name: redirect\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces: {{names: [kube-system]}}\n    selectors:\n    - {{role: pod, label: k8s-app=cilium}}\n  relabel_configs:\n  - {{target_label: __address__, replacement: '10.1.0.5:9090'}}\n"
    ))
    .unwrap();
    let render = |job: &str| -> Vec<String> {
        discover(cfg.job(job).unwrap(), &idx, "cilium-monitoring")
            .targets
            .iter()
            .filter(|t| t.address.starts_with("192.") || job == "redirect")
            .map(|t| {
                format!(
                    "{} {} {}/{}",
                    t.pod.map(|id| idx.pod(id).display()).unwrap_or_default(),
                    t.address,
                    t.container.as_deref().unwrap_or("-"),
                    t.port_name.as_deref().unwrap_or("-"),
                )
            })
            .collect()
    };
    assert_eq!(
        render("kubernetes-pods"),
        [
            "kube-system/cilium-abcde 192.168.1.10:9962 cilium-agent/prometheus",
            "kube-system/cilium-envoy-fghij 192.168.1.10:9964 cilium-envoy/envoy-metrics",
        ]
    );
    assert_eq!(
        render("redirect"),
        ["app/web-0 10.1.0.5:9090 main/metrics"],
        "an address rewritten to another pod's IP is that pod's target"
    );
}
