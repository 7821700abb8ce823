//! Pods as Istio sees them (istio.md A–C, F): sidecar or ambient (rules 1, 3, 20), which inbound ports the
//! sidecar captures (rules 4–6), the sidecar's own ports (rule 7), metrics merging (rules 8–9), and what the
//! scraping client presents (rules 2, 18, 19e).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::MeshConfig;
use crate::model::{Labels, Pod};

pub const PROXY_CONTAINER: &str = "istio-proxy";
/// Envoy's static Prometheus listener (rule 7).
pub const ENVOY_STATS_PORT: u16 = 15090;
/// pilot-agent's status port, serving the merged metrics (rules 7–9).
pub const DEFAULT_STATUS_PORT: u16 = 15020;
pub const HEALTH_PORT: u16 = 15021;
/// The HBONE tunnel port: always RETURNed, never redirected (rule 5).
pub const HBONE_PORT: u16 = 15008;
pub const MERGED_PATH: &str = "/stats/prometheus";

const DATAPLANE_MODE: &str = "istio.io/dataplane-mode";

/// How the mesh reaches a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataplane {
    /// An `istio-proxy` container; `native` when it is an init container (native sidecar).
    Sidecar { native: bool },
    /// Ambient mode: no sidecar, ztunnel on the node.
    Ambient,
    /// Istio never sees the pod's traffic.
    Outside,
}

fn proxy(pod: &Pod) -> Option<&crate::model::Container> {
    // FindSidecar: containers first, then initContainers.
    pod.containers
        .iter()
        .find(|c| !c.init && c.name == PROXY_CONTAINER)
        .or_else(|| {
            pod.containers
                .iter()
                .find(|c| c.init && c.name == PROXY_CONTAINER)
        })
}

/// Rule 1 and 3: sidecar, ambient, or outside the mesh.
pub fn dataplane(pod: &Pod, ns_labels: Option<&Labels>) -> Dataplane {
    if let Some(c) = proxy(pod) {
        return Dataplane::Sidecar { native: c.init };
    }
    if pod.host_network {
        return Dataplane::Outside;
    }
    match pod.labels.get(DATAPLANE_MODE).map(String::as_str) {
        Some("ambient") => Dataplane::Ambient,
        Some(_) => Dataplane::Outside,
        None => {
            if ns_labels
                .and_then(|l| l.get(DATAPLANE_MODE))
                .map(String::as_str)
                == Some("ambient")
            {
                Dataplane::Ambient
            } else {
                Dataplane::Outside
            }
        }
    }
}

/// Where ambient mode was switched on, for messages.
pub fn ambient_source(pod: &Pod) -> &'static str {
    if pod.labels.contains_key(DATAPLANE_MODE) {
        "the pod label istio.io/dataplane-mode=ambient"
    } else {
        "the namespace label istio.io/dataplane-mode=ambient"
    }
}

/// Signs of injection that do not count on their own (rule 1), for messages about pods without a proxy.
pub fn injection_signs(pod: &Pod) -> Vec<&'static str> {
    let mut signs = Vec::new();
    if pod.annotations.contains_key("sidecar.istio.io/status") {
        signs.push("annotation sidecar.istio.io/status");
    }
    if pod
        .labels
        .get("security.istio.io/tlsMode")
        .map(String::as_str)
        == Some("istio")
    {
        signs.push("label security.istio.io/tlsMode=istio");
    }
    signs
}

// ---------------------------------------------------------------------------------------------------------
// Inbound capture (rules 4–6).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Include {
    /// `"*"`: every port except the exclude list.
    All,
    /// `""`: no inbound redirection at all.
    Nothing,
    /// Only these ports; the exclude list is ignored.
    Ports(Vec<u16>),
}

/// The inbound capture of a sidecar pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub include: Include,
    pub exclude: Vec<u16>,
    /// `sidecar.istio.io/interceptionMode: NONE`.
    pub mode_none: bool,
    /// Where the settings were read: the init container's args, or the annotations.
    pub from: String,
}

fn port_list(s: &str) -> Vec<u16> {
    s.split(',')
        .filter_map(|p| p.trim().parse::<u16>().ok())
        .collect()
}

fn include_of(s: &str) -> Include {
    match s.trim() {
        "*" => Include::All,
        "" => Include::Nothing,
        other => Include::Ports(port_list(other)),
    }
}

/// The value of flag `-x` in istio-iptables args (`-x v` or `-x=v`).
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == name {
            return Some(it.next().map(String::as_str).unwrap_or(""));
        }
        if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v);
        }
    }
    None
}

/// The status port (`status.sidecar.istio.io/port`, default 15020; 0 disables it).
pub fn status_port(pod: &Pod) -> u16 {
    pod.annotations
        .get("status.sidecar.istio.io/port")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(DEFAULT_STATUS_PORT)
}

