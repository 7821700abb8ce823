//! The `DiscoveryPermitted` layer: may the scraper's ServiceAccount list and watch what the Kubernetes
//! service discovery prometheus-operator generates for a monitor reads, in the namespaces it reads
//! them in (semantics/kubernetes-rbac.md D1–D5, K1–K8)? A monitor can be selected and valid and still
//! never yield a target: Prometheus only logs "forbidden".
//!
//! Its own condition rather than part of `MonitorSelected`: selection is prometheus-operator's
//! decision about configuration, this is the API server's decision about the running scraper, with its
//! own objects to blame and fix (a Role and RoleBinding, never written by Enforce). Unknown when no
//! RBAC object is known, and then it does not hold `Ready` back.

use serde_json::Value;

use super::{condition, unknown, ConditionOut, Engine, Scraper};
use crate::authz::{self, Account, SdNamespaces, SdRole};
use crate::conditions::{self as cond, reason};
use crate::model::{Monitor, MonitorKind, PromWorkload};
use crate::scrapeconfig::{Role, ScrapeJob};

/// One discovery a scraper runs for a subject.
pub(super) struct Discovery {
    /// The ServiceAccount the scraper runs as.
    pub account: Account,
    /// The scraper, in words: `Prometheus monitoring/k8s`.
    pub scraper: String,
    pub role: SdRole,
    pub namespaces: SdNamespaces,
}

impl Discovery {
    /// The discovery of a prometheus-operator workload.
    pub fn of_workload(p: &PromWorkload, role: SdRole, namespaces: SdNamespaces) -> Self {
        Discovery {
            account: account(p),
            scraper: format!("{} {}/{}", p.kind, p.namespace, p.name),
            role,
            namespaces,
        }
    }
}

/// The ServiceAccount a prometheus-operator workload's pods run as: `spec.serviceAccountName`, else
/// the namespace's `default` (D5).
pub(super) fn account(p: &PromWorkload) -> Account {
    Account::new(
        &p.namespace,
        p.service_account
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into()),
    )
}

/// The SD role prometheus-operator generates for monitors of `kind` read by `p` (D3): `pod` for a
/// PodMonitor; for a ServiceMonitor the monitor's `serviceDiscoveryRole`, else the workload's, else
/// `endpoints`.
pub(super) fn sd_role(p: &PromWorkload, kind: MonitorKind, monitor_role: Option<&str>) -> SdRole {
    if kind == MonitorKind::PodMonitor {
        return SdRole::Pod;
    }
    match monitor_role.or(p.service_discovery_role.as_deref()) {
        Some("EndpointSlice") => SdRole::EndpointSlice,
        _ => SdRole::Endpoints,
    }
}

/// The namespaces of the generated `kubernetes_sd_configs` (D4): the monitor's own with
/// `ignoreNamespaceSelectors` or no namespace selector, every namespace with `any`, else `matchNames`.
pub(super) fn sd_namespaces(p: &PromWorkload, m: &Monitor) -> SdNamespaces {
    if p.ignore_namespace_selectors {
        return SdNamespaces::Names(vec![m.namespace.clone()]);
    }
    if m.namespace_selector.any {
        return SdNamespaces::All;
    }
    if m.namespace_selector.match_names.is_empty() {
        return SdNamespaces::Names(vec![m.namespace.clone()]);
    }
    SdNamespaces::Names(m.namespace_selector.match_names.clone())
}

/// The discoveries of a `scrape_configs` job, as the scraper's ServiceAccounts (a Pods scraper's
/// pods', or the workload's for `additionalScrapeConfigs`) run them: each `kubernetes_sd_configs`
/// entry's role, in its namespaces (none: every namespace; `own_namespace`: the scraper's).
pub(super) fn job_discoveries(scraper: &Scraper<'_>, job: &ScrapeJob) -> Vec<Discovery> {
    let mut accounts: Vec<Account> = match scraper.workload {
        Some(p) => vec![account(p)],
        None => scraper
            .pods
            .iter()
            .map(|p| {
                let sa = if p.service_account.is_empty() {
                    "default"
                } else {
                    p.service_account.as_str()
                };
                Account::new(&p.namespace, sa)
            })
            .collect(),
    };
    accounts.sort();
    accounts.dedup();
    let mut out = Vec::new();
    for sd in &job.kubernetes_sd_configs {
        let role = match sd.role {
            Role::Pod => SdRole::Pod,
            Role::Endpoints => SdRole::Endpoints,
            Role::EndpointSlice => SdRole::EndpointSlice,
            Role::Service => SdRole::Service,
            Role::Ingress => SdRole::Ingress,
            Role::Node => SdRole::Node,
            // Static targets need no API access (and are never a `kubernetes_sd_configs` role).
            Role::Static => continue,
        };
        // `attach_metadata.node` reads the Nodes too (cluster-scoped).
        let node_meta =
            sd.attach_node && matches!(sd.role, Role::Pod | Role::Endpoints | Role::EndpointSlice);
        let namespaces = match sd.discovery_namespaces(&scraper.obj.namespace) {
            Some(set) => SdNamespaces::Names(set.into_iter().collect()),
            None => SdNamespaces::All,
        };
        let mut reads = vec![(role, namespaces)];
        if node_meta {
            reads.push((SdRole::Node, SdNamespaces::All));
        }
        // `attach_metadata.namespace` reads the Namespaces (cluster-scoped) for every role but node.
        if sd.attach_namespace && sd.role != Role::Node {
            reads.push((SdRole::Namespace, SdNamespaces::All));
        }
        for a in &accounts {
            for (role, namespaces) in &reads {
                out.push(Discovery {
                    account: a.clone(),
                    scraper: format!("{} {}", scraper.obj.kind, scraper.display()),
                    role: *role,
                    namespaces: namespaces.clone(),
                });
            }
        }
    }
    out
}

