//! Small worlds the operator tests share: a scraper, application pods, intents, an isolating policy.
#![allow(dead_code)]

use super::testenv::TestEnv;

/// A Prometheus in `mon` selecting monitors labelled `release: prom`, with one Ready pod.
pub fn scraper(mon: &str) -> String {
    format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: {mon}}}
spec:
  podMonitorSelector: {{matchLabels: {{release: prom}}}}
  podMonitorNamespaceSelector: {{}}
  serviceAccountName: prometheus
---
{}"#,
        super::prometheus::scraper_pod(mon, [10, 9, 0, 10].into(), 9090)
    )
}

pub fn app_pod(ns: &str, name: &str, ip: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{app: api}}}}
spec:
  containers: [{{name: api, image: api, ports: [{{name: metrics, containerPort: 9100}}]}}]
status:
  phase: Running
  podIP: {ip}
  conditions: [{{type: Ready, status: "True"}}]
"#
    )
}

/// An Enforce-mode intent `name` for the `app: api` pods of `ns`, scraped by `mon/k8s`.
pub fn enforce_intent(ns: &str, name: &str, mon: &str) -> String {
    format!(
        r#"
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  endpoints: [{{port: metrics}}]
  scraper: {{kind: Prometheus, namespace: {mon}, name: k8s}}
  mode: Enforce
"#
    )
}

/// A policy that isolates `app: api` pods, admitting only their own namespace.
pub fn isolating_cnp(ns: &str) -> String {
    format!(
        r#"
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: api-isolation, namespace: {ns}}}
spec:
  endpointSelector: {{matchLabels: {{app: api}}}}
  ingress:
  - fromEndpoints: [{{}}]
    toPorts: [{{ports: [{{port: "9100", protocol: TCP}}]}}]
"#
    )
}

pub async fn namespaces(env: &TestEnv, prefixes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for p in prefixes {
        out.push(env.namespace(p).await);
    }
    out
}

/// The cluster-wide objects of the seed (the Cilium agent settings and version in `kube-system`), applied
/// once before any test of the binary starts its controller: a test that applied them midway would change
/// the verdicts (and so the statuses) of every other test's intents under their feet.
pub async fn cluster_globals(client: &kube::Client) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let text =
            std::fs::read_to_string("deploy/examples/blog-system/intent/cilium.yaml").unwrap();
        super::cluster::apply_yaml(client, &text).await;
    })
    .await;
}
