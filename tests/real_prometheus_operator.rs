//! The real prometheus-operator (built from its Go module by `tests/prometheus/operator.sh`, the release
//! the upstream CRDs come from) runs against the test API server, restricted to the test's namespaces,
//! with the monitor status feature on. It is given Prometheus objects and PodMonitors (fixed cases) and
//! a seeded random differential (issue 13's item 2: Prometheus and PrometheusAgent objects,
//! PodMonitors, ServiceMonitors and ScrapeConfigs), and the configuration it generates (the
//! `prometheus-<name>` or `prom-agent-<name>` Secret, gzipped `prometheus.yaml.gz`) and the bindings it
//! writes into the monitors' status are compared with scrapepath's own verdicts (`promop::selects`,
//! `promop::rejections`, `promop::selects_scrape_config`, `promop::scrape_config_rejections`) on the
//! same objects, pair by pair: selected / not selected / rejected (and the field).
//!
//! And the chain of issue 13's item 4 with every component real but the datapath: a PodMonitor without
//! `release` is left out by the real operator; scrapepath says `LabelsMismatch` and, observing the real
//! Prometheus (running the operator's configuration), that the pods are not discovered; Enforce adds
//! the label; the operator regenerates the configuration; Prometheus (reloaded as the config-reloader
//! would) discovers the pods from the API server and scrapes their listeners: `Scraped` turns `Up` for
//! one and `Down` with Prometheus' own `context deadline exceeded` for the other, and the targets
//! scrapepath lists are the active targets Prometheus reports.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use common::cluster::*;
use common::prometheus::{
    generated_config_gz, job_names, loopback_ip, metrics_endpoint_on, observing, parse_config_gz,
    scraper_pod, silent_endpoint_on, target_pod, wait_reason, ConfigReloader, KubeSd, Operator,
    Prometheus,
};
use common::testenv::TestEnv;
use kube::api::{Patch, PatchParams};
use kube::Client;
use scrapepath::api::ScrapeIntent;
use scrapepath::observe::plan::UrlSetting;

/// The configuration the operator generated for the Prometheus `ns/name`, if it did yet.
async fn generated_config(client: &Client, ns: &str, name: &str) -> Option<serde_yaml_ng::Value> {
    generated_config_named(client, ns, &format!("prometheus-{name}")).await
}

/// The configuration in the Secret `ns/secret_name`, if the operator wrote it yet.
async fn generated_config_named(
    client: &Client,
    ns: &str,
    secret_name: &str,
) -> Option<serde_yaml_ng::Value> {
    Some(parse_config_gz(
        &generated_config_gz(client, ns, secret_name).await?,
    ))
}

/// The Prometheus `mon/k8s`: PodMonitors labelled `release: prom`, from namespaces labelled `team: obs`.
fn prometheus(mon: &str) -> String {
    format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: {mon}}}
spec:
  replicas: 1
  podMonitorSelector: {{matchLabels: {{release: prom}}}}
  podMonitorNamespaceSelector: {{matchLabels: {{team: obs}}}}
  serviceAccountName: prometheus
"#
    )
}

fn pod_monitor(ns: &str, name: &str, labels: &str) -> String {
    pod_monitor_with(ns, name, labels, "", "")
}

/// A PodMonitor whose one endpoint has the extra flow-mapping fields `endpoint` (`, interval: 5s`) and
/// whose spec has the extra lines `spec`.
fn pod_monitor_with(ns: &str, name: &str, labels: &str, endpoint: &str, spec: &str) -> String {
    format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  podMetricsEndpoints: [{{port: metrics{endpoint}}}]
{spec}"#
    )
}

/// A random monitor, valid or not as prometheus-operator judges it (the API server's schema accepts
/// all of them): a PodMonitor or a ServiceMonitor (`service`) in `ns` with `labels`, whose one endpoint
/// has a port, a named or numbered targetPort (ServiceMonitors), scrape timeouts longer or shorter than
/// the interval (its own or the Prometheus' `scrapeInterval`), relabelings and metric relabelings with
/// bad regexes, a hashmod without modulus, capitalised actions; `bearerTokenFile` and TLS files (which
/// `arbitraryFSAccessThroughSMs.deny` forbids on ServiceMonitors), empty ones too; two authentication
/// methods at once; a `namespaceSelector` (`any`, `matchNames` over `namespaces`); a scrape class
/// defined by some Prometheus objects (`a`, `b`) or by none.
fn random_monitor(
    rng: &mut common::rng::Rng,
    service: bool,
    ns: &str,
    name: &str,
    labels: &str,
    namespaces: &[&str],
) -> String {
    let mut endpoint = String::new();
    if service && rng.chance(30) {
        // The operator never rejects a targetPort, even one no pod has (0, an unknown name): it
        // only shapes the job's relabelings.
        endpoint += *rng.pick(&[
            "targetPort: 8080",
            "targetPort: metrics",
            "targetPort: 0",
            "targetPort: nonexistent",
        ]);
    } else {
        endpoint += "port: metrics";
    }
    if rng.chance(25) {
        endpoint += *rng.pick(&[
            ", interval: 5s, scrapeTimeout: 10s",
            ", interval: 10s, scrapeTimeout: 5s",
            ", scrapeTimeout: 1m",
            ", scrapeTimeout: 15s",
            ", scrapeTimeout: 10s",
        ]);
    }
    for (field, rules) in random_relabelings(rng) {
        endpoint += &format!(", {field}: {rules}");
    }
    // Files of the scraper's pod: only ServiceMonitors have these fields.
    if service && rng.chance(25) {
        endpoint += *rng.pick(&[
            ", bearerTokenFile: /var/run/secrets/token",
            ", bearerTokenFile: ''",
            ", tlsConfig: {caFile: /etc/ca.crt}",
            ", tlsConfig: {caFile: ''}",
            ", tlsConfig: {certFile: /etc/tls.crt, keyFile: /etc/tls.key}",
            ", tlsConfig: {insecureSkipVerify: true}",
            ", bearerTokenFile: /var/run/secrets/token, tlsConfig: {caFile: /etc/ca.crt}",
        ]);
    } else if rng.chance(5) {
        endpoint += ", tlsConfig: {insecureSkipVerify: true}";
    }
    if rng.chance(8) {
        endpoint += *rng.pick(&[
            ", basicAuth: {username: {name: auth, key: user}}, bearerTokenSecret: {name: auth, key: token}",
            ", authorization: {credentials: {name: auth, key: token}}, basicAuth: {username: {name: auth, key: user}}",
        ]);
    }
    let mut spec = String::new();
    match rng.below(6) {
        0 => spec += "  namespaceSelector: {any: true}\n",
        1 => {
            spec += &format!(
                "  namespaceSelector: {{matchNames: [{}]}}\n",
                rng.subset(namespaces, 1, 2).join(", ")
            )
        }
        2 => spec += "  namespaceSelector: {any: false}\n",
        _ => {}
    }
    if rng.chance(30) {
        spec += &format!("  scrapeClass: {}\n", rng.pick(&["a", "b", "undefined"]));
    }
    if rng.chance(15) {
        spec += &format!(
            "  selectorMechanism: {}\n",
            rng.pick(&["RoleSelector", "RelabelConfig"])
        );
    }
    if rng.chance(30) {
        // Its own attachMetadata wins over its scrape class's, even without `node`.
        spec += *rng.pick(&[
            "  attachMetadata: {node: true}\n",
            "  attachMetadata: {node: true}\n",
            "  attachMetadata: {node: false}\n",
            "  attachMetadata: {}\n",
        ]);
    }
    let (kind, list, target) = if service {
        ("ServiceMonitor", "endpoints", "app: api")
    } else {
        ("PodMonitor", "podMetricsEndpoints", "app: api")
    };
    format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: {kind}
metadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}
spec:
  selector: {{matchLabels: {{{target}}}}}
  {list}: [{{{endpoint}}}]
{spec}"#
    )
}

/// Random `relabelings` and `metricRelabelings` fields (name, flow-style list), valid or not: bad
/// regexes, a hashmod without modulus, capitalised actions, actions newer than some Prometheus
/// versions, a `$` reference in a target label.
fn random_relabelings(rng: &mut common::rng::Rng) -> Vec<(&'static str, String)> {
    let rule = |rng: &mut common::rng::Rng| {
        *rng.pick(&[
            "{action: keep, sourceLabels: [__meta_kubernetes_pod_name], regex: 'a('}",
            "{action: keep, sourceLabels: [__meta_kubernetes_pod_name], regex: 'api-.*'}",
            "{action: hashmod, sourceLabels: [__address__], targetLabel: __tmp_hash}",
            "{action: hashmod, sourceLabels: [__address__], targetLabel: __tmp_hash, modulus: 2}",
            "{action: Replace, sourceLabels: [__meta_kubernetes_pod_name], targetLabel: pod_name}",
            "{action: labelmap, regex: '__meta_kubernetes_pod_label_(.+)'}",
            "{action: lowercase, sourceLabels: [__meta_kubernetes_pod_name], targetLabel: lower}",
            "{action: replace, sourceLabels: [__meta_kubernetes_pod_name], targetLabel: '${1}x'}",
            "{action: labeldrop, regex: '[z'}",
            "{action: replace, targetLabel: __tmp_disable_sharding, replacement: 'true'}",
            "{action: replace, sourceLabels: [__meta_kubernetes_pod_name], targetLabel: __tmp_hash}",
            "{action: replace, sourceLabels: [__address__], regex: '(.+):\\d+', targetLabel: __address__, replacement: '$1:9100'}",
            // Node metadata (attachMetadata.node, or topology sharding, attaches it).
            "{action: keep, sourceLabels: [__meta_kubernetes_node_label_topology_kubernetes_io_zone], regex: 'za|'}",
            "{action: replace, sourceLabels: [__meta_kubernetes_node_name], targetLabel: __tmp_topology}",
            // The Node's annotations come with its labels.
            "{action: keep, sourceLabels: [__meta_kubernetes_node_annotationpresent_rack], regex: 'true'}",
            "{action: replace, sourceLabels: [__meta_kubernetes_node_annotation_rack], targetLabel: rack}",
        ])
    };
    let mut out = Vec::new();
    for field in ["relabelings", "metricRelabelings"] {
        if rng.chance(if field == "relabelings" { 30 } else { 15 }) {
            let rules: Vec<&str> = (0..rng.range(1, 2)).map(|_| rule(rng)).collect();
            out.push((field, format!("[{}]", rules.join(", "))));
        }
    }
    out
}

