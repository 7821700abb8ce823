//! CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy, reduced to one rule
//! form (semantics R5–R15 of `semantics/cilium-ingress.md`). Parsing is version-independent; where a
//! Cilium version changes the meaning, the rule keeps enough to decide at evaluation time.

use std::collections::BTreeMap;
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
    /// Why Cilium rejects the whole policy (it then has no effect at all), by release and setting.
    pub invalid: Rejection,
    /// Selectors the agent reads at random ([`Ambiguity`]); empty for almost every policy.
    pub ambiguities: Vec<Ambiguity>,
    /// The rules under every other way the agent may read `ambiguities` (`rules` is the first), at most
    /// [`MAX_VARIANTS`] in all.
    pub variants: Vec<Vec<Rule>>,
}

/// A label that a selector's `matchLabels` names more than once for Cilium, with different values:
/// `app: a` beside `any:app: b` (or `:app`) are both the label `any.app` once the agent gives every key
/// its source (R4, `GetExtendedKeyFrom`), `$host` and `reserved:host` both `reserved.host`. The agent
/// builds the selector through a Go map (`NewESFromK8sLabelSelectorWithExtender`), so which value it
/// keeps is decided by Go's randomised map iteration, anew each time it reads the policy: the same
/// object may select a pod on one node and not on another, or after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Ambiguity {
    /// Where: `spec.ingress[0].fromEndpoints[1].matchLabels`.
    pub path: String,
    /// The keys as written, with their values, in key order.
    pub keys: Vec<(String, String)>,
    /// The distinct values, one of which the agent keeps.
    pub values: Vec<String>,
}

