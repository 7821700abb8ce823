//! Observed health: what a Prometheus itself reports about its targets (`/api/v1/targets`), as a plain
//! input to the engine. This module is pure — parsing a response and matching its targets to pods; the
//! HTTP edge is [`fetch`], the controller's background polling is `controller::observer`.
//!
//! A target is matched to a pod by the `namespace`/`pod` labels prometheus-operator attaches, else the
//! `__meta_kubernetes_namespace`/`__meta_kubernetes_pod_name` discovered labels, else by address (the
//! scrape URL's host against the pod IP); and to a port by the scrape URL's port or the discovered
//! container port.

pub mod fetch;
pub mod plan;

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::model::Pod;

/// What Prometheus says of one target's last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Up,
    Down,
    /// Discovered, not scraped yet.
    Unknown,
}

impl Health {
    fn parse(s: &str) -> Health {
        match s {
            "up" => Health::Up,
            "down" => Health::Down,
            _ => Health::Unknown,
        }
    }
}

/// Where a target points: the pod it names (labels) and the address it scrapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Whereabouts {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// Host of the address scraped (an IP for pod targets).
    pub host: Option<String>,
    /// Port of the address scraped.
    pub port: Option<u16>,
    /// `__meta_kubernetes_pod_container_port_number`, when discovered through Kubernetes.
    pub container_port: Option<u16>,
}

/// One active target (`data.activeTargets[]`). Only what is stable between scrapes is kept (not the
/// last scrape's time or duration), so that two observations of an unchanged world compare equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveTarget {
    pub scrape_pool: String,
    pub scrape_url: String,
    pub health: Health,
    pub last_error: String,
    pub scrape_timeout: Option<String>,
    pub at: Whereabouts,
    /// Path of the scrape URL.
    pub path: String,
}

/// One dropped target (`data.droppedTargets[]`): discovered, then dropped by relabeling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    /// Set by Prometheus ≥ 2.49; older versions only give the `job` discovered label.
    pub scrape_pool: Option<String>,
    pub at: Whereabouts,
    pub discovered_labels: BTreeMap<String, String>,
}

/// A Prometheus's targets, as its API reported them, indexed by the pod they name and the host they
/// scrape (a large Prometheus has tens of thousands of targets, and every subject looks up its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    pub active: Vec<ActiveTarget>,
    pub dropped: Vec<DroppedTarget>,
    active_index: Lookup,
    dropped_index: Lookup,
}

/// Positions of targets by (namespace, pod) they name, and by host for those that name no pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Lookup {
    by_pod: HashMap<(String, String), Vec<usize>>,
    by_host: HashMap<String, Vec<usize>>,
}

impl Lookup {
    fn build<'w>(all: impl Iterator<Item = &'w Whereabouts>) -> Lookup {
        let mut l = Lookup::default();
        for (i, at) in all.enumerate() {
            match (&at.namespace, &at.pod, &at.host) {
                (Some(ns), Some(pod), _) => l
                    .by_pod
                    .entry((ns.clone(), pod.clone()))
                    .or_default()
                    .push(i),
                (_, _, Some(host)) => l.by_host.entry(host.clone()).or_default().push(i),
                _ => {}
            }
        }
        l
    }

    /// The targets that may point at `pod` (to be checked with [`points_at`]).
    fn candidates(&self, pod: &Pod) -> impl Iterator<Item = usize> + '_ {
        let named = self
            .by_pod
            .get(&(pod.namespace.clone(), pod.name.clone()))
            .into_iter()
            .flatten();
        let by_host = pod
            .pod_ip
            .as_ref()
            .and_then(|ip| self.by_host.get(ip))
            .into_iter()
            .flatten();
        named.chain(by_host).copied()
    }
}

impl Targets {
    pub fn new(active: Vec<ActiveTarget>, dropped: Vec<DroppedTarget>) -> Targets {
        Targets {
            active_index: Lookup::build(active.iter().map(|t| &t.at)),
            dropped_index: Lookup::build(dropped.iter().map(|t| &t.at)),
            active,
            dropped,
        }
    }
}

/// The latest observation of one Prometheus API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The API answered; `source` says where it was read (a URL or a file). Shared: an observation is
    /// stored, compared and handed to evaluations without copying its targets.
    Targets {
        source: String,
        targets: std::sync::Arc<Targets>,
    },
    /// The API could not be read: the error says why (connection, timeout, HTTP status, bad JSON).
    Unreachable { source: String, error: String },
}

