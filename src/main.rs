//! The `scrapepath` command line: `check` (offline), `audit` (live, read-only), `run` (the controller),
//! `crd`, `rbac`.
// One exception, `keep_freed_pages` (an allocator option through FFI); the library forbids unsafe code.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use scrapepath::api::Mode;
use scrapepath::cilium::Version;
use scrapepath::engine::{evaluate_observed, EngineConfig, PolicyBackend};
use scrapepath::load::{load_index_with, LoadError};
use scrapepath::observe::fetch::{observe_once, Fetcher};
use scrapepath::observe::plan::{parse_duration, Derive, ObserveSettings, UrlSetting};
use scrapepath::observe::{parse_targets, Observation, Observed};
use scrapepath::report::{write_with, Format};

#[derive(Parser)]
#[command(
    name = "scrapepath",
    version,
    about = "Makes sure Prometheus can actually scrape what app teams ask it to scrape"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Diagnose manifests offline: every ScrapeIntent and every PodMonitor/ServiceMonitor.
    /// Exit code 0: all subjects Ready; 1: some are not; 2: bad input.
    Check {
        /// Files or directories of YAML manifests (multi-document, `kind: List` accepted); `-` reads
        /// standard input (`helm template ... | scrapepath check -f -`), named `<stdin>` in messages.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Read directories recursively.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// The namespace of objects that name none (as `kubectl apply -n`; default: `default`). Like
        /// kubectl, an object that names another namespace is then refused.
        #[arg(short = 'n', long, value_name = "NS")]
        namespace: Option<String>,
        /// The Istio release whose sidecar injection is modelled for workloads (`1.27`); default: the
        /// `istio-sidecar-injector` ConfigMap's, else istiod's image tag, else the newest modelled.
        #[arg(long, value_name = "VERSION", value_parser = parse_istio_version)]
        istio_version: Option<(u32, u32)>,
        /// Output format (`github`: GitHub Actions annotations, with --baseline).
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: scrapepath::gate::Output,
        #[command(flatten)]
        platform: Platform,
        /// A saved response of a Prometheus's `/api/v1/targets` (e.g. `curl
        /// 'http://prometheus:9090/api/v1/targets?state=any'`): the `Scraped` condition is derived from
        /// it, for every scraper.
        #[arg(long, value_name = "FILE")]
        targets_json: Option<PathBuf>,
        /// Text output: every layer's full reasoning and every target, not only the causes.
        #[arg(short = 'v', long)]
        verbose: bool,
        /// The CI gate: the base revision's manifests (files or directories, read like -f and with the
        /// same settings). Reports what the change breaks, fixes, and leaves failing; exit code 0: nothing
        /// broken, 1: the change breaks something, 2: bad input.
        #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "targets_json")]
        baseline: Vec<PathBuf>,
        /// With --baseline: also write JUnit XML there (a testcase per subject; breakage fails it).
        #[arg(long, value_name = "FILE", requires = "baseline")]
        junit: Option<PathBuf>,
    },
    /// Diagnose a live cluster (kubeconfig or in-cluster), read-only: prints what `check` prints.
    Audit {
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: Format,
        #[command(flatten)]
        platform: Platform,
        #[command(flatten)]
        observe: Observe,
        /// Text output: every layer's full reasoning and every target, not only the causes.
        #[arg(short = 'v', long)]
        verbose: bool,
    },
    /// Run the controller: reconcile ScrapeIntents, audit monitors (kubeconfig or in-cluster).
    Run {
        #[command(flatten)]
        platform: Platform,
        /// Whether Enforce is allowed at all; when false, Enforce intents are treated as Report.
        #[arg(long, env = "SCRAPEPATH_ALLOW_ENFORCE", default_value_t = true, action = clap::ArgAction::Set)]
        allow_enforce: bool,
        /// Reconcile intents (and audit monitors) only in these namespaces (comma-separated); default: all.
        /// The world (pods, policies, scrapers) is still read cluster-wide: verdicts depend on it.
        #[arg(long, env = "SCRAPEPATH_NAMESPACES", value_delimiter = ',')]
        namespaces: Vec<String>,
        /// Parallel reconciles.
        #[arg(long, env = "SCRAPEPATH_CONCURRENCY", default_value_t = 4)]
        concurrency: u16,
        #[command(flatten)]
        observe: Observe,
        /// Between two reads of a Prometheus targets API while it answers (`30s`, `1m`); while it does
        /// not, the wait doubles up to `--prometheus-max-backoff`.
        #[arg(long, env = "SCRAPEPATH_PROMETHEUS_POLL_INTERVAL", default_value = "30s", value_parser = parse_duration)]
        prometheus_poll_interval: std::time::Duration,
        /// The longest wait between two reads of a Prometheus targets API that does not answer.
        #[arg(long, env = "SCRAPEPATH_PROMETHEUS_MAX_BACKOFF", default_value = "5m", value_parser = parse_duration)]
        prometheus_max_backoff: std::time::Duration,
        #[command(flatten)]
        configs: ConfigReads,
        #[command(flatten)]
        rbac_reads: RbacReads,
        /// Log format.
        #[arg(
            long,
            env = "SCRAPEPATH_LOG_FORMAT",
            value_enum,
            default_value = "text"
        )]
        log_format: LogFormat,
        /// Address of the `/metrics` endpoint ("off": not served).
        #[arg(long, env = "SCRAPEPATH_METRICS_BIND_ADDRESS", default_value = "0.0.0.0:8080", value_parser = parse_bind)]
        metrics_bind_address: Bind,
        /// Address of the `/healthz` and `/readyz` endpoints ("off": not served).
        #[arg(long, env = "SCRAPEPATH_HEALTH_PROBE_BIND_ADDRESS", default_value = "0.0.0.0:8081", value_parser = parse_bind)]
        health_probe_bind_address: Bind,
        /// Compete for a coordination.k8s.io Lease and write only while holding it (for 2+ replicas).
        #[arg(long, env = "SCRAPEPATH_LEADER_ELECT", default_value_t = false, action = clap::ArgAction::Set)]
        leader_elect: bool,
        /// Namespace of the Lease; default: the namespace of the kubeconfig context or the pod.
        #[arg(long, env = "SCRAPEPATH_LEADER_ELECTION_NAMESPACE")]
        leader_election_namespace: Option<String>,
        /// Name of the Lease.
        #[arg(
            long,
            env = "SCRAPEPATH_LEADER_ELECTION_ID",
            default_value = "scrapepath"
        )]
        leader_election_id: String,
    },
    /// Print the ScrapeIntent CustomResourceDefinition.
    Crd,
    /// Print the ClusterRole, Roles and bindings `run` needs (the Helm chart grants exactly these).
    Rbac {
        /// The namespaces `run` reconciles (its --namespaces); default: every namespace.
        #[arg(long, value_delimiter = ',')]
        namespaces: Vec<String>,
        /// The lease of leader election, when `run` elects a leader.
        #[arg(long)]
        leader_election_id: Option<String>,
        /// Whether `run` may Enforce (its --allow-enforce); without, it writes only statuses and Events.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        allow_enforce: bool,
        #[command(flatten)]
        configs: ConfigReads,
        #[command(flatten)]
        rbac_reads: RbacReads,
        /// The namespace the operator runs in (its ServiceAccount's).
        #[arg(long, default_value = "scrapepath")]
        namespace: String,
        /// The name of the ServiceAccount, and of the roles (with suffixes).
        #[arg(long, default_value = "scrapepath")]
        name: String,
    },
}

