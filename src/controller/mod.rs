//! `scrapepath run`: the controller. Watches feed the shared index ([`world`]); a change is mapped to the
//! intents it can affect; each reconcile runs the pure engine on one intent, applies the plan in Enforce
//! mode ([`enforce`]), and writes status only when it changed ([`status`]). Monitors no intent covers are
//! audited: an Event when their verdict changes, never a write to them.
//!
//! The pipeline per intent: evaluate → enforce (Enforce mode) → re-evaluate if anything was written →
//! status → events. Errors are split into transient ones (back off and retry) and those only a change of
//! the cluster resolves (wait for that change).

pub mod enforce;
pub mod leader;
pub mod metrics;
pub mod observer;
pub mod status;
pub mod world;

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc as fmpsc;
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{applier, Action, Config as ApplierConfig};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, Resource};
use serde_json::json;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::api::{Mode, ScrapeIntent};
use crate::conditions as cond;
use crate::engine::{Engine, EngineConfig, SubjectReport};
use crate::kinds::API_KINDS;
use crate::model::{Kind, Monitor, ObjRef};

use enforce::{enforce, EnforceError, FIELD_MANAGER};
use leader::{LeaderElection, Leadership};
pub use metrics::Stats;
use world::{affected_intents, affected_monitors, Scope, World};

/// Platform settings of the controller (flags / env; the chart maps its values onto them).
#[derive(Debug, Clone)]
pub struct Settings {
    pub engine: EngineConfig,
    /// Whether Enforce is allowed at all; when not, Enforce intents are treated as Report.
    pub allow_enforce: bool,
    /// Intents (and monitors to audit) only in these namespaces; empty: every namespace.
    pub namespaces: BTreeSet<String>,
    /// Parallel reconciles.
    pub concurrency: u16,
    /// This instance's name in Events (the pod name in a cluster).
    pub instance: String,
    /// Compete for a Lease and write only while holding it; `None`: always write.
    pub leader_election: Option<LeaderElection>,
    /// Where to serve `/metrics`; `None`: not served.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where to serve `/healthz` and `/readyz` (may equal `metrics_addr`); `None`: not served.
    pub health_addr: Option<std::net::SocketAddr>,
    /// Reading the scrapers' `/api/v1/targets` for the `Scraped` condition; `None`: off (`Scraped`
    /// stays `NotObserved`).
    pub observe: Option<crate::observe::plan::ObserveSettings>,
    /// Where the scrapers' ConfigMaps and Secrets may be read (the others are never asked for).
    pub configs: crate::config_access::ConfigAccess,
    /// Whether Roles, ClusterRoles and their bindings are watched (`DiscoveryPermitted`); when not,
    /// that layer is Unknown.
    pub read_rbac: bool,
    /// Where the scrapers' StatefulSets and Warning Events are read (what ScraperNotReady quotes).
    pub scraper_status: crate::config_access::ConfigNamespaces,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            engine: EngineConfig::default(),
            allow_enforce: true,
            namespaces: BTreeSet::new(),
            concurrency: 4,
            instance: "scrapepath".into(),
            leader_election: None,
            metrics_addr: None,
            health_addr: None,
            observe: None,
            configs: Default::default(),
            read_rbac: false,
            scraper_status: crate::config_access::ConfigNamespaces::default_status(),
        }
    }
}

impl Settings {
    fn watches(&self, ns: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.contains(ns)
    }
}

struct Ctx {
    client: Client,
    world: Arc<World>,
    settings: Settings,
    recorder: Recorder,
    stats: Arc<Stats>,
    leadership: Leadership,
    failures: Mutex<HashMap<ObjRef, u32>>,
    /// The last status written per intent, with the resourceVersion the write produced: the reflector's
    /// copy lags behind our own writes, and comparing with a stale copy would write again.
    written: Mutex<HashMap<ObjRef, (u64, crate::api::ScrapeIntentStatus)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Enforce(#[from] EnforceError),
    #[error("writing the status of {object}: {source}")]
    Status {
        object: String,
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    fn is_transient(&self) -> bool {
        match self {
            ReconcileError::Enforce(e) => e.is_transient(),
            ReconcileError::Status { .. } => true,
        }
    }

    /// The Event reason and metric label of this error's category.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Enforce(e) => e.category(),
            ReconcileError::Status { .. } => "StatusWriteFailed",
        }
    }
}

