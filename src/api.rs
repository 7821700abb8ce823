//! The `ScrapeIntent` API (`scrapepath.io/v1alpha1`): the contract between app teams and scrapepath.
//!
//! These types are the single source of the CRD: [`crd()`] derives the OpenAPI schema (with its CEL
//! rules and printer columns) from them, `scrapepath crd` prints [`crd_yaml()`], and the checked-in
//! `crds/scrapeintents.scrapepath.io.yaml` must equal that output (`tests/crd.rs` fails when stale).
//! The doc comments on the fields become the descriptions `kubectl explain scrapeintent.spec` shows,
//! so they are written for the app teams who fill the spec in.
//!
//! The engine reads the spec (with the defaults applied through the `*_or_default` helpers) and the
//! controller writes [`ScrapeIntentStatus`]; nothing here talks to a cluster.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the ScrapeIntent CRD.
pub const GROUP: &str = "scrapepath.io";
/// API version of the ScrapeIntent CRD.
pub const VERSION: &str = "v1alpha1";

/// The path scraped when an endpoint names none.
const DEFAULT_PATH: &str = "/metrics";

/// A container port name as Kubernetes accepts it (IANA_SVC_NAME): lowercase letters, digits and
/// single inner '-', at least one letter (RE2 has no look-ahead, hence the shape). The 15-character
/// limit is checked beside it.
const PORT_NAME_PATTERN: &str = "^([0-9]+-)*[0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$";

/// A Prometheus duration, the same pattern prometheus-operator uses for `interval`.
const DURATION_PATTERN: &str =
    "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";

/// A Kubernetes namespace name (DNS-1123 label).
const NAMESPACE_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A Kubernetes object name (DNS-1123 subdomain).
const NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// The scrape an app team asks for: which pods of this namespace, on which endpoints, by which
/// Prometheus, through which kind of monitor.
#[derive(CustomResource, JsonSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "scrapepath.io",
    version = "v1alpha1",
    kind = "ScrapeIntent",
    plural = "scrapeintents",
    singular = "scrapeintent",
    shortname = "si",
    category = "scrapepath",
    namespaced,
    status = "ScrapeIntentStatus",
    derive = "PartialEq",
    doc = "ScrapeIntent declares that the selected pods of this namespace must be scraped by Prometheus on the given endpoints. scrapepath checks each layer between the scraper and the pods, reports what breaks in the status, and in Enforce mode applies the narrowest fix it is allowed to make.",
    validation = Rule::new("self.metadata.name.size() <= 63").message("metadata.name must be at most 63 characters: it becomes the value of the scrapepath.io/intent label on the objects scrapepath manages"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".status.mode", description = "Effective mode: Enforce applies fixes, Report only describes them"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", description = "Whether every layer between the scraper and the targets holds"),
    printcolumn(name = "Targets", type_ = "string", json_path = ".status.targets.summary", description = "Reachable targets / total targets"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].reason", description = "Reason of the first failing layer"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeIntentSpec {
    /// Selects the pods to scrape, by label. Only pods in the ScrapeIntent's own namespace are
    /// considered.
    pub selector: LabelSelector,

    /// The endpoints to scrape on every selected pod (at least one).
    #[schemars(length(min = 1, max = 32))]
    pub endpoints: Vec<IntentEndpoint>,

    /// The Prometheus that must scrape the pods. When omitted: the cluster default set by the
    /// platform team, else the only Prometheus in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scraper: Option<ScraperRef>,

    /// How the scraper is told about the pods: a PodMonitor (default), a ServiceMonitor, or
    /// prometheus.io/* pod annotations. Set `ref` to use an existing monitor instead of the one
    /// scrapepath would generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorSpec>,

    /// Enforce: scrapepath applies the fixes it is allowed to make (monitor, network policy, mesh
    /// policy). Report: it only describes them in status.remediation. When omitted: the cluster
    /// default set by the platform team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_enum::<Mode>")]
    pub mode: Option<Mode>,
}

/// One metrics endpoint exposed by each selected pod.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentEndpoint {
    /// The container port serving the metrics: its name (e.g. http-envoy-prom), as declared in the
    /// pod's containers[].ports[].name, or its number (1-65535).
    #[schemars(schema_with = "port_schema")]
    #[x_kube(validation = Rule::new(format!("type(self) == int ? (self >= 1 && self <= 65535) : (self.size() <= 15 && self.matches('{PORT_NAME_PATTERN}'))")).message("port must be a container port number from 1 to 65535, or a container port name: at most 15 lowercase letters, digits and '-', with at least one letter and no '-' at either end or twice in a row"))]
    pub port: IntOrString,

    /// The HTTP path of the metrics. Default: /metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self.startsWith('/')").message("path must start with '/', e.g. /metrics"))]
    pub path: Option<String>,

    /// http or https. Default: http.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_enum::<Scheme>")]
    pub scheme: Option<Scheme>,

    /// How often to scrape, as a Prometheus duration (e.g. 15s, 1m, 1m30s). Default: the scraper's
    /// own scrape interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
}

