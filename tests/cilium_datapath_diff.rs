//! The datapath differential (issue 18 item 3): the random clusters of the Cilium-engine differential
//! (`tests/common/cilium_gen.rs`) on the real Cilium agent v1.19.7 and its eBPF datapath, every flow
//! probed with a real TCP connection and compared three ways: what the datapath did (answered or
//! timed out), scrapepath's verdict (the engine `check` uses, as `tests/common/cilium_diff.rs` asks
//! it) and Cilium's own policy engine (the 1.19 oracle of `tests/cilium-oracle/`).
//!
//! One agent serves every cluster of a profile (its settings): per cluster the namespaces are
//! relabelled, the Nodes get the generated nodes' labels, the pods are created (Pod objects, network
//! namespaces wired by the real `cilium-cni`, a listener on every port a flow probes), the policies
//! applied through the API server, and once the agent has them on every endpoint (`cilium-dbg policy
//! wait`) and its connection tracking is flushed, every flow is probed; then policies and pods are
//! removed again. Scrapepath and the oracle judge the cluster as it was realised: the pods at the
//! addresses the agent gave them.
//!
//! The generator is restricted to what this datapath realises (see [`realise`]): the agent's settings
//! are the [`Profile`] of its run (the generated `cilium-config` is replaced by the profile's); pods
//! on the agent's node (hostNetwork pods are clients: on the agent's node from its own network
//! namespace, the `host` identity; on the generator's second node from a network namespace at that
//! node's address, the `remote-node` identity: no agent runs there); no L7 proxy, DNS proxy or AWS
//! (policies with HTTP/Kafka/DNS rules, listeners, server names, `toFQDNs` or `fromGroups` are
//! dropped); selectors the agent reads at random (one label twice in a `matchLabels`) are dropped.
//! Egress is compared as generated (`egress`, `egressDeny`, `enableDefaultDeny.egress`, KNP
//! `policyTypes: [Egress]`): every judge gives the combined verdict, the source's egress and the
//! destination's ingress (semantics/cilium-egress.md E6), and the table says which side dropped. Under
//! `enable-policy=always` every endpoint is default-deny for egress: a CCNP allows all egress to every
//! pod outside the scraper's namespace `monitoring`, whose pods keep only what the generated policies
//! allow. hostNetwork clients' egress is not policed (no host firewall: E5.2).
//!
//! Size and seed: `SCRAPEPATH_DATAPATH_DIFF_CLUSTERS` (per profile, default [`CI_CLUSTERS`]) clusters
//! from `SCRAPEPATH_DATAPATH_DIFF_SEED` (default [`CI_SEED`]), for the profiles
//! `SCRAPEPATH_DATAPATH_DIFF_PROFILES` names (default all of [`PROFILES`]);
//! `SCRAPEPATH_DATAPATH_DIFF_REPLAY=0x…,0x…` runs those cluster seeds (the table's first column)
//! instead. Needs root and BPF
//! (`tests/common/datapath.rs`); without them it fails when `CI` is set and is skipped with a message
//! otherwise.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::cilium_diff::{self, Judged, Oracle, OracleAnswer};
use common::cilium_gen::{self, Cluster, Flow, Shape};
use common::datapath::{
    apply, available, kubectl, must, policy_uids, Datapath, Probe, Source, POLICY_RESOURCES,
};
use common::rng::{env_u64, Rng};
use common::testenv::{CrdSet, TestEnv};
use scrapepath::cilium::eval::{Basis, Decision, DestPolicies, Identity};
use scrapepath::cilium::policy::Direction;
use scrapepath::cilium::{NetVerdict, Version};

/// The seed CI runs (any seed must pass; this one is fixed so a CI run never fails by chance).
const CI_SEED: u64 = 0x18d1_ff00_0000_0003;
/// Clusters per profile in a CI run (about 4–5 s each here: see the README).
const CI_CLUSTERS: u64 = 18;
/// The Cilium minor of the agent (`tests/cilium-datapath/ensure.sh`), and so of the oracle.
const MINOR: u16 = 19;
/// The agent's settings of a run: the data of `cilium-config` (scrapepath and the oracle read it) and
/// the agent's flags of the same names.
struct Profile {
    name: &'static str,
    config: &'static [(&'static str, &'static str)],
}

/// The profiles a run goes through, one agent each (`SCRAPEPATH_DATAPATH_DIFF_PROFILES` picks some by
/// name). `strict`: every endpoint enforces policy, the host is judged by policy like any peer, CIDR
/// rules select nodes' addresses, node selectors see node labels (the host and remote-node identities
/// carry them).
const PROFILES: &[Profile] = &[
    Profile {
        name: "defaults",
        config: &[],
    },
    Profile {
        name: "strict",
        config: &[
            ("enable-policy", "always"),
            ("allow-localhost", "policy"),
            ("policy-cidr-match-mode", "nodes"),
            ("enable-node-selector-labels", "true"),
        ],
    },
];

