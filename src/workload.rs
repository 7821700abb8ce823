//! Workloads as their controllers would run them, for `check` on what teams keep in Git.
//!
//! A GitOps repository holds Deployments, StatefulSets, DaemonSets, Jobs and prometheus-operator's
//! Prometheus and Alertmanager objects — no Pod. [`model_pods`] turns each workload into the pods its
//! controller would create: the template's labels and annotations, the labels the controller adds
//! (`pod-template-hash`, `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`,
//! `controller-revision-hash`, the Job labels), one pod per replica, StatefulSet ordinal names, a DaemonSet
//! pod per eligible Node when Nodes are given (else one representative). Live Pods of a workload win: a
//! workload with a Pod in the input is not modelled (no double counting).
//!
//! What cannot be known offline is said, not guessed: a modelled pod has no IP ([`Pod::modelled`] names
//! the workload; a hostNetwork pod on a given Node takes that Node's address). Hashes follow the
//! controllers' shape (FNV-32a, Kubernetes' safe alphabet) but not their exact input (Go's printing of the
//! template), so `pod-template-hash` values differ from a live cluster's; no selector worth writing keys
//! on them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1 as appsv1;
use k8s_openapi::api::batch::v1 as batchv1;
use k8s_openapi::api::core::v1 as corev1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use serde_json::Value;

use crate::index::ClusterIndex;
use crate::model::{Kind, Labels, ObjRef, Pod, PromWorkload};
use crate::selector::Selector;

/// A workload read from a manifest: what its controller needs to create pods.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub obj: ObjRef,
    /// The workload's controlling owner (a ReplicaSet's Deployment, a Job's CronJob), when it names one.
    pub owner: Option<(String, String)>,
    /// How many pods run at once (replicas, a Job's parallelism).
    pub replicas: u32,
    /// `spec.selector` (absent on Jobs and CronJobs: the API server generates theirs).
    pub selector: Option<LabelSelector>,
    pub template: corev1::PodTemplateSpec,
    pub shape: Shape,
}

/// What differs between controllers.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Deployment,
    ReplicaSet,
    ReplicationController,
    StatefulSet {
        ordinal_start: u32,
    },
    DaemonSet {
        generation: i64,
    },
    Job {
        indexed: bool,
    },
    CronJob {
        indexed: bool,
    },
    /// prometheus-operator's Alertmanager (its StatefulSet `alertmanager-<name>`).
    Alertmanager {
        port_name: String,
        listen_local: bool,
    },
}

/// A Node: where DaemonSet pods go, and the address of hostNetwork pods.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    /// Its annotations: Prometheus attaches them with node metadata
    /// (`__meta_kubernetes_node_annotation_*`).
    pub annotations: Labels,
    pub taints: Vec<corev1::Taint>,
    pub internal_ip: Option<String>,
    /// Its InternalIP and ExternalIP addresses: what makes an endpoint address the node's (E8).
    pub ips: Vec<String>,
}

impl From<&corev1::Node> for Node {
    fn from(n: &corev1::Node) -> Self {
        let status = n.status.clone().unwrap_or_default();
        let addresses = status.addresses.unwrap_or_default();
        Node {
            name: n.metadata.name.clone().unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            annotations: n.metadata.annotations.clone().unwrap_or_default(),
            taints: n
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default(),
            internal_ip: addresses
                .iter()
                .find(|a| a.type_ == "InternalIP")
                .or(addresses.first())
                .map(|a| a.address.clone()),
            ips: addresses
                .iter()
                .filter(|a| matches!(a.type_.as_str(), "InternalIP" | "ExternalIP"))
                .map(|a| a.address.clone())
                .collect(),
        }
    }
}

/// Where a modelled pod comes from (no Pod object of its workload is in the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modelled {
    /// The workload a person would name (the Deployment, not its ReplicaSet).
    pub workload: ObjRef,
    /// What the modelling assumed or did, for reports (e.g. the sidecar injection).
    pub notes: Vec<String>,
    /// The stand-in address relabeling sees for the pod ([`STAND_IN_NETWORK`]): shaped like an IP, so that
    /// rules written for pod IPs (`(\d+);((([0-9]+?)(\.|$)){4})`) act on it as on a real one.
    pub address: String,
}

/// Where modelled pods take their stand-in addresses: 198.18.0.0/15, reserved for benchmarking (RFC
/// 2544), never a real pod's. One address per modelled pod, in modelling order.
pub const STAND_IN_NETWORK: &str = "198.18.0.0/15";

/// The `n`-th stand-in address of [`STAND_IN_NETWORK`] (wrapping after 131,070 pods).
fn stand_in_address(n: u32) -> String {
    let base = u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0));
    std::net::Ipv4Addr::from(base + 1 + n % ((1 << 17) - 2)).to_string()
}

fn controller_of(md: &ObjectMeta) -> Option<(String, String)> {
    md.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.kind.clone(), o.name.clone()))
}

fn replicas(r: Option<i32>) -> u32 {
    // The API server defaults replicas to 1; a negative count is refused before this point.
    r.map_or(1, |r| u32::try_from(r).unwrap_or(0))
}

