//! The `Scraped` layer as the engine derives it from an observation of the scraper's `/api/v1/targets`
//! (pure: the observation is a plain input, built here from the JSON Prometheus answers).

use std::path::Path;

use serde_json::{json, Value};

use scrapepath::engine::{evaluate, evaluate_observed, EngineConfig, SubjectReport};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{parse_text, LoadStats};
use scrapepath::observe::{parse_targets, Observation, Observed};

/// A Ready Prometheus, two pods of `app: api`, a PodMonitor selected by it, and an intent for the pods.
const WORLD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  podMonitorSelector: {matchLabels: {release: kps}}
  podMonitorNamespaceSelector: {}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-k8s-0, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k8s, prometheus: k8s}}
spec: {containers: [{name: prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: shop, labels: {app: api}}
spec: {containers: [{name: api, ports: [{name: metrics, containerPort: 9100}]}]}
status: {phase: Running, podIP: 10.1.1.1, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-2, namespace: shop, labels: {app: api}}
spec: {containers: [{name: api, ports: [{name: metrics, containerPort: 9100}]}]}
status: {phase: Running, podIP: 10.1.1.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: api, namespace: shop, labels: {release: kps}}
spec: {selector: {matchLabels: {app: api}}, podMetricsEndpoints: [{port: metrics}]}
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: api, namespace: shop}
spec: {selector: {matchLabels: {app: api}}, endpoints: [{port: metrics}]}
"#;

/// A policy that isolates the api pods to their own namespace: Prometheus in `monitoring` is dropped.
const ISOLATION: &str = r#"
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api-isolation, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress: [{fromEndpoints: [{}]}]
"#;

fn world(extra: &str) -> ClusterIndex {
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    for o in parse_text(Path::new("t.yaml"), &format!("{WORLD}{extra}"), &mut stats).unwrap() {
        idx.apply(o);
    }
    idx
}

/// An active target as prometheus-operator's PodMonitor job labels it.
fn active(pod: &str, ip: &str, health: &str, error: &str) -> Value {
    json!({
        "discoveredLabels": {
            "__address__": format!("{ip}:9100"),
            "__meta_kubernetes_namespace": "shop",
            "__meta_kubernetes_pod_name": pod,
            "__meta_kubernetes_pod_container_port_number": "9100",
        },
        "labels": {"namespace": "shop", "pod": pod, "job": "shop/api", "instance": format!("{ip}:9100")},
        "scrapePool": "podMonitor/shop/api/0",
        "scrapeUrl": format!("http://{ip}:9100/metrics"),
        "lastError": error,
        "health": health,
        "scrapeInterval": "30s",
        "scrapeTimeout": "10s",
    })
}

fn dropped(pod: &str, ip: &str) -> Value {
    json!({"discoveredLabels": {
        "__address__": format!("{ip}:9100"),
        "__meta_kubernetes_namespace": "shop",
        "__meta_kubernetes_pod_name": pod,
        "__meta_kubernetes_pod_container_port_name": "metrics",
        "__meta_kubernetes_pod_container_port_number": "9100",
        "job": "podMonitor/shop/api/0",
    }})
}

fn observed(active: Vec<Value>, dropped: Vec<Value>) -> Observed {
    let body =
        json!({"status": "success", "data": {"activeTargets": active, "droppedTargets": dropped}});
    let targets = parse_targets(body.to_string().as_bytes()).unwrap();
    Observed {
        default: Some(Observation::Targets {
            source: "http://prom:9090".into(),
            targets: targets.into(),
        }),
        ..Default::default()
    }
}

fn subject(idx: &ClusterIndex, obs: Option<&Observed>, kind: &str) -> SubjectReport {
    evaluate_observed(idx, &EngineConfig::default(), obs)
        .subjects
        .into_iter()
        .find(|s| s.kind == kind && s.name == "api")
        .unwrap()
}

fn cond(s: &SubjectReport, t: &str) -> (String, String, String) {
    let c = s.condition(t).unwrap_or_else(|| panic!("no {t}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

const TIMEOUT: &str = "Get \"http://10.1.1.2:9100/metrics\": context deadline exceeded";

#[test]
fn without_an_observation_scraped_is_not_observed_and_does_not_block_ready() {
    let idx = world("");
    let s = subject(&idx, None, "ScrapeIntent");
    assert_eq!(
        cond(&s, "Scraped"),
        (
            "Unknown".into(),
            "NotObserved".into(),
            "no Prometheus API was queried".into()
        )
    );
    assert!(s.ready);
    // The check contract is unchanged without observations: no `observed` in the targets.
    let v = serde_json::to_value(evaluate(&idx, &EngineConfig::default())).unwrap();
    assert!(v["subjects"][0]["targets"][0].get("observed").is_none());
}

#[test]
fn every_target_up_is_scraped_up() {
    let idx = world("");
    let obs = observed(
        vec![
            active("api-1", "10.1.1.1", "up", ""),
            active("api-2", "10.1.1.2", "up", ""),
        ],
        vec![],
    );
    let s = subject(&idx, Some(&obs), "ScrapeIntent");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("True", "Up"));
    assert_eq!(msg, "2/2 targets are up in http://prom:9090");
    assert!(s.ready);
    let t = serde_json::to_value(&s.targets[0]).unwrap();
    assert_eq!(t["observed"]["health"], "up");
    assert_eq!(t["observed"]["scrapeUrl"], "http://10.1.1.1:9100/metrics");
}

#[test]
fn a_timeout_the_policies_allow_is_down_and_the_message_says_what_that_usually_means() {
    let idx = world("");
    let obs = observed(
        vec![
            active("api-1", "10.1.1.1", "up", ""),
            active("api-2", "10.1.1.2", "down", TIMEOUT),
        ],
        vec![],
    );
    let s = subject(&idx, Some(&obs), "ScrapeIntent");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("False", "Down"));
    assert!(msg.starts_with("1/2 targets are down in http://prom:9090: shop/api-2:9100 (http://10.1.1.2:9100/metrics): Get \"http://10.1.1.2:9100/metrics\": context deadline exceeded"), "{msg}");
    assert!(
        msg.contains("The static policies allow it, yet the scrape times out: usually a policy this tool cannot see")
            && msg.contains("scrape_timeout too short (it is 10s)"),
        "{msg}"
    );
    // Down blocks Ready, whose reason is the layer's.
    assert!(!s.ready);
    assert_eq!(cond(&s, "Ready").1, "Down");
    // targets.reachable stays the static verdict: both are Allowed by policy.
    assert_eq!(s.reachable_targets(), 2);
    assert_eq!(s.targets[1].observed.as_ref().unwrap().health, "down");
    assert_eq!(
        s.targets[1]
            .observed
            .as_ref()
            .unwrap()
            .last_error
            .as_deref(),
        Some(TIMEOUT)
    );
}

#[test]
fn a_refused_connection_is_explained_as_nothing_listening() {
    let idx = world("");
    let err =
        "Get \"http://10.1.1.1:9100/metrics\": dial tcp 10.1.1.1:9100: connect: connection refused";
    let obs = observed(
        vec![
            active("api-1", "10.1.1.1", "down", err),
            active("api-2", "10.1.1.2", "up", ""),
        ],
        vec![],
    );
    let (_, reason, msg) = cond(&subject(&idx, Some(&obs), "ScrapeIntent"), "Scraped");
    assert_eq!(reason, "Down");
    assert!(
        msg.contains("connection refused — nothing accepts connections")
            && msg.contains("The static policies allow it: the cause is outside"),
        "{msg}"
    );
}

#[test]
fn a_target_blocked_by_policy_and_down_is_not_called_a_disagreement() {
    let idx = world(ISOLATION);
    let obs = observed(
        vec![
            active("api-1", "10.1.1.1", "down", TIMEOUT),
            active("api-2", "10.1.1.2", "down", TIMEOUT),
        ],
        vec![],
    );
    let s = subject(&idx, Some(&obs), "ScrapeIntent");
    assert_eq!(cond(&s, "NetworkReachable").1, "BlockedByPolicy");
    let (_, reason, msg) = cond(&s, "Scraped");
    assert_eq!(reason, "Down");
    assert!(msg.starts_with("2/2 targets are down"), "{msg}");
    assert!(!msg.contains("static policies allow it"), "{msg}");
    // Ready names the first failing layer: the network, which explains the timeout.
    assert_eq!(cond(&s, "Ready").1, "BlockedByPolicy");
}

#[test]
fn a_target_up_although_the_policy_blocks_it_says_the_verdict_may_be_stale() {
    let idx = world(ISOLATION);
    let obs = observed(
        vec![
            active("api-1", "10.1.1.1", "up", ""),
            active("api-2", "10.1.1.2", "up", ""),
        ],
        vec![],
    );
    let s = subject(&idx, Some(&obs), "ScrapeIntent");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("True", "Up"));
    assert!(
        msg.contains("Prometheus scrapes shop/api-1:9100 (NetworkReachable says blocked)")
            && msg.contains("policy-audit mode"),
        "{msg}"
    );
}

#[test]
fn a_pod_without_active_target_is_not_discovered_and_a_dropped_one_is_named() {
    let idx = world("");
    let obs = observed(
        vec![active("api-1", "10.1.1.1", "up", "")],
        vec![dropped("api-2", "10.1.1.2")],
    );
    let s = subject(&idx, Some(&obs), "ScrapeIntent");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("False", "NotDiscovered"));
    assert!(
        msg.contains("shop/api-2:9100: discovered, then dropped by relabeling in scrape pool podMonitor/shop/api/0")
            && msg.contains("__meta_kubernetes_pod_container_port_name=\"metrics\""),
        "{msg}"
    );
    assert_eq!(s.targets[1].observed.as_ref().unwrap().health, "dropped");
    // No trace at all.
    let obs = observed(vec![active("api-1", "10.1.1.1", "up", "")], vec![]);
    let (_, reason, msg) = cond(&subject(&idx, Some(&obs), "ScrapeIntent"), "Scraped");
    assert_eq!(reason, "NotDiscovered");
    assert!(msg.contains("shop/api-2:9100: no active target"), "{msg}");
}

