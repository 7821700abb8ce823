//! Prometheus relabeling, with Prometheus' exact semantics.
//!
//! This is the one relabel engine in scrapepath: it serves PodMonitor and
//! ServiceMonitor `relabelings` (prometheus-operator camelCase) and plain
//! Prometheus `relabel_configs` (snake_case) alike. Both are deserialised into
//! [`RelabelSpec`], validated and compiled by [`RelabelConfig::compile`] the way
//! Prometheus validates them when it loads its configuration, and applied by
//! [`process`] the way Prometheus' `model/relabel` package applies them.
//!
//! Points where the behaviour is easy to get wrong, all of them deliberate:
//!
//! * The regex is fully anchored: `regex: istio-proxy` does not match
//!   `istio-proxy-2`. Like Prometheus, the text `^(?s:<regex>)$` is compiled, so
//!   `.` also matches a newline and a regex such as `a)|(b` escapes the anchors.
//! * The regex is read as Go's `regexp` reads it (Go 1.26, which current
//!   Prometheus is built with), not as the `regex` crate would: the Go syntax is
//!   translated token by token (see `translate_go_regex`). So `\d`, `\w`, `\s`
//!   and `\b` are ASCII-only, a `{` that does not start a repetition is a
//!   literal, `\Q...\E` and octal escapes work, and what Go refuses (`a**`,
//!   repeat counts over 1000, unknown classes) is refused.
//! * `$1`, `${1}`, `$name`, `${name}` and `$$` in `target_label` and
//!   `replacement` follow Go's `Regexp.Expand`: a reference takes the longest run
//!   of letters, digits and `_`, so `$1x` is the (non-existent) group `1x` and
//!   expands to nothing; `${1}x` is what was meant.
//! * A label with an empty value is the same as a missing label: a missing source
//!   label joins as `""`, writing an empty value deletes the label, and
//!   [`process`] removes empty-valued labels before it starts.
//! * Label names are validated with the legacy character set
//!   `[a-zA-Z_][a-zA-Z0-9_]*` (Prometheus' `legacy` name validation scheme).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use md5::{Digest, Md5};
use regex::{Captures, Regex};
use serde::{Deserialize, Deserializer, Serialize};

/// A label set. Names sort like Prometheus' (byte order).
pub type Labels = BTreeMap<String, String>;

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabeling rule as written in YAML/JSON.
///
/// Accepts prometheus-operator camelCase (`sourceLabels`, `targetLabel`) and
/// Prometheus snake_case (`source_labels`, `target_label`); the other field names
/// are the same in both. Every field is optional; unset fields take Prometheus'
/// defaults when compiled: separator `;`, regex `(.*)`, replacement `$1`,
/// action `replace`, no modulus. `action` is case-insensitive (the operator's CRD
/// allows both `Keep` and `keep`). Unknown fields are tolerated: in a monitor
/// the apiserver prunes them before the operator sees them.
///
/// An explicit YAML/JSON `null` means what it means to Prometheus: the empty
/// string (so `regex:` with no value is the empty regex, which matches only the
/// empty string, and `replacement: null` deletes the target label). `None`
/// always means "not written".
///
/// Note for prometheus-operator objects: the operator leaves `regex: ""` (and
/// `action: ""`, `targetLabel: ""`, `modulus: 0`) out of the configuration it
/// renders, so for it an empty regex means the default `(.*)`, whereas for
/// Prometheus it is the empty regex. Use [`RelabelSpec::as_rendered_by_operator`]
/// on specs read from PodMonitor/ServiceMonitor objects.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, from = "RawRelabelSpec")]
pub struct RelabelSpec {
    #[serde(alias = "sourceLabels", skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(
        deserialize_with = "null_as_empty_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub separator: Option<String>,
    #[serde(
        alias = "targetLabel",
        deserialize_with = "null_as_empty_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_label: Option<String>,
    #[serde(
        deserialize_with = "null_as_empty_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub regex: Option<String>,
    /// Read as Go's YAML decoder reads a uint64: a float is truncated (`1.5` is 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    #[serde(
        deserialize_with = "null_as_empty_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub replacement: Option<String>,
    #[serde(
        deserialize_with = "null_as_empty_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub action: Option<String>,
    /// `source_labels` was written as an empty list (`[]`), which Prometheus tells from a missing or
    /// null one: labeldrop and labelkeep refuse it.
    #[serde(skip)]
    source_labels_empty_list: bool,
}

/// [`RelabelSpec`] as read, before the few distinctions Go's decoder makes are folded in.
#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
struct RawRelabelSpec {
    #[serde(alias = "sourceLabels", deserialize_with = "present_list")]
    source_labels: Option<Option<Vec<String>>>,
    #[serde(deserialize_with = "null_as_empty_string")]
    separator: Option<String>,
    #[serde(alias = "targetLabel", deserialize_with = "null_as_empty_string")]
    target_label: Option<String>,
    #[serde(deserialize_with = "null_as_empty_string")]
    regex: Option<String>,
    #[serde(deserialize_with = "go_yaml_uint64")]
    modulus: Option<u64>,
    #[serde(deserialize_with = "null_as_empty_string")]
    replacement: Option<String>,
    #[serde(deserialize_with = "null_as_empty_string")]
    action: Option<String>,
}

impl From<RawRelabelSpec> for RelabelSpec {
    fn from(raw: RawRelabelSpec) -> Self {
        let list = raw.source_labels.flatten();
        RelabelSpec {
            source_labels_empty_list: list.as_ref().is_some_and(Vec::is_empty),
            source_labels: list.unwrap_or_default(),
            separator: raw.separator,
            target_label: raw.target_label,
            regex: raw.regex,
            modulus: raw.modulus,
            replacement: raw.replacement,
            action: raw.action,
        }
    }
}

/// A written field: `Some(None)` when it is `null`.
fn present_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Vec<String>>>, D::Error> {
    Ok(Some(Option::<Vec<String>>::deserialize(d)?))
}

/// Go's YAML decoder (go.yaml.in/yaml/v2) into a uint64: a non-negative integer, or a float in range,
/// truncated; `null` is 0.
fn go_yaml_uint64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::{Error, Unexpected};
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        UInt(u64),
        Int(i64),
        Float(f64),
    }
    match Option::<Number>::deserialize(d)? {
        None => Ok(None),
        Some(Number::UInt(u)) => Ok(Some(u)),
        Some(Number::Int(i)) => Err(D::Error::invalid_value(
            Unexpected::Signed(i),
            &"a non-negative integer",
        )),
        Some(Number::Float(f)) if (0.0..=u64::MAX as f64).contains(&f) => Ok(Some(f as u64)),
        Some(Number::Float(f)) => Err(D::Error::invalid_value(
            Unexpected::Float(f),
            &"a non-negative integer",
        )),
    }
}

/// A present field whose value is `null` is Go's zero value: the empty string. Other scalars are read
/// as their text, as Go's YAML decoder does for a string field (`regex: true` in the Cilium monitoring
/// example is the regex `true`).
fn null_as_empty_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Str(String),
        Bool(bool),
        Int(i64),
        UInt(u64),
        Float(f64),
    }
    Ok(Some(match Option::<Scalar>::deserialize(d)? {
        None => String::new(),
        Some(Scalar::Str(s)) => s,
        Some(Scalar::Bool(b)) => b.to_string(),
        Some(Scalar::Int(i)) => i.to_string(),
        Some(Scalar::UInt(u)) => u.to_string(),
        Some(Scalar::Float(f)) => f.to_string(),
    }))
}

impl RelabelSpec {
    /// The rule as prometheus-operator writes it into the Prometheus
    /// configuration: empty `regex`, `action` and `targetLabel`, and a zero
    /// `modulus`, are left out (so they take Prometheus' defaults). `separator`
    /// and `replacement` are kept even when empty, as current operator versions
    /// do.
    pub fn as_rendered_by_operator(&self) -> RelabelSpec {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        RelabelSpec {
            source_labels: self.source_labels.clone(),
            separator: self.separator.clone(),
            target_label: non_empty(&self.target_label),
            regex: non_empty(&self.regex),
            modulus: self.modulus.filter(|m| *m != 0),
            replacement: self.replacement.clone(),
            action: non_empty(&self.action),
            // The operator leaves an empty sourceLabels out.
            source_labels_empty_list: false,
        }
    }
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Set `target_label` to `replacement` (both expanded) when `regex` matches.
    Replace,
    /// Drop the target unless `regex` matches the joined source values.
    Keep,
    /// Drop the target when `regex` matches the joined source values.
    Drop,
    /// Drop the target unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drop the target when the joined source values equal `target_label`'s value.
    DropEqual,
    /// Set `target_label` to md5(joined source values) mod `modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the name `replacement` expands to.
    LabelMap,
    /// Remove every label whose name matches `regex`.
    LabelDrop,
    /// Remove every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the lower-cased joined source values.
    Lowercase,
    /// Set `target_label` to the upper-cased joined source values.
    Uppercase,
}

const ALL_ACTIONS: [Action; 11] = [
    Action::Replace,
    Action::Keep,
    Action::Drop,
    Action::KeepEqual,
    Action::DropEqual,
    Action::HashMod,
    Action::LabelMap,
    Action::LabelDrop,
    Action::LabelKeep,
    Action::Lowercase,
    Action::Uppercase,
];

impl Action {
    /// The name as Prometheus writes it (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = RelabelError;

    /// Case-insensitive, like Prometheus.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(RelabelError::EmptyAction);
        }
        let lower = go_to_lower(s);
        ALL_ACTIONS
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| RelabelError::UnknownAction {
                action: s.to_string(),
            })
    }
}

const ACTION_LIST: &str =
    "replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase";
const SOURCE_LABELS: &str = "'source_labels' (sourceLabels)";
const TARGET_LABEL: &str = "'target_label' (targetLabel)";
const LABEL_NAME_RULE: &str =
    "a label name starts with a letter or '_' and has only letters, digits and '_'";

/// Why a [`RelabelSpec`] cannot be compiled. Each case is a configuration that
/// Prometheus refuses to load.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RelabelError {
    #[error("unknown relabel action {action:?}: use one of {ACTION_LIST} (any letter case)")]
    UnknownAction { action: String },
    #[error(
        "relabel action is empty: leave 'action' out to get replace, or use one of {ACTION_LIST}"
    )]
    EmptyAction,
    #[error("{SOURCE_LABELS} entry {label:?} is not a valid label name ({LABEL_NAME_RULE})")]
    InvalidSourceLabel { label: String },
    #[error("'regex' {regex:?} does not compile: {reason}")]
    InvalidRegex { regex: String, reason: String },
    #[error("hashmod action requires a 'modulus' greater than 0")]
    ZeroModulus,
    #[error("{action} action requires {TARGET_LABEL}")]
    MissingTargetLabel { action: Action },
    #[error("{target_label:?} is not a valid {TARGET_LABEL} for {action} action ({})", target_label_rule(*.action))]
    InvalidTargetLabel {
        action: Action,
        target_label: String,
    },
    #[error("'replacement' cannot be set for {action} action (it is {replacement:?}); remove it")]
    ReplacementNotAllowed { action: Action, replacement: String },
    #[error("{replacement:?} is not a valid 'replacement' for labelmap action (it must build a label name from letters, digits, '_' and $1 / ${{1}} / $name references, and not start with a digit)")]
    InvalidLabelMapReplacement { replacement: String },
    #[error("{action} action takes only {allowed}; remove {field}")]
    FieldNotAllowed {
        action: Action,
        field: &'static str,
        allowed: &'static str,
    },
}

fn target_label_rule(action: Action) -> &'static str {
    if action == Action::Replace {
        "a label name starts with a letter or '_' and has only letters, digits and '_'; $1 / ${1} / $name references are allowed"
    } else {
        LABEL_NAME_RULE
    }
}

/// How label names are validated: Prometheus 2 uses the legacy character set; Prometheus 3 defaults
/// to UTF-8, where any non-empty name is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameScheme {
    #[default]
    Legacy,
    Utf8,
}

impl NameScheme {
    fn is_valid(self, name: &str) -> bool {
        match self {
            NameScheme::Legacy => is_valid_label_name(name),
            NameScheme::Utf8 => !name.is_empty(),
        }
    }
}

/// A validated, compiled rule.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    spec: RelabelSpec,
    scheme: NameScheme,
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: GoRegexp,
    modulus: u64,
    target_label: String,
    replacement: String,
}

impl RelabelConfig {
    /// Validates `spec` as Prometheus does when it loads its configuration (with
    /// the legacy label-name scheme) and compiles its regex.
    pub fn compile(spec: &RelabelSpec) -> Result<Self, RelabelError> {
        Self::compile_with(spec, NameScheme::Legacy)
    }

    /// As [`RelabelConfig::compile`], with the label-name scheme of the Prometheus that runs the rule.
    pub fn compile_with(spec: &RelabelSpec, scheme: NameScheme) -> Result<Self, RelabelError> {
        use Action::*;

        // Prometheus reads the action, the source label names and the regex while it unmarshals the
        // rule, and refuses an empty action only afterwards, in Config.Validate (a `null` action reaches
        // Validate as ""; a written "" is refused while unmarshalling, as an unknown action ""). So an
        // empty action is reported after the unmarshal-time problems, which are reported first.
        let action = match spec.action.as_deref() {
            None => Some(Replace),
            Some("") => None,
            Some(a) => Some(a.parse()?),
        };
        if let Some(label) = spec.source_labels.iter().find(|l| !scheme.is_valid(l)) {
            return Err(RelabelError::InvalidSourceLabel {
                label: label.clone(),
            });
        }
        let regex_src = spec.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let regex =
            GoRegexp::compile_anchored(regex_src).map_err(|reason| RelabelError::InvalidRegex {
                regex: regex_src.to_string(),
                reason,
            })?;
        let separator = spec.separator.as_deref().unwrap_or(DEFAULT_SEPARATOR);
        let target_label = spec.target_label.as_deref().unwrap_or("");
        let replacement = spec.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT);
        let modulus = spec.modulus.unwrap_or(0);

