//! Smoke tests of the integration-test control plane (`tests/common/testenv.rs`): the real upstream
//! CRDs are installed and their schemas enforced, the garbage collector and the namespace controller
//! run, TokenRequest and RBAC work, data survives a restart, and kubectl talks to it.

mod common;

use std::time::Duration;

use common::testenv::{CrdSet, TestEnv};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::core::Status;
use serde_json::{json, Value};

/// Polls `check` every 200 ms until it is true, or panics after `timeout` with `what`.
async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn api_status(err: kube::Error) -> Status {
    match err {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

fn dynamic_api(
    client: kube::Client,
    ns: &str,
    gvk: (&str, &str, &str),
    plural: &str,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(gvk.0, gvk.1, gvk.2);
    Api::namespaced_with(client, ns, &ApiResource::from_gvk_with_plural(&gvk, plural))
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a Kubernetes object")
}

/// The API server reports the Kubernetes release it is built from, as a cluster does: clients that
/// parse it (prometheus-operator's EndpointSlice support) see a real version, not "v0.0.0-master".
#[tokio::test]
async fn the_api_server_reports_the_release_it_is_built_from() {
    let env = TestEnv::shared();
    let info = env
        .client()
        .await
        .apiserver_version()
        .await
        .expect("GET /version");
    let go_mod = include_str!("harness/go.mod");
    let release = go_mod
        .lines()
        .find_map(|l| l.trim().strip_prefix("k8s.io/kubernetes v"))
        .expect("tests/harness/go.mod requires k8s.io/kubernetes");
    assert_eq!(info.git_version, format!("v{release}"));
    let mut parts = release.split('.');
    assert_eq!(Some(info.major.as_str()), parts.next());
    assert_eq!(Some(info.minor.as_str()), parts.next());
}

#[tokio::test]
async fn upstream_and_own_crds_are_established() {
    let env = TestEnv::shared();
    let api: Api<CustomResourceDefinition> = Api::all(env.client().await);
    let crds = api.list(&Default::default()).await.expect("list CRDs");
    let established = |name: &str| {
        crds.items
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("CRD {name} is not installed"))
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            })
    };
    for name in [
        "prometheuses.monitoring.coreos.com",
        "prometheusagents.monitoring.coreos.com",
        "podmonitors.monitoring.coreos.com",
        "servicemonitors.monitoring.coreos.com",
        "ciliumnetworkpolicies.cilium.io",
        "ciliumclusterwidenetworkpolicies.cilium.io",
        "authorizationpolicies.security.istio.io",
        "peerauthentications.security.istio.io",
        "scrapeintents.scrapepath.io",
    ] {
        assert!(established(name), "CRD {name} is not Established");
    }
    for name in [
        "authorizationpolicies.security.istio.io",
        "peerauthentications.security.istio.io",
    ] {
        let crd = crds
            .items
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .unwrap();
        let served: Vec<&str> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.served)
            .map(|v| v.name.as_str())
            .collect();
        assert!(
            served.contains(&"v1") && served.contains(&"v1beta1"),
            "{name} serves {served:?}"
        );
    }
}

