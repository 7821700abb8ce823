//! Targets at addresses no pod backs (issue 14 item 3): the endpoints of nodes (the kubelet Service
//! prometheus-operator keeps), of the API server (default/kubernetes) and of external exporters. They
//! are discovered by `promop::discover`; here each gets its network verdict, which is the scraper's
//! egress alone: the destination is not a Cilium endpoint, so no ingress policy of Cilium's applies
//! to it (semantics/cilium-egress.md E8), and the host firewall that would is not evaluated.

use std::net::IpAddr;

use super::{condition, scraper_names, ConditionOut, Engine, LayerOut, Scraper, TargetOut};
use crate::cilium::eval::{Basis, Decision, Identity, NetVerdict, ScrapeRequest};
use crate::cilium::policy::Direction;
use crate::conditions::{self as cond, reason};
use crate::index::ClusterIndex;
use crate::model::{ObjRef, Pod};
use crate::promop::AddressTarget;

/// One address target from one scraper, with its decision as the cluster is.
pub(super) struct AddressEvaluated {
    pub target: AddressTarget,
    pub scraper: usize,
    /// What the address is, in words (`node w-1`, `the API server`, `external address`).
    pub peer: String,
    pub now: Decision,
}

/// What is known of an address (E8.1): the Node whose InternalIP/ExternalIP it is, and whether it is
/// an address of the API server (an endpoint of the Service default/kubernetes).
pub struct AddressPeer<'i> {
    pub ip: Option<IpAddr>,
    pub node: Option<&'i crate::workload::Node>,
    pub api_server: bool,
}

