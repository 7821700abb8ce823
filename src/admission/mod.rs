//! Admission realism for `scrapepath check`: each document is seen the way the API server would store it,
//! or refused the way the API server would refuse it.
//!
//! - A namespaced object without `metadata.namespace` gets the namespace `kubectl apply` would send it to
//!   (`default`, or `check -n NS`); a cluster-scoped one loses any namespace it names (the API server clears
//!   it).
//! - `apiVersion` and `kind` are required and case-sensitive.
//! - The built-in validation of the kinds `check` reads (Pod, Service, EndpointSlice, NetworkPolicy,
//!   Namespace, ConfigMap, Secret: [`builtin`]; DaemonSet, Deployment, ReplicaSet, StatefulSet,
//!   ReplicationController, Job, CronJob: [`workloads`]) and the OpenAPI schemas and validation rules of
//!   the CRDs it reads (Cilium, prometheus-operator, Istio security, ScrapeIntent: [`crds`]) are applied,
//!   with `fieldValidation=Strict` (what `kubectl apply` sends by default): every problem is listed with its
//!   field path and rule.
//!
//! Pure: no I/O, no cluster. The differential test `tests/admission.rs` holds it to the real API server's
//! answers on a mutation corpus of the shipped examples.

pub mod builtin;
pub mod crds;
pub mod k8s;
pub mod meta;
pub mod names;
pub mod shape;
pub mod workloads;

use serde_json::{Map, Value};

/// A field path as the API server writes it: `spec.containers[0].ports[1].name`, `metadata.labels[app]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn root() -> Path {
        Path(String::new())
    }
    pub fn key(&self, k: &str) -> Path {
        if self.0.is_empty() {
            Path(k.to_string())
        } else {
            Path(format!("{}.{k}", self.0))
        }
    }
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
    pub fn map_key(&self, k: &str) -> Path {
        Path(format!("{}[{k}]", self.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("<root>")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// One reason the API server would refuse an object: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub rule: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// The problems found so far.
#[derive(Debug, Clone, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, path: &Path, rule: impl Into<String>) {
        self.0.push(Problem {
            field: path.to_string(),
            rule: rule.into(),
        });
    }
    pub fn required(&mut self, path: &Path) {
        self.push(path, "Required value");
    }
    pub fn invalid(&mut self, path: &Path, value: impl std::fmt::Display, why: impl AsRef<str>) {
        self.push(path, format!("Invalid value: {value}: {}", why.as_ref()));
    }
    pub fn unsupported(&mut self, path: &Path, value: &str, supported: &[&str]) {
        let s: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        self.push(
            path,
            format!(
                "Unsupported value: {value:?}: supported values: {}",
                s.join(", ")
            ),
        );
    }
    pub fn forbidden(&mut self, path: &Path, why: impl AsRef<str>) {
        self.push(path, format!("Forbidden: {}", why.as_ref()));
    }
    pub fn duplicate(&mut self, path: &Path, value: impl std::fmt::Display) {
        self.push(path, format!("Duplicate value: {value}"));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }
}

/// How `check` sends objects: the namespace of those that name none, and the Cilium release whose CRDs
/// the cluster has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `default`, or the `-n/--namespace` given.
    pub namespace: String,
    /// Whether `-n` was given: kubectl then refuses an object that names another namespace.
    pub explicit_namespace: bool,
    /// The Cilium release (its CRDs differ from minor to minor); `None`: the newest behaviour. The loader
    /// resolves it as the analysis does: `--cilium-version`, else the `cilium` DaemonSet's image.
    pub cilium_version: Option<crate::cilium::Version>,
    /// The Istio minor whose sidecar injection `check` models for workloads (`--istio-version`); `None`:
    /// the istiod image tag of the input, else the newest modelled.
    pub istio_version: Option<(u32, u32)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace: "default".into(),
            explicit_namespace: false,
            cilium_version: None,
            istio_version: None,
        }
    }
}

/// Why an object is refused: `object` names it (`Pod blog-system/was-1`, or `document` when it has no
/// kind), and every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.lines().join("\n"))]
pub struct Refusal {
    pub object: String,
    pub problems: Vec<Problem>,
}

impl Refusal {
    /// One line per problem: `Kind ns/name: field.path: rule`.
    pub fn lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|p| format!("{}: {p}", self.object))
            .collect()
    }
}

