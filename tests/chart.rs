//! The Helm chart `charts/scrapepath`, with a real `helm` (built from its Go module by
//! `tests/harness/helm.sh`) and the real test API server:
//!
//! - `helm lint --strict` and `helm template` for every values file of `charts/scrapepath/ci/`, with what
//!   each must render (hardened pod, probes, the settings as the binary's environment variables);
//! - `values.schema.json` refuses bad values with a message naming the value;
//! - the chart's ClusterRole/Roles grant exactly what `scrapepath::rbac` computes from the code;
//! - the chart's CRD is `crds/` (which `scrapepath crd` generates); `deploy/` is the current rendering;
//! - `helm install` into the API server, then the operator, in-process but authenticated as the chart's
//!   ServiceAccount (a TokenRequest token, RBAC enforced), runs the seed end to end — Report, Enforce,
//!   drift, the user's fix — and the API server refuses none of its requests; verbs outside the chart's
//!   RBAC are refused; `helm upgrade` to watched namespaces moves the writes into Roles there;
//! - `helm upgrade` updates the CRD (from an older chart, and over a hand-edited live CRD), and
//!   `helm uninstall` keeps it and the intents.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use k8s_openapi::api::rbac::v1::PolicyRule;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Deserialize;
use serde_json::{json, Value};

use common::cluster::*;
use common::testenv::{CrdSet, TestEnv};
use scrapepath::api::ScrapeIntent;
use scrapepath::config_access::{ConfigAccess, ConfigNamespaces};
use scrapepath::controller::enforce::holds;
use scrapepath::controller::Settings;
use scrapepath::rbac::{atoms, roles, Atom, Grant, RbacConfig};

const RELEASE: &str = "scrapepath";
const RELEASE_NS: &str = "scrapepath-system";
const CNP: &str = "cilium.io/v2";
const MON: &str = "monitoring.coreos.com/v1";
const CRD_FILE: &str = "scrapeintents.scrapepath.io.yaml";
/// The ScrapeIntent kind, as `helm template --api-versions` names a served kind.
const INTENT_API: &str = "scrapepath.io/v1alpha1/ScrapeIntent";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    repo().join("charts/scrapepath")
}

/// `helm`, built once by tests/harness/helm.sh (which fails with a clear message without Go).
fn helm_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = repo().join("tests/harness/helm.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "tests/harness/helm.sh failed: the chart tests build helm from its Go module and need Go and \
             the Go module proxy:\n{stderr}"
        );
        let path = stdout
            .lines()
            .find_map(|l| l.strip_prefix("HELM_BIN="))
            .unwrap_or_else(|| panic!("tests/harness/helm.sh printed no HELM_BIN=:\n{stdout}\n{stderr}"));
        PathBuf::from(path)
    })
}

/// `helm` with its cache, config and data under the test target dir (never the user's).
fn helm() -> Command {
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    let mut c = Command::new(helm_bin());
    c.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .env_remove("HELM_NAMESPACE");
    c
}

/// Runs a command that must succeed; its stdout.
fn ok(mut c: Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; its stderr.
fn fails(mut c: Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    assert!(
        !out.status.success(),
        "{c:?} succeeded but must fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| {
            Value::deserialize(d).unwrap_or_else(|e| panic!("rendered YAML parses: {e}\n{text}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// `helm template` of the chart in RELEASE_NS with extra arguments (values files, --set).
fn template(chart_dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut c = helm();
    c.args(["template", RELEASE])
        .arg(chart_dir)
        .args(["--namespace", RELEASE_NS])
        .args(args);
    documents(&ok(c))
}

fn ci_values_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("ci"))
        .expect("charts/scrapepath/ci exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "exactly one {kind} is rendered");
    found[0]
}

/// The operator container's environment: plain values, and `fieldRef:<path>` for downward-API ones.
fn container_env(deployment: &Value) -> BTreeMap<String, String> {
    let c = &deployment["spec"]["template"]["spec"]["containers"][0];
    c["env"]
        .as_array()
        .expect("the container has env")
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_string();
            let value = match (
                e["value"].as_str(),
                e.pointer("/valueFrom/fieldRef/fieldPath"),
            ) {
                (Some(v), _) => v.to_string(),
                (None, Some(p)) => format!("fieldRef:{}", p.as_str().unwrap()),
                _ => panic!("env {name} has neither a value nor a fieldRef"),
            };
            (name, value)
        })
        .collect()
}

/// Environment variables the chart may set: those `scrapepath run` declares (clap `env = "..."` in
/// src/main.rs), plus the log filter and the pod name.
fn known_env() -> BTreeSet<String> {
    let main = std::fs::read_to_string(repo().join("src/main.rs")).unwrap();
    let declared = regex::Regex::new(r#"env = "(SCRAPEPATH_[A-Z_]+)""#).unwrap();
    let mut out: BTreeSet<String> = declared
        .captures_iter(&main)
        .map(|c| c[1].to_string())
        .collect();
    out.insert("SCRAPEPATH_LOG".into()); // tracing's EnvFilter::try_from_env("SCRAPEPATH_LOG")
    out.insert("POD_NAME".into()); // the instance name in Events, and the leader-election identity
    out
}

/// What every rendering must hold: a hardened pod with probes and resources, run as the chart's
/// ServiceAccount, a Service on its metrics port, every setting an environment variable the binary reads.
fn check_common(docs: &[Value], file: &str) {
    let dep = one(docs, "Deployment");
    let pod = &dep["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{file}");
    assert_eq!(pod["securityContext"]["runAsUser"], 65532, "{file}");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{file}"
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{file}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{file}");
    assert_eq!(sc["runAsNonRoot"], true, "{file}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{file}");
    for kind in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(
                !c["resources"][kind][r].is_null(),
                "{file}: resources.{kind}.{r}"
            );
        }
    }
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "health"}),
        "{file}"
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "health"}),
        "{file}"
    );
    assert!(
        pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 10,
        "{file}"
    );
    assert_eq!(c["args"], json!(["run"]), "{file}");
    let ports: BTreeSet<&str> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(ports, BTreeSet::from(["metrics", "health"]), "{file}");

    let sa = one(docs, "ServiceAccount");
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"], "{file}");
    let svc = one(docs, "Service");
    assert_eq!(
        svc["spec"]["selector"], dep["spec"]["selector"]["matchLabels"],
        "{file}: the Service selects the operator's pods"
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics", "{file}");

    let env = container_env(dep);
    let known = known_env();
    for name in env.keys() {
        assert!(
            known.contains(name),
            "{file}: the chart sets {name}, which scrapepath run does not read"
        );
    }
    assert_eq!(env["POD_NAME"], "fieldRef:metadata.name", "{file}");
    for d in docs {
        let ns = d.pointer("/metadata/namespace").and_then(Value::as_str);
        let cluster_scoped = matches!(
            d["kind"].as_str(),
            Some("ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition")
        );
        assert!(
            cluster_scoped || ns.is_some(),
            "{file}: {} {} names no namespace",
            d["kind"],
            d["metadata"]["name"]
        );
    }
}

/// The `-configs` Roles of a rendering: namespace → the resources they list and watch.
fn config_roles(docs: &[Value]) -> BTreeMap<String, Vec<String>> {
    of_kind(docs, "Role")
        .into_iter()
        .filter(|r| {
            r["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-configs"))
        })
        .map(|r| {
            let rules: Vec<PolicyRule> = serde_json::from_value(r["rules"].clone()).unwrap();
            assert_eq!(rules.len(), 1, "{r}");
            assert_eq!(rules[0].verbs, ["list", "watch"], "{r}");
            assert_eq!(rules[0].resource_names, None, "{r}");
            (
                r["metadata"]["namespace"].as_str().unwrap().to_string(),
                rules[0].resources.clone().unwrap(),
            )
        })
        .collect()
}

/// The namespaces of the `-status` Roles (the scrapers' StatefulSets and Events).
fn status_namespaces(docs: &[Value]) -> Vec<String> {
    of_kind(docs, "Role")
        .into_iter()
        .filter(|r| {
            r["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-status"))
        })
        .map(|r| r["metadata"]["namespace"].as_str().unwrap().to_string())
        .collect()
}

/// Whether the ClusterRole lists StatefulSets (the scrapers' status read in every namespace).
fn reads_status_cluster_wide(docs: &[Value]) -> bool {
    chart_roles(docs)
        .into_iter()
        .filter(|((kind, _, _), _)| kind == "ClusterRole")
        .flat_map(|(_, a)| a)
        .any(|a| a.resource == "statefulsets" && a.verb == "list")
}

