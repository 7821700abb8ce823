//! Random small clusters for the differential test against Cilium's own policy engine: Namespaces,
//! Nodes, Pods (with hostNetwork scrapers on the same and on other nodes), CiliumNetworkPolicies,
//! CiliumClusterwideNetworkPolicies, Kubernetes NetworkPolicies and the agent's `cilium-config`, and
//! the scrape flows to judge (every pod to every non-hostNetwork pod, on each of its TCP ports and one
//! port it does not declare).
//!
//! The generator walks every rule of `semantics/cilium-ingress.md` and every field of the ingress API:
//! empty lists and lists of empty elements, named ports, port ranges and port 0, protocols, entities,
//! CIDR rules with `except`, deny rules, `enableDefaultDeny`, `fromRequires`, `fromNodes`, selectors with
//! and without `k8s:`/`any:`/`reserved:` prefixes and namespace keys, labels the agent filters out of
//! identities (`statefulset.kubernetes.io/pod-name`, `pod-template-hash`, ...), combinations Cilium's
//! sanitiser rejects. It keeps to what the API server would store (the CRD schemas and the built-in
//! validation): input the API server refuses is another test's business (admission).
#![allow(dead_code)]

use serde_json::{json, Map, Value};

use super::rng::Rng;

/// One flow to judge: TCP from `src` to `dst` on `port` (pods as `namespace/name`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    pub src: String,
    pub dst: String,
    pub port: u16,
    pub protocol: String,
}

/// A generated cluster: its objects (one YAML stream) and its flows.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub seed: u64,
    pub objects: Vec<Value>,
    pub flows: Vec<Flow>,
}

impl Cluster {
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        for o in &self.objects {
            out.push_str("---\n");
            out.push_str(&serde_yaml_ng::to_string(o).expect("generated objects serialise"));
        }
        out
    }
}

const NAMESPACES: &[&str] = &["monitoring", "app", "other", "kube-system"];
const NODES: &[(&str, &str)] = &[("node-a", "172.18.0.10"), ("node-b", "172.18.0.11")];
const SERVICE_ACCOUNTS: &[&str] = &["default", "prometheus", "web"];
const CLUSTER_NAMES: &[&str] = &["default", "c1"];

/// Named container ports (name, number, protocol).
const PORTS: &[(&str, u16, &str)] = &[
    ("http-envoy-prom", 15090, "TCP"),
    ("http", 8080, "TCP"),
    ("metrics", 9090, "TCP"),
    ("dns", 53, "UDP"),
    ("dns-tcp", 53, "TCP"),
    ("web", 80, "TCP"),
    ("stats", 9102, "TCP"),
    ("sctp-port", 9200, "SCTP"),
];

/// (key, values) of pod labels; some are filtered out of identities by the agent.
const POD_LABELS: &[(&str, &[&str])] = &[
    ("app", &["web", "api", "prometheus"]),
    ("tier", &["frontend", "backend"]),
    ("app.kubernetes.io/name", &["prometheus", "web"]),
    ("pod-template-hash", &["abc12"]),
    (
        "statefulset.kubernetes.io/pod-name",
        &["web-0", "prometheus-0"],
    ),
    ("controller-revision-hash", &["rev1"]),
    ("apps.kubernetes.io/pod-index", &["0"]),
    ("io.cilium.k8s.policy.serviceaccount", &["spoofed"]),
    ("io.cilium.k8s.namespace.labels.team", &["spoofed"]),
    ("k8s-app", &["kube-dns"]),
    ("role", &["scraper", "target"]),
    ("topology.kubernetes.io/zone", &["z1"]),
    ("batch.kubernetes.io/job-name", &["j1"]),
];

const NS_LABELS: &[(&str, &[&str])] = &[
    ("team", &["obs", "web"]),
    ("env", &["prod", "dev"]),
    ("istio-injection", &["enabled"]),
];

const NODE_LABELS: &[(&str, &[&str])] = &[("role", &["worker", "infra"]), ("zone", &["z1", "z2"])];

/// The entities the CRD schema accepts (`world-ipv4`/`world-ipv6` are not in its enum: the API server
/// refuses them).
const ENTITIES: &[&str] = &[
    "all",
    "world",
    "cluster",
    "host",
    "remote-node",
    "kube-apiserver",
    "health",
    "init",
    "ingress",
    "unmanaged",
    "none",
];

const CIDRS: &[&str] = &[
    "10.244.0.0/16",
    "172.18.0.0/24",
    "172.18.0.10/32",
    "172.18.0.11/32",
    "0.0.0.0/0",
    "192.168.0.0/16",
];

/// With [`Shape::addresses`], the CIDRs also cover the addresses no pod backs ([`EXTERNAL_ADDRESSES`]):
/// external ranges (one `except` names one of their addresses) and IPv6, `::/0` included: which `world`
/// label a zero-length CIDR selects depends on the release, on `toCIDR` or `toCIDRSet` and on the
/// agent's address families (`semantics/cilium-egress.md` E8.4: on a single-stack agent 1.17 and 1.18
/// admit IPv4 addresses with `toCIDRSet: [{cidr: "::/0"}]`, 1.15–1.18 IPv6 ones with `0.0.0.0/0`).
const ADDRESS_CIDRS: &[&str] = &["203.0.113.0/24", "198.51.100.0/24", "2001:db8::/32", "::/0"];

/// Addresses no pod or node has (none in the pods' 10.244.0.0/16: Cilium's ipcache gives pod CIDRs the
/// world identity outside any policy prefix, a case of its own), scraped as ServiceMonitor endpoints
/// without a pod `targetRef` (semantics/cilium-egress.md E8).
const EXTERNAL_ADDRESSES: &[&str] = &[
    "172.18.0.50",
    "172.18.0.200",
    "192.168.1.5",
    "192.168.7.7",
    "203.0.113.7",
    "198.51.100.99",
    "2001:db8::7",
];

/// Where the API server runs when it is on no node (a managed control plane).
const API_SERVER_ELSEWHERE: &[&str] = &["172.18.0.5", "203.0.113.50"];