/// The discoveries a workload runs for a monitor it selects: its role in its namespaces, and the
/// Nodes (cluster-wide) when the job attaches node metadata — `attachMetadata.node`, or topology
/// sharding, which forces it (semantics/prometheus-operator-shards.md S7). Without `list`/`watch` on
/// nodes Prometheus attaches no node labels, and under topology sharding no shard keeps the targets.
pub(super) fn monitor_discoveries(
    p: &PromWorkload,
    m: &Monitor,
    topology_gate: bool,
) -> Vec<Discovery> {
    let mut out = vec![Discovery::of_workload(
        p,
        sd_role(p, m.kind, m.service_discovery_role.as_deref()),
        sd_namespaces(p, m),
    )];
    if crate::promop::attaches_node_metadata(p, m, topology_gate) {
        out.push(Discovery::of_workload(p, SdRole::Node, SdNamespaces::All));
    }
    out
}

impl Engine<'_> {
    /// `DiscoveryPermitted` over the discoveries of a subject; the Roles and RoleBindings that would
    /// grant what is missing go to `remedy` (reported, never applied).
    pub(super) fn discovery_condition(
        &self,
        discoveries: &[Discovery],
        remedy: &mut Vec<Value>,
    ) -> ConditionOut {
        self.discovery_verdict(discoveries, Some(remedy))
    }

    /// `DiscoveryPermitted` of an intent: the fix goes into the message as `kubectl create` commands
    /// (the intent's remediation is what Enforce applies, and Enforce never writes RBAC).
    pub(super) fn discovery_condition_with_commands(
        &self,
        discoveries: &[Discovery],
    ) -> ConditionOut {
        self.discovery_verdict(discoveries, None)
    }

    fn discovery_verdict(
        &self,
        discoveries: &[Discovery],
        mut remedy: Option<&mut Vec<Value>>,
    ) -> ConditionOut {
        if discoveries.is_empty() {
            return unknown(
                cond::DISCOVERY_PERMITTED,
                reason::NOT_EVALUATED,
                "no scraper selects it, or it discovers through no Kubernetes API: there is no discovery to authorize",
            );
        }
        let Some(rbac) = self.idx.rbac() else {
            let who: Vec<String> = discoveries.iter().map(|d| d.account.to_string()).collect();
            return unknown(
                cond::DISCOVERY_PERMITTED,
                reason::RBAC_NOT_OBSERVED,
                format!(
                    "no Role, ClusterRole or binding is known (none in the input, or the operator does not read them: Helm value rbacDiscovery.enabled): whether {} may list and watch what its discovery reads is not known",
                    dedup(who).join(", ")
                ),
            );
        };
        let mut denied = Vec::new();
        let mut granted = Vec::new();
        for d in discoveries {
            let acct = &d.account;
            let access = authz::discovery_access(rbac, acct, d.role, &d.namespaces);
            let what = format!("the {} discovery of {}", d.role.as_str(), d.scraper);
            if access.permitted() {
                let by: Vec<String> = access
                    .granted_by
                    .iter()
                    .map(|(b, r)| {
                        let b = b.to_string();
                        format!("{b} → {}", r)
                    })
                    .collect();
                granted.push(format!(
                    "{acct} may list and watch what {what} reads, through {}",
                    by.join(", ")
                ));
                continue;
            }
            for m in &access.missing {
                let mut line = format!("{} ({what})", authz::describe_missing(acct, m));
                let fix = authz::remedy(acct, d.role, m);
                match remedy.as_deref_mut() {
                    Some(remedy) => {
                        if let Some(role) = fix.first() {
                            line.push_str(&format!(
                                "; a {} and {} {} would grant it",
                                role["kind"].as_str().unwrap_or_default(),
                                fix.get(1)
                                    .and_then(|b| b["kind"].as_str())
                                    .unwrap_or_default(),
                                qualified_name(role)
                            ));
                        }
                        for obj in fix {
                            if !remedy.contains(&obj) {
                                remedy.push(obj);
                            }
                        }
                    }
                    None => line.push_str(&format!(
                        "; scrapepath never writes RBAC, grant it with: {}",
                        authz::remedy_commands(acct, d.role, m)
                    )),
                }
                denied.push(line);
            }
            for n in access.notes {
                if !denied.contains(&n) {
                    denied.push(n);
                }
            }
        }
        if denied.is_empty() {
            condition(
                cond::DISCOVERY_PERMITTED,
                true,
                reason::PERMITTED,
                granted.join("; "),
            )
        } else {
            condition(
                cond::DISCOVERY_PERMITTED,
                false,
                reason::DISCOVERY_FORBIDDEN,
                format!(
                    "{} (Prometheus discovers none of these targets and only logs \"forbidden\")",
                    denied.join("; ")
                ),
            )
        }
    }
}

fn qualified_name(obj: &Value) -> String {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
