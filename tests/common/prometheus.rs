//! A real Prometheus server for the observed-health tests: Prometheus 3 built from its Go module by
//! `tests/prometheus/ensure.sh` (cached), started with a test's own configuration on port 0 of a local
//! address with its storage in a temp dir, and killed when dropped. Its Kubernetes service discovery
//! reads the test API server ([`KubeSd`]: a ServiceAccount token, RBAC, the harness's CA). Also what it
//! scrapes: pod addresses this machine answers on ([`loopback_ip`]: every 127.0.0.0/8 address is local
//! on Linux) and endpoints bound there — one that answers `/metrics`, one that accepts connections and
//! never answers.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

static BIN: OnceLock<PathBuf> = OnceLock::new();

/// The `prometheus` binary, from `tests/prometheus/ensure.sh` (run once per test binary).
pub fn binary() -> &'static Path {
    BIN.get_or_init(|| {
        PathBuf::from(super::tool::ensure(
            "tests/prometheus/ensure.sh",
            "PROMETHEUS_BIN",
        ))
    })
}

static OPERATOR_BIN: OnceLock<PathBuf> = OnceLock::new();
static RELOADER_BIN: OnceLock<PathBuf> = OnceLock::new();

/// prometheus-operator's `operator` binary, from `tests/prometheus/operator.sh` (run once per test
/// binary).
pub fn operator_binary() -> &'static Path {
    OPERATOR_BIN.get_or_init(|| {
        PathBuf::from(super::tool::ensure(
            "tests/prometheus/operator.sh",
            "PROMETHEUS_OPERATOR_BIN",
        ))
    })
}

/// prometheus-operator's `prometheus-config-reloader`, built beside the operator.
pub fn reloader_binary() -> &'static Path {
    RELOADER_BIN.get_or_init(|| {
        PathBuf::from(super::tool::ensure(
            "tests/prometheus/operator.sh",
            "PROMETHEUS_CONFIG_RELOADER_BIN",
        ))
    })
}

/// A port nothing listens on: only for pod ports a test names but Prometheus never scrapes (the target
/// is dropped by relabeling), so that it does not matter who binds it later.
pub fn unserved_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Numbers the pod addresses of one test binary.
static POD_IP: AtomicUsize = AtomicUsize::new(0);

/// A loopback address of its own for a pod (`127.<a>.<b>.<c>`, not 127.0.0.1): every 127.0.0.0/8 address
/// is local on Linux, so a listener bound there answers a scrape of `podIP:port` without a network
/// namespace. Distinct within a test binary, and spread by process id across binaries; a clash would do
/// no harm anyway, since every listener binds port 0 of its address.
pub fn loopback_ip() -> Ipv4Addr {
    let n = POD_IP.fetch_add(1, Ordering::SeqCst) as u32;
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        (1 + pid % 250) as u8,
        (1 + (pid / 250) % 250) as u8,
        (2 + n % 250) as u8,
    )
}

const LOADED: &str = "msg=\"Completed loading of configuration file\"";
const RELOAD_FAILED: &str = "msg=\"Error reloading config\"";