impl Profile {
    fn agent_args(&self) -> String {
        self.config
            .iter()
            .map(|(k, v)| format!("--{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `enable-policy=always`: egress is enforced and default-deny for every endpoint (E3).
    fn always(&self) -> bool {
        self.config.contains(&("enable-policy", "always"))
    }
}

/// The generator's scraper namespace: under `enable-policy=always` its pods alone keep only the
/// generated egress (the others get all egress, [`realise`]).
const SCRAPER_NAMESPACE: &str = "monitoring";
/// A port the node itself listens on: the remote node's link is up once it answers.
const NODE_PORT: u16 = 4999;
/// The generated node every pod is put on: the agent's Node gets its address and pod CIDR.
const NODE: &str = "node-a";
const NODE_IP: &str = "172.18.0.10";
const POD_CIDR: &str = "10.244.1.0/24";
/// The generated second node: a network namespace on the agent's link at its address, known to the
/// agent by its Node and CiliumNode objects (no agent runs there: its hostNetwork pods are clients).
const REMOTE_NODE: &str = "node-b";
const REMOTE_NODE_IP: &str = "172.18.0.11";
const REMOTE_POD_CIDR: &str = "10.244.2.0/24";
/// A connection not answered within this is a dropped SYN (an allowed one on one node answers in
/// milliseconds). A timeout that a prediction calls allowed is probed again with [`CONFIRM_TIMEOUT`].
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the agent may take to hold the policies the oracle accepts.
const POLICY_BOUND: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------------
// The generated cluster, as this datapath can realise it.

/// A generated cluster restricted to what the agent here realises.
struct Realised {
    /// Namespaces, the Node, Pods (no status yet) and policies; flows between the renamed pods.
    cluster: Cluster,
    /// Pods with a network namespace of their own (`ns/name`).
    pods: Vec<String>,
    /// hostNetwork pods (`ns/name`): clients in the network namespace of their node, the agent's
    /// (false) or the remote one (true).
    host_pods: BTreeMap<String, bool>,
    /// What was dropped or changed, and why.
    notes: Vec<String>,
}

/// Fields that need what this agent does not run: Envoy (HTTP/Kafka/generic L7 rules, listeners, SNI),
/// the DNS proxy (`toFQDNs`, DNS rules), a cloud provider (`fromGroups`/`toGroups`), or what scrapepath
/// does not decide offline (`toServices`: the Service objects as the agent's watcher sees them, E4.2;
/// the generator writes none today).
const UNREALISABLE: &[&str] = &[
    "rules",
    "listener",
    "serverNames",
    "toFQDNs",
    "fromGroups",
    "toGroups",
    "toServices",
];

fn has_key(v: &Value, keys: &[&str]) -> Option<String> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, c)| {
            if keys.contains(&k.as_str()) {
                Some(k.clone())
            } else {
                has_key(c, keys)
            }
        }),
        Value::Array(a) => a.iter().find_map(|c| has_key(c, keys)),
        _ => None,
    }
}

fn name_of(o: &Value) -> String {
    let kind = o["kind"].as_str().unwrap_or("?");
    match o["metadata"]["namespace"].as_str() {
        Some(ns) => format!(
            "{kind} {ns}/{}",
            o["metadata"]["name"].as_str().unwrap_or("?")
        ),
        None => format!("{kind} {}", o["metadata"]["name"].as_str().unwrap_or("?")),
    }
}

/// The generated cluster `g` as cluster number `k` of the run on the agent's Node `node`: pods renamed
/// `c<k>-<name>` (a pod name is never reused while the agent runs, so it never reads an old pod's
/// labels), everything on `node`, and the features this datapath cannot realise removed.
fn realise(g: &Cluster, k: usize, node: &str, profile: &Profile) -> Realised {
    let ambiguous: BTreeSet<usize> = cilium_diff::ambiguous_sites(&g.objects)
        .iter()
        .map(|s| s.object)
        .collect();
    let rename = |p: &str| {
        let (ns, name) = p.split_once('/').unwrap();
        format!("{ns}/c{k}-{name}")
    };
    let mut r = Realised {
        cluster: Cluster {
            seed: g.seed,
            objects: Vec::new(),
            flows: Vec::new(),
        },
        pods: Vec::new(),
        host_pods: BTreeMap::new(),
        notes: Vec::new(),
    };
    for (i, o) in g.objects.iter().enumerate() {
        let mut o = o.clone();
        match o["kind"].as_str().unwrap_or_default() {
            "ConfigMap" => {
                r.notes.push(format!(
                    "cilium-config {} replaced by the profile's (the agent's settings are the flags of its run)",
                    o["data"]
                ));
                continue;
            }
            "Node" if o["metadata"]["name"] == NODE => {
                o["metadata"]["name"] = json!(node);
                o["metadata"]["labels"]["kubernetes.io/hostname"] = json!(node);
                o["metadata"]["labels"]["kubernetes.io/os"] = json!("linux");
                o["status"] = json!({"addresses": [
                    {"type": "InternalIP", "address": NODE_IP},
                    {"type": "Hostname", "address": node},
                ]});
            }
            "Node" => {} // the remote node, as generated
            "Pod" => {
                let (ns, name) = (
                    o["metadata"]["namespace"].as_str().unwrap().to_string(),
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                );
                let key = rename(&format!("{ns}/{name}"));
                o["metadata"]["name"] = json!(key.split_once('/').unwrap().1);
                let remote = o["spec"]["nodeName"] == REMOTE_NODE;
                // What the API server's ServiceAccount admission plugin writes (the test API server
                // runs without it): the agent reads the service account from the Pod's spec.
                let spec = o["spec"].as_object_mut().unwrap();
                if !spec.contains_key("serviceAccountName") {
                    let sa = spec
                        .get("serviceAccount")
                        .cloned()
                        .unwrap_or(json!("default"));
                    spec.insert("serviceAccountName".into(), sa);
                }
                o.as_object_mut().unwrap().remove("status");
                if o["spec"]["hostNetwork"] == true {
                    if !remote {
                        o["spec"]["nodeName"] = json!(node);
                    }
                    // A client only: its ports would be host ports (two containers may not share one).
                    for c in ["containers", "initContainers"] {
                        for c in o["spec"][c].as_array_mut().into_iter().flatten() {
                            c.as_object_mut().unwrap().remove("ports");
                        }
                    }
                    r.host_pods.insert(key, remote);
                } else {
                    // Pods have an endpoint on the agent's node only (no agent runs on the other).
                    o["spec"]["nodeName"] = json!(node);
                    r.pods.push(key);
                }
            }
            "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" => {
                if ambiguous.contains(&i) {
                    r.notes.push(format!(
                        "{} dropped: a matchLabels names one label twice, the agent keeps one value at random",
                        name_of(&o)
                    ));
                    continue;
                }
                if let Some(f) = has_key(&o, UNREALISABLE) {
                    r.notes.push(format!(
                        "{} dropped: {f} needs the L7 proxy, the DNS proxy, a cloud provider or the live Services",
                        name_of(&o)
                    ));
                    continue;
                }
            }
            _ => {}
        }
        r.cluster.objects.push(o);
    }
    if !profile.config.is_empty() {
        let data: serde_json::Map<String, Value> = profile
            .config
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        r.cluster.objects.insert(
            0,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cilium-config", "namespace": "kube-system"}, "data": data}),
        );
    }
    if profile.always() {
        // Every endpoint is default-deny for egress (E3): all egress for the pods outside the scraper's
        // namespace, so that their flows test the destinations' ingress; the pods of `monitoring` keep
        // only what the generated policies allow (their generated `egressDeny` still wins, E5.4).
        r.cluster.objects.push(json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": "datapath-diff-egress"},
            "spec": {
                "endpointSelector": {"matchExpressions": [{
                    "key": "k8s:io.kubernetes.pod.namespace", "operator": "NotIn", "values": [SCRAPER_NAMESPACE],
                }]},
                "egress": [{"toEntities": ["all"]}],
            },
        }));
    }
    r.cluster.flows = g
        .flows
        .iter()
        .map(|f| Flow {
            src: rename(&f.src),
            dst: rename(&f.dst),
            ..f.clone()
        })
        .collect();
    r
}

