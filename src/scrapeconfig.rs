//! Plain Prometheus `scrape_configs` (issue 6, item 2): parse a `prometheus.yml` and compute the targets
//! Prometheus' Kubernetes service discovery yields for the roles `pod`, `endpoints`, `endpointslice`
//! and `ingress`, with its `__meta_kubernetes_*` labels, then the job's `relabel_configs` applied by the
//! one relabel engine ([`crate::relabel`]).
//!
//! Pure: no client, no clock. The meta labels of pods and Services are built by [`crate::promop`], so a
//! PodMonitor and a `kubernetes-pods` job see the same label set.
//!
//! Known approximations (the index does not hold these objects): the `endpoints` role reads the
//! Service's EndpointSlices (an Endpoints object mirrors them), or the pods its selector matches when
//! it has none; `__meta_kubernetes_endpoints_label_*`, `…_endpoint_hostname`, `…_pod_container_id`
//! and the slice's own labels are not attached.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::index::{ClusterIndex, PodId};
use crate::model::{Container, ContainerPort, EndpointSlice, Pod, Service};
use crate::promop::{pod_level_labels, pod_meta_labels, service_meta_labels};
use crate::relabel::{self, Labels, NameScheme, RelabelConfig, RelabelSpec};
use crate::selector::{Operator, Requirement, Selector, Source};

/// Prometheus' defaults.
const DEFAULT_SCRAPE_INTERVAL: &str = "1m";
const DEFAULT_METRICS_PATH: &str = "/metrics";
const DEFAULT_SCHEME: &str = "http";

// ---------------------------------------------------------------------------------------------------------
// Configuration.

/// A parsed `prometheus.yml`, reduced to what target discovery needs.
#[derive(Debug, Clone)]
pub struct PrometheusConfig {
    /// `global.scrape_interval` (default `1m`).
    pub scrape_interval: String,
    pub jobs: Vec<ScrapeJob>,
    /// The first relabel rule Prometheus 2 would refuse although Prometheus 3 loads it: a label name
    /// valid only in Prometheus 3's UTF-8 scheme ([`PrometheusConfig::refusal_for`]).
    pub legacy_refusal: Option<ConfigError>,
}

impl PrometheusConfig {
    /// Why a Prometheus of major version `major` would refuse to load this configuration, when it
    /// would: the rules are read in the UTF-8 label-name scheme of Prometheus 3 (the newest, and what an
    /// unknown version is taken for); Prometheus 2 validates label names in the legacy scheme.
    pub fn refusal_for(&self, major: Option<u32>) -> Option<String> {
        let e = self.legacy_refusal.as_ref()?;
        (major? < 3).then(|| {
            format!("{e} (Prometheus 2 accepts only legacy label names [a-zA-Z_][a-zA-Z0-9_]*; Prometheus 3 accepts UTF-8)")
        })
    }

    pub fn job(&self, name: &str) -> Option<&ScrapeJob> {
        self.jobs.iter().find(|j| j.job_name == name)
    }
}

/// One entry of `scrape_configs`, with Prometheus' defaults filled in and its relabel rules compiled.
#[derive(Debug, Clone)]
pub struct ScrapeJob {
    pub job_name: String,
    pub scheme: String,
    pub metrics_path: String,
    /// The job's `scrape_interval`, else the global one.
    pub scrape_interval: String,
    pub honor_labels: bool,
    pub kubernetes_sd_configs: Vec<KubernetesSd>,
    pub static_configs: Vec<StaticConfig>,
    /// The rules as written.
    pub relabel_configs: Vec<RelabelSpec>,
    /// `params`: the scrape URL's query parameters; each one's first value is the target's
    /// `__param_<name>` label before relabeling, as Prometheus sets it.
    pub params: BTreeMap<String, Vec<String>>,
    relabel: Vec<RelabelConfig>,
}

impl ScrapeJob {
    /// The compiled `relabel_configs`, index for index.
    pub fn relabel_rules(&self) -> &[RelabelConfig] {
        &self.relabel
    }
}

/// The discovery role of a `kubernetes_sd_configs` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Pod,
    Endpoints,
    EndpointSlice,
    Service,
    Node,
    Ingress,
    /// `static_configs` (not a Kubernetes SD role: never parsed from one).
    Static,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pod => "pod",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Service => "service",
            Role::Node => "node",
            Role::Ingress => "ingress",
            Role::Static => "static",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "pod" => Role::Pod,
            "endpoints" => Role::Endpoints,
            "endpointslice" => Role::EndpointSlice,
            "service" => Role::Service,
            "node" => Role::Node,
            "ingress" => Role::Ingress,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `kubernetes_sd_configs` entry.
#[derive(Debug, Clone)]
pub struct KubernetesSd {
    pub role: Role,
    /// `namespaces.names`.
    pub namespaces: Vec<String>,
    /// `namespaces.own_namespace`.
    pub own_namespace: bool,
    pub selectors: Vec<SdSelector>,
    /// `attach_metadata.node`: the roles pod, endpoints and endpointslice attach the labels of the
    /// target's Node (`__meta_kubernetes_node_*`).
    pub attach_node: bool,
    /// `attach_metadata.namespace`: the roles pod, endpoints, endpointslice, service and ingress
    /// attach the labels and annotations of the target's Namespace
    /// (`__meta_kubernetes_namespace_label_*`, `…_labelpresent_*`, `…_annotation_*`,
    /// `…_annotationpresent_*`), read by a cluster-wide Namespace informer.
    pub attach_namespace: bool,
}

impl KubernetesSd {
    /// The namespaces discovered in; `None`: every namespace.
    pub fn discovery_namespaces(&self, prometheus_namespace: &str) -> Option<BTreeSet<String>> {
        let mut set: BTreeSet<String> = self.namespaces.iter().cloned().collect();
        if self.own_namespace {
            set.insert(prometheus_namespace.to_string());
        }
        (!set.is_empty()).then_some(set)
    }

    fn selector(&self, role: Role) -> Option<&SdSelector> {
        self.selectors.iter().find(|s| s.role == role)
    }
}

