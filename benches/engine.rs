//! Scale benchmark of the engine: a generated cluster of 10k / 25k / 50k pods in 2k namespaces, with
//! 5k network policies (CNP, CCNP, Kubernetes NetworkPolicy), 2k monitors (PodMonitor and ServiceMonitor,
//! with the Services and EndpointSlices the ServiceMonitors read) and 1k ScrapeIntents, all scraped by
//! the prometheus-operator `Prometheus monitoring/k8s`.
//!
//! `cargo bench --bench engine` runs every size in a child process of its own (this binary, re-executed
//! with `SCRAPEPATH_BENCH_CHILD=<pods>`), so that each child's peak RSS (VmHWM) reflects one size only,
//! then prints a markdown table.
//!
//! Environment:
//! - `SCRAPEPATH_BENCH_SIZES`: pod counts, comma separated (default `10000,25000,50000`).
//! - `SCRAPEPATH_BENCH_RUNS`: evaluation runs per size, the median is reported (default 5).
//! - `SCRAPEPATH_BENCH_BUDGET_SECS`: stop repeating evaluation once this much time went into it, after
//!   at least one run (default 60), so that a slow engine still finishes.
//! - `SCRAPEPATH_BENCH_BREAKDOWN=1`: after the timed runs, one more pass through `Engine::intent` /
//!   `Engine::monitor` one subject at a time, reporting CPU time per subject kind and the slowest subjects.
//! - Diagnostics only (the defaults are the benchmark): `SCRAPEPATH_BENCH_INTENTS` (1000),
//!   `SCRAPEPATH_BENCH_MONITORS` (2000) change how many of those are generated (the first n of the same
//!   sequence), to see how evaluation cost depends on them.
//!
//! Generation is deterministic (a seeded splitmix64 of our own). Every structural choice (namespaces,
//! apps, policies, monitors, intents) is drawn from a stream keyed by the object's index, independent of
//! the pod count: a larger size is the same cluster with more replicas per Deployment, so differences
//! between sizes measure growth in pods/targets alone.
//!
//! Objects are generated as JSON one at a time and fed through the public path,
//! `scrapepath::parse::parse_value` then `ClusterIndex::apply`; only that parse+apply is timed as "build"
//! (generation is reported apart), and no list of generated documents is kept, so the peak RSS is the
//! index and the evaluation, not the generator.

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scrapepath::engine::{evaluate, Engine, EngineConfig, Report};
use scrapepath::index::ClusterIndex;
use scrapepath::parse::{parse_value, Parsed};
use serde_json::{json, Value};

/// The allocator the `scrapepath` binary uses (src/main.rs), so that the numbers are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// ---------------------------------------------------------------------------------------------------------
// Shape of the generated cluster (fixed across sizes; only pods grow).

const NAMESPACES: usize = 2_000; // including monitoring and kube-system
const POLICIES: usize = 5_000;
const CNPS: usize = 2_600;
const KNPS: usize = 1_900;
const CCNPS: usize = POLICIES - CNPS - KNPS; // 500
const MONITORS: usize = 2_000;
const INTENTS: usize = 1_000;
const SCRAPER_REPLICAS: usize = 2;
const NODES: usize = 200;
const STACKS: u64 = 100; // cross-namespace `stack` label values (CCNP subjects, namespace-any monitors)
const TEAMS: u64 = 60;

const SEED: u64 = 0x5C4A_9E7A_7B00_0001;

const DEFAULT_SIZES: &str = "10000,25000,50000";
const CHILD_ENV: &str = "SCRAPEPATH_BENCH_CHILD";
const RESULT_PREFIX: &str = "SCRAPEPATH_BENCH_RESULT ";

// ---------------------------------------------------------------------------------------------------------
// Deterministic randomness.

struct Rng(u64);

impl Rng {
    /// An independent stream for object `i` of category `kind`.
    fn stream(kind: u64, i: u64) -> Rng {
        let mut r = Rng(SEED ^ kind.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.0 ^= r.next().wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// `n` characters of the alphabet Kubernetes uses for generated name suffixes.
    fn suffix(&mut self, n: usize) -> String {
        const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..n)
            .map(|_| ALPHA[self.index(ALPHA.len())] as char)
            .collect()
    }

    fn uid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

// Stream categories.
const S_NS: u64 = 1;
const S_APP: u64 = 2;
const S_POD: u64 = 3;
const S_CNP: u64 = 4;
const S_KNP: u64 = 5;
const S_CCNP: u64 = 6;
const S_MON: u64 = 7;
const S_INTENT: u64 = 8;

// ---------------------------------------------------------------------------------------------------------
// Layout: namespaces and their Deployments, decided before any object is generated.

const NS_WORDS: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "catalog",
    "billing",
    "identity",
    "orders",
    "ledger",
    "notify",
    "media",
    "ads",
    "geo",
    "risk",
    "fraud",
    "inventory",
    "shipping",
    "pricing",
    "reviews",
    "loyalty",
    "support",
];
const APP_WORDS: &[&str] = &[
    "api",
    "web",
    "worker",
    "gateway",
    "db-proxy",
    "cache",
    "scheduler",
    "indexer",
    "consumer",
    "frontend",
    "grpc-server",
    "exporter",
];
const TIERS: &[&str] = &["frontend", "backend", "backend", "batch"];

struct App {
    name: String,
    /// pod-template-hash of the current ReplicaSet.
    hash: String,
    /// Declares a `metrics` (9090) port besides `http` (8080); without it /metrics is served on http.
    metrics: bool,
    stack: Option<u64>,
    tier: &'static str,
    replicas: usize,
}

impl App {
    fn metrics_port_name(&self) -> &'static str {
        if self.metrics {
            "metrics"
        } else {
            "http"
        }
    }
}

