//! Truth tables for the Cilium ingress semantics of `semantics/cilium-ingress.md`: every rule R1–R15,
//! every decision step D1–D5 and the sample rows of its §8, evaluated through
//! `engine::network_verdict` on the §8 fixtures (S1–S4, D; the harness is `tests/common/cilium_table.rs`).
//!
//! Each row is one scrape: the policies added to the fixtures, the scraper pod, the port, the Cilium
//! version and agent settings, and the full expected decision: verdict, the decision step (`rule`),
//! its basis, and `decided_by` (for a default-deny drop: exactly the policies that made the pod
//! default-deny, DESIGN.md §7). A failing table lists every row that disagrees, not just the first.

mod common;

use common::cilium_table::*;
use scrapepath::cilium::eval::{Basis, NetVerdict};

// -------------------------------------------------------------------------------------------------
// §8: the sample rows, with the exact fixtures.

#[test]
fn section_8_sample_rows() {
    check(
        "§8",
        vec![
            case("s8_01_prometheus_is_allowed_when_no_policy_selects_the_target").not_enforced(),
            case("s8_02_prometheus_in_other_namespace_is_dropped_by_empty_from_endpoints")
                .with(cnp("same-namespace", "ingress: [{fromEndpoints: [{}]}]"))
                .default_deny(&["CNP/app/same-namespace"])
                .mentions("R6.4"),
            case("s8_03_a_pod_of_the_policy_namespace_is_admitted_by_empty_from_endpoints")
                .from(S2)
                .with(cnp("same-namespace", "ingress: [{fromEndpoints: [{}]}]"))
                .allowed_by(&["CNP/app/same-namespace"]),
            case("s8_04_a_label_selector_without_namespace_only_admits_the_policy_namespace")
                .with(cnp(
                    "by-name",
                    "ingress: [{fromEndpoints: [{matchLabels: {app.kubernetes.io/name: prometheus}}]}]",
                ))
                .default_deny(&["CNP/app/by-name"]),
            case("s8_05_naming_the_monitoring_namespace_with_k8s_prefix_admits_prometheus")
                .with(allow_monitoring("allow-monitoring"))
                .allowed_by(&["CNP/app/allow-monitoring"]),
            case("s8_06_naming_the_monitoring_namespace_without_prefix_admits_prometheus")
                .with(cnp(
                    "allow-monitoring",
                    r#"
                    ingress:
                    - fromEndpoints: [{matchLabels: {io.kubernetes.pod.namespace: monitoring}}]
                      toPorts: [{ports: [{port: "15090", protocol: TCP}]}]
                    "#,
                ))
                .allowed_by(&["CNP/app/allow-monitoring"]),
            case("s8_11_the_cluster_entity_admits_a_pod_of_another_namespace")
                .with(allow_entities("cluster", "cluster"))
                .allowed_by(&["CNP/app/cluster"]),
            case("s8_13_a_cidr_covering_the_pod_network_never_matches_a_pod")
                .with(cnp("pod-cidr", "ingress: [{fromCIDR: [10.0.0.0/8]}]"))
                .default_deny(&["CNP/app/pod-cidr"]),
            case("s8_14_to_ports_without_peer_admits_every_peer_on_that_port")
                .with(cnp("port-only", r#"ingress: [{toPorts: [{ports: [{port: "15090"}]}]}]"#))
                .allowed_by(&["CNP/app/port-only"]),
            case("s8_15_an_empty_ingress_element_denies_everything")
                .with(deny_all("deny-all"))
                .default_deny(&["CNP/app/deny-all"]),
            case("s8_20_an_allow_on_another_port_does_not_admit_15090")
                .with(cnp(
                    "other-port",
                    r#"
                    ingress:
                    - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
                      toPorts: [{ports: [{port: "9090", protocol: TCP}]}]
                    "#,
                ))
                .default_deny(&["CNP/app/other-port"]),
            case("s8_22_an_http_rule_for_metrics_answers_403_to_the_envoy_stats_path")
                .with(cnp(
                    "l7-metrics",
                    r#"
                    ingress:
                    - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
                      toPorts:
                      - ports: [{port: "15090", protocol: TCP}]
                        rules: {http: [{method: GET, path: /metrics}]}
                    "#,
                ))
                .l7_denied(&["CNP/app/l7-metrics"]),
            case("s8_24_a_deny_beats_an_allow_of_every_entity")
                .with(allow_entities("allow-all", "all"))
                .with(cnp(
                    "deny-monitoring",
                    r#"ingressDeny: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .denied_by(&["CNP/app/deny-monitoring"]),
            case("s8_28_allows_of_a_cnp_and_a_knp_are_unioned")
                .with(cnp("other-only", "ingress: [{fromEndpoints: [{matchLabels: {app: other}}]}]"))
                .with(knp(
                    "from-monitoring",
                    r#"
                    podSelector: {matchLabels: {app: web}}
                    ingress:
                    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
                      ports: [{port: 15090}]
                    "#,
                ))
                .allowed_by(&["KNP/app/from-monitoring"]),
            case("s8_29_a_knp_with_policy_type_ingress_and_no_rules_is_a_default_deny")
                .with(knp("default-deny", "podSelector: {}\npolicyTypes: [Ingress]"))
                .default_deny(&["KNP/app/default-deny"]),
            case("s8_31_knp_peers_in_separate_items_are_ored")
                .with(knp(
                    "team-or-grafana",
                    r#"
                    podSelector: {matchLabels: {app: web}}
                    ingress:
                    - from:
                      - namespaceSelector: {matchLabels: {team: obs}}
                      - podSelector: {matchLabels: {app.kubernetes.io/name: grafana}}
                    "#,
                ))
                .allowed_by(&["KNP/app/team-or-grafana"]),
            case("s8_34_from_endpoints_never_matches_a_host_network_prometheus_on_another_node")
                .from(S3)
                .with(allow_monitoring("allow-monitoring"))
                .default_deny(&["CNP/app/allow-monitoring"]),
            case("s8_35_the_remote_node_entity_admits_a_host_network_prometheus_on_another_node")
                .from(S3)
                .with(allow_entities("remote-node", "remote-node"))
                .allowed_by(&["CNP/app/remote-node"]),
            case("s8_37a_a_ccnp_empty_from_endpoints_admits_pods_of_every_namespace")
                .with(ccnp_spec("all-pods", "endpointSelector: {}\ningress: [{fromEndpoints: [{}]}]"))
                .allowed_by(&["CCNP/all-pods"]),
            case("s8_37b_a_ccnp_empty_from_endpoints_does_not_admit_a_remote_node")
                .from(S3)
                .with(ccnp_spec("all-pods", "endpointSelector: {}\ningress: [{fromEndpoints: [{}]}]"))
                .default_deny(&["CCNP/all-pods"]),
        ],
    );
}

/// The seed incident (#2): the message must say that the policy admits only its own namespace, which
/// namespace the scraper is in, and which policy does it — enough to write the fix.
#[test]
fn seed_case_reason_names_the_namespace_restriction() {
    let c = case("seed")
        .with(cnp("same-namespace", "ingress: [{fromEndpoints: [{}]}]"))
        .default_deny(&["CNP/app/same-namespace"]);
    let d = evaluate(&c).unwrap();
    assert_eq!(d.verdict, NetVerdict::Denied);
    for needle in [
        "CiliumNetworkPolicy app/same-namespace",
        "default-deny",
        "fromEndpoints [{}]",
        "admits only pods of namespace app",
        "monitoring is not admitted",
    ] {
        assert!(
            d.reason.contains(needle),
            "reason should mention {needle:?}: {}",
            d.reason
        );
    }
}

// -------------------------------------------------------------------------------------------------
// §1 Identities.

#[test]
fn r01_pod_identity_labels() {
    let by_sa = |sa: &str| {
        cnp(
            "by-sa",
            &format!(
                r#"ingress: [{{fromEndpoints: [{{matchLabels: {{"k8s:io.cilium.k8s.policy.serviceaccount": {sa}, "k8s:io.kubernetes.pod.namespace": monitoring}}}}]}}]"#
            ),
        )
    };
    check(
        "R1",
        vec![
            case("pod_labels_are_identity_labels_with_source_k8s")
                .with(cnp(
                    "by-pod-label",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:app.kubernetes.io/name": prometheus, "k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .allowed_by(&["CNP/app/by-pod-label"]),
            case("the_service_account_label_admits_the_scraper_service_account")
                .with(by_sa("prometheus"))
                .allowed_by(&["CNP/app/by-sa"]),
            case("the_service_account_label_rejects_another_service_account")
                .with(by_sa("grafana"))
                .default_deny(&["CNP/app/by-sa"]),
            case("a_pod_label_in_the_io_cilium_k8s_space_cannot_spoof_the_service_account")
                .from(SPOOFER)
                .with(by_sa("prometheus"))
                .default_deny(&["CNP/app/by-sa"]),
            case("namespace_labels_become_io_cilium_k8s_namespace_labels")
                .with(cnp(
                    "by-ns-label",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": obs}}]}]"#,
                ))
                .allowed_by(&["CNP/app/by-ns-label"]),
            case("the_cluster_label_carries_the_default_cluster_name")
                .with(cnp(
                    "by-cluster",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.policy.cluster": default, "k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .allowed_by(&["CNP/app/by-cluster"]),
            case("the_cluster_label_carries_the_configured_cluster_name")
                .cfg("cluster-name", "prod")
                .with(cnp(
                    "by-cluster",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.policy.cluster": default, "k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .default_deny(&["CNP/app/by-cluster"]),
        ],
    );
}

#[test]
fn r02_identity_label_filter() {
    let by = |name: &'static str, key: &str, value: &str| {
        cnp(
            name,
            &format!(
                r#"ingress: [{{fromEndpoints: [{{matchLabels: {{"{key}": {value}, "k8s:io.kubernetes.pod.namespace": monitoring}}}}]}}]"#
            ),
        )
    };
    check(
        "R2",
        vec![
            case("a_selector_on_pod_template_hash_never_matches")
                .with(by("hash", "pod-template-hash", "abc"))
                .default_deny(&["CNP/app/hash"]),
            case("a_selector_on_controller_revision_hash_never_matches")
                .from(S1_LABELLED)
                .with(by("revision", "controller-revision-hash", "rev1"))
                .default_deny(&["CNP/app/revision"]),
            case("a_selector_on_a_kubernetes_io_label_never_matches")
                .from(S1_LABELLED)
                .with(by("role", "kubernetes.io/role", "scraper"))
                .default_deny(&["CNP/app/role"]),
            case("a_selector_on_a_beta_kubernetes_io_label_never_matches")
                .from(S1_LABELLED)
                .with(by("zone", "failure-domain.beta.kubernetes.io/zone", "z1"))
                .default_deny(&["CNP/app/zone"]),
            case("a_selector_on_a_k8s_io_label_never_matches")
                .from(S1_LABELLED)
                .with(by("k8s-io", "k8s.io/team", "obs"))
                .default_deny(&["CNP/app/k8s-io"]),
            case("app_kubernetes_io_labels_are_included_although_they_contain_kubernetes_io")
                .from(S1_LABELLED)
                .with(by("name", "app.kubernetes.io/name", "prometheus"))
                .allowed_by(&["CNP/app/name"]),
            case("the_namespace_name_label_is_included_through_the_namespace_labels_prefix")
                .with(cnp(
                    "ns-name",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": monitoring}}]}]"#,
                ))
                .allowed_by(&["CNP/app/ns-name"]),
        ],
    );
}

#[test]
fn r03_identities_that_are_not_pods() {
    check(
        "R3",
        vec![
            case("a_host_network_prometheus_on_the_same_node_is_the_host")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(allow_entities("host", "host"))
                .allowed_by(&["CNP/app/host"]),
            case("a_host_network_prometheus_on_another_node_is_not_the_host")
                .from(S3)
                .with(allow_entities("host", "host"))
                .default_deny(&["CNP/app/host"]),
            case("a_host_network_prometheus_on_the_same_node_is_not_a_remote_node")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(allow_entities("remote-node", "remote-node"))
                .default_deny(&["CNP/app/remote-node"]),
            case("a_host_network_prometheus_on_the_same_node_is_not_matched_by_from_endpoints")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(allow_monitoring("allow-monitoring"))
                .default_deny(&["CNP/app/allow-monitoring"]),
            case("a_host_network_target_is_never_a_policy_subject")
                .to(D_HOST_NETWORK)
                .with(deny_all("deny-all"))
                .expect(
                    NetVerdict::Allowed,
                    Basis::DestinationHostNetwork,
                    "R3",
                    &[],
                ),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// §2 Selector matching.

#[test]
fn r04_selector_source_prefixes() {
    let sel = |name: &'static str, selector: &str| {
        cnp(name, &format!("ingress: [{{fromEndpoints: [{selector}]}}]"))
    };
    check(
        "R4",
        vec![
            case("the_any_prefix_matches_a_k8s_label")
                .with(sel(
                    "any",
                    r#"{matchLabels: {"any:app.kubernetes.io/name": prometheus, "k8s:io.kubernetes.pod.namespace": monitoring}}"#,
                ))
                .allowed_by(&["CNP/app/any"]),
            case("a_dotted_k8s_prefix_is_a_literal_key_that_never_matches")
                .with(sel(
                    "dotted",
                    r#"{matchLabels: {k8s.io.kubernetes.pod.namespace: monitoring}}"#,
                ))
                .default_deny(&["CNP/app/dotted"]),
            case("a_dotted_k8s_prefix_does_not_even_match_the_policy_namespace")
                .from(S2)
                .with(sel("dotted", r#"{matchLabels: {k8s.io.kubernetes.pod.namespace: app}}"#))
                .default_deny(&["CNP/app/dotted"]),
            case("a_foreign_source_prefix_never_matches_k8s_labels")
                .from(S2)
                .with(sel("container-source", r#"{matchLabels: {"container:app": other}}"#))
                .default_deny(&["CNP/app/container-source"]),
            case("match_expressions_in_admits_a_listed_value")
                .with(sel(
                    "in",
                    r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}, matchExpressions: [{key: app.kubernetes.io/name, operator: In, values: [prometheus, thanos]}]}"#,
                ))
                .allowed_by(&["CNP/app/in"]),
            case("match_labels_and_match_expressions_are_anded")
                .with(sel(
                    "and",
                    r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}, matchExpressions: [{key: app.kubernetes.io/name, operator: In, values: [grafana]}]}"#,
                ))
                .default_deny(&["CNP/app/and"]),
            case("match_expressions_not_in_rejects_a_listed_value")
                .with(sel(
                    "not-in",
                    r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}, matchExpressions: [{key: app.kubernetes.io/name, operator: NotIn, values: [prometheus]}]}"#,
                ))
                .default_deny(&["CNP/app/not-in"]),
            case("match_expressions_not_in_is_true_for_an_absent_key")
                .with(sel(
                    "not-in-absent",
                    r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}, matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}"#,
                ))
                .allowed_by(&["CNP/app/not-in-absent"]),
            case("match_expressions_exists_admits_a_present_key")
                .with(sel(
                    "exists",
                    r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}, matchExpressions: [{key: app.kubernetes.io/name, operator: Exists}]}"#,
                ))
                .allowed_by(&["CNP/app/exists"]),
            case("match_expressions_does_not_exist_rejects_a_present_key")
                .with(sel(
                    "absent",
                    r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}, matchExpressions: [{key: app.kubernetes.io/name, operator: DoesNotExist}]}"#,
                ))
                .default_deny(&["CNP/app/absent"]),
            case("match_expressions_does_not_exist_admits_an_absent_key")
                .with(sel(
                    "absent-tier",
                    r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}, matchExpressions: [{key: tier, operator: DoesNotExist}]}"#,
                ))
                .allowed_by(&["CNP/app/absent-tier"]),
        ],
    );
}

/// R4.1: two matchLabels keys that name one label for Cilium (`app`, `any:app`, `:app`) with different
/// values: the agent keeps one at random (Go map iteration). Where the readings disagree on the scrape,
/// the answer is "may be dropped" naming the keys; where they agree, the common verdict stands.
#[test]
fn r04_1_one_label_named_twice_is_read_at_random() {
    let ambiguous = |by: &[&str]| -> Expect {
        Expect {
            verdict: NetVerdict::Denied,
            basis: Basis::Ambiguous,
            rule: "R4.1",
            by: by.iter().map(|s| s.to_string()).collect(),
        }
    };
    let mut peer_twice = case("a_peer_label_named_twice_with_different_values_is_ambiguous")
        .with(cnp(
            "twice",
            r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring, app.kubernetes.io/name: prometheus, "any:app.kubernetes.io/name": grafana}}]}]"#,
        ))
        .mentions("app.kubernetes.io/name: prometheus")
        .mentions("any:app.kubernetes.io/name: grafana")
        .mentions("at random");
    peer_twice.expect = Some(ambiguous(&["CNP/app/twice"]));
    let mut subject_twice =
        case("a_subject_label_named_twice_is_ambiguous_when_it_decides_enforcement")
            .with(cnp_spec(
                "subject",
                "app",
                r#"endpointSelector: {matchLabels: {app: web, ":app": api}}
ingress: [{fromEntities: [world]}]"#,
            ))
            .mentions("spec.endpointSelector.matchLabels");
    subject_twice.expect = Some(ambiguous(&["CNP/app/subject"]));
    check(
        "R4.1",
        vec![
            peer_twice,
            subject_twice,
            case("the_same_value_under_both_spellings_is_no_ambiguity")
                .with(cnp(
                    "same",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring, app.kubernetes.io/name: prometheus, "any:app.kubernetes.io/name": prometheus}}]}]"#,
                ))
                .allowed_by(&["CNP/app/same"]),
            case("readings_that_agree_on_the_scrape_give_their_common_verdict")
                .with(cnp(
                    "both-miss",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring, app.kubernetes.io/name: thanos, "any:app.kubernetes.io/name": grafana}}]}]"#,
                ))
                .default_deny(&["CNP/app/both-miss"]),
            case("k8s_and_any_prefixes_are_different_labels_for_cilium")
                .with(cnp(
                    "two-sources",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring, "k8s:app.kubernetes.io/name": prometheus, "any:app.kubernetes.io/name": prometheus}}]}]"#,
                ))
                .allowed_by(&["CNP/app/two-sources"]),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// §3 Policy → rules.

