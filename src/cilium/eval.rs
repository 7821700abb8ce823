//! Identities and the ingress decision (R1–R4, R8–R14, D1–D5).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::policy::{
    Cidr, CidrRule, Direction, Entry, HttpRule, Injection, Peer, PeerSelector, Policy,
    PortProtocol, PortRule, PortSpec, Ports, Rule, Subject, NS_KEY, NS_LABELS_PREFIX,
};
use super::{EnforcementMode, Settings, Version};
use crate::model::{Labels, ObjRef, Pod};
use crate::selector::{LabelSet, Operator, Requirement, Source};

/// What kind of peer an identity is (R3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    Pod,
    /// A hostNetwork pod on the destination's node.
    Host,
    /// A hostNetwork pod on another node.
    RemoteNode,
    World,
}

/// A security identity: labels with their sources (R1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub kind: IdentityKind,
    labels: BTreeMap<String, (Source, String)>,
    /// For host identities: the node IP (CIDR match mode `nodes`); for the identity of an address no
    /// pod backs (E8), that address (its `cidr:` labels).
    pub node_ip: Option<IpAddr>,
    /// For the host identity of an address no pod backs (E8.2.1): the other addresses of its node. The
    /// agent merges the labels of every host prefix into its one host identity, so with
    /// policy-cidr-match-mode=nodes it carries their `cidr:` labels too.
    pub host_ips: Vec<IpAddr>,
    /// The identity of an address no pod backs (E8), not of a hostNetwork pod: for messages.
    pub address: bool,
}

impl LabelSet for Identity {
    fn get(&self, source: &Source, key: &str) -> Option<&str> {
        let (src, v) = self.labels.get(key)?;
        (source == &Source::Any || source == src).then_some(v.as_str())
    }
}

/// R2: the agent's default identity label filter (`pkg/labelsfilter` `defaultLabelPrefixCfg`), as of
/// Cilium `v`. A label that is filtered out can never be matched by a selector.
///
/// Each prefix is a regular expression that must match at the start of the key; the label is kept when
/// no ignore prefix matches, or when the longest matching include is longer than the SHORTEST matching
/// ignore (`filterLabels`). Pod labels under `io.cilium.k8s` are dropped before (`RemoveCiliumLabels`).
pub fn is_identity_label(key: &str, v: Version) -> bool {
    /// How a prefix of the filter matches a key: the length of the match at the key's start.
    enum Pat {
        /// A literal prefix (`regexp.QuoteMeta` or an escaped literal).
        Lit(&'static str),
        /// `.*beta\.kubernetes\.io`: greedy, so the match ends after the last occurrence.
        AnyThenBeta,
        /// `annotation.*`: the whole key.
        AnnotationAll,
    }
    fn matched(p: &Pat, key: &str) -> Option<usize> {
        match p {
            Pat::Lit(l) => key.starts_with(l).then_some(l.len()),
            Pat::AnyThenBeta => {
                const B: &str = "beta.kubernetes.io";
                key.rfind(B).map(|i| i + B.len())
            }
            Pat::AnnotationAll => key.starts_with("annotation").then_some(key.len()),
        }
    }
    // (pattern, ignore, first minor that has it)
    const ALWAYS: u16 = 0;
    let prefixes: [(Pat, bool, u16); 20] = [
        (Pat::Lit("io.kubernetes.pod.namespace"), false, ALWAYS),
        (Pat::Lit("io.cilium.k8s.namespace.labels"), false, ALWAYS),
        (Pat::Lit("app.kubernetes.io"), false, ALWAYS),
        (Pat::Lit("io.cilium.k8s.policy.cluster"), false, 16),
        (Pat::Lit("io.cilium.k8s.policy.serviceaccount"), false, 18),
        (Pat::Lit("io.kubernetes"), true, ALWAYS),
        (Pat::Lit("kubernetes.io"), true, ALWAYS),
        (Pat::Lit("statefulset.kubernetes.io/pod-name"), true, ALWAYS),
        (Pat::Lit("apps.kubernetes.io/pod-index"), true, ALWAYS),
        (
            Pat::Lit("batch.kubernetes.io/job-completion-index"),
            true,
            ALWAYS,
        ),
        (Pat::Lit("batch.kubernetes.io/controller-uid"), true, ALWAYS),
        (Pat::AnyThenBeta, true, ALWAYS),
        (Pat::Lit("k8s.io"), true, ALWAYS),
        (Pat::Lit("pod-template-generation"), true, ALWAYS),
        (Pat::Lit("pod-template-hash"), true, ALWAYS),
        (Pat::Lit("controller-revision-hash"), true, ALWAYS),
        (Pat::Lit("controller-uid"), true, ALWAYS),
        (Pat::AnnotationAll, true, ALWAYS),
        (Pat::Lit("etcd_node"), true, ALWAYS),
        (Pat::Lit("topology.kubernetes.io"), true, 18),
    ];
    let (mut included, mut ignored) = (0usize, 0usize);
    for (pat, ignore, since) in &prefixes {
        if v.major == 1 && v.minor < *since {
            continue;
        }
        if let Some(n) = matched(pat, key) {
            if *ignore {
                if ignored == 0 || n < ignored {
                    ignored = n;
                }
            } else if n > included {
                included = n;
            }
        }
    }
    ignored == 0 || included > ignored
}

impl Identity {
    /// The identity of a Cilium-managed pod (R1, R2).
    pub fn of_pod(pod: &Pod, ns_labels: &Labels, cluster: &str, v: Version) -> Identity {
        let mut labels = BTreeMap::new();
        for (k, val) in pod.labels.iter() {
            if k.starts_with("io.cilium.k8s") || !is_identity_label(k, v) {
                continue;
            }
            labels.insert(k.clone(), (Source::K8s, val.clone()));
        }
        labels.insert(NS_KEY.to_string(), (Source::K8s, pod.namespace.clone()));
        for (k, v) in ns_labels {
            labels.insert(format!("{NS_LABELS_PREFIX}{k}"), (Source::K8s, v.clone()));
        }
        labels.insert(
            "io.cilium.k8s.policy.serviceaccount".to_string(),
            (Source::K8s, pod.service_account.clone()),
        );
        labels.insert(
            "io.cilium.k8s.policy.cluster".to_string(),
            (Source::K8s, cluster.to_string()),
        );
        Identity {
            kind: IdentityKind::Pod,
            labels,
            node_ip: None,
            host_ips: Vec::new(),
            address: false,
        }
    }

    /// A reserved identity (`host`, `remote-node`, `world`).
    pub fn reserved(kind: IdentityKind, node_ip: Option<IpAddr>) -> Identity {
        let name = match kind {
            IdentityKind::Host => "host",
            IdentityKind::RemoteNode => "remote-node",
            IdentityKind::World => "world",
            IdentityKind::Pod => unreachable!("pods have label identities"),
        };
        let mut labels = BTreeMap::new();
        labels.insert(name.to_string(), (Source::Reserved, String::new()));
        Identity {
            kind,
            labels,
            node_ip,
            host_ips: Vec::new(),
            address: false,
        }
    }

    /// The identity a scraper pod presents to `dest` (R3): hostNetwork pods are the host or a remote node.
    /// With `enable-node-selector-labels` (1.16+) a remote node's identity carries the labels of its
    /// Node (source `node`) and the cluster label (`pkg/node/manager` `nodeIdentityLabels`), which is
    /// what `fromNodes` selects on; `src_node_labels` are the labels of the scraper's Node, when known.
    /// Every node label counts: Cilium's node label filter (`node-labels`) is empty by default. Where
    /// the API server runs, the node identity also carries `reserved:kube-apiserver` (E8.2): the host
    /// of a node that has an address of the API server, a remote node whose address is one.
    pub fn of_source(
        src: &Pod,
        src_ns_labels: &Labels,
        src_node_labels: Option<&Labels>,
        dest: &Pod,
        s: &Settings,
    ) -> Identity {
        if !src.host_network {
            return Identity::of_pod(src, src_ns_labels, &s.cluster_name, s.version);
        }
        let node_ip = src.host_ip.as_deref().and_then(|s| s.parse().ok());
        let same_node = src.node_name.is_some() && src.node_name == dest.node_name;
        let (mut id, api) = if same_node {
            let api = src
                .node_name
                .as_ref()
                .is_some_and(|n| s.kube_apiserver.nodes.contains(n));
            let mut id = Identity::reserved(IdentityKind::Host, node_ip);
            // One host identity for every address of the node (E8.2.1).
            id.host_ips = src
                .node_name
                .as_ref()
                .and_then(|n| s.node_ips.get(n))
                .into_iter()
                .flatten()
                .copied()
                .filter(|a| Some(*a) != node_ip)
                .collect();
            (id, api)
        } else {
            let api = node_ip.is_some_and(|ip| s.kube_apiserver.ips.contains(&ip));
            (Identity::remote_node(node_ip, src_node_labels, s), api)
        };
        if api {
            id.add_kube_apiserver();
        }
        id
    }

    fn add_kube_apiserver(&mut self) {
        self.labels.insert(
            KUBE_APISERVER.to_string(),
            (Source::Reserved, String::new()),
        );
    }

    /// `reserved:remote-node`, with its Node's labels and the cluster label under
    /// `enable-node-selector-labels` (1.16+).
    fn remote_node(
        node_ip: Option<IpAddr>,
        node_labels: Option<&Labels>,
        s: &Settings,
    ) -> Identity {
        let mut id = Identity::reserved(IdentityKind::RemoteNode, node_ip);
        if s.node_selector_labels && s.version >= FROM_NODES_AND_GROUPS_SINCE {
            let node = Source::Other("node".to_string());
            for (k, v) in node_labels.into_iter().flatten() {
                id.labels.insert(k.clone(), (node.clone(), v.clone()));
            }
            id.labels.insert(
                CLUSTER_KEY.to_string(),
                (Source::K8s, s.cluster_name.clone()),
            );
        }
        id
    }

    /// E8: the identity of an address no pod backs, as the egress of a scraper on node `src_node`
    /// sees it. An address of a Node (`node`: its name, labels and addresses) is `reserved:host` on the
    /// scraper's own node, else `reserved:remote-node` (ingress R3); any other address is
    /// `reserved:world` with the `cidr:` labels of `ip`. An address of the API server
    /// (`s.kube_apiserver`: the default/kubernetes endpoints) carries `reserved:kube-apiserver` besides
    /// (Cilium's ipcache gives the prefix both labels: on a remote node that is the reserved identity
    /// `kube-apiserver`, labels {kube-apiserver, remote-node}; outside the nodes a CIDR identity with
    /// {kube-apiserver, world}). The host identity is one for all the node's addresses: the agent
    /// merges the labels of every host prefix into it (E8.2.1), so it carries `reserved:kube-apiserver`
    /// when any address of the node is the API server's, and with policy-cidr-match-mode=nodes the
    /// `cidr:` labels of every address of the node.
    pub fn of_address(
        ip: IpAddr,
        node: Option<(&str, &Labels, &[IpAddr])>,
        src_node: Option<&str>,
        s: &Settings,
    ) -> Identity {
        let api_ip = s.kube_apiserver.ips.contains(&ip);
        let (mut id, api) = match node {
            Some((name, _, ips)) if Some(name) == src_node => {
                let mut id = Identity::reserved(IdentityKind::Host, Some(ip));
                id.host_ips = ips.iter().copied().filter(|a| *a != ip).collect();
                let api = api_ip || s.kube_apiserver.nodes.iter().any(|n| n == name);
                (id, api)
            }
            Some((_, labels, _)) => (Identity::remote_node(Some(ip), Some(labels), s), api_ip),
            None => (Identity::reserved(IdentityKind::World, Some(ip)), api_ip),
        };
        if api {
            id.add_kube_apiserver();
        }
        id.address = true;
        id
    }

    /// Whether the identity carries `reserved:kube-apiserver` (E8).
    pub fn is_kube_apiserver(&self) -> bool {
        self.get(&Source::Reserved, KUBE_APISERVER).is_some()
    }

    /// The (key, value) pairs of its labels, for index lookups.
    pub fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels
            .iter()
            .map(|(k, (_, v))| (k.as_str(), v.as_str()))
    }

    pub fn describe(&self) -> String {
        if self.is_kube_apiserver() {
            return format!(
                "kube-apiserver (the API server's address{})",
                match self.kind {
                    IdentityKind::Host => ", on the scraper's own node: host as well",
                    IdentityKind::RemoteNode => ", on another node: remote-node as well",
                    _ => ", outside the nodes: world as well",
                }
            );
        }
        if self.address {
            let ip = self.node_ip.map(|ip| ip.to_string()).unwrap_or_default();
            match self.kind {
                IdentityKind::Host => {
                    return format!("the host (the node address {ip}, the scraper's own node)")
                }
                IdentityKind::RemoteNode => {
                    return format!("remote-node (the node address {ip}, another node)")
                }
                IdentityKind::World => {
                    return format!("world (the address {ip}, of no pod or node)")
                }
                IdentityKind::Pod => {}
            }
        }
        match self.kind {
            IdentityKind::Pod => format!(
                "a pod in namespace {}",
                self.get(&Source::K8s, NS_KEY).unwrap_or("?")
            ),
            IdentityKind::Host => "the host (a hostNetwork pod on the same node)".to_string(),
            IdentityKind::RemoteNode => {
                "remote-node (a hostNetwork pod on another node)".to_string()
            }
            IdentityKind::World => "world".to_string(),
        }
    }
}

