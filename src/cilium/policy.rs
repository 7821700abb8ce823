//! CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy, reduced to one rule
//! form (semantics R5–R15 of `semantics/cilium-ingress.md`). Parsing is version-independent; where a
//! Cilium version changes the meaning, the rule keeps enough to decide at evaluation time.

use std::net::IpAddr;

use k8s_openapi::api::networking::v1 as netv1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Deserializer};

use crate::model::{managing_intent, Kind, ObjRef};
use crate::selector::{Operator, Requirement, Selector, Source};

pub const NS_KEY: &str = "io.kubernetes.pod.namespace";
pub const NS_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";

/// One policy object, as Cilium would hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub obj: ObjRef,
    /// The intent that manages it, when scrapepath applied it.
    pub managed_by: Option<String>,
    pub rules: Vec<Rule>,
    /// Why Cilium rejects the whole policy (it then has no effect at all).
    pub invalid: Option<String>,
}

/// One rule (`spec` or one of `specs`; a KNP is one rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Where in the object: `spec`, `specs[1]`.
    pub path: String,
    pub subject: Subject,
    /// `None`: no `ingress` field; `Some(vec![])`: `ingress: []`, which has no effect (R11).
    pub ingress: Option<Vec<Entry>>,
    pub ingress_deny: Option<Vec<Entry>>,
    /// `enableDefaultDeny.ingress` as written (D4).
    pub enable_default_deny: Option<bool>,
    pub from_kubernetes: bool,
    /// A KNP with `endPort` (rejected by Cilium 1.15, ignored before; R12).
    pub uses_end_port: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// Endpoints matching the selector; for CNP/KNP the policy namespace is already part of it (R5).
    Endpoints(Selector),
    /// A CCNP `nodeSelector`: the host firewall only, never pods.
    Nodes,
}

