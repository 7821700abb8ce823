//! The RBAC `scrapepath run` needs, computed from the tables the code reads and writes through, so that
//! the Helm chart (whose rules a test compares with these) and the code cannot drift apart.
//!
//! Every API call of the operator, and the rule it needs:
//!
//! - [`API_KINDS`] — every kind is listed (`live::served_version` probes with a one-item list, the watcher
//!   lists) and watched: `list`, `watch`. An entry pinned to one object (`only`) is read with a
//!   `metadata.name` field selector, which RBAC authorizes through `resourceNames`; one pinned to a
//!   namespace as well (`kube-system/cilium-config`, the `cilium` DaemonSet) gets a Role in that namespace.
//!   The world is read cluster-wide even when the operator reconciles only some namespaces: verdicts depend
//!   on scrapers, policies and pods elsewhere.
//! - The `referenced` entries (the ConfigMaps and Secrets scrapers read their configuration from) are
//!   read one by one (`list`, `watch` with a `metadata.name` field selector), but their names are not known
//!   before the scrapers are: they are granted only where [`ConfigAccess`] allows reading them — a Role
//!   `-configs` in each of its namespaces, the ClusterRole for every namespace (`*`), Secrets only when it
//!   reads Secrets. Never every Secret of the cluster by default.
//! - The RBAC kinds ([`crate::kinds::RBAC_KINDS`]: Roles, ClusterRoles and their bindings) only with
//!   `read_rbac`: `list`, `watch` cluster-wide, for the `DiscoveryPermitted` layer. Off by default:
//!   reading every Role and binding of a cluster is what security reviews question, and without it
//!   that layer is Unknown, never a failure.
//! - The `scraper_status` entries (prometheus-operator's StatefulSets, by its label; Warning Events,
//!   by `type=Warning`) are listed and watched only in the namespaces of the scraper status setting —
//!   a Role `-status` in each, the ClusterRole for every namespace (`*`), nothing when it is empty.
//!   RBAC cannot restrict by label or field: the grant is list/watch of every StatefulSet and Event
//!   there; what the operator keeps of them is small (a StatefulSet's replica counts and conditions,
//!   an Event's object, reason and message).
//! - [`MANAGED_KINDS`] — Enforce server-side applies (`patch`, and `create` when the apply creates the
//!   object), merge-patches the labels of a user's monitor (`patch`) and deletes what it no longer needs
//!   (`delete`).
//! - PodMonitor/ServiceMonitor `get` — the audit of monitors reads a monitor's uid for its Event.
//! - `scrapeintents/status` `patch` — the status (server-side apply on the subresource).
//! - `scrapeintents/finalizers` `update` — the objects Enforce applies carry a controller ownerReference
//!   with `blockOwnerDeletion: true`, which the `OwnerReferencesPermissionEnforcement` admission plugin
//!   (enabled on some distributions) allows only to who may update the owner's finalizers.
//! - `events.k8s.io` `events` `create`, `patch` — kube-runtime's `Recorder` creates an Event and patches
//!   it when the same Event repeats.
//! - `coordination.k8s.io` `leases` — leader election: `create`, and `get`/`patch` of the one lease.
//!
//! Writes happen only in the namespaces the operator reconciles (an intent's fixes live in its own
//! namespace; Events go to the namespace of the intent or audited monitor). With no namespaces given they
//! are cluster-wide (in the ClusterRole); with namespaces, they are a Role in each.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{json, Value};

use crate::config_access::{ConfigAccess, ConfigNamespaces};
use crate::kinds::{api_kind, is_read, ApiKind, API_KINDS, MANAGED_KINDS};
use crate::model::Kind;

/// Where a set of rules is granted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// A ClusterRole bound by a ClusterRoleBinding.
    Cluster,
    /// A Role (and RoleBinding) in this namespace.
    Namespace(String),
    /// A Role in the namespace the operator itself runs in (known only at install time).
    OwnNamespace,
}

/// One ClusterRole or Role: where it is granted, the suffix of its name after the release's name, and its
/// rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub grant: Grant,
    /// `""`, `-read` (reads pinned to a namespace), `-configs` (scrape configurations),
    /// `-leader-election`.
    pub suffix: &'static str,
    pub rules: Vec<PolicyRule>,
}

/// One permission: API group, resource (with subresource), verb, and the one name it is limited to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Atom {
    pub group: String,
    pub resource: String,
    pub verb: String,
    pub name: Option<String>,
}

