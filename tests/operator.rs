//! The operator against a real kube-apiserver + etcd with the real upstream CRDs: the seed 000 incident end
//! to end (Report, then Enforce, drift, the user's own fix, deletion), and the harm it must never do.
//! Each test works in its own namespaces and runs its own controller restricted to them.

mod common;

use std::path::Path;
use std::time::Duration;

use common::cluster::*;
use common::fixtures::*;
use common::testenv::TestEnv;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};

use scrapepath::api::ScrapeIntent;

const CNP: &str = "cilium.io/v2";
const MON: &str = "monitoring.coreos.com/v1";

fn labels(o: &DynamicObject) -> std::collections::BTreeMap<String, String> {
    o.metadata.labels.clone().unwrap_or_default()
}

/// Writes seen by the controller must stop once it has converged.
async fn assert_steady(ctl: &Running, what: &str) {
    // Let in-flight work (Events, the audit of monitors) settle, then watch for writes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = ctl.breakdown();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = ctl.breakdown();
    assert_eq!(
        after, before,
        "{what}: the controller kept writing in a steady state (status, objects, deletes, events)"
    );
}

const ENFORCE_INTENT: &str = r#"
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: was-metrics, namespace: blog-system}
spec:
  selector: {matchLabels: {app: was}}
  endpoints:
  - {port: http-envoy-prom, path: /stats/prometheus, interval: 15s}
  scraper: {kind: Prometheus, namespace: monitoring, name: kube-prometheus-stack-prometheus}
  mode: Enforce
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_is_diagnosed_in_report_mode_and_fixed_in_enforce_mode() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    apply_dir(&client, Path::new("deploy/examples/blog-system/intent")).await;
    let ctl = start_controller(&client, &["blog-system", "monitoring"]).await;

    // Report: the conditions name the policy and the missing label ...
    let (_, reason, message) = wait_condition(
        &client,
        "blog-system",
        "was-envoy",
        "NetworkReachable",
        "False",
    )
    .await;
    assert_eq!(reason, "BlockedByPolicy");
    assert!(message.contains("blog-system/was-isolation"), "{message}");
    let (_, reason, message) = wait_condition(
        &client,
        "blog-system",
        "was-envoy",
        "MonitorSelected",
        "False",
    )
    .await;
    assert_eq!(reason, "LabelsMismatch");
    assert!(
        message.contains("release=kube-prometheus-stack"),
        "{message}"
    );
    let si = intent(&client, "blog-system", "was-envoy").await.unwrap();
    let status = si.status.unwrap();
    assert_eq!(status.targets.as_ref().unwrap().summary, "0/2");
    assert!(status
        .blocked_by
        .iter()
        .any(|b| b.name == "was-isolation" && b.kind == "CiliumNetworkPolicy"));
    assert!(
        status
            .remediation
            .iter()
            .any(|r| r["kind"] == "CiliumNetworkPolicy"),
        "Report mode lists the fix: {:?}",
        status.remediation
    );
    // ... and nothing else is written.
    assert_eq!(
        names(&client, CNP, "CiliumNetworkPolicy", "blog-system").await,
        ["was-isolation", "web-isolation"]
    );
    assert!(names(&client, MON, "PodMonitor", "blog-system")
        .await
        .is_empty());
    let pm = get(&client, MON, "PodMonitor", "monitoring", "istio-proxies")
        .await
        .unwrap();
    assert!(!labels(&pm).contains_key("release"));
    assert_steady(&ctl, "Report mode").await;

    // Enforce: a least-privilege CNP and a labelled PodMonitor, owned by the intent; the intent turns Ready.
    apply_yaml(&client, ENFORCE_INTENT).await;
    wait_condition(&client, "blog-system", "was-metrics", "Ready", "True").await;
    let si = intent(&client, "blog-system", "was-metrics").await.unwrap();
    let uid = si.metadata.uid.clone().unwrap();
    let cnp = get(
        &client,
        CNP,
        "CiliumNetworkPolicy",
        "blog-system",
        "scrapepath-was-metrics",
    )
    .await
    .expect("Enforce created the CNP, and the real Cilium CRD schema accepted it");
    assert_eq!(labels(&cnp)["app.kubernetes.io/managed-by"], "scrapepath");
    assert_eq!(labels(&cnp)["scrapepath.io/intent"], "was-metrics");
    let owner = &cnp.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.uid.as_str(), owner.controller),
        (uid.as_str(), Some(true))
    );
    assert_eq!(
        cnp.data["spec"]["enableDefaultDeny"]["ingress"],
        json!(false)
    );
    assert_eq!(
        cnp.data["spec"]["endpointSelector"]["matchLabels"]["app"],
        "was"
    );
    let pm = get(
        &client,
        MON,
        "PodMonitor",
        "blog-system",
        "scrapepath-was-metrics",
    )
    .await
    .expect("Enforce created the PodMonitor, and the real prometheus-operator schema accepted it");
    assert_eq!(labels(&pm)["release"], "kube-prometheus-stack");
    let managed: Vec<String> = si
        .status
        .unwrap()
        .managed
        .iter()
        .map(|m| format!("{}/{}", m.kind, m.name))
        .collect();
    assert_eq!(
        managed,
        [
            "PodMonitor/scrapepath-was-metrics",
            "CiliumNetworkPolicy/scrapepath-was-metrics"
        ]
    );
    assert_steady(&ctl, "Enforce mode after converging").await;

    // `kubectl get scrapeintents` shows the printer columns.
    let out = env
        .kubectl()
        .args(["get", "scrapeintents", "-n", "blog-system"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "MODE", "READY", "TARGETS", "REASON", "AGE"]
    );
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("was-metrics "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&row[1..5], ["Enforce", "True", "2/2", "Ready"], "{text}");

    // Deleting the managed CNP is repaired.
    let cnps: Api<DynamicObject> = api_for(&client, &cnp_head("scrapepath-was-metrics")).await;
    let old_uid = cnp.metadata.uid.clone();
    cnps.delete("scrapepath-was-metrics", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the deleted CNP is re-created",
        Duration::from_secs(30),
        || async {
            match cnps.get_opt("scrapepath-was-metrics").await.unwrap() {
                Some(o) if o.metadata.uid != old_uid => Ok(()),
                other => Err(format!("{:?}", other.map(|o| o.metadata.uid))),
            }
        },
    )
    .await;

    // Editing it (another field manager narrows it to another app) is repaired too.
    let edit = json!({"apiVersion": CNP, "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "scrapepath-was-metrics", "namespace": "blog-system"},
        "spec": {"endpointSelector": {"matchLabels": {"app": "web"}}}});
    cnps.patch(
        "scrapepath-was-metrics",
        &PatchParams::default(),
        &Patch::Merge(&edit),
    )
    .await
    .unwrap();
    eventually(
        "the edited CNP is repaired",
        Duration::from_secs(30),
        || async {
            let o = cnps.get("scrapepath-was-metrics").await.unwrap();
            let app = o.data["spec"]["endpointSelector"]["matchLabels"]["app"].clone();
            (app == "was").then_some(()).ok_or(format!("{app}"))
        },
    )
    .await;
    wait_condition(&client, "blog-system", "was-metrics", "Ready", "True").await;

    // Fixing the user's own CNP makes the managed one unnecessary: it goes away, the intent stays Ready.
    let fixed = std::fs::read_to_string("deploy/examples/blog-system/fixed/policies.yaml").unwrap();
    apply_yaml(&client, &fixed).await;
    eventually(
        "the managed CNP is removed",
        Duration::from_secs(30),
        || async {
            match cnps.get_opt("scrapepath-was-metrics").await.unwrap() {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        },
    )
    .await;
    let (_, _, message) = wait_condition(
        &client,
        "blog-system",
        "was-metrics",
        "NetworkReachable",
        "True",
    )
    .await;
    assert!(
        message.contains("2/2 targets admit the scraper"),
        "{message}"
    );
    wait_condition(&client, "blog-system", "was-metrics", "Ready", "True").await;
    eventually(
        "status.managed lists only the PodMonitor",
        Duration::from_secs(30),
        || async {
            let si = intent(&client, "blog-system", "was-metrics").await.unwrap();
            let managed: Vec<String> = si
                .status
                .unwrap()
                .managed
                .iter()
                .map(|m| m.kind.clone())
                .collect();
            (managed == ["PodMonitor"])
                .then_some(())
                .ok_or(format!("{managed:?}"))
        },
    )
    .await;
    // The user's policies were never written by the operator.
    let user = cnps.get("was-isolation").await.unwrap();
    for mf in user.metadata.managed_fields.unwrap_or_default() {
        assert_ne!(mf.manager.as_deref(), Some("scrapepath"));
    }
    assert_steady(&ctl, "after the user's fix").await;

    // Deleting the intent removes what it created (ownerReferences; the harness runs the garbage
    // collector).
    Api::<ScrapeIntent>::namespaced(client.clone(), "blog-system")
        .delete("was-metrics", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the managed PodMonitor is collected",
        Duration::from_secs(60),
        || async {
            match get(
                &client,
                MON,
                "PodMonitor",
                "blog-system",
                "scrapepath-was-metrics",
            )
            .await
            {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        },
    )
    .await;

    // The app port: Istio's was-authz ALLOW refuses a sidecar-less Prometheus there. Enforce adds a
    // workload- and port-scoped ALLOW (ALLOW policies already apply, so it never adds the first one),
    // accepted by the real Istio CRD schema, next to the network policy for 8080.
    Api::<ScrapeIntent>::namespaced(client.clone(), "blog-system")
        .patch(
            "was-app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "Enforce"}})),
        )
        .await
        .unwrap();
    wait_condition(&client, "blog-system", "was-app", "Ready", "True").await;
    let ap = get(
        &client,
        "security.istio.io/v1",
        "AuthorizationPolicy",
        "blog-system",
        "scrapepath-was-app",
    )
    .await
    .expect("Enforce created the ALLOW, and the real Istio CRD schema accepted it");
    assert_eq!(ap.data["spec"]["action"], "ALLOW");
    assert_eq!(labels(&ap)["scrapepath.io/intent"], "was-app");
    let user_ap = get(
        &client,
        "security.istio.io/v1",
        "AuthorizationPolicy",
        "blog-system",
        "was-authz",
    )
    .await
    .unwrap();
    for mf in user_ap.metadata.managed_fields.unwrap_or_default() {
        assert_ne!(mf.manager.as_deref(), Some("scrapepath"));
    }
    assert_steady(&ctl, "Enforce on the app port").await;
    ctl.stop().await;
}

fn cnp_head(name: &str) -> Value {
    json!({"apiVersion": CNP, "kind": "CiliumNetworkPolicy", "metadata": {"name": name, "namespace": "blog-system"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_without_policy_gets_none_and_an_intent_cannot_open_another_namespace() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["open", "closed", "mon"]).await;
    let (open, closed, mon) = (&ns[0], &ns[1], &ns[2]);
    apply_yaml(&client, &scraper(mon)).await;
    apply_yaml(&client, &app_pod(open, "api-0", "10.9.1.1")).await;
    // Pods of the same labels in another namespace, isolated.
    apply_yaml(&client, &app_pod(closed, "api-0", "10.9.2.1")).await;
    apply_yaml(&client, &isolating_cnp(closed)).await;
    apply_yaml(&client, &enforce_intent(open, "api", mon)).await;
    let ctl = start_controller(&client, &[open, closed, mon]).await;

    wait_condition(&client, open, "api", "Ready", "True").await;
    let si = intent(&client, open, "api").await.unwrap();
    assert_eq!(
        si.status
            .as_ref()
            .unwrap()
            .targets
            .as_ref()
            .unwrap()
            .summary,
        "1/1"
    );
    // The pod had no policy: it must not get one (that would put it into default-deny).
    assert!(names(&client, CNP, "CiliumNetworkPolicy", open)
        .await
        .is_empty());
    assert!(
        names(&client, "networking.k8s.io/v1", "NetworkPolicy", open)
            .await
            .is_empty()
    );
    // The other namespace's pods are not the intent's: nothing is written there.
    assert_eq!(
        names(&client, CNP, "CiliumNetworkPolicy", closed).await,
        ["api-isolation"]
    );
    assert!(names(&client, MON, "PodMonitor", closed).await.is_empty());
    assert_eq!(
        names(&client, MON, "PodMonitor", open).await,
        ["scrapepath-api"]
    );
    assert_steady(&ctl, "an open pod").await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_cilium_would_reject_is_reported_and_other_intents_keep_working() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["bad", "good", "mon"]).await;
    let (bad, good, mon) = (&ns[0], &ns[1], &ns[2]);
    apply_yaml(&client, &scraper(mon)).await;
    for (n, ip) in [(bad, "10.9.3.1"), (good, "10.9.3.2")] {
        apply_yaml(&client, &app_pod(n, "api-0", ip)).await;
        apply_yaml(&client, &enforce_intent(n, "api", mon)).await;
    }
    // The CRD schema accepts it; the Cilium agent would refuse the regex and never enforce it.
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: broken-regex, namespace: {bad}}}
spec:
  endpointSelector: {{matchLabels: {{app: api}}}}
  ingress:
  - fromEndpoints: [{{}}]
    toPorts: [{{ports: [{{port: "9100", protocol: TCP}}], rules: {{http: [{{method: GET, path: "/metrics(["}}]}}}}]
"#
        ),
    )
    .await;
    let ctl = start_controller(&client, &[bad, good, mon]).await;
    wait_condition(&client, good, "api", "Ready", "True").await;
    let (_, reason, message) =
        wait_condition(&client, bad, "api", "NetworkReachable", "False").await;
    assert_eq!(reason, "InvalidPolicy", "{message}");
    // The policy, the rule and Cilium's own reason (its sanitiser compiles the path as a Go regexp).
    assert!(
        message.contains("broken-regex")
            && message.contains("spec.ingress[0].toPorts[0].rules.http[0].path")
            && message.contains("missing closing ]"),
        "{message}"
    );
    // A broken policy is not something Enforce papers over.
    assert!(!names(&client, CNP, "CiliumNetworkPolicy", bad)
        .await
        .iter()
        .any(|n| n.starts_with("scrapepath-")));
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referenced_monitor_gets_only_its_missing_labels_and_report_mode_writes_nothing() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["refd", "mon"]).await;
    let (app, mon) = (&ns[0], &ns[1]);
    apply_yaml(&client, &scraper(mon)).await;
    apply_yaml(&client, &app_pod(app, "api-0", "10.9.4.1")).await;
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: api, namespace: {app}, labels: {{team: payments}}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  podMetricsEndpoints: [{{port: metrics}}]
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: api, namespace: {app}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  endpoints: [{{port: metrics}}]
  scraper: {{kind: Prometheus, namespace: {mon}, name: k8s}}
  monitor: {{kind: PodMonitor, ref: {{name: api}}}}
  mode: Report
