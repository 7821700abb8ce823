//! The CI gate: `scrapepath check -f HEAD --baseline BASE` evaluates the manifests of a change and of its
//! base revision with the same settings and reports what the change **breaks**, what it **fixes**, and the
//! failures it leaves as they were (**pre-existing**: listed, never failing the gate). Exit 1 only for
//! breakage.
//!
//! What counts as breakage, per subject (ScrapeIntent, PodMonitor, ServiceMonitor, scrape job):
//! - a layer (`TargetsResolved`, `ScraperReady`, `MonitorSelected`, and `NetworkReachable`/`MeshAuthorized`
//!   when no target explains them) that did not fail and now fails: a port that no longer resolves, a
//!   monitor no longer selected by its Prometheus, ...;
//! - a group of targets that had scrapeable members and now has a blocked one for a new cause (network
//!   verdict not Allowed, or mesh Denied), or none scrapeable any more, or that disappeared;
//! - a subject that was Ready and is gone;
//! - new subjects and new targets that fail: the change brings them in broken.
//!
//! Targets are grouped across revisions by (subject, scraper, workload — else pod —, port name — else
//! number —, path), and compared by verdict counts: the pods of a workload change names whenever its
//! template changes (`pod-template-hash`), and three identical replicas are one line with a count.
//!
//! Each finding names the objects to blame (the policy and rule that decide a verdict, the objects a
//! condition names), those the change touched first, with the file and line they were read from, for
//! annotations on the pull request ([`Output::Github`]), JUnit XML ([`junit`]) and the `gate` section
//! of the JSON report.

pub mod yamlpos;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::conditions::{self as cond, reason};
use crate::engine::{Report, SubjectReport, TargetOut};
use crate::index::ClusterIndex;
use crate::load::{LoadStats, Origin};

/// An object's identity in findings: kind, namespace (empty when cluster-scoped), name.
pub type Key = (String, String, String);

/// A digest of an object as admitted: two revisions of an object differ exactly when their digests do
/// (map keys in sorted order, so that the order a file lists them in does not count).
pub fn digest(v: &Value) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    hash_value(v, &mut h);
    h.finish()
}

fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.to_string()).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(a) => {
            (4u8, a.len()).hash(h);
            a.iter().for_each(|x| hash_value(x, h));
        }
        Value::Object(m) => {
            (5u8, m.len()).hash(h);
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                k.hash(h);
                hash_value(&m[k], h);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Output formats.

/// `check -o`: the report formats, and `github` (gate only): GitHub Actions workflow commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
    /// GitHub Actions workflow commands (`::error file=…,line=…::`): each breakage annotates the object
    /// to blame on the pull request; a summary goes to `$GITHUB_STEP_SUMMARY` when set. Needs
    /// `--baseline`.
    Github,
}

