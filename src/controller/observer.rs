//! Observed health in the controller: one background poller per Prometheus API, each reading
//! `/api/v1/targets` on its own schedule — every poll interval while it answers, backing off (doubling,
//! up to a cap) while it does not — and storing the latest observation in the [`World`]. Reconciles only
//! read what is stored; a changed observation re-queues the intents and monitors it concerns.
//!
//! A supervisor keeps the pollers in line with the scrapers of the index (a Prometheus created or
//! deleted, when the addresses are derived rather than set), re-planning every few seconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use super::world::World;
use crate::observe::fetch::{Endpoint, Fetcher};
use crate::observe::plan::{endpoints, ObservationKey, ObserveSettings};
use crate::observe::Observation;

/// How often the supervisor compares the pollers with the scrapers of the index.
const REPLAN: Duration = Duration::from_secs(5);

/// Runs until aborted: starts, replaces and stops pollers as the wanted endpoints change.
pub async fn supervise(world: Arc<World>, fetcher: Fetcher, settings: ObserveSettings) {
    world.wait_synced().await;
    let mut running: BTreeMap<ObservationKey, (Endpoint, tokio::task::JoinHandle<()>)> =
        BTreeMap::new();
    loop {
        let wanted: BTreeMap<ObservationKey, Endpoint> = {
            let idx = world.index.read().unwrap();
            endpoints(&settings, &idx).into_iter().collect()
        };
        // Stop pollers no longer wanted (or whose address changed) and forget their observations.
        let stale: Vec<ObservationKey> = running
            .iter()
            .filter(|(k, (ep, _))| wanted.get(*k) != Some(ep))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some((ep, task)) = running.remove(&key) {
                task.abort();
                debug!(endpoint = %ep, "stopped polling");
                if !wanted.contains_key(&key) {
                    world.set_observation(&key, None);
                }
            }
        }
        for (key, ep) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            info!(endpoint = %ep, scraper = ?key, "polling the Prometheus targets API");
            let task = tokio::spawn(poll(
                world.clone(),
                fetcher.clone(),
                settings.clone(),
                key.clone(),
                ep.clone(),
            ));
            running.insert(key, (ep, task));
        }
        tokio::time::sleep(REPLAN).await;
    }
}

/// Polls one endpoint forever: a bounded read, the observation stored, then the next wait.
async fn poll(
    world: Arc<World>,
    fetcher: Fetcher,
    settings: ObserveSettings,
    key: ObservationKey,
    endpoint: Endpoint,
) {
    let mut failures: u32 = 0;
    loop {
        let obs = fetcher.targets(&endpoint).await;
        match &obs {
            Observation::Targets { targets, .. } => {
                if failures > 0 {
                    info!(endpoint = %endpoint, "the Prometheus targets API answers again");
                }
                failures = 0;
                debug!(endpoint = %endpoint, active = targets.active.len(), dropped = targets.dropped.len(), "targets read");
            }
            Observation::Unreachable { error, .. } => {
                if failures == 0 {
                    warn!(endpoint = %endpoint, %error, "cannot read the Prometheus targets API; retrying with backoff");
                }
                failures = failures.saturating_add(1);
            }
        }
        if world.set_observation(&key, Some(obs)) {
            debug!(endpoint = %endpoint, "observation changed: re-evaluating");
        }
        tokio::time::sleep(settings.next_delay(failures)).await;
    }
}
