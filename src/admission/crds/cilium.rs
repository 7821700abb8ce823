//! Cilium `cilium.io/v2` CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (one rule schema), written
//! from the CRDs of each Cilium minor `check` distinguishes (1.15 to 1.20: the API server validates against
//! the CRD the installed release ships, and these changed from release to release). Rules the agent's own
//! sanitiser rejects after the API server stored them are a different matter (`InvalidPolicy`,
//! `src/cilium/`); this is only what the API server refuses.

use std::sync::Arc;

use serde_json::json;

use super::super::shape::{
    array, boolean, int32, int_or_string, integer, map, obj, string, Format, Shape,
};
use super::{root, CrdSchema};
use crate::cilium::Version;

/// Whether the release is at least 1.`minor`.
fn at(v: Version, minor: u16) -> bool {
    v >= Version::new(1, minor)
}

/// How Cilium 1.15 wrote a CIDR (a pattern; `format: cidr` from 1.16).
const CIDR_115: &str = r"^(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\/([0-9]|[1-2][0-9]|3[0-2])$|^s*((([0-9A-Fa-f]{1,4}:){7}(:|([0-9A-Fa-f]{1,4})))|(([0-9A-Fa-f]{1,4}:){6}:([0-9A-Fa-f]{1,4})?)|(([0-9A-Fa-f]{1,4}:){5}(((:[0-9A-Fa-f]{1,4}){0,1}):([0-9A-Fa-f]{1,4})?))|(([0-9A-Fa-f]{1,4}:){4}(((:[0-9A-Fa-f]{1,4}){0,2}):([0-9A-Fa-f]{1,4})?))|(([0-9A-Fa-f]{1,4}:){3}(((:[0-9A-Fa-f]{1,4}){0,3}):([0-9A-Fa-f]{1,4})?))|(([0-9A-Fa-f]{1,4}:){2}(((:[0-9A-Fa-f]{1,4}){0,4}):([0-9A-Fa-f]{1,4})?))|(([0-9A-Fa-f]{1,4}:){1}(((:[0-9A-Fa-f]{1,4}){0,5}):([0-9A-Fa-f]{1,4})?))|(:(:|((:[0-9A-Fa-f]{1,4}){1,7}))))(%.+)?s*/([0-9]|[1-9][0-9]|1[0-1][0-9]|12[0-8])$";

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

fn cidr(v: Version) -> Shape {
    if at(v, 16) {
        string().format(Format::Cidr)
    } else {
        string().pattern(CIDR_115)
    }
}

fn one_required(names: &[&str]) -> Vec<Shape> {
    names.iter().map(|n| Shape::requiring(&[n])).collect()
}

fn cidr_set(v: Version) -> Shape {
    let s = obj([
        ("cidr", cidr(v)),
        ("cidrGroupRef", string().max_len(253).pattern(DNS_SUBDOMAIN)),
        ("except", array(cidr(v))),
    ]);
    if at(v, 17) {
        s.with([("cidrGroupSelector", selector())])
            .one_of(one_required(&["cidr", "cidrGroupRef", "cidrGroupSelector"]))
    } else {
        s.one_of(one_required(&["cidr", "cidrGroupRef"]))
    }
}

