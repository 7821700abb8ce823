//! Seed 000 on the real Cilium datapath (issue 18): real packets judge `scrapepath check`'s network
//! verdicts.
//!
//! The pods of the seed's own files (the Pods of `deploy/examples/blog-system`, and the pods `check`
//! models from the Deployments of its Git form `deploy/examples/seed-000-gitops`) become Pod objects in
//! a test API server, network namespaces wired by the real `cilium-cni` to the real agent (v1.19.7,
//! eBPF), and a listener on each declared TCP port; the Prometheus pods are the clients. Then, with
//! `cilium-dbg policy wait` after every policy change:
//!
//! 1. the seed's policies as during the incident: every (scraper pod, target, port) `check` calls
//!    Denied times out, every one it calls Allowed answers;
//! 2. the author's fix (`fixed/`): `check` calls all Allowed and all answer;
//! 3. the incident's policies plus scrapepath's own remedy (the CiliumNetworkPolicy `check` proposes,
//!    applied exactly as printed): the scrape ports answer, while a pod of another Prometheus in the
//!    same namespace, and the Prometheus pods on the targets' other ports, still time out; the remedy
//!    is then removed and re-applied a few times (closed, open) to measure policy propagation.
//!
//! A third test runs the operator (`scrapepath run`'s controller, in-process) in Enforce mode on the
//! same datapath: the intent's CNP opens the scrape, deleting the intent closes it (issue 18 item 4).
//!
//! The scraper's egress (issue 14): `deploy/examples/kube-prometheus-egress` (kube-prometheus'
//! Prometheus with its NetworkPolicy narrowed to DNS-only egress) on the same datapath, and the egress
//! rule `check` proposes ([`kube_prometheus_egress_on_the_real_datapath_the_proposed_egress_rule_opens_the_scrape`]).
//!
//! Each test prints a table of every flow (predicted vs observed) and the timings. Needs root and BPF
//! (see `tests/common/datapath.rs`): without them it fails when `CI` is set and is skipped with a
//! message otherwise. The scenarios of this binary run one at a time (each has its own API server
//! and agent; two agents compiling their BPF programs at once only make both slow).

mod common;
#[path = "common/report.rs"]
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use common::datapath::{self, available, percentile, Datapath, Probe, POLICY_RESOURCES};
use common::testenv::{CrdSet, TestEnv};
use scrapepath::model::{Labels, Pod};
use scrapepath::observe::plan::UrlSetting;

/// A connection that is not answered within this is a dropped SYN. An allowed one on one node answers
/// in milliseconds; every probe is taken after the agent confirmed the policy revision.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the remedy is removed and re-applied after phase 3 (two propagation samples each).
const TOGGLES: usize = 3;
const POLICY_KINDS: &[&str] = &[
    "CiliumNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
    "NetworkPolicy",
];

static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

// ---------------------------------------------------------------------------------------------------
// The seed, as its files say.

/// The pods, namespaces, scrapers and policies of one directory of the seed.
struct World {
    /// Every pod with a network namespace of its own (hostNetwork pods have none), by `ns/name`.
    pods: BTreeMap<String, Pod>,
    /// The namespaces of those pods and of the policies, with their labels.
    namespaces: BTreeMap<String, Labels>,
    /// Each Prometheus (`ns/name`) and its pods (`ns/name`): the ones in the files, else the one
    /// prometheus-operator would run, as `check` models it.
    scrapers: BTreeMap<String, Vec<String>>,
    /// The network policies of the files, as they would be applied.
    policies: Vec<Value>,
}

impl World {
    fn load(dir: &Path) -> World {
        let (idx, _) = scrapepath::load::load_index(&[dir.to_path_buf()], false)
            .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()));
        let mut pods: BTreeMap<String, Pod> = idx
            .pods()
            .filter(|(_, p)| !p.host_network)
            .map(|(_, p)| (key(&p.namespace, &p.name), p.clone()))
            .collect();
        let mut scrapers = BTreeMap::new();
        for p in idx.prometheuses() {
            let mut of: Vec<Pod> = scrapepath::promop::workload_pods(&idx, p)
                .into_iter()
                .map(|(_, pod)| pod.clone())
                .collect();
            if of.is_empty() {
                of.push(scrapepath::engine::modelled_pod(p));
            }
            scrapers.insert(
                key(&p.namespace, &p.name),
                of.iter()
                    .map(|pod| key(&pod.namespace, &pod.name))
                    .collect(),
            );
            for pod in of {
                pods.entry(key(&pod.namespace, &pod.name)).or_insert(pod);
            }
        }
        let policies = policy_documents(dir);
        let mut namespaces = BTreeMap::new();
        let policy_namespaces = policies
            .iter()
            .filter_map(|p| p.pointer("/metadata/namespace").and_then(Value::as_str));
        for ns in pods
            .values()
            .map(|p| p.namespace.as_str())
            .chain(policy_namespaces)
        {
            namespaces.insert(ns.to_string(), idx.namespace_labels(ns));
        }
        World {
            pods,
            namespaces,
            scrapers,
            policies,
        }
    }
}

/// The network policies among the YAML documents of `dir` (not recursive), without the fields the
/// API server owns.
fn policy_documents(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let mut v = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", f.display()));
            if !POLICY_KINDS.contains(&v["kind"].as_str().unwrap_or("")) {
                continue;
            }
            if let Some(meta) = v["metadata"].as_object_mut() {
                for owned in [
                    "uid",
                    "resourceVersion",
                    "generation",
                    "creationTimestamp",
                    "managedFields",
                ] {
                    meta.remove(owned);
                }
            }
            v.as_object_mut().unwrap().remove("status");
            out.push(v);
        }
    }
    out
}

/// The YAML documents of `dir/file` but its Pods (the scenario creates those, on its Node).
fn documents(dir: &Path, file: &str) -> Vec<Value> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| {
            Value::deserialize(d).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
        })
        .filter(|v| !v.is_null() && v["kind"] != "Pod")
        .collect()
}

/// The Pod object of a pod of the files: its name, namespace, labels and declared ports, Pending on
/// the scenario's Node (no kubelet runs; the agent needs only the object).
fn pod_object(p: &Pod, node: &str) -> Value {
    let mut containers: Vec<Value> = p
        .containers
        .iter()
        .filter(|c| !c.init || c.native_sidecar)
        .map(|c| {
            let ports: Vec<Value> = c
                .ports
                .iter()
                .map(|port| {
                    let mut v = json!({"containerPort": port.number, "protocol": port.protocol});
                    if let Some(n) = &port.name {
                        v["name"] = json!(n);
                    }
                    v
                })
                .collect();
            let image = if c.image.is_empty() {
                "none.invalid/pod"
            } else {
                &c.image
            };
            json!({"name": c.name, "image": image, "ports": ports})
        })
        .collect();
    if containers.is_empty() {
        containers.push(json!({"name": "main", "image": "none.invalid/pod"}));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
        "spec": {"nodeName": node, "containers": containers},
    })
}

