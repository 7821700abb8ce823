//! Which Prometheus API to read for which scraper: the `--prometheus-url` setting, else an address
//! derived from each Prometheus/PrometheusAgent in the index. Pure.

use std::time::Duration;

use super::fetch::Endpoint;
use crate::index::ClusterIndex;
use crate::model::Kind;

/// One `--prometheus-url` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSetting {
    /// `URL`: every scraper without an entry of its own.
    Any(String),
    /// `NAMESPACE/NAME=URL`: the Prometheus (or PrometheusAgent) `NAMESPACE/NAME`.
    For {
        namespace: String,
        name: String,
        url: String,
    },
    /// `off`: read no Prometheus API (`Scraped` stays `NotObserved`).
    Off,
}

impl UrlSetting {
    /// Parses one entry; the error says what is expected.
    pub fn parse(s: &str) -> Result<UrlSetting, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(UrlSetting::Off);
        }
        let url_ok = |u: &str| -> Result<String, String> {
            let scheme_ok = u.starts_with("http://") || u.starts_with("https://");
            let rest = u.split_once("://").map(|(_, r)| r).unwrap_or("");
            if !scheme_ok || rest.is_empty() || rest.starts_with('/') {
                return Err(format!(
                    "{u:?} is not an http(s) URL like http://prometheus-operated.monitoring.svc:9090"
                ));
            }
            u.parse::<http::Uri>()
                .map_err(|e| format!("{u:?} is not a URL: {e}"))?;
            Ok(u.trim_end_matches('/').to_string())
        };
        // `ns/name=URL` — the key has no ':' (a URL always does).
        if let Some((key, url)) = s.split_once('=') {
            if !key.contains(':') {
                let (namespace, name) = key
                    .split_once('/')
                    .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'))
                    .ok_or_else(|| {
                        format!("{key:?} is not NAMESPACE/NAME (in {s:?}: NAMESPACE/NAME=URL)")
                    })?;
                return Ok(UrlSetting::For {
                    namespace: namespace.into(),
                    name: name.into(),
                    url: url_ok(url)?,
                });
            }
        }
        Ok(UrlSetting::Any(url_ok(s)?))
    }
}

/// How to reach a Prometheus that no `--prometheus-url` entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    /// `http://prometheus-operated.<ns>.svc:9090`: cluster DNS, for a process running in the cluster.
    ClusterDns,
    /// The API server's service proxy to `prometheus-operated:web`: works from outside the cluster
    /// (`scrapepath audit` from a laptop) with the caller's credentials (`get services/proxy`).
    ServiceProxy,
}

/// Observed-health settings of the controller and of `audit`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObserveSettings {
    pub urls: Vec<UrlSetting>,
    pub derive: Derive,
    /// Between two reads of one API while it answers.
    pub poll_interval: Duration,
    /// The most a failing API waits between reads (the wait doubles from `poll_interval` up to this).
    pub max_backoff: Duration,
    /// One read, body included.
    pub timeout: Duration,
}

impl ObserveSettings {
    pub fn new(urls: Vec<UrlSetting>, derive: Derive) -> Self {
        ObserveSettings {
            urls,
            derive,
            poll_interval: Duration::from_secs(30),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        }
    }

    /// Whether any API is to be read at all.
    pub fn enabled(&self) -> bool {
        !self.urls.contains(&UrlSetting::Off)
    }

    /// The wait before the next read after `failures` failed reads in a row (0: the last one answered).
    pub fn next_delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return self.poll_interval;
        }
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        self.poll_interval
            .saturating_mul(factor)
            .min(self.max_backoff.max(self.poll_interval))
    }
}

/// Which observation an endpoint feeds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObservationKey {
    /// Every scraper without an observation of its own (a plain `--prometheus-url`).
    Default,
    /// The scraper (namespace, name), all its shards.
    Scraper(String, String),
    /// One shard of a sharded scraper: each shard scrapes (and reports) only its own targets.
    Shard(String, String, u32),
}

impl ObservationKey {
    /// The namespace of the scraper it concerns (`None`: every scraper).
    pub fn namespace(&self) -> Option<&str> {
        match self {
            ObservationKey::Default => None,
            ObservationKey::Scraper(ns, _) | ObservationKey::Shard(ns, _, _) => Some(ns),
        }
    }
}

