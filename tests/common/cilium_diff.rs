//! The differential run against Cilium's own policy engine: random clusters (`cilium_gen`) are written
//! as YAML, read by scrapepath's loader (the one `check` uses) and by the oracle
//! (`tests/cilium-oracle/`, Cilium's `pkg/policy` of one release), and every flow's verdict and every
//! policy's acceptance must agree. Shared by `tests/cilium_oracle.rs` (CI size) and
//! `benches/cilium_differential.rs` (benchmark size).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::cilium_gen::{self, Cluster, Flow, Shape};
use super::rng::Rng;
use scrapepath::cilium::eval::{rejected_by_agent, Basis, Decision};
use scrapepath::cilium::policy::{cilium_extended_key, combinations};
use scrapepath::cilium::{decide_flow, NetVerdict, Version};
use serde_json::Value;

/// One oracle binary: the Cilium release it was built from and where it is.
#[derive(Debug, Clone)]
pub struct Oracle {
    /// `1_19` as printed by `ensure.sh` (`CILIUM_ORACLE_1_19=...`).
    pub minor: u16,
    pub bin: PathBuf,
}

impl Oracle {
    pub fn version(&self) -> Version {
        Version::new(1, self.minor)
    }
}

/// Builds (or finds in the cache) the oracle binaries of `tests/cilium-oracle/ensure.sh`. Panics with
/// the script's message when it fails (Go missing, proxy refusing): the test is never skipped.
///
/// `SCRAPEPATH_CILIUM_ORACLES=1_19=/path/bin,1_20=/other` names the binaries instead (a binary being
/// worked on; a subset of the minors).
pub fn oracles() -> Vec<Oracle> {
    if let Ok(list) = std::env::var("SCRAPEPATH_CILIUM_ORACLES") {
        return list
            .split(',')
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some(Oracle {
                    minor: k.trim().trim_start_matches("1_").parse().ok()?,
                    bin: PathBuf::from(v.trim()),
                })
            })
            .collect();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cilium-oracle/ensure.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}\n{}",
        script.display(),
        out.status,
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: Vec<Oracle> = stdout
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let minor = k.strip_prefix("CILIUM_ORACLE_1_")?.parse().ok()?;
            Some(Oracle {
                minor,
                bin: PathBuf::from(v),
            })
        })
        .collect();
    found.sort_by_key(|o| o.minor);
    assert!(
        !found.is_empty(),
        "{} printed no CILIUM_ORACLE_* line:\n{stdout}",
        script.display()
    );
    found
}

/// What an oracle binary answers (`tests/cilium-oracle/README.md`).
#[derive(Debug, Deserialize)]
pub struct OracleAnswer {
    /// The Cilium release (`v1.19.7`).
    #[serde(default)]
    pub cilium: String,
    #[serde(default)]
    pub policies: Vec<OraclePolicy>,
    #[serde(default)]
    pub flows: Vec<OracleFlow>,
}

impl OracleAnswer {
    /// The policies Cilium rejects, (kind, namespace, name), and why.
    pub fn rejected(&self) -> BTreeMap<(String, String, String), String> {
        self.policies
            .iter()
            .map(|p| {
                (
                    (p.kind.clone(), p.namespace.clone(), p.name.clone()),
                    p.error.clone(),
                )
            })
            .collect()
    }
}

/// A policy the agent rejects whole.
#[derive(Debug, Deserialize)]
pub struct OraclePolicy {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    pub error: String,
}