/// Whether the ClusterRole lists ConfigMaps or Secrets without naming them.
fn reads_configs_cluster_wide(docs: &[Value]) -> bool {
    let cluster = chart_roles(docs)
        .into_iter()
        .find(|((kind, _, _), _)| kind == "ClusterRole")
        .map(|(_, a)| a)
        .unwrap_or_default();
    cluster.iter().any(|a| {
        (a.resource == "configmaps" || a.resource == "secrets")
            && a.name.is_none()
            && a.verb == "list"
    })
}

/// Whether the ClusterRole lists and watches the RBAC kinds.
fn reads_rbac(docs: &[Value]) -> bool {
    of_kind(docs, "ClusterRole").iter().any(|r| {
        r["rules"].as_array().unwrap().iter().any(|rule| {
            rule["apiGroups"] == json!(["rbac.authorization.k8s.io"])
                && rule["verbs"] == json!(["list", "watch"])
        })
    })
}

#[test]
fn every_ci_values_file_lints_and_renders_what_it_asks_for() {
    let files = ci_values_files();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "default-values.yaml",
        "ha-values.yaml",
        "report-only-values.yaml",
        "kubernetes-backend-values.yaml",
        "monitoring-values.yaml",
        "scrape-configs-values.yaml",
        "scrape-configs-cluster-wide-values.yaml",
        "scrape-configs-none-values.yaml",
        "rbac-discovery-values.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "charts/scrapepath/ci/{expected} is missing"
        );
    }
    for (f, name) in files.iter().zip(&names) {
        let mut lint = helm();
        lint.args(["lint", "--strict"])
            .arg(chart())
            .arg("-f")
            .arg(f);
        let out = ok(lint);
        assert!(out.contains("0 chart(s) failed"), "{name}: {out}");

        // As on an upgrade, where the API server already serves this release's CRD.
        let docs = template(
            &chart(),
            &["-f", f.to_str().unwrap(), "--api-versions", INTENT_API],
        );
        check_common(&docs, name);
        let dep = one(&docs, "Deployment");
        let env = container_env(dep);
        let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        match name.as_str() {
            "default-values.yaml" => {
                assert_eq!(dep["spec"]["replicas"], 1);
                assert_eq!(dep["spec"]["strategy"]["type"], "Recreate");
                assert!(!env.contains_key("SCRAPEPATH_LEADER_ELECT"));
                assert!(
                    !env.contains_key("SCRAPEPATH_CILIUM_VERSION"),
                    "auto: no version pinned"
                );
                assert!(!env.contains_key("SCRAPEPATH_NAMESPACES"));
                // The scrapers' StatefulSets and Events: in monitoring only, by default.
                assert_eq!(env["SCRAPEPATH_SCRAPER_STATUS_NAMESPACES"], "monitoring");
                assert_eq!(status_namespaces(&docs), ["monitoring"]);
                assert!(!reads_status_cluster_wide(&docs));
                assert_eq!(env["SCRAPEPATH_ALLOW_ENFORCE"], "true");
                assert_eq!(env["SCRAPEPATH_DEFAULT_MODE"], "Report");
                assert_eq!(env["SCRAPEPATH_POLICY_BACKEND"], "auto");
                assert_eq!(env["SCRAPEPATH_METRICS_BIND_ADDRESS"], "0.0.0.0:8080");
                // Scrape configurations: ConfigMaps and Secrets of monitoring, nowhere else.
                assert_eq!(env["SCRAPEPATH_CONFIG_NAMESPACES"], "monitoring");
                assert_eq!(env["SCRAPEPATH_READ_SECRETS"], "true");
                let configs = config_roles(&docs);
                assert_eq!(
                    configs.keys().cloned().collect::<Vec<_>>(),
                    ["monitoring"],
                    "{name}"
                );
                assert_eq!(configs["monitoring"], ["configmaps", "secrets"]);
                assert!(!reads_configs_cluster_wide(&docs), "{name}");
                // RBAC objects are not read by default.
                assert_eq!(env["SCRAPEPATH_READ_RBAC"], "false");
                assert!(!reads_rbac(&docs), "{name}");
                assert_eq!(env["SCRAPEPATH_HEALTH_PROBE_BIND_ADDRESS"], "0.0.0.0:8081");
                for absent in ["ServiceMonitor", "ScrapeIntent", "PodDisruptionBudget"] {
                    assert!(!kinds.contains(absent), "{name}: {absent} is opt-in");
                }
                assert!(kinds.contains("CustomResourceDefinition"));
                let image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap();
                assert_eq!(image, format!("scrapepath:{}", env!("CARGO_PKG_VERSION")));
            }
            "ha-values.yaml" => {
                assert_eq!(dep["spec"]["replicas"], 2);
                assert_eq!(
                    dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
                    0
                );
                assert_eq!(env["SCRAPEPATH_LEADER_ELECT"], "true");
                assert_eq!(env["SCRAPEPATH_LEADER_ELECTION_ID"], "scrapepath-leader");
                assert_eq!(
                    env["SCRAPEPATH_LEADER_ELECTION_NAMESPACE"],
                    "fieldRef:metadata.namespace"
                );
                assert!(kinds.contains("PodDisruptionBudget"));
                assert!(dep["spec"]["template"]["spec"]["topologySpreadConstraints"].is_array());
            }
            "report-only-values.yaml" => {
                assert_eq!(env["SCRAPEPATH_ALLOW_ENFORCE"], "false");
            }
            "kubernetes-backend-values.yaml" => {
                assert_eq!(env["SCRAPEPATH_POLICY_BACKEND"], "kubernetes");
                assert_eq!(env["SCRAPEPATH_CILIUM_VERSION"], "1.16");
                assert_eq!(env["SCRAPEPATH_NAMESPACES"], "team-a,team-b");
                assert_eq!(env["SCRAPEPATH_DEFAULT_SCRAPER"], "monitoring/k8s");
                assert_eq!(env["SCRAPEPATH_DEFAULT_MODE"], "Enforce");
                assert_eq!(
                    env["SCRAPEPATH_PROMETHEUS_OPERATOR_FEATURE_GATES"],
                    "PrometheusTopologySharding=true"
                );
                let role_ns: BTreeSet<&str> = of_kind(&docs, "Role")
                    .iter()
                    .filter_map(|r| r["metadata"]["namespace"].as_str())
                    .collect();
                assert_eq!(
                    role_ns,
                    BTreeSet::from(["kube-system", "monitoring", "team-a", "team-b"])
                );
            }
            "monitoring-values.yaml" => {
                assert_eq!(
                    env["SCRAPEPATH_PROMETHEUS_URL"],
                    "http://prometheus-operated.monitoring:9090"
                );
                let sm = one(&docs, "ServiceMonitor");
                assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
                assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
                assert_eq!(
                    sm["spec"]["selector"]["matchLabels"],
                    dep["spec"]["selector"]["matchLabels"]
                );
                let si = one(&docs, "ScrapeIntent");
                assert_eq!(si["spec"]["monitor"]["ref"]["name"], sm["metadata"]["name"]);
                // It is a valid ScrapeIntent for the operator's own types.
                let typed: ScrapeIntent = serde_json::from_value(si.clone()).unwrap();
                assert_eq!(typed.spec.endpoints[0].path_or_default(), "/metrics");
                // Before the kind is served (a first install brings the CRD itself), it is left out:
                // Helm would refuse the whole release.
                let first = template(&chart(), &["-f", f.to_str().unwrap()]);
                assert!(of_kind(&first, "ScrapeIntent").is_empty());
            }
            "scrape-configs-values.yaml" => {
                assert_eq!(
                    env["SCRAPEPATH_CONFIG_NAMESPACES"],
                    "monitoring,cilium-monitoring"
                );
                assert_eq!(env["SCRAPEPATH_READ_SECRETS"], "false");
                let configs = config_roles(&docs);
                assert_eq!(
                    configs.keys().cloned().collect::<Vec<_>>(),
                    ["cilium-monitoring", "monitoring"]
                );
                assert!(
                    configs.values().all(|r| r == &["configmaps"]),
                    "{configs:?}"
                );
                assert!(!reads_configs_cluster_wide(&docs));
                assert!(
                    !serde_json::to_string(&of_kind(&docs, "Role"))
                        .unwrap()
                        .contains("secrets"),
                    "{name}: no Secret is granted anywhere"
                );
            }
            "scrape-configs-cluster-wide-values.yaml" => {
                assert_eq!(env["SCRAPEPATH_CONFIG_NAMESPACES"], "*");
                assert!(config_roles(&docs).is_empty());
                assert!(reads_configs_cluster_wide(&docs));
            }
            "scrape-configs-none-values.yaml" => {
                assert_eq!(env["SCRAPEPATH_CONFIG_NAMESPACES"], "");
                assert!(config_roles(&docs).is_empty());
                assert!(!reads_configs_cluster_wide(&docs));
                assert_eq!(env["SCRAPEPATH_SCRAPER_STATUS_NAMESPACES"], "");
                assert!(status_namespaces(&docs).is_empty());
                assert!(!reads_status_cluster_wide(&docs));
            }
            "scraper-status-cluster-wide-values.yaml" => {
                assert_eq!(env["SCRAPEPATH_SCRAPER_STATUS_NAMESPACES"], "*");
                assert!(status_namespaces(&docs).is_empty());
                assert!(reads_status_cluster_wide(&docs));
            }
            "rbac-discovery-values.yaml" => {
                assert_eq!(env["SCRAPEPATH_READ_RBAC"], "true");
                assert!(reads_rbac(&docs));
            }
            other => panic!("charts/scrapepath/ci/{other}: add what it must render to this test"),
        }
    }
}

