//! prometheus-operator semantics (`semantics/prometheus-operator.md`): which Prometheus/PrometheusAgent
//! selects which monitor and why not (A1–A10), and which targets a monitor yields (B, C).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use regex::Regex;

use crate::index::{ClusterIndex, PodId};
use crate::model::{
    Container, ContainerPort, Kind, Labels, Monitor, MonitorEndpoint, MonitorKind, Pod,
    PromWorkload, ScrapeClass, ScrapeConfigResource, Service,
};
use crate::relabel::{self, sanitize_label_name, RelabelConfig};
use crate::selector::{Operator, Selector};

pub mod probe;
pub use probe::{probe_job, probe_rejections, selects_probe, validate_prober_url};

/// Why a workload does not use a monitor.
#[derive(Debug, Clone, PartialEq)]
pub enum NotSelected {
    Paused,
    /// A5: all four selectors null; the operator generates no scrape configuration.
    Unmanaged,
    /// A8: a DaemonSet-mode PrometheusAgent renders only PodMonitors.
    KindNotRendered,
    InvalidSelector(String),
    /// A2: the monitor's labels miss these requirements (`release=kube-prometheus-stack`).
    LabelsMismatch(Vec<String>),
    /// A2 with a null selector: nothing is selected.
    NullSelector,
    /// A3: the monitor's namespace is not among the namespaces the workload selects.
    NamespaceNotSelected {
        selector: String,
    },
}

impl NotSelected {
    /// Text for a condition message, naming the workload.
    pub fn message(&self, p: &PromWorkload, m: &Monitor) -> String {
        self.message_for(p, m.kind.kind(), &m.namespace, &m.name)
    }

    /// Text for a condition message about the configuration resource `mk ns/name` (a PodMonitor,
    /// ServiceMonitor or ScrapeConfig), naming the workload.
    pub fn message_for(&self, p: &PromWorkload, mk: Kind, ns: &str, name: &str) -> String {
        let pk = p.kind;
        let who = format!("{pk} {}/{}", p.namespace, p.name);
        let (sel_field, ns_field) = selector_fields(mk);
        match self {
            NotSelected::Paused => format!("{who} is paused (spec.paused): it reconciles no monitor"),
            NotSelected::Unmanaged => format!(
                "{who} has every monitor selector null, so prometheus-operator leaves its configuration unmanaged and generates no scrape job"
            ),
            NotSelected::KindNotRendered => {
                format!("{who} runs in DaemonSet mode, which renders only PodMonitors, not {mk}s")
            }
            NotSelected::InvalidSelector(e) => format!("{who} has a selector that does not parse ({e}): its whole reconcile fails"),
            NotSelected::LabelsMismatch(missing) => format!(
                "{who} selects {mk}s by spec.{sel_field}; {mk} {ns}/{name} lacks {}: add the label{} to the {mk}",
                missing.join(", "),
                if missing.len() == 1 { "" } else { "s" }
            ),
            NotSelected::NullSelector => format!(
                "{who} has no spec.{sel_field} (null selects nothing): it uses no {mk} at all"
            ),
            NotSelected::NamespaceNotSelected { selector } => format!(
                "{who} takes {mk}s only from namespaces matching spec.{ns_field} ({selector}); namespace {ns} does not match"
            ),
        }
    }
}

fn is_unmanaged(p: &PromWorkload) -> bool {
    p.kind == Kind::Prometheus
        && matches!(&p.pod_monitor_selector, Ok(s) if s.nothing)
        && matches!(&p.service_monitor_selector, Ok(s) if s.nothing)
        && !p.other_selectors_set
}

/// The workload's selector fields for a kind of configuration resource (monitor and namespace).
fn selector_fields(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::ServiceMonitor => ("serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
        Kind::ScrapeConfig => ("scrapeConfigSelector", "scrapeConfigNamespaceSelector"),
        Kind::Probe => ("probeSelector", "probeNamespaceSelector"),
        _ => ("podMonitorSelector", "podMonitorNamespaceSelector"),
    }
}

/// A1–A5, A8: does `p` select `m`? The label check comes before the namespace check, as users meet them.
pub fn selects(p: &PromWorkload, m: &Monitor, idx: &ClusterIndex) -> Result<(), NotSelected> {
    let (sel, ns_sel) = match m.kind {
        MonitorKind::PodMonitor => (&p.pod_monitor_selector, &p.pod_monitor_ns_selector),
        MonitorKind::ServiceMonitor => {
            (&p.service_monitor_selector, &p.service_monitor_ns_selector)
        }
    };
    select_by(
        p,
        m.kind.kind(),
        (sel, ns_sel),
        &m.labels,
        &m.namespace,
        idx,
    )
}

/// A2, A3 for a ScrapeConfig: `spec.scrapeConfigSelector` (null selects nothing, `{}` everything)
/// and `spec.scrapeConfigNamespaceSelector` (null: the workload's own namespace), exactly as
/// prometheus-operator's `selectObjects` applies them to monitors.
pub fn selects_scrape_config(
    p: &PromWorkload,
    sc: &ScrapeConfigResource,
    idx: &ClusterIndex,
) -> Result<(), NotSelected> {
    select_by(
        p,
        Kind::ScrapeConfig,
        (&p.scrape_config_selector, &p.scrape_config_ns_selector),
        &sc.labels,
        &sc.namespace,
        idx,
    )
}

type Selectors<'a> = (
    &'a Result<Selector, crate::selector::SelectorError>,
    &'a Option<Result<Selector, crate::selector::SelectorError>>,
);

fn select_by(
    p: &PromWorkload,
    kind: Kind,
    (sel, ns_sel): Selectors<'_>,
    labels: &Labels,
    namespace: &str,
    idx: &ClusterIndex,
) -> Result<(), NotSelected> {
    if p.paused {
        return Err(NotSelected::Paused);
    }
    if is_unmanaged(p) {
        return Err(NotSelected::Unmanaged);
    }
    if p.daemonset_mode && kind != Kind::PodMonitor {
        return Err(NotSelected::KindNotRendered);
    }
    let sel = sel
        .as_ref()
        .map_err(|e| NotSelected::InvalidSelector(e.to_string()))?;
    if sel.nothing {
        return Err(NotSelected::NullSelector);
    }
    let unmet: Vec<String> = sel.unmet(labels).iter().map(|r| r.to_string()).collect();
    if !unmet.is_empty() {
        return Err(NotSelected::LabelsMismatch(unmet));
    }
    match ns_sel {
        None if namespace != p.namespace => Err(NotSelected::NamespaceNotSelected {
            selector: format!("null: only its own namespace {}", p.namespace),
        }),
        None => Ok(()),
        Some(Err(e)) => Err(NotSelected::InvalidSelector(e.to_string())),
        Some(Ok(ns)) if ns.matches(&idx.namespace_labels(namespace)) => Ok(()),
        Some(Ok(ns)) => Err(NotSelected::NamespaceNotSelected {
            selector: ns.to_string(),
        }),
    }
}

/// A6: why prometheus-operator would reject a selected monitor (empty: accepted).
pub fn rejections(p: &PromWorkload, m: &Monitor) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = &m.selector {
        out.push(format!("spec.selector: {e}"));
    }
    // Before any endpoint: Kubernetes SD selectors (the role selector mechanism) came in 2.17.
    if let Some((major, minor)) = p.prometheus_version().filter(|v| *v < (2, 17)) {
        if m.role_selector {
            out.push(format!(
                "spec.selectorMechanism: RoleSelector needs Prometheus 2.17 or newer; {} {}/{} runs {major}.{minor}",
                p.kind, p.namespace, p.name
            ));
        }
    }
    let list = match m.kind {
        MonitorKind::PodMonitor => "podMetricsEndpoints",
        MonitorKind::ServiceMonitor => "endpoints",
    };
    for (i, e) in m.endpoints.iter().enumerate() {
        let at = format!("spec.{list}[{i}]");
        // prometheus-operator checks a ServiceMonitor endpoint's files, then its authentication, then
        // its timeout and relabelings; a PodMonitor endpoint's authentication comes last. It stops at
        // the first problem: the first listed here is the one its status names.
        let service = m.kind == MonitorKind::ServiceMonitor;
        if p.deny_fs_access && service {
            if e.has_bearer_token_file {
                out.push(format!(
                    "{at}: bearerTokenFile reads a file of the Prometheus pod, which spec.arbitraryFSAccessThroughSMs.deny forbids"
                ));
            }
            if e.has_tls_files {
                out.push(format!(
                    "{at}: tlsConfig caFile/certFile/keyFile read files of the Prometheus pod, which spec.arbitraryFSAccessThroughSMs.deny forbids"
                ));
            }
        }
        if service && e.auth_methods > 1 {
            out.push(format!(
                "{at}: at most one of authorization, basicAuth, bearerTokenSecret and oauth2 may be set"
            ));
        }
        out.extend(timeout_rejection(p, &at, &e.interval, &e.scrape_timeout));
        for (field, rules) in [
            ("relabelings", &e.relabelings),
            ("metricRelabelings", &e.metric_relabelings),
        ] {
            out.extend(relabel_rejections(p, &format!("{at}.{field}"), rules));
        }
        if !service && e.auth_methods > 1 {
            out.push(format!(
                "{at}: at most one of authorization, basicAuth, bearerTokenSecret and oauth2 may be set"
            ));
        }
    }
    out.extend(scrape_class_rejection(p, &m.scrape_class));
    out
}

/// A `scrapeClass` the workload does not define.
fn scrape_class_rejection(p: &PromWorkload, class: &Option<String>) -> Option<String> {
    let class = class.as_ref().filter(|c| !c.is_empty())?;
    (!p.scrape_classes.iter().any(|c| &c.name == class)).then(|| {
        format!(
            "spec.scrapeClass {class:?} is not defined in {} {}/{} spec.scrapeClasses",
            p.kind, p.namespace, p.name
        )
    })
}

/// A scrape timeout longer than the interval it runs at: its own `interval`, else the workload's
/// `spec.scrapeInterval` (default 30s). `at` names the object's field holding both.
fn timeout_rejection(
    p: &PromWorkload,
    at: &str,
    interval: &Option<String>,
    timeout: &Option<String>,
) -> Option<String> {
    let (interval_text, interval_from) = match (interval, &p.scrape_interval) {
        (Some(i), _) => (i.clone(), "the interval"),
        (None, Some(i)) => (i.clone(), "the Prometheus spec.scrapeInterval"),
        (None, None) => ("30s".to_string(), "the default scrape interval"),
    };
    let t = timeout.as_deref().and_then(parse_duration_ms)?;
    (t > parse_duration_ms(&interval_text)?).then(|| {
        format!(
            "{at}: scrapeTimeout {} is greater than {interval_from} {interval_text}",
            timeout.as_deref().unwrap_or_default(),
        )
    })
}

/// Relabel rules prometheus-operator's validation refuses for this workload (its Prometheus'
/// label-name scheme, the actions its version has, the operator's own target-label check), each
/// named `<at>[j]`.
fn relabel_rejections(
    p: &PromWorkload,
    at: &str,
    rules: &[crate::relabel::RelabelSpec],
) -> Vec<String> {
    let mut out = Vec::new();
    for (j, r) in rules.iter().enumerate() {
        if let Err(err) =
            RelabelConfig::compile_with(&r.as_rendered_by_operator(), name_scheme(Some(p)))
        {
            out.push(format!("{at}[{j}]: {err}"));
        } else if let Some(err) = version_gate(p, r).or_else(|| operator_target_check(p, r)) {
            out.push(format!("{at}[{j}]: {err}"));
        }
    }
    out
}

/// Service discovery kinds prometheus-operator v0.91 validates on every ScrapeConfig, whether it
/// uses them or not, in its order, with the Prometheus release each needs: a ScrapeConfig is rejected
/// by a workload whose Prometheus is older than any of them (2.40), naming the first.
const SD_VERSION_GATES: &[(&str, (u32, u32), &str)] = &[
    ("httpSDConfigs", (2, 28), "HTTP SD configuration"),
    (
        "digitalOceanSDConfigs",
        (2, 20),
        "service discovery for Digital Ocean",
    ),
    ("linodeSDConfigs", (2, 28), "linode SD configuration"),
    (
        "dockerswarmSDConfigs",
        (2, 20),
        "dockerswarm SD configuration",
    ),
    ("puppetDBSDConfigs", (2, 31), "puppetDB SD configuration"),
    ("lightSailSDConfigs", (2, 27), "lightSail SD configuration"),
    ("OVHCloudSDConfigs", (2, 40), "OVHCloud SD configuration"),
    ("ScalewaySDConfigs", (2, 26), "ScaleWay SD configuration"),
    ("IonosSDConfigs", (2, 36), "IONOS SD configuration"),
];