impl<'i> AddressPeer<'i> {
    pub fn of(idx: &'i ClusterIndex, ip: &str) -> AddressPeer<'i> {
        let parsed: Option<IpAddr> = ip.parse().ok();
        let same = |a: &str| parsed.is_some() && a.parse::<IpAddr>().ok() == parsed;
        AddressPeer {
            ip: parsed,
            node: idx.nodes().find(|n| n.ips.iter().any(|a| same(a))),
            api_server: parsed.is_some_and(|ip| idx.kube_apiserver_ips().contains(&ip)),
        }
    }

    /// The address in words, for messages and the report's `pod` column.
    pub fn describe(&self, t: &AddressTarget) -> String {
        let what = match (self.node, self.api_server) {
            (Some(n), true) => format!("the API server on node {}", n.name),
            (Some(n), false) => format!("node {}", n.name),
            (None, true) => "the API server".to_string(),
            (None, false) => match &t.target {
                Some((kind, name)) => {
                    format!("{kind} {name} (no Node of the input has its address)")
                }
                None => "external address".to_string(),
            },
        };
        format!("{what} {}", t.ip)
    }

    /// E8: the identity a scraper pod on `src_node` sees for the address.
    pub fn identity(
        &self,
        src_node: Option<&str>,
        s: &crate::cilium::Settings,
    ) -> Option<Identity> {
        let node_ips: Vec<IpAddr> = self
            .node
            .map(|n| n.ips.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default();
        Some(Identity::of_address(
            self.ip?,
            self.node
                .map(|n| (n.name.as_str(), &n.labels, node_ips.as_slice())),
            src_node,
            s,
        ))
    }
}

/// The pod that stands for an address in port lookups: it declares no port, so a named egress port
/// resolves to nothing from 1.20 (a reserved or CIDR identity has no named ports), and against the
/// cluster's named ports before (E4.4).
fn portless(ip: &str) -> Pod {
    Pod {
        namespace: String::new(),
        name: ip.to_string(),
        labels: Default::default(),
        annotations: Default::default(),
        service_account: String::new(),
        host_network: false,
        node_name: None,
        pod_ip: Some(ip.to_string()),
        host_ip: None,
        phase: "Running".to_string(),
        ready: Some(true),
        containers: std::sync::Arc::from([]),
        controller: None,
        uid: None,
        prometheus_config: None,
        modelled: None,
        problems: Vec::new(),
    }
}

/// E8.6: the destination side, which Cilium does not decide for an address that is no endpoint.
fn not_an_endpoint(rule: &'static str, reason: &str) -> Decision {
    Decision {
        verdict: NetVerdict::Allowed,
        basis: Basis::NotEnforced,
        rule,
        reason: reason.to_string(),
        decided_by: vec![],
        side: Direction::Ingress,
    }
}

impl<'a> Engine<'a> {
    /// The decision of each address target from each scraper pod of the shard that scrapes it: the
    /// first pod whose egress does not allow it decides (every replica scrapes).
    pub(super) fn evaluate_addresses(
        &mut self,
        targets: &[(usize, AddressTarget)],
        scrapers: &[Scraper<'a>],
    ) -> Vec<AddressEvaluated> {
        let idx = self.idx;
        let mut out = Vec::new();
        for (si, t) in targets {
            let Some(scraper) = scrapers.get(*si) else {
                continue;
            };
            let peer = AddressPeer::of(idx, &t.ip);
            let words = peer.describe(t);
            let dest = portless(&t.ip);
            let req = ScrapeRequest {
                path: &t.path,
                host: format!("{}:{}", t.ip, t.port),
            };
            let mut decision: Option<Decision> = None;
            for src in scraper.pods_for(&t.shard) {
                let d = if peer.ip.is_none() {
                    Decision {
                        verdict: NetVerdict::Denied,
                        basis: Basis::DefaultDeny,
                        rule: "E8.1",
                        reason: match &t.service {
                            Some((ns, name)) => format!(
                                "the endpoint address {:?} of Service {ns}/{name} is not an IP address: Prometheus cannot connect to it",
                                t.ip
                            ),
                            None => format!(
                                "the target address {:?} is not an IP address: Prometheus cannot connect to it",
                                t.ip
                            ),
                        },
                        decided_by: vec![],
                        side: Direction::Egress,
                    }
                } else if src.host_network {
                    not_an_endpoint(
                        "E8.5",
                        "the scraper pod is hostNetwork: its egress is the host firewall's, which is not evaluated",
                    )
                } else {
                    let id = peer
                        .identity(src.node_name.as_deref(), &self.settings)
                        .expect("an IP address");
                    let egress = self.egress_toward(src, &id, &dest, t.port, &req, false);
                    if egress.verdict == NetVerdict::Allowed {
                        Decision {
                            reason: format!(
                                "the destination is not a Cilium endpoint, and egress of {}/{} allows it: {}",
                                src.namespace, src.name, egress.reason
                            ),
                            ..egress
                        }
                    } else {
                        crate::cilium::eval::combine(
                            not_an_endpoint("E8.6", "not a Cilium endpoint"),
                            Some(egress),
                            src,
                        )
                    }
                };
                let stop = d.verdict != NetVerdict::Allowed;
                if stop || decision.is_none() {
                    decision = Some(d);
                }
                if stop {
                    break;
                }
            }
            let now =
                decision.unwrap_or_else(|| not_an_endpoint("E8.6", "no scraper pod to evaluate"));
            out.push(AddressEvaluated {
                target: t.clone(),
                scraper: *si,
                peer: words,
                now,
            });
        }
        out
    }

    /// `NetworkReachable` with the address targets folded into the pods' condition (`pods_cond`,
    /// which says "no targets" when only addresses were found).
    pub(super) fn address_network_condition(
        &self,
        pods_cond: ConditionOut,
        pods_total: usize,
        evaluated: &[AddressEvaluated],
        scrapers: &[Scraper<'a>],
        blocked_by: &mut Vec<(ObjRef, String)>,
    ) -> ConditionOut {
        if evaluated.is_empty() || scrapers.is_empty() {
            return pods_cond;
        }
        let blocked: Vec<&AddressEvaluated> = evaluated
            .iter()
            .filter(|e| e.now.verdict != NetVerdict::Allowed)
            .collect();
        let n = evaluated.len();
        let mut r = reason::ALLOWED;
        let mut seen = blocked_by.iter().map(|(o, _)| o.clone()).collect();
        for e in &blocked {
            let this = super::blocked_reason(&e.now, blocked_by, &mut seen);
            if r == reason::ALLOWED {
                r = this;
            }
        }
        let text = if blocked.is_empty() {
            format!("{n}/{n} targets at addresses no pod backs are reachable: the destination is not a Cilium endpoint and the scraper's egress allows them (E8)")
        } else {
            let mut groups: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
            for e in &blocked {
                groups
                    .entry(e.now.reason.as_str())
                    .or_default()
                    .push(format!("{}:{}", e.peer, e.target.port));
            }
            let parts: Vec<String> = groups
                .iter()
                .map(|(r, ts)| format!("{}: {r}", ts.join(", ")))
                .collect();
            format!(
                "{}/{n} targets at addresses no pod backs are unreachable from {}. {}. {}",
                blocked.len(),
                scraper_names(scrapers),
                parts.join(". "),
                self.address_egress_remedy(&blocked)
            )
        };
        let only_addresses = pods_total == 0;
        match (only_addresses, blocked.is_empty()) {
            (true, ok) => condition(cond::NETWORK_REACHABLE, ok, r, text),
            (false, true) => ConditionOut {
                message: format!("{}; {text}", pods_cond.message),
                ..pods_cond
            },
            (false, false) if pods_cond.status == "True" => condition(
                cond::NETWORK_REACHABLE,
                false,
                r,
                format!("{text}. The pod targets: {}", pods_cond.message),
            ),
            (false, false) => ConditionOut {
                message: format!("{}. Besides, {text}", pods_cond.message),
                ..pods_cond
            },
        }
    }

    /// `MeshAuthorized` with the address targets: no sidecar receives them, so Istio's authorization
    /// (a destination-side decision) never applies to them.
    pub(super) fn address_mesh_condition(
        &self,
        pods_cond: ConditionOut,
        pods_total: usize,
        evaluated: &[AddressEvaluated],
        scrapers: &[Scraper<'a>],
    ) -> ConditionOut {
        if evaluated.is_empty() || scrapers.is_empty() {
            return pods_cond;
        }
        let n = evaluated.len();
        let text = format!("{n}/{n} targets at addresses no pod backs have no sidecar: Istio authorization does not apply to them");
        if pods_total == 0 {
            condition(cond::MESH_AUTHORIZED, true, reason::NOT_APPLICABLE, text)
        } else {
            ConditionOut {
                message: format!("{}; {text}", pods_cond.message),
                ..pods_cond
            }
        }
    }

    /// E8.7: the egress element that opens the blocked addresses (reported only): the entity of each
    /// peer, or its address as a /32 (/128) CIDR for an external one, on the blocked ports.
    fn address_egress_remedy(&self, blocked: &[&AddressEvaluated]) -> String {
        let mut entities: std::collections::BTreeSet<&str> = Default::default();
        let mut cidrs: std::collections::BTreeSet<String> = Default::default();
        let mut ports: std::collections::BTreeSet<u16> = Default::default();
        for e in blocked {
            if e.now.basis == Basis::DeniedByRule || e.now.side != Direction::Egress {
                continue; // an egressDeny wins over any allow (E5.4)
            }
            let peer = AddressPeer::of(self.idx, &e.target.ip);
            let Some(ip) = peer.ip else { continue };
            ports.insert(e.target.port);
            match (peer.api_server, peer.node) {
                (true, _) => {
                    entities.insert("kube-apiserver");
                }
                (false, Some(_)) => {
                    entities.insert("host");
                    entities.insert("remote-node");
                }
                (false, None) => {
                    cidrs.insert(format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }));
                }
            }
        }
        if ports.is_empty() {
            return String::new();
        }
        let ports = ports
            .iter()
            .map(|p| format!("{{port: \"{p}\", protocol: TCP}}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut elements = Vec::new();
        if !entities.is_empty() {
            elements.push(format!(
                "{{toEntities: [{}], toPorts: [{{ports: [{ports}]}}]}}",
                entities.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        if !cidrs.is_empty() {
            elements.push(format!(
                "{{toCIDR: [{}], toPorts: [{{ports: [{ports}]}}]}}",
                cidrs.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        format!(
            "To let the scraper reach them, add to its egress policy (a CiliumNetworkPolicy in its namespace): egress: [{}] (E8.7; a Kubernetes NetworkPolicy ipBlock reaches a node's address only with Cilium's policy-cidr-match-mode=nodes)",
            elements.join(", ")
        )
    }

    /// The report's rows for address targets: `pod` names the address' owner, `address` is `ip:port`.
    pub(super) fn address_targets_out(
        &self,
        evaluated: &[AddressEvaluated],
        scrapers: &[Scraper<'a>],
    ) -> Vec<TargetOut> {
        let shared = &mut *self.shared_out.borrow_mut();
        evaluated
            .iter()
            .map(|e| TargetOut {
                pod: e.peer.clone(),
                workload: None,
                address: Some(format!("{}:{}", e.target.ip, e.target.port)),
                port: e.target.port,
                port_name: e.target.port_name.clone(),
                path: e.target.path.clone(),
                scraper: scrapers[e.scraper].display(),
                network: LayerOut::of_network(&e.now, shared),
                mesh: LayerOut {
                    verdict: "NotApplicable".to_string(),
                    reason: shared.text("an address no pod backs has no sidecar; the mesh policies of the scraper's own sidecar are not evaluated for it".to_string()),
                    decided_by: shared.refs(&[]),
                },
                observed: None,
            })
            .collect()
    }
}

/// What `ScraperReady` checks of each address target: its scraper, (the address, `ip:port`) and the
/// shard that keeps it.
pub(super) fn readiness_targets(
    addresses: &[(usize, AddressTarget)],
) -> impl Iterator<Item = (usize, (&str, String), &crate::promop::ShardKey)> {
    addresses.iter().map(|(si, t)| {
        (
            *si,
            (t.ip.as_str(), format!("{}:{}", t.ip, t.port)),
            &t.shard,
        )
    })
}

/// `TargetsResolved`'s message with the address targets: how many, and of what (nodes, the API
/// server, external addresses), with the addresses that are not ready.
pub(super) fn resolved_text(
    idx: &ClusterIndex,
    pods_text: &str,
    no_pod_target: bool,
    addresses: &[(usize, AddressTarget)],
) -> String {
    if addresses.is_empty() {
        return pods_text.to_string();
    }
    let mut owners: Vec<String> = Vec::new();
    let mut not_ready: Vec<String> = Vec::new();
    for (_, t) in addresses {
        let words = AddressPeer::of(idx, &t.ip).describe(t);
        if !t.ready && !not_ready.contains(&words) {
            not_ready.push(words.clone());
        }
        if !owners.contains(&words) {
            owners.push(words);
        }
    }
    let shown = if owners.len() > 4 {
        format!("{} and {} more", owners[..4].join(", "), owners.len() - 4)
    } else {
        owners.join(", ")
    };
    let head = if no_pod_target {
        format!(
            "{} targets at {} addresses no pod backs: {shown}",
            addresses.len(),
            owners.len()
        )
    } else {
        format!(
            "{pods_text}; and {} targets at {} addresses no pod backs: {shown}",
            addresses.len(),
            owners.len()
        )
    };
    if not_ready.is_empty() {
        head
    } else {
        format!(
            "{head} (not ready, Prometheus scrapes them all the same: {})",
            not_ready.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{evaluate, EngineConfig, SubjectReport};
    use crate::index::ClusterIndex;
    use std::path::Path;

    /// A Prometheus selecting every ServiceMonitor, its pod, and a ServiceMonitor on Service
    /// `app/ext` (port `metrics`), with `endpoints` (YAML: EndpointSlices or Endpoints of `ext`).
    fn monitor_subject(endpoints: &str) -> SubjectReport {
        let yaml = format!(
            r#"
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: k8s, namespace: monitoring}}
spec: {{serviceMonitorSelector: {{}}, serviceMonitorNamespaceSelector: {{}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-k8s-0
  namespace: monitoring
  labels: {{app.kubernetes.io/name: prometheus, operator.prometheus.io/name: k8s, prometheus: k8s}}
  ownerReferences: [{{apiVersion: apps/v1, kind: StatefulSet, name: prometheus-k8s, uid: u1, controller: true}}]
spec: {{containers: [{{name: prometheus, image: p}}]}}
status: {{phase: Running, podIP: 10.0.0.5, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {{name: ext, namespace: app}}
spec:
  selector: {{matchLabels: {{app: ext}}}}
  endpoints: [{{port: metrics}}]
---
apiVersion: v1
kind: Service
metadata: {{name: ext, namespace: app, labels: {{app: ext}}}}
spec: {{ports: [{{name: metrics, port: 9100}}]}}
---
{endpoints}
"#
        );
        let mut idx = ClusterIndex::new();
        let mut stats = crate::load::LoadStats::default();
        for o in crate::load::parse_text(Path::new("t.yaml"), &yaml, &mut stats).unwrap() {
            idx.apply(o);
        }
        evaluate(&idx, &EngineConfig::default())
            .subjects
            .into_iter()
            .find(|s| s.kind == "ServiceMonitor" && s.name == "ext")
            .expect("the ServiceMonitor is a subject")
    }

    fn condition<'r>(s: &'r SubjectReport, t: &str) -> (&'r str, &'r str, &'r str) {
        let c = s.conditions.iter().find(|c| c.type_ == t).unwrap();
        (c.status.as_str(), c.reason.as_str(), c.message.as_str())
    }

    const SLICE_HEAD: &str = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ext-1, namespace: app, labels: {kubernetes.io/service-name: ext}}\naddressType: IPv4\nports: [{name: metrics, port: 9100}]\n";

    #[test]
    fn an_external_address_is_a_target_not_no_matching_pods() {
        let s = monitor_subject(&format!(
            "{SLICE_HEAD}endpoints: [{{addresses: [203.0.113.7]}}]"
        ));
        assert_eq!(
            condition(&s, "TargetsResolved"),
            (
                "True",
                "Resolved",
                "1 targets at 1 addresses no pod backs: external address 203.0.113.7"
            )
        );
        assert_eq!(condition(&s, "NetworkReachable").0, "True");
        assert!(s.ready, "{:?}", s.conditions);
        assert_eq!(s.targets[0].address.as_deref(), Some("203.0.113.7:9100"));
    }

    #[test]
    fn an_endpoint_slice_without_addresses_yields_no_target() {
        let s = monitor_subject(&format!("{SLICE_HEAD}endpoints: [{{addresses: []}}]"));
        let (status, reason, _) = condition(&s, "TargetsResolved");
        assert_eq!((status, reason), ("False", "NoMatchingPods"));
        assert!(s.targets.is_empty());
    }

    #[test]
    fn an_address_that_is_not_an_ip_is_denied_and_named() {
        let s = monitor_subject(&format!(
            "{SLICE_HEAD}endpoints: [{{addresses: [exporter.example.com]}}]"
        ));
        let (status, _, message) = condition(&s, "NetworkReachable");
        assert_eq!(status, "False");
        assert!(
            message.contains(r#"the endpoint address "exporter.example.com" of Service app/ext is not an IP address"#),
            "{message}"
        );
    }

    #[test]
    fn endpoints_with_only_not_ready_addresses_are_targets_and_named() {
        let s = monitor_subject(
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: ext, namespace: app}\nsubsets:\n- notReadyAddresses: [{ip: 203.0.113.8}]\n  ports: [{name: metrics, port: 9100}]",
        );
        let (status, _, message) = condition(&s, "TargetsResolved");
        assert_eq!(status, "True");
        assert!(
            message.contains(
                "(not ready, Prometheus scrapes them all the same: external address 203.0.113.8)"
            ),
            "{message}"
        );
    }

    #[test]
    fn endpoints_the_api_server_writes_itself_are_not_mirrored() {
        // default/kubernetes' Endpoints carry skip-mirror: only its EndpointSlice counts.
        let s = monitor_subject(
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: ext, namespace: app, labels: {endpointslice.kubernetes.io/skip-mirror: \"true\"}}\nsubsets:\n- addresses: [{ip: 203.0.113.8}]\n  ports: [{name: metrics, port: 9100}]",
        );
        assert_eq!(condition(&s, "TargetsResolved").0, "False");
    }
}
