//! The decision procedure of istio.md (A→F): for one scrape (target pod, port, path) from one client, walk
//! the rules in order and stop at the first final verdict.

use std::net::IpAddr;

use super::policy::{
    parse_block, Action, AuthorizationPolicy, Condition, MeshSpec, MtlsMode, Operation,
    PeerAuthentication, Rule, Source, DRY_RUN_ANNOTATION,
};
use super::workload::{
    self, ambient_bypass, ambient_source, capture, injection_signs, metrics_localhost_only,
    status_port, Client, Dataplane, Peer, ENVOY_STATS_PORT, HEALTH_PORT, MERGED_PATH,
};
use super::MeshConfig;
use crate::model::{Kind, Labels, MeshPolicy, ObjRef, Pod, Service};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshVerdict {
    Allowed,
    Denied,
    /// Istio never sees the traffic.
    NotApplicable,
    /// An external authorizer decides.
    Unknown,
}

impl MeshVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            MeshVerdict::Allowed => "Allowed",
            MeshVerdict::Denied => "Denied",
            MeshVerdict::NotApplicable => "NotApplicable",
            MeshVerdict::Unknown => "Unknown",
        }
    }

    /// Whether the mesh lets the scrape through (or is not in its way).
    pub fn passes(self) -> bool {
        matches!(self, MeshVerdict::Allowed | MeshVerdict::NotApplicable)
    }
}

/// Why the verdict is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Rules 1, 3: the pod has no sidecar and is not ambient.
    OutsideMesh,
    /// Rules 5–7, 20: the port is not intercepted.
    NotCaptured,
    /// Rule 7 exception: `METRICS_LOCALHOST_ACCESS_ONLY`.
    MetricsLocalhostOnly,
    /// Rules 12, 20: STRICT refuses a plaintext client.
    StrictMtls,
    /// Rule 13: Istio-certificate TLS that Envoy does not terminate on an HTTP port.
    TlsNotTerminated,
    /// Rule 15: a CUSTOM policy matches.
    ExternalAuthorizer,
    /// Rule 15: a DENY policy matches (or a CUSTOM one whose provider is missing).
    DenyPolicy,
    /// Rules 15, 18: ALLOW policies apply and none matches, but one would for a client with an mTLS identity.
    IdentityRequired,
    /// Rule 15: ALLOW policies apply and none matches.
    NoAllowMatch,
    /// Rule 15: no DENY matches and no ALLOW policy applies.
    NoAllowPolicy,
    /// Rule 15: an ALLOW policy matches.
    AllowPolicy,
}

/// What the remedies need to know besides the verdict.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facts {
    pub sidecar: bool,
    pub ambient: bool,
    /// The port is served on an HTTP filter chain (rule 17).
    pub http: bool,
    /// The ALLOW policies that apply to the workload (not dry-run, no targetRef).
    pub allow_policies: Vec<ObjRef>,
    /// The workload PeerAuthentication in effect (rule 19b: edit that one).
    pub workload_pa: Option<ObjRef>,
    /// The DENY policies and rule indexes that match.
    pub deny_rules: Vec<(ObjRef, usize)>,
    /// The effective mTLS mode on the port, when the port is captured.
    pub mtls: Option<MtlsMode>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MeshDecision {
    pub verdict: MeshVerdict,
    pub basis: Basis,
    /// The rule of istio.md that decides ("6", "12", "15", "18", ...).
    pub rule: &'static str,
    pub reason: String,
    pub decided_by: Vec<ObjRef>,
    pub facts: Facts,
    /// Policies in scope that Istio's validation rejects (they take no effect).
    pub invalid: Vec<(ObjRef, String)>,
}

/// One scrape: the target pod and port, and the path requested.
pub struct Scrape<'a> {
    pub pod: &'a Pod,
    pub ns_labels: Option<&'a Labels>,
    pub port: u16,
    pub path: &'a str,
    /// The Services of the pod's namespace (for the port's protocol, rule 17).
    pub services: &'a [&'a Service],
}

fn decision(
    verdict: MeshVerdict,
    basis: Basis,
    rule: &'static str,
    reason: String,
    decided_by: Vec<ObjRef>,
    facts: Facts,
) -> MeshDecision {
    MeshDecision {
        verdict,
        basis,
        rule,
        reason,
        decided_by,
        facts,
        invalid: Vec::new(),
    }
}

fn selects(sel: &Option<Labels>, pod: &Pod) -> bool {
    sel.as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| pod.labels.get(k) == Some(v)))
}

