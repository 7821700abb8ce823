//! Istio sidecar injection (`scrapepath::mesh::inject`) proven against Istio's own injector: random
//! namespaces, pods and istiod Helm values; the oracle (`tests/istio-inject-oracle/`) renders the
//! istio-discovery chart of the `istio.io/istio` module with those values, matches the rendered
//! MutatingWebhookConfiguration's selectors and runs the real webhook handler; scrapepath reads the same
//! rendered ConfigMaps (`InjectorConfig::from_config_map`, `MeshConfig::from_config_map`) and injects the
//! same pod. Every case must agree on what the engine reads: injected or not (or refused), container
//! names, kinds and ports, the `istio-init`/`istio-validation` args, the proxy's env
//! (`ISTIO_PROMETHEUS_ANNOTATIONS`, proxyMetadata), the injector's annotations and labels.
//!
//! Size and seed: `SCRAPEPATH_INJECT_CASES` (default 300 per `ENABLE_NATIVE_SIDECARS` mode) and
//! `SCRAPEPATH_DIFF_SEED` (default a fixed seed, so CI judges the same cases every run). Needs Go and
//! the Go module proxy on a cold cache, like the other oracles: without them it fails, never skips.

mod common;
use common::rng::env_u64;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::rng::Rng;
use k8s_openapi::api::core::v1 as corev1;
use scrapepath::mesh::inject::{inject, InjectOutcome, InjectorConfig, NativeSidecars};
use scrapepath::mesh::MeshConfig;
use scrapepath::model::{Kind, ObjRef};
use serde_json::{json, Value};

const CI_SEED: u64 = 0x0001_5710_0000_0012;

fn oracle() -> String {
    common::tool::ensure("tests/istio-inject-oracle/ensure.sh", "ISTIO_INJECT_ORACLE")
}

// ---------------------------------------------------------------------------------------------------------
// Generation.

