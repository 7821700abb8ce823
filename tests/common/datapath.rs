//! The real Cilium datapath for the integration tests (issue 18): the Cilium agent v1.19.7 with its
//! eBPF datapath, run by `tests/cilium-datapath/run-scenario.sh` against a test API server, in
//! namespaces of its own; pods are network namespaces wired by the real `cilium-cni`
//! (`tests/cilium-datapath/pods.sh`), and real TCP connections between them are the verdicts.
//!
//! ```ignore
//! let env = TestEnv::start_new(CrdSet::NONE);
//! let dp = Datapath::start(env.kubeconfig());     // the agent is ready
//! // create the Pod objects (spec.nodeName = dp.node()), then:
//! let ip = dp.add_pod("ns", "name");
//! dp.listen("ns", "name", &[8080]);
//! dp.wait_endpoints_ready(&[ip.clone()]);
//! // apply policies, then:
//! dp.wait_policies(&uids_of_the_applied_policies);
//! assert_eq!(dp.probe(("other", "client"), &ip, 8080, PROBE_TIMEOUT), Probe::Answered("ns/name:8080".into()));
//! dp.stop();
//! ```
//!
//! Needs root and a kernel with BPF and BTF: [`available`] says whether this machine has them (a
//! test without them fails when `CI` is set and is skipped with a message otherwise). Everything a
//! scenario creates (agent, pods' namespaces, listeners, links, BPF programs, the Node) is removed
//! when it stops or is dropped, also when the test panics.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::tool;

const ENSURE: &str = "tests/cilium-datapath/ensure.sh";
/// From the runner's start to the agent's readiness (CRDs applied, agent started, BPF compiled).
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an endpoint may take to get its identity and programs, and a policy to reach every endpoint.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the runner may take to clean up after the scenario ends.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// What one TCP connection attempt saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The listener answered with this line (`<namespace>/<pod>:<port>`).
    Answered(String),
    /// No answer within the bound: the SYN was dropped (what a policy denial looks like).
    TimedOut,
    /// A RST: the packet arrived and nothing listens.
    Refused,
    /// Anything else (connected without a line, another error), as the probe printed it.
    Other(String),
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Answered(line) => write!(f, "answered ({line})"),
            Probe::TimedOut => f.write_str("timed out"),
            Probe::Refused => f.write_str("refused"),
            Probe::Other(s) => write!(f, "{s}"),
        }
    }
}

impl Probe {
    /// One result line of `pods.sh probe`/`probes`.
    pub fn parse(line: &str) -> Probe {
        match line.split_once(' ') {
            Some(("answered", what)) => Probe::Answered(what.to_string()),
            _ if line == "timeout" => Probe::TimedOut,
            _ if line == "refused" => Probe::Refused,
            _ => Probe::Other(line.to_string()),
        }
    }
}

