//! Shapes of the built-in Kubernetes types, from the OpenAPI schemas k8s-openapi carries (the same
//! Kubernetes minor as the API server of the tests), and a reader of OpenAPI v3 schemas in the CRD dialect
//! (for our own ScrapeIntent CRD, generated from our types).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde_json::{Map, Value};

use super::shape::{Format, ListType, Shape, Ty};

/// Reads a JSON schema (OpenAPI v3 as in CRDs, or schemars' output with `$ref`s into `defs`) as a shape.
pub struct Reader<'a> {
    /// The Rust transcription of a CEL rule (`x-kubernetes-validations`), by its text; a rule without one
    /// is not checked.
    pub rules: Option<fn(&str) -> Option<super::shape::Rule>>,
    /// Whether `type: object` with neither properties nor additionalProperties is free-form (k8s-openapi's
    /// RawExtension and the like) rather than an object whose every field is pruned (a CRD's).
    pub free_form_objects: bool,
    defs: &'a Map<String, Value>,
    cache: HashMap<String, Arc<Shape>>,
    in_progress: Vec<String>,
}

impl<'a> Reader<'a> {
    pub fn new(defs: &'a Map<String, Value>) -> Reader<'a> {
        Reader {
            rules: None,
            free_form_objects: false,
            defs,
            cache: HashMap::new(),
            in_progress: Vec::new(),
        }
    }

    pub fn read(&mut self, schema: &Value) -> Arc<Shape> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r).to_string();
            return self.named(&name);
        }
        Arc::new(self.read_inline(schema))
    }

    fn named(&mut self, name: &str) -> Arc<Shape> {
        if let Some(s) = self.cache.get(name) {
            return s.clone();
        }
        let special = match name {
            "io.k8s.apimachinery.pkg.api.resource.Quantity" => Some(Shape {
                ty: Ty::IntOrString,
                format: Some(Format::Quantity),
                ..Shape::default()
            }),
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => Some(Shape {
                ty: Ty::IntOrString,
                ..Shape::default()
            }),
            "io.k8s.apimachinery.pkg.runtime.RawExtension"
            | "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON" => {
                Some(Shape::default())
            }
            _ => None,
        };
        if let Some(s) = special {
            let s = Arc::new(s);
            self.cache.insert(name.to_string(), s.clone());
            return s;
        }
        if self.in_progress.iter().any(|n| n == name) {
            // A recursive type: not walked further.
            return Arc::new(Shape::default());
        }
        let Some(def) = self.defs.get(name).cloned() else {
            return Arc::new(Shape::default());
        };
        self.in_progress.push(name.to_string());
        let s = Arc::new(self.read_inline(&def));
        self.in_progress.pop();
        self.cache.insert(name.to_string(), s.clone());
        s
    }

    fn read_inline(&mut self, schema: &Value) -> Shape {
        let mut s = Shape::default();
        let Some(o) = schema.as_object() else {
            return s;
        };
        let flag = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
        s.ty = match o.get("type").and_then(Value::as_str) {
            Some("object") => Ty::Object,
            Some("array") => Ty::Array,
            Some("string") => Ty::String,
            Some("integer") => Ty::Integer,
            Some("number") => Ty::Number,
            Some("boolean") => Ty::Boolean,
            _ => Ty::Any,
        };
        if flag("x-kubernetes-int-or-string") {
            s.ty = Ty::IntOrString;
        }
        s.format = match o.get("format").and_then(Value::as_str) {
            Some("int32") => Some(Format::Int32),
            Some("int64") => Some(Format::Int64),
            Some("date-time") => Some(Format::DateTime),
            Some("byte") => Some(Format::Byte),
            Some("cidr") => Some(Format::Cidr),
            Some("idn-hostname") => Some(Format::IdnHostname),
            _ => None,
        };
        if let Some(Value::Object(props)) = o.get("properties") {
            for (k, p) in props {
                let shape = self.read(p);
                s.props.insert(k.clone(), shape);
            }
        }
        match o.get("additionalProperties") {
            Some(Value::Bool(true)) => s.preserve_unknown = true,
            Some(a @ Value::Object(_)) => s.additional = Some(self.read(a)),
            _ => {}
        }
        if let Some(items) = o.get("items") {
            s.items = Some(self.read(items));
        }
        if let Some(Value::Array(req)) = o.get("required") {
            s.required = req
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
        if let Some(Value::Array(e)) = o.get("enum") {
            s.enum_ = e.clone();
        }
        if let Some(p) = o.get("pattern").and_then(Value::as_str) {
            s = s.pattern(p);
        }
        let uint = |k: &str| o.get(k).and_then(Value::as_u64).map(|n| n as usize);
        s.min_len = uint("minLength");
        s.max_len = uint("maxLength");
        s.min_items = uint("minItems");
        s.max_items = uint("maxItems");
        s.min_props = uint("minProperties");
        s.max_props = uint("maxProperties");
        s.minimum = o.get("minimum").and_then(Value::as_f64);
        s.maximum = o.get("maximum").and_then(Value::as_f64);
        s.exclusive_min = flag("exclusiveMinimum");
        s.exclusive_max = flag("exclusiveMaximum");
        s.nullable = flag("nullable");
        s.default = o.get("default").cloned();
        s.preserve_unknown |= flag("x-kubernetes-preserve-unknown-fields");
        s.embedded = flag("x-kubernetes-embedded-resource");
        s.list = match o.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                o.get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|ks| {
                        ks.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        };
        if let Some(n) = o.get("not") {
            s.not = Some(Box::new(self.read_inline(n)));
        }
        for (key, field) in [("oneOf", 0), ("anyOf", 1)] {
            if let Some(Value::Array(alts)) = o.get(key) {
                let alts: Vec<Shape> = alts.iter().map(|a| self.read_inline(a)).collect();
                if field == 0 {
                    s.one_of = alts;
                } else {
                    s.any_of = alts;
                }
            }
        }
        if let (Some(find), Some(Value::Array(rs))) =
            (self.rules, o.get("x-kubernetes-validations"))
        {
            for r in rs {
                if let Some(rule) = r.get("rule").and_then(Value::as_str).and_then(find) {
                    s.rules.push((rule, ""));
                }
            }
        }
        // An object schema with neither properties nor additionalProperties is free-form.
        if self.free_form_objects
            && s.ty == Ty::Object
            && s.props.is_empty()
            && s.additional.is_none()
        {
            s.preserve_unknown = true;
        }
        s
    }
}