/// One ingress (or ingressDeny) element.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Where in the object: `spec.ingress[2]`.
    pub path: String,
    pub peer: Peer,
    pub ports: Ports,
    /// `fromRequires` of this element (R14; collected across all rules at evaluation).
    pub requires: Vec<PeerSelector>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Peer {
    /// `toPorts` without an L3 field: every identity (R11).
    Wildcard,
    Endpoints(Vec<PeerSelector>),
    Entities(Vec<String>),
    Cidr(Vec<CidrRule>),
    Nodes(Vec<Selector>),
    /// `fromGroups` (cloud provider groups): only external IPs, never pods.
    Groups,
    /// An explicitly empty list (`fromEndpoints: []`): nothing on ≥1.15, like an omitted field before.
    EmptyList(&'static str),
    /// An element with neither peers nor ports (`ingress: [{}]`): allows nothing.
    Nothing,
}

/// How a `fromEndpoints` selector is completed with a namespace (R6, R7).
#[derive(Debug, Clone, PartialEq)]
pub enum Injection {
    /// A `reserved:` key or a namespace key: unchanged.
    None,
    /// CNP/KNP podSelector: the policy namespace.
    Namespace(String),
    /// CNP selector on namespace labels only: no injection from ~1.16 (PR #30650), the policy namespace before.
    NamespaceBefore116(String),
    /// CCNP: `io.kubernetes.pod.namespace Exists`.
    AnyNamespace,
    /// CCNP selector on namespace labels only.
    AnyNamespaceBefore116,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeerSelector {
    /// The selector as written (source prefixes parsed).
    pub selector: Selector,
    pub injection: Injection,
    /// It has a `NotIn`/`DoesNotExist` on the namespace key: the newest Cilium adds `Exists` (R6.2, PR #46996).
    pub negative_namespace: bool,
    /// Written as `{}`.
    pub empty: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ports {
    /// No `toPorts`: every port and protocol.
    All,
    Rules(Vec<PortRule>),
    /// Only ICMP: no TCP port.
    IcmpOnly,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortRule {
    /// Empty: every port.
    pub ports: Vec<PortProtocol>,
    /// `rules.http`: when set, the connection goes through Envoy and requests must match (R13).
    pub http: Option<Vec<HttpRule>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortProtocol {
    pub port: PortSpec,
    pub end_port: Option<u16>,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PortSpec {
    /// 0 is every port.
    Number(u16),
    /// Resolved against the destination pod's own container ports (R12).
    Named(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Any,
}

impl Protocol {
    pub fn admits_tcp(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Any)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpRule {
    pub method: Option<String>,
    pub path: Option<String>,
    pub host: Option<String>,
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() { max } else { p.parse().ok()? };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(*i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(*i) & mask
            }
            _ => false,
        }
    }
}

/// A CIDR with the ranges carved out of it (`fromCIDRSet[].except`, `ipBlock.except`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrRule {
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
}

impl CidrRule {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Raw CRD shapes: only what decides ingress; unknown fields are tolerated.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCiliumPolicy {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<RawRule>,
    #[serde(default)]
    pub specs: Option<Vec<RawRule>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawRule {
    #[serde(default)]
    pub endpoint_selector: Option<LabelSelector>,
    #[serde(default)]
    pub node_selector: Option<LabelSelector>,
    #[serde(default)]
    pub ingress: Option<Vec<RawIngress>>,
    #[serde(default)]
    pub ingress_deny: Option<Vec<RawIngress>>,
    #[serde(default)]
    pub enable_default_deny: Option<RawDefaultDeny>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawDefaultDeny {
    #[serde(default)]
    pub ingress: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawIngress {
    #[serde(default)]
    pub from_endpoints: Option<Vec<LabelSelector>>,
    #[serde(default)]
    pub from_entities: Option<Vec<String>>,
    #[serde(default, rename = "fromCIDR")]
    pub from_cidr: Option<Vec<String>>,
    #[serde(default, rename = "fromCIDRSet")]
    pub from_cidr_set: Option<Vec<RawCidrRule>>,
    #[serde(default)]
    pub from_nodes: Option<Vec<LabelSelector>>,
    #[serde(default)]
    pub from_groups: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub from_requires: Option<Vec<LabelSelector>>,
    #[serde(default)]
    pub to_ports: Option<Vec<RawPortRule>>,
    #[serde(default)]
    pub icmps: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawCidrRule {
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub cidr_group_ref: Option<String>,
    #[serde(default)]
    pub except: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawPortRule {
    #[serde(default)]
    pub ports: Option<Vec<RawPortProtocol>>,
    #[serde(default)]
    pub rules: Option<RawL7Rules>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawPortProtocol {
    #[serde(default, deserialize_with = "string_or_int")]
    pub port: Option<String>,
    #[serde(default)]
    pub end_port: Option<i64>,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawL7Rules {
    #[serde(default)]
    pub http: Option<Vec<RawHttp>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawHttp {
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub headers: Option<Vec<String>>,
}

/// Ports are strings in the CRD; YAML authors often write numbers.
fn string_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum SI {
        S(String),
        I(i64),
    }
    Ok(Option::<SI>::deserialize(d)?.map(|v| match v {
        SI::S(s) => s,
        SI::I(i) => i.to_string(),
    }))
}

// ---------------------------------------------------------------------------------------------------------
// Conversion.

/// Builds a policy from a CNP (`namespaced`) or CCNP.
pub fn from_cilium(raw: &RawCiliumPolicy, clusterwide: bool) -> Policy {
    let kind = if clusterwide {
        Kind::CiliumClusterwideNetworkPolicy
    } else {
        Kind::CiliumNetworkPolicy
    };
    let namespace = if clusterwide {
        String::new()
    } else {
        raw.metadata.namespace.clone().unwrap_or_default()
    };
    let obj = ObjRef::new(
        kind,
        namespace.clone(),
        raw.metadata.name.clone().unwrap_or_default(),
    );
    let managed_by = managing_intent(&raw.metadata.labels.clone().unwrap_or_default());
    let mut rules = Vec::new();
    let mut invalid = None;
    let mut raw_rules: Vec<(String, &RawRule)> = Vec::new();
    if let Some(spec) = &raw.spec {
        raw_rules.push(("spec".to_string(), spec));
    }
    for (i, spec) in raw.specs.iter().flatten().enumerate() {
        raw_rules.push((format!("specs[{i}]"), spec));
    }
    if raw_rules.is_empty() {
        invalid = Some("neither spec nor specs is set".to_string());
    }
    for (path, r) in raw_rules {
        match rule_from_cilium(&path, r, if clusterwide { "" } else { &namespace }) {
            Ok(rule) => rules.push(rule),
            Err(err) => {
                let (e, inert) = *err;
                invalid.get_or_insert(format!("{path}: {e}"));
                rules.extend(inert);
            }
        }
    }
    // An invalid policy keeps the rules that parsed, so reports can say which pods it would have selected;
    // evaluation ignores them (Cilium rejects the whole object, R11).
    Policy {
        obj,
        managed_by,
        rules,
        invalid,
    }
}

/// `ns` is the policy namespace for a CNP, "" for a CCNP.
/// On error, the rule's subject is still returned when it parsed, so a rejected policy can be reported on
/// the pods it would have selected.
fn rule_from_cilium(
    path: &str,
    r: &RawRule,
    ns: &str,
) -> Result<Rule, Box<(String, Option<Rule>)>> {
    let subject = rule_subject(r, ns).map_err(|e| Box::new((e, None)))?;
    let inert = |e: String| {
        let rule = Rule {
            path: path.to_string(),
            subject: subject.clone(),
            ingress: None,
            ingress_deny: None,
            enable_default_deny: None,
            from_kubernetes: false,
            uses_end_port: false,
        };
        Box::new((e, Some(rule)))
    };
    let ingress = r
        .ingress
        .as_ref()
        .map(|v| entries(path, "ingress", v, ns, false))
        .transpose()
        .map_err(inert)?;
    let ingress_deny = r
        .ingress_deny
        .as_ref()
        .map(|v| entries(path, "ingressDeny", v, ns, true))
        .transpose()
        .map_err(inert)?;
    Ok(Rule {
        path: path.to_string(),
        subject,
        ingress,
        ingress_deny,
        enable_default_deny: r.enable_default_deny.as_ref().and_then(|d| d.ingress),
        from_kubernetes: false,
        uses_end_port: false,
    })
}

fn rule_subject(r: &RawRule, ns: &str) -> Result<Subject, String> {
    let subject = match (&r.endpoint_selector, &r.node_selector) {
        (Some(_), Some(_)) => {
            return Err("endpointSelector and nodeSelector are mutually exclusive".into())
        }
        (None, None) => return Err("one of endpointSelector or nodeSelector is required".into()),
        (None, Some(_)) if !ns.is_empty() => {
            return Err("nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy".into())
        }
        (None, Some(_)) => Subject::Nodes,
        (Some(es), None) => {
            let sel = Selector::from_cilium(es).map_err(|e| format!("endpointSelector: {e}"))?;
            if ns.is_empty() {
                Subject::Endpoints(sel)
            } else {
                // R5: the policy namespace overrides any namespace written with the k8s: prefix.
                let mut sel = sel;
                sel.requirements
                    .retain(|req| !(req.source == Source::K8s && req.key == NS_KEY));
                Subject::Endpoints(sel.with(Requirement::equals(Source::K8s, NS_KEY, ns)))
            }
        }
    };
    Ok(subject)
}

fn entries(
    path: &str,
    field: &str,
    raw: &[RawIngress],
    ns: &str,
    deny: bool,
) -> Result<Vec<Entry>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, e)| {
            let epath = format!("{path}.{field}[{i}]");
            entry(&epath, e, ns, deny).map_err(|m| format!("{field}[{i}]: {m}"))
        })
        .collect()
}

fn entry(path: &str, e: &RawIngress, ns: &str, deny: bool) -> Result<Entry, String> {
    // R11: one element, one L3 kind. Cilium counts only non-empty lists as a kind in use, so an empty
    // list beside a non-empty one of another kind is inert.
    fn len<T>(v: &Option<Vec<T>>) -> usize {
        v.as_ref().map_or(0, Vec::len)
    }
    let kinds: Vec<&str> = [
        ("fromEndpoints", len(&e.from_endpoints)),
        ("fromEntities", len(&e.from_entities)),
        ("fromCIDR", len(&e.from_cidr)),
        ("fromCIDRSet", len(&e.from_cidr_set)),
        ("fromNodes", len(&e.from_nodes)),
        ("fromGroups", len(&e.from_groups)),
    ]
    .into_iter()
    .filter_map(|(n, l)| (l > 0).then_some(n))
    .collect();
    let one_in_use = kinds.len() == 1;
    // Takes a list when it is the one in use, or (none in use) when it is an explicitly empty list.
    let take = |empty: bool| !empty || !one_in_use;
    if kinds.len() > 1 {
        return Err(format!(
            "combining {} and {} is not supported yet",
            kinds[0], kinds[1]
        ));
    }
    if e.icmps.is_some() && e.to_ports.is_some() {
        return Err("icmps cannot be combined with toPorts".into());
    }
    let peer = if let Some(eps) = e.from_endpoints.as_ref().filter(|v| take(v.is_empty())) {
        if eps.is_empty() {
            Peer::EmptyList("fromEndpoints")
        } else {
            Peer::Endpoints(
                eps.iter()
                    .map(|s| peer_selector(s, ns))
                    .collect::<Result<_, _>>()?,
            )
        }
    } else if let Some(ents) = e.from_entities.as_ref().filter(|v| take(v.is_empty())) {
        if ents.is_empty() {
            Peer::EmptyList("fromEntities")
        } else {
            for ent in ents {
                if !KNOWN_ENTITIES.contains(&ent.as_str()) {
                    return Err(format!("unknown entity {ent:?}"));
                }
            }
            Peer::Entities(ents.clone())
        }
    } else if let Some(cidrs) = e.from_cidr.as_ref().filter(|v| take(v.is_empty())) {
        if cidrs.is_empty() {
            Peer::EmptyList("fromCIDR")
        } else {
            Peer::Cidr(
                parse_cidrs(cidrs.iter().map(String::as_str))?
                    .into_iter()
                    .map(|cidr| CidrRule {
                        cidr,
                        except: Vec::new(),
                    })
                    .collect(),
            )
        }
    } else if let Some(set) = e.from_cidr_set.as_ref().filter(|v| take(v.is_empty())) {
        if set.is_empty() {
            Peer::EmptyList("fromCIDRSet")
        } else {
            Peer::Cidr(
                set.iter()
                    .filter_map(|c| Some((c.cidr.as_deref()?, c.except.as_deref().unwrap_or(&[]))))
                    .map(|(cidr, except)| {
                        Ok(CidrRule {
                            cidr: parse_cidrs(std::iter::once(cidr))?[0],
                            except: parse_cidrs(except.iter().map(String::as_str))?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
    } else if let Some(nodes) = e.from_nodes.as_ref().filter(|v| take(v.is_empty())) {
        if nodes.is_empty() {
            Peer::EmptyList("fromNodes")
        } else {
            Peer::Nodes(
                nodes
                    .iter()
                    .map(|s| {
                        Selector::from_cilium(s)
                            .map(|s| s.with(Requirement::exists(Source::Reserved, "remote-node")))
                            .map_err(|e| format!("fromNodes: {e}"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    } else if e.from_groups.as_ref().is_some_and(|v| take(v.is_empty())) {
        Peer::Groups
    } else if e.to_ports.is_some() || e.icmps.is_some() {
        Peer::Wildcard
    } else {
        Peer::Nothing
    };
    let ports = if e.icmps.is_some() {
        Ports::IcmpOnly
    } else {
        match &e.to_ports {
            None => Ports::All,
            Some(v) if v.is_empty() => Ports::All,
            Some(v) => Ports::Rules(
                v.iter()
                    .map(|p| port_rule(p, deny))
                    .collect::<Result<_, _>>()?,
            ),
        }
    };
    let requires = e
        .from_requires
        .iter()
        .flatten()
        .map(|s| peer_selector(s, ns))
        .collect::<Result<_, _>>()?;
    Ok(Entry {
        path: path.to_string(),
        peer,
        ports,
        requires,
    })
}

const KNOWN_ENTITIES: &[&str] = &[
    "all",
    "world",
    "world-ipv4",
    "world-ipv6",
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

fn parse_cidrs<'a>(it: impl Iterator<Item = &'a str>) -> Result<Vec<Cidr>, String> {
    it.map(|c| Cidr::parse(c).ok_or_else(|| format!("invalid CIDR {c:?}")))
        .collect()
}

/// Completes a `fromEndpoints`/`fromRequires` selector with its namespace rule (R6/R7).
fn peer_selector(s: &LabelSelector, ns: &str) -> Result<PeerSelector, String> {
    let selector = Selector::from_cilium(s).map_err(|e| format!("fromEndpoints: {e}"))?;
    Ok(complete_peer(selector, ns))
}

pub(crate) fn complete_peer(selector: Selector, ns: &str) -> PeerSelector {
    let empty = selector.requirements.is_empty();
    let has_reserved = selector
        .requirements
        .iter()
        .any(|r| r.source == Source::Reserved);
    let ns_reqs: Vec<&Requirement> = selector
        .requirements
        .iter()
        .filter(|r| matches!(r.source, Source::K8s | Source::Any) && r.key == NS_KEY)
        .collect();
    let negative_namespace = ns_reqs
        .iter()
        .any(|r| matches!(r.op, Operator::NotIn(_) | Operator::DoesNotExist));
    let ns_labels_only = selector
        .requirements
        .iter()
        .any(|r| r.key.starts_with(NS_LABELS_PREFIX));
    let injection = if has_reserved || !ns_reqs.is_empty() {
        Injection::None
    } else if ns_labels_only {
        if ns.is_empty() {
            Injection::AnyNamespaceBefore116
        } else {
            Injection::NamespaceBefore116(ns.to_string())
        }
    } else if ns.is_empty() {
        Injection::AnyNamespace
    } else {
        Injection::Namespace(ns.to_string())
    };
    PeerSelector {
        selector,
        injection,
        negative_namespace,
        empty,
    }
}

fn port_rule(p: &RawPortRule, deny: bool) -> Result<PortRule, String> {
    let ports = p
        .ports
        .iter()
        .flatten()
        .map(port_protocol)
        .collect::<Result<Vec<_>, _>>()?;
    let http = p.rules.as_ref().and_then(|r| r.http.as_ref()).map(|v| {
        v.iter()
            .map(|h| HttpRule {
                method: h.method.clone(),
                path: h.path.clone(),
                host: h.host.clone(),
                headers: h.headers.clone().unwrap_or_default(),
            })
            .collect::<Vec<_>>()
    });
    // The deny port rule of the CRD has no `rules`: the apiserver prunes it, so Cilium never sees it.
    let http = if deny { None } else { http };
    // Sanitize: L7 rules only on TCP (an omitted protocol is ANY).
    if http.is_some() {
        if let Some(pp) = ports.iter().find(|pp| pp.protocol != Protocol::Tcp) {
            return Err(format!(
                "L7 rules can only apply to TCP (not {})",
                match pp.protocol {
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                    _ => "ANY",
                }
            ));
        }
    }
    for h in http.iter().flatten() {
        for re in [&h.method, &h.path, &h.host].into_iter().flatten() {
            regex::Regex::new(re).map_err(|e| format!("invalid HTTP rule regex {re:?}: {e}"))?;
        }
    }
    Ok(PortRule { ports, http })
}

fn port_protocol(p: &RawPortProtocol) -> Result<PortProtocol, String> {
    let protocol = match p
        .protocol
        .as_deref()
        .unwrap_or("ANY")
        .to_ascii_uppercase()
        .as_str()
    {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        "ANY" | "" => Protocol::Any,
        other => return Err(format!("unknown protocol {other:?}")),
    };
    let raw = p.port.as_deref().unwrap_or("0");
    let port = match raw.parse::<u32>() {
        Ok(n) if n <= 65535 => PortSpec::Number(n as u16),
        Ok(n) => return Err(format!("port {n} is out of range")),
        Err(_) if is_iana_svc_name(raw) => PortSpec::Named(raw.to_ascii_lowercase()),
        Err(_) => return Err(format!("port {raw:?} is neither a number nor a port name")),
    };
    let end_port = match p.end_port {
        None | Some(0) => None,
        Some(e) if (1..=65535).contains(&e) => Some(e as u16),
        Some(e) => return Err(format!("endPort {e} is out of range")),
    };
    Ok(PortProtocol {
        port,
        end_port,
        protocol,
    })
}

/// An IANA service name as Kubernetes validates it: ≤15 chars, lowercase alnum and '-', a letter, no '--'.
pub fn is_iana_svc_name(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    !s.is_empty()
        && s.len() <= 15
        && lower
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && lower.bytes().any(|b| b.is_ascii_lowercase())
        && !lower.starts_with('-')
        && !lower.ends_with('-')
        && !lower.contains("--")
}

/// Kubernetes NetworkPolicy, translated as Cilium does (R15).
pub fn from_kubernetes(np: &netv1::NetworkPolicy) -> Policy {
    let ns = np.metadata.namespace.clone().unwrap_or_default();
    let obj = ObjRef::new(
        Kind::NetworkPolicy,
        ns.clone(),
        np.metadata.name.clone().unwrap_or_default(),
    );
    let managed_by = managing_intent(&np.metadata.labels.clone().unwrap_or_default());
    match knp_rule(np, &ns) {
        Ok(rule) => Policy {
            obj,
            managed_by,
            rules: vec![rule],
            invalid: None,
        },
        Err(e) => Policy {
            obj,
            managed_by,
            rules: Vec::new(),
            invalid: Some(e),
        },
    }
}

fn knp_rule(np: &netv1::NetworkPolicy, ns: &str) -> Result<Rule, String> {
    let spec = np.spec.clone().unwrap_or_default();
    let subject = Selector::from_k8s_prefixed(&spec.pod_selector.clone().unwrap_or_default(), "")
        .map_err(|e| format!("podSelector: {e}"))?
        .with(Requirement::equals(Source::K8s, NS_KEY, ns));
    let types = spec.policy_types.clone().unwrap_or_default();
    let ingress_rules = spec.ingress.clone().unwrap_or_default();
    let mut uses_end_port = false;
    let mut entries_out = Vec::new();
    for (i, r) in ingress_rules.iter().enumerate() {
        let path = format!("spec.ingress[{i}]");
        let peer = match r.from.as_deref() {
            None | Some([]) => Peer::Wildcard,
            Some(from) => {
                let mut sels = Vec::new();
                let mut cidrs = Vec::new();
                for (j, p) in from.iter().enumerate() {
                    if let Some(block) = &p.ip_block {
                        let invalid =
                            |c: &String| format!("{path}.from[{j}].ipBlock: invalid CIDR {c:?}");
                        cidrs.push(CidrRule {
                            cidr: Cidr::parse(&block.cidr).ok_or_else(|| invalid(&block.cidr))?,
                            except: block
                                .except
                                .iter()
                                .flatten()
                                .map(|c| Cidr::parse(c).ok_or_else(|| invalid(c)))
                                .collect::<Result<_, _>>()?,
                        });
                        continue;
                    }
                    sels.push(knp_peer(p, ns).map_err(|e| format!("{path}.from[{j}]: {e}"))?);
                }
                match (sels.is_empty(), cidrs.is_empty()) {
                    (false, true) => Peer::Endpoints(sels),
                    (true, false) => Peer::Cidr(cidrs),
                    (true, true) => Peer::Nothing,
                    (false, false) => {
                        // Mixed peers in one element: split into two entries below.
                        entries_out.push(Entry {
                            path: path.clone(),
                            peer: Peer::Cidr(cidrs),
                            ports: knp_ports(r, &mut uses_end_port)?,
                            requires: Vec::new(),
                        });
                        Peer::Endpoints(sels)
                    }
                }
            }
        };
        entries_out.push(Entry {
            path,
            peer,
            ports: knp_ports(r, &mut uses_end_port)?,
            requires: Vec::new(),
        });
    }
    let has_ingress_type = types.iter().any(|t| t == "Ingress");
    let has_egress_type = types.iter().any(|t| t == "Egress");
    let ingress = if !entries_out.is_empty() {
        Some(entries_out)
    } else if has_ingress_type || !has_egress_type {
        // Synthesised default-deny: one entry that allows nothing.
        Some(vec![Entry {
            path: "spec (no ingress rules)".to_string(),
            peer: Peer::Nothing,
            ports: Ports::All,
            requires: Vec::new(),
        }])
    } else {
        None
    };
    Ok(Rule {
        path: "spec".to_string(),
        subject: Subject::Endpoints(subject),
        ingress,
        ingress_deny: None,
        enable_default_deny: None,
        from_kubernetes: true,
        uses_end_port,
    })
}

fn knp_peer(p: &netv1::NetworkPolicyPeer, ns: &str) -> Result<PeerSelector, String> {
    let mut sel = Selector::everything();
    match (&p.pod_selector, &p.namespace_selector) {
        (None, None) => return Err("a peer needs podSelector, namespaceSelector or ipBlock".into()),
        (Some(ps), None) => {
            sel = Selector::from_k8s_prefixed(ps, "").map_err(|e| format!("podSelector: {e}"))?;
            sel = sel.with(Requirement::equals(Source::K8s, NS_KEY, ns));
        }
        (pod, Some(nsel)) => {
            if let Some(ps) = pod {
                sel =
                    Selector::from_k8s_prefixed(ps, "").map_err(|e| format!("podSelector: {e}"))?;
            }
            let nsreq = Selector::from_k8s_prefixed(nsel, NS_LABELS_PREFIX)
                .map_err(|e| format!("namespaceSelector: {e}"))?;
            if nsreq.requirements.is_empty() {
                sel = sel.with(Requirement::exists(Source::K8s, NS_KEY));
            } else {
                sel.requirements.extend(nsreq.requirements);
            }
        }
    }
    // A NotIn/DoesNotExist over namespace labels also matches reserved identities before PR #46996.
    let negative_namespace = sel.requirements.iter().any(|r| {
        r.key.starts_with(NS_LABELS_PREFIX)
            && matches!(r.op, Operator::NotIn(_) | Operator::DoesNotExist)
    }) && !sel.requirements.iter().any(|r| {
        r.key == NS_KEY
            || (r.key.starts_with(NS_LABELS_PREFIX)
                && matches!(r.op, Operator::In(_) | Operator::Exists))
    });
    Ok(PeerSelector {
        selector: sel,
        injection: Injection::None,
        negative_namespace,
        empty: false,
    })
}

fn knp_ports(
    r: &netv1::NetworkPolicyIngressRule,
    uses_end_port: &mut bool,
) -> Result<Ports, String> {
    let Some(ports) = r.ports.as_deref().filter(|p| !p.is_empty()) else {
        return Ok(Ports::All);
    };
    let mut out = Vec::new();
    for p in ports {
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => return Err(format!("unknown protocol {other:?}")),
        };
        let port = match &p.port {
            None => PortSpec::Number(0),
            Some(IntOrString::Int(n)) => PortSpec::Number(
                u16::try_from(*n).map_err(|_| format!("port {n} is out of range"))?,
            ),
            Some(IntOrString::String(s)) => match s.parse::<u16>() {
                Ok(n) => PortSpec::Number(n),
                Err(_) => PortSpec::Named(s.to_ascii_lowercase()),
            },
        };
        let end_port = p.end_port.and_then(|e| u16::try_from(e).ok());
        if end_port.is_some() {
            *uses_end_port = true;
        }
        out.push(PortProtocol {
            port,
            end_port,
            protocol,
        });
    }
    Ok(Ports::Rules(vec![PortRule {
        ports: out,
        http: None,
    }]))
}
