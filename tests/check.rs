//! `scrapepath check` on the shipped seed examples: golden JSON, exit codes, and the facts each
//! diagnosis must state. Refresh the golden files with `SCRAPEPATH_UPDATE_GOLDEN=1 cargo test --test check`
//! and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "common/report.rs"]
mod report;
use report::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .arg("check")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run scrapepath");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `check -o json` on an example, compares with its golden file, returns the parsed report.
fn golden(example: &str, golden_name: &str, want_exit: i32) -> Value {
    let dir = format!("deploy/examples/{example}");
    let (code, stdout, stderr) = check(&["-f", &dir, "-o", "json"]);
    assert_eq!(
        code, want_exit,
        "exit code of check -f {dir}; stderr: {stderr}"
    );
    let path = root()
        .join("tests/golden")
        .join(format!("{golden_name}.json"));
    if std::env::var_os("SCRAPEPATH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &stdout).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run SCRAPEPATH_UPDATE_GOLDEN=1 cargo test --test check",
            path.display()
        )
    });
    assert!(
        want == stdout,
        "output of check -f {dir} differs from {}; if the change is intended, refresh with SCRAPEPATH_UPDATE_GOLDEN=1 cargo test --test check and review the diff",
        path.display()
    );
    serde_json::from_str(&stdout).unwrap()
}

