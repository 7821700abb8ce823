//! A real control plane for the integration tests: etcd, kube-apiserver and kube-controller-manager
//! (garbage collector and namespace controllers) in one process, `scrapepath-testenv`, built from Go
//! modules by `tests/harness/ensure.sh`, with the real upstream CRDs of prometheus-operator, Cilium
//! and Istio (security) fetched from their Go modules and installed, and the repo's own `crds/`.
//!
//! ```ignore
//! mod common;
//! use common::testenv::TestEnv;
//!
//! #[tokio::test]
//! async fn something() {
//!     let env = TestEnv::shared();
//!     let client = env.client().await;
//!     let ns = env.namespace("something").await;
//!     // ...
//! }
//! ```
//!
//! One control plane is started per test binary, on first use; the tests of a binary share it (each
//! in its own namespaces). It stops when the test process exits: the harness exits when its stdin,
//! a pipe held here, reaches EOF. Its log is `<data dir>/testenv.log` (the data dirs live under
//! `target/tmp/`), and the panic messages quote its tail.
//!
//! The garbage collector (kube-controller-manager) starts after the CRDs of [`TestEnv::shared`] /
//! [`TestEnv::start_new`] are installed, so ownerReferences between any of those kinds are collected
//! within a second or so. It learns the kinds of a CRD installed later ([`TestEnv::install_crds`]
//! after start) only at its next discovery sync, up to 30 s later.
//!
//! Needs Go (and the Go module proxy on a cold cache): without them this panics with a message
//! that says what is missing. The integration tier is never skipped silently.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use serde::Deserialize;
use serde_json::Value;

/// Field manager of the CRDs this module installs.
const FIELD_MANAGER: &str = "scrapepath-testenv";
/// How long the control plane may take to become ready (a restart is a few seconds; the first start
/// of a data dir also bootstraps etcd and the RBAC policy).
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a CRD may take to become Established, or to be gone after deletion.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);

/// Which CRDs a control plane gets at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrdSet {
    /// prometheus-operator: Prometheus, PrometheusAgent, PodMonitor, ServiceMonitor, ...
    pub prometheus_operator: bool,
    /// Cilium `cilium.io/v2`: CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, ...
    pub cilium: bool,
    /// Istio `security.istio.io`: AuthorizationPolicy, PeerAuthentication, RequestAuthentication.
    pub istio: bool,
    /// This repo's `crds/*.yaml` (ScrapeIntent).
    pub scrapepath: bool,
}

impl CrdSet {
    /// Every upstream CRD and the repo's own.
    pub const ALL: CrdSet = CrdSet {
        prometheus_operator: true,
        cilium: true,
        istio: true,
        scrapepath: true,
    };
    /// No CRD at all.
    pub const NONE: CrdSet = CrdSet {
        prometheus_operator: false,
        cilium: false,
        istio: false,
        scrapepath: false,
    };
}

/// Where `tests/harness/ensure.sh` put the binaries and the upstream CRDs.
#[derive(Debug)]
struct Tools {
    testenv_bin: PathBuf,
    kubectl_bin: PathBuf,
    crd_dir: PathBuf,
}

/// A running `scrapepath-testenv` process.
struct Proc {
    child: Child,
    /// Held open: the harness exits when it reaches EOF.
    stdin: Option<ChildStdin>,
}

/// A control plane: its data dir (keys, etcd data, kubeconfig) and its process.
pub struct TestEnv {
    data_dir: PathBuf,
    kubeconfig: PathBuf,
    kubectl_bin: PathBuf,
    crd_dir: PathBuf,
    testenv_bin: PathBuf,
    proc: Mutex<Option<Proc>>,
    /// Removes the data dir on drop (not for the shared one, which is never dropped).
    owned: bool,
}

