//! The truth-table harness of the Cilium semantics (`semantics/cilium-ingress.md` §8 fixtures S1–S4 and
//! D, policy builders, rows with their full expected decision), shared by `tests/cilium_ingress.rs` and
//! `tests/cilium_egress.rs`. Each row is one scrape evaluated through `engine::network_verdict`.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;

use scrapepath::cilium::eval::{rejected_by_agent, Basis, Decision, NetVerdict};
use scrapepath::cilium::Version;
use scrapepath::engine::{address_verdict, egress_verdict, network_verdict, EngineConfig};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{parse_text, LoadStats};
use scrapepath::model::{Kind, ObjRef};

// -------------------------------------------------------------------------------------------------
// Fixtures (§8).

/// S1: Prometheus in `monitoring` (namespace labels `team=obs`), on node-b.
pub const S1: PodRef = ("monitoring", "prometheus-0");
/// S2: a pod `app=other` in D's own namespace `app`.
pub const S2: PodRef = ("app", "other-0");
/// S3: a hostNetwork Prometheus on another node than D (node-b).
pub const S3: PodRef = ("monitoring", "prometheus-hostnet-remote");
/// S4: a hostNetwork Prometheus on D's node (node-a).
pub const S4: PodRef = ("monitoring", "prometheus-hostnet-local");
/// Like S1, plus labels the identity filter drops (R2).
pub const S1_LABELLED: PodRef = ("monitoring", "prometheus-1");
/// A pod in `monitoring` running as `default` that labels itself with Cilium's service-account key (R1).
pub const SPOOFER: PodRef = ("monitoring", "spoofer-0");

/// D: `app/d`, `app=web`, `http-envoy-prom`=15090/TCP on a regular container and `http`=8080.
pub const D: &str = "d";
/// Like D, but 15090 belongs to a native-sidecar init container (Istio native sidecars).
pub const D_NATIVE_SIDECAR: &str = "d-native";
/// Like D, but in the host network namespace.
pub const D_HOST_NETWORK: &str = "d-hostnet";

pub type PodRef = (&'static str, &'static str);

pub const FIXTURES: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {kubernetes.io/hostname: node-a, role: worker}
status: {addresses: [{type: InternalIP, address: 192.168.1.10}]}
---
apiVersion: v1
kind: Node
metadata:
  name: node-b
  labels: {kubernetes.io/hostname: node-b, role: infra}
status: {addresses: [{type: InternalIP, address: 192.168.1.11}]}
---
apiVersion: v1
kind: Namespace
metadata:
  name: monitoring
  labels: {kubernetes.io/metadata.name: monitoring, team: obs}
---
apiVersion: v1
kind: Namespace
metadata:
  name: app
  labels: {kubernetes.io/metadata.name: app}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, pod-template-hash: abc}
spec:
  serviceAccountName: prometheus
  nodeName: node-b
  containers:
  - name: prometheus
    image: quay.io/prometheus/prometheus
    ports: [{name: web, containerPort: 9090}]
status: {phase: Running, podIP: 10.0.2.10, hostIP: 192.168.1.11}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-1
  namespace: monitoring
  labels:
    app.kubernetes.io/name: prometheus
    pod-template-hash: abc
    controller-revision-hash: rev1
    kubernetes.io/role: scraper
    failure-domain.beta.kubernetes.io/zone: z1
    k8s.io/team: obs
spec:
  serviceAccountName: prometheus
  nodeName: node-b
  containers:
  - name: prometheus
    image: quay.io/prometheus/prometheus
status: {phase: Running, podIP: 10.0.2.12, hostIP: 192.168.1.11}
---
apiVersion: v1
kind: Pod
metadata:
  name: spoofer-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, io.cilium.k8s.policy.serviceaccount: prometheus}
spec:
  serviceAccountName: default
  nodeName: node-b
  containers:
  - name: spoofer
    image: example/spoofer
status: {phase: Running, podIP: 10.0.2.11, hostIP: 192.168.1.11}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-hostnet-remote
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus}
spec:
  serviceAccountName: prometheus
  hostNetwork: true
  nodeName: node-b
  containers:
  - name: prometheus
    image: quay.io/prometheus/prometheus