/// A `selectors` entry: which objects of `role` the informer watches.
#[derive(Debug, Clone)]
pub struct SdSelector {
    pub role: Role,
    pub label: Option<Selector>,
    /// Field requirements as (field, equal?, value).
    pub field: Vec<(String, bool, String)>,
}

impl SdSelector {
    fn matches(&self, labels: &Labels, field: impl Fn(&str) -> Option<String>) -> bool {
        self.label.as_ref().is_none_or(|s| s.matches(labels))
            && self
                .field
                .iter()
                .all(|(f, eq, v)| (field(f).as_deref().unwrap_or("") == v) == *eq)
    }
}

/// A `static_configs` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: Labels,
}

/// A configuration Prometheus would refuse, or one this module cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{path}: {message}", job.as_ref().map(|j| format!("job {j:?}: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The job, when the error is inside one.
    pub job: Option<String>,
    /// The field path, e.g. `scrape_configs[1].kubernetes_sd_configs[0].role`.
    pub path: String,
    pub message: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawConfig {
    global: RawGlobal,
    scrape_configs: Option<Vec<Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawGlobal {
    scrape_interval: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawJob {
    job_name: Option<String>,
    scheme: Option<String>,
    metrics_path: Option<String>,
    scrape_interval: Option<String>,
    honor_labels: bool,
    kubernetes_sd_configs: Vec<RawSd>,
    static_configs: Vec<StaticConfig>,
    relabel_configs: Vec<RelabelSpec>,
    params: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSd {
    role: Option<String>,
    namespaces: RawNamespaces,
    selectors: Vec<RawSelector>,
    attach_metadata: RawAttachMetadata,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAttachMetadata {
    node: bool,
    namespace: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawNamespaces {
    names: Vec<String>,
    own_namespace: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSelector {
    role: Option<String>,
    label: Option<String>,
    field: Option<String>,
}

/// Parses a `prometheus.yml`. Unknown fields are tolerated; errors name the job and the field path.
pub fn parse_config(text: &str) -> Result<PrometheusConfig, ConfigError> {
    let err = |job: Option<&str>, path: String, message: String| ConfigError {
        job: job.map(str::to_string),
        path,
        message,
    };
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        err(None, path, e.into_inner().to_string())
    })?;
    build_config(raw)
}

/// Parses either a whole `prometheus.yml` or a bare list of jobs, as a Prometheus object's
/// `additionalScrapeConfigs` Secret holds them (appended to the generated `scrape_configs`).
pub fn parse_config_or_jobs(text: &str) -> Result<PrometheusConfig, ConfigError> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| ConfigError {
        job: None,
        path: ".".into(),
        message: e.to_string(),
    })?;
    match value {
        Value::Sequence(jobs) => build_config(RawConfig {
            global: RawGlobal::default(),
            scrape_configs: Some(jobs),
        }),
        _ => parse_config(text),
    }
}

/// One job given as a value (e.g. generated, as prometheus-operator generates a ScrapeConfig's),
/// read as [`parse_config`] reads each job, under a global `scrape_interval`.
pub fn job_from_value(
    job: serde_json::Value,
    global_interval: Option<String>,
) -> Result<ScrapeJob, ConfigError> {
    let value: Value = serde_yaml_ng::to_value(&job).map_err(|e| ConfigError {
        job: None,
        path: ".".into(),
        message: e.to_string(),
    })?;
    let mut config = build_config(RawConfig {
        global: RawGlobal {
            scrape_interval: global_interval,
        },
        scrape_configs: Some(vec![value]),
    })?;
    Ok(config.jobs.remove(0))
}

/// The text of a ConfigMap or Secret value: gunzipped when it is gzip (prometheus-operator stores
/// the configuration it generates as `prometheus.yaml.gz`), else read as UTF-8.
pub fn decode_value(bytes: &[u8]) -> Result<String, String> {
    use std::io::Read as _;
    const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .map_err(|e| format!("the value is gzip, but does not decompress to text: {e}"))?;
        return Ok(text);
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "the value is neither gzip nor UTF-8 text".into())
}

/// Whether a text may be a Prometheus configuration or a list of jobs: the only ConfigMap and
/// Secret values the index keeps.
pub fn may_hold_scrape_config(text: &str) -> bool {
    text.contains("scrape_configs") || text.contains("job_name")
}

fn build_config(raw: RawConfig) -> Result<PrometheusConfig, ConfigError> {
    let err = |job: Option<&str>, path: String, message: String| ConfigError {
        job: job.map(str::to_string),
        path,
        message,
    };
    let global_interval = raw
        .global
        .scrape_interval
        .unwrap_or_else(|| DEFAULT_SCRAPE_INTERVAL.to_string());
    if crate::promop::parse_duration_ms(&global_interval).is_none() {
        return Err(err(
            None,
            "global.scrape_interval".into(),
            format!("not a duration: {global_interval:?}"),
        ));
    }
    let mut jobs: Vec<ScrapeJob> = Vec::new();
    let mut legacy_refusal: Option<ConfigError> = None;
    for (i, value) in raw
        .scrape_configs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = format!("scrape_configs[{i}]");
        let name = value
            .get("job_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let job = name.as_deref();
        let rj: RawJob = serde_path_to_error::deserialize(value).map_err(|e| {
            let p = e.path().to_string();
            let path = if p == "." {
                at.clone()
            } else {
                format!("{at}.{p}")
            };
            err(job, path, e.into_inner().to_string())
        })?;
        let Some(job_name) = rj.job_name.filter(|n| !n.is_empty()) else {
            return Err(err(
                None,
                format!("{at}.job_name"),
                "job_name is empty".into(),
            ));
        };
        let job = Some(job_name.as_str());
        if jobs.iter().any(|j| j.job_name == job_name) {
            return Err(err(
                job,
                format!("{at}.job_name"),
                "found multiple scrape configs with this job name".into(),
            ));
        }
        let scheme = rj.scheme.unwrap_or_else(|| DEFAULT_SCHEME.to_string());
        if scheme != "http" && scheme != "https" {
            return Err(err(
                job,
                format!("{at}.scheme"),
                format!("scheme must be http or https, not {scheme:?}"),
            ));
        }
        let scrape_interval = rj
            .scrape_interval
            .unwrap_or_else(|| global_interval.clone());
        if crate::promop::parse_duration_ms(&scrape_interval).is_none() {
            return Err(err(
                job,
                format!("{at}.scrape_interval"),
                format!("not a duration: {scrape_interval:?}"),
            ));
        }
        let mut sds = Vec::new();
        for (k, sd) in rj.kubernetes_sd_configs.into_iter().enumerate() {
            let sd_at = format!("{at}.kubernetes_sd_configs[{k}]");
            let role_text = sd.role.unwrap_or_default();
            let Some(role) = Role::parse(&role_text) else {
                return Err(err(
                    job,
                    format!("{sd_at}.role"),
                    format!("unknown Kubernetes SD role {role_text:?}"),
                ));
            };
            let mut selectors = Vec::new();
            for (s, raw) in sd.selectors.into_iter().enumerate() {
                let s_at = format!("{sd_at}.selectors[{s}]");
                let srole_text = raw.role.unwrap_or_default();
                let srole = Role::parse(&srole_text).ok_or_else(|| {
                    err(
                        job,
                        format!("{s_at}.role"),
                        format!("unknown selector role {srole_text:?}"),
                    )
                })?;
                let allowed: &[Role] = match role {
                    Role::Endpoints => &[Role::Endpoints, Role::Pod, Role::Service],
                    Role::EndpointSlice => &[Role::EndpointSlice, Role::Pod, Role::Service],
                    Role::Pod => &[Role::Pod, Role::Node],
                    other => &[other],
                };
                if !allowed.contains(&srole) {
                    return Err(err(
                        job,
                        format!("{s_at}.role"),
                        format!("{srole} is not a valid selector role for role {role}"),
                    ));
                }
                if selectors.iter().any(|x: &SdSelector| x.role == srole) {
                    return Err(err(
                        job,
                        format!("{s_at}.role"),
                        format!("selector role {srole} is given more than once"),
                    ));
                }
                let label = match raw.label.as_deref().filter(|l| !l.trim().is_empty()) {
                    None => None,
                    Some(l) => Some(
                        parse_label_selector(l)
                            .map_err(|m| err(job, format!("{s_at}.label"), m))?,
                    ),
                };
                let field = match raw.field.as_deref().filter(|f| !f.trim().is_empty()) {
                    None => Vec::new(),
                    Some(f) => {
                        parse_field_selector(f).map_err(|m| err(job, format!("{s_at}.field"), m))?
                    }
                };
                selectors.push(SdSelector {
                    role: srole,
                    label,
                    field,
                });
            }
            sds.push(KubernetesSd {
                role,
                namespaces: sd.namespaces.names,
                own_namespace: sd.namespaces.own_namespace,
                selectors,
                attach_node: sd.attach_metadata.node,
                attach_namespace: sd.attach_metadata.namespace,
            });
        }
        let mut relabel = Vec::new();
        for (r, spec) in rj.relabel_configs.iter().enumerate() {
            let path = format!("{at}.relabel_configs[{r}]");
            relabel.push(
                RelabelConfig::compile_with(spec, NameScheme::Utf8)
                    .map_err(|e| err(job, path.clone(), e.to_string()))?,
            );
            if legacy_refusal.is_none() {
                if let Err(e) = RelabelConfig::compile_with(spec, NameScheme::Legacy) {
                    legacy_refusal = Some(err(job, path, e.to_string()));
                }
            }
        }
        jobs.push(ScrapeJob {
            job_name,
            scheme,
            metrics_path: rj
                .metrics_path
                .unwrap_or_else(|| DEFAULT_METRICS_PATH.to_string()),
            scrape_interval,
            honor_labels: rj.honor_labels,
            kubernetes_sd_configs: sds,
            static_configs: rj.static_configs,
            relabel_configs: rj.relabel_configs,
            params: rj.params,
            relabel,
        });
    }
    Ok(PrometheusConfig {
        scrape_interval: global_interval,
        jobs,
        legacy_refusal,
    })
}

/// A Kubernetes label selector string: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
fn parse_label_selector(text: &str) -> Result<Selector, String> {
    let mut sel = Selector::everything();
    for part in split_top_level(text) {
        let part = part.trim();
        let req = |key: &str, op: Operator| -> Result<Requirement, String> {
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("label selector {text:?}: empty key in {part:?}"));
            }
            Ok(Requirement {
                source: Source::Any,
                key: key.to_string(),
                op,
            })
        };
        let set_op = |rest: &str| -> Option<Vec<String>> {
            let rest = rest.trim();
            let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
            Some(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let r = if let Some((k, v)) = part.split_once("!=") {
            req(k, Operator::NotIn(vec![v.trim().to_string()]))?
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            req(k, Operator::In(vec![v.trim().to_string()]))?
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            let vals = set_op(rest)
                .ok_or_else(|| format!("label selector {text:?}: bad set in {part:?}"))?;
            req(k, Operator::NotIn(vals))?
        } else if let Some((k, rest)) = part.split_once(" in ") {
            let vals = set_op(rest)
                .ok_or_else(|| format!("label selector {text:?}: bad set in {part:?}"))?;
            req(k, Operator::In(vals))?
        } else if let Some(k) = part.strip_prefix('!') {
            req(k, Operator::DoesNotExist)?
        } else if part.contains(['(', ')', ' ']) {
            return Err(format!("label selector {text:?}: cannot parse {part:?}"));
        } else {
            req(part, Operator::Exists)?
        };
        sel = sel.with(r);
    }
    Ok(sel)
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// A field selector string: `a=b,c!=d` (`==` too).
fn parse_field_selector(text: &str) -> Result<Vec<(String, bool, String)>, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (k, true, v)
            } else {
                return Err(format!("field selector {text:?}: cannot parse {part:?}"));
            };
            Ok((k.trim().to_string(), eq, v.trim().to_string()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Targets.

/// A target the job scrapes, after relabeling.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub job: String,
    /// Index into the job's `kubernetes_sd_configs` (into its `static_configs` for role `Static`).
    pub sd: usize,
    pub role: Role,
    /// `__address__` after relabeling.
    pub address: String,
    /// The pod the address names (by pod IP), if any.
    pub pod: Option<PodId>,
    /// The port connected to: the address's, else the scheme's default.
    pub port: u16,
    /// The container and port name the pod declares for `port`, if it does.
    pub container: Option<String>,
    pub port_name: Option<String>,
    pub scheme: String,
    pub path: String,
    /// Every label after relabeling (meta labels included; Prometheus drops `__*` ones afterwards).
    pub labels: Labels,
}

/// Why a discovered target was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// `relabel_configs[index]` (a keep, drop, keepequal or dropequal rule) dropped it.
    Rule(usize),
    /// Relabeling left no `__address__`.
    NoAddress,
}

/// A discovered target the job does not scrape: "why not discovered".
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedTarget {
    pub job: String,
    pub sd: usize,
    pub role: Role,
    /// The pod that was discovered, if any.
    pub pod: Option<PodId>,
    /// The labels before relabeling (Prometheus' `discoveredLabels`).
    pub discovered: Labels,
    pub reason: DropReason,
}

/// What a job's Kubernetes discovery yields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    pub targets: Vec<Target>,
    pub dropped: Vec<DroppedTarget>,
}