/// A running controller: its counters, the world it reads (for tests and benchmarks), and the task that
/// ends when the controller has shut down.
pub struct Handle {
    pub stats: Arc<Stats>,
    pub world: Arc<World>,
    pub done: tokio::task::JoinHandle<()>,
    /// The bound addresses of the metrics and health endpoints (a port 0 setting picks a free port).
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub health_addr: Option<std::net::SocketAddr>,
    /// Leader election: ends once the Lease is released after shutdown.
    pub lease: Option<tokio::task::JoinHandle<()>>,
}

fn intent_key(si: &ScrapeIntent) -> ObjRef {
    ObjRef::new(
        Kind::ScrapeIntent,
        si.metadata.namespace.clone().unwrap_or_default(),
        si.metadata.name.clone().unwrap_or_default(),
    )
}

/// Evaluates one intent against the current index.
fn evaluate(world: &World, settings: &Settings, si: &ScrapeIntent) -> (SubjectReport, Mode) {
    let idx = world.index.read().unwrap();
    let observed = world.observed();
    let mut engine = Engine::new(&idx, &settings.engine).observing(observed.as_ref());
    let report = engine.intent(si);
    let mut mode = report.mode.clone().unwrap_or(Mode::Report);
    if mode == Mode::Enforce && !settings.allow_enforce {
        mode = Mode::Report;
    }
    (report, mode)
}

async fn reconcile(si: Arc<ScrapeIntent>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let key = intent_key(&si);
    let span = info_span!("reconcile", namespace = %key.namespace, name = %key.name);
    reconcile_intent(si, ctx, key).instrument(span).await
}

