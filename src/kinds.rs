//! The Kubernetes kinds the index is fed from in a live cluster — one table serves the controller's watches
//! and `scrapepath audit`'s lists, so the two always read the same world.

use crate::model::Kind;

/// One kind as the API server serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKind {
    pub kind: Kind,
    pub group: &'static str,
    /// Served versions to try, preferred first (Istio moved its security kinds from v1beta1 to v1).
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub namespaced: bool,
    /// A CRD that may be absent: "not installed" is a state, not an error.
    pub optional: bool,
    /// Only objects of this name matter, in this namespace or (`None`) any: `kube-system/cilium-config`,
    /// the `cilium` DaemonSet, Istio's `istio` ConfigMap wherever istiod runs.
    pub only: Option<(Option<&'static str>, &'static str)>,
    /// Only the objects a scraper refers to (the ConfigMap or Secret behind a Prometheus pod's
    /// `--config.file`, a Prometheus object's `additionalScrapeConfigs` Secret): read one by one with
    /// a `metadata.name` field selector in their namespace, never listed or watched cluster-wide, so
    /// that no other Secret ever reaches the operator's memory; and only where
    /// [`crate::config_access::ConfigAccess`] allows. RBAC: `list`, `watch` on the kind in those
    /// namespaces ([`crate::rbac`]).
    pub referenced: bool,
    /// What says why a scraper is not Ready (issue 17): prometheus-operator's StatefulSets and Warning
    /// Events. Read only in the namespaces of the scraper status setting
    /// ([`crate::config_access::STATUS_NAMESPACES_SETTING`]): a Role `-status` in each, or the
    /// ClusterRole for every namespace; none when it is empty.
    pub scraper_status: bool,
    /// A field selector every list and watch of the entry carries (Events: `type=Warning`).
    pub fields: Option<&'static str>,
    /// A label selector every list and watch carries (the operator's StatefulSets only).
    pub labels: Option<&'static str>,
}

impl ApiKind {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether an object of this kind is one this entry reads (a `referenced` entry: those the index
    /// asks for, see [`crate::index::ClusterIndex::referenced_configs`]).
    pub fn covers(&self, namespace: &str, name: &str) -> bool {
        match self.only {
            None => true,
            Some((ns, n)) => n == name && ns.is_none_or(|ns| ns == namespace),
        }
    }

    /// `plural.group`, the name of the CRD that serves this kind.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

const fn core(
    kind: Kind,
    group: &'static str,
    version: &'static [&'static str],
    plural: &'static str,
    namespaced: bool,
) -> ApiKind {
    ApiKind {
        kind,
        group,
        versions: version,
        plural,
        namespaced,
        optional: false,
        only: None,
        referenced: false,
        scraper_status: false,
        fields: None,
        labels: None,
    }
}

const fn crd(
    kind: Kind,
    group: &'static str,
    versions: &'static [&'static str],
    plural: &'static str,
    namespaced: bool,
) -> ApiKind {
    ApiKind {
        kind,
        group,
        versions,
        plural,
        namespaced,
        optional: true,
        only: None,
        referenced: false,
        scraper_status: false,
        fields: None,
        labels: None,
    }
}