"#
        ),
    )
    .await;
    let ctl = start_controller(&client, &[app, mon]).await;
    let (_, reason, _) = wait_condition(&client, app, "api", "MonitorSelected", "False").await;
    assert_eq!(reason, "LabelsMismatch");
    assert_steady(&ctl, "Report mode").await;
    let pm = get(&client, MON, "PodMonitor", app, "api").await.unwrap();
    assert!(!labels(&pm).contains_key("release"), "Report mode wrote");

    // Enforce: the missing label is added; the user's labels stay.
    let intents: Api<ScrapeIntent> = Api::namespaced(client.clone(), app);
    intents
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"mode": "Enforce"}})),
        )
        .await
        .unwrap();
    wait_condition(&client, app, "api", "Ready", "True").await;
    let pm = get(&client, MON, "PodMonitor", app, "api").await.unwrap();
    assert_eq!(labels(&pm)["release"], "prom");
    assert_eq!(labels(&pm)["team"], "payments");
    // The user's monitor is not claimed: no owner reference, and it survives the intent.
    assert!(pm.metadata.owner_references.unwrap_or_default().is_empty());
    assert!(names(&client, MON, "PodMonitor", app).await == ["api"]);
    assert_steady(&ctl, "after the label-add").await;
    intents
        .delete("api", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pm = get(&client, MON, "PodMonitor", app, "api").await;
    assert!(pm.is_some(), "the user's monitor was deleted");
    ctl.stop().await;
}