// ---------------------------------------------------------------------------------------------------
// The API server.

// ---------------------------------------------------------------------------------------------------
// The three judges.

/// One flow, judged three ways.
struct Row {
    /// The agent's settings ([`Profile`]).
    profile: &'static str,
    cluster: u64,
    flow: Flow,
    /// Where the flow starts: a "pod", a hostNetwork pod on the agent's "node" or on the "remote node".
    from: &'static str,
    observed: Probe,
    /// Probed again with [`CONFIRM_TIMEOUT`] (a timeout a prediction calls allowed).
    confirmed: bool,
    /// scrapepath: forwarded or not (`None`: ambiguous), and its reason.
    ours: Option<bool>,
    ours_why: String,
    /// The oracle: forwarded or not (`None`: no answer), and its verdict.
    theirs: Option<bool>,
    theirs_why: String,
    /// Which side drops it, as the oracle answers each (`None`: forwarded or no answer).
    theirs_side: Option<Side>,
    /// Which side scrapepath says drops it (`None`: allowed or ambiguous).
    ours_side: Option<Side>,
    /// The source is a pod whose egress is default-deny (scrapepath's E3, for the coverage only).
    egress_default_deny: bool,
}

/// Where a flow is dropped: the source's egress, the destination's ingress, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Egress,
    Ingress,
    Both,
}

impl Side {
    fn of(egress_allows: bool, ingress_allows: bool) -> Option<Side> {
        match (egress_allows, ingress_allows) {
            (true, true) => None,
            (false, true) => Some(Side::Egress),
            (true, false) => Some(Side::Ingress),
            (false, false) => Some(Side::Both),
        }
    }

    fn show(side: Option<Side>) -> &'static str {
        match side {
            None => "-",
            Some(Side::Egress) => "egress",
            Some(Side::Ingress) => "ingress",
            Some(Side::Both) => "both",
        }
    }
}

impl Row {
    /// The datapath's answer: forwarded (answered by the right listener) or dropped (timed out);
    /// `None` for anything else (refused, a wrong banner, an error), which no judge predicts.
    fn datapath(&self) -> Option<bool> {
        match &self.observed {
            Probe::Answered(line) => {
                let (ns, name) = self.flow.dst.split_once('/').unwrap();
                (*line == format!("{ns}/{name}:{}", self.flow.port)).then_some(true)
            }
            Probe::TimedOut => Some(false),
            _ => None,
        }
    }

    fn agree(a: Option<bool>, b: Option<bool>) -> bool {
        a.is_some() && a == b
    }

    fn all_agree(&self) -> bool {
        Self::agree(self.datapath(), self.ours) && Self::agree(self.datapath(), self.theirs)
    }

    /// A pod's connection to its own address: the kernel delivers it on the pod's loopback, it
    /// never reaches Cilium's programs, so no policy applies and it always answers. scrapepath
    /// knows it (`eval::same_pod`, R3); Cilium's policy engine (which only looks the identities up)
    /// does not, so here the datapath and scrapepath must agree, and the oracle is not asked.
    fn to_itself(&self) -> bool {
        self.from == "pod" && self.flow.src == self.flow.dst
    }

    /// Whether scrapepath and the oracle, both dropping the flow, name different sides.
    fn sides_differ(&self) -> bool {
        self.ours == Some(false) && self.theirs == Some(false) && self.ours_side != self.theirs_side
    }

    /// Whether this row fails the test: a judge disagrees, or the side that drops it does.
    fn fails(&self) -> bool {
        if self.to_itself() {
            self.datapath() != Some(true) || self.ours != Some(true)
        } else {
            !self.all_agree() || self.sides_differ()
        }
    }
}