/// R8: does an entity name cover this identity?
fn entity_matches(entity: &str, id: &Identity) -> bool {
    match entity {
        "all" => true,
        "world" | "world-ipv4" | "world-ipv6" => id.kind == IdentityKind::World,
        // `cluster` includes kube-apiserver, even an API server outside the nodes (E8.3).
        "cluster" => id.kind != IdentityKind::World || id.is_kube_apiserver(),
        "kube-apiserver" => id.is_kube_apiserver(),
        "host" => id.kind == IdentityKind::Host,
        "remote-node" => id.kind == IdentityKind::RemoteNode,
        _ => false,
    }
}

fn peer_selector_matches(ps: &PeerSelector, id: &Identity, s: &Settings) -> bool {
    let v = s.version;
    if ps.unbuildable && v == UNBUILDABLE_SELECTS_EVERYTHING {
        return true;
    }
    if !ps.selector.matches(id) {
        return false;
    }
    // R6.3: the local-cluster filter of the CNP/CCNP parser.
    if let Some(cluster) = s.policy_cluster().filter(|_| ps.cluster_filter) {
        let reqs = &ps.selector.requirements;
        let reserved = reqs.iter().any(|r| r.source == Source::Reserved);
        let names_cluster = reqs
            .iter()
            .any(|r| matches!(r.source, Source::K8s | Source::Any) && r.key == CLUSTER_KEY);
        if !reserved && !names_cluster && id.get(&Source::K8s, CLUSTER_KEY) != Some(cluster) {
            return false;
        }
    }
    let ns_req = match &ps.injection {
        Injection::None => None,
        Injection::Namespace(ns) => Some(Requirement::equals(Source::K8s, NS_KEY, ns.as_str())),
        Injection::NamespaceBefore116(ns) if v < Version::new(1, 16) => {
            Some(Requirement::equals(Source::K8s, NS_KEY, ns.as_str()))
        }
        Injection::AnyNamespace => Some(Requirement::exists(Source::K8s, NS_KEY)),
        _ => None,
    };
    if let Some(r) = ns_req {
        if id.get(&r.source, &r.key).is_none_or(|val| match &r.op {
            Operator::In(vals) => !vals.iter().any(|x| x == val),
            _ => false,
        }) {
            return false;
        }
    }
    if ps.negative_namespace && v >= NOTIN_GUARD_SINCE && id.get(&Source::K8s, NS_KEY).is_none() {
        return false;
    }
    true
}

/// The reserved label of the API server's addresses (E8).
const KUBE_APISERVER: &str = "kube-apiserver";

/// The identity label that names a pod's cluster.
const CLUSTER_KEY: &str = "io.cilium.k8s.policy.cluster";

/// The release on which a NetworkPolicy selector with a key Cilium cannot extend selects everything
/// (`Rule::subject_unbuildable`, `PeerSelector::unbuildable`).
const UNBUILDABLE_SELECTS_EVERYTHING: Version = Version::new(1, 19);

/// PR #46996 (a NotIn namespace selector no longer selects reserved identities) is in the newest behaviour.
const NOTIN_GUARD_SINCE: Version = Version::new(1, 19);

/// An HTTP request as Prometheus sends it for a scrape.
#[derive(Debug, Clone)]
pub struct ScrapeRequest<'a> {
    pub path: &'a str,
    pub host: String,
}

impl<'a> ScrapeRequest<'a> {
    /// The request a scrape of `dest` on TCP/`port` sends (its Host is the pod's address).
    pub fn to(dest: &Pod, port: u16, path: &'a str) -> Self {
        ScrapeRequest {
            path,
            host: format!("{}:{port}", dest.pod_ip.as_deref().unwrap_or("")),
        }
    }
}

