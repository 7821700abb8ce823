//! prometheus-operator's `Probe` (monitoring.coreos.com/v1), as v0.91 selects, validates and turns it
//! into a scrape job (`semantics/prometheus-operator-probe.md`, rules P1–P9): the prober is the scraped
//! address, each probed target its `__param_target`.

use crate::index::ClusterIndex;
use crate::model::{Kind, ProbeResource, PromWorkload};
use crate::relabel::sanitize_label_name;

use super::{
    init_relabelings, relabel_rejections, rendered_rule, scrape_class_of, scrape_class_rejection,
    select_by, timeout_rejection, NotSelected, ShardKey,
};

/// P1: does `p` select the Probe? `spec.probeSelector` (null selects nothing, `{}` everything) and
/// `spec.probeNamespaceSelector` (null: the workload's own namespace), as `selectObjects` applies them
/// to every kind (`resource_selector.go: SelectProbes`). A DaemonSet-mode agent renders no Probe.
pub fn selects_probe(
    p: &PromWorkload,
    pr: &ProbeResource,
    idx: &ClusterIndex,
) -> Result<(), NotSelected> {
    select_by(
        p,
        Kind::Probe,
        (&p.probe_selector, &p.probe_ns_selector),
        &pr.labels,
        &pr.namespace,
        idx,
    )
}

/// P2: why prometheus-operator v0.91 rejects a selected Probe (empty: accepted), in the order of its
/// `checkProbe` (the first is the one its status names): the scrape class, a targets section with
/// neither `staticConfig` nor `ingress`, the scrape timeout against the interval, the metric
/// relabelings, the static and ingress relabelings, and a prober URL that is not `host` or
/// `host:port`. Not covered: the Secrets that authentication, TLS and proxy settings refer to.
pub fn probe_rejections(p: &PromWorkload, pr: &ProbeResource) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(
        scrape_class_rejection(p, &pr.scrape_class).map(|e| format!("scrapeClassName: {e}")),
    );
    if pr.static_config.is_none() && pr.ingress.is_none() {
        out.push(
            "at least one of .spec.targets.staticConfig and .spec.targets.ingress is required"
                .into(),
        );
    }
    out.extend(timeout_rejection(
        p,
        "spec",
        &pr.interval,
        &pr.scrape_timeout,
    ));
    out.extend(relabel_rejections(
        p,
        "spec.metricRelabelings",
        &pr.metric_relabelings,
    ));
    if let Some(st) = &pr.static_config {
        out.extend(relabel_rejections(
            p,
            "spec.targets.staticConfig.relabelingConfigs",
            &st.relabelings,
        ));
    }
    if let Some(ing) = &pr.ingress {
        out.extend(relabel_rejections(
            p,
            "spec.targets.ingress.relabelingConfigs",
            &ing.relabelings,
        ));
    }
    if let Err(e) = validate_prober_url(&pr.prober_url) {
        out.push(format!(
            "spec.prober.url {:?} is invalid, it should be of the format `hostname` or `hostname:port`: {e}",
            pr.prober_url
        ));
    }
    out
}

/// P3: `validateProberURL`: `host` or `host:port` as Go's `net.SplitHostPort` splits it, the host an
/// IP or a DNS name (govalidator's `IsHost`), the port a number in 1–65535. A URL with a scheme
/// (`http://blackbox:9115`) is no host.
pub fn validate_prober_url(url: &str) -> Result<(), String> {
    match split_host_port(url) {
        Err(_) if is_host(url) => Ok(()),
        Err(_) => Err(format!("invalid host: {url:?}")),
        Ok((host, _)) if !is_host(host) => Err(format!("invalid host: {host:?}")),
        Ok((_, port)) if !port.parse::<i64>().is_ok_and(|n| (1..65536).contains(&n)) => {
            Err(format!("invalid port: {port:?}"))
        }
        Ok(_) => Ok(()),
    }
}

/// Go's `net.SplitHostPort`.
fn split_host_port(hostport: &str) -> Result<(&str, &str), &'static str> {
    let i = hostport.rfind(':').ok_or("missing port in address")?;
    let (host, j, k) = if let Some(rest) = hostport.strip_prefix('[') {
        let end = rest.find(']').ok_or("missing ']' in address")? + 1;
        if end + 1 == hostport.len() {
            return Err("missing port in address");
        }
        if end + 1 != i {
            return Err(if hostport.as_bytes()[end + 1] == b':' {
                "too many colons in address"
            } else {
                "missing port in address"
            });
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return Err("too many colons in address");
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hostport[k..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host, &hostport[i + 1..]))
}

