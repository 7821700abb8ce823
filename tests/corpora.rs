//! Real upstream repositories, not written by us, checked as GitOps input (issue 12, item 6).
//!
//! The manifests come, at test time, from the Go modules that `tests/harness/ensure.sh` already takes
//! the CRDs from (`tests/corpora/fetch.sh`: `go mod download`, read in the module cache, never copied
//! into this repository):
//!
//! - github.com/prometheus-operator/prometheus-operator v0.91.0, `example/`;
//! - github.com/cilium/cilium v1.19.3, `examples/`;
//! - istio.io/istio v0.0.0-20260827124520-eed52ebb66ad (a snapshot of Istio's master branch: Istio tags
//!   releases without a "v", so the proxy serves no release of it), `samples/`.
//!
//! Each corpus is the built binary run as a platform engineer would run it on such a repository
//! (`scrapepath check -f FILES... -R -o json`), with no hand-written Pod: the pods are those
//! `check` models from the workloads. Each test pins the verdicts that engineer would expect per
//! subject: ready or not, the failing condition's type and reason, target counts, and for blocked
//! targets the policy named. Which files each corpus takes and why, and every verdict that surprised
//! us, is in `tests/corpora/README.md`.
//!
//! Wall time and peak RSS of every `check` run are printed (`cargo test --test corpora -- --nocapture`),
//! measured with `/usr/bin/time` when it is installed; they are not asserted.
//!
//! Needs Go and the Go module proxy (or a warm module cache): without them the tests fail with a
//! message that says what is missing; they are never skipped silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------------
// The upstream modules.

struct Upstream {
    promop: PathBuf,
    cilium: PathBuf,
    /// The Istio module, or why it could not be fetched.
    istio: Result<PathBuf, String>,
}

fn upstream() -> &'static Upstream {
    static UPSTREAM: OnceLock<Upstream> = OnceLock::new();
    UPSTREAM.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora/fetch.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{} failed ({}): {stderr}",
            script.display(),
            out.status
        );
        let vars: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = |k: &str| {
            PathBuf::from(
                vars.get(k)
                    .unwrap_or_else(|| panic!("fetch.sh printed no {k}: {stderr}")),
            )
        };
        Upstream {
            promop: dir("PROMOP_DIR"),
            cilium: dir("CILIUM_DIR"),
            istio: match vars.get("ISTIO_DIR") {
                Some(d) => Ok(PathBuf::from(d)),
                None => Err(vars.get("ISTIO_ERROR").cloned().unwrap_or_else(|| {
                    format!("fetch.sh printed neither ISTIO_DIR nor ISTIO_ERROR: {stderr}")
                })),
            },
        }
    })
}

fn promop(rel: &str) -> PathBuf {
    upstream().promop.join("example").join(rel)
}

fn cilium(rel: &str) -> PathBuf {
    upstream().cilium.join("examples").join(rel)
}

fn istio(rel: &str) -> PathBuf {
    match &upstream().istio {
        Ok(d) => d.join("samples").join(rel),
        Err(e) => panic!("the Istio corpus is unavailable: {e}"),
    }
}

/// The one object a corpus's guide creates by a command rather than a manifest: `kubectl label
/// namespace NS istio-injection=enabled` (Istio's bookinfo guide, Cilium's Istio guide), as a file.
fn injected_namespace(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("corpora");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("namespace-{name}-istio-injection.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n    istio-injection: enabled\n"
        ),
    )
    .unwrap();
    path
}

// ---------------------------------------------------------------------------------------------------
// Running `check`.

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