/// Where the scrapers' `/api/v1/targets` are read (the `Scraped` condition).
#[derive(clap::Args, Clone)]
struct Observe {
    /// Prometheus API base URLs, comma-separated: `URL` serves every scraper without an entry of its
    /// own; `NAMESPACE/NAME=URL` serves the Prometheus (or PrometheusAgent) NAMESPACE/NAME; `off` reads
    /// none. Default: each Prometheus's `prometheus-operated` Service — by cluster DNS when running in a
    /// cluster, else through the API server's service proxy.
    #[arg(long, env = "SCRAPEPATH_PROMETHEUS_URL", value_delimiter = ',', value_parser = UrlSetting::parse)]
    prometheus_url: Vec<UrlSetting>,
    /// The most one read of a targets API may take, body included (`10s`).
    #[arg(long, env = "SCRAPEPATH_PROMETHEUS_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    prometheus_timeout: std::time::Duration,
}

impl Observe {
    fn settings(&self) -> ObserveSettings {
        // In a pod, cluster DNS reaches the Service directly (no extra RBAC); elsewhere only the API
        // server's proxy does.
        let derive = if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            Derive::ClusterDns
        } else {
            Derive::ServiceProxy
        };
        let mut s = ObserveSettings::new(self.prometheus_url.clone(), derive);
        s.timeout = self.prometheus_timeout;
        s
    }
}

