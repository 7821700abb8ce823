//! Two replicas of the real binary against a real API server with leader election: only the holder of
//! the Lease writes, a standby is ready but silent, a killed leader hands over within the lease duration,
//! and the endpoints a Deployment probes (`/metrics`, `/healthz`, `/readyz`) answer as they should.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::*;
use common::fixtures::*;
use common::testenv::{CrdSet, TestEnv};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::Client;

const LEASE: &str = "scrapepath-ha";
/// The operator's lease duration (`LeaderElection::new`).
const LEASE_DURATION: Duration = Duration::from_secs(15);

/// One `scrapepath run --leader-elect` process.
struct Replica {
    name: &'static str,
    child: Child,
    metrics: SocketAddr,
    health: SocketAddr,
    log: std::path::PathBuf,
}

impl Replica {
    fn start(env: &TestEnv, name: &'static str, lease_ns: &str, namespaces: &str) -> Replica {
        let log =
            std::env::temp_dir().join(format!("scrapepath-ha-{}-{name}.log", std::process::id()));
        let child = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
            .args([
                "run",
                "--namespaces",
                namespaces,
                "--leader-elect=true",
                "--leader-election-namespace",
                lease_ns,
                "--leader-election-id",
                LEASE,
                // Port 0: the operator binds and logs the address it got (no port is chosen here
                // and bound later, so parallel tests never race for one). Two addresses, so that
                // the probes get their own listener as in the chart's Deployment.
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--health-probe-bind-address",
                "127.0.0.2:0",
            ])
            .env("KUBECONFIG", env.kubeconfig())
            .env("POD_NAME", name)
            .env("SCRAPEPATH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut r = Replica {
            name,
            child,
            metrics: SocketAddr::from(([0, 0, 0, 0], 0)),
            health: SocketAddr::from(([0, 0, 0, 0], 0)),
            log,
        };
        r.metrics = r.bound("serving /metrics");
        r.health = r.bound("serving /healthz and /readyz");
        r
    }