async fn reconcile_intent(
    si: Arc<ScrapeIntent>,
    ctx: Arc<Ctx>,
    key: ObjRef,
) -> Result<Action, ReconcileError> {
    if !ctx.settings.watches(&key.namespace) {
        return Ok(Action::await_change());
    }
    // A standby writes nothing; it reconciles everything once it becomes the leader.
    if !ctx.leadership.is_leader() {
        return Ok(Action::await_change());
    }
    ctx.stats.reconciles.inc();
    // Reconcile the newest version the index has (the queue may hold an older one).
    let (mut report, mode) = evaluate(&ctx.world, &ctx.settings, &si);
    let mut managed = Vec::new();
    let reference = si.object_ref(&());
    if mode == Mode::Enforce {
        let done = enforce(&ctx.client, &ctx.world, &si, &report.remediation).await;
        let done = match done {
            Ok(d) => d,
            Err(e) => {
                publish(
                    &ctx,
                    &reference,
                    EventType::Warning,
                    e.category(),
                    &e.to_string(),
                )
                .await;
                return Err(e.into());
            }
        };
        for a in &done.actions {
            match a {
                enforce::Action::Removed(_) => ctx.stats.object_deletes.inc(),
                _ => ctx.stats.object_writes.inc(),
            };
            let (reason, note) = a.describe();
            info!(namespace = %key.namespace, name = %key.name, "{note}");
            publish(&ctx, &reference, EventType::Normal, reason, &note).await;
        }
        if !done.actions.is_empty() {
            // The index already holds what was written: the status describes the cluster after it.
            report = evaluate(&ctx.world, &ctx.settings, &si).0;
        }
        managed = done.managed;
    }
    ctx.stats.intent(&report);
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let desired = status::desired_status(&si, &report, mode, managed, &now);
    let store_rv = resource_version(&si);
    let ours = ctx.written.lock().unwrap().get(&key).cloned();
    let current = match (&ours, store_rv) {
        // The watch has not delivered our last write yet: that write is the current status.
        (Some((rv, st)), Some(seen)) if seen < *rv => Some(st),
        _ => {
            if ours.is_some() {
                ctx.written.lock().unwrap().remove(&key);
            }
            si.status.as_ref()
        }
    };
    if status::status_changed(current, &desired) && ctx.leadership.is_leader() {
        let api: Api<ScrapeIntent> = Api::namespaced(ctx.client.clone(), &key.namespace);
        let body = json!({
            "apiVersion": ScrapeIntent::api_version(&()),
            "kind": ScrapeIntent::kind(&()),
            "status": desired,
        });
        let written = api
            .patch_status(
                &key.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(|source| ReconcileError::Status {
                object: key.to_string(),
                source,
            })?;
        if let Some(rv) = resource_version(&written) {
            ctx.written
                .lock()
                .unwrap()
                .insert(key.clone(), (rv, desired.clone()));
        }
        ctx.stats.status_writes.inc();
        debug!(namespace = %key.namespace, name = %key.name, "status written");
        if let Some(t) = status::ready_transition(current, &desired) {
            let (ty, reason) = if t.ready {
                (EventType::Normal, cond::READY.to_string())
            } else {
                (EventType::Warning, t.reason.clone())
            };
            publish(&ctx, &reference, ty, &reason, &t.message).await;
        }
    }
    ctx.failures.lock().unwrap().remove(&key);
    Ok(Action::requeue(Duration::from_secs(30 * 60)))
}

/// The resourceVersion as a number: opaque by contract, an etcd revision in every API server there is;
/// used only to tell whether the reflector has caught up with our own write.
fn resource_version(si: &ScrapeIntent) -> Option<u64> {
    si.metadata.resource_version.as_deref()?.parse().ok()
}

fn error_policy(si: Arc<ScrapeIntent>, e: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    ctx.stats.error(e.category());
    let key = intent_key(&si);
    warn!(namespace = %key.namespace, name = %key.name, category = e.category(), error = %e, "reconcile failed");
    if !e.is_transient() {
        // Only a change of the cluster resolves it; the watches will bring that change.
        return Action::requeue(Duration::from_secs(5 * 60));
    }
    let mut failures = ctx.failures.lock().unwrap();
    let n = failures.entry(key).or_insert(0);
    *n += 1;
    let delay = Duration::from_millis(250 * 2u64.pow((*n).min(10))).min(Duration::from_secs(300));
    Action::requeue(delay)
}

/// Publishes an Event; a failure to publish is logged, never fatal.
async fn publish(
    ctx: &Ctx,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let ev = KubeEvent {
        type_,
        reason: reason.to_string(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    match ctx.recorder.publish(&ev, reference).await {
        Ok(()) => {
            ctx.stats.events.inc();
        }
        Err(e) => warn!(error = %e, reason, "cannot publish event"),
    }
}

/// Feeds ScrapeIntents into the world and the reconcile queue.
async fn watch_intents(
    client: Client,
    world: Arc<World>,
    writer: reflector::store::Writer<ScrapeIntent>,
) {
    let api: Api<ScrapeIntent> = Api::all(client);
    // Nothing reads who wrote which field: the store keeps the intents without their managedFields.
    let intents = watcher(api, watcher::Config::default())
        .modify(|si| kube::ResourceExt::managed_fields_mut(si).clear());
    let stream = reflector::reflector(writer, intents)
        .default_backoff()
        .boxed();
    let kind = Kind::ScrapeIntent;
    let mut buffer = Vec::new();
    let mut last_error: Option<String> = None;
    futures::pin_mut!(stream);
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    warn!(error = %msg, "ScrapeIntent watch failed; retrying with backoff");
                    last_error = Some(msg);
                }
                continue;
            }
        };
        last_error = None;
        // The index's copy is for routing changes and covering monitors: its spec. The status (with
        // its remediation objects, kilobytes per intent) is read from the store by each reconcile.
        let to_value = |si: &ScrapeIntent| {
            let mut v = serde_json::to_value(si).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                m.remove("status");
            }
            v
        };
        match ev {
            Event::Init => buffer.clear(),
            Event::InitApply(si) => buffer.push(world::Listed::read(kind, to_value(&si))),
            Event::InitDone => world.reset_values(
                crate::kinds::api_kind(kind).expect("ScrapeIntent is in the table"),
                std::mem::take(&mut buffer),
            ),
            Event::Apply(si) => world.apply_value(kind, to_value(&si)),
            Event::Delete(si) => world.delete_value(kind, &to_value(&si)),
        }
    }
}

