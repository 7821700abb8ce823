//! The ClusterIndex: the in-memory world the engine reads, fed the same way from YAML files and from
//! watches (`apply` / `delete` / `reset`). Secondary indexes keep lookups proportional to the objects that
//! matter (pods by label and port name, policies by namespace, clusterwide policies by subject label) so
//! that evaluation never walks pods × policies.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use crate::api::ScrapeIntent;
use crate::authz::{Rbac, RbacBinding, RbacRole};
use crate::cilium::eval::Identity;
use crate::cilium::policy::{Policy, Subject};
use crate::cilium::{Settings, Version};
use crate::mesh::inject::InjectorConfig;
use crate::mesh::MeshConfig;
use crate::model::{
    CiliumConfigMap, ConfigEntry, ConfigKeyRef, ConfigObject, EndpointSlice, Kind, Labels,
    MeshPolicy, Monitor, MonitorKind, Namespace, ObjRef, Pod, PromWorkload, ScrapeConfigResource,
    Service,
};
use crate::selector::{Selector, Source};
use crate::workload::{Node, Workload};
#[cfg(test)]
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One object the index can hold.
#[derive(Debug, Clone)]
pub enum Object {
    Namespace(Namespace),
    Pod(Box<Pod>),
    Service(Service),
    EndpointSlice(EndpointSlice),
    Prometheus(Box<PromWorkload>),
    Monitor(Box<Monitor>),
    ScrapeConfig(Box<ScrapeConfigResource>),
    /// A prometheus-operator Probe.
    Probe(Box<crate::model::ProbeResource>),
    Policy(Box<Policy>),
    Intent(Box<ScrapeIntent>),
    CiliumConfig(CiliumConfigMap),
    /// The `cilium` DaemonSet: its agent image version.
    CiliumAgent {
        namespace: String,
        name: String,
        version: Option<Version>,
    },
    Mesh(Box<MeshPolicy>),
    /// Istio's MeshConfig, from the `istio` ConfigMap.
    MeshConfig(Box<MeshConfig>),
    /// A ConfigMap or Secret holding a scraper's Prometheus configuration.
    Config(Box<ConfigObject>),
    /// A workload whose pods `check` models (`crate::workload`).
    Workload(Box<Workload>),
    Node(Box<Node>),
    /// An Ingress (the targets of Kubernetes SD role `ingress`).
    Ingress(Box<crate::model::IngressObject>),
    /// Istio's sidecar injector settings (an `istio-sidecar-injector[-<rev>]` ConfigMap).
    Injector(Box<InjectorConfig>),
    /// A Role or ClusterRole (the rules that bear on service discovery).
    RbacRole(Box<RbacRole>),
    /// A RoleBinding or ClusterRoleBinding.
    RbacBinding(Box<RbacBinding>),
    /// prometheus-operator's StatefulSet of a Prometheus/PrometheusAgent (issue 17).
    ScraperSet(Box<crate::model::ScraperSet>),
    /// A Warning Event about a StatefulSet or Pod (issue 17).
    Event(Box<crate::model::WarningEvent>),
    /// A ServiceAccount's namespace and name (`check` input).
    ServiceAccount(String, String),
}

impl Object {
    pub fn obj_ref(&self) -> ObjRef {
        match self {
            Object::Namespace(n) => ObjRef::new(Kind::Namespace, "", &n.name),
            Object::Pod(p) => ObjRef::new(Kind::Pod, &p.namespace, &p.name),
            Object::Service(s) => ObjRef::new(Kind::Service, &s.namespace, &s.name),
            Object::EndpointSlice(s) => ObjRef::new(Kind::EndpointSlice, &s.namespace, &s.name),
            Object::Prometheus(p) => p.obj_ref(),
            Object::Monitor(m) => m.obj_ref(),
            Object::ScrapeConfig(c) => c.obj_ref(),
            Object::Probe(p) => p.obj_ref(),
            Object::Policy(p) => p.obj.clone(),
            Object::Intent(i) => ObjRef::new(
                Kind::ScrapeIntent,
                i.metadata.namespace.clone().unwrap_or_default(),
                i.metadata.name.clone().unwrap_or_default(),
            ),
            Object::CiliumConfig(_) => ObjRef::new(Kind::ConfigMap, "kube-system", "cilium-config"),
            Object::CiliumAgent {
                namespace, name, ..
            } => ObjRef::new(Kind::DaemonSet, namespace, name),
            Object::Mesh(m) => m.obj_ref(),
            Object::MeshConfig(c) => c
                .source
                .clone()
                .unwrap_or_else(|| ObjRef::new(Kind::ConfigMap, "istio-system", "istio")),
            Object::Config(c) => c.obj_ref(),
            Object::Workload(w) => w.obj.clone(),
            Object::Node(n) => ObjRef::new(Kind::Node, "", &n.name),
            Object::Ingress(i) => i.obj_ref(),
            Object::Injector(i) => i.source.clone().unwrap_or_else(|| {
                ObjRef::new(Kind::ConfigMap, "istio-system", "istio-sidecar-injector")
            }),
            Object::RbacRole(r) => r.obj_ref(),
            Object::RbacBinding(b) => b.obj_ref(),
            Object::ScraperSet(s) => s.obj_ref(),
            Object::Event(e) => e.obj_ref(),
            Object::ServiceAccount(ns, name) => ObjRef::new(Kind::ServiceAccount, ns, name),
        }
    }
}

pub type PodId = usize;

/// The key of a pod in `pod_ids`: a hash of its namespace and name (collisions are resolved by
/// comparing the pods themselves).
fn pod_key(ns: &str, name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (ns, name).hash(&mut h);
    h.finish()
}

/// A posting list of pods: ids in ascending order, without duplicates. A sorted vector rather than a
/// `BTreeSet`: most lists hold one or a few pods (an IP, a `pod-template-hash`), and a B-tree node per
/// list costs more than the ids; new pods take ascending ids, so inserts append. A list of one pod (a
/// pod's name, its IP: one list per pod) holds it inline, without an allocation.
#[derive(Debug, Clone)]
enum Posting {
    One(PodId),
    Many(Vec<PodId>),
}

impl Default for Posting {
    fn default() -> Self {
        Posting::Many(Vec::new())
    }
}

impl Posting {
    fn insert(&mut self, id: PodId) {
        match self {
            Posting::Many(ids) if ids.is_empty() => *self = Posting::One(id),
            Posting::One(one) if *one == id => {}
            Posting::One(one) => {
                let mut ids = vec![*one];
                insert_sorted(&mut ids, id);
                *self = Posting::Many(ids);
            }
            Posting::Many(ids) => insert_sorted(ids, id),
        }
    }

    fn remove(&mut self, id: &PodId) {
        match self {
            Posting::One(one) if one == id => *self = Posting::default(),
            Posting::One(_) => {}
            Posting::Many(ids) => {
                if let Ok(at) = ids.binary_search(id) {
                    ids.remove(at);
                }
            }
        }
    }

    fn as_slice(&self) -> &[PodId] {
        match self {
            Posting::One(one) => std::slice::from_ref(one),
            Posting::Many(ids) => ids,
        }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn iter(&self) -> std::slice::Iter<'_, PodId> {
        self.as_slice().iter()
    }
}