impl Output {
    /// The report format it stands for without `--baseline` (`None`: `github`, gate only).
    pub fn report_format(self) -> Option<crate::report::Format> {
        use crate::report::Format;
        match self {
            Output::Text => Some(Format::Text),
            Output::Json => Some(Format::Json),
            Output::Yaml => Some(Format::Yaml),
            Output::Github => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// One revision.

/// One revision, evaluated: its report, the workload of each target pod, where each object was read.
#[derive(Debug, Clone)]
pub struct Side {
    pub report: Report,
    /// Target pod (`namespace/name`) → the workload it belongs to (`Kind`, namespace, name); a pod of none
    /// is absent.
    pub workloads: BTreeMap<String, Key>,
    pub origins: BTreeMap<Key, Origin>,
    /// Object → its digest ([`digest`]).
    pub digests: BTreeMap<Key, u64>,
}

impl Default for Side {
    /// A revision without objects (a base revision before the first manifests).
    fn default() -> Self {
        Side {
            report: Report {
                subjects: Vec::new(),
            },
            workloads: BTreeMap::new(),
            origins: BTreeMap::new(),
            digests: BTreeMap::new(),
        }
    }
}

impl Side {
    pub fn new(report: Report, index: &ClusterIndex, stats: &LoadStats) -> Side {
        let mut workloads = BTreeMap::new();
        for t in report.subjects.iter().flat_map(|s| &s.targets) {
            if workloads.contains_key(&t.pod) {
                continue;
            }
            let Some((ns, name)) = t.pod.split_once('/') else {
                continue;
            };
            if let Some((_, pod)) = index.pod_by_name(ns, name) {
                // A modelled pod's workload, else the live pod's controller (a Deployment's through its
                // ReplicaSet).
                let w = match &pod.modelled {
                    Some(m) => m.workload.clone(),
                    None => crate::engine::pod_workload(pod),
                };
                if w.kind != crate::model::Kind::Pod {
                    workloads.insert(
                        t.pod.clone(),
                        (w.kind.to_string(), w.namespace.clone(), w.name.clone()),
                    );
                }
            }
        }
        Side {
            report,
            workloads,
            digests: stats
                .origins
                .iter()
                .map(|(k, o)| (k.clone(), o.digest))
                .collect(),
            origins: stats.origins.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// The result.

/// What the gate found (the `gate` section of `check -o json --baseline`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    /// What the change breaks: each fails the gate.
    pub broken: Vec<Finding>,
    /// What the change fixes.
    pub fixed: Vec<Finding>,
    /// Failures the change leaves as they were: listed, never failing the gate.
    pub preexisting: Vec<Finding>,
    /// The objects the change adds, removes or modifies (as admitted).
    pub changed_objects: Vec<Located>,
}

impl Gate {
    pub fn passes(&self) -> bool {
        self.broken.is_empty()
    }
}

/// One finding about one subject: a layer, or a group of its targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub subject: ObjOut,
    /// The condition type of the layer (`Ready` for a subject that is gone).
    pub layer: String,
    /// `ConditionFailed`, `ConditionPasses`, `TargetBlocked`, `TargetReachable`, `TargetGone`,
    /// `SubjectGone`.
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetGroup>,
    /// The state in the base revision, and in the change (`absent` when not there).
    pub before: String,
    pub after: String,
    /// Why, in the words of the analysis (the condition message, or the target's verdict reason).
    pub message: String,
    /// The objects to blame, those the change touched first.
    pub blame: Vec<Located>,
}

impl Finding {
    /// Where an annotation goes: the first object to blame that has a line in the change, else the first
    /// with a file.
    pub fn location(&self) -> Option<&Located> {
        self.blame
            .iter()
            .find(|b| b.file.is_some() && b.line.is_some())
            .or_else(|| self.blame.iter().find(|b| b.file.is_some()))
    }

    fn title(&self) -> String {
        format!(
            "{} {}: {}",
            self.subject.kind,
            self.subject.display_name(),
            self.headline()
        )
    }

    /// One line: what changed.
    pub fn headline(&self) -> String {
        match &self.target {
            Some(t) => format!("{}: {} -> {}", t.display(), self.before, self.after),
            None => format!("{}: {} -> {}", self.layer, self.before, self.after),
        }
    }
}

/// A group of targets: a subject's targets of one workload (or pod), port and path, for one scraper.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroup {
    pub scraper: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<ObjOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    pub path: String,
    /// How many targets the group holds in the change (in the base revision when it is gone).
    pub count: usize,
}

impl TargetGroup {
    pub fn display(&self) -> String {
        let unit = match (&self.workload, &self.pod) {
            (Some(w), _) => format!("{} {}", w.kind, w.display_name()),
            (None, Some(p)) => format!("Pod {p}"),
            (None, None) => "?".into(),
        };
        let port = match &self.port_name {
            Some(n) => format!("{} ({n})", self.port),
            None => self.port.to_string(),
        };
        let n = if self.count == 1 {
            "1 target".to_string()
        } else {
            format!("{} targets", self.count)
        };
        format!(
            "{n} of {unit} port {port} {} <- {}",
            self.path, self.scraper
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjOut {
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

impl ObjOut {
    fn from_key(k: &Key) -> ObjOut {
        ObjOut {
            kind: k.0.clone(),
            namespace: k.1.clone(),
            name: k.2.clone(),
        }
    }

    fn display_name(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }
}

/// An object, with the rule to blame in it and where the change holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Located {
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    /// The path of the rule to blame inside it (`spec.ingress[2]`), when the analysis names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// `added`, `removed` or `modified` by the change; absent when it is the same in both revisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// The file of the change that holds it (for a removed object: the file it was in, when the change
    /// still has that file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line: of the rule when one is named, else of the object's `kind:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Located {
    pub fn display(&self) -> String {
        let mut s = if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        };
        if let Some(r) = &self.rule {
            let _ = write!(s, " {r}");
        }
        match (&self.file, self.line) {
            (Some(f), Some(l)) => {
                let _ = write!(s, " ({f}:{l})");
            }
            (Some(f), None) => {
                let _ = write!(s, " ({f})");
            }
            _ => {}
        }
        if let Some(c) = &self.change {
            let _ = write!(s, " [{c} by this change]");
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------------------
// Locating objects in files.

/// Finds files and lines of objects; reads each file once.
struct Locator<'a> {
    base: &'a Side,
    head: &'a Side,
    /// Base path prefix → head path prefix, for a removed object's file.
    roots: Vec<(PathBuf, PathBuf)>,
    texts: HashMap<PathBuf, Option<String>>,
}

impl<'a> Locator<'a> {
    fn change(&self, k: &Key) -> Option<&'static str> {
        match (self.base.digests.get(k), self.head.digests.get(k)) {
            (None, Some(_)) => Some("added"),
            (Some(_), None) => Some("removed"),
            (Some(a), Some(b)) if a != b => Some("modified"),
            _ => None,
        }
    }

    fn text(&mut self, path: &Path) -> Option<&str> {
        self.texts
            .entry(path.to_path_buf())
            .or_insert_with(|| std::fs::read_to_string(path).ok())
            .as_deref()
    }

    fn locate(&mut self, k: &Key, rule: Option<&str>) -> Located {
        let change = self.change(k);
        let mut file = None;
        let mut line = None;
        if let Some(o) = self.head.origins.get(k).cloned() {
            // Standard input has no file to point at.
            if o.path.is_file() {
                file = Some(o.path.clone());
                if let Some(text) = self.text(&o.path) {
                    let text = text.to_string();
                    let obj = yamlpos::object_line(&text, o.doc, o.item);
                    line = match (obj, rule) {
                        (Some(l), Some(r)) => yamlpos::path_line(&text, l, r).or(Some(l)),
                        (l, _) => l,
                    };
                }
            }
        } else if let Some(o) = self.base.origins.get(k) {
            // Removed: the file it was in, when the change still has it.
            file = self
                .roots
                .iter()
                .find_map(|(b, h)| o.path.strip_prefix(b).ok().map(|rest| h.join(rest)))
                .filter(|p| p.is_file());
        }
        Located {
            kind: k.0.clone(),
            namespace: k.1.clone(),
            name: k.2.clone(),
            rule: rule.map(str::to_string),
            change: change.map(str::to_string),
            file: file.map(|f| display_path(&f)),
            line,
        }
    }

    /// The objects a message names (`Kind namespace/name`), among those either revision holds.
    fn mentioned(&self, message: &str) -> Vec<(Key, Option<String>)> {
        let mut out: Vec<(usize, Key, Option<String>)> = Vec::new();
        let keys: BTreeSet<&Key> = self
            .head
            .digests
            .keys()
            .chain(self.base.digests.keys())
            .collect();
        for k in keys {
            let name = if k.1.is_empty() {
                format!("{} {}", k.0, k.2)
            } else {
                format!("{} {}/{}", k.0, k.1, k.2)
            };
            if let Some((at, rule)) = find_name(message, &name) {
                out.push((at, k.clone(), rule));
            }
        }
        out.sort_by_key(|(at, _, _)| *at);
        out.into_iter().map(|(_, k, r)| (k, r)).collect()
    }

    /// The objects the change touched whose `namespace/name` a message names without their kind (`pod
    /// default/webpod-697b545f57-cgqbz:80`).
    fn changed_mentioned(&self, message: &str) -> Vec<Key> {
        let keys: BTreeSet<&Key> = self
            .head
            .digests
            .keys()
            .chain(self.base.digests.keys())
            .collect();
        keys.into_iter()
            .filter(|k| !k.1.is_empty() && self.change(k).is_some())
            .filter(|k| !find_names(message, &format!("{}/{}", k.1, k.2)).is_empty())
            .cloned()
            .collect()
    }
}

/// The positions of `name` in `text` as a whole name (not the start of a longer one).
fn find_names(text: &str, name: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(name) {
        let at = from + i;
        let next = text[at + name.len()..].chars().next();
        if !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            out.push(at);
        }
        from = at + 1;
    }
    out
}

/// The first position of `name` in `text`, and the rule named after one of its mentions.
fn find_name(text: &str, name: &str) -> Option<(usize, Option<String>)> {
    let all = find_names(text, name);
    let rule = all
        .iter()
        .find_map(|&at| rule_after(&text[at + name.len()..]));
    all.first().map(|&at| (at, rule))
}

/// The field path that follows an object's name in a reason (` spec.ingress[2]: ...`).
fn rule_after(rest: &str) -> Option<String> {
    let rest = rest.strip_prefix(' ')?;
    if !rest.starts_with("spec") && !rest.starts_with("metadata") {
        return None;
    }
    let path: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_'))
        .collect();
    let path = path.trim_end_matches('.').to_string();
    (!path.is_empty()).then_some(path)
}

/// A path as annotations want it: relative to the workspace (or the working directory), `/` separated.
fn display_path(p: &Path) -> String {
    let roots = [
        std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from),
        std::env::current_dir().ok(),
    ];
    let rel = roots
        .iter()
        .flatten()
        .find_map(|r| p.strip_prefix(r).ok())
        .unwrap_or(p);
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

// ---------------------------------------------------------------------------------------------------------
// The diff.

/// A target's verdict class: scrapeable, or blocked by a layer with a verdict and the objects deciding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Ok,
    Blocked {
        layer: &'static str,
        verdict: String,
        decided_by: Vec<Key>,
    },
}

fn class_of(t: &TargetOut) -> (Class, String) {
    let refs = |l: &crate::engine::LayerOut| -> Vec<Key> {
        l.decided_by
            .iter()
            .map(|r| (r.kind.clone(), r.namespace.clone(), r.name.clone()))
            .collect()
    };
    if t.network.verdict != "Allowed" {
        (
            Class::Blocked {
                layer: cond::NETWORK_REACHABLE,
                verdict: t.network.verdict.clone(),
                decided_by: refs(&t.network),
            },
            t.network.reason.to_string(),
        )
    } else if t.mesh.verdict == "Denied" {
        (
            Class::Blocked {
                layer: cond::MESH_AUTHORIZED,
                verdict: t.mesh.verdict.clone(),
                decided_by: refs(&t.mesh),
            },
            t.mesh.reason.to_string(),
        )
    } else {
        (Class::Ok, String::new())
    }
}

/// The targets of one group in one revision.
#[derive(Debug, Clone, Default)]
struct Group {
    sample: Option<TargetOut>,
    workload: Option<Key>,
    total: usize,
    /// Count and a reason, per class.
    classes: BTreeMap<Class, (usize, String)>,
}

impl Group {
    fn ok(&self) -> usize {
        self.classes.get(&Class::Ok).map_or(0, |c| c.0)
    }

    fn blocked(&self) -> impl Iterator<Item = (&Class, &(usize, String))> {
        self.classes.iter().filter(|(c, _)| **c != Class::Ok)
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .classes
            .iter()
            .map(|(c, (n, _))| match c {
                Class::Ok => format!("{n} scrapeable"),
                Class::Blocked { layer, verdict, .. } => {
                    let l = if *layer == cond::NETWORK_REACHABLE {
                        "network"
                    } else {
                        "mesh"
                    };
                    format!("{n} {l} {verdict}")
                }
            })
            .collect();
        parts.join(", ")
    }
}

type GroupKey = (String, String, String, String);

fn groups(s: &SubjectReport, side: &Side) -> BTreeMap<GroupKey, Group> {
    let mut out: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for t in &s.targets {
        let workload = side.workloads.get(&t.pod).cloned();
        let unit = match &workload {
            Some(w) => format!("{} {}/{}", w.0, w.1, w.2),
            None => format!("Pod {}", t.pod),
        };
        let port = t.port_name.clone().unwrap_or_else(|| t.port.to_string());
        let g = out
            .entry((t.scraper.clone(), unit, port, t.path.clone()))
            .or_default();
        g.total += 1;
        g.workload = workload;
        let (class, why) = class_of(t);
        let e = g.classes.entry(class).or_insert((0, why));
        e.0 += 1;
        if g.sample.is_none() {
            g.sample = Some(t.clone());
        }
    }
    out
}

/// A group's workload, and a pod of it.
fn unit(g: &Group) -> (Option<&Key>, Option<&str>) {
    (
        g.workload.as_ref(),
        g.sample.as_ref().map(|t| t.pod.as_str()),
    )
}

fn target_group(g: &Group) -> TargetGroup {
    let t = g.sample.as_ref().expect("a group has a target");
    TargetGroup {
        scraper: t.scraper.clone(),
        workload: g.workload.as_ref().map(ObjOut::from_key),
        pod: g.workload.is_none().then(|| t.pod.clone()),
        port: t.port,
        port_name: t.port_name.clone(),
        path: t.path.clone(),
        count: g.total,
    }
}

fn subject_key(s: &SubjectReport) -> Key {
    (s.kind.clone(), s.namespace.clone(), s.name.clone())
}

/// The layers compared by condition (`Scraped` is an observation of the cluster, not of a revision;
/// `Ready` follows from the others).
const LAYERS: [&str; 6] = [
    cond::TARGETS_RESOLVED,
    cond::SCRAPER_READY,
    cond::MONITOR_SELECTED,
    cond::DISCOVERY_PERMITTED,
    cond::NETWORK_REACHABLE,
    cond::MESH_AUTHORIZED,
];

/// Reasons that only follow from an earlier layer (no targets, no scraper).
const CONSEQUENCES: [&str; 3] = [
    reason::NO_TARGETS,
    reason::NO_SCRAPER,
    reason::NOT_EVALUATED,
];

fn status_text(c: Option<&crate::engine::ConditionOut>) -> String {
    match c {
        Some(c) => format!("{} ({})", c.status, c.reason),
        None => "absent".into(),
    }
}

/// Compares two revisions. `roots` maps the baseline's paths to the change's (for the files of removed
/// objects); it may be empty.
pub fn diff(base: &Side, head: &Side, roots: &[(PathBuf, PathBuf)]) -> Gate {
    let mut loc = Locator {
        base,
        head,
        roots: roots.to_vec(),
        texts: HashMap::new(),
    };
    let mut gate = Gate::default();
    let base_subjects: BTreeMap<Key, &SubjectReport> = base
        .report
        .subjects
        .iter()
        .map(|s| (subject_key(s), s))
        .collect();
    let head_keys: BTreeSet<Key> = head.report.subjects.iter().map(subject_key).collect();

    for h in &head.report.subjects {
        let b = base_subjects.get(&subject_key(h)).copied();
        compare_subject(&mut loc, &mut gate, b, h);
    }
    for b in &base.report.subjects {
        let k = subject_key(b);
        if head_keys.contains(&k) {
            continue;
        }
        let ready = b.condition(cond::READY);
        let finding = Finding {
            subject: ObjOut::from_key(&k),
            layer: cond::READY.into(),
            what: "SubjectGone".into(),
            target: None,
            before: status_text(ready),
            after: "absent".into(),
            message: if b.ready {
                format!(
                    "{} {}/{} was Ready and is no longer checked: the change removes it, or what made it a subject",
                    b.kind, b.namespace, b.name
                )
            } else {
                format!(
                    "no longer checked (the change removes it); it was not Ready: {}",
                    ready.map(|c| c.message.as_str()).unwrap_or_default()
                )
            },
            blame: vec![loc.locate(&k, None)],
        };
        if b.ready {
            gate.broken.push(finding);
        } else {
            gate.fixed.push(finding);
        }
    }

    let keys: BTreeSet<&Key> = base.digests.keys().chain(head.digests.keys()).collect();
    let changed: Vec<&Key> = keys
        .into_iter()
        .filter(|k| loc.change(k).is_some())
        .collect();
    gate.changed_objects = changed.into_iter().map(|k| loc.locate(k, None)).collect();
    gate
}

fn compare_subject(
    loc: &mut Locator<'_>,
    gate: &mut Gate,
    b: Option<&SubjectReport>,
    h: &SubjectReport,
) {
    let subject = subject_key(h);
    let mut broken = Vec::new();
    let mut fixed = Vec::new();
    let mut pre = Vec::new();

    // Targets, by group.
    let bg = b.map(|b| groups(b, loc.base)).unwrap_or_default();
    let hg = groups(h, loc.head);
    let group_keys: BTreeSet<&GroupKey> = bg.keys().chain(hg.keys()).collect();
    for gk in group_keys {
        let (before, after) = (bg.get(gk), hg.get(gk));
        let before_text = before.map_or("absent".into(), Group::describe);
        let after_text = after.map_or("absent".into(), Group::describe);
        let b_ok = before.map_or(0, Group::ok);
        match after {
            None => {
                let g = before.expect("a key of either side");
                let f = Finding {
                    subject: ObjOut::from_key(&subject),
                    layer: cond::TARGETS_RESOLVED.into(),
                    what: "TargetGone".into(),
                    target: Some(target_group(g)),
                    before: before_text,
                    after: after_text,
                    message: h
                        .condition(cond::TARGETS_RESOLVED)
                        .map(|c| c.message.clone())
                        .unwrap_or_default(),
                    blame: blame_objects(loc, &subject, unit(g), &[], None),
                };
                if b_ok > 0 {
                    broken.push(f);
                } else {
                    fixed.push(f);
                }
            }
            Some(g) => {
                let mut any_blocked = false;
                for (class, (n, why)) in g.blocked() {
                    any_blocked = true;
                    let Class::Blocked {
                        layer, decided_by, ..
                    } = class
                    else {
                        continue;
                    };
                    let new_cause = before.is_none_or(|bg| !bg.classes.contains_key(class));
                    let lost_all = b_ok > 0 && g.ok() == 0;
                    let is_broken = before.is_none() || (b_ok > 0 && (new_cause || lost_all));
                    let mut tg = target_group(g);
                    tg.count = *n;
                    let f = Finding {
                        subject: ObjOut::from_key(&subject),
                        layer: (*layer).into(),
                        what: "TargetBlocked".into(),
                        target: Some(tg),
                        before: before_text.clone(),
                        after: after_text.clone(),
                        message: why.clone(),
                        blame: blame_objects(loc, &subject, unit(g), decided_by, Some(why)),
                    };
                    if is_broken {
                        broken.push(f);
                    } else {
                        pre.push(f);
                    }
                }
                let b_blocked = before.is_some_and(|bg| bg.blocked().next().is_some());
                if !any_blocked && b_blocked {
                    let bgroup = before.expect("blocked before");
                    let (class, why) = bgroup
                        .blocked()
                        .next()
                        .map(|(c, (_, why))| (c.clone(), why.clone()))
                        .expect("blocked before");
                    let (layer, decided_by) = match &class {
                        Class::Blocked {
                            layer, decided_by, ..
                        } => (*layer, decided_by.clone()),
                        Class::Ok => unreachable!("a blocked class"),
                    };
                    fixed.push(Finding {
                        subject: ObjOut::from_key(&subject),
                        layer: layer.into(),
                        what: "TargetReachable".into(),
                        target: Some(target_group(g)),
                        before: before_text,
                        after: after_text,
                        message: format!("was: {why}"),
                        blame: blame_objects(loc, &subject, unit(g), &decided_by, Some(&why)),
                    });
                }
            }
        }
    }

    // Layers, by condition.
    for layer in LAYERS {
        let bc = b.and_then(|b| b.condition(layer));
        let hc = h.condition(layer);
        let failing =
            |c: Option<&crate::engine::ConditionOut>| c.is_some_and(|c| c.status == "False");
        let passing =
            |c: Option<&crate::engine::ConditionOut>| c.is_some_and(|c| c.status == "True");
        let target_layer = layer == cond::NETWORK_REACHABLE || layer == cond::MESH_AUTHORIZED;
        let covered = |v: &Vec<Finding>| v.iter().any(|f| f.layer == layer);
        if target_layer && (covered(&broken) || covered(&fixed) || covered(&pre)) {
            continue;
        }
        let make = |loc: &mut Locator<'_>, what: &str, c: &crate::engine::ConditionOut| Finding {
            subject: ObjOut::from_key(&subject),
            layer: layer.into(),
            what: what.into(),
            target: None,
            before: status_text(bc),
            after: status_text(hc),
            message: c.message.clone(),
            blame: condition_blame(loc, &subject, &c.message),
        };
        match (failing(bc), failing(hc)) {
            (false, true) => {
                let c = hc.expect("failing");
                broken.push(make(loc, "ConditionFailed", c));
            }
            (true, true) => {
                let c = hc.expect("failing");
                pre.push(make(loc, "ConditionFailed", c));
            }
            (true, false) if passing(hc) => {
                let c = bc.expect("failing");
                fixed.push(make(loc, "ConditionPasses", c));
            }
            _ => {}
        }
    }

    // What only follows from another breakage is not one more: layers without targets or scraper, and
    // targets gone when TargetsResolved fails.
    let primary = |f: &Finding| {
        let consequence = f.what == "ConditionFailed"
            && h.condition(&f.layer)
                .is_some_and(|c| CONSEQUENCES.contains(&c.reason.as_str()));
        !consequence
    };
    if broken.iter().any(primary) {
        broken.retain(primary);
    }
    let unresolved = broken
        .iter()
        .any(|f| f.what == "ConditionFailed" && f.layer == cond::TARGETS_RESOLVED);
    if unresolved {
        broken.retain(|f| f.what != "TargetGone");
    }
    gate.broken.extend(broken);
    gate.fixed.extend(fixed);
    gate.preexisting.extend(pre);
}

/// The objects to blame for a group of targets: those deciding the verdict (with the rule the reason
/// names), then the workload and the subject when the change touched them; changed ones first.
fn blame_objects(
    loc: &mut Locator<'_>,
    subject: &Key,
    (workload, pod): (Option<&Key>, Option<&str>),
    decided_by: &[Key],
    why: Option<&str>,
) -> Vec<Located> {
    let mut out = Vec::new();
    for k in decided_by {
        let name = if k.1.is_empty() {
            format!("{} {}", k.0, k.2)
        } else {
            format!("{} {}/{}", k.0, k.1, k.2)
        };
        let rule = why.and_then(|w| find_name(w, &name)).and_then(|(_, r)| r);
        out.push(loc.locate(k, rule.as_deref()));
    }
    // Objects the reason names besides those (a mesh policy, a namespace), then the workload and subject.
    if let Some(w) = why {
        for (k, rule) in loc.mentioned(w) {
            if !decided_by.contains(&k) {
                out.push(loc.locate(&k, rule.as_deref()));
            }
        }
    }
    // The workload, the pod and the subject, when nothing deciding changed (a label, a port, a
    // selector).
    if !out.iter().any(|l| l.change.is_some()) {
        let mut related: Vec<Key> = workload.into_iter().cloned().collect();
        related.extend(
            pod.and_then(|p| p.split_once('/'))
                .map(|(ns, n)| ("Pod".to_string(), ns.to_string(), n.to_string())),
        );
        if let Some(w) = why {
            related.extend(loc.changed_mentioned(w));
        }
        related.push(subject.clone());
        for k in &related {
            if !out
                .iter()
                .any(|l| (&l.kind, &l.namespace, &l.name) == (&k.0, &k.1, &k.2))
            {
                out.push(loc.locate(k, None));
            }
        }
    }
    // Keep what decides, and whatever else the change touched.
    let deciding = decided_by.len();
    let mut kept: Vec<Located> = out
        .into_iter()
        .enumerate()
        .filter(|(i, l)| *i < deciding || l.change.is_some())
        .map(|(_, l)| l)
        .collect();
    if kept.is_empty() {
        kept.push(loc.locate(subject, None));
    }
    kept.sort_by_key(|l| l.change.is_none());
    kept
}

/// The objects to blame for a layer: those its message names, changed ones first; the subject when none
/// changed.
fn condition_blame(loc: &mut Locator<'_>, subject: &Key, message: &str) -> Vec<Located> {
    let mut out: Vec<Located> = loc
        .mentioned(message)
        .into_iter()
        .map(|(k, rule)| loc.locate(&k, rule.as_deref()))
        .collect();
    if !out.iter().any(|l| l.change.is_some()) {
        for k in loc.changed_mentioned(message) {
            out.push(loc.locate(&k, None));
        }
    }
    if !out
        .iter()
        .any(|l| (&l.kind, &l.namespace, &l.name) == (&subject.0, &subject.1, &subject.2))
    {
        out.push(loc.locate(subject, None));
    }
    out.sort_by_key(|l| l.change.is_none());
    out
}

// ---------------------------------------------------------------------------------------------------------
// Rendering.

/// The gate for people: breakage first, with the objects to blame, then fixes, then what was already
/// failing.
pub fn text(gate: &Gate) -> String {
    let mut out = String::new();
    let section = |out: &mut String, title: &str, items: &[Finding], why: bool| {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}");
        for f in items {
            let _ = writeln!(out, "  {}", f.title());
            if why && !f.message.is_empty() {
                let _ = writeln!(out, "      why: {}", f.message);
            }
            for b in &f.blame {
                let _ = writeln!(out, "      blame: {}", b.display());
            }
        }
        out.push('\n');
    };
    section(
        &mut out,
        "BROKEN by this change (the gate fails):",
        &gate.broken,
        true,
    );
    section(&mut out, "FIXED by this change:", &gate.fixed, false);
    section(
        &mut out,
        "PRE-EXISTING (failing before the change too; the gate ignores them):",
        &gate.preexisting,
        true,
    );
    let _ = writeln!(
        out,
        "gate: {}: {} broken, {} fixed, {} pre-existing; {} object(s) changed",
        if gate.passes() { "PASS" } else { "FAIL" },
        gate.broken.len(),
        gate.fixed.len(),
        gate.preexisting.len(),
        gate.changed_objects.len()
    );
    out
}

/// The `check` report with the `gate` section added (JSON and YAML: the §7 contract, extended only by
/// addition).
#[derive(Serialize)]
pub struct WithGate<'a> {
    #[serde(flatten)]
    pub report: &'a Report,
    pub gate: &'a Gate,
}

/// Escapes a workflow command's message (`%`, CR, LF) or, with `property`, a property value (also `:`
/// and `,`).
fn escape(s: &str, property: bool) -> String {
    let mut out = s
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        out = out.replace(':', "%3A").replace(',', "%2C");
    }
    out
}