/// Monitors no intent covers are audited: an Event on the monitor, never a write to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unselected_monitor_gets_an_event_and_is_never_written() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["audit", "mon"]).await;
    let (app, mon) = (&ns[0], &ns[1]);
    apply_yaml(&client, &scraper(mon)).await;
    apply_yaml(&client, &app_pod(app, "api-0", "10.9.5.1")).await;
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: orphan, namespace: {app}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  podMetricsEndpoints: [{{port: metrics}}]
"#
        ),
    )
    .await;
    let before = get(&client, MON, "PodMonitor", app, "orphan")
        .await
        .unwrap();
    let ctl = start_controller(&client, &[app, mon]).await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), app);
    let ev = eventually(
        "an audit Event on the monitor",
        Duration::from_secs(30),
        || async {
            let list = events.list(&Default::default()).await.unwrap();
            list.items
                .into_iter()
                .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("orphan"))
                .ok_or_else(|| "no event yet".to_string())
        },
    )
    .await;
    assert_eq!(ev.reason.as_deref(), Some("NotSelected"));
    assert!(ev.note.unwrap_or_default().contains("release=prom"));
    let after = get(&client, MON, "PodMonitor", app, "orphan")
        .await
        .unwrap();
    assert_eq!(
        before.metadata.resource_version, after.metadata.resource_version,
        "the audited monitor was written"
    );
    // The verdict is a metric too.
    let metrics = ctl.handle.stats.encode(&ctl.handle.world);
    let line = format!(
        "scrapepath_audit_verdict{{kind=\"PodMonitor\",namespace=\"{app}\",name=\"orphan\",verdict=\"NotSelected\"}} 1"
    );
    assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    assert_steady(&ctl, "auditing").await;
    ctl.stop().await;
}