static TOOLS: OnceLock<Tools> = OnceLock::new();
static SHARED: OnceLock<TestEnv> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestEnv {
    /// One control plane per test binary, started on first use (blocking, std::process), with all
    /// upstream CRDs (prometheus-operator, Cilium, Istio security) and the repo's own crds/*.yaml
    /// installed and Established.
    /// Panics with a clear message if Go/the proxy is missing (the integration tier must never be
    /// silently skipped).
    ///
    /// Its tests run in parallel: each should work in its own [`TestEnv::namespace`]s. A test that
    /// calls [`TestEnv::restart`] interrupts every other test of its binary that talks to the API
    /// server at that moment; give such tests their own binary or [`TestEnv::start_new`].
    pub fn shared() -> &'static TestEnv {
        SHARED.get_or_init(|| {
            let mut env = Self::start(CrdSet::ALL);
            env.owned = false;
            env
        })
    }

    /// A control plane of its own (its own process, data dir and port) with the given CRDs, for a
    /// test that needs a world without some CRDs or restarts the API server. Blocking. Stopped and
    /// its data removed when dropped.
    pub fn start_new(crds: CrdSet) -> TestEnv {
        Self::start(crds)
    }

    fn start(crds: CrdSet) -> TestEnv {
        let tools = tools();
        let data_dir = new_data_dir();
        let env = TestEnv {
            kubeconfig: data_dir.join("kubeconfig"),
            data_dir,
            kubectl_bin: tools.kubectl_bin.clone(),
            crd_dir: tools.crd_dir.clone(),
            testenv_bin: tools.testenv_bin.clone(),
            proc: Mutex::new(None),
            owned: true,
        };
        let mut paths = Vec::new();
        if crds.prometheus_operator {
            paths.push(env.crd_dir.join("prometheus-operator"));
        }
        if crds.cilium {
            paths.push(env.crd_dir.join("cilium"));
        }
        if crds.istio {
            paths.push(env.crd_dir.join("istio"));
        }
        if crds.scrapepath {
            paths.push(repo_root().join("crds"));
        }
        // The controller manager starts once the CRDs are in: its garbage collector learns resource
        // types from discovery only at start and every 30 s after.
        env.spawn(!paths.is_empty());
        if !paths.is_empty() {
            // A runtime of its own on a thread of its own: callers are usually inside a tokio test's
            // runtime, where blocking on another runtime is not allowed.
            let env_ref = &env;
            std::thread::scope(|s| {
                s.spawn(|| {
                    runtime().block_on(async {
                        for p in &paths {
                            env_ref.install_crds(p).await;
                        }
                    })
                })
                .join()
                .unwrap_or_else(|_| {
                    panic!("installing the CRDs into the test control plane failed")
                })
            });
            env.start_controller_manager();
        }
        env
    }

    /// A fresh kube::Client (admin) for the caller's tokio runtime (each #[tokio::test] has its own
    /// runtime).
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("loading {}: {e}", self.kubeconfig.display()));
        kube::Client::try_from(config).expect("a kube client for the test control plane")
    }

    /// A client that authenticates with a bearer token (and nothing else) to this control plane.
    pub async fn client_with_token(&self, token: &str) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.kubeconfig.display()));
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap_or_else(|e| panic!("loading {}: {e}", self.kubeconfig.display()));
        config.auth_info = serde_json::from_value(serde_json::json!({ "token": token }))
            .expect("an AuthInfo with a token");
        kube::Client::try_from(config).expect("a kube client for the test control plane")
    }

    /// A client acting as the ServiceAccount `namespace/name` (which must exist), through a token
    /// from the TokenRequest API: RBAC applies to it, unlike the admin [`TestEnv::client`].
    pub async fn service_account_client(&self, namespace: &str, name: &str) -> kube::Client {
        let token = self.service_account_token(namespace, name).await;
        self.client_with_token(&token).await
    }

    /// A token for the ServiceAccount `namespace/name` from the TokenRequest API (one hour).
    pub async fn service_account_token(&self, namespace: &str, name: &str) -> String {
        let api: Api<ServiceAccount> = Api::namespaced(self.client().await, namespace);
        let request = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": { "expirationSeconds": 3600 }
        });
        let response: TokenRequest = api
            .create_subresource("token", name, &PostParams::default(), &request)
            .await
            .unwrap_or_else(|e| panic!("TokenRequest for {namespace}/{name}: {e}"));
        response
            .status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("TokenRequest for {namespace}/{name} returned no token"))
    }

    /// The admin kubeconfig (group system:masters).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The control plane's data dir (keys, etcd data, `testenv.log`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `kubectl` (built from the same Kubernetes version) with `--kubeconfig` set.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(&self.kubectl_bin);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// The directory of the fetched upstream CRDs: `prometheus-operator/`, `cilium/`, `istio/`.
    pub fn upstream_crd_dir(&self) -> &Path {
        &self.crd_dir
    }

    /// Stops and restarts the control plane process with the same data dir/port/credentials
    /// (blocking until READY).
    pub fn restart(&self) {
        self.stop();
        self.spawn(false);
    }

    /// Creates a namespace with a unique name derived from `prefix` and returns its name.
    pub async fn namespace(&self, prefix: &str) -> String {
        let name = unique_name(prefix);
        let api: Api<Namespace> = Api::all(self.client().await);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { "scrapepath.io/test-namespace": "true" } }
        }))
        .expect("a namespace");
        api.create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name
    }

    /// Installs a CRD YAML file/dir (server-side apply) and waits until Established.
    pub async fn install_crds(&self, path: &Path) {
        let api: Api<CustomResourceDefinition> = Api::all(self.client().await);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut names = Vec::new();
        for doc in crd_documents(path) {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("a CRD without a name in {}", path.display()))
                .to_string();
            api.patch(&name, &params, &Patch::Apply(&doc))
                .await
                .unwrap_or_else(|e| panic!("applying CRD {name} from {}: {e}", path.display()));
            names.push(name);
        }
        for name in names {
            let established = await_condition(api.clone(), &name, conditions::is_crd_established());
            match tokio::time::timeout(CRD_TIMEOUT, established).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("waiting for CRD {name} to be Established: {e}"),
                Err(_) => panic!("CRD {name} not Established within {CRD_TIMEOUT:?}"),
            }
        }
    }

    /// Uninstalls a CRD by name and waits until gone (for "CRD appears later" tests).
    pub async fn uninstall_crd(&self, name: &str) {
        let api: Api<CustomResourceDefinition> = Api::all(self.client().await);
        let uid = match api.get_opt(name).await {
            Ok(Some(crd)) => crd.metadata.uid.unwrap_or_default(),
            Ok(None) => return,
            Err(e) => panic!("reading CRD {name}: {e}"),
        };
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return,
            Err(e) => panic!("deleting CRD {name}: {e}"),
        }
        let gone = await_condition(api, name, conditions::is_deleted(&uid));
        match tokio::time::timeout(CRD_TIMEOUT, gone).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("waiting for CRD {name} to be gone: {e}"),
            Err(_) => panic!("CRD {name} not gone within {CRD_TIMEOUT:?}"),
        }
    }

    /// Tells a harness started with `--defer-controller-manager` to start kube-controller-manager.
    fn start_controller_manager(&self) {
        let mut guard = self.proc.lock().unwrap_or_else(|e| e.into_inner());
        let stdin = guard
            .as_mut()
            .and_then(|p| p.stdin.as_mut())
            .expect("the test control plane is running");
        stdin
            .write_all(b"start-controller-manager\n")
            .and_then(|()| stdin.flush())
            .expect("writing to the test control plane's stdin");
    }

    /// Starts the process and waits for its READY line; with `defer_controller_manager`, the
    /// controller manager waits for [`TestEnv::start_controller_manager`].
    fn spawn(&self, defer_controller_manager: bool) {
        let mut guard = self.proc.lock().unwrap_or_else(|e| e.into_inner());
        assert!(guard.is_none(), "the test control plane is already running");
        let log = self.data_dir.join("testenv.log");
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let mut cmd = Command::new(&self.testenv_bin);
        cmd.arg("--data-dir").arg(&self.data_dir);
        if defer_controller_manager {
            cmd.arg("--defer-controller-manager");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.testenv_bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some(path) = line.strip_prefix("READY ") {
                    let _ = tx.send(Some(PathBuf::from(path)));
                    break;
                }
            }
            let _ = tx.send(None);
            // Keep draining so the harness never blocks on a full pipe.
            for _ in lines {}
        });
        let started = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(path)) => {
                    assert_eq!(
                        path, self.kubeconfig,
                        "the harness wrote its kubeconfig elsewhere"
                    );
                    break;
                }
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    panic!(
                        "the test control plane exited before it was ready ({status:?}); {}",
                        log_tail(&log)
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if started.elapsed() > READY_TIMEOUT {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "the test control plane was not ready within {READY_TIMEOUT:?}; {}",
                            log_tail(&log)
                        );
                    }
                }
            }
        }
        let stdin = child.stdin.take();
        *guard = Some(Proc { child, stdin });
    }

    /// Closes the process's stdin and waits for it to exit (killing it after a while).
    fn stop(&self) {
        let mut guard = self.proc.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut proc) = guard.take() else { return };
        drop(proc.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match proc.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = proc.child.kill();
                    let _ = proc.child.wait();
                    return;
                }
            }
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.stop();
        if self.owned {
            let _ = fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// Runs `tests/harness/ensure.sh` once per test binary.
fn tools() -> &'static Tools {
    TOOLS.get_or_init(|| {
        let script = repo_root().join("tests/harness/ensure.sh");
        // Its stderr (build progress, errors) goes straight to the terminal: a cold build is long.
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        if !out.status.success() {
            panic!(
                "the integration tests need a real Kubernetes control plane, and {} could not provide \
                 one ({}); its messages are above. It needs Go and the Go module proxy (for a cold \
                 cache). The integration tests are not skipped without it.",
                script.display(),
                out.status
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let vars: BTreeMap<&str, &str> = stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .collect();
        let get = |k: &str| -> PathBuf {
            PathBuf::from(vars.get(k).unwrap_or_else(|| {
                panic!("{} printed no {k}=...: {stdout}", script.display())
            }))
        };
        Tools {
            testenv_bin: get("TESTENV_BIN"),
            kubectl_bin: get("KUBECTL_BIN"),
            crd_dir: get("CRD_DIR"),
        }
    })
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A new data dir under `target/tmp/`, after removing those of test processes that are gone.
fn new_data_dir() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("testenv");
    fs::create_dir_all(&base).unwrap_or_else(|e| panic!("creating {}: {e}", base.display()));
    if let Ok(entries) = fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.split('-').next()) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The last lines of the harness's log, for panic messages.
fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(log) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    format!("last lines of {}:\n{tail}", log.display())
}

/// A DNS label: `prefix` (lowercased, other characters as '-', cut short) and a unique suffix.
fn unique_name(prefix: &str) -> String {
    let mut p: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    p.truncate(40);
    let p = p.trim_matches('-');
    let p = if p.is_empty() { "test" } else { p };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{p}-{n}-{:x}",
        (nanos ^ std::process::id().rotate_left(16)) & 0xfffff
    )
}

/// The CRD documents of a YAML file, or of every `*.yaml`/`*.yml` file of a directory (sorted).
fn crd_documents(path: &Path) -> Vec<Value> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = fs::read_dir(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut docs = Vec::new();
    for file in files {
        let text =
            fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        for de in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc = Value::deserialize(de)
                .unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()));
            if doc.is_null() {
                continue;
            }
            assert_eq!(
                doc["kind"].as_str(),
                Some("CustomResourceDefinition"),
                "{} holds something other than a CRD",
                file.display()
            );
            docs.push(doc);
        }
    }
    assert!(!docs.is_empty(), "no CRD in {}", path.display());
    docs
}
