//! The engine's scrape_configs layer (issue 6), as truth tables over small worlds: where a scraper's
//! configuration lives (`--config.file` volumes, `additionalScrapeConfigs`, gzip), what an
//! Annotations intent is told (annotation missing, port annotation wrong, job absent, unreadable
//! configuration), and a job's targets through the network layer with the remedy.

use std::io::Write as _;
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use scrapepath::engine::{evaluate, EngineConfig, SubjectReport};
use scrapepath::index::{ClusterIndex, Object};
use scrapepath::load::{parse_text, LoadStats};
use scrapepath::model::Kind;
use scrapepath::parse::{parse_value, Parsed};

fn objects(yaml: &str) -> Vec<Object> {
    let mut stats = LoadStats::default();
    parse_text(Path::new("t.yaml"), yaml, &mut stats).expect("fixtures parse")
}

fn world(yaml: &str) -> ClusterIndex {
    let mut idx = ClusterIndex::new();
    for o in objects(yaml) {
        idx.apply(o);
    }
    idx
}

fn subject<'r>(subjects: &'r [SubjectReport], kind: &str, name: &str) -> &'r SubjectReport {
    subjects
        .iter()
        .find(|s| s.kind == kind && s.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} {name} among {:?}",
                subjects.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
}

fn cond(s: &SubjectReport, t: &str) -> (String, String, String) {
    let c = s.condition(t).unwrap_or_else(|| panic!("no {t}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// The kubernetes-pods job of the Prometheus documentation's Kubernetes example, restricted to `ns`.
fn pods_job(ns: &str) -> String {
    format!(
        r#"scrape_configs:
- job_name: kubernetes-pods
  kubernetes_sd_configs:
  - role: pod
    namespaces: {{names: [{ns}]}}
  relabel_configs:
  - {{action: keep, source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: true}}
  - {{action: replace, source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], target_label: __metrics_path__, regex: (.+)}}
  - action: replace
    source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
    regex: ([^:]+)(?::\d+)?;(\d+)
    replacement: $1:$2
    target_label: __address__
"#
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// A plain Prometheus in `mon` reading ConfigMap `prometheus` key `prometheus.yml`.
fn scraper(config: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: prometheus, namespace: mon}}
data:
  prometheus.yml: |
{}---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-7d9f8c6b5-x2v4q
  namespace: mon
  labels: {{app: prometheus, pod-template-hash: 7d9f8c6b5}}
  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: prometheus-7d9f8c6b5, uid: u1, controller: true}}]
spec:
  containers:
  - name: prometheus
    image: prom/prometheus:v3.5.0
    args: [--config.file=/etc/prometheus/prometheus.yml]
    volumeMounts: [{{name: cfg, mountPath: /etc/prometheus}}]
  volumes: [{{name: cfg, configMap: {{name: prometheus}}}}]
status: {{phase: Running, podIP: 10.0.9.1, conditions: [{{type: Ready, status: "True"}}]}}
"#,
        indent(config)
    )
}

/// Pod `web-0` of Deployment `web` in `app`, port `metrics` 9100, with `annotations`.
fn web_pod(annotations: &str) -> String {
    format!(
        r#"
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5c7b9d8f6-abcde
  namespace: app
  labels: {{app: web, pod-template-hash: 5c7b9d8f6}}
  annotations: {{{annotations}}}
  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: web-5c7b9d8f6, uid: u2, controller: true}}]
spec:
  containers: [{{name: web, image: web, ports: [{{name: metrics, containerPort: 9100}}]}}]
status: {{phase: Running, podIP: 10.0.1.5, conditions: [{{type: Ready, status: "True"}}]}}
"#
    )
}

const INTENT: &str = r#"
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: web, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: metrics, path: /metrics}]
  scraper: {kind: Pods, namespace: mon, podSelector: {matchLabels: {app: prometheus}}}
  monitor: {kind: Annotations}
"#;

fn monitor_selected(yaml: &str) -> (String, String, String) {
    let r = evaluate(&world(yaml), &EngineConfig::default());
    cond(
        subject(&r.subjects, "ScrapeIntent", "web"),
        "MonitorSelected",
    )
}