/// Every kind the engine reads from a cluster. ScrapeIntent is first: the controller watches it itself.
pub const API_KINDS: &[ApiKind] = &[
    crd(
        Kind::ScrapeIntent,
        "scrapepath.io",
        &["v1alpha1"],
        "scrapeintents",
        true,
    ),
    core(Kind::Namespace, "", &["v1"], "namespaces", false),
    core(Kind::Pod, "", &["v1"], "pods", true),
    core(Kind::Service, "", &["v1"], "services", true),
    // Nodes: whose address an endpoint is (host or remote-node for the scraper's egress, E8), and the
    // node labels of remote-node identities. A few small objects (name, labels, taints, addresses).
    core(Kind::Node, "", &["v1"], "nodes", false),
    core(
        Kind::EndpointSlice,
        "discovery.k8s.io",
        &["v1"],
        "endpointslices",
        true,
    ),
    // Ingresses: the targets of Kubernetes SD role `ingress` (a Probe's `spec.targets.ingress`).
    core(
        Kind::Ingress,
        "networking.k8s.io",
        &["v1"],
        "ingresses",
        true,
    ),
    core(
        Kind::NetworkPolicy,
        "networking.k8s.io",
        &["v1"],
        "networkpolicies",
        true,
    ),
    ApiKind {
        only: Some((Some("kube-system"), "cilium-config")),
        ..core(Kind::ConfigMap, "", &["v1"], "configmaps", true)
    },
    ApiKind {
        only: Some((None, "istio")),
        ..core(Kind::ConfigMap, "", &["v1"], "configmaps", true)
    },
    ApiKind {
        referenced: true,
        ..core(Kind::ConfigMap, "", &["v1"], "configmaps", true)
    },
    ApiKind {
        referenced: true,
        ..core(Kind::Secret, "", &["v1"], "secrets", true)
    },
    ApiKind {
        only: Some((Some("kube-system"), "cilium")),
        ..core(Kind::DaemonSet, "apps", &["v1"], "daemonsets", true)
    },
    crd(
        Kind::Prometheus,
        "monitoring.coreos.com",
        &["v1"],
        "prometheuses",
        true,
    ),
    crd(
        Kind::PrometheusAgent,
        "monitoring.coreos.com",
        &["v1alpha1"],
        "prometheusagents",
        true,
    ),
    crd(
        Kind::PodMonitor,
        "monitoring.coreos.com",
        &["v1"],
        "podmonitors",
        true,
    ),
    crd(
        Kind::ServiceMonitor,
        "monitoring.coreos.com",
        &["v1"],
        "servicemonitors",
        true,
    ),
    crd(
        Kind::ScrapeConfig,
        "monitoring.coreos.com",
        &["v1alpha1"],
        "scrapeconfigs",
        true,
    ),
    crd(
        Kind::Probe,
        "monitoring.coreos.com",
        &["v1"],
        "probes",
        true,
    ),
    crd(
        Kind::CiliumNetworkPolicy,
        "cilium.io",
        &["v2"],
        "ciliumnetworkpolicies",
        true,
    ),
    crd(
        Kind::CiliumClusterwideNetworkPolicy,
        "cilium.io",
        &["v2"],
        "ciliumclusterwidenetworkpolicies",
        false,
    ),
    crd(
        Kind::AuthorizationPolicy,
        "security.istio.io",
        &["v1", "v1beta1"],
        "authorizationpolicies",
        true,
    ),
    crd(
        Kind::PeerAuthentication,
        "security.istio.io",
        &["v1", "v1beta1"],
        "peerauthentications",
        true,
    ),
    // RBAC: read only when the operator is set to (`--read-rbac`, Helm value rbacDiscovery.enabled).
    core(
        Kind::Role,
        "rbac.authorization.k8s.io",
        &["v1"],
        "roles",
        true,
    ),
    core(
        Kind::ClusterRole,
        "rbac.authorization.k8s.io",
        &["v1"],
        "clusterroles",
        false,
    ),
    core(
        Kind::RoleBinding,
        "rbac.authorization.k8s.io",
        &["v1"],
        "rolebindings",
        true,
    ),
    core(
        Kind::ClusterRoleBinding,
        "rbac.authorization.k8s.io",
        &["v1"],
        "clusterrolebindings",
        false,
    ),
    // Why a scraper is not Ready: the operator's StatefulSets (its label on every one it creates) and
    // the Warning Events about them and their pods, in the scrapers' namespaces only.
    ApiKind {
        scraper_status: true,
        labels: Some("app.kubernetes.io/managed-by=prometheus-operator"),
        ..core(Kind::StatefulSet, "apps", &["v1"], "statefulsets", true)
    },
    ApiKind {
        scraper_status: true,
        fields: Some("type=Warning"),
        ..core(Kind::Event, "", &["v1"], "events", true)
    },
];