/// A random ScrapeConfig (monitoring.coreos.com/v1alpha1), valid or not as prometheus-operator v0.91
/// judges it (the API server's schema accepts all of them): static configs with label names valid in
/// one label-name scheme or none, HTTP SD URLs Go's `net/url` refuses, Kubernetes SD configs with
/// roles and selector roles that do not go together, `EndpointSlice` (2.21+), `apiServer` with
/// `ownNamespace`; a TLS configuration with a cert but no key, a key but no cert, a CA from a Secret
/// and a ConfigMap, versions the wrong way round; relabelings; a scrape timeout longer than the
/// interval; a scrape class defined or not. No reference to a Secret is ever read by the operator
/// (authentication, a TLS CA or cert with its key): scrapepath holds no Secret to judge those.
fn random_scrape_config(rng: &mut common::rng::Rng, ns: &str, name: &str, labels: &str) -> String {
    let mut spec = String::new();
    if rng.chance(50) {
        spec += &format!(
            "  staticConfigs: [{{targets: ['10.0.0.1:8080']{}}}]\n",
            rng.pick(&[
                "",
                ", labels: {env: prod}",
                ", labels: {'1bad': x}",
                ", labels: {'a.b': x}",
                ", labels: {__tmp: x, env: prod}",
            ])
        );
    }
    if rng.chance(35) {
        spec += &format!(
            "  httpSDConfigs: [{{url: '{}'}}]\n",
            rng.pick(&[
                "http://sd.example:8080/targets",
                "https://sd.example/t?x=%zz",
                "http://sd.example/a%2Fb",
                "http://%zz/",
                "http://sd.example:port/",
                "http://[::1/targets",
                "http://sd example/",
            ])
        );
    }
    if rng.chance(40) {
        spec += &format!(
            "  kubernetesSDConfigs: [{}]\n",
            rng.pick(&[
                "{role: Pod}",
                "{role: EndpointSlice}",
                "{role: Pod, apiServer: 'https://k8s.example', namespaces: {ownNamespace: true}}",
                "{role: Pod, apiServer: 'https://k8s.example', namespaces: {names: [a]}}",
                "{role: Pod, namespaces: {ownNamespace: true}}",
                "{role: Pod, namespaces: {names: [NS]}}",
                "{role: EndpointSlice, namespaces: {names: [NS], ownNamespace: true}}",
                "{role: Endpoints}",
                "{role: Endpoints, selectors: [{role: Pod, label: 'app=api'}]}",
                "{role: EndpointSlice, selectors: [{role: Service, field: 'metadata.name=api'}]}",
                "{role: Pod, selectors: [{role: Service, label: 'app=api'}]}",
                "{role: Node, selectors: [{role: Pod}]}",
            ])
        );
    }
    if rng.chance(25) {
        spec += &format!(
            "  tlsConfig: {}\n",
            rng.pick(&[
                "{insecureSkipVerify: true}",
                "{serverName: api.example}",
                "{minVersion: TLS12, maxVersion: TLS13}",
                "{minVersion: TLS13, maxVersion: TLS12}",
                "{cert: {secret: {name: tls, key: crt}}}",
                "{keySecret: {name: tls, key: key}}",
                "{ca: {secret: {name: tls, key: ca}, configMap: {name: tls, key: ca}}}",
            ])
        );
    }
    if rng.chance(25) {
        spec += *rng.pick(&[
            "  scrapeInterval: 5s\n  scrapeTimeout: 10s\n",
            "  scrapeInterval: 10s\n  scrapeTimeout: 5s\n",
            "  scrapeTimeout: 1m\n",
            "  scrapeTimeout: 15s\n",
        ]);
    }
    for (field, rules) in random_relabelings(rng) {
        spec += &format!("  {field}: {rules}\n");
    }
    if rng.chance(30) {
        spec += &format!("  scrapeClass: {}\n", rng.pick(&["a", "b", "undefined"]));
    }
    if rng.chance(25) {
        spec += *rng.pick(&[
            "  metricsPath: /stats\n",
            "  scheme: HTTPS\n",
            "  jobName: custom\n",
            "  honorLabels: true\n",
        ]);
    }
    if spec.is_empty() {
        spec += "  staticConfigs: [{targets: ['10.0.0.2:9090']}]\n";
    }
    format!(
        "apiVersion: monitoring.coreos.com/v1alpha1\nkind: ScrapeConfig\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}\nspec:\n{}",
        spec.replace("[NS]", &format!("[{ns}]"))
    )
}

/// A random Probe (monitoring.coreos.com/v1), valid or not as prometheus-operator v0.91's `checkProbe`
/// judges it (the API server's schema accepts all of them): a prober URL that is `host`, `host:port`, a
/// pod IP, or a URL with a scheme or a bad port (rejected); static targets (Service names, pod IPs,
/// hostnames, URLs with paths) with labels and relabelings that move `__param_target`, `__tmp_hash` and
/// `__tmp_disable_sharding`, or ingress targets (selector, namespace selector); a targets section with
/// neither (rejected); module, params, prober scheme and path, jobName; a scrape timeout longer than the
/// interval; a scrape class defined or not; metric relabelings valid or not.
fn random_probe(rng: &mut common::rng::Rng, ns: &str, name: &str, labels: &str) -> String {
    let mut spec = String::new();
    spec += &format!(
        "  prober: {{url: '{}'{}{}}}\n",
        rng.pick(&[
            "blackbox.NS.svc:9115",
            "blackbox.NS.svc:9115",
            "blackbox",
            "10.0.0.9:9115",
            "http://blackbox:9115",
            "blackbox:0",
            "blackbox:port",
            "[::1]:9115",
        ]),
        rng.pick(&["", "", ", scheme: http", ", scheme: https"]),
        rng.pick(&["", "", ", path: /probe", ", path: /custom"]),
    );
    if rng.chance(60) {
        spec += &format!("  module: {}\n", rng.pick(&["http_2xx", "tcp_connect"]));
    }
    if rng.chance(20) {
        spec += *rng.pick(&[
            "  params: [{name: module, values: [icmp]}]\n",
            "  params: [{name: debug, values: ['true']}]\n",
        ]);
    }
    if rng.chance(25) {
        spec += &format!("  jobName: {}\n", rng.pick(&["health", "blackbox"]));
    }
    let relabel = |rng: &mut common::rng::Rng| {
        *rng.pick(&[
            "{action: keep, sourceLabels: [__param_target], regex: '.*svc.*'}",
            "{action: drop, sourceLabels: [team], regex: b}",
            "{action: replace, sourceLabels: [__param_target], targetLabel: __tmp_hash}",
            "{action: replace, targetLabel: __tmp_disable_sharding, replacement: 'true'}",
            "{action: replace, sourceLabels: [__param_target], regex: '(.+)', targetLabel: __param_target, replacement: 'http://${1}/x'}",
            "{action: replace, targetLabel: __address__, replacement: 'other-prober:9115'}",
            "{action: keep, sourceLabels: [__param_target], regex: 'a('}",
            "{action: lowercase, sourceLabels: [__param_target], targetLabel: lower}",
            "{action: replace, sourceLabels: [instance], targetLabel: '${1}x'}",
        ])
    };
    match rng.below(10) {
        0 => spec += "  targets: {}\n",
        1 | 2 => {
            let mut ing = format!(
                "selector: {}",
                rng.pick(&[
                    "{matchLabels: {app: web}}",
                    "{matchLabels: {app: api}}",
                    "{matchExpressions: [{key: app, operator: In, values: [web, api]}]}",
                    "{matchExpressions: [{key: app, operator: NotIn, values: [web]}]}",
                    "{matchExpressions: [{key: app, operator: Exists}]}",
                    "{}",
                ])
            );
            if rng.chance(50) {
                ing += *rng.pick(&[
                    ", namespaceSelector: {any: true}",
                    ", namespaceSelector: {matchNames: [NS]}",
                ]);
            }
            if rng.chance(40) {
                ing += &format!(", relabelingConfigs: [{}]", relabel(rng));
            } else if rng.chance(40) {
                // Rules on the meta labels of role ingress.
                ing += *rng.pick(&[
                    ", relabelingConfigs: [{action: keep, sourceLabels: [__meta_kubernetes_ingress_scheme], regex: https}]",
                    ", relabelingConfigs: [{action: drop, sourceLabels: [__meta_kubernetes_ingress_path], regex: '/'}]",
                    ", relabelingConfigs: [{action: replace, sourceLabels: [__meta_kubernetes_ingress_annotation_owner], targetLabel: owner}]",
                    ", relabelingConfigs: [{action: replace, sourceLabels: [__meta_kubernetes_ingress_class_name, __meta_kubernetes_ingress_host], targetLabel: __tmp_hash}]",
                    ", relabelingConfigs: [{action: labelmap, regex: '__meta_kubernetes_ingress_label_(.+)'}]",
                ]);
            }
            spec += &format!("  targets: {{ingress: {{{ing}}}}}\n");
        }
        _ => {
            let all = [
                "api.NS.svc:8080",
                "http://api.NS.svc.cluster.local:8080/healthz",
                "10.0.0.1:8080",
                "https://example.com",
                "web.NS:9090",
                "tcp.example.org:443",
            ];
            let targets: Vec<String> = rng
                .subset(&all, 1, 4)
                .iter()
                .map(|t| format!("'{t}'"))
                .collect();
            let mut st = format!("static: [{}]", targets.join(", "));
            if rng.chance(50) {
                st += *rng.pick(&[
                    ", labels: {team: a}",
                    ", labels: {team: b, env: prod}",
                    ", labels: {namespace: elsewhere}",
                ]);
            }
            if rng.chance(45) {
                let rules: Vec<&str> = (0..rng.range(1, 2)).map(|_| relabel(rng)).collect();
                st += &format!(", relabelingConfigs: [{}]", rules.join(", "));
            }
            spec += &format!("  targets: {{staticConfig: {{{st}}}}}\n");
        }
    }
    if rng.chance(25) {
        spec += *rng.pick(&[
            "  interval: 5s\n  scrapeTimeout: 10s\n",
            "  interval: 10s\n  scrapeTimeout: 5s\n",
            "  scrapeTimeout: 1m\n",
            "  interval: 15s\n",
        ]);
    }
    if rng.chance(15) {
        spec += *rng.pick(&[
            "  metricRelabelings: [{action: drop, sourceLabels: [__name__], regex: 'probe_dns_.*'}]\n",
            "  metricRelabelings: [{action: labeldrop, regex: '[z'}]\n",
        ]);
    }
    if rng.chance(25) {
        spec += &format!("  scrapeClass: {}\n", rng.pick(&["a", "b", "undefined"]));
    }
    format!(
        "apiVersion: monitoring.coreos.com/v1\nkind: Probe\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}\nspec:\n{}",
        spec.replace("NS", ns)
    )
}

fn namespace(name: &str, labels: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_operator_configures_exactly_the_monitors_scrapepath_calls_selected() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let mon = env.namespace("promop-mon").await;
    let obs = env.namespace("promop-obs").await;
    let other = env.namespace("promop-other").await;

    // The world, as YAML: applied to the API server, and loaded into scrapepath's index as is.
    let test_label = "scrapepath.io/test-namespace: \"true\"";
    let mut world = String::new();
    world += &namespace(&mon, test_label);
    world += "---\n";
    world += &namespace(&obs, &format!("{test_label}, team: obs"));
    world += "---\n";
    world += &namespace(&other, test_label);
    world += "---\n";
    world += &prometheus(&mon);
    // (namespace, name, labels)
    let monitors = [
        (obs.as_str(), "with-release", "release: prom"),
        (obs.as_str(), "without-release", "app: api"),
        (obs.as_str(), "other-release", "release: other"),
        (other.as_str(), "elsewhere", "release: prom"),
        (mon.as_str(), "own-namespace", "release: prom"),
    ];
    for (ns, name, labels) in monitors {
        world += "---\n";
        world += &pod_monitor(ns, name, labels);
    }
    apply_yaml(&client, &world).await;

    // scrapepath's verdicts on the same objects.
    let mut idx = scrapepath::index::ClusterIndex::new();
    let mut stats = scrapepath::load::LoadStats::default();
    for o in scrapepath::load::parse_text(Path::new("world.yaml"), &world, &mut stats).unwrap() {
        idx.apply(o);
    }
    let p = idx
        .prometheuses()
        .next()
        .expect("the Prometheus is indexed");
    let verdicts: BTreeMap<String, bool> = idx
        .monitors()
        .map(|m| {
            (
                format!("podMonitor/{}/{}/0", m.namespace, m.name),
                scrapepath::promop::selects(p, m, &idx).is_ok(),
            )
        })
        .collect();
    assert_eq!(verdicts.len(), monitors.len(), "{verdicts:?}");

    let mut operator = Operator::start(env, &[&mon, &obs, &other]);
    let config = eventually(
        "the operator's generated configuration with every selected monitor",
        Duration::from_secs(90),
        || {
            operator.assert_running();
            let client = client.clone();
            let mon = mon.clone();
            async move {
                let config = generated_config(&client, &mon, "k8s")
                    .await
                    .ok_or_else(|| "no Secret prometheus-k8s yet".to_string())?;
                // The operator writes the configuration as it learns the monitors: wait until it
                // holds at least the selected ones of the first resync.
                let jobs = job_names(&config);
                if jobs.is_empty() {
                    return Err("no scrape job yet".into());
                }
                Ok(config)
            }
        },
    )
    .await;
    // Another resync must not change it (every monitor was in the API server before the operator).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let config_again = generated_config(&client, &mon, "k8s").await.unwrap();
    assert_eq!(job_names(&config), job_names(&config_again));

    let operator_selected: BTreeMap<String, bool> = verdicts
        .keys()
        .map(|job| (job.clone(), job_names(&config).contains(job)))
        .collect();
    assert_eq!(
        operator_selected,
        verdicts,
        "left: in the operator's configuration; right: scrapepath's MonitorSelected verdict\n\
         jobs: {:?}\noperator log:\n{}",
        job_names(&config),
        operator.log()
    );
    // The fixed cases mean what they say.
    assert!(verdicts[&format!("podMonitor/{obs}/with-release/0")]);
    assert!(!verdicts[&format!("podMonitor/{obs}/without-release/0")]);
    assert!(!verdicts[&format!("podMonitor/{other}/elsewhere/0")]);

    // The bindings the operator writes into the monitors' status (StatusForConfigurationResources):
    // a binding to mon/k8s exactly for the selected monitors.
    for (ns, name, _) in monitors {
        let job = format!("podMonitor/{ns}/{name}/0");
        let want = verdicts[&job];
        let bound = eventually(
            &format!("the status bindings of PodMonitor {ns}/{name}"),
            Duration::from_secs(30),
            || {
                let client = client.clone();
                let mon = mon.clone();
                async move {
                    let pm = get(&client, "monitoring.coreos.com/v1", "PodMonitor", ns, name)
                        .await
                        .unwrap();
                    let bindings = pm.data["status"]["bindings"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let bound = bindings.iter().any(|b| {
                        b["namespace"] == mon.as_str()
                            && b["name"] == "k8s"
                            && b["resource"] == "prometheuses"
                    });
                    if bound == want {
                        Ok(bound)
                    } else {
                        Err(format!("{}", pm.data["status"]))
                    }
                }
            },
        )
        .await;
        assert_eq!(bound, want, "{job}");
    }
    drop(operator);
}

/// The YAML of the end-to-end world: the Prometheus `mon/k8s` (PodMonitors labelled `release: prom` from
/// every namespace, 1 s scrapes) and its pod at `prom_ip`; two pods of `app` behind a PodMonitor
/// without `release`, at loopback addresses with listeners behind them; an intent for each, naming the
/// monitor, in Report mode.
fn e2e_world(
    app: &str,
    mon: &str,
    prom_ip: IpAddr,
    prom_port: u16,
    pods: &[(&str, IpAddr, u16)],
) -> String {
    let mut text = format!(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: {mon}}}
spec:
  replicas: 1
  scrapeInterval: 1s
  scrapeTimeout: 1s
  podMonitorSelector: {{matchLabels: {{release: prom}}}}
  podMonitorNamespaceSelector: {{}}
  serviceAccountName: prometheus
---
{prom_pod}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: api, namespace: {app}, labels: {{team: payments}}}}
spec:
  selector: {{matchLabels: {{tier: backend}}}}
  podMetricsEndpoints: [{{port: metrics}}]
