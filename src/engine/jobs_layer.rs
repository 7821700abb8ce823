//! The engine's `scrape_configs` layer (issue 6): scrapers that are configured by a plain
//! `prometheus.yml` (scraper kind `Pods`: the ConfigMap or Secret behind `--config.file`) or that add
//! jobs of their own (a Prometheus object's `additionalScrapeConfigs` Secret).
//!
//! - `monitor.kind: Annotations` intents: `MonitorSelected` says whether the scraper's jobs yield the
//!   intended targets, and, when not, which annotation the owning workload's pod template needs
//!   (reported, never applied: pods belong to their controllers).
//! - Audit without intents: every job becomes a `ScrapeJob` subject whose targets cross the same
//!   network and mesh layers as a monitor's.
//!
//! Configurations are parsed once, when the index receives the object; each job's discovery is
//! computed once per engine run. Nothing here runs when no scraper reads a configuration.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    address_layer, condition, finish, pods_selector, target_address, unknown, ConditionOut, Engine,
    Evaluated, RefOut, Scraper, SubjectReport,
};
use crate::api::ScrapeIntent;
use crate::conditions::{self as cond, reason};
use crate::index::PodId;
use crate::model::{ConfigEntry, ConfigKeyRef, Kind, ObjRef, Pod};
use crate::promop::{AddressTarget, ShardKey};
use crate::relabel::{sanitize_label_name, Action};
use crate::scrapeconfig::{self, Discovery, DropReason, PrometheusConfig, Role, ScrapeJob};
use crate::selector::Selector;

/// The subject kind of an audited job.
pub const SCRAPE_JOB: &str = "ScrapeJob";

/// A scraper's configuration, read and parsed.
#[derive(Clone)]
pub(super) struct JobsSource {
    pub key: ConfigKeyRef,
    entry: Arc<ConfigEntry>,
}

impl JobsSource {
    pub fn config(&self) -> &PrometheusConfig {
        self.entry
            .config
            .as_ref()
            .expect("a JobsSource is built only from a parsed configuration")
    }
}

/// Per-run cache of job discoveries: (configuration, job index, scraper namespace).
pub(super) type Discoveries = HashMap<(ConfigKeyRef, usize, String), Rc<Discovery>>;

/// The workload that owns a pod, as a person would name it: the Deployment behind a ReplicaSet
/// whose name ends in the pod's `pod-template-hash`, else the controller itself, else the pod.
pub fn pod_workload(pod: &Pod) -> ObjRef {
    match pod.controller.as_deref() {
        Some((kind, name)) if kind == "ReplicaSet" => {
            let hash = pod.labels.get("pod-template-hash");
            match (hash, name.rsplit_once('-')) {
                (Some(h), Some((deploy, suffix))) if suffix == h => {
                    ObjRef::new(Kind::Deployment, &pod.namespace, deploy)
                }
                _ => ObjRef::new(Kind::ReplicaSet, &pod.namespace, name),
            }
        }
        Some((kind, name)) if kind == "StatefulSet" => {
            ObjRef::new(Kind::StatefulSet, &pod.namespace, name)
        }
        Some((kind, name)) if kind == "DaemonSet" => {
            ObjRef::new(Kind::DaemonSet, &pod.namespace, name)
        }
        _ => ObjRef::new(Kind::Pod, &pod.namespace, &pod.name),
    }
}

/// A ScrapeJob subject's name: `<scraper>/<job>`.
fn subject_name(scraper: &Scraper<'_>, job: &str) -> String {
    format!("{}/{job}", scraper.obj.name)
}