fn command(level: &str, f: &Finding) -> String {
    let mut props = Vec::new();
    if let Some(l) = f.location() {
        if let Some(file) = &l.file {
            props.push(format!("file={}", escape(file, true)));
        }
        if let Some(line) = l.line {
            props.push(format!("line={line}"));
        }
    }
    props.push(format!(
        "title={}",
        escape(&format!("scrapepath: {}", f.title()), true)
    ));
    let mut message = f.message.clone();
    for b in &f.blame {
        let _ = write!(message, "\nblame: {}", b.display());
    }
    format!(
        "::{level} {}::{}\n",
        props.join(","),
        escape(&message, false)
    )
}

/// GitHub Actions workflow commands: an `error` per breakage and a `notice` per fix, at the object to
/// blame; pre-existing failures in a collapsed group of the log (no annotation: GitHub shows at most 10
/// of each level per step, kept for what the change did). Then the text summary.
pub fn github(gate: &Gate) -> String {
    let mut out = String::new();
    for f in &gate.broken {
        out.push_str(&command("error", f));
    }
    for f in &gate.fixed {
        out.push_str(&command("notice", f));
    }
    out.push_str(&text(gate));
    out
}

/// A Markdown summary for `$GITHUB_STEP_SUMMARY` (the run's summary page).
pub fn step_summary(gate: &Gate) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### scrapepath gate: {}\n\n{} broken, {} fixed, {} pre-existing; {} object(s) changed\n",
        if gate.passes() { "pass" } else { "**FAIL**" },
        gate.broken.len(),
        gate.fixed.len(),
        gate.preexisting.len(),
        gate.changed_objects.len()
    );
    for (title, items) in [
        ("Broken", &gate.broken),
        ("Fixed", &gate.fixed),
        ("Pre-existing", &gate.preexisting),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "| {title} | subject | what | blame |\n|---|---|---|---|"
        );
        for f in items {
            let blame: Vec<String> = f.blame.iter().map(Located::display).collect();
            let _ = writeln!(
                out,
                "| | {} {} | {} | {} |",
                f.subject.kind,
                f.subject.display_name(),
                md(&f.headline()),
                md(&blame.join("; "))
            );
        }
        out.push('\n');
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: a testcase per subject of either revision; a breakage fails it; fixes and pre-existing
/// failures are its output.
pub fn junit(gate: &Gate, base: &Report, head: &Report) -> String {
    let mut subjects: Vec<ObjOut> = Vec::new();
    for s in head.subjects.iter().chain(&base.subjects) {
        let o = ObjOut::from_key(&subject_key(s));
        if !subjects.contains(&o) {
            subjects.push(o);
        }
    }
    let failures = subjects
        .iter()
        .filter(|s| gate.broken.iter().any(|f| &f.subject == *s))
        .count();
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<testsuites name="scrapepath gate" tests="{}" failures="{failures}">"#,
        subjects.len()
    );
    let _ = writeln!(
        out,
        r#"  <testsuite name="scrapepath check --baseline" tests="{}" failures="{failures}" errors="0" skipped="0">"#,
        subjects.len()
    );
    for s in &subjects {
        let of = |v: &[Finding]| -> Vec<Finding> {
            v.iter().filter(|f| &f.subject == s).cloned().collect()
        };
        let (broken, fixed, pre) = (of(&gate.broken), of(&gate.fixed), of(&gate.preexisting));
        let mut attrs = format!(
            r#"classname="{}" name="{}""#,
            xml(&s.kind),
            xml(&s.display_name())
        );
        if let Some(l) = broken.first().and_then(Finding::location) {
            if let Some(f) = &l.file {
                let _ = write!(attrs, r#" file="{}""#, xml(f));
            }
            if let Some(n) = l.line {
                let _ = write!(attrs, r#" line="{n}""#);
            }
        }
        let _ = writeln!(out, "    <testcase {attrs}>");
        for f in &broken {
            let mut body = f.message.clone();
            for b in &f.blame {
                let _ = write!(body, "\nblame: {}", b.display());
            }
            let _ = writeln!(
                out,
                r#"      <failure type="{}" message="{}">{}</failure>"#,
                xml(&f.layer),
                xml(&f.headline()),
                xml(&body)
            );
        }
        if !fixed.is_empty() || !pre.is_empty() {
            let mut body = String::new();
            for f in &fixed {
                let _ = writeln!(body, "fixed: {}", f.headline());
            }
            for f in &pre {
                let _ = writeln!(body, "pre-existing: {}", f.headline());
            }
            let _ = writeln!(out, "      <system-out>{}</system-out>", xml(&body));
        }
        let _ = writeln!(out, "    </testcase>");
    }
    let _ = writeln!(out, "  </testsuite>\n</testsuites>");
    out
}

// ---------------------------------------------------------------------------------------------------------
// The command.

/// What `check --baseline` is given besides the change's evaluation.
pub struct Run<'a> {
    pub baseline: &'a [PathBuf],
    pub head_paths: &'a [PathBuf],
    pub recursive: bool,
    pub settings: &'a crate::admission::Settings,
    pub engine: &'a crate::engine::EngineConfig,
    pub output: Output,
    pub junit: Option<&'a Path>,
}