/// `scrapepath check -f PATH... -R -o json EXTRA...`, timed (and its peak RSS measured by
/// `/usr/bin/time` when installed); the numbers go to stderr.
fn check(corpus: &str, paths: &[PathBuf], extra: &[&str]) -> Run {
    let bin = env!("CARGO_BIN_EXE_scrapepath");
    let mut args: Vec<std::ffi::OsString> = vec!["check".into()];
    for p in paths {
        assert!(p.exists(), "{}: not in the module", p.display());
        args.push("-f".into());
        args.push(p.into());
    }
    args.extend(["-R", "-o", "json"].map(Into::into));
    args.extend(extra.iter().map(Into::into));
    let time = Path::new("/usr/bin/time");
    let rss_file = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("corpora")
        .join(format!("{corpus}.time"));
    std::fs::create_dir_all(rss_file.parent().unwrap()).unwrap();
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let start = Instant::now();
    let out = cmd.args(&args).output().expect("run scrapepath check");
    let wall = start.elapsed();
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last()?.trim().parse::<u64>().ok())
        .map(|kb| format!("{:.1} MB", kb as f64 / 1024.0))
        .unwrap_or_else(|| "not measured (no /usr/bin/time)".into());
    let code = out.status.code().unwrap_or(-1);
    eprintln!(
        "corpus {corpus}: exit {code}, wall {:.0} ms, peak RSS {rss}",
        wall.as_secs_f64() * 1000.0
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = if code == 2 {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "corpus {corpus}: exit {code} and stdout is not JSON ({e}); stderr:\n{stderr}\nstdout:\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    Run { code, json, stderr }
}

impl Run {
    fn subjects(&self) -> Vec<String> {
        self.json["subjects"]
            .as_array()
            .expect("subjects")
            .iter()
            .map(|s| {
                format!(
                    "{} {}/{}",
                    str_of(&s["kind"]),
                    str_of(&s["namespace"]),
                    str_of(&s["name"])
                )
            })
            .collect()
    }

    /// The subject `KIND NS/NAME`.
    fn subject(&self, id: &str) -> Subject<'_> {
        let i = self
            .subjects()
            .iter()
            .position(|s| s == id)
            .unwrap_or_else(|| panic!("no subject {id}; subjects: {:?}", self.subjects()));
        Subject(&self.json["subjects"][i])
    }
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

struct Subject<'a>(&'a Value);

/// One target, reduced to what the assertions read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    pod: String,
    port: u64,
    /// `Kind ns/name` of the workload a modelled pod comes from.
    workload: String,
    scraper: String,
    network: String,
    /// `Kind ns/name` of the policies that decided the network verdict.
    decided_by: Vec<String>,
    mesh: String,
    path: String,
}

