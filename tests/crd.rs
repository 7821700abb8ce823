//! The ScrapeIntent CRD: the checked-in file is current, and the schema says what the API promises.

use std::path::PathBuf;

use scrapepath::api::crd_yaml;

fn crd_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds/scrapeintents.scrapepath.io.yaml")
}

#[test]
fn checked_in_crd_matches_the_rust_types() {
    let generated = crd_yaml();
    if std::env::var_os("SCRAPEPATH_UPDATE_CRDS").is_some() {
        std::fs::write(crd_file(), &generated).expect("write the CRD file");
    }
    let checked_in = std::fs::read_to_string(crd_file()).unwrap_or_default();
    assert!(checked_in == generated, "stale");
}