/// The nodes' ExternalIP addresses, when they have one.
const NODE_EXTERNAL_IPS: &[(&str, &str)] =
    &[("node-a", "198.51.100.10"), ("node-b", "198.51.100.11")];

/// The ports scraped at addresses: the ports the policies name, and the kubelet's and API server's.
const ADDRESS_PORTS: &[u16] = &[80, 8080, 9090, 15090, 9999, 10250, 6443];

/// What a cluster of one run looks like: the Cilium minor decides which fields exist.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// `fromRequires` exists up to 1.18 (it was removed in 1.19).
    pub from_requires: bool,
    /// `enableDefaultDeny` exists from 1.16.
    pub enable_default_deny: bool,
    /// From 1.17 the CRD requires one of ingress/ingressDeny/egress/egressDeny in each rule.
    pub section_required: bool,
    /// An `except` wider than its CIDR: refused from 1.20, accepted 1.17–1.19, and it crashes the 1.15
    /// and 1.16 agents (and their oracles), so it is generated from 1.17 only.
    pub wide_except: bool,
    /// VRRP and IGMP are protocols of the CRD from 1.19.
    pub portless_protocols: bool,
    /// Kafka and the generic `l7proto` rules exist up to 1.19.
    pub kafka: bool,
    /// `toFQDNs`: the oracles up to 1.18 cannot parse it (they do not initialise the agent's FQDN regex
    /// cache), so it is generated from 1.19 on.
    pub fqdns: bool,
    /// 1.15's CRD has no `endPort`, `fromNodes`, ingress `fromGroups` or generic `l7` rules: the API
    /// server refuses them there (strict field validation).
    pub since_1_16_fields: bool,
    /// Targets at addresses no pod backs (E8): the API server's EndpointSlice, nodes' ExternalIPs,
    /// dual-stack agents, a scraper egress policy, CIDRs covering external addresses, and flows
    /// `addr:<IP>` to node, API server and external addresses. Off in [`Shape::for_minor`] (the
    /// datapath differential realises the clusters on a real API server and agent); the oracle
    /// differential turns it on ([`Shape::with_addresses`]).
    pub addresses: bool,
}

impl Shape {
    pub fn for_minor(minor: u16) -> Shape {
        Shape {
            from_requires: minor <= 18,
            enable_default_deny: minor >= 16,
            section_required: minor >= 17,
            wide_except: minor >= 17,
            portless_protocols: minor >= 19,
            kafka: minor <= 19,
            fqdns: minor >= 19,
            since_1_16_fields: minor >= 16,
            addresses: false,
        }
    }

    /// The shape of `minor` with address targets ([`Shape::addresses`]).
    pub fn with_addresses(minor: u16) -> Shape {
        Shape {
            addresses: true,
            ..Shape::for_minor(minor)
        }
    }
}

struct Ctx<'r> {
    rng: &'r mut Rng,
    shape: Shape,
    namespaces: Vec<String>,
    /// Pod label values seen, for selectors that match something.
    pod_labels: Vec<(String, String)>,
}