/// What this machine lacks for the datapath tests (empty: nothing).
pub fn missing_prerequisites() -> Vec<String> {
    let mut missing = Vec::new();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if uid != "0" {
        missing.push(format!(
            "root (effective uid {uid}): the agent loads BPF programs, mounts bpffs and creates network namespaces"
        ));
        return missing;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        missing.push(
            "kernel BTF (/sys/kernel/btf/vmlinux): the Cilium datapath needs CONFIG_DEBUG_INFO_BTF"
                .into(),
        );
    }
    let bpffs = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t bpf bpf /sys/fs/bpf")
        .output();
    match bpffs {
        Ok(o) if o.status.success() => {}
        Ok(o) => missing.push(format!(
            "BPF (mounting bpffs in a private mount namespace failed: {})",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => missing.push(format!("unshare (util-linux): {e}")),
    }
    missing
}

/// Whether the datapath test `test` can run here. Without root or BPF: panics when the `CI`
/// environment variable is set (CI has both: a missing one is a broken runner), otherwise prints why
/// the test is skipped and returns false.
pub fn available(test: &str) -> bool {
    let missing = missing_prerequisites();
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    if std::env::var_os("CI").is_some() {
        panic!("{test}: this machine lacks what the real Cilium datapath needs: {why} (CI is set: not skipped)");
    }
    eprintln!("SKIPPED {test}: this machine lacks what the real Cilium datapath needs: {why}; run as root on a kernel with BPF and BTF (CI fails instead of skipping)");
    false
}

/// Percentile `p` (0..=100) of `samples` (nearest rank), in seconds.
pub fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut s: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

/// A running scenario: the agent, ready, and what was started inside it.
pub struct Datapath {
    runner: Option<Child>,
    runner_log: PathBuf,
    work: PathBuf,
    node: String,
    /// PID (host view) of the scenario's inner shell: `nsenter -t` enters its namespaces.
    inner: u32,
    tools: BTreeMap<String, String>,
    /// The listeners (their `nsenter` processes on the host).
    servers: Mutex<Vec<Child>>,
}

impl Datapath {
    /// Builds (once, cached) and starts the agent against the API server of `kubeconfig`, and waits
    /// until it is ready. Panics with the runner's log if it does not get there.
    pub fn start(kubeconfig: &Path) -> Datapath {
        Self::start_with(kubeconfig, &[])
    }

    /// [`Self::start`] with variables for `run-scenario.sh` (`SCENARIO_NODE_IP`, `SCENARIO_POD_CIDR`,
    /// `CILIUM_AGENT_EXTRA_ARGS`).
    pub fn start_with(kubeconfig: &Path, env: &[(&str, &str)]) -> Datapath {
        let tools = tool::ensure_all(ENSURE);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let logs = root.join("target/tmp");
        std::fs::create_dir_all(&logs).expect("target/tmp");
        let runner_log = logs.join(format!(
            "cilium-datapath-{}-{}.log",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let log = std::fs::File::create(&runner_log).expect("the runner's log file");
        // If this test process dies without unwinding (a signal), the runner gets TERM and cleans up.
        let mut runner = Command::new("setpriv")
            .args(["--pdeathsig", "TERM", "--", "bash"])
            .arg(root.join("tests/cilium-datapath/run-scenario.sh"))
            .arg(kubeconfig)
            .arg("bash")
            .arg(root.join("tests/cilium-datapath/pods.sh"))
            .arg("hold")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting tests/cilium-datapath/run-scenario.sh");
        let stdout = runner.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut dp = Datapath {
            runner: Some(runner),
            runner_log,
            work: PathBuf::new(),
            node: String::new(),
            inner: 0,
            tools,
            servers: Mutex::new(Vec::new()),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("SCENARIO-READY ") {
                        let (node, work) =
                            rest.split_once(' ').expect("SCENARIO-READY <node> <work>");
                        dp.node = node.to_string();
                        dp.work = PathBuf::from(work);
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(e) => {
                    let exited = dp.runner.as_mut().unwrap().try_wait().ok().flatten();
                    panic!(
                        "the Cilium agent was not ready after {START_TIMEOUT:?} ({e:?}, runner exit: {exited:?}); runner log {}:\n{}",
                        dp.runner_log.display(),
                        dp.log_tail()
                    );
                }
            }
        }
        let pid = std::fs::read_to_string(dp.work.join("inner.pid")).unwrap_or_default();
        dp.inner = pid
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no inner pid in {}/inner.pid", dp.work.display()));
        dp
    }

    /// The Node the agent runs as: every Pod of the scenario needs `spec.nodeName` set to it.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.runner_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// A command inside the scenario's mount, network and PID namespaces.
    fn inside(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.inner.to_string())
            .args(["-m", "-n", "-p", "--"])
            .arg(program)
            .env("CILIUM_CNI", &self.tools["CILIUM_CNI"])
            .stdin(Stdio::null());
        cmd
    }

    fn pods_sh(&self) -> Command {
        let mut cmd = self.inside("bash");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cilium-datapath/pods.sh"));
        cmd
    }

    fn output(what: &str, mut cmd: Command) -> String {
        let out: Output = cmd
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
        assert!(
            out.status.success(),
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `cilium-dbg ARGS` inside the scenario.
    pub fn cilium_dbg(&self, args: &[&str]) -> String {
        let mut cmd = self.inside(&self.tools["CILIUM_DBG"]);
        cmd.args(args);
        Self::output(&format!("cilium-dbg {}", args.join(" ")), cmd)
    }

    /// Wires the Pending Pod `namespace/name` (it must exist, on [`Self::node`]) to a network namespace
    /// `namespace.name` with the real `cilium-cni`; returns its IPv4 address.
    pub fn add_pod(&self, namespace: &str, name: &str) -> String {
        let mut cmd = self.pods_sh();
        cmd.args(["add", namespace, name]);
        Self::output(&format!("pods.sh add {namespace} {name}"), cmd)
            .trim()
            .to_string()
    }

    /// A listener in the pod's network namespace on each of `ports`, answering `namespace/name:port`.
    /// Returns once every port is bound.
    pub fn listen(&self, namespace: &str, name: &str, ports: &[u16]) {
        self.listen_in(
            &format!("{namespace}.{name}"),
            &format!("{namespace}/{name}"),
            ports,
        );
    }

    /// A listener answering `banner:port` on each of `ports` in the network namespace `netns` (`-`:
    /// the node's own); returns once every port is bound.
    fn listen_in(&self, netns: &str, banner: &str, ports: &[u16]) {
        if ports.is_empty() {
            return;
        }
        let mut cmd = self.pods_sh();
        cmd.args(["listen", netns, banner])
            .args(ports.iter().map(u16::to_string));
        self.serve(
            &format!("the listener {banner} on {ports:?}"),
            cmd,
            "LISTENING",
        );
    }

    /// Starts `cmd` (a server), waits for its first line on stdout, which must start with `ready`,
    /// and keeps it until the scenario ends; returns that line.
    fn serve(&self, what: &str, mut cmd: Command, ready: &str) -> String {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .ok();
        if !first.starts_with(ready) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the server's output");
            panic!(
                "{what} did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.servers.lock().unwrap().push(child);
        first.trim().to_string()
    }

    /// One TCP connection from the pod `from` (namespace, name) to `ip:port`, bounded by `timeout`.
    pub fn probe(&self, from: (&str, &str), ip: &str, port: u16, timeout: Duration) -> Probe {
        let mut cmd = self.pods_sh();
        cmd.args([
            "probe",
            &format!("{}.{}", from.0, from.1),
            ip,
            &port.to_string(),
            &format!("{:.3}", timeout.as_secs_f64()),
        ]);
        let line = Self::output(&format!("probe {}/{} -> {ip}:{port}", from.0, from.1), cmd);
        Probe::parse(line.trim())
    }

    /// `cilium-dbg endpoint list -o json`.
    pub fn endpoints(&self) -> Vec<Value> {
        let text = self.cilium_dbg(&["endpoint", "list", "-o", "json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("endpoint list: {e}: {text}"))
    }

    /// Waits until the endpoint of each address is `ready` with an identity from its pod's labels (not
    /// `reserved:init`, which an endpoint has until the agent read its pod).
    pub fn wait_endpoints_ready(&self, ips: &[String]) {
        until("the endpoints ready with their pod's identity", || {
            let eps = self.endpoints();
            let pending: Vec<&String> = ips
                .iter()
                .filter(|ip| {
                    !eps.iter().any(|ep| {
                        ep.pointer("/status/networking/addressing/0/ipv4")
                            .and_then(Value::as_str)
                            == Some(ip.as_str())
                            && ep.pointer("/status/state").and_then(Value::as_str) == Some("ready")
                            && !ep["status"]["identity"]["labels"]
                                .as_array()
                                .is_some_and(|l| l.iter().any(|l| l == "reserved:init"))
                    })
                })
                .collect();
            if pending.is_empty() {
                Ok(())
            } else {
                Err(format!("not yet: {pending:?}"))
            }
        })
    }

    /// The policies (their Kubernetes UIDs) the agent's repository holds, and its revision.
    pub fn policies(&self) -> (BTreeSet<String>, u64) {
        let text = self.cilium_dbg(&["policy", "get", "-o", "json"]);
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("policy get: {e}: {text}"));
        let rules: Value = serde_json::from_str(v["policy"].as_str().unwrap_or("[]"))
            .unwrap_or_else(|e| panic!("policy get: its rules: {e}: {text}"));
        let uids = rules
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["Labels"].as_array().into_iter().flatten())
            .filter(|l| l["key"] == "io.cilium.k8s.policy.uid")
            .filter_map(|l| l["value"].as_str().map(str::to_string))
            .collect();
        let revision = v["revision"]
            .as_u64()
            .unwrap_or_else(|| panic!("policy get: no revision: {text}"));
        (uids, revision)
    }

    /// Waits until the agent holds exactly the policies `uids` and every endpoint has realized that
    /// revision (`cilium-dbg policy wait`). Returns how long that took from the call (call it right
    /// after the apply or delete: that is the policy propagation time).
    pub fn wait_policies(&self, uids: &BTreeSet<String>) -> Duration {
        self.try_wait_policies(uids, CONVERGE_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Self::wait_policies`] bounded by `bound` for the repository to hold exactly `uids`: why not,
    /// instead of a panic.
    pub fn try_wait_policies(
        &self,
        uids: &BTreeSet<String>,
        bound: Duration,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let revision = try_until(
            "the agent to hold exactly the API server's policies",
            bound,
            || {
                let (held, revision) = self.policies();
                if &held == uids {
                    Ok(revision)
                } else {
                    Err(format!("it holds {held:?}, not {uids:?}"))
                }
            },
        )?;
        // What `cilium-dbg policy wait` checks (every endpoint ready, on that revision or later), polled
        // finer than its 1 s interval; then the command itself, which returns at once.
        until(
            &format!("every endpoint ready on policy revision {revision}"),
            || {
                let behind: Vec<String> = self
                    .endpoints()
                    .iter()
                    .filter(|ep| {
                        ep.pointer("/status/policy/realized/policy-revision")
                            .and_then(Value::as_u64)
                            .unwrap_or(0)
                            < revision
                            || ep.pointer("/status/state").and_then(Value::as_str) != Some("ready")
                    })
                    .map(|ep| ep["id"].to_string())
                    .collect();
                if behind.is_empty() {
                    Ok(())
                } else {
                    Err(format!("endpoints {behind:?} are not"))
                }
            },
        );
        let took = start.elapsed();
        self.cilium_dbg(&[
            "policy",
            "wait",
            &revision.to_string(),
            "--max-wait-time",
            "60",
        ]);
        Ok(took)
    }

    /// Ends the scenario and checks that the runner cleaned up and exited successfully.
    pub fn stop(mut self) {
        let mut runner = self.runner.take().unwrap();
        std::fs::write(self.work.join("stop"), b"").expect("writing the stop file");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(s) = runner.try_wait().expect("waiting for the runner") {
                break s;
            }
            if Instant::now() > deadline {
                terminate(&mut runner);
                panic!(
                    "the runner did not stop within {STOP_TIMEOUT:?}; log {}:\n{}",
                    self.runner_log.display(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        self.reap_servers();
        assert!(
            status.success(),
            "the runner exited with {status}; log {}:\n{}",
            self.runner_log.display(),
            self.log_tail()
        );
        let _ = std::fs::remove_file(&self.runner_log);
    }

    /// The listeners die with the scenario's PID namespace; their `nsenter` processes are reaped here.
    fn reap_servers(&self) {
        for mut s in self
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            if matches!(s.try_wait(), Ok(None)) {
                let _ = s.kill();
            }
            let _ = s.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The API server as the datapath tests drive it: kubectl of the scenario's test environment.

/// The kinds of network policy the agent enforces, as kubectl names them.
pub const POLICY_RESOURCES: &str = "ciliumnetworkpolicies.cilium.io,ciliumclusterwidenetworkpolicies.cilium.io,networkpolicies.networking.k8s.io";

/// `kubectl ARGS` against `env`, with `stdin` written to it: its stdout, or the command and its stderr.
pub fn kubectl(
    env: &super::testenv::TestEnv,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
    let mut cmd = env.kubectl();
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("running kubectl");
    if let Some(text) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The output of a kubectl that must succeed.
pub fn must(r: Result<String, String>) -> String {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// `kubectl apply` of `objects`, as one List (nothing to do for none).
pub fn apply(env: &super::testenv::TestEnv, objects: &[&Value]) -> Result<String, String> {
    if objects.is_empty() {
        return Ok(String::new());
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
    kubectl(env, &["apply", "-f", "-"], Some(&list.to_string()))
}

/// Every network policy in the API server: (kind, namespace, name) → UID.
pub fn policy_uids(env: &super::testenv::TestEnv) -> BTreeMap<(String, String, String), String> {
    let text = must(kubectl(
        env,
        &["get", POLICY_RESOURCES, "-A", "-o", "json"],
        None,
    ));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let m = &i["metadata"];
            (
                (
                    i["kind"].as_str().unwrap_or_default().to_string(),
                    m["namespace"].as_str().unwrap_or_default().to_string(),
                    m["name"].as_str().unwrap_or_default().to_string(),
                ),
                m["uid"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// A real Prometheus in a pod (issue 18 item 4): metrics endpoints in the pods, the API server as the
// pods reach it, and the way from the test process to a pod's address.

impl Datapath {
    /// The network namespace of the pod `namespace/name` ([`Self::add_pod`]) as the host sees it (a
    /// path `nsenter --net=` takes: it lives in the scenario's private `/run`).
    pub fn pod_netns(&self, namespace: &str, name: &str) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/run/netns/{namespace}.{name}",
            self.inner
        ))
    }

    /// An HTTP metrics endpoint in the pod's network namespace on each of `ports`
    /// (`tests/cilium-datapath/exporter.sh`): `GET path` answers valid exposition text naming the
    /// pod. Instead of [`Self::listen`] on those ports. Returns once every port is bound.
    pub fn serve_metrics(&self, namespace: &str, name: &str, path: &str, ports: &[u16]) {
        let mut cmd = self.inside("bash");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cilium-datapath/exporter.sh"))
            .args([
                &format!("{namespace}.{name}"),
                &format!("{namespace}/{name}"),
                path,
            ])
            .args(ports.iter().map(u16::to_string));
        self.serve(
            &format!("the metrics endpoint of {namespace}/{name} on {ports:?}"),
            cmd,
            "LISTENING",
        );
    }

    /// `nsforward` on the host: listens on `listen` (port 0: the kernel picks) in the network namespace
    /// `listen_netns` (none: the host's) and forwards every connection to `to`, dialled in `dial_netns`
    /// (none: the host's). Runs until the scenario ends; returns the address it listens on.
    fn forward(
        &self,
        listen_netns: Option<&Path>,
        listen: SocketAddr,
        to: SocketAddr,
        dial_netns: Option<&Path>,
    ) -> SocketAddr {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--"])
            .arg(&self.tools["NSFORWARD"])
            .arg(format!("-addr={listen}"))
            .arg(format!("-to={to}"))
            .stdin(Stdio::null());
        if let Some(n) = listen_netns {
            cmd.arg(format!("-netns={}", n.display()));
        }
        if let Some(n) = dial_netns {
            cmd.arg(format!("-dial-netns={}", n.display()));
        }
        let what = format!("nsforward {listen} -> {to}");
        let line = self.serve(&what, cmd, "READY ");
        line["READY ".len()..]
            .parse()
            .unwrap_or_else(|e| panic!("{what}: not an address in {line:?}: {e}"))
    }

    /// The test API server (`api`, on the host) as the pods reach it: at `service_ip` (the address
    /// its certificate names for the `kubernetes` Service), which the scenario's node holds (on its
    /// `lo`: no kube-proxy runs), port 0, forwarded to `api` from there. A pod's connection to it
    /// crosses the datapath (pod -> node: the pod's egress policy applies, and the agent's ipcache
    /// gives an address on the node's `lo` identity 2, `reserved:world`, not `reserved:host`).
    /// Returns the address the pods use.
    pub fn api_service(&self, service_ip: IpAddr, api: SocketAddr) -> SocketAddr {
        let mut cmd = self.inside("ip");
        cmd.args(["addr", "add", &format!("{service_ip}/32"), "dev", "lo"]);
        Self::output(
            &format!("ip addr add {service_ip}/32 dev lo (the node)"),
            cmd,
        );
        let node_netns = PathBuf::from(format!("/proc/{}/ns/net", self.inner));
        self.forward(Some(&node_netns), SocketAddr::new(service_ip, 0), api, None)
    }

    /// A pod's `addr` as the test process reaches it: the host's `127.0.0.1:<port 0>`, forwarded to
    /// `addr` from the scenario's node, so that the connection crosses the datapath from the node
    /// (`reserved:host`, as a kubelet probe or a port-forward would) into the pod.
    pub fn expose(&self, addr: SocketAddr) -> SocketAddr {
        let node_netns = PathBuf::from(format!("/proc/{}/ns/net", self.inner));
        self.forward(
            None,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            addr,
            Some(&node_netns),
        )
    }
}

/// Polls `f` every 50 ms until it returns `Ok`; panics with `what` and the last `Err` after
/// [`CONVERGE_TIMEOUT`].
fn until<T>(what: &str, f: impl FnMut() -> Result<T, String>) -> T {
    try_until(what, CONVERGE_TIMEOUT, f).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `f` every 50 ms until it returns `Ok`; after `bound`, why it did not (`what` and the last
/// `Err`).
fn try_until<T>(
    what: &str,
    bound: Duration,
    mut f: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + bound;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(last) if Instant::now() > deadline => {
                return Err(format!(
                    "timed out after {bound:?} waiting for {what}: {last}"
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// TERM to the runner (its traps stop the agent, the pods' processes and the forwarder and delete the
/// Node), KILL after [`STOP_TIMEOUT`].
fn terminate(runner: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &runner.id().to_string()])
        .status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if !matches!(runner.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = runner.kill();
    let _ = runner.wait();
}

impl Drop for Datapath {
    fn drop(&mut self) {
        if let Some(mut runner) = self.runner.take() {
            terminate(&mut runner);
            eprintln!(
                "cilium datapath scenario stopped early; runner log {} (agent log in the kept run directory it names)",
                self.runner_log.display()
            );
        }
        self.reap_servers();
    }
}

// ---------------------------------------------------------------------------------------------------
// The datapath differential (`tests/cilium_datapath_diff.rs`): many clusters on one agent.

/// Where a probe starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// The pod (namespace, name) of [`Datapath::add_pod`].
    Pod(&'a str, &'a str),
    /// The agent's node itself (its network namespace): a hostNetwork pod on this node.
    Node,
    /// The host of another node ([`Datapath::add_remote_node`], by its network namespace).
    RemoteNode(&'a str),
}

impl Datapath {
    /// Undoes [`Self::add_pod`]: kills the pod's listeners, the real `cilium-cni` DEL (the agent
    /// removes its endpoint), deletes its network namespace. The Pod object is the caller's.
    pub fn remove_pod(&self, namespace: &str, name: &str) {
        let mut cmd = self.pods_sh();
        cmd.args(["del", namespace, name]);
        Self::output(&format!("pods.sh del {namespace} {name}"), cmd);
        self.reap_exited_servers();
    }

    /// A second node's host without an agent, in the network namespace `netns` at `ip` (on the
    /// agent's link, in its /24; `pods.sh node`): what a hostNetwork pod there sends from. The
    /// agent knows it as a remote node once its Node and CiliumNode objects are in the API server.
    pub fn add_remote_node(&self, netns: &str, ip: &str, gateway: &str) {
        let mut cmd = self.pods_sh();
        cmd.args(["node", netns, ip, gateway]);
        Self::output(&format!("pods.sh node {netns} {ip} {gateway}"), cmd);
    }

    /// One TCP connection to each of `targets` (address, port), all at once, each bounded by
    /// `timeout`, from `from`.
    pub fn probe_all(
        &self,
        from: Source,
        targets: &[(String, u16)],
        timeout: Duration,
    ) -> Vec<Probe> {
        if targets.is_empty() {
            return Vec::new();
        }
        let netns = match from {
            Source::Pod(ns, name) => format!("{ns}.{name}"),
            Source::Node => "-".to_string(),
            Source::RemoteNode(netns) => netns.to_string(),
        };
        let mut cmd = self.pods_sh();
        cmd.args(["probes", &netns, &format!("{:.3}", timeout.as_secs_f64())])
            .args(targets.iter().map(|(ip, port)| format!("{ip}:{port}")));
        let out = Self::output(&format!("probes from {netns}"), cmd);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines.len(),
            targets.len(),
            "pods.sh probes from {netns}: {} lines for {} targets:\n{out}",
            lines.len(),
            targets.len()
        );
        lines
            .iter()
            .zip(targets)
            .map(|(line, (ip, port))| {
                let rest = line
                    .strip_prefix(&format!("{ip}:{port} "))
                    .unwrap_or_else(|| panic!("pods.sh probes: {line:?} is not about {ip}:{port}"));
                Probe::parse(rest)
            })
            .collect()
    }

    /// A listener on the node itself (its network namespace) answering `banner:port`.
    pub fn listen_on_node(&self, banner: &str, ports: &[u16]) {
        self.listen_in("-", banner, ports);
    }

    /// Forgets every connection the datapath tracks (`cilium-dbg bpf ct flush global`): a probe
    /// after a policy change is a new connection, judged by the new policy.
    pub fn flush_conntrack(&self) {
        self.cilium_dbg(&["bpf", "ct", "flush", "global"]);
    }

    /// Reaps the listeners' `nsenter` processes that have exited (their pod was removed).
    fn reap_exited_servers(&self) {
        self.servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain_mut(|s| matches!(s.try_wait(), Ok(None)));
    }
}
