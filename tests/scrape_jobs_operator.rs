//! Plain Prometheus scrapers against a real kube-apiserver (issue 6): a Prometheus pod whose
//! `--config.file` is a ConfigMap key, an intent with `monitor.kind: Annotations`, the operator reading
//! only that ConfigMap (by name, as it changes), its jobs audited with Events on the scraper, and
//! `scrapepath audit`'s one-shot read.

mod common;

use std::time::Duration;

use common::cluster::*;
use common::fixtures::*;
use common::testenv::TestEnv;
use kube::api::Api;
use scrapepath::model::{Kind, ObjRef};

use scrapepath::config_access::{ConfigAccess, ConfigNamespaces};
use scrapepath::controller::Settings;
use scrapepath::engine::{evaluate, EngineConfig};

/// A Prometheus pod in `mon` reading `prometheus.yml` from ConfigMap `prometheus`, whose one job keeps
/// pods annotated `prometheus.io/scrape: "true"` in the namespaces `job_namespaces`.
fn plain_prometheus(mon: &str, job_namespaces: &[&str]) -> String {
    format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: prometheus, namespace: {mon}}}
data:
  prometheus.yml: |
    scrape_configs:
    - job_name: kubernetes-pods
      kubernetes_sd_configs:
      - role: pod
        namespaces: {{names: [{}]}}
      relabel_configs:
      - {{action: keep, source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: true}}
      - action: replace
        source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        regex: ([^:]+)(?::\d+)?;(\d+)
        replacement: ${{1}}:${{2}}
        target_label: __address__
---
apiVersion: v1
kind: Pod
metadata: {{name: prometheus-0, namespace: {mon}, labels: {{app: prometheus}}}}
spec:
  containers:
  - name: prometheus
    image: quay.io/prometheus/prometheus:v3.5.0
    args: [--config.file=/etc/config/prometheus.yml]
    ports: [{{name: web, containerPort: 9090}}]
    volumeMounts: [{{name: config, mountPath: /etc/config}}]
  volumes:
  - name: config
    configMap: {{name: prometheus}}
status:
  phase: Running
  podIP: 10.9.6.10
  conditions: [{{type: Ready, status: "True"}}]
"#,
        job_namespaces.join(", ")
    )
}

/// The same scraper reading its configuration from Secret `prometheus` instead.
fn plain_prometheus_from_secret(mon: &str, job_namespaces: &[&str]) -> String {
    plain_prometheus(mon, job_namespaces)
        .replacen("kind: ConfigMap", "kind: Secret", 1)
        .replacen("\ndata:\n", "\nstringData:\n", 1)
        .replace(
            "configMap: {name: prometheus}",
            "secret: {secretName: prometheus}",
        )
}

/// The controller for the namespaces `ns`, reading scrape configurations as `configs` allows.
async fn start_reading(client: &kube::Client, ns: &[&str], configs: ConfigAccess) -> Running {
    start_controller_with(
        client,
        Settings {
            namespaces: ns.iter().map(|s| s.to_string()).collect(),
            instance: format!("test-{}", ns.join("-")),
            configs,
            ..Settings::default()
        },
    )
    .await
}

/// Scrape configurations in these namespaces, Secrets too.
fn only(ns: &[&str]) -> ConfigAccess {
    ConfigAccess {
        namespaces: ConfigNamespaces::from_list(ns).unwrap(),
        secrets: true,
    }
}

fn annotations_intent(app: &str, mon: &str) -> String {
    format!(
        r#"
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: api, namespace: {app}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  endpoints: [{{port: metrics}}]
  scraper: {{kind: Pods, namespace: {mon}, podSelector: {{matchLabels: {{app: prometheus}}}}}}
  monitor: {{kind: Annotations}}
  mode: Report
"#
    )
}