/// Adds `id` to ascending, duplicate-free `ids` (new pods take ascending ids: usually an append).
fn insert_sorted(ids: &mut Vec<PodId>, id: PodId) {
    match ids.last() {
        Some(&last) if last < id => ids.push(id),
        None => ids.push(id),
        _ => {
            if let Err(at) = ids.binary_search(&id) {
                ids.insert(at, id);
            }
        }
    }
}

impl<'a> IntoIterator for &'a Posting {
    type Item = &'a PodId;
    type IntoIter = std::slice::Iter<'a, PodId>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// One copy of each distinct value the pods hold (label sets, annotation sets, container lists): the
/// pods of a workload share them, so 150,000 pods of a few thousand Deployments hold a few thousand
/// maps, not 150,000.
///
/// An entry goes when its last pod does: [`Interner::release`] drops it when the pod's copy and the
/// interner's are the only ones left. A pod cloned out of the index (a scraper's modelled pods, a test)
/// may hold one past that; such entries, held by the interner alone, are swept once the set has doubled
/// since its last sweep, so the set stays within twice what the live pods share (amortised O(1) per
/// insert). A reference count is exact where weak entries would need a sweep anyway, and lookups by
/// content stay a plain hash-set probe.
#[derive(Debug)]
struct Interner<T: ?Sized + Hash + Eq> {
    set: HashSet<Arc<T>>,
    /// Entries after the last sweep.
    swept_at: usize,
}

impl<T: ?Sized + Hash + Eq> Clone for Interner<T> {
    fn clone(&self) -> Self {
        Interner {
            set: self.set.clone(),
            swept_at: self.swept_at,
        }
    }
}

impl<T: ?Sized + Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            set: HashSet::new(),
            swept_at: 0,
        }
    }
}

impl<T: ?Sized + Hash + Eq> Interner<T> {
    /// Replaces `v` by the shared copy of its content, which it becomes if there is none yet.
    fn intern(&mut self, v: &mut Arc<T>) {
        if let Some(shared) = self.set.get(&**v) {
            if !Arc::ptr_eq(shared, v) {
                *v = shared.clone();
            }
            return;
        }
        if self.set.len() >= 2 * self.swept_at.max(512) {
            self.sweep();
        }
        self.set.insert(v.clone());
    }

    /// Drops the entries no pod holds any more.
    fn sweep(&mut self) {
        self.set.retain(|e| Arc::strong_count(e) > 1);
        self.swept_at = self.set.len();
    }

    /// A pod lets go of `v`: the entry goes with the last pod that holds it (`v` and the interner's
    /// copy are the last two).
    fn release(&mut self, v: Arc<T>) {
        let last = Arc::strong_count(&v) == 2
            && self
                .set
                .get(&*v)
                .is_some_and(|shared| Arc::ptr_eq(shared, &v));
        if last {
            self.set.remove(&*v);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.set.len()
    }
}

/// The references of one kind among the keys of a map that holds several kinds.
fn refs_of_kind<V>(m: &BTreeMap<ObjRef, V>, kind: Kind) -> Vec<ObjRef> {
    m.keys().filter(|r| r.kind == kind).cloned().collect()
}

#[derive(Debug, Default, Clone)]
pub struct ClusterIndex {
    namespaces: BTreeMap<String, Namespace>,
    /// Boxed, so that the slots the vector keeps in reserve stay small.
    pods: Vec<Option<Box<Pod>>>,
    free: Vec<PodId>,
    /// Pods by a hash of (namespace, name); a hit is checked against the pod (no copy of the names).
    pod_ids: HashMap<u64, Posting>,
    /// What the pods share, one copy each.
    label_sets: Interner<Labels>,
    port_lists: Interner<[crate::model::ContainerPort]>,
    controllers: Interner<(String, String)>,
    container_lists: Interner<[crate::model::Container]>,
    pods_by_ns: HashMap<String, Posting>,
    pods_by_label: HashMap<(String, String), Posting>,
    pods_by_port_name: HashMap<String, Posting>,
    /// Pods by IP, parsed (no string per pod); a pod whose IP does not parse is not found by IP.
    pods_by_ip: HashMap<std::net::IpAddr, Posting>,
    services: BTreeMap<(String, String), Service>,
    /// Services by one of their labels (key, value): the candidates of an equality selector.
    services_by_label: HashMap<(String, String), BTreeSet<(String, String)>>,
    slices: BTreeMap<(String, String), EndpointSlice>,
    prometheuses: BTreeMap<ObjRef, PromWorkload>,
    monitors: BTreeMap<ObjRef, Monitor>,
    scrape_configs: BTreeMap<ObjRef, ScrapeConfigResource>,
    probes: BTreeMap<ObjRef, crate::model::ProbeResource>,
    ingresses: BTreeMap<ObjRef, crate::model::IngressObject>,
    /// Policies live in slots; the secondary indexes hold slot numbers.
    policy_slots: Vec<Option<Policy>>,
    policy_free: Vec<usize>,
    policies: BTreeMap<ObjRef, usize>,
    /// CNP and KNP by namespace.
    policies_by_ns: HashMap<String, BTreeSet<usize>>,
    /// CCNPs by one equality (key, then value) of a rule's endpointSelector; `ccnp_scan` holds those
    /// without one.
    ccnp_by_label: HashMap<String, HashMap<String, BTreeSet<usize>>>,
    ccnp_scan: BTreeSet<usize>,
    intents: BTreeMap<(String, String), ScrapeIntent>,
    cilium_config: Option<CiliumConfigMap>,
    cilium_agent: Option<(ObjRef, Option<Version>)>,
    mesh: BTreeMap<ObjRef, MeshPolicy>,
    mesh_config: Option<MeshConfig>,
    cilium_policies: usize,
    /// ConfigMaps and Secrets holding Prometheus configurations.
    configs: BTreeMap<ObjRef, ConfigObject>,
    /// Referenced ConfigMaps and Secrets that cannot be read (outside what the operator may read, or
    /// refused by the API server), with the message that says so.
    config_errors: BTreeMap<ObjRef, String>,
    /// Pods that run Prometheus from a config file (usually none or a handful).
    scraper_pods: BTreeSet<PodId>,
    /// Workloads and Nodes (`check` input: the pods they would run are modelled from them).
    workloads: BTreeMap<ObjRef, Workload>,
    nodes: BTreeMap<String, Node>,
    injectors: BTreeMap<ObjRef, InjectorConfig>,
    /// Roles and bindings; `None` while none is known (not in the input, or not read): the
    /// `DiscoveryPermitted` layer is then Unknown.
    rbac: Option<Rbac>,
    /// RBAC kinds the operator may not read (the API server refused): what is known of the others is
    /// incomplete, so RBAC counts as unknown.
    rbac_refused: BTreeSet<Kind>,
    /// The operator's StatefulSets of Prometheus objects, and Warning Events about StatefulSets and
    /// Pods, by namespace and the name of the object they are about (issue 17).
    scraper_sets: BTreeMap<ObjRef, crate::model::ScraperSet>,
    events: BTreeMap<ObjRef, crate::model::WarningEvent>,
    service_accounts: BTreeSet<(String, String)>,
}

impl ClusterIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an object.
    pub fn apply(&mut self, obj: Object) {
        let r = obj.obj_ref();
        self.delete(&r);
        match obj {
            Object::Namespace(n) => {
                self.namespaces.insert(n.name.clone(), n);
            }
            Object::Pod(p) => self.insert_pod(p),
            Object::Service(s) => {
                let nn = (s.namespace.clone(), s.name.clone());
                for (k, v) in &s.labels {
                    self.services_by_label
                        .entry((k.clone(), v.clone()))
                        .or_default()
                        .insert(nn.clone());
                }
                self.services.insert(nn, s);
            }
            Object::EndpointSlice(s) => {
                self.slices.insert((s.namespace.clone(), s.name.clone()), s);
            }
            Object::Prometheus(p) => {
                self.prometheuses.insert(r, *p);
            }
            Object::Monitor(m) => {
                self.monitors.insert(r, *m);
            }
            Object::ScrapeConfig(c) => {
                self.scrape_configs.insert(r, *c);
            }
            Object::Probe(p) => {
                self.probes.insert(r, *p);
            }
            Object::Ingress(i) => {
                self.ingresses.insert(r, *i);
            }
            Object::Policy(p) => self.insert_policy(*p),
            Object::Intent(i) => {
                self.intents.insert((r.namespace, r.name), *i);
            }
            Object::CiliumConfig(c) => self.cilium_config = Some(c),
            Object::CiliumAgent { version, .. } => self.cilium_agent = Some((r, version)),
            Object::Mesh(m) => {
                self.mesh.insert(r, *m);
            }
            Object::MeshConfig(c) => self.mesh_config = Some(*c),
            Object::Config(c) => {
                self.configs.insert(r, *c);
            }
            Object::Workload(w) => {
                self.workloads.insert(r, *w);
            }
            Object::Node(n) => {
                self.nodes.insert(n.name.clone(), *n);
            }
            Object::Injector(i) => {
                self.injectors.insert(r, *i);
            }
            Object::RbacRole(role) => {
                self.rbac
                    .get_or_insert_with(Rbac::default)
                    .roles
                    .insert(r, *role);
            }
            Object::RbacBinding(b) => {
                self.rbac
                    .get_or_insert_with(Rbac::default)
                    .bindings
                    .insert(r, *b);
            }
            Object::ScraperSet(s) => {
                self.scraper_sets.insert(r, *s);
            }
            Object::Event(e) => {
                self.events.insert(r, *e);
            }
            Object::ServiceAccount(ns, name) => {
                self.service_accounts.insert((ns, name));
            }
        }
    }

