//! Kubernetes RBAC as the API server's authorizer decides it, reduced to the question the
//! `DiscoveryPermitted` layer asks: may the scraper's ServiceAccount list and watch what its
//! Kubernetes service discovery reads, in the namespaces it reads them in? (semantics/kubernetes-rbac.md)
//!
//! Fed from Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (`check` input, or the operator's
//! watches when it is allowed to read them). Only what can bear on that question is kept: rules that can
//! grant `list`/`watch` on the resources discovery reads, and subjects that can name a ServiceAccount.
//! When no RBAC object is known at all the index holds `None`, and the layer is `Unknown`, never an
//! assumption either way.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1 as rbacv1;
use serde_json::{json, Value};

use crate::model::{Kind, Labels, ObjRef};
use crate::selector::{Selector, SelectorError};

/// The resources any Kubernetes service discovery role reads (semantics D1), by API group.
const SD_RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "services"),
    ("", "endpoints"),
    ("discovery.k8s.io", "endpointslices"),
    ("networking.k8s.io", "ingresses"),
    ("", "nodes"),
    ("", "namespaces"),
];

/// The verbs an informer needs (semantics D2): `list`, then `watch`.
pub const INFORMER_VERBS: [&str; 2] = ["list", "watch"];

/// One rule of a Role or ClusterRole (K3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

impl Rule {
    fn from_k8s(r: &rbacv1::PolicyRule) -> Self {
        Rule {
            verbs: r.verbs.clone(),
            api_groups: r.api_groups.clone().unwrap_or_default(),
            resources: r.resources.clone().unwrap_or_default(),
            resource_names: r.resource_names.clone().unwrap_or_default(),
        }
    }

    fn verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    fn group(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == "*" || g == group)
    }

    fn resource(&self, resource: &str) -> bool {
        self.resources.iter().any(|r| r == "*" || r == resource)
    }

    /// Whether this rule could grant a read of discovery's resources, or names one of them in another
    /// API group (kept to say so: `extensions` ingresses) — the rules worth keeping.
    fn may_bear_on_discovery(&self) -> bool {
        INFORMER_VERBS.iter().any(|v| self.verb(v))
            && SD_RESOURCES.iter().any(|(_, r)| self.resource(r))
    }
}

/// A Role or ClusterRole.
#[derive(Debug, Clone, PartialEq)]
pub struct RbacRole {
    /// [`Kind::Role`] or [`Kind::ClusterRole`].
    pub kind: Kind,
    /// "" for a ClusterRole.
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// The rules that may bear on discovery (others are dropped when read).
    pub rules: Vec<Rule>,
    /// `aggregationRule.clusterRoleSelectors` of a ClusterRole: its rules are then those of the
    /// ClusterRoles the selectors match (K7), whatever `rules` says.
    pub aggregation: Option<Vec<Result<Selector, SelectorError>>>,
}

impl RbacRole {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(self.kind, &self.namespace, &self.name)
    }

    pub fn from_role(r: &rbacv1::Role) -> Self {
        RbacRole {
            kind: Kind::Role,
            namespace: r.metadata.namespace.clone().unwrap_or_default(),
            name: r.metadata.name.clone().unwrap_or_default(),
            labels: Labels::new(),
            rules: relevant_rules(r.rules.iter().flatten()),
            aggregation: None,
        }
    }

    pub fn from_cluster_role(r: &rbacv1::ClusterRole) -> Self {
        RbacRole {
            kind: Kind::ClusterRole,
            namespace: String::new(),
            name: r.metadata.name.clone().unwrap_or_default(),
            labels: r.metadata.labels.clone().unwrap_or_default(),
            rules: relevant_rules(r.rules.iter().flatten()),
            aggregation: r.aggregation_rule.as_ref().map(|a| {
                a.cluster_role_selectors
                    .iter()
                    .flatten()
                    .map(Selector::from_k8s)
                    .collect()
            }),
        }
    }
}

fn relevant_rules<'r>(rules: impl Iterator<Item = &'r rbacv1::PolicyRule>) -> Vec<Rule> {
    rules
        .map(Rule::from_k8s)
        .filter(Rule::may_bear_on_discovery)
        .collect()
}

/// One subject of a binding that can name a ServiceAccount (K5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `kind: ServiceAccount`; the namespace defaults to the RoleBinding's.
    ServiceAccount {
        namespace: Option<String>,
        name: String,
    },
    /// `kind: Group` (`system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`).
    Group(String),
    /// `kind: User` named `system:serviceaccount:<ns>:<name>`.
    User(String),
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone, PartialEq)]
pub struct RbacBinding {
    /// [`Kind::RoleBinding`] or [`Kind::ClusterRoleBinding`].
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// `roleRef`: [`Kind::Role`] (in the binding's namespace) or [`Kind::ClusterRole`].
    pub role_kind: Kind,
    pub role_name: String,
    pub subjects: Vec<Subject>,
}