/// Numbers the data directories of the Prometheus processes of one test binary.
static INSTANCE: AtomicUsize = AtomicUsize::new(0);

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// `http://<ip>:<port>`.
    pub url: String,
    /// Where it listens (in a pod, [`Prometheus::start_in_pod`]: where the test reaches it).
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with `config` (prometheus.yml) on 127.0.0.1 and waits until it is ready.
    /// Blocking.
    pub fn start(config: &str) -> Prometheus {
        Self::start_on(config, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Starts Prometheus with `config` listening on port 0 of `ip` and waits until it is ready.
    /// Blocking.
    pub fn start_on(config: &str, ip: IpAddr) -> Prometheus {
        Self::launch(config, ip, None, None)
    }

    /// Starts Prometheus as it runs in a pod of the operator's StatefulSet: with the lifecycle API
    /// (`/-/reload`, which prometheus-config-reloader calls) and in the cluster of `sd` as client-go's
    /// in-cluster configuration finds it — `KUBERNETES_SERVICE_HOST`/`PORT` and the ServiceAccount's
    /// token and CA at `/var/run/secrets/kubernetes.io/serviceaccount/`, in a mount namespace of its
    /// own (a tmpfs over `/run`, seen by no other process), so that the operator's generated
    /// configuration (Kubernetes SD without `api_server`) runs unchanged. Needs root (`unshare -m`).
    /// Blocking.
    pub fn start_in_cluster(config: &str, ip: IpAddr, sd: &KubeSd) -> Prometheus {
        Self::launch(config, ip, Some(sd), None)
    }

    /// As [`Prometheus::start_in_cluster`], but in the network namespace of a pod (`pod`): it listens
    /// on port 0 of the pod's address, reaches the API server at `pod.api` (what
    /// `KUBERNETES_SERVICE_HOST`/`PORT` say in that pod), and the test reaches it through
    /// `pod.reach` (its [`Prometheus::addr`] and `url` are that address). Killed with the thread that
    /// started it, too (`setpriv --pdeathsig KILL`). Needs root. Blocking.
    pub fn start_in_pod(config: &str, sd: &KubeSd, pod: &PodNet) -> Prometheus {
        Self::launch(config, pod.ip, Some(sd), Some(pod))
    }

    fn launch(
        config: &str,
        ip: IpAddr,
        in_cluster: Option<&KubeSd>,
        pod: Option<&PodNet>,
    ) -> Prometheus {
        let bin = binary();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "prometheus-{}-{}",
            std::process::id(),
            INSTANCE.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let mut args = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            // Port 0: Prometheus binds and logs the port it got ("Listening on" address=...), so no
            // port is chosen here and bound later by someone else.
            format!("--web.listen-address={}", SocketAddr::new(ip, 0)),
        ];
        let mut cmd = match in_cluster {
            None => Command::new(bin),
            Some(sd) => {
                args.push("--web.enable-lifecycle".into());
                let (host, port) = match pod {
                    Some(pod) => (pod.api.ip().to_string(), pod.api.port()),
                    None => sd.host_and_port(),
                };
                let sa = "/run/secrets/kubernetes.io/serviceaccount";
                let mut c = match pod {
                    Some(pod) => {
                        let mut c = Command::new("setpriv");
                        c.args(["--pdeathsig", "KILL", "--", "nsenter"])
                            .arg(format!("--net={}", pod.netns.display()))
                            .args(["--", "unshare"]);
                        c
                    }
                    None => Command::new("unshare"),
                };
                c.args(["--mount", "--propagation", "private", "sh", "-euc"])
                    .arg(format!(
                        r#"mount -t tmpfs scrapepath-sa /run && mkdir -p {sa} && cp "$1" {sa}/token && cp "$2" {sa}/ca.crt && echo "$3" > {sa}/namespace && shift 3 && exec "$@""#
                    ))
                    .arg("sh")
                    .arg(&sd.token_file)
                    .arg(&sd.ca_file)
                    .arg(&sd.namespace)
                    .arg(bin)
                    .env("KUBERNETES_SERVICE_HOST", host)
                    .env("KUBERNETES_SERVICE_PORT", port.to_string());
                c
            }
        };
        let child = cmd
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut p = Prometheus {
            child,
            url: String::new(),
            addr: SocketAddr::new(ip, 0),
            dir,
        };
        let start = Instant::now();
        let port = loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!(
                    "Prometheus exited ({status}) before it listened:\n{}",
                    p.log()
                );
            }
            let text = std::fs::read_to_string(p.dir.join("prometheus.log")).unwrap_or_default();
            let port = text
                .lines()
                .filter(|l| l.contains("msg=\"Listening on\""))
                .find_map(|l| {
                    l.split("address=")
                        .nth(1)?
                        .split_whitespace()
                        .next()?
                        .rsplit(':')
                        .next()?
                        .parse::<u16>()
                        .ok()
                })
                .filter(|&port| port != 0);
            if let Some(port) = port {
                break port;
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "Prometheus logged no listening address after 60 s:\n{}",
                    p.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        p.addr = match pod {
            Some(pod) => (pod.reach)(SocketAddr::new(ip, port)),
            None => SocketAddr::new(ip, port),
        };
        p.url = format!("http://{}", p.addr);
        loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!(
                    "Prometheus exited ({status}) before it was ready:\n{}",
                    p.log()
                );
            }
            if get(p.addr, "/-/ready")
                .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
            {
                return p;
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!("Prometheus not ready after 60 s:\n{}", p.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Replaces its configuration and reloads it (SIGHUP), then waits until Prometheus logs that it
    /// loaded it; panics when it logs that it could not. Blocking.
    pub fn reload(&self, config: &str) {
        let mark = self.loads();
        let file = self.dir.join("prometheus.yml");
        let tmp = self.dir.join("prometheus.yml.tmp");
        std::fs::write(&tmp, config).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill -HUP");
        assert!(status.success(), "kill -HUP {} failed", self.child.id());
        self.wait_loaded(mark, Duration::from_secs(30));
    }

    /// Its configuration file (what prometheus-config-reloader writes, `--config-envsubst-file`).
    pub fn config_file(&self) -> PathBuf {
        self.dir.join("prometheus.yml")
    }

    /// How often it has logged that it loaded, and failed to load, its configuration so far: the
    /// mark [`Prometheus::wait_loaded`] waits past.
    pub fn loads(&self) -> (usize, usize) {
        let log = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        (
            log.matches(LOADED).count(),
            log.matches(RELOAD_FAILED).count(),
        )
    }

    /// Waits until it has loaded a configuration after `mark` (from [`Prometheus::loads`]); panics
    /// when it logs that it refused one, or after `limit`. Blocking.
    pub fn wait_loaded(&self, (loaded, failed): (usize, usize), limit: Duration) {
        let start = Instant::now();
        loop {
            let (l, f) = self.loads();
            if f > failed {
                panic!(
                    "Prometheus refused the new configuration:\n{}\n{}",
                    self.log(),
                    std::fs::read_to_string(self.config_file()).unwrap_or_default()
                );
            }
            if l > loaded {
                return;
            }
            if start.elapsed() > limit {
                panic!(
                    "Prometheus did not load a new configuration within {limit:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The body of `GET path` (blocking; `None` when it does not answer).
    pub fn get(&self, path: &str) -> Option<String> {
        let resp = get(self.addr, path)?;
        resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    }
}

/// The pod a Prometheus runs in ([`Prometheus::start_in_pod`]): a network namespace of a real
/// datapath (`tests/common/datapath.rs`).
pub struct PodNet<'a> {
    /// The pod's network namespace, a path `nsenter --net=` takes.
    pub netns: PathBuf,
    /// The pod's address: Prometheus listens on port 0 there.
    pub ip: IpAddr,
    /// The API server as the pod reaches it (`KUBERNETES_SERVICE_HOST`/`PORT`); the certificate must
    /// name its address.
    pub api: SocketAddr,
    /// From the address Prometheus listens on in the pod to one the test process reaches it at (a
    /// forwarder the caller keeps running as long as Prometheus).
    pub reach: &'a dyn Fn(SocketAddr) -> SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw HTTP/1.0 GET (the response, headers included).
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// An endpoint served by a thread of its own on port 0 of a local address (the port it got is read
/// back, never chosen beforehand); dropping it closes the listener and every connection it holds.
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Endpoint {
    fn serve(
        addr: SocketAddr,
        handle: impl Fn(TcpStream, &mut Vec<TcpStream>) + Send + 'static,
    ) -> Endpoint {
        let listener =
            std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("binding {addr}: {e}"));
        let (ip, port) = (addr.ip(), listener.local_addr().unwrap().port());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    handle(conn, &mut held);
                }
            }
        });
        Endpoint {
            ip,
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(SocketAddr::new(self.ip, self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An endpoint on 127.0.0.1 that answers every request with valid exposition text.
pub fn metrics_endpoint() -> Endpoint {
    metrics_endpoint_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// An endpoint on port 0 of `ip` that answers every request with valid exposition text.
pub fn metrics_endpoint_on(ip: IpAddr) -> Endpoint {
    metrics_endpoint_at(SocketAddr::new(ip, 0))
}

/// An endpoint bound to `addr` that answers every request with valid exposition text: for a pod whose
/// manifest fixes the port, at an address of its own ([`loopback_ip`]) that nothing else binds.
pub fn metrics_endpoint_at(addr: SocketAddr) -> Endpoint {
    Endpoint::serve(addr, |mut conn, _| {
        std::thread::spawn(move || {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            // Read the request head, then answer and close.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = "# HELP demo_requests_total Requests served.\n# TYPE demo_requests_total counter\ndemo_requests_total 7\n";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes());
        });
    })
}

/// An endpoint on 127.0.0.1 that accepts connections and never answers (what a scrape through a
/// black-holing path, or to a stuck process, looks like). Holds at most 256 connections.
pub fn silent_endpoint() -> Endpoint {
    silent_endpoint_on(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// An endpoint on port 0 of `ip` that accepts connections and never answers. Holds at most 256
/// connections.
pub fn silent_endpoint_on(ip: IpAddr) -> Endpoint {
    silent_endpoint_at(SocketAddr::new(ip, 0))
}

/// An endpoint bound to `addr` that accepts connections and never answers.
pub fn silent_endpoint_at(addr: SocketAddr) -> Endpoint {
    Endpoint::serve(addr, |conn, held| {
        if held.len() >= 256 {
            held.remove(0);
        }
        held.push(conn);
    })
}

/// What Prometheus' Kubernetes service discovery needs to read the test API server as a Prometheus in a
/// cluster does: the API server's URL and CA, and the token of a ServiceAccount bound by RBAC to what
/// the pod role reads (get/list/watch pods) in the watched namespaces — no admin credentials.
pub struct KubeSd {
    /// `https://127.0.0.1:<port>`, from the harness's kubeconfig.
    pub api_server: String,
    /// The harness's CA (`<data dir>/pki/ca.crt`), which signed the API server's serving certificate.
    pub ca_file: PathBuf,
    /// The ServiceAccount's token (TokenRequest API, one hour), in a file of its own.
    pub token_file: PathBuf,
    /// The ServiceAccount's namespace.
    pub namespace: String,
}

impl KubeSd {
    /// Creates the ServiceAccount `prometheus-sd` in `sa_ns`, a Role to read pods in each of `watched`
    /// bound to it (no namespace: a ClusterRole `prometheus-sd-<sa_ns>`, for discovery in every
    /// namespace), and gets a token for it.
    pub async fn new(env: &super::testenv::TestEnv, sa_ns: &str, watched: &[&str]) -> KubeSd {
        let client = env.client().await;
        super::cluster::apply_yaml(
            &client,
            &format!(
                "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: prometheus-sd, namespace: {sa_ns}}}\n"
            ),
        )
        .await;
        if watched.is_empty() {
            super::cluster::apply_yaml(
                &client,
                &format!(
                    r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: prometheus-sd-{sa_ns}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: prometheus-sd-{sa_ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: prometheus-sd-{sa_ns}}}
subjects: [{{kind: ServiceAccount, name: prometheus-sd, namespace: {sa_ns}}}]
"#
                ),
            )
            .await;
        }
        for ns in watched {
            super::cluster::apply_yaml(
                &client,
                &format!(
                    r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: prometheus-sd, namespace: {ns}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: prometheus-sd, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: prometheus-sd}}
subjects: [{{kind: ServiceAccount, name: prometheus-sd, namespace: {sa_ns}}}]
"#
                ),
            )
            .await;
        }
        let kubeconfig = kube::config::Kubeconfig::read_from(env.kubeconfig())
            .unwrap_or_else(|e| panic!("reading {}: {e}", env.kubeconfig().display()));
        let api_server = kubeconfig
            .clusters
            .iter()
            .find_map(|c| c.cluster.as_ref()?.server.clone())
            .unwrap_or_else(|| panic!("no server in {}", env.kubeconfig().display()));
        let ca_file = env.data_dir().join("pki").join("ca.crt");
        assert!(
            ca_file.is_file(),
            "the harness's CA is not at {}",
            ca_file.display()
        );
        let token = env.service_account_token(sa_ns, "prometheus-sd").await;
        let token_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "prometheus-sd-{}-{sa_ns}.token",
            std::process::id()
        ));
        std::fs::write(&token_file, token).unwrap();
        KubeSd {
            api_server,
            ca_file,
            token_file,
            namespace: sa_ns.to_string(),
        }
    }

    /// The API server's host and port, as `KUBERNETES_SERVICE_HOST`/`PORT` give them in a pod.
    pub fn host_and_port(&self) -> (String, u16) {
        let url = self
            .api_server
            .strip_prefix("https://")
            .unwrap_or_else(|| panic!("not an https URL: {}", self.api_server));
        let (host, port) = url
            .trim_end_matches('/')
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("no port in {}", self.api_server));
        (
            host.trim_matches(['[', ']']).to_string(),
            port.parse()
                .unwrap_or_else(|e| panic!("port of {}: {e}", self.api_server)),
        )
    }

    /// One `kubernetes_sd_configs` entry (a YAML flow mapping) of `role` restricted to `namespaces`.
    pub fn sd_config(&self, role: &str, namespaces: &[&str]) -> String {
        format!(
            "{{role: {role}, api_server: '{}', namespaces: {{names: [{}]}}, authorization: {{credentials_file: '{}'}}, tls_config: {{ca_file: '{}'}}}}",
            self.api_server,
            namespaces.join(", "),
            self.token_file.display(),
            self.ca_file.display()
        )
    }
}

impl Drop for KubeSd {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.token_file);
    }
}

/// The real prometheus-config-reloader (prometheus-operator's `cmd/prometheus-config-reloader`) beside
/// a Prometheus, as the operator's StatefulSet runs it: it watches the configuration Secret's
/// `prometheus.yaml.gz` where the Secret volume is mounted (the test writes it there as the kubelet
/// would: [`ConfigReloader::mount`]), gunzips it, expands `$(POD_NAME)` and `$(SHARD)` from its
/// environment into Prometheus' configuration file and calls Prometheus' `/-/reload`. Killed when
/// dropped.
pub struct ConfigReloader {
    child: Child,
    dir: PathBuf,
}

impl ConfigReloader {
    /// Starts it for `prom` (started with [`Prometheus::start_in_cluster`], which has `/-/reload`),
    /// as the pod `pod_name` of shard `shard`, the Secret's `prometheus.yaml.gz` (`gz`) mounted.
    pub fn start(prom: &Prometheus, pod_name: &str, shard: u32, gz: &[u8]) -> ConfigReloader {
        let dir = prom.dir.join("secret");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("prometheus.yaml.gz"), gz).unwrap();
        let log = std::fs::File::create(prom.dir.join("reloader.log")).unwrap();
        let bin = reloader_binary();
        // Killed with the thread that started it, too (the test process dying by a signal).
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(bin)
            .arg(format!(
                "--config-file={}",
                dir.join("prometheus.yaml.gz").display()
            ))
            .arg(format!(
                "--config-envsubst-file={}",
                prom.config_file().display()
            ))
            .arg(format!("--reload-url={}/-/reload", prom.url))
            // The file is also watched by inotify; the poll is the fallback (default 3m).
            .arg("--watch-interval=2s")
            .env("POD_NAME", pod_name)
            .env("SHARD", shard.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        ConfigReloader { child, dir }
    }

    /// Writes the Secret's `prometheus.yaml.gz` as the kubelet updates a Secret volume: the new
    /// content appears at once (written aside, then renamed).
    pub fn mount(&self, gz: &[u8]) {
        let tmp = self.dir.join(".prometheus.yaml.gz.tmp");
        std::fs::write(&tmp, gz).unwrap();
        std::fs::rename(&tmp, self.dir.join("prometheus.yaml.gz")).unwrap();
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        let log = self.dir.parent().unwrap().join("reloader.log");
        std::fs::read_to_string(log).unwrap_or_default()
    }
}

impl Drop for ConfigReloader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------------
// The real prometheus-operator (moved here from tests/real_prometheus_operator.rs for
// tests/cilium_datapath.rs, which runs it too).

/// A running prometheus-operator, killed when dropped.
pub struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    /// Starts the operator with the admin kubeconfig of `env` (v0.91 reads `KUBECONFIG`; it has no
    /// `--kubeconfig` flag), watching only `namespaces`, its web server on port 0 of loopback.
    pub fn start(env: &super::testenv::TestEnv, namespaces: &[&str]) -> Operator {
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "prometheus-operator-{}-{}.log",
            std::process::id(),
            namespaces.join("-")
        ));
        let file = std::fs::File::create(&log).unwrap();
        // Killed with the thread that started it, too (the test process dying by a signal).
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(operator_binary())
            .env("KUBECONFIG", env.kubeconfig())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .arg(format!("--namespaces={}", namespaces.join(",")))
            .arg("--web.listen-address=127.0.0.1:0")
            .arg("--feature-gates=StatusForConfigurationResources=true,PrometheusTopologySharding=true")
            .arg("--log-level=debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", operator_binary().display()));
        Operator { child, log }
    }

    /// The last lines of its log, for failure messages.
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Panics (with its log) if it exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("prometheus-operator exited ({status}):\n{}", self.log());
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The log stays for a failed test (its path is in the panic message's tail), else it goes.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// The gzipped configuration (`prometheus.yaml.gz`) in the Secret `ns/secret_name`, if the operator
/// wrote it yet.
pub async fn generated_config_gz(
    client: &kube::Client,
    ns: &str,
    secret_name: &str,
) -> Option<Vec<u8>> {
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), ns);
    let secret = secrets.get_opt(secret_name).await.unwrap()?;
    Some(secret.data?.get("prometheus.yaml.gz")?.0.clone())
}

