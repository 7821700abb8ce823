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
//! Each test prints a table of every flow (predicted vs observed) and the timings. Needs root and BPF
//! (see `tests/common/datapath.rs`): without them it fails when `CI` is set and is skipped with a
//! message otherwise. The scenarios of this binary run one at a time (each has its own API server
//! and agent; two agents compiling their BPF programs at once only make both slow).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

use common::datapath::{available, percentile, Datapath, Probe};
use common::testenv::{CrdSet, TestEnv};
use scrapepath::model::{Labels, Pod};

/// A connection that is not answered within this is a dropped SYN. An allowed one on one node answers
/// in milliseconds; every probe is taken after the agent confirmed the policy revision.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the remedy is removed and re-applied after phase 3 (two propagation samples each).
const TOGGLES: usize = 3;
/// The kinds of network policy the agent enforces, as kubectl names them.
const POLICY_RESOURCES: &str = "ciliumnetworkpolicies.cilium.io,ciliumclusterwidenetworkpolicies.cilium.io,networkpolicies.networking.k8s.io";
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
        .flat_map(|c| &c.ports)
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

fn kubectl(env: &TestEnv, args: &[&str], stdin: Option<&Value>) -> String {
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
    if let Some(v) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(v.to_string().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn apply(env: &TestEnv, objects: &[Value]) {
    if !objects.is_empty() {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        kubectl(env, &["apply", "-f", "-"], Some(&list));
    }
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
    let text = kubectl(env, &["get", POLICY_RESOURCES, "-A", "-o", "json"], None);
    let v: Value = serde_json::from_str(&text).unwrap();
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["uid"].as_str().map(str::to_string))
        .collect()
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
            sc.dp.listen(&p.namespace, &p.name, &tcp_ports(p));
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
    for v in other.labels.values_mut() {
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

    let table = sc.table();
    println!("{test}: every flow, predicted and observed:\n{table}");
    let disagree: Vec<&Flow> = sc.flows.iter().filter(|f| !f.agrees()).collect();
    println!(
        "{test}: {} flows probed, {} agree; test API server {:.1} s, agent ready {:.1} s, {} pods wired {:.1} s, whole scenario {:.1} s; policy propagation (apply/delete -> every endpoint on the revision) p50 {:.2} s, p99 {:.2} s over {} changes",
        sc.flows.len(),
        sc.flows.len() - disagree.len(),
        t_env.as_secs_f64(),
        (t_agent - t_env).as_secs_f64(),
        world.pods.len(),
        (t_pods - t_agent).as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        percentile(&sc.propagation, 50.0),
        percentile(&sc.propagation, 99.0),
        sc.propagation.len(),
    );
    assert!(
        disagree.is_empty(),
        "{test}: {} of {} flows disagree with the prediction (marked):\n{table}",
        disagree.len(),
        sc.flows.len()
    );
    let Scenario { dp, .. } = sc;
    dp.stop();
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
    let test = "seed_000_enforce_opens_the_scrape_and_deleting_the_intent_closes_it";
    if !available(test) {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let dir = root().join("deploy/examples/blog-system/intent");
    let mut world = World::load(&dir);
    let scraper = "monitoring/kube-prometheus-stack-prometheus";
    let prometheus_pod = world.scrapers[scraper][0].clone();
    let other = another_prometheus_pod(scraper, &world.pods[&prometheus_pod]);
    let other_key = key(&other.namespace, &other.name);
    world.pods.insert(other_key.clone(), other);
    let documents = |file: &str| -> Vec<Value> {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null() && v["kind"] != "Pod")
            .collect()
    };
    let mut intent = documents("intents.yaml")
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
    kubectl(
        &env,
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
    sc.until_probe(&prometheus_pod, &first, 15090, false);
    let closed = deleted.elapsed();
    let gone = Instant::now();
    while !kubectl(
        &env,
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
    )
    .lines()
    .all(|l| !l.ends_with("/scrapepath-was-envoy"))
    {
        assert!(gone.elapsed() < Duration::from_secs(120), "the managed CNP scrapepath-was-envoy is still there 120 s after its intent was deleted");
        std::thread::sleep(Duration::from_millis(200));
    }
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