impl Observation {
    pub fn source(&self) -> &str {
        match self {
            Observation::Targets { source, .. } | Observation::Unreachable { source, .. } => source,
        }
    }
}

/// Every observation the engine may use: per scraper (a Prometheus or PrometheusAgent by namespace and
/// name), and one for any scraper without its own (a single `--prometheus-url`, `--targets-json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub by_scraper: BTreeMap<(String, String), Observation>,
    /// Of sharded scrapers, by (namespace, name, shard).
    pub by_shard: BTreeMap<(String, String, u32), Observation>,
    pub default: Option<Observation>,
}

impl Observed {
    /// The observation of the scraper `namespace/name`.
    pub fn for_scraper(&self, namespace: &str, name: &str) -> Option<&Observation> {
        self.by_scraper
            .get(&(namespace.to_string(), name.to_string()))
            .or(self.default.as_ref())
    }

    /// The observation that reports a target of the scraper `namespace/name` kept by `shards`
    /// (`None`: every shard): the first of those shards read on its own, else the scraper's.
    pub fn for_target(
        &self,
        namespace: &str,
        name: &str,
        shards: Option<&[u32]>,
    ) -> Option<&Observation> {
        let of_shard = |s: u32| {
            self.by_shard
                .get(&(namespace.to_string(), name.to_string(), s))
        };
        let own = match shards {
            Some(list) => list.iter().find_map(|s| of_shard(*s)),
            None => of_shard(0),
        };
        own.or_else(|| self.for_scraper(namespace, name))
    }

    /// The observation stored under `key`.
    pub fn get(&self, key: &plan::ObservationKey) -> Option<&Observation> {
        use plan::ObservationKey as K;
        match key {
            K::Default => self.default.as_ref(),
            K::Scraper(ns, n) => self.by_scraper.get(&(ns.clone(), n.clone())),
            K::Shard(ns, n, s) => self.by_shard.get(&(ns.clone(), n.clone(), *s)),
        }
    }

    /// Stores (or, with `None`, removes) the observation of `key`; returns the previous one.
    pub fn set(
        &mut self,
        key: &plan::ObservationKey,
        obs: Option<Observation>,
    ) -> Option<Observation> {
        use plan::ObservationKey as K;
        match (key, obs) {
            (K::Default, o) => std::mem::replace(&mut self.default, o),
            (K::Scraper(ns, n), Some(o)) => self.by_scraper.insert((ns.clone(), n.clone()), o),
            (K::Scraper(ns, n), None) => self.by_scraper.remove(&(ns.clone(), n.clone())),
            (K::Shard(ns, n, s), Some(o)) => self.by_shard.insert((ns.clone(), n.clone(), *s), o),
            (K::Shard(ns, n, s), None) => self.by_shard.remove(&(ns.clone(), n.clone(), *s)),
        }
    }

