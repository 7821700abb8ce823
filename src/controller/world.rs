//! The live world: watches feed the shared [`ClusterIndex`] (`apply` / `delete` / `reset`, exactly as the
//! YAML loader does), keep the raw form of scrapepath's own objects for drift detection, and say which part
//! of the world each change touches ([`Scope`]) so that only the intents it can affect are reconciled.
//!
//! Every kind but Namespace and Pod is optional: a CRD that is not installed is a state, reported once and
//! re-checked until it appears. Nothing is reconciled before every kind has been listed once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::DynamicObject;
use kube::core::ApiResource;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::api::ScrapeIntent;
use crate::config_access::{self, ConfigAccess};
use crate::engine::EngineConfig;
use crate::index::{ClusterIndex, Object};
use crate::kinds::{ApiKind, API_KINDS};
use crate::live::{api_for, is_not_served, object_value, served_version};
use crate::model::{managing_intent, Kind, Labels, Monitor, ObjRef};
use crate::observe::plan::ObservationKey;
use crate::observe::{Observation, Observed};
use crate::parse::{parse_value, Parsed};

/// The part of the world a change touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Anything may have changed (a re-list, a Prometheus, a clusterwide policy, the Cilium settings).
    All,
    /// Objects in these namespaces changed.
    Namespaces(BTreeSet<String>),
    /// One intent changed.
    Intent(ObjRef),
}

impl Scope {
    fn namespace(ns: &str) -> Self {
        Scope::Namespaces(BTreeSet::from([ns.to_string()]))
    }
}

/// The namespace Istio reads mesh-wide policies from.
const ISTIO_ROOT_NAMESPACE: &str = "istio-system";

/// What a change to `obj` (its old version `old`, when it was known) can affect.
pub fn scope_of(obj: &ObjRef, old_monitor: Option<&Monitor>, new: Option<&Object>) -> Scope {
    match obj.kind {
        Kind::Namespace => Scope::namespace(&obj.name),
        // No intent reads a ScrapeConfig (its verdicts are audit subjects only): its own namespace.
        Kind::Pod
        | Kind::Service
        | Kind::EndpointSlice
        | Kind::NetworkPolicy
        | Kind::CiliumNetworkPolicy
        | Kind::ScrapeConfig => Scope::namespace(&obj.namespace),
        // Nor a Probe: its own namespace.
        Kind::Probe => Scope::namespace(&obj.namespace),
        // Nor an Ingress (only Probes and scrape jobs discover it): its own namespace.
        Kind::Ingress => Scope::namespace(&obj.namespace),
        Kind::AuthorizationPolicy | Kind::PeerAuthentication => {
            if obj.namespace == ISTIO_ROOT_NAMESPACE {
                Scope::All
            } else {
                Scope::namespace(&obj.namespace)
            }
        }
        // A Role or RoleBinding grants discovery in its own namespace: the subjects whose targets are there.
        Kind::Role | Kind::RoleBinding => Scope::namespace(&obj.namespace),
        Kind::ClusterRole | Kind::ClusterRoleBinding => Scope::All,
        Kind::PodMonitor | Kind::ServiceMonitor => {
            let new_monitor = match new {
                Some(Object::Monitor(m)) => Some(m.as_ref()),
                _ => None,
            };
            let mut set = BTreeSet::from([obj.namespace.clone()]);
            for m in old_monitor.into_iter().chain(new_monitor) {
                if m.namespace_selector.any {
                    return Scope::All;
                }
                set.extend(m.namespace_selector.match_names.iter().cloned());
            }
            Scope::Namespaces(set)
        }
        Kind::ScrapeIntent => Scope::Intent(obj.clone()),
        // A scraper's Warning Events concern the intents its namespace's scrapers serve.
        Kind::Event | Kind::ServiceAccount => Scope::namespace(&obj.namespace),
        Kind::Prometheus
        | Kind::PrometheusAgent
        | Kind::CiliumClusterwideNetworkPolicy
        | Kind::ConfigMap
        | Kind::Secret
        | Kind::DaemonSet
        | Kind::Deployment
        | Kind::StatefulSet
        | Kind::ReplicaSet
        | Kind::ReplicationController
        | Kind::Job
        | Kind::CronJob
        | Kind::Alertmanager
        | Kind::Node => Scope::All,
    }
}