/// The TCP ports the pod declares (every container's).
fn tcp_ports(p: &Pod) -> Vec<u16> {
    let ports: BTreeSet<u16> = p
        .containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .filter(|port| port.protocol.eq_ignore_ascii_case("TCP"))
        .map(|port| port.number)
        .collect();
    ports.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------------
// What `scrapepath check` says.

/// `scrapepath check -f PATH... -o json` (exit 0 or 1: a report).
fn check(paths: &[&Path]) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scrapepath"));
    cmd.arg("check");
    for p in paths {
        cmd.arg("-f").arg(p);
    }
    let out = cmd
        .args(["-o", "json"])
        .output()
        .expect("running scrapepath check");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "scrapepath check {paths:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("check -o json prints JSON")
}

/// One scrape `check` judged: (scraper `ns/name`, target pod `ns/name`, port) and its network verdict.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Verdict {
    scraper: String,
    target: String,
    port: u16,
    verdict: String,
}

fn verdicts(report: &Value) -> Vec<Verdict> {
    let mut out = BTreeSet::new();
    for s in report["subjects"].as_array().expect("subjects") {
        for t in s["targets"].as_array().into_iter().flatten() {
            out.insert(Verdict {
                scraper: t["scraper"].as_str().expect("a target's scraper").into(),
                target: t["pod"].as_str().expect("a target's pod").into(),
                port: t["port"].as_u64().expect("a target's port") as u16,
                verdict: t["network"]["verdict"]
                    .as_str()
                    .expect("a network verdict")
                    .into(),
            });
        }
    }
    out.into_iter().collect()
}

/// The CiliumNetworkPolicies `check` proposes as remediation, once each.
fn remedy_policies(report: &Value) -> Vec<Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for s in report["subjects"].as_array().expect("subjects") {
        for o in s["remediation"].as_array().into_iter().flatten() {
            if o["kind"] == "CiliumNetworkPolicy" {
                let k = key(
                    o["metadata"]["namespace"].as_str().unwrap_or(""),
                    o["metadata"]["name"].as_str().unwrap_or(""),
                );
                out.insert(k, o.clone());
            }
        }
    }
    out.into_values().collect()
}

// ---------------------------------------------------------------------------------------------------
// The cluster and the packets.

/// A kubectl that must succeed, its stdin a JSON value.
fn kubectl(env: &TestEnv, args: &[&str], stdin: Option<&Value>) -> String {
    datapath::must(datapath::kubectl(
        env,
        args,
        stdin.map(Value::to_string).as_deref(),
    ))
}

fn apply(env: &TestEnv, objects: &[Value]) {
    datapath::must(datapath::apply(env, &objects.iter().collect::<Vec<_>>()));
}

fn delete(env: &TestEnv, objects: &[Value]) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    kubectl(
        env,
        &["delete", "--ignore-not-found", "-f", "-"],
        Some(&list),
    );
}

/// The Kubernetes UIDs of every network policy in the API server.
fn policy_uids(env: &TestEnv) -> BTreeSet<String> {
    datapath::policy_uids(env).into_values().collect()
}

/// One connection the test makes, what it expects, and what happened.
struct Flow {
    phase: &'static str,
    client: String,
    target: String,
    port: u16,
    /// Why it should answer or not: check's verdict, or the control it is.
    predicted: String,
    answers: bool,
    observed: Option<Probe>,
}

impl Flow {
    fn new(
        phase: &'static str,
        client: &str,
        target: &str,
        port: u16,
        predicted: &str,
        answers: bool,
    ) -> Flow {
        Flow {
            phase,
            client: client.into(),
            target: target.into(),
            port,
            predicted: predicted.into(),
            answers,
            observed: None,
        }
    }

    fn agrees(&self) -> bool {
        match &self.observed {
            Some(Probe::Answered(line)) => {
                self.answers && *line == format!("{}:{}", self.target, self.port)
            }
            Some(Probe::TimedOut) => !self.answers,
            _ => false,
        }
    }
}

/// The scenario: the agent, the pods' addresses, the flows probed and the propagation samples.
struct Scenario<'a> {
    env: &'a TestEnv,
    dp: Datapath,
    ips: BTreeMap<String, String>,
    flows: Vec<Flow>,
    propagation: Vec<Duration>,
    /// From the runner's start to the agent's readiness.
    agent_ready: Duration,
}

