//! The Rust schemas of the upstream CRDs `check` validates (`src/admission/crds/`) are the upstream
//! schemas: each is compared, node by node, with the CRD the test harness fetches from the upstream Go
//! module (`tests/harness/ensure.sh`; never a copy in the repo): properties, types, required fields,
//! enums, patterns, bounds, list types, defaults, nullability, `oneOf`/`anyOf`, and where CEL rules are.
//! The differential test `tests/admission.rs` then holds the rules' transcriptions (and everything else)
//! to the real API server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use scrapepath::admission::crds::schema;
use scrapepath::admission::k8s::Reader;
use scrapepath::admission::shape::{Format, ListType, Shape, Ty};
use scrapepath::admission::Known;
use scrapepath::cilium::Version;
use serde_json::Value;

const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// The CRDs directory: `SCRAPEPATH_CRD_DIR` when set (a directory of the same layout), else the test
/// harness's.
fn crd_dir() -> PathBuf {
    match std::env::var_os("SCRAPEPATH_CRD_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            // ensure.sh prints CRD_DIR=... (and builds the control plane, cached, which the differential
            // test needs anyway).
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/harness/ensure.sh");
            let out = std::process::Command::new("bash")
                .arg(&script)
                .stderr(std::process::Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            assert!(
                out.status.success(),
                "{} failed (see above)",
                script.display()
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            stdout
                .lines()
                .find_map(|l| l.strip_prefix("CRD_DIR="))
                .map(PathBuf::from)
                .unwrap_or_else(|| panic!("{} printed no CRD_DIR: {stdout}", script.display()))
        }
    }
}

/// The served, stored version's schema of the CRD of `kind` in the YAML files under `dir`.
fn upstream(dir: &Path, kind: &str, version: &str) -> Value {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v: Value = match serde::Deserialize::deserialize(doc) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if v.pointer("/spec/names/kind").and_then(Value::as_str) != Some(kind) {
                continue;
            }
            for ver in v["spec"]["versions"].as_array().unwrap() {
                if ver["name"] == version {
                    return ver["schema"]["openAPIV3Schema"].clone();
                }
            }
        }
    }
    panic!(
        "no CRD of kind {kind} version {version} under {}",
        dir.display()
    )
}

fn read(schema: &Value) -> Arc<Shape> {
    let defs = serde_json::Map::new();
    let mut r = Reader::new(&defs);
    // Where the upstream schema has CEL rules, mark the node (the rules are compared by presence).
    r.rules = Some(|_| Some(|_, _, _| {}));
    r.read(schema)
}

fn ty(s: &Shape) -> Ty {
    s.ty
}

/// The format that changes what is accepted, with upstream's quantity pattern read as the quantity
/// format.
fn format(s: &Shape) -> Option<Format> {
    match s.format {
        None => {
            if s.pattern
                .as_ref()
                .is_some_and(|(p, _)| p == QUANTITY_PATTERN)
            {
                Some(Format::Quantity)
            } else {
                None
            }
        }
        f => f,
    }
}