impl Workload {
    fn new(
        kind: Kind,
        md: &ObjectMeta,
        replicas: u32,
        selector: Option<LabelSelector>,
        template: corev1::PodTemplateSpec,
        shape: Shape,
    ) -> Self {
        Workload {
            obj: ObjRef::new(
                kind,
                md.namespace.clone().unwrap_or_default(),
                md.name.clone().unwrap_or_default(),
            ),
            owner: controller_of(md),
            replicas,
            selector,
            template,
            shape,
        }
    }

    pub fn from_deployment(d: &appsv1::Deployment) -> Self {
        let spec = d.spec.clone().unwrap_or_default();
        Workload::new(
            Kind::Deployment,
            &d.metadata,
            replicas(spec.replicas),
            Some(spec.selector),
            spec.template,
            Shape::Deployment,
        )
    }

    pub fn from_replica_set(r: &appsv1::ReplicaSet) -> Self {
        let spec = r.spec.clone().unwrap_or_default();
        Workload::new(
            Kind::ReplicaSet,
            &r.metadata,
            replicas(spec.replicas),
            Some(spec.selector),
            spec.template.unwrap_or_default(),
            Shape::ReplicaSet,
        )
    }

    pub fn from_replication_controller(r: &corev1::ReplicationController) -> Self {
        let spec = r.spec.clone().unwrap_or_default();
        let template = spec.template.unwrap_or_default();
        // An RC without a selector selects its template's labels.
        let labels = spec
            .selector
            .or_else(|| template.metadata.as_ref().and_then(|m| m.labels.clone()));
        Workload::new(
            Kind::ReplicationController,
            &r.metadata,
            replicas(spec.replicas),
            labels.map(|l| LabelSelector {
                match_labels: Some(l),
                match_expressions: None,
            }),
            template,
            Shape::ReplicationController,
        )
    }

    pub fn from_stateful_set(s: &appsv1::StatefulSet) -> Self {
        let spec = s.spec.clone().unwrap_or_default();
        let start = spec
            .ordinals
            .as_ref()
            .and_then(|o| o.start)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        Workload::new(
            Kind::StatefulSet,
            &s.metadata,
            replicas(spec.replicas),
            Some(spec.selector),
            spec.template,
            Shape::StatefulSet {
                ordinal_start: start,
            },
        )
    }

    pub fn from_daemon_set(d: &appsv1::DaemonSet) -> Self {
        let spec = d.spec.clone().unwrap_or_default();
        Workload::new(
            Kind::DaemonSet,
            &d.metadata,
            1,
            Some(spec.selector),
            spec.template,
            Shape::DaemonSet {
                generation: d.metadata.generation.unwrap_or(1),
            },
        )
    }

    fn job_parts(spec: &batchv1::JobSpec) -> (u32, bool) {
        let parallelism = replicas(spec.parallelism);
        let running = match spec.completions {
            Some(c) => parallelism.min(u32::try_from(c).unwrap_or(0)),
            None => parallelism,
        };
        (running, spec.completion_mode.as_deref() == Some("Indexed"))
    }

    pub fn from_job(j: &batchv1::Job) -> Self {
        let spec = j.spec.clone().unwrap_or_default();
        let (running, indexed) = Workload::job_parts(&spec);
        // A suspended Job runs no pod.
        let running = if spec.suspend == Some(true) {
            0
        } else {
            running
        };
        Workload::new(
            Kind::Job,
            &j.metadata,
            running,
            None,
            spec.template,
            Shape::Job { indexed },
        )
    }

    pub fn from_cron_job(c: &batchv1::CronJob) -> Self {
        let job = c.spec.job_template.spec.clone().unwrap_or_default();
        let (running, indexed) = Workload::job_parts(&job);
        Workload::new(
            Kind::CronJob,
            &c.metadata,
            running,
            None,
            job.template,
            Shape::CronJob { indexed },
        )
    }

    /// prometheus-operator's Alertmanager, from its object as written (the fields that shape its pods).
    pub fn from_alertmanager(v: &Value) -> Self {
        let md: ObjectMeta = serde_json::from_value(v.get("metadata").cloned().unwrap_or_default())
            .unwrap_or_default();
        let spec = v.get("spec");
        let field = |k: &str| spec.and_then(|s| s.get(k));
        let replicas = field("replicas")
            .and_then(Value::as_i64)
            .map_or(1, |r| u32::try_from(r).unwrap_or(0));
        let pod_md = field("podMetadata");
        let map = |k: &str| -> Option<BTreeMap<String, String>> {
            serde_json::from_value(pod_md?.get(k)?.clone()).ok()
        };
        let template = corev1::PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: map("labels"),
                annotations: map("annotations"),
                ..Default::default()
            }),
            spec: Some(corev1::PodSpec {
                // The API server defaults serviceAccountName from the deprecated serviceAccount.
                service_account_name: field("serviceAccountName")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .or_else(|| field("serviceAccount").and_then(Value::as_str))
                    .map(String::from),
                host_network: field("hostNetwork").and_then(Value::as_bool),
                ..Default::default()
            }),
        };
        Workload::new(
            Kind::Alertmanager,
            &md,
            replicas,
            None,
            template,
            Shape::Alertmanager {
                port_name: field("portName")
                    .and_then(Value::as_str)
                    .unwrap_or("web")
                    .to_string(),
                listen_local: field("listenLocal")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
        )
    }

    /// The workload a person names for its pods: a ReplicaSet's Deployment, a Job's CronJob.
    pub fn named(&self) -> ObjRef {
        match (&self.owner, self.obj.kind) {
            (Some((k, n)), Kind::ReplicaSet) if k == "Deployment" => {
                ObjRef::new(Kind::Deployment, &self.obj.namespace, n)
            }
            (Some((k, n)), Kind::Job) if k == "CronJob" => {
                ObjRef::new(Kind::CronJob, &self.obj.namespace, n)
            }
            _ => self.obj.clone(),
        }
    }
}

