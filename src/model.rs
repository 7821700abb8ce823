//! The world as the engine sees it: only the fields that decide a scrape, taken from Kubernetes objects.
//!
//! Built-in kinds arrive as `k8s-openapi` types (from YAML in `check`, from watches in the controller) and are
//! turned into these types by `From` impls; the custom kinds are parsed in `crate::parse`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as corev1;
use k8s_openapi::api::discovery::v1 as discoveryv1;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::selector::{Selector, SelectorError};

pub type Labels = BTreeMap<String, String>;

/// Every kind the index knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Pod,
    Service,
    EndpointSlice,
    Prometheus,
    PrometheusAgent,
    PodMonitor,
    ServiceMonitor,
    /// prometheus-operator's ScrapeConfig (monitoring.coreos.com/v1alpha1).
    ScrapeConfig,
    CiliumNetworkPolicy,
    CiliumClusterwideNetworkPolicy,
    NetworkPolicy,
    ScrapeIntent,
    ConfigMap,
    /// A Secret holding a scraper's configuration (never any other Secret).
    Secret,
    DaemonSet,
    /// Workloads that own scraper and target pods: named in findings, never read from a cluster.
    Deployment,
    StatefulSet,
    ReplicaSet,
    /// Workloads `check` models pods for (never read from a cluster).
    ReplicationController,
    Job,
    CronJob,
    /// prometheus-operator's Alertmanager (its pods are modelled by `check`).
    Alertmanager,
    /// Where DaemonSet pods run (`check` input only).
    Node,
    AuthorizationPolicy,
    PeerAuthentication,
    /// Kubernetes RBAC (`rbac.authorization.k8s.io/v1`): what the scrapers' ServiceAccounts may list
    /// and watch for their service discovery (`crate::authz`).
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
    /// A Warning Event (core v1 or events.k8s.io/v1) about a scraper's StatefulSet or pod (issue 17).
    Event,
    /// A ServiceAccount (`check` input only: whether a scraper's `serviceAccountName` exists).
    ServiceAccount,
    /// prometheus-operator's Probe (monitoring.coreos.com/v1): a prober (blackbox-exporter) scraped
    /// with each probed target as `__param_target`.
    Probe,
    /// An Ingress (networking.k8s.io/v1): the targets of Prometheus' Kubernetes SD role `ingress`
    /// (a Probe's `spec.targets.ingress`, a scrape job's `role: ingress`).
    Ingress,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Prometheus => "Prometheus",
            Kind::PrometheusAgent => "PrometheusAgent",
            Kind::PodMonitor => "PodMonitor",
            Kind::ServiceMonitor => "ServiceMonitor",
            Kind::ScrapeConfig => "ScrapeConfig",
            Kind::CiliumNetworkPolicy => "CiliumNetworkPolicy",
            Kind::CiliumClusterwideNetworkPolicy => "CiliumClusterwideNetworkPolicy",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::ScrapeIntent => "ScrapeIntent",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::DaemonSet => "DaemonSet",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ReplicationController => "ReplicationController",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Alertmanager => "Alertmanager",
            Kind::Node => "Node",
            Kind::AuthorizationPolicy => "AuthorizationPolicy",
            Kind::PeerAuthentication => "PeerAuthentication",
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
            Kind::Event => "Event",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Probe => "Probe",
            Kind::Ingress => "Ingress",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to one object: kind, namespace ("" for cluster-scoped), name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjRef {
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjRef {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// The tag of a container image reference (`quay.io/cilium/cilium:v1.18.4@sha256:...` → `v1.18.4`);
/// `None` when it has none (a `:` followed by `/` is a registry port).
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next()?;
    let (_, tag) = without_digest.rsplit_once(':')?;
    (!tag.contains('/')).then_some(tag)
}

/// The label scrapepath puts on what it applies; objects carrying it are "managed" (DESIGN.md §4).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "scrapepath";
pub const INTENT_LABEL: &str = "scrapepath.io/intent";

/// The intent that manages an object, if scrapepath applied it.
pub fn managing_intent(labels: &Labels) -> Option<String> {
    (labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE))
        .then(|| labels.get(INTENT_LABEL).cloned().unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
    /// What Prometheus' `attach_metadata.namespace` attaches besides the labels.
    pub annotations: Labels,
}

impl From<&corev1::Namespace> for Namespace {
    fn from(ns: &corev1::Namespace) -> Self {
        let name = ns.metadata.name.clone().unwrap_or_default();
        let mut labels: Labels = ns.metadata.labels.clone().unwrap_or_default();
        // The apiserver always sets this label; manifests often omit it.
        labels
            .entry("kubernetes.io/metadata.name".to_string())
            .or_insert_with(|| name.clone());
        Namespace {
            name,
            labels,
            annotations: ns.metadata.annotations.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub number: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Container {
    pub name: String,
    /// Declared under `initContainers`.
    pub init: bool,
    /// An init container with `restartPolicy: Always`: a native sidecar.
    pub native_sidecar: bool,
    pub image: String,
    /// Shared like the pod's labels ([`Pod::labels`]): the containers of a workload's pods may differ
    /// (an image rolled out to some of them) while their ports stay the same.
    pub ports: Arc<[ContainerPort]>,
    /// `args` of the Istio init containers (`istio-init`, `istio-validation`: the capture flags `-b`, `-d`);
    /// empty for every other container.
    pub args: Vec<String>,
    /// The literal environment variables of `istio-proxy` (proxyMetadata, `ISTIO_PROMETHEUS_ANNOTATIONS`);
    /// empty for every other container.
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// Labels, annotations and containers are shared: the pods of one workload have the same, and
    /// [`crate::index::ClusterIndex`] hands every pod it holds the one copy of each (at 150,000 pods
    /// these maps were most of the index's memory).
    pub labels: Arc<Labels>,
    pub annotations: Arc<Labels>,
    pub service_account: String,
    pub host_network: bool,
    pub node_name: Option<String>,
    pub pod_ip: Option<String>,
    pub host_ip: Option<String>,
    pub phase: String,
    /// The Ready condition: `None` when the pod reports none.
    pub ready: Option<bool>,
    pub containers: Arc<[Container]>,
    /// The controlling owner (kind, name), e.g. ("ReplicaSet", "was-56975b7586"); shared among the
    /// pods of one owner like [`Pod::labels`].
    pub controller: Option<Arc<(String, String)>>,
    pub uid: Option<String>,
    /// Where a Prometheus container of this pod reads its `--config.file` from; `None` for every pod
    /// that runs no Prometheus (boxed: one pointer on the pods that are not scrapers).
    pub prometheus_config: Option<Box<PodConfigFile>>,
    /// `Some` for a pod `check` modelled from a workload (no Pod object of it is in the input): which
    /// workload, and what the modelling assumed. Such a pod has no IP unless a Node gives it one.
    pub modelled: Option<Box<crate::workload::Modelled>>,
    /// What keeps the pod from running or being Ready, as its status says; empty for a healthy pod.
    pub problems: Vec<PodProblem>,
}

/// One thing a pod's status reports against it: not scheduled, or a container waiting or terminated,
/// with the error line it last wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodProblem {
    /// The container; `None` for the pod as a whole (scheduling).
    pub container: Option<String>,
    /// `Unschedulable`, `CrashLoopBackOff`, `ImagePullBackOff`, `Error`, `OOMKilled`, ...
    pub reason: String,
    /// The status message, with the last terminated state's exit code and error line.
    pub message: String,
}

impl PodProblem {
    /// One line for a message: `container prometheus: CrashLoopBackOff (last exit 1: ...)`.
    pub fn describe(&self) -> String {
        let who = self
            .container
            .as_deref()
            .map(|c| format!("container {c}: "))
            .unwrap_or_default();
        if self.message.is_empty() {
            format!("{who}{}", self.reason)
        } else {
            format!("{who}{} ({})", self.reason, self.message)
        }
    }
}

/// The line of a container's termination message that says what failed: the last one that logs an
/// error, else the last non-empty one; cut to 300 characters.
fn error_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let lower = |l: &&str| l.to_ascii_lowercase();
    let line = lines
        .iter()
        .rev()
        .find(|l| {
            let l = lower(l);
            l.contains("level=error")
                || l.contains("level=fatal")
                || l.contains("err=")
                || l.contains("error:")
        })
        .or(lines.last())
        .copied()
        .unwrap_or("");
    line.chars().take(300).collect()
}

/// What the pod's status reports against it (issue 17): an unscheduled pod's condition, and every
/// container (init containers first) waiting for a reason other than starting, or terminated with an
/// error, with its last terminated state.
fn pod_problems(status: &corev1::PodStatus) -> Vec<PodProblem> {
    let mut out = Vec::new();
    for c in status.conditions.iter().flatten() {
        if c.type_ == "PodScheduled" && c.status == "False" {
            out.push(PodProblem {
                container: None,
                reason: c.reason.clone().unwrap_or_else(|| "Unschedulable".into()),
                message: c.message.clone().unwrap_or_default(),
            });
        }
    }
    let terminated = |t: &corev1::ContainerStateTerminated| {
        let mut m = format!("exit {}", t.exit_code);
        if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
            m.push_str(&format!(", {r}"));
        }
        let line = t.message.as_deref().map(error_line).unwrap_or_default();
        if !line.is_empty() {
            m.push_str(&format!(": {line}"));
        }
        m
    };
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for cs in statuses {
        let state = cs.state.as_ref();
        let last = cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .filter(|t| t.exit_code != 0)
            .map(|t| format!("last {}", terminated(t)));
        let problem = if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.clone().unwrap_or_default();
            if reason.is_empty() || reason == "ContainerCreating" || reason == "PodInitializing" {
                None
            } else {
                let parts: Vec<String> = [w.message.clone().filter(|m| !m.is_empty()), last]
                    .into_iter()
                    .flatten()
                    .collect();
                Some((reason, parts.join("; ")))
            }
        } else if let Some(t) = state
            .and_then(|s| s.terminated.as_ref())
            .filter(|t| t.exit_code != 0)
        {
            Some((
                t.reason.clone().unwrap_or_else(|| "Error".into()),
                terminated(t),
            ))
        } else if cs.ready || last.is_none() {
            None
        } else {
            // Running again after a failure, not Ready yet.
            Some((
                format!("restarted {} times", cs.restart_count),
                last.unwrap_or_default(),
            ))
        };
        if let Some((reason, message)) = problem {
            out.push(PodProblem {
                container: Some(cs.name.clone()),
                reason,
                message,
            });
        }
    }
    out
}

