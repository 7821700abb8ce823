//! Putting manifests into the real API server as a cluster would have them, and watching the operator
//! converge: apply YAML (status included, through the status subresource), run the controller in-process
//! restricted to a test's namespaces, and poll until a condition holds.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::pinned_kind;
use kube::Client;
use serde::Deserialize;
use serde_json::Value;

use scrapepath::api::ScrapeIntent;
use scrapepath::controller::{run, Handle, Settings};

const MANAGER: &str = "scrapepath-tests";

/// Applies every document of `text`, replacing `{ns}`-style placeholders first. Fields the API server
/// owns (uid, resourceVersion, ownerReferences to objects that do not exist here) are dropped; a
/// `status` is written through the status subresource, as the owning controller would.
pub async fn apply_yaml(client: &Client, text: &str) {
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("test YAML parses"))
        .filter(|v| !v.is_null())
        .collect();
    for mut v in docs {
        apply_value(client, &mut v).await;
    }
}

/// Applies every YAML file of a directory (not recursive), in name order.
pub async fn apply_dir(client: &Client, dir: &Path) {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    // Namespaces first: everything else lives in them.
    files.sort_by_key(|p| !p.ends_with("namespaces.yaml"));
    for f in files {
        apply_yaml(client, &std::fs::read_to_string(&f).unwrap()).await;
    }
}

pub async fn api_for(client: &Client, v: &Value) -> Api<DynamicObject> {
    let (ar, namespaced) = resource_for(client, v).await;
    match v.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if namespaced => Api::namespaced_with(client.clone(), ns, &ar),
        _ => Api::all_with(client.clone(), &ar),
    }
}

/// The served resource of `v`'s apiVersion and kind, and whether it is namespaced.
pub async fn resource_for(client: &Client, v: &Value) -> (ApiResource, bool) {
    let api_version = v["apiVersion"].as_str().unwrap();
    let kind = v["kind"].as_str().unwrap();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    // A CRD that was just installed is Established a little before discovery serves its kind: wait for
    // it, with a generous bound, rather than fail by chance.
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (ar, caps) = loop {
        match pinned_kind(client, &gvk).await {
            Ok(found) => break found,
            Err(e) if Instant::now() >= deadline => {
                panic!("{api_version} {kind} is not served (waited 60 s): {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    (ar, caps.scope == kube::discovery::Scope::Namespaced)
}

pub async fn apply_value(client: &Client, v: &mut Value) {
    let md = v["metadata"].as_object_mut().unwrap();
    for f in [
        "uid",
        "resourceVersion",
        "ownerReferences",
        "creationTimestamp",
        "generation",
    ] {
        md.remove(f);
    }
    let api = api_for(client, v).await;
    apply_value_to(&api, v).await;
}

/// [`apply_value`] through an `api` the caller resolved once (no discovery per object: populating
/// thousands of objects of one kind). Server-set metadata must already be absent.
pub async fn apply_value_to(api: &Api<DynamicObject>, v: &mut Value) {
    let name = v["metadata"]["name"].as_str().unwrap().to_string();
    let status = v.as_object_mut().unwrap().remove("status");
    let pp = PatchParams::apply(MANAGER).force();
    api.patch(&name, &pp, &Patch::Apply(&*v))
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", v["kind"]));
    if let Some(mut status) = status {
        if v["kind"] == "Namespace" {
            return;
        }
        if let Some(s) = status.as_object_mut() {
            // Computed by the API server at creation, immutable after.
            s.remove("qosClass");
        }
        let body = serde_json::json!({
            "apiVersion": v["apiVersion"], "kind": v["kind"], "status": status,
        });
        match api.patch_status(&name, &pp, &Patch::Apply(&body)).await {
            Ok(_) => {}
            // Not every kind has a status subresource; those keep what the spec says.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => panic!("writing the status of {} {name}: {e}", v["kind"]),
        }
    }
}

/// Deletes an object named by its YAML head (apiVersion, kind, metadata).
pub async fn delete_yaml(client: &Client, text: &str) {
    let v: Value = serde_yaml_ng::from_str(text).unwrap();
    let api = api_for(client, &v).await;
    let name = v["metadata"]["name"].as_str().unwrap();
    let _ = api.delete(name, &Default::default()).await;
}

/// The controller, in-process, limited to `namespaces` so that tests sharing one API server do not
/// reconcile each other's intents.
pub struct Running {
    pub handle: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.handle.done).await;
    }

    pub fn writes(&self) -> u64 {
        self.handle.stats.writes()
    }

    /// Writes by category: status patches, applied objects, deleted objects, Events.
    pub fn breakdown(&self) -> [u64; 4] {
        let s = &self.handle.stats;
        [
            s.status_writes.get(),
            s.object_writes.get(),
            s.object_deletes.get(),
            s.events.get(),
        ]
    }
}

pub async fn start_controller(client: &Client, namespaces: &[&str]) -> Running {
    let settings = Settings {
        namespaces: namespaces
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        instance: format!("test-{}", namespaces.join("-")),
        ..Settings::default()
    };
    start_controller_with(client, settings).await
}

/// Logs of the in-process controller go to the test's captured output (shown when a test fails);
/// `SCRAPEPATH_LOG` sets the filter (default `info`).
fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("SCRAPEPATH_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

pub async fn start_controller_with(client: &Client, settings: Settings) -> Running {
    init_logs();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = run(client.clone(), settings, async move {
        let _ = rx.await;
    })
    .await
    .expect("the controller starts");
    Running {
        handle,
        stop: Some(tx),
    }
}

/// Polls `f` until it returns `Some`, or panics with `what` and the last observation after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}; last observation: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn intent(client: &Client, ns: &str, name: &str) -> Option<ScrapeIntent> {
    Api::<ScrapeIntent>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

/// The condition `type_` of an intent's status, as (status, reason, message).
pub fn condition(si: &ScrapeIntent, type_: &str) -> Option<(String, String, String)> {
    si.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the intent's condition `type_` has `status`, and returns it.
pub async fn wait_condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
) -> (String, String, String) {
    eventually(
        &format!("{ns}/{name} {type_}={status}"),
        Duration::from_secs(30),
        || async {
            let si = intent(client, ns, name)
                .await
                .ok_or_else(|| "intent absent".to_string())?;
            match condition(&si, type_) {
                Some(c) if c.0 == status => Ok(c),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

/// An object by apiVersion/kind/namespace/name, if it exists.
pub async fn get(
    client: &Client,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> Option<DynamicObject> {
    let head = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": ns, "name": name}});
    api_for(client, &head).await.get_opt(name).await.unwrap()
}

/// Names of the objects of a kind in a namespace.
pub async fn names(client: &Client, api_version: &str, kind: &str, ns: &str) -> Vec<String> {
    let head = serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": ns, "name": "x"}});
    let mut out: Vec<String> = api_for(client, &head)
        .await
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    out.sort();
    out
}
