//! What workload modelling costs `check`: the dense shape of kube-burner's `network-policy-perf` (500
//! namespaces, 40 pods and 50 NetworkPolicies each: 20,000 pods, 25,000 policies; one Prometheus and one
//! PodMonitor over every namespace), written as manifests twice — once as the Pod objects a live snapshot
//! holds, once as the Deployments a GitOps repository holds (4 Deployments of 10 replicas per namespace) —
//! and read by `check`'s path: `load_index_with` (admission, parse, index, modelling), `evaluate`, the
//! JSON report.
//!
//! `cargo bench --bench workloads` writes both inputs to a temporary directory, then measures each in a
//! child process of its own (this binary re-executed with `SCRAPEPATH_BENCH_CHILD=pods|deployments DIR`),
//! so that each peak RSS (VmHWM) is one input's; it prints a markdown table with the overhead of modelling.
//!
//! Environment: `SCRAPEPATH_BENCH_NAMESPACES` (default 500), `SCRAPEPATH_BENCH_RUNS` (default 3: the
//! median wall time is reported; each run loads afresh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use scrapepath::engine::{evaluate, EngineConfig};
use scrapepath::load::load_index_with;
use scrapepath::report::{write_with, Format};

/// The allocator the `scrapepath` binary uses (src/main.rs), so that the numbers are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const APPS: usize = 4;
const REPLICAS: usize = 10;
const POLICIES: usize = 50;
const CHILD_ENV: &str = "SCRAPEPATH_BENCH_CHILD";
const RESULT_PREFIX: &str = "SCRAPEPATH_BENCH_RESULT ";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn template_labels(ns: usize, app: usize) -> String {
    format!(
        "app: app-{app}\n        tier: t{}\n        ns-group: g{}",
        app % 2,
        ns % 10
    )
}

fn containers() -> &'static str {
    "      containers:
      - name: app
        image: registry.example.com/app:1.0
        ports:
        - {name: http, containerPort: 8080}
        - {name: metrics, containerPort: 9090}
"
}

/// The platform: the Prometheus, its namespace, the monitor over every namespace.
fn platform() -> String {
    "apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  replicas: 2
  podMonitorSelector: {}
  podMonitorNamespaceSelector: {}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: apps, namespace: monitoring}
spec:
  namespaceSelector: {any: true}
  selector: {matchExpressions: [{key: app, operator: Exists}]}
  podMetricsEndpoints: [{port: metrics}]
"
    .to_string()
}

/// kube-burner network-policy-perf style policies: each selects one app and admits another namespace's
/// pods of a tier on the app port; every tenth admits the monitoring namespace on the metrics port.
fn policies(ns: usize) -> String {
    let mut out = String::new();
    for i in 0..POLICIES {
        let peer = (ns * 7 + i * 13) % 500;
        let (from, port) = if i % 10 == 0 {
            (
                "- namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}"
                    .to_string(),
                9090,
            )
        } else {
            (
                format!(
                    "- namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: ns-{peer}}}}}\n        podSelector: {{matchLabels: {{tier: t{}}}}}",
                    i % 2
                ),
                8080,
            )
        };
        out.push_str(&format!(
            "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: np-{i}, namespace: ns-{ns}}}
spec:
  podSelector: {{matchLabels: {{app: app-{}}}}}
  policyTypes: [Ingress]
  ingress:
  - from:
      {from}
    ports: [{{port: {port}, protocol: TCP}}]
",
            i % APPS
        ));
    }
    out
}