"#,
        prom_pod = scraper_pod(mon, prom_ip, prom_port)
    );
    for (name, ip, port) in pods {
        text += &format!(
            r#"
---
{pod}
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: {name}, namespace: {app}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  endpoints: [{{port: metrics}}]
  scraper: {{kind: Prometheus, namespace: {mon}, name: k8s}}
  monitor: {{kind: PodMonitor, ref: {{name: api}}}}
  mode: Report
"#,
            pod = target_pod(
                app,
                &format!("{name}-0"),
                &format!("app: {name}, tier: backend"),
                *ip,
                *port
            )
        );
    }
    text
}

/// The active targets of a Prometheus as (namespace/pod, scrape URL).
fn active_targets(prom: &Prometheus) -> BTreeSet<(String, String)> {
    let body = prom.get("/api/v1/targets?state=active").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let l = &t["discoveredLabels"];
            (
                format!(
                    "{}/{}",
                    l["__meta_kubernetes_namespace"].as_str().unwrap_or("?"),
                    l["__meta_kubernetes_pod_name"].as_str().unwrap_or("?")
                ),
                t["scrapeUrl"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_the_real_operator_leaves_out_is_scraped_once_enforce_adds_its_label() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let app = env.namespace("e2e-app").await;
    let mon = env.namespace("e2e-mon").await;
    let (up_ip, silent_ip) = (IpAddr::V4(loopback_ip()), IpAddr::V4(loopback_ip()));
    let answers = metrics_endpoint_on(up_ip);
    let silent = silent_endpoint_on(silent_ip);
    let pods = [
        ("answers", up_ip, answers.port),
        ("silent", silent_ip, silent.port),
    ];

    // Prometheus first, as in a pod of the operator's StatefulSet (in-cluster Kubernetes SD with the
    // ServiceAccount `mon/prometheus-sd`, the lifecycle API): its address is part of the world below.
    // An empty configuration until the config-reloader writes the operator's.
    let sd = KubeSd::new(env, &mon, &[&app]).await;
    let prom = tokio::task::block_in_place(|| {
        Prometheus::start_in_cluster(
            "global: {scrape_interval: 1s}\n",
            IpAddr::V4(loopback_ip()),
            &sd,
        )
    });
    let world = e2e_world(&app, &mon, prom.addr.ip(), prom.addr.port(), &pods);
    apply_yaml(&client, &world).await;
    let mut operator = Operator::start(env, &[&app, &mon]);

    // The operator's generated configuration (and its Secret's bytes, for the config-reloader).
    let generated = |want_job: Option<String>| {
        let client = client.clone();
        let mon = mon.clone();
        async move {
            let gz = generated_config_gz(&client, &mon, "prometheus-k8s")
                .await
                .ok_or_else(|| "no Secret prometheus-k8s yet".to_string())?;
            let config = parse_config_gz(&gz);
            let jobs = job_names(&config);
            match &want_job {
                Some(job) if !jobs.contains(job) => Err(format!("jobs {jobs:?}")),
                _ => Ok((config, gz)),
            }
        }
    };
    let (config, gz) = eventually(
        "the generated configuration",
        Duration::from_secs(90),
        || {
            operator.assert_running();
            generated(None)
        },
    )
    .await;
    let job = format!("podMonitor/{app}/api/0");
    assert!(
        !job_names(&config).contains(&job),
        "the operator selected the monitor without release: {:?}",
        job_names(&config)
    );
    // The kubelet's part: the Secret's file where the config-reloader watches it; the real
    // config-reloader expands $(POD_NAME) and $(SHARD) and calls Prometheus' /-/reload.
    let loads = prom.loads();
    let reloader = ConfigReloader::start(&prom, "prometheus-k8s-0", 0, &gz);
    let limit = Duration::from_secs(90);
    tokio::task::block_in_place(|| prom.wait_loaded(loads, limit));

    let url = UrlSetting::parse(&format!("{mon}/k8s={}", prom.url)).unwrap();
    let ctl = start_controller_with(
        &client,
        observing(&[&app, &mon], vec![url], Duration::from_secs(5)),
    )
    .await;

    // Report: the monitor is not selected, and Prometheus has no target for the pods.
    let msg = wait_reason(
        &client,
        &app,
        "answers",
        "MonitorSelected",
        ("False", "LabelsMismatch"),
        limit,
    )
    .await;
    assert!(msg.contains("release=prom"), "{msg}");
    let not_discovered = eventually("Scraped of answers", Duration::from_secs(60), || async {
        let si = intent(&client, &app, "answers").await.unwrap();
        match condition(&si, "Scraped") {
            Some((s, r, m)) if s == "False" && r == "NotDiscovered" => Ok(m),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        not_discovered.contains(&format!(
            "{app}/answers-0:{}: no active target",
            answers.port
        )),
        "{not_discovered}"
    );
    assert!(
        active_targets(&prom).is_empty(),
        "{:?}",
        active_targets(&prom)
    );

    // Enforce adds the label; the operator regenerates the configuration with the monitor's job.
    let intents: kube::Api<ScrapeIntent> = kube::Api::namespaced(client.clone(), &app);
    intents
        .patch(
            "answers",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"mode": "Enforce"}})),
        )
        .await
        .unwrap();
    let (_, gz) = eventually(
        "the monitor's job in the generated configuration",
        Duration::from_secs(90),
        || {
            operator.assert_running();
            generated(Some(job.clone()))
        },
    )
    .await;
    let pm = get(
        &client,
        "monitoring.coreos.com/v1",
        "PodMonitor",
        &app,
        "api",
    )
    .await
    .unwrap();
    assert_eq!(pm.metadata.labels.unwrap_or_default()["release"], "prom");
    let loads = prom.loads();
    reloader.mount(&gz);
    tokio::task::block_in_place(|| prom.wait_loaded(loads, limit));
    // The configuration Prometheus runs is the operator's, with the reloader's substitutions only.
    let running = std::fs::read_to_string(prom.config_file()).unwrap();
    assert!(
        !running.contains("$(") && running.contains(&job),
        "{running}\nconfig-reloader log:\n{}",
        reloader.log()
    );

    // The real Prometheus discovers both pods from the API server and scrapes them.
    let up = wait_reason(&client, &app, "answers", "Scraped", ("True", "Up"), limit).await;
    assert_eq!(up, format!("1/1 targets are up in {}", prom.url));
    let down = wait_reason(&client, &app, "silent", "Scraped", ("False", "Down"), limit).await;
    let error = format!(
        "Get \"http://{silent_ip}:{}/metrics\": context deadline exceeded",
        silent.port
    );
    assert!(
        down.contains(&error),
        "{down}\nPrometheus log:\n{}",
        prom.log()
    );
    wait_reason(
        &client,
        &app,
        "answers",
        "MonitorSelected",
        ("True", "Selected"),
        limit,
    )
    .await;

    // The targets scrapepath lists for the monitor are the active targets Prometheus reports: same
    // pods, addresses, paths.
    let world_now = world.replace(
        "labels: {team: payments}",
        "labels: {team: payments, release: prom}",
    );
    assert_listed_targets_are_active(&world_now, &app, "api", &prom, 2).await;

    ctl.stop().await;
    drop((operator, reloader, prom, answers, silent, sd));
}

/// A random label set over a few keys and values (so that selectors often match).
fn random_labels(rng: &mut common::rng::Rng) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for key in ["release", "team", "tier"] {
        if rng.chance(55) {
            out.push((key, *rng.pick(&["a", "b"])));
        }
    }
    out
}