// -------------------------------------------------------------------------------------------------------
// Hashes and names, in the controllers' shape.

/// FNV-32a, the hash the controllers use for `pod-template-hash` and revision names.
fn fnv32a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Kubernetes' `rand.SafeEncodeString`: no vowels, no confusable characters.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// The hash of a pod template, as a label value (`pod-template-hash`, `controller-revision-hash`).
fn template_hash(t: &corev1::PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(t).unwrap_or_default();
    safe_encode(&fnv32a(&bytes).to_string())
}

/// A generated name's 5-character suffix, stable for (owner, i).
fn suffix(owner: &str, i: u32) -> String {
    let mut s = safe_encode(&fnv32a(format!("{owner}/{i}").as_bytes()).to_string());
    while s.len() < 5 {
        s.push('b');
    }
    s.truncate(5);
    s
}

/// A UID in the API server's format, stable for the object.
fn stable_uid(r: &ObjRef) -> String {
    let a = fnv32a(format!("{}/{}/{}", r.kind, r.namespace, r.name).as_bytes());
    let b = fnv32a(format!("{}#{}", r.namespace, r.name).as_bytes());
    format!(
        "{a:08x}-{:04x}-4{:03x}-8{:03x}-{b:08x}{:04x}",
        a >> 16,
        b & 0xfff,
        (a ^ b) & 0xfff,
        b >> 16
    )
}

// -------------------------------------------------------------------------------------------------------
// DaemonSet placement.

fn tolerates(tolerations: &[corev1::Toleration], taint: &corev1::Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = match t.operator.as_deref() {
            Some("Exists") => true,
            _ => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        };
        effect_ok && key_ok && value_ok
    })
}

