//! Truth tables for the Istio semantics of `semantics/istio.md`: every rule 1–20 and the sample rows of its
//! test-case table, evaluated through `engine::mesh_verdict` on the spec's fixtures, then the rule-19
//! remedies through whole ScrapeIntents.
//!
//! Each row is one scrape: extra objects (policies, pods, mesh config), the target pod and port, the path,
//! the client, and the full expected decision: verdict, basis, the deciding rule and `decided_by`. A failing
//! table lists every row that disagrees.

use std::collections::HashSet;
use std::path::Path;

use serde_json::{json, Value};

use scrapepath::engine::{evaluate, mesh_verdict, EngineConfig, Report, SubjectReport};
use scrapepath::index::ClusterIndex;
use scrapepath::load::{parse_text, LoadStats};
use scrapepath::mesh::workload::{annotation_scrape, Client};
use scrapepath::mesh::{Basis, MeshConfig, MeshDecision, MeshVerdict};
use scrapepath::model::{Kind, ObjRef};
use scrapepath::parse::{parse_value, Parsed};

// -------------------------------------------------------------------------------------------------
// Fixtures: the spec's defaults. Target `shop/web` (`app=web`), injected with `-b "*" -d
// "15090,15021,15020"`, app metrics on 8080 behind Service port `http-metrics` (80 → 8080). Prometheus
// `monitoring/prometheus-0`, plaintext, pod IP 10.1.2.3. Root namespace istio-system, no policies.

const PROM: PodRef = ("monitoring", "prometheus-0");
/// Prometheus with an istio-proxy and Istio-issued certificates (OUTPUT_CERTS), rule 19e.
const PROM_CERTS: PodRef = ("monitoring", "prometheus-certs-0");
/// Prometheus with a regular (outbound-capturing) sidecar and no certificates: still plaintext.
const PROM_SIDECAR: PodRef = ("monitoring", "prometheus-sidecar-0");
/// Prometheus enrolled in ambient (its namespace carries the dataplane-mode label).
const PROM_AMBIENT: PodRef = ("monitoring-amb", "prometheus-0");

type PodRef = (&'static str, &'static str);

const FIXTURES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: monitoring-amb, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ambient-ns, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-0, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus}}
spec: {serviceAccountName: prometheus, containers: [{name: prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.2.3}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-certs-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus}
  annotations:
    traffic.sidecar.istio.io/includeInboundPorts: ""
    traffic.sidecar.istio.io/includeOutboundIPRanges: ""
    proxy.istio.io/config: "proxyMetadata: {OUTPUT_CERTS: /etc/istio-output-certs}"
spec:
  serviceAccountName: prometheus
  containers:
  - {name: prometheus, ports: [{name: web, containerPort: 9090}]}
  - {name: istio-proxy, ports: [{name: http-envoy-prom, containerPort: 15090}]}
status: {phase: Running, podIP: 10.1.2.4}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-sidecar-0, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus}}
spec:
  serviceAccountName: prometheus
  containers:
  - {name: prometheus, ports: [{name: web, containerPort: 9090}]}
  - {name: istio-proxy, ports: [{name: http-envoy-prom, containerPort: 15090}]}