/// What the operator is configured with that changes its permissions.
#[derive(Debug, Clone)]
pub struct RbacConfig {
    /// The namespaces it reconciles; empty: every namespace.
    pub namespaces: BTreeSet<String>,
    /// The lease of leader election, when it is enabled.
    pub leader_election: Option<String>,
    /// Whether Enforce is allowed; when not, the operator writes only statuses and Events.
    pub allow_enforce: bool,
    /// Where the scrapers' ConfigMaps and Secrets may be read.
    pub configs: ConfigAccess,
    /// Whether Roles, ClusterRoles and their bindings are read (`list`, `watch` cluster-wide).
    pub read_rbac: bool,
    /// Where the scrapers' StatefulSets and Warning Events are read.
    pub scraper_status: ConfigNamespaces,
}

impl Default for RbacConfig {
    fn default() -> Self {
        RbacConfig {
            namespaces: BTreeSet::new(),
            leader_election: None,
            allow_enforce: true,
            configs: ConfigAccess::default(),
            read_rbac: false,
            scraper_status: ConfigNamespaces::default_status(),
        }
    }
}

const READ: &[&str] = &["list", "watch"];
const WRITE: &[&str] = &["create", "patch", "delete"];

fn atom(group: &str, resource: &str, verb: &str, name: Option<&str>) -> Atom {
    Atom {
        group: group.to_string(),
        resource: resource.to_string(),
        verb: verb.to_string(),
        name: name.map(str::to_string),
    }
}

fn table(kind: Kind) -> &'static ApiKind {
    api_kind(kind).unwrap_or_else(|| panic!("{kind} is in the kinds table"))
}

/// The reads of [`API_KINDS`] but the referenced ones (and the RBAC kinds unless `read_rbac`), by
/// where they must be granted.
fn reads(read_rbac: bool) -> BTreeMap<Grant, BTreeSet<Atom>> {
    let mut out: BTreeMap<Grant, BTreeSet<Atom>> = BTreeMap::new();
    for k in API_KINDS
        .iter()
        .filter(|k| !k.referenced && !k.scraper_status && is_read(k, read_rbac))
    {
        let (grant, name) = match k.only {
            None => (Grant::Cluster, None),
            Some((None, name)) => (Grant::Cluster, Some(name)),
            Some((Some(ns), name)) => (Grant::Namespace(ns.to_string()), Some(name)),
        };
        let set = out.entry(grant).or_default();
        for verb in READ {
            set.insert(atom(k.group, k.plural, verb, name));
        }
    }
    out
}

/// The reads of the referenced entries (scrapers' ConfigMaps and Secrets) `access` allows, by where
/// they must be granted.
fn config_reads(access: &ConfigAccess) -> BTreeMap<Grant, BTreeSet<Atom>> {
    let mut atoms = BTreeSet::new();
    for k in API_KINDS
        .iter()
        .filter(|k| k.referenced && access.reads_kind(k.kind))
    {
        for verb in READ {
            atoms.insert(atom(k.group, k.plural, verb, None));
        }
    }
    let mut out = BTreeMap::new();
    if atoms.is_empty() {
        return out;
    }
    match &access.namespaces {
        ConfigNamespaces::All => {
            out.insert(Grant::Cluster, atoms);
        }
        ConfigNamespaces::Only(set) => {
            for ns in set {
                out.insert(Grant::Namespace(ns.clone()), atoms.clone());
            }
        }
    }
    out
}

/// The reads of the `scraper_status` entries (StatefulSets, Events) in `namespaces`, by grant.
fn status_reads(namespaces: &ConfigNamespaces) -> BTreeMap<Grant, BTreeSet<Atom>> {
    let atoms: BTreeSet<Atom> = API_KINDS
        .iter()
        .filter(|k| k.scraper_status)
        .flat_map(|k| {
            READ.iter()
                .map(move |verb| atom(k.group, k.plural, verb, None))
        })
        .collect();
    match namespaces {
        ConfigNamespaces::All => BTreeMap::from([(Grant::Cluster, atoms)]),
        ConfigNamespaces::Only(set) => set
            .iter()
            .map(|ns| (Grant::Namespace(ns.clone()), atoms.clone()))
            .collect(),
    }
}