pub fn generate(seed: u64, shape: Shape) -> Cluster {
    let mut rng = Rng::new(seed);
    let n_ns = rng.range(2, 4);
    let mut namespaces: Vec<String> = vec!["monitoring".into(), "app".into()];
    for ns in NAMESPACES.iter().skip(2).take(n_ns - 2) {
        namespaces.push(ns.to_string());
    }
    let mut objects = Vec::new();

    // Agent settings.
    let mut cluster_name = "default".to_string();
    if rng.chance(60) {
        let mut data = Map::new();
        let pct = rng.below(100);
        if pct < 12 {
            data.insert("enable-policy".into(), json!("always"));
        } else if pct < 20 {
            data.insert("enable-policy".into(), json!("never"));
        } else if pct < 30 {
            data.insert("enable-policy".into(), json!("default"));
        }
        if rng.chance(10) {
            data.insert("policy-audit-mode".into(), json!("true"));
        }
        if rng.chance(25) {
            data.insert(
                "allow-localhost".into(),
                json!(rng.pick(&["policy", "always", "auto"])),
            );
        }
        if rng.chance(25) {
            data.insert("policy-cidr-match-mode".into(), json!("nodes"));
        }
        if rng.chance(20) {
            data.insert("enable-non-default-deny-policies".into(), json!("false"));
        }
        if rng.chance(20) {
            data.insert("enable-node-selector-labels".into(), json!("true"));
        }
        if rng.chance(20) {
            cluster_name = rng.pick(CLUSTER_NAMES).to_string();
            data.insert("cluster-name".into(), json!(cluster_name));
        }
        objects.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cilium-config", "namespace": "kube-system"},
            "data": data,
        }));
    }

    for ns in &namespaces {
        let mut labels = Map::new();
        // The API server adds the name label; a manifest may or may not carry it.
        if rng.chance(50) {
            labels.insert("kubernetes.io/metadata.name".into(), json!(ns));
        }
        for (k, vs) in NS_LABELS {
            if rng.chance(40) {
                labels.insert(k.to_string(), json!(rng.pick(vs)));
            }
        }
        objects.push(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels},
        }));
    }
    for (name, ip) in NODES {
        let mut labels = Map::new();
        labels.insert("kubernetes.io/hostname".into(), json!(name));
        for (k, vs) in NODE_LABELS {
            if rng.chance(60) {
                labels.insert(k.to_string(), json!(rng.pick(vs)));
            }
        }
        objects.push(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
        }));
    }

    // Pods: at least one scraper in monitoring and one target in app.
    let n_pods = rng.range(4, 7);
    let mut pods = Vec::new();
    let mut pod_labels: Vec<(String, String)> = Vec::new();
    for i in 0..n_pods {
        let ns = match i {
            0 => "monitoring".to_string(),
            1 => "app".to_string(),
            _ => rng.pick(&namespaces).clone(),
        };
        let host_network = i >= 2 && rng.chance(20);
        let (node, node_ip) = *rng.pick(NODES);
        let mut labels = Map::new();
        if i == 0 {
            labels.insert("app".into(), json!("prometheus"));
        }
        for (k, vs) in POD_LABELS {
            if rng.chance(30) {
                let v = rng.pick(vs).to_string();
                pod_labels.push((k.to_string(), v.clone()));
                labels.insert(k.to_string(), json!(v));
            }
        }
        for (k, v) in &labels {
            pod_labels.push((k.clone(), v.as_str().unwrap_or_default().to_string()));
        }
        let ports = container_ports(&mut rng);
        let mut containers =
            vec![json!({"name": "main", "image": "example/app:1", "ports": ports})];
        if rng.chance(25) {
            containers.push(json!({"name": "sidecar", "image": "example/sidecar:1", "ports": container_ports(&mut rng)}));
        }
        let mut spec = json!({"containers": containers, "nodeName": node});
        if rng.chance(15) {
            spec["initContainers"] = json!([{"name": "init", "image": "example/init:1", "ports": container_ports(&mut rng)}]);
        }
        if rng.chance(60) {
            spec["serviceAccountName"] = json!(rng.pick(SERVICE_ACCOUNTS));
        }
        let ip = if host_network {
            spec["hostNetwork"] = json!(true);
            node_ip.to_string()
        } else {
            format!("10.244.{}.{}", if node == "node-a" { 1 } else { 2 }, 10 + i)
        };
        let name = format!("pod-{i}");
        pods.push((ns.clone(), name.clone(), host_network, spec.clone()));
        objects.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": spec,
            "status": {"phase": "Running", "podIP": ip, "hostIP": node_ip,
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }));
    }

    let mut ctx = Ctx {
        rng: &mut rng,
        shape,
        namespaces: namespaces.clone(),
        pod_labels,
    };
    let n_pol = ctx.rng.range(0, 4);
    for i in 0..n_pol {
        let p = ctx.rng.below(100);
        let obj = if p < 50 {
            cnp(&mut ctx, i)
        } else if p < 70 {
            ccnp(&mut ctx, i)
        } else {
            knp(&mut ctx, i)
        };
        objects.push(obj);
    }
    if shape.addresses && ctx.rng.chance(60) {
        objects.push(scraper_egress(&mut ctx, n_pol));
    }

    // Flows: every pod to every non-hostNetwork pod (itself included: it is a flow like any other),
    // on its declared TCP ports and one it does not declare; with addresses, to hostNetwork pods too.
    let mut flows = Vec::new();
    for (sns, sname, _, _) in &pods {
        for (dns, dname, dhost, dspec) in &pods {
            // A hostNetwork destination is a node for the source's egress (E1), only with addresses
            // (the datapath differential cannot realise its ports).
            if *dhost && !shape.addresses {
                continue;
            }
            let mut ports: Vec<u16> = dspec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                .map(|p| p["containerPort"].as_u64().unwrap_or(0) as u16)
                .collect();
            ports.push(9999);
            ports.sort_unstable();
            ports.dedup();
            for port in ports {
                flows.push(Flow {
                    src: format!("{sns}/{sname}"),
                    dst: format!("{dns}/{dname}"),
                    port,
                    protocol: "TCP".into(),
                });
            }
        }
    }
    let _ = cluster_name;
    if shape.addresses {
        let sources: Vec<String> = pods
            .iter()
            .map(|(ns, n, _, _)| format!("{ns}/{n}"))
            .collect();
        flows.extend(addresses(&mut rng, &mut objects, &sources));
    }
    Cluster {
        seed,
        objects,
        flows,
    }
}

/// The address side of a cluster ([`Shape::addresses`]): where the API server runs (its EndpointSlice
/// `default/kubernetes`, which the API server keeps: on a node, on two, elsewhere, or not given), the
/// nodes' ExternalIPs, a dual-stack agent now and then, and the flows from the scraper (`sources[0]`)
/// and a few other pods to every node address, every API server address and a few external ones.
fn addresses(rng: &mut Rng, objects: &mut Vec<Value>, sources: &[String]) -> Vec<Flow> {
    let mut node_ips: Vec<&str> = NODES.iter().map(|(_, ip)| *ip).collect();
    for (node, ip) in NODE_EXTERNAL_IPS {
        if !rng.chance(30) {
            continue;
        }
        node_ips.push(ip);
        let n = objects
            .iter_mut()
            .find(|o| o["kind"] == "Node" && o["metadata"]["name"] == *node)
            .expect("the generator writes every node");
        if let Some(a) = n["status"]["addresses"].as_array_mut() {
            a.push(json!({"type": "ExternalIP", "address": ip}));
        }
    }
    let p = rng.below(100);
    let api: Vec<&str> = if p < 20 {
        vec![]
    } else if p < 50 {
        vec![NODES[0].1]
    } else if p < 60 {
        vec![NODES[0].1, NODES[1].1]
    } else if p < 70 && node_ips.len() > NODES.len() {
        vec![node_ips[NODES.len()]] // a node's ExternalIP
    } else {
        vec![*rng.pick(API_SERVER_ELSEWHERE)]
    };
    if !api.is_empty() {
        objects.push(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": api.iter().map(|a| json!({"addresses": [a], "conditions": {"ready": true}})).collect::<Vec<_>>(),
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }));
    }
    if let Some(cm) = objects.iter_mut().find(|o| o["kind"] == "ConfigMap") {
        if rng.chance(25) {
            // A dual-stack agent: external addresses are world-ipv4/world-ipv6 from 1.16.
            cm["data"]["enable-ipv6"] = json!("true");
        }
    }
    // IPv6 addresses on IPv4-only agents too: their `world` label differs between releases (E8.4).
    let mut dests: Vec<&str> = node_ips;
    dests.extend(api);
    dests.extend(rng.subset(EXTERNAL_ADDRESSES, 2, 3));
    dests.sort_unstable();
    dests.dedup();
    let mut flows = Vec::new();
    for a in dests {
        let mut from = vec![sources[0].clone()];
        from.extend(rng.subset(&sources[1..], 0, 2));
        for src in from {
            for port in rng.subset(ADDRESS_PORTS, 1, 2) {
                flows.push(Flow {
                    src: src.clone(),
                    dst: format!("{ADDRESS_PREFIX}{a}"),
                    port,
                    protocol: "TCP".into(),
                });
            }
        }
    }
    flows
}

