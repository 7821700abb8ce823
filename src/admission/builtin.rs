//! The built-in validation of the kinds `check` reads, written from Kubernetes 1.36's
//! `pkg/apis/{core,networking,discovery,apps}/validation` (with the v1 defaults those functions see):
//! Pod, Service, EndpointSlice, NetworkPolicy, Namespace, ConfigMap, Secret; the workload kinds
//! (DaemonSet, Deployment, ReplicaSet, StatefulSet, ReplicationController, Job, CronJob) are validated
//! in [`super::workloads`], with the pod template helpers of this module.
//!
//! An object is first decoded ([`super::shape::decode`]: wrong types, unknown fields); only an object that
//! decodes is validated, as in the API server.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::k8s::builtins;
use super::meta::{validate_label_selector, validate_labels, validate_object_meta, NameRule};
use super::names;
use super::shape::{as_integer, decode};
use super::{Known, Path, Problems};

/// `metadata.generation` must not be negative where the create strategy leaves it as sent (the strategies
/// of Pod, EndpointSlice, NetworkPolicy and of every workload kind set it to 1 first).
fn generation(v: &Value, out: &mut Problems) {
    if let Some(g) = v.pointer("/metadata/generation").and_then(as_integer) {
        if g < 0 {
            out.invalid(
                &Path::root().key("metadata").key("generation"),
                g,
                "must be greater than or equal to 0",
            );
        }
    }
}

pub fn validate(kind: Known, v: &Value, out: &mut Problems) {
    let b = builtins();
    let shape = match kind {
        Known::Pod => &b.pod,
        Known::Service => &b.service,
        Known::EndpointSlice => &b.endpoint_slice,
        Known::NetworkPolicy => &b.network_policy,
        Known::Namespace => &b.namespace,
        Known::ConfigMap => &b.config_map,
        Known::Secret => &b.secret,
        Known::DaemonSet => &b.daemon_set,
        Known::Deployment => &b.deployment,
        Known::ReplicaSet => &b.replica_set,
        Known::StatefulSet => &b.stateful_set,
        Known::ReplicationController => &b.replication_controller,
        Known::Job => &b.job,
        Known::CronJob => &b.cron_job,
        _ => return,
    };
    let mut decoded = Problems::default();
    decode(shape, v, &Path::root(), &mut decoded);
    // The API server stops at a decoding error; the other problems of the object are listed too (so that
    // a fix does not reveal the next one), except those at or under a field that did not decode (read
    // as its zero value, it would be blamed for the wrong reason).
    let undecoded: Vec<String> = decoded.0.iter().map(|p| p.field.clone()).collect();
    out.extend(decoded);
    let mut semantic = Problems::default();
    let out_all = out;
    let out = &mut semantic;
    if matches!(
        kind,
        Known::Service | Known::ConfigMap | Known::Secret | Known::Namespace
    ) {
        generation(v, out);
    }
    match kind {
        Known::Pod => pod(v, out),
        Known::Service => service(v, out),
        Known::EndpointSlice => endpoint_slice(v, out),
        Known::NetworkPolicy => network_policy(v, out),
        Known::Namespace => namespace(v, out),
        Known::ConfigMap => config_map(v, out),
        Known::Secret => secret(v, out),
        Known::DaemonSet
        | Known::Deployment
        | Known::ReplicaSet
        | Known::StatefulSet
        | Known::ReplicationController
        | Known::Job
        | Known::CronJob => super::workloads::validate(kind, v, out),
        _ => {}
    }
    let under = |field: &str, bad: &str| {
        field == bad
            || field
                .strip_prefix(bad)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    for p in semantic.0 {
        if !undecoded.iter().any(|bad| under(&p.field, bad)) {
            out_all.0.push(p);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Reading values (already decoded: types are right; missing and null read as the zero value).

pub(super) fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}
pub(super) fn opt_s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}
pub(super) fn i(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(as_integer)
}
pub(super) fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}
pub(super) fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}
pub(super) fn obj<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| x.is_object())
}
pub(super) fn map<'a>(v: &'a Value, k: &str) -> Option<&'a Map<String, Value>> {
    v.get(k).and_then(Value::as_object)
}
static NULL: Value = Value::Null;
pub(super) fn get<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.get(k).unwrap_or(&NULL)
}

pub(super) fn quoted(s: &str) -> String {
    format!("{s:?}")
}

pub(super) fn invalid_each(out: &mut Problems, path: &Path, value: &str, r: Result<(), String>) {
    if let Err(e) = r {
        out.invalid(path, quoted(value), e);
    }
}

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

fn protocol(v: &Value, path: &Path, out: &mut Problems) {
    // Defaulted to TCP when empty.
    let p = s(v, "protocol");
    if !p.is_empty() && !PROTOCOLS.contains(&p) {
        out.unsupported(&path.key("protocol"), p, PROTOCOLS);
    }
}

/// IntOrString port: a number 1-65535 or an IANA_SVC_NAME.
fn port_num_or_name(v: &Value, path: &Path, out: &mut Problems) {
    match v {
        Value::String(name) => invalid_each(out, path, name, names::port_name(name)),
        other => {
            let n = as_integer(other).unwrap_or(0);
            if let Err(e) = names::port_number(n) {
                out.invalid(path, n, e);
            }
        }
    }
}

pub(super) fn non_negative(v: &Value, k: &str, path: &Path, out: &mut Problems) {
    if let Some(n) = i(v, k) {
        if n < 0 {
            out.invalid(&path.key(k), n, "must be greater than or equal to 0");
        }
    }
}

fn ip_legacy(value: &str, path: &Path, out: &mut Problems) -> bool {
    if names::parse_ip_sloppy(value).is_none() {
        out.invalid(
            path,
            quoted(value),
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        );
        return false;
    }
    if names::parse_ip_strict(value).is_none() {
        out.invalid(
            path,
            quoted(value),
            "must not have leading 0s, nor be an IPv4-mapped IPv6 address",
        );
        return false;
    }
    true
}

/// A CIDR of a legacy field with the strict validation of Kubernetes 1.36 (StrictIPCIDRValidation): no
/// leading zeros, no IPv4-mapped IPv6, no bits set beyond the prefix length.
fn cidr_legacy(value: &str, path: &Path, out: &mut Problems) -> Option<(bool, u128, u128, u8)> {
    let Some((ip, len)) = names::parse_cidr_sloppy(value) else {
        out.invalid(
            path,
            quoted(value),
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        );
        return None;
    };
    let (v4, lo, hi) = names::cidr_range(ip, len);
    if !names::is_cidr_go(value)
        || value
            .split_once('/')
            .is_some_and(|(a, _)| names::parse_ip_strict(a).is_none())
    {
        out.invalid(
            path,
            quoted(value),
            "must not have leading 0s in IP or prefix length",
        );
    } else {
        let addr = match ip {
            std::net::IpAddr::V4(a) => u32::from(a) as u128,
            std::net::IpAddr::V6(a) => u128::from(a),
        };
        if addr != lo {
            out.invalid(
                path,
                quoted(value),
                "must not have bits set beyond the prefix length",
            );
        }
    }
    Some((v4, lo, hi, len))
}

