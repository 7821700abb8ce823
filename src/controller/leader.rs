//! Leader election with a `coordination.k8s.io/v1` Lease (through `kube-lease-manager`, which locks and
//! renews the Lease by server-side apply with conflict detection).
//!
//! Every replica watches and keeps its index warm, so a standby takes over without a re-list; only the
//! holder of the Lease reconciles and writes. Leadership is a watch channel: reconciles and audits read it
//! before writing, and the dispatcher re-evaluates everything when this instance becomes the leader.
//! A replica that shuts down releases the Lease, so a rolling update hands over at once; one that dies
//! leaves it to expire (the lease duration).

use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::{info, warn};

/// Where the Lease is and who this instance is.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease: String,
    /// This instance (the pod name in a cluster).
    pub identity: String,
    /// How long a Lease stays held without renewal: the longest a dead leader blocks a standby.
    pub duration: Duration,
    /// How long before expiry the holder renews.
    pub grace: Duration,
}

impl LeaderElection {
    pub fn new(namespace: &str, lease: &str, identity: &str) -> Self {
        LeaderElection {
            namespace: namespace.to_string(),
            lease: lease.to_string(),
            identity: identity.to_string(),
            duration: Duration::from_secs(15),
            grace: Duration::from_secs(5),
        }
    }
}

/// Whether this instance may write, as the rest of the controller sees it.
#[derive(Debug, Clone)]
pub struct Leadership(watch::Receiver<bool>);

impl Leadership {
    /// Without leader election: always the leader.
    pub fn always() -> Self {
        let (_tx, rx) = watch::channel(true);
        Leadership(rx)
    }

    pub fn is_leader(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves on the next change of leadership; `false` once it can no longer change.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

/// Starts competing for the Lease, retrying with backoff until the Lease can be read. The returned
/// task ends once every [`Leadership`] clone is dropped, after releasing the Lease if it was held.
pub fn spawn(client: Client, cfg: LeaderElection) -> (Leadership, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let lease = format!("{}/{}", cfg.namespace, cfg.lease);
    let task = tokio::spawn(async move {
        let mut failures = 0u32;
        let manager = loop {
            let attempt = LeaseManagerBuilder::new(client.clone(), &cfg.lease)
                .with_namespace(&cfg.namespace)
                .with_identity(&cfg.identity)
                .with_duration(cfg.duration.as_secs())
                .with_grace(cfg.grace.as_secs())
                .with_field_manager("scrapepath")
                .build();
            tokio::select! {
                _ = tx.closed() => return,
                r = attempt => match r {
                    Ok(m) => break m,
                    Err(e) => {
                        failures += 1;
                        let delay = Duration::from_millis(500 * 2u64.pow(failures.min(5)));
                        warn!(error = %e, %lease, "cannot use the leader lease; retrying in {delay:?}");
                        tokio::select! {
                            _ = tx.closed() => return,
                            _ = tokio::time::sleep(delay) => {},
                        }
                    }
                }
            }
        };
        let (mut held, manager) = manager.watch().await;
        loop {
            let leader = *held.borrow_and_update();
            if *tx.borrow() != leader {
                if leader {
                    info!(identity = %cfg.identity, %lease, "acquired the leader lease");
                } else {
                    info!(identity = %cfg.identity, %lease, "do not hold the leader lease");
                }
                tx.send_replace(leader);
            }
            tokio::select! {
                _ = tx.closed() => break,
                r = held.changed() => if r.is_err() { break },
            }
        }
        // Dropping the last receiver of the manager makes it release the Lease and stop.
        drop(held);
        tx.send_replace(false);
        match manager.await {
            Ok(Ok(_)) => {
                info!(%lease, "leader election stopped; the lease is released if it was held")
            }
            Ok(Err(e)) => warn!(error = %e, %lease, "leader election ended"),
            Err(e) => warn!(error = %e, %lease, "leader election task failed"),
        }
    });
    (Leadership(rx), task)
}
