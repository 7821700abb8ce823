//! Which policy objects the Cilium agent refuses, release by release, and why: the one place that decides
//! acceptance (`Policy::invalid`). A refused object has no effect at all: no allow, no deny, no
//! default-deny.
//!
//! This re-enacts, on the object's JSON, what the agent of each supported minor does with it:
//! * CNP/CCNP: the watcher's own checks, then `Parse()` (`pkg/k8s/apis/cilium.io/v2`: name, spec/specs,
//!   no `nodeSelector` in a CNP) and `api.Rule.Sanitize()` (`pkg/policy/api/rule_validation.go`) of each
//!   rule, ingress and egress alike (an invalid egress section rejects the whole object);
//! * KNP: `ParseNetworkPolicy` (`pkg/k8s/network_policy.go`), which built an `api.Rule` and sanitised it
//!   up to 1.18; from 1.19 it builds policy entries and validates nothing the API server lets through.
//!
//! The agent settings are the daemon's defaults (L7 proxy on, ICMP rules on, extended IP protocols
//! off, `policy-default-local-cluster` off on 1.18), except `enable-node-selector-labels`, which a
//! `fromNodes`/`toNodes` rule needs ([`SettingCondition`]).
//!
//! Not decided here: a CNP/CCNP with `fromGroups`/`toGroups` (the watcher of 1.15–1.19 skips it, as the
//! operator derives another policy from it; 1.20 loads it). Such a policy is judged by its rules alone.
//!
//! Messages are Cilium's, prefixed with the path of the offending field. Where Go iterates a map (which
//! of two combined peer kinds is named first, the order of `matchLabels` errors) the order here is fixed.

use std::net::IpAddr;

use serde_json::Value;

use super::policy::{RejectReason, Rejection, SettingCondition};

/// The oldest and newest minors whose rules are re-enacted; an older release is judged as the oldest, a
/// newer one as the newest.
pub const OLDEST_MINOR: u16 = 15;
pub const NEWEST_MINOR: u16 = 20;

/// The agent a policy is judged for.
#[derive(Debug, Clone, Copy)]
struct Agent {
    minor: u16,
    node_selector_labels: bool,
}

type Check = Result<(), String>;

/// Why the agent of each release refuses a CiliumNetworkPolicy (`clusterwide`: a
/// CiliumClusterwideNetworkPolicy), from the whole object as the API server stores it.
pub fn cilium_policy(obj: &Value, clusterwide: bool) -> Rejection {
    by_release(|a| cnp(obj, clusterwide, a).err())
}

/// Why the agent of each release refuses a Kubernetes NetworkPolicy (after the API server's defaulting).
pub fn network_policy(obj: &Value) -> Rejection {
    // `enable-node-selector-labels` decides only `fromNodes`/`toNodes`, which a Kubernetes
    // NetworkPolicy cannot express: one answer per minor (half the work on every policy read).
    let reading = KnpReading::of(obj);
    by_release_with(|a| knp(&reading, a).err(), false)
}

/// Asks `check` for every minor and both values of `enable-node-selector-labels`, and folds the answers
/// into ranges of minors.
fn by_release(check: impl Fn(Agent) -> Option<String>) -> Rejection {
    by_release_with(check, true)
}

