//! The engine: pure evaluation of every subject (each ScrapeIntent, each PodMonitor/ServiceMonitor as an
//! audit subject) layer by layer, with the remediation plan. No client, no async, no clock: the same
//! function serves `scrapepath check`, `scrapepath audit` and the controller.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::{Mode, MonitorKind as IntentMonitorKind, ScrapeIntent, ScraperKind};
use crate::cilium::eval::{
    decide_readings, Basis, Decision, DestPolicies, Identity, NetVerdict, ScrapeRequest,
};
use crate::cilium::policy::Direction;
use crate::cilium::{Settings, Version};
use crate::conditions::{self as cond, reason};
use crate::index::{ClusterIndex, PodId};
use crate::mesh::{MeshDecision, MeshVerdict};
use crate::model::{
    Kind, Labels, Monitor, MonitorKind, ObjRef, Pod, PromWorkload, ScrapeConfigResource,
    INTENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
};
use crate::observe::Observed;
use crate::promop::{self, NotSelected, ShardKey, Sharding};
use crate::selector::{Operator, Selector};

mod address_layer;
mod discovery_layer;
mod jobs_layer;
mod mesh_layer;
mod probe_layer;
pub use jobs_layer::{pod_workload, SCRAPE_JOB};
mod scraped;
pub use mesh_layer::mesh_verdict;
pub use scraped::ObservedOut;

/// Which kind of network policy scrapepath writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PolicyBackend {
    /// CiliumNetworkPolicy when any Cilium kind is present, else Kubernetes NetworkPolicy.
    #[default]
    Auto,
    Cilium,
    Kubernetes,
}

/// Platform settings that change the analysis.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    pub cilium_version: Option<Version>,
    /// The cluster default scraper (`namespace/name` of a Prometheus).
    pub default_scraper: Option<(String, String)>,
    pub default_mode: Option<Mode>,
    pub policy_backend: PolicyBackend,
    /// Whether prometheus-operator runs with its `PrometheusTopologySharding` feature gate
    /// (`--prometheus-operator-feature-gates`): only then does `spec.shardingStrategy.mode: Topology`
    /// shard targets by zone.
    pub operator_topology_sharding: bool,
}

// ---------------------------------------------------------------------------------------------------------
// Output: the `scrapepath check` contract (DESIGN.md §7).

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub subjects: Vec<SubjectReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectReport {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub ready: bool,
    pub conditions: Vec<ConditionOut>,
    pub scrapers: Vec<RefOut>,
    pub targets: Vec<TargetOut>,
    pub remediation: Vec<Value>,
    /// Effective mode (intents only); not part of the check contract.
    #[serde(skip)]
    pub mode: Option<Mode>,
    /// The policies that block targets, for the intent status.
    #[serde(skip)]
    pub blocked_by: Vec<(ObjRef, String)>,
}