#[test]
fn scrapepath_run_accepts_the_environment_every_ci_values_file_sets() {
    for f in ci_values_files() {
        let docs = template(&chart(), &["-f", f.to_str().unwrap()]);
        let mut c = Command::new(env!("CARGO_BIN_EXE_scrapepath"));
        c.arg("run").env_clear();
        for (k, v) in container_env(one(&docs, "Deployment")) {
            let v = match k.as_str() {
                "POD_NAME" => "scrapepath-0".to_string(),
                "SCRAPEPATH_LEADER_ELECTION_NAMESPACE" => RELEASE_NS.to_string(),
                // Same syntax as the chart's 0.0.0.0:PORT, without taking a fixed port here.
                "SCRAPEPATH_METRICS_BIND_ADDRESS" | "SCRAPEPATH_HEALTH_PROBE_BIND_ADDRESS" => {
                    "127.0.0.1:0".to_string()
                }
                _ => v,
            };
            c.env(k, v);
        }
        // No cluster: the settings parse, then connecting fails.
        c.env("KUBECONFIG", "/nonexistent/kubeconfig");
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {stderr}", f.display());
        assert!(
            stderr.contains("cannot connect to the cluster"),
            "{}: scrapepath run refused the chart's settings:\n{stderr}",
            f.display()
        );
    }
}

#[test]
fn the_chart_version_follows_the_crate() {
    let chart: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion is the crate's version"
    );
}

#[test]
fn values_outside_the_schema_are_refused_with_a_message_naming_them() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chart-invalid-values");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "mode",
            "settings: {defaultMode: enforce}",
            &["/settings/defaultMode", "Report", "Enforce"],
        ),
        (
            "backend",
            "settings: {policyBackend: calico}",
            &["/settings/policyBackend", "kubernetes"],
        ),
        // Unquoted, 1.10 would be the number 1.1: a version must be a string.
        (
            "cilium-number",
            "settings: {ciliumVersion: 1.16}",
            &["/settings/ciliumVersion", "string"],
        ),
        (
            "cilium-text",
            "settings: {ciliumVersion: latest}",
            &["/settings/ciliumVersion"],
        ),
        (
            "unknown-setting",
            "settings: {enforce: true}",
            &["/settings", "'enforce' not allowed"],
        ),
        ("unknown-top", "replicas: 2", &["'replicas' not allowed"]),
        (
            "namespace",
            "settings: {watchedNamespaces: [Team_A]}",
            &["/settings/watchedNamespaces/0"],
        ),
        (
            "scraper",
            "settings: {defaultScraper: prometheus}",
            &["/settings/defaultScraper"],
        ),
        (
            "url",
            "settings: {prometheusUrl: prometheus:9090}",
            &["/settings/prometheusUrl"],
        ),
        (
            "replicas",
            "replicaCount: two",
            &["/replicaCount", "integer"],
        ),
        (
            "interval",
            "serviceMonitor: {interval: soon}",
            &["/serviceMonitor/interval"],
        ),
        (
            "digest",
            "image: {repository: r, pullPolicy: Always, digest: latest}",
            &["/image/digest"],
        ),
        ("port", "metrics: {port: 80000}", &["/metrics/port"]),
        (
            "config-namespace",
            "scrapeConfigs: {namespaces: [Monitoring]}",
            &["/scrapeConfigs/namespaces/0"],
        ),
        (
            "config-namespaces-string",
            "scrapeConfigs: {namespaces: monitoring}",
            &["/scrapeConfigs/namespaces", "array"],
        ),
        (
            "config-secrets",
            "scrapeConfigs: {secrets: \"yes\"}",
            &["/scrapeConfigs/secrets", "boolean"],
        ),
        (
            "config-unknown",
            "scrapeConfigs: {configMaps: true}",
            &["/scrapeConfigs", "'configMaps' not allowed"],
        ),
    ];
    for (name, yaml, expected) in cases {
        let f = dir.join(format!("{name}.yaml"));
        std::fs::write(&f, yaml).unwrap();
        let mut c = helm();
        c.args(["template", RELEASE]).arg(chart()).arg("-f").arg(&f);
        let err = fails(c);
        assert!(
            err.contains("values don't meet the specifications of the schema"),
            "{name}: {err}"
        );
        for e in *expected {
            assert!(
                err.contains(e),
                "{name} ({yaml}): the message names {e:?}:\n{err}"
            );
        }
        let mut lint = helm();
        lint.arg("lint").arg(chart()).arg("-f").arg(&f);
        fails(lint);
    }
    // Rules across values, checked by the templates.
    let cross: &[(&str, &[&str], &str)] = &[
        (
            "two replicas alone",
            &["--set", "replicaCount=2"],
            "needs leader election",
        ),
        (
            "a scraper name without namespace",
            &[
                "--set",
                "scrapeIntent.enabled=true",
                "--set",
                "scrapeIntent.scraper.name=k8s",
            ],
            "scrapeIntent.scraper.name needs scrapeIntent.scraper.namespace",
        ),
        (
            "an Enforce self-intent without Enforce",
            &[
                "--set",
                "scrapeIntent.enabled=true",
                "--set",
                "scrapeIntent.mode=Enforce",
                "--set",
                "settings.allowEnforce=false",
            ],
            "settings.allowEnforce is false",
        ),
        (
            "an existing ServiceAccount without a name",
            &["--set", "serviceAccount.create=false"],
            "serviceAccount.name is required",
        ),
        (
            "every namespace and more",
            &[
                "--set-json",
                r#"scrapeConfigs.namespaces=["*","monitoring"]"#,
            ],
            r#"scrapeConfigs.namespaces is ["*","monitoring"]: "*" (every namespace) stands alone"#,
        ),
    ];
    for (what, args, expected) in cross {
        let mut c = helm();
        c.args(["template", RELEASE]).arg(chart()).args(*args);
        let err = fails(c);
        assert!(err.contains(expected), "{what}: {err}");
    }
}

/// The roles of a rendering, keyed by (kind, namespace, name), as permissions.
type RoleSet = BTreeMap<(String, String, String), BTreeSet<Atom>>;