/// A flow's destination that is an address no pod backs: `addr:<IP>` (the oracle's syntax).
pub const ADDRESS_PREFIX: &str = "addr:";

impl Flow {
    /// The address of a flow to an address no pod backs (`addr:<IP>`), else `None` (a pod).
    pub fn address(&self) -> Option<&str> {
        self.dst.strip_prefix(ADDRESS_PREFIX)
    }
}

/// A policy of the scraper's own egress ([`Shape::addresses`]): a CNP in `monitoring` (or a CCNP) whose
/// subject is the scraper, with generated `egress`/`egressDeny` elements (every `to*` kind: entities,
/// CIDRs with `except`, endpoints, ports) and now and then `enableDefaultDeny.egress`.
fn scraper_egress(ctx: &mut Ctx<'_>, i: usize) -> Value {
    let mut r = Map::new();
    let subject = if ctx.rng.chance(50) {
        json!({"matchLabels": {"app": "prometheus"}})
    } else {
        json!({})
    };
    r.insert("endpointSelector".into(), subject);
    let n = ctx.rng.range(1, 3);
    let els: Vec<Value> = (0..n).map(|_| ctx.address_element(false)).collect();
    r.insert("egress".into(), json!(els));
    if ctx.rng.chance(25) {
        let n = ctx.rng.range(1, 2);
        let els: Vec<Value> = (0..n).map(|_| ctx.address_element(true)).collect();
        r.insert("egressDeny".into(), json!(els));
    }
    if ctx.shape.enable_default_deny && ctx.rng.chance(15) {
        r.insert("enableDefaultDeny".into(), json!({"egress": false}));
    }
    if ctx.rng.chance(30) {
        json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
            "metadata": {"name": format!("scraper-egress-{i}")},
            "spec": r,
        })
    } else {
        json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {"name": format!("scraper-egress-{i}"), "namespace": "monitoring"},
            "spec": r,
        })
    }
}

fn container_ports(rng: &mut Rng) -> Vec<Value> {
    let chosen = rng.subset(PORTS, 0, 3);
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut numbers = std::collections::BTreeSet::new();
    for (name, number, proto) in chosen {
        // The API server refuses two ports of one container with the same name or number+protocol.
        if !names.insert(name) || !numbers.insert((number, proto)) {
            continue;
        }
        let mut p = json!({"containerPort": number});
        if rng.chance(85) {
            p["name"] = json!(name);
        }
        if proto != "TCP" || rng.chance(50) {
            p["protocol"] = json!(proto);
        }
        out.push(p);
    }
    out
}