impl ScrapeRequest<'_> {
    /// R13: method, path and host are anchored regexes; listed headers must be present.
    fn matches(&self, rule: &HttpRule) -> bool {
        const SENT_HEADERS: &[&str] = &[
            "accept",
            "accept-encoding",
            "user-agent",
            "x-prometheus-scrape-timeout-seconds",
        ];
        static COMPILED: crate::regex_cache::Cache<String, Option<std::sync::Arc<regex::Regex>>> =
            crate::regex_cache::Cache::new();
        let full = |re: &Option<String>, value: &str| {
            re.as_ref().is_none_or(|re| {
                COMPILED
                    .get_or_compile(re.as_str(), |re: &str| {
                        regex::Regex::new(&format!("^(?:{re})$"))
                            .ok()
                            .map(std::sync::Arc::new)
                    })
                    .is_some_and(|r| r.is_match(value))
            })
        };
        full(&rule.method, "GET")
            && full(&rule.path, self.path)
            && full(&rule.host, &self.host)
            && rule.headers.iter().all(|h| match h.split_once(':') {
                None => SENT_HEADERS.contains(&h.trim().to_ascii_lowercase().as_str()),
                // Values Prometheus sends vary by version; a value match cannot be relied on.
                Some(_) => false,
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NetVerdict {
    Allowed,
    Denied,
    L7Denied,
}

/// Why a verdict came out as it did; condition reasons and messages hang on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    PolicyDisabled,
    DestinationHostNetwork,
    NotEnforced,
    AllowedByRule,
    NoDefaultDeny,
    Localhost,
    DeniedByRule,
    DefaultDeny,
    L7,
    AuditMode,
    /// The agent may read a policy of the pod in more than one way (`policy::Ambiguity`), and the
    /// readings disagree on this scrape.
    Ambiguous,
    /// A pod connecting to its own address: the kernel delivers it on the pod's loopback.
    SamePod,
}

/// R3: a pod's connection to its own address never leaves the pod's network namespace: the kernel
/// delivers it on loopback, where no Cilium program (and no NetworkPolicy) sees it, so it is allowed
/// whatever the policies say (a Prometheus that scrapes itself by pod IP). Shown on the real datapath
/// (`tests/cilium_datapath_diff.rs`); Cilium's policy engine, which only looks identities up, cannot
/// tell. `None` for two different pods.
pub fn same_pod(src: &Pod, dest: &Pod) -> Option<Decision> {
    is_same_pod(src, dest).then(|| Decision {
        verdict: NetVerdict::Allowed,
        basis: Basis::SamePod,
        rule: "R3",
        reason: "the scraper scrapes its own pod: a connection to the pod's own address stays on its loopback, where no network policy applies".to_string(),
        decided_by: vec![],
        side: Direction::Ingress,
    })
}

/// Up to 1.19 an egress rule's named port resolves against the named ports of every pod the agent knows
/// (`GetNamedPort(ingress=false)`, the ipcache's `NamedPortMultiMap`): a name that two pods give different
/// TCP numbers resolves to nothing (E4.4). From 1.20 it resolves per destination identity.
pub const EGRESS_NAMED_PORTS_PER_IDENTITY_SINCE: Version = Version::new(1, 20);

/// The pod an egress decision resolves named ports against (E4.4): up to 1.19 `dest` with, as its only
/// container, the TCP named ports of `cluster` (regular containers) that have exactly one number there;
/// from 1.20 `dest` itself. An egress decision reads only the ports of the pod it is given, so the view
/// serves every target of the cluster.
pub fn egress_port_view<'p>(
    cluster: impl IntoIterator<Item = &'p Pod>,
    dest: &Pod,
    v: Version,
) -> Pod {
    if v >= EGRESS_NAMED_PORTS_PER_IDENTITY_SINCE {
        return dest.clone();
    }
    let mut by_name: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for p in cluster {
        for c in p.containers.iter().filter(|c| !c.init) {
            for cp in c.ports.iter() {
                if let Some(name) = cp.name.as_deref().filter(|_| cp.number != 0) {
                    if cp.protocol.eq_ignore_ascii_case("TCP") {
                        let numbers = by_name.entry(name.to_ascii_lowercase()).or_default();
                        if !numbers.contains(&cp.number) {
                            numbers.push(cp.number);
                        }
                    }
                }
            }
        }
    }
    let ports: Vec<_> = by_name
        .into_iter()
        .filter(|(_, numbers)| numbers.len() == 1)
        .map(|(name, numbers)| crate::model::ContainerPort {
            name: Some(name),
            number: numbers[0],
            protocol: "TCP".to_string(),
        })
        .collect();
    let mut view = dest.clone();
    view.containers = vec![crate::model::Container {
        name: "cluster-named-ports".to_string(),
        init: false,
        native_sidecar: false,
        image: String::new(),
        ports: ports.into(),
        args: Vec::new(),
        env: Vec::new(),
    }]
    .into();
    view
}

/// E6: a scrape passes only if the scraper's egress and the target's ingress both allow it. `ingress` is
/// the target's decision, `egress` the scraper's (`None`: not decided, a hostNetwork scraper, E5).
/// The target's refusal is reported first (its remedy is scrapepath's to propose); when the egress
/// refuses too, the reason says so and names its policies as well. When only the egress refuses, the
/// decision is the egress one, its reason prefixed with the scraper pod (`egress of monitoring/p-0 ...`).
pub fn combine(ingress: Decision, egress: Option<Decision>, src: &Pod) -> Decision {
    let Some(egress) = egress.filter(|e| e.verdict != NetVerdict::Allowed) else {
        return ingress;
    };
    let what = match egress.verdict {
        NetVerdict::L7Denied => "is refused at L7",
        _ => "is denied",
    };
    let egress_text = format!(
        "egress of {}/{} {what}: {}",
        src.namespace, src.name, egress.reason
    );
    if ingress.verdict == NetVerdict::Allowed {
        return Decision {
            reason: egress_text,
            ..egress
        };
    }
    let mut out = ingress;
    out.reason = format!("{}; besides, {egress_text}", out.reason);
    for o in egress.decided_by {
        if !out.decided_by.contains(&o) {
            out.decided_by.push(o);
        }
    }
    out
}

/// Whether `src` connecting to `dest` is a pod connecting to its own address ([`same_pod`]).
pub fn is_same_pod(src: &Pod, dest: &Pod) -> bool {
    src.namespace == dest.namespace && src.name == dest.name && !dest.host_network
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: NetVerdict,
    pub basis: Basis,
    /// The rule of the spec that decided (`R6.4`, `D5.1`, ...).
    pub rule: &'static str,
    pub reason: String,
    pub decided_by: Vec<ObjRef>,
    /// Whose policy decided: the target's ingress, or the scraper's egress (`semantics/cilium-egress.md`).
    pub side: Direction,
}

/// The policies that apply to one pod in one direction, computed once and used for every peer and port:
/// a destination's ingress (`dir` Ingress, the name's origin) or a scraper's egress (`dir` Egress,
/// `semantics/cilium-egress.md`).
#[derive(Debug, Clone)]
pub struct DestPolicies<'a> {
    pub dir: Direction,
    pub selecting: Vec<(&'a Policy, &'a Rule)>,
    /// Policies Cilium rejects whose rules would select the pod.
    pub invalid: Vec<(&'a Policy, String)>,
    pub enforced: bool,
    pub default_deny: bool,
    /// The policies whose rules put the pod into default-deny.
    pub default_deny_by: Vec<ObjRef>,
}

fn has_effect(entries: &Option<Vec<Entry>>) -> bool {
    entries.as_ref().is_some_and(|e| !e.is_empty())
}

/// Whether the rule has allow or deny entries in `dir` (D3, E3).
fn has_effect_in(r: &Rule, dir: Direction) -> bool {
    let (allow, deny) = r.entries(dir);
    has_effect(allow) || has_effect(deny)
}

/// Whether this agent rejects the policy whole (its parser or sanitiser fails: the policy then has no
/// effect at all), with the reason Cilium gives; `None` when it accepts it. Decided per release and agent
/// setting by `sanitize`, once, when the policy is read.
pub fn rejected_by_agent(p: &Policy, s: &Settings) -> Option<String> {
    p.invalid.at(s).map(str::to_string)
}

impl<'a> DestPolicies<'a> {
    /// D2–D4 for `dest`, from candidate policies (the index narrows them; this checks every subject).
    /// `skip_managed` leaves out scrapepath's own policies (whether a remedy is needed, DESIGN.md §4.6).
    pub fn compute(
        settings: &Settings,
        dest: &Identity,
        candidates: impl IntoIterator<Item = &'a Policy>,
        skip_managed: bool,
    ) -> DestPolicies<'a> {
        Self::compute_in(Direction::Ingress, settings, dest, candidates, skip_managed)
    }

    /// [`DestPolicies::compute`] for either direction: `subject` is the identity of the pod whose
    /// ingress (the destination) or egress (the scraper) is decided.
    pub fn compute_in(
        dir: Direction,
        settings: &Settings,
        subject: &Identity,
        candidates: impl IntoIterator<Item = &'a Policy>,
        skip_managed: bool,
    ) -> DestPolicies<'a> {
        Self::compute_reading(dir, settings, subject, candidates, skip_managed, |p| {
            &p.rules
        })
    }

    /// The pod's policies under every other way the agent may read the ambiguous selectors of the
    /// candidates (`policy::Ambiguity`): empty when none is ambiguous, else up to
    /// `policy::MAX_VARIANTS` readings beside the one [`DestPolicies::compute`] gives. Each comes with the
    /// ambiguous policies it was read from.
    pub fn other_readings(
        settings: &Settings,
        dest: &Identity,
        candidates: &[&'a Policy],
        skip_managed: bool,
    ) -> Vec<DestPolicies<'a>> {
        Self::other_readings_in(Direction::Ingress, settings, dest, candidates, skip_managed)
    }

    /// [`DestPolicies::other_readings`] for either direction.
    pub fn other_readings_in(
        dir: Direction,
        settings: &Settings,
        dest: &Identity,
        candidates: &[&'a Policy],
        skip_managed: bool,
    ) -> Vec<DestPolicies<'a>> {
        let ambiguous: Vec<&'a Policy> = candidates
            .iter()
            .copied()
            .filter(|p| !(p.variants.is_empty() || skip_managed && p.managed_by.is_some()))
            .collect();
        if ambiguous.is_empty() {
            return Vec::new();
        }
        let radices: Vec<usize> = ambiguous.iter().map(|p| 1 + p.variants.len()).collect();
        crate::cilium::policy::combinations(&radices, crate::cilium::policy::MAX_VARIANTS)
            .into_iter()
            .skip(1)
            .map(|choice| {
                Self::compute_reading(
                    dir,
                    settings,
                    dest,
                    candidates.iter().copied(),
                    skip_managed,
                    |p| match ambiguous.iter().position(|a| std::ptr::eq(*a, p)) {
                        Some(i) if choice[i] > 0 => &p.variants[choice[i] - 1],
                        _ => &p.rules,
                    },
                )
            })
            .collect()
    }

    fn compute_reading(
        dir: Direction,
        settings: &Settings,
        dest: &Identity,
        candidates: impl IntoIterator<Item = &'a Policy>,
        skip_managed: bool,
        rules_of: impl Fn(&'a Policy) -> &'a [Rule],
    ) -> DestPolicies<'a> {
        let v = settings.version;
        let mut selecting = Vec::new();
        let mut invalid = Vec::new();
        for p in candidates {
            if skip_managed && p.managed_by.is_some() {
                continue;
            }
            // On 1.19 a NetworkPolicy subject Cilium cannot build keeps only its namespace: every
            // pod of the policy's namespace.
            let selects = |r: &Rule| match &r.subject {
                Subject::Endpoints(s)
                    if r.subject_unbuildable && v == UNBUILDABLE_SELECTS_EVERYTHING =>
                {
                    let mut ns_only = s.clone();
                    ns_only.requirements.retain(|q| q.key == NS_KEY);
                    ns_only.matches(dest)
                }
                Subject::Endpoints(s) => s.matches(dest),
                Subject::Nodes => false,
            };
            if let Some(why) = rejected_by_agent(p, settings) {
                if rules_of(p).iter().any(selects) {
                    invalid.push((p, why));
                }
                continue;
            }
            for r in rules_of(p) {
                if selects(r) {
                    selecting.push((p, r));
                }
            }
        }
        let enforcing: Vec<&(&Policy, &Rule)> = selecting
            .iter()
            .filter(|(_, r)| has_effect_in(r, dir))
            .collect();
        let enforced = !enforcing.is_empty() || settings.mode == EnforcementMode::Always;
        let mut default_deny_by: Vec<ObjRef> = Vec::new();
        for (p, r) in &enforcing {
            let flag = if v >= Version::new(1, 17) && !settings.non_default_deny_policies {
                true
            } else if v >= Version::new(1, 16) {
                r.default_deny(dir).unwrap_or(true)
            } else {
                true
            };
            if flag && !default_deny_by.contains(&p.obj) {
                default_deny_by.push(p.obj.clone());
            }
        }
        let default_deny = !default_deny_by.is_empty() || settings.mode == EnforcementMode::Always;
        DestPolicies {
            dir,
            selecting,
            invalid,
            enforced,
            default_deny,
            default_deny_by,
        }
    }

    /// The `fromRequires` of every selecting rule (R14): those of `ingress` elements constrain allows,
    /// those of `ingressDeny` elements constrain denies (two sets, as `resolveL4IngressPolicy` keeps them).
    fn requires(&self, v: Version, deny: bool) -> Vec<&'a PeerSelector> {
        if v >= Version::new(1, 19) {
            return Vec::new(); // fromRequires was removed in 1.19 (R14)
        }
        self.selecting
            .iter()
            .flat_map(|(_, r)| {
                let (allow, deny_entries) = r.entries(self.dir);
                if deny { deny_entries } else { allow }.iter().flatten()
            })
            .flat_map(|e| e.requires.iter())
            .collect()
    }
}

