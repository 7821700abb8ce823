//! Mesh remedies (istio.md rule 19, DESIGN.md §4.3), in order of preference: what needs no policy change
//! (the merged 15020 endpoint), then a workload- and port-scoped ALLOW — only where ALLOW policies already
//! apply — while a matching DENY and STRICT mTLS are only reported, with the change to make spelled out.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::eval::{Basis, MeshDecision};
use super::workload::{
    annotation_scrape, merge_enabled, status_port, ENVOY_STATS_PORT, HEALTH_PORT, MERGED_PATH,
};
use super::MeshConfig;
use crate::model::{Labels, Pod};

/// One blocked target, with the decision made without scrapepath's own objects.
pub struct Blocked<'a> {
    pub pod: &'a Pod,
    pub port: u16,
    pub path: &'a str,
    pub decision: &'a MeshDecision,
}

fn labels_text(l: &Labels) -> String {
    format!(
        "{{{}}}",
        l.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Rule 19a: the no-policy-change alternative, when there is one.
fn merged_endpoint(b: &Blocked<'_>, cfg: &MeshConfig) -> Option<String> {
    let sp = status_port(b.pod);
    if !b.decision.facts.sidecar || [ENVOY_STATS_PORT, HEALTH_PORT, sp].contains(&b.port) || sp == 0
    {
        return None;
    }
    let ann = annotation_scrape(b.pod, cfg);
    let merged = ann.merged.as_ref();
    if let Some((port, path)) = merged.and_then(|m| m.app.as_ref()) {
        if *port == b.port && path == b.path {
            return Some(format!(
                "(a) no Istio change: pilot-agent already merges :{}{} into :{sp}{MERGED_PATH}, which Envoy never intercepts; scrape that instead (the prometheus.io annotations, or a PodMonitor on port {sp} path {MERGED_PATH})",
                b.port, b.path
            ));
        }
    }
    // What the agent merges today, when it is not this endpoint.
    let now = match merged {
        Some(m) => match &m.app {
            Some((port, path)) => format!(" (today it merges :{port}{path}: {})", m.source),
            None => format!(" (today it merges no app metrics: {})", m.source),
        },
        None => String::new(),
    };
    let (on, why) = merge_enabled(b.pod, cfg);
    let enable = if on {
        String::new()
    } else {
        format!(" and set prometheus.istio.io/merge-metrics: \"true\" (merging is off: {why})")
    };
    Some(format!(
        "(a) no Istio change: annotate the pod template with prometheus.io/port: \"{}\" and prometheus.io/path: {}{enable}{now}; after the restart pilot-agent fetches them over loopback (bypassing Istio policy) and serves them merged on :{sp}{MERGED_PATH}, which Envoy never intercepts — the app must serve plain HTTP on localhost",
        b.port, b.path
    ))
}

fn identity_alternative(b: &Blocked<'_>, cfg: &MeshConfig, scraper: (&str, &str)) -> String {
    if b.decision.facts.ambient {
        return format!(
            "(e) enrol Prometheus in ambient (label namespace {} istio.io/dataplane-mode=ambient): HBONE gives it the identity {}/ns/{}/sa/{}, which satisfies STRICT and can be named in principals",
            scraper.0, cfg.trust_domain, scraper.0, scraper.1
        );
    }
    format!(
        "(e) give Prometheus Istio certificates: inject it with traffic.sidecar.istio.io/includeInboundPorts: \"\" and traffic.sidecar.istio.io/includeOutboundIPRanges: \"\", set proxy.istio.io/config proxyMetadata.OUTPUT_CERTS: /etc/istio-output-certs with a sidecar.istio.io/userVolumeMount on an in-memory emptyDir, and scrape with scheme https and tls_config {{ca_file: root-cert.pem, cert_file: cert-chain.pem, key_file: key.pem, insecure_skip_verify: true}}; then principals [\"{}/ns/{}/sa/{}\"] matches (the port must be STRICT, rule 13)",
        cfg.trust_domain, scraper.0, scraper.1
    )
}

fn last_resort(b: &Blocked<'_>) -> Option<String> {
    b.decision.facts.sidecar.then(|| {
        format!(
            "(f) last resort: traffic.sidecar.istio.io/excludeInboundPorts: \"{}\" on the pod template (the pod restarts, and Istio no longer protects that port)",
            b.port
        )
    })
}

/// What to change for one blocked target, in rule-19 order. `generated`: the name of the ALLOW policy
/// scrapepath proposes for it, or why it proposes none. `scraper`: its namespace and service account.
/// `workload`: the labels that select the target's workload.
pub fn advice(
    b: &Blocked<'_>,
    cfg: &MeshConfig,
    scraper: (&str, &str),
    generated: &Result<String, String>,
    workload: Option<&Labels>,
) -> Vec<String> {
    let d = b.decision;
    let mut out = Vec::new();
    let workload_labels = workload
        .map(labels_text)
        .unwrap_or_else(|| "<the workload's labels>".to_string());
    match d.basis {
        Basis::MetricsLocalhostOnly => {
            out.push("unset METRICS_LOCALHOST_ACCESS_ONLY for this workload, or scrape from inside the pod; Istio releases after 1.29 serve the metrics over mTLS on 15091/15092 instead".to_string());
        }
        Basis::StrictMtls => {
            out.extend(merged_endpoint(b, cfg));
            out.push(match &d.facts.workload_pa {
                Some(pa) => format!(
                    "(b) edit {pa}, the workload PeerAuthentication in effect (only the oldest one selecting the pod counts): add portLevelMtls {{{}: {{mode: PERMISSIVE}}}} — PERMISSIVE keeps mTLS for meshed clients; scrapepath never weakens mTLS itself",
                    b.port
                ),
                None => format!(
                    "(b) add a PeerAuthentication in namespace {} with selector.matchLabels {workload_labels}, mtls.mode: UNSET and portLevelMtls {{{}: {{mode: PERMISSIVE}}}} (portLevelMtls in namespace or mesh policies is ignored; PERMISSIVE keeps mTLS for meshed clients); scrapepath never weakens mTLS itself",
                    b.pod.namespace, b.port
                ),
            });
            out.push(identity_alternative(b, cfg, scraper));
            out.extend(last_resort(b));
        }
        Basis::TlsNotTerminated => {
            out.push(format!(
                "scrape port {} over plain http, or make it STRICT for this workload (portLevelMtls {{{}: {{mode: STRICT}}}}) so Envoy terminates the Istio-certificate TLS (rule 13)",
                b.port, b.port
            ));
        }
        Basis::DenyPolicy => {
            out.extend(merged_endpoint(b, cfg));
            for (p, i) in &d.facts.deny_rules {
                out.push(format!(
                    "(d) narrow {p} rules[{i}] so it does not match the scrape, for example add to: [{{operation: {{notPorts: [\"{}\"]}}}}]; no ALLOW can override a DENY, so scrapepath only reports it",
                    b.port
                ));
            }
        }
        Basis::IdentityRequired | Basis::NoAllowMatch => {
            out.extend(merged_endpoint(b, cfg));
            let op = if d.facts.http {
                format!(
                    "to.operation {{ports: [\"{}\"], methods: [\"GET\"], paths: [\"{}\"]}}",
                    b.port, b.path
                )
            } else {
                format!("to.operation {{ports: [\"{}\"]}}", b.port)
            };
            out.push(match generated {
                Ok(name) => format!(
                    "(c) AuthorizationPolicy {}/{name}: ALLOW for this workload only, {op}, from any source — a sidecar-less scraper has no identity to name (namespaces and principals never match it); optionally add from.source.ipBlocks with the Prometheus pod CIDR",
                    b.pod.namespace
                ),
                Err(why) => format!(
                    "(c) an ALLOW for this workload with {op} would open the scrape, but scrapepath proposes none: {why}"
                ),
            });
            if d.basis == Basis::IdentityRequired {
                out.push(identity_alternative(b, cfg, scraper));
            }
            out.extend(last_resort(b));
        }
        Basis::ExternalAuthorizer => {
            out.push(format!(
                "make the external authorizer admit GET {} on port {} from the scraper, or narrow the CUSTOM rule so it does not match the scrape",
                b.path, b.port
            ));
        }
        Basis::OutsideMesh | Basis::NotCaptured | Basis::NoAllowPolicy | Basis::AllowPolicy => {}
    }
    out
}

/// The workload selector for a generated policy: the intent's `matchLabels` when that is all it has,
/// else the labels every target pod shares (Istio selectors take only `matchLabels`). `None`: nothing
/// narrower than the whole namespace.
pub fn workload_selector(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    pods: &[&Pod],
) -> Option<Labels> {
    if selector
        .match_expressions
        .as_ref()
        .is_none_or(Vec::is_empty)
    {
        return selector.match_labels.clone().filter(|m| !m.is_empty());
    }
    const VOLATILE: &[&str] = &["pod-template-hash", "controller-revision-hash"];
    let mut common: Option<Labels> = None;
    for p in pods {
        let l: Labels = p
            .labels
            .iter()
            .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        common = Some(match common {
            None => l,
            Some(c) => c.into_iter().filter(|(k, v)| l.get(k) == Some(v)).collect(),
        });
    }
    common.filter(|c| !c.is_empty())
}

/// The ALLOW AuthorizationPolicy of rule 19c: this workload, these ports, `GET` on the scrape paths where
/// the port is HTTP (`paths` empty: L4 only). One rule per port, so paths do not spread across ports.
pub fn allow_policy(
    ns: &str,
    name: &str,
    labels: Map<String, Value>,
    selector: &Labels,
    ports: &BTreeMap<u16, BTreeSet<String>>,
) -> Value {
    let rules: Vec<Value> = ports
        .iter()
        .map(|(port, paths)| {
            let mut op = json!({"ports": [port.to_string()]});
            if !paths.is_empty() {
                op["methods"] = json!(["GET"]);
                op["paths"] = json!(paths.iter().collect::<Vec<_>>());
            }
            json!({"to": [{"operation": op}]})
        })
        .collect();
    json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "action": "ALLOW",
            "rules": rules,
        },
    })
}
