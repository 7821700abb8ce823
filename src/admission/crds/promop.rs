//! prometheus-operator `monitoring.coreos.com` PodMonitor, ServiceMonitor (v1), Prometheus (v1) and
//! PrometheusAgent (v1alpha1), written from prometheus-operator v0.91.0's CRDs. The Kubernetes types they
//! embed (containers, volumes, affinity, ...) come from k8s-openapi in the CRD generator's style
//! ([`crate::admission::k8s::embedded`]).

use std::sync::Arc;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use serde_json::{json, Value};

use super::super::k8s::embedded;
use super::super::shape::{
    array, boolean, int32, int64, int_or_string, integer, map, obj, string, Format, Shape,
};
use super::{has, root, CrdSchema};

const DURATION: &str =
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";
const BYTE_SIZE: &str = r"(^0|([0-9]*[.])?[0-9]+((K|M|G|T|E|P)i?)?B)$";
const PROXY_URL: &str = r"^(http|https|socks5)://.+$";
const SCRAPE_PROTOCOLS: &[&str] = &[
    "PrometheusProto",
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
];
const TLS_VERSIONS: &[&str] = &["TLS10", "TLS11", "TLS12", "TLS13"];

fn duration() -> Shape {
    string().pattern(DURATION)
}
fn byte_size() -> Shape {
    string().pattern(BYTE_SIZE)
}
fn strings() -> Shape {
    array(string())
}
fn quantity() -> Shape {
    Shape {
        ty: super::super::shape::Ty::IntOrString,
        format: Some(Format::Quantity),
        ..Shape::default()
    }
}

/// A SecretKeySelector / ConfigMapKeySelector (same fields).
fn key_selector() -> Shape {
    embedded::<core::SecretKeySelector>()
}
fn label_selector() -> Shape {
    embedded::<meta::LabelSelector>()
}

fn secret_or_config_map() -> Shape {
    obj([("configMap", key_selector()), ("secret", key_selector())])
}

/// SafeTLSConfig; `files`: TLSConfig (also the *File fields).
fn tls(files: bool) -> Shape {
    let s = obj([
        ("ca", secret_or_config_map()),
        ("cert", secret_or_config_map()),
        ("insecureSkipVerify", boolean()),
        ("keySecret", key_selector()),
        ("maxVersion", string().enums(TLS_VERSIONS)),
        ("minVersion", string().enums(TLS_VERSIONS)),
        ("serverName", string()),
    ]);
    if files {
        s.with([
            ("caFile", string()),
            ("certFile", string()),
            ("keyFile", string()),
        ])
    } else {
        s
    }
}

fn authorization(file: bool) -> Shape {
    let s = obj([("credentials", key_selector()), ("type", string())]);
    if file {
        s.with([("credentialsFile", string())])
    } else {
        s
    }
}

fn basic_auth() -> Shape {
    obj([("password", key_selector()), ("username", key_selector())])
}

fn proxy_connect_header() -> Shape {
    map(array(key_selector()))
}

fn proxy_fields(s: Shape) -> Shape {
    s.with([
        ("noProxy", string()),
        ("proxyConnectHeader", proxy_connect_header()),
        ("proxyFromEnvironment", boolean()),
        ("proxyUrl", string().pattern(PROXY_URL)),
    ])
}

fn oauth2() -> Shape {
    proxy_fields(obj([
        ("clientId", secret_or_config_map()),
        ("clientSecret", key_selector()),
        ("endpointParams", map(string())),
        ("scopes", strings()),
        ("tlsConfig", tls(false)),
        ("tokenUrl", string().min_len(1)),
    ]))
    .req(&["clientId", "clientSecret", "tokenUrl"])
}

fn relabel() -> Shape {
    obj([
        (
            "action",
            string()
                .enums(&[
                    "replace",
                    "Replace",
                    "keep",
                    "Keep",
                    "drop",
                    "Drop",
                    "hashmod",
                    "HashMod",
                    "labelmap",
                    "LabelMap",
                    "labeldrop",
                    "LabelDrop",
                    "labelkeep",
                    "LabelKeep",
                    "lowercase",
                    "Lowercase",
                    "uppercase",
                    "Uppercase",
                    "keepequal",
                    "KeepEqual",
                    "dropequal",
                    "DropEqual",
                ])
                .defaulted(json!("replace")),
        ),
        ("modulus", int64()),
        ("regex", string()),
        ("replacement", string()),
        ("separator", string()),
        ("sourceLabels", strings()),
        ("targetLabel", string()),
    ])
}

