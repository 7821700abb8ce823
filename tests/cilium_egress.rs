//! Truth tables for the scraper's egress (`semantics/cilium-egress.md`): every rule E1–E7, through
//! `engine::egress_verdict` (the scraper pod's egress decision alone) and `engine::network_verdict` (the
//! scrape's verdict: egress and ingress together, E6), on the fixtures of `semantics/cilium-ingress.md` §8
//! (`tests/common/cilium_table.rs`): S1 is Prometheus in `monitoring` (node-b), D is `app/d` (node-a).
//! Then the kube-prometheus case of issue 14 end to end through `scrapepath check`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cilium_table::*;
use scrapepath::cilium::eval::{Basis, NetVerdict};
use serde_json::Value;

/// A CiliumNetworkPolicy in `monitoring` that selects Prometheus ("CNPm" of the semantics' §4); `body`
/// goes under `spec` next to the selector.
fn cnpm(name: &str, body: &str) -> String {
    cnp_spec(
        name,
        "monitoring",
        &format!(
            "endpointSelector: {{matchLabels: {{app.kubernetes.io/name: prometheus}}}}\n{}",
            dedent(body)
        ),
    )
}

/// A NetworkPolicy in `monitoring` whose whole `spec` is given.
fn knpm(name: &str, spec: &str) -> String {
    knp_in(name, "monitoring", spec)
}

/// The NetworkPolicy kube-prometheus ships for its Prometheus (`prometheus-k8s`: ingress from Prometheus
/// and Grafana on 9090/8080), with its `egress: [{}]` narrowed to DNS only, as issue 14 found it.
const KUBE_PROMETHEUS_DNS_ONLY: &str = r#"
podSelector:
  matchLabels: {app.kubernetes.io/name: prometheus}
policyTypes: [Egress, Ingress]
egress:
- to:
  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
    podSelector: {matchLabels: {k8s-app: kube-dns}}
  ports:
  - {port: 53, protocol: UDP}
  - {port: 53, protocol: TCP}
ingress:
- from:
  - podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}
  ports:
  - {port: 9090, protocol: TCP}
  - {port: 8080, protocol: TCP}
- from:
  - podSelector: {matchLabels: {app.kubernetes.io/name: grafana}}
  ports:
  - {port: 9090, protocol: TCP}
"#;

const CNPM: &str = "CNP/monitoring/egress";

/// An external IPv6 address (E8.4: its `world` label depends on the release and the address families).
const WORLD_ADDR_V6: &str = "2001:db8::7";

/// A pod in `app` whose `http` port is 8081 (D's is 8080).
const HTTP_8081: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: api-0, namespace: app, labels: {app: api}}\nspec:\n  nodeName: node-a\n  containers: [{name: api, image: example/api, ports: [{name: http, containerPort: 8081}]}]\nstatus: {phase: Running, podIP: 10.0.1.30, hostIP: 192.168.1.10}";

/// CNPm `egress/egress` allowing the pods of namespace `app` on the port rules `to_ports` (a YAML flow
/// list's items).
fn to_app(to_ports: &str) -> String {
    cnpm(
        "egress",
        &format!(
            r#"egress: [{{toEndpoints: [{{matchLabels: {{"k8s:io.kubernetes.pod.namespace": app}}}}], toPorts: [{to_ports}]}}]"#
        ),
    )
}
const KNPM: &str = "KNP/monitoring/egress";

/// A port rule sending TCP/15090 to the Envoy listener `l` of the CiliumEnvoyConfig `envoy` (E4.6).
const LISTENER_15090: &str =
    r#"{ports: [{port: "15090", protocol: TCP}], listener: {envoyConfig: {name: envoy}, name: l}}"#;

/// CNPm with the egress element `allow` and an element of `peer` (its L3 fields and a comma, or
/// nothing: every identity) sending TCP/15090 to a listener (E4.6).
fn beside_a_listener(allow: &str, peer: &str) -> String {
    cnpm(
        "egress",
        &format!("egress:\n- {allow}\n- {{{peer}toPorts: [{LISTENER_15090}]}}"),
    )
}

/// An egress element allowing the pods of namespace `app` on 15090 of protocol `proto`.
fn app_15090(proto: &str) -> String {
    format!(
        r#"{{toEndpoints: [{{matchLabels: {{"k8s:io.kubernetes.pod.namespace": app}}}}], toPorts: [{{ports: [{{port: "15090", protocol: {proto}}}]}}]}}"#
    )
}

/// E4.6: an egress case that only a listener's port rule would allow, denied by CNPm's default deny.
fn listener_denied(c: Case) -> Case {
    c.egress()
        .expect(NetVerdict::Denied, Basis::DefaultDeny, "E4.6", &[CNPM])
}

fn doc_check(table: &str, cases: Vec<Case>) {
    check_against("semantics/cilium-egress.md", table, cases)
}

/// E8 rows: S1 scrapes an address no pod backs on TCP/10250, egress alone decides.
fn addr(name: &'static str, ip: &'static str) -> Case {
    case(name).at(ip).port(10250).path("/metrics")
}

/// E8.6: the scraper's egress allows the address (the destination side is no Cilium endpoint).
fn addr_allowed(c: Case, by: &[&str]) -> Case {
    c.egress_allowed_by(by)
        .mentions("the destination is not a Cilium endpoint")
}