/// The shape of a k8s-openapi type (memoised per type by the caller).
pub fn shape_of<T: JsonSchema>() -> Arc<Shape> {
    let mut gen = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let root = gen.subschema_for::<T>();
    let defs = gen.take_definitions(false);
    let mut reader = Reader::new(&defs);
    reader.free_form_objects = true;
    reader.read(root.as_value())
}

/// A built-in type embedded in a CRD, as controller-gen writes it from the same Go type: the k8s-openapi
/// schema with the CRD generator's differences (list-map keys and sets, defaults, which fields are
/// required). `overlay` adjusts it further for the embedding type.
pub fn embedded<T: JsonSchema>() -> Shape {
    let shape = shape_of::<T>();
    crd_style(&shape, "")
}

/// The controller-gen differences, by field path relative to the embedded type's root.
fn crd_style(s: &Shape, path: &str) -> Shape {
    use super::shape::ListType;
    use serde_json::json;
    let mut out = s.clone();
    out.props = s
        .props
        .iter()
        .map(|(k, v)| {
            let p = format!("{path}.{k}");
            (k.clone(), Arc::new(crd_style(v, &p)))
        })
        .collect();
    if let Some(i) = &s.items {
        out.items = Some(Arc::new(crd_style(i, &format!("{path}[]"))));
    }
    if let Some(a) = &s.additional {
        out.additional = Some(Arc::new(crd_style(a, &format!("{path}{{}}"))));
    }
    // A reference by name (LocalObjectReference and the key selectors): `name` defaults to "".
    let refs_by_name = out.props.contains_key("name")
        && out.required.iter().any(|r| r == "name")
        && out.props.keys().all(|k| {
            matches!(
                k.as_str(),
                "name" | "key" | "optional" | "items" | "defaultMode"
            )
        });
    if refs_by_name {
        out.required.retain(|r| r != "name");
        if let Some(n) = out.props.get("name") {
            let mut n = (**n).clone();
            n.default = Some(json!(""));
            out.props.insert("name".into(), Arc::new(n));
        }
    }
    let last = path.rsplit(['.', '[']).next().unwrap_or("");
    let ends = |suffix: &str| path.ends_with(suffix);
    if ends(".env") {
        out.list = ListType::Map(vec!["name".into()]);
    } else if ends(".ports") && path.matches('.').count() == 1 {
        out.list = ListType::Map(vec!["containerPort".into(), "protocol".into()]);
    } else if ends(".volumeDevices") {
        out.list = ListType::Map(vec!["devicePath".into()]);
    } else if ends(".volumeMounts") && path.matches('.').count() == 1 {
        out.list = ListType::Map(vec!["mountPath".into()]);
    } else if ends(".claims") || path == ".options" || ends("dnsConfig.options") {
        out.list = ListType::Map(vec!["name".into()]);
    } else if ends("status.conditions") {
        out.list = ListType::Map(vec!["type".into()]);
    } else if ends(".nameservers") || ends(".searches") || ends("exitCodes.values") {
        out.list = ListType::Set;
    }
    if ends(".nameservers[]") || ends(".searches[]") || ends(".options[].name") {
        out.min_len = Some(1);
    }
    if ends(".options[]") {
        out.required = vec!["name".into()];
    }
    let defaults: &[(&str, serde_json::Value)] = &[
        (".ports[].protocol", json!("TCP")),
        ("grpc.service", json!("")),
        ("fileKeyRef.optional", json!(false)),
        ("azureDisk.fsType", json!("ext4")),
        ("azureDisk.readOnly", json!(false)),
        ("iscsi.iscsiInterface", json!("default")),
        ("rbd.keyring", json!("/etc/ceph/keyring")),
        ("rbd.pool", json!("rbd")),
        ("rbd.user", json!("admin")),
        ("scaleIO.fsType", json!("xfs")),
        ("scaleIO.storageMode", json!("ThinProvisioned")),
    ];
    for (suffix, d) in defaults {
        if ends(suffix) {
            out.default = Some(d.clone());
        }
    }
    // controller-gen writes the metadata of an embedded template (ObjectMeta) as a bare object.
    if last == "metadata" {
        out.props.clear();
        out.additional = None;
        out.preserve_unknown = false;
    }
    out
}

