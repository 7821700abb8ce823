//! The CRDs `check` reads, as the API server admits their objects: the OpenAPI schema (structural,
//! strict field validation, null pruning, defaults, value validations) and the `x-kubernetes-validations`
//! rules, transcribed from CEL into Rust.
//!
//! The upstream schemas (Cilium `cilium.io/v2`, prometheus-operator `monitoring.coreos.com`, Istio
//! `security.istio.io`) are written here as Rust from the upstream CRDs of the versions the tests install
//! (`tests/harness/ensure.sh`: Cilium v1.19.3, prometheus-operator v0.91.0, Istio 1.31.0); the
//! differential test `tests/admission.rs` holds them to those CRDs in a real API server. Our own
//! ScrapeIntent schema is read from the CRD our types generate.

pub mod cilium;
pub mod istio;
pub mod promop;

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::k8s::{builtins, Reader};
use super::meta::{validate_object_meta, NameRule};
use super::shape::{self, obj, open_object, string, Rule, Shape};
use super::{Known, Path, Problems};
use crate::cilium::Version;

/// A CRD version's schema and whether it has the status subresource (its status is dropped on create:
/// decoded, so unknown fields in it are errors, but not validated).
pub struct CrdSchema {
    pub root: Arc<Shape>,
    pub status_subresource: bool,
    pub namespaced: bool,
    /// The scale subresource's `specReplicasPath` (Prometheus, PrometheusAgent: `.spec.shards`).
    pub scale_spec_replicas: Option<&'static str>,
}

/// The root object: apiVersion, kind and metadata (decoded as ObjectMeta on its own), and `props`.
pub fn root(props: Shape) -> Shape {
    props.with([
        ("apiVersion", string()),
        ("kind", string()),
        ("metadata", open_object()),
    ])
}

/// Admits a custom resource of a CRD `check` knows; Cilium's schema is the one of release `cilium`.
pub fn validate(known: Known, v: &Value, cilium: Version, out: &mut Problems) {
    let Some(schema) = schema(known, cilium) else {
        return;
    };
    // metadata: decoded as ObjectMeta, then ValidateObjectMeta.
    let mut md = Problems::default();
    if let Some(m) = v.get("metadata") {
        shape::decode(
            &builtins().object_meta,
            m,
            &Path::root().key("metadata"),
            &mut md,
        );
    }
    if md.is_empty() {
        validate_object_meta(v, NameRule::Subdomain, schema.namespaced, false, &mut md);
    }
    out.extend(md);
    let mut body = v.clone();
    shape::prune_and_default(&schema.root, &mut body, &Path::root(), out);
    if schema.status_subresource {
        if let Some(o) = body.as_object_mut() {
            o.remove("status");
        }
    }
    shape::validate(&schema.root, &body, &Path::root(), out);
    // The scale subresource: the replicas at specReplicasPath are a non-negative int32.
    if let Some(p) = schema.scale_spec_replicas {
        if let Some(n) = body.pointer(p).and_then(shape::as_integer) {
            let field = Path::root().key(&p[1..].replace('/', "."));
            if n < 0 {
                out.invalid(&field, n, "should be a non-negative integer");
            } else if n > i64::from(i32::MAX) {
                out.invalid(&field, n, "should be less than or equal to 2147483647");
            }
        }
    }
}