status: {phase: Running, podIP: 192.168.1.11, hostIP: 192.168.1.11}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-hostnet-local
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus}
spec:
  serviceAccountName: prometheus
  hostNetwork: true
  nodeName: node-a
  containers:
  - name: prometheus
    image: quay.io/prometheus/prometheus
status: {phase: Running, podIP: 192.168.1.10, hostIP: 192.168.1.10}
---
apiVersion: v1
kind: Pod
metadata:
  name: other-0
  namespace: app
  labels: {app: other}
spec:
  nodeName: node-a
  containers:
  - name: other
    image: example/other
status: {phase: Running, podIP: 10.0.1.20, hostIP: 192.168.1.10}
---
apiVersion: v1
kind: Pod
metadata:
  name: d
  namespace: app
  labels: {app: web}
spec:
  nodeName: node-a
  containers:
  - name: web
    image: example/web
    ports: [{name: http, containerPort: 8080}]
  - name: istio-proxy
    image: docker.io/istio/proxyv2
    ports: [{name: http-envoy-prom, containerPort: 15090, protocol: TCP}]
status: {phase: Running, podIP: 10.0.1.10, hostIP: 192.168.1.10}
---
apiVersion: v1
kind: Pod
metadata:
  name: d-native
  namespace: app
  labels: {app: web}
spec:
  nodeName: node-a
  initContainers:
  - name: istio-proxy
    image: docker.io/istio/proxyv2
    restartPolicy: Always
    ports: [{name: http-envoy-prom, containerPort: 15090, protocol: TCP}]
  containers:
  - name: web
    image: example/web
    ports: [{name: http, containerPort: 8080}]
status: {phase: Running, podIP: 10.0.1.11, hostIP: 192.168.1.10}
---
apiVersion: v1
kind: Pod
metadata:
  name: d-hostnet
  namespace: app
  labels: {app: web}
spec:
  hostNetwork: true
  nodeName: node-a
  containers:
  - name: web
    image: example/web
    ports: [{name: http-envoy-prom, containerPort: 15090}]
status: {phase: Running, podIP: 192.168.1.10, hostIP: 192.168.1.10}
"#;

// -------------------------------------------------------------------------------------------------
// Policy builders. Bodies are YAML, indented as the writer likes (they are dedented).

/// A CiliumNetworkPolicy in `app` with `endpointSelector {app: web}` ("CNP" of §8); `body` goes under
/// `spec` next to the selector.
pub fn cnp(name: &str, body: &str) -> String {
    cnp_spec(
        name,
        "app",
        &format!(
            "endpointSelector: {{matchLabels: {{app: web}}}}\n{}",
            dedent(body)
        ),
    )
}

/// A CiliumNetworkPolicy in `ns` whose whole `spec` is given.
pub fn cnp_spec(name: &str, ns: &str, spec: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{}",
        indent(&dedent(spec), 2)
    )
}

/// A CiliumNetworkPolicy in `app` whose top level (`spec:` and/or `specs:`) is given.
pub fn cnp_top(name: &str, top: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: {name}, namespace: app}}\n{}",
        dedent(top)
    )
}

/// A CiliumClusterwideNetworkPolicy with `endpointSelector {app: web}`.
pub fn ccnp(name: &str, body: &str) -> String {
    ccnp_spec(
        name,
        &format!(
            "endpointSelector: {{matchLabels: {{app: web}}}}\n{}",
            dedent(body)
        ),
    )
}

/// A CiliumClusterwideNetworkPolicy whose whole `spec` is given.
pub fn ccnp_spec(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n{}",
        indent(&dedent(spec), 2)
    )
}

/// A Kubernetes NetworkPolicy in `app` whose whole `spec` is given.
pub fn knp(name: &str, spec: &str) -> String {
    knp_in(name, "app", spec)
}

pub fn knp_in(name: &str, ns: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{}",
        indent(&dedent(spec), 2)
    )
}

/// The CNP most rows start from: Prometheus's namespace, named explicitly, on 15090/TCP.
pub fn allow_monitoring(name: &str) -> String {
    cnp(
        name,
        r#"
        ingress:
        - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
          toPorts: [{ports: [{port: "15090", protocol: TCP}]}]
        "#,
    )
}