fn chart_roles(docs: &[Value]) -> RoleSet {
    let mut out = RoleSet::new();
    for d in docs {
        let kind = d["kind"].as_str().unwrap_or_default();
        if kind != "ClusterRole" && kind != "Role" {
            continue;
        }
        let rules: Vec<PolicyRule> = serde_json::from_value(d["rules"].clone())
            .unwrap_or_else(|e| panic!("{kind} {}: rules: {e}", d["metadata"]["name"]));
        let key = (
            kind.to_string(),
            d["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            d["metadata"]["name"].as_str().unwrap().to_string(),
        );
        let a = atoms(&rules).unwrap_or_else(|e| panic!("{key:?}: {e}"));
        assert!(
            out.insert(key.clone(), a).is_none(),
            "{key:?} is rendered twice"
        );
    }
    out
}

/// What `scrapepath::rbac` computes for the operator as this Deployment configures it.
fn code_roles(docs: &[Value], fullname: &str) -> RoleSet {
    let env = container_env(one(docs, "Deployment"));
    let config = RbacConfig {
        namespaces: env
            .get("SCRAPEPATH_NAMESPACES")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
        leader_election: (env.get("SCRAPEPATH_LEADER_ELECT").map(String::as_str) == Some("true"))
            .then(|| env["SCRAPEPATH_LEADER_ELECTION_ID"].clone()),
        allow_enforce: env["SCRAPEPATH_ALLOW_ENFORCE"] == "true",
        configs: ConfigAccess {
            namespaces: ConfigNamespaces::from_list(
                &env["SCRAPEPATH_CONFIG_NAMESPACES"]
                    .split(',')
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
            secrets: env["SCRAPEPATH_READ_SECRETS"] == "true",
        },
        read_rbac: env["SCRAPEPATH_READ_RBAC"] == "true",
        scraper_status: ConfigNamespaces::from_list(
            &env["SCRAPEPATH_SCRAPER_STATUS_NAMESPACES"]
                .split(',')
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    };
    roles(&config)
        .into_iter()
        .map(|r| {
            let (kind, ns) = match r.grant {
                Grant::Cluster => ("ClusterRole", String::new()),
                Grant::Namespace(ns) => ("Role", ns),
                Grant::OwnNamespace => ("Role", RELEASE_NS.to_string()),
            };
            (
                (kind.to_string(), ns, format!("{fullname}{}", r.suffix)),
                atoms(&r.rules).unwrap(),
            )
        })
        .collect()
}

fn describe(set: &BTreeSet<Atom>) -> Vec<String> {
    set.iter()
        .map(|a| {
            let name = a
                .name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!("{} {}/{}{name}", a.verb, a.group, a.resource)
        })
        .collect()
}

/// How the chart's roles differ from the code's (empty: they grant the same).
fn rbac_differences(docs: &[Value]) -> Vec<String> {
    let sa = one(docs, "ServiceAccount");
    let fullname = sa["metadata"]["name"].as_str().unwrap();
    let chart = chart_roles(docs);
    let code = code_roles(docs, fullname);
    let keys: BTreeSet<_> = chart.keys().chain(code.keys()).cloned().collect();
    let mut out = Vec::new();
    for k in keys {
        match (chart.get(&k), code.get(&k)) {
            (Some(c), Some(r)) => {
                let extra: BTreeSet<Atom> = c.difference(r).cloned().collect();
                let missing: BTreeSet<Atom> = r.difference(c).cloned().collect();
                if !extra.is_empty() {
                    out.push(format!(
                        "{k:?} grants more than the code uses: {:?}",
                        describe(&extra)
                    ));
                }
                if !missing.is_empty() {
                    out.push(format!(
                        "{k:?} lacks what the code uses: {:?}",
                        describe(&missing)
                    ));
                }
            }
            (Some(_), None) => out.push(format!(
                "the chart renders {k:?}, which the code does not need"
            )),
            (None, Some(r)) => out.push(format!("the chart lacks {k:?}: {:?}", describe(r))),
            (None, None) => {}
        }
    }
    out
}

fn assert_rbac_is_the_codes(docs: &[Value], what: &str) {
    let diff = rbac_differences(docs);
    assert!(diff.is_empty(), "{what}:\n{}", diff.join("\n"));
    let sa = one(docs, "ServiceAccount");
    let fullname = sa["metadata"]["name"].as_str().unwrap();
    let chart = chart_roles(docs);
    // Every role is bound to the chart's ServiceAccount, and only those roles.
    let mut bound = BTreeSet::new();
    for d in docs {
        let (role_kind, kind) = match d["kind"].as_str() {
            Some("ClusterRoleBinding") => ("ClusterRole", "ClusterRoleBinding"),
            Some("RoleBinding") => ("Role", "RoleBinding"),
            _ => continue,
        };
        let ns = d["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            d["roleRef"]["kind"], role_kind,
            "{what}: {kind} {}",
            d["metadata"]["name"]
        );
        assert_eq!(
            d["subjects"],
            json!([{"kind": "ServiceAccount", "name": fullname, "namespace": RELEASE_NS}]),
            "{what}: {kind} {} binds only the chart's ServiceAccount",
            d["metadata"]["name"]
        );
        bound.insert((
            role_kind.to_string(),
            ns,
            d["roleRef"]["name"].as_str().unwrap().to_string(),
        ));
    }
    let roles: BTreeSet<_> = chart.keys().cloned().collect();
    assert_eq!(
        bound, roles,
        "{what}: every role is bound, and nothing else"
    );
}

#[test]
fn the_charts_rbac_is_exactly_what_the_code_computes() {
    for f in ci_values_files() {
        let docs = template(&chart(), &["-f", f.to_str().unwrap()]);
        assert_rbac_is_the_codes(&docs, &f.display().to_string());
    }
    // Every reconcile setting at once: watched namespaces, no Enforce, leader election.
    let docs = template(
        &chart(),
        &[
            "--set",
            "settings.watchedNamespaces={a,b,kube-system}",
            "--set",
            "settings.allowEnforce=false",
            "--set",
            "leaderElection.enabled=true",
        ],
    );
    assert_rbac_is_the_codes(
        &docs,
        "watched namespaces without Enforce, with leader election",
    );
    // Scrape configurations in a watched namespace and kube-system (whose pinned reads are a Role
    // already): their own Roles, beside the others.
    let docs = template(
        &chart(),
        &[
            "--set",
            "settings.watchedNamespaces={a,monitoring}",
            "--set",
            "scrapeConfigs.namespaces={monitoring,kube-system}",
        ],
    );
    assert_rbac_is_the_codes(&docs, "scrape configurations where other Roles are");
    // The comparison can fail: one verb more in the chart is caught.
    let mut docs = template(&chart(), &[]);
    let role = docs
        .iter_mut()
        .find(|d| d["kind"] == "ClusterRole")
        .unwrap();
    role["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}));
    let diff = rbac_differences(&docs);
    assert_eq!(
        diff,
        ["(\"ClusterRole\", \"\", \"scrapepath\") grants more than the code uses: [\"get /secrets\"]"],
        "an extra rule must fail the comparison"
    );
    let mut docs = template(&chart(), &[]);
    let role = docs
        .iter_mut()
        .find(|d| d["kind"] == "ClusterRole")
        .unwrap();
    role["rules"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["apiGroups"] != json!(["events.k8s.io"]));
    let diff = rbac_differences(&docs);
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(
        diff[0].contains("lacks what the code uses")
            && diff[0].contains("create events.k8s.io/events"),
        "{diff:?}"
    );
    // No RBAC at all when the platform brings its own.
    let docs = template(&chart(), &["--set", "rbac.create=false"]);
    assert!(chart_roles(&docs).is_empty());
}

#[test]
fn scrapepath_rbac_prints_what_the_chart_grants() {
    for (flags, sets) in [
        (
            vec![
                "--namespaces",
                "team-a,team-b",
                "--leader-election-id",
                RELEASE,
            ],
            vec![
                "--set",
                "settings.watchedNamespaces={team-a,team-b}",
                "--set",
                "leaderElection.enabled=true",
            ],
        ),
        (
            vec!["--allow-enforce=false"],
            vec!["--set", "settings.allowEnforce=false"],
        ),
        (
            vec!["--config-namespaces", "mon-a,mon-b", "--read-secrets=false"],
            vec![
                "--set",
                "scrapeConfigs.namespaces={mon-a,mon-b}",
                "--set",
                "scrapeConfigs.secrets=false",
            ],
        ),
        (
            vec!["--config-namespaces=*"],
            vec!["--set-json", r#"scrapeConfigs.namespaces=["*"]"#],
        ),
        (
            vec!["--config-namespaces="],
            vec!["--set-json", "scrapeConfigs.namespaces=[]"],
        ),
        (
            vec!["--read-rbac=true"],
            vec!["--set", "rbacDiscovery.enabled=true"],
        ),
        (vec![], vec![]),
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_scrapepath"));
        c.arg("rbac")
            .args(&flags)
            .args(["--namespace", RELEASE_NS, "--name", RELEASE]);
        let printed = documents(&ok(c));
        let rendered = template(&chart(), &sets);
        assert_eq!(
            chart_roles(&printed),
            chart_roles(&rendered),
            "scrapepath rbac {flags:?}"
        );
        let bindings = |docs: &[Value]| -> BTreeSet<String> {
            docs.iter()
                .filter(|d| d["kind"].as_str().is_some_and(|k| k.ends_with("Binding")))
                .map(|d| {
                    format!(
                        "{} {} {} {}",
                        d["metadata"]["namespace"], d["roleRef"], d["subjects"], d["kind"]
                    )
                })
                .collect()
        };
        assert_eq!(
            bindings(&printed),
            bindings(&rendered),
            "scrapepath rbac {flags:?}"
        );
    }
}

/// A CRD as a value, without the metadata Helm adds (labels, the keep annotation).
fn crd_without_helm_metadata(mut v: Value) -> Value {
    let md = v["metadata"].as_object_mut().unwrap();
    md.remove("labels");
    md.remove("annotations");
    v
}

/// The first path where two values differ, numbers compared by value (Helm's YAML round trip writes
/// the generated `0.0` as `0`, the same JSON number to the API server).
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(v), Some(w)) => first_difference(v, w, &format!("{path}/{k}")),
                _ => Some(format!("{path}/{k}: present on one side only")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}/{i}"))),
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

#[test]
fn the_charts_crd_is_the_generated_one() {
    // What `scrapepath crd` prints, which tests/crd.rs keeps equal to crds/.
    let generated = scrapepath::api::crd_yaml();
    let copy_path = chart().join("files/crds").join(CRD_FILE);
    let copy = std::fs::read_to_string(&copy_path).unwrap_or_default();
    let update = std::env::var("SCRAPEPATH_UPDATE_CRDS").is_ok_and(|v| !v.is_empty() && v != "0");
    if update && copy != generated {
        std::fs::write(&copy_path, &generated).unwrap();
    } else {
        assert!(
            copy == generated,
            "charts/scrapepath/files/crds/{CRD_FILE} is not the CRD `scrapepath crd` generates: refresh it \
             (and crds/) with `SCRAPEPATH_UPDATE_CRDS=1 cargo test --test crd --test chart`"
        );
    }
    let expected: Value = serde_yaml_ng::from_str(&generated).unwrap();
    let docs = template(&chart(), &[]);
    let crd = one(&docs, "CustomResourceDefinition");
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    let diff = first_difference(&crd_without_helm_metadata(crd.clone()), &expected, "");
    assert_eq!(diff, None, "the rendered CRD is crds/{CRD_FILE}");
    // The comparison can fail.
    let mut edited = expected.clone();
    edited["spec"]["versions"][0]["served"] = json!(false);
    assert!(first_difference(&crd_without_helm_metadata(crd.clone()), &edited, "").is_some());

    let docs = template(&chart(), &["--set", "crds.keep=false"]);
    assert!(one(&docs, "CustomResourceDefinition")["metadata"]["annotations"].is_null());
    let docs = template(&chart(), &["--set", "crds.install=false"]);
    assert!(of_kind(&docs, "CustomResourceDefinition").is_empty());
}

#[test]
fn deploy_holds_the_current_rendering() {
    let script = repo().join("scripts/render-deploy.sh");
    let mut c = Command::new("bash");
    c.arg(&script).arg("--stdout");
    let fresh = ok(c);
    let path = repo().join("deploy/scrapepath.yaml");
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    if fresh != stored {
        let (a, b): (Vec<&str>, Vec<&str>) = (stored.lines().collect(), fresh.lines().collect());
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let show = |l: &[&str]| l[first.min(l.len())..(first + 8).min(l.len())].join("\n");
        panic!(
            "deploy/scrapepath.yaml is stale (regenerate it with scripts/render-deploy.sh): first difference at \
             line {}:\n--- deploy/scrapepath.yaml\n{}\n+++ rendered\n{}",
            first + 1,
            show(&a),
            show(&b)
        );
    }
    let docs = documents(&stored);
    assert_eq!(docs[0]["kind"], "Namespace");
    for kind in [
        "CustomResourceDefinition",
        "Deployment",
        "ServiceAccount",
        "ClusterRole",
        "Service",
    ] {
        assert_eq!(
            of_kind(&docs, kind).len(),
            1,
            "deploy/scrapepath.yaml holds the {kind}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Against the API server.

/// Records every request of a client, and those the API server refused with 403 Forbidden.
#[derive(Clone, Default)]
struct Requests {
    all: Arc<Mutex<Vec<String>>>,
    forbidden: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicU64>,
}

impl Requests {
    fn forbidden(&self) -> Vec<String> {
        self.forbidden.lock().unwrap().clone()
    }
    fn seen(&self, method: &str, path_part: &str) -> bool {
        self.all
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with(&format!("{method} ")) && r.contains(path_part))
    }
}

impl<S> tower::Layer<S> for Requests {
    type Service = Recording<S>;
    fn layer(&self, inner: S) -> Recording<S> {
        Recording {
            inner,
            log: self.clone(),
        }
    }
}

#[derive(Clone)]
struct Recording<S> {
    inner: S,
    log: Requests,
}

impl<S, B, R> tower::Service<http::Request<B>> for Recording<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let what = format!("{} {}", req.method(), req.uri());
        let log = self.log.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            log.count.fetch_add(1, Ordering::Relaxed);
            if resp.status() == http::StatusCode::FORBIDDEN {
                log.forbidden.lock().unwrap().push(what.clone());
            }
            log.all.lock().unwrap().push(what);
            Ok(resp)
        })
    }
}

/// A client authenticated only by `token`, whose requests `log` records.
async fn recorded_client(env: &TestEnv, token: &str, log: &Requests) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(env.kubeconfig()).unwrap();
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
    config.auth_info = serde_json::from_value(json!({ "token": token })).unwrap();
    kube::client::ClientBuilder::try_from(config)
        .expect("a client builder")
        .with_layer(log)
        .build()
}

fn helm_in(env: &TestEnv, args: &[&str]) -> String {
    let mut c = helm();
    c.arg("--kubeconfig").arg(env.kubeconfig()).args(args);
    ok(c)
}

fn forbidden<T: std::fmt::Debug>(what: &str, r: Result<T, kube::Error>) {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("{what} must be refused with 403 Forbidden, got {other:?}"),
    }
}

