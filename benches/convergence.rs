//! Convergence benchmark against a real kube-apiserver + etcd (the test harness's control plane), with
//! the real `scrapepath run` binary as the operator:
//!
//! - N intents (100, 1,000) in Report mode spread over namespaces, three pods each, every namespace
//!   isolated by one CiliumNetworkPolicy that admits only its own namespace (the seed's mistake);
//! - at cluster scale, besides them, background Deployments of ten pods (ReplicaSet-like labels), 100
//!   pods per namespace, and more policies: KNP and CNP per namespace and one CCNP in fifty, none of
//!   which admits the scraper (`SCRAPEPATH_CONV_PODS`, `SCRAPEPATH_CONV_POLICIES`);
//! - the time from the operator's start until it logs that every kind is listed ("lists complete"),
//!   and until every intent has a status ("first full pass");
//! - then, repeatedly, one namespace's isolation policy is fixed (or broken again) and the time is
//!   measured from that write until each affected intent's status shows the new `NetworkReachable`
//!   (p50/p99 over every affected intent of every change), with the writes the operator made per
//!   change (status patches and Events, seen by watching the API server);
//! - then a quiet period in which nothing changes: the writes in it (must be 0), and the operator's
//!   RSS (and its peak, `VmHWM`).
//!
//! Default sizes: `cargo bench --bench convergence` (intents: `SCRAPEPATH_CONV_SIZES=100,1000`;
//! changes per size: `SCRAPEPATH_CONV_CHANGES=10`; quiet period: `SCRAPEPATH_CONV_QUIET=10` seconds).
//! Cluster scale (issue 15):
//!
//! ```text
//! SCRAPEPATH_CONV_SIZES=1000 SCRAPEPATH_CONV_PODS=50000 SCRAPEPATH_CONV_POLICIES=5000 \
//!   SCRAPEPATH_CONV_CHANGES=50 SCRAPEPATH_CONV_QUIET=30 cargo bench --bench convergence
//! ```
//!
//! `SCRAPEPATH_CONV_HOLD=<seconds>` keeps the populated control plane after each size (its
//! `KUBECONFIG` is printed), to profile an operator against it by hand.
//!
//! Prints a markdown table (and the populate time per kind on stderr). Needs Go for the harness, like
//! the integration tests.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{apply_value_to, apply_yaml, eventually, resource_for};
use common::testenv::{CrdSet, TestEnv};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::json;

use scrapepath::api::ScrapeIntent;

/// Intents per namespace at the default sizes; pods per namespace at cluster scale.
const PER_NAMESPACE: usize = 20;
const PODS_PER_NAMESPACE: usize = 100;
const PODS_PER_INTENT: usize = 3;
/// Pods of one background Deployment (they share their labels, as a ReplicaSet's pods do).
const PODS_PER_DEPLOYMENT: usize = 10;
/// Objects written to the API server at once while populating.
const IN_FLIGHT: usize = 48;

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn env_usize(name: &str) -> Option<usize> {
    let v = std::env::var(name).ok()?;
    Some(
        v.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v}: not a number ({e})")),
    )
}

/// What one run puts into the API server.
#[derive(Debug, Clone, Copy)]
struct Shape {
    intents: usize,
    /// Pods besides the scraper: the intents' (three each) and background Deployments'.
    pods: usize,
    /// Policies in all: one isolation CNP per namespace, the rest CNP/KNP/CCNP mixed.
    policies: usize,
}

impl Shape {
    fn new(intents: usize) -> Shape {
        let pods = env_usize("SCRAPEPATH_CONV_PODS")
            .unwrap_or(0)
            .max(intents * PODS_PER_INTENT);
        let mut shape = Shape {
            intents,
            pods,
            policies: 0,
        };
        // At least the isolation policy of every namespace.
        shape.policies = env_usize("SCRAPEPATH_CONV_POLICIES")
            .unwrap_or(0)
            .max(shape.namespaces());
        shape
    }