/// The kinds whose objects are cluster-scoped (no namespace), of the built-in API groups and the CRDs
/// `check` knows. Anything else is taken as namespaced (as kubectl does when discovery says so; an
/// unknown kind is never analysed, so only its namespace in messages depends on this).
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("cilium.io", "CiliumClusterwideNetworkPolicy"),
    ("cilium.io", "CiliumNode"),
    ("cilium.io", "CiliumIdentity"),
    ("cilium.io", "CiliumCIDRGroup"),
    ("cilium.io", "CiliumEgressGatewayPolicy"),
    ("cilium.io", "CiliumEndpointSlice"),
    ("cilium.io", "CiliumL2AnnouncementPolicy"),
    ("cilium.io", "CiliumLoadBalancerIPPool"),
    ("cilium.io", "CiliumClusterwideEnvoyConfig"),
    ("cilium.io", "CiliumBGPClusterConfig"),
    ("cilium.io", "CiliumBGPPeerConfig"),
    ("cilium.io", "CiliumBGPAdvertisement"),
    ("cilium.io", "CiliumBGPNodeConfig"),
    ("cilium.io", "CiliumBGPNodeConfigOverride"),
    ("cilium.io", "CiliumPodIPPool"),
];

/// Whether objects of this kind live in a namespace.
pub fn is_namespaced(group: &str, kind: &str) -> bool {
    !CLUSTER_SCOPED
        .iter()
        .any(|(g, k)| *g == group && *k == kind)
}

/// The kinds this module validates, with the versions the API server serves for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Pod,
    Service,
    EndpointSlice,
    NetworkPolicy,
    Namespace,
    ConfigMap,
    Secret,
    DaemonSet,
    Deployment,
    ReplicaSet,
    StatefulSet,
    ReplicationController,
    Job,
    CronJob,
    CiliumNetworkPolicy,
    CiliumClusterwideNetworkPolicy,
    PodMonitor,
    ServiceMonitor,
    Prometheus,
    PrometheusAgent,
    AuthorizationPolicy,
    PeerAuthentication,
    ScrapeIntent,
}

const KNOWN: &[(&str, &str, &[&str], Known)] = &[
    ("", "Pod", &["v1"], Known::Pod),
    ("", "Service", &["v1"], Known::Service),
    ("", "Namespace", &["v1"], Known::Namespace),
    ("", "ConfigMap", &["v1"], Known::ConfigMap),
    ("", "Secret", &["v1"], Known::Secret),
    (
        "discovery.k8s.io",
        "EndpointSlice",
        &["v1"],
        Known::EndpointSlice,
    ),
    (
        "networking.k8s.io",
        "NetworkPolicy",
        &["v1"],
        Known::NetworkPolicy,
    ),
    ("apps", "DaemonSet", &["v1"], Known::DaemonSet),
    ("apps", "Deployment", &["v1"], Known::Deployment),
    ("apps", "ReplicaSet", &["v1"], Known::ReplicaSet),
    ("apps", "StatefulSet", &["v1"], Known::StatefulSet),
    (
        "",
        "ReplicationController",
        &["v1"],
        Known::ReplicationController,
    ),
    ("batch", "Job", &["v1"], Known::Job),
    ("batch", "CronJob", &["v1"], Known::CronJob),
    (
        "cilium.io",
        "CiliumNetworkPolicy",
        &["v2"],
        Known::CiliumNetworkPolicy,
    ),
    (
        "cilium.io",
        "CiliumClusterwideNetworkPolicy",
        &["v2"],
        Known::CiliumClusterwideNetworkPolicy,
    ),
    (
        "monitoring.coreos.com",
        "PodMonitor",
        &["v1"],
        Known::PodMonitor,
    ),
    (
        "monitoring.coreos.com",
        "ServiceMonitor",
        &["v1"],
        Known::ServiceMonitor,
    ),
    (
        "monitoring.coreos.com",
        "Prometheus",
        &["v1"],
        Known::Prometheus,
    ),
    (
        "monitoring.coreos.com",
        "PrometheusAgent",
        &["v1alpha1"],
        Known::PrometheusAgent,
    ),
    (
        "security.istio.io",
        "AuthorizationPolicy",
        &["v1", "v1beta1"],
        Known::AuthorizationPolicy,
    ),
    (
        "security.istio.io",
        "PeerAuthentication",
        &["v1", "v1beta1"],
        Known::PeerAuthentication,
    ),
    (
        "scrapepath.io",
        "ScrapeIntent",
        &["v1alpha1"],
        Known::ScrapeIntent,
    ),
];