/// The targets Prometheus in `prometheus_namespace` scrapes for `job` (roles pod, endpoints,
/// endpointslice and ingress, and `static_configs`; roles service and node yield none here).
pub fn targets(job: &ScrapeJob, idx: &ClusterIndex, prometheus_namespace: &str) -> Vec<Target> {
    discover(job, idx, prometheus_namespace).targets
}

/// What a job's service discovery yields before relabeling: per Kubernetes SD config and static config
/// (its index and role), each target's origin pod and labels (without the job's own: `job`,
/// `__scheme__`, `__metrics_path__`, parameters).
pub fn discovered(
    job: &ScrapeJob,
    idx: &ClusterIndex,
    prometheus_namespace: &str,
) -> Vec<(usize, Role, Found)> {
    // One group per configuration, as Prometheus has one per discovery mechanism, empty ones too.
    let mut groups: Vec<(usize, Role, Found)> = job
        .kubernetes_sd_configs
        .iter()
        .enumerate()
        .map(|(i, sd)| (i, sd.role, Vec::new()))
        .chain((0..job.static_configs.len()).map(|i| (i, Role::Static, Vec::new())))
        .collect();
    each_discovered(job, idx, prometheus_namespace, |i, role, origin, labels| {
        if let Some((_, _, found)) = groups.iter_mut().find(|(j, r, _)| *j == i && *r == role) {
            found.push((origin, labels));
        }
    });
    groups
}