fn entities(v: Version) -> Shape {
    let mut e = vec!["all", "world", "cluster"];
    if at(v, 20) {
        e.push("cluster-mesh");
    }
    e.extend([
        "host",
        "init",
        "ingress",
        "unmanaged",
        "remote-node",
        "health",
        "none",
        "kube-apiserver",
    ]);
    array(string().enums(&e))
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

fn icmps(v: Version) -> Shape {
    let family = string().enums(&["IPv4", "IPv6"]).defaulted(json!("IPv4"));
    let ty = if at(v, 16) {
        int_or_string().pattern(ICMP_TYPE)
    } else {
        integer().min(0.0).max(255.0)
    };
    let fields = array(obj([("family", family), ("type", ty)]).req(&["type"]));
    array(obj([(
        "fields",
        if at(v, 16) {
            fields.max_items(40)
        } else {
            fields
        },
    )]))
}

fn authentication() -> Shape {
    obj([(
        "mode",
        string().enums(&["disabled", "required", "test-always-fail"]),
    )])
    .req(&["mode"])
}

fn port_protocols(v: Version) -> Shape {
    let protocols: &[&str] = if at(v, 20) {
        &[
            "TCP", "UDP", "SCTP", "VRRP", "IGMP", "GRE", "IPIP", "IPV6", "ESP", "AH", "ANY",
        ]
    } else if at(v, 19) {
        &["TCP", "UDP", "SCTP", "VRRP", "IGMP", "ANY"]
    } else {
        &["TCP", "UDP", "SCTP", "ANY"]
    };
    let s = obj([
        ("port", string().pattern(PORT)),
        ("protocol", string().enums(protocols)),
    ]);
    let s = if at(v, 16) {
        s.with([("endPort", int32().min(0.0).max(65535.0))])
    } else {
        s
    };
    // Until 1.18 a port rule names its port.
    if at(v, 19) {
        s
    } else {
        s.req(&["port"])
    }
}

fn fqdn_selector(v: Version) -> Shape {
    let (name, pattern) = if at(v, 17) {
        (
            string().max_len(255).pattern(FQDN_NAME),
            string().max_len(255).pattern(FQDN_PATTERN),
        )
    } else {
        (string().pattern(FQDN_NAME), string().pattern(FQDN_PATTERN))
    };
    let s = obj([("matchName", name), ("matchPattern", pattern)]);
    if at(v, 16) {
        s.one_of(one_required(&["matchName", "matchPattern"]))
    } else {
        s
    }
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

fn l7_rules(v: Version) -> Shape {
    let s = obj([
        ("dns", array(fqdn_selector(v))),
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
                            (
                                "name",
                                if at(v, 16) {
                                    string().min_len(1)
                                } else {
                                    string()
                                },
                            ),
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
    ]);
    // Kafka and the generic L7 rules are gone in 1.20.
    if at(v, 20) {
        return s.one_of(one_required(&["http", "dns"]));
    }
    let s = s.with([
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
    ]);
    if at(v, 16) {
        s.one_of(one_required(&["http", "kafka", "dns", "l7proto"]))
    } else {
        s
    }
}

/// An allow rule's toPorts entry (a deny rule's has only `ports`).
fn port_rule(v: Version) -> Shape {
    let mut listener = obj([
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
    ])
    .req(&["envoyConfig", "name"]);
    if at(v, 16) {
        listener = listener.with([("priority", integer().min(1.0).max(100.0))]);
    }
    let ports = array(port_protocols(v));
    let server_names = if at(v, 20) {
        array(string().max_len(255).pattern(r"^([-a-zA-Z0-9_*]+[.]?)+$"))
            .min_items(1)
            .set()
    } else if at(v, 18) {
        array(
            string()
                .max_len(255)
                .pattern(r"^(\*?\*\.)?([-a-zA-Z0-9_]+\.?)+$"),
        )
        .min_items(1)
        .set()
    } else {
        array(string())
    };
    obj([
        ("listener", listener),
        ("originatingTLS", tls()),
        (
            "ports",
            if at(v, 16) {
                ports.max_items(40)
            } else {
                ports
            },
        ),
        ("rules", l7_rules(v)),
        ("serverNames", server_names),
        ("terminatingTLS", tls()),
    ])
}

fn deny_port_rule(v: Version) -> Shape {
    obj([("ports", array(port_protocols(v)))])
}

/// fromRequires/toRequires: selectors until 1.18; from 1.19 deprecated, no item allowed.
fn requires(v: Version) -> Shape {
    if at(v, 19) {
        array(string()).max_items(0)
    } else {
        array(selector())
    }
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

fn ingress(v: Version, deny: bool) -> Shape {
    let mut s = obj([
        ("fromCIDR", array(cidr(v))),
        ("fromCIDRSet", array(cidr_set(v))),
        ("fromEndpoints", array(selector())),
        ("fromEntities", entities(v)),
        ("fromRequires", requires(v)),
        ("icmps", icmps(v)),
        (
            "toPorts",
            array(if deny {
                deny_port_rule(v)
            } else {
                port_rule(v)
            }),
        ),
    ]);
    if at(v, 16) {
        s = s.with([("fromGroups", groups()), ("fromNodes", array(selector()))]);
    }
    if !deny {
        s = s.with([("authentication", authentication())]);
    }
    s
}

fn egress(v: Version, deny: bool) -> Shape {
    let mut s = obj([
        ("icmps", icmps(v)),
        ("toCIDR", array(cidr(v))),
        ("toCIDRSet", array(cidr_set(v))),
        ("toEndpoints", array(selector())),
        ("toEntities", entities(v)),
        ("toGroups", groups()),
        (
            "toPorts",
            array(if deny {
                deny_port_rule(v)
            } else {
                port_rule(v)
            }),
        ),
        ("toRequires", requires(v)),
        ("toServices", services()),
    ]);
    if at(v, 16) {
        s = s.with([("toNodes", array(selector()))]);
    }
    if !deny {
        s = s.with([
            ("authentication", authentication()),
            ("toFQDNs", array(fqdn_selector(v))),
        ]);
    }
    s
}

/// One rule (`spec`, or an item of `specs`).
fn rule(v: Version) -> Shape {
    let mut s = obj([
        ("description", string()),
        ("egress", array(egress(v, false))),
        ("egressDeny", array(egress(v, true))),
        ("endpointSelector", selector()),
        ("ingress", array(ingress(v, false))),
        ("ingressDeny", array(ingress(v, true))),
        (
            "labels",
            array(
                obj([("key", string()), ("source", string()), ("value", string())]).req(&["key"]),
            ),
        ),
        ("nodeSelector", selector()),
    ])
    .one_of(one_required(&["endpointSelector", "nodeSelector"]));
    if at(v, 16) {
        s = s.with([(
            "enableDefaultDeny",
            obj([("egress", boolean()), ("ingress", boolean())]),
        )]);
    }
    if at(v, 17) {
        // A rule with no section at all is refused from 1.17.
        s = s.any_of(one_required(&[
            "ingress",
            "ingressDeny",
            "egress",
            "egressDeny",
        ]));
    }
    if at(v, 18) {
        s = s.with([(
            "log",
            obj([("value", string().max_len(32).pattern(r"^\PC*$"))]),
        )]);
    }
    s
}

fn status(v: Version) -> Shape {
    let derivative = map(obj([
        ("annotations", map(string())),
        ("enforcing", boolean()),
        ("error", string()),
        ("lastUpdated", string().format(Format::DateTime)),
        ("localPolicyRevision", super::super::shape::int64()),
        ("ok", boolean()),
    ]));
    if !at(v, 16) {
        return obj([
            ("derivativePolicies", derivative.clone()),
            ("nodes", derivative),
        ]);
    }
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
        ("derivativePolicies", derivative),
    ])
}

/// The schema of Cilium release `v` (the newest transcribed one for a newer release, the oldest for an
/// older one).
pub fn schema(namespaced: bool, v: Version) -> CrdSchema {
    let v = v.clamp(Version::new(1, 15), Version::new(1, 20));
    let rule = Arc::new(rule(v));
    let mut body = obj([("status", status(v))])
        .with_arc("spec", &rule)
        .with([("specs", super::super::shape::array_of(&rule))])
        .req(&["metadata"]);
    if at(v, 20) {
        body = body.rule(
            |x, p, out| {
                if x.is_object() && !super::has(x, "spec") && !super::has(x, "specs") {
                    out.invalid(p, "object", "a policy needs spec or specs");
                }
            },
            "has(self.spec) || has(self.specs)",
        );
    }
    CrdSchema {
        root: Arc::new(root(body)),
        status_subresource: true,
        namespaced,
        scale_spec_replicas: None,
    }
}
