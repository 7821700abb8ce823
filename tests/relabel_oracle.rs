//! Relabeling (`scrapepath::relabel`) proven against Prometheus' own code: random relabel configuration
//! lists (every action; random source labels, separators, target labels, replacements with `$1`,
//! `${name}` and broken references, moduli; regexes from a grammar that covers RE2's syntax, invalid ones
//! included) over random label sets (legacy and UTF-8 names, odd values, empty values), under both name
//! validation schemes. The oracle (`tests/relabel-oracle/`, Go) loads each list as Prometheus loads
//! `relabel_configs` (go.yaml.in/yaml/v2 UnmarshalStrict into `[]*relabel.Config`, then `Validate`) and
//! applies it with `relabel.ProcessBuilder` from `github.com/prometheus/prometheus/model/relabel` at the
//! release pinned in `tests/relabel-oracle/go.mod`; scrapepath parses the same YAML text
//! (`serde_yaml_ng` into `RelabelSpec`), compiles it (`RelabelConfig::compile_with`) and runs
//! `relabel::dropping_rule`. Every case must agree: both refuse (naming the same problem, rule by rule), or
//! both keep with the same output labels, or both drop at the same rule with the same labels.
//!
//! And service discovery before relabeling (`service_discovery_agrees_with_prometheus`): random Ingresses
//! (role `ingress`: every discovered label) and Nodes with pods (role `pod` with `attach_metadata.node`: the
//! Node's name, labels and annotations), a third of the cases with `attach_metadata.namespace` and random
//! Namespaces (their labels and annotations), discovered by Prometheus' `discovery/kubernetes` in the oracle
//! (client-go's fake clientset behind shared informers) and by `scrapeconfig::discovered`, then relabeled
//! on each side by rules on those labels; `SCRAPEPATH_SD_CASES` (default 300).
//!
//! Size and seed: `SCRAPEPATH_RELABEL_CASES` (default 2,000) and `SCRAPEPATH_DIFF_SEED` (default a fixed
//! seed, so CI judges the same cases on every run). The benchmark run is the same test scaled up:
//! `SCRAPEPATH_RELABEL_CASES=20000 cargo test --release --test relabel_oracle -- --nocapture`.
//! Needs Go and, on a cold cache, the Go module proxy, like the other oracles: without them it fails,
//! never skips.
//!
//! Disagreements found by this differential and fixed in `src/relabel.rs` are kept as a table
//! ([`REGRESSIONS`]) that runs without the oracle.

#[path = "common/rng.rs"]
mod rng;
#[path = "common/tool.rs"]
mod tool;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use rng::{env_u64, Rng};
use scrapepath::relabel::{
    dropping_rule, Labels, NameScheme, RelabelConfig, RelabelError, RelabelSpec,
};
use serde::Deserialize;
use serde_json::json;

const CI_SEED: u64 = 0x0005_C0DE_0013_0001;
const CI_CASES: usize = 2_000;

fn oracle() -> String {
    tool::ensure("tests/relabel-oracle/ensure.sh", "RELABEL_ORACLE")
}

// ---------------------------------------------------------------------------------------------------------
// YAML text.

/// A YAML double-quoted scalar that go-yaml and serde_yaml_ng read back as `s`: everything outside
/// printable ASCII is escaped, so neither parser's raw-character rules come into play.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// One field of a rule: its key and its YAML value text.
type Field = (&'static str, String);

fn rule_text(fields: &[Field]) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn doc_text(rules: &[Vec<Field>]) -> String {
    if rules.is_empty() {
        return "[]".to_string();
    }
    rules
        .iter()
        .map(|r| format!("- {}\n", rule_text(r)))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Regexes: a grammar over RE2's syntax, with a sampler that gives strings the regex (often) matches.

const LIT_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'B', 'K', '0', '1', '9', '_', '-', '/', ':', ';', ' ', '=',
    'é', 'Σ', 'σ', 'ς', 'ß', '日', '٣', '\u{212a}', 'İ', 'ı', 'ǅ', '\n', '😀',
];

/// Characters a label value is made of: the literals, and what classes and escapes match.
const VALUE_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'B', 'K', 'k', '0', '1', '5', '9', '_', '-', '.', '/', ':',
    ';', ' ', '=', '$', '{', '}', '(', ')', '[', ']', '\\', '*', '+', '?', '|', '^', 'é', 'É', 'Σ',
    'σ', 'ς', 'ß', '日', '٣', '\u{212a}', 'İ', 'ı', 'ǅ', '\n', '\t', '\r', '\u{b}', '\u{c}',
    '\u{85}', '\u{a0}', '😀', 'Ω', 'ω', 'α', 'ж', 'Ж', '\u{0}',
];

const GROUP_NAMES: &[&str] = &["n", "name", "x", "1x", "a_b", "N1"];

#[derive(Clone, Copy)]
enum Bounds {
    Star,
    Plus,
    Quest,
    Exact(u32),
    AtLeast(u32),
    Range(u32, u32),
}

enum Re {
    /// Regex text and a string it matches.
    Leaf(String, String),
    Concat(Vec<Re>),
    Alt(Vec<Re>),
    /// `(`, `(?:`, `(?P<n>`, `(?i:`... and its body.
    Group(String, Box<Re>),
    /// Body, bounds, lazy, and whether a multi-character body is written without a group.
    Repeat(Box<Re>, Bounds, bool, bool),
}

/// A class, a sample of it (or None when it samples nothing useful), for `[...]`.
fn gen_class(r: &mut Rng) -> (String, String) {
    let negated = r.chance(20);
    let mut text = String::from("[");
    if negated {
        text.push('^');
    }
    let mut samples: Vec<char> = Vec::new();
    let items = r.range(1, 4);
    for _ in 0..items {
        match r.below(11) {
            0 => {
                text.push_str("a-z");
                samples.push('x');
            }
            1 => {
                text.push_str("0-9");
                samples.push('5');
            }
            2 => {
                text.push_str("A-Z");
                samples.push('K');
            }
            3 => {
                let name = *r.pick(&[
                    "alpha", "digit", "alnum", "upper", "lower", "space", "punct", "word",
                    "xdigit", "^alpha", "^digit", "blank", "cntrl", "graph", "print", "ascii",
                ]);
                text.push_str(&format!("[:{name}:]"));
                samples.push(match name {
                    "digit" | "alnum" | "xdigit" | "word" | "graph" | "print" | "ascii" => '1',
                    "space" | "blank" => ' ',
                    "punct" => ';',
                    "cntrl" => '\n',
                    "^alpha" | "^digit" => 'é',
                    "upper" => 'B',
                    _ => 'a',
                });
            }
            4 => {
                let (t, s) = *r.pick(&[
                    (r"\d", '9'),
                    (r"\w", '_'),
                    (r"\s", ' '),
                    (r"\D", 'a'),
                    (r"\W", '-'),
                    (r"\S", 'x'),
                ]);
                text.push_str(t);
                samples.push(s);
            }
            5 => {
                let (t, s) = *r.pick(&[
                    (r"\pL", 'é'),
                    (r"\p{Greek}", 'Σ'),
                    (r"\p{Lu}", 'É'),
                    (r"\PL", '٣'),
                    (r"\p{Nd}", '٣'),
                    (r"\p{Han}", '日'),
                ]);
                text.push_str(t);
                samples.push(s);
            }
            6 => {
                let (t, s) = *r.pick(&[
                    (r"\]", ']'),
                    (r"\-", '-'),
                    (r"\\", '\\'),
                    (r"\^", '^'),
                    (r"\x41", 'A'),
                    (r"\x{3A3}", 'Σ'),
                    (r"\n", '\n'),
                    (r"\t", '\t'),
                    (r"\.", '.'),
                    ("-", '-'),
                    (".", '.'),
                    ("$", '$'),
                    ("[", '['),
                ]);
                text.push_str(t);
                samples.push(s);
            }
            7 => {
                let (t, s) = *r.pick(&[("α-ω", 'σ'), ("é-ë", 'é'), ("\u{1F600}-\u{1F64F}", '😀')]);
                text.push_str(t);
                samples.push(s);
            }
            _ => {
                let c = *r.pick(LIT_CHARS);
                if c == '\n' || c == ']' || c == '\\' || c == '^' || c == '-' || c == '[' {
                    text.push_str(r"\n");
                    samples.push('\n');
                } else {
                    text.push(c);
                    samples.push(c);
                }
            }
        }
    }
    text.push(']');
    let sample = if negated {
        // Something outside most classes.
        String::from(*r.pick(&["\u{0}", "%", "\u{85}"]))
    } else {
        r.pick(&samples).to_string()
    };
    (text, sample)
}