/// kube-prometheus' shape: the scraper's ServiceAccount may list and watch pods in its own namespace
/// only (a Role and RoleBinding there).
fn scraper_rbac_in(mon: &str) -> String {
    format!(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: prometheus, namespace: {mon}}}
rules:
- apiGroups: [""]
  resources: [services, endpoints, pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: prometheus, namespace: {mon}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: prometheus}}
subjects: [{{kind: ServiceAccount, name: prometheus, namespace: {mon}}}]
"#
    )
}

/// A PodMonitor `app/api` the scraper of `mon` selects, and a Report intent `app/api` it covers.
fn selected_monitor_and_report_intent(app: &str, mon: &str) -> String {
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {{name: api, namespace: {app}, labels: {{release: prom}}}}\nspec: {{selector: {{matchLabels: {{app: api}}}}, podMetricsEndpoints: [{{port: metrics}}]}}\n---\n{}",
        enforce_intent(app, "api", mon).replace("mode: Enforce", "mode: Report")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_forbidden_until_the_proposed_role_binding_exists() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["shop", "mon"]).await;
    let (app, mon) = (&ns[0], &ns[1]);
    apply_yaml(&client, &scraper(mon)).await;
    apply_yaml(&client, &scraper_rbac_in(mon)).await;
    apply_yaml(&client, &app_pod(app, "api-0", "10.9.7.1")).await;
    apply_yaml(&client, &selected_monitor_and_report_intent(app, mon)).await;
    let ctl = start_controller_with(
        &client,
        scrapepath::controller::Settings {
            namespaces: [app.to_string(), mon.to_string()].into(),
            instance: format!("test-rbac-{app}"),
            read_rbac: true,
            ..Default::default()
        },
    )
    .await;

    // The Role in the scraper's namespace does not reach the application's.
    let (_, reason, message) =
        wait_condition(&client, app, "api", "DiscoveryPermitted", "False").await;
    assert_eq!(reason, "DiscoveryForbidden");
    assert!(
        message.contains(&format!(
            "ServiceAccount {mon}/prometheus cannot list, watch pods in namespace {app}"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "kubectl -n {app} create role prometheus-discovery"
        )),
        "{message}"
    );
    let (_, reason, _) = wait_condition(&client, app, "api", "Ready", "False").await;
    assert_eq!(reason, "DiscoveryForbidden");
    assert_eq!(
        wait_condition(&client, app, "api", "MonitorSelected", "True")
            .await
            .1,
        "Selected"
    );

    // The grant scrapepath proposes, applied as is: the real API server accepts it, and the condition flips.
    let account = scrapepath::authz::Account::new(mon.as_str(), "prometheus");
    let missing = scrapepath::authz::Missing {
        namespace: Some(app.to_string()),
        grants: vec![],
    };
    let fix = scrapepath::authz::remedy(&account, scrapepath::authz::SdRole::Pod, &missing);
    for obj in &fix {
        apply_value(&client, &mut obj.clone()).await;
    }
    let (_, reason, message) =
        wait_condition(&client, app, "api", "DiscoveryPermitted", "True").await;
    assert_eq!(reason, "Permitted");
    assert!(
        message.contains(&format!(
            "RoleBinding {app}/prometheus-discovery → Role {app}/prometheus-discovery"
        )),
        "{message}"
    );
    wait_condition(&client, app, "api", "Ready", "True").await;

    // Taking the binding away takes the permission away.
    delete_yaml(
        &client,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: prometheus-discovery, namespace: {app}}}\n"
        ),
    )
    .await;
    wait_condition(&client, app, "api", "DiscoveryPermitted", "False").await;
    assert_steady(&ctl, "RBAC verdicts").await;
    ctl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_rbac_without_the_grant_leaves_discovery_unknown_and_the_rest_decided() {
    use scrapepath::config_access::{ConfigAccess, ConfigNamespaces};
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["norbac", "mon"]).await;
    let (app, mon) = (&ns[0], &ns[1]);
    apply_yaml(&client, &scraper(mon)).await;
    apply_yaml(&client, &scraper_rbac_in(mon)).await;
    apply_yaml(&client, &app_pod(app, "api-0", "10.9.8.1")).await;
    apply_yaml(&client, &selected_monitor_and_report_intent(app, mon)).await;
    // The operator as a ServiceAccount granted what `scrapepath rbac` prints without --read-rbac, but
    // run with --read-rbac: every RBAC list is refused.
    let name = format!("op-{app}");
    apply_yaml(
        &client,
        &format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: {app}}}\n"
        ),
    )
    .await;
    let configs = ConfigAccess {
        namespaces: ConfigNamespaces::from_list::<&str>(&[]).unwrap(),
        secrets: false,
    };
    // No scraper status reads (their default namespace, monitoring, does not exist here).
    let no_status = ConfigNamespaces::from_list::<&str>(&[]).unwrap();
    let rbac = scrapepath::rbac::RbacConfig {
        namespaces: [app.to_string(), mon.to_string()].into(),
        configs: configs.clone(),
        scraper_status: no_status.clone(),
        ..Default::default()
    };
    for mut v in scrapepath::rbac::manifests(&rbac, app, &name) {
        apply_value(&client, &mut v).await;
    }
    let sa = env.service_account_client(app, &name).await;
    let ctl = start_controller_with(
        &sa,
        scrapepath::controller::Settings {
            namespaces: rbac.namespaces.clone(),
            instance: format!("test-norbac-{app}"),
            read_rbac: true,
            scraper_status: no_status,
            configs,
            ..Default::default()
        },
    )
    .await;
    // Not a verdict from the kinds it could read, and not a wait that never ends: Unknown, and the
    // other layers decide Ready.
    let (_, reason, _) = wait_condition(&client, app, "api", "DiscoveryPermitted", "Unknown").await;
    assert_eq!(reason, "RbacNotObserved");
    wait_condition(&client, app, "api", "Ready", "True").await;
    ctl.stop().await;
}