        // The checks, and their order, are those of Prometheus' Config.Validate.
        let Some(action) = action else {
            return Err(RelabelError::EmptyAction);
        };
        if action == HashMod && modulus == 0 {
            return Err(RelabelError::ZeroModulus);
        }
        let needs_target = matches!(
            action,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        );
        if needs_target && target_label.is_empty() {
            return Err(RelabelError::MissingTargetLabel { action });
        }
        let invalid_target = || RelabelError::InvalidTargetLabel {
            action,
            target_label: target_label.to_string(),
        };
        if action == Replace {
            let valid = if target_label.contains('$') {
                scheme == NameScheme::Utf8 || RELABEL_TARGET.is_match(target_label)
            } else {
                scheme.is_valid(target_label)
            };
            if !valid {
                return Err(invalid_target());
            }
        }
        let plain_target = matches!(
            action,
            Lowercase | Uppercase | KeepEqual | DropEqual | HashMod
        );
        if plain_target && !scheme.is_valid(target_label) {
            return Err(invalid_target());
        }
        if matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual)
            && replacement != DEFAULT_REPLACEMENT
        {
            return Err(RelabelError::ReplacementNotAllowed {
                action,
                replacement: replacement.to_string(),
            });
        }
        // Under UTF-8 validation the replacement must still be a valid (non-empty) name.
        let valid_map_replacement = match scheme {
            NameScheme::Legacy => RELABEL_TARGET.is_match(replacement),
            NameScheme::Utf8 => scheme.is_valid(replacement),
        };
        if action == LabelMap && !valid_map_replacement {
            return Err(RelabelError::InvalidLabelMapReplacement {
                replacement: replacement.to_string(),
            });
        }
        let not_allowed = |field, allowed| RelabelError::FieldNotAllowed {
            action,
            field,
            allowed,
        };
        if matches!(action, KeepEqual | DropEqual) {
            let allowed = "'source_labels' (sourceLabels) and 'target_label' (targetLabel)";
            // Prometheus compares the regex by identity with its default, so
            // even an explicit `(.*)` is refused.
            if spec.regex.is_some() {
                return Err(not_allowed("'regex'", allowed));
            }
            if modulus != 0 {
                return Err(not_allowed("'modulus'", allowed));
            }
            if separator != DEFAULT_SEPARATOR {
                return Err(not_allowed("'separator'", allowed));
            }
        }
        if matches!(action, LabelDrop | LabelKeep) {
            let allowed = "'regex'";
            if !spec.source_labels.is_empty() || spec.source_labels_empty_list {
                return Err(not_allowed(SOURCE_LABELS, allowed));
            }
            if !target_label.is_empty() {
                return Err(not_allowed(TARGET_LABEL, allowed));
            }
            if modulus != 0 {
                return Err(not_allowed("'modulus'", allowed));
            }
            if separator != DEFAULT_SEPARATOR {
                return Err(not_allowed("'separator'", allowed));
            }
            if replacement != DEFAULT_REPLACEMENT {
                return Err(not_allowed("'replacement'", allowed));
            }
        }

        Ok(RelabelConfig {
            spec: spec.clone(),
            scheme,
            action,
            source_labels: spec.source_labels.clone(),
            separator: separator.to_string(),
            regex,
            modulus,
            target_label: target_label.to_string(),
            replacement: replacement.to_string(),
        })
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The spec this rule was compiled from.
    pub fn spec(&self) -> &RelabelSpec {
        &self.spec
    }

    /// Applies this rule; false means the target is dropped.
    fn apply(&self, labels: &mut Labels) -> bool {
        let value = self
            .source_labels
            .iter()
            .map(|n| labels.get(n).map_or("", String::as_str))
            .collect::<Vec<_>>()
            .join(&self.separator);
        let target_value = || labels.get(&self.target_label).map_or("", String::as_str);
        match self.action {
            Action::Keep => return self.regex.is_match(&value),
            Action::Drop => return !self.regex.is_match(&value),
            Action::KeepEqual => return target_value() == value,
            Action::DropEqual => return target_value() != value,
            Action::Replace => {
                // No match: nothing happens. (Prometheus' fast path for an empty
                // value with the default regex gives the same result.)
                if let Some(caps) = self.regex.captures(&value) {
                    let target = self.regex.expand(&self.target_label, &caps);
                    if self.scheme.is_valid(&target) {
                        let replacement = self.regex.expand(&self.replacement, &caps);
                        set_label(labels, target, replacement);
                    }
                }
            }
            Action::Lowercase => {
                set_label(labels, self.target_label.clone(), go_to_lower(&value));
            }
            Action::Uppercase => {
                set_label(labels, self.target_label.clone(), go_to_upper(&value));
            }
            Action::HashMod => {
                let hash = hash_mod(&value, self.modulus).to_string();
                set_label(labels, self.target_label.clone(), hash);
            }
            Action::LabelMap => {
                // Prometheus visits a snapshot of the labels and does not
                // validate the new name. When two labels map to the same name
                // the later one in name order wins here; Prometheus visits
                // them in its label builder's order, which for targets is the
                // order discovery set them in (Go map order), so configs that
                // depend on it have no fixed result there.
                let matching: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(name, _)| self.regex.is_match(name))
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect();
                for (name, value) in matching {
                    let new_name = self.regex.replace_all(&name, &self.replacement);
                    set_label(labels, new_name, value);
                }
            }
            Action::LabelDrop => labels.retain(|name, _| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }
}

/// Applies `configs` in order to `labels`, in place. Returns false when a
/// keep/drop/keepequal/dropequal rule drops the target; `labels` then holds the
/// state in which that rule saw them.
///
/// Empty-valued labels are removed first: Prometheus never has them.
pub fn process(labels: &mut Labels, configs: &[RelabelConfig]) -> bool {
    dropping_rule(labels, configs).is_none()
}

/// Like [`process`], but says which rule dropped the target: `Some(index into
/// configs)`, or `None` when the target is kept.
pub fn dropping_rule(labels: &mut Labels, configs: &[RelabelConfig]) -> Option<usize> {
    labels.retain(|_, v| !v.is_empty());
    configs.iter().position(|c| !c.apply(labels))
}

/// Replaces every character outside `[a-zA-Z0-9_]` with `_`, as Prometheus'
/// service discovery and prometheus-operator do to turn e.g. a Kubernetes label
/// key into a label name (`__meta_kubernetes_pod_label_<name>`).
pub fn sanitize_label_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Setting a label to the empty value deletes it, as in Prometheus.
fn set_label(labels: &mut Labels, name: String, value: String) {
    if value.is_empty() {
        labels.remove(&name);
    } else {
        labels.insert(name, value);
    }
}

/// Legacy label-name validity: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Prometheus' check for a `target_label` with `$` references (replace) and a
/// labelmap `replacement`, under legacy validation. `\w` is ASCII in Go.
static RELABEL_TARGET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
        .expect("static regex")
});

/// Go's `Regexp.Expand` takes a reference name as the longest run of Unicode
/// letters, decimal digits and `_`.
static GO_TEMPLATE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\A[\p{L}\p{Nd}_]+").expect("static regex"));

/// A regex compiled from Go syntax, with Go's capture-group names.
#[derive(Debug, Clone)]
struct GoRegexp {
    /// Shared with every rule of the same text (one compile, one pool of match caches).
    regex: Arc<Regex>,
    /// The Go name of each capture group, by number.
    group_names: Arc<[Option<String>]>,
}

impl GoRegexp {
    /// Compiles `regex` the way Prometheus does: `^(?s:<regex>)$`, in Go's
    /// RE2 dialect. The anchors are added to the text before it is parsed, as
    /// Prometheus does, so `a)|(b` escapes them and an unterminated `\Q`
    /// swallows the closing `)$`.
    fn compile_anchored(regex: &str) -> Result<Self, String> {
        static COMPILED: crate::regex_cache::Cache<String, Result<GoRegexp, String>> =
            crate::regex_cache::Cache::new();
        COMPILED.get_or_compile(regex, Self::compile_anchored_uncached)
    }

    fn compile_anchored_uncached(regex: &str) -> Result<Self, String> {
        let translated = translate_go_regex(&format!("^(?s:{regex})$"))?;
        // Go has no compiled-size limit (only repeat counts up to 1000, nested counts multiplied), so
        // `\pL{1000}` compiles there; the regex crate's default limit (10 MB) would refuse it.
        let compiled = regex::RegexBuilder::new(&translated.pattern)
            .size_limit(1 << 30)
            .build()
            .map_err(|e| {
                let msg = e.to_string();
                match msg.rsplit_once("error: ") {
                    Some((_, reason)) => reason.trim().to_string(),
                    None => msg.trim().to_string(),
                }
            })?;
        Ok(GoRegexp {
            regex: Arc::new(compiled),
            group_names: translated.group_names.into(),
        })
    }

    fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }

    fn captures<'h>(&self, s: &'h str) -> Option<Captures<'h>> {
        self.regex.captures(s)
    }

    /// Expands `template` against `caps` with Go's `Regexp.Expand` rules.
    fn expand(&self, template: &str, caps: &Captures<'_>) -> String {
        let mut out = String::new();
        self.expand_into(&mut out, template, caps);
        out
    }

    fn expand_into(&self, out: &mut String, template: &str, caps: &Captures<'_>) {
        let mut rest = template;
        while let Some(dollar) = rest.find('$') {
            out.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                out.push('$');
                rest = after;
                continue;
            }
            let (braced, body) = match rest.strip_prefix('{') {
                Some(body) => (true, body),
                None => (false, rest),
            };
            let Some(name_len) = GO_TEMPLATE_NAME.find(body).map(|m| m.end()) else {
                // Not a reference: the `$` is literal text.
                out.push('$');
                continue;
            };
            let name = &body[..name_len];
            let after = &body[name_len..];
            let after = if braced {
                match after.strip_prefix('}') {
                    Some(after) => after,
                    None => {
                        out.push('$');
                        continue;
                    }
                }
            } else {
                after
            };
            rest = after;
            // A group number is all ASCII digits without a leading zero;
            // anything else is a group name (the first group of that name that
            // took part in the match). Unknown groups expand to nothing.
            let is_number =
                name.bytes().all(|b| b.is_ascii_digit()) && (name == "0" || !name.starts_with('0'));
            let group = if is_number {
                name.parse::<usize>().ok().and_then(|i| caps.get(i))
            } else {
                self.group_names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.as_deref() == Some(name))
                    .find_map(|(i, _)| caps.get(i))
            };
            if let Some(m) = group {
                out.push_str(m.as_str());
            }
        }
        out.push_str(rest);
    }

    /// Go's `Regexp.ReplaceAllString(src, template)`, which labelmap uses.
    fn replace_all(&self, src: &str, template: &str) -> String {
        let mut out = String::new();
        let mut last_end = 0;
        let mut search = 0;
        while search <= src.len() {
            let Some(caps) = self.regex.captures_at(src, search) else {
                break;
            };
            let whole = caps.get(0).expect("group 0 always participates");
            out.push_str(&src[last_end..whole.start()]);
            // No replacement for an empty match right after the previous match.
            if whole.end() > last_end || whole.start() == 0 {
                self.expand_into(&mut out, template, &caps);
            }
            last_end = whole.end();
            let width = src[search..].chars().next().map_or(0, char::len_utf8);
            search = if search + width > whole.end() {
                search + width
            } else if search + 1 > whole.end() {
                search + 1
            } else {
                whole.end()
            };
        }
        out.push_str(&src[last_end..]);
        out
    }
}

/// md5 of the value; the last 8 bytes as a big-endian integer, mod `modulus` (the `hashmod` action;
/// prometheus-operator shards targets with it over `__address__`).
pub fn hash_mod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..]);
    u64::from_be_bytes(tail) % modulus
}

/// Go's `strings.ToLower`: per-character simple case mapping. Rust's full
/// mapping differs only for U+0130 (İ), which Go maps to a plain `i`.
fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: per-character simple case mapping. Where Rust's
/// full mapping has several characters (ß → SS, ﬁ → FI, ...), Go keeps the
/// character, except the Greek letters with ypogegrammeni, which map to their
/// single-character title-case forms.
fn go_to_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => match c as u32 {
                    0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                        char::from_u32(c as u32 + 8).unwrap_or(c)
                    }
                    0x1FB3 => '\u{1FBC}',
                    0x1FC3 => '\u{1FCC}',
                    0x1FF3 => '\u{1FFC}',
                    _ => c,
                },
            }
        })
        .collect()
}

/// The names Go 1.26's regexp (what current Prometheus is built with) accepts
/// in `\p{...}`, after its canonicalisation (see [`go_canonical_name`]):
/// general categories, category aliases, and the scripts whose names survive
/// canonicalisation (in Go 1.26, `\p{Old_Italic}` and `\p{SignWriting}` are
/// refused).
const GO_CATEGORIES: &str =
    "C Cc Cf Cn Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs";