/// The configuration file of a Prometheus container, and the volume it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodConfigFile {
    pub container: String,
    /// The `--config.file` path as the container sees it.
    pub path: String,
    /// The ConfigMap or Secret (and key) mounted at that path; `Err` says why none is.
    pub source: Result<ConfigKeyRef, String>,
}

/// One key of a ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigKeyRef {
    /// [`Kind::ConfigMap`] or [`Kind::Secret`].
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub key: String,
}

impl ConfigKeyRef {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(self.kind, &self.namespace, &self.name)
    }
}

impl fmt::Display for ConfigKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{} key {}",
            self.kind, self.namespace, self.name, self.key
        )
    }
}

/// The Prometheus configuration default of the official image (`prom/prometheus`,
/// `quay.io/prometheus/prometheus`): its CMD passes this `--config.file`.
pub const IMAGE_DEFAULT_CONFIG_FILE: &str = "/etc/prometheus/prometheus.yml";

/// The config file a container of the pod runs Prometheus with: the `--config.file` argument of a
/// container that runs a Prometheus image or the `prometheus` binary; the image default when such
/// a container gives none. (prometheus-operator's pods match too; their file is an emptyDir the
/// reloader writes, so they resolve to no ConfigMap and are read through their Prometheus object.) Volumes resolve the path to a ConfigMap or
/// Secret key (a `subPath` mount, a whole-volume mount with or without `items`).
fn prometheus_config_file(namespace: &str, spec: &corev1::PodSpec) -> Option<Box<PodConfigFile>> {
    for c in &spec.containers {
        let args: Vec<&str> = c
            .command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .map(String::as_str)
            .collect();
        let mut path = None;
        for (i, a) in args.iter().enumerate() {
            let a = a.trim_start_matches('-');
            if let Some(v) = a.strip_prefix("config.file=") {
                path = Some(v.to_string());
            } else if a == "config.file" {
                path = args.get(i + 1).map(|v| v.to_string());
            }
        }
        let image = c.image.as_deref().unwrap_or_default();
        let image_name = image.split(['@', ':']).next().unwrap_or_default();
        let prometheus_image = image_name.ends_with("/prometheus") || image_name == "prometheus";
        let prometheus_binary = args
            .iter()
            .any(|a| !a.starts_with('-') && (*a == "prometheus" || a.ends_with("/prometheus")));
        // Alertmanager and other tools take --config.file too: only Prometheus itself counts.
        if !prometheus_image && !prometheus_binary {
            continue;
        }
        let path = path.unwrap_or_else(|| IMAGE_DEFAULT_CONFIG_FILE.to_string());
        let source = config_source(namespace, spec, c, &path);
        return Some(Box::new(PodConfigFile {
            container: c.name.clone(),
            path,
            source,
        }));
    }
    None
}

