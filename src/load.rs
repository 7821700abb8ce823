//! Reading manifests for `scrapepath check`: files and directories of multi-document YAML, `kind: List`,
//! and standard input (`-f -`, named `<stdin>`). Every problem names the file and the document (1-based),
//! and the field where one is known.
//!
//! [`load_index_with`] (what `check` uses) sees each object the way the API server would store it
//! ([`crate::admission`]): the namespace `kubectl apply` sends it to, `apiVersion`/`kind` required, and every
//! object the API server would refuse reported with its field and rule — all of them, not only the first.
//! [`parse_text`] only parses (tests and tools that build an index from snippets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::admission::{self, Settings};
use crate::index::{ClusterIndex, Object};
use crate::parse::{parse_value, Parsed};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: document {doc}: invalid YAML: {message}")]
    Yaml {
        path: PathBuf,
        doc: usize,
        message: String,
    },
    #[error("{path}: document {doc}{item}: {message}", item = item.map(|i| format!(", List item {i}")).unwrap_or_default())]
    Object {
        path: PathBuf,
        doc: usize,
        item: Option<usize>,
        message: String,
    },
    /// Several problems (every object the API server would refuse, each problem on its line).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<LoadError>),
    /// The input holds no object at all.
    #[error("no objects in {}: {files} file(s) read, no Kubernetes object in them; nothing to check", paths.iter().map(|p| input_name(p)).collect::<Vec<_>>().join(", "))]
    NoObjects { paths: Vec<PathBuf>, files: usize },
}

impl LoadError {
    /// Each problem on its own (a [`LoadError::Many`] flattened).
    pub fn problems(&self) -> Vec<&LoadError> {
        match self {
            LoadError::Many(v) => v.iter().flat_map(LoadError::problems).collect(),
            other => vec![other],
        }
    }
}

/// What was read, besides the objects.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadStats {
    pub files: usize,
    pub objects: usize,
    /// Kinds the engine does not read, with counts (`apps/v1/Deployment: 3`).
    pub unknown: BTreeMap<String, usize>,
    /// Objects of read kinds that do not matter (ConfigMaps other than cilium-config, ...).
    pub irrelevant: usize,
    /// Where each admitted object was read, by (kind, namespace, name) — every kind, read or not: what
    /// `check --baseline` points its annotations at ([`crate::gate`]).
    pub origins: BTreeMap<(String, String, String), Origin>,
    /// Objects defined more than once in the input, with the definitions a later one replaced (the last
    /// one wins, as with `kubectl apply -f`; Argo CD warns of such repositories, kustomize refuses them).
    pub redefined: BTreeMap<(String, String, String), Vec<Origin>>,
    /// The pods modelled from workloads without Pod objects in the input ([`crate::workload`]).
    pub modelled: crate::workload::ModelStats,
}

/// The file and document an object was read from, and what it was ([`crate::gate::digest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub doc: usize,
    pub item: Option<usize>,
    pub digest: u64,
}