#[test]
fn e8_addresses_no_pod_backs_are_decided_by_the_scrapers_egress_toward_their_identity() {
    let entities = |e: &str| cnpm("egress", &format!("egress: [{{toEntities: [{e}]}}]"));
    let cidr = |body: &str| cnpm("egress", &format!("egress: [{body}]"));
    doc_check(
        "E8",
        vec![
            // E8.1/E8.2 identities.
            addr("e8_no_egress_policy_allows_every_address", WORLD_ADDR).egress_not_enforced(),
            addr_allowed(
                addr("e8_own_node_address_is_host", HOST_ADDR).with(entities("host")),
                &[CNPM],
            ),
            addr("e8_own_node_address_is_not_remote_node", HOST_ADDR)
                .with(entities("remote-node"))
                .egress_default_deny(&[CNPM])
                .mentions("the scraper's own node"),
            addr_allowed(
                addr("e8_other_node_address_is_remote_node", REMOTE_NODE_ADDR)
                    .with(entities("remote-node")),
                &[CNPM],
            ),
            addr("e8_a_plain_node_is_not_kube_apiserver", REMOTE_NODE_ADDR)
                .with(entities("kube-apiserver"))
                .egress_default_deny(&[CNPM]),
            addr_allowed(
                addr("e8_apiserver_on_a_node_is_kube_apiserver", APISERVER_ON_NODE)
                    .with(entities("kube-apiserver")),
                &[CNPM],
            ),
            addr_allowed(
                addr("e8_apiserver_on_a_node_is_remote_node_as_well", APISERVER_ON_NODE)
                    .with(entities("remote-node")),
                &[CNPM],
            ),
            addr_allowed(
                addr("e8_apiserver_outside_the_nodes_is_kube_apiserver", APISERVER_OUTSIDE)
                    .with(entities("kube-apiserver")),
                &[CNPM],
            ),
            addr_allowed(
                addr("e8_apiserver_outside_the_nodes_is_world_as_well", APISERVER_OUTSIDE)
                    .with(entities("world")),
                &[CNPM],
            ),
            addr_allowed(
                addr("e8_other_address_is_world", WORLD_ADDR).with(entities("world")),
                &[CNPM],
            ),
            // E8.3 cluster.
            addr("e8_cluster_excludes_world", WORLD_ADDR)
                .with(entities("cluster"))
                .egress_default_deny(&[CNPM]),
            addr_allowed(
                addr("e8_cluster_includes_nodes", REMOTE_NODE_ADDR).with(entities("cluster")),
                &[CNPM],
            ),
            addr_allowed(
                addr("e8_cluster_includes_kube_apiserver_outside_the_nodes", APISERVER_OUTSIDE)
                    .with(entities("cluster")),
                &[CNPM],
            ),
            addr_allowed(
                addr("e8_reserved_selector_selects_kube_apiserver", APISERVER_ON_NODE).with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [{matchLabels: {"reserved:kube-apiserver": ""}}]}]"#,
                )),
                &[CNPM],
            ),
            // E4.6: a listener on the scraped port (the oracle's class (b): the API server on another
            // node, `all` with a listener on the port and on another port without).
            addr("e8_a_listener_port_for_all_allows_no_address", APISERVER_ON_NODE)
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEntities: [all, init], toPorts: [{ports: [{port: "9090"}]}, {ports: [{port: "10250", protocol: TCP}], listener: {envoyConfig: {name: envoy}, name: listener}}]}]"#,
                ))
                .expect(NetVerdict::Denied, Basis::DefaultDeny, "E4.6", &[CNPM])
                .mentions("monitoring/envoy/listener"),
            // E8.2: pod selectors never select an address.
            addr("e8_to_endpoints_everything_never_selects_a_node", REMOTE_NODE_ADDR)
                .with(cnpm("egress", "egress: [{toEndpoints: [{}]}]"))
                .egress_default_deny(&[CNPM]),
            addr("e8_knp_namespace_selector_never_selects_a_node", REMOTE_NODE_ADDR)
                .with(knpm(
                    "egress",
                    "podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}\npolicyTypes: [Egress]\negress: [{to: [{namespaceSelector: {}}]}]",
                ))
                .egress_default_deny(&[KNPM]),
            // E8.4 CIDR.
            addr_allowed(
                addr("e8_to_cidr_selects_a_world_address", WORLD_ADDR)
                    .with(cidr("{toCIDR: [203.0.113.0/24]}")),
                &[CNPM],
            ),
            addr_allowed(
                addr("e8_cidr_zero_selects_a_world_address", WORLD_ADDR)
                    .with(cidr("{toCIDR: [0.0.0.0/0]}")),
                &[CNPM],
            ),
            // E8.4 zero-length CIDRs by release, kind (toCIDR / toCIDRSet) and address families
            // (IPv4-only unless `enable-ipv6` is set).
            addr_allowed(
                addr("e8_cidr_set_v6_zero_admits_ipv4_on_a_single_stack_1_17", WORLD_ADDR)
                    .on(1, 17)
                    .with(cidr(r#"{toCIDRSet: [{cidr: "::/0"}]}"#)),
                &[CNPM],
            ),
            addr("e8_cidr_set_v6_zero_is_ipv6_only_on_a_dual_stack_1_17", WORLD_ADDR)
                .on(1, 17)
                .cfg("enable-ipv6", "true")
                .with(cidr(r#"{toCIDRSet: [{cidr: "::/0"}]}"#))
                .egress_default_deny(&[CNPM]),
            addr("e8_cidr_v6_zero_admits_no_ipv4_on_1_17", WORLD_ADDR)
                .on(1, 17)
                .with(cidr(r#"{toCIDR: ["::/0"]}"#))
                .egress_default_deny(&[CNPM]),
            addr("e8_cidr_set_v6_zero_is_world_ipv6_from_1_19", WORLD_ADDR)
                .on(1, 19)
                .with(cidr(r#"{toCIDRSet: [{cidr: "::/0"}]}"#))
                .egress_default_deny(&[CNPM]),
            addr_allowed(
                addr("e8_cidr_v4_zero_admits_ipv6_on_an_ipv4_agent_up_to_1_18", WORLD_ADDR_V6)
                    .on(1, 18)
                    .with(cidr("{toCIDR: [0.0.0.0/0]}")),
                &[CNPM],
            ),
            addr("e8_cidr_v4_zero_admits_no_ipv6_from_1_19", WORLD_ADDR_V6)
                .on(1, 19)
                .with(cidr("{toCIDR: [0.0.0.0/0]}"))
                .egress_default_deny(&[CNPM]),
            addr_allowed(
                addr("e8_cidr_v6_zero_is_world_ipv6_from_1_19", WORLD_ADDR_V6)
                    .on(1, 19)
                .with(cidr(r#"{toCIDR: ["::/0"]}"#)),
                &[CNPM],
            ),
            addr("e8_cidr_v6_zero_on_an_ipv4_agent_needs_a_longer_prefix_up_to_1_18", WORLD_ADDR_V6)
                .on(1, 18)
                .with(cidr(r#"{toCIDR: ["::/0"]}"#))
                .egress_default_deny(&[CNPM]),
            addr_allowed(
                addr("e8_cidr_v6_zero_on_an_ipv4_agent_matches_a_longer_prefixs_label_up_to_1_18", WORLD_ADDR_V6)
                    .on(1, 18)
                    .with(cidr(r#"{toCIDR: ["::/0"]}"#))
                    .with(cnp_spec(
                        "v6-prefix",
                        "app",
                        "endpointSelector: {matchLabels: {app: nobody}}\negress: [{toCIDR: [\"2001:db8::/32\"]}]",
                    )),
                &[CNPM],
            ),
            addr("e8_cidr_set_except_carves_the_address_out", WORLD_ADDR)
                .with(cidr(
                    "{toCIDRSet: [{cidr: 203.0.113.0/24, except: [203.0.113.7/32]}]}",
                ))
                .egress_default_deny(&[CNPM])
                .mentions("toCIDR/ipBlock 203.0.113.0/24 contains the address 203.0.113.7, but its except 203.0.113.7/32 carves it out (E8.4)"),
            // The explanation names the address a CIDR misses, never a pod (R9 is about pods).
            addr("e8_to_cidr_that_misses_the_address_names_it", WORLD_ADDR)
                .with(cidr("{toCIDR: [198.51.100.0/24, 10.0.0.0/8]}"))
                .egress_default_deny(&[CNPM])
                .mentions("toCIDR/ipBlock [198.51.100.0/24, 10.0.0.0/8] does not contain the address 203.0.113.7 (E8.4)"),
            addr("e8_knp_ip_block_that_misses_the_address_names_it", WORLD_ADDR)
                .with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Egress]\negress: [{to: [{ipBlock: {cidr: 198.51.100.0/24}}]}]",
                ))
                .egress_default_deny(&[KNPM])
                .mentions("does not contain the address 203.0.113.7 (E8.4)"),
            addr_allowed(
                addr("e8_knp_ip_block_selects_a_world_address", WORLD_ADDR).with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Egress]\negress: [{to: [{ipBlock: {cidr: 203.0.113.0/24}}]}]",
                )),
                &[KNPM],
            ),
            addr_allowed(
                addr("e8_ip_block_selects_the_apiserver_outside_the_nodes", APISERVER_OUTSIDE)
                    .with(knpm(
                        "egress",
                        "podSelector: {}\npolicyTypes: [Egress]\negress: [{to: [{ipBlock: {cidr: 172.16.0.0/28}}]}]",
                    )),
                &[KNPM],
            ),
            addr("e8_cidr_never_selects_a_node_by_default", REMOTE_NODE_ADDR)
                .with(cidr("{toCIDR: [192.168.1.0/24]}"))
                .egress_default_deny(&[CNPM]),
            addr_allowed(
                addr("e8_cidr_selects_a_node_in_cidr_match_mode_nodes", REMOTE_NODE_ADDR)
                    .with(cidr("{toCIDR: [192.168.1.0/24]}"))
                    .cfg("policy-cidr-match-mode", "nodes"),
                &[CNPM],
            ),
            // Ports (E4.4): numbers; a name resolves to nothing on an address from 1.20.
            addr_allowed(
                addr("e8_to_ports_number_admits_the_port", WORLD_ADDR).with(cidr(
                    r#"{toEntities: [world], toPorts: [{ports: [{port: "10250", protocol: TCP}]}]}"#,
                )),
                &[CNPM],
            ),
            addr("e8_to_ports_other_number_refuses", WORLD_ADDR)
                .port(9100)
                .with(cidr(
                    r#"{toEntities: [world], toPorts: [{ports: [{port: "10250", protocol: TCP}]}]}"#,
                ))
                .egress_default_deny(&[CNPM]),
            addr("e8_named_port_resolves_to_nothing_on_an_address", WORLD_ADDR)
                .on(1, 20)
                .with(cidr(
                    r#"{toEntities: [world], toPorts: [{ports: [{port: https-metrics, protocol: TCP}]}]}"#,
                ))
                .egress_default_deny(&[CNPM]),
            // E5.4 deny wins; E3 posture.
            addr("e8_egress_deny_of_the_entity_wins", REMOTE_NODE_ADDR)
                .with(cnpm(
                    "egress",
                    "egress: [{toEntities: [all]}]\negressDeny: [{toEntities: [remote-node]}]",
                ))
                .egress_denied_by(&[CNPM]),
            addr("e8_policy_always_denies_an_address_without_egress_rule", WORLD_ADDR)
                .cfg("enable-policy", "always")
                .expect(NetVerdict::Denied, Basis::DefaultDeny, "E5.3", &[]),
            // E8.5: a hostNetwork scraper's egress is the host firewall's: not decided.
            addr("e8_hostnetwork_scraper_is_not_decided", WORLD_ADDR)
                .from(S3)
                .with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Egress]",
                ))
                .expect(NetVerdict::Allowed, Basis::NotEnforced, "E8.5", &[]),
            // E8.1: an address that is not an IP (bad input): Denied, named.
            addr("e8_an_address_that_is_not_an_ip_is_named", "kubelet.example")
                .expect(NetVerdict::Denied, Basis::DefaultDeny, "E8.1", &[])
                .mentions("is not an IP address"),
        ],
    );
}

#[test]
fn e1_the_target_is_seen_with_its_own_identity() {
    doc_check(
        "E1",
        vec![
            case("e1_target_pod_labels_and_namespace")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [{matchLabels: {app: web, "k8s:io.kubernetes.pod.namespace": app}}]}]"#,
                ))
                .egress_allowed_by(&[CNPM]),
            case("e1_a_label_the_target_lacks_misses")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [{matchLabels: {app: api, "k8s:io.kubernetes.pod.namespace": app}}]}]"#,
                ))
                .egress_default_deny(&[CNPM])
                .mentions("toEndpoints")
                .mentions("which the target does not have"),
            case("e1_namespace_labels_select_the_target")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [{matchLabels: {"io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": app}}]}]"#,
                ))
                .egress_allowed_by(&[CNPM]),
            // S1 (node-b) to a hostNetwork target on node-a: a remote node, not a pod.
            case("e1_hostnetwork_target_on_another_node_is_remote_node")
                .egress()
                .to(D_HOST_NETWORK)
                .with(cnpm("egress", "egress: [{toEntities: [remote-node]}]"))
                .egress_allowed_by(&[CNPM]),
            case("e1_hostnetwork_target_is_no_endpoint_for_to_endpoints")
                .egress()
                .to(D_HOST_NETWORK)
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": app}}]}]"#,
                ))
                .egress_default_deny(&[CNPM])
                .mentions("toEntities [remote-node]"),
            // S2 (app/other-0, node-a) to the hostNetwork target on its own node: the host.
            case("e1_hostnetwork_target_on_the_scrapers_node_is_host")
                .egress()
                .from(S2)
                .to(D_HOST_NETWORK)
                .with(cnp_spec(
                    "other-egress",
                    "app",
                    "endpointSelector: {matchLabels: {app: other}}\negress: [{toEntities: [host]}]",
                ))
                .egress_allowed_by(&["CNP/app/other-egress"]),
            case("e1_remote_node_is_not_the_host")
                .egress()
                .from(S2)
                .to(D_HOST_NETWORK)
                .with(cnp_spec(
                    "other-egress",
                    "app",
                    "endpointSelector: {matchLabels: {app: other}}\negress: [{toEntities: [remote-node]}]",
                ))
                .egress_default_deny(&["CNP/app/other-egress"]),
        ],
    );
}