fn sigv4() -> Shape {
    obj([
        ("accessKey", key_selector()),
        ("externalId", string().min_len(1)),
        ("profile", string()),
        ("region", string()),
        ("roleArn", string()),
        ("secretKey", key_selector()),
        ("useFIPSSTSEndpoint", boolean()),
    ])
    .rule(
        |v, p, out| {
            if has(v, "externalId") && !has(v, "roleArn") {
                out.invalid(
                    p,
                    "sigv4",
                    "externalId can only be used when roleArn is specified",
                );
            }
        },
        "externalId needs roleArn",
    )
}

// ---------------------------------------------------------------------------------------------------------
// Monitors.

fn endpoint(service_monitor: bool) -> Shape {
    let s = proxy_fields(obj([
        ("authorization", authorization(false)),
        ("basicAuth", basic_auth()),
        ("bearerTokenSecret", key_selector()),
        ("enableHttp2", boolean()),
        ("filterRunning", boolean()),
        ("followRedirects", boolean()),
        ("honorLabels", boolean()),
        ("honorTimestamps", boolean()),
        ("interval", duration()),
        ("metricRelabelings", array(relabel())),
        ("oauth2", oauth2()),
        ("params", map(strings())),
        ("path", string()),
        ("port", string()),
        ("relabelings", array(relabel())),
        (
            "scheme",
            string().enums(&["http", "https", "HTTP", "HTTPS"]),
        ),
        ("scrapeTimeout", duration()),
        ("targetPort", int_or_string()),
        ("tlsConfig", tls(service_monitor)),
        ("trackTimestampsStaleness", boolean()),
    ]));
    if service_monitor {
        s.with([("bearerTokenFile", string())])
    } else {
        s.with([("portNumber", int32().min(1.0).max(65535.0))])
    }
}

fn monitor_spec(service_monitor: bool) -> Shape {
    let s = obj([
        ("attachMetadata", obj([("node", boolean())])),
        ("bodySizeLimit", byte_size()),
        ("convertClassicHistogramsToNHCB", boolean()),
        ("fallbackScrapeProtocol", string().enums(SCRAPE_PROTOCOLS)),
        ("jobLabel", string()),
        ("keepDroppedTargets", int64()),
        ("labelLimit", int64()),
        ("labelNameLengthLimit", int64()),
        ("labelValueLengthLimit", int64()),
        (
            "namespaceSelector",
            obj([("any", boolean()), ("matchNames", strings())]),
        ),
        ("nativeHistogramBucketLimit", int64()),
        ("nativeHistogramMinBucketFactor", quantity()),
        ("podTargetLabels", strings()),
        ("sampleLimit", int64()),
        ("scrapeClass", string().min_len(1)),
        ("scrapeClassicHistograms", boolean()),
        ("scrapeNativeHistograms", boolean()),
        (
            "scrapeProtocols",
            array(string().enums(SCRAPE_PROTOCOLS)).set(),
        ),
        ("selector", label_selector()),
        (
            "selectorMechanism",
            string().enums(&["RelabelConfig", "RoleSelector"]),
        ),
        ("targetLimit", int64()),
    ]);
    if service_monitor {
        s.with([
            ("endpoints", array(endpoint(true))),
            (
                "serviceDiscoveryRole",
                string().enums(&["Endpoints", "EndpointSlice"]),
            ),
            ("targetLabels", strings()),
        ])
        .req(&["endpoints", "selector"])
    } else {
        s.with([("podMetricsEndpoints", array(endpoint(false)))])
            .req(&["selector"])
    }
}