/// Records where an admitted document came from ([`LoadStats::origins`]).
fn record_origin(path: &Path, d: &Document, stats: &mut LoadStats) {
    let s = |p: &str| {
        d.value
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let key = (
        s("/kind").to_string(),
        s("/metadata/namespace").to_string(),
        s("/metadata/name").to_string(),
    );
    // The last one wins, as in the index.
    let origin = Origin {
        path: path.to_path_buf(),
        doc: d.doc,
        item: d.item,
        digest: crate::gate::digest(&d.value),
    };
    if let Some(earlier) = stats.origins.insert(key.clone(), origin) {
        stats.redefined.entry(key).or_default().push(earlier);
    }
}

impl Origin {
    /// `FILE document N` (`, List item M`), as messages name a document.
    pub fn describe(&self) -> String {
        let item = self
            .item
            .map(|i| format!(", List item {i}"))
            .unwrap_or_default();
        format!("{} document {}{item}", input_name(&self.path), self.doc)
    }
}

/// The path that means standard input (`-f -`, as kubectl reads it).
pub const STDIN: &str = "-";
/// How messages name standard input (with the document number, as for a file).
pub const STDIN_NAME: &str = "<stdin>";

/// Whether `path` is `-`: standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// The name of an input in messages: `<stdin>` for `-`, else the path.
fn input_name(path: &Path) -> String {
    if is_stdin(path) {
        STDIN_NAME.to_string()
    } else {
        path.display().to_string()
    }
}

/// The most `check` reads in one run, all inputs together: 256 MiB of YAML. The largest cluster
/// Kubernetes supports (150,000 pods) is about 40 MB of Pod manifests, and `check` holds about 13 times
/// its input at its peak (a 50 MB file of 193,000 pods: 667 MB), so this bounds a run to a few GB.
/// Past it, `check` refuses the input that crosses it, before reading it whole.
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

/// The text of one input: standard input for `-` (named `<stdin>` in messages), else the file. At most
/// `limit` bytes: a longer input is refused ([`LoadError::Io`], naming it and the limit), a regular
/// file by its size before it is read, anything else once `limit` bytes have been read.
fn read_input(path: &Path, limit: u64) -> Result<(PathBuf, String), LoadError> {
    let name = if is_stdin(path) {
        PathBuf::from(STDIN_NAME)
    } else {
        path.to_path_buf()
    };
    let io = |message: String| LoadError::Io {
        path: name.clone(),
        message,
    };
    let too_large = |size: Option<u64>| {
        io(format!(
            "{}more than check reads in one run ({} MiB, all inputs together; {} MiB were left for this one): split the input across runs",
            size.map_or(String::new(), |s| format!("{} MiB, ", s.div_ceil(1 << 20))),
            MAX_INPUT_BYTES >> 20,
            limit >> 20
        ))
    };
    let (mut reader, what, size): (Box<dyn std::io::Read>, _, u64) = if is_stdin(path) {
        (
            Box::new(std::io::stdin().lock()),
            "cannot read standard input: ",
            0,
        )
    } else {
        let file = std::fs::File::open(path).map_err(|e| io(e.to_string()))?;
        let size = file.metadata().map_err(|e| io(e.to_string()))?.len();
        if size > limit {
            return Err(too_large(Some(size)));
        }
        (Box::new(file), "", size)
    };
    // Read in chunks, into a buffer of the file's size, or (standard input) one that grows by at most
    // its size and never past the limit: a refused input costs at most about twice the limit
    // (`read_to_string` would go on doubling the buffer past it).
    let mut bytes: Vec<u8> = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(format!("{what}{e}"))),
        };
        if (bytes.len() + n) as u64 > limit {
            return Err(too_large(None));
        }
        if bytes.capacity() - bytes.len() < n {
            let grow = bytes.capacity().max(1 << 16);
            let room = usize::try_from(limit).unwrap_or(usize::MAX) - bytes.len();
            bytes.reserve_exact(grow.min(room).max(n));
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| io(format!("{what}stream did not contain valid UTF-8")))?;
    Ok((name, text))
}

