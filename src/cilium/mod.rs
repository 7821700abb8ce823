//! Cilium semantics: identities (R1–R3), policies (R5–R15) and the decision procedure (D1–D5) of
//! `semantics/cilium-ingress.md` for the target's ingress, and E1–E6 of `semantics/cilium-egress.md` for
//! the scraper's egress, for "may scraper pod S open TCP/N on pod D?".

pub mod eval;
pub mod policy;
pub mod sanitize;

use std::collections::BTreeMap;
use std::fmt;

pub use eval::{Decision, NetVerdict};

use crate::model::{Labels, Pod};

/// A Cilium minor version; behaviours that changed between releases hang on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    /// The newest behaviour the engine implements (the default when nothing says otherwise).
    pub const NEWEST: Version = Version {
        major: 1,
        minor: 20,
    };

    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }

    /// "1.18", "v1.18.4", "1.18.4-rc.1" → 1.18.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v');
        let mut it = s.split(['.', '-', '+']);
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(Version { major, minor })
    }

    /// The version of a Cilium agent image: `quay.io/cilium/cilium:v1.18.4@sha256:...`.
    pub fn from_image(image: &str) -> Option<Version> {
        Version::parse(crate::model::image_tag(image)?)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// `enable-policy` (D1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnforcementMode {
    Default,
    Always,
    Never,
}

/// The agent settings that change verdicts, and where the version came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub version: Version,
    /// "flag", "cilium DaemonSet image", "default (newest)".
    pub version_source: String,
    pub mode: EnforcementMode,
    pub audit: bool,
    pub non_default_deny_policies: bool,
    pub allow_localhost_always: bool,
    pub cidr_match_nodes: bool,
    pub node_selector_labels: bool,
    pub cluster_name: String,
    /// `policy-default-local-cluster` as the ConfigMap sets it (1.18+); `None`: the release's default
    /// (off on 1.18, on from 1.19). See [`Settings::policy_cluster`].
    pub policy_default_local_cluster: Option<bool>,
    /// What the agents' ipcache labels `reserved:kube-apiserver` (E8.1): the addresses of the API
    /// server (the EndpointSlices of `default/kubernetes`), and the Nodes that have one of them, whose
    /// host identity carries the label for all their addresses (E8.2.1). Filled from the cluster by
    /// `ClusterIndex::cilium_settings`.
    pub kube_apiserver: KubeApiServer,
    /// Each Node's InternalIP/ExternalIP addresses: the host identity of a node carries the labels of
    /// all of them (E8.2.1, E8.4), for a hostNetwork pod on it as for an address of it. Filled from
    /// the cluster by `ClusterIndex::cilium_settings`.
    pub node_ips: std::collections::BTreeMap<String, Vec<std::net::IpAddr>>,
    /// `enable-ipv4` (default true) and `enable-ipv6` (default false): the agent's address families.
    /// Which `world` label an external address carries and which a zero-length CIDR selects depend on
    /// them (E8.4).
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    /// The non-zero prefixes of the policies the agent accepts (CIDRs and excepts): the ipcache gives
    /// an external address the `cidr:` label of the longest one containing it, which a zero-length CIDR
    /// selector matches up to 1.18 (E8.4). Filled from the cluster by `ClusterIndex::cilium_settings`.
    pub policy_prefixes: Vec<crate::cilium::policy::Cidr>,
}

/// The API server's addresses and the Nodes they belong to ([`Settings::kube_apiserver`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeApiServer {
    pub ips: Vec<std::net::IpAddr>,
    pub nodes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: Version::NEWEST,
            version_source: "default (newest behaviour)".to_string(),
            mode: EnforcementMode::Default,
            audit: false,
            non_default_deny_policies: true,
            allow_localhost_always: true,
            cidr_match_nodes: false,
            node_selector_labels: false,
            cluster_name: "default".to_string(),
            policy_default_local_cluster: None,
            kube_apiserver: KubeApiServer::default(),
            node_ips: Default::default(),
            enable_ipv4: true,
            enable_ipv6: false,
            policy_prefixes: Vec::new(),
        }
    }
}