/// Turns the world's changes into reconcile requests for the intents, and audit requests for the
/// monitors, they can affect. Nothing is requested before every kind has been listed.
async fn dispatch(
    world: Arc<World>,
    settings: Settings,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<Scope>,
    intents: fmpsc::UnboundedSender<ObjectRef<ScrapeIntent>>,
    monitors: tokio::sync::mpsc::UnboundedSender<AuditRequest>,
    mut leadership: Leadership,
    stats: Arc<Stats>,
) {
    world.wait_synced().await;
    let mut can_change = true;
    let leader = leadership.is_leader();
    stats.leader.set(i64::from(leader));
    if leader {
        info!("leading: evaluating every intent and monitor");
    }
    // A standby keeps its index current and requests nothing; becoming the leader requests everything.
    let mut pending = vec![Scope::All];
    loop {
        // Drain what is queued so a burst of changes maps once.
        while let Ok(s) = changes.try_recv() {
            pending.push(s);
        }
        if !leadership.is_leader() {
            pending.clear();
        }
        let all = pending.contains(&Scope::All);
        let scopes: Vec<Scope> = if all {
            vec![Scope::All]
        } else {
            std::mem::take(&mut pending)
        };
        pending.clear();
        let (is, ms, jobs) = {
            let idx = world.index.read().unwrap();
            let mut is = BTreeSet::new();
            let mut ms = BTreeSet::new();
            for s in &scopes {
                is.extend(affected_intents(&idx, &settings.engine, s));
                ms.extend(affected_monitors(&idx, s));
            }
            // scrape_configs jobs discover across namespaces: any change but an intent's may move them.
            let jobs =
                idx.has_scrape_configs() && scopes.iter().any(|s| !matches!(s, Scope::Intent(_)));
            (is, ms, jobs)
        };
        for r in is {
            if settings.watches(&r.namespace) {
                let _ = intents.unbounded_send(ObjectRef::new(&r.name).within(&r.namespace));
            }
        }
        for m in ms {
            if settings.watches(&m.namespace) {
                let _ = monitors.send(AuditRequest::Monitor(m));
            }
        }
        if jobs {
            let _ = monitors.send(AuditRequest::ScrapeJobs);
        }
        tokio::select! {
            s = changes.recv() => match s {
                Some(s) => pending.push(s),
                None => return,
            },
            ok = leadership.changed(), if can_change => {
                if !ok {
                    can_change = false;
                    continue;
                }
                let leader = leadership.is_leader();
                stats.leader.set(i64::from(leader));
                if leader {
                    info!("leading: evaluating every intent and monitor");
                    pending.push(Scope::All);
                } else {
                    warn!("lost the leader lease: writing nothing until it is regained");
                }
            }
        }
    }
}

/// The audit event reason for a monitor's verdict: the first failing layer, in words a platform
/// engineer searches for.
fn audit_reason(r: &SubjectReport) -> (&'static str, String) {
    let failing = cond::LAYERS.iter().find_map(|layer| {
        r.condition(layer)
            .filter(|c| c.status == "False")
            .map(|c| (*layer, c))
    });
    match failing {
        None => (
            "Scrapable",
            r.condition(cond::READY)
                .map(|c| c.message.clone())
                .unwrap_or_default(),
        ),
        Some((layer, c)) => {
            let reason = match layer {
                cond::TARGETS_RESOLVED => "NoTargets",
                cond::SCRAPER_READY => "ScraperNotReady",
                cond::MONITOR_SELECTED => "NotSelected",
                cond::DISCOVERY_PERMITTED => "DiscoveryForbidden",
                cond::NETWORK_REACHABLE => "Unreachable",
                cond::MESH_AUTHORIZED => "MeshDenied",
                _ => "NotScraped",
            };
            (reason, format!("{}: {}", c.reason, c.message))
        }
    }
}

