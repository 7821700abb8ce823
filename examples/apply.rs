//! Applies YAML manifests to the cluster of `KUBECONFIG` the way the integration tests do: namespaces first,
//! fields the API server owns dropped (uid, resourceVersion, ownerReferences to objects that do not exist
//! there), and `status` written through the status subresource, as the owning controller would — so the
//! seed examples (pods Running with their IPs, a Ready Prometheus) can be replayed on a bare control plane.
//!
//! `cargo run --example apply -- DIR_OR_FILE...` (used by `scripts/demo.sh`).

#[path = "../tests/common/cluster.rs"]
mod cluster;

use std::path::Path;

#[tokio::main]
async fn main() {
    let client = kube::Client::try_default()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the cluster of KUBECONFIG: {e}"));
    for arg in std::env::args().skip(1) {
        let p = Path::new(&arg);
        if p.is_dir() {
            cluster::apply_dir(&client, p).await;
        } else if arg == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).unwrap();
            cluster::apply_yaml(&client, &text).await;
        } else {
            cluster::apply_yaml(&client, &std::fs::read_to_string(p).unwrap()).await;
        }
        eprintln!("applied {arg}");
    }
}