fn config_source(
    namespace: &str,
    spec: &corev1::PodSpec,
    c: &corev1::Container,
    path: &str,
) -> Result<ConfigKeyRef, String> {
    let rel = |mount: &str| -> Option<String> {
        let mount = mount.trim_end_matches('/');
        let rest = path.strip_prefix(mount)?.strip_prefix('/')?;
        (!rest.is_empty()).then(|| rest.to_string())
    };
    // The deepest mount that holds the path decides, as in the container's file system.
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| {
            let exact = m.mount_path.trim_end_matches('/') == path.trim_end_matches('/');
            exact || rel(&m.mount_path).is_some()
        })
        .max_by_key(|m| m.mount_path.trim_end_matches('/').len())
        .ok_or_else(|| {
            format!(
                "container {} reads --config.file={path}, but no volume is mounted there",
                c.name
            )
        })?;
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .ok_or_else(|| {
            format!(
                "container {} mounts volume {} at {}, and the pod declares no such volume",
                c.name, mount.name, mount.mount_path
            )
        })?;
    // The file name inside the volume: the subPath (plus the rest of the path), else the path
    // below the mount point.
    let within = match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
        Some(sub) => match rel(&mount.mount_path) {
            Some(rest) => format!("{}/{rest}", sub.trim_end_matches('/')),
            None => sub.to_string(),
        },
        None => rel(&mount.mount_path).ok_or_else(|| {
            format!(
                "container {} mounts volume {} exactly at --config.file={path}: a directory, not a file",
                c.name, mount.name
            )
        })?,
    };
    let (kind, name, items) = if let Some(cm) = &volume.config_map {
        (Kind::ConfigMap, cm.name.clone(), cm.items.clone())
    } else if let Some(s) = &volume.secret {
        (
            Kind::Secret,
            s.secret_name.clone().unwrap_or_default(),
            s.items.clone(),
        )
    } else {
        return Err(format!(
            "container {} reads --config.file={path} from volume {}, which is neither a ConfigMap nor a Secret",
            c.name, volume.name
        ));
    };
    let key = match items {
        // With items, only the listed keys exist in the volume, each at its own path.
        Some(items) => items
            .iter()
            .find(|i| i.path == within)
            .map(|i| i.key.clone())
            .ok_or_else(|| {
                format!(
                    "volume {} projects no key of {kind} {name} to {within} (its items list other paths)",
                    volume.name
                )
            })?,
        None => within,
    };
    Ok(ConfigKeyRef {
        kind,
        namespace: namespace.to_string(),
        name,
        key,
    })
}

impl Pod {
    /// A port declared by any container, with its container, by name (IANA names compare as written).
    pub fn port_by_name(&self, name: &str) -> Option<(&Container, &ContainerPort)> {
        self.containers.iter().find_map(|c| {
            c.ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
                .map(|p| (c, p))
        })
    }

    pub fn port_by_number(&self, number: u16) -> Option<(&Container, &ContainerPort)> {
        self.containers.iter().find_map(|c| {
            c.ports
                .iter()
                .find(|p| p.number == number && p.protocol.eq_ignore_ascii_case("TCP"))
                .map(|p| (c, p))
        })
    }

    pub fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The address a scrape of this pod connects to: its IP, or, for a pod modelled from a workload
    /// (which has none until it runs), its stand-in (`crate::workload::STAND_IN_NETWORK`).
    pub fn scrape_ip(&self) -> Option<&str> {
        self.pod_ip
            .as_deref()
            .or(self.modelled.as_ref().map(|m| m.address.as_str()))
    }

    /// Whether the pod is Ready; a modelled pod is taken as its controller intends it: Ready.
    pub fn ready_or_intended(&self) -> bool {
        self.ready.unwrap_or(self.modelled.is_some())
    }
}

fn container_from(c: &corev1::Container, init: bool) -> Container {
    Container {
        name: c.name.clone(),
        init,
        native_sidecar: init && c.restart_policy.as_deref() == Some("Always"),
        image: c.image.clone().unwrap_or_default(),
        ports: c
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(ContainerPort {
                    name: p.name.clone(),
                    number: u16::try_from(p.container_port).ok()?,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                })
            })
            .collect(),
        // Only Istio's containers carry what the mesh layer reads; scraper pods are cloned per subject.
        args: if init && matches!(c.name.as_str(), "istio-init" | "istio-validation") {
            c.args.clone().unwrap_or_default()
        } else {
            Vec::new()
        },
        env: if c.name == "istio-proxy" {
            c.env
                .iter()
                .flatten()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect()
        } else {
            Vec::new()
        },
    }
}

