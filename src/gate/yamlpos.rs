//! Where things are in a YAML file, by line: the documents of a stream, and the line of a node given
//! by its path (`spec.ingress[2]`). For annotations that point a reviewer at the object and the rule to
//! blame (`scrapepath check --baseline`); never for reading values (that is serde's job).
//!
//! Block-style YAML as people write manifests is read by indentation; a path into flow style
//! (`{...}`, `[...]`), or into a JSON file, resolves to the deepest node found on the way (at worst the
//! document's first line): a line near the thing is better than none.

/// One document of a stream: its lines, 0-based, `start..end` (the `---` line excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Parses `spec.ingress[2].toPorts` (an optional leading `.` or none).
pub fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Seg::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Whether a line holds nothing but blanks or a comment.
fn is_blank(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// The documents of a stream, in the order a YAML parser yields them (serde's document numbers, 1-based,
/// are this index + 1): a `---` line starts one; text before the first `---` is one when it holds
/// anything but comments and directives.
pub fn documents(text: &str) -> Vec<Span> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut explicit = false;
    let mut ended = false;
    let close = |out: &mut Vec<Span>, start: usize, end: usize, explicit: bool| {
        let content = lines[start..end]
            .iter()
            .any(|l| !is_blank(l) && !l.starts_with('%'));
        if explicit || content {
            out.push(Span { start, end });
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if is_marker(line, "---") {
            if !ended {
                close(&mut out, start, i, explicit);
            }
            start = i + 1;
            explicit = true;
            ended = false;
        } else if is_marker(line, "...") && !ended {
            close(&mut out, start, i, explicit);
            ended = true;
            explicit = false;
        }
    }
    if !ended {
        close(&mut out, start, lines.len(), explicit);
    }
    out
}

/// The column of a line's first character that is neither a blank nor, after `from`, a block sequence
/// dash; `None` for a blank line. `dashes` says how many dashes were skipped.
fn content_col(line: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut i = from;
    let mut dashes = 0;
    loop {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'#' {
            return (dashes > 0).then_some((i, dashes));
        }
        if bytes[i] == b'-' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            i += 1;
            dashes += 1;
            continue;
        }
        return Some((i, dashes));
    }
}

/// The first column of a non-blank line (a dash counts).
fn first_col(line: &str, from: usize) -> Option<usize> {
    let t = line.get(from..)?;
    let trimmed = t.trim_start_matches([' ', '\t']);
    (!trimmed.is_empty() && !trimmed.starts_with('#')).then(|| from + t.len() - trimmed.len())
}

/// A node being searched: lines `start..end`, the first line read from column `from`.
#[derive(Debug, Clone, Copy)]
struct Region {
    start: usize,
    end: usize,
    from: usize,
}

fn key_matches(rest: &str, key: &str) -> bool {
    let unquoted = rest
        .strip_prefix(key)
        .or_else(|| {
            rest.strip_prefix('"')
                .and_then(|r| r.strip_prefix(key))
                .and_then(|r| r.strip_prefix('"'))
        })
        .or_else(|| {
            rest.strip_prefix('\'')
                .and_then(|r| r.strip_prefix(key))
                .and_then(|r| r.strip_prefix('\''))
        });
    unquoted.is_some_and(|r| {
        let r = r.trim_start_matches([' ', '\t']);
        r.strip_prefix(':')
            .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
    })
}

/// The line (0-based, in `lines`) of the node at `path` inside the document `span`; the deepest node found
/// when the path cannot be followed to its end; `None` only for an empty document.
pub fn locate(lines: &[&str], span: Span, path: &[Seg]) -> Option<usize> {
    let end = span.end.min(lines.len());
    let first = (span.start..end).find(|&i| !is_blank(lines[i]))?;
    let mut region = Region {
        start: first,
        end,
        from: 0,
    };
    let mut found = first;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => find_key(lines, region, k),
            Seg::Index(i) => find_item(lines, region, *i),
        };
        match next {
            Some((line, r)) => {
                found = line;
                region = r;
            }
            None => break,
        }
    }
    Some(found)
}

/// The first meaningful line of a region and its content column.
fn region_head(lines: &[&str], r: Region) -> Option<(usize, usize, usize)> {
    (r.start..r.end).find_map(|i| {
        let from = if i == r.start { r.from } else { 0 };
        content_col(lines[i], from).map(|(c, d)| (i, c, d))
    })
}

fn find_key(lines: &[&str], r: Region, key: &str) -> Option<(usize, Region)> {
    let (_, col, _) = region_head(lines, r)?;
    for i in r.start..r.end {
        let from = if i == r.start { r.from } else { 0 };
        let Some((c, _)) = content_col(lines[i], from) else {
            continue;
        };
        // A line less indented than the mapping ends it.
        if let Some(f) = first_col(lines[i], from) {
            if i > r.start && f < col && c < col {
                return None;
            }
        }
        if c == col && key_matches(&lines[i][c..], key) {
            // The value: the following lines more indented than the key, or a sequence at its column.
            let mut end = i + 1;
            while end < r.end {
                if let Some(f) = first_col(lines[end], 0) {
                    let dash = lines[end][f..].starts_with('-');
                    if f < col || (f == col && !dash) {
                        break;
                    }
                }
                end += 1;
            }
            return Some((
                i,
                Region {
                    start: i + 1,
                    end,
                    from: 0,
                },
            ));
        }
    }
    None
}