impl Settings {
    /// Settings from the `cilium-config` ConfigMap data; unknown or missing keys keep Cilium's defaults.
    pub fn from_config(data: &BTreeMap<String, String>) -> Settings {
        let mut s = Settings::default();
        let flag = |k: &str| data.get(k).map(|v| v.trim().to_ascii_lowercase());
        if let Some(v) = flag("enable-policy") {
            s.mode = match v.as_str() {
                "always" => EnforcementMode::Always,
                "never" => EnforcementMode::Never,
                _ => EnforcementMode::Default,
            };
        }
        if let Some(v) = flag("policy-audit-mode") {
            s.audit = v == "true";
        }
        if let Some(v) = flag("enable-non-default-deny-policies") {
            s.non_default_deny_policies = v != "false";
        }
        if let Some(v) = flag("allow-localhost") {
            // `auto` becomes `always` in Kubernetes mode (S12).
            s.allow_localhost_always = v != "policy";
        }
        if let Some(v) = flag("policy-cidr-match-mode") {
            s.cidr_match_nodes = v.split([',', ' ']).any(|m| m == "nodes");
        }
        if let Some(v) = flag("enable-node-selector-labels") {
            s.node_selector_labels = v == "true";
        }
        if let Some(v) = data.get("cluster-name") {
            s.cluster_name = v.clone();
        }
        if let Some(v) = flag("policy-default-local-cluster") {
            s.policy_default_local_cluster = Some(v == "true");
        }
        if let Some(v) = flag("enable-ipv4") {
            s.enable_ipv4 = v == "true";
        }
        if let Some(v) = flag("enable-ipv6") {
            s.enable_ipv6 = v == "true";
        }
        s
    }

    /// Both address families: the agent labels external addresses `world-ipv4`/`world-ipv6`.
    pub fn dual_stack(&self) -> bool {
        self.enable_ipv4 && self.enable_ipv6
    }

    /// The cluster a CNP/CCNP endpoint selector is scoped to when it names none (R6.3): with
    /// `policy-default-local-cluster` (from 1.18; the default from 1.19) the agent's parser adds
    /// `k8s:io.cilium.k8s.policy.cluster=<cluster-name>` to every `fromEndpoints`/`fromRequires`
    /// selector without a `reserved:` key (`addClusterFilterByDefault`), so identities without the
    /// cluster label (the host, a remote node, world) never match it. `None`: any cluster.
    pub fn policy_cluster(&self) -> Option<&str> {
        let on = match self.policy_default_local_cluster {
            _ if self.version < Version::new(1, 18) => false,
            Some(v) => v,
            None => self.version >= Version::new(1, 19),
        };
        on.then_some(self.cluster_name.as_str())
    }
}

