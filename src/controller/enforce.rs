//! Enforce: make the cluster hold the engine's plan, and nothing more (DESIGN.md §4).
//!
//! - scrapepath's own objects are server-side applied under one field manager — only when the live object
//!   does not already hold what the plan says, so a steady state makes no writes; drift is repaired;
//! - a referenced monitor of the user gets only its missing labels, added by a merge patch (a later
//!   server-side apply with a different label set would remove labels this manager added before; a merge
//!   patch can only add), and a label the user set to another value is never changed;
//! - scrapepath's own objects the plan no longer needs are deleted — only those that carry its labels and
//!   a controller reference to this very intent;
//! - an object that exists under the planned name but is not scrapepath's is never touched.

use std::collections::BTreeSet;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::Client;
use serde_json::{json, Value};

use crate::api::{ManagedRef, ScrapeIntent};
use crate::index::ClusterIndex;
use crate::kinds::MANAGED_KINDS;
use crate::live::object_value;
use crate::model::{managing_intent, Kind, Labels, MonitorKind, ObjRef};

use super::world::World;

pub const FIELD_MANAGER: &str = "scrapepath";

/// What Enforce did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Created(ObjRef),
    Repaired(ObjRef),
    LabelsAdded(ObjRef, Vec<String>),
    Removed(ObjRef),
}

impl Action {
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Action::Created(r) => ("Applied", format!("created {r}")),
            Action::Repaired(r) => ("Repaired", format!("repaired drift on {r}")),
            Action::LabelsAdded(r, keys) => (
                "LabelsAdded",
                format!("added labels {} to {r}", keys.join(", ")),
            ),
            Action::Removed(r) => ("Removed", format!("deleted {r}: no longer needed")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    #[error("{object}: {source}")]
    Api {
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0} exists and is not scrapepath's object for this intent: it is left alone; rename or remove it to let Enforce apply the fix")]
    Collision(String),
    #[error("the plan needs {0}, which the API server does not serve (is its CRD installed?)")]
    NotServed(String),
    #[error("the plan holds an object without name or namespace, or of a kind Enforce does not manage: {0}")]
    Malformed(String),
}

impl EnforceError {
    /// The Event reason and metric label of this error's category.
    pub fn category(&self) -> &'static str {
        match self {
            EnforceError::Api { .. } => "ApplyFailed",
            EnforceError::Collision(_) => "NameCollision",
            EnforceError::NotServed(_) => "KindNotServed",
            EnforceError::Malformed(_) => "InvalidPlan",
        }
    }

    /// Whether retrying soon can help (the API server was unavailable, a conflict), as opposed to a
    /// state that only a change of the cluster resolves.
    pub fn is_transient(&self) -> bool {
        match self {
            EnforceError::Api { source, .. } => match crate::live::api_status(source) {
                Some(s) => s.code >= 500 || s.code == 409 || s.code == 429,
                None => true,
            },
            _ => false,
        }
    }
}

/// The outcome of one Enforce pass.
#[derive(Debug, Default)]
pub struct Enforced {
    pub managed: Vec<ManagedRef>,
    pub actions: Vec<Action>,
}

/// Whether `live` holds everything `desired` says: every key of a desired object is present with an
/// equal value (recursively); lists must have the same length and hold the desired items in order.
/// Fields the API server adds (defaults, status, metadata it owns) do not count as drift.
pub fn holds(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d
            .iter()
            .all(|(k, dv)| l.get(k).is_some_and(|lv| holds(lv, dv))),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| holds(lv, dv))
        }
        (l, d) => l == d,
    }
}

/// The kind of a plan object, only if Enforce may write it ([`MANAGED_KINDS`]).
fn kind_of(v: &Value) -> Option<Kind> {
    let k = v.get("kind")?.as_str()?;
    MANAGED_KINDS
        .iter()
        .copied()
        .find(|kind| kind.as_str() == k)
}

fn plan_ref(v: &Value) -> Result<ObjRef, EnforceError> {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    match (kind_of(v), s("/metadata/namespace"), s("/metadata/name")) {
        (Some(kind), Some(ns), Some(name)) => Ok(ObjRef::new(kind, ns, name)),
        _ => Err(EnforceError::Malformed(v.to_string())),
    }
}

/// The labels of `monitor` (in the index) that `patch` would add: missing keys only.
fn labels_to_add(idx: &ClusterIndex, r: &ObjRef, patch: &Value) -> Option<Labels> {
    let kind = match r.kind {
        Kind::PodMonitor => MonitorKind::PodMonitor,
        Kind::ServiceMonitor => MonitorKind::ServiceMonitor,
        _ => return None,
    };
    let m = idx.monitor(kind, &r.namespace, &r.name)?;
    let wanted: Labels = patch
        .pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default();
    Some(
        wanted
            .into_iter()
            .filter(|(k, _)| !m.labels.contains_key(k))
            .collect(),
    )
}

fn owned_by(v: &Value, uid: &str) -> bool {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("uid").and_then(Value::as_str) == Some(uid)
                    && r.get("controller").and_then(Value::as_bool) == Some(true)
            })
        })
}

fn api(client: &Client, world: &World, r: &ObjRef) -> Result<Api<DynamicObject>, EnforceError> {
    let ar = world
        .served(r.kind)
        .ok_or_else(|| EnforceError::NotServed(r.kind.to_string()))?;
    Ok(Api::namespaced_with(client.clone(), &r.namespace, &ar))
}