    /// Every stored observation.
    pub fn all(&self) -> impl Iterator<Item = &Observation> {
        self.by_scraper
            .values()
            .chain(self.by_shard.values())
            .chain(&self.default)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Parsing `/api/v1/targets`.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiData {
    #[serde(default)]
    active_targets: Vec<ApiActive>,
    #[serde(default)]
    dropped_targets: Vec<ApiDropped>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiActive {
    #[serde(default)]
    discovered_labels: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    scrape_pool: String,
    scrape_url: String,
    #[serde(default)]
    last_error: String,
    health: String,
    #[serde(default)]
    scrape_timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiDropped {
    #[serde(default)]
    discovered_labels: BTreeMap<String, String>,
    #[serde(default)]
    scrape_pool: Option<String>,
}

/// A response that is not a usable targets list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the response is not the JSON of /api/v1/targets: {0}")]
    Json(String),
    #[error("Prometheus answered with an error: {0}")]
    Api(String),
}

/// Parses the body of `GET /api/v1/targets` (any `state`).
pub fn parse_targets(body: &[u8]) -> Result<Targets, ParseError> {
    let r: ApiResponse = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        ParseError::Json(format!("{e} (body starts with {start:?})"))
    })?;
    if r.status != "success" {
        return Err(ParseError::Api(format!(
            "status {:?}, {}: {}",
            r.status,
            r.error_type.as_deref().unwrap_or("no errorType"),
            r.error.as_deref().unwrap_or("no error message")
        )));
    }
    let data = r
        .data
        .ok_or_else(|| ParseError::Json("status \"success\" without data".into()))?;
    Ok(Targets::new(
        data.active_targets
            .into_iter()
            .map(|a| {
                let (host, port, path) = split_url(&a.scrape_url);
                let mut at = whereabouts(&a.discovered_labels);
                // The final labels win: they are what relabeling made of the discovered ones.
                if let Some(ns) = a.labels.get("namespace") {
                    at.namespace = Some(ns.clone());
                }
                if let Some(pod) = a.labels.get("pod") {
                    at.pod = Some(pod.clone());
                }
                if host.is_some() {
                    at.host = host;
                    at.port = port;
                }
                ActiveTarget {
                    scrape_pool: a.scrape_pool,
                    scrape_url: a.scrape_url,
                    health: Health::parse(&a.health),
                    last_error: a.last_error,
                    scrape_timeout: a.scrape_timeout,
                    at,
                    path,
                }
            })
            .collect(),
        data.dropped_targets
            .into_iter()
            .map(|d| DroppedTarget {
                scrape_pool: d
                    .scrape_pool
                    .or_else(|| d.discovered_labels.get("job").cloned()),
                at: whereabouts(&d.discovered_labels),
                discovered_labels: d.discovered_labels,
            })
            .collect(),
    ))
}

/// Where the discovered labels point.
fn whereabouts(labels: &BTreeMap<String, String>) -> Whereabouts {
    let (host, port) = labels
        .get("__address__")
        .map(|a| split_host_port(a))
        .unwrap_or_default();
    Whereabouts {
        namespace: labels
            .get("__meta_kubernetes_namespace")
            .or_else(|| labels.get("namespace"))
            .cloned(),
        pod: labels
            .get("__meta_kubernetes_pod_name")
            .or_else(|| labels.get("pod"))
            .cloned(),
        host,
        port,
        container_port: labels
            .get("__meta_kubernetes_pod_container_port_number")
            .and_then(|p| p.parse().ok()),
    }
}

/// Host, port and path of a scrape URL (`http://10.0.0.1:9100/metrics?x=y`).
fn split_url(url: &str) -> (Option<String>, Option<u16>, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split(['?', '#']).next().unwrap_or("/").to_string();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = split_host_port(authority);
    let port = port.or(match url.split_once("://").map(|(s, _)| s) {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    });
    (host, port, path)
}

/// `host:port`, `[v6]:port`, or a bare host.
fn split_host_port(a: &str) -> (Option<String>, Option<u16>) {
    if let Some(rest) = a.strip_prefix('[') {
        let (h, p) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            Some(h.to_string()),
            p.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (Some(h.to_string()), p.parse().ok()),
        _ if a.is_empty() => (None, None),
        _ => (Some(a.to_string()), None),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Matching targets to pods.

/// What Prometheus knows of one (pod, port, path).
#[derive(Debug, Clone, PartialEq)]
pub enum Found<'t> {
    /// Active targets for the pod and port (several when several jobs scrape it).
    Active(Vec<&'t ActiveTarget>),
    /// No active target, but discovered targets of the pod and port that relabeling dropped.
    Dropped(Vec<&'t DroppedTarget>),
    NotDiscovered,
}

/// Whether a target points at `pod`: by the pod it names, else by the address (hostNetwork pods share
/// their node's IP, so an address match alone is only used when the target names no pod).
fn points_at(at: &Whereabouts, pod: &Pod) -> bool {
    match (&at.namespace, &at.pod) {
        (Some(ns), Some(name)) => ns == &pod.namespace && name == &pod.name,
        _ => at.host.is_some() && at.host == pod.pod_ip,
    }
}

fn on_port(at: &Whereabouts, port: u16) -> bool {
    at.port == Some(port) || at.container_port == Some(port)
}

/// Finds what `targets` say of `pod`'s `port`; among several active targets, those on `path` are
/// preferred. `pool` restricts the search to one scrape pool prefix (an audited monitor's own jobs).
pub fn find<'t>(
    targets: &'t Targets,
    pod: &Pod,
    port: u16,
    path: &str,
    pool: Option<&str>,
) -> Found<'t> {
    // A monitor's pools share its prefix (`podMonitor/ns/name/`); a scrape_configs job is one pool.
    let in_pool = |p: &str| {
        pool.is_none_or(|want| {
            if want.ends_with('/') {
                p.starts_with(want)
            } else {
                p == want
            }
        })
    };
    let active: Vec<&ActiveTarget> = targets
        .active_index
        .candidates(pod)
        .map(|i| &targets.active[i])
        .filter(|t| in_pool(&t.scrape_pool) && points_at(&t.at, pod) && on_port(&t.at, port))
        .collect();
    if !active.is_empty() {
        let on_path: Vec<&ActiveTarget> =
            active.iter().copied().filter(|t| t.path == path).collect();
        return Found::Active(if on_path.is_empty() { active } else { on_path });
    }
    let dropped: Vec<&DroppedTarget> = targets
        .dropped_index
        .candidates(pod)
        .map(|i| &targets.dropped[i])
        .filter(|t| t.scrape_pool.as_deref().is_none_or(in_pool))
        .filter(|t| points_at(&t.at, pod) && on_port(&t.at, port))
        .collect();
    if dropped.is_empty() {
        Found::NotDiscovered
    } else {
        Found::Dropped(dropped)
    }
}

/// The scrape pool prefix prometheus-operator gives a monitor's endpoints (`podMonitor/ns/name/0`).
pub fn monitor_pool(kind: crate::model::MonitorKind, namespace: &str, name: &str) -> String {
    let k = match kind {
        crate::model::MonitorKind::PodMonitor => "podMonitor",
        crate::model::MonitorKind::ServiceMonitor => "serviceMonitor",
    };
    format!("{k}/{namespace}/{name}/")
}

/// What a scrape error usually means, in a sentence (for the `Scraped` message).
pub fn error_meaning(last_error: &str) -> &'static str {
    let e = last_error.to_ascii_lowercase();
    if e.contains("context deadline exceeded")
        || e.contains("i/o timeout")
        || e.contains("client.timeout")
    {
        "the scrape times out: usually packets dropped on the way (a network policy, a host firewall), the pod not listening on that address, or a scrape_timeout too short for a slow endpoint"
    } else if e.contains("connection refused") {
        "nothing accepts connections on that address and port: the process is not listening there (bound to 127.0.0.1 only, another port, not started), or a firewall rejects it"
    } else if e.contains("connection reset") || e.contains(": eof") || e.ends_with("eof") {
        "the connection is accepted then dropped: typically a sidecar enforcing STRICT mTLS against a plaintext scrape, or a TLS/plaintext mismatch"
    } else if e.contains("x509") || e.contains("tls:") || e.contains("certificate") {
        "the TLS handshake fails: the scheme or the monitor's tlsConfig does not fit the endpoint"
    } else if e.contains("status 401") || e.contains("status 403") {
        "the endpoint refuses the request: an authorization policy (Istio RBAC answers 403 \"RBAC: access denied\") or missing credentials in the monitor"
    } else if e.contains("status 404") {
        "the endpoint answers but not on that path: the monitor's path does not match where the metrics are served"
    } else if e.contains("status 503") || e.contains("status 502") {
        "a proxy in front of the process answers that it has no healthy upstream (an Envoy sidecar whose application is not ready)"
    } else if e.contains("no route to host") || e.contains("network is unreachable") {
        "the address is not routable from the Prometheus pod: a stale pod IP or a node-level network problem"
    } else if e.contains("sample limit")
        || e.contains("label limit")
        || e.contains("body size limit")
    {
        "the scrape succeeds but exceeds a limit set on the monitor or the Prometheus (sample, label or body size)"
    } else if e.contains("invalid") || e.contains("unsupported") || e.contains("expected") {
        "the endpoint answers with something that is not the Prometheus exposition format"
    } else {
        "Prometheus reports the scrape failed"
    }
}

/// Whether a scrape error looks like packets being dropped (what a network policy does).
pub fn is_timeout(last_error: &str) -> bool {
    let e = last_error.to_ascii_lowercase();
    e.contains("context deadline exceeded")
        || e.contains("i/o timeout")
        || e.contains("client.timeout")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str, ip: &str) -> Pod {
        Pod {
            namespace: ns.into(),
            name: name.into(),
            labels: Default::default(),
            annotations: Default::default(),
            service_account: "default".into(),
            host_network: false,
            node_name: None,
            pod_ip: Some(ip.into()),
            host_ip: None,
            phase: "Running".into(),
            ready: Some(true),
            containers: Default::default(),
            controller: None,
            uid: None,
            prometheus_config: None,
            modelled: None,
            problems: Vec::new(),
        }
    }

