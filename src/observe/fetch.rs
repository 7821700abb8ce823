//! The I/O edge of observed health: one bounded read of a Prometheus's `/api/v1/targets`, either straight
//! from its URL or through the API server's service proxy, turned into an [`Observation`] — never an
//! error: whatever goes wrong (connection, timeout, HTTP status, size, JSON) becomes
//! [`Observation::Unreachable`] with a message that says what.
//!
//! HTTP: hyper-util's client with hyper-rustls (native roots) for `https` — both already in the
//! dependency tree through kube, so this adds no crate to the build. The service proxy goes through the
//! kube client, with its credentials.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use kube::Client;

use super::{parse_targets, Observation};

/// The most a targets response may weigh. With `state=any`, the dropped targets of a large cluster can
/// run to tens of megabytes; past this, the active targets alone are read.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// How a Prometheus API is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// A base URL (`http://prometheus-operated.monitoring.svc:9090`, possibly with a path prefix).
    Url(String),
    /// The API server's proxy to a Service port: `/api/v1/namespaces/<ns>/services/<name>:<port>/proxy`.
    ServiceProxy {
        namespace: String,
        service: String,
        port: String,
    },
    /// The API server's proxy to one pod's port: `/api/v1/namespaces/<ns>/pods/<pod>:<port>/proxy`
    /// (one shard of a sharded Prometheus).
    PodProxy {
        namespace: String,
        pod: String,
        port: u16,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Url(u) => write!(f, "{}", u.trim_end_matches('/')),
            Endpoint::ServiceProxy {
                namespace,
                service,
                port,
            } => write!(
                f,
                "service {namespace}/{service}:{port} (through the API server's proxy)"
            ),
            Endpoint::PodProxy {
                namespace,
                pod,
                port,
            } => write!(
                f,
                "pod {namespace}/{pod}:{port} (through the API server's proxy)"
            ),
        }
    }
}

impl Endpoint {
    /// The governing Service prometheus-operator creates for every Prometheus in a namespace
    /// (`prometheus-operated`, port `web`), reached through the API server's proxy.
    pub fn operated_proxy(namespace: &str, agent: bool) -> Endpoint {
        Endpoint::ServiceProxy {
            namespace: namespace.to_string(),
            service: operated_service(agent).to_string(),
            port: "web".into(),
        }
    }

    /// One pod of a Prometheus by its DNS name under the governing Service (a StatefulSet's pods are
    /// `<pod>.<service>.<ns>.svc`).
    pub fn pod_url(namespace: &str, pod: &str, agent: bool) -> Endpoint {
        Endpoint::Url(format!(
            "http://{pod}.{}.{namespace}.svc:9090",
            operated_service(agent)
        ))
    }

    /// One pod of a Prometheus through the API server's proxy (`get pods/proxy`).
    pub fn pod_proxy(namespace: &str, pod: &str) -> Endpoint {
        Endpoint::PodProxy {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            port: 9090,
        }
    }

    /// The same Service by its cluster DNS name (for a process running in the cluster).
    pub fn operated_url(namespace: &str, agent: bool) -> Endpoint {
        Endpoint::Url(format!(
            "http://{}.{namespace}.svc:9090",
            operated_service(agent)
        ))
    }
}

fn operated_service(agent: bool) -> &'static str {
    if agent {
        "prometheus-agent-operated"
    } else {
        "prometheus-operated"
    }
}