    fn namespaces(&self) -> usize {
        self.intents
            .div_ceil(PER_NAMESPACE)
            .max(self.pods.div_ceil(PODS_PER_NAMESPACE))
            .max(1)
    }
}

fn policy(ns: &str, mon: &str, open: bool) -> serde_json::Value {
    let from = if open {
        json!([{}, {"matchLabels": {"k8s:io.kubernetes.pod.namespace": mon}}])
    } else {
        json!([{}])
    };
    json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "isolation", "namespace": ns},
        "spec": {"endpointSelector": {}, "ingress": [{"fromEndpoints": from,
            "toPorts": [{"ports": [{"port": "9100", "protocol": "TCP"}]}]}]}
    })
}

/// The `n`th policy besides the isolation ones: what a platform has around its apps. None admits the
/// scraper's namespace, so each namespace's isolation policy alone decides the verdicts.
fn other_policy(n: usize, ns: &str, deployment: &str) -> serde_json::Value {
    match n % 50 {
        // One in fifty is clusterwide: DNS from kube-system to every pod of a tier.
        0 => json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": format!("conv-tier-{n}")},
            "spec": {"endpointSelector": {"matchLabels": {"tier": format!("t{}", n % 7)}},
                "ingress": [{"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}}],
                    "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}]}
        }),
        k if k % 2 == 0 => json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": format!("frontend-{n}"), "namespace": ns},
            "spec": {"podSelector": {"matchLabels": {"app": deployment}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                    "ports": [{"port": 8080, "protocol": "TCP"}]}]}
        }),
        _ => json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": format!("clients-{n}"), "namespace": ns},
            "spec": {"endpointSelector": {"matchLabels": {"app": deployment}},
                "ingress": [{"fromEndpoints": [{"matchLabels": {"app": format!("{deployment}-client")}}],
                    "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}]}
        }),
    }
}