#[test]
fn monitor_selected_of_an_annotations_intent_says_what_the_pod_template_needs() {
    struct Case {
        name: &'static str,
        config: String,
        annotations: &'static str,
        want: (&'static str, &'static str),
        /// Text the message must contain.
        says: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "annotated pods are scraped by the kubernetes-pods job",
            config: pods_job("app"),
            annotations: r#"prometheus.io/scrape: "true", prometheus.io/port: "9100""#,
            want: ("True", "Selected"),
            says: &["job kubernetes-pods in ConfigMap mon/prometheus key prometheus.yml"],
        },
        Case {
            name: "without a port annotation every declared port is a target",
            config: pods_job("app"),
            annotations: r#"prometheus.io/scrape: "true""#,
            want: ("True", "Selected"),
            says: &[],
        },
        Case {
            name: "a missing scrape annotation is named with the deployment to annotate",
            config: pods_job("app"),
            annotations: "",
            want: ("False", "AnnotationMissing"),
            says: &[
                "the pod has no annotation prometheus.io/scrape",
                "relabel_configs[0]",
                r#"add to Deployment app/web spec.template.metadata.annotations: prometheus.io/port: "9100", prometheus.io/scrape: "true""#,
            ],
        },
        Case {
            name: "a scrape annotation the keep regex refuses is a mismatch",
            config: pods_job("app"),
            annotations: r#"prometheus.io/scrape: "yes""#,
            want: ("False", "AnnotationMismatch"),
            says: &[r#"the pod has prometheus.io/scrape: "yes", which "true" does not match"#],
        },
        Case {
            name: "a port annotation naming another port is a mismatch with the port to set",
            config: pods_job("app"),
            annotations: r#"prometheus.io/scrape: "true", prometheus.io/port: "8080""#,
            want: ("False", "AnnotationMismatch"),
            says: &[
                "it scrapes 10.0.1.5:8080/metrics instead: its annotation prometheus.io/port is \"8080\"",
                r#"prometheus.io/port: "9100""#,
            ],
        },
        Case {
            name: "a path annotation naming another path is a mismatch",
            config: pods_job("app"),
            annotations: r#"prometheus.io/scrape: "true", prometheus.io/path: /stats"#,
            want: ("False", "AnnotationMismatch"),
            says: &[r#"prometheus.io/path: "/metrics""#],
        },
        Case {
            name: "no job discovering the namespace is a missing job",
            config: pods_job("other"),
            annotations: r#"prometheus.io/scrape: "true""#,
            want: ("False", "JobMissing"),
            says: &["no job in ConfigMap mon/prometheus key prometheus.yml discovers these pods (job kubernetes-pods: role pod in namespaces other)"],
        },
        Case {
            name: "a configuration without pod discovery is a missing job",
            config: "scrape_configs:\n- job_name: static\n  static_configs: [{targets: ['a:1']}]\n".into(),
            annotations: r#"prometheus.io/scrape: "true""#,
            want: ("False", "JobMissing"),
            says: &["no job in ConfigMap mon/prometheus key prometheus.yml discovers pods"],
        },
        Case {
            name: "a configuration Prometheus refuses names the job and the field",
            config: "scrape_configs:\n- job_name: broken\n  kubernetes_sd_configs: [{role: pods}]\n".into(),
            annotations: "",
            want: ("False", "ConfigUnreadable"),
            says: &[r#"ConfigMap mon/prometheus key prometheus.yml: job "broken": scrape_configs[0].kubernetes_sd_configs[0].role: unknown Kubernetes SD role "pods""#],
        },
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let got = monitor_selected(&format!(
            "{}{}{INTENT}",
            scraper(&c.config),
            web_pod(c.annotations)
        ));
        let ok =
            (got.0.as_str(), got.1.as_str()) == c.want && c.says.iter().all(|s| got.2.contains(s));
        if !ok {
            failures.push(format!("{}: got {got:?}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_service_annotation_is_asked_of_the_service_for_an_endpoints_job() {
    let config = r#"scrape_configs:
- job_name: kubernetes-service-endpoints
  kubernetes_sd_configs: [{role: endpoints}]
  relabel_configs:
  - {action: keep, source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scrape], regex: true}
"#;
    let svc = r#"
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  selector: {app: web}
  ports: [{name: metrics, port: 9100, targetPort: metrics}]
"#;
    let (status, reason, message) =
        monitor_selected(&format!("{}{}{svc}{INTENT}", scraper(config), web_pod("")));
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "AnnotationMissing")
    );
    assert!(
        message.contains(
            r#"add to Service app/web metadata.annotations: prometheus.io/scrape: "true""#
        ),
        "{message}"
    );
}

#[test]
fn missing_objects_and_keys_are_named() {
    let pod = scraper(&pods_job("app"));
    let pod_only = pod.split("---").nth(1).unwrap();
    let (_, reason, message) = monitor_selected(&format!("{pod_only}{}{INTENT}", web_pod("")));
    assert_eq!(reason, "ConfigUnreadable");
    assert!(
        message.contains(
            "ConfigMap mon/prometheus does not exist, or holds no Prometheus configuration"
        ),
        "{message}"
    );
    let other_key = pod.replace("  prometheus.yml: |", "  other.yml: |");
    let (_, reason, message) = monitor_selected(&format!("{other_key}{}{INTENT}", web_pod("")));
    assert_eq!(reason, "ConfigUnreadable");
    assert!(
        message.contains("ConfigMap mon/prometheus has no key prometheus.yml holding a Prometheus configuration (it has other.yml)"),
        "{message}"
    );
    // The audit names the scraper whose configuration is unreadable.
    let r = evaluate(
        &world(&format!("{other_key}{}", web_pod(""))),
        &EngineConfig::default(),
    );
    let s = subject(&r.subjects, "ScrapeJob", "prometheus/*");
    assert_eq!(cond(s, "MonitorSelected").1, "ConfigUnreadable");
    assert!(!s.ready);
}

#[test]
fn the_config_file_resolves_through_mounts_subpaths_items_and_secrets() {
    let pod = |container: &str, volumes: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: mon}}\nspec:\n  containers: [{container}]\n  volumes: [{volumes}]\n"
        )
    };
    let resolved = |yaml: String| -> Option<Result<String, String>> {
        let objs = objects(&yaml);
        let Object::Pod(p) = &objs[0] else {
            panic!("not a pod")
        };
        p.prometheus_config.as_ref().map(|c| {
            c.source
                .as_ref()
                .map(|k| k.to_string())
                .map_err(Clone::clone)
        })
    };
    type Case = (
        &'static str,
        String,
        Option<Result<&'static str, &'static str>>,
    );
    let cases: Vec<Case> = vec![
        (
            "a whole ConfigMap mounted at the file's directory",
            pod(
                "{name: prometheus, image: prom/prometheus, args: [--config.file=/etc/prometheus/prometheus.yaml], volumeMounts: [{name: c, mountPath: /etc/prometheus}]}",
                "{name: c, configMap: {name: prom}}",
            ),
            Some(Ok("ConfigMap mon/prom key prometheus.yaml")),
        ),
        (
            "the image default path when no flag is given",
            pod(
                "{name: prometheus, image: quay.io/prometheus/prometheus:v3.5.0, volumeMounts: [{name: c, mountPath: /etc/prometheus/}]}",
                "{name: c, configMap: {name: prom}}",
            ),
            Some(Ok("ConfigMap mon/prom key prometheus.yml")),
        ),
        (
            "a subPath mount is the key",
            pod(
                "{name: server, image: example/prom-build, command: [/bin/prometheus], args: ['--config.file', /config/prometheus.yml], volumeMounts: [{name: c, mountPath: /config/prometheus.yml, subPath: main.yml}]}",
                "{name: c, configMap: {name: prom}}",
            ),
            Some(Ok("ConfigMap mon/prom key main.yml")),
        ),
        (
            "items map a path back to its key",
            pod(
                "{name: prometheus, image: prom/prometheus, args: [--config.file=/etc/cfg/conf/p.yml], volumeMounts: [{name: c, mountPath: /etc/cfg}]}",
                "{name: c, configMap: {name: prom, items: [{key: prometheus.yml, path: conf/p.yml}]}}",
            ),
            Some(Ok("ConfigMap mon/prom key prometheus.yml")),
        ),
        (
            "a Secret volume",
            pod(
                "{name: prometheus, image: prom/prometheus, args: [--config.file=/etc/prometheus/prometheus.yml], volumeMounts: [{name: s, mountPath: /etc/prometheus}]}",
                "{name: s, secret: {secretName: prom-config}}",
            ),
            Some(Ok("Secret mon/prom-config key prometheus.yml")),
        ),
        (
            "the deepest mount decides",
            pod(
                "{name: prometheus, image: prom/prometheus, args: [--config.file=/etc/prometheus/config/prometheus.yml], volumeMounts: [{name: a, mountPath: /etc/prometheus}, {name: b, mountPath: /etc/prometheus/config}]}",
                "{name: a, configMap: {name: outer}}, {name: b, configMap: {name: inner}}",
            ),
            Some(Ok("ConfigMap mon/inner key prometheus.yml")),
        ),
        (
            "prometheus-operator's emptyDir is no ConfigMap",
            pod(
                "{name: prometheus, image: quay.io/prometheus/prometheus, args: [--config.file=/etc/prometheus/config_out/prometheus.env.yaml], volumeMounts: [{name: out, mountPath: /etc/prometheus/config_out}]}",
                "{name: out, emptyDir: {}}",
            ),
            Some(Err("container prometheus reads --config.file=/etc/prometheus/config_out/prometheus.env.yaml from volume out, which is neither a ConfigMap nor a Secret")),
        ),
        (
            "no volume at the path",
            pod(
                "{name: prometheus, image: prom/prometheus, args: [--config.file=/data/prometheus.yml]}",
                "",
            ),
            Some(Err("container prometheus reads --config.file=/data/prometheus.yml, but no volume is mounted there")),
        ),
        (
            "items that do not project the path",
            pod(
                "{name: prometheus, image: prom/prometheus, args: [--config.file=/etc/cfg/p.yml], volumeMounts: [{name: c, mountPath: /etc/cfg}]}",
                "{name: c, configMap: {name: prom, items: [{key: other, path: other.yml}]}}",
            ),
            Some(Err("volume c projects no key of ConfigMap prom to p.yml (its items list other paths)")),
        ),
        (
            "Alertmanager takes --config.file too, and is no scraper",
            pod(
                "{name: alertmanager, image: quay.io/prometheus/alertmanager, args: [--config.file=/etc/alertmanager/config.yml], volumeMounts: [{name: c, mountPath: /etc/alertmanager}]}",
                "{name: c, secret: {secretName: am}}",
            ),
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (name, yaml, want) in cases {
        let got = resolved(yaml);
        let want = want.map(|w| w.map(str::to_string).map_err(str::to_string));
        if got != want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A Secret value as the API server serves it (base64 of the bytes), parsed as the index reads it.
fn secret(name: &str, key: &str, bytes: Vec<u8>) -> Object {
    let s = Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("monitoring".into()),
            ..Default::default()
        },
        data: Some([(key.to_string(), ByteString(bytes))].into()),
        ..Default::default()
    };
    let mut v = serde_json::to_value(&s).unwrap();
    v["apiVersion"] = "v1".into();
    v["kind"] = "Secret".into();
    match parse_value(v).unwrap() {
        Parsed::Object(o) => o,
        other => panic!("the Secret was not kept: {other:?}"),
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_prometheus_objects_additional_scrape_configs_are_read_gzipped_or_not() {
    let jobs = "- job_name: kubernetes-pods\n  kubernetes_sd_configs: [{role: pod}]\n  relabel_configs:\n  - {action: keep, source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: true}\n";
    let base = format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: monitoring}}
spec:
  podMonitorSelector: {{}}
  additionalScrapeConfigs: {{name: extra, key: jobs.yaml}}
status: {{availableReplicas: 1}}
{}---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: web, namespace: app}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  endpoints: [{{port: metrics}}]
  scraper: {{kind: Prometheus, namespace: monitoring, name: k8s}}
  monitor: {{kind: Annotations}}
"#,
        web_pod(r#"prometheus.io/scrape: "true""#)
    );
    for (what, bytes) in [("plain", jobs.as_bytes().to_vec()), ("gzip", gzip(jobs))] {
        let mut idx = world(&base);
        idx.apply(secret("extra", "jobs.yaml", bytes));
        let r = evaluate(&idx, &EngineConfig::default());
        let (status, _, message) = cond(
            subject(&r.subjects, "ScrapeIntent", "web"),
            "MonitorSelected",
        );
        assert_eq!(status, "True", "{what}: {message}");
        assert!(
            message.contains("Secret monitoring/extra key jobs.yaml of Prometheus monitoring/k8s"),
            "{what}: {message}"
        );
        let job = subject(&r.subjects, "ScrapeJob", "k8s/kubernetes-pods");
        assert_eq!(job.targets[0].address.as_deref(), Some("10.0.1.5:9100"));
    }
    // A gzip value that does not decompress is named, not ignored.
    let mut idx = world(&base);
    idx.apply(secret("extra", "jobs.yaml", vec![0x1f, 0x8b, 0, 1, 2]));
    let r = evaluate(&idx, &EngineConfig::default());
    let (_, reason, message) = cond(
        subject(&r.subjects, "ScrapeIntent", "web"),
        "MonitorSelected",
    );
    assert_eq!(reason, "ConfigUnreadable");
    assert!(
        message.contains(
            "Secret monitoring/extra key jobs.yaml: the value is gzip, but does not decompress"
        ),
        "{message}"
    );
    // Secrets that hold no configuration are not kept at all.
    let v = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "monitoring"}, "data": {"tls.key": "c2VjcmV0"}});
    assert!(matches!(parse_value(v).unwrap(), Parsed::Irrelevant(_)));
}