/// A generated configuration from its `prometheus.yaml.gz`.
pub fn parse_config_gz(gz: &[u8]) -> serde_yaml_ng::Value {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .expect("prometheus.yaml.gz is gzip");
    serde_yaml_ng::from_str(&text).expect("the generated configuration is YAML")
}

/// The job names of a Prometheus configuration.
pub fn job_names(config: &serde_yaml_ng::Value) -> std::collections::BTreeSet<String> {
    config["scrape_configs"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|j| j["job_name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The pod `prometheus-k8s-0` of the Prometheus `mon/k8s` (the labels prometheus-operator gives its
/// pods), Ready at `ip` with its web port `port` (there is no kubelet: the status, pod IP included,
/// is written as a kubelet would write it).
pub fn scraper_pod(mon: &str, ip: IpAddr, port: u16) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k8s-0
  namespace: {mon}
  labels: {{app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k8s, prometheus: k8s}}
spec:
  serviceAccountName: prometheus
  containers: [{{name: prometheus, image: prom, ports: [{{name: web, containerPort: {port}}}]}}]
status:
  phase: Running
  podIP: {ip}
  podIPs: [{{ip: {ip}}}]
  conditions: [{{type: Ready, status: "True"}}]
"#
    )
}

/// A Ready pod `ns/name` with `labels` (flow-mapping entries) at `ip`, its container `app` declaring
/// the port `metrics` = `port`.
pub fn target_pod(ns: &str, name: &str, labels: &str, ip: IpAddr, port: u16) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}
spec:
  containers: [{{name: app, image: app, ports: [{{name: metrics, containerPort: {port}}}]}}]