/// A monitor's audit verdict (`None`: gone, or covered by an intent).
type MonitorVerdict = (ObjRef, Option<(&'static str, String)>);

/// What the audit is asked to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum AuditRequest {
    Monitor(ObjRef),
    /// Every scrape_configs job of every scraper that reads a configuration.
    ScrapeJobs,
}

/// Audits monitors that no intent covers, and scrape_configs jobs: an Event on the monitor (on the
/// scraper, for a job) when its verdict changes.
async fn audit_monitors(ctx: Arc<Ctx>, mut rx: tokio::sync::mpsc::UnboundedReceiver<AuditRequest>) {
    let mut last: HashMap<ObjRef, &'static str> = HashMap::new();
    let mut last_jobs: HashMap<String, &'static str> = HashMap::new();
    while let Some(first) = rx.recv().await {
        // Collect a burst, then evaluate it with one engine.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut requests = BTreeSet::from([first]);
        while let Ok(r) = rx.try_recv() {
            requests.insert(r);
        }
        if !ctx.leadership.is_leader() {
            // The leader audits; a new leader re-audits everything.
            last.clear();
            last_jobs.clear();
            continue;
        }
        let jobs_requested = requests.remove(&AuditRequest::ScrapeJobs);
        let batch: BTreeSet<ObjRef> = requests
            .into_iter()
            .filter_map(|r| match r {
                AuditRequest::Monitor(m) => Some(m),
                AuditRequest::ScrapeJobs => None,
            })
            .collect();
        let (verdicts, jobs): (Vec<MonitorVerdict>, Option<Vec<SubjectReport>>) = {
            let idx = ctx.world.index.read().unwrap();
            let covered: BTreeSet<ObjRef> = covered_monitors(&idx);
            let observed = ctx.world.observed();
            let mut engine = Engine::new(&idx, &ctx.settings.engine).observing(observed.as_ref());
            let verdicts = batch
                .into_iter()
                .map(|r| {
                    let m = monitor_in(&idx, &r);
                    let verdict = m
                        .filter(|m| !covered.contains(&m.obj_ref()))
                        .map(|m| audit_reason(&engine.monitor(m)));
                    (r, verdict)
                })
                .collect();
            let jobs = jobs_requested.then(|| engine.scrape_job_subjects());
            (verdicts, jobs)
        };
        if let Some(jobs) = jobs {
            audit_jobs(&ctx, &mut last_jobs, jobs).await;
        }
        for (r, verdict) in verdicts {
            let kind = metrics::monitor_kind(r.kind);
            let Some((reason, message)) = verdict else {
                ctx.stats.audit(kind, &r.namespace, &r.name, None);
                last.remove(&r);
                continue;
            };
            ctx.stats.audit(kind, &r.namespace, &r.name, Some(reason));
            let previous = last.insert(r.clone(), reason);
            // A monitor first seen healthy says nothing; any later change, or a first problem, does.
            let speak = match previous {
                None => reason != "Scrapable",
                Some(p) => p != reason,
            };
            if !speak {
                continue;
            }
            let Some(ar) = ctx.world.served(r.kind) else {
                continue;
            };
            let reference = k8s_openapi::api::core::v1::ObjectReference {
                api_version: Some(ar.api_version.clone()),
                kind: Some(ar.kind.clone()),
                namespace: Some(r.namespace.clone()),
                name: Some(r.name.clone()),
                uid: monitor_uid(&ctx, &r).await,
                ..Default::default()
            };
            let ty = if reason == "Scrapable" {
                EventType::Normal
            } else {
                EventType::Warning
            };
            info!(monitor = %r, reason, "audit verdict changed");
            publish(&ctx, &reference, ty, reason, &message).await;
        }
    }
}

/// Events for scrape_configs jobs whose verdict changed, on the scraper that runs them (the
/// Prometheus object, or the workload of a Pods scraper): `job <name>: <reason>: <message>`.
async fn audit_jobs(ctx: &Ctx, last: &mut HashMap<String, &'static str>, jobs: Vec<SubjectReport>) {
    let current: BTreeSet<String> = jobs
        .iter()
        .map(|s| format!("{}/{}", s.namespace, s.name))
        .collect();
    last.retain(|k, _| {
        let keep = current.contains(k);
        if !keep {
            if let Some((ns, name)) = k.split_once('/') {
                ctx.stats.audit("ScrapeJob", ns, name, None);
            }
        }
        keep
    });
    for s in jobs {
        if !ctx.settings.watches(&s.namespace) {
            continue;
        }
        let (reason, message) = audit_reason(&s);
        ctx.stats
            .audit("ScrapeJob", &s.namespace, &s.name, Some(reason));
        let key = format!("{}/{}", s.namespace, s.name);
        let previous = last.insert(key, reason);
        let speak = match previous {
            None => reason != "Scrapable",
            Some(p) => p != reason,
        };
        let Some(scraper) = s.scrapers.first() else {
            continue;
        };
        if !speak {
            continue;
        }
        let api_version = match scraper.kind.as_str() {
            "Prometheus" => "monitoring.coreos.com/v1",
            "PrometheusAgent" => "monitoring.coreos.com/v1alpha1",
            "Pod" => "v1",
            _ => "apps/v1",
        };
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(api_version.into()),
            kind: Some(scraper.kind.clone()),
            namespace: Some(scraper.namespace.clone()),
            name: Some(scraper.name.clone()),
            ..Default::default()
        };
        let job = s.name.split_once('/').map(|(_, j)| j).unwrap_or(&s.name);
        let ty = if reason == "Scrapable" {
            EventType::Normal
        } else {
            EventType::Warning
        };
        info!(subject = %s.name, reason, "scrape job audit verdict changed");
        publish(
            ctx,
            &reference,
            ty,
            reason,
            &format!("job {job}: {message}"),
        )
        .await;
    }
}

