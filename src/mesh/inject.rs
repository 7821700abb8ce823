//! Istio sidecar injection as the injector webhook would do it, for pods modelled from workloads (GitOps
//! input has Deployments, never injected Pods).
//!
//! Two halves, both after `istio.io/istio` (`pkg/kube/inject`, and the chart
//! `manifests/charts/istio-control/istio-discovery`):
//! - **selection**: the MutatingWebhookConfiguration's `namespaceSelector`/`objectSelector` of each
//!   revision (`templates/mutatingwebhook.yaml`), then `injectRequired` (`inject.go`): hostNetwork, the
//!   ignored namespaces, the pod label `sidecar.istio.io/inject` (preferred) or the legacy annotation, the
//!   `neverInjectSelector`/`alwaysInjectSelector` and `policy` of the injector config;
//! - **mutation**: the stock `sidecar` template (`files/injection-template.yaml`) and the webhook's
//!   post-processing (`webhook.go`: metrics merge, status annotation, injected annotations, container
//!   order), limited to what the engine reads (`model::container_from`, `mesh::workload`): container
//!   names and kinds, ports, the `istio-init`/`istio-validation` args, the proxy's env (proxyMetadata,
//!   `ISTIO_PROMETHEUS_ANNOTATIONS`), the injector's annotations and labels.
//!
//! A webhook error (an invalid annotation, a merged-metrics port Istio reserves) makes the API server
//! refuse the pod (`failurePolicy: Fail`): [`InjectOutcome::Refused`].
//!
//! Version differences modelled ([`InjectorConfig::defaults`]):
//! - native sidecars (`istio-proxy` as an init container with `restartPolicy: Always`): `ENABLE_NATIVE_SIDECARS`
//!   defaults to `false` up to 1.26 and to `auto` from 1.27 (istio's
//!   `manifests/helm-profiles/compatibility-version-1.26.yaml` pins `ENABLE_NATIVE_SIDECARS: "false"` under
//!   "1.27 behavioral changes"; `pilot/pkg/features/pilot.go` registers the default `auto`). `auto` turns
//!   native sidecars on when every node's kubelet is 1.33 or newer (`webhook.go` `DetectNativeSidecar`);
//! - 1.31 (`prometheus.istio.io/scrape-targets`, istio/istio#59924): the webhook rejects merged-metrics
//!   ports that are not ports or that Istio reserves, and sets `prometheus.istio.io/secure-port` from
//!   `ENVOY_SECURE_MERGED_METRICS_PORT`.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1 as corev1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;
use serde_json::Value;

use super::MeshConfig;
use crate::model::{Kind, ObjRef};
use crate::selector::Selector;

/// The newest Istio minor modelled: what `defaults(None)` and an unknown image tag mean.
pub const NEWEST: (u32, u32) = (1, 31);
/// The oldest minor whose defaults are modelled (older ones get these).
pub const OLDEST: (u32, u32) = (1, 20);

const INJECT_LABEL: &str = "sidecar.istio.io/inject";
const REV_LABEL: &str = "istio.io/rev";
const NS_INJECTION: &str = "istio-injection";
const STATUS_ANNOTATION: &str = "sidecar.istio.io/status";
const PROXY: &str = "istio-proxy";
const INIT: &str = "istio-init";
const VALIDATION: &str = "istio-validation";
const CORE_DUMP: &str = "enable-core-dump";
const GATEWAY_TEMPLATE: &str = "gateway";
/// `inject.IgnoredNamespaces`.
const IGNORED_NAMESPACES: [&str; 4] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];
/// Ports a merged-metrics target may not use (`status.IstioReservedPortReason`, 1.31).
const RESERVED_PORTS: [(&str, &str); 9] = [
    ("15000", "Envoy admin"),
    ("15001", "outbound traffic capture"),
    ("15004", "pilot debug"),
    ("15006", "inbound traffic capture"),
    ("15008", "HBONE tunnel"),
    ("15020", "pilot-agent status / merged Prometheus"),
    ("15021", "Envoy health"),
    ("15053", "DNS proxy"),
    ("15090", "Envoy Prometheus (already merged)"),
];

/// `ENABLE_NATIVE_SIDECARS` of istiod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeSidecars {
    Enabled,
    Disabled,
    /// Native when every node's kubelet is 1.33+ (unknown nodes: assumed so, and said).
    Auto,
}

/// The injector config's `policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    Enabled,
    Disabled,
    /// Any other value: Istio logs an error and injects nothing.
    Invalid(String),
}

/// One injector (one istiod revision): what decides injection and what it injects.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectorConfig {
    /// The ConfigMap it came from; `None`: the defaults of [`InjectorConfig::version`].
    pub source: Option<ObjRef>,
    /// The Istio minor whose behaviour is modelled; `None`: unknown, the newest ([`NEWEST`]) is used.
    pub version: Option<(u32, u32)>,
    /// The revision served: `default` for the default revision (`revision: ""`).
    pub revision: String,
    pub policy: Policy,
    /// `neverInjectSelector` / `alwaysInjectSelector`, in order (selectors Istio cannot read are skipped,
    /// as Istio skips them, and listed in `notes`).
    pub never_inject: Vec<Selector>,
    pub always_inject: Vec<Selector>,
    pub injected_annotations: BTreeMap<String, String>,
    pub default_templates: Vec<String>,
    /// `sidecarInjectorWebhook.enableNamespacesByDefault` (the `auto.` webhook).
    pub enable_namespaces_by_default: bool,
    pub native_sidecars: NativeSidecars,
    /// For `Auto`: whether every node's kubelet is 1.33+; `None`: unknown (assumed yes).
    pub nodes_support_native: Option<bool>,
    /// `pilot.cni.enabled` (or the older `istio_cni.enabled`): `istio-validation` instead of `istio-init`.
    pub cni: bool,
    pub cni_provider: String,
    /// `global.proxy.*` capture defaults, as the template prints them.
    pub include_inbound_ports: String,
    pub exclude_inbound_ports: String,
    pub status_port: String,
    pub include_ip_ranges: String,
    pub exclude_ip_ranges: String,
    pub include_outbound_ports: String,
    pub exclude_outbound_ports: String,
    pub hold_application_until_proxy_starts: bool,
    pub log_level: String,
    pub log_as_json: bool,
    pub force_apply_iptables: bool,
    pub native_nftables: bool,
    pub hub: String,
    pub tag: String,
    pub variant: String,
    pub proxy_image: String,
    pub proxy_init_image: String,
    pub pilot_cert_provider: String,
    /// What could not be modelled (custom templates, unreadable selectors), for report lines.
    pub notes: Vec<String>,
}

impl InjectorConfig {
    /// The defaults of Istio `version` (`--istio-version`, or the istiod image tag); `None`: the newest
    /// modelled. The default revision, policy `enabled`, no selectors, the chart's `global.proxy` values.
    pub fn defaults(version: Option<(u32, u32)>) -> InjectorConfig {
        let v = version.unwrap_or(NEWEST);
        InjectorConfig {
            source: None,
            version,
            revision: "default".to_string(),
            policy: Policy::Enabled,
            never_inject: Vec::new(),
            always_inject: Vec::new(),
            injected_annotations: BTreeMap::new(),
            default_templates: vec!["sidecar".to_string()],
            enable_namespaces_by_default: false,
            native_sidecars: if v >= (1, 27) {
                NativeSidecars::Auto
            } else {
                NativeSidecars::Disabled
            },
            nodes_support_native: None,
            cni: false,
            cni_provider: "default".to_string(),
            include_inbound_ports: "*".to_string(),
            exclude_inbound_ports: String::new(),
            status_port: "15020".to_string(),
            include_ip_ranges: "*".to_string(),
            exclude_ip_ranges: String::new(),
            include_outbound_ports: String::new(),
            exclude_outbound_ports: String::new(),
            hold_application_until_proxy_starts: false,
            log_level: "default:info".to_string(),
            log_as_json: false,
            force_apply_iptables: false,
            native_nftables: false,
            hub: "docker.io/istio".to_string(),
            tag: match version {
                Some((a, b)) => format!("{a}.{b}.0"),
                None => "latest".to_string(),
            },
            variant: String::new(),
            proxy_image: "proxyv2".to_string(),
            proxy_init_image: "proxyv2".to_string(),
            pilot_cert_provider: "istiod".to_string(),
            notes: Vec::new(),
        }
    }

