//! Where the operator may read scrapers' configurations from: the ConfigMaps and Secrets that a
//! scraper pod's `--config.file` volume or a Prometheus object's `spec.additionalScrapeConfigs` refer
//! to (the `referenced` entries of [`crate::kinds::API_KINDS`]).
//!
//! Reading every Secret of a cluster is what a security review rejects, so these reads are limited to
//! some namespaces (default `monitoring`; `*` is every namespace, an empty list none), and Secrets can be
//! left out altogether. The same setting decides what the operator reads
//! ([`crate::controller::world`] never asks for an object outside it) and what it is granted
//! ([`crate::rbac`]: a Role in each namespace, or the ClusterRole for `*`), so the two cannot disagree. A
//! configuration outside it is reported by the engine as `ConfigUnreadable`, naming the object and the
//! setting to change ([`ConfigAccess::refusal`]).

use std::collections::BTreeSet;
use std::fmt;

use crate::model::{Kind, ObjRef};

/// The command-line flag, environment variable and Helm value of the namespaces.
pub const NAMESPACES_SETTING: &str =
    "--config-namespaces / SCRAPEPATH_CONFIG_NAMESPACES, Helm value scrapeConfigs.namespaces";
/// The command-line flag, environment variable and Helm value of the Secrets switch.
pub const SECRETS_SETTING: &str =
    "--read-secrets / SCRAPEPATH_READ_SECRETS, Helm value scrapeConfigs.secrets";
/// The flag, environment variable and Helm value of the namespaces where the scrapers' StatefulSets
/// and Warning Events are read (issue 17: what ScraperNotReady quotes); `*`: every namespace, empty: none.
pub const STATUS_NAMESPACES_SETTING: &str =
    "--scraper-status-namespaces / SCRAPEPATH_SCRAPER_STATUS_NAMESPACES, Helm value scraperStatus.namespaces";
/// The namespace configurations are read from by default.
pub const DEFAULT_NAMESPACE: &str = "monitoring";
/// The word for "every namespace" in the namespace list.
pub const EVERY_NAMESPACE: &str = "*";

/// The namespaces scrape configurations may be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigNamespaces {
    /// Every namespace (`*`): granted by the ClusterRole.
    All,
    /// These namespaces only (empty: none): a Role in each.
    Only(BTreeSet<String>),
}

impl ConfigNamespaces {
    /// From the values of the setting: `*` alone is every namespace; empty values are dropped, so an
    /// empty list (or the empty string) is none. Refuses `*` next to names and what is no namespace name.
    pub fn from_list<S: AsRef<str>>(values: &[S]) -> Result<Self, String> {
        let values: Vec<&str> = values
            .iter()
            .map(|v| v.as_ref().trim())
            .filter(|v| !v.is_empty())
            .collect();
        if values.contains(&EVERY_NAMESPACE) {
            if values.len() > 1 {
                return Err(format!(
                    "scrape configuration namespaces {values:?}: \"*\" (every namespace) stands alone ({NAMESPACES_SETTING})"
                ));
            }
            return Ok(ConfigNamespaces::All);
        }
        let mut out = BTreeSet::new();
        for v in values {
            check_namespace(v)?;
            out.insert(v.to_string());
        }
        Ok(ConfigNamespaces::Only(out))
    }

    /// Where the scrapers' StatefulSets and Events are read by default: `monitoring`, like configurations.
    pub fn default_status() -> Self {
        ConfigNamespaces::Only(BTreeSet::from([DEFAULT_NAMESPACE.to_string()]))
    }

    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            ConfigNamespaces::All => true,
            ConfigNamespaces::Only(set) => set.contains(namespace),
        }
    }
}

impl fmt::Display for ConfigNamespaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigNamespaces::All => f.write_str("every namespace"),
            ConfigNamespaces::Only(set) if set.is_empty() => f.write_str("no namespace"),
            ConfigNamespaces::Only(set) => {
                let list: Vec<&str> = set.iter().map(String::as_str).collect();
                let word = if list.len() == 1 {
                    "namespace"
                } else {
                    "namespaces"
                };
                write!(f, "{word} {}", list.join(", "))
            }
        }
    }
}