/// Issue 17, live: a Prometheus whose pod the StatefulSet controller cannot create. The operator reads
/// the StatefulSet (by the operator's label) and the Warning Events (by `type=Warning`) in the scraper
/// status namespaces only, and `ScraperNotReady` quotes the StatefulSet's replicas, its FailedCreate
/// Event with the usual fix, and an Event without a reason as such; once the Event is gone, so is the
/// quote; a FailedCreate in a namespace outside the setting is never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statefulsets_failed_create_is_quoted_by_scraper_not_ready() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["sts-app", "sts-mon", "sts-other"]).await;
    let (app, mon, other) = (&ns[0], &ns[1], &ns[2]);
    // The scraper without its pod, and what the operator generated for it.
    let prometheus = scraper(mon);
    apply_yaml(&client, prometheus.split("\n---\n").next().unwrap()).await;
    apply_yaml(&client, &app_pod(app, "api-0", "10.9.5.1")).await;
    apply_yaml(
        &client,
        &enforce_intent(app, "api", mon).replace("Enforce", "Report"),
    )
    .await;
    let failed_create = |ns: &str| {
        format!(
            r#"
apiVersion: v1
kind: Event
metadata: {{name: prometheus-k8s.failed, namespace: {ns}}}
involvedObject: {{apiVersion: apps/v1, kind: StatefulSet, name: prometheus-k8s, namespace: {ns}}}
reason: FailedCreate
type: Warning
message: 'create Pod prometheus-k8s-0 in StatefulSet prometheus-k8s failed error: Pod "prometheus-k8s-0" is invalid: spec.initContainers[0].volumeMounts[0].name: Not found: "prometheus-db"'
"#
        )
    };
    for ns in [mon, other] {
        apply_yaml(
            &client,
            &format!(
                r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: prometheus-k8s
  namespace: {ns}
  labels: {{app.kubernetes.io/managed-by: prometheus-operator, operator.prometheus.io/name: k8s}}
spec:
  replicas: 1
  serviceName: prometheus-operated
  selector: {{matchLabels: {{operator.prometheus.io/name: k8s}}}}
  template:
    metadata: {{labels: {{operator.prometheus.io/name: k8s}}}}
    spec: {{containers: [{{name: prometheus, image: quay.io/prometheus/prometheus}}]}}
status: {{replicas: 0, readyReplicas: 0, availableReplicas: 0}}
---
apiVersion: v1
kind: Event
metadata: {{name: prometheus-k8s.noreason, namespace: {ns}}}
involvedObject: {{apiVersion: apps/v1, kind: StatefulSet, name: prometheus-k8s, namespace: {ns}}}
type: Warning
message: something went wrong
---
{}"#,
                failed_create(ns)
            ),
        )
        .await;
    }
    // The StatefulSet is the Prometheus object's, as the operator's are.
    let uid = get(&client, MON, "Prometheus", mon, "k8s")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let sets: Api<DynamicObject> = api_for(
        &client,
        &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"namespace": mon}}),
    )
    .await;
    sets.patch(
        "prometheus-k8s",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"ownerReferences": [{
            "apiVersion": MON, "kind": "Prometheus", "name": "k8s", "uid": uid, "controller": true,
        }]}})),
    )
    .await
    .unwrap();

    let settings = scrapepath::controller::Settings {
        namespaces: [app.to_string(), mon.to_string()].into(),
        instance: "test-statefulset-status".into(),
        scraper_status: scrapepath::config_access::ConfigNamespaces::from_list(&[mon.as_str()])
            .unwrap(),
        ..Default::default()
    };
    let ctl = start_controller_with(&client, settings).await;
    let (_, reason, message) = eventually(
        "ScraperReady quotes the FailedCreate",
        Duration::from_secs(30),
        || async {
            let c = wait_condition(&client, app, "api", "ScraperReady", "False").await;
            if c.2.contains("FailedCreate") {
                Ok(c)
            } else {
                Err(c.2)
            }
        },
    )
    .await;
    assert_eq!(reason, "ScraperNotReady");
    for needle in [
        &format!("StatefulSet {mon}/prometheus-k8s: 0/1 replicas Ready (0 created)"),
        "Event FailedCreate: create Pod prometheus-k8s-0 in StatefulSet prometheus-k8s failed error",
        "volumeMounts[0].name: Not found: \"prometheus-db\" — a volumeMount names a volume the pod does not have",
        "Event (no reason given): something went wrong",
    ] {
        assert!(message.contains(needle), "missing {needle:?}: {message}");
    }
    assert!(!message.contains(other.as_str()), "{message}");

    // The Event expires: the quote goes with it.
    delete_yaml(&client, &failed_create(mon)).await;
    let (_, _, message) = eventually(
        "ScraperReady without the FailedCreate",
        Duration::from_secs(30),
        || async {
            let c = wait_condition(&client, app, "api", "ScraperReady", "False").await;
            if c.2.contains("FailedCreate") {
                Err(c.2)
            } else {
                Ok(c)
            }
        },
    )
    .await;
    assert!(message.contains("0/1 replicas Ready"), "{message}");
    ctl.stop().await;
}