fn flow_labels(labels: &[(&str, &str)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A random label selector field (`name: {...}`), or nothing (a null selector): `{}`, matchLabels,
/// matchExpressions (In, NotIn, Exists, DoesNotExist), or both.
fn random_selector(rng: &mut common::rng::Rng, name: &str) -> String {
    let keys = ["release", "team", "tier"];
    let values = ["a", "b"];
    let match_labels = |rng: &mut common::rng::Rng| {
        let chosen = rng.subset(&keys, 1, 2);
        let pairs: Vec<(&str, &str)> = chosen.iter().map(|k| (*k, *rng.pick(&values))).collect();
        format!("matchLabels: {{{}}}", flow_labels(&pairs))
    };
    let match_expressions = |rng: &mut common::rng::Rng| {
        let n = rng.range(1, 2);
        let exprs: Vec<String> = (0..n)
            .map(|_| {
                let key = rng.pick(&keys);
                match rng.below(4) {
                    0 | 1 => format!(
                        "{{key: {key}, operator: {}, values: [{}]}}",
                        if rng.chance(50) { "In" } else { "NotIn" },
                        rng.subset(&values, 1, 2).join(", ")
                    ),
                    2 => format!("{{key: {key}, operator: Exists}}"),
                    _ => format!("{{key: {key}, operator: DoesNotExist}}"),
                }
            })
            .collect();
        format!("matchExpressions: [{}]", exprs.join(", "))
    };
    match rng.below(10) {
        0 => String::new(),
        1 | 2 => format!("  {name}: {{}}\n"),
        3..=5 => format!("  {name}: {{{}}}\n", match_labels(rng)),
        6 | 7 => format!("  {name}: {{{}}}\n", match_expressions(rng)),
        _ => format!(
            "  {name}: {{{}, {}}}\n",
            match_labels(rng),
            match_expressions(rng)
        ),
    }
}

/// The seed of the random differential: `SCRAPEPATH_DIFF_SEED` (decimal or 0x-hex) or a fixed one.
fn diff_seed() -> u64 {
    match std::env::var("SCRAPEPATH_DIFF_SEED") {
        Ok(s) => {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            }
            .unwrap_or_else(|e| panic!("SCRAPEPATH_DIFF_SEED={s}: {e}"))
        }
        Err(_) => 0x9e0_0913_0002,
    }
}

/// Issue 13 item 2, monitor selection: random Prometheus and PrometheusAgent objects (PodMonitor and
/// ServiceMonitor selectors and namespace selectors null, `{}`, labels, expressions;
/// `ignoreNamespaceSelectors`, `enforcedNamespaceLabel`, `arbitraryFSAccessThroughSMs.deny`,
/// `scrapeInterval`, scrape classes with or without a default) and random PodMonitors and
/// ServiceMonitors (see `random_monitor`) over namespaces with random labels, all reconciled by one
/// real operator; every (workload, monitor) pair must agree: the monitor's job is in the workload's
/// generated configuration exactly when scrapepath's `promop::selects` says selected and
/// `promop::rejections` finds nothing; and the bindings in each monitor's status say selected /
/// rejected (and the field) exactly where scrapepath does. `SCRAPEPATH_PROMOP_PROMETHEUSES` (default 12)
/// and `SCRAPEPATH_PROMOP_MONITORS` (default 24) size the world; `SCRAPEPATH_DIFF_SEED` replays one.
/// The benchmark run: 10 seeds x 32 workloads x 40 monitors (320 random workloads, 12,800 pairs):
/// `for s in $(seq 1 10); do SCRAPEPATH_DIFF_SEED=$s SCRAPEPATH_PROMOP_PROMETHEUSES=32
/// SCRAPEPATH_PROMOP_MONITORS=40 cargo test --test real_prometheus_operator random_prometheus_objects
/// -- --nocapture; done`.
/// ScrapeConfigs (see `random_scrape_config`) are a third of the monitors: selected by the workloads'
/// random `scrapeConfigSelector` and `scrapeConfigNamespaceSelector`, judged by
/// `promop::selects_scrape_config` and `promop::scrape_config_rejections`, compared the same way
/// (job `scrapeConfig/<ns>/<name>`, bindings in the ScrapeConfig's status).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_prometheus_objects_select_the_monitors_scrapepath_says_they_select() {
    use scrapepath::model::{Kind, MonitorKind};
    let count = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .map(|v| {
                v.parse::<usize>()
                    .unwrap_or_else(|e| panic!("{var}={v}: {e}"))
            })
            .unwrap_or(default)
    };
    let (n_prom, n_mon) = (
        count("SCRAPEPATH_PROMOP_PROMETHEUSES", 12),
        count("SCRAPEPATH_PROMOP_MONITORS", 24),
    );
    let seed = diff_seed();
    let mut rng = common::rng::Rng::new(seed);
    let env = TestEnv::shared();
    let client = env.client().await;
    let mut namespaces = Vec::new();
    for i in 0..4 {
        namespaces.push(env.namespace(&format!("promop-diff-{i}")).await);
    }
    let ns_refs: Vec<&str> = namespaces.iter().map(String::as_str).collect();

    let mut world = String::new();
    for ns in &namespaces {
        let mut labels = random_labels(&mut rng);
        labels.push(("scrapepath.io/test-namespace", "\"true\""));
        world += &namespace(ns, &flow_labels(&labels));
        world += "---\n";
    }
    // (kind, namespace, name)
    let mut proms: Vec<(Kind, String, String)> = Vec::new();
    for i in 0..n_prom {
        let ns = rng.pick(&ns_refs[..2]).to_string();
        let agent = rng.chance(35);
        let name = format!("{}{i}", if agent { "a" } else { "p" });
        let mut spec = String::new();
        let pm = random_selector(&mut rng, "podMonitorSelector");
        let sm = random_selector(&mut rng, "serviceMonitorSelector");
        let sc = random_selector(&mut rng, "scrapeConfigSelector");
        let pb = random_selector(&mut rng, "probeSelector");
        // A managed configuration whatever the selectors are (all selectors null would leave a
        // Prometheus' configuration to the user and generate nothing).
        if pm.is_empty() && sm.is_empty() && sc.is_empty() && pb.is_empty() {
            spec += "  probeSelector: {}\n";
        }
        spec += &pm;
        spec += &sm;
        spec += &sc;
        spec += &pb;
        spec += &random_selector(&mut rng, "probeNamespaceSelector");
        spec += &random_selector(&mut rng, "podMonitorNamespaceSelector");
        spec += &random_selector(&mut rng, "serviceMonitorNamespaceSelector");
        spec += &random_selector(&mut rng, "scrapeConfigNamespaceSelector");
        if rng.chance(20) {
            spec += "  ignoreNamespaceSelectors: true\n";
        }
        if rng.chance(25) {
            spec += "  enforcedNamespaceLabel: namespace\n";
            if rng.chance(50) {
                spec += &format!(
                    "  excludedFromEnforcement: [{{namespace: {}, resource: podmonitors}}]\n",
                    rng.pick(&ns_refs)
                );
            }
        }
        if rng.chance(30) {
            spec += "  arbitraryFSAccessThroughSMs: {deny: true}\n";
        }
        // The Prometheus release the relabelings and the selector mechanism are validated against
        // (lowercase needs 2.36, keepequal 2.41, UTF-8 label names 3.0, RoleSelector 2.17).
        if rng.chance(30) {
            spec += &format!(
                "  version: {}\n",
                rng.pick(&["v2.16.0", "v2.30.0", "v2.40.0", "v2.55.0", "v3.5.0"])
            );
        }
        if rng.chance(30) {
            spec += &format!("  scrapeInterval: {}\n", rng.pick(&["10s", "1m"]));
        }
        if rng.chance(30) {
            // ServiceMonitors discovered by EndpointSlice (whose endpoints carry a zone).
            spec += "  serviceDiscoveryRole: EndpointSlice\n";
        }
        if rng.chance(40) {
            let shards = rng.range(2, 3);
            spec += &format!("  shards: {shards}\n");
            // Topology sharding (the operator runs with its feature gate): zones `za`, `zb` (of
            // the target pods' Nodes) and `zc` (of none), at most as many as the shards (the CRD
            // refuses more).
            if rng.chance(50) {
                let zones = rng.subset(&["za", "zb", "zc"], 1, shards);
                spec += &format!(
                    "  shardingStrategy: {{mode: Topology, topology: {{values: [{}]}}}}\n",
                    zones.join(", ")
                );
            }
        }
        if rng.chance(50) {
            // One or two classes, at most one of them the default (two defaults fail the reconcile).
            let names = rng.subset(&["a", "b"], 1, 2);
            let default = rng.below(names.len() as u64 + 1) as usize;
            let classes: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(j, n)| {
                    let mut c = format!("name: {n}");
                    if j == default {
                        c += ", default: true";
                    }
                    if rng.chance(40) {
                        c += ", relabelings: [{action: replace, targetLabel: class, replacement: x}]";
                    }
                    if rng.chance(40) {
                        // Node metadata for the class's monitors that set no attachMetadata.
                        c += *rng.pick(&[
                            ", attachMetadata: {node: true}",
                            ", attachMetadata: {node: false}",
                            ", attachMetadata: {}",
                        ]);
                    }
                    format!("{{{c}}}")
                })
                .collect();
            spec += &format!("  scrapeClasses: [{}]\n", classes.join(", "));
        }
        let (api, kind) = if agent {
            ("monitoring.coreos.com/v1alpha1", "PrometheusAgent")
        } else {
            ("monitoring.coreos.com/v1", "Prometheus")
        };
        world += &format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  replicas: 1\n  serviceAccountName: prometheus\n{spec}---\n"
        );
        proms.push((
            if agent {
                Kind::PrometheusAgent
            } else {
                Kind::Prometheus
            },
            ns,
            name,
        ));
    }
    // (kind, namespace, name): PodMonitors, ServiceMonitors and ScrapeConfigs.
    let mut monitors: Vec<(Kind, String, String)> = Vec::new();
    for i in 0..n_mon {
        let ns = rng.pick(&ns_refs).to_string();
        let labels = flow_labels(&random_labels(&mut rng));
        let kind = *rng.pick(&[
            Kind::PodMonitor,
            Kind::ServiceMonitor,
            Kind::ScrapeConfig,
            Kind::Probe,
        ]);
        let name = match kind {
            Kind::ServiceMonitor => format!("s{i}"),
            Kind::ScrapeConfig => format!("c{i}"),
            Kind::Probe => format!("b{i}"),
            _ => format!("m{i}"),
        };
        world += &match kind {
            Kind::ScrapeConfig => random_scrape_config(&mut rng, &ns, &name, &labels),
            Kind::Probe => random_probe(&mut rng, &ns, &name, &labels),
            _ => random_monitor(
                &mut rng,
                kind == Kind::ServiceMonitor,
                &ns,
                &name,
                &labels,
                &ns_refs,
            ),
        };
        world += "---\n";
        monitors.push((kind, ns, name));
    }
    apply_yaml(&client, &world).await;

    let mut idx = scrapepath::index::ClusterIndex::new();
    let mut stats = scrapepath::load::LoadStats::default();
    for o in scrapepath::load::parse_text(Path::new("world.yaml"), &world, &mut stats).unwrap() {
        idx.apply(o);
    }

    // What the ScrapeConfigs' jobs discover, known to scrapepath only (the operator does not read
    // pods): in each namespace a pod `api` and a pod `web`, the Service `api` with its EndpointSlice
    // and a second one of addresses no pod backs (a node's, naming its Node, and an external one that
    // is not ready: targets of the ServiceMonitors, issue 14 item 3);
    // the static targets' addresses are pods of the first namespace.
    let mut targets_world = String::new();
    // The Nodes the pods run on: two zones, and one Node without a zone label.
    for (node, labels) in [
        ("node-a", "{topology.kubernetes.io/zone: za}"),
        ("node-b", "{topology.kubernetes.io/zone: zb, role: x}"),
        ("node-c", "{role: x}"),
    ] {
        // Annotations: a rack on some Nodes.
        let annotations = *rng.pick(&["{}", "{rack: r1}", "{rack: r2, note: x}"]);
        targets_world += &format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {node}, labels: {labels}, annotations: {annotations}}}\n---\n"
        );
    }
    let nodes = ["node-a", "node-b", "node-c"];
    for (i, ns) in namespaces.iter().enumerate() {
        let (api_node, web_node) = (*rng.pick(&nodes), *rng.pick(&nodes));
        // The slice's endpoint: the node and zone the EndpointSlice controller writes, or none
        // (a hand-written slice), or a zone that is not its node's (it decides role EndpointSlice).
        let slice_topology = match rng.below(3) {
            0 => {
                let zone = match api_node {
                    "node-a" => ", zone: za",
                    "node-b" => ", zone: zb",
                    _ => "",
                };
                format!(", nodeName: {api_node}{zone}")
            }
            1 => String::new(),
            _ => {
                let other: &[&str] = match api_node {
                    "node-a" => &["zb", "zc"],
                    "node-b" => &["za", "zc"],
                    _ => &["za", "zb"],
                };
                format!(", nodeName: {api_node}, zone: {}", rng.pick(other))
            }
        };
        let (api_ip, web_ip) = if i == 0 {
            ("10.0.0.1".to_string(), "10.0.0.2".to_string())
        } else {
            (format!("10.1.{i}.1"), format!("10.1.{i}.2"))
        };
        targets_world += &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: api-{i}, namespace: {ns}, labels: {{app: api}}}}\n\
             spec: {{nodeName: {api_node}, containers: [{{name: main, ports: [{{name: metrics, containerPort: 8080}}]}}]}}\n\
             status: {{podIP: {api_ip}, phase: Running}}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {{name: web-{i}, namespace: {ns}, labels: {{app: web}}}}\n\
             spec: {{nodeName: {web_node}, containers: [{{name: main, ports: [{{name: http, containerPort: 9090}}]}}]}}\n\
             status: {{podIP: {web_ip}, phase: Running}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: api, namespace: {ns}, labels: {{app: api}}}}\n\
             spec: {{selector: {{app: api}}, ports: [{{name: metrics, port: 8080}}]}}\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: api-1, namespace: {ns}, labels: {{kubernetes.io/service-name: api}}}}\n\
             addressType: IPv4\nports: [{{name: metrics, port: 8080}}]\n\
             endpoints: [{{addresses: [{api_ip}]{slice_topology}, targetRef: {{kind: Pod, name: api-{i}, namespace: {ns}}}}}]\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: api-nodes, namespace: {ns}, labels: {{kubernetes.io/service-name: api}}}}\n\
             addressType: IPv4\nports: [{{name: metrics, port: 8080}}, {{name: https-metrics, port: 10250}}]\n\
             endpoints: [{{addresses: [10.20.{i}.11], nodeName: node-{i}, targetRef: {{kind: Node, name: node-{i}}}}}, \
             {{addresses: [203.0.113.{}], conditions: {{ready: false}}}}]\n---\n",
            i + 10
        );
    }
    // The Ingresses the Probes' ingress targets discover (Kubernetes SD role ingress, scrapepath's
    // only): in each namespace one to three, labelled app web or api or neither, with a class or not,
    // TLS for their host, for a `*.` pattern of it or for none, rules of one or two paths (an empty
    // path too), a rule without `http`, and sometimes a rule without host.
    for ns in &namespaces {
        for j in 0..rng.range(1, 3) {
            let app = *rng.pick(&["web", "api", "none"]);
            let host = format!("{app}{j}.{ns}.example");
            let class = *rng.pick(&["", "", "ingressClassName: nginx, "]);
            let tls = match rng.below(3) {
                0 => format!("tls: [{{hosts: ['{host}']}}], "),
                1 => format!("tls: [{{hosts: ['*.{ns}.example', other.example]}}], "),
                _ => String::new(),
            };
            let backend = "backend: {service: {name: api, port: {number: 8080}}}";
            let mut rules = vec![format!(
                "{{host: '{host}', http: {{paths: [{}]}}}}",
                rng.subset(&["/healthz", "/", "/v1/ready", ""], 1, 2)
                    .iter()
                    .map(|p| if p.is_empty() {
                        format!("{{pathType: ImplementationSpecific, {backend}}}")
                    } else {
                        format!("{{path: '{p}', pathType: Prefix, {backend}}}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )];
            if rng.chance(40) {
                rules.push(format!("{{host: 'www.{host}'}}"));
            }
            if rng.chance(20) {
                rules.push(format!(
                    "{{http: {{paths: [{{path: /x, pathType: Prefix, {backend}}}]}}}}"
                ));
            }
            targets_world += &format!(
                "apiVersion: networking.k8s.io/v1\nkind: Ingress\n\
                 metadata: {{name: ing-{j}, namespace: {ns}, labels: {{app: {app}}}, annotations: {{owner: team-{j}}}}}\n\
                 spec: {{{class}{tls}rules: [{}]}}\n---\n",
                rules.join(", ")
            );
        }
    }
    for o in
        scrapepath::load::parse_text(Path::new("targets.yaml"), &targets_world, &mut stats).unwrap()
    {
        idx.apply(o);
    }
    // The targets of each ScrapeConfig job the operator generated, against those scrapepath's own
    // generation of the job yields (`promop::scrape_config_job`), both discovered on the same pods.
    let (mut sc_jobs, mut sc_targets) = (0usize, 0usize);
    let mut job_disagreements = Vec::new();
    // Which targets each selected job keeps, and on which shard: the operator's job (with `$(SHARD)`
    // expanded per shard when the workload has shards) against scrapepath's targets (`promop::targets`,
    // or the ScrapeConfig's job) and their `ShardKey`.
    let (mut sharded_jobs, mut sharded_of_sharded, mut sharded_targets) = (0usize, 0usize, 0usize);
    // Of those, jobs of topology-sharded workloads, and their targets no shard keeps; the targets at
    // addresses no pod backs (a ServiceMonitor's node and external endpoints).
    let (mut topology_jobs, mut topology_unowned) = (0usize, 0usize);
    // Jobs the operator generated with role endpointslice: only when the API server reports a
    // Kubernetes version it parses as 1.21 or newer (the harness sets it at build time).
    let mut slice_jobs = 0usize;
    let mut address_targets = 0usize;
    let mut shard_disagreements = Vec::new();

    let mut operator = Operator::start(env, &ns_refs);
    let (mut compared, mut selected, mut rejections) = (0, 0, 0);
    // Of those, the ScrapeConfig pairs: (selected by the operator, rejected by scrapepath).
    let (mut sc_selected, mut sc_rejected) = (0, 0);
    // The Probe pairs likewise, and each selected Probe's job against scrapepath's (`promop::probe_job`):
    // its targets and the shard that keeps each.
    let (mut pr_selected, mut pr_rejected) = (0, 0);
    let (mut pr_jobs, mut pr_targets, mut pr_sharded) = (0usize, 0usize, 0usize);
    // Of the Probe jobs, those of ingress targets, and their targets.
    let (mut pr_ingress_jobs, mut pr_ingress_targets) = (0usize, 0usize);
    let mut probe_disagreements = Vec::new();
    type Pair = (String, String);
    let mut ours_by_pair: BTreeMap<Pair, BTreeMap<Pair, Result<(), String>>> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let job_of = |kind: Kind, ns: &str, name: &str| match kind {
        Kind::ScrapeConfig => format!("scrapeConfig/{ns}/{name}"),
        Kind::Probe => format!("probe/{ns}/{name}"),
        Kind::ServiceMonitor => format!("serviceMonitor/{ns}/{name}/0"),
        _ => format!("podMonitor/{ns}/{name}/0"),
    };
    // scrapepath's verdict: selected by the selectors, and not rejected (A6); the rejections in the
    // operator's order.
    let judge = |p: &scrapepath::model::PromWorkload, kind: Kind, ns: &str, name: &str| {
        if kind == Kind::ScrapeConfig {
            let sc = idx.scrape_config(ns, name).unwrap();
            scrapepath::promop::selects_scrape_config(p, sc, &idx)
                .map_err(|e| e.message_for(p, kind, ns, name))
                .map(|()| scrapepath::promop::scrape_config_rejections(p, sc))
        } else if kind == Kind::Probe {
            let pr = idx.probe(ns, name).unwrap();
            scrapepath::promop::selects_probe(p, pr, &idx)
                .map_err(|e| e.message_for(p, kind, ns, name))
                .map(|()| scrapepath::promop::probe_rejections(p, pr))
        } else {
            let m = idx
                .monitor(MonitorKind::of(kind).unwrap(), ns, name)
                .unwrap();
            scrapepath::promop::selects(p, m, &idx)
                .map_err(|e| e.message(p, m))
                .map(|()| scrapepath::promop::rejections(p, m))
        }
    };
    // A workload is named in bindings and maps by its resource and name.
    let resource = |kind: Kind| match kind {
        Kind::PrometheusAgent => "prometheusagents",
        _ => "prometheuses",
    };
    for (pkind, pns, pname) in &proms {
        // prometheus-operator names the Secret `prometheus-<name>`, or `prom-agent-<name>` for an agent.
        let secret_name = match pkind {
            Kind::PrometheusAgent => format!("prom-agent-{pname}"),
            _ => format!("prometheus-{pname}"),
        };
        let config = eventually(
            &format!("the generated configuration of {pkind} {pns}/{pname}"),
            Duration::from_secs(120),
            || {
                operator.assert_running();
                let client = client.clone();
                let secret_name = secret_name.clone();
                async move {
                    generated_config_named(&client, pns, &secret_name)
                        .await
                        .ok_or_else(|| format!("no Secret for {secret_name} yet"))
                }
            },
        )
        .await;
        let jobs = job_names(&config);
        let p = idx
            .prometheuses()
            .find(|p| p.kind == *pkind && &p.namespace == pns && &p.name == pname)
            .unwrap();
        for (mkind, mns, mname) in &monitors {
            let ours = judge(p, *mkind, mns, mname).and_then(|rejected| {
                if rejected.is_empty() {
                    Ok(())
                } else {
                    rejections += 1;
                    Err(format!("rejected: {}", rejected.join("; ")))
                }
            });
            let theirs = jobs.contains(&job_of(*mkind, mns, mname));
            compared += 1;
            selected += usize::from(theirs);
            if *mkind == Kind::ScrapeConfig {
                sc_selected += usize::from(theirs);
                sc_rejected += usize::from(matches!(&ours, Err(e) if e.starts_with("rejected: ")));
            }
            if *mkind == Kind::Probe {
                pr_selected += usize::from(theirs);
                pr_rejected += usize::from(matches!(&ours, Err(e) if e.starts_with("rejected: ")));
                if theirs && ours.is_ok() {
                    let pr = idx.probe(mns, mname).unwrap();
                    let job_name = job_of(*mkind, mns, mname);
                    match compare_probe_job(&config, &job_name, p, pr, &idx) {
                        Ok((n, ingress)) => {
                            pr_jobs += 1;
                            pr_targets += n;
                            if pr.static_config.is_none() && pr.ingress.is_some() {
                                pr_ingress_jobs += 1;
                                pr_ingress_targets += ingress;
                            }
                            pr_sharded += usize::from(p.shards > 1);
                        }
                        Err(e) => probe_disagreements.push(format!(
                            "{pkind} {pns}/{pname} ({} shards) {job_name}: {e}",
                            p.shards
                        )),
                    }
                }
            }
            // (A sharded workload's jobs are compared shard by shard below.)
            if *mkind == Kind::ScrapeConfig && theirs && ours.is_ok() && p.shards <= 1 {
                let sc = idx.scrape_config(mns, mname).unwrap();
                let job_name = job_of(*mkind, mns, mname);
                match compare_scrape_config_job(&config, &job_name, p, sc, &idx) {
                    Ok(n) => {
                        sc_jobs += 1;
                        sc_targets += n;
                    }
                    Err(e) => {
                        job_disagreements.push(format!("{pkind} {pns}/{pname} {job_name}: {e}"))
                    }
                }
            }
            // (A Probe's targets and shards are compared above, by probed target.)
            if theirs && ours.is_ok() && *mkind != Kind::Probe {
                let job_name = job_of(*mkind, mns, mname);
                match compare_shards(&config, &job_name, p, *mkind, mns, mname, &idx) {
                    Ok((n, unowned, at_addresses)) => {
                        sharded_jobs += 1;
                        slice_jobs +=
                            usize::from(generated_job(&config, &job_name).is_ok_and(|j| {
                                j["kubernetes_sd_configs"][0]["role"] == "endpointslice"
                            }));
                        sharded_of_sharded += usize::from(p.shards > 1);
                        sharded_targets += n;
                        address_targets += at_addresses;
                        if !p.topology_zones.is_empty() {
                            topology_jobs += 1;
                            topology_unowned += unowned;
                        }
                    }
                    Err(e) => shard_disagreements.push(format!(
                        "{pkind} {pns}/{pname} ({} shards) {job_name}: {e}",
                        p.shards
                    )),
                }
            }
            if ours.is_ok() != theirs {
                disagreements.push(format!(
                    "{pkind} {pns}/{pname} {mkind} {mns}/{mname}: operator {}, scrapepath {ours:?}",
                    if theirs { "selects" } else { "does not select" },
                ));
            }
            ours_by_pair
                .entry((format!("{}/{pns}", resource(*pkind)), pname.clone()))
                .or_default()
                .insert((format!("{mkind:?}/{mns}"), mname.clone()), ours);
        }
    }
    // The verdicts with their third value, from the bindings the operator writes into each monitor's
    // status: no binding to a workload (not selected), `Accepted` True (selected) or False with reason
    // `InvalidConfiguration` (rejected, and why). Written asynchronously: polled until they agree or
    // 60 s passed.
    // A rejection is compared with its cause, as the field it names: the operator stops at the first
    // problem, scrapepath lists them all in the operator's order.
    fn cause(message: &str) -> &'static str {
        let lower = message.to_ascii_lowercase();
        if message.contains("staticConfigs") {
            "rejected (static config)"
        } else if message.contains("httpSDConfigs") {
            "rejected (HTTP SD)"
        } else if message.contains("kubernetesSDConfigs") {
            "rejected (Kubernetes SD)"
        } else if message.contains("SDConfigs") {
            "rejected (SD version gate)"
        } else if message.contains("selectorMechanism") {
            "rejected (selector mechanism)"
        } else if message.contains("scrapeClass") {
            "rejected (scrape class)"
        } else if message.contains("scrapeTimeout") {
            "rejected (scrape timeout)"
        } else if lower.contains("relabel") {
            "rejected (relabeling)"
        } else if lower.contains("at the same time") || lower.contains("at most one of") {
            "rejected (two authentication methods)"
        } else if lower.contains("bearer") {
            "rejected (bearer token file)"
        } else if lower.contains("tls") {
            "rejected (TLS files)"
        } else {
            "rejected (other)"
        }
    }
    let verdict = |ours: &Result<(), String>| match ours {
        Ok(()) => "selected",
        Err(e) => match e.strip_prefix("rejected: ") {
            Some(first) => cause(first.split("; ").next().unwrap_or_default()),
            None => "not selected",
        },
    };
    let mut expected: BTreeMap<Pair, BTreeMap<Pair, &str>> = BTreeMap::new();
    // prometheus-operator v0.91 writes bindings for Prometheus objects only: its PrometheusAgent
    // controller has the feature gate but never updates a monitor's status. An agent's verdicts are
    // judged by its generated configuration alone (above).
    for (workload, by_monitor) in ours_by_pair
        .iter()
        .filter(|((r, _), _)| r.starts_with("prometheuses/"))
    {
        for (monitor, ours) in by_monitor {
            let v = verdict(ours);
            if v != "not selected" {
                expected
                    .entry(monitor.clone())
                    .or_default()
                    .insert(workload.clone(), v);
            }
        }
    }
    let mut binding_disagreements = Vec::new();
    for (mkind, mns, mname) in &monitors {
        let want = expected
            .get(&(format!("{mkind:?}/{mns}"), mname.clone()))
            .cloned()
            .unwrap_or_default();
        let start = std::time::Instant::now();
        loop {
            let api_version = if *mkind == Kind::ScrapeConfig {
                "monitoring.coreos.com/v1alpha1"
            } else {
                "monitoring.coreos.com/v1"
            };
            let mon = get(&client, api_version, &format!("{mkind:?}"), mns, mname)
                .await
                .unwrap();
            let got: BTreeMap<Pair, &str> = mon.data["status"]["bindings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|b| {
                    let accepted = b["conditions"]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|c| c["type"] == "Accepted"))
                        .cloned()
                        .unwrap_or_default();
                    let v = match (accepted["status"].as_str(), accepted["reason"].as_str()) {
                        (Some("True"), _) => "selected",
                        (Some("False"), Some("InvalidConfiguration")) => {
                            cause(accepted["message"].as_str().unwrap_or_default())
                        }
                        _ => "unknown",
                    };
                    (
                        (
                            format!(
                                "{}/{}",
                                b["resource"].as_str().unwrap_or_default(),
                                b["namespace"].as_str().unwrap_or_default()
                            ),
                            b["name"].as_str().unwrap_or_default().to_string(),
                        ),
                        v,
                    )
                })
                .collect();
            if got == want {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                binding_disagreements.push(format!(
                    "{mkind:?} {mns}/{mname}: operator's bindings {got:?}, scrapepath {want:?}; status {}",
                    mon.data["status"]
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    let agents = proms
        .iter()
        .filter(|(k, _, _)| *k == Kind::PrometheusAgent)
        .count();
    let of_kind = |kind: Kind| monitors.iter().filter(|(k, _, _)| *k == kind).count();
    eprintln!(
        "prometheus-operator differential (seed {seed:#x}): {n_prom} workloads ({agents} PrometheusAgents) x \
         {n_mon} monitors ({} ServiceMonitors, {} ScrapeConfigs): {compared} pairs ({selected} selected by the \
         operator, {rejections} selected but rejected by scrapepath; of the ScrapeConfig pairs \
         {sc_selected} selected, {sc_rejected} rejected), {} agree",
        of_kind(Kind::ServiceMonitor),
        of_kind(Kind::ScrapeConfig),
        compared - disagreements.len()
    );
    eprintln!(
        "ScrapeConfig jobs: {sc_jobs} generated by the operator and by scrapepath, {sc_targets} targets \
         discovered by both, {} jobs disagree",
        job_disagreements.len()
    );
    eprintln!(
        "Probes: {} in the world, {pr_selected} pairs selected by the operator, {pr_rejected} selected but \
         rejected by scrapepath; {pr_jobs} Probe jobs generated by the operator and by scrapepath ({pr_sharded} \
         of sharded workloads), {pr_targets} targets (prober address, __param_target, path, scheme, params, \
         labels, shard) alike ({pr_ingress_jobs} jobs of ingress targets, {pr_ingress_targets} targets \
         discovered from Ingresses), {} jobs disagree",
        of_kind(Kind::Probe),
        probe_disagreements.len()
    );
    eprintln!(
        "targets and shards: {sharded_jobs} selected jobs ({} of sharded workloads, {topology_jobs} of \
         topology-sharded ones, {slice_jobs} discovering by role endpointslice), {sharded_targets} targets ({address_targets} at addresses no pod backs) \
         kept by the same shards in the operator's configuration and in scrapepath ({topology_unowned} more \
         that no shard keeps in either), {} jobs disagree",
        sharded_of_sharded,
        shard_disagreements.len()
    );
    assert!(
        shard_disagreements.is_empty(),
        "{} jobs keep other targets, or on other shards, than the operator's (seed {seed:#x}):\n{}",
        shard_disagreements.len(),
        shard_disagreements.join("\n")
    );
    assert!(
        probe_disagreements.is_empty(),
        "{} Probe jobs yield other targets or shards than the operator's (seed {seed:#x}):\n{}\n\nworld:\n{world}",
        probe_disagreements.len(),
        probe_disagreements.join("\n")
    );
    assert!(
        job_disagreements.is_empty(),
        "{} ScrapeConfig jobs yield other targets than the operator's (seed {seed:#x}):\n{}\n\nworld:\n{world}",
        job_disagreements.len(),
        job_disagreements.join("\n")
    );
    assert!(
        disagreements.is_empty() && binding_disagreements.is_empty(),
        "{} of {compared} pairs disagree on the configuration and {} of {} monitors on their bindings \
         (seed {seed:#x}):\n{}\n{}\n\nworld:\n{world}\noperator log:\n{}",
        disagreements.len(),
        binding_disagreements.len(),
        monitors.len(),
        disagreements.join("\n"),
        binding_disagreements.join("\n"),
        operator.log()
    );
}

/// A generated job (as JSON text) as the config reloader expands it in the pods of `shard`: its
/// `$(SHARD)`, and under topology sharding its zone and its position in the zone.
fn expand_for_shard(
    text: &str,
    sharding: &scrapepath::promop::Sharding,
    shard: u32,
) -> serde_json::Value {
    let zones = sharding.zones.len().max(1) as u32;
    serde_json::from_str(
        &text
            .replace("$(SHARD)", &shard.to_string())
            .replace("$(TOPOLOGY_ZONE)", sharding.zone_of(shard).unwrap_or(""))
            .replace("$(INZONE_SHARD)", &(shard / zones).to_string()),
    )
    .unwrap()
}

/// The job `job_name` of a generated `config`, as JSON.
fn generated_job(
    config: &serde_yaml_ng::Value,
    job_name: &str,
) -> Result<serde_json::Value, String> {
    let raw = config["scrape_configs"]
        .as_sequence()
        .and_then(|jobs| {
            jobs.iter()
                .find(|j| j["job_name"].as_str() == Some(job_name))
        })
        .ok_or("not in the generated configuration")?;
    serde_json::to_value(raw).map_err(|e| e.to_string())
}

/// For a workload `p` and its selected monitor or ScrapeConfig (`kind` `ns/name`), compares which
/// targets are kept and which shard scrapes each (shard 0 without sharding): the operator's job `job_name` with `$(SHARD)` expanded to each
/// shard (as the config reloader does in each shard's pods), discovered on `idx`, against scrapepath's
/// targets and their `ShardKey`. Targets are (pod, port, path), or (address, port, path) for a
/// ServiceMonitor's addresses no pod backs. Returns how many were compared, and how many of them are
/// such addresses.
fn compare_shards(
    config: &serde_yaml_ng::Value,
    job_name: &str,
    p: &scrapepath::model::PromWorkload,
    kind: scrapepath::model::Kind,
    ns: &str,
    name: &str,
    idx: &scrapepath::index::ClusterIndex,
) -> Result<(usize, usize, usize), String> {
    use scrapepath::model::{Kind, MonitorKind};
    use scrapepath::promop::{ShardKey, Sharding};
    use scrapepath::scrapeconfig::{discover, job_from_value};
    type Placed = BTreeMap<(String, u16, String), BTreeSet<u32>>;
    let raw = generated_job(config, job_name)?;
    let global = config["global"]["scrape_interval"]
        .as_str()
        .map(str::to_string);
    let text = raw.to_string();
    let mut theirs: Placed = BTreeMap::new();
    // As the config reloader expands them per shard (topology sharding: the shard's zone and its
    // position in the zone).
    let sharding = Sharding::of(p, true);
    for shard in 0..p.shards {
        let expanded = expand_for_shard(&text, &sharding, shard);
        let job = job_from_value(expanded, global.clone())
            .map_err(|e| format!("the operator's job does not parse: {e}\n{raw:#}"))?;
        for t in discover(&job, idx, &p.namespace).targets {
            // A pod by name; an address no pod backs (a ServiceMonitor's) by its `__address__`.
            let who = match t.pod {
                Some(pod) => idx.pod(pod).name.clone(),
                None if kind == Kind::ServiceMonitor => format!("address {}", t.address),
                None => continue,
            };
            theirs
                .entry((who, t.port, t.path.clone()))
                .or_default()
                .insert(shard);
        }
    }
    let every: BTreeSet<u32> = (0..p.shards).collect();
    let place = |key: &ShardKey| {
        key.shards(&sharding)
            .map_or(every.clone(), |s| s.into_iter().collect())
    };
    let mut ours: Placed = BTreeMap::new();
    if kind == Kind::ScrapeConfig {
        let sc = idx.scrape_config(ns, name).unwrap();
        let job = scrapepath::promop::scrape_config_job(p, sc).map_err(|e| e.to_string())?;
        for t in discover(&job, idx, &p.namespace).targets {
            if let Some(pod) = t.pod {
                let key = ShardKey::of_scrape_config_target(&job, &t.labels);
                ours.entry((idx.pod(pod).name.clone(), t.port, t.path.clone()))
                    .or_default()
                    .extend(place(&key));
            }
        }
    } else {
        let m = idx
            .monitor(MonitorKind::of(kind).unwrap(), ns, name)
            .unwrap();
        let (pods, addresses) = scrapepath::promop::discover_with(Some(p), m, idx, true);
        for t in pods {
            ours.entry((idx.pod(t.pod).name.clone(), t.port, t.path.clone()))
                .or_default()
                .extend(place(&t.shard));
        }
        for t in addresses {
            ours.entry((
                format!("address {}:{}", t.ip, t.port),
                t.port,
                t.path.clone(),
            ))
            .or_default()
            .extend(place(&t.shard));
        }
    }
    // A target no shard keeps (topology sharding, outside every shard's zone) is in no shard's
    // configuration.
    let kept = ours.len();
    ours.retain(|_, shards| !shards.is_empty());
    let unowned = kept - ours.len();
    if theirs != ours {
        return Err(format!(
            "operator's shards {theirs:?}, scrapepath's {ours:?}\noperator's job: {raw:#}"
        ));
    }
    let at_addresses = ours
        .keys()
        .filter(|(w, _, _)| w.starts_with("address "))
        .count();
    Ok((ours.len(), unowned, at_addresses))
}

/// Compares the job `job_name` of the operator's generated `config` with scrapepath's generation of the
/// ScrapeConfig `sc` for `p`: both discovered on `idx`, the same targets (address, scheme, path, pod and
/// every label but `namespace`: the workloads' random `enforcedNamespaceLabel: namespace` adds a rule
/// setting it, which scrapepath does not model as it moves no target) and the same dropped ones. Returns how many targets they share.
fn compare_scrape_config_job(
    config: &serde_yaml_ng::Value,
    job_name: &str,
    p: &scrapepath::model::PromWorkload,
    sc: &scrapepath::model::ScrapeConfigResource,
    idx: &scrapepath::index::ClusterIndex,
) -> Result<usize, String> {
    use scrapepath::scrapeconfig::{discover, job_from_value, Discovery};
    let raw = generated_job(config, job_name)?;
    let global = config["global"]["scrape_interval"]
        .as_str()
        .map(str::to_string);
    let theirs = job_from_value(raw.clone(), global)
        .map_err(|e| format!("the operator's job does not parse: {e}\n{raw:#}"))?;
    let ours = scrapepath::promop::scrape_config_job(p, sc)
        .map_err(|e| format!("scrapepath generates no job: {e}"))?;
    let render = |d: &Discovery| -> Vec<String> {
        let mut out: Vec<String> = d
            .targets
            .iter()
            .map(|t| {
                let labels: Vec<String> = t
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "namespace")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "{}://{}{} pod {:?} {{{}}}",
                    t.scheme,
                    t.address,
                    t.path,
                    t.pod.map(|id| idx.pod(id).name.clone()),
                    labels.join(",")
                )
            })
            .chain(d.dropped.iter().map(|t| format!("dropped {:?}", t.reason)))
            .collect();
        out.sort();
        out
    };
    let (a, b) = (
        render(&discover(&theirs, idx, &p.namespace)),
        render(&discover(&ours, idx, &p.namespace)),
    );
    if a != b {
        return Err(format!(
            "operator's job yields\n  {}\nscrapepath's yields\n  {}\noperator's job: {raw:#}",
            a.join("\n  "),
            b.join("\n  ")
        ));
    }
    Ok(a.iter().filter(|t| !t.starts_with("dropped")).count())
}

/// Compares the job `job_name` of the operator's generated `config` with scrapepath's generation of the
/// Probe `pr` for `p` (`promop::probe_job`): both discovered on `idx`, the same targets (scheme, address =
/// the prober, path, every label but `namespace` and the sharding rules' `__tmp_*`: `__param_target`,
/// `__param_module`, `instance`, `job`, the static labels) and the same dropped ones, each kept by the
/// same shards: the operator's job with `$(SHARD)` expanded per shard, scrapepath's by
/// `ShardKey::of_probe_target`. Returns how many targets they share, and how many of them Kubernetes SD
/// role ingress discovered.
fn compare_probe_job(
    config: &serde_yaml_ng::Value,
    job_name: &str,
    p: &scrapepath::model::PromWorkload,
    pr: &scrapepath::model::ProbeResource,
    idx: &scrapepath::index::ClusterIndex,
) -> Result<(usize, usize), String> {
    use scrapepath::promop::{ShardKey, Sharding};
    use scrapepath::scrapeconfig::{discover, job_from_value, Discovery, Role};
    type Placed = BTreeMap<String, BTreeSet<u32>>;
    let raw = generated_job(config, job_name)?;
    let global = config["global"]["scrape_interval"]
        .as_str()
        .map(str::to_string);
    let render = |d: &Discovery| -> Vec<String> {
        d.targets
            .iter()
            .map(|t| {
                let labels: Vec<String> = t
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "namespace" && !k.starts_with("__tmp_"))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "{}://{}{} {{{}}}",
                    t.scheme,
                    t.address,
                    t.path,
                    labels.join(",")
                )
            })
            .collect()
    };
    // A dropped target by its address, and its path where role ingress discovered it (the paths of
    // one Ingress rule share its host as address).
    let dropped_key = |t: &scrapepath::scrapeconfig::DroppedTarget| {
        format!(
            "dropped {:?}{}",
            t.discovered.get("__address__"),
            t.discovered
                .get("__meta_kubernetes_ingress_path")
                .map(|p| format!(" path {p}"))
                .unwrap_or_default()
        )
    };
    let shards = p.shards.max(1);
    let sharding = Sharding::of(p, true);
    let text = raw.to_string();
    let mut theirs: Placed = BTreeMap::new();
    let mut their_drops = BTreeSet::new();
    for shard in 0..shards {
        let expanded = expand_for_shard(&text, &sharding, shard);
        let job = job_from_value(expanded, global.clone())
            .map_err(|e| format!("the operator's job does not parse: {e}\n{raw:#}"))?;
        let d = discover(&job, idx, &p.namespace);
        for t in render(&d) {
            theirs.entry(t).or_default().insert(shard);
        }
        // A target its shard does not keep is dropped there by the sharding rule: only the drops every
        // shard makes are the job's own.
        let drops: BTreeSet<String> = d.dropped.iter().map(dropped_key).collect();
        their_drops = if shard == 0 {
            drops
        } else {
            their_drops.intersection(&drops).cloned().collect()
        };
    }
    let ours_job = scrapepath::promop::probe_job(p, pr)
        .map_err(|e| format!("scrapepath generates no job: {e}"))?;
    let d = discover(&ours_job, idx, &p.namespace);
    let every: BTreeSet<u32> = (0..shards).collect();
    let mut ours: Placed = BTreeMap::new();
    let mut ingress = BTreeSet::new();
    for (t, rendered) in d.targets.iter().zip(render(&d)) {
        if t.role == Role::Ingress {
            ingress.insert(rendered.clone());
        }
        let key = ShardKey::of_probe_target(&t.labels);
        let placed: BTreeSet<u32> = key
            .shards(&sharding)
            .map_or(every.clone(), |s| s.into_iter().collect());
        // Under topology sharding a probed target without a zone is kept by no shard.
        if !placed.is_empty() {
            ours.entry(rendered).or_default().extend(placed);
        }
    }
    let our_drops: BTreeSet<String> = d.dropped.iter().map(dropped_key).collect();
    // Under topology sharding every shard drops the targets no zone keeps, so the drops all shards
    // make are not the job's own: only the kept targets are compared.
    let drops_differ = sharding.zones.is_empty() && their_drops != our_drops;
    if theirs != ours || drops_differ {
        return Err(format!(
            "operator's job yields\n  {theirs:?} (dropped {their_drops:?})\nscrapepath's yields\n  {ours:?} (dropped {our_drops:?})\noperator's job: {raw:#}"
        ));
    }
    let ingress = ours.keys().filter(|t| ingress.contains(*t)).count();
    Ok((ours.len(), ingress))
}

/// Asserts that the targets scrapepath lists for the PodMonitor `ns/name` of `world` (YAML; its one
/// Prometheus selects the monitor) are the active targets `prom` reports once it has `n` of them:
/// same pods, addresses, paths.
async fn assert_listed_targets_are_active(
    world: &str,
    ns: &str,
    name: &str,
    prom: &Prometheus,
    n: usize,
) {
    let mut idx = scrapepath::index::ClusterIndex::new();
    let mut stats = scrapepath::load::LoadStats::default();
    for o in scrapepath::load::parse_text(Path::new("world.yaml"), world, &mut stats).unwrap() {
        idx.apply(o);
    }
    let pw = idx.prometheuses().next().unwrap();
    let m = idx
        .monitor(scrapepath::model::MonitorKind::PodMonitor, ns, name)
        .unwrap();
    assert!(scrapepath::promop::selects(pw, m, &idx).is_ok());
    let listed: BTreeSet<(String, String)> = scrapepath::promop::targets(Some(pw), m, &idx)
        .into_iter()
        .map(|t| {
            let pod = idx.pod(t.pod);
            let ip = pod.pod_ip.clone().unwrap();
            (
                format!("{}/{}", pod.namespace, pod.name),
                format!("{}://{ip}:{}{}", t.scheme, t.port, t.path),
            )
        })
        .collect();
    let active = eventually(
        &format!("{n} active targets"),
        Duration::from_secs(60),
        || async {
            let a = active_targets(prom);
            if a.len() == n {
                Ok(a)
            } else {
                Err(format!("{a:?}"))
            }
        },
    )
    .await;
    assert_eq!(
        listed, active,
        "left: scrapepath's targets; right: Prometheus' active targets"
    );
}

/// The YAML documents of a seed file under `deploy/examples/blog-system/`.
fn seed_docs(file: &str) -> Vec<serde_json::Value> {
    example_docs("blog-system", file)
}

/// The documents of `deploy/examples/<dir>/<file>`.
fn example_docs(dir: &str, file: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(dir)
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Moves a seed pod to `ip` (status.podIP, podIPs), as a kubelet would have reported it here.
fn set_pod_ip(pod: &mut serde_json::Value, ip: IpAddr) {
    pod["status"]["podIP"] = ip.to_string().into();
    pod["status"]["podIPs"] = serde_json::json!([{ "ip": ip.to_string() }]);
}

/// Issue 13 item 3: the chain driven by the shipped seed 000 files (`deploy/examples/blog-system/`:
/// namespaces, the kube-prometheus-stack Prometheus and its pod, the `istio-proxies` PodMonitor without
/// `release`, the was/web/ingress-gateway pods, the intents), each pod at a loopback address of its
/// own with a listener on the port its manifest declares (15090, `http-envoy-prom`; the web pods'
/// never answer), the Prometheus pod at the real Prometheus' address. The real operator leaves the
/// monitor out; scrapepath says `LabelsMismatch` and `NotDiscovered`; the seed's own fix
/// (`fixed/monitors.yaml`: the label added — Enforce adds labels only to a monitor in the intent's
/// namespace, and this one is in `monitoring`) makes the operator regenerate the configuration, the
/// real config-reloader loads it into Prometheus, which discovers the pods in every namespace
/// (in-cluster, a ClusterRole) and scrapes them: `Up` for was, `Down` with `context deadline
/// exceeded` for web; the targets scrapepath lists are Prometheus' active targets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_seed_000_files_run_the_chain_with_the_real_operator_and_prometheus() {
    let env = TestEnv::shared();
    let client = env.client().await;
    let namespaces = ["monitoring", "blog-system", "istio-system"];
    let mut applied = seed_docs("namespaces.yaml");
    for ns in &applied {
        apply_value(&client, &mut ns.clone()).await;
    }
    // The pods, each at a loopback address of its own with a listener on its declared Envoy port.
    let mut listeners = Vec::new();
    let mut pods: Vec<serde_json::Value> = seed_docs("workloads.yaml")
        .into_iter()
        .filter(|d| d["kind"] == "Pod")
        .collect();
    for pod in &mut pods {
        let declared = pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .any(|p| p["name"] == "http-envoy-prom" && p["containerPort"] == 15090);
        assert!(
            declared,
            "{}: no http-envoy-prom 15090",
            pod["metadata"]["name"]
        );
        let ip = IpAddr::V4(loopback_ip());
        let addr = std::net::SocketAddr::new(ip, 15090);
        let web = pod["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("web-");
        listeners.push(if web {
            common::prometheus::silent_endpoint_at(addr)
        } else {
            common::prometheus::metrics_endpoint_at(addr)
        });
        set_pod_ip(pod, ip);
    }
    assert_eq!(
        pods.len(),
        5,
        "the seed's was, web and ingress gateway pods"
    );

    let sd = KubeSd::new(env, "monitoring", &[]).await;
    let prom = tokio::task::block_in_place(|| {
        Prometheus::start_in_cluster(
            "global: {scrape_interval: 1s}\n",
            IpAddr::V4(loopback_ip()),
            &sd,
        )
    });
    // The Prometheus object and its pod, the pod where the real Prometheus listens.
    let mut scraper = seed_docs("prometheus.yaml");
    for d in scraper.iter_mut().filter(|d| d["kind"] == "Pod") {
        set_pod_ip(d, prom.addr.ip());
        for c in d["spec"]["containers"].as_array_mut().unwrap() {
            for p in c["ports"].as_array_mut().into_iter().flatten() {
                if p["name"] == "http-web" {
                    p["containerPort"] = prom.addr.port().into();
                }
            }
        }
    }
    let world: Vec<serde_json::Value> = scraper
        .into_iter()
        .chain(seed_docs("monitors.yaml"))
        .chain(pods)
        .chain(seed_docs("intent/intents.yaml"))
        .collect();
    for d in &world {
        apply_value(&client, &mut d.clone()).await;
    }
    applied.extend(world);
    let mut operator = Operator::start(env, &namespaces);

    let secret = "prometheus-kube-prometheus-stack-prometheus";
    let job = "podMonitor/monitoring/istio-proxies/0".to_string();
    let generated = |want_job: bool| {
        let client = client.clone();
        let job = job.clone();
        async move {
            let gz = generated_config_gz(&client, "monitoring", secret)
                .await
                .ok_or_else(|| format!("no Secret {secret} yet"))?;
            let jobs = job_names(&parse_config_gz(&gz));
            if want_job && !jobs.contains(&job) {
                return Err(format!("jobs {jobs:?}"));
            }
            Ok((jobs, gz))
        }
    };
    let limit = Duration::from_secs(90);
    let (jobs, gz) = eventually("the generated configuration", limit, || {
        operator.assert_running();
        generated(false)
    })
    .await;
    assert!(!jobs.contains(&job), "selected without release: {jobs:?}");
    let loads = prom.loads();
    let reloader = ConfigReloader::start(
        &prom,
        "prometheus-kube-prometheus-stack-prometheus-0",
        0,
        &gz,
    );
    tokio::task::block_in_place(|| prom.wait_loaded(loads, limit));

    let url = UrlSetting::parse(&format!(
        "monitoring/kube-prometheus-stack-prometheus={}",
        prom.url
    ))
    .unwrap();
    let ctl = start_controller_with(
        &client,
        observing(&namespaces, vec![url], Duration::from_secs(15)),
    )
    .await;
    let msg = wait_reason(
        &client,
        "blog-system",
        "was-envoy",
        "MonitorSelected",
        ("False", "LabelsMismatch"),
        limit,
    )
    .await;
    assert!(msg.contains("release=kube-prometheus-stack"), "{msg}");
    wait_reason(
        &client,
        "blog-system",
        "was-envoy",
        "Scraped",
        ("False", "NotDiscovered"),
        limit,
    )
    .await;

    // The seed's fix: the label on the monitor.
    let fixed = seed_docs("fixed/monitors.yaml");
    for d in &fixed {
        apply_value(&client, &mut d.clone()).await;
    }
    let (_, gz) = eventually("the monitor's job in the configuration", limit, || {
        operator.assert_running();
        generated(true)
    })
    .await;
    let loads = prom.loads();
    reloader.mount(&gz);
    tokio::task::block_in_place(|| prom.wait_loaded(loads, limit));

    wait_reason(
        &client,
        "blog-system",
        "was-envoy",
        "Scraped",
        ("True", "Up"),
        limit,
    )
    .await;
    let down = wait_reason(
        &client,
        "blog-system",
        "web-envoy",
        "Scraped",
        ("False", "Down"),
        limit,
    )
    .await;
    assert!(down.contains("context deadline exceeded"), "{down}");
    wait_reason(
        &client,
        "blog-system",
        "was-envoy",
        "MonitorSelected",
        ("True", "Selected"),
        limit,
    )
    .await;

    // scrapepath's targets for the fixed monitor are Prometheus' active targets.
    let mut text = String::new();
    for d in applied
        .iter()
        .filter(|d| d["kind"] != "PodMonitor")
        .chain(&fixed)
    {
        text += &serde_yaml_ng::to_string(d).unwrap();
        text += "---\n";
    }
    assert_listed_targets_are_active(&text, "monitoring", "istio-proxies", &prom, 5).await;

    ctl.stop().await;
    drop((operator, reloader, prom, listeners, sd));
}

// ---------------------------------------------------------------------------------------------------------
// Issue 17: what `check` predicts from a Prometheus spec, against the StatefulSet the real operator
// generates from it.

/// The pod the StatefulSet controller would create first from `sts`: its template, with a
/// PersistentVolumeClaim volume per claim template (`<claim>-<pod>`).
fn first_pod(sts: &serde_json::Value) -> serde_json::Value {
    let name = format!("{}-0", sts["metadata"]["name"].as_str().unwrap());
    let mut spec = sts["spec"]["template"]["spec"].clone();
    let mut volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
    for c in sts["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let claim = c["metadata"]["name"].as_str().unwrap();
        volumes.push(serde_json::json!({
            "name": claim, "persistentVolumeClaim": {"claimName": format!("{claim}-{name}")},
        }));
    }
    spec["volumes"] = volumes.into();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": sts["metadata"]["namespace"],
            "labels": sts["spec"]["template"]["metadata"]["labels"],
        },
        "spec": spec,
    })
}