/// govalidator's `IsHost`: an IP, or a DNS name of its pattern.
fn is_host(s: &str) -> bool {
    static DNS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^([a-zA-Z0-9_]{1}[a-zA-Z0-9_-]{0,62}){1}(\.[a-zA-Z0-9_]{1}[a-zA-Z0-9_-]{0,62})*[\._]?$",
        )
        .expect("govalidator's DNSName pattern compiles")
    });
    let ip = s.parse::<std::net::IpAddr>().is_ok();
    ip || (!s.is_empty() && s.replace('.', "").len() <= 255 && DNS.is_match(s))
}

/// P4–P7: the job prometheus-operator generates for the Probe `pr` selected by `p`
/// (`promcfg.go: generateProbeConfig`), as far as discovery, relabeling and the scrape URL go: job
/// `probe/<ns>/<name>`, `metrics_path` the prober's path (default `/probe`), the prober's scheme,
/// `params` with `module` first; `relabel_configs` = the job name kept, `spec.jobName` as `job`, then
/// for static targets `__address__` → `__param_target` → `instance` and `__address__` = the prober
/// URL, the scrape class's and the static relabelings; for ingress targets the selector as keep/drop
/// rules, `__param_target` = `<scheme>://<host><path>`, `namespace`, `ingress`, the prober URL, the
/// class's and the ingress relabelings; then `enforcedNamespaceLabel`'s rule. The sharding rules (on `__param_target`, P8) are not in the
/// job: [`ShardKey::of_probe_target`] decides the shard.
pub fn probe_job(
    p: &PromWorkload,
    pr: &ProbeResource,
) -> Result<crate::scrapeconfig::ScrapeJob, crate::scrapeconfig::ConfigError> {
    use serde_json::{json, Map, Value};
    let render = rendered_rule;
    let mut relabelings = init_relabelings();
    if let Some(job) = pr.job_name.as_ref().filter(|j| !j.is_empty()) {
        relabelings.push(json!({"target_label": "job", "replacement": job}));
    }
    let class: Vec<Value> = scrape_class_of(p, &pr.scrape_class)
        .map(|c| c.relabelings.iter().map(render).collect())
        .unwrap_or_default();
    let prober = json!({"target_label": "__address__", "replacement": pr.prober_url});
    let enforced = enforced_namespace_rule(p, pr);
    let mut job = Map::new();
    job.insert(
        "job_name".into(),
        json!(format!("probe/{}/{}", pr.namespace, pr.name)),
    );
    job.insert(
        "metrics_path".into(),
        json!(pr.prober_path.as_deref().unwrap_or("/probe")),
    );
    if let Some(i) = pr.interval.as_ref().filter(|i| !i.is_empty()) {
        job.insert("scrape_interval".into(), json!(i));
    }
    if let Some(scheme) = &pr.prober_scheme {
        job.insert("scheme".into(), json!(scheme.to_ascii_lowercase()));
    }
    let mut params = Map::new();
    let module = pr.module.as_ref().filter(|m| !m.is_empty());
    if let Some(m) = module {
        params.insert("module".into(), json!([m]));
    }
    for (name, values) in &pr.params {
        if module.is_some() && name == "module" {
            continue;
        }
        params.insert(name.clone(), json!(values));
    }
    if !params.is_empty() {
        job.insert("params".into(), Value::Object(params));
    }
    if let Some(st) = &pr.static_config {
        let mut labels = st.labels.clone().unwrap_or_default();
        labels
            .entry("namespace".into())
            .or_insert_with(|| pr.namespace.clone());
        job.insert(
            "static_configs".into(),
            json!([{"targets": st.targets, "labels": labels}]),
        );
        relabelings
            .push(json!({"source_labels": ["__address__"], "target_label": "__param_target"}));
        relabelings.push(json!({"source_labels": ["__param_target"], "target_label": "instance"}));
        relabelings.push(prober);
        relabelings.extend(class);
        relabelings.extend(st.relabelings.iter().map(render));
        relabelings.extend(enforced);
    } else if let Some(ing) = &pr.ingress {
        let keep_drop = |action: &str, key: &str, regex: String, present_only: bool| {
            let key = sanitize_label_name(key);
            let mut sources = Vec::new();
            if !present_only {
                sources.push(format!("__meta_kubernetes_ingress_label_{key}"));
            }
            sources.push(format!("__meta_kubernetes_ingress_labelpresent_{key}"));
            json!({"action": action, "source_labels": sources, "regex": regex})
        };
        if let Some(ml) = &ing.selector.match_labels {
            for (k, v) in ml {
                relabelings.push(keep_drop("keep", k, format!("({v});true"), false));
            }
        }
        for e in ing.selector.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default().join("|");
            relabelings.push(match e.operator.as_str() {
                "In" => keep_drop("keep", &e.key, format!("({values});true"), false),
                "NotIn" => keep_drop("drop", &e.key, format!("({values});true"), false),
                "Exists" => keep_drop("keep", &e.key, "true".into(), true),
                "DoesNotExist" => keep_drop("drop", &e.key, "true".into(), true),
                _ => continue,
            });
        }
        let mut sd = Map::new();
        sd.insert("role".into(), json!("ingress"));
        if let Some(names) = ingress_namespaces(p, pr) {
            sd.insert("namespaces".into(), json!({"names": names}));
        }
        job.insert("kubernetes_sd_configs".into(), json!([Value::Object(sd)]));
        relabelings.push(json!({
            "source_labels": ["__meta_kubernetes_ingress_scheme", "__address__", "__meta_kubernetes_ingress_path"],
            "separator": ";", "regex": "(.+);(.+);(.+)", "target_label": "__param_target",
            "replacement": "${1}://${2}${3}", "action": "replace",
        }));
        relabelings.push(
            json!({"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}),
        );
        relabelings.push(
            json!({"source_labels": ["__meta_kubernetes_ingress_name"], "target_label": "ingress"}),
        );
        relabelings.push(json!({
            "source_labels": ["__address__"], "separator": ";", "regex": "(.*)",
            "target_label": "__tmp_ingress_address", "replacement": "$1", "action": "replace",
        }));
        relabelings.push(json!({"source_labels": ["__param_target"], "target_label": "instance"}));
        relabelings.push(prober);
        relabelings.extend(class);
        relabelings.extend(ing.relabelings.iter().map(render));
        relabelings.extend(enforced);
    }
    job.insert("relabel_configs".into(), json!(relabelings));
    crate::scrapeconfig::job_from_value(
        Value::Object(job),
        Some(
            p.scrape_interval
                .clone()
                .unwrap_or_else(|| "30s".to_string()),
        ),
    )
}

/// The rule `enforcedNamespaceLabel` adds after the static or ingress relabelings
/// (`namespacelabeler.GetRelabelingConfigs`): the label set to the Probe's namespace, unless an
/// `excludedFromEnforcement` entry names the Probe (resource `probes`, its namespace, its name or
/// none). It matters for targets: two Ingresses of different namespaces with the same host and path
/// become one target.
fn enforced_namespace_rule(p: &PromWorkload, pr: &ProbeResource) -> Option<serde_json::Value> {
    let label = p.enforced_namespace_label.as_ref()?;
    let excluded = p
        .excluded_from_enforcement
        .iter()
        .any(|(group, resource, ns, name)| {
            group == "monitoring.coreos.com"
                && resource == "probes"
                && *ns == pr.namespace
                && (name.is_empty() || *name == pr.name)
        });
    (!excluded).then(|| serde_json::json!({"target_label": label, "replacement": pr.namespace}))
}

/// The namespaces the ingress role of a Probe discovers in (`getNamespacesFromNamespaceSelector`):
/// its own with `ignoreNamespaceSelectors`, every one (`None`) with `any`, else `matchNames`, else its
/// own.
fn ingress_namespaces(p: &PromWorkload, pr: &ProbeResource) -> Option<Vec<String>> {
    let sel = &pr.ingress.as_ref()?.namespace_selector;
    if p.ignore_namespace_selectors {
        return Some(vec![pr.namespace.clone()]);
    }
    if sel.any {
        return None;
    }
    if !sel.match_names.is_empty() {
        return Some(sel.match_names.clone());
    }
    Some(vec![pr.namespace.clone()])
}

impl ShardKey {
    /// P8: the key of a target of a Probe's job (`appendShardingRelabelingForProbes`: the sharding
    /// rules hash `__param_target`, the probed target, not the address, which is the prober's for
    /// every target): `__tmp_hash` where relabeling set it, else `__param_target`; every shard where
    /// relabeling set `__tmp_disable_sharding`.
    /// Under topology sharding its zone is `__tmp_topology` as relabeling left it: a static target
    /// has no EndpointSlice or Node behind it.
    pub fn of_probe_target(labels: &crate::model::Labels) -> ShardKey {
        ShardKey::of_labels_hashing(labels, "__param_target")
    }
}
