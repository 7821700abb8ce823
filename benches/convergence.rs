//! Convergence benchmark against a real kube-apiserver + etcd (the test harness's control plane), with
//! the real `scrapepath run` binary as the operator:
//!
//! - N intents (100, 1,000) in Report mode spread over namespaces of 20, three pods each, every namespace
//!   isolated by one CiliumNetworkPolicy that admits only its own namespace (the seed's mistake);
//! - then, repeatedly, one namespace's policy is fixed (or broken again) and the time is measured from
//!   that write until each affected intent's status shows the new `NetworkReachable` (p50/p99 over every
//!   affected intent of every change), with the writes the operator made per change (status patches
//!   and Events, seen by watching the API server) and the operator's RSS.
//!
//! `cargo bench --bench convergence` (sizes: `SCRAPEPATH_CONV_SIZES=100,1000`; changes per size:
//! `SCRAPEPATH_CONV_CHANGES=10`). Prints a markdown table. Needs Go for the harness, like the
//! integration tests.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{apply_yaml, eventually};
use common::testenv::{CrdSet, TestEnv};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::Client;
use serde_json::json;

use scrapepath::api::ScrapeIntent;

const PER_NAMESPACE: usize = 20;
const PODS_PER_INTENT: usize = 3;

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
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

async fn populate(client: &Client, env: &TestEnv, intents: usize, mon: &str) -> Vec<String> {
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
    let mut namespaces = Vec::new();
    for n in 0..intents.div_ceil(PER_NAMESPACE) {
        let ns = env.namespace(&format!("conv{n}")).await;
        apply_yaml(
            client,
            &serde_yaml_ng::to_string(&policy(&ns, mon, false)).unwrap(),
        )
        .await;
        namespaces.push(ns);
    }
    let mut tasks = Vec::new();
    for i in 0..intents {
        let ns = namespaces[i / PER_NAMESPACE].clone();
        let client = client.clone();
        let mon = mon.to_string();
        tasks.push(tokio::spawn(async move {
            let mut yaml = String::new();
            for p in 0..PODS_PER_INTENT {
                yaml.push_str(&format!(
                    "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: app{i}-{p}, namespace: {ns}, labels: {{app: app{i}}}}}\nspec: {{containers: [{{name: app, image: app, ports: [{{name: metrics, containerPort: 9100}}]}}]}}\nstatus: {{phase: Running, podIP: 10.7.{}.{}, conditions: [{{type: Ready, status: \"True\"}}]}}\n",
                    (i * PODS_PER_INTENT + p) / 250,
                    (i * PODS_PER_INTENT + p) % 250 + 1,
                ));
            }
            yaml.push_str(&format!(
                "---\napiVersion: scrapepath.io/v1alpha1\nkind: ScrapeIntent\nmetadata: {{name: app{i}, namespace: {ns}}}\nspec: {{selector: {{matchLabels: {{app: app{i}}}}}, endpoints: [{{port: metrics}}], scraper: {{kind: Prometheus, namespace: {mon}, name: k8s}}, mode: Report}}\n"
            ));
            apply_yaml(&client, &yaml).await;
        }));
        if tasks.len() >= 16 {
            for t in tasks.drain(..) {
                t.await.unwrap();
            }
        }
    }
    for t in tasks {
        t.await.unwrap();
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
}

fn observe(client: Client, seen: Arc<Mutex<Seen>>) {
    let intents: Api<ScrapeIntent> = Api::all(client.clone());
    let s = seen.clone();
    tokio::spawn(async move {
        let mut stream = watcher(intents, watcher::Config::default()).boxed();
        while let Some(Ok(ev)) = stream.next().await {
            if let Event::Apply(si) | Event::InitApply(si) = ev {
                let now = Instant::now();
                let status = si
                    .status
                    .as_ref()
                    .and_then(|st| st.conditions.iter().find(|c| c.type_ == "NetworkReachable"))
                    .map(|c| c.status.clone());
                let mut g = s.lock().unwrap();
                g.intent_updates += 1;
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
        }
    });
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(client);
    tokio::spawn(async move {
        let mut stream = watcher(events, watcher::Config::default()).boxed();
        while let Some(Ok(ev)) = stream.next().await {
            if let Event::Apply(_) = ev {
                seen.lock().unwrap().events += 1;
            }
        }
    });
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
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
    intents: usize,
    pods: usize,
    changes: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    writes_per_change: f64,
    affected_per_change: usize,
    rss_mib: f64,
    initial: Duration,
}

async fn measure(intents: usize, changes: usize) -> Row {
    let env = tokio::task::spawn_blocking(|| TestEnv::start_new(CrdSet::ALL))
        .await
        .unwrap();
    let client = env.client().await;
    let mon = env.namespace("mon").await;
    let t = Instant::now();
    let namespaces = populate(&client, &env, intents, &mon).await;
    eprintln!("{intents} intents: populated in {:?}", t.elapsed());

    let seen = Arc::new(Mutex::new(Seen::default()));
    observe(client.clone(), seen.clone());
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
        .env("SCRAPEPATH_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let s = seen.clone();
    eventually(
        "every intent has a status",
        Duration::from_secs(600),
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
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut latencies = Vec::new();
    let mut writes = 0u64;
    let mut affected_total = 0usize;
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
        let before = {
            let g = seen.lock().unwrap();
            g.intent_updates + g.events
        };
        let t0 = Instant::now();
        let head = policy(ns, &mon, open);
        let ar = kube::core::ApiResource {
            group: "cilium.io".into(),
            version: "v2".into(),
            api_version: "cilium.io/v2".into(),
            kind: "CiliumNetworkPolicy".into(),
            plural: "ciliumnetworkpolicies".into(),
        };
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        api.patch(
            "isolation",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&head),
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
        writes += g.intent_updates + g.events - before;
        affected_total += affected.len();
    }
    latencies.sort();
    let rss = rss_kib(child.id()) as f64 / 1024.0;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    Row {
        intents,
        pods: intents * PODS_PER_INTENT + 1,
        changes,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        writes_per_change: writes as f64 / changes as f64,
        affected_per_change: affected_total / changes.max(1),
        rss_mib: rss,
        initial,
    }
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
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(rt.block_on(measure(n, changes)));
    }
    println!("| intents | pods | first full pass | changes | affected intents per change | p50 | p99 | max | writes per change | operator RSS |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} s | {} | {} | {} ms | {} ms | {} ms | {:.1} | {:.0} MiB |",
            r.intents,
            r.pods,
            r.initial.as_secs_f64(),
            r.changes,
            r.affected_per_change,
            r.p50.as_millis(),
            r.p99.as_millis(),
            r.max.as_millis(),
            r.writes_per_change,
            r.rss_mib
        );
    }
}
