//! Label selectors, compiled once and matched many times.
//!
//! One type serves two worlds: Kubernetes `LabelSelector`s over plain label maps (pods, namespaces, monitors),
//! and Cilium endpoint selectors over identity labels, whose keys may carry a source prefix (`k8s:`,
//! `reserved:`, `any:`; semantics R4 of `semantics/cilium-ingress.md`).

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Where a label comes from. Kubernetes labels carry no source; Cilium identity labels do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Any,
    K8s,
    Reserved,
    Other(String),
}

impl Source {
    fn parse(s: &str) -> Source {
        match s {
            "any" => Source::Any,
            "k8s" => Source::K8s,
            "reserved" => Source::Reserved,
            other => Source::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Source::Any => "any",
            Source::K8s => "k8s",
            Source::Reserved => "reserved",
            Source::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// One requirement of a selector: `source:key op values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub source: Source,
    pub key: String,
    pub op: Operator,
}

impl Requirement {
    pub fn equals(source: Source, key: impl Into<String>, value: impl Into<String>) -> Self {
        Requirement {
            source,
            key: key.into(),
            op: Operator::In(vec![value.into()]),
        }
    }

    pub fn exists(source: Source, key: impl Into<String>) -> Self {
        Requirement {
            source,
            key: key.into(),
            op: Operator::Exists,
        }
    }

    fn matches<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.get(&self.source, &self.key);
        match &self.op {
            Operator::In(values) => value.is_some_and(|v| values.iter().any(|x| x == v)),
            Operator::NotIn(values) => value.is_none_or(|v| !values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self.source {
            Source::Any => self.key.clone(),
            ref s => format!("{}:{}", s.as_str(), self.key),
        };
        match &self.op {
            Operator::In(v) if v.len() == 1 => write!(f, "{key}={}", v[0]),
            Operator::In(v) => write!(f, "{key} in ({})", v.join(",")),
            Operator::NotIn(v) => write!(f, "{key} notin ({})", v.join(",")),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
        }
    }
}

/// Anything a selector can be matched against.
pub trait LabelSet {
    /// The value of `key` as seen by a requirement with source `source` (`Any` matches every source).
    fn get(&self, source: &Source, key: &str) -> Option<&str>;
}

/// Plain Kubernetes labels: they match a requirement of any source but `reserved` and foreign sources.
impl LabelSet for BTreeMap<String, String> {
    fn get(&self, source: &Source, key: &str) -> Option<&str> {
        match source {
            Source::Any | Source::K8s => BTreeMap::get(self, key).map(String::as_str),
            _ => None,
        }
    }
}

/// A compiled selector: requirements ANDed. `nothing` is the null selector of prometheus-operator (A2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
    pub nothing: bool,
}

/// A selector the API server would not accept (bad operator, values where none belong, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

impl Selector {
    /// Selects every object.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Selects no object (a null selector where null means nothing).
    pub fn nothing() -> Self {
        Selector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// A Kubernetes label selector: keys are taken literally.
    pub fn from_k8s(sel: &LabelSelector) -> Result<Self, SelectorError> {
        Self::build(sel, |k| (Source::Any, k.to_string()))
    }

    /// A Cilium endpoint selector: keys are split on their first `:` into source and key (R4).
    pub fn from_cilium(sel: &LabelSelector) -> Result<Self, SelectorError> {
        Self::build(sel, split_source)
    }

    /// A Kubernetes selector translated for Cilium with every key given a fixed source and a key prefix
    /// (R15: `podSelector` keys become `k8s:<key>`, `namespaceSelector` keys `k8s:io.cilium.k8s.namespace.labels.<key>`).
    pub fn from_k8s_prefixed(sel: &LabelSelector, prefix: &str) -> Result<Self, SelectorError> {
        Self::build(sel, |k| (Source::K8s, format!("{prefix}{k}")))
    }

    fn build(
        sel: &LabelSelector,
        key_of: impl Fn(&str) -> (Source, String),
    ) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            let (source, key) = key_of(k);
            requirements.push(Requirement {
                source,
                key,
                op: Operator::In(vec![v.clone()]),
            });
        }
        for expr in sel.match_expressions.iter().flatten() {
            let (source, key) = key_of(&expr.key);
            let values = expr.values.clone().unwrap_or_default();
            let op = match expr.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError(format!(
                        "matchExpressions key {:?}: operator {} needs at least one value",
                        expr.key, expr.operator
                    )))
                }
                "In" => Operator::In(values),
                "NotIn" => Operator::NotIn(values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError(format!(
                        "matchExpressions key {:?}: operator {} takes no values",
                        expr.key, expr.operator
                    )))
                }
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError(format!(
                        "matchExpressions key {:?}: unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)",
                        expr.key
                    )))
                }
            };
            requirements.push(Requirement { source, key, op });
        }
        Ok(Selector {
            requirements,
            nothing: false,
        })
    }

    pub fn matches<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The requirements `labels` fails, for messages ("missing release=kube-prometheus-stack").
    pub fn unmet<L: LabelSet + ?Sized>(&self, labels: &L) -> Vec<&Requirement> {
        self.requirements
            .iter()
            .filter(|r| !r.matches(labels))
            .collect()
    }

    pub fn with(mut self, req: Requirement) -> Self {
        self.requirements.push(req);
        self
    }

    /// An equality requirement that narrows the selector well, for index lookups: `(source, key, value)`.
    pub fn first_equality(&self) -> Option<(&Source, &str, &str)> {
        self.requirements.iter().find_map(|r| match &r.op {
            Operator::In(v) if v.len() == 1 => Some((&r.source, r.key.as_str(), v[0].as_str())),
            _ => None,
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nothing {
            return write!(f, "<nothing>");
        }
        if self.requirements.is_empty() {
            return write!(f, "{{}}");
        }
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        write!(f, "{}", parts.join(","))
    }
}

/// `src:key` → (source, key); no prefix → `any` (R4). Only the first `:` splits.
pub fn split_source(k: &str) -> (Source, String) {
    match k.split_once(':') {
        Some((src, key)) => (Source::parse(src), key.to_string()),
        None => (Source::Any, k.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sel(ml: &[(&str, &str)], exprs: &[(&str, &str, &[&str])]) -> LabelSelector {
        LabelSelector {
            match_labels: if ml.is_empty() {
                None
            } else {
                Some(labels(ml))
            },
            match_expressions: if exprs.is_empty() {
                None
            } else {
                Some(
                    exprs
                        .iter()
                        .map(|(k, op, vs)| LabelSelectorRequirement {
                            key: k.to_string(),
                            operator: op.to_string(),
                            values: if vs.is_empty() {
                                None
                            } else {
                                Some(vs.iter().map(|s| s.to_string()).collect())
                            },
                        })
                        .collect(),
                )
            },
        }
    }

    #[test]
    fn kubernetes_selector_semantics() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        let cases: &[(&str, LabelSelector, bool)] = &[
            ("empty selector matches everything", sel(&[], &[]), true),
            ("match labels equal", sel(&[("app", "web")], &[]), true),
            ("match labels differ", sel(&[("app", "was")], &[]), false),
            (
                "match labels and expressions are anded",
                sel(&[("app", "web")], &[("tier", "In", &["back"])]),
                false,
            ),
            ("in", sel(&[], &[("tier", "In", &["front", "x"])]), true),
            (
                "not in with other value",
                sel(&[], &[("tier", "NotIn", &["back"])]),
                true,
            ),
            (
                "not in with same value",
                sel(&[], &[("tier", "NotIn", &["front"])]),
                false,
            ),
            (
                "not in is true when key absent",
                sel(&[], &[("zone", "NotIn", &["a"])]),
                true,
            ),
            ("exists", sel(&[], &[("app", "Exists", &[])]), true),
            (
                "does not exist on absent key",
                sel(&[], &[("istio-prometheus-ignore", "DoesNotExist", &[])]),
                true,
            ),
            (
                "does not exist on present key",
                sel(&[], &[("app", "DoesNotExist", &[])]),
                false,
            ),
        ];
        for (name, s, want) in cases {
            let compiled = Selector::from_k8s(s).unwrap();
            assert_eq!(compiled.matches(&pod), *want, "{name}");
        }
        assert!(
            !Selector::nothing().matches(&pod),
            "null selector matches nothing"
        );
    }

    #[test]
    fn invalid_selectors_are_errors_naming_the_key() {
        let bad = [
            sel(&[], &[("app", "Equals", &["x"])]),
            sel(&[], &[("app", "In", &[])]),
            sel(&[], &[("app", "Exists", &["x"])]),
        ];
        for s in bad {
            let err = Selector::from_k8s(&s).unwrap_err();
            assert!(err.0.contains("\"app\""), "{err}");
        }
    }

    #[test]
    fn cilium_keys_split_source_on_the_first_colon() {
        assert_eq!(split_source("app"), (Source::Any, "app".into()));
        assert_eq!(
            split_source("k8s:io.kubernetes.pod.namespace"),
            (Source::K8s, "io.kubernetes.pod.namespace".into())
        );
        assert_eq!(
            split_source("reserved:host"),
            (Source::Reserved, "host".into())
        );
        assert_eq!(
            split_source("k8s.io.kubernetes.pod.namespace"),
            (Source::Any, "k8s.io.kubernetes.pod.namespace".into()),
            "a dotted prefix is no prefix"
        );
        assert_eq!(
            split_source("a:b:c"),
            (Source::Other("a".into()), "b:c".into())
        );
    }

    #[test]
    fn unmet_lists_the_missing_requirements() {
        let s = Selector::from_k8s(&sel(&[("release", "kube-prometheus-stack")], &[])).unwrap();
        let monitor = labels(&[("app", "x")]);
        let unmet: Vec<String> = s.unmet(&monitor).iter().map(|r| r.to_string()).collect();
        assert_eq!(unmet, vec!["release=kube-prometheus-stack"]);
    }
}