fn pattern(s: &Shape) -> Option<&str> {
    s.pattern
        .as_ref()
        .map(|(p, _)| p.as_str())
        .filter(|p| *p != QUANTITY_PATTERN)
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn alternatives(alts: &[Shape]) -> Vec<Vec<String>> {
    alts.iter().map(|a| sorted(&a.required)).collect()
}

fn compare(ours: &Shape, theirs: &Shape, path: &str, out: &mut Vec<String>) {
    let mut diff = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{path}: {what}: ours {a}, upstream {b}"));
        }
    };
    let their_ty = if theirs.ty == Ty::Any && theirs.any_of.len() == 2 && theirs.format.is_none() {
        Ty::IntOrString
    } else {
        ty(theirs)
    };
    diff("type", format!("{:?}", ty(ours)), format!("{their_ty:?}"));
    diff(
        "format",
        format!("{:?}", format(ours)),
        format!("{:?}", format(theirs)),
    );
    diff(
        "pattern",
        format!("{:?}", pattern(ours)),
        format!("{:?}", pattern(theirs)),
    );
    diff(
        "required",
        format!("{:?}", sorted(&ours.required)),
        format!("{:?}", sorted(&theirs.required)),
    );
    diff(
        "nullable",
        ours.nullable.to_string(),
        theirs.nullable.to_string(),
    );
    diff(
        "enum",
        format!("{:?}", ours.enum_),
        format!("{:?}", theirs.enum_),
    );
    diff(
        "default",
        format!("{:?}", ours.default),
        format!("{:?}", theirs.default),
    );
    for (what, a, b) in [
        ("minLength", ours.min_len, theirs.min_len),
        ("maxLength", ours.max_len, theirs.max_len),
        ("minItems", ours.min_items, theirs.min_items),
        ("maxItems", ours.max_items, theirs.max_items),
        ("minProperties", ours.min_props, theirs.min_props),
        ("maxProperties", ours.max_props, theirs.max_props),
    ] {
        diff(what, format!("{a:?}"), format!("{b:?}"));
    }
    diff(
        "minimum",
        format!("{:?}", ours.minimum),
        format!("{:?}", theirs.minimum),
    );
    diff(
        "maximum",
        format!("{:?}", ours.maximum),
        format!("{:?}", theirs.maximum),
    );
    let list = |l: &ListType| match l {
        ListType::Atomic => "atomic".to_string(),
        ListType::Set => "set".into(),
        ListType::Map(k) => format!("map{k:?}"),
    };
    diff("list type", list(&ours.list), list(&theirs.list));
    diff(
        "preserve-unknown-fields",
        ours.preserve_unknown.to_string(),
        theirs.preserve_unknown.to_string(),
    );
    diff(
        "oneOf",
        format!("{:?}", alternatives(&ours.one_of)),
        format!("{:?}", alternatives(&theirs.one_of)),
    );
    // anyOf [integer, string] is how int-or-string is written; other anyOfs are compared.
    let any_of = |s: &Shape| {
        if s.ty == Ty::IntOrString || s.any_of.iter().all(|a| a.required.is_empty()) {
            Vec::new()
        } else {
            alternatives(&s.any_of)
        }
    };
    diff(
        "anyOf",
        format!("{:?}", any_of(ours)),
        format!("{:?}", any_of(theirs)),
    );
    diff(
        "not",
        format!("{:?}", ours.not.as_ref().map(|n| alternatives(&n.any_of))),
        format!("{:?}", theirs.not.as_ref().map(|n| alternatives(&n.any_of))),
    );
    diff(
        "has CEL rules",
        (!ours.rules.is_empty()).to_string(),
        (!theirs.rules.is_empty()).to_string(),
    );
    for (k, t) in &theirs.props {
        match ours.props.get(k) {
            Some(o) => compare(o, t, &format!("{path}.{k}"), out),
            None => out.push(format!("{path}.{k}: missing in ours")),
        }
    }
    for k in ours.props.keys() {
        if !theirs.props.contains_key(k) {
            out.push(format!("{path}.{k}: not upstream"));
        }
    }
    match (&ours.items, &theirs.items) {
        (Some(o), Some(t)) => compare(o, t, &format!("{path}[]"), out),
        (None, None) => {}
        (o, t) => out.push(format!(
            "{path}[]: items ours {} upstream {}",
            o.is_some(),
            t.is_some()
        )),
    }
    match (&ours.additional, &theirs.additional) {
        (Some(o), Some(t)) => compare(o, t, &format!("{path}{{}}"), out),
        (None, None) => {}
        (o, t) => out.push(format!(
            "{path}{{}}: additionalProperties ours {} upstream {}",
            o.is_some(),
            t.is_some()
        )),
    }
}