impl RbacBinding {
    pub fn obj_ref(&self) -> ObjRef {
        ObjRef::new(self.kind, &self.namespace, &self.name)
    }

    fn role_ref(&self) -> ObjRef {
        let ns = if self.role_kind == Kind::Role {
            self.namespace.as_str()
        } else {
            ""
        };
        ObjRef::new(self.role_kind, ns, &self.role_name)
    }

    pub fn from_role_binding(b: &rbacv1::RoleBinding) -> Result<Self, String> {
        Self::new(
            Kind::RoleBinding,
            b.metadata.namespace.clone().unwrap_or_default(),
            b.metadata.name.clone().unwrap_or_default(),
            &b.role_ref,
            b.subjects.iter().flatten(),
        )
    }

    pub fn from_cluster_role_binding(b: &rbacv1::ClusterRoleBinding) -> Result<Self, String> {
        Self::new(
            Kind::ClusterRoleBinding,
            String::new(),
            b.metadata.name.clone().unwrap_or_default(),
            &b.role_ref,
            b.subjects.iter().flatten(),
        )
    }

    fn new<'s>(
        kind: Kind,
        namespace: String,
        name: String,
        role_ref: &rbacv1::RoleRef,
        subjects: impl Iterator<Item = &'s rbacv1::Subject>,
    ) -> Result<Self, String> {
        let role_kind = match role_ref.kind.as_str() {
            "ClusterRole" => Kind::ClusterRole,
            // A ClusterRoleBinding can only refer to a ClusterRole (the API server refuses it).
            "Role" if kind == Kind::RoleBinding => Kind::Role,
            other => {
                return Err(format!(
                    "roleRef.kind {other:?}: a {kind} refers to {}",
                    if kind == Kind::RoleBinding {
                        "a Role or a ClusterRole"
                    } else {
                        "a ClusterRole"
                    }
                ))
            }
        };
        let subjects = subjects
            .filter_map(|s| match s.kind.as_str() {
                "ServiceAccount" => Some(Subject::ServiceAccount {
                    namespace: s.namespace.clone().filter(|n| !n.is_empty()),
                    name: s.name.clone(),
                }),
                "Group"
                    if s.name.starts_with("system:serviceaccounts") || s.name == AUTHENTICATED =>
                {
                    Some(Subject::Group(s.name.clone()))
                }
                "User" if s.name.starts_with(SA_USER_PREFIX) => Some(Subject::User(s.name.clone())),
                _ => None,
            })
            .collect();
        Ok(RbacBinding {
            kind,
            namespace,
            name,
            role_kind,
            role_name: role_ref.name.clone(),
            subjects,
        })
    }
}

const AUTHENTICATED: &str = "system:authenticated";
const SA_USER_PREFIX: &str = "system:serviceaccount:";

/// A ServiceAccount, as the authorizer sees it: user `system:serviceaccount:<ns>:<name>`, groups
/// `system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated` (K5).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Account {
    pub namespace: String,
    pub name: String,
}

impl Account {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Account {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn is(&self, s: &Subject, binding_ns: &str) -> bool {
        match s {
            Subject::ServiceAccount { namespace, name } => {
                let ns = namespace.as_deref().unwrap_or(binding_ns);
                !ns.is_empty() && ns == self.namespace && *name == self.name
            }
            Subject::Group(g) => {
                g == "system:serviceaccounts"
                    || g == AUTHENTICATED
                    || *g == format!("system:serviceaccounts:{}", self.namespace)
            }
            Subject::User(u) => *u == format!("{SA_USER_PREFIX}{}:{}", self.namespace, self.name),
        }
    }
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceAccount {}/{}", self.namespace, self.name)
    }
}

/// Every RBAC object the index holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rbac {
    pub roles: BTreeMap<ObjRef, RbacRole>,
    pub bindings: BTreeMap<ObjRef, RbacBinding>,
}

/// What grants (or fails to grant) one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Granted through this binding and role.
    Allowed { binding: ObjRef, role: ObjRef },
    /// Not granted; the notes say what came close (a binding to a missing role, a rule limited by
    /// `resourceNames`, an aggregation that matches nothing).
    Denied { notes: Vec<String> },
}

