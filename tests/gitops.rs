//! `scrapepath check` on what teams keep in Git: workloads instead of pods, namespaces labelled for Istio
//! injection instead of injected sidecars, no EndpointSlice, no status.
//!
//! Seed 000 as its author's repository (`deploy/examples/seed-000-gitops`) is pinned three ways: the
//! repository as synced during the incident (both causes, on the modelled `istio-proxy` 15090 targets), the
//! author's fix (all Ready; as a gate against the incident, it passes and names both fixes), and the fix
//! undone (`fromEndpoints: [{}]` again: the gate fails naming the policy and the rule). Refresh the golden
//! files with `SCRAPEPATH_UPDATE_GOLDEN=1 cargo test --test gitops`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "common/report.rs"]
mod report;
use report::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run scrapepath");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compares `actual` with `tests/golden/NAME`, or writes it when SCRAPEPATH_UPDATE_GOLDEN is set.
fn golden_text(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("SCRAPEPATH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (SCRAPEPATH_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual,
        want,
        "{} differs (SCRAPEPATH_UPDATE_GOLDEN=1 refreshes it after review)",
        path.display()
    );
}

fn check_json(args: &[&str], want_exit: i32) -> Value {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let (code, out, err) = run(&all);
    assert_eq!(
        code, want_exit,
        "check {args:?}: stdout:\n{out}\nstderr:\n{err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("gitops")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Seed 003 as its Helm values render the Prometheus object: three stages (`check` predicts from the
/// spec what the operator's pod would do), each pinned by a golden file; returns the ScraperReady
/// condition of the self-monitor.
fn seed_003_stage(dir: &str, golden: &str, want_exit: i32) -> Value {
    let r = check_json(&["-f", dir], want_exit);
    golden_text(
        golden,
        &format!("{}\n", serde_json::to_string_pretty(&r).unwrap()),
    );
    seed_003_scraper_ready(&r).0
}

#[test]
fn seed_003_values_predict_the_volume_name_mismatch_then_fs_group_then_ready() {
    let c = seed_003_stage("deploy/examples/seed-003-gitops", "seed-003-gitops.json", 1);
    assert_eq!(c["reason"], "ScraperNotReady");
    let msg = c["message"].as_str().unwrap();
    assert_contains_all(msg, &[
        "predicted from its spec",
        "spec.initContainers[0] (init-chown-data).volumeMounts[0].name is \"prometheus-db\", which names no volume",
        "the storage volume is \"prometheus-kps-kube-prometheus-stack-prometheus-db\": spec.storage.volumeClaimTemplate has no metadata.name",
        // The API server's words, verified against the real operator (tests/real_prometheus_operator.rs).
        "spec.template.spec.initContainers[1].volumeMounts[0].name: Not found: \"prometheus-db\"",
        "FailedCreate",
        "set spec.storage.volumeClaimTemplate.metadata.name: prometheus-db",
    ]);

    let c = seed_003_stage(
        "deploy/examples/seed-003-gitops/name-fixed",
        "seed-003-gitops-name-fixed.json",
        1,
    );
    assert_eq!(c["reason"], "ScraperNotReady");
    let msg = c["message"].as_str().unwrap();
    assert!(!msg.contains("volumeMounts"), "{msg}");
    assert_contains_all(
        msg,
        &[
            "spec.securityContext sets no fsGroup",
            "uid 1000 (spec.securityContext.runAsUser)",
            "set spec.securityContext.fsGroup (e.g. 2000) with fsGroupChangePolicy: OnRootMismatch",
        ],
    );

    let c = seed_003_stage(
        "deploy/examples/seed-003-gitops/fixed",
        "seed-003-gitops-fixed.json",
        0,
    );
    assert_eq!(c["status"], "True", "{c}");
    assert_eq!(c["reason"], "ReadinessNotObserved");
}

#[test]
fn a_missing_service_account_is_predicted_only_when_the_input_has_service_accounts() {
    let spec = std::fs::read_to_string(
        root().join("deploy/examples/seed-003-gitops/fixed/prometheus.yaml"),
    )
    .unwrap();
    let others = ["monitors.yaml", "namespaces.yaml", "service.yaml"];
    let dir = tmp("seed-003-service-account");
    for f in others {
        let text =
            std::fs::read_to_string(root().join("deploy/examples/seed-003-gitops/fixed").join(f))
                .unwrap();
        write(&dir, f, &text);
    }
    // The ServiceAccount renamed: the Prometheus names one the input does not have.
    write(
        &dir,
        "prometheus.yaml",
        &spec.replace(
            "kind: ServiceAccount\nmetadata:\n  name: kps-kube-prometheus-stack-prometheus",
            "kind: ServiceAccount\nmetadata:\n  name: other",
        ),
    );
    let r = check_json(&["-f", dir.to_str().unwrap()], 1);
    let (_, msg) = seed_003_scraper_ready(&r);
    assert!(
        msg.contains("spec.serviceAccountName is \"kps-kube-prometheus-stack-prometheus\", which is not among the input's ServiceAccounts of namespace monitoring"),
        "{msg}"
    );
    // Without any ServiceAccount in the input nothing is said of it.
    let body: String = spec
        .split("\n---\n")
        .filter(|d| !d.contains("kind: ServiceAccount"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    write(&dir, "prometheus.yaml", &body);
    let r = check_json(&["-f", dir.to_str().unwrap()], 0);
    assert_eq!(seed_003_scraper_ready(&r).0["status"], "True");
}

const SEED: &str = "deploy/examples/seed-000-gitops";
const FIXED: &str = "deploy/examples/seed-000-gitops/fixed";

#[test]
fn seed_000_repository_reports_both_causes_on_the_modelled_sidecars() {
    let r = check_json(&["-f", SEED], 1);
    golden_text(
        "seed-000-gitops.json",
        &format!("{}\n", serde_json::to_string_pretty(&r).unwrap()),
    );
    let s = subject(&r, "PodMonitor", "monitoring", "istio-proxies");
    assert_eq!(s["ready"], false);
    assert_eq!(cond(s, "MonitorSelected")["reason"], "LabelsMismatch");
    assert!(cond(s, "MonitorSelected")["message"]
        .as_str()
        .unwrap()
        .contains("lacks release=kube-prometheus-stack"));
    assert_eq!(cond(s, "NetworkReachable")["reason"], "BlockedByPolicy");
    let resolved = cond(s, "TargetsResolved")["message"].as_str().unwrap();
    assert!(
        resolved.contains("modelled from Deployment blog-system/was (2 pods)"),
        "{resolved}"
    );
    assert!(resolved.contains("injected as Istio"), "{resolved}");
    // Every target is a modelled pod's injected istio-proxy Envoy port, named with its workload.
    let targets = s["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5);
    for t in targets {
        assert_eq!(t["port"], 15090);
        assert_eq!(t["portName"], "http-envoy-prom");
        assert_eq!(t["workload"]["kind"], "Deployment", "{t:#}");
    }
    for (workload, policy, rule) in [
        ("was", "was-isolation", "spec.ingress[2]"),
        ("web", "web-isolation", "spec.ingress[1]"),
    ] {
        let mine: Vec<&Value> = targets
            .iter()
            .filter(|t| t["workload"]["name"] == workload)
            .collect();
        assert_eq!(mine.len(), 2, "{workload}");
        for t in mine {
            assert_eq!(t["network"]["verdict"], "Denied", "{t:#}");
            assert_eq!(t["network"]["decidedBy"][0]["name"], policy);
            let why = t["network"]["reason"].as_str().unwrap();
            assert!(
                why.contains(rule) && why.contains("fromEndpoints [{}]"),
                "{why}"
            );
        }
    }
    let gw: Vec<&Value> = targets
        .iter()
        .filter(|t| t["workload"]["name"] == "istio-ingressgateway")
        .collect();
    assert_eq!(gw.len(), 1);
    assert_eq!(gw[0]["network"]["verdict"], "Allowed");
}

#[test]
fn seed_000_repository_fixed_is_all_ready() {
    let r = check_json(&["-f", FIXED], 0);
    golden_text(
        "seed-000-gitops-fixed.json",
        &format!("{}\n", serde_json::to_string_pretty(&r).unwrap()),
    );
    let s = subject(&r, "PodMonitor", "monitoring", "istio-proxies");
    assert_eq!(s["ready"], true);
    assert_eq!(s["targets"].as_array().unwrap().len(), 5);
}

/// Gate output with the temporary directory replaced, so that it can be pinned.
fn gate(head: &str, base: &str) -> (i32, String) {
    let (code, out, err) = run(&["check", "-f", head, "--baseline", base]);
    assert!(
        code == 0 || code == 1,
        "gate exit {code}: stdout:\n{out}\nstderr:\n{err}"
    );
    // Paths print relative to the working directory when they are below it.
    let rel = |p: &str| {
        Path::new(p)
            .strip_prefix(root())
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.to_string())
    };
    let out = out
        .replace(head, "HEAD")
        .replace(&rel(head), "HEAD")
        .replace(base, "BASE");
    (code, out)
}

#[test]
fn seed_000_fix_passes_the_gate_and_undoing_it_fails_naming_the_policy_and_rule() {
    let (code, out) = gate(FIXED, SEED);
    assert_eq!(code, 0, "{out}");
    golden_text("seed-000-gitops-gate-fix.txt", &out);
    assert!(out.contains("FIXED by this change"), "{out}");
    assert!(
        out.contains("MonitorSelected: False (LabelsMismatch) -> True"),
        "{out}"
    );

    // The author's fix undone in was-isolation: `fromEndpoints: [{}]` again.
    let dir = tmp("undo-fix");
    for f in std::fs::read_dir(root().join(FIXED)).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let policies = std::fs::read_to_string(dir.join("policies.yaml")).unwrap();
    let fixed_rule = "  - fromEntities:\n    - cluster  # 클러스터 내부 모든 namespace 허용\n";
    let at = policies
        .find(fixed_rule)
        .expect("the fixed rule of was-isolation");
    let undone = format!(
        "{}  - fromEndpoints:\n    - {{}}\n{}",
        &policies[..at],
        &policies[at + fixed_rule.len()..]
    );
    write(&dir, "policies.yaml", &undone);
    let head = dir.to_str().unwrap();
    let (code, out) = gate(head, FIXED);
    assert_eq!(code, 1, "{out}");
    golden_text("seed-000-gitops-gate-regression.txt", &out);
    assert!(out.contains("BROKEN by this change"), "{out}");
    assert!(
        out.contains("blame: CiliumNetworkPolicy blog-system/was-isolation spec.ingress[2] (HEAD/policies.yaml:35)"),
        "{out}"
    );
    assert!(
        !out.contains("web-isolation"),
        "only was-isolation changed: {out}"
    );
}

#[test]
fn live_pods_of_a_workload_win_over_modelled_ones() {
    // The repository plus a live snapshot of the was pods (owned by its ReplicaSet): was is not modelled
    // again, web still is.
    let dir = tmp("live-wins");
    for f in std::fs::read_dir(root().join(SEED)).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let live =
        std::fs::read_to_string(root().join("deploy/examples/blog-system/workloads.yaml")).unwrap();
    let was_pods: Vec<&str> = live
        .split("\n---\n")
        .filter(|d| d.contains("\n  name: was-"))
        .collect();
    assert_eq!(was_pods.len(), 2);
    write(&dir, "zz-live.yaml", &was_pods.join("\n---\n"));
    let r = check_json(&["-f", dir.to_str().unwrap()], 1);
    let s = subject(&r, "PodMonitor", "monitoring", "istio-proxies");
    let targets = s["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 5, "no double counting: {targets:#?}");
    let was: Vec<&Value> = targets
        .iter()
        .filter(|t| t["pod"].as_str().unwrap().starts_with("blog-system/was-"))
        .collect();
    assert_eq!(was.len(), 2);
    for t in was {
        assert!(
            t.get("workload").is_none(),
            "a live pod is not modelled: {t:#}"
        );
        assert!(t["pod"]
            .as_str()
            .unwrap()
            .starts_with("blog-system/was-56975b7586-"));
    }
    let resolved = cond(s, "TargetsResolved")["message"].as_str().unwrap();
    assert!(
        !resolved.contains("Deployment blog-system/was "),
        "{resolved}"
    );
    assert!(
        resolved.contains("Deployment blog-system/web (2 pods)"),
        "{resolved}"
    );
}

const SM_BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: shop}
spec:
  serviceMonitorSelector: {}
  podMonitorSelector: {}
  replicas: 2
  shards: 2
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: cart}}
  template:
    metadata: {labels: {app: cart}}
    spec:
      containers:
      - name: cart
        image: cart:1
        ports: [{name: metrics, containerPort: 9102}]
"#;

#[test]
fn service_monitors_resolve_services_over_modelled_pods_and_say_no_service_when_none_matches() {
    let dir = tmp("service-monitors");
    write(
        &dir,
        "all.yaml",
        &format!(
            "{SM_BASE}---\n{}",
            r#"apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop, labels: {app: cart}}
spec:
  selector: {app: cart}
  ports: [{name: metrics, port: 9102, targetPort: metrics}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  endpoints: [{port: metrics}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: orphan, namespace: shop}
spec:
  selector: {matchLabels: {app: gone}}
  endpoints: [{port: metrics}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: self, namespace: shop}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: prometheus}}
  podMetricsEndpoints: [{port: web}]
"#
        ),
    );
    let r = check_json(&["-f", dir.to_str().unwrap()], 1);
    let cart = subject(&r, "ServiceMonitor", "shop", "cart");
    assert_eq!(cart["ready"], true, "{cart:#}");
    let targets = cart["targets"].as_array().unwrap();
    assert_eq!(
        targets.len(),
        3,
        "one target per modelled cart pod: {targets:#?}"
    );
    let orphan = subject(&r, "ServiceMonitor", "shop", "orphan");
    let c = cond(orphan, "TargetsResolved");
    assert_eq!(c["reason"], "NoMatchingServices", "{c:#}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .starts_with("no Service in namespace shop"),
        "{c:#}"
    );
    // prometheus-operator's pods: one StatefulSet per shard, replicas each, the operator's labels.
    let own = subject(&r, "PodMonitor", "shop", "self");
    let mut pods: Vec<String> = own["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pod"].as_str().unwrap().to_string())
        .collect();
    pods.sort();
    pods.dedup();
    assert_eq!(
        pods,
        [
            "shop/prometheus-k8s-0",
            "shop/prometheus-k8s-1",
            "shop/prometheus-k8s-shard-1-0",
            "shop/prometheus-k8s-shard-1-1"
        ]
    );
}

#[test]
fn a_daemon_set_runs_on_the_nodes_given_and_host_network_pods_take_their_address() {
    let dir = tmp("daemonset");
    write(
        &dir,
        "all.yaml",
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Node
metadata: {name: node-1, labels: {kubernetes.io/os: linux}}
status: {addresses: [{type: InternalIP, address: 10.0.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-2, labels: {kubernetes.io/os: linux}}
spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
status: {addresses: [{type: InternalIP, address: 10.0.0.12}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-exporter, namespace: monitoring}
spec:
  selector: {matchLabels: {app: node-exporter}}
  template:
    metadata: {labels: {app: node-exporter}}
    spec:
      hostNetwork: true
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: node-exporter
        image: quay.io/prometheus/node-exporter:v1.9.0
        ports: [{name: metrics, containerPort: 9100}]
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {podMonitorSelector: {}}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: node-exporter, namespace: monitoring}
spec:
  selector: {matchLabels: {app: node-exporter}}
  podMetricsEndpoints: [{port: metrics}]
"#,
    );
    let r = check_json(&["-f", dir.to_str().unwrap()], 0);
    let s = subject(&r, "PodMonitor", "monitoring", "node-exporter");
    let targets = s["targets"].as_array().unwrap();
    // The control-plane node's taint is not tolerated: one pod, on node-1.
    assert_eq!(targets.len(), 1, "{targets:#?}");
    assert_eq!(targets[0]["workload"]["kind"], "DaemonSet");
    assert!(cond(s, "TargetsResolved")["message"]
        .as_str()
        .unwrap()
        .contains("DaemonSet monitoring/node-exporter (1 pod)"));
}

#[test]
fn unreadable_workloads_and_injector_settings_name_file_document_and_field() {
    let dir = tmp("bad-input");
    write(
        &dir,
        "deploy.yaml",
        r#"apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: app}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: "not a list"
"#,
    );
    let (code, out, err) = run(&["check", "-f", dir.join("deploy.yaml").to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("deploy.yaml: document 2"), "{err}");
    assert!(err.contains("spec.template.spec.containers"), "{err}");

    write(
        &dir,
        "injector.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: "{not json"
  config: "policy: enabled"
"#,
    );
    let (code, out, err) = run(&["check", "-f", dir.join("injector.yaml").to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("injector.yaml: document 1"), "{err}");
    assert!(
        err.contains("ConfigMap istio-system/istio-sidecar-injector"),
        "{err}"
    );
    assert!(err.contains("data.values"), "{err}");

    // A baseline that does not exist.
    let (code, _, err) = run(&["check", "-f", SEED, "--baseline", "/nonexistent/base"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/base"), "{err}");
}

#[test]
fn the_istio_version_given_decides_the_sidecar_kind() {
    // Up to 1.26 the sidecar is a container; from 1.27 a native sidecar (an init container).
    for (version, native) in [("1.26", false), ("1.27", true)] {
        let r = check_json(&["-f", SEED, "--istio-version", version], 1);
        let s = subject(&r, "PodMonitor", "monitoring", "istio-proxies");
        let resolved = cond(s, "TargetsResolved")["message"].as_str().unwrap();
        assert!(resolved.contains(&format!("Istio {version}")), "{resolved}");
        assert_eq!(resolved.contains("native sidecar"), native, "{resolved}");
        assert_eq!(s["targets"].as_array().unwrap().len(), 5);
    }
    let (code, _, err) = run(&["check", "-f", SEED, "--istio-version", "latest"]);
    assert_eq!(code, 2);
    assert!(err.contains("not an Istio version"), "{err}");
}

#[test]
fn an_object_defined_twice_is_warned_of_and_the_last_one_wins() {
    let dir = tmp("redefined");
    let prometheus = |selector: &str| {
        format!(
            "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {{name: k8s, namespace: monitoring}}\nspec: {{podMonitorSelector: {selector}}}\n"
        )
    };
    write(&dir, "a.yaml", &prometheus("{matchLabels: {team: a}}"));
    write(
        &dir,
        "b.yaml",
        &format!(
            "{}---\napiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {{name: m, namespace: monitoring}}\nspec:\n  selector: {{matchLabels: {{app: x}}}}\n  podMetricsEndpoints: [{{port: metrics}}]\n",
            prometheus("{}")
        ),
    );
    let (code, out, err) = run(&["check", "-f", dir.to_str().unwrap(), "-o", "json"]);
    assert!(
        err.contains("warning: Prometheus monitoring/k8s is defined 2 times (")
            && err.contains("a.yaml document 1); the last one, ")
            && err.contains("b.yaml document 1, is the one analysed"),
        "{err}"
    );
    // b.yaml's selector (every monitor) is the one analysed: the monitor is selected.
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 1, "no pod matches: {out}");
    let s = subject(&r, "PodMonitor", "monitoring", "m");
    assert_eq!(cond(s, "MonitorSelected")["status"], "True", "{s:#}");
}
