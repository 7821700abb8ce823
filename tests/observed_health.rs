//! Observed health for real: a real Prometheus (3.x, built from its Go module) discovers the pods of the
//! test API server with its own Kubernetes service discovery (role pod, a ServiceAccount token, RBAC) and
//! scrapes them at their pod IPs — loopback addresses of their own, with real listeners behind them: one
//! answers `/metrics`, the other accepts connections and never answers. The operator reads Prometheus's
//! `/api/v1/targets` and sets `Scraped`: `Up` for one, `Down` with the error Prometheus itself reports
//! for the other, `NotDiscovered` for the pod its relabeling drops. `scrapepath audit` reads the same
//! Prometheus both by URL and through the API server's service proxy. And an API that cannot be read
//! leaves `Scraped` Unknown without holding back the other conditions.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::cluster::*;
use common::fixtures::*;
use common::prometheus::{
    loopback_ip, metrics_endpoint_on, observing, scraper_pod, silent_endpoint, silent_endpoint_on,
    target_pod, wait_reason, KubeSd, Prometheus,
};
use common::testenv::TestEnv;

use scrapepath::observe::plan::UrlSetting;

fn report_intent(ns: &str, name: &str, app: &str, mon: &str) -> String {
    format!(
        r#"
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  endpoints: [{{port: metrics}}]
  scraper: {{kind: Prometheus, namespace: {mon}, name: k8s}}
  mode: Report
"#
    )
}

/// The Prometheus configuration prometheus-operator would generate for the PodMonitor `apps`, reduced to
/// what matters here: Kubernetes discovery (role pod) of the namespace `ns` from the test API server, a
/// keep on a pod label, and the `namespace`/`pod` target labels. Discovery, relabeling, scraping and the
/// targets API are Prometheus's own.
fn prometheus_config(ns: &str, sd: &KubeSd) -> String {
    format!(
        r#"
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1m}}
scrape_configs:
- job_name: podMonitor/{ns}/apps/0
  kubernetes_sd_configs:
  - {sd_config}
  relabel_configs:
  - {{source_labels: [__meta_kubernetes_pod_label_scrape], regex: "yes", action: keep}}
  - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}
  - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}
"#,
        sd_config = sd.sd_config("pod", &[ns])
    )
}

/// A local address that is not loopback (the API server refuses loopback addresses in Endpoints, so
/// its service proxy can only reach a Prometheus listening elsewhere): the first `host LOCAL` IPv4
/// address of the kernel's routing table that is not in 127.0.0.0/8.
fn non_loopback_local_ip() -> Option<Ipv4Addr> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").ok()?;
    let mut last: Option<Ipv4Addr> = None;
    for line in trie.lines() {
        let line = line.trim();
        if let Some(ip) = line.strip_prefix("|-- ") {
            last = ip.parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.filter(|ip| !ip.is_loopback() && !ip.is_link_local()) {
                return Some(ip);
            }
        }
    }
    None
}

/// The scraper `mon/k8s` (selecting monitors labelled `release: prom`) and its pod at `ip`, with the
/// `prometheus-operated` Service prometheus-operator creates for it, whose endpoint is that pod at
/// `port` (there is no endpoints controller here: the Endpoints are written as it would write them).
fn scraper_at(mon: &str, ip: Ipv4Addr, port: u16) -> String {
    format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: {mon}}}
spec:
  podMonitorSelector: {{matchLabels: {{release: prom}}}}
  podMonitorNamespaceSelector: {{}}
  serviceAccountName: prometheus
---
{pod}
---
apiVersion: v1
kind: Service
metadata: {{name: prometheus-operated, namespace: {mon}, labels: {{operated-prometheus: "true"}}}}
spec:
  clusterIP: None
  ports: [{{name: web, port: 9090, targetPort: web}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: prometheus-operated, namespace: {mon}}}
subsets:
- addresses: [{{ip: {ip}, targetRef: {{kind: Pod, namespace: {mon}, name: prometheus-k8s-0}}}}]
  ports: [{{name: web, port: {port}}}]