const GO_CATEGORY_ALIASES: &[(&str, &str)] = &[
    ("Casedletter", "LC"),
    ("Closepunctuation", "Pe"),
    ("Combiningmark", "M"),
    ("Connectorpunctuation", "Pc"),
    ("Control", "Cc"),
    ("Currencysymbol", "Sc"),
    ("Dashpunctuation", "Pd"),
    ("Decimalnumber", "Nd"),
    ("Enclosingmark", "Me"),
    ("Finalpunctuation", "Pf"),
    ("Format", "Cf"),
    ("Initialpunctuation", "Pi"),
    ("Letter", "L"),
    ("Letternumber", "Nl"),
    ("Lineseparator", "Zl"),
    ("Lowercaseletter", "Ll"),
    ("Mark", "M"),
    ("Mathsymbol", "Sm"),
    ("Modifierletter", "Lm"),
    ("Modifiersymbol", "Sk"),
    ("Nonspacingmark", "Mn"),
    ("Number", "N"),
    ("Openpunctuation", "Ps"),
    ("Other", "C"),
    ("Otherletter", "Lo"),
    ("Othernumber", "No"),
    ("Otherpunctuation", "Po"),
    ("Othersymbol", "So"),
    ("Paragraphseparator", "Zp"),
    ("Privateuse", "Co"),
    ("Punctuation", "P"),
    ("Separator", "Z"),
    ("Spaceseparator", "Zs"),
    ("Spacingmark", "Mc"),
    ("Surrogate", "Cs"),
    ("Symbol", "S"),
    ("Titlecaseletter", "Lt"),
    ("Unassigned", "Cn"),
    ("Uppercaseletter", "Lu"),
    ("Cntrl", "Cc"),
    ("Digit", "Nd"),
    ("Punct", "P"),
];
const GO_SCRIPTS: &str = "Adlam Ahom Arabic Armenian Avestan Balinese Bamum Batak Bengali \
    Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Carian Chakma Cham Cherokee Chorasmian Common \
    Coptic Cuneiform Cypriot Cyrillic Deseret Devanagari Dogra Duployan Elbasan Elymaic Ethiopic \
    Georgian Glagolitic Gothic Grantha Greek Gujarati Gurmukhi Han Hangul Hanunoo Hatran Hebrew \
    Hiragana Inherited Javanese Kaithi Kannada Katakana Kawi Kharoshthi Khmer Khojki Khudawadi Lao \
    Latin Lepcha Limbu Lisu Lycian Lydian Mahajani Makasar Malayalam Mandaic Manichaean Marchen \
    Medefaidrin Miao Modi Mongolian Mro Multani Myanmar Nabataean Nandinagari Newa Nko Nushu Ogham \
    Oriya Osage Osmanya Palmyrene Phoenician Rejang Runic Samaritan Saurashtra Sharada Shavian \
    Siddham Sinhala Sogdian Soyombo Sundanese Syriac Tagalog Tagbanwa Takri Tamil Tangsa Tangut \
    Telugu Thaana Thai Tibetan Tifinagh Tirhuta Toto Ugaritic Vai Vithkuqi Wancho Yezidi Yi";
const GO_POSIX_CLASSES: &str =
    "alnum alpha ascii blank cntrl digit graph lower print punct space upper word xdigit";

/// Go 1.26's canonical form of a `\p{...}` name: `_`, `-` and spaces removed,
/// the first letter upper case and the other ASCII letters lower case.
fn go_canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut first = true;
    for c in name.chars() {
        match c {
            '_' | '-' | ' ' => {}
            c if first => {
                first = false;
                out.push(c.to_ascii_uppercase());
            }
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// Go 1.26's lookup of a `\p{...}` name: the regex-crate class body it
/// stands for, and whether it is negated.
fn go_unicode_table(name: &str) -> Option<(String, bool)> {
    let name = go_canonical_name(name);
    let class = match name.as_str() {
        "Any" => ("Any".to_string(), false),
        "Assigned" => ("gc=Cn".to_string(), true),
        "Ascii" => ("ASCII".to_string(), false),
        "Lc" => ("gc=LC".to_string(), false),
        n if GO_CATEGORIES.split(' ').any(|c| c == n) => (format!("gc={n}"), false),
        // Scripts use the Script property (the regex crate's bare names use
        // Script_Extensions).
        n if GO_SCRIPTS.split_whitespace().any(|c| c == n) => (format!("sc={n}"), false),
        n => {
            let (_, actual) = GO_CATEGORY_ALIASES.iter().find(|(alias, _)| *alias == n)?;
            (format!("gc={actual}"), false)
        }
    };
    Some(class)
}

/// A class that matches nothing (Go can express one; the regex crate needs it spelled out).
const EMPTY_CLASS: &str = r"[^\x{0}-\x{10FFFF}]";

/// Rewrites a Go (RE2) regex into the `regex` crate's syntax with the same
/// meaning, or returns the error Go would report. Go's parser is followed
/// token by token, and every construct is re-emitted in a form the regex crate
/// reads the same way: ASCII-only `\d \w \s \b` (Go's `\s` has no `\v`),
/// script and category names as `sc=`/`gc=`, literals escaped, `{` that is not
/// a repetition as a literal, and a repetition after a `(?flags)` group
/// applied to the atom before it. Go's refusals of stacked repetitions (`a**`),
/// repeat counts above 1000 (also nested: `(a{40}){30}`), unknown POSIX
/// classes, backwards ranges and bad escapes are reproduced. Capture groups
/// are numbered as in Go and their names kept aside ([`GoRegex`]).
///
/// Known differences that remain: the regex crate's compiled-size limit
/// (raised to 1 GiB, see [`GoRegexp::compile_anchored`]) could still refuse a
/// pattern Go accepts; its nesting limit (250) is lower than Go's (1000); and its Unicode tables are
/// newer than Go 1.26's Unicode 15, so characters added since then can match
/// differently.
fn translate_go_regex(src: &str) -> Result<GoRegex, String> {
    let mut t = GoRegexTranslator {
        src,
        pos: 0,
        out: String::with_capacity(src.len() + 16),
        group_names: vec![None],
        group_weights: vec![1],
        last_atom: None,
        last_repeat: None,
        pending_flags: String::new(),
    };
    t.run()?;
    Ok(GoRegex {
        pattern: t.out,
        group_names: t.group_names,
    })
}

/// A translated Go regex. Capture groups are all written unnamed, because Go
/// allows names the regex crate does not (`(?P<1x>...)`, the same name twice);
/// `group_names[i]` is the Go name of group `i`.
#[derive(Debug, PartialEq)]
struct GoRegex {
    pattern: String,
    group_names: Vec<Option<String>>,
}

struct GoRegexTranslator<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    /// The name of each capture group so far, by number (group 0 is the match).
    group_names: Vec<Option<String>>,
    /// Per open group, the largest product of counted repetitions (`{n,m}`)
    /// along any nesting chain inside it (Go refuses products above 1000).
    group_weights: Vec<u64>,
    /// The weight of the last atom of the current group, if any: what a
    /// repetition operator applies to.
    last_atom: Option<u64>,
    /// Start of the previous token when it was a repetition (Go refuses `a**`).
    last_repeat: Option<usize>,
    /// A `(?flags)` group not yet written (see [`GoRegexTranslator::repeat`]).
    pending_flags: String,
}

impl<'a> GoRegexTranslator<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.rest().chars().next() {
            let start = self.pos;
            let mut repeated = false;
            match c {
                '(' if self.rest().starts_with("(?") => self.perl_group()?,
                '(' => {
                    self.pos += 1;
                    self.group_names.push(None);
                    self.open_group("(");
                }
                '|' => {
                    self.pos += 1;
                    self.flush_flags();
                    self.fold_last_atom();
                    self.out.push('|');
                }
                ')' => {
                    self.pos += 1;
                    self.close_group();
                }
                '^' | '$' | '.' => {
                    self.pos += 1;
                    self.atom(&c.to_string(), 1);
                }
                '[' => {
                    let class = self.class()?;
                    self.atom(&class, 1);
                }
                '*' | '+' | '?' => {
                    self.pos += 1;
                    self.repeat(start, None)?;
                    repeated = true;
                }
                '{' => match parse_go_repeat(self.rest()) {
                    Some((len, min, max)) => {
                        self.pos += len;
                        self.repeat(start, Some((min, max)))?;
                        repeated = true;
                    }
                    None => {
                        self.pos += 1;
                        self.literal(u32::from('{'));
                    }
                },
                '\\' => self.escape()?,
                _ => {
                    self.pos += c.len_utf8();
                    self.literal(u32::from(c));
                }
            }
            self.last_repeat = repeated.then_some(start);
        }
        self.flush_flags();
        Ok(())
    }

    fn flush_flags(&mut self) {
        let flags = std::mem::take(&mut self.pending_flags);
        self.out.push_str(&flags);
    }

    fn fold_last_atom(&mut self) {
        if let Some(w) = self.last_atom.take() {
            let top = self.group_weights.last_mut().expect("base frame");
            *top = (*top).max(w);
        }
    }

    fn atom(&mut self, text: &str, weight: u64) {
        self.flush_flags();
        self.fold_last_atom();
        self.out.push_str(text);
        self.last_atom = Some(weight);
    }

    fn literal(&mut self, c: u32) {
        match char::from_u32(c) {
            Some(ch) => self.atom(&regex::escape(&ch.to_string()), 1),
            // A surrogate: Go accepts it, and it can never match.
            None => self.atom(EMPTY_CLASS, 1),
        }
    }

    fn open_group(&mut self, text: &str) {
        self.flush_flags();
        self.fold_last_atom();
        self.out.push_str(text);
        self.group_weights.push(1);
    }

    fn close_group(&mut self) {
        self.flush_flags();
        self.fold_last_atom();
        self.out.push(')');
        // An unopened `)` is left for the regex crate to refuse.
        if self.group_weights.len() > 1 {
            self.last_atom = self.group_weights.pop();
        }
    }

    /// A repetition operator (already consumed from `start`) with its optional
    /// non-greedy `?`. In Go a repetition right after `(?flags)` applies to the
    /// atom before the flags, so pending flags are written after it.
    fn repeat(&mut self, start: usize, counts: Option<(u64, Option<u64>)>) -> Result<(), String> {
        let op_end = self.pos;
        if let Some((min, max)) = counts {
            if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
                return Err(format!(
                    "invalid repeat count: `{}`",
                    &self.src[start..op_end]
                ));
            }
        }
        if self.rest().starts_with('?') {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        if let Some(previous) = self.last_repeat {
            return Err(format!(
                "invalid nested repetition operator: `{}`",
                &self.src[previous..self.pos]
            ));
        }
        let Some(weight) = self.last_atom else {
            return Err(format!("missing argument to repetition operator: `{text}`"));
        };
        let mut new_weight = weight;
        if let Some((min, max)) = counts {
            // Go's repeatIsValid: a `{0}` ends the chain; `{n,}` counts as n (at least 1).
            let factor = match max {
                Some(0) => 0,
                Some(m) => m,
                None => min.max(1),
            };
            new_weight = weight.saturating_mul(factor);
            if (min >= 2 || max.is_some_and(|m| m >= 2)) && new_weight > 1000 {
                return Err(format!("invalid repeat count: `{text}`"));
            }
        }
        self.out.push_str(text);
        self.last_atom = Some(new_weight);
        Ok(())
    }

    /// `(?P<name>`, `(?<name>`, `(?flags)` or `(?flags:`.
    fn perl_group(&mut self) -> Result<(), String> {
        let rest = self.rest();
        let named = rest
            .strip_prefix("(?P<")
            .or_else(|| rest.strip_prefix("(?<"));
        if let Some(after) = named {
            let Some(end) = after.find('>') else {
                return Err(format!("invalid named capture: `{rest}`"));
            };
            let name = &after[..end];
            let open_len = rest.len() - after.len() + end + 1;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("invalid named capture: `{}`", &rest[..open_len]));
            }
            self.group_names.push(Some(name.to_string()));
            self.pos += open_len;
            self.open_group("(");
            return Ok(());
        }
        let (mut on, mut off) = (String::new(), String::new());
        let mut negated = false;
        let mut saw_flag = false;
        for (i, c) in rest.char_indices().skip(2) {
            match c {
                'i' | 'm' | 's' | 'U' => {
                    saw_flag = true;
                    if negated {
                        on.retain(|f| f != c);
                        if !off.contains(c) {
                            off.push(c);
                        }
                    } else if !on.contains(c) {
                        on.push(c);
                    }
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => {
                    self.pos += i + 1;
                    let flags = match (on.is_empty(), off.is_empty()) {
                        (true, true) => String::new(),
                        (false, true) => on,
                        (_, false) => format!("{on}-{off}"),
                    };
                    if c == ':' {
                        self.open_group(&format!("(?{flags}:"));
                    } else if !flags.is_empty() {
                        self.pending_flags.push_str(&format!("(?{flags})"));
                    }
                    return Ok(());
                }
                _ => {
                    return Err(format!(
                        "invalid or unsupported Perl syntax: `{}`",
                        &rest[..i + c.len_utf8()]
                    ))
                }
            }
        }
        Err(format!("invalid or unsupported Perl syntax: `{rest}`"))
    }

    /// A backslash outside a class.
    fn escape(&mut self) -> Result<(), String> {
        let rest = self.rest();
        let Some(e) = rest[1..].chars().next() else {
            return Err("trailing backslash at end of expression".to_string());
        };
        let assertion = match e {
            'A' => Some(r"\A"),
            'z' => Some(r"\z"),
            'b' => Some(r"(?-u:\b)"),
            'B' => Some(r"(?-u:\B)"),
            _ => None,
        };
        if let Some(text) = assertion {
            self.pos += 2;
            self.atom(text, 1);
            return Ok(());
        }
        match e {
            'C' => Err(r"invalid escape sequence: `\C`".to_string()),
            'Q' => {
                // \Q...\E is literal text, to the end of the pattern without \E.
                let body = &rest[2..];
                let (literal, len) = match body.find(r"\E") {
                    Some(i) => (&body[..i], i + 2),
                    None => (body, body.len()),
                };
                self.pos += 2 + len;
                for c in literal.chars() {
                    self.literal(u32::from(c));
                }
                Ok(())
            }
            'p' | 'P' => {
                let (class, len) = go_unicode_class(rest)?;
                self.pos += len;
                self.atom(&class, 1);
                Ok(())
            }
            _ => {
                if let Some(class) = go_perl_class(e) {
                    self.pos += 2;
                    self.atom(class, 1);
                } else {
                    let (c, len) = go_escape(rest)?;
                    self.pos += len;
                    self.literal(c);
                }
                Ok(())
            }
        }
    }

    /// A bracketed class, following Go's parseClass.
    fn class(&mut self) -> Result<String, String> {
        let whole = self.rest();
        self.pos += 1;
        let mut out = String::from("[");
        if self.rest().starts_with('^') {
            self.pos += 1;
            out.push('^');
        }
        let mut first = true;
        loop {
            let rest = self.rest();
            if rest.starts_with(']') && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if rest.len() > 2 && rest.starts_with("[:") {
                if let Some(i) = rest[2..].find(":]") {
                    let name = &rest[..i + 4];
                    let bare = name[2..name.len() - 2].trim_start_matches('^');
                    if name[2..].starts_with("^^")
                        || !GO_POSIX_CLASSES.split(' ').any(|n| n == bare)
                    {
                        return Err(format!("invalid character class range: `{name}`"));
                    }
                    out.push_str(name);
                    self.pos += name.len();
                    continue;
                }
            }
            if rest.starts_with(r"\p") || rest.starts_with(r"\P") {
                let (class, len) = go_unicode_class(rest)?;
                out.push_str(&class);
                self.pos += len;
                continue;
            }
            if let Some(class) = rest
                .strip_prefix('\\')
                .and_then(|r| r.chars().next())
                .and_then(go_perl_class)
            {
                out.push_str(class);
                self.pos += 2;
                continue;
            }
            let range_start = self.pos;
            let lo = self.class_char(whole)?;
            let mut hi = lo;
            let rest = self.rest();
            if rest.len() >= 2 && rest.starts_with('-') && !rest[1..].starts_with(']') {
                self.pos += 1;
                hi = self.class_char(whole)?;
                if hi < lo {
                    return Err(format!(
                        "invalid character class range: `{}`",
                        &self.src[range_start..self.pos]
                    ));
                }
            }
            // Surrogates (reachable only through escapes) never match.
            let lo = if (0xD800..=0xDFFF).contains(&lo) {
                0xE000
            } else {
                lo
            };
            let hi = if (0xD800..=0xDFFF).contains(&hi) {
                0xD7FF
            } else {
                hi
            };
            match lo.cmp(&hi) {
                std::cmp::Ordering::Less => out.push_str(&format!("\\x{{{lo:X}}}-\\x{{{hi:X}}}")),
                std::cmp::Ordering::Equal => out.push_str(&format!("\\x{{{lo:X}}}")),
                std::cmp::Ordering::Greater => out.push_str(EMPTY_CLASS),
            }
        }
        out.push(']');
        Ok(out)
    }

    fn class_char(&mut self, whole: &str) -> Result<u32, String> {
        let rest = self.rest();
        match rest.chars().next() {
            None => Err(format!("missing closing ]: `{whole}`")),
            Some('\\') => {
                let (c, len) = go_escape(rest)?;
                self.pos += len;
                Ok(c)
            }
            Some(c) => {
                self.pos += c.len_utf8();
                Ok(u32::from(c))
            }
        }
    }
}