/// Does the entry's peer admit the peer identity (the source on ingress, the destination on egress)?
/// (R6–R11, R14, E4)
fn peer_matches(
    e: &Entry,
    src: &Identity,
    s: &Settings,
    requires: &[&PeerSelector],
    dir: Direction,
) -> bool {
    peer_admits(
        &e.peer,
        !matches!(e.ports, Ports::All),
        src,
        s,
        requires,
        dir,
    )
}

/// A peer kind the release does not know in this direction, so the agent decodes the element without
/// it: 1.15 has no `fromNodes`/`toNodes` and no `fromGroups` (`toGroups` it has).
fn unknown_to_release(peer: &Peer, v: Version, dir: Direction) -> bool {
    v < FROM_NODES_AND_GROUPS_SINCE
        && match peer {
            Peer::Nodes(_) => true,
            Peer::Groups => dir == Direction::Ingress,
            _ => false,
        }
}

/// `has_l4`: the element has ports or ICMP rules (then an element without peers is a wildcard).
fn peer_admits(
    peer: &Peer,
    has_l4: bool,
    src: &Identity,
    s: &Settings,
    requires: &[&PeerSelector],
    dir: Direction,
) -> bool {
    let v = s.version;
    match peer {
        // 1.15 has neither fromNodes nor (on ingress) fromGroups: the agent decodes the element
        // without them, so with ports it is a wildcard.
        p if unknown_to_release(p, v, dir) => has_l4,
        Peer::Union(kinds) => {
            let known: Vec<&Peer> = kinds
                .iter()
                .filter(|k| !unknown_to_release(k, v, dir))
                .collect();
            if known.is_empty() {
                has_l4
            } else {
                known
                    .iter()
                    .any(|k| peer_admits(k, has_l4, src, s, requires, dir))
            }
        }
        Peer::Wildcard => true,
        Peer::Nothing | Peer::Groups | Peer::Unresolved(_) => false,
        Peer::EmptyList {
            field,
            rest,
            derived,
        } => {
            empty_list_omitted(v, field, *derived)
                && peer_admits(rest, has_l4, src, s, requires, dir)
        }
        Peer::Endpoints(sels) => {
            sels.iter().any(|ps| peer_selector_matches(ps, src, s))
                && requires.iter().all(|rq| peer_selector_matches(rq, src, s))
        }
        Peer::Entities(ents) => ents.iter().any(|en| entity_matches(en, src)),
        // With policy-cidr-match-mode=nodes a node's identity carries the CIDR labels of its address
        // (never `world`). From 1.19 a /0 selects by the `world` label alone (`GetCIDRLabels`: no
        // `cidr:` label for a zero-length prefix), so it no longer selects a node.
        // E8.4: an address outside the nodes carries the CIDR labels of every prefix containing it.
        Peer::Cidr(cidrs) if src.kind == IdentityKind::World => src.node_ip.is_some_and(|ip| {
            cidrs.iter().any(|c| {
                if c.cidr.prefix == 0 {
                    zero_cidr_selects(c, cidrs, &ip, s)
                } else {
                    c.contains(&ip)
                }
            })
        }),
        Peer::Cidr(cidrs) => {
            s.cidr_match_nodes
                && matches!(src.kind, IdentityKind::Host | IdentityKind::RemoteNode)
                && src.node_ip.iter().chain(&src.host_ips).any(|ip| {
                    cidrs.iter().any(|c| {
                        (c.cidr.prefix > 0 || s.version < CIDR_ZERO_IS_WORLD_SINCE)
                            && c.contains(ip)
                    })
                })
        }
        Peer::Nodes(sels) => s.node_selector_labels && sels.iter().any(|sel| sel.matches(src)),
    }
}

