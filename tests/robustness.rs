//! Bad input never panics: every line of every shipped manifest is deleted or has its value replaced by
//! values of the wrong type, and each variant is loaded as `check` loads it (admitted as the API server
//! would, then parsed) and evaluated. A variant may be rejected (with a message naming the file and
//! document) or evaluated; it must never crash the admission or the engine.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use scrapepath::admission::Settings;
use scrapepath::engine::{evaluate, EngineConfig};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{admit_text, parse_text, LoadError, LoadStats};

fn manifests() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The rest of the file's directory, loaded once.
fn siblings(file: &Path) -> ClusterIndex {
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    for sibling in std::fs::read_dir(file.parent().unwrap()).unwrap() {
        let p = sibling.unwrap().path();
        if p == file || p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        for o in parse_text(&p, &std::fs::read_to_string(&p).unwrap(), &mut stats).unwrap() {
            idx.apply(o);
        }
    }
    idx
}

/// Loads the variant beside its siblings, then evaluates.
fn load_and_evaluate(base: &ClusterIndex, file: &Path, text: &str) -> Result<usize, LoadError> {
    let mut idx = base.clone();
    let mut stats = LoadStats::default();
    let objects = admit_text(file, text, &Settings::default(), &mut stats)
        .map_err(|mut errors| errors.remove(0))?;
    for o in objects {
        idx.apply(o);
    }
    Ok(evaluate(&idx, &EngineConfig::default()).subjects.len())
}

/// Values of the wrong type or range for almost every field.
const REPLACEMENTS: &[&str] = &["[]", "{}", "-1", "99999999999", "null", "\"*\""];

#[derive(Default)]
struct Tally {
    variants: usize,
    rejected: usize,
    panics: Vec<String>,
}

fn sweep(file: &Path) -> Tally {
    let mut t = Tally::default();
    let text = std::fs::read_to_string(file).unwrap();
    let base = siblings(file);
    let lines: Vec<&str> = text.lines().collect();
    for i in 0..lines.len() {
        let without: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, l)| *l)
            .collect();
        let mut candidates = vec![without.join("\n")];
        if let Some((key, _)) = lines[i].split_once(": ") {
            for r in REPLACEMENTS {
                let mut l = lines.clone();
                let replaced = format!("{key}: {r}");
                l[i] = &replaced;
                candidates.push(l.join("\n"));
            }
        }
        for c in candidates {
            t.variants += 1;
            match catch_unwind(AssertUnwindSafe(|| load_and_evaluate(&base, file, &c))) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    t.rejected += 1;
                    let msg = e.to_string();
                    let name = file.file_name().unwrap().to_str().unwrap();
                    assert!(msg.contains(name) && msg.contains("document"), "{msg}");
                }
                Err(_) => t.panics.push(format!(
                    "{}:{} ({})",
                    file.display(),
                    i + 1,
                    lines[i].trim()
                )),
            }
        }
    }
    t
}

#[test]
fn mutated_manifests_are_rejected_with_a_location_or_evaluated_never_a_panic() {
    let files = manifests();
    // Two workers: the sweep is thousands of full evaluations.
    let a: Vec<&PathBuf> = files.iter().step_by(2).collect();
    let b: Vec<&PathBuf> = files.iter().skip(1).step_by(2).collect();
    let run = |part: Vec<&PathBuf>| {
        let mut t = Tally::default();
        for f in part {
            let s = sweep(f);
            t.variants += s.variants;
            t.rejected += s.rejected;
            t.panics.extend(s.panics);
        }
        t
    };
    let (ta, tb) = std::thread::scope(|s| {
        let ha = s.spawn(|| run(a));
        let hb = s.spawn(|| run(b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let variants = ta.variants + tb.variants;
    let rejected = ta.rejected + tb.rejected;
    let panics: Vec<String> = ta.panics.into_iter().chain(tb.panics).collect();
    assert!(
        panics.is_empty(),
        "{} of {variants} variants panicked: {:#?}",
        panics.len(),
        &panics[..panics.len().min(20)]
    );
    assert!(variants > 1000, "only {variants} variants");
    assert!(
        rejected > 0 && rejected < variants,
        "{rejected} of {variants} rejected"
    );
}