#[tokio::test]
async fn upstream_objects_pass_the_real_schemas() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let ns = env.namespace("schemas").await;
    let pp = PostParams::default();

    let cnp = dynamic_api(
        client.clone(),
        &ns,
        ("cilium.io", "v2", "CiliumNetworkPolicy"),
        "ciliumnetworkpolicies",
    );
    cnp.create(
        &pp,
        &object(json!({
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": { "name": "allow-prometheus" },
            "spec": {
                "endpointSelector": { "matchLabels": { "app": "blog" } },
                "ingress": [{
                    "fromEndpoints": [{ "matchLabels": {
                        "k8s:io.kubernetes.pod.namespace": "monitoring",
                        "app.kubernetes.io/name": "prometheus"
                    }}],
                    "toPorts": [{ "ports": [{ "port": "9090", "protocol": "TCP" }] }]
                }]
            }
        })),
    )
    .await
    .expect("a valid CiliumNetworkPolicy is accepted");

    let pm = dynamic_api(
        client.clone(),
        &ns,
        ("monitoring.coreos.com", "v1", "PodMonitor"),
        "podmonitors",
    );
    pm.create(
        &pp,
        &object(json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": { "name": "blog", "labels": { "release": "prometheus" } },
            "spec": {
                "selector": { "matchLabels": { "app": "blog" } },
                "podMetricsEndpoints": [{ "port": "metrics", "path": "/metrics", "interval": "30s" }]
            }
        })),
    )
    .await
    .expect("a valid PodMonitor is accepted");
    // The schema is the real one: a wrongly typed field is refused.
    let err = pm
        .create(
            &pp,
            &object(json!({
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "metadata": { "name": "broken" },
                "spec": { "selector": {}, "podMetricsEndpoints": [{ "interval": "every minute" }] }
            })),
        )
        .await
        .expect_err("an invalid PodMonitor interval is refused by the schema");
    let status = api_status(err);
    assert_eq!(status.code, 422, "{status:?}");

    for version in ["v1", "v1beta1"] {
        let ap = dynamic_api(
            client.clone(),
            &ns,
            ("security.istio.io", version, "AuthorizationPolicy"),
            "authorizationpolicies",
        );
        ap.create(
            &pp,
            &object(json!({
                "apiVersion": format!("security.istio.io/{version}"),
                "kind": "AuthorizationPolicy",
                "metadata": { "name": format!("allow-prometheus-{version}") },
                "spec": {
                    "selector": { "matchLabels": { "app": "blog" } },
                    "action": "ALLOW",
                    "rules": [{
                        "from": [{ "source": { "principals": ["cluster.local/ns/monitoring/sa/prometheus"] } }],
                        "to": [{ "operation": { "ports": ["9090"], "paths": ["/metrics"] } }]
                    }]
                }
            })),
        )
        .await
        .unwrap_or_else(|e| panic!("a valid {version} AuthorizationPolicy is accepted: {e}"));
    }
}

#[tokio::test]
async fn owned_objects_are_garbage_collected_and_namespaces_deleted() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let ns = env.namespace("gc").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();

    let owner = cms
        .create(
            &pp,
            &serde_json::from_value(json!({ "metadata": { "name": "owner" } })).unwrap(),
        )
        .await
        .expect("create the owner");
    let uid = owner.metadata.uid.expect("the owner has a uid");
    cms.create(
        &pp,
        &serde_json::from_value(json!({
            "metadata": {
                "name": "owned",
                "ownerReferences": [{
                    "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid,
                    "controller": true, "blockOwnerDeletion": true
                }]
            }
        }))
        .unwrap(),
    )
    .await
    .expect("create the owned ConfigMap");

    cms.delete("owner", &DeleteParams::background())
        .await
        .expect("delete the owner");
    eventually(
        Duration::from_secs(90),
        "the owned ConfigMap is garbage-collected",
        || async { cms.get_opt("owned").await.expect("get").is_none() },
    )
    .await;

    // Between custom resources, as the operator's managed objects will be: a PodMonitor owned by a
    // CiliumNetworkPolicy. The collector knew these kinds from its start (no 30 s discovery wait).
    let cnp = dynamic_api(
        client.clone(),
        &ns,
        ("cilium.io", "v2", "CiliumNetworkPolicy"),
        "ciliumnetworkpolicies",
    );
    let owner = cnp
        .create(
            &pp,
            &object(json!({
                "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                "metadata": { "name": "owner" },
                "spec": { "endpointSelector": {}, "ingress": [{}] }
            })),
        )
        .await
        .expect("create the owning CiliumNetworkPolicy");
    let pm = dynamic_api(
        client.clone(),
        &ns,
        ("monitoring.coreos.com", "v1", "PodMonitor"),
        "podmonitors",
    );
    pm.create(
        &pp,
        &object(json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {
                "name": "owned",
                "ownerReferences": [{
                    "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "name": "owner",
                    "uid": owner.metadata.uid.expect("uid"), "controller": true, "blockOwnerDeletion": true
                }]
            },
            "spec": { "selector": {}, "podMetricsEndpoints": [{ "port": "metrics" }] }
        })),
    )
    .await
    .expect("create the owned PodMonitor");
    cnp.delete("owner", &DeleteParams::background())
        .await
        .expect("delete the owning CiliumNetworkPolicy");
    eventually(
        Duration::from_secs(20),
        "the PodMonitor owned by a CiliumNetworkPolicy is garbage-collected",
        || async { pm.get_opt("owned").await.expect("get").is_none() },
    )
    .await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("delete the namespace");
    eventually(
        Duration::from_secs(90),
        "the namespace is deleted by the namespace controller",
        || async { namespaces.get_opt(&ns).await.expect("get").is_none() },
    )
    .await;
}