impl Ctx<'_> {
    fn label_value(&mut self, key: &str) -> String {
        let known: Vec<String> = self
            .pod_labels
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect();
        if !known.is_empty() && self.rng.chance(80) {
            return self.rng.pick(&known).clone();
        }
        match key {
            k if k.ends_with("io.kubernetes.pod.namespace") => {
                let mut all: Vec<String> = self.namespaces.clone();
                all.push("elsewhere".into());
                self.rng.pick(&all).clone()
            }
            k if k.ends_with("metadata.name") => self.rng.pick(&self.namespaces.clone()).clone(),
            k if k.ends_with(".team") => self.rng.pick(&["obs", "web"]).to_string(),
            k if k.ends_with(".env") => self.rng.pick(&["prod", "dev"]).to_string(),
            k if k.ends_with("serviceaccount") => self.rng.pick(SERVICE_ACCOUNTS).to_string(),
            k if k.ends_with("policy.cluster") => self.rng.pick(CLUSTER_NAMES).to_string(),
            _ => self
                .rng
                .pick(&["web", "api", "prometheus", "x"])
                .to_string(),
        }
    }

    /// A key for a Cilium selector, with or without a source prefix.
    fn cilium_key(&mut self) -> String {
        const KEYS: &[&str] = &[
            "app",
            "app",
            "tier",
            "role",
            "app.kubernetes.io/name",
            "io.kubernetes.pod.namespace",
            "io.cilium.k8s.namespace.labels.team",
            "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name",
            "io.cilium.k8s.namespace.labels.env",
            "io.cilium.k8s.policy.serviceaccount",
            "io.cilium.k8s.policy.cluster",
            "pod-template-hash",
            "statefulset.kubernetes.io/pod-name",
            "controller-revision-hash",
            "apps.kubernetes.io/pod-index",
            "k8s-app",
            "topology.kubernetes.io/zone",
        ];
        let key = self.rng.pick(KEYS).to_string();
        let p = self.rng.below(100);
        if p < 45 {
            key
        } else if p < 85 {
            format!("k8s:{key}")
        } else if p < 92 {
            format!("any:{key}")
        } else if key == "io.kubernetes.pod.namespace" || p < 95 {
            // A dotted "prefix" is no prefix at all (a literal key that never matches).
            format!("k8s.{key}")
        } else {
            format!("container:{key}")
        }
    }

    /// A Cilium `EndpointSelector`.
    fn cilium_selector(&mut self) -> Value {
        let p = self.rng.below(100);
        if p < 15 {
            return json!({});
        }
        if p < 20 {
            // Reserved identities.
            let r = self
                .rng
                .pick(&["host", "remote-node", "world", "health", "kube-apiserver"]);
            return json!({"matchLabels": {format!("reserved:{r}"): ""}});
        }
        let mut sel = Map::new();
        if self.rng.chance(70) {
            let mut ml = Map::new();
            for _ in 0..self.rng.range(1, 2) {
                let k = self.cilium_key();
                let bare = k
                    .rsplit_once(':')
                    .map(|(_, b)| b.to_string())
                    .unwrap_or(k.clone());
                let v = self.label_value(&bare);
                ml.insert(k, json!(v));
            }
            sel.insert("matchLabels".into(), Value::Object(ml));
        }
        if sel.is_empty() || self.rng.chance(35) {
            let mut exprs = Vec::new();
            for _ in 0..self.rng.range(1, 2) {
                let k = self.cilium_key();
                let bare = k
                    .rsplit_once(':')
                    .map(|(_, b)| b.to_string())
                    .unwrap_or(k.clone());
                let op = *self.rng.pick(&["In", "NotIn", "Exists", "DoesNotExist"]);
                let mut e = json!({"key": k, "operator": op});
                if op == "In" || op == "NotIn" {
                    let n = self.rng.range(1, 2);
                    let vals: Vec<String> = (0..n).map(|_| self.label_value(&bare)).collect();
                    e["values"] = json!(vals);
                }
                exprs.push(e);
            }
            sel.insert("matchExpressions".into(), json!(exprs));
        }
        let mut sel = Value::Object(sel);
        if self.rng.chance(3) {
            self.corrupt_selector(&mut sel);
        }
        sel
    }

    /// A plain Kubernetes label selector (KNP: keys must be valid label keys).
    fn k8s_selector(&mut self, namespace_labels: bool) -> Value {
        if self.rng.chance(20) {
            return json!({});
        }
        let keys: &[&str] = if namespace_labels {
            &[
                "kubernetes.io/metadata.name",
                "team",
                "env",
                "istio-injection",
            ]
        } else {
            &[
                "app",
                "tier",
                "role",
                "app.kubernetes.io/name",
                "pod-template-hash",
                "statefulset.kubernetes.io/pod-name",
                "k8s-app",
            ]
        };
        let key = if self.rng.chance(3) {
            // Valid for the API server, too long for Cilium up to 1.18 once prefixed.
            long_key(namespace_labels).to_string()
        } else {
            self.rng.pick(keys).to_string()
        };
        let value = |ctx: &mut Ctx<'_>, key: &str| -> String {
            if namespace_labels {
                ctx.label_value(&format!("io.cilium.k8s.namespace.labels.{key}"))
            } else {
                ctx.label_value(key)
            }
        };
        if self.rng.chance(65) {
            let v = value(self, &key);
            json!({"matchLabels": {key: v}})
        } else {
            let op = *self.rng.pick(&["In", "NotIn", "Exists", "DoesNotExist"]);
            let mut e = json!({"key": key, "operator": op});
            if op == "In" || op == "NotIn" {
                let v = value(self, &key);
                e["values"] = json!([v]);
            }
            json!({"matchExpressions": [e]})
        }
    }

    fn port_protocol(&mut self, deny: bool) -> Value {
        let _ = deny;
        let port = *self.rng.pick(&[
            "15090",
            "8080",
            "9090",
            "80",
            "53",
            "0",
            "9999",
            "http-envoy-prom",
            "http",
            "metrics",
            "dns",
            "web",
            "stats",
        ]);
        let mut pp = json!({"port": port});
        let p = self.rng.below(100);
        if p < 35 {
            // no protocol: ANY
        } else if p < 70 {
            pp["protocol"] = json!("TCP");
        } else if p < 80 {
            pp["protocol"] = json!("UDP");
        } else if p < 92 {
            pp["protocol"] = json!("ANY");
        } else {
            pp["protocol"] = json!("SCTP");
        }
        if self.shape.since_1_16_fields && self.rng.chance(20) {
            let end = *self.rng.pick(&[9000u16, 9100, 15100, 8081, 65535, 80]);
            pp["endPort"] = json!(end);
        }
        if self.rng.chance(4) {
            self.invalid_port(&mut pp);
        }
        pp
    }

    fn ports_field(&mut self, deny: bool) -> Option<Value> {
        let p = self.rng.below(100);
        if p < 40 {
            return None;
        }
        if p < 45 {
            return Some(json!([]));
        }
        if p < 48 {
            return Some(json!([{}]));
        }
        if p < 53 {
            return Some(json!([{"ports": []}]));
        }
        let n = self.rng.range(1, 2);
        let mut rules = Vec::new();
        for _ in 0..n {
            let ports: Vec<Value> = (0..self.rng.range(1, 2))
                .map(|_| self.port_protocol(deny))
                .collect();
            let mut r = json!({"ports": ports});
            if !deny && self.rng.chance(10) {
                let mut h = Map::new();
                if self.rng.chance(70) {
                    h.insert(
                        "method".into(),
                        json!(self.rng.pick(&["GET", "POST", "G.*"])),
                    );
                }
                if self.rng.chance(70) {
                    h.insert(
                        "path".into(),
                        json!(self.rng.pick(&["/metrics", "/stats/prometheus", "/.*"])),
                    );
                }
                r["rules"] = json!({"http": [Value::Object(h)]});
            }
            if !deny && self.rng.chance(6) {
                self.port_rule_extras(&mut r);
            }
            rules.push(r);
        }
        Some(Value::Array(rules))
    }

    /// The CIDRs rules name: [`CIDRS`], and with [`Shape::addresses`] [`ADDRESS_CIDRS`].
    fn cidrs(&self) -> Vec<&'static str> {
        let extra: &[&str] = if self.shape.addresses {
            ADDRESS_CIDRS
        } else {
            &[]
        };
        CIDRS.iter().chain(extra).copied().collect()
    }

    fn cidr_set(&mut self) -> Value {
        let cidr = *self.rng.pick(&self.cidrs());
        let mut c = json!({"cidr": cidr});
        if self.rng.chance(35) {
            let excepts: &[&str] = if self.shape.addresses {
                &[
                    "172.18.0.10/32",
                    "10.244.1.0/24",
                    "172.18.0.0/25",
                    "192.168.1.0/24",
                    "203.0.113.7/32",
                    "198.51.100.10/32",
                ]
            } else {
                &[
                    "172.18.0.10/32",
                    "10.244.1.0/24",
                    "172.18.0.0/25",
                    "192.168.1.0/24",
                ]
            };
            let ex = *self.rng.pick(excepts);
            c["except"] = json!([ex]);
        }
        if self.shape.wide_except && self.rng.chance(4) {
            // An except wider than its CIDR (its address inside the CIDR).
            c = json!({"cidr": "172.18.0.0/24", "except": ["172.18.0.0/16"]});
        }
        c
    }

    /// One `ingress`/`ingressDeny` element.
    fn ingress_element(&mut self, deny: bool) -> Value {
        let mut e = Map::new();
        // The L3 part: none, one kind, or (rarely) two kinds, which Cilium rejects.
        let kinds = if self.rng.chance(6) { 2 } else { 1 };
        for _ in 0..kinds {
            let p = self.rng.below(100);
            if p < 12 {
                continue; // no L3 field
            } else if p < 45 {
                let n = self.rng.range(0, 2);
                let sels: Vec<Value> = (0..n).map(|_| self.cilium_selector()).collect();
                e.insert("fromEndpoints".into(), json!(sels));
            } else if p < 65 {
                let ents = self.rng.subset(ENTITIES, 0, 2);
                e.insert("fromEntities".into(), json!(ents));
            } else if p < 72 {
                let cidrs = self.rng.subset(&self.cidrs(), 0, 2);
                e.insert("fromCIDR".into(), json!(cidrs));
            } else if p < 80 {
                let n = self.rng.range(0, 2);
                let set: Vec<Value> = (0..n).map(|_| self.cidr_set()).collect();
                e.insert("fromCIDRSet".into(), json!(set));
            } else if p < 86 && self.shape.since_1_16_fields {
                let sel = if self.rng.chance(50) {
                    json!({"matchLabels": {"role": self.rng.pick(&["worker", "infra"])}})
                } else {
                    json!({})
                };
                e.insert("fromNodes".into(), json!([sel]));
            } else if p < 93 && self.shape.from_requires {
                let sel = self.cilium_selector();
                e.insert("fromRequires".into(), json!([sel]));
            } else if p < 95 && self.shape.since_1_16_fields {
                e.insert(
                    "fromGroups".into(),
                    json!([{"aws": {"securityGroupsIds": ["sg-1"]}}]),
                );
            } else {
                let n = self.rng.range(1, 2);
                let sels: Vec<Value> = (0..n).map(|_| self.cilium_selector()).collect();
                e.insert("fromEndpoints".into(), json!(sels));
            }
        }
        if let Some(tp) = self.ports_field(deny) {
            e.insert("toPorts".into(), tp);
        }
        if self.rng.chance(5) {
            e.insert("icmps".into(), json!([{"fields": [{"type": 8}]}]));
        }
        if deny && self.rng.chance(2) {
            // Deny port rules have no item limit in the CRD; the sanitiser allows 40 ports.
            let ports: Vec<Value> = (9000..9041)
                .map(|p| json!({"port": p.to_string(), "protocol": "TCP"}))
                .collect();
            e.insert("toPorts".into(), json!([{ "ports": ports }]));
        }
        Value::Object(e)
    }

    /// One `egress`/`egressDeny` element: an ingress element with its `from*` peers as the `to*` ones
    /// (the same kinds and shapes, semantics/cilium-egress.md E4). Named ports become their numbers:
    /// on egress Cilium resolves a name against the named ports of every pod of the cluster
    /// (E4.4), which neither scrapepath nor the oracle models.
    fn egress_element(&mut self, deny: bool) -> Value {
        let Value::Object(e) = self.ingress_element(deny) else {
            unreachable!("an element is an object")
        };
        let mut out = Map::new();
        for (k, v) in e {
            let k = match k.strip_prefix("from") {
                Some(kind) => format!("to{kind}"),
                None => k,
            };
            out.insert(k, v);
        }
        for rule in out
            .get_mut("toPorts")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            for pp in rule
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let named = pp["port"].as_str().and_then(|name| {
                    PORTS
                        .iter()
                        .find(|(n, _, _)| *n == name)
                        .map(|(_, number, _)| number.to_string())
                });
                if let Some(number) = named {
                    pp["port"] = json!(number);
                }
            }
            // DNS rules are valid on egress, but the oracles up to 1.18 cannot parse them (no FQDN
            // regex cache, as for `toFQDNs`).
            if !self.shape.fqdns && rule.pointer("/rules/dns").is_some() {
                if let Some(r) = rule.as_object_mut() {
                    r.remove("rules");
                }
            }
        }
        Value::Object(out)
    }

    /// An `egress`/`egressDeny` element of a scraper's egress policy ([`scraper_egress`]): half the time
    /// a generated one ([`Ctx::egress_element`]), else one aimed at addresses: the entities an address
    /// can be (`host`, `remote-node`, `kube-apiserver`, `world`, `cluster`, `all`) or CIDRs (with
    /// `except`), on numbered ports or all.
    fn address_element(&mut self, deny: bool) -> Value {
        if self.rng.chance(50) {
            return self.egress_element(deny);
        }
        const ENTITIES: &[&str] = &[
            "host",
            "remote-node",
            "kube-apiserver",
            "world",
            "cluster",
            "all",
        ];
        let mut e = Map::new();
        match self.rng.below(3) {
            0 => {
                e.insert("toEntities".into(), json!(self.rng.subset(ENTITIES, 1, 2)));
            }
            1 => {
                e.insert("toCIDR".into(), json!(self.rng.subset(&self.cidrs(), 1, 2)));
            }
            _ => {
                e.insert("toCIDRSet".into(), json!([self.cidr_set()]));
            }
        }
        if self.rng.chance(40) {
            let port = *self.rng.pick(&["80", "9090", "10250", "6443", "15090"]);
            let proto = *self.rng.pick(&["TCP", "ANY", "UDP"]);
            e.insert(
                "toPorts".into(),
                json!([{"ports": [{"port": port, "protocol": proto}]}]),
            );
        }
        Value::Object(e)
    }

    /// `n` `egress` (or, `deny`, `egressDeny`) elements.
    fn egress_elements(&mut self, n: usize, deny: bool) -> Value {
        json!((0..n)
            .map(|_| self.egress_element(deny))
            .collect::<Vec<_>>())
    }

    /// A CNP/CCNP rule (`spec` or one of `specs`).
    fn rule(&mut self, clusterwide: bool) -> Value {
        let mut r = Map::new();
        if clusterwide && self.rng.chance(6) {
            r.insert(
                "nodeSelector".into(),
                json!({"matchLabels": {"role": "worker"}}),
            );
        } else if !clusterwide && self.rng.chance(2) {
            // A CNP may not have a nodeSelector (in `specs`, checked from 1.18 only).
            r.insert("nodeSelector".into(), json!({}));
        } else {
            r.insert("endpointSelector".into(), self.cilium_selector());
        }
        let p = self.rng.below(100);
        // Which sections: ingress, ingressDeny, both, or neither (then egress, below: the CRD schema
        // requires one of ingress, ingressDeny, egress, egressDeny).
        let (ing, deny) = if p < 55 {
            (true, false)
        } else if p < 70 {
            (false, true)
        } else if p < 92 {
            (true, true)
        } else {
            (false, false)
        };
        for (field, present, is_deny) in [("ingress", ing, false), ("ingressDeny", deny, true)] {
            if !present {
                continue;
            }
            let n = if self.rng.chance(8) {
                0
            } else {
                self.rng.range(1, 3)
            };
            let els: Vec<Value> = (0..n).map(|_| self.ingress_element(is_deny)).collect();
            r.insert(field.into(), json!(els));
        }
        // Egress sections decide the source's side of a flow (semantics/cilium-egress.md): generated
        // elements (every `to*` peer kind, ports, L7, deny) or one of the shapes the sanitiser judges.
        let egress = !ing && !deny || self.rng.chance(35);
        if egress && self.rng.chance(25) {
            r.insert("egress".into(), self.egress_section());
        } else if egress {
            let n = if self.rng.chance(8) {
                0
            } else {
                self.rng.range(1, 3)
            };
            r.insert("egress".into(), self.egress_elements(n, false));
        }
        if self.rng.chance(12) {
            let n = self.rng.range(1, 2);
            r.insert("egressDeny".into(), self.egress_elements(n, true));
        }
        if self.shape.enable_default_deny && self.rng.chance(25) {
            let mut d = Map::new();
            if self.rng.chance(85) {
                d.insert("ingress".into(), json!(self.rng.chance(60)));
            }
            if self.rng.chance(30) {
                d.insert("egress".into(), json!(self.rng.chance(50)));
            }
            r.insert("enableDefaultDeny".into(), Value::Object(d));
        }
        Value::Object(r)
    }

    fn cilium_spec(&mut self, obj: &mut Value, clusterwide: bool) {
        let p = self.rng.below(100);
        if p < 85 {
            obj["spec"] = self.rule(clusterwide);
        } else if p < 95 {
            let n = self.rng.range(1, 2);
            obj["specs"] = json!((0..n).map(|_| self.rule(clusterwide)).collect::<Vec<_>>());
        } else {
            obj["spec"] = self.rule(clusterwide);
            obj["specs"] = json!([self.rule(clusterwide)]);
        }
    }
}