/// [`discovered`], each label set handed to `each` (with its configuration's index and role) as soon as
/// it is built: a role `pod` over 193,000 pods is never held as label sets at once.
fn each_discovered(
    job: &ScrapeJob,
    idx: &ClusterIndex,
    prometheus_namespace: &str,
    mut each: impl FnMut(usize, Role, Option<PodId>, Labels),
) {
    for (i, sd) in job.kubernetes_sd_configs.iter().enumerate() {
        let namespaces = sd.discovery_namespaces(prometheus_namespace);
        let mut found = |(origin, labels)| each(i, sd.role, origin, labels);
        match sd.role {
            Role::Pod => pod_role(sd, idx, &namespaces, &mut found),
            Role::Endpoints | Role::EndpointSlice => endpoints_role(sd, idx, &namespaces)
                .into_iter()
                .for_each(found),
            Role::Ingress => ingress_role(sd, idx, &namespaces)
                .into_iter()
                .for_each(found),
            _ => {}
        }
    }
    // A static target is a label set of its own: `__address__` and the group's labels.
    for (i, st) in job.static_configs.iter().enumerate() {
        for t in &st.targets {
            let mut labels = st.labels.clone();
            labels.insert("__address__".into(), t.clone());
            each(i, Role::Static, None, labels);
        }
    }
}

/// Like [`targets`], also reporting the dropped targets with the rule that dropped them.
pub fn discover(job: &ScrapeJob, idx: &ClusterIndex, prometheus_namespace: &str) -> Discovery {
    discover_with(job, idx, prometheus_namespace, false)
}

/// The `__meta_` labels the engine reads of a job's target after relabeling (an address target's
/// Service, endpoint and readiness, E8; a shard's zone) and of a dropped one (its Service).
const ENGINE_META_LABELS: &[&str] = &[
    "__meta_kubernetes_namespace",
    "__meta_kubernetes_service_name",
    "__meta_kubernetes_endpointslice_address_target_kind",
    "__meta_kubernetes_endpointslice_address_target_name",
    "__meta_kubernetes_endpoint_address_target_kind",
    "__meta_kubernetes_endpoint_address_target_name",
    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
    "__meta_kubernetes_endpoint_ready",
    "__meta_kubernetes_endpointslice_port_name",
    "__meta_kubernetes_endpoint_port_name",
    "__meta_kubernetes_endpointslice_endpoint_node_name",
    "__meta_kubernetes_endpoint_node_name",
    "__meta_kubernetes_endpointslice_endpoint_zone",
    "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone",
    "__meta_kubernetes_node_label_topology_kubernetes_io_zone",
];

/// [`discover`] as the engine keeps it for a `scrape_configs` job: each target's labels and each dropped
/// target's discovered labels without the `__meta_` labels the engine does not read (Prometheus itself
/// drops every `__meta_` label after relabeling). An annotation-based job over 193,000 pods held the
/// whole meta label set of every pod, kept or dropped: half of `check`'s memory.
pub fn discover_lean(job: &ScrapeJob, idx: &ClusterIndex, prometheus_namespace: &str) -> Discovery {
    discover_with(job, idx, prometheus_namespace, true)
}

fn without_unread_meta(labels: &mut Labels) {
    labels.retain(|k, _| !k.starts_with("__meta_") || ENGINE_META_LABELS.contains(&k.as_str()));
}