fn annotated_pod(app: &str) -> String {
    app_pod(app, "api-0", "10.9.6.1").replace(
        "labels: {app: api}}",
        "labels: {app: api}, annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"9100\"}}",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_annotations_intent_follows_the_pod_annotations_and_the_scrapers_configmap() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["plain", "plainmon"]).await;
    let (app, mon) = (ns[0].as_str(), ns[1].as_str());
    apply_yaml(&client, &plain_prometheus(mon, &[app])).await;
    apply_yaml(&client, &app_pod(app, "api-0", "10.9.6.1")).await;
    apply_yaml(&client, &annotations_intent(app, mon)).await;
    let ctl = start_reading(&client, &[app, mon], only(&[mon])).await;

    // The pod lacks the annotation the job keeps on: reported, with the fix, never applied.
    let (_, reason, message) =
        wait_condition(&client, app, "api", "MonitorSelected", "False").await;
    assert_eq!(reason, "AnnotationMissing", "{message}");
    assert!(
        message.contains(&format!("add to Pod {app}/api-0 metadata.annotations")),
        "{message}"
    );
    assert!(
        message.contains("prometheus.io/scrape: \"true\""),
        "{message}"
    );
    let pod = get(&client, "v1", "Pod", app, "api-0").await.unwrap();
    assert!(
        pod.metadata.annotations.unwrap_or_default().is_empty(),
        "the operator wrote to the pod"
    );

    // The owner adds the annotations: the job scrapes the pod.
    apply_yaml(&client, &annotated_pod(app)).await;
    let (_, reason, message) = wait_condition(&client, app, "api", "MonitorSelected", "True").await;
    assert_eq!(reason, "Selected");
    assert!(
        message.contains(&format!(
            "job kubernetes-pods in ConfigMap {mon}/prometheus key prometheus.yml"
        )),
        "{message}"
    );

    // The ConfigMap changes (the job now looks elsewhere): the operator reads it again by name.
    apply_yaml(&client, &plain_prometheus(mon, &["elsewhere"])).await;
    let (_, reason, message) =
        wait_condition(&client, app, "api", "MonitorSelected", "False").await;
    assert_eq!(reason, "JobMissing", "{message}");
    assert!(
        message.contains("role pod in namespaces elsewhere"),
        "{message}"
    );

    // Back, and a policy that admits only the pod's own namespace: the job's audit speaks on the scraper.
    apply_yaml(&client, &plain_prometheus(mon, &[app])).await;
    apply_yaml(&client, &isolating_cnp(app)).await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), mon);
    let ev = eventually(
        "an audit Event for the kubernetes-pods job on the scraper pod",
        Duration::from_secs(30),
        || async {
            let list = events.list(&Default::default()).await.unwrap();
            list.items
                .into_iter()
                .find(|e| {
                    e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("prometheus-0")
                        && e.reason.as_deref() == Some("Unreachable")
                })
                .ok_or_else(|| "no event yet".to_string())
        },
    )
    .await;
    let note = ev.note.unwrap_or_default();
    assert!(
        note.starts_with("job kubernetes-pods: BlockedByPolicy"),
        "{note}"
    );
    assert!(note.contains(&format!("{app}/api-isolation")), "{note}");
    // The same verdict as a metric: the job's current audit verdict.
    let metrics = ctl.handle.stats.encode(&ctl.handle.world);
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("scrapepath_audit_verdict{")
                && l.contains("kind=\"ScrapeJob\"")
                && l.contains("/kubernetes-pods\"")
        })
        .unwrap_or_else(|| panic!("no audit verdict for the job in:\n{metrics}"));
    assert!(
        line.contains("verdict=\"Unreachable\"") && line.ends_with(" 1"),
        "{line}"
    );
    ctl.stop().await;

    // `scrapepath audit` reads the same ConfigMap by name and shows the same verdicts.
    let (idx, notes) = scrapepath::live::read_cluster(&client).await.unwrap();
    assert!(
        !notes.unreadable.iter().any(|e| e.object.contains(mon)),
        "{:?}",
        notes.unreadable
    );
    let report = evaluate(&idx, &EngineConfig::default());
    let job = report
        .subjects
        .iter()
        .find(|s| s.kind == "ScrapeJob" && s.namespace == mon)
        .expect("the job is an audit subject");
    assert_eq!(job.name, "prometheus-0/kubernetes-pods");
    assert_eq!(job.targets.len(), 1);
    assert_eq!(job.targets[0].address.as_deref(), Some("10.9.6.1:9100"));
    assert_eq!(job.targets[0].network.verdict, "Denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_configmap_is_named_and_unrelated_secrets_are_never_read() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["nocfg", "nocfgmon"]).await;
    let (app, mon) = (ns[0].as_str(), ns[1].as_str());
    // The pod refers to ConfigMap prometheus, which does not exist (yet).
    let all = plain_prometheus(mon, &[app]);
    let pod_only = all.split("---").nth(1).unwrap().to_string();
    apply_yaml(&client, &pod_only).await;
    apply_yaml(
        &client,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: unrelated, namespace: {mon}}}\nstringData: {{prometheus.yml: 'scrape_configs: []'}}\n"
        ),
    )
    .await;
    apply_yaml(&client, &annotated_pod(app)).await;
    apply_yaml(&client, &annotations_intent(app, mon)).await;
    let ctl = start_reading(&client, &[app, mon], only(&[mon])).await;
    let (_, reason, message) =
        wait_condition(&client, app, "api", "MonitorSelected", "False").await;
    assert_eq!(reason, "ConfigUnreadable", "{message}");
    assert!(
        message.contains(&format!("ConfigMap {mon}/prometheus does not exist")),
        "{message}"
    );
    {
        let idx = ctl.handle.world.index.read().unwrap();
        assert!(
            !idx.contains(&scrapepath::model::ObjRef::new(
                scrapepath::model::Kind::Secret,
                mon,
                "unrelated"
            )),
            "a Secret no scraper refers to was read"
        );
    }
    // The ConfigMap appears: read as soon as it exists.
    apply_yaml(&client, &all).await;
    wait_condition(&client, app, "api", "MonitorSelected", "True").await;
    ctl.stop().await;
}