fn node_requirement(r: &corev1::NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// Whether the DaemonSet controller would place a pod of `spec` on `node`: nodeSelector, required node
/// affinity, and the NoSchedule/NoExecute taints it does not tolerate (the controller adds tolerations for
/// the node conditions and `unschedulable` itself, so those taints never keep a daemon away).
fn schedules_on(spec: &corev1::PodSpec, node: &Node) -> bool {
    if let Some(sel) = &spec.node_selector {
        if sel.iter().any(|(k, v)| node.labels.get(k) != Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    if let Some(req) = required {
        let any_term = req.node_selector_terms.iter().any(|term| {
            let exprs = term
                .match_expressions
                .iter()
                .flatten()
                .all(|r| node_requirement(r, node.labels.get(&r.key).map(String::as_str)));
            let fields = term.match_fields.iter().flatten().all(|r| {
                let v = (r.key == "metadata.name").then_some(node.name.as_str());
                node_requirement(r, v)
            });
            exprs && fields
        });
        if !any_term {
            return false;
        }
    }
    const ADDED_BY_CONTROLLER: &[&str] = &[
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
    ];
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    node.taints.iter().all(|t| {
        t.effect == "PreferNoSchedule"
            || ADDED_BY_CONTROLLER.contains(&t.key.as_str())
            || (t.key == "node.kubernetes.io/network-unavailable"
                && spec.host_network == Some(true))
            || tolerates(tolerations, t)
    })
}

// -------------------------------------------------------------------------------------------------------
// Modelling.

/// One pod a controller would create, before admission and conversion.
#[derive(Debug, Clone)]
pub struct PodPlan {
    pub pod: corev1::Pod,
    pub from: Modelled,
}

fn owner_ref(kind: &str, api_version: &str, name: &str, uid: String) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The pods `w`'s controller would create (empty when it runs none: zero replicas, a suspended Job).
pub fn plan(w: &Workload, nodes: &[Node]) -> Vec<PodPlan> {
    let ns = w.obj.namespace.as_str();
    let name = w.obj.name.as_str();
    let template_md = w.template.metadata.clone().unwrap_or_default();
    let spec = w.template.spec.clone().unwrap_or_default();
    let hash = template_hash(&w.template);
    let uid = stable_uid(&w.obj);
    // (pod name, extra labels, extra annotations, owner, node)
    type One = (String, Labels, Labels, OwnerReference, Option<Node>);
    let mut pods: Vec<One> = Vec::new();
    let label = |pairs: &[(&str, String)]| -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    match &w.shape {
        Shape::Deployment => {
            let rs = format!("{name}-{hash}");
            let owner = owner_ref(
                "ReplicaSet",
                "apps/v1",
                &rs,
                stable_uid(&ObjRef::new(Kind::ReplicaSet, ns, &rs)),
            );
            for i in 0..w.replicas {
                pods.push((
                    format!("{rs}-{}", suffix(&rs, i)),
                    label(&[("pod-template-hash", hash.clone())]),
                    Labels::new(),
                    owner.clone(),
                    None,
                ));
            }
        }
        Shape::ReplicaSet | Shape::ReplicationController => {
            let (kind, api) = if w.shape == Shape::ReplicaSet {
                ("ReplicaSet", "apps/v1")
            } else {
                ("ReplicationController", "v1")
            };
            let owner = owner_ref(kind, api, name, uid.clone());
            for i in 0..w.replicas {
                pods.push((
                    format!("{name}-{}", suffix(name, i)),
                    Labels::new(),
                    Labels::new(),
                    owner.clone(),
                    None,
                ));
            }
        }
        Shape::StatefulSet { ordinal_start } => {
            let owner = owner_ref("StatefulSet", "apps/v1", name, uid.clone());
            for i in 0..w.replicas {
                let ordinal = ordinal_start + i;
                let pod = format!("{name}-{ordinal}");
                pods.push((
                    pod.clone(),
                    label(&[
                        ("statefulset.kubernetes.io/pod-name", pod),
                        ("apps.kubernetes.io/pod-index", ordinal.to_string()),
                        ("controller-revision-hash", format!("{name}-{hash}")),
                    ]),
                    Labels::new(),
                    owner.clone(),
                    None,
                ));
            }
        }
        Shape::DaemonSet { generation } => {
            let owner = owner_ref("DaemonSet", "apps/v1", name, uid.clone());
            let extra = label(&[
                ("controller-revision-hash", hash.clone()),
                ("pod-template-generation", generation.to_string()),
            ]);
            let eligible: Vec<&Node> = nodes.iter().filter(|n| schedules_on(&spec, n)).collect();
            if nodes.is_empty() {
                pods.push((
                    format!("{name}-{}", suffix(name, 0)),
                    extra,
                    Labels::new(),
                    owner,
                    None,
                ));
            } else {
                for (i, n) in eligible.into_iter().enumerate() {
                    pods.push((
                        format!("{name}-{}", suffix(name, i as u32)),
                        extra.clone(),
                        Labels::new(),
                        owner.clone(),
                        Some(n.clone()),
                    ));
                }
            }
        }
        Shape::Job { indexed } | Shape::CronJob { indexed } => {
            // A CronJob's Job is named after its scheduled minute; one run is modelled.
            let job = if matches!(w.shape, Shape::CronJob { .. }) {
                format!(
                    "{name}-{}",
                    29_000_000 + fnv32a(name.as_bytes()) % 1_000_000
                )
            } else {
                name.to_string()
            };
            let job_uid = stable_uid(&ObjRef::new(Kind::Job, ns, &job));
            let owner = owner_ref("Job", "batch/v1", &job, job_uid.clone());
            for i in 0..w.replicas {
                let mut labels = label(&[
                    ("batch.kubernetes.io/controller-uid", job_uid.clone()),
                    ("batch.kubernetes.io/job-name", job.clone()),
                    ("controller-uid", job_uid.clone()),
                    ("job-name", job.clone()),
                ]);
                let mut annotations = Labels::new();
                let pod = if *indexed {
                    labels.insert(
                        "batch.kubernetes.io/job-completion-index".into(),
                        i.to_string(),
                    );
                    annotations.insert(
                        "batch.kubernetes.io/job-completion-index".into(),
                        i.to_string(),
                    );
                    format!("{job}-{i}-{}", suffix(&job, i))
                } else {
                    format!("{job}-{}", suffix(&job, i))
                };
                pods.push((pod, labels, annotations, owner.clone(), None));
            }
        }
        Shape::Alertmanager { .. } => {
            let sts = format!("alertmanager-{name}");
            let owner = owner_ref(
                "StatefulSet",
                "apps/v1",
                &sts,
                stable_uid(&ObjRef::new(Kind::StatefulSet, ns, &sts)),
            );
            for i in 0..w.replicas {
                let pod = format!("{sts}-{i}");
                pods.push((
                    pod.clone(),
                    label(&[
                        ("app.kubernetes.io/name", "alertmanager".into()),
                        ("app.kubernetes.io/managed-by", "prometheus-operator".into()),
                        ("app.kubernetes.io/instance", name.into()),
                        ("alertmanager", name.into()),
                        ("statefulset.kubernetes.io/pod-name", pod),
                        ("apps.kubernetes.io/pod-index", i.to_string()),
                        ("controller-revision-hash", format!("{sts}-{hash}")),
                    ]),
                    label(&[(
                        "kubectl.kubernetes.io/default-container",
                        "alertmanager".into(),
                    )]),
                    owner.clone(),
                    None,
                ));
            }
        }
    }
    let mut spec = spec;
    if let Shape::Alertmanager {
        port_name,
        listen_local,
    } = &w.shape
    {
        spec.containers = alertmanager_containers(port_name, *listen_local);
    }
    pods.into_iter()
        .map(|(pod_name, extra_labels, extra_annotations, owner, node)| {
            let mut labels = template_md.labels.clone().unwrap_or_default();
            labels.extend(extra_labels);
            let mut annotations = template_md.annotations.clone().unwrap_or_default();
            annotations.extend(extra_annotations);
            let mut notes = Vec::new();
            if node.is_none() && matches!(w.shape, Shape::DaemonSet { .. }) {
                notes.push(
                    "no Node in the input: one representative pod stands for the DaemonSet's pods"
                        .to_string(),
                );
            }
            PodPlan {
                pod: running_pod(
                    ns,
                    pod_name,
                    labels,
                    annotations,
                    owner,
                    spec.clone(),
                    node.as_ref(),
                ),
                from: Modelled {
                    workload: w.named(),
                    notes,
                    address: String::new(),
                },
            }
        })
        .collect()
}

/// A pod a controller created, as it runs: its metadata, its template's spec, phase Running, placed on
/// `node` when one is given (a hostNetwork pod then takes the Node's address).
fn running_pod(
    ns: &str,
    name: String,
    labels: Labels,
    annotations: Labels,
    owner: OwnerReference,
    mut spec: corev1::PodSpec,
    node: Option<&Node>,
) -> corev1::Pod {
    let mut status = corev1::PodStatus {
        phase: Some("Running".into()),
        ..Default::default()
    };
    if let Some(n) = node {
        spec.node_name = Some(n.name.clone());
        status.host_ip = n.internal_ip.clone();
        if spec.host_network == Some(true) {
            status.pod_ip = n.internal_ip.clone();
        }
    }
    corev1::Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ns.to_string()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(spec),
        status: Some(status),
    }
}

fn port(name: &str, number: i32, protocol: &str) -> corev1::ContainerPort {
    corev1::ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some(protocol.into()),
        ..Default::default()
    }
}

/// The containers prometheus-operator gives an Alertmanager pod (pkg/alertmanager/statefulset.go):
/// the web port unless it listens locally, the cluster mesh ports, the config reloader's web port.
fn alertmanager_containers(port_name: &str, listen_local: bool) -> Vec<corev1::Container> {
    let mut ports = Vec::new();
    if !listen_local {
        ports.push(port(port_name, 9093, "TCP"));
    }
    ports.push(port("tcp-mesh", 9094, "TCP"));
    ports.push(port("udp-mesh", 9094, "UDP"));
    vec![
        corev1::Container {
            name: "alertmanager".into(),
            image: Some("quay.io/prometheus/alertmanager".into()),
            ports: Some(ports),
            ..Default::default()
        },
        config_reloader(),
    ]
}

fn config_reloader() -> corev1::Container {
    corev1::Container {
        name: "config-reloader".into(),
        image: Some("quay.io/prometheus-operator/prometheus-config-reloader".into()),
        ports: Some(vec![port("reloader-web", 8080, "TCP")]),
        ..Default::default()
    }
}

/// The pods prometheus-operator would run for a Prometheus or PrometheusAgent (one StatefulSet per
/// shard: `prometheus-<name>` for shard 0, `-shard-<n>` after; a DaemonSet-mode agent: one pod per Node).
pub fn plan_prometheus(p: &PromWorkload, nodes: &[Node]) -> Vec<PodPlan> {
    let base = crate::promop::shard_statefulset(p, 0);
    let spec = corev1::PodSpec {
        containers: vec![
            corev1::Container {
                name: "prometheus".into(),
                image: Some("quay.io/prometheus/prometheus".into()),
                ports: (!p.listen_local).then(|| vec![port(&p.port_name, 9090, "TCP")]),
                ..Default::default()
            },
            config_reloader(),
        ],
        service_account_name: p.service_account.clone(),
        host_network: Some(p.host_network),
        ..Default::default()
    };
    let mut annotations = p.pod_metadata_annotations.clone();
    annotations.insert(
        "kubectl.kubernetes.io/default-container".into(),
        "prometheus".into(),
    );
    let mut out = Vec::new();
    let mut push =
        |pod_name: String, mut labels: Labels, owner: OwnerReference, node: Option<&Node>| {
            let mut all = p.pod_metadata_labels.clone();
            all.append(&mut labels);
            all.extend(p.pod_identity_labels());
            out.push(PodPlan {
                pod: running_pod(
                    &p.namespace,
                    pod_name,
                    all,
                    annotations.clone(),
                    owner,
                    spec.clone(),
                    node,
                ),
                from: Modelled {
                    workload: p.obj_ref(),
                    notes: Vec::new(),
                    address: String::new(),
                },
            });
        };
    if p.daemonset_mode {
        let owner = owner_ref(
            "DaemonSet",
            "apps/v1",
            &base,
            stable_uid(&ObjRef::new(Kind::DaemonSet, &p.namespace, &base)),
        );
        if nodes.is_empty() {
            push(
                format!("{base}-{}", suffix(&base, 0)),
                Labels::new(),
                owner,
                None,
            );
        } else {
            for (i, n) in nodes.iter().enumerate() {
                push(
                    format!("{base}-{}", suffix(&base, i as u32)),
                    Labels::new(),
                    owner.clone(),
                    Some(n),
                );
            }
        }
        return out;
    }
    let replicas = p.replicas.map_or(1, |r| u32::try_from(r).unwrap_or(0));
    for shard in 0..p.shards.max(1) {
        let sts = crate::promop::shard_statefulset(p, shard);
        let owner = owner_ref(
            "StatefulSet",
            "apps/v1",
            &sts,
            stable_uid(&ObjRef::new(Kind::StatefulSet, &p.namespace, &sts)),
        );
        for i in 0..replicas {
            let pod = format!("{sts}-{i}");
            let mut labels = Labels::new();
            labels.insert("operator.prometheus.io/shard".into(), shard.to_string());
            labels.insert("statefulset.kubernetes.io/pod-name".into(), pod.clone());
            labels.insert("apps.kubernetes.io/pod-index".into(), i.to_string());
            push(pod, labels, owner.clone(), None);
        }
    }
    out
}

/// Whether a live (not modelled) pod of the input belongs to `w`: owned by it (through the ReplicaSet a
/// Deployment creates, the Job a CronJob creates) or, naming no controller, matched by its selector.
fn has_live_pods(idx: &ClusterIndex, w: &Workload) -> bool {
    use crate::selector::{Requirement, Source};
    let ns = &w.obj.namespace;
    let name = &w.obj.name;
    let owned = |pod: &Pod| match pod.controller.as_deref() {
        Some((k, n)) => match w.obj.kind {
            Kind::Deployment => k == "ReplicaSet" && n.starts_with(&format!("{name}-")),
            Kind::CronJob => k == "Job" && n.starts_with(&format!("{name}-")),
            Kind::Alertmanager => k == "StatefulSet" && n == &format!("alertmanager-{name}"),
            kind => k == kind.as_str() && n == name,
        },
        None => false,
    };
    let by_label = |k: &str| {
        Some(Selector::everything().with(Requirement::equals(Source::Any, k, name.as_str())))
    };
    // A workload's pods match its selector (the API server requires it), so the label index narrows
    // the candidates.
    let selector = match w.obj.kind {
        Kind::Job => by_label("job-name"),
        Kind::Alertmanager => by_label("alertmanager"),
        _ => w
            .selector
            .as_ref()
            .and_then(|s| Selector::from_k8s(s).ok())
            .filter(|s| !s.is_everything()),
    };
    let candidates: Vec<&Pod> = match &selector {
        Some(s) => idx.select_pods(ns, s).into_iter().map(|(_, p)| p).collect(),
        None => idx.pods_in(ns).map(|(_, p)| p).collect(),
    };
    candidates.into_iter().any(|pod| {
        pod.modelled.is_none() && (owned(pod) || (pod.controller.is_none() && selector.is_some()))
    })
}

/// Counts of what [`model_pods`] did, for the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelStats {
    /// Workloads whose pods were modelled, with the pod count.
    pub modelled: BTreeMap<ObjRef, usize>,
    /// Workloads with live pods in the input (not modelled).
    pub live: BTreeSet<ObjRef>,
    /// Workloads whose pods the API server would refuse (a failing admission webhook), and why.
    pub refused: BTreeMap<ObjRef, String>,
}

