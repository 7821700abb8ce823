//! Network verdicts proven against Cilium's own policy engine: random clusters, every scrape flow judged
//! by scrapepath and by Cilium's `pkg/policy` (`tests/cilium-oracle/`, one binary per Cilium minor the
//! Go module proxy serves), flow by flow, policy by policy. 100% agreement or the test fails, naming
//! each disagreement with the directory that replays it. Besides the flows between pods, flows to addresses
//! no pod backs (nodes, the API server, external addresses: `semantics/cilium-egress.md` E8), judged by
//! `engine::address_verdict` and by the scraper's egress toward the identity Cilium's ipcache gives the
//! address.
//!
//! Size and seed: `SCRAPEPATH_DIFF_FLOWS` (default 2,000 flows between pods per Cilium minor, the address
//! flows on top) and
//! `SCRAPEPATH_DIFF_SEED` (default a fixed seed, so that CI judges the same clusters every run; the
//! benchmark `cargo bench --bench cilium_differential` explores new seeds). Needs Go and the Go module
//! proxy on a cold cache, like the control-plane harness: without them it fails, never skips.

mod common;
use common::rng::env_u64;

use common::cilium_diff;

/// The seed CI runs (any seed must pass; this one is fixed so a CI run never fails by chance).
const CI_SEED: u64 = 0x5c7a_9e11_0000_0011;

#[test]
fn every_scrape_flow_gets_the_verdict_ciliums_own_engine_gives() {
    let seed = env_u64("SCRAPEPATH_DIFF_SEED").unwrap_or(CI_SEED);
    let flows = env_u64("SCRAPEPATH_DIFF_FLOWS").unwrap_or(2000) as usize;
    let work = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cilium-oracle");
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("differential against Cilium's engine: seed {seed:#x}, {flows} flows per minor (SCRAPEPATH_DIFF_SEED={seed:#x} replays it)");
    let mut failures = Vec::new();
    for oracle in cilium_diff::oracles() {
        let report = cilium_diff::run(&oracle, seed, flows, &work);
        eprintln!("{}", report.summary(&oracle));
        // The generator keeps to what each release's API server stores; a few refusals (invalid
        // shapes it draws on purpose) are fine, many would mean the comparison lost its input.
        if report.refused * 10 > report.clusters {
            failures.push(format!(
                "1.{}: {} of {} clusters refused by admission (see refused.txt in {})",
                oracle.minor,
                report.refused,
                report.clusters,
                work.display()
            ));
        }
        failures.extend(
            report
                .disagreements
                .iter()
                .map(|d| format!("1.{}: {d}", oracle.minor)),
        );
    }
    let all = work.join("disagreements.txt");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(&all, failures.join("\n")).unwrap();
    assert!(
        failures.is_empty(),
        "{} disagreements with Cilium's engine (seed {seed:#x}; all of them in {}); the first ones:\n{}",
        failures.len(),
        all.display(),
        failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}