impl From<&corev1::Pod> for Pod {
    fn from(p: &corev1::Pod) -> Self {
        let spec = p.spec.clone().unwrap_or_default();
        let status = p.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status == "True");
        let controller = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| Arc::new((o.kind.clone(), o.name.clone())));
        let mut containers: Vec<Container> = spec
            .containers
            .iter()
            .map(|c| container_from(c, false))
            .collect();
        containers.extend(
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| container_from(c, true)),
        );
        Pod {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            name: p.metadata.name.clone().unwrap_or_default(),
            labels: Arc::new(p.metadata.labels.clone().unwrap_or_default()),
            annotations: Arc::new(p.metadata.annotations.clone().unwrap_or_default()),
            // The API server defaults serviceAccountName from the deprecated serviceAccount.
            #[allow(deprecated)]
            service_account: spec
                .service_account_name
                .clone()
                .filter(|s| !s.is_empty())
                .or_else(|| spec.service_account.clone().filter(|s| !s.is_empty()))
                .unwrap_or_else(|| "default".to_string()),
            host_network: spec.host_network.unwrap_or(false),
            node_name: spec.node_name.clone(),
            pod_ip: status.pod_ip.clone().filter(|s| !s.is_empty()),
            host_ip: status.host_ip.clone().filter(|s| !s.is_empty()),
            phase: status
                .phase
                .clone()
                .unwrap_or_else(|| "Pending".to_string()),
            ready,
            containers: containers.into(),
            controller,
            uid: p.metadata.uid.clone(),
            prometheus_config: prometheus_config_file(
                p.metadata.namespace.as_deref().unwrap_or_default(),
                &spec,
            ),
            modelled: None,
            problems: pod_problems(&status),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: i32,
    pub target_port: Option<IntOrString>,
    pub protocol: String,
    pub app_protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
}