#[test]
fn a_job_target_blocked_by_policy_is_reported_with_the_least_privilege_fix() {
    let cnp = r#"
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-isolation, namespace: app}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{}]}]
"#;
    let idx = world(&format!(
        "{}{}{cnp}",
        scraper(&pods_job("app")),
        web_pod(r#"prometheus.io/scrape: "true", prometheus.io/port: "9100""#)
    ));
    let r = evaluate(&idx, &EngineConfig::default());
    let job = subject(&r.subjects, "ScrapeJob", "prometheus/kubernetes-pods");
    assert_eq!(job.namespace, "mon");
    assert_eq!(job.scrapers[0].kind, Kind::Deployment.as_str());
    let (status, reason, message) = cond(job, "NetworkReachable");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "BlockedByPolicy")
    );
    assert!(message.contains("app/web-isolation"), "{message}");
    assert_eq!(job.targets[0].network.verdict, "Denied");
    let fix = &job.remediation[0];
    assert_eq!(fix["kind"], "CiliumNetworkPolicy");
    assert_eq!(
        fix["metadata"]["name"],
        "scrapepath-mon-prometheus-kubernetes-pods"
    );
    assert_eq!(fix["metadata"]["namespace"], "app");
    let rule = &fix["spec"]["ingress"][0];
    assert_eq!(
        rule["toPorts"][0]["ports"][0],
        serde_json::json!({"port": "9100", "protocol": "TCP"})
    );
    assert_eq!(
        rule["fromEndpoints"][0]["matchLabels"]["k8s:io.kubernetes.pod.namespace"],
        "mon"
    );
}