/// Where `run` reads the scrapers' configurations (the ConfigMaps and Secrets behind a Prometheus
/// pod's --config.file or a Prometheus object's additionalScrapeConfigs); `rbac` grants exactly that.
#[derive(clap::Args, Clone)]
struct ConfigReads {
    /// Namespaces whose referenced ConfigMaps and Secrets may be read, comma-separated; "*": every
    /// namespace (RBAC on them cluster-wide); "": none. A configuration elsewhere is never read: its
    /// intents say ConfigUnreadable, naming it and this setting.
    #[arg(
        long,
        env = "SCRAPEPATH_CONFIG_NAMESPACES",
        value_delimiter = ',',
        default_value = scrapepath::config_access::DEFAULT_NAMESPACE,
        value_parser = scrapepath::config_access::check_namespace_value
    )]
    config_namespaces: Vec<String>,
    /// Whether referenced Secrets are read at all (in those namespaces); ConfigMaps always are.
    #[arg(long, env = "SCRAPEPATH_READ_SECRETS", default_value_t = true, action = clap::ArgAction::Set)]
    read_secrets: bool,
    /// Namespaces whose prometheus-operator StatefulSets and Warning Events are read, comma-separated,
    /// for ScraperNotReady to quote why a scraper's pods are missing or not Ready; "*": every namespace
    /// (RBAC on them cluster-wide); "": none.
    #[arg(
        long,
        env = "SCRAPEPATH_SCRAPER_STATUS_NAMESPACES",
        value_delimiter = ',',
        default_value = scrapepath::config_access::DEFAULT_NAMESPACE,
        value_parser = scrapepath::config_access::check_namespace_value
    )]
    scraper_status_namespaces: Vec<String>,
}

impl ConfigReads {
    /// The setting; a bad one is reported and gives the exit code of bad input.
    fn access(&self) -> Result<scrapepath::config_access::ConfigAccess, ExitCode> {
        let namespaces =
            scrapepath::config_access::ConfigNamespaces::from_list(&self.config_namespaces)
                .map_err(|e| {
                    eprintln!("scrapepath: {e}");
                    ExitCode::from(2)
                })?;
        Ok(scrapepath::config_access::ConfigAccess {
            namespaces,
            secrets: self.read_secrets,
        })
    }

    /// Where the scrapers' StatefulSets and Events are read; a bad setting gives the exit code of bad
    /// input.
    fn scraper_status(&self) -> Result<scrapepath::config_access::ConfigNamespaces, ExitCode> {
        scrapepath::config_access::ConfigNamespaces::from_list(&self.scraper_status_namespaces)
            .map_err(|e| {
                eprintln!(
                    "scrapepath: {}",
                    e.replace(
                        "scrape configuration namespaces",
                        "scraper status namespaces"
                    )
                    .replace(
                        scrapepath::config_access::NAMESPACES_SETTING,
                        scrapepath::config_access::STATUS_NAMESPACES_SETTING
                    )
                );
                ExitCode::from(2)
            })
    }
}