/// The schema `check` holds for a CRD kind (Cilium's: of release `cilium`).
pub fn schema(known: Known, cilium: Version) -> Option<&'static CrdSchema> {
    macro_rules! cached {
        ($f:expr) => {{
            static S: OnceLock<CrdSchema> = OnceLock::new();
            Some(S.get_or_init($f))
        }};
    }
    // One schema per Cilium minor (1.15 to 1.20; others use the nearest).
    static CILIUM: [[OnceLock<CrdSchema>; 6]; 2] = [
        [const { OnceLock::new() }; 6],
        [const { OnceLock::new() }; 6],
    ];
    let minor = cilium.clamp(Version::new(1, 15), Version::new(1, 20)).minor;
    let slot = usize::from(minor.saturating_sub(15)).min(5);
    let clamped = Version::new(1, 15 + slot as u16);
    match known {
        Known::CiliumNetworkPolicy => {
            Some(CILIUM[0][slot].get_or_init(|| cilium::schema(true, clamped)))
        }
        Known::CiliumClusterwideNetworkPolicy => {
            Some(CILIUM[1][slot].get_or_init(|| cilium::schema(false, clamped)))
        }
        Known::AuthorizationPolicy => cached!(istio::authorization_policy),
        Known::PeerAuthentication => cached!(istio::peer_authentication),
        Known::PodMonitor => cached!(promop::pod_monitor),
        Known::ServiceMonitor => cached!(promop::service_monitor),
        Known::Prometheus => cached!(promop::prometheus),
        Known::PrometheusAgent => cached!(promop::prometheus_agent),
        Known::ScrapeIntent => cached!(scrape_intent),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Our ScrapeIntent: its schema is the CRD our types generate; its CEL rules are transcribed below (a unit
// test fails when a rule is added without its transcription).

fn scrape_intent() -> CrdSchema {
    let crd = serde_json::to_value(crate::api::crd()).unwrap_or(Value::Null);
    let version = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema")
        .cloned()
        .unwrap_or(Value::Null);
    let defs = serde_json::Map::new();
    let mut reader = Reader::new(&defs);
    reader.rules = Some(scrape_intent_rule);
    let root = reader.read(&version);
    let mut root = (*root).clone();
    root.props
        .insert("metadata".into(), Arc::new(open_object()));
    root.props.insert("apiVersion".into(), Arc::new(string()));
    root.props.insert("kind".into(), Arc::new(string()));
    CrdSchema {
        root: Arc::new(root),
        status_subresource: true,
        namespaced: true,
        scale_spec_replicas: None,
    }
}

/// The Rust transcription of each CEL rule of the ScrapeIntent CRD.
pub fn scrape_intent_rule(rule: &str) -> Option<Rule> {
    Some(match rule {
        "self.startsWith('/')" => |v, p, out| {
            if let Some(s) = v.as_str() {
                if !s.starts_with('/') {
                    out.invalid(
                        p,
                        format!("{s:?}"),
                        "path must start with '/', e.g. /metrics",
                    );
                }
            }
        },
        r if r.starts_with("type(self) == int ? (self >= 1 && self <= 65535)") => |v, p, out| {
            let ok = match v {
                Value::String(s) => s.chars().count() <= 15 && intent_port_name_re().is_match(s),
                other => shape::as_integer(other).is_some_and(|n| (1..=65535).contains(&n)),
            };
            if !ok {
                out.invalid(p, shape::show(v), "port must be a container port number from 1 to 65535, or a container port name");
            }
        },
        "self.kind != 'Annotations' || !has(self.ref)" => |v, p, out| {
            if v.get("kind").and_then(Value::as_str) == Some("Annotations") && has(v, "ref") {
                out.invalid(
                    p,
                    "monitor",
                    "monitor.ref is not allowed with kind Annotations",
                );
            }
        },
        "self.kind != 'Pods' || (has(self.__namespace__) && has(self.podSelector))" => {
            |v, p, out| {
                if v.get("kind").and_then(Value::as_str) == Some("Pods")
                    && (!has(v, "namespace") || !has(v, "podSelector"))
                {
                    out.invalid(
                        p,
                        "scraper",
                        "scraper.kind Pods needs both namespace and podSelector",
                    );
                }
            }
        }
        "self.kind == 'Pods' || !has(self.podSelector)" => |v, p, out| {
            if v.is_object()
                && v.get("kind").and_then(Value::as_str) != Some("Pods")
                && has(v, "podSelector")
            {
                out.invalid(
                    p,
                    "scraper",
                    "scraper.podSelector is only allowed with kind Pods",
                );
            }
        },
        "!has(self.name) || has(self.__namespace__)" => |v, p, out| {
            if has(v, "name") && !has(v, "namespace") {
                out.invalid(p, "scraper", "scraper.name needs scraper.namespace");
            }
        },
        "self.metadata.name.size() <= 63" => |v, p, out| {
            let n = v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if n.chars().count() > 63 {
                out.invalid(
                    &p.key("metadata").key("name"),
                    format!("{n:?}"),
                    "metadata.name must be at most 63 characters",
                );
            }
        },
        _ => return None,
    })
}

fn intent_port_name_re() -> &'static regex::Regex {
    static R: OnceLock<regex::Regex> = OnceLock::new();
    R.get_or_init(|| {
        regex::Regex::new(r"^([0-9]+-)*[0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$").expect("static regex")
    })
}

// ---------------------------------------------------------------------------------------------------------
// Pieces shared by the upstream schemas.

/// CEL's `has(self.k)`: the field is there and not null (a null of a nullable field reads as absent).
pub fn has(v: &Value, k: &str) -> bool {
    v.get(k).is_some_and(|x| !x.is_null())
}

/// metav1.LabelSelector as controller-gen writes it (operator an enum only where upstream says so).
pub fn label_selector(operator_enum: bool) -> Shape {
    let op = if operator_enum {
        string().enums(&["In", "NotIn", "Exists", "DoesNotExist"])
    } else {
        string()
    };
    obj([
        (
            "matchExpressions",
            shape::array(
                obj([
                    ("key", string()),
                    ("operator", op),
                    ("values", shape::array(string())),
                ])
                .req(&["key", "operator"]),
            ),
        ),
        ("matchLabels", shape::map(string())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_of_the_scrape_intent_crd_is_transcribed() {
        let crd = serde_json::to_value(crate::api::crd()).unwrap();
        let mut rules = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::Array(rs)) = m.get("x-kubernetes-validations") {
                        for r in rs {
                            if let Some(s) = r.get("rule").and_then(Value::as_str) {
                                out.push(s.to_string());
                            }
                        }
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&crd, &mut rules);
        assert!(rules.len() >= 7);
        for r in rules {
            assert!(
                scrape_intent_rule(&r).is_some(),
                "no Rust transcription of {r}"
            );
        }
    }
}