fn write_inputs(dir: &Path, namespaces: usize) -> (PathBuf, PathBuf) {
    let pods_dir = dir.join("pods");
    let deploy_dir = dir.join("deployments");
    for d in [&pods_dir, &deploy_dir] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("00-platform.yaml"), platform()).unwrap();
    }
    let mut ip = 0u32;
    for ns in 0..namespaces {
        let head = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: ns-{ns}, labels: {{team: t{}}}}}\n",
            ns % 20
        );
        let mut pods = head.clone();
        let mut deploys = head;
        for app in 0..APPS {
            deploys.push_str(&format!(
                "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{app}, namespace: ns-{ns}}}
spec:
  replicas: {REPLICAS}
  selector: {{matchLabels: {{app: app-{app}}}}}
  template:
    metadata:
      labels:
        {}
    spec:
{}",
                template_labels(ns, app),
                containers()
            ));
            for r in 0..REPLICAS {
                ip += 1;
                pods.push_str(&format!(
                    "---
apiVersion: v1
kind: Pod
metadata:
  name: app-{app}-5d8f7c9b4-{r:05}
  namespace: ns-{ns}
  labels:
    pod-template-hash: 5d8f7c9b4
    {}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: app-{app}-5d8f7c9b4, uid: u-{ns}-{app}, controller: true}}
spec:
{}status:
  phase: Running
  podIP: 10.{}.{}.{}
  conditions: [{{type: Ready, status: \"True\"}}]
",
                    template_labels(ns, app).replace("\n        ", "\n    "),
                    containers().replace("\n      ", "\n  ").replacen("      containers", "  containers", 1),
                    (ip >> 16) & 255,
                    (ip >> 8) & 255,
                    ip & 255
                ));
            }
        }
        let np = policies(ns);
        pods.push_str(&np);
        deploys.push_str(&np);
        std::fs::write(pods_dir.join(format!("ns-{ns:04}.yaml")), pods).unwrap();
        std::fs::write(deploy_dir.join(format!("ns-{ns:04}.yaml")), deploys).unwrap();
    }
    (pods_dir, deploy_dir)
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One `check` of `dir`: (wall time, pods in the index, modelled pods, targets, bytes of JSON).
fn check_once(dir: &Path) -> (Duration, usize, usize, usize, usize) {
    let t = Instant::now();
    let (idx, stats) = load_index_with(
        &[dir.to_path_buf()],
        false,
        &scrapepath::admission::Settings::default(),
    )
    .expect("generated input loads");
    let report = evaluate(&idx, &EngineConfig::default());
    let (pods, modelled) = (idx.pod_count(), stats.modelled.modelled.values().sum());
    // As `check` does: the index is dropped, then the report is written as it is rendered.
    drop(idx);
    let mut json = Counted(0);
    write_with(&report, Format::Json, false, &mut json).expect("report serialises");
    let took = t.elapsed();
    let targets = report.subjects.iter().map(|s| s.targets.len()).sum();
    (took, pods, modelled, targets, json.0)
}

/// A writer that only counts the bytes written to it.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn child(dir: &Path) {
    let runs = env_usize("SCRAPEPATH_BENCH_RUNS", 3).max(1);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let r = check_once(dir);
        times.push(r.0);
        last = Some(r);
    }
    times.sort();
    let (_, pods, modelled, targets, bytes) = last.unwrap();
    println!(
        "{RESULT_PREFIX}{} {} {} {} {} {}",
        times[times.len() / 2].as_millis(),
        vm_hwm_kb() / 1024,
        pods,
        modelled,
        targets,
        bytes
    );
}

fn main() {
    if let Ok(which) = std::env::var(CHILD_ENV) {
        let dir = std::env::args()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .expect("child gets the input directory");
        eprintln!("  measuring {which}");
        child(Path::new(&dir));
        return;
    }
    let namespaces = env_usize("SCRAPEPATH_BENCH_NAMESPACES", 500);
    let dir =
        std::env::temp_dir().join(format!("scrapepath-bench-workloads-{}", std::process::id()));
    let (pods_dir, deploy_dir) = write_inputs(&dir, namespaces);
    println!(
        "dense shape: {namespaces} namespaces x ({} pods, {POLICIES} NetworkPolicies) = {} pods, {} policies\n",
        APPS * REPLICAS,
        namespaces * APPS * REPLICAS,
        namespaces * POLICIES
    );
    println!("| input | check wall (median) | peak RSS | pods | modelled | targets |");
    println!("|---|---|---|---|---|---|");
    let mut results = Vec::new();
    for (name, d) in [("Pod objects", &pods_dir), ("Deployments", &deploy_dir)] {
        let out = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, name)
            .arg(d)
            .output()
            .expect("run child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(RESULT_PREFIX))
            .unwrap_or_else(|| {
                panic!(
                    "child {name} printed no result:\n{stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        println!(
            "| {name} | {} ms | {} MB | {} | {} | {} |",
            v[0], v[1], v[2], v[3], v[4]
        );
        results.push(v);
    }
    let pct = |a: u64, b: u64| (b as f64 / a.max(1) as f64 - 1.0) * 100.0;
    println!(
        "\nmodelling overhead: wall {:+.1}%, peak RSS {:+.1}%",
        pct(results[0][0], results[1][0]),
        pct(results[0][1], results[1][1])
    );
    let _ = std::fs::remove_dir_all(&dir);
}