/// The (kind, namespace) of each object a subject's remediation proposes.
fn remedy_kinds(s: &Value) -> Vec<(&str, &str)> {
    s["remediation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap(),
                o["metadata"]["namespace"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

fn decided_by(t: &Value) -> Vec<String> {
    t["network"]["decidedBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["namespace"].as_str().unwrap_or(""),
                d["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn seed_000_reports_the_missing_release_label_and_both_isolation_policies() {
    let r = golden("blog-system", "blog-system", 1);
    let pm = subject(&r, "PodMonitor", "monitoring", "istio-proxies");
    assert_eq!(pm["ready"], false);
    let sel = cond(pm, "MonitorSelected");
    assert_eq!(sel["reason"], "LabelsMismatch");
    assert!(sel["message"]
        .as_str()
        .unwrap()
        .contains("release=kube-prometheus-stack"));
    let net = cond(pm, "NetworkReachable");
    assert_eq!(net["reason"], "BlockedByPolicy");
    let msg = net["message"].as_str().unwrap();
    assert!(
        msg.contains("blog-system/was-isolation") && msg.contains("blog-system/web-isolation"),
        "{msg}"
    );
    assert!(
        msg.contains("admits only pods of namespace blog-system"),
        "{msg}"
    );
    let was = target(pm, "blog-system/was-56975b7586-r8tr5");
    assert_eq!(was["network"]["verdict"], "Denied");
    assert_eq!(decided_by(was), vec!["blog-system/was-isolation"]);
    assert_eq!(was["port"], 15090);
    let web = target(pm, "blog-system/web-d96db7f88-6hnhm");
    assert_eq!(decided_by(web), vec!["blog-system/web-isolation"]);
    let gw = target(pm, "istio-system/istio-ingressgateway-7d9f8c6b5-abcde");
    assert_eq!(gw["network"]["verdict"], "Allowed");
    // The fixes: the label on the monitor, and a policy admitting only the Prometheus pods.
    let rem = pm["remediation"].as_array().unwrap();
    assert!(rem.iter().any(|o| o["kind"] == "PodMonitor"
        && o["metadata"]["labels"]["release"] == "kube-prometheus-stack"));
    let cnp = rem
        .iter()
        .find(|o| o["kind"] == "CiliumNetworkPolicy")
        .expect("a CNP remedy");
    assert_eq!(cnp["metadata"]["namespace"], "blog-system");
    assert_eq!(cnp["spec"]["enableDefaultDeny"]["ingress"], false);
    let from = &cnp["spec"]["ingress"][0]["fromEndpoints"][0]["matchLabels"];
    assert_eq!(from["k8s:io.kubernetes.pod.namespace"], "monitoring");
    assert_eq!(
        from["operator.prometheus.io/name"],
        "kube-prometheus-stack-prometheus"
    );
    assert_eq!(
        cnp["spec"]["ingress"][0]["toPorts"][0]["ports"][0]["port"],
        "15090"
    );
}

#[test]
fn seed_000_fixed_comes_out_all_ready() {
    let r = golden("blog-system/fixed", "blog-system-fixed", 0);
    for s in r["subjects"].as_array().unwrap() {
        assert_eq!(s["ready"], true, "{}", s["name"]);
        assert!(s["remediation"].as_array().unwrap().is_empty());
        for t in s["targets"].as_array().unwrap() {
            assert_eq!(t["network"]["verdict"], "Allowed");
        }
    }
}

#[test]
fn seed_000_intents_show_the_same_verdicts_as_the_monitor() {
    let r = golden("blog-system/intent", "blog-system-intent", 1);
    let pm = subject(&r, "PodMonitor", "monitoring", "istio-proxies");
    for (intent, app) in [("was-envoy", "was"), ("web-envoy", "web")] {
        let si = subject(&r, "ScrapeIntent", "blog-system", intent);
        assert_eq!(cond(si, "TargetsResolved")["status"], "True");
        assert_eq!(cond(si, "MonitorSelected")["reason"], "LabelsMismatch");
        assert_eq!(cond(si, "NetworkReachable")["reason"], "BlockedByPolicy");
        assert_eq!(cond(si, "Ready")["reason"], "LabelsMismatch");
        let targets = si["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 2);
        for t in targets {
            let same = target(pm, t["pod"].as_str().unwrap());
            assert_eq!(t["network"], same["network"], "{intent}");
        }
        // The monitor lives in another namespace: reported, not patched; the network fix is proposed.
        let rem = si["remediation"].as_array().unwrap();
        assert!(rem.iter().all(|o| o["kind"] != "PodMonitor"));
        let cnp = rem
            .iter()
            .find(|o| o["kind"] == "CiliumNetworkPolicy")
            .unwrap();
        assert_eq!(cnp["metadata"]["name"], format!("scrapepath-{intent}"));
        assert_eq!(cnp["metadata"]["labels"]["scrapepath.io/intent"], intent);
        assert_eq!(cnp["spec"]["endpointSelector"]["matchLabels"]["app"], app);
    }
}

/// Seed 000's was-authz (`source.namespaces: [monitoring]`): Envoy never sees 15090, so it does not matter
/// for the Envoy stats; on the app port it refuses the sidecar-less Prometheus, and only there is an ALLOW
/// proposed (ALLOW policies already apply to the was pods).
#[test]
fn seed_000_was_authz_matters_for_the_app_port_not_for_the_envoy_stats() {
    let (_, out, _) = check(&["-f", "deploy/examples/blog-system/intent", "-o", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    let envoy = subject(&r, "ScrapeIntent", "blog-system", "was-envoy");
    let mesh = cond(envoy, "MeshAuthorized");
    assert_eq!(
        (&mesh["status"], &mesh["reason"]),
        (&"True".into(), &"NotApplicable".into())
    );
    for t in envoy["targets"].as_array().unwrap() {
        assert_eq!(t["mesh"]["verdict"], "NotApplicable");
        let why = t["mesh"]["reason"].as_str().unwrap();
        for needle in [
            "Envoy never sees port 15090",
            "-d \"15090,15021,15020\"",
            "AuthorizationPolicy blog-system/was-authz selects the pod but does not matter on this port",
            "need an mTLS identity",
        ] {
            assert!(why.contains(needle), "missing {needle:?}: {why}");
        }
    }
    assert!(envoy["remediation"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["kind"] != "AuthorizationPolicy"));

    let app = subject(&r, "ScrapeIntent", "blog-system", "was-app");
    let mesh = cond(app, "MeshAuthorized");
    assert_eq!(
        (&mesh["status"], &mesh["reason"]),
        (&"False".into(), &"NoAllowMatch".into())
    );
    let t = target(app, "blog-system/was-56975b7586-r8tr5");
    assert_eq!(t["mesh"]["verdict"], "Denied");
    assert_eq!(t["mesh"]["decidedBy"][0]["name"], "was-authz");
    let why = t["mesh"]["reason"].as_str().unwrap();
    assert!(
        why.contains("source.namespaces [\"monitoring\"] needs an mTLS peer identity")
            && why.contains("to.operation.ports [\"15090\"] does not include 8080"),
        "{why}"
    );
    let ap = app["remediation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "AuthorizationPolicy")
        .expect("an ALLOW remedy: was-authz already applies");
    assert_eq!(ap["metadata"]["name"], "scrapepath-was-app");
    assert_eq!(ap["spec"]["selector"]["matchLabels"]["app"], "was");
    assert_eq!(
        ap["spec"]["rules"][0]["to"][0]["operation"],
        serde_json::json!({"ports": ["8080"], "methods": ["GET"], "paths": ["/actuator/prometheus"]})
    );
    // After the seed's fix the metrics rule names no source; still nothing changes for 15090.
    let r = golden("blog-system/fixed", "blog-system-fixed", 0);
    let pm = subject(&r, "PodMonitor", "monitoring", "istio-proxies");
    assert_eq!(
        target(pm, "blog-system/was-56975b7586-r8tr5")["mesh"]["verdict"],
        "NotApplicable"
    );
}

#[test]
fn seed_002_relabel_keep_rules_pick_the_sidecars_on_the_merged_port() {
    let r = golden("seed-002-istio-monitors", "seed-002", 0);
    let pm = subject(&r, "PodMonitor", "prometheus", "envoy-stats-monitor");
    let pods: Vec<(&str, u64)> = pm["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["pod"].as_str().unwrap(), t["port"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        pods,
        vec![
            ("istioinaction/catalog-6cf4b97d-ks72d", 15020),
            ("istioinaction/webapp-8578f44594-c2l9c", 15020)
        ]
    );
    let sm = subject(
        &r,
        "ServiceMonitor",
        "prometheus",
        "istio-component-monitor",
    );
    assert_eq!(sm["targets"][0]["port"], 15014);
}

#[test]
fn seed_003_prometheus_not_ready_is_the_cause() {
    let r = golden("seed-003-prometheus-not-ready", "seed-003", 1);
    let (c, msg) = seed_003_scraper_ready(&r);
    assert_eq!(c["status"], "False");
    assert_eq!(c["reason"], "ScraperNotReady");
    let sm = subject(
        &r,
        "ServiceMonitor",
        "monitoring",
        "kps-kube-prometheus-stack-prometheus",
    );
    assert_eq!(cond(sm, "Ready")["reason"], "ScraperNotReady");
    // The cause, from the pod's own status, and what usually fixes it (issue 17).
    assert_contains_all(&msg, &[
        "container prometheus: CrashLoopBackOff",
        "last exit 1, Error: ",
        "err=\"opening storage failed: open /prometheus/queries.active: permission denied\"",
        "set spec.securityContext.fsGroup",
        // Its StatefulSet and the kubelet's Warning; the first stage's FailedCreate is over (the pod
        // it could not create exists now) and is not quoted.
        "StatefulSet monitoring/prometheus-kps-kube-prometheus-stack-prometheus: 0/1 replicas Ready (1 created)",
        "Event BackOff: Back-off restarting failed container prometheus",
    ]);
    assert!(!msg.contains("FailedCreate"), "{msg}");
}

#[test]
fn seed_003_first_stage_quotes_the_statefulsets_failed_create_and_its_fix() {
    let r = golden("seed-003-prometheus-not-created", "seed-003-not-created", 1);
    let (c, msg) = seed_003_scraper_ready(&r);
    assert_eq!(c["reason"], "ScraperNotReady");
    assert_contains_all(&msg, &[
        "StatefulSet monitoring/prometheus-kps-kube-prometheus-stack-prometheus: 0/1 replicas Ready (0 created)",
        "Event FailedCreate: create Pod prometheus-kps-kube-prometheus-stack-prometheus-0",
        "spec.initContainers[1].volumeMounts[0].name: Not found: \"prometheus-db\"",
        "mount the volume the operator creates (the storage volume is spec.storage.volumeClaimTemplate.metadata.name",
    ]);
}

fn network(t: &Value) -> (String, String) {
    (
        t["network"]["verdict"].as_str().unwrap().to_string(),
        t["network"]["reason"].as_str().unwrap().to_string(),
    )
}

#[test]
fn seed_001_names_the_annotation_webpods_deployment_lacks_and_audits_every_job() {
    let r = golden("seed-001-cilium-monitoring", "seed-001", 1);
    let web = subject(&r, "ScrapeIntent", "default", "webpod");
    assert_eq!(web["ready"], false);
    assert_eq!(web["scrapers"][0]["kind"], "Deployment");
    assert_eq!(web["scrapers"][0]["name"], "prometheus");
    let sel = cond(web, "MonitorSelected");
    assert_eq!(sel["reason"], "AnnotationMissing");
    let msg = sel["message"].as_str().unwrap();
    assert!(msg.contains("job kubernetes-pods does not scrape default/webpod-697b545f57-cgqbz:80/metrics, default/webpod-697b545f57-v8d46:80/metrics"), "{msg}");
    assert!(msg.contains("relabel_configs[0]"), "{msg}");
    assert!(
        msg.contains("add to Deployment default/webpod spec.template.metadata.annotations: prometheus.io/port: \"80\", prometheus.io/scrape: \"true\""),
        "{msg}"
    );
    // Reported, never applied: nothing to apply for annotations.
    assert!(web["remediation"].as_array().unwrap().is_empty());

    // The agent's intent: kubernetes-pods scrapes 9962, kubernetes-endpoints (hubble-metrics) 9965, and a
    // hostNetwork target is not a Cilium policy subject.
    let agent = subject(&r, "ScrapeIntent", "kube-system", "cilium-agent");
    assert_eq!(agent["ready"], true);
    assert!(cond(agent, "MonitorSelected")["message"]
        .as_str()
        .unwrap()
        .contains("job kubernetes-endpoints, kubernetes-pods in ConfigMap cilium-monitoring/prometheus key prometheus.yaml"));
    let (verdict, reason) = network(target(agent, "kube-system/cilium-7qx2m"));
    assert_eq!(verdict, "Allowed");
    assert!(
        reason.contains("not a Cilium policy subject [R3]"),
        "{reason}"
    );

    // Audit without intents: the pod and endpoints jobs, not the service/node ones.
    let jobs: Vec<&str> = r["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "ScrapeJob")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        jobs,
        [
            "prometheus/kubernetes-endpoints",
            "prometheus/kubernetes-pods"
        ]
    );
    let pods = subject(
        &r,
        "ScrapeJob",
        "cilium-monitoring",
        "prometheus/kubernetes-pods",
    );
    let op = target(pods, "kube-system/cilium-operator-5f7d8b6c9f-lz8kq");
    assert_eq!(op["address"], "192.168.10.100:9963");
    assert_eq!(network(op).0, "Allowed");
    let resolved = cond(pods, "TargetsResolved")["message"].as_str().unwrap();
    assert!(
        resolved.contains("4 dropped by relabel_configs[0]"),
        "{resolved}"
    );
}

#[test]
fn seed_001_fixed_annotations_put_webpod_into_the_kubernetes_pods_job() {
    let r = golden("seed-001-cilium-monitoring/fixed", "seed-001-fixed", 0);
    let pods = subject(
        &r,
        "ScrapeJob",
        "cilium-monitoring",
        "prometheus/kubernetes-pods",
    );
    assert_eq!(
        target(pods, "default/webpod-697b545f57-cgqbz")["address"],
        "172.20.0.88:80"
    );
    assert!(cond(
        subject(&r, "ScrapeIntent", "default", "webpod"),
        "MonitorSelected"
    )["message"]
        .as_str()
        .unwrap()
        .contains("job kubernetes-pods"));
}

#[test]
fn seed_004_reads_the_additional_scrape_configs_secret_and_names_the_operators_missing_annotations()
{
    let r = golden("seed-004-kube-prometheus-stack", "seed-004", 1);
    let op = subject(&r, "ScrapeIntent", "kube-system", "cilium-operator");
    assert_eq!(cond(op, "TargetsResolved")["reason"], "PortNotFound");
    let sel = cond(op, "MonitorSelected");
    assert_eq!(sel["reason"], "AnnotationMissing");
    assert!(sel["message"].as_str().unwrap().contains(
        "add to Deployment kube-system/cilium-operator spec.template.metadata.annotations: prometheus.io/port: \"9963\", prometheus.io/scrape: \"true\""
    ));
    for name in ["cilium-agent", "cilium-envoy"] {
        let s = subject(&r, "ScrapeIntent", "kube-system", name);
        assert_eq!(s["ready"], true, "{name}");
        assert!(cond(s, "MonitorSelected")["message"].as_str().unwrap().contains(
            "Secret monitoring/kube-prometheus-stack-prometheus-scrape-confg key additional-scrape-configs.yaml"
        ));
    }
    // The operator's own StatefulSet pod reads an emptyDir: it is no Pods scraper of its own.
    let scrapers: Vec<&str> = r["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "ScrapeJob")
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        scrapers,
        [
            "kube-prometheus-stack-prometheus/kubernetes-pods",
            "kube-prometheus-stack-prometheus/kubernetes-endpoints"
        ]
    );
    let ep = subject(
        &r,
        "ScrapeJob",
        "monitoring",
        "kube-prometheus-stack-prometheus/kubernetes-endpoints",
    );
    let envoy = target(ep, "kube-system/cilium-envoy-8kq2x");
    assert_eq!(envoy["address"], "10.0.0.101:9964");
    assert!(network(envoy).1.contains("[R3]"));
}

#[test]
fn seed_004_fixed_operator_annotations_make_every_cilium_component_scraped() {
    let r = golden("seed-004-kube-prometheus-stack/fixed", "seed-004-fixed", 0);
    let pods = subject(
        &r,
        "ScrapeJob",
        "monitoring",
        "kube-prometheus-stack-prometheus/kubernetes-pods",
    );
    assert_eq!(
        target(pods, "kube-system/cilium-operator-6f8b9d7c5b-q2lxw")["address"],
        "10.0.0.101:9963"
    );
}

#[test]
fn seed_005_names_the_grant_kube_prometheus_lacks_for_a_fourth_namespace() {
    let r = golden("seed-005-scraper-rbac", "seed-005", 1);
    let sm = subject(&r, "ServiceMonitor", "shop", "api");
    assert_eq!(cond(sm, "MonitorSelected")["status"], "True");
    let d = cond(sm, "DiscoveryPermitted");
    assert_eq!(d["status"], "False");
    assert_eq!(d["reason"], "DiscoveryForbidden");
    assert!(d["message"].as_str().unwrap().contains(
        "ServiceAccount monitoring/prometheus-k8s cannot list, watch endpoints, services, pods in namespace shop (the endpoints discovery of Prometheus monitoring/k8s)"
    ));
    assert_eq!(cond(sm, "Ready")["reason"], "DiscoveryForbidden");
    // The least grant: list and watch of what the endpoints discovery reads, in shop only.
    assert_eq!(
        remedy_kinds(sm),
        [("Role", "shop"), ("RoleBinding", "shop")]
    );
    assert_eq!(
        sm["remediation"][0]["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["endpoints", "services", "pods"], "verbs": ["list", "watch"]}])
    );
    // The intent says the same, with the commands (Enforce never writes RBAC: no RBAC in its plan).
    let si = subject(&r, "ScrapeIntent", "shop", "api");
    let m = cond(si, "DiscoveryPermitted")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains("kubectl -n shop create role prometheus-k8s-discovery --verb=list,watch --resource=endpoints,services,pods"), "{m}");
    assert!(si["remediation"].as_array().is_none_or(|a| a
        .iter()
        .all(|o| !o["kind"].as_str().unwrap().contains("Role"))));
    // Grafana lives in monitoring, which kube-prometheus grants.
    let g = subject(&r, "ServiceMonitor", "monitoring", "grafana");
    assert_eq!(g["ready"], true);
    assert!(cond(g, "DiscoveryPermitted")["message"]
        .as_str()
        .unwrap()
        .contains("RoleBinding monitoring/prometheus-k8s → Role monitoring/prometheus-k8s"));
}

#[test]
fn seed_005_fixed_the_proposed_role_makes_every_subject_ready() {
    let r = golden("seed-005-scraper-rbac/fixed", "seed-005-fixed", 0);
    let sm = subject(&r, "ServiceMonitor", "shop", "api");
    assert!(cond(sm, "DiscoveryPermitted")["message"]
        .as_str()
        .unwrap()
        .contains(
            "RoleBinding shop/prometheus-k8s-discovery → Role shop/prometheus-k8s-discovery"
        ));
}

#[test]
fn kube_prometheus_egress_names_the_scrapers_own_policy_and_the_egress_rule_to_add() {
    let r = golden("kube-prometheus-egress", "kube-prometheus-egress", 1);
    let sm = subject(&r, "ServiceMonitor", "shop", "api");
    assert_eq!(cond(sm, "MonitorSelected")["status"], "True");
    let net = cond(sm, "NetworkReachable");
    assert_eq!(net["status"], "False");
    assert_eq!(net["reason"], "EgressDenied");
    assert_eq!(cond(sm, "Ready")["reason"], "EgressDenied");
    let msg = net["message"].as_str().unwrap();
    for want in [
        "egress of monitoring/prometheus-k8s-0 is denied",
        "NetworkPolicy monitoring/prometheus-k8s spec.egress[0]",
        "reported only",
    ] {
        assert!(msg.contains(want), "the message lacks {want:?}: {msg}");
    }
    let api = target(sm, "shop/api-5f7c9d8b6-x2m4k");
    assert_eq!(api["network"]["verdict"], "Denied");
    assert_eq!(decided_by(api), vec!["monitoring/prometheus-k8s"]);
    // The proposed rule is what fixed/ adds: the same object, parsed from the message.
    let proposed: Value = serde_json::Deserializer::from_str(
        msg.split_once("apply ")
            .expect("the message proposes an object to apply")
            .1,
    )
    .into_iter()
    .next()
    .expect("an object after \"apply\"")
    .expect("the proposed rule is one JSON object");
    let text = std::fs::read_to_string(
        root().join("deploy/examples/kube-prometheus-egress/fixed/egress-fix.yaml"),
    )
    .unwrap();
    let fixed: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(proposed, fixed);
    // Nothing is applied in the scraper's namespace.
    assert!(sm["remediation"]
        .as_array()
        .is_none_or(|a| a.iter().all(|o| o["metadata"]["namespace"] != "monitoring")));
}

#[test]
fn kube_prometheus_egress_fixed_the_proposed_rule_makes_the_scrape_reachable() {
    let r = golden(
        "kube-prometheus-egress/fixed",
        "kube-prometheus-egress-fixed",
        0,
    );
    let sm = subject(&r, "ServiceMonitor", "shop", "api");
    assert_eq!(cond(sm, "NetworkReachable")["status"], "True");
    assert_eq!(sm["ready"], true);
}

#[test]
fn kube_prometheus_kubelet_targets_are_nodes_denied_by_the_scrapers_egress_and_apiserver_allowed() {
    let r = golden(
        "kube-prometheus-apiserver-kubelet",
        "kube-prometheus-apiserver-kubelet",
        1,
    );
    // The API server's addresses (default/kubernetes, outside the nodes): kube-apiserver and world,
    // so the NetworkPolicy's ipBlock admits them (E8.3, E8.4).
    let api = subject(&r, "ServiceMonitor", "monitoring", "kube-apiserver");
    assert_eq!(api["ready"], true, "{api:#}");
    assert!(cond(api, "TargetsResolved")["message"]
        .as_str()
        .unwrap()
        .starts_with("2 targets at 2 addresses no pod backs: the API server 172.16.0.10"));
    let t = target(api, "the API server 172.16.0.10");
    assert_eq!(t["address"], "172.16.0.10:443");
    assert_eq!(t["network"]["verdict"], "Allowed");
    assert!(t["network"]["reason"]
        .as_str()
        .unwrap()
        .contains("NetworkPolicy monitoring/prometheus-k8s spec.egress[1]"));
    // The kubelets (Endpoints naming Nodes): host and remote-node, which a namespace selector never
    // matches (E8.2): EgressDenied naming the policy, with the element to add.
    let kubelet = subject(&r, "ServiceMonitor", "monitoring", "kubelet");
    let n = cond(kubelet, "NetworkReachable");
    assert_eq!(n["status"], "False");
    assert_eq!(n["reason"], "EgressDenied");
    let m = n["message"].as_str().unwrap();
    assert!(
        m.contains("the host (the node address 10.20.0.11, the scraper's own node)"),
        "{m}"
    );
    assert!(
        m.contains("remote-node (the node address 10.20.0.12, another node)"),
        "{m}"
    );
    assert!(m.contains(r#"{toEntities: [host, remote-node], toPorts: [{ports: [{port: "10250", protocol: TCP}]}]}"#), "{m}");
    assert_eq!(
        decided_by(target(kubelet, "node worker-b 10.20.0.12")),
        ["monitoring/prometheus-k8s"]
    );
    assert_eq!(cond(kubelet, "TargetsResolved")["reason"], "Resolved");
}

#[test]
fn kube_prometheus_kubelet_fixed_the_proposed_egress_element_makes_every_subject_ready() {
    let r = golden(
        "kube-prometheus-apiserver-kubelet/fixed",
        "kube-prometheus-apiserver-kubelet-fixed",
        0,
    );
    let kubelet = subject(&r, "ServiceMonitor", "monitoring", "kubelet");
    assert_eq!(kubelet["ready"], true, "{kubelet:#}");
    assert_eq!(
        decided_by(target(kubelet, "node worker-a 10.20.0.11")),
        ["monitoring/prometheus-k8s-kubelet-egress"]
    );
}

#[test]
fn without_rbac_in_the_input_discovery_is_unknown_and_ready_holds() {
    // Seed 002 carries no Role or binding: the layer is not decided by assumption either way.
    let r = golden("seed-002-istio-monitors", "seed-002", 0);
    for s in r["subjects"].as_array().unwrap() {
        let c = cond(s, "DiscoveryPermitted");
        assert_eq!(c["status"], "Unknown", "{s:#}");
        assert_eq!(c["reason"], "RbacNotObserved", "{s:#}");
        assert!(c["message"]
            .as_str()
            .unwrap()
            .contains("rbacDiscovery.enabled"));
        assert_eq!(s["ready"], true);
    }
}

#[test]
fn text_report_reads_like_a_diagnosis() {
    let (code, out, _) = check(&["-f", "deploy/examples/blog-system"]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    // Both causes of seed 000 lead, then the fix, then the passing layers one line each.
    assert_eq!(
        lines[0],
        "PodMonitor monitoring/istio-proxies: NOT READY (LabelsMismatch, BlockedByPolicy)",
        "{out}"
    );
    assert!(
        lines[1].starts_with("  XX MonitorSelected   LabelsMismatch: "),
        "{out}"
    );
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?}:\n{out}"))
    };
    let network = at("  XX NetworkReachable  BlockedByPolicy: ");
    let fix = at("  fix (kubectl apply --server-side -f -):");
    let passing = at("  ok ");
    assert!(network < fix && fix < passing, "{out}");
    assert!(
        out.contains("     Denied by CiliumNetworkPolicy blog-system/was-isolation (2 targets):"),
        "{out}"
    );
    assert!(out.contains("kind: CiliumNetworkPolicy"), "{out}");
    assert!(
        lines.iter().any(|l| l.starts_with("  ok ScraperReady      Prometheus monitoring/kube-prometheus-stack-prometheus has 1/1 pods Ready")),
        "{out}"
    );
    // The summary: each cause once, with the rule and what it breaks.
    let summary = &out[out
        .find("3 causes, by the subjects they break:")
        .expect(&out)..];
    for cause in [
        "  1. MonitorSelected LabelsMismatch: ",
        "  2. NetworkReachable Denied by CiliumNetworkPolicy blog-system/was-isolation spec.ingress[2]\n     breaks 2 targets of PodMonitor monitoring/istio-proxies\n",
        "  3. NetworkReachable Denied by CiliumNetworkPolicy blog-system/web-isolation spec.ingress[1]\n     breaks 2 targets of PodMonitor monitoring/istio-proxies\n",
    ] {
        assert!(summary.contains(cause), "{cause:?}:\n{out}");
    }
    assert!(out.contains("1 subject: 0 ready, 1 not ready\n"), "{out}");
    assert!(
        out.lines()
            .all(|l| l.chars().count() <= 100 || l.starts_with("      description:")),
        "{out}"
    );
    // -v: the full reasoning, every target.
    let (code, verbose, _) = check(&["-f", "deploy/examples/blog-system", "-v"]);
    assert_eq!(code, 1);
    assert!(
        verbose.contains("        decided by: CiliumNetworkPolicy blog-system/was-isolation"),
        "{verbose}"
    );
    assert!(
        verbose.contains("istio-system/istio-ingressgateway-7d9f8c6b5-abcde:15090"),
        "{verbose}"
    );
}

#[test]
fn yaml_output_is_the_same_report() {
    let (_, json, _) = check(&["-f", "deploy/examples/blog-system", "-o", "json"]);
    let (_, yaml, _) = check(&["-f", "deploy/examples/blog-system", "-o", "yaml"]);
    let a: Value = serde_json::from_str(&json).unwrap();
    let b: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(a, b);
}

fn write_tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scrapepath-check-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("input.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn malformed_yaml_names_file_and_document_and_exits_2() {
    let p = write_tmp("yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: [unclosed\n");
    let (code, out, err) = check(&["-f", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains(p.to_str().unwrap()) && err.contains("document 2"),
        "{err}"
    );
}

#[test]
fn malformed_known_object_names_the_field_and_exits_2() {
    let p = write_tmp(
        "field",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec:\n  containers:\n  - name: c\n    ports: [{containerPort: many}]\n",
    );
    let (code, _, err) = check(&["-f", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("document 1")
            && err.contains("Pod a/p")
            && err.contains("spec.containers[0].ports[0].containerPort"),
        "{err}"
    );
}

#[test]
fn list_items_are_read_and_unknown_kinds_are_skipped() {
    let p = write_tmp(
        "list",
        r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: d, namespace: a}
- apiVersion: monitoring.coreos.com/v1
  kind: PodMonitor
  metadata: {name: pm, namespace: a}
  spec: {selector: {}, podMetricsEndpoints: [{port: metrics}]}
"#,
    );
    let (code, out, err) = check(&["-f", p.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["subjects"].as_array().unwrap().len(), 1);
    assert_eq!(subject(&r, "PodMonitor", "a", "pm")["ready"], false);
}

#[test]
fn a_namespaced_object_without_namespace_goes_to_default_or_to_dash_n() {
    // A CiliumNetworkPolicy as Cilium's examples write it: no metadata.namespace. kubectl puts it in
    // `default` (or in -n NS), where it isolates the target: it must not be ignored.
    let world = |intent_ns: &str, prom_ns: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: app-0, namespace: {intent_ns}, labels: {{app: web}}}}
spec: {{containers: [{{name: c, image: app, ports: [{{name: metrics, containerPort: 9090}}]}}]}}
status: {{phase: Running, podIP: 10.0.0.5, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: prom-0, namespace: {prom_ns}, labels: {{app: prom}}}}
spec: {{containers: [{{name: p, image: prom}}]}}
status: {{phase: Running, podIP: 10.0.0.9, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {{name: isolate}}
spec:
  endpointSelector: {{matchLabels: {{app: web}}}}
  ingress: [{{fromEndpoints: [{{matchLabels: {{app: web}}}}]}}]
---
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {{name: web, namespace: {intent_ns}}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  endpoints: [{{port: metrics}}]
  scraper: {{kind: Pods, namespace: {prom_ns}, podSelector: {{matchLabels: {{app: prom}}}}}}
"#
        )
    };
    let reachable = |args: &[&str], text: &str, name: &str| {
        let p = write_tmp(name, text);
        let mut all = vec!["-f", p.to_str().unwrap(), "-o", "json"];
        all.extend_from_slice(args);
        let (code, out, err) = check(&all);
        assert!(code == 0 || code == 1, "{err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        let ns = r["subjects"][0]["namespace"].as_str().unwrap().to_string();
        (
            cond(subject(&r, "ScrapeIntent", &ns, "web"), "NetworkReachable")["status"]
                .as_str()
                .unwrap()
                .to_string(),
            err,
        )
    };
    // The policy lands in `default`, beside the target: the scraper is blocked.
    let (status, _) = reachable(&[], &world("default", "monitoring"), "ns-default");
    assert_eq!(status, "False");
    // The target in another namespace: the policy does not select it.
    let (status, _) = reachable(&[], &world("team", "monitoring"), "ns-other");
    assert_eq!(status, "True");
    // With -n team, the policy lands in team (kubectl -n refuses objects of other namespaces, so the
    // scraper is there too).
    let (status, _) = reachable(&["-n", "team"], &world("team", "team"), "ns-dash-n");
    assert_eq!(status, "False");
}

#[test]
fn dash_n_refuses_an_object_of_another_namespace_as_kubectl_does() {
    let p = write_tmp(
        "ns-mismatch",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: a}\n",
    );
    let (code, _, err) = check(&["-f", p.to_str().unwrap(), "-n", "b"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("document 1")
            && err.contains("metadata.namespace")
            && err.contains("--namespace=a"),
        "{err}"
    );
}

#[test]
fn api_version_and_kind_keys_are_case_sensitive_and_required() {
    let p = write_tmp(
        "apiversion",
        "apiversion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: a}\nspec: {endpointSelector: {}, ingress: [{}]}\n---\nmetadata: {name: q}\n",
    );
    let (code, out, err) = check(&["-f", p.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("document 1: CiliumNetworkPolicy p: apiVersion: Required value")
            && err.contains("found `apiversion`")
            && err.contains("document 2: object q: apiVersion: Required value")
            && err.contains("document 2: object q: kind: Required value"),
        "{err}"
    );
}

#[test]
fn every_object_the_api_server_would_refuse_is_listed_with_field_and_rule() {
    // The four invalid NetworkPolicies of issue 11 (bad CIDR, Exists with values, endPort < port, port
    // 70000), a CiliumNetworkPolicy with a bad entity and a valid object: every problem is listed, and
    // nothing is analysed (exit 2).
    let np = |name: &str, ingress: &str| {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: a}}\nspec: {{podSelector: {{}}, ingress: [{ingress}]}}\n"
        )
    };
    let text = [
        np("bad-cidr", "{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}"),
        np(
            "exists-values",
            "{from: [{podSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}}]}",
        ),
        np("end-port", "{ports: [{port: 9000, endPort: 8000}]}"),
        np("port-70000", "{ports: [{port: 70000}]}"),
        "---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: c, namespace: a}\nspec: {endpointSelector: {}, ingress: [{fromEntities: [everything]}]}\n".to_string(),
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: a}\n".to_string(),
    ]
    .concat();
    let p = write_tmp("invalid", &text);
    let (code, out, err) = check(&["-f", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    let file = p.to_str().unwrap();
    for want in [
        "document 1: NetworkPolicy a/bad-cidr: spec.ingress[0].from[0].ipBlock.cidr: Invalid value",
        "document 2: NetworkPolicy a/exists-values: spec.ingress[0].from[0].podSelector.matchExpressions[0].values: Forbidden",
        "document 3: NetworkPolicy a/end-port: spec.ingress[0].ports[0].endPort: Invalid value",
        "document 4: NetworkPolicy a/port-70000: spec.ingress[0].ports[0].port: Invalid value: 70000",
        "document 5: CiliumNetworkPolicy a/c: spec.ingress[0].fromEntities[0]: Unsupported value",
    ] {
        assert!(err.contains(&format!("{file}: {want}")), "no {want:?} in:\n{err}");
    }
    assert!(!err.contains("ConfigMap a/ok"), "{err}");
}

#[test]
fn cilium_objects_are_validated_against_the_crd_of_the_cilium_release() {
    // The CRDs change from release to release: `cluster-mesh` is an entity from 1.20, fromRequires
    // takes selectors up to 1.18 and nothing from 1.19.
    let cnp = |rule: &str| {
        format!(
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: p, namespace: a}}\nspec: {{endpointSelector: {{}}, ingress: [{rule}]}}\n"
        )
    };
    let run = |text: &str, version: &str, name: &str| {
        let p = write_tmp(name, text);
        check(&["-f", p.to_str().unwrap(), "--cilium-version", version]).0
    };
    let mesh = cnp("{fromEntities: [cluster-mesh]}");
    assert_eq!(run(&mesh, "1.19", "mesh-119"), 2);
    assert_eq!(run(&mesh, "1.20", "mesh-120"), 0);
    let requires = cnp("{fromRequires: [{matchLabels: {env: prod}}]}");
    assert_eq!(run(&requires, "1.18", "requires-118"), 0);
    assert_eq!(run(&requires, "1.19", "requires-119"), 2);
}

#[test]
fn input_without_any_object_is_bad_input() {
    let p = write_tmp("empty", "# nothing here\n---\n");
    let (code, _, err) = check(&["-f", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no objects in") && err.contains(p.to_str().unwrap()),
        "{err}"
    );
    let dir =
        std::env::temp_dir().join(format!("scrapepath-check-{}-emptydir", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, _, err) = check(&["-f", dir.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no objects in") && err.contains("0 file(s) read"),
        "{err}"
    );
}

#[test]
fn missing_path_is_bad_input() {
    let (code, _, err) = check(&["-f", "does/not/exist"]);
    assert_eq!(code, 2);
    assert!(err.contains("does/not/exist"), "{err}");
}

#[test]
fn directories_are_read_non_recursively_unless_asked() {
    // blog-system/ holds fixed/ and intent/: without -R they must not leak in.
    let (_, out, _) = check(&["-f", "deploy/examples/blog-system", "-o", "json"]);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(r["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] != "ScrapeIntent"));
}

/// The world of `tests/fixtures/prometheus/targets-static.json` (captured from a real Prometheus): pods
/// up-0, hang-0 and dropped-0 of namespace `obs` on 127.0.0.1, each with an intent.
const OBSERVED_WORLD: &str = r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {podMonitorSelector: {}, podMonitorNamespaceSelector: {}}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: app, namespace: obs}
spec: {selector: {matchLabels: {team: obs}}, podMetricsEndpoints: [{port: metrics}]}
"#;

fn observed_world() -> String {
    let mut text = OBSERVED_WORLD.to_string();
    for (pod, port) in [("up-0", 18401), ("hang-0", 18402), ("dropped-0", 18403)] {
        let app = pod.trim_end_matches("-0");
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, namespace: obs, labels: {{app: {app}, team: obs}}}}\n\
             spec: {{containers: [{{name: c, image: app, ports: [{{name: metrics, containerPort: {port}}}]}}]}}\n\
             status: {{phase: Running, podIP: 127.0.0.1, conditions: [{{type: Ready, status: \"True\"}}]}}\n\
             ---\napiVersion: scrapepath.io/v1alpha1\nkind: ScrapeIntent\nmetadata: {{name: {app}, namespace: obs}}\n\
             spec: {{selector: {{matchLabels: {{app: {app}}}}}, endpoints: [{{port: metrics}}]}}\n"
        ));
    }
    text
}

#[test]
fn a_saved_targets_response_gives_the_scraped_condition_offline() {
    let p = write_tmp("observed", &observed_world());
    let fixture = "tests/fixtures/prometheus/targets-static.json";
    let (code, out, err) = check(&[
        "-f",
        p.to_str().unwrap(),
        "--targets-json",
        fixture,
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let scraped = |name: &str| {
        let c = cond(subject(&r, "ScrapeIntent", "obs", name), "Scraped");
        (
            c["status"].as_str().unwrap().to_string(),
            c["reason"].as_str().unwrap().to_string(),
            c["message"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(scraped("up").1, "Up");
    let (st, reason, msg) = scraped("hang");
    assert_eq!((st.as_str(), reason.as_str()), ("False", "Down"));
    assert!(
        msg.contains("Get \"http://127.0.0.1:18402/metrics\": context deadline exceeded"),
        "{msg}"
    );
    assert!(msg.contains(fixture), "the source is named: {msg}");
    assert_eq!(scraped("dropped").1, "NotDiscovered");
    let hang = subject(&r, "ScrapeIntent", "obs", "hang");
    assert_eq!(hang["targets"][0]["observed"]["health"], "down");
    assert!(hang["ready"] == false && subject(&r, "ScrapeIntent", "obs", "up")["ready"] == true);
    // The text report leads with the observation; -v shows it per target.
    let (_, text, _) = check(&["-f", p.to_str().unwrap(), "--targets-json", fixture]);
    assert!(
        text.contains("  XX Scraped           Down: 1/1 targets are down in")
            && text.contains("context deadline exceeded"),
        "{text}"
    );
    let (_, text, _) = check(&["-f", p.to_str().unwrap(), "--targets-json", fixture, "-v"]);
    assert!(
        text.contains("observed down") && text.contains("last error: Get"),
        "{text}"
    );
    // A file that is not a targets response is bad input, named.
    let bad = write_tmp("observed-bad", "not json");
    let (code, out, err) = check(&[
        "-f",
        p.to_str().unwrap(),
        "--targets-json",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains(bad.to_str().unwrap()) && err.contains("not the JSON of /api/v1/targets"),
        "{err}"
    );
}

/// A Prometheus with 2 shards × 2 replicas, one pod per shard in the input (shard 1's not Ready); pods
/// api-a and api-b; PodMonitors `both` (app=api) and `only-a`; a CNP admitting only shard 0's pods.
const SHARDED_WORLD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k, namespace: monitoring}
spec:
  shards: 2
  replicas: 2
  serviceAccountName: prometheus
  podMonitorSelector: {}
  podMonitorNamespaceSelector: {}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k, prometheus: k, operator.prometheus.io/shard: "0"}
spec: {serviceAccountName: prometheus, containers: [{name: prometheus, image: prom/prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.244.1.5, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k-shard-1-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k, prometheus: k, operator.prometheus.io/shard: "1"}
spec: {serviceAccountName: prometheus, containers: [{name: prometheus, image: prom/prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.244.1.6, conditions: [{type: Ready, status: "False"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-a, namespace: app, labels: {app: api, name: a}}
spec: {containers: [{name: api, image: example/api, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.2.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-b, namespace: app, labels: {app: api, name: b}}
spec: {containers: [{name: api, image: example/api, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.2.13, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: both, namespace: app}
spec:
  selector: {matchLabels: {app: api}}
  podMetricsEndpoints: [{port: http}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: only-a, namespace: app}
spec:
  selector: {matchLabels: {name: a}}
  podMetricsEndpoints: [{port: http}]
---
# Admits shard 0 alone: api-a is reachable from the pods that scrape it, api-b is not.
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: shard-0-only, namespace: app}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints:
    - matchLabels: {k8s:io.kubernetes.pod.namespace: monitoring, operator.prometheus.io/shard: "0"}
"#;

/// Issue 14 item 4: a sharded Prometheus scrapes each target from one shard, the hashmod of the target's
/// `__address__` over `spec.shards` (prometheus-operator's sharding relabeling). The shards below were
/// computed outside scrapepath (Python's md5: the last 8 bytes, big-endian, mod 2): 10.244.2.10:8080 is
/// shard 0's, 10.244.2.13:8080 shard 1's.
#[test]
fn a_shard_without_a_ready_pod_leaves_exactly_its_targets_unscraped() {
    let p = write_tmp("shards", SHARDED_WORLD);
    let (code, out, err) = check(&["-f", p.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let both = cond(subject(&r, "PodMonitor", "app", "both"), "ScraperReady");
    assert_eq!(
        (both["status"].as_str(), both["reason"].as_str()),
        (Some("False"), Some("ScraperNotReady")),
        "{both}"
    );
    let msg = both["message"].as_str().unwrap();
    for needle in [
        "has 1/2 pods Ready of 4 (2 replicas × 2 shards)",
        "shard 1 has no Ready pod",
        "api-b (10.244.2.13:8080, shard 1) not scraped",
    ] {
        assert!(msg.contains(needle), "missing {needle:?}: {msg}");
    }
    assert!(!msg.contains("api-a"), "{msg}");
    // The network verdict of each target is decided from the pods of the shard that scrapes it.
    let verdicts: Vec<(String, String)> = subject(&r, "PodMonitor", "app", "both")["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["pod"].as_str().unwrap().to_string(),
                t["network"]["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("app/api-a".to_string(), "Allowed".to_string()),
            ("app/api-b".to_string(), "Denied".to_string())
        ],
        "{out}"
    );
    let only_a = cond(subject(&r, "PodMonitor", "app", "only-a"), "ScraperReady");
    assert_eq!(only_a["status"], "True", "{only_a}");
    assert!(
        only_a["message"]
            .as_str()
            .unwrap()
            .contains("shard 1 has no Ready pod, but owns none of these targets"),
        "{only_a}"
    );
}

/// Issue 14 item 5: a ScrapeConfig's targets are those of the job prometheus-operator generates for it
/// (Kubernetes SD in namespace db, kept by port name; a static hostname, named and not judged), and they
/// cross the network layer: namespace db admits only its own pods, so both exporters are denied with the
/// policy and rule named and a NetworkPolicy proposed for the Prometheus pods on 9187; with that policy
/// in place the ScrapeConfig is Ready.
#[test]
fn a_scrape_config_s_targets_are_denied_by_the_namespace_policy_and_the_fix_admits_prometheus() {
    let r = golden("scrapeconfig-postgres", "scrapeconfig-postgres", 1);
    let sc = subject(&r, "ScrapeConfig", "db", "postgres-exporters");
    assert_eq!(sc["ready"], false);
    let t = cond(sc, "TargetsResolved");
    assert_eq!(t["status"], "True");
    let msg = t["message"].as_str().unwrap();
    assert!(msg.starts_with("2 pods, 2 targets"), "{msg}");
    assert!(
        msg.contains("hostnames, resolved only at scrape time: reporting-db.example.internal:9187"),
        "{msg}"
    );
    let n = cond(sc, "NetworkReachable");
    assert_eq!(n["status"], "False");
    assert_eq!(n["reason"], "BlockedByPolicy");
    for pod in ["db/orders-db-0", "db/billing-db-0"] {
        let tg = target(sc, pod);
        assert_eq!(tg["port"], 9187);
        assert_eq!(decided_by(tg), ["db/db-internal-only"]);
    }
    let fix = &sc["remediation"][0];
    assert_eq!(fix["kind"], "NetworkPolicy");
    assert_eq!(fix["spec"]["ingress"][0]["ports"][0]["port"], 9187);

    let fixed = golden(
        "scrapeconfig-postgres/fixed",
        "scrapeconfig-postgres-fixed",
        0,
    );
    let sc = subject(&fixed, "ScrapeConfig", "db", "postgres-exporters");
    assert_eq!(sc["ready"], true, "{sc:#}");
    assert_eq!(cond(sc, "NetworkReachable")["status"], "True");
}

/// Example probe-blackbox: kube-prometheus-stack's Prometheus selects the Probe (probeSelector by
/// `release`); the blackbox-exporter probes two in-cluster health URLs and a public status page. Payments
/// admits Prometheus but not the prober, so leg 2 (prober to probed targets) is blocked by its policy while
/// leg 1 (Prometheus to the prober) is allowed; the fix admits the blackbox-exporter pods at checkout.
#[test]
fn a_probe_s_prober_is_denied_by_the_target_s_policy_and_the_fix_admits_the_prober() {
    let r = golden("probe-blackbox", "probe-blackbox", 1);
    let p = subject(&r, "Probe", "monitoring", "app-health");
    assert_eq!(p["ready"], false);
    let t = cond(p, "TargetsResolved");
    assert_eq!(t["status"], "True");
    let msg = t["message"].as_str().unwrap();
    assert!(
        msg.starts_with("prober blackbox-exporter.monitoring.svc:9115 resolves to 1 pods (Service monitoring/blackbox-exporter port 9115); 3 probed targets: 2 at pods of the input"),
        "{msg}"
    );
    assert!(
        msg.contains("hostnames, resolved only at probe time (not judged): status.example.com"),
        "{msg}"
    );
    let n = cond(p, "NetworkReachable");
    assert_eq!(
        (n["status"].as_str(), n["reason"].as_str()),
        (Some("False"), Some("BlockedByPolicy"))
    );
    let msg = n["message"].as_str().unwrap();
    assert!(
        msg.contains("leg 1, scraper to prober: 1/1 targets admit the scraper"),
        "{msg}"
    );
    assert!(msg.contains("leg 2, prober to probed targets: 1/2 targets are unreachable from monitoring/blackbox-exporter-"), "{msg}");
    assert!(
        msg.contains("NetworkPolicy payments/payments-ingress"),
        "{msg}"
    );
    let targets = p["targets"].as_array().unwrap();
    let by_prefix = |prefix: &str| {
        targets
            .iter()
            .find(|t| t["pod"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no target {prefix}"))
    };
    let checkout = by_prefix("payments/checkout-");
    assert_eq!(decided_by(checkout), ["payments/payments-ingress"]);
    assert_eq!(checkout["path"], "/health");
    assert!(by_prefix("monitoring/blackbox-exporter-")["scraper"]
        .as_str()
        .unwrap()
        .ends_with("kube-prometheus-stack-prometheus"));
    let fix = &p["remediation"][0];
    assert_eq!(fix["kind"], "NetworkPolicy");
    assert_eq!(fix["metadata"]["namespace"], "payments");
    assert_eq!(
        fix["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
            ["app.kubernetes.io/name"],
        "prometheus-blackbox-exporter"
    );
    assert_eq!(fix["spec"]["ingress"][0]["ports"][0]["port"], 8080);

    let fixed = golden("probe-blackbox/fixed", "probe-blackbox-fixed", 0);
    let p = subject(&fixed, "Probe", "monitoring", "app-health");
    assert_eq!(p["ready"], true, "{p:#}");
    assert_eq!(cond(p, "NetworkReachable")["status"], "True");
}

/// Example probe-ingress: a Probe whose targets are the Ingresses of `shop` labelled `probe=true`
/// (`spec.targets.ingress`), selected by the platform team's Prometheus. Its ClusterRole grants
/// `ingresses` in API group `extensions` only, so the ingress discovery in `shop` is forbidden:
/// `DiscoveryPermitted` False naming the grant, the Role and RoleBinding that add it proposed; the
/// Ingress hosts are reached through DNS and not evaluated (leg 2), the unlabelled Ingress is dropped by
/// the selector's rule. The fix is the proposed Role and RoleBinding.
#[test]
fn a_probe_s_ingress_discovery_is_forbidden_by_an_extensions_only_grant_and_the_fix_grants_it() {
    let r = golden("probe-ingress", "probe-ingress", 1);
    let p = subject(&r, "Probe", "monitoring", "shop-ingresses");
    assert_eq!(p["ready"], false);
    assert_eq!(cond(p, "MonitorSelected")["status"], "True");
    let d = cond(p, "DiscoveryPermitted");
    assert_eq!(d["status"], "False");
    assert_eq!(d["reason"], "DiscoveryForbidden");
    assert_contains_all(
        d["message"].as_str().unwrap(),
        &[
            "ServiceAccount monitoring/prometheus cannot list, watch ingresses.networking.k8s.io in namespace shop (the ingress discovery of Prometheus monitoring/platform)",
            // The rule to change: its API group.
            "ClusterRole prometheus grants ingresses in API group [extensions], not in networking.k8s.io",
        ],
    );
    assert_eq!(cond(p, "Ready")["reason"], "DiscoveryForbidden");
    assert_eq!(remedy_kinds(p), [("Role", "shop"), ("RoleBinding", "shop")]);
    assert_eq!(
        p["remediation"][0]["metadata"]["name"],
        "prometheus-discovery"
    );
    assert_eq!(
        p["remediation"][0]["rules"],
        serde_json::json!([{"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["list", "watch"]}])
    );
    // The probed URLs: `<scheme>://<host><path>` of each selected Ingress rule, not evaluated.
    let msg = cond(p, "TargetsResolved")["message"].as_str().unwrap();
    assert_contains_all(
        msg,
        &[
            "ingress targets, not evaluated",
            "host shop.example.com of Ingress shop/storefront (https://shop.example.com/)",
            "host api.shop.example.com of Ingress shop/storefront-api (http://api.shop.example.com/healthz)",
            "1 dropped by relabeling",
        ],
    );
    assert!(!msg.contains("admin.shop.example.com"), "{msg}");
    assert_contains_all(
        cond(p, "NetworkReachable")["message"].as_str().unwrap(),
        &[
            "leg 1, scraper to prober: 1/1 targets admit the scraper",
            "not evaluated: the prober reaches host shop.example.com",
        ],
    );

    let fixed = golden("probe-ingress/fixed", "probe-ingress-fixed", 0);
    let p = subject(&fixed, "Probe", "monitoring", "shop-ingresses");
    assert_eq!(p["ready"], true, "{p:#}");
    assert!(cond(p, "DiscoveryPermitted")["message"]
        .as_str()
        .unwrap()
        .contains("RoleBinding shop/prometheus-discovery → Role shop/prometheus-discovery"));
}

/// The shard of a target is what the operator's sharding rules hash: `__tmp_hash` when a relabeling sets
/// it (here to a value of shard 0, so api-b is scraped by shard 0 and admitted), and every shard when a
/// relabeling sets `__tmp_disable_sharding` (so shard 1's pod, which the policy refuses, scrapes both
/// targets too, and the unready shard 1 leaves nothing unscraped).
#[test]
fn relabeling_moves_a_target_to_another_shard_or_to_every_shard() {
    let pinned = (0..)
        .map(|i| format!("v{i}"))
        .find(|v| scrapepath::relabel::hash_mod(v, 2) == 0)
        .unwrap();
    let world = format!(
        r#"{SHARDED_WORLD}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: pinned, namespace: app}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  podMetricsEndpoints:
  - port: http
    relabelings: [{{targetLabel: __tmp_hash, replacement: {pinned}, action: replace}}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: everywhere, namespace: app}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  podMetricsEndpoints:
  - port: http
    relabelings: [{{targetLabel: __tmp_disable_sharding, replacement: "true", action: replace}}]
"#
    );
    let p = write_tmp("shard-keys", &world);
    let (code, out, err) = check(&["-f", p.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let verdicts = |name: &str| -> Vec<String> {
        subject(&r, "PodMonitor", "app", name)["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    t["pod"].as_str().unwrap(),
                    t["network"]["verdict"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        verdicts("pinned"),
        ["app/api-a Allowed", "app/api-b Allowed"],
        "{out}"
    );
    assert_eq!(
        verdicts("everywhere"),
        ["app/api-a Denied", "app/api-b Denied"],
        "{out}"
    );
    let pinned_ready = cond(subject(&r, "PodMonitor", "app", "pinned"), "ScraperReady");
    assert_eq!(pinned_ready["status"], "True", "{pinned_ready}");
    let everywhere_ready = cond(
        subject(&r, "PodMonitor", "app", "everywhere"),
        "ScraperReady",
    );
    assert_eq!(everywhere_ready["status"], "True", "{everywhere_ready}");
}

/// Issue 17's bad input: a Prometheus with an unknown field is refused naming it; a StatefulSet without
/// status and an Event without a reason give a verdict that says what is unknown, never a panic.
#[test]
fn seed_003_with_an_unknown_field_a_statefulset_without_status_and_an_event_without_reason() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("seed-003-bad-input");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seed = root().join("deploy/examples/seed-003-prometheus-not-created");
    for f in ["monitors.yaml", "namespaces.yaml", "service.yaml"] {
        std::fs::copy(seed.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(seed.join("prometheus.yaml")).unwrap();
    let status = text
        .find("status:\n  observedGeneration: 1\n  replicas: 0")
        .unwrap();
    let event = text.find("---\n# What `kubectl describe").unwrap();
    let bad =
        format!("{}{}", &text[..status], &text[event..]).replace("reason: FailedCreate\n", "");
    let file = dir.join("prometheus.yaml");
    let dir_s = dir.to_str().unwrap();

    std::fs::write(
        &file,
        bad.replacen(
            "  enableAdminAPI: false\n",
            "  enableAdminAPI: false\n  initContainer: []\n",
            1,
        ),
    )
    .unwrap();
    let (code, _, stderr) = check(&["-f", dir_s]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Prometheus monitoring/kps-kube-prometheus-stack-prometheus: spec.initContainer: unknown field"),
        "{stderr}"
    );

    std::fs::write(&file, &bad).unwrap();
    let (code, out, stderr) = check(&["-f", dir_s, "-o", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let (_, msg) = seed_003_scraper_ready(&r);
    assert_contains_all(&msg, &[
        "StatefulSet monitoring/prometheus-kps-kube-prometheus-stack-prometheus: reports no status (the StatefulSet controller has not observed it): whether its pods were created is unknown",
        "Event (no reason given): create Pod prometheus-kps-kube-prometheus-stack-prometheus-0",
    ]);
}

/// Topology sharding (prometheus-operator's `PrometheusTopologySharding` feature gate): each shard
/// keeps the targets of its zone, the zone of a target's Node; a target on a Node without a zone is
/// kept by no shard, which `ScraperReady` names. Without the gate the operator shards by address.
#[test]
fn topology_sharding_scrapes_a_target_from_its_zones_shard_and_a_zoneless_one_from_none() {
    let p = write_tmp("topology-sharding", TOPOLOGY_WORLD);
    let run = |gates: &str| check_json_with_gates(&p, gates);
    let verdicts = |r: &Value| -> Vec<String> {
        subject(r, "PodMonitor", "app", "api")["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    t["pod"].as_str().unwrap(),
                    t["network"]["verdict"].as_str().unwrap()
                )
            })
            .collect()
    };
    let on = run("PrometheusTopologySharding=true");
    // api-a is scraped by the zone-a shard (admitted), api-b by the zone-b shard (not admitted);
    // api-c by none, so no scraper pod judges it.
    let v = verdicts(&on);
    assert!(v.contains(&"app/api-a Allowed".to_string()), "{v:?}");
    assert!(v.contains(&"app/api-b Denied".to_string()), "{v:?}");
    let ready = cond(subject(&on, "PodMonitor", "app", "api"), "ScraperReady");
    assert_eq!(ready["status"], "False", "{ready}");
    let msg = ready["message"].as_str().unwrap();
    assert!(
        msg.contains("no shard keeps api-c (10.244.3.10:8080, no zone)")
            && msg.contains("topology sharding over 2 shards in zones za, zb"),
        "{msg}"
    );
    // Without the gate the operator ignores shardingStrategy: every target has a shard.
    let off = run("PrometheusTopologySharding=false");
    let ready = cond(subject(&off, "PodMonitor", "app", "api"), "ScraperReady");
    assert_eq!(ready["status"], "True", "{ready}");
    assert_eq!(verdicts(&off).len(), 3);
    // A malformed gate list is refused, naming the entry.
    let (code, _, err) = check(&[
        "-f",
        p.to_str().unwrap(),
        "--prometheus-operator-feature-gates",
        "PrometheusTopologySharding",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"PrometheusTopologySharding\" is not NAME=true or NAME=false"),
        "{err}"
    );
}

/// `check -o json` on `p` with prometheus-operator's feature gates `gates`.
fn check_json_with_gates(p: &Path, gates: &str) -> Value {
    let (code, out, err) = check(&[
        "-f",
        p.to_str().unwrap(),
        "-o",
        "json",
        "--prometheus-operator-feature-gates",
        gates,
    ]);
    assert!(code == 0 || code == 1, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Two topology shards over Nodes with and without a zone, three api pods, a policy admitting the
/// zone-a shard alone.
const TOPOLOGY_WORLD: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: za}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {topology.kubernetes.io/zone: zb}}
---
apiVersion: v1
kind: Node
metadata: {name: node-c}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k, namespace: monitoring}
spec:
  shards: 2
  shardingStrategy: {mode: Topology, topology: {values: [za, zb]}}
  serviceAccountName: prometheus
  podMonitorSelector: {}
  podMonitorNamespaceSelector: {}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k, prometheus: k, operator.prometheus.io/shard: "0"}
spec: {nodeName: node-a, serviceAccountName: prometheus, containers: [{name: prometheus, image: prom/prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.244.1.5, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k-shard-1-0
  namespace: monitoring
  labels: {app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k, prometheus: k, operator.prometheus.io/shard: "1"}
spec: {nodeName: node-b, serviceAccountName: prometheus, containers: [{name: prometheus, image: prom/prometheus, ports: [{name: web, containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.244.2.5, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-a, namespace: app, labels: {app: api}}
spec: {nodeName: node-a, containers: [{name: api, image: example/api, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.1.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-b, namespace: app, labels: {app: api}}
spec: {nodeName: node-b, containers: [{name: api, image: example/api, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.2.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-c, namespace: app, labels: {app: api}}
spec: {nodeName: node-c, containers: [{name: api, image: example/api, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.244.3.10, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: api, namespace: app}
spec:
  selector: {matchLabels: {app: api}}
  podMetricsEndpoints: [{port: http}]
---
# Admits the zone-a shard alone.
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: shard-0-only, namespace: app}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints:
    - matchLabels: {k8s:io.kubernetes.pod.namespace: monitoring, operator.prometheus.io/shard: "0"}
"#;

/// A ClusterRole and binding that let the scraper's ServiceAccount list and watch pods, and nothing else.
const PODS_ONLY_RBAC: &str = r#"
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: prometheus}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: prometheus}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
"#;

/// Topology sharding makes the operator attach node metadata, so Prometheus must list and watch Nodes
/// (semantics/prometheus-operator-shards.md S7): a ClusterRole granting pods alone is named.
#[test]
fn topology_sharding_needs_the_scraper_to_list_nodes() {
    let rbac = PODS_ONLY_RBAC;
    let p = write_tmp("topology-rbac", &format!("{TOPOLOGY_WORLD}{rbac}"));
    let run = |gates: &str| check_json_with_gates(&p, gates);
    let on = run("PrometheusTopologySharding=true");
    let c = cond(
        subject(&on, "PodMonitor", "app", "api"),
        "DiscoveryPermitted",
    );
    assert_eq!(c["status"], "False", "{c}");
    assert!(
        c["message"].as_str().unwrap().contains("node discovery"),
        "{c}"
    );
    // Without topology sharding no node metadata is attached: pods are all it needs.
    let off = run("PrometheusTopologySharding=false");
    let c = cond(
        subject(&off, "PodMonitor", "app", "api"),
        "DiscoveryPermitted",
    );
    assert_eq!(c["status"], "True", "{c}");
}

/// Scrape classes' `attachMetadata` (prometheus-operator v0.91 `mergeAttachMetadataWithScrapeClass`): a
/// monitor that sets no `attachMetadata` takes its class's, so its job sees the Node's labels and
/// annotations (`__meta_kubernetes_node_annotation_*`) and Prometheus must list and watch Nodes; the
/// monitor's own `attachMetadata` wins, even `{}` without `node`. With node metadata a pod on a Node
/// Prometheus does not know yields no target.
#[test]
fn a_scrape_class_attaches_node_metadata_unless_the_monitor_sets_its_own() {
    let rbac = PODS_ONLY_RBAC;
    // (class attachMetadata, monitor attachMetadata) → (DiscoveryPermitted, targets kept by a rule on
    // the Node's `rack` annotation, which only node-a has).
    let rows: &[(&str, &str, &str, &[&str])] = &[
        (
            ", attachMetadata: {node: true}",
            "",
            "False",
            &["app/api-a"],
        ),
        (
            ", attachMetadata: {node: true}",
            "  attachMetadata: {}\n",
            "True",
            &[],
        ),
        (
            ", attachMetadata: {node: true}",
            "  attachMetadata: {node: false}\n",
            "True",
            &[],
        ),
        (
            ", attachMetadata: {node: false}",
            "  attachMetadata: {node: true}\n",
            "False",
            &["app/api-a"],
        ),
        (", attachMetadata: {}", "", "True", &[]),
        ("", "", "True", &[]),
    ];
    for (class, own, permitted, kept) in rows {
        let world = TOPOLOGY_WORLD
            .replace(
                "  shards: 2\n  shardingStrategy: {mode: Topology, topology: {values: [za, zb]}}\n",
                &format!("  scrapeClasses: [{{name: nodes, default: true{class}}}]\n"),
            )
            .replace(
                "metadata: {name: node-a, labels: {topology.kubernetes.io/zone: za}}",
                "metadata: {name: node-a, labels: {topology.kubernetes.io/zone: za}, annotations: {example.com/rack: r1}}",
            )
            .replace(
                "  podMetricsEndpoints: [{port: http}]\n",
                &format!("  podMetricsEndpoints: [{{port: http, relabelings: [{{action: keep, sourceLabels: [__meta_kubernetes_node_annotation_example_com_rack, __meta_kubernetes_node_annotationpresent_example_com_rack], regex: 'r1;true'}}]}}]\n{own}"),
            );
        let p = write_tmp("class-attach-metadata", &format!("{world}{rbac}"));
        let (code, out, err) = check(&["-f", p.to_str().unwrap(), "-o", "json"]);
        assert!(code == 0 || code == 1, "{err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        let s = subject(&r, "PodMonitor", "app", "api");
        let c = cond(s, "DiscoveryPermitted");
        assert_eq!(
            c["status"], *permitted,
            "class{class}, monitor {own:?}: {c}"
        );
        if *permitted == "False" {
            assert!(
                c["message"].as_str().unwrap().contains("node discovery"),
                "{c}"
            );
        }
        let pods: Vec<&str> = s["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["pod"].as_str().unwrap())
            .collect();
        assert_eq!(pods, *kept, "class{class}, monitor {own:?}");
    }
    // With node metadata Prometheus' role pod drops a pod whose Node it does not know (`buildPod`):
    // api-c on a Node not in the input is no target then, and is one without.
    for (class, want) in [
        (
            ", attachMetadata: {node: true}",
            vec!["app/api-a", "app/api-b"],
        ),
        ("", vec!["app/api-a", "app/api-b", "app/api-c"]),
    ] {
        let world = TOPOLOGY_WORLD
            .replace(
                "  shards: 2\n  shardingStrategy: {mode: Topology, topology: {values: [za, zb]}}\n",
                &format!("  scrapeClasses: [{{name: nodes, default: true{class}}}]\n"),
            )
            .replace("spec: {nodeName: node-c,", "spec: {nodeName: node-x,");
        let p = write_tmp("class-attach-metadata-unknown-node", &world);
        let (code, out, err) = check(&["-f", p.to_str().unwrap(), "-o", "json"]);
        assert!(code == 0 || code == 1, "{err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        let mut pods: Vec<&str> = subject(&r, "PodMonitor", "app", "api")["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["pod"].as_str().unwrap())
            .collect();
        pods.sort();
        assert_eq!(pods, want, "class{class}");
    }
}
