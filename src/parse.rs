//! From a Kubernetes object as JSON (a YAML document, or a watch event's object) to an index [`Object`].
//!
//! Known kinds are deserialised strictly enough that a malformed object is an error naming the field;
//! unknown fields are tolerated; unknown kinds are reported as such, never as errors.

use k8s_openapi::api::apps::v1 as appsv1;
use k8s_openapi::api::core::v1 as corev1;
use k8s_openapi::api::discovery::v1 as discoveryv1;
use k8s_openapi::api::networking::v1 as netv1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::api::ScrapeIntent;
use crate::cilium::policy::{self, RawCiliumPolicy};
use crate::cilium::Version;
use crate::index::Object;
use crate::mesh::policy::MeshSpec;
use crate::mesh::MeshConfig;
use crate::model::{
    CiliumConfigMap, ConfigEntry, ConfigKeyRef, ConfigObject, EndpointSlice, Kind, KubernetesSd,
    KubernetesSdSelector, MeshPolicy, Monitor, MonitorEndpoint, MonitorKind, Namespace,
    NamespaceSelection, ObjRef, Pod, ProbeIngress, ProbeResource, ProbeStatic, PromMount,
    PromPodSpec, PromWorkload, SafeTls, ScrapeClass, ScrapeConfigResource, Service, StaticTargets,
    StatusCondition, Storage,
};
use crate::relabel::RelabelSpec;
use crate::scrapeconfig;
use crate::selector::Selector;
use crate::workload::{Node, Workload};
use std::sync::Arc;

/// What became of one document.
#[derive(Debug)]
pub enum Parsed {
    Object(Object),
    /// One object read as several (an `Endpoints` object as the EndpointSlices mirrored from it).
    Objects(Vec<Object>),
    /// A kind the engine reads, but this object does not matter (a ConfigMap other than cilium-config).
    Irrelevant(String),
    /// A kind the engine does not read.
    Unknown(String),
}

/// A known object that does not have the shape its kind requires.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{object}: {message}")]
pub struct ParseError {
    /// `Pod blog-system/was-1`, or the kind alone when the name is unreadable.
    pub object: String,
    pub message: String,
}

fn describe(kind: &str, v: &Value) -> String {
    let md = v.get("metadata");
    let name = md
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<no name>");
    match md.and_then(|m| m.get("namespace")).and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn typed<T: DeserializeOwned>(kind: &str, v: Value) -> Result<T, ParseError> {
    let object = describe(kind, &v);
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        ParseError {
            object,
            message: if path == "." {
                e.into_inner().to_string()
            } else {
                format!("field {path}: {}", e.into_inner())
            },
        }
    })
}