/// The namespaces whose objects decide an intent: its own, its scraper's, its referenced monitor's. `None`
/// means "any namespace that hosts a scraper" (no scraper named and no cluster default).
fn intent_namespaces(si: &ScrapeIntent, cfg: &EngineConfig) -> Option<Vec<String>> {
    let mut out = vec![si.metadata.namespace.clone().unwrap_or_default()];
    if let Some(r) = si.spec.monitor.as_ref().and_then(|m| m.reference.as_ref()) {
        if let Some(ns) = &r.namespace {
            out.push(ns.clone());
        }
    }
    match (
        si.spec.scraper.as_ref().and_then(|s| s.namespace.clone()),
        &cfg.default_scraper,
    ) {
        (Some(ns), _) => out.push(ns),
        (None, Some((ns, _))) => out.push(ns.clone()),
        (None, None) => return None,
    }
    Some(out)
}

/// The intents a change in `scope` can affect.
pub fn affected_intents(idx: &ClusterIndex, cfg: &EngineConfig, scope: &Scope) -> Vec<ObjRef> {
    let intent_ref = |si: &ScrapeIntent| {
        ObjRef::new(
            Kind::ScrapeIntent,
            si.metadata.namespace.clone().unwrap_or_default(),
            si.metadata.name.clone().unwrap_or_default(),
        )
    };
    match scope {
        Scope::All => idx.intents().map(intent_ref).collect(),
        Scope::Intent(r) => vec![r.clone()],
        Scope::Namespaces(set) => {
            let hosts_scraper = idx.prometheuses().any(|p| set.contains(&p.namespace));
            idx.intents()
                .filter(|si| match intent_namespaces(si, cfg) {
                    Some(nss) => nss.iter().any(|ns| set.contains(ns)),
                    None => {
                        hosts_scraper
                            || set.contains(si.metadata.namespace.as_deref().unwrap_or_default())
                    }
                })
                .map(intent_ref)
                .collect()
        }
    }
}

/// The monitors whose audit a change in `scope` can affect.
pub fn affected_monitors(idx: &ClusterIndex, scope: &Scope) -> Vec<ObjRef> {
    match scope {
        Scope::Intent(_) => vec![],
        Scope::All => idx.monitors().map(Monitor::obj_ref).collect(),
        Scope::Namespaces(set) => {
            let hosts_scraper = idx.prometheuses().any(|p| set.contains(&p.namespace));
            idx.monitors()
                .filter(|m| {
                    hosts_scraper
                        || set.contains(&m.namespace)
                        || m.namespace_selector.any
                        || m.namespace_selector
                            .match_names
                            .iter()
                            .any(|n| set.contains(n))
                })
                .map(Monitor::obj_ref)
                .collect()
        }
    }
}

/// Where a kind's watch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindState {
    /// Not listed yet.
    Pending,
    Synced,
    NotInstalled,
}

/// The shared world: the index, scrapepath's own objects as the API server has them, and the sync state.
pub struct World {
    pub index: RwLock<ClusterIndex>,
    /// scrapepath's own objects (label `app.kubernetes.io/managed-by: scrapepath`), raw, by reference.
    managed: Mutex<HashMap<ObjRef, Value>>,
    /// Kind → served ApiResource, for applying and deleting.
    served: Mutex<HashMap<Kind, ApiResource>>,
    /// By entry of [`API_KINDS`] (one kind may have several: the ConfigMaps of Cilium and Istio).
    states: Mutex<BTreeMap<usize, KindState>>,
    synced: watch::Sender<bool>,
    /// Objects that could not be read, with the reason (left out of the analysis).
    unreadable: Mutex<BTreeMap<ObjRef, String>>,
    /// What the scrapers' APIs last reported (`None`: observation is off). Written by the observer's
    /// pollers, read by reconciles, which never wait on HTTP.
    observed: RwLock<Option<Observed>>,
    changes: mpsc::UnboundedSender<Scope>,
    /// Bumped on every change: the readers of referenced objects recompute what to read.
    generation: watch::Sender<u64>,
    /// Which referenced ConfigMaps and Secrets may be read; the others are never asked for.
    configs: ConfigAccess,
    /// Where the scrapers' StatefulSets and Warning Events are read (the `scraper_status` entries).
    status_namespaces: config_access::ConfigNamespaces,
}

/// One object of a list, read as it arrives: what the index and the drift detection keep of it. A list
/// is applied only once complete, and holding the parsed objects rather than the JSON until then keeps
/// the list of a large cluster from needing several times the index's memory.
pub struct Listed {
    obj: ObjRef,
    /// The raw object, kept only for scrapepath's own objects.
    managed: Option<Value>,
    parsed: Result<Parsed, crate::parse::ParseError>,
}

impl Listed {
    pub fn read(kind: Kind, v: Value) -> Listed {
        let obj = value_ref(kind, &v);
        let managed = is_managed(&v).then(|| v.clone());
        Listed {
            obj,
            managed,
            parsed: parse_value(v).map(live_only),
        }
    }
}

/// A managed object's identity and the intent that applied it.
#[derive(Debug, Clone)]
pub struct ManagedObject {
    pub obj: ObjRef,
    pub intent: String,
    pub value: Value,
}