impl Rbac {
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty() && self.bindings.is_empty()
    }

    /// The rules a role grants: its own, or for an aggregated ClusterRole those of every ClusterRole
    /// its selectors match (K7), computed through chains of aggregation with a guard against cycles.
    fn effective_rules(&self, role: &RbacRole, seen: &mut BTreeSet<String>) -> Vec<Rule> {
        let Some(selectors) = &role.aggregation else {
            return role.rules.clone();
        };
        if !seen.insert(role.name.clone()) {
            return Vec::new();
        }
        let mut out: Vec<Rule> = Vec::new();
        for sel in selectors.iter().flatten() {
            for other in self.roles.values().filter(|r| r.kind == Kind::ClusterRole) {
                if other.name == role.name || !sel.matches(&other.labels) {
                    continue;
                }
                for rule in self.effective_rules(other, seen) {
                    if !out.contains(&rule) {
                        out.push(rule);
                    }
                }
            }
        }
        out
    }

    /// Why an aggregated ClusterRole grants nothing, when it does not.
    fn aggregation_note(&self, role: &RbacRole) -> Option<String> {
        let selectors = role.aggregation.as_ref()?;
        let bad: Vec<String> = selectors
            .iter()
            .filter_map(|s| s.as_ref().err().map(|e| e.0.clone()))
            .collect();
        let matched = self.roles.values().any(|o| {
            o.kind == Kind::ClusterRole
                && o.name != role.name
                && selectors.iter().flatten().any(|s| s.matches(&o.labels))
        });
        if matched {
            return None;
        }
        let mut note = format!(
            "ClusterRole {} aggregates the ClusterRoles its aggregationRule selects, and no ClusterRole carries the labels it selects: it grants nothing",
            role.name
        );
        if !bad.is_empty() {
            note.push_str(&format!(" (unreadable selectors: {})", bad.join("; ")));
        }
        Some(note)
    }

    /// Whether `account` may `verb` the collection `group`/`resource` in `namespace` (`None`: across
    /// every namespace, which only ClusterRoleBindings grant, K4).
    pub fn decide(
        &self,
        account: &Account,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Decision {
        let mut notes = Vec::new();
        for b in self.bindings.values() {
            let applies = match (b.kind, namespace) {
                (Kind::ClusterRoleBinding, _) => true,
                (_, Some(ns)) => b.namespace == ns,
                (_, None) => false,
            };
            if !applies || !b.subjects.iter().any(|s| account.is(s, &b.namespace)) {
                continue;
            }
            let role_ref = b.role_ref();
            let Some(role) = self.roles.get(&role_ref) else {
                notes.push(format!(
                    "{} {} refers to {role_ref}, which does not exist: it grants nothing",
                    b.kind,
                    qualified(&b.namespace, &b.name)
                ));
                continue;
            };
            let rules = self.effective_rules(role, &mut BTreeSet::new());
            if rules.is_empty() {
                if let Some(note) = self.aggregation_note(role) {
                    notes.push(note);
                }
            }
            for rule in &rules {
                if rule.verb(verb) && rule.resource(resource) && !rule.group(group) {
                    let wanted = if group.is_empty() { "core" } else { group };
                    let groups: Vec<&str> = rule
                        .api_groups
                        .iter()
                        .map(|g| if g.is_empty() { "core" } else { g.as_str() })
                        .collect();
                    notes.push(format!(
                        "{role_ref} grants {resource} in API group [{}], not in {wanted}, where Prometheus lists them: that rule grants nothing here",
                        groups.join(", ")
                    ));
                    continue;
                }
                if !(rule.verb(verb) && rule.group(group) && rule.resource(resource)) {
                    continue;
                }
                if rule.resource_names.is_empty() {
                    return Decision::Allowed {
                        binding: b.obj_ref(),
                        role: role_ref,
                    };
                }
                notes.push(format!(
                    "{role_ref} grants {verb} {resource} only for resourceNames [{}]: a {verb} of the whole collection is never granted by names",
                    rule.resource_names.join(", ")
                ));
            }
        }
        notes.dedup();
        Decision::Denied { notes }
    }
}

fn qualified(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    }
}

/// A Kubernetes service discovery role as prometheus-operator generates it (semantics D3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdRole {
    /// PodMonitor.
    Pod,
    /// ServiceMonitor, `serviceDiscoveryRole: Endpoints` (the default).
    Endpoints,
    /// ServiceMonitor, `serviceDiscoveryRole: EndpointSlice`.
    EndpointSlice,
    /// `scrape_configs` jobs: `role: service`, `ingress`, `node`.
    Service,
    Ingress,
    /// Nodes are cluster-scoped: always a cluster-wide list.
    Node,
    /// `attach_metadata.namespace`: a cluster-wide Namespace informer, whatever the namespaces
    /// discovered in (`newNamespaceInformer` does not filter).
    Namespace,
}

impl SdRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SdRole::Pod => "pod",
            SdRole::Endpoints => "endpoints",
            SdRole::EndpointSlice => "endpointslice",
            SdRole::Service => "service",
            SdRole::Ingress => "ingress",
            SdRole::Node => "node",
            SdRole::Namespace => "namespace metadata",
        }
    }

    /// The (group, resource) collections its informers list and watch (D1).
    pub fn resources(self) -> &'static [(&'static str, &'static str)] {
        match self {
            SdRole::Pod => &[("", "pods")],
            SdRole::Endpoints => &[("", "endpoints"), ("", "services"), ("", "pods")],
            SdRole::EndpointSlice => &[
                ("discovery.k8s.io", "endpointslices"),
                ("", "services"),
                ("", "pods"),
            ],
            SdRole::Service => &[("", "services")],
            SdRole::Ingress => &[("networking.k8s.io", "ingresses")],
            SdRole::Node => &[("", "nodes")],
            SdRole::Namespace => &[("", "namespaces")],
        }
    }
}