fn find_item(lines: &[&str], r: Region, index: usize) -> Option<(usize, Region)> {
    // The sequence's dash column: the first meaningful line's first column.
    let (head, _, _) = region_head(lines, r)?;
    let from_of = |i: usize| if i == r.start { r.from } else { 0 };
    let dash_col = first_col(lines[head], from_of(head))?;
    if !lines[head][dash_col..].starts_with('-') {
        return None;
    }
    let items: Vec<usize> = (r.start..r.end)
        .filter(|&i| {
            first_col(lines[i], from_of(i)).is_some_and(|f| {
                f == dash_col
                    && lines[i][f..].starts_with('-')
                    && content_col(lines[i], f).is_some()
            })
        })
        .collect();
    let line = *items.get(index)?;
    let end = items.get(index + 1).copied().unwrap_or(r.end);
    Some((
        line,
        Region {
            start: line,
            end,
            from: dash_col + 1,
        },
    ))
}

/// The 1-based line of the object of document `doc` (1-based, as serde counts), List item `item`: its
/// `kind:` line, else the document's first line. `None` when the stream has no such document.
pub fn object_line(text: &str, doc: usize, item: Option<usize>) -> Option<usize> {
    let spans = documents(text);
    let span = *spans.get(doc.checked_sub(1)?)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut path = Vec::new();
    if let Some(i) = item {
        path.push(Seg::Key("items".into()));
        path.push(Seg::Index(i));
    }
    path.push(Seg::Key("kind".into()));
    locate(&lines, span, &path)
        .or(Some(span.start))
        .map(|l| l + 1)
}

/// The 1-based line of `path` inside the object whose `kind:` (or first) line is `object_line` (1-based).
pub fn path_line(text: &str, object_line: usize, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let spans = documents(text);
    let at = object_line.checked_sub(1)?;
    let span = spans
        .into_iter()
        .find(|s| s.start <= at && at < s.end.max(s.start + 1))?;
    // A List item: search from the item (its `kind:` line's mapping), else the whole document.
    let item_span = item_region(&lines, span, at).unwrap_or(span);
    locate(&lines, item_span, &parse_path(path)).map(|l| l + 1)
}

/// For an object inside a List, the item's lines (its dash line onwards); `None` for a top-level object.
fn item_region(lines: &[&str], span: Span, at: usize) -> Option<Span> {
    let col = first_col(lines[at], 0)?;
    if col == 0 {
        return None;
    }
    // The dash that opens the item: on the line itself (`- kind: X`), else the nearest above.
    let start = if lines[at][col..].starts_with('-') {
        at
    } else {
        (span.start..at).rev().find(|&i| {
            first_col(lines[i], 0).is_some_and(|f| f < col && lines[i][f..].starts_with('-'))
        })?
    };
    let dash = first_col(lines[start], 0)?;
    let end = (start + 1..span.end)
        .find(|&i| first_col(lines[i], 0).is_some_and(|f| f <= dash))
        .unwrap_or(span.end);
    // `locate` reads the dash line's mapping after the dash (`content_col` skips it).
    Some(Span { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "\
# a comment
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: was-isolation
spec:
  endpointSelector:
    matchLabels:
      app: was
  ingress:
  # Rule 1
  - fromEndpoints:
    - matchLabels:
        app: web
    toPorts:
    - ports:
      - port: \"8080\"
  - fromEndpoints:
    - {}
    toPorts:
    - ports:
      - port: \"15090\"
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: a
  - kind: Namespace
    metadata:
      name: b
";

    #[test]
    fn documents_follow_the_markers() {
        assert_eq!(
            documents(POLICY),
            vec![Span { start: 0, end: 22 }, Span { start: 23, end: 33 }]
        );
        assert_eq!(documents("# only\n---\na: 1\n").len(), 1);
        assert_eq!(documents("---\n---\na: 1\n").len(), 2);
        assert_eq!(documents("a: 1\n---\nb: 2\n...\n").len(), 2);
        assert_eq!(documents("").len(), 0);
    }

    #[test]
    fn paths_resolve_to_lines() {
        assert_eq!(object_line(POLICY, 1, None), Some(3));
        assert_eq!(path_line(POLICY, 3, "spec.ingress[0]"), Some(12));
        assert_eq!(path_line(POLICY, 3, "spec.ingress[1]"), Some(18));
        assert_eq!(path_line(POLICY, 3, "spec.ingress[1].toPorts"), Some(20));
        assert_eq!(path_line(POLICY, 3, "spec.endpointSelector"), Some(7));
        // Not there: the deepest node found.
        assert_eq!(path_line(POLICY, 3, "spec.egress[0]"), Some(6));
        assert_eq!(path_line(POLICY, 3, "spec.ingress[7]"), Some(10));
        assert_eq!(object_line(POLICY, 2, Some(0)), Some(28));
        assert_eq!(object_line(POLICY, 2, Some(1)), Some(31));
        assert_eq!(object_line(POLICY, 3, None), None);
        assert_eq!(path_line(POLICY, 31, "metadata.name"), Some(33));
    }

    #[test]
    fn parse_path_reads_indexes() {
        assert_eq!(
            parse_path("spec.ingress[2].toPorts[0]"),
            vec![
                Seg::Key("spec".into()),
                Seg::Key("ingress".into()),
                Seg::Index(2),
                Seg::Key("toPorts".into()),
                Seg::Index(0)
            ]
        );
    }
}