impl World {
    /// A world for the given kinds (ScrapeIntent included: the controller feeds it), reading the
    /// scrapers' configurations `configs` allows, and the receiver of the changes.
    pub fn new(configs: ConfigAccess) -> (Arc<Self>, mpsc::UnboundedReceiver<Scope>) {
        Self::with_status(
            configs,
            config_access::ConfigNamespaces::Only(BTreeSet::new()),
        )
    }

    /// [`World::new`], reading the scrapers' StatefulSets and Warning Events in `status_namespaces`.
    pub fn with_status(
        configs: ConfigAccess,
        status_namespaces: config_access::ConfigNamespaces,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Scope>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let states = (0..API_KINDS.len())
            .map(|i| (i, KindState::Pending))
            .collect();
        let (synced, _) = watch::channel(false);
        let world = World {
            index: RwLock::new(ClusterIndex::new()),
            managed: Mutex::new(HashMap::new()),
            served: Mutex::new(HashMap::new()),
            states: Mutex::new(states),
            synced,
            unreadable: Mutex::new(BTreeMap::new()),
            observed: RwLock::new(None),
            changes: tx,
            generation: watch::channel(0).0,
            configs,
            status_namespaces,
        };
        (Arc::new(world), rx)
    }

    /// Resolves once every kind has been listed (or found not installed).
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    fn state(&self, entry: &ApiKind) -> KindState {
        self.states
            .lock()
            .unwrap()
            .get(&entry_index(entry))
            .copied()
            .unwrap_or(KindState::Pending)
    }

    fn set_state(&self, entry: &ApiKind, state: KindState) {
        let mut states = self.states.lock().unwrap();
        states.insert(entry_index(entry), state);
        let all = states.values().all(|s| *s != KindState::Pending);
        drop(states);
        self.generation.send_modify(|g| *g += 1);
        if all && !*self.synced.borrow() {
            info!("every kind listed: reconciling");
            self.synced.send_replace(true);
        }
    }

    pub fn served(&self, kind: Kind) -> Option<ApiResource> {
        self.served.lock().unwrap().get(&kind).cloned()
    }

    /// scrapepath's own object `r` as the API server has it.
    pub fn managed(&self, r: &ObjRef) -> Option<Value> {
        self.managed.lock().unwrap().get(r).cloned()
    }