/// The API server's endpoints are targets (issue 14 item 3): a ServiceMonitor on default/kubernetes
/// (kube-prometheus' `kube-apiserver`) is Scrapable, where it read NoTargets (`NoMatchingPods`) while
/// only pods were targets. The harness runs the API server with `--endpoint-reconciler-type=none`, so
/// the test writes the EndpointSlice its reconciler would (the live world reads EndpointSlices and
/// Nodes cluster-wide).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_monitor_on_the_api_servers_endpoints_has_its_targets() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["apiserver-mon"]).await;
    let mon = &ns[0];
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: kubernetes, namespace: default, labels: {{kubernetes.io/service-name: kubernetes}}}}
addressType: IPv4
endpoints: [{{addresses: [10.9.255.1], conditions: {{ready: true}}}}]
ports: [{{name: https, port: 6443, protocol: TCP}}]
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: {mon}}}
spec:
  serviceMonitorSelector: {{}}
  serviceMonitorNamespaceSelector: {{}}
  serviceAccountName: prometheus
---
{}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {{name: kube-apiserver, namespace: {mon}}}
spec:
  jobLabel: component
  namespaceSelector: {{matchNames: [default]}}
  selector: {{matchLabels: {{component: apiserver, provider: kubernetes}}}}
  endpoints: [{{port: https, scheme: https}}]
