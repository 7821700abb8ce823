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
//! * The regex is RE2 and fully anchored: `regex: istio-proxy` does not match
//!   `istio-proxy-2`. It is compiled as `^(?s:<regex>)$`, so `.` also matches a
//!   newline. Go's RE2 dialect is translated to the `regex` crate's where the two
//!   differ (`\d`, `\w`, `\s` and `\b` are ASCII-only in Go; a `{` that does not
//!   start a repetition is a literal; octal escapes, `\Q...\E`, a literal `[`, `&&`
//!   and `~~` inside a class; stacked repetitions such as `a**` and counts above
//!   1000 are errors).
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
use std::sync::LazyLock;

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
/// allows both `Keep` and `keep`). Unknown fields are rejected, as Prometheus
/// rejects them.
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
#[serde(default, deny_unknown_fields)]
pub struct RelabelSpec {
    #[serde(
        alias = "sourceLabels",
        deserialize_with = "null_as_empty_list",
        skip_serializing_if = "Vec::is_empty"
    )]
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
}

/// A present field whose value is `null` is Go's zero value: the empty string.
fn null_as_empty_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?.unwrap_or_default()))
}

fn null_as_empty_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
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

    /// Case-insensitive, like Prometheus (which lower-cases with Unicode rules).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(RelabelError::EmptyAction);
        }
        let lower = s.to_lowercase();
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

/// A validated, compiled rule.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    spec: RelabelSpec,
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    modulus: u64,
    target_label: String,
    replacement: String,
}

impl RelabelConfig {
    /// Validates `spec` as Prometheus does when it loads its configuration (with
    /// the legacy label-name scheme) and compiles its regex.
    pub fn compile(spec: &RelabelSpec) -> Result<Self, RelabelError> {
        use Action::*;

        let action = match &spec.action {
            None => Replace,
            Some(a) => a.parse()?,
        };
        if let Some(label) = spec.source_labels.iter().find(|l| !is_valid_label_name(l)) {
            return Err(RelabelError::InvalidSourceLabel {
                label: label.clone(),
            });
        }
        let regex_src = spec.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let regex = compile_anchored(regex_src).map_err(|reason| RelabelError::InvalidRegex {
            regex: regex_src.to_string(),
            reason,
        })?;
        let separator = spec.separator.as_deref().unwrap_or(DEFAULT_SEPARATOR);
        let target_label = spec.target_label.as_deref().unwrap_or("");
        let replacement = spec.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT);
        let modulus = spec.modulus.unwrap_or(0);