/// `ingress: [{}]`: the documented default-deny that allows nothing.
pub fn deny_all(name: &str) -> String {
    cnp(name, "ingress: [{}]")
}

/// A CNP allowing `fromEntities` on every port.
pub fn allow_entities(name: &str, entities: &str) -> String {
    cnp(name, &format!("ingress: [{{fromEntities: [{entities}]}}]"))
}

pub fn dedent(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let min = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| if l.len() >= min { &l[min..] } else { l.trim() })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_matches('\n')
        .to_string()
}

pub fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// -------------------------------------------------------------------------------------------------
// Cases.

pub struct Expect {
    pub verdict: NetVerdict,
    pub basis: Basis,
    pub rule: &'static str,
    /// `CNP/ns/name`, `CCNP/name`, `KNP/ns/name`; compared as a set.
    pub by: Vec<String>,
}

pub struct Case {
    pub name: &'static str,
    pub policies: Vec<String>,
    pub dest: &'static str,
    pub src: PodRef,
    pub port: u16,
    pub path: &'static str,
    pub version: Version,
    pub config: Vec<(&'static str, &'static str)>,
    pub expect: Option<Expect>,
    pub reason_mentions: Vec<&'static str>,
    /// Policies Cilium must reject as invalid (short names); every other policy must be valid, so that no
    /// row passes because its YAML was wrong.
    pub invalid: Vec<&'static str>,
    /// Judge the scraper's egress decision alone (`semantics/cilium-egress.md`), not the scrape's
    /// combined network verdict.
    pub egress_only: bool,
    /// Scrape this address, which no pod backs, instead of `dest` (E8; with [`ADDRESS_FIXTURES`]).
    pub address: Option<&'static str>,
}

/// E8's addresses: node-b's is S1's own node (host), node-a's another node (remote-node); the API server
/// runs on the control-plane node `node-cp` and behind an address outside the nodes (both endpoints of
/// default/kubernetes); anything else is world.
pub const HOST_ADDR: &str = "192.168.1.11";
pub const REMOTE_NODE_ADDR: &str = "192.168.1.10";
pub const APISERVER_ON_NODE: &str = "192.168.1.20";
pub const APISERVER_OUTSIDE: &str = "172.16.0.10";
pub const WORLD_ADDR: &str = "203.0.113.7";

/// The objects E8's rows add: the control-plane node and the API server's own EndpointSlice.
pub const ADDRESS_FIXTURES: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-cp
  labels: {kubernetes.io/hostname: node-cp, node-role.kubernetes.io/control-plane: ""}