fn names(refs: &[ObjRef]) -> String {
    refs.iter()
        .map(ObjRef::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

// ---------------------------------------------------------------------------------------------------------
// The procedure.

/// Decides one scrape from one client. `policies` are the AuthorizationPolicies and PeerAuthentications of
/// the root namespace and the target's namespace (others are ignored).
pub fn decide(
    cfg: &MeshConfig,
    policies: &[&MeshPolicy],
    s: &Scrape<'_>,
    client: &Client,
) -> MeshDecision {
    let policies: Vec<&MeshPolicy> = policies
        .iter()
        .copied()
        .filter(|p| p.namespace == cfg.root_namespace || p.namespace == s.pod.namespace)
        .collect();
    let dataplane = workload::dataplane(s.pod, s.ns_labels);
    let mut d = match dataplane {
        Dataplane::Outside => outside(s),
        Dataplane::Sidecar { native } => sidecar(cfg, &policies, s, client, native),
        Dataplane::Ambient => ambient(cfg, &policies, s, client),
    };
    if d.basis != Basis::OutsideMesh {
        d.invalid = policies
            .iter()
            .filter_map(|p| p.spec.as_ref().err().map(|e| (p.obj_ref(), e.clone())))
            .collect();
    }
    let mut notes = client.notes.clone();
    if client.ambient && matches!(dataplane, Dataplane::Sidecar { .. }) {
        notes.push("UNCERTAIN: an ambient-enrolled Prometheus may reach sidecar pods over HBONE on 15008, and then even its scrapes of uncaptured ports meet the sidecar's AuthorizationPolicy; evaluated as a plaintext client".to_string());
    }
    if !notes.is_empty() && d.basis != Basis::OutsideMesh && d.basis != Basis::NotCaptured {
        d.reason = format!("{} ({})", d.reason, notes.join("; "));
    }
    d
}

/// Rules 1 and 3: no sidecar, not ambient.
fn outside(s: &Scrape<'_>) -> MeshDecision {
    outside_mesh(s.pod)
}

/// The decision for a pod [`workload::dataplane`] puts outside the mesh, whoever scrapes it (rules 1, 3).
pub fn outside_mesh(pod: &Pod) -> MeshDecision {
    let signs = injection_signs(pod);
    let extra = if signs.is_empty() {
        String::new()
    } else {
        format!(
            " (it carries {}, but without the container they have no effect)",
            signs.join(" and ")
        )
    };
    decision(
        MeshVerdict::NotApplicable,
        Basis::OutsideMesh,
        "1",
        format!(
            "no istio-proxy container and not in ambient mode{extra}: Istio never sees the scrape"
        ),
        vec![],
        Facts::default(),
    )
}

/// What a sidecar port is, for messages (rule 7).
fn sidecar_port_note(pod: &Pod, port: u16) -> Option<&'static str> {
    if port == ENVOY_STATS_PORT {
        Some("15090 is Envoy's static Prometheus listener: plaintext, /stats/prometheus only, no TLS and no RBAC")
    } else if port == status_port(pod) {
        Some("the status port is pilot-agent's plaintext HTTP server (/stats/prometheus with merged metrics, /metrics)")
    } else if port == HEALTH_PORT {
        Some("15021 is the plaintext health port")
    } else {
        None
    }
}

fn sidecar(
    cfg: &MeshConfig,
    policies: &[&MeshPolicy],
    s: &Scrape<'_>,
    client: &Client,
    native: bool,
) -> MeshDecision {
    let mut facts = Facts {
        sidecar: true,
        ..Facts::default()
    };
    let pod = s.pod;
    let kind = if native {
        "native-sidecar istio-proxy (an init container with restartPolicy Always)"
    } else {
        "istio-proxy sidecar"
    };
    // Rule 7 exception: metrics bound to localhost.
    let stats = s.port == ENVOY_STATS_PORT
        || (s.port == status_port(pod) && s.path.starts_with(MERGED_PATH));
    if stats {
        if let Some(where_) = metrics_localhost_only(pod, cfg) {
            let what = if s.port == ENVOY_STATS_PORT {
                "binds 15090 to localhost, so the connection is refused"
            } else {
                "makes the status port answer /stats/prometheus with 403"
            };
            return decision(
                MeshVerdict::Denied,
                Basis::MetricsLocalhostOnly,
                "7",
                format!("METRICS_LOCALHOST_ACCESS_ONLY=true ({where_}) {what}"),
                vec![],
                facts,
            );
        }
    }
    // Rules 4–6: capture.
    let cap = capture(pod);
    if !cap.captured(s.port) {
        let what = sidecar_port_note(pod, s.port)
            .map(|n| format!("; {n}"))
            .unwrap_or_default();
        let moot = moot_policies(cfg, policies, s, client, false);
        return decision(
            MeshVerdict::NotApplicable,
            Basis::NotCaptured,
            if sidecar_port_note(pod, s.port).is_some() {
                "7"
            } else {
                "6"
            },
            format!(
                "Envoy never sees port {}: {}; the scrape reaches the socket directly, so no PeerAuthentication or AuthorizationPolicy applies{what}{moot}",
                s.port,
                cap.why_not(s.port)
            ),
            vec![],
            facts,
        );
    }
    // Rule 17: the port's chain.
    let (declared, proto_note) = port_protocol(pod, s.port, s.services);
    // Rules 10–13.
    let mtls = effective_mtls(cfg, policies, pod, s.port, false);
    facts.workload_pa = mtls.workload.clone();
    facts.mtls = Some(mtls.mode);
    let mut peer: Option<&Peer> = None;
    let mut tcp = declared == Some(Proto::Tcp);
    let mut tls_note = String::new();
    if client.istio_certs {
        if mtls.mode == MtlsMode::Strict {
            // Rule 13: terminated; a port not declared HTTP lands on the TCP chain (ALPN is not istio-http).
            peer = Some(&client.identity);
            tcp = declared != Some(Proto::Http);
        } else if declared == Some(Proto::Http) {
            facts.http = true;
            return decision(
                MeshVerdict::Denied,
                Basis::TlsNotTerminated,
                "13",
                format!(
                    "{} sends TLS with Istio certificates, but port {} is {} ({}) and declared HTTP ({proto_note}): no filter chain accepts TLS without Istio's ALPN, so the scrape fails",
                    client.describe,
                    s.port,
                    mtls.mode.as_str(),
                    mtls.how
                ),
                mtls.by.iter().cloned().collect(),
                facts,
            );
        } else {
            tcp = true;
            tls_note = format!(
                "; the TLS is not terminated on a {} port and reaches the app as raw TLS, so the scrape works only if the app serves TLS itself (rule 13)",
                mtls.mode.as_str()
            );
        }
    } else if mtls.mode == MtlsMode::Strict {
        return decision(
            MeshVerdict::Denied,
            Basis::StrictMtls,
            "12",
            format!(
                "{} on port {} requires mTLS ({}): no filter chain accepts the plaintext connection of {}, so it is reset (Prometheus reports connection reset or EOF)",
                kind,
                s.port,
                mtls.how,
                client.describe
            ),
            mtls.by.iter().cloned().collect(),
            facts,
        );
    }
    facts.http = !tcp;
    let chain = if tcp {
        format!("the TCP chain ({proto_note})")
    } else {
        format!("the HTTP chain ({proto_note})")
    };
    let req = Request::new(s, client, peer, tcp);
    let mut d = authorize(cfg, policies, s, &req, false, facts);
    d.reason = format!(
        "port {} is captured by the {kind} with mTLS {} ({}) on {chain}; {}{tls_note}",
        s.port,
        mtls.mode.as_str(),
        mtls.how,
        d.reason
    );
    d
}

/// Rule 20: ambient pods.
fn ambient(
    cfg: &MeshConfig,
    policies: &[&MeshPolicy],
    s: &Scrape<'_>,
    client: &Client,
) -> MeshDecision {
    let mut facts = Facts {
        ambient: true,
        ..Facts::default()
    };
    let pod = s.pod;
    let how = ambient_source(pod);
    if ambient_bypass(pod) || s.port == workload::HBONE_PORT {
        let why = if s.port == workload::HBONE_PORT {
            "15008 is the HBONE port, which istio-cni never redirects".to_string()
        } else {
            "the pod sets ambient.istio.io/bypass-inbound-capture: \"true\" (Istio 1.24+)"
                .to_string()
        };
        let moot = moot_policies(cfg, policies, s, client, true);
        return decision(
            MeshVerdict::NotApplicable,
            Basis::NotCaptured,
            "20",
            format!(
                "pod {} is in ambient mode ({how}) but ztunnel never sees port {}: {why}{moot}",
                pod.name, s.port
            ),
            vec![],
            facts,
        );
    }
    let mtls = effective_mtls(cfg, policies, pod, s.port, true);
    facts.workload_pa = mtls.workload.clone();
    facts.mtls = Some(mtls.mode);
    let hbone = client.ambient;
    if mtls.mode == MtlsMode::Strict && !hbone {
        return decision(
            MeshVerdict::Denied,
            Basis::StrictMtls,
            "20",
            format!(
                "pod {} is in ambient mode ({how}); the node's ztunnel enforces mTLS STRICT on port {} ({}) and rejects the plaintext connection of {}",
                pod.name, s.port, mtls.how, client.describe
            ),
            mtls.by.iter().cloned().collect(),
            facts,
        );
    }
    let peer = hbone.then_some(&client.identity);
    let note = if hbone {
        " (the client is ambient-enrolled: HBONE gives it its SPIFFE identity)"
    } else {
        ""
    };
    let req = Request::new(s, client, peer, true);
    let mut d = authorize(cfg, policies, s, &req, true, facts);
    d.rule = if d.rule == "15" { "20" } else { d.rule };
    d.reason = format!(
        "pod {} is in ambient mode ({how}): ztunnel captures port {} with mTLS {} ({}) and enforces L4 policy only{note}; {}",
        pod.name,
        s.port,
        mtls.mode.as_str(),
        mtls.how,
        d.reason
    );
    d
}

/// For a port Istio never sees: the policies that select the pod and would matter on a captured port.
fn moot_policies(
    cfg: &MeshConfig,
    policies: &[&MeshPolicy],
    s: &Scrape<'_>,
    client: &Client,
    ambient: bool,
) -> String {
    let (applicable, _) = applicable_authz(cfg, policies, s.pod, ambient);
    if applicable.is_empty() {
        return String::new();
    }
    let refs: Vec<ObjRef> = applicable.iter().map(|(p, _)| p.obj_ref()).collect();
    let req = Request::new(s, client, None, ambient);
    let d = authorize(cfg, policies, s, &req, ambient, Facts::default());
    let would = match d.basis {
        Basis::IdentityRequired => format!(
            " (on a captured port {} would refuse {}: the rules that could admit it name namespaces or principals, which need an mTLS identity)",
            names(&d.decided_by),
            client.describe
        ),
        Basis::NoAllowMatch => " (on a captured port no ALLOW rule would match this scrape)".into(),
        Basis::DenyPolicy => format!(
            " (on a captured port {} would deny this scrape)",
            names(&d.decided_by)
        ),
        Basis::ExternalAuthorizer => {
            " (on a captured port an external authorizer would decide)".into()
        }
        _ => String::new(),
    };
    format!(
        "; {} select{} the pod but {} not matter on this port{would}",
        names(&refs),
        if refs.len() == 1 { "s" } else { "" },
        if refs.len() == 1 { "does" } else { "do" }
    )
}

// ---------------------------------------------------------------------------------------------------------
// Rule 17: HTTP or TCP.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http,
    Tcp,
}