impl OraclePolicy {
    /// `Kind namespace/name`, or `Kind name` for a cluster-scoped policy.
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OracleFlow {
    pub src: String,
    pub dst: String,
    pub port: u16,
    #[serde(default)]
    pub verdict: String,
    #[serde(default)]
    pub audit: bool,
    #[serde(default)]
    pub l7: bool,
    #[serde(default)]
    pub not_endpoint: bool,
    /// The verdict at the source's egress toward the destination (`egressVerdict`).
    #[serde(default)]
    pub egress_verdict: String,
    #[serde(default)]
    pub egress_not_endpoint: bool,
    #[serde(default)]
    pub egress_rules: Vec<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub src_identity: Vec<String>,
    #[serde(default)]
    pub dst_identity: Vec<String>,
    /// For an address destination: what S's node makes of it (`host`, `remote-node`, `world`, with
    /// `+kube-apiserver`).
    #[serde(default)]
    pub dst_kind: String,
}

impl OracleFlow {
    /// Whether the datapath forwards it at L3/L4: the source's egress and the destination's ingress
    /// both allow it (each by policy, or as no endpoint), or audit mode.
    pub fn forwarded(&self) -> bool {
        self.audit || (self.ingress_forwarded() && self.egress_forwarded())
    }

    /// The destination's ingress alone.
    pub fn ingress_forwarded(&self) -> bool {
        self.not_endpoint || self.verdict == "Allowed"
    }

    /// The source's egress alone (an oracle without egress answers counts as allowing).
    pub fn egress_forwarded(&self) -> bool {
        self.egress_not_endpoint || matches!(self.egress_verdict.as_str(), "Allowed" | "")
    }
}

impl Oracle {
    /// Asks the oracle about the flows of `flows_file` in the cluster of `manifests`: its raw answer and
    /// the answer read, or why it refused the input.
    pub fn ask(
        &self,
        manifests: &Path,
        flows_file: &Path,
    ) -> Result<(Vec<u8>, OracleAnswer), String> {
        let out = Command::new(&self.bin)
            .arg("--manifests")
            .arg(manifests)
            .arg("--flows")
            .arg(flows_file)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.bin.display()));
        if !out.status.success() {
            return Err(format!(
                "the oracle refused the input ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let answer = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: unreadable oracle answer: {e}\n{}",
                self.bin.display(),
                String::from_utf8_lossy(&out.stdout)
            )
        });
        Ok((out.stdout, answer))
    }
}

/// One disagreement, with what it takes to replay it.
#[derive(Debug, Clone)]
pub struct Disagreement {
    pub seed: u64,
    pub dir: PathBuf,
    pub what: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cluster seed {:#x} ({}): {}",
            self.seed,
            self.dir.display(),
            self.what
        )
    }
}

/// What one run compared.
#[derive(Debug, Default)]
pub struct Report {
    pub clusters: usize,
    pub flows: usize,
    pub agreed: usize,
    pub policies: usize,
    /// Clusters the API server would refuse for this release's CRDs (scrapepath's admission, proven
    /// separately against the real API server): never seen by an agent, so not compared.
    pub refused: usize,
    /// Flows scrapepath calls ambiguous (a policy the agent reads at random decides them either way):
    /// not compared with the oracle's one random reading, but each reading is compared on its own
    /// (`readings`), and the claim that the readings differ is checked.
    pub ambiguous: usize,
    /// Clusters with ambiguous selectors, compared once per reading (`readings` of them in all).
    pub ambiguous_clusters: usize,
    pub readings: usize,
    /// Flows from a pod to itself: judged against the datapath's answer, not the oracle's ([`to_itself`]).
    pub to_itself: usize,
    /// Compared flows whose source's egress Cilium denies, and of those, the ones its destination's
    /// ingress allows (the egress alone decides them: `semantics/cilium-egress.md` E6).
    pub egress_denied: usize,
    pub egress_decides: usize,
    /// Compared flows to addresses no pod backs (E8), how many agree, and by what Cilium made of the
    /// address (`host`, `remote-node`, `world`, `+kube-apiserver`): (flows, denied by the egress).
    pub addresses: usize,
    pub addresses_agreed: usize,
    pub address_kinds: BTreeMap<String, (usize, usize)>,
    pub disagreements: Vec<Disagreement>,
    pub oracle_time: Duration,
    pub ours_time: Duration,
}