fn gen_leaf(r: &mut Rng) -> Re {
    let leaf = |t: &str, s: &str| Re::Leaf(t.to_string(), s.to_string());
    match r.below(16) {
        0..=4 => {
            let c = *r.pick(LIT_CHARS);
            Re::Leaf(c.to_string(), c.to_string())
        }
        5 => {
            let n = r.range(2, 5);
            let s: String = (0..n)
                .map(|_| *r.pick(&['a', 'b', 'o', 'f', '_', 'x']))
                .collect();
            Re::Leaf(s.clone(), s)
        }
        6 => {
            let (t, s) = *r.pick(&[
                (".", "q"),
                (".", "\n"),
                (r"\d", "7"),
                (r"\D", "é"),
                (r"\w", "w"),
                (r"\W", "."),
                (r"\s", " "),
                (r"\S", "s"),
                (r"\s", "\u{b}"),
            ]);
            leaf(t, s)
        }
        7 => {
            let (t, s) = *r.pick(&[
                (r"\pL", "é"),
                (r"\pN", "٣"),
                (r"\p{Greek}", "Σ"),
                (r"\p{greek}", "σ"),
                (r"\p{Latin}", "é"),
                (r"\p{Cyrillic}", "ж"),
                (r"\p{Han}", "日"),
                (r"\p{Lu}", "K"),
                (r"\p{Ll}", "ß"),
                (r"\p{Lt}", "ǅ"),
                (r"\p{Nd}", "1"),
                (r"\p{Zs}", "\u{a0}"),
                (r"\p{Cc}", "\u{85}"),
                (r"\p{So}", "😀"),
                (r"\PL", "1"),
                (r"\p{^Greek}", "a"),
                (r"\P{^N}", "5"),
                (r"\p{Any}", "x"),
                (r"\p{ASCII}", "x"),
                (r"\p{Letter}", "x"),
                (r"\p{L&}", "x"),
                (r"\p{Common}", "1"),
                (r"\p{Inherited}", "\u{300}"),
                (r"\p{Braille}", "\u{2800}"),
                (r"\p{Old_Italic}", "x"),
                (r"\p{Latn}", "x"),
                (r"\p{IsGreek}", "x"),
                (r"\p{Assigned}", "x"),
                (r"\p{Cn}", "\u{378}"),
                (r"\p{Co}", "\u{e000}"),
                (r"\p{Cs}", "x"),
                (r"\p{Sc}", "$"),
            ]);
            leaf(t, s)
        }
        8 => {
            let (t, s) = gen_class(r);
            Re::Leaf(t, s)
        }
        9 => {
            let (t, s) = *r.pick(&[
                (r"\.", "."),
                (r"\*", "*"),
                (r"\\", "\\"),
                (r"\$", "$"),
                (r"\(", "("),
                (r"\{", "{"),
                (r"\x41", "A"),
                (r"\x{263a}", "☺"),
                (r"\x{1F600}", "😀"),
                (r"\101", "A"),
                (r"\0", "\u{0}"),
                (r"\12", "\n"),
                (r"\n", "\n"),
                (r"\t", "\t"),
                (r"\f", "\u{c}"),
                (r"\v", "\u{b}"),
                (r"\r", "\r"),
                (r"\a", "\u{7}"),
                (r"\-", "-"),
                (r"\<", "<"),
                (r"\Qa.b\E", "a.b"),
                (r"\Q$1\E", "$1"),
                (r"\_", "_"),
                (r"\ ", " "),
            ]);
            leaf(t, s)
        }
        10 => {
            let (t, s) = *r.pick(&[
                ("^", ""),
                ("$", ""),
                (r"\A", ""),
                (r"\z", ""),
                (r"\b", ""),
                (r"\B", ""),
                ("(?m)^", ""),
                ("(?m)$", ""),
            ]);
            leaf(t, s)
        }
        11 => {
            let (t, s) = *r.pick(&[
                ("(?i)", ""),
                ("(?s)", ""),
                ("(?m)", ""),
                ("(?U)", ""),
                ("(?-s)", ""),
                ("(?i-s)", ""),
                ("(?im)", ""),
                ("(?)", ""),
            ]);
            leaf(t, s)
        }
        12 => {
            let (t, s) = *r.pick(&[
                ("[[:alpha:]]", "q"),
                ("[[:^space:]]", "q"),
                ("[[:word:]]+", "w_1"),
                ("{", "{"),
                ("a{,3}", "a{,3}"),
                ("x{y}", "x{y}"),
                ("}", "}"),
                ("]", "]"),
                ("é{2}", "éé"),
            ]);
            leaf(t, s)
        }
        _ => {
            let c = *r.pick(&['a', 'x', '_', '0', 'K', 'k', 'S', 's', 'Σ', 'ß']);
            Re::Leaf(c.to_string(), c.to_string())
        }
    }
}

fn gen_re(r: &mut Rng, depth: usize) -> Re {
    if depth >= 3 {
        return gen_leaf(r);
    }
    match r.below(12) {
        0..=3 => {
            let n = r.range(1, 4);
            Re::Concat((0..n).map(|_| gen_re(r, depth + 1)).collect())
        }
        4 => {
            let n = r.range(2, 3);
            Re::Alt((0..n).map(|_| gen_re(r, depth + 1)).collect())
        }
        5 | 6 => {
            let open = match r.below(10) {
                0..=4 => "(".to_string(),
                5 => "(?:".to_string(),
                6 => format!("(?P<{}>", r.pick(GROUP_NAMES)),
                7 => format!("(?<{}>", r.pick(GROUP_NAMES)),
                8 => r
                    .pick(&["(?i:", "(?s:", "(?U:", "(?-s:", "(?im:", "(?i-U:"])
                    .to_string(),
                _ => "(".to_string(),
            };
            Re::Group(open, Box::new(gen_re(r, depth + 1)))
        }
        7..=9 => {
            let bounds = match r.below(10) {
                0 | 1 => Bounds::Star,
                2 | 3 => Bounds::Plus,
                4 => Bounds::Quest,
                5 => Bounds::Exact(*r.pick(&[0, 1, 2, 3, 1000, 1001])),
                6 => Bounds::AtLeast(*r.pick(&[0, 1, 2, 1000])),
                _ => {
                    let (lo, hi) =
                        *r.pick(&[(0, 1), (1, 3), (2, 2), (2, 5), (0, 1000), (3, 2), (2, 1001)]);
                    Bounds::Range(lo, hi)
                }
            };
            Re::Repeat(
                Box::new(gen_re(r, depth + 1)),
                bounds,
                r.chance(25),
                r.chance(8),
            )
        }
        _ => gen_leaf(r),
    }
}