fn protocol_of(name: &str) -> Option<Proto> {
    let n = name.to_ascii_lowercase();
    let prefix = n.split('-').next().unwrap_or("");
    match prefix {
        "http" | "http2" | "grpc" | "h2c" => Some(Proto::Http),
        "https" | "tcp" | "tls" | "mongo" | "mysql" | "redis" | "udp" | "thrift" => {
            Some(Proto::Tcp)
        }
        _ => None,
    }
}

/// The protocol a Service declares for the container port, with the note saying where it came from;
/// `None`: undeclared, so sniffed (a plaintext HTTP/1.1 scrape counts as HTTP).
pub fn port_protocol(pod: &Pod, port: u16, services: &[&Service]) -> (Option<Proto>, String) {
    for svc in services {
        let Some(sel) = svc.selector.as_ref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if svc.namespace != pod.namespace || !sel.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
        {
            continue;
        }
        for sp in &svc.ports {
            if !sp.protocol.eq_ignore_ascii_case("TCP") {
                continue;
            }
            let target = match &sp.target_port {
                None => u16::try_from(sp.port).ok(),
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                    u16::try_from(*n).ok()
                }
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n)) => {
                    pod.port_by_name(n).map(|(_, p)| p.number)
                }
            };
            if target != Some(port) {
                continue;
            }
            if let Some(ap) = &sp.app_protocol {
                let ap_l = ap.to_ascii_lowercase();
                let p = match ap_l.as_str() {
                    "kubernetes.io/h2c" => Some(Proto::Http),
                    other => protocol_of(other),
                };
                if let Some(p) = p {
                    return (Some(p), format!("appProtocol {ap} of Service {}", svc.name));
                }
            }
            if let Some(n) = &sp.name {
                if let Some(p) = protocol_of(n) {
                    return (Some(p), format!("port name {n} of Service {}", svc.name));
                }
            }
        }
    }
    (
        None,
        "no Service declares its protocol, so Istio sniffs it and a plaintext HTTP/1.1 scrape counts as HTTP"
            .to_string(),
    )
}