impl IntentEndpoint {
    /// The path to scrape: the declared one, else `/metrics`.
    pub fn path_or_default(&self) -> &str {
        self.path.as_deref().unwrap_or(DEFAULT_PATH)
    }

    /// The scheme to scrape with: the declared one, else `http`.
    pub fn scheme_or_default(&self) -> Scheme {
        self.scheme.clone().unwrap_or_default()
    }
}

/// The protocol of a metrics endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

/// Which Prometheus must scrape the pods.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.kind != 'Pods' || (has(self.__namespace__) && has(self.podSelector))").message("scraper.kind Pods needs both namespace and podSelector: they find the scraper pods"),
    validation = Rule::new("self.kind == 'Pods' || !has(self.podSelector)").message("scraper.podSelector is only allowed with kind Pods; a Prometheus or PrometheusAgent is named by namespace and name"),
    validation = Rule::new("!has(self.name) || has(self.__namespace__)").message("scraper.name needs scraper.namespace")
)]
pub struct ScraperRef {
    /// Prometheus or PrometheusAgent: a prometheus-operator custom resource, named by namespace
    /// and name. Pods: a Prometheus not run by prometheus-operator, found by namespace and
    /// podSelector. Default: Prometheus.
    #[serde(default)]
    pub kind: ScraperKind,

    /// Namespace of the scraper. Required with kind Pods and whenever name is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = NAMESPACE_PATTERN))]
    pub namespace: Option<String>,

    /// Name of the Prometheus or PrometheusAgent object. When omitted, the only one in the
    /// namespace (or in the cluster, when namespace is omitted too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = NAME_PATTERN))]
    pub name: Option<String>,

    /// With kind Pods: selects the scraper's pods, by label, in namespace. Not allowed with the
    /// other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// The kind of scraper.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ScraperKind {
    /// A prometheus-operator `Prometheus` (monitoring.coreos.com/v1).
    #[default]
    Prometheus,
    /// A prometheus-operator `PrometheusAgent` (monitoring.coreos.com/v1alpha1).
    PrometheusAgent,
    /// Plain pods running Prometheus, not managed by prometheus-operator.
    Pods,
}

/// How the scraper learns about the pods.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.kind != 'Annotations' || !has(self.ref)").message("monitor.ref is not allowed with kind Annotations: the scraper finds the pods by their prometheus.io/* annotations, there is no monitor object to refer to"))]
pub struct MonitorSpec {
    /// PodMonitor (default) or ServiceMonitor: a prometheus-operator monitor selects the pods.
    /// Annotations: the scraper discovers pods by their prometheus.io/scrape, port and path
    /// annotations; scrapepath checks them and reports the fix, but never edits pods.
    #[serde(default)]
    pub kind: MonitorKind,

    /// An existing PodMonitor or ServiceMonitor to use instead of generating
    /// `scrapepath-<intent-name>`. scrapepath only adds labels the scraper requires, and only to a
    /// monitor in this namespace.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ObjectRef>,
}

/// The kind of monitor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MonitorKind {
    /// A prometheus-operator `PodMonitor`.
    #[default]
    PodMonitor,
    /// A prometheus-operator `ServiceMonitor`.
    ServiceMonitor,
    /// prometheus.io/* annotations on the pods.
    Annotations,
}

/// A reference to a namespaced object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Namespace of the object. Default: the ScrapeIntent's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = NAMESPACE_PATTERN))]
    pub namespace: Option<String>,

    /// Name of the object.
    #[schemars(length(min = 1, max = 253), regex(pattern = NAME_PATTERN))]
    pub name: String,
}

/// Whether scrapepath may change the cluster for this intent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    /// Apply the fixes scrapepath is allowed to make.
    Enforce,
    /// Write nothing but status and Events; list the fixes in status.remediation.
    Report,
}