/// The volume names of the StatefulSet's pods: the template's and the claim templates'.
fn pod_volume_names(sts: &serde_json::Value) -> BTreeSet<String> {
    first_pod(sts)["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

fn prom_workload(v: &serde_json::Value) -> scrapepath::model::PromWorkload {
    match scrapepath::parse::parse_value(v.clone()) {
        Ok(scrapepath::parse::Parsed::Object(scrapepath::index::Object::Prometheus(p))) => *p,
        other => panic!("not a Prometheus: {other:?}"),
    }
}

/// Seed 003's Prometheus objects in Git form, each in its own namespace, given to the real operator:
/// the first stage's StatefulSet is refused by the API server for the volume name `check` names
/// (`spec.initContainers[0]`'s mount of "prometheus-db"); the second stage's is created and the pod it
/// generates passes a server-side dry run. The volume names of the generated pods are exactly those
/// `promop::operator_volumes` lists (the rule files by prefix), for the storage a volumeClaimTemplate
/// names, and for the default storage with `spec.secrets`, `spec.configMaps` and a query log file: this
/// fails when the operator's names change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_pods_for_seed_003_fail_for_the_volume_check_predicts() {
    use kube::api::{Api, DynamicObject, PostParams};
    let env = TestEnv::shared();
    let client = env.client().await;
    // The operator refuses storage of a StorageClass that does not exist (Reconciled=False).
    apply_yaml(
        &client,
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: cinder-hdd}\nprovisioner: cinder.csi.openstack.org\n",
    )
    .await;
    let stages = ["", "name-fixed"];
    let mut namespaces = Vec::new();
    let mut proms = Vec::new();
    for (i, stage) in stages.iter().chain(&["volumes"]).enumerate() {
        let ns = env.namespace(&format!("seed003-{i}")).await;
        let dir = if *stage == "volumes" {
            "seed-003-gitops/name-fixed".to_string()
        } else {
            format!("seed-003-gitops/{stage}")
        };
        for mut doc in example_docs(dir.trim_end_matches('/'), "prometheus.yaml") {
            doc["metadata"]["namespace"] = ns.clone().into();
            if doc["kind"] == "Prometheus" {
                if *stage == "volumes" {
                    // The default storage (an emptyDir), secrets, ConfigMaps and a query log file.
                    let spec = doc["spec"].as_object_mut().unwrap();
                    spec.remove("storage");
                    spec.remove("initContainers");
                    spec.insert("secrets".into(), serde_json::json!(["etcd-client.tls"]));
                    spec.insert("configMaps".into(), serde_json::json!(["extra-rules"]));
                    spec.insert("queryLogFile".into(), "query.log".into());
                }
                proms.push(doc.clone());
            }
            apply_value(&client, &mut doc).await;
        }
        apply_yaml(
            &client,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: etcd-client.tls, namespace: {ns}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: extra-rules, namespace: {ns}}}\n"
            ),
        )
        .await;
        namespaces.push(ns);
    }
    let ns_refs: Vec<&str> = namespaces.iter().map(String::as_str).collect();
    let operator = std::sync::Mutex::new(Operator::start(env, &ns_refs));
    let sts_name = "prometheus-kps-kube-prometheus-stack-prometheus";

    // What scrapepath predicts for the first stage (the input holds its ServiceAccount).
    let predicted = |p: &scrapepath::model::PromWorkload| {
        let mut idx = scrapepath::index::ClusterIndex::new();
        idx.apply(scrapepath::index::Object::ServiceAccount(
            p.namespace.clone(),
            p.service_account.clone().unwrap(),
        ));
        scrapepath::promop::predicted_problems(p, &idx)
    };
    let first = prom_workload(&proms[0]);
    let ours = predicted(&first);
    // The API server's words for it: the pod's index (the operator's init-config-reloader first).
    let path =
        "spec.template.spec.initContainers[1].volumeMounts[0].name: Not found: \"prometheus-db\"";
    assert!(
        ours.iter().any(|m| m.starts_with(
            "spec.initContainers[0] (init-chown-data).volumeMounts[0].name is \"prometheus-db\""
        ) && m.contains(path)),
        "{ours:#?}"
    );

    // The API server's refusal: of the StatefulSet itself (a current API server validates its pod
    // template), which the operator reports in Reconciled; or, where the StatefulSet is accepted, of
    // its first pod (what the StatefulSet controller's FailedCreate quotes), by a server-side dry run.
    let sets = |ns: &str| -> Api<DynamicObject> {
        Api::namespaced_with(
            client.clone(),
            ns,
            &kube::core::ApiResource::erase::<k8s_openapi::api::apps::v1::StatefulSet>(&()),
        )
    };
    let pods =
        |ns: &str| -> Api<k8s_openapi::api::core::v1::Pod> { Api::namespaced(client.clone(), ns) };
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let refusal = eventually(
        "the operator's StatefulSet for the first stage, or its refusal",
        Duration::from_secs(90),
        || async {
            operator.lock().unwrap().assert_running();
            if let Some(sts) = sets(&namespaces[0]).get_opt(sts_name).await.unwrap() {
                let pod: k8s_openapi::api::core::v1::Pod =
                    serde_json::from_value(first_pod(&serde_json::to_value(sts).unwrap())).unwrap();
                return match pods(&namespaces[0]).create(&dry_run, &pod).await {
                    Err(kube::Error::Api(s)) => Ok(s.message),
                    other => Ok(format!("the pod was not refused: {other:?}")),
                };
            }
            let p = get(
                &client,
                "monitoring.coreos.com/v1",
                "Prometheus",
                &namespaces[0],
                &first.name,
            )
            .await
            .unwrap();
            let conditions = p.data["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            conditions
                .iter()
                .find(|c| c["type"] == "Reconciled" && c["status"] == "False")
                .map(|c| c["message"].as_str().unwrap_or_default().to_string())
                .ok_or_else(|| {
                    format!(
                        "conditions {conditions:?}; operator log:\n{}",
                        operator.lock().unwrap().log()
                    )
                })
        },
    )
    .await;
    // A current API server names the StatefulSet's template; an older one's FailedCreate the pod's
    // spec (`spec.initContainers[1]...`): the same path after `spec.template.`.
    assert!(
        refusal.contains(path) || refusal.contains(path.trim_start_matches("spec.template.")),
        "the API server's refusal does not name {path:?}: {refusal}"
    );

    // The second stage: no volume finding; its StatefulSet is created and its pod is valid.
    let second = prom_workload(&proms[1]);
    assert!(
        !predicted(&second)
            .iter()
            .any(|m| m.contains("volumeMounts")),
        "{:#?}",
        predicted(&second)
    );
    for (i, ns) in namespaces.iter().enumerate().skip(1) {
        let sts = eventually(
            &format!("the operator's StatefulSet in {ns}"),
            Duration::from_secs(90),
            || async {
                operator.lock().unwrap().assert_running();
                sets(ns)
                    .get_opt(sts_name)
                    .await
                    .unwrap()
                    .map(|s| serde_json::to_value(s).unwrap())
                    .ok_or_else(|| operator.lock().unwrap().log())
            },
        )
        .await;
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(first_pod(&sts)).unwrap();
        if let Err(e) = pods(ns).create(&dry_run, &pod).await {
            panic!("the pod of {ns}/{sts_name} is refused: {e}");
        }
        // The operator's volume names are scrapepath's.
        let p = prom_workload(&proms[i]);
        let (names, prefixes) = scrapepath::promop::operator_volumes(&p);
        let theirs = pod_volume_names(&sts);
        let unknown: Vec<&String> = theirs
            .iter()
            .filter(|n| {
                !names.contains(n) && !prefixes.iter().any(|pre| n.starts_with(pre.as_str()))
            })
            .collect();
        let missing: Vec<&String> = names.iter().filter(|n| !theirs.contains(*n)).collect();
        assert!(
            unknown.is_empty() && missing.is_empty(),
            "{ns}: the operator's volumes {theirs:?} are not scrapepath's {names:?} + {prefixes:?}: unknown to scrapepath {unknown:?}, not generated {missing:?}"
        );
        assert!(
            theirs
                .iter()
                .any(|n| prefixes.iter().any(|pre| n.starts_with(pre.as_str()))),
            "{ns}: no rule file volume in {theirs:?}"
        );
    }
}