fn cnp(ctx: &mut Ctx<'_>, i: usize) -> Value {
    let ns = if ctx.rng.chance(55) {
        "app".to_string()
    } else if ctx.rng.chance(50) {
        // The scraper's namespace: its egress.
        "monitoring".to_string()
    } else {
        ctx.rng.pick(&ctx.namespaces.clone()).clone()
    };
    let mut o = json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": format!("cnp-{i}"), "namespace": ns},
    });
    ctx.cilium_spec(&mut o, false);
    o
}

fn ccnp(ctx: &mut Ctx<'_>, i: usize) -> Value {
    let mut o = json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
        "metadata": {"name": format!("ccnp-{i}")},
    });
    ctx.cilium_spec(&mut o, true);
    o
}

fn knp(ctx: &mut Ctx<'_>, i: usize) -> Value {
    let ns = if ctx.rng.chance(70) {
        "app".to_string()
    } else {
        ctx.rng.pick(&ctx.namespaces.clone()).clone()
    };
    let mut spec = Map::new();
    spec.insert("podSelector".into(), ctx.k8s_selector(false));
    let p = ctx.rng.below(100);
    if p < 40 {
        spec.insert("policyTypes".into(), json!(["Ingress"]));
    } else if p < 50 {
        spec.insert("policyTypes".into(), json!(["Egress"]));
    } else if p < 65 {
        spec.insert("policyTypes".into(), json!(["Ingress", "Egress"]));
    }
    let p = ctx.rng.below(100);
    if p < 75 {
        let rules = knp_rules(ctx, "from", true);
        spec.insert("ingress".into(), json!(rules));
    }
    let p = ctx.rng.below(100);
    if p < 10 {
        spec.insert("egress".into(), json!([{}]));
    } else if p < 40 {
        // Egress rules decide the source's side (semantics/cilium-egress.md E2); no named ports, which
        // Cilium resolves against every pod of the cluster on egress (E4.4).
        let rules = knp_rules(ctx, "to", false);
        spec.insert("egress".into(), json!(rules));
    }
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": format!("knp-{i}"), "namespace": ns},
        "spec": spec,
    })
}