fn re_text(re: &Re, out: &mut String) {
    match re {
        Re::Leaf(t, _) => out.push_str(t),
        Re::Concat(xs) => xs.iter().for_each(|x| re_text(x, out)),
        Re::Alt(xs) => {
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                re_text(x, out);
            }
        }
        Re::Group(open, body) => {
            out.push_str(open);
            re_text(body, out);
            out.push(')');
        }
        Re::Repeat(body, bounds, lazy, bare) => {
            // A multi-character body is grouped, except sometimes (which Go refuses or reads differently).
            let single = matches!(&**body, Re::Leaf(t, _) if t.chars().count() == 1);
            let grouped = !single && !bare;
            if grouped {
                out.push_str("(?:");
            }
            re_text(body, out);
            if grouped {
                out.push(')');
            }
            match bounds {
                Bounds::Star => out.push('*'),
                Bounds::Plus => out.push('+'),
                Bounds::Quest => out.push('?'),
                Bounds::Exact(n) => out.push_str(&format!("{{{n}}}")),
                Bounds::AtLeast(n) => out.push_str(&format!("{{{n},}}")),
                Bounds::Range(a, b) => out.push_str(&format!("{{{a},{b}}}")),
            }
            if *lazy {
                out.push('?');
            }
        }
    }
}

fn re_sample(re: &Re, r: &mut Rng, out: &mut String) {
    match re {
        Re::Leaf(_, s) => out.push_str(s),
        Re::Concat(xs) => xs.iter().for_each(|x| re_sample(x, r, out)),
        Re::Alt(xs) => re_sample(r.pick(xs), r, out),
        Re::Group(_, body) => re_sample(body, r, out),
        Re::Repeat(body, bounds, _, _) => {
            let n = match *bounds {
                Bounds::Star => r.range(0, 2),
                Bounds::Plus => r.range(1, 2),
                Bounds::Quest => r.range(0, 1),
                Bounds::Exact(n) => n.min(4) as usize,
                Bounds::AtLeast(n) => n.min(4) as usize,
                Bounds::Range(a, b) => r.range(a.min(4) as usize, b.clamp(a, 4) as usize),
            };
            for _ in 0..n {
                re_sample(body, r, out);
            }
        }
    }
}

/// Regex text that Go refuses, or reads in a surprising way, spliced into a generated regex.
const BROKEN: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "a**",
    "a*+",
    "a{2}{3}",
    "*a",
    "+",
    "?",
    "(?=x)",
    "(?!x)",
    "(?<=x)",
    r"\1",
    r"\C",
    "[z-a]",
    "(?P<>x)",
    "(?P<a-b>x)",
    "(?P<n>x",
    r"\",
    "(?x)",
    r"\p{Foo}",
    "[[:foo:]]",
    "x{1001}",
    "(x{40}){30}",
    r"\8",
    "(?i",
    "(?P=n)",
    "[a",
    r"\Qa",
    r"\xZZ",
    r"\x{110000}",
    r"\pZ",
    r"\p{Zl}",
    "a{,}",
    "(?-)",
    "(?i-)",
    "x|*",
    "^*",
    "$+",
    r"\z?",
    "(?U)a*?",
    "(?s).",
    "|",
    "()",
    "(|a)",
    "x{0}",
    "(a{2}){500}",
    r"[\d-z]",
    "[a-\\d]",
    r"\k<n>",
    "[[:alpha:]-z]",
    r"[\p{Foo}]",
];

fn gen_regex(r: &mut Rng) -> (String, Re) {
    let re = gen_re(r, 0);
    let mut text = String::new();
    re_text(&re, &mut text);
    if r.chance(12) {
        let broken = *r.pick(BROKEN);
        let at = r.index(text.chars().count() + 1);
        let byte = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
        text.insert_str(byte, broken);
    }
    (text, re)
}

// ---------------------------------------------------------------------------------------------------------
// Configurations and label sets.

const LEGACY_NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "x",
    "x_a",
    "x_x_a",
    "__address__",
    "__meta_kubernetes_pod_label_app",
    "__meta_kubernetes_pod_label_job",
    "__tmp_hash",
    "job",
    "instance",
    "_",
    "A1",
    "foo",
    "n",
];
const UTF8_NAMES: &[&str] = &[
    "app.kubernetes.io/name",
    "a-b",
    "1abc",
    "ünï",
    "日本",
    "has space",
    "$1",
    "x${1}",
    "é",
    "a.b",
];

fn gen_name(r: &mut Rng) -> String {
    if r.chance(80) {
        r.pick(LEGACY_NAMES).to_string()
    } else if r.chance(90) {
        r.pick(UTF8_NAMES).to_string()
    } else {
        String::new()
    }
}

fn gen_value(r: &mut Rng, regexes: &[Re]) -> String {
    match r.below(10) {
        0 => String::new(),
        1 | 2 if !regexes.is_empty() => {
            let mut s = String::new();
            re_sample(r.pick(regexes), r, &mut s);
            s
        }
        3 => r
            .pick(&[
                "x",
                "foo",
                "10.0.0.1:8080",
                "a;b",
                "1",
                "976",
                "ΣΑΣ",
                "İstanbul",
                "straße",
                "ǅ",
            ])
            .to_string(),
        4 => r.pick(LEGACY_NAMES).to_string(),
        _ => {
            let n = r.range(1, 6);
            (0..n).map(|_| *r.pick(VALUE_CHARS)).collect()
        }
    }
}

const ACTIONS: &[&str] = &[
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
];

fn gen_template(r: &mut Rng, names: bool) -> String {
    match r.below(if names { 4 } else { 3 }) {
        0 => r
            .pick(&[
                "$1",
                "${1}",
                "$2",
                "${2}",
                "$0",
                "${n}",
                "$n",
                "$name",
                "${x}",
                "${1x}",
                "$1x",
                "${1}x",
                "x_$1",
                "x_${1}_y",
                "$1$2",
                "${1}_${2}",
                "__param_$1",
                "$$",
                "$$1",
                "$",
                "${",
                "${1",
                "${}",
                "$-",
                "é$1",
                "1_$1",
                "a-$1",
                "${n}.${1}",
                "$99",
                "$01",
                "${N1}",
            ])
            .to_string(),
        1 => r
            .pick(&["", "x", "lit", "a-b", "1a", "a.b", "Ω", "__tmp", "x y"])
            .to_string(),
        2 => gen_name(r),
        _ => r.pick(LEGACY_NAMES).to_string(),
    }
}