        // The checks, and their order, are those of Prometheus' Config.Validate.
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
                RELABEL_TARGET.is_match(target_label)
            } else {
                is_valid_label_name(target_label)
            };
            if !valid {
                return Err(invalid_target());
            }
        }
        let plain_target = matches!(
            action,
            Lowercase | Uppercase | KeepEqual | DropEqual | HashMod
        );
        if plain_target && !is_valid_label_name(target_label) {
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
        if action == LabelMap && !RELABEL_TARGET.is_match(replacement) {
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
            if !spec.source_labels.is_empty() {
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
                    let target = go_expand(&self.target_label, &caps);
                    if is_valid_label_name(&target) {
                        let replacement = go_expand(&self.replacement, &caps);
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
                // validate the new name.
                let matching: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(name, _)| self.regex.is_match(name))
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect();
                for (name, value) in matching {
                    let new_name = go_replace_all(&self.regex, &name, &self.replacement);
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

/// Expands `template` against `caps` with Go's `Regexp.Expand` rules.
fn go_expand(template: &str, caps: &Captures<'_>) -> String {
    let mut out = String::new();
    go_expand_into(&mut out, template, caps);
    out
}

fn go_expand_into(out: &mut String, template: &str, caps: &Captures<'_>) {
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
        // anything else is a group name. Unknown groups expand to nothing.
        let is_number =
            name.bytes().all(|b| b.is_ascii_digit()) && (name == "0" || !name.starts_with('0'));
        let group = if is_number {
            name.parse::<usize>().ok().and_then(|i| caps.get(i))
        } else {
            caps.name(name)
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
}

/// Go's `Regexp.ReplaceAllString(src, template)`, which labelmap uses.
fn go_replace_all(re: &Regex, src: &str, template: &str) -> String {
    let mut out = String::new();
    let mut last_end = 0;
    let mut search = 0;
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let whole = caps.get(0).expect("group 0 always participates");
        out.push_str(&src[last_end..whole.start()]);
        // No replacement for an empty match right after the previous match.
        if whole.end() > last_end || whole.start() == 0 {
            go_expand_into(&mut out, template, &caps);
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

/// md5 of the value; the last 8 bytes as a big-endian integer, mod `modulus`.
fn hash_mod(value: &str, modulus: u64) -> u64 {
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

/// Compiles `regex` the way Prometheus does: `^(?s:<regex>)$`, in Go's RE2 dialect.
fn compile_anchored(regex: &str) -> Result<Regex, String> {
    let translated = translate_go_regex(regex)?;
    Regex::new(&format!("^(?s:{translated})$")).map_err(|e| {
        // Prefer the error about the text the user wrote, without the anchors.
        let err = Regex::new(&translated).err().unwrap_or(e);
        let msg = err.to_string();
        match msg.rsplit_once("error: ") {
            Some((_, reason)) => reason.trim().to_string(),
            None => msg.trim().to_string(),
        }
    })
}

/// Rewrites a Go (RE2) regex into the `regex` crate's syntax with the same
/// meaning, or says why Go would refuse it where the `regex` crate would not.
fn translate_go_regex(src: &str) -> Result<String, String> {
    let chars: Vec<char> = src.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(src.len() + 8);
    let mut i = 0;
    // Inside `[...]`: index of the first character of the class body.
    let mut class_body: Option<usize> = None;
    // Whether the previous token was a repetition (Go refuses `a**`, `a{2}{3}`).
    let mut after_repeat = false;

    while i < n {
        let c = chars[i];
        if let Some(body) = class_body {
            match c {
                '\\' if i + 1 < n => {
                    i = translate_escape(&chars, i, true, &mut out)?;
                    continue;
                }
                ']' if i != body => class_body = None,
                '[' if chars.get(i + 1) == Some(&':') => {
                    // `[:alpha:]` is a POSIX class in both dialects.
                    let close = (i + 2..n.saturating_sub(1))
                        .find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                    if let Some(close) = close {
                        out.extend(&chars[i..close + 2]);
                        i = close + 2;
                        continue;
                    }
                    out.push('\\');
                }
                // A literal in Go; nesting or a set operator for the regex crate.
                '[' | '&' | '~' => out.push('\\'),
                _ => {}
            }
            out.push(c);
            i += 1;
            continue;
        }

        let mut is_repeat = false;
        match c {
            '\\' if i + 1 < n => {
                i = translate_escape(&chars, i, false, &mut out)?;
                after_repeat = false;
                continue;
            }
            '[' => {
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class_body = Some(i);
                after_repeat = false;
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                check_group_flags(&chars[i + 2..])?;
                out.push_str("(?");
                i += 2;
                after_repeat = false;
                continue;
            }
            '*' | '+' | '?' => is_repeat = true,
            '{' => match parse_repeat(&chars[i..]) {
                Some((len, min, max)) => {
                    if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
                        let text: String = chars[i..i + len].iter().collect();
                        return Err(format!("invalid repeat count: `{text}`"));
                    }
                    if after_repeat {
                        return Err("invalid nested repetition operator".to_string());
                    }
                    out.extend(&chars[i..i + len]);
                    i += len;
                    if chars.get(i) == Some(&'?') {
                        out.push('?');
                        i += 1;
                    }
                    after_repeat = true;
                    continue;
                }
                // Not a repetition: a literal `{` in Go.
                None => out.push('\\'),
            },
            _ => {}
        }
        if is_repeat {
            if after_repeat {
                return Err(format!("invalid nested repetition operator: `{c}`"));
            }
            out.push(c);
            i += 1;
            // A trailing `?` makes the repetition non-greedy.
            if chars.get(i) == Some(&'?') {
                out.push('?');
                i += 1;
            }
            after_repeat = true;
            continue;
        }
        out.push(c);
        after_repeat = false;
        i += 1;
    }
    Ok(out)
}

/// Translates the escape at `chars[i]` (a backslash with something after it)
/// and returns the index after it.
fn translate_escape(
    chars: &[char],
    i: usize,
    in_class: bool,
    out: &mut String,
) -> Result<usize, String> {
    let e = chars[i + 1];
    // Go's \d \w \s and \b are ASCII-only; its \s has no \v.
    let ascii = match e {
        'd' => Some("[0-9]"),
        'D' => Some("[^0-9]"),
        'w' => Some("[0-9A-Za-z_]"),
        'W' => Some("[^0-9A-Za-z_]"),
        's' => Some(r"[\t\n\f\r ]"),
        'S' => Some(r"[^\t\n\f\r ]"),
        'b' if !in_class => Some(r"(?-u:\b)"),
        'B' if !in_class => Some(r"(?-u:\B)"),
        // Plain punctuation in Go, word boundaries for the regex crate.
        '<' => Some("<"),
        '>' => Some(">"),
        _ => None,
    };
    if let Some(ascii) = ascii {
        out.push_str(ascii);
        return Ok(i + 2);
    }
    if matches!(e, 'x' | 'p' | 'P') && chars.get(i + 2) == Some(&'{') {
        // `\x{263a}`, `\p{Greek}`: the braces belong to the escape.
        let close = (i + 3..chars.len()).find(|&j| chars[j] == '}');
        let end = close.map_or(chars.len(), |j| j + 1);
        out.extend(&chars[i..end]);
        return Ok(end);
    }
    if e == 'Q' && !in_class {
        // \Q...\E quotes literal text (to the end when there is no \E).
        let start = i + 2;
        let end = (start..chars.len().saturating_sub(1))
            .find(|&j| chars[j] == '\\' && chars[j + 1] == 'E');
        let literal: String = chars[start..end.unwrap_or(chars.len())].iter().collect();
        out.push_str(&regex::escape(&literal));
        return Ok(end.map_or(chars.len(), |j| j + 2));
    }
    // Octal: \0, \0N, \0NN, or \NN... starting with 1-7 (a lone \1 is a
    // backreference, which both dialects refuse).
    let is_octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
    if e == '0' || (('1'..='7').contains(&e) && is_octal(chars.get(i + 2))) {
        let mut j = i + 2;
        let mut value = e.to_digit(8).unwrap_or(0);
        while j < i + 4 && is_octal(chars.get(j)) {
            value = value * 8 + chars[j].to_digit(8).unwrap_or(0);
            j += 1;
        }
        out.push_str(&format!("\\x{{{value:X}}}"));
        return Ok(j);
    }
    out.push('\\');
    out.push(e);
    Ok(i + 2)
}

/// Go accepts only the flags `i`, `m`, `s` and `U` in `(?flags)` and
/// `(?flags:...)`; the regex crate also has `u`, `x` and `R`.
fn check_group_flags(after: &[char]) -> Result<(), String> {
    if matches!(after.first(), Some('P' | '<')) {
        return Ok(()); // named group
    }
    for &c in after {
        match c {
            ':' | ')' => return Ok(()),
            'i' | 'm' | 's' | 'U' | '-' => {}
            _ => return Err(format!("invalid or unsupported Perl syntax: `(?{c}`")),
        }
    }
    Ok(())
}

/// `{n}`, `{n,}` or `{n,m}` at the start of `chars`: (length, n, m).
fn parse_repeat(chars: &[char]) -> Option<(usize, u64, Option<u64>)> {
    fn number(chars: &[char], i: &mut usize) -> Option<u64> {
        let start = *i;
        while chars.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        // Saturate: anything this large is refused as over 1000 anyway.
        Some(chars[start..*i].iter().fold(0u64, |acc, d| {
            acc.saturating_mul(10)
                .saturating_add(u64::from(*d as u8 - b'0'))
        }))
    }
    let mut i = 1;
    let min = number(chars, &mut i)?;
    let max = if chars.get(i) == Some(&',') {
        i += 1;
        if chars.get(i) == Some(&'}') {
            None
        } else {
            Some(number(chars, &mut i)?)
        }
    } else {
        Some(min)
    };
    (chars.get(i) == Some(&'}')).then_some((i + 1, min, max))
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
            name: "replace with an out-of-range group in the replacement deletes nothing that is not there",
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

    // ORACLE-BEGIN (temporary, removed before shipping)
    fn oracle(lines: &[serde_json::Value]) -> Vec<serde_json::Value> {
        use std::io::Write;
        let mut child = std::process::Command::new("/tmp/promoracle/oracle")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut stdin = child.stdin.take().unwrap();
            for l in lines {
                writeln!(stdin, "{l}").unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn oracle_process_cases() {
        let lines: Vec<serde_json::Value> = PROCESS_CASES
            .iter()
            .map(|c| {
                let rules: Vec<serde_json::Value> = c
                    .rules
                    .iter()
                    .map(|r| serde_json::from_str(r).unwrap())
                    .collect();
                serde_json::json!({"labels": labels(c.input), "rules": rules})
            })
            .collect();
        let res = oracle(&lines);
        let mut bad = vec![];
        for (c, r) in PROCESS_CASES.iter().zip(res) {
            let ok = match &c.want {
                Want::Kept(w) => r["kept"] == true && r["labels"] == serde_json::json!(labels(w)),
                Want::Dropped(_) => r["kept"] == false,
            };
            if !ok {
                bad.push(format!("{}: oracle says {r}", c.name));
            }
        }
        assert!(bad.is_empty(), "\n{}", bad.join("\n"));
    }
    // ORACLE-END
}
