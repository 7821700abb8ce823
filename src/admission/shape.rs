//! A schema model ("shape") and the two ways the API server walks an object against it:
//!
//! - [`decode`]: how a built-in kind is decoded into its Go type with `fieldValidation=Strict` — a value of
//!   the wrong JSON type or an unknown field is an error, `null` is always accepted (the zero value), and
//!   nothing else (enums, required fields, ranges) is checked here: the kind's validation code does that.
//! - [`validate_crd`]: how a custom resource is admitted — unknown fields (strict pruning), `null` for a
//!   non-nullable field dropped, defaults applied, then the OpenAPI value validations and the
//!   `x-kubernetes-validations` rules (written in Rust, see [`Rule`]).
//!
//! Shapes come from the k8s-openapi schemas of the built-in types ([`super::k8s`]), from our own
//! ScrapeIntent schema, and from Rust code written from the upstream CRD schemas ([`super::crds`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::{Path, Problems};

/// The JSON type a node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ty {
    /// Anything (no `type`, or `x-kubernetes-preserve-unknown-fields` without a type).
    #[default]
    Any,
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    /// `x-kubernetes-int-or-string`.
    IntOrString,
}

/// `format` values that change what is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Int32,
    Int64,
    /// RFC 3339 (metav1.Time).
    DateTime,
    /// Base64 ([]byte).
    Byte,
    /// resource.Quantity: a string or a number that parses as a quantity.
    Quantity,
    /// A CIDR (CRD `format: cidr`).
    Cidr,
    /// CRD `format: idn-hostname`.
    IdnHostname,
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ListType {
    #[default]
    Atomic,
    Set,
    Map(Vec<String>),
}

/// A validation rule of a CRD (`x-kubernetes-validations`), transcribed from its CEL expression: it sees
/// the node's value (after defaulting) and reports at `path`.
pub type Rule = fn(&Value, &Path, &mut Problems);