/// What scrapepath found, written by the operator.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeIntentStatus {
    /// The metadata.generation this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The mode in effect: spec.mode, else the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_enum::<Mode>")]
    pub mode: Option<Mode>,

    /// The scraper scrapepath resolved spec.scraper (or the cluster default) to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scraper: Option<ResolvedScraper>,

    /// How many targets (pod, port) there are, and how many the scraper can reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<TargetCounts>,

    /// The objects that stop the scrape (network policies, authorization policies, ...), each with
    /// the rule that decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<BlockedBy>,

    /// The objects scrapepath applied for this intent (Enforce mode). They are owned by the
    /// ScrapeIntent and deleted with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed: Vec<ManagedRef>,

    /// Report mode: the exact objects Enforce would apply, ready for `kubectl apply`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "remediation_schema")]
    pub remediation: Vec<serde_json::Value>,

    /// One condition per layer (TargetsResolved, ScraperReady, MonitorSelected, NetworkReachable,
    /// MeshAuthorized, Scraped) and Ready, which holds when all of them do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// The scraper an intent resolved to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedScraper {
    /// Prometheus, PrometheusAgent or Pods.
    pub kind: String,
    /// Namespace of the scraper.
    pub namespace: String,
    /// Name of the Prometheus or PrometheusAgent object (for kind Pods, the name the scraper pods
    /// go by).
    pub name: String,
}

/// Target counts of an intent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetCounts {
    /// Number of targets: matched pods times declared endpoints.
    #[schemars(schema_with = "count_schema")]
    pub total: u32,
    /// Number of targets the scraper can reach by the static verdicts (network policy); what
    /// Prometheus itself observes is in the `Scraped` condition, never counted here.
    #[schemars(schema_with = "count_schema")]
    pub reachable: u32,
    /// "reachable/total", for `kubectl get`.
    pub summary: String,
}

/// An object that stops the scrape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockedBy {
    /// Kind of the object, e.g. CiliumNetworkPolicy or AuthorizationPolicy.
    pub kind: String,
    /// Namespace of the object; absent for cluster-scoped objects (CiliumClusterwideNetworkPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the object.
    pub name: String,
    /// Why it blocks: the rule that decides, in words.
    pub reason: String,
}

/// An object scrapepath applied for an intent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRef {
    /// apiVersion of the object, e.g. cilium.io/v2.
    pub api_version: String,
    /// Kind of the object, e.g. CiliumNetworkPolicy.
    pub kind: String,
    /// Namespace of the object (the intent's namespace).
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

/// `port`: int-or-string. The CEL rule on it does the checking, with a message an app team can act
/// on; `maxLength` is what bounds that rule's estimated cost (kube-apiserver otherwise assumes an
/// int-or-string may be as long as a whole request, and would refuse the regex as too expensive).
fn port_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "x-kubernetes-int-or-string": true,
        "maxLength": 15,
    })
}

/// An optional enum field. Left to schemars and kube's `OptionalEnum` rewrite, the enum type's doc
/// would replace the field's own in `kubectl explain`, and the field would be `nullable`, which
/// makes the apiserver reject an explicit `null` as "Unsupported value" (it is not in the enum);
/// not nullable, a `null` is dropped and means "not set", as for the other optional fields.
fn optional_enum<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = T::json_schema(generator);
    schema.remove("description");
    schema
}

/// A count. schemars would say `format: uint32`, which kube-apiserver warns about as unrecognized on
/// every `kubectl apply` of the CRD.
fn count_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "minimum": 0,
    })
}

/// `remediation`: whole Kubernetes objects of any kind, kept as written.
fn remediation_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
        },
    })
}

/// The ScrapeIntent CustomResourceDefinition, derived from the types above.
///
/// Use this rather than `ScrapeIntent::crd()`: the descriptions are reflowed here so that
/// `kubectl explain` wraps them as prose instead of at the line breaks of the Rust doc comments.
pub fn crd() -> CustomResourceDefinition {
    let mut value = serde_json::to_value(ScrapeIntent::crd()).expect("the CRD serializes to JSON");
    reflow_descriptions(&mut value);
    serde_json::from_value(value).expect("reflowing descriptions keeps the CRD valid")
}

/// Joins the lines of every `description` into paragraphs (a blank line still separates two).
fn reflow_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(text) if key == "description" => *text = reflow(text),
                    _ => reflow_descriptions(child),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(reflow_descriptions),
        _ => {}
    }
}

fn reflow(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .split('\n')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The CRD as YAML, exactly as `scrapepath crd` prints it and `crds/` holds it.
pub fn crd_yaml() -> String {
    let body =
        serde_yaml_ng::to_string(&crd()).expect("a CustomResourceDefinition serializes to YAML");
    format!("# Generated by `scrapepath crd`; do not edit.\n{body}")
}
