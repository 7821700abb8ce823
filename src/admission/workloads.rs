//! The built-in validation of the workload kinds, written from Kubernetes 1.36's
//! `pkg/apis/apps/validation` (DaemonSet, Deployment, ReplicaSet, StatefulSet), `pkg/apis/batch/validation`
//! (Job, CronJob) and `pkg/apis/core/validation` (ReplicationController, and `ValidatePodTemplateSpec` for
//! every pod template), with the v1 defaults and the create strategies those functions see (a Job's
//! generated selector and labels, a ReplicationController's selector defaulted from its template).
//!
//! Every kind goes through [`selector_and_template`]: the selector that must select the template, the
//! template itself (labels, annotations, pod spec) and the restart policy its controller allows. The pod
//! spec rules are those of Pods ([`super::builtin::pod_spec`]).
//!
//! Called by [`super::builtin::validate`] once the object decodes.

use serde_json::{json, Map, Value};

use super::builtin::{
    arr, b, get, i, invalid_each, map, non_negative, opt_s, pod_spec, pod_specific_annotations,
    quantity_of, quoted, s, selector_matches,
};
use super::meta::{validate_label_selector, validate_labels, validate_object_meta, NameRule};
use super::names;
use super::shape::{as_integer, show};
use super::{Known, Path, Problems};

