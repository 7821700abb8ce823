//! The engine's `Probe` subjects (issue 14 item 5, `semantics/prometheus-operator-probe.md`): a Probe
//! selected by a Prometheus is a job whose every target has the prober (blackbox-exporter) as its
//! address and the probed target as `__param_target`. Its network verdict has two legs, both needed
//! for Ready: (1) the scraper's pods of the shard that owns each probed target reach the prober's pods
//! (the prober URL resolved to a Service's pods or a pod IP), and (2) the prober's pods reach each
//! probed target that is a Service name or a pod IP (hostnames outside the cluster are resolved only at
//! probe time and not judged; an Ingress target is reached through its controller).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    condition, finish, selection_condition, target_address, unknown, ConditionOut, Engine,
    Evaluated, RefOut, Scraper, SubjectReport,
};
use crate::conditions::{self as cond, reason};
use crate::index::{ClusterIndex, PodId};
use crate::model::{Kind, ObjRef, Pod, ProbeResource, PromWorkload};
use crate::promop::{self, NotSelected, ShardKey};
use crate::scrapeconfig::{Discovery, Role, ScrapeJob};

/// Where an address `host[:port]` leads in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// The pods behind it and the port each listens on, with what was resolved (`Service ns/name
    /// port 9115`, `pod ns/name`).
    Pods(Vec<(PodId, u16)>, String),
    /// A name that is no Service of the input (outside the cluster, or not in the input): resolved
    /// only when it is connected to.
    Hostname(String),
    /// It names something of the cluster that leads to no pod: why.
    Nothing(String),
}

/// `scheme://host:port/path?query` or `host[:port]` split into (scheme, host, port, path); the port
/// defaults to the scheme's (80, or 443 for https).
pub fn split_target(target: &str) -> (Option<&str>, &str, u16, &str) {
    let (scheme, rest) = match target.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, target),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme.is_some_and(|s| s.eq_ignore_ascii_case("https")) {
        443
    } else {
        80
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
            _ => (authority, None),
        }
    };
    (scheme, host, port.unwrap_or(default), path)
}

/// P9: what `host:port` reaches from a pod in namespace `from`: a pod IP; a Service name
/// (`svc.ns.svc.cluster.local`, `svc.ns.svc`, `svc.ns`, or `svc` in `from`) at one of its ports,
/// resolved to the pods behind it (its EndpointSlices, else the pods its selector matches) and the
/// target port on each; anything else a hostname.
pub fn resolve(idx: &ClusterIndex, from: &str, host: &str, port: u16) -> Resolved {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        let ip = ip.to_string();
        let mut pods: Vec<(PodId, &Pod)> = idx.pods_by_ip(&ip).collect();
        pods.sort_by_key(|(_, p)| (p.host_network, p.namespace.clone(), p.name.clone()));
        return match pods.first() {
            Some((id, p)) => Resolved::Pods(vec![(*id, port)], format!("pod {}", p.display())),
            None => Resolved::Hostname(host.to_string()),
        };
    }
    let host = host.trim_end_matches('.');
    let parts: Vec<&str> = host.split('.').collect();
    let (svc, ns) = match parts.as_slice() {
        [s, n, "svc", "cluster", "local"] | [s, n, "svc"] | [s, n] => (*s, *n),
        [s] => (*s, from),
        _ => return Resolved::Hostname(host.to_string()),
    };
    let Some(service) = idx.service(ns, svc) else {
        // `a.b` may be a name outside the cluster as well as a Service of a namespace not in the input.
        return Resolved::Hostname(host.to_string());
    };
    let Some(sp) = service.ports.iter().find(|p| p.port == i32::from(port)) else {
        let ports: Vec<String> = service.ports.iter().map(|p| p.port.to_string()).collect();
        return Resolved::Nothing(format!(
            "Service {ns}/{svc} has no port {port} (its ports: {})",
            if ports.is_empty() {
                "none".to_string()
            } else {
                ports.join(", ")
            }
        ));
    };
    let what = format!("Service {ns}/{svc} port {port}");
    let mut pods: Vec<(PodId, u16)> = Vec::new();
    let slices: Vec<_> = idx
        .slices_in(ns)
        .filter(|s| s.service.as_deref() == Some(svc))
        .collect();
    if slices.is_empty() {
        for (id, _, _, ports) in promop::selector_endpoints(service, idx) {
            if let Some((_, n, _)) = ports.iter().find(|(name, _, _)| *name == sp.name) {
                pods.push((id, *n));
            }
        }
    } else {
        for s in slices {
            let Some(n) = s
                .ports
                .iter()
                .find(|p| p.name == sp.name)
                .and_then(|p| u16::try_from(p.port?).ok())
            else {
                continue;
            };
            for e in &s.endpoints {
                let by_name = e.pod.as_deref().and_then(|name| idx.pod_by_name(ns, name));
                if let Some((id, _)) = by_name {
                    pods.push((id, n));
                }
            }
        }
    }
    pods.sort();
    pods.dedup();
    if pods.is_empty() {
        let target = match &sp.target_port {
            Some(IntOrString::Int(n)) => n.to_string(),
            Some(IntOrString::String(s)) => s.clone(),
            None => port.to_string(),
        };
        return Resolved::Nothing(format!(
            "{what} (target port {target}) has no endpoint: no pod backs it"
        ));
    }
    Resolved::Pods(pods, what)
}