/// What the operator writes (and the reads that go with reconciling), wherever it reconciles. Without
/// Enforce, only statuses and Events.
fn writes(allow_enforce: bool) -> BTreeSet<Atom> {
    let mut set = BTreeSet::new();
    if allow_enforce {
        for kind in MANAGED_KINDS {
            let k = table(*kind);
            for verb in WRITE {
                set.insert(atom(k.group, k.plural, verb, None));
            }
        }
        let si = table(Kind::ScrapeIntent);
        set.insert(atom(
            si.group,
            &format!("{}/finalizers", si.plural),
            "update",
            None,
        ));
    }
    for kind in [Kind::PodMonitor, Kind::ServiceMonitor] {
        let k = table(kind);
        set.insert(atom(k.group, k.plural, "get", None));
    }
    let si = table(Kind::ScrapeIntent);
    set.insert(atom(
        si.group,
        &format!("{}/status", si.plural),
        "patch",
        None,
    ));
    for verb in ["create", "patch"] {
        set.insert(atom("events.k8s.io", "events", verb, None));
    }
    set
}

fn leader_election(lease: &str) -> BTreeSet<Atom> {
    let mut set = BTreeSet::new();
    // `create` cannot be limited by name (the name is not known to the authorizer before creation).
    set.insert(atom("coordination.k8s.io", "leases", "create", None));
    // kube-lease-manager reads the Lease and locks/renews it by server-side apply.
    for verb in ["get", "patch"] {
        set.insert(atom("coordination.k8s.io", "leases", verb, Some(lease)));
    }
    set
}