    /// scrapepath's own objects in `ns` that name `intent`.
    pub fn managed_for(&self, ns: &str, intent: &str) -> Vec<ManagedObject> {
        let mut out: Vec<ManagedObject> = self
            .managed
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| r.namespace == ns)
            .filter_map(|(r, v)| {
                let owner = managing_intent(&labels_of(v))?;
                (owner == intent).then(|| ManagedObject {
                    obj: r.clone(),
                    intent: owner,
                    value: v.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.obj.cmp(&b.obj));
        out
    }

    /// The objects that could not be read.
    pub fn unreadable(&self) -> Vec<(ObjRef, String)> {
        self.unreadable
            .lock()
            .unwrap()
            .iter()
            .map(|(r, e)| (r.clone(), e.clone()))
            .collect()
    }

    fn notify(&self, scope: Scope) {
        let _ = self.changes.send(scope);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Whether every (non-referenced) entry of these kinds has been listed.
    fn listed(&self, kinds: &[Kind]) -> bool {
        let states = self.states.lock().unwrap();
        API_KINDS
            .iter()
            .enumerate()
            .filter(|(_, k)| kinds.contains(&k.kind) && !k.referenced)
            .all(|(i, _)| states.get(&i).is_some_and(|s| *s != KindState::Pending))
    }

    /// A referenced object is absent, or no longer referenced: nothing of it is known.
    fn forget(&self, r: &ObjRef) {
        self.unreadable.lock().unwrap().remove(r);
        let mut idx = self.index.write().unwrap();
        if !idx.contains(r) && idx.config_unreadable(r).is_none() {
            return;
        }
        idx.delete(r);
        drop(idx);
        self.notify(Scope::All);
    }

    fn unreadable_ref(&self, r: &ObjRef, message: String) {
        self.unreadable.lock().unwrap().insert(r.clone(), message);
    }

    /// The latest observations (`None`: observation is off).
    pub fn observed(&self) -> std::sync::RwLockReadGuard<'_, Option<Observed>> {
        self.observed.read().unwrap()
    }

    /// Turns observation on (an empty set: every scraper `NotObserved` until its first read).
    pub fn enable_observation(&self) {
        self.observed
            .write()
            .unwrap()
            .get_or_insert_with(Observed::default);
    }

    /// Stores the latest observation of `key` (`None` removes it); when it differs from the previous
    /// one, the intents and monitors it can affect are re-evaluated.
    pub fn set_observation(&self, key: &ObservationKey, obs: Option<Observation>) -> bool {
        // Compared under the read lock (a large targets list takes tens of milliseconds to compare),
        // so that reconciles reading the observations are not held up by an unchanged one.
        let same = {
            let guard = self.observed.read().unwrap();
            let current = guard.as_ref().and_then(|o| o.get(key));
            guard.is_some() && current == obs.as_ref()
        };
        if same {
            return false;
        }
        let changed = {
            let mut guard = self.observed.write().unwrap();
            let observed = guard.get_or_insert_with(Observed::default);
            let old = observed.set(key, obs.clone());
            old != obs
        };
        if changed {
            // A scraper's observation concerns the intents and monitors it serves: those that name its
            // namespace, or name no scraper at all; the default one, everyone.
            self.notify(match key.namespace() {
                Some(ns) => Scope::namespace(ns),
                None => Scope::All,
            });
        }
        changed
    }

    /// A referenced object that cannot be read (outside [`ConfigAccess`], or refused by the API
    /// server): the engine reports `message` for it (`ConfigUnreadable`). Logged once per message.
    fn config_unreadable(&self, r: &ObjRef, message: String) {
        self.unreadable_ref(r, message.clone());
        let changed = self
            .index
            .write()
            .unwrap()
            .set_config_unreadable(r, message.clone());
        if changed {
            warn!(object = %r, "{message}");
            self.notify(Scope::All);
        }
    }

    /// An object was added or changed.
    pub fn apply_value(&self, kind: Kind, v: Value) {
        let r = value_ref(kind, &v);
        self.track_managed(&r, &v);
        let parsed = parse_value(v).map(live_only);
        let mut idx = self.index.write().unwrap();
        let old_monitor = old_monitor(&idx, &r);
        let scope = match parsed {
            // A repeating Event changes nothing the engine reads (no count, no timestamps).
            Ok(Parsed::Object(Object::Event(e))) if idx.warning_event(&r) == Some(e.as_ref()) => {
                return
            }
            Ok(Parsed::Object(o)) => {
                self.unreadable.lock().unwrap().remove(&r);
                let scope = scope_of(&r, old_monitor.as_ref(), Some(&o));
                idx.apply(o);
                scope
            }
            // A configuration object that no longer holds a Prometheus configuration (or that could
            // not be read before).
            Ok(_)
                if matches!(kind, Kind::ConfigMap | Kind::Secret)
                    && (idx.contains(&r) || idx.config_unreadable(&r).is_some()) =>
            {
                idx.delete(&r);
                Scope::All
            }
            Ok(_) => return,
            Err(e) => {
                warn!(object = %r, error = %e.message, "cannot read object: left out of the analysis");
                self.unreadable
                    .lock()
                    .unwrap()
                    .insert(r.clone(), e.message.clone());
                idx.delete(&r);
                scope_of(&r, old_monitor.as_ref(), None)
            }
        };
        drop(idx);
        self.notify(scope);
    }

    /// An object was deleted.
    pub fn delete_value(&self, kind: Kind, v: &Value) {
        let r = value_ref(kind, v);
        self.managed.lock().unwrap().remove(&r);
        self.unreadable.lock().unwrap().remove(&r);
        let mut idx = self.index.write().unwrap();
        let scope = scope_of(&r, old_monitor(&idx, &r).as_ref(), None);
        idx.delete(&r);
        drop(idx);
        self.notify(scope);
    }

    /// An entry's objects were (re-)listed: they replace what the index held of them.
    pub fn reset_values(&self, entry: &ApiKind, listed: Vec<Listed>) {
        self.replace_values(entry, None, listed);
        self.set_state(entry, KindState::Synced);
    }

    /// An entry's objects (in `namespace` only, when given) were (re-)listed: they replace what the
    /// index held of them there.
    fn replace_values(&self, entry: &ApiKind, namespace: Option<&str>, listed: Vec<Listed>) {
        let kind = entry.kind;
        let covered = |r: &ObjRef| {
            r.kind == kind
                && entry.covers(&r.namespace, &r.name)
                && namespace.is_none_or(|ns| ns == r.namespace)
        };
        let mut objects = Vec::new();
        {
            let mut managed = self.managed.lock().unwrap();
            managed.retain(|r, _| !covered(r));
            let mut unreadable = self.unreadable.lock().unwrap();
            unreadable.retain(|r, _| !covered(r));
            for l in listed {
                if let Some(v) = l.managed {
                    managed.insert(l.obj.clone(), v);
                }
                match l.parsed {
                    Ok(Parsed::Object(o)) => objects.push(o),
                    Ok(_) => {}
                    Err(e) => {
                        warn!(object = %l.obj, error = %e.message, "cannot read object: left out of the analysis");
                        unreadable.insert(l.obj, e.message);
                    }
                }
            }
        }
        {
            let mut idx = self.index.write().unwrap();
            for r in idx.refs_of(kind).into_iter().filter(|r| covered(r)) {
                idx.delete(&r);
            }
            for o in objects {
                idx.apply(o);
            }
            if crate::kinds::RBAC_KINDS.contains(&kind) {
                idx.mark_rbac_read();
                idx.set_rbac_refused(kind, false);
            }
        }
        self.notify(Scope::All);
    }

    fn track_managed(&self, r: &ObjRef, v: &Value) {
        let mut managed = self.managed.lock().unwrap();
        if is_managed(v) {
            managed.insert(r.clone(), v.clone());
        } else {
            managed.remove(r);
        }
    }

    /// An entry the operator is set not to read (RBAC without `--read-rbac`): it does not hold up the
    /// first reconcile, and the index knows nothing of it.
    pub fn not_read(&self, entry: &ApiKind) {
        self.set_state(entry, KindState::NotInstalled);
    }

    /// The API server refuses to list an RBAC kind (`--read-rbac` without the grant): RBAC is then
    /// unknown (`DiscoveryPermitted` Unknown) rather than judged from the kinds that could be read, and
    /// the first reconcile does not wait for it.
    fn rbac_refused(&self, entry: &ApiKind) {
        self.index
            .write()
            .unwrap()
            .set_rbac_refused(entry.kind, true);
        if self.state(entry) == KindState::Pending {
            self.set_state(entry, KindState::NotInstalled);
        }
        self.notify(Scope::All);
    }

    /// A kind's CRD is not installed (any more): nothing of it exists.
    fn not_installed(&self, entry: &ApiKind) {
        let was = self.state(entry);
        self.served.lock().unwrap().remove(&entry.kind);
        if was == KindState::Synced {
            self.reset_values(entry, Vec::new());
        }
        self.set_state(entry, KindState::NotInstalled);
    }
}

/// What of a parsed object the live world keeps: a StatefulSet that no Prometheus controls is read
/// only because it carries the operator's label (an Alertmanager's): nothing reads it.
fn live_only(p: Parsed) -> Parsed {
    match p {
        Parsed::Object(Object::Workload(w)) if w.obj.kind == Kind::StatefulSet => {
            Parsed::Irrelevant("StatefulSet".into())
        }
        p => p,
    }
}

fn entry_index(entry: &ApiKind) -> usize {
    API_KINDS
        .iter()
        .position(|k| std::ptr::eq(k, entry) || k == entry)
        .unwrap_or(usize::MAX)
}

fn old_monitor(idx: &ClusterIndex, r: &ObjRef) -> Option<Monitor> {
    let kind = match r.kind {
        Kind::PodMonitor => crate::model::MonitorKind::PodMonitor,
        Kind::ServiceMonitor => crate::model::MonitorKind::ServiceMonitor,
        _ => return None,
    };
    idx.monitor(kind, &r.namespace, &r.name).cloned()
}

fn labels_of(v: &Value) -> Labels {
    v.pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

/// Whether `v` is one of scrapepath's own objects, read in place (called for every object listed).
fn is_managed(v: &Value) -> bool {
    v.pointer("/metadata/labels")
        .and_then(|l| l.get(crate::model::MANAGED_BY_LABEL))
        .and_then(Value::as_str)
        == Some(crate::model::MANAGED_BY_VALUE)
}

fn value_ref(kind: Kind, v: &Value) -> ObjRef {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    ObjRef::new(kind, s("/metadata/namespace"), s("/metadata/name"))
}

/// How long to wait before looking again for a CRD that is not installed.
pub const RECHECK_ABSENT: Duration = Duration::from_secs(5);

/// Keeps one kind's part of the index current, for as long as the process runs.
pub async fn run_kind(world: Arc<World>, client: Client, k: &'static ApiKind) {
    if k.referenced {
        return run_referenced(world, client, k).await;
    }
    if k.scraper_status {
        return run_status_kind(world, client, k).await;
    }
    let mut announced_absent = false;
    let mut failures = 0u32;
    loop {
        match served_version(&client, k).await {
            Ok(Some(ar)) => {
                failures = 0;
                if announced_absent {
                    info!(crd = %k.crd_name(), "installed now: watching {}", k.kind);
                    announced_absent = false;
                }
                world.served.lock().unwrap().insert(k.kind, ar.clone());
                watch_kind(&world, &client, k, &ar).await;
                // The watch ends only when the kind is no longer served; make sure before forgetting it.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Ok(None) => {
                failures = 0;
                if !announced_absent {
                    info!(crd = %k.crd_name(), "not installed: {} objects are absent from the analysis until it appears", k.kind);
                    announced_absent = true;
                }
                world.not_installed(k);
                tokio::time::sleep(RECHECK_ABSENT).await;
            }
            Err(kube::Error::Api(s))
                if s.code == 403 && crate::kinds::RBAC_KINDS.contains(&k.kind) =>
            {
                warn!(kind = %k.kind, error = %s.message, "--read-rbac, but the API server refuses the list: DiscoveryPermitted stays Unknown until it is granted (Helm value rbacDiscovery.enabled)");
                world.rbac_refused(k);
                tokio::time::sleep(config_access::FORBIDDEN_RETRY).await;
            }
            Err(e) => {
                failures += 1;
                let delay = Duration::from_millis(500 * 2u64.pow(failures.min(6)));
                warn!(kind = %k.kind, error = %e, "cannot read {}; retrying in {delay:?}", k.kind);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Watches one served kind until it stops being served.
async fn watch_kind(world: &World, client: &Client, k: &ApiKind, ar: &ApiResource) {
    let listed = || world.set_state(k, KindState::Synced);
    watch_api(world, k, ar, api_for(client, k, ar), None, &listed).await
}

/// Keeps a `scraper_status` entry (the scrapers' StatefulSets and Warning Events) current in the
/// namespaces of the setting: one watch per namespace (a Role grants it there), or one cluster-wide
/// for every namespace; none when the setting is empty. A read the API server refuses is reported once
/// and retried with backoff; it does not hold up reconciling.
async fn run_status_kind(world: Arc<World>, client: Client, k: &'static ApiKind) {
    use config_access::ConfigNamespaces;
    let ar = crate::live::api_resource(k, k.versions[0]);
    let namespaces: Vec<Option<String>> = match &world.status_namespaces {
        ConfigNamespaces::All => vec![None],
        ConfigNamespaces::Only(set) => set.iter().cloned().map(Some).collect(),
    };
    if namespaces.is_empty() {
        debug!(kind = %k.kind, "scraper status is read in no namespace");
        world.set_state(k, KindState::Synced);
        return;
    }
    let pending = Mutex::new(namespaces.iter().cloned().collect::<BTreeSet<_>>());
    let watches = namespaces.iter().map(|ns| {
        let api: kube::Api<DynamicObject> = match ns {
            Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &ar),
            None => kube::Api::all_with(client.clone(), &ar),
        };
        let (world, ar, pending) = (&world, &ar, &pending);
        async move {
            let listed = || {
                let mut p = pending.lock().unwrap();
                p.remove(ns);
                if p.is_empty() {
                    world.set_state(k, KindState::Synced);
                }
            };
            loop {
                watch_api(world, k, ar, api.clone(), ns.as_deref(), &listed).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });
    futures::future::join_all(watches).await;
}

/// Watches `api` (the entry `k`, in `namespace` or everywhere) until the kind stops being served;
/// `listed` is called after each full list.
async fn watch_api(
    world: &World,
    k: &ApiKind,
    ar: &ApiResource,
    api: kube::Api<DynamicObject>,
    namespace: Option<&str>,
    listed: &(dyn Fn() + Sync),
) {
    let mut config = watcher::Config::default();
    if let Some(f) = crate::live::field_selector(k) {
        config = config.fields(&f);
    }
    if let Some(l) = k.labels {
        config = config.labels(l);
    }
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut buffer: Vec<Listed> = Vec::new();
    let mut last_error: Option<String> = None;
    loop {
        let ev = match stream.try_next().await {
            Ok(Some(ev)) => ev,
            Ok(None) => return,
            Err(e) => {
                if watch_error_not_served(&e) {
                    return;
                }
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    if k.scraper_status && forbidden_status(&e).is_some() {
                        warn!(kind = %k.kind, namespace = namespace.unwrap_or("*"), error = %msg,
                            "not permitted: ScraperNotReady cannot quote the scrapers' {}s here (grant them, or change {})",
                            k.kind, config_access::STATUS_NAMESPACES_SETTING);
                        listed();
                    } else {
                        warn!(kind = %k.kind, error = %msg, "watch failed; retrying with backoff");
                    }
                    last_error = Some(msg);
                }
                continue;
            }
        };
        last_error = None;
        match ev {
            Event::Init => buffer.clear(),
            Event::InitApply(o) => buffer.push(Listed::read(k.kind, value(o, ar))),
            Event::InitDone => {
                debug!(kind = %k.kind, objects = buffer.len(), "listed");
                world.replace_values(k, namespace, std::mem::take(&mut buffer));
                listed();
            }
            Event::Apply(o) => world.apply_value(k.kind, value(o, ar)),
            Event::Delete(o) => world.delete_value(k.kind, &value(o, ar)),
        }
    }
}

/// Keeps the referenced objects of one kind (the ConfigMaps and Secrets scrapers read their
/// configuration from) current: one name-selected watch per object, started and stopped as the
/// references in the index change. Listed once every pod and Prometheus object is. An object outside
/// the world's [`ConfigAccess`] is never asked for: the index records why it is not read.
async fn run_referenced(world: Arc<World>, client: Client, k: &'static ApiKind) {
    let mut generation = world.generation.subscribe();
    while !world.listed(&[Kind::Pod, Kind::Prometheus]) {
        if generation.changed().await.is_err() {
            return;
        }
    }
    let ar = crate::live::api_resource(k, k.versions[0]);
    let mut watches = ObjectWatches::default();
    let mut refused: BTreeSet<ObjRef> = BTreeSet::new();
    let mut synced = false;
    loop {
        let wanted: BTreeSet<ObjRef> = world
            .index
            .read()
            .unwrap()
            .referenced_configs()
            .into_iter()
            .filter(|r| r.kind == k.kind)
            .collect();
        let gone: Vec<ObjRef> = watches
            .0
            .keys()
            .chain(refused.iter())
            .filter(|r| !wanted.contains(*r))
            .cloned()
            .collect();
        for r in gone {
            if let Some(h) = watches.0.remove(&r) {
                h.abort();
            }
            refused.remove(&r);
            debug!(object = %r, "no longer referenced: forgotten");
            world.forget(&r);
        }
        let mut first_reads = Vec::new();
        for r in wanted {
            if watches.0.contains_key(&r) || refused.contains(&r) {
                continue;
            }
            if let Some(message) = world.configs.refusal(&r) {
                refused.insert(r.clone());
                world.config_unreadable(&r, message);
                continue;
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            let task = watch_referenced(world.clone(), client.clone(), ar.clone(), r.clone(), tx);
            watches.0.insert(r, tokio::spawn(task));
            first_reads.push(rx);
        }
        if !synced {
            for rx in first_reads {
                let _ = tokio::time::timeout(Duration::from_secs(10), rx).await;
            }
            world.set_state(k, KindState::Synced);
            synced = true;
        }
        if generation.changed().await.is_err() {
            return;
        }
    }
}

/// The per-object watches of [`run_referenced`]: stopped with it (a spawned task outlives the handle
/// that is dropped, so they are aborted explicitly when the controller stops).
#[derive(Default)]
struct ObjectWatches(HashMap<ObjRef, tokio::task::JoinHandle<()>>);

impl Drop for ObjectWatches {
    fn drop(&mut self) {
        for h in self.0.values() {
            h.abort();
        }
    }
}

/// Watches one referenced object by name; `read` fires once its first state is known. A read the API
/// server refuses (403) is recorded for the engine with the grant it needs, and tried again only after
/// [`config_access::FORBIDDEN_RETRY`].
async fn watch_referenced(
    world: Arc<World>,
    client: Client,
    ar: ApiResource,
    r: ObjRef,
    read: tokio::sync::oneshot::Sender<()>,
) {
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(client, &r.namespace, &ar);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", r.name));
    let start = || {
        watcher(api.clone(), config.clone())
            .default_backoff()
            .boxed()
    };
    let mut stream = start();
    let mut read = Some(read);
    let mut present = false;
    let mut last_error: Option<String> = None;
    loop {
        let ev = match stream.try_next().await {
            Ok(Some(ev)) => ev,
            Ok(None) => return,
            Err(e) => {
                if let Some(status) = forbidden_status(&e) {
                    world.config_unreadable(&r, config_access::forbidden(&r, &status));
                    if let Some(tx) = read.take() {
                        let _ = tx.send(());
                    }
                    // Permissions change rarely: a fresh watch later, not a retry loop now.
                    tokio::time::sleep(config_access::FORBIDDEN_RETRY).await;
                    stream = start();
                    continue;
                }
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    warn!(object = %r, error = %msg, "cannot read the scraper's configuration; retrying with backoff");
                    world.unreadable_ref(&r, format!("cannot be read: {msg}"));
                    last_error = Some(msg);
                }
                if let Some(tx) = read.take() {
                    let _ = tx.send(());
                }
                continue;
            }
        };
        last_error = None;
        match ev {
            Event::Init => present = false,
            Event::InitApply(o) => {
                present = true;
                world.apply_value(r.kind, value(o, &ar));
            }
            Event::InitDone => {
                if !present {
                    world.forget(&r);
                }
                if let Some(tx) = read.take() {
                    let _ = tx.send(());
                }
            }
            Event::Apply(o) => world.apply_value(r.kind, value(o, &ar)),
            Event::Delete(o) => world.delete_value(r.kind, &value(o, &ar)),
        }
    }
}

fn value(o: DynamicObject, ar: &ApiResource) -> Value {
    object_value(o, ar)
}

/// The API server's message when a watch was refused with 403 Forbidden.
fn forbidden_status(e: &watcher::Error) -> Option<String> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s))
            if s.code == 403 =>
        {
            Some(s.message.clone())
        }
        watcher::Error::WatchError(s) if s.code == 403 => Some(s.message.clone()),
        _ => None,
    }
}

fn watch_error_not_served(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => is_not_served(e),
        watcher::Error::WatchError(s) => s.code == 404,
        watcher::Error::NoResourceVersion => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_text;

    fn index(yaml: &str) -> ClusterIndex {
        let mut idx = ClusterIndex::new();
        let mut stats = crate::load::LoadStats::default();
        for o in parse_text(std::path::Path::new("t.yaml"), yaml, &mut stats).unwrap() {
            idx.apply(o);
        }
        idx
    }

    const WORLD: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {podMonitorSelector: {}}
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: a, namespace: team-a}
spec:
  selector: {matchLabels: {app: a}}
  endpoints: [{port: http}]
  scraper: {kind: Prometheus, namespace: monitoring, name: k8s}
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: b, namespace: team-b}
spec:
  selector: {matchLabels: {app: b}}
  endpoints: [{port: http}]
  scraper: {kind: Prometheus, namespace: monitoring, name: k8s}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: pm, namespace: team-b}
spec: {selector: {}, podMetricsEndpoints: [{port: http}]}
"#;