/// The name of a pod's container port `number`, if it declares one.
fn port_name(pod: &Pod, number: u16) -> Option<String> {
    pod.containers
        .iter()
        .flat_map(|c| c.ports.iter())
        .find(|p| p.number == number)
        .and_then(|p| p.name.clone())
}

/// The probed targets of a Probe's job runs, as (run, `__param_target`, labels of the first target
/// with it, whether Kubernetes SD role `ingress` discovered it).
fn probed(
    runs: &[(usize, ScrapeJob, Discovery)],
) -> Vec<(usize, String, &crate::model::Labels, bool)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (si, _, d) in runs {
        for t in &d.targets {
            let target = t.labels.get("__param_target").cloned().unwrap_or_default();
            if seen.insert((*si, target.clone())) {
                out.push((*si, target, &t.labels, t.role == Role::Ingress));
            }
        }
    }
    out
}

/// The Ingress of an ingress target, `ns/name`: as relabeling left the `namespace` and `ingress`
/// labels, else the discovered meta labels.
fn ingress_of(labels: &crate::model::Labels) -> String {
    let get = |a: &str, b: &str| {
        labels
            .get(a)
            .or_else(|| labels.get(b))
            .cloned()
            .unwrap_or_default()
    };
    format!(
        "{}/{}",
        get("namespace", "__meta_kubernetes_namespace"),
        get("ingress", "__meta_kubernetes_ingress_name")
    )
}