/// What modelling needs besides the index: a hook that admits each planned pod as the API server's
/// admission webhooks would (sidecar injection), returning notes to keep, or why the pod is refused.
pub type Admit<'a> = dyn FnMut(&mut corev1::Pod, &ClusterIndex) -> Result<Vec<String>, String> + 'a;

/// The Istio minor `check` models injection with: `--istio-version`, else the tag of istiod's image in
/// the input (`Deployment istiod[-<rev>]`, container `discovery`), else `None` (the newest).
pub fn istio_version(idx: &ClusterIndex, given: Option<(u32, u32)>) -> Option<(u32, u32)> {
    given.or_else(|| {
        idx.workloads()
            .filter(|w| w.obj.kind == Kind::Deployment && w.obj.name.starts_with("istiod"))
            .flat_map(|w| w.template.spec.iter().flat_map(|s| s.containers.iter()))
            .filter(|c| c.name == "discovery")
            .filter_map(|c| crate::model::image_tag(c.image.as_deref()?))
            .find_map(crate::mesh::inject::parse_version)
    })
}

/// Istio's sidecar injection as the admission step of modelling: the input's injector ConfigMaps, else
/// the defaults of the version [`istio_version`] finds.
pub fn istio_admission(idx: &ClusterIndex, given: Option<(u32, u32)>) -> Box<Admit<'static>> {
    use crate::mesh::inject::{inject, InjectOutcome, InjectorConfig};
    let version = istio_version(idx, given);
    let mut injectors: Vec<InjectorConfig> = idx.injectors().cloned().collect();
    for i in &mut injectors {
        if i.version.is_none() {
            i.version = version;
        }
    }
    if injectors.is_empty() {
        let mut d = InjectorConfig::defaults(version);
        d.notes.push(format!(
            "no istio-sidecar-injector ConfigMap in the input: the defaults of {}",
            d.describe_version()
        ));
        injectors.push(d);
    }
    let mesh = idx.mesh_config().clone();
    Box::new(move |pod, idx| {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let outcome = inject(pod, &idx.namespace_labels(&ns), &injectors, &mesh);
        match outcome {
            InjectOutcome::Injected { .. } => Ok(vec![outcome.report_line()]),
            InjectOutcome::Refused { .. } => Err(outcome.report_line()),
            InjectOutcome::NotInjected { .. } | InjectOutcome::AlreadyInjected => Ok(Vec::new()),
        }
    })
}