    /// The injector of an `istio-sidecar-injector[-<rev>]` ConfigMap: `data.values` (JSON) and
    /// `data.config` (YAML). The error names the key and the field that does not parse; the caller adds
    /// file and document. The Istio version comes from `global.tag` when it reads as one.
    pub fn from_config_map(cm: &corev1::ConfigMap) -> Result<InjectorConfig, String> {
        let data = cm.data.clone().unwrap_or_default();
        let name = cm.metadata.name.clone().unwrap_or_default();
        let namespace = cm.metadata.namespace.clone().unwrap_or_default();
        let values: Value = match data.get("values") {
            Some(text) if !text.trim().is_empty() => serde_json::from_str(text)
                .map_err(|e| format!("data.values does not parse as JSON: {e}"))?,
            _ => Value::Object(Default::default()),
        };
        if !values.is_object() {
            return Err("data.values: expected a JSON object".to_string());
        }
        let v = Values(&values);
        let tag = v.string("global.tag")?;
        let version = tag.as_deref().and_then(parse_version);
        let mut cfg = InjectorConfig::defaults(version);
        cfg.source = Some(ObjRef::new(Kind::ConfigMap, namespace, name.clone()));
        // The revision: values.revision (what istiod serves), else the name's suffix, else the label.
        let rev = match v.string("revision")? {
            Some(r) => r,
            None => name
                .strip_prefix("istio-sidecar-injector-")
                .map(str::to_string)
                .or_else(|| {
                    cm.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(REV_LABEL).cloned())
                        .filter(|r| r != "default")
                })
                .unwrap_or_default(),
        };
        cfg.revision = if rev.is_empty() {
            "default".to_string()
        } else {
            rev
        };
        if let Some(t) = tag {
            cfg.tag = t;
        }
        let set_str = |field: &mut String, path: &str| -> Result<(), String> {
            if let Some(s) = v.string(path)? {
                *field = s;
            }
            Ok(())
        };
        set_str(
            &mut cfg.include_inbound_ports,
            "global.proxy.includeInboundPorts",
        )?;
        set_str(
            &mut cfg.exclude_inbound_ports,
            "global.proxy.excludeInboundPorts",
        )?;
        set_str(&mut cfg.status_port, "global.proxy.statusPort")?;
        set_str(&mut cfg.include_ip_ranges, "global.proxy.includeIPRanges")?;
        set_str(&mut cfg.exclude_ip_ranges, "global.proxy.excludeIPRanges")?;
        set_str(
            &mut cfg.include_outbound_ports,
            "global.proxy.includeOutboundPorts",
        )?;
        set_str(
            &mut cfg.exclude_outbound_ports,
            "global.proxy.excludeOutboundPorts",
        )?;
        set_str(&mut cfg.log_level, "global.logging.level")?;
        set_str(&mut cfg.hub, "global.hub")?;
        set_str(&mut cfg.variant, "global.variant")?;
        set_str(&mut cfg.proxy_image, "global.proxy.image")?;
        set_str(&mut cfg.proxy_init_image, "global.proxy_init.image")?;
        set_str(&mut cfg.pilot_cert_provider, "global.pilotCertProvider")?;
        set_str(&mut cfg.cni_provider, "pilot.cni.provider")?;
        cfg.hold_application_until_proxy_starts = v
            .bool("global.proxy.holdApplicationUntilProxyStarts")?
            .unwrap_or(false);
        cfg.log_as_json = v.bool("global.logAsJson")?.unwrap_or(false);
        cfg.force_apply_iptables = v
            .bool("global.proxy_init.forceApplyIptables")?
            .unwrap_or(false);
        cfg.native_nftables = v.bool("global.nativeNftables")?.unwrap_or(false);
        cfg.enable_namespaces_by_default = v
            .bool("sidecarInjectorWebhook.enableNamespacesByDefault")?
            .unwrap_or(false);
        cfg.cni = match v.bool("pilot.cni.enabled")? {
            Some(b) => b,
            None => v.bool("istio_cni.enabled")?.unwrap_or(false),
        };
        if let Some(n) = v.string("pilot.env.ENABLE_NATIVE_SIDECARS")? {
            cfg.native_sidecars = match n.as_str() {
                "true" => NativeSidecars::Enabled,
                "auto" => NativeSidecars::Auto,
                // pilot.go: "false" and any unknown value disable them.
                _ => NativeSidecars::Disabled,
            };
        }
        if let Some(text) = data.get("config") {
            cfg.read_config(text)?;
        }
        Ok(cfg)
    }

    fn read_config(&mut self, text: &str) -> Result<(), String> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct RawConfig {
            policy: Option<String>,
            default_templates: Option<Vec<String>>,
            templates: Option<BTreeMap<String, String>>,
            never_inject_selector: Option<Vec<LabelSelector>>,
            always_inject_selector: Option<Vec<LabelSelector>>,
            injected_annotations: Option<BTreeMap<String, String>>,
        }
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let raw: Option<RawConfig> = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            if path == "." || path.is_empty() {
                format!("data.config does not parse: {}", e.inner())
            } else {
                format!("data.config: field {path}: {}", e.inner())
            }
        })?;
        let raw = raw.unwrap_or_default();
        self.policy = match raw.policy.as_deref().unwrap_or("") {
            "enabled" => Policy::Enabled,
            "disabled" => Policy::Disabled,
            other => Policy::Invalid(other.to_string()),
        };
        if let Some(t) = raw.default_templates.filter(|t| !t.is_empty()) {
            self.default_templates = t;
        }
        if self.default_templates != ["sidecar"] {
            self.notes.push(format!(
                "defaultTemplates {:?}: only the stock sidecar template is modelled",
                self.default_templates
            ));
        }
        let _ = raw.templates;
        let mut selectors = |list: Option<Vec<LabelSelector>>, what: &str| {
            let mut out = Vec::new();
            for (i, s) in list.unwrap_or_default().iter().enumerate() {
                match Selector::from_k8s(s) {
                    Ok(sel) => out.push(sel),
                    Err(e) => self.notes.push(format!(
                        "{what}[{i}] is skipped, as Istio skips it: {}",
                        e.0
                    )),
                }
            }
            out
        };
        let never = selectors(raw.never_inject_selector, "neverInjectSelector");
        let always = selectors(raw.always_inject_selector, "alwaysInjectSelector");
        self.never_inject = never;
        self.always_inject = always;
        self.injected_annotations = raw.injected_annotations.unwrap_or_default();
        Ok(())
    }

    /// The minor modelled (the newest when unknown).
    pub fn minor(&self) -> (u32, u32) {
        self.version.unwrap_or(NEWEST)
    }

    /// "Istio 1.27", or "Istio 1.31 (version unknown: the newest modelled)".
    pub fn describe_version(&self) -> String {
        match self.version {
            Some((a, b)) => format!("Istio {a}.{b}"),
            None => format!(
                "Istio {}.{} (version unknown: the newest modelled)",
                NEWEST.0, NEWEST.1
            ),
        }
    }

    fn is_default_revision(&self) -> bool {
        self.revision == "default"
    }
}

/// `1.26.2`, `1.27.0-distroless`, `1.28-dev` → the minor.
pub fn parse_version(tag: &str) -> Option<(u32, u32)> {
    let t = tag.trim().trim_start_matches('v');
    let mut it = t.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// Typed reads of `data.values`, naming the field that has the wrong type.
struct Values<'a>(&'a Value);

impl Values<'_> {
    fn get(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(self.0, |v, k| v.as_object().and_then(|o| o.get(k)))
    }

    /// A string as Go's `fmt.Sprint` prints the JSON value (numbers and booleans too).
    fn string(&self, path: &str) -> Result<Option<String>, String> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(Value::Number(n)) => Ok(Some(match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                _ => n.to_string(),
            })),
            Some(other) => Err(format!(
                "data.values: field {path}: expected a string or a number, found {}",
                json_kind(other)
            )),
        }
    }

    fn bool(&self, path: &str) -> Result<Option<bool>, String> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(other) => Err(format!(
                "data.values: field {path}: expected a boolean, found {}",
                json_kind(other)
            )),
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What the webhook did to a pod, for a report line.
#[derive(Debug, Clone, PartialEq)]
pub enum InjectOutcome {
    /// The sidecar was injected by `revision`; `why` names the label that selected the pod.
    Injected {
        revision: String,
        version: String,
        why: String,
        native: bool,
        /// Assumptions and what was not modelled.
        notes: Vec<String>,
    },
    /// No sidecar, and why.
    NotInjected { why: String },
    /// The webhook failed, so the API server refuses the pod (`failurePolicy: Fail`).
    Refused {
        revision: String,
        version: String,
        why: String,
    },
    /// The pod already carries `sidecar.istio.io/status` (e.g. `istioctl kube-inject` output): kept as is.
    AlreadyInjected,
}

impl InjectOutcome {
    pub fn injected(&self) -> bool {
        matches!(
            self,
            InjectOutcome::Injected { .. } | InjectOutcome::AlreadyInjected
        )
    }

    /// "sidecar injected as Istio 1.27 would: namespace blog-system has istio-injection=enabled".
    pub fn report_line(&self) -> String {
        match self {
            InjectOutcome::Injected {
                version,
                why,
                native,
                notes,
                revision,
            } => {
                let mut s = format!(
                    "{} injected as {version} would (revision {revision}): {why}",
                    if *native {
                        "native sidecar (init container istio-proxy, restartPolicy: Always)"
                    } else {
                        "sidecar"
                    }
                );
                for n in notes {
                    s.push_str("; ");
                    s.push_str(n);
                }
                s
            }
            InjectOutcome::NotInjected { why } => format!("no sidecar injected: {why}"),
            InjectOutcome::Refused {
                version,
                why,
                revision,
            } => format!(
                "the pod would be refused: the sidecar injector (revision {revision}, as {version}) fails on it and its webhook has failurePolicy: Fail: {why}"
            ),
            InjectOutcome::AlreadyInjected => {
                "already injected (annotation sidecar.istio.io/status): kept as written".to_string()
            }
        }
    }
}

impl fmt::Display for InjectOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report_line())
    }
}

// ---------------------------------------------------------------------------------------------------------
// Selection.

fn label<'a>(m: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
    m.get(k).map(String::as_str)
}

/// Which of `inj`'s webhooks (`templates/mutatingwebhook.yaml`) the API server calls for this pod, and why.
fn webhook_match(
    inj: &InjectorConfig,
    ns: &str,
    ns_labels: &BTreeMap<String, String>,
    pod_labels: &BTreeMap<String, String>,
) -> Option<String> {
    let rev = inj.revision.as_str();
    let ns_inj = label(ns_labels, NS_INJECTION);
    let ns_rev = label(ns_labels, REV_LABEL);
    let pod_inj = label(pod_labels, INJECT_LABEL);
    let pod_rev = label(pod_labels, REV_LABEL);
    // rev.namespace.
    if ns_rev == Some(rev) && ns_inj.is_none() && pod_inj != Some("false") {
        return Some(format!("namespace {ns} has {REV_LABEL}={rev}"));
    }
    // rev.object.
    if ns_rev.is_none() && ns_inj.is_none() && pod_inj != Some("false") && pod_rev == Some(rev) {
        return Some(format!(
            "the pod has label {REV_LABEL}={rev} (namespace {ns} has no injection label)"
        ));
    }
    if inj.is_default_revision() {
        // namespace.
        if ns_inj == Some("enabled") && pod_inj != Some("false") {
            return Some(format!("namespace {ns} has {NS_INJECTION}=enabled"));
        }
        // object.
        if ns_inj.is_none() && ns_rev.is_none() && pod_inj == Some("true") && pod_rev.is_none() {
            return Some(format!(
                "the pod has label {INJECT_LABEL}=true (namespace {ns} has no injection label)"
            ));
        }
        // auto.
        if inj.enable_namespaces_by_default
            && ns_inj.is_none()
            && ns_rev.is_none()
            && ![
                "kube-system",
                "kube-public",
                "kube-node-lease",
                "local-path-storage",
            ]
            .contains(&ns)
            && pod_inj.is_none()
            && pod_rev.is_none()
        {
            return Some(format!(
                "sidecarInjectorWebhook.enableNamespacesByDefault is on and namespace {ns} has no injection label"
            ));
        }
    }
    None
}

/// Why no webhook is called, for the report.
fn why_no_webhook(
    ns: &str,
    ns_labels: &BTreeMap<String, String>,
    pod_labels: &BTreeMap<String, String>,
    pod_annotations: &BTreeMap<String, String>,
    injectors: &[InjectorConfig],
) -> String {
    let ns_inj = label(ns_labels, NS_INJECTION);
    let ns_rev = label(ns_labels, REV_LABEL);
    let pod_inj = label(pod_labels, INJECT_LABEL);
    let pod_rev = label(pod_labels, REV_LABEL);
    let revs: Vec<&str> = injectors.iter().map(|i| i.revision.as_str()).collect();
    if injectors.is_empty() {
        return "no sidecar injector is modelled".to_string();
    }
    if pod_inj == Some("false")
        && (ns_inj == Some("enabled") || ns_rev.is_some() || pod_rev.is_some())
    {
        return format!("the pod has label {INJECT_LABEL}=false");
    }
    match (ns_inj, ns_rev) {
        (Some("enabled"), _) => format!(
            "namespace {ns} has {NS_INJECTION}=enabled, but no default-revision injector is modelled (revisions: {})",
            revs.join(", ")
        ),
        (Some(v), _) => format!("namespace {ns} has {NS_INJECTION}={v}"),
        (None, Some(r)) => format!(
            "namespace {ns} has {REV_LABEL}={r}, and no injector serves revision {r} (revisions: {})",
            revs.join(", ")
        ),
        (None, None) => match (pod_inj, pod_rev) {
            (_, Some(r)) => format!(
                "the pod has label {REV_LABEL}={r}, and no injector serves revision {r} (revisions: {})",
                revs.join(", ")
            ),
            (Some("true"), None) => format!(
                "the pod has label {INJECT_LABEL}=true, but no default-revision injector is modelled (revisions: {})",
                revs.join(", ")
            ),
            _ => {
                let mut s = format!(
                    "namespace {ns} has neither {NS_INJECTION}=enabled nor {REV_LABEL}, and the pod has no {INJECT_LABEL}=true label"
                );
                if label(pod_annotations, INJECT_LABEL) == Some("true") {
                    s.push_str(" (its annotation sidecar.istio.io/inject: \"true\" is not seen by the webhook's objectSelector: use the label)");
                }
                s
            }
        },
    }
}