    /// Removes an object; unknown references are ignored.
    pub fn delete(&mut self, r: &ObjRef) {
        let nn = (r.namespace.clone(), r.name.clone());
        match r.kind {
            Kind::Namespace => {
                self.namespaces.remove(&r.name);
            }
            Kind::Pod => {
                if let Some((id, _)) = self.pod_by_name(&r.namespace, &r.name) {
                    let key = pod_key(&r.namespace, &r.name);
                    if let Some(ids) = self.pod_ids.get_mut(&key) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.pod_ids.remove(&key);
                        }
                    }
                    self.remove_pod(id);
                }
            }
            Kind::Service => {
                if let Some(s) = self.services.remove(&nn) {
                    for (k, v) in s.labels {
                        if let Some(set) = self.services_by_label.get_mut(&(k.clone(), v.clone())) {
                            set.remove(&nn);
                            if set.is_empty() {
                                self.services_by_label.remove(&(k, v));
                            }
                        }
                    }
                }
            }
            Kind::EndpointSlice => {
                self.slices.remove(&nn);
            }
            Kind::Prometheus | Kind::PrometheusAgent => {
                self.prometheuses.remove(r);
            }
            Kind::PodMonitor | Kind::ServiceMonitor => {
                self.monitors.remove(r);
            }
            Kind::ScrapeConfig => {
                self.scrape_configs.remove(r);
            }
            Kind::Probe => {
                self.probes.remove(r);
            }
            Kind::Ingress => {
                self.ingresses.remove(r);
            }
            Kind::CiliumNetworkPolicy
            | Kind::CiliumClusterwideNetworkPolicy
            | Kind::NetworkPolicy => self.remove_policy(r),
            Kind::ScrapeIntent => {
                self.intents.remove(&nn);
            }
            Kind::Secret => {
                self.configs.remove(r);
                self.config_errors.remove(r);
            }
            Kind::Deployment
            | Kind::StatefulSet
            | Kind::ReplicaSet
            | Kind::ReplicationController
            | Kind::Job
            | Kind::CronJob
            | Kind::Alertmanager => {
                self.workloads.remove(r);
                self.scraper_sets.remove(r);
            }
            Kind::Event => {
                self.events.remove(r);
            }
            Kind::ServiceAccount => {
                self.service_accounts
                    .remove(&(r.namespace.clone(), r.name.clone()));
            }
            Kind::Node => {
                self.nodes.remove(&r.name);
            }
            Kind::ConfigMap => {
                self.injectors.remove(r);
                self.configs.remove(r);
                self.config_errors.remove(r);
                if r.namespace == "kube-system" && r.name == "cilium-config" {
                    self.cilium_config = None;
                }
                if self
                    .mesh_config
                    .as_ref()
                    .is_some_and(|c| c.source.as_ref() == Some(r))
                {
                    self.mesh_config = None;
                }
            }
            Kind::DaemonSet => {
                if self.cilium_agent.as_ref().is_some_and(|(a, _)| a == r) {
                    self.cilium_agent = None;
                }
                self.workloads.remove(r);
            }
            Kind::AuthorizationPolicy | Kind::PeerAuthentication => {
                self.mesh.remove(r);
            }
            Kind::Role | Kind::ClusterRole => {
                if let Some(rbac) = &mut self.rbac {
                    rbac.roles.remove(r);
                }
            }
            Kind::RoleBinding | Kind::ClusterRoleBinding => {
                if let Some(rbac) = &mut self.rbac {
                    rbac.bindings.remove(r);
                }
            }
        }
    }

    /// Replaces every object of `kind` (a watch's re-list).
    pub fn reset(&mut self, kind: Kind, objects: Vec<Object>) {
        let existing: Vec<ObjRef> = self.refs_of(kind);
        for r in existing {
            self.delete(&r);
        }
        for o in objects {
            self.apply(o);
        }
    }

    /// Whether the index holds an object under this reference (the kinds scrapepath may write).
    pub fn contains(&self, r: &ObjRef) -> bool {
        match r.kind {
            Kind::Prometheus | Kind::PrometheusAgent => self.prometheuses.contains_key(r),
            Kind::PodMonitor | Kind::ServiceMonitor => self.monitors.contains_key(r),
            Kind::CiliumNetworkPolicy
            | Kind::CiliumClusterwideNetworkPolicy
            | Kind::NetworkPolicy => self.policies.contains_key(r),
            Kind::AuthorizationPolicy | Kind::PeerAuthentication => self.mesh.contains_key(r),
            Kind::ScrapeIntent => self
                .intents
                .contains_key(&(r.namespace.clone(), r.name.clone())),
            _ => self.refs_of(r.kind).contains(r),
        }
    }

    /// Every object of a kind the index holds.
    pub fn refs_of(&self, kind: Kind) -> Vec<ObjRef> {
        match kind {
            Kind::Namespace => self
                .namespaces
                .keys()
                .map(|n| ObjRef::new(kind, "", n))
                .collect(),
            Kind::Pod => self
                .pods()
                .map(|(_, p)| ObjRef::new(kind, &p.namespace, &p.name))
                .collect(),
            Kind::Service => self
                .services
                .keys()
                .map(|(n, m)| ObjRef::new(kind, n, m))
                .collect(),
            Kind::EndpointSlice => self
                .slices
                .keys()
                .map(|(n, m)| ObjRef::new(kind, n, m))
                .collect(),
            Kind::ScrapeIntent => self
                .intents
                .keys()
                .map(|(n, m)| ObjRef::new(kind, n, m))
                .collect(),
            Kind::Prometheus | Kind::PrometheusAgent => refs_of_kind(&self.prometheuses, kind),
            Kind::PodMonitor | Kind::ServiceMonitor => refs_of_kind(&self.monitors, kind),
            Kind::ScrapeConfig => refs_of_kind(&self.scrape_configs, kind),
            Kind::Probe => refs_of_kind(&self.probes, kind),
            Kind::Ingress => refs_of_kind(&self.ingresses, kind),
            Kind::CiliumNetworkPolicy
            | Kind::CiliumClusterwideNetworkPolicy
            | Kind::NetworkPolicy => refs_of_kind(&self.policies, kind),
            Kind::AuthorizationPolicy | Kind::PeerAuthentication => refs_of_kind(&self.mesh, kind),
            Kind::Role | Kind::ClusterRole => self
                .rbac
                .as_ref()
                .map(|r| refs_of_kind(&r.roles, kind))
                .unwrap_or_default(),
            Kind::RoleBinding | Kind::ClusterRoleBinding => self
                .rbac
                .as_ref()
                .map(|r| refs_of_kind(&r.bindings, kind))
                .unwrap_or_default(),
            Kind::ConfigMap => self
                .cilium_config
                .iter()
                .map(|_| ObjRef::new(kind, "kube-system", "cilium-config"))
                .chain(self.mesh_config.iter().filter_map(|c| c.source.clone()))
                .chain(self.configs.keys().filter(|r| r.kind == kind).cloned())
                .chain(self.injectors.keys().cloned())
                .collect(),
            Kind::Secret => refs_of_kind(&self.configs, kind),
            Kind::StatefulSet => refs_of_kind(&self.workloads, kind)
                .into_iter()
                .chain(self.scraper_sets.keys().cloned())
                .collect(),
            Kind::Deployment
            | Kind::ReplicaSet
            | Kind::ReplicationController
            | Kind::Job
            | Kind::CronJob
            | Kind::Alertmanager => refs_of_kind(&self.workloads, kind),
            Kind::Event => self.events.keys().cloned().collect(),
            Kind::ServiceAccount => self
                .service_accounts
                .iter()
                .map(|(n, m)| ObjRef::new(kind, n, m))
                .collect(),
            Kind::Node => self
                .nodes
                .keys()
                .map(|n| ObjRef::new(kind, "", n))
                .collect(),
            Kind::DaemonSet => {
                let agent = self.cilium_agent.as_ref().map(|(r, _)| r);
                agent
                    .into_iter()
                    .chain(
                        self.workloads
                            .keys()
                            .filter(|r| r.kind == kind && Some(*r) != agent),
                    )
                    .cloned()
                    .collect()
            }
        }
    }

    fn insert_pod(&mut self, mut p: Box<Pod>) {
        // Labels and annotations are both string maps: one set holds either.
        self.label_sets.intern(&mut p.labels);
        self.label_sets.intern(&mut p.annotations);
        // A pod fresh from its object holds the only copy of its containers: their port lists are
        // shared first, so that the lists the interner compares hold the shared ones.
        if let Some(containers) = Arc::get_mut(&mut p.containers) {
            for c in containers {
                self.port_lists.intern(&mut c.ports);
            }
        }
        self.container_lists.intern(&mut p.containers);
        if let Some(c) = &mut p.controller {
            self.controllers.intern(c);
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.pods.push(None);
                self.pods.len() - 1
            }
        };
        self.pod_ids
            .entry(pod_key(&p.namespace, &p.name))
            .or_default()
            .insert(id);
        self.pods_by_ns
            .entry(p.namespace.clone())
            .or_default()
            .insert(id);
        for (k, v) in p.labels.iter() {
            self.pods_by_label
                .entry((k.clone(), v.clone()))
                .or_default()
                .insert(id);
        }
        for port in p.containers.iter().flat_map(|c| c.ports.iter()) {
            if let Some(n) = &port.name {
                self.pods_by_port_name
                    .entry(n.clone())
                    .or_default()
                    .insert(id);
            }
        }
        if let Some(ip) = p.pod_ip.as_deref().and_then(|ip| ip.parse().ok()) {
            self.pods_by_ip.entry(ip).or_default().insert(id);
        }
        if p.prometheus_config.is_some() {
            self.scraper_pods.insert(id);
        }
        self.pods[id] = Some(p);
    }

    fn remove_pod(&mut self, id: PodId) {
        let Some(p) = self.pods[id].take() else {
            return;
        };
        fn unlink<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Posting>, k: K, id: PodId) {
            if let Some(set) = m.get_mut(&k) {
                set.remove(&id);
                if set.is_empty() {
                    m.remove(&k);
                }
            }
        }
        unlink(&mut self.pods_by_ns, p.namespace.clone(), id);
        for (k, v) in p.labels.iter() {
            unlink(&mut self.pods_by_label, (k.clone(), v.clone()), id);
        }
        for port in p.containers.iter().flat_map(|c| c.ports.iter()) {
            if let Some(n) = &port.name {
                unlink(&mut self.pods_by_port_name, n.clone(), id);
            }
        }
        if let Some(ip) = p.pod_ip.as_deref().and_then(|ip| ip.parse().ok()) {
            unlink(&mut self.pods_by_ip, ip, id);
        }
        self.scraper_pods.remove(&id);
        self.free.push(id);
        let Pod {
            labels,
            annotations,
            containers,
            controller,
            ..
        } = *p;
        if let Some(c) = controller {
            self.controllers.release(c);
        }
        self.label_sets.release(labels);
        self.label_sets.release(annotations);
        // The port lists of a container list that goes with this pod lose a holder with it.
        let ports: Vec<Arc<[crate::model::ContainerPort]>> = if Arc::strong_count(&containers) == 2
        {
            containers.iter().map(|c| c.ports.clone()).collect()
        } else {
            Vec::new()
        };
        self.container_lists.release(containers);
        for p in ports {
            self.port_lists.release(p);
        }
    }

    fn insert_policy(&mut self, p: Policy) {
        let r = p.obj.clone();
        if r.kind != Kind::NetworkPolicy {
            self.cilium_policies += 1;
        }
        let slot = match self.policy_free.pop() {
            Some(slot) => slot,
            None => {
                self.policy_slots.push(None);
                self.policy_slots.len() - 1
            }
        };
        if r.kind == Kind::CiliumClusterwideNetworkPolicy {
            // A policy read at random (ambiguous selectors) is scanned: its other readings may select
            // pods its first does not.
            let mut scan = p.rules.is_empty() || !p.variants.is_empty();
            for rule in &p.rules {
                match &rule.subject {
                    Subject::Endpoints(sel) => match index_key(sel) {
                        Some((k, v)) => {
                            self.ccnp_by_label
                                .entry(k)
                                .or_default()
                                .entry(v)
                                .or_default()
                                .insert(slot);
                        }
                        None => scan = true,
                    },
                    Subject::Nodes => {}
                }
            }
            if scan {
                self.ccnp_scan.insert(slot);
            }
        } else {
            self.policies_by_ns
                .entry(r.namespace.clone())
                .or_default()
                .insert(slot);
        }
        self.policy_slots[slot] = Some(p);
        self.policies.insert(r, slot);
    }

    fn remove_policy(&mut self, r: &ObjRef) {
        let Some(slot) = self.policies.remove(r) else {
            return;
        };
        let Some(p) = self.policy_slots[slot].take() else {
            return;
        };
        self.policy_free.push(slot);
        if r.kind != Kind::NetworkPolicy {
            self.cilium_policies -= 1;
        }
        if r.kind == Kind::CiliumClusterwideNetworkPolicy {
            for rule in &p.rules {
                if let Subject::Endpoints(sel) = &rule.subject {
                    if let Some((k, v)) = index_key(sel) {
                        if let Some(set) =
                            self.ccnp_by_label.get_mut(&k).and_then(|m| m.get_mut(&v))
                        {
                            set.remove(&slot);
                        }
                    }
                }
            }
            self.ccnp_scan.remove(&slot);
        } else if let Some(set) = self.policies_by_ns.get_mut(&r.namespace) {
            set.remove(&slot);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Reads.

    /// The RBAC objects, once any is known (`None`: RBAC is not part of the input, not read, or
    /// some of its kinds were refused).
    pub fn rbac(&self) -> Option<&Rbac> {
        self.rbac.as_ref().filter(|_| self.rbac_refused.is_empty())
    }

    /// Records whether the API server lets the operator read an RBAC kind.
    pub fn set_rbac_refused(&mut self, kind: Kind, refused: bool) {
        if refused {
            self.rbac_refused.insert(kind);
        } else {
            self.rbac_refused.remove(&kind);
        }
    }

    /// RBAC is read (the operator listed the RBAC kinds), even if no object exists.
    pub fn mark_rbac_read(&mut self) {
        self.rbac.get_or_insert_with(Rbac::default);
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
    }

    /// A namespace's labels; a namespace missing from the input still has its automatic name label.
    pub fn namespace_labels(&self, name: &str) -> Labels {
        match self.namespaces.get(name) {
            Some(n) => n.labels.clone(),
            None => [("kubernetes.io/metadata.name".to_string(), name.to_string())]
                .into_iter()
                .collect(),
        }
    }

    pub fn pod(&self, id: PodId) -> &Pod {
        self.pods[id].as_deref().expect("live pod id")
    }

    pub fn pod_by_name(&self, ns: &str, name: &str) -> Option<(PodId, &Pod)> {
        self.pod_ids
            .get(&pod_key(ns, name))?
            .iter()
            .map(|&id| (id, self.pod(id)))
            .find(|(_, p)| p.namespace == ns && p.name == name)
    }

    /// The pods of one namespace.
    pub fn pods_in<'a>(&'a self, ns: &str) -> impl Iterator<Item = (PodId, &'a Pod)> + 'a {
        self.pods_by_ns
            .get(ns)
            .into_iter()
            .flatten()
            .map(|&id| (id, self.pod(id)))
    }

    /// The workloads of the input (`check`), in reference order.
    pub fn workloads(&self) -> impl Iterator<Item = &Workload> {
        self.workloads.values()
    }

    /// prometheus-operator's StatefulSet `ns/name` of a Prometheus or PrometheusAgent, if the input has it.
    pub fn scraper_set(&self, ns: &str, name: &str) -> Option<&crate::model::ScraperSet> {
        self.scraper_sets
            .get(&ObjRef::new(Kind::StatefulSet, ns, name))
    }

    /// The Warning Events about the object `kind` `ns/name`, in name order.
    pub fn warning_events<'a>(
        &'a self,
        ns: &'a str,
        kind: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a crate::model::WarningEvent> + 'a {
        self.events
            .range(ObjRef::new(Kind::Event, ns, "")..)
            .take_while(move |(r, _)| r.namespace == ns)
            .map(|(_, e)| e)
            .filter(move |e| e.about.0 == kind && e.about.1 == name)
    }

    /// Whether the input has any ServiceAccount (a live cluster's are not read).
    pub fn has_service_accounts(&self) -> bool {
        !self.service_accounts.is_empty()
    }

    pub fn has_service_account(&self, ns: &str, name: &str) -> bool {
        self.service_accounts
            .contains(&(ns.to_string(), name.to_string()))
    }

    /// The Warning Event `r`, if the index holds it.
    pub fn warning_event(&self, r: &ObjRef) -> Option<&crate::model::WarningEvent> {
        self.events.get(r)
    }

    /// Istio's sidecar injectors of the input (`istio-sidecar-injector[-<rev>]` ConfigMaps).
    pub fn injectors(&self) -> impl Iterator<Item = &InjectorConfig> {
        self.injectors.values()
    }

    /// The Nodes of the input (`check`).
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// The Node `name`, when the input has it.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// The labels of the Node a pod runs on, when the input has that Node.
    pub fn node_labels_of(&self, pod: &Pod) -> Option<&Labels> {
        let node = pod.node_name.as_deref()?;
        self.nodes.get(node).map(|n| &n.labels)
    }

    pub fn pods(&self) -> impl Iterator<Item = (PodId, &Pod)> {
        self.pods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_deref().map(|p| (i, p)))
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len() - self.free.len()
    }

    pub fn pods_by_ip(&self, ip: &str) -> impl Iterator<Item = (PodId, &Pod)> {
        let ip: Option<std::net::IpAddr> = ip.parse().ok();
        ip.and_then(|ip| self.pods_by_ip.get(&ip))
            .into_iter()
            .flatten()
            .map(|&id| (id, self.pod(id)))
    }

    /// Pods in `ns` matching a Kubernetes selector, narrowed through the label index.
    pub fn select_pods<'a>(&'a self, ns: &str, sel: &Selector) -> Vec<(PodId, &'a Pod)> {
        self.select_pods_in(Some(ns), sel, None)
    }

    /// Pods matching `sel` in `ns` (or every namespace), optionally only those declaring a port named
    /// `port_name`; candidates come from the smallest posting list available.
    pub fn select_pods_in<'a>(
        &'a self,
        ns: Option<&str>,
        sel: &Selector,
        port_name: Option<&str>,
    ) -> Vec<(PodId, &'a Pod)> {
        if sel.nothing {
            return Vec::new();
        }
        let mut lists: Vec<&Posting> = Vec::new();
        let empty = Posting::default();
        if let Some(ns) = ns {
            lists.push(self.pods_by_ns.get(ns).unwrap_or(&empty));
        }
        if let Some((_, k, v)) = sel.first_equality() {
            lists.push(
                self.pods_by_label
                    .get(&(k.to_string(), v.to_string()))
                    .unwrap_or(&empty),
            );
        }
        if let Some(pn) = port_name {
            lists.push(self.pods_by_port_name.get(pn).unwrap_or(&empty));
        }
        let ids: Box<dyn Iterator<Item = PodId> + '_> = match lists.iter().min_by_key(|l| l.len()) {
            Some(l) => Box::new(l.iter().copied()),
            None => Box::new(self.pods().map(|(id, _)| id)),
        };
        ids.map(|id| (id, self.pod(id)))
            .filter(|(_, p)| ns.is_none_or(|n| p.namespace == n))
            .filter(|(_, p)| sel.matches(&*p.labels))
            .filter(|(_, p)| port_name.is_none_or(|pn| p.port_by_name(pn).is_some()))
            .collect()
    }

    pub fn services_in<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Service> + 'a {
        self.services
            .range((ns.to_string(), String::new())..)
            .take_while(move |((n, _), _)| n == ns)
            .map(|(_, s)| s)
    }

    /// Every Service, in (namespace, name) order.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// The Services labelled `key=value`, in (namespace, name) order.
    pub fn services_with_label<'a>(
        &'a self,
        key: &str,
        value: &str,
    ) -> impl Iterator<Item = &'a Service> + 'a {
        self.services_by_label
            .get(&(key.to_string(), value.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|nn| self.services.get(nn))
    }

    /// The namespaces holding a Service or an EndpointSlice, in order.
    pub fn service_namespaces(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (ns, _) in self.services.keys().chain(self.slices.keys()) {
            if out.last() != Some(ns) {
                out.push(ns.clone());
            }
        }
        out.sort();
        out.dedup();
        out
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.services.get(&(ns.to_string(), name.to_string()))
    }

    pub fn slices_in<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a EndpointSlice> + 'a {
        self.slices
            .range((ns.to_string(), String::new())..)
            .take_while(move |((n, _), _)| n == ns)
            .map(|(_, s)| s)
    }

    pub fn prometheuses(&self) -> impl Iterator<Item = &PromWorkload> {
        self.prometheuses.values()
    }

    pub fn prometheus(&self, r: &ObjRef) -> Option<&PromWorkload> {
        self.prometheuses.get(r)
    }

    pub fn monitors(&self) -> impl Iterator<Item = &Monitor> {
        self.monitors.values()
    }

    pub fn monitor(&self, kind: MonitorKind, ns: &str, name: &str) -> Option<&Monitor> {
        self.monitors.get(&ObjRef::new(kind.kind(), ns, name))
    }

    pub fn scrape_configs(&self) -> impl Iterator<Item = &ScrapeConfigResource> {
        self.scrape_configs.values()
    }

    pub fn scrape_config(&self, ns: &str, name: &str) -> Option<&ScrapeConfigResource> {
        self.scrape_configs
            .get(&ObjRef::new(Kind::ScrapeConfig, ns, name))
    }

    pub fn probes(&self) -> impl Iterator<Item = &crate::model::ProbeResource> {
        self.probes.values()
    }

    pub fn probe(&self, ns: &str, name: &str) -> Option<&crate::model::ProbeResource> {
        self.probes.get(&ObjRef::new(Kind::Probe, ns, name))
    }

    /// The Ingresses of namespace `ns`, in name order.
    pub fn ingresses_in<'a>(
        &'a self,
        ns: &'a str,
    ) -> impl Iterator<Item = &'a crate::model::IngressObject> + 'a {
        self.ingresses
            .range(ObjRef::new(Kind::Ingress, ns, "")..)
            .take_while(move |(r, _)| r.kind == Kind::Ingress && r.namespace == ns)
            .map(|(_, i)| i)
    }

    /// Every Ingress, in (namespace, name) order.
    pub fn ingresses(&self) -> impl Iterator<Item = &crate::model::IngressObject> {
        self.ingresses.values()
    }

    pub fn intents(&self) -> impl Iterator<Item = &ScrapeIntent> {
        self.intents.values()
    }

    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies
            .values()
            .filter_map(|slot| self.policy_slots[*slot].as_ref())
    }

    pub fn mesh_policies(&self) -> impl Iterator<Item = &MeshPolicy> {
        self.mesh.values()
    }

    /// The AuthorizationPolicies and PeerAuthentications of `ns`, in name order.
    pub fn mesh_policies_in(&self, ns: &str) -> Vec<&MeshPolicy> {
        let mut out = Vec::new();
        for k in [Kind::AuthorizationPolicy, Kind::PeerAuthentication] {
            out.extend(
                self.mesh
                    .range(ObjRef::new(k, ns, "")..)
                    .take_while(|(r, _)| r.kind == k && r.namespace == ns)
                    .map(|(_, p)| p),
            );
        }
        out
    }

    /// The mesh policies that can apply to a pod of `ns`: the root namespace's and `ns`'s (istio.md 10, 14).
    pub fn mesh_candidates(&self, ns: &str) -> Vec<&MeshPolicy> {
        let root = self.mesh_config().root_namespace.as_str();
        let mut out = self.mesh_policies_in(root);
        if ns != root {
            out.extend(self.mesh_policies_in(ns));
        }
        out
    }

    /// Istio's MeshConfig from the `istio` ConfigMap, else the defaults.
    pub fn mesh_config(&self) -> &MeshConfig {
        static DEFAULT: std::sync::OnceLock<MeshConfig> = std::sync::OnceLock::new();
        self.mesh_config
            .as_ref()
            .unwrap_or_else(|| DEFAULT.get_or_init(MeshConfig::default))
    }

    /// Pods that run Prometheus from a config file, in (namespace, name) order.
    pub fn scraper_pods(&self) -> Vec<(PodId, &Pod)> {
        let mut out: Vec<(PodId, &Pod)> = self
            .scraper_pods
            .iter()
            .map(|&id| (id, self.pod(id)))
            .collect();
        out.sort_by(|a, b| (&a.1.namespace, &a.1.name).cmp(&(&b.1.namespace, &b.1.name)));
        out
    }

    /// Records that a referenced ConfigMap or Secret cannot be read, and why (`message` names the
    /// object): what was known of it is dropped, and [`Self::config_entry`] answers with `message`.
    /// Applying or deleting the object clears it. Whether anything changed.
    pub fn set_config_unreadable(&mut self, r: &ObjRef, message: String) -> bool {
        let dropped = self.configs.remove(r).is_some();
        let old = self.config_errors.insert(r.clone(), message.clone());
        dropped || old.as_ref() != Some(&message)
    }

    /// Why a referenced ConfigMap or Secret cannot be read, when it cannot.
    pub fn config_unreadable(&self, r: &ObjRef) -> Option<&str> {
        self.config_errors.get(r).map(String::as_str)
    }

    /// The parsed configuration under one key of a ConfigMap or Secret; `Err` says, naming the
    /// object and key, why there is none.
    pub fn config_entry(&self, r: &ConfigKeyRef) -> Result<&std::sync::Arc<ConfigEntry>, String> {
        if let Some(message) = self.config_errors.get(&r.obj_ref()) {
            return Err(message.clone());
        }
        let Some(obj) = self.configs.get(&r.obj_ref()) else {
            return Err(format!(
                "{} {}/{} does not exist, or holds no Prometheus configuration",
                r.kind, r.namespace, r.name
            ));
        };
        obj.entries.get(&r.key).ok_or_else(|| {
            let keys: Vec<&str> = obj.entries.keys().map(String::as_str).collect();
            format!(
                "{} {}/{} has no key {} holding a Prometheus configuration (it has {})",
                r.kind,
                r.namespace,
                r.name,
                r.key,
                keys.join(", ")
            )
        })
    }

    /// The ConfigMaps and Secrets the scrapers refer to: the `--config.file` volumes of scraper pods
    /// and the `additionalScrapeConfigs` Secrets of Prometheus objects. The live world reads exactly
    /// these, one by one, instead of every ConfigMap and Secret of the cluster.
    pub fn referenced_configs(&self) -> BTreeSet<ObjRef> {
        let pods = self
            .scraper_pods
            .iter()
            .filter_map(|&id| self.pod(id).prometheus_config.as_ref())
            .filter_map(|c| c.source.as_ref().ok())
            .map(ConfigKeyRef::obj_ref);
        let proms = self
            .prometheuses
            .values()
            .filter_map(|p| p.additional_scrape_configs.as_ref())
            .map(ConfigKeyRef::obj_ref);
        pods.chain(proms).collect()
    }

    /// Whether any scraper reads a Prometheus configuration (off the hot path when none does).
    pub fn has_scrape_configs(&self) -> bool {
        !self.configs.is_empty()
    }

    /// Whether any Cilium kind is present: then the network remedy is a CiliumNetworkPolicy.
    pub fn cilium_present(&self) -> bool {
        self.cilium_policies > 0 || self.cilium_config.is_some() || self.cilium_agent.is_some()
    }

    /// The policies that may select `pod` (whose identity is `id`): CNP/KNP of its namespace and the CCNPs
    /// indexed under one of its identity labels. The evaluator checks every subject exactly.
    pub fn candidate_policies<'a>(&'a self, pod: &Pod, id: &Identity) -> Vec<&'a Policy> {
        let mut slots: Vec<usize> = Vec::new();
        if let Some(set) = self.policies_by_ns.get(&pod.namespace) {
            slots.extend(set.iter());
        }
        slots.extend(self.ccnp_scan.iter());
        if !self.ccnp_by_label.is_empty() {
            for (k, v) in id.label_pairs() {
                if let Some(set) = self.ccnp_by_label.get(k).and_then(|m| m.get(v)) {
                    slots.extend(set.iter());
                }
            }
        }
        slots.sort_unstable();
        slots.dedup();
        let mut out: Vec<&Policy> = slots
            .into_iter()
            .filter_map(|slot| self.policy_slots[slot].as_ref())
            .collect();
        // Name order, so that verdicts do not depend on the order objects arrived in.
        out.sort_by(|a, b| a.obj.cmp(&b.obj));
        out
    }

    /// Cilium settings: ConfigMap, then version from the flag, the DaemonSet image, or the newest.
    /// The API server's addresses: those of the EndpointSlices of the Service `default/kubernetes`,
    /// which the API server keeps itself and from which Cilium's agents learn them (E8.1).
    pub fn kube_apiserver_ips(&self) -> Vec<std::net::IpAddr> {
        self.slices_in("default")
            .filter(|sl| sl.service.as_deref() == Some("kubernetes"))
            .flat_map(|sl| &sl.endpoints)
            .flat_map(|e| &e.addresses)
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    pub fn cilium_settings(&self, version_flag: Option<Version>) -> Settings {
        let mut s = self
            .cilium_config
            .as_ref()
            .map(|c| Settings::from_config(&c.data))
            .unwrap_or_default();
        if let Some(v) = version_flag {
            s.version = v;
            s.version_source = "--cilium-version".to_string();
        } else if let Some((r, Some(v))) = &self.cilium_agent {
            s.version = *v;
            s.version_source = format!("image of DaemonSet {}/{}", r.namespace, r.name);
        }
        s.kube_apiserver.ips = self.kube_apiserver_ips();
        s.kube_apiserver.nodes = self
            .nodes()
            .filter(|n| {
                n.ips
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .any(|a| s.kube_apiserver.ips.contains(&a))
            })
            .map(|n| n.name.clone())
            .collect();
        s.node_ips = self
            .nodes()
            .map(|n| {
                let ips = n.ips.iter().filter_map(|a| a.parse().ok()).collect();
                (n.name.clone(), ips)
            })
            .collect();
        let mut prefixes: Vec<crate::cilium::policy::Cidr> = self
            .policies()
            .filter(|p| crate::cilium::eval::rejected_by_agent(p, &s).is_none())
            .flat_map(|p| p.rules.iter().flat_map(|r| r.cidrs()))
            .filter(|c| c.prefix > 0)
            .copied()
            .collect();
        prefixes.sort_unstable_by_key(|c| (c.addr, c.prefix));
        prefixes.dedup();
        s.policy_prefixes = prefixes;
        s
    }
}