    fn fixture() -> Targets {
        parse_targets(
            &std::fs::read("tests/fixtures/prometheus/targets-static.json")
                .expect("fixture exists"),
        )
        .expect("a real response parses")
    }

    #[test]
    fn a_real_response_parses_with_health_error_and_pod_labels() {
        let t = fixture();
        assert_eq!(t.active.len(), 2);
        let up = &t.active[0];
        assert_eq!(up.health, Health::Up);
        assert_eq!(up.at.namespace.as_deref(), Some("obs"));
        assert_eq!(up.at.pod.as_deref(), Some("up-0"));
        assert_eq!(
            (up.at.host.as_deref(), up.at.port),
            (Some("127.0.0.1"), Some(18401))
        );
        assert_eq!(up.path, "/metrics");
        assert_eq!(up.scrape_pool, "podMonitor/obs/app/0");
        let down = &t.active[1];
        assert_eq!(down.health, Health::Down);
        assert_eq!(
            down.last_error,
            "Get \"http://127.0.0.1:18402/metrics\": context deadline exceeded"
        );
        assert_eq!(t.dropped.len(), 1);
        assert_eq!(t.dropped[0].at.pod.as_deref(), Some("dropped-0"));
        assert_eq!(
            t.dropped[0].scrape_pool.as_deref(),
            Some("podMonitor/obs/app/0")
        );
    }