/// The `world` label of an address family: `reserved:world`, `world-ipv4` or `world-ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorldLabel {
    World,
    V4,
    V6,
}

/// E8.4: which `world` label the ipcache gives the external address `ip` (`labels.GetCIDRLabels` →
/// `AddWorldLabel`). Up to 1.18: per family on a dual-stack agent, else `world`. From 1.19
/// (`getWorldLabel`): the family's own label whenever the *other* family is enabled, `world` only for
/// the one enabled family of a single-stack agent (so on an IPv4-only agent an IPv6 address is
/// `world-ipv6`).
fn world_label_of(ip: &IpAddr, s: &Settings) -> WorldLabel {
    let v6 = ip.is_ipv6();
    if s.version >= CIDR_ZERO_IS_WORLD_SINCE {
        return match (v6, s.enable_ipv4, s.enable_ipv6) {
            (false, _, true) => WorldLabel::V4,
            (true, true, _) => WorldLabel::V6,
            _ => WorldLabel::World,
        };
    }
    match (s.dual_stack(), v6) {
        (false, _) => WorldLabel::World,
        (true, false) => WorldLabel::V4,
        (true, true) => WorldLabel::V6,
    }
}

/// E8.4: does the zero-length CIDR `c` (one of `list`, the element's CIDRs of its kind) select the
/// external address `ip`? Cilium builds the selector by release and by the agent's address families:
/// * from 1.19 `IPStringToLabel` makes `0.0.0.0/0`/`::/0` the `world` label of *its* family
///   ([`world_label_of`] of the CIDR's address), for `toCIDR` and `toCIDRSet` alike;
/// * up to 1.18 a `toCIDR` list (`CIDRSlice.GetAsEndpointSelectors`; up to 1.16 `toCIDRSet` too, as the
///   set minus its excepts: a `/0` with an except is no `/0` there) selects `cidr:<c>` plus, dual-stack,
///   `world-ipv4`/`world-ipv6` for each family's `/0` (and `world` with both), single-stack `world`
///   only when the list has the `/0` of an **enabled** family (IPv4 first);
/// * 1.17/1.18 `toCIDRSet` (`CIDRRuleSlice.GetAsEndpointSelectors`) copies each `/0` with `world` on a
///   single-stack agent **whatever the CIDR's family**, `world-ipv4`/`world-ipv6` on a dual-stack one;
/// * up to 1.18 the `cidr:` label of a `/0` matches (by containment, `Label.HasKey`) an address that
///   carries the label of a longer policy prefix of its family (`s.policy_prefixes`).
///
/// `except` entries exclude the addresses they contain on every path.
fn zero_cidr_selects(c: &CidrRule, list: &[CidrRule], ip: &IpAddr, s: &Settings) -> bool {
    let v = s.version;
    let is_v6 = |r: &CidrRule| r.cidr.addr.is_ipv6();
    if c.set && v < Version::new(1, 17) && !c.except.is_empty() {
        // ComputeResultantCIDRSet: the /0 minus its excepts, prefixes that are not /0.
        return c.contains(ip);
    }
    if c.except.iter().any(|e| e.contains(ip)) {
        return false;
    }
    let id = world_label_of(ip, s);
    let own_family = |v6: bool| {
        if v6 {
            IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED)
        }
    };
    let world_path = if v >= CIDR_ZERO_IS_WORLD_SINCE {
        world_label_of(&own_family(is_v6(c)), s) == id
    } else if c.set && v >= Version::new(1, 17) {
        match (s.dual_stack(), is_v6(c)) {
            (false, _) => id == WorldLabel::World,
            (true, false) => id == WorldLabel::V4,
            (true, true) => id == WorldLabel::V6,
        }
    } else {
        let all = |v6: bool| {
            list.iter()
                .any(|r| r.cidr.prefix == 0 && is_v6(r) == v6 && (!r.set || r.except.is_empty()))
        };
        let (has4, has6) = (all(false), all(true));
        if s.dual_stack() {
            (id == WorldLabel::World && has4 && has6)
                || (id == WorldLabel::V4 && has4)
                || (id == WorldLabel::V6 && has6)
        } else {
            id == WorldLabel::World
                && ((s.enable_ipv4 && has4) || (!s.enable_ipv4 && s.enable_ipv6 && has6))
        }
    };
    let cidr_path = v < CIDR_ZERO_IS_WORLD_SINCE
        && is_v6(c) == ip.is_ipv6()
        && s.policy_prefixes.iter().any(|p| p.contains(ip));
    world_path || cidr_path
}

/// From 1.16 an explicitly empty L3 list makes the element select nothing (R11); before, it was as if
/// omitted.
const EMPTY_LIST_SELECTS_NOTHING_SINCE: Version = Version::new(1, 16);

/// From 1.20 the agent resolves `fromGroups`/`toGroups` itself; up to 1.19 it enforces the policy
/// cilium-operator derives, written back as JSON without its empty lists.
const GROUPS_RESOLVED_BY_AGENT_SINCE: Version = Version::new(1, 20);

/// Whether an explicitly empty L3 list is as if omitted for this release: before 1.16, and in a policy
/// the agent only sees as cilium-operator's derivative (`derived`) up to 1.19.
/// `fromCIDRSet`/`toCIDRSet` are `omitzero` in the JSON of those releases (not `omitempty`): an empty
/// list is written back as `[]`, so it survives the derivative and still selects nothing.
fn empty_list_omitted(v: Version, field: &str, derived: bool) -> bool {
    v < EMPTY_LIST_SELECTS_NOTHING_SINCE
        || (derived && v < GROUPS_RESOLVED_BY_AGENT_SINCE && field != "fromCIDRSet")
}

/// Port 0 with an endPort is the range 0..=endPort in these releases, every port in the others.
const ZERO_PORT_RANGE: Version = Version::new(1, 17);
const ZERO_PORT_RANGE_UNTIL: Version = Version::new(1, 19);

/// From 1.19 a CIDR of length 0 is the `world` entity, which no node identity carries (R9).
const CIDR_ZERO_IS_WORLD_SINCE: Version = Version::new(1, 19);

/// The release whose mapstate and policy map mishandle port 0 with an endPort (R12.1).
const MASKED_ZERO_PORT: Version = Version::new(1, 16);

/// `fromNodes` (R10) and ingress `fromGroups` exist from 1.16.
const FROM_NODES_AND_GROUPS_SINCE: Version = Version::new(1, 16);

/// From 1.20 allow-localhost is a rule the agent adds only to the ingress policy of an endpoint that some
/// rule with ingress (allow or deny) selects (`resolvePolicyLocked`: `len(rulesIngress) > 0`): under
/// `enable-policy=always` a pod that no rule selects, or only egress rules select, drops its host too.
const LOCALHOST_NEEDS_SELECTING_RULE_SINCE: Version = Version::new(1, 20);

/// How an entry's ports meet TCP/`port` on `dest` (R12).
struct PortHit<'a> {
    l4_only: bool,
    http: Vec<&'a HttpRule>,
}