/// Go's `\d \D \s \S \w \W`: ASCII-only, and `\s` without `\v`.
fn go_perl_class(e: char) -> Option<&'static str> {
    Some(match e {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => r"[\t\n\f\r ]",
        'S' => r"[^\t\n\f\r ]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        _ => return None,
    })
}

/// `\pL`, `\p{Greek}`, `\p{^Greek}`, `\PL`... at the start of `s`: the
/// regex-crate class and the length consumed.
fn go_unicode_class(s: &str) -> Result<(String, usize), String> {
    let mut negated = s.starts_with(r"\P");
    let after = &s[2..];
    let (name, len) = if after.starts_with('{') {
        let Some(end) = s.find('}') else {
            return Err(format!("invalid character class range: `{s}`"));
        };
        (&s[3..end], end + 1)
    } else {
        let n = after.chars().next().map_or(0, char::len_utf8);
        (&after[..n], 2 + n)
    };
    let name = match name.strip_prefix('^') {
        Some(name) => {
            negated = !negated;
            name
        }
        None => name,
    };
    let Some((property, inverted)) = go_unicode_table(name) else {
        return Err(format!("invalid character class range: `{}`", &s[..len]));
    };
    if inverted {
        negated = !negated;
    }
    // Surrogates (Cs) are never in valid UTF-8: Go accepts the class, which matches nothing; the regex
    // crate has no such property.
    if property == "gc=Cs" {
        let class = if negated {
            r"[\x{0}-\x{10FFFF}]"
        } else {
            EMPTY_CLASS
        };
        return Ok((class.to_string(), len));
    }
    let p = if negated { 'P' } else { 'p' };
    Ok((format!("\\{p}{{{property}}}"), len))
}

/// Go's parseEscape for a single character: the code point (which may be a
/// surrogate) and the length consumed.
fn go_escape(s: &str) -> Result<(u32, usize), String> {
    let t = &s[1..];
    let invalid = |len: usize| {
        let end = (1 + len).min(s.len());
        let end = (end..=s.len())
            .find(|&e| s.is_char_boundary(e))
            .unwrap_or(s.len());
        Err(format!("invalid escape sequence: `{}`", &s[..end]))
    };
    let Some(c) = t.chars().next() else {
        return Err("trailing backslash at end of expression".to_string());
    };
    let octal = |b: Option<&u8>| {
        b.filter(|b| (b'0'..=b'7').contains(b))
            .map(|b| u32::from(b - b'0'))
    };
    let bytes = t.as_bytes();
    match c {
        '1'..='7' if octal(bytes.get(1)).is_none() => invalid(1),
        '0'..='7' => {
            let mut value = u32::from(bytes[0] - b'0');
            let mut len = 1;
            while len < 3 {
                match octal(bytes.get(len)) {
                    Some(d) => value = value * 8 + d,
                    None => break,
                }
                len += 1;
            }
            Ok((value, 1 + len))
        }
        'x' => {
            let hex = |c: char| c.to_digit(16);
            let body = &t[1..];
            if let Some(inner) = body.strip_prefix('{') {
                let Some(end) = inner.find('}') else {
                    return invalid(t.len());
                };
                let digits = &inner[..end];
                let value = if digits.is_empty() || !digits.chars().all(|c| hex(c).is_some()) {
                    None
                } else {
                    u32::from_str_radix(digits, 16)
                        .ok()
                        .filter(|v| *v <= 0x10FFFF)
                };
                match value {
                    Some(v) => Ok((v, 1 + 1 + 1 + end + 1)),
                    None => invalid(t.len().min(2 + end + 1)),
                }
            } else {
                let mut it = body.chars();
                match (it.next().and_then(hex), it.next().and_then(hex)) {
                    (Some(x), Some(y)) => Ok((x * 16 + y, 4)),
                    _ => invalid(t.len().min(3)),
                }
            }
        }
        'a' => Ok((0x07, 2)),
        'f' => Ok((0x0C, 2)),
        'n' => Ok((0x0A, 2)),
        'r' => Ok((0x0D, 2)),
        't' => Ok((0x09, 2)),
        'v' => Ok((0x0B, 2)),
        // Escaped ASCII punctuation is itself (including `\_`, `\<`, `\>`).
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((u32::from(c), 2)),
        c => invalid(c.len_utf8()),
    }
}