fn discover_with(
    job: &ScrapeJob,
    idx: &ClusterIndex,
    prometheus_namespace: &str,
    lean: bool,
) -> Discovery {
    let mut out = Discovery::default();
    let mut seen = BTreeSet::new();
    each_discovered(
        job,
        idx,
        prometheus_namespace,
        |i, role, origin, mut labels| {
            labels.insert("job".into(), job.job_name.clone());
            labels
                .entry("__scheme__".into())
                .or_insert_with(|| job.scheme.clone());
            labels
                .entry("__metrics_path__".into())
                .or_insert_with(|| job.metrics_path.clone());
            labels.insert("__scrape_interval__".into(), job.scrape_interval.clone());
            // Prometheus encodes the job's query parameters as labels (the first value of each).
            for (k, v) in &job.params {
                let name = format!("__param_{k}");
                if let Some(first) = v.first() {
                    if labels.get(&name).is_none_or(String::is_empty) {
                        labels.insert(name, first.clone());
                    }
                }
            }
            let mut discovered = labels.clone();
            if lean {
                without_unread_meta(&mut discovered);
            }
            let dropped = |reason| DroppedTarget {
                job: job.job_name.clone(),
                sd: i,
                role,
                pod: origin,
                discovered,
                reason,
            };
            if let Some(rule) = relabel::dropping_rule(&mut labels, &job.relabel) {
                out.dropped.push(dropped(DropReason::Rule(rule)));
                return;
            }
            let Some(address) = labels.get("__address__").cloned() else {
                out.dropped.push(dropped(DropReason::NoAddress));
                return;
            };
            if lean {
                without_unread_meta(&mut labels);
            }
            let scheme = labels
                .get("__scheme__")
                .cloned()
                .unwrap_or_else(|| job.scheme.clone());
            let path = labels
                .get("__metrics_path__")
                .cloned()
                .unwrap_or_else(|| job.metrics_path.clone());
            // As Prometheus: `instance` defaults to the address.
            labels
                .entry("instance".into())
                .or_insert_with(|| address.clone());
            // The scrape pool keeps one target per label set and URL.
            let key: Vec<(String, String)> = labels
                .iter()
                .filter(|(k, _)| {
                    !k.starts_with("__")
                        || k.starts_with("__param_")
                        || matches!(
                            k.as_str(),
                            "__address__" | "__scheme__" | "__metrics_path__"
                        )
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !seen.insert(key) {
                return;
            }
            let (host, port) = split_address(&address);
            let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
            let pod = pod_for(idx, origin, host);
            let declared = pod.and_then(|id| declared_port(idx.pod(id), port, "TCP"));
            out.targets.push(Target {
                job: job.job_name.clone(),
                sd: i,
                role,
                address,
                pod,
                port,
                container: declared.map(|(c, _)| c.name.clone()),
                port_name: declared.and_then(|(_, p)| p.name.clone()),
                scheme,
                path,
                labels,
            });
        },
    );
    out
}

/// What a discovery mechanism finds: each target's origin pod (when a pod's object yields it) and its
/// labels before relabeling.
pub type Found = Vec<(Option<PodId>, Labels)>;

/// `host:port`, `[v6]:port`, or a bare host.
fn split_address(addr: &str) -> (&str, Option<u16>) {
    if let Some(rest) = addr.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            return (h, p.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (addr, None),
    }
}

/// The pod an address host names: the discovered pod when its IP is the host, else a pod with that IP
/// (pods with their own IP before hostNetwork pods, which share the node's).
fn pod_for(idx: &ClusterIndex, origin: Option<PodId>, host: &str) -> Option<PodId> {
    if let Some(id) = origin {
        if idx.pod(id).scrape_ip() == Some(host) {
            return Some(id);
        }
    }
    let mut pods: Vec<(PodId, &Pod)> = idx.pods_by_ip(host).collect();
    pods.sort_by_key(|(_, p)| (p.host_network, p.namespace.clone(), p.name.clone()));
    pods.first().map(|(id, _)| *id)
}

/// The container port a pod declares with this number and protocol.
fn declared_port<'a>(
    pod: &'a Pod,
    number: u16,
    protocol: &str,
) -> Option<(&'a Container, &'a ContainerPort)> {
    pod.containers.iter().find_map(|c| {
        c.ports
            .iter()
            .find(|p| p.number == number && p.protocol.eq_ignore_ascii_case(protocol))
            .map(|p| (c, p))
    })
}

fn in_namespaces(ns: &Option<BTreeSet<String>>, n: &str) -> bool {
    ns.as_ref().is_none_or(|set| set.contains(n))
}

fn pod_field(pod: &Pod, field: &str) -> Option<String> {
    match field {
        "metadata.name" => Some(pod.name.clone()),
        "metadata.namespace" => Some(pod.namespace.clone()),
        "spec.nodeName" => pod.node_name.clone(),
        "status.phase" => Some(pod.phase.clone()),
        "status.podIP" => pod.pod_ip.clone(),
        "spec.serviceAccountName" => Some(pod.service_account.clone()),
        _ => None,
    }
}

fn object_field(namespace: &str, name: &str, field: &str) -> Option<String> {
    match field {
        "metadata.name" => Some(name.to_string()),
        "metadata.namespace" => Some(namespace.to_string()),
        _ => None,
    }
}

/// Whether the informer for `role` sees a pod (no selector: every pod).
fn pod_visible(sd: &KubernetesSd, pod: &Pod) -> bool {
    sd.selector(Role::Pod)
        .is_none_or(|s| s.matches(&pod.labels, |f| pod_field(pod, f)))
}

fn service_visible(sd: &KubernetesSd, svc: &Service) -> bool {
    sd.selector(Role::Service)
        .is_none_or(|s| s.matches(&svc.labels, |f| object_field(&svc.namespace, &svc.name, f)))
}

/// Every pod in the discovered namespaces, in (namespace, name) order.
fn pods_in<'a>(
    idx: &'a ClusterIndex,
    namespaces: &Option<BTreeSet<String>>,
) -> Vec<(PodId, &'a Pod)> {
    let mut pods: Vec<(PodId, &Pod)> = match namespaces {
        Some(set) => set
            .iter()
            .flat_map(|ns| idx.select_pods(ns, &Selector::everything()))
            .collect(),
        None => idx.pods().collect(),
    };
    pods.retain(|(_, p)| in_namespaces(namespaces, &p.namespace));
    pods.sort_by(|a, b| (&a.1.namespace, &a.1.name).cmp(&(&b.1.namespace, &b.1.name)));
    pods
}