fn monitor_status() -> Shape {
    obj([(
        "bindings",
        array(
            obj([
                (
                    "conditions",
                    array(
                        obj([
                            ("lastTransitionTime", string().format(Format::DateTime)),
                            ("message", string()),
                            ("observedGeneration", int64()),
                            ("reason", string()),
                            ("status", string().min_len(1)),
                            ("type", string().enums(&["Accepted"]).min_len(1)),
                        ])
                        .req(&["lastTransitionTime", "status", "type"]),
                    )
                    .list_map(&["type"]),
                ),
                ("group", string().enums(&["monitoring.coreos.com"])),
                ("name", string().min_len(1)),
                ("namespace", string().min_len(1)),
                (
                    "resource",
                    string().enums(&[
                        "prometheuses",
                        "prometheusagents",
                        "thanosrulers",
                        "alertmanagers",
                    ]),
                ),
            ])
            .req(&["group", "name", "namespace", "resource"]),
        )
        .list_map(&["group", "resource", "name", "namespace"]),
    )])
}

fn monitor(service_monitor: bool) -> CrdSchema {
    CrdSchema {
        root: Arc::new(root(
            obj([
                ("spec", monitor_spec(service_monitor)),
                ("status", monitor_status()),
            ])
            .req(&["spec"]),
        )),
        status_subresource: true,
        namespaced: true,
        scale_spec_replicas: None,
    }
}

pub fn pod_monitor() -> CrdSchema {
    monitor(false)
}

pub fn service_monitor() -> CrdSchema {
    monitor(true)
}

// ---------------------------------------------------------------------------------------------------------
// Prometheus and PrometheusAgent.

fn argument() -> Shape {
    obj([("name", string().min_len(1)), ("value", string())]).req(&["name"])
}

fn api_server_config() -> Shape {
    proxy_fields(obj([
        ("authorization", authorization(true)),
        ("basicAuth", basic_auth()),
        ("bearerToken", string()),
        ("bearerTokenFile", string()),
        ("host", string()),
        ("tlsConfig", tls(true)),
    ]))
    .req(&["host"])
}

fn remote_write() -> Shape {
    proxy_fields(obj([
        ("authorization", authorization(true)),
        (
            "azureAd",
            obj([
                (
                    "cloud",
                    string().enums(&["AzureChina", "AzureGovernment", "AzurePublic"]),
                ),
                ("managedIdentity", obj([("clientId", string().min_len(1))])),
                (
                    "oauth",
                    obj([
                        ("clientId", string().min_len(1)),
                        ("clientSecret", key_selector()),
                        ("tenantId", string().min_len(1).pattern(r"^[0-9a-zA-Z-.]+$")),
                    ])
                    .req(&["clientId", "clientSecret", "tenantId"]),
                ),
                ("scope", string().pattern(r"^[\w\s:/.\\-]+$")),
                (
                    "sdk",
                    obj([("tenantId", string().pattern(r"^[0-9a-zA-Z-.]+$"))]),
                ),
                (
                    "workloadIdentity",
                    obj([
                        ("clientId", string().min_len(1)),
                        ("tenantId", string().min_len(1)),
                    ])
                    .req(&["clientId", "tenantId"]),
                ),
            ]),
        ),
        ("basicAuth", basic_auth()),
        ("bearerToken", string()),
        ("bearerTokenFile", string()),
        ("enableHTTP2", boolean()),
        ("followRedirects", boolean()),
        ("headers", map(string())),
        ("messageVersion", string().enums(&["V1.0", "V2.0"])),
        (
            "metadataConfig",
            obj([
                ("maxSamplesPerSend", int32().min(-1.0)),
                ("send", boolean()),
                ("sendInterval", duration()),
            ]),
        ),
        ("name", string()),
        ("oauth2", oauth2()),
        (
            "queueConfig",
            obj([
                ("batchSendDeadline", duration()),
                ("capacity", integer()),
                ("maxBackoff", duration()),
                ("maxRetries", integer()),
                ("maxSamplesPerSend", integer()),
                ("maxShards", integer()),
                ("minBackoff", duration()),
                ("minShards", integer()),
                ("retryOnRateLimit", boolean()),
                ("sampleAgeLimit", duration()),
            ]),
        ),
        ("remoteTimeout", duration()),
        ("roundRobinDNS", boolean()),
        ("sendExemplars", boolean()),
        ("sendNativeHistograms", boolean()),
        ("sigv4", sigv4()),
        ("tlsConfig", tls(true)),
        ("url", string().pattern(r"^(http|https)://.+$")),
        ("writeRelabelConfigs", array(relabel())),
    ]))
    .req(&["url"])
}