/// A6 for a selected ScrapeConfig: why prometheus-operator v0.91 rejects it (empty: accepted), in
/// the order of its `checkScrapeConfig` (the first is the one its status names). Covered: the
/// scrape class, relabelings and metric relabelings, the TLS configuration's own consistency, the
/// scrape timeout, static configs' label names, HTTP SD URLs, Kubernetes SD roles, selectors' roles
/// and the API server/own-namespace conflict, and the SD kinds' version gates. Not covered: the
/// Secrets and ConfigMaps that authentication, TLS and proxy settings refer to (scrapepath holds no
/// Secret), the syntax of Kubernetes SD label and field selector strings, and the SD kinds other
/// than static, HTTP and Kubernetes (their fields are read by nothing here).
pub fn scrape_config_rejections(p: &PromWorkload, sc: &ScrapeConfigResource) -> Vec<String> {
    let version = p.prometheus_version();
    let older = |need: (u32, u32)| version.is_some_and(|v| v < need);
    let runs = || {
        let (major, minor) = version.unwrap_or_default();
        format!("{} {}/{} runs {major}.{minor}", p.kind, p.namespace, p.name)
    };
    let mut out = Vec::new();
    out.extend(scrape_class_rejection(p, &sc.scrape_class));
    out.extend(relabel_rejections(p, "spec.relabelings", &sc.relabelings));
    if let Some(t) = &sc.tls {
        let problem = if let Some(which) = t.both_sources {
            Some(format!("{which} names both a Secret and a ConfigMap"))
        } else if t.cert && !t.key {
            Some("a client cert without a client key (keySecret)".to_string())
        } else if t.key && !t.cert {
            Some("a client key (keySecret) without a client cert".to_string())
        } else {
            match (&t.min_version, &t.max_version) {
                // The operator compares the names as strings (TLS10 < TLS13).
                (Some(min), Some(max)) if max < min => {
                    Some(format!("maxVersion {max} is lower than minVersion {min}"))
                }
                _ => None,
            }
        };
        out.extend(problem.map(|e| format!("spec.tlsConfig: {e}")));
    }
    out.extend(timeout_rejection(
        p,
        "spec",
        &sc.scrape_interval,
        &sc.scrape_timeout,
    ));
    out.extend(relabel_rejections(
        p,
        "spec.metricRelabelings",
        &sc.metric_relabelings,
    ));
    let legacy = name_scheme(Some(p)) == crate::relabel::NameScheme::Legacy;
    for (i, st) in sc.static_configs.iter().enumerate() {
        for n in st.labels.keys() {
            let valid = if legacy {
                is_legacy_label_name(n)
            } else {
                !n.is_empty()
            };
            if !valid {
                out.push(format!(
                    "spec.staticConfigs[{i}].labels: {n:?} is not a valid label name for {}",
                    runs()
                ));
            }
        }
    }
    let (http_field, http_need, http_what) = SD_VERSION_GATES[0];
    if older(http_need) {
        out.push(sd_version_rejection(
            http_field,
            http_need,
            http_what,
            &runs(),
        ));
    }
    for (i, url) in sc.http_sd_urls.iter().enumerate() {
        if let Err(e) = go_url_parse(url) {
            out.push(format!("spec.httpSDConfigs[{i}].url: {url:?}: {e}"));
        }
    }
    for (i, k) in sc.kubernetes_sd.iter().enumerate() {
        let at = format!("spec.kubernetesSDConfigs[{i}]");
        if k.role == "EndpointSlice" && older((2, 21)) {
            out.push(format!(
                "{at}: role EndpointSlice needs Prometheus 2.21 or newer; {}",
                runs()
            ));
            continue;
        }
        if k.api_server && k.namespaces_set && k.own_namespace {
            out.push(format!(
                "{at}: apiServer and namespaces.ownNamespace cannot be used together"
            ));
            continue;
        }
        let role = k.role.to_ascii_lowercase();
        let allowed: &[&str] = match role.as_str() {
            "endpointslice" => &["pod", "service", "endpointslice"],
            "endpoints" => &["pod", "service", "endpoints"],
            _ => &[],
        };
        if let Some(s) = k.selectors.iter().find(|s| {
            let r = s.role.to_ascii_lowercase();
            r != role && !allowed.contains(&r.as_str())
        }) {
            out.push(format!(
                "{at}.selectors: a {} role supports only {} selectors, not {}",
                k.role,
                if allowed.is_empty() {
                    role.clone()
                } else {
                    allowed.join(", ")
                },
                s.role
            ));
        }
    }
    for &(field, need, what) in &SD_VERSION_GATES[1..] {
        if older(need) {
            out.push(sd_version_rejection(field, need, what, &runs()));
        }
    }
    out
}

fn sd_version_rejection(field: &str, need: (u32, u32), what: &str, runs: &str) -> String {
    format!(
        "spec.{field}: prometheus-operator validates {what} on every ScrapeConfig and it needs Prometheus {}.{} or newer; {runs}",
        need.0, need.1
    )
}

/// A label name of the legacy scheme (Prometheus before 3.0): `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where Go's `net/url.Parse` refuses an absolute `http(s)://` URL: control characters, a bad `%`
/// escape in the host, path or fragment (not the query, which it keeps raw), a bracketed host
/// without its `]`, characters no host may hold, a port that is not a number.
fn go_url_parse(url: &str) -> Result<(), String> {
    if url.chars().any(|c| c.is_ascii_control()) {
        return Err("net/url: invalid control character in URL".into());
    }
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let bad_escape = |s: &str| -> Option<String> {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let ok =
                    i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
                if !ok {
                    let end = (i + 3).min(b.len());
                    return Some(format!("invalid URL escape {:?}", &s[i..end]));
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        None
    };
    let before_query = rest.split_once('?').map_or(rest, |(a, _)| a);
    let Some((_, after_scheme)) = before_query.split_once("://") else {
        return Ok(());
    };
    let (authority, path) = match after_scheme.find('/') {
        Some(at) => after_scheme.split_at(at),
        None => (after_scheme, ""),
    };
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let port = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((_, after)) = bracketed.split_once(']') else {
            return Err("missing ']' in host".into());
        };
        after.strip_prefix(':')
    } else {
        if let Some(e) = bad_escape(host_port) {
            return Err(e);
        }
        if let Some(c) = host_port.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:%".contains(*c) || !c.is_ascii())
        }) {
            return Err(format!(
                "invalid character {:?} in host name",
                c.to_string()
            ));
        }
        host_port.rsplit_once(':').map(|(_, p)| p)
    };
    if let Some(port) = port {
        if !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("invalid port \":{port}\" after host"));
        }
    }
    if let Some(e) = bad_escape(path).or_else(|| fragment.and_then(bad_escape)) {
        return Err(e);
    }
    Ok(())
}

/// The label-name scheme of the workload's Prometheus: UTF-8 from 3.0 (and when the version is not
/// written: the operator's default Prometheus is a 3.x), legacy before.
pub fn name_scheme(p: Option<&PromWorkload>) -> crate::relabel::NameScheme {
    match p.and_then(|p| p.prometheus_version()) {
        Some((major, _)) if major < 3 => crate::relabel::NameScheme::Legacy,
        _ => crate::relabel::NameScheme::Utf8,
    }
}

/// Relabel actions newer than the workload's Prometheus (A6 d): lowercase/uppercase need 2.36,
/// keepequal/dropequal 2.41. An unknown version is taken as new enough.
fn version_gate(p: &PromWorkload, r: &crate::relabel::RelabelSpec) -> Option<String> {
    let (major, minor) = p.prometheus_version()?;
    let action = r
        .action
        .as_deref()
        .unwrap_or("replace")
        .to_ascii_lowercase();
    let need = match action.as_str() {
        "lowercase" | "uppercase" => (2, 36),
        "keepequal" | "dropequal" => (2, 41),
        _ => return None,
    };
    ((major, minor) < need).then(|| {
        format!(
            "action {action} needs Prometheus {}.{} or newer; {} {}/{} runs {major}.{minor}",
            need.0, need.1, p.kind, p.namespace, p.name
        )
    })
}

/// prometheus-operator's own check of a `replace` rule's target label (its validation package,
/// v0.91), stricter than Prometheus': with the legacy name scheme (Prometheus before 3.0) a target
/// label with a `$` reference (`${1}x`) must still be a plain label name, which Prometheus 2.x itself
/// would accept.
fn operator_target_check(p: &PromWorkload, r: &crate::relabel::RelabelSpec) -> Option<String> {
    let action = r
        .action
        .as_deref()
        .unwrap_or("replace")
        .to_ascii_lowercase();
    let target = r.target_label.as_deref().unwrap_or_default();
    if action != "replace"
        || !target.contains('$')
        || name_scheme(Some(p)) != crate::relabel::NameScheme::Legacy
    {
        return None;
    }
    (!is_legacy_label_name(target)).then(|| {
        format!(
            "{target:?} is invalid 'target_label' for replace action: prometheus-operator requires a plain label name for {} {}/{}, which runs a Prometheus before 3.0",
            p.kind, p.namespace, p.name
        )
    })
}

/// A Prometheus duration ("30s", "1m30s", "500ms") in milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    static DURATION: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
        Regex::new(
            r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$",
        )
        .ok()
    });
    let c = DURATION.as_ref()?.captures(s)?;
    let units = [
        365 * 24 * 3_600_000u64,
        7 * 24 * 3_600_000,
        24 * 3_600_000,
        3_600_000,
        60_000,
        1_000,
        1,
    ];
    let mut total = 0u64;
    let mut any = false;
    for (i, u) in units.iter().enumerate() {
        if let Some(m) = c.get(i + 1) {
            any = true;
            total += m.as_str().parse::<u64>().ok()? * u;
        }
    }
    any.then_some(total)
}

/// The pods a workload runs: those carrying its operator labels in its namespace (D1).
pub fn workload_pods<'a>(idx: &'a ClusterIndex, p: &PromWorkload) -> Vec<(PodId, &'a Pod)> {
    let by_operator = Selector::everything().with(crate::selector::Requirement::equals(
        crate::selector::Source::Any,
        "operator.prometheus.io/name",
        p.name.as_str(),
    ));
    let mut pods = idx.select_pods(&p.namespace, &by_operator);
    let app = if p.kind == Kind::PrometheusAgent {
        "prometheus-agent"
    } else {
        "prometheus"
    };
    pods.retain(|(_, pod)| {
        pod.labels
            .get("app.kubernetes.io/name")
            .is_none_or(|a| a == app)
    });
    if pods.is_empty() && p.kind == Kind::Prometheus {
        // Older operators label pods `prometheus=<name>` only.
        let legacy = Selector::everything().with(crate::selector::Requirement::equals(
            crate::selector::Source::Any,
            "prometheus",
            p.name.as_str(),
        ));
        pods = idx.select_pods(&p.namespace, &legacy);
    }
    pods
}

/// One discovered scrape target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub pod: PodId,
    /// The port actually connected to (after relabeling `__address__`).
    pub port: u16,
    pub port_name: Option<String>,
    pub container: Option<String>,
    pub endpoint: usize,
    pub path: String,
    pub scheme: String,
    /// What a sharded workload's sharding rules hash for this target.
    pub shard: ShardKey,
}

/// What prometheus-operator's sharding rules (`appendShardingRelabelingWithLabel`, appended after a
/// job's relabelings when `spec.shards` > 1) decide a target's shard from: `__tmp_hash` = the address
/// unless relabeling set `__tmp_hash`; `hashmod(__tmp_hash, shards)`; kept by the shard of that number,
/// or by every shard when relabeling set `__tmp_disable_sharding`. With topology sharding (the
/// `PrometheusTopologySharding` feature gate and `spec.shardingStrategy.mode: Topology`) the target's
/// zone (`__tmp_topology`) first picks the shards of that zone (semantics/prometheus-operator-shards.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardKey {
    pub rule: ShardRule,
    /// `__tmp_topology` as the topology rules leave it: set by relabeling, else the EndpointSlice
    /// endpoint's zone (role EndpointSlice), else the `topology.kubernetes.io/zone` label of the
    /// target's Node (the operator attaches node metadata); `None`: no zone is known.
    pub zone: Option<String>,
}

/// How a target's shard is picked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ShardRule {
    /// `hashmod(value, modulus)`.
    Hash(String),
    /// Relabeling set `__tmp_disable_sharding`: every shard (of any zone, when the zone is known).
    Disabled,
    /// No sharding rule applies to the job: every shard runs it as it is.
    Unsharded,
}