"#,
        pod = scraper_pod(mon, IpAddr::V4(ip), port)
    )
}

/// The PodMonitor the scraper of `fixtures::scraper` selects, for the `team: obs` pods.
fn pod_monitor(ns: &str) -> String {
    format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: apps, namespace: {ns}, labels: {{release: prom}}}}
spec:
  selector: {{matchLabels: {{team: obs}}}}
  podMetricsEndpoints: [{{port: metrics}}]
"#
    )
}

/// Runs `scrapepath audit -o json` against the test control plane.
fn audit(env: &TestEnv, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .arg("audit")
        .args(["-o", "json"])
        .args(args)
        .env("KUBECONFIG", env.kubeconfig())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The `Scraped` condition of the intent `ns/name` in an audit report.
fn audited_scraped(report: &serde_json::Value, ns: &str, name: &str) -> (String, String, String) {
    let s = report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "ScrapeIntent" && s["namespace"] == ns && s["name"] == name)
        .unwrap_or_else(|| panic!("no intent {ns}/{name} in {report}"));
    let c = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Scraped")
        .unwrap();
    let text = |k: &str| c[k].as_str().unwrap().to_string();
    (text("status"), text("reason"), text("message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_reports_one_target_up_and_the_silent_one_down_with_its_error() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let ns = env.namespace("obs").await;
    let mon = env.namespace("obs-mon").await;
    // Every pod at a loopback address of its own; the listeners bind port 0 there.
    let (up_ip, silent_ip, ignored_ip) = (loopback_ip(), loopback_ip(), loopback_ip());
    let answers = metrics_endpoint_on(IpAddr::V4(up_ip));
    let silent = silent_endpoint_on(IpAddr::V4(silent_ip));
    let (up_port, silent_port) = (answers.port, silent.port);
    // Named by the pod, never scraped (relabeling drops it).
    let ignored_port = common::prometheus::unserved_port();

    // Prometheus on a local address the API server's service proxy may reach (not loopback).
    let prom_ip = non_loopback_local_ip().expect(
        "this machine has no IPv4 address outside 127.0.0.0/8 (in /proc/net/fib_trie): the API server's \
         service proxy needs one to reach Prometheus (Endpoints refuse loopback addresses)",
    );
    let sd = KubeSd::new(env, &mon, &[&ns]).await;
    let config = prometheus_config(&ns, &sd);
    let prom =
        tokio::task::spawn_blocking(move || Prometheus::start_on(&config, IpAddr::V4(prom_ip)))
            .await
            .unwrap();
    apply_yaml(&client, &scraper_at(&mon, prom_ip, prom.addr.port())).await;

    for (name, app, scrape, ip, port) in [
        ("answers-0", "answers", "yes", up_ip, up_port),
        ("silent-0", "silent", "yes", silent_ip, silent_port),
        ("ignored-0", "ignored", "no", ignored_ip, ignored_port),
    ] {
        let labels = format!("app: {app}, team: obs, scrape: \"{scrape}\"");
        apply_yaml(
            &client,
            &target_pod(&ns, name, &labels, IpAddr::V4(ip), port),
        )
        .await;
    }
    for (name, app) in [
        ("answers", "answers"),
        ("silent", "silent"),
        ("ignored", "ignored"),
    ] {
        apply_yaml(&client, &report_intent(&ns, name, app, &mon)).await;
    }
    apply_yaml(&client, &pod_monitor(&ns)).await;

    let url = UrlSetting::parse(&format!("{mon}/k8s={}", prom.url)).unwrap();
    let ctl = start_controller_with(
        &client,
        observing(&[&ns, &mon], vec![url], Duration::from_secs(5)),
    )
    .await;

    let limit = Duration::from_secs(60);
    let up = wait_reason(&client, &ns, "answers", "Scraped", ("True", "Up"), limit).await;
    assert_eq!(up, format!("1/1 targets are up in {}", prom.url));
    let down = wait_reason(&client, &ns, "silent", "Scraped", ("False", "Down"), limit).await;
    // What Prometheus itself reports for a scrape that gets no answer within scrape_timeout.
    let error =
        format!("Get \"http://{silent_ip}:{silent_port}/metrics\": context deadline exceeded");
    assert!(
        down.contains(&error),
        "{down}\nPrometheus log:\n{}",
        prom.log()
    );
    assert!(
        down.contains("The static policies allow it, yet the scrape times out")
            && down.contains("(it is 1s)"),
        "{down}"
    );
    // The pod that relabeling drops is named as such, with its discovered port.
    let dropped = wait_reason(
        &client,
        &ns,
        "ignored",
        "Scraped",
        ("False", "NotDiscovered"),
        limit,
    )
    .await;
    assert!(
        dropped.contains(&format!("{ns}/ignored-0:{ignored_port}: discovered, then dropped by relabeling in scrape pool podMonitor/{ns}/apps/0"))
            && dropped.contains(&format!("__meta_kubernetes_pod_container_port_number=\"{ignored_port}\"")),
        "{dropped}"
    );

    // What Prometheus discovered is what the API server holds: its Kubernetes discovery found exactly
    // the three pods of `ns`, at their pod IPs and declared ports, and kept the two `scrape: yes` ones.
    let targets: serde_json::Value =
        serde_json::from_str(&prom.get("/api/v1/targets?state=any").unwrap()).unwrap();
    let discovered = |state: &str| -> BTreeSet<(String, String)> {
        targets["data"][state]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let l = &t["discoveredLabels"];
                assert_eq!(l["__meta_kubernetes_namespace"], ns.as_str(), "{t}");
                (
                    l["__meta_kubernetes_pod_name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    l["__address__"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let pair = |pod: &str, ip: Ipv4Addr, port: u16| (pod.to_string(), format!("{ip}:{port}"));
    assert_eq!(
        discovered("activeTargets"),
        BTreeSet::from([
            pair("answers-0", up_ip, up_port),
            pair("silent-0", silent_ip, silent_port)
        ]),
        "{targets}"
    );
    assert_eq!(
        discovered("droppedTargets"),
        BTreeSet::from([pair("ignored-0", ignored_ip, ignored_port)]),
        "{targets}"
    );

    // The observed layer decides Ready; the static ones are untouched by it.
    let si = intent(&client, &ns, "silent").await.unwrap();
    assert_eq!(condition(&si, "Ready").unwrap().1, "Down");
    assert_eq!(condition(&si, "NetworkReachable").unwrap().0, "True");
    assert_eq!(si.status.unwrap().targets.unwrap().summary, "1/1");

    // Polling goes on every second, but an unchanged observation writes nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = ctl.breakdown();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        ctl.breakdown(),
        before,
        "writes (status, objects, deletes, events) while Prometheus reports the same"
    );

    // `scrapepath audit` reads the same API once and says the same: by URL, and without one through
    // the API server's service proxy to the scraper's `prometheus-operated` Service.
    for args in [
        vec![
            "--prometheus-url".to_string(),
            format!("{mon}/k8s={}", prom.url),
        ],
        vec![],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = audit(env, &args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let scraped = |name: &str| audited_scraped(&report, &ns, name);
        let (st, reason, msg) = scraped("answers");
        assert_eq!(
            (st.as_str(), reason.as_str()),
            ("True", "Up"),
            "{args:?}: {msg}"
        );
        let (st, reason, msg) = scraped("silent");
        assert_eq!(
            (st.as_str(), reason.as_str()),
            ("False", "Down"),
            "{args:?}: {msg}"
        );
        assert!(msg.contains(&error), "{args:?}: {msg}");
        assert_eq!(scraped("ignored").1, "NotDiscovered", "{args:?}");
        // The PodMonitor audited counts its own scrape pool: one target down, one dropped.
        let pm = report["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == "PodMonitor" && s["namespace"] == ns.as_str())
            .unwrap();
        let c = pm["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Scraped")
            .unwrap();
        assert_eq!(c["reason"], "Down", "{args:?}: {c}");
        if args.is_empty() {
            assert!(
                msg.contains("prometheus-operated"),
                "the source named is the proxied Service: {msg}"
            );
        }
    }

    // Optionally keep what this Prometheus answered, as a fixture for the parser's tests.
    if let Ok(path) = std::env::var("SCRAPEPATH_SAVE_TARGETS") {
        let body = prom.get("/api/v1/targets?state=any").unwrap();
        std::fs::write(path, body).unwrap();
    }

    ctl.stop().await;
    drop((prom, answers, silent, sd));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_cannot_be_read_leaves_scraped_unknown_and_never_holds_back_the_status() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let ns = env.namespace("obs-unknown").await;
    let mon = env.namespace("obs-unknown-mon").await;
    // A "Prometheus" that accepts connections and never answers: every read runs into the timeout.
    let silent = silent_endpoint();
    let silent_port = silent.port;
    apply_yaml(&client, &scraper(&mon)).await;
    apply_yaml(&client, &app_pod(&ns, "api-0", "10.9.1.1")).await;
    apply_yaml(&client, &pod_monitor(&ns).replace("team: obs", "app: api")).await;
    apply_yaml(&client, &report_intent(&ns, "api", "api", &mon)).await;
    let url = UrlSetting::parse(&format!("http://127.0.0.1:{silent_port}")).unwrap();
    let started = std::time::Instant::now();
    let ctl = start_controller_with(
        &client,
        observing(&[&ns, &mon], vec![url], Duration::from_secs(8)),
    )
    .await;

    // The status is written while the first read still hangs: reconciles never wait on HTTP.
    let msg = wait_reason(
        &client,
        &ns,
        "api",
        "Scraped",
        ("Unknown", "NotObserved"),
        Duration::from_secs(30),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the status waited for the Prometheus read ({:?}): {msg}",
        started.elapsed()
    );
    let si = intent(&client, &ns, "api").await.unwrap();
    assert_eq!(condition(&si, "TargetsResolved").unwrap().0, "True");
    assert_eq!(condition(&si, "NetworkReachable").unwrap().0, "True");
    assert_eq!(
        condition(&si, "Ready").unwrap().0,
        "True",
        "Scraped Unknown does not block Ready"
    );

    // Once the read times out, the reason says the API cannot be read, and why.
    let msg = wait_reason(
        &client,
        &ns,
        "api",
        "Scraped",
        ("Unknown", "PrometheusUnreachable"),
        Duration::from_secs(30),
    )
    .await;
    assert!(
        msg.contains(&format!(
            "the Prometheus API http://127.0.0.1:{silent_port} cannot be read"
        )) && msg.contains("no answer within 8s"),
        "{msg}"
    );
    assert_eq!(
        condition(&intent(&client, &ns, "api").await.unwrap(), "Ready")
            .unwrap()
            .0,
        "True"
    );

    // `scrapepath audit` without a URL goes through the API server's proxy to the scraper's
    // prometheus-operated Service; there is none here, and the API server's answer is the message.
    let (_, out, err) = audit(env, &[]);
    let report: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let (st, reason, msg) = audited_scraped(&report, &ns, "api");
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("Unknown", "PrometheusUnreachable"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "service {mon}/prometheus-operated:web (through the API server's proxy)"
        )) && msg.contains("404"),
        "{msg}"
    );
    assert!(err.contains("cannot read the targets of"), "{err}");

    // A refused connection says so too (the port is closed now).
    drop(silent);
    let msg = wait_reason(
        &client,
        &ns,
        "api",
        "Scraped",
        ("Unknown", "PrometheusUnreachable"),
        Duration::from_secs(30),
    )
    .await;
    let msg = if msg.contains("no answer within") {
        // The backoff (at most 4 s here) delays the next read.
        eventually("a refused connection", Duration::from_secs(30), || async {
            let si = intent(&client, &ns, "api").await.unwrap();
            let (_, _, m) = condition(&si, "Scraped").unwrap();
            if m.contains("onnection refused") {
                Ok(m)
            } else {
                Err(m)
            }
        })
        .await
    } else {
        msg
    };
    assert!(msg.contains("onnection refused"), "{msg}");
    ctl.stop().await;
}
