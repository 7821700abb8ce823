//! Istio semantics of `semantics/istio.md`: can a (usually sidecar-less) Prometheus scrape a meshed pod?
//!
//! The mesh layer of the engine, pure like the rest of it: [`policy`] types AuthorizationPolicy and
//! PeerAuthentication, [`workload`] classifies pods (sidecar, ambient, inbound capture, metrics merging) and
//! the scraping client, [`eval`] walks rules A→F to a [`MeshDecision`], and [`remedy`] turns decisions into
//! the rule-19 fixes. Rule numbers in comments and in decisions refer to `semantics/istio.md`.

pub mod eval;
pub mod inject;
pub mod policy;
pub mod remedy;
pub mod workload;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::ObjRef;

pub use eval::{decide, Basis, MeshDecision, MeshVerdict};

/// The root namespace when no mesh config says otherwise (rule 10).
pub const DEFAULT_ROOT_NAMESPACE: &str = "istio-system";

/// The parts of Istio's MeshConfig that change verdicts, from the `istio` ConfigMap (`data.mesh`).
#[derive(Debug, Clone, PartialEq)]
pub struct MeshConfig {
    /// The ConfigMap it came from; `None`: defaults.
    pub source: Option<ObjRef>,
    pub root_namespace: String,
    pub trust_domain: String,
    /// `enablePrometheusMerge`; `None`: not set (the default is true, rule 8).
    pub enable_prometheus_merge: Option<bool>,
    /// `extensionProviders[].name`; `None` when no mesh config is known (a CUSTOM provider may exist).
    pub extension_providers: Option<Vec<String>>,
    /// `defaultConfig.proxyMetadata`.
    pub proxy_metadata: BTreeMap<String, String>,
    /// `data.mesh` did not parse: the defaults are used and this says why.
    pub error: Option<String>,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            source: None,
            root_namespace: DEFAULT_ROOT_NAMESPACE.to_string(),
            trust_domain: "cluster.local".to_string(),
            enable_prometheus_merge: None,
            extension_providers: None,
            proxy_metadata: BTreeMap::new(),
            error: None,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawMeshConfig {
    root_namespace: Option<String>,
    trust_domain: Option<String>,
    enable_prometheus_merge: Option<bool>,
    extension_providers: Vec<RawProvider>,
    default_config: RawProxyConfig,
}

/// An extension provider by name: declared in the mesh config, referenced by a CUSTOM policy.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawProvider {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawProxyConfig {
    proxy_metadata: BTreeMap<String, String>,
}

impl MeshConfig {
    /// The mesh config of the ConfigMap `source` whose `data.mesh` is `mesh` (YAML). A value that does not
    /// parse keeps the defaults and records why; it never fails the load.
    pub fn from_config_map(source: ObjRef, mesh: Option<&str>) -> MeshConfig {
        let mut cfg = MeshConfig {
            source: Some(source),
            extension_providers: Some(Vec::new()),
            ..MeshConfig::default()
        };
        let Some(text) = mesh else {
            return cfg;
        };
        match serde_yaml_ng::from_str::<Option<RawMeshConfig>>(text) {
            Ok(raw) => {
                let raw = raw.unwrap_or_default();
                if let Some(r) = raw.root_namespace.filter(|r| !r.is_empty()) {
                    cfg.root_namespace = r;
                }
                if let Some(t) = raw.trust_domain.filter(|t| !t.is_empty()) {
                    cfg.trust_domain = t;
                }
                cfg.enable_prometheus_merge = raw.enable_prometheus_merge;
                cfg.extension_providers = Some(
                    raw.extension_providers
                        .into_iter()
                        .map(|p| p.name)
                        .collect(),
                );
                cfg.proxy_metadata = raw.default_config.proxy_metadata;
            }
            Err(e) => cfg.error = Some(format!("data.mesh does not parse: {e}")),
        }
        cfg
    }

    pub fn describe_source(&self) -> String {
        match &self.source {
            Some(r) => format!("ConfigMap {}/{}", r.namespace, r.name),
            None => "the defaults (no istio ConfigMap in the input)".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    #[test]
    fn mesh_config_reads_the_root_namespace_and_keeps_defaults_otherwise() {
        let r = ObjRef::new(Kind::ConfigMap, "istio-system", "istio");
        let c = MeshConfig::from_config_map(
            r.clone(),
            Some("rootNamespace: mesh-root\nenablePrometheusMerge: false\nextensionProviders: [{name: oauth2}]\ndefaultConfig: {proxyMetadata: {METRICS_LOCALHOST_ACCESS_ONLY: 'true'}}\n"),
        );
        assert_eq!(c.root_namespace, "mesh-root");
        assert_eq!(c.enable_prometheus_merge, Some(false));
        assert_eq!(c.extension_providers, Some(vec!["oauth2".to_string()]));
        assert_eq!(c.proxy_metadata["METRICS_LOCALHOST_ACCESS_ONLY"], "true");
        let d = MeshConfig::from_config_map(r.clone(), Some("trustDomain: example.org\n"));
        assert_eq!(d.root_namespace, DEFAULT_ROOT_NAMESPACE);
        assert_eq!(d.trust_domain, "example.org");
        let bad = MeshConfig::from_config_map(r, Some("rootNamespace: [unclosed\n"));
        assert_eq!(bad.root_namespace, DEFAULT_ROOT_NAMESPACE);
        assert!(bad.error.is_some());
    }
}