struct Ns {
    name: String,
    team: u64,
    env: &'static str,
    istio: bool,
    apps: Vec<App>,
}

struct Layout {
    /// App namespaces only (monitoring and kube-system are generated apart).
    namespaces: Vec<Ns>,
}

impl Layout {
    fn new(pods: usize) -> Layout {
        let app_ns = NAMESPACES - 2;
        let mut namespaces: Vec<Ns> = (0..app_ns)
            .map(|i| {
                let mut r = Rng::stream(S_NS, i as u64);
                let word = NS_WORDS[i % NS_WORDS.len()];
                let env = *r.pick(&["prod", "prod", "prod", "staging", "staging", "dev"]);
                let istio = r.chance(20);
                let team = r.below(TEAMS);
                let n_apps = 2 + r.index(5); // 2..=6, about 4
                let first = r.index(APP_WORDS.len());
                let apps = (0..n_apps)
                    .map(|a| {
                        let mut ra = Rng::stream(S_APP, (i * 16 + a) as u64);
                        App {
                            name: APP_WORDS[(first + a) % APP_WORDS.len()].to_string(),
                            hash: ra.suffix(10),
                            metrics: ra.chance(80),
                            stack: ra.chance(20).then(|| ra.below(STACKS)),
                            tier: TIERS[ra.index(TIERS.len())],
                            replicas: 0,
                        }
                    })
                    .collect();
                Ns {
                    name: format!("{word}-{i:04}"),
                    team,
                    env,
                    istio,
                    apps,
                }
            })
            .collect();
        // Spread the pods over every Deployment: base replicas each, the remainder one by one.
        let app_pods = pods.saturating_sub(SCRAPER_REPLICAS + 2);
        let n_apps: usize = namespaces.iter().map(|n| n.apps.len()).sum();
        let (base, mut extra) = (app_pods / n_apps, app_pods % n_apps);
        for ns in &mut namespaces {
            for app in &mut ns.apps {
                app.replicas = base + usize::from(extra > 0);
                extra = extra.saturating_sub(1);
            }
        }
        Layout { namespaces }
    }

    fn apps(&self) -> usize {
        self.namespaces.iter().map(|n| n.apps.len()).sum()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Object generators. Each returns the JSON a watch or `kubectl get -o json` would give.

fn namespace(name: &str, labels: Value) -> Value {
    let mut l = labels;
    l["kubernetes.io/metadata.name"] = json!(name);
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": l}})
}

fn app_namespace(ns: &Ns) -> Value {
    let mut labels = json!({"team": format!("team-{}", ns.team), "env": ns.env});
    if ns.istio {
        labels["istio-injection"] = json!("enabled");
    }
    namespace(&ns.name, labels)
}

fn ip(n: usize) -> String {
    // 10.64.0.0/10 for pods: unique for 4M pods.
    let n = n + (64 << 16);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

fn node(n: u64) -> (String, String) {
    (
        format!("node-{n:03}"),
        format!("172.16.{}.{}", n / 250, n % 250 + 1),
    )
}

struct PodState {
    ip: Option<String>,
    ready: bool,
    phase: &'static str,
}

fn pod_state(r: &mut Rng, ip_n: usize) -> PodState {
    match r.below(1000) {
        0..=4 => PodState {
            ip: None,
            ready: false,
            phase: "Pending",
        },
        5..=24 => PodState {
            ip: Some(ip(ip_n)),
            ready: false,
            phase: "Running",
        },
        _ => PodState {
            ip: Some(ip(ip_n)),
            ready: true,
            phase: "Running",
        },
    }
}

fn pod_status(st: &PodState, host_ip: &str) -> Value {
    let b = |x: bool| if x { "True" } else { "False" };
    let mut status = json!({
        "phase": st.phase,
        "hostIP": host_ip,
        "qosClass": "Burstable",
        "startTime": "2025-01-01T00:00:00Z",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": b(st.phase == "Running")},
            {"type": "ContainersReady", "status": b(st.ready)},
            {"type": "Ready", "status": b(st.ready)},
        ],
    });
    if let Some(ip) = &st.ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{ "ip": ip }]);
    }
    status
}

/// Replica `k` of a Deployment. Its identity (name, IP, state) comes from the app's stream and `k`.
fn app_pod(ns: &Ns, app: &App, k: usize, ip_n: usize, state: &PodState) -> Value {
    let mut r = Rng::stream(S_POD, ip_n as u64);
    let name = format!("{}-{}-{}", app.name, app.hash, r.suffix(5));
    let (node_name, host_ip) = node(r.below(NODES as u64));
    let mut labels = json!({
        "app": app.name,
        "app.kubernetes.io/name": app.name,
        "app.kubernetes.io/part-of": ns.name,
        "pod-template-hash": app.hash,
        "tier": app.tier,
    });
    if let Some(s) = app.stack {
        labels["stack"] = json!(format!("stack-{s}"));
    }
    let mut ports = vec![json!({"name": "http", "containerPort": 8080, "protocol": "TCP"})];
    if app.metrics {
        ports.push(json!({"name": "metrics", "containerPort": 9090, "protocol": "TCP"}));
    }
    let mut containers = vec![json!({
        "name": app.name,
        "image": format!("registry.example.com/{}/{}:1.{}.{}", ns.name, app.name, k % 3, ip_n % 7),
        "ports": ports,
    })];
    let mut annotations = json!({"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"});
    if ns.istio {
        labels["security.istio.io/tlsMode"] = json!("istio");
        labels["service.istio.io/canonical-name"] = json!(app.name);
        labels["service.istio.io/canonical-revision"] = json!("latest");
        containers.push(json!({
            "name": "istio-proxy",
            "image": "docker.io/istio/proxyv2:1.22.3",
            "ports": [
                {"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"},
                {"name": "status-port", "containerPort": 15021, "protocol": "TCP"},
            ],
        }));
        annotations["prometheus.io/scrape"] = json!("true");
        annotations["prometheus.io/port"] = json!("15020");
        annotations["prometheus.io/path"] = json!("/stats/prometheus");
        annotations["sidecar.istio.io/status"] =
            json!("{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"]}");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns.name,
            "uid": r.uid(),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": format!("{}-{}", app.name, app.hash),
                "uid": r.uid(),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "nodeName": node_name,
            "serviceAccountName": app.name,
            "containers": containers,
        },
        "status": pod_status(state, &host_ip),
    })
}

