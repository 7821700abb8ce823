//! The differential benchmark against Cilium's own policy engine: at least 10,000 scrape flows per
//! Cilium minor (`SCRAPEPATH_DIFF_FLOWS`), from a new seed each run unless `SCRAPEPATH_DIFF_SEED` is
//! given (the seed is printed: a failure is replayed with it). Prints flows compared, agreement and
//! time per minor; exits 1 on any disagreement, naming the directory that replays it.
//!
//!     cargo bench --bench cilium_differential
//!     SCRAPEPATH_DIFF_SEED=0x... SCRAPEPATH_DIFF_FLOWS=50000 cargo bench --bench cilium_differential

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use common::cilium_diff;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().to_string();
    Some(match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).expect("hex seed"),
        None => v.parse().expect("number"),
    })
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let seed = env_u64("SCRAPEPATH_DIFF_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let flows = env_u64("SCRAPEPATH_DIFF_FLOWS").unwrap_or(10_000) as usize;
    let work = std::env::temp_dir().join(format!("scrapepath-cilium-diff-{seed:016x}"));
    println!("seed {seed:#x}, at least {flows} flows per Cilium minor; disagreeing clusters kept under {}", work.display());
    let t = Instant::now();
    let oracles = cilium_diff::oracles();
    println!("oracles ready in {:.1}s", t.elapsed().as_secs_f64());
    let mut failed = 0;
    println!("| Cilium | clusters | flows | agree | policies | oracle s | scrapepath s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for o in &oracles {
        let r = cilium_diff::run(o, seed, flows, &work);
        println!(
            "| 1.{} | {} | {} | {:.2}% | {} | {:.1} | {:.2} |",
            o.minor,
            r.clusters,
            r.flows,
            100.0 * r.agreed as f64 / r.flows.max(1) as f64,
            r.policies,
            r.oracle_time.as_secs_f64(),
            r.ours_time.as_secs_f64()
        );
        for d in r.disagreements.iter().take(20) {
            println!("  1.{}: {d}", o.minor);
        }
        failed += r.disagreements.len();
    }
    println!("total {:.1}s", t.elapsed().as_secs_f64());
    if failed > 0 {
        println!("{failed} disagreements (seed {seed:#x})");
        std::process::exit(1);
    }
}