    fn names(v: Vec<ObjRef>) -> Vec<String> {
        v.into_iter()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .collect()
    }

    #[test]
    fn a_policy_change_affects_only_the_intents_of_its_namespace() {
        let idx = index(WORLD);
        let cfg = EngineConfig::default();
        let r = ObjRef::new(Kind::CiliumNetworkPolicy, "team-a", "p");
        let scope = scope_of(&r, None, None);
        assert_eq!(names(affected_intents(&idx, &cfg, &scope)), ["team-a/a"]);
        assert!(affected_monitors(&idx, &scope).is_empty());
    }

    #[test]
    fn a_change_in_the_scraper_namespace_affects_every_intent_it_scrapes_for() {
        let idx = index(WORLD);
        let cfg = EngineConfig::default();
        let r = ObjRef::new(Kind::Pod, "monitoring", "prometheus-k8s-0");
        let scope = scope_of(&r, None, None);
        assert_eq!(
            names(affected_intents(&idx, &cfg, &scope)),
            ["team-a/a", "team-b/b"]
        );
        assert_eq!(names(affected_monitors(&idx, &scope)), ["team-b/pm"]);
    }

    #[test]
    fn a_prometheus_or_clusterwide_policy_change_affects_everything() {
        let idx = index(WORLD);
        let cfg = EngineConfig::default();
        for kind in [Kind::Prometheus, Kind::CiliumClusterwideNetworkPolicy] {
            let scope = scope_of(&ObjRef::new(kind, "", "x"), None, None);
            assert_eq!(scope, Scope::All);
            assert_eq!(affected_intents(&idx, &cfg, &scope).len(), 2);
        }
    }

