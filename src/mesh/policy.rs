//! AuthorizationPolicy and PeerAuthentication (`security.istio.io` v1 and v1beta1) as typed values, with the
//! checks Istio's validation applies. A spec Istio would reject becomes `Err(reason)`: such an object never
//! takes effect (the webhook refuses it), and the engine reports it instead of evaluating it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use super::RawProvider;
use crate::model::Labels;

/// The annotation that turns an AuthorizationPolicy into a shadow policy (istio.md rule 14).
pub const DRY_RUN_ANNOTATION: &str = "istio.io/dry-run";

#[derive(Debug, Clone, PartialEq)]
pub enum MeshSpec {
    Authz(AuthorizationPolicy),
    Peer(PeerAuthentication),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    Audit,
    /// An external authorizer, by extension provider name.
    Custom(String),
}

impl Action {
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Audit => "AUDIT",
            Action::Custom(_) => "CUSTOM",
        }
    }
}

/// A `targetRef`/`targetRefs` entry: sidecars ignore policies that carry one (rule 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationPolicy {
    /// `selector.matchLabels`; `None` when absent or empty (the policy applies to every workload in scope).
    pub selector: Option<Labels>,
    pub target_refs: Vec<TargetRef>,
    pub action: Action,
    /// `None`: no `rules` at all (ALLOW: allow-nothing; DENY: nothing).
    pub rules: Option<Vec<Rule>>,
}

/// One rule: `from` (any), `to` (any), `when` (all). An empty list counts as missing, i.e. matched.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rule {
    pub from: Vec<Source>,
    pub to: Vec<Operation>,
    pub when: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Source {
    pub principals: Vec<String>,
    pub not_principals: Vec<String>,
    pub request_principals: Vec<String>,
    pub not_request_principals: Vec<String>,
    pub namespaces: Vec<String>,
    pub not_namespaces: Vec<String>,
    pub service_accounts: Vec<String>,
    pub not_service_accounts: Vec<String>,
    pub ip_blocks: Vec<String>,
    pub not_ip_blocks: Vec<String>,
    pub remote_ip_blocks: Vec<String>,
    pub not_remote_ip_blocks: Vec<String>,
}