/// The uid of a monitor, for the Event's reference (read, never written).
async fn monitor_uid(ctx: &Ctx, r: &ObjRef) -> Option<String> {
    let ar = ctx.world.served(r.kind)?;
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &r.namespace, &ar);
    api.get_metadata_opt(&r.name)
        .await
        .ok()
        .flatten()
        .and_then(|m| m.metadata.uid)
}

fn monitor_in<'a>(idx: &'a crate::index::ClusterIndex, r: &ObjRef) -> Option<&'a Monitor> {
    let kind = match r.kind {
        Kind::PodMonitor => crate::model::MonitorKind::PodMonitor,
        Kind::ServiceMonitor => crate::model::MonitorKind::ServiceMonitor,
        _ => return None,
    };
    idx.monitor(kind, &r.namespace, &r.name)
}

/// Monitors an intent covers: scrapepath's own, and those an intent references.
fn covered_monitors(idx: &crate::index::ClusterIndex) -> BTreeSet<ObjRef> {
    let mut out: BTreeSet<ObjRef> = idx
        .monitors()
        .filter(|m| crate::model::managing_intent(&m.labels).is_some())
        .map(Monitor::obj_ref)
        .collect();
    for si in idx.intents() {
        let Some(m) = &si.spec.monitor else { continue };
        let Some(r) = &m.reference else { continue };
        let kind = match m.kind {
            crate::api::MonitorKind::ServiceMonitor => Kind::ServiceMonitor,
            _ => Kind::PodMonitor,
        };
        let ns = r
            .namespace
            .clone()
            .or_else(|| si.metadata.namespace.clone())
            .unwrap_or_default();
        out.insert(ObjRef::new(kind, ns, &r.name));
    }
    out
}