    #[test]
    fn targets_match_pods_by_name_and_port_and_dropped_ones_are_told_apart() {
        let t = fixture();
        let up = pod("obs", "up-0", "127.0.0.1");
        assert!(
            matches!(find(&t, &up, 18401, "/metrics", None), Found::Active(v) if v[0].health == Health::Up)
        );
        // Same pod, another port: nothing.
        assert_eq!(find(&t, &up, 9999, "/metrics", None), Found::NotDiscovered);
        // Same IP, another pod name: the name decides, not the address.
        let other = pod("obs", "other", "127.0.0.1");
        assert_eq!(
            find(&t, &other, 18401, "/metrics", None),
            Found::NotDiscovered
        );
        let dropped = pod("obs", "dropped-0", "127.0.0.1");
        assert!(matches!(
            find(&t, &dropped, 18403, "/metrics", None),
            Found::Dropped(_)
        ));
        // Another monitor's pool does not count for an audited monitor.
        assert_eq!(
            find(&t, &up, 18401, "/metrics", Some("podMonitor/obs/other/")),
            Found::NotDiscovered
        );
        assert!(matches!(
            find(&t, &up, 18401, "/metrics", Some("podMonitor/obs/app/")),
            Found::Active(_)
        ));
    }

    #[test]
    fn a_real_response_with_kubernetes_meta_labels_parses_and_matches() {
        // Captured from the integration test's Prometheus (tests/observed_health.rs): pod-role discovery
        // labels, one target up, one timing out, one dropped by a keep rule.
        let t = parse_targets(
            &std::fs::read("tests/fixtures/prometheus/targets-pods.json").expect("fixture exists"),
        )
        .unwrap();
        let ns = t.active[0].at.namespace.clone().unwrap();
        let by_pod = |name: &str| {
            t.active
                .iter()
                .find(|a| a.at.pod.as_deref() == Some(name))
                .unwrap()
        };
        let answers = by_pod("answers-0");
        assert_eq!(answers.health, Health::Up);
        let silent = by_pod("silent-0");
        assert_eq!(silent.health, Health::Down);
        assert!(silent.last_error.ends_with("context deadline exceeded"));
        assert_eq!(silent.scrape_timeout.as_deref(), Some("1s"));
        let port = silent.at.port.unwrap();
        assert_eq!(silent.at.container_port, Some(port));
        assert!(matches!(
            find(&t, &pod(&ns, "silent-0", "127.0.0.1"), port, "/metrics", None),
            Found::Active(v) if v.len() == 1 && v[0].health == Health::Down
        ));
        assert_eq!(t.dropped.len(), 1);
        let d = &t.dropped[0];
        assert_eq!(d.at.pod.as_deref(), Some("ignored-0"));
        assert_eq!(
            d.scrape_pool.as_deref(),
            Some(format!("podMonitor/{ns}/apps/0").as_str())
        );
        let dport = d.at.container_port.unwrap();
        assert!(matches!(
            find(
                &t,
                &pod(&ns, "ignored-0", "127.0.0.1"),
                dport,
                "/metrics",
                None
            ),
            Found::Dropped(_)
        ));
    }