#[test]
fn targets_not_scraped_yet_are_unknown() {
    let idx = world("");
    let obs = observed(
        vec![
            active("api-1", "10.1.1.1", "up", ""),
            active("api-2", "10.1.1.2", "unknown", ""),
        ],
        vec![],
    );
    let s = subject(&idx, Some(&obs), "ScrapeIntent");
    let (st, reason, _) = cond(&s, "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("Unknown", "NotYetScraped"));
    assert!(s.ready, "Scraped Unknown does not block Ready");
}

#[test]
fn an_unreachable_api_is_unknown_with_the_error_and_does_not_block_ready() {
    let idx = world("");
    let obs = Observed {
        default: Some(Observation::Unreachable {
            source: "http://prom:9090".into(),
            error: "GET http://prom:9090/api/v1/targets?state=any: client error (Connect): tcp connect error: Connection refused".into(),
        }),
        ..Default::default()
    };
    let s = subject(&idx, Some(&obs), "ScrapeIntent");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("Unknown", "PrometheusUnreachable")
    );
    assert!(
        msg.contains("the Prometheus API http://prom:9090 cannot be read")
            && msg.contains("Connection refused")
            && msg.contains("shop/api-1:9100, shop/api-2:9100"),
        "{msg}"
    );
    assert!(s.ready);
    assert_eq!(
        s.targets[0].observed.as_ref().unwrap().health,
        "unreachable"
    );
}