/// The index key of a CCNP subject: an equality on a label any pod identity can carry.
fn index_key(sel: &Selector) -> Option<(String, String)> {
    if sel.nothing {
        return None;
    }
    sel.requirements
        .iter()
        .find_map(|r| match (&r.source, &r.op) {
            (Source::Any | Source::K8s, crate::selector::Operator::In(v)) if v.len() == 1 => {
                Some((r.key.clone(), v[0].clone()))
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{parse_text, LoadStats};

    fn objects(yaml: &str) -> Vec<Object> {
        let mut stats = LoadStats::default();
        parse_text(std::path::Path::new("t.yaml"), yaml, &mut stats).unwrap()
    }

    fn pod(ns: &str, name: &str, app: &str, ip: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}\nspec: {{containers: [{{name: c, ports: [{{name: metrics, containerPort: 9100}}]}}]}}\nstatus: {{phase: Running, podIP: {ip}}}\n"
        )
    }

    fn names(v: Vec<(PodId, &Pod)>) -> Vec<String> {
        let mut n: Vec<String> = v.into_iter().map(|(_, p)| p.display()).collect();
        n.sort();
        n
    }

    #[test]
    fn an_unreadable_configuration_is_named_until_it_is_read_or_deleted() {
        let mut idx = ClusterIndex::new();
        let key = ConfigKeyRef {
            kind: Kind::ConfigMap,
            namespace: "mon".into(),
            name: "prometheus".into(),
            key: "prometheus.yml".into(),
        };
        let r = key.obj_ref();
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prometheus, namespace: mon}\ndata: {prometheus.yml: 'scrape_configs: []'}\n";
        for o in objects(cm) {
            idx.apply(o);
        }
        assert!(idx.config_entry(&key).is_ok());
        // Refused: what was read is dropped, and the reason is the answer.
        assert!(idx.set_config_unreadable(&r, "ConfigMap mon/prometheus is not read".into()));
        assert!(!idx.set_config_unreadable(&r, "ConfigMap mon/prometheus is not read".into()));
        assert_eq!(
            idx.config_entry(&key).err().as_deref(),
            Some("ConfigMap mon/prometheus is not read")
        );
        // Read again: the reason goes.
        for o in objects(cm) {
            idx.apply(o);
        }
        assert!(idx.config_entry(&key).is_ok());
        assert_eq!(idx.config_unreadable(&r), None);
        idx.set_config_unreadable(&r, "refused".into());
        idx.delete(&r);
        let err = idx.config_entry(&key).err().unwrap();
        assert!(err.contains("does not exist"), "{err}");
    }

    /// Pods a/p1 and a/p2, labelled `app: web`.
    fn two_web_pods() -> ClusterIndex {
        let mut idx = ClusterIndex::new();
        for o in objects(
            &(pod("a", "p1", "web", "10.0.0.1") + "---\n" + &pod("a", "p2", "web", "10.0.0.2")),
        ) {
            idx.apply(o);
        }
        idx
    }

    #[test]
    fn apply_replaces_and_delete_unlinks_every_secondary_index() {
        let mut idx = two_web_pods();
        let web = Selector::from_k8s(&LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: None,
        })
        .unwrap();
        assert_eq!(names(idx.select_pods("a", &web)), vec!["a/p1", "a/p2"]);
        // p1 changes its label: the old posting must go.
        for o in objects(&pod("a", "p1", "api", "10.0.0.1")) {
            idx.apply(o);
        }
        assert_eq!(names(idx.select_pods("a", &web)), vec!["a/p2"]);
        assert_eq!(idx.pod_count(), 2);
        idx.delete(&ObjRef::new(Kind::Pod, "a", "p2"));
        assert!(idx.select_pods("a", &web).is_empty());
        assert_eq!(idx.pods_by_ip("10.0.0.2").count(), 0);
        assert_eq!(
            names(idx.select_pods_in(None, &Selector::everything(), Some("metrics"))),
            vec!["a/p1"]
        );
        // Slots are reused after a delete.
        for o in objects(&pod("b", "p3", "web", "10.0.0.3")) {
            idx.apply(o);
        }
        assert_eq!(idx.pods.len(), 2);
    }

    #[test]
    fn pods_share_their_label_sets_and_containers_until_the_last_one_goes() {
        let mut idx = two_web_pods();
        let (_, p1) = idx.pod_by_name("a", "p1").unwrap();
        let (_, p2) = idx.pod_by_name("a", "p2").unwrap();
        assert!(Arc::ptr_eq(&p1.labels, &p2.labels));
        assert!(Arc::ptr_eq(&p1.containers, &p2.containers));
        assert!(Arc::ptr_eq(
            &p1.containers[0].ports,
            &p2.containers[0].ports
        ));
        // {app: web} and the empty annotations; one container list; one port list.
        assert_eq!(idx.label_sets.len(), 2);
        assert_eq!((idx.container_lists.len(), idx.port_lists.len()), (1, 1));
        // p1 changes its label: {app: api} joins, {app: web} stays for p2.
        for o in objects(&pod("a", "p1", "api", "10.0.0.1")) {
            idx.apply(o);
        }
        assert_eq!(idx.label_sets.len(), 3);
        idx.delete(&ObjRef::new(Kind::Pod, "a", "p2"));
        assert_eq!(idx.label_sets.len(), 2);
        // A pod cloned out of the index keeps its sets alive past its last pod in the index; the
        // next sweep drops them once nothing else holds them.
        let kept = idx.pod_by_name("a", "p1").unwrap().1.clone();
        idx.delete(&ObjRef::new(Kind::Pod, "a", "p1"));
        assert_eq!(idx.label_sets.len(), 2);
        assert_eq!(idx.container_lists.len(), 1);
        drop(kept);
        idx.label_sets.sweep();
        idx.container_lists.sweep();
        idx.port_lists.sweep();
        assert_eq!(
            (
                idx.label_sets.len(),
                idx.container_lists.len(),
                idx.port_lists.len()
            ),
            (0, 0, 0)
        );
        assert_eq!(idx.pods_by_ip("10.0.0.1").count(), 0);
    }

    #[test]
    fn a_posting_of_one_pod_grows_and_shrinks_in_order() {
        let mut p = Posting::default();
        assert!(p.is_empty());
        p.insert(7);
        p.insert(7);
        assert!(matches!(p, Posting::One(7)));
        p.insert(3);
        p.insert(9);
        assert_eq!(p.iter().copied().collect::<Vec<_>>(), vec![3, 7, 9]);
        p.remove(&7);
        p.remove(&4);
        assert_eq!(p.len(), 2);
        let mut one = Posting::default();
        one.insert(5);
        one.remove(&6);
        assert_eq!(one.len(), 1);
        one.remove(&5);
        assert!(one.is_empty());
    }

    #[test]
    fn reset_replaces_every_object_of_a_kind_and_only_that_kind() {
        let mut idx = ClusterIndex::new();
        for o in objects(
            &(pod("a", "p1", "web", "10.0.0.1")
                + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"),
        ) {
            idx.apply(o);
        }
        idx.reset(Kind::Pod, objects(&pod("a", "p9", "web", "10.0.0.9")));
        let all: Vec<String> = idx.pods().map(|(_, p)| p.display()).collect();
        assert_eq!(all, vec!["a/p9"]);
        assert!(idx.namespace("a").is_some());
    }

    #[test]
    fn clusterwide_policies_are_found_through_their_subject_label_or_the_scan_list() {
        let yaml = r#"
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: by-label}
spec: {endpointSelector: {matchLabels: {app: web}}, ingress: [{fromEntities: [cluster]}]}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: everything}
spec: {endpointSelector: {}, ingress: [{fromEntities: [cluster]}]}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: other-app}
spec: {endpointSelector: {matchLabels: {app: db}}, ingress: [{fromEntities: [cluster]}]}
"#;
        let mut idx = ClusterIndex::new();
        for o in objects(&(pod("a", "p1", "web", "10.0.0.1") + "---\n" + yaml)) {
            idx.apply(o);
        }
        let p = idx.pod_by_name("a", "p1").unwrap().1.clone();
        let id = Identity::of_pod(
            &p,
            &idx.namespace_labels("a"),
            "default",
            crate::cilium::Version::NEWEST,
        );
        let mut cands: Vec<String> = idx
            .candidate_policies(&p, &id)
            .iter()
            .map(|p| p.obj.name.clone())
            .collect();
        cands.sort();
        assert_eq!(cands, vec!["by-label", "everything"]);
        idx.delete(&ObjRef::new(
            Kind::CiliumClusterwideNetworkPolicy,
            "",
            "by-label",
        ));
        let cands: Vec<String> = idx
            .candidate_policies(&p, &id)
            .iter()
            .map(|p| p.obj.name.clone())
            .collect();
        assert_eq!(cands, vec!["everything"]);
        assert!(idx.cilium_present());
    }

    #[test]
    fn cilium_settings_come_from_the_flag_then_the_daemonset_image_then_the_newest() {
        let mut idx = ClusterIndex::new();
        assert_eq!(idx.cilium_settings(None).version, Version::NEWEST);
        for o in objects(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: cilium, namespace: kube-system}\nspec:\n  selector: {}\n  template:\n    spec:\n      containers: [{name: cilium-agent, image: 'quay.io/cilium/cilium:v1.15.7@sha256:00'}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config, namespace: kube-system}\ndata: {policy-audit-mode: 'true'}\n",
        ) {
            idx.apply(o);
        }
        let s = idx.cilium_settings(None);
        assert_eq!(s.version, Version::new(1, 15));
        assert!(s.version_source.contains("kube-system/cilium"));
        assert!(s.audit);
        assert_eq!(
            idx.cilium_settings(Some(Version::new(1, 17))).version,
            Version::new(1, 17)
        );
        idx.delete(&ObjRef::new(Kind::DaemonSet, "kube-system", "cilium"));
        assert_eq!(idx.cilium_settings(None).version, Version::NEWEST);
    }

    #[test]
    fn mesh_objects_are_kept_for_the_mesh_layer() {
        let mut idx = ClusterIndex::new();
        for o in objects("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: was-authz, namespace: blog-system}\nspec: {action: ALLOW, rules: [{to: [{operation: {ports: ['15090']}}]}]}\n") {
            idx.apply(o);
        }
        let m: Vec<&MeshPolicy> = idx.mesh_policies_in("blog-system");
        assert_eq!(m.len(), 1);
        match &m[0].spec {
            Ok(crate::mesh::policy::MeshSpec::Authz(ap)) => {
                assert_eq!(ap.action, crate::mesh::policy::Action::Allow)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(idx.mesh_candidates("blog-system").len(), 1);
        assert_eq!(idx.mesh_config().root_namespace, "istio-system");
        for o in objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata: {mesh: 'rootNamespace: blog-system'}\n") {
            idx.apply(o);
        }
        assert_eq!(idx.mesh_config().root_namespace, "blog-system");
        idx.delete(&ObjRef::new(Kind::ConfigMap, "istio-system", "istio"));
        assert_eq!(idx.mesh_config().root_namespace, "istio-system");
    }
}