#[test]
fn e2_which_sections_decide_egress() {
    doc_check(
        "E2",
        vec![
            case("e2_knp_egress_to_the_targets_namespace")
                .egress()
                .with(knpm(
                    "egress",
                    "podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}\npolicyTypes: [Egress]\negress:\n- to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}}]",
                ))
                .egress_allowed_by(&[KNPM]),
            case("e2_knp_egress_type_without_rules_denies_everything")
                .egress()
                .with(knpm("egress", "podSelector: {}\npolicyTypes: [Egress]"))
                .egress_default_deny(&[KNPM])
                .mentions("NetworkPolicy monitoring/egress"),
            case("e2_knp_egress_rules_count_whatever_policy_types_says")
                .egress()
                .with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Ingress]\negress:\n- to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}]",
                ))
                .egress_default_deny(&[KNPM]),
            case("e2_knp_ingress_only_leaves_egress_alone")
                .egress()
                .with(knpm("egress", "podSelector: {}\npolicyTypes: [Ingress]"))
                .egress_not_enforced(),
            case("e2_knp_empty_to_is_every_destination_on_its_ports")
                .egress()
                .with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Egress]\negress:\n- ports: [{port: 15090}]",
                ))
                .egress_allowed_by(&[KNPM]),
            case("e2_knp_empty_to_on_another_port")
                .egress()
                .port(8080)
                .with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Egress]\negress:\n- ports: [{port: 15090}]",
                ))
                .egress_default_deny(&[KNPM]),
            case("e2_knp_ip_block_never_a_pod")
                .egress()
                .with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Egress]\negress:\n- to: [{ipBlock: {cidr: 10.0.0.0/8}}]",
                ))
                .egress_default_deny(&[KNPM]),
            case("e2_cnp_of_another_namespace_never_selects_the_scraper")
                .egress()
                .with(cnp_spec(
                    "elsewhere",
                    "app",
                    "endpointSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}\negress: [{toEntities: [world]}]",
                ))
                .egress_not_enforced(),
            case("e2_ccnp_selects_the_scraper_in_any_namespace")
                .egress()
                .with(ccnp_spec(
                    "everywhere",
                    "endpointSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}\negress: [{toEntities: [world]}]",
                ))
                .egress_default_deny(&["CCNP/everywhere"]),
            case("e2_ccnp_node_selector_is_the_host_firewall_not_a_pod")
                .egress()
                .with(ccnp_spec(
                    "host",
                    "nodeSelector: {matchLabels: {role: infra}}\negress: [{toEntities: [world]}]",
                ))
                .egress_not_enforced(),
            case("e2_specs_rules_each_count")
                .egress()
                .with(cnp_top(
                    "specs",
                    "specs:\n- endpointSelector: {matchLabels: {app: web}}\n  ingress: [{}]\n- endpointSelector: {}\n  egress: [{toEntities: [world]}]",
                ))
                .expect(
                    NetVerdict::Denied,
                    Basis::DefaultDeny,
                    "E5.3",
                    &["CNP/app/specs"],
                )
                .from(S2),
        ],
    );
}