"#,
            common::prometheus::scraper_pod(mon, [10, 9, 0, 10].into(), 9090)
        ),
    )
    .await;
    let ctl = start_controller(&client, &[mon]).await;
    let line = format!(
        "scrapepath_audit_verdict{{kind=\"ServiceMonitor\",namespace=\"{mon}\",name=\"kube-apiserver\",verdict=\"Scrapable\"}} 1"
    );
    eventually(
        "the API server's ServiceMonitor is Scrapable",
        Duration::from_secs(60),
        || async {
            let metrics = ctl.handle.stats.encode(&ctl.handle.world);
            if metrics.contains(&line) {
                Ok(())
            } else {
                Err(metrics
                    .lines()
                    .filter(|l| l.contains("kube-apiserver"))
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
        },
    )
    .await;
    ctl.stop().await;
}

/// The live world watches Ingresses (networking.k8s.io/v1) cluster-wide: a Probe's ingress targets
/// (issue 14, Probe `spec.targets.ingress`) are discovered from the Ingress the API server serves, its
/// later change (a second rule) is seen by the watch, and its deletion too. Judged on the operator's own
/// index, as its reconciles and audit read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_watches_the_ingresses_a_probe_discovers() {
    let env = TestEnv::shared();
    let client = env.client().await;
    cluster_globals(&client).await;
    let ns = namespaces(env, &["probe-ingress"]).await;
    let mon = &ns[0];
    let ingress = |rules: &str| {
        format!(
            r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: shop, namespace: {mon}, labels: {{app: shop}}}}
spec:
  tls: [{{hosts: [shop.example.com]}}]
  rules: [{rules}]
"#
        )
    };
    let rule = |host: &str| {
        format!("{{host: {host}, http: {{paths: [{{path: /health, pathType: Prefix, backend: {{service: {{name: shop, port: {{number: 80}}}}}}}}]}}}}")
    };
    apply_yaml(
        &client,
        &format!(
            r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: {mon}}}