/// Which side scrapepath says drops the flow: the egress alone (`Decision::side`), or the ingress,
/// with the egress besides when `eval::combine` adds it ("besides, egress of …").
fn our_side(d: &Decision) -> Option<Side> {
    if d.basis == Basis::Ambiguous || d.verdict != NetVerdict::Denied {
        return None;
    }
    Some(match d.side {
        Direction::Egress => Side::Egress,
        Direction::Ingress if d.reason.contains("; besides, egress of ") => Side::Both,
        Direction::Ingress => Side::Ingress,
    })
}

/// The pods (`ns/name`) whose egress scrapepath calls enforced and default-deny (E3) in the cluster of
/// `manifests`: for the coverage of the run.
fn egress_default_deny(manifests: &Path, version: Version) -> BTreeSet<String> {
    let idx = cilium_diff::load_as_check(manifests, version)
        .unwrap_or_else(|e| panic!("{}: {e}", manifests.display()));
    let settings = idx.cilium_settings(Some(version));
    idx.pods()
        .map(|(_, p)| p)
        .filter(|p| !p.host_network)
        .filter(|p| {
            let id = Identity::of_pod(
                p,
                &idx.namespace_labels(&p.namespace),
                &settings.cluster_name,
                version,
            );
            let dp =
                DestPolicies::compute_in(Direction::Egress, &settings, &id, idx.policies(), false);
            dp.enforced && dp.default_deny
        })
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect()
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "forwarded",
        Some(false) => "dropped",
        None => "-",
    }
}

/// Agreement of one pair of judges over the rows both judged.
#[derive(Default)]
struct Pair {
    compared: usize,
    agreed: usize,
}

impl Pair {
    fn add(&mut self, a: Option<bool>, b: Option<bool>) {
        if a.is_some() && b.is_some() {
            self.compared += 1;
            self.agreed += usize::from(a == b);
        }
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} ({:.1}%)",
            self.agreed,
            self.compared,
            if self.compared == 0 {
                100.0
            } else {
                100.0 * self.agreed as f64 / self.compared as f64
            }
        )
    }
}

// ---------------------------------------------------------------------------------------------------
// The run.

struct Run<'a> {
    env: &'a TestEnv,
    /// The agent of the current profile.
    agent: Option<Datapath>,
    profile: &'static Profile,
    /// Clusters so far (pod names are `c<k>-…`: never reused while the API server runs).
    k: usize,
    oracle: Oracle,
    work: PathBuf,
    rows: Vec<Row>,
    /// Disagreements that are not about one flow (policy acceptance, the agent's repository).
    problems: Vec<String>,
    notes: Vec<String>,
    refused: usize,
    cluster_times: Vec<Duration>,
    /// Policies applied, by kind.
    kinds: BTreeMap<String, usize>,
    /// From the start of each profile's agent to its readiness (remote node included).
    agent_times: Vec<Duration>,
}