/// The network decision for one flow, TCP from `src` to `dest` on `port`, from the policies given (every
/// policy of the cluster will do: the subject of each rule is checked exactly): the target's ingress and
/// the scraper's egress (E6). What the engine computes per target, without its caches; the differential
/// test against Cilium's own engine calls it per flow. `dest_node_labels` are those of the target's
/// Node (a hostNetwork target is a node for the scraper's egress); `cluster` are the cluster's pods (egress
/// named ports resolve against them up to 1.19, E4.4).
pub fn decide_flow<'a>(
    settings: &Settings,
    policies: impl IntoIterator<Item = &'a policy::Policy>,
    cluster: impl IntoIterator<Item = &'a Pod>,
    (src, src_ns_labels, src_node_labels): (&Pod, &Labels, Option<&Labels>),
    (dest, dest_ns_labels, dest_node_labels): (&Pod, &Labels, Option<&Labels>),
    port: u16,
    path: &str,
) -> Decision {
    if let Some(d) = eval::same_pod(src, dest) {
        return d;
    }
    let v = settings.version;
    let policies: Vec<&policy::Policy> = policies.into_iter().collect();
    let req = eval::ScrapeRequest::to(dest, port, path);
    // `ports_of`: the pod named ports resolve against (the target; for egress up to 1.19 the cluster).
    let side = |dir: policy::Direction,
                subject: &eval::Identity,
                peer: &eval::Identity,
                ports_of: &Pod| {
        let dp =
            eval::DestPolicies::compute_in(dir, settings, subject, policies.iter().copied(), false);
        let others =
            eval::DestPolicies::other_readings_in(dir, settings, subject, &policies, false);
        eval::decide_readings(settings, &dp, &others, ports_of, peer, port, &req)
    };
    let dest_id = eval::Identity::of_pod(dest, dest_ns_labels, &settings.cluster_name, v);
    let src_id = eval::Identity::of_source(src, src_ns_labels, src_node_labels, dest, settings);
    let ingress = side(policy::Direction::Ingress, &dest_id, &src_id, dest);
    let egress = (!src.host_network).then(|| {
        let peer = eval::Identity::of_source(dest, dest_ns_labels, dest_node_labels, src, settings);
        let view = eval::egress_port_view(cluster, dest, v);
        side(policy::Direction::Egress, &src_id, &peer, &view)
    });
    eval::combine(ingress, egress, src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_flags_and_image_tags() {
        assert_eq!(Version::parse("1.16"), Some(Version::new(1, 16)));
        assert_eq!(Version::parse("v1.18.4"), Some(Version::new(1, 18)));
        assert_eq!(Version::parse("1.19.0-rc.2"), Some(Version::new(1, 19)));
        assert_eq!(Version::parse("latest"), None);
        assert_eq!(
            Version::from_image("quay.io/cilium/cilium:v1.18.4@sha256:abcd"),
            Some(Version::new(1, 18))
        );
        assert_eq!(Version::from_image("registry:5000/cilium/cilium"), None);
        assert!(Version::new(1, 9) < Version::new(1, 16));
    }

    #[test]
    fn the_local_cluster_filter_follows_the_release_default_and_the_config_map() {
        let at = |minor: u16, flag: Option<&str>| {
            let data: BTreeMap<String, String> = flag
                .map(|v| ("policy-default-local-cluster".to_string(), v.to_string()))
                .into_iter()
                .chain([("cluster-name".to_string(), "c1".to_string())])
                .collect();
            let mut s = Settings::from_config(&data);
            s.version = Version::new(1, minor);
            s.policy_cluster().map(str::to_string)
        };
        assert_eq!(at(17, Some("true")), None, "1.17 has no such option");
        assert_eq!(at(18, None), None, "off by default on 1.18");
        assert_eq!(at(18, Some("true")), Some("c1".to_string()));
        assert_eq!(
            at(19, None),
            Some("c1".to_string()),
            "on by default from 1.19"
        );
        assert_eq!(at(20, Some("false")), None);
    }

    #[test]
    fn config_map_keys_override_defaults() {
        let data: BTreeMap<String, String> = [
            ("enable-policy", "always"),
            ("policy-audit-mode", "true"),
            ("enable-non-default-deny-policies", "false"),
            ("policy-cidr-match-mode", "nodes"),
            ("cluster-name", "prod"),
            ("enable-ipv4", "false"),
            ("enable-ipv6", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = Settings::from_config(&data);
        assert_eq!(s.mode, EnforcementMode::Always);
        assert!(s.audit);
        assert!(!s.non_default_deny_policies);
        assert!(s.cidr_match_nodes);
        assert!(s.allow_localhost_always);
        assert_eq!(s.cluster_name, "prod");
        assert!(!s.enable_ipv4 && s.enable_ipv6 && !s.dual_stack());
        let d = Settings::default();
        assert!(
            d.enable_ipv4 && !d.enable_ipv6,
            "Cilium's defaults: IPv4 only"
        );
        assert_eq!(Settings::from_config(&BTreeMap::new()), d);
    }
}