fn prometheus_labels() -> Value {
    json!({
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/instance": "k8s",
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "app.kubernetes.io/version": "2.54.1",
        "operator.prometheus.io/name": "k8s",
        "operator.prometheus.io/shard": "0",
        "prometheus": "k8s",
        "controller-revision-hash": "prometheus-k8s-7d9c8b6f5",
        "statefulset.kubernetes.io/pod-name": "",
    })
}

fn prometheus_pod(i: usize) -> Value {
    let name = format!("prometheus-k8s-{i}");
    let mut labels = prometheus_labels();
    labels["statefulset.kubernetes.io/pod-name"] = json!(name);
    let (node_name, host_ip) = node(i as u64);
    let state = PodState {
        ip: Some(format!("10.63.255.{}", 10 + i)),
        ready: true,
        phase: "Running",
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "monitoring",
            "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "prometheus-k8s", "uid": "0", "controller": true}],
        },
        "spec": {
            "nodeName": node_name,
            "serviceAccountName": "prometheus-k8s",
            "containers": [
                {"name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.54.1",
                 "ports": [{"name": "web", "containerPort": 9090, "protocol": "TCP"}]},
                {"name": "config-reloader", "image": "quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0",
                 "ports": [{"name": "reloader-web", "containerPort": 8080, "protocol": "TCP"}]},
            ],
        },
        "status": pod_status(&state, &host_ip),
    })
}

fn coredns_pod(i: usize) -> Value {
    let (node_name, host_ip) = node(10 + i as u64);
    let state = PodState {
        ip: Some(format!("10.63.254.{}", 10 + i)),
        ready: true,
        phase: "Running",
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("coredns-5d78c9869d-{}", ["x7k2p", "q9m4t"][i % 2]),
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "coredns-5d78c9869d", "uid": "1", "controller": true}],
        },
        "spec": {
            "nodeName": node_name,
            "serviceAccountName": "coredns",
            "containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.1",
                "ports": [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                ]}],
        },
        "status": pod_status(&state, &host_ip),
    })
}

fn prometheus_cr() -> Value {
    let release = json!({"matchLabels": {"release": "kps"}});
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": "k8s", "namespace": "monitoring", "labels": {"release": "kps", "app.kubernetes.io/name": "kube-prometheus-stack-prometheus"}},
        "spec": {
            "replicas": SCRAPER_REPLICAS,
            "serviceAccountName": "prometheus-k8s",
            "podMonitorSelector": release,
            "podMonitorNamespaceSelector": {},
            "serviceMonitorSelector": release,
            "serviceMonitorNamespaceSelector": {},
            "probeSelector": release,
            "probeNamespaceSelector": {},
            "ruleSelector": release,
            "scrapeInterval": "30s",
        },
        "status": {
            "availableReplicas": SCRAPER_REPLICAS,
            "replicas": SCRAPER_REPLICAS,
            "conditions": [
                {"type": "Available", "status": "True", "reason": ""},
                {"type": "Reconciled", "status": "True", "reason": ""},
            ],
        },
    })
}

fn cilium_daemonset() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "cilium", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "cilium"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "cilium"}},
                "spec": {"containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.16.5"}]},
            },
        },
    })
}

fn service(ns: &Ns, app: &App) -> Value {
    let mut labels = json!({"app": app.name, "app.kubernetes.io/name": app.name});
    if let Some(s) = app.stack {
        labels["stack"] = json!(format!("stack-{s}"));
    }
    let mut ports =
        vec![json!({"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"})];
    if app.metrics {
        ports.push(
            json!({"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}),
        );
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app.name, "namespace": ns.name, "labels": labels},
        "spec": {"type": "ClusterIP", "selector": {"app": app.name}, "ports": ports},
    })
}

/// The EndpointSlice of an app's Service: its pods that have an IP, ready as the pod is.
fn endpoint_slice(ns: &Ns, app: &App, members: &[(String, PodState)]) -> Value {
    let mut ports = vec![json!({"name": "http", "port": 8080, "protocol": "TCP"})];
    if app.metrics {
        ports.push(json!({"name": "metrics", "port": 9090, "protocol": "TCP"}));
    }
    let endpoints: Vec<Value> = members
        .iter()
        .filter_map(|(pod, st)| {
            let ip = st.ip.as_ref()?;
            Some(json!({
                "addresses": [ip],
                "conditions": {"ready": st.ready, "serving": st.ready, "terminating": false},
                "targetRef": {"kind": "Pod", "namespace": ns.name, "name": pod},
            }))
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": format!("{}-{}", app.name, &app.hash[..5]),
            "namespace": ns.name,
            "labels": {"kubernetes.io/service-name": app.name, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
        },
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": endpoints,
    })
}