/// How a workload shards its targets: `spec.shards`, and the zones of `spec.shardingStrategy` when
/// topology sharding is active (empty otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sharding {
    pub shards: u32,
    pub zones: Vec<String>,
}

impl Sharding {
    /// A workload's sharding: its zones count only when the operator runs with the
    /// `PrometheusTopologySharding` feature gate (`topology_gate`) — without it the operator ignores
    /// `shardingStrategy` and shards by address (`isTopologyShardingActive`).
    pub fn of(p: &PromWorkload, topology_gate: bool) -> Sharding {
        let shards = if p.daemonset_mode { 1 } else { p.shards.max(1) };
        Sharding {
            shards,
            zones: if topology_gate && !p.daemonset_mode {
                p.topology_zones.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// The zone of shard `i` (`TopologyZoneForShard`: `values[i % len]`).
    pub fn zone_of(&self, i: u32) -> Option<&str> {
        if self.zones.is_empty() {
            return None;
        }
        Some(&self.zones[i as usize % self.zones.len()])
    }
}

impl ShardKey {
    /// A target hashed by its address, with no zone known.
    pub fn address(addr: impl Into<String>) -> ShardKey {
        ShardKey {
            rule: ShardRule::Hash(addr.into()),
            zone: None,
        }
    }

    /// A target of a job no sharding rule is appended to.
    pub fn unsharded() -> ShardKey {
        ShardKey {
            rule: ShardRule::Unsharded,
            zone: None,
        }
    }

    /// The same key with `zone` where relabeling left none.
    pub fn or_zone(mut self, zone: Option<String>) -> ShardKey {
        if self.zone.is_none() {
            self.zone = zone.filter(|z| !z.is_empty());
        }
        self
    }

    /// The shards that keep a target with this key; `None`: every shard (no sharding, or a rule that
    /// keeps it everywhere). `Some(vec![])`: no shard scrapes it.
    ///
    /// By address: `hashmod(key, shards)`. By topology: shard `i` has zone `values[i % zones]` and
    /// position `i / zones` in it; it keeps a target whose `__tmp_topology` is its zone and
    /// `hashmod(key, max(shards / zones, 1))` its position (`$(TOPOLOGY_ZONE);|.+;.+` then
    /// `$(INZONE_SHARD);|.+;.+`); with `__tmp_disable_sharding` every shard keeps a target that has a
    /// zone, and none keeps one that has none.
    pub fn shards(&self, s: &Sharding) -> Option<Vec<u32>> {
        if s.shards <= 1 && s.zones.is_empty() {
            return None;
        }
        match (&self.rule, s.zones.is_empty()) {
            (ShardRule::Unsharded, _) => None,
            (ShardRule::Disabled, true) => None,
            (ShardRule::Hash(v), true) => {
                Some(vec![crate::relabel::hash_mod(v, u64::from(s.shards)) as u32])
            }
            (ShardRule::Disabled, false) => {
                if self.zone.is_some() {
                    None
                } else {
                    Some(Vec::new())
                }
            }
            (ShardRule::Hash(v), false) => {
                let zones = s.zones.len() as u32;
                let modulus = (s.shards / zones).max(1);
                let pos = crate::relabel::hash_mod(v, u64::from(modulus)) as u32;
                Some(
                    (0..s.shards.max(1))
                        .filter(|i| i / zones == pos && s.zone_of(*i) == self.zone.as_deref())
                        .collect(),
                )
            }
        }
    }

    /// The key of a target of the job prometheus-operator generated for a ScrapeConfig: its sharding
    /// rules are appended unless the job's relabelings already hold a `hashmod`
    /// (`appendShardingRelabelingWithAddressIfMissing`, an exact match on the action as written).
    /// Its zone comes only from the discovered labels: the operator attaches no node metadata to a
    /// ScrapeConfig's job, so a role without EndpointSlice zones needs the ScrapeConfig's own
    /// `attachMetadata.node`.
    pub fn of_scrape_config_target(
        job: &crate::scrapeconfig::ScrapeJob,
        labels: &Labels,
    ) -> ShardKey {
        let own_hashmod = job
            .relabel_configs
            .iter()
            .any(|r| r.action.as_deref() == Some("hashmod"));
        if own_hashmod {
            ShardKey::unsharded()
        } else {
            ShardKey::of_labels(labels).or_zone(zone_of_labels(labels))
        }
    }

    /// The key of a target whose labels after relabeling are `labels` (with `__address__`); its zone
    /// is `__tmp_topology` when relabeling set it.
    pub fn of_labels(labels: &Labels) -> ShardKey {
        ShardKey::of_labels_hashing(labels, "__address__")
    }

    /// The key of a target whose sharding rules hash `label` (`__address__`, or a Probe's
    /// `__param_target`) where relabeling set no `__tmp_hash`.
    pub fn of_labels_hashing(labels: &Labels, label: &str) -> ShardKey {
        let set = |k: &str| labels.get(k).filter(|v| !v.is_empty());
        let zone = set("__tmp_topology").cloned();
        if set("__tmp_disable_sharding").is_some() {
            return ShardKey {
                rule: ShardRule::Disabled,
                zone,
            };
        }
        ShardKey {
            rule: ShardRule::Hash(
                set("__tmp_hash")
                    .or_else(|| labels.get(label))
                    .cloned()
                    .unwrap_or_default(),
            ),
            zone,
        }
    }
}

/// The zone the operator's two topology rules copy into an empty `__tmp_topology`: the EndpointSlice
/// endpoint's zone, else the Node's `topology.kubernetes.io/zone` label when node metadata is attached.
pub fn zone_of_labels(labels: &Labels) -> Option<String> {
    let set = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
    set("__meta_kubernetes_endpointslice_endpoint_zone").or_else(|| {
        (labels
            .get("__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone")
            .map(String::as_str)
            == Some("true"))
        .then(|| set("__meta_kubernetes_node_label_topology_kubernetes_io_zone"))
        .flatten()
    })
}

/// The key of a target at `addr` of pod `id` that no relabeling touched: its address, and the zone of
/// the pod's Node (what the operator's node metadata gives the pod, endpoints and endpointslice roles
/// alike when the endpoints controller published the address).
pub fn pod_shard_key(idx: &ClusterIndex, id: PodId, addr: &str) -> ShardKey {
    let node = idx.pod(id).node_name.as_deref();
    ShardKey::address(addr).or_zone(node_zone(idx, node))
}

/// Whether the job `p` generates for `m` attaches node metadata (`attach_metadata: {node: true}`):
/// the monitor's `attachMetadata.node` when it sets `attachMetadata`, else its scrape class's
/// (`mergeAttachMetadataWithScrapeClass`: the monitor's whole `attachMetadata` wins, even without
/// `node`), or topology sharding, which forces it — from Prometheus 2.35 for PodMonitors, 2.37 for
/// ServiceMonitors (`mergeAttachMetadataForTopology`, the same minimum versions for the monitor's and
/// the class's setting).
pub fn attaches_node_metadata(p: &PromWorkload, m: &Monitor, topology_gate: bool) -> bool {
    let own = m
        .attach_node
        .or_else(|| scrape_class_of(p, &m.scrape_class).and_then(|c| c.attach_node))
        .unwrap_or(false);
    node_metadata_supported(Some(p), m.kind)
        && (own || !Sharding::of(p, topology_gate).zones.is_empty())
}

/// Whether the Prometheus of `p` (`None`: the operator's default, current) takes
/// `attach_metadata.node` for a monitor of `kind`: from 2.35 for PodMonitors, 2.37 for
/// ServiceMonitors.
fn node_metadata_supported(p: Option<&PromWorkload>, kind: MonitorKind) -> bool {
    let need = match kind {
        MonitorKind::PodMonitor => (2, 35),
        MonitorKind::ServiceMonitor => (2, 37),
    };
    p.and_then(PromWorkload::prometheus_version)
        .is_none_or(|v| v >= need)
}

/// The labels Prometheus attaches for Node `name` with `attach_metadata.node` (`addNodeLabels` →
/// `addObjectMetaLabels`: name, labels and annotations with their `…present`); none for a Node the
/// input does not have.
pub fn node_meta_labels(idx: &ClusterIndex, name: Option<&str>) -> Labels {
    match name.and_then(|n| idx.node(n)) {
        Some(node) => crate::scrapeconfig::object_meta_labels(
            "node",
            &node.name,
            &node.labels,
            &node.annotations,
        ),
        None => Labels::new(),
    }
}

/// Whether Prometheus' role pod with node metadata keeps a pod on Node `name` (`buildPod`: a pod whose
/// Node is not in the node informer's store yields no target, an unscheduled one neither). An input
/// without any Node (a GitOps repository) cannot tell: every pod is kept.
pub fn pod_node_known(idx: &ClusterIndex, name: Option<&str>) -> bool {
    idx.nodes().next().is_none() || name.is_some_and(|n| idx.node(n).is_some())
}

/// The Node label that holds a node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The zone of the Node `node`, when the input has it with a non-empty zone label.
pub fn node_zone(idx: &ClusterIndex, node: Option<&str>) -> Option<String> {
    idx.node(node?)
        .and_then(|n| n.labels.get(ZONE_LABEL))
        .filter(|z| !z.is_empty())
        .cloned()
}

/// B1: the namespaces a monitor discovers in.
pub fn discovery_namespaces(p: Option<&PromWorkload>, m: &Monitor) -> Option<BTreeSet<String>> {
    if p.is_some_and(|p| p.ignore_namespace_selectors) {
        return Some([m.namespace.clone()].into());
    }
    if m.namespace_selector.any {
        return None; // every namespace
    }
    if !m.namespace_selector.match_names.is_empty() {
        return Some(m.namespace_selector.match_names.iter().cloned().collect());
    }
    Some([m.namespace.clone()].into())
}

/// B3.3: the operator's selector as relabel rules: values are regexes (not escaped), anchored.
struct RelabelSelector<'a> {
    /// Per requirement: key, operator, and the values as a pattern (literal values compare as strings).
    reqs: Vec<(String, Operator, Option<ValuePattern>)>,
    /// The selector itself, when every value is literal (no regex character): then both forms agree.
    narrowing: Option<&'a Selector>,
}

/// `(v1|v2)` as the operator renders a selector value or a port name into a relabel regex: literal
/// alternatives (the common case) compare as strings, anything else compiles once.
enum ValuePattern {
    Literal(Vec<String>),
    Regex(Option<Regex>),
}

impl ValuePattern {
    fn new(values: &[String]) -> ValuePattern {
        if values.iter().all(|x| is_literal(x)) {
            ValuePattern::Literal(values.to_vec())
        } else {
            ValuePattern::Regex(Regex::new(&format!("^(?s:({}))$", values.join("|"))).ok())
        }
    }

    fn one(value: &str) -> ValuePattern {
        ValuePattern::new(&[value.to_string()])
    }

    fn matches(&self, v: &str) -> bool {
        match self {
            ValuePattern::Literal(l) => l.iter().any(|x| x == v),
            ValuePattern::Regex(re) => re.as_ref().is_some_and(|re| re.is_match(v)),
        }
    }
}

/// No regex metacharacter: the value matches only itself.
fn is_literal(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl<'a> RelabelSelector<'a> {
    fn new(sel: &'a Selector) -> RelabelSelector<'a> {
        let literal = sel.requirements.iter().all(|r| match &r.op {
            Operator::In(v) | Operator::NotIn(v) => v.iter().all(|x| is_literal(x)),
            _ => true,
        });
        RelabelSelector {
            narrowing: literal.then_some(sel),
            reqs: sel
                .requirements
                .iter()
                .map(|r| {
                    let pattern = match &r.op {
                        Operator::In(v) | Operator::NotIn(v) => Some(ValuePattern::new(v)),
                        _ => None,
                    };
                    (r.key.clone(), r.op.clone(), pattern)
                })
                .collect(),
        }
    }

    fn matches(&self, labels: &Labels) -> bool {
        self.reqs.iter().all(|(k, op, pattern)| {
            let v = labels.get(k);
            let hit = || v.is_some_and(|v| pattern.as_ref().is_some_and(|p| p.matches(v)));
            match op {
                Operator::In(_) => hit(),
                Operator::NotIn(_) => !hit(),
                Operator::Exists => v.is_some(),
                Operator::DoesNotExist => v.is_none(),
            }
        })
    }
}

/// A monitor's pod (or service) selector with the mechanism's semantics.
enum MonitorSelector<'a> {
    Exact(&'a Selector),
    Relabel(RelabelSelector<'a>),
}

impl MonitorSelector<'_> {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            MonitorSelector::Exact(s) => s.matches(labels),
            MonitorSelector::Relabel(r) => r.matches(labels),
        }
    }
}

/// The scrape class a resource naming `class` gets from `p`: the named one, else `p`'s default.
fn scrape_class_of<'p>(p: &'p PromWorkload, class: &Option<String>) -> Option<&'p ScrapeClass> {
    class.as_ref().map_or_else(
        || p.scrape_classes.iter().find(|c| c.default),
        |name| p.scrape_classes.iter().find(|c| &c.name == name),
    )
}