impl Run<'_> {
    fn dp(&self) -> &Datapath {
        self.agent.as_ref().expect("an agent runs")
    }

    /// Stops the agent of the last profile (if any) and starts one for `profile`: its flags, the
    /// iptables rules, the remote node's host on its link.
    fn start_agent(&mut self, profile: &'static Profile) {
        if let Some(dp) = self.agent.take() {
            dp.stop();
        }
        // The agent's iptables rules mark what the node itself sends (MARK_MAGIC_HOST), which
        // bpf_host reads as the host identity; without them a hostNetwork client is `world`.
        let args = format!("--install-iptables-rules=true {}", profile.agent_args());
        let dp = Datapath::start_with(
            self.env.kubeconfig(),
            &[
                ("SCENARIO_NODE_IP", NODE_IP),
                ("SCENARIO_POD_CIDR", POD_CIDR),
                ("CILIUM_AGENT_EXTRA_ARGS", &args),
            ],
        );
        // The remote node: its Node and the CiliumNode its agent would register (the CRDs are in
        // once the runner started), and its host on the agent's link.
        let remote = [
            json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": REMOTE_NODE, "labels": {"kubernetes.io/hostname": REMOTE_NODE}},
                "spec": {"podCIDR": REMOTE_POD_CIDR, "podCIDRs": [REMOTE_POD_CIDR]}}),
            json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
                "metadata": {"name": REMOTE_NODE},
                "spec": {"addresses": [{"type": "InternalIP", "ip": REMOTE_NODE_IP}],
                         "ipam": {"podCIDRs": [REMOTE_POD_CIDR]}}}),
        ];
        must(apply(self.env, &remote.iter().collect::<Vec<_>>()));
        let address =
            json!({"status": {"addresses": [{"type": "InternalIP", "address": REMOTE_NODE_IP}]}});
        must(kubectl(
            self.env,
            &[
                "patch",
                "node",
                REMOTE_NODE,
                "--subresource=status",
                "--type=merge",
                "-p",
                &address.to_string(),
            ],
            None,
        ));
        dp.add_remote_node(REMOTE_NODE, REMOTE_NODE_IP, NODE_IP);
        dp.listen_on_node("node", &[NODE_PORT]);
        let start = Instant::now();
        let target = [(NODE_IP.to_string(), NODE_PORT)];
        loop {
            let listed = dp.cilium_dbg(&["node", "list"]);
            let reached = dp.probe_all(
                Source::RemoteNode(REMOTE_NODE),
                &target,
                Duration::from_secs(1),
            );
            if listed.contains(REMOTE_NODE) && matches!(reached[0], Probe::Answered(_)) {
                break;
            }
            assert!(
                start.elapsed() < POLICY_BOUND,
                "the remote node {REMOTE_NODE}: the agent lists it? {listed}; it reaches the node's {NODE_IP}:{NODE_PORT}? {}",
                reached[0]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.agent = Some(dp);
        self.profile = profile;
    }

    /// Generates, realises, probes and judges one cluster, then removes its pods and policies.
    fn cluster(&mut self, cseed: u64) {
        let k = self.k;
        self.k += 1;
        let t = Instant::now();
        let generated = cilium_gen::generate(cseed, Shape::for_minor(MINOR));
        let node = self.dp().node().to_string();
        let mut r = realise(&generated, k, &node, self.profile);
        self.notes
            .extend(r.notes.iter().map(|n| format!("{cseed:#018x}: {n}")));
        let dir = self.work.join(format!("{cseed:016x}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("generated.yaml"), generated.yaml()).unwrap();

        // scrapepath's admission first: what the API server of 1.19 would refuse is not applied.
        let pre = dir.join("admission.yaml");
        std::fs::write(&pre, r.cluster.yaml()).unwrap();
        if let Err(e) = cilium_diff::scrapepath_judges(&pre, self.oracle.version(), &[]) {
            self.refused += 1;
            std::fs::write(dir.join("refused.txt"), &e).unwrap();
            return;
        }

        // Namespaces (labels replaced: apply prunes what the last apply set), the Nodes' labels.
        must(apply(
            self.env,
            &of_kind(&r.cluster.objects, &["Namespace"]),
        ));
        for node_obj in of_kind(&r.cluster.objects, &["Node"]) {
            let mut labels = node_obj["metadata"]["labels"].clone();
            for key in ["role", "zone"] {
                labels
                    .as_object_mut()
                    .unwrap()
                    .entry(key)
                    .or_insert(Value::Null);
            }
            must(kubectl(
                self.env,
                &[
                    "patch",
                    "node",
                    node_obj["metadata"]["name"].as_str().unwrap(),
                    "--type=merge",
                    "-p",
                    &json!({"metadata": {"labels": labels}}).to_string(),
                ],
                None,
            ));
            if node_obj["metadata"]["name"] == REMOTE_NODE {
                // What the remote node's agent would copy into its CiliumNode: the agent here
                // reads a remote node's labels there.
                must(kubectl(
                    self.env,
                    &[
                        "patch",
                        "ciliumnodes.cilium.io",
                        REMOTE_NODE,
                        "--type=merge",
                        "-p",
                        &json!({"metadata": {"labels": labels}}).to_string(),
                    ],
                    None,
                ));
            }
        }

        // Pods: objects, network namespaces, listeners on every port a flow probes.
        must(apply(self.env, &of_kind(&r.cluster.objects, &["Pod"])));
        let mut ports: BTreeMap<&str, BTreeSet<u16>> = BTreeMap::new();
        for f in &r.cluster.flows {
            ports.entry(&f.dst).or_default().insert(f.port);
        }
        let mut ips: BTreeMap<String, String> = BTreeMap::new();
        for p in &r.pods {
            let (ns, name) = p.split_once('/').unwrap();
            let ip = self.dp().add_pod(ns, name);
            let ports: Vec<u16> = ports
                .get(p.as_str())
                .into_iter()
                .flatten()
                .copied()
                .collect();
            self.dp().listen(ns, name, &ports);
            ips.insert(p.clone(), ip);
        }
        self.dp()
            .wait_endpoints_ready(&ips.values().cloned().collect::<Vec<_>>());
        // The cluster as realised, for scrapepath and the oracle: pods Running at their addresses.
        for o in &mut r.cluster.objects {
            if o["kind"] != "Pod" {
                continue;
            }
            let key = format!(
                "{}/{}",
                o["metadata"]["namespace"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            );
            let host_ip = if r.host_pods.get(&key) == Some(&true) {
                REMOTE_NODE_IP
            } else {
                NODE_IP
            };
            let ip = ips.get(&key).map_or(host_ip, String::as_str);
            o["status"] = json!({"phase": "Running", "podIP": ip, "hostIP": host_ip,
                "conditions": [{"type": "Ready", "status": "True"}]});
        }
        let manifests = dir.join("cluster.yaml");
        std::fs::write(&manifests, r.cluster.yaml()).unwrap();
        let flows_file = dir.join("flows.json");
        std::fs::write(&flows_file, serde_json::to_vec(&r.cluster.flows).unwrap()).unwrap();
        let answer: OracleAnswer = match self.oracle.ask(&manifests, &flows_file) {
            Ok((raw, a)) => {
                std::fs::write(dir.join("oracle.json"), raw).unwrap();
                a
            }
            Err(e) => panic!("{cseed:#x}: {e} (input in {})", dir.display()),
        };
        let judged: Judged =
            cilium_diff::scrapepath_judges(&manifests, self.oracle.version(), &r.cluster.flows)
                .unwrap_or_else(|e| {
                    panic!("{cseed:#x}: scrapepath refuses the realised cluster: {e}")
                });
        let default_deny = egress_default_deny(&manifests, self.oracle.version());

        // Policy acceptance: scrapepath vs the oracle, and what the agent holds.
        let theirs_rejected = answer.rejected();
        let ours_keys: BTreeSet<_> = judged.rejected.keys().collect();
        let theirs_keys: BTreeSet<_> = theirs_rejected.keys().collect();
        if ours_keys != theirs_keys {
            self.problems.push(format!(
                "{cseed:#x}: policies rejected: scrapepath {:?}, the oracle {:?}",
                judged.rejected, theirs_rejected
            ));
        }
        let policies = of_kind(
            &r.cluster.objects,
            &[
                "CiliumNetworkPolicy",
                "CiliumClusterwideNetworkPolicy",
                "NetworkPolicy",
            ],
        );
        if let Err(e) = apply(self.env, &policies) {
            self.problems.push(format!(
                "{cseed:#x}: the API server refuses policies scrapepath's admission accepts: {e}"
            ));
        }
        let uids = policy_uids(self.env);
        for (kind, _, _) in uids.keys() {
            *self.kinds.entry(kind.clone()).or_default() += 1;
        }
        let expected: BTreeSet<String> = uids
            .iter()
            .filter(|(k, _)| !theirs_rejected.contains_key(*k))
            .map(|(_, uid)| uid.clone())
            .collect();
        if let Err(e) = self.dp().try_wait_policies(&expected, POLICY_BOUND) {
            self.problems.push(format!(
                "{cseed:#x}: the agent does not hold the policies the oracle accepts: {e} (UIDs {uids:?})"
            ));
        }
        self.dp().flush_conntrack();

        // Every flow, from its source: a pod's network namespace, or the node's for a hostNetwork pod.
        let mut observed = self.probe(
            &r,
            &ips,
            &(0..r.cluster.flows.len()).collect::<Vec<_>>(),
            PROBE_TIMEOUT,
        );
        let theirs: BTreeMap<(&str, &str, u16), _> = answer
            .flows
            .iter()
            .map(|f| ((f.src.as_str(), f.dst.as_str(), f.port), f))
            .collect();
        let mut rows: Vec<Row> = r
            .cluster
            .flows
            .iter()
            .zip(&judged.decisions)
            .zip(observed.drain(..))
            .map(|((f, d), o)| {
                let t = theirs.get(&(f.src.as_str(), f.dst.as_str(), f.port));
                Row {
                    profile: self.profile.name,
                    cluster: cseed,
                    flow: f.clone(),
                    from: match r.host_pods.get(&f.src) {
                        None => "pod",
                        Some(false) => "node",
                        Some(true) => "remote node",
                    },
                    observed: o,
                    confirmed: false,
                    ours: (d.basis != Basis::Ambiguous).then_some(matches!(
                        d.verdict,
                        NetVerdict::Allowed | NetVerdict::L7Denied
                    )),
                    ours_why: format!("{:?} ({}: {})", d.verdict, d.rule, d.reason),
                    theirs: t.filter(|t| t.error.is_none()).map(|t| t.forwarded()),
                    theirs_why: t.map_or("no answer".into(), |t| {
                        t.error.clone().unwrap_or_else(|| {
                            format!(
                                "ingress {}{}, egress {}{}{}",
                                t.verdict,
                                if t.not_endpoint { " (no endpoint)" } else { "" },
                                t.egress_verdict,
                                if t.egress_not_endpoint {
                                    " (no endpoint)"
                                } else {
                                    ""
                                },
                                if t.audit { ", audit" } else { "" }
                            )
                        })
                    }),
                    theirs_side: t
                        .filter(|t| t.error.is_none() && !t.audit)
                        .and_then(|t| Side::of(t.egress_forwarded(), t.ingress_forwarded())),
                    ours_side: our_side(d),
                    egress_default_deny: default_deny.contains(&f.src),
                }
            })
            .collect();
        // A timeout a prediction calls allowed: once more, with a generous bound.
        let again: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, row)| {
                row.observed == Probe::TimedOut
                    && (row.ours == Some(true) || row.theirs == Some(true))
            })
            .map(|(i, _)| i)
            .collect();
        for (i, o) in again
            .iter()
            .zip(self.probe(&r, &ips, &again, CONFIRM_TIMEOUT))
        {
            rows[*i].observed = o;
            rows[*i].confirmed = true;
        }
        let held = self.dp().policies().0;
        if held != expected {
            self.problems.push(format!(
                "{cseed:#x}: after the probes the agent holds {held:?}, not {expected:?}"
            ));
        }
        std::fs::write(dir.join("table.txt"), table(&rows)).unwrap();
        let clean = !rows.iter().any(Row::fails);
        self.rows.extend(rows);

        // Clean up: policies (the agent back to none), pods.
        must(kubectl(
            self.env,
            &["delete", POLICY_RESOURCES, "--all", "-A"],
            None,
        ));
        self.dp().wait_policies(&BTreeSet::new());
        for p in &r.pods {
            let (ns, name) = p.split_once('/').unwrap();
            self.dp().remove_pod(ns, name);
        }
        must(kubectl(
            self.env,
            &[
                "delete",
                "pods",
                "--all",
                "-A",
                "--force",
                "--grace-period=0",
            ],
            None,
        ));
        if clean {
            let _ = std::fs::remove_dir_all(&dir);
        }
        self.cluster_times.push(t.elapsed());
    }

    /// Probes the flows `which` of `r`, all sources at once; the results in the order of `which`.
    fn probe(
        &self,
        r: &Realised,
        ips: &BTreeMap<String, String>,
        which: &[usize],
        timeout: Duration,
    ) -> Vec<Probe> {
        let mut by_src: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in which {
            by_src.entry(&r.cluster.flows[i].src).or_default().push(i);
        }
        let mut out: BTreeMap<usize, Probe> = BTreeMap::new();
        std::thread::scope(|s| {
            let handles: Vec<_> = by_src
                .iter()
                .map(|(src, idx)| {
                    let from = match r.host_pods.get(*src) {
                        None => {
                            let (ns, name) = src.split_once('/').unwrap();
                            Source::Pod(ns, name)
                        }
                        Some(false) => Source::Node,
                        Some(true) => Source::RemoteNode(REMOTE_NODE),
                    };
                    let targets: Vec<(String, u16)> = idx
                        .iter()
                        .map(|&i| {
                            let f = &r.cluster.flows[i];
                            (ips[&f.dst].clone(), f.port)
                        })
                        .collect();
                    let dp = self.dp();
                    s.spawn(move || dp.probe_all(from, &targets, timeout))
                })
                .collect();
            for ((_, idx), h) in by_src.iter().zip(handles) {
                out.extend(idx.iter().copied().zip(h.join().expect("a prober")));
            }
        });
        which.iter().map(|i| out.remove(i).unwrap()).collect()
    }
}

/// How the judges agree over `rows`, in one line (flows to itself apart: [`Row::to_itself`]).
fn agreement<'r>(rows: impl Iterator<Item = &'r Row>) -> String {
    let (mut dp_ours, mut dp_theirs, mut ours_theirs) =
        (Pair::default(), Pair::default(), Pair::default());
    let (mut self_ours, mut self_theirs) = (Pair::default(), Pair::default());
    let (mut flows, mut dropped) = (0, 0);
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    let mut sides = Pair::default();
    // Flows from pods with egress default-deny (not to itself): in all, and forwarded.
    let (mut deny_all, mut deny_forwarded) = (0, 0);
    for row in rows {
        flows += 1;
        if row.egress_default_deny && !row.to_itself() {
            deny_all += 1;
            deny_forwarded += usize::from(row.datapath() == Some(true));
        }
        dropped += usize::from(row.datapath() == Some(false));
        if row.datapath() == Some(false) && !row.to_itself() {
            *at.entry(Side::show(row.theirs_side)).or_default() += 1;
            if row.ours == Some(false) && row.theirs == Some(false) {
                sides.compared += 1;
                sides.agreed += usize::from(row.ours_side == row.theirs_side);
            }
        }
        if row.to_itself() {
            self_ours.add(row.datapath(), row.ours);
            self_theirs.add(row.datapath(), row.theirs);
        } else {
            dp_ours.add(row.datapath(), row.ours);
            dp_theirs.add(row.datapath(), row.theirs);
            ours_theirs.add(row.ours, row.theirs);
        }
    }
    format!(
        "{flows} flows ({dropped} dropped, {} from a pod to itself; dropped by the oracle's side {at:?}; {deny_all} from pods with egress default-deny, {deny_forwarded} of them forwarded); without those to itself: datapath vs scrapepath {dp_ours}, datapath vs oracle {dp_theirs}, scrapepath vs oracle {ours_theirs}, the side that drops (scrapepath vs oracle) {sides}; to itself (loopback; the oracle cannot see it): datapath vs scrapepath {self_ours}, datapath vs oracle {self_theirs}",
        self_ours.compared
    )
}