/// A Kubernetes object name for the remedy of a job (job names may hold any character).
fn remedy_name(scraper: &Scraper<'_>, job: &str) -> String {
    let raw = format!(
        "scrapepath-{}-{}-{}",
        scraper.obj.namespace, scraper.obj.name, job
    );
    let mut name: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// Whether a job discovers Kubernetes pods or endpoints (the roles whose targets are pods).
fn discovers_pods(job: &ScrapeJob) -> bool {
    job.kubernetes_sd_configs
        .iter()
        .any(|sd| matches!(sd.role, Role::Pod | Role::Endpoints | Role::EndpointSlice))
}

/// Whether the audit makes a job a subject: it discovers pods or endpoints, or lists a static target
/// at an IP address the network layer can judge (a job of hostnames or of the scraper's own loopback
/// only, such as Prometheus scraping itself at `localhost:9090`, has nothing to judge).
fn audited(job: &ScrapeJob) -> bool {
    discovers_pods(job)
        || job
            .static_configs
            .iter()
            .flat_map(|st| &st.targets)
            .any(|t| judged_ip(t).is_some())
}

/// Why a wanted target is not scraped: the reason, the message, and the annotations the owning
/// workload (or the Service, for an endpoints job keyed on Service annotations) needs.
struct Diagnosis {
    reason: &'static str,
    /// The job that explains it (`None`: no job discovers the pod).
    job: Option<String>,
    why: String,
    fix: Option<(ObjRef, BTreeMap<String, String>)>,
}

/// One target an Annotations intent wants: a pod, the port when the pod declares it (else the number
/// asked for, if any), and the path.
struct Wanted {
    pod: PodId,
    port: Option<u16>,
    path: String,
}

impl<'a> Engine<'a> {
    /// Scraper pods grouped by their workload, in order: the `Pods` scrapers the audit finds itself.
    /// Only pods whose `--config.file` is a ConfigMap or Secret key count.
    pub(super) fn pod_scrapers(&self) -> Vec<Scraper<'a>> {
        let mut groups: BTreeMap<ObjRef, Vec<Pod>> = BTreeMap::new();
        for (_, pod) in self.idx.scraper_pods() {
            let configured = pod
                .prometheus_config
                .as_ref()
                .is_some_and(|c| c.source.is_ok());
            if configured && !matches!(pod.phase.as_str(), "Failed" | "Succeeded") {
                groups
                    .entry(pod_workload(pod))
                    .or_default()
                    .push(pod.clone());
            }
        }
        groups
            .into_iter()
            .map(|(obj, pods)| scraper_from_pods(obj, pods))
            .collect()
    }

    /// The configuration a scraper reads its jobs from: `Ok(None)` for a Prometheus object without
    /// `additionalScrapeConfigs`; `Err` names the object and key and says what is wrong.
    pub(super) fn scraper_config(&self, s: &Scraper<'a>) -> Result<Option<JobsSource>, String> {
        // The Prometheus major version that will load the file: the object's, or the image tag of the
        // pod's Prometheus container.
        let major: Option<u32>;
        let key = match s.workload {
            Some(p) => match &p.additional_scrape_configs {
                None => return Ok(None),
                Some(k) => {
                    major = p.prometheus_version().map(|(m, _)| m);
                    k.clone()
                }
            },
            None => {
                let Some(pod) = s.pods.first() else {
                    return Err(format!("{} has no pod", s.display()));
                };
                let Some(file) = &pod.prometheus_config else {
                    return Err(format!(
                        "pod {} runs no Prometheus container (no container runs a Prometheus image or the prometheus binary with --config.file)",
                        pod.display()
                    ));
                };
                major = pod
                    .containers
                    .iter()
                    .find(|c| c.name == file.container)
                    .and_then(|c| crate::model::image_tag(&c.image))
                    .and_then(|t| t.trim_start_matches('v').split('.').next()?.parse().ok());
                match &file.source {
                    Ok(k) => k.clone(),
                    Err(e) => return Err(format!("pod {}: {e}", pod.display())),
                }
            }
        };
        let entry = self.idx.config_entry(&key)?;
        match &entry.config {
            Err(e) => return Err(format!("{key}: {e}")),
            Ok(c) => {
                if let Some(why) = c.refusal_for(major) {
                    return Err(format!("{key}: {why}"));
                }
            }
        }
        Ok(Some(JobsSource {
            key,
            entry: entry.clone(),
        }))
    }

    /// What job `index` of `src` discovers for a scraper in `ns`, once per run.
    fn job_discovery(&mut self, src: &JobsSource, index: usize, ns: &str) -> Rc<Discovery> {
        let idx = self.idx;
        let key = (src.key.clone(), index, ns.to_string());
        self.discoveries
            .entry(key)
            .or_insert_with(|| {
                Rc::new(scrapeconfig::discover_lean(
                    &src.config().jobs[index],
                    idx,
                    ns,
                ))
            })
            .clone()
    }

    /// `MonitorSelected` of a `monitor.kind: Annotations` intent: would the scraper's jobs scrape
    /// every intended target, and if not, which annotation (or job) is missing.
    pub(super) fn annotations_monitor(
        &mut self,
        si: &ScrapeIntent,
        ns: &str,
        scraper: &Scraper<'a>,
    ) -> ConditionOut {
        let who = scraper_words(scraper);
        let src = match self.scraper_config(scraper) {
            Err(e) => {
                return condition(
                    cond::MONITOR_SELECTED,
                    false,
                    reason::CONFIG_UNREADABLE,
                    format!("the configuration of {who} cannot be read: {e}"),
                )
            }
            Ok(None) => {
                return condition(
                    cond::MONITOR_SELECTED,
                    false,
                    reason::JOB_MISSING,
                    format!("{who} has no spec.additionalScrapeConfigs: its only jobs are those prometheus-operator generates from monitors, and none discovers pods by annotations"),
                )
            }
            Ok(Some(src)) => src,
        };
        let jobs: Vec<usize> = (0..src.config().jobs.len())
            .filter(|&i| discovers_pods(&src.config().jobs[i]))
            .collect();
        if jobs.is_empty() {
            return condition(
                cond::MONITOR_SELECTED,
                false,
                reason::JOB_MISSING,
                format!(
                    "no job in {} discovers pods or endpoints (roles pod, endpoints, endpointslice); add a kubernetes-pods job",
                    src.key
                ),
            );
        }
        let wanted = self.wanted(si, ns);
        if wanted.is_empty() {
            return condition(
                cond::MONITOR_SELECTED,
                false,
                reason::NO_MATCHING_PODS,
                "no running pod matches spec.selector: there is nothing whose annotations to check",
            );
        }
        let sns = scraper.obj.namespace.clone();
        let discoveries: Vec<(usize, Rc<Discovery>)> = jobs
            .iter()
            .map(|&i| (i, self.job_discovery(&src, i, &sns)))
            .collect();
        let mut scraped_by: BTreeSet<String> = BTreeSet::new();
        // Problems grouped by (job, why), in order of first appearance, with the targets they hit.
        let mut problems: Vec<(&'static str, Option<String>, String, Vec<String>)> = Vec::new();
        let mut fixes: BTreeMap<ObjRef, BTreeMap<String, String>> = BTreeMap::new();
        for w in &wanted {
            let hit = discoveries.iter().find(|(_, d)| {
                d.targets.iter().any(|t| {
                    t.pod == Some(w.pod) && w.port.is_none_or(|p| p == t.port) && t.path == w.path
                })
            });
            if let Some((i, _)) = hit {
                scraped_by.insert(src.config().jobs[*i].job_name.clone());
                continue;
            }
            let d = self.diagnose(&src, &discoveries, w);
            let want = self.want_text(w);
            match problems
                .iter_mut()
                .find(|(_, j, why, _)| *j == d.job && *why == d.why)
            {
                Some(p) => p.3.push(want),
                None => problems.push((d.reason, d.job, d.why, vec![want])),
            }
            if let Some((obj, annotations)) = d.fix {
                fixes.entry(obj).or_default().extend(annotations);
            }
        }
        if problems.is_empty() {
            return condition(
                cond::MONITOR_SELECTED,
                true,
                reason::SELECTED,
                format!(
                    "job {} in {} of {who} scrapes every target",
                    scraped_by.into_iter().collect::<Vec<_>>().join(", "),
                    src.key
                ),
            );
        }
        // The first problem's reason; each (job, why) once with the targets it hits.
        let reason_ = problems[0].0;
        let mut parts: Vec<String> = problems
            .into_iter()
            .map(|(_, job, why, wants)| match job {
                Some(j) => format!("job {j} does not scrape {}: {why}", wants.join(", ")),
                None => format!("{}: {why}", wants.join(", ")),
            })
            .collect();
        for (obj, annotations) in fixes {
            let list: Vec<String> = annotations
                .iter()
                .map(|(k, v)| format!("{k}: {v:?}"))
                .collect();
            let place = if obj.kind == Kind::Pod || obj.kind == Kind::Service {
                "metadata.annotations"
            } else {
                "spec.template.metadata.annotations"
            };
            parts.push(format!(
                "fix (reported, never applied): add to {obj} {place}: {}",
                list.join(", ")
            ));
        }
        condition(cond::MONITOR_SELECTED, false, reason_, parts.join("; "))
    }

    /// `DiscoveryPermitted` of a `monitor.kind: Annotations` intent: the discoveries of the jobs that
    /// scrape its targets, else of every job discovering pods in its namespace (each job's SD must be
    /// allowed everywhere it lists, or it yields nothing at all).
    pub(super) fn annotations_discovery(
        &mut self,
        si: &ScrapeIntent,
        ns: &str,
        scraper: &Scraper<'a>,
    ) -> ConditionOut {
        let Ok(Some(src)) = self.scraper_config(scraper) else {
            return unknown(
                cond::DISCOVERY_PERMITTED,
                reason::NOT_EVALUATED,
                "the scraper's scrape_configs are not read: there is no job to authorize",
            );
        };
        let sns = scraper.obj.namespace.clone();
        let wanted = self.wanted(si, ns);
        let jobs: Vec<usize> = (0..src.config().jobs.len())
            .filter(|&i| discovers_pods(&src.config().jobs[i]))
            .collect();
        let mut chosen = Vec::new();
        for &i in &jobs {
            let d = self.job_discovery(&src, i, &sns);
            let scrapes = wanted.iter().any(|w| {
                d.targets.iter().any(|t| {
                    t.pod == Some(w.pod) && w.port.is_none_or(|p| p == t.port) && t.path == w.path
                })
            });
            if scrapes {
                chosen.push(i);
            }
        }
        if chosen.is_empty() {
            chosen = jobs
                .into_iter()
                .filter(|&i| {
                    src.config().jobs[i]
                        .kubernetes_sd_configs
                        .iter()
                        .any(|sd| sd.discovery_namespaces(&sns).is_none_or(|n| n.contains(ns)))
                })
                .collect();
        }
        if chosen.is_empty() {
            return unknown(
                cond::DISCOVERY_PERMITTED,
                reason::NOT_EVALUATED,
                format!("no job in {} discovers namespace {ns}", src.key),
            );
        }
        let discoveries: Vec<super::discovery_layer::Discovery> = chosen
            .iter()
            .flat_map(|&i| super::discovery_layer::job_discoveries(scraper, &src.config().jobs[i]))
            .collect();
        self.discovery_condition_with_commands(&discoveries)
    }

    fn want_text(&self, w: &Wanted) -> String {
        let pod = self.idx.pod(w.pod);
        match w.port {
            Some(p) => format!("{}:{p}{}", pod.display(), w.path),
            None => format!("{}{}", pod.display(), w.path),
        }
    }

    /// The targets an Annotations intent wants, from its selector and endpoints.
    fn wanted(&self, si: &ScrapeIntent, ns: &str) -> Vec<Wanted> {
        let Ok(sel) = Selector::from_k8s(&si.spec.selector) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (id, pod) in self.idx.select_pods(ns, &sel) {
            if matches!(pod.phase.as_str(), "Failed" | "Succeeded") {
                continue;
            }
            for ep in &si.spec.endpoints {
                let port = match &ep.port {
                    IntOrString::String(n) => pod.port_by_name(n).map(|(_, p)| p.number),
                    IntOrString::Int(n) => u16::try_from(*n).ok(),
                };
                out.push(Wanted {
                    pod: id,
                    port,
                    path: ep.path_or_default().to_string(),
                });
            }
        }
        out
    }

    /// Why no job scrapes `w`: the reason, a message, and the annotations the owning workload (or
    /// Service, for an endpoints job keyed on Service annotations) needs.
    fn diagnose(
        &self,
        src: &JobsSource,
        discoveries: &[(usize, Rc<Discovery>)],
        w: &Wanted,
    ) -> Diagnosis {
        // Every job that discovers the pod explains it; a job that names an annotation to add is the
        // one the intent relies on (monitor.kind Annotations), else the first in configuration order.
        let found: Vec<&(usize, Rc<Discovery>)> = discoveries
            .iter()
            .filter(|(_, d)| {
                d.targets.iter().any(|t| t.pod == Some(w.pod))
                    || d.dropped.iter().any(|t| t.pod == Some(w.pod))
            })
            .collect();
        if found.is_empty() {
            let jobs: Vec<String> = discoveries
                .iter()
                .map(|(i, _)| job_summary(&src.config().jobs[*i]))
                .collect();
            return Diagnosis {
                reason: reason::JOB_MISSING,
                job: None,
                why: format!(
                    "no job in {} discovers these pods ({})",
                    src.key,
                    jobs.join("; ")
                ),
                fix: None,
            };
        }
        let mut diagnoses: Vec<Diagnosis> = found
            .iter()
            .map(|(i, d)| self.diagnose_job(&src.config().jobs[*i], d, w))
            .collect();
        let pick = diagnoses.iter().position(|d| d.fix.is_some()).unwrap_or(0);
        diagnoses.swap_remove(pick)
    }

    /// Why job `job` (which discovers the pod of `w`) does not scrape `w`.
    fn diagnose_job(&self, job: &ScrapeJob, d: &Discovery, w: &Wanted) -> Diagnosis {
        let pod = self.idx.pod(w.pod);
        let diagnosis = |reason, why: String, fix| Diagnosis {
            reason,
            job: Some(job.job_name.clone()),
            why,
            fix,
        };
        let kept: Vec<&scrapeconfig::Target> =
            d.targets.iter().filter(|t| t.pod == Some(w.pod)).collect();
        if kept.is_empty() {
            // Dropped: the rule that dropped most of the pod's discovered targets.
            let mut by_rule: BTreeMap<usize, usize> = BTreeMap::new();
            let mut no_address = false;
            let mut service: Option<String> = None;
            for t in d.dropped.iter().filter(|t| t.pod == Some(w.pod)) {
                match t.reason {
                    DropReason::Rule(r) => *by_rule.entry(r).or_default() += 1,
                    DropReason::NoAddress => no_address = true,
                }
                if service.is_none() {
                    service = t.discovered.get("__meta_kubernetes_service_name").cloned();
                }
            }
            let Some((&rule, _)) = by_rule.iter().max_by_key(|(r, n)| (**n, usize::MAX - **r))
            else {
                return diagnosis(
                    reason::TARGETS_NOT_COVERED,
                    format!(
                        "it drops every target of the pod{}",
                        if no_address {
                            ": relabeling leaves no __address__"
                        } else {
                            ""
                        }
                    ),
                    None,
                );
            };
            let spec = &job.relabel_configs[rule];
            let r = &job.relabel_rules()[rule];
            let rule_text = rule_words(job, rule);
            if matches!(r.action(), Action::Keep) && spec.source_labels.len() == 1 {
                if let Some((holder, name)) =
                    annotation_source(&spec.source_labels[0], pod, service.as_deref())
                {
                    let key = annotation_key(holder_annotations(self, &holder, pod), &name);
                    let regex = spec.regex.clone().unwrap_or_else(|| "(.*)".into());
                    let current = holder_annotations(self, &holder, pod).get(&key).cloned();
                    let value = literal(&regex);
                    let mut fix = BTreeMap::new();
                    if let Some(v) = &value {
                        fix.insert(key.clone(), v.clone());
                    }
                    // Pin the port and path too, when the job takes them from annotations.
                    if let Some(port) = w.port {
                        if let Some(k) = rewrite_annotation(self, job, "__address__", &holder, pod)
                        {
                            fix.insert(k, port.to_string());
                        }
                    }
                    if w.path != job.metrics_path {
                        if let Some(k) =
                            rewrite_annotation(self, job, "__metrics_path__", &holder, pod)
                        {
                            fix.insert(k, w.path.clone());
                        }
                    }
                    let (why, reason_) = match current {
                        None => (
                            format!("{holder} has no annotation {key}"),
                            reason::ANNOTATION_MISSING,
                        ),
                        Some(v) => (
                            format!("{holder} has {key}: {v:?}, which {regex:?} does not match"),
                            reason::ANNOTATION_MISMATCH,
                        ),
                    };
                    let holder_obj = match &holder {
                        Holder::Pod => pod_workload(pod),
                        Holder::Service(name) => ObjRef::new(Kind::Service, &pod.namespace, name),
                    };
                    return diagnosis(
                        reason_,
                        format!(
                            "{why}, and {rule_text} keeps only targets whose annotation matches {regex:?}"
                        ),
                        (!fix.is_empty()).then_some((holder_obj, fix)),
                    );
                }
            }
            return diagnosis(
                reason::TARGETS_NOT_COVERED,
                format!("{rule_text} drops every target of the pod"),
                None,
            );
        }
        // Kept, but not on the wanted port or path.
        let got: BTreeSet<String> = kept
            .iter()
            .map(|t| format!("{}{}", t.address, t.path))
            .collect();
        let got = got.into_iter().collect::<Vec<_>>().join(", ");
        let port_wrong = w.port.is_some_and(|p| kept.iter().all(|t| t.port != p));
        let (field, value) = if port_wrong {
            (
                "__address__",
                w.port.map(|p| p.to_string()).unwrap_or_default(),
            )
        } else {
            ("__metrics_path__", w.path.clone())
        };
        match rewrite_annotation(self, job, field, &Holder::Pod, pod) {
            Some(key) => {
                let current = pod.annotations.get(&key).cloned();
                let reason_ = if current.is_some() {
                    reason::ANNOTATION_MISMATCH
                } else {
                    reason::ANNOTATION_MISSING
                };
                let state = match current {
                    Some(v) => format!("its annotation {key} is {v:?}"),
                    None => format!("it has no annotation {key}"),
                };
                diagnosis(
                    reason_,
                    format!("it scrapes {got} instead: {state}"),
                    Some((pod_workload(pod), BTreeMap::from([(key, value)]))),
                )
            }
            None => diagnosis(
                reason::TARGETS_NOT_COVERED,
                format!(
                    "it scrapes {got} instead, and takes neither port nor path from an annotation"
                ),
                None,
            ),
        }
    }

    /// Every job of every scraper that reads a configuration, as audit subjects (`ScrapeJob`
    /// `<scraper>/<job>`; a configuration that cannot be read is one subject `<scraper>/*`).
    pub fn scrape_job_subjects(&mut self) -> Vec<SubjectReport> {
        let mut scrapers: Vec<Scraper<'a>> = self.pod_scrapers();
        let idx = self.idx;
        for p in idx.prometheuses() {
            if p.additional_scrape_configs.is_some() {
                scrapers.push(self.scraper_from_workload(p));
            }
        }
        let mut out = Vec::new();
        for s in scrapers {
            match self.scraper_config(&s) {
                Ok(None) => {}
                Err(e) => out.push(unreadable_subject(&s, e)),
                Ok(Some(src)) => {
                    for i in 0..src.config().jobs.len() {
                        if audited(&src.config().jobs[i]) {
                            out.push(self.scrape_job(&s, &src, i));
                        }
                    }
                }
            }
        }
        out
    }

    /// One job as an audit subject: its targets through the network and mesh layers.
    fn scrape_job(&mut self, s: &Scraper<'a>, src: &JobsSource, index: usize) -> SubjectReport {
        let job = &src.config().jobs[index];
        let d = self.job_discovery(src, index, &s.obj.namespace);
        let selected = condition(
            cond::MONITOR_SELECTED,
            true,
            reason::SELECTED,
            format!(
                "job {} is configured in {} read by {}",
                job.job_name,
                src.key,
                scraper_words(s)
            ),
        );
        let subject = JobSubject {
            kind: SCRAPE_JOB.into(),
            namespace: s.obj.namespace.clone(),
            name: subject_name(s, &job.job_name),
            remedy_name: remedy_name(s, &job.job_name),
            operator_sharded: false,
        };
        self.job_subject(subject, std::slice::from_ref(s), &[(0, job, &d)], selected)
    }

    /// `DiscoveryPermitted` of jobs, each run by the scraper of its index (the grants that fix it go into
    /// `grants`).
    pub(super) fn jobs_discovery_condition<'j>(
        &self,
        scrapers: &[Scraper<'a>],
        jobs: impl IntoIterator<Item = (usize, &'j ScrapeJob)>,
        grants: &mut Vec<serde_json::Value>,
    ) -> ConditionOut {
        let discoveries: Vec<_> = jobs
            .into_iter()
            .flat_map(|(si, job)| super::discovery_layer::job_discoveries(&scrapers[si], job))
            .collect();
        self.discovery_condition(&discoveries, grants)
    }

    /// The network and mesh fixes for evaluated targets, one per target namespace, named `name`: what
    /// admits `scrapers` at those targets; and the mesh plans the mesh condition reads.
    pub(super) fn target_remedies(
        &mut self,
        name: &str,
        evaluated: &[Evaluated],
        scrapers: &[Scraper<'a>],
    ) -> (Vec<serde_json::Value>, Vec<super::mesh_layer::MeshPlan>) {
        let idx = self.idx;
        let mut remediation = Vec::new();
        let mut plans = Vec::new();
        let mut by_ns: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
        for e in evaluated {
            let p = idx.pod(e.pod);
            by_ns.entry(p.namespace.clone()).or_default().push(p);
        }
        for (tns, pods) in by_ns {
            let selector = pods_selector(&pods, self.settings.version);
            if let Some(plan) =
                self.network_remedy(&tns, name, None, &selector, evaluated, scrapers)
            {
                remediation.push(plan);
            }
            let (mesh_plan, plan) = self.mesh_remedy(&tns, name, None, &selector, evaluated);
            remediation.extend(mesh_plan);
            plans.push(plan);
        }
        (remediation, plans)
    }

    /// The subject of one job run by some scrapers (`runs`: the scraper's index, the job, what it
    /// discovers there): its pod targets through the scraper, network, mesh and scrape layers, after
    /// the given `MonitorSelected`.
    pub(super) fn job_subject(
        &mut self,
        subject: JobSubject,
        scrapers: &[Scraper<'a>],
        runs: &[(usize, &ScrapeJob, &Discovery)],
        selected: ConditionOut,
    ) -> SubjectReport {
        let idx = self.idx;
        let mut conditions = Vec::new();
        // Targets: those whose address is a pod's are evaluated as pods; an IP address no pod has
        // (a node, the API server, an external exporter) by the scraper's egress toward it (E8);
        // hostnames (resolved only when Prometheus scrapes) and loopback addresses are counted.
        let mut seen: BTreeSet<(usize, PodId, u16, String)> = BTreeSet::new();
        let mut seen_addresses: BTreeSet<(usize, String, u16, String)> = BTreeSet::new();
        let mut targets: Vec<(usize, &scrapeconfig::Target)> = Vec::new();
        let mut addresses: Vec<(usize, AddressTarget)> = Vec::new();
        let mut keys: Vec<ShardKey> = Vec::new();
        let mut unjudged = 0usize;
        for (run, (si, job, d)) in runs.iter().enumerate() {
            for t in &d.targets {
                let key = || job_shard_key(subject.operator_sharded, job, t);
                match t.pod {
                    Some(p) if seen.insert((*si, p, t.port, t.path.clone())) => {
                        targets.push((*si, t));
                        keys.push(key());
                    }
                    Some(_) => {}
                    None => match address_target(t, key()) {
                        Some(a)
                            if seen_addresses.insert((
                                *si,
                                a.ip.clone(),
                                a.port,
                                a.path.clone(),
                            )) =>
                        {
                            addresses.push((*si, a));
                        }
                        Some(_) => {}
                        // Counted once, as the message describes the first run's.
                        None if run == 0 => unjudged += 1,
                        None => {}
                    },
                }
            }
        }
        conditions.push(match runs.first() {
            None => unknown(
                cond::TARGETS_RESOLVED,
                reason::NO_SCRAPER,
                "no scraper runs the job",
            ),
            Some(&(_, job, d)) => job_targets_condition(job, d, unjudged, &targets, |text| {
                address_layer::resolved_text(idx, text, targets.is_empty(), &addresses)
            }),
        });
        conditions.push(
            self.scrapers_ready_condition(
                scrapers,
                &targets
                    .iter()
                    .zip(&keys)
                    .map(|((si, t), key)| {
                        (
                            *si,
                            target_address(idx, t.pod.expect("pod targets"), t.port),
                            key,
                        )
                    })
                    .chain(address_layer::readiness_targets(&addresses))
                    .collect::<Vec<_>>(),
            ),
        );
        conditions.push(selected);
        let mut grants = Vec::new();
        conditions.push(self.jobs_discovery_condition(
            scrapers,
            runs.iter().map(|(si, job, _)| (*si, *job)),
            &mut grants,
        ));
        let evaluated: Vec<Evaluated> = targets
            .iter()
            .zip(&keys)
            .map(|((si, t), key)| {
                self.evaluate_one(
                    t.pod.expect("only pod targets are evaluated"),
                    t.port,
                    t.port_name.clone(),
                    &t.path,
                    t.scheme == "https",
                    key,
                    *si,
                    &scrapers[*si],
                )
            })
            .collect();
        let (net_cond, mut blocked_by) = self.network_condition(&evaluated, scrapers);
        let address_evaluated = self.evaluate_addresses(&addresses, scrapers);
        conditions.push(self.address_network_condition(
            net_cond,
            evaluated.len(),
            &address_evaluated,
            scrapers,
            &mut blocked_by,
        ));
        let (mut remediation, plans) =
            self.target_remedies(&subject.remedy_name, &evaluated, scrapers);
        let (mesh_cond, mesh_blocked) = self.mesh_condition(&evaluated, scrapers, &plans);
        conditions.push(self.address_mesh_condition(
            mesh_cond,
            evaluated.len(),
            &address_evaluated,
            scrapers,
        ));
        blocked_by.extend(mesh_blocked);
        // Prometheus names a job's scrape pool after the job.
        let pool = runs.first().map(|(_, job, _)| job.job_name.as_str());
        let (scraped, observed) = self.scraped_condition(&evaluated, scrapers, pool);
        conditions.push(scraped);
        // The RBAC grant after the network and mesh fixes (it is never applied).
        remediation.extend(grants);
        let ready = finish(&mut conditions);
        let mut out = self.targets_out(&evaluated, scrapers, observed);
        for (o, (_, t)) in out.iter_mut().zip(&targets) {
            o.address = Some(t.address.clone());
        }
        out.extend(self.address_targets_out(&address_evaluated, scrapers));
        SubjectReport {
            kind: subject.kind,
            namespace: subject.namespace,
            name: subject.name,
            ready,
            conditions,
            scrapers: scrapers.iter().map(|s| RefOut::from(&s.obj)).collect(),
            targets: out,
            remediation,
            mode: None,
            blocked_by,
        }
    }
}

/// `TargetsResolved` of a job: how many pod targets it keeps (`with_addresses` adds those at IP
/// addresses no pod has, when there are any), what it drops and which targets are not judged.
fn job_targets_condition(
    job: &ScrapeJob,
    d: &Discovery,
    unjudged: usize,
    targets: &[(usize, &scrapeconfig::Target)],
    with_addresses: impl Fn(&str) -> String,
) -> ConditionOut {
    let dropped = drop_summary(job, d);
    let pods: BTreeSet<PodId> = targets.iter().filter_map(|(_, t)| t.pod).collect();
    let pods_text = format!("{} pods, {} targets", pods.len(), targets.len());
    let mut msg = with_addresses(&pods_text);
    if targets.is_empty() && msg == pods_text {
        return condition(
            cond::TARGETS_RESOLVED,
            false,
            reason::NO_TARGETS,
            if d.dropped.is_empty() && unjudged == 0 {
                format!(
                    "job {} discovers nothing ({})",
                    job.job_name,
                    job_summary(job)
                )
            } else if d.dropped.is_empty() {
                format!(
                    "job {} has {unjudged} targets, none at the address of a pod: {}",
                    job.job_name,
                    unjudged_words(d)
                )
            } else {
                format!("job {} keeps no pod target: {dropped}", job.job_name)
            },
        );
    }
    if unjudged > 0 {
        msg.push_str(&format!(
            "; {unjudged} targets are not evaluated ({})",
            unjudged_words(d)
        ));
    }
    if !d.dropped.is_empty() {
        msg.push_str(&format!("; {dropped}"));
    }
    condition(cond::TARGETS_RESOLVED, true, reason::RESOLVED, msg)
}

/// Who a job subject is, and the name its proposed fixes take.
pub(super) struct JobSubject {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub remedy_name: String,
    /// Whether prometheus-operator generated the job, and so appends its sharding rules to it when the
    /// workload has shards (a ScrapeConfig's); a job of `additionalScrapeConfigs` or of a plain
    /// `prometheus.yml` is run by every shard.
    pub operator_sharded: bool,
}

/// The sharding key of a job's target: a job the operator generated (a ScrapeConfig's) gets its
/// sharding rules; any other job is run by every shard.
fn job_shard_key(operator_sharded: bool, job: &ScrapeJob, t: &scrapeconfig::Target) -> ShardKey {
    if operator_sharded {
        ShardKey::of_scrape_config_target(job, &t.labels)
    } else {
        ShardKey::unsharded()
    }
}

/// The IP address of a target's `__address__` (`host:port`, `[v6]:port` or a bare host).
fn address_ip(address: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = address.parse() {
        return Some(ip); // a bare IPv6 address (or IPv4 without a port)
    }
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_matches(['[', ']']).parse().ok()
}

/// The IP address of a target the network layer judges: not a loopback one, which the scraper
/// reaches inside its own pod, where no network policy applies.
fn judged_ip(address: &str) -> Option<std::net::IpAddr> {
    address_ip(address).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
}

/// A job's target at an IP address no pod has, as the network layer evaluates it (E8): what Kubernetes
/// SD tells of it (the Service, the endpoint's targetRef and node, readiness). `None` for a hostname.
fn address_target(t: &scrapeconfig::Target, shard: ShardKey) -> Option<AddressTarget> {
    let ip = judged_ip(&t.address)?;
    let label = |keys: &[&str]| keys.iter().find_map(|k| t.labels.get(*k).cloned());
    let service =
        label(&["__meta_kubernetes_namespace"]).zip(label(&["__meta_kubernetes_service_name"]));
    let target = label(&[
        "__meta_kubernetes_endpointslice_address_target_kind",
        "__meta_kubernetes_endpoint_address_target_kind",
    ])
    .zip(label(&[
        "__meta_kubernetes_endpointslice_address_target_name",
        "__meta_kubernetes_endpoint_address_target_name",
    ]));
    let ready = label(&[
        "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
        "__meta_kubernetes_endpoint_ready",
    ]);
    Some(AddressTarget {
        ip: ip.to_string(),
        port: t.port,
        port_name: t.port_name.clone().or(label(&[
            "__meta_kubernetes_endpointslice_port_name",
            "__meta_kubernetes_endpoint_port_name",
        ])),
        endpoint: t.sd,
        path: t.path.clone(),
        scheme: t.scheme.clone(),
        shard,
        service,
        target,
        node_name: label(&[
            "__meta_kubernetes_endpointslice_endpoint_node_name",
            "__meta_kubernetes_endpoint_node_name",
        ]),
        ready: ready.as_deref() != Some("false"),
    })
}

/// A job's targets that are not judged, in words: hostnames, resolved only when Prometheus scrapes,
/// and loopback addresses, inside the scraper's own pod.
fn unjudged_words(d: &Discovery) -> String {
    let (loopback, names): (Vec<&str>, Vec<&str>) = d
        .targets
        .iter()
        .filter(|t| t.pod.is_none() && judged_ip(&t.address).is_none())
        .map(|t| t.address.as_str())
        .partition(|a| address_ip(a).is_some());
    let show = |v: &[&str]| {
        let mut s = v.iter().take(3).copied().collect::<Vec<_>>().join(", ");
        if v.len() > 3 {
            s.push_str(&format!(" and {} more", v.len() - 3));
        }
        s
    };
    let mut parts = Vec::new();
    if !names.is_empty() {
        parts.push(format!(
            "hostnames, resolved only at scrape time: {}",
            show(&names)
        ));
    }
    if !loopback.is_empty() {
        parts.push(format!(
            "loopback addresses, inside the scraper's own pod where no network policy applies: {}",
            show(&loopback)
        ));
    }
    parts.join("; ")
}

/// A `Pods` scraper from its pods (grouped by workload, or selected by an intent).
pub(super) fn scraper_from_pods<'a>(obj: ObjRef, pods: Vec<Pod>) -> Scraper<'a> {
    let ready = pods.iter().filter(|p| p.ready == Some(true)).count();
    let total = pods.len();
    let ns = obj.namespace.clone();
    let readiness = if ready > 0 {
        Ok((
            reason::SCRAPER_READY,
            format!("{ready}/{total} scraper pods in {ns} are Ready"),
        ))
    } else if total > 0 && pods.iter().all(|p| p.modelled.is_some()) {
        // Pods modelled from the workload (`check` on manifests) say nothing of readiness.
        Ok((
            reason::SCRAPER_DECLARED,
            format!("{obj} is declared; its readiness is not observed (no Pod of it is in the input: its pods are modelled)"),
        ))
    } else {
        Err((
            reason::SCRAPER_NOT_READY,
            format!("none of the {total} scraper pods in {ns} is Ready"),
        ))
    };
    Scraper {
        obj,
        workload: None,
        pods,
        modelled: false,
        readiness,
        sharding: Default::default(),
        unready_shards: Vec::new(),
    }
}

/// The subject of a scraper whose configuration cannot be read.
fn unreadable_subject(s: &Scraper<'_>, e: String) -> SubjectReport {
    let mut conditions = vec![
        super::unknown(
            cond::TARGETS_RESOLVED,
            reason::CONFIG_UNREADABLE,
            "the scraper's jobs are unknown",
        ),
        match &s.readiness {
            Ok((r, m)) => condition(cond::SCRAPER_READY, true, r, m.clone()),
            Err((r, m)) => condition(cond::SCRAPER_READY, false, r, m.clone()),
        },
        condition(
            cond::MONITOR_SELECTED,
            false,
            reason::CONFIG_UNREADABLE,
            format!(
                "the configuration of {} cannot be read: {e}",
                scraper_words(s)
            ),
        ),
        unknown(
            cond::SCRAPED,
            reason::NOT_OBSERVED,
            "no targets of this scraper's jobs are known: its configuration cannot be read",
        ),
    ];
    let ready = finish(&mut conditions);
    SubjectReport {
        kind: SCRAPE_JOB.into(),
        namespace: s.obj.namespace.clone(),
        name: format!("{}/*", s.obj.name),
        ready,
        conditions,
        scrapers: vec![RefOut::from(&s.obj)],
        targets: vec![],
        remediation: vec![],
        mode: None,
        blocked_by: vec![],
    }
}

fn scraper_words(s: &Scraper<'_>) -> String {
    match s.workload {
        Some(p) => format!("{} {}/{}", p.kind, p.namespace, p.name),
        None => format!(
            "the Prometheus pods of {} {}/{}",
            s.obj.kind, s.obj.namespace, s.obj.name
        ),
    }
}

/// `job (role pod in namespaces a, b)`.
fn job_summary(job: &ScrapeJob) -> String {
    let sds: Vec<String> = job
        .kubernetes_sd_configs
        .iter()
        .map(|sd| {
            let mut ns: Vec<String> = sd.namespaces.clone();
            if sd.own_namespace {
                ns.push("its own".into());
            }
            if ns.is_empty() {
                format!("role {}", sd.role)
            } else {
                format!("role {} in namespaces {}", sd.role, ns.join(", "))
            }
        })
        .collect();
    format!("job {}: {}", job.job_name, sds.join(", "))
}

/// `relabel_configs[i] (keep on [a, b] regex "r")`.
fn rule_words(job: &ScrapeJob, i: usize) -> String {
    let spec = &job.relabel_configs[i];
    let action = job.relabel_rules()[i].action();
    let regex = spec.regex.clone().unwrap_or_else(|| "(.*)".into());
    if spec.source_labels.is_empty() {
        format!("relabel_configs[{i}] ({action} regex {regex:?})")
    } else {
        format!(
            "relabel_configs[{i}] ({action} on {} regex {regex:?})",
            spec.source_labels.join(";")
        )
    }
}

/// How many discovered targets relabeling dropped, by rule.
fn drop_summary(job: &ScrapeJob, d: &Discovery) -> String {
    let mut by: BTreeMap<Option<usize>, usize> = BTreeMap::new();
    for t in &d.dropped {
        let k = match t.reason {
            DropReason::Rule(r) => Some(r),
            DropReason::NoAddress => None,
        };
        *by.entry(k).or_default() += 1;
    }
    let parts: Vec<String> = by
        .into_iter()
        .map(|(k, n)| match k {
            Some(r) => format!("{n} dropped by {}", rule_words(job, r)),
            None => format!("{n} left without __address__"),
        })
        .collect();
    format!(
        "{} discovered targets dropped: {}",
        d.dropped.len(),
        parts.join(", ")
    )
}

/// Where an annotation-keyed rule reads from.
#[derive(Debug, Clone)]
enum Holder {
    Pod,
    Service(String),
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Pod => f.write_str("the pod"),
            Holder::Service(n) => write!(f, "Service {n}"),
        }
    }
}

fn holder_annotations<'i>(
    engine: &Engine<'i>,
    holder: &Holder,
    pod: &'i Pod,
) -> &'i crate::model::Labels {
    static EMPTY: std::sync::OnceLock<crate::model::Labels> = std::sync::OnceLock::new();
    match holder {
        Holder::Pod => &pod.annotations,
        Holder::Service(name) => engine
            .idx
            .service(&pod.namespace, name)
            .map(|s| &s.annotations)
            .unwrap_or_else(|| EMPTY.get_or_init(Default::default)),
    }
}