/// Parses one object. `apiVersion` and `kind` select the type; a missing `kind` is an error.
pub fn parse_value(v: Value) -> Result<Parsed, ParseError> {
    let kind = match v.get("kind").and_then(Value::as_str) {
        Some(k) => k.to_string(),
        None => {
            return Err(ParseError {
                object: "document".into(),
                message: "no `kind`: not a Kubernetes object".into(),
            })
        }
    };
    let api_version = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    if v.get("metadata").and_then(|m| m.get("name")).is_none() {
        return Err(ParseError {
            object: kind.clone(),
            message: "metadata.name is required".into(),
        });
    }
    let obj = match (group, kind.as_str()) {
        ("", "Namespace") => {
            Object::Namespace(Namespace::from(&typed::<corev1::Namespace>(&kind, v)?))
        }
        ("", "Pod") => Object::Pod(Box::new(Pod::from(&typed::<corev1::Pod>(&kind, v)?))),
        ("", "Service") => Object::Service(Service::from(&typed::<corev1::Service>(&kind, v)?)),
        ("discovery.k8s.io", "EndpointSlice") => Object::EndpointSlice(EndpointSlice::from(
            &typed::<discoveryv1::EndpointSlice>(&kind, v)?,
        )),
        ("", "Endpoints") => {
            return Ok(
                match EndpointSlice::mirrored(&typed::<corev1::Endpoints>(&kind, v)?) {
                    Some(slices) => {
                        Parsed::Objects(slices.into_iter().map(Object::EndpointSlice).collect())
                    }
                    None => Parsed::Irrelevant(kind),
                },
            )
        }
        ("", "ConfigMap") => {
            let cm: corev1::ConfigMap = typed(&kind, v)?;
            let cm_name = cm.metadata.name.as_deref().unwrap_or_default();
            if cm_name == "istio-sidecar-injector" || cm_name.starts_with("istio-sidecar-injector-")
            {
                // Istio's sidecar injector settings: what `check` models injection with.
                let inj = crate::mesh::inject::InjectorConfig::from_config_map(&cm).map_err(
                    |message| ParseError {
                        object: describe(&kind, &serde_json::to_value(&cm).unwrap_or_default()),
                        message,
                    },
                )?;
                return Ok(Parsed::Object(Object::Injector(Box::new(inj))));
            }
            let has_mesh = cm.data.as_ref().is_some_and(|d| d.contains_key("mesh"));
            if cm.metadata.name.as_deref() == Some("istio") && has_mesh {
                // Istio's MeshConfig (istiod's namespace; the root namespace may differ).
                let ns = cm.metadata.namespace.clone().unwrap_or_default();
                let mesh = cm.data.as_ref().and_then(|d| d.get("mesh"));
                return Ok(Parsed::Object(Object::MeshConfig(Box::new(
                    MeshConfig::from_config_map(
                        ObjRef::new(Kind::ConfigMap, ns, "istio"),
                        mesh.map(String::as_str),
                    ),
                ))));
            }
            if cm.metadata.name.as_deref() != Some("cilium-config")
                || cm.metadata.namespace.as_deref().unwrap_or("kube-system") != "kube-system"
            {
                let values = cm
                    .data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k, v.as_bytes()))
                    .chain(
                        cm.binary_data
                            .iter()
                            .flatten()
                            .map(|(k, v)| (k, v.0.as_slice())),
                    );
                return Ok(config_object(Kind::ConfigMap, &cm.metadata, values)
                    .map(|c| Parsed::Object(Object::Config(Box::new(c))))
                    .unwrap_or(Parsed::Irrelevant(kind)));
            }
            Object::CiliumConfig(CiliumConfigMap {
                data: cm.data.unwrap_or_default(),
            })
        }
        ("", "Secret") => {
            let secret: corev1::Secret = typed(&kind, v)?;
            let values = secret
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k, v.0.as_slice()))
                .chain(
                    secret
                        .string_data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k, v.as_bytes())),
                );
            return Ok(config_object(Kind::Secret, &secret.metadata, values)
                .map(|c| Parsed::Object(Object::Config(Box::new(c))))
                .unwrap_or(Parsed::Irrelevant(kind)));
        }
        ("apps", "Deployment") => {
            Object::Workload(Box::new(Workload::from_deployment(&typed(&kind, v)?)))
        }
        ("apps", "StatefulSet") => {
            let s: appsv1::StatefulSet = typed(&kind, v)?;
            // The operator's StatefulSet of a Prometheus: its status says why pods are missing (issue 17);
            // the pods themselves are modelled from the Prometheus object.
            match crate::model::ScraperSet::from_stateful_set(&s) {
                Some(set) => Object::ScraperSet(Box::new(set)),
                None => Object::Workload(Box::new(Workload::from_stateful_set(&s))),
            }
        }
        ("", "ServiceAccount") => {
            let sa: corev1::ServiceAccount = typed(&kind, v)?;
            Object::ServiceAccount(
                sa.metadata.namespace.unwrap_or_default(),
                sa.metadata.name.unwrap_or_default(),
            )
        }
        ("", "Event") => {
            match crate::model::WarningEvent::from_core(&typed::<corev1::Event>(&kind, v)?) {
                Some(e) => Object::Event(Box::new(e)),
                None => return Ok(Parsed::Irrelevant(kind)),
            }
        }
        ("events.k8s.io", "Event") => {
            let e: k8s_openapi::api::events::v1::Event = typed(&kind, v)?;
            match crate::model::WarningEvent::from_events_v1(&e) {
                Some(e) => Object::Event(Box::new(e)),
                None => return Ok(Parsed::Irrelevant(kind)),
            }
        }
        ("apps", "ReplicaSet") => {
            Object::Workload(Box::new(Workload::from_replica_set(&typed(&kind, v)?)))
        }
        ("", "ReplicationController") => Object::Workload(Box::new(
            Workload::from_replication_controller(&typed(&kind, v)?),
        )),
        ("batch", "Job") => Object::Workload(Box::new(Workload::from_job(&typed(&kind, v)?))),
        ("batch", "CronJob") => {
            Object::Workload(Box::new(Workload::from_cron_job(&typed(&kind, v)?)))
        }
        ("monitoring.coreos.com", "Alertmanager") => {
            Object::Workload(Box::new(Workload::from_alertmanager(&v)))
        }
        ("networking.k8s.io", "Ingress") => {
            Object::Ingress(Box::new(crate::model::IngressObject::from(&typed::<
                netv1::Ingress,
            >(
                &kind, v
            )?)))
        }
        ("", "Node") => Object::Node(Box::new(Node::from(&typed::<corev1::Node>(&kind, v)?))),
        ("apps", "DaemonSet") => {
            let ds: appsv1::DaemonSet = typed(&kind, v)?;
            if ds.metadata.name.as_deref() != Some("cilium") {
                return Ok(Parsed::Object(Object::Workload(Box::new(
                    Workload::from_daemon_set(&ds),
                ))));
            }
            let containers = ds
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .map(|s| s.containers.clone())
                .unwrap_or_default();
            let image = containers
                .iter()
                .find(|c| c.name == "cilium-agent")
                .or(containers.first())
                .and_then(|c| c.image.clone());
            Object::CiliumAgent {
                namespace: ds.metadata.namespace.clone().unwrap_or_default(),
                name: "cilium".into(),
                version: image.as_deref().and_then(Version::from_image),
            }
        }
        // The whole object goes along: Cilium's sanitiser judges every field (`cilium::sanitize`).
        ("networking.k8s.io", "NetworkPolicy") => {
            let json = v.clone();
            let np = typed::<netv1::NetworkPolicy>(&kind, v)?;
            Object::Policy(Box::new(policy::from_kubernetes(&np, &json)))
        }
        ("cilium.io", "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy") => {
            let json = v.clone();
            let clusterwide = kind == "CiliumClusterwideNetworkPolicy";
            let raw = typed::<RawCiliumPolicy>(&kind, v)?;
            Object::Policy(Box::new(policy::from_cilium(&raw, clusterwide, &json)))
        }
        ("monitoring.coreos.com", "Prometheus") => {
            Object::Prometheus(Box::new(prom_workload(Kind::Prometheus, typed(&kind, v)?)))
        }
        ("monitoring.coreos.com", "PrometheusAgent") => Object::Prometheus(Box::new(
            prom_workload(Kind::PrometheusAgent, typed(&kind, v)?),
        )),
        ("monitoring.coreos.com", "PodMonitor") => {
            Object::Monitor(Box::new(monitor(MonitorKind::PodMonitor, typed(&kind, v)?)))
        }
        ("monitoring.coreos.com", "ServiceMonitor") => Object::Monitor(Box::new(monitor(
            MonitorKind::ServiceMonitor,
            typed(&kind, v)?,
        ))),
        ("monitoring.coreos.com", "ScrapeConfig") => {
            Object::ScrapeConfig(Box::new(scrape_config(typed(&kind, v)?)))
        }
        ("monitoring.coreos.com", "Probe") => Object::Probe(Box::new(probe(typed(&kind, v)?))),
        ("scrapepath.io", "ScrapeIntent") => {
            let mut si: ScrapeIntent = typed(&kind, v)?;
            si.metadata
                .namespace
                .get_or_insert_with(|| "default".to_string());
            Object::Intent(Box::new(si))
        }
        ("security.istio.io", "AuthorizationPolicy" | "PeerAuthentication") => {
            let raw: RawMesh = typed(&kind, v)?;
            let (mkind, spec) = if kind == "AuthorizationPolicy" {
                (
                    Kind::AuthorizationPolicy,
                    crate::mesh::policy::authorization_policy(&raw.spec).map(MeshSpec::Authz),
                )
            } else {
                (
                    Kind::PeerAuthentication,
                    crate::mesh::policy::peer_authentication(&raw.spec).map(MeshSpec::Peer),
                )
            };
            Object::Mesh(Box::new(MeshPolicy {
                kind: mkind,
                namespace: raw.metadata.namespace.unwrap_or_default(),
                name: raw.metadata.name.unwrap_or_default(),
                labels: raw.metadata.labels.unwrap_or_default(),
                annotations: raw.metadata.annotations.unwrap_or_default(),
                created: raw.metadata.creation_timestamp,
                spec,
            }))
        }
        ("rbac.authorization.k8s.io", "Role") => Object::RbacRole(Box::new(
            crate::authz::RbacRole::from_role(&typed(&kind, v)?),
        )),
        ("rbac.authorization.k8s.io", "ClusterRole") => Object::RbacRole(Box::new(
            crate::authz::RbacRole::from_cluster_role(&typed(&kind, v)?),
        )),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            let object = describe(&kind, &v);
            let binding = if kind == "RoleBinding" {
                crate::authz::RbacBinding::from_role_binding(&typed(&kind, v)?)
            } else {
                crate::authz::RbacBinding::from_cluster_role_binding(&typed(&kind, v)?)
            };
            Object::RbacBinding(Box::new(
                binding.map_err(|message| ParseError { object, message })?,
            ))
        }
        _ => return Ok(Parsed::Unknown(format!("{api_version}/{kind}"))),
    };
    Ok(Parsed::Object(obj))
}

