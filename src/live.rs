//! Reading the world from a live cluster: which version of a kind the API server serves (an optional CRD
//! that is absent is "not installed", never an error), and the conversion of a served object into the
//! JSON the same parser reads from YAML files. `scrapepath audit` lists once; the controller watches.

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, Status};
use kube::Client;
use serde_json::Value;

use crate::index::ClusterIndex;
use crate::kinds::{ApiKind, API_KINDS};
use crate::model::ObjRef;
use crate::parse::{parse_value, ParseError, Parsed};

/// Whether a kube error means "this resource is not served" (a CRD that is not installed).
pub fn is_not_served(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 404,
        kube::Error::Discovery(_) => true,
        _ => false,
    }
}

/// The status of a failed API call, if the API server answered.
pub fn api_status(e: &kube::Error) -> Option<&Status> {
    match e {
        kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

pub fn api_resource(k: &ApiKind, version: &str) -> ApiResource {
    ApiResource {
        group: k.group.to_string(),
        version: version.to_string(),
        api_version: k.api_version(version),
        kind: k.kind.as_str().to_string(),
        plural: k.plural.to_string(),
    }
}

/// The API for a kind, scoped as the table says (an `only` entry may live in one namespace).
pub fn api_for(client: &Client, k: &ApiKind, ar: &ApiResource) -> Api<DynamicObject> {
    match k.only {
        Some((Some(ns), _)) => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    }
}

/// List parameters for a kind: a field selector on the one name that matters, and the entry's own
/// selectors.
pub fn list_params(k: &ApiKind) -> ListParams {
    let mut p = ListParams::default();
    if let Some(f) = field_selector(k) {
        p = p.fields(&f);
    }
    if let Some(l) = k.labels {
        p = p.labels(l);
    }
    p
}

/// The field selector of an entry's lists and watches: its one name (`only`), and its own (Events:
/// `type=Warning`).
pub fn field_selector(k: &ApiKind) -> Option<String> {
    let parts: Vec<String> = k
        .only
        .map(|(_, n)| format!("metadata.name={n}"))
        .into_iter()
        .chain(k.fields.map(str::to_string))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// The served version of a kind, `None` when it is not served (CRD not installed). Tries the versions of
/// the table in order with a one-item list, which also proves the caller may list it.
pub async fn served_version(
    client: &Client,
    k: &ApiKind,
) -> Result<Option<ApiResource>, kube::Error> {
    for v in k.versions {
        let ar = api_resource(k, v);
        match api_for(client, k, &ar)
            .list_metadata(&list_params(k).limit(1))
            .await
        {
            Ok(_) => return Ok(Some(ar)),
            Err(e) if is_not_served(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// A served object as the parser reads it: `apiVersion` and `kind` set (list items lack them),
/// `managedFields` dropped.
pub fn object_value(obj: DynamicObject, ar: &ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(ar.api_version.clone()));
        m.insert("kind".into(), Value::String(ar.kind.clone()));
        if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("managedFields");
        }
    }
    v
}

/// What a read of the cluster found besides the objects.
#[derive(Debug, Default)]
pub struct ReadNotes {
    /// Optional kinds whose CRD is not installed.
    pub not_installed: Vec<String>,
    /// Objects that could not be read, with the reason; they are left out of the analysis.
    pub unreadable: Vec<ParseError>,
}

/// Lists every kind once into a fresh index (`scrapepath audit`).
pub async fn read_cluster(client: &Client) -> Result<(ClusterIndex, ReadNotes), kube::Error> {
    let mut idx = ClusterIndex::new();
    let mut notes = ReadNotes::default();
    for k in API_KINDS.iter().filter(|k| !k.referenced) {
        if crate::kinds::RBAC_KINDS.contains(&k.kind) {
            // RBAC is read when the reader may: refused, the DiscoveryPermitted layer is Unknown.
            let ar = api_resource(k, k.versions[0]);
            match list_into(&api_for(client, k, &ar), k, &ar, &mut idx, &mut notes).await {
                Ok(()) => idx.mark_rbac_read(),
                Err(e) => notes.unreadable.push(ParseError {
                    object: k.crd_name(),
                    message: format!("cannot be listed ({e}): DiscoveryPermitted is Unknown"),
                }),
            }
            continue;
        }
        if k.scraper_status {
            // What says why a scraper is not Ready: a refusal leaves it out, not the audit.
            let ar = api_resource(k, k.versions[0]);
            let api = Api::all_with(client.clone(), &ar);
            if let Err(e) = list_into(&api, k, &ar, &mut idx, &mut notes).await {
                notes.unreadable.push(ParseError {
                    object: format!("{} ({})", k.plural, k.api_version(k.versions[0])),
                    message: format!(
                        "cannot be listed ({e}): ScraperNotReady does not quote the scrapers' {}s",
                        k.kind
                    ),
                });
            }
            continue;
        }
        let Some(ar) = served_version(client, k).await? else {
            notes.not_installed.push(k.crd_name());
            continue;
        };
        list_into(&api_for(client, k, &ar), k, &ar, &mut idx, &mut notes).await?;
    }
    // The ConfigMaps and Secrets the scrapers read, one by one.
    for r in idx.referenced_configs() {
        match get_referenced(client, &r).await {
            Ok(Some(v)) => match parse_value(v) {
                Ok(Parsed::Object(o)) => idx.apply(o),
                Ok(_) => {}
                Err(e) => notes.unreadable.push(e),
            },
            // Absent: the engine says so, naming the object.
            Ok(None) => {}
            // The engine names it with the reason, rather than calling it absent.
            Err(e) => {
                idx.set_config_unreadable(&r, format!("{r} cannot be read: {e}"));
                notes.unreadable.push(ParseError {
                    object: r.to_string(),
                    message: format!("cannot be read: {e}"),
                });
            }
        }
    }
    Ok((idx, notes))
}

/// Lists an entry through `api` (with its selectors, page by page) into `idx`.
async fn list_into(
    api: &Api<DynamicObject>,
    k: &ApiKind,
    ar: &ApiResource,
    idx: &mut ClusterIndex,
    notes: &mut ReadNotes,
) -> Result<(), kube::Error> {
    let mut params = list_params(k).limit(500);
    loop {
        let page = api.list(&params).await?;
        for obj in page.items {
            match parse_value(object_value(obj, ar)) {
                Ok(Parsed::Object(o)) => idx.apply(o),
                Ok(_) => {}
                Err(e) => notes.unreadable.push(e),
            }
        }
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => params = params.continue_token(&c),
            _ => return Ok(()),
        }
    }
}

/// One ConfigMap or Secret a scraper refers to, as the parser reads it; `None` when it does not exist.
pub async fn get_referenced(client: &Client, r: &ObjRef) -> Result<Option<Value>, kube::Error> {
    let Some(k) = API_KINDS.iter().find(|k| k.referenced && k.kind == r.kind) else {
        return Ok(None);
    };
    let ar = api_resource(k, k.versions[0]);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &r.namespace, &ar);
    Ok(api.get_opt(&r.name).await?.map(|o| object_value(o, &ar)))
}