/// Shapes of the built-in kinds, built once.
pub struct Builtins {
    pub pod: Arc<Shape>,
    pub service: Arc<Shape>,
    pub endpoint_slice: Arc<Shape>,
    pub network_policy: Arc<Shape>,
    pub namespace: Arc<Shape>,
    pub config_map: Arc<Shape>,
    pub secret: Arc<Shape>,
    pub daemon_set: Arc<Shape>,
    pub deployment: Arc<Shape>,
    pub replica_set: Arc<Shape>,
    pub stateful_set: Arc<Shape>,
    pub replication_controller: Arc<Shape>,
    pub job: Arc<Shape>,
    pub cron_job: Arc<Shape>,
    pub object_meta: Arc<Shape>,
}

pub fn builtins() -> &'static Builtins {
    use k8s_openapi::api::apps::v1 as apps;
    use k8s_openapi::api::batch::v1 as batch;
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::discovery::v1 as discovery;
    use k8s_openapi::api::networking::v1 as net;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    static B: OnceLock<Builtins> = OnceLock::new();
    B.get_or_init(|| Builtins {
        pod: shape_of::<core::Pod>(),
        service: shape_of::<core::Service>(),
        endpoint_slice: shape_of::<discovery::EndpointSlice>(),
        network_policy: shape_of::<net::NetworkPolicy>(),
        namespace: shape_of::<core::Namespace>(),
        config_map: shape_of::<core::ConfigMap>(),
        secret: shape_of::<core::Secret>(),
        daemon_set: shape_of::<apps::DaemonSet>(),
        deployment: shape_of::<apps::Deployment>(),
        replica_set: shape_of::<apps::ReplicaSet>(),
        stateful_set: shape_of::<apps::StatefulSet>(),
        replication_controller: shape_of::<core::ReplicationController>(),
        job: shape_of::<batch::Job>(),
        cron_job: shape_of::<batch::CronJob>(),
        object_meta: shape_of::<ObjectMeta>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_shape_knows_its_fields() {
        let b = builtins();
        let spec = b.pod.props.get("spec").expect("spec");
        let containers = spec.props.get("containers").expect("containers");
        let c = containers.items.as_ref().expect("items");
        assert_eq!(c.props.get("name").unwrap().ty, Ty::String);
        let port = c.props["ports"].items.as_ref().unwrap();
        assert_eq!(port.props["containerPort"].format, Some(Format::Int32));
        assert_eq!(
            c.props["resources"].props["limits"]
                .additional
                .as_ref()
                .unwrap()
                .format,
            Some(Format::Quantity)
        );
        assert!(b.pod.props.contains_key("apiVersion"));
        assert_eq!(
            b.secret.props["data"].additional.as_ref().unwrap().format,
            Some(Format::Byte)
        );
    }
}
