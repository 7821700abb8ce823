//! `metadata` as the API server validates it on create (`ValidateObjectMeta`): name, namespace, labels,
//! annotations, owner references, finalizers; and label selectors (`ValidateLabelSelector`).

use serde_json::Value;

use super::names;
use super::{Path, Problems};

/// How a kind's names are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds, and every custom resource).
    Subdomain,
    /// DNS-1123 label (Namespace).
    Label,
    /// DNS-1035 label (Service).
    Label1035,
}

fn check_name(rule: NameRule, name: &str) -> Result<(), String> {
    match rule {
        NameRule::Subdomain => names::dns1123_subdomain(name),
        NameRule::Label => names::dns1123_label(name),
        NameRule::Label1035 => names::dns1035_label(name),
    }
}

/// Validates `metadata` (already decoded: types are right or reported elsewhere). `builtin`: a built-in
/// kind, whose finalizers must also be standard or domain-qualified (for custom resources that is a
/// warning).
pub fn validate_object_meta(
    v: &Value,
    rule: NameRule,
    namespaced: bool,
    builtin: bool,
    out: &mut Problems,
) {
    let path = Path::root().key("metadata");
    let md = v.get("metadata");
    let get = |k: &str| md.and_then(|m| m.get(k));
    let name = get("name").and_then(Value::as_str).unwrap_or("");
    let generate = get("generateName").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        if generate.is_empty() {
            out.push(
                &path.key("name"),
                "Required value: name or generateName is required",
            );
        } else {
            out.push(
                &path.key("name"),
                "Required value: the analysis needs the object's name (kubectl apply refuses generateName)",
            );
        }
    } else if let Err(e) = check_name(rule, name) {
        out.invalid(&path.key("name"), format!("{name:?}"), e);
    }
    if !generate.is_empty() {
        // A prefix: a trailing '-' is allowed.
        let masked = generate.strip_suffix('-').map(|s| format!("{s}a"));
        if let Err(e) = check_name(rule, masked.as_deref().unwrap_or(generate)) {
            out.invalid(&path.key("generateName"), format!("{generate:?}"), e);
        }
    }
    if namespaced {
        let ns = get("namespace").and_then(Value::as_str).unwrap_or("");
        if ns.is_empty() {
            out.required(&path.key("namespace"));
        } else if let Err(e) = names::dns1123_label(ns) {
            out.invalid(&path.key("namespace"), format!("{ns:?}"), e);
        }
    }
    if let Some(Value::Object(labels)) = get("labels") {
        validate_labels(labels, &path.key("labels"), out);
    }
    if let Some(Value::Object(ann)) = get("annotations") {
        let mut total = 0usize;
        for (k, v) in ann {
            if let Err(e) = names::qualified_name(&k.to_lowercase()) {
                out.invalid(&path.key("annotations"), format!("{k:?}"), e);
            }
            total += k.len() + v.as_str().map(str::len).unwrap_or(0);
        }
        if total > 256 * 1024 {
            out.push(
                &path.key("annotations"),
                format!(
                    "Too long: may not be more than 262144 bytes (the annotations hold {total})"
                ),
            );
        }
    }
    if let Some(Value::Array(refs)) = get("ownerReferences") {
        let p = path.key("ownerReferences");
        // The API server drops exact duplicates first (with a warning).
        let mut unique: Vec<&Value> = Vec::new();
        for r in refs {
            if !unique.iter().any(|u| super::shape::values_equal(u, r)) {
                unique.push(r);
            }
        }
        let refs = unique;
        let mut controllers = 0;
        for (i, r) in refs.iter().copied().enumerate() {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
            let api_version = s("apiVersion");
            let version_ok = match api_version.split('/').collect::<Vec<_>>().as_slice() {
                [v] => !v.is_empty(),
                [_, v] => !v.is_empty(),
                _ => false,
            };
            if !version_ok {
                out.invalid(
                    &p.index(i).key("apiVersion"),
                    format!("{api_version:?}"),
                    "version must not be empty",
                );
            }
            if s("kind").is_empty() {
                out.invalid(&p.index(i).key("kind"), "\"\"", "kind must not be empty");
            }
            if s("name").is_empty() {
                out.invalid(&p.index(i).key("name"), "\"\"", "name must not be empty");
            }
            if s("uid").is_empty() {
                out.invalid(&p.index(i).key("uid"), "\"\"", "uid must not be empty");
            }
            if api_version == "v1" && s("kind") == "Event" {
                out.invalid(&p.index(i), "Event", "events are not allowed as owners");
            }
            if r.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers += 1;
            }
        }
        if controllers > 1 {
            out.invalid(
                &p,
                controllers,
                "Only one reference can have Controller set to true",
            );
        }
    }
    if let Some(Value::Array(fins)) = get("finalizers") {
        let p = path.key("finalizers");
        // A null item decodes as "".
        let fins: Vec<&str> = fins.iter().map(|f| f.as_str().unwrap_or("")).collect();
        for (i, f) in fins.iter().enumerate() {
            if let Err(e) = names::qualified_name(f) {
                out.invalid(&p, format!("{f:?}"), e);
            }
            if builtin
                && !f.contains('/')
                && !matches!(*f, "kubernetes" | "orphan" | "foregroundDeletion")
            {
                out.invalid(
                    &p.index(i),
                    format!("{f:?}"),
                    "name is neither a standard finalizer name nor is it fully qualified",
                );
            }
        }
        if fins.contains(&"orphan") && fins.contains(&"foregroundDeletion") {
            out.invalid(
                &p,
                "orphan, foregroundDeletion",
                "finalizer orphan and foregroundDeletion cannot be both set",
            );
        }
    }
    // `resourceVersion` on create is refused only by the storage layer (etcd3's Create), which a dry run
    // never reaches: the API server's admission and validation accept it, and so does this.
}