fn remote_read() -> Shape {
    proxy_fields(obj([
        ("authorization", authorization(true)),
        ("basicAuth", basic_auth()),
        ("bearerToken", string()),
        ("bearerTokenFile", string()),
        ("filterExternalLabels", boolean()),
        ("followRedirects", boolean()),
        ("headers", map(string())),
        ("name", string()),
        ("oauth2", oauth2()),
        ("readRecent", boolean()),
        ("remoteTimeout", duration()),
        ("requiredMatchers", map(string())),
        ("tlsConfig", tls(true)),
        ("url", string()),
    ]))
    .req(&["url"])
}

fn alertmanager_endpoint() -> Shape {
    proxy_fields(obj([
        ("alertRelabelings", array(relabel())),
        ("apiVersion", string().enums(&["v1", "V1", "v2", "V2"])),
        ("authorization", authorization(false)),
        ("basicAuth", basic_auth()),
        ("bearerTokenFile", string()),
        ("enableHttp2", boolean()),
        ("name", string().min_len(1)),
        ("namespace", string().min_len(1)),
        ("pathPrefix", string().min_len(1)),
        ("port", int_or_string()),
        ("relabelings", array(relabel())),
        (
            "scheme",
            string().enums(&["http", "https", "HTTP", "HTTPS"]),
        ),
        ("sigv4", sigv4()),
        ("timeout", duration()),
        ("tlsConfig", tls(true)),
    ]))
    .req(&["name", "port"])
}

fn scrape_class() -> Shape {
    obj([
        ("attachMetadata", obj([("node", boolean())])),
        ("authorization", authorization(true)),
        ("default", boolean()),
        ("fallbackScrapeProtocol", string().enums(SCRAPE_PROTOCOLS)),
        ("metricRelabelings", array(relabel())),
        ("name", string().min_len(1)),
        ("relabelings", array(relabel())),
        ("tlsConfig", tls(true)),
    ])
    .req(&["name"])
}

/// EmbeddedPersistentVolumeClaim: the PVC spec and status, metadata restricted to name, labels and
/// annotations.
fn embedded_pvc() -> Shape {
    let pvc = embedded::<core::PersistentVolumeClaim>();
    let mut s = pvc.clone();
    s.required.clear();
    s.with([(
        "metadata",
        obj([
            ("annotations", map(string())),
            ("labels", map(string())),
            ("name", string()),
        ]),
    )])
}

fn storage() -> Shape {
    let template = embedded::<core::PersistentVolumeClaimTemplate>();
    obj([
        ("disableMountSubPath", boolean()),
        ("emptyDir", embedded::<core::EmptyDirVolumeSource>()),
        ("ephemeral", obj([("volumeClaimTemplate", template)])),
        ("volumeClaimTemplate", embedded_pvc()),
    ])
}

fn topology_spread_constraint() -> Shape {
    obj([
        (
            "additionalLabelSelectors",
            string().enums(&["OnResource", "OnShard"]),
        ),
        ("labelSelector", label_selector()),
        ("matchLabelKeys", strings()),
        ("maxSkew", int32()),
        ("minDomains", int32()),
        ("nodeAffinityPolicy", string()),
        ("nodeTaintsPolicy", string()),
        ("topologyKey", string()),
        ("whenUnsatisfiable", string()),
    ])
    .req(&["maxSkew", "topologyKey", "whenUnsatisfiable"])
}

fn web() -> Shape {
    obj([
        (
            "httpConfig",
            obj([
                (
                    "headers",
                    obj([
                        ("contentSecurityPolicy", string()),
                        ("strictTransportSecurity", string()),
                        ("xContentTypeOptions", string().enums(&["", "NoSniff"])),
                        ("xFrameOptions", string().enums(&["", "Deny", "SameOrigin"])),
                        ("xXSSProtection", string()),
                    ]),
                ),
                ("http2", boolean()),
            ]),
        ),
        ("maxConnections", int32().min(0.0)),
        ("pageTitle", string()),
        (
            "tlsConfig",
            obj([
                ("cert", secret_or_config_map()),
                ("certFile", string()),
                ("cipherSuites", strings()),
                ("client_ca", secret_or_config_map()),
                ("clientAuthType", string()),
                ("clientCAFile", string()),
                ("curvePreferences", strings()),
                ("keyFile", string()),
                ("keySecret", key_selector()),
                ("maxVersion", string()),
                ("minVersion", string()),
                ("preferServerCipherSuites", boolean()),
            ]),
        ),
    ])
}