/// Role pod: one target per declared container port, one per container without ports (address: the
/// pod IP), containers before init containers; pods without an IP yield none, nor, with node
/// metadata, pods on a Node the input lacks ([`crate::promop::pod_node_known`]).
fn pod_role(
    sd: &KubernetesSd,
    idx: &ClusterIndex,
    namespaces: &Option<BTreeSet<String>>,
    out: &mut impl FnMut((Option<PodId>, Labels)),
) {
    for (id, pod) in pods_in(idx, namespaces) {
        let Some(ip) = pod.scrape_ip() else { continue };
        if !pod_visible(sd, pod)
            || (sd.attach_node && !crate::promop::pod_node_known(idx, pod.node_name.as_deref()))
        {
            continue;
        }
        let mut node = node_labels(sd, idx, pod.node_name.as_deref());
        node.extend(namespace_labels(sd, idx, &pod.namespace));
        for init in [false, true] {
            for c in pod.containers.iter().filter(|c| c.init == init) {
                let with_node = |mut l: Labels| {
                    l.extend(node.clone());
                    l
                };
                if c.ports.is_empty() {
                    out((Some(id), with_node(pod_meta_labels(pod, ip, c, None))));
                }
                for p in c.ports.iter() {
                    out((Some(id), with_node(pod_meta_labels(pod, ip, c, Some(p)))));
                }
            }
        }
    }
}

/// With `attach_metadata.node`, the labels of Node `name` as Prometheus attaches them.
fn node_labels(sd: &KubernetesSd, idx: &ClusterIndex, name: Option<&str>) -> Labels {
    if sd.attach_node {
        crate::promop::node_meta_labels(idx, name)
    } else {
        Labels::new()
    }
}

/// With `attach_metadata.namespace`, the labels and annotations of Namespace `name` as Prometheus
/// attaches them (`addNamespaceLabels`: no `…_namespace_name`, the namespace is already
/// `__meta_kubernetes_namespace`). A namespace the input lacks has the label the API server always
/// sets (`kubernetes.io/metadata.name`) and no annotation.
fn namespace_labels(sd: &KubernetesSd, idx: &ClusterIndex, name: &str) -> Labels {
    if !sd.attach_namespace {
        return Labels::new();
    }
    let annotations = idx
        .namespace(name)
        .map(|n| n.annotations.clone())
        .unwrap_or_default();
    let mut l = object_meta_labels("namespace", name, &idx.namespace_labels(name), &annotations);
    l.remove("__meta_kubernetes_namespace_name");
    l
}

/// One endpoint address of a Service with its ports, as an EndpointSlice (or the pods the Service
/// selects, when it has no slice) publishes it.
struct Address<'a> {
    slice: Option<&'a EndpointSlice>,
    ip: String,
    ready: bool,
    pod: Option<(PodId, &'a Pod)>,
    /// The endpoint's `targetRef` (kind, name), `nodeName` and `zone`.
    target: Option<(String, String)>,
    node_name: Option<String>,
    zone: Option<String>,
    /// (name, number, protocol).
    ports: Vec<(Option<String>, u16, String)>,
}

fn addresses_of<'a>(
    idx: &'a ClusterIndex,
    ns: &'a str,
    service: &str,
    svc: Option<&'a Service>,
) -> Vec<Address<'a>> {
    let mut out = Vec::new();
    for s in idx
        .slices_in(ns)
        .filter(|s| s.service.as_deref() == Some(service))
    {
        let ports: Vec<(Option<String>, u16, String)> = s
            .ports
            .iter()
            .filter_map(|p| {
                Some((
                    p.name.clone(),
                    u16::try_from(p.port?).ok()?,
                    p.protocol.clone(),
                ))
            })
            .collect();
        for e in &s.endpoints {
            for ip in &e.addresses {
                let pod = match &e.pod {
                    Some(name) => idx.pod_by_name(ns, name),
                    None => None,
                };
                out.push(Address {
                    slice: Some(s),
                    ip: ip.clone(),
                    ready: e.ready,
                    pod,
                    target: e.target.clone(),
                    node_name: e.node_name.clone(),
                    zone: e.zone.clone(),
                    ports: ports.clone(),
                });
            }
        }
    }
    if !out.is_empty() {
        return out;
    }
    // No slice in the input: what the endpoints controller would publish for the selected pods.
    let Some(svc) = svc else { return out };
    for (id, pod, ip, ports) in crate::promop::selector_endpoints(svc, idx) {
        out.push(Address {
            slice: None,
            ip: ip.to_string(),
            ready: pod.ready.unwrap_or(false),
            pod: Some((id, pod)),
            target: Some(("Pod".to_string(), pod.name.clone())),
            // What the endpoints controller publishes: the pod's node, and its zone.
            node_name: pod.node_name.clone(),
            zone: crate::promop::node_zone(idx, pod.node_name.as_deref()),
            ports,
        });
    }
    out
}