fn of_kind<'a>(objects: &'a [Value], kinds: &[&str]) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| kinds.contains(&o["kind"].as_str().unwrap_or_default()))
        .collect()
}

fn table(rows: &[Row]) -> String {
    let mut t = format!(
        "{:<18} {:<44} {:<30} {:<22} {:<10} {:<10} {:<15} {}\n",
        "cluster",
        "from",
        "to",
        "datapath",
        "scrapepath",
        "oracle",
        "dropped at",
        "why (scrapepath | oracle)"
    );
    for row in rows {
        t += &format!(
            "{:<18} {:<44} {:<30} {:<22} {:<10} {:<10} {:<15} {} | {}{}\n",
            format!("{:#x}", row.cluster),
            match (row.from, row.egress_default_deny) {
                ("pod", false) => row.flow.src.clone(),
                ("pod", true) => format!("{} (egress default-deny)", row.flow.src),
                (from, _) => format!("{} ({from})", row.flow.src),
            },
            format!("{}:{}", row.flow.dst, row.flow.port),
            format!(
                "{}{}",
                row.observed,
                if row.confirmed { " (again)" } else { "" }
            ),
            yes_no(row.ours),
            yes_no(row.theirs),
            // Which side drops it: scrapepath's / the oracle's.
            format!(
                "{}/{}",
                Side::show(row.ours_side),
                Side::show(row.theirs_side)
            ),
            row.ours_why,
            row.theirs_why,
            if row.all_agree() && !row.sides_differ() {
                ""
            } else if !row.fails() {
                "   (to itself: loopback)"
            } else {
                "   <-- DISAGREE"
            }
        );
    }
    t
}