fn maybe<'a>(r: &mut Rng, pct: u64, xs: &'a [&'a str]) -> Option<&'a str> {
    r.chance(pct).then(|| *r.pick(xs))
}

/// Helm values for istio-discovery. `native`: the ENABLE_NATIVE_SIDECARS of the oracle process
/// (`None`: unset), written into `pilot.env` as an install would.
fn values(r: &mut Rng, revision: &str, native: Option<&str>) -> Value {
    let mut proxy = serde_json::Map::new();
    let mut put = |r: &mut Rng, k: &str, pct: u64, xs: &[&str]| {
        if let Some(v) = maybe(r, pct, xs) {
            proxy.insert(k.to_string(), json!(v));
        }
    };
    put(
        r,
        "includeInboundPorts",
        15,
        &["*", "8080", "8080,9090", ""],
    );
    put(
        r,
        "excludeInboundPorts",
        20,
        &["9000", "8081,9000", "15020", ""],
    );
    put(r, "includeIPRanges", 10, &["10.0.0.0/8", "*"]);
    put(r, "excludeIPRanges", 10, &["169.254.169.254/32", ""]);
    put(r, "includeOutboundPorts", 10, &["443", ""]);
    put(r, "excludeOutboundPorts", 10, &["5432", ""]);
    if r.chance(10) {
        proxy.insert("statusPort".into(), json!(*r.pick(&[15020, 15030, 0])));
    }
    if r.chance(10) {
        proxy.insert("holdApplicationUntilProxyStarts".into(), json!(true));
    }
    if r.chance(10) {
        proxy.insert(
            "autoInject".into(),
            json!(*r.pick(&["disabled", "enabled", "off"])),
        );
    }
    let mut global = json!({ "proxy": proxy });
    if r.chance(15) {
        global["logging"] = json!({"level": "default:debug"});
    }
    if r.chance(10) {
        global["logAsJson"] = json!(true);
    }
    if r.chance(10) {
        global["proxy_init"] = json!({"forceApplyIptables": true});
    }
    if r.chance(10) {
        global["nativeNftables"] = json!(true);
    }
    let mut v = json!({ "global": global, "revision": revision });
    let mut pilot = serde_json::Map::new();
    if r.chance(25) {
        pilot.insert(
            "cni".into(),
            json!({"enabled": true, "provider": *r.pick(&["default", "multus"])}),
        );
    }
    if let Some(n) = native {
        pilot.insert("env".into(), json!({ "ENABLE_NATIVE_SIDECARS": n }));
    }
    if !pilot.is_empty() {
        v["pilot"] = Value::Object(pilot);
    }
    let mut sw = serde_json::Map::new();
    if r.chance(15) {
        sw.insert("enableNamespacesByDefault".into(), json!(true));
    }
    if r.chance(15) {
        sw.insert(
            "neverInjectSelector".into(),
            json!([{"matchLabels": {"tier": *r.pick(&["web", "db"])}}]),
        );
    }
    if r.chance(15) {
        sw.insert(
            "alwaysInjectSelector".into(),
            json!([{"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}]),
        );
    }
    if r.chance(10) {
        sw.insert(
            "injectedAnnotations".into(),
            json!({"scrapepath.test/injected": "yes"}),
        );
    }
    if r.chance(10) {
        sw.insert("rewriteAppHTTPProbe".into(), json!(false));
    }
    if !sw.is_empty() {
        v["sidecarInjectorWebhook"] = Value::Object(sw);
    }
    let mut mesh = serde_json::Map::new();
    if r.chance(20) {
        mesh.insert("enablePrometheusMerge".into(), json!(r.chance(50)));
    }
    if r.chance(25) {
        let mut md = serde_json::Map::new();
        for (k, vals) in [
            ("ISTIO_META_ENABLE_HBONE", &["true", "false"][..]),
            ("METRICS_LOCALHOST_ACCESS_ONLY", &["true"][..]),
            ("SCRAPEPATH_TEST", &["a", "b"][..]),
            ("ENVOY_SECURE_MERGED_METRICS_PORT", &["15091", "0"][..]),
        ] {
            if r.chance(40) {
                md.insert(k.into(), json!(*r.pick(vals)));
            }
        }
        mesh.insert("defaultConfig".into(), json!({ "proxyMetadata": md }));
    }
    if !mesh.is_empty() {
        v["meshConfig"] = Value::Object(mesh);
    }
    v
}

fn namespace(r: &mut Rng, revs: &[&str]) -> (String, BTreeMap<String, String>) {
    let name = r
        .pick(&[
            "shop",
            "blog-system",
            "monitoring",
            "shop",
            "blog-system",
            "kube-system",
            "default",
        ])
        .to_string();
    let mut l = BTreeMap::new();
    if let Some(v) = maybe(
        r,
        70,
        &[
            "enabled", "enabled", "enabled", "enabled", "disabled", "Enabled",
        ],
    ) {
        l.insert("istio-injection".to_string(), v.to_string());
    }
    if r.chance(30) {
        let mut opts: Vec<&str> = revs.to_vec();
        opts.extend(["default", "stable"]);
        l.insert("istio.io/rev".to_string(), r.pick(&opts).to_string());
    }
    if r.chance(10) {
        l.insert("istio.io/dataplane-mode".into(), "ambient".into());
    }
    (name, l)
}

fn pod(r: &mut Rng, revs: &[&str]) -> Value {
    let mut labels = serde_json::Map::new();
    let mut ann = serde_json::Map::new();
    let mut lab = |r: &mut Rng, k: &str, pct: u64, xs: &[&str]| {
        if let Some(v) = maybe(r, pct, xs) {
            labels.insert(k.into(), json!(v));
        }
    };
    lab(r, "app", 60, &["web", "api", "-was-"]);
    lab(r, "app.kubernetes.io/name", 20, &["shop-web"]);
    lab(r, "version", 20, &["v1", "v2"]);
    lab(r, "tier", 30, &["web", "db"]);
    lab(r, "sidecar.istio.io/inject", 25, &["true", "false", "yes"]);
    lab(r, "security.istio.io/tlsMode", 5, &["disabled"]);
    let mut rev_opts: Vec<&str> = revs.to_vec();
    rev_opts.push("stable");
    if r.chance(15) {
        labels.insert("istio.io/rev".into(), json!(*r.pick(&rev_opts)));
    }
    let mut a = |r: &mut Rng, k: &str, pct: u64, xs: &[&str]| {
        if let Some(v) = maybe(r, pct, xs) {
            ann.insert(k.into(), json!(v));
        }
    };
    a(r, "sidecar.istio.io/inject", 20, &["true", "false"]);
    a(
        r,
        "prometheus.io/scrape",
        40,
        &["true", "false", "TRUE", "nope"],
    );
    let port_key = *r.pick(&[
        "prometheus.io/port",
        "prometheus.io/port",
        "prometheus-io/port",
    ]);
    a(
        r,
        port_key,
        45,
        &["8080", "9100", "15020", "15090", "15000", "http", "70000"],
    );
    a(r, "prometheus.io/path", 30, &["/metrics", "/custom"]);
    a(
        r,
        "prometheus.istio.io/scrape-targets",
        10,
        &["8080", "8080:/m, 9100", "15090:/x", ":/bad"],
    );
    a(
        r,
        "prometheus.istio.io/merge-metrics",
        15,
        &["true", "false", "maybe"],
    );
    a(
        r,
        "traffic.sidecar.istio.io/includeInboundPorts",
        15,
        &["*", "8080", "", "8080,http"],
    );
    a(
        r,
        "traffic.sidecar.istio.io/excludeInboundPorts",
        20,
        &["9000", "15020", "8081, 9000", "70000"],
    );
    a(
        r,
        "traffic.sidecar.istio.io/excludeOutboundPorts",
        10,
        &["5432"],
    );
    a(
        r,
        "traffic.sidecar.istio.io/includeOutboundPorts",
        10,
        &["443"],
    );
    a(
        r,
        "traffic.sidecar.istio.io/includeOutboundIPRanges",
        10,
        &["10.0.0.0/8", "*", "10.0.0.0"],
    );
    a(
        r,
        "traffic.sidecar.istio.io/excludeInterfaces",
        5,
        &["eth1"],
    );
    a(
        r,
        "status.sidecar.istio.io/port",
        15,
        &["15020", "0", "15030", "-1"],
    );
    a(
        r,
        "sidecar.istio.io/interceptionMode",
        15,
        &["REDIRECT", "TPROXY", "NONE", "redirect"],
    );
    a(
        r,
        "sidecar.istio.io/nativeSidecar",
        15,
        &["true", "false", "yes"],
    );
    a(
        r,
        "proxy.istio.io/config",
        10,
        &[
            "holdApplicationUntilProxyStarts: true",
            "proxyMetadata: {SCRAPEPATH_POD: x}",
            "proxyMetadata: {ENVOY_SECURE_MERGED_METRICS_PORT: '15091'}",
        ],
    );
    a(r, "kubectl.kubernetes.io/default-container", 5, &["side"]);
    let mut containers = vec![json!({"name": "app", "image": "app:1",
        "ports": [{"containerPort": 8080, "name": "http-metrics", "protocol": "TCP"}]})];
    if r.chance(30) {
        containers.push(json!({"name": "side", "image": "side:1", "ports": [{"containerPort": 9100, "protocol": "TCP"}]}));
    }
    if r.chance(15) {
        // A gateway as Istio's gateway chart renders it: the `gateway` template, `istio-proxy` with
        // `image: auto` and the chart's own ports (15090 among them, or not).
        ann.insert("inject.istio.io/templates".into(), json!("gateway"));
        let mut ports = vec![json!({"containerPort": 8080, "name": "http2", "protocol": "TCP"})];
        if r.chance(50) {
            ports.push(
                json!({"containerPort": 15090, "name": "http-envoy-prom", "protocol": "TCP"}),
            );
        }
        let gw = json!({"name": "istio-proxy", "image": "auto", "ports": ports});
        if r.chance(50) {
            containers = vec![gw];
        } else {
            containers.push(gw);
        }
    }
    let mut spec = json!({ "containers": containers });
    if r.chance(25) {
        spec["initContainers"] = json!([{"name": "migrate", "image": "m:1"}]);
    }
    if r.chance(5) {
        spec["hostNetwork"] = json!(true);
    }
    let mut meta = json!({ "labels": labels, "annotations": ann });
    if r.chance(30) {
        meta["generateName"] = json!("web-7d9f-");
        labels_insert(&mut meta, "pod-template-hash", "7d9f");
        meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "web-7d9f", "uid": "u", "controller": true}]);
    } else {
        meta["name"] = json!("web-0");
    }
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec })
}