async fn dyn_api(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: &str,
) -> Api<DynamicObject> {
    api_for(client, &json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": ns, "name": "x"}})).await
}

const ENFORCE_INTENT: &str = r#"
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: was-metrics, namespace: blog-system}
spec:
  selector: {matchLabels: {app: was}}
  endpoints:
  - {port: http-envoy-prom, path: /stats/prometheus, interval: 15s}
  scraper: {kind: Prometheus, namespace: monitoring, name: kube-prometheus-stack-prometheus}
  mode: Enforce
"#;

/// The team's own PodMonitor without the label the scraper selects by, and an Enforce intent that uses
/// it: Enforce adds the missing label (a merge patch on the user's monitor).
const OWN_MONITOR: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: web-envoy, namespace: blog-system}
spec:
  selector: {matchLabels: {app: web}}
  podMetricsEndpoints: [{port: http-envoy-prom, path: /stats/prometheus}]
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: web-labels, namespace: blog-system}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http-envoy-prom, path: /stats/prometheus}]
  scraper: {kind: Prometheus, namespace: monitoring, name: kube-prometheus-stack-prometheus}
  monitor: {kind: PodMonitor, ref: {name: web-envoy}}
  mode: Enforce
"#;

/// A monitor no intent covers, which its Prometheus does not select: the operator audits it (an Event on
/// it, with its uid read by name).
/// kube-prometheus-stack's RBAC for its Prometheus (templates/prometheus/clusterrole.yaml and
/// clusterrolebinding.yaml): discovery everywhere, through a ClusterRoleBinding.
const KPS_PROMETHEUS_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kube-prometheus-stack-prometheus}
rules:
- apiGroups: [""]
  resources: [nodes, nodes/metrics, services, endpoints, pods]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch]
- nonResourceURLs: [/metrics, /metrics/cadvisor]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kube-prometheus-stack-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kube-prometheus-stack-prometheus}
subjects: [{kind: ServiceAccount, name: kube-prometheus-stack-prometheus, namespace: monitoring}]
"#;

const AUDITED_MONITOR: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: was-orphan, namespace: blog-system}
spec:
  selector: {matchLabels: {app: was}}
  podMetricsEndpoints: [{port: http-envoy-prom, path: /stats/prometheus}]
"#;

const SEED_001: &str = "deploy/examples/seed-001-cilium-monitoring";

/// Seed 001's plain Prometheus (its ConfigMap and pod, not the Service with its fixed nodePort) moved
/// to namespace `ns`, and an intent in `default` that asks it to scrape the seed's webpod.
fn seed_001_scraper_in(ns: &str) -> String {
    let text = std::fs::read_to_string(Path::new(SEED_001).join("prometheus.yaml")).unwrap();
    let mut out = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n");
    for doc in documents(&text) {
        if doc["kind"] != "ConfigMap" && doc["kind"] != "Pod" {
            continue;
        }
        let moved = serde_json::to_string(&doc)
            .unwrap()
            .replace("\"cilium-monitoring\"", &format!("\"{ns}\""))
            .replace("172.20.1.47", "172.20.1.48");
        out.push_str(&format!("---\n{moved}\n"));
    }
    out.push_str(&format!(
        r#"---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: webpod-{ns}, namespace: default}}
spec:
  selector: {{matchLabels: {{app: webpod}}}}
  endpoints: [{{port: 80, path: /metrics}}]
  scraper: {{kind: Pods, namespace: {ns}, podSelector: {{matchLabels: {{app: prometheus}}}}}}
  monitor: {{kind: Annotations}}
  mode: Report
---
apiVersion: v1
kind: Secret
metadata: {{name: scrape-configs, namespace: {ns}}}
stringData: {{prometheus.yml: "scrape_configs: []"}}
"#
    ));
    out
}

