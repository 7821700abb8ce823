//! What the controller did and what it found, as Prometheus metrics, and the HTTP endpoints a Deployment
//! probes: `/metrics` (text exposition), `/healthz` (liveness: the process serves), `/readyz` (readiness:
//! every watched kind has been listed once; a standby replica that is not the leader is ready too).
//!
//! The counters are the ones tests and benchmarks read ([`Stats`]); the gauges describe each intent (ready,
//! targets, blocked targets) and each audited monitor or scrape job (its current verdict as a label).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use super::world::World;
use crate::engine::SubjectReport;
use crate::model::Kind;

type LabelSet = Vec<(String, String)>;

/// Counters and gauges of one controller.
pub struct Stats {
    pub reconciles: Counter,
    /// Failed reconciles by error category (the Event reason: ApplyFailed, NameCollision, ...).
    pub reconcile_errors: Family<LabelSet, Counter>,
    pub status_writes: Counter,
    pub object_writes: Counter,
    pub object_deletes: Counter,
    pub events: Counter,
    /// 1 while this instance holds the leader lease (always 1 without leader election).
    pub leader: Gauge,
    intent_ready: Family<LabelSet, Gauge>,
    intent_targets: Family<LabelSet, Gauge>,
    intent_blocked: Family<LabelSet, Gauge>,
    /// Intents with gauges, so that those of deleted intents are removed.
    intents: Mutex<BTreeSet<(String, String)>>,
    audit: Family<LabelSet, Gauge>,
    /// The current verdict label set per audited subject.
    audited: Mutex<std::collections::BTreeMap<(String, String, String), LabelSet>>,
    registry: Registry,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("reconciles", &self.reconciles.get())
            .field("writes", &self.writes())
            .finish_non_exhaustive()
    }
}

impl Default for Stats {
    fn default() -> Self {
        let writes: Family<LabelSet, Counter> = Family::default();
        let write = |kind: &str| {
            writes
                .get_or_create(&vec![("kind".to_string(), kind.to_string())])
                .clone()
        };
        let mut s = Stats {
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            status_writes: write("status"),
            object_writes: write("apply"),
            object_deletes: write("delete"),
            events: write("event"),
            leader: Gauge::default(),
            intent_ready: Family::default(),
            intent_targets: Family::default(),
            intent_blocked: Family::default(),
            intents: Mutex::new(BTreeSet::new()),
            audit: Family::default(),
            audited: Mutex::new(Default::default()),
            registry: Registry::with_prefix("scrapepath"),
        };
        let r = &mut s.registry;
        r.register(
            "reconciles",
            "Reconciles of ScrapeIntents",
            s.reconciles.clone(),
        );
        r.register(
            "reconcile_errors",
            "Failed reconciles by error category",
            s.reconcile_errors.clone(),
        );
        r.register(
            "api_writes",
            "Writes to the API server by kind: status patches, applied objects, deleted objects, Events",
            writes,
        );
        r.register(
            "leader",
            "1 while this instance holds the leader lease (always 1 without leader election)",
            s.leader.clone(),
        );
        r.register(
            "intent_ready",
            "1 when the ScrapeIntent is Ready",
            s.intent_ready.clone(),
        );
        r.register(
            "intent_targets",
            "Targets the ScrapeIntent resolves to",
            s.intent_targets.clone(),
        );
        r.register(
            "intent_blocked_targets",
            "Targets of the ScrapeIntent the network or the mesh does not let the scraper reach",
            s.intent_blocked.clone(),
        );
        r.register(
            "audit_verdict",
            "1 for the current audit verdict of a monitor or scrape job that no intent covers (verdict: Scrapable, NotSelected, Unreachable, ...)",
            s.audit.clone(),
        );
        s
    }
}

impl Stats {
    /// Every write to the API server: status patches, applied and deleted objects, Events.
    pub fn writes(&self) -> u64 {
        self.status_writes.get()
            + self.object_writes.get()
            + self.object_deletes.get()
            + self.events.get()
    }