/// The `ingress` (`peers_key` "from") or `egress` ("to") rules of a NetworkPolicy: peers of every kind,
/// ports by number or (with `named_ports`) by name.
fn knp_rules(ctx: &mut Ctx<'_>, peers_key: &str, named_ports: bool) -> Vec<Value> {
    let n = ctx.rng.range(0, 3);
    let mut rules = Vec::new();
    for _ in 0..n {
        let mut r = Map::new();
        let q = ctx.rng.below(100);
        if q < 70 {
            let m = ctx.rng.range(0, 2);
            let mut from = Vec::new();
            for _ in 0..m {
                let kind = ctx.rng.below(100);
                let peer = if kind < 35 {
                    json!({"podSelector": ctx.k8s_selector(false)})
                } else if kind < 70 {
                    json!({"namespaceSelector": ctx.k8s_selector(true)})
                } else if kind < 88 {
                    json!({"podSelector": ctx.k8s_selector(false), "namespaceSelector": ctx.k8s_selector(true)})
                } else {
                    let cidr = *ctx
                        .rng
                        .pick(&["10.244.0.0/16", "172.18.0.0/24", "0.0.0.0/0"]);
                    let mut b = json!({"cidr": cidr});
                    if ctx.rng.chance(40) {
                        let ex = match cidr {
                            "10.244.0.0/16" => "10.244.1.0/24",
                            "172.18.0.0/24" => "172.18.0.10/32",
                            _ => "172.18.0.0/24",
                        };
                        b["except"] = json!([ex]);
                    }
                    json!({"ipBlock": b})
                };
                from.push(peer);
            }
            r.insert(peers_key.into(), json!(from));
        }
        if ctx.rng.chance(60) {
            let m = ctx.rng.range(0, 2);
            let mut ports = Vec::new();
            for _ in 0..m {
                let mut pp = Map::new();
                let proto = ctx.rng.below(100);
                if proto < 40 {
                    pp.insert("protocol".into(), json!("TCP"));
                } else if proto < 50 {
                    pp.insert("protocol".into(), json!("UDP"));
                } else if proto < 55 {
                    pp.insert("protocol".into(), json!("SCTP"));
                }
                let port = ctx.rng.below(100);
                if port < 45 {
                    let n = *ctx.rng.pick(&[15090u16, 8080, 9090, 80, 53, 9000]);
                    pp.insert("port".into(), json!(n));
                    if ctx.rng.chance(25) {
                        let end = *ctx.rng.pick(&[9100u16, 15100, 65535]);
                        if end >= n {
                            pp.insert("endPort".into(), json!(end));
                        }
                    }
                } else if port < 85 && named_ports {
                    let name = *ctx
                        .rng
                        .pick(&["http-envoy-prom", "http", "metrics", "dns", "web"]);
                    pp.insert("port".into(), json!(name));
                }
                ports.push(Value::Object(pp));
            }
            r.insert("ports".into(), json!(ports));
        }
        rules.push(Value::Object(r));
    }
    rules
}