/// The job prometheus-operator generates for the ScrapeConfig `sc` selected by `p`
/// (`ConfigGenerator.generateScrapeConfig`), as far as discovery, relabeling and the scrape URL go:
/// job name `scrapeConfig/<ns>/<name>`; `relabel_configs` = the job name kept in
/// `__tmp_prometheus_job_name`, the scrape class's relabelings, `spec.jobName` as `job`, then
/// `spec.relabelings`; `static_configs` and `kubernetes_sd_configs` (role lower-cased; `namespaces`
/// only when set: unset discovers in every namespace) as written. Sharding is left to the scraper's
/// shards (`Scraper::pods_for`), as for monitors. Other SD mechanisms (HTTP, DNS, file, cloud) yield
/// no target offline.
pub fn scrape_config_job(
    p: &PromWorkload,
    sc: &ScrapeConfigResource,
) -> Result<crate::scrapeconfig::ScrapeJob, crate::scrapeconfig::ConfigError> {
    use serde_json::{json, Map, Value};
    let render = rendered_rule;
    let mut relabelings = init_relabelings();
    if let Some(class) = scrape_class_of(p, &sc.scrape_class) {
        relabelings.extend(class.relabelings.iter().map(render));
    }
    if let Some(job) = &sc.job_name {
        relabelings.push(json!({"target_label": "job", "action": "replace", "replacement": job}));
    }
    relabelings.extend(sc.relabelings.iter().map(render));
    let mut job = Map::new();
    job.insert(
        "job_name".into(),
        json!(format!("scrapeConfig/{}/{}", sc.namespace, sc.name)),
    );
    if let Some(h) = sc.honor_labels {
        job.insert("honor_labels".into(), json!(h));
    }
    if let Some(path) = &sc.metrics_path {
        job.insert("metrics_path".into(), json!(path));
    }
    if let Some(i) = &sc.scrape_interval {
        job.insert("scrape_interval".into(), json!(i));
    }
    if let Some(scheme) = &sc.scheme {
        job.insert("scheme".into(), json!(scheme.to_ascii_lowercase()));
    }
    if !sc.static_configs.is_empty() {
        let groups: Vec<Value> = sc
            .static_configs
            .iter()
            .map(|g| json!({"targets": g.targets, "labels": g.labels}))
            .collect();
        job.insert("static_configs".into(), json!(groups));
    }
    if !sc.kubernetes_sd.is_empty() {
        let sds: Vec<Value> = sc
            .kubernetes_sd
            .iter()
            .map(|k| {
                let mut sd = Map::new();
                sd.insert("role".into(), json!(k.role.to_ascii_lowercase()));
                if k.namespaces_set {
                    let mut ns = Map::new();
                    ns.insert("names".into(), json!(k.names));
                    if k.own_namespace {
                        ns.insert("own_namespace".into(), json!(true));
                    }
                    sd.insert("namespaces".into(), Value::Object(ns));
                }
                if !k.selectors.is_empty() {
                    let sels: Vec<Value> = k
                        .selectors
                        .iter()
                        .map(|s| {
                            let mut o = Map::new();
                            o.insert("role".into(), json!(s.role.to_ascii_lowercase()));
                            if let Some(l) = &s.label {
                                o.insert("label".into(), json!(l));
                            }
                            if let Some(f) = &s.field {
                                o.insert("field".into(), json!(f));
                            }
                            Value::Object(o)
                        })
                        .collect();
                    sd.insert("selectors".into(), json!(sels));
                }
                Value::Object(sd)
            })
            .collect();
        job.insert("kubernetes_sd_configs".into(), json!(sds));
    }
    job.insert("relabel_configs".into(), json!(relabelings));
    crate::scrapeconfig::job_from_value(
        Value::Object(job),
        Some(
            p.scrape_interval
                .clone()
                .unwrap_or_else(|| "30s".to_string()),
        ),
    )
}

/// A relabel rule as prometheus-operator writes it into a generated job, as JSON.
fn rendered_rule(r: &crate::relabel::RelabelSpec) -> serde_json::Value {
    serde_json::to_value(r.as_rendered_by_operator()).unwrap_or(serde_json::Value::Null)
}

/// The rules every job prometheus-operator generates starts with (`initRelabelings`): the job name kept
/// in `__tmp_prometheus_job_name`.
fn init_relabelings() -> Vec<serde_json::Value> {
    vec![serde_json::json!({
        "source_labels": ["job"],
        "target_label": "__tmp_prometheus_job_name",
    })]
}

/// B/C: the targets `m` yields for `p` (or for a workload-independent view when `p` is None) at
/// pods' addresses.
pub fn targets(p: Option<&PromWorkload>, m: &Monitor, idx: &ClusterIndex) -> Vec<Target> {
    discover(p, m, idx).0
}

/// B/C: the targets `m` yields for `p`: those at pods' addresses, and those at addresses no pod backs
/// (a ServiceMonitor's endpoints of nodes, of the API server, of external addresses). The operator's
/// `PrometheusTopologySharding` gate taken as off: see [`discover_with`].
pub fn discover(
    p: Option<&PromWorkload>,
    m: &Monitor,
    idx: &ClusterIndex,
) -> (Vec<Target>, Vec<AddressTarget>) {
    discover_with(p, m, idx, false)
}