impl SubjectReport {
    pub fn condition(&self, type_: &str) -> Option<&ConditionOut> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn reachable_targets(&self) -> usize {
        self.targets
            .iter()
            .filter(|t| t.network.verdict == "Allowed")
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionOut {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, PartialOrd, Ord)]
pub struct RefOut {
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

impl From<&ObjRef> for RefOut {
    fn from(r: &ObjRef) -> Self {
        RefOut {
            kind: r.kind.to_string(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetOut {
    pub pod: String,
    /// The workload a modelled pod comes from (`check` on manifests without Pod objects); absent for a
    /// pod of the input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<RefOut>,
    /// The address a scrape_configs job connects to, after relabeling (ScrapeJob and ScrapeConfig subjects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    pub path: String,
    pub scraper: String,
    pub network: LayerOut,
    pub mesh: LayerOut,
    /// What the scraper's own API reports (only when a Prometheus API was read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<ObservedOut>,
}

impl LayerOut {
    /// A target's network layer: the verdict, the reason with its rule, the deciding objects.
    fn of_network(d: &Decision, shared: &mut SharedOut) -> LayerOut {
        LayerOut {
            verdict: format!("{:?}", d.verdict),
            reason: shared.text(format!("{} [{}]", d.reason, d.rule)),
            decided_by: shared.refs(&d.decided_by),
        }
    }
}

/// The reasons and object lists of the per-target output, each held once: thousands of targets share a
/// few of them (the 20,000 targets of the dense kube-burner shape have 2,000 network reasons and one
/// mesh reason, each of the former up to 1 KB long and naming 14 policies).
#[derive(Default)]
pub(crate) struct SharedOut {
    texts: HashSet<Arc<str>>,
    refs: HashMap<Vec<ObjRef>, Arc<[RefOut]>>,
}

impl SharedOut {
    pub(crate) fn text(&mut self, s: String) -> Arc<str> {
        if let Some(t) = self.texts.get(s.as_str()) {
            return t.clone();
        }
        let t: Arc<str> = s.into();
        self.texts.insert(t.clone());
        t
    }

    pub(crate) fn refs(&mut self, refs: &[ObjRef]) -> Arc<[RefOut]> {
        if let Some(r) = self.refs.get(refs) {
            return r.clone();
        }
        let r: Arc<[RefOut]> = refs.iter().map(RefOut::from).collect();
        self.refs.insert(refs.to_vec(), r.clone());
        r
    }
}

impl TargetOut {
    /// Whether the network or the mesh stops the scrape (an undecided mesh verdict does not count).
    pub fn blocked(&self) -> bool {
        self.network.verdict != "Allowed" || self.mesh.verdict == "Denied"
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerOut {
    pub verdict: String,
    pub reason: Arc<str>,
    pub decided_by: Arc<[RefOut]>,
}

fn condition(type_: &str, ok: bool, reason: &str, message: impl Into<String>) -> ConditionOut {
    ConditionOut {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.into(),
    }
}

fn unknown(type_: &str, reason: &str, message: impl Into<String>) -> ConditionOut {
    ConditionOut {
        type_: type_.to_string(),
        status: "Unknown".to_string(),
        reason: reason.to_string(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The evaluation context: per-run caches over one index.

/// One evaluation over one index. Caches identities and per-pod policy sets so that a pod shared by
/// many subjects is analysed once.
pub struct Engine<'a> {
    pub idx: &'a ClusterIndex,
    pub cfg: &'a EngineConfig,
    pub settings: Settings,
    /// Source identities of scraper pods that are not hostNetwork (they do not depend on the target).
    /// By namespace, then pod name.
    sources: HashMap<String, HashMap<String, Rc<Identity>>>,
    /// Per target pod: the policies as they are, and (only when scrapepath's own policies are among the
    /// candidates) as they would be without them.
    /// Pods with one security identity (the pods of a Deployment) share one entry, as in Cilium.
    dest_sets: Vec<DestSet<'a>>,
    dest: HashMap<PodId, usize>,
    /// Identity hash → (a pod with that identity, its entry in `dest_sets`).
    identity_slots: HashMap<u64, Vec<(PodId, usize)>>,
    /// A pod class's entry in `dest_sets` ([`IdentityClass`]): the other pods of a workload find
    /// theirs without looking at their labels again.
    class_slots: HashMap<IdentityClass<'a>, usize>,
    /// The targets of a monitor for a workload (`None`: no workload), computed once per run: at pods'
    /// addresses, and at addresses no pod backs.
    targets: HashMap<(Option<ObjRef>, ObjRef), MonitorTargets>,
    /// Monitors by a namespace they may discover in, and those that discover everywhere.
    monitors_by_ns: Option<MonitorsByNamespace<'a>>,
    /// What each scrape_configs job discovers, computed once per run.
    discoveries: jobs_layer::Discoveries,
    /// What the scrapers' APIs report (`None`: nothing was read; `Scraped` is then `NotObserved`).
    observed: Option<&'a Observed>,
    /// The egress policies of each scraper pod (namespace, name), as the cluster is and without
    /// scrapepath's own (`semantics/cilium-egress.md`).
    src_egress: HashMap<(String, String), DestSet<'a>>,
    /// The identity of a target pod as its scrapers' egress sees it (E1), by pod, for pod-network targets.
    peer_ids: HashMap<PodId, Rc<Identity>>,
    /// Those identities by content: the pods of a Deployment share one, as in Cilium (at 150,000 pods
    /// one identity per pod was the largest part of an evaluation's memory).
    peer_id_set: HashSet<Rc<Identity>>,
    /// Those identities by pod class ([`IdentityClass`]).
    peer_by_class: HashMap<IdentityClass<'a>, Rc<Identity>>,
    /// Up to 1.19: the cluster's egress named ports (E4.4), the pod egress decisions resolve ports on.
    egress_ports: Option<Rc<Pod>>,
    /// The output's reasons and object lists, each held once.
    shared_out: RefCell<SharedOut>,
}

/// A pod's policies as they are, and (only when scrapepath's own policies are among the candidates) as
/// they would be without them.
/// A pod's policies as the cluster is and without scrapepath's own, each with its other readings
/// (`DestPolicies::other_readings`: empty unless a policy's selectors are ambiguous).
type DestSet<'a> = (
    (DestPolicies<'a>, Vec<DestPolicies<'a>>),
    Option<(DestPolicies<'a>, Vec<DestPolicies<'a>>)>,
);

/// Pods with the same label set (the one copy the index shares among them, compared by address),
/// namespace and service account: one Cilium identity, whatever their identity labels are (R1, R2).
/// Pods of a workload are one class, so identity work is done once per class rather than per pod;
/// pods with equal labels held in two copies are two classes of the same identity, which only costs
/// the work once more.
type IdentityClass<'a> = (usize, &'a str, &'a str);

fn identity_class(pod: &Pod) -> IdentityClass<'_> {
    (
        Arc::as_ptr(&pod.labels) as usize,
        &pod.namespace,
        &pod.service_account,
    )
}

/// What makes two pods one Cilium identity: namespace, service account and the identity labels (R1, R2).
fn identity_hash(pod: &Pod, v: Version) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pod.namespace.hash(&mut h);
    pod.service_account.hash(&mut h);
    for kv in identity_labels(pod, v) {
        kv.hash(&mut h);
    }
    h.finish()
}

fn identity_labels(pod: &Pod, v: Version) -> impl Iterator<Item = (&String, &String)> {
    pod.labels.iter().filter(move |(k, _)| {
        !k.starts_with("io.cilium.k8s") && crate::cilium::eval::is_identity_label(k, v)
    })
}

fn same_identity(a: &Pod, b: &Pod, v: Version) -> bool {
    a.namespace == b.namespace
        && a.service_account == b.service_account
        && identity_labels(a, v).eq(identity_labels(b, v))
}

/// Monitors by a namespace they may discover in, and the monitors that discover in every namespace.
type MonitorsByNamespace<'a> = (HashMap<String, Vec<&'a Monitor>>, Vec<&'a Monitor>);

/// A monitor's targets for a workload: at pods' addresses, and at addresses no pod backs.
type MonitorTargets = (Rc<Vec<promop::Target>>, Rc<Vec<promop::AddressTarget>>);

/// A scraper resolved to its workload and pods.
#[derive(Debug, Clone)]
pub struct Scraper<'a> {
    pub obj: ObjRef,
    pub workload: Option<&'a PromWorkload>,
    /// The pods traffic comes from: the real ones, or one modelled from the workload when the input has
    /// none (offline manifests).
    pub pods: Vec<Pod>,
    pub modelled: bool,
    /// Ok(reason, message) when ready, Err(reason, message) when not.
    pub readiness: Readiness,
    /// `spec.shards` of a Prometheus/PrometheusAgent (1 otherwise), and its topology zones when topology
    /// sharding is active: each target is scraped by the pods of the shards that keep it
    /// (`promop::ShardKey::shards`).
    pub sharding: Sharding,
    /// Shards none of whose (live) pods is Ready, while the scraper as a whole has Ready pods: the
    /// targets they own are not scraped.
    pub unready_shards: Vec<u32>,
}

/// A scraper's readiness: `Ok((reason, message))` when ready, `Err((reason, message))` when not.
pub type Readiness = Result<(&'static str, String), (&'static str, String)>;

/// The label prometheus-operator puts on each pod with its shard's index.
const SHARD_LABEL: &str = "operator.prometheus.io/shard";

impl Scraper<'_> {
    pub fn display(&self) -> String {
        format!("{}/{}", self.obj.namespace, self.obj.name)
    }

    /// One pod as the whole scraper (the truth tables' and explanations' single-flow verdicts).
    pub fn of_pod<'a>(pod: &Pod) -> Scraper<'a> {
        Scraper {
            obj: ObjRef::new(Kind::Pod, &pod.namespace, &pod.name),
            workload: None,
            pods: vec![pod.clone()],
            modelled: false,
            readiness: Ok((reason::SCRAPER_READY, String::new())),
            sharding: Sharding::default(),
            unready_shards: Vec::new(),
        }
    }

    /// The shards that scrape a target whose sharding key is `key` (`promop::ShardKey::shards`);
    /// `None`: every shard (or no sharding); empty: none.
    pub fn shards_of(&self, key: &ShardKey) -> Option<Vec<u32>> {
        key.shards(&self.sharding)
    }

    /// The pods that scrape a target whose sharding key is `key`: those of its shards (a pod without the
    /// shard label counts for every shard); all of them when its shards have none in the input, or when
    /// every shard scrapes it; none when no shard does (topology sharding, a target of no shard's zone).
    pub fn pods_for(&self, key: &ShardKey) -> Vec<&Pod> {
        let Some(shards) = self.shards_of(key) else {
            return self.pods.iter().collect();
        };
        if shards.is_empty() {
            return Vec::new();
        }
        let shards: Vec<String> = shards.iter().map(u32::to_string).collect();
        let own: Vec<&Pod> = self
            .pods
            .iter()
            .filter(|p| p.labels.get(SHARD_LABEL).is_none_or(|s| shards.contains(s)))
            .collect();
        if own.is_empty() {
            self.pods.iter().collect()
        } else {
            own
        }
    }

    /// How the shards split targets, in a person's words.
    fn sharding_words(&self) -> String {
        if self.sharding.zones.is_empty() {
            format!(
                "hashmod of __address__, or of __tmp_hash where relabeling sets it, over {} shards",
                self.sharding.shards
            )
        } else {
            format!(
                "topology sharding over {} shards in zones {}: a shard keeps the targets of its zone (__tmp_topology: set by relabeling, else the EndpointSlice endpoint's zone, else the Node's {} label), split by hashmod of __address__ or __tmp_hash",
                self.sharding.shards,
                self.sharding.zones.join(", "),
                promop::ZONE_LABEL
            )
        }
    }

    /// The readiness for a subject whose targets are `targets` (`(pod, ip:port, sharding key)`): not
    /// ready when no shard keeps one of them (topology sharding, a target outside every shard's zone),
    /// or when, with unready shards, only unready shards keep one.
    pub fn readiness_for<'t>(
        &self,
        targets: impl IntoIterator<Item = (&'t str, String, &'t ShardKey)>,
    ) -> Readiness {
        let Ok((r, m)) = &self.readiness else {
            return self.readiness.clone();
        };
        let mut unowned: Vec<String> = Vec::new();
        let mut orphaned: Vec<String> = Vec::new();
        for (pod, addr, key) in targets {
            let Some(shards) = self.shards_of(key) else {
                continue;
            };
            if shards.is_empty() {
                let zone = match &key.zone {
                    Some(z) => format!("zone {z}"),
                    None => "no zone".to_string(),
                };
                unowned.push(format!("{pod} ({addr}, {zone})"));
            } else if shards.iter().all(|s| self.unready_shards.contains(s)) {
                let list: Vec<String> = shards.iter().map(u32::to_string).collect();
                orphaned.push(format!("{pod} ({addr}, shard {})", list.join(", ")));
            }
        }
        if !unowned.is_empty() {
            return Err((
                reason::SCRAPER_NOT_READY,
                format!(
                    "{m}, but no shard keeps {} ({}); fix: label the targets' Nodes with {} (a zone of spec.shardingStrategy.topology.values), add their zone to those values with at least as many shards as zones, or set __tmp_topology by relabeling",
                    unowned.join(", "),
                    self.sharding_words(),
                    promop::ZONE_LABEL
                ),
            ));
        }
        if self.unready_shards.is_empty() {
            return self.readiness.clone();
        }
        let shards = self
            .unready_shards
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if orphaned.is_empty() {
            return Ok((
                r,
                format!("{m}; shard {shards} has no Ready pod, but owns none of these targets"),
            ));
        }
        Err((
            reason::SCRAPER_NOT_READY,
            format!(
                "{m}, but shard {shards} has no Ready pod, and each target is scraped only by the shard that owns it ({}): {} not scraped",
                self.sharding_words(),
                orphaned.join(", ")
            ),
        ))
    }
}

/// What a scraper pod's status says against it, with what usually fixes each (issue 17): `: container
/// prometheus: CrashLoopBackOff (...) — fix: ...`; empty for a pod whose status names nothing.
fn pod_problems_text(p: &Pod) -> String {
    if p.problems.is_empty() {
        return String::new();
    }
    let items: Vec<String> = p
        .problems
        .iter()
        .map(|pr| match problem_fix(pr) {
            Some(fix) => format!("{} — {fix}", pr.describe()),
            None => pr.describe(),
        })
        .collect();
    format!(": {}", items.join(", "))
}

/// What usually fixes a pod problem of a Prometheus pod, where the status says enough to tell.
fn problem_fix(pr: &crate::model::PodProblem) -> Option<&'static str> {
    let m = pr.message.to_ascii_lowercase();
    if m.contains("permission denied") {
        return Some("the data directory is not writable by the container's user: set spec.securityContext.fsGroup (e.g. 2000, with fsGroupChangePolicy: OnRootMismatch) on the Prometheus object so the volume is group-owned, as prometheus-operator documents for non-root storage");
    }
    match pr.reason.as_str() {
        "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => {
            Some("the image cannot be pulled: check spec.image / spec.version and spec.imagePullSecrets")
        }
        "OOMKilled" => Some("raise spec.resources.limits.memory, or lower the series it holds"),
        "Unschedulable" if m.contains("persistentvolumeclaim") => Some(
            "a PersistentVolumeClaim is not bound: check spec.storage.volumeClaimTemplate's storageClassName and that a provisioner serves it",
        ),
        "CreateContainerConfigError" => {
            Some("a Secret or ConfigMap the container references is missing")
        }
        _ => None,
    }
}

/// What usually fixes what a Warning Event about a scraper's StatefulSet or pod, or the operator's
/// `Reconciled` condition, reports.
fn message_fix(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    if m.contains("volumemounts") && m.contains("not found") {
        return Some("a volumeMount names a volume the pod does not have: in the Prometheus object, mount the volume the operator creates (the storage volume is spec.storage.volumeClaimTemplate.metadata.name, else prometheus-<name>-db) or declare it in spec.volumes");
    }
    if m.contains("exceeded quota") {
        return Some("a ResourceQuota of the namespace refuses the pod: raise the quota or lower spec.resources");
    }
    if m.contains("serviceaccount") && m.contains("not found") {
        return Some("the ServiceAccount spec.serviceAccountName names does not exist: create it");
    }
    if m.contains("violates podsecurity") {
        return Some("the namespace's Pod Security level refuses the pod: set spec.securityContext and the containers' securityContext to comply, or relax the namespace's pod-security.kubernetes.io/enforce label");
    }
    if m.contains("readiness probe failed") {
        return Some("Prometheus answers /-/ready only once its storage is open and its configuration loaded: its log says which (a WAL replay of a large TSDB takes minutes; raise the probe's failureThreshold through spec.containers if so)");
    }
    None
}

/// What the operator's StatefulSets of `p` and the Warning Events about them and about `pods` report
/// (issue 17), each with what usually fixes it; empty when the input has none of them.
fn scraper_set_causes(idx: &ClusterIndex, p: &PromWorkload, pods: &[Pod]) -> Vec<String> {
    let with_fix = |e: &crate::model::WarningEvent| match message_fix(&e.message) {
        Some(fix) => format!("{} — {fix}", e.describe()),
        None => e.describe(),
    };
    let mut out = Vec::new();
    // A current API server refuses an invalid pod template in the StatefulSet itself: the operator
    // says so in its Reconciled condition.
    if let Some(c) = p
        .conditions
        .iter()
        .find(|c| c.type_ == "Reconciled" && c.status == "False")
    {
        let m = c.message.clone().unwrap_or_default();
        let mut text = format!(
            "Reconciled=False ({}): {m}",
            c.reason.as_deref().unwrap_or("no reason given")
        );
        if let Some(fix) = message_fix(&m) {
            text.push_str(&format!(" — {fix}"));
        }
        out.push(text);
    }
    for shard in 0..p.shards.max(1) {
        let name = promop::shard_statefulset(p, shard);
        let mut parts = Vec::new();
        if let Some(set) = idx.scraper_set(&p.namespace, &name) {
            match &set.status {
                None => parts.push(
                    "reports no status (the StatefulSet controller has not observed it): whether its pods were created is unknown"
                        .to_string(),
                ),
                Some(st) => {
                    parts.push(format!(
                        "{}/{} replicas Ready ({} created)",
                        st.ready_replicas, set.replicas, st.replicas
                    ));
                    for c in &st.conditions {
                        parts.push(format!(
                            "{}={}{}",
                            c.type_,
                            c.status,
                            [c.reason.as_deref(), c.message.as_deref()]
                                .into_iter()
                                .flatten()
                                .filter(|s| !s.is_empty())
                                .map(|s| format!(": {s}"))
                                .collect::<String>()
                        ));
                    }
                }
            }
        }
        // A FailedCreate of a pod that exists now is over (Events outlive their cause by an hour).
        let superseded = |e: &crate::model::WarningEvent| {
            e.reason.as_deref() == Some("FailedCreate")
                && pods
                    .iter()
                    .any(|q| e.message.contains(&format!("Pod {} ", q.name)))
        };
        parts.extend(
            idx.warning_events(&p.namespace, "StatefulSet", &name)
                .filter(|e| !superseded(e))
                .map(|e| format!("Event {}", with_fix(e))),
        );
        if !parts.is_empty() {
            out.push(format!(
                "StatefulSet {}/{name}: {}",
                p.namespace,
                parts.join("; ")
            ));
        }
    }
    for pod in pods.iter().filter(|q| q.ready != Some(true)) {
        let events: Vec<String> = idx
            .warning_events(&pod.namespace, "Pod", &pod.name)
            .map(|e| format!("Event {}", with_fix(e)))
            .collect();
        if !events.is_empty() {
            out.push(format!("pod {}: {}", pod.name, events.join("; ")));
        }
    }
    out
}

/// The `NetworkReachable` reason of a decision that blocks a target; its deciding objects are added
/// to `blocked_by` with that reason.
///
/// `seen` holds the objects already in `blocked_by` (a subject's targets share their deciding
/// policies: a search of the list for each would be quadratic in the targets).
fn blocked_reason(
    d: &Decision,
    blocked_by: &mut Vec<(ObjRef, String)>,
    seen: &mut std::collections::BTreeSet<ObjRef>,
) -> &'static str {
    let r = match d.basis {
        Basis::Ambiguous => reason::AMBIGUOUS_POLICY,
        _ if d.side == Direction::Egress => reason::EGRESS_DENIED,
        Basis::DeniedByRule => reason::DENIED_BY_RULE,
        Basis::L7 => reason::L7_DENIED,
        _ => reason::BLOCKED_BY_POLICY,
    };
    for o in &d.decided_by {
        if seen.insert(o.clone()) {
            blocked_by.push((o.clone(), r.to_string()));
        }
    }
    r
}

/// `: a; b` for a message, empty without causes.
fn causes_text(causes: &[String]) -> String {
    if causes.is_empty() {
        String::new()
    } else {
        format!("; {}", causes.join("; "))
    }
}

/// A target's pod name and `__address__` (`ip:port`), which picks its shard.
fn target_address(idx: &ClusterIndex, pod: PodId, port: u16) -> (&str, String) {
    let p = idx.pod(pod);
    (
        p.name.as_str(),
        format!("{}:{port}", p.pod_ip.as_deref().unwrap_or("")),
    )
}

/// What a Prometheus/PrometheusAgent should run, for the readiness message: `spec.replicas` (default 1)
/// pods in each of `spec.shards` StatefulSets; a DaemonSet has one per node, not counted here.
fn expected_pods(p: &PromWorkload, ready: usize) -> String {
    if p.daemonset_mode {
        return String::new();
    }
    let replicas = p.replicas.map_or(1, |r| u32::try_from(r).unwrap_or(0));
    let shards = p.shards.max(1);
    let expected = (replicas * shards) as usize;
    let spec = match (shards > 1, p.replicas) {
        (true, _) => format!(
            "{replicas} {} × {shards} shards",
            if replicas == 1 { "replica" } else { "replicas" }
        ),
        (false, Some(_)) => format!("spec.replicas {replicas}"),
        (false, None) => "spec.replicas unset: 1".to_string(),
    };
    if ready >= expected {
        format!(" ({spec})")
    } else {
        format!(
            " of {expected} ({spec}): {} missing or not Ready; every Ready replica scrapes all targets of its shard, so none is lost, but there is no redundancy left where a shard has one",
            expected - ready
        )
    }
}

/// The scrapers of a subject, for a message: `ns/a, ns/b`.
fn scraper_names(scrapers: &[Scraper<'_>]) -> String {
    scrapers
        .iter()
        .map(Scraper::display)
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Engine<'a> {
    pub fn new(idx: &'a ClusterIndex, cfg: &'a EngineConfig) -> Self {
        Engine {
            idx,
            cfg,
            settings: idx.cilium_settings(cfg.cilium_version),
            sources: HashMap::new(),
            dest_sets: Vec::new(),
            dest: HashMap::new(),
            identity_slots: HashMap::new(),
            class_slots: HashMap::new(),
            targets: HashMap::new(),
            monitors_by_ns: None,
            discoveries: HashMap::new(),
            observed: None,
            src_egress: HashMap::new(),
            peer_ids: HashMap::new(),
            peer_id_set: HashSet::new(),
            peer_by_class: HashMap::new(),
            egress_ports: None,
            shared_out: RefCell::default(),
        }
    }

    /// The same engine, deriving `Scraped` from what the scrapers' APIs report.
    pub fn observing(mut self, observed: Option<&'a Observed>) -> Self {
        self.observed = observed;
        self
    }

    /// B/C targets of `m` for `p`, cached for the run.
    pub fn monitor_targets(
        &mut self,
        p: Option<&PromWorkload>,
        m: &Monitor,
    ) -> Rc<Vec<promop::Target>> {
        self.monitor_discovery(p, m).0
    }

    /// The targets of a monitor for a workload: at pods' addresses, and at addresses no pod backs.
    fn monitor_discovery(&mut self, p: Option<&PromWorkload>, m: &Monitor) -> MonitorTargets {
        let key = (p.map(PromWorkload::obj_ref), m.obj_ref());
        if let Some(found) = self.targets.get(&key) {
            return found.clone();
        }
        let (t, a) = promop::discover_with(p, m, self.idx, self.cfg.operator_topology_sharding);
        let found = (Rc::new(t), Rc::new(a));
        self.targets.insert(key, found.clone());
        found
    }

    /// The monitors that may discover targets in `ns` (a superset: B1 for any workload).
    fn monitors_discovering(&mut self, ns: &str) -> Vec<&'a Monitor> {
        let idx = self.idx;
        let (by_ns, everywhere) = self.monitors_by_ns.get_or_insert_with(|| {
            let mut by_ns: HashMap<String, Vec<&'a Monitor>> = HashMap::new();
            let mut everywhere = Vec::new();
            for m in idx.monitors() {
                if m.namespace_selector.any {
                    everywhere.push(m);
                    continue;
                }
                let mut names: Vec<&String> = m.namespace_selector.match_names.iter().collect();
                names.push(&m.namespace);
                names.sort();
                names.dedup();
                for n in names {
                    by_ns.entry(n.clone()).or_default().push(m);
                }
            }
            (by_ns, everywhere)
        });
        // Both lists follow the index's order (kind, namespace, name) and are disjoint: merge them.
        let local: &[&'a Monitor] = by_ns.get(ns).map_or(&[], |v| v.as_slice());
        let mut out = Vec::with_capacity(local.len() + everywhere.len());
        let (mut i, mut j) = (0, 0);
        fn key(m: &Monitor) -> (MonitorKind, &str, &str) {
            (m.kind, m.namespace.as_str(), m.name.as_str())
        }
        while i < local.len() || j < everywhere.len() {
            let take_local =
                j == everywhere.len() || (i < local.len() && key(local[i]) <= key(everywhere[j]));
            if take_local {
                out.push(local[i]);
                i += 1;
            } else {
                out.push(everywhere[j]);
                j += 1;
            }
        }
        out
    }

    fn dest_policies(&mut self, id: PodId, skip_managed: bool) -> &DestPolicies<'a> {
        if !self.dest.contains_key(&id) {
            let idx = self.idx;
            let pod = idx.pod(id);
            if let Some(&slot) = self.class_slots.get(&identity_class(pod)) {
                self.dest.insert(id, slot);
                return self.dest_policies_ref(id, skip_managed);
            }
            let version = self.settings.version;
            let hash = identity_hash(pod, version);
            let shared = self
                .identity_slots
                .get(&hash)
                .and_then(|v| {
                    v.iter()
                        .find(|(rep, _)| same_identity(idx.pod(*rep), pod, version))
                })
                .map(|(_, slot)| *slot);
            let slot = match shared {
                Some(slot) => slot,
                None => {
                    let settings = &self.settings;
                    let ident = Identity::of_pod(
                        pod,
                        &idx.namespace_labels(&pod.namespace),
                        &settings.cluster_name,
                        settings.version,
                    );
                    let cands = idx.candidate_policies(pod, &ident);
                    let any_managed = cands.iter().any(|p| p.managed_by.is_some());
                    let reading = |skip_managed: bool| {
                        (
                            DestPolicies::compute(
                                settings,
                                &ident,
                                cands.iter().copied(),
                                skip_managed,
                            ),
                            DestPolicies::other_readings(settings, &ident, &cands, skip_managed),
                        )
                    };
                    let now = reading(false);
                    let without = any_managed.then(|| reading(true));
                    self.dest_sets.push((now, without));
                    let slot = self.dest_sets.len() - 1;
                    self.identity_slots
                        .entry(hash)
                        .or_default()
                        .push((id, slot));
                    slot
                }
            };
            self.class_slots.insert(identity_class(pod), slot);
            self.dest.insert(id, slot);
        }
        self.dest_policies_ref(id, skip_managed)
    }

    /// The cached policies of a pod whose [`Engine::dest_policies`] was computed.
    fn dest_policies_ref(&self, id: PodId, skip_managed: bool) -> &DestPolicies<'a> {
        &self.readings_ref(id, skip_managed).0
    }