/// `{n}`, `{n,}` or `{n,m}` at the start of `s`: (length, n, m). Anything else
/// is not a repetition, and Go reads the `{` as a literal.
fn parse_go_repeat(s: &str) -> Option<(usize, u64, Option<u64>)> {
    fn number(s: &str, i: &mut usize) -> Option<u64> {
        let digits = s[*i..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let text = &s[*i..*i + digits];
        *i += digits;
        // Go refuses numbers too large to hold; as do counts above 1000 anyway.
        Some(text.parse::<u64>().unwrap_or(u64::MAX))
    }
    let mut i = 1;
    let min = number(s, &mut i)?;
    let max = if s[i..].starts_with(',') {
        i += 1;
        if s[i..].starts_with('}') {
            None
        } else {
            Some(number(s, &mut i)?)
        }
    } else {
        Some(min)
    };
    s[i..].starts_with('}').then_some((i + 1, min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn spec(json: &str) -> RelabelSpec {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test rule {json}: {e}"))
    }

    fn assert_unique_names<'a>(names: impl IntoIterator<Item = &'a str>) {
        let mut seen = std::collections::BTreeSet::new();
        for name in names {
            assert!(seen.insert(name), "duplicate case name: {name}");
        }
    }

    enum Want {
        Kept(&'static [(&'static str, &'static str)]),
        /// Dropped by the rule with this index.
        Dropped(usize),
    }

    struct Case {
        name: &'static str,
        input: &'static [(&'static str, &'static str)],
        rules: &'static [&'static str],
        want: Want,
    }

    const ADDRESS_REWRITE: &str = r#"{"source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
        "regex": "([^:]+)(?::\\d+)?;(\\d+)", "replacement": "$1:$2", "target_label": "__address__"}"#;

    const PROCESS_CASES: &[Case] = &[
        // ---- replace ----
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace writes the expanded replacement into the target label",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: &[r#"{"source_labels": ["a"], "regex": "f(.*)", "target_label": "d", "replacement": "ch${1}-ch${1}"}"#],
            want: Want::Kept(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace joins the source labels with the separator and can overwrite a source label",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: &[
                r#"{"source_labels": ["a", "b"], "regex": "f(.*);(.*)r", "target_label": "a", "replacement": "b${1}${2}m"}"#,
                r#"{"source_labels": ["c", "a"], "regex": "(b).*b(.*)ba(.*)", "target_label": "d", "replacement": "$1$2$2$3"}"#,
            ],
            want: Want::Kept(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace takes a capture group that matched in the middle of the value",
            input: &[("a", "abc")],
            rules: &[r#"{"source_labels": ["a"], "regex": ".*(b).*", "target_label": "d", "replacement": "$1"}"#],
            want: Want::Kept(&[("a", "abc"), ("d", "b")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace does nothing when the regex does not match",
            input: &[("a", "boo")],
            rules: &[r#"{"source_labels": ["a"], "regex": "f", "target_label": "b", "replacement": "bar"}"#],
            want: Want::Kept(&[("a", "boo")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace with an empty expansion deletes the target label",
            input: &[("a", "foo"), ("f", "baz")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(f).*", "target_label": "$1", "replacement": "$2"}"#],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace can take the target label name from a capture group",
            input: &[("a", "some-name-value")],
            rules: &[r#"{"source_labels": ["a"], "regex": "some-([^-]+)-([^,]+)", "target_label": "${1}", "replacement": "${2}"}"#],
            want: Want::Kept(&[("a", "some-name-value"), ("name", "value")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace with an out-of-range group in the replacement leaves the target label unset",
            input: &[("a", "some-name-value")],
            rules: &[r#"{"source_labels": ["a"], "regex": "some-([^-]+)-([^,]+)", "target_label": "${1}", "replacement": "${3}"}"#],
            want: Want::Kept(&[("a", "some-name-value")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace does nothing when the target label expands to the empty name",
            input: &[("a", "some-name-0")],
            rules: &[
                r#"{"source_labels": ["a"], "regex": "some-([^-]+)-([^,]+)", "target_label": "${3}", "replacement": "${1}"}"#,
                r#"{"source_labels": ["a"], "regex": "some-([^-]+)(-[^,]+)", "target_label": "${3}", "replacement": "${1}"}"#,
            ],
            want: Want::Kept(&[("a", "some-name-0")]),
        },
        Case {
            name: "replace does nothing when the target label expands to an invalid label name",
            input: &[("a", "1abc"), ("b", "x-y")],
            rules: &[
                r#"{"source_labels": ["a"], "target_label": "${1}", "replacement": "set"}"#,
                r#"{"source_labels": ["b"], "target_label": "$1", "replacement": "set"}"#,
            ],
            want: Want::Kept(&[("a", "1abc"), ("b", "x-y")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "replace rules can pick apart a tag list",
            input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
            rules: &[
                r#"{"source_labels": ["__meta_sd_tags"], "regex": "(?:.+,|^)path:(/[^,]+).*", "target_label": "__metrics_path__", "replacement": "${1}"}"#,
                r#"{"source_labels": ["__meta_sd_tags"], "regex": "(?:.+,|^)job:([^,]+).*", "target_label": "job", "replacement": "${1}"}"#,
                r#"{"source_labels": ["__meta_sd_tags"], "regex": "(?:.+,|^)label:([^=]+)=([^,]+).*", "target_label": "${1}", "replacement": "${2}"}"#,
            ],
            want: Want::Kept(&[
                ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
                ("__metrics_path__", "/secret"),
                ("foo", "bar"),
                ("job", "some-job"),
            ]),
        },
        Case {
            name: "replace without source labels sets a static label",
            input: &[("a", "foo")],
            rules: &[r#"{"target_label": "cluster", "replacement": "dev-eu-1"}"#],
            want: Want::Kept(&[("a", "foo"), ("cluster", "dev-eu-1")]),
        },
        Case {
            name: "replace with the default regex and replacement copies the source label",
            input: &[("__meta_kubernetes_namespace", "shop")],
            rules: &[r#"{"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace"}"#],
            want: Want::Kept(&[("__meta_kubernetes_namespace", "shop"), ("namespace", "shop")]),
        },
        Case {
            name: "replace from a missing source label with the default replacement deletes the target label",
            input: &[("namespace", "old")],
            rules: &[r#"{"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}"#],
            want: Want::Kept(&[]),
        },
        Case {
            name: "replace sees a missing source label as the empty string",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["missing"], "regex": "", "target_label": "was_empty", "replacement": "yes"}"#],
            want: Want::Kept(&[("a", "foo"), ("was_empty", "yes")]),
        },
        Case {
            name: "the address rewrite puts the annotated port in place of the container port",
            input: &[
                ("__address__", "10.0.1.5:15090"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_port", "15020"),
            ],
            rules: &[ADDRESS_REWRITE],
            want: Want::Kept(&[
                ("__address__", "10.0.1.5:15020"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_port", "15020"),
            ]),
        },
        Case {
            name: "the address rewrite adds the annotated port to an address without one",
            input: &[
                ("__address__", "10.0.1.5"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_port", "8080"),
            ],
            rules: &[ADDRESS_REWRITE],
            want: Want::Kept(&[
                ("__address__", "10.0.1.5:8080"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_port", "8080"),
            ]),
        },
        Case {
            name: "the address rewrite keeps the address when the port annotation is missing",
            input: &[("__address__", "10.0.1.5:15090")],
            rules: &[ADDRESS_REWRITE],
            want: Want::Kept(&[("__address__", "10.0.1.5:15090")]),
        },
        Case {
            name: "the address rewrite keeps the address when the port annotation is not a number",
            input: &[
                ("__address__", "10.0.1.5:15090"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_port", "http"),
            ],
            rules: &[ADDRESS_REWRITE],
            want: Want::Kept(&[
                ("__address__", "10.0.1.5:15090"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_port", "http"),
            ]),
        },
        Case {
            name: "$1x in a replacement is the missing group named 1x and expands to nothing",
            input: &[("a", "foo"), ("t", "old")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(f)(o+)", "target_label": "t", "replacement": "$1x-${1}x"}"#],
            want: Want::Kept(&[("a", "foo"), ("t", "-fx")]),
        },
        Case {
            name: "$1x alone in a replacement deletes the target label",
            input: &[("a", "foo"), ("t", "old")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(f)(o+)", "target_label": "t", "replacement": "$1x"}"#],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "$$ in a replacement is a literal dollar sign",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(f).*", "target_label": "t", "replacement": "$$1 and $$$1"}"#],
            want: Want::Kept(&[("a", "foo"), ("t", "$1 and $f")]),
        },
        Case {
            name: "named groups expand as $name and ${name} and the dot matches a newline",
            // From Prometheus' relabel_test.go (its UTF-8 variant, with legacy names).
            input: &[("a", "line1\nline2")],
            rules: &[
                r#"{"source_labels": ["a"], "regex": "(line1).*(?<second>line2)", "target_label": "label1_${1}", "replacement": "val_${second}"}"#,
                r#"{"source_labels": ["a"], "regex": "(line1).*(?<second>line2)", "target_label": "label2_$1", "replacement": "val_$second"}"#,
            ],
            want: Want::Kept(&[("a", "line1\nline2"), ("label1_line1", "val_line2"), ("label2_line1", "val_line2")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "a reference to a group the regex does not have expands to nothing",
            input: &[("a", "line1\nline2")],
            rules: &[r#"{"source_labels": ["a"], "regex": "line1.*line2", "target_label": "d", "replacement": "match${1}"}"#],
            want: Want::Kept(&[("a", "line1\nline2"), ("d", "match")]),
        },
        Case {
            name: "a group that did not take part in the match expands to nothing",
            input: &[("a", "b")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(a)|(b)", "target_label": "t", "replacement": "[$1][$2]"}"#],
            want: Want::Kept(&[("a", "b"), ("t", "[][b]")]),
        },
        Case {
            name: "a capture group name may start with a digit as in Go, which makes $1x work",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(?P<1x>f)(o+)", "target_label": "t", "replacement": "$1x"}"#],
            want: Want::Kept(&[("a", "foo"), ("t", "f")]),
        },
        Case {
            name: "a name used by two groups refers to the one that matched",
            input: &[("a", "b")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(?P<n>a)|(?P<n>b)", "target_label": "t", "replacement": "<$n>"}"#],
            want: Want::Kept(&[("a", "b"), ("t", "<b>")]),
        },
        Case {
            // From Prometheus' relabel_test.go (issue 12283).
            name: "a label dropped by labeldrop can be set again by a later replace",
            input: &[
                ("__meta_kubernetes_pod_container_port_name", "foo"),
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ],
            rules: &[
                r#"{"regex": "^__meta_kubernetes_pod_container_port_name$", "action": "labeldrop"}"#,
                r#"{"source_labels": ["__meta_kubernetes_pod_annotation_XXX_metrics_port"], "regex": "(.+)", "target_label": "__meta_kubernetes_pod_container_port_name", "replacement": "metrics"}"#,
                r#"{"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "^metrics$", "action": "keep"}"#,
            ],
            want: Want::Kept(&[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ]),
        },
        // ---- keep / drop ----
        Case {
            // From Prometheus' relabel_test.go.
            name: "drop drops the target when the regex matches",
            input: &[("a", "foo"), ("b", "bar")],
            rules: &[r#"{"source_labels": ["a"], "regex": ".*o.*", "action": "drop"}"#],
            want: Want::Dropped(0),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "drop stops processing so later rules do not run",
            input: &[("a", "foo")],
            rules: &[
                r#"{"source_labels": ["a"], "regex": ".*o.*", "action": "drop"}"#,
                r#"{"source_labels": ["a"], "regex": "f(.*)", "target_label": "d", "replacement": "ch$1-ch$1"}"#,
            ],
            want: Want::Dropped(0),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "drop keeps the target when the regex does not match",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["a"], "regex": "no-match", "action": "drop"}"#],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "the regex is anchored so drop f|o keeps foo",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["a"], "regex": "f|o", "action": "drop"}"#],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "keep drops the target when the regex does not match",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["a"], "regex": "no-match", "action": "keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "keep keeps the target when the regex matches",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["a"], "regex": "f.*", "action": "keep"}"#],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "the regex is anchored so keep istio-proxy does not keep istio-proxy-2",
            input: &[("__meta_kubernetes_pod_container_name", "istio-proxy-2")],
            rules: &[r#"{"sourceLabels": ["__meta_kubernetes_pod_container_name"], "regex": "istio-proxy", "action": "Keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "a regex that closes the anchoring group itself matches only a prefix",
            input: &[("a", "abc")],
            rules: &[r#"{"source_labels": ["a"], "regex": "a)|(b", "action": "keep"}"#],
            want: Want::Kept(&[("a", "abc")]),
        },
        Case {
            name: "Unicode class names are matched loosely as Go 1.26 does",
            input: &[("a", "αβ"), ("b", "x1")],
            rules: &[
                r#"{"source_labels": ["a"], "regex": "\\p{greek}+", "action": "keep"}"#,
                r#"{"source_labels": ["b"], "regex": "\\p{Lowercase_Letter}\\p{digit}", "action": "keep"}"#,
            ],
            want: Want::Kept(&[("a", "αβ"), ("b", "x1")]),
        },
        Case {
            name: "keep istio-proxy keeps istio-proxy",
            input: &[("__meta_kubernetes_pod_container_name", "istio-proxy")],
            rules: &[r#"{"sourceLabels": ["__meta_kubernetes_pod_container_name"], "regex": "istio-proxy", "action": "Keep"}"#],
            want: Want::Kept(&[("__meta_kubernetes_pod_container_name", "istio-proxy")]),
        },
        Case {
            name: "the rule that drops is reported by its index",
            input: &[("a", "foo")],
            rules: &[
                r#"{"source_labels": ["a"], "regex": "foo", "action": "keep"}"#,
                r#"{"source_labels": ["a"], "regex": "bar", "action": "drop"}"#,
                r#"{"source_labels": ["a"], "regex": "bar", "action": "keep"}"#,
            ],
            want: Want::Dropped(2),
        },
        Case {
            name: "keep with a missing source label matches the regex against the empty string",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["missing"], "regex": ".+", "action": "keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "drop with the empty regex drops targets whose source label is missing",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["__meta_kubernetes_pod_label_name"], "regex": "", "action": "drop"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "drop with the empty regex keeps targets whose source label is set",
            input: &[("__meta_kubernetes_pod_label_name", "web")],
            rules: &[r#"{"source_labels": ["__meta_kubernetes_pod_label_name"], "regex": "", "action": "drop"}"#],
            want: Want::Kept(&[("__meta_kubernetes_pod_label_name", "web")]),
        },
        Case {
            name: "a null regex is the empty regex as in Prometheus",
            input: &[("__meta_kubernetes_pod_label_name", "web")],
            rules: &[r#"{"source_labels": ["__meta_kubernetes_pod_label_name"], "regex": null, "action": "keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "missing source labels in the middle join as empty strings",
            input: &[("a", "x"), ("b", "y")],
            rules: &[r#"{"source_labels": ["a", "missing", "b"], "separator": ",", "regex": "x,,y", "action": "keep"}"#],
            want: Want::Kept(&[("a", "x"), ("b", "y")]),
        },
        Case {
            name: "an empty separator joins the source values directly",
            input: &[("a", "x"), ("b", "y")],
            rules: &[r#"{"source_labels": ["a", "b"], "separator": "", "regex": "xy", "action": "keep"}"#],
            want: Want::Kept(&[("a", "x"), ("b", "y")]),
        },
        Case {
            name: "a label with an empty value counts as missing",
            input: &[("a", ""), ("b", "y")],
            rules: &[r#"{"source_labels": ["a", "b"], "regex": ";y", "action": "keep"}"#],
            want: Want::Kept(&[("b", "y")]),
        },
        Case {
            name: "labels with empty values are removed even without rules",
            input: &[("a", ""), ("b", "y")],
            rules: &[],
            want: Want::Kept(&[("b", "y")]),
        },
        // ---- keepequal / dropequal ----
        Case {
            // From Prometheus' relabel_test.go.
            name: "keepequal keeps the target when the source equals the target label",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: &[r#"{"source_labels": ["__tmp_port"], "action": "keepequal", "target_label": "__port1"}"#],
            want: Want::Kept(&[("__port1", "1234"), ("__port2", "5678"), ("__tmp_port", "1234")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "keepequal drops the target when the source differs from the target label",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: &[r#"{"source_labels": ["__tmp_port"], "action": "keepequal", "target_label": "__port2"}"#],
            want: Want::Dropped(0),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "dropequal drops the target when the source equals the target label",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: &[r#"{"source_labels": ["__tmp_port"], "action": "dropequal", "target_label": "__port1"}"#],
            want: Want::Dropped(0),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "dropequal keeps the target when the source differs from the target label",
            input: &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            rules: &[r#"{"source_labels": ["__tmp_port"], "action": "DropEqual", "target_label": "__port2"}"#],
            want: Want::Kept(&[("__port1", "1234"), ("__port2", "5678"), ("__tmp_port", "1234")]),
        },
        Case {
            name: "keepequal sees a missing target label as the empty string",
            input: &[("a", "foo")],
            rules: &[r#"{"source_labels": ["missing"], "action": "keepequal", "target_label": "also_missing"}"#],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "keepequal compares the joined value, not a regex match",
            input: &[("a", "x"), ("b", "y"), ("c", "x;y")],
            rules: &[r#"{"source_labels": ["a", "b"], "action": "keepequal", "target_label": "c"}"#],
            want: Want::Kept(&[("a", "x"), ("b", "y"), ("c", "x;y")]),
        },
        // ---- hashmod ----
        Case {
            // From Prometheus' relabel_test.go; 976 checked with python3 hashlib.
            name: "hashmod writes md5 of the value modulo the modulus",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: &[r#"{"source_labels": ["c"], "target_label": "d", "modulus": 1000, "action": "hashmod"}"#],
            want: Want::Kept(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
        },
        Case {
            // From Prometheus' relabel_test.go; 734 checked with python3 hashlib.
            name: "hashmod hashes values that contain a newline",
            input: &[("a", "foo\nbar")],
            rules: &[r#"{"source_labels": ["a"], "target_label": "b", "modulus": 1000, "action": "hashmod"}"#],
            want: Want::Kept(&[("a", "foo\nbar"), ("b", "734")]),
        },
        Case {
            // The operator's sharding rules; 1 checked with python3 hashlib.
            name: "hashmod then keep selects the targets of one shard",
            input: &[("__address__", "10.0.1.9:8080")],
            rules: &[
                r#"{"source_labels": ["__address__"], "target_label": "__tmp_hash", "modulus": 3, "action": "hashmod"}"#,
                r#"{"source_labels": ["__tmp_hash"], "regex": "1", "action": "keep"}"#,
            ],
            want: Want::Kept(&[("__address__", "10.0.1.9:8080"), ("__tmp_hash", "1")]),
        },
        Case {
            // 2 checked with python3 hashlib.
            name: "hashmod then keep drops the targets of the other shards",
            input: &[("__address__", "10.0.1.5:8080")],
            rules: &[
                r#"{"source_labels": ["__address__"], "target_label": "__tmp_hash", "modulus": 3, "action": "hashmod"}"#,
                r#"{"source_labels": ["__tmp_hash"], "regex": "1", "action": "keep"}"#,
            ],
            want: Want::Dropped(1),
        },
        Case {
            // 8 checked with python3 hashlib: md5("") mod 10.
            name: "hashmod of missing source labels hashes the empty string",
            input: &[],
            rules: &[r#"{"source_labels": ["missing"], "target_label": "h", "modulus": 10, "action": "hashmod"}"#],
            want: Want::Kept(&[("h", "8")]),
        },
        Case {
            // 17807758008517908031 checked with python3 hashlib.
            name: "hashmod joins the source labels and handles a modulus near 2^64",
            input: &[("ns", "ns"), ("pod", "pod")],
            rules: &[r#"{"source_labels": ["ns", "pod"], "target_label": "h", "modulus": 18446744073709551615, "action": "HashMod"}"#],
            want: Want::Kept(&[("h", "17807758008517908031"), ("ns", "ns"), ("pod", "pod")]),
        },
        // ---- labelmap ----
        Case {
            // From Prometheus' relabel_test.go.
            name: "labelmap copies matching labels to names built from the replacement",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: &[r#"{"regex": "(b.*)", "replacement": "bar_${1}", "action": "labelmap"}"#],
            want: Want::Kept(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "labelmap strips a prefix and keeps the original labels",
            input: &[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")],
            rules: &[r#"{"regex": "__meta_(my.*)", "replacement": "${1}", "action": "labelmap"}"#],
            want: Want::Kept(&[
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("a", "foo"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]),
        },
        Case {
            name: "labelmap with the default replacement turns pod labels into target labels",
            input: &[("__meta_kubernetes_pod_label_app", "web"), ("__meta_kubernetes_pod_label_tier", "front")],
            rules: &[r#"{"regex": "__meta_kubernetes_pod_label_(.+)", "action": "LabelMap"}"#],
            want: Want::Kept(&[
                ("__meta_kubernetes_pod_label_app", "web"),
                ("__meta_kubernetes_pod_label_tier", "front"),
                ("app", "web"),
                ("tier", "front"),
            ]),
        },
        Case {
            name: "labelmap overwrites an existing label",
            input: &[("__meta_kubernetes_pod_label_job", "from-pod"), ("job", "from-config")],
            rules: &[r#"{"regex": "__meta_kubernetes_pod_label_(.+)", "action": "labelmap"}"#],
            want: Want::Kept(&[("__meta_kubernetes_pod_label_job", "from-pod"), ("job", "from-pod")]),
        },
        Case {
            name: "labelmap maps only the labels that existed before it ran",
            input: &[("x_x_a", "1")],
            rules: &[r#"{"regex": "x_(.*)", "action": "labelmap"}"#],
            want: Want::Kept(&[("x_a", "1"), ("x_x_a", "1")]),
        },
        Case {
            name: "labelmap replaces every match when the regex escapes its anchors",
            input: &[("ab", "v")],
            rules: &[r#"{"regex": "a)|(b", "replacement": "_${1}_", "action": "labelmap"}"#],
            want: Want::Kept(&[("___b_", "v"), ("ab", "v")]),
        },
        // ---- labeldrop / labelkeep ----
        Case {
            // From Prometheus' relabel_test.go.
            name: "labelkeep removes the labels whose names do not match",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: &[r#"{"regex": "(b.*)", "action": "labelkeep"}"#],
            want: Want::Kept(&[("b1", "bar"), ("b2", "baz")]),
        },
        Case {
            // From Prometheus' relabel_test.go.
            name: "labeldrop removes the labels whose names match",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: &[r#"{"regex": "(b.*)", "action": "labeldrop"}"#],
            want: Want::Kept(&[("a", "foo")]),
        },
        Case {
            name: "labeldrop is anchored so regex b leaves b1 alone",
            input: &[("b", "x"), ("b1", "y")],
            rules: &[r#"{"regex": "b", "action": "LabelDrop"}"#],
            want: Want::Kept(&[("b1", "y")]),
        },
        // ---- lowercase / uppercase ----
        Case {
            // From Prometheus' relabel_test.go.
            name: "uppercase and lowercase write the case-mapped value",
            input: &[("foo", "bAr123Foo")],
            rules: &[
                r#"{"source_labels": ["foo"], "action": "uppercase", "target_label": "foo_uppercase"}"#,
                r#"{"source_labels": ["foo"], "action": "lowercase", "target_label": "foo_lowercase"}"#,
            ],
            want: Want::Kept(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")]),
        },
        Case {
            name: "uppercase maps one character to one character as Go does",
            input: &[("a", "straße ﬁ ᾳ ǆ")],
            rules: &[r#"{"source_labels": ["a"], "action": "Uppercase", "target_label": "b"}"#],
            want: Want::Kept(&[("a", "straße ﬁ ᾳ ǆ"), ("b", "STRAßE ﬁ ᾼ Ǆ")]),
        },
        Case {
            name: "lowercase maps dotted capital I to i and every sigma to σ as Go does",
            input: &[("a", "İSTANBUL ΟΔΟΣ")],
            rules: &[r#"{"source_labels": ["a"], "action": "lowercase", "target_label": "b"}"#],
            want: Want::Kept(&[("a", "İSTANBUL ΟΔΟΣ"), ("b", "istanbul οδοσ")]),
        },
        Case {
            name: "lowercase of a missing source label deletes the target label",
            input: &[("t", "old")],
            rules: &[r#"{"source_labels": ["missing"], "action": "lowercase", "target_label": "t"}"#],
            want: Want::Kept(&[]),
        },
        // ---- Go's regex dialect ----
        Case {
            name: "backslash d matches only ASCII digits as in Go",
            input: &[("a", "١٢")],
            rules: &[r#"{"source_labels": ["a"], "regex": "\\d+", "action": "keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "backslash w matches only ASCII word characters as in Go",
            input: &[("a", "é")],
            rules: &[r#"{"source_labels": ["a"], "regex": "\\w", "action": "keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "backslash s does not match a vertical tab as in Go",
            input: &[("a", "\u{b}")],
            rules: &[r#"{"source_labels": ["a"], "regex": "\\s", "action": "keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "backslash b is an ASCII word boundary as in Go",
            input: &[("a", "aé")],
            rules: &[r#"{"source_labels": ["a"], "regex": "a\\bé", "action": "keep"}"#],
            want: Want::Kept(&[("a", "aé")]),
        },
        Case {
            name: "a brace that does not start a repetition is a literal",
            input: &[("a", "foo{bar}"), ("b", "a{,3}")],
            rules: &[
                r#"{"source_labels": ["a"], "regex": "foo{bar}", "action": "keep"}"#,
                r#"{"source_labels": ["b"], "regex": "a{,3}", "action": "keep"}"#,
            ],
            want: Want::Kept(&[("a", "foo{bar}"), ("b", "a{,3}")]),
        },
        Case {
            name: "a bracket and double ampersand inside a class are literals",
            input: &[("a", "["), ("b", "&")],
            rules: &[
                r#"{"source_labels": ["a"], "regex": "[[]", "action": "keep"}"#,
                r#"{"source_labels": ["b"], "regex": "[a&&b]", "action": "keep"}"#,
            ],
            want: Want::Kept(&[("a", "["), ("b", "&")]),
        },
        Case {
            name: "Q to E quotes literal text",
            input: &[("a", "axb")],
            rules: &[r#"{"source_labels": ["a"], "regex": "\\Qa.b\\E", "action": "keep"}"#],
            want: Want::Dropped(0),
        },
        Case {
            name: "octal escapes and escaped angle brackets are characters",
            input: &[("a", "A<b>")],
            rules: &[r#"{"source_labels": ["a"], "regex": "\\101\\<b\\>", "action": "keep"}"#],
            want: Want::Kept(&[("a", "A<b>")]),
        },
        Case {
            name: "case-insensitive matching folds the Kelvin sign",
            input: &[("a", "\u{212a}eep")],
            rules: &[r#"{"source_labels": ["a"], "regex": "(?i)keep", "action": "keep"}"#],
            want: Want::Kept(&[("a", "\u{212a}eep")]),
        },
    ];

    fn run_case(case: &Case) -> Result<(), String> {
        let configs: Vec<RelabelConfig> = case
            .rules
            .iter()
            .map(|r| {
                RelabelConfig::compile(&spec(r))
                    .map_err(|e| format!("rule {r} does not compile: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let mut got = labels(case.input);
        let dropped = dropping_rule(&mut got, &configs);
        match (&case.want, dropped) {
            (Want::Kept(want), None) if got == labels(want) => Ok(()),
            (Want::Kept(want), None) => Err(format!("want {:?}, got {got:?}", labels(want))),
            (Want::Kept(_), Some(i)) => Err(format!("want kept, dropped by rule {i}")),
            (Want::Dropped(want), Some(i)) if *want == i => {
                // process() agrees with dropping_rule().
                let mut again = labels(case.input);
                if process(&mut again, &configs) {
                    Err("process() kept what dropping_rule() dropped".into())
                } else {
                    Ok(())
                }
            }
            (Want::Dropped(want), got) => Err(format!("want dropped by rule {want}, got {got:?}")),
        }
    }

    #[test]
    fn process_behaves_like_prometheus() {
        assert_unique_names(PROCESS_CASES.iter().map(|c| c.name));
        let failures: Vec<String> = PROCESS_CASES
            .iter()
            .filter_map(|c| run_case(c).err().map(|e| format!("{}: {e}", c.name)))
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn every_action_is_covered_by_the_process_cases() {
        let covered: Vec<Action> = PROCESS_CASES
            .iter()
            .flat_map(|c| c.rules.iter())
            .map(|r| {
                RelabelConfig::compile(&spec(r))
                    .expect("case rules compile")
                    .action()
            })
            .collect();
        for action in ALL_ACTIONS {
            assert!(covered.contains(&action), "no process case uses {action}");
        }
    }

    #[test]
    fn process_keeps_labels_when_there_are_no_rules() {
        let mut l = labels(&[("a", "1"), ("b", "2")]);
        assert!(process(&mut l, &[]));
        assert_eq!(l, labels(&[("a", "1"), ("b", "2")]));
    }

    // ---- compile errors ----

    struct ErrorCase {
        name: &'static str,
        rule: &'static str,
        want: RelabelError,
    }

    fn invalid_target(action: Action, target_label: &str) -> RelabelError {
        RelabelError::InvalidTargetLabel {
            action,
            target_label: target_label.to_string(),
        }
    }

    fn not_allowed(action: Action, field: &'static str) -> RelabelError {
        let allowed = match action {
            Action::KeepEqual | Action::DropEqual => {
                "'source_labels' (sourceLabels) and 'target_label' (targetLabel)"
            }
            _ => "'regex'",
        };
        RelabelError::FieldNotAllowed {
            action,
            field,
            allowed,
        }
    }

    fn invalid_regex(regex: &str, reason: &str) -> RelabelError {
        RelabelError::InvalidRegex {
            regex: regex.to_string(),
            reason: reason.to_string(),
        }
    }

    fn error_cases() -> Vec<ErrorCase> {
        use Action::*;
        vec![
            ErrorCase {
                name: "an unknown action is refused",
                rule: r#"{"action": "Explode", "target_label": "x"}"#,
                want: RelabelError::UnknownAction {
                    action: "Explode".into(),
                },
            },
            ErrorCase {
                name: "an empty action is refused",
                rule: r#"{"action": "", "target_label": "x"}"#,
                want: RelabelError::EmptyAction,
            },
            ErrorCase {
                name: "a null action is the empty action and is refused",
                rule: r#"{"action": null, "target_label": "x"}"#,
                want: RelabelError::EmptyAction,
            },
            ErrorCase {
                name: "a source label that is not a label name is refused",
                rule: r#"{"source_labels": ["app.kubernetes.io/name"], "target_label": "x"}"#,
                want: RelabelError::InvalidSourceLabel {
                    label: "app.kubernetes.io/name".into(),
                },
            },
            ErrorCase {
                name: "an empty source label is refused",
                rule: r#"{"source_labels": ["a", ""], "target_label": "x"}"#,
                want: RelabelError::InvalidSourceLabel { label: "".into() },
            },
            ErrorCase {
                name: "a regex with an unclosed group is refused",
                rule: r#"{"source_labels": ["a"], "regex": "(foo", "action": "keep"}"#,
                want: invalid_regex("(foo", "unclosed group"),
            },
            ErrorCase {
                name: "a regex with an unopened group is refused",
                rule: r#"{"source_labels": ["a"], "regex": "foo)", "action": "keep"}"#,
                want: invalid_regex("foo)", "unopened group"),
            },
            ErrorCase {
                name: "a regex with a backreference is refused",
                rule: r#"{"source_labels": ["a"], "regex": "(a)\\1", "action": "keep"}"#,
                want: invalid_regex("(a)\\1", "invalid escape sequence: `\\1`"),
            },
            ErrorCase {
                name: "a regex with a lookahead is refused",
                rule: r#"{"source_labels": ["a"], "regex": "(?=a)", "action": "keep"}"#,
                want: invalid_regex("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
            },
            ErrorCase {
                name: "a regex with the x flag is refused as Go does",
                rule: r#"{"source_labels": ["a"], "regex": "(?x) a", "action": "keep"}"#,
                want: invalid_regex("(?x) a", "invalid or unsupported Perl syntax: `(?x`"),
            },
            ErrorCase {
                name: "a regex with stacked repetitions is refused as Go does",
                rule: r#"{"source_labels": ["a"], "regex": "a**", "action": "keep"}"#,
                want: invalid_regex("a**", "invalid nested repetition operator: `**`"),
            },
            ErrorCase {
                name: "a regex with a counted repetition after a repetition is refused as Go does",
                rule: r#"{"source_labels": ["a"], "regex": "a{2}{3}", "action": "keep"}"#,
                want: invalid_regex("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
            },
            ErrorCase {
                name: "a regex repeat count above 1000 is refused as Go does",
                rule: r#"{"source_labels": ["a"], "regex": "a{1001}", "action": "keep"}"#,
                want: invalid_regex("a{1001}", "invalid repeat count: `{1001}`"),
            },
            ErrorCase {
                name: "a regex repeat range that runs backwards is refused",
                rule: r#"{"source_labels": ["a"], "regex": "a{2,1}", "action": "keep"}"#,
                want: invalid_regex("a{2,1}", "invalid repeat count: `{2,1}`"),
            },
            ErrorCase {
                name:
                    "a regex ending in a backslash escapes the closing parenthesis and is refused",
                rule: r#"{"source_labels": ["a"], "regex": "a\\", "action": "keep"}"#,
                want: invalid_regex("a\\", "unclosed group"),
            },
            ErrorCase {
                name: "an unterminated Q quote swallows the anchors and is refused",
                rule: r#"{"source_labels": ["a"], "regex": "\\Qa", "action": "keep"}"#,
                want: invalid_regex("\\Qa", "unclosed group"),
            },
            ErrorCase {
                name: "an unknown POSIX class is refused",
                rule: r#"{"source_labels": ["a"], "regex": "[[:foo:]]", "action": "keep"}"#,
                want: invalid_regex("[[:foo:]]", "invalid character class range: `[:foo:]`"),
            },
            ErrorCase {
                name: "a Unicode class name Go does not know is refused",
                rule: r#"{"source_labels": ["a"], "regex": "\\p{Latn}", "action": "keep"}"#,
                want: invalid_regex("\\p{Latn}", "invalid character class range: `\\p{Latn}`"),
            },
            ErrorCase {
                // A regression in Go 1.26, which current Prometheus is built with.
                name: "a script name with an underscore is refused as Go 1.26 does",
                rule: r#"{"source_labels": ["a"], "regex": "\\p{Old_Italic}", "action": "keep"}"#,
                want: invalid_regex(
                    "\\p{Old_Italic}",
                    "invalid character class range: `\\p{Old_Italic}`",
                ),
            },
            ErrorCase {
                name: "a backwards class range is refused",
                rule: r#"{"source_labels": ["a"], "regex": "[z-a]", "action": "keep"}"#,
                want: invalid_regex("[z-a]", "invalid character class range: `z-a`"),
            },
            ErrorCase {
                name: "nested counted repetitions above 1000 are refused as Go does",
                rule: r#"{"source_labels": ["a"], "regex": "(a{40}){30}", "action": "keep"}"#,
                want: invalid_regex("(a{40}){30}", "invalid repeat count: `{30}`"),
            },
            ErrorCase {
                name: "a capture group name with a dot is refused",
                rule: r#"{"source_labels": ["a"], "regex": "(?P<a.b>x)", "action": "keep"}"#,
                want: invalid_regex("(?P<a.b>x)", "invalid named capture: `(?P<a.b>`"),
            },
            ErrorCase {
                name: "hashmod without a modulus is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "h", "action": "hashmod"}"#,
                want: RelabelError::ZeroModulus,
            },
            ErrorCase {
                name: "hashmod with modulus zero is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "h", "modulus": 0, "action": "hashmod"}"#,
                want: RelabelError::ZeroModulus,
            },
            ErrorCase {
                name: "hashmod without a target label is refused",
                rule: r#"{"source_labels": ["a"], "modulus": 3, "action": "hashmod"}"#,
                want: RelabelError::MissingTargetLabel { action: HashMod },
            },
            ErrorCase {
                name: "replace without a target label is refused",
                rule: r#"{"source_labels": ["a"]}"#,
                want: RelabelError::MissingTargetLabel { action: Replace },
            },
            ErrorCase {
                name: "replace with an empty target label is refused",
                rule: r#"{"source_labels": ["a"], "targetLabel": ""}"#,
                want: RelabelError::MissingTargetLabel { action: Replace },
            },
            ErrorCase {
                name: "lowercase without a target label is refused",
                rule: r#"{"source_labels": ["a"], "action": "lowercase"}"#,
                want: RelabelError::MissingTargetLabel { action: Lowercase },
            },
            ErrorCase {
                name: "uppercase without a target label is refused",
                rule: r#"{"source_labels": ["a"], "action": "uppercase"}"#,
                want: RelabelError::MissingTargetLabel { action: Uppercase },
            },
            ErrorCase {
                name: "keepequal without a target label is refused",
                rule: r#"{"source_labels": ["a"], "action": "keepequal"}"#,
                want: RelabelError::MissingTargetLabel { action: KeepEqual },
            },
            ErrorCase {
                name: "dropequal without a target label is refused",
                rule: r#"{"source_labels": ["a"], "action": "dropequal"}"#,
                want: RelabelError::MissingTargetLabel { action: DropEqual },
            },
            ErrorCase {
                name: "replace into a target label with a dash is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "foo-bar"}"#,
                want: invalid_target(Replace, "foo-bar"),
            },
            ErrorCase {
                name: "replace into a target label starting with a digit is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "1abc"}"#,
                want: invalid_target(Replace, "1abc"),
            },
            ErrorCase {
                name: "replace into a templated target label with a dash is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "${1}-x"}"#,
                want: invalid_target(Replace, "${1}-x"),
            },
            ErrorCase {
                name: "replace into a target label that is only a dollar sign is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "$"}"#,
                want: invalid_target(Replace, "$"),
            },
            ErrorCase {
                name: "replace into a target label with empty braces is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "x${}"}"#,
                want: invalid_target(Replace, "x${}"),
            },
            ErrorCase {
                // From Prometheus' relabel_test.go (legacy validation).
                name: "lowercase into a templated target label is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "${3}", "action": "lowercase"}"#,
                want: invalid_target(Lowercase, "${3}"),
            },
            ErrorCase {
                name: "uppercase into an invalid target label is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "a.b", "action": "uppercase"}"#,
                want: invalid_target(Uppercase, "a.b"),
            },
            ErrorCase {
                name: "keepequal against an invalid target label is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "x-y", "action": "keepequal"}"#,
                want: invalid_target(KeepEqual, "x-y"),
            },
            ErrorCase {
                name: "dropequal against an invalid target label is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "$1", "action": "dropequal"}"#,
                want: invalid_target(DropEqual, "$1"),
            },
            ErrorCase {
                name: "hashmod into an invalid target label is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "__tmp-hash", "modulus": 3, "action": "hashmod"}"#,
                want: invalid_target(HashMod, "__tmp-hash"),
            },
            ErrorCase {
                name: "lowercase with a replacement is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "b", "replacement": "x", "action": "lowercase"}"#,
                want: RelabelError::ReplacementNotAllowed {
                    action: Lowercase,
                    replacement: "x".into(),
                },
            },
            ErrorCase {
                name: "uppercase with a replacement is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "b", "replacement": "${1}", "action": "uppercase"}"#,
                want: RelabelError::ReplacementNotAllowed {
                    action: Uppercase,
                    replacement: "${1}".into(),
                },
            },
            ErrorCase {
                name: "keepequal with an empty replacement is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "b", "replacement": "", "action": "keepequal"}"#,
                want: RelabelError::ReplacementNotAllowed {
                    action: KeepEqual,
                    replacement: "".into(),
                },
            },
            ErrorCase {
                name: "dropequal with a replacement is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "b", "replacement": "x", "action": "dropequal"}"#,
                want: RelabelError::ReplacementNotAllowed {
                    action: DropEqual,
                    replacement: "x".into(),
                },
            },
            ErrorCase {
                name: "labelmap with an empty replacement is refused",
                rule: r#"{"regex": "(.*)", "replacement": "", "action": "labelmap"}"#,
                want: RelabelError::InvalidLabelMapReplacement {
                    replacement: "".into(),
                },
            },
            ErrorCase {
                name: "labelmap with a replacement starting with a digit is refused",
                rule: r#"{"regex": "(.*)", "replacement": "1_$1", "action": "labelmap"}"#,
                want: RelabelError::InvalidLabelMapReplacement {
                    replacement: "1_$1".into(),
                },
            },
            ErrorCase {
                name: "labelmap with a replacement containing a dash is refused",
                rule: r#"{"regex": "(.*)", "replacement": "a-$1", "action": "labelmap"}"#,
                want: RelabelError::InvalidLabelMapReplacement {
                    replacement: "a-$1".into(),
                },
            },
            ErrorCase {
                name: "keepequal with an explicit regex is refused even when it is the default",
                rule: r#"{"source_labels": ["a"], "target_label": "b", "regex": "(.*)", "action": "keepequal"}"#,
                want: not_allowed(KeepEqual, "'regex'"),
            },
            ErrorCase {
                name: "dropequal with a modulus is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "b", "modulus": 3, "action": "dropequal"}"#,
                want: not_allowed(DropEqual, "'modulus'"),
            },
            ErrorCase {
                name: "keepequal with a custom separator is refused",
                rule: r#"{"source_labels": ["a"], "target_label": "b", "separator": ",", "action": "keepequal"}"#,
                want: not_allowed(KeepEqual, "'separator'"),
            },
            ErrorCase {
                name: "labeldrop with source labels is refused",
                rule: r#"{"source_labels": ["a"], "regex": "a", "action": "labeldrop"}"#,
                want: not_allowed(LabelDrop, "'source_labels' (sourceLabels)"),
            },
            ErrorCase {
                name: "labelkeep with a target label is refused",
                rule: r#"{"targetLabel": "a", "regex": "a", "action": "labelkeep"}"#,
                want: not_allowed(LabelKeep, "'target_label' (targetLabel)"),
            },
            ErrorCase {
                name: "labeldrop with a modulus is refused",
                rule: r#"{"modulus": 2, "regex": "a", "action": "labeldrop"}"#,
                want: not_allowed(LabelDrop, "'modulus'"),
            },
            ErrorCase {
                name: "labelkeep with a custom separator is refused",
                rule: r#"{"separator": "/", "regex": "a", "action": "labelkeep"}"#,
                want: not_allowed(LabelKeep, "'separator'"),
            },
            ErrorCase {
                name: "labeldrop with a replacement is refused",
                rule: r#"{"replacement": "x", "regex": "a", "action": "labeldrop"}"#,
                want: not_allowed(LabelDrop, "'replacement'"),
            },
        ]
    }

    #[test]
    fn compile_refuses_what_prometheus_refuses() {
        let cases = error_cases();
        assert_unique_names(cases.iter().map(|c| c.name));
        let failures: Vec<String> = cases
            .iter()
            .filter_map(|c| match RelabelConfig::compile(&spec(c.rule)) {
                Err(e) if e == c.want => None,
                Err(e) => Some(format!("{}: want {:?}, got {e:?}", c.name, c.want)),
                Ok(_) => Some(format!("{}: want {:?}, but it compiled", c.name, c.want)),
            })
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    const COMPILES: &[(&str, &str)] = &[
        ("an empty rule is a replace that still needs a target label, so a target label alone compiles", r#"{"target_label": "x"}"#),
        ("keepequal accepts the default separator and replacement written out", r#"{"source_labels": ["a"], "target_label": "b", "separator": ";", "replacement": "$1", "modulus": 0, "action": "keepequal"}"#),
        ("labeldrop accepts the default separator and replacement written out", r#"{"regex": "a", "separator": ";", "replacement": "$1", "modulus": 0, "action": "labeldrop"}"#),
        ("replace ignores a modulus", r#"{"source_labels": ["a"], "target_label": "b", "modulus": 5}"#),
        ("replace accepts templated target labels", r#"{"source_labels": ["a"], "regex": "(.)(.)", "target_label": "_${1}_$2foo${bar}foo"}"#),
        ("labelmap accepts a prefixed replacement", r#"{"regex": "__meta_kubernetes_pod_annotation_prometheus_io_param_(.+)", "replacement": "__param_$1", "action": "labelmap"}"#),
        ("uppercase accepts a plain target label", r#"{"source_labels": ["a"], "target_label": "A_1", "action": "UPPERCASE"}"#),
        ("an empty regex compiles", r#"{"source_labels": ["a"], "regex": "", "action": "drop"}"#),
        ("a regex with POSIX classes, Unicode classes and hex escapes compiles", r#"{"source_labels": ["a"], "regex": "[[:alpha:]\\p{Greek}\\x{263a}\\x41]+\\pL", "action": "keep"}"#),
        ("a regex with lazy repetitions compiles", r#"{"source_labels": ["a"], "regex": "a*?b+?c??d{1,2}?", "action": "keep"}"#),
        ("a regex with a named group in either syntax compiles", r#"{"source_labels": ["a"], "regex": "(?P<x>a)(?<y>b)", "action": "keep"}"#),
        ("a regex with scoped flags compiles", r#"{"source_labels": ["a"], "regex": "(?i)a(?-i:b)(?sU:c)(?m)^d$", "action": "keep"}"#),
        ("a regex with a repeat count of 1000 compiles", r#"{"source_labels": ["a"], "regex": "a{1000}", "action": "keep"}"#),
    ];

    #[test]
    fn compile_accepts_what_prometheus_accepts() {
        assert_unique_names(COMPILES.iter().map(|c| c.0));
        let failures: Vec<String> = COMPILES
            .iter()
            .filter_map(|(name, rule)| {
                RelabelConfig::compile(&spec(rule))
                    .err()
                    .map(|e| format!("{name}: {e}"))
            })
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn compile_errors_name_the_action_and_the_field() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"source_labels": ["a"]}"#,
                "replace action requires 'target_label' (targetLabel)",
            ),
            (
                r#"{"regex": "a", "separator": "/", "action": "labeldrop"}"#,
                "labeldrop action takes only 'regex'; remove 'separator'",
            ),
            (
                r#"{"source_labels": ["a"], "regex": "(foo", "action": "keep"}"#,
                "'regex' \"(foo\" does not compile: unclosed group",
            ),
            (
                r#"{"source_labels": ["a"], "target_label": "a-b", "action": "lowercase"}"#,
                "\"a-b\" is not a valid 'target_label' (targetLabel) for lowercase action (a label name starts with a letter or '_' and has only letters, digits and '_')",
            ),
            (
                r#"{"action": "keeep"}"#,
                "unknown relabel action \"keeep\": use one of replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase (any letter case)",
            ),
            (
                r#"{"source_labels": ["a"], "target_label": "h", "action": "hashmod"}"#,
                "hashmod action requires a 'modulus' greater than 0",
            ),
        ];
        for (rule, want) in cases {
            let err = RelabelConfig::compile(&spec(rule)).expect_err(rule);
            assert_eq!(err.to_string(), *want, "{rule}");
        }
    }

    // ---- deserialisation ----

    #[test]
    fn camel_case_and_snake_case_deserialise_to_the_same_spec() {
        let want = RelabelSpec {
            source_labels: vec!["__address__".into(), "__meta_port".into()],
            separator: Some("@".into()),
            target_label: Some("__address__".into()),
            regex: Some("(.+)@(.+)".into()),
            modulus: Some(7),
            replacement: Some("$1:$2".into()),
            action: Some("Replace".into()),
            source_labels_empty_list: false,
        };
        let camel = r#"{"sourceLabels": ["__address__", "__meta_port"], "separator": "@", "targetLabel": "__address__",
            "regex": "(.+)@(.+)", "modulus": 7, "replacement": "$1:$2", "action": "Replace"}"#;
        let snake = r#"{"source_labels": ["__address__", "__meta_port"], "separator": "@", "target_label": "__address__",
            "regex": "(.+)@(.+)", "modulus": 7, "replacement": "$1:$2", "action": "Replace"}"#;
        assert_eq!(spec(camel), want);
        assert_eq!(spec(snake), want);
    }

    #[test]
    fn absent_fields_are_none_and_compile_to_prometheus_defaults() {
        let s = spec(r#"{"target_label": "x"}"#);
        assert_eq!(
            s,
            RelabelSpec {
                target_label: Some("x".into()),
                ..RelabelSpec::default()
            }
        );
        let c = RelabelConfig::compile(&s).unwrap();
        assert_eq!(c.action(), Action::Replace);
        assert_eq!(
            (c.separator.as_str(), c.replacement.as_str(), c.modulus),
            (";", "$1", 0)
        );
        assert_eq!(c.regex.regex.as_str(), "^(?s:(.*))$");
        assert_eq!(c.spec(), &s);
    }

    #[test]
    fn unquoted_scalars_are_read_as_their_text_like_go_yaml() {
        let spec: RelabelSpec = serde_yaml_ng::from_str(
            "{source_labels: [a], regex: true, replacement: 9090, target_label: b}",
        )
        .unwrap();
        assert_eq!(spec.regex.as_deref(), Some("true"));
        assert_eq!(spec.replacement.as_deref(), Some("9090"));
        let mut labels = Labels::from([("a".to_string(), "true".to_string())]);
        assert!(process(
            &mut labels,
            &[RelabelConfig::compile(&spec).unwrap()]
        ));
        assert_eq!(labels["b"], "9090");
    }

    #[test]
    fn null_fields_are_the_empty_string_as_in_prometheus() {
        let s = spec(
            r#"{"source_labels": null, "separator": null, "target_label": null, "regex": null,
                "modulus": null, "replacement": null, "action": null}"#,
        );
        let empty = Some(String::new());
        assert_eq!(
            s,
            RelabelSpec {
                source_labels: vec![],
                separator: empty.clone(),
                target_label: empty.clone(),
                regex: empty.clone(),
                modulus: None,
                replacement: empty.clone(),
                action: empty,
                source_labels_empty_list: false,
            }
        );
    }

    #[test]
    fn action_names_are_case_insensitive() {
        let cases: &[(&str, Action)] = &[
            ("replace", Action::Replace),
            ("Keep", Action::Keep),
            ("DROP", Action::Drop),
            ("KeepEqual", Action::KeepEqual),
            ("dropEqual", Action::DropEqual),
            ("HashMod", Action::HashMod),
            ("LabelMap", Action::LabelMap),
            ("LabelDrop", Action::LabelDrop),
            ("labelKeep", Action::LabelKeep),
            ("Lowercase", Action::Lowercase),
            ("UpperCase", Action::Uppercase),
        ];
        for (name, want) in cases {
            assert_eq!(name.parse::<Action>().as_ref(), Ok(want), "{name}");
            assert_eq!(want.to_string(), name.to_lowercase());
        }
        assert_eq!(
            "keep ".parse::<Action>(),
            Err(RelabelError::UnknownAction {
                action: "keep ".into()
            })
        );
    }

    #[test]
    fn duplicate_fields_are_refused_and_unknown_fields_tolerated() {
        // A monitor's relabelings pass the apiserver's pruning: an unknown field never reaches the
        // operator, so it must not make the whole manifest unreadable here.
        let s: RelabelSpec = serde_json::from_str(r#"{"target": "x", "action": "keep"}"#).unwrap();
        assert_eq!(s.action.as_deref(), Some("keep"));
        let cases: &[(&str, &str)] = &[
            (
                r#"{"source_labels": ["a"], "sourceLabels": ["b"]}"#,
                "duplicate field `source_labels`",
            ),
            (r#"{"modulus": -1}"#, "invalid value"),
        ];
        for (json, want) in cases {
            let err = serde_json::from_str::<RelabelSpec>(json).expect_err(json);
            assert!(err.to_string().contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn serialising_writes_snake_case_and_leaves_out_unset_fields() {
        let s = spec(r#"{"sourceLabels": ["a"], "targetLabel": "b", "replacement": ""}"#);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"source_labels":["a"],"target_label":"b","replacement":""}"#
        );
        let back: RelabelSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn rendering_as_the_operator_does_drops_empty_regex_action_target_and_zero_modulus() {
        let s = spec(
            r#"{"sourceLabels": ["a"], "separator": "", "targetLabel": "", "regex": "",
                "modulus": 0, "replacement": "", "action": ""}"#,
        );
        assert_eq!(
            s.as_rendered_by_operator(),
            RelabelSpec {
                source_labels: vec!["a".into()],
                separator: Some(String::new()),
                target_label: None,
                regex: None,
                modulus: None,
                replacement: Some(String::new()),
                action: None,
                source_labels_empty_list: false,
            }
        );
        let kept = spec(r#"{"regex": "x", "action": "keep", "modulus": 2, "targetLabel": "t"}"#);
        assert_eq!(kept.as_rendered_by_operator(), kept);
    }

    // ---- pieces ----

    /// (regex, value, template, expansion), each checked against Go's Regexp.Expand.
    const EXPANSIONS: &[(&str, &str, &str, &str)] = &[
        ("(f)(o+)", "foo", "$1", "f"),
        ("(f)(o+)", "foo", "$2", "oo"),
        ("(f)(o+)", "foo", "${1}x", "fx"),
        ("(f)(o+)", "foo", "$1x", ""),
        ("(f)(o+)", "foo", "$1_", ""),
        ("(f)(o+)", "foo", "$1-", "f-"),
        ("(f)(o+)", "foo", "$1é", ""),
        ("(f)(o+)", "foo", "$1٣", ""),
        ("(f)(o+)", "foo", "$$1", "$1"),
        ("(f)(o+)", "foo", "$$$1", "$f"),
        ("(f)(o+)", "foo", "$", "$"),
        ("(f)(o+)", "foo", "x$", "x$"),
        ("(f)(o+)", "foo", "$-", "$-"),
        ("(f)(o+)", "foo", "${1", "${1"),
        ("(f)(o+)", "foo", "${}", "${}"),
        ("(f)(o+)", "foo", "${1 }", "${1 }"),
        ("(f)(o+)", "foo", "${1}}", "f}"),
        ("(f)(o+)", "foo", "$9", ""),
        ("(f)(o+)", "foo", "$0", "foo"),
        ("(f)(o+)", "foo", "$01", ""),
        ("(f)(o+)", "foo", "$99999999999999999999999", ""),
        ("(?P<x>f)(o+)", "foo", "$x", "f"),
        ("(?P<x>f)(o+)", "foo", "${x}oo", "foo"),
        ("(?P<x>f)(o+)", "foo", "$xo", ""),
        ("(?P<x>f)(o+)", "foo", "$y", ""),
        ("(a)|(b)", "b", "[$1][$2]", "[][b]"),
        ("(?P<1x>f)(o+)", "foo", "$1x", "f"),
        ("(?P<n>a)|(?P<n>b)", "b", "$n", "b"),
        ("(?P<n>a)|(?P<n>b)", "a", "${n}", "a"),
    ];

    #[test]
    fn templates_expand_like_go() {
        for (regex, value, template, want) in EXPANSIONS {
            let re = GoRegexp::compile_anchored(regex).unwrap();
            let caps = re.regex.captures(value).expect("test regex matches");
            assert_eq!(
                re.expand(template, &caps),
                *want,
                "{template:?} against {regex:?}"
            );
        }
    }

    #[test]
    fn replace_all_follows_go_for_labelmap() {
        // (regex, name, template, result), each checked against Go's ReplaceAllString.
        let cases: &[(&str, &str, &str, &str)] = &[
            ("__meta_(.+)", "__meta_x", "$1", "x"),
            ("a)|(b", "ab", "<$1>", "<><b>"),
            ("a)|(b", "xab", "<$1>", "xa<b>"),
            ("x*)|(y", "xxzy", "[$1]", "[]z[y]"),
            // The empty match at the end right after "aa" gets no replacement.
            ("a*)|(", "aa", "<$1>", "<>"),
            ("a*)|(", "ab", "<$1>", "<>b<>"),
        ];
        for (regex, name, template, want) in cases {
            let re = GoRegexp::compile_anchored(regex).unwrap();
            assert_eq!(
                re.replace_all(name, template),
                *want,
                "{regex:?} on {name:?}"
            );
        }
    }

    #[test]
    fn hashmod_takes_the_last_eight_md5_bytes_big_endian() {
        // Expected values computed with python3:
        // int.from_bytes(hashlib.md5(v.encode()).digest()[8:], 'big') % m
        let cases: &[(&str, u64, u64)] = &[
            ("baz", 1000, 976),
            ("foo\nbar", 1000, 734),
            ("10.0.1.2:8080", 3, 0),
            ("10.0.1.9:8080", 3, 1),
            ("10.0.1.5:8080", 3, 2),
            ("", 10, 8),
            ("ns;pod", u64::MAX, 17807758008517908031),
            ("ns;pod", 1, 0),
            ("x", 1 << 63, 8487128391145514918),
        ];
        for (value, modulus, want) in cases {
            assert_eq!(hash_mod(value, *modulus), *want, "{value:?} mod {modulus}");
        }
    }

    #[test]
    fn sanitize_label_name_replaces_each_other_character_with_underscore() {
        let cases: &[(&str, &str)] = &[
            ("app.kubernetes.io/name", "app_kubernetes_io_name"),
            ("a-b", "a_b"),
            ("already_OK_09", "already_OK_09"),
            ("ünïcode", "_n_code"),
            ("日本", "__"),
            ("9lives", "9lives"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_label_name(input), *want, "{input:?}");
        }
    }

    #[test]
    fn utf8_names_are_valid_under_the_prometheus_3_scheme_only() {
        let r = spec(
            r#"{"source_labels": ["app.kubernetes.io/name"], "target_label": "service.name"}"#,
        );
        assert!(matches!(
            RelabelConfig::compile(&r),
            Err(RelabelError::InvalidSourceLabel { .. })
        ));
        let c = RelabelConfig::compile_with(&r, NameScheme::Utf8).unwrap();
        let mut l: Labels = [("app.kubernetes.io/name".to_string(), "web".to_string())].into();
        assert!(process(&mut l, &[c]));
        assert_eq!(l.get("service.name").map(String::as_str), Some("web"));
        let empty = spec(r#"{"target_label": ""}"#);
        assert!(RelabelConfig::compile_with(&empty, NameScheme::Utf8).is_err());
    }

    #[test]
    fn label_names_are_checked_with_the_legacy_character_set() {
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("_", true),
            ("__address__", true),
            ("A_1", true),
            ("", false),
            ("1a", false),
            ("a-b", false),
            ("a.b", false),
            ("é", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_valid_label_name(name), *want, "{name:?}");
        }
    }

    #[test]
    fn templated_target_labels_are_checked_like_prometheus_legacy_scheme() {
        // From Prometheus' relabel_test.go (TestTargetLabelLegacyValidity).
        let cases: &[(&str, bool)] = &[
            ("-label", false),
            ("label", true),
            ("label${1}", true),
            ("${1}label", true),
            ("${1}", true),
            ("${", false),
            ("$", false),
            ("${}", false),
            ("foo${", false),
            ("$1", true),
            ("asd$2asd", true),
            ("-foo${1}bar-", false),
            ("bar.foo${1}bar", false),
            ("_${1}_", true),
            ("foo${bar}foo", true),
        ];
        for (target, want) in cases {
            assert_eq!(RELABEL_TARGET.is_match(target), *want, "{target:?}");
        }
    }

    #[test]
    fn go_case_mapping_is_one_character_for_one() {
        let cases: &[(&str, &str, &str)] = &[
            ("ABC abc", "abc abc", "ABC ABC"),
            ("ß", "ß", "ß"),
            ("ﬁ ŉ ǰ", "ﬁ ŉ ǰ", "ﬁ ŉ ǰ"),
            ("İ", "i", "İ"),
            ("ΣΑΣ", "σασ", "ΣΑΣ"),
            ("ᾀ ᾈ ᾳ ᾼ ῃ ῳ", "ᾀ ᾀ ᾳ ᾳ ῃ ῳ", "ᾈ ᾈ ᾼ ᾼ ῌ ῼ"),
            ("ǅ", "ǆ", "Ǆ"),
        ];
        for (input, lower, upper) in cases {
            assert_eq!(go_to_lower(input), *lower, "lower {input:?}");
            assert_eq!(go_to_upper(input), *upper, "upper {input:?}");
        }
    }

    #[test]
    fn go_regex_syntax_is_translated_to_the_same_meaning() {
        // (Go, regex crate). Each Go form compiles in Go; the translator as a
        // whole was checked against Go's regexp by differential testing.
        let cases: &[(&str, &str)] = &[
            (
                r"\d\D\w\W\s\S",
                r"[0-9][^0-9][0-9A-Za-z_][^0-9A-Za-z_][\t\n\f\r ][^\t\n\f\r ]",
            ),
            (r"[\d.]", r"[[0-9]\x{2E}]"),
            (r"\bx\B", r"(?-u:\b)x(?-u:\B)"),
            (r"foo{bar}", r"foo\{bar\}"),
            (r"a{,3}", r"a\{,3\}"),
            (r"a{2,}b{3}?", r"a{2,}b{3}?"),
            (r"[[&~]", r"[\x{5B}\x{26}\x{7E}]"),
            (r"[[:digit:]x-z]", r"[[:digit:]\x{78}-\x{7A}]"),
            (r"[]a-]", r"[\x{5D}\x{61}\x{2D}]"),
            (r"\Qa.b\E+", r"a\.b+"),
            (r"\0\12\101\1017", "\u{0}\nAA7"),
            (r"\<\>\_", r"<>_"),
            (
                r"\x{263a}\p{Greek}\p{^L}\PN",
                r"☺\p{sc=Greek}\P{gc=L}\P{gc=N}",
            ),
            (r"(?i)(?P<n>x)(?<m>y)", r"(?i)(x)(y)"),
            (r"(?i-i:a)(?)b(?sm-U)c", r"(?-i:a)b(?sm-U)c"),
            (r"a(?i)*", r"a*(?i)"),
        ];
        for (go, rust) in cases {
            let got = translate_go_regex(go).map(|t| t.pattern);
            assert_eq!(got.as_deref(), Ok(*rust), "{go:?}");
        }
    }
}