/// Whether one port of a port rule admits TCP/`port` on `dest` (R12).
fn spec_hits(pp: &PortProtocol, dest: &Pod, port: u16, v: Version) -> bool {
    // endPort is honoured from 1.16; 1.15 allows the single port (a KNP with a warning, a CNP silently).
    let end_port_supported = v >= Version::new(1, 16);
    pp.protocol.admits_tcp()
        && match &pp.port {
            // Port 0 is every port; 1.17 to 1.19 read an endPort beside it as the range
            // 0..=endPort (1.16 and 1.20 ignore it).
            PortSpec::Number(0) if !(ZERO_PORT_RANGE..=ZERO_PORT_RANGE_UNTIL).contains(&v) => true,
            PortSpec::Number(p) => match pp.end_port {
                Some(end) if end_port_supported && end >= *p => (*p..=end).contains(&port),
                _ => *p == 0 || *p == port,
            },
            // A named port resolves against the destination's own container ports;
            // an endPort then extends it to a range, as for a number (Cilium ≥1.16).
            PortSpec::Named(name) => dest
                .containers
                .iter()
                .filter(|c| !c.init)
                .flat_map(|c| c.ports.iter())
                .filter(|cp| {
                    cp.protocol.eq_ignore_ascii_case("TCP")
                        && cp
                            .name
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .any(|cp| match pp.end_port {
                    Some(end) if end_port_supported && end >= cp.number => {
                        (cp.number..=end).contains(&port)
                    }
                    _ => cp.number == port,
                }),
        }
}

/// 1.16 (R12.1): port `0` with an `endPort` below 65535 is a masked port 0 there. The mapstate weighs
/// it as the wildcard port against narrower ports (`PortIsBroader` looks at the port alone), so only
/// its first block is kept, and the policy map writes that block as the protocol-wide key (`NewKey`:
/// port 0 has no port bits); but it is not *equal* to the wildcard port of an allow (the masks
/// differ), so a deny of it for every identity gets no precedence over an allow of the wildcard TCP
/// port for the source's own identity: both keys are protocol-wide, and the datapath's tie goes to the
/// identity's entry (`__policy_can_access`). Is `e` a deny of every identity that hits TCP/`port`
/// only through such a port?
fn masked_zero_deny_loses_tie(e: &Entry, dest: &Pod, port: u16, v: Version) -> bool {
    let masked_zero = |pp: &PortProtocol| {
        pp.port == PortSpec::Number(0) && pp.end_port.is_some_and(|e| e > 0 && e < u16::MAX)
    };
    let Ports::Rules(rules) = &e.ports else {
        return false;
    };
    v == MASKED_ZERO_PORT
        && selects_every_identity(&e.peer)
        && rules.iter().flat_map(|pr| pr.ports.iter()).any(masked_zero)
        && !rules
            .iter()
            .flat_map(|pr| pr.ports.iter())
            .any(|pp| !masked_zero(pp) && spec_hits(pp, dest, port, v))
}

/// A peer the policy map writes as identity 0: `toPorts` alone, the entity `all`, or a NetworkPolicy
/// rule without peers (Cilium's `WildcardSelectors`: the wildcard endpoint selector, nothing injected).
fn selects_every_identity(peer: &Peer) -> bool {
    match peer {
        Peer::Wildcard => true,
        Peer::Entities(ents) => ents.iter().any(|x| x == "all"),
        Peer::Endpoints(sels) => sels.iter().any(|ps| {
            ps.empty
                && ps.injection == Injection::None
                && !ps.cluster_filter
                && ps.selector.requirements.is_empty()
        }),
        _ => false,
    }
}

/// An allow entry that the policy map writes as the source identity's wildcard TCP port: a peer that
/// selects identities (not every identity) and a TCP (or any-protocol) port 0 without a range.
fn identity_wildcard_tcp_allow(e: &Entry) -> bool {
    let Ports::Rules(rules) = &e.ports else {
        return false;
    };
    !selects_every_identity(&e.peer)
        && rules.iter().flat_map(|pr| pr.ports.iter()).any(|pp| {
            pp.protocol.admits_tcp()
                && pp.port == PortSpec::Number(0)
                && matches!(pp.end_port, None | Some(0) | Some(u16::MAX))
        })
}

fn port_hit<'a>(e: &'a Entry, dest: &Pod, port: u16, v: Version) -> Option<PortHit<'a>> {
    port_hit_where(e, dest, port, v, |_, _| true)
}

/// [`port_hit`] over the ports of `e` that `keep` keeps (each with its port rule).
fn port_hit_where<'a>(
    e: &'a Entry,
    dest: &Pod,
    port: u16,
    v: Version,
    keep: impl Fn(&PortRule, &PortProtocol) -> bool,
) -> Option<PortHit<'a>> {
    let rules = match &e.ports {
        Ports::All => {
            return Some(PortHit {
                l4_only: true,
                http: Vec::new(),
            })
        }
        Ports::IcmpOnly => return None,
        Ports::Rules(r) => r,
    };
    let mut hit: Option<PortHit<'a>> = None;
    for pr in rules {
        // A port rule without ports contributes no port at all (Cilium iterates its port list).
        let matched = pr
            .ports
            .iter()
            .any(|pp| spec_hits(pp, dest, port, v) && keep(pr, pp));
        if matched {
            let h = hit.get_or_insert(PortHit {
                l4_only: false,
                http: Vec::new(),
            });
            match &pr.http {
                None => h.l4_only = true,
                Some(rules) => h.http.extend(rules.iter()),
            }
        }
    }
    hit
}

/// A port of an allow entry whose port rule redirects to an Envoy listener (E4.6), hitting the flow's
/// TCP port.
struct ListenerPort<'a> {
    policy: &'a Policy,
    entry: &'a Entry,
    name: &'a str,
    port: &'a PortProtocol,
}

/// The listener ports of the allow entries of `dp` (direction `dp.dir`) that hit TCP/`port` on `dest`
/// for a peer that selects `src`.
fn listener_ports<'a>(
    s: &Settings,
    dp: &DestPolicies<'a>,
    requires: &[&PeerSelector],
    dest: &Pod,
    src: &Identity,
    port: u16,
) -> Vec<ListenerPort<'a>> {
    let mut out = Vec::new();
    for (p, r) in &dp.selecting {
        for e in r.entries(dp.dir).0.iter().flatten() {
            let Ports::Rules(rules) = &e.ports else {
                continue;
            };
            for pr in rules {
                let Some(name) = pr.listener.as_deref() else {
                    continue;
                };
                for pp in &pr.ports {
                    if spec_hits(pp, dest, port, s.version)
                        && peer_matches(e, src, s, requires, dp.dir)
                    {
                        out.push(ListenerPort {
                            policy: p,
                            entry: e,
                            name,
                            port: pp,
                        });
                    }
                }
            }
        }
    }
    out
}