#[test]
fn r05_subjects() {
    check(
        "R5",
        vec![
            case("a_cnp_endpoint_selector_namespace_with_k8s_prefix_is_overridden_by_the_policy_namespace")
                .with(cnp_spec(
                    "other-ns-written",
                    "app",
                    r#"
                    endpointSelector: {matchLabels: {app: web, "k8s:io.kubernetes.pod.namespace": other}}
                    ingress: [{}]
                    "#,
                ))
                .default_deny(&["CNP/app/other-ns-written"]),
            // UNCERTAIN in the spec: the unprefixed key stays and is ANDed with the policy namespace.
            case("a_cnp_endpoint_selector_with_an_unprefixed_other_namespace_selects_nothing")
                .with(cnp_spec(
                    "other-ns-unprefixed",
                    "app",
                    r#"
                    endpointSelector: {matchLabels: {app: web, io.kubernetes.pod.namespace: other}}
                    ingress: [{}]
                    "#,
                ))
                .not_enforced(),
            case("a_cnp_in_another_namespace_never_selects_the_target")
                .with(cnp_spec(
                    "in-monitoring",
                    "monitoring",
                    "endpointSelector: {matchLabels: {app: web}}\ningress: [{}]",
                ))
                .not_enforced(),
            case("a_cnp_with_empty_endpoint_selector_selects_every_pod_of_its_namespace")
                .with(cnp_spec("whole-ns", "app", "endpointSelector: {}\ningress: [{}]"))
                .default_deny(&["CNP/app/whole-ns"]),
            case("a_cnp_selecting_other_labels_does_not_select_the_target")
                .with(cnp_spec(
                    "others",
                    "app",
                    "endpointSelector: {matchLabels: {app: other}}\ningress: [{}]",
                ))
                .not_enforced(),
            case("a_ccnp_endpoint_selector_is_not_limited_to_a_namespace")
                .with(ccnp("web-everywhere", "ingress: [{}]"))
                .default_deny(&["CCNP/web-everywhere"]),
            case("a_ccnp_endpoint_selector_naming_another_namespace_does_not_select_the_target")
                .with(ccnp_spec(
                    "other-ns",
                    r#"
                    endpointSelector: {matchLabels: {"k8s:io.kubernetes.pod.namespace": other}}
                    ingress: [{}]
                    "#,
                ))
                .not_enforced(),
            case("a_ccnp_node_selector_never_selects_pods")
                .with(ccnp_spec("host-fw", "nodeSelector: {}\ningress: [{}]"))
                .not_enforced(),
            case("a_knp_in_another_namespace_never_selects_the_target")
                .with(knp_in(
                    "in-monitoring",
                    "monitoring",
                    "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Ingress]",
                ))
                .not_enforced(),
            case("specs_entries_are_independent_rules_and_only_the_selecting_one_applies")
                .with(cnp_top(
                    "two-specs",
                    r#"
                    specs:
                    - endpointSelector: {matchLabels: {app: other}}
                      ingress: [{}]
                    - endpointSelector: {matchLabels: {app: web}}
                      ingress:
                      - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
                    "#,
                ))
                .allowed_by(&["CNP/app/two-specs"]),
            case("a_spec_that_does_not_select_the_target_does_not_make_it_default_deny")
                .with(cnp_top(
                    "spec-and-specs",
                    r#"
                    spec:
                      endpointSelector: {matchLabels: {app: other}}
                      ingress: [{}]
                    specs:
                    - endpointSelector: {matchLabels: {app: web}}
                      enableDefaultDeny: {ingress: false}
                      ingress:
                      - fromEndpoints: [{matchLabels: {app: other}}]
                    "#,
                ))
                .no_default_deny(),
            case("a_later_specs_entry_selecting_the_target_makes_it_default_deny")
                .with(cnp_top(
                    "specs-deny",
                    r#"
                    specs:
                    - endpointSelector: {matchLabels: {app: other}}
                      ingress: [{fromEntities: [all]}]
                    - endpointSelector: {matchLabels: {app: web}}
                      ingress: [{}]
                    "#,
                ))
                .default_deny(&["CNP/app/specs-deny"]),
        ],
    );
}