#[tokio::test]
async fn token_request_works_and_rbac_is_enforced() {
    let env = TestEnv::shared();
    let admin = env.client().await;
    let ns = env.namespace("rbac").await;
    let pp = PostParams::default();

    Api::<ServiceAccount>::namespaced(admin.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({ "metadata": { "name": "reader" } })).unwrap(),
        )
        .await
        .expect("create the ServiceAccount");
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": { "name": "configmap-reader" },
                "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"] }]
            }))
            .unwrap(),
        )
        .await
        .expect("create the Role");
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": { "name": "reader" },
                "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader" },
                "subjects": [{ "kind": "ServiceAccount", "name": "reader", "namespace": ns }]
            }))
            .unwrap(),
        )
        .await
        .expect("create the RoleBinding");

    let token = env.service_account_token(&ns, "reader").await;
    assert_eq!(token.split('.').count(), 3, "a JWT");
    let sa = env.client_with_token(&token).await;
    let sa_cms: Api<ConfigMap> = Api::namespaced(sa.clone(), &ns);
    sa_cms
        .list(&Default::default())
        .await
        .expect("the ServiceAccount may list ConfigMaps");

    let err = sa_cms
        .create(
            &pp,
            &serde_json::from_value(json!({ "metadata": { "name": "nope" } })).unwrap(),
        )
        .await
        .expect_err("the ServiceAccount may not create ConfigMaps");
    let status = api_status(err);
    assert_eq!(status.code, 403, "{status:?}");
    assert!(
        status
            .message
            .contains(&format!("system:serviceaccount:{ns}:reader")),
        "the refusal names the ServiceAccount: {}",
        status.message
    );
    let err = Api::<ConfigMap>::namespaced(sa, "default")
        .list(&Default::default())
        .await
        .expect_err("the ServiceAccount may not read another namespace");
    assert_eq!(api_status(err).code, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart_with_the_same_port_and_credentials() {
    // A control plane of its own: restarting the shared one would interrupt the other tests.
    let env = TestEnv::start_new(CrdSet::NONE);
    let crd_dir = env.upstream_crd_dir().join("cilium");
    env.install_crds(&crd_dir).await;
    let client = env.client().await;
    let ns = env.namespace("restart").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({ "metadata": { "name": "kept" }, "data": { "k": "v" } }))
            .unwrap(),
    )
    .await
    .expect("create a ConfigMap");
    let cnp = dynamic_api(
        client.clone(),
        &ns,
        ("cilium.io", "v2", "CiliumNetworkPolicy"),
        "ciliumnetworkpolicies",
    );
    cnp.create(
        &PostParams::default(),
        &object(json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": { "name": "kept" },
            "spec": { "endpointSelector": {}, "ingress": [{}] }
        })),
    )
    .await
    .expect("create a CiliumNetworkPolicy");
    let kubeconfig_before = std::fs::read_to_string(env.kubeconfig()).unwrap();

    let restarted = std::time::Instant::now();
    tokio::task::block_in_place(|| env.restart());
    eprintln!("restart took {:?}", restarted.elapsed());

    assert_eq!(
        std::fs::read_to_string(env.kubeconfig()).unwrap(),
        kubeconfig_before,
        "same server address and credentials after the restart"
    );
    // The client made before the restart keeps working: same port, same CA, same credentials.
    let cm = cms
        .get("kept")
        .await
        .expect("the ConfigMap survived the restart");
    assert_eq!(cm.data.unwrap().get("k").map(String::as_str), Some("v"));
    cnp.get("kept")
        .await
        .expect("the CiliumNetworkPolicy and its CRD survived the restart");
}

#[test]
fn kubectl_talks_to_the_control_plane() {
    let env = TestEnv::shared();
    let out = env
        .kubectl()
        .args(["get", "crd", "-o", "name"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl get crd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for crd in [
        "customresourcedefinition.apiextensions.k8s.io/podmonitors.monitoring.coreos.com",
        "customresourcedefinition.apiextensions.k8s.io/ciliumnetworkpolicies.cilium.io",
        "customresourcedefinition.apiextensions.k8s.io/authorizationpolicies.security.istio.io",
        "customresourcedefinition.apiextensions.k8s.io/scrapeintents.scrapepath.io",
    ] {
        assert!(
            stdout.lines().any(|l| l == crd),
            "{crd} missing from:\n{stdout}"
        );
    }
    // The table printer with the CRD's own printer columns.
    let out = env
        .kubectl()
        .args(["get", "crd", "scrapeintents.scrapepath.io"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("NAME"), "{table}");
}