/// E4.6: the agent installs no policy map entry for port `pp` of port rule `pr` of the allow entry `e`
/// toward `src`. An entry redirected to an Envoy listener is written only once the listener's
/// CiliumEnvoyConfig has created it (`ToMapState`: "Skipping unrealized redirects"; 1.15
/// `toMapState`: a redirect entry without a proxy port is left out), and scrapepath reads no
/// CiliumEnvoyConfig: so (1) a listener's port rule allows nothing; (2) on the same TCP port filter
/// (`L4Filter`: the port as written, its range; `ANY` is split per protocol) the rules of one selector
/// merge (`mergePortProto`: the listener reference is merged in), so an allow whose selector a
/// listener's port also has is that same redirect; (3) a listener on a numbered port for every
/// identity (no L3, or the entity `all`) covers the other selectors' allows without L7 rules there
/// (`PerSelectorPolicy.covers`: their keys are skipped for the wildcard's, which is the redirect).
fn redirected_to_listener(
    e: &Entry,
    pr: &PortRule,
    pp: &PortProtocol,
    src: &Identity,
    listeners: &[ListenerPort<'_>],
) -> bool {
    let same_filter =
        |l: &PortProtocol| l.port == pp.port && l.end_port.unwrap_or(0) == pp.end_port.unwrap_or(0);
    let same_selector = |l: &Peer| match (l, &e.peer) {
        // One selector per entity: the entities of `e` that select `src` are all the listener's too.
        (Peer::Entities(ls), Peer::Entities(es)) => es
            .iter()
            .filter(|x| entity_matches(x, src))
            .all(|x| ls.contains(x)),
        (l, peer) => l == peer,
    };
    pr.listener.is_some()
        || listeners.iter().any(|l| {
            same_filter(l.port)
                && (same_selector(&l.entry.peer)
                    || (selects_every_identity(&l.entry.peer)
                        && pp.port != PortSpec::Number(0)
                        && pr.http.is_none()))
        })
}

/// D1–D5: may `src` open TCP/`port` on `dest`, and may the scrape request pass?
/// [`decide`] where the agent may read some policies of the pod in more than one way (`others`, from
/// [`DestPolicies::other_readings`]). When the readings disagree on this scrape, the answer is that it
/// may be dropped (`Basis::Ambiguous`, verdict `Denied`), naming the ambiguous selectors: which reading
/// an agent holds is chance, and a false "allowed" is the worst answer.
pub fn decide_readings(
    s: &Settings,
    dp: &DestPolicies<'_>,
    others: &[DestPolicies<'_>],
    dest: &Pod,
    src: &Identity,
    port: u16,
    req: &ScrapeRequest<'_>,
) -> Decision {
    let first = decide(s, dp, dest, src, port, req);
    let Some(other) = others
        .iter()
        .map(|o| decide(s, o, dest, src, port, req))
        .find(|d| d.verdict != first.verdict)
    else {
        return first;
    };
    let mut ambiguous: Vec<&Policy> = Vec::new();
    for reading in std::iter::once(dp).chain(others) {
        let policies = reading
            .selecting
            .iter()
            .map(|(p, _)| *p)
            .chain(reading.invalid.iter().map(|(p, _)| *p));
        for p in policies {
            if !p.ambiguities.is_empty() && !ambiguous.iter().any(|a| a.obj == p.obj) {
                ambiguous.push(p);
            }
        }
    }
    let say = |v: NetVerdict| match v {
        NetVerdict::Allowed => "allowed",
        NetVerdict::Denied => "dropped",
        NetVerdict::L7Denied => "refused at L7",
    };
    Decision {
        verdict: NetVerdict::Denied,
        basis: Basis::Ambiguous,
        rule: "R4.1",
        reason: format!(
            "the scrape may be dropped: {}; with one reading it is {} ({}), with another {} ({}). Remove the duplicate keys so that every agent reads the policy alike",
            ambiguous
                .iter()
                .flat_map(|p| p.ambiguities.iter().map(move |a| format!("{} {}", p.obj, a.describe())))
                .collect::<Vec<_>>()
                .join("; "),
            say(first.verdict),
            first.reason,
            say(other.verdict),
            other.reason
        ),
        decided_by: ambiguous.iter().map(|p| p.obj.clone()).collect(),
        side: dp.dir,
    }
}

pub fn decide(
    s: &Settings,
    dp: &DestPolicies<'_>,
    dest: &Pod,
    src: &Identity,
    port: u16,
    req: &ScrapeRequest<'_>,
) -> Decision {
    let decision = decide_enforced(s, dp, dest, src, port, req);
    if s.audit && decision.verdict != NetVerdict::Allowed {
        return Decision {
            verdict: NetVerdict::Allowed,
            basis: Basis::AuditMode,
            rule: "D1",
            reason: format!(
                "policy-audit-mode is on: the connection is allowed and only logged; without audit mode: {}",
                decision.reason
            ),
            decided_by: decision.decided_by,
            side: decision.side,
        };
    }
    decision
}

fn decide_enforced(
    s: &Settings,
    dp: &DestPolicies<'_>,
    dest: &Pod,
    src: &Identity,
    port: u16,
    req: &ScrapeRequest<'_>,
) -> Decision {
    let v = s.version;
    let dir = dp.dir;
    let allowed = |basis, rule, reason: String, by: Vec<ObjRef>| Decision {
        verdict: NetVerdict::Allowed,
        basis,
        rule,
        reason,
        decided_by: by,
        side: dir,
    };
    if s.mode == EnforcementMode::Never {
        return allowed(
            Basis::PolicyDisabled,
            "D1",
            "Cilium policy enforcement is disabled (enable-policy=never)".into(),
            vec![],
        );
    }
    let egress = dir == Direction::Egress;
    if dest.host_network && !egress {
        return allowed(
            Basis::DestinationHostNetwork,
            "R3",
            "the target runs in the host network namespace: it is not a Cilium policy subject"
                .into(),
            vec![],
        );
    }
    if !dp.enforced {
        return allowed(
            Basis::NotEnforced,
            if egress { "E3" } else { "D3" },
            if egress {
                "no policy with egress rules selects the scraper pod: its egress is not enforced"
            } else {
                "no policy with ingress rules selects the pod: ingress is not enforced"
            }
            .into(),
            vec![],
        );
    }
    let requires = dp.requires(v, false);
    let deny_requires = dp.requires(v, true);
    // D5.1: deny entries first, from every policy kind.
    for (p, r) in &dp.selecting {
        for e in r.entries(dir).1.iter().flatten() {
            if peer_matches(e, src, s, &deny_requires, dir) && port_hit(e, dest, port, v).is_some()
            {
                if masked_zero_deny_loses_tie(e, dest, port, v)
                    && dp.selecting.iter().any(|(_, r)| {
                        r.entries(dir).0.iter().flatten().any(|a| {
                            identity_wildcard_tcp_allow(a)
                                && peer_matches(a, src, s, &requires, dir)
                        })
                    })
                {
                    continue;
                }
                return Decision {
                    verdict: NetVerdict::Denied,
                    basis: Basis::DeniedByRule,
                    rule: if egress { "E5.1" } else { "D5.1" },
                    reason: format!(
                        "{} {} denies {}{} on TCP/{port}; deny rules take precedence over every allow",
                        p.obj,
                        e.path,
                        if egress { "egress to " } else { "" },
                        src.describe()
                    ),
                    decided_by: vec![p.obj.clone()],
                    side: dir,
                };
            }
        }
    }
    // D5.2: the union of allows, subject to L7 (R13).
    let mut l4_only: Option<(&Policy, &Entry)> = None;
    let mut http: Vec<(&Policy, &HttpRule)> = Vec::new();
    let listeners = listener_ports(s, dp, &requires, dest, src, port);
    for (p, r) in &dp.selecting {
        for e in r.entries(dir).0.iter().flatten() {
            if !peer_matches(e, src, s, &requires, dir) {
                continue;
            }
            let keep = |pr: &PortRule, pp: &PortProtocol| {
                !redirected_to_listener(e, pr, pp, src, &listeners)
            };
            if let Some(hit) = port_hit_where(e, dest, port, v, keep) {
                if hit.l4_only && l4_only.is_none() {
                    l4_only = Some((p, e));
                }
                http.extend(hit.http.into_iter().map(|h| (*p, h)));
            }
        }
    }
    if let Some((p, e)) = l4_only {
        return allowed(
            Basis::AllowedByRule,
            if egress { "E5.2" } else { "D5.2" },
            format!(
                "{} {} {} {} on TCP/{port}",
                p.obj,
                e.path,
                if egress { "allows egress to" } else { "admits" },
                src.describe()
            ),
            vec![p.obj.clone()],
        );
    }
    if !http.is_empty() {
        let mut by: Vec<ObjRef> = Vec::new();
        for (p, _) in &http {
            if !by.contains(&p.obj) {
                by.push(p.obj.clone());
            }
        }
        if let Some((p, _)) = http.iter().find(|(_, h)| req.matches(h)) {
            return allowed(
                Basis::AllowedByRule,
                "R13",
                format!(
                    "{} {} {} on TCP/{port} and its HTTP rules allow GET {}",
                    p.obj,
                    if egress { "allows egress to" } else { "admits" },
                    src.describe(),
                    req.path
                ),
                vec![p.obj.clone()],
            );
        }
        let allowed_list: Vec<String> = http
            .iter()
            .map(|(_, h)| {
                format!(
                    "{} {}",
                    h.method.as_deref().unwrap_or("*"),
                    h.path.as_deref().unwrap_or("*")
                )
            })
            .collect();
        return Decision {
            verdict: NetVerdict::L7Denied,
            basis: Basis::L7,
            rule: "R13",
            reason: format!(
                "TCP/{port} is admitted only through Envoy's HTTP rules ({}); GET {} matches none and gets HTTP 403",
                allowed_list.join(", "),
                req.path
            ),
            decided_by: by,
            side: dir,
        };
    }
    if !egress
        && src.kind == IdentityKind::Host
        && s.allow_localhost_always
        && (v < LOCALHOST_NEEDS_SELECTING_RULE_SINCE
            || dp
                .selecting
                .iter()
                .any(|(_, r)| has_effect_in(r, Direction::Ingress)))
    {
        return allowed(
            Basis::Localhost,
            "D5.4",
            "the scraper is the host of the target's node, which allow-localhost always admits"
                .into(),
            vec![],
        );
    }
    if !dp.default_deny {
        return allowed(
            Basis::NoDefaultDeny,
            if egress { "E3" } else { "D4" },
            format!(
                "no rule matches, but every selecting rule sets enableDefaultDeny.{}=false ({})",
                dir.as_str(),
                dp.selecting
                    .iter()
                    .map(|(p, _)| p.obj.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            vec![],
        );
    }
    if let Some(l) = listeners.first() {
        return Decision {
            verdict: NetVerdict::Denied,
            basis: Basis::DefaultDeny,
            rule: "E4.6",
            reason: format!(
                "{} {} sends TCP/{port} {} to the Envoy listener {} (a CiliumEnvoyConfig's), which scrapepath does not evaluate: the agent writes no policy entry for it until that listener exists (then Envoy decides), and no other rule allows the port; allow it with a port rule without a listener",
                l.policy.obj,
                l.entry.path,
                if egress { "toward" } else { "from" },
                l.name
            ),
            decided_by: listeners
                .iter()
                .map(|l| &l.policy.obj)
                .chain(&dp.default_deny_by)
                .fold(Vec::new(), |mut by, o| {
                    if !by.contains(o) {
                        by.push(o.clone());
                    }
                    by
                }),
            side: dir,
        };
    }
    Decision {
        verdict: NetVerdict::Denied,
        basis: Basis::DefaultDeny,
        rule: if egress { "E5.3" } else { "D5.3" },
        reason: explain_default_deny(s, dp, dest, src, port),
        decided_by: if dp.default_deny_by.is_empty() {
            vec![]
        } else {
            dp.default_deny_by.clone()
        },
        side: dir,
    }
}

/// A message a person can act on: which rules came close (right port, wrong peer) and why they miss.
fn explain_default_deny(
    s: &Settings,
    dp: &DestPolicies<'_>,
    dest: &Pod,
    src: &Identity,
    port: u16,
) -> String {
    let dir = dp.dir;
    let mut near = Vec::new();
    for (p, r) in &dp.selecting {
        for e in r.entries(dir).0.iter().flatten() {
            if port_hit(e, dest, port, s.version).is_some() {
                near.push(format!(
                    "{} {}: {}",
                    p.obj,
                    e.path,
                    explain_peer_miss(e, src, s, dir)
                ));
            }
        }
    }
    let isolation = if s.mode == EnforcementMode::Always && dp.default_deny_by.is_empty() {
        "enable-policy=always makes every pod default-deny".to_string()
    } else {
        format!(
            "the pod is default-deny for {} because of {}",
            dir.as_str(),
            dp.default_deny_by
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match (dir, near.is_empty()) {
        (Direction::Ingress, true) => format!(
            "{isolation}, and no rule admits TCP/{port} from any peer, so {} is dropped",
            src.describe()
        ),
        (Direction::Ingress, false) => format!(
            "{isolation}, and no rule admits {} on TCP/{port}: {}",
            src.describe(),
            near.join("; ")
        ),
        (Direction::Egress, true) => {
            // Name what the scraper may reach instead (the usual case: DNS only).
            let others: Vec<String> = dp
                .selecting
                .iter()
                .flat_map(|(p, r)| {
                    r.egress
                        .iter()
                        .flatten()
                        .filter(|e| !matches!(e.peer, Peer::Nothing))
                        .map(move |e| format!("{} {}", p.obj, e.path))
                })
                .collect();
            format!(
                "{isolation}, and no egress rule allows TCP/{port} to any peer, so the connection to {} is dropped{}",
                src.describe(),
                if others.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; its egress rules allow other ports or peers only: {}",
                        others.join(", ")
                    )
                }
            )
        }
        (Direction::Egress, false) => format!(
            "{isolation}, and no egress rule allows {} on TCP/{port}: {}",
            src.describe(),
            near.join("; ")
        ),
    }
}

fn explain_peer_miss(e: &Entry, src: &Identity, s: &Settings, dir: Direction) -> String {
    // The field names of the direction: `fromEndpoints` on ingress, `toEndpoints` on egress.
    let f = |kind: &str| match dir {
        Direction::Ingress => format!("from{kind}"),
        Direction::Egress => format!("to{kind}"),
    };
    match &e.peer {
        Peer::Endpoints(sels) => {
            if sels.iter().any(|ps| peer_selector_matches(ps, src, s)) {
                return format!(
                    "its peer matches, but the {} of another rule selecting the pod does not (R14)",
                    f("Requires")
                );
            }
            let parts: Vec<String> = sels
                .iter()
                .map(|ps| explain_selector_miss(ps, src, s, dir))
                .collect();
            parts.join("; ")
        }
        Peer::Entities(ents) => format!(
            "{} [{}] does not cover {} (R8; `cluster` covers every pod of the cluster)",
            f("Entities"),
            ents.join(", "),
            src.describe()
        ),
        Peer::Cidr(cidrs) if matches!(src.kind, IdentityKind::Host | IdentityKind::RemoteNode) => {
            if !s.cidr_match_nodes {
                format!("{}/ipBlock matches a node only with policy-cidr-match-mode=nodes (R9)", f("CIDR"))
            } else if s.version >= CIDR_ZERO_IS_WORLD_SINCE && cidrs.iter().any(|c| c.cidr.prefix == 0) {
                format!("{}/ipBlock 0.0.0.0/0 is the world entity from Cilium 1.19, which never matches a node: name the node's address range (R9)", f("CIDR"))
            } else {
                format!("{}/ipBlock does not contain the node's address (R9)", f("CIDR"))
            }
        }
        Peer::Cidr(cidrs) if src.kind == IdentityKind::World => {
            explain_address_cidr_miss(cidrs, src, &f("CIDR"))
        }
        Peer::Cidr(_) => format!(
            "{}/ipBlock never matches a Cilium-managed pod, even when its IP is in the range (R9)",
            f("CIDR")
        ),
        Peer::Nodes(_) => format!("{} matches only other nodes (R10)", f("Nodes")),
        Peer::Groups => format!("{} matches only external addresses", f("Groups")),
        Peer::Unresolved(field) => format!(
            "{field} selects no pod as far as scrapepath can tell offline: it is not decided here (E4); allow the target with toEndpoints"
        ),
        Peer::Union(kinds) => kinds
            .iter()
            .map(|k| explain_peer_miss(&Entry { peer: k.clone(), ..e.clone() }, src, s, dir))
            .collect::<Vec<_>>()
            .join("; "),
        Peer::EmptyList {
            field,
            rest,
            derived,
        } => {
            if empty_list_omitted(s.version, field, *derived) {
                explain_peer_miss(&Entry { peer: (**rest).clone(), ..e.clone() }, src, s, dir)
            } else {
                let field = match dir {
                    Direction::Ingress => field.to_string(),
                    Direction::Egress => field.replacen("from", "to", 1),
                };
                format!("`{field}: []` makes the element select nothing (R11)")
            }
        }
        Peer::Nothing => "the element has no peer and no port: it allows nothing (R11)".to_string(),
        Peer::Wildcard => "matches".to_string(),
    }
}

/// Why a CIDR peer misses an address no pod or node backs (E8.4): an `except` carves it out, only a
/// zero-length CIDR of the list contains it (selected by the `world` label of the release and the
/// address families), or no CIDR of the list contains it.
fn explain_address_cidr_miss(cidrs: &[CidrRule], src: &Identity, field: &str) -> String {
    let Some(ip) = src.node_ip else {
        return format!("{field}/ipBlock selects addresses, and the destination has none (E8.4)");
    };
    let text = |c: &Cidr| format!("{}/{}", c.addr, c.prefix);
    let list = cidrs
        .iter()
        .map(|c| text(&c.cidr))
        .collect::<Vec<_>>()
        .join(", ");
    if let Some((c, e)) = cidrs.iter().find_map(|c| {
        c.cidr
            .contains(&ip)
            .then(|| c.except.iter().find(|e| e.contains(&ip)).map(|e| (c, e)))
            .flatten()
    }) {
        return format!(
            "{field}/ipBlock {} contains the address {ip}, but its except {} carves it out (E8.4)",
            text(&c.cidr),
            text(e)
        );
    }
    if cidrs
        .iter()
        .any(|c| c.cidr.prefix == 0 && c.cidr.contains(&ip))
    {
        return format!(
            "{field}/ipBlock [{list}]: the address {ip} is contained only by a zero-length CIDR, which selects it only through the `world` label its release and address families give it, and here does not (E8.4)"
        );
    }
    format!("{field}/ipBlock [{list}] does not contain the address {ip} (E8.4)")
}

fn explain_selector_miss(
    ps: &PeerSelector,
    src: &Identity,
    s: &Settings,
    dir: Direction,
) -> String {
    let (field, who) = match dir {
        Direction::Ingress => ("fromEndpoints", "the scraper"),
        Direction::Egress => ("toEndpoints", "the target"),
    };
    let ns_of = |inj: &Injection| match inj {
        Injection::Namespace(ns) => Some(ns.clone()),
        Injection::NamespaceBefore116(ns) if s.version < Version::new(1, 16) => Some(ns.clone()),
        _ => None,
    };
    if src.kind != IdentityKind::Pod {
        let entity = if src.kind == IdentityKind::Host {
            "host"
        } else {
            "remote-node"
        };
        return match dir {
            Direction::Ingress => format!(
                "fromEndpoints selects pods only; {} needs fromEntities [{entity}] (R3, R8)",
                src.describe()
            ),
            Direction::Egress => format!(
                "toEndpoints selects pods only; the target is {} and needs toEntities [{entity}] (R3, R8, E1)",
                src.describe()
            ),
        };
    }
    let src_ns = src.get(&Source::K8s, NS_KEY).unwrap_or("?").to_string();
    if let Some(ns) = ns_of(&ps.injection) {
        if ns != src_ns {
            let written = if ps.empty {
                format!("{field} [{{}}]")
            } else {
                format!("{field} [{}]", ps.selector)
            };
            return format!(
                "{written} admits only pods of namespace {ns}: a CiliumNetworkPolicy adds its own namespace to a selector that names none (R6.4), so {src_ns} is not admitted"
            );
        }
    }
    let unmet: Vec<String> = ps
        .selector
        .unmet(src)
        .iter()
        .map(|r| {
            if is_identity_label(&r.key, s.version) || r.source == Source::Reserved {
                r.to_string()
            } else {
                format!("{r} (not an identity label: Cilium filters it out, R2)")
            }
        })
        .collect();
    if unmet.is_empty() {
        format!("{field} [{}] does not match {who}", ps.selector)
    } else {
        format!(
            "{field} [{}] needs {} which {who} does not have",
            ps.selector,
            unmet.join(", ")
        )
    }
}