#[derive(Clone, Default)]
pub struct Shape {
    pub ty: Ty,
    pub format: Option<Format>,
    pub props: BTreeMap<String, Arc<Shape>>,
    /// Map values (`additionalProperties`).
    pub additional: Option<Arc<Shape>>,
    pub preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource`: apiVersion, kind and metadata are allowed and checked.
    pub embedded: bool,
    pub items: Option<Arc<Shape>>,
    pub required: Vec<String>,
    pub nullable: bool,
    pub enum_: Vec<Value>,
    pub pattern: Option<(String, Arc<Regex>)>,
    pub min_len: Option<usize>,
    pub max_len: Option<usize>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_min: bool,
    pub exclusive_max: bool,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub min_props: Option<usize>,
    pub max_props: Option<usize>,
    pub list: ListType,
    pub default: Option<Value>,
    pub one_of: Vec<Shape>,
    pub any_of: Vec<Shape>,
    /// `not` (value validation only).
    pub not: Option<Box<Shape>>,
    pub rules: Vec<(Rule, &'static str)>,
}

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shape")
            .field("ty", &self.ty)
            .field("props", &self.props.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Building shapes.

pub fn any() -> Shape {
    Shape::default()
}
pub fn string() -> Shape {
    Shape {
        ty: Ty::String,
        ..Shape::default()
    }
}
pub fn boolean() -> Shape {
    Shape {
        ty: Ty::Boolean,
        ..Shape::default()
    }
}
pub fn int32() -> Shape {
    Shape {
        ty: Ty::Integer,
        format: Some(Format::Int32),
        ..Shape::default()
    }
}
pub fn int64() -> Shape {
    Shape {
        ty: Ty::Integer,
        format: Some(Format::Int64),
        ..Shape::default()
    }
}
pub fn integer() -> Shape {
    Shape {
        ty: Ty::Integer,
        ..Shape::default()
    }
}
pub fn number() -> Shape {
    Shape {
        ty: Ty::Number,
        ..Shape::default()
    }
}
pub fn int_or_string() -> Shape {
    Shape {
        ty: Ty::IntOrString,
        ..Shape::default()
    }
}
pub fn array(items: Shape) -> Shape {
    Shape {
        ty: Ty::Array,
        items: Some(Arc::new(items)),
        ..Shape::default()
    }
}
pub fn array_of(items: &Arc<Shape>) -> Shape {
    Shape {
        ty: Ty::Array,
        items: Some(items.clone()),
        ..Shape::default()
    }
}
/// A map with values of one shape (`additionalProperties`).
pub fn map(values: Shape) -> Shape {
    Shape {
        ty: Ty::Object,
        additional: Some(Arc::new(values)),
        ..Shape::default()
    }
}
/// An object with exactly these properties.
pub fn obj<const N: usize>(props: [(&str, Shape); N]) -> Shape {
    Shape {
        ty: Ty::Object,
        props: props
            .into_iter()
            .map(|(k, v)| (k.to_string(), Arc::new(v)))
            .collect(),
        ..Shape::default()
    }
}
/// An object that keeps whatever it holds (`x-kubernetes-preserve-unknown-fields`).
pub fn open_object() -> Shape {
    Shape {
        ty: Ty::Object,
        preserve_unknown: true,
        ..Shape::default()
    }
}

impl Shape {
    pub fn arc(self) -> Arc<Shape> {
        Arc::new(self)
    }
    pub fn req(mut self, names: &[&str]) -> Shape {
        for n in names {
            if !self.required.iter().any(|r| r == n) {
                self.required.push(n.to_string());
            }
        }
        self
    }
    /// Adds (or replaces) properties.
    pub fn with<const N: usize>(mut self, props: [(&str, Shape); N]) -> Shape {
        for (k, v) in props {
            self.props.insert(k.to_string(), Arc::new(v));
        }
        self
    }
    pub fn with_arc(mut self, name: &str, s: &Arc<Shape>) -> Shape {
        self.props.insert(name.to_string(), s.clone());
        self
    }
    pub fn without(mut self, names: &[&str]) -> Shape {
        for n in names {
            self.props.remove(*n);
        }
        self
    }
    pub fn enums(mut self, values: &[&str]) -> Shape {
        self.enum_ = values
            .iter()
            .map(|v| Value::String(v.to_string()))
            .collect();
        self
    }
    /// A regular expression the string must match (unanchored, as in OpenAPI).
    pub fn pattern(mut self, re: &str) -> Shape {
        match Regex::new(re) {
            Ok(r) => self.pattern = Some((re.to_string(), Arc::new(r))),
            // A pattern the regex engine cannot read is not checked (never an error of the input).
            Err(_) => self.pattern = None,
        }
        self
    }
    pub fn min(mut self, v: f64) -> Shape {
        self.minimum = Some(v);
        self
    }
    pub fn max(mut self, v: f64) -> Shape {
        self.maximum = Some(v);
        self
    }
    pub fn min_len(mut self, n: usize) -> Shape {
        self.min_len = Some(n);
        self
    }
    pub fn max_len(mut self, n: usize) -> Shape {
        self.max_len = Some(n);
        self
    }
    pub fn min_items(mut self, n: usize) -> Shape {
        self.min_items = Some(n);
        self
    }
    pub fn max_items(mut self, n: usize) -> Shape {
        self.max_items = Some(n);
        self
    }
    pub fn min_props(mut self, n: usize) -> Shape {
        self.min_props = Some(n);
        self
    }
    pub fn max_props(mut self, n: usize) -> Shape {
        self.max_props = Some(n);
        self
    }
    pub fn set(mut self) -> Shape {
        self.list = ListType::Set;
        self
    }
    pub fn list_map(mut self, keys: &[&str]) -> Shape {
        self.list = ListType::Map(keys.iter().map(|k| k.to_string()).collect());
        self
    }
    pub fn defaulted(mut self, v: Value) -> Shape {
        self.default = Some(v);
        self
    }
    pub fn nullable(mut self) -> Shape {
        self.nullable = true;
        self
    }
    pub fn format(mut self, f: Format) -> Shape {
        self.format = Some(f);
        self
    }
    pub fn preserve(mut self) -> Shape {
        self.preserve_unknown = true;
        self
    }
    pub fn one_of(mut self, alts: Vec<Shape>) -> Shape {
        self.one_of = alts;
        self
    }
    pub fn any_of(mut self, alts: Vec<Shape>) -> Shape {
        self.any_of = alts;
        self
    }
    pub fn rule(mut self, r: Rule, message: &'static str) -> Shape {
        self.rules.push((r, message));
        self
    }
    /// An alternative of `oneOf`/`anyOf` that only requires properties.
    pub fn requiring(names: &[&str]) -> Shape {
        Shape::default().req(names)
    }
    /// An alternative `not: {anyOf: [{required: [names..]}]}`.
    pub fn not_requiring(names: &[&str]) -> Shape {
        Shape {
            not: Some(Box::new(Shape {
                any_of: vec![Shape::requiring(names)],
                ..Shape::default()
            })),
            ..Shape::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Numbers as the API server sees them. YAML reaches the API server through kubectl's YAML→JSON
// conversion, which writes a float with no fraction (`1.0`, `1e3`) as an integer: so does this.

/// The value as an integer, when it is one (or a float with no fractional part, within i64).
pub fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i)
            } else if n.as_u64().is_some() {
                None
            } else {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f.is_finite() && f.abs() < 9.2e18).then_some(f as i64)
            }
        }
        _ => None,
    }
}

pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => {
            if as_integer(v).is_some() {
                "integer"
            } else {
                "number"
            }
        }
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The value with its JSON type, for a message: `string "8080"`, `an array`.
pub fn a_value(v: &Value) -> String {
    match v {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        Value::Null => "null".into(),
        other => format!("{} {}", json_type(other), show(other)),
    }
}

/// The value as a short text for a message.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "object".into(),
        Value::Array(_) => "array".into(),
        other => {
            if let Some(i) = as_integer(other) {
                i.to_string()
            } else {
                other.to_string()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Go decoding (built-in kinds).

/// Decodes `v` as the API server decodes a built-in kind's JSON into its Go type, with strict field
/// validation: wrong JSON types and unknown fields are problems.
pub fn decode(shape: &Shape, v: &Value, path: &Path, out: &mut Problems) {
    decode_at(shape, v, &At::Path(path), out);
}

/// Where [`decode`] is in the value: the path it would name, built only when a problem names it (every
/// field of every object is visited, and a path string allocated for each was most of the decoding's
/// work on a repository of valid objects).
enum At<'a> {
    Path(&'a Path),
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
    MapKey(&'a At<'a>, &'a str),
}

impl At<'_> {
    fn path(&self) -> Path {
        match self {
            At::Path(p) => (*p).clone(),
            At::Key(up, k) => up.path().key(k),
            At::Index(up, i) => up.path().index(*i),
            At::MapKey(up, k) => up.path().map_key(k),
        }
    }
}

fn decode_at(shape: &Shape, v: &Value, at: &At<'_>, out: &mut Problems) {
    if v.is_null() {
        return;
    }
    if shape.format == Some(Format::Quantity) {
        decode_quantity(v, at, out);
        return;
    }
    let mismatch = |out: &mut Problems, want: &str| {
        out.push(
            &at.path(),
            format!(
                "cannot decode {} into a Go value of type {want}",
                a_value(v)
            ),
        )
    };
    match shape.ty {
        Ty::Any => {}
        // A []byte also decodes from an array of numbers 0-255 (encoding/json).
        Ty::String if shape.format == Some(Format::Byte) && v.is_array() => {
            let bytes = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
            if !bytes
                .iter()
                .all(|b| b.is_null() || as_integer(b).is_some_and(|n| (0..=255).contains(&n)))
            {
                mismatch(out, "[]byte");
            }
        }
        Ty::String => match v {
            Value::String(s) => match shape.format {
                Some(Format::DateTime) if !is_rfc3339(s) => out.push(
                    &at.path(),
                    format!(
                        "Invalid value: {s:?}: not an RFC 3339 time (2006-01-02T15:04:05Z07:00)"
                    ),
                ),
                Some(Format::Byte) if !is_base64(s) => out.push(
                    &at.path(),
                    "Invalid value: illegal base64 data (a []byte field holds standard base64)",
                ),
                _ => {}
            },
            _ => mismatch(out, "string"),
        },
        Ty::Boolean => {
            if !v.is_boolean() {
                mismatch(out, "bool")
            }
        }
        Ty::Integer => {
            let bits = if shape.format == Some(Format::Int32) {
                32
            } else {
                64
            };
            match as_integer(v) {
                Some(i) if bits == 32 && i32::try_from(i).is_err() => {
                    mismatch(out, "int32");
                }
                Some(_) => {}
                None => mismatch(out, if bits == 32 { "int32" } else { "int64" }),
            }
        }
        Ty::Number => {
            if !v.is_number() {
                mismatch(out, "float64")
            }
        }
        Ty::IntOrString => match v {
            Value::String(_) => {}
            _ => match as_integer(v) {
                Some(i) if i32::try_from(i).is_ok() => {}
                _ => mismatch(out, "intstr.IntOrString"),
            },
        },
        Ty::Array => match v {
            Value::Array(items) => {
                if let Some(item) = &shape.items {
                    for (i, x) in items.iter().enumerate() {
                        decode_at(item, x, &At::Index(at, i), out);
                    }
                }
            }
            _ => mismatch(out, "slice"),
        },
        Ty::Object => match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if let Some(p) = shape.props.get(k) {
                        decode_at(p, x, &At::Key(at, k), out);
                    } else if let Some(a) = &shape.additional {
                        decode_at(a, x, &At::MapKey(at, k), out);
                    } else if !shape.preserve_unknown {
                        out.push(
                            &At::Key(at, k).path(),
                            "unknown field (strict field validation)",
                        );
                    }
                }
            }
            _ => mismatch(
                out,
                if shape.additional.is_some() {
                    "map"
                } else {
                    "struct"
                },
            ),
        },
    }
}

fn decode_quantity(v: &Value, at: &At<'_>, out: &mut Problems) {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => {
            out.push(
                &at.path(),
                format!("cannot decode {} into a resource.Quantity", json_type(v)),
            );
            return;
        }
    };
    if !super::names::is_quantity(&text) {
        out.push(
            &at.path(),
            format!(
                "Invalid value: {text:?}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            ),
        );
    }
}

/// Go's `time.Parse(time.RFC3339, s)`.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let num = |r: std::ops::Range<usize>| -> u32 {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    if !(digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19))
    {
        return false;
    }
    let (month, day, hour, min, sec) =
        (num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    let year = num(0..4);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || min > 59 || sec > 59 {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] => true,
        [s, h1, h2, b':', m1, m2] if (*s == b'+' || *s == b'-') => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') < 24
                && (m1 - b'0') * 10 + (m2 - b'0') < 60
        }
        _ => false,
    }
}

/// Standard base64 with padding, as Go's encoding/json decodes a []byte (CR/LF ignored).
pub fn is_base64(s: &str) -> bool {
    let b: Vec<u8> = s.bytes().filter(|c| *c != b'\r' && *c != b'\n').collect();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let body_end = b.len() - b.iter().rev().take(2).take_while(|c| **c == b'=').count();
    if b[..body_end]
        .iter()
        .any(|c| !(c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/'))
    {
        return false;
    }
    // Non-zero trailing bits are refused by Go's strict decoder? No: Go's StdEncoding accepts them.
    true
}

// ---------------------------------------------------------------------------------------------------------
// Custom resources.

/// Admits a custom resource's value at `path` (after the metadata, which is decoded as ObjectMeta): strict
/// unknown fields, null pruning and defaulting (on `v`, in place), then the value validations. `skip` names
/// top-level properties whose values are not validated (a status the API server drops on create is still
/// decoded — unknown fields in it are errors — but not validated).
pub fn validate_crd(shape: &Shape, v: &mut Value, path: &Path, out: &mut Problems) {
    prune_and_default(shape, v, path, out);
    validate(shape, v, path, out);
}

/// Strict pruning (unknown fields are problems), then null pruning and defaulting, in place: what the
/// API server does to a custom resource before validating it.
pub fn prune_and_default(shape: &Shape, v: &mut Value, path: &Path, out: &mut Problems) {
    prune(Some(shape), v, path, true, out);
    default_nulls(shape, v, path);
}

/// The API server's pruning (apiextensions `pruning.prune`): type-agnostic — a mapping is pruned against
/// the properties of its schema whatever type the schema says, and an array's items against `items`
/// (none: everything in them is unknown); `x-kubernetes-preserve-unknown-fields` keeps unknown keys but
/// still prunes inside the known ones.
fn prune(shape: Option<&Shape>, v: &mut Value, path: &Path, root: bool, out: &mut Problems) {
    if let Some(s) = shape.filter(|s| s.preserve_unknown) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if s.embedded && is_meta_field(k) {
                        continue;
                    }
                    if let Some(p) = s.props.get(k) {
                        prune(Some(p), x, &path.key(k), false, out);
                    } else if let Some(a) = &s.additional {
                        prune(Some(a), x, &path.map_key(k), false, out);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = &s.items {
                    for (i, x) in items.iter_mut().enumerate() {
                        let sub = Shape {
                            preserve_unknown: true,
                            ..(**item).clone()
                        };
                        prune(Some(&sub), x, &path.index(i), false, out);
                    }
                }
            }
            _ => {}
        }
        return;
    }
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let Some(s) = shape else {
                    out.push(&path.key(&k), "unknown field (strict field validation)");
                    m.remove(&k);
                    continue;
                };
                if s.embedded && is_meta_field(&k) {
                    continue;
                }
                if let Some(p) = s.props.get(&k) {
                    if let Some(x) = m.get_mut(&k) {
                        prune(Some(p), x, &path.key(&k), false, out);
                    }
                } else if let Some(a) = &s.additional {
                    if let Some(x) = m.get_mut(&k) {
                        prune(Some(a), x, &path.map_key(&k), false, out);
                    }
                } else {
                    if !(root && is_meta_field(&k)) {
                        out.push(&path.key(&k), "unknown field (strict field validation)");
                    }
                    m.remove(&k);
                }
            }
        }
        Value::Array(items) => {
            let item = shape.and_then(|s| s.items.as_deref());
            for (i, x) in items.iter_mut().enumerate() {
                prune(item, x, &path.index(i), false, out);
            }
        }
        _ => {}
    }
}

fn is_meta_field(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

/// Null pruning and defaulting (apiextensions `PruneNonNullableNullsWithoutDefaults` and `Default`): a
/// null property or map value of a non-nullable schema is dropped, or replaced by the default; a missing
/// property with a default gets it; a null array item gets the items' default.
fn default_nulls(shape: &Shape, v: &mut Value, path: &Path) {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let sub = match shape.props.get(&k) {
                    Some(p) => Some(p),
                    None => shape.additional.as_ref(),
                };
                let Some(sub) = sub else {
                    continue;
                };
                if m.get(&k).is_some_and(Value::is_null) && !sub.nullable {
                    match &sub.default {
                        Some(d) => {
                            m.insert(k.clone(), d.clone());
                        }
                        None => {
                            m.remove(&k);
                            continue;
                        }
                    }
                }
                if let Some(x) = m.get_mut(&k) {
                    default_nulls(sub, x, &path.key(&k));
                }
            }
            for (k, p) in &shape.props {
                if !m.contains_key(k) {
                    if let Some(d) = &p.default {
                        let mut d = d.clone();
                        default_nulls(p, &mut d, &path.key(k));
                        m.insert(k.clone(), d);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &shape.items {
                for (i, x) in items.iter_mut().enumerate() {
                    if x.is_null() && !item.nullable {
                        if let Some(d) = &item.default {
                            *x = d.clone();
                        }
                    }
                    default_nulls(item, x, &path.index(i));
                }
            }
        }
        _ => {}
    }
}

/// The OpenAPI value validations of a structural schema, and the rules.
pub fn validate(shape: &Shape, v: &Value, path: &Path, out: &mut Problems) {
    if v.is_null() {
        if !shape.nullable && shape.ty != Ty::Any {
            out.push(
                path,
                format!(
                    "Invalid value: null: must be of type {}",
                    type_name(shape.ty)
                ),
            );
        }
        return;
    }
    let ok_type = match shape.ty {
        Ty::Any => true,
        Ty::Object => v.is_object(),
        Ty::Array => v.is_array(),
        Ty::String => v.is_string(),
        Ty::Integer => as_integer(v).is_some(),
        Ty::Number => v.is_number(),
        Ty::Boolean => v.is_boolean(),
        Ty::IntOrString => v.is_string() || as_integer(v).is_some(),
    };
    if !ok_type {
        out.push(
            path,
            format!(
                "Invalid value: {}: must be of type {}",
                a_value(v),
                type_name(shape.ty)
            ),
        );
        return;
    }
    if !shape.enum_.is_empty() && !shape.enum_.iter().any(|e| values_equal(e, v)) {
        let supported: Vec<String> = shape.enum_.iter().map(show).collect();
        out.push(
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                show(v),
                supported.join(", ")
            ),
        );
    }
    match v {
        Value::String(s) => {
            let n = s.chars().count();
            if let Some(min) = shape.min_len {
                if n < min {
                    out.push(
                        path,
                        format!("Invalid value: {s:?}: should be at least {min} chars long"),
                    );
                }
            }
            if let Some(max) = shape.max_len {
                if n > max {
                    out.push(path, format!("Too long: may not be more than {max} bytes"));
                }
            }
            if let Some((src, re)) = &shape.pattern {
                if !re.is_match(s) {
                    out.push(path, format!("Invalid value: {s:?}: should match '{src}'"));
                }
            }
            match shape.format {
                Some(Format::Cidr) if !super::names::is_cidr_go(s) => out.push(
                    path,
                    format!("Invalid value: {s:?}: must be of type cidr: {s:?}"),
                ),
                Some(Format::DateTime) if !is_rfc3339(s) && !is_strfmt_datetime(s) => out.push(
                    path,
                    format!("Invalid value: {s:?}: must be of type date-time: {s:?}"),
                ),
                Some(Format::Byte) if !is_base64(s) => out.push(
                    path,
                    format!("Invalid value: {s:?}: must be of type byte: {s:?}"),
                ),
                Some(Format::Quantity) if !super::names::is_quantity(s) => out.push(
                    path,
                    format!("Invalid value: {s:?}: should match the quantity syntax"),
                ),
                _ => {}
            }
        }
        Value::Number(_) => {
            if shape.ty == Ty::Integer {
                let fits = match (shape.format, as_integer(v)) {
                    (Some(Format::Int32), Some(i)) => i32::try_from(i).is_ok(),
                    (Some(Format::Int64), Some(_)) => true,
                    (Some(Format::Int32 | Format::Int64), None) => false,
                    _ => true,
                };
                if !fits {
                    let f = if shape.format == Some(Format::Int32) {
                        "int32"
                    } else {
                        "int64"
                    };
                    out.push(
                        path,
                        format!(
                            "Invalid value: {}: must be of type integer with format {f}",
                            show(v)
                        ),
                    );
                }
            }
            let x = v.as_f64().unwrap_or(0.0);
            if let Some(min) = shape.minimum {
                if x < min || (shape.exclusive_min && x <= min) {
                    out.push(
                        path,
                        format!(
                            "Invalid value: {}: should be greater than or equal to {min}",
                            show(v)
                        ),
                    );
                }
            }
            if let Some(max) = shape.maximum {
                if x > max || (shape.exclusive_max && x >= max) {
                    out.push(
                        path,
                        format!(
                            "Invalid value: {}: should be less than or equal to {max}",
                            show(v)
                        ),
                    );
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = shape.min_items {
                if items.len() < min {
                    out.push(
                        path,
                        format!(
                            "Invalid value: {}: should have at least {min} items",
                            items.len()
                        ),
                    );
                }
            }
            if let Some(max) = shape.max_items {
                if items.len() > max {
                    out.push(
                        path,
                        format!("Too many: {}: must have at most {max} items", items.len()),
                    );
                }
            }
            if let Some(item) = &shape.items {
                for (i, x) in items.iter().enumerate() {
                    validate(item, x, &path.index(i), out);
                }
            }
            match &shape.list {
                ListType::Atomic => {}
                ListType::Set => {
                    for (i, x) in items.iter().enumerate() {
                        if items[..i].iter().any(|y| values_equal(x, y)) {
                            out.push(&path.index(i), format!("Duplicate value: {}", show(x)));
                        }
                    }
                }
                ListType::Map(keys) => {
                    let key_of = |x: &Value| -> Vec<Value> {
                        keys.iter()
                            .map(|k| x.get(k.as_str()).cloned().unwrap_or(Value::Null))
                            .collect()
                    };
                    for (i, x) in items.iter().enumerate() {
                        if !x.is_object() {
                            continue;
                        }
                        let kx = key_of(x);
                        if items[..i]
                            .iter()
                            .filter(|y| y.is_object())
                            .any(|y| key_of(y).iter().zip(&kx).all(|(a, b)| values_equal(a, b)))
                        {
                            let shown: Vec<String> = keys
                                .iter()
                                .zip(&kx)
                                .map(|(k, v)| format!("{k}={}", show(v)))
                                .collect();
                            out.push(
                                &path.index(i),
                                format!("Duplicate value: {{{}}}", shown.join(", ")),
                            );
                        }
                    }
                }
            }
        }
        Value::Object(m) => {
            for r in &shape.required {
                if !m.contains_key(r) {
                    out.push(&path.key(r), "Required value");
                }
            }
            if let Some(min) = shape.min_props {
                if m.len() < min {
                    out.push(
                        path,
                        format!(
                            "Invalid value: {}: should have at least {min} properties",
                            m.len()
                        ),
                    );
                }
            }
            if let Some(max) = shape.max_props {
                if m.len() > max {
                    out.push(
                        path,
                        format!("Too many: {}: must have at most {max} items", m.len()),
                    );
                }
            }
            for (k, x) in m {
                if let Some(p) = shape.props.get(k) {
                    validate(p, x, &path.key(k), out);
                } else if let Some(a) = &shape.additional {
                    validate(a, x, &path.map_key(k), out);
                }
            }
        }
        _ => {}
    }
    if !shape.any_of.is_empty() && !shape.any_of.iter().any(|alt| passes(alt, v, path)) {
        let why = match required_alternatives(&shape.any_of) {
            Some(names) => format!("at least one of {names} is required (anyOf)"),
            None => "must validate at least one schema (anyOf)".to_string(),
        };
        out.push(path, format!("Invalid value: {}: {why}", show(v)));
    }
    if let Some(not) = &shape.not {
        if passes(not, v, path) {
            out.push(
                path,
                format!(
                    "Invalid value: {}: must not validate the schema (not)",
                    show(v)
                ),
            );
        }
    }
    if !shape.one_of.is_empty() {
        let n = shape
            .one_of
            .iter()
            .filter(|alt| passes(alt, v, path))
            .count();
        if n != 1 {
            let why = match required_alternatives(&shape.one_of) {
                Some(names) => format!("exactly one of {names} is required (oneOf); {n} given"),
                None => format!("must validate one and only one schema (oneOf); {n} matched"),
            };
            out.push(path, format!("Invalid value: {}: {why}", show(v)));
        }
    }
    for (rule, _) in &shape.rules {
        rule(v, path, out);
    }
}

/// `a, b, c` when every alternative only requires one field.
fn required_alternatives(alts: &[Shape]) -> Option<String> {
    alts.iter()
        .map(
            |a| match (a.required.as_slice(), a.props.is_empty() && a.not.is_none()) {
                ([one], true) => Some(one.clone()),
                _ => None,
            },
        )
        .collect::<Option<Vec<String>>>()
        .map(|v| v.join(", "))
}

/// Whether a value passes a (value-validation only) alternative of `oneOf`/`anyOf`.
fn passes(alt: &Shape, v: &Value, path: &Path) -> bool {
    let mut p = Problems::default();
    validate(alt, v, path, &mut p);
    p.is_empty()
}

fn type_name(t: Ty) -> &'static str {
    match t {
        Ty::Any => "any",
        Ty::Object => "object",
        Ty::Array => "array",
        Ty::String => "string",
        Ty::Integer => "integer",
        Ty::Number => "number",
        Ty::Boolean => "boolean",
        Ty::IntOrString => "integer or string",
    }
}

/// Equality of JSON values with integral floats equal to integers.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (as_integer(a), as_integer(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a.as_f64() == b.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// go-openapi strfmt's date-time: RFC 3339 and a few looser forms (no seconds fraction rules).
fn is_strfmt_datetime(s: &str) -> bool {
    is_rfc3339(s)
}

/// An object with these entries (for tests and rules).
#[allow(dead_code)]
pub fn object(entries: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(k.to_string(), v.clone());
    }
    Value::Object(m)
}