    /// The address the operator logged with `message` once it had bound it (waits up to 60 s).
    fn bound(&mut self, message: &str) -> SocketAddr {
        let t = Instant::now();
        loop {
            let log = self.log();
            let addr = log.lines().filter(|l| l.contains(message)).find_map(|l| {
                l.split("address=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
            if let Some(addr) = addr {
                return addr;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{}: exited ({status}) before logging {message:?}:\n{log}",
                    self.name
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{}: no {message:?} line with its address after 60 s:\n{log}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A metric's value, summed over its label sets (`None`: not exposed).
    async fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = http_get(self.metrics, "/metrics").await.ok()?;
        metric_in(&body, name)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn metric_in(body: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// A plain HTTP/1.0 GET: (status code, body).
async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| e.to_string())?;
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status line in {head:?}"))?;
        Ok((code, body.to_string()))
    })
    .await
    .unwrap()
}

async fn holder(client: &Client, ns: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    leases
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
}

/// The instances that published Events in `ns`.
async fn reporters(client: &Client, ns: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut out: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reporting_controller.as_deref() == Some("scrapepath"))
        .filter_map(|e| e.reporting_instance)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_killed_leader_hands_over_within_the_lease_duration() {
    let env = tokio::task::spawn_blocking(|| TestEnv::start_new(CrdSet::ALL))
        .await
        .unwrap();
    let client = env.client().await;
    let ns = env.namespace("ha").await;
    let mon = env.namespace("mon").await;
    apply_yaml(
        &client,
        &format!(
            "{}\n---\n{}",
            scraper(&mon),
            app_pod(&ns, "api-0", "10.8.5.1")
        ),
    )
    .await;
    apply_yaml(&client, &isolating_cnp(&ns)).await;
    let watched = format!("{ns},{mon}");

    // Replica a starts first and takes the Lease; b starts once a leads.
    let a = Replica::start(&env, "replica-a", &mon, &watched);
    eventually(
        "replica-a to hold the Lease",
        Duration::from_secs(30),
        || async {
            match holder(&client, &mon).await {
                Some(h) if h == "replica-a" => Ok(()),
                other => Err(format!("holder {other:?}; log:\n{}", a.log())),
            }
        },
    )
    .await;
    let b = Replica::start(&env, "replica-b", &mon, &watched);
    eventually("replica-b to be ready", Duration::from_secs(30), || async {
        match http_get(b.health, "/readyz").await {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // An intent: only the leader reconciles it.
    apply_yaml(&client, &enforce_intent(&ns, "api", &mon)).await;
    wait_condition(&client, &ns, "api", "Ready", "True").await;
    assert_eq!(
        names(&client, "cilium.io/v2", "CiliumNetworkPolicy", &ns).await,
        ["api-isolation", "scrapepath-api"]
    );
    eventually("the leader's Events", Duration::from_secs(10), || async {
        let r = reporters(&client, &ns).await;
        if r == ["replica-a"] {
            Ok(())
        } else {
            Err(format!("reporting instances {r:?}"))
        }
    })
    .await;
    // What each replica says about itself.
    assert_eq!(a.metric("scrapepath_leader").await, Some(1.0));
    assert!(a.metric("scrapepath_api_writes_total").await.unwrap() >= 2.0);
    let (code, body) = http_get(a.metrics, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    let ready_line = format!("scrapepath_intent_ready{{namespace=\"{ns}\",name=\"api\"}} 1");
    assert!(body.contains(&ready_line), "{ready_line} in:\n{body}");
    assert_eq!(
        metric_in(&body, "scrapepath_intent_blocked_targets"),
        Some(0.0)
    );
    assert_eq!(b.metric("scrapepath_leader").await, Some(0.0));
    assert_eq!(
        b.metric("scrapepath_api_writes_total").await,
        Some(0.0),
        "a standby writes nothing; log:\n{}",
        b.log()
    );
    assert_eq!(b.metric("scrapepath_reconciles_total").await, Some(0.0));
    assert_eq!(http_get(a.health, "/healthz").await.unwrap().0, 200);
    assert_eq!(http_get(b.health, "/healthz").await.unwrap().0, 200);
    assert_eq!(http_get(b.health, "/nothing").await.unwrap().0, 404);

    // The leader dies without releasing the Lease: b takes over once it expires.
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    eventually(
        "replica-b to take the Lease over",
        LEASE_DURATION + Duration::from_secs(15),
        || async {
            match holder(&client, &mon).await {
                Some(h) if h == "replica-b" => Ok(()),
                other => Err(format!("holder {other:?}; b's log:\n{}", b.log())),
            }
        },
    )
    .await;
    let handover = killed.elapsed();
    eprintln!(
        "handover after the leader was killed: {handover:?} (lease duration {LEASE_DURATION:?})"
    );
    assert!(
        handover <= LEASE_DURATION + Duration::from_secs(3),
        "handover took {handover:?}, more than the lease duration {LEASE_DURATION:?} (+3 s of polling)"
    );

    // The new leader reconciles what changes from now on, and writes as itself.
    apply_yaml(&client, &enforce_intent(&ns, "api-2", &mon)).await;
    wait_condition(&client, &ns, "api-2", "Ready", "True").await;
    eventually("replica-b's Events", Duration::from_secs(10), || async {
        let r = reporters(&client, &ns).await;
        if r.contains(&"replica-b".to_string()) {
            Ok(())
        } else {
            Err(format!("reporting instances {r:?}"))
        }
    })
    .await;
    assert_eq!(b.metric("scrapepath_leader").await, Some(1.0));
    assert!(b.metric("scrapepath_api_writes_total").await.unwrap() >= 1.0);

    // A graceful stop releases the Lease at once.
    let mut b = b;
    let status = Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    while b.child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(20), "b did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        holder(&client, &mon).await,
        None,
        "released on SIGTERM; log:\n{}",
        b.log()
    );
    eprintln!("replica names: {} {}", a.name, b.name);
}