/// Roles endpoints and endpointslice: one target per address × port, with the Service's and the
/// backing pod's labels, plus one per container port of a backing pod that no endpoint port covers.
fn endpoints_role(
    sd: &KubernetesSd,
    idx: &ClusterIndex,
    namespaces: &Option<BTreeSet<String>>,
) -> Found {
    let slice_role = sd.role == Role::EndpointSlice;
    let ns_list: Vec<String> = match namespaces {
        Some(set) => set.iter().cloned().collect(),
        None => idx.service_namespaces(),
    };
    let mut out = Vec::new();
    for ns in ns_list {
        // Every Service name with slices, and every Service (whose pods stand in when it has none).
        let names: BTreeSet<String> = idx
            .slices_in(&ns)
            .filter_map(|s| s.service.clone())
            .chain(idx.services_in(&ns).map(|s| s.name.clone()))
            .collect();
        for name in names {
            let svc = idx.service(&ns, &name);
            let own_role = if slice_role {
                Role::EndpointSlice
            } else {
                Role::Endpoints
            };
            // The Endpoints object carries the Service's labels (the controller copies them).
            let own_labels = svc.map(|s| s.labels.clone()).unwrap_or_default();
            let addrs = addresses_of(idx, &ns, &name, svc);
            if addrs.is_empty() {
                continue;
            }
            let mut group = namespace_labels(sd, idx, &ns);
            group.insert("__meta_kubernetes_namespace".into(), ns.clone());
            if let Some(svc) = svc.filter(|s| service_visible(sd, s)) {
                group.extend(service_meta_labels(svc));
            }
            if !slice_role {
                group.insert("__meta_kubernetes_endpoints_name".into(), name.clone());
            }
            let mut seen: Vec<SeenPod<'_>> = Vec::new();
            for a in &addrs {
                if slice_role {
                    let slice_name = a
                        .slice
                        .map(|s| s.name.clone())
                        .unwrap_or_else(|| name.clone());
                    let visible = sd.selector(own_role).is_none_or(|s| {
                        s.matches(&own_labels, |f| object_field(&ns, &slice_name, f))
                    });
                    if !visible {
                        continue;
                    }
                } else if !sd
                    .selector(own_role)
                    .is_none_or(|s| s.matches(&own_labels, |f| object_field(&ns, &name, f)))
                {
                    continue;
                }
                let pod = a.pod.filter(|(_, p)| pod_visible(sd, p));
                if let Some((id, p)) = pod {
                    if !seen.iter().any(|(sid, _, _)| *sid == id) {
                        seen.push((id, p, BTreeSet::new()));
                    }
                }
                for (pname, number, protocol) in &a.ports {
                    let mut l = match pod {
                        Some((_, p)) => {
                            let ip = p.pod_ip.as_deref().unwrap_or(&a.ip);
                            match declared_port(p, *number, protocol) {
                                Some((c, cp)) => {
                                    if let Some(s) = seen.iter_mut().find(|s| std::ptr::eq(s.1, p))
                                    {
                                        s.2.insert((*number, protocol.to_ascii_uppercase()));
                                    }
                                    pod_meta_labels(p, ip, c, Some(cp))
                                }
                                None => pod_level_labels(p, ip),
                            }
                        }
                        None => Labels::new(),
                    };
                    l.extend(group.clone());
                    l.insert("__address__".into(), join_host_port(&a.ip, *number));
                    // Any targetRef (a Node's for the kubelet endpoints), as Prometheus sets it.
                    let target = a.target.clone();
                    if slice_role {
                        let e = "__meta_kubernetes_endpointslice_";
                        l.insert(
                            format!("{e}name"),
                            a.slice
                                .map(|s| s.name.clone())
                                .unwrap_or_else(|| name.clone()),
                        );
                        l.insert(
                            format!("{e}address_type"),
                            if a.ip.contains(':') { "IPv6" } else { "IPv4" }.into(),
                        );
                        l.insert(format!("{e}endpoint_conditions_ready"), a.ready.to_string());
                        l.insert(format!("{e}port"), number.to_string());
                        l.insert(format!("{e}port_protocol"), protocol.clone());
                        if let Some(n) = pname {
                            l.insert(format!("{e}port_name"), n.clone());
                        }
                        if let Some((kind, name)) = target {
                            l.insert(format!("{e}address_target_kind"), kind);
                            l.insert(format!("{e}address_target_name"), name);
                        }
                        if let Some(n) = &a.node_name {
                            l.insert(format!("{e}endpoint_node_name"), n.clone());
                        }
                        if let Some(z) = &a.zone {
                            l.insert(format!("{e}endpoint_zone"), z.clone());
                        }
                    } else {
                        let e = "__meta_kubernetes_endpoint_";
                        l.insert(format!("{e}ready"), a.ready.to_string());
                        l.insert(format!("{e}port_name"), pname.clone().unwrap_or_default());
                        l.insert(format!("{e}port_protocol"), protocol.clone());
                        if let Some((kind, name)) = target {
                            l.insert(format!("{e}address_target_kind"), kind);
                            l.insert(format!("{e}address_target_name"), name);
                        }
                        if let Some(n) = &a.node_name {
                            l.insert(format!("{e}node_name"), n.clone());
                        }
                    }
                    // Prometheus attaches the Node of `nodeName`, else of a Node targetRef.
                    let node = a.node_name.as_deref().or(a
                        .target
                        .as_ref()
                        .filter(|(kind, _)| kind == "Node")
                        .map(|(_, n)| n.as_str()));
                    l.extend(node_labels(sd, idx, node));
                    out.push((a.pod.map(|(id, _)| id), l));
                }
            }
            // Container ports of the backing pods that no endpoint port covers.
            for (id, p, covered) in seen {
                let Some(ip) = p.scrape_ip() else { continue };
                for init in [false, true] {
                    for c in p.containers.iter().filter(|c| c.init == init) {
                        for cp in c.ports.iter() {
                            if covered.contains(&(cp.number, cp.protocol.to_ascii_uppercase())) {
                                continue;
                            }
                            let mut l = pod_meta_labels(p, ip, c, Some(cp));
                            l.extend(group.clone());
                            out.push((Some(id), l));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Role ingress (`discovery/kubernetes/ingress.go`, `buildIngress`): per Ingress its namespace, name,
/// class, labels and annotations; one target per rule × path of its `http` section (`/` when a path
/// is empty, a single `/` without an `http` section; a rule without paths yields none), `__address__` the
/// rule's host (empty when it has none), scheme `https` when a TLS entry's host matches the rule's
/// host (equal, or a `*.` pattern of as many labels), else `http`.
fn ingress_role(
    sd: &KubernetesSd,
    idx: &ClusterIndex,
    namespaces: &Option<BTreeSet<String>>,
) -> Found {
    let ingresses: Vec<&crate::model::IngressObject> = match namespaces {
        Some(set) => set.iter().flat_map(|ns| idx.ingresses_in(ns)).collect(),
        None => idx.ingresses().collect(),
    };
    let mut out = Vec::new();
    for ing in ingresses {
        let visible = sd
            .selector(Role::Ingress)
            .is_none_or(|s| s.matches(&ing.labels, |f| object_field(&ing.namespace, &ing.name, f)));
        if !visible {
            continue;
        }
        let mut group = object_meta_labels("ingress", &ing.name, &ing.labels, &ing.annotations);
        group.extend(namespace_labels(sd, idx, &ing.namespace));
        group.insert("__meta_kubernetes_namespace".into(), ing.namespace.clone());
        if let Some(class) = &ing.class_name {
            group.insert("__meta_kubernetes_ingress_class_name".into(), class.clone());
        }
        for rule in &ing.rules {
            let https = ing
                .tls_hosts
                .iter()
                .any(|pattern| matches_hostname_pattern(pattern, &rule.host));
            let paths: Vec<String> = match &rule.paths {
                None => vec!["/".to_string()],
                Some(paths) => paths
                    .iter()
                    .map(|p| match p.as_deref() {
                        None | Some("") => "/".to_string(),
                        Some(p) => p.to_string(),
                    })
                    .collect(),
            };
            for path in paths {
                let mut l = group.clone();
                l.insert("__address__".into(), rule.host.clone());
                l.insert(
                    "__meta_kubernetes_ingress_scheme".into(),
                    if https { "https" } else { "http" }.into(),
                );
                l.insert("__meta_kubernetes_ingress_host".into(), rule.host.clone());
                l.insert("__meta_kubernetes_ingress_path".into(), path);
                out.push((None, l));
            }
        }
    }
    out
}

/// `addObjectMetaLabels`: `__meta_kubernetes_<role>_name`, and per label and annotation its value and
/// `…present` = `true`, names sanitized.
pub fn object_meta_labels(role: &str, name: &str, labels: &Labels, annotations: &Labels) -> Labels {
    let m = format!("__meta_kubernetes_{role}_");
    let mut l = Labels::new();
    l.insert(format!("{m}name"), name.to_string());
    for (kind, map) in [("label", labels), ("annotation", annotations)] {
        for (k, v) in map {
            let s = relabel::sanitize_label_name(k);
            l.insert(format!("{m}{kind}_{s}"), v.clone());
            l.insert(format!("{m}{kind}present_{s}"), "true".into());
        }
    }
    l
}

/// `matchesHostnamePattern`: equal, or a pattern whose first label is `*` with as many labels as the
/// host and the others equal.
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    p[0] == "*" && p.len() == h.len() && p[1..] == h[1..]
}

/// A pod backing an address, with the (port, protocol) pairs endpoint ports cover.
type SeenPod<'a> = (PodId, &'a Pod, BTreeSet<(u16, String)>);

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_parse_like_kubernetes() {
        let s = parse_label_selector("app=web, tier!=db,env in (a, b),!legacy,team").unwrap();
        let l = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(s.matches(&l(&[("app", "web"), ("env", "b"), ("team", "x")])));
        assert!(!s.matches(&l(&[("app", "web"), ("env", "c"), ("team", "x")])));
        assert!(!s.matches(&l(&[
            ("app", "web"),
            ("env", "a"),
            ("team", "x"),
            ("legacy", "1")
        ])));
        assert!(parse_label_selector("app in a,b)").is_err());
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address("10.0.0.1:9090"), ("10.0.0.1", Some(9090)));
        assert_eq!(split_address("10.0.0.1"), ("10.0.0.1", None));
        assert_eq!(split_address("[fd00::1]:80"), ("fd00::1", Some(80)));
        assert_eq!(split_address("fd00::1"), ("fd00::1", None));
    }

    #[test]
    fn errors_name_the_job_and_the_field_path() {
        let e = parse_config(
            "scrape_configs:\n- job_name: a\n  kubernetes_sd_configs:\n  - role: pods\n",
        )
        .unwrap_err();
        assert_eq!(e.job.as_deref(), Some("a"));
        assert_eq!(e.path, "scrape_configs[0].kubernetes_sd_configs[0].role");
        let e =
            parse_config("scrape_configs:\n- job_name: b\n  honor_labels: maybe\n").unwrap_err();
        assert_eq!(e.job.as_deref(), Some("b"));
        assert_eq!(e.path, "scrape_configs[0].honor_labels");
        let e = parse_config(
            "scrape_configs:\n- job_name: c\n  relabel_configs:\n  - {action: bogus}\n",
        )
        .unwrap_err();
        assert_eq!(e.path, "scrape_configs[0].relabel_configs[0]");
        assert!(e.to_string().starts_with("job \"c\": "), "{e}");
        assert!(parse_config("scrape_configs: 3").is_err());
        assert!(parse_config(": : :").is_err());
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let c = parse_config(
            "global: {scrape_interval: 15s, evaluation_interval: 15s}\nrule_files: [x]\nscrape_configs:\n- job_name: a\n  tls_config: {insecure_skip_verify: true}\n- job_name: b\n  scrape_interval: 5s\n  scheme: https\n  metrics_path: /m\n",
        )
        .unwrap();
        let a = c.job("a").unwrap();
        assert_eq!(
            (
                a.scheme.as_str(),
                a.metrics_path.as_str(),
                a.scrape_interval.as_str()
            ),
            ("http", "/metrics", "15s")
        );
        let b = c.job("b").unwrap();
        assert_eq!(
            (
                b.scheme.as_str(),
                b.metrics_path.as_str(),
                b.scrape_interval.as_str()
            ),
            ("https", "/m", "5s")
        );
        assert_eq!(parse_config("").unwrap().scrape_interval, "1m");
    }
}

#[cfg(test)]
mod name_scheme_tests {
    use super::*;

    const UTF8_TARGET: &str = r#"
scrape_configs:
- job_name: pods
  kubernetes_sd_configs: [{role: pod}]
  relabel_configs:
  - source_labels: [__meta_kubernetes_pod_label_app]
    target_label: app.kubernetes.io/name
"#;

    #[test]
    fn a_utf8_label_name_loads_in_prometheus_3_and_is_refused_by_prometheus_2() {
        let c = parse_config(UTF8_TARGET).expect("Prometheus 3 loads it");
        assert_eq!(c.refusal_for(Some(3)), None);
        // An unknown version is taken for the newest.
        assert_eq!(c.refusal_for(None), None);
        let why = c.refusal_for(Some(2)).expect("Prometheus 2 refuses it");
        assert!(
            why.contains("relabel_configs[0]") && why.contains("legacy label names"),
            "{why}"
        );
        // A legacy name is fine for both.
        let legacy = parse_config(&UTF8_TARGET.replace("app.kubernetes.io/name", "app")).unwrap();
        assert_eq!(legacy.refusal_for(Some(2)), None);
    }
}
