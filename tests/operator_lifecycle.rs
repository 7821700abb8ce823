//! The operator's life with a real API server, each test on a control plane of its own: an API server
//! restart, a CRD that is installed after the operator started, SIGTERM to the real binary, and
//! `scrapepath audit` printing exactly what `scrapepath check` prints for the same objects.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::fixtures::*;
use common::testenv::{CrdSet, TestEnv};
use kube::api::{Api, DynamicObject, ListParams};
use kube::Client;
use serde_json::Value;

use scrapepath::api::ScrapeIntent;

const CNP: &str = "cilium.io/v2";

/// A scraper in `mon` and one `app: api` pod in `ns`.
fn world(ns: &str, mon: &str, ip: &str) -> String {
    format!("{}\n---\n{}", scraper(mon), app_pod(ns, "api-0", ip))
}

async fn scrapepath_cnps(client: &Client, ns: &str) -> Vec<String> {
    names(client, CNP, "CiliumNetworkPolicy", ns)
        .await
        .into_iter()
        .filter(|n| n.starts_with("scrapepath-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_survives_an_api_server_restart_without_duplicates() {
    let env = Arc::new(
        tokio::task::spawn_blocking(|| TestEnv::start_new(CrdSet::ALL))
            .await
            .unwrap(),
    );
    let client = env.client().await;
    let ns = env.namespace("restart").await;
    let mon = env.namespace("mon").await;
    apply_yaml(&client, &world(&ns, &mon, "10.8.1.1")).await;
    apply_yaml(&client, &isolating_cnp(&ns)).await;
    apply_yaml(&client, &enforce_intent(&ns, "first", &mon)).await;
    let ctl = start_controller(&client, &[&ns, &mon]).await;
    wait_condition(&client, &ns, "first", "Ready", "True").await;

    let e = env.clone();
    let t = Instant::now();
    tokio::task::spawn_blocking(move || e.restart())
        .await
        .unwrap();
    eprintln!("API server restarted in {:?}", t.elapsed());

    // The controller, never restarted, re-lists and keeps reconciling new work.
    let client = env.client().await;
    apply_yaml(&client, &enforce_intent(&ns, "second", &mon)).await;
    wait_condition(&client, &ns, "second", "Ready", "True").await;
    wait_condition(&client, &ns, "first", "Ready", "True").await;
    assert_eq!(
        scrapepath_cnps(&client, &ns).await,
        ["scrapepath-first", "scrapepath-second"],
        "one managed policy per intent, no duplicates"
    );
    // And it still repairs drift.
    delete_yaml(
        &client,
        &format!("apiVersion: {CNP}\nkind: CiliumNetworkPolicy\nmetadata: {{name: scrapepath-first, namespace: {ns}}}\n"),
    )
    .await;
    eventually(
        "the deleted CNP is re-created after the restart",
        Duration::from_secs(30),
        || async {
            let n = scrapepath_cnps(&client, &ns).await;
            (n.len() == 2).then_some(()).ok_or(format!("{n:?}"))
        },
    )
    .await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_installed_after_start_is_picked_up() {
    let crds = CrdSet {
        cilium: false,
        ..CrdSet::ALL
    };
    let env = tokio::task::spawn_blocking(move || TestEnv::start_new(crds))
        .await
        .unwrap();
    let client = env.client().await;
    let ns = env.namespace("late").await;
    let mon = env.namespace("mon").await;
    apply_yaml(&client, &world(&ns, &mon, "10.8.2.1")).await;
    apply_yaml(&client, &enforce_intent(&ns, "api", &mon)).await;
    let ctl = start_controller(&client, &[&ns, &mon]).await;
    // Without Cilium nothing isolates the pod: reachable, and no policy is written.
    wait_condition(&client, &ns, "api", "Ready", "True").await;

    env.install_crds(&env.upstream_crd_dir().join("cilium"))
        .await;
    apply_yaml(&client, &isolating_cnp(&ns)).await;
    // The new kind is watched: the isolating policy is seen, and Enforce answers it with a Cilium policy.
    eventually(
        "a managed CNP for the newly isolated pod",
        Duration::from_secs(60),
        || async {
            let n = scrapepath_cnps(&client, &ns).await;
            (n == ["scrapepath-api"])
                .then_some(())
                .ok_or(format!("{n:?}"))
        },
    )
    .await;
    wait_condition(&client, &ns, "api", "Ready", "True").await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reconciles_and_stops_gracefully_on_sigterm() {
    let env = tokio::task::spawn_blocking(|| TestEnv::start_new(CrdSet::ALL))
        .await
        .unwrap();
    let client = env.client().await;
    let ns = env.namespace("bin").await;
    let mon = env.namespace("mon").await;
    apply_yaml(&client, &world(&ns, &mon, "10.8.3.1")).await;
    apply_yaml(&client, &isolating_cnp(&ns)).await;
    apply_yaml(&client, &enforce_intent(&ns, "api", &mon)).await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .args(["run", "--namespaces", &format!("{ns},{mon}")])
        // Free ports: tests run in parallel.
        .args(["--metrics-bind-address", "127.0.0.1:0"])
        .args(["--health-probe-bind-address", "127.0.0.1:0"])
        .env("KUBECONFIG", env.kubeconfig())
        .env("SCRAPEPATH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_condition(&client, &ns, "api", "Ready", "True").await;
    assert_eq!(scrapepath_cnps(&client, &ns).await, ["scrapepath-api"]);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "scrapepath run did not stop within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(code.success(), "exit {code:?}; log:\n{log}");
    assert!(log.contains("shutdown requested"), "{log}");
    assert!(log.contains("scrapepath controller stopped"), "{log}");
}

/// Removes what only a live cluster has: the intent's uid in remediation owner references.
fn normalised(mut v: Value) -> Value {
    for s in v["subjects"].as_array_mut().unwrap() {
        for r in s["remediation"].as_array_mut().unwrap() {
            if let Some(md) = r.get_mut("metadata").and_then(Value::as_object_mut) {
                md.remove("ownerReferences");
            }
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_prints_what_check_prints_for_the_same_objects() {
    let env = tokio::task::spawn_blocking(|| TestEnv::start_new(CrdSet::ALL))
        .await
        .unwrap();
    let client = env.client().await;
    let dir = Path::new("deploy/examples/blog-system/intent");
    apply_dir(&client, dir).await;
    // Everything the example holds is in the cluster before the audit reads it.
    let (offline, _) = scrapepath::load::load_index(&[dir.to_path_buf()], false).unwrap();
    let intents: Api<ScrapeIntent> = Api::namespaced(client.clone(), "blog-system");
    assert_eq!(
        intents
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        offline.intents().count()
    );
    let head = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "blog-system", "name": "x"}});
    let pods: Api<DynamicObject> = api_for(&client, &head).await;
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        offline
            .pods()
            .filter(|(_, p)| p.namespace == "blog-system")
            .count()
    );

    assert_audit_is_check(&env, dir);
}

/// `scrapepath audit` of the cluster of `env` prints what `scrapepath check -f dir` prints, with the same
/// exit code (the static analysis only: check reads no Prometheus API, so neither does audit here).
fn assert_audit_is_check(env: &TestEnv, dir: &Path) -> Value {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
            .args(args)
            .env("KUBECONFIG", env.kubeconfig())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (check_code, check_out, _) = run(&["check", "-f", dir.to_str().unwrap(), "-o", "json"]);
    let (audit_code, audit_out, audit_err) =
        run(&["audit", "-o", "json", "--prometheus-url", "off"]);
    assert_eq!(
        audit_code, check_code,
        "exit codes differ; audit stderr: {audit_err}"
    );
    let check: Value = serde_json::from_str(&check_out).unwrap();
    let audit: Value = serde_json::from_str(&audit_out)
        .unwrap_or_else(|e| panic!("{e}: {audit_out}\n{audit_err}"));
    pretty_assertions::assert_eq!(normalised(audit.clone()), normalised(check));
    audit
}

/// A Probe read from the real API server (the operator reads `probes` when the CRD exists): `audit` judges
/// it as `check` judges the same objects, both legs included. The blackbox-exporter in monitoring probes
/// web in shop; shop admits only its own namespace, so leg 2 (prober to target) is blocked.
const PROBE_WORLD: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k, namespace: monitoring}
spec: {version: v3.5.0, serviceAccountName: prometheus, probeSelector: {matchLabels: {release: k}}, probeNamespaceSelector: {}}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k, operator.prometheus.io/shard: "0"}
spec: {containers: [{name: prometheus, image: prom/prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.0.1.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: blackbox-0, namespace: monitoring, labels: {app: blackbox}}
spec: {containers: [{name: bb, image: bb, ports: [{name: http, containerPort: 9115}]}]}
status: {phase: Running, podIP: 10.0.1.20, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: blackbox, namespace: monitoring}
spec: {selector: {app: blackbox}, ports: [{name: http, port: 9115, targetPort: http}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {containers: [{name: web, image: web, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.0.2.30, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: shop-only, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: [{from: [{podSelector: {}}]}]}
---
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {name: health, namespace: shop, labels: {release: k}}
spec:
  module: http_2xx
  prober: {url: 'blackbox.monitoring.svc:9115'}
  targets: {staticConfig: {static: ['http://web.shop.svc/healthz', 'https://status.example.com']}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reads_probes_from_the_cluster_and_judges_both_legs_as_check_does() {
    let env = tokio::task::spawn_blocking(|| TestEnv::start_new(CrdSet::ALL))
        .await
        .unwrap();
    let client = env.client().await;
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("probe-world-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("world.yaml"), PROBE_WORLD).unwrap();
    apply_yaml(&client, PROBE_WORLD).await;
    let audit = assert_audit_is_check(&env, &dir);
    let probe = audit["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "Probe")
        .unwrap_or_else(|| panic!("audit read no Probe: {audit:#}"));
    assert_eq!(probe["ready"], false);
    let net = probe["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "NetworkReachable")
        .unwrap();
    let msg = net["message"].as_str().unwrap();
    assert_eq!(net["status"], "False", "{msg}");
    assert!(
        msg.contains("leg 2, prober to probed targets: 1/1 targets are unreachable from monitoring/blackbox-0"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