/// Where discovery lists: the namespaces of its `kubernetes_sd_configs`, or every namespace at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdNamespaces {
    All,
    Names(Vec<String>),
}

/// What a discovery lacks in one namespace (`None`: the cluster-wide list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub namespace: Option<String>,
    /// (group, resource, verbs not granted).
    pub grants: Vec<(String, String, Vec<String>)>,
}

/// The verdict of one discovery: what grants it, what is missing, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryAccess {
    /// The bindings (and roles) that grant something it needs.
    pub granted_by: BTreeSet<(ObjRef, ObjRef)>,
    pub missing: Vec<Missing>,
    pub notes: Vec<String>,
}

impl DiscoveryAccess {
    pub fn permitted(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Whether `account` may run discovery `role` over `namespaces`: every resource of the role, `list`
/// and `watch`, in each namespace (D2, D4).
pub fn discovery_access(
    rbac: &Rbac,
    account: &Account,
    role: SdRole,
    namespaces: &SdNamespaces,
) -> DiscoveryAccess {
    let mut out = DiscoveryAccess::default();
    let scopes: Vec<Option<&str>> = match namespaces {
        // Nodes and Namespaces are cluster-scoped: whatever the namespaces, a cluster-wide list.
        _ if matches!(role, SdRole::Node | SdRole::Namespace) => vec![None],
        SdNamespaces::All => vec![None],
        SdNamespaces::Names(n) => n.iter().map(|n| Some(n.as_str())).collect(),
    };
    for ns in scopes {
        let mut grants = Vec::new();
        for (group, resource) in role.resources() {
            let mut verbs = Vec::new();
            for verb in INFORMER_VERBS {
                match rbac.decide(account, verb, group, resource, ns) {
                    Decision::Allowed { binding, role } => {
                        out.granted_by.insert((binding, role));
                    }
                    Decision::Denied { notes } => {
                        verbs.push(verb.to_string());
                        for n in notes {
                            if !out.notes.contains(&n) {
                                out.notes.push(n);
                            }
                        }
                    }
                }
            }
            if !verbs.is_empty() {
                grants.push((group.to_string(), resource.to_string(), verbs));
            }
        }
        if !grants.is_empty() {
            out.missing.push(Missing {
                namespace: ns.map(str::to_string),
                grants,
            });
        }
    }
    out
}

/// One line per missing grant: "cannot list, watch endpoints, services in namespace shop".
pub fn describe_missing(account: &Account, m: &Missing) -> String {
    let mut by_verbs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (group, resource, verbs) in &m.grants {
        let res = if group.is_empty() {
            resource.clone()
        } else {
            format!("{resource}.{group}")
        };
        by_verbs.entry(verbs.join(", ")).or_default().push(res);
    }
    let what: Vec<String> = by_verbs
        .into_iter()
        .map(|(verbs, res)| format!("{verbs} {}", res.join(", ")))
        .collect();
    match &m.namespace {
        Some(ns) => format!("{account} cannot {} in namespace {ns}", what.join("; ")),
        None => format!(
            "{account} cannot {} across all namespaces (a cluster-wide list: only a ClusterRoleBinding grants it)",
            what.join("; ")
        ),
    }
}

/// The least Role and RoleBinding (or, for a cluster-wide list, ClusterRole and ClusterRoleBinding)
/// that grant what `m` lacks to `account`: `list` and `watch` on exactly the resources of `role`.
pub fn remedy(account: &Account, role: SdRole, m: &Missing) -> Vec<Value> {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (group, resource) in role.resources() {
        by_group.entry(group).or_default().push(resource);
    }
    let rules: Vec<Value> = by_group
        .into_iter()
        .map(|(g, r)| json!({"apiGroups": [g], "resources": r, "verbs": INFORMER_VERBS}))
        .collect();
    let subject =
        json!([{"kind": "ServiceAccount", "name": account.name, "namespace": account.namespace}]);
    let labels = json!({"app.kubernetes.io/part-of": "scrapepath-remedy"});
    let api = "rbac.authorization.k8s.io/v1";
    match &m.namespace {
        Some(ns) => {
            let name = format!("{}-discovery", account.name);
            let md = json!({"name": name, "namespace": ns, "labels": labels});
            vec![
                json!({"apiVersion": api, "kind": "Role", "metadata": md, "rules": rules}),
                json!({"apiVersion": api, "kind": "RoleBinding", "metadata": md,
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                       "subjects": subject}),
            ]
        }
        None => {
            let name = cluster_grant_name(account, role);
            let md = json!({"name": name, "labels": labels});
            vec![
                json!({"apiVersion": api, "kind": "ClusterRole", "metadata": md, "rules": rules}),
                json!({"apiVersion": api, "kind": "ClusterRoleBinding", "metadata": md,
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                       "subjects": subject}),
            ]
        }
    }
}

/// The name of a cluster-wide grant: namespace metadata has a name of its own, as its list comes
/// beside a cluster-wide list of the role's resources and both grants are proposed.
fn cluster_grant_name(account: &Account, role: SdRole) -> String {
    let what = if role == SdRole::Namespace {
        "namespaces-discovery"
    } else {
        "discovery"
    };
    format!("{}-{}-{what}", account.namespace, account.name)
}

/// The same grant as [`remedy`], as the `kubectl create` commands that make it (one line, for a
/// condition message).
pub fn remedy_commands(account: &Account, role: SdRole, m: &Missing) -> String {
    let resources: Vec<String> = role
        .resources()
        .iter()
        .map(|(g, r)| {
            if g.is_empty() {
                r.to_string()
            } else {
                format!("{r}.{g}")
            }
        })
        .collect();
    let sa = format!("--serviceaccount={}:{}", account.namespace, account.name);
    let verbs = format!("--verb={}", INFORMER_VERBS.join(","));
    let res = format!("--resource={}", resources.join(","));
    match &m.namespace {
        Some(ns) => {
            let name = format!("{}-discovery", account.name);
            format!("kubectl -n {ns} create role {name} {verbs} {res} && kubectl -n {ns} create rolebinding {name} --role={name} {sa}")
        }
        None => {
            let name = cluster_grant_name(account, role);
            format!("kubectl create clusterrole {name} {verbs} {res} && kubectl create clusterrolebinding {name} --clusterrole={name} {sa}")
        }
    }
}

#[cfg(test)]
mod tests {
    //! Truth tables of semantics/kubernetes-rbac.md (K3–K8, D1, D4).
    use super::*;
    use crate::index::ClusterIndex;

    fn rbac(yaml: &str) -> Rbac {
        let mut idx = ClusterIndex::new();
        let mut stats = crate::load::LoadStats::default();
        for o in crate::load::parse_text(std::path::Path::new("t.yaml"), yaml, &mut stats).unwrap()
        {
            idx.apply(o);
        }
        idx.rbac().cloned().unwrap_or_default()
    }

    fn prom() -> Account {
        Account::new("monitoring", "prometheus-k8s")
    }

    fn allowed(r: &Rbac, verb: &str, group: &str, resource: &str, ns: Option<&str>) -> bool {
        matches!(
            r.decide(&prom(), verb, group, resource, ns),
            Decision::Allowed { .. }
        )
    }

    fn notes(r: &Rbac, resource: &str, ns: Option<&str>) -> Vec<String> {
        match r.decide(&prom(), "list", "", resource, ns) {
            Decision::Denied { notes } => notes,
            d => panic!("expected a denial, got {d:?}"),
        }
    }

    const SA: &str =
        "subjects: [{kind: ServiceAccount, name: prometheus-k8s, namespace: monitoring}]";

    fn role(ns: &str, name: &str, rules: &str) -> String {
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: {name}, namespace: {ns}}}\nrules: {rules}\n---\n")
    }