/// `__meta_kubernetes_pod_annotation_<x>` / `__meta_kubernetes_service_annotation_<x>` (and the
/// `annotationpresent` forms): who holds the annotation and its sanitized name.
fn annotation_source(label: &str, _pod: &Pod, service: Option<&str>) -> Option<(Holder, String)> {
    for (prefix, svc) in [
        ("__meta_kubernetes_pod_annotationpresent_", false),
        ("__meta_kubernetes_pod_annotation_", false),
        ("__meta_kubernetes_service_annotationpresent_", true),
        ("__meta_kubernetes_service_annotation_", true),
    ] {
        if let Some(name) = label.strip_prefix(prefix) {
            let holder = if svc {
                Holder::Service(service?.to_string())
            } else {
                Holder::Pod
            };
            return Some((holder, name.to_string()));
        }
    }
    None
}

/// The annotation key whose sanitized form is `sanitized`: one the object carries, else the
/// `prometheus.io/*` convention, else the sanitized name itself.
fn annotation_key(annotations: &crate::model::Labels, sanitized: &str) -> String {
    if let Some(k) = annotations
        .keys()
        .find(|k| sanitize_label_name(k) == sanitized)
    {
        return k.clone();
    }
    for k in [
        "prometheus.io/scrape",
        "prometheus.io/port",
        "prometheus.io/path",
        "prometheus.io/scheme",
        "prometheus.io/probe",
    ] {
        if sanitize_label_name(k) == sanitized {
            return k.to_string();
        }
    }
    sanitized.to_string()
}