/// A ClusterRole that lists and watches pods, bound to `mon/default` (the plain Prometheus' account)
/// by a RoleBinding in `ns` only.
fn pod_reader_bound_in(ns: &str) -> String {
    format!(
        r#"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: pod-reader}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [list, watch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: prometheus, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}}
subjects: [{{kind: ServiceAccount, name: default, namespace: mon}}]
"#
    )
}

#[test]
fn a_jobs_discovery_is_authorized_as_the_scraper_pods_service_account() {
    // The plain Prometheus runs as mon/default (no serviceAccountName); a ClusterRole that reads pods,
    // bound by a RoleBinding in mon only.
    let rbac = pod_reader_bound_in("mon");
    let pod = web_pod(r#"prometheus.io/scrape: "true", prometheus.io/port: "9100""#);
    let jobs = |ns: &str| {
        let r = evaluate(
            &world(&format!("{}{pod}{rbac}", scraper(&pods_job(ns)))),
            &EngineConfig::default(),
        );
        let job = subject(&r.subjects, "ScrapeJob", "prometheus/kubernetes-pods").clone();
        job
    };
    // The Annotations intent for those pods is told the same, with the commands that grant it.
    let r = evaluate(
        &world(&format!("{}{pod}{rbac}{INTENT}", scraper(&pods_job("app")))),
        &EngineConfig::default(),
    );
    let intent = subject(&r.subjects, "ScrapeIntent", "web");
    assert_eq!(cond(intent, "MonitorSelected").0, "True");
    let (status, _, message) = cond(intent, "DiscoveryPermitted");
    assert_eq!(status, "False", "{message}");
    assert!(
        message.contains("kubectl -n app create role default-discovery --verb=list,watch --resource=pods && kubectl -n app create rolebinding default-discovery --role=default-discovery --serviceaccount=mon:default"),
        "{message}"
    );
    assert_eq!(cond(intent, "Ready").1, "DiscoveryForbidden");
    let job = jobs("app");
    let (status, reason, message) = cond(&job, "DiscoveryPermitted");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "DiscoveryForbidden")
    );
    assert!(
        message.contains("ServiceAccount mon/default cannot list, watch pods in namespace app (the pod discovery of"),
        "{message}"
    );
    // The grant comes after the network fixes, and is a Role and RoleBinding in app.
    let kinds: Vec<&str> = job
        .remediation
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Role", "RoleBinding"]);
    assert!(!job.ready);
    // In its own namespace the RoleBinding to the ClusterRole is enough.
    let (status, _, message) = cond(&jobs("mon"), "DiscoveryPermitted");
    assert_eq!(status, "True", "{message}");
    assert!(
        message.contains("RoleBinding mon/prometheus → ClusterRole pod-reader"),
        "{message}"
    );
}