#[test]
fn r06_cnp_from_endpoints_namespace_injection() {
    let not_in = |key: &str| {
        cnp(
            "not-kube-system",
            &format!(
                r#"ingress: [{{fromEndpoints: [{{matchExpressions: [{{key: "{key}", operator: NotIn, values: [kube-system]}}]}}]}}]"#
            ),
        )
    };
    let ns_label = || {
        cnp(
            "team-obs",
            r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": obs}}]}]"#,
        )
    };
    check(
        "R6",
        vec![
            // R6.1
            case("a_reserved_key_is_left_without_namespace_and_matches_the_remote_node")
                .from(S3)
                .with(cnp(
                    "reserved",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"reserved:remote-node": ""}}]}]"#,
                ))
                .allowed_by(&["CNP/app/reserved"]),
            case("a_reserved_host_key_matches_the_host")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(cnp(
                    "reserved-host",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"reserved:host": ""}}]}]"#,
                ))
                .allowed_by(&["CNP/app/reserved-host"]),
            case("a_reserved_key_does_not_match_a_pod")
                .with(cnp(
                    "reserved",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"reserved:remote-node": ""}}]}]"#,
                ))
                .default_deny(&["CNP/app/reserved"]),
            // R6.2
            case("a_namespace_not_in_selector_admits_pods_of_other_namespaces")
                .with(not_in("k8s:io.kubernetes.pod.namespace"))
                .allowed_by(&["CNP/app/not-kube-system"]),
            case("a_namespace_not_in_selector_over_selects_a_remote_node_before_the_fix")
                .from(S3)
                .with(not_in("k8s:io.kubernetes.pod.namespace"))
                .allowed_by(&["CNP/app/not-kube-system"]),
            case("an_unprefixed_namespace_not_in_selector_over_selects_a_remote_node_before_the_fix")
                .from(S3)
                .with(not_in("io.kubernetes.pod.namespace"))
                .allowed_by(&["CNP/app/not-kube-system"]),
            // The spec says only "the newest code" (PR #46996); the engine's newest behaviour is 1.19.
            case("a_namespace_not_in_selector_no_longer_selects_a_remote_node_in_the_newest_version")
                .from(S3)
                .on(1, 19)
                .with(not_in("k8s:io.kubernetes.pod.namespace"))
                .default_deny(&["CNP/app/not-kube-system"]),
            case("a_namespace_exists_selector_admits_every_pod")
                .with(cnp(
                    "all-pods",
                    r#"ingress: [{fromEndpoints: [{matchExpressions: [{key: io.kubernetes.pod.namespace, operator: Exists}]}]}]"#,
                ))
                .allowed_by(&["CNP/app/all-pods"]),
            case("a_namespace_exists_selector_does_not_admit_a_remote_node")
                .from(S3)
                .with(cnp(
                    "all-pods",
                    r#"ingress: [{fromEndpoints: [{matchExpressions: [{key: io.kubernetes.pod.namespace, operator: Exists}]}]}]"#,
                ))
                .default_deny(&["CNP/app/all-pods"]),
            // R6.3: namespace-label selectors, before and after PR #30650 (~1.16).
            case("a_namespace_label_selector_in_a_cnp_admits_other_namespaces_from_1_16")
                .on(1, 16)
                .with(ns_label())
                .allowed_by(&["CNP/app/team-obs"]),
            case("a_namespace_label_selector_in_a_cnp_admits_other_namespaces_on_1_18")
                .with(ns_label())
                .allowed_by(&["CNP/app/team-obs"]),
            case("a_namespace_label_selector_in_a_cnp_is_limited_to_the_policy_namespace_before_1_16")
                .on(1, 15)
                .with(ns_label())
                .default_deny(&["CNP/app/team-obs"]),
            case("a_namespace_label_selector_matching_the_policy_namespace_works_before_1_16")
                .on(1, 15)
                .from(S2)
                .with(cnp(
                    "own-ns-label",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": app}}]}]"#,
                ))
                .allowed_by(&["CNP/app/own-ns-label"]),
            case("an_unprefixed_namespace_label_selector_admits_other_namespaces_from_1_16")
                .with(cnp(
                    "team-obs-unprefixed",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.team: obs}}]}]"#,
                ))
                .allowed_by(&["CNP/app/team-obs-unprefixed"]),
            // R6.4
            case("a_label_selector_without_namespace_admits_a_matching_pod_of_the_policy_namespace")
                .from(S2)
                .with(cnp("others", "ingress: [{fromEndpoints: [{matchLabels: {app: other}}]}]"))
                .allowed_by(&["CNP/app/others"]),
            case("empty_from_endpoints_does_not_admit_a_remote_node")
                .from(S3)
                .with(cnp("same-namespace", "ingress: [{fromEndpoints: [{}]}]"))
                .default_deny(&["CNP/app/same-namespace"]),
            // R6.5: a single cluster is unaffected by the local-cluster default of 1.19.
            case("a_namespace_named_selector_still_admits_on_1_19_in_a_single_cluster")
                .on(1, 19)
                .with(allow_monitoring("allow-monitoring"))
                .allowed_by(&["CNP/app/allow-monitoring"]),
        ],
    );
}