/// The roles the operator needs with `config`, in a stable order: the ClusterRole, then by namespace
/// the Roles of writes (per reconciled namespace), of scrape configurations and of pinned reads, then
/// the leader-election Role.
pub fn roles(config: &RbacConfig) -> Vec<Role> {
    let mut grants: BTreeMap<(Grant, &'static str), BTreeSet<Atom>> = BTreeMap::new();
    for (grant, atoms) in reads(config.read_rbac) {
        let suffix = if grant == Grant::Cluster { "" } else { "-read" };
        grants.entry((grant, suffix)).or_default().extend(atoms);
    }
    for (grant, atoms) in config_reads(&config.configs) {
        let suffix = if grant == Grant::Cluster {
            ""
        } else {
            "-configs"
        };
        grants.entry((grant, suffix)).or_default().extend(atoms);
    }
    for (grant, atoms) in status_reads(&config.scraper_status) {
        let suffix = if grant == Grant::Cluster {
            ""
        } else {
            "-status"
        };
        grants.entry((grant, suffix)).or_default().extend(atoms);
    }
    if config.namespaces.is_empty() {
        grants
            .entry((Grant::Cluster, ""))
            .or_default()
            .extend(writes(config.allow_enforce));
    } else {
        for ns in &config.namespaces {
            grants
                .entry((Grant::Namespace(ns.clone()), ""))
                .or_default()
                .extend(writes(config.allow_enforce));
        }
    }
    if let Some(lease) = &config.leader_election {
        grants
            .entry((Grant::OwnNamespace, "-leader-election"))
            .or_default()
            .extend(leader_election(lease));
    }
    grants
        .into_iter()
        .map(|((grant, suffix), atoms)| Role {
            grant,
            suffix,
            rules: rules(&atoms),
        })
        .collect()
}

/// Rules from permissions: one rule per API group, name restriction and set of verbs, listing every
/// resource that shares them.
pub fn rules(atoms: &BTreeSet<Atom>) -> Vec<PolicyRule> {
    // (group, name) -> resource -> verbs
    let mut by: BTreeMap<(String, Option<String>), BTreeMap<String, BTreeSet<String>>> =
        BTreeMap::new();
    for a in atoms {
        by.entry((a.group.clone(), a.name.clone()))
            .or_default()
            .entry(a.resource.clone())
            .or_default()
            .insert(a.verb.clone());
    }
    let mut out = Vec::new();
    for ((group, name), resources) in by {
        let mut by_verbs: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (resource, verbs) in resources {
            by_verbs
                .entry(sorted_verbs(verbs))
                .or_default()
                .push(resource);
        }
        for (verbs, resources) in by_verbs {
            out.push(PolicyRule {
                api_groups: Some(vec![group.clone()]),
                resources: Some(resources),
                resource_names: name.clone().map(|n| vec![n]),
                verbs,
                non_resource_urls: None,
            });
        }
    }
    out
}

/// Verbs in the order people write them: reads first.
fn sorted_verbs(verbs: BTreeSet<String>) -> Vec<String> {
    const ORDER: &[&str] = &[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let mut v: Vec<String> = verbs.into_iter().collect();
    v.sort_by_key(|verb| ORDER.iter().position(|o| o == verb).unwrap_or(ORDER.len()));
    v
}

/// The permissions a set of rules grants, one per (group, resource, verb, name). Rules that name no
/// resources, or non-resource URLs, grant nothing here and are returned as errors, so that a comparison
/// never silently ignores a rule.
pub fn atoms(rules: &[PolicyRule]) -> Result<BTreeSet<Atom>, String> {
    let mut out = BTreeSet::new();
    for (i, r) in rules.iter().enumerate() {
        if r.non_resource_urls.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(format!("rule {i} grants non-resource URLs: {r:?}"));
        }
        let groups = r.api_groups.clone().unwrap_or_default();
        let resources = r.resources.clone().unwrap_or_default();
        if groups.is_empty() || resources.is_empty() || r.verbs.is_empty() {
            return Err(format!(
                "rule {i} names no API group, resource or verb: {r:?}"
            ));
        }
        let names: Vec<Option<String>> = match &r.resource_names {
            Some(n) if !n.is_empty() => n.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        for g in &groups {
            for res in &resources {
                for v in &r.verbs {
                    for n in &names {
                        out.insert(Atom {
                            group: g.clone(),
                            resource: res.clone(),
                            verb: v.clone(),
                            name: n.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The roles and their bindings as Kubernetes objects, for `scrapepath rbac`: named `name` + suffix,
/// bound to the ServiceAccount `namespace/name`, the operator running in `namespace`.
pub fn manifests(config: &RbacConfig, namespace: &str, name: &str) -> Vec<Value> {
    let labels = json!({"app.kubernetes.io/name": "scrapepath"});
    let subject = json!([{"kind": "ServiceAccount", "name": name, "namespace": namespace}]);
    let mut out = Vec::new();
    for role in roles(config) {
        let role_name = format!("{name}{}", role.suffix);
        let rules = serde_json::to_value(&role.rules).unwrap_or(Value::Null);
        let (kind, binding, ns) = match &role.grant {
            Grant::Cluster => ("ClusterRole", "ClusterRoleBinding", None),
            Grant::Namespace(ns) => ("Role", "RoleBinding", Some(ns.as_str())),
            Grant::OwnNamespace => ("Role", "RoleBinding", Some(namespace)),
        };
        let mut metadata = json!({"name": role_name, "labels": labels});
        if let Some(ns) = ns {
            metadata["namespace"] = json!(ns);
        }
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": kind,
            "metadata": metadata,
            "rules": rules,
        }));
        out.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": binding,
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
            "subjects": subject,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(config: &RbacConfig) -> BTreeMap<(Grant, &'static str), BTreeSet<Atom>> {
        roles(config)
            .into_iter()
            .map(|r| ((r.grant, r.suffix), atoms(&r.rules).unwrap()))
            .collect()
    }

    #[test]
    fn every_kind_is_listed_and_watched_and_pinned_entries_only_by_name() {
        let roles = all(&RbacConfig::default());
        let cluster = &roles[&(Grant::Cluster, "")];
        assert!(cluster.contains(&atom("", "pods", "watch", None)));
        assert!(cluster.contains(&atom(
            "cilium.io",
            "ciliumclusterwidenetworkpolicies",
            "list",
            None
        )));
        // Istio's ConfigMap wherever istiod runs: cluster-wide, but that one name only.
        assert!(cluster.contains(&atom("", "configmaps", "watch", Some("istio"))));
        assert!(!cluster
            .iter()
            .any(|a| a.resource == "configmaps" && a.name.is_none()));
        // The Cilium settings and version: only in kube-system, only by name.
        let ks = &roles[&(Grant::Namespace("kube-system".into()), "-read")];
        assert_eq!(
            ks.iter().cloned().collect::<Vec<_>>(),
            vec![
                atom("", "configmaps", "list", Some("cilium-config")),
                atom("", "configmaps", "watch", Some("cilium-config")),
                atom("apps", "daemonsets", "list", Some("cilium")),
                atom("apps", "daemonsets", "watch", Some("cilium")),
            ]
        );
        assert!(!cluster.iter().any(|a| a.resource == "daemonsets"));
    }

    #[test]
    fn writes_only_on_managed_kinds_intent_status_and_events() {
        let roles = all(&RbacConfig::default());
        let writes: BTreeSet<(String, String)> = roles[&(Grant::Cluster, "")]
            .iter()
            .filter(|a| !matches!(a.verb.as_str(), "get" | "list" | "watch"))
            .map(|a| (a.group.clone(), a.resource.clone()))
            .collect();
        let expected: BTreeSet<(String, String)> = [
            ("cilium.io", "ciliumnetworkpolicies"),
            ("networking.k8s.io", "networkpolicies"),
            ("monitoring.coreos.com", "podmonitors"),
            ("monitoring.coreos.com", "servicemonitors"),
            ("security.istio.io", "authorizationpolicies"),
            ("scrapepath.io", "scrapeintents/status"),
            ("scrapepath.io", "scrapeintents/finalizers"),
            ("events.k8s.io", "events"),
        ]
        .into_iter()
        .map(|(g, r)| (g.to_string(), r.to_string()))
        .collect();
        assert_eq!(writes, expected);
        // Never the intents themselves, pods, or anything cluster-scoped.
        let cluster = &roles[&(Grant::Cluster, "")];
        for a in cluster {
            if a.resource == "scrapeintents" || a.resource == "pods" || a.resource == "namespaces" {
                assert!(matches!(a.verb.as_str(), "list" | "watch"), "{a:?}");
            }
        }
    }

    #[test]
    fn reconciled_namespaces_move_the_writes_into_roles_there() {
        let config = RbacConfig {
            namespaces: ["team-a".to_string(), "team-b".to_string()].into(),
            leader_election: Some("scrapepath".into()),
            ..RbacConfig::default()
        };
        let roles = all(&config);
        let cluster = &roles[&(Grant::Cluster, "")];
        assert!(cluster
            .iter()
            .all(|a| a.verb == "list" || a.verb == "watch"));
        for ns in ["team-a", "team-b"] {
            assert_eq!(roles[&(Grant::Namespace(ns.into()), "")], writes(true));
        }
        let le = &roles[&(Grant::OwnNamespace, "-leader-election")];
        assert!(le.contains(&atom(
            "coordination.k8s.io",
            "leases",
            "patch",
            Some("scrapepath")
        )));
        assert!(le.contains(&atom("coordination.k8s.io", "leases", "create", None)));
        assert_eq!(le.len(), 3);
        // ClusterRole, kube-system reads, monitoring's configurations and scraper status, two
        // namespaces' writes, lease.
        assert_eq!(roles.len(), 7);
    }

    fn config_atoms(resources: &[&str]) -> BTreeSet<Atom> {
        resources
            .iter()
            .flat_map(|r| READ.iter().map(move |v| atom("", r, v, None)))
            .collect()
    }

    #[test]
    fn scrape_configurations_are_read_only_where_the_setting_allows() {
        // Default: ConfigMaps and Secrets in monitoring only; nothing of them cluster-wide.
        let roles = all(&RbacConfig::default());
        assert_eq!(
            roles[&(Grant::Namespace("monitoring".into()), "-configs")],
            config_atoms(&["configmaps", "secrets"])
        );
        let cluster = &roles[&(Grant::Cluster, "")];
        assert!(!cluster
            .iter()
            .any(|a| (a.resource == "configmaps" || a.resource == "secrets") && a.name.is_none()));
        assert!(!roles
            .values()
            .flatten()
            .any(|a| a.resource == "secrets" && a.verb == "get"));

        // Several namespaces, no Secrets.
        let roles = all(&RbacConfig {
            configs: ConfigAccess {
                namespaces: ConfigNamespaces::from_list(&["monitoring", "kube-system"]).unwrap(),
                secrets: false,
            },
            ..RbacConfig::default()
        });
        for ns in ["monitoring", "kube-system"] {
            assert_eq!(
                roles[&(Grant::Namespace(ns.into()), "-configs")],
                config_atoms(&["configmaps"])
            );
        }
        // kube-system's pinned reads stay in their own Role, limited by name.
        assert!(roles[&(Grant::Namespace("kube-system".into()), "-read")]
            .iter()
            .all(|a| a.name.is_some()));
        assert!(!roles.values().flatten().any(|a| a.resource == "secrets"));

        // Every namespace, on purpose: the ClusterRole.
        let roles = all(&RbacConfig {
            configs: ConfigAccess::everything(),
            ..RbacConfig::default()
        });
        let cluster = &roles[&(Grant::Cluster, "")];
        assert!(config_atoms(&["configmaps", "secrets"]).is_subset(cluster));
        assert!(!roles.keys().any(|(_, suffix)| *suffix == "-configs"));

        // None: no read of any ConfigMap or Secret but those pinned by name.
        let roles = all(&RbacConfig {
            configs: ConfigAccess {
                namespaces: ConfigNamespaces::from_list::<&str>(&[]).unwrap(),
                secrets: true,
            },
            ..RbacConfig::default()
        });
        assert!(!roles.keys().any(|(_, suffix)| *suffix == "-configs"));
        assert!(!roles
            .values()
            .flatten()
            .any(|a| (a.resource == "configmaps" || a.resource == "secrets") && a.name.is_none()));
    }

    #[test]
    fn scraper_status_is_read_only_where_the_setting_allows() {
        let status = |resources: &[(&str, &str)]| -> BTreeSet<Atom> {
            resources
                .iter()
                .flat_map(|(g, r)| READ.iter().map(move |v| atom(g, r, v, None)))
                .collect()
        };
        let both = status(&[("apps", "statefulsets"), ("", "events")]);
        // Default: monitoring only, in a Role of its own; nothing of them cluster-wide.
        let roles = all(&RbacConfig::default());
        assert_eq!(
            roles[&(Grant::Namespace("monitoring".into()), "-status")],
            both
        );
        assert!(!roles[&(Grant::Cluster, "")]
            .iter()
            .any(|a| a.resource == "statefulsets" || (a.resource == "events" && a.verb == "list")));
        // Every namespace: the ClusterRole.
        let roles = all(&RbacConfig {
            scraper_status: ConfigNamespaces::All,
            ..RbacConfig::default()
        });
        assert!(both.is_subset(&roles[&(Grant::Cluster, "")]));
        assert!(!roles.keys().any(|(_, s)| *s == "-status"));
        // None: never read.
        let roles = all(&RbacConfig {
            scraper_status: ConfigNamespaces::from_list::<&str>(&[]).unwrap(),
            ..RbacConfig::default()
        });
        assert!(!roles
            .values()
            .flatten()
            .any(|a| a.resource == "statefulsets" || (a.resource == "events" && a.verb == "list")));
    }

    #[test]
    fn rules_round_trip_through_atoms() {
        for config in [
            RbacConfig::default(),
            RbacConfig {
                namespaces: ["x".to_string()].into(),
                leader_election: Some("l".into()),
                allow_enforce: false,
                configs: ConfigAccess::everything(),
                read_rbac: true,
                scraper_status: ConfigNamespaces::All,
            },
        ] {
            for role in roles(&config) {
                let a = atoms(&role.rules).unwrap();
                assert_eq!(rules(&a), role.rules);
            }
        }
    }

    #[test]
    fn without_enforce_only_statuses_and_events_are_written() {
        let roles = all(&RbacConfig {
            allow_enforce: false,
            ..RbacConfig::default()
        });
        let writes: BTreeSet<String> = roles[&(Grant::Cluster, "")]
            .iter()
            .filter(|a| !matches!(a.verb.as_str(), "get" | "list" | "watch"))
            .map(|a| format!("{}/{} {}", a.group, a.resource, a.verb))
            .collect();
        assert_eq!(
            writes.into_iter().collect::<Vec<_>>(),
            [
                "events.k8s.io/events create",
                "events.k8s.io/events patch",
                "scrapepath.io/scrapeintents/status patch",
            ]
        );
    }

    #[test]
    fn rbac_objects_are_read_cluster_wide_only_when_set() {
        let rbac_atoms =
            |roles: &BTreeMap<(Grant, &'static str), BTreeSet<Atom>>| -> BTreeSet<Atom> {
                roles
                    .values()
                    .flatten()
                    .filter(|a| a.group == "rbac.authorization.k8s.io")
                    .cloned()
                    .collect()
            };
        assert!(rbac_atoms(&all(&RbacConfig::default())).is_empty());
        let roles = all(&RbacConfig {
            read_rbac: true,
            ..RbacConfig::default()
        });
        let expected: BTreeSet<Atom> = [
            "roles",
            "clusterroles",
            "rolebindings",
            "clusterrolebindings",
        ]
        .iter()
        .flat_map(|r| {
            READ.iter()
                .map(move |v| atom("rbac.authorization.k8s.io", r, v, None))
        })
        .collect();
        assert_eq!(rbac_atoms(&roles), expected);
        assert!(expected.is_subset(&roles[&(Grant::Cluster, "")]));
    }

    #[test]
    fn a_rule_granting_nothing_is_reported() {
        let r = PolicyRule {
            verbs: vec!["get".into()],
            ..Default::default()
        };
        assert!(atoms(&[r]).unwrap_err().contains("rule 0"));
    }
}