/// Rule 4: the capture settings, from `istio-init`/`istio-validation` args when they carry them, else from
/// the annotations with the injector's defaults.
pub fn capture(pod: &Pod) -> Capture {
    let ann = |k: &str| pod.annotations.get(k).map(String::as_str);
    let mode_none = ann("sidecar.istio.io/interceptionMode") == Some("NONE");
    let init = pod
        .containers
        .iter()
        .find(|c| c.init && (c.name == "istio-init" || c.name == "istio-validation"));
    let cni = init.is_some_and(|c| c.name == "istio-validation");
    let b = init.and_then(|c| flag(&c.args, "-b"));
    let d = init.and_then(|c| flag(&c.args, "-d"));
    let include = match b {
        Some(v) => include_of(v),
        None => include_of(ann("traffic.sidecar.istio.io/includeInboundPorts").unwrap_or("*")),
    };
    let mut exclude = match d {
        Some(v) => port_list(v),
        None => {
            // The template's `-d "15090,15021,<user excludes>,<statusPort>"`.
            let mut e = vec![ENVOY_STATS_PORT, HEALTH_PORT];
            e.extend(port_list(
                ann("traffic.sidecar.istio.io/excludeInboundPorts").unwrap_or(""),
            ));
            let sp = status_port(pod);
            if sp != 0 {
                e.push(sp);
            }
            e
        }
    };
    if cni {
        // The CNI plugin always appends these.
        exclude.extend([DEFAULT_STATUS_PORT, HEALTH_PORT, ENVOY_STATS_PORT]);
    }
    // As written (messages quote them), without repeats.
    let mut seen = std::collections::BTreeSet::new();
    exclude.retain(|p| seen.insert(*p));
    let from = match (init, b.is_some() || d.is_some()) {
        (Some(c), true) => format!("the {} args", c.name),
        _ => "the traffic.sidecar.istio.io annotations (defaults where unset)".to_string(),
    };
    Capture {
        include,
        exclude,
        mode_none,
        from,
    }
}

impl Capture {
    /// Rule 5: `captured(p)`.
    pub fn captured(&self, port: u16) -> bool {
        if self.mode_none || port == HBONE_PORT {
            return false;
        }
        match &self.include {
            Include::All => !self.exclude.contains(&port),
            Include::Nothing => false,
            Include::Ports(p) => p.contains(&port),
        }
    }

    /// Why `port` is not captured, for messages.
    pub fn why_not(&self, port: u16) -> String {
        if self.mode_none {
            return "the pod sets sidecar.istio.io/interceptionMode: NONE, so no inbound traffic is redirected to Envoy".into();
        }
        if port == HBONE_PORT {
            return "15008 is the HBONE tunnel port, which is never redirected".into();
        }
        let list = |v: &[u16]| v.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        match &self.include {
            Include::All => format!(
                "{} exclude it from inbound capture (-b \"*\" -d \"{}\")",
                self.from,
                list(&self.exclude)
            ),
            Include::Nothing => format!(
                "{} include no inbound port (-b \"\"), which disables inbound redirection",
                self.from
            ),
            Include::Ports(p) => format!(
                "{} capture only ports {} (-b \"{}\"), and {port} is not among them",
                self.from,
                list(p),
                list(p)
            ),
        }
    }
}

/// Rule 20: ambient inbound capture (every TCP port but 15008, unless bypassed).
pub fn ambient_bypass(pod: &Pod) -> bool {
    pod.annotations
        .get("ambient.istio.io/bypass-inbound-capture")
        .map(String::as_str)
        == Some("true")
}

// ---------------------------------------------------------------------------------------------------------
// Sidecar ports and metrics merging (rules 7–9).

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawProxyAnnotation {
    proxy_metadata: BTreeMap<String, String>,
}

/// A proxyMetadata value of the pod: the istio-proxy env, the `proxy.istio.io/config` annotation, or the
/// mesh default, with where it was found.
fn proxy_metadata(pod: &Pod, cfg: &MeshConfig, key: &str) -> Option<(String, String)> {
    if let Some((_, v)) = proxy(pod).and_then(|c| c.env.iter().find(|(k, _)| k == key)) {
        return Some((v.clone(), format!("env {key} of istio-proxy")));
    }
    if let Some(text) = pod.annotations.get("proxy.istio.io/config") {
        if let Ok(Some(raw)) = serde_yaml_ng::from_str::<Option<RawProxyAnnotation>>(text) {
            if let Some(v) = raw.proxy_metadata.get(key) {
                return Some((
                    v.clone(),
                    format!("proxyMetadata.{key} in annotation proxy.istio.io/config"),
                ));
            }
        }
    }
    cfg.proxy_metadata.get(key).map(|v| {
        (
            v.clone(),
            format!(
                "meshConfig.defaultConfig.proxyMetadata.{key} ({})",
                cfg.describe_source()
            ),
        )
    })
}