/// Waits until the intent's MonitorSelected has `status` and a message holding `part` (a status from an
/// earlier controller may still be there); its (reason, message).
async fn wait_monitor_selected(
    client: &kube::Client,
    ns: &str,
    name: &str,
    status: &str,
    part: &str,
) -> (String, String) {
    eventually(
        &format!("{ns}/{name} MonitorSelected={status} saying {part:?}"),
        Duration::from_secs(30),
        || async {
            let si = intent(client, ns, name).await.ok_or("intent absent")?;
            match condition(&si, "MonitorSelected") {
                Some((s, r, m)) if s == status && m.contains(part) => Ok((r, m)),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_outside_the_setting_is_never_read_and_the_intent_names_the_setting() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["outside", "outsidemon", "outsidesec"]).await;
    let (app, mon, sec) = (ns[0].as_str(), ns[1].as_str(), ns[2].as_str());
    // Two scrapers: one reads a ConfigMap in `mon`, the other a Secret in `sec`; an intent for each.
    apply_yaml(&client, &plain_prometheus(mon, &[app])).await;
    apply_yaml(&client, &plain_prometheus_from_secret(sec, &[app])).await;
    apply_yaml(&client, &annotated_pod(app)).await;
    apply_yaml(&client, &annotations_intent(app, mon)).await;
    apply_yaml(
        &client,
        &annotations_intent(app, sec).replace("{name: api,", "{name: api-sec,"),
    )
    .await;
    let cm = ObjRef::new(Kind::ConfigMap, mon, "prometheus");
    let secret = ObjRef::new(Kind::Secret, sec, "prometheus");

    // Configurations are read only in another namespace: neither is asked for.
    let ctl = start_reading(&client, &[app, mon, sec], only(&["monitoring"])).await;
    let (reason, message) = wait_monitor_selected(
        &client,
        app,
        "api",
        "False",
        &format!("ConfigMap {mon}/prometheus is not read: scrapepath reads scrape configurations only in namespace monitoring"),
    )
    .await;
    assert_eq!(reason, "ConfigUnreadable", "{message}");
    for part in [
        "--config-namespaces / SCRAPEPATH_CONFIG_NAMESPACES, Helm value scrapeConfigs.namespaces"
            .to_string(),
        format!("add {mon} to it"),
    ] {
        assert!(message.contains(&part), "{part:?} in: {message}");
    }
    let (reason, _) = wait_monitor_selected(
        &client,
        app,
        "api-sec",
        "False",
        &format!("Secret {sec}/prometheus is not read"),
    )
    .await;
    assert_eq!(reason, "ConfigUnreadable");
    {
        let idx = ctl.handle.world.index.read().unwrap();
        assert!(!idx.contains(&cm) && !idx.contains(&secret));
    }
    ctl.stop().await;

    // Both namespaces allowed, Secrets not: the ConfigMap is read, the Secret named with the switch.
    let no_secrets = ConfigAccess {
        secrets: false,
        ..only(&[mon, sec])
    };
    let ctl = start_reading(&client, &[app, mon, sec], no_secrets).await;
    let (reason, message) = wait_monitor_selected(
        &client,
        app,
        "api",
        "True",
        &format!("ConfigMap {mon}/prometheus"),
    )
    .await;
    assert_eq!(reason, "Selected", "{message}");
    let (reason, message) = wait_monitor_selected(
        &client,
        app,
        "api-sec",
        "False",
        &format!("Secret {sec}/prometheus is not read: scrapepath is set to read no Secrets"),
    )
    .await;
    assert_eq!(reason, "ConfigUnreadable", "{message}");
    assert!(
        message
            .contains("--read-secrets / SCRAPEPATH_READ_SECRETS, Helm value scrapeConfigs.secrets"),
        "{message}"
    );
    assert!(!ctl.handle.world.index.read().unwrap().contains(&secret));
    ctl.stop().await;

    // Secrets allowed: the Secret is read.
    let ctl = start_reading(&client, &[app, mon, sec], only(&[mon, sec])).await;
    let (reason, message) = wait_monitor_selected(
        &client,
        app,
        "api-sec",
        "True",
        &format!("Secret {sec}/prometheus"),
    )
    .await;
    assert_eq!(reason, "Selected", "{message}");
    ctl.stop().await;
}