/// `attach_metadata.namespace` runs a cluster-wide Namespace informer beside the role's: a
/// RoleBinding that grants the pods of `app` is not enough, and the missing grant is a ClusterRole
/// and ClusterRoleBinding of its own on `namespaces`. The job's rule keeps the pods by their
/// Namespace's label, so the target is there only when the label is attached.
#[test]
fn namespace_metadata_needs_a_cluster_wide_namespace_list_and_its_labels_reach_the_rules() {
    let job = r#"scrape_configs:
- job_name: team-pods
  kubernetes_sd_configs:
  - role: pod
    namespaces: {names: [app]}
    attach_metadata: {namespace: true}
  relabel_configs:
  - {action: keep, source_labels: [__meta_kubernetes_namespace_label_team, __meta_kubernetes_namespace_annotationpresent_owner], regex: shop;true}
"#;
    let pods_in_app = pod_reader_bound_in("app");
    let namespace_reader = r#"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: namespace-reader}
rules: [{apiGroups: [""], resources: [namespaces], verbs: [list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-namespaces}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: namespace-reader}
subjects: [{kind: ServiceAccount, name: default, namespace: mon}]
"#;
    let pod = web_pod("");
    let shop = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {team: shop}, annotations: {owner: shop-sre@example.com}}\n";
    let run = |extra: &str| {
        let r = evaluate(
            &world(&format!("{}{pod}{pods_in_app}{extra}", scraper(job))),
            &EngineConfig::default(),
        );
        subject(&r.subjects, "ScrapeJob", "prometheus/team-pods").clone()
    };
    let job = run(shop);
    let (status, reason, message) = cond(&job, "DiscoveryPermitted");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "DiscoveryForbidden"),
        "{message}"
    );
    assert!(
        message.contains("ServiceAccount mon/default cannot list, watch namespaces across all namespaces (a cluster-wide list: only a ClusterRoleBinding grants it) (the namespace metadata discovery of"),
        "{message}"
    );
    assert!(
        !message.contains("cannot list, watch pods"),
        "the pods of app are granted: {message}"
    );
    let fix: Vec<(&str, &str)> = job
        .remediation
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fix,
        [
            ("ClusterRole", "mon-default-namespaces-discovery"),
            ("ClusterRoleBinding", "mon-default-namespaces-discovery")
        ]
    );
    assert_eq!(
        job.remediation[0]["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}])
    );
    // The pod is kept by its Namespace's label and annotation.
    let (status, _, message) = cond(&job, "TargetsResolved");
    assert_eq!(status, "True", "{message}");
    let job = run(&format!("{shop}{namespace_reader}"));
    let (status, _, message) = cond(&job, "DiscoveryPermitted");
    assert_eq!(status, "True", "{message}");
    assert!(
        message.contains("ClusterRoleBinding prometheus-namespaces → ClusterRole namespace-reader"),
        "{message}"
    );
    // Another team's Namespace: the rule keeps nothing.
    let job = run(&format!(
        "{namespace_reader}---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: app, labels: {{team: web}}, annotations: {{owner: web@example.com}}}}\n"
    ));
    let (status, reason, message) = cond(&job, "TargetsResolved");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "NoTargets"),
        "{message}"
    );
}