#[test]
fn an_observation_of_another_scraper_does_not_apply() {
    let idx = world("");
    let mut obs = observed(vec![active("api-1", "10.1.1.1", "up", "")], vec![]);
    let other = obs.default.take().unwrap();
    obs.by_scraper
        .insert(("monitoring".into(), "other".into()), other.clone());
    let (st, reason, msg) = cond(&subject(&idx, Some(&obs), "ScrapeIntent"), "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("Unknown", "NotObserved"));
    assert!(msg.contains("none is configured for that scraper"), "{msg}");
    // Keyed by the intent's scraper, it applies.
    obs.by_scraper
        .insert(("monitoring".into(), "k8s".into()), other);
    let (_, reason, _) = cond(&subject(&idx, Some(&obs), "ScrapeIntent"), "Scraped");
    assert_eq!(reason, "NotDiscovered", "api-2 has no target");
}

#[test]
fn an_audited_monitor_counts_only_its_own_scrape_pools() {
    let idx = world("");
    let mut theirs = active("api-1", "10.1.1.1", "up", "");
    theirs["scrapePool"] = json!("serviceMonitor/shop/other/0");
    let obs = observed(vec![theirs, active("api-2", "10.1.1.2", "up", "")], vec![]);
    let s = subject(&idx, Some(&obs), "PodMonitor");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("False", "NotDiscovered"));
    assert!(msg.contains("shop/api-1:9100: no active target"), "{msg}");
    // The intent asks only whether the pod is scraped, by any job.
    let (_, reason, _) = cond(&subject(&idx, Some(&obs), "ScrapeIntent"), "Scraped");
    assert_eq!(reason, "Up");
}