    #[test]
    fn a_monitor_that_selects_other_namespaces_affects_them_too() {
        let idx = index(WORLD);
        let cfg = EngineConfig::default();
        let mut m = idx
            .monitor(crate::model::MonitorKind::PodMonitor, "team-b", "pm")
            .unwrap()
            .clone();
        m.namespace_selector.match_names = vec!["team-a".into()];
        let scope = scope_of(&m.obj_ref(), Some(&m), None);
        assert_eq!(
            names(affected_intents(&idx, &cfg, &scope)),
            ["team-a/a", "team-b/b"]
        );
    }

    #[test]
    fn intents_without_a_named_scraper_follow_every_scraper_namespace() {
        let mut idx = index(WORLD);
        let unnamed = index(
            "apiVersion: scrapepath.io/v1alpha1\nkind: ScrapeIntent\nmetadata: {name: c, namespace: team-c}\nspec: {selector: {}, endpoints: [{port: http}]}\n",
        );
        for si in unnamed.intents() {
            idx.apply(Object::Intent(Box::new(si.clone())));
        }
        let cfg = EngineConfig::default();
        let scope = scope_of(&ObjRef::new(Kind::Pod, "monitoring", "p"), None, None);
        assert!(names(affected_intents(&idx, &cfg, &scope)).contains(&"team-c/c".to_string()));
        let elsewhere = scope_of(&ObjRef::new(Kind::Pod, "team-a", "p"), None, None);
        assert_eq!(
            names(affected_intents(&idx, &cfg, &elsewhere)),
            ["team-a/a"]
        );
    }
}