impl From<&corev1::Service> for Service {
    fn from(s: &corev1::Service) -> Self {
        let spec = s.spec.clone().unwrap_or_default();
        Service {
            namespace: s.metadata.namespace.clone().unwrap_or_default(),
            name: s.metadata.name.clone().unwrap_or_default(),
            labels: s.metadata.labels.clone().unwrap_or_default(),
            annotations: s.metadata.annotations.clone().unwrap_or_default(),
            selector: spec.selector.clone(),
            ports: spec
                .ports
                .iter()
                .flatten()
                .map(|p| ServicePort {
                    name: p.name.clone(),
                    port: p.port,
                    target_port: p.target_port.clone(),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                    app_protocol: p.app_protocol.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SliceEndpoint {
    pub addresses: Vec<String>,
    pub ready: bool,
    /// The backing pod's name, when the endpoint names one.
    pub pod: Option<String>,
    /// The endpoint's `targetRef` (kind, name) whatever its kind: a Node for the kubelet endpoints
    /// prometheus-operator keeps; `None` for hand-written addresses and the API server's own.
    pub target: Option<(String, String)>,
    /// `nodeName` (EndpointSlice) or `nodeName` of the address (Endpoints).
    pub node_name: Option<String>,
    /// `zone` (EndpointSlice; topology sharding reads it).
    pub zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlicePort {
    pub name: Option<String>,
    pub port: Option<i32>,
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSlice {
    pub namespace: String,
    pub name: String,
    pub service: Option<String>,
    pub ports: Vec<SlicePort>,
    pub endpoints: Vec<SliceEndpoint>,
}

impl From<&discoveryv1::EndpointSlice> for EndpointSlice {
    fn from(s: &discoveryv1::EndpointSlice) -> Self {
        EndpointSlice {
            namespace: s.metadata.namespace.clone().unwrap_or_default(),
            name: s.metadata.name.clone().unwrap_or_default(),
            service: s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name").cloned()),
            ports: s
                .ports
                .iter()
                .flatten()
                .map(|p| SlicePort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port: p.port,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                })
                .collect(),
            endpoints: s
                .endpoints
                .iter()
                .flatten()
                .map(|e| SliceEndpoint {
                    addresses: e.addresses.clone(),
                    // Per the API, a nil ready condition means ready.
                    ready: e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
                    pod: pod_of(e.target_ref.as_ref()),
                    target: target_of(e.target_ref.as_ref()),
                    node_name: e.node_name.clone(),
                    zone: e.zone.clone(),
                })
                .collect(),
        }
    }
}

/// The pod an endpoint's `targetRef` names, if it names a Pod.
fn pod_of(r: Option<&corev1::ObjectReference>) -> Option<String> {
    r.filter(|r| r.kind.as_deref() == Some("Pod"))
        .and_then(|r| r.name.clone())
}

/// An endpoint's `targetRef` as (kind, name), whatever its kind.
fn target_of(r: Option<&corev1::ObjectReference>) -> Option<(String, String)> {
    r.and_then(|r| Some((r.kind.clone().unwrap_or_default(), r.name.clone()?)))
}

impl EndpointSlice {
    /// What the EndpointSlice mirroring controller publishes for an `Endpoints` object (a Service
    /// without selector whose endpoints someone else keeps, e.g. prometheus-operator's kubelet
    /// Service): one slice per subset, `ready` false for `notReadyAddresses`; `None` when the object
    /// carries `endpointslice.kubernetes.io/skip-mirror: "true"` (the API server's own
    /// default/kubernetes Endpoints: it writes the EndpointSlice itself).
    pub fn mirrored(e: &corev1::Endpoints) -> Option<Vec<EndpointSlice>> {
        let labels = e.metadata.labels.clone().unwrap_or_default();
        if labels
            .get("endpointslice.kubernetes.io/skip-mirror")
            .map(String::as_str)
            == Some("true")
        {
            return None;
        }
        let namespace = e.metadata.namespace.clone().unwrap_or_default();
        let name = e.metadata.name.clone().unwrap_or_default();
        let endpoint = |a: &corev1::EndpointAddress, ready: bool| SliceEndpoint {
            addresses: vec![a.ip.clone()],
            ready,
            pod: pod_of(a.target_ref.as_ref()),
            target: target_of(a.target_ref.as_ref()),
            node_name: a.node_name.clone(),
            zone: None,
        };
        Some(
            e.subsets
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, sub)| EndpointSlice {
                    namespace: namespace.clone(),
                    name: if i == 0 {
                        format!("{name}-mirror")
                    } else {
                        format!("{name}-mirror-{i}")
                    },
                    service: Some(name.clone()),
                    ports: sub
                        .ports
                        .iter()
                        .flatten()
                        .map(|p| SlicePort {
                            name: p.name.clone().filter(|n| !n.is_empty()),
                            port: Some(p.port),
                            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                        })
                        .collect(),
                    endpoints: sub
                        .addresses
                        .iter()
                        .flatten()
                        .map(|a| endpoint(a, true))
                        .chain(
                            sub.not_ready_addresses
                                .iter()
                                .flatten()
                                .map(|a| endpoint(a, false)),
                        )
                        .collect(),
                })
                .collect(),
        )
    }
}

/// A condition as an object's status reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCondition {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// `Prometheus` or `PrometheusAgent` (monitoring.coreos.com), reduced to what picks monitors and targets.
#[derive(Debug, Clone, PartialEq)]
pub struct PromWorkload {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub paused: bool,
    /// `Ok(Selector::nothing())` for a null selector (A2); `Err` when it does not parse.
    pub pod_monitor_selector: Result<Selector, SelectorError>,
    /// `None`: only the workload's own namespace (A3).
    pub pod_monitor_ns_selector: Option<Result<Selector, SelectorError>>,
    pub service_monitor_selector: Result<Selector, SelectorError>,
    pub service_monitor_ns_selector: Option<Result<Selector, SelectorError>>,
    /// `spec.scrapeConfigSelector` (null selects nothing) and `spec.scrapeConfigNamespaceSelector`
    /// (null: its own namespace), as for monitors.
    pub scrape_config_selector: Result<Selector, SelectorError>,
    pub scrape_config_ns_selector: Option<Result<Selector, SelectorError>>,
    /// `spec.probeSelector` (null selects nothing) and `spec.probeNamespaceSelector` (null: its own
    /// namespace), as for monitors.
    pub probe_selector: Result<Selector, SelectorError>,
    pub probe_ns_selector: Option<Result<Selector, SelectorError>>,
    /// Whether probe/scrapeConfig selectors are set (A5: all four null means unmanaged configuration).
    pub other_selectors_set: bool,
    pub ignore_namespace_selectors: bool,
    /// `spec.enforcedNamespaceLabel` (non-empty): the operator appends a rule setting it to the
    /// object's namespace after each object's relabelings, unless `excludedFromEnforcement` names it.
    pub enforced_namespace_label: Option<String>,
    /// `spec.excludedFromEnforcement` as (group, resource, namespace, name; empty name: every object).
    pub excluded_from_enforcement: Vec<(String, String, String, String)>,
    pub shards: u32,
    /// `spec.shardingStrategy.topology.values` when `mode` is `Topology` (empty otherwise): the zones
    /// of topology sharding, which the operator applies only behind its `PrometheusTopologySharding`
    /// feature gate.
    pub topology_zones: Vec<String>,
    pub replicas: Option<i32>,
    pub daemonset_mode: bool,
    pub host_network: bool,
    pub service_account: Option<String>,
    /// `spec.serviceDiscoveryRole` (`Endpoints`, the default, or `EndpointSlice`): the Kubernetes SD
    /// role of its ServiceMonitors.
    pub service_discovery_role: Option<String>,
    pub pod_metadata_labels: Labels,
    /// `spec.podMetadata.annotations` (Istio injection settings of the scraper's pods).
    pub pod_metadata_annotations: Labels,
    pub scrape_classes: Vec<ScrapeClass>,
    pub available_replicas: Option<i32>,
    pub conditions: Vec<StatusCondition>,
    pub has_status: bool,
    /// `spec.portName` (default `web`) and `spec.listenLocal`: the web port of the pods.
    pub port_name: String,
    pub listen_local: bool,
    /// `spec.scrapeInterval`: the interval of endpoints that set none.
    pub scrape_interval: Option<String>,
    /// `spec.arbitraryFSAccessThroughSMs.deny`.
    pub deny_fs_access: bool,
    /// `spec.version`, else the tag of `spec.image`.
    pub version: Option<String>,
    /// `spec.additionalScrapeConfigs`: the Secret key holding extra `scrape_configs` jobs.
    pub additional_scrape_configs: Option<ConfigKeyRef>,
    /// What of the spec goes into the pod template the operator generates (issue 17: `check` predicts
    /// an invalid or never-Ready pod from it).
    pub pod_spec: Box<PromPodSpec>,
}

/// The parts of a Prometheus/PrometheusAgent spec that decide whether the pod the operator generates is
/// valid and can write its data directory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromPodSpec {
    /// Every `volumeMounts` entry of `spec.containers` and `spec.initContainers`.
    pub mounts: Vec<PromMount>,
    /// The names of `spec.containers` and `spec.initContainers`, in order.
    pub containers: Vec<String>,
    pub init_containers: Vec<String>,
    /// `spec.volumes[*].name`.
    pub volumes: Vec<String>,
    pub storage: Storage,
    /// `spec.secrets` and `spec.configMaps` (mounted as `secret-<name>`, `configmap-<name>`).
    pub secrets: Vec<String>,
    pub config_maps: Vec<String>,
    /// `spec.queryLogFile` or `spec.scrapeFailureLogFile` is a bare file name (the `log-file` volume).
    pub log_file_volume: bool,
    /// `spec.securityContext`: runAsUser, runAsNonRoot, fsGroup.
    pub run_as_user: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub fs_group: Option<i64>,
}

/// One `volumeMounts` entry of a container the spec adds to (or merges into) the operator's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromMount {
    /// Under `spec.initContainers` (else `spec.containers`).
    pub init: bool,
    /// The container's index in its list, and its name.
    pub index: usize,
    pub container: String,
    /// The mount's index in the container's `volumeMounts`, and the volume it names.
    pub mount_index: usize,
    pub volume: String,
}

/// `spec.storage` of a Prometheus/PrometheusAgent.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Storage {
    /// No storage: an emptyDir named `<prefix>-<name>-db`.
    #[default]
    None,
    EmptyDir,
    /// An ephemeral volume (a PVC per pod), named `<prefix>-<name>-db`.
    Ephemeral,
    /// A volumeClaimTemplate; its `metadata.name` when set (else `<prefix>-<name>-db`).
    ClaimTemplate(Option<String>),
}

/// A StatefulSet prometheus-operator runs for a Prometheus or PrometheusAgent (`prometheus-<name>`,
/// `-shard-N`), reduced to what says why its pods are missing or not Ready (issue 17).
#[derive(Debug, Clone, PartialEq)]
pub struct ScraperSet {
    pub namespace: String,
    pub name: String,
    /// The controlling Prometheus/PrometheusAgent (kind, name).
    pub owner: (String, String),
    /// `spec.replicas` (default 1).
    pub replicas: i32,
    /// `None`: the StatefulSet reports no status (its controller has not observed it yet).
    pub status: Option<ScraperSetStatus>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScraperSetStatus {
    pub replicas: i32,
    pub ready_replicas: i32,
    /// Conditions other than True (the StatefulSet controller sets few; any it sets against it).
    pub conditions: Vec<StatusCondition>,
}

impl ScraperSet {
    /// A StatefulSet controlled by a Prometheus or PrometheusAgent; `None` for any other.
    pub fn from_stateful_set(s: &k8s_openapi::api::apps::v1::StatefulSet) -> Option<Self> {
        let owner = s.metadata.owner_references.iter().flatten().find(|o| {
            o.controller == Some(true)
                && o.api_version.starts_with("monitoring.coreos.com/")
                && matches!(o.kind.as_str(), "Prometheus" | "PrometheusAgent")
        })?;
        let status = s.status.as_ref().map(|st| ScraperSetStatus {
            replicas: st.replicas,
            ready_replicas: st.ready_replicas.unwrap_or(0),
            conditions: st
                .conditions
                .iter()
                .flatten()
                .filter(|c| c.status != "True")
                .map(|c| StatusCondition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                })
                .collect(),
        });
        Some(ScraperSet {
            namespace: s.metadata.namespace.clone().unwrap_or_default(),
            name: s.metadata.name.clone().unwrap_or_default(),
            owner: (owner.kind.clone(), owner.name.clone()),
            replicas: s.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1),
            status,
        })
    }

    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(Kind::StatefulSet, &self.namespace, &self.name)
    }
}