/// `injectRequired`: `Ok(())` or why not.
fn inject_required(
    inj: &InjectorConfig,
    ns: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<Option<String>, String> {
    if IGNORED_NAMESPACES.contains(&ns) {
        return Err(format!("namespace {ns} is never injected"));
    }
    let (selector, from) = match labels.get(INJECT_LABEL) {
        Some(v) => (v.as_str(), "label"),
        None => (
            annotations
                .get(INJECT_LABEL)
                .map(String::as_str)
                .unwrap_or(""),
            "annotation",
        ),
    };
    let mut decided: Option<(bool, String)> = match selector {
        "true" => Some((true, format!("{from} {INJECT_LABEL}=true"))),
        "false" => Some((false, format!("the pod has {from} {INJECT_LABEL}=false"))),
        _ => None,
    };
    let mut note = None;
    if !selector.is_empty() && decided.is_none() {
        note = Some(format!(
            "{from} {INJECT_LABEL}={selector:?} is neither true nor false: the default policy applies"
        ));
    }
    // neverInjectSelector first, then alwaysInjectSelector; the first matching selector decides.
    for (selectors, inject, field) in [
        (&inj.never_inject, false, "neverInjectSelector"),
        (&inj.always_inject, true, "alwaysInjectSelector"),
    ] {
        if decided.is_some() {
            break;
        }
        if let Some(i) = selectors
            .iter()
            .position(|s| !s.is_everything() && s.matches(labels))
        {
            decided = Some((
                inject,
                format!("the pod's labels match {field}[{i}] ({})", selectors[i]),
            ));
        }
    }
    match (&inj.policy, decided) {
        (Policy::Invalid(p), _) => Err(format!(
            "the injector's policy {p:?} is neither enabled nor disabled, so it injects nothing"
        )),
        (_, Some((true, why))) => Ok(Some(why)),
        (_, Some((false, why))) => Err(why),
        (Policy::Enabled, None) => Ok(note),
        (Policy::Disabled, None) => Err(format!(
            "the injector's policy is disabled and the pod does not opt in with {INJECT_LABEL}=true{}",
            note.map(|n| format!(" ({n})")).unwrap_or_default()
        )),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Annotation validation (`validate.go`): a failure fails the webhook.

fn go_port(s: &str) -> Option<u16> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<u16>().ok()
}

fn port_list_ok(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.split(',').all(|p| go_port(p).is_some())
}

fn cidr_ok(c: &str) -> bool {
    let Some((ip, bits)) = c.split_once('/') else {
        return false;
    };
    if bits.is_empty()
        || !bits.bytes().all(|b| b.is_ascii_digit())
        || (bits.len() > 1 && bits.starts_with('0'))
    {
        return false;
    }
    let Ok(bits) = bits.parse::<u32>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32 && !ip.contains(':'),
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

fn cidr_list_ok(s: &str) -> bool {
    s.is_empty() || s.split(',').all(cidr_ok)
}

fn interfaces_ok(s: &str) -> bool {
    s.is_empty()
        || s.split(',').all(|i| {
            let i = i.trim();
            !i.is_empty()
                && i.len() <= 15
                && i.starts_with(|c: char| c.is_ascii_alphabetic())
                && i.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        })
}

fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn validate_annotations(ann: &BTreeMap<String, String>) -> Result<(), String> {
    let mut errs = Vec::new();
    for (k, v) in ann {
        let ok = match k.as_str() {
            "sidecar.istio.io/interceptionMode" => {
                matches!(v.as_str(), "REDIRECT" | "TPROXY" | "NONE")
            }
            "status.sidecar.istio.io/port" => go_port(v).is_some(),
            "readiness.status.sidecar.istio.io/initialDelaySeconds"
            | "readiness.status.sidecar.istio.io/periodSeconds"
            | "readiness.status.sidecar.istio.io/failureThreshold" => {
                !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && v.parse::<u32>().is_ok()
            }
            "traffic.sidecar.istio.io/includeOutboundIPRanges" => v == "*" || cidr_list_ok(v),
            "traffic.sidecar.istio.io/excludeOutboundIPRanges" => cidr_list_ok(v),
            "traffic.sidecar.istio.io/includeInboundPorts" => v == "*" || port_list_ok(v),
            "traffic.sidecar.istio.io/excludeInboundPorts"
            | "traffic.sidecar.istio.io/excludeOutboundPorts" => port_list_ok(v),
            "traffic.sidecar.istio.io/excludeInterfaces"
            | "traffic.sidecar.istio.io/kubevirtInterfaces"
            | "istio.io/reroute-virtual-interfaces" => interfaces_ok(v),
            "prometheus.istio.io/merge-metrics" => go_bool(v).is_some(),
            "proxy.istio.io/config" => proxy_config_annotation(v).is_ok(),
            _ => true,
        };
        if !ok {
            errs.push(format!("invalid value {v:?} for annotation {k}"));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// The parts of `proxy.istio.io/config` that change what is injected.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ProxyConfigAnnotation {
    proxy_metadata: Option<BTreeMap<String, String>>,
    interception_mode: Option<String>,
    hold_application_until_proxy_starts: Option<bool>,
}

fn proxy_config_annotation(v: &str) -> Result<ProxyConfigAnnotation, String> {
    let pc: Option<ProxyConfigAnnotation> =
        serde_yaml_ng::from_str(v).map_err(|e| e.to_string())?;
    let pc = pc.unwrap_or_default();
    if let Some(m) = &pc.interception_mode {
        if !matches!(m.as_str(), "REDIRECT" | "TPROXY" | "NONE") {
            return Err(format!("interceptionMode {m:?}"));
        }
    }
    Ok(pc)
}

// ---------------------------------------------------------------------------------------------------------
// Mutation.

/// `excludeInboundPort` of `template.go`: appends the status port unless it is 0 or already listed.
fn exclude_inbound_port(status_port: &str, excluded: &str) -> String {
    let port = status_port.trim();
    if port.is_empty() || port == "0" {
        return excluded.to_string();
    }
    let mut out = Vec::new();
    for p in excluded.split(',') {
        if p == port {
            return excluded.to_string();
        }
        let p = p.trim();
        if !p.is_empty() {
            out.push(p.to_string());
        }
    }
    out.push(port.to_string());
    out.join(",")
}

fn ann_or<'a>(ann: &'a BTreeMap<String, String>, k: &str, default: &'a str) -> &'a str {
    ann.get(k).map(String::as_str).unwrap_or(default)
}

/// Prometheus's label-name sanitising (`strutil.SanitizeLabelName`), by which the webhook matches
/// `prometheus.io/scrape`, `prometheus-io/scrape`, `prometheus.io.scrape`, ….
fn sanitize(k: &str) -> String {
    k.chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn env(name: &str, value: &str) -> corev1::EnvVar {
    corev1::EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}

fn image_url(inj: &InjectorConfig, image: &str, annotations: &BTreeMap<String, String>) -> String {
    let mut kind = inj.variant.clone();
    if let Some(t) = annotations.get("sidecar.istio.io/proxyImageType") {
        kind = t.clone();
    }
    let mut tag = inj.tag.clone();
    if !kind.is_empty() {
        for k in ["distroless", "debug"] {
            if let Some(t) = tag.strip_suffix(&format!("-{k}")) {
                tag = t.to_string();
                break;
            }
        }
        if kind != "default" {
            tag = format!("{tag}-{kind}");
        }
    }
    format!("{}/{image}:{tag}", inj.hub)
}

/// `kube.GetDeployMetaFromPod`: the workload name the template falls back on for the canonical name.
fn deploy_name(pod: &corev1::Pod) -> String {
    let m = &pod.metadata;
    let mut name = m.name.clone().unwrap_or_default();
    if m.generate_name.as_deref().is_some_and(|g| !g.is_empty()) {
        if let Some(o) = m
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
        {
            name = o.name.clone();
            let labels = m.labels.clone().unwrap_or_default();
            let hash = |k: &str| labels.get(k).filter(|h| !h.is_empty()).cloned();
            if o.kind == "ReplicaSet" {
                if let Some(h) = hash("pod-template-hash").filter(|h| o.name.ends_with(h.as_str()))
                {
                    name = o
                        .name
                        .strip_suffix(&format!("-{h}"))
                        .unwrap_or(&o.name)
                        .to_string();
                } else if let Some(h) =
                    hash("rollouts-pod-template-hash").filter(|h| o.name.ends_with(h.as_str()))
                {
                    name = o
                        .name
                        .strip_suffix(&format!("-{h}"))
                        .unwrap_or(&o.name)
                        .to_string();
                }
            } else if o.kind == "ReplicationController" {
                if let Some(dc) = hash("deploymentconfig") {
                    name = dc;
                }
            } else if o.kind == "Job" {
                // `(.+)-\d{8,10}$`: a CronJob's job.
                if let Some((base, ts)) = o.name.rsplit_once('-') {
                    if !base.is_empty()
                        && (8..=10).contains(&ts.len())
                        && ts.bytes().all(|b| b.is_ascii_digit())
                    {
                        name = base.to_string();
                    }
                }
            }
        }
    }
    name
}

fn first_set<'a>(labels: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| labels.get(*k))
        .map(String::as_str)
        .find(|v| !v.is_empty())
}

/// Moves container `name` first or last (`modifyContainers`).
fn move_container(list: &mut Vec<corev1::Container>, name: &str, first: bool) {
    if let Some(i) = list.iter().position(|c| c.name == name) {
        let c = list.remove(i);
        if first {
            list.insert(0, c);
        } else {
            list.push(c);
        }
    }
}

/// Whether the injector would run on this pod and what it would do, applied to `pod` (mutated only when
/// injected). `namespace_labels` are the labels of the pod's namespace (`metadata.namespace`); the API
/// server's own `kubernetes.io/metadata.name` need not be there. `injectors` are the revisions installed;
/// when several would take the pod, the first one does (Istio's selectors keep them apart).
pub fn inject(
    pod: &mut corev1::Pod,
    namespace_labels: &BTreeMap<String, String>,
    injectors: &[InjectorConfig],
    mesh: &MeshConfig,
) -> InjectOutcome {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    if annotations.contains_key(STATUS_ANNOTATION) {
        return InjectOutcome::AlreadyInjected;
    }
    let Some((inj, why)) = injectors
        .iter()
        .find_map(|i| webhook_match(i, &ns, namespace_labels, &labels).map(|w| (i, w)))
    else {
        return InjectOutcome::NotInjected {
            why: why_no_webhook(&ns, namespace_labels, &labels, &annotations, injectors),
        };
    };
    let spec = pod.spec.clone().unwrap_or_default();
    if spec.host_network == Some(true) {
        return InjectOutcome::NotInjected {
            why: "the pod uses hostNetwork, which Istio never injects".to_string(),
        };
    }
    let extra = match inject_required(inj, &ns, &labels, &annotations) {
        Ok(extra) => extra,
        Err(why) => return InjectOutcome::NotInjected { why },
    };
    let refused = |why: String| InjectOutcome::Refused {
        revision: inj.revision.clone(),
        version: inj.describe_version(),
        why,
    };
    if let Err(e) = validate_annotations(&annotations) {
        return refused(e);
    }
    let mut notes = inj.notes.clone();
    if let Some(e) = extra {
        notes.push(e);
    }
    if let Some(t) = annotations
        .get("inject.istio.io/templates")
        .filter(|t| !matches!(t.trim(), GATEWAY_TEMPLATE | "sidecar"))
    {
        notes.push(format!(
            "annotation inject.istio.io/templates: {t:?}: only the stock sidecar and gateway templates are modelled"
        ));
    }
    match mutate(pod, inj, mesh, &labels, &annotations, &mut notes) {
        Ok(native) => InjectOutcome::Injected {
            revision: inj.revision.clone(),
            version: inj.describe_version(),
            why,
            native,
            notes,
        },
        Err(e) => refused(e),
    }
}

fn mutate(
    pod: &mut corev1::Pod,
    inj: &InjectorConfig,
    mesh: &MeshConfig,
    labels: &BTreeMap<String, String>,
    ann: &BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<bool, String> {
    let minor = inj.minor();
    // The effective ProxyConfig: the mesh's defaultConfig, then the pod's proxy.istio.io/config.
    let pc = match ann.get("proxy.istio.io/config") {
        Some(v) => proxy_config_annotation(v)?,
        None => ProxyConfigAnnotation::default(),
    };
    let mut proxy_metadata = mesh.proxy_metadata.clone();
    proxy_metadata.extend(pc.proxy_metadata.clone().unwrap_or_default());
    let pc_mode = pc
        .interception_mode
        .clone()
        .unwrap_or_else(|| "REDIRECT".to_string());
    let mode = ann_or(ann, "sidecar.istio.io/interceptionMode", &pc_mode).to_string();
    let tproxy = mode == "TPROXY";
    let flag_native = match inj.native_sidecars {
        NativeSidecars::Enabled => true,
        NativeSidecars::Disabled => false,
        NativeSidecars::Auto => match inj.nodes_support_native {
            Some(b) => b,
            None => {
                notes.push(
                    "ENABLE_NATIVE_SIDECARS=auto: assumed every node runs kubelet 1.33 or newer"
                        .to_string(),
                );
                true
            }
        },
    };
    // The `gateway` template (Istio's gateway chart: `inject.istio.io/templates: gateway`, a container
    // `istio-proxy` with `image: auto`) fills in that container as a router: no capture, no init
    // containers, never a native sidecar.
    let gateway = ann.get("inject.istio.io/templates").map(|t| t.trim()) == Some(GATEWAY_TEMPLATE);
    let native = !gateway
        && match ann
            .get("sidecar.istio.io/nativeSidecar")
            .map(String::as_str)
        {
            None | Some("") => flag_native,
            Some(v) => v != "false",
        };
    let spec = pod.spec.get_or_insert_with(Default::default);
    let app_containers: Vec<String> = spec
        .containers
        .iter()
        .filter(|c| c.name != PROXY)
        .map(|c| c.name.clone())
        .collect();
    let status_port = ann_or(ann, "status.sidecar.istio.io/port", &inj.status_port).to_string();
    let include_inbound = ann_or(
        ann,
        "traffic.sidecar.istio.io/includeInboundPorts",
        &inj.include_inbound_ports,
    )
    .to_string();
    let exclude_inbound = exclude_inbound_port(
        &status_port,
        ann_or(
            ann,
            "traffic.sidecar.istio.io/excludeInboundPorts",
            &inj.exclude_inbound_ports,
        ),
    );
    let include_ips = ann_or(
        ann,
        "traffic.sidecar.istio.io/includeOutboundIPRanges",
        &inj.include_ip_ranges,
    )
    .to_string();
    let exclude_ips = ann_or(
        ann,
        "traffic.sidecar.istio.io/excludeOutboundIPRanges",
        &inj.exclude_ip_ranges,
    )
    .to_string();
    let inc_out_set = ann.contains_key("traffic.sidecar.istio.io/includeOutboundPorts")
        || !inj.include_outbound_ports.is_empty();
    let exc_out_set = ann.contains_key("traffic.sidecar.istio.io/excludeOutboundPorts")
        || !inj.exclude_outbound_ports.is_empty();
    let include_out = ann_or(
        ann,
        "traffic.sidecar.istio.io/includeOutboundPorts",
        &inj.include_outbound_ports,
    )
    .to_string();
    let exclude_out = ann_or(
        ann,
        "traffic.sidecar.istio.io/excludeOutboundPorts",
        &inj.exclude_outbound_ports,
    )
    .to_string();

    // The template's pod: init containers, the proxy, volumes.
    let mut template_init: Vec<corev1::Container> = Vec::new();
    if mode != "NONE" && !gateway {
        let mut args: Vec<String> = [
            "istio-iptables",
            "-p",
            "15001",
            "-z",
            "15006",
            "-u",
            "1337",
            "-m",
            &mode,
            "-i",
            &include_ips,
            "-x",
            &exclude_ips,
            "-b",
            &include_inbound,
            "-d",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(if exclude_inbound.is_empty() {
            "15090,15021".to_string()
        } else {
            format!("15090,15021,{exclude_inbound}")
        });
        if inc_out_set {
            args.extend(["-q".to_string(), include_out.clone()]);
        }
        if exc_out_set {
            args.extend(["-o".to_string(), exclude_out.clone()]);
        }
        if let Some(k) = ann
            .get("istio.io/reroute-virtual-interfaces")
            .or_else(|| ann.get("traffic.sidecar.istio.io/kubevirtInterfaces"))
        {
            args.extend(["-k".to_string(), k.clone()]);
        }
        if let Some(c) = ann.get("traffic.sidecar.istio.io/excludeInterfaces") {
            args.extend(["-c".to_string(), c.clone()]);
        }
        args.push(format!(
            "--log_output_level={}",
            ann_or(ann, "sidecar.istio.io/agentLogLevel", &inj.log_level)
        ));
        if inj.log_as_json {
            args.push("--log_as_json".to_string());
        }
        if inj.cni {
            args.extend([
                "--run-validation".to_string(),
                "--skip-rule-apply".to_string(),
            ]);
        } else if inj.force_apply_iptables {
            args.push("--force-apply".to_string());
        }
        if inj.native_nftables {
            args.push("--native-nftables".to_string());
        }
        let image = ann_or(ann, "sidecar.istio.io/proxyImage", &inj.proxy_init_image);
        template_init.push(corev1::Container {
            name: if inj.cni { VALIDATION } else { INIT }.to_string(),
            image: Some(if image.contains('/') {
                image.to_string()
            } else {
                image_url(inj, &inj.proxy_init_image, ann)
            }),
            args: Some(args),
            env: (!proxy_metadata.is_empty())
                .then(|| proxy_metadata.iter().map(|(k, v)| env(k, v)).collect()),
            ..Default::default()
        });
    }
    let _ = tproxy;
    let proxy_image = ann_or(ann, "sidecar.istio.io/proxyImage", &inj.proxy_image);
    let mut proxy_env: Vec<corev1::EnvVar> =
        proxy_metadata.iter().map(|(k, v)| env(k, v)).collect();
    proxy_env.insert(0, env("ISTIO_META_INTERCEPTION_MODE", &mode));
    let proxy = corev1::Container {
        name: PROXY.to_string(),
        image: Some(if proxy_image.contains('/') {
            proxy_image.to_string()
        } else {
            image_url(inj, &inj.proxy_image, ann)
        }),
        restart_policy: native.then(|| "Always".to_string()),
        ports: Some(vec![corev1::ContainerPort {
            container_port: i32::from(super::workload::ENVOY_STATS_PORT),
            protocol: Some("TCP".to_string()),
            name: Some("http-envoy-prom".to_string()),
            ..Default::default()
        }]),
        args: Some(vec![
            "proxy".to_string(),
            if gateway { "router" } else { "sidecar" }.to_string(),
        ]),
        env: Some(proxy_env),
        ..Default::default()
    };
    let mut template_containers = Vec::new();
    if native {
        template_init.push(proxy);
    } else {
        template_containers.push(proxy);
    }
    let mut volumes: Vec<&str> = vec![
        "workload-socket",
        "credential-socket",
        "workload-certs",
        "istio-envoy",
        "istio-data",
        "istio-podinfo",
        "istio-token",
    ];
    if inj.pilot_cert_provider == "istiod" {
        volumes.push("istiod-ca-cert");
    }
    if !gateway {
        volumes.push("istio-ca-crl");
    }
    // As Go marshals SidecarInjectionStatus: field order kept, an empty list as null.
    let names = |l: &[corev1::Container]| -> String {
        if l.is_empty() {
            "null".to_string()
        } else {
            Value::from(l.iter().map(|c| c.name.clone()).collect::<Vec<_>>()).to_string()
        }
    };
    let status = format!(
        "{{\"initContainers\":{},\"containers\":{},\"volumes\":{},\"imagePullSecrets\":null,\"revision\":{}}}",
        names(&template_init),
        names(&template_containers),
        Value::from(volumes.clone()),
        Value::from(inj.revision.clone()),
    );

    // Merge (strategic merge by container name: new ones appended; into a container the pod already
    // has, the template's fields win, and ports merge by containerPort and env by name).
    let merge = |list: &mut Vec<corev1::Container>, c: corev1::Container| match list
        .iter_mut()
        .find(|x| x.name == c.name)
    {
        Some(x) => {
            // As the overlay orders a merged list: the template's new items first, then the pod's,
            // each merged in place with the template's item of the same key.
            let theirs = x.ports.take().unwrap_or_default();
            let mine = c.ports.clone().unwrap_or_default();
            let mut ports: Vec<corev1::ContainerPort> = mine
                .iter()
                .filter(|p| !theirs.iter().any(|q| q.container_port == p.container_port))
                .cloned()
                .collect();
            ports.extend(theirs.into_iter().map(|q| {
                mine.iter()
                    .find(|p| p.container_port == q.container_port)
                    .cloned()
                    .unwrap_or(q)
            }));
            let theirs = x.env.take().unwrap_or_default();
            let mine = c.env.clone().unwrap_or_default();
            let mut envs: Vec<corev1::EnvVar> = mine
                .iter()
                .filter(|e| !theirs.iter().any(|f| f.name == e.name))
                .cloned()
                .collect();
            envs.extend(
                theirs
                    .into_iter()
                    .map(|f| mine.iter().find(|e| e.name == f.name).cloned().unwrap_or(f)),
            );
            *x = corev1::Container {
                ports: (!ports.is_empty()).then_some(ports),
                env: (!envs.is_empty()).then_some(envs),
                ..c
            };
        }
        None => list.push(c),
    };
    let mut init = spec.init_containers.take().unwrap_or_default();
    if native {
        // A user's istio-proxy customisation moves to the init containers with the proxy.
        if let Some(i) = spec.containers.iter().position(|c| c.name == PROXY) {
            let c = spec.containers.remove(i);
            init.push(c);
        }
    }
    for c in template_init {
        merge(&mut init, c);
    }
    for c in template_containers {
        merge(&mut spec.containers, c);
    }
    spec.init_containers = Some(init);
    let vols = spec.volumes.get_or_insert_with(Vec::new);
    for v in &volumes {
        if !vols.iter().any(|x| x.name == *v) {
            vols.push(corev1::Volume {
                name: v.to_string(),
                ..Default::default()
            });
        }
    }

    // Metadata of the template.
    let meta_labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    if !gateway {
        let tls = first_set(labels, &["security.istio.io/tlsMode"])
            .unwrap_or("istio")
            .to_string();
        meta_labels.insert("security.istio.io/tlsMode".to_string(), tls);
    }
    if !gateway
        && proxy_metadata
            .get("ISTIO_META_ENABLE_HBONE")
            .map(String::as_str)
            == Some("true")
    {
        let t = first_set(labels, &["networking.istio.io/tunnel"])
            .unwrap_or("http")
            .to_string();
        meta_labels.insert("networking.istio.io/tunnel".to_string(), t);
    }
    let deploy = deploy_name(pod);
    let name = first_set(
        labels,
        &[
            "service.istio.io/canonical-name",
            "app.kubernetes.io/name",
            "app",
        ],
    )
    .map(str::to_string)
    .unwrap_or(deploy);
    // The sidecar template truncates and trims the name; the gateway template takes it as it is.
    let name = if gateway {
        name
    } else {
        let name: String = name.chars().take(63).collect();
        name.trim_matches(|c| matches!(c, '-' | '_' | '.'))
            .to_string()
    };
    let revision = first_set(
        labels,
        &[
            "service.istio.io/canonical-revision",
            "app.kubernetes.io/version",
            "version",
        ],
    )
    .unwrap_or("latest")
    .to_string();
    let meta_labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    meta_labels.insert("service.istio.io/canonical-name".to_string(), name);
    meta_labels.insert("service.istio.io/canonical-revision".to_string(), revision);

    let a = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(REV_LABEL.to_string(), inj.revision.clone());
    if let Some(first) = app_containers.first() {
        for k in [
            "kubectl.kubernetes.io/default-logs-container",
            "kubectl.kubernetes.io/default-container",
        ] {
            if !ann.contains_key(k) {
                a.insert(k.to_string(), first.clone());
            }
        }
    }
    if inj.cni && !gateway {
        if inj.cni_provider == "multus" {
            let cur = ann
                .get("k8s.v1.cni.cncf.io/networks")
                .cloned()
                .unwrap_or_default();
            let v = if cur.is_empty() {
                "default/istio-cni".to_string()
            } else if cur.contains(']') {
                notes.push("a JSON Multus network list is not modelled".to_string());
                cur
            } else {
                format!("{cur}, default/istio-cni")
            };
            a.insert("k8s.v1.cni.cncf.io/networks".to_string(), v);
        }
        a.insert(
            "sidecar.istio.io/interceptionMode".to_string(),
            mode.clone(),
        );
        if !include_ips.is_empty() {
            a.insert(
                "traffic.sidecar.istio.io/includeOutboundIPRanges".to_string(),
                include_ips.clone(),
            );
        }
        if !exclude_ips.is_empty() {
            a.insert(
                "traffic.sidecar.istio.io/excludeOutboundIPRanges".to_string(),
                exclude_ips.clone(),
            );
        }
        a.insert(
            "traffic.sidecar.istio.io/includeInboundPorts".to_string(),
            include_inbound.clone(),
        );
        a.insert(
            "traffic.sidecar.istio.io/excludeInboundPorts".to_string(),
            exclude_inbound.clone(),
        );
        if inc_out_set {
            a.insert(
                "traffic.sidecar.istio.io/includeOutboundPorts".to_string(),
                include_out.clone(),
            );
        }
        if exc_out_set {
            a.insert(
                "traffic.sidecar.istio.io/excludeOutboundPorts".to_string(),
                exclude_out.clone(),
            );
        }
    }

    // Post-processing: metrics merge, secure port, status, injected annotations, order.
    prometheus_merge(pod, mesh, minor)?;
    if minor >= (1, 31) {
        secure_port(pod);
    }
    let a = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(STATUS_ANNOTATION.to_string(), status);
    for (k, v) in &inj.injected_annotations {
        a.insert(k.clone(), v.clone());
    }
    let hold = pc.hold_application_until_proxy_starts.unwrap_or(false)
        || inj.hold_application_until_proxy_starts;
    let spec = pod.spec.get_or_insert_with(Default::default);
    move_container(&mut spec.containers, PROXY, hold);
    let mut init = spec.init_containers.take().unwrap_or_default();
    if init.iter().any(|c| c.name == PROXY) {
        for n in [CORE_DUMP, PROXY, VALIDATION, INIT] {
            move_container(&mut init, n, true);
        }
    } else {
        move_container(&mut init, VALIDATION, true);
        move_container(&mut init, INIT, false);
        move_container(&mut init, CORE_DUMP, false);
    }
    spec.init_containers = (!init.is_empty()).then_some(init);
    Ok(native)
}

fn proxy_mut(pod: &mut corev1::Pod) -> Option<&mut corev1::Container> {
    let spec = pod.spec.as_mut()?;
    if let Some(i) = spec.containers.iter().position(|c| c.name == PROXY) {
        return spec.containers.get_mut(i);
    }
    spec.init_containers
        .as_mut()?
        .iter_mut()
        .find(|c| c.name == PROXY)
}

/// `applyPrometheusMerge`: the original `prometheus.io/*` into `ISTIO_PROMETHEUS_ANNOTATIONS`, the
/// annotations pointed at the agent's `:15020/stats/prometheus`.
fn prometheus_merge(
    pod: &mut corev1::Pod,
    mesh: &MeshConfig,
    minor: (u32, u32),
) -> Result<(), String> {
    let ann = pod.metadata.annotations.clone().unwrap_or_default();
    let find = |name: &str| {
        ann.iter()
            .find(|(k, _)| sanitize(k) == name)
            .map(|(_, v)| v.clone())
    };
    // getPrometheusScrape: the first parseable value; unparseable or missing → true.
    let scrape_on = ann
        .iter()
        .filter(|(k, _)| sanitize(k) == "prometheus_io_scrape")
        .find_map(|(_, v)| go_bool(v))
        .unwrap_or(true);
    let merge = match ann
        .get("prometheus.istio.io/merge-metrics")
        .and_then(|v| go_bool(v))
    {
        Some(b) => b,
        None => mesh.enable_prometheus_merge.unwrap_or(true),
    };
    if !(scrape_on && merge) {
        return Ok(());
    }
    let target = super::workload::DEFAULT_STATUS_PORT.to_string();
    let port = find("prometheus_io_port");
    if port.as_deref() == Some(target.as_str()) {
        return Ok(());
    }
    let path = find("prometheus_io_path");
    let scrape = find("prometheus_io_scrape");
    let (mut c_port, mut c_path) = (
        port.clone().unwrap_or_default(),
        path.clone().unwrap_or_default(),
    );
    let mut targets_json = String::new();
    let mut empty = scrape.is_none() && path.is_none() && port.is_none();
    if minor >= (1, 31) {
        let check = |p: &str, what: &str| -> Result<(), String> {
            let t = if what == "targets" { "target " } else { "" };
            let n = p.parse::<i64>().ok().filter(|n| (1..=65535).contains(n));
            let Some(n) = n else {
                return Err(format!(
                    "invalid prometheus scrape {what}: invalid {t}port {p:?}"
                ));
            };
            let canon = n.to_string();
            if canon == target {
                return Err(format!(
                    "invalid prometheus scrape {what}: {t}port {p} conflicts with agent port"
                ));
            }
            if let Some((_, r)) = RESERVED_PORTS.iter().find(|(q, _)| *q == canon) {
                return Err(format!(
                    "invalid prometheus scrape {what}: {t}port {p} is reserved for Istio ({r}) and cannot be scraped"
                ));
            }
            Ok(())
        };
        let targets = find("prometheus_istio_io_scrape_targets").and_then(|t| parse_targets(&t));
        if let Some(targets) = targets.filter(|t| !t.is_empty()) {
            c_port = targets[0].0.clone();
            c_path = targets[0].1.clone();
            for (p, _) in &targets {
                check(p, "targets")?;
            }
            let list: Vec<String> = targets
                .iter()
                .map(|(p, pa)| {
                    format!(
                        "{{\"port\":{},\"path\":{}}}",
                        Value::from(p.clone()),
                        Value::from(pa.clone())
                    )
                })
                .collect();
            targets_json = format!(",\"targets\":[{}]", list.join(","));
            empty = false;
        } else if let Some(p) = port.as_deref().filter(|p| !p.is_empty()) {
            check(p, "configuration")?;
        }
    }
    if !empty {
        // As Go marshals PrometheusScrapeConfiguration (scrape, path, port, targets).
        let value = format!(
            "{{\"scrape\":{},\"path\":{},\"port\":{}{targets_json}}}",
            Value::from(scrape.clone().unwrap_or_default()),
            Value::from(c_path),
            Value::from(c_port),
        );
        if let Some(proxy) = proxy_mut(pod) {
            proxy
                .env
                .get_or_insert_with(Vec::new)
                .push(env("ISTIO_PROMETHEUS_ANNOTATIONS", &value));
        }
    }
    let a = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut clear = vec![
        "prometheus_io_path",
        "prometheus_io_port",
        "prometheus_io_scrape",
    ];
    if minor >= (1, 31) {
        clear.push("prometheus_istio_io_scrape_targets");
    }
    a.retain(|k, _| !clear.contains(&sanitize(k).as_str()));
    a.insert("prometheus.io/port".to_string(), target);
    a.insert(
        "prometheus.io/path".to_string(),
        super::workload::MERGED_PATH.to_string(),
    );
    a.insert("prometheus.io/scrape".to_string(), "true".to_string());
    Ok(())
}

/// `status.ParseScrapeTargets`: `port[:path]` pairs; `None` when an entry has no port (the webhook
/// then ignores the annotation).
fn parse_targets(raw: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in raw.split(',') {
        let e = e.trim();
        if e.is_empty() {
            continue;
        }
        let (port, path) = match e.split_once(':') {
            Some((p, pa)) => (p.trim(), pa.trim()),
            None => (e, ""),
        };
        if port.is_empty() {
            return None;
        }
        let path = if path.is_empty() { "/metrics" } else { path }.to_string();
        out.push((port.to_string(), path));
    }
    Some(out)
}

/// `applySecurePrometheusAnnotation` (1.31).
fn secure_port(pod: &mut corev1::Pod) {
    let ann = pod.metadata.annotations.clone().unwrap_or_default();
    if ann
        .keys()
        .any(|k| sanitize(k) == "prometheus_istio_io_secure_port")
    {
        return;
    }
    let Some(proxy) = proxy_mut(pod) else { return };
    let v = proxy
        .env
        .iter()
        .flatten()
        .find(|e| {
            e.name == "ENVOY_SECURE_MERGED_METRICS_PORT"
                && e.value
                    .as_deref()
                    .is_some_and(|v| !v.is_empty() && v != "0")
        })
        .and_then(|e| e.value.clone());
    if let Some(v) = v {
        pod.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("prometheus.istio.io/secure-port".to_string(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pod;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pod(ns: &str, labels: &[(&str, &str)], ann: &[(&str, &str)]) -> corev1::Pod {
        corev1::Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("web-0".into()),
                namespace: Some(ns.into()),
                labels: Some(map(labels)),
                annotations: Some(map(ann)),
                ..Default::default()
            },
            spec: Some(corev1::PodSpec {
                containers: vec![corev1::Container {
                    name: "app".into(),
                    ports: Some(vec![corev1::ContainerPort {
                        container_port: 8080,
                        name: Some("http-metrics".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn old() -> InjectorConfig {
        InjectorConfig::defaults(Some((1, 26)))
    }

    fn run(p: &mut corev1::Pod, ns: &[(&str, &str)], injs: &[InjectorConfig]) -> InjectOutcome {
        inject(p, &map(ns), injs, &MeshConfig::default())
    }

    fn injected_by(p: &mut corev1::Pod, ns: &[(&str, &str)], injs: &[InjectorConfig]) -> String {
        match run(p, ns, injs) {
            InjectOutcome::Injected { revision, .. } => revision,
            other => panic!("not injected: {other:?}"),
        }
    }

    fn not_injected(p: &mut corev1::Pod, ns: &[(&str, &str)], injs: &[InjectorConfig]) -> String {
        let before = p.clone();
        match run(p, ns, injs) {
            InjectOutcome::NotInjected { why } => {
                assert_eq!(*p, before, "a pod that is not injected is not changed");
                why
            }
            other => panic!("injected: {other:?}"),
        }
    }

    fn container<'a>(p: &'a corev1::Pod, name: &str) -> &'a corev1::Container {
        let s = p.spec.as_ref().unwrap();
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no container {name}"))
    }

    fn init_names(p: &corev1::Pod) -> Vec<String> {
        p.spec
            .as_ref()
            .unwrap()
            .init_containers
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect()
    }

    fn names(p: &corev1::Pod) -> Vec<String> {
        p.spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    fn ann(p: &corev1::Pod, k: &str) -> Option<String> {
        p.metadata.annotations.as_ref().unwrap().get(k).cloned()
    }

    fn env_of(p: &corev1::Pod, k: &str) -> Option<String> {
        container(p, PROXY)
            .env
            .iter()
            .flatten()
            .find(|e| e.name == k)
            .and_then(|e| e.value.clone())
    }

    fn arg(p: &corev1::Pod, flag: &str) -> Option<String> {
        let c = p
            .spec
            .as_ref()
            .unwrap()
            .init_containers
            .iter()
            .flatten()
            .find(|c| c.name == INIT || c.name == VALIDATION)?;
        let args = c.args.as_ref().unwrap();
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    }

    // --- Selection: the MutatingWebhookConfiguration's selectors.

    #[test]
    fn namespace_label_istio_injection_enabled_injects() {
        let mut p = pod("blog-system", &[("app", "web")], &[]);
        let out = run(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert!(out.injected());
        assert_eq!(
            out.report_line(),
            "sidecar injected as Istio 1.26 would (revision default): namespace blog-system has istio-injection=enabled"
        );
    }

    #[test]
    fn namespace_label_disabled_or_missing_does_not_inject() {
        let why = not_injected(
            &mut pod("shop", &[], &[]),
            &[("istio-injection", "disabled")],
            &[old()],
        );
        assert_eq!(why, "namespace shop has istio-injection=disabled");
        let why = not_injected(&mut pod("shop", &[], &[]), &[], &[old()]);
        assert!(
            why.contains("neither istio-injection=enabled nor istio.io/rev"),
            "{why}"
        );
    }

    #[test]
    fn pod_label_true_injects_in_an_unlabelled_namespace_but_the_annotation_does_not() {
        assert_eq!(
            injected_by(
                &mut pod("shop", &[(INJECT_LABEL, "true")], &[]),
                &[],
                &[old()]
            ),
            "default"
        );
        let why = not_injected(
            &mut pod("shop", &[], &[(INJECT_LABEL, "true")]),
            &[],
            &[old()],
        );
        assert!(
            why.contains("not seen by the webhook's objectSelector"),
            "{why}"
        );
    }

    #[test]
    fn pod_label_false_beats_an_enabled_namespace_and_so_does_the_annotation() {
        let why = not_injected(
            &mut pod("shop", &[(INJECT_LABEL, "false")], &[]),
            &[("istio-injection", "enabled")],
            &[old()],
        );
        assert_eq!(why, "the pod has label sidecar.istio.io/inject=false");
        let why = not_injected(
            &mut pod("shop", &[], &[(INJECT_LABEL, "false")]),
            &[("istio-injection", "enabled")],
            &[old()],
        );
        assert_eq!(why, "the pod has annotation sidecar.istio.io/inject=false");
        // The label is preferred over the annotation.
        let mut p = pod(
            "shop",
            &[(INJECT_LABEL, "true")],
            &[(INJECT_LABEL, "false")],
        );
        assert_eq!(
            injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]),
            "default"
        );
    }

    #[test]
    fn revisions_are_selected_by_namespace_or_pod_istio_io_rev() {
        let mut canary = old();
        canary.revision = "canary".into();
        let both = [old(), canary.clone()];
        assert_eq!(
            injected_by(&mut pod("a", &[], &[]), &[(REV_LABEL, "canary")], &both),
            "canary"
        );
        assert_eq!(
            injected_by(&mut pod("a", &[(REV_LABEL, "canary")], &[]), &[], &both),
            "canary"
        );
        // istio-injection wins over istio.io/rev on the namespace (the legacy selector has precedence).
        assert_eq!(
            injected_by(
                &mut pod("a", &[], &[]),
                &[(REV_LABEL, "canary"), ("istio-injection", "enabled")],
                &both
            ),
            "default"
        );
        // The default revision also answers istio.io/rev=default.
        assert_eq!(
            injected_by(&mut pod("a", &[], &[]), &[(REV_LABEL, "default")], &both),
            "default"
        );
        // A pod label istio.io/rev keeps the default revision's object webhook away.
        let why = not_injected(
            &mut pod("a", &[(INJECT_LABEL, "true"), (REV_LABEL, "stable")], &[]),
            &[],
            &both,
        );
        assert!(why.contains("no injector serves revision stable"), "{why}");
        let why = not_injected(&mut pod("a", &[], &[]), &[(REV_LABEL, "stable")], &both);
        assert!(why.contains("namespace a has istio.io/rev=stable"), "{why}");
        // Only the canary installed: istio-injection=enabled finds no default-revision webhook.
        let why = not_injected(
            &mut pod("a", &[], &[]),
            &[("istio-injection", "enabled")],
            &[canary],
        );
        assert!(why.contains("no default-revision injector"), "{why}");
    }

    #[test]
    fn enable_namespaces_by_default_injects_unlabelled_namespaces_except_the_system_ones() {
        let mut i = old();
        i.enable_namespaces_by_default = true;
        assert_eq!(
            injected_by(&mut pod("shop", &[], &[]), &[], std::slice::from_ref(&i)),
            "default"
        );
        not_injected(
            &mut pod("kube-system", &[], &[]),
            &[],
            std::slice::from_ref(&i),
        );
        // A pod with any sidecar.istio.io/inject label is outside the auto webhook.
        not_injected(&mut pod("shop", &[(INJECT_LABEL, "maybe")], &[]), &[], &[i]);
    }

    #[test]
    fn host_network_and_ignored_namespaces_are_never_injected() {
        let mut p = pod("shop", &[], &[]);
        p.spec.as_mut().unwrap().host_network = Some(true);
        let why = not_injected(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert!(why.contains("hostNetwork"));
        let why = not_injected(
            &mut pod("kube-public", &[], &[]),
            &[("istio-injection", "enabled")],
            &[old()],
        );
        assert_eq!(why, "namespace kube-public is never injected");
    }

    // --- injectRequired: policy and selectors.

    #[test]
    fn policy_disabled_injects_only_pods_that_opt_in() {
        let mut i = old();
        i.policy = Policy::Disabled;
        let why = not_injected(
            &mut pod("a", &[], &[]),
            &[("istio-injection", "enabled")],
            std::slice::from_ref(&i),
        );
        assert!(why.contains("policy is disabled"), "{why}");
        injected_by(
            &mut pod("a", &[], &[(INJECT_LABEL, "true")]),
            &[("istio-injection", "enabled")],
            std::slice::from_ref(&i),
        );
        i.policy = Policy::Invalid("on".into());
        let why = not_injected(
            &mut pod("a", &[(INJECT_LABEL, "true")], &[]),
            &[("istio-injection", "enabled")],
            &[i],
        );
        assert!(why.contains("neither enabled nor disabled"), "{why}");
    }

    fn sel(k: &str, v: &str) -> Selector {
        Selector::from_k8s(&LabelSelector {
            match_labels: Some(map(&[(k, v)])),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn never_inject_selector_wins_over_always_inject_and_explicit_values_win_over_both() {
        let mut i = old();
        i.policy = Policy::Disabled;
        i.always_inject = vec![sel("tier", "web")];
        injected_by(
            &mut pod("a", &[("tier", "web")], &[]),
            &[("istio-injection", "enabled")],
            std::slice::from_ref(&i),
        );
        i.never_inject = vec![sel("tier", "web")];
        let why = not_injected(
            &mut pod("a", &[("tier", "web")], &[]),
            &[("istio-injection", "enabled")],
            std::slice::from_ref(&i),
        );
        assert!(why.contains("neverInjectSelector[0]"), "{why}");
        // An explicit true is not overridden by the never selector.
        injected_by(
            &mut pod("a", &[("tier", "web")], &[(INJECT_LABEL, "true")]),
            &[("istio-injection", "enabled")],
            std::slice::from_ref(&i),
        );
        // An empty selector matches nothing here.
        i.never_inject = vec![Selector::everything()];
        i.policy = Policy::Enabled;
        injected_by(
            &mut pod("a", &[("tier", "web")], &[]),
            &[("istio-injection", "enabled")],
            &[i],
        );
    }

    #[test]
    fn an_invalid_inject_value_falls_back_to_the_policy_and_says_so() {
        let mut p = pod("a", &[], &[(INJECT_LABEL, "yes")]);
        match run(&mut p, &[("istio-injection", "enabled")], &[old()]) {
            InjectOutcome::Injected { notes, .. } => {
                assert!(notes.iter().any(|n| n.contains("neither true nor false")))
            }
            o => panic!("{o:?}"),
        }
    }

    // --- Mutation.

    #[test]
    fn default_injection_adds_istio_init_and_the_proxy_with_the_envoy_prom_port() {
        let mut p = pod("a", &[("app", "web")], &[]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(names(&p), ["app", "istio-proxy"]);
        assert_eq!(init_names(&p), ["istio-init"]);
        let init = container(&p, INIT);
        assert_eq!(
            init.args.as_ref().unwrap().join(" "),
            "istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT -i * -x  -b * -d 15090,15021,15020 --log_output_level=default:info"
        );
        let proxy = container(&p, PROXY);
        assert_eq!(proxy.restart_policy, None);
        let port = &proxy.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.container_port, port.name.as_deref()),
            (15090, Some("http-envoy-prom"))
        );
        let l = p.metadata.labels.as_ref().unwrap();
        assert_eq!(l["security.istio.io/tlsMode"], "istio");
        assert_eq!(l["service.istio.io/canonical-name"], "web");
        assert_eq!(l["service.istio.io/canonical-revision"], "latest");
        assert_eq!(
            ann(&p, "kubectl.kubernetes.io/default-container").as_deref(),
            Some("app")
        );
        assert_eq!(
            ann(&p, "kubectl.kubernetes.io/default-logs-container").as_deref(),
            Some("app")
        );
        assert_eq!(ann(&p, REV_LABEL).as_deref(), Some("default"));
        let status: Value = serde_json::from_str(&ann(&p, STATUS_ANNOTATION).unwrap()).unwrap();
        assert_eq!(status["initContainers"], serde_json::json!(["istio-init"]));
        assert_eq!(status["containers"], serde_json::json!(["istio-proxy"]));
        assert_eq!(status["revision"], "default");
        // The engine sees a sidecar pod with the template's capture.
        let m = Pod::from(&p);
        assert_eq!(
            crate::mesh::workload::dataplane(&m, None),
            crate::mesh::workload::Dataplane::Sidecar { native: false }
        );
        let cap = crate::mesh::workload::capture(&m);
        assert!(!cap.captured(15090) && !cap.captured(15020) && cap.captured(8080));
    }

    #[test]
    fn traffic_annotations_change_the_iptables_args() {
        let mut p = pod(
            "a",
            &[],
            &[
                ("traffic.sidecar.istio.io/includeInboundPorts", "8080,9090"),
                ("traffic.sidecar.istio.io/excludeInboundPorts", "9000"),
                ("status.sidecar.istio.io/port", "15020"),
                ("traffic.sidecar.istio.io/excludeOutboundPorts", "5432"),
            ],
        );
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(arg(&p, "-b").as_deref(), Some("8080,9090"));
        assert_eq!(arg(&p, "-d").as_deref(), Some("15090,15021,9000,15020"));
        assert_eq!(arg(&p, "-o").as_deref(), Some("5432"));
        assert_eq!(arg(&p, "-q"), None);
        // Status port 0 is not excluded; an already-excluded status port is not repeated.
        let mut p = pod("a", &[], &[("status.sidecar.istio.io/port", "0")]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(arg(&p, "-d").as_deref(), Some("15090,15021"));
        assert_eq!(exclude_inbound_port("15020", "15020, 81"), "15020, 81");
        assert_eq!(exclude_inbound_port("15020", " 81,,82"), "81,82,15020");
        assert_eq!(exclude_inbound_port(" 0 ", "81"), "81");
    }

    #[test]
    fn cni_injects_istio_validation_and_writes_the_capture_annotations() {
        let mut i = old();
        i.cni = true;
        let mut p = pod(
            "a",
            &[],
            &[("traffic.sidecar.istio.io/excludeInboundPorts", "9000")],
        );
        injected_by(&mut p, &[("istio-injection", "enabled")], &[i]);
        assert_eq!(init_names(&p), ["istio-validation"]);
        let args = container(&p, VALIDATION).args.clone().unwrap();
        assert!(args.ends_with(&[
            "--run-validation".to_string(),
            "--skip-rule-apply".to_string()
        ]));
        assert_eq!(
            ann(&p, "traffic.sidecar.istio.io/excludeInboundPorts").as_deref(),
            Some("9000,15020")
        );
        assert_eq!(
            ann(&p, "traffic.sidecar.istio.io/includeInboundPorts").as_deref(),
            Some("*")
        );
        assert_eq!(
            ann(&p, "sidecar.istio.io/interceptionMode").as_deref(),
            Some("REDIRECT")
        );
        assert_eq!(
            ann(&p, "traffic.sidecar.istio.io/includeOutboundIPRanges").as_deref(),
            Some("*")
        );
        assert_eq!(
            ann(&p, "traffic.sidecar.istio.io/excludeOutboundIPRanges"),
            None
        );
    }

    #[test]
    fn interception_mode_none_injects_no_init_container() {
        let mut p = pod("a", &[], &[("sidecar.istio.io/interceptionMode", "NONE")]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert!(init_names(&p).is_empty());
        let status: Value = serde_json::from_str(&ann(&p, STATUS_ANNOTATION).unwrap()).unwrap();
        assert_eq!(status["initContainers"], Value::Null);
        let mut p = pod("a", &[], &[("sidecar.istio.io/interceptionMode", "TPROXY")]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(arg(&p, "-m").as_deref(), Some("TPROXY"));
    }

    #[test]
    fn native_sidecars_follow_the_version_the_flag_and_the_pod_annotation() {
        // 1.26: off by default; the pod annotation turns them on.
        let mut p = pod("a", &[], &[("sidecar.istio.io/nativeSidecar", "true")]);
        match run(&mut p, &[("istio-injection", "enabled")], &[old()]) {
            InjectOutcome::Injected { native, .. } => assert!(native),
            o => panic!("{o:?}"),
        }
        let mut u = pod("u", &[], &[]);
        u.spec.as_mut().unwrap().init_containers = Some(vec![corev1::Container {
            name: "migrate".into(),
            ..Default::default()
        }]);
        p = u.clone();
        injected_by(
            &mut p,
            &[("istio-injection", "enabled")],
            &[InjectorConfig::defaults(Some((1, 27)))],
        );
        assert_eq!(init_names(&p), ["istio-init", "istio-proxy", "migrate"]);
        assert_eq!(names(&p), ["app"]);
        assert_eq!(
            container(&p, PROXY).restart_policy.as_deref(),
            Some("Always")
        );
        let m = Pod::from(&p);
        assert_eq!(
            crate::mesh::workload::dataplane(&m, None),
            crate::mesh::workload::Dataplane::Sidecar { native: true }
        );
        // auto with nodes known to be older, and the annotation turning them off.
        let mut i = InjectorConfig::defaults(Some((1, 28)));
        i.nodes_support_native = Some(false);
        p = u.clone();
        injected_by(
            &mut p,
            &[("istio-injection", "enabled")],
            std::slice::from_ref(&i),
        );
        assert_eq!(init_names(&p), ["migrate", "istio-init"]);
        i.native_sidecars = NativeSidecars::Enabled;
        let mut p = pod("a", &[], &[("sidecar.istio.io/nativeSidecar", "false")]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[i]);
        assert_eq!(names(&p), ["app", "istio-proxy"]);
    }

    #[test]
    fn hold_application_puts_the_proxy_first() {
        let mut i = old();
        i.hold_application_until_proxy_starts = true;
        let mut p = pod("a", &[], &[]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[i]);
        assert_eq!(names(&p), ["istio-proxy", "app"]);
        let mut p = pod(
            "a",
            &[],
            &[(
                "proxy.istio.io/config",
                "holdApplicationUntilProxyStarts: true",
            )],
        );
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(names(&p), ["istio-proxy", "app"]);
    }

    #[test]
    fn metrics_merge_rewrites_the_prometheus_annotations_and_keeps_the_originals() {
        let mut p = pod(
            "a",
            &[],
            &[
                ("prometheus.io/scrape", "true"),
                ("prometheus.io/port", "8080"),
                ("prometheus.io/path", "/m"),
            ],
        );
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(ann(&p, "prometheus.io/port").as_deref(), Some("15020"));
        assert_eq!(
            ann(&p, "prometheus.io/path").as_deref(),
            Some("/stats/prometheus")
        );
        assert_eq!(ann(&p, "prometheus.io/scrape").as_deref(), Some("true"));
        assert_eq!(
            env_of(&p, "ISTIO_PROMETHEUS_ANNOTATIONS").as_deref(),
            Some(r#"{"scrape":"true","path":"/m","port":"8080"}"#)
        );
        // Variant spellings are moved too.
        let mut p = pod("a", &[], &[("prometheus-io/port", "9100")]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(ann(&p, "prometheus-io/port"), None);
        assert_eq!(
            env_of(&p, "ISTIO_PROMETHEUS_ANNOTATIONS").as_deref(),
            Some(r#"{"scrape":"","path":"","port":"9100"}"#)
        );
        // No prometheus annotations: the rewrite still happens, no env.
        let mut p = pod("a", &[], &[]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(ann(&p, "prometheus.io/port").as_deref(), Some("15020"));
        assert_eq!(env_of(&p, "ISTIO_PROMETHEUS_ANNOTATIONS"), None);
    }

    #[test]
    fn metrics_merge_is_off_for_scrape_false_the_annotation_or_the_mesh_config() {
        for a in [
            &[("prometheus.io/scrape", "false")][..],
            &[("prometheus.istio.io/merge-metrics", "false")][..],
        ] {
            let mut p = pod("a", &[], a);
            injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
            assert_eq!(ann(&p, "prometheus.io/port"), None, "{a:?}");
        }
        let mesh = MeshConfig {
            enable_prometheus_merge: Some(false),
            ..MeshConfig::default()
        };
        let mut p = pod("a", &[], &[("prometheus.io/port", "8080")]);
        assert!(inject(
            &mut p,
            &map(&[("istio-injection", "enabled")]),
            &[old()],
            &mesh
        )
        .injected());
        assert_eq!(ann(&p, "prometheus.io/port").as_deref(), Some("8080"));
        // The annotation beats the mesh config.
        let mut p = pod(
            "a",
            &[],
            &[
                ("prometheus.io/port", "8080"),
                ("prometheus.istio.io/merge-metrics", "true"),
            ],
        );
        inject(
            &mut p,
            &map(&[("istio-injection", "enabled")]),
            &[old()],
            &mesh,
        );
        assert_eq!(ann(&p, "prometheus.io/port").as_deref(), Some("15020"));
        // Already pointing at the agent: left alone.
        let mut p = pod(
            "a",
            &[],
            &[
                ("prometheus.io/port", "15020"),
                ("prometheus.io/path", "/x"),
            ],
        );
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(ann(&p, "prometheus.io/path").as_deref(), Some("/x"));
    }

    #[test]
    fn istio_1_31_refuses_reserved_merge_ports_and_reads_scrape_targets() {
        let mut p = pod("a", &[], &[("prometheus.io/port", "15090")]);
        match run(
            &mut p,
            &[("istio-injection", "enabled")],
            &[InjectorConfig::defaults(Some((1, 31)))],
        ) {
            InjectOutcome::Refused { why, .. } => assert!(
                why.contains("reserved for Istio (Envoy Prometheus"),
                "{why}"
            ),
            o => panic!("{o:?}"),
        }
        // 1.30 merges it.
        let mut p = pod("a", &[], &[("prometheus.io/port", "15090")]);
        injected_by(
            &mut p,
            &[("istio-injection", "enabled")],
            &[InjectorConfig::defaults(Some((1, 30)))],
        );
        let mut p = pod(
            "a",
            &[],
            &[("prometheus.istio.io/scrape-targets", "8080, 9100:/custom")],
        );
        injected_by(
            &mut p,
            &[("istio-injection", "enabled")],
            &[InjectorConfig::defaults(None)],
        );
        assert_eq!(
            env_of(&p, "ISTIO_PROMETHEUS_ANNOTATIONS").as_deref(),
            Some(
                r#"{"scrape":"","path":"/metrics","port":"8080","targets":[{"port":"8080","path":"/metrics"},{"port":"9100","path":"/custom"}]}"#
            )
        );
        assert_eq!(ann(&p, "prometheus.istio.io/scrape-targets"), None);
    }

    #[test]
    fn invalid_annotations_make_the_webhook_refuse_the_pod() {
        for (k, v) in [
            ("traffic.sidecar.istio.io/includeInboundPorts", "80,http"),
            ("traffic.sidecar.istio.io/excludeInboundPorts", "70000"),
            ("status.sidecar.istio.io/port", "-1"),
            ("sidecar.istio.io/interceptionMode", "redirect"),
            (
                "traffic.sidecar.istio.io/excludeOutboundIPRanges",
                "10.0.0.0",
            ),
            ("prometheus.istio.io/merge-metrics", "yes"),
        ] {
            let mut p = pod("a", &[], &[(k, v)]);
            match run(&mut p, &[("istio-injection", "enabled")], &[old()]) {
                InjectOutcome::Refused { why, .. } => assert!(why.contains(k), "{why}"),
                o => panic!("{k}={v}: {o:?}"),
            }
        }
        assert!(
            cidr_list_ok("10.0.0.0/8,fd00::/8") && !cidr_list_ok("10.0.0.0/33") && cidr_list_ok("")
        );
        assert!(
            port_list_ok(" 80 , 81")
                && !port_list_ok("80,,81")
                && !port_list_ok("+80")
                && port_list_ok(" ")
        );
    }

    #[test]
    fn proxy_metadata_reaches_the_proxy_env_and_hbone_adds_the_tunnel_label() {
        let mesh = MeshConfig {
            proxy_metadata: map(&[("ISTIO_META_ENABLE_HBONE", "true")]),
            ..MeshConfig::default()
        };
        let mut p = pod(
            "a",
            &[],
            &[(
                "proxy.istio.io/config",
                "proxyMetadata: {METRICS_LOCALHOST_ACCESS_ONLY: 'true'}",
            )],
        );
        assert!(inject(
            &mut p,
            &map(&[("istio-injection", "enabled")]),
            &[old()],
            &mesh
        )
        .injected());
        assert_eq!(
            env_of(&p, "METRICS_LOCALHOST_ACCESS_ONLY").as_deref(),
            Some("true")
        );
        assert_eq!(
            env_of(&p, "ISTIO_META_ENABLE_HBONE").as_deref(),
            Some("true")
        );
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()["networking.istio.io/tunnel"],
            "http"
        );
        let m = Pod::from(&p);
        assert!(
            crate::mesh::workload::metrics_localhost_only(&m, &MeshConfig::default()).is_some()
        );
    }

    #[test]
    fn canonical_labels_fall_back_to_the_workload_name() {
        let mut p = pod(
            "a",
            &[("pod-template-hash", "7d9f"), ("version", "v2")],
            &[],
        );
        p.metadata.name = None;
        p.metadata.generate_name = Some("web-7d9f-".into());
        p.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web-7d9f".into(),
                controller: Some(true),
                ..Default::default()
            },
        ]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        let l = p.metadata.labels.as_ref().unwrap();
        assert_eq!(l["service.istio.io/canonical-name"], "web");
        assert_eq!(l["service.istio.io/canonical-revision"], "v2");
        let mut p = pod("a", &[("app", "-x-.")], &[]);
        injected_by(&mut p, &[("istio-injection", "enabled")], &[old()]);
        assert_eq!(
            p.metadata.labels.as_ref().unwrap()["service.istio.io/canonical-name"],
            "x"
        );
    }

    #[test]
    fn injected_annotations_and_existing_default_container_are_kept() {
        let mut i = old();
        i.injected_annotations = map(&[("example.com/psp", "istio")]);
        let mut p = pod(
            "a",
            &[],
            &[("kubectl.kubernetes.io/default-container", "side")],
        );
        injected_by(&mut p, &[("istio-injection", "enabled")], &[i]);
        assert_eq!(ann(&p, "example.com/psp").as_deref(), Some("istio"));
        assert_eq!(
            ann(&p, "kubectl.kubernetes.io/default-container").as_deref(),
            Some("side")
        );
    }

    #[test]
    fn an_already_injected_pod_is_kept() {
        let mut p = pod("a", &[], &[(STATUS_ANNOTATION, "{}")]);
        let before = p.clone();
        assert_eq!(
            run(&mut p, &[("istio-injection", "enabled")], &[old()]),
            InjectOutcome::AlreadyInjected
        );
        assert_eq!(p, before);
    }

    // --- Configuration.

    fn cm(name: &str, values: &str, config: &str) -> corev1::ConfigMap {
        corev1::ConfigMap {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("istio-system".into()),
                ..Default::default()
            },
            data: Some(map(&[("values", values), ("config", config)])),
            ..Default::default()
        }
    }

    #[test]
    fn the_injector_config_map_is_read() {
        let c = InjectorConfig::from_config_map(&cm(
            "istio-sidecar-injector-canary",
            r#"{"revision":"canary","global":{"tag":"1.26.3","proxy":{"statusPort":15021,"excludeInboundPorts":"9000","holdApplicationUntilProxyStarts":true}},
               "pilot":{"cni":{"enabled":true},"env":{"ENABLE_NATIVE_SIDECARS":"true"}},"sidecarInjectorWebhook":{"enableNamespacesByDefault":true}}"#,
            "policy: disabled\nalwaysInjectSelector:\n  - matchLabels: {tier: web}\nneverInjectSelector: []\ninjectedAnnotations:\n  a: b\ntemplates:\n  sidecar: '...'\n",
        ))
        .unwrap();
        assert_eq!(c.revision, "canary");
        assert_eq!(c.version, Some((1, 26)));
        assert_eq!(c.status_port, "15021");
        assert_eq!(c.exclude_inbound_ports, "9000");
        assert!(c.cni && c.hold_application_until_proxy_starts && c.enable_namespaces_by_default);
        assert_eq!(c.native_sidecars, NativeSidecars::Enabled);
        assert_eq!(c.policy, Policy::Disabled);
        assert_eq!(c.always_inject.len(), 1);
        assert_eq!(c.injected_annotations["a"], "b");
        assert_eq!(
            c.source.as_ref().unwrap().name,
            "istio-sidecar-injector-canary"
        );
        // No values: the newest defaults, the default revision.
        let d =
            InjectorConfig::from_config_map(&cm("istio-sidecar-injector", "", "policy: enabled\n"))
                .unwrap();
        assert_eq!(
            (d.revision.as_str(), d.version, d.native_sidecars),
            ("default", None, NativeSidecars::Auto)
        );
    }

    #[test]
    fn config_map_errors_name_the_key_and_field() {
        let e = InjectorConfig::from_config_map(&cm("i", "{not json", "")).unwrap_err();
        assert!(e.starts_with("data.values does not parse as JSON"), "{e}");
        let e = InjectorConfig::from_config_map(&cm(
            "i",
            r#"{"global":{"proxy":{"statusPort":{"a":1}}}}"#,
            "",
        ))
        .unwrap_err();
        assert_eq!(e, "data.values: field global.proxy.statusPort: expected a string or a number, found an object");
        let e =
            InjectorConfig::from_config_map(&cm("i", r#"{"pilot":{"cni":{"enabled":"yes"}}}"#, ""))
                .unwrap_err();
        assert_eq!(
            e,
            "data.values: field pilot.cni.enabled: expected a boolean, found a string"
        );
        let e = InjectorConfig::from_config_map(&cm("i", "{}", "neverInjectSelector: {a: b}\n"))
            .unwrap_err();
        assert!(
            e.starts_with("data.config: field neverInjectSelector"),
            "{e}"
        );
        let e = InjectorConfig::from_config_map(&cm("i", "{}", "policy: [\n")).unwrap_err();
        assert!(e.starts_with("data.config"), "{e}");
    }

    #[test]
    fn defaults_follow_the_version() {
        assert_eq!(
            InjectorConfig::defaults(Some((1, 26))).native_sidecars,
            NativeSidecars::Disabled
        );
        assert_eq!(
            InjectorConfig::defaults(Some((1, 27))).native_sidecars,
            NativeSidecars::Auto
        );
        assert_eq!(InjectorConfig::defaults(None).minor(), NEWEST);
        assert_eq!(parse_version("1.26.2-distroless"), Some((1, 26)));
        assert_eq!(parse_version("v1.28-dev"), Some((1, 28)));
        assert_eq!(parse_version("latest"), None);
        assert!(InjectorConfig::defaults(None)
            .describe_version()
            .contains("newest modelled"));
        // Unknown nodes under auto: native, and the assumption is said.
        let mut p = pod("a", &[], &[]);
        match run(
            &mut p,
            &[("istio-injection", "enabled")],
            &[InjectorConfig::defaults(None)],
        ) {
            InjectOutcome::Injected {
                native: true,
                notes,
                ..
            } => assert!(notes.iter().any(|n| n.contains("kubelet 1.33"))),
            o => panic!("{o:?}"),
        }
    }
}