impl Ambiguity {
    pub fn describe(&self) -> String {
        format!(
            "{} names one label {} times for Cilium ({}): the agent keeps one of the values at random each time it reads the policy",
            self.path,
            self.keys.len(),
            self.keys
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// How many readings of a policy's ambiguous selectors are evaluated at most (the first ones, in order).
pub const MAX_VARIANTS: usize = 64;

/// The key as the agent stores it in an endpoint selector (`GetExtendedKeyFrom`): `source.key`, with
/// `any` where no source is written, `reserved` for `$key` and `reserved.key`, and the key cut at `=`.
pub fn cilium_extended_key(k: &str) -> String {
    let (src, rest) = if let Some(r) = k.strip_prefix('$') {
        ("reserved", r)
    } else if let Some((src, rest)) = k.split_once(':') {
        (if src.is_empty() { "any" } else { src }, rest)
    } else if let Some(r) = k.strip_prefix("reserved.") {
        ("reserved", r)
    } else {
        ("any", k)
    };
    let rest = rest.split_once('=').map_or(rest, |(k, _)| k);
    format!("{src}.{rest}")
}

/// Every endpoint selector of the policy that decides ingress or egress of pods, with its path.
fn selectors_mut(raw: &mut RawCiliumPolicy) -> Vec<(String, &mut LabelSelector)> {
    let mut out = Vec::new();
    let rules = raw.spec.iter_mut().map(|r| ("spec".to_string(), r)).chain(
        raw.specs
            .iter_mut()
            .flatten()
            .enumerate()
            .map(|(i, r)| (format!("specs[{i}]"), r)),
    );
    for (path, r) in rules {
        if let Some(es) = r.endpoint_selector.as_mut() {
            out.push((format!("{path}.endpointSelector"), es));
        }
        for (section, list) in [
            ("ingress", r.ingress.as_mut()),
            ("ingressDeny", r.ingress_deny.as_mut()),
        ] {
            for (i, e) in list.into_iter().flatten().enumerate() {
                for (field, sels) in [
                    ("fromEndpoints", e.from_endpoints.as_mut()),
                    ("fromRequires", e.from_requires.as_mut()),
                    ("fromNodes", e.from_nodes.as_mut()),
                ] {
                    for (k, sel) in sels.into_iter().flatten().enumerate() {
                        out.push((format!("{path}.{section}[{i}].{field}[{k}]"), sel));
                    }
                }
            }
        }
        for (section, list) in [
            ("egress", r.egress.as_mut()),
            ("egressDeny", r.egress_deny.as_mut()),
        ] {
            for (i, e) in list.into_iter().flatten().enumerate() {
                for (field, sels) in [
                    ("toEndpoints", e.to_endpoints.as_mut()),
                    ("toRequires", e.to_requires.as_mut()),
                    ("toNodes", e.to_nodes.as_mut()),
                ] {
                    for (k, sel) in sels.into_iter().flatten().enumerate() {
                        out.push((format!("{path}.{section}[{i}].{field}[{k}]"), sel));
                    }
                }
            }
        }
    }
    out
}

/// The ambiguous selectors of the policy, in the order of [`selectors_mut`].
fn ambiguities(raw: &RawCiliumPolicy) -> Vec<Ambiguity> {
    let mut raw = raw.clone();
    let mut out = Vec::new();
    for (path, sel) in selectors_mut(&mut raw) {
        let mut by_key: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            by_key
                .entry(cilium_extended_key(k))
                .or_default()
                .push((k.clone(), v.clone()));
        }
        for keys in by_key.into_values() {
            let mut values: Vec<String> = keys.iter().map(|(_, v)| v.clone()).collect();
            values.sort();
            values.dedup();
            if values.len() > 1 {
                out.push(Ambiguity {
                    path: format!("{path}.matchLabels"),
                    keys,
                    values,
                });
            }
        }
    }
    out
}

/// The policy as the agent reads it when it keeps value `choice[i]` of ambiguity `i`: the other keys of
/// each ambiguous label are dropped.
fn resolved(raw: &RawCiliumPolicy, amb: &[Ambiguity], choice: &[usize]) -> RawCiliumPolicy {
    let mut out = raw.clone();
    for (path, sel) in selectors_mut(&mut out) {
        let Some(ml) = sel.match_labels.as_mut() else {
            continue;
        };
        for (a, &c) in amb.iter().zip(choice) {
            if a.path.strip_suffix(".matchLabels") == Some(path.as_str()) {
                for (k, v) in &a.keys {
                    if *v != a.values[c] {
                        ml.remove(k);
                    }
                }
            }
        }
    }
    out
}

/// Every combination of choices, in mixed-radix order from all zeros, at most `cap`.
pub fn combinations(radices: &[usize], cap: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut cur = vec![0; radices.len()];
    loop {
        out.push(cur.clone());
        if out.len() >= cap {
            return out;
        }
        let mut i = 0;
        loop {
            if i == radices.len() {
                return out;
            }
            cur[i] += 1;
            if cur[i] < radices[i] {
                break;
            }
            cur[i] = 0;
            i += 1;
        }
    }
}

/// When the agent rejects a whole policy object (its parser or sanitiser fails; the policy then has no
/// effect at all), and why. What the sanitiser refuses changed between Cilium releases and depends on
/// some agent settings, so each reason carries the releases and the setting it holds for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rejection(pub Vec<RejectReason>);

#[derive(Debug, Clone, PartialEq)]
pub struct RejectReason {
    /// The Cilium minors (1.x) it holds for, inclusive.
    pub minors: std::ops::RangeInclusive<u16>,
    /// An agent setting it holds under; `None`: always.
    pub when: Option<SettingCondition>,
    /// Where in the object and what Cilium says (`spec.ingress[0]: combining FromEndpoints and ...`).
    pub message: String,
}

/// Agent settings a rejection depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingCondition {
    /// `enable-node-selector-labels` is off (fromNodes/toNodes need it).
    NodeSelectorLabelsOff,
    /// `enable-node-selector-labels` is on (the reason Cilium gives then differs).
    NodeSelectorLabelsOn,
}

impl Rejection {
    /// Why this agent rejects the policy, or `None` when it accepts it.
    pub fn at(&self, settings: &super::Settings) -> Option<&str> {
        self.0
            .iter()
            .find(|r| {
                settings.version.major == 1
                    && r.minors.contains(&settings.version.minor)
                    && match r.when {
                        None => true,
                        Some(SettingCondition::NodeSelectorLabelsOff) => {
                            !settings.node_selector_labels
                        }
                        Some(SettingCondition::NodeSelectorLabelsOn) => {
                            settings.node_selector_labels
                        }
                    }
            })
            .map(|r| r.message.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
    /// The scraper's side (`semantics/cilium-egress.md`): `egress`, `egressDeny` and
    /// `enableDefaultDeny.egress`, read as the ingress fields are.
    pub egress: Option<Vec<Entry>>,
    pub egress_deny: Option<Vec<Entry>>,
    pub enable_default_deny_egress: Option<bool>,
    pub from_kubernetes: bool,
    /// A KNP whose podSelector Cilium 1.19 cannot build (a key too long once given its source): there it
    /// selects every pod of the policy's namespace (1.20 builds it; up to 1.18 the policy is refused).
    pub subject_unbuildable: bool,
}

/// Which side of a connection a rule is enforced on: the destination's ingress or the source's egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl Rule {
    /// The allow and the deny entries of one direction.
    /// The CIDRs (and excepts) of every entry, both directions, allow and deny: the prefixes the agent
    /// puts in its ipcache for this rule (`policy.GetCIDRPrefixes`).
    pub fn cidrs(&self) -> impl Iterator<Item = &Cidr> {
        fn of(peer: &Peer) -> Vec<&CidrRule> {
            match peer {
                Peer::Cidr(c) => c.iter().collect(),
                Peer::Union(kinds) => kinds.iter().flat_map(of).collect(),
                Peer::EmptyList { rest, .. } => of(rest),
                _ => Vec::new(),
            }
        }
        [Direction::Ingress, Direction::Egress]
            .into_iter()
            .flat_map(|d| {
                let (allow, deny) = self.entries(d);
                allow.iter().chain(deny).flatten()
            })
            .flat_map(|e| of(&e.peer))
            .flat_map(|c| std::iter::once(&c.cidr).chain(&c.except))
    }

    pub fn entries(&self, dir: Direction) -> (&Option<Vec<Entry>>, &Option<Vec<Entry>>) {
        match dir {
            Direction::Ingress => (&self.ingress, &self.ingress_deny),
            Direction::Egress => (&self.egress, &self.egress_deny),
        }
    }

    /// `enableDefaultDeny.<direction>` as written.
    pub fn default_deny(&self, dir: Direction) -> Option<bool> {
        match dir {
            Direction::Ingress => self.enable_default_deny,
            Direction::Egress => self.enable_default_deny_egress,
        }
    }
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
    /// An explicitly empty list (`fromEndpoints: []`) in the element: from 1.16 the whole element selects
    /// nothing, whatever its other fields say; up to 1.15 the empty list is as if omitted and `rest` is
    /// the element's peer without it. `derived`: the policy has `fromGroups`/`toGroups`, so up to 1.19
    /// the agent enforces the policy cilium-operator derives from it, written back through JSON, where
    /// every empty list is omitted (R11): there too `rest` decides.
    EmptyList {
        field: &'static str,
        rest: Box<Peer>,
        derived: bool,
    },
    /// An element with neither peers nor ports (`ingress: [{}]`): allows nothing.
    Nothing,
    /// An egress peer that is not decided offline (`toServices`, `toFQDNs`: E4): it selects no pod here,
    /// and a denial names it.
    Unresolved(&'static str),
    /// Several peer kinds in one element, where the release does not refuse it (1.15's ingressDeny):
    /// any of them.
    Union(Vec<Peer>),
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
    /// A CNP/CCNP selector, which the agent scopes to the local cluster where the settings say so
    /// (`Settings::policy_cluster`); a NetworkPolicy peer is not.
    pub cluster_filter: bool,
    /// A KNP peer Cilium 1.19 cannot build (see [`Rule::subject_unbuildable`]): there it matches every
    /// identity.
    pub unbuildable: bool,
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
    /// `listener` (egress only): the connection is redirected to this Envoy listener of a
    /// CiliumEnvoyConfig, named `<namespace>/<envoyConfig>/<listener>` (E4.6).
    pub listener: Option<String>,
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
    /// From `toCIDRSet`/`fromCIDRSet` or a KNP `ipBlock` (Cilium's `CIDRRule`), not `toCIDR`/`fromCIDR`
    /// (`CIDRSlice`): the two build different selectors for a zero-length CIDR (E8.4).
    pub set: bool,
}

impl CidrRule {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Raw CRD shapes: only what decides ingress; unknown fields are tolerated.

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCiliumPolicy {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<RawRule>,
    #[serde(default)]
    pub specs: Option<Vec<RawRule>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
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
    pub egress: Option<Vec<RawEgress>>,
    #[serde(default)]
    pub egress_deny: Option<Vec<RawEgress>>,
    #[serde(default)]
    pub enable_default_deny: Option<RawDefaultDeny>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawDefaultDeny {
    #[serde(default)]
    pub ingress: Option<bool>,
    #[serde(default)]
    pub egress: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
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
    /// The first peer field of an egress element that cannot be decided offline (`toServices`,
    /// `toFQDNs`; never set for ingress): see [`Peer::Unresolved`].
    #[serde(skip)]
    pub unresolved: Option<&'static str>,
}

/// One egress (or egressDeny) element (E1 of `semantics/cilium-egress.md`): the peer fields are those of
/// ingress under their `to` names, so it is read as one ([`RawEgress::peer_element`]).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawEgress {
    #[serde(default)]
    pub to_endpoints: Option<Vec<LabelSelector>>,
    #[serde(default)]
    pub to_entities: Option<Vec<String>>,
    #[serde(default, rename = "toCIDR")]
    pub to_cidr: Option<Vec<String>>,
    #[serde(default, rename = "toCIDRSet")]
    pub to_cidr_set: Option<Vec<RawCidrRule>>,
    #[serde(default)]
    pub to_nodes: Option<Vec<LabelSelector>>,
    #[serde(default)]
    pub to_groups: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub to_requires: Option<Vec<LabelSelector>>,
    #[serde(default)]
    pub to_ports: Option<Vec<RawPortRule>>,
    #[serde(default)]
    pub icmps: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub to_services: Option<Vec<serde_json::Value>>,
    #[serde(default, rename = "toFQDNs")]
    pub to_fqdns: Option<Vec<serde_json::Value>>,
}

impl RawEgress {
    /// The element with its `to*` peers as the `from*` ones of one ingress element, which the rule
    /// conversion reads for both directions.
    pub fn peer_element(&self) -> RawIngress {
        let non_empty =
            |v: &Option<Vec<serde_json::Value>>| v.as_ref().is_some_and(|v| !v.is_empty());
        RawIngress {
            from_endpoints: self.to_endpoints.clone(),
            from_entities: self.to_entities.clone(),
            from_cidr: self.to_cidr.clone(),
            from_cidr_set: self.to_cidr_set.clone(),
            from_nodes: self.to_nodes.clone(),
            from_groups: self.to_groups.clone(),
            from_requires: self.to_requires.clone(),
            to_ports: self.to_ports.clone(),
            icmps: self.icmps.clone(),
            unresolved: if non_empty(&self.to_services) {
                Some("toServices")
            } else if non_empty(&self.to_fqdns) {
                Some("toFQDNs")
            } else {
                None
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawCidrRule {
    #[serde(default)]
    pub cidr: Option<String>,
    #[serde(default)]
    pub cidr_group_ref: Option<String>,
    #[serde(default)]
    pub except: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawPortRule {
    #[serde(default)]
    pub ports: Option<Vec<RawPortProtocol>>,
    #[serde(default)]
    pub rules: Option<RawL7Rules>,
    #[serde(default)]
    pub listener: Option<RawListener>,
}

/// `toPorts[*].listener`: an Envoy listener of a CiliumEnvoyConfig (or, `kind:
/// CiliumClusterwideEnvoyConfig`, of a cluster-wide one).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawListener {
    #[serde(default)]
    pub envoy_config: RawEnvoyConfigRef,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawEnvoyConfigRef {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RawPortProtocol {
    #[serde(default, deserialize_with = "string_or_int")]
    pub port: Option<String>,
    #[serde(default)]
    pub end_port: Option<i64>,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RawL7Rules {
    #[serde(default)]
    pub http: Option<Vec<RawHttp>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
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

/// Builds a policy from a CNP (`namespaced`) or CCNP; `json` is the whole object, which Cilium's
/// sanitiser judges (`sanitize`).
pub fn from_cilium(raw: &RawCiliumPolicy, clusterwide: bool, json: &serde_json::Value) -> Policy {
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
    let ns = if clusterwide { "" } else { namespace.as_str() };
    let derived = requires_derivative(json);
    let rules_of = |raw: &RawCiliumPolicy| -> Vec<Rule> {
        let mut raw_rules: Vec<(String, &RawRule)> = Vec::new();
        if let Some(spec) = &raw.spec {
            raw_rules.push(("spec".to_string(), spec));
        }
        for (i, spec) in raw.specs.iter().flatten().enumerate() {
            raw_rules.push((format!("specs[{i}]"), spec));
        }
        raw_rules
            .into_iter()
            .filter_map(|(path, r)| rule_from_cilium(&path, r, ns, derived))
            .collect()
    };
    let ambiguities = ambiguities(raw);
    let radices: Vec<usize> = ambiguities.iter().map(|a| a.values.len()).collect();
    let mut readings = combinations(&radices, MAX_VARIANTS)
        .into_iter()
        .map(|choice| rules_of(&resolved(raw, &ambiguities, &choice)));
    let rules = readings.next().unwrap_or_default();
    let variants = readings.collect();
    // The rules are parsed best-effort whatever the release: an agent that refuses the whole object
    // (`invalid`) ignores them, the others enforce them, and a refused policy is still reported on the
    // pods it would have selected (R11).
    Policy {
        obj,
        managed_by,
        rules,
        invalid: super::sanitize::cilium_policy(json, clusterwide),
        ambiguities,
        variants,
    }
}

/// Whether cilium-operator derives another policy from this one (`RequiresDerivative`: a non-empty
/// `fromGroups` or `toGroups` in any rule, ingress or egress, allow or deny). Up to 1.19 the agent sets
/// the original aside and enforces the derivative: the parsed rules with each group replaced by its
/// addresses, written to the API server as JSON, where empty lists are omitted.
fn requires_derivative(json: &serde_json::Value) -> bool {
    let spec = json.get("spec");
    let specs = json.get("specs").and_then(|s| s.as_array());
    let non_empty =
        |v: Option<&serde_json::Value>| v.and_then(|x| x.as_array()).is_some_and(|a| !a.is_empty());
    spec.into_iter()
        .chain(specs.into_iter().flatten())
        .any(|rule| {
            [
                ("ingress", "fromGroups"),
                ("ingressDeny", "fromGroups"),
                ("egress", "toGroups"),
                ("egressDeny", "toGroups"),
            ]
            .iter()
            .any(|(section, field)| {
                rule.get(section)
                    .and_then(|s| s.as_array())
                    .is_some_and(|elems| elems.iter().any(|e| non_empty(e.get(field))))
            })
        })
}

/// `ns` is the policy namespace for a CNP, "" for a CCNP. `None`: the rule has no subject (neither or
/// both of endpointSelector and nodeSelector, which every release refuses). `derived`: see
/// [`requires_derivative`].
fn rule_from_cilium(path: &str, r: &RawRule, ns: &str, derived: bool) -> Option<Rule> {
    let subject = rule_subject(r, ns)?;
    let ingress = r
        .ingress
        .as_ref()
        .map(|v| entries(path, "ingress", v, ns, false, derived));
    let ingress_deny = r
        .ingress_deny
        .as_ref()
        .map(|v| entries(path, "ingressDeny", v, ns, true, derived));
    let egress_of = |field: &str, v: &[RawEgress], deny: bool| {
        let elems: Vec<RawIngress> = v.iter().map(RawEgress::peer_element).collect();
        entries(path, field, &elems, ns, deny, derived)
    };
    let egress = r.egress.as_ref().map(|v| egress_of("egress", v, false));
    let egress_deny = r
        .egress_deny
        .as_ref()
        .map(|v| egress_of("egressDeny", v, true));
    Some(Rule {
        path: path.to_string(),
        subject,
        ingress,
        ingress_deny,
        enable_default_deny: r.enable_default_deny.as_ref().and_then(|d| d.ingress),
        egress,
        egress_deny,
        enable_default_deny_egress: r.enable_default_deny.as_ref().and_then(|d| d.egress),
        from_kubernetes: false,
        subject_unbuildable: false,
    })
}

fn rule_subject(r: &RawRule, ns: &str) -> Option<Subject> {
    let subject = match (&r.endpoint_selector, &r.node_selector) {
        (Some(_), Some(_)) | (None, None) => return None,
        // The host only (in a CNP, refused but in `specs` before 1.18).
        (None, Some(_)) => Subject::Nodes,
        (Some(es), None) => {
            if ns.is_empty() {
                Subject::Endpoints(lenient(es, Selector::from_cilium))
            } else {
                // R5: the policy namespace replaces the `k8s:io.kubernetes.pod.namespace` entry of
                // matchLabels (ParseToCiliumRule's AddMatch); a matchExpression on the namespace, or
                // the key without its k8s: prefix, stays and is ANDed with it.
                let mut es = es.clone();
                if let Some(ml) = es.match_labels.as_mut() {
                    ml.remove(&format!("k8s:{NS_KEY}"));
                }
                let sel = lenient(&es, Selector::from_cilium);
                Subject::Endpoints(sel.with(Requirement::equals(Source::K8s, NS_KEY, ns)))
            }
        }
    };
    Some(subject)
}

/// The selector as far as it is valid: a requirement Kubernetes' validation refuses (an operator without
/// its values, values where none belong, an unknown operator) is left out. Every release refuses such a
/// policy (`sanitize`); what remains says which pods it would have selected.
fn lenient(
    sel: &LabelSelector,
    build: impl Fn(&LabelSelector) -> Result<Selector, crate::selector::SelectorError>,
) -> Selector {
    build(sel).unwrap_or_else(|_| {
        let mut valid = sel.clone();
        if let Some(exprs) = valid.match_expressions.as_mut() {
            exprs.retain(|x| {
                let n = x.values.as_ref().map_or(0, Vec::len);
                match x.operator.as_str() {
                    "In" | "NotIn" => n > 0,
                    "Exists" | "DoesNotExist" => n == 0,
                    _ => false,
                }
            });
        }
        build(&valid).unwrap_or_else(|_| Selector::nothing())
    })
}

fn entries(
    path: &str,
    field: &str,
    raw: &[RawIngress],
    ns: &str,
    deny: bool,
    derived: bool,
) -> Vec<Entry> {
    raw.iter()
        .enumerate()
        .map(|(i, e)| entry(&format!("{path}.{field}[{i}]"), e, ns, deny, derived))
        .collect()
}

fn entry(path: &str, e: &RawIngress, ns: &str, deny: bool, derived: bool) -> Entry {
    // R11: one element, one L3 kind. An element combining kinds (or ICMP with toPorts) is refused by the
    // sanitiser (`sanitize`) of every release but where it does not look (1.15's ingressDeny).
    fn len<T>(v: &Option<Vec<T>>) -> usize {
        v.as_ref().map_or(0, Vec::len)
    }
    // L4 present: a non-empty toPorts or icmps. `toPorts: []` is as if omitted (the L4 list is empty).
    let has_l4 = len(&e.to_ports) > 0 || len(&e.icmps) > 0;
    // The peers of the non-empty L3 lists: one kind passes the sanitiser, except where a release does not
    // sanitise (1.15's ingressDeny): then the element admits (denies) the union of its kinds. With none, a
    // wildcard when the element has L4 (R11), else nothing.
    let mut kinds: Vec<Peer> = Vec::new();
    if let Some(eps) = e.from_endpoints.as_ref().filter(|v| !v.is_empty()) {
        kinds.push(Peer::Endpoints(
            eps.iter().map(|s| peer_selector(s, ns)).collect(),
        ));
    }
    if let Some(ents) = e.from_entities.as_ref().filter(|v| !v.is_empty()) {
        kinds.push(Peer::Entities(ents.clone()));
    }
    if let Some(cidrs) = e.from_cidr.as_ref().filter(|v| !v.is_empty()) {
        kinds.push(Peer::Cidr(
            parse_cidrs(cidrs.iter().map(String::as_str))
                .into_iter()
                .map(|cidr| CidrRule {
                    cidr,
                    except: Vec::new(),
                    set: false,
                })
                .collect(),
        ));
    }
    if let Some(set) = e.from_cidr_set.as_ref().filter(|v| !v.is_empty()) {
        kinds.push(Peer::Cidr(
            set.iter()
                .filter_map(|c| {
                    Some(CidrRule {
                        cidr: Cidr::parse(c.cidr.as_deref()?)?,
                        except: parse_cidrs(c.except.iter().flatten().map(String::as_str)),
                        set: true,
                    })
                })
                .collect(),
        ));
    }
    if let Some(nodes) = e.from_nodes.as_ref().filter(|v| !v.is_empty()) {
        kinds.push(Peer::Nodes(
            nodes
                .iter()
                .map(|s| {
                    lenient(s, Selector::from_cilium)
                        .with(Requirement::exists(Source::Reserved, "remote-node"))
                })
                .collect(),
        ));
    }
    if len(&e.from_groups) > 0 {
        kinds.push(Peer::Groups);
    }
    if let Some(field) = e.unresolved {
        kinds.push(Peer::Unresolved(field));
    }
    let peer = match kinds.len() {
        0 if has_l4 => Peer::Wildcard,
        0 => Peer::Nothing,
        1 => kinds.remove(0),
        _ => Peer::Union(kinds),
    };
    // An explicitly empty L3 list anywhere in the element (`fromEndpoints: []`, also beside another
    // non-empty list): Cilium ≥1.16 selects nothing with it (mergeEndpointSelectors,
    // GetSourceEndpointSelectorsWithRequirements). fromGroups does not take part.
    let empty_list = [
        ("fromEndpoints", e.from_endpoints.as_ref().map(Vec::len)),
        ("fromNodes", e.from_nodes.as_ref().map(Vec::len)),
        ("fromEntities", e.from_entities.as_ref().map(Vec::len)),
        ("fromCIDR", e.from_cidr.as_ref().map(Vec::len)),
        ("fromCIDRSet", e.from_cidr_set.as_ref().map(Vec::len)),
    ]
    .into_iter()
    .find_map(|(field, n)| (n == Some(0)).then_some(field));
    let peer = match empty_list {
        Some(field) => Peer::EmptyList {
            field,
            rest: Box::new(peer),
            derived,
        },
        None => peer,
    };
    // The agent merges `toPorts` and `icmps` each on its own (mergeIngress): an element with both (only
    // where the sanitiser does not look: 1.15's ingressDeny) holds its toPorts for TCP, and one with
    // ICMP rules alone no TCP port.
    let ports = match &e.to_ports {
        Some(v) if !v.is_empty() => {
            Ports::Rules(v.iter().map(|p| port_rule(p, ns, deny)).collect())
        }
        _ if len(&e.icmps) > 0 => Ports::IcmpOnly,
        _ => Ports::All,
    };
    let requires = e
        .from_requires
        .iter()
        .flatten()
        .map(|s| peer_selector(s, ns))
        .collect();
    Entry {
        path: path.to_string(),
        peer,
        ports,
        requires,
    }
}

/// The CIDRs that parse (one that does not makes every release refuse the policy: `sanitize`).
fn parse_cidrs<'a>(it: impl Iterator<Item = &'a str>) -> Vec<Cidr> {
    it.filter_map(Cidr::parse).collect()
}

/// Completes a `fromEndpoints`/`fromRequires` selector with its namespace rule (R6/R7).
fn peer_selector(s: &LabelSelector, ns: &str) -> PeerSelector {
    complete_peer(lenient(s, Selector::from_cilium), ns)
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
    // getEndpointSelector's HasKeyPrefix: only a namespace-label key of source k8s or any counts.
    let ns_labels_only = selector.requirements.iter().any(|r| {
        matches!(r.source, Source::K8s | Source::Any) && r.key.starts_with(NS_LABELS_PREFIX)
    });
    let injection = if has_reserved || !ns_reqs.is_empty() {
        Injection::None
    } else if ns.is_empty() {
        // A CCNP adds `Exists` whatever else the selector names (namespace labels included).
        Injection::AnyNamespace
    } else if ns_labels_only {
        Injection::NamespaceBefore116(ns.to_string())
    } else {
        Injection::Namespace(ns.to_string())
    };
    PeerSelector {
        selector,
        injection,
        negative_namespace,
        empty,
        unbuildable: false,
        cluster_filter: true,
    }
}

fn port_rule(p: &RawPortRule, ns: &str, deny: bool) -> PortRule {
    let ports = p.ports.iter().flatten().map(port_protocol).collect();
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
    // The listener's qualified name as the agent writes it (`api.ResourceQualifiedName`): a
    // CiliumEnvoyConfig in the policy's namespace, a cluster-wide one without.
    let listener = p.listener.as_ref().filter(|_| !deny).map(|l| {
        let cec = &l.envoy_config;
        let clusterwide = cec.kind.as_deref() == Some("CiliumClusterwideEnvoyConfig");
        let ns = if clusterwide { "" } else { ns };
        format!("{ns}/{}/{}", cec.name, l.name)
    });
    PortRule {
        ports,
        http,
        listener,
    }
}

/// A port as Cilium reads it. What the sanitiser refuses on every release (`sanitize`) is held as
/// something that admits no TCP port: an unknown protocol as SCTP, an unparsable port as a name that no
/// container has. Protocols without ports (VRRP, IGMP, GRE, ... on the releases that know them) never
/// admit TCP either, so they are held as SCTP too.
fn port_protocol(p: &RawPortProtocol) -> PortProtocol {
    let protocol = match p
        .protocol
        .as_deref()
        .unwrap_or("ANY")
        .to_ascii_uppercase()
        .as_str()
    {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "ANY" | "" => Protocol::Any,
        _ => Protocol::Sctp,
    };
    // A port name first, else a number in Go's notation (`010` is octal 8, `0x1F`... is a name).
    let raw = p.port.as_deref().unwrap_or("0");
    let port = if super::sanitize::is_svc_name(raw) {
        PortSpec::Named(raw.to_ascii_lowercase())
    } else {
        match super::sanitize::go_parse_uint16(raw) {
            Ok(n) => PortSpec::Number(n),
            Err(_) => PortSpec::Named(raw.to_ascii_lowercase()),
        }
    };
    let end_port = match p.end_port {
        Some(e) if (1..=65535).contains(&e) => Some(e as u16),
        _ => None,
    };
    PortProtocol {
        port,
        end_port,
        protocol,
    }
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

/// Kubernetes NetworkPolicy, translated as Cilium does (R15); `json` is the whole object, which Cilium's
/// sanitiser judges on the releases that sanitise NetworkPolicies (`sanitize`).
pub fn from_kubernetes(np: &netv1::NetworkPolicy, json: &serde_json::Value) -> Policy {
    let ns = np.metadata.namespace.clone().unwrap_or_default();
    let obj = ObjRef::new(
        Kind::NetworkPolicy,
        ns.clone(),
        np.metadata.name.clone().unwrap_or_default(),
    );
    let managed_by = managing_intent(&np.metadata.labels.clone().unwrap_or_default());
    Policy {
        obj,
        managed_by,
        rules: vec![knp_rule(np, &ns)],
        invalid: super::sanitize::network_policy(json),
        ambiguities: Vec::new(),
        variants: Vec::new(),
    }
}

/// A selector of a NetworkPolicy, every key given the `k8s:` source and `prefix`.
fn knp_selector(sel: &LabelSelector, prefix: &str) -> Selector {
    lenient(sel, |s| Selector::from_k8s_prefixed(s, prefix))
}

/// Whether Cilium 1.19 can build the selectors of a NetworkPolicy peer or subject (every key, once given
/// its source, is a valid label key). One it cannot selects everything there; up to 1.18 the sanitiser
/// refuses the whole policy, and 1.20 builds it from the key as written.
fn knp_buildable(pod: Option<&LabelSelector>, namespace: Option<&LabelSelector>) -> bool {
    let keys = |sel: Option<&LabelSelector>| -> Vec<String> {
        let Some(sel) = sel else { return Vec::new() };
        sel.match_labels
            .iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .chain(
                sel.match_expressions
                    .iter()
                    .flatten()
                    .map(|e| e.key.clone()),
            )
            .collect()
    };
    keys(pod)
        .iter()
        .all(|k| super::sanitize::knp_key_buildable(k, false))
        && keys(namespace)
            .iter()
            .all(|k| super::sanitize::knp_key_buildable(k, true))
}

fn knp_rule(np: &netv1::NetworkPolicy, ns: &str) -> Rule {
    let spec = np.spec.clone().unwrap_or_default();
    let pod_selector = spec.pod_selector.clone().unwrap_or_default();
    let subject =
        knp_selector(&pod_selector, "").with(Requirement::equals(Source::K8s, NS_KEY, ns));
    // The policy namespace is part of the same selector: on 1.19 an unbuildable one selects every
    // pod of every namespace.
    let subject_unbuildable = !knp_buildable(Some(&pod_selector), None);
    let types = spec.policy_types.clone().unwrap_or_default();
    let ingress_entries = knp_entries(
        "ingress",
        spec.ingress
            .iter()
            .flatten()
            .map(|r| (r.from.as_deref(), r.ports.as_deref())),
        ns,
    );
    let egress_entries = knp_entries(
        "egress",
        spec.egress
            .iter()
            .flatten()
            .map(|r| (r.to.as_deref(), r.ports.as_deref())),
        ns,
    );
    let has_ingress_type = types.iter().any(|t| t == "Ingress");
    let has_egress_type = types.iter().any(|t| t == "Egress");
    // Synthesised default-deny: one entry that allows nothing. Rules of either direction are translated
    // whatever `policyTypes` says (R15, E2).
    let deny_all = |section: &str| {
        Some(vec![Entry {
            path: format!("spec (no {section} rules)"),
            peer: Peer::Nothing,
            ports: Ports::All,
            requires: Vec::new(),
        }])
    };
    let ingress = if !ingress_entries.is_empty() {
        Some(ingress_entries)
    } else if has_ingress_type || !has_egress_type {
        deny_all("ingress")
    } else {
        None
    };
    let egress = if !egress_entries.is_empty() {
        Some(egress_entries)
    } else if has_egress_type {
        deny_all("egress")
    } else {
        None
    };
    Rule {
        path: "spec".to_string(),
        subject: Subject::Endpoints(subject),
        ingress,
        ingress_deny: None,
        enable_default_deny: None,
        egress,
        egress_deny: None,
        enable_default_deny_egress: None,
        from_kubernetes: true,
        subject_unbuildable,
    }
}

/// The entries of a NetworkPolicy's `ingress` (`from`) or `egress` (`to`) rules, as Cilium translates
/// them (R15, E2): one entry per element, split in two where it mixes ipBlocks and selectors.
fn knp_entries<'a>(
    section: &str,
    rules: impl Iterator<
        Item = (
            Option<&'a [netv1::NetworkPolicyPeer]>,
            Option<&'a [netv1::NetworkPolicyPort]>,
        ),
    >,
    ns: &str,
) -> Vec<Entry> {
    let mut entries_out = Vec::new();
    for (i, (peers, ports)) in rules.enumerate() {
        let path = format!("spec.{section}[{i}]");
        let peer = match peers {
            // Cilium's translation is an explicit wildcard endpoint selector, not an element without
            // peers: so up to 1.18 the fromRequires of other rules constrain it too (R14).
            None | Some([]) => Peer::Endpoints(vec![PeerSelector {
                selector: Selector::everything(),
                injection: Injection::None,
                negative_namespace: false,
                empty: true,
                unbuildable: false,
                cluster_filter: false,
            }]),
            Some(from) => {
                let mut sels = Vec::new();
                let mut cidrs = Vec::new();
                for p in from {
                    if let Some(block) = &p.ip_block {
                        // An unparsable CIDR cannot pass the API server; best-effort, it is left out.
                        if let Some(cidr) = Cidr::parse(&block.cidr) {
                            cidrs.push(CidrRule {
                                cidr,
                                except: parse_cidrs(
                                    block.except.iter().flatten().map(String::as_str),
                                ),
                                set: true,
                            });
                        }
                        continue;
                    }
                    sels.extend(knp_peer(p, ns));
                }
                match (sels.is_empty(), cidrs.is_empty()) {
                    (false, true) => Peer::Endpoints(sels),
                    (true, false) => Peer::Cidr(cidrs),
                    (true, true) => Peer::Nothing,
                    (false, false) => {
                        // Mixed peers in one element: split into two entries.
                        entries_out.push(Entry {
                            path: path.clone(),
                            peer: Peer::Cidr(cidrs),
                            ports: knp_ports(ports),
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
            ports: knp_ports(ports),
            requires: Vec::new(),
        });
    }
    entries_out
}

/// `None`: a peer with neither selector (nor ipBlock), which the API server refuses.
fn knp_peer(p: &netv1::NetworkPolicyPeer, ns: &str) -> Option<PeerSelector> {
    let mut sel = Selector::everything();
    let unbuildable = !knp_buildable(p.pod_selector.as_ref(), p.namespace_selector.as_ref());
    match (&p.pod_selector, &p.namespace_selector) {
        (None, None) => return None,
        (Some(ps), None) => {
            sel = knp_selector(ps, "").with(Requirement::equals(Source::K8s, NS_KEY, ns));
        }
        (pod, Some(nsel)) => {
            if let Some(ps) = pod {
                sel = knp_selector(ps, "");
            }
            let nsreq = knp_selector(nsel, NS_LABELS_PREFIX);
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
    Some(PeerSelector {
        selector: sel,
        injection: Injection::None,
        negative_namespace,
        empty: false,
        unbuildable,
        cluster_filter: false,
    })
}

fn knp_ports(ports: Option<&[netv1::NetworkPolicyPort]>) -> Ports {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return Ports::All;
    };
    let mut out = Vec::new();
    for p in ports {
        let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            // Only these pass the API server.
            _ => Protocol::Sctp,
        };
        let port = match &p.port {
            None => PortSpec::Number(0),
            // Out of range: the API server refuses it; held as a port no container has.
            Some(IntOrString::Int(n)) => match u16::try_from(*n) {
                Ok(n) => PortSpec::Number(n),
                Err(_) => PortSpec::Named(n.to_string()),
            },
            Some(IntOrString::String(s)) => match s.parse::<u16>() {
                Ok(n) => PortSpec::Number(n),
                Err(_) => PortSpec::Named(s.to_ascii_lowercase()),
            },
        };
        let end_port = p.end_port.and_then(|e| u16::try_from(e).ok());
        out.push(PortProtocol {
            port,
            end_port,
            protocol,
        });
    }
    Ports::Rules(vec![PortRule {
        ports: out,
        http: None,
        listener: None,
    }])
}