spec:
  probeSelector: {{}}
  serviceAccountName: prometheus
---
apiVersion: monitoring.coreos.com/v1
kind: Probe
metadata: {{name: shop, namespace: {mon}}}
spec:
  prober: {{url: 'blackbox:9115'}}
  targets: {{ingress: {{selector: {{matchLabels: {{app: shop}}}}}}}}
---
{}
"#,
            ingress(&rule("shop.example.com"))
        ),
    )
    .await;
    let ctl = start_controller(&client, &[mon]).await;
    // The probed URLs of the Probe's job, discovered on the operator's index (once it has read the
    // Prometheus and the Probe).
    let probed = || -> Result<Vec<String>, String> {
        let idx = ctl.handle.world.index.read().unwrap();
        let p = idx
            .prometheuses()
            .find(|p| p.namespace == *mon)
            .ok_or("the Prometheus is not read yet")?;
        let pr = idx.probe(mon, "shop").ok_or("the Probe is not read yet")?;
        let job = scrapepath::promop::probe_job(p, pr).map_err(|e| e.to_string())?;
        let mut out: Vec<String> = scrapepath::scrapeconfig::discover(&job, &idx, mon)
            .targets
            .into_iter()
            .filter_map(|t| t.labels.get("__param_target").cloned())
            .collect();
        out.sort();
        Ok(out)
    };
    let wait_for = |want: Vec<&'static str>, what: &'static str| {
        let probed = &probed;
        async move {
            eventually(what, Duration::from_secs(60), || async {
                let got = probed()?;
                if got == want {
                    Ok(())
                } else {
                    Err(format!("{got:?}"))
                }
            })
            .await
        }
    };
    wait_for(
        vec!["https://shop.example.com/health"],
        "the Ingress' target is discovered",
    )
    .await;
    apply_yaml(
        &client,
        &ingress(&format!(
            "{}, {}",
            rule("shop.example.com"),
            rule("www.example.com")
        )),
    )
    .await;
    wait_for(
        vec![
            "http://www.example.com/health",
            "https://shop.example.com/health",
        ],
        "the Ingress' new rule is seen by the watch",
    )
    .await;
    delete_yaml(&client, &ingress("")).await;
    wait_for(vec![], "the Ingress' deletion is seen by the watch").await;
    ctl.stop().await;
}