    #[test]
    fn a_target_without_pod_labels_matches_by_address() {
        let body = br#"{"status":"success","data":{"activeTargets":[
            {"discoveredLabels":{"__address__":"10.0.0.7:8080"},"labels":{"job":"static"},
             "scrapePool":"static","scrapeUrl":"http://10.0.0.7:8080/stats","lastError":"","health":"up"}],
            "droppedTargets":[]}}"#;
        let t = parse_targets(body).unwrap();
        let p = pod("a", "web-1", "10.0.0.7");
        assert!(matches!(
            find(&t, &p, 8080, "/stats", None),
            Found::Active(_)
        ));
        assert_eq!(find(&t, &p, 8081, "/stats", None), Found::NotDiscovered);
    }

    #[test]
    fn kubernetes_sd_targets_match_by_discovered_meta_labels_and_container_port() {
        // A scrape_configs job that keeps no namespace/pod label: the discovered meta labels decide.
        let body = br#"{"status":"success","data":{"activeTargets":[
            {"discoveredLabels":{"__address__":"10.0.0.7:9102","__meta_kubernetes_namespace":"a",
              "__meta_kubernetes_pod_name":"web-1","__meta_kubernetes_pod_container_port_number":"9102"},
             "labels":{"job":"kubernetes-pods"},"scrapePool":"kubernetes-pods",
             "scrapeUrl":"http://10.0.0.7:9102/metrics","lastError":"","health":"up"}],"droppedTargets":[]}}"#;
        let t = parse_targets(body).unwrap();
        assert!(matches!(
            find(&t, &pod("a", "web-1", "10.9.9.9"), 9102, "/metrics", None),
            Found::Active(_)
        ));
    }

    #[test]
    fn among_several_targets_of_a_port_those_on_the_path_are_preferred() {
        let body = br#"{"status":"success","data":{"activeTargets":[
            {"labels":{"namespace":"a","pod":"p"},"scrapePool":"x","scrapeUrl":"http://10.0.0.1:80/metrics","health":"down","lastError":"server returned HTTP status 404 Not Found"},
            {"labels":{"namespace":"a","pod":"p"},"scrapePool":"y","scrapeUrl":"http://10.0.0.1:80/stats/prometheus","health":"up"}],
            "droppedTargets":[]}}"#;
        let t = parse_targets(body).unwrap();
        let p = pod("a", "p", "10.0.0.1");
        match find(&t, &p, 80, "/stats/prometheus", None) {
            Found::Active(v) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].scrape_pool, "y");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_responses_say_what_is_wrong() {
        let e = parse_targets(b"<html>503 no healthy upstream</html>").unwrap_err();
        assert!(
            e.to_string().contains("not the JSON of /api/v1/targets"),
            "{e}"
        );
        assert!(e.to_string().contains("503 no healthy upstream"), "{e}");
        let e =
            parse_targets(br#"{"status":"error","errorType":"bad_data","error":"invalid state"}"#)
                .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Prometheus answered with an error: status \"error\", bad_data: invalid state"
        );
        let e = parse_targets(br#"{"status":"success"}"#).unwrap_err();
        assert!(e.to_string().contains("without data"), "{e}");
        // A target without scrapeUrl is not a targets response.
        assert!(parse_targets(
            br#"{"status":"success","data":{"activeTargets":[{"health":"up"}]}}"#
        )
        .is_err());
    }

    #[test]
    fn urls_and_addresses_split_into_host_port_and_path() {
        assert_eq!(
            split_url("http://10.0.0.1:9100/metrics?x=1"),
            (Some("10.0.0.1".into()), Some(9100), "/metrics".into())
        );
        assert_eq!(
            split_url("https://[fd00::1]:8443/m"),
            (Some("fd00::1".into()), Some(8443), "/m".into())
        );
        assert_eq!(
            split_url("https://host/"),
            (Some("host".into()), Some(443), "/".into())
        );
        assert_eq!(split_host_port("fd00::1"), (Some("fd00::1".into()), None));
    }

    #[test]
    fn scrape_errors_are_explained() {
        assert!(
            error_meaning("Get \"http://x/metrics\": context deadline exceeded")
                .contains("times out")
        );
        assert!(is_timeout(
            "Get \"http://x\": dial tcp 10.0.0.1:80: i/o timeout"
        ));
        assert!(!is_timeout(
            "dial tcp 10.0.0.1:80: connect: connection refused"
        ));
        assert!(
            error_meaning("dial tcp 10.0.0.1:80: connect: connection refused")
                .contains("not listening")
        );
        assert!(error_meaning("server returned HTTP status 403 Forbidden").contains("403"));
        assert!(error_meaning("server returned HTTP status 404 Not Found").contains("path"));
        assert!(error_meaning("read: connection reset by peer").contains("mTLS"));
    }
}
