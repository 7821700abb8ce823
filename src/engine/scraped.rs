//! The `Scraped` layer: what the scraper itself reports about each target, from an [`Observed`] given
//! to the engine as a plain input (the engine does no I/O). Per target: up, down (with Prometheus's
//! `lastError`), not yet scraped, dropped by relabeling, not discovered, or not observable (the API could
//! not be read). Where the static verdict and the observation disagree, the message says so and what that
//! usually means.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{condition, undecidable, unknown, ConditionOut, Engine, Evaluated, Scraper};
use crate::cilium::eval::NetVerdict;
use crate::conditions::{self as cond, reason};
use crate::mesh::MeshVerdict;
use crate::observe::{
    error_meaning, find, is_timeout, ActiveTarget, DroppedTarget, Found, Health, Observation,
};

/// What Prometheus reports of one target, in the `check` output (`targets[].observed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedOut {
    /// `up`, `down`, `unknown` (discovered, not scraped yet), `dropped` (discovered, dropped by
    /// relabeling), `notDiscovered`, `unreachable` (the Prometheus API could not be read).
    pub health: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_pool: Option<String>,
    /// Where the observation was read.
    pub source: String,
}

/// One target's observed state.
enum State<'t> {
    /// No observation applies to this target's scraper.
    Unobserved,
    Unreachable(&'t str),
    Up(Vec<&'t ActiveTarget>),
    /// Some of its active targets are down (listed), perhaps others up.
    Down(Vec<&'t ActiveTarget>),
    Pending(Vec<&'t ActiveTarget>),
    Dropped(Vec<&'t DroppedTarget>),
    NotDiscovered,
}

/// How many targets a message lists per group before "and N more".
const LIST: usize = 5;

/// Sentences joined by "; ".
fn listed(items: &[String]) -> String {
    joined(items, "; ")
}

/// Target names joined by ", ".
fn names(items: &[String]) -> String {
    joined(items, ", ")
}

fn joined(items: &[String], sep: &str) -> String {
    if items.len() <= LIST {
        items.join(sep)
    } else {
        format!(
            "{}{sep}and {} more",
            items[..LIST].join(sep),
            items.len() - LIST
        )
    }
}

/// The discovered labels worth quoting for a dropped target (the full set runs to dozens).
fn quoted_labels(d: &DroppedTarget) -> String {
    const KEEP: [&str; 6] = [
        "__address__",
        "__metrics_path__",
        "__meta_kubernetes_pod_container_name",
        "__meta_kubernetes_pod_container_port_name",
        "__meta_kubernetes_pod_container_port_number",
        "__meta_kubernetes_endpoint_port_name",
    ];
    d.discovered_labels
        .iter()
        .filter(|(k, _)| KEEP.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Engine<'a> {
    /// `Scraped` for a subject's evaluated targets, and each target's observation (for the output).
    /// `pool`: only these scrape pools count: a monitor's prefix (ending in `/`), or a job's name.
    pub(super) fn scraped_condition(
        &self,
        evaluated: &[Evaluated],
        scrapers: &[Scraper<'a>],
        pool: Option<&str>,
    ) -> (ConditionOut, Vec<Option<ObservedOut>>) {
        let none = || vec![None; evaluated.len()];
        let Some(observed) = self.observed else {
            return (
                unknown(
                    cond::SCRAPED,
                    reason::NOT_OBSERVED,
                    "no Prometheus API was queried",
                ),
                none(),
            );
        };
        if let Some(c) = undecidable(cond::SCRAPED, "scrape health", evaluated, scrapers) {
            return (c, none());
        }
        let idx = self.idx;
        let states: Vec<(State<'_>, Option<&Observation>)> = evaluated
            .iter()
            .map(|e| {
                let s = &scrapers[e.scraper];
                // A sharded scraper's target is reported by the shard that keeps it.
                let shards = s.shards_of(&e.shard);
                let obs = observed.for_target(&s.obj.namespace, &s.obj.name, shards.as_deref());
                let state = match obs {
                    None => State::Unobserved,
                    Some(Observation::Unreachable { error, .. }) => State::Unreachable(error),
                    Some(Observation::Targets { targets, .. }) => {
                        match find(targets, idx.pod(e.pod), e.port, &e.path, pool) {
                            Found::Active(v) => {
                                let down: Vec<&ActiveTarget> = v
                                    .iter()
                                    .copied()
                                    .filter(|t| t.health == Health::Down)
                                    .collect();
                                if !down.is_empty() {
                                    State::Down(down)
                                } else if v.iter().any(|t| t.health == Health::Unknown) {
                                    State::Pending(v)
                                } else {
                                    State::Up(v)
                                }
                            }
                            Found::Dropped(d) => State::Dropped(d),
                            Found::NotDiscovered => State::NotDiscovered,
                        }
                    }
                };
                (state, obs)
            })
            .collect();

        let total = evaluated.len();
        let target = |e: &Evaluated| format!("{}:{}", idx.pod(e.pod).display(), e.port);
        let mut down = Vec::new();
        let mut down_targets = 0usize;
        let mut missing = Vec::new();
        let mut pending = Vec::new();
        let mut unreachable: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
        let mut unobserved = Vec::new();
        let mut up = 0usize;
        let mut disagree_up = Vec::new();
        let mut sources: Vec<&str> = Vec::new();
        for (e, (state, obs)) in evaluated.iter().zip(&states) {
            if let Some(o) = obs {
                if !sources.contains(&o.source()) {
                    sources.push(o.source());
                }
            }
            let t = target(e);
            match state {
                State::Up(_) => {
                    up += 1;
                    let blocked_by_network = e.now.verdict != NetVerdict::Allowed;
                    let blocked_by_mesh = e.mesh_now.verdict == MeshVerdict::Denied;
                    if blocked_by_network || blocked_by_mesh {
                        let layer = if blocked_by_network {
                            "NetworkReachable"
                        } else {
                            "MeshAuthorized"
                        };
                        disagree_up.push(format!("{t} ({layer} says blocked)"));
                    }
                }
                State::Down(ts) => {
                    down_targets += 1;
                    for a in ts {
                        let mut line = format!(
                            "{t} ({}): {} — {}",
                            a.scrape_url,
                            a.last_error,
                            error_meaning(&a.last_error)
                        );
                        if e.now.verdict == NetVerdict::Allowed
                            && e.mesh_now.verdict != MeshVerdict::Denied
                        {
                            if is_timeout(&a.last_error) {
                                line.push_str(&format!(
                                    ". The static policies allow it, yet the scrape times out: usually a policy this tool cannot see (a host firewall, a CiliumNetworkPolicy in a namespace not watched, node-level or egress policy on the Prometheus side), the pod not listening on that address, or a scrape_timeout too short{}",
                                    a.scrape_timeout.as_deref().map(|t| format!(" (it is {t})")).unwrap_or_default()
                                ));
                            } else {
                                line.push_str(". The static policies allow it: the cause is outside what the policies decide");
                            }
                        }
                        down.push(line);
                    }
                }
                State::Pending(_) => pending.push(t),
                State::Dropped(ds) => {
                    let d = ds[0];
                    missing.push(format!(
                        "{t}: discovered, then dropped by relabeling in scrape pool {} ({})",
                        d.scrape_pool.as_deref().unwrap_or("unknown"),
                        quoted_labels(d)
                    ));
                }
                State::NotDiscovered => missing.push(format!("{t}: no active target")),
                State::Unreachable(err) => {
                    let src = obs.map(|o| o.source()).unwrap_or_default();
                    unreachable.entry((src, err)).or_default().push(t);
                }
                State::Unobserved => unobserved.push(t),
            }
        }
        let from = if sources.is_empty() {
            "no Prometheus API".to_string()
        } else {
            sources.join(", ")
        };
        let converse = (!disagree_up.is_empty()).then(|| {
            format!(
                "Prometheus scrapes {} although the static verdict says blocked: the verdict may be stale, or the policy is not enforced (Cilium in policy-audit mode or enable-policy=never, a CNI that does not enforce NetworkPolicy, Istio with the sidecar bypassed)",
                names(&disagree_up)
            )
        });
        let mut parts = Vec::new();
        let c = if !down.is_empty() || !missing.is_empty() {
            if !down.is_empty() {
                parts.push(format!(
                    "{}/{total} targets are down in {from}: {}",
                    down_targets,
                    listed(&down)
                ));
            }
            if !missing.is_empty() {
                parts.push(format!(
                    "{}/{total} targets are not among the active targets of {from}: {} (a monitor created or changed in the last minutes may not be loaded yet: prometheus-operator reloads the configuration asynchronously)",
                    missing.len(),
                    listed(&missing)
                ));
            }
            let r = if down.is_empty() {
                reason::NOT_DISCOVERED
            } else {
                reason::DOWN
            };
            parts.extend(converse);
            condition(cond::SCRAPED, false, r, parts.join(". "))
        } else if !unreachable.is_empty() || !unobserved.is_empty() {
            for ((src, err), ts) in &unreachable {
                parts.push(format!(
                    "the Prometheus API {src} cannot be read ({err}), so the scrape health of {} is unknown",
                    names(ts)
                ));
            }
            if !unobserved.is_empty() {
                parts.push(format!(
                    "no observation of the scraper's Prometheus API for {} yet: none is configured for that scraper (--prometheus-url), or its first read has not completed",
                    names(&unobserved)
                ));
            }
            let r = if unreachable.is_empty() {
                reason::NOT_OBSERVED
            } else {
                reason::PROMETHEUS_UNREACHABLE
            };
            unknown(cond::SCRAPED, r, parts.join("; "))
        } else if !pending.is_empty() {
            parts.push(format!(
                "{}/{total} targets are discovered by {from} but not scraped yet: {}",
                pending.len(),
                names(&pending)
            ));
            parts.extend(converse);
            unknown(cond::SCRAPED, reason::NOT_YET_SCRAPED, parts.join(". "))
        } else {
            parts.push(format!("{up}/{total} targets are up in {from}"));
            parts.extend(converse);
            condition(cond::SCRAPED, true, reason::UP, parts.join(". "))
        };

        let outs = states
            .iter()
            .map(|(state, obs)| {
                let source = (*obs)?.source().to_string();
                let first = |v: &Vec<&ActiveTarget>| {
                    let a = v[0];
                    (
                        (!a.last_error.is_empty()).then(|| a.last_error.clone()),
                        Some(a.scrape_url.clone()),
                        Some(a.scrape_pool.clone()),
                    )
                };
                let (health, (last_error, scrape_url, scrape_pool)) = match state {
                    State::Unobserved => return None,
                    State::Unreachable(err) => ("unreachable", (Some(err.to_string()), None, None)),
                    State::Up(v) => ("up", first(v)),
                    State::Down(v) => ("down", first(v)),
                    State::Pending(v) => ("unknown", first(v)),
                    State::Dropped(d) => ("dropped", (None, None, d[0].scrape_pool.clone())),
                    State::NotDiscovered => ("notDiscovered", (None, None, None)),
                };
                Some(ObservedOut {
                    health: health.to_string(),
                    last_error,
                    scrape_url,
                    scrape_pool,
                    source,
                })
            })
            .collect();
        (c, outs)
    }
}