impl Report {
    pub fn summary(&self, o: &Oracle) -> String {
        format!(
            "Cilium 1.{}: {} clusters ({} refused by the release's CRDs, not compared; {} with selectors Cilium reads at random, compared in {} readings), {} flows, {} agree ({:.2}%; {} of them from a pod to itself, judged by the datapath's answer; the source's egress denies {}, {} of them where the destination's ingress allows; {} to addresses no pod backs, {} agree, by Cilium's identity of the address (flows/egress-denied): {}), {} ambiguous, {} policies, {} disagreements; oracle {:.1}s, scrapepath {:.2}s",
            o.minor,
            self.clusters,
            self.refused,
            self.ambiguous_clusters,
            self.readings,
            self.flows,
            self.agreed,
            if self.flows == 0 { 100.0 } else { 100.0 * self.agreed as f64 / self.flows as f64 },
            self.to_itself,
            self.egress_denied,
            self.egress_decides,
            self.addresses,
            self.addresses_agreed,
            self.address_kinds
                .iter()
                .map(|(k, (n, d))| format!("{k} {n}/{d}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.ambiguous,
            self.policies,
            self.disagreements.len(),
            self.oracle_time.as_secs_f64(),
            self.ours_time.as_secs_f64(),
        )
    }
}

/// Runs clusters from `seed` until at least `min_flows` flows between pods were compared (the flows to
/// addresses no pod backs come on top, about one for four). Cluster directories
/// are written under `work`; those with a disagreement are kept, the others removed.
pub fn run(oracle: &Oracle, seed: u64, min_flows: usize, work: &Path) -> Report {
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let shape = Shape::with_addresses(oracle.minor);
    while report.flows - report.addresses < min_flows {
        let cseed = rng.fork();
        let cluster = cilium_gen::generate(cseed, shape);
        let dir = work.join(format!("1.{}-{cseed:016x}", oracle.minor));
        let before = (report.disagreements.len(), report.refused);
        compare_cluster(oracle, &cluster, &dir, &mut report);
        if (report.disagreements.len(), report.refused) == before {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    report
}

/// The `matchLabels` of the cluster's Cilium policies that name one label twice for Cilium with
/// different values (`app: a` beside `any:app: b`): one [`Site`] per such label. The agent keeps one value at random (Go map iteration), so the oracle's
/// answer on such a cluster is one random reading; each reading is compared on its own instead.
pub fn ambiguous_sites(objects: &[Value]) -> Vec<Site> {
    fn walk(v: &Value, ptr: String, out: &mut Vec<(String, String, Vec<String>)>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let p = format!("{ptr}/{}", k.replace('~', "~0").replace('/', "~1"));
                    if k == "matchLabels" {
                        if let Some(ml) = child.as_object() {
                            let mut by_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                            for (lk, lv) in ml {
                                by_key
                                    .entry(cilium_extended_key(lk))
                                    .or_default()
                                    .insert(lv.as_str().unwrap_or_default().to_string());
                            }
                            for (label, values) in by_key.into_iter().filter(|(_, v)| v.len() > 1) {
                                out.push((p.clone(), label, values.into_iter().collect()));
                            }
                        }
                    } else {
                        walk(child, p, out);
                    }
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{ptr}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind.starts_with("Cilium") && kind.ends_with("NetworkPolicy") {
            let mut sites = Vec::new();
            walk(o, String::new(), &mut sites);
            out.extend(sites.into_iter().map(|(pointer, label, values)| Site {
                object: i,
                pointer,
                label,
                values,
            }));
        }
    }
    out
}

/// One label a `matchLabels` names more than once for Cilium, with different values.
pub struct Site {
    /// The object's index in the cluster.
    pub object: usize,
    /// The JSON pointer of the `matchLabels` map.
    pub pointer: String,
    /// The label as the agent stores it (`any.app`: [`cilium_extended_key`]).
    pub label: String,
    /// Its distinct values, one of which the agent keeps.
    pub values: Vec<String>,
}

/// The cluster as an agent reads it when it keeps value `choice[i]` at site `i` of
/// [`ambiguous_sites`]: the keys of that label with other values are removed.
fn reading(cluster: &Cluster, sites: &[Site], choice: &[usize]) -> Cluster {
    let mut objects = cluster.objects.clone();
    for (site, &c) in sites.iter().zip(choice) {
        let ml = objects[site.object]
            .pointer_mut(&site.pointer)
            .and_then(Value::as_object_mut)
            .expect("the site was found in this object");
        let keep = site.values[c].as_str();
        ml.retain(|k, v| cilium_extended_key(k) != site.label || v.as_str() == Some(keep));
    }
    Cluster {
        seed: cluster.seed,
        objects,
        flows: cluster.flows.clone(),
    }
}

/// Writes the cluster, asks the oracle and scrapepath, and records every difference. A cluster with
/// ambiguous selectors ([`ambiguous_sites`]) is also compared once per reading, and scrapepath's
/// ambiguous flows must be those whose verdict differs between its readings.
pub fn compare_cluster(oracle: &Oracle, cluster: &Cluster, dir: &Path, report: &mut Report) {
    let sites = ambiguous_sites(&cluster.objects);
    if sites.is_empty() {
        compare_one(oracle, cluster, dir, report);
        return;
    }
    report.ambiguous_clusters += 1;
    let Some(ours) = compare_one(oracle, cluster, dir, report) else {
        return;
    };
    let radices: Vec<usize> = sites.iter().map(|site| site.values.len()).collect();
    let mut per_reading: Vec<Vec<NetVerdict>> = Vec::new();
    for (n, choice) in combinations(&radices, 16).into_iter().enumerate() {
        let r = reading(cluster, &sites, &choice);
        report.readings += 1;
        if let Some(v) = compare_one(oracle, &r, &dir.join(format!("reading-{n}")), report) {
            per_reading.push(v.into_iter().map(|d| d.verdict).collect());
        }
    }
    for (i, (f, d)) in cluster.flows.iter().zip(&ours).enumerate() {
        let varies = per_reading.iter().any(|v| v[i] != per_reading[0][i]);
        if (d.basis == Basis::Ambiguous) != varies && !per_reading.is_empty() {
            report.disagreements.push(Disagreement {
                seed: cluster.seed,
                dir: dir.to_path_buf(),
                what: format!(
                    "{}: scrapepath {} ambiguous ({}), but its verdict {} between the readings of the selectors Cilium reads at random ({:?})",
                    show(f),
                    if d.basis == Basis::Ambiguous { "calls it" } else { "does not call it" },
                    d.reason,
                    if varies { "differs" } else { "is the same" },
                    per_reading.iter().map(|v| v[i]).collect::<Vec<_>>()
                ),
            });
        }
    }
}

/// Compares one cluster as written; scrapepath's decisions per flow, or `None` when it was refused.
fn compare_one(
    oracle: &Oracle,
    cluster: &Cluster,
    dir: &Path,
    report: &mut Report,
) -> Option<Vec<Decision>> {
    std::fs::create_dir_all(dir).unwrap();
    let manifests = dir.join("cluster.yaml");
    std::fs::write(&manifests, cluster.yaml()).unwrap();
    let flows_file = dir.join("flows.json");
    std::fs::write(&flows_file, serde_json::to_vec(&cluster.flows).unwrap()).unwrap();
    report.clusters += 1;
    let disagree = |report: &mut Report, what: String| {
        report.disagreements.push(Disagreement {
            seed: cluster.seed,
            dir: dir.to_path_buf(),
            what,
        })
    };

    let t = Instant::now();
    let asked = oracle.ask(&manifests, &flows_file);
    report.oracle_time += t.elapsed();
    let answer = match asked {
        Ok((raw, answer)) => {
            std::fs::write(dir.join("oracle.json"), raw).unwrap();
            answer
        }
        Err(why) => {
            disagree(report, why);
            return None;
        }
    };

    let t = Instant::now();
    let judged = scrapepath_judges(&manifests, oracle.version(), &cluster.flows);
    report.ours_time += t.elapsed();
    let Judged {
        decisions: ours,
        rejected: ours_rejected,
        policies,
    } = match judged {
        Ok(j) => j,
        Err(e) => {
            report.refused += 1;
            std::fs::write(dir.join("refused.txt"), e).unwrap();
            return None;
        }
    };
    report.policies += policies;

    let theirs_rejected = answer.rejected();
    let keys: BTreeSet<_> = ours_rejected.keys().chain(theirs_rejected.keys()).collect();
    for k in keys {
        match (ours_rejected.get(k), theirs_rejected.get(k)) {
            (Some(_), Some(_)) => {}
            (Some(why), None) => disagree(
                report,
                format!(
                    "{} {}/{}: scrapepath rejects it ({why}), Cilium accepts it",
                    k.0, k.1, k.2
                ),
            ),
            (None, Some(err)) => disagree(
                report,
                format!(
                    "{} {}/{}: Cilium rejects it ({err}), scrapepath accepts it",
                    k.0, k.1, k.2
                ),
            ),
            (None, None) => {}
        }
    }

    let theirs: BTreeMap<(&str, &str, u16), &OracleFlow> = answer
        .flows
        .iter()
        .map(|f| ((f.src.as_str(), f.dst.as_str(), f.port), f))
        .collect();
    for (f, d) in cluster.flows.iter().zip(&ours) {
        let (verdict, reason) = (d.verdict, format!("{}: {}", d.rule, d.reason));
        if d.basis == Basis::Ambiguous {
            // Checked against the readings by `compare_cluster`.
            report.ambiguous += 1;
            continue;
        }
        report.flows += 1;
        // An L7 refusal is an L3/L4 allow through the proxy (LookupFlow does not judge HTTP).
        let ours_allowed = matches!(verdict, NetVerdict::Allowed | NetVerdict::L7Denied);
        if to_itself(f) {
            report.to_itself += 1;
            if ours_allowed {
                report.agreed += 1;
            } else {
                disagree(
                    report,
                    format!("{}: a pod's connection to itself always answers on the real datapath, scrapepath {verdict:?} ({reason})", show(f)),
                );
            }
            continue;
        }
        let Some(t) = theirs.get(&(f.src.as_str(), f.dst.as_str(), f.port)) else {
            disagree(report, format!("{}: the oracle gave no answer", show(f)));
            continue;
        };
        if let Some(err) = &t.error {
            disagree(report, format!("{}: the oracle failed: {err}", show(f)));
            continue;
        }
        let egress_denied = !t.audit && !t.egress_forwarded();
        if egress_denied {
            report.egress_denied += 1;
            if t.ingress_forwarded() {
                report.egress_decides += 1;
            }
        }
        let theirs_allowed = t.forwarded();
        if f.address().is_some() {
            report.addresses += 1;
            report.addresses_agreed += usize::from(theirs_allowed == ours_allowed);
            let kind = if t.egress_not_endpoint {
                "hostNetwork scraper"
            } else {
                t.dst_kind.as_str()
            };
            let k = report.address_kinds.entry(kind.to_string()).or_default();
            k.0 += 1;
            k.1 += usize::from(egress_denied);
        }
        if theirs_allowed == ours_allowed {
            report.agreed += 1;
        } else {
            disagree(
                report,
                format!(
                    "{}: Cilium ingress {}, egress {}{}, scrapepath {:?} ({reason}); identities src {:?} dst {:?}",
                    show(f),
                    t.verdict,
                    t.egress_verdict,
                    if t.audit { " (audit)" } else { "" },
                    verdict,
                    t.src_identity,
                    t.dst_identity
                ),
            );
        }
    }
    Some(ours)
}

/// A flow from a pod to itself. The kernel delivers it on the pod's loopback, so no Cilium program
/// sees it and it always answers: the real datapath shows it on every such flow
/// (`tests/cilium_datapath_diff.rs`). Cilium's policy engine, which the oracle runs, only looks the
/// identities up and judges it as any other flow, so for these flows the datapath's answer
/// (allowed) is the reference, not the oracle's.
pub fn to_itself(f: &Flow) -> bool {
    f.src == f.dst
}

/// What scrapepath makes of a cluster, as `check` reads it for one Cilium release.
pub struct Judged {
    /// Its decision for each flow, in order.
    pub decisions: Vec<Decision>,
    /// The policies the agent would reject whole, (kind, namespace, name), and why.
    pub rejected: BTreeMap<(String, String, String), String>,
    /// How many policies the cluster has.
    pub policies: usize,
}

/// Loads `manifests` as `check` does for Cilium `version` (its admission first: `Err` with the reason
/// when the API server of that release would refuse the input) and judges every flow.
pub fn scrapepath_judges(
    manifests: &Path,
    version: Version,
    flows: &[Flow],
) -> Result<Judged, String> {
    let idx = load_as_check(manifests, version)?;
    let settings = idx.cilium_settings(Some(version));
    let mut rejected = BTreeMap::new();
    let mut policies = 0;
    for p in idx.policies() {
        policies += 1;
        if let Some(why) = rejected_by_agent(p, &settings) {
            rejected.insert(
                (
                    p.obj.kind.to_string(),
                    p.obj.namespace.clone(),
                    p.obj.name.clone(),
                ),
                why,
            );
        }
    }
    let decisions = flows
        .iter()
        .map(|f| our_decision(&idx, &settings, f))
        .collect();
    Ok(Judged {
        decisions,
        rejected,
        policies,
    })
}

/// The index `check` builds from `manifests` for Cilium `version`, its admission first (`Err` with the
/// reason when the API server of that release would refuse the input).
pub fn load_as_check(
    manifests: &Path,
    version: Version,
) -> Result<scrapepath::index::ClusterIndex, String> {
    let admit = scrapepath::admission::Settings {
        cilium_version: Some(version),
        istio_version: None,
        ..Default::default()
    };
    scrapepath::load::load_index_with(
        std::slice::from_ref(&manifests.to_path_buf()),
        false,
        &admit,
    )
    .map(|(idx, _)| idx)
    .map_err(|e| e.to_string())
}

pub fn show(f: &Flow) -> String {
    format!("{} -> {} TCP/{}", f.src, f.dst, f.port)
}

/// scrapepath's verdict for one flow, through the same decision the engine makes per target.
pub fn our_verdict(
    idx: &scrapepath::index::ClusterIndex,
    settings: &scrapepath::cilium::Settings,
    f: &Flow,
) -> (NetVerdict, String) {
    let d = our_decision(idx, settings, f);
    (d.verdict, format!("{}: {}", d.rule, d.reason))
}

/// scrapepath's decision for one flow (see [`our_verdict`]); a flow to an address no pod backs
/// (`addr:<IP>`) through the engine's decision for such targets (`engine::address_verdict`, E8).
pub fn our_decision(
    idx: &scrapepath::index::ClusterIndex,
    settings: &scrapepath::cilium::Settings,
    f: &Flow,
) -> Decision {
    if let Some(ip) = f.address() {
        let cfg = scrapepath::engine::EngineConfig {
            cilium_version: Some(settings.version),
            ..Default::default()
        };
        let (ns, name) = f.src.split_once('/').unwrap();
        return scrapepath::engine::address_verdict(idx, &cfg, ip, (ns, name), f.port, "/metrics")
            .unwrap_or_else(|| panic!("flow names pod {}, which the index lacks", f.src));
    }
    let pod = |s: &str| {
        let (ns, name) = s.split_once('/').unwrap();
        idx.pod_by_name(ns, name)
            .unwrap_or_else(|| panic!("flow names pod {s}, which the index lacks"))
            .1
    };
    let (src, dst) = (pod(&f.src), pod(&f.dst));
    decide_flow(
        settings,
        idx.policies(),
        idx.pods().map(|(_, p)| p),
        (
            src,
            &idx.namespace_labels(&src.namespace),
            idx.node_labels_of(src),
        ),
        (
            dst,
            &idx.namespace_labels(&dst.namespace),
            idx.node_labels_of(dst),
        ),
        f.port,
        "/metrics",
    )
}