    /// The cached policies of a pod, with their other readings (ambiguous selectors).
    fn readings_ref(
        &self,
        id: PodId,
        skip_managed: bool,
    ) -> &(DestPolicies<'a>, Vec<DestPolicies<'a>>) {
        let (now, without) = &self.dest_sets[self.dest[&id]];
        match (skip_managed, without) {
            (true, Some(w)) => w,
            _ => now,
        }
    }

    fn source_identity(&mut self, src: &Pod, dest: &Pod) -> Rc<Identity> {
        let cluster = &self.settings.cluster_name;
        let version = self.settings.version;
        if src.host_network {
            return Rc::new(Identity::of_source(
                src,
                &self.idx.namespace_labels(&src.namespace),
                self.idx.node_labels_of(src),
                dest,
                &self.settings,
            ));
        }
        if let Some(id) = self
            .sources
            .get(&src.namespace)
            .and_then(|pods| pods.get(&src.name))
        {
            return id.clone();
        }
        let id = Rc::new(Identity::of_pod(
            src,
            &self.idx.namespace_labels(&src.namespace),
            cluster,
            version,
        ));
        self.sources
            .entry(src.namespace.clone())
            .or_default()
            .insert(src.name.clone(), id.clone());
        id
    }

    /// The network decision for one target from one scraper, as the cluster is (`skip_managed` false) or
    /// as it would be without scrapepath's own policies. With several scraper pods, the first that is not
    /// allowed decides (every replica scrapes).
    pub fn network(
        &mut self,
        dest: PodId,
        scraper: &Scraper<'_>,
        shard: &ShardKey,
        port: u16,
        path: &str,
        skip_managed: bool,
    ) -> Decision {
        let idx = self.idx;
        let dest_pod = idx.pod(dest);
        let req = ScrapeRequest::to(dest_pod, port, path);
        // A scraper pod scraping itself (R3) is allowed whatever the policies: its other pods decide.
        let (itself, others): (Vec<&Pod>, Vec<&Pod>) = scraper
            .pods_for(shard)
            .into_iter()
            .partition(|src| crate::cilium::eval::is_same_pod(src, dest_pod));
        if let (Some(src), true) = (itself.first(), others.is_empty()) {
            if let Some(d) = crate::cilium::eval::same_pod(src, dest_pod) {
                return d;
            }
        }
        // E6: each scraper pod's egress toward the target, then the target's ingress; both must allow.
        let egress: Vec<Option<Decision>> = others
            .iter()
            .map(|src| self.egress(src, dest, port, &req, skip_managed))
            .collect();
        let sids: Vec<Rc<Identity>> = others
            .iter()
            .map(|src| self.source_identity(src, dest_pod))
            .collect();
        self.dest_policies(dest, skip_managed);
        let (dp, readings) = self.readings_ref(dest, skip_managed);
        let settings = &self.settings;
        let mut first: Option<Decision> = None;
        for ((sid, src), egress) in sids.iter().zip(&others).zip(egress) {
            let ingress = decide_readings(settings, dp, readings, dest_pod, sid, port, &req);
            let d = crate::cilium::eval::combine(ingress, egress, src);
            if d.verdict != NetVerdict::Allowed {
                return d;
            }
            first.get_or_insert(d);
        }
        let none_keeps = others.is_empty() && itself.is_empty() && !scraper.pods.is_empty();
        first.unwrap_or_else(|| Decision {
            verdict: NetVerdict::Allowed,
            basis: Basis::NotEnforced,
            rule: "-",
            reason: if none_keeps {
                "no shard keeps this target, so no scraper pod connects to it (ScraperReady says why)"
                    .into()
            } else {
                "no scraper pod to evaluate".into()
            },
            decided_by: vec![],
            side: Direction::Ingress,
        })
    }

    /// The scraper pod's egress toward the target (E1–E5); `None` for a hostNetwork scraper, whose
    /// egress is the host firewall's (E5), which scrapepath does not model.
    fn egress(
        &mut self,
        src: &Pod,
        dest: PodId,
        port: u16,
        req: &ScrapeRequest<'_>,
        skip_managed: bool,
    ) -> Option<Decision> {
        if src.host_network {
            return None;
        }
        let idx = self.idx;
        let dest_pod = idx.pod(dest);
        let peer = if dest_pod.host_network {
            // A node: host or remote-node, depending on the scraper's node (R3).
            Rc::new(Identity::of_source(
                dest_pod,
                &idx.namespace_labels(&dest_pod.namespace),
                idx.node_labels_of(dest_pod),
                src,
                &self.settings,
            ))
        } else {
            let settings = &self.settings;
            let set = &mut self.peer_id_set;
            let by_class = &mut self.peer_by_class;
            self.peer_ids
                .entry(dest)
                .or_insert_with(|| {
                    let class = identity_class(dest_pod);
                    if let Some(shared) = by_class.get(&class) {
                        return shared.clone();
                    }
                    let id = Identity::of_pod(
                        dest_pod,
                        &idx.namespace_labels(&dest_pod.namespace),
                        &settings.cluster_name,
                        settings.version,
                    );
                    let shared = match set.get(&id) {
                        Some(shared) => shared.clone(),
                        None => {
                            let id = Rc::new(id);
                            set.insert(id.clone());
                            id
                        }
                    };
                    by_class.insert(class, shared.clone());
                    shared
                })
                .clone()
        };
        Some(self.egress_toward(src, &peer, dest_pod, port, req, skip_managed))
    }

    /// The egress decision of a (not hostNetwork) scraper pod toward a peer identity (E1–E5, E8):
    /// `dest` is the pod whose named ports a port name resolves against from 1.20 (a pod without ports
    /// for an address no pod backs).
    pub(super) fn egress_toward(
        &mut self,
        src: &Pod,
        peer: &Identity,
        dest: &Pod,
        port: u16,
        req: &ScrapeRequest<'_>,
        skip_managed: bool,
    ) -> Decision {
        let idx = self.idx;
        let key = (src.namespace.clone(), src.name.clone());
        if !self.src_egress.contains_key(&key) {
            let settings = &self.settings;
            let ident = Identity::of_pod(
                src,
                &idx.namespace_labels(&src.namespace),
                &settings.cluster_name,
                settings.version,
            );
            let cands = idx.candidate_policies(src, &ident);
            let reading = |skip_managed: bool| {
                (
                    DestPolicies::compute_in(
                        Direction::Egress,
                        settings,
                        &ident,
                        cands.iter().copied(),
                        skip_managed,
                    ),
                    DestPolicies::other_readings_in(
                        Direction::Egress,
                        settings,
                        &ident,
                        &cands,
                        skip_managed,
                    ),
                )
            };
            let now = reading(false);
            let without = cands
                .iter()
                .any(|p| p.managed_by.is_some())
                .then(|| reading(true));
            self.src_egress.insert(key.clone(), (now, without));
        }
        // Named ports resolve cluster-wide up to 1.19 (E4.4): one view for every target.
        let v = self.settings.version;
        let cluster_view =
            (v < crate::cilium::eval::EGRESS_NAMED_PORTS_PER_IDENTITY_SINCE).then(|| {
                self.egress_ports
                    .get_or_insert_with(|| {
                        Rc::new(crate::cilium::eval::egress_port_view(
                            idx.pods().map(|(_, p)| p),
                            dest,
                            v,
                        ))
                    })
                    .clone()
            });
        let ports_of: &Pod = cluster_view.as_deref().unwrap_or(dest);
        let (now, without) = &self.src_egress[&key];
        let (sp, readings) = match (skip_managed, without) {
            (true, Some(w)) => w,
            _ => now,
        };
        decide_readings(&self.settings, sp, readings, ports_of, peer, port, req)
    }

    /// Invalid policies whose rules select the pod.
    fn invalid_policies(&mut self, dest: PodId) -> Vec<(ObjRef, String)> {
        self.dest_policies(dest, false)
            .invalid
            .iter()
            .map(|(p, why)| (p.obj.clone(), why.clone()))
            .collect()
    }

    // -----------------------------------------------------------------------------------------------------
    // Scrapers.