/// The selector of the monitoring Prometheus as a Cilium peer, in one of the ways teams write it.
fn cilium_prometheus_peer(r: &mut Rng) -> Value {
    match r.below(4) {
        0 => json!({"matchLabels": {
            "k8s:io.kubernetes.pod.namespace": "monitoring",
            "app.kubernetes.io/name": "prometheus",
        }}),
        1 => json!({"matchLabels": {
            "k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "monitoring",
        }}),
        2 => json!({"matchLabels": {
            "io.cilium.k8s.namespace.labels.team": "platform",
            "k8s:prometheus": "k8s",
        }}),
        _ => json!({"matchLabels": {
            "k8s:io.kubernetes.pod.namespace": "monitoring",
            "operator.prometheus.io/name": "k8s",
        }}),
    }
}

fn app_selector(app: &App) -> Value {
    json!({"matchLabels": {"app": app.name}})
}

fn cnp(i: usize, layout: &Layout) -> Value {
    let mut r = Rng::stream(S_CNP, i as u64);
    let ns = &layout.namespaces[r.index(layout.namespaces.len())];
    let app = &ns.apps[r.index(ns.apps.len())];
    let metrics_port = if app.metrics { "9090" } else { "8080" };
    let (name, spec) = match r.below(100) {
        // Same-namespace only: isolates every pod of the namespace.
        0..=34 => (
            "allow-same-namespace".to_string(),
            json!({"endpointSelector": {}, "ingress": [{"fromEndpoints": [{}]}]}),
        ),
        // Monitoring allowed on the metrics port, for one app or the whole namespace.
        35..=64 => {
            let subject = if r.chance(30) {
                json!({})
            } else {
                app_selector(app)
            };
            (
                format!("allow-prometheus-{}", app.name),
                json!({
                    "endpointSelector": subject,
                    "ingress": [{
                        "fromEndpoints": [cilium_prometheus_peer(&mut r)],
                        "toPorts": [{"ports": [{"port": metrics_port, "protocol": "TCP"}]}],
                    }],
                }),
            )
        }
        // The same with an L7 rule.
        65..=74 => (
            format!("allow-prometheus-l7-{}", app.name),
            json!({
                "endpointSelector": app_selector(app),
                "ingress": [{
                    "fromEndpoints": [cilium_prometheus_peer(&mut r)],
                    "toPorts": [{
                        "ports": [{"port": metrics_port, "protocol": "TCP"}],
                        "rules": {"http": [{"method": "GET", "path": if r.chance(85) { "/metrics" } else { "/stats/.*" }}]},
                    }],
                }],
            }),
        ),
        // Traffic from the team's namespaces, by namespace label.
        75..=86 => (
            format!("allow-team-{}", app.name),
            json!({
                "endpointSelector": app_selector(app),
                "ingress": [{
                    "fromEndpoints": [{"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.team": format!("team-{}", ns.team)}}],
                    "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}],
                }],
            }),
        ),
        // Deny dev namespaces, allow the rest of the cluster.
        87..=96 => (
            format!("deny-dev-{}", app.name),
            json!({
                "endpointSelector": app_selector(app),
                "ingress": [{"fromEntities": ["cluster"]}],
                "ingressDeny": [{"fromEndpoints": [{"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.env": "dev"}}]}],
            }),
        ),
        // A deny that catches the scraper on the metrics port (a real mistake).
        _ => (
            format!("lockdown-{}", app.name),
            json!({
                "endpointSelector": app_selector(app),
                "ingress": [{"fromEndpoints": [{}]}],
                "ingressDeny": [{
                    "fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "monitoring"}}],
                    "toPorts": [{"ports": [{"port": metrics_port, "protocol": "TCP"}]}],
                }],
            }),
        ),
    };
    json!({
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": format!("{name}-{i}"), "namespace": ns.name},
        "spec": spec,
    })
}

fn knp(i: usize, layout: &Layout) -> Value {
    let mut r = Rng::stream(S_KNP, i as u64);
    let ns = &layout.namespaces[r.index(layout.namespaces.len())];
    let app = &ns.apps[r.index(ns.apps.len())];
    let (name, spec) = match r.below(100) {
        0..=29 => (
            "default-deny-ingress".to_string(),
            json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
        ),
        30..=64 => {
            let port = if r.chance(60) {
                json!(app.metrics_port_name())
            } else {
                json!(if app.metrics { 9090 } else { 8080 })
            };
            (
                format!("allow-prometheus-{}", app.name),
                json!({
                    "podSelector": app_selector(app),
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [{
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                        }],
                        "ports": [{"port": port, "protocol": "TCP"}],
                    }],
                }),
            )
        }
        65..=84 => (
            format!("allow-team-{}", app.name),
            json!({
                "podSelector": app_selector(app),
                "policyTypes": ["Ingress"],
                "ingress": [{
                    "from": [{"namespaceSelector": {"matchLabels": {"team": format!("team-{}", ns.team)}}}],
                    "ports": [{"port": "http", "protocol": "TCP"}],
                }],
            }),
        ),
        _ => (
            "allow-same-namespace".to_string(),
            json!({
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
            }),
        ),
    };
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": format!("{name}-{i}"), "namespace": ns.name},
        "spec": spec,
    })
}