/// The RBAC kinds the `DiscoveryPermitted` layer reads ([`crate::authz`]): watched only when the
/// operator is set to read them, since reading every Role and binding of a cluster is a grant of its own.
pub const RBAC_KINDS: [Kind; 4] = [
    Kind::Role,
    Kind::ClusterRole,
    Kind::RoleBinding,
    Kind::ClusterRoleBinding,
];

/// Whether the operator reads this entry, given whether it reads RBAC.
pub fn is_read(entry: &ApiKind, read_rbac: bool) -> bool {
    read_rbac || !RBAC_KINDS.contains(&entry.kind)
}

/// The kinds Enforce writes (`controller::enforce`): the objects it server-side applies for an intent and
/// deletes when no longer needed (network policies of either backend, monitors, Istio ALLOW policies), and
/// the label-add on a user's monitor. Enforce refuses a plan object of any other kind, so this table bounds
/// what the operator can write, and the RBAC of [`crate::rbac`] grants writes on exactly these.
pub const MANAGED_KINDS: &[Kind] = &[
    Kind::CiliumNetworkPolicy,
    Kind::NetworkPolicy,
    Kind::PodMonitor,
    Kind::ServiceMonitor,
    Kind::AuthorizationPolicy,
];

/// The (first) table entry of a kind.
pub fn api_kind(kind: Kind) -> Option<&'static ApiKind> {
    API_KINDS.iter().find(|k| k.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_the_index_holds_is_read_from_the_cluster() {
        use Kind::*;
        for k in [
            Namespace,
            Pod,
            Service,
            EndpointSlice,
            Prometheus,
            PrometheusAgent,
            PodMonitor,
            ServiceMonitor,
            ScrapeConfig,
            Probe,
            Ingress,
            CiliumNetworkPolicy,
            CiliumClusterwideNetworkPolicy,
            NetworkPolicy,
            ScrapeIntent,
            ConfigMap,
            Secret,
            DaemonSet,
            AuthorizationPolicy,
            PeerAuthentication,
            Role,
            ClusterRole,
            RoleBinding,
            ClusterRoleBinding,
        ] {
            assert!(api_kind(k).is_some(), "{k} has no API table entry");
        }
    }

    #[test]
    fn entries_of_one_kind_cover_disjoint_objects() {
        let cms: Vec<&ApiKind> = API_KINDS
            .iter()
            .filter(|k| k.kind == Kind::ConfigMap && !k.referenced)
            .collect();
        assert_eq!(cms.len(), 2);
        assert!(cms[0].covers("kube-system", "cilium-config"));
        assert!(!cms[1].covers("kube-system", "cilium-config"));
        assert!(cms[1].covers("istio-system", "istio"));
        assert!(!cms[0].covers("istio-system", "istio"));
        assert!(!cms[0].covers("default", "cilium-config"));
    }

    #[test]
    fn configuration_objects_are_only_ever_read_by_reference() {
        let referenced: Vec<Kind> = API_KINDS
            .iter()
            .filter(|k| k.referenced)
            .map(|k| k.kind)
            .collect();
        assert_eq!(referenced, [Kind::ConfigMap, Kind::Secret]);
        // Secrets are read by reference and nothing else.
        assert!(API_KINDS
            .iter()
            .filter(|k| k.kind == Kind::Secret)
            .all(|k| k.referenced));
    }

    #[test]
    fn crd_names_are_plural_dot_group() {
        assert_eq!(
            api_kind(Kind::CiliumNetworkPolicy).unwrap().crd_name(),
            "ciliumnetworkpolicies.cilium.io"
        );
        assert_eq!(
            api_kind(Kind::Pod).unwrap().api_version("v1"),
            "v1".to_string()
        );
    }
}