fn endpoint_ip(value: &str, path: &Path, out: &mut Problems) {
    let Some(ip) = names::parse_ip_sloppy(value) else {
        return;
    };
    match ip {
        std::net::IpAddr::V4(a) => {
            if a.is_unspecified() {
                out.invalid(path, quoted(value), "may not be unspecified");
            }
            if a.is_loopback() {
                out.invalid(
                    path,
                    quoted(value),
                    "may not be in the loopback range (127.0.0.0/8, ::1/128)",
                );
            }
            if a.is_link_local() {
                out.invalid(
                    path,
                    quoted(value),
                    "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
                );
            }
            let o = a.octets();
            if o[0] == 224 && o[1] == 0 && o[2] == 0 {
                out.invalid(
                    path,
                    quoted(value),
                    "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
                );
            }
        }
        std::net::IpAddr::V6(a) => {
            let seg = a.segments();
            if a.is_unspecified() {
                out.invalid(path, quoted(value), "may not be unspecified");
            }
            if a.is_loopback() {
                out.invalid(
                    path,
                    quoted(value),
                    "may not be in the loopback range (127.0.0.0/8, ::1/128)",
                );
            }
            if seg[0] & 0xffc0 == 0xfe80 {
                out.invalid(
                    path,
                    quoted(value),
                    "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
                );
            }
            if seg[0] & 0xff0f == 0xff02 {
                out.invalid(
                    path,
                    quoted(value),
                    "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
                );
            }
            if let Some(v4) = a.to_ipv4_mapped() {
                endpoint_ip(&v4.to_string(), path, out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Pod.

fn pod(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let md = get(v, "metadata");
    let spec = get(v, "spec");
    let spec_path = Path::root().key("spec");
    pod_specific_annotations(
        map(md, "annotations"),
        spec,
        &Path::root().key("metadata").key("annotations"),
        out,
    );
    pod_spec(spec, &spec_path, true, out);
    // Pods only: a projected service account token needs a service account.
    if s(spec, "serviceAccountName").is_empty() {
        for (vi, vol) in arr(spec, "volumes").iter().enumerate() {
            if let Some(p) = obj(vol, "projected") {
                for (si, src) in arr(p, "sources").iter().enumerate() {
                    if obj(src, "serviceAccountToken").is_some() {
                        out.forbidden(
                            &spec_path
                                .key("volumes")
                                .index(vi)
                                .key("projected")
                                .key("sources")
                                .index(si)
                                .key("serviceAccountToken"),
                            "must not be specified when serviceAccountName is not set",
                        );
                    }
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for (ci, c) in arr(spec, list).iter().enumerate() {
            let image = s(c, "image");
            if image.trim() != image {
                out.invalid(
                    &spec_path.key(list).index(ci).key("image"),
                    quoted(image),
                    "must not have leading or trailing whitespace",
                );
            }
        }
    }
    if !arr(spec, "ephemeralContainers").is_empty() {
        out.forbidden(
            &spec_path.key("ephemeralContainers"),
            "cannot be set on create",
        );
    }
    // The RuntimeClass admission plugin: an overhead comes from the RuntimeClass, never from the pod.
    if spec.get("overhead").is_some_and(|o| !o.is_null())
        && opt_s(spec, "runtimeClassName").is_none_or(str::is_empty)
    {
        out.forbidden(
            &spec_path.key("overhead"),
            "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
        );
    }
    if !s(spec, "nodeName").is_empty() && !arr(spec, "schedulingGates").is_empty() {
        out.forbidden(
            &spec_path.key("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        );
    }
}

pub(super) fn pod_specific_annotations(
    ann: Option<&Map<String, Value>>,
    spec: &Value,
    path: &Path,
    out: &mut Problems,
) {
    let Some(ann) = ann else {
        return;
    };
    let get = |k: &str| ann.get(k).and_then(Value::as_str);
    if let Some(v) = get("kubernetes.io/config.mirror") {
        if s(spec, "nodeName").is_empty() {
            out.invalid(
                &path.map_key("kubernetes.io/config.mirror"),
                quoted(v),
                "must set spec.nodeName if mirror pod annotation is set",
            );
        }
    }
    if let Some(cost) = get("controller.kubernetes.io/pod-deletion-cost") {
        let ok = !cost.is_empty()
            && cost.trim() == cost
            && cost.parse::<i32>().is_ok()
            && !(cost.starts_with('+'));
        if !ok {
            out.invalid(
                &path.map_key("controller.kubernetes.io/pod-deletion-cost"),
                quoted(cost),
                "must be a 32bit integer",
            );
        }
    }
    for (k, v) in ann {
        let v = v.as_str().unwrap_or("");
        if k == "seccomp.security.alpha.kubernetes.io/pod"
            || k.starts_with("container.seccomp.security.alpha.kubernetes.io/")
        {
            let ok = v == "runtime/default"
                || v == "docker/default"
                || v == "unconfined"
                || v.strip_prefix("localhost/").is_some_and(|p| {
                    !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|s| s == "..")
                });
            if !ok {
                out.invalid(
                    &path.map_key(k),
                    quoted(v),
                    "must be a valid seccomp profile",
                );
            }
        }
        if let Some(container) = k.strip_prefix("container.apparmor.security.beta.kubernetes.io/") {
            let exists = ["containers", "initContainers", "ephemeralContainers"]
                .iter()
                .any(|l| arr(spec, l).iter().any(|c| s(c, "name") == container));
            if !exists {
                out.invalid(&path.map_key(k), quoted(container), "container not found");
            }
            let ok = v == "runtime/default"
                || v == "unconfined"
                || v.strip_prefix("localhost/").is_some_and(|p| !p.is_empty());
            if !ok {
                out.invalid(&path.map_key(k), quoted(v), "invalid AppArmor profile name");
            }
        }
    }
}

/// A container's `lifecycle` and its liveness, readiness and startup probes (regular containers, and
/// init containers with `restartPolicy: Always`).
fn lifecycle_and_probes(c: &Value, grace: Option<i64>, cp: &Path, out: &mut Problems) {
    if let Some(l) = obj(c, "lifecycle") {
        lifecycle(l, grace, &cp.key("lifecycle"), out);
    }
    for (key, kind) in [
        ("livenessProbe", ProbeKind::Liveness),
        ("readinessProbe", ProbeKind::Readiness),
        ("startupProbe", ProbeKind::Startup),
    ] {
        probe(get(c, key), grace, &cp.key(key), kind, out);
    }
}

/// `ValidatePodSpec` (with the v1 defaults applied); `is_pod`: a Pod (hostNetwork host ports must
/// equal container ports), else a pod template.
pub(super) fn pod_spec(spec: &Value, path: &Path, is_pod: bool, out: &mut Problems) {
    let sc = get(spec, "securityContext");
    // spec.hostUsers (the internal API keeps it in the security context).
    let host_users = spec
        .get("hostUsers")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let volumes = pod_volumes(spec, &path.key("volumes"), out);
    let ctx = PodCtx {
        volumes,
        claims: arr(spec, "resourceClaims")
            .iter()
            .map(|c| s(c, "name"))
            .collect(),
        restart_policy: match s(spec, "restartPolicy") {
            "" => "Always",
            r => r,
        },
        host_users,
        is_pod,
    };
    if let Some(r) = obj(spec, "resources") {
        pod_resources(spec, r, &ctx, &path.key("resources"), out);
    }
    pod_resource_claims(spec, &path.key("resourceClaims"), out);
    let grace = i(spec, "terminationGracePeriodSeconds").or(Some(30));
    let host_network = b(spec, "hostNetwork");
    // Regular containers.
    let containers = arr(spec, "containers");
    if containers.is_empty() {
        out.required(&path.key("containers"));
    }
    let mut names_seen: BTreeSet<&str> = BTreeSet::new();
    for (ci, c) in containers.iter().enumerate() {
        let cp = path.key("containers").index(ci);
        container_common(c, &ctx, &cp, false, out);
        let name = s(c, "name");
        if !names_seen.insert(name) {
            out.duplicate(&cp.key("name"), quoted(name));
        }
        lifecycle_and_probes(c, grace, &cp, out);
        container_restart_policy(c, &cp, false, out);
    }
    host_port_conflicts(containers, &path.key("containers"), out);
    // Init containers.
    for (ci, c) in arr(spec, "initContainers").iter().enumerate() {
        let cp = path.key("initContainers").index(ci);
        container_common(c, &ctx, &cp, true, out);
        container_restart_policy(c, &cp, true, out);
        let name = s(c, "name");
        if names_seen.contains(name) {
            out.duplicate(&cp.key("name"), quoted(name));
        } else if !name.is_empty() {
            names_seen.insert(name);
        }
        host_port_conflicts(std::slice::from_ref(c), &path.key("initContainers"), out);
        let restart_always = s(c, "restartPolicy") == "Always";
        if restart_always {
            lifecycle_and_probes(c, grace, &cp, out);
        } else {
            for k in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if obj(c, k).is_some() {
                    out.forbidden(
                        &cp.key(k),
                        "may not be set for init containers without restartPolicy=Always",
                    );
                }
            }
        }
    }
    // hostNetwork: host ports equal container ports (a Pod's are defaulted to them).
    if host_network {
        for (ci, c) in containers.iter().enumerate() {
            for (pi, p) in arr(c, "ports").iter().enumerate() {
                let cport = i(p, "containerPort").unwrap_or(0);
                let hport = match i(p, "hostPort").unwrap_or(0) {
                    0 if is_pod => cport,
                    h => h,
                };
                if (is_pod || hport != 0) && hport != cport {
                    out.invalid(
                        &path
                            .key("containers")
                            .index(ci)
                            .key("ports")
                            .index(pi)
                            .key("hostPort"),
                        hport,
                        "must match `containerPort` when `hostNetwork` is true",
                    );
                }
            }
        }
    }
    enum_or_default(
        spec,
        "restartPolicy",
        &["Always", "OnFailure", "Never"],
        path,
        out,
    );
    enum_or_default(
        spec,
        "dnsPolicy",
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        path,
        out,
    );
    if let Some(ns) = map(spec, "nodeSelector") {
        validate_labels(ns, &path.key("nodeSelector"), out);
    }
    pod_security_context(sc, spec, &path.key("securityContext"), out);
    for (k, ips) in arr(spec, "imagePullSecrets").iter().enumerate() {
        if ips
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k != "name"))
        {
            out.invalid(
                &path.key("imagePullSecrets").index(k),
                "object",
                "only name may be set",
            );
        }
    }
    if let Some(a) = obj(spec, "affinity") {
        affinity(a, &path.key("affinity"), out);
    }
    dns_config(spec, &path.key("dnsConfig"), out);
    for (k, g) in arr(spec, "readinessGates").iter().enumerate() {
        let t = s(g, "conditionType");
        invalid_each(
            out,
            &path.key("readinessGates").index(k).key("conditionType"),
            t,
            names::qualified_name(t),
        );
    }
    for (k, g) in arr(spec, "schedulingGates").iter().enumerate() {
        let n = s(g, "name");
        invalid_each(
            out,
            &path.key("schedulingGates").index(k).key("name"),
            n,
            names::qualified_name(n),
        );
    }
    let mut gates = BTreeSet::new();
    for (k, g) in arr(spec, "schedulingGates").iter().enumerate() {
        if !gates.insert(s(g, "name")) {
            out.duplicate(&path.key("schedulingGates").index(k), quoted(s(g, "name")));
        }
    }
    topology_spread(spec, &path.key("topologySpreadConstraints"), out);
    host_process(spec, path, out);
    // `serviceAccount` is the deprecated alias, used when serviceAccountName is empty.
    let sa = match s(spec, "serviceAccountName") {
        "" => s(spec, "serviceAccount"),
        sa => sa,
    };
    if !sa.is_empty() {
        invalid_each(
            out,
            &path.key("serviceAccountName"),
            sa,
            names::dns1123_subdomain(sa),
        );
    }
    let node = s(spec, "nodeName");
    if !node.is_empty() {
        invalid_each(
            out,
            &path.key("nodeName"),
            node,
            names::dns1123_subdomain(node),
        );
    }
    if let Some(d) = i(spec, "activeDeadlineSeconds") {
        if !(1..=i64::from(i32::MAX)).contains(&d) {
            out.invalid(
                &path.key("activeDeadlineSeconds"),
                d,
                "must be between 1 and 2147483647, inclusive",
            );
        }
    }
    for k in ["hostname", "subdomain"] {
        let h = s(spec, k);
        if !h.is_empty() {
            invalid_each(out, &path.key(k), h, names::dns1123_label(h));
        }
    }
    tolerations(arr(spec, "tolerations"), &path.key("tolerations"), out);
    for (k, h) in arr(spec, "hostAliases").iter().enumerate() {
        let hp = path.key("hostAliases").index(k);
        ip_legacy(s(h, "ip"), &hp.key("ip"), out);
        for (j, name) in arr(h, "hostnames").iter().enumerate() {
            let name = name.as_str().unwrap_or("");
            invalid_each(
                out,
                &hp.key("hostnames").index(j),
                name,
                names::dns1123_subdomain(name),
            );
        }
    }
    let pc = s(spec, "priorityClassName");
    if !pc.is_empty() {
        invalid_each(
            out,
            &path.key("priorityClassName"),
            pc,
            names::dns1123_subdomain(pc),
        );
    }
    if let Some(rc) = opt_s(spec, "runtimeClassName") {
        invalid_each(
            out,
            &path.key("runtimeClassName"),
            rc,
            names::dns1123_subdomain(rc),
        );
    }
    if let Some(pp) = opt_s(spec, "preemptionPolicy") {
        if pp.is_empty() {
            out.required(&path.key("preemptionPolicy"));
        } else if !["PreemptLowerPriority", "Never"].contains(&pp) {
            out.unsupported(
                &path.key("preemptionPolicy"),
                pp,
                &["Never", "PreemptLowerPriority"],
            );
        }
    }
    if let Some(overhead) = map(spec, "overhead") {
        for (name, q) in overhead {
            let op = path.key("overhead").map_key(name);
            resource_name(name, &op, false, out);
            quantity_value(name, q, &op, out);
        }
    }
    if let Some(os) = obj(spec, "os") {
        let n = s(os, "name");
        if n.is_empty() {
            out.required(&path.key("os").key("name"));
        } else if !["linux", "windows"].contains(&n) {
            out.unsupported(&path.key("os"), n, &["linux", "windows"]);
        }
    }
    if let Some(hn) = opt_s(spec, "hostnameOverride") {
        if spec.get("setHostnameAsFQDN").and_then(Value::as_bool) == Some(true) {
            out.forbidden(
                &path.key("hostnameOverride"),
                "may not be specified when setHostnameAsFQDN is true",
            );
        }
        if host_network {
            out.forbidden(
                &path.key("hostnameOverride"),
                "may not be specified when hostNetwork is true",
            );
        }
        if hn.len() > 64 {
            out.push(
                &path.key("hostnameOverride"),
                "Too long: may not be more than 64 bytes",
            );
        }
        invalid_each(
            out,
            &path.key("hostnameOverride"),
            hn,
            names::dns1123_subdomain(hn),
        );
    }
    if !host_users {
        if host_network {
            // UserNamespacesHostNetworkSupport is not enabled by default.
            out.forbidden(&path.key("hostNetwork"), "when `hostUsers` is false");
        }
        if b(spec, "hostPID") {
            out.forbidden(&path.key("HostPID"), "when `hostUsers` is false");
        }
        if b(spec, "hostIPC") {
            out.forbidden(&path.key("HostIPC"), "when `hostUsers` is false");
        }
    }
    if b(spec, "shareProcessNamespace") && b(spec, "hostPID") {
        out.invalid(
            &path.key("securityContext").key("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        );
    }
}

/// An enum field defaulted when empty.
fn enum_or_default(v: &Value, k: &str, allowed: &[&str], path: &Path, out: &mut Problems) {
    let x = s(v, k);
    if !x.is_empty() && !allowed.contains(&x) {
        out.unsupported(&path.key(k), x, allowed);
    }
}

/// Volumes: names (DNS labels, unique) and exactly one source each; returns the valid names.
fn pod_volumes(spec: &Value, path: &Path, out: &mut Problems) -> BTreeMap<String, String> {
    let mut names_ok = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (k, vol) in arr(spec, "volumes").iter().enumerate() {
        let vp = path.index(k);
        let mut el = Problems::default();
        volume_source(vol, &vp, &mut el);
        let name = s(vol, "name");
        if name.is_empty() {
            el.required(&vp.key("name"));
        } else {
            invalid_each(&mut el, &vp.key("name"), name, names::dns1123_label(name));
        }
        if seen.contains(name) {
            el.duplicate(&vp.key("name"), quoted(name));
        }
        if el.is_empty() {
            let source = VOLUME_SOURCES
                .iter()
                .find(|k| vol.get(**k).is_some_and(|x| !x.is_null()))
                .unwrap_or(&"emptyDir");
            names_ok.insert(name.to_string(), source.to_string());
        }
        seen.insert(name.to_string());
        out.extend(el);
    }
    names_ok
}

const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

fn volume_source(vol: &Value, path: &Path, out: &mut Problems) {
    let present: Vec<&str> = VOLUME_SOURCES
        .iter()
        .copied()
        .filter(|k| vol.get(*k).is_some_and(|x| !x.is_null()))
        .collect();
    // No source at all: defaulted to emptyDir.
    for extra in present.iter().skip(1) {
        out.forbidden(&path.key(extra), "may not specify more than 1 volume type");
    }
    let Some(first) = present.first() else {
        return;
    };
    let src = get(vol, first);
    let sp = path.key(first);
    let mode_ok = |m: Option<i64>| m.is_none_or(|m| (0..=0o777).contains(&m));
    match *first {
        "emptyDir" => {
            if let Some(q) = opt_s(src, "sizeLimit") {
                if names::quantity_value(q).is_some_and(|x| x < 0.0) {
                    out.forbidden(
                        &sp.key("sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    );
                }
            }
        }
        "hostPath" => {
            let p = s(src, "path");
            if p.is_empty() {
                out.required(&sp.key("path"));
                return;
            }
            no_backsteps(p, &sp.key("path"), out);
            if let Some(t) = opt_s(src, "type") {
                const T: &[&str] = &[
                    "",
                    "BlockDevice",
                    "CharDevice",
                    "Directory",
                    "DirectoryOrCreate",
                    "File",
                    "FileOrCreate",
                    "Socket",
                ];
                if !T.contains(&t) {
                    out.unsupported(&sp.key("type"), t, T);
                }
            }
        }
        "secret" | "configMap" => {
            let (name_key, name) = if *first == "secret" {
                ("secretName", s(src, "secretName"))
            } else {
                ("name", s(src, "name"))
            };
            if name.is_empty() {
                out.required(&sp.key(name_key));
            }
            if !mode_ok(i(src, "defaultMode")) {
                out.invalid(
                    &sp.key("defaultMode"),
                    i(src, "defaultMode").unwrap_or(0),
                    "must be a number between 0 and 0777 (octal), both inclusive",
                );
            }
            for (k, item) in arr(src, "items").iter().enumerate() {
                key_to_path(item, &sp.key("items").index(k), out);
            }
        }
        // validateStorageOSVolumeSource
        "storageos" if s(src, "volumeName").is_empty() => {
            out.required(&sp.key("volumeName"));
        }
        "persistentVolumeClaim" if s(src, "claimName").is_empty() => {
            out.required(&sp.key("claimName"));
        }
        "downwardAPI" if !mode_ok(i(src, "defaultMode")) => {
            out.invalid(
                &sp.key("defaultMode"),
                i(src, "defaultMode").unwrap_or(0),
                "must be a number between 0 and 0777 (octal), both inclusive",
            );
        }
        "projected" => {
            if !mode_ok(i(src, "defaultMode")) {
                out.invalid(
                    &sp.key("defaultMode"),
                    i(src, "defaultMode").unwrap_or(0),
                    "must be a number between 0 and 0777 (octal), both inclusive",
                );
            }
            for (k, source) in arr(src, "sources").iter().enumerate() {
                let pp = sp.key("sources").index(k);
                let kinds: Vec<&str> = [
                    "secret",
                    "downwardAPI",
                    "configMap",
                    "serviceAccountToken",
                    "clusterTrustBundle",
                    "podCertificate",
                ]
                .into_iter()
                .filter(|k| source.get(*k).is_some_and(|x| !x.is_null()))
                .collect();
                if kinds.is_empty() {
                    out.push(&pp, "Required value: must specify exactly 1 volume type");
                }
                for extra in kinds.iter().skip(1) {
                    out.forbidden(&pp.key(extra), "may not specify more than 1 volume type");
                }
                for kind in ["secret", "configMap"] {
                    if let Some(x) = obj(source, kind) {
                        for (j, item) in arr(x, "items").iter().enumerate() {
                            key_to_path(item, &pp.key(kind).key("items").index(j), out);
                        }
                    }
                }
                if let Some(t) = obj(source, "serviceAccountToken") {
                    let tp = pp.key("serviceAccountToken");
                    if let Some(e) = i(t, "expirationSeconds") {
                        if e < 600 {
                            out.invalid(
                                &tp.key("expirationSeconds"),
                                e,
                                "may not specify a duration less than 10 minutes",
                            );
                        } else if e > 1 << 32 {
                            out.invalid(
                                &tp.key("expirationSeconds"),
                                e,
                                "may not specify a duration larger than 2^32 seconds",
                            );
                        }
                    }
                    let p = s(t, "path");
                    if p.is_empty() {
                        out.required(&tp.key("path"));
                    }
                }
            }
        }
        _ => {}
    }
}

fn key_to_path(item: &Value, path: &Path, out: &mut Problems) {
    if s(item, "key").is_empty() {
        out.required(&path.key("key"));
    }
    let p = s(item, "path");
    if p.is_empty() {
        out.required(&path.key("path"));
    }
    local_non_reserved_path(p, &path.key("path"), out);
    if let Some(m) = i(item, "mode") {
        if !(0..=0o777).contains(&m) {
            out.invalid(
                &path.key("mode"),
                m,
                "must be a number between 0 and 0777 (octal), both inclusive",
            );
        }
    }
}

fn no_backsteps(p: &str, path: &Path, out: &mut Problems) {
    if p.split(['/', '\\']).any(|s| s == "..") {
        out.invalid(path, quoted(p), "must not contain '..'");
    }
}

fn local_descending_path(p: &str, path: &Path, out: &mut Problems) {
    if p.starts_with('/') {
        out.invalid(path, quoted(p), "must be a relative path");
    }
    no_backsteps(p, path, out);
}

fn local_non_reserved_path(p: &str, path: &Path, out: &mut Problems) {
    local_descending_path(p, path, out);
    if p.starts_with("..") {
        out.invalid(path, quoted(p), "must not start with '..'");
    }
}

/// What a container's validation needs to know of its pod.
struct PodCtx<'a> {
    volumes: BTreeMap<String, String>,
    claims: BTreeSet<&'a str>,
    restart_policy: &'a str,
    host_users: bool,
    /// A Pod (requests are defaulted from limits), not a template.
    is_pod: bool,
}

fn container_common(c: &Value, ctx: &PodCtx<'_>, path: &Path, init: bool, out: &mut Problems) {
    let volumes = &ctx.volumes;
    let host_users = ctx.host_users;
    let name = s(c, "name");
    if name.is_empty() {
        out.required(&path.key("name"));
    } else {
        invalid_each(out, &path.key("name"), name, names::dns1123_label(name));
    }
    if s(c, "image").is_empty() {
        out.required(&path.key("image"));
    }
    enum_or_default(
        c,
        "terminationMessagePolicy",
        &["File", "FallbackToLogsOnError"],
        path,
        out,
    );
    // Ports.
    let mut port_names = BTreeSet::new();
    for (k, p) in arr(c, "ports").iter().enumerate() {
        let pp = path.key("ports").index(k);
        let n = s(p, "name");
        if !n.is_empty() {
            match names::port_name(n) {
                Err(e) => out.invalid(&pp.key("name"), quoted(n), e),
                Ok(()) => {
                    if !port_names.insert(n) {
                        out.duplicate(&pp.key("name"), quoted(n));
                    }
                }
            }
        }
        match i(p, "containerPort").unwrap_or(0) {
            0 => out.required(&pp.key("containerPort")),
            cp => {
                if let Err(e) = names::port_number(cp) {
                    out.invalid(&pp.key("containerPort"), cp, e);
                }
            }
        }
        let hp = i(p, "hostPort").unwrap_or(0);
        if hp != 0 {
            if let Err(e) = names::port_number(hp) {
                out.invalid(&pp.key("hostPort"), hp, e);
            }
        }
        protocol(p, &pp, out);
    }
    // Environment.
    for (k, e) in arr(c, "env").iter().enumerate() {
        let ep = path.key("env").index(k);
        let n = s(e, "name");
        if n.is_empty() {
            out.required(&ep.key("name"));
        } else if n.chars().any(|ch| !(' '..='~').contains(&ch) || ch == '=') {
            out.invalid(
                &ep.key("name"),
                quoted(n),
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            );
        }
        env_value_from(e, &ep.key("valueFrom"), out);
    }
    for (k, e) in arr(c, "envFrom").iter().enumerate() {
        let ep = path.key("envFrom").index(k);
        let prefix = s(e, "prefix");
        if prefix
            .chars()
            .any(|ch| !(' '..='~').contains(&ch) || ch == '=')
        {
            out.invalid(
                &ep.key("prefix"),
                quoted(prefix),
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            );
        }
        let sources: Vec<&str> = ["configMapRef", "secretRef"]
            .into_iter()
            .filter(|k| e.get(*k).is_some_and(|x| !x.is_null()))
            .collect();
        match sources.len() {
            0 => out.invalid(
                &path.key("envFrom"),
                "\"\"",
                "must specify one of: `configMapRef` or `secretRef`",
            ),
            1 => {
                let r = get(e, sources[0]);
                let n = s(r, "name");
                if n.is_empty() {
                    out.required(&ep.key(sources[0]).key("name"));
                } else {
                    // Validated as a name prefix: a trailing '-' is allowed.
                    let masked = n.strip_suffix('-').map(|p| format!("{p}a"));
                    invalid_each(
                        out,
                        &ep.key(sources[0]).key("name"),
                        n,
                        names::dns1123_subdomain(masked.as_deref().unwrap_or(n)),
                    );
                }
            }
            _ => out.invalid(
                &path.key("envFrom"),
                "\"\"",
                "may not have more than one field specified at a time",
            ),
        }
    }
    // Volume mounts.
    let devices: BTreeMap<&str, &str> = arr(c, "volumeDevices")
        .iter()
        .map(|d| (s(d, "name"), s(d, "devicePath")))
        .collect();
    let mut mount_points = BTreeSet::new();
    for (k, m) in arr(c, "volumeMounts").iter().enumerate() {
        let mp = path.key("volumeMounts").index(k);
        let n = s(m, "name");
        if n.is_empty() {
            out.required(&mp.key("name"));
        }
        if !volumes.contains_key(n) {
            out.push(&mp.key("name"), format!("Not found: {}", quoted(n)));
        }
        let at = s(m, "mountPath");
        if at.is_empty() {
            out.required(&mp.key("mountPath"));
        }
        if !mount_points.insert(at) {
            out.invalid(&mp.key("mountPath"), quoted(at), "must be unique");
        }
        if devices.contains_key(n) {
            out.invalid(
                &mp.key("name"),
                quoted(n),
                "must not already exist in volumeDevices",
            );
        }
        if devices.values().any(|d| *d == at) {
            out.invalid(
                &mp.key("mountPath"),
                quoted(at),
                "must not already exist as a path in volumeDevices",
            );
        }
        let sub = s(m, "subPath");
        if !sub.is_empty() {
            local_descending_path(sub, &path.key("volumeMounts").key("subPath"), out);
        }
        let expr = s(m, "subPathExpr");
        if !expr.is_empty() {
            if !sub.is_empty() {
                out.invalid(
                    &mp.key("subPathExpr"),
                    quoted(expr),
                    "subPathExpr and subPath are mutually exclusive",
                );
            }
            local_descending_path(expr, &path.key("volumeMounts").key("subPathExpr"), out);
        }
        if let Some(prop) = opt_s(m, "mountPropagation") {
            const P: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            if !P.contains(&prop) {
                out.unsupported(&path.key("volumeMounts").key("mountPropagation"), prop, P);
            } else if prop == "Bidirectional"
                && c.get("securityContext")
                    .and_then(|sc| sc.get("privileged"))
                    .and_then(Value::as_bool)
                    != Some(true)
            {
                out.forbidden(
                    &path.key("volumeMounts").key("mountPropagation"),
                    "Bidirectional mount propagation is available only to privileged containers",
                );
            }
        }
        if let Some(rro) = opt_s(m, "recursiveReadOnly") {
            const R: &[&str] = &["Disabled", "Enabled", "IfPossible"];
            if !R.contains(&rro) {
                out.unsupported(&path.key("volumeMounts").key("recursiveReadOnly"), rro, R);
            } else if rro != "Disabled" && !b(m, "readOnly") {
                out.forbidden(
                    &path.key("volumeMounts").key("recursiveReadOnly"),
                    "may only be specified when readOnly is true",
                );
            }
        }
    }
    enum_or_default(
        c,
        "imagePullPolicy",
        &["Always", "IfNotPresent", "Never"],
        path,
        out,
    );
    resources(get(c, "resources"), &path.key("resources"), ctx, false, out);
    volume_devices(c, volumes, &path.key("volumeDevices"), out);
    resize_policy(c, ctx, &path.key("resizePolicy"), init, out);
    security_context(
        get(c, "securityContext"),
        &path.key("securityContext"),
        host_users,
        out,
    );
}

fn env_value_from(e: &Value, path: &Path, out: &mut Problems) {
    let Some(vf) = obj(e, "valueFrom") else {
        return;
    };
    let sources: Vec<&str> = [
        "fieldRef",
        "resourceFieldRef",
        "configMapKeyRef",
        "secretKeyRef",
        "fileKeyRef",
    ]
    .into_iter()
    .filter(|k| vf.get(*k).is_some_and(|x| !x.is_null()))
    .collect();
    for src in &sources {
        let x = get(vf, src);
        let sp = path.key(src);
        match *src {
            "fieldRef" => field_ref(x, &sp, out),
            "resourceFieldRef" => {
                let r = s(x, "resource");
                if r.is_empty() {
                    out.required(&sp.key("resource"));
                } else {
                    const R: &[&str] = &[
                        "limits.cpu",
                        "limits.ephemeral-storage",
                        "limits.memory",
                        "requests.cpu",
                        "requests.ephemeral-storage",
                        "requests.memory",
                    ];
                    if !R.contains(&r)
                        && !r.starts_with("requests.hugepages-")
                        && !r.starts_with("limits.hugepages-")
                    {
                        out.unsupported(&sp.key("resource"), r, R);
                    }
                }
            }
            "configMapKeyRef" | "secretKeyRef" => {
                let n = s(x, "name");
                invalid_each(
                    out,
                    &sp.key("name"),
                    n,
                    names::dns1123_subdomain(n).map_err(|e| {
                        if n.is_empty() {
                            "name part must be non-empty".into()
                        } else {
                            e
                        }
                    }),
                );
                let key = s(x, "key");
                if key.is_empty() {
                    out.required(&sp.key("key"));
                } else {
                    invalid_each(out, &sp.key("key"), key, names::config_map_key(key));
                }
            }
            _ => {}
        }
    }
    if sources.is_empty() {
        out.invalid(
            path,
            "\"\"",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`",
        );
    } else if !s(e, "value").is_empty() {
        out.invalid(
            path,
            "\"\"",
            "may not be specified when `value` is not empty",
        );
    } else if sources.len() > 1 {
        out.invalid(
            path,
            "\"\"",
            "may not have more than one field specified at a time",
        );
    }
}

/// A downward API field reference (`fieldRef`).
fn field_ref(x: &Value, path: &Path, out: &mut Problems) {
    // apiVersion is defaulted to v1.
    let api_version = opt_s(x, "apiVersion")
        .filter(|a| !a.is_empty())
        .unwrap_or("v1");
    let fp = s(x, "fieldPath");
    if fp.is_empty() {
        out.required(&path.key("fieldPath"));
        return;
    }
    if api_version != "v1" {
        out.invalid(
            &path.key("fieldPath"),
            quoted(fp),
            format!("error converting fieldPath: field label not supported: {fp} (apiVersion {api_version})"),
        );
        return;
    }
    const SUPPORTED: &[&str] = &[
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];
    if let Some((p, rest)) = fp.split_once('[') {
        if let Some(sub) = rest.strip_suffix(']') {
            let sub = sub
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .unwrap_or(sub);
            match p {
                "metadata.annotations" => {
                    invalid_each(out, path, sub, names::qualified_name(&sub.to_lowercase()))
                }
                "metadata.labels" => invalid_each(out, path, sub, names::qualified_name(sub)),
                _ => out.invalid(
                    &path.key("fieldPath"),
                    quoted(fp),
                    "error converting fieldPath: field label not supported",
                ),
            }
            return;
        }
    }
    if !SUPPORTED.contains(&fp) {
        out.invalid(
            &path.key("fieldPath"),
            quoted(fp),
            "error converting fieldPath: field label not supported",
        );
    } else if fp == "metadata.annotations" || fp == "metadata.labels" {
        // Supported without a subscript for volumes only; for env it is not in the expression set.
        out.unsupported(&path.key("fieldPath"), fp, SUPPORTED);
    }
}

fn container_restart_policy(c: &Value, path: &Path, init: bool, out: &mut Problems) {
    let policy = opt_s(c, "restartPolicy");
    let rules = arr(c, "restartPolicyRules");
    let Some(policy) = policy else {
        if !rules.is_empty() {
            out.required(&path.key("restartPolicy"));
        }
        return;
    };
    if init && policy == "Always" {
        // RestartAllContainersOnContainerExits is on in 1.36: rules are validated like a regular
        // container's.
    }
    const P: &[&str] = &["Always", "Never", "OnFailure"];
    if !P.contains(&policy) {
        out.unsupported(&path.key("restartPolicy"), policy, P);
    }
    if rules.len() > 20 {
        out.push(
            &path.key("restartPolicyRules"),
            format!("Too many: {}: must have at most 20 items", rules.len()),
        );
    }
    for (k, r) in rules.iter().enumerate() {
        let rp = path.key("restartPolicyRules").index(k);
        let action = s(r, "action");
        const A: &[&str] = &["Restart", "RestartAllContainers"];
        if !A.contains(&action) {
            out.unsupported(&rp.key("action"), action, A);
        }
        match obj(r, "exitCodes") {
            Some(ec) => {
                let op = s(ec, "operator");
                if !["In", "NotIn"].contains(&op) {
                    out.unsupported(&rp.key("exitCodes").key("operator"), op, &["In", "NotIn"]);
                }
                if arr(ec, "values").len() > 255 {
                    out.push(
                        &rp.key("exitCodes").key("values"),
                        "Too many: must have at most 255 items",
                    );
                }
            }
            None => out.required(&rp.key("exitCodes")),
        }
    }
}

fn host_port_conflicts(containers: &[Value], path: &Path, out: &mut Problems) {
    let mut seen = BTreeSet::new();
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in arr(c, "ports").iter().enumerate() {
            let hp = i(p, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let proto = match s(p, "protocol") {
                "" => "TCP",
                x => x,
            };
            let key = format!("{proto}/{}/{hp}", s(p, "hostIP"));
            if !seen.insert(key.clone()) {
                out.duplicate(
                    &path.index(ci).key("ports").index(pi).key("hostPort"),
                    quoted(&key),
                );
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn probe(p: &Value, grace: Option<i64>, path: &Path, kind: ProbeKind, out: &mut Problems) {
    if !p.is_object() {
        return;
    }
    handler(p, grace, path, true, out);
    for k in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        non_negative(p, k, path, out);
    }
    if let Some(t) = i(p, "terminationGracePeriodSeconds") {
        if t <= 0 {
            out.invalid(
                &path.key("terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            );
        }
        if kind == ProbeKind::Readiness {
            out.invalid(
                &path.key("terminationGracePeriodSeconds"),
                t,
                "must not be set for readinessProbes",
            );
        }
    }
    if kind != ProbeKind::Readiness {
        // Defaulted to 1 when 0.
        let st = i(p, "successThreshold").unwrap_or(0);
        if st != 0 && st != 1 {
            out.invalid(&path.key("successThreshold"), st, "must be 1");
        }
    }
}

/// A probe's or a lifecycle hook's handler: exactly one of exec, httpGet, tcpSocket, grpc (probes), sleep
/// (hooks).
fn handler(h: &Value, grace: Option<i64>, path: &Path, is_probe: bool, out: &mut Problems) {
    let kinds: &[&str] = if is_probe {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    } else {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    };
    let mut n = 0;
    for k in kinds {
        let Some(x) = h.get(*k).filter(|x| !x.is_null()) else {
            continue;
        };
        if n > 0 {
            out.forbidden(&path.key(k), "may not specify more than 1 handler type");
            continue;
        }
        n += 1;
        let hp = path.key(k);
        match *k {
            "exec" if arr(x, "command").is_empty() => {
                out.required(&hp.key("command"));
            }
            "httpGet" => {
                port_num_or_name(get(x, "port"), &hp.key("port"), out);
                let scheme = s(x, "scheme");
                if !scheme.is_empty() && !["HTTP", "HTTPS"].contains(&scheme) {
                    out.unsupported(&hp.key("scheme"), scheme, &["HTTP", "HTTPS"]);
                }
                for hdr in arr(x, "httpHeaders") {
                    let name = s(hdr, "name");
                    let ok = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                    if !ok {
                        out.invalid(
                            &hp.key("httpHeaders"),
                            quoted(name),
                            "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
                        );
                    }
                }
            }
            "tcpSocket" => port_num_or_name(get(x, "port"), &hp.key("port"), out),
            "grpc" => {
                let p = i(x, "port").unwrap_or(0);
                if let Err(e) = names::port_number(p) {
                    out.invalid(&hp.key("port"), p, e);
                }
            }
            "sleep" => {
                let secs = i(x, "seconds").unwrap_or(0);
                if let Some(g) = grace {
                    if secs < 0 || secs > g {
                        out.invalid(
                            &hp,
                            secs,
                            format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        out.push(path, "Required value: must specify a handler type");
    }
}

fn lifecycle(l: &Value, grace: Option<i64>, path: &Path, out: &mut Problems) {
    for k in ["postStart", "preStop"] {
        if let Some(h) = obj(l, k) {
            handler(h, grace, &path.key(k), false, out);
        }
    }
}

/// `validateResourceRequirements`: resource names, quantities, requests against limits (a request equal
/// to its limit for resources that cannot be overcommitted), hugepages beside cpu or memory, and claims
/// that name the pod's resource claims. `pod_level`: the pod's own `resources`.
fn resources(r: &Value, path: &Path, ctx: &PodCtx<'_>, pod_level: bool, out: &mut Problems) {
    let limits = map(r, "limits").cloned().unwrap_or_default();
    let mut requests = map(r, "requests").cloned().unwrap_or_default();
    // A Pod's requests default to its limits.
    if ctx.is_pod && !pod_level {
        for (k, v) in &limits {
            requests.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let lp = path.key("limits");
    let rp = path.key("requests");
    let (mut cpu_mem, mut huge) = (false, false);
    for (name, q) in &limits {
        resource_name(name, &lp.map_key(name), pod_level, out);
        quantity_value(name, q, &lp.map_key(name), out);
        huge |= name.starts_with("hugepages-");
        cpu_mem |= name == "cpu" || name == "memory";
    }
    for (name, q) in &requests {
        resource_name(name, &rp.map_key(name), pod_level, out);
        quantity_value(name, q, &rp.map_key(name), out);
        let overcommit = (!name.contains('/') || name.contains("kubernetes.io/"))
            && !name.starts_with("hugepages-");
        match limits.get(name) {
            Some(lim) => {
                if let (Some(rq), Some(lm)) = (quantity_of(q), quantity_of(lim)) {
                    let equal = (rq - lm).abs() <= f64::EPSILON * lm.abs().max(1.0);
                    if !overcommit && !equal {
                        out.invalid(
                            &rp,
                            quantity_text(q),
                            format!("must be equal to {name} limit of {}", quantity_text(lim)),
                        );
                    } else if rq > lm && !equal {
                        out.invalid(
                            &rp,
                            quantity_text(q),
                            format!(
                                "must be less than or equal to {name} limit of {}",
                                quantity_text(lim)
                            ),
                        );
                    }
                }
            }
            None if !overcommit => out.push(
                &lp,
                "Required value: Limit must be set for non overcommitable resources",
            ),
            None => {}
        }
        huge |= name.starts_with("hugepages-");
        cpu_mem |= name == "cpu" || name == "memory";
    }
    if huge && !cpu_mem {
        out.forbidden(path, "HugePages require cpu or memory");
    }
    let claims = arr(r, "claims");
    if pod_level && !claims.is_empty() {
        out.forbidden(
            &path.key("claims"),
            "claims may not be set for Resources at pod-level",
        );
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (k, claim) in claims.iter().enumerate() {
        let cp = path.key("claims").index(k);
        let n = s(claim, "name");
        if n.is_empty() {
            out.required(&cp);
            continue;
        }
        let request = s(claim, "request");
        if seen.contains(n) {
            out.duplicate(&cp, quoted(n));
        } else {
            let mut key = n.to_string();
            if !request.is_empty() {
                invalid_each(
                    out,
                    &cp.key("request"),
                    request,
                    names::dns1123_label(request),
                );
                key = format!("{n}/{request}");
            }
            if seen.contains(&key) {
                out.duplicate(&cp, quoted(&key));
            } else if request.is_empty()
                && seen
                    .iter()
                    .any(|k| k.split_once('/').is_some_and(|(c, _)| c == n))
            {
                out.duplicate(&cp, quoted(n));
            }
            seen.insert(key);
        }
        if !ctx.claims.contains(n) {
            out.push(
                &cp,
                format!(
                    "Not found: {}: must be one of the names in pod.spec.resourceClaims",
                    quoted(n)
                ),
            );
        }
    }
}

/// A resource name: qualified; without a prefix a standard resource (for containers: cpu, memory,
/// ephemeral-storage, hugepages-*); with one, a native (kubernetes.io) or extended resource. Pod-level
/// resources: cpu, memory and hugepages only.
fn resource_name(name: &str, path: &Path, pod_level: bool, out: &mut Problems) {
    if let Err(e) = names::qualified_name(name) {
        out.invalid(path, quoted(name), e);
        return;
    }
    const STANDARD: &[&str] = &[
        "cpu",
        "memory",
        "ephemeral-storage",
        "storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    ];
    let prefixed = name.contains('/');
    if !prefixed
        && !STANDARD.contains(&name)
        && !name.starts_with("hugepages-")
        && !name.starts_with("requests.hugepages-")
    {
        out.invalid(
            path,
            quoted(name),
            "must be a standard resource type or fully qualified",
        );
        return;
    }
    if pod_level {
        if !(name == "cpu" || name == "memory" || name.starts_with("hugepages-")) {
            out.unsupported(path, name, &["cpu", "memory"]);
        }
        return;
    }
    if !prefixed {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage")
            && !name.starts_with("hugepages-")
        {
            out.invalid(
                path,
                quoted(name),
                "must be a standard resource for containers",
            );
        }
    } else if !name.contains("kubernetes.io/") {
        let extended = !name.starts_with("requests.")
            && names::qualified_name(&format!("requests.{name}")).is_ok();
        if !extended {
            out.invalid(
                path,
                quoted(name),
                "doesn't follow extended resource name standard",
            );
        }
    }
}

/// A quantity of a resource: not negative; whole for integer resources (extended ones, pods); a multiple
/// of the page size for hugepages.
fn quantity_value(name: &str, q: &Value, path: &Path, out: &mut Problems) {
    let Some(x) = quantity_of(q) else {
        return;
    };
    if x < 0.0 {
        out.invalid(path, quantity_text(q), "must be greater than or equal to 0");
    }
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    let extended = !native && !name.starts_with("requests.");
    let integer = extended || name == "pods";
    if integer && ((x * 1000.0).round() as i128) % 1000 != 0 {
        out.invalid(path, quantity_text(q), "must be an integer");
    }
    if let Some(size) = name.strip_prefix("hugepages-") {
        match names::quantity_value(size) {
            Some(page) if page > 0.0 && page.fract() == 0.0 => {
                if (x / page).fract() != 0.0 {
                    out.invalid(
                        path,
                        quantity_text(q),
                        format!(
                            "{} is not positive integer multiple of {size}",
                            quantity_text(q)
                        ),
                    );
                }
            }
            _ => out.invalid(path, quantity_text(q), "invalid hugepages resource name"),
        }
    }
}

/// Pod-level `resources` (PodLevelResources): cpu, memory and hugepages, no claims, and not below what the
/// containers ask for.
fn pod_resources(spec: &Value, r: &Value, ctx: &PodCtx<'_>, path: &Path, out: &mut Problems) {
    if get(spec, "os").get("name").and_then(Value::as_str) == Some("windows") {
        out.forbidden(path, "may not be set for a windows pod");
        return;
    }
    resources(r, path, ctx, true, out);
    let pod_req = map(r, "requests");
    let pod_lim = map(r, "limits");
    let container_req = |c: &Value, k: &str| -> f64 {
        let res = get(c, "resources");
        map(res, "requests")
            .and_then(|m| m.get(k))
            .or_else(|| map(res, "limits").and_then(|m| m.get(k)))
            .and_then(quantity_of)
            .unwrap_or(0.0)
    };
    if let Some(req) = pod_req {
        for (k, q) in req {
            let Some(pq) = quantity_of(q) else { continue };
            let regular: f64 = arr(spec, "containers")
                .iter()
                .map(|c| container_req(c, k))
                .sum();
            let mut sidecars = 0.0;
            let mut init_peak: f64 = 0.0;
            for c in arr(spec, "initContainers") {
                if s(c, "restartPolicy") == "Always" {
                    sidecars += container_req(c, k);
                } else {
                    init_peak = init_peak.max(sidecars + container_req(c, k));
                }
            }
            let aggregate = (regular + sidecars).max(init_peak);
            if aggregate > pq + f64::EPSILON * pq.abs().max(1.0) {
                out.invalid(
                    &path.key("requests").map_key(k),
                    quantity_text(q),
                    "must be greater than or equal to aggregate container requests",
                );
            }
        }
    }
    if let Some(lim) = pod_lim {
        for (k, q) in lim {
            let Some(pl) = quantity_of(q) else { continue };
            for list in ["containers", "initContainers"] {
                for (i, c) in arr(spec, list).iter().enumerate() {
                    let cl = map(get(c, "resources"), "limits")
                        .and_then(|m| m.get(k))
                        .and_then(quantity_of);
                    if cl.is_some_and(|cl| cl > pl + f64::EPSILON * pl.abs().max(1.0)) {
                        out.invalid(
                            &Path::root()
                                .key("spec")
                                .key(list)
                                .index(i)
                                .key("resources")
                                .key("limits")
                                .map_key(k),
                            quantity_text(q),
                            "must be less than or equal to pod limits",
                        );
                    }
                }
            }
        }
    }
}

fn pod_resource_claims(spec: &Value, path: &Path, out: &mut Problems) {
    let mut names = BTreeSet::new();
    for (i, c) in arr(spec, "resourceClaims").iter().enumerate() {
        let cp = path.index(i);
        let n = s(c, "name");
        if n.is_empty() {
            out.required(&cp.key("name"));
        } else if !names.insert(n) {
            out.duplicate(&cp.key("name"), quoted(n));
        } else {
            invalid_each(out, &cp.key("name"), n, names::dns1123_label(n));
        }
        let claim = opt_s(c, "resourceClaimName");
        let template = opt_s(c, "resourceClaimTemplateName");
        match (claim, template) {
            (Some(_), Some(_)) => out.invalid(
                &cp,
                "resourceClaim",
                "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified",
            ),
            (None, None) => out.invalid(
                &cp,
                "resourceClaim",
                "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`",
            ),
            _ => {}
        }
        if let Some(x) = claim {
            invalid_each(
                out,
                &cp.key("resourceClaimName"),
                x,
                names::dns1123_subdomain(x),
            );
        }
        if let Some(x) = template {
            invalid_each(
                out,
                &cp.key("resourceClaimTemplateName"),
                x,
                names::dns1123_subdomain(x),
            );
        }
    }
}

fn volume_devices(c: &Value, volumes: &BTreeMap<String, String>, path: &Path, out: &mut Problems) {
    let mounts: BTreeMap<&str, &str> = arr(c, "volumeMounts")
        .iter()
        .map(|m| (s(m, "name"), s(m, "mountPath")))
        .collect();
    let mut paths = BTreeSet::new();
    let mut devnames = BTreeSet::new();
    for (i, d) in arr(c, "volumeDevices").iter().enumerate() {
        let dp = path.index(i);
        let name = s(d, "name");
        let at = s(d, "devicePath");
        if name.is_empty() {
            out.required(&dp.key("name"));
        }
        if devnames.contains(name) {
            out.invalid(&dp.key("name"), quoted(name), "must be unique");
        }
        match volumes.get(name).map(String::as_str) {
            Some("persistentVolumeClaim" | "ephemeral") => {}
            Some(_) => out.invalid(
                &dp.key("name"),
                quoted(name),
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            ),
            None => out.push(&dp.key("name"), format!("Not found: {}", quoted(name))),
        }
        if at.is_empty() {
            out.required(&dp.key("devicePath"));
        }
        if paths.contains(at) {
            out.invalid(&dp.key("devicePath"), quoted(at), "must be unique");
        }
        if !at.is_empty() && at.split(['/', '\\']).any(|p| p == "..") {
            out.invalid(
                &dp.key("devicePath"),
                quoted(at),
                "can not contain backsteps ('..')",
            );
        } else {
            paths.insert(at);
        }
        if mounts.contains_key(name) {
            out.invalid(
                &dp.key("name"),
                quoted(name),
                "must not already exist in volumeMounts",
            );
        }
        if mounts.values().any(|m| *m == at) {
            out.invalid(
                &dp.key("devicePath"),
                quoted(at),
                "must not already exist as a path in volumeMounts",
            );
        }
        if !name.is_empty() {
            devnames.insert(name);
        }
    }
}

fn resize_policy(c: &Value, ctx: &PodCtx<'_>, path: &Path, init: bool, out: &mut Problems) {
    let policies = arr(c, "resizePolicy");
    let mut seen = BTreeSet::new();
    for (i, p) in policies.iter().enumerate() {
        let r = s(p, "resourceName");
        if !seen.insert(r) {
            out.duplicate(&path.index(i), quoted(r));
        }
        match r {
            "cpu" | "memory" => {}
            "" => out.required(path),
            other => out.unsupported(path, other, &["cpu", "memory"]),
        }
        let rp = s(p, "restartPolicy");
        match rp {
            "NotRequired" | "RestartContainer" => {}
            "" => out.required(path),
            other => out.unsupported(path, other, &["NotRequired", "RestartContainer"]),
        }
        if ctx.restart_policy == "Never" && rp != "NotRequired" {
            out.invalid(
                path,
                quoted(rp),
                "must be 'NotRequired' when pod `restartPolicy` is 'Never'",
            );
        }
        if init && s(c, "restartPolicy") != "Always" && rp == "RestartContainer" {
            out.invalid(
                &path.index(i).key("restartPolicy"),
                quoted(rp),
                "must not be set to 'RestartContainer' for non-sidecar initContainers",
            );
        }
    }
}

pub(super) fn quantity_of(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => names::quantity_value(s.trim()),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn quantity_text(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s),
        other => other.to_string(),
    }
}

fn security_context(sc: &Value, path: &Path, host_users: bool, out: &mut Problems) {
    if !sc.is_object() {
        return;
    }
    for k in ["runAsUser", "runAsGroup"] {
        if let Some(id) = i(sc, k) {
            if !(0..=i64::from(i32::MAX)).contains(&id) {
                out.invalid(
                    &path.key(k),
                    id,
                    "must be between 0 and 2147483647, inclusive",
                );
            }
        }
    }
    if let Some(pm) = opt_s(sc, "procMount") {
        if !["Default", "Unmasked"].contains(&pm) {
            out.unsupported(&path.key("procMount"), pm, &["Default", "Unmasked"]);
        }
        if host_users && pm == "Unmasked" {
            out.invalid(
                &path.key("procMount"),
                quoted(pm),
                "`hostUsers` must be false to use `Unmasked`",
            );
        }
    }
    seccomp_profile(get(sc, "seccompProfile"), &path.key("seccompProfile"), out);
    if sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
        if b(sc, "privileged") {
            out.invalid(
                path,
                "securityContext",
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            );
        }
        if let Some(caps) = obj(sc, "capabilities") {
            if arr(caps, "add")
                .iter()
                .any(|c| c.as_str() == Some("CAP_SYS_ADMIN"))
            {
                out.invalid(path, "securityContext", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN");
            }
        }
    }
    app_armor(
        get(sc, "appArmorProfile"),
        &path.key("appArmorProfile"),
        out,
    );
    windows_options(get(sc, "windowsOptions"), &path.key("windowsOptions"), out);
}

fn windows_options(w: &Value, path: &Path, out: &mut Problems) {
    if !w.is_object() {
        return;
    }
    if let Some(n) = opt_s(w, "gmsaCredentialSpecName") {
        invalid_each(
            out,
            &path.key("gmsaCredentialSpecName"),
            n,
            names::dns1123_subdomain(n),
        );
    }
    if let Some(c) = opt_s(w, "gmsaCredentialSpec") {
        if c.is_empty() {
            out.invalid(
                &path.key("gmsaCredentialSpec"),
                "\"\"",
                "gmsaCredentialSpec cannot be an empty string",
            );
        } else if c.len() > 64 * 1024 {
            out.invalid(
                &path.key("gmsaCredentialSpec"),
                "...",
                "gmsaCredentialSpec size must be under 64 KiB",
            );
        }
    }
    if let Some(u) = opt_s(w, "runAsUserName") {
        let up = path.key("runAsUserName");
        let parts: Vec<&str> = u.split('\\').collect();
        if u.is_empty() {
            out.invalid(&up, "\"\"", "runAsUserName cannot be an empty string");
        } else if u.chars().any(|c| c.is_control()) {
            out.invalid(
                &up,
                quoted(u),
                "runAsUserName cannot contain control characters",
            );
        } else if parts.len() > 2 {
            out.invalid(
                &up,
                quoted(u),
                "runAsUserName cannot contain more than one backslash",
            );
        } else {
            let (domain, user) = match parts.as_slice() {
                [d, u] => (Some(*d), *u),
                _ => (None, u),
            };
            if let Some(d) = domain {
                if d.len() >= 256 {
                    out.invalid(
                        &up,
                        quoted(u),
                        "runAsUserName's Domain length must be under 256 characters",
                    );
                }
                let netbios = !d.is_empty()
                    && d.chars().count() <= 15
                    && !d.starts_with('.')
                    && !d.contains(['\\', '/', ':', '*', '?', '"', '<', '>', '|']);
                if !netbios && names::dns1123_subdomain(d).is_err() {
                    out.invalid(
                        &up,
                        quoted(u),
                        "runAsUserName's Domain doesn't match the NetBios nor the DNS format",
                    );
                }
            }
            if user.is_empty() {
                out.invalid(&up, quoted(u), "runAsUserName's User cannot be empty");
            } else if user.len() > 104 {
                out.invalid(
                    &up,
                    quoted(u),
                    "runAsUserName's User length must not be longer than 104 characters",
                );
            }
            if !user.is_empty() && user.chars().all(|c| c == '.' || c == ' ') {
                out.invalid(
                    &up,
                    quoted(u),
                    "runAsUserName's User cannot contain only periods or spaces",
                );
            }
            if user.contains([
                '"', '/', '\\', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@', '[', ']',
            ]) {
                out.invalid(&up, quoted(u), "runAsUserName's User cannot contain the following characters: \"/\\:;|=,+*?<>@[]");
            }
        }
    }
}

/// Windows hostProcess: all containers or none, and with hostNetwork.
fn host_process(spec: &Value, path: &Path, out: &mut Problems) {
    let hp = |sc: &Value| {
        sc.get("windowsOptions")
            .and_then(|w| w.get("hostProcess"))
            .and_then(Value::as_bool)
    };
    let pod_hp = hp(get(spec, "securityContext"));
    let mut count = 0;
    let mut host = 0;
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for (i, c) in arr(spec, list).iter().enumerate() {
            count += 1;
            let c_hp = hp(get(c, "securityContext"));
            if let (Some(p), Some(c)) = (pod_hp, c_hp) {
                if p != c {
                    out.invalid(
                        &path
                            .key(list)
                            .index(i)
                            .key("securityContext")
                            .key("windowsOptions")
                            .key("hostProcess"),
                        c,
                        format!("pod hostProcess value must be identical if both are specified, was {p}"),
                    );
                }
            }
            if c_hp == Some(true) || (c_hp.is_none() && pod_hp == Some(true)) {
                host += 1;
            }
        }
    }
    if host > 0 {
        if host != count {
            out.invalid(path, "\"\"", "If pod contains any hostProcess containers then all containers must be HostProcess containers");
        }
        if !b(spec, "hostNetwork") {
            out.invalid(
                &path.key("hostNetwork"),
                false,
                "hostNetwork must be true if pod contains any hostProcess containers",
            );
        }
    }
}

fn seccomp_profile(sp: &Value, path: &Path, out: &mut Problems) {
    if !sp.is_object() {
        return;
    }
    let t = s(sp, "type");
    const T: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
    if t.is_empty() {
        out.required(&path.key("type"));
    } else if !T.contains(&t) {
        out.unsupported(&path.key("type"), t, T);
    }
    let lp = opt_s(sp, "localhostProfile");
    if t == "Localhost" {
        match lp {
            None => out.push(
                &path.key("localhostProfile"),
                "Required value: must be set when seccomp type is Localhost",
            ),
            Some(p) => local_descending_path(p, &path.key("localhostProfile"), out),
        }
    } else if lp.is_some() {
        out.invalid(
            &path.key("localhostProfile"),
            "seccompProfile",
            "can only be set when seccomp type is Localhost",
        );
    }
}

fn app_armor(ap: &Value, path: &Path, out: &mut Problems) {
    if !ap.is_object() {
        return;
    }
    let t = s(ap, "type");
    const T: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
    if t.is_empty() {
        out.required(&path.key("type"));
    } else if !T.contains(&t) {
        out.unsupported(&path.key("type"), t, T);
    }
    let lp = opt_s(ap, "localhostProfile");
    if t == "Localhost" {
        match lp {
            None | Some("") => out.push(
                &path.key("localhostProfile"),
                "Required value: must be set when AppArmor type is Localhost",
            ),
            Some(p) => {
                if p.trim() != p {
                    out.invalid(
                        &path.key("localhostProfile"),
                        quoted(p),
                        "must not be padded with whitespace",
                    );
                }
                if p.len() > 4095 {
                    out.push(
                        &path.key("localhostProfile"),
                        "Too long: may not be more than 4095 bytes",
                    );
                }
            }
        }
    } else if lp.is_some() {
        out.invalid(
            &path.key("localhostProfile"),
            "appArmorProfile",
            "can only be set when AppArmor type is Localhost",
        );
    }
}

fn pod_security_context(sc: &Value, spec: &Value, path: &Path, out: &mut Problems) {
    let _ = spec;
    if !sc.is_object() {
        return;
    }
    for k in ["fsGroup", "runAsUser", "runAsGroup"] {
        if let Some(id) = i(sc, k) {
            if !(0..=i64::from(i32::MAX)).contains(&id) {
                out.invalid(
                    &path.key(k),
                    id,
                    "must be between 0 and 2147483647, inclusive",
                );
            }
        }
    }
    for (k, g) in arr(sc, "supplementalGroups").iter().enumerate() {
        if let Some(id) = as_integer(g) {
            if !(0..=i64::from(i32::MAX)).contains(&id) {
                out.invalid(
                    &path.key("supplementalGroups").index(k),
                    id,
                    "must be between 0 and 2147483647, inclusive",
                );
            }
        }
    }
    let mut sysctl_names = BTreeSet::new();
    for (k, sy) in arr(sc, "sysctls").iter().enumerate() {
        let n = s(sy, "name");
        let np = path.key("sysctls").index(k).key("name");
        if n.is_empty() {
            out.required(&np);
        } else if !is_sysctl_name(n) {
            out.invalid(&np, quoted(n), "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$");
        } else if !sysctl_names.insert(n) {
            out.duplicate(&np, quoted(n));
        }
    }
    if let Some(p) = opt_s(sc, "fsGroupChangePolicy") {
        if !["OnRootMismatch", "Always"].contains(&p) {
            out.unsupported(
                &path.key("fsGroupChangePolicy"),
                p,
                &["Always", "OnRootMismatch"],
            );
        }
    }
    seccomp_profile(get(sc, "seccompProfile"), &path.key("seccompProfile"), out);
    app_armor(
        get(sc, "appArmorProfile"),
        &path.key("appArmorProfile"),
        out,
    );
    windows_options(get(sc, "windowsOptions"), &path.key("windowsOptions"), out);
    if let Some(p) = opt_s(sc, "supplementalGroupsPolicy") {
        if !["Merge", "Strict"].contains(&p) {
            out.unsupported(
                &path.key("supplementalGroupsPolicy"),
                p,
                &["Merge", "Strict"],
            );
        }
    }
    if let Some(p) = opt_s(sc, "seLinuxChangePolicy") {
        if !["MountOption", "Recursive"].contains(&p) {
            out.unsupported(
                &path.key("seLinuxChangePolicy"),
                p,
                &["MountOption", "Recursive"],
            );
        }
    }
}

fn is_sysctl_name(n: &str) -> bool {
    if n.len() > 253 {
        return false;
    }
    let seg_ok = |seg: &str| {
        !seg.is_empty()
            && seg
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && seg.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && seg.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    n.split(['.', '/']).all(seg_ok)
}

fn tolerations(ts: &[Value], path: &Path, out: &mut Problems) {
    for (k, t) in ts.iter().enumerate() {
        let tp = path.index(k);
        let key = s(t, "key");
        if !key.is_empty() {
            invalid_each(out, &tp.key("key"), key, names::qualified_name(key));
        }
        let op = s(t, "operator");
        if key.is_empty() && op != "Exists" {
            out.invalid(&tp.key("operator"), quoted(op), "operator must be Exists when `key` is empty, which means \"match all values and all keys\"");
        }
        let effect = s(t, "effect");
        if t.get("tolerationSeconds").is_some_and(|x| !x.is_null()) && effect != "NoExecute" {
            out.invalid(
                &tp.key("effect"),
                quoted(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            );
        }
        let value = s(t, "value");
        match op {
            "Equal" | "" => {
                if let Err(e) = names::label_value(value) {
                    out.invalid(&tp.key("operator"), quoted(value), e);
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    out.invalid(
                        &tp.key("operator"),
                        quoted(value),
                        "value must be empty when `operator` is 'Exists'",
                    );
                }
            }
            other => out.unsupported(&tp.key("operator"), other, &["Equal", "Exists"]),
        }
        if !effect.is_empty() {
            const E: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
            if !E.contains(&effect) {
                out.unsupported(&tp.key("effect"), effect, E);
            }
        }
    }
}

fn affinity(a: &Value, path: &Path, out: &mut Problems) {
    if let Some(na) = obj(a, "nodeAffinity") {
        let np = path.key("nodeAffinity");
        if let Some(req) = obj(na, "requiredDuringSchedulingIgnoredDuringExecution") {
            let rp = np.key("requiredDuringSchedulingIgnoredDuringExecution");
            let terms = arr(req, "nodeSelectorTerms");
            if terms.is_empty() {
                out.push(
                    &rp.key("nodeSelectorTerms"),
                    "Required value: must have at least one node selector term",
                );
            }
            for (k, term) in terms.iter().enumerate() {
                node_selector_term(term, &rp.key("nodeSelectorTerms").index(k), out);
            }
        }
        for (k, pref) in arr(na, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let pp = np
                .key("preferredDuringSchedulingIgnoredDuringExecution")
                .index(k);
            let w = i(pref, "weight").unwrap_or(0);
            if !(1..=100).contains(&w) {
                out.invalid(&pp.key("weight"), w, "must be in the range 1-100");
            }
            node_selector_term(get(pref, "preference"), &pp.key("preference"), out);
        }
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        let Some(pa) = obj(a, kind) else {
            continue;
        };
        let pp = path.key(kind);
        for (k, term) in arr(pa, "requiredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            pod_affinity_term(
                term,
                &pp.key("requiredDuringSchedulingIgnoredDuringExecution")
                    .index(k),
                out,
            );
        }
        for (k, w) in arr(pa, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let wp = pp
                .key("preferredDuringSchedulingIgnoredDuringExecution")
                .index(k);
            let weight = i(w, "weight").unwrap_or(0);
            if !(1..=100).contains(&weight) {
                out.invalid(&wp.key("weight"), weight, "must be in the range 1-100");
            }
            pod_affinity_term(get(w, "podAffinityTerm"), &wp.key("podAffinityTerm"), out);
        }
    }
}

fn node_selector_term(term: &Value, path: &Path, out: &mut Problems) {
    for (k, e) in arr(term, "matchExpressions").iter().enumerate() {
        let ep = path.key("matchExpressions").index(k);
        let op = s(e, "operator");
        let values = arr(e, "values");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    out.push(
                        &ep.key("values"),
                        "Required value: must be specified when `operator` is 'In' or 'NotIn'",
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    out.forbidden(
                        &ep.key("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    );
                }
            }
            "Gt" | "Lt" => {
                if values.len() != 1 {
                    out.push(&ep.key("values"), "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'");
                }
            }
            other => out.invalid(
                &ep.key("operator"),
                quoted(other),
                "not a valid selector operator",
            ),
        }
        let key = s(e, "key");
        invalid_each(out, &ep.key("key"), key, names::qualified_name(key));
        if matches!(op, "In" | "NotIn") {
            for (j, v) in values.iter().enumerate() {
                let v = v.as_str().unwrap_or("");
                invalid_each(out, &ep.key("values").index(j), v, names::label_value(v));
            }
        }
    }
    for (k, f) in arr(term, "matchFields").iter().enumerate() {
        let fp = path.key("matchFields").index(k);
        if s(f, "key") != "metadata.name" {
            out.unsupported(&fp.key("key"), s(f, "key"), &["metadata.name"]);
        }
        let op = s(f, "operator");
        let values = arr(f, "values");
        if !["In", "NotIn"].contains(&op) {
            out.invalid(
                &fp.key("operator"),
                quoted(op),
                "not a valid selector operator",
            );
        } else if values.len() != 1 {
            out.push(&fp.key("values"), "Required value: must be only one value when `operator` is 'In' or 'NotIn' for node field selector");
        }
    }
}

fn pod_affinity_term(term: &Value, path: &Path, out: &mut Problems) {
    if let Some(sel) = obj(term, "labelSelector") {
        validate_label_selector(sel, &path.key("labelSelector"), out);
    }
    if let Some(sel) = obj(term, "namespaceSelector") {
        validate_label_selector(sel, &path.key("namespaceSelector"), out);
    }
    for (k, ns) in arr(term, "namespaces").iter().enumerate() {
        let ns = ns.as_str().unwrap_or("");
        invalid_each(
            out,
            &path.key("namespace").index(k),
            ns,
            names::dns1123_label(ns),
        );
    }
    let tk = s(term, "topologyKey");
    if tk.is_empty() {
        out.push(&path.key("topologyKey"), "Required value: can not be empty");
    } else {
        invalid_each(out, &path.key("topologyKey"), tk, names::qualified_name(tk));
    }
}

fn dns_config(spec: &Value, path: &Path, out: &mut Problems) {
    let policy = s(spec, "dnsPolicy");
    let cfg = obj(spec, "dnsConfig");
    if policy == "None" {
        match cfg {
            None => {
                out.push(
                    path,
                    "Required value: must provide `dnsConfig` when `dnsPolicy` is None",
                );
                return;
            }
            Some(c) => {
                if arr(c, "nameservers").is_empty() {
                    out.push(&path.key("nameservers"), "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None");
                }
            }
        }
    }
    let Some(c) = cfg else {
        return;
    };
    let ns = arr(c, "nameservers");
    if ns.len() > 3 {
        out.invalid(
            &path.key("nameservers"),
            ns.len(),
            "must not have more than 3 nameservers",
        );
    }
    for (k, n) in ns.iter().enumerate() {
        ip_legacy(
            n.as_str().unwrap_or(""),
            &path.key("nameservers").index(k),
            out,
        );
    }
    let search = arr(c, "searches");
    if search.len() > 32 {
        out.invalid(
            &path.key("searches"),
            search.len(),
            "must not have more than 32 search paths",
        );
    }
    let total: usize = search
        .iter()
        .map(|s| s.as_str().unwrap_or("").len())
        .sum::<usize>()
        + search.len().saturating_sub(1);
    if total > 2048 {
        out.invalid(
            &path.key("searches"),
            total,
            "must not have more than 2048 characters (including spaces) in the search list",
        );
    }
    for (k, sv) in search.iter().enumerate() {
        let sv = sv.as_str().unwrap_or("");
        if sv == "." {
            continue;
        }
        let d = sv.strip_suffix('.').unwrap_or(sv);
        // RelaxedDNSSearchValidation: underscores allowed.
        let relaxed = d.replace('_', "a");
        invalid_each(
            out,
            &path.key("searches").index(k),
            sv,
            names::dns1123_subdomain(&relaxed),
        );
    }
    for (k, o) in arr(c, "options").iter().enumerate() {
        if s(o, "name").is_empty() {
            out.push(
                &path.key("options").index(k),
                "Required value: Option.Name must not be empty",
            );
        }
    }
}

fn topology_spread(spec: &Value, path: &Path, out: &mut Problems) {
    let mut seen = BTreeSet::new();
    for (k, c) in arr(spec, "topologySpreadConstraints").iter().enumerate() {
        let cp = path.index(k);
        let skew = i(c, "maxSkew").unwrap_or(0);
        if skew <= 0 {
            out.invalid(&cp.key("maxSkew"), skew, "must be greater than zero");
        }
        let tk = s(c, "topologyKey");
        if tk.is_empty() {
            out.push(&cp.key("topologyKey"), "Required value: can not be empty");
        } else {
            invalid_each(out, &cp.key("topologyKey"), tk, names::qualified_name(tk));
        }
        let wu = s(c, "whenUnsatisfiable");
        if !["DoNotSchedule", "ScheduleAnyway"].contains(&wu) {
            out.unsupported(
                &cp.key("whenUnsatisfiable"),
                wu,
                &["DoNotSchedule", "ScheduleAnyway"],
            );
        }
        if let Some(md) = i(c, "minDomains") {
            if md <= 0 {
                out.invalid(&cp.key("minDomains"), md, "must be greater than 0");
            } else if wu != "DoNotSchedule" {
                out.invalid(
                    &cp.key("minDomains"),
                    md,
                    "can only use minDomains if whenUnsatisfiable=DoNotSchedule",
                );
            }
        }
        for k in ["nodeAffinityPolicy", "nodeTaintsPolicy"] {
            if let Some(p) = opt_s(c, k) {
                if !["Honor", "Ignore"].contains(&p) {
                    out.unsupported(&cp.key(k), p, &["Honor", "Ignore"]);
                }
            }
        }
        if !seen.insert((tk.to_string(), wu.to_string())) {
            out.duplicate(&cp, format!("{{{tk:?}, {wu:?}}}"));
        }
        if let Some(sel) = obj(c, "labelSelector") {
            validate_label_selector(sel, &cp.key("labelSelector"), out);
        }
        for (j, key) in arr(c, "matchLabelKeys").iter().enumerate() {
            let key = key.as_str().unwrap_or("");
            invalid_each(
                out,
                &cp.key("matchLabelKeys").index(j),
                key,
                names::qualified_name(key),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Service.

fn service(v: &Value, out: &mut Problems) {
    // RelaxedServiceNameValidation (on in 1.36): a DNS-1123 label.
    validate_object_meta(v, NameRule::Label, true, true, out);
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    let ty = match s(spec, "type") {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = s(spec, "clusterIP");
    // clusterIPs follows clusterIP when only that is set.
    let mut cluster_ips: Vec<String> = arr(spec, "clusterIPs")
        .iter()
        .map(|x| x.as_str().unwrap_or("").to_string())
        .collect();
    if cluster_ips.is_empty() && !cluster_ip.is_empty() {
        cluster_ips.push(cluster_ip.to_string());
    }
    let headless = cluster_ips.len() == 1 && cluster_ips[0] == "None";
    let ports = arr(spec, "ports");
    if ports.is_empty() && !headless && ty != "ExternalName" {
        out.required(&sp.key("ports"));
    }
    match ty {
        "LoadBalancer" | "NodePort" if headless => out.invalid(
            &sp.key("clusterIPs").index(0),
            "\"None\"",
            format!("may not be set to 'None' for {ty} services"),
        ),
        "ExternalName" => {
            if !cluster_ips.is_empty() {
                out.forbidden(
                    &sp.key("clusterIPs"),
                    "may not be set for ExternalName services",
                );
            }
            if !arr(spec, "ipFamilies").is_empty() {
                out.forbidden(
                    &sp.key("ipFamilies"),
                    "may not be set for ExternalName services",
                );
            }
            if spec.get("ipFamilyPolicy").is_some_and(|x| !x.is_null()) {
                out.forbidden(
                    &sp.key("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                );
            }
            let en = s(spec, "externalName");
            let cname = en.strip_suffix('.').unwrap_or(en);
            if cname.is_empty() {
                out.required(&sp.key("externalName"));
            } else {
                invalid_each(
                    out,
                    &sp.key("externalName"),
                    cname,
                    names::dns1123_subdomain(cname),
                );
            }
        }
        _ => {}
    }
    let mut port_names = BTreeSet::new();
    for (k, p) in ports.iter().enumerate() {
        let pp = sp.key("ports").index(k);
        let n = s(p, "name");
        if ports.len() > 1 && n.is_empty() {
            out.required(&pp.key("name"));
        } else if !n.is_empty() {
            invalid_each(out, &pp.key("name"), n, names::dns1123_label(n));
            if !port_names.insert(n) {
                out.duplicate(&pp.key("name"), quoted(n));
            }
        }
        let port = i(p, "port").unwrap_or(0);
        if let Err(e) = names::port_number(port) {
            out.invalid(&pp.key("port"), port, e);
        }
        protocol(p, &pp, out);
        // targetPort defaults to port when 0 or "".
        match p.get("targetPort") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t.is_empty() => {}
            Some(t) if as_integer(t) == Some(0) => {}
            Some(t) => port_num_or_name(t, &pp.key("targetPort"), out),
        }
        if let Some(ap) = opt_s(p, "appProtocol") {
            invalid_each(out, &pp.key("appProtocol"), ap, names::qualified_name(ap));
        }
    }
    if let Some(sel) = map(spec, "selector") {
        validate_labels(sel, &sp.key("selector"), out);
    }
    let affinity = match s(spec, "sessionAffinity") {
        "" => "None",
        a => a,
    };
    match affinity {
        "None" => {} // the config is dropped by defaulting
        "ClientIP" => {
            let t = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .and_then(as_integer);
            if let Some(t) = t {
                if !(1..=86400).contains(&t) {
                    out.invalid(
                        &sp.key("sessionAffinityConfig")
                            .key("clientIP")
                            .key("timeoutSeconds"),
                        t,
                        "must be greater than 0 and less than 86400",
                    );
                }
            }
        }
        other => out.unsupported(&sp.key("sessionAffinity"), other, &["ClientIP", "None"]),
    }
    if ty != "ExternalName" {
        cluster_ips_related(spec, cluster_ip, &cluster_ips, headless, &sp, out);
    }
    for (k, ip) in arr(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        let ep = sp.key("externalIPs").index(k);
        if ip_legacy(ip, &ep, out) {
            endpoint_ip(ip, &ep, out);
        }
    }
    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if !TYPES.contains(&ty) {
        out.unsupported(&sp.key("type"), ty, TYPES);
    }
    if ty == "ClusterIP" {
        for (k, p) in ports.iter().enumerate() {
            if i(p, "nodePort").unwrap_or(0) != 0 {
                out.forbidden(
                    &sp.key("ports").index(k).key("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                );
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (k, p) in ports.iter().enumerate() {
        let proto = match s(p, "protocol") {
            "" => "TCP",
            x => x,
        };
        let np = i(p, "nodePort").unwrap_or(0);
        if np != 0 && !node_ports.insert((proto, np)) {
            out.duplicate(&sp.key("ports").index(k).key("nodePort"), np);
        }
        // The node port range is the API server's configuration (and a dry run does not check it).
        let port = i(p, "port").unwrap_or(0);
        if !port_keys.insert((proto, port)) {
            out.duplicate(&sp.key("ports").index(k), format!("{{{proto} {port}}}"));
        }
    }
    let ranges = arr(spec, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        let fp = sp.key("LoadBalancerSourceRanges");
        if ty != "LoadBalancer" {
            out.forbidden(&fp, "may only be used when `type` is 'LoadBalancer'");
        }
        for (k, r) in ranges.iter().enumerate() {
            cidr_legacy(r.as_str().unwrap_or("").trim(), &fp.index(k), out);
        }
    }
    if spec
        .get("allocateLoadBalancerNodePorts")
        .is_some_and(|x| !x.is_null())
        && ty != "LoadBalancer"
    {
        out.forbidden(
            &sp.key("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        );
    }
    match opt_s(spec, "loadBalancerClass") {
        Some(c) if ty == "LoadBalancer" => invalid_each(
            out,
            &sp.key("loadBalancerClass"),
            c,
            names::qualified_name(c),
        ),
        Some(_) => out.forbidden(
            &sp.key("loadBalancerClass"),
            "may only be used when `type` is 'LoadBalancer'",
        ),
        None => {}
    }
    let externally =
        ty == "LoadBalancer" || ty == "NodePort" || !arr(spec, "externalIPs").is_empty();
    let etp = s(spec, "externalTrafficPolicy");
    if !externally {
        if !etp.is_empty() {
            out.invalid(
                &sp.key("externalTrafficPolicy"),
                quoted(etp),
                "may only be set for externally-accessible services",
            );
        }
    } else if !etp.is_empty() && !["Cluster", "Local"].contains(&etp) {
        out.unsupported(&sp.key("externalTrafficPolicy"), etp, &["Cluster", "Local"]);
    }
    let etp = if etp.is_empty() && externally {
        "Cluster"
    } else {
        etp
    };
    let hc = i(spec, "healthCheckNodePort").unwrap_or(0);
    let needs_hc = ty == "LoadBalancer" && etp == "Local";
    if !needs_hc && hc != 0 {
        out.invalid(
            &sp.key("healthCheckNodePort"),
            hc,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        );
    } else if needs_hc && hc != 0 {
        if let Err(e) = names::port_number(hc) {
            out.invalid(&sp.key("healthCheckNodePort"), hc, e);
        }
    }
    if let Some(itp) = opt_s(spec, "internalTrafficPolicy") {
        if !["Cluster", "Local"].contains(&itp) {
            out.unsupported(&sp.key("internalTrafficPolicy"), itp, &["Cluster", "Local"]);
        }
    }
    if let Some(td) = opt_s(spec, "trafficDistribution") {
        const TD: &[&str] = &["PreferClose", "PreferSameZone", "PreferSameNode"];
        if !TD.contains(&td) {
            out.unsupported(&sp.key("trafficDistribution"), td, TD);
        }
    }
    let md_ann = map(get(v, "metadata"), "annotations");
    if let Some(ann) = md_ann {
        let hints = ann
            .get("service.kubernetes.io/topology-aware-hints")
            .and_then(Value::as_str);
        let mode = ann
            .get("service.kubernetes.io/topology-mode")
            .and_then(Value::as_str);
        if let (Some(h), Some(m)) = (hints, mode) {
            if h != m {
                out.invalid(
                    &Path::root().key("metadata").key("annotations").map_key("service.kubernetes.io/topology-mode"),
                    quoted(m),
                    "must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified",
                );
            }
        }
        if ranges.is_empty() {
            if let Some(val) = ann
                .get("service.beta.kubernetes.io/load-balancer-source-ranges")
                .and_then(Value::as_str)
            {
                let fp = Path::root()
                    .key("metadata")
                    .key("annotations")
                    .map_key("service.beta.kubernetes.io/load-balancer-source-ranges");
                if ty != "LoadBalancer" {
                    out.forbidden(&fp, "may only be used when `type` is 'LoadBalancer'");
                }
                let val = val.trim();
                if !val.is_empty() {
                    for c in val.split(',') {
                        cidr_legacy(c.trim(), &fp, out);
                    }
                }
            }
        }
    }
}

fn cluster_ips_related(
    spec: &Value,
    cluster_ip: &str,
    cluster_ips: &[String],
    headless: bool,
    sp: &Path,
    out: &mut Problems,
) {
    let cp = sp.key("clusterIPs");
    let given: Vec<&str> = arr(spec, "clusterIPs")
        .iter()
        .map(|x| x.as_str().unwrap_or(""))
        .collect();
    if !cluster_ip.is_empty() {
        if !given.is_empty() && given[0] != cluster_ip {
            out.invalid(&cp, "clusterIPs", "first value must match `clusterIP`");
        }
    } else if !given.is_empty() {
        out.invalid(
            &cp,
            "clusterIPs",
            "must be empty when `clusterIP` is not specified",
        );
    }
    let mut seen = BTreeSet::new();
    for (k, f) in arr(spec, "ipFamilies").iter().enumerate() {
        let f = f.as_str().unwrap_or("");
        if !["IPv4", "IPv6"].contains(&f) {
            out.unsupported(&sp.key("ipFamilies").index(k), f, &["IPv4", "IPv6"]);
        }
        if !seen.insert(f) {
            out.duplicate(&sp.key("ipFamilies").index(k), quoted(f));
        }
    }
    if let Some(p) = opt_s(spec, "ipFamilyPolicy") {
        const P: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !P.contains(&p) {
            out.unsupported(&sp.key("ipFamilyPolicy"), p, P);
        }
    }
    let mut bad = false;
    for (k, ip) in cluster_ips.iter().enumerate() {
        if k == 0 && ip == "None" {
            if cluster_ips.len() > 1 {
                bad = true;
                out.invalid(&cp, "clusterIPs", "'None' must be the first and only value");
            }
            continue;
        }
        if !ip_legacy(ip, &cp.index(k), out) {
            bad = true;
        }
    }
    if cluster_ips.len() > 2 {
        out.invalid(&cp, "clusterIPs", "may only hold up to 2 values");
    }
    if bad {
        return;
    }
    if cluster_ips.len() > 1 {
        let v6: Vec<bool> = cluster_ips.iter().map(|ip| ip.contains(':')).collect();
        if v6.len() != 2 || v6[0] == v6[1] {
            out.invalid(
                &cp,
                "clusterIPs",
                "may specify no more than one IP for each IP family",
            );
        }
    }
    if !headless {
        let fams = arr(spec, "ipFamilies");
        for (k, ip) in cluster_ips.iter().enumerate() {
            let Some(f) = fams.get(k).and_then(Value::as_str) else {
                break;
            };
            if f == "IPv4" && ip.contains(':') {
                out.invalid(
                    &cp.index(k),
                    quoted(ip),
                    format!("expected an IPv4 value as indicated by `ipFamilies[{k}]`"),
                );
            }
            if f == "IPv6" && !ip.contains(':') {
                out.invalid(
                    &cp.index(k),
                    quoted(ip),
                    format!("expected an IPv6 value as indicated by `ipFamilies[{k}]`"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// EndpointSlice.

fn endpoint_slice(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let at = s(v, "addressType");
    const AT: &[&str] = &["FQDN", "IPv4", "IPv6"];
    if at.is_empty() {
        out.required(&Path::root().key("addressType"));
    } else if !AT.contains(&at) {
        out.unsupported(&Path::root().key("addressType"), at, AT);
    }
    let pp = Path::root().key("ports");
    let ports = arr(v, "ports");
    if ports.len() > 20000 {
        out.push(
            &pp,
            format!("Too many: {}: must have at most 20000 items", ports.len()),
        );
    } else {
        let mut seen = BTreeSet::new();
        for (k, p) in ports.iter().enumerate() {
            let n = s(p, "name");
            if !n.is_empty() {
                invalid_each(out, &pp.index(k).key("name"), n, names::dns1123_label(n));
            }
            if !seen.insert(n) {
                out.duplicate(&pp.index(k).key("name"), quoted(n));
            }
            // A pointer: only a missing (or null) protocol is defaulted to TCP.
            if let Some(proto) = opt_s(p, "protocol") {
                if !PROTOCOLS.contains(&proto) {
                    out.unsupported(&pp.index(k).key("protocol"), proto, PROTOCOLS);
                }
            }
            if let Some(ap) = opt_s(p, "appProtocol") {
                invalid_each(
                    out,
                    &pp.index(k).key("appProtocol"),
                    ap,
                    names::qualified_name(ap),
                );
            }
        }
    }
    let ep = Path::root().key("endpoints");
    let eps = arr(v, "endpoints");
    if eps.len() > 1000 {
        out.push(
            &ep,
            format!("Too many: {}: must have at most 1000 items", eps.len()),
        );
        return;
    }
    for (k, e) in eps.iter().enumerate() {
        let p = ep.index(k);
        let addrs = arr(e, "addresses");
        let ap = p.key("addresses");
        if addrs.is_empty() {
            out.push(&ap, "Required value: must contain at least 1 address");
        } else if addrs.len() > 100 {
            out.push(
                &ap,
                format!("Too many: {}: must have at most 100 items", addrs.len()),
            );
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            match at {
                "IPv4" if ip_legacy(a, &ap.index(j), out) => {
                    if a.contains(':') {
                        out.invalid(&ap, quoted(a), "must be an IPv4 address");
                    }
                    endpoint_ip(a, &ap.index(j), out);
                }
                "IPv6" => match names::parse_ip_strict(a) {
                    Some(std::net::IpAddr::V6(x)) => {
                        if x.to_string() != a {
                            out.invalid(
                                &ap.index(j),
                                quoted(a),
                                format!("must be in canonical form ({:?})", x.to_string()),
                            );
                        } else {
                            endpoint_ip(a, &ap.index(j), out);
                        }
                    }
                    Some(std::net::IpAddr::V4(_)) => {
                        out.invalid(&ap, quoted(a), "must be an IPv6 address");
                        endpoint_ip(a, &ap.index(j), out);
                    }
                    None => out.invalid(
                        &ap.index(j),
                        quoted(a),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ),
                },
                "FQDN" => fqdn(a, &ap.index(j), out),
                _ => {}
            }
        }
        if let Some(n) = opt_s(e, "nodeName") {
            invalid_each(out, &p.key("nodeName"), n, names::dns1123_subdomain(n));
        }
        // deprecatedTopology is dropped on a v1 create, before validation.
        if let Some(h) = opt_s(e, "hostname") {
            invalid_each(out, &p.key("hostname"), h, names::dns1123_label(h));
        }
        if let Some(hints) = obj(e, "hints") {
            let hp = p.key("hints");
            let zones = arr(hints, "forZones");
            if zones.len() > 8 {
                out.push(&hp.key("forZones"), "Too many: must have at most 8 items");
            } else {
                let mut seen = BTreeSet::new();
                for (j, z) in zones.iter().enumerate() {
                    let n = s(z, "name");
                    if !seen.insert(n) {
                        out.duplicate(&hp.key("forZones").index(j).key("name"), quoted(n));
                    }
                    invalid_each(
                        out,
                        &hp.key("forZones").index(j).key("name"),
                        n,
                        names::label_value(n),
                    );
                }
            }
            let nodes = arr(hints, "forNodes");
            if nodes.len() > 8 {
                out.push(&hp.key("forNodes"), "Too many: must have at most 8 items");
            } else {
                let mut seen = BTreeSet::new();
                for (j, z) in nodes.iter().enumerate() {
                    let n = s(z, "name");
                    if !seen.insert(n) {
                        out.duplicate(&hp.key("forNodes").index(j).key("name"), quoted(n));
                    }
                    invalid_each(
                        out,
                        &hp.key("forNodes").index(j).key("name"),
                        n,
                        names::dns1123_subdomain(n),
                    );
                }
            }
        }
    }
}

fn fqdn(a: &str, path: &Path, out: &mut Problems) {
    if a.is_empty() {
        out.required(path);
        return;
    }
    let name = a.strip_suffix('.').unwrap_or(a);
    if let Err(e) = names::dns1123_subdomain(name) {
        out.invalid(path, quoted(name), e);
        return;
    }
    if name.split('.').count() < 2 {
        out.invalid(
            path,
            quoted(name),
            "should be a domain with at least two segments separated by dots",
        );
        return;
    }
    for l in name.split('.') {
        if let Err(e) = names::dns1123_label(l) {
            out.invalid(path, quoted(l), e);
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// NetworkPolicy.

fn network_policy(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let spec = get(v, "spec");
    let sp = Path::root().key("spec");
    validate_label_selector(get(spec, "podSelector"), &sp.key("podSelector"), out);
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        for (k, rule) in arr(spec, dir).iter().enumerate() {
            let rp = sp.key(dir).index(k);
            for (j, port) in arr(rule, "ports").iter().enumerate() {
                np_port(port, &rp.key("ports").index(j), out);
            }
            for (j, peer) in arr(rule, peers).iter().enumerate() {
                np_peer(peer, &rp.key(peers).index(j), out);
            }
        }
    }
    let types = arr(spec, "policyTypes");
    if types.len() > 2 {
        out.invalid(
            &sp.key("policyTypes"),
            "policyTypes",
            "may not specify more than two policyTypes",
        );
        return;
    }
    for (k, t) in types.iter().enumerate() {
        let t = t.as_str().unwrap_or("");
        if !["Ingress", "Egress"].contains(&t) {
            out.unsupported(&sp.key("policyTypes").index(k), t, &["Ingress", "Egress"]);
        }
    }
}

fn np_port(port: &Value, path: &Path, out: &mut Problems) {
    if let Some(p) = opt_s(port, "protocol") {
        if !PROTOCOLS.contains(&p) {
            out.unsupported(&path.key("protocol"), p, &["TCP", "UDP", "SCTP"]);
        }
    }
    let end = i(port, "endPort");
    match port.get("port") {
        None | Some(Value::Null) => {
            if let Some(e) = end {
                out.invalid(
                    &path.key("endPort"),
                    e,
                    "may not be specified when `port` is not specified",
                );
            }
        }
        Some(Value::String(name)) => {
            if let Some(e) = end {
                out.invalid(
                    &path.key("endPort"),
                    e,
                    "may not be specified when `port` is non-numeric",
                );
            }
            invalid_each(out, &path.key("port"), name, names::port_name(name));
        }
        Some(n) => {
            let n = as_integer(n).unwrap_or(0);
            if let Err(e) = names::port_number(n) {
                out.invalid(&path.key("port"), n, e);
            }
            if let Some(e) = end {
                if e < n {
                    out.invalid(
                        &path.key("endPort"),
                        n,
                        "must be greater than or equal to `port`",
                    );
                }
                if let Err(msg) = names::port_number(e) {
                    out.invalid(&path.key("endPort"), e, msg);
                }
            }
        }
    }
}

fn np_peer(peer: &Value, path: &Path, out: &mut Problems) {
    let mut n = 0;
    for k in ["podSelector", "namespaceSelector"] {
        if let Some(sel) = peer.get(k).filter(|x| !x.is_null()) {
            n += 1;
            validate_label_selector(sel, &path.key(k), out);
        }
    }
    let ipb = peer.get("ipBlock").filter(|x| !x.is_null());
    if let Some(ipb) = ipb {
        n += 1;
        let bp = path.key("ipBlock");
        let cidr = s(ipb, "cidr");
        if cidr.is_empty() {
            out.required(&bp.key("cidr"));
        } else if let Some((v4, lo, hi, len)) = cidr_legacy(cidr, &bp.key("cidr"), out) {
            for (k, ex) in arr(ipb, "except").iter().enumerate() {
                let ex = ex.as_str().unwrap_or("");
                let ep = bp.key("except").index(k);
                let Some((ev4, elo, _ehi, elen)) = cidr_legacy(ex, &ep, out) else {
                    continue;
                };
                // The except's address (not its network) must be inside, and its prefix longer.
                let addr = names::parse_cidr_sloppy(ex)
                    .map(|(ip, _)| match ip {
                        std::net::IpAddr::V4(a) => u32::from(a) as u128,
                        std::net::IpAddr::V6(a) => u128::from(a),
                    })
                    .unwrap_or(elo);
                let contains = ev4 == v4 && addr >= lo && addr <= hi;
                if !contains || len >= elen {
                    out.invalid(&ep, quoted(ex), "must be a strict subset of `cidr`");
                }
            }
        }
    }
    if n == 0 {
        out.push(path, "Required value: must specify a peer");
    } else if n > 1 && ipb.is_some() {
        out.forbidden(path, "may not specify both ipBlock and another peer");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Namespace, ConfigMap, Secret.

fn namespace(v: &Value, out: &mut Problems) {
    // Defaulting sets the kubernetes.io/metadata.name label to the name, whatever it held.
    let mut v = v.clone();
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (Some(name), Some(md)) = (name, v.get_mut("metadata").and_then(Value::as_object_mut)) {
        if !name.is_empty() {
            let labels = md
                .entry("labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if !labels.is_object() {
                *labels = Value::Object(Map::new());
            }
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), Value::String(name));
            }
        }
    }
    let v = &v;
    validate_object_meta(v, NameRule::Label, false, true, out);
    let fp = Path::root().key("spec").key("finalizers");
    for f in arr(get(v, "spec"), "finalizers") {
        let f = f.as_str().unwrap_or("");
        invalid_each(out, &fp, f, names::qualified_name(f));
        if !f.contains('/') && f != "kubernetes" {
            out.invalid(
                &fp,
                quoted(f),
                "name is neither a standard finalizer name nor is it fully qualified",
            );
        }
    }
}

fn config_map(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let mut total = 0usize;
    let binary = map(v, "binaryData");
    if let Some(data) = map(v, "data") {
        for (k, val) in data {
            let p = Path::root().key("data").map_key(k);
            invalid_each(out, &p, k, names::config_map_key(k));
            if binary.is_some_and(|b| b.contains_key(k)) {
                out.invalid(&p, quoted(k), "duplicate of key present in binaryData");
            }
            total += val.as_str().map(str::len).unwrap_or(0);
        }
    }
    if let Some(bin) = binary {
        for (k, val) in bin {
            let p = Path::root().key("binaryData").map_key(k);
            invalid_each(out, &p, k, names::config_map_key(k));
            total += val.as_str().map(base64_len).unwrap_or(0);
        }
    }
    if total > 1024 * 1024 {
        out.push(
            &Path::root(),
            "Too long: may not be more than 1048576 bytes",
        );
    }
}

fn base64_len(s: &str) -> usize {
    let n = s.bytes().filter(|c| *c != b'\r' && *c != b'\n').count();
    let pad = s.bytes().rev().take_while(|c| *c == b'=').count();
    (n / 4 * 3).saturating_sub(pad)
}

fn secret(v: &Value, out: &mut Problems) {
    validate_object_meta(v, NameRule::Subdomain, true, true, out);
    let dp = Path::root().key("data");
    // stringData is merged into data (its values win).
    let mut data: BTreeMap<String, usize> = BTreeMap::new();
    let mut content: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if let Some(d) = map(v, "data") {
        for (k, val) in d {
            let s = val.as_str().unwrap_or("");
            data.insert(k.clone(), base64_len(s));
            content.insert(k.clone(), decode_base64(s));
        }
    }
    if let Some(d) = map(v, "stringData") {
        for (k, val) in d {
            let s = val.as_str().unwrap_or("");
            data.insert(k.clone(), s.len());
            content.insert(k.clone(), s.as_bytes().to_vec());
        }
    }
    let mut total = 0;
    for (k, n) in &data {
        invalid_each(out, &dp.map_key(k), k, names::config_map_key(k));
        total += n;
    }
    if total > 1024 * 1024 {
        out.push(&dp, "Too long: may not be more than 1048576 bytes");
    }
    let ty = s(v, "type");
    let annotations = map(get(v, "metadata"), "annotations");
    match ty {
        "kubernetes.io/service-account-token" => {
            let name = annotations
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if name.is_empty() {
                out.required(
                    &Path::root()
                        .key("metadata")
                        .key("annotations")
                        .map_key("kubernetes.io/service-account.name"),
                );
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if ty == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            match content.get(key) {
                None => out.required(&dp.map_key(key)),
                Some(bytes) => {
                    let ok = serde_json::from_slice::<Value>(bytes)
                        .map(|v| v.is_object())
                        .unwrap_or(false);
                    if !ok {
                        out.invalid(
                            &dp.map_key(key),
                            "<secret contents redacted>",
                            "not a JSON object",
                        );
                    }
                }
            }
        }
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            out.required(&dp.map_key("username"));
            out.required(&dp.map_key("password"));
        }
        "kubernetes.io/ssh-auth" if content.get("ssh-privatekey").is_none_or(Vec::is_empty) => {
            out.required(&dp.map_key("ssh-privatekey"));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !data.contains_key(k) {
                    out.required(&dp.map_key(k));
                }
            }
        }
        _ => {}
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

/// Whether a (valid) label selector selects these labels.
pub(super) fn selector_matches(sel: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    if let Some(ml) = map(sel, "matchLabels") {
        for (k, v) in ml {
            if label(k) != v.as_str() {
                return false;
            }
        }
    }
    for e in arr(sel, "matchExpressions") {
        let key = s(e, "key");
        let values: Vec<&str> = arr(e, "values").iter().filter_map(Value::as_str).collect();
        let ok = match s(e, "operator") {
            "In" => label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => label(key).is_some(),
            "DoesNotExist" => label(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}