// ---------------------------------------------------------------------------------------------------------
// Rules 10–11: PeerAuthentication.

struct Mtls {
    mode: MtlsMode,
    /// The policy whose setting decided the mode.
    by: Option<ObjRef>,
    /// The workload policy in effect.
    workload: Option<ObjRef>,
    how: String,
}

fn oldest<'a>(
    v: impl Iterator<Item = (&'a MeshPolicy, &'a PeerAuthentication)>,
) -> Option<(&'a MeshPolicy, &'a PeerAuthentication)> {
    v.min_by(|a, b| (a.0.created.as_ref(), &a.0.name).cmp(&(b.0.created.as_ref(), &b.0.name)))
}

fn effective_mtls(
    cfg: &MeshConfig,
    policies: &[&MeshPolicy],
    pod: &Pod,
    port: u16,
    ambient: bool,
) -> Mtls {
    let pas: Vec<(&MeshPolicy, &PeerAuthentication)> = policies
        .iter()
        .filter(|p| p.kind == Kind::PeerAuthentication)
        .filter_map(|p| match &p.spec {
            Ok(MeshSpec::Peer(pa)) => Some((*p, pa)),
            _ => None,
        })
        .collect();
    let root = &cfg.root_namespace;
    let mesh = oldest(
        pas.iter()
            .copied()
            .filter(|(p, pa)| &p.namespace == root && pa.selector.is_none()),
    );
    let ns = oldest(
        pas.iter()
            .copied()
            .filter(|(p, pa)| &p.namespace != root && pa.selector.is_none()),
    );
    // Root-namespace policies with a selector are ignored.
    let wl = oldest(pas.iter().copied().filter(|(p, pa)| {
        &p.namespace != root && pa.selector.is_some() && selects(&pa.selector, pod)
    }));
    let mut m = Mtls {
        mode: MtlsMode::Permissive,
        by: None,
        workload: wl.map(|(p, _)| p.obj_ref()),
        how: "no PeerAuthentication sets a mode: PERMISSIVE by default".to_string(),
    };
    for (level, found) in [("mesh-wide", mesh), ("namespace", ns), ("workload", wl)] {
        if let Some((p, pa)) = found {
            if pa.mode != MtlsMode::Unset {
                m.mode = pa.mode;
                m.by = Some(p.obj_ref());
                m.how = format!(
                    "{level} PeerAuthentication {}/{} sets {}",
                    p.namespace,
                    p.name,
                    pa.mode.as_str()
                );
            }
        }
    }
    if let Some((p, pa)) = wl {
        if let Some(pm) = pa.port_level.get(&port) {
            if *pm != MtlsMode::Unset {
                m.mode = *pm;
                m.by = Some(p.obj_ref());
                m.how = format!(
                    "PeerAuthentication {}/{} portLevelMtls {port}: {}",
                    p.namespace,
                    p.name,
                    pm.as_str()
                );
            } else {
                m.how = format!(
                    "{}; PeerAuthentication {}/{} portLevelMtls {port}: UNSET inherits it",
                    m.how, p.namespace, p.name
                );
            }
        }
    }
    if ambient && m.mode == MtlsMode::Disable {
        m.mode = MtlsMode::Permissive;
        m.how = format!("{}; ztunnel ignores DISABLE", m.how);
    }
    m
}

// ---------------------------------------------------------------------------------------------------------
// Rules 14–18: AuthorizationPolicy.

/// The request as the target's proxy sees it.
#[derive(Clone)]
struct Request<'a> {
    peer: Option<&'a Peer>,
    client: &'a Client,
    host: String,
    dest_ip: Option<IpAddr>,
    port: u16,
    path: String,
    tcp: bool,
}

impl<'a> Request<'a> {
    fn new(s: &Scrape<'_>, client: &'a Client, peer: Option<&'a Peer>, tcp: bool) -> Self {
        Request {
            peer,
            client,
            host: format!(
                "{}:{}",
                s.pod.pod_ip.as_deref().unwrap_or("<pod-ip>"),
                s.port
            ),
            dest_ip: s.pod.pod_ip.as_deref().and_then(|ip| ip.parse().ok()),
            port: s.port,
            path: normalize_path(s.path),
            tcp,
        }
    }
}

/// The path Istio matches: no query or fragment, dot segments resolved.
fn normalize_path(path: &str) -> String {
    let p = path.split(['?', '#']).next().unwrap_or("");
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Istio's string match: exact, `x*` prefix, `*x` suffix, `*` any non-empty value.
fn string_match(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return !value.is_empty();
    }
    if let Some(s) = pattern.strip_prefix('*') {
        return value.ends_with(s);
    }
    if let Some(p) = pattern.strip_suffix('*') {
        return value.starts_with(p);
    }
    pattern == value
}