#[test]
fn nothing_is_audited_when_no_scraper_reads_a_configuration() {
    // A Prometheus pod whose ConfigMap is absent, and no Prometheus object with additional jobs: no
    // configuration in the index, so the layer does not run (and adds no subject).
    let pod = scraper(&pods_job("app"));
    let pod_only = pod.split("---").nth(1).unwrap();
    let idx = world(&format!("{pod_only}{}", web_pod("")));
    assert!(!idx.has_scrape_configs());
    assert!(evaluate(&idx, &EngineConfig::default()).subjects.is_empty());
}

/// A job's targets at IP addresses no pod has (a node's, the API server's, an external exporter's)
/// are evaluated as the scraper's egress toward them (E8), like a ServiceMonitor's; hostnames are
/// counted, not judged.
#[test]
fn a_jobs_targets_at_addresses_no_pod_has_get_the_scrapers_egress_verdict() {
    let config = r#"scrape_configs:
- job_name: nodes
  static_configs: [{targets: ["192.168.0.11:9100", "192.168.0.12:9100"]}]
- job_name: external
  static_configs: [{targets: ["203.0.113.7:9187", "db.example.internal:9187", "127.0.0.1:9187"]}]
- job_name: self
  static_configs: [{targets: ["localhost:9090", "127.0.0.1:9090", "[::1]:9090"]}]
- job_name: apiserver
  scheme: https
  kubernetes_sd_configs: [{role: endpointslice, namespaces: {names: [default]}}]
  relabel_configs:
  - {action: keep, source_labels: [__meta_kubernetes_service_name], regex: kubernetes}
"#;
    let rest = r#"
---
apiVersion: v1
kind: Node
metadata: {name: w-1}
status: {addresses: [{type: InternalIP, address: 192.168.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: w-2}
status: {addresses: [{type: InternalIP, address: 192.168.0.12}]}
---
apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {ports: [{name: https, port: 443, targetPort: 6443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints: [{addresses: [192.168.0.2]}]
ports: [{name: https, port: 6443, protocol: TCP}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: prometheus-egress, namespace: mon}
spec:
  endpointSelector: {matchLabels: {app: prometheus}}
  egress:
  - toEntities: [kube-apiserver]
  - toEndpoints: [{}]
"#;
    let idx = world(&format!("{}{rest}", scraper(config)));
    let r = evaluate(&idx, &EngineConfig::default());

    let nodes = subject(&r.subjects, "ScrapeJob", "prometheus/nodes");
    let (status, _, message) = cond(nodes, "TargetsResolved");
    assert_eq!(status, "True", "{message}");
    assert!(
        message.contains(
            "2 targets at 2 addresses no pod backs: node w-1 192.168.0.11, node w-2 192.168.0.12"
        ),
        "{message}"
    );
    let (status, reason, message) = cond(nodes, "NetworkReachable");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "EgressDenied"),
        "{message}"
    );
    assert!(message.contains("mon/prometheus-egress"), "{message}");
    assert!(
        message.contains("toEntities: [host, remote-node]"),
        "{message}"
    );
    assert_eq!(nodes.targets.len(), 2);
    assert!(nodes.targets.iter().all(|t| t.network.verdict == "Denied"));
    assert!(!nodes.ready);

    let external = subject(&r.subjects, "ScrapeJob", "prometheus/external");
    let (_, _, message) = cond(external, "TargetsResolved");
    assert!(
        message.contains("2 targets are not evaluated (hostnames, resolved only at scrape time: db.example.internal:9187; loopback addresses, inside the scraper's own pod where no network policy applies: 127.0.0.1:9187)"),
        "{message}"
    );
    // Prometheus scraping itself: nothing the network layer judges, so no subject.
    assert!(!r.subjects.iter().any(|s| s.name == "prometheus/self"));
    let (status, _, message) = cond(external, "NetworkReachable");
    assert_eq!(status, "False", "{message}");
    assert!(
        message.contains("toCIDR: [203.0.113.7/32]") || message.contains("203.0.113.7/32"),
        "{message}"
    );
    assert_eq!(external.targets.len(), 1);
    assert_eq!(
        external.targets[0].address.as_deref(),
        Some("203.0.113.7:9187")
    );

    let api = subject(&r.subjects, "ScrapeJob", "prometheus/apiserver");
    let (status, _, message) = cond(api, "NetworkReachable");
    assert_eq!(status, "True", "{message}");
    assert!(
        message.contains("1/1 targets at addresses no pod backs are reachable"),
        "{message}"
    );
    let (status, reason, _) = cond(api, "MeshAuthorized");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "NotApplicable")
    );
    assert_eq!(api.targets[0].pod, "the API server 192.168.0.2");
    assert_eq!(api.targets[0].network.verdict, "Allowed");
}