/// A running pod with ReplicaSet-like labels; `k` numbers it cluster-wide (its IP).
fn pod(ns: &str, name: &str, app: &str, hash: usize, k: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "app": app, "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": ns,
            "pod-template-hash": format!("{hash:x}"), "tier": format!("t{}", hash % 7)}},
        "spec": {"containers": [{"name": "app", "image": "app",
            "ports": [{"name": "metrics", "containerPort": 9100}, {"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", 16 + (k >> 16), (k >> 8) & 255, k & 255),
            "hostIP": format!("172.16.{}.{}", ((k / 110) >> 8) & 255, (k / 110) & 255),
            "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// Creates the objects `docs` with [`IN_FLIGHT`] writes at once, resolving each kind's resource once.
async fn create_all(client: &Client, docs: Vec<serde_json::Value>) {
    let mut resources: BTreeMap<(String, String), (kube::core::ApiResource, bool)> =
        BTreeMap::new();
    for v in &docs {
        let key = (v["apiVersion"].to_string(), v["kind"].to_string());
        if let std::collections::btree_map::Entry::Vacant(e) = resources.entry(key) {
            e.insert(resource_for(client, v).await);
        }
    }
    futures::stream::iter(docs)
        .map(|mut v| {
            let (ar, namespaced) =
                &resources[&(v["apiVersion"].to_string(), v["kind"].to_string())];
            let api: Api<kube::api::DynamicObject> =
                match v["metadata"]["namespace"].as_str().filter(|_| *namespaced) {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
                    None => Api::all_with(client.clone(), ar),
                };
            async move { apply_value_to(&api, &mut v).await }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<()>()
        .await;
}

/// Populates the API server; returns the namespaces (each with its isolation policy).
async fn populate(client: &Client, env: &TestEnv, shape: Shape, mon: &str) -> Vec<String> {
    let yaml = format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: {mon}}}
spec: {{podMonitorSelector: {{matchLabels: {{release: prom}}}}, podMonitorNamespaceSelector: {{}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: prometheus-k8s-0, namespace: {mon}, labels: {{prometheus: k8s, app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k8s}}}}
spec: {{containers: [{{name: prometheus, image: prom}}]}}
status: {{phase: Running, podIP: 10.7.255.1, conditions: [{{type: Ready, status: "True"}}]}}
"#
    );
    apply_yaml(client, &yaml).await;
    let namespaces: Vec<String> = futures::stream::iter(0..shape.namespaces())
        .map(|n| async move { env.namespace(&format!("conv{n}")).await })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    let nss = namespaces.len();

    let mut pods = Vec::with_capacity(shape.pods);
    let mut intents = Vec::with_capacity(shape.intents);
    for i in 0..shape.intents {
        let ns = &namespaces[i % nss];
        for p in 0..PODS_PER_INTENT {
            let k = pods.len();
            pods.push(pod(ns, &format!("app{i}-{p}"), &format!("app{i}"), i, k));
        }
        intents.push(json!({
            "apiVersion": "scrapepath.io/v1alpha1", "kind": "ScrapeIntent",
            "metadata": {"name": format!("app{i}"), "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": format!("app{i}")}}, "endpoints": [{"port": "metrics"}],
                "scraper": {"kind": "Prometheus", "namespace": mon, "name": "k8s"}, "mode": "Report"}
        }));
    }
    // Background Deployments, round-robin over the namespaces.
    let background = shape.pods - pods.len();
    for d in 0..background.div_ceil(PODS_PER_DEPLOYMENT) {
        let ns = &namespaces[d % nss];
        for p in 0..PODS_PER_DEPLOYMENT.min(shape.pods - pods.len()) {
            let k = pods.len();
            let hash = 0x5000_0000 + d;
            pods.push(pod(
                ns,
                &format!("svc{d}-{hash:x}-{p}"),
                &format!("svc{d}"),
                hash,
                k,
            ));
        }
    }
    let mut policies: Vec<_> = namespaces.iter().map(|ns| policy(ns, mon, false)).collect();
    for n in 0..shape.policies - nss {
        let deployment = format!("svc{}", n % background.div_ceil(PODS_PER_DEPLOYMENT).max(1));
        policies.push(other_policy(n, &namespaces[n % nss], &deployment));
    }
    for (what, docs) in [("policies", policies), ("pods", pods), ("intents", intents)] {
        let (n, t) = (docs.len(), Instant::now());
        create_all(client, docs).await;
        eprintln!("  {n} {what} in {:.1} s", t.elapsed().as_secs_f64());
    }
    namespaces
}

/// What the API server saw: when each intent's NetworkReachable last changed, and how many writes
/// (intent status updates, Events) happened.
#[derive(Default)]
struct Seen {
    reachable: BTreeMap<(String, String), (String, Instant)>,
    intent_updates: u64,
    events: u64,
    /// The intents have been listed once (what came before is not a write).
    listed: bool,
}

fn observe(client: Client, seen: Arc<Mutex<Seen>>) {
    let intents: Api<ScrapeIntent> = Api::all(client.clone());
    let s = seen.clone();
    tokio::spawn(async move {
        let mut stream = watcher(intents, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            let (si, write) = match ev {
                Ok(Event::Apply(si)) => (si, true),
                Ok(Event::InitApply(si)) => (si, false),
                Ok(Event::InitDone) => {
                    s.lock().unwrap().listed = true;
                    continue;
                }
                _ => continue,
            };
            let now = Instant::now();
            let status = si
                .status
                .as_ref()
                .and_then(|st| st.conditions.iter().find(|c| c.type_ == "NetworkReachable"))
                .map(|c| c.status.clone());
            let mut g = s.lock().unwrap();
            g.intent_updates += u64::from(write);
            if let Some(st) = status {
                let key = (
                    si.metadata.namespace.clone().unwrap_or_default(),
                    si.metadata.name.clone().unwrap_or_default(),
                );
                if g.reachable.get(&key).map(|(v, _)| v) != Some(&st) {
                    g.reachable.insert(key, (st, now));
                }
            }
        }
    });
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(client);
    tokio::spawn(async move {
        let mut stream = watcher(events, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(ev) = stream.next().await {
            if let Ok(Event::Apply(_)) = ev {
                seen.lock().unwrap().events += 1;
            }
        }
    });
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Row {
    shape: Shape,
    populate: Duration,
    /// From the operator's start until it logged that every kind is listed.
    listed: Duration,
    /// From the operator's start until every intent has a status.
    initial: Duration,
    initial_writes: u64,
    changes: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    writes_per_change: f64,
    affected_per_change: f64,
    quiet: Duration,
    quiet_writes: u64,
    rss_kib: u64,
    peak_kib: u64,
}

const HEADER: &str = "| intents | pods | policies | populate | lists complete | first full pass | after the lists | writes | changes | affected per change | p50 | p99 | max | writes per change | quiet writes | operator RSS | peak RSS | RSS per pod |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

impl Row {
    fn line(&self) -> String {
        let (r, pods) = (self, self.shape.pods + 1);
        format!(
        "| {} | {} | {} | {:.0} s | {:.1} s | {:.1} s | {:.1} s | {} | {} | {:.1} | {} ms | {} ms | {} ms | {:.1} | {} in {} s | {:.0} MiB | {:.0} MiB | {:.2} KiB |",
        r.shape.intents,
        pods,
        r.shape.policies,
        r.populate.as_secs_f64(),
        r.listed.as_secs_f64(),
        r.initial.as_secs_f64(),
        (r.initial.saturating_sub(r.listed)).as_secs_f64(),
        r.initial_writes,
        r.changes,
        r.affected_per_change,
        r.p50.as_millis(),
        r.p99.as_millis(),
        r.max.as_millis(),
        r.writes_per_change,
        r.quiet_writes,
        r.quiet.as_secs(),
        r.rss_kib as f64 / 1024.0,
        r.peak_kib as f64 / 1024.0,
        r.rss_kib as f64 / pods as f64,
    )
    }
}

fn writes(seen: &Mutex<Seen>) -> u64 {
    let g = seen.lock().unwrap();
    g.intent_updates + g.events
}

async fn measure(shape: Shape, changes: usize, quiet: Duration) -> Row {
    let env = tokio::task::spawn_blocking(|| TestEnv::start_new(CrdSet::ALL))
        .await
        .unwrap();
    let client = env.client().await;
    let mon = env.namespace("mon").await;
    let t = Instant::now();
    eprintln!("{shape:?}: populating");
    let namespaces = populate(&client, &env, shape, &mon).await;
    let populate_time = t.elapsed();
    eprintln!("  populated in {:.1} s", populate_time.as_secs_f64());

    let seen = Arc::new(Mutex::new(Seen::default()));
    observe(client.clone(), seen.clone());
    // The observer lists the intents before the operator starts: its own first events are not writes.
    {
        let s = seen.clone();
        eventually(
            "the bench's own watches list",
            Duration::from_secs(120),
            || {
                let s = s.clone();
                async move {
                    s.lock()
                        .unwrap()
                        .listed
                        .then_some(())
                        .ok_or_else(String::new)
                }
            },
        )
        .await;
    }
    let before_start = writes(&seen);
    let start = Instant::now();
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .args(["run", "--concurrency", "4"])
        // The generated Prometheus objects have no server behind them: observed health is off.
        .args(["--prometheus-url", "off"])
        .args([
            "--metrics-bind-address",
            "127.0.0.1:0",
            "--health-probe-bind-address",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", env.kubeconfig())
        // The world logs "every kind listed" at info: when the lists are complete.
        .env("SCRAPEPATH_LOG", "warn,scrapepath::controller::world=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    {
        let stderr = child.stderr.take().unwrap();
        let listed_at = listed_at.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("every kind listed") {
                    listed_at.lock().unwrap().get_or_insert_with(Instant::now);
                } else {
                    eprintln!("  operator: {line}");
                }
            }
        });
    }
    let s = seen.clone();
    let intents = shape.intents;
    eventually(
        "every intent has a status",
        Duration::from_secs(1800),
        || {
            let s = s.clone();
            async move {
                let n = s.lock().unwrap().reachable.len();
                (n >= intents).then_some(()).ok_or(format!("{n}/{intents}"))
            }
        },
    )
    .await;
    let initial = start.elapsed();
    let listed = listed_at
        .lock()
        .unwrap()
        .map(|t| t.duration_since(start))
        .unwrap_or_else(|| {
            panic!("the operator set every intent's status without logging \"every kind listed\"")
        });
    eprintln!(
        "  lists complete after {:.1} s, first full pass after {:.1} s",
        listed.as_secs_f64(),
        initial.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let initial_writes = writes(&seen) - before_start;

    let mut latencies = Vec::new();
    let mut change_writes = 0u64;
    let mut affected_total = 0usize;
    let ar = kube::core::ApiResource {
        group: "cilium.io".into(),
        version: "v2".into(),
        api_version: "cilium.io/v2".into(),
        kind: "CiliumNetworkPolicy".into(),
        plural: "ciliumnetworkpolicies".into(),
    };
    for c in 0..changes {
        let ns = &namespaces[c % namespaces.len()];
        let open = (c / namespaces.len()) % 2 == 0;
        let want = if open { "True" } else { "False" };
        let affected: BTreeSet<(String, String)> = {
            let g = seen.lock().unwrap();
            g.reachable
                .keys()
                .filter(|(n, _)| n == ns)
                .cloned()
                .collect()
        };
        let before = writes(&seen);
        let t0 = Instant::now();
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        api.patch(
            "isolation",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&policy(ns, &mon, open)),
        )
        .await
        .unwrap();
        let s = seen.clone();
        let aff = affected.clone();
        eventually(
            "every affected intent flips",
            Duration::from_secs(60),
            || {
                let s = s.clone();
                let aff = aff.clone();
                async move {
                    let g = s.lock().unwrap();
                    let done = aff
                        .iter()
                        .filter(|k| g.reachable.get(*k).is_some_and(|(v, _)| v == want))
                        .count();
                    (done == aff.len())
                        .then_some(())
                        .ok_or(format!("{done}/{}", aff.len()))
                }
            },
        )
        .await;
        // Let stragglers (writes that should not happen) show up before counting.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let g = seen.lock().unwrap();
        for k in &affected {
            latencies.push(g.reachable[k].1.duration_since(t0));
        }
        change_writes += g.intent_updates + g.events - before;
        affected_total += affected.len();
    }
    latencies.sort();
    // Steady state: nothing changes, so nothing may be written.
    let before_quiet = writes(&seen);
    tokio::time::sleep(quiet).await;
    let quiet_writes = writes(&seen) - before_quiet;
    let rss_kib = proc_kib(child.id(), "VmRSS:");
    let peak_kib = proc_kib(child.id(), "VmHWM:");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let row = Row {
        shape,
        populate: populate_time,
        listed,
        initial,
        initial_writes,
        changes,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        writes_per_change: change_writes as f64 / changes.max(1) as f64,
        affected_per_change: affected_total as f64 / changes.max(1) as f64,
        quiet,
        quiet_writes,
        rss_kib,
        peak_kib,
    };
    // Each size's row as soon as it is measured (a long run, or one held for profiling).
    eprintln!("{HEADER}\n{}", row.line());
    if let Some(hold) = env_usize("SCRAPEPATH_CONV_HOLD") {
        // For profiling an operator by hand against the populated control plane.
        eprintln!(
            "  holding the control plane for {hold} s: KUBECONFIG={}",
            env.kubeconfig().display()
        );
        tokio::time::sleep(Duration::from_secs(hold as u64)).await;
    }
    row
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run only when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sizes = env_list("SCRAPEPATH_CONV_SIZES", "100,1000");
    let changes = env_list("SCRAPEPATH_CONV_CHANGES", "10")[0];
    let quiet = Duration::from_secs(env_list("SCRAPEPATH_CONV_QUIET", "10")[0] as u64);
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(rt.block_on(measure(Shape::new(n), changes, quiet)));
    }
    println!("{HEADER}");
    for r in rows {
        println!("{}", r.line());
    }
}