/// Runs the gate on the change's evaluation: loads and evaluates the baseline with the same settings,
/// prints the findings, writes the JUnit report. Exit code: 0 nothing broken, 1 breakage, 2 bad input
/// (a baseline that is not a file or directory, or does not load).
pub fn run(r: &Run<'_>, head: Side) -> u8 {
    for p in r.baseline {
        if p.as_os_str() == "-" {
            eprintln!("scrapepath: --baseline -: the baseline must be files or directories (standard input is for -f)");
            return 2;
        }
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() || m.is_file() => {}
            Ok(_) => {
                eprintln!(
                    "scrapepath: --baseline {}: not a file or directory",
                    p.display()
                );
                return 2;
            }
            Err(e) => {
                eprintln!(
                    "scrapepath: --baseline {}: {e}: the base revision's manifests (a directory or file) are expected",
                    p.display()
                );
                return 2;
            }
        }
    }
    let base = match crate::load::load_index_with(r.baseline, r.recursive, r.settings) {
        Ok((index, stats)) => {
            let report = crate::engine::evaluate_observed(&index, r.engine, None);
            Side::new(report, &index, &stats)
        }
        // A base revision without manifests (the change adds the first ones): everything is new.
        Err(crate::load::LoadError::NoObjects { .. }) => {
            eprintln!(
                "scrapepath: the baseline holds no object: every subject of the change is new"
            );
            Side::default()
        }
        Err(e) => {
            let problems = e.problems();
            for p in &problems {
                eprintln!("scrapepath: baseline: {p}");
            }
            eprintln!(
                "scrapepath: {} problem(s) in the baseline (the base revision's manifests): nothing was compared",
                problems.len()
            );
            return 2;
        }
    };
    let roots: Vec<(PathBuf, PathBuf)> = if r.baseline.len() == r.head_paths.len() {
        r.baseline
            .iter()
            .cloned()
            .zip(r.head_paths.iter().cloned())
            .collect()
    } else {
        Vec::new()
    };
    let gate = diff(&base, &head, &roots);
    let printed = match r.output {
        Output::Text => text(&gate),
        Output::Github => {
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                use std::io::Write as _;
                let written = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(step_summary(&gate).as_bytes()));
                if let Err(e) = written {
                    eprintln!(
                        "scrapepath: cannot write the step summary {}: {e}",
                        PathBuf::from(path).display()
                    );
                }
            }
            github(&gate)
        }
        Output::Json => {
            let mut s = serde_json::to_string_pretty(&WithGate {
                report: &head.report,
                gate: &gate,
            })
            .expect("report serialises");
            s.push('\n');
            s
        }
        Output::Yaml => serde_yaml_ng::to_string(&WithGate {
            report: &head.report,
            gate: &gate,
        })
        .expect("report serialises"),
    };
    print!("{printed}");
    if let Some(path) = r.junit {
        if let Err(e) = std::fs::write(path, junit(&gate, &base.report, &head.report)) {
            eprintln!("scrapepath: --junit {}: {e}", path.display());
            return 2;
        }
    }
    if gate.passes() {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ConditionOut, LayerOut, RefOut};

    fn layer(verdict: &str, reason: &str, by: &[(&str, &str, &str)]) -> LayerOut {
        LayerOut {
            verdict: verdict.into(),
            reason: reason.into(),
            decided_by: by
                .iter()
                .map(|(k, ns, n)| RefOut {
                    kind: (*k).into(),
                    namespace: (*ns).into(),
                    name: (*n).into(),
                })
                .collect(),
        }
    }

    const CNP: (&str, &str, &str) = ("CiliumNetworkPolicy", "app", "isolation");
    const DENIED: &str = "default-deny because of CiliumNetworkPolicy app/isolation, and no rule admits it: CiliumNetworkPolicy app/isolation spec.ingress[1]: fromEndpoints [{}] admits only pods of namespace app";

    fn target(pod: &str, network: &str) -> TargetOut {
        TargetOut {
            pod: format!("app/{pod}"),
            workload: None,
            address: None,
            port: 9090,
            port_name: Some("metrics".into()),
            path: "/metrics".into(),
            scraper: "monitoring/k8s".into(),
            network: if network == "Allowed" {
                layer("Allowed", "admitted", &[CNP])
            } else {
                layer(network, DENIED, &[CNP])
            },
            mesh: layer("NotApplicable", "no mesh", &[]),
            observed: None,
        }
    }

    fn c(type_: &str, status: &str, reason: &str, message: &str) -> ConditionOut {
        ConditionOut {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn subject(name: &str, targets: Vec<TargetOut>, selected: bool) -> SubjectReport {
        let blocked = targets.iter().any(TargetOut::blocked);
        let mut conditions = vec![
            c(cond::TARGETS_RESOLVED, "True", reason::RESOLVED, "resolved"),
            if selected {
                c(cond::MONITOR_SELECTED, "True", reason::SELECTED, "selected")
            } else {
                c(
                    cond::MONITOR_SELECTED,
                    "False",
                    reason::LABELS_MISMATCH,
                    &format!("Prometheus monitoring/k8s selects PodMonitors by spec.podMonitorSelector; PodMonitor app/{name} lacks release=x"),
                )
            },
            if blocked {
                c(
                    cond::NETWORK_REACHABLE,
                    "False",
                    reason::BLOCKED_BY_POLICY,
                    DENIED,
                )
            } else {
                c(cond::NETWORK_REACHABLE, "True", reason::ALLOWED, "ok")
            },
        ];
        let ready = selected && !blocked;
        conditions.push(c(
            cond::READY,
            if ready { "True" } else { "False" },
            "x",
            "x",
        ));
        SubjectReport {
            kind: "PodMonitor".into(),
            namespace: "app".into(),
            name: name.into(),
            ready,
            conditions,
            scrapers: Vec::new(),
            targets,
            remediation: Vec::new(),
            mode: None,
            blocked_by: Vec::new(),
        }
    }

    /// A revision: subjects, each pod `api-<hash>-<n>` of Deployment app/api.
    fn side(subjects: Vec<SubjectReport>, changed: &[(&str, &str, &str, u64)]) -> Side {
        let mut s = Side {
            report: Report { subjects },
            ..Side::default()
        };
        for t in s.report.subjects.iter().flat_map(|s| &s.targets) {
            if t.pod.starts_with("app/api-") {
                s.workloads.insert(
                    t.pod.clone(),
                    ("Deployment".into(), "app".into(), "api".into()),
                );
            }
        }
        for (k, ns, n, d) in changed {
            s.digests
                .insert(((*k).into(), (*ns).into(), (*n).into()), *d);
        }
        s
    }

    fn replicas(hash: &str, verdicts: &[&str]) -> Vec<TargetOut> {
        verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| target(&format!("api-{hash}-{i}"), v))
            .collect()
    }

    #[test]
    fn gate_allowed_to_denied_breaks_and_names_the_rule() {
        let base = side(
            vec![subject("api", replicas("aaa", &["Allowed"; 3]), true)],
            &[("CiliumNetworkPolicy", "app", "isolation", 1)],
        );
        // The pod template changed too: new pod names, same workload.
        let head = side(
            vec![subject("api", replicas("bbb", &["Denied"; 3]), true)],
            &[("CiliumNetworkPolicy", "app", "isolation", 2)],
        );
        let g = diff(&base, &head, &[]);
        assert_eq!(g.broken.len(), 1, "{g:#?}");
        let f = &g.broken[0];
        assert_eq!(f.what, "TargetBlocked");
        assert_eq!(f.layer, cond::NETWORK_REACHABLE);
        assert_eq!(f.before, "3 scrapeable");
        assert_eq!(f.after, "3 network Denied");
        let t = f.target.as_ref().unwrap();
        assert_eq!(t.count, 3);
        assert_eq!(t.workload.as_ref().unwrap().name, "api");
        assert_eq!(t.pod, None);
        assert_eq!(f.blame[0].name, "isolation");
        assert_eq!(f.blame[0].rule.as_deref(), Some("spec.ingress[1]"));
        assert_eq!(f.blame[0].change.as_deref(), Some("modified"));
        assert!(g.fixed.is_empty() && g.preexisting.is_empty(), "{g:#?}");
        assert_eq!(g.changed_objects.len(), 1);
        assert!(!g.passes());
    }

    #[test]
    fn gate_unchanged_failures_are_preexisting_and_fixes_are_fixed() {
        let broken = side(
            vec![subject("api", replicas("aaa", &["Denied"; 2]), false)],
            &[],
        );
        let g = diff(&broken, &broken, &[]);
        assert!(g.passes());
        assert_eq!(g.preexisting.len(), 2, "{g:#?}");
        assert!(g
            .preexisting
            .iter()
            .any(|f| f.layer == cond::MONITOR_SELECTED));
        assert!(g
            .preexisting
            .iter()
            .any(|f| f.what == "TargetBlocked" && f.target.as_ref().unwrap().count == 2));

        let fixed = side(
            vec![subject("api", replicas("bbb", &["Allowed"; 2]), true)],
            &[],
        );
        let g = diff(&broken, &fixed, &[]);
        assert!(g.passes());
        let whats: Vec<&str> = g.fixed.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(whats, ["TargetReachable", "ConditionPasses"], "{g:#?}");
        // The condition-level NetworkReachable is explained by the targets: not a second line.
        assert!(g
            .fixed
            .iter()
            .all(|f| f.layer != cond::NETWORK_REACHABLE || f.target.is_some()));
    }

    #[test]
    fn gate_monitor_no_longer_selected_blames_the_changed_monitor() {
        let base = side(
            vec![subject("api", replicas("a", &["Allowed"]), true)],
            &[
                ("PodMonitor", "app", "api", 1),
                ("Prometheus", "monitoring", "k8s", 7),
            ],
        );
        let head = side(
            vec![subject("api", replicas("a", &["Allowed"]), false)],
            &[
                ("PodMonitor", "app", "api", 2),
                ("Prometheus", "monitoring", "k8s", 7),
            ],
        );
        let g = diff(&base, &head, &[]);
        assert_eq!(g.broken.len(), 1, "{g:#?}");
        let f = &g.broken[0];
        assert_eq!(
            (f.what.as_str(), f.layer.as_str()),
            ("ConditionFailed", cond::MONITOR_SELECTED)
        );
        assert_eq!(f.before, "True (Selected)");
        assert_eq!(f.after, "False (LabelsMismatch)");
        // Both are named; the one the change touched comes first.
        let blamed: Vec<(&str, Option<&str>)> = f
            .blame
            .iter()
            .map(|b| (b.kind.as_str(), b.change.as_deref()))
            .collect();
        assert_eq!(
            blamed,
            [("PodMonitor", Some("modified")), ("Prometheus", None)]
        );
    }

    #[test]
    fn gate_partial_and_new_failures() {
        // One replica of three newly denied: broken (a new cause), with its count.
        let base = side(
            vec![subject("api", replicas("a", &["Allowed"; 3]), true)],
            &[],
        );
        let head = side(
            vec![subject(
                "api",
                replicas("a", &["Allowed", "Allowed", "Denied"]),
                true,
            )],
            &[],
        );
        let g = diff(&base, &head, &[]);
        assert_eq!(g.broken.len(), 1, "{g:#?}");
        assert_eq!(g.broken[0].target.as_ref().unwrap().count, 1);
        assert_eq!(g.broken[0].after, "2 scrapeable, 1 network Denied");

        // Scaling down is not breakage.
        let head = side(vec![subject("api", replicas("a", &["Allowed"]), true)], &[]);
        assert_eq!(diff(&base, &head, &[]), Gate::default());

        // A new subject that fails is brought in broken; a new one that works is nothing.
        let head = side(
            vec![
                subject("api", replicas("a", &["Allowed"; 3]), true),
                subject("new", vec![target("lone", "Denied")], true),
                subject("fine", vec![target("other", "Allowed")], true),
            ],
            &[],
        );
        let g = diff(&base, &head, &[]);
        assert_eq!(g.broken.len(), 1, "{g:#?}");
        assert_eq!(g.broken[0].subject.name, "new");
        assert_eq!(g.broken[0].before, "absent");
        assert_eq!(
            g.broken[0].target.as_ref().unwrap().pod.as_deref(),
            Some("app/lone")
        );
    }

    #[test]
    fn gate_disappearances() {
        let base = side(
            vec![
                subject("api", replicas("a", &["Allowed"; 2]), true),
                subject("old", vec![target("x", "Denied")], true),
            ],
            &[],
        );
        // The target group is gone (e.g. its port renamed), the subject stays.
        let mut s = subject("api", Vec::new(), true);
        s.conditions[0] = c(
            cond::TARGETS_RESOLVED,
            "True",
            reason::RESOLVED,
            "no targets here",
        );
        let head = side(vec![s], &[]);
        let g = diff(&base, &head, &[]);
        let broken: Vec<&str> = g.broken.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(broken, ["TargetGone"], "{g:#?}");
        // The failing subject that went away is no loss.
        assert!(g
            .fixed
            .iter()
            .any(|f| f.what == "SubjectGone" && f.subject.name == "old"));

        // When TargetsResolved fails, it explains the targets gone and is the one finding; the layers
        // that only follow from it are not more.
        let mut s = subject("api", Vec::new(), true);
        s.conditions[0] = c(
            cond::TARGETS_RESOLVED,
            "False",
            reason::PORT_NOT_FOUND,
            "no container port named metrics",
        );
        s.conditions[2] = c(
            cond::NETWORK_REACHABLE,
            "False",
            reason::NO_TARGETS,
            "no targets",
        );
        let head = side(vec![s], &[]);
        let g = diff(&base, &head, &[]);
        let broken: Vec<(&str, &str)> = g
            .broken
            .iter()
            .map(|f| (f.what.as_str(), f.layer.as_str()))
            .collect();
        assert_eq!(
            broken,
            [("ConditionFailed", cond::TARGETS_RESOLVED)],
            "{g:#?}"
        );

        // A Ready subject that is gone is breakage.
        let head = side(vec![subject("old", vec![target("x", "Denied")], true)], &[]);
        let g = diff(&base, &head, &[]);
        assert!(g
            .broken
            .iter()
            .any(|f| f.what == "SubjectGone" && f.subject.name == "api"));
    }

    #[test]
    fn gate_outputs_escape_and_count() {
        let base = side(vec![subject("api", replicas("a", &["Allowed"]), true)], &[]);
        let head = side(vec![subject("api", replicas("a", &["Denied"]), true)], &[]);
        let g = diff(&base, &head, &[]);
        let gh = github(&g);
        let first = gh.lines().next().unwrap();
        assert!(first.starts_with("::error title=scrapepath%3A PodMonitor app/api%3A 1 target of Deployment app/api port 9090 (metrics) /metrics <- monitoring/k8s%3A 1 scrapeable -> 1 network Denied::"), "{first}");
        assert!(
            first.contains("%0Ablame: CiliumNetworkPolicy app/isolation spec.ingress[1]"),
            "{first}"
        );
        let xml = junit(&g, &base.report, &head.report);
        assert!(xml.contains(r#"tests="1" failures="1""#), "{xml}");
        assert!(xml.contains("&lt;- monitoring/k8s"), "{xml}");
        let md = step_summary(&g);
        assert!(md.contains("| Broken | subject | what | blame |"), "{md}");
        let json = serde_json::to_value(WithGate {
            report: &head.report,
            gate: &g,
        })
        .unwrap();
        assert_eq!(json["subjects"][0]["name"], "api");
        assert_eq!(json["gate"]["broken"][0]["target"]["portName"], "metrics");
        assert_eq!(escape("a:b,c%\n", true), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn gate_digest_ignores_key_order() {
        let a: Value = serde_json::json!({"a": 1, "b": [1, {"c": "x", "d": null}]});
        let b: Value = serde_json::json!({"b": [1, {"d": null, "c": "x"}], "a": 1});
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&serde_json::json!({"a": 2})));
    }
}