fn tracing_config() -> Shape {
    obj([
        (
            "clientType",
            string().enums(&["http", "grpc", "HTTP", "GRPC"]),
        ),
        ("compression", string().enums(&["gzip", "Gzip"])),
        ("endpoint", string().min_len(1)),
        ("headers", map(string())),
        ("insecure", boolean()),
        ("samplingFraction", quantity()),
        ("timeout", duration()),
        ("tlsConfig", tls(true)),
    ])
    .req(&["endpoint"])
}

/// The fields Prometheus and PrometheusAgent share (CommonPrometheusFields).
fn common_spec() -> Shape {
    obj([
        ("additionalArgs", array(argument())),
        ("additionalScrapeConfigs", key_selector()),
        ("affinity", embedded::<core::Affinity>()),
        ("apiserverConfig", api_server_config()),
        ("arbitraryFSAccessThroughSMs", obj([("deny", boolean())])),
        ("automountServiceAccountToken", boolean()),
        ("bodySizeLimit", byte_size()),
        ("configMaps", strings()),
        ("containers", array(embedded::<core::Container>())),
        ("convertClassicHistogramsToNHCB", boolean()),
        ("dnsConfig", embedded::<core::PodDNSConfig>()),
        (
            "dnsPolicy",
            string().enums(&["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]),
        ),
        ("enableFeatures", array(string().min_len(1)).set()),
        ("enableOTLPReceiver", boolean()),
        ("enableRemoteWriteReceiver", boolean()),
        ("enableServiceLinks", boolean()),
        ("enforcedBodySizeLimit", byte_size()),
        ("enforcedKeepDroppedTargets", int64()),
        ("enforcedLabelLimit", int64()),
        ("enforcedLabelNameLengthLimit", int64()),
        ("enforcedLabelValueLengthLimit", int64()),
        ("enforcedNamespaceLabel", string()),
        ("enforcedSampleLimit", int64()),
        ("enforcedTargetLimit", int64()),
        (
            "excludedFromEnforcement",
            array(
                obj([
                    (
                        "group",
                        string()
                            .enums(&["monitoring.coreos.com"])
                            .defaulted(json!("monitoring.coreos.com")),
                    ),
                    ("name", string()),
                    ("namespace", string().min_len(1)),
                    (
                        "resource",
                        string().enums(&[
                            "prometheusrules",
                            "servicemonitors",
                            "podmonitors",
                            "probes",
                            "scrapeconfigs",
                        ]),
                    ),
                ])
                .req(&["namespace", "resource"]),
            ),
        ),
        ("externalLabels", map(string())),
        ("externalUrl", string()),
        (
            "hostAliases",
            array(obj([("hostnames", strings()), ("ip", string())]).req(&["hostnames", "ip"]))
                .list_map(&["ip"]),
        ),
        ("hostNetwork", boolean()),
        ("hostUsers", boolean()),
        ("ignoreNamespaceSelectors", boolean()),
        ("image", string()),
        (
            "imagePullPolicy",
            string().enums(&["", "Always", "Never", "IfNotPresent"]),
        ),
        (
            "imagePullSecrets",
            array(obj([("name", string().defaulted(json!("")))])),
        ),
        ("initContainers", array(embedded::<core::Container>())),
        ("keepDroppedTargets", int64()),
        ("labelLimit", int64()),
        ("labelNameLengthLimit", int64()),
        ("labelValueLengthLimit", int64()),
        ("listenLocal", boolean()),
        ("logFormat", string().enums(&["", "logfmt", "json"])),
        (
            "logLevel",
            string().enums(&["", "debug", "info", "warn", "error"]),
        ),
        ("maximumStartupDurationSeconds", int32().min(60.0)),
        ("minReadySeconds", int32().min(0.0)),
        (
            "nameEscapingScheme",
            string().enums(&["AllowUTF8", "Underscores", "Dots", "Values"]),
        ),
        ("nameValidationScheme", string().enums(&["UTF8", "Legacy"])),
        ("nodeSelector", map(string())),
        (
            "otlp",
            obj([
                ("convertHistogramsToNHCB", boolean()),
                (
                    "ignoreResourceAttributes",
                    array(string().min_len(1)).min_items(1).set(),
                ),
                ("keepIdentifyingResourceAttributes", boolean()),
                ("promoteAllResourceAttributes", boolean()),
                (
                    "promoteResourceAttributes",
                    array(string().min_len(1)).min_items(1).set(),
                ),
                ("promoteScopeMetadata", boolean()),
                (
                    "translationStrategy",
                    string().enums(&[
                        "NoUTF8EscapingWithSuffixes",
                        "UnderscoreEscapingWithSuffixes",
                        "NoTranslation",
                        "UnderscoreEscapingWithoutSuffixes",
                    ]),
                ),
            ]),
        ),
        ("overrideHonorLabels", boolean()),
        ("overrideHonorTimestamps", boolean()),
        ("paused", boolean()),
        (
            "persistentVolumeClaimRetentionPolicy",
            embedded::<apps::StatefulSetPersistentVolumeClaimRetentionPolicy>(),
        ),
        (
            "podManagementPolicy",
            string().enums(&["OrderedReady", "Parallel"]),
        ),
        (
            "podMetadata",
            obj([
                ("annotations", map(string())),
                ("labels", map(string())),
                ("name", string()),
            ]),
        ),
        ("podMonitorNamespaceSelector", label_selector()),
        ("podMonitorSelector", label_selector()),
        ("podTargetLabels", strings()),
        ("portName", string().defaulted(json!("web"))),
        ("priorityClassName", string()),
        ("probeNamespaceSelector", label_selector()),
        ("probeSelector", label_selector()),
        ("prometheusExternalLabelName", string()),
        ("reloadStrategy", string().enums(&["HTTP", "ProcessSignal"])),
        ("remoteWrite", array(remote_write())),
        (
            "remoteWriteReceiverMessageVersions",
            array(string().enums(&["V1.0", "V2.0"])).min_items(1).set(),
        ),
        ("replicaExternalLabelName", string()),
        ("replicas", int32()),
        ("resources", embedded::<core::ResourceRequirements>()),
        ("routePrefix", string()),
        ("runtime", obj([("goGC", int32().min(-1.0))])),
        ("sampleLimit", int64()),
        ("schedulerName", string().min_len(1)),
        ("scrapeClasses", array(scrape_class()).list_map(&["name"])),
        ("scrapeClassicHistograms", boolean()),
        ("scrapeConfigNamespaceSelector", label_selector()),
        ("scrapeConfigSelector", label_selector()),
        ("scrapeFailureLogFile", string().min_len(1)),
        ("scrapeInterval", duration().defaulted(json!("30s"))),
        ("scrapeNativeHistograms", boolean()),
        (
            "scrapeProtocols",
            array(string().enums(SCRAPE_PROTOCOLS)).set(),
        ),
        ("scrapeTimeout", duration()),
        ("secrets", strings().set()),
        ("securityContext", embedded::<core::PodSecurityContext>()),
        ("serviceAccountName", string()),
        (
            "serviceDiscoveryRole",
            string().enums(&["Endpoints", "EndpointSlice"]),
        ),
        ("serviceMonitorNamespaceSelector", label_selector()),
        ("serviceMonitorSelector", label_selector()),
        ("serviceName", string().min_len(1)),
        (
            "shardingStrategy",
            obj([
                ("mode", string().enums(&["Address", "Topology"])),
                (
                    "topology",
                    obj([("externalLabelName", string()), ("values", strings())]),
                ),
            ])
            .rule(
                |v, p, out| {
                    if has(v, "topology")
                        && v.get("mode").and_then(Value::as_str) != Some("Topology")
                    {
                        out.invalid(
                            p,
                            "shardingStrategy",
                            "topology can only be defined when mode is set to 'Topology'",
                        );
                    }
                },
                "topology needs mode Topology",
            ),
        ),
        ("shards", int32()),
        ("storage", storage()),
        ("targetLimit", int64()),
        ("terminationGracePeriodSeconds", int64().min(0.0)),
        ("tolerations", array(embedded::<core::Toleration>())),
        (
            "topologySpreadConstraints",
            array(topology_spread_constraint()),
        ),
        ("tracingConfig", tracing_config()),
        ("tsdb", obj([("outOfOrderTimeWindow", duration())])),
        (
            "updateStrategy",
            obj([
                ("rollingUpdate", obj([("maxUnavailable", int_or_string())])),
                ("type", string().enums(&["OnDelete", "RollingUpdate"])),
            ])
            .req(&["type"])
            .rule(
                |v, p, out| {
                    if v.is_object()
                        && v.get("type").and_then(Value::as_str) != Some("RollingUpdate")
                        && has(v, "rollingUpdate")
                    {
                        out.invalid(
                            p,
                            "updateStrategy",
                            "rollingUpdate requires type to be RollingUpdate",
                        );
                    }
                },
                "rollingUpdate requires type RollingUpdate",
            ),
        ),
        ("version", string()),
        ("volumeMounts", array(embedded::<core::VolumeMount>())),
        ("volumes", array(embedded::<core::Volume>())),
        ("walCompression", boolean()),
        ("web", web()),
    ])
}

/// Shards must cover the topology values (Prometheus and PrometheusAgent).
fn topology_shards(v: &Value, p: &super::super::Path, out: &mut super::super::Problems) {
    let Some(ss) = v.get("shardingStrategy") else {
        return;
    };
    if ss.get("mode").and_then(Value::as_str) != Some("Topology") {
        return;
    }
    let Some(values) = ss
        .get("topology")
        .and_then(|t| t.get("values"))
        .and_then(Value::as_array)
    else {
        return;
    };
    if values.is_empty() {
        return;
    }
    let shards = v
        .get("shards")
        .and_then(super::super::shape::as_integer)
        .unwrap_or(1);
    if shards < values.len() as i64 {
        out.invalid(
            p,
            shards,
            "shards must be greater than or equal to the number of topology values when sharding strategy mode is Topology",
        );
    }
}

fn prometheus_status() -> Shape {
    obj([
        ("availableReplicas", int32()),
        (
            "conditions",
            array(
                obj([
                    ("lastTransitionTime", string().format(Format::DateTime)),
                    ("message", string()),
                    ("observedGeneration", int64()),
                    ("reason", string()),
                    ("status", string().min_len(1)),
                    ("type", string().min_len(1)),
                ])
                .req(&["lastTransitionTime", "status", "type"]),
            )
            .list_map(&["type"]),
        ),
        ("paused", boolean()),
        ("replicas", int32()),
        ("selector", string()),
        (
            "shardStatuses",
            array(
                obj([
                    ("availableReplicas", int32()),
                    ("replicas", int32()),
                    ("shardID", string()),
                    ("unavailableReplicas", int32()),
                    ("updatedReplicas", int32()),
                ])
                .req(&[
                    "availableReplicas",
                    "replicas",
                    "shardID",
                    "unavailableReplicas",
                    "updatedReplicas",
                ]),
            )
            .list_map(&["shardID"]),
        ),
        ("shards", int32()),
        ("unavailableReplicas", int32()),
        ("updatedReplicas", int32()),
    ])
}

fn thanos() -> Shape {
    obj([
        ("additionalArgs", array(argument())),
        ("baseImage", string()),
        ("blockSize", duration().defaulted(json!("2h"))),
        ("getConfigInterval", duration()),
        ("getConfigTimeout", duration()),
        ("grpcListenLocal", boolean()),
        (
            "grpcServerTlsConfig",
            tls(true).with([
                ("cipherSuites", strings().min_items(1).set()),
                ("curves", strings().min_items(1).set()),
            ]),
        ),
        ("httpListenLocal", boolean()),
        ("image", string()),
        ("listenLocal", boolean()),
        ("logFormat", string().enums(&["", "logfmt", "json"])),
        (
            "logLevel",
            string().enums(&["", "debug", "info", "warn", "error"]),
        ),
        ("minTime", string()),
        ("objectStorageConfig", key_selector()),
        ("objectStorageConfigFile", string()),
        ("readyTimeout", duration()),
        ("resources", embedded::<core::ResourceRequirements>()),
        ("sha", string()),
        ("tag", string()),
        ("tracingConfig", key_selector()),
        ("tracingConfigFile", string()),
        ("version", string()),
        ("volumeMounts", array(embedded::<core::VolumeMount>())),
    ])
}

pub fn prometheus() -> CrdSchema {
    let spec = common_spec()
        .with([
            ("additionalAlertManagerConfigs", key_selector()),
            ("additionalAlertRelabelConfigs", key_selector()),
            (
                "alerting",
                obj([("alertmanagers", array(alertmanager_endpoint()))]).req(&["alertmanagers"]),
            ),
            ("allowOverlappingBlocks", boolean()),
            ("baseImage", string()),
            ("disableCompaction", boolean()),
            ("enableAdminAPI", boolean()),
            ("evaluationInterval", duration().defaulted(json!("30s"))),
            ("exemplars", obj([("maxSize", int64())])),
            (
                "prometheusRulesExcludedFromEnforce",
                array(
                    obj([("ruleName", string()), ("ruleNamespace", string())])
                        .req(&["ruleName", "ruleNamespace"]),
                ),
            ),
            (
                "query",
                obj([
                    ("lookbackDelta", string()),
                    ("maxConcurrency", int32().min(1.0)),
                    ("maxSamples", int32()),
                    ("timeout", duration()),
                ]),
            ),
            ("queryLogFile", string()),
            ("remoteRead", array(remote_read())),
            ("retention", duration()),
            ("retentionSize", byte_size()),
            ("ruleNamespaceSelector", label_selector()),
            ("ruleQueryOffset", duration()),
            ("ruleSelector", label_selector()),
            (
                "rules",
                obj([(
                    "alert",
                    obj([
                        ("forGracePeriod", string()),
                        ("forOutageTolerance", string()),
                        ("resendDelay", string()),
                    ]),
                )]),
            ),
            ("sha", string()),
            (
                "shardRetentionPolicy",
                obj([
                    (
                        "retain",
                        obj([("retentionPeriod", duration())]).req(&["retentionPeriod"]),
                    ),
                    ("whenScaled", string().enums(&["Retain", "Delete"])),
                ]),
            ),
            ("tag", string()),
            ("thanos", thanos()),
        ])
        .rule(topology_shards, "shards cover the topology values");
    CrdSchema {
        root: Arc::new(root(
            obj([("spec", spec), ("status", prometheus_status())]).req(&["spec"]),
        )),
        status_subresource: true,
        namespaced: true,
        scale_spec_replicas: Some("/spec/shards"),
    }
}

pub fn prometheus_agent() -> CrdSchema {
    let mut spec = common_spec()
        .with([("mode", string().enums(&["StatefulSet", "DaemonSet"]))])
        .rule(topology_shards, "shards cover the topology values");
    spec = spec.rule(
        |v, p, out| {
            if v.get("mode").and_then(Value::as_str) != Some("DaemonSet") {
                return;
            }
            for k in [
                "replicas",
                "storage",
                "persistentVolumeClaimRetentionPolicy",
                "scrapeConfigSelector",
                "probeSelector",
                "scrapeConfigNamespaceSelector",
                "probeNamespaceSelector",
                "serviceMonitorSelector",
                "serviceMonitorNamespaceSelector",
                "additionalScrapeConfigs",
                "shardingStrategy",
            ] {
                if has(v, k) {
                    out.invalid(
                        p,
                        "spec",
                        format!("{k} cannot be set when mode is DaemonSet"),
                    );
                }
            }
            if v.get("shards")
                .and_then(super::super::shape::as_integer)
                .is_some_and(|s| s > 1)
            {
                out.invalid(
                    p,
                    "spec",
                    "shards cannot be greater than 1 when mode is DaemonSet",
                );
            }
        },
        "DaemonSet mode restrictions",
    );
    CrdSchema {
        root: Arc::new(root(
            obj([("spec", spec), ("status", prometheus_status())]).req(&["spec"]),
        )),
        status_subresource: true,
        namespaced: true,
        scale_spec_replicas: Some("/spec/shards"),
    }
}