/// The kinds served in the API groups `check` knows all of (Kubernetes 1.36's built-in groups that hold a
/// kind it reads, and the CRD groups at the versions the tests install): a known kind under another
/// version or group of these (a typo in `apiVersion`) is refused, as kubectl refuses it ("no matches for
/// kind"), instead of being skipped as a kind the analysis does not read. Groups not listed here are not
/// judged.
const SERVED: &[(&str, &str, &[&str])] = &[
    (
        "",
        "v1",
        &[
            "Binding",
            "ComponentStatus",
            "ConfigMap",
            "Endpoints",
            "Event",
            "LimitRange",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        ],
    ),
    (
        "apps",
        "v1",
        &[
            "ControllerRevision",
            "DaemonSet",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
        ],
    ),
    ("batch", "v1", &["CronJob", "Job"]),
    ("discovery.k8s.io", "v1", &["EndpointSlice"]),
    (
        "networking.k8s.io",
        "v1",
        &[
            "IPAddress",
            "Ingress",
            "IngressClass",
            "NetworkPolicy",
            "ServiceCIDR",
        ],
    ),
    (
        "cilium.io",
        "v2",
        &[
            "CiliumBGPAdvertisement",
            "CiliumBGPClusterConfig",
            "CiliumBGPNodeConfig",
            "CiliumBGPNodeConfigOverride",
            "CiliumBGPPeerConfig",
            "CiliumCIDRGroup",
            "CiliumClusterwideEnvoyConfig",
            "CiliumClusterwideNetworkPolicy",
            "CiliumEgressGatewayPolicy",
            "CiliumEndpoint",
            "CiliumEnvoyConfig",
            "CiliumIdentity",
            "CiliumLoadBalancerIPPool",
            "CiliumLocalRedirectPolicy",
            "CiliumNetworkPolicy",
            "CiliumNode",
            "CiliumNodeConfig",
        ],
    ),
    (
        "cilium.io",
        "v2alpha1",
        &[
            "CiliumBGPAdvertisement",
            "CiliumBGPClusterConfig",
            "CiliumBGPNodeConfig",
            "CiliumBGPNodeConfigOverride",
            "CiliumBGPPeerConfig",
            "CiliumCIDRGroup",
            "CiliumEndpointSlice",
            "CiliumGatewayClassConfig",
            "CiliumL2AnnouncementPolicy",
            "CiliumLoadBalancerIPPool",
            "CiliumNodeConfig",
            "CiliumPodIPPool",
        ],
    ),
    (
        "monitoring.coreos.com",
        "v1",
        &[
            "Alertmanager",
            "PodMonitor",
            "Probe",
            "Prometheus",
            "PrometheusRule",
            "ServiceMonitor",
            "ThanosRuler",
        ],
    ),
    (
        "monitoring.coreos.com",
        "v1alpha1",
        &["AlertmanagerConfig", "PrometheusAgent", "ScrapeConfig"],
    ),
    (
        "security.istio.io",
        "v1",
        &[
            "AuthorizationPolicy",
            "PeerAuthentication",
            "RequestAuthentication",
        ],
    ),
    (
        "security.istio.io",
        "v1beta1",
        &[
            "AuthorizationPolicy",
            "PeerAuthentication",
            "RequestAuthentication",
        ],
    ),
    ("scrapepath.io", "v1alpha1", &["ScrapeIntent"]),
];

/// Whether a kind is served at `group/version`: `None` for a group not in [`SERVED`].
fn served(group: &str, version: &str, kind: &str) -> Option<bool> {
    if !SERVED.iter().any(|(g, _, _)| *g == group) {
        return None;
    }
    Some(
        SERVED
            .iter()
            .any(|(g, v, kinds)| *g == group && *v == version && kinds.contains(&kind)),
    )
}