status: {addresses: [{type: InternalIP, address: 192.168.1.20}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints:
- addresses: [192.168.1.20]
- addresses: [172.16.0.10]
ports: [{name: https, port: 6443, protocol: TCP}]
"#;

/// A row with the §8 defaults: S1 scrapes D on 15090 at `/stats/prometheus`, Cilium 1.18, default agent
/// settings, no policy.
pub fn case(name: &'static str) -> Case {
    Case {
        name,
        policies: Vec::new(),
        dest: D,
        src: S1,
        port: 15090,
        path: "/stats/prometheus",
        version: Version::new(1, 18),
        config: Vec::new(),
        expect: None,
        reason_mentions: Vec::new(),
        invalid: Vec::new(),
        egress_only: false,
        address: None,
    }
}

impl Case {
    pub fn with(mut self, policy: String) -> Self {
        self.policies.push(policy);
        self
    }
    pub fn from(mut self, src: PodRef) -> Self {
        self.src = src;
        self
    }
    pub fn to(mut self, dest: &'static str) -> Self {
        self.dest = dest;
        self
    }
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    pub fn path(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }
    pub fn on(mut self, major: u16, minor: u16) -> Self {
        self.version = Version::new(major, minor);
        self
    }
    /// A `cilium-config` key.
    pub fn cfg(mut self, key: &'static str, value: &'static str) -> Self {
        self.config.push((key, value));
        self
    }
    /// Cilium rejects this policy whole (validation fails).
    pub fn invalid(mut self, policy: &'static str) -> Self {
        self.invalid.push(policy);
        self
    }
    /// Scrape an address no pod backs (E8).
    pub fn at(mut self, ip: &'static str) -> Self {
        self.address = Some(ip);
        self
    }
    /// Judge the scraper's egress decision alone.
    pub fn egress(mut self) -> Self {
        self.egress_only = true;
        self
    }
    pub fn mentions(mut self, text: &'static str) -> Self {
        self.reason_mentions.push(text);
        self
    }
    pub fn expect(
        mut self,
        verdict: NetVerdict,
        basis: Basis,
        rule: &'static str,
        by: &[&str],
    ) -> Self {
        self.expect = Some(Expect {
            verdict,
            basis,
            rule,
            by: by.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    // Outcomes, each with its decision step (D1–D5, R3, R13).
    /// D5.2: an allow entry admits the scrape at L4.
    pub fn allowed_by(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::Allowed, Basis::AllowedByRule, "D5.2", by)
    }
    /// D3: no rule with ingress selects D.
    pub fn not_enforced(self) -> Self {
        self.expect(NetVerdict::Allowed, Basis::NotEnforced, "D3", &[])
    }
    /// D5.3: nothing admits the scrape and `by` made the pod default-deny.
    pub fn default_deny(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::Denied, Basis::DefaultDeny, "D5.3", by)
    }
    /// D5.1: a deny entry matches.
    pub fn denied_by(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::Denied, Basis::DeniedByRule, "D5.1", by)
    }
    /// D4: nothing admits it, but no enforcing rule is default-deny.
    pub fn no_default_deny(self) -> Self {
        self.expect(NetVerdict::Allowed, Basis::NoDefaultDeny, "D4", &[])
    }
    /// R13: TCP passes, Envoy answers 403.
    pub fn l7_denied(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::L7Denied, Basis::L7, "R13", by)
    }
    /// R13: TCP passes and the request matches an HTTP rule.
    pub fn l7_allowed(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::Allowed, Basis::AllowedByRule, "R13", by)
    }
    /// D5.4: allow-localhost admits the node's host.
    pub fn localhost(self) -> Self {
        self.expect(NetVerdict::Allowed, Basis::Localhost, "D5.4", &[])
    }

    // The scraper's egress (`semantics/cilium-egress.md`).
    /// E3: no rule with egress selects the scraper.
    pub fn egress_not_enforced(self) -> Self {
        self.expect(NetVerdict::Allowed, Basis::NotEnforced, "E3", &[])
    }
    /// E5.2: an egress allow entry lets the scraper reach the target.
    pub fn egress_allowed_by(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::Allowed, Basis::AllowedByRule, "E5.2", by)
    }
    /// E5.3: nothing allows it and `by` made the scraper default-deny for egress.
    pub fn egress_default_deny(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::Denied, Basis::DefaultDeny, "E5.3", by)
    }
    /// E5.1: an egressDeny entry matches.
    pub fn egress_denied_by(self, by: &[&str]) -> Self {
        self.expect(NetVerdict::Denied, Basis::DeniedByRule, "E5.1", by)
    }
    /// E3: nothing allows it, but no enforcing rule is default-deny for egress.
    pub fn egress_no_default_deny(self) -> Self {
        self.expect(NetVerdict::Allowed, Basis::NoDefaultDeny, "E3", &[])
    }
}

pub fn short(r: &ObjRef) -> String {
    match r.kind {
        Kind::CiliumNetworkPolicy => format!("CNP/{}/{}", r.namespace, r.name),
        Kind::CiliumClusterwideNetworkPolicy => format!("CCNP/{}", r.name),
        Kind::NetworkPolicy => format!("KNP/{}/{}", r.namespace, r.name),
        k => format!("{}/{}/{}", k.as_str(), r.namespace, r.name),
    }
}

pub fn evaluate(c: &Case) -> Result<Decision, String> {
    evaluate_with_invalid(c).map(|(d, _)| d)
}