status:
  phase: Running
  podIP: {ip}
  podIPs: [{{ip: {ip}}}]
  conditions: [{{type: Ready, status: "True"}}]
"#
    )
}

/// Controller settings that observe the scrapers at `urls` every second (`timeout` per request),
/// over `namespaces`.
pub fn observing(
    namespaces: &[&str],
    urls: Vec<scrapepath::observe::plan::UrlSetting>,
    timeout: Duration,
) -> scrapepath::controller::Settings {
    use scrapepath::observe::plan::{Derive, ObserveSettings};
    let mut observe = ObserveSettings::new(urls, Derive::ServiceProxy);
    observe.poll_interval = Duration::from_secs(1);
    observe.max_backoff = Duration::from_secs(4);
    observe.timeout = timeout;
    scrapepath::controller::Settings {
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        instance: format!("test-{}", namespaces.join("-")),
        observe: Some(observe),
        ..scrapepath::controller::Settings::default()
    }
}

/// Waits up to `limit` until the intent's `type_` condition has this status and reason; returns its
/// message.
pub async fn wait_reason(
    client: &kube::Client,
    ns: &str,
    name: &str,
    type_: &str,
    want: (&str, &str),
    limit: Duration,
) -> String {
    use super::cluster::{condition, eventually, intent};
    eventually(&format!("{ns}/{name} {type_}={want:?}"), limit, || async {
        let si = intent(client, ns, name)
            .await
            .ok_or_else(|| "intent absent".to_string())?;
        match condition(&si, type_) {
            Some((s, r, m)) if (s.as_str(), r.as_str()) == want => Ok(m),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}