pub fn validate(kind: Known, v: &Value, out: &mut Problems) {
    match kind {
        Known::DaemonSet => daemon_set(v, out),
        Known::Deployment => deployment(v, out),
        Known::ReplicaSet => replica_set(v, out),
        Known::StatefulSet => stateful_set(v, out),
        Known::ReplicationController => replication_controller(v, out),
        Known::Job => job(v, out),
        Known::CronJob => cron_job(v, out),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------------------
// The part every workload shares: selector and pod template.

/// How a workload kind selects the pods of its template.
pub(super) enum Selector<'a> {
    /// None of its own (a CronJob's job template: the Job's selector is generated).
    None,
    /// A `metav1.LabelSelector` at `spec.selector`. `required`: a missing one is an error (all but
    /// DaemonSet, where a missing selector selects nothing); `empty_is_invalid_for`: the word the API
    /// server uses in refusing an empty one.
    Label {
        value: Option<&'a Value>,
        required: bool,
        empty_is_invalid_for: Option<&'static str>,
    },
    /// A ReplicationController's `map[string]string` (already defaulted from the template's labels).
    Map(Option<&'a Map<String, Value>>),
}

/// The restart policies a controller accepts for its pods.
pub(super) enum Restart {
    /// `Always` (the default); `activeDeadlineSeconds` is forbidden, the message naming this kind.
    Always(&'static str),
    /// A Job's: `OnFailure` or `Never`; only `Never` with a pod failure policy.
    Job { pod_failure_policy: bool },
}

pub(super) struct Template<'a> {
    pub selector: Selector<'a>,
    /// The template's labels as the API server validates them (a Job's include the generated ones);
    /// `None`: as written.
    pub labels: Option<&'a Map<String, Value>>,
    /// Whether the pod spec is validated (`ValidatePodTemplateSpec`); a StatefulSet's template only has
    /// its labels and annotations checked (`ValidatePodTemplateSpecForStatefulSet`).
    pub pod_spec: bool,
    pub restart: Restart,
}

/// The selector at `spec.selector` and the pod template at `spec.template` of a workload spec (`sp`).
pub(super) fn selector_and_template(spec: &Value, sp: &Path, t: Template<'_>, out: &mut Problems) {
    let template = get(spec, "template");
    let tp = sp.key("template");
    let tmd = get(template, "metadata");
    let labels = t.labels.or_else(|| map(tmd, "labels"));
    let labels_path = tp.key("metadata").key("labels");
    let mismatch = |out: &mut Problems| {
        out.invalid(
            &labels_path,
            "labels",
            "`selector` does not match template `labels`",
        )
    };
    match t.selector {
        Selector::None => {}
        Selector::Label {
            value,
            required,
            empty_is_invalid_for,
        } => {
            match value {
                None if required => out.required(&sp.key("selector")),
                None => {}
                Some(sel) => {
                    validate_label_selector(sel, &sp.key("selector"), out);
                    let n = map(sel, "matchLabels").map_or(0, Map::len)
                        + arr(sel, "matchExpressions").len();
                    if let Some(kind) = empty_is_invalid_for.filter(|_| n == 0) {
                        out.invalid(
                            &sp.key("selector"),
                            "selector",
                            format!("empty selector is invalid for {kind}"),
                        );
                    }
                }
            }
            // A missing selector selects nothing; an empty one everything.
            if !value.is_some_and(|sel| selector_matches(sel, labels)) {
                mismatch(out);
            }
        }
        Selector::Map(sel) => match sel.filter(|m| !m.is_empty()) {
            None => out.required(&sp.key("selector")),
            Some(m) => {
                let matches = m.iter().all(|(k, v)| {
                    labels.and_then(|l| l.get(k)).and_then(Value::as_str) == v.as_str()
                });
                if !matches {
                    mismatch(out);
                }
            }
        },
    }
    // ValidatePodTemplateSpec (or its StatefulSet subset).
    if let Some(l) = labels {
        validate_labels(l, &tp.key("labels"), out);
    }
    if let Some(ann) = map(tmd, "annotations") {
        for k in ann.keys() {
            invalid_each(
                out,
                &tp.key("annotations"),
                k,
                names::qualified_name(&k.to_lowercase()),
            );
        }
    }
    let tspec = get(template, "spec");
    let tsp = tp.key("spec");
    pod_specific_annotations(map(tmd, "annotations"), tspec, &tp.key("annotations"), out);
    if t.pod_spec {
        pod_spec(tspec, &tsp, false, out);
        if !arr(tspec, "ephemeralContainers").is_empty() {
            out.forbidden(
                &tsp.key("ephemeralContainers"),
                "ephemeral containers not allowed in pod template",
            );
        }
    }
    let rp = s(tspec, "restartPolicy");
    match t.restart {
        Restart::Always(kind) => {
            if !rp.is_empty() && rp != "Always" {
                out.unsupported(&tsp.key("restartPolicy"), rp, &["Always"]);
            }
            if tspec
                .get("activeDeadlineSeconds")
                .is_some_and(|x| !x.is_null())
            {
                out.forbidden(
                    &tsp.key("activeDeadlineSeconds"),
                    format!("activeDeadlineSeconds in {kind} is not Supported"),
                );
            }
        }
        Restart::Job { pod_failure_policy } => match rp {
            "" | "Always" => out.push(
                &tsp.key("restartPolicy"),
                "Required value: valid values: \"OnFailure\", \"Never\"",
            ),
            "OnFailure" if pod_failure_policy => out.invalid(
                &tsp.key("restartPolicy"),
                quoted(rp),
                "only \"Never\" is supported when podFailurePolicy is specified",
            ),
            "OnFailure" | "Never" => {}
            other => out.unsupported(&tsp.key("restartPolicy"), other, &["OnFailure", "Never"]),
        },
    }
}

/// The value of a field that is not null.
fn present<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

/// An IntOrString that must be a non-negative integer or a percentage (`ValidatePositiveIntOrPercent`):
/// its value (the percentage's number), `None` when it is not valid.
fn int_or_percent(x: &Value, path: &Path, out: &mut Problems) -> Option<i64> {
    match x {
        Value::String(pct) => match pct
            .strip_suffix('%')
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            Some(n) => Some(n.parse().unwrap_or(i64::MAX)),
            None => {
                out.invalid(path, quoted(pct), "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
                None
            }
        },
        other => {
            let n = as_integer(other).unwrap_or(0);
            if n < 0 {
                out.invalid(path, n, "must be greater than or equal to 0");
                None
            } else {
                Some(n)
            }
        }
    }
}

/// `IsNotMoreThan100Percent`.
fn not_over_100(x: &Value, path: &Path, out: &mut Problems) {
    if let Some(n) = x.as_str().and_then(|p| p.strip_suffix('%')) {
        if n.chars().all(|c| c.is_ascii_digit()) && n.parse::<u64>().is_ok_and(|n| n > 100) {
            out.invalid(
                path,
                quoted(x.as_str().unwrap_or("")),
                "must not be greater than 100%",
            );
        }
    }
}

fn label_selector_of(spec: &Value) -> Option<&Value> {
    present(spec, "selector")
}

// ---------------------------------------------------------------------------------------------------------
// DaemonSet.

fn daemon_set(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    selector_and_template(
        spec,
        &sp,
        Template {
            selector: Selector::Label {
                value: label_selector_of(spec),
                required: false,
                empty_is_invalid_for: Some("daemonset"),
            },
            labels: None,
            pod_spec: true,
            restart: Restart::Always("DaemonSet"),
        },
        out,
    );
    non_negative(spec, "minReadySeconds", &sp, out);
    non_negative(spec, "templateGeneration", &sp, out);
    non_negative(spec, "revisionHistoryLimit", &sp, out);
    let us = get(spec, "updateStrategy");
    let up = sp.key("updateStrategy");
    match opt_s(us, "type")
        .filter(|t| !t.is_empty())
        .unwrap_or("RollingUpdate")
    {
        "OnDelete" => {}
        "RollingUpdate" => {
            // v1 defaults: maxUnavailable 1, maxSurge 0.
            let ru = get(us, "rollingUpdate");
            let mu = present(ru, "maxUnavailable").cloned().unwrap_or(json!(1));
            let ms = present(ru, "maxSurge").cloned().unwrap_or(json!(0));
            let rup = up.key("rollingUpdate");
            let u = int_or_percent(&mu, &rup.key("maxUnavailable"), out);
            let su = int_or_percent(&ms, &rup.key("maxSurge"), out);
            not_over_100(&mu, &rup.key("maxUnavailable"), out);
            not_over_100(&ms, &rup.key("maxSurge"), out);
            match (u.unwrap_or(0) != 0, su.unwrap_or(0) != 0) {
                (true, true) => out.invalid(
                    &rup.key("maxSurge"),
                    "maxSurge",
                    "may not be set when maxUnavailable is non-zero",
                ),
                (false, false) => out.push(
                    &rup.key("maxUnavailable"),
                    "Required value: cannot be 0 when maxSurge is 0",
                ),
                _ => {}
            }
        }
        other => out.unsupported(&up, other, &["RollingUpdate", "OnDelete"]),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Deployment and ReplicaSet (`ValidatePodTemplateSpecForReplicaSet`).

fn replica_set_like(spec: &Value, sp: &Path, out: &mut Problems) {
    non_negative(spec, "replicas", sp, out);
    non_negative(spec, "minReadySeconds", sp, out);
    selector_and_template(
        spec,
        sp,
        Template {
            selector: Selector::Label {
                value: label_selector_of(spec),
                required: true,
                // Sic: the ReplicaSet's message names deployments too.
                empty_is_invalid_for: Some("deployment"),
            },
            labels: None,
            pod_spec: true,
            restart: Restart::Always("ReplicaSet"),
        },
        out,
    );
}

fn deployment(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    replica_set_like(spec, &sp, out);
    non_negative(spec, "revisionHistoryLimit", &sp, out);
    // v1 default: 600.
    let min_ready = i(spec, "minReadySeconds").unwrap_or(0);
    let deadline = i(spec, "progressDeadlineSeconds").unwrap_or(600);
    if deadline < 0 {
        out.invalid(
            &sp.key("progressDeadlineSeconds"),
            deadline,
            "must be greater than or equal to 0",
        );
    }
    if deadline <= min_ready {
        out.invalid(
            &sp.key("progressDeadlineSeconds"),
            deadline,
            "must be greater than minReadySeconds",
        );
    }
    let st = get(spec, "strategy");
    let stp = sp.key("strategy");
    match opt_s(st, "type")
        .filter(|t| !t.is_empty())
        .unwrap_or("RollingUpdate")
    {
        "Recreate" => {
            if present(st, "rollingUpdate").is_some() {
                out.forbidden(
                    &stp.key("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        "RollingUpdate" => {
            // v1 defaults: 25% and 25%.
            let ru = get(st, "rollingUpdate");
            let rup = stp.key("rollingUpdate");
            let mu = present(ru, "maxUnavailable")
                .cloned()
                .unwrap_or(json!("25%"));
            let ms = present(ru, "maxSurge").cloned().unwrap_or(json!("25%"));
            let u = int_or_percent(&mu, &rup.key("maxUnavailable"), out);
            let su = int_or_percent(&ms, &rup.key("maxSurge"), out);
            // An invalid value reads as its integer (Go's IntValue: 0 for most strings).
            let value = |x: &Value, parsed: Option<i64>| {
                parsed.unwrap_or_else(|| x.as_str().and_then(|s| s.parse().ok()).unwrap_or(0))
            };
            if value(&mu, u) == 0 && value(&ms, su) == 0 {
                out.invalid(
                    &rup.key("maxUnavailable"),
                    show(&mu),
                    "may not be 0 when `maxSurge` is 0",
                );
            }
            not_over_100(&mu, &rup.key("maxUnavailable"), out);
        }
        other => out.unsupported(&stp, other, &["Recreate", "RollingUpdate"]),
    }
}

fn replica_set(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    replica_set_like(get(v, "spec"), &Path::root().key("spec"), out);
}

// ---------------------------------------------------------------------------------------------------------
// StatefulSet.

fn stateful_set(v: &Value, out: &mut Problems) {
    // StatefulSet names are DNS labels (the pods' hostnames).
    validate_object_meta(v, NameRule::Label, true, true, out);
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    // v1 default (also for ""): OrderedReady.
    match opt_s(spec, "podManagementPolicy")
        .filter(|p| !p.is_empty())
        .unwrap_or("OrderedReady")
    {
        "OrderedReady" | "Parallel" => {}
        other => out.invalid(
            &sp.key("podManagementPolicy"),
            quoted(other),
            "must be 'OrderedReady' or 'Parallel'",
        ),
    }
    let us = get(spec, "updateStrategy");
    let up = sp.key("updateStrategy");
    // v1 default: RollingUpdate (partition 0, maxUnavailable 1).
    match opt_s(us, "type")
        .filter(|t| !t.is_empty())
        .unwrap_or("RollingUpdate")
    {
        "OnDelete" => {
            if present(us, "rollingUpdate").is_some() {
                out.invalid(
                    &up.key("rollingUpdate"),
                    "rollingUpdate",
                    "only allowed for updateStrategy 'RollingUpdate'",
                );
            }
        }
        "RollingUpdate" => {
            let ru = get(us, "rollingUpdate");
            let rup = up.key("rollingUpdate");
            non_negative(ru, "partition", &rup, out);
            // maxUnavailable is not validated: the 1.36 API server accepts any value on create (the
            // field of the MaxUnavailableStatefulSet feature is dropped).
        }
        other => out.invalid(&up, quoted(other), "must be 'RollingUpdate' or 'OnDelete'"),
    }
    let pvc = get(spec, "persistentVolumeClaimRetentionPolicy");
    let pvcp = sp.key("persistentVolumeClaimRetentionPolicy");
    for k in ["whenDeleted", "whenScaled"] {
        // v1 default (also for ""): Retain.
        let p = opt_s(pvc, k).filter(|p| !p.is_empty()).unwrap_or("Retain");
        if !matches!(p, "Retain" | "Delete") {
            out.unsupported(&pvcp.key(k), p, &["Retain", "Delete"]);
        }
    }
    non_negative(spec, "replicas", &sp, out);
    non_negative(spec, "minReadySeconds", &sp, out);
    if let Some(start) = i(get(spec, "ordinals"), "start") {
        if start < 0 {
            out.invalid(
                &sp.key("ordinals.start"),
                start,
                "must be greater than or equal to 0",
            );
        }
    }
    if let Some(svc) = opt_s(spec, "serviceName").filter(|n| !n.is_empty()) {
        invalid_each(out, &sp.key("serviceName"), svc, names::dns1123_label(svc));
    }
    // The pods mount their claims as volumes: the template is validated with them. Its hostname and
    // subdomain are the controller's to set (the pod's name, the service): not validated.
    let claims = claim_templates(spec, &sp, out);
    let own = arr(get(get(spec, "template"), "spec"), "volumes");
    let mut volumes: Vec<Value> = claims
        .into_iter()
        .filter(|c| !own.iter().any(|v| v.get("name") == c.get("name")))
        .collect();
    volumes.extend(own.iter().cloned());
    let mut with_claims = spec.clone();
    if let Some(tspec) = with_claims
        .pointer_mut("/template/spec")
        .and_then(Value::as_object_mut)
    {
        tspec.remove("hostname");
        tspec.remove("subdomain");
        if !volumes.is_empty() {
            tspec.insert("volumes".into(), Value::Array(volumes));
        }
    }
    let spec = &with_claims;
    selector_and_template(
        spec,
        &sp,
        Template {
            selector: Selector::Label {
                value: label_selector_of(spec),
                required: true,
                empty_is_invalid_for: Some("statefulset"),
            },
            labels: None,
            pod_spec: true,
            restart: Restart::Always("StatefulSet"),
        },
        out,
    );
}

/// `spec.volumeClaimTemplates` (`ValidatePersistentVolumeClaimSpec`, the parts a template can get
/// wrong), and the volumes they give the pods: one per claim name.
fn claim_templates(spec: &Value, sp: &Path, out: &mut Problems) -> Vec<Value> {
    const MODES: &[&str] = &[
        "ReadOnlyMany",
        "ReadWriteMany",
        "ReadWriteOnce",
        "ReadWriteOncePod",
    ];
    let mut volumes: Vec<Value> = Vec::new();
    for (ci, claim) in arr(spec, "volumeClaimTemplates").iter().enumerate() {
        let cp = sp.key("volumeClaimTemplates").index(ci).key("spec");
        let cspec = get(claim, "spec");
        let modes: Vec<&str> = arr(cspec, "accessModes")
            .iter()
            .map(|m| m.as_str().unwrap_or(""))
            .collect();
        if modes.is_empty() {
            out.push(
                &cp.key("accessModes"),
                "Required value: at least 1 access mode is required",
            );
        }
        for m in &modes {
            if !MODES.contains(m) {
                out.unsupported(&cp.key("accessModes"), m, MODES);
            }
        }
        if modes.contains(&"ReadWriteOncePod") && modes.len() > 1 {
            out.forbidden(
                &cp.key("accessModes"),
                "may not use ReadWriteOncePod with other access modes",
            );
        }
        match get(get(cspec, "resources"), "requests").get("storage") {
            None | Some(Value::Null) => out.required(&cp.key("resources").map_key("storage")),
            Some(q) => {
                if quantity_of(q).is_some_and(|x| x <= 0.0) {
                    out.invalid(
                        &cp.key("resources").map_key("storage"),
                        show(q),
                        "must be greater than zero",
                    );
                }
            }
        }
        if let Some(m) = opt_s(cspec, "volumeMode") {
            if !matches!(m, "Block" | "Filesystem") {
                out.unsupported(&cp.key("volumeMode"), m, &["Block", "Filesystem"]);
            }
        }
        if let Some(sc) = opt_s(cspec, "storageClassName").filter(|s| !s.is_empty()) {
            invalid_each(
                out,
                &cp.key("storageClassName"),
                sc,
                names::dns1123_subdomain(sc),
            );
        }
        if let Some(sel) = present(cspec, "selector") {
            validate_label_selector(sel, &cp.key("selector"), out);
        }
        let source = present(cspec, "dataSource");
        let source_ref = present(cspec, "dataSourceRef");
        for (k, x) in [("dataSource", source), ("dataSourceRef", source_ref)] {
            if let Some(x) = x {
                data_source(x, &cp.key(k), out);
            }
        }
        if let (Some(a), Some(r)) = (source, source_ref) {
            let key = |x: &Value| {
                (
                    opt_s(x, "apiGroup").unwrap_or("").to_string(),
                    s(x, "kind").to_string(),
                    s(x, "name").to_string(),
                )
            };
            if key(a) != key(r) {
                out.invalid(&cp, "dataSource", "must match dataSourceRef");
            }
        }
        let name = s(get(claim, "metadata"), "name");
        if !volumes.iter().any(|v| s(v, "name") == name) {
            volumes.push(json!({"name": name, "persistentVolumeClaim": {"claimName": name}}));
        }
    }
    volumes
}

/// A claim's `dataSource`/`dataSourceRef` (`validateDataSource`).
fn data_source(x: &Value, path: &Path, out: &mut Problems) {
    if s(x, "name").is_empty() {
        out.required(&path.key("name"));
    }
    let kind = s(x, "kind");
    if kind.is_empty() {
        out.required(&path.key("kind"));
    }
    let group = s(x, "apiGroup");
    if group.is_empty() && kind != "PersistentVolumeClaim" {
        out.invalid(
            path,
            quoted(kind),
            "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
        );
    }
    if !group.is_empty() {
        invalid_each(
            out,
            &path.key("apiGroup"),
            group,
            names::dns1123_subdomain(group),
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// ReplicationController (`ValidateReplicationControllerSpec`, core).

fn replication_controller(v: &Value, out: &mut Problems) {
    // The 1.36 API server checks a ReplicationController's name as a DNS subdomain, but its
    // generateName only as a path segment prefix (no '/', no '%').
    let mut meta_only = json!({"metadata": get(v, "metadata").clone()});
    if let Some(md) = meta_only["metadata"].as_object_mut() {
        if let Some(Value::String(g)) = md.remove("generateName") {
            for c in ['/', '%'] {
                if g.contains(c) {
                    out.invalid(
                        &Path::root().key("metadata").key("generateName"),
                        quoted(&g),
                        format!("may not contain '{c}'"),
                    );
                }
            }
            if md
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                md.insert("generateName".into(), Value::String(g));
            }
        }
    }
    validate_object_meta(&meta_only, NameRule::Subdomain, true, true, out);
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    non_negative(spec, "minReadySeconds", &sp, out);
    non_negative(spec, "replicas", &sp, out);
    let Some(template) = present(spec, "template") else {
        // No template: nothing to default the selector from.
        if map(spec, "selector").is_none_or(Map::is_empty) {
            out.required(&sp.key("selector"));
        }
        out.required(&sp.key("template"));
        return;
    };
    // v1 default: the selector is the template's labels.
    let template_labels = map(get(template, "metadata"), "labels");
    let selector = map(spec, "selector")
        .filter(|m| !m.is_empty())
        .or(template_labels);
    selector_and_template(
        spec,
        &sp,
        Template {
            selector: Selector::Map(selector),
            labels: None,
            pod_spec: true,
            restart: Restart::Always("ReplicationController"),
        },
        out,
    );
}

// ---------------------------------------------------------------------------------------------------------
// Job and CronJob.

/// The labels the API server gives a Job's pod template and selects it by (`generateSelector`), with the
/// UID it assigns on create (unknown here: a stand-in).
const GENERATED_UID: &str = "00000000-0000-0000-0000-000000000000";
const UID_LABELS: [&str; 2] = ["batch.kubernetes.io/controller-uid", "controller-uid"];
const NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];

fn job(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let name = s(get(v, "metadata"), "name");
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    let written = map(get(get(spec, "template"), "metadata"), "labels");
    let mut labels = written.cloned().unwrap_or_default();
    let mut selector = label_selector_of(spec).cloned();
    if !b(spec, "manualSelector") {
        // generateSelector, then validateGeneratedSelector.
        for k in UID_LABELS {
            labels
                .entry(k)
                .or_insert_with(|| Value::from(GENERATED_UID));
        }
        for k in NAME_LABELS {
            labels.entry(k).or_insert_with(|| Value::from(name));
        }
        let sel = selector.get_or_insert_with(|| json!({}));
        if let Some(o) = sel.as_object_mut() {
            let ml = o.entry("matchLabels").or_insert_with(|| json!({}));
            if !ml.is_object() {
                *ml = json!({});
            }
            if let Some(ml) = ml.as_object_mut() {
                ml.entry(UID_LABELS[0])
                    .or_insert_with(|| Value::from(GENERATED_UID));
            }
        }
        let lp = sp.key("template").key("metadata").key("labels");
        for k in UID_LABELS {
            // The UID is the API server's: a label the object sets cannot hold it.
            if let Some(x) = written.and_then(|w| w.get(k)) {
                out.invalid(
                    &lp.map_key(k),
                    quoted(x.as_str().unwrap_or("")),
                    "must be the Job's UID (assigned by the API server: leave the label out)",
                );
            }
        }
        for k in NAME_LABELS {
            let x = labels.get(k).and_then(Value::as_str).unwrap_or("");
            if x != name {
                out.invalid(&lp.map_key(k), quoted(x), format!("must be '{name}'"));
            }
        }
        let mut expected = Map::new();
        for k in UID_LABELS {
            expected.insert(k.into(), Value::from(GENERATED_UID));
        }
        for k in NAME_LABELS {
            expected.insert(k.into(), Value::from(name));
        }
        // A controller-uid the object selects on is not the UID the API server assigns.
        let user_uid = label_selector_of(spec)
            .and_then(|s| s.pointer("/matchLabels/batch.kubernetes.io~1controller-uid"))
            .is_some();
        if user_uid
            || !selector
                .as_ref()
                .is_some_and(|s| selector_matches(s, Some(&expected)))
        {
            out.invalid(
                &sp.key("selector"),
                "selector",
                "`selector` not auto-generated",
            );
        }
    }
    job_spec(
        spec,
        &sp,
        Selector::Label {
            value: selector.as_ref(),
            required: true,
            empty_is_invalid_for: None,
        },
        Some(&labels),
        out,
    );
    // An Indexed Job's pods are named `NAME-INDEX`: their hostnames must be DNS labels.
    if s(spec, "completionMode") == "Indexed" {
        if let Some(c) = i(spec, "completions").filter(|c| *c > 0) {
            let host = format!("{name}-{}", c - 1);
            if names::dns1123_label(&host).is_err() {
                out.invalid(
                    &Path::root().key("metadata").key("name"),
                    quoted(name),
                    format!("will not able to create pod with invalid DNS label: {host}"),
                );
            }
        }
    }
}

/// `validateJobSpec` and, for a Job, the selector part of `ValidateJobSpec`.
fn job_spec(
    spec: &Value,
    sp: &Path,
    selector: Selector<'_>,
    labels: Option<&Map<String, Value>>,
    out: &mut Problems,
) {
    for k in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        non_negative(spec, k, sp, out);
    }
    let completions = i(spec, "completions");
    // v1 defaults: parallelism 1 (and completions 1 when neither is set).
    let completions = completions.or(i(spec, "parallelism").is_none().then_some(1));
    let parallelism = i(spec, "parallelism").unwrap_or(1);
    let per_index = i(spec, "backoffLimitPerIndex");
    let max_failed = i(spec, "maxFailedIndexes");
    if max_failed.is_some() && per_index.is_none() {
        out.push(
            &sp.key("backoffLimitPerIndex"),
            "Required value: when maxFailedIndexes is specified",
        );
    }
    if let Some(m) = opt_s(spec, "managedBy") {
        let p = sp.key("managedBy");
        match m.split_once('/') {
            Some((domain, path)) if !domain.is_empty() => {
                if let Err(e) = names::dns1123_subdomain(domain) {
                    out.invalid(&p, quoted(m), e);
                }
                let ok_path = path.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(
                            c,
                            '-' | '_'
                                | '.'
                                | '~'
                                | '/'
                                | '%'
                                | '!'
                                | '$'
                                | '&'
                                | '\''
                                | '('
                                | ')'
                                | '*'
                                | '+'
                                | ','
                                | ';'
                                | '='
                                | ':'
                                | '@'
                        )
                });
                if !ok_path {
                    out.invalid(&p, quoted(m), "must be a valid path");
                }
            }
            _ => out.invalid(
                &p,
                quoted(m),
                "must be a domain-prefixed path (such as \"acme.io/foo\")",
            ),
        }
        if m.len() > 63 {
            out.push(&p, "Too long: may not be more than 63 bytes");
        }
    }
    let mode = opt_s(spec, "completionMode").unwrap_or("NonIndexed");
    let indexed = mode == "Indexed";
    if !matches!(mode, "NonIndexed" | "Indexed") {
        out.unsupported(&sp.key("completionMode"), mode, &["NonIndexed", "Indexed"]);
    }
    if indexed {
        if completions.is_none() {
            out.push(
                &sp.key("completions"),
                "Required value: when completion mode is Indexed",
            );
        }
        if parallelism > 100_000 {
            out.invalid(
                &sp.key("parallelism"),
                parallelism,
                "must be less than or equal to 100000 when completion mode is Indexed",
            );
        }
        if let (Some(c), Some(m)) = (completions, max_failed) {
            if m > c {
                out.invalid(
                    &sp.key("maxFailedIndexes"),
                    m,
                    "must be less than or equal to completions",
                );
            }
        }
        if let Some(m) = max_failed.filter(|m| *m > 100_000) {
            out.invalid(
                &sp.key("maxFailedIndexes"),
                m,
                "must be less than or equal to 100000",
            );
        }
        if completions.is_some_and(|c| c > 100_000) && per_index.is_some() {
            if max_failed.is_none() {
                out.push(
                    &sp.key("maxFailedIndexes"),
                    "Required value: must be specified when completions is above 100000",
                );
            }
            if parallelism > 10_000 {
                out.invalid(&sp.key("parallelism"), parallelism, "must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index");
            }
            if let Some(m) = max_failed.filter(|m| *m > 10_000) {
                out.invalid(&sp.key("maxFailedIndexes"), m, "must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index");
            }
        }
    } else if mode == "NonIndexed" {
        if let Some(n) = per_index {
            out.invalid(
                &sp.key("backoffLimitPerIndex"),
                n,
                "requires indexed completion mode",
            );
        }
        if let Some(n) = max_failed {
            out.invalid(
                &sp.key("maxFailedIndexes"),
                n,
                "requires indexed completion mode",
            );
        }
    }
    let pfp = present(spec, "podFailurePolicy");
    if let Some(pfp) = pfp {
        pod_failure_policy(
            spec,
            pfp,
            per_index.is_some(),
            &sp.key("podFailurePolicy"),
            out,
        );
    }
    if let Some(sp_) = present(spec, "successPolicy") {
        let p = sp.key("successPolicy");
        if !indexed {
            out.invalid(&p, "successPolicy", "requires indexed completion mode");
        } else {
            success_policy(sp_, completions.unwrap_or(0), &p, out);
        }
    }
    if let Some(r) = opt_s(spec, "podReplacementPolicy") {
        let p = sp.key("podReplacementPolicy");
        if pfp.is_some() {
            if r != "Failed" {
                out.unsupported(&p, r, &["Failed"]);
            }
        } else if !matches!(r, "Failed" | "TerminatingOrFailed") {
            out.unsupported(&p, r, &["Failed", "TerminatingOrFailed"]);
        }
    }
    selector_and_template(
        spec,
        sp,
        Template {
            selector,
            labels,
            pod_spec: true,
            restart: Restart::Job {
                pod_failure_policy: pfp.is_some(),
            },
        },
        out,
    );
}

fn pod_failure_policy(spec: &Value, pfp: &Value, per_index: bool, path: &Path, out: &mut Problems) {
    let rules = arr(pfp, "rules");
    let rp = path.key("rules");
    if rules.len() > 20 {
        out.push(
            &rp,
            format!("Too many: {}: must have at most 20 items", rules.len()),
        );
    }
    let tspec = get(get(spec, "template"), "spec");
    let containers: Vec<&str> = arr(tspec, "containers")
        .iter()
        .chain(arr(tspec, "initContainers"))
        .map(|c| s(c, "name"))
        .collect();
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    for (ri, rule) in rules.iter().enumerate() {
        let p = rp.index(ri);
        match s(rule, "action") {
            "" => out.push(
                &p.key("action"),
                "Required value: valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
            ),
            "FailIndex" => {
                if !per_index {
                    out.invalid(
                        &p.key("action"),
                        "\"FailIndex\"",
                        "requires the backoffLimitPerIndex to be set",
                    );
                }
            }
            a if ACTIONS.contains(&a) => {}
            a => out.unsupported(&p.key("action"), a, ACTIONS),
        }
        let on_exit = present(rule, "onExitCodes");
        let on_conditions = arr(rule, "onPodConditions");
        if let Some(oe) = on_exit {
            let ep = p.key("onExitCodes");
            let op = s(oe, "operator");
            match op {
                "" => out.push(
                    &ep.key("operator"),
                    "Required value: valid values: [\"In\" \"NotIn\"]",
                ),
                "In" | "NotIn" => {}
                other => out.unsupported(&ep.key("operator"), other, &["In", "NotIn"]),
            }
            if let Some(c) = opt_s(oe, "containerName") {
                if !containers.contains(&c) {
                    out.invalid(
                        &ep.key("containerName"),
                        quoted(c),
                        "must be one of the container or initContainer names in the pod template",
                    );
                }
            }
            let values: Vec<i64> = arr(oe, "values")
                .iter()
                .map(|x| as_integer(x).unwrap_or(0))
                .collect();
            let vp = ep.key("values");
            if values.is_empty() {
                out.invalid(&vp, "[]", "at least one value is required");
            } else if values.len() > 255 {
                out.push(
                    &vp,
                    format!("Too many: {}: must have at most 255 items", values.len()),
                );
            }
            let mut seen = std::collections::BTreeSet::new();
            for (j, x) in values.iter().enumerate() {
                if op == "In" && *x == 0 {
                    out.invalid(&vp.index(j), 0, "must not be 0 for the In operator");
                }
                if !seen.insert(*x) {
                    out.duplicate(&vp.index(j), x);
                }
            }
            if values.windows(2).any(|w| w[0] > w[1]) {
                out.invalid(&vp, "values", "must be ordered");
            }
        }
        if !on_conditions.is_empty() {
            let cp = p.key("onPodConditions");
            if on_conditions.len() > 20 {
                out.push(
                    &cp,
                    format!(
                        "Too many: {}: must have at most 20 items",
                        on_conditions.len()
                    ),
                );
            }
            for (j, pat) in on_conditions.iter().enumerate() {
                let t = s(pat, "type");
                invalid_each(out, &cp.index(j).key("type"), t, names::qualified_name(t));
                // v1 default: True.
                let st = opt_s(pat, "status")
                    .filter(|x| !x.is_empty())
                    .unwrap_or("True");
                if !matches!(st, "False" | "True" | "Unknown") {
                    out.unsupported(
                        &cp.index(j).key("status"),
                        st,
                        &["False", "True", "Unknown"],
                    );
                }
            }
        }
        match (on_exit.is_some(), !on_conditions.is_empty()) {
            (true, true) => out.invalid(
                &p,
                "rule",
                "specifying both OnExitCodes and OnPodConditions is not supported",
            ),
            (false, false) => out.invalid(
                &p,
                "rule",
                "specifying one of OnExitCodes and OnPodConditions is required",
            ),
            _ => {}
        }
    }
}

fn success_policy(policy: &Value, completions: i64, path: &Path, out: &mut Problems) {
    let rules = arr(policy, "rules");
    let rp = path.key("rules");
    if rules.is_empty() {
        out.push(
            &rp,
            "Required value: at least one rules must be specified when the successPolicy is specified",
        );
    }
    if rules.len() > 20 {
        out.push(
            &rp,
            format!("Too many: {}: must have at most 20 items", rules.len()),
        );
    }
    for (ri, rule) in rules.iter().enumerate() {
        let p = rp.index(ri);
        let count = i(rule, "succeededCount");
        let indexes = opt_s(rule, "succeededIndexes");
        if count.is_none() && indexes.is_none() {
            out.push(
                &p,
                "Required value: at least one of succeededCount or succeededIndexes must be specified",
            );
        }
        let mut total = 0;
        if let Some(ix) = indexes {
            let ip = p.key("succeededIndexes");
            if ix.len() > 64 * 1024 {
                out.push(&ip, "Too long: may not be more than 65536 bytes");
            }
            match indexes_total(ix, completions) {
                Ok(n) => total = n,
                Err(e) => out.invalid(
                    &ip,
                    quoted(ix),
                    format!("error parsing succeededIndexes: {e}"),
                ),
            }
        }
        if let Some(c) = count {
            let cp = p.key("succeededCount");
            if c < 0 {
                out.invalid(&cp, c, "must be greater than or equal to 0");
            }
            if c > completions {
                out.invalid(&cp, c, format!("must be less than or equal to {completions} (the number of specified completions)"));
            }
            if indexes.is_some() && c > total {
                out.invalid(&cp, c, format!("must be less than or equal to {total} (the number of indexes in the specified succeededIndexes field)"));
            }
        }
    }
}

/// `validateIndexesFormat`: `1,3-5,7`, ordered, not overlapping, below `completions`; the number of
/// indexes.
fn indexes_total(s: &str, completions: i64) -> Result<i64, String> {
    if s.is_empty() {
        return Ok(0);
    }
    let mut total = 0;
    let mut prev: Option<i64> = None;
    for interval in s.split(',') {
        let parse = |x: &str| -> Result<i64, String> {
            let n: i64 = x
                .parse()
                .map_err(|_| format!("cannot parse integer index: {x:?}"))?;
            if n < 0 {
                return Err(format!("interval limit cannot be negative: {n}"));
            }
            if n >= completions {
                return Err(format!(
                    "too large index: {n} must be less than the value of completions: {completions}"
                ));
            }
            Ok(n)
        };
        let (x, y) = match interval.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let n = parse(interval)?;
                (n, n)
            }
        };
        if x > y {
            return Err(format!("non-increasing order, previous: {x}, current: {y}"));
        }
        if let Some(p) = prev {
            if x <= p {
                return Err(format!(
                    "overlapping intervals or non-increasing order, previous: {p}, current: {x}"
                ));
            }
        }
        prev = Some(y);
        total += y - x + 1;
    }
    Ok(total)
}

fn cron_job(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let name = s(get(v, "metadata"), "name");
    if name.len() > 52 {
        // The Jobs it creates are named NAME-TIMESTAMP (11 characters more) and must fit 63.
        out.invalid(
            &Path::root().key("metadata").key("name"),
            quoted(name),
            "must be no more than 52 characters",
        );
    }
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    let schedule = s(spec, "schedule");
    if schedule.is_empty() {
        out.required(&sp.key("schedule"));
    } else {
        if let Err(e) = cron::parse_standard(schedule) {
            out.invalid(&sp.key("schedule"), quoted(schedule), e);
        }
        if schedule.contains("TZ") {
            out.invalid(
                &sp.key("schedule"),
                quoted(schedule),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            );
        }
    }
    non_negative(spec, "startingDeadlineSeconds", &sp, out);
    if let Some(tz) = opt_s(spec, "timeZone") {
        if let Err(e) = time_zone(tz) {
            out.invalid(&sp.key("timeZone"), quoted(tz), e);
        }
    }
    // v1 default (also for ""): Allow.
    match opt_s(spec, "concurrencyPolicy")
        .filter(|p| !p.is_empty())
        .unwrap_or("Allow")
    {
        "Allow" | "Forbid" | "Replace" => {}
        other => out.unsupported(
            &sp.key("concurrencyPolicy"),
            other,
            &["Allow", "Forbid", "Replace"],
        ),
    }
    // ValidateJobTemplateSpec: the Job's selector is generated.
    let jt = get(spec, "jobTemplate");
    let jsp = sp.key("jobTemplate").key("spec");
    let jspec = get(jt, "spec");
    job_spec(jspec, &jsp, Selector::None, None, out);
    if present(jspec, "selector").is_some() {
        out.invalid(
            &jsp.key("selector"),
            "selector",
            "`selector` will be auto-generated",
        );
    }
    if b(jspec, "manualSelector") {
        out.unsupported(&jsp.key("manualSelector"), "true", &["nil", "false"]);
    }
    non_negative(spec, "successfulJobsHistoryLimit", &sp, out);
    non_negative(spec, "failedJobsHistoryLimit", &sp, out);
}

/// `validateTimeZone`: an IANA time zone name, one of the tz database's (`tz_names.txt`, from tzdata's
/// `tzdata.zi`: the API server's Go looks the name up in the same database).
fn time_zone(tz: &str) -> Result<(), String> {
    let unknown = || Err(format!("unknown time zone {tz}"));
    if tz.is_empty() {
        return Err("timeZone must be nil or non-empty string".into());
    }
    for part in tz.split('/') {
        let ok = !part.is_empty()
            && part.len() <= 14
            && part != "."
            && part != ".."
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
        if !ok {
            return unknown();
        }
    }
    if tz.eq_ignore_ascii_case("Local") {
        return Err(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
                .into(),
        );
    }
    let known = include_str!("tz_names.txt")
        .lines()
        .any(|l| !l.starts_with('#') && l == tz);
    if known {
        Ok(())
    } else {
        unknown()
    }
}

/// The cron schedule syntax of robfig/cron v3's `ParseStandard` (what the API server parses
/// `spec.schedule` with): five fields or a `@` descriptor.
mod cron {
    struct Bounds {
        min: u32,
        max: u32,
        names: &'static [&'static str],
    }
    const MINUTES: Bounds = Bounds {
        min: 0,
        max: 59,
        names: &[],
    };
    const HOURS: Bounds = Bounds {
        min: 0,
        max: 23,
        names: &[],
    };
    const DOM: Bounds = Bounds {
        min: 1,
        max: 31,
        names: &[],
    };
    const MONTHS: Bounds = Bounds {
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    };
    const DOW: Bounds = Bounds {
        min: 0,
        max: 6,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    };

    pub fn parse_standard(spec: &str) -> Result<(), String> {
        if spec.is_empty() {
            return Err("empty spec string".into());
        }
        let mut spec = spec;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let i = spec.find(' ').unwrap_or(spec.len());
            let eq = spec.find('=').unwrap_or(0);
            let loc = &spec[eq + 1..i];
            if super::time_zone(loc).is_err() {
                return Err(format!(
                    "provided bad location {loc}: unknown time zone {loc}"
                ));
            }
            spec = spec[i..].trim();
        }
        if spec.starts_with('@') {
            return descriptor(spec);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                fields.len()
            ));
        }
        for (f, b) in fields.iter().zip([&MINUTES, &HOURS, &DOM, &MONTHS, &DOW]) {
            field(f, b)?;
        }
        Ok(())
    }

    fn descriptor(d: &str) -> Result<(), String> {
        match d {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            _ => match d.strip_prefix("@every ") {
                Some(dur) if go_duration(dur) => Ok(()),
                Some(dur) => Err(format!(
                    "failed to parse duration {d}: time: invalid duration {dur:?}"
                )),
                None => Err(format!("unrecognized descriptor: {d}")),
            },
        }
    }

    /// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`.
    fn go_duration(s: &str) -> bool {
        let s = s.strip_prefix(['-', '+']).unwrap_or(s);
        if s == "0" {
            return true;
        }
        if s.is_empty() {
            return false;
        }
        let mut rest = s;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let num = &rest[..num_end];
            if num.is_empty() || num == "." || num.matches('.').count() > 1 {
                return false;
            }
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            if !matches!(
                &rest[..unit_end],
                "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"
            ) {
                return false;
            }
            rest = &rest[unit_end..];
        }
        true
    }

    fn field(f: &str, b: &Bounds) -> Result<(), String> {
        for r in f.split(',') {
            range(r, b)?;
        }
        Ok(())
    }

    fn range(expr: &str, b: &Bounds) -> Result<(), String> {
        let (range, step) = match expr.split_once('/') {
            Some((r, s)) => {
                if s.contains('/') {
                    return Err(format!("too many slashes: {expr}"));
                }
                (r, Some(s))
            }
            None => (expr, None),
        };
        let (start, end) = if range == "*" || range == "?" {
            (b.min, b.max)
        } else {
            match range.split_once('-') {
                Some((lo, hi)) => {
                    if hi.contains('-') {
                        return Err(format!("too many hyphens: {expr}"));
                    }
                    (int_or_name(lo, b)?, int_or_name(hi, b)?)
                }
                None => {
                    let n = int_or_name(range, b)?;
                    (n, if step.is_some() { b.max } else { n })
                }
            }
        };
        if let Some(s) = step {
            let n = must_int(s)?;
            if n == 0 {
                return Err(format!("step of range should be a positive number: {expr}"));
            }
        }
        if start < b.min {
            return Err(format!(
                "beginning of range ({start}) below minimum ({}): {expr}",
                b.min
            ));
        }
        if end > b.max {
            return Err(format!(
                "end of range ({end}) above maximum ({}): {expr}",
                b.max
            ));
        }
        if start > end {
            return Err(format!(
                "beginning of range ({start}) beyond end of range ({end}): {expr}"
            ));
        }
        Ok(())
    }

    fn int_or_name(s: &str, b: &Bounds) -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = b.names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + if b.names.len() == 12 { 1 } else { 0 });
        }
        must_int(s)
    }

    fn must_int(s: &str) -> Result<u32, String> {
        let digits = s.strip_prefix('+').unwrap_or(s);
        match digits.parse::<i64>() {
            Ok(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {s}")),
            Ok(n) if !digits.starts_with('-') => u32::try_from(n)
                .map_err(|_| format!("failed to parse int from {s}: value out of range")),
            _ => Err(format!("failed to parse int from {s}: invalid syntax")),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn standard_schedules() {
            for ok in [
                "*/5 * * * *",
                "0 0 * * 0",
                "0 9-17 * * MON-FRI",
                "@hourly",
                "@every 1h30m",
                "5 4 * jan,feb ?",
                "0 0 1 */2 *",
            ] {
                assert!(super::parse_standard(ok).is_ok(), "{ok}");
            }
            for bad in [
                "* * * *",
                "60 * * * *",
                "* * * * 7",
                "@often",
                "*/0 * * * *",
                "5-1 * * * *",
                "x * * * *",
                "30s",
            ] {
                assert!(super::parse_standard(bad).is_err(), "{bad}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{admit, Settings};
    use serde_json::{json, Value};

    fn refused(mut v: Value) -> Vec<String> {
        match admit(&mut v, &Settings::default()) {
            Ok(()) => vec![],
            Err(r) => r.lines(),
        }
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx",
                        "ports": [{"name": "http", "containerPort": 80}]}]}
                }
            }
        })
    }

    #[test]
    fn a_deployment_is_validated_like_the_api_server() {
        assert_eq!(refused(deployment()), Vec::<String>::new());
        let mut d = deployment();
        d["spec"]["selector"]["matchLabels"]["app"] = json!("other");
        let r = refused(d);
        assert!(
            r.iter().any(
                |l| l.contains("spec.template.metadata.labels") && l.contains("does not match")
            ),
            "{r:?}"
        );
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = json!("Http_Port");
        let r = refused(d);
        assert!(
            r.iter()
                .any(|l| l.contains("spec.template.spec.containers[0].ports[0].name")),
            "{r:?}"
        );
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
        assert!(!refused(d).is_empty());
        let mut d = deployment();
        d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] =
            json!("metrics");
        let r = refused(d);
        assert!(
            r.iter().any(|l| l.starts_with(
                "Deployment shop/web: spec.template.spec.containers[0].ports[0].containerPort"
            )),
            "{r:?}"
        );
    }

    #[test]
    fn a_job_gets_its_selector_generated() {
        let job = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate", "namespace": "shop"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "m", "image": "busybox"}]}}}
        });
        assert_eq!(refused(job.clone()), Vec::<String>::new());
        let mut j = job.clone();
        j["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
        assert!(!refused(j).is_empty());
        let mut j = job.clone();
        j["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        assert!(!refused(j).is_empty());
        let mut j = job;
        j["metadata"]["name"] = json!("x".repeat(64));
        assert!(!refused(j).is_empty());
    }

    #[test]
    fn a_cron_job_needs_a_valid_schedule() {
        let cj = json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "shop"},
            "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "m", "image": "busybox"}]}}}}}
        });
        assert_eq!(refused(cj.clone()), Vec::<String>::new());
        let mut c = cj;
        c["spec"]["schedule"] = json!("every night");
        assert!(!refused(c).is_empty());
    }
}