/// A ConfigMap or Secret as the scrape_configs layer needs it: only the keys whose text may be a
/// Prometheus configuration, each parsed once; `None` when no key may be one (the object is not
/// kept: no other Secret content is ever held in memory).
fn config_object<'v>(
    kind: Kind,
    md: &ObjectMeta,
    values: impl Iterator<Item = (&'v String, &'v [u8])>,
) -> Option<ConfigObject> {
    let mut entries = std::collections::BTreeMap::new();
    for (key, bytes) in values {
        let text = match scrapeconfig::decode_value(bytes) {
            Ok(t) => t,
            // Undecodable values are kept only when they are gzip: that one was meant as a config.
            Err(e) if bytes.starts_with(&[0x1f, 0x8b]) => {
                entries.insert(key.clone(), Arc::new(ConfigEntry { config: Err(e) }));
                continue;
            }
            Err(_) => continue,
        };
        if !scrapeconfig::may_hold_scrape_config(&text) {
            continue;
        }
        let config = scrapeconfig::parse_config_or_jobs(&text).map_err(|e| e.to_string());
        entries.insert(key.clone(), Arc::new(ConfigEntry { config }));
    }
    (!entries.is_empty()).then(|| ConfigObject {
        kind,
        namespace: md.namespace.clone().unwrap_or_default(),
        name: md.name.clone().unwrap_or_default(),
        entries,
    })
}