/// The annotation a job's `replace` rule writes `target` from (`__address__` for the port,
/// `__metrics_path__` for the path), on the same holder.
fn rewrite_annotation(
    engine: &Engine<'_>,
    job: &ScrapeJob,
    target: &str,
    holder: &Holder,
    pod: &Pod,
) -> Option<String> {
    for (i, spec) in job.relabel_configs.iter().enumerate() {
        if job.relabel_rules()[i].action() != Action::Replace
            || spec.target_label.as_deref() != Some(target)
        {
            continue;
        }
        for l in &spec.source_labels {
            let service = match holder {
                Holder::Service(n) => Some(n.as_str()),
                Holder::Pod => None,
            };
            if let Some((h, name)) = annotation_source(l, pod, service) {
                if std::mem::discriminant(&h) == std::mem::discriminant(holder) {
                    return Some(annotation_key(
                        holder_annotations(engine, holder, pod),
                        &name,
                    ));
                }
            }
        }
    }
    None
}

/// The one value a regex matches, when it is a plain literal (`true`).
fn literal(regex: &str) -> Option<String> {
    let plain = !regex.is_empty()
        && regex
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | ':' | ','));
    plain.then(|| regex.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_keys_are_recovered_from_their_sanitized_names() {
        let mut a = crate::model::Labels::new();
        assert_eq!(
            annotation_key(&a, "prometheus_io_scrape"),
            "prometheus.io/scrape"
        );
        a.insert("example.com/scrape-me".into(), "yes".into());
        assert_eq!(
            annotation_key(&a, "example_com_scrape_me"),
            "example.com/scrape-me"
        );
        assert_eq!(annotation_key(&a, "unknown_x"), "unknown_x");
    }

    #[test]
    fn only_literal_regexes_name_a_value() {
        assert_eq!(literal("true").as_deref(), Some("true"));
        assert_eq!(literal("true|yes"), None);
        assert_eq!(literal("(.+)"), None);
    }

    #[test]
    fn remedy_names_are_kubernetes_names() {
        let s = scraper_from_pods(
            ObjRef::new(Kind::Deployment, "cilium-monitoring", "prometheus"),
            vec![],
        );
        assert_eq!(
            remedy_name(&s, "serviceMonitor/NS/x/0"),
            "scrapepath-cilium-monitoring-prometheus-servicemonitor-ns-x-0"
        );
        let long = remedy_name(&s, &"j".repeat(80));
        assert!(long.len() <= 63 && !long.ends_with('-'));
    }
}
