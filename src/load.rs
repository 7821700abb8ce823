//! Reading manifests for `scrapepath check`: files and directories of multi-document YAML, `kind: List`.
//! Every problem names the file and the document (1-based), and the field where one is known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

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
}

/// Expands paths: files as given; directories non-recursively (like `kubectl apply -f DIR`) unless
/// `recursive`, taking `.yaml`, `.yml` and `.json` files in name order.
pub fn expand_paths(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
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

/// Parses one file's text into objects.
pub fn parse_text(
    path: &Path,
    text: &str,
    stats: &mut LoadStats,
) -> Result<Vec<Object>, LoadError> {
    let mut objects = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let doc_no = i + 1;
        let value = Value::deserialize(doc).map_err(|e| LoadError::Yaml {
            path: path.to_path_buf(),
            doc: doc_no,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        let obj_err = |item: Option<usize>, message: String| LoadError::Object {
            path: path.to_path_buf(),
            doc: doc_no,
            item,
            message,
        };
        if !value.is_object() {
            return Err(obj_err(
                None,
                "not a mapping: a Kubernetes object is expected".into(),
            ));
        }
        let is_list = value.get("kind").and_then(Value::as_str) == Some("List")
            || (value
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && value.get("items").is_some());
        let items: Vec<(Option<usize>, Value)> = if is_list {
            match value.get("items") {
                Some(Value::Array(items)) => items
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(j, v)| (Some(j), v))
                    .collect(),
                Some(Value::Null) | None => Vec::new(),
                Some(_) => {
                    return Err(obj_err(
                        None,
                        "field items: a List's items must be a sequence".into(),
                    ))
                }
            }
        } else {
            vec![(None, value)]
        };
        for (item, v) in items {
            match parse_value(v).map_err(|e| obj_err(item, e.to_string()))? {
                Parsed::Object(o) => {
                    stats.objects += 1;
                    objects.push(o);
                }
                Parsed::Irrelevant(_) => stats.irrelevant += 1,
                Parsed::Unknown(k) => *stats.unknown.entry(k).or_default() += 1,
            }
        }
    }
    Ok(objects)
}

/// Loads every path into a fresh index.
pub fn load_index(
    paths: &[PathBuf],
    recursive: bool,
) -> Result<(ClusterIndex, LoadStats), LoadError> {
    let mut stats = LoadStats::default();
    let mut index = ClusterIndex::new();
    for file in expand_paths(paths, recursive)? {
        let text = std::fs::read_to_string(&file).map_err(|e| LoadError::Io {
            path: file.clone(),
            message: e.to_string(),
        })?;
        stats.files += 1;
        for o in parse_text(&file, &text, &mut stats)? {
            index.apply(o);
        }
    }
    Ok((index, stats))
}