/// A sharded Prometheus is read shard by shard (`Observed::by_shard`): each target is judged from the
/// shard that keeps it, which reports it, while the other shard does not know it.
#[test]
fn a_sharded_scrapers_targets_are_judged_from_the_shard_that_keeps_each() {
    let text = WORLD
        .replace(
            "spec:\n  podMonitorSelector: {matchLabels: {release: kps}}",
            "spec:\n  shards: 2\n  podMonitorSelector: {matchLabels: {release: kps}}",
        )
        .replace(
            "operator.prometheus.io/name: k8s, prometheus: k8s}}",
            "operator.prometheus.io/name: k8s, prometheus: k8s, operator.prometheus.io/shard: \"0\"}}",
        )
        + r#"
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-k8s-shard-1-0, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k8s, prometheus: k8s, operator.prometheus.io/shard: "1"}}
spec: {containers: [{name: prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.0.3, conditions: [{type: Ready, status: "True"}]}
"#;
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    for o in parse_text(Path::new("t.yaml"), &text, &mut stats).unwrap() {
        idx.apply(o);
    }
    let shard_of = |ip: &str| scrapepath::relabel::hash_mod(&format!("{ip}:9100"), 2) as u32;
    let targets = |active: Vec<Value>| {
        let body =
            json!({"status": "success", "data": {"activeTargets": active, "droppedTargets": []}});
        parse_targets(body.to_string().as_bytes()).unwrap()
    };
    // Each shard's API lists only the targets it keeps.
    let per_shard = |swap: bool| {
        let mut obs = Observed::default();
        for shard in 0..2u32 {
            let own: Vec<Value> = [("api-1", "10.1.1.1"), ("api-2", "10.1.1.2")]
                .iter()
                .filter(|(_, ip)| (shard_of(ip) == shard) != swap)
                .map(|(pod, ip)| active(pod, ip, "up", ""))
                .collect();
            obs.by_shard.insert(
                ("monitoring".into(), "k8s".into(), shard),
                Observation::Targets {
                    source: format!("shard {shard}"),
                    targets: targets(own).into(),
                },
            );
        }
        obs
    };
    let s = subject(&idx, Some(&per_shard(false)), "PodMonitor");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!((st.as_str(), reason.as_str()), ("True", "Up"), "{msg}");
    // Read from the wrong shards, each target is one its shard's API does not know.
    let s = subject(&idx, Some(&per_shard(true)), "PodMonitor");
    let (st, reason, msg) = cond(&s, "Scraped");
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("False", "NotDiscovered"),
        "{msg}"
    );
}