/// Starts the controller; it runs until `shutdown` resolves, then finishes the reconciles in flight.
pub async fn run(
    client: Client,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Handle> {
    let (world, changes) =
        World::with_status(settings.configs.clone(), settings.scraper_status.clone());
    let stats = Arc::new(Stats::default());
    let probe = metrics::Probe {
        stats: stats.clone(),
        world: world.clone(),
    };
    let mut servers = Vec::new();
    let metrics_addr = match settings.metrics_addr {
        Some(addr) => {
            let (bound, task) = metrics::serve(addr, probe.clone()).await?;
            info!(address = %bound, "serving /metrics");
            servers.push(task);
            Some(bound)
        }
        None => None,
    };
    let health_addr = match settings.health_addr {
        Some(addr) if Some(addr) == settings.metrics_addr => metrics_addr,
        Some(addr) => {
            let (bound, task) = metrics::serve(addr, probe).await?;
            info!(address = %bound, "serving /healthz and /readyz");
            servers.push(task);
            Some(bound)
        }
        None => None,
    };
    let (leadership, lease) = match &settings.leader_election {
        Some(cfg) => {
            let (l, task) = leader::spawn(client.clone(), cfg.clone());
            (l, Some(task))
        }
        None => (Leadership::always(), None),
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "scrapepath".into(),
            instance: Some(settings.instance.clone()),
        },
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        world: world.clone(),
        settings: settings.clone(),
        recorder,
        stats: stats.clone(),
        leadership: leadership.clone(),
        failures: Mutex::new(HashMap::new()),
        written: Mutex::new(HashMap::new()),
    });
    let ctx_stats = stats;

    let mut tasks = Vec::new();
    for k in API_KINDS.iter().filter(|k| k.kind != Kind::ScrapeIntent) {
        if !crate::kinds::is_read(k, settings.read_rbac) {
            world.not_read(k);
            continue;
        }
        tasks.push(tokio::spawn(world::run_kind(
            world.clone(),
            client.clone(),
            k,
        )));
    }
    let (store, writer) = reflector::store();
    tasks.push(tokio::spawn(watch_intents(
        client.clone(),
        world.clone(),
        writer,
    )));
    let (intent_tx, intent_rx) = fmpsc::unbounded();
    let (monitor_tx, monitor_rx) = tokio::sync::mpsc::unbounded_channel();
    tasks.push(tokio::spawn(dispatch(
        world.clone(),
        settings.clone(),
        changes,
        intent_tx,
        monitor_tx,
        leadership,
        ctx_stats.clone(),
    )));
    tasks.push(tokio::spawn(audit_monitors(ctx.clone(), monitor_rx)));
    if let Some(observe) = settings.observe.clone() {
        // Before any reconcile: from the first status on, `Scraped` says observation is on.
        world.enable_observation();
        let fetcher = crate::observe::fetch::Fetcher::new(Some(client.clone()), observe.timeout);
        tasks.push(tokio::spawn(observer::supervise(
            world.clone(),
            fetcher,
            observe,
        )));
    }

    let queue = intent_rx.map(Ok::<_, Infallible>).take_until(shutdown);
    let config = ApplierConfig::default().concurrency(settings.concurrency);
    let done = tokio::spawn(async move {
        let run = applier(
            |si, ctx| Box::pin(reconcile(si, ctx)),
            error_policy,
            ctx,
            store,
            queue,
            config,
        );
        run.for_each(|res| async move {
            if let Err(e) = res {
                debug!(error = %e, "reconcile request failed");
            }
        })
        .await;
        info!("reconcile queue drained: stopping watches");
        for t in tasks.into_iter().chain(servers) {
            t.abort();
            // Wait for it to stop, so that what it held (the leadership) is dropped.
            let _ = t.await;
        }
    });
    Ok(Handle {
        stats: ctx_stats,
        world,
        done,
        metrics_addr,
        health_addr,
        lease,
    })
}

/// Runs the controller until SIGTERM or Ctrl-C, then finishes the reconciles in flight.
pub async fn run_until_signal(client: Client, settings: Settings) -> std::io::Result<()> {
    let shutdown = async move {
        shutdown_signal().await;
        info!("shutdown requested: finishing reconciles in flight");
    };
    let mut handle = match run(client, settings, shutdown).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve the metrics or health endpoints");
            return Err(e);
        }
    };
    let _ = handle.done.await;
    if let Some(lease) = handle.lease.take() {
        // Release the Lease so a standby takes over now rather than when it expires.
        if tokio::time::timeout(Duration::from_secs(5), lease)
            .await
            .is_err()
        {
            warn!("the leader lease was not released within 5s; it expires on its own");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