/// The scrape-configuration namespaces of the end-to-end test's release: seed 001's scraper reads its
/// ConfigMap in cilium-monitoring; `team-prom` is left out.
const CONFIG_NAMESPACES: &str = "scrapeConfigs.namespaces={monitoring,cilium-monitoring}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_chart_runs_the_seed_as_its_service_account_without_one_forbidden_request() {
    // Every upstream CRD, but not scrapepath's: the chart installs it.
    let env = TestEnv::start_new(CrdSet {
        scrapepath: false,
        ..CrdSet::ALL
    });
    let admin = env.client().await;
    let values = chart().join("ci/monitoring-values.yaml");
    let chart_dir = chart();
    let install = [
        "install",
        RELEASE,
        chart_dir.to_str().unwrap(),
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "-f",
        values.to_str().unwrap(),
        "--set",
        CONFIG_NAMESPACES,
        "--set",
        "rbacDiscovery.enabled=true",
    ];
    // Each namespace of scrapeConfigs.namespaces gets a Role: before they exist, the install says which
    // value names a missing one (and creates nothing).
    let mut c = helm();
    c.arg("--kubeconfig").arg(env.kubeconfig()).args(install);
    let err = fails(c);
    assert!(
        err.contains("scrapeConfigs.namespaces names namespace monitoring, which does not exist"),
        "{err}"
    );
    assert!(get(&admin, "apps/v1", "Deployment", RELEASE_NS, RELEASE)
        .await
        .is_none());
    for f in [
        "deploy/examples/blog-system/intent/namespaces.yaml",
        "deploy/examples/seed-001-cilium-monitoring/namespaces.yaml",
    ] {
        apply_yaml(&admin, &std::fs::read_to_string(f).unwrap()).await;
    }
    helm_in(&env, &install);
    // The first install brings the CRD: the release's own ScrapeIntent waits for one upgrade.
    let status = helm_in(&env, &["status", RELEASE, "--namespace", RELEASE_NS]);
    assert!(status.contains("STATUS: deployed"), "{status}");
    assert!(
        status.contains("kubectl auth can-i"),
        "NOTES.txt says how to check it: {status}"
    );
    assert!(status.contains("NOT YET CREATED"), "{status}");
    assert!(intent(&admin, RELEASE_NS, RELEASE).await.is_none());
    helm_in(
        &env,
        &[
            "upgrade",
            RELEASE,
            chart().to_str().unwrap(),
            "--namespace",
            RELEASE_NS,
            "--reuse-values",
        ],
    );
    let status = helm_in(&env, &["status", RELEASE, "--namespace", RELEASE_NS]);
    assert!(!status.contains("NOT YET CREATED"), "{status}");
    // What the release created (no kubelet here: the Deployment never gets pods, which is fine).
    for (api_version, kind, ns, name) in [
        ("apps/v1", "Deployment", RELEASE_NS, RELEASE),
        ("v1", "ServiceAccount", RELEASE_NS, RELEASE),
        ("v1", "Service", RELEASE_NS, RELEASE),
        (MON, "ServiceMonitor", RELEASE_NS, RELEASE),
        (
            "scrapepath.io/v1alpha1",
            "ScrapeIntent",
            RELEASE_NS,
            RELEASE,
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "Role",
            "kube-system",
            "scrapepath-read",
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "Role",
            "monitoring",
            "scrapepath-configs",
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "Role",
            "cilium-monitoring",
            "scrapepath-configs",
        ),
    ] {
        assert!(
            get(&admin, api_version, kind, ns, name).await.is_some(),
            "helm install created {kind} {ns}/{name}"
        );
    }

    // The seed, applied by the admin as the cluster would have it; and seed 001's plain Prometheus,
    // whose configuration is a ConfigMap in cilium-monitoring (not its Cilium objects: the blog-system
    // seed has its own), and a copy of it in team-prom, outside scrapeConfigs.namespaces.
    apply_dir(&admin, Path::new("deploy/examples/blog-system/intent")).await;
    apply_yaml(&admin, AUDITED_MONITOR).await;
    for f in ["prometheus.yaml", "workloads.yaml", "intents.yaml"] {
        apply_yaml(
            &admin,
            &std::fs::read_to_string(Path::new(SEED_001).join(f)).unwrap(),
        )
        .await;
    }
    apply_yaml(&admin, &seed_001_scraper_in("team-prom")).await;
    apply_yaml(&admin, KPS_PROMETHEUS_RBAC).await;

    // The operator, as the chart's ServiceAccount, with the release's scrape-configuration setting.
    let configs = ConfigAccess {
        namespaces: ConfigNamespaces::from_list(&["monitoring", "cilium-monitoring"]).unwrap(),
        secrets: true,
    };
    let token = env.service_account_token(RELEASE_NS, RELEASE).await;
    let log = Requests::default();
    let sa = recorded_client(&env, &token, &log).await;
    let ctl = start_controller_with(
        &sa,
        Settings {
            instance: "chart-test".into(),
            configs: configs.clone(),
            read_rbac: true,
            ..Settings::default()
        },
    )
    .await;

    // Seed 001: the ConfigMap in cilium-monitoring is read (its job names the missing annotation).
    let (_, reason, message) =
        wait_condition(&admin, "default", "webpod", "MonitorSelected", "False").await;
    assert_eq!(reason, "AnnotationMissing", "{message}");
    assert!(message.contains("job kubernetes-pods"), "{message}");
    // The same scraper in team-prom: not read, and the intent says where the setting is.
    let (_, reason, message) = wait_condition(
        &admin,
        "default",
        "webpod-team-prom",
        "MonitorSelected",
        "False",
    )
    .await;
    assert_eq!(reason, "ConfigUnreadable", "{message}");
    for part in [
        "ConfigMap team-prom/prometheus is not read: scrapepath reads scrape configurations only in namespaces cilium-monitoring, monitoring",
        "SCRAPEPATH_CONFIG_NAMESPACES, Helm value scrapeConfigs.namespaces",
        "add team-prom to it",
    ] {
        assert!(message.contains(part), "{part:?} in: {message}");
    }

    // Report: the diagnosis.
    let (_, reason, _) = wait_condition(
        &admin,
        "blog-system",
        "was-envoy",
        "NetworkReachable",
        "False",
    )
    .await;
    assert_eq!(reason, "BlockedByPolicy");
    wait_condition(
        &admin,
        "blog-system",
        "was-envoy",
        "MonitorSelected",
        "False",
    )
    .await;
    // The release's own intent is reconciled too (its pods do not exist here).
    wait_condition(&admin, RELEASE_NS, RELEASE, "Ready", "False").await;

    // Enforce: a CNP and a PodMonitor created; the intent turns Ready.
    apply_yaml(&admin, ENFORCE_INTENT).await;
    wait_condition(&admin, "blog-system", "was-metrics", "Ready", "True").await;
    // The operator read the RBAC the chart lets it read: the scraper's ClusterRoleBinding grants discovery.
    let (_, reason, message) = wait_condition(
        &admin,
        "blog-system",
        "was-metrics",
        "DiscoveryPermitted",
        "True",
    )
    .await;
    assert_eq!(reason, "Permitted");
    assert!(
        message.contains("ClusterRoleBinding kube-prometheus-stack-prometheus"),
        "{message}"
    );
    let cnps = dyn_api(&admin, CNP, "CiliumNetworkPolicy", "blog-system").await;
    let cnp = cnps
        .get("scrapepath-was-metrics")
        .await
        .expect("Enforce created the CNP");
    assert!(get(
        &admin,
        MON,
        "PodMonitor",
        "blog-system",
        "scrapepath-was-metrics"
    )
    .await
    .is_some());

    // The label-add on a team's own monitor.
    apply_yaml(&admin, OWN_MONITOR).await;
    eventually(
        "the team's PodMonitor gets the scraper's label",
        Duration::from_secs(30),
        || async {
            let pm = get(&admin, MON, "PodMonitor", "blog-system", "web-envoy")
                .await
                .unwrap();
            let labels = pm.metadata.labels.unwrap_or_default();
            (labels.get("release").map(String::as_str) == Some("kube-prometheus-stack"))
                .then_some(())
                .ok_or(format!("{labels:?}"))
        },
    )
    .await;

    // Drift: a deleted managed CNP is re-created.
    cnps.delete("scrapepath-was-metrics", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the deleted CNP is re-created",
        Duration::from_secs(30),
        || async {
            match cnps.get_opt("scrapepath-was-metrics").await.unwrap() {
                Some(o) if o.metadata.uid != cnp.metadata.uid => Ok(()),
                other => Err(format!("{:?}", other.map(|o| o.metadata.uid))),
            }
        },
    )
    .await;

    // The app port: an Istio ALLOW.
    Api::<ScrapeIntent>::namespaced(admin.clone(), "blog-system")
        .patch(
            "was-app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "Enforce"}})),
        )
        .await
        .unwrap();
    wait_condition(&admin, "blog-system", "was-app", "Ready", "True").await;
    assert!(get(
        &admin,
        "security.istio.io/v1",
        "AuthorizationPolicy",
        "blog-system",
        "scrapepath-was-app"
    )
    .await
    .is_some());

    // The user's own fix: the managed CNP is no longer needed and is deleted.
    let fixed = std::fs::read_to_string("deploy/examples/blog-system/fixed/policies.yaml").unwrap();
    apply_yaml(&admin, &fixed).await;
    eventually(
        "the managed CNP is removed",
        Duration::from_secs(30),
        || async {
            match cnps.get_opt("scrapepath-was-metrics").await.unwrap() {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        },
    )
    .await;
    wait_condition(&admin, "blog-system", "was-metrics", "Ready", "True").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ctl.stop().await;

    // The operator used its permissions — lists, watches, status, Events, applies, merge patch, delete —
    // and the API server refused none of its requests.
    for (method, part) in [
        ("GET", "/api/v1/pods?"),
        ("GET", "watch=true"),
        ("GET", "/api/v1/namespaces/kube-system/configmaps?"),
        ("GET", "/api/v1/namespaces/cilium-monitoring/configmaps?"),
        ("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets?"),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?",
        ),
        ("GET", "/apis/rbac.authorization.k8s.io/v1/roles?"),
        ("PATCH", "/scrapeintents/was-metrics/status"),
        (
            "POST",
            "/apis/events.k8s.io/v1/namespaces/blog-system/events",
        ),
        ("PATCH", "/ciliumnetworkpolicies/scrapepath-was-metrics"),
        ("PATCH", "/podmonitors/web-envoy"),
        ("GET", "/podmonitors/was-orphan"),
        ("PATCH", "/authorizationpolicies/scrapepath-was-app"),
        ("DELETE", "/ciliumnetworkpolicies/scrapepath-was-metrics"),
    ] {
        assert!(
            log.seen(method, part),
            "the operator made no {method} …{part}… request"
        );
    }
    assert!(
        log.all
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.contains("/configmaps?") && !r.contains("/namespaces/kube-system/"))
            .all(|r| r.contains("fieldSelector=metadata.name%3D")),
        "every ConfigMap read names its object"
    );
    assert!(
        !log.seen("GET", "/namespaces/team-prom/"),
        "the operator asked for an object in team-prom, outside scrapeConfigs.namespaces"
    );
    let refused = log.forbidden();
    assert!(
        refused.is_empty(),
        "the API server refused {} of the operator's {} requests as the chart's ServiceAccount:\n{}",
        refused.len(),
        log.count.load(Ordering::Relaxed),
        refused.join("\n")
    );
    println!(
        "operator as {RELEASE_NS}/{RELEASE}: {} requests, 0 forbidden",
        log.count.load(Ordering::Relaxed)
    );

    // The RBAC is what it claims: what the operator never does is refused to its identity.
    let pods: Api<DynamicObject> = dyn_api(&sa, "v1", "Pod", "blog-system").await;
    let some_pod = names(&admin, "v1", "Pod", "blog-system").await.remove(0);
    forbidden(
        "deleting a Pod",
        pods.delete(&some_pod, &DeleteParams::default()).await,
    );
    forbidden("reading a Pod by name", pods.get(&some_pod).await);
    let intents: Api<ScrapeIntent> = Api::namespaced(sa.clone(), "blog-system");
    forbidden(
        "patching an intent's spec",
        intents
            .patch(
                "was-app",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"mode": "Report"}})),
            )
            .await,
    );
    forbidden(
        "deleting an intent",
        intents.delete("was-app", &DeleteParams::default()).await,
    );
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(sa.clone(), RELEASE_NS);
    forbidden(
        "listing Secrets",
        secrets.list(&ListParams::default()).await,
    );
    forbidden(
        "creating a Secret",
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
            )
            .await,
    );
    // Scrape configurations: readable (by list and watch) only in scrapeConfigs.namespaces.
    let by_name = |n: &str| ListParams::default().fields(&format!("metadata.name={n}"));
    for ns in ["team-prom", "default", "blog-system"] {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(sa.clone(), ns);
        forbidden(
            &format!("listing a Secret by name in {ns}"),
            secrets.list(&by_name("scrape-configs")).await,
        );
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(sa.clone(), ns);
        forbidden(
            &format!("listing ConfigMaps in {ns}"),
            cms.list(&by_name("prometheus")).await,
        );
    }
    forbidden(
        "listing every Secret of the cluster",
        Api::<k8s_openapi::api::core::v1::Secret>::all(sa.clone())
            .list(&ListParams::default())
            .await,
    );
    for ns in ["cilium-monitoring", "monitoring"] {
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(sa.clone(), ns)
            .list(&by_name("prometheus"))
            .await
            .unwrap_or_else(|e| panic!("listing a ConfigMap by name in {ns}: {e}"));
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(sa.clone(), ns)
            .list(&by_name("additional-scrape-configs"))
            .await
            .unwrap_or_else(|e| panic!("listing a Secret by name in {ns}: {e}"));
    }

    // An operator set to read more than the chart grants (here: everywhere): the API server refuses the
    // team-prom ConfigMap; the intent says so with the grant it needs, and the read is not retried in a
    // loop (once, then again after a minute).
    let log3 = Requests::default();
    let sa3 = recorded_client(&env, &token, &log3).await;
    let ctl = start_controller_with(
        &sa3,
        Settings {
            instance: "chart-test-wider".into(),
            configs: ConfigAccess::everything(),
            ..Settings::default()
        },
    )
    .await;
    let message = eventually(
        "the refused read in the intent's status",
        Duration::from_secs(30),
        || async {
            let si = intent(&admin, "default", "webpod-team-prom").await.unwrap();
            match condition(&si, "MonitorSelected") {
                Some((s, r, m)) if s == "False" && r == "ConfigUnreadable" && m.contains("403") => {
                    Ok(m)
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    for part in [
        "ConfigMap team-prom/prometheus cannot be read: the API server refused it (403 Forbidden: configmaps \"prometheus\" is forbidden",
        "needs list and watch on configmaps in namespace team-prom",
        "scrapeConfigs.namespaces must hold team-prom",
    ] {
        assert!(message.contains(part), "{part:?} in: {message}");
    }
    let refused_reads = || {
        log3.forbidden()
            .iter()
            .filter(|r| r.contains("/namespaces/team-prom/configmaps"))
            .count()
    };
    let first = refused_reads();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let later = refused_reads();
    ctl.stop().await;
    assert!(
        (1..=2).contains(&first) && later == first,
        "the refused read was tried {first} times, then {later} times 10 s later: it must wait, not spin"
    );
    println!("a refused scrape-configuration read: {later} request(s) in the first 10+ s");
    let others: Vec<String> = log3
        .forbidden()
        .into_iter()
        .filter(|r| !r.contains("/namespaces/team-prom/configmaps"))
        .collect();
    assert!(others.is_empty(), "{others:?}");

    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(sa.clone(), "kube-system");
    forbidden(
        "listing every ConfigMap of kube-system",
        cms.list(&ListParams::default()).await,
    );
    forbidden(
        "reading cilium-config by name (only list/watch by name)",
        cms.get("cilium-config").await,
    );
    cms.list(&ListParams::default().fields("metadata.name=cilium-config"))
        .await
        .expect("listing cilium-config by name is what the operator does");
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(sa.clone(), RELEASE_NS);
    forbidden(
        "scaling its own Deployment",
        deployments
            .patch(
                RELEASE,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 3}})),
            )
            .await,
    );
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(sa.clone(), RELEASE_NS);
    forbidden(
        "taking a Lease without leader election",
        leases
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": RELEASE}})).unwrap(),
            )
            .await,
    );

    // helm upgrade: two watched namespaces, leader election. The writes move into Roles there.
    helm_in(
        &env,
        &[
            "upgrade",
            RELEASE,
            chart().to_str().unwrap(),
            "--namespace",
            RELEASE_NS,
            "-f",
            values.to_str().unwrap(),
            "--set",
            "settings.watchedNamespaces={blog-system,monitoring}",
            "--set",
            "leaderElection.enabled=true",
        ],
    );
    let log2 = Requests::default();
    let sa = recorded_client(&env, &token, &log2).await;
    let ctl = start_controller_with(
        &sa,
        Settings {
            namespaces: ["blog-system".to_string(), "monitoring".to_string()].into(),
            instance: "chart-test-watched".into(),
            ..Settings::default()
        },
    )
    .await;
    let pms = dyn_api(&admin, MON, "PodMonitor", "blog-system").await;
    let pm = pms.get("scrapepath-was-metrics").await.unwrap();
    pms.delete("scrapepath-was-metrics", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the deleted PodMonitor is re-created",
        Duration::from_secs(30),
        || async {
            match pms.get_opt("scrapepath-was-metrics").await.unwrap() {
                Some(o) if o.metadata.uid != pm.metadata.uid => Ok(()),
                other => Err(format!("{:?}", other.map(|o| o.metadata.uid))),
            }
        },
    )
    .await;
    wait_condition(&admin, "blog-system", "was-metrics", "Ready", "True").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ctl.stop().await;
    assert!(log2.seen("PATCH", "/podmonitors/scrapepath-was-metrics"));
    let refused = log2.forbidden();
    assert!(
        refused.is_empty(),
        "with watched namespaces, the API server refused {} of the operator's {} requests:\n{}",
        refused.len(),
        log2.count.load(Ordering::Relaxed),
        refused.join("\n")
    );
    // Outside the watched namespaces, no write is allowed any more.
    let own: Api<ScrapeIntent> = Api::namespaced(sa.clone(), RELEASE_NS);
    let status = json!({"apiVersion": "scrapepath.io/v1alpha1", "kind": "ScrapeIntent", "status": {"mode": "Report"}});
    forbidden(
        "writing the status of an intent outside the watched namespaces",
        own.patch_status(
            RELEASE,
            &PatchParams::apply("scrapepath").force(),
            &Patch::Apply(&status),
        )
        .await,
    );
    let cnps_elsewhere = dyn_api(&sa, CNP, "CiliumNetworkPolicy", RELEASE_NS).await;
    forbidden(
        "applying a CNP outside the watched namespaces",
        cnps_elsewhere
            .patch(
                "scrapepath-x",
                &PatchParams::apply("scrapepath").force(),
                &Patch::Apply(json!({"apiVersion": CNP, "kind": "CiliumNetworkPolicy", "metadata": {"name": "scrapepath-x"}, "spec": {"endpointSelector": {}}})),
            )
            .await,
    );
    // Leader election: the operator's own election code, as this identity, takes and renews its Lease,
    // then releases it; no other Lease is reachable.
    let mut election =
        scrapepath::controller::leader::LeaderElection::new(RELEASE_NS, RELEASE, "chart-test");
    election.duration = Duration::from_secs(3);
    election.grace = Duration::from_secs(1);
    let (mut leadership, lease_task) = scrapepath::controller::leader::spawn(sa.clone(), election);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !leadership.is_leader() {
            assert!(leadership.changed().await, "leader election stopped");
        }
    })
    .await
    .expect("the chart's identity acquires its Lease");
    // Held across renewals (duration 3 s, renewed 1 s before expiry).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(leadership.is_leader(), "the Lease is renewed");
    let held = leases
        .get(RELEASE)
        .await
        .expect("the operator may read its Lease");
    assert_eq!(
        held.spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        Some("chart-test")
    );
    drop(leadership);
    tokio::time::timeout(Duration::from_secs(10), lease_task)
        .await
        .expect("the Lease is released on shutdown")
        .unwrap();
    let released = leases.get(RELEASE).await.unwrap();
    assert_eq!(
        released
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        None,
        "released: no holder"
    );
    forbidden("reading another Lease", leases.get("kube-scheduler").await);
    forbidden(
        "deleting its Lease",
        leases.delete(RELEASE, &DeleteParams::default()).await,
    );
    let elsewhere: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(sa.clone(), "blog-system");
    forbidden(
        "creating a Lease in another namespace",
        elsewhere
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": RELEASE}})).unwrap(),
            )
            .await,
    );
}

