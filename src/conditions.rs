//! Condition types and reasons of the ScrapeIntent status (DESIGN.md §3), in one place.

pub const TARGETS_RESOLVED: &str = "TargetsResolved";
pub const SCRAPER_READY: &str = "ScraperReady";
pub const MONITOR_SELECTED: &str = "MonitorSelected";
/// The scraper's ServiceAccount may list and watch what its Kubernetes service discovery reads, where
/// it reads it (RBAC, semantics/kubernetes-rbac.md). Unknown (not blocking `Ready`) when no RBAC object
/// is known.
pub const DISCOVERY_PERMITTED: &str = "DiscoveryPermitted";
pub const NETWORK_REACHABLE: &str = "NetworkReachable";
pub const MESH_AUTHORIZED: &str = "MeshAuthorized";
pub const SCRAPED: &str = "Scraped";
pub const READY: &str = "Ready";

/// The layers in the order a scrape crosses them; `Ready` takes the first failing one's reason.
pub const LAYERS: [&str; 7] = [
    TARGETS_RESOLVED,
    SCRAPER_READY,
    MONITOR_SELECTED,
    DISCOVERY_PERMITTED,
    NETWORK_REACHABLE,
    MESH_AUTHORIZED,
    SCRAPED,
];

pub mod reason {
    // TargetsResolved
    pub const RESOLVED: &str = "Resolved";
    pub const NO_MATCHING_PODS: &str = "NoMatchingPods";
    /// A ServiceMonitor whose selector matches no Service in its namespaces.
    pub const NO_MATCHING_SERVICES: &str = "NoMatchingServices";
    pub const PORT_NOT_FOUND: &str = "PortNotFound";
    // ScraperReady
    pub const SCRAPER_READY: &str = "ScraperReady";
    pub const SCRAPER_DECLARED: &str = "ReadinessNotObserved";
    pub const SCRAPER_NOT_FOUND: &str = "ScraperNotFound";
    pub const SCRAPER_AMBIGUOUS: &str = "ScraperAmbiguous";
    pub const SCRAPER_NOT_READY: &str = "ScraperNotReady";
    // MonitorSelected
    pub const SELECTED: &str = "Selected";
    pub const MONITOR_MISSING: &str = "MonitorMissing";
    pub const LABELS_MISMATCH: &str = "LabelsMismatch";
    pub const NAMESPACE_NOT_SELECTED: &str = "NamespaceNotSelected";
    pub const MONITOR_REJECTED: &str = "MonitorRejected";
    pub const SCRAPER_UNMANAGED: &str = "ScraperUnmanaged";
    pub const TARGETS_NOT_COVERED: &str = "TargetsNotCovered";
    pub const NOT_EVALUATED: &str = "NotEvaluated";
    /// monitor.kind Annotations: the pod (or its Service) lacks the annotation the job keeps on.
    pub const ANNOTATION_MISSING: &str = "AnnotationMissing";
    /// monitor.kind Annotations: the annotation is there with a value the job does not accept.
    pub const ANNOTATION_MISMATCH: &str = "AnnotationMismatch";
    /// No scrape_configs job discovers the pods.
    pub const JOB_MISSING: &str = "JobMissing";
    /// The scraper's configuration (ConfigMap, Secret) is missing or does not parse.
    pub const CONFIG_UNREADABLE: &str = "ConfigUnreadable";
    // DiscoveryPermitted
    pub const PERMITTED: &str = "Permitted";
    /// The scraper's ServiceAccount lacks a list/watch its discovery needs.
    pub const DISCOVERY_FORBIDDEN: &str = "DiscoveryForbidden";
    /// Status Unknown: no Role, ClusterRole or binding is known (not in the input, or not read).
    pub const RBAC_NOT_OBSERVED: &str = "RbacNotObserved";
    // NetworkReachable
    pub const ALLOWED: &str = "Allowed";
    pub const BLOCKED_BY_POLICY: &str = "BlockedByPolicy";
    pub const DENIED_BY_RULE: &str = "DeniedByRule";
    /// A policy whose selectors the Cilium agent reads at random decides the scrape one way or the other.
    pub const AMBIGUOUS_POLICY: &str = "AmbiguousPolicy";
    pub const L7_DENIED: &str = "L7Denied";
    /// The scraper pod's own egress policy drops (or refuses at L7) the scrape (`semantics/cilium-egress.md`).
    pub const EGRESS_DENIED: &str = "EgressDenied";
    pub const INVALID_POLICY: &str = "InvalidPolicy";
    pub const NO_TARGETS: &str = "NoTargets";
    pub const NO_SCRAPER: &str = "NoScraper";
    // MeshAuthorized
    pub const NOT_APPLICABLE: &str = "NotApplicable";
    pub const SOURCE_IDENTITY_REQUIRED: &str = "SourceIdentityRequired";
    pub const DENIED_BY_POLICY: &str = "DeniedByPolicy";
    pub const STRICT_MTLS: &str = "StrictMTLS";
    pub const NO_ALLOW_MATCH: &str = "NoAllowMatch";
    pub const METRICS_LOCALHOST_ONLY: &str = "MetricsLocalhostOnly";
    pub const TLS_NOT_TERMINATED: &str = "TLSNotTerminated";
    pub const EXTERNAL_AUTHORIZER: &str = "ExternalAuthorizer";
    // Scraped (observed: what the scraper's own API reports)
    pub const UP: &str = "Up";
    pub const DOWN: &str = "Down";
    pub const NOT_DISCOVERED: &str = "NotDiscovered";
    pub const NOT_YET_SCRAPED: &str = "NotYetScraped";
    /// Status Unknown: the Prometheus API could not be read.
    pub const PROMETHEUS_UNREACHABLE: &str = "PrometheusUnreachable";
    /// Status Unknown: no Prometheus API is configured or known for the scraper.
    pub const NOT_OBSERVED: &str = "NotObserved";
    // Ready
    pub const READY: &str = "Ready";
}