#[test]
fn r07_ccnp_from_endpoints() {
    check(
        "R7",
        vec![
            case("a_ccnp_empty_from_endpoints_admits_a_pod_of_another_namespace")
                .with(ccnp("all-pods", "ingress: [{fromEndpoints: [{}]}]"))
                .allowed_by(&["CCNP/all-pods"]),
            case("a_ccnp_empty_from_endpoints_admits_a_pod_of_the_target_namespace")
                .from(S2)
                .with(ccnp("all-pods", "ingress: [{fromEndpoints: [{}]}]"))
                .allowed_by(&["CCNP/all-pods"]),
            case("a_ccnp_empty_from_endpoints_does_not_admit_the_host")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(ccnp("all-pods", "ingress: [{fromEndpoints: [{}]}]"))
                .default_deny(&["CCNP/all-pods"]),
            case("a_ccnp_label_selector_admits_matching_pods_of_any_namespace")
                .with(ccnp(
                    "prometheus-anywhere",
                    "ingress: [{fromEndpoints: [{matchLabels: {app.kubernetes.io/name: prometheus}}]}]",
                ))
                .allowed_by(&["CCNP/prometheus-anywhere"]),
            case("a_ccnp_namespace_label_selector_admits_the_labelled_namespace")
                .with(ccnp(
                    "team-obs",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": obs}}]}]"#,
                ))
                .allowed_by(&["CCNP/team-obs"]),
            case("a_ccnp_namespace_label_selector_rejects_other_namespaces")
                .from(S2)
                .with(ccnp(
                    "team-obs",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": obs}}]}]"#,
                ))
                .default_deny(&["CCNP/team-obs"]),
            case("a_ccnp_namespace_label_selector_admits_the_labelled_namespace_before_1_16")
                .on(1, 15)
                .with(ccnp(
                    "team-obs",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.cilium.k8s.namespace.labels.team": obs}}]}]"#,
                ))
                .allowed_by(&["CCNP/team-obs"]),
            case("a_ccnp_naming_a_namespace_admits_only_that_namespace")
                .from(S2)
                .with(ccnp(
                    "from-monitoring",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .default_deny(&["CCNP/from-monitoring"]),
        ],
    );
}

#[test]
fn r08_entities() {
    let ent = |e: &'static str, src: PodRef, name: &'static str| {
        case(name)
            .from(src)
            .cfg("allow-localhost", "policy")
            .with(allow_entities("entities", e))
    };
    const BY: &[&str] = &["CNP/app/entities"];
    check(
        "R8",
        vec![
            ent("all", S1, "all_admits_a_pod").allowed_by(BY),
            ent("all", S3, "all_admits_a_remote_node").allowed_by(BY),
            ent("all", S4, "all_admits_the_host").allowed_by(BY),
            ent("world", S1, "world_does_not_admit_a_pod").default_deny(BY),
            ent("world", S3, "world_does_not_admit_a_remote_node").default_deny(BY),
            ent("world-ipv4", S1, "world_ipv4_does_not_admit_a_pod").default_deny(BY),
            ent("world-ipv6", S1, "world_ipv6_does_not_admit_a_pod").default_deny(BY),
            ent("cluster", S2, "cluster_admits_a_pod_of_the_same_namespace").allowed_by(BY),
            ent("cluster", S3, "cluster_admits_a_remote_node").allowed_by(BY),
            ent("cluster", S4, "cluster_admits_the_host").allowed_by(BY),
            ent("host", S4, "host_admits_the_host").allowed_by(BY),
            ent("host", S1, "host_does_not_admit_a_pod").default_deny(BY),
            ent("remote-node", S3, "remote_node_admits_a_remote_node").allowed_by(BY),
            ent("remote-node", S1, "remote_node_does_not_admit_a_pod").default_deny(BY),
            ent("health", S1, "health_does_not_admit_a_pod").default_deny(BY),
            ent("init", S1, "init_does_not_admit_a_pod").default_deny(BY),
            ent("ingress", S1, "ingress_does_not_admit_a_pod").default_deny(BY),
            ent("unmanaged", S1, "unmanaged_does_not_admit_a_pod").default_deny(BY),
            ent("kube-apiserver", S1, "kube_apiserver_does_not_admit_a_pod").default_deny(BY),
            ent("none", S1, "none_admits_nothing").default_deny(BY),
            ent("none", S3, "none_does_not_admit_a_remote_node").default_deny(BY),
            ent("world, remote-node", S3, "entities_of_one_element_are_ored").allowed_by(BY),
        ],
    );
}

#[test]
fn r09_cidr() {
    let nodes = |name: &'static str| case(name).cfg("policy-cidr-match-mode", "nodes");
    check(
        "R9",
        vec![
            case("a_cidr_containing_the_pod_ip_exactly_never_matches_the_pod")
                .with(cnp("pod-ip", "ingress: [{fromCIDR: [10.0.2.10/32]}]"))
                .default_deny(&["CNP/app/pod-ip"]),
            case("a_cidr_set_covering_the_pod_network_never_matches_a_pod")
                .with(cnp("cidr-set", "ingress: [{fromCIDRSet: [{cidr: 10.0.0.0/8}]}]"))
                .default_deny(&["CNP/app/cidr-set"]),
            case("a_knp_ip_block_covering_the_pod_network_never_matches_a_pod")
                .with(knp(
                    "ip-block",
                    "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]",
                ))
                .default_deny(&["KNP/app/ip-block"]),
            case("a_cidr_covering_the_node_ips_does_not_match_a_host_network_pod_by_default")
                .from(S3)
                .with(cnp("nodes", "ingress: [{fromCIDR: [192.168.1.0/24]}]"))
                .default_deny(&["CNP/app/nodes"]),
            nodes("in_cidr_match_mode_nodes_a_cidr_covering_the_node_ip_admits_a_remote_node")
                .from(S3)
                .with(cnp("nodes", "ingress: [{fromCIDR: [192.168.1.0/24]}]"))
                .allowed_by(&["CNP/app/nodes"]),
            nodes("in_cidr_match_mode_nodes_a_cidr_covering_the_node_ip_admits_the_host")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(cnp("node-a", "ingress: [{fromCIDR: [192.168.1.10/32]}]"))
                .allowed_by(&["CNP/app/node-a"]),
            nodes("in_cidr_match_mode_nodes_a_cidr_missing_the_node_ip_does_not_admit_it")
                .from(S3)
                .with(cnp("elsewhere", "ingress: [{fromCIDR: [172.16.0.0/12]}]"))
                .default_deny(&["CNP/app/elsewhere"]),
            nodes("in_cidr_match_mode_nodes_a_cidr_still_never_matches_a_pod")
                .with(cnp("pod-cidr", "ingress: [{fromCIDR: [10.0.0.0/8]}]"))
                .default_deny(&["CNP/app/pod-cidr"]),
            nodes("in_cidr_match_mode_nodes_a_knp_ip_block_admits_a_remote_node")
                .from(S3)
                .with(knp(
                    "ip-block",
                    "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 192.168.0.0/16}}]}]",
                ))
                .allowed_by(&["KNP/app/ip-block"]),
            nodes("in_cidr_match_mode_nodes_an_ip_block_except_excludes_the_node_ip")
                .from(S3)
                .with(knp(
                    "ip-block-except",
                    "podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/28]}}]}]",
                ))
                .default_deny(&["KNP/app/ip-block-except"]),
            nodes("in_cidr_match_mode_nodes_a_cidr_set_except_excludes_the_node_ip")
                .from(S3)
                .with(cnp(
                    "cidr-set-except",
                    "ingress: [{fromCIDRSet: [{cidr: 192.168.0.0/16, except: [192.168.1.0/28]}]}]",
                ))
                .default_deny(&["CNP/app/cidr-set-except"]),
            nodes("in_cidr_match_mode_nodes_a_cidr_set_except_elsewhere_keeps_the_node_ip")
                .from(S3)
                .with(cnp(
                    "cidr-set-except",
                    "ingress: [{fromCIDRSet: [{cidr: 192.168.0.0/16, except: [192.168.2.0/24]}]}]",
                ))
                .allowed_by(&["CNP/app/cidr-set-except"]),
        ],
    );
}

#[test]
fn r10_from_nodes() {
    let from_nodes = || cnp("from-nodes", "ingress: [{fromNodes: [{}]}]");
    check(
        "R10",
        vec![
            case("from_nodes_admits_a_remote_node_with_node_selector_labels")
                .from(S3)
                .cfg("enable-node-selector-labels", "true")
                .with(from_nodes())
                .allowed_by(&["CNP/app/from-nodes"]),
            // The remote node's identity carries its Node's labels (source `node`) and the cluster
            // label: a selector on them picks nodes.
            case("from_nodes_selects_on_the_remote_nodes_labels")
                .from(S3)
                .cfg("enable-node-selector-labels", "true")
                .with(cnp(
                    "infra-nodes",
                    "ingress: [{fromNodes: [{matchLabels: {role: infra}}]}]",
                ))
                .allowed_by(&["CNP/app/infra-nodes"]),
            case("from_nodes_with_the_node_source_prefix_selects_the_same_labels")
                .from(S3)
                .cfg("enable-node-selector-labels", "true")
                .with(cnp(
                    "infra-nodes",
                    r#"ingress: [{fromNodes: [{matchLabels: {"node:role": infra}}]}]"#,
                ))
                .allowed_by(&["CNP/app/infra-nodes"]),
            case("from_nodes_does_not_admit_a_node_with_other_labels")
                .from(S3)
                .cfg("enable-node-selector-labels", "true")
                .with(cnp(
                    "worker-nodes",
                    "ingress: [{fromNodes: [{matchLabels: {role: worker}}]}]",
                ))
                .default_deny(&["CNP/app/worker-nodes"]),
            case("from_nodes_never_admits_the_host")
                .from(S4)
                .cfg("enable-node-selector-labels", "true")
                .cfg("allow-localhost", "policy")
                .with(from_nodes())
                .default_deny(&["CNP/app/from-nodes"]),
            case("from_nodes_never_admits_a_pod")
                .cfg("enable-node-selector-labels", "true")
                .with(from_nodes())
                .default_deny(&["CNP/app/from-nodes"]),
            // Without the flag Cilium's validation rejects the rule ("FromNodes/ToNodes rules can only be
            // applied when the enable-node-selector-labels flag is set"): the policy has no effect.
            case("from_nodes_without_node_selector_labels_does_not_admit_a_remote_node")
                .from(S3)
                .with(from_nodes())
                .with(deny_all("deny-all"))
                .invalid("CNP/app/from-nodes")
                .default_deny(&["CNP/app/deny-all"]),
            case("a_policy_with_from_nodes_without_node_selector_labels_is_rejected_whole")
                .with(from_nodes())
                .invalid("CNP/app/from-nodes")
                .not_enforced(),
        ],
    );
}

#[test]
fn r11_one_ingress_element_one_allow_entry() {
    let empty_list = |field: &str| {
        cnp(
            "empty-list",
            &format!(
                r#"ingress: [{{{field}: [], toPorts: [{{ports: [{{port: "15090", protocol: TCP}}]}}]}}]"#
            ),
        )
    };
    check(
        "R11",
        vec![
            case("combining_from_endpoints_and_from_entities_rejects_the_whole_policy")
                .with(cnp(
                    "mixed",
                    "ingress: [{fromEndpoints: [{matchLabels: {app: other}}], fromEntities: [world]}]",
                ))
                .invalid("CNP/app/mixed")
                .not_enforced(),
            case("a_rejected_policy_loses_its_valid_elements_too")
                .with(cnp(
                    "mixed",
                    r#"
                    ingress:
                    - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
                    - fromCIDR: [10.0.0.0/8]
                      fromEntities: [cluster]
                    "#,
                ))
                .with(deny_all("deny-all"))
                .invalid("CNP/app/mixed")
                .default_deny(&["CNP/app/deny-all"]),
            case("a_rejected_deny_policy_denies_nothing")
                .with(allow_entities("allow-all", "all"))
                .with(cnp(
                    "mixed-deny",
                    r#"ingressDeny: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}], fromEntities: [world]}]"#,
                ))
                .invalid("CNP/app/mixed-deny")
                .allowed_by(&["CNP/app/allow-all"]),
            case("a_ccnp_combining_two_peer_kinds_is_rejected_whole")
                .with(ccnp("mixed", "ingress: [{fromEntities: [world], fromCIDR: [1.2.3.4/32]}]"))
                .invalid("CCNP/mixed")
                .not_enforced(),
            case("from_groups_selects_cloud_addresses_and_never_a_pod")
                .with(cnp(
                    "groups",
                    "ingress: [{fromGroups: [{aws: {securityGroupsIds: [sg-1]}}]}]",
                ))
                .default_deny(&["CNP/app/groups"]),
            case("combining_from_groups_and_from_endpoints_rejects_the_whole_policy")
                .with(cnp(
                    "groups-mixed",
                    "ingress: [{fromGroups: [{aws: {securityGroupsIds: [sg-1]}}], fromEndpoints: [{}]}]",
                ))
                .invalid("CNP/app/groups-mixed")
                .not_enforced(),
            // Cilium's engine (the differential): an explicitly empty list beside a used peer kind is
            // no combination for the sanitiser, but the element then selects nothing.
            case("an_empty_list_beside_a_used_peer_kind_makes_the_element_select_nothing")
                .with(cnp(
                    "empty-beside",
                    "ingress: [{fromEndpoints: [], fromEntities: [cluster]}]",
                ))
                .default_deny(&["CNP/app/empty-beside"]),
            case("an_l7_rule_on_a_port_without_protocol_tcp_rejects_the_whole_policy")
                .with(cnp(
                    "l7-any",
                    r#"
                    ingress:
                    - fromEntities: [cluster]
                      toPorts: [{ports: [{port: "15090"}], rules: {http: [{method: GET}]}}]
                    "#,
                ))
                .invalid("CNP/app/l7-any")
                .not_enforced(),
            case("http_rules_written_under_ingress_deny_are_pruned_and_the_deny_holds")
                .with(allow_entities("allow-all", "all"))
                .with(cnp(
                    "deny-l7",
                    r#"
                    ingressDeny:
                    - fromEntities: [cluster]
                      toPorts: [{ports: [{port: "15090", protocol: TCP}], rules: {http: [{method: GET}]}}]
                    "#,
                ))
                .denied_by(&["CNP/app/deny-l7"]),
            case("selectors_inside_one_from_endpoints_are_ored")
                .with(cnp(
                    "either",
                    r#"ingress: [{fromEndpoints: [{matchLabels: {app: other}}, {matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .allowed_by(&["CNP/app/either"]),
            case("separate_elements_with_different_peer_kinds_are_ored")
                .from(S3)
                .with(cnp(
                    "two-elements",
                    "ingress: [{fromEndpoints: [{matchLabels: {app: other}}]}, {fromEntities: [remote-node]}]",
                ))
                .allowed_by(&["CNP/app/two-elements"]),
            case("an_l3_only_element_admits_every_port")
                .port(9999)
                .with(allow_entities("cluster", "cluster"))
                .allowed_by(&["CNP/app/cluster"]),
            case("an_l3_only_element_admits_a_declared_other_port")
                .port(8080)
                .with(allow_entities("cluster", "cluster"))
                .allowed_by(&["CNP/app/cluster"]),
            case("a_to_ports_only_element_admits_a_remote_node")
                .from(S3)
                .with(cnp("port-only", r#"ingress: [{toPorts: [{ports: [{port: "15090"}]}]}]"#))
                .allowed_by(&["CNP/app/port-only"]),
            case("a_to_ports_only_element_admits_the_host")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(cnp("port-only", r#"ingress: [{toPorts: [{ports: [{port: "15090"}]}]}]"#))
                .allowed_by(&["CNP/app/port-only"]),
            case("an_empty_element_does_not_admit_a_pod_of_the_same_namespace")
                .from(S2)
                .with(deny_all("deny-all"))
                .default_deny(&["CNP/app/deny-all"]),
            case("an_empty_element_does_not_admit_a_remote_node")
                .from(S3)
                .with(deny_all("deny-all"))
                .default_deny(&["CNP/app/deny-all"]),
            case("an_empty_element_next_to_an_allow_does_not_subtract_from_it")
                .with(cnp("deny-and-cluster", "ingress: [{}, {fromEntities: [cluster]}]"))
                .allowed_by(&["CNP/app/deny-and-cluster"]),
            // v1.15.19's engine still reads it as a wildcard (the differential); from 1.16 it is nothing.
            case("an_explicit_empty_from_endpoints_with_to_ports_is_still_a_wildcard_on_1_15")
                .on(1, 15)
                .with(empty_list("fromEndpoints"))
                .allowed_by(&["CNP/app/empty-list"]),
            case("an_explicit_empty_from_endpoints_selects_nothing_on_1_18")
                .with(empty_list("fromEndpoints"))
                .default_deny(&["CNP/app/empty-list"]),
            case("an_explicit_empty_from_endpoints_with_to_ports_was_a_wildcard_before_1_15")
                .on(1, 14)
                .with(empty_list("fromEndpoints"))
                .allowed_by(&["CNP/app/empty-list"]),
            case("an_explicit_empty_from_entities_with_to_ports_was_a_wildcard_before_1_15")
                .on(1, 14)
                .from(S3)
                .with(empty_list("fromEntities"))
                .allowed_by(&["CNP/app/empty-list"]),
            case("an_explicit_empty_from_entities_selects_nothing_on_1_16")
                .on(1, 16)
                .with(empty_list("fromEntities"))
                .default_deny(&["CNP/app/empty-list"]),
            case("an_explicit_empty_from_cidr_with_to_ports_was_a_wildcard_before_1_15")
                .on(1, 14)
                .with(empty_list("fromCIDR"))
                .allowed_by(&["CNP/app/empty-list"]),
            case("an_explicit_empty_from_cidr_selects_nothing_on_1_18")
                .with(empty_list("fromCIDR"))
                .default_deny(&["CNP/app/empty-list"]),
            case("an_explicit_empty_list_without_to_ports_allowed_nothing_before_1_15_either")
                .on(1, 14)
                .with(cnp("empty-list", "ingress: [{fromEndpoints: []}]"))
                .default_deny(&["CNP/app/empty-list"]),
            case("an_empty_ingress_list_has_no_effect")
                .with(cnp("no-ingress", "ingress: []"))
                .invalid("CNP/app/no-ingress")
                .not_enforced(),
            case("an_empty_ingress_list_does_not_lift_another_policy_default_deny")
                .with(cnp("no-ingress", "ingress: []"))
                .with(deny_all("deny-all"))
                .invalid("CNP/app/no-ingress")
                .default_deny(&["CNP/app/deny-all"]),
        ],
    );
}

#[test]
fn r12_to_ports() {
    let ports = |name: &'static str, ports: &str| {
        cnp(
            name,
            &format!(
                r#"
                ingress:
                - fromEndpoints: [{{matchLabels: {{"k8s:io.kubernetes.pod.namespace": monitoring}}}}]
                  toPorts: [{{ports: [{ports}]}}]
                "#
            ),
        )
    };
    let range = || ports("range", r#"{port: "15000", endPort: 15100, protocol: TCP}"#);
    let knp_range = || {
        knp(
            "knp-range",
            r#"
            podSelector: {matchLabels: {app: web}}
            ingress:
            - from: [{namespaceSelector: {matchLabels: {team: obs}}}]
              ports: [{port: 15000, endPort: 15100, protocol: TCP}]
            "#,
        )
    };
    let knp_ports = |ports: &str| {
        knp(
            "knp-ports",
            &format!(
                r#"
                podSelector: {{matchLabels: {{app: web}}}}
                ingress:
                - from: [{{namespaceSelector: {{matchLabels: {{team: obs}}}}}}]
                  ports: [{ports}]
                "#
            ),
        )
    };
    check(
        "R12",
        vec![
            case("protocol_tcp_matches")
                .with(ports("p", r#"{port: "15090", protocol: TCP}"#))
                .allowed_by(&["CNP/app/p"]),
            case("protocol_any_matches_tcp")
                .with(ports("p", r#"{port: "15090", protocol: ANY}"#))
                .allowed_by(&["CNP/app/p"]),
            case("an_omitted_protocol_matches_tcp")
                .with(ports("p", r#"{port: "15090"}"#))
                .allowed_by(&["CNP/app/p"]),
            case("protocol_udp_does_not_match_tcp")
                .with(ports("p", r#"{port: "15090", protocol: UDP}"#))
                .default_deny(&["CNP/app/p"]),
            case("protocol_sctp_does_not_match_tcp")
                .with(ports("p", r#"{port: "15090", protocol: SCTP}"#))
                .default_deny(&["CNP/app/p"]),
            case("port_zero_matches_every_port")
                .with(ports("p", r#"{port: "0", protocol: TCP}"#))
                .allowed_by(&["CNP/app/p"]),
            case("port_zero_over_udp_does_not_match_tcp")
                .with(ports("p", r#"{port: "0", protocol: UDP}"#))
                .default_deny(&["CNP/app/p"]),
            case("one_of_several_listed_ports_matching_is_enough")
                .with(ports(
                    "p",
                    r#"{port: "9090", protocol: TCP}, {port: "15090", protocol: TCP}"#,
                ))
                .allowed_by(&["CNP/app/p"]),
            case("an_end_port_range_covers_the_port_from_1_16")
                .on(1, 16)
                .with(range())
                .allowed_by(&["CNP/app/range"]),
            case("an_end_port_range_covers_the_port_on_1_18")
                .with(range())
                .allowed_by(&["CNP/app/range"]),
            case("an_end_port_range_starting_above_the_port_does_not_cover_it")
                .with(ports(
                    "p",
                    r#"{port: "15091", endPort: 15100, protocol: TCP}"#,
                ))
                .default_deny(&["CNP/app/p"]),
            case("a_cnp_end_port_is_ignored_on_1_15")
                .on(1, 15)
                .with(range())
                .default_deny(&["CNP/app/range"]),
            case("a_cnp_end_port_is_ignored_before_1_15_so_only_port_is_allowed")
                .on(1, 14)
                .with(range())
                .default_deny(&["CNP/app/range"]),
            case("an_ignored_end_port_still_allows_its_start_port")
                .on(1, 14)
                .with(ports(
                    "p",
                    r#"{port: "15090", endPort: 15100, protocol: TCP}"#,
                ))
                .allowed_by(&["CNP/app/p"]),
            case("a_knp_end_port_range_covers_the_port_from_1_16")
                .on(1, 16)
                .with(knp_range())
                .allowed_by(&["KNP/app/knp-range"]),
            // 1.15 accepts a KNP with endPort (its watcher only warns) and drops the endPort: only the
            // port itself counts (Cilium's own engine agrees).
            case("a_knp_end_port_is_dropped_on_1_15")
                .on(1, 15)
                .with(knp_range())
                .default_deny(&["KNP/app/knp-range"]),
            case("a_knp_with_end_port_still_admits_its_port_on_1_15")
                .on(1, 15)
                .port(15000)
                .with(knp_range())
                .allowed_by(&["KNP/app/knp-range"]),
            case("a_knp_end_port_is_ignored_before_1_15")
                .on(1, 14)
                .with(knp_range())
                .default_deny(&["KNP/app/knp-range"]),
            case("a_named_port_resolves_against_the_target_container_ports")
                .with(ports("named", r#"{port: http-envoy-prom, protocol: TCP}"#))
                .allowed_by(&["CNP/app/named"]),
            case("a_named_port_is_matched_case_insensitively")
                .with(ports("named", r#"{port: HTTP-Envoy-Prom, protocol: TCP}"#))
                .allowed_by(&["CNP/app/named"]),
            case("a_named_port_the_target_does_not_declare_matches_nothing")
                .with(ports("named", r#"{port: metrics, protocol: TCP}"#))
                .default_deny(&["CNP/app/named"]),
            case("a_named_port_of_another_number_does_not_match")
                .with(ports("named", r#"{port: http, protocol: TCP}"#))
                .default_deny(&["CNP/app/named"]),
            case("a_named_port_matches_its_own_number")
                .port(8080)
                .path("/metrics")
                .with(ports("named", r#"{port: http, protocol: TCP}"#))
                .allowed_by(&["CNP/app/named"]),
            case("a_named_port_with_an_incompatible_protocol_matches_nothing")
                .with(ports("named", r#"{port: http-envoy-prom, protocol: UDP}"#))
                .default_deny(&["CNP/app/named"]),
            // The docs say endPort is ignored for a named port; Cilium's engine (the differential)
            // extends the port the name resolves to (http: 8080) up to endPort.
            case("end_port_extends_a_named_port_to_a_range")
                .with(ports(
                    "named",
                    r#"{port: http, endPort: 15100, protocol: TCP}"#,
                ))
                .allowed_by(&["CNP/app/named"]),
            // UNCERTAIN in the spec: only spec.containers are read for named ports.
            case("a_named_port_of_a_native_sidecar_init_container_is_not_resolved")
                .to(D_NATIVE_SIDECAR)
                .with(ports("named", r#"{port: http-envoy-prom, protocol: TCP}"#))
                .default_deny(&["CNP/app/named"]),
            case("a_numeric_port_reaches_a_native_sidecar")
                .to(D_NATIVE_SIDECAR)
                .with(ports("numeric", r#"{port: "15090", protocol: TCP}"#))
                .allowed_by(&["CNP/app/numeric"]),
            case("a_knp_named_port_resolves_against_the_target")
                .with(knp_ports("{port: http-envoy-prom}"))
                .allowed_by(&["KNP/app/knp-ports"]),
            case("a_knp_port_without_protocol_is_tcp")
                .with(knp_ports("{port: 15090}"))
                .allowed_by(&["KNP/app/knp-ports"]),
            case("a_knp_udp_port_does_not_match_tcp")
                .with(knp_ports("{port: 15090, protocol: UDP}"))
                .default_deny(&["KNP/app/knp-ports"]),
            case("a_knp_port_entry_without_port_allows_every_port_of_its_protocol")
                .port(9999)
                .with(knp_ports("{protocol: TCP}"))
                .allowed_by(&["KNP/app/knp-ports"]),
            case("a_knp_port_entry_without_port_over_udp_does_not_allow_tcp")
                .with(knp_ports("{protocol: UDP}"))
                .default_deny(&["KNP/app/knp-ports"]),
        ],
    );
}

#[test]
fn r13_l7_http() {
    let l7 = |name: &'static str, http: &str| {
        cnp(
            name,
            &format!(
                r#"
                ingress:
                - fromEndpoints: [{{matchLabels: {{"k8s:io.kubernetes.pod.namespace": monitoring}}}}]
                  toPorts:
                  - ports: [{{port: "15090", protocol: TCP}}]
                    rules: {{http: [{http}]}}
                "#
            ),
        )
    };
    check(
        "R13",
        vec![
            case("a_request_matching_the_http_rule_is_allowed")
                .with(l7("l7", "{method: GET, path: /stats/prometheus}"))
                .l7_allowed(&["CNP/app/l7"]),
            case("a_path_regex_matching_the_request_is_allowed")
                .with(l7("l7", "{method: GET, path: /stats/.*}"))
                .l7_allowed(&["CNP/app/l7"]),
            case("a_path_regex_is_anchored_so_a_prefix_does_not_match")
                .with(l7("l7", "{method: GET, path: /stats}"))
                .l7_denied(&["CNP/app/l7"]),
            case("a_method_other_than_get_answers_403")
                .with(l7("l7", "{method: POST, path: /stats/prometheus}"))
                .l7_denied(&["CNP/app/l7"]),
            case("a_required_header_prometheus_does_not_send_answers_403")
                .with(l7("l7", "{method: GET, path: /stats/prometheus, headers: [X-Scrape-Token]}"))
                .l7_denied(&["CNP/app/l7"]),
            case("http_rules_of_several_policies_are_unioned")
                .with(l7("l7-metrics", "{method: GET, path: /metrics}"))
                .with(l7("l7-stats", "{method: GET, path: /stats/prometheus}"))
                .l7_allowed(&["CNP/app/l7-stats"]),
            case("http_rules_of_one_list_are_unioned")
                .with(l7("l7", "{method: GET, path: /metrics}, {method: GET, path: /stats/prometheus}"))
                .l7_allowed(&["CNP/app/l7"]),
            case("a_403_names_every_policy_whose_http_rules_apply")
                .with(l7("l7-a", "{method: GET, path: /metrics}"))
                .with(l7("l7-b", "{method: GET, path: /healthz}"))
                .l7_denied(&["CNP/app/l7-a", "CNP/app/l7-b"]),
            case("an_l4_only_rule_for_the_same_peer_and_port_shadows_the_http_rules")
                .with(l7("l7-metrics", "{method: GET, path: /metrics}"))
                .with(allow_monitoring("l4-monitoring"))
                .allowed_by(&["CNP/app/l4-monitoring"]),
            case("an_l3_only_rule_covering_the_peer_shadows_the_http_rules")
                .with(l7("l7-metrics", "{method: GET, path: /metrics}"))
                .with(allow_entities("cluster", "cluster"))
                .allowed_by(&["CNP/app/cluster"]),
            case("an_l4_only_port_rule_next_to_the_http_rule_shadows_it")
                .with(cnp(
                    "l4-and-l7",
                    r#"
                    ingress:
                    - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
                      toPorts:
                      - ports: [{port: "15090", protocol: TCP}]
                        rules: {http: [{method: GET, path: /metrics}]}
                      - ports: [{port: "15090", protocol: TCP}]
                    "#,
                ))
                .allowed_by(&["CNP/app/l4-and-l7"]),
            case("an_l4_only_rule_for_another_peer_does_not_shadow_the_http_rules")
                .with(l7("l7-metrics", "{method: GET, path: /metrics}"))
                .with(cnp(
                    "l4-other",
                    r#"
                    ingress:
                    - fromEndpoints: [{matchLabels: {app: other}}]
                      toPorts: [{ports: [{port: "15090", protocol: TCP}]}]
                    "#,
                ))
                .l7_denied(&["CNP/app/l7-metrics"]),
            case("an_http_rule_on_another_port_does_not_affect_15090")
                .with(allow_monitoring("l4-monitoring"))
                .with(cnp(
                    "l7-8080",
                    r#"
                    ingress:
                    - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
                      toPorts:
                      - ports: [{port: "8080", protocol: TCP}]
                        rules: {http: [{method: GET, path: /metrics}]}
                    "#,
                ))
                .allowed_by(&["CNP/app/l4-monitoring"]),
            case("an_http_rule_on_a_wildcard_peer_answers_403_to_a_remote_node_too")
                .from(S3)
                .with(cnp(
                    "l7-anyone",
                    r#"
                    ingress:
                    - toPorts:
                      - ports: [{port: "15090", protocol: TCP}]
                        rules: {http: [{method: GET, path: /metrics}]}
                    "#,
                ))
                .l7_denied(&["CNP/app/l7-anyone"]),
            // The gotcha of §5 (intro.rst warning, removed in 1.18): asserted where it was documented.
            case("enable_default_deny_false_does_not_relax_http_rules_on_1_17")
                .on(1, 17)
                .with(cnp(
                    "l7-no-default-deny",
                    r#"
                    enableDefaultDeny: {ingress: false}
                    ingress:
                    - fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]
                      toPorts:
                      - ports: [{port: "15090", protocol: TCP}]
                        rules: {http: [{method: GET, path: /metrics}]}
                    "#,
                ))
                .l7_denied(&["CNP/app/l7-no-default-deny"]),
        ],
    );
}

#[test]
fn r14_from_requires() {
    let requires =
        |name: &'static str, sel: &str| cnp(name, &format!("ingress: [{{fromRequires: [{sel}]}}]"));
    const GRAFANA: &str = r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring, app.kubernetes.io/name: grafana}}"#;
    const PROMETHEUS: &str = r#"{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring, app.kubernetes.io/name: prometheus}}"#;
    check(
        "R14",
        vec![
            case("an_unmet_from_requires_of_another_policy_constrains_from_endpoints")
                .with(allow_monitoring("allow-monitoring"))
                .with(requires("requires-grafana", GRAFANA))
                .default_deny(&["CNP/app/allow-monitoring", "CNP/app/requires-grafana"]),
            case("from_requires_still_applies_on_1_17_where_it_is_deprecated")
                .on(1, 17)
                .with(allow_monitoring("allow-monitoring"))
                .with(requires("requires-grafana", GRAFANA))
                .default_deny(&["CNP/app/allow-monitoring", "CNP/app/requires-grafana"]),
            case("from_requires_is_gone_in_1_19")
                .on(1, 19)
                .with(allow_monitoring("allow-monitoring"))
                .with(requires("requires-grafana", GRAFANA))
                .invalid("CNP/app/requires-grafana")
                .allowed_by(&["CNP/app/allow-monitoring"]),
            case("a_met_from_requires_keeps_the_allow")
                .with(allow_monitoring("allow-monitoring"))
                .with(requires("requires-prometheus", PROMETHEUS))
                .allowed_by(&["CNP/app/allow-monitoring"]),
            case("from_requires_does_not_constrain_from_entities")
                .with(allow_entities("cluster", "cluster"))
                .with(requires("requires-grafana", GRAFANA))
                .allowed_by(&["CNP/app/cluster"]),
            case("from_requires_does_not_constrain_a_to_ports_only_wildcard")
                .with(cnp("port-only", r#"ingress: [{toPorts: [{ports: [{port: "15090", protocol: TCP}]}]}]"#))
                .with(requires("requires-grafana", GRAFANA))
                .allowed_by(&["CNP/app/port-only"]),
            // UNCERTAIN in the spec (inferred from code): requirements get the policy namespace injected.
            case("a_from_requires_without_namespace_implicitly_requires_the_policy_namespace")
                .with(allow_monitoring("allow-monitoring"))
                .with(requires(
                    "requires-prometheus",
                    "{matchLabels: {app.kubernetes.io/name: prometheus}}",
                ))
                .default_deny(&["CNP/app/allow-monitoring", "CNP/app/requires-prometheus"]),
            case("from_requires_on_its_own_allows_nothing")
                .with(requires("requires-prometheus", PROMETHEUS))
                .default_deny(&["CNP/app/requires-prometheus"]),
            case("from_requires_of_a_policy_not_selecting_the_target_has_no_effect")
                .with(allow_monitoring("allow-monitoring"))
                .with(cnp_spec(
                    "requires-elsewhere",
                    "app",
                    &format!(
                        "endpointSelector: {{matchLabels: {{app: other}}}}\ningress: [{{fromRequires: [{GRAFANA}]}}]"
                    ),
                ))
                .allowed_by(&["CNP/app/allow-monitoring"]),
            case("from_requires_in_the_same_element_constrains_its_from_endpoints")
                .with(cnp(
                    "same-element",
                    &format!(
                        r#"ingress: [{{fromEndpoints: [{{matchLabels: {{"k8s:io.kubernetes.pod.namespace": monitoring}}}}], fromRequires: [{GRAFANA}]}}]"#
                    ),
                ))
                .default_deny(&["CNP/app/same-element"]),
            // rules.go keeps two requirement sets: those of `ingress` constrain allows, those of
            // `ingressDeny` constrain denies.
            case("from_requires_of_an_ingress_deny_element_does_not_constrain_allows")
                .with(allow_monitoring("allow-monitoring"))
                .with(cnp(
                    "deny-evil",
                    &format!(
                        "ingressDeny: [{{fromEndpoints: [{{matchLabels: {{app: evil}}}}], fromRequires: [{GRAFANA}]}}]"
                    ),
                ))
                .allowed_by(&["CNP/app/allow-monitoring"]),
            case("from_requires_of_an_ingress_element_does_not_constrain_denies")
                .with(allow_entities("allow-all", "all"))
                .with(requires("requires-grafana", GRAFANA))
                .with(cnp(
                    "deny-monitoring",
                    r#"ingressDeny: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .denied_by(&["CNP/app/deny-monitoring"]),
        ],
    );
}

#[test]
fn r15_kubernetes_network_policy() {
    let from = |name: &'static str, from: &str| {
        knp(
            name,
            &format!("podSelector: {{matchLabels: {{app: web}}}}\ningress: [{{from: [{from}]}}]"),
        )
    };
    let ns_not_in_app = || {
        from(
            "not-app",
            "{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [app]}]}}",
        )
    };
    check(
        "R15",
        vec![
            case("a_knp_pod_selector_peer_admits_only_the_policy_namespace")
                .with(from("pods", "{podSelector: {}}"))
                .default_deny(&["KNP/app/pods"]),
            case("a_knp_pod_selector_peer_admits_a_pod_of_the_policy_namespace")
                .from(S2)
                .with(from("pods", "{podSelector: {matchLabels: {app: other}}}"))
                .allowed_by(&["KNP/app/pods"]),
            case("a_knp_empty_namespace_selector_admits_pods_of_every_namespace")
                .with(from("all-ns", "{namespaceSelector: {}}"))
                .allowed_by(&["KNP/app/all-ns"]),
            case("a_knp_empty_namespace_selector_does_not_admit_a_remote_node")
                .from(S3)
                .with(from("all-ns", "{namespaceSelector: {}}"))
                .default_deny(&["KNP/app/all-ns"]),
            case("a_knp_namespace_selector_rejects_an_unlabelled_namespace")
                .from(S2)
                .with(from("team-obs", "{namespaceSelector: {matchLabels: {team: obs}}}"))
                .default_deny(&["KNP/app/team-obs"]),
            case("a_knp_namespace_not_in_admits_another_namespace")
                .with(ns_not_in_app())
                .allowed_by(&["KNP/app/not-app"]),
            case("a_knp_namespace_not_in_rejects_the_excluded_namespace")
                .from(S2)
                .with(ns_not_in_app())
                .default_deny(&["KNP/app/not-app"]),
            case("a_knp_namespace_not_in_over_selects_a_remote_node_before_the_fix")
                .from(S3)
                .with(ns_not_in_app())
                .allowed_by(&["KNP/app/not-app"]),
            case("a_knp_namespace_not_in_no_longer_selects_a_remote_node_in_the_newest_version")
                .from(S3)
                .on(1, 19)
                .with(ns_not_in_app())
                .default_deny(&["KNP/app/not-app"]),
            case("namespace_and_pod_selector_in_one_item_are_anded_and_both_match")
                .with(from(
                    "and",
                    "{namespaceSelector: {matchLabels: {team: obs}}, podSelector: {matchLabels: {app.kubernetes.io/name: prometheus}}}",
                ))
                .allowed_by(&["KNP/app/and"]),
            case("namespace_and_pod_selector_in_one_item_are_anded_and_the_pod_misses")
                .with(from(
                    "and",
                    "{namespaceSelector: {matchLabels: {team: obs}}, podSelector: {matchLabels: {app.kubernetes.io/name: grafana}}}",
                ))
                .default_deny(&["KNP/app/and"]),
            case("a_knp_without_from_admits_every_identity")
                .from(S3)
                .with(knp(
                    "no-from",
                    "podSelector: {matchLabels: {app: web}}\ningress: [{ports: [{port: 15090}]}]",
                ))
                .allowed_by(&["KNP/app/no-from"]),
            case("a_knp_with_empty_from_admits_every_identity")
                .from(S3)
                .with(knp(
                    "empty-from",
                    "podSelector: {matchLabels: {app: web}}\ningress: [{from: [], ports: [{port: 15090}]}]",
                ))
                .allowed_by(&["KNP/app/empty-from"]),
            case("a_knp_empty_ingress_rule_admits_everything")
                .from(S3)
                .with(knp("allow-all", "podSelector: {}\ningress: [{}]"))
                .allowed_by(&["KNP/app/allow-all"]),
            case("a_knp_without_policy_types_or_ingress_is_an_ingress_default_deny")
                .with(knp("default-deny", "podSelector: {}"))
                .default_deny(&["KNP/app/default-deny"]),
            case("a_knp_with_both_policy_types_and_no_ingress_is_an_ingress_default_deny")
                .with(knp("default-deny", "podSelector: {}\npolicyTypes: [Ingress, Egress]"))
                .default_deny(&["KNP/app/default-deny"]),
            case("an_egress_only_knp_has_no_ingress_effect")
                .with(knp("egress-only", "podSelector: {}\npolicyTypes: [Egress]"))
                .not_enforced(),
            // UNCERTAIN in practice, but the spec is explicit: ingress rules are translated anyway.
            case("ingress_rules_are_translated_even_when_policy_types_omits_ingress")
                .with(knp(
                    "egress-typed",
                    "podSelector: {}\npolicyTypes: [Egress]\ningress: [{from: [{namespaceSelector: {matchLabels: {team: other}}}]}]",
                ))
                .default_deny(&["KNP/app/egress-typed"]),
            case("a_knp_is_default_deny_even_next_to_a_non_default_deny_cnp")
                .with(cnp(
                    "no-default-deny",
                    "enableDefaultDeny: {ingress: false}\ningress: [{fromEndpoints: [{matchLabels: {app: other}}]}]",
                ))
                .with(from("team-other", "{namespaceSelector: {matchLabels: {team: other}}}"))
                .default_deny(&["KNP/app/team-other"]),
        ],
    );
}

// -------------------------------------------------------------------------------------------------
// §4 Decision procedure.

#[test]
fn d1_enforcement_modes() {
    check(
        "D1",
        vec![
            case("enforcement_never_allows_despite_a_default_deny")
                .cfg("enable-policy", "never")
                .with(deny_all("deny-all"))
                .expect(NetVerdict::Allowed, Basis::PolicyDisabled, "D1", &[]),
            case("enforcement_never_allows_despite_a_deny")
                .cfg("enable-policy", "never")
                .with(cnp("deny-monitoring", r#"ingressDeny: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#))
                .expect(NetVerdict::Allowed, Basis::PolicyDisabled, "D1", &[]),
            case("enforcement_always_denies_when_no_rule_selects_the_target")
                .cfg("enable-policy", "always")
                .default_deny(&[])
                .mentions("enable-policy=always"),
            // `always` isolates the scraper's egress too (semantics/cilium-egress.md E3): the row opens
            // it, so that the target's ingress decides.
            case("enforcement_always_still_honours_allows")
                .cfg("enable-policy", "always")
                .with(allow_monitoring("allow-monitoring"))
                .with(cnp_spec("scraper-egress", "monitoring", "endpointSelector: {}\negress: [{toEntities: [all]}]"))
                .allowed_by(&["CNP/app/allow-monitoring"]),
            case("enforcement_always_overrides_enable_default_deny_false")
                .cfg("enable-policy", "always")
                .with(cnp(
                    "no-default-deny",
                    "enableDefaultDeny: {ingress: false}\ningress: [{fromEndpoints: [{matchLabels: {app: other}}]}]",
                ))
                .default_deny(&[]),
            case("enforcement_always_keeps_allow_localhost")
                .from(S4)
                .cfg("enable-policy", "always")
                .localhost(),
            case("enforcement_default_written_out_behaves_as_the_default")
                .cfg("enable-policy", "default")
                .not_enforced(),
            case("audit_mode_allows_a_default_deny_drop_and_says_so")
                .cfg("policy-audit-mode", "true")
                .with(deny_all("deny-all"))
                .expect(NetVerdict::Allowed, Basis::AuditMode, "D1", &["CNP/app/deny-all"]),
            case("audit_mode_allows_a_deny_match_and_says_so")
                .cfg("policy-audit-mode", "true")
                .with(cnp("deny-monitoring", r#"ingressDeny: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#))
                .expect(NetVerdict::Allowed, Basis::AuditMode, "D1", &["CNP/app/deny-monitoring"]),
            case("audit_mode_leaves_an_allowed_scrape_as_it_is")
                .cfg("policy-audit-mode", "true")
                .with(allow_monitoring("allow-monitoring"))
                .allowed_by(&["CNP/app/allow-monitoring"]),
        ],
    );
}

#[test]
fn d2_rules_selecting_the_target() {
    check(
        "D2",
        vec![
            case("a_cnp_of_another_namespace_with_empty_selector_does_not_select_the_target")
                .with(cnp_spec(
                    "monitoring-isolation",
                    "monitoring",
                    "endpointSelector: {}\ningress: [{}]",
                ))
                .not_enforced(),
            case("cnp_ccnp_and_knp_all_select_the_target_and_all_make_it_default_deny")
                .with(deny_all("cnp-deny"))
                .with(ccnp("ccnp-deny", "ingress: [{}]"))
                .with(knp("knp-deny", "podSelector: {}\npolicyTypes: [Ingress]"))
                .default_deny(&["CNP/app/cnp-deny", "CCNP/ccnp-deny", "KNP/app/knp-deny"]),
            case("a_target_labelled_differently_is_not_selected_by_label_selectors")
                .with(knp(
                    "others",
                    "podSelector: {matchLabels: {app: other}}\npolicyTypes: [Ingress]",
                ))
                .with(ccnp_spec(
                    "others",
                    "endpointSelector: {matchLabels: {app: other}}\ningress: [{}]",
                ))
                .not_enforced(),
        ],
    );
}

#[test]
fn d3_ingress_enforcement() {
    check(
        "D3",
        vec![
            case("an_egress_only_cnp_does_not_enforce_ingress")
                .with(cnp("egress-only", "egress: [{toEntities: [world]}]"))
                .not_enforced(),
            case("empty_ingress_and_ingress_deny_lists_do_not_enforce_ingress")
                .with(cnp("empty-lists", "ingress: []\ningressDeny: []"))
                .invalid("CNP/app/empty-lists")
                .not_enforced(),
            case("an_ingress_deny_only_cnp_enforces_ingress")
                .with(cnp("deny-other", "ingressDeny: [{fromEndpoints: [{matchLabels: {app: other}}]}]"))
                .default_deny(&["CNP/app/deny-other"]),
            case("a_knp_enforces_ingress")
                .with(knp("team-obs", "podSelector: {}\ningress: [{from: [{namespaceSelector: {matchLabels: {team: obs}}}]}]"))
                .allowed_by(&["KNP/app/team-obs"]),
        ],
    );
}

#[test]
fn d4_default_deny() {
    let no_dd = |name: &'static str| {
        cnp(
            name,
            "enableDefaultDeny: {ingress: false}\ningress: [{fromEndpoints: [{matchLabels: {app: other}}]}]",
        )
    };
    let deny_only = |name: &'static str, dd: &str| {
        cnp(
            name,
            &format!("{dd}ingressDeny: [{{fromEndpoints: [{{matchLabels: {{app: other}}}}]}}]"),
        )
    };
    check(
        "D4",
        vec![
            case("enable_default_deny_false_leaves_other_peers_allowed_from_1_16")
                .on(1, 16)
                .with(no_dd("no-default-deny"))
                .no_default_deny(),
            case("enable_default_deny_false_leaves_other_peers_allowed_on_1_18")
                .with(no_dd("no-default-deny"))
                .no_default_deny(),
            case("enable_default_deny_does_not_exist_on_1_15")
                .on(1, 15)
                .with(no_dd("no-default-deny"))
                .default_deny(&["CNP/app/no-default-deny"]),
            case("enable_non_default_deny_policies_false_forces_default_deny_on_1_17")
                .on(1, 17)
                .cfg("enable-non-default-deny-policies", "false")
                .with(no_dd("no-default-deny"))
                .default_deny(&["CNP/app/no-default-deny"]),
            case("enable_non_default_deny_policies_does_not_exist_on_1_16")
                .on(1, 16)
                .cfg("enable-non-default-deny-policies", "false")
                .with(no_dd("no-default-deny"))
                .no_default_deny(),
            case("enable_non_default_deny_policies_true_keeps_the_flag")
                .cfg("enable-non-default-deny-policies", "true")
                .with(no_dd("no-default-deny"))
                .no_default_deny(),
            case("a_non_default_deny_rule_still_admits_its_own_peer")
                .from(S2)
                .with(no_dd("no-default-deny"))
                .allowed_by(&["CNP/app/no-default-deny"]),
            case("an_ingress_deny_only_policy_makes_the_target_default_deny")
                .with(deny_only("deny-other", ""))
                .default_deny(&["CNP/app/deny-other"]),
            case("an_ingress_deny_only_policy_with_default_deny_false_leaves_others_allowed")
                .with(deny_only("deny-other", "enableDefaultDeny: {ingress: false}\n"))
                .no_default_deny(),
            case("an_ingress_deny_only_policy_with_default_deny_false_still_denies_its_peer")
                .from(S2)
                .with(deny_only("deny-other", "enableDefaultDeny: {ingress: false}\n"))
                .denied_by(&["CNP/app/deny-other"]),
            case("the_documented_deny_pattern_pairs_the_deny_with_an_allow_of_all")
                .with(cnp(
                    "deny-other-allow-all",
                    "ingress: [{fromEntities: [all]}]\ningressDeny: [{fromEndpoints: [{matchLabels: {app: other}}]}]",
                ))
                .allowed_by(&["CNP/app/deny-other-allow-all"]),
            case("one_default_deny_rule_among_non_default_deny_rules_makes_the_target_default_deny")
                .with(no_dd("no-default-deny"))
                .with(cnp("team-other", "ingress: [{fromEndpoints: [{matchLabels: {\"k8s:io.kubernetes.pod.namespace\": team-other}}]}]"))
                .default_deny(&["CNP/app/team-other"]),
            case("enable_default_deny_true_without_ingress_rules_does_not_enforce")
                .with(cnp("flag-only", "enableDefaultDeny: {ingress: true}\ningress: []"))
                .invalid("CNP/app/flag-only")
                .not_enforced(),
            case("a_ccnp_with_default_deny_false_does_not_make_the_target_default_deny")
                .with(ccnp(
                    "ccnp-no-default-deny",
                    "enableDefaultDeny: {ingress: false}\ningress: [{fromEntities: [world]}]",
                ))
                .no_default_deny(),
        ],
    );
}

#[test]
fn d5_verdict() {
    let deny_monitoring = |name: &'static str, ports: &str| {
        cnp(
            name,
            &format!(
                r#"ingressDeny: [{{fromEndpoints: [{{matchLabels: {{"k8s:io.kubernetes.pod.namespace": monitoring}}}}]{ports}}}]"#
            ),
        )
    };
    check(
        "D5",
        vec![
            // D5.1
            case("a_ccnp_deny_beats_a_cnp_allow")
                .with(allow_monitoring("allow-monitoring"))
                .with(ccnp(
                    "ccnp-deny",
                    r#"ingressDeny: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#,
                ))
                .denied_by(&["CCNP/ccnp-deny"]),
            case("a_cnp_deny_beats_a_knp_allow")
                .with(knp("knp-allow", "podSelector: {}\ningress: [{from: [{namespaceSelector: {}}]}]"))
                .with(deny_monitoring("deny-monitoring", ""))
                .denied_by(&["CNP/app/deny-monitoring"]),
            case("a_deny_on_the_scrape_port_denies")
                .with(allow_entities("allow-all", "all"))
                .with(deny_monitoring("deny-15090", r#", toPorts: [{ports: [{port: "15090", protocol: TCP}]}]"#))
                .denied_by(&["CNP/app/deny-15090"]),
            case("a_deny_on_another_port_does_not_deny")
                .with(allow_entities("allow-all", "all"))
                .with(deny_monitoring("deny-9090", r#", toPorts: [{ports: [{port: "9090", protocol: TCP}]}]"#))
                .allowed_by(&["CNP/app/allow-all"]),
            case("a_deny_for_another_peer_does_not_deny")
                .with(allow_entities("allow-all", "all"))
                .with(cnp("deny-other", "ingressDeny: [{fromEndpoints: [{matchLabels: {app: other}}]}]"))
                .allowed_by(&["CNP/app/allow-all"]),
            // UNCERTAIN in the spec: an explicit deny still wins over allow-localhost.
            case("a_deny_of_the_host_beats_allow_localhost")
                .from(S4)
                .with(cnp("deny-host", "ingressDeny: [{fromEntities: [host]}]"))
                .denied_by(&["CNP/app/deny-host"]),
            // D5.2
            case("allows_of_a_ccnp_and_a_cnp_are_unioned")
                .with(ccnp("ccnp-monitoring", r#"ingress: [{fromEndpoints: [{matchLabels: {"k8s:io.kubernetes.pod.namespace": monitoring}}]}]"#))
                .with(deny_all("deny-all"))
                .allowed_by(&["CCNP/ccnp-monitoring"]),
            // D5.3: decided_by names exactly the policies that made the pod default-deny.
            case("a_default_deny_drop_names_every_default_deny_policy_and_nothing_else")
                .with(deny_all("deny-all"))
                .with(allow_monitoring("allow-9090-instead").replace("15090", "9090"))
                .with(cnp("egress-only", "egress: [{toEntities: [world]}]"))
                .with(no_default_deny_allow("no-default-deny"))
                .with(cnp_spec("others-isolated", "app", "endpointSelector: {matchLabels: {app: other}}\ningress: [{}]"))
                .default_deny(&["CNP/app/allow-9090-instead", "CNP/app/deny-all"]),
            // D5.4
            case("allow_localhost_admits_the_host_through_a_default_deny")
                .from(S4)
                .with(deny_all("deny-all"))
                .localhost(),
            case("allow_localhost_always_written_out_admits_the_host")
                .from(S4)
                .cfg("allow-localhost", "always")
                .with(deny_all("deny-all"))
                .localhost(),
            case("allow_localhost_auto_is_always_in_kubernetes")
                .from(S4)
                .cfg("allow-localhost", "auto")
                .with(deny_all("deny-all"))
                .localhost(),
            case("allow_localhost_policy_subjects_the_host_to_the_policy")
                .from(S4)
                .cfg("allow-localhost", "policy")
                .with(deny_all("deny-all"))
                .default_deny(&["CNP/app/deny-all"]),
            case("allow_localhost_does_not_admit_a_remote_node")
                .from(S3)
                .with(deny_all("deny-all"))
                .default_deny(&["CNP/app/deny-all"]),
        ],
    );
}

/// A CNP that admits `app=other` and keeps the pod out of default-deny (D4).
fn no_default_deny_allow(name: &str) -> String {
    cnp(
        name,
        "enableDefaultDeny: {ingress: false}\ningress: [{fromEndpoints: [{matchLabels: {app: other}}]}]",
    )
}