/// [`discover`] with the operator's `PrometheusTopologySharding` gate as `topology_gate`: under
/// topology sharding the job attaches node metadata, which the monitor's relabelings then see.
pub fn discover_with(
    p: Option<&PromWorkload>,
    m: &Monitor,
    idx: &ClusterIndex,
    topology_gate: bool,
) -> (Vec<Target>, Vec<AddressTarget>) {
    let Ok(sel) = &m.selector else {
        return (Vec::new(), Vec::new());
    };
    let msel = if m.role_selector {
        MonitorSelector::Exact(sel)
    } else {
        MonitorSelector::Relabel(RelabelSelector::new(sel))
    };
    let namespaces = discovery_namespaces(p, m);
    let scheme = name_scheme(p);
    let class_relabelings: Vec<RelabelConfig> = p
        .and_then(|p| {
            let class = scrape_class_of(p, &m.scrape_class)?;
            Some(
                class
                    .relabelings
                    .iter()
                    .filter_map(|r| {
                        RelabelConfig::compile_with(&r.as_rendered_by_operator(), scheme).ok()
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut addresses = Vec::new();
    for (i, ep) in m.endpoints.iter().enumerate() {
        let relabelings: Vec<RelabelConfig> = class_relabelings
            .iter()
            .cloned()
            .chain(ep.relabelings.iter().filter_map(|r| {
                RelabelConfig::compile_with(&r.as_rendered_by_operator(), scheme).ok()
            }))
            .collect();
        let node_meta = node_metadata_supported(p, m.kind);
        let ctx = EndpointCtx {
            m,
            slice_role: p.and_then(|p| p.service_discovery_role.as_deref())
                == Some("EndpointSlice"),
            node_meta,
            attach_node: match p {
                Some(p) => attaches_node_metadata(p, m, topology_gate),
                None => m.attach_node.unwrap_or(false),
            },
            ep,
            index: i,
            relabelings: &relabelings,
            // The operator filters on a port only when it is set and not empty (or 0).
            port: ep
                .port
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(ValuePattern::one),
            target_port: match &ep.target_port {
                Some(IntOrString::String(s)) if !s.is_empty() => Some(ValuePattern::one(s)),
                _ => None,
            },
        };
        match m.kind {
            MonitorKind::PodMonitor => pod_targets(&ctx, &msel, &namespaces, idx, &mut out),
            MonitorKind::ServiceMonitor => {
                service_targets(&ctx, &msel, &namespaces, idx, &mut out, &mut addresses)
            }
        }
    }
    (out, addresses)
}

/// A target at an address no pod backs (an EndpointSlice or Endpoints address without a Pod
/// `targetRef`): a node's kubelet, the API server, an external exporter. Its network verdict is the
/// scraper's egress toward the address' identity (semantics/cilium-egress.md E8).
#[derive(Debug, Clone, PartialEq)]
pub struct AddressTarget {
    pub ip: String,
    /// The port actually connected to (after relabeling `__address__`).
    pub port: u16,
    /// The endpoint port's name.
    pub port_name: Option<String>,
    pub endpoint: usize,
    pub path: String,
    pub scheme: String,
    pub shard: ShardKey,
    /// The Service (namespace, name) whose endpoints hold the address; none for a scrape job's
    /// static target.
    pub service: Option<(String, String)>,
    /// The endpoint's `targetRef` (kind, name), e.g. the Node of a kubelet address.
    pub target: Option<(String, String)>,
    pub node_name: Option<String>,
    pub ready: bool,
}

struct EndpointCtx<'a> {
    m: &'a Monitor,
    /// The workload discovers ServiceMonitor targets with role EndpointSlice (zones come from slices).
    slice_role: bool,
    /// Whether the operator attaches node metadata under topology sharding: from Prometheus 2.35
    /// (PodMonitors) or 2.37 (ServiceMonitors) (`mergeAttachMetadataForTopology`).
    node_meta: bool,
    /// The monitor's `attachMetadata.node` where the release supports it: the job's relabelings see
    /// the target Node's `__meta_kubernetes_node_*` labels.
    attach_node: bool,
    ep: &'a MonitorEndpoint,
    index: usize,
    relabelings: &'a [RelabelConfig],
    port: Option<ValuePattern>,
    target_port: Option<ValuePattern>,
}

fn in_namespaces(ns: &Option<BTreeSet<String>>, n: &str) -> bool {
    ns.as_ref().is_none_or(|set| set.contains(n))
}

/// Candidate (container, port) pairs of a pod as the pod role yields them (B2): every declared port of
/// containers then init containers, and one port-less target per container without ports.
fn pod_candidates(pod: &Pod) -> Vec<(&Container, Option<&ContainerPort>)> {
    let mut out = Vec::new();
    for init in [false, true] {
        for c in pod.containers.iter().filter(|c| c.init == init) {
            if c.ports.is_empty() {
                out.push((c, None));
            }
            for p in c.ports.iter() {
                out.push((c, Some(p)));
            }
        }
    }
    out
}

fn phase_kept(ep: &MonitorEndpoint, pod: &Pod) -> bool {
    !(ep.filter_running.unwrap_or(true) && matches!(pod.phase.as_str(), "Failed" | "Succeeded"))
}

/// B3.4: the port filter of a PodMonitor endpoint.
fn pod_port_filter(ctx: &EndpointCtx<'_>, port: Option<&ContainerPort>) -> bool {
    let ep = ctx.ep;
    let name = port.and_then(|p| p.name.as_deref()).unwrap_or("");
    let number = port.map(|p| i32::from(p.number));
    if let Some(p) = &ctx.port {
        p.matches(name)
    } else if let Some(n) = ep.port_number.filter(|n| *n != 0) {
        number == Some(n)
    } else {
        match (&ep.target_port, &ctx.target_port) {
            (Some(IntOrString::String(_)), Some(p)) => p.matches(name),
            (Some(IntOrString::Int(n)), _) if *n != 0 => number == Some(*n),
            _ => true,
        }
    }
}

fn pod_targets(
    ctx: &EndpointCtx<'_>,
    sel: &MonitorSelector<'_>,
    namespaces: &Option<BTreeSet<String>>,
    idx: &ClusterIndex,
    out: &mut Vec<Target>,
) {
    // Narrow by port name when the filter is a literal name.
    let literal_port = ctx
        .ep
        .port
        .as_deref()
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let everything = Selector::everything();
    let exact = match sel {
        MonitorSelector::Exact(s) => s,
        // With literal values the relabel form selects exactly what the selector does, so the label
        // index may narrow the candidates; with regex characters every pod is a candidate.
        MonitorSelector::Relabel(r) => r.narrowing.unwrap_or(&everything),
    };
    let mut pods: Vec<(PodId, &Pod)> = match namespaces {
        Some(set) => set
            .iter()
            .flat_map(|ns| idx.select_pods_in(Some(ns), exact, literal_port))
            .collect(),
        None => idx.select_pods_in(None, exact, literal_port),
    };
    pods.retain(|(_, pod)| {
        in_namespaces(namespaces, &pod.namespace)
            && sel.matches(&pod.labels)
            && pod.scrape_ip().is_some()
            && phase_kept(ctx.ep, pod)
            && (!ctx.attach_node || pod_node_known(idx, pod.node_name.as_deref()))
    });
    pods.sort_by(|a, b| (&a.1.namespace, &a.1.name).cmp(&(&b.1.namespace, &b.1.name)));
    for (id, pod) in pods {
        let Some(ip) = pod.scrape_ip() else { continue };
        for (c, port) in pod_candidates(pod) {
            if !pod_port_filter(ctx, port) {
                continue;
            }
            let scheme = ctx.ep.scheme.clone().unwrap_or_else(|| "http".into());
            let number = port
                .map(|p| p.number)
                .unwrap_or(if scheme == "https" { 443 } else { 80 });
            let mut t = Target {
                pod: id,
                port: number,
                port_name: port.and_then(|p| p.name.clone()),
                container: Some(c.name.clone()),
                endpoint: ctx.index,
                path: ctx.ep.path_or_default().to_string(),
                scheme,
                shard: ShardKey::address(format!("{ip}:{number}")).or_zone(
                    ctx.node_meta
                        .then(|| node_zone(idx, pod.node_name.as_deref()))
                        .flatten(),
                ),
            };
            if !ctx.relabelings.is_empty() {
                let mut labels = pod_meta_labels(pod, ip, c, port);
                if ctx.attach_node {
                    labels.extend(node_meta_labels(idx, pod.node_name.as_deref()));
                }
                operator_labels(&mut labels, ctx, &pod.namespace, Some(pod), Some(c), None);
                if !apply_relabelings(&mut labels, ctx.relabelings, &mut t, pod) {
                    continue;
                }
            }
            out.push(t);
        }
    }
}

/// The operator-set labels users' rules see (B3.5), and the scrape parameters. `pod` is `None` for an
/// address no pod backs: the operator's rules copy `__meta_kubernetes_pod_name` and the container
/// name, both empty there, so `pod` and `container` are not set.
fn operator_labels(
    labels: &mut Labels,
    ctx: &EndpointCtx<'_>,
    namespace: &str,
    pod: Option<&Pod>,
    c: Option<&Container>,
    svc: Option<&Service>,
) {
    let m = ctx.m;
    labels.insert("namespace".into(), namespace.to_string());
    if let Some(pod) = pod {
        labels.insert("pod".into(), pod.name.clone());
    }
    if let Some(c) = c {
        labels.insert("container".into(), c.name.clone());
    }
    // The jobLabel rule has regex `(.+)`: an empty label value leaves the default job.
    let job = match (m.kind, svc) {
        (MonitorKind::ServiceMonitor, Some(s)) => Some(
            m.job_label
                .as_ref()
                .and_then(|l| s.labels.get(l).cloned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| s.name.clone()),
        ),
        // Without the Service, `job` is replaced from the missing service name, i.e. deleted.
        (MonitorKind::ServiceMonitor, None) => None,
        (MonitorKind::PodMonitor, _) => Some(
            m.job_label
                .as_ref()
                .and_then(|l| pod.and_then(|p| p.labels.get(l)).cloned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| format!("{}/{}", m.namespace, m.name)),
        ),
    };
    if let Some(job) = job {
        labels.insert("job".into(), job);
    }
    let endpoint = ctx.ep.port.clone().or_else(|| match &ctx.ep.target_port {
        Some(IntOrString::String(s)) => Some(s.clone()),
        Some(IntOrString::Int(n)) => Some(n.to_string()),
        None => None,
    });
    if let Some(e) = endpoint {
        labels.insert("endpoint".into(), e);
    }
    labels.insert(
        "__scheme__".into(),
        ctx.ep.scheme.clone().unwrap_or_else(|| "http".into()),
    );
    labels.insert(
        "__metrics_path__".into(),
        ctx.ep.path_or_default().to_string(),
    );
}

/// What relabeling changed of a target: its port (from `__address__`), path, scheme and shard key.
struct Relabeled {
    port: Option<u16>,
    path: Option<String>,
    scheme: Option<String>,
    shard: ShardKey,
}

/// Applies relabelings; `None` when they drop the target.
fn relabeled(labels: &mut Labels, rules: &[RelabelConfig]) -> Option<Relabeled> {
    if !relabel::process(labels, rules) {
        return None;
    }
    Some(Relabeled {
        port: labels.get("__address__").and_then(|addr| {
            addr.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
        }),
        path: labels.get("__metrics_path__").cloned(),
        scheme: labels.get("__scheme__").cloned(),
        shard: ShardKey::of_labels(labels),
    })
}

/// Applies relabelings and folds `__address__`, `__metrics_path__` and `__scheme__` back into the target.
fn apply_relabelings(
    labels: &mut Labels,
    rules: &[RelabelConfig],
    t: &mut Target,
    pod: &Pod,
) -> bool {
    let Some(r) = relabeled(labels, rules) else {
        return false;
    };
    if let Some(port) = r.port.filter(|p| *p != t.port) {
        t.port = port;
        t.port_name = pod.port_by_number(port).and_then(|(_, p)| p.name.clone());
    }
    t.path = r.path.unwrap_or(std::mem::take(&mut t.path));
    t.scheme = r.scheme.unwrap_or(std::mem::take(&mut t.scheme));
    let fallback = t.shard.zone.take();
    t.shard = r.shard.or_zone(fallback);
    true
}

/// The `__meta_kubernetes_pod_*` labels of the pod role for one (container, port) (semantics §E).
pub fn pod_meta_labels(pod: &Pod, ip: &str, c: &Container, port: Option<&ContainerPort>) -> Labels {
    let mut l = pod_level_labels(pod, ip);
    let addr = match port {
        Some(p) => format!("{ip}:{}", p.number),
        None => ip.to_string(),
    };
    l.insert("__address__".into(), addr);
    let pm = "__meta_kubernetes_pod_";
    l.insert(format!("{pm}container_name"), c.name.clone());
    l.insert(format!("{pm}container_image"), c.image.clone());
    l.insert(format!("{pm}container_init"), c.init.to_string());
    if let Some(p) = port {
        l.insert(
            format!("{pm}container_port_name"),
            p.name.clone().unwrap_or_default(),
        );
        l.insert(format!("{pm}container_port_number"), p.number.to_string());
        l.insert(format!("{pm}container_port_protocol"), p.protocol.clone());
    }
    l
}

/// The pod's own meta labels, without container and port: what the endpoints role attaches to an
/// address backed by a pod even when no container declares the endpoint's port (C2).
pub fn pod_level_labels(pod: &Pod, ip: &str) -> Labels {
    let mut l = Labels::new();
    l.insert("__meta_kubernetes_namespace".into(), pod.namespace.clone());
    let pm = "__meta_kubernetes_pod_";
    l.insert(format!("{pm}name"), pod.name.clone());
    l.insert(format!("{pm}ip"), ip.to_string());
    if let Some(uid) = &pod.uid {
        l.insert(format!("{pm}uid"), uid.clone());
    }
    if let Some(n) = &pod.node_name {
        l.insert(format!("{pm}node_name"), n.clone());
    }
    if let Some(h) = &pod.host_ip {
        l.insert(format!("{pm}host_ip"), h.clone());
    }
    l.insert(format!("{pm}phase"), pod.phase.clone());
    l.insert(
        format!("{pm}ready"),
        match pod.ready {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        }
        .into(),
    );
    if let Some((kind, name)) = pod.controller.as_deref() {
        l.insert(format!("{pm}controller_kind"), kind.clone());
        l.insert(format!("{pm}controller_name"), name.clone());
    }
    for (k, v) in pod.labels.iter() {
        let s = sanitize_label_name(k);
        l.insert(format!("{pm}label_{s}"), v.clone());
        l.insert(format!("{pm}labelpresent_{s}"), "true".into());
    }
    for (k, v) in pod.annotations.iter() {
        let s = sanitize_label_name(k);
        l.insert(format!("{pm}annotation_{s}"), v.clone());
        l.insert(format!("{pm}annotationpresent_{s}"), "true".into());
    }
    l
}

/// The labels Prometheus' endpoints and endpointslice roles attach from the backing Service:
/// namespace, name, and its labels and annotations (sanitized, with the `*present_*` companions).
pub fn service_meta_labels(svc: &Service) -> Labels {
    let sm = "__meta_kubernetes_service_";
    let mut l = Labels::new();
    l.insert("__meta_kubernetes_namespace".into(), svc.namespace.clone());
    l.insert(format!("{sm}name"), svc.name.clone());
    for (k, v) in &svc.labels {
        let s = sanitize_label_name(k);
        l.insert(format!("{sm}label_{s}"), v.clone());
        l.insert(format!("{sm}labelpresent_{s}"), "true".into());
    }
    for (k, v) in &svc.annotations {
        let s = sanitize_label_name(k);
        l.insert(format!("{sm}annotation_{s}"), v.clone());
        l.insert(format!("{sm}annotationpresent_{s}"), "true".into());
    }
    l
}

/// One address of a Service, as the endpoints controller publishes it.
struct ServiceAddress<'a> {
    ip: String,
    ready: bool,
    /// The EndpointSlice endpoint's `zone` (none when derived from the selector).
    zone: Option<String>,
    pod: Option<(PodId, &'a Pod)>,
    /// The endpoint's `targetRef` (kind, name), and its `nodeName` (derived from the selector: the
    /// pod's node, as the endpoints controller writes it).
    target: Option<(String, String)>,
    node_name: Option<String>,
    /// (Service port name, resolved target port number).
    ports: Vec<(Option<String>, u16)>,
}

/// The addresses of a Service: from its EndpointSlices, or, when the input has none, derived from the
/// pods its selector matches (what the endpoints controller would publish).
fn service_addresses<'a>(svc: &Service, idx: &'a ClusterIndex) -> Vec<ServiceAddress<'a>> {
    let mut out = slice_addresses(&svc.namespace, &svc.name, idx);
    if !out.is_empty() {
        return out;
    }
    for (id, pod, ip, ports) in selector_endpoints(svc, idx) {
        out.push(ServiceAddress {
            ip: ip.to_string(),
            ready: pod.ready_or_intended(),
            zone: None,
            pod: Some((id, pod)),
            target: None,
            // The endpoints controller publishes the pod's node as the endpoint's `nodeName`.
            node_name: pod.node_name.clone(),
            ports: ports.into_iter().map(|(name, n, _)| (name, n)).collect(),
        });
    }
    out
}

/// A pod's address and the Service ports resolved on it: (name, number, protocol).
pub type SelectorEndpoint<'a> = (PodId, &'a Pod, &'a str, Vec<(Option<String>, u16, String)>);

/// What the endpoints controller would publish for a Service when the input holds no EndpointSlice
/// for it: the pods its selector matches that have an IP and have not finished, each with the Service
/// ports resolved on that pod (target port by number, or by the pod's container port name).
pub fn selector_endpoints<'a>(svc: &Service, idx: &'a ClusterIndex) -> Vec<SelectorEndpoint<'a>> {
    let Some(selector) = &svc.selector else {
        return Vec::new();
    };
    let sel = Selector::from_k8s(
        &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
            match_labels: Some(selector.clone()),
            match_expressions: None,
        },
    )
    .unwrap_or_else(|_| Selector::nothing());
    let mut out = Vec::new();
    for (id, pod) in idx.select_pods(&svc.namespace, &sel) {
        let Some(ip) = pod.scrape_ip() else { continue };
        if matches!(pod.phase.as_str(), "Failed" | "Succeeded") {
            continue;
        }
        let ports = svc
            .ports
            .iter()
            .filter_map(|sp| {
                let n = match &sp.target_port {
                    None => u16::try_from(sp.port).ok(),
                    Some(IntOrString::Int(n)) => u16::try_from(*n).ok(),
                    Some(IntOrString::String(name)) => {
                        pod.port_by_name(name).map(|(_, p)| p.number)
                    }
                }?;
                Some((sp.name.clone(), n, sp.protocol.clone()))
            })
            .collect();
        out.push((id, pod, ip, ports));
    }
    out
}

/// (Service port name, port number, the backing container port when one is declared).
type Candidate<'a> = (
    Option<String>,
    u16,
    Option<(&'a Container, &'a ContainerPort)>,
);