/// The APIs to read: every explicit entry, then a derived address for each Prometheus/PrometheusAgent
/// of the index that no entry covers (none when a plain `URL` entry covers them all). A sharded one is
/// read shard by shard, at one pod of each (its governing Service would answer from any shard's pod,
/// and each shard reports only the targets it keeps).
pub fn endpoints(
    settings: &ObserveSettings,
    idx: &ClusterIndex,
) -> Vec<(ObservationKey, Endpoint)> {
    if !settings.enabled() {
        return vec![];
    }
    let mut out: Vec<(ObservationKey, Endpoint)> = Vec::new();
    let mut any = false;
    for u in &settings.urls {
        match u {
            UrlSetting::Any(url) => {
                any = true;
                out.push((ObservationKey::Default, Endpoint::Url(url.clone())));
            }
            UrlSetting::For {
                namespace,
                name,
                url,
            } => out.push((
                ObservationKey::Scraper(namespace.clone(), name.clone()),
                Endpoint::Url(url.clone()),
            )),
            UrlSetting::Off => {}
        }
    }
    if !any {
        for p in idx.prometheuses() {
            let key = ObservationKey::Scraper(p.namespace.clone(), p.name.clone());
            if out.iter().any(|(k, _)| k == &key) {
                continue;
            }
            let agent = p.kind == Kind::PrometheusAgent;
            let shards = if p.daemonset_mode { 1 } else { p.shards.max(1) };
            if shards == 1 {
                let ep = match settings.derive {
                    Derive::ClusterDns => Endpoint::operated_url(&p.namespace, agent),
                    Derive::ServiceProxy => Endpoint::operated_proxy(&p.namespace, agent),
                };
                out.push((key, ep));
                continue;
            }
            for shard in 0..shards {
                let pod = shard_pod(idx, p, shard);
                let ep = match settings.derive {
                    Derive::ClusterDns => Endpoint::pod_url(&p.namespace, &pod, agent),
                    Derive::ServiceProxy => Endpoint::pod_proxy(&p.namespace, &pod),
                };
                out.push((
                    ObservationKey::Shard(p.namespace.clone(), p.name.clone(), shard),
                    ep,
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The pod of shard `shard` to read: a Ready one of the index (label `operator.prometheus.io/shard`),
/// else the shard StatefulSet's first replica (`prometheus-<name>[-shard-<n>]-0`).
fn shard_pod(idx: &ClusterIndex, p: &crate::model::PromWorkload, shard: u32) -> String {
    let want = shard.to_string();
    let mut pods: Vec<&crate::model::Pod> = idx
        .pods()
        .map(|(_, pod)| pod)
        .filter(|pod| {
            pod.namespace == p.namespace
                && pod.labels.get("operator.prometheus.io/name") == Some(&p.name)
                && pod.labels.get("operator.prometheus.io/shard") == Some(&want)
                && pod.ready == Some(true)
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    match pods.first() {
        Some(pod) => pod.name.clone(),
        None => format!("{}-0", crate::promop::shard_statefulset(p, shard)),
    }
}

/// A duration as the flags take it: `500ms`, `30s`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 500ms, 5m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?} is not a duration like 30s, 500ms, 5m")),
    };
    if d.is_zero() {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn url_settings_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!(
            UrlSetting::parse("http://prom:9090/"),
            Ok(UrlSetting::Any("http://prom:9090".into()))
        );
        assert_eq!(
            UrlSetting::parse("monitoring/k8s=https://prom.example/prefix"),
            Ok(UrlSetting::For {
                namespace: "monitoring".into(),
                name: "k8s".into(),
                url: "https://prom.example/prefix".into()
            })
        );
        // An `=` inside the URL's query is not a key.
        assert_eq!(
            UrlSetting::parse("http://prom:9090/x?a=b"),
            Ok(UrlSetting::Any("http://prom:9090/x?a=b".into()))
        );
        assert_eq!(UrlSetting::parse("OFF"), Ok(UrlSetting::Off));
        assert!(UrlSetting::parse("prom:9090")
            .unwrap_err()
            .contains("is not an http(s) URL"));
        assert!(UrlSetting::parse("k8s=http://prom:9090")
            .unwrap_err()
            .contains("is not NAMESPACE/NAME"));
        assert!(UrlSetting::parse("http:///metrics").is_err());
    }

    #[test]
    fn backoff_doubles_from_the_poll_interval_up_to_the_cap() {
        let s = ObserveSettings::new(vec![], Derive::ClusterDns);
        let secs: Vec<u64> = (0..8).map(|n| s.next_delay(n).as_secs()).collect();
        assert_eq!(secs, [30, 30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(s.next_delay(u32::MAX).as_secs(), 300);
    }

    fn index(text: &str) -> ClusterIndex {
        let mut idx = ClusterIndex::new();
        let mut stats = crate::load::LoadStats::default();
        for o in crate::load::parse_text(std::path::Path::new("t.yaml"), text, &mut stats).unwrap()
        {
            idx.apply(o);
        }
        idx
    }

    #[test]
    fn endpoints_come_from_the_setting_else_from_each_prometheus() {
        let idx = index(
            r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: PrometheusAgent
metadata: {name: edge, namespace: agents}
"#,
        );
        let derived = endpoints(&ObserveSettings::new(vec![], Derive::ClusterDns), &idx);
        assert_eq!(
            derived,
            [
                (
                    ObservationKey::Scraper("agents".into(), "edge".into()),
                    Endpoint::Url("http://prometheus-agent-operated.agents.svc:9090".into())
                ),
                (
                    ObservationKey::Scraper("monitoring".into(), "k8s".into()),
                    Endpoint::Url("http://prometheus-operated.monitoring.svc:9090".into())
                ),
            ]
        );
        let proxied = endpoints(&ObserveSettings::new(vec![], Derive::ServiceProxy), &idx);
        assert_eq!(
            proxied[1].1,
            Endpoint::ServiceProxy {
                namespace: "monitoring".into(),
                service: "prometheus-operated".into(),
                port: "web".into()
            }
        );
        // One explicit entry replaces the derived address of its scraper only.
        let one = UrlSetting::parse("monitoring/k8s=http://10.0.0.1:9090").unwrap();
        let mixed = endpoints(&ObserveSettings::new(vec![one], Derive::ClusterDns), &idx);
        assert_eq!(mixed.len(), 2);
        assert!(mixed.contains(&(
            ObservationKey::Scraper("monitoring".into(), "k8s".into()),
            Endpoint::Url("http://10.0.0.1:9090".into())
        )));
        // A plain URL serves every scraper: nothing is derived.
        let plain = UrlSetting::parse("http://prom:9090").unwrap();
        assert_eq!(
            endpoints(&ObserveSettings::new(vec![plain], Derive::ClusterDns), &idx),
            [(
                ObservationKey::Default,
                Endpoint::Url("http://prom:9090".into())
            )]
        );
        assert!(endpoints(
            &ObserveSettings::new(vec![UrlSetting::Off], Derive::ClusterDns),
            &idx
        )
        .is_empty());
    }

    #[test]
    fn a_sharded_prometheus_is_read_at_one_pod_of_each_shard() {
        let idx = index(
            r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {shards: 2, replicas: 2}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-k8s-shard-1-1, namespace: monitoring, labels: {operator.prometheus.io/name: k8s, operator.prometheus.io/shard: "1"}}
status: {phase: Running, podIP: 10.0.0.9, conditions: [{type: Ready, status: "True"}]}
"#,
        );
        let key = |s| ObservationKey::Shard("monitoring".into(), "k8s".into(), s);
        // Shard 0 has no pod in the index: its first replica; shard 1: its Ready pod.
        assert_eq!(
            endpoints(&ObserveSettings::new(vec![], Derive::ClusterDns), &idx),
            [
                (
                    key(0),
                    Endpoint::Url(
                        "http://prometheus-k8s-0.prometheus-operated.monitoring.svc:9090".into()
                    )
                ),
                (
                    key(1),
                    Endpoint::Url(
                        "http://prometheus-k8s-shard-1-1.prometheus-operated.monitoring.svc:9090"
                            .into()
                    )
                ),
            ]
        );
        assert_eq!(
            endpoints(&ObserveSettings::new(vec![], Derive::ServiceProxy), &idx)[1].1,
            Endpoint::PodProxy {
                namespace: "monitoring".into(),
                pod: "prometheus-k8s-shard-1-1".into(),
                port: 9090
            }
        );
    }
}