/// One rule, as fields in a random order: mostly a sensible rule for its action, sometimes any fields.
fn gen_rule(r: &mut Rng, regexes: &mut Vec<Re>) -> Vec<Field> {
    let action = match r.below(20) {
        0..=3 => None,
        4 => Some(
            r.pick(&[
                "Keep",
                "LABELMAP",
                "HashMod",
                "DropEqual",
                "UpperCase",
                "Replace",
            ])
            .to_string(),
        ),
        5 if r.chance(40) => Some(
            r.pick(&["keeep", "", "keep ", "replace_all", "label_map"])
                .to_string(),
        ),
        _ => Some(r.pick(ACTIONS).to_string()),
    };
    let act = action
        .as_deref()
        .map(str::to_lowercase)
        .unwrap_or_else(|| "replace".into());
    let sensible = r.chance(80);
    let wants = |field: &str| -> u64 {
        if !sensible {
            return 30;
        }
        match (act.as_str(), field) {
            ("labeldrop" | "labelkeep", "regex") => 95,
            ("labeldrop" | "labelkeep", _) => 2,
            ("labelmap", "regex") => 90,
            ("labelmap", "replacement") => 60,
            ("labelmap", _) => 3,
            ("keepequal" | "dropequal", "source_labels" | "target_label") => 95,
            ("keepequal" | "dropequal", _) => 3,
            ("hashmod", "source_labels" | "target_label" | "modulus") => 95,
            ("hashmod", _) => 10,
            ("lowercase" | "uppercase", "source_labels" | "target_label") => 95,
            ("lowercase" | "uppercase", "separator") => 30,
            ("lowercase" | "uppercase", _) => 4,
            ("keep" | "drop", "source_labels" | "regex") => 90,
            ("keep" | "drop", "separator") => 20,
            ("keep" | "drop", _) => 10,
            (_, "source_labels" | "target_label") => 90,
            (_, "regex") => 75,
            (_, "replacement") => 60,
            (_, "separator") => 25,
            _ => 10,
        }
    };
    let mut fields: Vec<Field> = Vec::new();
    if let Some(a) = &action {
        fields.push(("action", if r.chance(2) { "null".into() } else { quote(a) }));
    }
    if r.chance(wants("source_labels")) {
        let v = if r.chance(3) {
            "null".to_string()
        } else {
            let n = r.range(0, 3);
            let names: Vec<String> = (0..n)
                .map(|_| {
                    if sensible && r.chance(90) {
                        quote(r.pick::<&str>(LEGACY_NAMES))
                    } else {
                        quote(&gen_name(r))
                    }
                })
                .collect();
            format!("[{}]", names.join(", "))
        };
        fields.push(("source_labels", v));
    }
    if r.chance(wants("separator")) {
        let v = match r.below(12) {
            0 => "null".to_string(),
            _ => quote(r.pick::<&str>(&[";", "", ",", "-", "\n", "/", ";;", "é"])),
        };
        fields.push(("separator", v));
    }
    if r.chance(wants("target_label")) {
        let v = if act == "replace" && r.chance(40) {
            gen_template(r, true)
        } else if sensible && r.chance(85) {
            r.pick(LEGACY_NAMES).to_string()
        } else {
            gen_template(r, true)
        };
        fields.push((
            "target_label",
            if r.chance(2) {
                "null".into()
            } else {
                quote(&v)
            },
        ));
    }
    if r.chance(wants("regex")) {
        let v = if r.chance(3) {
            "null".to_string()
        } else if r.chance(5) {
            quote(r.pick::<&str>(&["(.*)", "", ".*", "(.+)"]))
        } else {
            let (text, re) = gen_regex(r);
            regexes.push(re);
            quote(&text)
        };
        fields.push(("regex", v));
    }
    if r.chance(wants("modulus")) {
        let v = match r.below(14) {
            0 => "0".to_string(),
            1 => "18446744073709551615".to_string(),
            2 if r.chance(40) => r
                .pick(&["-1", "\"3\"", "1.5", "2.0", "1e3", "0.5", "null", "0x10"])
                .to_string(),
            _ => r.range(1, 12).to_string(),
        };
        fields.push(("modulus", v));
    }
    if r.chance(wants("replacement")) {
        let v = if act == "labelmap" && r.chance(50) {
            r.pick(&[
                "$1",
                "${1}",
                "x_$1",
                "__param_${1}",
                "${n}",
                "$name",
                "${1}_${2}",
            ])
            .to_string()
        } else {
            gen_template(r, true)
        };
        fields.push((
            "replacement",
            if r.chance(2) {
                "null".into()
            } else {
                quote(&v)
            },
        ));
    }
    // Field order is what YAML says; Go's loader stops at the first bad field in that order.
    for i in (1..fields.len()).rev() {
        let j = r.index(i + 1);
        fields.swap(i, j);
    }
    fields
}

struct Case {
    id: usize,
    scheme: NameScheme,
    rules: Vec<Vec<Field>>,
    doc: String,
    labels: Labels,
    /// Kubernetes service discovery to run first (the labels of each target it discovers are then
    /// relabeled instead of `labels`).
    sd: Option<SdCase>,
}

/// A role of Prometheus' Kubernetes SD on some objects, the discovered labels kept to names with one of
/// `keep_prefixes` (all when empty).
struct SdCase {
    role: &'static str,
    objects: Vec<serde_json::Value>,
    keep_prefixes: &'static [&'static str],
    /// `attach_metadata.namespace`: the Namespaces' labels and annotations are attached.
    attach_namespace: bool,
}

/// A string near `s`: one character changed, removed or added, so that a regex that matches `s` is
/// tried right at its edge.
fn mutate(r: &mut Rng, s: &str) -> String {
    let mut cs: Vec<char> = s.chars().collect();
    let c = *r.pick(VALUE_CHARS);
    match (r.below(3), cs.is_empty()) {
        (0, false) => {
            let i = r.index(cs.len());
            cs[i] = c;
        }
        (1, false) => {
            cs.remove(r.index(cs.len()));
        }
        _ => {
            let i = r.index(cs.len() + 1);
            cs.insert(i, c);
        }
    }
    cs.into_iter().collect()
}

/// A case that probes one regex: what it matches (keep), what its groups capture (replace with every
/// kind of reference) and how it rewrites label names (labelmap, where an unanchored match is replaced
/// everywhere), on strings drawn from the regex and near misses.
fn gen_probe(r: &mut Rng, id: usize, scheme: NameScheme) -> Case {
    let (text, re) = gen_regex(r);
    let q = quote(&text);
    let sample = |r: &mut Rng| {
        let mut s = String::new();
        re_sample(&re, r, &mut s);
        if r.chance(30) {
            mutate(r, &s)
        } else {
            s
        }
    };
    let mut labels = Labels::new();
    labels.insert("a".into(), sample(r));
    labels.insert("b".into(), sample(r));
    for _ in 0..r.range(0, 3) {
        let name = sample(r);
        if !name.is_empty() {
            labels.insert(name, "v".into());
        }
    }
    let reference = *r.pick(&[
        "[$1][$2][${n}][$0]",
        "${1}|${2}|${x}|${1x}",
        "$name.$N1.$a_b",
        "<${0}>",
        "$1$2$3$4",
    ]);
    let mut rules: Vec<Vec<Field>> = Vec::new();
    match r.below(4) {
        0 => rules.push(vec![
            ("source_labels", "[\"a\"]".into()),
            ("regex", q.clone()),
            ("action", quote(r.pick::<&str>(&["keep", "drop"]))),
        ]),
        1 => rules.push(vec![
            ("source_labels", "[\"a\", \"b\"]".into()),
            ("separator", quote(r.pick::<&str>(&["", ";", "\n"]))),
            ("regex", q.clone()),
            (
                "target_label",
                quote(r.pick::<&str>(&["out", "out_${1}", "${n}", "$1"])),
            ),
            ("replacement", quote(reference)),
        ]),
        2 => rules.push(vec![
            ("regex", q.clone()),
            (
                "replacement",
                quote(r.pick::<&str>(&["m_$1", "m_${1}_${2}", "${n}", "$1", "m_$0"])),
            ),
            ("action", quote("labelmap")),
        ]),
        _ => rules.push(vec![
            ("regex", q.clone()),
            ("action", quote(r.pick::<&str>(&["labeldrop", "labelkeep"]))),
        ]),
    }
    if r.chance(30) {
        rules.push(vec![
            ("source_labels", "[\"b\"]".into()),
            ("regex", q),
            ("target_label", quote("out2")),
            ("replacement", quote(reference)),
        ]);
    }
    let doc = doc_text(&rules);
    Case {
        id,
        scheme,
        rules,
        doc,
        labels,
        sd: None,
    }
}