/// A reader of Prometheus APIs: the HTTP client (built once, reused by every poll), and the kube client
/// for the service proxy.
#[derive(Clone)]
pub struct Fetcher {
    http: HttpClient,
    kube: Option<Client>,
    timeout: Duration,
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

impl Fetcher {
    /// `kube`: for [`Endpoint::ServiceProxy`]; `timeout`: the whole request, body included.
    pub fn new(kube: Option<Client>, timeout: Duration) -> Fetcher {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        // Native roots for https Prometheus URLs; a machine without a CA bundle can still read http ones.
        let tls = match rustls_native_roots() {
            Ok(cfg) => cfg,
            Err(e) => {
                tracing::warn!(error = %e, "no CA certificates found: https Prometheus URLs will fail to verify");
                empty_roots()
            }
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(connector);
        Fetcher {
            http: client,
            kube,
            timeout,
        }
    }

    /// Reads the targets once: `state=any` (dropped targets explain "not discovered"), falling back to
    /// the active targets alone when the full answer is too large.
    pub async fn targets(&self, endpoint: &Endpoint) -> Observation {
        let source = endpoint.to_string();
        let result = match self.get(endpoint, "/api/v1/targets?state=any").await {
            Err(Failure::TooLarge) => self
                .get(endpoint, "/api/v1/targets?state=active")
                .await
                .map(|b| (b, true)),
            other => other.map(|b| (b, false)),
        };
        match result {
            Ok((body, active_only)) => match parse_targets(&body) {
                Ok(targets) => {
                    if active_only {
                        tracing::debug!(%source, "targets with dropped ones exceed {MAX_BODY} bytes: read the active ones only");
                    }
                    Observation::Targets {
                        source,
                        targets: targets.into(),
                    }
                }
                Err(e) => Observation::Unreachable {
                    source,
                    error: e.to_string(),
                },
            },
            Err(e) => Observation::Unreachable {
                source,
                error: e.to_string(),
            },
        }
    }

    async fn get(&self, endpoint: &Endpoint, path_and_query: &str) -> Result<Bytes, Failure> {
        let work = async {
            match endpoint {
                Endpoint::Url(base) => {
                    let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
                    let uri: http::Uri = url
                        .parse()
                        .map_err(|e| Failure::Other(format!("{url:?} is not a URL: {e}")))?;
                    let req = http::Request::get(uri)
                        .header(http::header::ACCEPT, "application/json")
                        .body(Empty::<Bytes>::new())
                        .map_err(|e| Failure::Other(e.to_string()))?;
                    let resp = self
                        .http
                        .request(req)
                        .await
                        .map_err(|e| Failure::Other(format!("GET {url}: {}", chain(&e))))?;
                    read(resp, &url).await
                }
                Endpoint::ServiceProxy { .. } | Endpoint::PodProxy { .. } => {
                    let Some(kube) = &self.kube else {
                        return Err(Failure::Other(
                            "no Kubernetes client to reach the API server's proxy".into(),
                        ));
                    };
                    let url = match endpoint {
                        Endpoint::ServiceProxy {
                            namespace,
                            service,
                            port,
                        } => format!(
                            "/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy{path_and_query}"
                        ),
                        Endpoint::PodProxy {
                            namespace,
                            pod,
                            port,
                        } => format!(
                            "/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path_and_query}"
                        ),
                        Endpoint::Url(_) => unreachable!("matched above"),
                    };
                    let req = http::Request::get(url.as_str())
                        .header(http::header::ACCEPT, "application/json")
                        .body(kube::client::Body::empty())
                        .map_err(|e| Failure::Other(e.to_string()))?;
                    let resp = kube
                        .send(req)
                        .await
                        .map_err(|e| Failure::Other(format!("GET {url}: {e}")))?;
                    read(resp, &url).await
                }
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Other(format!(
                "no answer within {:?} from {endpoint}",
                self.timeout
            ))),
        }
    }
}

/// Reads every endpoint once, concurrently (each read bounded by the fetcher's timeout): what
/// `scrapepath audit` observes.
pub async fn observe_once(
    fetcher: &Fetcher,
    endpoints: &[(super::plan::ObservationKey, Endpoint)],
) -> super::Observed {
    let reads = endpoints
        .iter()
        .map(|(key, ep)| async move { (key.clone(), fetcher.targets(ep).await) });
    let mut observed = super::Observed::default();
    for (key, obs) in futures::future::join_all(reads).await {
        observed.set(&key, Some(obs));
    }
    observed
}

fn rustls_native_roots() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(found
            .errors
            .first()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "the system has no CA certificates".into()));
    }
    Ok(client_config(roots))
}

fn empty_roots() -> rustls::ClientConfig {
    client_config(rustls::RootCertStore::empty())
}

fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}

#[derive(Debug)]
enum Failure {
    TooLarge,
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::TooLarge => write!(f, "the response exceeds {MAX_BODY} bytes"),
            Failure::Other(s) => f.write_str(s),
        }
    }
}

/// Reads a response body up to [`MAX_BODY`]; a status other than 200 is a failure that quotes the
/// start of the body (Prometheus and proxies say why there).
async fn read<B>(resp: http::Response<B>, url: &str) -> Result<Bytes, Failure>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Display + Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Failure::TooLarge
            } else {
                Failure::Other(format!("GET {url}: reading the body: {e}"))
            }
        })?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_string();
        return Err(Failure::Other(format!("GET {url}: HTTP {status}: {text}")));
    }
    Ok(body)
}

/// An error with its causes, as one line (hyper's top-level message alone says only "client error").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}