impl<'a> Engine<'a> {
    /// Evaluates one Probe as an audit subject: which workloads select it and whether
    /// prometheus-operator accepts it (`MonitorSelected`); when some do, the job the operator generates
    /// for each (`promop::probe_job`): the prober resolved (`TargetsResolved`), the scrapers' shards
    /// (`ScraperReady`), and both network legs (`NetworkReachable`) and mesh legs (`MeshAuthorized`).
    pub fn probe(&mut self, pr: &ProbeResource) -> SubjectReport {
        let idx = self.idx;
        let verdicts: Vec<(&'a PromWorkload, Result<(), NotSelected>)> = idx
            .prometheuses()
            .map(|p| (p, promop::selects_probe(p, pr, idx)))
            .collect();
        let selected = selection_condition(
            verdicts.is_empty(),
            &verdicts,
            |p| promop::probe_rejections(p, pr),
            |p, e| e.message_for(p, Kind::Probe, &pr.namespace, &pr.name),
        );
        let running: Vec<&'a PromWorkload> = verdicts
            .iter()
            .filter(|(p, r)| r.is_ok() && promop::probe_rejections(p, pr).is_empty())
            .map(|(p, _)| *p)
            .collect();
        let report = |conditions: Vec<ConditionOut>, scrapers: Vec<RefOut>| {
            subject(pr, conditions, scrapers, Vec::new(), Vec::new(), Vec::new())
        };
        if running.is_empty() || selected.status != "True" {
            let scrapers = verdicts
                .iter()
                .filter(|(_, r)| r.is_ok())
                .map(|(p, _)| RefOut::from(&p.obj_ref()))
                .collect();
            return report(vec![selected], scrapers);
        }
        let scrapers: Vec<Scraper<'a>> = running
            .iter()
            .map(|p| self.scraper_from_workload(p))
            .collect();
        let scraper_refs = || scrapers.iter().map(|s| RefOut::from(&s.obj)).collect();
        let mut runs: Vec<(usize, ScrapeJob, Discovery)> = Vec::new();
        for (i, p) in running.iter().enumerate() {
            match promop::probe_job(p, pr) {
                Ok(job) => {
                    let d = crate::scrapeconfig::discover(&job, idx, &p.namespace);
                    runs.push((i, job, d));
                }
                Err(e) => {
                    let c = condition(
                        cond::TARGETS_RESOLVED,
                        false,
                        reason::CONFIG_UNREADABLE,
                        format!(
                            "the job prometheus-operator generates for Probe {}/{} cannot be read: {e}",
                            pr.namespace, pr.name
                        ),
                    );
                    return report(vec![c, selected], scraper_refs());
                }
            }
        }
        let job_name = runs[0].1.job_name.clone();
        // The prober, resolved from the scraper's namespace (the URL is the same in every run).
        // Without a port, the scheme's: Prometheus connects to 443 for `https`.
        let scheme = pr
            .prober_scheme
            .as_deref()
            .unwrap_or("http")
            .to_ascii_lowercase();
        let prober_url = format!("{scheme}://{}", pr.prober_url);
        let (_, prober_host, prober_port, _) = split_target(&prober_url);
        let prober = resolve(idx, &running[0].namespace, prober_host, prober_port);
        let (prober_pods, prober_what) = match &prober {
            Resolved::Pods(pods, what) => (pods.clone(), what.clone()),
            other => {
                let why = match other {
                    Resolved::Hostname(h) => format!(
                        "{h} is no Service or pod IP of the input: Prometheus resolves it only when it scrapes, and the probes cannot be judged"
                    ),
                    Resolved::Nothing(why) => why.clone(),
                    Resolved::Pods(..) => unreachable!("matched above"),
                };
                let c = condition(
                    cond::TARGETS_RESOLVED,
                    false,
                    reason::NO_TARGETS,
                    format!(
                        "the prober {:?} (spec.prober.url) resolves to no pod: {why}",
                        pr.prober_url
                    ),
                );
                return report(vec![c, selected], scraper_refs());
            }
        };
        let probed = probed(&runs);
        let https = |s: &str| s == "https";
        // Leg 1: each scraper's pods of the shard that owns the probed target reach each prober pod.
        let mut leg1: Vec<Evaluated> = Vec::new();
        let mut leg1_keys: Vec<(usize, String, ShardKey)> = Vec::new();
        let mut seen1 = BTreeSet::new();
        for (si, _, d) in &runs {
            for t in &d.targets {
                let key = ShardKey::of_probe_target(&t.labels);
                let shard = scrapers[*si].shards_of(&key);
                for (pod, port) in &prober_pods {
                    if !seen1.insert((*si, *pod, *port, shard.clone())) {
                        continue;
                    }
                    let name = port_name(idx.pod(*pod), *port);
                    let e = self.evaluate_one(
                        *pod,
                        *port,
                        name,
                        &t.path,
                        https(&t.scheme),
                        &key,
                        *si,
                        &scrapers[*si],
                    );
                    leg1_keys.push((*si, target_address(idx, *pod, *port).1, key.clone()));
                    leg1.push(e);
                }
            }
        }
        // Leg 2: the prober's pods reach each probed target that is in the cluster.
        let prober_scraper = Scraper {
            obj: ObjRef::new(
                Kind::Pod,
                &idx.pod(prober_pods[0].0).namespace,
                &idx.pod(prober_pods[0].0).name,
            ),
            pods: prober_pods
                .iter()
                .map(|(id, _)| idx.pod(*id).clone())
                .collect::<Vec<Pod>>(),
            ..Scraper::of_pod(idx.pod(prober_pods[0].0))
        };
        let prober_ns = idx.pod(prober_pods[0].0).namespace.clone();
        let mut leg2: Vec<Evaluated> = Vec::new();
        let mut leg2_addr: Vec<String> = Vec::new();
        let (mut hostnames, mut unresolved, mut ingresses) = (Vec::new(), Vec::new(), Vec::new());
        let mut seen2 = BTreeSet::new();
        for (_, target, labels, ingress) in &probed {
            // The prober reaches an Ingress host through DNS (the Ingress controller's address, or
            // anything the name resolves to): not evaluated. A rule without a host leaves no
            // `__param_target`: the prober is called without a target.
            if *ingress {
                let of = ingress_of(labels);
                if target.is_empty() {
                    unresolved.push(format!(
                        "a rule without host of Ingress {of}: the job sets no __param_target, and the prober gets no target"
                    ));
                } else {
                    let host = split_target(target).1;
                    ingresses.push(format!("host {host} of Ingress {of} ({target})"));
                }
                continue;
            }
            let (scheme, host, port, path) = split_target(target);
            match resolve(idx, &prober_ns, host, port) {
                Resolved::Pods(pods, _) => {
                    for (pod, port) in pods {
                        if !seen2.insert((pod, port, path.to_string())) {
                            continue;
                        }
                        let name = port_name(idx.pod(pod), port);
                        let path = if path.is_empty() { "/" } else { path };
                        leg2.push(self.evaluate_one(
                            pod,
                            port,
                            name,
                            path,
                            scheme.is_some_and(https),
                            &ShardKey::unsharded(),
                            0,
                            &prober_scraper,
                        ));
                        leg2_addr.push(target.clone());
                    }
                }
                Resolved::Hostname(h) => hostnames.push(h),
                Resolved::Nothing(why) => unresolved.push(format!("{target}: {why}")),
            }
        }
        // TargetsResolved: the prober and the probed targets.
        let mut conditions = Vec::new();
        let total = probed.len();
        let mut msg = format!(
            "prober {} resolves to {} pods ({prober_what}); {total} probed targets: {} at pods of the input",
            pr.prober_url,
            prober_pods.len(),
            leg2.len()
        );
        if !hostnames.is_empty() {
            msg.push_str(&format!(
                "; hostnames, resolved only at probe time (not judged): {}",
                hostnames.join(", ")
            ));
        }
        if !ingresses.is_empty() {
            msg.push_str(&format!(
                "; ingress targets, not evaluated (the prober reaches each host through DNS, the Ingress controller's address or whatever the name resolves to): {}",
                ingresses.join(", ")
            ));
        }
        if !unresolved.is_empty() {
            msg.push_str(&format!("; not resolved: {}", unresolved.join("; ")));
        }
        let drops: usize = runs.iter().map(|(_, _, d)| d.dropped.len()).sum();
        if drops > 0 {
            msg.push_str(&format!("; {drops} dropped by relabeling"));
        }
        conditions.push(if total == 0 {
            condition(
                cond::TARGETS_RESOLVED,
                false,
                reason::NO_TARGETS,
                format!(
                    "job {job_name} probes nothing: {}",
                    if pr.static_config.is_some() {
                        "spec.targets.staticConfig.static lists no target, or relabeling drops every one"
                    } else {
                        "no Ingress is discovered, or relabeling drops every one"
                    }
                ),
            )
        } else if !unresolved.is_empty() {
            condition(cond::TARGETS_RESOLVED, false, reason::NO_MATCHING_PODS, msg)
        } else {
            condition(cond::TARGETS_RESOLVED, true, reason::RESOLVED, msg)
        });
        conditions.push(
            self.scrapers_ready_condition(
                &scrapers,
                &leg1
                    .iter()
                    .zip(&leg1_keys)
                    .map(|(e, (si, addr, key))| {
                        (*si, (idx.pod(e.pod).name.as_str(), addr.clone()), key)
                    })
                    .collect::<Vec<_>>(),
            ),
        );
        conditions.push(selected);
        let mut grants = Vec::new();
        conditions.push(self.jobs_discovery_condition(
            &scrapers,
            runs.iter().map(|(si, job, _)| (*si, job)),
            &mut grants,
        ));
        // NetworkReachable: both legs.
        let (net1, mut blocked_by) = self.network_condition(&leg1, &scrapers);
        let prober_scrapers = [prober_scraper];
        // Leg 2 with nothing of the input to judge: Unknown, naming what was not evaluated.
        let not_judged = || {
            let mut why = vec!["no probed target is a pod or Service of the input".to_string()];
            if !ingresses.is_empty() {
                why.push(format!(
                    "not evaluated: the prober reaches {} through DNS",
                    ingresses.join(", ")
                ));
            }
            if !hostnames.is_empty() {
                why.push(format!(
                    "hostnames resolved only at probe time: {}",
                    hostnames.join(", ")
                ));
            }
            why.join("; ")
        };
        let (net2, blocked2) = if leg2.is_empty() {
            (
                unknown(cond::NETWORK_REACHABLE, reason::NO_TARGETS, not_judged()),
                Vec::new(),
            )
        } else {
            self.network_condition(&leg2, &prober_scrapers)
        };
        for b in blocked2 {
            if !blocked_by.contains(&b) {
                blocked_by.push(b);
            }
        }
        conditions.push(two_legs(cond::NETWORK_REACHABLE, &net1, &net2));
        // Remedies: admit the scraper at the prober, and the prober at the targets.
        let remedy_name = format!("scrapepath-{}-{}", pr.namespace, pr.name);
        let (mut remediation, mut plans) = self.target_remedies(&remedy_name, &leg1, &scrapers);
        let (remediation2, plans2) =
            self.target_remedies(&format!("{remedy_name}-prober"), &leg2, &prober_scrapers);
        remediation.extend(remediation2);
        plans.extend(plans2);
        let (mesh1, mesh_blocked) = self.mesh_condition(&leg1, &scrapers, &plans);
        let (mesh2, mesh_blocked2) = if leg2.is_empty() {
            (
                unknown(cond::MESH_AUTHORIZED, reason::NO_TARGETS, not_judged()),
                Vec::new(),
            )
        } else {
            self.mesh_condition(&leg2, &prober_scrapers, &plans)
        };
        conditions.push(two_legs(cond::MESH_AUTHORIZED, &mesh1, &mesh2));
        for b in mesh_blocked.into_iter().chain(mesh_blocked2) {
            if !blocked_by.contains(&b) {
                blocked_by.push(b);
            }
        }
        let (scraped, observed) = self.scraped_condition(&leg1, &scrapers, Some(&job_name));
        conditions.push(scraped);
        remediation.extend(grants);
        let mut targets = self.targets_out(&leg1, &scrapers, observed);
        for o in targets.iter_mut() {
            o.address = Some(pr.prober_url.clone());
        }
        let mut probes = self.targets_out(&leg2, &prober_scrapers, vec![None; leg2.len()]);
        for (o, a) in probes.iter_mut().zip(leg2_addr) {
            o.address = Some(a);
        }
        targets.extend(probes);
        subject(
            pr,
            conditions,
            scraper_refs(),
            targets,
            remediation,
            blocked_by,
        )
    }
}

/// The report of a Probe subject, `Ready` appended from its conditions.
fn subject(
    pr: &ProbeResource,
    mut conditions: Vec<ConditionOut>,
    scrapers: Vec<RefOut>,
    targets: Vec<super::TargetOut>,
    remediation: Vec<serde_json::Value>,
    blocked_by: Vec<(ObjRef, String)>,
) -> SubjectReport {
    let ready = finish(&mut conditions);
    SubjectReport {
        kind: Kind::Probe.to_string(),
        namespace: pr.namespace.clone(),
        name: pr.name.clone(),
        ready,
        conditions,
        scrapers,
        targets,
        remediation,
        mode: None,
        blocked_by,
    }
}

/// One condition of the two legs of a Probe: False when either is False (the first such leg's
/// reason), Unknown when leg 1 is and leg 2 is not False, else True; the message names each leg.
fn two_legs(type_: &str, leg1: &ConditionOut, leg2: &ConditionOut) -> ConditionOut {
    let message = format!(
        "leg 1, scraper to prober: {}; leg 2, prober to probed targets: {}",
        leg1.message,
        leg2.message
            .replace("admit the scraper", "admit the prober")
    );
    let (status, reason_) = if leg1.status == "False" {
        ("False", &leg1.reason)
    } else if leg2.status == "False" {
        ("False", &leg2.reason)
    } else if leg1.status == "Unknown" {
        ("Unknown", &leg1.reason)
    } else {
        ("True", &leg1.reason)
    };
    ConditionOut {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason_.clone(),
        message,
    }
}