/// Whether `run` reads Roles, ClusterRoles and their bindings (the `DiscoveryPermitted` layer); `rbac`
/// grants the reads with it.
#[derive(clap::Args, Clone)]
struct RbacReads {
    /// Watch Roles, ClusterRoles, RoleBindings and ClusterRoleBindings cluster-wide, to decide whether
    /// each scraper's ServiceAccount may discover its targets; without, DiscoveryPermitted is Unknown.
    #[arg(long, env = "SCRAPEPATH_READ_RBAC", default_value_t = false, action = clap::ArgAction::Set)]
    read_rbac: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Platform settings shared by every command that analyses.
#[derive(clap::Args, Clone)]
struct Platform {
    /// Cilium version whose behaviour to apply (e.g. 1.16); default: the `cilium` DaemonSet image tag in
    /// the input, else the newest behaviour.
    #[arg(long, env = "SCRAPEPATH_CILIUM_VERSION", value_parser = parse_version)]
    cilium_version: Option<Version>,
    /// The default scraper for intents that name none: NAMESPACE/NAME of a Prometheus.
    #[arg(long, env = "SCRAPEPATH_DEFAULT_SCRAPER", value_parser = parse_ns_name)]
    default_scraper: Option<(String, String)>,
    /// The mode of intents that set none.
    #[arg(long, env = "SCRAPEPATH_DEFAULT_MODE", value_parser = parse_mode)]
    default_mode: Option<Mode>,
    /// Which network policy kind remedies use.
    #[arg(
        long,
        env = "SCRAPEPATH_POLICY_BACKEND",
        value_enum,
        default_value = "auto"
    )]
    policy_backend: PolicyBackend,
    /// prometheus-operator's `--feature-gates` as the operator runs with them (e.g.
    /// `PrometheusTopologySharding=true`): topology sharding applies only with that gate on.
    #[arg(
        long,
        env = "SCRAPEPATH_PROMETHEUS_OPERATOR_FEATURE_GATES",
        value_parser = parse_feature_gates,
        default_value = ""
    )]
    prometheus_operator_feature_gates: FeatureGates,
}

impl Platform {
    fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            cilium_version: self.cilium_version,
            default_scraper: self.default_scraper.clone(),
            default_mode: self.default_mode.clone(),
            policy_backend: self.policy_backend,
            operator_topology_sharding: self
                .prometheus_operator_feature_gates
                .enabled("PrometheusTopologySharding"),
        }
    }
}

/// Feature gates as `Name=true|false,…` (prometheus-operator's `--feature-gates` syntax).
#[derive(Debug, Clone, Default)]
struct FeatureGates(Vec<(String, bool)>);

impl FeatureGates {
    fn enabled(&self, name: &str) -> bool {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, on)| *on)
    }
}

fn parse_feature_gates(s: &str) -> Result<FeatureGates, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not NAME=true or NAME=false"))?;
        let on = match value.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            v => return Err(format!("{name}: {v:?} is neither true nor false")),
        };
        if name.trim().is_empty() || !name.trim().chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{name:?} is not a feature gate name"));
        }
        out.push((name.trim().to_string(), on));
    }
    Ok(FeatureGates(out))
}

/// A listen address, or none ("off").
#[derive(Debug, Clone, Copy)]
struct Bind(Option<std::net::SocketAddr>);

fn parse_bind(s: &str) -> Result<Bind, String> {
    if s.eq_ignore_ascii_case("off") || s.is_empty() {
        return Ok(Bind(None));
    }
    // ":8080" as controller-runtime writes it: every interface.
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .map(|a| Bind(Some(a)))
        .map_err(|_| format!("{s:?} is not an address like 0.0.0.0:8080 (or \"off\")"))
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).ok_or_else(|| format!("{s:?} is not a Cilium version like 1.18"))
}