#[test]
fn e3_enforcement_and_default_deny() {
    doc_check(
        "E3",
        vec![
            case("e3_no_policy").egress().egress_not_enforced(),
            case("e3_an_ingress_only_policy_does_not_touch_egress")
                .egress()
                .with(cnpm("egress", "ingress: [{}]"))
                .egress_not_enforced(),
            case("e3_an_egress_section_makes_it_default_deny")
                .egress()
                .with(cnpm("egress", "egress: [{toEntities: [world]}]"))
                .egress_default_deny(&[CNPM]),
            case("e3_egress_deny_alone_also_makes_it_default_deny")
                .egress()
                .with(cnpm("egress", "egressDeny: [{toEntities: [world]}]"))
                .egress_default_deny(&[CNPM]),
            case("e3_enable_default_deny_egress_false")
                .egress()
                .with(cnpm(
                    "egress",
                    "egress: [{toEntities: [world]}]\nenableDefaultDeny: {egress: false}",
                ))
                .egress_no_default_deny()
                .mentions("enableDefaultDeny.egress=false"),
            case("e3_enable_default_deny_ingress_false_keeps_egress_deny")
                .egress()
                .with(cnpm(
                    "egress",
                    "egress: [{toEntities: [world]}]\nenableDefaultDeny: {ingress: false}",
                ))
                .egress_default_deny(&[CNPM]),
            case("e3_non_default_deny_policies_off_makes_every_rule_default_deny")
                .egress()
                .cfg("enable-non-default-deny-policies", "false")
                .with(cnpm(
                    "egress",
                    "egress: [{toEntities: [world]}]\nenableDefaultDeny: {egress: false}",
                ))
                .egress_default_deny(&[CNPM]),
            case("e3_policy_always_isolates_every_scraper")
                .egress()
                .cfg("enable-policy", "always")
                .egress_default_deny(&[])
                .mentions("enable-policy=always"),
            case("e3_policy_never_enforces_nothing")
                .egress()
                .cfg("enable-policy", "never")
                .with(cnpm("egress", "egress: [{}]"))
                .expect(NetVerdict::Allowed, Basis::PolicyDisabled, "D1", &[]),
            case("e3_on_1_15_there_is_no_enable_default_deny")
                .egress()
                .on(1, 15)
                .with(cnpm("egress", "egress: [{toEntities: [world]}]"))
                .egress_default_deny(&[CNPM]),
        ],
    );
}