status: {phase: Running, podIP: 10.1.2.5}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-0, namespace: monitoring-amb, labels: {app.kubernetes.io/name: prometheus}}
spec: {serviceAccountName: prometheus, containers: [{name: prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.3.3}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {name: http-metrics, port: 80, targetPort: 8080}
  - {name: tcp-data, port: 9000, targetPort: 9000}
  - {name: metrics, port: 9100, targetPort: 9100, appProtocol: tcp}
  - {name: metrics2, port: 9200, targetPort: 9200}
  - {name: tcp-web, port: 9300, targetPort: 9300, appProtocol: http}
"#;

/// A pod of the `web` workload, built up per row.
#[derive(Clone)]
struct PodSpec {
    name: &'static str,
    ns: &'static str,
    ip: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    annotations: Vec<(&'static str, &'static str)>,
    /// The init container that carries the capture flags: (name, -b, -d); `None`: no init container.
    init: Option<(&'static str, &'static str, &'static str)>,
    /// `None`: no istio-proxy; `Some(true)`: a native sidecar.
    proxy: Option<bool>,
    proxy_env: Vec<(&'static str, &'static str)>,
}

/// The spec's target: injected with the defaults.
fn web(name: &'static str) -> PodSpec {
    PodSpec {
        name,
        ns: "shop",
        ip: "10.1.1.10",
        labels: vec![("app", "web")],
        annotations: vec![],
        init: Some(("istio-init", "*", "15090,15021,15020")),
        proxy: Some(false),
        proxy_env: vec![],
    }
}

impl PodSpec {
    fn ns(mut self, ns: &'static str) -> Self {
        self.ns = ns;
        self
    }
    fn label(mut self, k: &'static str, v: &'static str) -> Self {
        self.labels.push((k, v));
        self
    }
    fn ann(mut self, k: &'static str, v: &'static str) -> Self {
        self.annotations.push((k, v));
        self
    }
    fn init(mut self, name: &'static str, b: &'static str, d: &'static str) -> Self {
        self.init = Some((name, b, d));
        self
    }
    fn no_init(mut self) -> Self {
        self.init = None;
        self
    }
    fn native(mut self) -> Self {
        self.proxy = Some(true);
        self
    }
    /// No istio-proxy and no init container.
    fn plain(mut self) -> Self {
        self.proxy = None;
        self.init = None;
        self
    }
    fn env(mut self, k: &'static str, v: &'static str) -> Self {
        self.proxy_env.push((k, v));
        self
    }

    fn doc(&self) -> String {
        let map = |v: &[(&str, &str)]| -> Value {
            Value::Object(v.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
        };
        let app_ports = json!([
            {"name": "http-metrics", "containerPort": 8080},
            {"containerPort": 9000}, {"containerPort": 9090}, {"containerPort": 9100},
            {"containerPort": 9200}, {"containerPort": 9300}
        ]);
        let mut containers = vec![json!({"name": "app", "ports": app_ports})];
        let mut inits = Vec::new();
        if let Some((n, b, d)) = self.init {
            inits.push(json!({"name": n, "args": ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", b, "-d", d]}));
        }
        if let Some(native) = self.proxy {
            let env: Vec<Value> = self
                .proxy_env
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect();
            let mut proxy = json!({"name": "istio-proxy", "env": env, "ports": [{"name": "http-envoy-prom", "containerPort": 15090}]});
            if native {
                proxy["restartPolicy"] = json!("Always");
                inits.push(proxy);
            } else {
                containers.push(proxy);
            }
        }
        serde_json::to_string(&json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.ns, "labels": map(&self.labels), "annotations": map(&self.annotations)},
            "spec": {"serviceAccountName": "web", "initContainers": inits, "containers": containers},
            "status": {"phase": "Running", "podIP": self.ip},
        }))
        .unwrap()
    }
}

// -------------------------------------------------------------------------------------------------
// Policy builders. `spec` is a YAML flow mapping.

fn ap(name: &str, ns: &str, spec: &str) -> String {
    format!("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n")
}

/// An AuthorizationPolicy in `shop` selecting `app=web`.
fn ap_web(name: &str, spec_rest: &str) -> String {
    ap(
        name,
        "shop",
        &format!("{{selector: {{matchLabels: {{app: web}}}}, {spec_rest}}}"),
    )
}

fn dry_run(name: &str, spec: &str) -> String {
    format!("apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: shop, annotations: {{istio.io/dry-run: \"true\"}}}}\nspec: {spec}\n")
}

fn pa(name: &str, ns: &str, spec: &str) -> String {
    format!("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n")
}

fn pa_created(name: &str, ns: &str, created: &str, spec: &str) -> String {
    format!("apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {{name: {name}, namespace: {ns}, creationTimestamp: \"{created}\"}}\nspec: {spec}\n")
}

fn mesh_strict() -> String {
    pa("default", "istio-system", "{mtls: {mode: STRICT}}")
}

fn ns_mode(mode: &str) -> String {
    pa("default", "shop", &format!("{{mtls: {{mode: {mode}}}}}"))
}

/// A workload PeerAuthentication for `app=web`.
fn workload_pa(name: &str, rest: &str) -> String {
    pa(
        name,
        "shop",
        &format!("{{selector: {{matchLabels: {{app: web}}}}, {rest}}}"),
    )
}

/// `spec: {}` in shop: an ALLOW with no rules (allow-nothing) for every workload.
fn allow_nothing() -> String {
    ap("allow-nothing", "shop", "{}")
}

fn mesh_config(mesh: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: istio, namespace: istio-system}}\ndata:\n  mesh: |\n{}\n",
        mesh.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n"))
}

// -------------------------------------------------------------------------------------------------
// Cases.

struct Expect {
    verdict: MeshVerdict,
    basis: Basis,
    rule: &'static str,
    /// `AP/ns/name`, `PA/ns/name`; compared as a set.
    by: Vec<String>,
}

struct Case {
    name: &'static str,
    docs: Vec<String>,
    dest: PodRef,
    src: PodRef,
    port: u16,
    path: &'static str,
    https: bool,
    expect: Option<Expect>,
    mentions: Vec<&'static str>,
    /// Policies Istio's validation rejects (short names).
    invalid: Vec<&'static str>,
}

/// A row with the spec's defaults: plaintext Prometheus scrapes `shop/web` on 8080 at `/metrics`.
fn case(name: &'static str) -> Case {
    Case {
        name,
        docs: vec![web("web").doc()],
        dest: ("shop", "web"),
        src: PROM,
        port: 8080,
        path: "/metrics",
        https: false,
        expect: None,
        mentions: Vec::new(),
        invalid: Vec::new(),
    }
}

impl Case {
    fn with(mut self, doc: String) -> Self {
        self.docs.push(doc);
        self
    }
    /// Scrape this pod instead of the default one.
    fn to(mut self, pod: PodSpec) -> Self {
        self.dest = (pod.ns, pod.name);
        self.docs.push(pod.doc());
        self
    }
    fn from(mut self, src: PodRef) -> Self {
        self.src = src;
        self
    }
    fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    fn path(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }
    fn https(mut self) -> Self {
        self.https = true;
        self
    }
    fn mentions(mut self, text: &'static str) -> Self {
        self.mentions.push(text);
        self
    }
    fn invalid(mut self, short: &'static str) -> Self {
        self.invalid.push(short);
        self
    }
    fn expect(
        mut self,
        verdict: MeshVerdict,
        basis: Basis,
        rule: &'static str,
        by: &[&str],
    ) -> Self {
        self.expect = Some(Expect {
            verdict,
            basis,
            rule,
            by: by.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    // Outcomes.
    fn outside(self) -> Self {
        self.expect(MeshVerdict::NotApplicable, Basis::OutsideMesh, "1", &[])
    }
    fn not_captured(self, rule: &'static str) -> Self {
        self.expect(MeshVerdict::NotApplicable, Basis::NotCaptured, rule, &[])
    }
    fn allowed(self) -> Self {
        self.expect(MeshVerdict::Allowed, Basis::NoAllowPolicy, "15", &[])
    }
    fn allowed_by(self, by: &[&str]) -> Self {
        self.expect(MeshVerdict::Allowed, Basis::AllowPolicy, "15", by)
    }
    fn strict(self, by: &[&str]) -> Self {
        self.expect(MeshVerdict::Denied, Basis::StrictMtls, "12", by)
    }
    fn denied_by(self, rule: &'static str, by: &[&str]) -> Self {
        self.expect(MeshVerdict::Denied, Basis::DenyPolicy, rule, by)
    }
    fn no_allow_match(self, rule: &'static str, by: &[&str]) -> Self {
        self.expect(MeshVerdict::Denied, Basis::NoAllowMatch, rule, by)
    }
    fn identity_required(self, by: &[&str]) -> Self {
        self.expect(MeshVerdict::Denied, Basis::IdentityRequired, "18", by)
    }
    fn external(self, by: &[&str]) -> Self {
        self.expect(MeshVerdict::Unknown, Basis::ExternalAuthorizer, "15", by)
    }
}

fn short(r: &ObjRef) -> String {
    match r.kind {
        Kind::AuthorizationPolicy => format!("AP/{}/{}", r.namespace, r.name),
        Kind::PeerAuthentication => format!("PA/{}/{}", r.namespace, r.name),
        k => format!("{}/{}/{}", k.as_str(), r.namespace, r.name),
    }
}

fn index_of(docs: &[String]) -> Result<ClusterIndex, String> {
    let mut all = vec![FIXTURES.to_string()];
    all.extend(docs.iter().cloned());
    let text = all.join("\n---\n");
    let mut idx = ClusterIndex::new();
    let mut stats = LoadStats::default();
    for o in parse_text(Path::new("case.yaml"), &text, &mut stats)
        .map_err(|e| format!("the case does not load: {e}\n{text}"))?
    {
        idx.apply(o);
    }
    Ok(idx)
}

fn evaluate_case(c: &Case) -> Result<MeshDecision, String> {
    let idx = index_of(&c.docs)?;
    mesh_verdict(
        &idx,
        &EngineConfig::default(),
        c.dest,
        c.src,
        c.port,
        c.path,
        c.https,
    )
    .ok_or_else(|| "mesh_verdict found no such pod".to_string())
}

fn verify(c: &Case) -> Result<(), String> {
    let want = c.expect.as_ref().ok_or("the row states no expectation")?;
    let d = evaluate_case(c)?;
    let mut diffs = Vec::new();
    if d.verdict != want.verdict {
        diffs.push(format!("verdict {:?}, want {:?}", d.verdict, want.verdict));
    }
    if d.basis != want.basis {
        diffs.push(format!("basis {:?}, want {:?}", d.basis, want.basis));
    }
    if d.rule != want.rule {
        diffs.push(format!("rule {}, want {}", d.rule, want.rule));
    }
    let mut by: Vec<String> = d.decided_by.iter().map(short).collect();
    by.sort();
    let mut want_by = want.by.clone();
    want_by.sort();
    if by != want_by {
        diffs.push(format!("decided_by {by:?}, want {want_by:?}"));
    }
    let mut invalid: Vec<String> = d.invalid.iter().map(|(r, _)| short(r)).collect();
    invalid.sort();
    let mut want_invalid: Vec<String> = c.invalid.iter().map(|s| s.to_string()).collect();
    want_invalid.sort();
    if invalid != want_invalid {
        diffs.push(format!("invalid {invalid:?}, want {want_invalid:?}"));
    }
    for m in &c.mentions {
        if !d.reason.contains(m) {
            diffs.push(format!("reason does not mention {m:?}"));
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} ({}/{} <- {}/{}, TCP/{} {}; reason: {})",
            diffs.join("; "),
            c.dest.0,
            c.dest.1,
            c.src.0,
            c.src.1,
            c.port,
            c.path,
            d.reason
        ))
    }
}

fn check(table: &str, cases: Vec<Case>) {
    let mut seen = HashSet::new();
    let mut failures = Vec::new();
    for c in &cases {
        assert!(
            seen.insert(c.name),
            "{table}: duplicate row name {}",
            c.name
        );
        if let Err(e) = verify(c) {
            failures.push(format!("  {}: {e}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{table}: {} of {} rows disagree with semantics/istio.md:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// -------------------------------------------------------------------------------------------------
// The spec's test-case table, with its exact fixtures.

#[test]
fn spec_sample_rows() {
    check(
        "samples",
        vec![
            case("t01_envoy_stats_port_is_never_seen_even_under_strict_and_allow_nothing")
                .port(15090)
                .path("/stats/prometheus")
                .with(mesh_strict())
                .with(allow_nothing())
                .not_captured("7"),
            case("t03_an_app_port_with_no_policy_is_allowed")
                .allowed()
                .mentions("PERMISSIVE by default"),
            case("t04_mesh_wide_strict_refuses_the_plaintext_scrape")
                .with(mesh_strict())
                .strict(&["PA/istio-system/default"]),
            case("t05_workload_port_level_permissive_reopens_the_app_port_under_mesh_strict")
                .with(mesh_strict())
                .with(workload_pa("web-metrics", "portLevelMtls: {8080: {mode: PERMISSIVE}}"))
                .allowed(),
            case("t08_an_excluded_port_is_not_applicable_under_strict_and_allow_nothing")
                .to(web("web-excl").no_init().ann("traffic.sidecar.istio.io/excludeInboundPorts", "8080"))
                .with(ns_mode("STRICT"))
                .with(allow_nothing())
                .not_captured("6"),
            case("t12_allow_from_the_monitoring_namespace_never_matches_a_sidecar_less_prometheus")
                .with(ap_web("from-monitoring", "rules: [{from: [{source: {namespaces: [monitoring]}}]}]"))
                .identity_required(&["AP/shop/from-monitoring"])
                .mentions("needs an mTLS peer identity"),
            case("t14_deny_from_not_namespaces_always_matches_a_client_without_identity")
                .with(ap_web("deny-others", "action: DENY, rules: [{from: [{source: {notNamespaces: [shop]}}]}]"))
                .denied_by("18", &["AP/shop/deny-others"]),
            case("t17_allow_nothing_plus_a_port_path_get_allow_admits_the_scrape")
                .with(allow_nothing())
                .with(ap_web("metrics", "rules: [{to: [{operation: {ports: [\"8080\"], methods: [GET], paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/metrics"]),
            case("t26_an_istio_certificate_prometheus_matches_principals_under_strict")
                .from(PROM_CERTS)
                .https()
                .with(mesh_strict())
                .with(ap_web("from-prometheus", "rules: [{from: [{source: {principals: [cluster.local/ns/monitoring/sa/prometheus]}}]}]"))
                .allowed_by(&["AP/shop/from-prometheus"]),
            case("t29_a_pod_without_istio_proxy_is_not_applicable_under_namespace_strict")
                .to(web("plain").plain())
                .with(ns_mode("STRICT"))
                .outside(),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// A. Classify the pods.

#[test]
fn r01_sidecar_detection() {
    check(
        "rule 1",
        vec![
            case("r01_a_regular_istio_proxy_container_puts_the_pod_in_the_mesh")
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"])
                .mentions("istio-proxy sidecar"),
            case("r01_a_native_sidecar_init_container_puts_the_pod_in_the_mesh")
                .to(web("web-native").native())
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"])
                .mentions("native-sidecar"),
            case("r01_a_pod_without_istio_proxy_is_outside_the_mesh")
                .to(web("plain").plain())
                .with(allow_nothing())
                .outside(),
            case("r01_injection_annotations_without_the_container_do_not_count")
                .to(web("plain-signs")
                    .plain()
                    .ann(
                        "sidecar.istio.io/status",
                        "{\"containers\":[\"istio-proxy\"]}",
                    )
                    .label("security.istio.io/tlsMode", "istio"))
                .with(ns_mode("STRICT"))
                .outside()
                .mentions("have no effect"),
        ],
    );
}

#[test]
fn r02_the_scraper_is_plaintext_unless_it_scrapes_https_with_istio_certificates() {
    check(
        "rule 2",
        vec![
            case("r02_a_sidecar_less_prometheus_is_plaintext")
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"])
                .mentions("a sidecar-less Prometheus"),
            case("r02_a_prometheus_with_a_sidecar_but_no_certificates_is_plaintext_and_uncertain")
                .from(PROM_SIDECAR)
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"])
                .mentions("UNCERTAIN"),
            case("r02_istio_certificates_over_plain_http_are_not_used")
                .from(PROM_CERTS)
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r02_https_without_istio_certificates_is_still_plaintext_to_istio")
                .from(PROM)
                .https()
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
        ],
    );
}

/// Rule 2 for a scraper known only from its Prometheus CR: whether it would be injected.
#[test]
fn r02_a_modelled_scraper_is_injected_only_where_injection_applies() {
    let idx = index_of(&[
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: injected, labels: {istio-injection: enabled}}".into(),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: revisioned, labels: {istio.io/rev: canary}}".into(),
    ])
    .unwrap();
    let cfg = MeshConfig::default();
    let pod = |ns: &str, labels: Value, ann: Value, host: bool| -> scrapepath::model::Pod {
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "prometheus-k8s-0", "namespace": ns, "labels": labels, "annotations": ann},
            "spec": {"hostNetwork": host, "containers": []}});
        match parse_value(v).unwrap() {
            Parsed::Object(scrapepath::index::Object::Pod(p)) => *p,
            _ => unreachable!(),
        }
    };
    let sidecar = |p: &scrapepath::model::Pod| {
        Client::of(
            p,
            idx.namespace(&p.namespace).map(|n| &n.labels),
            false,
            true,
            None,
            &cfg,
        )
        .sidecar
    };
    let rows: Vec<(&str, scrapepath::model::Pod, bool)> = vec![
        (
            "an injected namespace injects the modelled pod",
            pod("injected", json!({}), json!({}), false),
            true,
        ),
        (
            "a revision label injects too",
            pod("revisioned", json!({}), json!({}), false),
            true,
        ),
        (
            "an unlabelled namespace does not inject",
            pod("monitoring", json!({}), json!({}), false),
            false,
        ),
        (
            "the pod label false opts out",
            pod(
                "injected",
                json!({"sidecar.istio.io/inject": "false"}),
                json!({}),
                false,
            ),
            false,
        ),
        (
            "the label wins over the deprecated annotation",
            pod(
                "injected",
                json!({"sidecar.istio.io/inject": "false"}),
                json!({"sidecar.istio.io/inject": "true"}),
                false,
            ),
            false,
        ),
        (
            "the deprecated annotation still opts out alone",
            pod(
                "injected",
                json!({}),
                json!({"sidecar.istio.io/inject": "false"}),
                false,
            ),
            false,
        ),
        (
            "hostNetwork is never injected",
            pod("injected", json!({}), json!({}), true),
            false,
        ),
    ];
    for (name, p, want) in rows {
        assert_eq!(sidecar(&p), want, "{name}");
    }
}

#[test]
fn r03_ambient_pods_are_recognised_by_pod_or_namespace_label() {
    check(
        "rule 3",
        vec![
            case("r03_a_pod_labelled_ambient_is_in_the_mesh_without_a_sidecar")
                .to(web("amb")
                    .plain()
                    .label("istio.io/dataplane-mode", "ambient"))
                .with(ns_mode("STRICT"))
                .expect(
                    MeshVerdict::Denied,
                    Basis::StrictMtls,
                    "20",
                    &["PA/shop/default"],
                )
                .mentions("pod label istio.io/dataplane-mode=ambient"),
            case("r03_a_pod_of_an_ambient_namespace_is_in_the_mesh")
                .to(web("amb").plain().ns("ambient-ns"))
                .with(pa("default", "ambient-ns", "{mtls: {mode: STRICT}}"))
                .expect(
                    MeshVerdict::Denied,
                    Basis::StrictMtls,
                    "20",
                    &["PA/ambient-ns/default"],
                )
                .mentions("namespace label"),
            case("r03_a_pod_opting_out_with_dataplane_mode_none_is_outside")
                .to(web("amb")
                    .plain()
                    .ns("ambient-ns")
                    .label("istio.io/dataplane-mode", "none"))
                .with(pa("default", "ambient-ns", "{mtls: {mode: STRICT}}"))
                .outside(),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// B. Is the port intercepted?

#[test]
fn r04_capture_settings_come_from_the_init_args_else_the_annotations() {
    check(
        "rule 4",
        vec![
            case("r04_init_args_excluding_the_port_win_over_annotations")
                .to(web("args-excl").init("istio-init", "*", "15090,15021,15020,8080"))
                .with(ns_mode("STRICT"))
                .not_captured("6")
                .mentions("istio-init args"),
            case("r04_annotations_are_ignored_when_the_init_args_say_otherwise")
                .to(web("ann-ignored").ann("traffic.sidecar.istio.io/excludeInboundPorts", "8080"))
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r04_without_init_args_the_exclude_annotation_decides")
                .to(web("ann-excl")
                    .no_init()
                    .ann("traffic.sidecar.istio.io/excludeInboundPorts", "8080"))
                .with(ns_mode("STRICT"))
                .not_captured("6")
                .mentions("annotations"),
            case("r04_without_init_args_the_include_annotation_decides")
                .to(web("ann-incl")
                    .no_init()
                    .ann("traffic.sidecar.istio.io/includeInboundPorts", "9090"))
                .with(ns_mode("STRICT"))
                .not_captured("6"),
            case("r04_the_default_template_excludes_the_status_port")
                .to(web("no-init").no_init())
                .port(15020)
                .path("/stats/prometheus")
                .with(ns_mode("STRICT"))
                .not_captured("7"),
            case("r04_a_custom_status_port_is_excluded_instead_of_15020")
                .to(web("status")
                    .no_init()
                    .ann("status.sidecar.istio.io/port", "15999"))
                .port(15999)
                .with(ns_mode("STRICT"))
                .not_captured("7"),
            case("r04_with_a_custom_status_port_15020_is_an_ordinary_captured_port")
                .to(web("status")
                    .no_init()
                    .ann("status.sidecar.istio.io/port", "15999"))
                .port(15020)
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r04_status_port_zero_adds_nothing_to_the_exclude_list")
                .to(web("status0")
                    .no_init()
                    .ann("status.sidecar.istio.io/port", "0"))
                .port(15020)
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r04_the_cni_plugin_always_excludes_the_sidecar_ports")
                .to(web("cni").init("istio-validation", "*", "9999"))
                .port(15020)
                .with(ns_mode("STRICT"))
                .not_captured("7"),
            case("r04_without_cni_a_custom_exclude_list_leaves_15020_captured")
                .to(web("no-cni").init("istio-init", "*", "9999"))
                .port(15020)
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
        ],
    );
}

#[test]
fn r05_captured_ports() {
    check(
        "rule 5",
        vec![
            case("r05_interception_mode_none_captures_nothing")
                .to(web("none")
                    .no_init()
                    .ann("sidecar.istio.io/interceptionMode", "NONE"))
                .with(ns_mode("STRICT"))
                .not_captured("6")
                .mentions("interceptionMode: NONE"),
            case("r05_include_all_captures_a_port_not_excluded")
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r05_an_empty_include_list_disables_inbound_redirection")
                .to(web("empty").init("istio-init", "", "15090,15021,15020"))
                .with(ns_mode("STRICT"))
                .not_captured("6")
                .mentions("disables inbound redirection"),
            case("r05_an_include_list_captures_its_ports")
                .to(web("listed").init("istio-init", "8080", "15090,15021,15020"))
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r05_an_include_list_does_not_capture_other_ports")
                .to(web("listed").init("istio-init", "8080", "15090,15021,15020"))
                .port(9090)
                .with(ns_mode("STRICT"))
                .not_captured("6"),
            case("r05_the_exclude_list_is_ignored_when_include_is_a_list")
                .to(web("listed-excl").init("istio-init", "8080", "8080"))
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r05_the_hbone_port_15008_is_never_redirected")
                .port(15008)
                .with(ns_mode("STRICT"))
                .not_captured("6")
                .mentions("15008"),
        ],
    );
}

#[test]
fn r06_an_uncaptured_port_escapes_every_policy() {
    check(
        "rule 6",
        vec![
            case("r06_strict_allow_nothing_and_deny_all_do_not_matter_on_an_excluded_port")
                .to(web("excl").init("istio-init", "*", "15090,15021,15020,8080"))
                .with(mesh_strict())
                .with(allow_nothing())
                .with(ap("deny-all", "shop", "{action: DENY, rules: [{}]}"))
                .not_captured("6")
                .mentions("AuthorizationPolicy shop/allow-nothing")
                .mentions("do not matter on this port"),
        ],
    );
}

#[test]
fn r07_sidecar_ports() {
    check(
        "rule 7",
        vec![
            case("r07_envoy_stats_on_15090_is_plaintext_and_unprotected")
                .port(15090)
                .path("/stats/prometheus")
                .with(ns_mode("STRICT"))
                .not_captured("7")
                .mentions("static Prometheus listener"),
            case("r07_the_merged_endpoint_on_15020_is_plaintext_and_unprotected")
                .port(15020)
                .path("/stats/prometheus")
                .with(ns_mode("STRICT"))
                .with(allow_nothing())
                .not_captured("7")
                .mentions("pilot-agent"),
            case("r07_the_health_port_15021_is_plaintext")
                .port(15021)
                .path("/healthz/ready")
                .with(ns_mode("STRICT"))
                .not_captured("7"),
            case("r07_localhost_only_metrics_refuse_15090")
                .to(web("lo").env("METRICS_LOCALHOST_ACCESS_ONLY", "true"))
                .port(15090)
                .path("/stats/prometheus")
                .expect(MeshVerdict::Denied, Basis::MetricsLocalhostOnly, "7", &[])
                .mentions("env METRICS_LOCALHOST_ACCESS_ONLY of istio-proxy"),
            case("r07_localhost_only_metrics_answer_403_on_the_merged_endpoint")
                .to(web("lo-ann").ann(
                    "proxy.istio.io/config",
                    "proxyMetadata:\n  METRICS_LOCALHOST_ACCESS_ONLY: \"true\"",
                ))
                .port(15020)
                .path("/stats/prometheus")
                .expect(MeshVerdict::Denied, Basis::MetricsLocalhostOnly, "7", &[])
                .mentions("403"),
            case("r07_localhost_only_from_the_mesh_default_config")
                .with(mesh_config(
                    "defaultConfig:\n  proxyMetadata:\n    METRICS_LOCALHOST_ACCESS_ONLY: \"true\"",
                ))
                .port(15090)
                .path("/stats/prometheus")
                .expect(MeshVerdict::Denied, Basis::MetricsLocalhostOnly, "7", &[])
                .mentions("meshConfig.defaultConfig"),
            case("r07_localhost_only_does_not_touch_the_app_port")
                .to(web("lo").env("METRICS_LOCALHOST_ACCESS_ONLY", "true"))
                .allowed(),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// C. Metrics merging.

fn pod_of(spec: PodSpec) -> scrapepath::model::Pod {
    let v: Value = serde_json::from_str(&spec.doc()).unwrap();
    match parse_value(v).unwrap() {
        Parsed::Object(scrapepath::index::Object::Pod(p)) => *p,
        _ => unreachable!(),
    }
}

#[test]
fn r08_r09_what_an_annotation_driven_scraper_connects_to() {
    let merge_off = MeshConfig {
        enable_prometheus_merge: Some(false),
        ..MeshConfig::default()
    };
    let d = MeshConfig::default();
    // (name, pod, mesh config, want (scrape, port, path, merging: the app endpoint merged, if any))
    type Want = (
        bool,
        Option<u16>,
        &'static str,
        Option<Option<(u16, &'static str)>>,
    );
    let rows: Vec<(&str, PodSpec, &MeshConfig, Want)> = vec![
        // The injector records the app endpoint only from annotations the pod had: none, nothing merged.
        ("an injected pod without annotations is scraped on the merged endpoint, which has no app metrics",
            web("a"), &d, (true, Some(15020), "/stats/prometheus", Some(None))),
        ("a scrape annotation alone is recorded, and the agent defaults port 80 and /metrics",
            web("a2").ann("prometheus.io/scrape", "true"),
            &d, (true, Some(15020), "/stats/prometheus", Some(Some((80, "/metrics"))))),
        ("annotations not yet rewritten become the merged app endpoint",
            web("b").ann("prometheus.io/port", "8080").ann("prometheus.io/path", "/actuator/prometheus"),
            &d, (true, Some(15020), "/stats/prometheus", Some(Some((8080, "/actuator/prometheus"))))),
        ("rewritten annotations take the app endpoint from ISTIO_PROMETHEUS_ANNOTATIONS",
            web("c").ann("prometheus.io/port", "15020").ann("prometheus.io/path", "/stats/prometheus").ann("prometheus.io/scrape", "true")
                .env("ISTIO_PROMETHEUS_ANNOTATIONS", "{\"scrape\":\"true\",\"path\":\"/q/metrics\",\"port\":\"9090\"}"),
            &d, (true, Some(15020), "/stats/prometheus", Some(Some((9090, "/q/metrics"))))),
        ("the agent reads ISTIO_PROMETHEUS_ANNOTATIONS from proxyMetadata too",
            web("c2").ann("prometheus.io/port", "15020").ann("prometheus.io/path", "/stats/prometheus")
                .ann("proxy.istio.io/config", "proxyMetadata:\n  ISTIO_PROMETHEUS_ANNOTATIONS: '{\"port\":\"9100\"}'"),
            &d, (true, Some(15020), "/stats/prometheus", Some(Some((9100, "/metrics"))))),
        ("rewritten annotations without the env merge no app metrics",
            web("d").ann("prometheus.io/port", "15020").ann("prometheus.io/path", "/stats/prometheus"),
            &d, (true, Some(15020), "/stats/prometheus", Some(None))),
        ("scrape false is never rewritten",
            web("e").ann("prometheus.io/scrape", "false").ann("prometheus.io/port", "8080"),
            &d, (false, Some(8080), "/metrics", None)),
        ("the merge-metrics annotation false turns merging off",
            web("f").ann("prometheus.istio.io/merge-metrics", "false").ann("prometheus.io/scrape", "true").ann("prometheus.io/port", "8080"),
            &d, (true, Some(8080), "/metrics", None)),
        ("meshConfig enablePrometheusMerge false turns merging off",
            web("g").ann("prometheus.io/scrape", "true").ann("prometheus.io/port", "8080"),
            &merge_off, (true, Some(8080), "/metrics", None)),
        ("the merge-metrics annotation wins over meshConfig",
            web("h").ann("prometheus.istio.io/merge-metrics", "true").ann("prometheus.io/port", "8080"),
            &merge_off, (true, Some(15020), "/stats/prometheus", Some(Some((8080, "/metrics"))))),
        ("a pod without a sidecar is scraped where its annotations say",
            web("i").plain().ann("prometheus.io/scrape", "true").ann("prometheus.io/port", "9100").ann("prometheus.io/path", "/m"),
            &d, (true, Some(9100), "/m", None)),
    ];
    for (name, spec, cfg, want) in rows {
        let got = annotation_scrape(&pod_of(spec), cfg);
        let merged = got
            .merged
            .as_ref()
            .map(|m| m.app.as_ref().map(|(port, path)| (*port, path.as_str())));
        assert_eq!(
            (got.scrape, got.port, got.path.as_str(), merged),
            want,
            "{name}"
        );
    }
    // The merged endpoint escapes Istio policy (rules 8 → 6), and the agent's loopback fetch of the app
    // does too (rule 9): only the scrape of the app port itself meets PeerAuthentication.
    check(
        "rules 8-9",
        vec![
            case("r08_the_merged_endpoint_is_not_applicable_under_strict_and_allow_nothing")
                .port(15020)
                .path("/stats/prometheus")
                .with(mesh_strict())
                .with(allow_nothing())
                .not_captured("7"),
            case("r09_a_monitor_on_the_app_port_meets_strict")
                .with(mesh_strict())
                .strict(&["PA/istio-system/default"]),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// D. PeerAuthentication.

#[test]
fn r10_which_peer_authentications_count() {
    check(
        "rule 10",
        vec![
            case("r10_a_root_namespace_policy_without_selector_is_mesh_wide")
                .with(mesh_strict())
                .strict(&["PA/istio-system/default"]),
            case("r10_a_root_namespace_policy_with_a_selector_is_ignored")
                .with(pa(
                    "web-strict",
                    "istio-system",
                    "{selector: {matchLabels: {app: web}}, mtls: {mode: STRICT}}",
                ))
                .allowed(),
            case("r10_a_policy_of_another_namespace_does_not_count")
                .with(pa("default", "other", "{mtls: {mode: STRICT}}"))
                .allowed(),
            case("r10_a_namespace_policy_counts_for_its_namespace")
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"]),
            case("r10_a_workload_policy_counts_when_its_labels_are_a_subset")
                .with(workload_pa("web", "mtls: {mode: STRICT}"))
                .strict(&["PA/shop/web"]),
            case("r10_a_workload_policy_for_other_labels_does_not_count")
                .with(pa(
                    "api",
                    "shop",
                    "{selector: {matchLabels: {app: api}}, mtls: {mode: STRICT}}",
                ))
                .allowed(),
            case("r10_an_empty_selector_is_namespace_wide")
                .with(pa(
                    "empty-sel",
                    "shop",
                    "{selector: {matchLabels: {}}, mtls: {mode: STRICT}}",
                ))
                .strict(&["PA/shop/empty-sel"]),
            case("r10_the_oldest_namespace_policy_wins")
                .with(pa_created(
                    "a-newer-strict",
                    "shop",
                    "2024-05-01T00:00:00Z",
                    "{mtls: {mode: STRICT}}",
                ))
                .with(pa_created(
                    "b-older-permissive",
                    "shop",
                    "2023-01-01T00:00:00Z",
                    "{mtls: {mode: PERMISSIVE}}",
                ))
                .allowed(),
            case("r10_the_oldest_namespace_policy_wins_when_it_is_strict")
                .with(pa_created(
                    "a-newer-permissive",
                    "shop",
                    "2024-05-01T00:00:00Z",
                    "{mtls: {mode: PERMISSIVE}}",
                ))
                .with(pa_created(
                    "b-older-strict",
                    "shop",
                    "2023-01-01T00:00:00Z",
                    "{mtls: {mode: STRICT}}",
                ))
                .strict(&["PA/shop/b-older-strict"]),
            case("r10_the_oldest_workload_policy_wins")
                .with(pa_created(
                    "new",
                    "shop",
                    "2024-05-01T00:00:00Z",
                    "{selector: {matchLabels: {app: web}}, mtls: {mode: PERMISSIVE}}",
                ))
                .with(pa_created(
                    "old",
                    "shop",
                    "2023-01-01T00:00:00Z",
                    "{selector: {matchLabels: {app: web}}, mtls: {mode: STRICT}}",
                ))
                .strict(&["PA/shop/old"]),
            case("r10_the_root_namespace_comes_from_the_mesh_config")
                .with(mesh_config("rootNamespace: mesh-root"))
                .with(pa("default", "mesh-root", "{mtls: {mode: STRICT}}"))
                .strict(&["PA/mesh-root/default"]),
            case("r10_istio_system_is_an_ordinary_namespace_when_the_root_is_elsewhere")
                .with(mesh_config("rootNamespace: mesh-root"))
                .with(mesh_strict())
                .allowed(),
        ],
    );
}

#[test]
fn r11_effective_mode_and_port_level_mtls() {
    check(
        "rule 11",
        vec![
            case("r11_a_namespace_mode_overrides_the_mesh_mode")
                .with(mesh_strict())
                .with(ns_mode("PERMISSIVE"))
                .allowed(),
            case("r11_unset_does_not_override")
                .with(mesh_strict())
                .with(ns_mode("UNSET"))
                .strict(&["PA/istio-system/default"]),
            case("r11_a_policy_without_mtls_does_not_override")
                .with(mesh_strict())
                .with(pa("default", "shop", "{}"))
                .strict(&["PA/istio-system/default"]),
            case("r11_a_workload_mode_overrides_the_namespace_mode")
                .with(ns_mode("STRICT"))
                .with(workload_pa("web", "mtls: {mode: PERMISSIVE}"))
                .allowed(),
            case("r11_port_level_strict_on_the_scraped_port_refuses_it")
                .with(workload_pa("web", "portLevelMtls: {8080: {mode: STRICT}}"))
                .strict(&["PA/shop/web"])
                .mentions("portLevelMtls 8080: STRICT"),
            case("r11_port_level_mtls_for_another_port_does_not_apply")
                .with(ns_mode("STRICT"))
                .with(workload_pa(
                    "web",
                    "portLevelMtls: {9090: {mode: PERMISSIVE}}",
                ))
                .strict(&["PA/shop/default"]),
            case("r11_port_level_mtls_is_keyed_by_container_port_not_service_port")
                .with(ns_mode("STRICT"))
                .with(workload_pa(
                    "web",
                    "portLevelMtls: {80: {mode: PERMISSIVE}}",
                ))
                .strict(&["PA/shop/default"]),
            case("r11_an_unset_port_entry_inherits_the_workload_mode")
                .with(ns_mode("STRICT"))
                .with(workload_pa(
                    "web",
                    "mtls: {mode: PERMISSIVE}, portLevelMtls: {8080: {mode: UNSET}}",
                ))
                .allowed()
                .mentions("UNSET inherits"),
            case("r11_an_unset_port_entry_inherits_strict_too")
                .with(ns_mode("PERMISSIVE"))
                .with(workload_pa(
                    "web",
                    "mtls: {mode: STRICT}, portLevelMtls: {8080: {mode: UNSET}}",
                ))
                .strict(&["PA/shop/web"]),
            case("r11_port_level_mtls_works_for_a_port_in_no_service")
                .port(9090)
                .with(ns_mode("STRICT"))
                .with(workload_pa(
                    "web",
                    "portLevelMtls: {9090: {mode: PERMISSIVE}}",
                ))
                .allowed(),
            case("r11_port_level_mtls_without_a_selector_is_rejected_and_has_no_effect")
                .with(pa(
                    "ns-ports",
                    "shop",
                    "{mtls: {mode: STRICT}, portLevelMtls: {8080: {mode: PERMISSIVE}}}",
                ))
                .allowed()
                .invalid("PA/shop/ns-ports"),
        ],
    );
}

#[test]
fn r12_plaintext_on_a_captured_port() {
    check(
        "rule 12",
        vec![
            case("r12_strict_resets_the_plaintext_connection")
                .with(ns_mode("STRICT"))
                .strict(&["PA/shop/default"])
                .mentions("reset"),
            case("r12_permissive_continues_to_authorization")
                .with(ns_mode("PERMISSIVE"))
                .allowed(),
            case("r12_disable_continues_to_authorization")
                .with(ns_mode("DISABLE"))
                .with(allow_nothing())
                .no_allow_match("15", &["AP/shop/allow-nothing"]),
        ],
    );
}

#[test]
fn r13_an_istio_certificate_client() {
    check(
        "rule 13",
        vec![
            case("r13_under_strict_envoy_terminates_and_knows_the_peer")
                .from(PROM_CERTS)
                .https()
                .with(ns_mode("STRICT"))
                .with(ap_web(
                    "from-monitoring",
                    "rules: [{from: [{source: {namespaces: [monitoring]}}]}]",
                ))
                .allowed_by(&["AP/shop/from-monitoring"]),
            case("r13_under_strict_a_known_peer_of_another_namespace_does_not_match")
                .from(PROM_CERTS)
                .https()
                .with(ns_mode("STRICT"))
                .with(ap_web(
                    "from-shop",
                    "rules: [{from: [{source: {namespaces: [shop]}}]}]",
                ))
                .no_allow_match("15", &["AP/shop/from-shop"])
                .mentions("does not include monitoring"),
            case("r13_under_permissive_tls_on_an_http_declared_port_finds_no_filter_chain")
                .from(PROM_CERTS)
                .https()
                .expect(MeshVerdict::Denied, Basis::TlsNotTerminated, "13", &[]),
            case("r13_under_disable_tls_on_an_http_declared_port_fails_too")
                .from(PROM_CERTS)
                .https()
                .with(ns_mode("DISABLE"))
                .expect(
                    MeshVerdict::Denied,
                    Basis::TlsNotTerminated,
                    "13",
                    &["PA/shop/default"],
                ),
            case("r13_under_permissive_tls_on_an_undeclared_port_passes_to_the_app_unterminated")
                .from(PROM_CERTS)
                .https()
                .port(9090)
                .allowed()
                .mentions("raw TLS"),
            case("r13_unterminated_tls_has_no_identity")
                .from(PROM_CERTS)
                .https()
                .port(9090)
                .with(ap_web(
                    "from-monitoring",
                    "rules: [{from: [{source: {namespaces: [monitoring]}}]}]",
                ))
                .identity_required(&["AP/shop/from-monitoring"]),
            case("r13_under_strict_an_undeclared_port_lands_on_the_tcp_chain")
                .from(PROM_CERTS)
                .https()
                .port(9090)
                .with(ns_mode("STRICT"))
                .with(ap_web(
                    "get-metrics",
                    "rules: [{to: [{operation: {methods: [GET]}}]}]",
                ))
                .no_allow_match("17", &["AP/shop/get-metrics"])
                .mentions("HTTP-only"),
            case("r13_under_strict_identity_still_matches_on_the_tcp_chain")
                .from(PROM_CERTS)
                .https()
                .port(9090)
                .with(ns_mode("STRICT"))
                .with(ap_web(
                    "from-monitoring",
                    "rules: [{from: [{source: {namespaces: [monitoring]}}]}]",
                ))
                .allowed_by(&["AP/shop/from-monitoring"]),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// E. AuthorizationPolicy.

#[test]
fn r14_applicable_authorization_policies() {
    check(
        "rule 14",
        vec![
            case("r14_a_root_namespace_policy_applies_in_every_namespace")
                .with(ap("deny-all", "istio-system", "{action: DENY, rules: [{}]}"))
                .denied_by("15", &["AP/istio-system/deny-all"]),
            case("r14_a_root_namespace_policy_with_a_selector_applies_to_matching_pods_everywhere")
                .with(ap("deny-web", "istio-system", "{selector: {matchLabels: {app: web}}, action: DENY, rules: [{}]}"))
                .denied_by("15", &["AP/istio-system/deny-web"]),
            case("r14_a_policy_of_another_namespace_does_not_apply")
                .with(ap("deny-all", "other", "{action: DENY, rules: [{}]}"))
                .allowed(),
            case("r14_a_policy_whose_selector_does_not_match_does_not_apply")
                .with(ap("api-only", "shop", "{selector: {matchLabels: {app: api}}}"))
                .allowed(),
            case("r14_sidecars_ignore_policies_with_target_refs")
                .with(ap("waypoint", "shop", "{targetRefs: [{kind: Service, group: \"\", name: web}]}"))
                .allowed()
                .mentions("sidecars ignore"),
            case("r14_sidecars_ignore_policies_with_a_single_target_ref")
                .with(ap("gateway", "shop", "{targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}, action: DENY, rules: [{}]}"))
                .allowed(),
            case("r14_a_dry_run_allow_nothing_only_shadows")
                .with(dry_run("shadow-allow", "{}"))
                .allowed()
                .mentions("istio.io/dry-run"),
            case("r14_a_dry_run_deny_only_shadows")
                .with(dry_run("shadow-deny", "{action: DENY, rules: [{}]}"))
                .allowed(),
            case("r14_a_dry_run_annotation_other_than_true_does_not_count")
                .with("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: not-dry, namespace: shop, annotations: {istio.io/dry-run: \"false\"}}\nspec: {action: DENY, rules: [{}]}\n".to_string())
                .denied_by("15", &["AP/shop/not-dry"]),
        ],
    );
}

#[test]
fn r15_custom_then_deny_then_allow() {
    let custom = |name: &str, rules: &str| {
        ap_web(
            name,
            &format!("action: CUSTOM, provider: {{name: ext-authz}}, rules: {rules}"),
        )
    };
    check(
        "rule 15",
        vec![
            case("r15_a_matching_custom_rule_leaves_it_to_the_external_authorizer")
                .with(custom("ext", "[{}]"))
                .external(&["AP/shop/ext"]),
            case("r15_a_custom_provider_the_mesh_config_defines_is_asked")
                .with(mesh_config("extensionProviders:\n- name: ext-authz\n  envoyExtAuthzHttp: {service: authz.svc, port: 8000}"))
                .with(custom("ext", "[{}]"))
                .external(&["AP/shop/ext"]),
            case("r15_a_custom_provider_missing_from_the_mesh_config_becomes_a_deny")
                .with(mesh_config("extensionProviders: []"))
                .with(custom("ext", "[{}]"))
                .denied_by("15", &["AP/shop/ext"])
                .mentions("does not define"),
            case("r15_a_custom_rule_that_does_not_match_is_not_asked")
                .with(custom("ext", "[{to: [{operation: {ports: [\"9999\"]}}]}]"))
                .allowed(),
            case("r15_a_deny_wins_even_when_custom_matches")
                .with(custom("ext", "[{}]"))
                .with(ap_web("deny-all", "action: DENY, rules: [{}]"))
                .denied_by("15", &["AP/shop/deny-all"]),
            case("r15_no_allow_match_wins_even_when_custom_matches")
                .with(custom("ext", "[{}]"))
                .with(allow_nothing())
                .no_allow_match("15", &["AP/shop/allow-nothing"]),
            case("r15_a_matching_deny_denies")
                .with(ap_web("deny-metrics", "action: DENY, rules: [{to: [{operation: {paths: [/metrics]}}]}]"))
                .denied_by("15", &["AP/shop/deny-metrics"]),
            case("r15_a_deny_without_rules_does_nothing")
                .with(ap_web("deny-nothing", "action: DENY"))
                .allowed(),
            case("r15_a_deny_with_one_empty_rule_denies_everything")
                .with(ap_web("deny-all", "action: DENY, rules: [{}]"))
                .denied_by("15", &["AP/shop/deny-all"]),
            case("r15_audit_never_affects_the_verdict")
                .with(ap_web("audit-all", "action: AUDIT, rules: [{}]"))
                .allowed(),
            case("r15_no_allow_policy_allows")
                .allowed(),
            case("r15_a_matching_allow_allows")
                .with(ap_web("ports", "rules: [{to: [{operation: {ports: [\"8080\"]}}]}]"))
                .allowed_by(&["AP/shop/ports"]),
            case("r15_an_allow_that_does_not_match_denies")
                .with(ap_web("other-port", "rules: [{to: [{operation: {ports: [\"9090\"]}}]}]"))
                .no_allow_match("15", &["AP/shop/other-port"])
                .mentions("does not include 8080"),
            case("r15_spec_empty_is_allow_nothing")
                .with(allow_nothing())
                .no_allow_match("15", &["AP/shop/allow-nothing"])
                .mentions("allow-nothing"),
            case("r15_an_allow_with_one_empty_rule_allows_everything")
                .with(allow_nothing())
                .with(ap_web("allow-all", "rules: [{}]"))
                .allowed_by(&["AP/shop/allow-all"]),
            case("r15_every_allow_that_applies_decides_together")
                .with(allow_nothing())
                .with(ap_web("other-port", "rules: [{to: [{operation: {ports: [\"9090\"]}}]}]"))
                .no_allow_match("15", &["AP/shop/allow-nothing", "AP/shop/other-port"]),
        ],
    );
}

#[test]
fn r16_rule_matching() {
    check(
        "rule 16",
        vec![
            case("r16_missing_sections_match")
                .with(ap_web("to-only", "rules: [{to: [{operation: {ports: [\"8080\"]}}]}]"))
                .allowed_by(&["AP/shop/to-only"]),
            case("r16_one_matching_from_is_enough")
                .with(ap_web("ips", "rules: [{from: [{source: {ipBlocks: [10.9.0.0/16]}}, {source: {ipBlocks: [10.1.2.0/24]}}]}]"))
                .allowed_by(&["AP/shop/ips"]),
            case("r16_one_matching_to_is_enough")
                .with(ap_web("two", "rules: [{to: [{operation: {ports: [\"9090\"]}}, {operation: {paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/two"]),
            case("r16_every_when_must_match")
                .with(ap_web("whens", "rules: [{when: [{key: destination.port, values: [\"8080\"]}, {key: source.ip, values: [10.9.9.9]}]}]"))
                .no_allow_match("15", &["AP/shop/whens"]),
            case("r16_fields_of_an_operation_are_anded")
                .with(ap_web("and", "rules: [{to: [{operation: {ports: [\"8080\"], paths: [/other]}}]}]"))
                .no_allow_match("15", &["AP/shop/and"]),
            case("r16_values_of_a_field_are_ored")
                .with(ap_web("or", "rules: [{to: [{operation: {ports: [\"9090\", \"8080\"]}}]}]"))
                .allowed_by(&["AP/shop/or"]),
            case("r16_not_ports_matches_when_no_value_matches")
                .with(ap_web("not-9090", "rules: [{to: [{operation: {notPorts: [\"9090\"]}}]}]"))
                .allowed_by(&["AP/shop/not-9090"]),
            case("r16_not_ports_fails_when_a_value_matches")
                .with(ap_web("not-8080", "rules: [{to: [{operation: {notPorts: [\"8080\"]}}]}]"))
                .no_allow_match("15", &["AP/shop/not-8080"]),
            case("r16_a_prefix_path_matches")
                .with(ap_web("prefix", "rules: [{to: [{operation: {paths: [\"/met*\"]}}]}]"))
                .allowed_by(&["AP/shop/prefix"]),
            case("r16_a_suffix_path_matches")
                .with(ap_web("suffix", "rules: [{to: [{operation: {paths: [\"*rics\"]}}]}]"))
                .allowed_by(&["AP/shop/suffix"]),
            case("r16_star_matches_any_non_empty_path")
                .with(ap_web("star", "rules: [{to: [{operation: {paths: [\"*\"]}}]}]"))
                .allowed_by(&["AP/shop/star"]),
            case("r16_an_exact_path_must_be_equal")
                .with(ap_web("exact", "rules: [{to: [{operation: {paths: [/metrics/]}}]}]"))
                .no_allow_match("15", &["AP/shop/exact"]),
            case("r16_paths_are_matched_without_the_query_string")
                .path("/metrics?format=prometheus")
                .with(ap_web("exact", "rules: [{to: [{operation: {paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/exact"]),
            case("r16_paths_are_matched_normalized")
                .path("/debug/../metrics")
                .with(ap_web("exact", "rules: [{to: [{operation: {paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/exact"]),
            case("r16_ports_are_exact_only_and_a_wildcard_port_is_rejected")
                .with(ap_web("wild", "rules: [{to: [{operation: {ports: [\"80*\"]}}]}]"))
                .allowed()
                .invalid("AP/shop/wild"),
            case("r16_ports_are_container_ports_not_service_ports")
                .with(ap_web("service-port", "rules: [{to: [{operation: {ports: [\"80\"]}}]}]"))
                .no_allow_match("15", &["AP/shop/service-port"]),
            case("r16_hosts_compare_with_the_pod_ip_and_port_prometheus_sends")
                .with(ap_web("host", "rules: [{to: [{operation: {hosts: [\"10.1.1.10:8080\"]}}]}]"))
                .allowed_by(&["AP/shop/host"]),
            case("r16_hosts_are_case_insensitive_and_take_wildcards")
                .with(ap_web("host", "rules: [{to: [{operation: {hosts: [\"*:8080\"]}}]}]"))
                .allowed_by(&["AP/shop/host"]),
            case("r16_a_service_host_name_never_matches_a_pod_ip_scrape")
                .with(ap_web("host", "rules: [{to: [{operation: {hosts: [web.shop.svc.cluster.local, \"WEB.SHOP.SVC:80\"]}}]}]"))
                .no_allow_match("15", &["AP/shop/host"]),
            case("r16_methods_match_get")
                .with(ap_web("get", "rules: [{to: [{operation: {methods: [GET]}}]}]"))
                .allowed_by(&["AP/shop/get"]),
            case("r16_not_methods_of_get_fail")
                .with(ap_web("not-get", "rules: [{to: [{operation: {notMethods: [GET]}}]}]"))
                .no_allow_match("15", &["AP/shop/not-get"]),
            case("r16_when_destination_port_matches_exactly")
                .with(ap_web("dport", "rules: [{when: [{key: destination.port, values: [\"8080\"]}]}]"))
                .allowed_by(&["AP/shop/dport"]),
            case("r16_when_destination_ip_takes_cidrs")
                .with(ap_web("dip", "rules: [{when: [{key: destination.ip, values: [10.1.1.0/24]}]}]"))
                .allowed_by(&["AP/shop/dip"]),
            case("r16_when_the_user_agent_header_matches_prometheus")
                .with(ap_web("ua", "rules: [{when: [{key: \"request.headers[User-Agent]\", values: [\"Prometheus/*\"]}]}]"))
                .allowed_by(&["AP/shop/ua"]),
            case("r16_when_a_header_prometheus_does_not_send_never_matches")
                .with(ap_web("hdr", "rules: [{when: [{key: \"request.headers[x-token]\", values: [\"*\"]}]}]"))
                .no_allow_match("15", &["AP/shop/hdr"]),
            case("r16_when_not_values_of_an_absent_header_match")
                .with(ap_web("hdr", "rules: [{when: [{key: \"request.headers[x-token]\", notValues: [secret]}]}]"))
                .allowed_by(&["AP/shop/hdr"]),
            case("r16_when_with_an_unsupported_key_is_rejected")
                .with(ap_web("bogus", "rules: [{when: [{key: source.labels, values: [x]}]}]"))
                .allowed()
                .invalid("AP/shop/bogus"),
        ],
    );
}

#[test]
fn r17_http_fields_on_tcp_ports() {
    check(
        "rule 17",
        vec![
            case("r17_a_port_named_http_is_an_http_chain")
                .with(ap_web("get", "rules: [{to: [{operation: {ports: [\"8080\"], methods: [GET], paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/get"]),
            case("r17_a_port_named_tcp_drops_an_allow_rule_with_http_fields")
                .port(9000)
                .with(ap_web("get", "rules: [{to: [{operation: {ports: [\"9000\"], methods: [GET]}}]}]"))
                .no_allow_match("17", &["AP/shop/get"])
                .mentions("port name tcp-data of Service web"),
            case("r17_app_protocol_tcp_wins_over_the_port_name")
                .port(9100)
                .with(ap_web("paths", "rules: [{to: [{operation: {paths: [/metrics]}}]}]"))
                .no_allow_match("17", &["AP/shop/paths"])
                .mentions("appProtocol tcp"),
            case("r17_app_protocol_http_wins_over_a_tcp_port_name")
                .port(9300)
                .with(ap_web("paths", "rules: [{to: [{operation: {paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/paths"]),
            case("r17_a_port_in_no_service_is_sniffed_as_http")
                .port(9090)
                .with(ap_web("paths", "rules: [{to: [{operation: {paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/paths"])
                .mentions("sniffs"),
            case("r17_a_port_name_without_a_protocol_prefix_is_sniffed_as_http")
                .port(9200)
                .with(ap_web("paths", "rules: [{to: [{operation: {paths: [/metrics]}}]}]"))
                .allowed_by(&["AP/shop/paths"]),
            case("r17_an_l4_allow_still_matches_on_a_tcp_port")
                .port(9000)
                .with(ap_web("l4", "rules: [{to: [{operation: {ports: [\"9000\"]}}]}]"))
                .allowed_by(&["AP/shop/l4"]),
            case("r17_a_deny_ignores_its_http_fields_on_a_tcp_port_and_matches_more")
                .port(9000)
                .with(ap_web("deny-admin", "action: DENY, rules: [{to: [{operation: {paths: [/admin]}}]}]"))
                .denied_by("15", &["AP/shop/deny-admin"])
                .mentions("ignored on a TCP port"),
            case("r17_a_deny_of_post_denies_every_tcp_connection")
                .port(9000)
                .with(ap_web("deny-post", "action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]"))
                .denied_by("15", &["AP/shop/deny-post"]),
            case("r17_the_same_deny_of_post_does_not_match_a_get_on_http")
                .with(ap_web("deny-post", "action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}]"))
                .allowed(),
            case("r17_a_custom_rule_ignores_its_http_fields_on_a_tcp_port")
                .port(9000)
                .with(ap_web("ext", "action: CUSTOM, provider: {name: ext-authz}, rules: [{to: [{operation: {paths: [/admin]}}]}]"))
                .external(&["AP/shop/ext"]),
            case("r17_a_when_on_a_request_header_is_http_only")
                .port(9000)
                .with(ap_web("ua", "rules: [{when: [{key: \"request.headers[User-Agent]\", values: [\"Prometheus/*\"]}]}]"))
                .no_allow_match("17", &["AP/shop/ua"]),
        ],
    );
}

#[test]
fn r18_a_plaintext_client_has_no_identity() {
    check(
        "rule 18",
        vec![
            case("r18_principals_never_match_not_even_star")
                .with(ap_web("any-principal", "rules: [{from: [{source: {principals: [\"*\"]}}]}]"))
                .identity_required(&["AP/shop/any-principal"]),
            case("r18_namespaces_never_match")
                .with(ap_web("from-monitoring", "rules: [{from: [{source: {namespaces: [monitoring]}}]}]"))
                .identity_required(&["AP/shop/from-monitoring"]),
            case("r18_service_accounts_never_match")
                .with(ap_web("sa", "rules: [{from: [{source: {serviceAccounts: [monitoring/prometheus]}}]}]"))
                .identity_required(&["AP/shop/sa"]),
            case("r18_when_source_namespace_never_matches")
                .with(ap_web("when-ns", "rules: [{when: [{key: source.namespace, values: [monitoring]}]}]"))
                .identity_required(&["AP/shop/when-ns"]),
            case("r18_when_source_principal_never_matches")
                .with(ap_web("when-p", "rules: [{when: [{key: source.principal, values: [\"*\"]}]}]"))
                .identity_required(&["AP/shop/when-p"]),
            case("r18_not_namespaces_always_match_in_an_allow")
                .with(ap_web("not-other", "rules: [{from: [{source: {notNamespaces: [other]}}]}]"))
                .allowed_by(&["AP/shop/not-other"])
                .mentions("matches any client without an mTLS identity"),
            case("r18_require_mtls_deny_not_principals_star_denies_plaintext")
                .with(ap_web("require-mtls", "action: DENY, rules: [{from: [{source: {notPrincipals: [\"*\"]}}]}]"))
                .denied_by("18", &["AP/shop/require-mtls"]),
            case("r18_deny_not_service_accounts_denies_plaintext")
                .with(ap_web("only-web", "action: DENY, rules: [{from: [{source: {notServiceAccounts: [shop/web]}}]}]"))
                .denied_by("18", &["AP/shop/only-web"]),
            case("r18_deny_when_source_namespace_not_values_denies_plaintext")
                .with(ap_web("ns-deny", "action: DENY, rules: [{when: [{key: source.namespace, notValues: [shop]}]}]"))
                .denied_by("18", &["AP/shop/ns-deny"]),
            case("r18_without_a_jwt_request_principals_never_match")
                .with(ap_web("jwt", "rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]"))
                .no_allow_match("15", &["AP/shop/jwt"])
                .mentions("JWT"),
            case("r18_without_a_jwt_not_request_principals_star_matches")
                .with(ap_web("no-jwt", "rules: [{from: [{source: {notRequestPrincipals: [\"*\"]}}]}]"))
                .allowed_by(&["AP/shop/no-jwt"]),
            case("r18_ip_blocks_compare_with_the_prometheus_pod_ip")
                .with(ap_web("pod-cidr", "rules: [{from: [{source: {ipBlocks: [10.1.2.0/24]}}]}]"))
                .allowed_by(&["AP/shop/pod-cidr"]),
            case("r18_ip_blocks_of_another_range_do_not_match")
                .with(ap_web("other-cidr", "rules: [{from: [{source: {ipBlocks: [10.9.0.0/16]}}]}]"))
                .no_allow_match("15", &["AP/shop/other-cidr"])
                .mentions("10.1.2.3"),
            case("r18_not_ip_blocks_covering_prometheus_fail")
                .with(ap_web("not-prom", "rules: [{from: [{source: {notIpBlocks: [10.1.2.3]}}]}]"))
                .no_allow_match("15", &["AP/shop/not-prom"]),
            case("r18_remote_ip_blocks_are_compared_with_the_pod_ip_but_uncertain")
                .with(ap_web("remote", "rules: [{from: [{source: {remoteIpBlocks: [10.1.2.0/24]}}]}]"))
                .allowed_by(&["AP/shop/remote"])
                .mentions("UNCERTAIN"),
            case("r18_an_allow_naming_another_workloads_principal_is_not_prometheus_missing_identity")
                .with(ap_web("from-api", "rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/api]}}]}]"))
                .no_allow_match("15", &["AP/shop/from-api"]),
            case("r18_an_identity_rule_that_fails_on_the_port_too_is_not_an_identity_problem")
                .with(ap_web("was-authz", "rules: [{from: [{source: {namespaces: [monitoring]}}], to: [{operation: {ports: [\"15090\"]}}]}]"))
                .no_allow_match("15", &["AP/shop/was-authz"])
                .mentions("does not include 8080")
                .mentions("needs an mTLS peer identity"),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// F. Ambient.

fn amb(name: &'static str) -> PodSpec {
    web(name)
        .plain()
        .label("istio.io/dataplane-mode", "ambient")
}

#[test]
fn r20_ambient_mode() {
    check(
        "rule 20",
        vec![
            case("r20_an_ambient_pod_without_policy_is_allowed")
                .to(amb("amb"))
                .expect(MeshVerdict::Allowed, Basis::NoAllowPolicy, "20", &[])
                .mentions("ztunnel"),
            case("r20_the_bypass_annotation_turns_inbound_capture_off")
                .to(amb("amb").ann("ambient.istio.io/bypass-inbound-capture", "true"))
                .with(ns_mode("STRICT"))
                .not_captured("20"),
            case("r20_sidecar_capture_annotations_do_not_apply")
                .to(amb("amb").ann("traffic.sidecar.istio.io/excludeInboundPorts", "8080"))
                .with(ns_mode("STRICT"))
                .expect(MeshVerdict::Denied, Basis::StrictMtls, "20", &["PA/shop/default"]),
            case("r20_strict_rejects_plaintext_at_ztunnel")
                .to(amb("amb"))
                .with(mesh_strict())
                .expect(MeshVerdict::Denied, Basis::StrictMtls, "20", &["PA/istio-system/default"]),
            case("r20_port_level_mtls_is_honoured")
                .to(amb("amb"))
                .with(ns_mode("STRICT"))
                .with(workload_pa("web", "portLevelMtls: {8080: {mode: PERMISSIVE}}"))
                .expect(MeshVerdict::Allowed, Basis::NoAllowPolicy, "20", &[]),
            case("r20_disable_is_ignored_and_acts_as_permissive")
                .to(amb("amb"))
                .with(ns_mode("DISABLE"))
                .expect(MeshVerdict::Allowed, Basis::NoAllowPolicy, "20", &[])
                .mentions("ignores DISABLE"),
            case("r20_target_refs_policies_belong_to_a_waypoint_the_scrape_bypasses")
                .to(amb("amb"))
                .with(ap("waypoint", "shop", "{targetRefs: [{kind: Service, group: \"\", name: web}]}"))
                .expect(MeshVerdict::Allowed, Basis::NoAllowPolicy, "20", &[])
                .mentions("waypoint"),
            case("r20_custom_policies_are_left_out_for_ztunnel")
                .to(amb("amb"))
                .with(ap_web("ext", "action: CUSTOM, provider: {name: ext-authz}, rules: [{}]"))
                .expect(MeshVerdict::Allowed, Basis::NoAllowPolicy, "20", &[]),
            case("r20_audit_policies_are_left_out_for_ztunnel")
                .to(amb("amb"))
                .with(ap_web("audit", "action: AUDIT, rules: [{}]"))
                .expect(MeshVerdict::Allowed, Basis::NoAllowPolicy, "20", &[]),
            case("r20_an_allow_rule_with_http_attributes_is_dropped")
                .to(amb("amb"))
                .with(ap_web("get", "rules: [{to: [{operation: {ports: [\"8080\"], paths: [/metrics]}}]}]"))
                .no_allow_match("17", &["AP/shop/get"]),
            case("r20_an_l4_allow_matches")
                .to(amb("amb"))
                .with(ap_web("l4", "rules: [{to: [{operation: {ports: [\"8080\"]}}]}]"))
                .expect(MeshVerdict::Allowed, Basis::AllowPolicy, "20", &["AP/shop/l4"]),
            case("r20_a_deny_drops_only_its_http_parts_and_matches_more")
                .to(amb("amb"))
                .with(ap_web("deny-admin", "action: DENY, rules: [{to: [{operation: {ports: [\"8080\"], paths: [/admin]}}]}]"))
                .denied_by("20", &["AP/shop/deny-admin"]),
            case("r20_a_plaintext_client_again_has_no_identity")
                .to(amb("amb"))
                .with(ap_web("from-monitoring", "rules: [{from: [{source: {namespaces: [monitoring]}}]}]"))
                .identity_required(&["AP/shop/from-monitoring"]),
            case("r20_an_ambient_enrolled_prometheus_has_an_identity_over_hbone")
                .to(amb("amb"))
                .from(PROM_AMBIENT)
                .with(ns_mode("STRICT"))
                .with(ap_web("from-monitoring", "rules: [{from: [{source: {namespaces: [monitoring-amb]}}]}]"))
                .expect(MeshVerdict::Allowed, Basis::AllowPolicy, "20", &["AP/shop/from-monitoring"])
                .mentions("HBONE"),
            case("r20_an_ambient_prometheus_scraping_a_sidecar_pod_is_uncertain")
                .from(PROM_AMBIENT)
                .allowed()
                .mentions("UNCERTAIN"),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// Rule 19: remedies, through whole intents (the plan is applied back and evaluated again).

const REMEDY_BASE: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {podMonitorSelector: {}, podMonitorNamespaceSelector: {}}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus-k8s-0, namespace: monitoring, labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k8s, prometheus: k8s}}
spec: {serviceAccountName: prometheus-k8s, containers: [{name: prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.2.9, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: web, namespace: shop}
spec: {selector: {matchLabels: {app: web}}, podMetricsEndpoints: [{port: http-metrics, path: /metrics}]}
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: web-metrics, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http-metrics, path: /metrics}]
  scraper: {kind: Prometheus, namespace: monitoring, name: k8s}
"#;

fn world(extra: &[String]) -> ClusterIndex {
    let mut docs = vec![REMEDY_BASE.to_string(), web("web-0").doc()];
    docs.extend(extra.iter().cloned());
    index_of(&docs).unwrap()
}

fn intent(idx: &ClusterIndex) -> SubjectReport {
    let r: Report = evaluate(idx, &EngineConfig::default());
    r.subjects
        .into_iter()
        .find(|s| s.kind == "ScrapeIntent" && s.name == "web-metrics")
        .unwrap()
}

fn mesh_objects(s: &SubjectReport) -> Vec<&Value> {
    s.remediation
        .iter()
        .filter(|o| {
            o["apiVersion"]
                .as_str()
                .unwrap_or("")
                .starts_with("security.istio.io")
        })
        .collect()
}

fn apply(idx: &mut ClusterIndex, objs: &[&Value]) {
    for o in objs {
        match parse_value((*o).clone()).expect("a remedy parses as its kind") {
            Parsed::Object(o) => idx.apply(o),
            other => panic!("remedy not understood: {other:?}"),
        }
    }
}

/// Rule 19a, and rule 9 as the injector does it: pilot-agent merges the app's metrics only when the
/// injector recorded an app endpoint from the pod's `prometheus.io/*` annotations.
#[test]
fn r19a_the_merged_endpoint_is_offered_as_it_is_only_where_the_agent_merges_that_endpoint() {
    let message = |pod: PodSpec| {
        let idx = index_of(&[REMEDY_BASE.to_string(), pod.doc(), ns_mode("STRICT")]).unwrap();
        intent(&idx)
            .condition("MeshAuthorized")
            .unwrap()
            .message
            .clone()
    };
    // Without annotations nothing is recorded, so nothing of the app is merged: annotate the template.
    let m = message(web("web-0"));
    assert!(!m.contains("already merges"), "{m}");
    for needle in [
        "(a) no Istio change: annotate the pod template with prometheus.io/port: \"8080\" and prometheus.io/path: /metrics",
        "today it merges no app metrics: the pod has no prometheus.io/scrape, /path or /port annotation",
    ] {
        assert!(m.contains(needle), "missing {needle:?}: {m}");
    }
    // A live pod rewritten by the injector, with the app endpoint it recorded: scrape the merged one.
    let m = message(
        web("web-0")
            .ann("prometheus.io/port", "15020")
            .ann("prometheus.io/path", "/stats/prometheus")
            .env(
                "ISTIO_PROMETHEUS_ANNOTATIONS",
                "{\"scrape\":\"true\",\"path\":\"/metrics\",\"port\":\"8080\"}",
            ),
    );
    assert!(
        m.contains("(a) no Istio change: pilot-agent already merges :8080/metrics into :15020/stats/prometheus"),
        "{m}"
    );
    // Recorded, but another endpoint: annotate, saying what is merged today.
    let m = message(web("web-0").ann("prometheus.io/port", "9100"));
    assert!(!m.contains("already merges"), "{m}");
    assert!(
        m.contains("today it merges :9100/metrics: the pod's prometheus.io annotations"),
        "{m}"
    );
}

#[test]
fn r19c_an_allow_is_proposed_only_where_allow_policies_already_apply() {
    let from_monitoring = ap_web(
        "from-monitoring",
        "rules: [{from: [{source: {namespaces: [monitoring]}}]}]",
    );
    let mut idx = world(std::slice::from_ref(&from_monitoring));
    let s = intent(&idx);
    let c = s.condition("MeshAuthorized").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "SourceIdentityRequired"),
        "{}",
        c.message
    );
    assert!(c.message.contains("no identity to name"), "{}", c.message);
    assert!(
        c.message.contains("(a) no Istio change"),
        "rule 19a first: {}",
        c.message
    );
    assert!(
        c.message.find("(a)") < c.message.find("(c)"),
        "{}",
        c.message
    );
    assert_eq!(
        s.condition("Ready").unwrap().reason,
        "SourceIdentityRequired"
    );
    let objs = mesh_objects(&s);
    assert_eq!(objs.len(), 1, "{:?}", s.remediation);
    let p = objs[0];
    assert_eq!(p["kind"], "AuthorizationPolicy");
    assert_eq!(p["metadata"]["name"], "scrapepath-web-metrics");
    assert_eq!(p["metadata"]["namespace"], "shop");
    assert_eq!(
        p["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "scrapepath"
    );
    assert_eq!(
        p["metadata"]["labels"]["scrapepath.io/intent"],
        "web-metrics"
    );
    assert_eq!(p["spec"]["action"], "ALLOW");
    assert_eq!(
        p["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(
        p["spec"]["rules"],
        json!([{"to": [{"operation": {"ports": ["8080"], "methods": ["GET"], "paths": ["/metrics"]}}]}]),
        "port- and path-scoped, GET only, no source"
    );
    // Applied, it opens exactly the scrape: the decision names it, and the remedy is still needed.
    apply(&mut idx, &objs);
    let after = intent(&idx);
    let c = after.condition("MeshAuthorized").unwrap();
    assert_eq!(c.status, "True", "{}", c.message);
    assert_eq!(
        after.targets[0].mesh.decided_by[0].name,
        "scrapepath-web-metrics"
    );
    assert_eq!(
        mesh_objects(&after).len(),
        1,
        "need is judged without scrapepath's objects"
    );
    let dest = ("shop", "web-0");
    let cfg = EngineConfig::default();
    let v = |port: u16, path: &str| {
        mesh_verdict(
            &idx,
            &cfg,
            dest,
            ("monitoring", "prometheus-k8s-0"),
            port,
            path,
            false,
        )
        .unwrap()
        .verdict
    };
    assert_eq!(v(8080, "/metrics"), MeshVerdict::Allowed);
    assert_eq!(
        v(8080, "/admin"),
        MeshVerdict::Denied,
        "only the scrape path"
    );
    assert_eq!(
        v(9090, "/metrics"),
        MeshVerdict::Denied,
        "only the scrape port"
    );
    // Once the user's own policy admits the scrape, the managed one is no longer needed.
    let fixed = ap_web(
        "from-monitoring",
        "rules: [{to: [{operation: {ports: [\"8080\"]}}]}]",
    );
    let fixed: Value = serde_yaml_ng::from_str(&fixed).unwrap();
    apply(&mut idx, &[&fixed]);
    assert!(mesh_objects(&intent(&idx)).is_empty());
}

#[test]
fn r19c_the_first_allow_is_never_added() {
    // A DENY-only or no-policy workload: nothing to open, nothing proposed.
    for extra in [
        vec![],
        vec![ap_web(
            "deny-admin",
            "action: DENY, rules: [{to: [{operation: {paths: [/admin]}}]}]",
        )],
    ] {
        let s = intent(&world(&extra));
        assert_eq!(s.condition("MeshAuthorized").unwrap().status, "True");
        assert!(mesh_objects(&s).is_empty());
    }
    // An ALLOW selecting only the scraped pod, while the intent's selector also takes a pod no ALLOW
    // applies to: a policy over both would be that pod's first ALLOW.
    let extra = vec![
        web("web-canary").label("track", "canary").doc(),
        ap("stable-only", "shop", "{selector: {matchLabels: {app: web, track: stable}}, rules: [{from: [{source: {namespaces: [monitoring]}}]}]}"),
    ];
    let mut idx = world(&extra);
    // Label web-0 stable, so that only it is under the ALLOW.
    let stable: Value = serde_json::from_str(&web("web-0").label("track", "stable").doc()).unwrap();
    apply(&mut idx, &[&stable]);
    let s = intent(&idx);
    let c = s.condition("MeshAuthorized").unwrap();
    assert_eq!(c.reason, "SourceIdentityRequired", "{}", c.message);
    assert!(mesh_objects(&s).is_empty(), "{:?}", s.remediation);
    assert!(c.message.contains("first ALLOW"), "{}", c.message);
}

#[test]
fn r19c_a_tcp_port_gets_an_l4_rule() {
    let mut idx = world(&[
        ap_web("from-monitoring", "rules: [{from: [{source: {namespaces: [monitoring]}}]}]"),
        "apiVersion: scrapepath.io/v1alpha1\nkind: ScrapeIntent\nmetadata: {name: web-metrics, namespace: shop}\nspec: {selector: {matchLabels: {app: web}}, endpoints: [{port: 9000, path: /metrics}], scraper: {kind: Prometheus, namespace: monitoring, name: k8s}}".to_string(),
    ]);
    let s = intent(&idx);
    let objs = mesh_objects(&s);
    assert_eq!(
        objs[0]["spec"]["rules"],
        json!([{"to": [{"operation": {"ports": ["9000"]}}]}])
    );
    apply(&mut idx, &objs);
    assert_eq!(
        intent(&idx).condition("MeshAuthorized").unwrap().status,
        "True"
    );
}

#[test]
fn r19b_r19e_strict_mtls_is_reported_with_both_fixes_and_never_weakened() {
    let s = intent(&world(&[ns_mode("STRICT")]));
    let c = s.condition("MeshAuthorized").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "StrictMTLS")
    );
    assert!(
        mesh_objects(&s).is_empty(),
        "report-only: {:?}",
        s.remediation
    );
    for needle in [
        "(a) no Istio change",
        "(b) add a PeerAuthentication in namespace shop with selector.matchLabels {app: web}, mtls.mode: UNSET and portLevelMtls {8080: {mode: PERMISSIVE}}",
        "(e) give Prometheus Istio certificates",
        "OUTPUT_CERTS",
        "principals [\"cluster.local/ns/monitoring/sa/prometheus-k8s\"]",
        "(f) last resort: traffic.sidecar.istio.io/excludeInboundPorts: \"8080\"",
    ] {
        assert!(c.message.contains(needle), "missing {needle:?}: {}", c.message);
    }
    assert!(c.message.find("(b)") < c.message.find("(e)"));
    assert_eq!(s.blocked_by[0].0.name, "default");
    // An existing workload policy is the one to edit (only the oldest counts).
    let s = intent(&world(&[workload_pa("web-mtls", "mtls: {mode: STRICT}")]));
    let c = s.condition("MeshAuthorized").unwrap();
    assert!(
        c.message
            .contains("(b) edit PeerAuthentication shop/web-mtls"),
        "{}",
        c.message
    );
}

#[test]
fn r19d_a_matching_deny_is_reported_with_the_narrowing() {
    let s = intent(&world(&[ap_web(
        "require-mtls",
        "action: DENY, rules: [{from: [{source: {notPrincipals: [\"*\"]}}]}]",
    )]));
    let c = s.condition("MeshAuthorized").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "DeniedByPolicy")
    );
    assert!(
        c.message
            .contains("(d) narrow AuthorizationPolicy shop/require-mtls rules[0]")
            && c.message.contains("notPorts: [\"8080\"]"),
        "{}",
        c.message
    );
    assert!(mesh_objects(&s).is_empty());
}

#[test]
fn an_external_authorizer_makes_the_condition_unknown() {
    let s = intent(&world(&[ap_web(
        "ext",
        "action: CUSTOM, provider: {name: ext-authz}, rules: [{}]",
    )]));
    let c = s.condition("MeshAuthorized").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("Unknown", "ExternalAuthorizer")
    );
    assert_eq!(s.targets[0].mesh.verdict, "Unknown");
    assert!(!s.ready);
}

#[test]
fn an_invalid_mesh_policy_is_reported() {
    let s = intent(&world(&[ap_web("broken", "action: PERMIT")]));
    let c = s.condition("MeshAuthorized").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "InvalidPolicy")
    );
    assert!(
        c.message.contains("AuthorizationPolicy shop/broken") && c.message.contains("PERMIT"),
        "{}",
        c.message
    );
}

#[test]
fn targets_outside_the_mesh_read_not_applicable() {
    let mut docs = vec![REMEDY_BASE.to_string(), web("web-0").plain().doc()];
    docs.push(ns_mode("STRICT"));
    let s = intent(&index_of(&docs).unwrap());
    let c = s.condition("MeshAuthorized").unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "NotApplicable")
    );
    assert!(c.message.contains("outside the mesh"), "{}", c.message);
    assert_eq!(s.targets[0].mesh.verdict, "NotApplicable");
}

#[test]
fn r19c_a_managed_allow_that_alone_applies_is_no_longer_needed() {
    // Left over from an earlier plan: scrapepath's own ALLOW is the only one on the workload. Judged without
    // it nothing blocks the scrape, so no remedy is needed (and the controller removes it).
    let managed = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: scrapepath-web-metrics, namespace: shop, labels: {app.kubernetes.io/managed-by: scrapepath, scrapepath.io/intent: web-metrics}}\nspec: {selector: {matchLabels: {app: web}}, rules: [{to: [{operation: {ports: [\"8080\"], methods: [GET], paths: [/metrics]}}]}]}\n";
    let s = intent(&world(&[managed.to_string()]));
    assert_eq!(s.targets[0].mesh.verdict, "Allowed");
    assert_eq!(
        s.targets[0].mesh.decided_by[0].name,
        "scrapepath-web-metrics"
    );
    assert!(mesh_objects(&s).is_empty(), "{:?}", s.remediation);
}

#[test]
fn r19c_an_audited_monitor_gets_the_same_allow_under_its_own_name() {
    let idx = world(&[ap_web(
        "from-monitoring",
        "rules: [{from: [{source: {namespaces: [monitoring]}}]}]",
    )]);
    let r = evaluate(&idx, &EngineConfig::default());
    let pm = r
        .subjects
        .iter()
        .find(|s| s.kind == "PodMonitor" && s.name == "web")
        .unwrap();
    assert_eq!(
        pm.condition("MeshAuthorized").unwrap().reason,
        "SourceIdentityRequired"
    );
    let objs = mesh_objects(pm);
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["metadata"]["name"], "scrapepath-shop-web");
    assert!(objs[0]["metadata"]["labels"]
        .get("scrapepath.io/intent")
        .is_none());
    assert_eq!(
        objs[0]["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
}