/// A Warning Event about a StatefulSet or Pod, reduced to what a message quotes: no count or
/// timestamps, so that a repeating Event changes nothing (issue 17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningEvent {
    pub namespace: String,
    pub name: String,
    /// The object it is about (`involvedObject` / `regarding`): kind and name.
    pub about: (String, String),
    /// `None` when the Event gives none.
    pub reason: Option<String>,
    pub message: String,
}

impl WarningEvent {
    /// A core v1 Event; `None` unless it is a Warning about a StatefulSet or Pod.
    pub fn from_core(e: &corev1::Event) -> Option<Self> {
        Self::new(
            &e.metadata,
            e.type_.as_deref(),
            &e.involved_object.kind,
            &e.involved_object.name,
            e.reason.as_deref(),
            e.message.as_deref(),
        )
    }

    /// An events.k8s.io/v1 Event (`regarding`, `note`); `None` unless a Warning about a StatefulSet or Pod.
    pub fn from_events_v1(e: &k8s_openapi::api::events::v1::Event) -> Option<Self> {
        let regarding = e.regarding.as_ref()?;
        Self::new(
            &e.metadata,
            e.type_.as_deref(),
            &regarding.kind,
            &regarding.name,
            e.reason.as_deref(),
            e.note.as_deref(),
        )
    }

    fn new(
        md: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        type_: Option<&str>,
        kind: &Option<String>,
        name: &Option<String>,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Option<Self> {
        let kind = kind.as_deref()?;
        if type_ != Some("Warning") || !matches!(kind, "StatefulSet" | "Pod") {
            return None;
        }
        Some(WarningEvent {
            namespace: md.namespace.clone().unwrap_or_default(),
            name: md.name.clone().unwrap_or_default(),
            about: (kind.to_string(), name.clone().unwrap_or_default()),
            reason: reason.map(str::to_string).filter(|r| !r.is_empty()),
            message: message.unwrap_or_default().trim().to_string(),
        })
    }

    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(Kind::Event, &self.namespace, &self.name)
    }