#[test]
fn rust_schemas_are_the_upstream_crd_schemas() {
    let dir = crd_dir();
    let cases: &[(Known, &str, &str, &str)] = &[
        (
            Known::CiliumNetworkPolicy,
            "cilium",
            "CiliumNetworkPolicy",
            "v2",
        ),
        (
            Known::CiliumClusterwideNetworkPolicy,
            "cilium",
            "CiliumClusterwideNetworkPolicy",
            "v2",
        ),
        (
            Known::AuthorizationPolicy,
            "istio",
            "AuthorizationPolicy",
            "v1",
        ),
        (
            Known::AuthorizationPolicy,
            "istio",
            "AuthorizationPolicy",
            "v1beta1",
        ),
        (
            Known::PeerAuthentication,
            "istio",
            "PeerAuthentication",
            "v1",
        ),
        (
            Known::PeerAuthentication,
            "istio",
            "PeerAuthentication",
            "v1beta1",
        ),
        (Known::PodMonitor, "prometheus-operator", "PodMonitor", "v1"),
        (
            Known::ServiceMonitor,
            "prometheus-operator",
            "ServiceMonitor",
            "v1",
        ),
        (Known::Prometheus, "prometheus-operator", "Prometheus", "v1"),
        (
            Known::PrometheusAgent,
            "prometheus-operator",
            "PrometheusAgent",
            "v1alpha1",
        ),
    ];
    let mut all = Vec::new();
    for (known, sub, kind, version) in cases {
        let theirs = read(&upstream(&dir.join(sub), kind, version));
        let ours = &schema(*known, HARNESS_CILIUM).expect("a schema").root;
        let mut out = Vec::new();
        // The root's metadata is decoded as ObjectMeta on its own; its schema node is not compared.
        let mut ours = (**ours).clone();
        let mut theirs = (*theirs).clone();
        // apiVersion, kind and metadata are always allowed at the root (upstream may not list them).
        for k in ["metadata", "apiVersion", "kind"] {
            ours.props.remove(k);
            theirs.props.remove(k);
        }
        compare(&ours, &theirs, &format!("{kind}/{version}"), &mut out);
        all.extend(out);
    }
    assert!(
        all.is_empty(),
        "{} differences between the Rust schemas and the upstream CRDs:\n{}",
        all.len(),
        all.join("\n")
    );
}

/// The harness installs Cilium v1.19.3's CRDs (`tests/harness/ensure.sh`).
const HARNESS_CILIUM: Version = Version::new(1, 19);

/// The Cilium releases whose CRDs `check` holds (one per minor `--cilium-version` distinguishes; the patch
/// releases the Cilium oracle tests use), fetched from the Go module proxy like the harness's.
const CILIUM_RELEASES: &[&str] = &[
    "v1.15.19", "v1.16.19", "v1.17.17", "v1.18.11", "v1.19.3", "v1.20.2",
];

/// `pkg/k8s/apis/cilium.io/client/crds/v2` of a Cilium release's Go module (downloaded to the module cache
/// the way `tests/harness/ensure.sh` does it).
fn cilium_crds(release: &str) -> PathBuf {
    let tmp = std::env::temp_dir().join("scrapepath-admission-schema");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = std::process::Command::new("go")
        .args(["mod", "download", "-json"])
        .arg(format!("github.com/cilium/cilium@{release}"))
        .current_dir(&tmp)
        .env("GOFLAGS", "")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on")
        .env("GOTOOLCHAIN", "local")
        .output()
        .unwrap_or_else(|e| {
            panic!("running go mod download (Go is needed, as for the harness): {e}")
        });
    let info: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "go mod download github.com/cilium/cilium@{release}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let dir = info["Dir"]
        .as_str()
        .unwrap_or_else(|| panic!("go mod download github.com/cilium/cilium@{release}: {info}"));
    PathBuf::from(dir).join("pkg/k8s/apis/cilium.io/client/crds/v2")
}

#[test]
fn cilium_schemas_are_each_releases_crd_schemas() {
    let mut all = Vec::new();
    for release in CILIUM_RELEASES {
        let v = Version::parse(release).unwrap();
        let dir = cilium_crds(release);
        for (known, kind) in [
            (Known::CiliumNetworkPolicy, "CiliumNetworkPolicy"),
            (
                Known::CiliumClusterwideNetworkPolicy,
                "CiliumClusterwideNetworkPolicy",
            ),
        ] {
            let theirs = read(&upstream(&dir, kind, "v2"));
            let mut ours = (*schema(known, v).expect("a schema").root).clone();
            let mut theirs = (*theirs).clone();
            for k in ["metadata", "apiVersion", "kind"] {
                ours.props.remove(k);
                theirs.props.remove(k);
            }
            compare(
                &ours,
                &theirs,
                &format!("{kind} of Cilium {release}"),
                &mut all,
            );
        }
    }
    assert!(
        all.is_empty(),
        "{} differences between the Rust schemas and the upstream Cilium CRDs:\n{}",
        all.len(),
        all.join("\n")
    );
}