impl Source {
    fn is_empty(&self) -> bool {
        *self == Source::default()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Operation {
    pub hosts: Vec<String>,
    pub not_hosts: Vec<String>,
    pub ports: Vec<String>,
    pub not_ports: Vec<String>,
    pub methods: Vec<String>,
    pub not_methods: Vec<String>,
    pub paths: Vec<String>,
    pub not_paths: Vec<String>,
}

impl Operation {
    fn is_empty(&self) -> bool {
        *self == Operation::default()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    pub key: String,
    pub values: Vec<String>,
    pub not_values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MtlsMode {
    Unset,
    Disable,
    Permissive,
    Strict,
}

impl MtlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Unset => "UNSET",
            MtlsMode::Disable => "DISABLE",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Strict => "STRICT",
        }
    }

    fn parse(s: Option<&str>) -> Result<MtlsMode, String> {
        match s.unwrap_or("UNSET") {
            "" | "UNSET" => Ok(MtlsMode::Unset),
            "DISABLE" => Ok(MtlsMode::Disable),
            "PERMISSIVE" => Ok(MtlsMode::Permissive),
            "STRICT" => Ok(MtlsMode::Strict),
            other => Err(format!(
                "mtls.mode {other:?} is not one of UNSET, DISABLE, PERMISSIVE, STRICT"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PeerAuthentication {
    /// `selector.matchLabels`; `None` when absent or empty (namespace- or mesh-wide).
    pub selector: Option<Labels>,
    pub mode: MtlsMode,
    /// `portLevelMtls`, keyed by container port.
    pub port_level: BTreeMap<u16, MtlsMode>,
}

// ---------------------------------------------------------------------------------------------------------
// Raw shapes, as written.

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawSelector {
    match_labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTargetRef {
    kind: String,
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawAuthz {
    selector: Option<RawSelector>,
    target_ref: Option<RawTargetRef>,
    target_refs: Vec<RawTargetRef>,
    action: Option<String>,
    provider: Option<RawProvider>,
    rules: Option<Vec<Option<RawRule>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawRule {
    from: Vec<RawFrom>,
    to: Vec<RawTo>,
    when: Vec<Condition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFrom {
    source: Option<Source>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTo {
    operation: Option<Operation>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMtls {
    mode: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawPeer {
    selector: Option<RawSelector>,
    mtls: Option<RawMtls>,
    port_level_mtls: BTreeMap<String, RawMtls>,
}

fn typed<T: for<'de> Deserialize<'de>>(spec: &Value) -> Result<T, String> {
    if spec.is_null() {
        return serde_json::from_value(Value::Object(Default::default()))
            .map_err(|e| e.to_string());
    }
    serde_path_to_error::deserialize(spec.clone()).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("spec: {}", e.into_inner())
        } else {
            format!("spec.{path}: {}", e.into_inner())
        }
    })
}

fn selector_labels(s: Option<RawSelector>) -> Option<Labels> {
    s.and_then(|s| s.match_labels).filter(|m| !m.is_empty())
}

/// The attribute keys of `when` that Istio accepts (`security.ValidateAttribute`).
fn known_key(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "source.ip",
        "remote.ip",
        "source.namespace",
        "source.principal",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "destination.ip",
        "destination.port",
        "connection.sni",
    ];
    EXACT.contains(&key)
        || (key.starts_with("request.headers[") && key.ends_with(']') && key.len() > 17)
        || (key.starts_with("request.auth.claims[") && key.ends_with(']') && key.len() > 21)
        || key.starts_with("experimental.envoy.filters.")
}

/// An IP address or CIDR, as `ipBlocks` takes them.
pub fn parse_block(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((ip, len))
}

/// An AuthorizationPolicy spec, validated as istiod's webhook does.
pub fn authorization_policy(spec: &Value) -> Result<AuthorizationPolicy, String> {
    let raw: RawAuthz = typed(spec)?;
    let selector_set = raw
        .selector
        .as_ref()
        .is_some_and(|s| s.match_labels.as_ref().is_some_and(|m| !m.is_empty()));
    let mut target_refs: Vec<TargetRef> = raw
        .target_refs
        .into_iter()
        .map(|r| TargetRef {
            kind: r.kind,
            name: r.name,
        })
        .collect();
    if let Some(r) = raw.target_ref {
        target_refs.push(TargetRef {
            kind: r.kind,
            name: r.name,
        });
    }
    if selector_set && !target_refs.is_empty() {
        return Err("only one of selector and targetRef/targetRefs may be set".into());
    }
    let action = match raw.action.as_deref().unwrap_or("ALLOW") {
        "" | "ALLOW" => Action::Allow,
        "DENY" => Action::Deny,
        "AUDIT" => Action::Audit,
        "CUSTOM" => match raw.provider.as_ref().map(|p| p.name.as_str()) {
            Some(n) if !n.is_empty() => Action::Custom(n.to_string()),
            _ => return Err("action CUSTOM requires provider.name".into()),
        },
        other => {
            return Err(format!(
                "action {other:?} is not one of ALLOW, DENY, AUDIT, CUSTOM"
            ))
        }
    };
    if raw.provider.is_some() && !matches!(action, Action::Custom(_)) {
        return Err(format!(
            "provider is only allowed with action CUSTOM, not {}",
            action.as_str()
        ));
    }
    let rules = match raw.rules {
        None => None,
        Some(rules) => {
            let mut out = Vec::new();
            for (i, r) in rules.into_iter().enumerate() {
                let r = r.ok_or_else(|| format!("rules[{i}] must not be null"))?;
                let mut rule = Rule::default();
                for (j, f) in r.from.into_iter().enumerate() {
                    let s = f
                        .source
                        .ok_or_else(|| format!("rules[{i}].from[{j}].source must not be null"))?;
                    if s.is_empty() {
                        return Err(format!("rules[{i}].from[{j}].source must not be empty"));
                    }
                    for b in s
                        .ip_blocks
                        .iter()
                        .chain(&s.not_ip_blocks)
                        .chain(&s.remote_ip_blocks)
                        .chain(&s.not_remote_ip_blocks)
                    {
                        if parse_block(b).is_none() {
                            return Err(format!(
                                "rules[{i}].from[{j}].source: {b:?} is not an IP address or CIDR"
                            ));
                        }
                    }
                    rule.from.push(s);
                }
                for (j, t) in r.to.into_iter().enumerate() {
                    let o = t
                        .operation
                        .ok_or_else(|| format!("rules[{i}].to[{j}].operation must not be null"))?;
                    if o.is_empty() {
                        return Err(format!("rules[{i}].to[{j}].operation must not be empty"));
                    }
                    for p in o.ports.iter().chain(&o.not_ports) {
                        if p.parse::<u16>().is_err() {
                            return Err(format!(
                                "rules[{i}].to[{j}].operation: port {p:?} is not a number from 0 to 65535"
                            ));
                        }
                    }
                    rule.to.push(o);
                }
                for (j, c) in r.when.into_iter().enumerate() {
                    if c.key.is_empty() {
                        return Err(format!("rules[{i}].when[{j}].key must not be empty"));
                    }
                    if !known_key(&c.key) {
                        return Err(format!(
                            "rules[{i}].when[{j}].key {:?} is not a supported attribute",
                            c.key
                        ));
                    }
                    if c.values.is_empty() && c.not_values.is_empty() {
                        return Err(format!("rules[{i}].when[{j}] needs values or notValues"));
                    }
                    rule.when.push(c);
                }
                out.push(rule);
            }
            // An empty list is the same as no list (proto3 repeated field).
            (!out.is_empty()).then_some(out)
        }
    };
    Ok(AuthorizationPolicy {
        selector: selector_labels(raw.selector),
        target_refs,
        action,
        rules,
    })
}

/// A PeerAuthentication spec, validated as the CRD and istiod do.
pub fn peer_authentication(spec: &Value) -> Result<PeerAuthentication, String> {
    let raw: RawPeer = typed(spec)?;
    let mode = MtlsMode::parse(raw.mtls.as_ref().and_then(|m| m.mode.as_deref()))?;
    let selector = selector_labels(raw.selector);
    let mut port_level = BTreeMap::new();
    for (k, m) in raw.port_level_mtls {
        let port: u16 = k
            .trim()
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("portLevelMtls key {k:?} is not a port from 1 to 65535"))?;
        port_level.insert(port, MtlsMode::parse(m.mode.as_deref())?);
    }
    if !port_level.is_empty() && selector.is_none() {
        return Err(
            "portLevelMtls requires a workload selector (the CRD rejects it without one from Istio 1.24)"
                .into(),
        );
    }
    Ok(PeerAuthentication {
        selector,
        mode,
        port_level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_spec_is_an_allow_policy_with_no_rules() {
        let p = authorization_policy(&json!({})).unwrap();
        assert_eq!(p.action, Action::Allow);
        assert!(p.rules.is_none());
        assert!(p.selector.is_none());
        let p = authorization_policy(&Value::Null).unwrap();
        assert!(p.rules.is_none());
        let p = authorization_policy(&json!({"rules": [{}]})).unwrap();
        assert_eq!(p.rules.unwrap(), vec![Rule::default()]);
    }

    #[test]
    fn invalid_specs_name_the_field_and_never_panic() {
        for (spec, needle) in [
            (json!({"action": "PERMIT"}), "action"),
            (json!({"action": "CUSTOM"}), "provider"),
            (
                json!({"action": "DENY", "provider": {"name": "x"}}),
                "provider",
            ),
            (
                json!({"rules": [{"from": [{}]}]}),
                "source must not be null",
            ),
            (
                json!({"rules": [{"from": [{"source": {}}]}]}),
                "must not be empty",
            ),
            (
                json!({"rules": [{"to": [{"operation": {"ports": ["http"]}}]}]}),
                "port",
            ),
            (
                json!({"rules": [{"when": [{"key": "source.ip"}]}]}),
                "values",
            ),
            (
                json!({"rules": [{"when": [{"key": "bogus", "values": ["x"]}]}]}),
                "supported",
            ),
            (
                json!({"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/33"]}}]}]}),
                "CIDR",
            ),
            (json!({"rules": "all"}), "spec.rules"),
            (
                json!({"selector": {"matchLabels": {"a": "b"}}, "targetRefs": [{"kind": "Gateway", "name": "g"}]}),
                "only one",
            ),
        ] {
            let e = authorization_policy(&spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
        }
        for (spec, needle) in [
            (json!({"mtls": {"mode": "ON"}}), "mtls.mode"),
            (
                json!({"portLevelMtls": {"8080": {"mode": "PERMISSIVE"}}}),
                "selector",
            ),
            (
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"http": {"mode": "STRICT"}}}),
                "portLevelMtls key",
            ),
            (json!({"mtls": "STRICT"}), "spec.mtls"),
        ] {
            let e = peer_authentication(&spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }

    #[test]
    fn peer_authentication_reads_mode_and_port_level_mtls() {
        let p = peer_authentication(&json!({
            "selector": {"matchLabels": {"app": "web"}},
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}, "9090": {}},
        }))
        .unwrap();
        assert_eq!(p.mode, MtlsMode::Strict);
        assert_eq!(p.port_level[&8080], MtlsMode::Permissive);
        assert_eq!(p.port_level[&9090], MtlsMode::Unset);
        assert_eq!(
            peer_authentication(&json!({})).unwrap().mode,
            MtlsMode::Unset
        );
    }
}