fn in_block(block: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = parse_block(block) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MissKind {
    /// Only an mTLS identity would make it match.
    Identity,
    /// An HTTP-only field on a TCP chain: Istio drops the ALLOW rule.
    HttpOnTcp,
    Other,
}

#[derive(Debug, Clone)]
struct Miss {
    kind: MissKind,
    text: String,
}

/// Matching one rule: how it matched (notes worth telling), or why not.
type Match = Result<Vec<String>, Vec<Miss>>;

struct Matcher<'a> {
    req: &'a Request<'a>,
    /// DENY or CUSTOM: HTTP-only fields on a TCP chain count as matched.
    deny_like: bool,
    notes: Vec<String>,
    misses: Vec<Miss>,
}

impl Matcher<'_> {
    fn miss(&mut self, kind: MissKind, text: String) {
        self.misses.push(Miss { kind, text });
    }

    /// An HTTP-only field: on a TCP chain, ALLOW drops the rule and DENY ignores the field. Returns whether
    /// the field is to be evaluated.
    fn http_only(&mut self, field: &str, present: bool) -> bool {
        if !present || !self.req.tcp {
            return present;
        }
        if !self.deny_like {
            self.miss(
                MissKind::HttpOnTcp,
                format!(
                    "{field} is HTTP-only and port {} is served as TCP, so Istio drops this ALLOW rule",
                    self.req.port
                ),
            );
        } else {
            self.notes.push(format!(
                "{field} is HTTP-only and ignored on a TCP port, which makes the rule broader"
            ));
        }
        false
    }

    /// A positive identity field (`principals`, `namespaces`, ...): `get` extracts the value from a peer.
    fn identity(&mut self, field: &str, values: &[String], get: fn(&Peer) -> Option<String>) {
        if values.is_empty() {
            return;
        }
        match self.req.peer.and_then(get) {
            Some(actual) => {
                if !values.iter().any(|v| string_match(v, &actual)) {
                    self.miss(
                        MissKind::Other,
                        format!("{field} {} does not include {actual}", quoted(values)),
                    );
                }
            }
            None => self.miss(
                MissKind::Identity,
                format!(
                    "{field} {} needs an mTLS peer identity, and {} has none (not even \"*\" matches)",
                    quoted(values),
                    self.req.client.describe
                ),
            ),
        }
    }

    fn not_identity(&mut self, field: &str, values: &[String], get: fn(&Peer) -> Option<String>) {
        if values.is_empty() {
            return;
        }
        match self.req.peer.and_then(get) {
            Some(actual) => {
                if values.iter().any(|v| string_match(v, &actual)) {
                    self.miss(
                        MissKind::Other,
                        format!("{field} {} includes {actual}", quoted(values)),
                    );
                }
            }
            None => self.notes.push(format!(
                "{field} {} matches any client without an mTLS identity",
                quoted(values)
            )),
        }
    }

    fn strings(&mut self, field: &str, values: &[String], actual: Option<&str>, negate: bool) {
        if values.is_empty() {
            return;
        }
        let hit = actual.is_some_and(|a| values.iter().any(|v| string_match(v, a)));
        let shown = actual.unwrap_or("nothing");
        if hit == negate {
            let text = if negate {
                format!("{field} {} includes {shown}", quoted(values))
            } else {
                format!("{field} {} does not include {shown}", quoted(values))
            };
            self.miss(MissKind::Other, text);
        }
    }

    fn blocks(&mut self, field: &str, values: &[String], ip: Option<IpAddr>, negate: bool) {
        if values.is_empty() {
            return;
        }
        let hit = ip.is_some_and(|ip| values.iter().any(|b| in_block(b, ip)));
        if hit == negate {
            let shown = ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "the scraper's pod IP (not in the input)".into());
            let text = if negate {
                format!("{field} {} covers {shown}", quoted(values))
            } else {
                format!("{field} {} does not cover {shown}", quoted(values))
            };
            self.miss(MissKind::Other, text);
        }
    }

    fn source(&mut self, s: &Source) {
        let principal = |p: &Peer| match p {
            Peer::Identity { principal, .. } => Some(principal.clone()),
            Peer::None => None,
        };
        let namespace = |p: &Peer| match p {
            Peer::Identity { namespace, .. } => Some(namespace.clone()),
            Peer::None => None,
        };
        let service_account = |p: &Peer| match p {
            Peer::Identity {
                namespace,
                service_account,
                ..
            } => Some(format!("{namespace}/{service_account}")),
            Peer::None => None,
        };
        self.identity("source.principals", &s.principals, principal);
        self.not_identity("source.notPrincipals", &s.not_principals, principal);
        self.identity("source.namespaces", &s.namespaces, namespace);
        self.not_identity("source.notNamespaces", &s.not_namespaces, namespace);
        self.identity(
            "source.serviceAccounts",
            &s.service_accounts,
            service_account,
        );
        self.not_identity(
            "source.notServiceAccounts",
            &s.not_service_accounts,
            service_account,
        );
        // No JWT: requestPrincipals never match, notRequestPrincipals always do.
        if self.http_only("source.requestPrincipals", !s.request_principals.is_empty()) {
            self.miss(
                MissKind::Other,
                format!(
                    "source.requestPrincipals {} needs a JWT, and Prometheus sends none",
                    quoted(&s.request_principals)
                ),
            );
        }
        if self.http_only(
            "source.notRequestPrincipals",
            !s.not_request_principals.is_empty(),
        ) {
            self.notes.push(format!(
                "source.notRequestPrincipals {} matches a request without a JWT",
                quoted(&s.not_request_principals)
            ));
        }
        let ip = self.req.client.ip;
        self.blocks("source.ipBlocks", &s.ip_blocks, ip, false);
        self.blocks("source.notIpBlocks", &s.not_ip_blocks, ip, true);
        // Without X-Forwarded-For the remote IP is the peer's (UNCERTAIN for sidecars).
        if !s.remote_ip_blocks.is_empty() || !s.not_remote_ip_blocks.is_empty() {
            self.notes.push(
                "remoteIpBlocks is compared with the scraper's pod IP (UNCERTAIN for sidecars: it is meant for gateways)".into(),
            );
        }
        self.blocks("source.remoteIpBlocks", &s.remote_ip_blocks, ip, false);
        self.blocks(
            "source.notRemoteIpBlocks",
            &s.not_remote_ip_blocks,
            ip,
            true,
        );
    }

    fn operation(&mut self, o: &Operation) {
        let port = self.req.port.to_string();
        self.strings("to.operation.ports", &o.ports, Some(&port), false);
        self.strings("to.operation.notPorts", &o.not_ports, Some(&port), true);
        let host = self.req.host.to_ascii_lowercase();
        let lower =
            |v: &[String]| -> Vec<String> { v.iter().map(|h| h.to_ascii_lowercase()).collect() };
        if self.http_only("to.operation.hosts", !o.hosts.is_empty()) {
            self.strings("to.operation.hosts", &lower(&o.hosts), Some(&host), false);
        }
        if self.http_only("to.operation.notHosts", !o.not_hosts.is_empty()) {
            self.strings(
                "to.operation.notHosts",
                &lower(&o.not_hosts),
                Some(&host),
                true,
            );
        }
        if self.http_only("to.operation.methods", !o.methods.is_empty()) {
            self.strings("to.operation.methods", &o.methods, Some("GET"), false);
        }
        if self.http_only("to.operation.notMethods", !o.not_methods.is_empty()) {
            self.strings("to.operation.notMethods", &o.not_methods, Some("GET"), true);
        }
        let path = self.req.path.clone();
        if self.http_only("to.operation.paths", !o.paths.is_empty()) {
            self.strings("to.operation.paths", &o.paths, Some(&path), false);
        }
        if self.http_only("to.operation.notPaths", !o.not_paths.is_empty()) {
            self.strings("to.operation.notPaths", &o.not_paths, Some(&path), true);
        }
    }

    /// A request header as Prometheus sends it.
    fn header(&self, name: &str) -> Option<String> {
        match name.to_ascii_lowercase().as_str() {
            "host" | ":authority" => Some(self.req.host.clone()),
            "user-agent" => Some(self.req.client.user_agent.clone()),
            ":method" => Some("GET".into()),
            ":path" => Some(self.req.path.clone()),
            "accept" => Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1".into()),
            "accept-encoding" => Some("gzip".into()),
            "x-prometheus-scrape-timeout-seconds" => Some("10".into()),
            _ => None,
        }
    }

    fn condition(&mut self, c: &Condition) {
        let field = format!("when {}", c.key);
        let key = c.key.as_str();
        if key.starts_with("request.") && !self.http_only(&field, true) {
            return;
        }
        let ip_key = |ip: Option<IpAddr>, m: &mut Self| {
            m.blocks(&format!("{field} values"), &c.values, ip, false);
            m.blocks(&format!("{field} notValues"), &c.not_values, ip, true);
        };
        match key {
            "source.ip" | "remote.ip" => ip_key(self.req.client.ip, self),
            "destination.ip" => ip_key(self.req.dest_ip, self),
            "destination.port" => {
                let port = self.req.port.to_string();
                let exact = |v: &[String]| v.iter().any(|x| x == &port);
                if !c.values.is_empty() && !exact(&c.values) {
                    self.miss(
                        MissKind::Other,
                        format!("{field} {} does not include {port}", quoted(&c.values)),
                    );
                }
                if exact(&c.not_values) {
                    self.miss(
                        MissKind::Other,
                        format!("{field} notValues {} include {port}", quoted(&c.not_values)),
                    );
                }
            }
            "source.principal" | "source.namespace" => {
                let get: fn(&Peer) -> Option<String> = if key == "source.principal" {
                    |p| match p {
                        Peer::Identity { principal, .. } => Some(principal.clone()),
                        Peer::None => None,
                    }
                } else {
                    |p| match p {
                        Peer::Identity { namespace, .. } => Some(namespace.clone()),
                        Peer::None => None,
                    }
                };
                self.identity(&field, &c.values, get);
                self.not_identity(&format!("{field} notValues"), &c.not_values, get);
            }
            _ => {
                // Headers are known; JWT claims, SNI and experimental attributes are absent.
                let actual = key
                    .strip_prefix("request.headers[")
                    .and_then(|h| h.strip_suffix(']'))
                    .and_then(|h| self.header(h));
                self.strings(&field, &c.values, actual.as_deref(), false);
                self.strings(
                    &format!("{field} notValues"),
                    &c.not_values,
                    actual.as_deref(),
                    true,
                );
            }
        }
    }

    fn rule(mut self, r: &Rule) -> Match {
        // from: any source; to: any operation; when: all.
        for (list, name) in [(r.from.len(), "from"), (r.to.len(), "to")] {
            if list == 0 {
                continue;
            }
            let mut alt_misses: Vec<Vec<Miss>> = Vec::new();
            let mut alt_notes: Option<Vec<String>> = None;
            for i in 0..list {
                let before_m = std::mem::take(&mut self.misses);
                let before_n = std::mem::take(&mut self.notes);
                if name == "from" {
                    self.source(&r.from[i]);
                } else {
                    self.operation(&r.to[i]);
                }
                let m = std::mem::replace(&mut self.misses, before_m);
                let n = std::mem::replace(&mut self.notes, before_n);
                if m.is_empty() {
                    alt_notes = Some(n.into_iter().map(|t| format!("{name}[{i}]: {t}")).collect());
                    break;
                }
                alt_misses.push(
                    m.into_iter()
                        .map(|x| Miss {
                            kind: x.kind,
                            text: format!("{name}[{i}]: {}", x.text),
                        })
                        .collect(),
                );
            }
            match alt_notes {
                Some(n) => self.notes.extend(n),
                None => {
                    // The alternative closest to matching explains the miss.
                    let best = alt_misses
                        .into_iter()
                        .min_by_key(|m| m.iter().map(|x| x.kind).max())
                        .unwrap_or_default();
                    self.misses.extend(best);
                }
            }
        }
        for (i, c) in r.when.iter().enumerate() {
            let before = self.misses.len();
            self.condition(c);
            for m in &mut self.misses[before..] {
                m.text = format!("when[{i}]: {}", m.text.trim_start_matches("when "));
            }
        }
        if self.misses.is_empty() {
            Ok(self.notes)
        } else {
            Err(self.misses)
        }
    }
}