    pub fn error(&self, category: &str) {
        self.reconcile_errors
            .get_or_create(&vec![("category".to_string(), category.to_string())])
            .inc();
    }

    /// The gauges of one intent from its evaluation.
    pub fn intent(&self, report: &SubjectReport) {
        let labels = vec![
            ("namespace".to_string(), report.namespace.clone()),
            ("name".to_string(), report.name.clone()),
        ];
        let ready = report
            .condition(crate::conditions::READY)
            .is_some_and(|c| c.status == "True");
        self.intent_ready
            .get_or_create(&labels)
            .set(i64::from(ready));
        let blocked = report.targets.iter().filter(|t| t.blocked()).count();
        self.intent_targets
            .get_or_create(&labels)
            .set(report.targets.len() as i64);
        self.intent_blocked
            .get_or_create(&labels)
            .set(blocked as i64);
        self.intents
            .lock()
            .unwrap()
            .insert((report.namespace.clone(), report.name.clone()));
    }

    /// The current audit verdict of a monitor (kind PodMonitor/ServiceMonitor) or scrape job (kind
    /// ScrapeJob); `None` removes it (gone, or now covered by an intent).
    pub fn audit(&self, kind: &str, namespace: &str, name: &str, verdict: Option<&str>) {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        let mut audited = self.audited.lock().unwrap();
        if let Some(old) = audited.remove(&key) {
            self.audit.remove(&old);
        }
        if let Some(v) = verdict {
            let labels = vec![
                ("kind".to_string(), kind.to_string()),
                ("namespace".to_string(), namespace.to_string()),
                ("name".to_string(), name.to_string()),
                ("verdict".to_string(), v.to_string()),
            ];
            self.audit.get_or_create(&labels).set(1);
            audited.insert(key, labels);
        }
    }

    /// Removes the gauges of intents the world no longer holds.
    fn prune(&self, world: &World) {
        let idx = world.index.read().unwrap();
        let live: BTreeSet<(String, String)> = idx
            .intents()
            .map(|si| {
                (
                    si.metadata.namespace.clone().unwrap_or_default(),
                    si.metadata.name.clone().unwrap_or_default(),
                )
            })
            .collect();
        drop(idx);
        let mut intents = self.intents.lock().unwrap();
        intents.retain(|(ns, name)| {
            if live.contains(&(ns.clone(), name.clone())) {
                return true;
            }
            let labels = vec![
                ("namespace".to_string(), ns.clone()),
                ("name".to_string(), name.clone()),
            ];
            self.intent_ready.remove(&labels);
            self.intent_targets.remove(&labels);
            self.intent_blocked.remove(&labels);
            false
        });
    }

    /// The text exposition of every metric.
    pub fn encode(&self, world: &World) -> String {
        self.prune(world);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// What the HTTP endpoints read.
#[derive(Clone)]
pub struct Probe {
    pub stats: Arc<Stats>,
    pub world: Arc<World>,
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a static response is valid")
}

fn handle(probe: &Probe, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            probe.stats.encode(&probe.world),
        ),
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" => {
            if probe.world.is_synced() {
                respond(StatusCode::OK, "text/plain", "ok\n".into())
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "waiting for the first list of every watched kind\n".into(),
                )
            }
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: /metrics, /healthz, /readyz\n".into(),
        ),
    }
}

/// Binds `addr` and serves the endpoints until the task is aborted. Returns the bound address (port 0
/// picks a free one).
pub async fn serve(
    addr: SocketAddr,
    probe: Probe,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let probe = probe.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let resp = handle(&probe, &req);
                    async move { Ok::<_, Infallible>(resp) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    debug!(error = %e, %peer, "HTTP connection ended with an error");
                }
            });
        }
    });
    Ok((bound, task))
}

/// The kind label of an audited monitor.
pub fn monitor_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::ServiceMonitor => "ServiceMonitor",
        _ => "PodMonitor",
    }
}