fn labels_insert(meta: &mut Value, k: &str, v: &str) {
    meta["labels"][k] = json!(v);
}

// ---------------------------------------------------------------------------------------------------------
// What the engine reads.

#[derive(Debug, PartialEq)]
struct Seen {
    outcome: &'static str,
    init: Vec<String>,
    containers: Vec<String>,
    args: Vec<(String, Vec<String>)>,
    ports: Vec<String>,
    env: BTreeMap<String, Value>,
    annotations: BTreeMap<String, Value>,
    labels: BTreeMap<String, String>,
}

const ANNOTATIONS: &[&str] = &[
    "sidecar.istio.io/status",
    "kubectl.kubernetes.io/default-container",
    "kubectl.kubernetes.io/default-logs-container",
    "istio.io/rev",
    "sidecar.istio.io/interceptionMode",
    "k8s.v1.cni.cncf.io/networks",
];

fn seen(outcome: &'static str, p: Option<&corev1::Pod>, env_keys: &[String]) -> Seen {
    let mut s = Seen {
        outcome,
        init: vec![],
        containers: vec![],
        args: vec![],
        ports: vec![],
        env: BTreeMap::new(),
        annotations: BTreeMap::new(),
        labels: BTreeMap::new(),
    };
    let Some(p) = p else { return s };
    let spec = p.spec.clone().unwrap_or_default();
    let kind = |c: &corev1::Container, init: bool| {
        format!(
            "{}{}",
            c.name,
            if init && c.restart_policy.as_deref() == Some("Always") {
                " (native)"
            } else {
                ""
            }
        )
    };
    s.init = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| kind(c, true))
        .collect();
    s.containers = spec.containers.iter().map(|c| kind(c, false)).collect();
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for port in c.ports.iter().flatten() {
            s.ports.push(format!(
                "{}:{}/{}/{}",
                c.name,
                port.container_port,
                port.name.clone().unwrap_or_default(),
                port.protocol.clone().unwrap_or_default()
            ));
        }
        if c.name == "istio-init" || c.name == "istio-validation" {
            s.args
                .push((c.name.clone(), c.args.clone().unwrap_or_default()));
        }
        if c.name == "istio-proxy" {
            for e in c.env.iter().flatten() {
                if e.name == "ISTIO_PROMETHEUS_ANNOTATIONS" {
                    let v = e.value.clone().unwrap_or_default();
                    s.env
                        .insert(e.name.clone(), serde_json::from_str(&v).unwrap_or(json!(v)));
                } else if env_keys.contains(&e.name) {
                    s.env.insert(e.name.clone(), json!(e.value));
                }
            }
        }
    }
    for (k, v) in p.metadata.annotations.iter().flatten() {
        let keep = ANNOTATIONS.contains(&k.as_str())
            || k.starts_with("prometheus")
            || k.starts_with("traffic.sidecar.istio.io/")
            || k.starts_with("scrapepath.test/");
        if !keep {
            continue;
        }
        let v = if k == "sidecar.istio.io/status" {
            let st: Value = serde_json::from_str(v).unwrap();
            let list = |x: &Value| if x.is_null() { json!([]) } else { x.clone() };
            json!({"initContainers": list(&st["initContainers"]), "containers": list(&st["containers"]), "revision": st["revision"]})
        } else {
            json!(v)
        };
        s.annotations.insert(k.clone(), v);
    }
    for (k, v) in p.metadata.labels.iter().flatten() {
        if k.starts_with("security.istio.io/")
            || k.starts_with("service.istio.io/")
            || k.starts_with("networking.istio.io/")
        {
            s.labels.insert(k.clone(), v.clone());
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------------------

struct Case {
    id: String,
    input: Value,
    ns: String,
    ns_labels: BTreeMap<String, String>,
    pod: Value,
}

fn generate(r: &mut Rng, i: usize, native: Option<&str>) -> Case {
    let mut revs = vec![""];
    if r.chance(25) {
        revs.push("canary");
    }
    if r.chance(15) {
        revs.retain(|r| !r.is_empty());
        if revs.is_empty() {
            revs.push("canary");
        }
    }
    let cps: Vec<Value> = revs
        .iter()
        .map(|rev| json!({ "values": values(r, rev, native) }))
        .collect();
    let rev_names: Vec<&str> = revs
        .iter()
        .map(|r| if r.is_empty() { "default" } else { *r })
        .collect();
    let (ns, ns_labels) = namespace(r, &rev_names);
    let pod = pod(r, &rev_names);
    let id = format!("{}-{i}", native.unwrap_or("unset"));
    let input = json!({"id": id, "controlPlanes": cps,
        "namespace": {"name": ns, "labels": ns_labels}, "pod": pod});
    Case {
        id,
        input,
        ns,
        ns_labels,
        pod,
    }
}

#[test]
fn every_pod_gets_what_istios_own_injector_gives() {
    let seed = env_u64("SCRAPEPATH_DIFF_SEED").unwrap_or(CI_SEED);
    let n = env_u64("SCRAPEPATH_INJECT_CASES").unwrap_or(300) as usize;
    let bin = oracle();
    let work = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("istio-inject-oracle");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    eprintln!("differential against Istio's injector: seed {seed:#x}, {n} cases per ENABLE_NATIVE_SIDECARS mode (SCRAPEPATH_DIFF_SEED={seed:#x} replays it)");
    let mut rng = Rng::new(seed);
    let mut failures = Vec::new();
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for native in [None, Some("true"), Some("false")] {
        let cases: Vec<Case> = (0..n).map(|i| generate(&mut rng, i, native)).collect();
        let mut cmd = Command::new(&bin);
        match native {
            Some(v) => cmd.env("ENABLE_NATIVE_SIDECARS", v),
            None => cmd.env_remove("ENABLE_NATIVE_SIDECARS"),
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the oracle");
        let mut input = String::new();
        for c in &cases {
            input.push_str(&c.input.to_string());
            input.push('\n');
        }
        std::fs::write(
            work.join(format!("cases-{}.jsonl", native.unwrap_or("unset"))),
            &input,
        )
        .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success(), "the oracle failed");
        let answers: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            answers.len(),
            cases.len(),
            "the oracle answered {} of {} cases",
            answers.len(),
            cases.len()
        );
        for (c, a) in cases.iter().zip(&answers) {
            if let Some(e) = a["error"].as_str() {
                failures.push(format!("{}: oracle error: {e}", c.id));
                continue;
            }
            let matched = a["matched"].as_array().map(Vec::len).unwrap_or(0);
            let revs_matched: std::collections::BTreeSet<&str> = a["matched"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|m| m.as_str()?.split('/').next())
                .collect();
            if revs_matched.len() > 1 {
                *tally
                    .entry("skipped: several revisions' webhooks match".into())
                    .or_default() += 1;
                continue;
            }
            let _ = matched;
            // Scrapepath reads the same rendered ConfigMaps.
            let mut injectors = Vec::new();
            let mut mesh = MeshConfig::default();
            for (i, cms) in a["configMaps"].as_array().unwrap().iter().enumerate() {
                let cm: corev1::ConfigMap =
                    serde_json::from_value(cms["injector"].clone()).unwrap();
                let mut inj = InjectorConfig::from_config_map(&cm)
                    .unwrap_or_else(|e| panic!("{}: the rendered injector ConfigMap: {e}", c.id));
                // The oracle's webhook has no node informer: under `auto` Istio finds no nodes client and
                // injects ordinary sidecars (webhook.go DetectNativeSidecar).
                if inj.native_sidecars == NativeSidecars::Auto {
                    inj.nodes_support_native = Some(false);
                }
                // The process env is what istiod reads; the values only mirror it.
                inj.native_sidecars = match native {
                    Some("true") => NativeSidecars::Enabled,
                    Some(_) => NativeSidecars::Disabled,
                    None => NativeSidecars::Auto,
                };
                injectors.push(inj);
                let mcm: corev1::ConfigMap = serde_json::from_value(cms["mesh"].clone()).unwrap();
                if i == 0 || revs_matched.contains(injectors.last().unwrap().revision.as_str()) {
                    let data = mcm.data.clone().unwrap_or_default();
                    mesh = MeshConfig::from_config_map(
                        ObjRef::new(
                            Kind::ConfigMap,
                            "istio-system",
                            mcm.metadata.name.clone().unwrap_or_default(),
                        ),
                        data.get("mesh").map(String::as_str),
                    );
                    assert!(mesh.error.is_none(), "{}: {:?}", c.id, mesh.error);
                }
            }
            let mut p: corev1::Pod = serde_json::from_value(c.pod.clone()).unwrap();
            p.metadata.namespace = Some(c.ns.clone());
            let outcome = inject(&mut p, &c.ns_labels, &injectors, &mesh);
            let env_keys: Vec<String> = {
                let mut k: Vec<String> = mesh.proxy_metadata.keys().cloned().collect();
                k.extend([
                    "SCRAPEPATH_POD".to_string(),
                    "ENVOY_SECURE_MERGED_METRICS_PORT".to_string(),
                ]);
                k
            };
            let ours = match &outcome {
                InjectOutcome::Injected { .. } => seen("injected", Some(&p), &env_keys),
                InjectOutcome::NotInjected { .. } => seen("not injected", None, &env_keys),
                InjectOutcome::Refused { .. } => seen("refused", None, &env_keys),
                InjectOutcome::AlreadyInjected => seen("already", None, &env_keys),
            };
            let theirs = if a["denied"].as_str().is_some_and(|d| !d.is_empty()) {
                seen("refused", None, &env_keys)
            } else if a["injected"].as_bool() == Some(true) {
                let tp: corev1::Pod = serde_json::from_value(a["pod"].clone()).unwrap();
                seen("injected", Some(&tp), &env_keys)
            } else {
                seen("not injected", None, &env_keys)
            };
            *tally.entry(theirs.outcome.to_string()).or_default() += 1;
            if ours != theirs {
                let diff = pretty_assertions::Comparison::new(&theirs, &ours).to_string();
                failures.push(format!(
                    "{}: {} (left: Istio, right: scrapepath; case in {}):\n{diff}",
                    c.id,
                    outcome.report_line(),
                    work.display()
                ));
            }
        }
    }
    let total: usize = tally.values().sum();
    eprintln!(
        "{} cases compared, {} disagreements; {}",
        total
            - tally
                .get("skipped: several revisions' webhooks match")
                .copied()
                .unwrap_or(0),
        failures.len(),
        tally
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(work.join("disagreements.txt"), failures.join("\n\n")).unwrap();
    assert!(
        failures.is_empty(),
        "{} disagreements with Istio's injector (seed {seed:#x}; all in {}); the first ones:\n{}",
        failures.len(),
        work.join("disagreements.txt").display(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// The defaults model what the chart renders with no values: the same injection, with or without the
/// ConfigMap (no oracle needed).
#[test]
fn defaults_and_a_default_config_map_inject_alike() {
    let cm = corev1::ConfigMap {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("istio-sidecar-injector".into()),
            namespace: Some("istio-system".into()),
            ..Default::default()
        },
        data: Some(
            [
                ("values".to_string(), r#"{"global":{"tag":"1.27.0","proxy":{"includeInboundPorts":"*","excludeInboundPorts":"","statusPort":15020}},"revision":""}"#.to_string()),
                ("config".to_string(), "policy: enabled\nalwaysInjectSelector: []\nneverInjectSelector: []\n".to_string()),
            ]
            .into(),
        ),
        ..Default::default()
    };
    let from_cm = InjectorConfig::from_config_map(&cm).unwrap();
    let defaults = InjectorConfig::defaults(Some((1, 27)));
    let mk = || -> corev1::Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "was-0", "namespace": "blog-system",
            "labels": {"app": "was"}, "annotations": {"prometheus.io/port": "8080"}},
            "spec": {"containers": [{"name": "was", "ports": [{"containerPort": 8080}]}]}}),
        )
        .unwrap()
    };
    let ns: BTreeMap<String, String> =
        [("istio-injection".to_string(), "enabled".to_string())].into();
    let (mut a, mut b) = (mk(), mk());
    let oa = inject(&mut a, &ns, &[from_cm], &MeshConfig::default());
    let ob = inject(&mut b, &ns, &[defaults], &MeshConfig::default());
    assert_eq!(a.spec, b.spec);
    assert!(oa.injected() && ob.injected());
    assert!(
        ob.report_line().starts_with("native sidecar (init container istio-proxy, restartPolicy: Always) injected as Istio 1.27 would (revision default): namespace blog-system has istio-injection=enabled"),
        "{}",
        ob.report_line()
    );
    // What the engine then sees: a native sidecar whose 15090 is outside capture, and the merged port.
    let m = scrapepath::model::Pod::from(&b);
    assert_eq!(
        scrapepath::mesh::workload::dataplane(&m, None),
        scrapepath::mesh::workload::Dataplane::Sidecar { native: true }
    );
    assert_eq!(m.annotations["prometheus.io/port"], "15020");
}