fn gen_case(r: &mut Rng, id: usize) -> Case {
    let scheme = if r.chance(50) {
        NameScheme::Utf8
    } else {
        NameScheme::Legacy
    };
    if r.chance(35) {
        return gen_probe(r, id, scheme);
    }
    let mut regexes = Vec::new();
    let n = *r.pick(&[0, 1, 1, 1, 1, 2, 2, 2, 3, 4]);
    let rules: Vec<Vec<Field>> = (0..n).map(|_| gen_rule(r, &mut regexes)).collect();
    let mut labels = Labels::new();
    for _ in 0..r.range(0, 6) {
        let name = if r.chance(85) {
            r.pick(LEGACY_NAMES).to_string()
        } else {
            gen_name(r)
        };
        if name.is_empty() {
            continue;
        }
        labels.insert(name, gen_value(r, &regexes));
    }
    // Names a labelmap or a labeldrop regex can match.
    if r.chance(25) && !regexes.is_empty() {
        let mut name = String::new();
        re_sample(r.pick(&regexes), r, &mut name);
        if !name.is_empty() {
            labels.insert(name, gen_value(r, &regexes));
        }
    }
    let doc = doc_text(&rules);
    Case {
        id,
        scheme,
        rules,
        doc,
        labels,
        sd: None,
    }
}