/// Rule 7 exception: `METRICS_LOCALHOST_ACCESS_ONLY=true` (1.22+), with where it is set.
pub fn metrics_localhost_only(pod: &Pod, cfg: &MeshConfig) -> Option<String> {
    proxy_metadata(pod, cfg, "METRICS_LOCALHOST_ACCESS_ONLY")
        .filter(|(v, _)| v.eq_ignore_ascii_case("true"))
        .map(|(_, w)| w)
}

/// Rule 8: whether the injector merges metrics for this pod, and why.
pub fn merge_enabled(pod: &Pod, cfg: &MeshConfig) -> (bool, String) {
    if let Some(v) = pod.annotations.get("prometheus.istio.io/merge-metrics") {
        return (
            v != "false",
            format!("annotation prometheus.istio.io/merge-metrics: {v:?}"),
        );
    }
    match cfg.enable_prometheus_merge {
        Some(b) => (
            b,
            format!(
                "meshConfig.enablePrometheusMerge: {b} ({})",
                cfg.describe_source()
            ),
        ),
        None => (true, "enablePrometheusMerge defaults to true".to_string()),
    }
}

/// What pilot-agent merges into `:15020/stats/prometheus` besides its own and Envoy's metrics (rule 9):
/// the app endpoint it fetches over loopback, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedApp {
    /// `(port, path)`; `None`: no app metrics. The injector records the app's endpoint in
    /// `ISTIO_PROMETHEUS_ANNOTATIONS` only from the `prometheus.io/{scrape,path,port}` annotations the
    /// pod had (`applyPrometheusMerge`: nothing when they are all absent), and the agent fetches the
    /// app only when that variable is set (`status.NewServer`), defaulting port 80 and `/metrics`.
    pub app: Option<(u16, String)>,
    /// Where the answer comes from, for messages.
    pub source: String,
}

/// What a scraper that follows `prometheus.io/*` annotations connects to (the usual `kubernetes-pods` job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationScrape {
    /// `prometheus.io/scrape: "true"` (after the injector's rewrite).
    pub scrape: bool,
    /// `prometheus.io/port`; `None`: every declared port (Prometheus' pod role).
    pub port: Option<u16>,
    pub path: String,
    /// `Some` when merging is on: the scrape goes to the status port and the app's metrics come through it.
    pub merged: Option<MergedApp>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPromAnnotations {
    scrape: String,
    path: String,
    port: String,
}