/// `by_release`, asking for `enable-node-selector-labels` on only when `node_labels_matter` (else the
/// answer with it off stands for both).
fn by_release_with(check: impl Fn(Agent) -> Option<String>, node_labels_matter: bool) -> Rejection {
    let answers: Vec<(u16, Option<String>, Option<String>)> = (OLDEST_MINOR..=NEWEST_MINOR)
        .map(|minor| {
            let off = check(Agent {
                minor,
                node_selector_labels: false,
            });
            let on = if node_labels_matter {
                check(Agent {
                    minor,
                    node_selector_labels: true,
                })
            } else {
                off.clone()
            };
            (minor, off, on)
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < answers.len() {
        let mut j = i;
        while j + 1 < answers.len()
            && answers[j + 1].1 == answers[i].1
            && answers[j + 1].2 == answers[i].2
        {
            j += 1;
        }
        let lo = if i == 0 { 0 } else { answers[i].0 };
        let hi = if j + 1 == answers.len() {
            u16::MAX
        } else {
            answers[j].0
        };
        let mut push = |when, message: &String| {
            out.push(RejectReason {
                minors: lo..=hi,
                when,
                message: message.clone(),
            })
        };
        match (&answers[i].1, &answers[i].2) {
            (Some(off), Some(on)) if off == on => push(None, off),
            (Some(off), Some(on)) => {
                push(Some(SettingCondition::NodeSelectorLabelsOff), off);
                push(Some(SettingCondition::NodeSelectorLabelsOn), on);
            }
            (Some(off), None) => push(Some(SettingCondition::NodeSelectorLabelsOff), off),
            (None, Some(on)) => push(Some(SettingCondition::NodeSelectorLabelsOn), on),
            (None, None) => {}
        }
        i = j + 1;
    }
    Rejection(out)
}

// ---------------------------------------------------------------------------------------------------------
// JSON access as Go's decoder sees it: a missing field and `null` are the zero value; a list is only a
// list (the API server refuses other types, so anything else counts as absent).

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    field(v, key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether a list field is set at all (a non-nil Go slice, `[]` included).
fn has_list(v: &Value, key: &str) -> bool {
    field(v, key).is_some_and(Value::is_array)
}

/// A string field; a number is taken as its decimal form (YAML authors write `port: 80`).
fn text(v: &Value, key: &str) -> String {
    match field(v, key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn int(v: &Value, key: &str) -> i64 {
    field(v, key).and_then(Value::as_i64).unwrap_or(0)
}

fn join(err: String, also: &Option<String>) -> String {
    match also {
        Some(a) => format!("{err}; {a}"),
        None => err,
    }
}

// ---------------------------------------------------------------------------------------------------------
// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy.

fn cnp(obj: &Value, clusterwide: bool, a: Agent) -> Check {
    let kind = if clusterwide {
        "CiliumClusterwideNetworkPolicy"
    } else {
        "CiliumNetworkPolicy"
    };
    if obj
        .get("metadata")
        .map(|m| text(m, "name"))
        .unwrap_or_default()
        .is_empty()
    {
        return Err(format!("metadata.name: {kind} must have name"));
    }
    let spec = field(obj, "spec");
    let specs: Vec<(String, &Value)> = list(obj, "specs")
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("specs[{i}]"), r))
        .collect();
    // The watcher of 1.15 and 1.16 refuses a CIDR group reference with exceptions before parsing.
    if a.minor <= 16 {
        for (path, r) in spec
            .map(|s| ("spec".to_string(), s))
            .into_iter()
            .chain(specs.iter().cloned())
        {
            cidr_group_ref_with_except(r, &path)?;
        }
    }
    if spec.is_none() && !has_list(obj, "specs") {
        return Err(format!("spec: Invalid {kind} spec(s): empty policy"));
    }
    for (path, r) in spec
        .map(|s| ("spec".to_string(), s))
        .into_iter()
        .chain(specs.iter().cloned())
    {
        decodes(r, &path, a)?;
    }
    if let Some(r) = spec {
        rule(r, "spec", a)?;
        if !clusterwide && field(r, "nodeSelector").is_some() {
            return Err("spec.nodeSelector: rule cannot have NodeSelector".to_string());
        }
    }
    for (path, r) in &specs {
        rule(r, path, a)?;
        // Before 1.18 only `spec` was checked for a nodeSelector.
        if !clusterwide && a.minor >= 18 && field(r, "nodeSelector").is_some() {
            return Err(format!(
                "{path}.nodeSelector: rule cannot have NodeSelector"
            ));
        }
    }
    // Accepted by the sanitiser, but from 1.19 turning a zoned IPv6 address (`fe80::1%eth0`) into a
    // selector panics: the agent crashes on this policy.
    if a.minor >= 19 {
        for (path, r) in spec
            .map(|s| ("spec".to_string(), s))
            .into_iter()
            .chain(specs.iter().cloned())
        {
            for (section, key) in [
                ("ingress", "fromCIDR"),
                ("ingressDeny", "fromCIDR"),
                ("egress", "toCIDR"),
                ("egressDeny", "toCIDR"),
            ] {
                for (i, e) in list(r, section).iter().enumerate() {
                    for (j, c) in list(e, key).iter().enumerate() {
                        let c = c.as_str().unwrap_or_default();
                        if c.contains('%') && go_parse_addr(c).is_ok() {
                            return Err(format!(
                                "{path}.{section}[{i}].{key}[{j}]: the agent panics on this policy ({c:?} is not a CIDR)"
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// What Go's JSON decoder refuses: from 1.19 `fromRequires`/`toRequires` are lists of strings (the CRD
/// allows none), so a selector there does not decode.
fn decodes(r: &Value, path: &str, a: Agent) -> Check {
    if a.minor <= 18 {
        return Ok(());
    }
    for (section, key) in [
        ("ingress", "fromRequires"),
        ("ingressDeny", "fromRequires"),
        ("egress", "toRequires"),
        ("egressDeny", "toRequires"),
    ] {
        for (i, e) in list(r, section).iter().enumerate() {
            if list(e, key).iter().any(|x| !x.is_string()) {
                return Err(format!(
                    "{path}.{section}[{i}].{key}: json: cannot unmarshal object into Go struct field of type string"
                ));
            }
        }
    }
    Ok(())
}

/// Accepted by the 1.15/1.16 sanitiser, but an `except` wider than its CIDR (its address inside the
/// CIDR) makes `ip.RemoveCIDRs` panic when the element's selectors are aggregated: the agent crashes.
fn wide_except_panics(e: &Value, key: &str, path: &str, a: Agent) -> Check {
    if a.minor > 16 {
        return Ok(());
    }
    for (j, c) in list(e, key).iter().enumerate() {
        let Ok((net, bits)) = go_parse_prefix(&text(c, "cidr")) else {
            continue;
        };
        for (k, x) in list(c, "except").iter().enumerate() {
            let Ok((xnet, xbits)) = go_parse_prefix(x.as_str().unwrap_or_default()) else {
                continue;
            };
            if xbits < bits && prefix_contains((net, bits), prefix_mask(xnet, xbits)) {
                return Err(format!(
                    "{path}.{key}[{j}].except[{k}]: the agent panics on this policy (runtime error: makeslice: cap out of range, in ip.RemoveCIDRs)"
                ));
            }
        }
    }
    Ok(())
}

/// The address with the bits past the prefix length cleared.
fn prefix_mask(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::from((u32::from(a) & mask).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::from((u128::from(a) & mask).to_be_bytes())
        }
    }
}

/// `validateCIDRRules` of the 1.15/1.16 watcher.
fn cidr_group_ref_with_except(r: &Value, path: &str) -> Check {
    for (section, key) in [
        ("ingress", "fromCIDRSet"),
        ("ingressDeny", "fromCIDRSet"),
        ("egress", "toCIDRSet"),
        ("egressDeny", "toCIDRSet"),
    ] {
        for (i, e) in list(r, section).iter().enumerate() {
            for (j, c) in list(e, key).iter().enumerate() {
                if !text(c, "cidrGroupRef").is_empty() && !list(c, "except").is_empty() {
                    return Err(format!(
                        "{path}.{section}[{i}].{key}[{j}]: ExceptCIDRs cannot be used in combination with CIDRGroupRef"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `api.Rule.Sanitize()`.
fn rule(r: &Value, path: &str, a: Agent) -> Check {
    let n = |k: &str| list(r, k).len();
    if a.minor >= 17 && n("ingress") + n("ingressDeny") + n("egress") + n("egressDeny") == 0 {
        return Err(format!(
            "{path}: rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny"
        ));
    }
    let es = field(r, "endpointSelector");
    let ns = field(r, "nodeSelector");
    match (es, ns) {
        (None, None) => {
            return Err(format!(
                "{path}: rule must have one of EndpointSelector or NodeSelector"
            ))
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "{path}: rule cannot have both EndpointSelector and NodeSelector"
            ))
        }
        _ => {}
    }
    if let Some(es) = es {
        endpoint_selector(es, &format!("{path}.endpointSelector"), a)?;
    }
    let host = match ns {
        Some(ns) => {
            endpoint_selector(ns, &format!("{path}.nodeSelector"), a)?;
            true
        }
        None => false,
    };
    for (i, e) in list(r, "ingress").iter().enumerate() {
        let p = format!("{path}.ingress[{i}]");
        ingress(e, &p, host, a)?;
        if a.minor <= 16 && host && has_l7_at(e, a) {
            return Err(format!("{p}: host policies do not support L7 rules yet"));
        }
    }
    // Deny sections are sanitised from 1.16 on.
    if a.minor >= 16 {
        for (i, e) in list(r, "ingressDeny").iter().enumerate() {
            ingress_deny(e, &format!("{path}.ingressDeny[{i}]"), a)?;
        }
    }
    for (i, e) in list(r, "egress").iter().enumerate() {
        let p = format!("{path}.egress[{i}]");
        egress(e, &p, host, a)?;
        if a.minor <= 16 && host && has_l7_at(e, a) {
            return Err(format!("{p}: host policies do not support L7 rules yet"));
        }
    }
    if a.minor >= 16 {
        for (i, e) in list(r, "egressDeny").iter().enumerate() {
            egress_deny(e, &format!("{path}.egressDeny[{i}]"), a)?;
        }
    }
    Ok(())
}

/// The L7 rules of one port rule, as the release decodes them.
struct L7<'a> {
    http: Option<&'a [Value]>,
    kafka: Option<&'a [Value]>,
    dns: Option<&'a [Value]>,
    l7: Option<&'a [Value]>,
    l7proto: String,
}

impl<'a> L7<'a> {
    fn of(port_rule: &'a Value, a: Agent) -> L7<'a> {
        let rules = field(port_rule, "rules");
        let get = |k: &str| {
            rules
                .and_then(|r| field(r, k))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
        };
        // 1.20 dropped Kafka and the generic `l7proto` parser from the API: unknown fields, ignored.
        let old = a.minor <= 19;
        L7 {
            http: get("http"),
            kafka: if old { get("kafka") } else { None },
            dns: get("dns"),
            l7: if old { get("l7") } else { None },
            l7proto: if old {
                rules.map(|r| text(r, "l7proto")).unwrap_or_default()
            } else {
                String::new()
            },
        }
    }

    fn len(&self) -> usize {
        [self.http, self.kafka, self.dns, self.l7]
            .iter()
            .map(|x| x.map_or(0, <[Value]>::len))
            .sum()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn dns_count(&self) -> usize {
        self.dns.map_or(0, <[Value]>::len)
    }
}

/// `countL7Rules` is not empty: some port rule has L7 rules.
fn has_l7_at(e: &Value, a: Agent) -> bool {
    list(e, "toPorts").iter().any(|p| !L7::of(p, a).is_empty())
}

fn dns_rules_at(e: &Value, a: Agent) -> usize {
    list(e, "toPorts")
        .iter()
        .map(|p| {
            let l7 = L7::of(p, a);
            if l7.is_empty() {
                0
            } else {
                l7.dns_count()
            }
        })
        .sum()
}

fn http_kafka_at(e: &Value, a: Agent) -> (usize, usize) {
    list(e, "toPorts").iter().fold((0, 0), |(h, k), p| {
        let l7 = L7::of(p, a);
        if l7.is_empty() {
            (h, k)
        } else {
            (
                h + l7.http.map_or(0, <[Value]>::len),
                k + l7.kafka.map_or(0, <[Value]>::len),
            )
        }
    })
}

/// The first two peer kinds used together, in the order given.
fn combined(members: &[(&str, usize)]) -> Option<(String, String)> {
    let used: Vec<&str> = members
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(m, _)| *m)
        .collect();
    (used.len() > 1).then(|| (used[0].to_string(), used[1].to_string()))
}

const ICMP_WITH_TO_PORTS: &str =
    "the ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts";
const ICMP_WITH_TO_PORTS_115: &str =
    "The ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts.";
const NODES_NEED_FLAG: &str =
    "FromNodes/ToNodes rules can only be applied when the \"enable-node-selector-labels\" flag is set";

fn ingress(e: &Value, path: &str, host: bool, a: Agent) -> Check {
    let n = |k: &str| list(e, k).len();
    if a.minor <= 15 {
        if let Some((m1, m2)) = combined(&[
            ("FromEndpoints", n("fromEndpoints")),
            ("FromCIDR", n("fromCIDR")),
            ("FromCIDRSet", n("fromCIDRSet")),
            ("FromEntities", n("fromEntities")),
        ]) {
            return Err(format!(
                "{path}: Combining {m1} and {m2} is not supported yet"
            ));
        }
        if dns_rules_at(e, a) > 0 {
            return Err(format!(
                "{path}: L7 protocol DNS is not supported on ingress yet"
            ));
        }
        if n("icmps") > 0 && n("toPorts") > 0 {
            return Err(format!("{path}: {ICMP_WITH_TO_PORTS_115}"));
        }
        for (i, s) in list(e, "fromEndpoints").iter().enumerate() {
            endpoint_selector(s, &format!("{path}.fromEndpoints[{i}]"), a)?;
        }
        for (i, s) in list(e, "fromRequires").iter().enumerate() {
            endpoint_selector(s, &format!("{path}.fromRequires[{i}]"), a)?;
        }
        for (i, p) in list(e, "toPorts").iter().enumerate() {
            port_rule(p, &format!("{path}.toPorts[{i}]"), true, a)?;
        }
        for (i, c) in list(e, "icmps").iter().enumerate() {
            icmp(c, &format!("{path}.icmps[{i}]"))?;
        }
        for (i, c) in list(e, "fromCIDR").iter().enumerate() {
            cidr(c, &format!("{path}.fromCIDR[{i}]"))?;
        }
        for (i, c) in list(e, "fromCIDRSet").iter().enumerate() {
            // The 1.15 watcher replaced every CIDR group reference of an ingress rule by the group's
            // CIDRs before parsing (none here: the groups are not known).
            if text(c, "cidrGroupRef").is_empty() {
                cidr_rule(c, &format!("{path}.fromCIDRSet[{i}]"), a)?;
            }
        }
        entities(e, "fromEntities", path, a, &None)?;
        return wide_except_panics(e, "fromCIDRSet", path, a);
    }
    common_from(e, path, a)?;
    if a.minor >= 17 && host && has_l7_at(e, a) {
        return Err(format!(
            "{path}: L7 policy is not supported on host ingress yet"
        ));
    }
    if dns_rules_at(e, a) > 0 {
        return Err(format!(
            "{path}: L7 protocol DNS is not supported on ingress yet"
        ));
    }
    if n("icmps") > 0 && n("toPorts") > 0 {
        return Err(format!("{path}: {ICMP_WITH_TO_PORTS}"));
    }
    for (i, p) in list(e, "toPorts").iter().enumerate() {
        port_rule(p, &format!("{path}.toPorts[{i}]"), true, a)?;
    }
    for (i, c) in list(e, "icmps").iter().enumerate() {
        icmp(c, &format!("{path}.icmps[{i}]"))?;
    }
    wide_except_panics(e, "fromCIDRSet", path, a)
}

fn ingress_deny(e: &Value, path: &str, a: Agent) -> Check {
    common_from(e, path, a)?;
    if !list(e, "icmps").is_empty() && !list(e, "toPorts").is_empty() {
        return Err(format!("{path}: {ICMP_WITH_TO_PORTS}"));
    }
    for (i, p) in list(e, "toPorts").iter().enumerate() {
        port_deny_rule(p, &format!("{path}.toPorts[{i}]"), a)?;
    }
    for (i, c) in list(e, "icmps").iter().enumerate() {
        icmp(c, &format!("{path}.icmps[{i}]"))?;
    }
    wide_except_panics(e, "fromCIDRSet", path, a)
}

/// `IngressCommonRule.sanitize` (1.16+).
fn common_from(e: &Value, path: &str, a: Agent) -> Check {
    let n = |k: &str| list(e, k).len();
    if let Some((m1, m2)) = combined(&[
        ("FromEndpoints", n("fromEndpoints")),
        ("FromCIDR", n("fromCIDR")),
        ("FromCIDRSet", n("fromCIDRSet")),
        ("FromEntities", n("fromEntities")),
        ("FromNodes", n("fromNodes")),
        ("FromGroups", n("fromGroups")),
    ]) {
        return Err(format!(
            "{path}: combining {m1} and {m2} is not supported yet"
        ));
    }
    let flag = (n("fromNodes") > 0 && !a.node_selector_labels)
        .then(|| format!("{path}.fromNodes: {NODES_NEED_FLAG}"));
    let with_flag = |r: Check| r.map_err(|e| join(e, &flag));
    for (i, s) in list(e, "fromEndpoints").iter().enumerate() {
        with_flag(endpoint_selector(
            s,
            &format!("{path}.fromEndpoints[{i}]"),
            a,
        ))?;
    }
    // `fromRequires` is a list of strings (always empty) from 1.19 on.
    if a.minor <= 18 {
        for (i, s) in list(e, "fromRequires").iter().enumerate() {
            with_flag(endpoint_selector(
                s,
                &format!("{path}.fromRequires[{i}]"),
                a,
            ))?;
        }
    }
    for (i, s) in list(e, "fromNodes").iter().enumerate() {
        with_flag(endpoint_selector(s, &format!("{path}.fromNodes[{i}]"), a))?;
    }
    for (i, c) in list(e, "fromCIDR").iter().enumerate() {
        with_flag(cidr(c, &format!("{path}.fromCIDR[{i}]")))?;
    }
    for (i, c) in list(e, "fromCIDRSet").iter().enumerate() {
        with_flag(cidr_rule(c, &format!("{path}.fromCIDRSet[{i}]"), a))?;
    }
    entities(e, "fromEntities", path, a, &flag)?;
    match flag {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn entities(e: &Value, key: &str, path: &str, a: Agent, flag: &Option<String>) -> Check {
    const KNOWN: &[&str] = &[
        "all",
        "world",
        "world-ipv4",
        "world-ipv6",
        "host",
        "init",
        "ingress",
        "remote-node",
        "health",
        "unmanaged",
        "none",
        "kube-apiserver",
        "cluster",
    ];
    for (i, ent) in list(e, key).iter().enumerate() {
        let ent = ent.as_str().unwrap_or_default();
        let known = KNOWN.contains(&ent) || (a.minor >= 20 && ent == "cluster-mesh");
        if !known {
            return Err(join(
                format!("{path}.{key}[{i}]: unsupported entity: {ent}"),
                flag,
            ));
        }
    }
    Ok(())
}

fn egress(e: &Value, path: &str, host: bool, a: Agent) -> Check {
    let n = |k: &str| list(e, k).len();
    if a.minor <= 15 {
        if let Some((m1, m2)) = combined(&[
            ("ToCIDR", n("toCIDR")),
            ("ToCIDRSet", n("toCIDRSet")),
            ("ToEndpoints", n("toEndpoints")),
            ("ToEntities", n("toEntities")),
            ("ToServices", n("toServices")),
            ("ToFQDNs", n("toFQDNs")),
            ("ToGroups", n("toGroups")),
        ]) {
            return Err(format!(
                "{path}: Combining {m1} and {m2} is not supported yet"
            ));
        }
        if n("toServices") > 0 && n("toPorts") > 0 {
            return Err(format!(
                "{path}: Combining ToServices and ToPorts is not supported yet"
            ));
        }
        if n("icmps") > 0 && n("toPorts") > 0 {
            return Err(format!("{path}: {ICMP_WITH_TO_PORTS_115}"));
        }
        for (i, s) in list(e, "toEndpoints").iter().enumerate() {
            endpoint_selector(s, &format!("{path}.toEndpoints[{i}]"), a)?;
        }
        for (i, s) in list(e, "toRequires").iter().enumerate() {
            endpoint_selector(s, &format!("{path}.toRequires[{i}]"), a)?;
        }
        for (i, p) in list(e, "toPorts").iter().enumerate() {
            port_rule(p, &format!("{path}.toPorts[{i}]"), false, a)?;
        }
        for (i, c) in list(e, "icmps").iter().enumerate() {
            icmp(c, &format!("{path}.icmps[{i}]"))?;
        }
        for (i, c) in list(e, "toCIDR").iter().enumerate() {
            cidr(c, &format!("{path}.toCIDR[{i}]"))?;
        }
        for (i, c) in list(e, "toCIDRSet").iter().enumerate() {
            cidr_rule(c, &format!("{path}.toCIDRSet[{i}]"), a)?;
        }
        entities(e, "toEntities", path, a, &None)?;
        for (i, f) in list(e, "toFQDNs").iter().enumerate() {
            fqdn(f, &format!("{path}.toFQDNs[{i}]"))?;
        }
        return wide_except_panics(e, "toCIDRSet", path, a);
    }
    common_to(e, path, a, true)?;
    if a.minor == 16 && n("toServices") > 0 && n("toPorts") > 0 {
        return Err(format!(
            "{path}: combining ToServices and ToPorts is not supported yet"
        ));
    }
    if a.minor >= 17 && host {
        let (http, kafka) = http_kafka_at(e, a);
        for (m, count) in [("HTTP", http), ("Kafka", kafka)] {
            if count > 0 {
                return Err(format!(
                    "{path}: L7 protocol {m} is not supported on host egress yet"
                ));
            }
        }
    }
    if n("icmps") > 0 && n("toPorts") > 0 {
        return Err(format!("{path}: {ICMP_WITH_TO_PORTS}"));
    }
    for (i, p) in list(e, "toPorts").iter().enumerate() {
        port_rule(p, &format!("{path}.toPorts[{i}]"), false, a)?;
    }
    for (i, c) in list(e, "icmps").iter().enumerate() {
        icmp(c, &format!("{path}.icmps[{i}]"))?;
    }
    for (i, f) in list(e, "toFQDNs").iter().enumerate() {
        fqdn(f, &format!("{path}.toFQDNs[{i}]"))?;
    }
    wide_except_panics(e, "toCIDRSet", path, a)
}

fn egress_deny(e: &Value, path: &str, a: Agent) -> Check {
    let n = |k: &str| list(e, k).len();
    common_to(e, path, a, false)?;
    if a.minor == 16 && n("toServices") > 0 && n("toPorts") > 0 {
        return Err(format!(
            "{path}: combining ToServices and ToPorts is not supported yet"
        ));
    }
    if n("icmps") > 0 && n("toPorts") > 0 {
        return Err(format!("{path}: {ICMP_WITH_TO_PORTS}"));
    }
    for (i, p) in list(e, "toPorts").iter().enumerate() {
        port_deny_rule(p, &format!("{path}.toPorts[{i}]"), a)?;
    }
    for (i, c) in list(e, "icmps").iter().enumerate() {
        icmp(c, &format!("{path}.icmps[{i}]"))?;
    }
    wide_except_panics(e, "toCIDRSet", path, a)
}

/// `EgressCommonRule.sanitize` (1.16+); `fqdns`: the allow rule, whose `toFQDNs` is a peer kind too.
fn common_to(e: &Value, path: &str, a: Agent, fqdns: bool) -> Check {
    let n = |k: &str| list(e, k).len();
    let mut members = vec![
        ("ToCIDR", n("toCIDR")),
        ("ToCIDRSet", n("toCIDRSet")),
        ("ToEndpoints", n("toEndpoints")),
        ("ToEntities", n("toEntities")),
        ("ToServices", n("toServices")),
        ("ToGroups", n("toGroups")),
        ("ToNodes", n("toNodes")),
    ];
    if fqdns {
        members.push(("ToFQDNs", n("toFQDNs")));
    }
    if let Some((m1, m2)) = combined(&members) {
        return Err(format!(
            "{path}: combining {m1} and {m2} is not supported yet"
        ));
    }
    let flag = (n("toNodes") > 0 && !a.node_selector_labels)
        .then(|| format!("{path}.toNodes: {NODES_NEED_FLAG}"));
    let with_flag = |r: Check| r.map_err(|e| join(e, &flag));
    for (i, s) in list(e, "toEndpoints").iter().enumerate() {
        with_flag(endpoint_selector(s, &format!("{path}.toEndpoints[{i}]"), a))?;
    }
    if a.minor <= 18 {
        for (i, s) in list(e, "toRequires").iter().enumerate() {
            with_flag(endpoint_selector(s, &format!("{path}.toRequires[{i}]"), a))?;
        }
    }
    for (i, s) in list(e, "toNodes").iter().enumerate() {
        with_flag(endpoint_selector(s, &format!("{path}.toNodes[{i}]"), a))?;
    }
    for (i, c) in list(e, "toCIDR").iter().enumerate() {
        with_flag(cidr(c, &format!("{path}.toCIDR[{i}]")))?;
    }
    for (i, c) in list(e, "toCIDRSet").iter().enumerate() {
        with_flag(cidr_rule(c, &format!("{path}.toCIDRSet[{i}]"), a))?;
    }
    entities(e, "toEntities", path, a, &flag)?;
    // 1.19 alone sanitises the label selector of a `toServices` entry.
    if a.minor == 19 {
        for (i, s) in list(e, "toServices").iter().enumerate() {
            if let Some(sel) = field(s, "k8sServiceSelector").and_then(|k| field(k, "selector")) {
                with_flag(endpoint_selector(
                    sel,
                    &format!("{path}.toServices[{i}].k8sServiceSelector.selector"),
                    a,
                ))?;
            }
        }
    }
    match flag {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// `PortRule.sanitize(ingress)`.
fn port_rule(pr: &Value, path: &str, ingress: bool, a: Agent) -> Check {
    let l7 = L7::of(pr, a);
    let has_dns = l7.dns_count() > 0;
    if ingress && has_dns {
        return Err(format!("{path}: DNS rules are not allowed on ingress"));
    }
    let server_names = list(pr, "serverNames");
    if !server_names.is_empty() && !l7.is_empty() && field(pr, "terminatingTLS").is_none() {
        return Err(format!(
            "{path}: ServerNames are not allowed with L7 rules without TLS termination"
        ));
    }
    if server_names.iter().any(|s| s.as_str() == Some("")) {
        return Err(format!(
            "{path}.serverNames: {}",
            if a.minor <= 15 {
                "Empty server name is not allowed"
            } else {
                "empty server name is not allowed"
            }
        ));
    }
    let ports = list(pr, "ports");
    if ports.len() > 40 {
        return Err(format!("{path}.ports: too many ports, the max is 40"));
    }
    let mut zero = false;
    for (i, pp) in ports.iter().enumerate() {
        let ppath = format!("{path}.ports[{i}]");
        // Which rules forbid a port range: any L7 rule on 1.16, DNS rules from 1.17, none on 1.15.
        let no_range = match a.minor {
            ..=15 => None,
            16 => Some((!l7.is_empty(), "L7 rules do not support port ranges")),
            _ => Some((has_dns, "DNS rules do not support port ranges")),
        };
        let (is_zero, proto) = port_protocol(pp, &ppath, no_range, a)?;
        zero |= is_zero;
        if !l7.is_empty() && !has_dns && proto != "TCP" {
            return Err(format!(
                "{ppath}: L7 rules can only apply to TCP (not {proto}) except for DNS rules"
            ));
        }
    }
    if let Some(listener) = field(pr, "listener") {
        let name = text(listener, "name");
        if ingress {
            return Err(format!(
                "{path}.listener: Listener is not allowed on ingress ({name})"
            ));
        }
        if !l7.is_empty() {
            return Err(format!(
                "{path}.listener: Listener is not allowed with L7 rules ({name})"
            ));
        }
    }
    if !l7.is_empty() {
        if zero {
            return Err(format!("{path}: L7 rules can not be used when a port is 0"));
        }
        l7_rules(&l7, ports, &format!("{path}.rules"), a)?;
    }
    Ok(())
}

/// `PortDenyRule.sanitize()`: deny port rules have no L7 part.
fn port_deny_rule(pr: &Value, path: &str, a: Agent) -> Check {
    let ports = list(pr, "ports");
    if ports.len() > 40 {
        return Err(format!("{path}.ports: too many ports, the max is 40"));
    }
    for (i, pp) in ports.iter().enumerate() {
        port_protocol(pp, &format!("{path}.ports[{i}]"), None, a)?;
    }
    Ok(())
}

/// `PortProtocol.sanitize`: whether the port is 0, and the protocol as parsed (`TCP`, `ANY`, ...).
/// `no_range`: whether this port rule forbids a range, and the message.
fn port_protocol(
    pp: &Value,
    path: &str,
    no_range: Option<(bool, &str)>,
    a: Agent,
) -> Result<(bool, String), String> {
    let port = text(pp, "port");
    let raw_proto = text(pp, "protocol");
    // endPort exists from 1.16 (the 1.15 API has no such field).
    let end_port = if a.minor >= 16 { int(pp, "endPort") } else { 0 };
    if port.is_empty() {
        // Only with the (off by default) extended IP protocols may the port be omitted, from 1.19.
        return Err(format!(
            "{path}: {}",
            if a.minor <= 18 {
                "Port must be specified"
            } else {
                "port must be specified"
            }
        ));
    }
    let mut zero = false;
    if !is_svc_name(&port) {
        if a.minor >= 19 && port != "0" && portless_protocol(&raw_proto, a) {
            return Err(format!("{path}: port must be empty or 0"));
        }
        let p = go_parse_uint16(&port).map_err(|e| {
            format!(
                "{path}: {} port: strconv.ParseUint: parsing {port:?}: {e}",
                if a.minor <= 15 {
                    "Unable to parse"
                } else {
                    "unable to parse"
                }
            )
        })?;
        zero = p == 0;
        if let Some((true, msg)) = no_range {
            if end_port > i64::from(p) {
                return Err(format!("{path}: {msg}"));
            }
        }
    }
    let proto = parse_l4_proto(&raw_proto, a).map_err(|e| format!("{path}: {e}"))?;
    Ok((zero, proto))
}

/// Protocols without transport ports (compared as written, before upper-casing, as Cilium does).
fn portless_protocol(raw: &str, a: Agent) -> bool {
    match raw {
        "VRRP" | "IGMP" => true,
        "GRE" | "IPIP" | "IPV6" | "ESP" | "AH" => a.minor >= 20,
        _ => false,
    }
}

/// `api.ParseL4Proto`: the protocol upper-cased, "" being ANY.
fn parse_l4_proto(raw: &str, a: Agent) -> Result<String, String> {
    if raw.is_empty() {
        return Ok("ANY".to_string());
    }
    let p = raw.to_uppercase();
    let (valid, names): (&[&str], &str) = match a.minor {
        ..=18 => (&["ANY", "TCP", "UDP", "SCTP"], "{ tcp | udp | sctp | any }"),
        19 => (
            &["ANY", "TCP", "UDP", "SCTP", "VRRP", "IGMP"],
            "{ tcp | udp | sctp | vrrp | igmp | any }",
        ),
        _ => (
            &[
                "ANY", "TCP", "UDP", "SCTP", "VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH",
            ],
            "{ tcp | udp | sctp | vrrp | igmp | gre | ipip | ipv6 | esp | ah | any }",
        ),
    };
    if valid.contains(&p.as_str()) {
        Ok(p)
    } else {
        Err(format!("invalid protocol {p:?}, must be {names}"))
    }
}

/// `L7Rules.sanitize(ports)`.
fn l7_rules(l7: &L7<'_>, ports: &[Value], path: &str, a: Agent) -> Check {
    let mut types = 0;
    if let Some(http) = l7.http {
        types += 1;
        for (i, h) in http.iter().enumerate() {
            http_rule(h, &format!("{path}.http[{i}]"))?;
        }
    }
    if let Some(kafka) = l7.kafka {
        types += 1;
        for (i, k) in kafka.iter().enumerate() {
            kafka_rule(k).map_err(|e| format!("{path}.kafka[{i}]: {e}"))?;
        }
    }
    if let Some(dns) = l7.dns {
        if ports.is_empty() {
            return Err(format!(
                "{path}.dns: {}",
                if a.minor <= 15 {
                    "Port 53 must be specified for DNS rules"
                } else {
                    "port 53 must be specified for DNS rules"
                }
            ));
        }
        types += 1;
        for (i, d) in dns.iter().enumerate() {
            dns_rule(d).map_err(|e| format!("{path}.dns[{i}]: {e}"))?;
        }
    }
    if l7.l7.is_some() && l7.l7proto.is_empty() {
        return Err(format!(
            "{path}.l7: 'l7' may only be specified when a 'l7proto' is also specified"
        ));
    }
    if !l7.l7proto.is_empty() {
        types += 1;
        for (i, r) in l7.l7.unwrap_or(&[]).iter().enumerate() {
            if r.as_object().is_some_and(|m| m.contains_key("")) {
                return Err(format!("{path}.l7[{i}]: Empty key not allowed"));
            }
        }
    }
    if types > 1 {
        return Err(format!(
            "{path}: multiple L7 protocol rule types specified in single rule"
        ));
    }
    Ok(())
}

/// `PortRuleHTTP.Sanitize`: `path` and `method` are Go regular expressions; `host` and `headers` are not
/// checked.
fn http_rule(h: &Value, path: &str) -> Check {
    for key in ["path", "method"] {
        let re = text(h, key);
        if !re.is_empty() {
            if let Some(e) = go_regexp_error(&re) {
                return Err(format!("{path}.{key}: {e}"));
            }
        }
    }
    for (i, m) in list(h, "headerMatches").iter().enumerate() {
        let mpath = format!("{path}.headerMatches[{i}]");
        if text(m, "name").is_empty() {
            return Err(format!("{mpath}: Header name missing"));
        }
        let mismatch = text(m, "mismatch");
        if !["", "LOG", "ADD", "DELETE", "REPLACE"].contains(&mismatch.as_str()) {
            return Err(format!("{mpath}: Invalid header action: {mismatch}"));
        }
        if field(m, "secret").is_some_and(|s| text(s, "name").is_empty()) {
            return Err(format!("{mpath}: Secret name missing"));
        }
    }
    Ok(())
}

/// `kafka.PortRule.Sanitize` (cilium/proxy).
fn kafka_rule(k: &Value) -> Check {
    const API_KEYS: &[&str] = &[
        "produce",
        "fetch",
        "offsets",
        "metadata",
        "leaderandisr",
        "stopreplica",
        "updatemetadata",
        "controlledshutdown",
        "offsetcommit",
        "offsetfetch",
        "findcoordinator",
        "joingroup",
        "heartbeat",
        "leavegroup",
        "syncgroup",
        "describegroups",
        "listgroups",
        "saslhandshake",
        "apiversions",
        "createtopics",
        "deletetopics",
        "deleterecords",
        "initproducerid",
        "offsetforleaderepoch",
        "addpartitionstotxn",
        "addoffsetstotxn",
        "endtxn",
        "writetxnmarkers",
        "txnoffsetcommit",
        "describeacls",
        "createacls",
        "deleteacls",
        "describeconfigs",
        "alterconfigs",
    ];
    let (api_key, role) = (text(k, "apiKey"), text(k, "role"));
    if !api_key.is_empty() && !role.is_empty() {
        return Err(format!(
            "cannot set both Role {role:?} and APIKey {api_key:?} together"
        ));
    }
    if !api_key.is_empty() && !API_KEYS.contains(&api_key.to_lowercase().as_str()) {
        return Err(format!("invalid Kafka APIKey {api_key:?}"));
    }
    if !role.is_empty() && !["produce", "consume"].contains(&role.to_lowercase().as_str()) {
        return Err(format!("invalid Kafka Role {role:?}"));
    }
    let version = text(k, "apiVersion");
    if !version.is_empty() {
        let body = version.strip_prefix(['+', '-']).unwrap_or(&version);
        let ok = !body.is_empty()
            && body.bytes().all(|b| b.is_ascii_digit())
            && version
                .parse::<i64>()
                .is_ok_and(|n| (0..=i64::from(i16::MAX)).contains(&n));
        if !ok {
            return Err(format!("invalid Kafka APIVersion {version:?}"));
        }
    }
    let topic = text(k, "topic");
    if !topic.is_empty() {
        if topic.len() > 255 {
            return Err("kafka topic exceeds maximum len of 255".to_string());
        }
        if !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"\\._-".contains(&b))
        {
            return Err(format!("invalid Kafka Topic name {topic:?}"));
        }
    }
    Ok(())
}

fn dns_name_ok(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn match_pattern(pattern: &str) -> Check {
    if pattern.trim().len() > 255 {
        return Err(format!(
            "Invalid MatchPattern: {pattern:?}. Must be <= 255 characters long."
        ));
    }
    if !pattern
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b))
    {
        return Err(format!(
            "Invalid characters in MatchPattern: {pattern:?}. Only 0-9, a-z, A-Z and ., -, _ and * characters are allowed"
        ));
    }
    Ok(())
}

/// `PortRuleDNS.Sanitize`.
fn dns_rule(d: &Value) -> Check {
    let name = text(d, "matchName");
    if !name.is_empty() && !dns_name_ok(&name) {
        return Err(format!(
            "Invalid characters in MatchName: {name:?}. Only 0-9, a-z, A-Z and . and - characters are allowed"
        ));
    }
    match_pattern(&text(d, "matchPattern"))
}

/// `FQDNSelector.sanitize`.
fn fqdn(f: &Value, path: &str) -> Check {
    let (name, pattern) = (text(f, "matchName"), text(f, "matchPattern"));
    if !name.is_empty() && !pattern.is_empty() {
        return Err(format!(
            "{path}: only one of MatchName or MatchPattern is allowed in an FQDNSelector"
        ));
    }
    if !name.is_empty() && !dns_name_ok(&name) {
        return Err(format!(
            "{path}: Invalid characters in MatchName: {name:?}. Only 0-9, a-z, A-Z and ., -, _ characters are allowed"
        ));
    }
    match_pattern(&pattern).map_err(|e| format!("{path}: {e}"))
}

/// `ICMPRule.verify`.
fn icmp(c: &Value, path: &str) -> Check {
    let fields = list(c, "fields");
    if fields.len() > 40 {
        return Err(format!("{path}.fields: too many types, the max is 40"));
    }
    for (i, f) in fields.iter().enumerate() {
        let family = text(f, "family");
        if !["", "IPv4", "IPv6"].contains(&family.as_str()) {
            return Err(format!("{path}.fields[{i}]: wrong family: {family}"));
        }
    }
    Ok(())
}

/// `CIDR.sanitize` (`fromCIDR`/`toCIDR`): a prefix or a bare address.
fn cidr(c: &Value, path: &str) -> Check {
    let s = c.as_str().unwrap_or_default();
    if s.is_empty() {
        return Err(format!("{path}: IP must be specified"));
    }
    if go_parse_prefix(s).is_ok() {
        return Ok(());
    }
    go_parse_addr(s)
        .map(|_| ())
        .map_err(|e| format!("{path}: unable to parse CIDR: {e}"))
}

/// `CIDRRule.sanitize` (`fromCIDRSet`/`toCIDRSet`/`ipBlock`).
fn cidr_rule(c: &Value, path: &str, a: Agent) -> Check {
    let cidr = text(c, "cidr");
    let group_ref = text(c, "cidrGroupRef");
    match a.minor {
        ..=15 => {}
        16 => {
            if !group_ref.is_empty() {
                return Ok(());
            }
        }
        _ => {
            let selector = field(c, "cidrGroupSelector");
            if let Some(sel) = selector {
                let failed = if a.minor <= 19 {
                    "failed to parse cidrGroupSelector"
                } else {
                    "failed to sanitize cidrGroupSelector"
                };
                label_selector(sel, a, Some("cidrgroup."))
                    .map_err(|e| format!("{path}.cidrGroupSelector: {failed}: {e}"))?;
            }
            let set = [!cidr.is_empty(), !group_ref.is_empty(), selector.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if set == 0 {
                return Err(format!(
                    "{path}: one of cidr, cidrGroupRef, or cidrGroupSelector is required"
                ));
            }
            if set > 1 {
                return Err(format!(
                    "{path}: more than one of cidr, cidrGroupRef, or cidrGroupSelector may not be set"
                ));
            }
            if !group_ref.is_empty() || selector.is_some() {
                return Ok(());
            }
        }
    }
    let prefix = go_parse_prefix(&cidr).map_err(|e| {
        format!(
            "{path}: {} CIDRRule {cidr:?}: {e}",
            if a.minor <= 15 {
                "Unable to parse"
            } else {
                "unable to parse"
            }
        )
    })?;
    for (i, x) in list(c, "except").iter().enumerate() {
        let xs = x.as_str().unwrap_or_default();
        let except = go_parse_prefix(xs).map_err(|e| format!("{path}.except[{i}]: {e}"))?;
        // The except must lie inside the CIDR (same family); from 1.20 it may not be wider either.
        if (a.minor >= 20 && prefix.1 > except.1) || !prefix_contains(prefix, except.0) {
            return Err(format!(
                "{path}.except[{i}]: allow CIDR prefix {cidr} does not contain exclude CIDR prefix {xs}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Label selectors: `EndpointSelector.Sanitize`, Kubernetes' `ValidateLabelSelector` run on the keys as the
// release sees them.

/// A CNP/CCNP `EndpointSelector` (the subject, `fromEndpoints`, `fromNodes`, ...).
fn endpoint_selector(sel: &Value, path: &str, a: Agent) -> Check {
    label_selector(sel, a, None).map_err(|e| format!("{path}: {e}"))
}

/// Validates `sel` with its keys as the release validates them: up to 1.19 the source-extended key
/// (`k8s:app` → `k8s.app`, `app` → `any.app`) as a Kubernetes qualified name; from 1.20 the key as
/// written, as a Cilium label key (an optional `source:` and a Kubernetes qualified name). `prefix`: a
/// fixed prefix given to every key instead (`cidrgroup.`).
fn label_selector(sel: &Value, a: Agent, prefix: Option<&str>) -> Check {
    let check_key = |k: &str| -> Vec<String> {
        match (a.minor >= 20, prefix) {
            (false, None) => qualified_name_errors(&extended_key(k)),
            (false, Some(p)) => qualified_name_errors(&format!("{p}{k}")),
            (true, None) => cilium_label_key_errors(k),
            (true, Some(p)) => cilium_label_key_errors(&format!("{p}{k}")),
        }
    };
    validate_label_selector(sel, check_key)
}

/// `labels.GetExtendedKeyFrom`: `src:key` → `src.key`, `$host` → `reserved.host`, `key` → `any.key`
/// (anything from a `=` on is dropped).
fn extended_key(k: &str) -> String {
    let (src, next) = if let Some(rest) = k.strip_prefix('$') {
        ("reserved", rest)
    } else if let Some((s, n)) = k.split_once(':') {
        (s, n)
    } else if let Some(rest) = k.strip_prefix("reserved.") {
        ("reserved", rest)
    } else {
        ("", k)
    };
    let src = if src.is_empty() { "any" } else { src };
    let next = next.split('=').next().unwrap_or_default();
    format!("{src}.{next}")
}

/// `ValidateLabelSelector` with invalid label values forbidden; errors as Kubernetes aggregates them.
fn validate_label_selector(sel: &Value, check_key: impl Fn(&str) -> Vec<String>) -> Check {
    let mut errs: Vec<String> = Vec::new();
    if let Some(ml) = field(sel, "matchLabels").and_then(Value::as_object) {
        let mut keys: Vec<&String> = ml.keys().collect();
        keys.sort();
        for k in keys {
            for m in check_key(k) {
                errs.push(format!("matchLabels: Invalid value: {k:?}: {m}"));
            }
            let v = value_text(&ml[k]);
            for m in label_value_errors(&v) {
                errs.push(format!("matchLabels: Invalid value: {v:?}: {m}"));
            }
        }
    }
    for (i, x) in list(sel, "matchExpressions").iter().enumerate() {
        let p = format!("matchExpressions[{i}]");
        let op = text(x, "operator");
        let values = list(x, "values");
        match op.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(format!(
                "{p}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(format!(
                "{p}.values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => errs.push(format!(
                "{p}.operator: Invalid value: {op:?}: not a valid selector operator"
            )),
        }
        let key = text(x, "key");
        for m in check_key(&key) {
            errs.push(format!("{p}.key: Invalid value: {key:?}: {m}"));
        }
        for (j, v) in values.iter().enumerate() {
            let v = value_text(v);
            for m in label_value_errors(&v) {
                errs.push(format!("{p}.values[{j}]: Invalid value: {v:?}: {m}"));
            }
        }
    }
    match errs.len() {
        0 => Ok(()),
        1 => Err(format!("invalid label selector: {}", errs[0])),
        _ => Err(format!("invalid label selector: [{}]", errs.join(", "))),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

const NAME_FMT: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// `validation.IsDNS1123Subdomain`.
fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    };
    if !s.split('.').all(label_ok) {
        errs.push("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_string());
    }
    errs
}

/// Whether Cilium can build a label selector over `key` once it carries its source (`k8s.<key>`, or for a
/// namespace label `k8s.io.cilium.k8s.namespace.labels.<key>`): a key whose extended form is no valid
/// qualified name (e.g. a name part over 63 characters) cannot be. Up to 1.18 the sanitiser refuses such
/// a NetworkPolicy; from 1.19 (no sanitising) the selector ends up with no requirement and selects
/// everything.
pub(crate) fn knp_key_buildable(key: &str, namespace_label: bool) -> bool {
    let extended = if namespace_label {
        format!("k8s.io.cilium.k8s.namespace.labels.{key}")
    } else {
        format!("k8s.{key}")
    };
    qualified_name_errors(&extended).is_empty()
}

/// `validation.IsQualifiedName`.
fn qualified_name_errors(s: &str) -> Vec<String> {
    let parts: Vec<&str> = s.split('/').collect();
    let mut errs = Vec::new();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain_errors(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {NAME_FMT} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )]
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !name.is_empty() && !is_qualified_name_part(name) {
        errs.push(format!("name part {NAME_FMT}"));
    }
    errs
}

/// `labels.IsValidCiliumLabelKey` (1.20): `[source:]key`, the source alphanumeric.
fn cilium_label_key_errors(k: &str) -> Vec<String> {
    let parts: Vec<&str> = k.split(':').collect();
    let mut errs = Vec::new();
    let key = match parts.as_slice() {
        [key] => *key,
        [source, key] => {
            if source.is_empty() || !source.bytes().all(|b| b.is_ascii_alphanumeric()) {
                errs.push(
                    "label source should be a non empty string with only alphanumeric characters"
                        .to_string(),
                );
            }
            *key
        }
        _ => {
            return vec![
                "a valid label key only support ':' character as a source separator with non empty value"
                    .to_string(),
            ]
        }
    };
    errs.extend(qualified_name_errors(key));
    errs
}

/// `validation.IsValidLabelValue`.
fn label_value_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !v.is_empty() && !is_qualified_name_part(v) {
        errs.push(format!(
            "a valid label must be an empty string or {}",
            NAME_FMT.trim_start_matches("must ")
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes NetworkPolicy.

/// What a Kubernetes NetworkPolicy gives the agent's parser, read once for every minor: the selectors
/// with their final keys are validated here (the same for each release), the rest per release by
/// [`knp`].
struct KnpReading {
    /// The pod selector's problem, if any.
    subject: Check,
    rules: Vec<KnpRule>,
}

struct KnpRule {
    ingress: bool,
    path: String,
    peers: Vec<KnpPeer>,
    /// Each port as its own port rule, its port "0" when omitted: without and with `endPort`.
    ports: Vec<(Value, Option<Value>)>,
}

struct KnpPeer {
    path: String,
    /// Whether it has a pod or namespace selector, and that selector's problem.
    selector: Option<Check>,
    /// Its `ipBlock` as the CIDR rule the parser builds from it (with `<path>.ipBlock`).
    block: Option<(Value, String)>,
}

impl KnpReading {
    fn of(obj: &Value) -> Self {
        let ns = obj
            .get("metadata")
            .map(|m| text(m, "namespace"))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let spec = field(obj, "spec").unwrap_or(&Value::Null);
        // The api.Rule ParseNetworkPolicy builds (up to 1.18), then `Rule.Sanitize()`. The selectors
        // are built with their final keys (`k8s.` and the namespace-label prefix) and validated as they
        // are.
        let raw = |sel: &Value, path: &str| -> Check {
            validate_label_selector(sel, qualified_name_errors).map_err(|e| format!("{path}: {e}"))
        };
        let subject = raw(
            &knp_pod_selector(field(spec, "podSelector"), &ns),
            "spec.podSelector",
        );
        let mut rules = Vec::new();
        for (section, peers_key) in [("ingress", "from"), ("egress", "to")] {
            for (i, r) in list(spec, section).iter().enumerate() {
                let path = format!("spec.{section}[{i}]");
                let peers = list(r, peers_key)
                    .iter()
                    .enumerate()
                    .map(|(j, peer)| {
                        let ppath = format!("{path}.{peers_key}[{j}]");
                        KnpPeer {
                            selector: knp_peer_selector(peer, &ns).map(|sel| raw(&sel, &ppath)),
                            block: field(peer, "ipBlock").map(|b| {
                                let rule = serde_json::json!({"cidr": text(b, "cidr"), "except": list(b, "except")});
                                (rule, format!("{ppath}.ipBlock"))
                            }),
                            path: ppath,
                        }
                    })
                    .collect();
                let ports = list(r, "ports")
                    .iter()
                    .map(|p| {
                        let port = match field(p, "port") {
                            Some(Value::Number(n)) => n.to_string(),
                            Some(Value::String(s)) => s.clone(),
                            _ => "0".to_string(),
                        };
                        let protocol = match text(p, "protocol") {
                            s if s.is_empty() => "TCP".to_string(),
                            s => s,
                        };
                        let pp = serde_json::json!({"port": port, "protocol": protocol});
                        let with_end = field(p, "endPort").map(|e| {
                            let mut pp = pp.clone();
                            pp["endPort"] = e.clone();
                            serde_json::json!({ "ports": [pp] })
                        });
                        (serde_json::json!({ "ports": [pp] }), with_end)
                    })
                    .collect();
                rules.push(KnpRule {
                    ingress: section == "ingress",
                    path,
                    peers,
                    ports,
                });
            }
        }
        KnpReading { subject, rules }
    }
}

fn knp(reading: &KnpReading, a: Agent) -> Check {
    // From 1.19 the parser builds policy entries and validates nothing the API server lets through (its
    // only error, an unknown protocol, cannot pass the API server).
    if a.minor >= 19 {
        return Ok(());
    }
    reading.subject.clone()?;
    for r in &reading.rules {
        for peer in &r.peers {
            if peer.selector.is_some() && peer.block.is_some() {
                let (m1, m2) = if r.ingress {
                    ("FromEndpoints", "FromCIDRSet")
                } else {
                    ("ToCIDRSet", "ToEndpoints")
                };
                let combining = if a.minor <= 15 {
                    "Combining"
                } else {
                    "combining"
                };
                return Err(format!(
                    "{}: {combining} {m1} and {m2} is not supported yet",
                    peer.path
                ));
            }
            if let Some(check) = &peer.selector {
                check.clone()?;
            }
            if let Some((rule, path)) = &peer.block {
                cidr_rule(rule, path, a)?;
            }
        }
        // endPort is carried from 1.16 (1.15 drops it: a warning, not an error).
        for (j, (without_end, with_end)) in r.ports.iter().enumerate() {
            let pr = match with_end {
                Some(pr) if a.minor >= 16 => pr,
                _ => without_end,
            };
            port_rule(pr, &format!("{}.ports[{j}]", r.path), r.ingress, a)
                .map_err(|m| m.replace(".ports[0]:", ":"))?;
        }
    }
    Ok(())
}

/// `parsePodSelector`: the selector with the policy namespace added, keys `k8s.`-prefixed.
fn knp_pod_selector(sel: Option<&Value>, ns: &str) -> Value {
    let mut out = knp_prefixed(sel, "");
    out["matchLabels"]["k8s.io.kubernetes.pod.namespace"] = Value::String(ns.to_string());
    out
}

/// `parseNetworkPolicyPeer`: the endpoint selector of a peer, if it has a pod or namespace selector.
fn knp_peer_selector(peer: &Value, ns: &str) -> Option<Value> {
    let pod = field(peer, "podSelector");
    let Some(nsel) = field(peer, "namespaceSelector") else {
        return pod.map(|p| knp_pod_selector(Some(p), ns));
    };
    let mut sel = knp_prefixed(Some(nsel), "io.cilium.k8s.namespace.labels.");
    let empty = sel["matchLabels"].as_object().is_none_or(|m| m.is_empty())
        && sel["matchExpressions"]
            .as_array()
            .is_none_or(|v| v.is_empty());
    if empty {
        sel["matchExpressions"] = serde_json::json!([
            {"key": "k8s.io.kubernetes.pod.namespace", "operator": "Exists"}
        ]);
    }
    let pod = knp_prefixed(pod, "");
    for (k, v) in pod["matchLabels"].as_object().into_iter().flatten() {
        sel["matchLabels"][k] = v.clone();
    }
    let mut exprs = sel["matchExpressions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    exprs.extend(
        pod["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .cloned(),
    );
    sel["matchExpressions"] = Value::Array(exprs);
    Some(sel)
}

/// A Kubernetes selector with every key given `k8s.` + `prefix`.
fn knp_prefixed(sel: Option<&Value>, prefix: &str) -> Value {
    let mut labels = serde_json::Map::new();
    let mut exprs = Vec::new();
    if let Some(sel) = sel {
        if let Some(ml) = field(sel, "matchLabels").and_then(Value::as_object) {
            for (k, v) in ml {
                labels.insert(format!("k8s.{prefix}{k}"), v.clone());
            }
        }
        for x in list(sel, "matchExpressions") {
            let mut x = x.clone();
            let key = text(&x, "key");
            x["key"] = Value::String(format!("k8s.{prefix}{key}"));
            exprs.push(x);
        }
    }
    serde_json::json!({"matchLabels": labels, "matchExpressions": exprs})
}

// ---------------------------------------------------------------------------------------------------------
// Go's parsers, as Cilium calls them.

/// `iana.IsSvcName`: 1–15 characters of `^([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$` (a port name).
pub fn is_svc_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 15
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.iter().any(u8::is_ascii_alphabetic)
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !s.contains("--")
}

/// `strconv.ParseUint(s, 0, 16)`: base prefixes `0x`/`0o`/`0b`, a leading `0` for octal, `_` between
/// digits. The error is Go's (`invalid syntax`, `value out of range`).
pub fn go_parse_uint16(s: &str) -> Result<u16, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(SYNTAX);
    }
    let (base, digits): (u64, &[u8]) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    let mut overflow = false;
    for &c in digits {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let d = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' => u64::from(c - b'a') + 10,
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => return Err(SYNTAX),
        };
        if d >= base {
            return Err(SYNTAX);
        }
        n = n.saturating_mul(base).saturating_add(d);
        if n > u64::from(u32::MAX) {
            overflow = true;
        }
    }
    if underscores && !underscore_ok(s) {
        return Err(SYNTAX);
    }
    if overflow || n > u64::from(u16::MAX) {
        return Err("value out of range");
    }
    Ok(n as u16)
}

/// `strconv.underscoreOK`.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.to_ascii_lowercase().is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `netip.ParseAddr`: dotted-quad IPv4 without leading zeros, or IPv6 (a zone allowed).
pub fn go_parse_addr(s: &str) -> Result<IpAddr, String> {
    let err = |m: &str| Err(format!("ParseAddr({s:?}): {m}"));
    if s.is_empty() {
        return err("unable to parse IP");
    }
    if s.contains(':') {
        let (addr, zone) = match s.split_once('%') {
            Some((a, z)) => (a, Some(z)),
            None => (s, None),
        };
        if zone == Some("") {
            return err("zone must be a non-empty string");
        }
        return match addr.parse::<std::net::Ipv6Addr>() {
            Ok(a) => Ok(IpAddr::V6(a)),
            Err(_) => err("unable to parse IPv6 address"),
        };
    }
    let fields: Vec<&str> = s.split('.').collect();
    if fields.len() != 4 {
        return err("IPv4 address too short");
    }
    let mut octets = [0u8; 4];
    for (i, f) in fields.iter().enumerate() {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return err("unexpected character");
        }
        if f.len() > 1 && f.starts_with('0') {
            return err("IPv4 field has octet with leading zero");
        }
        match f.parse::<u16>() {
            Ok(v) if v <= 255 => octets[i] = v as u8,
            _ => return err("IPv4 field has value >255"),
        }
    }
    Ok(IpAddr::from(octets))
}

/// `netip.ParsePrefix`: an address (no zone) and a prefix length written without sign or leading zero.
pub fn go_parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let err = |m: String| Err(format!("netip.ParsePrefix({s:?}): {m}"));
    let Some((addr, bits)) = s.rsplit_once('/') else {
        return err("no '/'".to_string());
    };
    if addr.contains('%') {
        return err("IPv6 zones cannot be present in a prefix".to_string());
    }
    let ip = match go_parse_addr(addr) {
        Ok(ip) => ip,
        Err(e) => return err(e),
    };
    let bad_bits = || {
        Err(format!(
            "netip.ParsePrefix({s:?}): bad bits after slash: {bits:?}"
        ))
    };
    if bits.len() > 1 && !bits.starts_with(|c: char| ('1'..='9').contains(&c)) {
        return bad_bits();
    }
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return bad_bits();
    }
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match bits.parse::<u32>() {
        Ok(n) if n <= max => Ok((ip, n as u8)),
        _ => err("prefix length out of range".to_string()),
    }
}

/// `netip.Prefix.Contains`: same family and inside the prefix.
fn prefix_contains((net, bits): (IpAddr, u8), ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Whether Go's `regexp.Compile` (RE2 syntax, Perl flags) refuses `re`, and its complaint. The
/// expression is translated into the Rust `regex` dialect, which is close, checking on the way what Go
/// alone refuses or accepts: escapes (octal `\123`, `\C`, no `\u`), character classes (POSIX names, ranges
/// written backwards, no set operations), a `{` that starts no repetition (a literal in Go), repetition
/// counts (at most 1000 copies of the innermost thing, nested repetitions multiplied), a repetition of a
/// repetition (`a**`), and flags other than `imsU`.
pub fn go_regexp_error(re: &str) -> Option<String> {
    match go_to_rust_regex(re) {
        Err(code) => Some(format!("error parsing regexp: {code}: `{re}`")),
        Ok(rust) => match regex::RegexBuilder::new(&rust).size_limit(1 << 30).build() {
            Ok(_) => None,
            Err(e) => {
                let msg = e.to_string();
                let line = msg
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("error:"))
                    .map(|l| l.trim_start_matches("error:").trim().to_string())
                    .unwrap_or(msg);
                Some(format!("error parsing regexp: {line}: `{re}`"))
            }
        },
    }
}

fn rust_char(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else if (0xD800..=0xDFFF).contains(&(c as u32)) {
        "\\x{FFFD}".to_string()
    } else {
        format!("\\x{{{:X}}}", c as u32)
    }
}

/// Go's `parseEscape` for an escape standing for one character (`chars[i]` is the backslash); the
/// character and the index after the escape.
fn go_escape_char(chars: &[char], i: usize) -> Result<(char, usize), &'static str> {
    const INVALID: &str = "invalid escape sequence";
    let Some(&c) = chars.get(i + 1) else {
        return Err("trailing backslash at end of expression");
    };
    let octal = |c: char| ('0'..='7').contains(&c);
    match c {
        '1'..='7' if !chars.get(i + 2).is_some_and(|d| octal(*d)) => Err(INVALID),
        '0'..='7' => {
            let mut v = c as u32 - '0' as u32;
            let mut j = i + 2;
            while j < i + 4 && chars.get(j).is_some_and(|d| octal(*d)) {
                v = v * 8 + (chars[j] as u32 - '0' as u32);
                j += 1;
            }
            Ok((char::from_u32(v).unwrap_or('\u{FFFD}'), j))
        }
        'x' => {
            if chars.get(i + 2) == Some(&'{') {
                let end = chars[i + 3..]
                    .iter()
                    .position(|c| *c == '}')
                    .ok_or(INVALID)?
                    + i
                    + 3;
                let hex: String = chars[i + 3..end].iter().collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| INVALID)?;
                if hex.is_empty() || v > 0x10FFFF {
                    return Err(INVALID);
                }
                Ok((char::from_u32(v).unwrap_or('\u{FFFD}'), end + 1))
            } else {
                let hex: String = chars.get(i + 2..i + 4).ok_or(INVALID)?.iter().collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| INVALID)?;
                Ok((char::from_u32(v).unwrap_or('\u{FFFD}'), i + 4))
            }
        }
        'a' => Ok(('\u{7}', i + 2)),
        'f' => Ok(('\u{c}', i + 2)),
        'n' => Ok(('\n', i + 2)),
        'r' => Ok(('\r', i + 2)),
        't' => Ok(('\t', i + 2)),
        'v' => Ok(('\u{b}', i + 2)),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, i + 2)),
        _ => Err(INVALID),
    }
}

/// `\p{Greek}`, `\pL`, `\PN`: the text of a Unicode class escape and the index after it.
fn unicode_class(chars: &[char], i: usize) -> Result<(String, usize), &'static str> {
    if chars.get(i + 2) == Some(&'{') {
        let end = chars[i + 3..]
            .iter()
            .position(|c| *c == '}')
            .ok_or("invalid character class range")?
            + i
            + 3;
        // Go negates with `^` inside the braces too: `\p{^Greek}` is `\P{Greek}`.
        let name: String = chars[i + 3..end].iter().collect();
        if let Some(name) = name.strip_prefix('^') {
            let op = if chars[i + 1] == 'p' { 'P' } else { 'p' };
            return Ok((format!("\\{op}{{{name}}}"), end + 1));
        }
        Ok((chars[i..=end].iter().collect(), end + 1))
    } else if chars.get(i + 2).is_some() {
        Ok((chars[i..i + 3].iter().collect(), i + 3))
    } else {
        Err("invalid character class range")
    }
}

/// One character class starting at `chars[i]` (`[`): its Rust form and the index after it.
fn go_class(chars: &[char], i: usize) -> Result<(String, usize), &'static str> {
    const POSIX: &[&str] = &[
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    let mut out = String::from("[");
    let mut j = i + 1;
    if chars.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = chars.get(j) else {
            return Err("missing closing ]");
        };
        if c == ']' && !first {
            out.push(']');
            return Ok((out, j + 1));
        }
        first = false;
        // A POSIX class.
        if c == '[' && chars.get(j + 1) == Some(&':') {
            let rest: String = chars[j..].iter().collect();
            if let Some(end) = rest.find(":]") {
                let name = rest[2..end].trim_start_matches('^');
                if !POSIX.contains(&name) {
                    return Err("invalid character class range");
                }
                out.push_str(&rest[..end + 2]);
                j += rest[..end + 2].chars().count();
                continue;
            }
        }
        if c == '\\' {
            match chars.get(j + 1) {
                Some('p' | 'P') => {
                    let (text, next) = unicode_class(chars, j)?;
                    out.push_str(&text);
                    j = next;
                    continue;
                }
                Some(d @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                    out.push('\\');
                    out.push(*d);
                    j += 2;
                    continue;
                }
                _ => {}
            }
        }
        let (lo, next) = if c == '\\' {
            go_escape_char(chars, j)?
        } else {
            (c, j + 1)
        };
        j = next;
        if chars.get(j) == Some(&'-') && chars.get(j + 1).is_some_and(|c| *c != ']') {
            let (hi, next) = if chars[j + 1] == '\\' {
                go_escape_char(chars, j + 1)?
            } else {
                (chars[j + 1], j + 2)
            };
            if hi < lo {
                return Err("invalid character class range");
            }
            out.push_str(&format!("{}-{}", rust_char(lo), rust_char(hi)));
            j = next;
        } else {
            out.push_str(&rust_char(lo));
        }
    }
}

/// The Rust form of a Go regexp, or the code of Go's parse error.
fn go_to_rust_regex(re: &str) -> Result<String, &'static str> {
    const NESTED: &str = "invalid nested repetition operator";
    const COUNT: &str = "invalid repeat count";
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 8);
    // For the repetition limit: per open group, the largest need of its parts; the need of the last atom.
    let mut groups: Vec<u64> = vec![0];
    let mut last_need: u64 = 0;
    // After a repetition operator (and its lazy `?`), another one is an error.
    let mut after_repeat = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                match chars.get(i + 1) {
                    Some('Q') => {
                        let rest: String = chars[i + 2..].iter().collect();
                        let (lit, used) = match rest.find("\\E") {
                            Some(end) => (&rest[..end], rest[..end].chars().count() + 2),
                            None => (rest.as_str(), rest.chars().count()),
                        };
                        for ch in lit.chars() {
                            out.push_str(&rust_char(ch));
                        }
                        i += 2 + used;
                    }
                    Some('p' | 'P') => {
                        let (text, next) = unicode_class(&chars, i)?;
                        out.push_str(&text);
                        i = next;
                    }
                    Some('C') => {
                        out.push_str("(?s-u:.)");
                        i += 2;
                    }
                    Some(e @ ('A' | 'b' | 'B' | 'z' | 'd' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                        out.push('\\');
                        out.push(*e);
                        i += 2;
                    }
                    _ => {
                        let (ch, next) = go_escape_char(&chars, i)?;
                        out.push_str(&rust_char(ch));
                        i = next;
                    }
                }
                last_need = 0;
                after_repeat = false;
            }
            '[' => {
                let (class, next) = go_class(&chars, i)?;
                out.push_str(&class);
                i = next;
                last_need = 0;
                after_repeat = false;
            }
            '*' | '+' | '?' => {
                if after_repeat {
                    return Err(NESTED);
                }
                out.push(c);
                i += 1;
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
                after_repeat = true;
            }
            '{' => {
                // `{n}`, `{n,}`, `{n,m}` is a repetition; anything else a literal `{`.
                let end = chars[i..].iter().position(|c| *c == '}').map(|e| e + i);
                let rep = end.and_then(|end| {
                    let body: String = chars[i + 1..end].iter().collect();
                    let num = |s: &str| {
                        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                            .then(|| s.parse::<u64>().unwrap_or(u64::MAX))
                    };
                    let (lo, hi) = match body.split_once(',') {
                        Some((lo, "")) => (num(lo)?, None),
                        Some((lo, hi)) => (num(lo)?, Some(num(hi)?)),
                        None => (num(&body)?, Some(num(&body)?)),
                    };
                    Some((end, lo, hi))
                });
                match rep {
                    Some((end, lo, hi)) => {
                        if after_repeat {
                            return Err(NESTED);
                        }
                        if lo > 1000 || hi.is_some_and(|h| h > 1000 || h < lo) {
                            return Err(COUNT);
                        }
                        // Go's repeatIsValid: m copies (m: max, or min when unbounded) of an atom
                        // needing k leave 1000/m for it.
                        let m = hi.unwrap_or(lo);
                        if lo >= 2 || hi.is_some_and(|h| h >= 2) {
                            let need = if m == 0 { 0 } else { m * last_need.max(1) };
                            if need > 1000 {
                                return Err(COUNT);
                            }
                            last_need = need;
                        } else if m == 0 {
                            last_need = 0;
                        }
                        let last = groups.len() - 1;
                        groups[last] = groups[last].max(last_need);
                        out.extend(&chars[i..=end]);
                        i = end + 1;
                        if chars.get(i) == Some(&'?') {
                            out.push('?');
                            i += 1;
                        }
                        after_repeat = true;
                    }
                    None => {
                        out.push_str("\\{");
                        i += 1;
                        last_need = 0;
                        after_repeat = false;
                    }
                }
            }
            '}' => {
                out.push_str("\\}");
                i += 1;
                last_need = 0;
                after_repeat = false;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    let named = matches!(chars.get(i + 2), Some('P' | '<'));
                    if !named {
                        let mut k = i + 2;
                        while k < chars.len() && chars[k] != ')' && chars[k] != ':' {
                            if !matches!(chars[k], 'i' | 'm' | 's' | 'U' | '-') {
                                return Err("invalid or unsupported Perl syntax");
                            }
                            k += 1;
                        }
                    }
                }
                groups.push(0);
                out.push(c);
                i += 1;
                after_repeat = false;
            }
            ')' => {
                let inner = if groups.len() > 1 {
                    groups.pop().unwrap_or(0)
                } else {
                    return Err("unexpected )");
                };
                last_need = inner;
                let last = groups.len() - 1;
                groups[last] = groups[last].max(inner);
                out.push(c);
                i += 1;
                after_repeat = false;
            }
            _ => {
                out.push(c);
                i += 1;
                last_need = 0;
                after_repeat = false;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cilium::{Settings, Version};
    use serde_json::json;

    fn settings(minor: u16, node_labels: bool) -> Settings {
        Settings {
            version: Version::new(1, minor),
            node_selector_labels: node_labels,
            ..Settings::default()
        }
    }

    /// The minors (15..=20) on which the agent refuses the policy, default settings.
    fn refused_on(r: &Rejection) -> Vec<u16> {
        (OLDEST_MINOR..=NEWEST_MINOR)
            .filter(|m| r.at(&settings(*m, false)).is_some())
            .collect()
    }

    fn cnp_with(spec: Value) -> Value {
        json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
               "metadata": {"name": "p", "namespace": "app"}, "spec": spec})
    }

    fn ingress(el: Value) -> Value {
        cnp_with(json!({"endpointSelector": {}, "ingress": [el]}))
    }

    fn knp_with(spec: Value) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "k", "namespace": "app"}, "spec": spec})
    }

    const ALL: &[u16] = &[15, 16, 17, 18, 19, 20];
    const NONE: &[u16] = &[];

    fn tcp(port: &str) -> Value {
        json!({"port": port, "protocol": "TCP"})
    }

    /// One row per rejection rule and per release difference: (case, object, clusterwide, refused on).
    fn truth_table() -> Vec<(&'static str, Value, bool, &'static [u16])> {
        let long_key = "k".repeat(60);
        let http_get = json!({"http": [{"method": "GET"}]});
        vec![
            ("a valid policy is accepted everywhere",
             ingress(json!({"fromEntities": ["cluster"], "toPorts": [{"ports": [tcp("8080")]}]})), false, NONE),
            ("a policy without spec or specs is refused",
             json!({"metadata": {"name": "p", "namespace": "app"}}), false, ALL),
            ("an empty specs list is a policy with no rules",
             json!({"metadata": {"name": "p", "namespace": "app"}, "specs": []}), false, NONE),
            ("a policy without a name is refused",
             json!({"metadata": {"namespace": "app"}, "spec": {"endpointSelector": {}, "ingress": [{}]}}), false, ALL),
            ("a rule with no section at all is refused from 1.17",
             cnp_with(json!({"endpointSelector": {}})), false, &[17, 18, 19, 20]),
            ("a rule whose only section is an empty list is refused from 1.17",
             cnp_with(json!({"endpointSelector": {}, "ingress": []})), false, &[17, 18, 19, 20]),
            ("a rule without endpointSelector or nodeSelector is refused",
             cnp_with(json!({"ingress": [{}]})), false, ALL),
            ("a rule with endpointSelector and nodeSelector is refused",
             json!({"metadata": {"name": "c"}, "spec": {"endpointSelector": {}, "nodeSelector": {}, "ingress": [{}]}}), true, ALL),
            ("a cnp spec with a nodeSelector is refused",
             cnp_with(json!({"nodeSelector": {}, "ingress": [{}]})), false, ALL),
            ("a cnp specs entry with a nodeSelector is refused from 1.18",
             json!({"metadata": {"name": "p", "namespace": "app"}, "specs": [{"nodeSelector": {}, "ingress": [{}]}]}), false, &[18, 19, 20]),
            ("a ccnp with a nodeSelector is accepted",
             json!({"metadata": {"name": "c"}, "spec": {"nodeSelector": {}, "ingress": [{}]}}), true, NONE),
            ("combining two peer kinds in one element is refused",
             ingress(json!({"fromEndpoints": [{}], "fromEntities": ["world"]})), false, ALL),
            ("an empty list beside another peer kind is no combination",
             ingress(json!({"fromEndpoints": [], "fromEntities": ["world"]})), false, NONE),
            ("fromNodes beside fromEndpoints is a combination from 1.16 (1.15 has no fromNodes)",
             ingress(json!({"fromEndpoints": [{}], "fromNodes": [{}]})), false, &[16, 17, 18, 19, 20]),
            ("fromGroups beside fromEndpoints is a combination from 1.16 (1.15 has no fromGroups)",
             ingress(json!({"fromEndpoints": [{}], "fromGroups": [{"aws": {"securityGroupsIds": ["sg-1"]}}]})), false, &[16, 17, 18, 19, 20]),
            ("fromNodes needs enable-node-selector-labels from 1.16",
             ingress(json!({"fromNodes": [{}]})), false, &[16, 17, 18, 19, 20]),
            ("toNodes needs enable-node-selector-labels from 1.16",
             cnp_with(json!({"endpointSelector": {}, "egress": [{"toNodes": [{}]}]})), false, &[16, 17, 18, 19, 20]),
            ("an Exists requirement with values is refused",
             ingress(json!({"fromEndpoints": [{"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}]})), false, ALL),
            ("an In requirement without values is refused",
             cnp_with(json!({"endpointSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}, "ingress": [{}]})), false, ALL),
            ("an invalid label value in a requirement is refused",
             ingress(json!({"fromEndpoints": [{"matchExpressions": [{"key": "app", "operator": "In", "values": ["a b"]}]}]})), false, ALL),
            ("an invalid label key is refused",
             ingress(json!({"fromEndpoints": [{"matchLabels": {"bad key": "x"}}]})), false, ALL),
            ("a 60-character key is too long with its any. source up to 1.19, valid on 1.20",
             ingress(json!({"fromEndpoints": [{"matchLabels": {long_key.clone(): "x"}}]})), false, &[15, 16, 17, 18, 19]),
            ("a $host key is reserved:host up to 1.19, an invalid key on 1.20",
             ingress(json!({"fromEndpoints": [{"matchLabels": {"$host": ""}}]})), false, &[20]),
            ("an invalid fromRequires selector is refused up to 1.18 (from 1.19 no selector decodes there)",
             ingress(json!({"fromRequires": [{"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}]})), false, ALL),
            ("a CIDR except outside its CIDR is refused",
             ingress(json!({"fromCIDRSet": [{"cidr": "10.0.0.0/16", "except": ["192.168.0.0/24"]}]})), false, ALL),
            ("a CIDR except wider than its CIDR crashes 1.15 and 1.16 and is refused from 1.20",
             ingress(json!({"fromCIDRSet": [{"cidr": "10.0.0.0/24", "except": ["10.0.0.0/16"]}]})), false, &[15, 16, 20]),
            ("a zoned IPv6 address in fromCIDR crashes the agent from 1.19",
             ingress(json!({"fromCIDR": ["fe80::1%eth0"]})), false, &[19, 20]),
            ("a selector in fromRequires does not decode from 1.19",
             ingress(json!({"fromRequires": [{"matchLabels": {"app": "x"}}]})), false, &[19, 20]),
            ("a fromCIDRSet entry without a prefix length is refused",
             ingress(json!({"fromCIDRSet": [{"cidr": "10.0.0.1"}]})), false, ALL),
            ("a bare address in fromCIDR is accepted",
             ingress(json!({"fromCIDR": ["10.0.0.1"]})), false, NONE),
            ("an unparsable fromCIDR is refused",
             ingress(json!({"fromCIDR": ["10.0.0.300/8"]})), false, ALL),
            ("a CIDR group reference with exceptions is refused by the 1.15 and 1.16 watcher",
             ingress(json!({"fromCIDRSet": [{"cidrGroupRef": "grp", "except": ["10.0.0.0/8"]}]})), false, &[15, 16]),
            ("a CIDR group reference alone is accepted",
             ingress(json!({"fromCIDRSet": [{"cidrGroupRef": "grp"}]})), false, NONE),
            ("a cidrGroupSelector is accepted from 1.17 (1.16 knows no such field and finds no CIDR)",
             ingress(json!({"fromCIDRSet": [{"cidrGroupSelector": {"matchLabels": {"team": "a"}}}]})), false, &[15, 16]),
            ("an unknown entity is refused",
             ingress(json!({"fromEntities": ["galaxy"]})), false, ALL),
            ("the cluster-mesh entity exists from 1.20",
             ingress(json!({"fromEntities": ["cluster-mesh"]})), false, &[15, 16, 17, 18, 19]),
            ("a port rule without a port is refused",
             ingress(json!({"toPorts": [{"ports": [{"protocol": "TCP"}]}]})), false, ALL),
            ("a port number above 65535 is refused",
             ingress(json!({"toPorts": [{"ports": [tcp("70000")]}]})), false, ALL),
            ("a port with a leading zero is octal, and 09 is no number",
             ingress(json!({"toPorts": [{"ports": [tcp("09")]}]})), false, ALL),
            ("an unknown protocol is refused",
             ingress(json!({"toPorts": [{"ports": [{"port": "80", "protocol": "ICMP"}]}]})), false, ALL),
            ("VRRP with port 0 is a protocol from 1.19",
             ingress(json!({"toPorts": [{"ports": [{"port": "0", "protocol": "VRRP"}]}]})), false, &[15, 16, 17, 18]),
            ("VRRP with a port is refused",
             ingress(json!({"toPorts": [{"ports": [{"port": "80", "protocol": "VRRP"}]}]})), false, ALL),
            ("GRE is a protocol from 1.20",
             ingress(json!({"toPorts": [{"ports": [{"port": "0", "protocol": "GRE"}]}]})), false, &[15, 16, 17, 18, 19]),
            ("more than 40 ports in one deny port rule are refused from 1.16 (1.15 does not sanitise deny rules)",
             cnp_with(json!({"endpointSelector": {}, "ingressDeny": [{"toPorts": [{"ports": (1..=41).map(|p| tcp(&p.to_string())).collect::<Vec<_>>()}]}]})), false, &[16, 17, 18, 19, 20]),
            ("an invalid deny element is refused from 1.16",
             cnp_with(json!({"endpointSelector": {}, "ingress": [{}], "ingressDeny": [{"fromEndpoints": [{}], "fromEntities": ["world"]}]})), false, &[16, 17, 18, 19, 20]),
            ("L7 rules on a UDP port are refused",
             ingress(json!({"toPorts": [{"ports": [{"port": "80", "protocol": "UDP"}], "rules": http_get.clone()}]})), false, ALL),
            ("L7 rules on a port without protocol (ANY) are refused",
             ingress(json!({"toPorts": [{"ports": [{"port": "80"}], "rules": http_get.clone()}]})), false, ALL),
            ("L7 rules on port 0 are refused",
             ingress(json!({"toPorts": [{"ports": [tcp("0")], "rules": http_get.clone()}]})), false, ALL),
            ("L7 rules on a port range are refused on 1.16 only",
             ingress(json!({"toPorts": [{"ports": [{"port": "80", "endPort": 90, "protocol": "TCP"}], "rules": http_get.clone()}]})), false, &[16]),
            ("an invalid HTTP path regex is refused",
             ingress(json!({"toPorts": [{"ports": [tcp("80")], "rules": {"http": [{"path": "/metrics("}]}}]})), false, ALL),
            ("an HTTP host is not a regex and not checked",
             ingress(json!({"toPorts": [{"ports": [tcp("80")], "rules": {"http": [{"host": "("}]}}]})), false, NONE),
            ("a literal brace is a valid Go regex",
             ingress(json!({"toPorts": [{"ports": [tcp("80")], "rules": {"http": [{"path": "/api/{id}"}]}}]})), false, NONE),
            ("a header match secret without name is refused",
             ingress(json!({"toPorts": [{"ports": [tcp("80")], "rules": {"http": [{"headerMatches": [{"name": "x", "secret": {"name": ""}}]}]}}]})), false, ALL),
            ("DNS rules on ingress are refused",
             ingress(json!({"toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"dns": [{"matchName": "a.b"}]}}]})), false, ALL),
            ("a listener on ingress is refused",
             ingress(json!({"toPorts": [{"ports": [tcp("80")], "listener": {"envoyConfig": {"name": "e"}, "name": "l"}}]})), false, ALL),
            ("server names with L7 rules need TLS termination",
             ingress(json!({"toPorts": [{"ports": [tcp("443")], "serverNames": ["a.b"], "rules": http_get.clone()}]})), false, ALL),
            ("kafka rules are checked up to 1.19; 1.20 ignores the field",
             ingress(json!({"toPorts": [{"ports": [tcp("9092")], "rules": {"kafka": [{"apiKey": "nonsense"}]}}]})), false, &[15, 16, 17, 18, 19]),
            ("a generic L7 rule with an empty key is refused up to 1.19",
             ingress(json!({"toPorts": [{"ports": [tcp("80")], "rules": {"l7proto": "x", "l7": [{"": "v"}]}}]})), false, &[15, 16, 17, 18, 19]),
            ("ICMP beside toPorts is refused",
             ingress(json!({"icmps": [{"fields": [{"type": 8}]}], "toPorts": [{"ports": [tcp("80")]}]})), false, ALL),
            ("an ICMP field of an unknown family is refused",
             ingress(json!({"icmps": [{"fields": [{"type": 8, "family": "IPv5"}]}]})), false, ALL),
            ("L7 rules in a host policy are refused",
             json!({"metadata": {"name": "c"}, "spec": {"nodeSelector": {}, "ingress": [{"toPorts": [{"ports": [tcp("80")], "rules": http_get.clone()}]}]}}), true, ALL),
            ("an invalid egress section refuses the whole policy",
             cnp_with(json!({"endpointSelector": {}, "ingress": [{}], "egress": [{"toEndpoints": [{}], "toCIDR": ["1.2.3.4/32"]}]})), false, ALL),
            ("toServices with toPorts is refused on 1.15 and 1.16",
             cnp_with(json!({"endpointSelector": {}, "egress": [{"toServices": [{"k8sService": {"serviceName": "s"}}], "toPorts": [{"ports": [tcp("80")]}]}]})), false, &[15, 16]),
            ("DNS egress rules without a port are refused",
             cnp_with(json!({"endpointSelector": {}, "egress": [{"toEndpoints": [{}], "toPorts": [{"rules": {"dns": [{"matchPattern": "*"}]}}]}]})), false, ALL),
            ("DNS egress rules on a port range are refused from 1.17",
             cnp_with(json!({"endpointSelector": {}, "egress": [{"toEndpoints": [{}], "toPorts": [{"ports": [{"port": "53", "endPort": 54, "protocol": "UDP"}], "rules": {"dns": [{"matchPattern": "*"}]}}]}]})), false, &[16, 17, 18, 19, 20]),
            ("HTTP rules in host egress are refused",
             json!({"metadata": {"name": "c"}, "spec": {"nodeSelector": {}, "egress": [{"toEntities": ["world"], "toPorts": [{"ports": [tcp("80")], "rules": http_get.clone()}]}]}}), true, ALL),
            ("a toFQDNs selector with name and pattern is refused",
             cnp_with(json!({"endpointSelector": {}, "egress": [{"toFQDNs": [{"matchName": "a.b", "matchPattern": "*.b"}]}]})), false, ALL),
            ("an invalid endpointSelector of a ccnp is refused",
             json!({"metadata": {"name": "c"}, "spec": {"endpointSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}, "ingress": [{}]}}), true, ALL),
        ]
    }

    #[test]
    fn every_rejection_rule_holds_on_exactly_the_releases_that_have_it() {
        let mut failures = Vec::new();
        for (case, obj, clusterwide, want) in truth_table() {
            let r = cilium_policy(&obj, clusterwide);
            let got = refused_on(&r);
            if got != want {
                failures.push(format!("{case}: refused on {got:?}, want {want:?} ({r:?})"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn messages_name_the_field_and_use_ciliums_words() {
        let r = cilium_policy(
            &cnp_with(
                json!({"endpointSelector": {}, "ingress": [{}, {"toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"http": [{}]}}]}]}),
            ),
            false,
        );
        assert_eq!(
            r.at(&settings(19, false)),
            Some("spec.ingress[1].toPorts[0].ports[0]: L7 rules can only apply to TCP (not UDP) except for DNS rules")
        );
        let r = cilium_policy(
            &ingress(
                json!({"fromEndpoints": [{"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}]}),
            ),
            false,
        );
        assert_eq!(
            r.at(&settings(18, false)),
            Some("spec.ingress[0].fromEndpoints[0]: invalid label selector: matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        );
        let r = cilium_policy(
            &ingress(json!({"fromEndpoints": [{}], "fromCIDR": ["1.2.3.4/32"]})),
            false,
        );
        assert_eq!(
            r.at(&settings(15, false)),
            Some("spec.ingress[0]: Combining FromEndpoints and FromCIDR is not supported yet")
        );
        assert_eq!(
            r.at(&settings(19, false)),
            Some("spec.ingress[0]: combining FromEndpoints and FromCIDR is not supported yet")
        );
        let r = cilium_policy(
            &ingress(json!({"fromCIDRSet": [{"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}]})),
            false,
        );
        assert_eq!(
            r.at(&settings(19, false)),
            Some("spec.ingress[0].fromCIDRSet[0].except[0]: allow CIDR prefix 10.0.0.0/16 does not contain exclude CIDR prefix 10.1.0.0/24")
        );
    }

    #[test]
    fn from_nodes_is_refused_only_without_the_setting_and_other_faults_hold_either_way() {
        let r = cilium_policy(&ingress(json!({"fromNodes": [{}]})), false);
        assert!(r
            .at(&settings(19, false))
            .is_some_and(|m| m.contains("enable-node-selector-labels")));
        assert_eq!(r.at(&settings(19, true)), None);
        assert_eq!(
            r.at(&settings(15, false)),
            None,
            "1.15 has no fromNodes field"
        );
        let r = cilium_policy(
            &ingress(
                json!({"fromNodes": [{"matchExpressions": [{"key": "a", "operator": "In"}]}]}),
            ),
            false,
        );
        assert!(r
            .at(&settings(19, true))
            .is_some_and(|m| m.contains("Required value")));
        let off = r.at(&settings(19, false)).unwrap();
        assert!(
            off.contains("Required value") && off.contains("enable-node-selector-labels"),
            "{off}"
        );
    }

    #[test]
    fn releases_outside_the_known_range_are_judged_as_the_nearest_one() {
        let r = cilium_policy(&cnp_with(json!({"endpointSelector": {}})), false);
        assert_eq!(r.at(&settings(14, false)), None, "as 1.15");
        assert!(r.at(&settings(21, false)).is_some(), "as 1.20");
    }

    /// (case, NetworkPolicy spec, refused on).
    fn knp_truth_table() -> Vec<(&'static str, Value, &'static [u16])> {
        let long_ns_key = "n".repeat(29);
        let long_pod_key = "p".repeat(60);
        vec![
            ("a plain network policy is accepted",
             json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "obs"}}}], "ports": [{"port": 8080, "protocol": "TCP"}]}]}), NONE),
            ("endPort is accepted everywhere (1.15 drops it with a warning)",
             json!({"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 9000, "protocol": "TCP"}]}]}), NONE),
            ("a namespace label key longer than 28 characters is too long with its prefixes up to 1.18",
             json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {long_ns_key: "x"}}}]}]}), &[15, 16, 17, 18]),
            ("a pod label key longer than 59 characters is too long with its k8s. source up to 1.18",
             json!({"podSelector": {"matchLabels": {long_pod_key.clone(): "x"}}, "policyTypes": ["Ingress"]}), &[15, 16, 17, 18]),
            ("the same long key in an egress peer is refused up to 1.18",
             json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"podSelector": {"matchLabels": {long_pod_key: "x"}}}]}]}), &[15, 16, 17, 18]),
            ("an ipBlock peer is accepted (no cluster label without policy-default-local-cluster)",
             json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]}), NONE),
        ]
    }

    #[test]
    fn network_policies_are_refused_on_exactly_the_releases_that_refuse_them() {
        let mut failures = Vec::new();
        for (case, spec, want) in knp_truth_table() {
            let r = network_policy(&knp_with(spec));
            let got = refused_on(&r);
            if got != want {
                failures.push(format!("{case}: refused on {got:?}, want {want:?} ({r:?})"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let r = network_policy(&knp_with(
            json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"n".repeat(29): "x"}}}]}]}),
        ));
        assert!(
            r.at(&settings(18, false)).is_some_and(|m| m.starts_with("spec.ingress[0].from[0]: invalid label selector: matchLabels: Invalid value: \"k8s.io.cilium.k8s.namespace.labels.nnn")),
            "{r:?}"
        );
    }

    #[test]
    fn go_parsers_are_reproduced() {
        for (s, want) in [
            ("80", Ok(80)),
            ("0", Ok(0)),
            ("010", Ok(8)),
            ("0x1F", Ok(31)),
            ("0b11", Ok(3)),
            ("0o17", Ok(15)),
            ("1_000", Ok(1000)),
            ("09", Err("invalid syntax")),
            ("0x", Err("invalid syntax")),
            ("_1", Err("invalid syntax")),
            ("1__0", Err("invalid syntax")),
            ("-1", Err("invalid syntax")),
            ("65535", Ok(65535)),
            ("65536", Err("value out of range")),
            ("99999999999999999999999", Err("value out of range")),
        ] {
            assert_eq!(go_parse_uint16(s), want, "{s}");
        }
        assert!(is_svc_name("http-metrics") && is_svc_name("HTTP") && is_svc_name("0x10"));
        assert!(
            !is_svc_name("80")
                && !is_svc_name("a--b")
                && !is_svc_name("-a")
                && !is_svc_name("sixteen-chars-xx")
        );
        assert!(go_parse_prefix("10.0.0.1/8").is_ok());
        assert!(go_parse_prefix("10.0.0.0/08").is_err());
        assert!(go_parse_prefix("010.0.0.0/8").is_err());
        assert!(go_parse_prefix("10.0.0.0/33").is_err());
        assert!(go_parse_prefix("::ffff:10.0.0.0/104").is_ok());
        assert!(go_parse_prefix("fe80::1%eth0/64").is_err());
        assert!(go_parse_addr("fe80::1%eth0").is_ok());
        assert!(go_parse_addr("1.2.3").is_err());
        assert!(!prefix_contains(
            go_parse_prefix("10.0.0.0/8").unwrap(),
            "::ffff:10.0.0.1".parse().unwrap()
        ));
    }

    #[test]
    fn go_regexps_are_judged_as_go_judges_them() {
        for ok in [
            "/metrics",
            "GET|POST",
            "/api/{id}",
            "a{2}",
            "a{2,}",
            "a{2,5}?",
            "/x}",
            "[]a]",
            "[^]a]",
            "(?i)get",
            "(?P<n>x)",
            "(?<n>x)",
            "a*?",
            "\\Q.*\\E",
            "\\pL",
            "[[:alpha:]]",
            "a{,2}",
            "x{1000}",
        ] {
            assert_eq!(go_regexp_error(ok), None, "{ok}");
        }
        for bad in [
            "(", "a**", "a*+", "a{2}*", "x{1001}", "x{3,2}", "(?x)a", "[a", "\\", "a)", "*a", "\\8",
        ] {
            assert!(go_regexp_error(bad).is_some(), "{bad}");
        }
    }
}