#[test]
fn random_clusters_on_the_real_datapath_agree_with_scrapepath_and_ciliums_engine() {
    let test = "random_clusters_on_the_real_datapath_agree_with_scrapepath_and_ciliums_engine";
    if !available(test) {
        return;
    }
    let t0 = Instant::now();
    let seed = env_u64("SCRAPEPATH_DATAPATH_DIFF_SEED").unwrap_or(CI_SEED);
    let clusters = env_u64("SCRAPEPATH_DATAPATH_DIFF_CLUSTERS").unwrap_or(CI_CLUSTERS) as usize;
    // Cluster seeds (as the table prints them) to replay instead, under each profile.
    let replay: Vec<u64> = std::env::var("SCRAPEPATH_DATAPATH_DIFF_REPLAY")
        .unwrap_or_default()
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            let v = v.trim();
            u64::from_str_radix(v.trim_start_matches("0x"), 16)
                .unwrap_or_else(|e| panic!("SCRAPEPATH_DATAPATH_DIFF_REPLAY: {v}: {e}"))
        })
        .collect();
    let names = std::env::var("SCRAPEPATH_DATAPATH_DIFF_PROFILES").unwrap_or_default();
    let profiles: Vec<&'static Profile> = if names.is_empty() {
        PROFILES.iter().collect()
    } else {
        names
            .split(',')
            .map(|n| {
                PROFILES.iter().find(|p| p.name == n.trim()).unwrap_or_else(|| {
                    panic!(
                        "SCRAPEPATH_DATAPATH_DIFF_PROFILES={names}: no profile {n} (there are {:?})",
                        PROFILES.iter().map(|p| p.name).collect::<Vec<_>>()
                    )
                })
            })
            .collect()
    };
    let oracle = cilium_diff::oracles()
        .into_iter()
        .find(|o| o.minor == MINOR)
        .expect("tests/cilium-oracle/ensure.sh built no 1.19 oracle");
    if replay.is_empty() {
        eprintln!("datapath differential: seed {seed:#x}, {clusters} clusters per profile (SCRAPEPATH_DATAPATH_DIFF_SEED={seed:#x} SCRAPEPATH_DATAPATH_DIFF_CLUSTERS={clusters} replays it)");
    } else {
        eprintln!("datapath differential: the clusters {replay:x?} per profile");
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cilium-datapath-diff");
    let _ = std::fs::remove_dir_all(&work);

    let env = TestEnv::start_new(CrdSet::NONE);
    let mut run = Run {
        env: &env,
        agent: None,
        profile: &PROFILES[0],
        k: 0,
        oracle,
        work: work.clone(),
        rows: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
        refused: 0,
        cluster_times: Vec::new(),
        kinds: BTreeMap::new(),
        agent_times: Vec::new(),
    };
    let mut rng = Rng::new(seed);
    for &profile in &profiles {
        let t = Instant::now();
        run.start_agent(profile);
        run.agent_times.push(t.elapsed());
        if replay.is_empty() {
            for _ in 0..clusters {
                run.cluster(rng.fork());
            }
        } else {
            for &cseed in &replay {
                run.cluster(cseed);
            }
        }
    }

    let failing = run.rows.iter().filter(|r| r.fails()).count();
    println!("{test}: every flow:\n{}", table(&run.rows));
    println!(
        "{test}: what the generator drew that this datapath cannot realise:\n  {}",
        run.notes.join("\n  ")
    );
    let from = |kind: &str| run.rows.iter().filter(|r| r.from == kind).count();
    let (hosts, remotes) = (from("node"), from("remote node"));
    for p in &profiles {
        println!(
            "{test}: profile {} {:?}: {}",
            p.name,
            p.config,
            agreement(run.rows.iter().filter(|r| r.profile == p.name))
        );
    }
    let secs = |ds: &[Duration]| {
        ds.iter()
            .map(|d| format!("{:.1}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("/")
    };
    println!(
        "{test}: seed {seed:#x}: {} clusters ({} refused by admission), {} from hostNetwork pods on the agent's node, {} on the remote node; {}; {} flows fail, {} other problems; policies applied {:?}; agents ready in {} s, per cluster {} s, whole test {:.1} s",
        run.cluster_times.len() + run.refused,
        run.refused,
        hosts,
        remotes,
        agreement(run.rows.iter()),
        failing,
        run.problems.len(),
        run.kinds,
        secs(&run.agent_times),
        secs(&run.cluster_times),
        t0.elapsed().as_secs_f64()
    );
    let Run {
        agent,
        rows,
        problems,
        kinds,
        ..
    } = run;
    if let Some(dp) = agent {
        dp.stop();
    }
    // What the run must have seen to mean something (an unlucky seed or a small size would not).
    let dropped = |kind: &str| {
        rows.iter()
            .filter(|r| r.from == kind && !r.to_itself() && r.datapath() == Some(false))
            .count()
    };
    let mut thin = Vec::new();
    for kind in [
        "CiliumNetworkPolicy",
        "CiliumClusterwideNetworkPolicy",
        "NetworkPolicy",
    ] {
        if !kinds.contains_key(kind) {
            thin.push(format!("no {kind} was applied"));
        }
    }
    for from in ["pod", "remote node"] {
        if dropped(from) == 0 {
            thin.push(format!("no flow from a {from} was dropped"));
        }
    }
    if hosts == 0 {
        thin.push("no flow from a hostNetwork pod on the agent's node".into());
    }
    // Egress: drops by each side alone (the oracle's answer per side, the datapath's drop), and flows
    // from pods whose egress is default-deny both dropped and let through by a generated allow.
    let observed = |row: &Row, dropped: bool, side: Option<Side>| {
        !row.to_itself() && row.datapath() == Some(!dropped) && row.theirs_side == side
    };
    for (what, side) in [
        ("by the source's egress alone", Some(Side::Egress)),
        ("by the destination's ingress alone", Some(Side::Ingress)),
    ] {
        if !rows.iter().any(|r| observed(r, true, side)) {
            thin.push(format!("no flow was dropped {what}"));
        }
    }
    for (what, dropped, side) in [
        ("dropped by its egress", true, Some(Side::Egress)),
        ("forwarded", false, None),
    ] {
        if !rows
            .iter()
            .any(|r| r.egress_default_deny && observed(r, dropped, side))
        {
            thin.push(format!(
                "no flow from a pod with egress default-deny was {what}"
            ));
        }
    }
    if profiles.iter().any(|p| p.always())
        && !rows.iter().any(|r| {
            PROFILES.iter().any(|p| p.name == r.profile && p.always())
                && observed(r, true, Some(Side::Egress))
        })
    {
        thin.push("no flow was dropped by its egress under enable-policy=always".into());
    }
    let failing: Vec<Row> = rows.into_iter().filter(Row::fails).collect();
    assert!(
        problems.is_empty() && failing.is_empty(),
        "{test}: seed {seed:#x}: {} flows disagree (inputs kept in {}):\n{}{}",
        failing.len(),
        work.display(),
        table(&failing),
        problems.join("\n")
    );
    assert!(
        thin.is_empty(),
        "{test}: seed {seed:#x} with {clusters} clusters covers too little: {}; take more clusters",
        thin.join(", ")
    );
}