impl Subject<'_> {
    fn ready(&self) -> bool {
        self.0["ready"].as_bool().expect("ready")
    }

    /// `(status, reason, message)` of a condition.
    fn cond(&self, ty: &str) -> (&str, &str, &str) {
        let c = self.0["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap_or_else(|| panic!("no condition {ty}: {}", self.0));
        (
            str_of(&c["status"]),
            str_of(&c["reason"]),
            str_of(&c["message"]),
        )
    }

    /// `(status, reason)` of a condition.
    fn status(&self, ty: &str) -> (&str, &str) {
        let (s, r, _) = self.cond(ty);
        (s, r)
    }

    fn scrapers(&self) -> Vec<String> {
        self.0["scrapers"]
            .as_array()
            .unwrap()
            .iter()
            .map(refname)
            .collect()
    }

    fn targets(&self) -> Vec<Target> {
        let mut out: Vec<Target> = self.0["targets"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|t| Target {
                pod: str_of(&t["pod"]).to_string(),
                port: t["port"].as_u64().unwrap(),
                workload: if t["workload"].is_null() {
                    String::new()
                } else {
                    refname(&t["workload"])
                },
                scraper: str_of(&t["scraper"]).to_string(),
                network: str_of(&t["network"]["verdict"]).to_string(),
                decided_by: t["network"]["decidedBy"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(refname)
                    .collect(),
                mesh: str_of(&t["mesh"]["verdict"]).to_string(),
                path: str_of(&t["path"]).to_string(),
            })
            .collect();
        out.sort();
        out
    }
}

/// `Kind ns/name` (or `Kind name` without a namespace).
fn refname(r: &Value) -> String {
    match str_of(&r["namespace"]) {
        "" => format!("{} {}", str_of(&r["kind"]), str_of(&r["name"])),
        ns => format!("{} {ns}/{}", str_of(&r["kind"]), str_of(&r["name"])),
    }
}

/// `(workload, port, network verdict)` of each target, counted.
fn tally(targets: &[Target]) -> BTreeMap<(String, u64, String), usize> {
    let mut m = BTreeMap::new();
    for t in targets {
        *m.entry((t.workload.clone(), t.port, t.network.clone()))
            .or_insert(0) += 1;
    }
    m
}

fn key(workload: &str, port: u64, verdict: &str) -> (String, u64, String) {
    (workload.to_string(), port, verdict.to_string())
}

// ---------------------------------------------------------------------------------------------------
// prometheus-operator v0.91.0, example/

/// `example/user-guides/getting-started/`, the ServiceMonitor half of the guide: the example app
/// (Deployment of 3, Service), its ServiceMonitor labelled `team: frontend`, and the guide's Prometheus
/// that selects ServiceMonitors by that label. All of it works: the ServiceMonitor resolves the
/// Service, the Service's selector the 3 modelled pods, on the named port `web`.
#[test]
fn promop_getting_started_service_monitor() {
    let g = |f: &str| promop(&format!("user-guides/getting-started/{f}"));
    let run = check(
        "promop-getting-started-servicemonitor",
        &[
            g("example-app-deployment.yaml"),
            g("example-app-service.yaml"),
            g("example-app-service-monitor.yaml"),
            g("prometheus-service-monitor.yaml"),
            g("prometheus-service.yaml"),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.subjects(), ["ServiceMonitor default/example-app"]);
    let sm = run.subject("ServiceMonitor default/example-app");
    assert!(sm.ready());
    assert_eq!(sm.scrapers(), ["Prometheus default/prometheus"]);
    assert_eq!(sm.status("MonitorSelected").0, "True");
    // A GitOps repository holds no Prometheus pod: readiness is not observed, which does not fail.
    assert_eq!(sm.status("ScraperReady"), ("True", "ReadinessNotObserved"));
    let (_, reason, msg) = sm.cond("TargetsResolved");
    assert_eq!(reason, "Resolved");
    assert!(
        msg.starts_with("3 pods, 3 targets; modelled from Deployment default/example-app (3 pods)"),
        "{msg}"
    );
    let targets = sm.targets();
    assert_eq!(
        tally(&targets),
        BTreeMap::from([(key("Deployment default/example-app", 8080, "Allowed"), 3)])
    );
    assert!(targets
        .iter()
        .all(|t| t.pod.starts_with("default/example-app-")
            && t.path == "/metrics"
            && t.mesh == "NotApplicable"));
}

/// The same guide's PodMonitor half: the PodMonitor selects the app's pods directly (port `web`), and
/// the guide's other Prometheus selects PodMonitors labelled `team: frontend`.
#[test]
fn promop_getting_started_pod_monitor() {
    let g = |f: &str| promop(&format!("user-guides/getting-started/{f}"));
    let run = check(
        "promop-getting-started-podmonitor",
        &[
            g("example-app-deployment.yaml"),
            g("example-app-pod-monitor.yaml"),
            g("prometheus-pod-monitor.yaml"),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.subjects(), ["PodMonitor default/example-app"]);
    let pm = run.subject("PodMonitor default/example-app");
    assert!(pm.ready());
    assert_eq!(pm.scrapers(), ["Prometheus default/prometheus"]);
    assert_eq!(
        tally(&pm.targets()),
        BTreeMap::from([(key("Deployment default/example-app", 8080, "Allowed"), 3)])
    );
}

/// The whole getting-started directory at once, as `kubectl apply -f` would take it: its four
/// `Prometheus default/prometheus` files are the guide's successive steps, so the last one in file
/// order (`prometheus.yaml`, no selector at all) is what stays. prometheus-operator leaves a Prometheus
/// whose every monitor selector is null unmanaged: neither monitor is scraped. Right, and worth knowing
/// before applying the directory wholesale (README: "the directory is a guide, not a desired state").
#[test]
fn promop_getting_started_whole_directory() {
    let run = check(
        "promop-getting-started-dir",
        &[promop("user-guides/getting-started")],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.subjects(),
        [
            "PodMonitor default/example-app",
            "ServiceMonitor default/example-app"
        ]
    );
    for id in run.subjects() {
        let s = run.subject(&id);
        assert!(!s.ready());
        assert_eq!(
            s.status("MonitorSelected"),
            ("False", "ScraperUnmanaged"),
            "{id}"
        );
        assert_eq!(s.status("Ready"), ("False", "ScraperUnmanaged"), "{id}");
        // Everything below selection works: 3 modelled pods, reachable.
        assert_eq!(
            tally(&s.targets()),
            BTreeMap::from([(key("Deployment default/example-app", 8080, "Allowed"), 3)]),
            "{id}"
        );
    }
}

/// `example/rbac/prometheus-operator/` (the operator's Deployment, Service and ServiceMonitor) with
/// `example/rbac/prometheus/` and `example/rbac/prometheus-agent/` (a Prometheus and a PrometheusAgent
/// that select ServiceMonitors labelled `team: frontend`). The operator's own ServiceMonitor lacks that
/// label, so neither scraper selects it: LabelsMismatch naming both, and the fix is the label. The
/// target itself (the operator's pod on port `http`, through the headless Service) resolves.
#[test]
fn promop_rbac_operator_self_monitoring() {
    let run = check(
        "promop-rbac",
        &[
            promop("rbac/prometheus-operator"),
            promop("rbac/prometheus"),
            promop("rbac/prometheus-agent"),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.subjects(),
        ["ServiceMonitor default/prometheus-operator"]
    );
    let sm = run.subject("ServiceMonitor default/prometheus-operator");
    assert!(!sm.ready());
    assert_eq!(
        sm.scrapers(),
        [
            "Prometheus default/prometheus",
            "PrometheusAgent default/prometheus-agent"
        ]
    );
    let (status, reason, msg) = sm.cond("MonitorSelected");
    assert_eq!((status, reason), ("False", "LabelsMismatch"));
    assert!(msg.contains("Prometheus default/prometheus selects ServiceMonitors by spec.serviceMonitorSelector; ServiceMonitor default/prometheus-operator lacks team=frontend"), "{msg}");
    assert!(
        msg.contains("PrometheusAgent default/prometheus-agent"),
        "{msg}"
    );
    assert_eq!(sm.status("Ready"), ("False", "LabelsMismatch"));
    assert_eq!(sm.status("NetworkReachable").0, "True");
    // One operator pod, one target per scraper.
    assert_eq!(
        tally(&sm.targets()),
        BTreeMap::from([(
            key("Deployment default/prometheus-operator", 8080, "Allowed"),
            2
        )])
    );
    // The remedy is the missing label, nothing else.
    let rem = &sm.0["remediation"];
    assert_eq!(rem.as_array().map(Vec::len), Some(1), "{rem}");
    assert_eq!(rem[0]["kind"], "ServiceMonitor");
    assert_eq!(rem[0]["metadata"]["labels"]["team"], "frontend");
}

/// `example/shards/`: the example app and a Prometheus of 2 shards × 2 replicas. The ServiceMonitor is
/// Ready with the app's 3 pods; the 4 Prometheus pods are modelled too (7 pods in all).
#[test]
fn promop_shards() {
    let run = check("promop-shards", &[promop("shards")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("modelled 7 pod(s) of 2 workload(s) that have no Pod object"),
        "{}",
        run.stderr
    );
    assert_eq!(run.subjects(), ["ServiceMonitor default/example-app"]);
    let sm = run.subject("ServiceMonitor default/example-app");
    assert!(sm.ready());
    assert_eq!(
        tally(&sm.targets()),
        BTreeMap::from([(key("Deployment default/example-app", 8080, "Allowed"), 3)])
    );
}

/// `example/thanos/`: a Prometheus `self` of 2 replicas with a Thanos sidecar, and a ServiceMonitor of
/// Prometheus itself through the `prometheus-self` Service. Its targets are the 2 pods prometheus-operator
/// would create (`prometheus-self-0`, `-1`) on port `web` (9090).
#[test]
fn promop_thanos_self_monitoring() {
    let run = check("promop-thanos", &[promop("thanos")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.subjects(), ["ServiceMonitor default/prometheus-self"]);
    let sm = run.subject("ServiceMonitor default/prometheus-self");
    assert!(sm.ready());
    assert_eq!(sm.scrapers(), ["Prometheus default/self"]);
    let targets = sm.targets();
    assert_eq!(
        targets.iter().map(|t| t.pod.as_str()).collect::<Vec<_>>(),
        ["default/prometheus-self-0", "default/prometheus-self-1"]
    );
    assert!(targets.iter().all(|t| t.port == 9090
        && t.workload == "Prometheus default/self"
        && t.network == "Allowed"));
}

/// `example/admission-webhook/`: the webhook's Deployment, Service and ServiceMonitor, and no Prometheus
/// at all. Nothing would scrape it: ScraperNotFound.
#[test]
fn promop_admission_webhook_without_prometheus() {
    let run = check(
        "promop-admission-webhook",
        &[promop("admission-webhook")],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let sm = run.subject("ServiceMonitor default/prometheus-operator-admission-webhook");
    assert!(!sm.ready());
    assert_eq!(sm.status("ScraperReady"), ("False", "ScraperNotFound"));
    assert_eq!(sm.status("MonitorSelected"), ("False", "ScraperNotFound"));
}

/// `example/user-guides/alerting/` without `alertmanager.yaml` (an Alertmanager configuration file, not
/// a Kubernetes object: see `promop_upstream_files_that_are_not_objects`): Alertmanagers, a Prometheus,
/// rules — and no monitor, so no subject. The Alertmanager (3 replicas) and Prometheus (2) pods are
/// modelled.
#[test]
fn promop_alerting_has_no_subject() {
    let dir = promop("user-guides/alerting");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "alertmanager.yaml")
        .collect();
    files.sort();
    let run = check("promop-alerting", &files, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.subjects().is_empty());
    assert!(
        run.stderr
            .contains("modelled 5 pod(s) of 2 workload(s) that have no Pod object"),
        "{}",
        run.stderr
    );
}

/// `example/additional-scrape-configs/` without `prometheus-additional.yaml` (the raw scrape
/// configuration the Secret was made from): the Prometheus's only additional job is `static_configs`
/// (`localhost:9090`), which discovers no pod, so `check` audits nothing: no subject, exit 0.
#[test]
fn promop_additional_scrape_configs_static_job() {
    let d = |f: &str| promop(&format!("additional-scrape-configs/{f}"));
    let run = check(
        "promop-additional-scrape-configs",
        &[d("additional-scrape-configs.yaml"), d("prometheus.yaml")],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.subjects().is_empty());
}

/// Upstream files `check` refuses, exit 2, as `kubectl apply -f` (and the API server) would:
/// - `user-guides/scrapeclass/`: documentation snippets: no `metadata.name` (the API server requires
///   one), no `spec.selector` (required by the PodMonitor and ServiceMonitor CRDs of v0.91.0);
/// - `user-guides/alerting/alertmanager.yaml`, `additional-scrape-configs/prometheus-additional.yaml`:
///   configuration files meant for a Secret, not Kubernetes objects.
#[test]
fn promop_upstream_files_that_are_not_objects() {
    let run = check(
        "promop-scrapeclass",
        &[promop("user-guides/scrapeclass")],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    for line in [
        "scrapeclass-example-definition.yaml: document 1: Prometheus default/<no name>: metadata.name: Required value",
        "scrapeclass-example-podmonitor.yaml: document 1: PodMonitor default/<no name>: metadata.name: Required value",
        "scrapeclass-example-podmonitor.yaml: document 1: PodMonitor default/<no name>: spec.selector: Required value",
        "scrapeclass-example-servicemonitor.yaml: document 1: ServiceMonitor default/servicemonitor-example: spec.selector: Required value",
        "4 problem(s) in the input",
    ] {
        assert!(run.stderr.contains(line), "missing {line:?} in:\n{}", run.stderr);
    }

    let run = check(
        "promop-alertmanager-config-file",
        &[promop("user-guides/alerting/alertmanager.yaml")],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("alertmanager.yaml: document 1: object: apiVersion: Required value"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("alertmanager.yaml: document 1: object: kind: Required value"),
        "{}",
        run.stderr
    );

    let run = check(
        "promop-raw-scrape-config",
        &[promop(
            "additional-scrape-configs/prometheus-additional.yaml",
        )],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("prometheus-additional.yaml: document 1: not a mapping: a Kubernetes object is expected"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------------
// Cilium v1.19.3, examples/

/// Cilium's monitoring add-on (`kubernetes/addons/prometheus/monitoring-example.yaml`: a plain
/// Prometheus Deployment in `cilium-monitoring` whose `prometheus.yml` ConfigMap scrapes pods by
/// `prometheus.io/*` annotations) with Cilium's Istio example (`kubernetes-istio/`: httpbin, netshoot,
/// the CiliumNetworkPolicy `default` and a PeerAuthentication), in a namespace labelled for injection
/// as Cilium's Istio guide does. The injector's metrics merge annotates every injected pod
/// `prometheus.io/port: 15020`, so the Prometheus scrapes both pods on 15020 — and the example's
/// policy, which admits only namespaces red/blue on port 80 to httpbin, default-denies httpbin's
/// 15020: the seed-000 failure, found in upstream manifests. netshoot has no policy: Allowed.
#[test]
fn cilium_monitoring_with_istio_example() {
    let run = check(
        "cilium-monitoring+istio",
        &[
            cilium("kubernetes/addons/prometheus/monitoring-example.yaml"),
            cilium("kubernetes-istio/httpbin.yaml"),
            cilium("kubernetes-istio/netshoot.yaml"),
            cilium("kubernetes-istio/l4-policy.yaml"),
            cilium("kubernetes-istio/authn.yaml"),
            injected_namespace("default"),
        ],
        &["--cilium-version", "1.19", "--istio-version", "1.27"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Only the jobs that discover pods are subjects (kubernetes-services and kubernetes-cadvisor
    // discover services and nodes).
    assert_eq!(
        run.subjects(),
        [
            "ScrapeJob cilium-monitoring/prometheus/kubernetes-endpoints",
            "ScrapeJob cilium-monitoring/prometheus/kubernetes-pods",
        ]
    );

    let pods = run.subject("ScrapeJob cilium-monitoring/prometheus/kubernetes-pods");
    assert!(!pods.ready());
    assert_eq!(pods.scrapers(), ["Deployment cilium-monitoring/prometheus"]);
    // The scraper's pod is modelled from its Deployment: readiness not observed, not "not Ready".
    assert_eq!(
        pods.status("ScraperReady"),
        ("True", "ReadinessNotObserved")
    );
    assert_eq!(
        pods.status("NetworkReachable"),
        ("False", "BlockedByPolicy")
    );
    assert_eq!(pods.status("Ready"), ("False", "BlockedByPolicy"));
    let targets = pods.targets();
    assert_eq!(
        tally(&targets),
        BTreeMap::from([
            (key("Deployment default/httpbin", 15020, "Denied"), 1),
            (key("Deployment default/netshoot", 15020, "Allowed"), 1),
        ])
    );
    let httpbin = targets
        .iter()
        .find(|t| t.port == 15020 && t.workload.ends_with("/httpbin"))
        .unwrap();
    assert_eq!(httpbin.decided_by, ["CiliumNetworkPolicy default/default"]);
    assert_eq!(httpbin.path, "/stats/prometheus");
    // 15020 is istio-agent's status port, outside inbound capture: the mesh has no say.
    assert!(
        targets.iter().all(|t| t.mesh == "NotApplicable"),
        "{targets:?}"
    );
    let (_, _, msg) = pods.cond("NetworkReachable");
    assert!(
        msg.contains("default-deny for ingress because of CiliumNetworkPolicy default/default"),
        "{msg}"
    );

    // The endpoints job keeps only Cilium's own pods (k8s-app=cilium); no Cilium DaemonSet is in the
    // corpus.
    let ep = run.subject("ScrapeJob cilium-monitoring/prometheus/kubernetes-endpoints");
    assert_eq!(ep.status("TargetsResolved"), ("False", "NoTargets"));
    assert!(ep.targets().is_empty());
}

/// Cilium's monitoring add-on with the Star Wars demo (`minikube/http-sw-app.yaml`) and its L3/L4
/// policy: the demo exposes no metrics (no `prometheus.io/scrape`), so both jobs keep no target and
/// say which relabel rule dropped the demo's pods.
#[test]
fn cilium_monitoring_with_star_wars_demo() {
    let run = check(
        "cilium-monitoring+minikube",
        &[
            cilium("kubernetes/addons/prometheus/monitoring-example.yaml"),
            cilium("minikube/http-sw-app.yaml"),
            cilium("minikube/sw_l3_l4_policy.yaml"),
        ],
        &["--cilium-version", "1.19"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let pods = run.subject("ScrapeJob cilium-monitoring/prometheus/kubernetes-pods");
    let (status, reason, msg) = pods.cond("TargetsResolved");
    assert_eq!((status, reason), ("False", "NoTargets"));
    assert!(
        msg.contains("dropped by relabel_configs[0] (keep on __meta_kubernetes_pod_annotation_prometheus_io_scrape regex \"true\")"),
        "{msg}"
    );
    assert_eq!(
        pods.status("ScraperReady"),
        ("True", "ReadinessNotObserved")
    );
    assert_eq!(pods.status("Ready"), ("False", "NoTargets"));
}

/// Cilium's monitoring add-on with NodeLocal DNS (`kubernetes-local-redirect/node-local-dns.yaml`, the
/// DaemonSet only: the directory's `kustomization.yaml` is not an object): its pods carry
/// `prometheus.io/scrape`/`port: 9253`, so the pods job scrapes the DaemonSet's representative pod
/// (no Node in the corpus) on 9253, with no policy in the way.
#[test]
fn cilium_monitoring_with_node_local_dns() {
    let run = check(
        "cilium-monitoring+node-local-dns",
        &[
            cilium("kubernetes/addons/prometheus/monitoring-example.yaml"),
            cilium("kubernetes-local-redirect/node-local-dns.yaml"),
        ],
        &["--cilium-version", "1.19"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr); // the endpoints job has no Cilium pod to keep
    let pods = run.subject("ScrapeJob cilium-monitoring/prometheus/kubernetes-pods");
    assert!(pods.ready(), "{}", pods.0);
    assert_eq!(
        tally(&pods.targets()),
        BTreeMap::from([(
            key("DaemonSet kube-system/node-local-dns", 9253, "Allowed"),
            1
        )])
    );
    let ep = run.subject("ScrapeJob cilium-monitoring/prometheus/kubernetes-endpoints");
    assert_eq!(ep.status("Ready"), ("False", "NoTargets"));
}

/// Cilium policy examples the module's own CRDs refuse, exit 2, as the API server would (checked
/// against `pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnetworkpolicies.yaml` of the same modules):
/// - `policies/l3/requires/requires.yaml`: `fromRequires` is deprecated in 1.19's CRD (`maxItems: 0`, items of
///   type string; 1.15–1.18 accept selectors), and the example gives it a selector;
/// - `policies/auth/auth.yaml`: `auth` is no field (the CRD's is `authentication`): unknown under
///   `kubectl apply`'s strict field validation;
/// - `policies/l7/kafka/kafka.yaml`: Kafka rules are gone from 1.20's CRD (accepted by 1.19's).
#[test]
fn cilium_stale_policy_examples() {
    let files = [
        cilium("policies/l3/requires/requires.yaml"),
        cilium("policies/auth/auth.yaml"),
        cilium("policies/l7/kafka/kafka.yaml"),
    ];
    let run = check(
        "cilium-stale-policies-1.19",
        &files,
        &["--cilium-version", "1.19"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    for line in [
        "requires.yaml: document 1: CiliumNetworkPolicy default/requires-rule: specs[0].ingress[0].fromRequires: Too many: 1: must have at most 0 items",
        "auth.yaml: document 1: CiliumNetworkPolicy default/l3-egress-rule: spec.egress[0].auth: unknown field",
        "4 problem(s) in the input",
    ] {
        assert!(run.stderr.contains(line), "missing {line:?} in:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains("kafka"), "{}", run.stderr);

    let run = check(
        "cilium-stale-policies-1.20",
        &files,
        &["--cilium-version", "1.20"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("kafka.yaml: document 1: CiliumNetworkPolicy default/rule1: spec.ingress[0].toPorts[0].rules.kafka: unknown field"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------------
// Istio master snapshot v0.0.0-20260827124520-eed52ebb66ad, samples/

const BOOKINFO: [&str; 6] = [
    "Deployment default/details-v1",
    "Deployment default/productpage-v1",
    "Deployment default/ratings-v1",
    "Deployment default/reviews-v1",
    "Deployment default/reviews-v2",
    "Deployment default/reviews-v3",
];

fn bookinfo(injected: bool) -> Run {
    let mut files = vec![
        istio("bookinfo/platform/kube/bookinfo.yaml"),
        istio("addons/prometheus.yaml"),
    ];
    if injected {
        files.push(injected_namespace("default"));
    }
    check(
        if injected {
            "istio-bookinfo+addons"
        } else {
            "istio-bookinfo+addons-no-injection"
        },
        &files,
        &["--istio-version", "1.27"],
    )
}

/// Istio's bookinfo (`bookinfo/platform/kube/bookinfo.yaml`) and Istio's Prometheus add-on
/// (`addons/prometheus.yaml`: a plain Prometheus in istio-system, `sidecar.istio.io/inject: "false"`,
/// scraping pods by `prometheus.io/*` annotations), in `default` labelled for injection as the bookinfo
/// guide does. Every bookinfo pod gets a sidecar and the metrics-merge annotations, so the
/// `kubernetes-pods` job scrapes each of the 6 pods; there is no policy, so every target is reachable.
/// The other pod-discovering jobs keep nothing: no pod is `prometheus.io/scrape_slow`, no Service is
/// annotated, and the API server job wants the `kubernetes` Service, not in the corpus.
#[test]
fn istio_bookinfo_with_prometheus_addon() {
    let run = bookinfo(true);
    assert_eq!(run.code, 1, "{}", run.stderr); // the jobs that keep no target are not Ready
    assert_eq!(
        run.subjects(),
        [
            "ScrapeJob istio-system/prometheus/kubernetes-api-servers",
            "ScrapeJob istio-system/prometheus/kubernetes-pods",
            "ScrapeJob istio-system/prometheus/kubernetes-pods-slow",
            "ScrapeJob istio-system/prometheus/kubernetes-service-endpoints",
            "ScrapeJob istio-system/prometheus/kubernetes-service-endpoints-slow",
        ]
    );
    let pods = run.subject("ScrapeJob istio-system/prometheus/kubernetes-pods");
    assert!(pods.ready(), "{}", pods.0);
    assert_eq!(
        pods.status("ScraperReady"),
        ("True", "ReadinessNotObserved")
    );
    let (_, _, msg) = pods.cond("TargetsResolved");
    assert!(msg.starts_with("6 pods, "), "{msg}");
    let targets = pods.targets();
    let mut workloads: Vec<&str> = targets.iter().map(|t| t.workload.as_str()).collect();
    workloads.dedup();
    assert_eq!(workloads, BOOKINFO);
    assert!(
        targets.iter().all(|t| t.network == "Allowed"
            && t.path == "/stats/prometheus"
            && t.scraper == "istio-system/prometheus"),
        "{targets:?}"
    );
    for id in run
        .subjects()
        .iter()
        .filter(|s| !s.ends_with("/kubernetes-pods"))
    {
        assert_eq!(
            run.subject(id).status("TargetsResolved"),
            ("False", "NoTargets"),
            "{id}"
        );
    }
}

/// What a platform engineer expects of the same corpus, and what Prometheus would do: the job
/// rewrites `__address__` to `<pod IP>:<prometheus.io/port>` with a regex that needs an IPv4 (or IPv6)
/// pod IP, and every discovered container port of a pod then collapses into one target, `:15020`
/// (the injector's merged-metrics port) — 6 targets. A modelled pod has no IP; its stand-in address
/// is shaped like one (198.18.0.0/15) so that such rules act on it as on a real pod's (with `<pod-ip>`
/// they did not: 18 targets on the container ports, the bug this test found).
#[test]
fn istio_bookinfo_merged_metrics_on_15020() {
    let run = bookinfo(true);
    let pods = run.subject("ScrapeJob istio-system/prometheus/kubernetes-pods");
    let targets = pods.targets();
    assert_eq!(
        tally(&targets),
        BOOKINFO
            .iter()
            .map(|w| (key(w, 15020, "Allowed"), 1))
            .collect::<BTreeMap<_, _>>()
    );
    assert!(
        targets.iter().all(|t| t.mesh == "NotApplicable"),
        "{targets:?}"
    );
}

/// The same corpus without the injection label: no sidecar, so no metrics-merge annotations. Only
/// productpage carries `prometheus.io/*` annotations of its own (port 9080, `/metrics`): the pods job
/// scrapes it alone, reachable; the 5 other bookinfo pods are dropped by the job's `keep` on
/// `prometheus.io/scrape`. It is the injector that makes the whole of bookinfo scrapeable.
#[test]
fn istio_bookinfo_without_injection() {
    let run = bookinfo(false);
    assert_eq!(run.code, 1, "{}", run.stderr); // the other jobs keep no target
    let pods = run.subject("ScrapeJob istio-system/prometheus/kubernetes-pods");
    assert!(pods.ready(), "{}", pods.0);
    let (_, reason, msg) = pods.cond("TargetsResolved");
    assert_eq!(reason, "Resolved");
    assert!(msg.starts_with("1 pods, 1 targets;"), "{msg}");
    let targets = pods.targets();
    assert_eq!(
        tally(&targets),
        BTreeMap::from([(key("Deployment default/productpage-v1", 9080, "Allowed"), 1)])
    );
    assert_eq!(targets[0].path, "/metrics");
    assert_eq!(targets[0].mesh, "NotApplicable");
}