/// Adds to the index the pods the input's workloads would run, where the input holds none of theirs.
pub fn model_pods(idx: &mut ClusterIndex, admit: &mut Admit<'_>) -> ModelStats {
    let mut stats = ModelStats::default();
    let nodes: Vec<Node> = idx.nodes().cloned().collect();
    let mut plans = Vec::new();
    let present: BTreeSet<(String, String, Kind)> = idx
        .workloads()
        .map(|w| (w.obj.namespace.clone(), w.obj.name.clone(), w.obj.kind))
        .collect();
    for w in idx.workloads() {
        // A ReplicaSet of a Deployment in the input (a Job of a CronJob) is the Deployment's to model.
        let owned_by_present = match (&w.owner, w.obj.kind) {
            (Some((k, n)), Kind::ReplicaSet) if k == "Deployment" => {
                present.contains(&(w.obj.namespace.clone(), n.clone(), Kind::Deployment))
            }
            (Some((k, n)), Kind::Job) if k == "CronJob" => {
                present.contains(&(w.obj.namespace.clone(), n.clone(), Kind::CronJob))
            }
            _ => false,
        };
        if owned_by_present {
            continue;
        }
        if has_live_pods(idx, w) {
            stats.live.insert(w.named());
            continue;
        }
        plans.extend(plan(w, &nodes));
    }
    for p in idx.prometheuses() {
        if !crate::promop::workload_pods(idx, p).is_empty() {
            stats.live.insert(p.obj_ref());
            continue;
        }
        plans.extend(plan_prometheus(p, &nodes));
    }
    for mut plan in plans {
        let ns = plan.pod.metadata.namespace.clone().unwrap_or_default();
        let name = plan.pod.metadata.name.clone().unwrap_or_default();
        if idx.pod_by_name(&ns, &name).is_some() {
            continue;
        }
        match admit(&mut plan.pod, idx) {
            Ok(notes) => plan.from.notes.extend(notes),
            Err(why) => {
                stats.refused.insert(plan.from.workload.clone(), why);
                continue;
            }
        }
        let mut pod = Pod::from(&plan.pod);
        plan.from.address = stand_in_address(stats.modelled.values().sum::<usize>() as u32);
        if matches!(
            plan.from.workload.kind,
            Kind::Prometheus | Kind::PrometheusAgent
        ) {
            // The operator's pods read a generated file: their scrape configuration is the
            // Prometheus object's (as for live operator pods, which resolve to no ConfigMap).
            pod.prometheus_config = None;
        }
        *stats
            .modelled
            .entry(plan.from.workload.clone())
            .or_default() += 1;
        pod.modelled = Some(Box::new(plan.from));
        idx.apply(crate::index::Object::Pod(Box::new(pod)));
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> Workload {
        Workload::from_deployment(&serde_yaml_ng::from_str(yaml).unwrap())
    }

    const WAS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: was, namespace: blog-system}
spec:
  replicas: 3
  selector: {matchLabels: {app: was}}
  template:
    metadata: {labels: {app: was}, annotations: {a: b}}
    spec:
      containers:
      - name: was
        image: was:1
        ports: [{name: http, containerPort: 8080}]
"#;

    #[test]
    fn a_deployment_runs_one_pod_per_replica_under_its_replica_set() {
        let w = deployment(WAS);
        let plans = plan(&w, &[]);
        assert_eq!(plans.len(), 3);
        let hash = plans[0].pod.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
        assert!(hash
            .chars()
            .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        let names: BTreeSet<String> = plans
            .iter()
            .map(|p| p.pod.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "distinct names: {names:?}");
        for p in &plans {
            let name = p.pod.metadata.name.as_deref().unwrap();
            assert!(name.starts_with(&format!("was-{hash}-")), "{name}");
            assert_eq!(name.len(), format!("was-{hash}-").len() + 5);
            let owner = &p.pod.metadata.owner_references.as_ref().unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.clone()),
                ("ReplicaSet", format!("was-{hash}"))
            );
            assert_eq!(p.pod.metadata.labels.as_ref().unwrap()["app"], "was");
            assert_eq!(p.pod.metadata.annotations.as_ref().unwrap()["a"], "b");
            assert_eq!(
                p.from.workload,
                ObjRef::new(Kind::Deployment, "blog-system", "was")
            );
        }
        // The hash follows the template: a changed template is a new ReplicaSet.
        let changed = deployment(&WAS.replace("was:1", "was:2"));
        let other = plan(&changed, &[]);
        assert_ne!(
            other[0].pod.metadata.labels.as_ref().unwrap()["pod-template-hash"],
            hash
        );
        // Replicas: absent means 1, zero means none.
        assert_eq!(
            plan(&deployment(&WAS.replace("replicas: 3", "")), &[]).len(),
            1
        );
        assert!(plan(&deployment(&WAS.replace("replicas: 3", "replicas: 0")), &[]).is_empty());
    }

    #[test]
    fn stateful_set_pods_take_ordinal_names_and_labels() {
        let s: appsv1::StatefulSet = serde_yaml_ng::from_str(
            r#"
metadata: {name: db, namespace: data}
spec:
  replicas: 2
  ordinals: {start: 5}
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: db}]}
"#,
        )
        .unwrap();
        let plans = plan(&Workload::from_stateful_set(&s), &[]);
        let names: Vec<String> = plans
            .iter()
            .map(|p| p.pod.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["db-5", "db-6"]);
        let l = plans[1].pod.metadata.labels.as_ref().unwrap();
        assert_eq!(l["statefulset.kubernetes.io/pod-name"], "db-6");
        assert_eq!(l["apps.kubernetes.io/pod-index"], "6");
        assert!(l["controller-revision-hash"].starts_with("db-"));
    }

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)], ip: &str) -> Node {
        Node {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: Labels::new(),
            taints: taints
                .iter()
                .map(|(k, e)| corev1::Taint {
                    key: k.to_string(),
                    effect: e.to_string(),
                    ..Default::default()
                })
                .collect(),
            internal_ip: Some(ip.into()),
            ips: vec![ip.into()],
        }
    }

    #[test]
    fn a_daemon_set_runs_on_every_node_it_may_and_a_host_network_pod_takes_the_node_address() {
        let d: appsv1::DaemonSet = serde_yaml_ng::from_str(
            r#"
metadata: {name: node-exporter, namespace: monitoring}
spec:
  selector: {matchLabels: {app: ne}}
  template:
    metadata: {labels: {app: ne}}
    spec:
      hostNetwork: true
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{key: dedicated, operator: Equal, value: "", effect: NoSchedule}]
      containers: [{name: ne, image: ne, ports: [{name: metrics, containerPort: 9100}]}]
"#,
        )
        .unwrap();
        let w = Workload::from_daemon_set(&d);
        let linux = [("kubernetes.io/os", "linux")];
        let nodes = vec![
            node("a", &linux, &[], "10.0.0.1"),
            node("b", &[("kubernetes.io/os", "windows")], &[], "10.0.0.2"),
            node(
                "c",
                &linux,
                &[("node-role.kubernetes.io/control-plane", "NoSchedule")],
                "10.0.0.3",
            ),
            node("d", &linux, &[("dedicated", "NoSchedule")], "10.0.0.4"),
            node(
                "e",
                &linux,
                &[("node.kubernetes.io/unschedulable", "NoSchedule")],
                "10.0.0.5",
            ),
        ];
        let plans = plan(&w, &nodes);
        let placed: Vec<(String, String)> = plans
            .iter()
            .map(|p| {
                let s = p.pod.status.as_ref().unwrap();
                (
                    p.pod.spec.as_ref().unwrap().node_name.clone().unwrap(),
                    s.pod_ip.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("a".into(), "10.0.0.1".into()),
                ("d".into(), "10.0.0.4".into()),
                ("e".into(), "10.0.0.5".into())
            ]
        );
        // Without Nodes: one representative, said so.
        let one = plan(&w, &[]);
        assert_eq!(one.len(), 1);
        assert!(one[0].from.notes[0].contains("representative"));
    }

    #[test]
    fn job_and_cron_job_pods_carry_the_job_labels() {
        let j: batchv1::Job = serde_yaml_ng::from_str(
            r#"
metadata: {name: migrate, namespace: app}
spec:
  parallelism: 3
  completions: 2
  completionMode: Indexed
  template:
    metadata: {labels: {app: m}}
    spec: {restartPolicy: Never, containers: [{name: m, image: m}]}
"#,
        )
        .unwrap();
        let plans = plan(&Workload::from_job(&j), &[]);
        assert_eq!(plans.len(), 2);
        let l = plans[1].pod.metadata.labels.as_ref().unwrap();
        assert_eq!(l["job-name"], "migrate");
        assert_eq!(l["batch.kubernetes.io/job-name"], "migrate");
        assert_eq!(l["batch.kubernetes.io/job-completion-index"], "1");
        assert_eq!(l["controller-uid"], l["batch.kubernetes.io/controller-uid"]);
        assert!(plans[1]
            .pod
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with("migrate-1-"));
        let c: batchv1::CronJob = serde_yaml_ng::from_str(
            r#"
metadata: {name: report, namespace: app}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: r, image: r}]}
"#,
        )
        .unwrap();
        let w = Workload::from_cron_job(&c);
        let plans = plan(&w, &[]);
        assert_eq!(plans.len(), 1);
        let job = &plans[0].pod.metadata.labels.as_ref().unwrap()["job-name"];
        assert!(job.starts_with("report-2"), "{job}");
        assert_eq!(
            plans[0].from.workload,
            ObjRef::new(Kind::CronJob, "app", "report")
        );
    }

    #[test]
    fn tolerations_match_as_the_scheduler_matches_them() {
        let taint = corev1::Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let t = |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| {
            corev1::Toleration {
                key: key.map(String::from),
                operator: op.map(String::from),
                value: value.map(String::from),
                effect: effect.map(String::from),
                ..Default::default()
            }
        };
        assert!(tolerates(&[t(Some("k"), None, Some("v"), None)], &taint));
        assert!(!tolerates(&[t(Some("k"), None, Some("w"), None)], &taint));
        assert!(tolerates(
            &[t(Some("k"), Some("Exists"), None, Some("NoSchedule"))],
            &taint
        ));
        assert!(!tolerates(
            &[t(Some("k"), Some("Exists"), None, Some("NoExecute"))],
            &taint
        ));
        assert!(tolerates(&[t(None, Some("Exists"), None, None)], &taint));
        assert!(!tolerates(&[], &taint));
    }
}