/// `group/version` split as the API server does (`v1` is the core group).
pub fn split_api_version(api_version: &str) -> Option<(&str, &str)> {
    match api_version.split('/').collect::<Vec<_>>().as_slice() {
        [v] if !v.is_empty() => Some(("", v)),
        [g, v] if !g.is_empty() && !v.is_empty() => Some((g, v)),
        _ => None,
    }
}

/// The kind this module validates, if any: `Err` when the group and kind are known but the version is
/// not served.
pub fn known_kind(api_version: &str, kind: &str) -> Result<Option<Known>, String> {
    let Some((group, version)) = split_api_version(api_version) else {
        return Ok(None);
    };
    if served(group, version, kind) == Some(false) {
        let elsewhere: Vec<String> = SERVED
            .iter()
            .filter(|(_, _, kinds)| kinds.contains(&kind))
            .map(|(g, v, _)| {
                if g.is_empty() {
                    v.to_string()
                } else {
                    format!("{g}/{v}")
                }
            })
            .collect();
        let hint = if elsewhere.is_empty() {
            String::new()
        } else {
            format!(" ({kind} is served as {})", elsewhere.join(", "))
        };
        return Err(format!(
            "Unsupported value: {api_version:?}: no kind {kind:?} is served in version {api_version:?}{hint}"
        ));
    }
    for (g, k, versions, known) in KNOWN {
        if *g == group && *k == kind {
            if versions.contains(&version) {
                return Ok(Some(*known));
            }
            return Err(format!(
                "Unsupported value: {api_version:?}: the API server serves {kind} only as {}",
                versions
                    .iter()
                    .map(|v| if g.is_empty() {
                        v.to_string()
                    } else {
                        format!("{g}/{v}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(None)
}

/// `Kind ns/name` (or `Kind name`) for messages, from what the object says.
pub fn describe(v: &Value) -> String {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("object");
    let md = v.get("metadata");
    let name = md
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<no name>");
    match md
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Admits one object (a mapping) the way `kubectl apply` and the API server would: sets or clears its
/// namespace in place, then validates it. `Err` lists every problem.
pub fn admit(v: &mut Value, settings: &Settings) -> Result<(), Refusal> {
    let refuse = |object: String, field: &str, rule: String| Refusal {
        object,
        problems: vec![Problem {
            field: field.into(),
            rule,
        }],
    };
    let Some(obj) = v.as_object() else {
        return Err(refuse(
            "document".into(),
            "<root>",
            "not a mapping: a Kubernetes object is expected".into(),
        ));
    };
    // apiVersion and kind: required, case-sensitive.
    let mut missing = Vec::new();
    for key in ["apiVersion", "kind"] {
        match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) | None => {
                let near: Vec<&String> = obj
                    .keys()
                    .filter(|k| k.eq_ignore_ascii_case(key) && k.as_str() != key)
                    .collect();
                let hint = match near.first() {
                    Some(k) => format!(" (keys are case-sensitive: found `{k}`, not `{key}`)"),
                    None => String::new(),
                };
                missing.push(Problem {
                    field: key.into(),
                    rule: format!("Required value: every object names its {key}{hint}"),
                });
            }
            Some(other) => missing.push(Problem {
                field: key.into(),
                rule: format!("Invalid value: {}: must be a string", shape::show(other)),
            }),
        }
    }
    if !missing.is_empty() {
        let name = obj
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str);
        let object = match (obj.get("kind").and_then(Value::as_str), name) {
            (Some(k), Some(n)) if !k.is_empty() => format!("{k} {n}"),
            (Some(k), None) if !k.is_empty() => k.to_string(),
            (_, Some(n)) => format!("object {n}"),
            _ => "object".into(),
        };
        return Err(Refusal {
            object,
            problems: missing,
        });
    }
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some((group, _)) = split_api_version(&api_version) else {
        return Err(refuse(
            describe(v),
            "apiVersion",
            format!("Invalid value: {api_version:?}: not GROUP/VERSION or VERSION"),
        ));
    };
    let group = group.to_string();
    let known =
        known_kind(&api_version, &kind).map_err(|e| refuse(describe(v), "apiVersion", e))?;

    // The namespace kubectl sends the object to.
    let namespaced = is_namespaced(&group, &kind);
    if let Some(Value::Object(md)) = v.get_mut("metadata") {
        set_namespace(md, namespaced, settings).map_err(|(field, rule)| Refusal {
            object: format!("{kind} {}", md_name(md)),
            problems: vec![Problem { field, rule }],
        })?;
    } else if v.get("metadata").is_none_or(Value::is_null) && namespaced {
        if let Some(o) = v.as_object_mut() {
            let mut md = Map::new();
            md.insert(
                "namespace".into(),
                Value::String(settings.namespace.clone()),
            );
            o.insert("metadata".into(), Value::Object(md));
        }
    }

    let Some(known) = known else {
        return Ok(());
    };
    let mut problems = Problems::default();
    match known {
        Known::Pod
        | Known::Service
        | Known::EndpointSlice
        | Known::NetworkPolicy
        | Known::Namespace
        | Known::ConfigMap
        | Known::Secret
        | Known::DaemonSet
        | Known::Deployment
        | Known::ReplicaSet
        | Known::StatefulSet
        | Known::ReplicationController
        | Known::Job
        | Known::CronJob => builtin::validate(known, v, &mut problems),
        _ => crds::validate(
            known,
            v,
            settings
                .cilium_version
                .unwrap_or(crate::cilium::Version::NEWEST),
            &mut problems,
        ),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal {
            object: describe(v),
            problems: problems.0,
        })
    }
}

fn md_name(md: &Map<String, Value>) -> String {
    md.get("name")
        .and_then(Value::as_str)
        .unwrap_or("<no name>")
        .to_string()
}

fn set_namespace(
    md: &mut Map<String, Value>,
    namespaced: bool,
    settings: &Settings,
) -> Result<(), (String, String)> {
    if !namespaced {
        // The API server clears the namespace of a cluster-scoped object.
        if md.get("namespace").is_some_and(Value::is_string) {
            md.remove("namespace");
        }
        return Ok(());
    }
    match md.get("namespace") {
        None | Some(Value::Null) => {
            md.insert(
                "namespace".into(),
                Value::String(settings.namespace.clone()),
            );
        }
        Some(Value::String(s)) if s.is_empty() => {
            md.insert(
                "namespace".into(),
                Value::String(settings.namespace.clone()),
            );
        }
        Some(Value::String(s)) if settings.explicit_namespace && *s != settings.namespace => {
            return Err((
                "metadata.namespace".into(),
                format!(
                    "the namespace from the provided object {s:?} does not match the namespace {:?} given with -n (kubectl refuses it: pass --namespace={s})",
                    settings.namespace
                ),
            ));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn admit_json(mut v: Value) -> (Value, Result<(), Refusal>) {
        let r = admit(&mut v, &Settings::default());
        (v, r)
    }

    #[test]
    fn namespaced_objects_get_the_default_namespace_cluster_scoped_lose_theirs() {
        let (v, r) = admit_json(json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "p"}, "spec": {"endpointSelector": {}, "ingress": [{}]}
        }));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(v["metadata"]["namespace"], "default");
        let (v, r) = admit_json(json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": "p", "namespace": "x"}, "spec": {"endpointSelector": {}, "egress": [{}]}
        }));
        assert!(r.is_ok(), "{r:?}");
        assert!(v["metadata"].get("namespace").is_none());
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        admit(
            &mut v,
            &Settings {
                namespace: "team".into(),
                explicit_namespace: true,
                cilium_version: None,
                istio_version: None,
            },
        )
        .unwrap();
        assert_eq!(v["metadata"]["namespace"], "team");
        let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"}});
        assert!(admit(
            &mut v,
            &Settings {
                namespace: "team".into(),
                explicit_namespace: true,
                cilium_version: None,
                istio_version: None,
            },
        )
        .is_err());
    }

    #[test]
    fn api_version_and_kind_are_required_and_case_sensitive() {
        let (_, r) =
            admit_json(json!({"apiversion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
        let e = r.unwrap_err();
        assert_eq!(e.problems[0].field, "apiVersion");
        assert!(e.problems[0].rule.contains("case-sensitive"), "{e}");
        let (_, r) = admit_json(json!({"metadata": {"name": "p"}}));
        assert_eq!(r.unwrap_err().problems.len(), 2);
        let (_, r) = admit_json(
            json!({"apiVersion": "cilium.io/v1", "kind": "CiliumNetworkPolicy", "metadata": {"name": "p"}}),
        );
        assert!(r.is_err());
    }
}