    fn scraper_from_workload(&self, p: &'a PromWorkload) -> Scraper<'a> {
        let all_pods: Vec<Pod> = promop::workload_pods(self.idx, p)
            .into_iter()
            .map(|(_, pod)| pod.clone())
            .collect();
        // Pods modelled from the object (`check` on manifests) say nothing of readiness.
        let pods: Vec<Pod> = all_pods
            .iter()
            .filter(|p| p.modelled.is_none())
            .cloned()
            .collect();
        let ready_pods = pods.iter().filter(|p| p.ready == Some(true)).count();
        let who = format!("{} {}/{}", p.kind, p.namespace, p.name);
        let available = p.conditions.iter().find(|c| c.type_ == "Available");
        // What the StatefulSets and the Warning Events about them and the pods say (issue 17).
        let set_causes = if ready_pods == 0 && !p.paused {
            scraper_set_causes(self.idx, p, &pods)
        } else {
            Vec::new()
        };
        let readiness = if p.paused {
            Err((reason::SCRAPER_NOT_READY, format!("{who} is paused")))
        } else if !pods.is_empty() {
            if ready_pods > 0 {
                Ok((
                    reason::SCRAPER_READY,
                    format!(
                        "{who} has {ready_pods}/{} pods Ready{}",
                        pods.len(),
                        expected_pods(p, ready_pods)
                    ),
                ))
            } else {
                let detail = available
                    .and_then(|c| c.message.clone().or(c.reason.clone()))
                    .map(|m| format!(" (Available: {m})"))
                    .unwrap_or_default();
                Err((
                    reason::SCRAPER_NOT_READY,
                    format!(
                        "{who} has no Ready pod: {}{detail}{}; its Service has no ready endpoints, so nothing is scraped",
                        pods.iter()
                            .map(|p| format!("{} is {}{}{}", p.name, p.phase, if p.ready == Some(false) { ", not Ready" } else { "" }, pod_problems_text(p)))
                            .collect::<Vec<_>>()
                            .join("; "),
                        causes_text(&set_causes)
                    ),
                ))
            }
        } else if p.has_status {
            let avail = p.available_replicas.unwrap_or(0);
            if avail > 0 || available.is_some_and(|c| c.status == "True") {
                Ok((
                    reason::SCRAPER_READY,
                    format!("{who} reports {avail} available replicas"),
                ))
            } else {
                // Without the StatefulSet's account, what the spec predicts may be the cause.
                let causes = if set_causes.is_empty() {
                    promop::predicted_problems(p, self.idx)
                        .into_iter()
                        .map(|c| format!("its spec predicts: {c}"))
                        .collect()
                } else {
                    set_causes.clone()
                };
                Err((
                    reason::SCRAPER_NOT_READY,
                    format!(
                        "{who} reports no available replica{}{}",
                        available
                            .map(|c| format!(
                                " (Available={}: {})",
                                c.status,
                                c.message.clone().or(c.reason.clone()).unwrap_or_default()
                            ))
                            .unwrap_or_default(),
                        causes_text(&causes)
                    ),
                ))
            }
        } else if !set_causes.is_empty() {
            Err((
                reason::SCRAPER_NOT_READY,
                format!(
                    "{who} has no Ready pod in the input{}",
                    causes_text(&set_causes)
                ),
            ))
        } else {
            // Git: no pod, no status. What the operator would generate from the spec is checked.
            let predicted = promop::predicted_problems(p, self.idx);
            let empty = promop::empty_selections(p, self.idx);
            let notes = if empty.is_empty() {
                String::new()
            } else {
                format!("; {}", empty.join("; "))
            };
            if predicted.is_empty() {
                Ok((
                    reason::SCRAPER_DECLARED,
                    format!("{who} is declared; its readiness is not observed (no status and no pods in the input){notes}"),
                ))
            } else {
                Err((
                    reason::SCRAPER_NOT_READY,
                    format!(
                        "{who} would not become Ready, predicted from its spec (no pod and no status in the input): {}{notes}",
                        predicted.join("; ")
                    ),
                ))
            }
        };
        let sharding = Sharding::of(p, self.cfg.operator_topology_sharding);
        let shards = sharding.shards;
        let unready_shards: Vec<u32> = if shards > 1
            && ready_pods > 0
            && pods.iter().any(|q| q.labels.contains_key(SHARD_LABEL))
        {
            (0..shards)
                .filter(|sh| {
                    let sh = sh.to_string();
                    !pods
                        .iter()
                        .any(|q| q.ready == Some(true) && q.labels.get(SHARD_LABEL) == Some(&sh))
                })
                .collect()
        } else {
            Vec::new()
        };
        let modelled = pods.is_empty();
        let pods = match (modelled, all_pods.is_empty()) {
            (false, _) => pods,
            (true, false) => all_pods,
            (true, true) => vec![modelled_pod(p)],
        };
        Scraper {
            obj: p.obj_ref(),
            workload: Some(p),
            pods,
            modelled,
            readiness,
            sharding,
            unready_shards,
        }
    }

    /// Resolves an intent's scraper: explicit, the cluster default, or the only one there is.
    fn resolve_intent_scraper(
        &self,
        si: &ScrapeIntent,
    ) -> Result<Scraper<'a>, (&'static str, String)> {
        let sref = si.spec.scraper.clone().unwrap_or_default();
        if sref.kind == ScraperKind::Pods {
            let ns = sref.namespace.clone().unwrap_or_default();
            let sel = sref
                .pod_selector
                .as_ref()
                .map(Selector::from_k8s)
                .transpose()
                .map_err(|e| {
                    (
                        reason::SCRAPER_NOT_FOUND,
                        format!("spec.scraper.podSelector: {e}"),
                    )
                })?
                .unwrap_or_else(Selector::nothing);
            let pods: Vec<Pod> = self
                .idx
                .select_pods(&ns, &sel)
                .into_iter()
                .map(|(_, p)| p.clone())
                .collect();
            if pods.is_empty() {
                return Err((
                    reason::SCRAPER_NOT_FOUND,
                    format!("no pod in namespace {ns} matches spec.scraper.podSelector {sel}"),
                ));
            }
            let obj = pod_workload(&pods[0]);
            return Ok(jobs_layer::scraper_from_pods(obj, pods));
        }
        let want_kind = match sref.kind {
            ScraperKind::PrometheusAgent => Kind::PrometheusAgent,
            _ => Kind::Prometheus,
        };
        let (ns, name) = match (&sref.namespace, &sref.name) {
            (Some(ns), Some(n)) => (Some(ns.clone()), Some(n.clone())),
            (ns, None) if si.spec.scraper.is_none() => match &self.cfg.default_scraper {
                Some((dns, dn)) => (Some(dns.clone()), Some(dn.clone())),
                None => (ns.clone(), None),
            },
            (ns, n) => (ns.clone(), n.clone()),
        };
        let candidates: Vec<&'a PromWorkload> = self
            .idx
            .prometheuses()
            .filter(|p| si.spec.scraper.is_none() || p.kind == want_kind)
            .filter(|p| ns.as_ref().is_none_or(|n| &p.namespace == n))
            .filter(|p| name.as_ref().is_none_or(|n| &p.name == n))
            .collect();
        match candidates.as_slice() {
            [one] => Ok(self.scraper_from_workload(one)),
            [] => Err((
                reason::SCRAPER_NOT_FOUND,
                match (&ns, &name) {
                    (Some(ns), Some(n)) => format!("{want_kind} {ns}/{n} does not exist"),
                    _ => "no Prometheus or PrometheusAgent exists, and no default scraper is configured".into(),
                },
            )),
            many => Err((
                reason::SCRAPER_AMBIGUOUS,
                format!(
                    "{} scrapers could serve this intent ({}); name one in spec.scraper or set the cluster default",
                    many.len(),
                    many.iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

/// Which of these pods are modelled from workloads, and what the modelling assumed: empty when none is.
/// `; modelled from Deployment blog-system/was (2 pods: no Pod of it in the input; a modelled pod has
/// no IP, so no verdict here depends on one)`.
fn modelled_note<'p>(pods: impl Iterator<Item = &'p Pod>) -> String {
    let mut by: BTreeMap<&ObjRef, (usize, std::collections::BTreeSet<&str>)> = BTreeMap::new();
    for p in pods {
        if let Some(m) = &p.modelled {
            let e = by.entry(&m.workload).or_default();
            e.0 += 1;
            e.1.extend(m.notes.iter().map(String::as_str));
        }
    }
    if by.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = by
        .iter()
        .map(|(w, (n, _))| format!("{w} ({n} pod{})", if *n == 1 { "" } else { "s" }))
        .collect();
    let notes: std::collections::BTreeSet<&str> =
        by.values().flat_map(|(_, n)| n.iter().copied()).collect();
    format!(
        "; modelled from {} (no Pod of theirs is in the input; a modelled pod has no IP until it runs: \
         Cilium admits pods by identity, so fromCIDR and ipBlock rules never match one either way, and \
         relabeling sees a stand-in address from {}{})",
        parts.join(", "),
        crate::workload::STAND_IN_NETWORK,
        notes.iter().map(|n| format!("; {n}")).collect::<String>()
    )
}

/// The pod prometheus-operator would run for a workload, for inputs that contain the CR but no pods.
pub fn modelled_pod(p: &PromWorkload) -> Pod {
    let mut labels = p.pod_metadata_labels.clone();
    labels.extend(p.pod_identity_labels());
    Pod {
        namespace: p.namespace.clone(),
        name: format!("{}-0", promop::shard_statefulset(p, 0)),
        labels: Arc::new(labels),
        annotations: Arc::new(p.pod_metadata_annotations.clone()),
        service_account: p
            .service_account
            .clone()
            .unwrap_or_else(|| "default".into()),
        host_network: p.host_network,
        node_name: None,
        pod_ip: None,
        host_ip: None,
        phase: "Running".into(),
        ready: None,
        containers: Arc::from([]),
        controller: None,
        uid: None,
        prometheus_config: None,
        modelled: None,
        problems: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Subjects.

/// Evaluates every subject: intents first, then monitors, each in name order.
pub fn evaluate(idx: &ClusterIndex, cfg: &EngineConfig) -> Report {
    evaluate_observed(idx, cfg, None)
}

/// [`evaluate`], with what the scrapers' APIs report for the `Scraped` layer.
pub fn evaluate_observed(
    idx: &ClusterIndex,
    cfg: &EngineConfig,
    observed: Option<&Observed>,
) -> Report {
    let mut engine = Engine::new(idx, cfg).observing(observed);
    let mut subjects = Vec::new();
    for si in idx.intents() {
        subjects.push(engine.intent(si));
    }
    for m in idx.monitors() {
        subjects.push(engine.monitor(m));
    }
    for sc in idx.scrape_configs() {
        subjects.push(engine.scrape_config(sc));
    }
    for pr in idx.probes() {
        subjects.push(engine.probe(pr));
    }
    // scrape_configs jobs: only when some scraper reads a configuration.
    if idx.has_scrape_configs() {
        subjects.extend(engine.scrape_job_subjects());
    }
    Report { subjects }
}

/// Whether a monitor's target scrapes an intent's target: same pod, port and path.
fn scrapes(f: &promop::Target, t: &IntentTarget) -> bool {
    f.pod == t.pod && f.port == t.port && f.path == t.path
}

/// A resolved target of an intent.
struct IntentTarget {
    pod: PodId,
    port: u16,
    port_name: Option<String>,
    path: String,
    https: bool,
}

/// A target with its decisions: as the cluster is, and without scrapepath's own objects.
struct Evaluated {
    pod: PodId,
    /// What decides the shard that scrapes it (`Scraper::pods_for`).
    shard: ShardKey,
    port: u16,
    port_name: Option<String>,
    path: String,
    scraper: usize,
    now: Decision,
    /// `None` when scrapepath's own policies are not among the pod's candidates: then it is `now`.
    without_managed: Option<Decision>,
    mesh_now: MeshDecision,
    /// `None` when no mesh policy of scrapepath's is a candidate: then it is `mesh_now`.
    mesh_without_managed: Option<MeshDecision>,
}

impl Evaluated {
    /// The decision without scrapepath's own objects: whether a remedy is needed (DESIGN.md §4.6).
    fn need(&self) -> &Decision {
        self.without_managed.as_ref().unwrap_or(&self.now)
    }

    fn mesh_need(&self) -> &MeshDecision {
        self.mesh_without_managed.as_ref().unwrap_or(&self.mesh_now)
    }
}

impl<'a> Engine<'a> {
    /// Evaluates one ScrapeIntent.
    pub fn intent(&mut self, si: &ScrapeIntent) -> SubjectReport {
        let ns = si.metadata.namespace.clone().unwrap_or_default();
        let name = si.metadata.name.clone().unwrap_or_default();
        let mode = si
            .spec
            .mode
            .clone()
            .or(self.cfg.default_mode.clone())
            .unwrap_or(Mode::Report);
        let mut conditions = Vec::new();

        // Targets.
        let (targets, targets_cond) = self.intent_targets(si, &ns);
        conditions.push(targets_cond);

        // Scraper.
        let scraper = self.resolve_intent_scraper(si);
        let idx = self.idx;
        conditions.push(match &scraper {
            Ok(s) => {
                // The monitor an intent implies has no relabelings: the address is the key.
                let keyed: Vec<((&str, String), ShardKey)> = targets
                    .iter()
                    .map(|t| {
                        let at = target_address(idx, t.pod, t.port);
                        let key = promop::pod_shard_key(idx, t.pod, &at.1);
                        (at, key)
                    })
                    .collect();
                match s.readiness_for(keyed.iter().map(|((p, a), k)| (*p, a.clone(), k))) {
                    Ok((r, m)) => condition(cond::SCRAPER_READY, true, r, m),
                    Err((r, m)) => condition(cond::SCRAPER_READY, false, r, m),
                }
            }
            Err((r, m)) => condition(cond::SCRAPER_READY, false, r, m.clone()),
        });

        // Monitor.
        let mut remediation = Vec::new();
        conditions.push(match &scraper {
            Ok(s) => self.intent_monitor(si, &ns, &name, s, &targets, &mut remediation),
            Err(_) => unknown(
                cond::MONITOR_SELECTED,
                reason::NO_SCRAPER,
                "no scraper resolved: monitor selection cannot be decided",
            ),
        });

        // Discovery (RBAC): its fix is reported in the message, never part of the Enforce plan.
        conditions.push(match &scraper {
            Ok(s) => self.intent_discovery(si, &ns, s),
            Err(_) => unknown(
                cond::DISCOVERY_PERMITTED,
                reason::NO_SCRAPER,
                "no scraper resolved: its discovery cannot be authorized",
            ),
        });

        // Network.
        let scrapers: Vec<Scraper<'a>> = scraper.into_iter().collect();
        let evaluated: Vec<Evaluated> = self.evaluate_targets(
            targets
                .iter()
                .map(|t| (t.pod, t.port, t.port_name.clone(), t.path.clone(), t.https)),
            &scrapers,
        );
        let (net_cond, blocked_by) = self.network_condition(&evaluated, &scrapers);
        conditions.push(net_cond);
        if let Some(plan) = self.network_remedy(
            &ns,
            &format!("scrapepath-{name}"),
            Some(&name),
            &si.spec.selector,
            &evaluated,
            &scrapers,
        ) {
            remediation.push(plan);
        }
        let (mesh_plan, plan) = self.mesh_remedy(
            &ns,
            &format!("scrapepath-{name}"),
            Some(&name),
            &si.spec.selector,
            &evaluated,
        );
        remediation.extend(mesh_plan);
        let (mesh_cond, mesh_blocked) = self.mesh_condition(&evaluated, &scrapers, &[plan]);
        conditions.push(mesh_cond);
        let mut blocked_by = blocked_by;
        blocked_by.extend(mesh_blocked);
        let (scraped, observed) = self.scraped_condition(&evaluated, &scrapers, None);
        conditions.push(scraped);
        let ready = finish(&mut conditions);
        SubjectReport {
            kind: "ScrapeIntent".into(),
            namespace: ns,
            name,
            ready,
            conditions,
            scrapers: scrapers.iter().map(|s| RefOut::from(&s.obj)).collect(),
            targets: self.targets_out(&evaluated, &scrapers, observed),
            remediation: remediation.into_iter().map(|r| with_owner(r, si)).collect(),
            mode: Some(mode),
            blocked_by,
        }
    }

    fn intent_targets(&mut self, si: &ScrapeIntent, ns: &str) -> (Vec<IntentTarget>, ConditionOut) {
        let sel = match Selector::from_k8s(&si.spec.selector) {
            Ok(s) => s,
            Err(e) => {
                return (
                    vec![],
                    condition(
                        cond::TARGETS_RESOLVED,
                        false,
                        reason::NO_MATCHING_PODS,
                        format!("spec.selector: {e}"),
                    ),
                )
            }
        };
        let pods: Vec<(PodId, &Pod)> = self
            .idx
            .select_pods(ns, &sel)
            .into_iter()
            .filter(|(_, p)| !matches!(p.phase.as_str(), "Failed" | "Succeeded"))
            .collect();
        if pods.is_empty() {
            return (
                vec![],
                condition(
                    cond::TARGETS_RESOLVED,
                    false,
                    reason::NO_MATCHING_PODS,
                    format!("no running pod in namespace {ns} matches spec.selector {sel}"),
                ),
            );
        }
        let mut targets = Vec::new();
        let mut missing = Vec::new();
        for (id, pod) in &pods {
            for ep in &si.spec.endpoints {
                let found = match &ep.port {
                    IntOrString::String(n) => pod.port_by_name(n),
                    IntOrString::Int(n) => {
                        u16::try_from(*n).ok().and_then(|n| pod.port_by_number(n))
                    }
                };
                match found {
                    Some((_, p)) => targets.push(IntentTarget {
                        pod: *id,
                        port: p.number,
                        port_name: p.name.clone(),
                        path: ep.path_or_default().to_string(),
                        https: matches!(ep.scheme_or_default(), crate::api::Scheme::Https),
                    }),
                    None => missing.push(format!(
                        "pod {} declares no port {} (it has {})",
                        pod.name,
                        port_text(&ep.port),
                        declared_ports(pod)
                    )),
                }
            }
        }
        let c = if missing.is_empty() {
            condition(
                cond::TARGETS_RESOLVED,
                true,
                reason::RESOLVED,
                format!(
                    "{} pods, {} targets{}",
                    pods.len(),
                    targets.len(),
                    modelled_note(pods.iter().map(|(_, p)| *p))
                ),
            )
        } else {
            condition(
                cond::TARGETS_RESOLVED,
                false,
                reason::PORT_NOT_FOUND,
                missing.join("; "),
            )
        };
        (targets, c)
    }

    fn intent_monitor(
        &mut self,
        si: &ScrapeIntent,
        ns: &str,
        name: &str,
        scraper: &Scraper<'a>,
        targets: &[IntentTarget],
        remediation: &mut Vec<Value>,
    ) -> ConditionOut {
        let mspec = si.spec.monitor.clone().unwrap_or_default();
        let Some(mkind) = intent_monitor_kind(&mspec.kind) else {
            // Decided from the scraper's scrape_configs, for any kind of scraper.
            return self.annotations_monitor(si, ns, scraper);
        };
        let Some(p) = scraper.workload else {
            return condition(
                cond::MONITOR_SELECTED,
                false,
                reason::SCRAPER_UNMANAGED,
                format!("the scraper {} is not run by prometheus-operator: it reads no PodMonitor or ServiceMonitor (monitor.kind Annotations describes annotation-driven scraping)", scraper.display()),
            );
        };
        // The intent's targets `m` does not scrape, by name (only needed for a verdict's message).
        let uncovered = |m: &Monitor, engine: &mut Engine<'a>| -> Vec<String> {
            let found = engine.monitor_targets(Some(p), m);
            targets
                .iter()
                .filter(|t| !found.iter().any(|f| scrapes(f, t)))
                .map(|t| format!("{}:{} {}", engine.idx.pod(t.pod).name, t.port, t.path))
                .collect()
        };
        let covers_all = |m: &Monitor, engine: &mut Engine<'a>| -> bool {
            let found = engine.monitor_targets(Some(p), m);
            targets.iter().all(|t| found.iter().any(|f| scrapes(f, t)))
        };
        // A referenced monitor.
        if let Some(r) = &mspec.reference {
            let mns = r.namespace.clone().unwrap_or_else(|| ns.to_string());
            let Some(m) = self.idx.monitor(mkind, &mns, &r.name) else {
                return condition(
                    cond::MONITOR_SELECTED,
                    false,
                    reason::MONITOR_MISSING,
                    format!("{} {mns}/{} does not exist", mkind.kind(), r.name),
                );
            };
            let uncovered = uncovered(m, self);
            return self.monitor_verdict(p, m, ns, uncovered, remediation);
        }
        // No reference: an existing monitor that already covers every target, else the managed one.
        // Cheap checks first: kind, ownership, selection; then the (cached) targets; validation last.
        let mut cands: Vec<&Monitor> = self
            .monitors_discovering(ns)
            .into_iter()
            .filter(|m| m.kind == mkind)
            .filter(|m| crate::model::managing_intent(&m.labels).is_none())
            .filter(|m| promop::selects(p, m, self.idx).is_ok())
            .collect();
        cands.retain(|m| covers_all(m, self));
        cands.retain(|m| promop::rejections(p, m).is_empty());
        if let Some(m) = cands.first() {
            return condition(
                cond::MONITOR_SELECTED,
                true,
                reason::SELECTED,
                format!(
                    "{} {}/{} already scrapes every target and is selected by {} {}/{}",
                    m.kind.kind(),
                    m.namespace,
                    m.name,
                    p.kind,
                    p.namespace,
                    p.name
                ),
            );
        }
        let managed_name = format!("scrapepath-{name}");
        let generated = generate_monitor(p, si, ns, &managed_name, mkind, self.idx);
        match generated {
            Err(msg) => condition(
                cond::MONITOR_SELECTED,
                false,
                reason::NAMESPACE_NOT_SELECTED,
                msg,
            ),
            Ok(obj) => {
                remediation.push(obj);
                match self.idx.monitor(mkind, ns, &managed_name) {
                    Some(m) => {
                        let mut scratch = Vec::new();
                        let uncovered = uncovered(m, self);
                        self.monitor_verdict(p, m, ns, uncovered, &mut scratch)
                    }
                    None => condition(
                        cond::MONITOR_SELECTED,
                        false,
                        reason::MONITOR_MISSING,
                        format!("no {} selected by {} {}/{} scrapes these targets; Enforce creates {} {ns}/{managed_name}", mkind.kind(), p.kind, p.namespace, p.name, mkind.kind()),
                    ),
                }
            }
        }
    }

    /// `DiscoveryPermitted` of an intent: the discovery of the monitor that scrapes its targets (the
    /// referenced one, else one generated in the intent's namespace).
    fn intent_discovery(
        &mut self,
        si: &ScrapeIntent,
        ns: &str,
        scraper: &Scraper<'a>,
    ) -> ConditionOut {
        let mspec = si.spec.monitor.clone().unwrap_or_default();
        let Some(mkind) = intent_monitor_kind(&mspec.kind) else {
            // The jobs of the scraper's scrape_configs.
            return self.annotations_discovery(si, ns, scraper);
        };
        let Some(p) = scraper.workload else {
            return unknown(
                cond::DISCOVERY_PERMITTED,
                reason::NOT_EVALUATED,
                format!(
                    "the scraper {} is not run by prometheus-operator: its discovery is not authorized yet",
                    scraper.display()
                ),
            );
        };
        let referenced = mspec.reference.as_ref().and_then(|r| {
            let mns = r.namespace.clone().unwrap_or_else(|| ns.to_string());
            self.idx.monitor(mkind, &mns, &r.name)
        });
        let discovery = match referenced {
            Some(m) => {
                discovery_layer::monitor_discoveries(p, m, self.cfg.operator_topology_sharding)
            }
            None => vec![discovery_layer::Discovery::of_workload(
                p,
                discovery_layer::sd_role(p, mkind, None),
                crate::authz::SdNamespaces::Names(vec![ns.to_string()]),
            )],
        };
        self.discovery_condition_with_commands(&discovery)
    }

    /// MonitorSelected for a known monitor and scraper; proposes the label-add when the monitor is the
    /// intent's own namespace's (DESIGN.md §4.1).
    fn monitor_verdict(
        &self,
        p: &PromWorkload,
        m: &Monitor,
        intent_ns: &str,
        uncovered: Vec<String>,
        remediation: &mut Vec<Value>,
    ) -> ConditionOut {
        match promop::selects(p, m, self.idx) {
            Err(ns @ NotSelected::LabelsMismatch(_)) => {
                let mut msg = ns.message(p, m);
                if m.namespace == intent_ns {
                    remediation.push(label_patch(m, &missing_labels(p, m)));
                } else {
                    msg.push_str(&format!(
                        "; the monitor lives in namespace {}, not the intent's, so scrapepath only reports it",
                        m.namespace
                    ));
                }
                condition(cond::MONITOR_SELECTED, false, reason::LABELS_MISMATCH, msg)
            }
            Err(ns @ (NotSelected::Unmanaged | NotSelected::NullSelector)) => condition(
                cond::MONITOR_SELECTED,
                false,
                reason::SCRAPER_UNMANAGED,
                ns.message(p, m),
            ),
            Err(ns @ NotSelected::NamespaceNotSelected { .. }) => condition(
                cond::MONITOR_SELECTED,
                false,
                reason::NAMESPACE_NOT_SELECTED,
                ns.message(p, m),
            ),
            Err(other) => condition(
                cond::MONITOR_SELECTED,
                false,
                reason::MONITOR_REJECTED,
                other.message(p, m),
            ),
            Ok(()) => {
                let rej = promop::rejections(p, m);
                if !rej.is_empty() {
                    return condition(
                        cond::MONITOR_SELECTED,
                        false,
                        reason::MONITOR_REJECTED,
                        format!(
                            "{} {}/{} is selected but prometheus-operator rejects it: {}",
                            m.kind.kind(),
                            m.namespace,
                            m.name,
                            rej.join("; ")
                        ),
                    );
                }
                if !uncovered.is_empty() {
                    return condition(
                        cond::MONITOR_SELECTED,
                        false,
                        reason::TARGETS_NOT_COVERED,
                        format!(
                            "{} {}/{} is selected but yields no target for {}",
                            m.kind.kind(),
                            m.namespace,
                            m.name,
                            uncovered.join(", ")
                        ),
                    );
                }
                condition(
                    cond::MONITOR_SELECTED,
                    true,
                    reason::SELECTED,
                    format!(
                        "{} {}/{} is selected by {} {}/{}",
                        m.kind.kind(),
                        m.namespace,
                        m.name,
                        p.kind,
                        p.namespace,
                        p.name
                    ),
                )
            }
        }
    }

    /// Evaluates one ScrapeConfig as an audit subject: which workloads select it and whether
    /// prometheus-operator accepts it (`MonitorSelected`, as for monitors); when some do, the targets of
    /// the job the operator generates for each (`promop::scrape_config_job`) through the same layers as
    /// a scrape job's.
    pub fn scrape_config(&mut self, sc: &ScrapeConfigResource) -> SubjectReport {
        let idx = self.idx;
        let verdicts: Vec<(&'a PromWorkload, Result<(), NotSelected>)> = idx
            .prometheuses()
            .map(|p| (p, promop::selects_scrape_config(p, sc, idx)))
            .collect();
        let selected = selection_condition(
            verdicts.is_empty(),
            &verdicts,
            |p| promop::scrape_config_rejections(p, sc),
            |p, e| e.message_for(p, Kind::ScrapeConfig, &sc.namespace, &sc.name),
        );
        // The workloads that select it and accept it: each runs the job the operator generates.
        let running: Vec<&'a PromWorkload> = verdicts
            .iter()
            .filter(|(p, r)| r.is_ok() && promop::scrape_config_rejections(p, sc).is_empty())
            .map(|(p, _)| *p)
            .collect();
        if running.is_empty() || selected.status != "True" {
            let mut conditions = vec![selected];
            let ready = finish(&mut conditions);
            return SubjectReport {
                kind: Kind::ScrapeConfig.to_string(),
                namespace: sc.namespace.clone(),
                name: sc.name.clone(),
                ready,
                conditions,
                scrapers: verdicts
                    .iter()
                    .filter(|(_, r)| r.is_ok())
                    .map(|(p, _)| RefOut::from(&p.obj_ref()))
                    .collect(),
                targets: Vec::new(),
                remediation: Vec::new(),
                mode: None,
                blocked_by: Vec::new(),
            };
        }
        let scrapers: Vec<Scraper<'a>> = running
            .iter()
            .map(|p| self.scraper_from_workload(p))
            .collect();
        let mut jobs = Vec::new();
        for (i, p) in running.iter().enumerate() {
            match promop::scrape_config_job(p, sc) {
                Ok(job) => {
                    let d = crate::scrapeconfig::discover(&job, idx, &p.namespace);
                    jobs.push((i, job, d));
                }
                Err(e) => {
                    let mut conditions = vec![
                        condition(
                            cond::TARGETS_RESOLVED,
                            false,
                            reason::CONFIG_UNREADABLE,
                            format!(
                                "the job prometheus-operator generates for {} {}/{} cannot be read: {e}",
                                Kind::ScrapeConfig,
                                sc.namespace,
                                sc.name
                            ),
                        ),
                        selected,
                    ];
                    let ready = finish(&mut conditions);
                    return SubjectReport {
                        kind: Kind::ScrapeConfig.to_string(),
                        namespace: sc.namespace.clone(),
                        name: sc.name.clone(),
                        ready,
                        conditions,
                        scrapers: scrapers.iter().map(|s| RefOut::from(&s.obj)).collect(),
                        targets: Vec::new(),
                        remediation: Vec::new(),
                        mode: None,
                        blocked_by: Vec::new(),
                    };
                }
            }
        }
        let runs: Vec<(
            usize,
            &crate::scrapeconfig::ScrapeJob,
            &crate::scrapeconfig::Discovery,
        )> = jobs.iter().map(|(i, j, d)| (*i, j, d)).collect();
        let subject = jobs_layer::JobSubject {
            kind: Kind::ScrapeConfig.to_string(),
            namespace: sc.namespace.clone(),
            name: sc.name.clone(),
            remedy_name: format!("scrapepath-{}-{}", sc.namespace, sc.name),
            operator_sharded: true,
        };
        self.job_subject(subject, &scrapers, &runs, selected)
    }

    /// Evaluates one PodMonitor/ServiceMonitor as an audit subject.
    pub fn monitor(&mut self, m: &Monitor) -> SubjectReport {
        let idx = self.idx;
        let all: Vec<&'a PromWorkload> = idx.prometheuses().collect();
        let verdicts: Vec<(&'a PromWorkload, Result<(), NotSelected>)> = all
            .iter()
            .map(|p| (*p, promop::selects(p, m, idx)))
            .collect();
        let selecting: Vec<&'a PromWorkload> = verdicts
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(p, _)| *p)
            .collect();
        // Scrapers to evaluate: those that select it; else those a label fix would make select it.
        let relevant: Vec<&'a PromWorkload> = if !selecting.is_empty() {
            selecting.clone()
        } else {
            let near: Vec<&'a PromWorkload> = verdicts
                .iter()
                .filter(|(_, r)| matches!(r, Err(NotSelected::LabelsMismatch(_))))
                .map(|(p, _)| *p)
                .collect();
            if near.is_empty() {
                all.clone()
            } else {
                near
            }
        };
        let mut conditions = Vec::new();
        let mut remediation = Vec::new();

        // Targets, per scraper (namespace selectors may differ with ignoreNamespaceSelectors).
        let scrapers: Vec<Scraper<'a>> = relevant
            .iter()
            .map(|p| self.scraper_from_workload(p))
            .collect();
        let mut per_scraper: Vec<(usize, promop::Target)> = Vec::new();
        // Targets at addresses no pod backs (nodes, the API server, external addresses).
        let mut addresses: Vec<(usize, promop::AddressTarget)> = Vec::new();
        if scrapers.is_empty() {
            let (pods, addrs) = promop::discover(None, m, idx);
            per_scraper.extend(pods.into_iter().map(|t| (usize::MAX, t)));
            addresses.extend(addrs.into_iter().map(|t| (usize::MAX, t)));
        }
        let mut seen: std::collections::HashSet<(usize, PodId, u16)> =
            std::collections::HashSet::new();
        let mut seen_addresses: std::collections::HashSet<(usize, String, u16)> =
            std::collections::HashSet::new();
        for (i, s) in scrapers.iter().enumerate() {
            let (pods, addrs) = self.monitor_discovery(s.workload, m);
            for t in pods.iter() {
                // One target entry per (pod, port, scraper).
                if seen.insert((i, t.pod, t.port)) {
                    per_scraper.push((i, t.clone()));
                }
            }
            for t in addrs.iter() {
                if seen_addresses.insert((i, t.ip.clone(), t.port)) {
                    addresses.push((i, t.clone()));
                }
            }
        }
        conditions.push(self.monitor_targets_condition(m, &per_scraper, &addresses));

        // Scrapers.
        conditions.push(
            self.scrapers_ready_condition(
                &scrapers,
                &per_scraper
                    .iter()
                    .map(|(si, t)| (*si, target_address(idx, t.pod, t.port), &t.shard))
                    .chain(address_layer::readiness_targets(&addresses))
                    .collect::<Vec<_>>(),
            ),
        );

        // Selection.
        conditions.push(selection_condition(
            all.is_empty(),
            &verdicts,
            |p| promop::rejections(p, m),
            |p, e| e.message(p, m),
        ));
        for (p, r) in &verdicts {
            if selecting.is_empty() && matches!(r, Err(NotSelected::LabelsMismatch(_))) {
                remediation.push(label_patch(m, &missing_labels(p, m)));
                break;
            }
        }

        // Discovery (RBAC).
        let discoveries: Vec<discovery_layer::Discovery> = selecting
            .iter()
            .flat_map(|p| {
                discovery_layer::monitor_discoveries(p, m, self.cfg.operator_topology_sharding)
            })
            .collect();
        conditions.push(self.discovery_condition(&discoveries, &mut remediation));

        // Network.
        let evaluated = self.evaluate_targets_for(&per_scraper, &scrapers);
        let (net_cond, mut blocked_by) = self.network_condition(&evaluated, &scrapers);
        let address_evaluated = self.evaluate_addresses(&addresses, &scrapers);
        conditions.push(self.address_network_condition(
            net_cond,
            evaluated.len(),
            &address_evaluated,
            &scrapers,
            &mut blocked_by,
        ));
        // Proposed network and mesh fixes, one per target namespace, scoped by the monitor's own pod
        // selector.
        let mut plans = Vec::new();
        let mut by_ns: BTreeMap<String, Vec<&Evaluated>> = BTreeMap::new();
        for e in &evaluated {
            by_ns
                .entry(idx.pod(e.pod).namespace.clone())
                .or_default()
                .push(e);
        }
        for (tns, evs) in by_ns {
            let selector = match m.kind {
                MonitorKind::PodMonitor => m.raw_selector.clone(),
                MonitorKind::ServiceMonitor => pods_selector(
                    &evs.iter().map(|e| idx.pod(e.pod)).collect::<Vec<_>>(),
                    self.settings.version,
                ),
            };
            if let Some(plan) = self.network_remedy(
                &tns,
                &format!("scrapepath-{}-{}", m.namespace, m.name),
                None,
                &selector,
                &evaluated,
                &scrapers,
            ) {
                remediation.push(plan);
            }
            let (mesh_plan, plan) = self.mesh_remedy(
                &tns,
                &format!("scrapepath-{}-{}", m.namespace, m.name),
                None,
                &selector,
                &evaluated,
            );
            remediation.extend(mesh_plan);
            plans.push(plan);
        }
        let (mesh_cond, mesh_blocked) = self.mesh_condition(&evaluated, &scrapers, &plans);
        conditions.push(self.address_mesh_condition(
            mesh_cond,
            evaluated.len(),
            &address_evaluated,
            &scrapers,
        ));
        blocked_by.extend(mesh_blocked);
        let pool = crate::observe::monitor_pool(m.kind, &m.namespace, &m.name);
        let (scraped, observed) = self.scraped_condition(&evaluated, &scrapers, Some(&pool));
        conditions.push(scraped);
        let ready = finish(&mut conditions);
        let mut targets = self.targets_out(&evaluated, &scrapers, observed);
        targets.extend(self.address_targets_out(&address_evaluated, &scrapers));
        SubjectReport {
            kind: m.kind.kind().to_string(),
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            ready,
            conditions,
            scrapers: scrapers.iter().map(|s| RefOut::from(&s.obj)).collect(),
            targets,
            remediation,
            mode: None,
            blocked_by,
        }
    }

    /// `ScraperReady` of a subject whose targets are `targets` (the scraper's index, `(pod, ip:port)`):
    /// not ready when some scraper is not (or the shard owning one of its targets is not).
    pub(super) fn scrapers_ready_condition(
        &self,
        scrapers: &[Scraper<'a>],
        targets: &[(usize, (&str, String), &ShardKey)],
    ) -> ConditionOut {
        if scrapers.is_empty() {
            return condition(
                cond::SCRAPER_READY,
                false,
                reason::SCRAPER_NOT_FOUND,
                "no Prometheus or PrometheusAgent exists",
            );
        }
        let readiness: Vec<Readiness> = scrapers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.readiness_for(
                    targets
                        .iter()
                        .filter(|(si, _, _)| *si == i)
                        .map(|(_, (pod, addr), key)| (*pod, addr.clone(), *key)),
                )
            })
            .collect();
        let bad: Vec<String> = readiness
            .iter()
            .filter_map(|r| r.as_ref().err().map(|(_, m)| m.clone()))
            .collect();
        if !bad.is_empty() {
            return condition(
                cond::SCRAPER_READY,
                false,
                reason::SCRAPER_NOT_READY,
                bad.join("; "),
            );
        }
        condition(
            cond::SCRAPER_READY,
            true,
            readiness[0]
                .as_ref()
                .map(|(r, _)| *r)
                .unwrap_or(reason::SCRAPER_READY),
            readiness
                .iter()
                .filter_map(|r| r.as_ref().ok().map(|(_, m)| m.clone()))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn monitor_targets_condition(
        &self,
        m: &Monitor,
        targets: &[(usize, promop::Target)],
        addresses: &[(usize, promop::AddressTarget)],
    ) -> ConditionOut {
        if !targets.is_empty() || !addresses.is_empty() {
            let pods: std::collections::BTreeSet<PodId> =
                targets.iter().map(|(_, t)| t.pod).collect();
            let pods_text = format!(
                "{} pods, {} targets{}",
                pods.len(),
                targets.len(),
                modelled_note(pods.iter().map(|id| self.idx.pod(*id)))
            );
            let msg =
                address_layer::resolved_text(self.idx, &pods_text, targets.is_empty(), addresses);
            return condition(cond::TARGETS_RESOLVED, true, reason::RESOLVED, msg);
        }
        if let Err(e) = &m.selector {
            return condition(
                cond::TARGETS_RESOLVED,
                false,
                reason::NO_MATCHING_PODS,
                format!("spec.selector does not parse: {e}"),
            );
        }
        // Explain: no pod matches, or pods match but no port does.
        let any_pod = m.endpoints.iter().any(|ep| {
            let mut probe = m.clone();
            probe.endpoints = vec![crate::model::MonitorEndpoint {
                port: None,
                port_number: None,
                target_port: None,
                relabelings: vec![],
                ..ep.clone()
            }];
            !promop::targets(None, &probe, self.idx).is_empty()
        });
        if any_pod {
            let ports: Vec<String> = m
                .endpoints
                .iter()
                .map(|e| {
                    e.port
                        .clone()
                        .or(e.port_number.map(|n| n.to_string()))
                        .or(e.target_port.as_ref().map(port_text))
                        .unwrap_or_else(|| "(any)".into())
                })
                .collect();
            condition(
                cond::TARGETS_RESOLVED,
                false,
                reason::PORT_NOT_FOUND,
                format!("pods match the selector, but no container port matches {} (or relabelings drop every target)", ports.join(", ")),
            )
        } else if m.kind == crate::model::MonitorKind::ServiceMonitor {
            // A ServiceMonitor selects Services, then the pods behind them.
            let namespaces = promop::discovery_namespaces(None, m);
            let services: Vec<String> = match &namespaces {
                Some(set) => set.iter().flat_map(|ns| self.idx.services_in(ns)).collect(),
                None => self.idx.services().collect::<Vec<_>>(),
            }
            .into_iter()
            .filter(|s| m.selector.as_ref().is_ok_and(|sel| sel.matches(&s.labels)))
            .map(|s| format!("{}/{}", s.namespace, s.name))
            .collect();
            let where_ = match &namespaces {
                Some(set) => format!(
                    "namespace{} {}",
                    if set.len() == 1 { "" } else { "s" },
                    set.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                None => "any namespace".to_string(),
            };
            if services.is_empty() {
                condition(
                    cond::TARGETS_RESOLVED,
                    false,
                    reason::NO_MATCHING_SERVICES,
                    format!("no Service in {where_} matches the ServiceMonitor's selector"),
                )
            } else {
                condition(
                    cond::TARGETS_RESOLVED,
                    false,
                    reason::NO_MATCHING_PODS,
                    format!(
                        "Service {} matches the selector, but no pod backs it: no EndpointSlice of it is in the input, and its selector matches no pod (given, or modelled from a workload)",
                        services.join(", ")
                    ),
                )
            }
        } else {
            condition(
                cond::TARGETS_RESOLVED,
                false,
                reason::NO_MATCHING_PODS,
                "no pod in the monitor's namespaces matches its selector",
            )
        }
    }

    fn evaluate_targets(
        &mut self,
        targets: impl Iterator<Item = (PodId, u16, Option<String>, String, bool)>,
        scrapers: &[Scraper<'a>],
    ) -> Vec<Evaluated> {
        let list: Vec<(PodId, u16, Option<String>, String, bool)> = targets.collect();
        let mut out = Vec::new();
        for (si, s) in scrapers.iter().enumerate() {
            for (pod, port, port_name, path, https) in &list {
                let shard =
                    promop::pod_shard_key(self.idx, *pod, &target_address(self.idx, *pod, *port).1);
                out.push(self.evaluate_one(
                    *pod,
                    *port,
                    port_name.clone(),
                    path,
                    *https,
                    &shard,
                    si,
                    s,
                ));
            }
        }
        out
    }

    fn evaluate_targets_for(
        &mut self,
        targets: &[(usize, promop::Target)],
        scrapers: &[Scraper<'a>],
    ) -> Vec<Evaluated> {
        targets
            .iter()
            .filter(|(s, _)| *s < scrapers.len())
            .map(|(s, t)| {
                self.evaluate_one(
                    t.pod,
                    t.port,
                    t.port_name.clone(),
                    &t.path,
                    t.scheme == "https",
                    &t.shard,
                    *s,
                    &scrapers[*s],
                )
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_one(
        &mut self,
        pod: PodId,
        port: u16,
        port_name: Option<String>,
        path: &str,
        https: bool,
        shard: &ShardKey,
        si: usize,
        s: &Scraper<'a>,
    ) -> Evaluated {
        let now = self.network(pod, s, shard, port, path, false);
        // Without managed candidates the two views are the same decision.
        let without_managed = self
            .dest
            .get(&pod)
            .is_some_and(|slot| self.dest_sets[*slot].1.is_some())
            .then(|| self.network(pod, s, shard, port, path, true));
        let mesh_now = self.mesh(pod, s, port, path, https, false);
        let p = self.idx.pod(pod);
        let mesh_without_managed = (mesh_now.verdict != MeshVerdict::NotApplicable
            && self
                .idx
                .mesh_candidates(&p.namespace)
                .iter()
                .any(|m| crate::model::managing_intent(&m.labels).is_some()))
        .then(|| self.mesh(pod, s, port, path, https, true));
        Evaluated {
            pod,
            shard: shard.clone(),
            port,
            port_name,
            path: path.to_string(),
            scraper: si,
            now,
            without_managed,
            mesh_now,
            mesh_without_managed,
        }
    }

    fn network_condition(
        &mut self,
        evaluated: &[Evaluated],
        scrapers: &[Scraper<'a>],
    ) -> (ConditionOut, Vec<(ObjRef, String)>) {
        if let Some(c) = undecidable(cond::NETWORK_REACHABLE, "reachability", evaluated, scrapers) {
            return (c, vec![]);
        }
        let blocked: Vec<&Evaluated> = evaluated
            .iter()
            .filter(|e| e.now.verdict != NetVerdict::Allowed)
            .collect();
        let mut blocked_by: Vec<(ObjRef, String)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut reason_ = reason::ALLOWED;
        for e in &blocked {
            let r = blocked_reason(&e.now, &mut blocked_by, &mut seen);
            if reason_ == reason::ALLOWED {
                reason_ = r;
            }
        }
        let invalid: Vec<(ObjRef, String)> = {
            let mut v: Vec<(ObjRef, String)> = Vec::new();
            let mut listed = std::collections::BTreeSet::new();
            for e in evaluated {
                for i in self.invalid_policies(e.pod) {
                    if listed.insert(i.clone()) {
                        v.push(i);
                    }
                }
            }
            v
        };
        let total = evaluated.len();
        // A policy Cilium rejects is named whatever else blocks the targets: it is the next surprise
        // once the blocking rule is fixed (and may be what was meant to admit the scraper).
        let invalid_note = format!(
            "{} selects these pods and Cilium rejects it, so it has no effect until fixed: {}",
            invalid
                .iter()
                .map(|(o, _)| o.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            invalid
                .iter()
                .map(|(o, m)| format!("{}: {m}", o.name))
                .collect::<Vec<_>>()
                .join("; ")
        );
        for (o, _) in &invalid {
            if seen.insert(o.clone()) {
                blocked_by.push((o.clone(), reason::INVALID_POLICY.to_string()));
            }
        }
        let c = if blocked.is_empty() && invalid.is_empty() {
            condition(
                cond::NETWORK_REACHABLE,
                true,
                reason::ALLOWED,
                format!(
                    "{total}/{total} targets admit the scraper ({}){}",
                    self.settings_note(),
                    self.host_egress_note(scrapers)
                ),
            )
        } else if blocked.is_empty() {
            condition(
                cond::NETWORK_REACHABLE,
                false,
                reason::INVALID_POLICY,
                format!("every target admits the scraper now, but {invalid_note}"),
            )
        } else {
            // Group targets by reason text so the message names each blocking rule once.
            let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for e in &blocked {
                let pod = self.idx.pod(e.pod);
                groups
                    .entry(e.now.reason.clone())
                    .or_default()
                    .push(format!("{}:{}", pod.display(), e.port));
            }
            let mut parts: Vec<String> = groups
                .iter()
                .map(|(r, ts)| format!("{}: {r}", ts.join(", ")))
                .collect();
            parts.extend(self.egress_remedy(&blocked, scrapers));
            condition(
                cond::NETWORK_REACHABLE,
                false,
                reason_,
                format!(
                    "{}/{total} targets are unreachable from {}. {}{}",
                    blocked.len(),
                    scraper_names(scrapers),
                    parts.join(". "),
                    if invalid.is_empty() {
                        String::new()
                    } else {
                        format!(". Besides, {invalid_note}")
                    }
                ),
            )
        };
        (c, blocked_by)
    }

    /// E5.2: a hostNetwork scraper's egress is the host firewall's, which is not evaluated; when host
    /// policies (`nodeSelector` rules) with egress rules exist, the message names them.
    fn host_egress_note(&self, scrapers: &[Scraper<'a>]) -> String {
        if !scrapers
            .iter()
            .any(|s| s.pods.iter().any(|p| p.host_network))
        {
            return String::new();
        }
        let host: Vec<String> = self
            .idx
            .policies()
            .filter(|p| {
                p.rules.iter().any(|r| {
                    r.subject == crate::cilium::policy::Subject::Nodes && {
                        let (allow, deny) = r.entries(Direction::Egress);
                        allow.iter().chain(deny).any(|e| !e.is_empty())
                    }
                })
            })
            .map(|p| p.obj.to_string())
            .collect();
        if host.is_empty() {
            return String::new();
        }
        format!(
            "; the scraper runs in the host network, so its egress is the host firewall's, which scrapepath does not evaluate: {} has host egress rules",
            host.join(", ")
        )
    }

    fn settings_note(&self) -> String {
        format!(
            "Cilium {} from {}",
            self.settings.version, self.settings.version_source
        )
    }

    fn targets_out(
        &self,
        evaluated: &[Evaluated],
        scrapers: &[Scraper<'a>],
        observed: Vec<Option<ObservedOut>>,
    ) -> Vec<TargetOut> {
        let shared = &mut *self.shared_out.borrow_mut();
        evaluated
            .iter()
            .zip(observed)
            .map(|(e, observed)| {
                let pod = self.idx.pod(e.pod);
                TargetOut {
                    pod: pod.display(),
                    workload: pod.modelled.as_ref().map(|m| RefOut::from(&m.workload)),
                    address: None,
                    port: e.port,
                    port_name: e.port_name.clone(),
                    path: e.path.clone(),
                    scraper: scrapers[e.scraper].display(),
                    network: LayerOut::of_network(&e.now, shared),
                    mesh: LayerOut {
                        verdict: e.mesh_now.verdict.as_str().to_string(),
                        reason: shared.text(format!(
                            "{} [istio rule {}]",
                            e.mesh_now.reason, e.mesh_now.rule
                        )),
                        decided_by: shared.refs(&e.mesh_now.decided_by),
                    },
                    observed,
                }
            })
            .collect()
    }

    /// The egress rule that would let each scraper reach the targets its own egress drops (E7), as text
    /// for the condition message: reported only, never applied (scrapepath writes nothing in the
    /// scraper's namespace; see the README). One policy per scraper, scoped to its pods' identity
    /// labels, with one element per target namespace naming the targets' common identity labels and the
    /// ports. A target an explicit egress deny drops gets no allow: the deny wins over it (E5.1).
    fn egress_remedy(&mut self, blocked: &[&Evaluated], scrapers: &[Scraper<'a>]) -> Vec<String> {
        let v = self.settings.version;
        let use_cilium = match self.cfg.policy_backend {
            PolicyBackend::Cilium => true,
            PolicyBackend::Kubernetes => false,
            PolicyBackend::Auto => self.idx.cilium_present(),
        };
        // scraper → target namespace → (target pods, port → HTTP path when only L7 refuses it).
        type Wanted<'p> = BTreeMap<String, (Vec<&'p Pod>, BTreeMap<u16, Option<String>>)>;
        let mut by_scraper: BTreeMap<usize, Wanted<'_>> = BTreeMap::new();
        let idx = self.idx;
        for e in blocked {
            // The scraper's egress decision: the target's own when the egress decided, else (the
            // target's ingress refuses first) the first scraper pod whose egress refuses too.
            let d = if e.now.side == Direction::Egress {
                Some(e.now.clone())
            } else {
                let dest = idx.pod(e.pod);
                let req = ScrapeRequest::to(dest, e.port, &e.path);
                scrapers[e.scraper]
                    .pods_for(&e.shard)
                    .into_iter()
                    .filter(|src| !crate::cilium::eval::is_same_pod(src, dest))
                    .find_map(|src| {
                        self.egress(src, e.pod, e.port, &req, false)
                            .filter(|d| d.verdict != NetVerdict::Allowed)
                    })
            };
            let Some(d) = d.filter(|d| matches!(d.basis, Basis::DefaultDeny | Basis::L7)) else {
                continue;
            };
            let pod = idx.pod(e.pod);
            let (pods, ports) = by_scraper
                .entry(e.scraper)
                .or_default()
                .entry(pod.namespace.clone())
                .or_default();
            if !pods.iter().any(|p| std::ptr::eq(*p, pod)) {
                pods.push(pod);
            }
            let l7 = (d.basis == Basis::L7).then(|| e.path.clone());
            let entry = ports.entry(e.port).or_insert(l7.clone());
            if l7.is_none() {
                *entry = None;
            }
        }
        let mut out = Vec::new();
        for (si, wanted) in by_scraper {
            let scraper = &scrapers[si];
            let own = scraper_identity_labels(scraper, v);
            let name = format!("scrapepath-egress-{}", scraper.obj.name);
            let obj = if use_cilium {
                let elems: Vec<Value> = wanted
                    .iter()
                    .map(|(tns, (pods, ports))| {
                        let port_rules: Vec<Value> = ports
                            .iter()
                            .map(|(port, l7)| {
                                let mut pr = json!({"ports": [{"port": port.to_string(), "protocol": "TCP"}]});
                                if let Some(path) = l7 {
                                    pr["rules"] = json!({"http": [{"method": "GET", "path": regex::escape(path)}]});
                                }
                                pr
                            })
                            .collect();
                        if pods.iter().all(|p| p.host_network) {
                            return json!({"toEntities": ["host", "remote-node"], "toPorts": port_rules});
                        }
                        let mut ml = serde_json::Map::new();
                        ml.insert("k8s:io.kubernetes.pod.namespace".into(), json!(tns));
                        for (k, val) in common_identity_labels(pods.iter().copied(), v) {
                            ml.insert(k, json!(val));
                        }
                        json!({"toEndpoints": [{"matchLabels": ml}], "toPorts": port_rules})
                    })
                    .collect();
                let mut spec = json!({
                    "endpointSelector": {"matchLabels": own},
                    "egress": elems,
                });
                if v >= Version::new(1, 16) {
                    spec["enableDefaultDeny"] = json!({"egress": false});
                }
                json!({
                    "apiVersion": "cilium.io/v2",
                    "kind": "CiliumNetworkPolicy",
                    "metadata": {"name": name, "namespace": scraper.obj.namespace},
                    "spec": spec,
                })
            } else {
                let elems: Vec<Value> = wanted
                    .iter()
                    .filter(|(_, (pods, _))| !pods.iter().any(|p| p.host_network))
                    .map(|(tns, (pods, ports))| {
                        json!({
                            "to": [{
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": tns}},
                                "podSelector": {"matchLabels": common_identity_labels(pods.iter().copied(), v)},
                            }],
                            "ports": ports.keys().map(|p| json!({"port": p, "protocol": "TCP"})).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                if elems.is_empty() {
                    continue; // a NetworkPolicy names no node
                }
                json!({
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": name, "namespace": scraper.obj.namespace},
                    "spec": {
                        "podSelector": {"matchLabels": own},
                        "policyTypes": ["Egress"],
                        "egress": elems,
                    },
                })
            };
            out.push(format!(
                "Fix for {}, reported only (scrapepath never writes in the scraper's namespace): apply {obj}",
                scraper.display()
            ));
        }
        out
    }

    /// The least-privilege policy that opens the blocked targets (DESIGN.md §4.2), when one is needed and
    /// allowed. Need is judged without scrapepath's own policies.
    fn network_remedy(
        &mut self,
        ns: &str,
        name: &str,
        intent: Option<&str>,
        selector: &LabelSelector,
        evaluated: &[Evaluated],
        scrapers: &[Scraper<'a>],
    ) -> Option<Value> {
        let needing: Vec<&Evaluated> = evaluated
            .iter()
            .filter(|e| matches!(e.need().basis, Basis::DefaultDeny | Basis::L7))
            .filter(|e| e.need().side == Direction::Ingress)
            .filter(|e| self.idx.pod(e.pod).namespace == ns)
            .collect();
        if needing.is_empty() {
            return None;
        }
        let scraper = &scrapers[needing[0].scraper];
        let use_cilium = match self.cfg.policy_backend {
            PolicyBackend::Cilium => true,
            PolicyBackend::Kubernetes => false,
            PolicyBackend::Auto => self.idx.cilium_present(),
        };
        // A policy must never isolate a pod that is not isolated already (KNP always isolates; CNP does
        // before Cilium 1.16, where enableDefaultDeny does not exist).
        let isolates = !use_cilium || self.settings.version < Version::new(1, 16);
        if isolates {
            let sel = Selector::from_k8s(selector).ok()?;
            let pods: Vec<PodId> = self
                .idx
                .select_pods(ns, &sel)
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            for id in pods {
                if !self.dest_policies(id, true).default_deny {
                    return None;
                }
            }
        }
        let mut ports: BTreeMap<u16, Option<String>> = BTreeMap::new();
        for e in &needing {
            let l7 = (e.need().basis == Basis::L7).then(|| e.path.clone());
            // One L4-blocked target on a port makes the rule L4: an HTTP rule would not open it.
            let entry = ports.entry(e.port).or_insert(l7.clone());
            if l7.is_none() {
                *entry = None;
            }
        }
        let mut labels = serde_json::Map::new();
        labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY_VALUE));
        if let Some(i) = intent {
            labels.insert(INTENT_LABEL.into(), json!(i));
        }
        let peer_labels = scraper_identity_labels(scraper, self.settings.version);
        let host_network = scraper.pods.iter().any(|p| p.host_network);
        if use_cilium {
            let mut port_rules = Vec::new();
            for (port, l7) in &ports {
                let mut pr = json!({"ports": [{"port": port.to_string(), "protocol": "TCP"}]});
                if let Some(path) = l7 {
                    pr["rules"] = json!({"http": [{"method": "GET", "path": regex::escape(path)}]});
                }
                port_rules.push(pr);
            }
            let from = if host_network {
                json!({"fromEntities": ["remote-node", "host"], "toPorts": port_rules})
            } else {
                let mut ml = serde_json::Map::new();
                ml.insert(
                    "k8s:io.kubernetes.pod.namespace".into(),
                    json!(scraper.obj.namespace),
                );
                for (k, v) in &peer_labels {
                    ml.insert(k.clone(), json!(v));
                }
                json!({"fromEndpoints": [{"matchLabels": ml}], "toPorts": port_rules})
            };
            let mut spec = json!({
                "description": format!("scrapepath: admit {} to the scrape ports of these pods", scraper.display()),
                "endpointSelector": selector,
                "ingress": [from],
            });
            if self.settings.version >= Version::new(1, 16) {
                spec["enableDefaultDeny"] = json!({"ingress": false});
            }
            Some(json!({
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": spec,
            }))
        } else {
            if host_network || ports.values().any(Option::is_some) {
                return None; // a NetworkPolicy can name neither the node nor an HTTP path
            }
            let mut pod_sel = serde_json::Map::new();
            for (k, v) in &peer_labels {
                pod_sel.insert(k.clone(), json!(v));
            }
            Some(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {
                    "podSelector": selector,
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [{
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": scraper.obj.namespace}},
                            "podSelector": {"matchLabels": pod_sel},
                        }],
                        "ports": ports.keys().map(|p| json!({"port": p, "protocol": "TCP"})).collect::<Vec<_>>(),
                    }],
                },
            }))
        }
    }
}

/// Labels that identify the scraper's pods and survive Cilium's identity filter: those common to every
/// pod, minus the per-pod and per-revision ones. The shard label goes too, so a sharded Prometheus is
/// admitted with all its shards: that is the least that stays right, since the shard that scrapes a
/// target is the hashmod of its address, which changes whenever the target's pod is recreated.
fn scraper_identity_labels(s: &Scraper<'_>, v: Version) -> BTreeMap<String, String> {
    const VOLATILE: &[&str] = &[
        "operator.prometheus.io/shard",
        "app.kubernetes.io/version",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
    ];
    let preferred: Option<Labels> = s.workload.map(|w| {
        let mut l = Labels::new();
        let ident = w.pod_identity_labels();
        for k in ["app.kubernetes.io/name", "operator.prometheus.io/name"] {
            if let Some(v) = ident.get(k) {
                l.insert(k.to_string(), v.clone());
            }
        }
        l
    });
    let mut common = common_identity_labels(s.pods.iter(), v);
    common.retain(|k, _| !VOLATILE.contains(&k.as_str()));
    match preferred {
        Some(pref) if pref.iter().all(|(k, v)| common.get(k) == Some(v)) => pref,
        _ => common,
    }
}

/// A selector for a set of pods: the labels they share (identity labels only).
fn pods_selector(pods: &[&Pod], v: Version) -> LabelSelector {
    let common = common_identity_labels(pods.iter().copied(), v);
    LabelSelector {
        match_labels: (!common.is_empty()).then_some(common),
        match_expressions: None,
    }
}

/// The identity labels (R2) every pod carries with the same value.
fn common_identity_labels<'p>(pods: impl Iterator<Item = &'p Pod>, v: Version) -> Labels {
    let mut common: Option<Labels> = None;
    // A label set shared by several pods (one workload's) narrows the result once.
    let mut seen: HashSet<*const Labels> = HashSet::new();
    for p in pods {
        if !seen.insert(Arc::as_ptr(&p.labels)) {
            continue;
        }
        let l: Labels = p
            .labels
            .iter()
            .filter(|(k, _)| crate::cilium::eval::is_identity_label(k, v))
            .map(|(k, val)| (k.clone(), val.clone()))
            .collect();
        common = Some(match common {
            None => l,
            Some(c) => c.into_iter().filter(|(k, v)| l.get(k) == Some(v)).collect(),
        });
    }
    common.unwrap_or_default()
}

/// Labels a monitor must carry to be selected by `p`: matchLabels, the first value of `In`, and a value
/// for `Exists`.
fn missing_labels(p: &PromWorkload, m: &Monitor) -> Labels {
    let sel = match m.kind {
        MonitorKind::PodMonitor => &p.pod_monitor_selector,
        MonitorKind::ServiceMonitor => &p.service_monitor_selector,
    };
    required_labels(sel.as_ref().ok())
        .into_iter()
        .filter(|(k, v)| m.labels.get(k) != Some(v))
        .collect()
}

fn required_labels(sel: Option<&Selector>) -> Labels {
    let mut out = Labels::new();
    for r in sel.iter().flat_map(|s| s.requirements.iter()) {
        match &r.op {
            Operator::In(v) => {
                out.insert(r.key.clone(), v[0].clone());
            }
            Operator::Exists => {
                out.insert(r.key.clone(), "true".into());
            }
            _ => {}
        }
    }
    out
}

/// A server-side-apply body that adds only the missing labels to an existing monitor.
fn label_patch(m: &Monitor, labels: &Labels) -> Value {
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": m.kind.kind().to_string(),
        "metadata": {"name": m.name, "namespace": m.namespace, "labels": labels},
    })
}

/// The monitor kind an intent's `monitor.kind` names; `None` for `Annotations` (the scraper's
/// scrape_configs jobs).
fn intent_monitor_kind(kind: &IntentMonitorKind) -> Option<MonitorKind> {
    match kind {
        IntentMonitorKind::PodMonitor => Some(MonitorKind::PodMonitor),
        IntentMonitorKind::ServiceMonitor => Some(MonitorKind::ServiceMonitor),
        IntentMonitorKind::Annotations => None,
    }
}

/// The PodMonitor/ServiceMonitor Enforce creates for an intent, labelled for its scraper.
fn generate_monitor(
    p: &PromWorkload,
    si: &ScrapeIntent,
    ns: &str,
    name: &str,
    kind: MonitorKind,
    idx: &ClusterIndex,
) -> Result<Value, String> {
    let (sel, ns_sel, sel_field, ns_field) = match kind {
        MonitorKind::PodMonitor => (
            &p.pod_monitor_selector,
            &p.pod_monitor_ns_selector,
            "podMonitorSelector",
            "podMonitorNamespaceSelector",
        ),
        MonitorKind::ServiceMonitor => (
            &p.service_monitor_selector,
            &p.service_monitor_ns_selector,
            "serviceMonitorSelector",
            "serviceMonitorNamespaceSelector",
        ),
    };
    let who = format!("{} {}/{}", p.kind, p.namespace, p.name);
    let ns_ok = match ns_sel {
        None => ns == p.namespace,
        Some(Ok(s)) => s.matches(&idx.namespace_labels(ns)),
        Some(Err(_)) => false,
    };
    if !ns_ok {
        return Err(format!(
            "{who} takes {}s only from namespaces matching spec.{ns_field}, and namespace {ns} does not match: a monitor here would never be read (label the namespace or widen the selector)",
            kind.kind()
        ));
    }
    let sel = sel
        .as_ref()
        .map_err(|e| format!("{who} spec.{sel_field} does not parse: {e}"))?;
    if sel.nothing {
        return Err(format!(
            "{who} has a null spec.{sel_field}: it reads no {}",
            kind.kind()
        ));
    }
    let mut labels: serde_json::Map<String, Value> = required_labels(Some(sel))
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY_VALUE));
    labels.insert(
        INTENT_LABEL.into(),
        json!(si.metadata.name.clone().unwrap_or_default()),
    );
    let endpoints: Vec<Value> = si
        .spec
        .endpoints
        .iter()
        .map(|ep| {
            let mut e = serde_json::Map::new();
            match (&ep.port, kind) {
                (IntOrString::String(n), _) => {
                    e.insert("port".into(), json!(n));
                }
                (IntOrString::Int(n), MonitorKind::PodMonitor) => {
                    e.insert("portNumber".into(), json!(n));
                }
                (IntOrString::Int(n), MonitorKind::ServiceMonitor) => {
                    e.insert("targetPort".into(), json!(n));
                }
            }
            e.insert("path".into(), json!(ep.path_or_default()));
            e.insert(
                "scheme".into(),
                json!(
                    if matches!(ep.scheme_or_default(), crate::api::Scheme::Https) {
                        "https"
                    } else {
                        "http"
                    }
                ),
            );
            if let Some(i) = &ep.interval {
                e.insert("interval".into(), json!(i));
            }
            Value::Object(e)
        })
        .collect();
    let list = match kind {
        MonitorKind::PodMonitor => "podMetricsEndpoints",
        MonitorKind::ServiceMonitor => "endpoints",
    };
    Ok(json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": kind.kind().to_string(),
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"selector": si.spec.selector, list: endpoints},
    }))
}

/// Adds the controller ownerReference to the intent when its uid is known (it is in a cluster).
fn with_owner(mut obj: Value, si: &ScrapeIntent) -> Value {
    let Some(uid) = &si.metadata.uid else {
        return obj;
    };
    // The label-add on an existing monitor must not claim ownership of it.
    if obj.get("spec").is_none() {
        return obj;
    }
    obj["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "scrapepath.io/v1alpha1",
        "kind": "ScrapeIntent",
        "name": si.metadata.name,
        "uid": uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    obj
}

/// A target layer's condition when it cannot be decided: no scraper resolved, or no targets.
fn undecidable(
    type_: &str,
    what: &str,
    evaluated: &[Evaluated],
    scrapers: &[Scraper<'_>],
) -> Option<ConditionOut> {
    if scrapers.is_empty() {
        return Some(unknown(
            type_,
            reason::NO_SCRAPER,
            format!("no scraper resolved: {what} cannot be decided"),
        ));
    }
    evaluated
        .is_empty()
        .then(|| unknown(type_, reason::NO_TARGETS, "no targets to evaluate"))
}

/// Appends `Ready` from the layers; returns whether the subject is ready. `Scraped` and
/// `DiscoveryPermitted` Unknown do not block (an observation, and RBAC that is not known).
/// The audit's `MonitorSelected` of one configuration resource (a monitor or a ScrapeConfig) over every
/// workload: selected when some workload selects it and not every selecting one rejects it; else the
/// reason of the first workload's verdict, `LabelsMismatch` first (the fix scrapepath can propose).
fn selection_condition(
    no_workload: bool,
    verdicts: &[(&PromWorkload, Result<(), NotSelected>)],
    rejections: impl Fn(&PromWorkload) -> Vec<String>,
    message: impl Fn(&PromWorkload, &NotSelected) -> String,
) -> ConditionOut {
    let selecting: Vec<&PromWorkload> = verdicts
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(p, _)| *p)
        .collect();
    if no_workload {
        return condition(
            cond::MONITOR_SELECTED,
            false,
            reason::SCRAPER_NOT_FOUND,
            "no Prometheus or PrometheusAgent exists to select it",
        );
    }
    if !selecting.is_empty() {
        let rejected: Vec<String> = selecting
            .iter()
            .filter_map(|p| {
                let r = rejections(p);
                (!r.is_empty()).then(|| {
                    format!(
                        "{} {}/{} rejects it: {}",
                        p.kind,
                        p.namespace,
                        p.name,
                        r.join("; ")
                    )
                })
            })
            .collect();
        return if rejected.len() == selecting.len() {
            condition(
                cond::MONITOR_SELECTED,
                false,
                reason::MONITOR_REJECTED,
                rejected.join("; "),
            )
        } else {
            condition(
                cond::MONITOR_SELECTED,
                true,
                reason::SELECTED,
                format!(
                    "selected by {}",
                    selecting
                        .iter()
                        .map(|p| format!("{} {}/{}", p.kind, p.namespace, p.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
    }
    let messages: Vec<String> = verdicts
        .iter()
        .filter_map(|(p, r)| r.as_ref().err().map(|e| message(p, e)))
        .collect();
    let first = verdicts.iter().find_map(|(_, r)| match r {
        Err(NotSelected::LabelsMismatch(_)) => Some(reason::LABELS_MISMATCH),
        _ => None,
    });
    let reason_ =
        first.unwrap_or_else(
            || match verdicts.first().and_then(|(_, r)| r.as_ref().err()) {
                Some(NotSelected::NamespaceNotSelected { .. }) => reason::NAMESPACE_NOT_SELECTED,
                Some(NotSelected::Unmanaged | NotSelected::NullSelector) => {
                    reason::SCRAPER_UNMANAGED
                }
                _ => reason::MONITOR_REJECTED,
            },
        );
    condition(cond::MONITOR_SELECTED, false, reason_, messages.join("; "))
}

fn finish(conditions: &mut Vec<ConditionOut>) -> bool {
    let failing = cond::LAYERS.iter().find_map(|layer| {
        conditions.iter().find(|c| {
            c.type_ == *layer
                && (c.status == "False"
                    || (c.status == "Unknown"
                        && *layer != cond::SCRAPED
                        && *layer != cond::DISCOVERY_PERMITTED))
        })
    });
    let ready = match failing {
        None => condition(
            cond::READY,
            true,
            reason::READY,
            "every layer lets the scrape through",
        ),
        Some(c) => condition(
            cond::READY,
            false,
            &c.reason.clone(),
            format!("{}: {}", c.type_, c.message),
        ),
    };
    let ok = ready.status == "True";
    conditions.push(ready);
    ok
}

fn port_text(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => format!("{s:?}"),
    }
}

fn declared_ports(pod: &Pod) -> String {
    let ports: Vec<String> = pod
        .containers
        .iter()
        .flat_map(|c| {
            c.ports.iter().map(move |p| match &p.name {
                Some(n) => format!("{n}={} ({})", p.number, c.name),
                None => format!("{} ({})", p.number, c.name),
            })
        })
        .collect();
    if ports.is_empty() {
        "no ports".into()
    } else {
        ports.join(", ")
    }
}

/// The network decision for one scrape: pod `src` (namespace, name) opening TCP/`port` on pod `dest`,
/// requesting `path`. For truth tables and explanations; `None` when a pod is not in the index.
pub fn network_verdict(
    idx: &ClusterIndex,
    cfg: &EngineConfig,
    dest: (&str, &str),
    src: (&str, &str),
    port: u16,
    path: &str,
) -> Option<Decision> {
    let (dest_id, _) = idx.pod_by_name(dest.0, dest.1)?;
    let (_, src_pod) = idx.pod_by_name(src.0, src.1)?;
    let scraper = Scraper::of_pod(src_pod);
    Some(Engine::new(idx, cfg).network(
        dest_id,
        &scraper,
        &ShardKey::unsharded(),
        port,
        path,
        false,
    ))
}

/// The scraper pod `src`'s own egress decision toward pod `dest` on TCP/`port` (E1–E5 of
/// `semantics/cilium-egress.md`), alone: [`network_verdict`] is it combined with the target's ingress.
/// `None` when a pod is not in the index, or for a hostNetwork scraper (its egress is not decided, E5.2).
pub fn egress_verdict(
    idx: &ClusterIndex,
    cfg: &EngineConfig,
    dest: (&str, &str),
    src: (&str, &str),
    port: u16,
    path: &str,
) -> Option<Decision> {
    let (dest_id, dest_pod) = idx.pod_by_name(dest.0, dest.1)?;
    let (_, src_pod) = idx.pod_by_name(src.0, src.1)?;
    let req = ScrapeRequest::to(dest_pod, port, path);
    Engine::new(idx, cfg).egress(src_pod, dest_id, port, &req, false)
}

/// The scrape of the address `ip`, which no pod backs, from the scraper pod `src` on TCP/`port`
/// (E8 of `semantics/cilium-egress.md`): the scraper's egress toward the address' identity. `None`
/// when the scraper pod is not in the index.
pub fn address_verdict(
    idx: &ClusterIndex,
    cfg: &EngineConfig,
    ip: &str,
    src: (&str, &str),
    port: u16,
    path: &str,
) -> Option<Decision> {
    let (_, src_pod) = idx.pod_by_name(src.0, src.1)?;
    let t = promop::AddressTarget {
        ip: ip.to_string(),
        port,
        port_name: None,
        endpoint: 0,
        path: path.to_string(),
        scheme: "http".to_string(),
        shard: ShardKey::unsharded(),
        service: None,
        target: None,
        node_name: None,
        ready: true,
    };
    Engine::new(idx, cfg)
        .evaluate_addresses(&[(0, t)], &[Scraper::of_pod(src_pod)])
        .pop()
        .map(|e| e.now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The `check` subjects of a world given as YAML.
    fn subjects(yaml: &str) -> Vec<SubjectReport> {
        let mut idx = ClusterIndex::new();
        let mut stats = crate::load::LoadStats::default();
        for o in crate::load::parse_text(Path::new("t.yaml"), yaml, &mut stats).unwrap() {
            idx.apply(o);
        }
        evaluate(&idx, &EngineConfig::default()).subjects
    }

    #[test]
    fn a_scrape_config_is_a_subject_selected_rejected_or_not_selected_with_the_reason() {
        let world = |labels: &str, spec: &str| {
            format!(
                r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: p, namespace: mon}}
spec: {{scrapeConfigSelector: {{matchLabels: {{release: a}}}}, version: v3.5.0}}
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {{name: c, namespace: mon, labels: {{{labels}}}}}
spec: {spec}
"#
            )
        };
        for (labels, spec, status, reason, says) in [
            (
                "release: a",
                "{staticConfigs: [{targets: [a:1]}]}",
                "True",
                "Selected",
                "selected by Prometheus mon/p",
            ),
            (
                "",
                "{}",
                "False",
                "LabelsMismatch",
                "spec.scrapeConfigSelector",
            ),
            (
                "release: a",
                "{scrapeClass: x}",
                "False",
                "MonitorRejected",
                "spec.scrapeClass \"x\" is not defined",
            ),
        ] {
            let all = subjects(&world(labels, spec));
            let s = all.iter().find(|s| s.kind == "ScrapeConfig").unwrap();
            let c = s.condition(cond::MONITOR_SELECTED).unwrap();
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                (status, reason),
                "{c:?}"
            );
            assert!(c.message.contains(says), "{}", c.message);
            // Selected, its only target is a hostname: nothing to evaluate offline.
            assert!(!s.ready);
            if status == "True" {
                let t = s.condition(cond::TARGETS_RESOLVED).unwrap();
                assert!(
                    t.message
                        .contains("hostnames, resolved only at scrape time: a:1"),
                    "{}",
                    t.message
                );
            }
        }
    }

    /// A selected ScrapeConfig's targets are those of the job prometheus-operator generates for it: its
    /// Kubernetes SD (namespaces as written), its static targets and its relabelings, each through the
    /// network layer; a hostname is named, not judged.
    #[test]
    fn a_selected_scrape_config_resolves_its_targets_and_crosses_the_network_layer() {
        let yaml = r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: p, namespace: mon}
spec: {scrapeConfigSelector: {matchLabels: {release: a}}, version: v3.5.0}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: app, labels: {app: web}}
spec: {containers: [{name: main, ports: [{name: metrics, containerPort: 8080}, {name: http, containerPort: 80}]}]}
status: {podIP: 10.0.0.5, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: other-0, namespace: app, labels: {app: other}}
spec: {containers: [{name: main, ports: [{name: metrics, containerPort: 8080}]}]}
status: {podIP: 10.0.0.6, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: app, labels: {app: db}}
spec: {containers: [{name: exporter, ports: [{containerPort: 9187}]}]}
status: {podIP: 10.0.0.9, phase: Running}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-only-from-app, namespace: app}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{}]}]
---
apiVersion: monitoring.coreos.com/v1alpha1
kind: ScrapeConfig
metadata: {name: c, namespace: mon, labels: {release: a}}
spec:
  metricsPath: /stats
  kubernetesSDConfigs:
  - role: Pod
    namespaces: {names: [app]}
  staticConfigs:
  - targets: ['10.0.0.9:9187', 'db.example.com:9187']
  relabelings:
  - {sourceLabels: [__meta_kubernetes_pod_container_port_name], regex: metrics|, action: keep}
  - {sourceLabels: [__meta_kubernetes_pod_label_app], regex: other, action: drop}
"#;
        let all = subjects(yaml);
        let s = all.iter().find(|s| s.kind == "ScrapeConfig").unwrap();
        let t = s.condition(cond::TARGETS_RESOLVED).unwrap();
        assert_eq!(t.status, "True", "{t:?}");
        assert!(t.message.starts_with("2 pods, 2 targets"), "{}", t.message);
        assert!(t.message.contains("db.example.com:9187"), "{}", t.message);
        assert!(t.message.contains("relabel_configs[2]"), "{}", t.message);
        let mut got: Vec<(String, Option<String>)> = s
            .targets
            .iter()
            .map(|t| (t.pod.clone(), t.address.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("app/db-0".to_string(), Some("10.0.0.9:9187".to_string())),
                ("app/web-0".to_string(), Some("10.0.0.5:8080".to_string())),
            ]
        );
        let n = s.condition(cond::NETWORK_REACHABLE).unwrap();
        assert_eq!(n.status, "False", "{n:?}");
        assert!(n.message.contains("web-only-from-app"), "{}", n.message);
        assert!(!s.ready);
        assert!(
            s.remediation
                .iter()
                .any(|r| r["kind"] == "CiliumNetworkPolicy"),
            "{:?}",
            s.remediation
        );
    }
}
