//! Cilium `cilium.io/v2` CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (one rule schema), written
//! from Cilium v1.19's CRDs. Rules the agent's own sanitiser rejects after the API server stored them are a
//! different matter (`InvalidPolicy`, `src/cilium/`); this is only what the API server refuses.

use std::sync::Arc;

use serde_json::json;

use super::super::shape::{
    array, boolean, int32, int_or_string, integer, map, obj, string, Format, Shape,
};
use super::{root, CrdSchema};

const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const PORT: &str = r"^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})|([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$";
const FQDN_NAME: &str = r"^([-a-zA-Z0-9_]+[.]?)+$";
const FQDN_PATTERN: &str = r"^([-a-zA-Z0-9_*]+[.]?)+$";
const ICMP_TYPE: &str = "^([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]|EchoReply|DestinationUnreachable|Redirect|Echo|RouterAdvertisement|RouterSelection|TimeExceeded|ParameterProblem|Timestamp|TimestampReply|Photuris|ExtendedEchoRequest|ExtendedEcho Reply|PacketTooBig|ParameterProblem|EchoRequest|MulticastListenerQuery|MulticastListenerReport|MulticastListenerDone|RouterSolicitation|RouterAdvertisement|NeighborSolicitation|NeighborAdvertisement|RedirectMessage|RouterRenumbering|ICMPNodeInformationQuery|ICMPNodeInformationResponse|InverseNeighborDiscoverySolicitation|InverseNeighborDiscoveryAdvertisement|HomeAgentAddressDiscoveryRequest|HomeAgentAddressDiscoveryReply|MobilePrefixSolicitation|MobilePrefixAdvertisement|DuplicateAddressRequestCodeSuffix|DuplicateAddressConfirmationCodeSuffix)$";

/// Cilium's EndpointSelector / LabelSelector.
fn selector() -> Shape {
    obj([
        (
            "matchExpressions",
            array(
                obj([
                    ("key", string()),
                    (
                        "operator",
                        string().enums(&["In", "NotIn", "Exists", "DoesNotExist"]),
                    ),
                    ("values", array(string())),
                ])
                .req(&["key", "operator"]),
            ),
        ),
        (
            "matchLabels",
            map(string().max_len(63).pattern(LABEL_VALUE)),
        ),
    ])
}

fn cidr() -> Shape {
    string().format(Format::Cidr)
}

fn one_required(names: &[&str]) -> Vec<Shape> {
    names.iter().map(|n| Shape::requiring(&[n])).collect()
}

fn cidr_set() -> Shape {
    obj([
        ("cidr", cidr()),
        ("cidrGroupRef", string().max_len(253).pattern(DNS_SUBDOMAIN)),
        ("cidrGroupSelector", selector()),
        ("except", array(cidr())),
    ])
    .one_of(one_required(&["cidr", "cidrGroupRef", "cidrGroupSelector"]))
}

fn entities() -> Shape {
    array(string().enums(&[
        "all",
        "world",
        "cluster",
        "host",
        "init",
        "ingress",
        "unmanaged",
        "remote-node",
        "health",
        "none",
        "kube-apiserver",
    ]))
}

fn groups() -> Shape {
    array(obj([(
        "aws",
        obj([
            ("labels", map(string())),
            ("region", string()),
            ("securityGroupsIds", array(string())),
            ("securityGroupsNames", array(string())),
        ]),
    )]))
}

fn icmps() -> Shape {
    array(obj([(
        "fields",
        array(
            obj([
                (
                    "family",
                    string().enums(&["IPv4", "IPv6"]).defaulted(json!("IPv4")),
                ),
                ("type", int_or_string().pattern(ICMP_TYPE)),
            ])
            .req(&["type"]),
        )
        .max_items(40),
    )]))
}

fn authentication() -> Shape {
    obj([(
        "mode",
        string().enums(&["disabled", "required", "test-always-fail"]),
    )])
    .req(&["mode"])
}

fn port_protocols() -> Shape {
    obj([
        ("endPort", int32().min(0.0).max(65535.0)),
        ("port", string().pattern(PORT)),
        (
            "protocol",
            string().enums(&["TCP", "UDP", "SCTP", "VRRP", "IGMP", "ANY"]),
        ),
    ])
}

fn fqdn_selector() -> Shape {
    obj([
        ("matchName", string().max_len(255).pattern(FQDN_NAME)),
        ("matchPattern", string().max_len(255).pattern(FQDN_PATTERN)),
    ])
    .one_of(one_required(&["matchName", "matchPattern"]))
}

fn tls() -> Shape {
    obj([
        ("certificate", string()),
        ("privateKey", string()),
        (
            "secret",
            obj([("name", string()), ("namespace", string())]).req(&["name"]),
        ),
        ("trustedCA", string()),
    ])
    .req(&["secret"])
}