fn ccnp(i: usize) -> Value {
    let mut r = Rng::stream(S_CCNP, i as u64);
    let (name, spec) = match i {
        // A few cluster-wide rules over every endpoint, not isolating anything.
        0 => (
            "allow-health-checks".to_string(),
            json!({
                "endpointSelector": {},
                "enableDefaultDeny": {"ingress": false},
                "ingress": [{"fromEntities": ["host", "remote-node", "health"]}],
            }),
        ),
        1 => (
            "allow-envoy-stats".to_string(),
            json!({
                "endpointSelector": {},
                "enableDefaultDeny": {"ingress": false},
                "ingress": [{
                    "fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "monitoring"}}],
                    "toPorts": [{"ports": [{"port": "15090", "protocol": "TCP"}]}],
                }],
            }),
        ),
        2 => (
            "deny-world".to_string(),
            json!({
                "endpointSelector": {},
                "enableDefaultDeny": {"ingress": false},
                "ingressDeny": [{"fromEntities": ["world"]}],
            }),
        ),
        // A handful by expressions (not indexable by one label: scanned for every pod).
        3..=9 => (
            "tier-allow-cluster".to_string(),
            json!({
                "endpointSelector": {"matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["frontend", "batch"]},
                    {"key": "k8s:io.kubernetes.pod.namespace", "operator": "NotIn", "values": ["kube-system"]},
                ]},
                "enableDefaultDeny": {"ingress": false},
                "ingress": [{"fromEntities": ["cluster"]}],
            }),
        ),
        // The rest: per-stack policies on a pod label shared across namespaces.
        _ => {
            let stack = format!("stack-{}", r.below(STACKS));
            let ingress = if r.chance(60) {
                json!([{
                    "fromEndpoints": [cilium_prometheus_peer(&mut r)],
                    "toPorts": [{"ports": [{"port": "9090", "protocol": "TCP"}, {"port": "8080", "protocol": "TCP"}]}],
                }])
            } else {
                json!([{"fromEntities": ["cluster"]}])
            };
            let mut spec = json!({
                "endpointSelector": {"matchLabels": {"stack": stack}},
                "ingress": ingress,
            });
            if r.chance(50) {
                spec["enableDefaultDeny"] = json!({"ingress": false});
            }
            (format!("{stack}-ingress"), spec)
        }
    };
    json!({
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": format!("{name}-{i}")},
        "spec": spec,
    })
}

fn relabelings(r: &mut Rng) -> Value {
    if r.chance(10) {
        json!([
            {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_label_app"], "targetLabel": "app"},
            {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"},
        ])
    } else {
        json!([])
    }
}

fn monitor(i: usize, layout: &Layout) -> Value {
    let mut r = Rng::stream(S_MON, i as u64);
    let pod_monitor = r.chance(55);
    let release = if r.chance(97) { "kps" } else { "prometheus" };
    let (ns_name, selector, ns_selector, port, istio) = if i % 20 == 7 {
        // About 5%: a platform monitor over every namespace, by a label shared across them.
        let stack = format!("stack-{}", r.below(STACKS));
        (
            "monitoring".to_string(),
            json!({"matchLabels": {"stack": stack}}),
            json!({"any": true}),
            if r.chance(70) { "metrics" } else { "http" },
            false,
        )
    } else {
        let ns = &layout.namespaces[(i * 997) % layout.namespaces.len()];
        let app = &ns.apps[r.index(ns.apps.len())];
        (
            ns.name.clone(),
            app_selector(app),
            json!({}),
            app.metrics_port_name(),
            ns.istio && pod_monitor && r.chance(40),
        )
    };
    let mut ep =
        json!({"port": port, "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"});
    let rl = relabelings(&mut r);
    if rl.as_array().is_some_and(|a| !a.is_empty()) {
        ep["relabelings"] = rl;
    }
    let mut endpoints = vec![ep];
    if istio {
        endpoints.push(
            json!({"port": "http-envoy-prom", "path": "/stats/prometheus", "interval": "30s"}),
        );
    }
    let (kind, list) = if pod_monitor {
        ("PodMonitor", "podMetricsEndpoints")
    } else {
        ("ServiceMonitor", "endpoints")
    };
    let mut spec = json!({"selector": selector, "namespaceSelector": ns_selector});
    spec[list] = json!(endpoints);
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": kind,
        "metadata": {"name": format!("m{i}-{}", port), "namespace": ns_name, "labels": {"release": release}},
        "spec": spec,
    })
}