/// Expands paths: files as given; directories non-recursively (like `kubectl apply -f DIR`) unless
/// `recursive`, taking `.yaml`, `.yml` and `.json` files in name order; `-` (standard input) as given,
/// at most once (a file named `-` is `./-`).
pub fn expand_paths(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        if is_stdin(p) {
            if out.iter().any(|o: &PathBuf| is_stdin(o)) {
                return Err(LoadError::Io {
                    path: PathBuf::from(STDIN_NAME),
                    message: "`-f -` is given more than once: standard input can be read only once"
                        .into(),
                });
            }
            out.push(p.clone());
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| LoadError::Io {
            path: p.clone(),
            message: e.to_string(),
        })?;
        if meta.is_dir() {
            walk(p, recursive, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for e in entries {
        if e.is_dir() {
            if recursive {
                walk(&e, recursive, out)?;
            }
        } else if matches!(
            e.extension().and_then(|x| x.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(e);
        }
    }
    Ok(())
}

/// One document (or `kind: List` item) of a file.
#[derive(Debug, Clone)]
pub struct Document {
    pub doc: usize,
    pub item: Option<usize>,
    pub value: Value,
}

/// Splits one file's text into documents (a `kind: List` into its items); null documents are skipped.
/// A YAML error ends the file (the documents after it cannot be told apart).
pub fn read_documents(path: &Path, text: &str) -> (Vec<Document>, Vec<LoadError>) {
    // The YAML scanner looks ahead over every open flow collection before it emits a token, so a deep
    // nesting costs time quadratic in its depth before the parser's recursion limit refuses it (80,000
    // `[` took 48 s). Past a depth the parser refuses anyway, the text up to that point gives the same
    // refusal, at the same line and column, in linear time; anything else reads the whole text.
    // An error the prefix reports well before its end is the whole text's too (the events up to it
    // are the same); one at its end may be the truncation's.
    if let Some(end) = deep_flow_prefix(text) {
        let (docs, errors) = read_documents_of(path, &text[..end]);
        let early = errors.iter().any(|e| match e {
            LoadError::Yaml { message, .. } => {
                error_offset(text, message).is_some_and(|at| at + PREFIX_MARGIN < end)
            }
            _ => false,
        });
        if early {
            return (docs, errors);
        }
    }
    read_documents_of(path, text)
}

/// [`read_documents`], each document handed to `each` as soon as it is read, so that a file of 193,000
/// pods is never held as YAML trees at once; returns the problems met.
pub fn read_documents_each(
    path: &Path,
    text: &str,
    mut each: impl FnMut(Document),
) -> Vec<LoadError> {
    if deep_flow_prefix(text).is_some() {
        // Deep nesting: the prefix decides whether the whole text is read (see read_documents).
        let (docs, errors) = read_documents(path, text);
        docs.into_iter().for_each(each);
        return errors;
    }
    each_document_of(path, text, &mut each)
}

/// How far before the prefix's end an error must be to be the whole text's.
const PREFIX_MARGIN: usize = 32;

/// The byte offset of the `at line L column C` a YAML error message ends with (1-based, columns in
/// characters).
fn error_offset(text: &str, message: &str) -> Option<usize> {
    let (_, at) = message.rsplit_once(" at line ")?;
    let (line, rest) = at.split_once(" column ")?;
    let line: usize = line.trim().parse().ok()?;
    let column: usize = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let within = text[start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len() - start, |(i, _)| i);
    Some(start + within)
}

/// Flow nesting past this depth is refused by the YAML parser (serde_yaml_ng's recursion limit is 128).
const FLOW_DEPTH_PREFIX: usize = 200;

/// The end of the shortest prefix of `text` in which flow collections (`[`, `{`, outside quoted
/// scalars and comments) nest `FLOW_DEPTH_PREFIX` deep, if any. One pass; a document start (`---` at
/// a line's start) resets the depth. It may miscount a plain scalar's brackets or quotes, which only
/// decides whether the prefix is tried first, never the result.
fn deep_flow_prefix(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
    let mut line_start = true;
    let mut prev = b'\n';
    while i < bytes.len() {
        let b = bytes[i];
        if line_start && (bytes[i..].starts_with(b"---") || bytes[i..].starts_with(b"...")) {
            depth = 0;
        }
        line_start = false;
        match b {
            b'\n' => line_start = true,
            b'#' if prev.is_ascii_whitespace() => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' | b'"' if matches!(prev, b' ' | b'\t' | b'\n' | b'[' | b'{' | b',' | b':') => {
                let quote = b;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if quote == b'"' => i += 1,
                        c if c == quote => {
                            // '' is an escaped quote inside a single-quoted scalar.
                            if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                                i += 1;
                            } else {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth >= FLOW_DEPTH_PREFIX {
                    return Some(i + 1);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        prev = bytes.get(i).copied().unwrap_or(b' ');
        i += 1;
    }
    None
}

fn read_documents_of(path: &Path, text: &str) -> (Vec<Document>, Vec<LoadError>) {
    let mut docs = Vec::new();
    let errors = each_document_of(path, text, |d| docs.push(d));
    (docs, errors)
}

/// Hands each document of `text` to `each` as soon as it is read (a `kind: List` item by item), and
/// returns the problems met.
fn each_document_of(path: &Path, text: &str, mut each: impl FnMut(Document)) -> Vec<LoadError> {
    let mut errors = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let doc_no = i + 1;
        let value = match Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                errors.push(LoadError::Yaml {
                    path: path.to_path_buf(),
                    doc: doc_no,
                    message: e.to_string(),
                });
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        let obj_err = |message: String| LoadError::Object {
            path: path.to_path_buf(),
            doc: doc_no,
            item: None,
            message,
        };
        if !value.is_object() {
            errors.push(obj_err(
                "not a mapping: a Kubernetes object is expected".into(),
            ));
            continue;
        }
        let kind = value.get("kind").and_then(Value::as_str);
        let is_list = kind == Some("List")
            || (kind.is_some_and(|k| k.ends_with("List")) && value.get("items").is_some());
        if !is_list {
            each(Document {
                doc: doc_no,
                item: None,
                value,
            });
            continue;
        }
        match value.get("items") {
            Some(Value::Array(items)) => {
                for (j, v) in items.iter().enumerate() {
                    each(Document {
                        doc: doc_no,
                        item: Some(j),
                        value: v.clone(),
                    });
                }
            }
            Some(Value::Null) | None => {}
            Some(_) => errors.push(obj_err(
                "field items: a List's items must be a sequence".into(),
            )),
        }
    }
    errors
}

fn object_error(path: &Path, (doc, item): (usize, Option<usize>), message: String) -> LoadError {
    LoadError::Object {
        path: path.to_path_buf(),
        doc,
        item,
        message,
    }
}

fn parse_into(
    path: &Path,
    d: Document,
    stats: &mut LoadStats,
    objects: &mut Vec<Object>,
) -> Result<(), LoadError> {
    let Document { doc, item, value } = d;
    let parsed = parse_value(value).map_err(|e| object_error(path, (doc, item), e.to_string()))?;
    match parsed {
        Parsed::Object(o) => {
            stats.objects += 1;
            objects.push(o);
        }
        Parsed::Objects(os) => {
            stats.objects += 1;
            objects.extend(os);
        }
        Parsed::Irrelevant(_) => stats.irrelevant += 1,
        Parsed::Unknown(k) => *stats.unknown.entry(k).or_default() += 1,
    }
    Ok(())
}

/// Parses one file's text into objects (no admission: as written). Stops at the first problem.
pub fn parse_text(
    path: &Path,
    text: &str,
    stats: &mut LoadStats,
) -> Result<Vec<Object>, LoadError> {
    let (docs, mut errors) = read_documents(path, text);
    let mut objects = Vec::new();
    // Problems in document order: a parse error before a later YAML error comes first.
    let first_bad_doc = errors.iter().find_map(|e| match e {
        LoadError::Yaml { doc, .. } | LoadError::Object { doc, .. } => Some(*doc),
        _ => None,
    });
    for d in docs {
        if first_bad_doc.is_some_and(|b| d.doc > b) {
            break;
        }
        parse_into(path, d, stats, &mut objects)?;
    }
    if !errors.is_empty() {
        return Err(errors.remove(0));
    }
    Ok(objects)
}

/// Parses one file's text the way `check` reads it: each object admitted as the API server would
/// ([`admission::admit`]: namespace set, `apiVersion`/`kind` required, validation), then parsed. Every
/// problem of every document is returned.
pub fn admit_text(
    path: &Path,
    text: &str,
    settings: &Settings,
    stats: &mut LoadStats,
) -> Result<Vec<Object>, Vec<LoadError>> {
    let (docs, errors) = read_documents(path, text);
    admit_documents(path, docs, errors, settings, stats)
}

/// [`admit_text`] on documents already read (with the problems met reading them).
fn admit_documents(
    path: &Path,
    docs: Vec<Document>,
    mut errors: Vec<LoadError>,
    settings: &Settings,
    stats: &mut LoadStats,
) -> Result<Vec<Object>, Vec<LoadError>> {
    let mut objects = Vec::new();
    admit_into(path, docs, settings, stats, &mut errors, |o| {
        objects.push(o)
    });
    sort_by_document(&mut errors);
    if errors.is_empty() {
        Ok(objects)
    } else {
        Err(errors)
    }
}

/// Admits and parses each document, handing every object to `sink` as soon as it is parsed (the
/// document's value is dropped then: `check` never holds a whole repository's YAML trees at once), and
/// adding each problem to `errors`.
fn admit_into(
    path: &Path,
    docs: Vec<Document>,
    settings: &Settings,
    stats: &mut LoadStats,
    errors: &mut Vec<LoadError>,
    mut sink: impl FnMut(Object),
) {
    let mut objects = Vec::new();
    for mut d in docs {
        if let Err(refusal) = admission::admit(&mut d.value, settings) {
            errors.extend(
                refusal
                    .lines()
                    .into_iter()
                    .map(|line| object_error(path, (d.doc, d.item), line)),
            );
            continue;
        }
        record_origin(path, &d, stats);
        if let Err(e) = parse_into(path, d, stats, &mut objects) {
            errors.push(e);
        }
        objects.drain(..).for_each(&mut sink);
    }
}

/// Problems in document order.
fn sort_by_document(errors: &mut [LoadError]) {
    errors.sort_by_key(|e| match e {
        LoadError::Yaml { doc, .. } => (*doc, 0),
        LoadError::Object { doc, item, .. } => (*doc, item.map_or(0, |i| i + 1)),
        _ => (usize::MAX, 0),
    });
}

/// Whether admitting `v` depends on the Cilium release (its CRDs' schemas differ between minors).
fn admitted_per_cilium_release(v: &Value) -> bool {
    v.get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|a| a.starts_with("cilium.io/"))
}

/// Loads every path into a fresh index, as `check` does with the default settings (namespace
/// `default`).
pub fn load_index(
    paths: &[PathBuf],
    recursive: bool,
) -> Result<(ClusterIndex, LoadStats), LoadError> {
    load_index_with(paths, recursive, &Settings::default())
}

/// The version of the `cilium` DaemonSet's agent image, as the analysis reads it.
fn cilium_agent_version(v: &Value) -> Option<crate::cilium::Version> {
    if v.get("kind").and_then(Value::as_str) != Some("DaemonSet")
        || v.pointer("/metadata/name").and_then(Value::as_str) != Some("cilium")
    {
        return None;
    }
    let containers = v.pointer("/spec/template/spec/containers")?.as_array()?;
    let agent = containers
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some("cilium-agent"))
        .or(containers.first())?;
    crate::cilium::Version::from_image(agent.get("image")?.as_str()?)
}

/// Loads every path into a fresh index, each object admitted as the API server would ([`admit_text`]).
/// Every problem of every file is reported ([`LoadError::Many`]); input without a single object is an
/// error ([`LoadError::NoObjects`]).
pub fn load_index_with(
    paths: &[PathBuf],
    recursive: bool,
    settings: &Settings,
) -> Result<(ClusterIndex, LoadStats), LoadError> {
    let mut stats = LoadStats::default();
    let mut index = ClusterIndex::new();
    let mut errors = Vec::new();
    // Cilium's CRDs depend on its release: the one the analysis uses (--cilium-version, else the
    // `cilium` DaemonSet's image, wherever it is in the input). Until it is known, Cilium's objects
    // wait; everything else is admitted, parsed and indexed file by file, so that only one file's
    // YAML is held at a time (a 20,000-pod repository held 137 of its 141 MB peak as YAML trees).
    let mut settings = settings.clone();
    let release_given = settings.cilium_version.is_some();
    let mut found = None;
    let mut files = Vec::new();
    let inputs = expand_paths(paths, recursive)?;
    // The YAML is read on a thread of its own while the objects read so far are admitted and indexed,
    // in batches of documents, a few batches ahead at most.
    enum Read {
        /// A file begins.
        File(PathBuf),
        Documents(Vec<Document>),
        /// The file ends, with the problems met reading it.
        End(Vec<LoadError>),
    }
    const BATCH: usize = 256;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Read, LoadError>>(4);
    let reader = move || {
        let mut left = MAX_INPUT_BYTES;
        for file in inputs {
            let (file, text) = match read_input(&file, left) {
                Ok(read) => {
                    left -= read.1.len() as u64;
                    read
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            if tx.send(Ok(Read::File(file.clone()))).is_err() {
                return;
            }
            let mut batch = Vec::with_capacity(BATCH);
            let mut open = true;
            let errors = read_documents_each(&file, &text, |d| {
                batch.push(d);
                if batch.len() == BATCH && open {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    open = tx.send(Ok(Read::Documents(full))).is_ok();
                }
            });
            drop(text);
            if !open
                || tx.send(Ok(Read::Documents(batch))).is_err()
                || tx.send(Ok(Read::End(errors))).is_err()
            {
                return;
            }
        }
    };
    std::thread::scope(|scope| -> Result<(), LoadError> {
        scope.spawn(reader);
        let mut waiting = Vec::new();
        let mut file_errors = Vec::new();
        let mut file = PathBuf::new();
        for read in rx {
            match read? {
                Read::File(path) => file = path,
                Read::Documents(docs) => {
                    if found.is_none() && !release_given {
                        found = docs.iter().find_map(|d| cilium_agent_version(&d.value));
                    }
                    let (wait, now): (Vec<Document>, Vec<Document>) = docs
                        .into_iter()
                        .partition(|d| !release_given && admitted_per_cilium_release(&d.value));
                    waiting.extend(wait);
                    admit_into(&file, now, &settings, &mut stats, &mut file_errors, |o| {
                        index.apply(o)
                    });
                }
                Read::End(read_errors) => {
                    stats.files += 1;
                    file_errors.extend(read_errors);
                    files.push((
                        std::mem::take(&mut file),
                        std::mem::take(&mut waiting),
                        std::mem::take(&mut file_errors),
                    ));
                }
            }
        }
        Ok(())
    })?;
    if !release_given {
        settings.cilium_version = found;
    }
    for (file, waiting, mut file_errors) in files {
        admit_into(
            &file,
            waiting,
            &settings,
            &mut stats,
            &mut file_errors,
            |o| index.apply(o),
        );
        sort_by_document(&mut file_errors);
        errors.extend(file_errors);
    }
    if !errors.is_empty() {
        return Err(if errors.len() == 1 {
            errors.remove(0)
        } else {
            LoadError::Many(errors)
        });
    }
    let read = stats.objects + stats.irrelevant + stats.unknown.values().sum::<usize>();
    if read == 0 {
        return Err(LoadError::NoObjects {
            paths: paths.to_vec(),
            files: stats.files,
        });
    }
    // What a GitOps repository holds are workloads, not pods: the pods their controllers would run,
    // admitted as the API server's webhooks would admit them.
    let mut admit = crate::workload::istio_admission(&index, settings.istio_version);
    stats.modelled = crate::workload::model_pods(&mut index, &mut admit);
    Ok((index, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of this test's own under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("scrapepath-load-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_input_past_what_is_left_is_refused_by_name() {
        let dir = scratch("limit");
        let file = dir.join("ten.yaml");
        std::fs::write(&file, "a: 12345\n").unwrap();
        assert_eq!(read_input(&file, 9).unwrap().1, "a: 12345\n");
        let e = read_input(&file, 8).unwrap_err().to_string();
        assert!(e.contains("ten.yaml"), "{e}");
        assert!(e.contains("more than check reads in one run (256 MiB, all inputs together; 0 MiB were left for this one)"), "{e}");
        // A file larger than the whole budget is refused by its size, before a byte is read: this one
        // is sparse, so reading it would take 300 MiB of zeros.
        let big = dir.join("big.yaml");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(300 << 20)
            .unwrap();
        let e = read_input(&big, MAX_INPUT_BYTES).unwrap_err().to_string();
        assert!(
            e.contains("big.yaml: 300 MiB, more than check reads in one run"),
            "{e}"
        );
        // Through the loader: the inputs together.
        let half = dir.join("half.yaml");
        std::fs::File::create(&half)
            .unwrap()
            .set_len(MAX_INPUT_BYTES / 2 + 1)
            .unwrap();
        let other = dir.join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::hard_link(&half, other.join("half.yaml")).unwrap();
        let e = load_index(&[half.clone(), other.join("half.yaml")], false)
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("other/half.yaml: 129 MiB, more than check reads in one run (256 MiB, all inputs together; 127 MiB were left for this one)"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn outcome(r: (Vec<Document>, Vec<LoadError>)) -> (Vec<Value>, Vec<String>) {
        (
            r.0.into_iter().map(|d| d.value).collect(),
            r.1.iter().map(ToString::to_string).collect(),
        )
    }

    /// Deep flow nesting is refused from a prefix with exactly the whole text's refusal; texts whose
    /// brackets are not flow nesting (plain and quoted scalars, comments) read as a whole.
    #[test]
    fn deep_nesting_is_refused_as_the_whole_text_would_be() {
        let n = 3_000;
        let shapes = [
            format!("a: {}{}\n", "[".repeat(n), "]".repeat(n)),
            format!("a: {}1{}\n", "{a: ".repeat(n), "}".repeat(n)),
            format!(
                "kind: Pod\n---\nb: \"[[[\" # [[[\nc: {}{}\n",
                "[{".repeat(n / 2),
                "}]".repeat(n / 2)
            ),
            // Not flow nesting: brackets inside scalars and comments.
            format!(
                "a: x{}\nb: '{}'\n# {}\n",
                "[".repeat(300),
                "[".repeat(300),
                "{".repeat(300)
            ),
            format!("a: '{}'\n", "[".repeat(300)),
        ];
        let path = Path::new("deep.yaml");
        for text in &shapes {
            assert_eq!(
                outcome(read_documents(path, text)),
                outcome(read_documents_of(path, text)),
                "{}",
                &text[..60]
            );
        }
        // The shape of issue 15: 80,000 nested flow sequences.
        let deep = format!("a: {}{}\n", "[".repeat(80_000), "]".repeat(80_000));
        let (docs, errors) = outcome(read_documents(path, &deep));
        assert!(docs.is_empty());
        assert_eq!(
            errors,
            ["deep.yaml: document 1: invalid YAML: recursion limit exceeded at line 1 column 131"]
        );
    }
}