/// One value of the namespace list: `*`, or a namespace name (an RFC 1123 label). Empty values pass
/// (they are dropped): the value of an empty list.
pub fn check_namespace_value(v: &str) -> Result<String, String> {
    let t = v.trim();
    if t.is_empty() || t == EVERY_NAMESPACE {
        return Ok(t.to_string());
    }
    check_namespace(t).map(|()| t.to_string())
}

fn check_namespace(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{v:?} is not a namespace name (lowercase letters, digits and '-', at most 63) nor \"*\""
        ))
    }
}

/// What the operator may read of scrapers' configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAccess {
    pub namespaces: ConfigNamespaces,
    /// Whether Secrets are read at all (ConfigMaps are, in the namespaces).
    pub secrets: bool,
}

impl Default for ConfigAccess {
    /// ConfigMaps and Secrets in `monitoring` only: what `scrapepath run`, `scrapepath rbac` and the
    /// Helm chart default to.
    fn default() -> Self {
        ConfigAccess {
            namespaces: ConfigNamespaces::Only(BTreeSet::from([DEFAULT_NAMESPACE.to_string()])),
            secrets: true,
        }
    }
}

impl ConfigAccess {
    /// Every ConfigMap and Secret a scraper refers to, wherever it is.
    pub fn everything() -> Self {
        ConfigAccess {
            namespaces: ConfigNamespaces::All,
            secrets: true,
        }
    }

    /// Whether objects of `kind` are read at all.
    pub fn reads_kind(&self, kind: Kind) -> bool {
        match kind {
            Kind::ConfigMap => true,
            Kind::Secret => self.secrets,
            _ => false,
        }
    }

    /// `None` when the operator may read `r`; else why not, naming the object and the setting to
    /// change (the `ConfigUnreadable` message).
    pub fn refusal(&self, r: &ObjRef) -> Option<String> {
        if !self.reads_kind(r.kind) {
            return Some(format!(
                "{r} is not read: scrapepath is set to read no Secrets ({SECRETS_SETTING}: false); set it to true to let it read the Secrets of {}",
                self.namespaces
            ));
        }
        if self.namespaces.contains(&r.namespace) {
            return None;
        }
        let reads = match &self.namespaces {
            ConfigNamespaces::Only(set) if set.is_empty() => {
                "scrapepath is set to read no scrape configurations".to_string()
            }
            other => format!("scrapepath reads scrape configurations only in {other}"),
        };
        Some(format!(
            "{r} is not read: {reads} ({NAMESPACES_SETTING}); add {} to it (which grants the operator list and watch on {} there), or move the configuration into one of those namespaces",
            r.namespace,
            plural(r.kind),
        ))
    }
}

/// The resource name of a configuration kind.
fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Secret => "secrets",
        _ => "configmaps",
    }
}

/// The `ConfigUnreadable` message of a read the API server refused (403): the operator was configured
/// to read `r`, but its identity is not granted it.
pub fn forbidden(r: &ObjRef, status: &str) -> String {
    format!(
        "{r} cannot be read: the API server refused it (403 Forbidden: {status}); the operator's ServiceAccount needs list and watch on {} in namespace {} — with the Helm chart, scrapeConfigs.namespaces must hold {}{} (`scrapepath rbac` prints the roles); retried every {} s",
        plural(r.kind),
        r.namespace,
        r.namespace,
        if r.kind == Kind::Secret {
            " and scrapeConfigs.secrets be true"
        } else {
            ""
        },
        FORBIDDEN_RETRY.as_secs(),
    )
}