fn request(c: &Case) -> String {
    let rules: Vec<serde_json::Value> = c
        .rules
        .iter()
        .map(|fields| {
            json!({
                "text": rule_text(fields),
                "fields": fields.iter().map(|f| rule_text(std::slice::from_ref(f))).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "id": c.id,
        "scheme": match c.scheme { NameScheme::Legacy => "legacy", NameScheme::Utf8 => "utf8" },
        "doc": c.doc,
        "rules": rules,
        "labels": c.labels,
        "sd": c.sd.as_ref().map(|sd| json!({
            "role": sd.role,
            "objects": sd.objects,
            "keep_prefixes": sd.keep_prefixes,
            "attach_namespace": sd.attach_namespace,
        })),
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------------------
// scrapepath's side.

fn category(e: &RelabelError) -> &'static str {
    match e {
        RelabelError::UnknownAction { .. } => "unknown_action",
        RelabelError::EmptyAction => "empty_action",
        RelabelError::InvalidSourceLabel { .. } => "invalid_source_label",
        RelabelError::InvalidRegex { .. } => "invalid_regex",
        RelabelError::ZeroModulus => "zero_modulus",
        RelabelError::MissingTargetLabel { .. } => "missing_target_label",
        RelabelError::InvalidTargetLabel { .. } => "invalid_target_label",
        RelabelError::ReplacementNotAllowed { .. } => "replacement_not_allowed",
        RelabelError::InvalidLabelMapReplacement { .. } => "invalid_labelmap_replacement",
        RelabelError::FieldNotAllowed { .. } => "field_not_allowed",
    }
}

/// One rule's text compiled by scrapepath: `Err((category, message))` when refused.
fn compile_rule(text: &str, scheme: NameScheme) -> Result<RelabelConfig, (String, String)> {
    let spec: RelabelSpec =
        serde_yaml_ng::from_str(text).map_err(|e| ("parse".to_string(), e.to_string()))?;
    RelabelConfig::compile_with(&spec, scheme)
        .map_err(|e| (category(&e).to_string(), e.to_string()))
}

#[derive(Debug, PartialEq)]
enum Verdict {
    /// The first refused rule (scrapepath) and, per rule, what is refused in it.
    Refused(Vec<Option<(String, String)>>),
    Kept(Labels),
    Dropped(usize, Labels),
}

fn scrapepath_verdict(c: &Case) -> Verdict {
    // The whole document must read as a list of rules, as for Prometheus.
    if let Err(e) = serde_yaml_ng::from_str::<Vec<RelabelSpec>>(&c.doc) {
        let mut per_rule: Vec<Option<(String, String)>> = c
            .rules
            .iter()
            .map(|f| compile_rule(&rule_text(f), c.scheme).err())
            .collect();
        if per_rule.iter().all(Option::is_none) {
            per_rule.push(Some(("parse".into(), e.to_string())));
        }
        return Verdict::Refused(per_rule);
    }
    let compiled: Vec<Result<RelabelConfig, (String, String)>> = c
        .rules
        .iter()
        .map(|f| compile_rule(&rule_text(f), c.scheme))
        .collect();
    if compiled.iter().any(Result::is_err) {
        return Verdict::Refused(compiled.into_iter().map(Result::err).collect());
    }
    let configs: Vec<RelabelConfig> = compiled.into_iter().map(Result::unwrap).collect();
    let mut labels = c.labels.clone();
    match dropping_rule(&mut labels, &configs) {
        None => Verdict::Kept(labels),
        Some(i) => Verdict::Dropped(i, labels),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Prometheus' side.

#[derive(Debug, Deserialize)]
struct Answer {
    id: usize,
    #[serde(default)]
    refused: bool,
    #[serde(default)]
    error: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    rule_faults: Vec<Vec<String>>,
    #[serde(default)]
    kept: bool,
    #[serde(default)]
    dropped_by: i64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    order_dependent: bool,
    #[serde(default)]
    panic: String,
    #[serde(default)]
    sd_targets: Vec<SdTarget>,
}

/// A target Prometheus' service discovery yielded, and what the relabel list made of it.
#[derive(Debug, Deserialize)]
struct SdTarget {
    discovered: BTreeMap<String, String>,
    kept: bool,
    dropped_by: i64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn run_oracle(cases: &[Case]) -> Vec<Answer> {
    let bin = oracle();
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let requests: Vec<String> = cases.iter().map(request).collect();
    let writer = std::thread::spawn(move || {
        for line in requests {
            stdin.write_all(line.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    });
    let answers: Vec<Answer> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| {
            let l = l.expect("reading the oracle");
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("oracle answer {l}: {e}"))
        })
        .collect();
    writer.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the oracle exited with {status}");
    assert_eq!(answers.len(), cases.len(), "the oracle answered every case");
    answers
}

/// Empty when scrapepath and Prometheus agree on the case; else what differs.
fn compare(c: &Case, ours: &Verdict, theirs: &Answer) -> Option<String> {
    assert_eq!(theirs.id, c.id);
    if !theirs.panic.is_empty() {
        return Some(format!("the oracle panicked: {}", theirs.panic));
    }
    match ours {
        Verdict::Refused(per_rule) if theirs.refused => {
            // Rule by rule: refused by both, naming one of the problems Prometheus finds in it.
            for (i, ours) in per_rule.iter().enumerate() {
                let faults = theirs.rule_faults.get(i).cloned().unwrap_or_default();
                match ours {
                    None if faults.is_empty() => {}
                    None => return Some(format!("rule {i}: scrapepath accepts it, Prometheus refuses it ({faults:?}): {}", theirs.error)),
                    Some((cat, msg)) if faults.is_empty() && i < theirs.rule_faults.len() => {
                        return Some(format!("rule {i}: scrapepath refuses it ({cat}: {msg}), Prometheus accepts it on its own"))
                    }
                    Some((cat, msg)) if !faults.contains(cat) && i < theirs.rule_faults.len() => {
                        return Some(format!(
                            "rule {i}: scrapepath refuses it as {cat} ({msg}); Prometheus as {faults:?} ({})",
                            theirs.error
                        ))
                    }
                    Some(_) => {}
                }
            }
            // The list as a whole: Prometheus stops at the first problem in document order, which is one
            // of the problems of its rules (compared above, rule by rule).
            let faults: BTreeSet<&str> = theirs
                .rule_faults
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            if !faults.contains(theirs.category.as_str()) {
                return Some(format!(
                    "the oracle refuses the list as {} ({}) but finds only {faults:?} rule by rule",
                    theirs.category, theirs.error
                ));
            }
            None
        }
        Verdict::Refused(per_rule) => Some(format!(
            "scrapepath refuses ({:?}), Prometheus accepts",
            per_rule.iter().flatten().next()
        )),
        _ if theirs.refused => Some(format!(
            "Prometheus refuses ({}: {}), scrapepath accepts",
            theirs.category, theirs.error
        )),
        Verdict::Kept(labels) => {
            if !theirs.kept {
                Some(format!(
                    "scrapepath keeps, Prometheus drops at rule {}",
                    theirs.dropped_by
                ))
            } else if *labels != theirs.labels {
                Some(format!(
                    "labels differ:\n  scrapepath {labels:?}\n  prometheus {:?}",
                    theirs.labels
                ))
            } else {
                None
            }
        }
        Verdict::Dropped(i, labels) => {
            if theirs.kept {
                Some(format!("scrapepath drops at rule {i}, Prometheus keeps"))
            } else if *i as i64 != theirs.dropped_by {
                Some(format!(
                    "scrapepath drops at rule {i}, Prometheus at rule {}",
                    theirs.dropped_by
                ))
            } else if *labels != theirs.labels {
                Some(format!(
                    "labels at the drop differ:\n  scrapepath {labels:?}\n  prometheus {:?}",
                    theirs.labels
                ))
            } else {
                None
            }
        }
    }
}

/// The seed (`SCRAPEPATH_DIFF_SEED`), the number of cases (`count_var`, else `default`), the cases `gen`
/// draws and the oracle's answers, with the time the oracle took.
fn generated_and_answered(
    count_var: &str,
    default: usize,
    gen: fn(&mut Rng, usize) -> Case,
) -> (u64, usize, Vec<Case>, Vec<Answer>, std::time::Duration) {
    let seed = env_u64("SCRAPEPATH_DIFF_SEED").unwrap_or(CI_SEED);
    let n = env_u64(count_var).map_or(default, |n| n as usize);
    let mut rng = Rng::new(seed);
    let cases: Vec<Case> = (0..n).map(|i| gen(&mut rng, i)).collect();
    let start = std::time::Instant::now();
    let answers = run_oracle(&cases);
    (seed, n, cases, answers, start.elapsed())
}

#[test]
fn relabeling_agrees_with_prometheus() {
    let (seed, n, cases, answers, oracle_time) =
        generated_and_answered("SCRAPEPATH_RELABEL_CASES", CI_CASES, gen_case);

    let mut failures = Vec::new();
    let mut stats: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    for (c, a) in cases.iter().zip(&answers) {
        let ours = scrapepath_verdict(c);
        for fields in &c.rules {
            let action = fields
                .iter()
                .find(|(k, _)| *k == "action")
                .map_or("(replace)".to_string(), |(_, v)| {
                    v.trim_matches('"').to_lowercase()
                });
            *actions.entry(action).or_default() += 1;
        }
        *stats
            .entry(match (&ours, a.order_dependent) {
                (Verdict::Refused(_), _) => "refused",
                (Verdict::Kept(_), false) => "kept",
                (Verdict::Dropped(..), false) => "dropped",
                (_, true) => "order-dependent in Prometheus (compared in name order)",
            })
            .or_default() += 1;
        if a.refused {
            *refusals.entry(a.category.clone()).or_default() += 1;
        }
        if let Some(why) = compare(c, &ours, a) {
            failures.push(format!(
                "case {} (scheme {:?}):\n{}labels: {:?}\n=> {why}",
                c.id, c.scheme, c.doc, c.labels
            ));
        }
    }
    let agreed = n - failures.len();
    eprintln!(
        "relabel differential: seed {seed:#x}, {n} cases, {agreed} agree ({:.2}%), Prometheus {} (oracle time {:.1?})",
        100.0 * agreed as f64 / n.max(1) as f64,
        std::process::Command::new(oracle())
            .arg("-version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        oracle_time,
    );
    eprintln!("  outcomes: {stats:?}");
    eprintln!("  Prometheus' refusals: {refusals:?}");
    eprintln!("  rules by action: {actions:?}");
    assert!(
        failures.is_empty(),
        "{} of {n} cases disagree with Prometheus (seed {seed:#x}); the first ones:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------------------
// Kubernetes service discovery, then relabeling: Prometheus' `discovery/kubernetes` against
// `scrapeconfig::discovered`.

const SD_CI_CASES: usize = 300;

fn sd_rule(fields: &[(&'static str, &str)]) -> Vec<Field> {
    fields.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// Label and annotation keys, some of which sanitize alike or need sanitizing.
const META_KEYS: &[&str] = &[
    "app",
    "app.kubernetes.io/name",
    "team",
    "x-y",
    "nginx.ingress.kubernetes.io/rewrite-target",
    "topology.kubernetes.io/zone",
    "owner",
];

fn gen_meta(r: &mut Rng) -> serde_json::Map<String, serde_json::Value> {
    r.subset(META_KEYS, 0, 3)
        .into_iter()
        .map(|k| (k.to_string(), json!(*r.pick(&["a", "b", "", "/", "web x"]))))
        .collect()
}

/// Random Ingresses in namespaces `a` and `b`: labels, annotations, a class or none, TLS hosts (equal to
/// a rule's host, a `*.` pattern of it or of another depth, unrelated), rules with or without host, with
/// no `http`, with no path, empty paths, several.
fn gen_ingresses(r: &mut Rng) -> Vec<serde_json::Value> {
    const HOSTS: &[&str] = &[
        "www.shop.example",
        "api.shop.example",
        "shop.example",
        "",
        "a.b.shop.example",
    ];
    (0..r.range(1, 3))
        .map(|i| {
            let mut spec = serde_json::Map::new();
            if r.chance(40) {
                spec.insert(
                    "ingressClassName".into(),
                    json!(*r.pick(&["nginx", "traefik"])),
                );
            }
            if r.chance(60) {
                let hosts = r.subset(
                    &[
                        "www.shop.example",
                        "*.shop.example",
                        "*.example",
                        "other.example",
                        "*",
                    ],
                    1,
                    2,
                );
                spec.insert("tls".into(), json!([{"hosts": hosts, "secretName": "tls"}]));
            }
            let rules: Vec<serde_json::Value> = (0..r.range(0, 3))
                .map(|_| {
                    let mut rule = serde_json::Map::new();
                    let host = *r.pick(HOSTS);
                    if !host.is_empty() {
                        rule.insert("host".into(), json!(host));
                    }
                    if r.chance(80) {
                        let paths: Vec<serde_json::Value> = r
                            .subset(&["/", "", "/health", "/v1/x"], 0, 3)
                            .into_iter()
                            .map(|p| {
                                let mut path = json!({
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                });
                                if !p.is_empty() {
                                    path["path"] = json!(p);
                                }
                                path
                            })
                            .collect();
                        rule.insert("http".into(), json!({ "paths": paths }));
                    }
                    serde_json::Value::Object(rule)
                })
                .collect();
            spec.insert("rules".into(), json!(rules));
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": format!("ing-{i}"),
                    "namespace": *r.pick(&["a", "b"]),
                    "labels": gen_meta(r),
                    "annotations": gen_meta(r),
                },
                "spec": spec,
            })
        })
        .collect()
}

/// Random Nodes (labels, annotations) and pods on them, on a Node the input lacks, or on none.
fn gen_nodes_and_pods(r: &mut Rng) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = (0..r.range(1, 2))
        .map(|i| {
            json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": format!("node-{i}"), "labels": gen_meta(r), "annotations": gen_meta(r)},
            })
        })
        .collect();
    for i in 0..r.range(1, 3) {
        let mut spec = json!({"containers": [{"name": "main", "ports": [{"name": "metrics", "containerPort": 8080}]}]});
        if r.chance(85) {
            spec["nodeName"] = json!(*r.pick(&["node-0", "node-1", "node-9"]));
        }
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": format!("pod-{i}"), "namespace": "a"},
            "spec": spec,
            "status": {"phase": "Running", "podIP": format!("10.0.0.{}", i + 1)},
        }));
    }
    out
}

/// The Namespaces `a` and `b` with random labels and annotations, as the API server serves them (with
/// the `kubernetes.io/metadata.name` label it always sets).
fn gen_namespaces(r: &mut Rng) -> Vec<serde_json::Value> {
    ["a", "b"]
        .into_iter()
        .map(|name| {
            let mut labels = gen_meta(r);
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": labels, "annotations": gen_meta(r)},
            })
        })
        .collect()
}

/// Rules on the labels `attach_metadata.namespace` attaches.
fn namespace_rules() -> Vec<Vec<Field>> {
    vec![
        sd_rule(&[
            ("regex", "__meta_kubernetes_namespace_label_(.+)"),
            ("replacement", "ns_$1"),
            ("action", "labelmap"),
        ]),
        sd_rule(&[
            (
                "source_labels",
                "[__meta_kubernetes_namespace_annotationpresent_owner]",
            ),
            ("regex", "\"true\""),
            ("action", "keep"),
        ]),
        sd_rule(&[
            (
                "source_labels",
                "[__meta_kubernetes_namespace_label_team, __meta_kubernetes_namespace_annotation_x_y]",
            ),
            ("target_label", "team"),
        ]),
    ]
}

/// A case of role `ingress` (every discovered label compared) or of role `pod` with node metadata (the
/// Node's labels, the address and the pod's name compared), a third of them with namespace metadata
/// too (the Namespaces' labels and annotations), with up to three rules on those labels.
fn gen_sd_case(r: &mut Rng, id: usize) -> Case {
    let ingress = r.chance(65);
    let attach_namespace = r.chance(35);
    let mut candidates: Vec<Vec<Field>> = if ingress {
        vec![
            sd_rule(&[("source_labels", "[__meta_kubernetes_ingress_scheme]"), ("regex", "https"), ("action", "keep")]),
            sd_rule(&[("regex", "__meta_kubernetes_ingress_label_(.+)"), ("action", "labelmap")]),
            // The operator's rule of a Probe's ingress targets.
            sd_rule(&[
                ("source_labels", "[__meta_kubernetes_ingress_scheme, __address__, __meta_kubernetes_ingress_path]"),
                ("separator", "\";\""),
                ("regex", "\"(.+);(.+);(.+)\""),
                ("target_label", "__param_target"),
                ("replacement", "\"${1}://${2}${3}\""),
            ]),
            sd_rule(&[("source_labels", "[__meta_kubernetes_ingress_path]"), ("regex", "/"), ("action", "drop")]),
            sd_rule(&[
                ("source_labels", "[__meta_kubernetes_ingress_annotation_owner]"),
                ("target_label", "owner"),
            ]),
            sd_rule(&[
                ("source_labels", "[__meta_kubernetes_ingress_labelpresent_app_kubernetes_io_name]"),
                ("regex", "\"true\""),
                ("action", "keep"),
            ]),
            sd_rule(&[
                ("source_labels", "[__meta_kubernetes_ingress_class_name, __meta_kubernetes_namespace]"),
                ("target_label", "class"),
            ]),
        ]
    } else {
        vec![
            sd_rule(&[
                ("regex", "__meta_kubernetes_node_label_(.+)"),
                ("action", "labelmap"),
            ]),
            sd_rule(&[
                ("regex", "__meta_kubernetes_node_annotation_(.+)"),
                ("replacement", "node_$1"),
                ("action", "labelmap"),
            ]),
            sd_rule(&[
                (
                    "source_labels",
                    "[__meta_kubernetes_node_annotationpresent_owner]",
                ),
                ("regex", "\"true\""),
                ("action", "keep"),
            ]),
            sd_rule(&[
                ("source_labels", "[__meta_kubernetes_node_name]"),
                ("target_label", "node"),
            ]),
            sd_rule(&[
                (
                    "source_labels",
                    "[__meta_kubernetes_node_annotation_topology_kubernetes_io_zone]",
                ),
                ("regex", "(.+)"),
                ("target_label", "__tmp_topology"),
            ]),
        ]
    };
    if attach_namespace {
        candidates.extend(namespace_rules());
    }
    let rules = r.subset(&candidates, 0, 3);
    let doc = doc_text(&rules);
    let mut sd = if ingress {
        SdCase {
            role: "ingress",
            objects: gen_ingresses(r),
            keep_prefixes: &[],
            attach_namespace,
        }
    } else {
        SdCase {
            role: "pod",
            objects: gen_nodes_and_pods(r),
            keep_prefixes: &[
                "__meta_kubernetes_node_",
                "__address__",
                "__meta_kubernetes_pod_name",
                "__meta_kubernetes_namespace",
            ],
            attach_namespace,
        }
    };
    // Without namespace metadata the Namespaces are still there (Prometheus then reads none).
    if attach_namespace || r.chance(30) {
        sd.objects.extend(gen_namespaces(r));
    }
    Case {
        id,
        scheme: NameScheme::Utf8,
        rules,
        doc,
        labels: Labels::new(),
        sd: Some(sd),
    }
}

/// scrapepath's discovered label sets of an SD case: the objects read as `check` reads them, the role
/// (`attach_metadata.node` for pods, `attach_metadata.namespace` as the case sets it) discovered by
/// `scrapeconfig::discovered`, kept to the case's
/// prefixes.
fn scrapepath_discovered(sd: &SdCase) -> Vec<Labels> {
    let text: Vec<String> = sd.objects.iter().map(|o| o.to_string()).collect();
    let mut stats = scrapepath::load::LoadStats::default();
    let mut idx = scrapepath::index::ClusterIndex::new();
    for o in scrapepath::load::parse_text(
        std::path::Path::new("sd.yaml"),
        &text.join("\n---\n"),
        &mut stats,
    )
    .unwrap_or_else(|e| panic!("the objects load: {e}\n{}", text.join("\n")))
    {
        idx.apply(o);
    }
    let sd_config = format!(
        "{{role: {}, attach_metadata: {{node: {}, namespace: {}}}}}",
        sd.role,
        sd.role == "pod",
        sd.attach_namespace
    );
    let config = scrapepath::scrapeconfig::parse_config(&format!(
        "scrape_configs:\n- job_name: sd\n  kubernetes_sd_configs: [{sd_config}]\n"
    ))
    .unwrap();
    let job = config.job("sd").unwrap();
    scrapepath::scrapeconfig::discovered(job, &idx, "monitoring")
        .into_iter()
        .flat_map(|(_, _, found)| found)
        .map(|(_, labels)| {
            labels
                .into_iter()
                .filter(|(k, v)| {
                    !v.is_empty()
                        && (sd.keep_prefixes.is_empty()
                            || sd.keep_prefixes.iter().any(|p| k.starts_with(p)))
                })
                .collect()
        })
        .collect()
}

/// A discovered target and its outcome as one comparable line.
fn sd_line(discovered: &Labels, outcome: &str, labels: &Labels) -> String {
    format!("{discovered:?} => {outcome} {labels:?}")
}

/// Kubernetes SD (roles ingress, and pod with Node metadata: labels and annotations) and relabeling
/// against Prometheus' own `discovery/kubernetes` and `model/relabel`: the same discovered label sets,
/// each kept or dropped by the same rule with the same labels.
#[test]
fn service_discovery_agrees_with_prometheus() {
    let (seed, n, cases, answers, oracle_time) =
        generated_and_answered("SCRAPEPATH_SD_CASES", SD_CI_CASES, gen_sd_case);
    let mut failures = Vec::new();
    let (mut targets, mut kept, mut by_role) = (0usize, 0usize, BTreeMap::<&str, usize>::new());
    let mut with_namespace = 0usize;
    for (c, a) in cases.iter().zip(&answers) {
        let sd = c.sd.as_ref().unwrap();
        assert!(
            a.panic.is_empty(),
            "case {}: the oracle failed: {}",
            c.id,
            a.panic
        );
        assert!(
            !a.refused,
            "case {}: Prometheus refuses the rules: {}",
            c.id, a.error
        );
        let mut theirs: Vec<String> = a
            .sd_targets
            .iter()
            .map(|t| {
                let discovered: Labels = t
                    .discovered
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let outcome = if t.kept {
                    "kept".to_string()
                } else {
                    format!("dropped by {}", t.dropped_by)
                };
                sd_line(&discovered, &outcome, &t.labels)
            })
            .collect();
        let mut ours: Vec<String> = scrapepath_discovered(sd)
            .into_iter()
            .map(|d| {
                let probe = Case {
                    id: c.id,
                    scheme: c.scheme,
                    rules: c.rules.clone(),
                    doc: c.doc.clone(),
                    labels: d.clone(),
                    sd: None,
                };
                match scrapepath_verdict(&probe) {
                    Verdict::Kept(l) => sd_line(&d, "kept", &l),
                    Verdict::Dropped(i, l) => sd_line(&d, &format!("dropped by {i}"), &l),
                    Verdict::Refused(why) => {
                        sd_line(&d, &format!("refused {why:?}"), &Labels::new())
                    }
                }
            })
            .collect();
        theirs.sort();
        ours.sort();
        targets += theirs.len();
        kept += theirs.iter().filter(|l| l.contains(" => kept ")).count();
        *by_role.entry(sd.role).or_default() += theirs.len();
        with_namespace += usize::from(sd.attach_namespace);
        if theirs != ours {
            failures.push(format!(
                "case {} (role {}):\nobjects: {}\nrules:\n{}Prometheus:\n  {}\nscrapepath:\n  {}",
                c.id,
                sd.role,
                serde_json::Value::Array(sd.objects.clone()),
                c.doc,
                theirs.join("\n  "),
                ours.join("\n  ")
            ));
        }
    }
    eprintln!(
        "service discovery differential: seed {seed:#x}, {n} cases ({with_namespace} with namespace metadata), {} agree; \
         {targets} discovered targets (by role {by_role:?}), {kept} kept by the rules (oracle time {oracle_time:.1?})",
        n - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {n} cases disagree with Prometheus' service discovery (seed {seed:#x}); the first ones:\n\n{}",
        failures.len(),
        failures.iter().take(5).cloned().collect::<Vec<_>>().join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------------------
// Disagreements this differential found, each fixed in src/relabel.rs; Prometheus' answer is the `want`.

enum Want {
    Refused(&'static str),
    Kept(&'static [(&'static str, &'static str)]),
}

struct Regression {
    name: &'static str,
    scheme: NameScheme,
    rules: &'static [&'static str],
    input: &'static [(&'static str, &'static str)],
    want: Want,
}

const REGRESSIONS: &[Regression] = &[
    Regression {
        name: "a null action is refused only after the regex: Prometheus names the bad regex",
        scheme: NameScheme::Utf8,
        rules: &[r#"{action: null, source_labels: [a], regex: "("}"#],
        input: &[("a", "x")],
        want: Want::Refused("invalid_regex"),
    },
    Regression {
        name: "a written empty action is still refused as an empty action",
        scheme: NameScheme::Utf8,
        rules: &[r#"{action: "", source_labels: [a], target_label: b}"#],
        input: &[("a", "x")],
        want: Want::Refused("empty_action"),
    },
    Regression {
        name: "the surrogate class Cs compiles and matches nothing",
        scheme: NameScheme::Utf8,
        rules: &[r#"{source_labels: [a], regex: "\\p{Cs}|x", action: keep}"#],
        input: &[("a", "x")],
        want: Want::Kept(&[("a", "x")]),
    },
    Regression {
        name: "a class without the surrogates matches any character",
        scheme: NameScheme::Utf8,
        rules: &[r#"{source_labels: [a], regex: "[^\\p{Cs}]", action: keep}"#],
        input: &[("a", "é")],
        want: Want::Kept(&[("a", "é")]),
    },
    Regression {
        name: "a thousand repetitions of a Unicode class compile as in Go",
        scheme: NameScheme::Legacy,
        rules: &[r#"{source_labels: [a], regex: "\\pL{0,1000}", action: keep}"#],
        input: &[("a", "abc")],
        want: Want::Kept(&[("a", "abc")]),
    },
    Regression {
        name: "a float modulus is truncated as go-yaml does",
        scheme: NameScheme::Legacy,
        rules: &["{source_labels: [a], target_label: h, modulus: 1.5, action: hashmod}"],
        input: &[("a", "x")],
        want: Want::Kept(&[("a", "x"), ("h", "0")]),
    },
    Regression {
        name: "labeldrop refuses source_labels written as an empty list",
        scheme: NameScheme::Legacy,
        rules: &["{source_labels: [], regex: a, action: labeldrop}"],
        input: &[("a", "x")],
        want: Want::Refused("field_not_allowed"),
    },
    Regression {
        name: "labeldrop accepts null source_labels",
        scheme: NameScheme::Legacy,
        rules: &["{source_labels: null, regex: a, action: labeldrop}"],
        input: &[("a", "x"), ("b", "y")],
        want: Want::Kept(&[("b", "y")]),
    },
    Regression {
        name: "labelmap refuses an empty replacement under UTF-8 names too",
        scheme: NameScheme::Utf8,
        rules: &[r#"{regex: "(.*)", replacement: "", action: labelmap}"#],
        input: &[("a", "x")],
        want: Want::Refused("invalid_labelmap_replacement"),
    },
];

#[test]
fn fixed_disagreements_stay_fixed() {
    let mut failures = Vec::new();
    for case in REGRESSIONS {
        let compiled: Result<Vec<RelabelConfig>, (String, String)> = case
            .rules
            .iter()
            .map(|r| compile_rule(r, case.scheme))
            .collect();
        let mut labels: Labels = case
            .input
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let got = match compiled {
            Err((cat, msg)) => format!("refused {cat}: {msg}"),
            Ok(configs) => match dropping_rule(&mut labels, &configs) {
                None => format!("kept {labels:?}"),
                Some(i) => format!("dropped {i}"),
            },
        };
        let ok = match &case.want {
            Want::Refused(cat) => got.starts_with(&format!("refused {cat}:")),
            Want::Kept(want) => {
                let want: Labels = want
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                got == format!("kept {want:?}")
            }
        };
        if !ok {
            failures.push(format!("{}: got {got}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