    fn binding(ns: &str, name: &str, role_kind: &str, role: &str, subjects: &str) -> String {
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {name}, namespace: {ns}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {role_kind}, name: {role}}}\n{subjects}\n---\n")
    }

    fn cluster_role(name: &str, labels: &str, body: &str) -> String {
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}, labels: {{{labels}}}}}\n{body}\n---\n")
    }

    fn cluster_binding(name: &str, role: &str, subjects: &str) -> String {
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {name}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\n{subjects}\n---\n")
    }

    const READ_CORE: &str =
        "[{apiGroups: [\"\"], resources: [services, endpoints, pods], verbs: [get, list, watch]}]";

    #[test]
    fn a_role_binding_grants_its_role_only_in_its_own_namespace() {
        let r =
            rbac(&(role("default", "p", READ_CORE) + &binding("default", "p", "Role", "p", SA)));
        assert!(allowed(&r, "list", "", "endpoints", Some("default")));
        assert!(allowed(&r, "watch", "", "pods", Some("default")));
        assert!(!allowed(&r, "list", "", "endpoints", Some("shop")));
        // A list across all namespaces is never granted by a RoleBinding (K4).
        assert!(!allowed(&r, "list", "", "endpoints", None));
        // Not a verb, group or resource of the rule (K3).
        assert!(!allowed(&r, "delete", "", "pods", Some("default")));
        assert!(!allowed(&r, "list", "apps", "pods", Some("default")));
        assert!(!allowed(
            &r,
            "list",
            "discovery.k8s.io",
            "endpointslices",
            Some("default")
        ));
    }

    #[test]
    fn wildcards_match_every_verb_group_and_resource() {
        for rules in [
            "[{apiGroups: [\"*\"], resources: [\"*\"], verbs: [\"*\"]}]",
            "[{apiGroups: [\"\", discovery.k8s.io], resources: [\"*\"], verbs: [list, watch]}]",
        ] {
            let r =
                rbac(&(role("shop", "all", rules) + &binding("shop", "all", "Role", "all", SA)));
            assert!(
                allowed(&r, "list", "", "endpoints", Some("shop")),
                "{rules}"
            );
            assert!(
                allowed(
                    &r,
                    "watch",
                    "discovery.k8s.io",
                    "endpointslices",
                    Some("shop")
                ),
                "{rules}"
            );
            assert!(!allowed(&r, "list", "", "pods", Some("other")), "{rules}");
        }
    }

    #[test]
    fn resource_names_never_grant_a_list_and_the_denial_says_so() {
        let rules =
            "[{apiGroups: [\"*\"], resources: [\"*\"], verbs: [\"*\"], resourceNames: [api]}]";
        let r =
            rbac(&(role("shop", "named", rules) + &binding("shop", "named", "Role", "named", SA)));
        assert!(!allowed(&r, "list", "", "endpoints", Some("shop")));
        let n = notes(&r, "endpoints", Some("shop"));
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(
            n[0].contains("Role shop/named") && n[0].contains("resourceNames [api]"),
            "{n:?}"
        );
    }

    #[test]
    fn a_rule_of_another_api_group_grants_nothing_and_the_denial_names_it() {
        let old = "[{apiGroups: [extensions], resources: [ingresses], verbs: [get, list, watch]}]";
        let r = rbac(&(role("shop", "old", old) + &binding("shop", "old", "Role", "old", SA)));
        let ingresses = |r: &Rbac| {
            r.decide(
                &prom(),
                "list",
                "networking.k8s.io",
                "ingresses",
                Some("shop"),
            )
        };
        match ingresses(&r) {
            Decision::Denied { notes } => assert_eq!(
                notes,
                ["Role shop/old grants ingresses in API group [extensions], not in networking.k8s.io, where Prometheus lists them: that rule grants nothing here"]
            ),
            d => panic!("expected a denial, got {d:?}"),
        }
        // kube-prometheus' Roles name both groups: granted.
        let both = "[{apiGroups: [extensions, networking.k8s.io], resources: [ingresses], verbs: [list, watch]}]";
        let r = rbac(&(role("shop", "both", both) + &binding("shop", "both", "Role", "both", SA)));
        assert!(matches!(ingresses(&r), Decision::Allowed { .. }));
    }

    #[test]
    fn a_cluster_role_bound_by_a_role_binding_grants_only_in_that_namespace() {
        let r = rbac(
            &(cluster_role("reader", "", &format!("rules: {READ_CORE}"))
                + &binding("shop", "reader", "ClusterRole", "reader", SA)),
        );
        assert!(allowed(&r, "list", "", "endpoints", Some("shop")));
        assert!(!allowed(&r, "list", "", "endpoints", Some("default")));
        assert!(!allowed(&r, "list", "", "endpoints", None));
    }

    #[test]
    fn a_cluster_role_binding_grants_everywhere_and_across_all_namespaces() {
        let r = rbac(
            &(cluster_role("reader", "", &format!("rules: {READ_CORE}"))
                + &cluster_binding("reader", "reader", SA)),
        );
        assert!(allowed(&r, "list", "", "endpoints", Some("shop")));
        assert!(allowed(&r, "watch", "", "pods", None));
    }

    #[test]
    fn roles_in_every_namespace_do_not_grant_a_list_across_all_namespaces() {
        let mut y = String::new();
        for ns in ["default", "kube-system", "monitoring", "shop"] {
            y += &role(ns, "p", READ_CORE);
            y += &binding(ns, "p", "Role", "p", SA);
        }
        let r = rbac(&y);
        let all = discovery_access(&r, &prom(), SdRole::Endpoints, &SdNamespaces::All);
        assert!(!all.permitted());
        assert_eq!(all.missing[0].namespace, None);
        let names = SdNamespaces::Names(vec!["shop".into(), "default".into()]);
        assert!(discovery_access(&r, &prom(), SdRole::Endpoints, &names).permitted());
    }

    #[test]
    fn group_and_user_subjects_name_a_service_account() {
        for subjects in [
            "subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: \"system:serviceaccounts\"}]",
            "subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: \"system:serviceaccounts:monitoring\"}]",
            "subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: \"system:authenticated\"}]",
            "subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: \"system:serviceaccount:monitoring:prometheus-k8s\"}]",
        ] {
            let r = rbac(&(role("shop", "p", READ_CORE) + &binding("shop", "p", "Role", "p", subjects)));
            assert!(allowed(&r, "list", "", "pods", Some("shop")), "{subjects}");
        }
        for subjects in [
            "subjects: [{kind: Group, apiGroup: rbac.authorization.k8s.io, name: \"system:serviceaccounts:shop\"}]",
            "subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: prometheus-k8s}]",
            "subjects: [{kind: ServiceAccount, name: prometheus-k8s, namespace: shop}]",
            "subjects: [{kind: ServiceAccount, name: default, namespace: monitoring}]",
        ] {
            let r = rbac(&(role("shop", "p", READ_CORE) + &binding("shop", "p", "Role", "p", subjects)));
            assert!(!allowed(&r, "list", "", "pods", Some("shop")), "{subjects}");
        }
    }

    #[test]
    fn a_service_account_subject_without_namespace_is_the_role_bindings_own() {
        let subjects = "subjects: [{kind: ServiceAccount, name: prometheus-k8s}]";
        let r = rbac(
            &(role("monitoring", "p", READ_CORE)
                + &binding("monitoring", "p", "Role", "p", subjects)),
        );
        assert!(allowed(&r, "list", "", "pods", Some("monitoring")));
        let r =
            rbac(&(role("shop", "p", READ_CORE) + &binding("shop", "p", "Role", "p", subjects)));
        assert!(!allowed(&r, "list", "", "pods", Some("shop")));
    }

    #[test]
    fn an_aggregated_cluster_role_grants_the_rules_of_the_labelled_ones_not_its_own() {
        let agg = "aggregationRule: {clusterRoleSelectors: [{matchLabels: {rbac.example.com/aggregate-to-monitoring: \"true\"}}]}\nrules: [{apiGroups: [\"\"], resources: [nodes], verbs: [list]}]";
        let y = cluster_role("monitoring", "", agg)
            + &cluster_role(
                "endpoints-reader",
                "rbac.example.com/aggregate-to-monitoring: \"true\"",
                &format!("rules: {READ_CORE}"),
            )
            + &cluster_role(
                "slices-reader",
                "other: x",
                "rules: [{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}]",
            )
            + &cluster_binding("monitoring", "monitoring", SA);
        let r = rbac(&y);
        assert!(allowed(&r, "list", "", "endpoints", Some("shop")));
        assert!(allowed(&r, "watch", "", "pods", None));
        assert!(!allowed(
            &r,
            "list",
            "discovery.k8s.io",
            "endpointslices",
            Some("shop")
        ));
    }

    #[test]
    fn an_aggregated_cluster_role_whose_labels_match_nothing_grants_nothing_and_says_so() {
        let agg = "aggregationRule: {clusterRoleSelectors: [{matchLabels: {rbac.example.com/aggregate-to-monitoring: \"true\"}}]}\nrules: [{apiGroups: [\"\"], resources: [pods, endpoints, services], verbs: [list, watch]}]";
        let y = cluster_role("monitoring", "", agg)
            + &cluster_role(
                "unrelated",
                "rbac.example.com/aggregate-to-view: \"true\"",
                &format!("rules: {READ_CORE}"),
            )
            + &binding("shop", "monitoring", "ClusterRole", "monitoring", SA);
        let r = rbac(&y);
        assert!(!allowed(&r, "list", "", "pods", Some("shop")));
        let n = notes(&r, "pods", Some("shop"));
        assert!(
            n.iter()
                .any(|n| n.contains("ClusterRole monitoring aggregates")
                    && n.contains("grants nothing")),
            "{n:?}"
        );
    }

    #[test]
    fn aggregation_chains_resolve_and_cycles_end() {
        let y = cluster_role("a", "tier: a", "aggregationRule: {clusterRoleSelectors: [{matchLabels: {tier: b}}]}")
            + &cluster_role("b", "tier: b", "aggregationRule: {clusterRoleSelectors: [{matchLabels: {tier: a}}, {matchLabels: {tier: c}}]}")
            + &cluster_role("c", "tier: c", &format!("rules: {READ_CORE}"))
            + &cluster_binding("a", "a", SA);
        let r = rbac(&y);
        assert!(allowed(&r, "list", "", "services", Some("shop")));
    }

    #[test]
    fn a_binding_to_a_missing_role_grants_nothing_and_says_so() {
        let r = rbac(&binding("shop", "p", "Role", "gone", SA));
        assert!(!allowed(&r, "list", "", "pods", Some("shop")));
        let n = notes(&r, "pods", Some("shop"));
        assert!(
            n[0].contains("RoleBinding shop/p refers to Role shop/gone, which does not exist"),
            "{n:?}"
        );
    }

    #[test]
    fn each_discovery_role_needs_all_of_its_resources() {
        // Endpoints and pods but no services: the endpoints role never syncs (D2).
        let rules = "[{apiGroups: [\"\"], resources: [endpoints, pods], verbs: [list, watch]}]";
        let r = rbac(&(role("shop", "p", rules) + &binding("shop", "p", "Role", "p", SA)));
        let shop = SdNamespaces::Names(vec!["shop".into()]);
        let a = discovery_access(&r, &prom(), SdRole::Endpoints, &shop);
        assert_eq!(
            a.missing,
            vec![Missing {
                namespace: Some("shop".into()),
                grants: vec![(
                    "".into(),
                    "services".into(),
                    vec!["list".into(), "watch".into()]
                )],
            }]
        );
        assert!(discovery_access(&r, &prom(), SdRole::Pod, &shop).permitted());
        let s = discovery_access(&r, &prom(), SdRole::EndpointSlice, &shop);
        assert_eq!(s.missing[0].grants[0].1, "endpointslices");
        assert_eq!(
            describe_missing(&prom(), &s.missing[0]),
            "ServiceAccount monitoring/prometheus-k8s cannot list, watch endpointslices.discovery.k8s.io, services in namespace shop"
        );
        // The remedy grants exactly that, and with it the discovery is permitted.
        let fix: Vec<String> = remedy(&prom(), SdRole::EndpointSlice, &s.missing[0])
            .iter()
            .map(|v| serde_yaml_ng::to_string(v).unwrap())
            .collect();
        let fixed = rbac(
            &(role("shop", "p", rules)
                + &binding("shop", "p", "Role", "p", SA)
                + &fix.join("---\n")),
        );
        assert!(discovery_access(&fixed, &prom(), SdRole::EndpointSlice, &shop).permitted());
    }

    #[test]
    fn only_list_without_watch_is_missing_watch() {
        let rules = "[{apiGroups: [\"\"], resources: [pods], verbs: [get, list]}]";
        let r = rbac(&(role("shop", "p", rules) + &binding("shop", "p", "Role", "p", SA)));
        let a = discovery_access(
            &r,
            &prom(),
            SdRole::Pod,
            &SdNamespaces::Names(vec!["shop".into()]),
        );
        assert_eq!(
            a.missing[0].grants,
            vec![("".into(), "pods".into(), vec!["watch".into()])]
        );
    }

    #[test]
    fn the_cluster_wide_remedy_is_a_cluster_role_and_its_binding() {
        let r = rbac(&role("shop", "p", READ_CORE));
        let a = discovery_access(&r, &prom(), SdRole::Pod, &SdNamespaces::All);
        let fix = remedy(&prom(), SdRole::Pod, &a.missing[0]);
        assert_eq!(fix[0]["kind"], "ClusterRole");
        assert_eq!(fix[1]["kind"], "ClusterRoleBinding");
        assert_eq!(
            fix[1]["metadata"]["name"],
            "monitoring-prometheus-k8s-discovery"
        );
        let fixed: String = fix
            .iter()
            .map(|v| serde_yaml_ng::to_string(v).unwrap() + "---\n")
            .collect();
        assert!(
            discovery_access(&rbac(&fixed), &prom(), SdRole::Pod, &SdNamespaces::All).permitted()
        );
    }

    #[test]
    fn a_cluster_role_binding_to_a_role_is_bad_input_naming_the_object() {
        let y = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: wrong}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: p}\nsubjects: []\n";
        let mut stats = crate::load::LoadStats::default();
        let err =
            crate::load::parse_text(std::path::Path::new("t.yaml"), y, &mut stats).unwrap_err();
        let text = format!("{err:?}");
        assert!(
            text.contains("ClusterRoleBinding wrong") && text.contains("a ClusterRole"),
            "{text}"
        );
    }

    #[test]
    fn rbac_is_unknown_while_the_api_server_refuses_one_of_its_kinds() {
        let mut idx = ClusterIndex::new();
        assert!(idx.rbac().is_none(), "nothing known: unknown");
        idx.mark_rbac_read();
        assert!(idx.rbac().is_some_and(Rbac::is_empty), "read, and empty");
        idx.set_rbac_refused(Kind::ClusterRoleBinding, true);
        assert!(idx.rbac().is_none(), "partial RBAC is no verdict");
        idx.set_rbac_refused(Kind::ClusterRoleBinding, false);
        assert!(idx.rbac().is_some());
    }

    #[test]
    fn rules_that_cannot_bear_on_discovery_are_not_kept() {
        let y = cluster_role(
            "mixed",
            "",
            "rules: [{apiGroups: [apps], resources: [deployments], verbs: [\"*\"]}, {nonResourceURLs: [/metrics], verbs: [get]}, {apiGroups: [\"\"], resources: [pods], verbs: [get]}, {apiGroups: [\"\"], resources: [pods], verbs: [list]}]",
        );
        let r = rbac(&y);
        let role = &r.roles[&ObjRef::new(Kind::ClusterRole, "", "mixed")];
        assert_eq!(role.rules.len(), 1);
        assert_eq!(role.rules[0].verbs, ["list"]);
    }
}