fn match_rule(r: &Rule, req: &Request<'_>, deny_like: bool) -> Match {
    Matcher {
        req,
        deny_like,
        notes: Vec::new(),
        misses: Vec::new(),
    }
    .rule(r)
}

/// Rule 14: the AuthorizationPolicies that apply to the pod, and notes on those that do not.
fn applicable_authz<'a>(
    cfg: &MeshConfig,
    policies: &[&'a MeshPolicy],
    pod: &Pod,
    ambient: bool,
) -> (Vec<(&'a MeshPolicy, &'a AuthorizationPolicy)>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for p in policies {
        let Ok(MeshSpec::Authz(ap)) = &p.spec else {
            continue;
        };
        if p.namespace != cfg.root_namespace && p.namespace != pod.namespace {
            continue;
        }
        if !selects(&ap.selector, pod) {
            continue;
        }
        if !ap.target_refs.is_empty() {
            notes.push(format!(
                "{} has targetRefs, which {}",
                p.obj_ref(),
                if ambient {
                    "belong to a waypoint that a scrape of the pod IP bypasses (UNCERTAIN for Service-addressed traffic)"
                } else {
                    "sidecars ignore"
                }
            ));
            continue;
        }
        if p.annotations.get(DRY_RUN_ANNOTATION).map(String::as_str) == Some("true") {
            notes.push(format!(
                "{} is annotated {DRY_RUN_ANNOTATION}: \"true\" and only shadows",
                p.obj_ref()
            ));
            continue;
        }
        if ambient && matches!(ap.action, Action::Custom(_) | Action::Audit) {
            notes.push(format!(
                "{} is {}, which ztunnel does not handle (istiod leaves it out with a status warning)",
                p.obj_ref(),
                ap.action.as_str()
            ));
            continue;
        }
        out.push((*p, ap));
    }
    (out, notes)
}