    /// `FailedCreate: <message>`, or `(no reason given): <message>`.
    pub fn describe(&self) -> String {
        let reason = self.reason.as_deref().unwrap_or("(no reason given)");
        if self.message.is_empty() {
            reason.to_string()
        } else {
            format!("{reason}: {}", self.message)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeClass {
    pub name: String,
    pub default: bool,
    pub relabelings: Vec<crate::relabel::RelabelSpec>,
    /// `attachMetadata`: `None` when not set, else its `node` (unset: false). A monitor's own
    /// `attachMetadata` wins when set, even without `node` (`mergeAttachMetadataWithScrapeClass`).
    pub attach_node: Option<bool>,
}

impl PromWorkload {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(self.kind, &self.namespace, &self.name)
    }

    /// The Prometheus (major, minor) this workload runs, when the manifest says.
    pub fn prometheus_version(&self) -> Option<(u32, u32)> {
        let v = self.version.as_deref()?.trim_start_matches('v');
        let mut it = v.split(['.', '-', '+']);
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }

    /// The labels prometheus-operator puts on this workload's pods (prometheus-operator.md D1), without shard/version.
    pub fn pod_identity_labels(&self) -> Labels {
        let mut l = Labels::new();
        let app = if self.kind == Kind::PrometheusAgent {
            "prometheus-agent"
        } else {
            "prometheus"
        };
        l.insert("app.kubernetes.io/name".into(), app.into());
        l.insert("app.kubernetes.io/instance".into(), self.name.clone());
        l.insert(
            "app.kubernetes.io/managed-by".into(),
            "prometheus-operator".into(),
        );
        l.insert("operator.prometheus.io/name".into(), self.name.clone());
        if self.kind == Kind::Prometheus {
            l.insert("prometheus".into(), self.name.clone());
        }
        l
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MonitorKind {
    PodMonitor,
    ServiceMonitor,
}

impl MonitorKind {
    pub fn kind(self) -> Kind {
        match self {
            MonitorKind::PodMonitor => Kind::PodMonitor,
            MonitorKind::ServiceMonitor => Kind::ServiceMonitor,
        }
    }

    /// The monitor kind of `kind`, if it is one.
    pub fn of(kind: Kind) -> Option<MonitorKind> {
        match kind {
            Kind::PodMonitor => Some(MonitorKind::PodMonitor),
            Kind::ServiceMonitor => Some(MonitorKind::ServiceMonitor),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NamespaceSelection {
    pub any: bool,
    pub match_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorEndpoint {
    pub port: Option<String>,
    pub port_number: Option<i32>,
    pub target_port: Option<IntOrString>,
    pub path: Option<String>,
    pub scheme: Option<String>,
    pub interval: Option<String>,
    pub scrape_timeout: Option<String>,
    pub filter_running: Option<bool>,
    pub relabelings: Vec<crate::relabel::RelabelSpec>,
    pub metric_relabelings: Vec<crate::relabel::RelabelSpec>,
    pub has_bearer_token_file: bool,
    pub has_tls_files: bool,
    pub auth_methods: usize,
}

impl MonitorEndpoint {
    pub fn path_or_default(&self) -> &str {
        self.path.as_deref().unwrap_or("/metrics")
    }
}

/// A PodMonitor or ServiceMonitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    pub kind: MonitorKind,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub selector: Result<Selector, SelectorError>,
    /// `RoleSelector` gives exact Kubernetes selector semantics; unset or `Relabel` the relabel form (B3.3).
    pub role_selector: bool,
    /// A ServiceMonitor's `spec.serviceDiscoveryRole`, overriding its scraper's.
    pub service_discovery_role: Option<String>,
    pub namespace_selector: NamespaceSelection,
    pub endpoints: Vec<MonitorEndpoint>,
    pub job_label: Option<String>,
    pub scrape_class: Option<String>,
    /// `spec.attachMetadata`: `None` when not set (the scrape class's applies), else its `node`
    /// (unset: false). With node metadata the job attaches the target Node's labels and annotations
    /// (`__meta_kubernetes_node_*`), which needs `list`/`watch` on `nodes`.
    pub attach_node: Option<bool>,
    /// `spec.selector` as written, for remediation output.
    pub raw_selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
}

impl Monitor {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(self.kind.kind(), &self.namespace, &self.name)
    }
}

/// A prometheus-operator `ScrapeConfig` (monitoring.coreos.com/v1alpha1), reduced to what its selection
/// by a Prometheus or PrometheusAgent, the operator's validation of it (semantics A2, A3, A6) and the
/// job the operator generates from it (`promop::scrape_config_job`) read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScrapeConfigResource {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// `spec.scrapeClass`.
    pub scrape_class: Option<String>,
    pub relabelings: Vec<crate::relabel::RelabelSpec>,
    pub metric_relabelings: Vec<crate::relabel::RelabelSpec>,
    pub scrape_interval: Option<String>,
    pub scrape_timeout: Option<String>,
    /// `spec.tlsConfig`.
    pub tls: Option<SafeTls>,
    /// `spec.staticConfigs`.
    pub static_configs: Vec<StaticTargets>,
    /// `spec.jobName`, `spec.metricsPath`, `spec.scheme` (as written: `HTTP`, `HTTPS`).
    pub job_name: Option<String>,
    pub metrics_path: Option<String>,
    pub scheme: Option<String>,
    /// `spec.honorLabels`.
    pub honor_labels: Option<bool>,
    /// `spec.httpSDConfigs[i].url`.
    pub http_sd_urls: Vec<String>,
    pub kubernetes_sd: Vec<KubernetesSd>,
}

impl ScrapeConfigResource {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(Kind::ScrapeConfig, &self.namespace, &self.name)
    }
}

/// A prometheus-operator `Probe` (monitoring.coreos.com/v1), reduced to what its selection, the
/// operator's validation of it (`checkProbe`) and the job it generates (`promop::probe_job`) read
/// (`semantics/prometheus-operator-probe.md`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeResource {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// `spec.jobName`.
    pub job_name: Option<String>,
    /// `spec.prober.url` (`host` or `host:port`), `scheme` as written, `path` (`None`: the CRD's
    /// default `/probe`), `proxyUrl`.
    pub prober_url: String,
    pub prober_scheme: Option<String>,
    pub prober_path: Option<String>,
    pub proxy_url: Option<String>,
    /// `spec.module` and `spec.params` (name, values).
    pub module: Option<String>,
    pub params: Vec<(String, Vec<String>)>,
    pub interval: Option<String>,
    pub scrape_timeout: Option<String>,
    /// `spec.scrapeClass`.
    pub scrape_class: Option<String>,
    /// `spec.targets.staticConfig` (takes precedence over `ingress` when both are set).
    pub static_config: Option<ProbeStatic>,
    /// `spec.targets.ingress`.
    pub ingress: Option<ProbeIngress>,
    pub metric_relabelings: Vec<crate::relabel::RelabelSpec>,
}

impl ProbeResource {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(Kind::Probe, &self.namespace, &self.name)
    }
}

/// `spec.targets.staticConfig` of a Probe.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeStatic {
    /// `static`: the probed targets as written (URLs or `host[:port]`).
    pub targets: Vec<String>,
    /// `labels` (`None`: not set).
    pub labels: Option<Labels>,
    /// `relabelingConfigs`.
    pub relabelings: Vec<crate::relabel::RelabelSpec>,
}

/// `spec.targets.ingress` of a Probe.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeIngress {
    pub selector: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    pub namespace_selector: NamespaceSelection,
    pub relabelings: Vec<crate::relabel::RelabelSpec>,
}

/// An Ingress (networking.k8s.io/v1) as Prometheus' Kubernetes SD role `ingress` reads it
/// (`discovery/kubernetes/ingress.go`): its metadata, class, rules and TLS hosts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngressObject {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub annotations: Labels,
    /// `spec.ingressClassName`.
    pub class_name: Option<String>,
    pub rules: Vec<IngressRule>,
    /// The hosts of every `spec.tls` entry (patterns such as `*.example.com` included).
    pub tls_hosts: Vec<String>,
}