fn parse_ns_name(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, n)) if !ns.is_empty() && !n.is_empty() => Ok((ns.to_string(), n.to_string())),
        _ => Err(format!("{s:?} is not NAMESPACE/NAME")),
    }
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "Enforce" => Ok(Mode::Enforce),
        "Report" => Ok(Mode::Report),
        _ => Err(format!("{s:?} is not Enforce or Report")),
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCRAPEPATH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Writes the report to standard output as it is rendered; a write that fails (a closed pipe) is said
/// on standard error and exits 2.
fn print_report(
    report: &scrapepath::engine::Report,
    output: Format,
    verbose: bool,
) -> Result<(), ExitCode> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    write_with(report, output, verbose, &mut out)
        .and_then(|()| out.flush())
        .map_err(|e| {
            eprintln!("scrapepath: cannot write the report to standard output: {e}");
            ExitCode::from(2)
        })
}

/// mimalloc instead of glibc's malloc: `check` and the index allocate many small strings and maps,
/// where glibc spent a quarter of `check`'s time in malloc/free and kept freed YAML trees as
/// fragmented arenas (see the README's scale section for the numbers).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (mimalloc.h, `mi_option_e`: the 16th option of mimalloc 3; the test below
/// checks it and a neighbour by their defaults in mimalloc 3's `options.c`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// For a run of `check`, which lives seconds and frees YAML trees as fast as it reads them: mimalloc
/// otherwise hands freed pages back to the OS after its purge delay (1 s) and takes them again soon
/// after, and the kernel zeroes each (transparent huge) page it gives back — 8,900 page faults and a
/// tenth of `check`'s CPU time on the dense shape (README, "Offline `check` at scale"), 650 without.
/// Peak memory does not grow (freed memory is reused, not added to). The operator keeps the default:
/// it lives for months and should give memory back after a spike.
#[allow(unsafe_code)]
fn keep_freed_pages() {
    // SAFETY: an FFI call with no pointer argument; mimalloc stores the value, read at its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Audit {
            output,
            platform,
            observe,
            verbose,
        } => runtime().block_on(async move {
            let client = match kube::Client::try_default().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("scrapepath: cannot connect to the cluster: {e}");
                    return ExitCode::from(2);
                }
            };
            let (index, notes) = match scrapepath::live::read_cluster(&client).await {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("scrapepath: cannot read the cluster: {e}");
                    return ExitCode::from(2);
                }
            };
            if !notes.not_installed.is_empty() {
                eprintln!(
                    "scrapepath: not installed (their kinds are absent from the analysis): {}",
                    notes.not_installed.join(", ")
                );
            }
            for e in &notes.unreadable {
                eprintln!("scrapepath: left out, unreadable: {e}");
            }
            let observe = observe.settings();
            let observed = if observe.enabled() {
                let fetcher = Fetcher::new(Some(client.clone()), observe.timeout);
                let endpoints = scrapepath::observe::plan::endpoints(&observe, &index);
                let observed = observe_once(&fetcher, &endpoints).await;
                for obs in observed.all() {
                    if let Observation::Unreachable { source, error } = obs {
                        eprintln!("scrapepath: cannot read the targets of {source}: {error}");
                    }
                }
                Some(observed)
            } else {
                None
            };
            let report = evaluate_observed(&index, &platform.engine_config(), observed.as_ref());
            drop(index);
            if let Err(code) = print_report(&report, output, verbose) {
                return code;
            }
            if report.subjects.iter().all(|s| s.ready) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }),
        Command::Run {
            platform,
            allow_enforce,
            namespaces,
            concurrency,
            observe,
            prometheus_poll_interval,
            prometheus_max_backoff,
            configs,
            rbac_reads,
            log_format,
            metrics_bind_address,
            health_probe_bind_address,
            leader_elect,
            leader_election_namespace,
            leader_election_id,
        } => {
            let scraper_status = match configs.scraper_status() {
                Ok(s) => s,
                Err(code) => return code,
            };
            let configs = match configs.access() {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logs(log_format);
            runtime().block_on(async move {
                let client = match kube::Client::try_default().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot connect to the cluster");
                        return ExitCode::from(2);
                    }
                };
                let instance = std::env::var("POD_NAME")
                    .or_else(|_| std::env::var("HOSTNAME"))
                    .unwrap_or_else(|_| "scrapepath".into());
                let leader_election = leader_elect.then(|| {
                    let ns = leader_election_namespace
                        .clone()
                        .unwrap_or_else(|| client.default_namespace().to_string());
                    scrapepath::controller::leader::LeaderElection::new(
                        &ns,
                        &leader_election_id,
                        &instance,
                    )
                });
                let settings = scrapepath::controller::Settings {
                    engine: platform.engine_config(),
                    allow_enforce,
                    namespaces: namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
                    concurrency: concurrency.max(1),
                    instance,
                    leader_election,
                    metrics_addr: metrics_bind_address.0,
                    health_addr: health_probe_bind_address.0,
                    observe: {
                        let mut s = observe.settings();
                        s.poll_interval = prometheus_poll_interval;
                        s.max_backoff = prometheus_max_backoff;
                        s.enabled().then_some(s)
                    },
                    configs,
                    read_rbac: rbac_reads.read_rbac,
                    scraper_status,
                };
                tracing::info!(
                    allow_enforce = settings.allow_enforce,
                    read_rbac = settings.read_rbac,
                    namespaces = ?settings.namespaces,
                    leader_election = ?settings.leader_election.as_ref().map(|l| format!("{}/{}", l.namespace, l.lease)),
                    config_namespaces = %settings.configs.namespaces,
                    read_secrets = settings.configs.secrets,
                    scraper_status_namespaces = %settings.scraper_status,
                    "scrapepath controller starting"
                );
                match scrapepath::controller::run_until_signal(client, settings).await {
                    Ok(()) => {
                        tracing::info!("scrapepath controller stopped");
                        ExitCode::SUCCESS
                    }
                    Err(_) => ExitCode::from(2),
                }
            })
        }
        Command::Rbac {
            namespaces,
            leader_election_id,
            allow_enforce,
            configs,
            rbac_reads,
            namespace,
            name,
        } => {
            let scraper_status = match configs.scraper_status() {
                Ok(s) => s,
                Err(code) => return code,
            };
            let configs = match configs.access() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let config = scrapepath::rbac::RbacConfig {
                namespaces: namespaces.into_iter().filter(|n| !n.is_empty()).collect(),
                leader_election: leader_election_id,
                allow_enforce,
                configs,
                read_rbac: rbac_reads.read_rbac,
                scraper_status,
            };
            let mut out = String::new();
            for doc in scrapepath::rbac::manifests(&config, &namespace, &name) {
                match serde_yaml_ng::to_string(&doc) {
                    Ok(text) => out.push_str(&format!("---\n{text}")),
                    Err(e) => {
                        eprintln!("scrapepath: cannot print the RBAC manifests: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            use std::io::Write as _;
            match std::io::stdout().write_all(out.as_bytes()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("scrapepath: cannot write the RBAC manifests: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Crd => {
            print!("{}", scrapepath::api::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Check {
            paths,
            recursive,
            namespace,
            istio_version,
            output: gate_output,
            platform,
            targets_json,
            verbose,
            baseline,
            junit,
        } => {
            let output = match gate_output.report_format() {
                Some(f) => f,
                None if !baseline.is_empty() => Format::Text,
                None => {
                    eprintln!(
                        "scrapepath: -o github annotates what a change breaks: it needs --baseline"
                    );
                    return ExitCode::from(2);
                }
            };
            let observed = match targets_json.map(|f| read_targets_json(&f)).transpose() {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("scrapepath: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(ns) = &namespace {
                if let Err(e) = scrapepath::admission::names::dns1123_label(ns) {
                    eprintln!("scrapepath: --namespace {ns:?}: {e}");
                    return ExitCode::from(2);
                }
            }
            let settings = scrapepath::admission::Settings {
                explicit_namespace: namespace.is_some(),
                namespace: namespace.unwrap_or_else(|| "default".into()),
                cilium_version: platform.cilium_version,
                istio_version,
            };
            keep_freed_pages();
            let (index, stats) = match load_index_with(&paths, recursive, &settings) {
                Ok(v) => v,
                Err(e) => {
                    let problems = e.problems();
                    for p in &problems {
                        eprintln!("scrapepath: {p}");
                    }
                    if problems.len() > 1 || matches!(e, LoadError::Object { .. }) {
                        eprintln!(
                            "scrapepath: {} problem(s) in the input (objects the API server would refuse, or \
                             that are not Kubernetes objects): nothing was analysed",
                            problems.len()
                        );
                    }
                    return ExitCode::from(2);
                }
            };
            if !stats.unknown.is_empty() {
                let kinds: Vec<String> = stats
                    .unknown
                    .iter()
                    .map(|(k, n)| format!("{k} ({n})"))
                    .collect();
                eprintln!(
                    "scrapepath: skipped objects of kinds the analysis does not read: {}",
                    kinds.join(", ")
                );
            }
            for ((kind, ns, name), earlier) in &stats.redefined {
                let obj = if ns.is_empty() {
                    name.clone()
                } else {
                    format!("{ns}/{name}")
                };
                let last = &stats.origins[&(kind.clone(), ns.clone(), name.clone())];
                eprintln!(
                    "scrapepath: warning: {kind} {obj} is defined {} times ({}); the last one, {}, is the one analysed, \
                     as `kubectl apply -f` would leave it",
                    earlier.len() + 1,
                    earlier.iter().map(|o| o.describe()).collect::<Vec<_>>().join(", "),
                    last.describe()
                );
            }
            if !stats.modelled.modelled.is_empty() {
                let pods: usize = stats.modelled.modelled.values().sum();
                eprintln!(
                    "scrapepath: modelled {pods} pod(s) of {} workload(s) that have no Pod object in the input \
                     (targets of modelled pods name their workload)",
                    stats.modelled.modelled.len()
                );
            }
            for (w, why) in &stats.modelled.refused {
                eprintln!("scrapepath: {w}: no pod modelled: {why}");
            }
            let report = evaluate_observed(&index, &platform.engine_config(), observed.as_ref());
            if !baseline.is_empty() {
                let run = scrapepath::gate::Run {
                    baseline: &baseline,
                    head_paths: &paths,
                    recursive,
                    settings: &settings,
                    engine: &platform.engine_config(),
                    output: gate_output,
                    junit: junit.as_deref(),
                };
                let head = scrapepath::gate::Side::new(report, &index, &stats);
                return ExitCode::from(scrapepath::gate::run(&run, head));
            }
            // The report is all that is left to write: the index goes first.
            drop(index);
            drop(stats);
            if let Err(code) = print_report(&report, output, verbose) {
                return code;
            }
            if report.subjects.iter().all(|s| s.ready) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `--istio-version`: `1.27`, `1.27.3`, `v1.27.0-distroless`.
fn parse_istio_version(s: &str) -> Result<(u32, u32), String> {
    scrapepath::mesh::inject::parse_version(s)
        .ok_or_else(|| format!("{s:?} is not an Istio version (expected MAJOR.MINOR, e.g. 1.27)"))
}

/// A saved `/api/v1/targets` response, as the observation of every scraper.
fn read_targets_json(path: &std::path::Path) -> Result<Observed, String> {
    let body = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let targets = parse_targets(&body).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Observed {
        default: Some(Observation::Targets {
            source: path.display().to_string(),
            targets: targets.into(),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc's purge delay: it reads as mimalloc 3's default (1000 ms) until
    /// set, and option 18 as `os_tag`'s (100). A mimalloc release that renumbers its options fails
    /// here, not silently in `check`.
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_check_sets() {
        // SAFETY: FFI reads of an option, no pointer arguments.
        let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            default, 1000,
            "mi_option {MI_OPTION_PURGE_DELAY} is not purge_delay"
        );
        let os_tag = unsafe { libmimalloc_sys::mi_option_get(18) };
        assert_eq!(os_tag, 100, "mi_option 18 is not os_tag");
        keep_freed_pages();
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            -1
        );
    }
}