/// Rule 15: CUSTOM → DENY → ALLOW over the applicable policies, with `facts` carried through.
fn authorize(
    cfg: &MeshConfig,
    policies: &[&MeshPolicy],
    s: &Scrape<'_>,
    req: &Request<'_>,
    ambient: bool,
    mut facts: Facts,
) -> MeshDecision {
    let (applicable, skipped) = applicable_authz(cfg, policies, s.pod, ambient);
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!(" (ignored: {})", skipped.join("; "))
    };
    let of = |a: &Action| -> Vec<(&MeshPolicy, &AuthorizationPolicy)> {
        applicable
            .iter()
            .copied()
            .filter(|(_, ap)| std::mem::discriminant(&ap.action) == std::mem::discriminant(a))
            .collect()
    };
    // The first rule of a policy that matches, with its notes.
    let first_match = |ap: &AuthorizationPolicy, deny_like: bool| -> Option<(usize, Vec<String>)> {
        ap.rules
            .iter()
            .flatten()
            .enumerate()
            .find_map(|(i, r)| match_rule(r, req, deny_like).ok().map(|n| (i, n)))
    };
    let with_notes = |n: &[String]| {
        if n.is_empty() {
            String::new()
        } else {
            format!(" ({})", n.join("; "))
        }
    };
    facts.allow_policies = of(&Action::Allow)
        .iter()
        .map(|(p, _)| p.obj_ref())
        .collect();

    // CUSTOM.
    let mut custom_hits: Vec<(ObjRef, String, usize)> = Vec::new();
    for (p, ap) in of(&Action::Custom(String::new())) {
        if let (Action::Custom(provider), Some((i, _))) = (&ap.action, first_match(ap, true)) {
            custom_hits.push((p.obj_ref(), provider.clone(), i));
        }
    }
    let missing: Vec<&(ObjRef, String, usize)> = custom_hits
        .iter()
        .filter(|(_, prov, _)| {
            cfg.extension_providers
                .as_ref()
                .is_some_and(|known| !known.contains(prov))
        })
        .collect();
    // DENY (a CUSTOM rule whose provider is missing is one).
    let mut deny_hits: Vec<(ObjRef, usize, Vec<String>)> = Vec::new();
    for (p, ap) in of(&Action::Deny) {
        if let Some((i, n)) = first_match(ap, true) {
            deny_hits.push((p.obj_ref(), i, n));
        }
    }
    if !deny_hits.is_empty() || !missing.is_empty() {
        let mut parts: Vec<String> = Vec::new();
        let mut by: Vec<ObjRef> = Vec::new();
        let mut identity_based = false;
        for (r, i, n) in &deny_hits {
            identity_based |= n.iter().any(|t| t.contains("without an mTLS identity"));
            parts.push(format!("{r} (DENY) rules[{i}] matches{}", with_notes(n)));
            by.push(r.clone());
            facts.deny_rules.push((r.clone(), *i));
        }
        for (r, prov, i) in &missing {
            parts.push(format!(
                "{r} (CUSTOM) rules[{i}] matches and names provider {prov:?}, which meshConfig.extensionProviders ({}) does not define, so istiod turns its matching rules into DENY",
                cfg.describe_source()
            ));
            by.push(r.clone());
            facts.deny_rules.push((r.clone(), *i));
        }
        return decision(
            MeshVerdict::Denied,
            Basis::DenyPolicy,
            if identity_based { "18" } else { "15" },
            format!(
                "{}; no ALLOW can override a DENY{skipped}",
                parts.join("; ")
            ),
            by,
            facts,
        );
    }
    // ALLOW.
    let allows = of(&Action::Allow);
    let allow_outcome: Option<MeshDecision> = if allows.is_empty() {
        None
    } else {
        let mut hit: Option<(ObjRef, usize, Vec<String>)> = None;
        for (p, ap) in &allows {
            if let Some((i, n)) = first_match(ap, false) {
                hit = Some((p.obj_ref(), i, n));
                break;
            }
        }
        Some(match hit {
            Some((r, i, n)) => decision(
                MeshVerdict::Allowed,
                Basis::AllowPolicy,
                "15",
                format!(
                    "{r} (ALLOW) rules[{i}] admits GET {} on port {}{}{skipped}",
                    req.path,
                    req.port,
                    with_notes(&n)
                ),
                vec![r],
                facts.clone(),
            ),
            None => {
                let refs: Vec<ObjRef> = allows.iter().map(|(p, _)| p.obj_ref()).collect();
                let mut whys: Vec<String> = Vec::new();
                let mut kinds: Vec<MissKind> = Vec::new();
                for (p, ap) in &allows {
                    match &ap.rules {
                        None => whys.push(format!("{} has no rules (allow-nothing)", p.obj_ref())),
                        Some(rules) => {
                            for (i, r) in rules.iter().enumerate() {
                                if let Err(m) = match_rule(r, req, false) {
                                    kinds.extend(m.iter().map(|x| x.kind));
                                    whys.push(format!(
                                        "{} rules[{i}]: {}",
                                        p.obj_ref(),
                                        m.iter()
                                            .map(|x| x.text.clone())
                                            .collect::<Vec<_>>()
                                            .join(", and ")
                                    ));
                                }
                            }
                        }
                    }
                }
                // Would the scraper's own mTLS identity make a rule match?
                let with_identity = Request {
                    peer: Some(&req.client.identity),
                    ..req.clone()
                };
                let needs_identity = req.peer.is_none()
                    && allows.iter().any(|(_, ap)| {
                        ap.rules
                            .iter()
                            .flatten()
                            .any(|r| match_rule(r, &with_identity, false).is_ok())
                    });
                let (basis, rule) = if needs_identity {
                    (Basis::IdentityRequired, "18")
                } else if kinds.contains(&MissKind::HttpOnTcp) {
                    (Basis::NoAllowMatch, "17")
                } else {
                    (Basis::NoAllowMatch, "15")
                };
                decision(
                    MeshVerdict::Denied,
                    basis,
                    rule,
                    format!(
                        "{} (ALLOW) {} to the pod, so a request no ALLOW rule matches is denied (403, or a reset on TCP); none matches: {}{skipped}",
                        names(&refs),
                        if refs.len() == 1 { "applies" } else { "apply" },
                        whys.join("; ")
                    ),
                    refs,
                    facts.clone(),
                )
            }
        })
    };
    if !custom_hits.is_empty() && allow_outcome.as_ref().is_none_or(|d| d.verdict.passes()) {
        let by: Vec<ObjRef> = custom_hits.iter().map(|(r, _, _)| r.clone()).collect();
        let provs: Vec<String> = custom_hits
            .iter()
            .map(|(r, p, i)| format!("{r} (CUSTOM, provider {p:?}) rules[{i}] matches"))
            .collect();
        return decision(
            MeshVerdict::Unknown,
            Basis::ExternalAuthorizer,
            "15",
            format!(
                "{}: the external authorizer decides; no DENY matches{}{skipped}",
                provs.join("; "),
                if allows.is_empty() {
                    String::new()
                } else {
                    " and an ALLOW admits the request".to_string()
                }
            ),
            by,
            facts,
        );
    }
    if let Some(d) = allow_outcome {
        return d;
    }
    decision(
        MeshVerdict::Allowed,
        Basis::NoAllowPolicy,
        "15",
        format!("no DENY matches and no ALLOW policy applies, so the request is allowed{skipped}"),
        vec![],
        facts,
    )
}