/// The addresses the EndpointSlices of Service `ns/name` publish (the Service object need not exist).
fn slice_addresses<'a>(ns: &str, name: &str, idx: &'a ClusterIndex) -> Vec<ServiceAddress<'a>> {
    let mut out = Vec::new();
    for s in idx
        .slices_in(ns)
        .filter(|s| s.service.as_deref() == Some(name))
    {
        let ports: Vec<(Option<String>, u16)> = s
            .ports
            .iter()
            .filter_map(|p| Some((p.name.clone(), u16::try_from(p.port?).ok()?)))
            .collect();
        for e in &s.endpoints {
            for ip in &e.addresses {
                // Without a targetRef, a pod of the namespace with that IP stands behind it; an
                // endpoint that names a Node (or anything but a Pod) is no pod's.
                let pod = match (&e.pod, &e.target) {
                    (Some(pod_name), _) => idx.pod_by_name(ns, pod_name),
                    (None, None) => idx.pods_by_ip(ip).find(|(_, p)| p.namespace == ns),
                    (None, Some(_)) => None,
                };
                out.push(ServiceAddress {
                    ip: ip.clone(),
                    ready: e.ready,
                    zone: e.zone.clone(),
                    pod,
                    target: e.target.clone(),
                    node_name: e.node_name.clone(),
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}

/// The zone the operator's topology rules give an endpoint port's target at `addr`: the slice
/// endpoint's `zone` (role EndpointSlice), else the zone of the endpoint's `nodeName`.
fn address_zone(
    idx: &ClusterIndex,
    addr: &ServiceAddress<'_>,
    ctx: &EndpointCtx<'_>,
) -> Option<String> {
    addr.zone
        .clone()
        .filter(|z| ctx.slice_role && !z.is_empty())
        .or_else(|| {
            ctx.node_meta
                .then(|| node_zone(idx, address_node(addr)))
                .flatten()
        })
}

/// The Node Prometheus attaches to an endpoint: its `nodeName`, else a Node targetRef.
fn address_node<'s>(addr: &'s ServiceAddress<'_>) -> Option<&'s str> {
    addr.node_name.as_deref().or(addr
        .target
        .as_ref()
        .filter(|(kind, _)| kind == "Node")
        .map(|(_, n)| n.as_str()))
}

/// The addresses behind one Service (`None`: endpoints whose Service is missing from the input).
type AddressGroup<'a> = (Option<&'a Service>, Vec<ServiceAddress<'a>>);

fn service_targets(
    ctx: &EndpointCtx<'_>,
    sel: &MonitorSelector<'_>,
    namespaces: &Option<BTreeSet<String>>,
    idx: &ClusterIndex,
    out: &mut Vec<Target>,
    addresses: &mut Vec<AddressTarget>,
) {
    // Candidate Services in (namespace, name) order: those of the discovered namespaces; for a monitor
    // of every namespace, through the label index when the selector has a literal equality (its relabel
    // form then selects exactly what the selector does).
    let narrowing = match sel {
        MonitorSelector::Exact(s) => Some(*s),
        MonitorSelector::Relabel(r) => r.narrowing,
    }
    .and_then(|s| s.first_equality());
    let candidates: Vec<&Service> = match (namespaces, narrowing) {
        (Some(set), _) => set.iter().flat_map(|ns| idx.services_in(ns)).collect(),
        (None, Some((_, k, v))) => idx.services_with_label(k, v).collect(),
        (None, None) => idx.services().collect(),
    };
    let mut by_ns: BTreeMap<&str, Vec<AddressGroup<'_>>> = BTreeMap::new();
    for svc in candidates
        .into_iter()
        .filter(|svc| sel.matches(&svc.labels))
    {
        by_ns
            .entry(svc.namespace.as_str())
            .or_default()
            .push((Some(svc), service_addresses(svc, idx)));
    }
    // C3: endpoints of a Service missing from the input have no Service labels; the selector's keep
    // rules see empty values, so only a selector that passes an unlabelled Service keeps them.
    let ns_list: Vec<String> = if sel.matches(&Labels::new()) {
        match namespaces {
            Some(set) => set.iter().cloned().collect(),
            None => idx.service_namespaces(),
        }
    } else {
        Vec::new()
    };
    for ns in &ns_list {
        let orphans: BTreeSet<&str> = idx
            .slices_in(ns)
            .filter_map(|s| s.service.as_deref())
            .filter(|name| idx.service(ns, name).is_none())
            .collect();
        for name in orphans {
            by_ns
                .entry(ns.as_str())
                .or_default()
                .push((None, slice_addresses(ns, name, idx)));
        }
    }
    for (ns, groups) in by_ns {
        for (svc, addrs) in groups {
            for addr in addrs {
                let Some((id, pod)) = addr.pod else {
                    if addr.target.as_ref().is_none_or(|(kind, _)| kind != "Pod") {
                        address_targets(ctx, idx, ns, svc, &addr, addresses);
                    }
                    continue; // a Pod targetRef to a pod the input lacks: nothing to evaluate
                };
                if !phase_kept(ctx.ep, pod) {
                    continue;
                }
                // C2: one target per endpoint port, plus container ports no endpoint port covers.
                let mut cands: Vec<Candidate<'_>> = addr
                    .ports
                    .iter()
                    .map(|(name, n)| (name.clone(), *n, pod.port_by_number(*n)))
                    .collect();
                for c in pod.containers.iter() {
                    for p in c.ports.iter() {
                        if !addr.ports.iter().any(|(_, n)| *n == p.number) {
                            cands.push((None, p.number, Some((c, p))));
                        }
                    }
                }
                // Node metadata (and so a topology zone) only on endpoint ports: Prometheus gives
                // the container ports no endpoint port covers the pod's labels alone.
                let endpoint_ports = addr.ports.len();
                for (i, (ep_name, number, cport)) in cands.into_iter().enumerate() {
                    let keep = if let Some(p) = &ctx.port {
                        ep_name.as_deref().is_some_and(|n| p.matches(n))
                    } else {
                        match (&ctx.ep.target_port, &ctx.target_port) {
                            (Some(IntOrString::String(_)), Some(s)) => cport
                                .and_then(|(_, p)| p.name.as_deref())
                                .is_some_and(|n| s.matches(n)),
                            // Keeps on __meta_kubernetes_pod_container_port_number, which only a
                            // declared container port sets.
                            (Some(IntOrString::Int(n)), _) if *n != 0 => {
                                cport.is_some_and(|(_, p)| i32::from(p.number) == *n)
                            }
                            _ => true,
                        }
                    };
                    if !keep {
                        continue;
                    }
                    let mut t = Target {
                        pod: id,
                        port: number,
                        port_name: cport.and_then(|(_, p)| p.name.clone()),
                        container: cport.map(|(c, _)| c.name.clone()),
                        endpoint: ctx.index,
                        path: ctx.ep.path_or_default().to_string(),
                        scheme: ctx.ep.scheme.clone().unwrap_or_else(|| "http".into()),
                        shard: ShardKey::address(format!("{}:{number}", addr.ip)).or_zone(
                            (i < endpoint_ports)
                                .then(|| address_zone(idx, &addr, ctx))
                                .flatten(),
                        ),
                    };
                    if !ctx.relabelings.is_empty() {
                        // C2: pod labels whenever a pod backs the address; container labels when
                        // one of its containers declares the port.
                        let mut labels = match cport {
                            Some((c, p)) => pod_meta_labels(pod, &addr.ip, c, Some(p)),
                            None => pod_level_labels(pod, &addr.ip),
                        };
                        labels.insert("__address__".into(), format!("{}:{number}", addr.ip));
                        let sm = "__meta_kubernetes_";
                        labels.insert(format!("{sm}namespace"), ns.to_string());
                        if let Some(svc) = svc {
                            labels.extend(service_meta_labels(svc));
                        }
                        if let Some(n) = &ep_name {
                            labels.insert(format!("{sm}endpoint_port_name"), n.clone());
                            labels.insert(format!("{sm}endpointslice_port_name"), n.clone());
                        }
                        labels.insert(format!("{sm}endpoint_ready"), addr.ready.to_string());
                        // Node labels on endpoint ports only (S7).
                        if ctx.attach_node && i < endpoint_ports {
                            labels.extend(node_meta_labels(idx, address_node(&addr)));
                        }
                        operator_labels(
                            &mut labels,
                            ctx,
                            &pod.namespace,
                            Some(pod),
                            cport.map(|(c, _)| c),
                            svc,
                        );
                        if !apply_relabelings(&mut labels, ctx.relabelings, &mut t, pod) {
                            continue;
                        }
                    }
                    out.push(t);
                }
            }
        }
    }
}

/// The targets of one address no pod backs (C2 without the pod): one per endpoint port the endpoint's
/// port filter keeps, with the labels Prometheus' endpoints and endpointslice roles attach to it
/// (no `__meta_kubernetes_pod_*`; the targetRef's kind and name; the node name).
fn address_targets(
    ctx: &EndpointCtx<'_>,
    idx: &ClusterIndex,
    ns: &str,
    svc: Option<&Service>,
    addr: &ServiceAddress<'_>,
    out: &mut Vec<AddressTarget>,
) {
    for (ep_name, number) in &addr.ports {
        let keep = match (&ctx.port, &ctx.ep.target_port) {
            (Some(p), _) => ep_name.as_deref().is_some_and(|n| p.matches(n)),
            // targetPort keeps on the container port's name or number, which only a pod has.
            (None, Some(IntOrString::String(s))) if !s.is_empty() => false,
            (None, Some(IntOrString::Int(n))) if *n != 0 => false,
            _ => true,
        };
        if !keep {
            continue;
        }
        let address = format!("{}:{number}", addr.ip);
        let mut t = AddressTarget {
            ip: addr.ip.clone(),
            port: *number,
            port_name: ep_name.clone(),
            endpoint: ctx.index,
            path: ctx.ep.path_or_default().to_string(),
            scheme: ctx.ep.scheme.clone().unwrap_or_else(|| "http".into()),
            shard: ShardKey::address(address.clone()).or_zone(address_zone(idx, addr, ctx)),
            service: Some((
                ns.to_string(),
                svc.map_or_else(String::new, |s| s.name.clone()),
            )),
            target: addr.target.clone(),
            node_name: addr.node_name.clone(),
            ready: addr.ready,
        };
        if !ctx.relabelings.is_empty() {
            let mut labels = address_meta_labels(ns, svc, addr, ep_name.as_deref(), &address);
            if ctx.attach_node {
                labels.extend(node_meta_labels(idx, address_node(addr)));
            }
            operator_labels(&mut labels, ctx, ns, None, None, svc);
            // The operator's rule `(address_target_kind, address_target_name) =~ Node;(.*)` → `node`.
            if let Some(("Node", name)) = addr.target.as_ref().map(|(k, n)| (k.as_str(), n)) {
                labels.insert("node".into(), name.clone());
            }
            let Some(r) = relabeled(&mut labels, ctx.relabelings) else {
                continue;
            };
            if let Some(port) = r.port.filter(|p| p != number) {
                t.port = port;
                t.port_name = addr
                    .ports
                    .iter()
                    .find(|(_, n)| *n == port)
                    .and_then(|(name, _)| name.clone());
            }
            t.path = r.path.unwrap_or(t.path);
            t.scheme = r.scheme.unwrap_or(t.scheme);
            let fallback = t.shard.zone.take();
            t.shard = r.shard.or_zone(fallback);
        }
        out.push(t);
    }
}

/// The labels of the endpoints/endpointslice roles for an address no pod backs, as the
/// operator-generated job (role endpoints or endpointslice) sees them.
fn address_meta_labels(
    ns: &str,
    svc: Option<&Service>,
    addr: &ServiceAddress<'_>,
    port_name: Option<&str>,
    address: &str,
) -> Labels {
    let mut l = svc.map(service_meta_labels).unwrap_or_default();
    let k = "__meta_kubernetes_";
    l.insert("__address__".into(), address.to_string());
    l.insert(format!("{k}namespace"), ns.to_string());
    if let Some(n) = port_name {
        l.insert(format!("{k}endpoint_port_name"), n.to_string());
        l.insert(format!("{k}endpointslice_port_name"), n.to_string());
    }
    l.insert(format!("{k}endpoint_ready"), addr.ready.to_string());
    if let Some((kind, name)) = &addr.target {
        for role in ["endpoint", "endpointslice"] {
            l.insert(format!("{k}{role}_address_target_kind"), kind.clone());
            l.insert(format!("{k}{role}_address_target_name"), name.clone());
        }
    }
    if let Some(n) = &addr.node_name {
        l.insert(format!("{k}endpoint_node_name"), n.clone());
        l.insert(format!("{k}endpointslice_endpoint_node_name"), n.clone());
    }
    l
}

// -------------------------------------------------------------------------------------------------------
// The pod prometheus-operator generates (issue 17: what `check` predicts from a Prometheus spec).

/// The names of the volumes prometheus-operator puts into the pod template of a Prometheus or
/// PrometheusAgent StatefulSet (v0.91 `pkg/prometheus/common.go` `BuildCommonVolumes`,
/// `server/statefulset.go` `makeStatefulSet`, `appendServerVolumes`, `webconfig`): `config`,
/// `tls-assets`, `config-out`, `web-config`, the storage volume (`VolumeClaimName`: the
/// volumeClaimTemplate's `metadata.name`, else `<prefix>-<name>-db`), `secret-<name>` and
/// `configmap-<name>` for `spec.secrets`/`spec.configMaps`, `log-file` for a bare query or scrape
/// failure log file; and, for a Prometheus, its rule ConfigMaps `prometheus-<name>-rulefiles-<n>`,
/// whose count depends on the rules selected (the second list: prefixes).
pub fn operator_volumes(p: &PromWorkload) -> (Vec<String>, Vec<String>) {
    let spec = &p.pod_spec;
    let mut names: Vec<String> = ["config", "tls-assets", "config-out", "web-config"]
        .map(String::from)
        .to_vec();
    names.push(storage_volume(p));
    // The operator's ResourceNamer: a DNS-1123 label of the prefixed name.
    let label = |prefix: &str, n: &str| {
        let s: String = format!("{prefix}-{n}")
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(63)
            .collect();
        s.trim_end_matches('-').to_string()
    };
    names.extend(spec.secrets.iter().map(|s| label("secret", s)));
    names.extend(spec.config_maps.iter().map(|c| label("configmap", c)));
    if spec.log_file_volume {
        names.push("log-file".into());
    }
    let prefixes = if p.kind == Kind::Prometheus {
        vec![format!("prometheus-{}-rulefiles-", p.name)]
    } else {
        Vec::new()
    };
    (names, prefixes)
}

/// `prometheus` or `prom-agent`: the prefix of what the operator names after a workload.
fn operator_prefix(p: &PromWorkload) -> &'static str {
    if p.kind == Kind::PrometheusAgent {
        "prom-agent"
    } else {
        "prometheus"
    }
}

/// The StatefulSet prometheus-operator runs for shard `shard` of a workload: `prometheus-<name>` for
/// shard 0, `prometheus-<name>-shard-<n>` after (`prom-agent-…` for a PrometheusAgent); its pods are
/// `<statefulset>-<ordinal>`.
pub fn shard_statefulset(p: &PromWorkload, shard: u32) -> String {
    let base = format!("{}-{}", operator_prefix(p), p.name);
    if shard == 0 {
        base
    } else {
        format!("{base}-shard-{shard}")
    }
}

/// The storage volume's name (`VolumeClaimName`).
pub fn storage_volume(p: &PromWorkload) -> String {
    match &p.pod_spec.storage {
        crate::model::Storage::ClaimTemplate(Some(n)) => n.clone(),
        _ => format!("{}-{}-db", operator_prefix(p), p.name),
    }
}

/// What the spec of a Prometheus/PrometheusAgent without pods predicts against the pod the operator
/// would generate (issue 17): volume mounts that name no volume (the API server refuses the pod:
/// FailedCreate), a PersistentVolumeClaim without `fsGroup` for a non-root user (the data directory is
/// not writable: the pod never becomes Ready), a `serviceAccountName` that is not among the input's
/// ServiceAccounts of the namespace (only when the input has any). Each names the field and the fix.
pub fn predicted_problems(p: &PromWorkload, idx: &ClusterIndex) -> Vec<String> {
    let spec = &p.pod_spec;
    let mut out = Vec::new();
    if p.daemonset_mode {
        return out;
    }
    let (names, prefixes) = operator_volumes(p);
    let storage = storage_volume(p);
    let known = |n: &str| {
        names.iter().any(|k| k == n)
            || prefixes.iter().any(|pre| n.starts_with(pre.as_str()))
            || spec.volumes.iter().any(|v| v == n)
    };
    for m in &spec.mounts {
        let name = &m.volume;
        if known(name) {
            continue;
        }
        let list = if m.init {
            "initContainers"
        } else {
            "containers"
        };
        let who = if m.container.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.container)
        };
        let field = format!(
            "spec.{list}[{}]{who}.volumeMounts[{}].name",
            m.index, m.mount_index
        );
        let refusal = match generated_index(spec, m) {
            Some(i) => format!(
                "spec.template.spec.{list}[{i}].volumeMounts[{}].name: Not found: \"{name}\"",
                m.mount_index
            ),
            None => format!("{list}[..].volumeMounts[..].name: Not found: \"{name}\""),
        };
        let storage_from = match &spec.storage {
            crate::model::Storage::ClaimTemplate(Some(_)) => {
                "spec.storage.volumeClaimTemplate.metadata.name".to_string()
            }
            crate::model::Storage::ClaimTemplate(None) => {
                "spec.storage.volumeClaimTemplate has no metadata.name".to_string()
            }
            _ => "no volumeClaimTemplate".to_string(),
        };
        let fix = if name.ends_with("-db") || name.contains("storage") || name.contains("data") {
            format!(
                "mount \"{storage}\" instead, or set spec.storage.volumeClaimTemplate.metadata.name: {name} (the storage volume takes that name)"
            )
        } else {
            format!(
                "declare a volume \"{name}\" in spec.volumes, or mount one the operator creates"
            )
        };
        out.push(format!(
            "{field} is \"{name}\", which names no volume of the pod prometheus-operator generates ({}; the storage volume is \"{storage}\": {storage_from}) nor one of spec.volumes: the API server refuses the pod template ({refusal}; the operator's own containers come first: a current API server refuses the StatefulSet, which the operator reports as Reconciled=False; an older one each pod, a FailedCreate Event on the StatefulSet) — fix: {fix}",
            names
                .iter()
                .map(String::as_str)
                .chain(prefixes.iter().map(|p| p.as_str()))
                .map(|n| if n.ends_with('-') { format!("{n}<n>") } else { n.to_string() })
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    let claim = matches!(
        spec.storage,
        crate::model::Storage::ClaimTemplate(_) | crate::model::Storage::Ephemeral
    );
    if claim && spec.fs_group.is_none() && spec.run_as_user != Some(0) {
        let user = match spec.run_as_user {
            Some(u) => format!("uid {u} (spec.securityContext.runAsUser)"),
            None => "the image's non-root user (nobody, uid 65534)".into(),
        };
        out.push(format!(
            "spec.storage gives each pod a PersistentVolumeClaim, but spec.securityContext sets no fsGroup: the volume keeps its root ownership and Prometheus, running as {user}, cannot write its data directory (it exits on \"opening storage failed: ... permission denied\" and the pod never becomes Ready) — fix: set spec.securityContext.fsGroup (e.g. 2000) with fsGroupChangePolicy: OnRootMismatch, as prometheus-operator documents for non-root storage"
        ));
    }
    if let Some(sa) = p.service_account.as_deref().filter(|s| !s.is_empty()) {
        if idx.has_service_accounts() && !idx.has_service_account(&p.namespace, sa) {
            out.push(format!(
                "spec.serviceAccountName is \"{sa}\", which is not among the input's ServiceAccounts of namespace {}: the API server refuses every pod (FailedCreate: error looking up service account {}/{sa}) — fix: create the ServiceAccount, or name an existing one",
                p.namespace, p.namespace
            ));
        }
    }
    out
}

/// The index of a spec container in the pod the operator generates: its own come first
/// (`init-config-reloader`; `prometheus`, `config-reloader`), a spec container of the same name is
/// merged into its own (its mounts then mix with the operator's: `None`), the others follow in order.
fn generated_index(spec: &crate::model::PromPodSpec, m: &crate::model::PromMount) -> Option<usize> {
    let own: &[&str] = if m.init {
        &["init-config-reloader"]
    } else {
        &["prometheus", "config-reloader"]
    };
    if own.contains(&m.container.as_str()) {
        return None;
    }
    let list = if m.init {
        &spec.init_containers
    } else {
        &spec.containers
    };
    // The spec's containers before it that are not merged into the operator's.
    let before = list
        .iter()
        .take(m.index)
        .filter(|n| !own.contains(&n.as_str()))
        .count();
    Some(own.len() + before)
}

/// What the monitor selectors of `p` select in the input, when that is nothing although the input
/// has monitors of that kind: `spec.serviceMonitorSelector selects none of the 3 ServiceMonitors ...`.
pub fn empty_selections(p: &PromWorkload, idx: &ClusterIndex) -> Vec<String> {
    let mut out = Vec::new();
    for kind in [MonitorKind::PodMonitor, MonitorKind::ServiceMonitor] {
        let of_kind: Vec<&Monitor> = idx.monitors().filter(|m| m.kind == kind).collect();
        if of_kind.is_empty() || of_kind.iter().any(|m| selects(p, m, idx).is_ok()) {
            continue;
        }
        let (field, _) = selector_fields(kind.kind());
        let n = of_kind.len();
        let what = if n == 1 {
            format!("the one {}", kind.kind())
        } else {
            format!("the {n} {}s", kind.kind())
        };
        out.push(format!("spec.{field} selects none of {what} in the input"));
    }
    out
}

#[cfg(test)]
mod tests {
    //! Cases where the differential against the real prometheus-operator v0.91
    //! (tests/real_prometheus_operator.rs) found scrapepath wrong, kept as regressions.
    use super::*;
    use std::path::Path;

    /// semantics/prometheus-operator-shards.md S3, S5 and S8, row by row.
    #[test]
    fn shard_placement_follows_the_operators_rules() {
        let by_address = Sharding {
            shards: 2,
            zones: vec![],
        };
        let zoned = |shards: u32, zones: &[&str]| Sharding {
            shards,
            zones: zones.iter().map(|z| z.to_string()).collect(),
        };
        let key =
            |zone: Option<&str>| ShardKey::address("10.0.0.1:80").or_zone(zone.map(Into::into));
        let disabled = |zone: Option<&str>| ShardKey {
            rule: ShardRule::Disabled,
            zone: zone.map(Into::into),
        };
        let h = |m: u64| crate::relabel::hash_mod("10.0.0.1:80", m) as u32;
        // S3: by address; a zone is irrelevant; disabling keeps it everywhere.
        assert_eq!(key(None).shards(&by_address), Some(vec![h(2)]));
        assert_eq!(key(Some("za")).shards(&by_address), Some(vec![h(2)]));
        assert_eq!(disabled(None).shards(&by_address), None);
        assert_eq!(ShardKey::unsharded().shards(&zoned(2, &["za"])), None);
        // No sharding at all.
        assert_eq!(
            key(None).shards(&Sharding {
                shards: 1,
                zones: vec![]
            }),
            None
        );
        // S5/S8: 2 shards, 2 zones: modulus 1, the zone alone decides.
        assert_eq!(
            key(Some("za")).shards(&zoned(2, &["za", "zb"])),
            Some(vec![0])
        );
        assert_eq!(
            key(Some("zb")).shards(&zoned(2, &["za", "zb"])),
            Some(vec![1])
        );
        // S8: no zone, or a zone of no shard: kept by none.
        assert_eq!(key(None).shards(&zoned(2, &["za", "zb"])), Some(vec![]));
        assert_eq!(
            key(Some("zc")).shards(&zoned(2, &["za", "zb"])),
            Some(vec![])
        );
        // S8: disabling keeps a zoned target everywhere, a zoneless one nowhere.
        assert_eq!(disabled(Some("zc")).shards(&zoned(2, &["za", "zb"])), None);
        assert_eq!(
            disabled(None).shards(&zoned(2, &["za", "zb"])),
            Some(vec![])
        );
        // S5: 3 shards, 1 zone: modulus 3, position = shard.
        assert_eq!(key(Some("za")).shards(&zoned(3, &["za"])), Some(vec![h(3)]));
        // S5: 3 shards, 2 zones: modulus 1; shard 2 (za's second) keeps nothing.
        assert_eq!(
            key(Some("za")).shards(&zoned(3, &["za", "zb"])),
            Some(vec![0])
        );
        assert_eq!(
            key(Some("zb")).shards(&zoned(3, &["za", "zb"])),
            Some(vec![1])
        );
        // S6: relabeling's __tmp_topology wins over the Node's zone.
        let mut l = Labels::new();
        l.insert("__address__".into(), "10.0.0.1:80".into());
        l.insert("__tmp_topology".into(), "zb".into());
        assert_eq!(
            ShardKey::of_labels(&l)
                .or_zone(Some("za".into()))
                .zone
                .as_deref(),
            Some("zb")
        );
        // S6: the EndpointSlice zone before the Node's, and the Node's only when present.
        let mut m = Labels::new();
        m.insert(
            "__meta_kubernetes_node_label_topology_kubernetes_io_zone".into(),
            "za".into(),
        );
        assert_eq!(zone_of_labels(&m), None);
        m.insert(
            "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone".into(),
            "true".into(),
        );
        assert_eq!(zone_of_labels(&m).as_deref(), Some("za"));
        m.insert(
            "__meta_kubernetes_endpointslice_endpoint_zone".into(),
            "zb".into(),
        );
        assert_eq!(zone_of_labels(&m).as_deref(), Some("zb"));
    }

    fn index(yaml: &str) -> ClusterIndex {
        let mut idx = ClusterIndex::new();
        let mut stats = crate::load::LoadStats::default();
        for o in crate::load::parse_text(Path::new("t.yaml"), yaml, &mut stats).unwrap() {
            idx.apply(o);
        }
        idx
    }

    /// The first rejection of the monitor `mon/s` (of `kind`, endpoints under `list`) by the Prometheus
    /// `mon/p` (deny: true, one class `a`), whose one endpoint has the flow-mapping fields `endpoint`,
    /// and whose spec has the lines `spec`.
    fn first_rejection(kind: &str, list: &str, endpoint: &str, spec: &str) -> Option<String> {
        let idx = index(&format!(
            r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: p, namespace: mon}}
spec:
  serviceMonitorSelector: {{}}
  podMonitorSelector: {{}}
  arbitraryFSAccessThroughSMs: {{deny: true}}
  scrapeClasses: [{{name: a}}]
---
apiVersion: monitoring.coreos.com/v1
kind: {kind}
metadata: {{name: s, namespace: mon}}
spec:
  selector: {{}}
  {list}: [{{port: metrics, {endpoint}}}]
{spec}"#
        ));
        let p = idx.prometheuses().next().unwrap();
        let mk = if kind == "ServiceMonitor" {
            MonitorKind::ServiceMonitor
        } else {
            MonitorKind::PodMonitor
        };
        let m = idx.monitor(mk, "mon", "s").unwrap();
        assert!(selects(p, m, &idx).is_ok());
        rejections(p, m).into_iter().next()
    }

    #[test]
    fn empty_file_paths_read_no_file() {
        // The operator rejects only a non-empty bearerTokenFile, caFile, certFile or keyFile.
        for endpoint in ["bearerTokenFile: ''", "tlsConfig: {caFile: ''}"] {
            assert_eq!(
                first_rejection("ServiceMonitor", "endpoints", endpoint, ""),
                None,
                "{endpoint}"
            );
        }
        let r = first_rejection("ServiceMonitor", "endpoints", "bearerTokenFile: /t", "");
        assert!(r.unwrap().contains("bearerTokenFile"));
    }

    #[test]
    fn a_service_monitor_endpoint_names_its_files_then_its_authentication_before_its_timeout() {
        let two_auths =
            "basicAuth: {username: {name: a, key: u}}, bearerTokenSecret: {name: a, key: t}";
        let r = first_rejection(
            "ServiceMonitor",
            "endpoints",
            &format!("scrapeTimeout: 1m, {two_auths}"),
            "",
        )
        .unwrap();
        assert!(r.contains("at most one of"), "{r}");
        let r = first_rejection(
            "ServiceMonitor",
            "endpoints",
            &format!("scrapeTimeout: 1m, {two_auths}, bearerTokenFile: /t"),
            "",
        )
        .unwrap();
        assert!(r.contains("bearerTokenFile"), "{r}");
        // A PodMonitor endpoint's authentication comes after its timeout.
        let r = first_rejection(
            "PodMonitor",
            "podMetricsEndpoints",
            &format!("scrapeTimeout: 1m, {two_auths}"),
            "",
        )
        .unwrap();
        assert!(r.contains("scrapeTimeout"), "{r}");
    }

    #[test]
    fn the_role_selector_mechanism_is_refused_before_prometheus_2_17() {
        // Found by the differential (seeds 0x3 and 0x8, a PrometheusAgent of v2.16.0).
        let spec = "  selectorMechanism: RoleSelector";
        let r = first_rejection("PodMonitor", "podMetricsEndpoints", "", spec);
        assert_eq!(r, None, "no version: the operator's default release");
        let idx = index(&format!(
            r#"
apiVersion: monitoring.coreos.com/v1alpha1
kind: PrometheusAgent
metadata: {{name: p, namespace: mon}}
spec: {{podMonitorSelector: {{}}, version: v2.16.0}}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: s, namespace: mon}}
spec:
  selector: {{}}
  podMetricsEndpoints: [{{port: metrics, scrapeTimeout: 1m}}]
{spec}
"#
        ));
        let p = idx.prometheuses().next().unwrap();
        let m = idx.monitor(MonitorKind::PodMonitor, "mon", "s").unwrap();
        let r = rejections(p, m);
        assert!(
            r.first()
                .is_some_and(|e| e.starts_with("spec.selectorMechanism")),
            "{r:?}"
        );
    }

    #[test]
    fn a_target_label_reference_is_refused_by_the_operator_before_prometheus_3() {
        let rule = "relabelings: [{action: replace, sourceLabels: [a], targetLabel: '${1}x'}]";
        let yaml = |version: &str| {
            format!(
                r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: p, namespace: mon}}
spec: {{podMonitorSelector: {{}}, version: {version}}}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: s, namespace: mon}}
spec:
  selector: {{}}
  podMetricsEndpoints: [{{port: metrics, {rule}}}]