#[derive(Deserialize)]
struct RawMesh {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Value,
}

// ---------------------------------------------------------------------------------------------------------
// prometheus-operator kinds.

#[derive(Deserialize)]
struct RawProm {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: RawPromSpec,
    #[serde(default)]
    status: Option<RawPromStatus>,
}

/// `spec.shardingStrategy` of a Prometheus/PrometheusAgent.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawShardingStrategy {
    mode: Option<String>,
    topology: Option<RawTopologySharding>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawTopologySharding {
    values: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPromSpec {
    pod_monitor_selector: Option<LabelSelector>,
    pod_monitor_namespace_selector: Option<LabelSelector>,
    service_monitor_selector: Option<LabelSelector>,
    service_monitor_namespace_selector: Option<LabelSelector>,
    probe_selector: Option<LabelSelector>,
    probe_namespace_selector: Option<LabelSelector>,
    scrape_config_selector: Option<LabelSelector>,
    scrape_config_namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    ignore_namespace_selectors: bool,
    enforced_namespace_label: Option<String>,
    #[serde(default)]
    excluded_from_enforcement: Vec<RawObjectReference>,
    #[serde(default)]
    paused: bool,
    shards: Option<i32>,
    sharding_strategy: Option<RawShardingStrategy>,
    replicas: Option<i32>,
    mode: Option<String>,
    #[serde(default)]
    host_network: bool,
    service_account_name: Option<String>,
    pod_metadata: Option<RawPodMetadata>,
    #[serde(default)]
    scrape_classes: Vec<RawScrapeClass>,
    scrape_interval: Option<String>,
    #[serde(rename = "arbitraryFSAccessThroughSMs", default)]
    arbitrary_fs_access: Option<RawFsAccess>,
    version: Option<String>,
    image: Option<String>,
    additional_scrape_configs: Option<RawSecretKey>,
    port_name: Option<String>,
    #[serde(default)]
    listen_local: bool,
    service_discovery_role: Option<String>,
    #[serde(default)]
    containers: Vec<RawContainerMounts>,
    #[serde(default)]
    init_containers: Vec<RawContainerMounts>,
    #[serde(default)]
    volumes: Vec<RawNamed>,
    storage: Option<RawStorage>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    config_maps: Vec<String>,
    query_log_file: Option<String>,
    scrape_failure_log_file: Option<String>,
    security_context: Option<RawSecurityContext>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawContainerMounts {
    #[serde(default)]
    name: String,
    #[serde(default)]
    volume_mounts: Vec<RawNamed>,
}

#[derive(Deserialize, Default)]
struct RawNamed {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawStorage {
    empty_dir: Option<Value>,
    ephemeral: Option<Value>,
    volume_claim_template: Option<RawClaimTemplate>,
}

#[derive(Deserialize, Default)]
struct RawClaimTemplate {
    #[serde(default)]
    metadata: Option<RawNamed>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSecurityContext {
    run_as_user: Option<i64>,
    run_as_non_root: Option<bool>,
    fs_group: Option<i64>,
}

/// What of a Prometheus spec goes into the pod template the operator generates.
fn prom_pod_spec(s: &mut RawPromSpec) -> PromPodSpec {
    let mut mounts = Vec::new();
    for (init, list) in [(false, &s.containers), (true, &s.init_containers)] {
        for (index, c) in list.iter().enumerate() {
            for (mount_index, m) in c.volume_mounts.iter().enumerate() {
                mounts.push(PromMount {
                    init,
                    index,
                    container: c.name.clone(),
                    mount_index,
                    volume: m.name.clone(),
                });
            }
        }
    }
    let bare = |f: &Option<String>| {
        f.as_deref()
            .is_some_and(|f| !f.is_empty() && !f.contains('/'))
    };
    let storage = match s.storage.take() {
        None => Storage::None,
        Some(st) => match st.volume_claim_template {
            Some(t) if st.empty_dir.is_none() && st.ephemeral.is_none() => {
                Storage::ClaimTemplate(t.metadata.map(|m| m.name).filter(|n| !n.is_empty()))
            }
            _ if st.empty_dir.is_some() => Storage::EmptyDir,
            _ if st.ephemeral.is_some() => Storage::Ephemeral,
            _ => Storage::None,
        },
    };
    let sc = s.security_context.take().unwrap_or_default();
    let names = |l: &[RawContainerMounts]| l.iter().map(|c| c.name.clone()).collect();
    PromPodSpec {
        containers: names(&s.containers),
        init_containers: names(&s.init_containers),
        mounts,
        volumes: s.volumes.iter().map(|v| v.name.clone()).collect(),
        storage,
        secrets: std::mem::take(&mut s.secrets),
        config_maps: std::mem::take(&mut s.config_maps),
        log_file_volume: bare(&s.query_log_file) || bare(&s.scrape_failure_log_file),
        run_as_user: sc.run_as_user,
        run_as_non_root: sc.run_as_non_root,
        fs_group: sc.fs_group,
    }
}

#[derive(Deserialize, Default)]
struct RawSecretKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    key: String,
}

/// An `excludedFromEnforcement` entry (prometheus-operator's `ObjectReference`).
#[derive(Deserialize, Default)]
struct RawObjectReference {
    group: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawFsAccess {
    #[serde(default)]
    deny: bool,
}

#[derive(Deserialize, Default)]
struct RawPodMetadata {
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawScrapeClass {
    name: String,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    relabelings: Vec<RelabelSpec>,
    attach_metadata: Option<RawAttachMetadata>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPromStatus {
    available_replicas: Option<i32>,
    #[serde(default)]
    conditions: Vec<RawCondition>,
}

#[derive(Deserialize)]
struct RawCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    reason: Option<String>,
    message: Option<String>,
}

fn opt_selector(
    s: &Option<LabelSelector>,
) -> Option<Result<Selector, crate::selector::SelectorError>> {
    s.as_ref().map(Selector::from_k8s)
}

fn null_is_nothing(s: &Option<LabelSelector>) -> Result<Selector, crate::selector::SelectorError> {
    opt_selector(s).unwrap_or_else(|| Ok(Selector::nothing()))
}

fn prom_workload(kind: Kind, raw: RawProm) -> PromWorkload {
    let mut s = raw.spec;
    let pod_spec = Box::new(prom_pod_spec(&mut s));
    PromWorkload {
        pod_spec,
        kind,
        namespace: raw.metadata.namespace.clone().unwrap_or_default(),
        name: raw.metadata.name.clone().unwrap_or_default(),
        labels: raw.metadata.labels.clone().unwrap_or_default(),
        paused: s.paused,
        pod_monitor_selector: null_is_nothing(&s.pod_monitor_selector),
        pod_monitor_ns_selector: opt_selector(&s.pod_monitor_namespace_selector),
        service_monitor_selector: null_is_nothing(&s.service_monitor_selector),
        service_monitor_ns_selector: opt_selector(&s.service_monitor_namespace_selector),
        scrape_config_selector: null_is_nothing(&s.scrape_config_selector),
        scrape_config_ns_selector: opt_selector(&s.scrape_config_namespace_selector),
        probe_selector: null_is_nothing(&s.probe_selector),
        probe_ns_selector: opt_selector(&s.probe_namespace_selector),
        other_selectors_set: s.probe_selector.is_some() || s.scrape_config_selector.is_some(),
        ignore_namespace_selectors: s.ignore_namespace_selectors,
        enforced_namespace_label: s.enforced_namespace_label.filter(|l| !l.is_empty()),
        excluded_from_enforcement: s
            .excluded_from_enforcement
            .into_iter()
            .map(|r| {
                (
                    r.group.unwrap_or_else(|| "monitoring.coreos.com".into()),
                    r.resource.unwrap_or_default(),
                    r.namespace.unwrap_or_default(),
                    r.name.unwrap_or_default(),
                )
            })
            .collect(),
        shards: s.shards.unwrap_or(1).max(1) as u32,
        topology_zones: s
            .sharding_strategy
            .filter(|st| st.mode.as_deref() == Some("Topology"))
            .and_then(|st| st.topology)
            .map(|t| t.values)
            .unwrap_or_default(),
        replicas: s.replicas,
        daemonset_mode: s.mode.as_deref() == Some("DaemonSet"),
        host_network: s.host_network,
        service_account: s.service_account_name,
        service_discovery_role: s.service_discovery_role,
        pod_metadata_annotations: s
            .pod_metadata
            .as_ref()
            .map(|m| m.annotations.clone())
            .unwrap_or_default(),
        pod_metadata_labels: s.pod_metadata.map(|m| m.labels).unwrap_or_default(),
        scrape_classes: s
            .scrape_classes
            .into_iter()
            .map(|c| ScrapeClass {
                name: c.name,
                default: c.default,
                relabelings: c.relabelings,
                attach_node: c.attach_metadata.map(|a| a.node.unwrap_or(false)),
            })
            .collect(),
        has_status: raw.status.is_some(),
        port_name: s
            .port_name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "web".into()),
        listen_local: s.listen_local,
        scrape_interval: s.scrape_interval,
        deny_fs_access: s.arbitrary_fs_access.is_some_and(|a| a.deny),
        additional_scrape_configs: s
            .additional_scrape_configs
            .filter(|k| !k.name.is_empty())
            .map(|k| ConfigKeyRef {
                kind: Kind::Secret,
                namespace: raw.metadata.namespace.clone().unwrap_or_default(),
                name: k.name,
                key: k.key,
            }),
        version: s.version.or_else(|| {
            s.image
                .as_deref()
                .and_then(crate::model::image_tag)
                .map(str::to_string)
        }),
        available_replicas: raw.status.as_ref().and_then(|st| st.available_replicas),
        conditions: raw
            .status
            .map(|st| {
                st.conditions
                    .into_iter()
                    .map(|c| StatusCondition {
                        type_: c.type_,
                        status: c.status,
                        reason: c.reason,
                        message: c.message,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[derive(Deserialize)]
struct RawMonitor {
    metadata: ObjectMeta,
    spec: RawMonitorSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMonitorSpec {
    #[serde(default)]
    selector: LabelSelector,
    selector_mechanism: Option<String>,
    #[serde(default)]
    namespace_selector: RawNamespaceSelector,
    #[serde(default)]
    pod_metrics_endpoints: Vec<RawEndpoint>,
    #[serde(default)]
    endpoints: Vec<RawEndpoint>,
    job_label: Option<String>,
    scrape_class: Option<String>,
    service_discovery_role: Option<String>,
    attach_metadata: Option<RawAttachMetadata>,
}

/// `spec.attachMetadata` of a PodMonitor or ServiceMonitor, or of a scrape class.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAttachMetadata {
    #[serde(default)]
    node: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawNamespaceSelector {
    #[serde(default)]
    any: bool,
    #[serde(default)]
    match_names: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawEndpoint {
    port: Option<String>,
    port_number: Option<i32>,
    target_port: Option<IntOrString>,
    path: Option<String>,
    scheme: Option<String>,
    interval: Option<String>,
    scrape_timeout: Option<String>,
    filter_running: Option<bool>,
    #[serde(default)]
    relabelings: Vec<RelabelSpec>,
    #[serde(default)]
    metric_relabelings: Vec<RelabelSpec>,
    bearer_token_file: Option<String>,
    tls_config: Option<RawTls>,
    authorization: Option<Value>,
    basic_auth: Option<Value>,
    bearer_token_secret: Option<Value>,
    oauth2: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawTls {
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
}

fn monitor(kind: MonitorKind, raw: RawMonitor) -> Monitor {
    let s = raw.spec;
    let eps = if kind == MonitorKind::PodMonitor {
        s.pod_metrics_endpoints
    } else {
        s.endpoints
    };
    Monitor {
        kind,
        namespace: raw.metadata.namespace.clone().unwrap_or_default(),
        name: raw.metadata.name.clone().unwrap_or_default(),
        labels: raw.metadata.labels.clone().unwrap_or_default(),
        selector: Selector::from_k8s(&s.selector),
        raw_selector: s.selector,
        role_selector: s.selector_mechanism.as_deref() == Some("RoleSelector"),
        service_discovery_role: s.service_discovery_role,
        attach_node: s.attach_metadata.map(|a| a.node.unwrap_or(false)),
        namespace_selector: NamespaceSelection {
            any: s.namespace_selector.any,
            match_names: s.namespace_selector.match_names,
        },
        endpoints: eps
            .into_iter()
            .map(|e| MonitorEndpoint {
                auth_methods: [
                    e.authorization.is_some(),
                    e.basic_auth.is_some(),
                    e.bearer_token_secret.is_some(),
                    e.oauth2.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count(),
                // An empty path reads no file: prometheus-operator lets it pass.
                has_bearer_token_file: e
                    .bearer_token_file
                    .as_deref()
                    .is_some_and(|f| !f.is_empty()),
                has_tls_files: e.tls_config.as_ref().is_some_and(|t| {
                    [&t.ca_file, &t.cert_file, &t.key_file]
                        .iter()
                        .any(|f| f.as_deref().is_some_and(|f| !f.is_empty()))
                }),
                port: e.port.filter(|p| !p.is_empty()),
                port_number: e.port_number,
                target_port: e.target_port,
                path: e.path,
                scheme: e.scheme,
                interval: e.interval,
                scrape_timeout: e.scrape_timeout,
                filter_running: e.filter_running,
                relabelings: e.relabelings,
                metric_relabelings: e.metric_relabelings,
            })
            .collect(),
        job_label: s.job_label,
        scrape_class: s.scrape_class,
    }
}

#[derive(Deserialize)]
struct RawScrapeConfig {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: RawScrapeConfigSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawScrapeConfigSpec {
    scrape_class: Option<String>,
    #[serde(default)]
    relabelings: Vec<RelabelSpec>,
    #[serde(default)]
    metric_relabelings: Vec<RelabelSpec>,
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    tls_config: Option<RawSafeTls>,
    job_name: Option<String>,
    metrics_path: Option<String>,
    scheme: Option<String>,
    honor_labels: Option<bool>,
    #[serde(default)]
    static_configs: Vec<RawStaticConfig>,
    #[serde(rename = "httpSDConfigs", default)]
    http_sd_configs: Vec<RawHttpSd>,
    #[serde(rename = "kubernetesSDConfigs", default)]
    kubernetes_sd_configs: Vec<RawKubernetesSd>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSafeTls {
    ca: Option<RawSecretOrConfigMap>,
    cert: Option<RawSecretOrConfigMap>,
    key_secret: Option<Value>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// A `SecretOrConfigMap`: set when either reference is.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSecretOrConfigMap {
    secret: Option<Value>,
    config_map: Option<Value>,
}

impl RawSecretOrConfigMap {
    fn is_set(&self) -> bool {
        self.secret.is_some() || self.config_map.is_some()
    }
}

#[derive(Deserialize, Default)]
struct RawStaticConfig {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawHttpSd {
    #[serde(default)]
    url: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawKubernetesSd {
    #[serde(default)]
    role: String,
    api_server: Option<String>,
    namespaces: Option<RawSdNamespaces>,
    #[serde(default)]
    selectors: Vec<RawSdSelector>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSdNamespaces {
    own_namespace: Option<bool>,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawSdSelector {
    #[serde(default)]
    role: String,
    label: Option<String>,
    field: Option<String>,
}

fn scrape_config(raw: RawScrapeConfig) -> ScrapeConfigResource {
    let s = raw.spec;
    ScrapeConfigResource {
        namespace: raw.metadata.namespace.unwrap_or_default(),
        name: raw.metadata.name.unwrap_or_default(),
        labels: raw.metadata.labels.unwrap_or_default(),
        scrape_class: s.scrape_class,
        relabelings: s.relabelings,
        metric_relabelings: s.metric_relabelings,
        scrape_interval: s.scrape_interval,
        scrape_timeout: s.scrape_timeout,
        tls: s.tls_config.map(|t| {
            let both = |r: &Option<RawSecretOrConfigMap>| {
                r.as_ref()
                    .is_some_and(|r| r.secret.is_some() && r.config_map.is_some())
            };
            SafeTls {
                cert: t.cert.as_ref().is_some_and(RawSecretOrConfigMap::is_set),
                key: t.key_secret.is_some(),
                min_version: t.min_version,
                max_version: t.max_version,
                both_sources: if both(&t.ca) {
                    Some("ca")
                } else if both(&t.cert) {
                    Some("cert")
                } else {
                    None
                },
            }
        }),
        static_configs: s
            .static_configs
            .into_iter()
            .map(|c| StaticTargets {
                targets: c.targets,
                labels: c.labels,
            })
            .collect(),
        job_name: s.job_name,
        metrics_path: s.metrics_path,
        scheme: s.scheme,
        honor_labels: s.honor_labels,
        http_sd_urls: s.http_sd_configs.into_iter().map(|h| h.url).collect(),
        kubernetes_sd: s
            .kubernetes_sd_configs
            .into_iter()
            .map(|k| KubernetesSd {
                role: k.role,
                api_server: k.api_server.is_some(),
                own_namespace: k
                    .namespaces
                    .as_ref()
                    .is_some_and(|n| n.own_namespace == Some(true)),
                names: k
                    .namespaces
                    .as_ref()
                    .map(|n| n.names.clone())
                    .unwrap_or_default(),
                namespaces_set: k.namespaces.is_some(),
                selectors: k
                    .selectors
                    .into_iter()
                    .map(|s| KubernetesSdSelector {
                        role: s.role,
                        label: s.label,
                        field: s.field,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[derive(Deserialize)]
struct RawProbe {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: RawProbeSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawProbeSpec {
    job_name: Option<String>,
    #[serde(default)]
    prober: RawProber,
    module: Option<String>,
    #[serde(default)]
    targets: RawProbeTargets,
    interval: Option<String>,
    scrape_timeout: Option<String>,
    #[serde(default)]
    metric_relabelings: Vec<RelabelSpec>,
    scrape_class: Option<String>,
    #[serde(default)]
    params: Vec<RawProbeParam>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawProber {
    #[serde(default)]
    url: String,
    scheme: Option<String>,
    path: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawProbeTargets {
    static_config: Option<RawProbeStatic>,
    ingress: Option<RawProbeIngress>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawProbeStatic {
    #[serde(default, rename = "static")]
    targets: Vec<String>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    relabeling_configs: Vec<RelabelSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawProbeIngress {
    #[serde(default)]
    selector: LabelSelector,
    #[serde(default)]
    namespace_selector: RawNamespaceSelector,
    #[serde(default)]
    relabeling_configs: Vec<RelabelSpec>,
}

#[derive(Deserialize, Default)]
struct RawProbeParam {
    #[serde(default)]
    name: String,
    #[serde(default)]
    values: Vec<String>,
}

fn probe(raw: RawProbe) -> ProbeResource {
    let s = raw.spec;
    ProbeResource {
        namespace: raw.metadata.namespace.unwrap_or_default(),
        name: raw.metadata.name.unwrap_or_default(),
        labels: raw.metadata.labels.unwrap_or_default(),
        job_name: s.job_name,
        prober_url: s.prober.url,
        prober_scheme: s.prober.scheme,
        prober_path: s.prober.path,
        proxy_url: s.prober.proxy_url,
        module: s.module,
        params: s.params.into_iter().map(|p| (p.name, p.values)).collect(),
        interval: s.interval,
        scrape_timeout: s.scrape_timeout,
        scrape_class: s.scrape_class,
        static_config: s.targets.static_config.map(|c| ProbeStatic {
            targets: c.targets,
            labels: c.labels,
            relabelings: c.relabeling_configs,
        }),
        ingress: s.targets.ingress.map(|i| ProbeIngress {
            selector: i.selector,
            namespace_selector: NamespaceSelection {
                any: i.namespace_selector.any,
                match_names: i.namespace_selector.match_names,
            },
            relabelings: i.relabeling_configs,
        }),
        metric_relabelings: s.metric_relabelings,
    }
}