/// A label key the API server accepts that Cilium up to 1.18 (NetworkPolicy) or 1.19 (CNP) refuses
/// once its source and namespace-label prefixes make the name part longer than 63 characters.
fn long_key(namespace_labels: bool) -> &'static str {
    if namespace_labels {
        "a-namespace-label-key-that-is-long"
    } else {
        "a-pod-label-key-that-is-long-enough-to-pass-63-with-a-prefix"
    }
}

/// The invalid shapes Cilium's sanitiser refuses (and the API server stores), one rule each; see
/// `src/cilium/sanitize.rs`.
impl Ctx<'_> {
    fn corrupt_selector(&mut self, sel: &mut Value) {
        let expr = match self.rng.below(5) {
            0 => json!({"key": "app", "operator": "Exists", "values": ["web"]}),
            1 => json!({"key": "app", "operator": "In"}),
            2 => json!({"key": "app", "operator": "In", "values": ["not a value"]}),
            3 => json!({"key": long_key(false), "operator": "Exists"}),
            _ => json!({"key": "k8s:app", "operator": "DoesNotExist", "values": []}),
        };
        let exprs = sel
            .as_object_mut()
            .map(|m| m.entry("matchExpressions").or_insert_with(|| json!([])));
        if let Some(Value::Array(v)) = exprs {
            v.push(expr);
        }
    }

    fn invalid_port(&mut self, pp: &mut Value) {
        match self.rng.below(5) {
            0 => {
                // No port at all.
                if let Some(m) = pp.as_object_mut() {
                    m.remove("port");
                }
            }
            1 => pp["port"] = json!(*self.rng.pick(&["70000", "99999", "09", "010"])),
            2 if self.shape.portless_protocols => {
                pp["protocol"] = json!(*self.rng.pick(&["VRRP", "IGMP"]));
                pp["port"] = json!(*self.rng.pick(&["0", "80"]));
            }
            _ => pp["port"] = json!("0"),
        }
    }

    /// L7 parts the sanitiser judges: a bad regex, DNS rules on ingress, a listener, server names
    /// without TLS termination, Kafka and generic L7 rules.
    fn port_rule_extras(&mut self, r: &mut Value) {
        match self.rng.below(7) {
            0 => {
                r["rules"] = json!({"http": [{"path": *self.rng.pick(&["/metrics(", "/api/{id}", "GET|(", "[a-"])}]})
            }
            1 => r["rules"] = json!({"dns": [{"matchPattern": "*"}]}),
            2 => r["listener"] = json!({"envoyConfig": {"name": "envoy"}, "name": "listener"}),
            3 => {
                r["serverNames"] = json!(["example.com"]);
                r["rules"] = json!({"http": [{"method": "GET"}]});
            }
            4 if self.shape.kafka => {
                r["rules"] =
                    json!({"kafka": [{"apiKey": *self.rng.pick(&["produce", "nonsense"])}]})
            }
            5 if self.shape.kafka && self.shape.since_1_16_fields => {
                r["rules"] = json!({"l7proto": "envoy.custom", "l7": [{"": "x"}]})
            }
            _ => {
                r["rules"] =
                    json!({"http": [{"headerMatches": [{"name": "x", "secret": {"name": ""}}]}]})
            }
        }
    }

    /// An egress section: it never changes ingress, but an invalid one refuses the whole policy.
    fn egress_section(&mut self) -> Value {
        match self.rng.below(10) {
            0 => json!([{"toEndpoints": [{}], "toCIDR": ["10.0.0.0/8"]}]),
            1 => {
                json!([{"toEntities": ["world"], "toPorts": [{"ports": [{"port": "80", "protocol": "UDP"}], "rules": {"http": [{}]}}]}])
            }
            2 => {
                let mut sel = json!({});
                self.corrupt_selector(&mut sel);
                json!([{ "toEndpoints": [sel] }])
            }
            3 if self.shape.fqdns => {
                json!([{"toFQDNs": [{"matchName": "example.com"}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}])
            }
            _ => json!([{"toEntities": ["world"]}]),
        }
    }
}