/// The live CRD's spec holds everything the chart's says (the API server adds defaults).
async fn live_crd_holds(client: &kube::Client, expected: &Value) -> Result<(), String> {
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    let live = crds
        .get_opt("scrapeintents.scrapepath.io")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the CRD is absent")?;
    let live = serde_json::to_value(live).unwrap();
    if holds(&live["spec"], &expected["spec"]) {
        Ok(())
    } else {
        Err("the live CRD's spec differs from the chart's".into())
    }
}

/// A copy of the chart as an older release would have shipped it: version 0.0.1, its CRD without the
/// Targets printer column and without status.targets.
fn older_chart(dir: &Path) -> PathBuf {
    let old = dir.join("scrapepath-old");
    let _ = std::fs::remove_dir_all(&old);
    ok({
        let mut c = Command::new("cp");
        c.arg("-r").arg(chart()).arg(&old);
        c
    });
    let chart_yaml = old.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml)
        .unwrap()
        .replace("version: 0.1.0", "version: 0.0.1");
    std::fs::write(&chart_yaml, text).unwrap();
    let crd_path = old.join("files/crds").join(CRD_FILE);
    let mut crd: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&crd_path).unwrap()).unwrap();
    let version = &mut crd["spec"]["versions"][0];
    version["additionalPrinterColumns"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["name"] != "Targets");
    let removed = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("targets");
    assert!(removed.is_some(), "the generated CRD has status.targets");
    std::fs::write(&crd_path, serde_yaml_ng::to_string(&crd).unwrap()).unwrap();
    old
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_upgrade_updates_the_crd_and_uninstall_keeps_it_with_the_intents() {
    let env = TestEnv::start_new(CrdSet::NONE);
    let admin = env.client().await;
    // The default scrapeConfigs.namespaces: the namespace must exist for its Role.
    apply_yaml(
        &admin,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n",
    )
    .await;
    let expected: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo().join("crds").join(CRD_FILE)).unwrap(),
    )
    .unwrap();
    let old = older_chart(env.data_dir());

    // An older release: its CRD lacks what the current one has.
    helm_in(
        &env,
        &[
            "install",
            RELEASE,
            old.to_str().unwrap(),
            "--namespace",
            RELEASE_NS,
            "--create-namespace",
        ],
    );
    let err = live_crd_holds(&admin, &expected).await.unwrap_err();
    assert!(err.contains("differs"), "{err}");
    let ns = env.namespace("team").await;
    apply_yaml(
        &admin,
        &format!(
            "apiVersion: scrapepath.io/v1alpha1\nkind: ScrapeIntent\nmetadata: {{name: keep-me, namespace: {ns}}}\n\
             spec: {{selector: {{matchLabels: {{app: a}}}}, endpoints: [{{port: metrics}}]}}\n"
        ),
    )
    .await;

    // helm upgrade to the current chart brings the CRD up to date.
    helm_in(
        &env,
        &[
            "upgrade",
            RELEASE,
            chart().to_str().unwrap(),
            "--namespace",
            RELEASE_NS,
        ],
    );
    eventually("the upgraded CRD", Duration::from_secs(30), || {
        live_crd_holds(&admin, &expected)
    })
    .await;

    // A hand edit of the live CRD (a printer column dropped) is undone by the next upgrade.
    let out = env
        .kubectl()
        .args([
            "patch",
            "crd",
            "scrapeintents.scrapepath.io",
            "--type=json",
            "-p",
            r#"[{"op": "remove", "path": "/spec/versions/0/additionalPrinterColumns/2"}]"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(live_crd_holds(&admin, &expected).await.is_err());
    helm_in(
        &env,
        &[
            "upgrade",
            RELEASE,
            chart().to_str().unwrap(),
            "--namespace",
            RELEASE_NS,
        ],
    );
    eventually("the repaired CRD", Duration::from_secs(30), || {
        live_crd_holds(&admin, &expected)
    })
    .await;

    // Uninstall keeps the CRD, and so every intent.
    let out = helm_in(&env, &["uninstall", RELEASE, "--namespace", RELEASE_NS]);
    assert!(out.contains("kept due to the resource policy"), "{out}");
    assert!(get(&admin, "apps/v1", "Deployment", RELEASE_NS, RELEASE)
        .await
        .is_none());
    live_crd_holds(&admin, &expected)
        .await
        .expect("the CRD survives uninstall");
    assert!(
        intent(&admin, &ns, "keep-me").await.is_some(),
        "the intents survive uninstall"
    );

    // Installing again adopts the kept CRD.
    helm_in(
        &env,
        &[
            "install",
            RELEASE,
            chart().to_str().unwrap(),
            "--namespace",
            RELEASE_NS,
        ],
    );
    live_crd_holds(&admin, &expected).await.unwrap();

    // A platform that manages the CRD itself: crds.install=false leaves it alone.
    helm_in(&env, &["uninstall", RELEASE, "--namespace", RELEASE_NS]);
    helm_in(
        &env,
        &[
            "install",
            "other",
            chart().to_str().unwrap(),
            "--namespace",
            "other-ns",
            "--create-namespace",
            "--set",
            "crds.install=false",
        ],
    );
    let manifest = helm_in(
        &env,
        &["get", "manifest", "other", "--namespace", "other-ns"],
    );
    assert!(!manifest.contains("kind: CustomResourceDefinition"));
}