/// Makes the cluster hold `plan` for `si`, and removes what scrapepath applied for it before that the
/// plan no longer holds.
pub async fn enforce(
    client: &Client,
    world: &World,
    si: &ScrapeIntent,
    plan: &[Value],
) -> Result<Enforced, EnforceError> {
    let ns = si.metadata.namespace.clone().unwrap_or_default();
    let name = si.metadata.name.clone().unwrap_or_default();
    let uid = si.metadata.uid.clone().unwrap_or_default();
    let mut out = Enforced::default();
    let mut wanted: BTreeSet<ObjRef> = BTreeSet::new();
    for desired in plan {
        let r = plan_ref(desired)?;
        let api_version = desired
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if desired.get("spec").is_none() {
            // A label-add on the user's monitor in the intent's namespace.
            if r.namespace != ns {
                continue;
            }
            let add = {
                let idx = world.index.read().unwrap();
                labels_to_add(&idx, &r, desired)
            };
            let Some(add) = add.filter(|a| !a.is_empty()) else {
                continue;
            };
            let patch = json!({"metadata": {"labels": add}});
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            };
            let live = api(client, world, &r)?
                .patch(&r.name, &params, &Patch::Merge(&patch))
                .await
                .map_err(|source| EnforceError::Api {
                    object: r.to_string(),
                    source,
                })?;
            if let Some(ar) = world.served(r.kind) {
                world.apply_value(r.kind, object_value(live, &ar));
            }
            out.actions
                .push(Action::LabelsAdded(r, add.into_keys().collect()));
            continue;
        }
        wanted.insert(r.clone());
        let live = world.managed(&r);
        match &live {
            Some(v) if managing_intent(&labels(v)).as_deref() != Some(name.as_str()) => {
                return Err(EnforceError::Collision(r.to_string()))
            }
            None if world.index.read().unwrap().contains(&r) => {
                return Err(EnforceError::Collision(r.to_string()))
            }
            _ => {}
        }
        if let Some(v) = &live {
            if holds(v, desired) {
                out.managed.push(managed_ref(&api_version, &r));
                continue;
            }
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api(client, world, &r)?
            .patch(&r.name, &params, &Patch::Apply(desired))
            .await
            .map_err(|source| EnforceError::Api {
                object: r.to_string(),
                source,
            })?;
        if let Some(ar) = world.served(r.kind) {
            world.apply_value(r.kind, object_value(applied, &ar));
        }
        out.actions.push(if live.is_some() {
            Action::Repaired(r.clone())
        } else {
            Action::Created(r.clone())
        });
        out.managed.push(managed_ref(&api_version, &r));
    }

    for m in world.managed_for(&ns, &name) {
        if wanted.contains(&m.obj) || !owned_by(&m.value, &uid) {
            continue;
        }
        let obj_uid = m
            .value
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: obj_uid,
                resource_version: None,
            }),
            ..Default::default()
        };
        match api(client, world, &m.obj)?
            .delete(&m.obj.name, &params)
            .await
        {
            Ok(_) => {}
            Err(e) if crate::live::api_status(&e).is_some_and(|s| s.code == 404) => {}
            Err(source) => {
                return Err(EnforceError::Api {
                    object: m.obj.to_string(),
                    source,
                })
            }
        }
        world.delete_value(m.obj.kind, &m.value);
        out.actions.push(Action::Removed(m.obj));
    }
    Ok(out)
}

fn labels(v: &Value) -> Labels {
    v.pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

fn managed_ref(api_version: &str, r: &ObjRef) -> ManagedRef {
    ManagedRef {
        api_version: api_version.to_string(),
        kind: r.kind.to_string(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_object_with_server_defaults_holds_the_plan() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"ports": [{"port": "9090"}]}});
        let live = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "spec": {"ports": [{"port": "9090", "protocol": "TCP"}]}, "status": {}});
        assert!(holds(&live, &desired));
    }

    #[test]
    fn an_edited_or_shortened_list_is_drift() {
        let desired = json!({"spec": {"ports": [{"port": "9090"}, {"port": "15090"}]}});
        assert!(!holds(
            &json!({"spec": {"ports": [{"port": "9090"}]}}),
            &desired
        ));
        assert!(!holds(
            &json!({"spec": {"ports": [{"port": "9090"}, {"port": "15091"}]}}),
            &desired
        ));
        assert!(!holds(&json!({"spec": {}}), &desired));
    }

    #[test]
    fn only_a_controller_reference_to_this_intent_counts_as_ownership() {
        let v = json!({"metadata": {"ownerReferences": [{"uid": "u1", "controller": true}]}});
        assert!(owned_by(&v, "u1"));
        assert!(!owned_by(&v, "u2"));
        let not_controller = json!({"metadata": {"ownerReferences": [{"uid": "u1"}]}});
        assert!(!owned_by(&not_controller, "u1"));
    }

    #[test]
    fn a_plan_object_names_its_kind_namespace_and_name() {
        let r = plan_ref(&json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "scrapepath-a", "namespace": "ns"}})).unwrap();
        assert_eq!(
            r,
            ObjRef::new(Kind::CiliumNetworkPolicy, "ns", "scrapepath-a")
        );
        assert!(plan_ref(&json!({"kind": "Nope", "metadata": {"name": "x"}})).is_err());
        // A kind the operator reads but never writes is refused, even with a name and namespace.
        assert!(plan_ref(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "ns"}})).is_err());
    }
}
