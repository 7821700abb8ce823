//! Istio `security.istio.io` AuthorizationPolicy and PeerAuthentication (v1 and v1beta1 share the schema),
//! written from Istio 1.31's `crd-all.gen.yaml`.

use std::sync::Arc;

use serde_json::Value;

use super::super::shape::{array, int_or_string, map, obj, open_object, string, Format, Shape};
use super::{has, root, CrdSchema};

fn strings() -> Shape {
    array(string())
}

/// The workload selector: matchLabels only, no `*` in keys or values, no empty key.
fn selector() -> Shape {
    obj([(
        "matchLabels",
        map(string().max_len(63).rule(
            |v, p, out| {
                if v.as_str().is_some_and(|s| s.contains('*')) {
                    out.invalid(
                        p,
                        super::super::shape::show(v),
                        "wildcard not allowed in label value match",
                    );
                }
            },
            "wildcard not allowed in label value match",
        ))
        .max_props(4096)
        .rule(
            |v, p, out| {
                if let Some(m) = v.as_object() {
                    if m.keys().any(|k| k.contains('*')) {
                        out.invalid(p, "object", "wildcard not allowed in label key match");
                    }
                    if m.keys().any(String::is_empty) {
                        out.invalid(p, "object", "key must not be empty");
                    }
                }
            },
            "label keys",
        ),
    )])
}

fn target_ref() -> Shape {
    obj([
        (
            "group",
            string()
                .max_len(253)
                .pattern(r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        ),
        (
            "kind",
            string()
                .min_len(1)
                .max_len(63)
                .pattern(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"),
        ),
        ("name", string().min_len(1).max_len(253)),
        (
            "namespace",
            string().rule(
                |v, p, out| {
                    if v.as_str().is_some_and(|s| !s.is_empty()) {
                        out.invalid(
                            p,
                            super::super::shape::show(v),
                            "cross namespace referencing is not currently supported",
                        );
                    }
                },
                "self.size() == 0",
            ),
        ),
    ])
    .req(&["kind", "name"])
}

fn status() -> Shape {
    let generation = || int_or_string();
    open_object().with([
        (
            "conditions",
            array(obj([
                ("lastProbeTime", string().format(Format::DateTime)),
                ("lastTransitionTime", string().format(Format::DateTime)),
                ("message", string()),
                ("observedGeneration", generation()),
                ("reason", string()),
                ("status", string()),
                ("type", string()),
            ])),
        ),
        ("observedGeneration", generation()),
        (
            "validationMessages",
            array(obj([
                ("documentationUrl", string()),
                (
                    "level",
                    string().enums(&["UNKNOWN", "ERROR", "WARNING", "INFO"]),
                ),
                ("type", obj([("code", string()), ("name", string())])),
            ])),
        ),
    ])
}

pub fn authorization_policy() -> CrdSchema {
    let source = obj([
        ("ipBlocks", strings()),
        ("namespaces", strings()),
        ("notIpBlocks", strings()),
        ("notNamespaces", strings()),
        ("notPrincipals", strings()),
        ("notRemoteIpBlocks", strings()),
        ("notRequestPrincipals", strings()),
        (
            "notServiceAccounts",
            array(string().max_len(320)).max_items(16),
        ),
        ("notTrustDomains", strings()),
        ("principals", strings()),
        ("remoteIpBlocks", strings()),
        ("requestPrincipals", strings()),
        (
            "serviceAccounts",
            array(string().max_len(320)).max_items(16),
        ),
        ("trustDomains", strings()),
    ])
    .rule(
        |v, p, out| {
            if (has(v, "serviceAccounts") || has(v, "notServiceAccounts"))
                && (has(v, "principals")
                    || has(v, "notPrincipals")
                    || has(v, "namespaces")
                    || has(v, "notNamespaces"))
            {
                out.invalid(
                    p,
                    "source",
                    "Cannot set serviceAccounts with namespaces or principals",
                );
            }
        },
        "serviceAccounts excludes principals and namespaces",
    );
    let operation = obj([
        ("hosts", strings()),
        ("methods", strings()),
        ("notHosts", strings()),
        ("notMethods", strings()),
        ("notPaths", strings()),
        ("notPorts", strings()),
        ("paths", strings()),
        ("ports", strings()),
    ]);
    let rule = obj([
        ("from", array(obj([("source", source)])).max_items(512)),
        ("to", array(obj([("operation", operation)]))),
        (
            "when",
            array(
                obj([
                    ("key", string()),
                    ("notValues", strings()),
                    ("values", strings()),
                ])
                .req(&["key"]),
            ),
        ),
    ]);
    let spec = obj([
        (
            "action",
            string().enums(&["ALLOW", "DENY", "AUDIT", "CUSTOM"]),
        ),
        ("provider", obj([("name", string())])),
        ("rules", array(rule).max_items(512)),
        ("selector", selector()),
        ("targetRef", target_ref()),
        ("targetRefs", array(target_ref()).max_items(16)),
    ])
    // As upstream writes it (always exactly one matches).
    .one_of(vec![
        Shape::not_requiring(&["provider"]),
        Shape::requiring(&["provider"]),
    ])
    .rule(
        |v, p, out| {
            let n = ["selector", "targetRef", "targetRefs"]
                .iter()
                .filter(|k| has(v, k))
                .count();
            if v.is_object() && n > 1 {
                out.invalid(p, "spec", "only one of targetRefs or selector can be set");
            }
        },
        "only one of targetRefs or selector",
    );
    CrdSchema {
        root: Arc::new(root(obj([("spec", spec), ("status", status())]))),
        status_subresource: true,
        namespaced: true,
        scale_spec_replicas: None,
    }
}

pub fn peer_authentication() -> CrdSchema {
    let mode = || {
        obj([(
            "mode",
            string().enums(&["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]),
        )])
    };
    let spec = obj([
        ("mtls", mode()),
        (
            "portLevelMtls",
            map(mode()).min_props(1).rule(
                |v, p, out| {
                    if let Some(m) = v.as_object() {
                        for k in m.keys() {
                            // CEL int(key): a decimal integer (an error otherwise), then the range.
                            let ok = k
                                .trim_start_matches(['+', '-'])
                                .chars()
                                .all(|c| c.is_ascii_digit())
                                && !k.trim_start_matches(['+', '-']).is_empty()
                                && k.parse::<i64>().is_ok_and(|n| (1..=65535).contains(&n));
                            if !ok {
                                out.invalid(p, format!("{k:?}"), "port must be between 1-65535");
                            }
                        }
                    }
                },
                "port must be between 1-65535",
            ),
        ),
        ("selector", selector()),
    ])
    .rule(
        |v, p, out| {
            if has(v, "portLevelMtls") {
                let labels = v
                    .get("selector")
                    .and_then(|s| s.get("matchLabels"))
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len());
                if labels == 0 {
                    out.invalid(p, "spec", "portLevelMtls requires selector");
                }
            }
        },
        "portLevelMtls requires selector",
    );
    CrdSchema {
        root: Arc::new(root(obj([("spec", spec), ("status", status())]))),
        status_subresource: true,
        namespaced: true,
        scale_spec_replicas: None,
    }
}