/// The ALLOW policies that apply to `pod` (rule 14), for the rule-19c guard: scrapepath never adds the
/// first ALLOW to a workload.
pub fn allow_policies_for(
    cfg: &MeshConfig,
    policies: &[&MeshPolicy],
    pod: &Pod,
    ns_labels: Option<&Labels>,
) -> Option<Vec<ObjRef>> {
    let ambient = match workload::dataplane(pod, ns_labels) {
        Dataplane::Outside => return None,
        Dataplane::Ambient => true,
        Dataplane::Sidecar { .. } => false,
    };
    let (applicable, _) = applicable_authz(cfg, policies, pod, ambient);
    Some(
        applicable
            .into_iter()
            .filter(|(_, ap)| ap.action == Action::Allow)
            .map(|(p, _)| p.obj_ref())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_values_match_exactly_by_prefix_by_suffix_or_any_non_empty() {
        assert!(string_match("/metrics", "/metrics"));
        assert!(!string_match("/metrics", "/metrics/x"));
        assert!(string_match("/stats/*", "/stats/prometheus"));
        assert!(string_match("*/prometheus", "/stats/prometheus"));
        assert!(string_match("*", "x"));
        assert!(!string_match("*", ""));
    }

    #[test]
    fn paths_are_normalized_without_the_query() {
        assert_eq!(normalize_path("/a/./b/../metrics?x=1"), "/a/metrics");
        assert_eq!(normalize_path("/metrics"), "/metrics");
        assert_eq!(normalize_path("/"), "/");
    }

    #[test]
    fn ip_blocks_cover_addresses_of_their_family() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(in_block("10.1.0.0/16", ip));
        assert!(in_block("10.1.2.3", ip));
        assert!(!in_block("10.2.0.0/16", ip));
        assert!(in_block("0.0.0.0/0", ip));
        assert!(!in_block("::/0", ip));
    }
}