impl<'a> Scenario<'a> {
    /// Starts the agent against `env` and puts the world's pods on it: namespaces, Pod objects, network
    /// namespaces wired by cilium-cni, a listener on each declared TCP port; returns once every endpoint
    /// has its identity. With `running`, each Pod's status says Running and Ready at its address, as a
    /// kubelet would write it (the operator reads it; the agent does not need it).
    fn start(env: &'a TestEnv, world: &World, running: bool) -> Scenario<'a> {
        Self::start_with(env, world, running, None)
    }

    /// As [`Scenario::start`]; with `metrics` (path, port), every pod that declares that port serves
    /// HTTP metrics at that path there (`Datapath::serve_metrics`) instead of the line listener.
    fn start_with(
        env: &'a TestEnv,
        world: &World,
        running: bool,
        metrics: Option<(&str, u16)>,
    ) -> Scenario<'a> {
        let t = Instant::now();
        let dp = Datapath::start(env.kubeconfig());
        let mut sc = Scenario {
            env,
            dp,
            ips: BTreeMap::new(),
            flows: Vec::new(),
            propagation: Vec::new(),
            agent_ready: t.elapsed(),
        };
        let namespaces: Vec<Value> = world
            .namespaces
            .iter()
            .map(|(ns, labels)| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}))
            .collect();
        apply(env, &namespaces);
        let node = sc.dp.node().to_string();
        let pods: Vec<Value> = world.pods.values().map(|p| pod_object(p, &node)).collect();
        apply(env, &pods);
        for (k, p) in &world.pods {
            let ip = sc.dp.add_pod(&p.namespace, &p.name);
            let mut ports = tcp_ports(p);
            if let Some((path, port)) = metrics.filter(|(_, port)| ports.contains(port)) {
                ports.retain(|&q| q != port);
                sc.dp.serve_metrics(&p.namespace, &p.name, path, &[port]);
            }
            sc.dp.listen(&p.namespace, &p.name, &ports);
            if running {
                let status = json!({"status": {
                    "phase": "Running",
                    "podIP": ip, "podIPs": [{"ip": ip}],
                    "conditions": [
                        {"type": "Initialized", "status": "True"},
                        {"type": "ContainersReady", "status": "True"},
                        {"type": "Ready", "status": "True"},
                    ],
                }});
                kubectl(
                    env,
                    &[
                        "patch",
                        "pod",
                        "-n",
                        &p.namespace,
                        &p.name,
                        "--subresource=status",
                        "--type=merge",
                        "-p",
                        &status.to_string(),
                    ],
                    None,
                );
            }
            sc.ips.insert(k.clone(), ip);
        }
        sc.dp
            .wait_endpoints_ready(&sc.ips.values().cloned().collect::<Vec<_>>());
        sc
    }

    /// Replaces every network policy in the cluster with `policies` and waits until the agent has
    /// them on every endpoint; both steps are propagation samples.
    fn set_policies(&mut self, policies: &[Value]) {
        if !policy_uids(self.env).is_empty() {
            kubectl(self.env, &["delete", POLICY_RESOURCES, "--all", "-A"], None);
            self.propagation
                .push(self.dp.wait_policies(&BTreeSet::new()));
        }
        apply(self.env, policies);
        let uids = policy_uids(self.env);
        self.propagation.push(self.dp.wait_policies(&uids));
    }

    /// Probes every flow of `flows` at once and records them.
    fn probe(&mut self, mut flows: Vec<Flow>) {
        let observed: Vec<Probe> = std::thread::scope(|s| {
            let handles: Vec<_> = flows
                .iter()
                .map(|f| {
                    let (cns, cname) = f.client.split_once('/').unwrap();
                    let ip = &self.ips[&f.target];
                    let dp = &self.dp;
                    s.spawn(move || dp.probe((cns, cname), ip, f.port, PROBE_TIMEOUT))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a probe"))
                .collect()
        });
        for (f, o) in flows.iter_mut().zip(observed) {
            f.observed = Some(o);
        }
        self.flows.extend(flows);
    }

    /// Probes `client -> target:port` (0.5 s bound) until it answers (`answers`) or times out (not),
    /// for at most two minutes; how long that took.
    fn until_probe(&self, client: &str, target: &str, port: u16, answers: bool) -> Duration {
        let start = Instant::now();
        let (cns, cname) = client.split_once('/').unwrap();
        loop {
            let probe = self.dp.probe(
                (cns, cname),
                &self.ips[target],
                port,
                Duration::from_millis(500),
            );
            if matches!(probe, Probe::Answered(_)) == answers {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{client} -> {target}:{port} did not {} within 120 s (last: {probe})",
                if answers { "answer" } else { "close" }
            );
        }
    }

    /// Prints every flow and the timings of a scenario that started at `t0` (its test API server ready
    /// at `t_env`, the agent at `t_agent`, its `pods` wired at `t_pods`), fails if a flow disagrees with
    /// its prediction, and stops the agent.
    fn finish(
        self,
        test: &str,
        pods: usize,
        t0: Instant,
        (t_env, t_agent, t_pods): (Duration, Duration, Duration),
    ) {
        let table = self.table();
        println!("{test}: every flow, predicted and observed:\n{table}");
        let disagree = self.flows.iter().filter(|f| !f.agrees()).count();
        println!(
            "{test}: {} flows probed, {} agree; test API server {:.1} s, agent ready {:.1} s, {pods} pods wired {:.1} s, whole scenario {:.1} s; policy propagation (apply/delete -> every endpoint on the revision) p50 {:.2} s, p99 {:.2} s over {} changes",
            self.flows.len(),
            self.flows.len() - disagree,
            t_env.as_secs_f64(),
            (t_agent - t_env).as_secs_f64(),
            (t_pods - t_agent).as_secs_f64(),
            t0.elapsed().as_secs_f64(),
            percentile(&self.propagation, 50.0),
            percentile(&self.propagation, 99.0),
            self.propagation.len(),
        );
        assert_eq!(
            disagree,
            0,
            "{test}: {disagree} of {} flows disagree with the prediction (marked):\n{table}",
            self.flows.len()
        );
        self.dp.stop();
    }

    fn table(&self) -> String {
        let mut t = format!(
            "{:<22} {:<52} {:<58} {:<28} {}\n",
            "phase", "client", "target:port", "predicted", "observed"
        );
        for f in &self.flows {
            t += &format!(
                "{:<22} {:<52} {:<58} {:<28} {}{}\n",
                f.phase,
                f.client,
                format!("{}:{}", f.target, f.port),
                f.predicted,
                f.observed
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                if f.agrees() { "" } else { "   <-- DISAGREES" }
            );
        }
        t
    }
}

/// Deletes the `blog-system/was-envoy` intent (without waiting for the garbage collection).
fn delete_was_envoy(env: &TestEnv) {
    kubectl(
        env,
        &[
            "delete",
            "scrapeintents.scrapepath.io",
            "-n",
            "blog-system",
            "was-envoy",
            "--wait=false",
        ],
        None,
    );
}

/// Waits until the CNP the operator manages for the `was-envoy` intent (`blog-system/scrapepath-was-envoy`)
/// is there (`present`) or gone, polling every 100 ms for at most 120 s; returns the time since `since`.
fn until_managed_cnp(env: &TestEnv, present: bool, since: Instant) -> Duration {
    let limit = Duration::from_secs(120);
    loop {
        let names = kubectl(
            env,
            &[
                "get",
                "ciliumnetworkpolicies.cilium.io",
                "-n",
                "blog-system",
                "--ignore-not-found",
                "-o",
                "name",
            ],
            None,
        );
        if names.lines().any(|l| l.ends_with("/scrapepath-was-envoy")) == present {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "the managed CNP scrapepath-was-envoy is {} {limit:?} after its intent was {}",
            if present { "not there" } else { "still there" },
            if present { "created" } else { "deleted" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// check's verdicts as flows from every pod of their scraper.
fn predicted_flows(phase: &'static str, world: &World, verdicts: &[Verdict]) -> Vec<Flow> {
    let mut out = Vec::new();
    for v in verdicts {
        let answers = match v.verdict.as_str() {
            "Allowed" => true,
            "Denied" => false,
            other => panic!(
                "{phase}: check's network verdict for {} -> {}:{} is {other}: neither Allowed nor Denied, nothing to probe",
                v.scraper, v.target, v.port
            ),
        };
        let pods = world.scrapers.get(&v.scraper).unwrap_or_else(|| {
            panic!(
                "{phase}: the scraper {} is no Prometheus of the files",
                v.scraper
            )
        });
        assert!(
            world.pods.contains_key(&v.target),
            "{phase}: the target {} has no network namespace of its own (hostNetwork?)",
            v.target
        );
        for client in pods {
            out.push(Flow::new(
                phase,
                client,
                &v.target,
                v.port,
                &format!("check: {}", v.verdict),
                answers,
            ));
        }
    }
    out
}

/// A pod of another Prometheus in the scraper pod's namespace: its labels, with every value that names
/// the scraper's Prometheus naming another one.
fn another_prometheus_pod(scraper: &str, pod: &Pod) -> Pod {
    let prometheus = scraper.split_once('/').unwrap().1;
    let mut other = pod.clone();
    other.name = "another-prometheus-0".into();
    for v in std::sync::Arc::make_mut(&mut other.labels).values_mut() {
        if v == prometheus {
            *v = "another-prometheus".into();
        }
    }
    assert_ne!(
        other.labels, pod.labels,
        "the scraper pod {} has no label naming its Prometheus",
        pod.name
    );
    other
}

fn replay(dir: &str, test: &str) {
    if !available(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let incident_dir = root().join(dir);
    let fixed_dir = incident_dir.join("fixed");
    let mut world = World::load(&incident_dir);
    let fixed = World::load(&fixed_dir);
    assert_eq!(
        world.pods.keys().collect::<Vec<_>>(),
        fixed.pods.keys().collect::<Vec<_>>(),
        "{dir}: the fix is expected to change policies, not pods"
    );

    // What check says: as during the incident, after the author's fix, and with its own remedy.
    let incident = check(&[&incident_dir]);
    let incident_verdicts = verdicts(&incident);
    assert!(
        incident_verdicts.iter().any(|v| v.verdict == "Denied"),
        "{dir}: check finds no Denied scrape: nothing for the datapath to confirm"
    );
    let fixed_verdicts = verdicts(&check(&[&fixed_dir]));
    let remedy = remedy_policies(&incident);
    assert!(
        !remedy.is_empty(),
        "{dir}: check proposes no CiliumNetworkPolicy"
    );
    let remedy_file = root().join(format!(
        "target/tmp/cilium-datapath-remedy-{}-{test}.yaml",
        std::process::id()
    ));
    std::fs::create_dir_all(remedy_file.parent().unwrap()).unwrap();
    let remedy_yaml: Vec<String> = remedy.iter().map(Value::to_string).collect();
    std::fs::write(&remedy_file, remedy_yaml.join("\n---\n")).unwrap();
    let remedied_verdicts = verdicts(&check(&[&incident_dir, &remedy_file]));
    let _ = std::fs::remove_file(&remedy_file);

    // The first scraper pod of a Denied scrape, and a pod of another Prometheus beside it.
    let denied = incident_verdicts
        .iter()
        .find(|v| v.verdict == "Denied")
        .unwrap();
    let scraper_pod = world.scrapers[&denied.scraper][0].clone();
    let other = another_prometheus_pod(&denied.scraper, &world.pods[&scraper_pod]);
    let other_key = key(&other.namespace, &other.name);
    world.pods.insert(other_key.clone(), other);

    let env = TestEnv::start_new(CrdSet::NONE);
    let t_env = t0.elapsed();
    let mut sc = Scenario::start(&env, &world, false);
    let (t_agent, t_pods) = (t_env + sc.agent_ready, t0.elapsed());

    // 1. As during the incident.
    sc.set_policies(&world.policies);
    sc.probe(predicted_flows("incident", &world, &incident_verdicts));

    // 2. The author's fix.
    assert!(
        fixed_verdicts.iter().all(|v| v.verdict == "Allowed"),
        "{dir}: check does not call every scrape Allowed after the fix: {fixed_verdicts:?}"
    );
    sc.set_policies(&fixed.policies);
    sc.probe(predicted_flows("author's fix", &world, &fixed_verdicts));

    // 3. The incident's policies and scrapepath's remedy: the scrape ports, for the Prometheus pods only.
    let mut with_remedy = world.policies.clone();
    with_remedy.extend(remedy.iter().cloned());
    sc.set_policies(&with_remedy);
    let mut flows = predicted_flows("scrapepath's remedy", &world, &remedied_verdicts);
    let remedy_namespaces: BTreeSet<&str> = remedy
        .iter()
        .filter_map(|p| p["metadata"]["namespace"].as_str())
        .collect();
    for v in &incident_verdicts {
        let target = &world.pods[&v.target];
        if !remedy_namespaces.contains(target.namespace.as_str()) {
            continue;
        }
        flows.push(Flow::new(
            "scrapepath's remedy",
            &other_key,
            &v.target,
            v.port,
            "closed: another Prometheus",
            false,
        ));
        for port in tcp_ports(target).into_iter().filter(|p| *p != v.port) {
            for client in &world.scrapers[&v.scraper] {
                flows.push(Flow::new(
                    "scrapepath's remedy",
                    client,
                    &v.target,
                    port,
                    "closed: not a scrape port",
                    false,
                ));
            }
        }
    }
    sc.probe(flows);

    // The remedy off and on again: the scrape closes and opens with it.
    let toggled = &incident_verdicts
        .iter()
        .find(|v| v.verdict == "Denied")
        .unwrap();
    for _ in 0..TOGGLES {
        for (on, phase, predicted) in [
            (false, "remedy removed", "check: Denied"),
            (true, "remedy re-applied", "check: Allowed"),
        ] {
            if on {
                apply(&env, &remedy);
            } else {
                delete(&env, &remedy);
            }
            let uids = policy_uids(&env);
            sc.propagation.push(sc.dp.wait_policies(&uids));
            let flow = Flow::new(
                phase,
                &scraper_pod,
                &toggled.target,
                toggled.port,
                predicted,
                on,
            );
            sc.probe(vec![flow]);
        }
    }

    sc.finish(test, world.pods.len(), t0, (t_env, t_agent, t_pods));
}

#[test]
fn seed_000_pods_on_the_real_datapath() {
    replay(
        "deploy/examples/blog-system",
        "seed_000_pods_on_the_real_datapath",
    );
}

#[test]
fn seed_000_gitops_modelled_pods_on_the_real_datapath() {
    replay(
        "deploy/examples/seed-000-gitops",
        "seed_000_gitops_modelled_pods_on_the_real_datapath",
    );
}

/// Issue 18 item 4: `scrapepath run` (the controller, in-process as in `tests/operator*.rs`) in Enforce
/// mode on the real datapath. The seed's cluster as during the incident (its Pods Running at their real
/// addresses, the Prometheus, the PodMonitor, the AuthorizationPolicy, the policies), then the app team's
/// intent `was-envoy` with `mode: Enforce`: the Prometheus pod's scrape of the was pods on 15090, which
/// timed out, answers once the operator's CiliumNetworkPolicy reaches the datapath (measured from the
/// intent's creation to the first answered connection), and only that: web's 15090 (no intent), another
/// Prometheus, and was's app port stay closed. Deleting the intent closes it again: the managed CNP is
/// garbage-collected (measured from the delete to the first timed-out connection).
#[test]
fn seed_000_enforce_opens_the_scrape_and_deleting_the_intent_closes_it() {
    enforce(
        "deploy/examples/blog-system/intent",
        "seed_000_enforce_opens_the_scrape_and_deleting_the_intent_closes_it",
    );
}

/// The same on the Git form (`deploy/examples/seed-000-gitops`): the pods `check` models from its
/// Deployments (Istio's sidecar injected, the Prometheus pod the operator would run) are the cluster's
/// Pods, Running at their datapath addresses; its Prometheus, PodMonitor, AuthorizationPolicy and
/// policies as they are; the app team's intent `was-envoy` (the Git form has none: the one of
/// `blog-system/intent/intents.yaml`) in Enforce mode.
#[test]
fn seed_000_gitops_enforce_opens_the_scrape_and_deleting_the_intent_closes_it() {
    enforce(
        "deploy/examples/seed-000-gitops",
        "seed_000_gitops_enforce_opens_the_scrape_and_deleting_the_intent_closes_it",
    );
}

/// The Enforce scenario on the seed's files in `dir` (the intent from `blog-system/intent`).
fn enforce(dir: &str, test: &str) {
    if !available(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let dir = root().join(dir);
    let intents = root().join("deploy/examples/blog-system/intent");
    let mut world = World::load(&dir);
    let scraper = "monitoring/kube-prometheus-stack-prometheus";
    let prometheus_pod = world.scrapers[scraper][0].clone();
    let other = another_prometheus_pod(scraper, &world.pods[&prometheus_pod]);
    let other_key = key(&other.namespace, &other.name);
    world.pods.insert(other_key.clone(), other);
    let documents = |file: &str| documents(&dir, file);
    let mut intent = self::documents(&intents, "intents.yaml")
        .into_iter()
        .find(|v| v["metadata"]["name"] == "was-envoy")
        .expect("the was-envoy intent");
    intent["spec"]["mode"] = json!("Enforce");
    let was: Vec<&Pod> = world
        .pods
        .values()
        .filter(|p| p.labels.get("app").is_some_and(|a| a == "was"))
        .collect();
    let web: Vec<&Pod> = world
        .pods
        .values()
        .filter(|p| p.labels.get("app").is_some_and(|a| a == "web"))
        .collect();
    assert!(
        !was.is_empty() && !web.is_empty(),
        "the seed's was and web pods"
    );

    let env = TestEnv::start_new(CrdSet::ALL);
    let mut sc = Scenario::start(&env, &world, true);
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let client = rt.block_on(env.client());
    rt.block_on(async {
        for file in ["prometheus.yaml", "monitors.yaml", "istio.yaml"] {
            for mut v in documents(file) {
                common::cluster::apply_value(&client, &mut v).await;
            }
        }
    });
    sc.set_policies(&world.policies);
    let running = rt.block_on(common::cluster::start_controller(&client, &["blog-system"]));

    // Every flow of the intent's world: (client, target, port, whether Enforce opens it).
    let all_flows = |phase: &'static str, open: bool| -> Vec<Flow> {
        let mut flows = Vec::new();
        for (pods, is_was) in [(&was, true), (&web, false)] {
            let rows: Vec<(&str, u16, &str, bool)> = if is_was {
                vec![
                    (&prometheus_pod, 15090, "was-envoy: 15090", open),
                    (&other_key, 15090, "closed: another Prometheus", false),
                    (&prometheus_pod, 8080, "closed: not a scrape port", false),
                ]
            } else {
                vec![(&prometheus_pod, 15090, "closed: no intent for web", false)]
            };
            for p in pods.iter() {
                let target = key(&p.namespace, &p.name);
                for &(client, port, predicted, answers) in &rows {
                    flows.push(Flow::new(phase, client, &target, port, predicted, answers));
                }
            }
        }
        flows
    };
    sc.probe(all_flows("before the intent", false));

    // The intent, Enforce: poll the scrape until it answers.
    let first = key(&was[0].namespace, &was[0].name);
    let created = Instant::now();
    rt.block_on(async {
        let mut v = intent.clone();
        common::cluster::apply_value(&client, &mut v).await;
    });
    sc.until_probe(&prometheus_pod, &first, 15090, true);
    let opened = created.elapsed();
    let cnp = kubectl(
        &env,
        &[
            "get",
            "ciliumnetworkpolicies.cilium.io",
            "-n",
            "blog-system",
            "scrapepath-was-envoy",
            "-o",
            "json",
        ],
        None,
    );
    let cnp: Value = serde_json::from_str(&cnp).unwrap();
    assert_eq!(
        cnp["metadata"]["ownerReferences"][0]["kind"], "ScrapeIntent",
        "the managed CNP is owned by the intent: {cnp:#}"
    );
    let uids = policy_uids(&env);
    sc.dp.wait_policies(&uids);
    sc.probe(all_flows("intent (Enforce)", true));

    // Deleting the intent: the managed CNP goes (garbage collection), the scrape closes.
    let deleted = Instant::now();
    delete_was_envoy(&env);
    sc.until_probe(&prometheus_pod, &first, 15090, false);
    let closed = deleted.elapsed();
    until_managed_cnp(&env, false, Instant::now());
    let uids = policy_uids(&env);
    sc.dp.wait_policies(&uids);
    sc.probe(all_flows("intent deleted", false));
    rt.block_on(running.stop());

    let table = sc.table();
    println!("{test}: every flow, predicted and observed:\n{table}");
    println!(
        "{test}: intent created -> first answered scrape {:.2} s; intent deleted -> scrape closed {:.2} s (probes of 0.5 s: closing is seen at most that late); agent ready {:.1} s; whole scenario {:.1} s",
        opened.as_secs_f64(),
        closed.as_secs_f64(),
        sc.agent_ready.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    let disagree = sc.flows.iter().filter(|f| !f.agrees()).count();
    assert_eq!(
        disagree, 0,
        "{test}: {disagree} flows disagree (marked):\n{table}"
    );
    let Scenario { dp, .. } = sc;
    dp.stop();
}

// ---------------------------------------------------------------------------------------------------
// The real Prometheus as the scraper (issue 18 item 4, the Prometheus half).

/// The address the test API server's certificate names for the `kubernetes` Service (`serviceIP` in
/// `tests/harness/main.go`): what `KUBERNETES_SERVICE_HOST` says in a pod.
const KUBERNETES_SERVICE_IP: [u8; 4] = [10, 0, 0, 1];

/// One active target of the real Prometheus, as its targets API reports it.
#[derive(Debug, Clone)]
struct TargetState {
    health: String,
    last_error: String,
    /// When its last scrape ended (Unix seconds: Prometheus' `lastScrape`, its start, plus
    /// `lastScrapeDuration`), if it was scraped yet.
    last_scrape_end: Option<f64>,
}

/// The active targets of `prom` by pod (`ns/name`; the job's `pod` and `namespace` target labels).
fn target_states(prom: &common::prometheus::Prometheus) -> BTreeMap<String, TargetState> {
    let Some(body) = prom.get("/api/v1/targets?state=active") else {
        return BTreeMap::new();
    };
    let v: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("Prometheus' targets API: {e}: {body}"));
    v["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let l = &t["discoveredLabels"];
            let pod = key(
                l["__meta_kubernetes_namespace"].as_str().unwrap_or("?"),
                l["__meta_kubernetes_pod_name"].as_str().unwrap_or("?"),
            );
            let state = TargetState {
                health: t["health"].as_str().unwrap_or("").into(),
                last_error: t["lastError"].as_str().unwrap_or("").into(),
                last_scrape_end: t["lastScrape"]
                    .as_str()
                    .and_then(unix_seconds)
                    .filter(|&s| s > 0.0)
                    .map(|s| s + t["lastScrapeDuration"].as_f64().unwrap_or(0.0)),
            };
            (pod, state)
        })
        .collect()
}

/// An RFC 3339 timestamp (as Go marshals a `time.Time`: `2026-12-07T03:10:11.123456789Z` or with a
/// `+hh:mm` offset) in Unix seconds; `None` if it is not one. Years before 1970 come out negative.
fn unix_seconds(s: &str) -> Option<f64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (clock, offset) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (c, o) = rest.split_at(i);
        let (oh, om) = o[1..].split_once(':')?;
        let sign = if o.starts_with('-') { -1 } else { 1 };
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let mut c = clock.split(':');
    let (hh, mm) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
    );
    let ss: f64 = c.next()?.parse().ok()?;
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((days * 86400 + hh * 3600 + mm * 60 - offset) as f64 + ss)
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Polls the real Prometheus' targets every 200 ms until `done` accepts them (at most `limit`);
/// returns them. Panics with the last state and Prometheus' log otherwise.
fn until_targets(
    prom: &common::prometheus::Prometheus,
    what: &str,
    limit: Duration,
    mut done: impl FnMut(&BTreeMap<String, TargetState>) -> bool,
) -> BTreeMap<String, TargetState> {
    let start = Instant::now();
    loop {
        let states = target_states(prom);
        if done(&states) {
            return states;
        }
        assert!(
            start.elapsed() < limit,
            "the real Prometheus: not {what} after {limit:?}; its targets: {states:#?}\nits log:\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issue 18 item 4, the Prometheus half: the real Prometheus (v0.316.0, `tests/prometheus/ensure.sh`)
/// runs in the network namespace of the seed's Prometheus pod on the real datapath, with the
/// configuration the real prometheus-operator generates for the seed's PodMonitor (`istio-proxies`,
/// with the seed's own label fix from `fixed/monitors.yaml`, so that the Prometheus selects it: the
/// network is then what is left of the incident), loaded by the real config-reloader; Kubernetes SD
/// in-cluster, against the test API server at the `kubernetes` Service's address (held by the node,
/// reached through the datapath). Every pod declaring the Envoy port 15090 answers
/// `GET /stats/prometheus` there with exposition text.
///
/// With the incident's policies, Prometheus reports the was and web targets down with the seed's own
/// `context deadline exceeded` (the ingress gateway, which no policy selects, up) and `Scraped` of
/// the `web-envoy` intent (Report) says `Down` with that error. The controller observes this
/// Prometheus through its API. The `was-envoy` intent is then created in Enforce mode: its
/// CiliumNetworkPolicy lands, the was pods' scrapes succeed (measured from the intent's creation to
/// the end of the first successful one, by Prometheus' own `lastScrape` and duration), Prometheus
/// holds their exporters' samples and `Scraped` reads `Up`, while web stays down. Deleting the intent
/// garbage-collects the CNP and the was targets go down again with the same error (measured from the
/// delete).
#[test]
fn seed_000_the_real_prometheus_scrapes_through_the_datapath_and_enforce_repairs_it() {
    use common::prometheus::{
        generated_config_gz, job_names, observing, parse_config_gz, wait_reason, ConfigReloader,
        KubeSd, Operator, PodNet, Prometheus,
    };
    use std::net::{IpAddr, SocketAddr};
    let test = "seed_000_the_real_prometheus_scrapes_through_the_datapath_and_enforce_repairs_it";
    if !available(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let limit = Duration::from_secs(120);
    let dir = root().join("deploy/examples/blog-system/intent");
    let fixed_dir = root().join("deploy/examples/blog-system/fixed");
    let world = World::load(&dir);
    let scraper = "monitoring/kube-prometheus-stack-prometheus";
    let prometheus_pod = world.scrapers[scraper][0].clone();
    let intents = documents(&dir, "intents.yaml");
    let intent = |name: &str| {
        intents
            .iter()
            .find(|v| v["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("the {name} intent of {}", dir.display()))
            .clone()
    };
    let mut was_envoy = intent("was-envoy");
    was_envoy["spec"]["mode"] = json!("Enforce");
    let web_envoy = intent("web-envoy");
    let pods_of = |app: &str| -> Vec<String> {
        world
            .pods
            .iter()
            .filter(|(_, p)| p.labels.get("app").is_some_and(|a| a == app))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let (was, web) = (pods_of("was"), pods_of("web"));
    // Every pod Prometheus scrapes: the ones declaring the Envoy port the PodMonitor names.
    let targets: BTreeSet<String> = world
        .pods
        .iter()
        .filter(|(_, p)| tcp_ports(p).contains(&15090))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        !was.is_empty() && !web.is_empty() && targets.len() > was.len() + web.len(),
        "the seed's was, web and ingress gateway pods declare 15090: {targets:?}"
    );

    let env = TestEnv::start_new(CrdSet::ALL);
    // The path the seed's PodMonitor scrapes (its port, http-envoy-prom, is 15090 in every pod).
    let monitor = documents(&fixed_dir, "monitors.yaml");
    let path = monitor[0]["spec"]["podMetricsEndpoints"][0]["path"]
        .as_str()
        .expect("the PodMonitor's path")
        .to_string();
    let mut sc = Scenario::start_with(&env, &world, true, Some((&path, 15090)));
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let client = rt.block_on(env.client());
    rt.block_on(async {
        for (d, file) in [
            (&dir, "prometheus.yaml"),
            (&dir, "istio.yaml"),
            (&fixed_dir, "monitors.yaml"),
        ] {
            for mut v in documents(d, file) {
                common::cluster::apply_value(&client, &mut v).await;
            }
        }
    });
    sc.set_policies(&world.policies);

    // The real operator's configuration for the seed's Prometheus.
    let namespaces = ["monitoring", "blog-system", "istio-system"];
    let mut operator = Operator::start(&env, &namespaces);
    let secret = "prometheus-kube-prometheus-stack-prometheus";
    let job = "podMonitor/monitoring/istio-proxies/0";
    let gz = {
        let start = Instant::now();
        loop {
            operator.assert_running();
            let gz = rt.block_on(generated_config_gz(&client, "monitoring", secret));
            if let Some(gz) = gz.filter(|gz| job_names(&parse_config_gz(gz)).contains(job)) {
                break gz;
            }
            assert!(
                start.elapsed() < limit,
                "the operator wrote no configuration with {job} into {secret} in {limit:?}:\n{}",
                operator.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let t_operator = t0.elapsed();

    // Prometheus in its pod: the API server at the `kubernetes` Service's address through the
    // datapath, the test at a forwarder from the host through the node into the pod.
    let sd = rt.block_on(KubeSd::new(&env, "monitoring", &[]));
    let (_, api_port) = sd.host_and_port();
    let api = sc.dp.api_service(
        IpAddr::from(KUBERNETES_SERVICE_IP),
        SocketAddr::from(([127, 0, 0, 1], api_port)),
    );
    // What the pod's egress to the API server is to the agent (the policy implication): the identity
    // its ipcache gives the address.
    let api_identity = sc
        .dp
        .cilium_dbg(&["bpf", "ipcache", "get", &api.ip().to_string()]);
    let (pns, pname) = prometheus_pod.split_once('/').unwrap();
    let reach = |addr: SocketAddr| sc.dp.expose(addr);
    let pod = PodNet {
        netns: sc.dp.pod_netns(pns, pname),
        ip: sc.ips[&prometheus_pod].parse().expect("the pod's address"),
        api,
        reach: &reach,
    };
    let prom = Prometheus::start_in_pod("global: {scrape_interval: 1s}\n", &sd, &pod);
    let loads = prom.loads();
    let reloader = ConfigReloader::start(&prom, pname, 0, &gz);
    prom.wait_loaded(loads, limit);
    let t_prometheus = t0.elapsed();

    // As during the incident: was and web time out, the gateway answers.
    let timed_out = |s: Option<&TargetState>| {
        s.is_some_and(|s| s.health == "down" && s.last_error.contains("context deadline exceeded"))
    };
    let up = |s: Option<&TargetState>| s.is_some_and(|s| s.health == "up");
    let incident = until_targets(
        &prom,
        "every target scraped, was and web timing out",
        limit,
        |t| {
            t.keys().cloned().collect::<BTreeSet<_>>() == targets
                && targets.iter().all(|k| {
                    if was.contains(k) || web.contains(k) {
                        timed_out(t.get(k))
                    } else {
                        up(t.get(k))
                    }
                })
        },
    );
    let t_incident = t0.elapsed();

    // scrapepath observes this Prometheus: Scraped says Down, with Prometheus' error.
    let url = UrlSetting::parse(&format!("{scraper}={}", prom.url)).unwrap();
    let running = rt.block_on(common::cluster::start_controller_with(
        &client,
        observing(&namespaces, vec![url], Duration::from_secs(15)),
    ));
    rt.block_on(async {
        common::cluster::apply_value(&client, &mut web_envoy.clone()).await;
    });
    let down = rt.block_on(wait_reason(
        &client,
        "blog-system",
        "web-envoy",
        "Scraped",
        ("False", "Down"),
        limit,
    ));
    assert!(
        down.contains("context deadline exceeded"),
        "web-envoy's Scraped message: {down}"
    );

    // The intent, Enforce: its CNP opens the scrape of the was pods, and only theirs.
    let created = (Instant::now(), now_unix());
    rt.block_on(async {
        common::cluster::apply_value(&client, &mut was_envoy.clone()).await;
    });
    let cnp_created = until_managed_cnp(&env, true, created.0);
    sc.dp.wait_policies(&policy_uids(&env));
    let cnp_realized = created.0.elapsed();
    // When the first scrape of a was target that succeeded ended (Prometheus' own lastScrape plus
    // its duration, the first time the target is seen up: polled every 200 ms, well within the 15 s
    // interval). Not its start: a scrape that began before the CNP landed succeeds once a
    // retransmitted SYN gets through, within its 10 s timeout.
    let first_end = |want: &dyn Fn(Option<&TargetState>) -> bool, what: &str| {
        let mut first: BTreeMap<String, f64> = BTreeMap::new();
        until_targets(&prom, what, limit, |t| {
            for k in &was {
                if let Some(at) = t
                    .get(k)
                    .filter(|s| want(Some(s)))
                    .and_then(|s| s.last_scrape_end)
                {
                    first.entry(k.clone()).or_insert(at);
                }
            }
            first.len() == was.len()
        });
        first.into_values().fold(f64::INFINITY, f64::min)
    };
    let first_scrape = first_end(&up, "the was targets up") - created.1;
    let seen_up = created.0.elapsed();
    let scraped_up = rt.block_on(wait_reason(
        &client,
        "blog-system",
        "was-envoy",
        "Scraped",
        ("True", "Up"),
        limit,
    ));
    let condition_up = created.0.elapsed();
    // What the exporters answered is in Prometheus: the exposition text was valid (the exporter's `pod`
    // label comes out as `exported_pod`: the job's own `pod` label wins).
    let query = prom
        .get("/api/v1/query?query=scrapepath_datapath_target")
        .expect("Prometheus' query API");
    let v: Value = serde_json::from_str(&query)
        .unwrap_or_else(|e| panic!("Prometheus' query API: {e}: {query}"));
    let ingested: BTreeSet<&str> = v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["metric"]["exported_pod"].as_str())
        .collect();
    for k in &was {
        assert!(
            ingested.contains(k.as_str()),
            "{k}: Prometheus holds no sample of its exporter: {query}"
        );
    }
    for k in &web {
        assert!(
            !ingested.contains(k.as_str()),
            "{k}: Prometheus holds a sample of web's exporter, which no scrape reached: {query}"
        );
    }
    let during = target_states(&prom);
    for k in &web {
        assert!(
            timed_out(during.get(k)),
            "{k}: no intent opens web's 15090, yet Prometheus reports {:?}",
            during.get(k)
        );
    }

    // Deleting the intent: its CNP is garbage-collected, the was targets time out again.
    let deleted = (Instant::now(), now_unix());
    delete_was_envoy(&env);
    let cnp_gone = until_managed_cnp(&env, false, deleted.0);
    sc.dp.wait_policies(&policy_uids(&env));
    let first_failed = first_end(&timed_out, "the was targets timing out again") - deleted.1;
    let seen_down = deleted.0.elapsed();
    let after = target_states(&prom);
    for (k, s) in &after {
        if !was.contains(k) && !web.contains(k) {
            assert!(up(Some(s)), "{k}: the gateway's target went {s:?}");
        }
    }
    rt.block_on(running.stop());
    drop((reloader, prom, operator, sd));

    println!(
        "{test}: targets during the incident: {}",
        incident
            .iter()
            .map(|(k, s)| format!("{k} {} ({})", s.health, s.last_error))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!(
        "{test}: the API server at {api} for the pods; the agent's ipcache for its address: {}",
        api_identity.trim()
    );
    println!("{test}: Scraped during the incident (web-envoy): {down}; after Enforce (was-envoy): {scraped_up}");
    println!(
        "{test}: intent (Enforce) created -> CNP in the API server {:.2} s -> on every endpoint {:.2} s -> first successful scrape done {:.2} s (Prometheus' lastScrape + its duration; interval 15 s) -> seen up {:.2} s -> Scraped Up {:.2} s; intent deleted -> CNP gone {:.2} s -> first failing scrape done {:.2} s -> seen down {:.2} s (scrape timeout 10 s); operator's configuration at {:.1} s, Prometheus loaded it at {:.1} s, incident observed at {:.1} s; whole test {:.1} s",
        cnp_created.as_secs_f64(),
        cnp_realized.as_secs_f64(),
        first_scrape,
        seen_up.as_secs_f64(),
        condition_up.as_secs_f64(),
        cnp_gone.as_secs_f64(),
        first_failed,
        seen_down.as_secs_f64(),
        t_operator.as_secs_f64(),
        t_prometheus.as_secs_f64(),
        t_incident.as_secs_f64(),
        t0.elapsed().as_secs_f64(),
    );
    assert!(
        first_scrape >= 0.0 && first_failed >= 0.0,
        "the first successful scrape ({first_scrape:.2} s) and the first failing one ({first_failed:.2} s) end after the intent's creation and deletion"
    );
    let Scenario { dp, .. } = sc;
    dp.stop();
}

/// The egress rule `check` proposes in a `NetworkReachable` message ("… reported only …: apply {…}"):
/// the JSON object after "apply ", as the message prints it.
fn proposed_egress_rule(message: &str) -> Value {
    let (_, rest) = message
        .split_once("apply ")
        .unwrap_or_else(|| panic!("the message proposes no object to apply: {message}"));
    serde_json::Deserializer::from_str(rest)
        .into_iter::<Value>()
        .next()
        .unwrap_or_else(|| panic!("nothing after \"apply\": {message}"))
        .unwrap_or_else(|e| panic!("the proposed rule is not one JSON object ({e}): {message}"))
}

/// Issue 14 item 1 on the real datapath: kube-prometheus' Prometheus with its NetworkPolicy narrowed
/// to DNS-only egress (`deploy/examples/kube-prometheus-egress`, its own pods and policy). `check` on
/// the files says the scrape of `shop/api` is denied by the scraper's egress (`EgressDenied`, naming
/// `NetworkPolicy monitoring/prometheus-k8s spec.egress[0]`) and proposes an egress rule; on the
/// datapath the scrape probe from the Prometheus pod's network namespace times out while DNS (TCP/53
/// to the kube-dns pod) answers. The rule parsed from `check`'s message is applied beside the DNS-only
/// policy: the scrape answers, `check` on the files plus that rule says Ready, and the rule opens
/// nothing else (the kube-dns pod's metrics port stays closed to the Prometheus pod).
#[test]
fn kube_prometheus_egress_on_the_real_datapath_the_proposed_egress_rule_opens_the_scrape() {
    let test =
        "kube_prometheus_egress_on_the_real_datapath_the_proposed_egress_rule_opens_the_scrape";
    if !available(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let dir = root().join("deploy/examples/kube-prometheus-egress");
    let world = World::load(&dir);
    let prometheus_pod = world.scrapers["monitoring/k8s"][0].clone();
    let dns_pod = world
        .pods
        .values()
        .find(|p| p.labels.get("k8s-app").map(String::as_str) == Some("kube-dns"))
        .map(|p| key(&p.namespace, &p.name))
        .expect("the example has a kube-dns pod");

    // What check says on the files: denied by the scraper's own egress, and the rule to add.
    let incident = check(&[&dir]);
    let sm = report::subject(&incident, "ServiceMonitor", "shop", "api");
    let net = report::cond(sm, "NetworkReachable");
    assert_eq!(net["reason"], "EgressDenied", "{net:#}");
    let message = net["message"].as_str().unwrap();
    report::assert_contains_all(
        message,
        &[
            &format!("egress of {prometheus_pod} is denied"),
            "NetworkPolicy monitoring/prometheus-k8s spec.egress[0]",
        ],
    );
    let incident_verdicts = verdicts(&incident);
    assert!(
        !incident_verdicts.is_empty() && incident_verdicts.iter().all(|v| v.verdict == "Denied"),
        "check: {incident_verdicts:?}"
    );
    let rule = proposed_egress_rule(message);
    assert_eq!(
        rule["metadata"]["namespace"], "monitoring",
        "the egress rule is for the scraper's namespace: {rule:#}"
    );
    let rule_file = root().join(format!(
        "target/tmp/cilium-datapath-egress-rule-{}.yaml",
        std::process::id()
    ));
    std::fs::create_dir_all(rule_file.parent().unwrap()).unwrap();
    std::fs::write(&rule_file, rule.to_string()).unwrap();
    let remedied = check(&[&dir, &rule_file]);
    let _ = std::fs::remove_file(&rule_file);
    let sm = report::subject(&remedied, "ServiceMonitor", "shop", "api");
    assert_eq!(
        report::cond(sm, "NetworkReachable")["status"],
        "True",
        "{sm:#}"
    );
    assert_eq!(sm["ready"], true, "{sm:#}");
    let remedied_verdicts = verdicts(&remedied);

    let env = TestEnv::start_new(CrdSet::NONE);
    let t_env = t0.elapsed();
    let mut sc = Scenario::start(&env, &world, false);
    let (t_agent, t_pods) = (t_env + sc.agent_ready, t0.elapsed());
    let dns = |phase: &'static str| {
        vec![
            Flow::new(
                phase,
                &prometheus_pod,
                &dns_pod,
                53,
                "control: DNS egress",
                true,
            ),
            Flow::new(
                phase,
                &prometheus_pod,
                &dns_pod,
                9153,
                "control: DNS only",
                false,
            ),
        ]
    };

    // 1. The DNS-only egress: the scrape times out, DNS answers.
    sc.set_policies(&world.policies);
    let mut flows = predicted_flows("DNS-only egress", &world, &incident_verdicts);
    flows.extend(dns("DNS-only egress"));
    sc.probe(flows);

    // 2. Beside it, the rule check proposed: the scrape answers, and nothing else opens.
    let mut with_rule = world.policies.clone();
    with_rule.push(rule.clone());
    sc.set_policies(&with_rule);
    let mut flows = predicted_flows("proposed egress rule", &world, &remedied_verdicts);
    flows.extend(dns("proposed egress rule"));
    sc.probe(flows);

    println!("{test}: the egress rule check proposed: {rule}");
    sc.finish(test, world.pods.len(), t0, (t_env, t_agent, t_pods));
}