/// The decision, and the policies the loader marked invalid.
pub fn evaluate_with_invalid(c: &Case) -> Result<(Decision, Vec<String>), String> {
    let mut docs = vec![FIXTURES.to_string()];
    if c.address.is_some() {
        docs.push(ADDRESS_FIXTURES.to_string());
    }
    docs.extend(c.policies.iter().cloned());
    if !c.config.is_empty() {
        let data: Vec<String> = c
            .config
            .iter()
            .map(|(k, v)| format!("  {k}: \"{v}\""))
            .collect();
        docs.push(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cilium-config, namespace: kube-system}}\ndata:\n{}",
            data.join("\n")
        ));
    }
    let text = docs.join("\n---\n");
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    let objects = parse_text(Path::new("case.yaml"), &text, &mut stats)
        .map_err(|e| format!("the case does not load: {e}\n{text}"))?;
    for o in objects {
        idx.apply(o);
    }
    let cfg = EngineConfig {
        cilium_version: Some(c.version),
        ..Default::default()
    };
    // Rejected by the agent of this case (release and settings), not by some other release.
    let settings = idx.cilium_settings(Some(c.version));
    let invalid: Vec<String> = idx
        .policies()
        .filter(|p| rejected_by_agent(p, &settings).is_some())
        .map(|p| short(&p.obj))
        .collect();
    let d = if let Some(ip) = c.address {
        address_verdict(&idx, &cfg, ip, c.src, c.port, c.path)
            .ok_or_else(|| "address_verdict found no such scraper pod".to_string())?
    } else if c.egress_only {
        egress_verdict(&idx, &cfg, ("app", c.dest), c.src, c.port, c.path).ok_or_else(|| {
            "egress_verdict decided nothing (no such pod, or a hostNetwork scraper)".to_string()
        })?
    } else {
        network_verdict(&idx, &cfg, ("app", c.dest), c.src, c.port, c.path)
            .ok_or_else(|| "network_verdict found no such pod".to_string())?
    };
    Ok((d, invalid))
}

pub fn verify(c: &Case) -> Result<(), String> {
    let want = c.expect.as_ref().ok_or("the row states no expectation")?;
    let (d, mut invalid) = evaluate_with_invalid(c)?;
    invalid.sort();
    let mut want_invalid: Vec<String> = c.invalid.iter().map(|s| s.to_string()).collect();
    want_invalid.sort();
    let mut by: Vec<String> = d.decided_by.iter().map(short).collect();
    by.sort();
    let mut want_by = want.by.clone();
    want_by.sort();
    let mut diffs = Vec::new();
    if invalid != want_invalid {
        diffs.push(format!(
            "invalid policies {invalid:?}, want {want_invalid:?}"
        ));
    }
    if d.verdict != want.verdict {
        diffs.push(format!("verdict {:?}, want {:?}", d.verdict, want.verdict));
    }
    if d.basis != want.basis {
        diffs.push(format!("basis {:?}, want {:?}", d.basis, want.basis));
    }
    if d.rule != want.rule {
        diffs.push(format!("rule {}, want {}", d.rule, want.rule));
    }
    if by != want_by {
        diffs.push(format!("decided_by {by:?}, want {want_by:?}"));
    }
    for m in &c.reason_mentions {
        if !d.reason.contains(m) {
            diffs.push(format!("reason does not mention {m:?}"));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} (S={}/{}, D={}, TCP/{}, v{}; reason: {})",
            diffs.join("; "),
            c.src.0,
            c.src.1,
            c.address
                .map_or_else(|| format!("app/{}", c.dest), str::to_string),
            c.port,
            c.version,
            d.reason
        ))
    }
}

/// Runs a table of `semantics/cilium-ingress.md` and reports every row that disagrees.
pub fn check(table: &str, cases: Vec<Case>) {
    check_against("semantics/cilium-ingress.md", table, cases)
}

/// Runs a table of the rules of `doc` and reports every row that disagrees.
pub fn check_against(doc: &str, table: &str, cases: Vec<Case>) {
    let mut seen = HashSet::new();
    let mut failures = Vec::new();
    for c in &cases {
        assert!(
            seen.insert(c.name),
            "{table}: duplicate row name {}",
            c.name
        );
        if let Err(e) = verify(c) {
            failures.push(format!("  {}: {e}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{table}: {} of {} rows disagree with {doc}:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