/// How long a refused read waits before it is tried again (permissions change rarely; a retry picks up
/// a grant without a restart).
pub const FORBIDDEN_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_list_reads_star_names_and_nothing() {
        assert_eq!(
            ConfigNamespaces::from_list(&["*"]).unwrap(),
            ConfigNamespaces::All
        );
        assert_eq!(
            ConfigNamespaces::from_list(&["monitoring", " team-a", ""]).unwrap(),
            ConfigNamespaces::Only(["monitoring".to_string(), "team-a".to_string()].into())
        );
        // An empty list, or the empty string an empty Helm list renders: none.
        assert_eq!(
            ConfigNamespaces::from_list::<&str>(&[]).unwrap(),
            ConfigNamespaces::Only(BTreeSet::new())
        );
        assert_eq!(
            ConfigNamespaces::from_list(&[""]).unwrap(),
            ConfigNamespaces::Only(BTreeSet::new())
        );
        let err = ConfigNamespaces::from_list(&["*", "monitoring"]).unwrap_err();
        assert!(
            err.contains("stands alone") && err.contains("--config-namespaces"),
            "{err}"
        );
        let err = ConfigNamespaces::from_list(&["Team_A"]).unwrap_err();
        assert!(err.contains("\"Team_A\" is not a namespace name"), "{err}");
        assert!(check_namespace_value("-a").is_err());
        assert_eq!(check_namespace_value("").unwrap(), "");
        assert_eq!(check_namespace_value("*").unwrap(), "*");
    }

    #[test]
    fn a_configuration_outside_the_setting_is_refused_naming_it_and_the_setting() {
        let access = ConfigAccess::default();
        let inside = ObjRef::new(Kind::Secret, "monitoring", "additional-scrape-configs");
        assert_eq!(access.refusal(&inside), None);
        let outside = ObjRef::new(Kind::ConfigMap, "cilium-monitoring", "prometheus");
        let msg = access.refusal(&outside).unwrap();
        assert!(
            msg.starts_with("ConfigMap cilium-monitoring/prometheus is not read: scrapepath reads scrape configurations only in namespace monitoring"),
            "{msg}"
        );
        assert!(msg.contains("SCRAPEPATH_CONFIG_NAMESPACES"), "{msg}");
        assert!(msg.contains("scrapeConfigs.namespaces"), "{msg}");
        assert!(msg.contains("add cilium-monitoring to it"), "{msg}");

        let no_secrets = ConfigAccess {
            secrets: false,
            ..ConfigAccess::default()
        };
        assert_eq!(
            no_secrets.refusal(&ObjRef::new(Kind::ConfigMap, "monitoring", "p")),
            None
        );
        let msg = no_secrets.refusal(&inside).unwrap();
        assert!(
            msg.starts_with("Secret monitoring/additional-scrape-configs is not read: scrapepath is set to read no Secrets"),
            "{msg}"
        );
        assert!(msg.contains("scrapeConfigs.secrets"), "{msg}");

        let none = ConfigAccess {
            namespaces: ConfigNamespaces::Only(BTreeSet::new()),
            secrets: true,
        };
        let msg = none.refusal(&inside).unwrap();
        assert!(
            msg.contains("is not read: scrapepath is set to read no scrape configurations"),
            "{msg}"
        );
        let two = ConfigAccess {
            namespaces: ConfigNamespaces::from_list(&["a", "b"]).unwrap(),
            secrets: true,
        };
        let msg = two.refusal(&outside).unwrap();
        assert!(msg.contains("only in namespaces a, b"), "{msg}");
        assert_eq!(ConfigAccess::everything().refusal(&outside), None);
    }

    #[test]
    fn a_forbidden_read_names_the_grant_it_needs() {
        let msg = forbidden(
            &ObjRef::new(Kind::Secret, "team-x", "cfg"),
            "secrets is forbidden",
        );
        assert!(msg.starts_with("Secret team-x/cfg cannot be read: the API server refused it (403 Forbidden: secrets is forbidden)"), "{msg}");
        assert!(
            msg.contains("list and watch on secrets in namespace team-x"),
            "{msg}"
        );
    }
}