fn intent(i: usize, layout: &Layout) -> Value {
    let mut r = Rng::stream(S_INTENT, i as u64);
    let ns = &layout.namespaces[(i * 1_993 + 11) % layout.namespaces.len()];
    let app = &ns.apps[r.index(ns.apps.len())];
    let mut endpoints = vec![json!({"port": app.metrics_port_name(), "interval": "30s"})];
    if ns.istio && r.chance(30) {
        endpoints.push(json!({"port": "http-envoy-prom", "path": "/stats/prometheus"}));
    }
    let mut spec = json!({
        "selector": app_selector(app),
        "endpoints": endpoints,
        "scraper": {"kind": "Prometheus", "namespace": "monitoring", "name": "k8s"},
    });
    if r.chance(20) {
        spec["monitor"] = json!({"kind": "ServiceMonitor"});
    }
    json!({
        "apiVersion": "scrapepath.io/v1alpha1",
        "kind": "ScrapeIntent",
        "metadata": {"name": format!("{}-metrics", app.name), "namespace": ns.name},
        "spec": spec,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Building the index.

#[derive(Default)]
struct Build {
    idx: ClusterIndex,
    /// parse_value + apply only.
    build: Duration,
    /// Generating the JSON.
    generate: Duration,
    objects: usize,
    pods: usize,
    policies: usize,
    monitors: usize,
    intents: usize,
    namespaces: usize,
    services: usize,
}

impl Build {
    fn feed(&mut self, gen_start: Instant, v: Value) {
        let t = Instant::now();
        self.generate += t - gen_start;
        let what = v["kind"].as_str().unwrap_or("?").to_string();
        match parse_value(v) {
            Ok(Parsed::Object(o)) => self.idx.apply(o),
            Ok(other) => panic!("generated {what} was not taken as an object: {other:?}"),
            Err(e) => panic!("generated {what} does not parse: {e}"),
        }
        self.build += t.elapsed();
        self.objects += 1;
        match what.as_str() {
            "Pod" => self.pods += 1,
            "Namespace" => self.namespaces += 1,
            "Service" => self.services += 1,
            "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" | "NetworkPolicy" => {
                self.policies += 1
            }
            "PodMonitor" | "ServiceMonitor" => self.monitors += 1,
            "ScrapeIntent" => self.intents += 1,
            _ => {}
        }
    }
}

/// Generates and indexes the whole cluster, one object at a time.
fn build(pods: usize) -> Build {
    let mut b = Build::default();
    let t = Instant::now();
    let layout = Layout::new(pods);
    b.generate += t.elapsed();

    macro_rules! feed {
        ($e:expr) => {{
            let t = Instant::now();
            let v = $e;
            b.feed(t, v);
        }};
    }

    // Platform.
    feed!(namespace(
        "monitoring",
        json!({"team": "platform", "env": "prod"})
    ));
    feed!(namespace(
        "kube-system",
        json!({"team": "platform", "env": "prod"})
    ));
    feed!(cilium_daemonset());
    feed!(prometheus_cr());
    for i in 0..SCRAPER_REPLICAS {
        feed!(prometheus_pod(i));
    }
    for i in 0..2 {
        feed!(coredns_pod(i));
    }

    // Namespaces, their pods, Services and EndpointSlices.
    let mut ip_n = 0usize;
    for ns in &layout.namespaces {
        feed!(app_namespace(ns));
        for app in &ns.apps {
            let mut members: Vec<(String, PodState)> = Vec::with_capacity(app.replicas);
            for k in 0..app.replicas {
                let t = Instant::now();
                let mut rs = Rng::stream(S_POD ^ 0xFF, ip_n as u64);
                let state = pod_state(&mut rs, ip_n);
                let v = app_pod(ns, app, k, ip_n, &state);
                members.push((v["metadata"]["name"].as_str().unwrap().to_string(), state));
                b.feed(t, v);
                ip_n += 1;
            }
            feed!(service(ns, app));
            feed!(endpoint_slice(ns, app, &members));
        }
    }

    // Policies, monitors, intents.
    for i in 0..CNPS {
        feed!(cnp(i, &layout));
    }
    for i in 0..KNPS {
        feed!(knp(i, &layout));
    }
    for i in 0..CCNPS {
        feed!(ccnp(i));
    }
    for i in 0..env_usize("SCRAPEPATH_BENCH_MONITORS", MONITORS) {
        feed!(monitor(i, &layout));
    }
    for i in 0..env_usize("SCRAPEPATH_BENCH_INTENTS", INTENTS) {
        feed!(intent(i, &layout));
    }
    eprintln!(
        "  [{pods} pods] generated {} objects ({} apps, {} Services+EndpointSlices) in {:.0} ms, indexed in {:.0} ms",
        b.objects,
        layout.apps(),
        b.services,
        b.generate.as_secs_f64() * 1e3,
        b.build.as_secs_f64() * 1e3
    );
    b
}

// ---------------------------------------------------------------------------------------------------------
// Measuring.

/// A field of /proc/self/status in kB (VmHWM, VmRSS).
fn proc_status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time of this thread so far (`/proc/thread-self/schedstat`, ns on CPU): the machine may be shared,
/// so wall time alone can mislead.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

struct Summary {
    subjects: usize,
    intents: usize,
    monitors: usize,
    ready: usize,
    targets: usize,
    allowed: usize,
    /// First failing condition reasons of non-ready subjects, most frequent first.
    failing: Vec<(String, usize)>,
}

fn summarize(r: &Report) -> Summary {
    let mut failing = std::collections::BTreeMap::<String, usize>::new();
    for s in r.subjects.iter().filter(|s| !s.ready) {
        if let Some(c) = s
            .conditions
            .iter()
            .find(|c| c.status != "True" && c.type_ != "Ready")
        {
            *failing
                .entry(format!("{}={}", c.type_, c.reason))
                .or_default() += 1;
        }
    }
    let mut failing: Vec<(String, usize)> = failing.into_iter().collect();
    failing.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Summary {
        subjects: r.subjects.len(),
        intents: r
            .subjects
            .iter()
            .filter(|s| s.kind == "ScrapeIntent")
            .count(),
        monitors: r
            .subjects
            .iter()
            .filter(|s| s.kind != "ScrapeIntent")
            .count(),
        ready: r.subjects.iter().filter(|s| s.ready).count(),
        targets: r.subjects.iter().map(|s| s.targets.len()).sum(),
        allowed: r.subjects.iter().map(|s| s.reachable_targets()).sum(),
        failing,
    }
}

/// One evaluation pass subject by subject, in `evaluate`'s order and with one `Engine` (so its caches
/// behave as in `evaluate`): CPU time per subject kind, and the slowest subjects.
fn breakdown(idx: &ClusterIndex, cfg: &EngineConfig) -> Value {
    let mut engine = Engine::new(idx, cfg);
    let mut per: Vec<(f64, String, usize)> = Vec::new();
    let (mut intents_ms, mut monitors_ms) = (0.0, 0.0);
    let mut by_kind = std::collections::BTreeMap::<String, (usize, f64, usize)>::new();
    for si in idx.intents() {
        let t = thread_cpu();
        let r = engine.intent(si);
        let ms = thread_cpu().saturating_sub(t).as_secs_f64() * 1e3;
        intents_ms += ms;
        let e = by_kind.entry("ScrapeIntent".into()).or_default();
        *e = (e.0 + 1, e.1 + ms, e.2 + r.targets.len());
        per.push((
            ms,
            format!(
                "ScrapeIntent {}/{} ({} targets)",
                r.namespace,
                r.name,
                r.targets.len()
            ),
            r.targets.len(),
        ));
    }
    for m in idx.monitors() {
        let t = thread_cpu();
        let r = engine.monitor(m);
        let ms = thread_cpu().saturating_sub(t).as_secs_f64() * 1e3;
        monitors_ms += ms;
        let any = if m.namespace_selector.any {
            ", namespaceSelector any"
        } else {
            ""
        };
        let key = format!("{}{any}", r.kind);
        let e = by_kind.entry(key).or_default();
        *e = (e.0 + 1, e.1 + ms, e.2 + r.targets.len());
        per.push((
            ms,
            format!(
                "{} {}/{} ({} targets{any})",
                r.kind,
                r.namespace,
                r.name,
                r.targets.len()
            ),
            r.targets.len(),
        ));
    }
    per.sort_by(|a, b| b.0.total_cmp(&a.0));
    json!({
        "intents_ms": intents_ms,
        "monitors_ms": monitors_ms,
        "by_kind": by_kind.iter().map(|(k, (n, ms, t))| format!("{k}: {n} subjects, {t} targets, {ms:.0} ms ({:.2} ms/subject)", ms / (*n).max(1) as f64)).collect::<Vec<_>>(),
        "slowest": per.iter().take(8).map(|(ms, what, _)| format!("{ms:.1} ms {what}")).collect::<Vec<_>>(),
    })
}

/// One size, in this process: prints one result line on stdout for the parent.
fn child(pods: usize) {
    let runs = env_usize("SCRAPEPATH_BENCH_RUNS", 5).max(1);
    let budget = Duration::from_secs(env_usize("SCRAPEPATH_BENCH_BUDGET_SECS", 60) as u64);
    let c = thread_cpu();
    let b = build(pods);
    let build_cpu = thread_cpu().saturating_sub(c);
    let rss_after_build = proc_status_kb("VmRSS").unwrap_or(0);
    let hwm_after_build = proc_status_kb("VmHWM").unwrap_or(0);
    let cfg = EngineConfig::default();

    let mut times: Vec<Duration> = Vec::new();
    let mut cpu_times: Vec<Duration> = Vec::new();
    let mut summary = None;
    let started = Instant::now();
    while times.len() < runs {
        let t = Instant::now();
        let c = thread_cpu();
        let report = evaluate(black_box(&b.idx), black_box(&cfg));
        let d = t.elapsed();
        let cd = thread_cpu().saturating_sub(c);
        times.push(d);
        cpu_times.push(cd);
        if summary.is_none() {
            summary = Some(summarize(&report));
        }
        eprintln!(
            "  [{pods} pods] evaluation run {}: {:.1} ms ({:.1} ms on CPU)",
            times.len(),
            d.as_secs_f64() * 1e3,
            cd.as_secs_f64() * 1e3
        );
        drop(black_box(report));
        if started.elapsed() > budget && times.len() < runs {
            eprintln!(
                "  [{pods} pods] evaluation budget of {}s spent: stopping after {} run(s)",
                budget.as_secs(),
                times.len()
            );
            break;
        }
    }
    let breakdown = (std::env::var("SCRAPEPATH_BENCH_BREAKDOWN").as_deref() == Ok("1"))
        .then(|| breakdown(&b.idx, &cfg));
    let s = summary.expect("at least one run");
    assert_eq!(s.intents, b.intents, "one subject per intent");
    assert_eq!(s.monitors, b.monitors, "one subject per monitor");
    let mut sorted = times.clone();
    sorted.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let median_of = |v: &[Duration]| {
        let n = v.len();
        (ms(&v[(n - 1) / 2]) + ms(&v[n / 2])) / 2.0
    };
    let median = median_of(&sorted);
    cpu_times.sort();
    let cpu_median = median_of(&cpu_times);
    let result = json!({
        "pods": b.pods,
        "namespaces": b.namespaces,
        "policies": b.policies,
        "monitors": b.monitors,
        "intents": b.intents,
        "objects": b.objects,
        "subjects": s.subjects,
        "ready": s.ready,
        "targets": s.targets,
        "allowed": s.allowed,
        "failing": s.failing.iter().take(6).map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>(),
        "generate_ms": ms(&b.generate),
        "build_ms": ms(&b.build),
        "gen_build_cpu_ms": ms(&build_cpu),
        "eval_ms": median,
        "eval_cpu_ms": cpu_median,
        "eval_min_ms": ms(&sorted[0]),
        "eval_max_ms": ms(sorted.last().unwrap()),
        "runs": times.len(),
        "rss_after_build_kb": rss_after_build,
        "hwm_after_build_kb": hwm_after_build,
        "peak_kb": proc_status_kb("VmHWM").unwrap_or(0),
        "breakdown": breakdown,
    });
    println!("{RESULT_PREFIX}{result}");
    eprintln!(
        "  [{pods} pods] done: {} subjects, {} targets, build {:.0} ms, eval median {median:.0} ms ({cpu_median:.0} ms on CPU, {} run(s)), peak RSS {:.1} MB",
        s.subjects,
        s.targets,
        ms(&b.build),
        times.len(),
        proc_status_kb("VmHWM").unwrap_or(0) as f64 / 1024.0
    );
}

/// Runs one size in a fresh process of this binary.
fn run_child(pods: usize) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .env(CHILD_ENV, pods.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("child exited with {}", out.status));
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| "child printed no result".to_string())
        .and_then(|l| serde_json::from_str(l).map_err(|e| format!("bad result line: {e}")))
}

fn main() {
    if let Ok(size) = std::env::var(CHILD_ENV) {
        let pods: usize = size
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{CHILD_ENV}={size:?} is not a pod count"));
        child(pods);
        return;
    }
    // `cargo bench` passes `--bench` (and any filter); this harness takes its settings from the environment.
    let sizes_text =
        std::env::var("SCRAPEPATH_BENCH_SIZES").unwrap_or_else(|_| DEFAULT_SIZES.into());
    let sizes: Vec<usize> = sizes_text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("SCRAPEPATH_BENCH_SIZES: {s:?} is not a pod count"))
        })
        .collect();
    eprintln!(
        "scrapepath engine scale benchmark: sizes {sizes:?}, {} runs per size (median), one process per size",
        env_usize("SCRAPEPATH_BENCH_RUNS", 5).max(1)
    );

    let mut results: Vec<(usize, Result<Value, String>)> = Vec::new();
    for &pods in &sizes {
        eprintln!("size {pods} pods:");
        results.push((pods, run_child(pods)));
    }

    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let u = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    println!();
    println!("| pods | namespaces | policies | monitors | intents | targets | build ms | eval ms | peak RSS MB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (pods, r) in &results {
        match r {
            Ok(v) => println!(
                "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} |",
                u(v, "pods"),
                u(v, "namespaces"),
                u(v, "policies"),
                u(v, "monitors"),
                u(v, "intents"),
                u(v, "targets"),
                f(v, "build_ms"),
                f(v, "eval_ms"),
                u(v, "peak_kb") as f64 / 1024.0
            ),
            Err(e) => println!("| {pods} | - | - | - | - | - | - | - | failed: {e} |"),
        }
    }

    println!();
    println!("Details:");
    println!();
    println!("| pods | objects | subjects (ready) | targets (allowed) | generate ms | generate+build CPU ms | eval min..max ms (runs) | eval CPU ms (median) | µs/target | RSS after build MB | peak during build MB |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (_, r) in &results {
        if let Ok(v) = r {
            let targets = u(v, "targets").max(1) as f64;
            println!(
                "| {} | {} | {} ({}) | {} ({}) | {:.0} | {:.0} | {:.0}..{:.0} ({}) | {:.0} | {:.1} | {:.1} | {:.1} |",
                u(v, "pods"),
                u(v, "objects"),
                u(v, "subjects"),
                u(v, "ready"),
                u(v, "targets"),
                u(v, "allowed"),
                f(v, "generate_ms"),
                f(v, "gen_build_cpu_ms"),
                f(v, "eval_min_ms"),
                f(v, "eval_max_ms"),
                u(v, "runs"),
                f(v, "eval_cpu_ms"),
                f(v, "eval_ms") * 1e3 / targets,
                u(v, "rss_after_build_kb") as f64 / 1024.0,
                u(v, "hwm_after_build_kb") as f64 / 1024.0,
            );
        }
    }
    for (pods, r) in &results {
        if let Ok(v) = r {
            let failing: Vec<&str> = v["failing"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            println!();
            println!(
                "{pods} pods, first failing condition of non-ready subjects: {}",
                if failing.is_empty() {
                    "none".to_string()
                } else {
                    failing.join(", ")
                }
            );
        }
    }

    for (pods, r) in &results {
        if let Some(b) = r
            .as_ref()
            .ok()
            .map(|v| &v["breakdown"])
            .filter(|b| !b.is_null())
        {
            println!();
            println!(
                "{pods} pods, breakdown (one pass subject by subject, CPU time): intents {:.0} ms, monitors {:.0} ms",
                f(b, "intents_ms"),
                f(b, "monitors_ms")
            );
            for key in ["by_kind", "slowest"] {
                for line in b[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    println!("- {line}");
                }
            }
        }
    }

    // Targets and growth.
    let ok: Vec<&Value> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    if let (Some(first), Some(last)) = (ok.first(), ok.last()) {
        println!();
        if ok.len() > 1 {
            let ratio = |k: &str| f(last, k) / f(first, k);
            println!(
                "Growth {} -> {} pods (x{:.2}): targets x{:.2}, build x{:.2}, eval x{:.2} (CPU x{:.2}), peak RSS x{:.2}",
                u(first, "pods"),
                u(last, "pods"),
                u(last, "pods") as f64 / u(first, "pods").max(1) as f64,
                u(last, "targets") as f64 / u(first, "targets").max(1) as f64,
                ratio("build_ms"),
                ratio("eval_ms"),
                ratio("eval_cpu_ms"),
                u(last, "peak_kb") as f64 / u(first, "peak_kb").max(1) as f64,
            );
        }
        let eval_ok = f(last, "eval_ms") <= 1000.0;
        let mem_ok = u(last, "peak_kb") as f64 / 1024.0 <= 300.0;
        println!(
            "Targets at {} pods: eval {:.0} ms, {:.0} ms on CPU (<= 1000: {}), peak RSS {:.1} MB (<= 300: {})",
            u(last, "pods"),
            f(last, "eval_ms"),
            f(last, "eval_cpu_ms"),
            if eval_ok { "met" } else { "MISSED" },
            u(last, "peak_kb") as f64 / 1024.0,
            if mem_ok { "met" } else { "MISSED" },
        );
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if failed > 0 {
        eprintln!("{failed} size(s) failed");
        std::process::exit(1);
    }
}
