//! The engine's mesh layer: the per-target Istio decisions of `crate::mesh` become the `MeshAuthorized`
//! condition (DESIGN.md §3) and the rule-19 remedies (DESIGN.md §4.3).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{json, Value};

use super::{
    condition, scraper_names, unknown, ConditionOut, Engine, EngineConfig, Evaluated, Scraper,
};
use crate::conditions::{self as cond, reason};
use crate::index::{ClusterIndex, PodId};
use crate::mesh::{self, remedy, Basis, MeshDecision, MeshVerdict};
use crate::model::{
    managing_intent, Labels, MeshPolicy, ObjRef, Pod, Service, INTENT_LABEL, MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
};
use crate::selector::Selector;

/// The mesh policies that may apply to a pod of `ns`, optionally without scrapepath's own.
pub(super) fn mesh_candidates<'i>(
    idx: &'i ClusterIndex,
    ns: &str,
    skip_managed: bool,
) -> Vec<&'i MeshPolicy> {
    let mut c = idx.mesh_candidates(ns);
    if skip_managed {
        c.retain(|p| managing_intent(&p.labels).is_none());
    }
    c
}

/// Up to this many targets, a passing `MeshAuthorized` quotes each distinct reason.
const DETAILED_TARGETS: usize = 12;

fn reason_of(b: Basis) -> &'static str {
    match b {
        Basis::StrictMtls => reason::STRICT_MTLS,
        Basis::DenyPolicy => reason::DENIED_BY_POLICY,
        Basis::IdentityRequired => reason::SOURCE_IDENTITY_REQUIRED,
        Basis::NoAllowMatch => reason::NO_ALLOW_MATCH,
        Basis::MetricsLocalhostOnly => reason::METRICS_LOCALHOST_ONLY,
        Basis::TlsNotTerminated => reason::TLS_NOT_TERMINATED,
        Basis::ExternalAuthorizer => reason::EXTERNAL_AUTHORIZER,
        Basis::AllowPolicy | Basis::NoAllowPolicy => reason::ALLOWED,
        Basis::OutsideMesh | Basis::NotCaptured => reason::NOT_APPLICABLE,
    }
}

/// What the mesh remedy of one target namespace came to.
pub(super) struct MeshPlan {
    pub ns: String,
    /// The name of the proposed ALLOW policy, or why there is none.
    pub generated: Result<String, String>,
    /// The labels that select the workload, for the advice.
    pub workload: Option<Labels>,
}

impl<'a> Engine<'a> {
    /// The mesh decision for one target from one scraper (istio.md), as the cluster is or without
    /// scrapepath's own policies. As for the network, the first scraper pod that does not pass decides.
    pub fn mesh(
        &self,
        dest: PodId,
        scraper: &Scraper<'_>,
        port: u16,
        path: &str,
        https: bool,
        skip_managed: bool,
    ) -> MeshDecision {
        let idx = self.idx;
        let pod = idx.pod(dest);
        let cfg = idx.mesh_config();
        let ns_labels = idx.namespace(&pod.namespace).map(|n| &n.labels);
        if mesh::workload::dataplane(pod, ns_labels) == mesh::workload::Dataplane::Outside {
            return mesh::eval::outside_mesh(pod);
        }
        let cands: Vec<&MeshPolicy> = mesh_candidates(idx, &pod.namespace, skip_managed);
        let services: Vec<&Service> = idx.services_in(&pod.namespace).collect();
        let scrape = mesh::eval::Scrape {
            pod,
            ns_labels,
            port,
            path,
            services: &services,
        };
        let version = scraper.workload.and_then(|w| w.version.as_deref());
        let mut first: Option<MeshDecision> = None;
        for src in &scraper.pods {
            let client = mesh::workload::Client::of(
                src,
                idx.namespace(&src.namespace).map(|n| &n.labels),
                https,
                scraper.modelled,
                version,
                cfg,
            );
            let d = mesh::decide(cfg, &cands, &scrape, &client);
            if !d.verdict.passes() {
                return d;
            }
            first.get_or_insert(d);
        }
        first.unwrap_or_else(|| MeshDecision {
            verdict: MeshVerdict::NotApplicable,
            basis: mesh::Basis::OutsideMesh,
            rule: "-",
            reason: "no scraper pod to evaluate".into(),
            decided_by: vec![],
            facts: Default::default(),
            invalid: vec![],
        })
    }