#[test]
fn e4_egress_elements() {
    let ns_app = r#"toEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": app}}]"#;
    doc_check(
        "E4",
        vec![
            case("e4_1_to_endpoints_empty_is_the_policys_namespace")
                .egress()
                .with(cnpm("egress", "egress: [{toEndpoints: [{}]}]"))
                .egress_default_deny(&[CNPM])
                .mentions("admits only pods of namespace monitoring"),
            case("e4_1_ccnp_to_endpoints_empty_is_every_pod")
                .egress()
                .with(ccnp_spec(
                    "everywhere",
                    "endpointSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}\negress: [{toEndpoints: [{}]}]",
                ))
                .egress_allowed_by(&["CCNP/everywhere"]),
            case("e4_1_to_entities_cluster")
                .egress()
                .with(cnpm("egress", "egress: [{toEntities: [cluster]}]"))
                .egress_allowed_by(&[CNPM]),
            case("e4_1_to_entities_all")
                .egress()
                .with(cnpm("egress", "egress: [{toEntities: [all]}]"))
                .egress_allowed_by(&[CNPM]),
            case("e4_1_to_entities_world_is_not_a_pod")
                .egress()
                .with(cnpm("egress", "egress: [{toEntities: [world]}]"))
                .egress_default_deny(&[CNPM])
                .mentions("toEntities [world]"),
            case("e4_1_to_cidr_never_a_pod_even_around_its_ip")
                .egress()
                .with(cnpm("egress", "egress: [{toCIDR: [10.0.0.0/8]}]"))
                .egress_default_deny(&[CNPM])
                .mentions("toCIDR/ipBlock never matches a Cilium-managed pod"),
            case("e4_1_to_cidr_matches_a_node_in_nodes_mode")
                .egress()
                .to(D_HOST_NETWORK)
                .cfg("policy-cidr-match-mode", "nodes")
                .with(cnpm("egress", "egress: [{toCIDR: [192.168.1.0/24]}]"))
                .egress_allowed_by(&[CNPM]),
            case("e4_1_to_cidr_misses_a_node_by_default")
                .egress()
                .to(D_HOST_NETWORK)
                .with(cnpm("egress", "egress: [{toCIDR: [192.168.1.0/24]}]"))
                .egress_default_deny(&[CNPM]),
            case("e4_1_to_nodes_selects_the_targets_node")
                .egress()
                .to(D_HOST_NETWORK)
                .cfg("enable-node-selector-labels", "true")
                .with(cnpm(
                    "egress",
                    "egress: [{toNodes: [{matchLabels: {role: worker}}]}]",
                ))
                .egress_allowed_by(&[CNPM]),
            case("e4_1_to_requires_constrains_every_to_endpoints")
                .egress()
                .on(1, 18)
                .with(cnpm(
                    "egress",
                    &format!("egress:\n- {ns_app}\n- toRequires: [{{matchLabels: {{\"k8s:io.kubernetes.pod.namespace\": other}}}}]"),
                ))
                .egress_default_deny(&[CNPM])
                .mentions("toRequires"),
            case("e4_2_to_services_is_not_decided_offline")
                .egress()
                .with(cnpm(
                    "egress",
                    "egress: [{toServices: [{k8sService: {serviceName: web, namespace: app}}]}]",
                ))
                .egress_default_deny(&[CNPM])
                .mentions("toServices"),
            case("e4_2_to_fqdns_never_a_pod")
                .egress()
                .on(1, 19)
                .with(cnpm(
                    "egress",
                    r#"egress: [{toFQDNs: [{matchName: d.app.svc.cluster.local}], toPorts: [{ports: [{port: "15090", protocol: TCP}]}]}]"#,
                ))
                .egress_default_deny(&[CNPM])
                .mentions("toFQDNs"),
            case("e4_3_empty_element_allows_nothing")
                .egress()
                .with(cnpm("egress", "egress: [{}]"))
                .egress_default_deny(&[CNPM]),
            case("e4_3_ports_without_peer_are_every_destination")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"egress: [{toPorts: [{ports: [{port: "15090"}]}]}]"#,
                ))
                .egress_allowed_by(&[CNPM]),
            case("e4_3_an_empty_list_selects_nothing")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [], toPorts: [{ports: [{port: "15090"}]}]}]"#,
                ))
                .egress_default_deny(&[CNPM])
                .mentions("toEndpoints: []"),
            case("e4_3_an_empty_list_is_omitted_on_1_15")
                .egress()
                .on(1, 15)
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [], toPorts: [{ports: [{port: "15090"}]}]}]"#,
                ))
                .egress_allowed_by(&[CNPM]),
            case("e4_3_two_peer_kinds_reject_the_policy")
                .egress()
                .with(cnpm(
                    "egress",
                    &format!("egress: [{{{ns_app}, toEntities: [cluster]}}]"),
                ))
                .invalid(CNPM)
                .egress_not_enforced(),
            case("e4_4_the_port")
                .egress()
                .with(to_app(r#"{ports: [{port: "8080", protocol: TCP}]}"#))
                .egress_default_deny(&[CNPM]),
            case("e4_4_the_port_allowed")
                .egress()
                .port(8080)
                .with(to_app(r#"{ports: [{port: "8080", protocol: TCP}]}"#))
                .egress_allowed_by(&[CNPM]),
            case("e4_4_udp_is_not_tcp")
                .egress()
                .with(to_app(r#"{ports: [{port: "15090", protocol: UDP}]}"#))
                .egress_default_deny(&[CNPM]),
            case("e4_4_a_range")
                .egress()
                .with(to_app(r#"{ports: [{port: "15000", endPort: 15100, protocol: TCP}]}"#))
                .egress_allowed_by(&[CNPM]),
            case("e4_4_a_named_port_of_the_target")
                .egress()
                .with(to_app(r#"{ports: [{port: http-envoy-prom}]}"#))
                .egress_allowed_by(&[CNPM]),
            // Up to 1.19 an egress named port resolves against every pod of the cluster: `web` is 9090
            // on Prometheus only, so it allows TCP/9090 to D, which does not name it; from 1.20 it
            // resolves per destination identity, and D has no `web`.
            case("e4_4_a_named_port_resolves_cluster_wide_up_to_1_19")
                .egress()
                .port(9090)
                .with(to_app(r#"{ports: [{port: web}]}"#))
                .egress_allowed_by(&[CNPM]),
            case("e4_4_a_named_port_resolves_per_destination_from_1_20")
                .egress()
                .on(1, 20)
                .port(9090)
                .with(to_app(r#"{ports: [{port: web}]}"#))
                .egress_default_deny(&[CNPM]),
            // A name two pods give different numbers resolves to nothing up to 1.19.
            case("e4_4_a_named_port_with_two_numbers_resolves_to_nothing")
                .egress()
                .port(8080)
                .with(HTTP_8081.to_string())
                .with(to_app(r#"{ports: [{port: http}]}"#))
                .egress_default_deny(&[CNPM]),
            case("e4_4_a_named_port_with_two_numbers_is_the_targets_from_1_20")
                .egress()
                .on(1, 20)
                .port(8080)
                .with(HTTP_8081.to_string())
                .with(to_app(r#"{ports: [{port: http}]}"#))
                .egress_allowed_by(&[CNPM]),
            case("e4_5_http_rules_refuse_another_path")
                .egress()
                .with(to_app(r#"{ports: [{port: "15090", protocol: TCP}], rules: {http: [{method: GET, path: /metrics}]}}"#))
                .expect(NetVerdict::L7Denied, Basis::L7, "R13", &[CNPM]),
            case("e4_5_http_rules_allow_the_scrape_path")
                .egress()
                .path("/metrics")
                .with(to_app(r#"{ports: [{port: "15090", protocol: TCP}], rules: {http: [{method: GET, path: /metrics}]}}"#))
                .expect(NetVerdict::Allowed, Basis::AllowedByRule, "R13", &[CNPM]),
            listener_denied(case("e4_6_a_listener_allows_nothing").with(to_app(LISTENER_15090)))
                .mentions("to the Envoy listener monitoring/envoy/l"),
            listener_denied(
                case("e4_6_a_listener_takes_the_same_selectors_allow_on_its_port")
                    .with(beside_a_listener(&app_15090("TCP"), &format!("{ns_app}, "))),
            ),
            listener_denied(
                case("e4_6_a_listener_for_every_identity_covers_the_port")
                    .with(beside_a_listener(&app_15090("ANY"), "")),
            ),
            case("e4_6_a_listener_leaves_another_selectors_allow")
                .egress()
                .with(beside_a_listener(&app_15090("TCP"), "toEntities: [world], "))
                .egress_allowed_by(&[CNPM]),
            case("e4_6_a_listener_leaves_the_allows_of_other_port_filters")
                .egress()
                .with(beside_a_listener("{toEntities: [all]}", "toEntities: [all], "))
                .egress_allowed_by(&[CNPM]),
            case("e4_5_dns_rules_are_port_53_only")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": kube-system, k8s-app: kube-dns}}], toPorts: [{ports: [{port: "53", protocol: UDP}], rules: {dns: [{matchPattern: "*"}]}}]}]"#,
                ))
                .egress_default_deny(&[CNPM]),
        ],
    );
}

#[test]
fn e5_the_egress_verdict() {
    doc_check(
        "E5",
        vec![
            case("e5_4_deny_wins_over_every_allow")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"
                    egress: [{toEntities: [all]}]
                    egressDeny: [{toEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": app}}]}]
                    "#,
                ))
                .egress_denied_by(&[CNPM])
                .mentions("denies egress to a pod in namespace app"),
            case("e5_4_a_deny_of_another_policy_kind_wins_too")
                .egress()
                .with(knpm(
                    "egress",
                    "podSelector: {}\npolicyTypes: [Egress]\negress: [{}]",
                ))
                .with(ccnp_spec(
                    "deny",
                    r#"endpointSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}
egressDeny: [{toPorts: [{ports: [{port: "15090", protocol: TCP}]}]}]"#,
                ))
                .egress_denied_by(&["CCNP/deny"]),
            case("e5_4_a_deny_on_another_port_does_not_matter")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"
                    egress: [{toEntities: [all]}]
                    egressDeny: [{toPorts: [{ports: [{port: "8080", protocol: TCP}]}]}]
                    "#,
                ))
                .egress_allowed_by(&[CNPM]),
            case("e5_5_allows_of_every_kind_are_one_union")
                .egress()
                .with(cnpm("egress", "egress: [{toEntities: [world]}]"))
                .with(knpm(
                    "dns-and-app",
                    "podSelector: {}\npolicyTypes: [Egress]\negress:\n- to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}}]",
                ))
                .egress_allowed_by(&["KNP/monitoring/dns-and-app"]),
            // S4 is a hostNetwork Prometheus: its egress is the host firewall's, not decided; the verdict
            // is D's ingress alone (no ingress policy here).
            case("e5_2_a_hostnetwork_scraper_is_not_decided")
                .from(S4)
                .with(knpm("egress", "podSelector: {}\npolicyTypes: [Egress]"))
                .not_enforced(),
            // allow-localhost is an ingress rule: a pod's egress to its own node's host is not exempt.
            case("e5_7_no_localhost_exemption_on_egress")
                .egress()
                .from(S2)
                .to(D_HOST_NETWORK)
                .with(cnp_spec(
                    "other-egress",
                    "app",
                    "endpointSelector: {matchLabels: {app: other}}\negress: [{toEntities: [world]}]",
                ))
                .egress_default_deny(&["CNP/app/other-egress"]),
            case("e5_1_audit_mode_only_logs")
                .egress()
                .cfg("policy-audit-mode", "true")
                .with(cnpm("egress", "egress: [{toEntities: [world]}]"))
                .expect(NetVerdict::Allowed, Basis::AuditMode, "D1", &[CNPM]),
            case("e5_8_a_label_named_twice_is_read_at_random")
                .egress()
                .with(cnpm(
                    "egress",
                    r#"egress: [{toEndpoints: [{matchLabels: {app: web, "any:app": api, "k8s:io.kubernetes.pod.namespace": app}}]}]"#,
                ))
                .expect(NetVerdict::Denied, Basis::Ambiguous, "R4.1", &[CNPM]),
        ],
    );
}

#[test]
fn e6_both_directions_must_allow() {
    doc_check(
        "E6",
        vec![
            case("e6_the_scrapers_egress_drops_a_scrape_the_target_admits")
                .with(cnpm("egress", "egress: [{toEntities: [world]}]"))
                .egress_default_deny(&[CNPM])
                .mentions("egress of monitoring/prometheus-0 is denied"),
            case("e6_the_targets_ingress_is_reported_first_and_the_egress_besides")
                .with(deny_all("isolate"))
                .with(cnpm("egress", "egress: [{toEntities: [world]}]"))
                .default_deny(&["CNP/app/isolate", CNPM])
                .mentions("besides, egress of monitoring/prometheus-0 is denied"),
            case("e6_both_allow")
                .with(allow_monitoring("admit"))
                .with(cnpm("egress", "egress: [{toEntities: [cluster]}]"))
                .allowed_by(&["CNP/app/admit"]),
            case("e6_an_l7_refusal_on_egress")
                .with(cnpm(
                    "egress",
                    r#"egress: [{toPorts: [{ports: [{port: "15090", protocol: TCP}], rules: {http: [{path: /metrics}]}}]}]"#,
                ))
                .expect(NetVerdict::L7Denied, Basis::L7, "R13", &[CNPM])
                .mentions("egress of monitoring/prometheus-0 is refused at L7"),
            // A pod scraping itself stays on its loopback (R3), whatever its egress says.
            case("e6_a_pod_scraping_itself_stays_allowed")
                .from(S2)
                .to("other-0")
                .port(9999)
                .with(cnp_spec(
                    "other-egress",
                    "app",
                    "endpointSelector: {matchLabels: {app: other}}\negress: [{}]",
                ))
                .expect(NetVerdict::Allowed, Basis::SamePod, "R3", &[]),
            case("e6_kube_prometheus_narrowed_to_dns_only_egress_drops_every_target")
                .with(knpm("prometheus-k8s", KUBE_PROMETHEUS_DNS_ONLY))
                .egress_default_deny(&["KNP/monitoring/prometheus-k8s"])
                .mentions("egress of monitoring/prometheus-0 is denied")
                .mentions("NetworkPolicy monitoring/prometheus-k8s spec.egress[0]"),
            case("e6_kube_prometheus_dns_only_on_the_other_port_too")
                .port(8080)
                .with(knpm("prometheus-k8s", KUBE_PROMETHEUS_DNS_ONLY))
                .egress_default_deny(&["KNP/monitoring/prometheus-k8s"]),
            case("e6_kube_prometheus_as_shipped_allows_every_egress")
                .with(knpm(
                    "prometheus-k8s",
                    &KUBE_PROMETHEUS_DNS_ONLY.replace(
                        "egress:\n- to:\n  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n    podSelector: {matchLabels: {k8s-app: kube-dns}}\n  ports:\n  - {port: 53, protocol: UDP}\n  - {port: 53, protocol: TCP}\n",
                        "egress:\n- {}\n",
                    ),
                ))
                .not_enforced(),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// End to end: `scrapepath check` on the kube-prometheus case.

/// A Prometheus of prometheus-operator in `monitoring` with kube-prometheus' NetworkPolicy narrowed to
/// DNS-only egress, a PodMonitor and its target pod in `app`: the monitor is selected and the target
/// admits the scraper, but the scraper's own egress drops the scrape.
const E2E: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: monitoring, labels: {kubernetes.io/metadata.name: monitoring}}
---
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {kubernetes.io/metadata.name: app}}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  serviceAccountName: prometheus-k8s
  podMetadata:
    labels: {app.kubernetes.io/name: prometheus}
  podMonitorSelector: {}
  podMonitorNamespaceSelector: {}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: web, namespace: app}
spec:
  selector: {matchLabels: {app: web}}
  podMetricsEndpoints: [{port: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: app, labels: {app: web}}
spec:
  nodeName: node-a
  containers:
  - name: web
    image: example/web
    ports: [{name: http, containerPort: 8080}]
status:
  phase: Running
  podIP: 10.0.1.10
  hostIP: 192.168.1.10
  conditions: [{type: Ready, status: "True"}]
"#;

fn run_check(dir: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .args(["check", "-o", "json", "-f"])
        .arg(dir)
        .output()
        .expect("run scrapepath check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "check -o json printed no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

fn write_case(name: &str, policy: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.yaml"), E2E).unwrap();
    std::fs::write(dir.join("policy.yaml"), policy).unwrap();
    dir
}

fn podmonitor_network(report: &Value) -> (&Value, &Value) {
    let subject = report["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["kind"] == "PodMonitor" && s["name"] == "web")
        .unwrap_or_else(|| panic!("no PodMonitor app/web in the report: {report:#}"));
    let cond = subject["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "NetworkReachable")
        .unwrap_or_else(|| panic!("no NetworkReachable condition: {subject:#}"));
    (subject, cond)
}

#[test]
fn check_reports_a_prometheus_whose_own_egress_drops_its_scrapes() {
    let policy = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: prometheus-k8s, namespace: monitoring}}\nspec:\n{}",
        indent(&dedent(KUBE_PROMETHEUS_DNS_ONLY), 2)
    );
    let (code, report) = run_check(&write_case("egress-dns-only", &policy));
    let (subject, cond) = podmonitor_network(&report);
    assert_eq!(subject["ready"], false, "{subject:#}");
    assert_ne!(code, 0, "check must fail on a subject that is not ready");
    assert_eq!(cond["status"], "False", "{cond:#}");
    assert_eq!(cond["reason"], "EgressDenied", "{cond:#}");
    let msg = cond["message"].as_str().unwrap();
    for want in [
        "egress of monitoring/",
        "is denied",
        "NetworkPolicy monitoring/prometheus-k8s",
        // The fix, reported only: an egress rule in the scraper's namespace, scoped to its pods, the
        // target's namespace and labels, and the port.
        "reported only",
        r#""kind":"NetworkPolicy""#,
        r#""policyTypes":["Egress"]"#,
        r#""namespace":"monitoring""#,
        r#""kubernetes.io/metadata.name":"app""#,
        r#""podSelector":{"matchLabels":{"app":"web"}}"#,
        r#""port":8080"#,
    ] {
        assert!(msg.contains(want), "the message lacks {want:?}: {msg}");
    }
    let target = &subject["targets"][0];
    assert_eq!(target["network"]["verdict"], "Denied", "{target:#}");
    assert!(
        target["network"]["decidedBy"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "prometheus-k8s"),
        "{target:#}"
    );
    // Nothing is applied for the scraper's namespace: the remediation lists no egress policy.
    for r in subject["remediation"].as_array().into_iter().flatten() {
        assert_ne!(
            r["metadata"]["namespace"], "monitoring",
            "a remediation object in the scraper's namespace: {r:#}"
        );
    }

    // The same with kube-prometheus' own `egress: [{}]`: the scrape is allowed.
    let open = policy.replace(
        "  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}\n      podSelector: {matchLabels: {k8s-app: kube-dns}}\n    ports:\n    - {port: 53, protocol: UDP}\n    - {port: 53, protocol: TCP}\n",
        "  egress:\n  - {}\n",
    );
    assert_ne!(open, policy, "the DNS-only egress was not replaced");
    let (_, report) = run_check(&write_case("egress-open", &open));
    let (_, cond) = podmonitor_network(&report);
    assert_eq!(cond["status"], "True", "{cond:#}");

    // The target isolated for ingress too: its refusal comes first (with the remedy scrapepath may
    // apply, in the target's namespace), the egress besides, and the egress fix is still reported.
    let both = format!(
        "{policy}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: isolate, namespace: app}}\nspec: {{podSelector: {{}}, policyTypes: [Ingress]}}\n"
    );
    let (_, report) = run_check(&write_case("egress-and-ingress", &both));
    let (subject, cond) = podmonitor_network(&report);
    assert_eq!(cond["reason"], "BlockedByPolicy", "{cond:#}");
    let msg = cond["message"].as_str().unwrap();
    for want in [
        "NetworkPolicy app/isolate",
        "besides, egress of monitoring/",
        "Fix for monitoring/k8s, reported only",
        r#""policyTypes":["Egress"]"#,
    ] {
        assert!(msg.contains(want), "the message lacks {want:?}: {msg}");
    }
    let remediation = subject["remediation"].as_array().unwrap();
    assert!(
        remediation
            .iter()
            .any(|r| r["metadata"]["namespace"] == "app" && r["kind"] == "NetworkPolicy"),
        "no ingress remedy in the target's namespace: {remediation:#?}"
    );
    assert!(
        remediation
            .iter()
            .all(|r| r["metadata"]["namespace"] != "monitoring"),
        "a remediation object in the scraper's namespace: {remediation:#?}"
    );
}

/// E5.2: a hostNetwork Prometheus's egress is the host firewall's, not evaluated: the scrape is judged by
/// the target's ingress alone, and a host policy with egress rules is named, not silently ignored.
#[test]
fn check_names_host_egress_policies_it_does_not_evaluate_for_a_hostnetwork_scraper() {
    let host_net = E2E.replace(
        "  serviceAccountName: prometheus-k8s\n",
        "  serviceAccountName: prometheus-k8s\n  hostNetwork: true\n",
    );
    assert_ne!(host_net, E2E);
    let ccnp = "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: host-egress}\nspec:\n  nodeSelector: {}\n  egress: [{toEntities: [world]}]\n";
    let dir = write_case("egress-host-network", ccnp);
    std::fs::write(dir.join("cluster.yaml"), host_net).unwrap();
    let (_, report) = run_check(&dir);
    let (_, cond) = podmonitor_network(&report);
    assert_eq!(cond["status"], "True", "{cond:#}");
    let msg = cond["message"].as_str().unwrap();
    assert!(
        msg.contains("host firewall") && msg.contains("CiliumClusterwideNetworkPolicy host-egress"),
        "{msg}"
    );
}