"#
            )
        };
        for (version, refused) in [("v2.55.0", true), ("v3.5.0", false)] {
            let idx = index(&yaml(version));
            let p = idx.prometheuses().next().unwrap();
            let m = idx.monitor(MonitorKind::PodMonitor, "mon", "s").unwrap();
            let r = rejections(p, m);
            assert_eq!(!r.is_empty(), refused, "{version}: {r:?}");
        }
    }

    /// The Prometheus `mon/p` (spec lines `prom`) and the ScrapeConfig `ns/c` (labels `labels`, spec
    /// lines `spec`), with namespaces `mon` and `other` (labelled `team: a`).
    fn scrape_config_world(prom: &str, ns: &str, labels: &str, spec: &str) -> ClusterIndex {
        index(&format!(
            r#"
apiVersion: v1
kind: Namespace
metadata: {{name: mon}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: other, labels: {{team: a}}}}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: p, namespace: mon}}
spec:
  scrapeClasses: [{{name: a}}]
{prom}
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {{name: c, namespace: {ns}, labels: {{{labels}}}}}
spec:
{spec}
"#
        ))
    }

    #[test]
    fn a_scrape_config_is_selected_as_prometheus_operator_selects_monitors() {
        use NotSelected::*;
        type Verdict = fn(&Result<(), NotSelected>) -> bool;
        let cases: &[(&str, &str, &str, Verdict)] = &[
            // A null scrapeConfigSelector selects nothing (another selector keeps it managed).
            ("  podMonitorSelector: {}", "mon", "", |r| *r == Err(NullSelector)),
            ("  scrapeConfigSelector: {}", "mon", "", |r| r.is_ok()),
            // A null namespace selector: only the workload's own namespace.
            ("  scrapeConfigSelector: {}", "other", "", |r| {
                matches!(r, Err(NamespaceNotSelected { .. }))
            }),
            (
                "  scrapeConfigSelector: {}\n  scrapeConfigNamespaceSelector: {}",
                "other",
                "",
                |r| r.is_ok(),
            ),
            (
                "  scrapeConfigSelector: {}\n  scrapeConfigNamespaceSelector: {matchLabels: {team: b}}",
                "other",
                "",
                |r| matches!(r, Err(NamespaceNotSelected { .. })),
            ),
            (
                "  scrapeConfigSelector: {matchLabels: {release: a}}",
                "mon",
                "release: b",
                |r| matches!(r, Err(LabelsMismatch(_))),
            ),
            // Only a scrapeConfigSelector set: the configuration is managed.
            (
                "  scrapeConfigSelector: {matchLabels: {release: a}}",
                "mon",
                "release: a",
                |r| r.is_ok(),
            ),
            ("  paused: true\n  scrapeConfigSelector: {}", "mon", "", |r| {
                *r == Err(Paused)
            }),
            ("", "mon", "", |r| *r == Err(Unmanaged)),
        ];
        for (prom, ns, labels, ok) in cases {
            let idx = scrape_config_world(prom, ns, labels, "  staticConfigs: [{targets: [a:1]}]");
            let p = idx.prometheuses().next().unwrap();
            let sc = idx.scrape_config(ns, "c").unwrap();
            let r = selects_scrape_config(p, sc, &idx);
            assert!(ok(&r), "{prom:?} {ns} {labels:?}: {r:?}");
        }
    }

    #[test]
    fn a_scrape_config_is_rejected_where_prometheus_operator_0_91_rejects_it() {
        // (Prometheus version, ScrapeConfig spec, the field the first rejection names or None).
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("v3.5.0", "  staticConfigs: [{targets: [a:1], labels: {a.b: x}}]", None),
            (
                "v2.55.0",
                "  staticConfigs: [{targets: [a:1], labels: {a.b: x}}]",
                Some("spec.staticConfigs[0].labels"),
            ),
            ("v3.5.0", "  scrapeClass: undefined", Some("spec.scrapeClass")),
            ("v3.5.0", "  scrapeClass: a", None),
            (
                "v3.5.0",
                "  relabelings: [{action: keep, sourceLabels: [a], regex: 'a('}]",
                Some("spec.relabelings[0]"),
            ),
            (
                "v2.30.0",
                "  metricRelabelings: [{action: keepequal, sourceLabels: [a], targetLabel: b}]",
                Some("spec.metricRelabelings[0]"),
            ),
            ("v3.5.0", "  scrapeTimeout: 1m", Some("spec: scrapeTimeout")),
            ("v3.5.0", "  scrapeInterval: 2m\n  scrapeTimeout: 1m", None),
            (
                "v3.5.0",
                "  tlsConfig: {cert: {secret: {name: t, key: c}}}",
                Some("spec.tlsConfig"),
            ),
            (
                "v3.5.0",
                "  tlsConfig: {minVersion: TLS13, maxVersion: TLS12}",
                Some("spec.tlsConfig"),
            ),
            ("v3.5.0", "  tlsConfig: {insecureSkipVerify: true}", None),
            ("v3.5.0", "  httpSDConfigs: [{url: 'http://%zz/'}]", Some("spec.httpSDConfigs[0].url")),
            ("v3.5.0", "  httpSDConfigs: [{url: 'http://a:port/'}]", Some("spec.httpSDConfigs[0].url")),
            ("v3.5.0", "  httpSDConfigs: [{url: 'http://[::1/t'}]", Some("spec.httpSDConfigs[0].url")),
            ("v3.5.0", "  httpSDConfigs: [{url: 'http://a b/'}]", Some("spec.httpSDConfigs[0].url")),
            // The query is kept raw by Go's url.Parse: a bad escape there passes.
            ("v3.5.0", "  httpSDConfigs: [{url: 'http://a/t?x=%zz'}]", None),
            (
                "v3.5.0",
                "  kubernetesSDConfigs: [{role: Pod, selectors: [{role: Service}]}]",
                Some("spec.kubernetesSDConfigs[0].selectors"),
            ),
            (
                "v3.5.0",
                "  kubernetesSDConfigs: [{role: Endpoints, selectors: [{role: Pod}]}]",
                None,
            ),
            (
                "v3.5.0",
                "  kubernetesSDConfigs: [{role: Pod, apiServer: 'https://k', namespaces: {ownNamespace: true}}]",
                Some("spec.kubernetesSDConfigs[0]"),
            ),
            // Every ScrapeConfig, whatever its SD kinds: v0.91 validates HTTP SD (2.28) first, then
            // PuppetDB (2.31), then OVHCloud (2.40).
            ("v2.16.0", "  staticConfigs: [{targets: [a:1]}]", Some("spec.httpSDConfigs")),
            ("v2.30.0", "  staticConfigs: [{targets: [a:1]}]", Some("spec.puppetDBSDConfigs")),
            ("v2.39.0", "  staticConfigs: [{targets: [a:1]}]", Some("spec.OVHCloudSDConfigs")),
            ("v2.40.0", "  staticConfigs: [{targets: [a:1]}]", None),
            (
                "v2.16.0",
                "  kubernetesSDConfigs: [{role: EndpointSlice}]",
                Some("spec.httpSDConfigs"),
            ),
        ];
        for (version, spec, want) in cases {
            let idx = scrape_config_world(
                &format!("  scrapeConfigSelector: {{}}\n  version: {version}"),
                "mon",
                "",
                spec,
            );
            let p = idx.prometheuses().next().unwrap();
            let sc = idx.scrape_config("mon", "c").unwrap();
            let r = scrape_config_rejections(p, sc);
            match want {
                None => assert!(r.is_empty(), "{version} {spec}: {r:?}"),
                Some(field) => assert!(
                    r.first().is_some_and(|e| e.starts_with(field)),
                    "{version} {spec}: want {field}, got {r:?}"
                ),
            }
        }
    }
}