/// Label keys (qualified names) and values.
pub fn validate_labels(labels: &serde_json::Map<String, Value>, path: &Path, out: &mut Problems) {
    for (k, v) in labels {
        if let Err(e) = names::qualified_name(k) {
            out.invalid(path, format!("{k:?}"), e);
        }
        if let Some(v) = v.as_str() {
            if let Err(e) = names::label_value(v) {
                out.invalid(path, format!("{v:?}"), e);
            }
        }
    }
}

/// A metav1.LabelSelector (`ValidateLabelSelector`, values checked as label values).
pub fn validate_label_selector(sel: &Value, path: &Path, out: &mut Problems) {
    if let Some(Value::Object(ml)) = sel.get("matchLabels") {
        validate_labels(ml, &path.key("matchLabels"), out);
    }
    if let Some(Value::Array(exprs)) = sel.get("matchExpressions") {
        for (i, e) in exprs.iter().enumerate() {
            validate_requirement(e, &path.key("matchExpressions").index(i), true, out);
        }
    }
}

/// One selector requirement: operator In/NotIn need values, Exists/DoesNotExist none; the key a qualified
/// name. `label_values`: values must be label values (label selectors; node selectors do not check).
pub fn validate_requirement(e: &Value, path: &Path, label_values: bool, out: &mut Problems) {
    let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
    let values: Vec<&Value> = e
        .get("values")
        .and_then(Value::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    match op {
        "In" | "NotIn" => {
            if values.is_empty() {
                out.required(&path.key("values"));
                // The API server words it: "must be specified when `operator` is 'In' or 'NotIn'".
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                out.forbidden(
                    &path.key("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                );
            }
        }
        _ => out.invalid(
            &path.key("operator"),
            format!("{op:?}"),
            "not a valid selector operator",
        ),
    }
    let key = e.get("key").and_then(Value::as_str).unwrap_or("");
    if let Err(err) = names::qualified_name(key) {
        out.invalid(&path.key("key"), format!("{key:?}"), err);
    }
    if label_values {
        for (j, v) in values.iter().enumerate() {
            if let Some(s) = v.as_str() {
                if let Err(err) = names::label_value(s) {
                    out.invalid(&path.key("values").index(j), format!("{s:?}"), err);
                }
            }
        }
    }
}