/// Rules 8–9: what an annotation-driven scraper really connects to. The hook for `monitor.kind: Annotations`
/// (the scrape_configs work calls it); the mesh verdict of the result comes from [`super::decide`].
pub fn annotation_scrape(pod: &Pod, cfg: &MeshConfig) -> AnnotationScrape {
    let ann = |k: &str| pod.annotations.get(k).map(String::as_str);
    let scrape_ann = ann("prometheus.io/scrape");
    let sp = status_port(pod);
    let merging =
        proxy(pod).is_some() && merge_enabled(pod, cfg).0 && scrape_ann != Some("false") && sp != 0;
    if merging {
        let recorded = proxy_metadata(pod, cfg, "ISTIO_PROMETHEUS_ANNOTATIONS").map(|(v, w)| {
            (
                serde_json::from_str::<RawPromAnnotations>(&v).unwrap_or_default(),
                w,
            )
        });
        let rewritten = ann("prometheus.io/port").and_then(|p| p.trim().parse::<u16>().ok())
            == Some(sp)
            && ann("prometheus.io/path") == Some(MERGED_PATH);
        let app = |r: &RawPromAnnotations| {
            let port = r.port.trim().parse().unwrap_or(80);
            let path = if r.path.is_empty() {
                "/metrics"
            } else {
                r.path.as_str()
            };
            (port, path.to_string())
        };
        let merged = match recorded {
            Some((r, w)) => MergedApp {
                app: Some(app(&r)),
                source: w,
            },
            None if rewritten => MergedApp {
                app: None,
                source: "the pod's annotations are already rewritten to the status port and istio-proxy has no ISTIO_PROMETHEUS_ANNOTATIONS".to_string(),
            },
            None => {
                let r = RawPromAnnotations {
                    scrape: ann("prometheus.io/scrape").unwrap_or("").to_string(),
                    path: ann("prometheus.io/path").unwrap_or("").to_string(),
                    port: ann("prometheus.io/port").unwrap_or("").to_string(),
                };
                if r.scrape.is_empty() && r.path.is_empty() && r.port.is_empty() {
                    MergedApp {
                        app: None,
                        source: "the pod has no prometheus.io/scrape, /path or /port annotation for the injector to record".to_string(),
                    }
                } else {
                    MergedApp {
                        app: Some(app(&r)),
                        source: "the pod's prometheus.io annotations, recorded at injection".to_string(),
                    }
                }
            }
        };
        return AnnotationScrape {
            scrape: true,
            port: Some(sp),
            path: MERGED_PATH.to_string(),
            merged: Some(merged),
        };
    }
    AnnotationScrape {
        scrape: scrape_ann == Some("true"),
        port: ann("prometheus.io/port").and_then(|p| p.trim().parse().ok()),
        path: ann("prometheus.io/path").unwrap_or("/metrics").to_string(),
        merged: None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// The scraping client (rules 2, 18, 19e, 20).

/// The peer identity the target's proxy sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Plaintext (or TLS Envoy does not terminate): no identity at all.
    None,
    /// An mTLS identity `<td>/ns/<ns>/sa/<sa>`.
    Identity {
        principal: String,
        namespace: String,
        service_account: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// Has (or, modelled, would get) an istio-proxy sidecar (rule 2).
    pub sidecar: bool,
    /// Scrapes over `https` with Istio-issued certificates (rule 19e).
    pub istio_certs: bool,
    /// Enrolled in ambient: HBONE to ambient targets (rule 20).
    pub ambient: bool,
    pub ip: Option<IpAddr>,
    /// The identity it has when its certificates are accepted.
    pub identity: Peer,
    /// `Prometheus/<version>`.
    pub user_agent: String,
    /// "a sidecar-less Prometheus (monitoring/prometheus-0)".
    pub describe: String,
    /// Doubts the spec marks UNCERTAIN, for messages.
    pub notes: Vec<String>,
}

/// Rule 2: whether a pod carries (or, for a pod modelled from its workload, would get) an istio-proxy.
pub fn has_sidecar(pod: &Pod, ns_labels: Option<&Labels>, modelled: bool) -> bool {
    if proxy(pod).is_some() {
        return true;
    }
    if !modelled || pod.host_network {
        return false;
    }
    // The label wins over the deprecated annotation.
    let opt = pod
        .labels
        .get("sidecar.istio.io/inject")
        .or_else(|| pod.annotations.get("sidecar.istio.io/inject"));
    if opt.map(String::as_str) == Some("false") {
        return false;
    }
    let ns = |k: &str| ns_labels.and_then(|l| l.get(k)).map(String::as_str);
    ns("istio-injection") == Some("enabled")
        || (ns("istio-injection") != Some("disabled") && ns("istio.io/rev").is_some())
        || opt.map(String::as_str) == Some("true")
}

impl Client {
    /// The client a scraper pod is. `https`: the job's scheme; `modelled`: the pod is the one
    /// prometheus-operator would run (its containers are not known).
    pub fn of(
        pod: &Pod,
        ns_labels: Option<&Labels>,
        https: bool,
        modelled: bool,
        version: Option<&str>,
        cfg: &MeshConfig,
    ) -> Client {
        let sidecar = has_sidecar(pod, ns_labels, modelled);
        let output_certs = proxy_metadata(pod, cfg, "OUTPUT_CERTS").is_some();
        let ambient = !sidecar && dataplane(pod, ns_labels) == Dataplane::Ambient;
        let mut notes = Vec::new();
        let istio_certs = sidecar && https && output_certs;
        if sidecar && !istio_certs {
            notes.push(
                "UNCERTAIN: the scraper has an istio-proxy sidecar; scraping pod IPs through an outbound-intercepting sidecar is an open Istio problem (istio#37431), evaluated here as a plaintext client".to_string(),
            );
        }
        let describe = format!(
            "{} Prometheus ({}/{})",
            if istio_certs {
                "an Istio-certificate (https)"
            } else if ambient {
                "an ambient-enrolled"
            } else if sidecar {
                "a sidecar-injected"
            } else {
                "a sidecar-less"
            },
            pod.namespace,
            pod.name
        );
        Client {
            sidecar,
            istio_certs,
            ambient,
            ip: pod.pod_ip.as_deref().and_then(|ip| ip.parse().ok()),
            identity: Peer::Identity {
                principal: format!(
                    "{}/ns/{}/sa/{}",
                    cfg.trust_domain, pod.namespace, pod.service_account
                ),
                namespace: pod.namespace.clone(),
                service_account: pod.service_account.clone(),
            },
            user_agent: format!(
                "Prometheus/{}",
                version.unwrap_or("unknown").trim_start_matches('v')
            ),
            describe,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_read_in_both_spellings() {
        let args: Vec<String> = ["istio-iptables", "-b", "*", "-d=15090,15021"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(flag(&args, "-b"), Some("*"));
        assert_eq!(flag(&args, "-d"), Some("15090,15021"));
        assert_eq!(flag(&args, "-x"), None);
        assert_eq!(port_list(" 1, 2,x,3 "), vec![1, 2, 3]);
    }
}