/// One `spec.rules` entry: its host (empty when not set) and the paths of its `http` section
/// (`None`: no `http` section; a path `None` is a path entry without `path`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngressRule {
    pub host: String,
    pub paths: Option<Vec<Option<String>>>,
}

impl IngressObject {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(Kind::Ingress, &self.namespace, &self.name)
    }
}

impl From<&k8s_openapi::api::networking::v1::Ingress> for IngressObject {
    fn from(i: &k8s_openapi::api::networking::v1::Ingress) -> Self {
        let spec = i.spec.clone().unwrap_or_default();
        IngressObject {
            namespace: i.metadata.namespace.clone().unwrap_or_default(),
            name: i.metadata.name.clone().unwrap_or_default(),
            labels: i.metadata.labels.clone().unwrap_or_default(),
            annotations: i.metadata.annotations.clone().unwrap_or_default(),
            class_name: spec.ingress_class_name,
            rules: spec
                .rules
                .unwrap_or_default()
                .into_iter()
                .map(|r| IngressRule {
                    host: r.host.unwrap_or_default(),
                    paths: r
                        .http
                        .map(|h| h.paths.into_iter().map(|p| p.path).collect()),
                })
                .collect(),
            tls_hosts: spec
                .tls
                .unwrap_or_default()
                .into_iter()
                .flat_map(|t| t.hosts.unwrap_or_default())
                .collect(),
        }
    }
}

/// A `SafeTLSConfig` (secret and ConfigMap references only, no files): what the operator validates
/// before it reads the references.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SafeTls {
    /// `cert` set (a Secret or ConfigMap reference).
    pub cert: bool,
    /// `keySecret` set.
    pub key: bool,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    /// `ca` or `cert` names both a Secret and a ConfigMap.
    pub both_sources: Option<&'static str>,
}

/// One `spec.staticConfigs` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticTargets {
    pub targets: Vec<String>,
    pub labels: Labels,
}

/// One `spec.kubernetesSDConfigs` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubernetesSd {
    /// `role` as written (`Pod`, `EndpointSlice`, ...).
    pub role: String,
    pub api_server: bool,
    /// `namespaces.ownNamespace: true`.
    pub own_namespace: bool,
    /// `namespaces.names`.
    pub names: Vec<String>,
    /// `namespaces` set at all.
    pub namespaces_set: bool,
    pub selectors: Vec<KubernetesSdSelector>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubernetesSdSelector {
    pub role: String,
    pub label: Option<String>,
    pub field: Option<String>,
}

/// A ConfigMap or Secret holding a scraper's configuration: only the keys that hold one are kept
/// (their text, gunzipped), each parsed once when the object arrives.
#[derive(Debug, Clone)]
pub struct ConfigObject {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub entries: BTreeMap<String, std::sync::Arc<ConfigEntry>>,
}

impl ConfigObject {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(self.kind, &self.namespace, &self.name)
    }
}

/// One key's Prometheus configuration, or why it cannot be read.
#[derive(Debug)]
pub struct ConfigEntry {
    pub config: Result<crate::scrapeconfig::PrometheusConfig, String>,
}

/// Cilium agent settings that change verdicts (DESIGN.md §5), from `kube-system/cilium-config`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CiliumConfigMap {
    pub data: BTreeMap<String, String>,
}

/// An Istio AuthorizationPolicy or PeerAuthentication with its typed spec (`crate::mesh::policy`).
#[derive(Debug, Clone, PartialEq)]
pub struct MeshPolicy {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub annotations: Labels,
    /// `metadata.creationTimestamp`: the oldest PeerAuthentication of a level wins (istio.md rule 10).
    pub created: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// `Err`: the spec Istio's validation would reject, with the reason; such a policy takes no effect.
    pub spec: Result<crate::mesh::policy::MeshSpec, String>,
}

impl MeshPolicy {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(self.kind, &self.namespace, &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        let p: corev1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "prometheus-k-0", "namespace": "monitoring"},
            "spec": {"containers": [{"name": "prometheus", "image": "prom/prometheus"}]},
            "status": status,
        }))
        .unwrap();
        Pod::from(&p)
    }

    #[test]
    fn an_unscheduled_pod_says_why() {
        let p = pod(serde_json::json!({
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}],
        }));
        assert_eq!(
            p.problems,
            [PodProblem {
                container: None,
                reason: "Unschedulable".into(),
                message:
                    "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
                        .into(),
            }]
        );
    }

    #[test]
    fn a_waiting_container_gives_its_reason_and_the_error_line_it_last_wrote() {
        let p = pod(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "prometheus", "image": "", "imageID": "", "ready": false,
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "message": "level=INFO msg=start\nlevel=ERROR err=\"open /prometheus/x: permission denied\"\nlevel=INFO msg=bye\n"}}}],
        }));
        assert_eq!(p.problems.len(), 1);
        assert_eq!(
            p.problems[0].describe(),
            "container prometheus: CrashLoopBackOff (back-off 40s; last exit 1, Error: level=ERROR err=\"open /prometheus/x: permission denied\")"
        );
    }

    #[test]
    fn starting_and_healthy_containers_say_nothing_and_a_failed_init_container_does() {
        let p = pod(serde_json::json!({
            "phase": "Pending",
            "initContainerStatuses": [{"name": "init", "image": "", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 2, "reason": "Error", "message": "chown: /data: Operation not permitted"}}}],
            "containerStatuses": [
                {"name": "prometheus", "image": "", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}}},
                {"name": "reloader", "image": "", "imageID": "", "ready": true, "restartCount": 0,
                    "state": {"running": {}}}],
        }));
        assert_eq!(
            p.problems
                .iter()
                .map(PodProblem::describe)
                .collect::<Vec<_>>(),
            ["container init: Error (exit 2, Error: chown: /data: Operation not permitted)"]
        );
    }
}