    /// Rule 19c: a workload- and port-scoped ALLOW for the targets no ALLOW matches, judged without
    /// scrapepath's own objects, and only where ALLOW policies already apply to every pod it would select.
    pub(super) fn mesh_remedy(
        &self,
        ns: &str,
        name: &str,
        intent: Option<&str>,
        selector: &LabelSelector,
        evaluated: &[Evaluated],
    ) -> (Option<Value>, MeshPlan) {
        let idx = self.idx;
        let needing: Vec<&Evaluated> = evaluated
            .iter()
            .filter(|e| {
                matches!(
                    e.mesh_need().basis,
                    Basis::IdentityRequired | Basis::NoAllowMatch
                )
            })
            .filter(|e| idx.pod(e.pod).namespace == ns)
            .collect();
        let pods: Vec<&Pod> = needing.iter().map(|e| idx.pod(e.pod)).collect();
        let workload = remedy::workload_selector(selector, &pods);
        let mut plan = MeshPlan {
            ns: ns.to_string(),
            generated: Err("no target needs one".into()),
            workload: workload.clone(),
        };
        if needing.is_empty() {
            return (None, plan);
        }
        let Some(labels) = workload else {
            plan.generated = Err("Istio selects workloads by matchLabels only, and these pods share no label to name them by".into());
            return (None, plan);
        };
        // Never the first ALLOW: every meshed pod the policy would select must already have one.
        let cfg = idx.mesh_config();
        let sel = Selector::from_k8s(&LabelSelector {
            match_labels: Some(labels.clone()),
            match_expressions: None,
        });
        let Ok(sel) = sel else {
            plan.generated = Err("the workload labels do not form a valid selector".into());
            return (None, plan);
        };
        let cands = mesh_candidates(idx, ns, true);
        let ns_labels = idx.namespace(ns).map(|n| &n.labels);
        for (_, p) in idx.select_pods(ns, &sel) {
            if matches!(p.phase.as_str(), "Failed" | "Succeeded") {
                continue;
            }
            if let Some(allows) = mesh::eval::allow_policies_for(cfg, &cands, p, ns_labels) {
                if allows.is_empty() {
                    plan.generated = Err(format!(
                        "no ALLOW policy applies to pod {}, and adding the first ALLOW would deny all its other traffic (rule 15)",
                        p.name
                    ));
                    return (None, plan);
                }
            }
        }
        // Port → paths; `None`: the port is TCP (or ambient), so the rule stays L4.
        let mut ports: BTreeMap<u16, Option<BTreeSet<String>>> = BTreeMap::new();
        for e in &needing {
            let entry = ports.entry(e.port).or_insert_with(|| Some(BTreeSet::new()));
            match (entry.as_mut(), e.mesh_need().facts.http) {
                (Some(paths), true) => {
                    paths.insert(e.path.clone());
                }
                _ => *entry = None,
            }
        }
        let ports: BTreeMap<u16, BTreeSet<String>> = ports
            .into_iter()
            .map(|(p, paths)| (p, paths.unwrap_or_default()))
            .collect();
        let mut meta_labels = serde_json::Map::new();
        meta_labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY_VALUE));
        if let Some(i) = intent {
            meta_labels.insert(INTENT_LABEL.into(), json!(i));
        }
        plan.generated = Ok(name.to_string());
        (
            Some(remedy::allow_policy(ns, name, meta_labels, &labels, &ports)),
            plan,
        )
    }

    /// `MeshAuthorized`, and the mesh objects that block targets (for `blockedBy`).
    pub(super) fn mesh_condition(
        &self,
        evaluated: &[Evaluated],
        scrapers: &[Scraper<'a>],
        plans: &[MeshPlan],
    ) -> (ConditionOut, Vec<(ObjRef, String)>) {
        if let Some(c) = super::undecidable(
            cond::MESH_AUTHORIZED,
            "mesh authorization",
            evaluated,
            scrapers,
        ) {
            return (c, vec![]);
        }
        let idx = self.idx;
        let total = evaluated.len();
        let target = |e: &Evaluated| format!("{}:{}", idx.pod(e.pod).display(), e.port);
        let group = |es: &[&Evaluated]| -> String {
            let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for e in es {
                groups
                    .entry(e.mesh_now.reason.as_str())
                    .or_default()
                    .push(target(e));
            }
            groups
                .iter()
                .map(|(r, ts)| format!("{}: {r}", ts.join(", ")))
                .collect::<Vec<_>>()
                .join(". ")
        };
        let mut invalid: Vec<(ObjRef, String)> = Vec::new();
        for e in evaluated {
            for i in &e.mesh_now.invalid {
                if !invalid.contains(i) {
                    invalid.push(i.clone());
                }
            }
        }
        let blocked: Vec<&Evaluated> = evaluated
            .iter()
            .filter(|e| !e.mesh_now.verdict.passes())
            .collect();
        if blocked.is_empty() {
            if !invalid.is_empty() {
                return (
                    condition(
                        cond::MESH_AUTHORIZED,
                        false,
                        reason::INVALID_POLICY,
                        format!(
                            "every target passes the mesh now, but Istio's validation rejects {}, so it has no effect until fixed: {}",
                            invalid.iter().map(|(o, _)| o.to_string()).collect::<Vec<_>>().join(", "),
                            invalid.iter().map(|(o, m)| format!("{}: {m}", o.name)).collect::<Vec<_>>().join("; ")
                        ),
                    ),
                    vec![],
                );
            }
            let outside = evaluated
                .iter()
                .all(|e| e.mesh_now.basis == Basis::OutsideMesh);
            if outside {
                return (
                    condition(
                        cond::MESH_AUTHORIZED,
                        true,
                        reason::NOT_APPLICABLE,
                        format!("{total}/{total} targets are outside the mesh (no istio-proxy container, not ambient): Istio never sees these scrapes"),
                    ),
                    vec![],
                );
            }
            let any_allowed = evaluated
                .iter()
                .any(|e| e.mesh_now.verdict == MeshVerdict::Allowed);
            // The reasons themselves for a handful of targets; counts for many (each target carries its own).
            let detail = if total <= DETAILED_TARGETS {
                let all: Vec<&Evaluated> = evaluated.iter().collect();
                group(&all)
            } else {
                let count = |b: &[Basis]| {
                    evaluated
                        .iter()
                        .filter(|e| b.contains(&e.mesh_now.basis))
                        .count()
                };
                format!(
                    "{} outside the mesh, {} on ports the proxy never sees, {} allowed by Istio policy (each target's mesh verdict says why)",
                    count(&[Basis::OutsideMesh]),
                    count(&[Basis::NotCaptured]),
                    count(&[Basis::AllowPolicy, Basis::NoAllowPolicy])
                )
            };
            return (
                condition(
                    cond::MESH_AUTHORIZED,
                    true,
                    if any_allowed {
                        reason::ALLOWED
                    } else {
                        reason::NOT_APPLICABLE
                    },
                    format!("{total}/{total} targets pass the mesh. {detail}"),
                ),
                vec![],
            );
        }
        // Blocked: what decides, then what to change, in rule-19 order.
        let all_unknown = blocked
            .iter()
            .all(|e| e.mesh_now.verdict == MeshVerdict::Unknown);
        let first = blocked
            .iter()
            .find(|e| e.mesh_now.verdict == MeshVerdict::Denied)
            .unwrap_or(&blocked[0]);
        let reason_ = reason_of(first.mesh_now.basis);
        let mut blocked_by: Vec<(ObjRef, String)> = Vec::new();
        let mut advice: Vec<String> = Vec::new();
        let cfg = idx.mesh_config();
        for e in &blocked {
            let r = reason_of(e.mesh_now.basis);
            for o in &e.mesh_now.decided_by {
                if !blocked_by.iter().any(|(b, _)| b == o) {
                    blocked_by.push((o.clone(), r.to_string()));
                }
            }
            let pod = idx.pod(e.pod);
            let plan = plans.iter().find(|p| p.ns == pod.namespace);
            let generated = plan
                .map(|p| p.generated.clone())
                .unwrap_or_else(|| Err("no plan for this namespace".into()));
            let scraper = scrapers[e.scraper]
                .pods
                .first()
                .map(|p| (p.namespace.as_str(), p.service_account.as_str()))
                .unwrap_or(("monitoring", "prometheus"));
            for line in remedy::advice(
                &remedy::Blocked {
                    pod,
                    port: e.port,
                    path: &e.path,
                    decision: &e.mesh_now,
                },
                cfg,
                scraper,
                &generated,
                plan.and_then(|p| p.workload.as_ref()),
            ) {
                if !advice.contains(&line) {
                    advice.push(line);
                }
            }
        }
        let fix = if advice.is_empty() {
            String::new()
        } else {
            format!(" To fix, in order of preference: {}", advice.join("; "))
        };
        let message = format!(
            "{}/{total} targets are refused by the mesh for {}. {}.{fix}",
            blocked.len(),
            scraper_names(scrapers),
            group(&blocked)
        );
        let c = if all_unknown {
            unknown(cond::MESH_AUTHORIZED, reason_, message)
        } else {
            condition(cond::MESH_AUTHORIZED, false, reason_, message)
        };
        (c, blocked_by)
    }
}

/// The mesh decision for one scrape: pod `src` (namespace, name) requesting `GET path` on TCP/`port` of pod
/// `dest`, over `https` or plain http. For truth tables and explanations; `None` when a pod is not in the
/// index.
pub fn mesh_verdict(
    idx: &ClusterIndex,
    cfg: &EngineConfig,
    dest: (&str, &str),
    src: (&str, &str),
    port: u16,
    path: &str,
    https: bool,
) -> Option<MeshDecision> {
    let (dest_id, _) = idx.pod_by_name(dest.0, dest.1)?;
    let (_, src_pod) = idx.pod_by_name(src.0, src.1)?;
    let scraper = Scraper::of_pod(src_pod);
    Some(Engine::new(idx, cfg).mesh(dest_id, &scraper, port, path, https, false))
}