fn l7_rules() -> Shape {
    obj([
        ("dns", array(fqdn_selector())),
        (
            "http",
            array(obj([
                (
                    "headerMatches",
                    array(
                        obj([
                            (
                                "mismatch",
                                string().enums(&["LOG", "ADD", "DELETE", "REPLACE"]),
                            ),
                            ("name", string().min_len(1)),
                            (
                                "secret",
                                obj([("name", string()), ("namespace", string())]).req(&["name"]),
                            ),
                            ("value", string()),
                        ])
                        .req(&["name"]),
                    ),
                ),
                ("headers", array(string())),
                ("host", string().format(Format::IdnHostname)),
                ("method", string()),
                ("path", string()),
            ])),
        ),
        (
            "kafka",
            array(obj([
                ("apiKey", string()),
                ("apiVersion", string()),
                ("clientID", string()),
                ("role", string().enums(&["produce", "consume"])),
                ("topic", string().max_len(255)),
            ])),
        ),
        ("l7", array(map(string()))),
        ("l7proto", string()),
    ])
    .one_of(one_required(&["http", "kafka", "dns", "l7proto"]))
}

/// An allow rule's toPorts entry (a deny rule's has only `ports`).
fn port_rule() -> Shape {
    obj([
        (
            "listener",
            obj([
                (
                    "envoyConfig",
                    obj([
                        (
                            "kind",
                            string().enums(&["CiliumEnvoyConfig", "CiliumClusterwideEnvoyConfig"]),
                        ),
                        ("name", string().min_len(1)),
                    ])
                    .req(&["name"]),
                ),
                ("name", string().min_len(1)),
                ("priority", integer().min(1.0).max(100.0)),
            ])
            .req(&["envoyConfig", "name"]),
        ),
        ("originatingTLS", tls()),
        ("ports", array(port_protocols()).max_items(40)),
        ("rules", l7_rules()),
        (
            "serverNames",
            array(
                string()
                    .max_len(255)
                    .pattern(r"^(\*?\*\.)?([-a-zA-Z0-9_]+\.?)+$"),
            )
            .min_items(1)
            .set(),
        ),
        ("terminatingTLS", tls()),
    ])
}

fn deny_port_rule() -> Shape {
    obj([("ports", array(port_protocols()))])
}

fn services() -> Shape {
    array(obj([
        (
            "k8sService",
            obj([("namespace", string()), ("serviceName", string())]),
        ),
        (
            "k8sServiceSelector",
            obj([("namespace", string()), ("selector", selector())]).req(&["selector"]),
        ),
    ]))
}

fn ingress(deny: bool) -> Shape {
    let mut s = obj([
        ("fromCIDR", array(cidr())),
        ("fromCIDRSet", array(cidr_set())),
        ("fromEndpoints", array(selector())),
        ("fromEntities", entities()),
        ("fromGroups", groups()),
        ("fromNodes", array(selector())),
        ("fromRequires", array(string()).max_items(0)),
        ("icmps", icmps()),
        (
            "toPorts",
            array(if deny { deny_port_rule() } else { port_rule() }),
        ),
    ]);
    if !deny {
        s = s.with([("authentication", authentication())]);
    }
    s
}

fn egress(deny: bool) -> Shape {
    let mut s = obj([
        ("icmps", icmps()),
        ("toCIDR", array(cidr())),
        ("toCIDRSet", array(cidr_set())),
        ("toEndpoints", array(selector())),
        ("toEntities", entities()),
        ("toGroups", groups()),
        ("toNodes", array(selector())),
        (
            "toPorts",
            array(if deny { deny_port_rule() } else { port_rule() }),
        ),
        ("toRequires", array(string()).max_items(0)),
        ("toServices", services()),
    ]);
    if !deny {
        s = s.with([
            ("authentication", authentication()),
            ("toFQDNs", array(fqdn_selector())),
        ]);
    }
    s
}

/// One rule (`spec`, or an item of `specs`).
fn rule() -> Shape {
    obj([
        ("description", string()),
        ("egress", array(egress(false))),
        ("egressDeny", array(egress(true))),
        (
            "enableDefaultDeny",
            obj([("egress", boolean()), ("ingress", boolean())]),
        ),
        ("endpointSelector", selector()),
        ("ingress", array(ingress(false))),
        ("ingressDeny", array(ingress(true))),
        (
            "labels",
            array(
                obj([("key", string()), ("source", string()), ("value", string())]).req(&["key"]),
            ),
        ),
        (
            "log",
            obj([("value", string().max_len(32).pattern(r"^\PC*$"))]),
        ),
        ("nodeSelector", selector()),
    ])
    .one_of(one_required(&["endpointSelector", "nodeSelector"]))
    .any_of(one_required(&[
        "ingress",
        "ingressDeny",
        "egress",
        "egressDeny",
    ]))
}

fn status() -> Shape {
    obj([
        (
            "conditions",
            array(
                obj([
                    ("lastTransitionTime", string().format(Format::DateTime)),
                    ("message", string()),
                    ("reason", string()),
                    ("status", string()),
                    ("type", string()),
                ])
                .req(&["status", "type"]),
            )
            .list_map(&["type"]),
        ),
        (
            "derivativePolicies",
            map(obj([
                ("annotations", map(string())),
                ("enforcing", boolean()),
                ("error", string()),
                ("lastUpdated", string().format(Format::DateTime)),
                ("localPolicyRevision", super::super::shape::int64()),
                ("ok", boolean()),
            ])),
        ),
    ])
}

pub fn schema(namespaced: bool) -> CrdSchema {
    let rule = Arc::new(rule());
    let body = obj([("status", status())])
        .with_arc("spec", &rule)
        .with([("specs", super::super::shape::array_of(&rule))])
        .req(&["metadata"]);
    CrdSchema {
        root: Arc::new(root(body)),
        status_subresource: true,
        namespaced,
    }
}
