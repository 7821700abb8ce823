#!/usr/bin/env python3
"""Writes the input of issue 15's largest offline case: one file of N pods (default 193,000, about 64 MB)
beside the Prometheus of Cilium's monitoring example (deploy/examples/seed-001-cilium-monitoring: a
prometheus.yml with the annotation-based `kubernetes-pods` job, role pod over every namespace).

Every other pod carries `prometheus.io/scrape: "true"` and `prometheus.io/port: "9102"` on a declared
container port, so the job keeps half the pods and drops the rest; 100 pods per namespace, ten per
`app` label, each Running and Ready with an address of its own.

    python3 benches/annotation-job/make.py /tmp/annotation-job [N]
    /usr/bin/time -v target/release/scrapepath check -f /tmp/annotation-job -o json > /dev/null

(`check` exits 1: the seed's own intents are not Ready.)
"""
import pathlib
import shutil
import sys

PER_NAMESPACE = 100


def main():
    out = pathlib.Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 193_000
    seed = pathlib.Path(__file__).resolve().parents[2] / "deploy/examples/seed-001-cilium-monitoring"
    out.mkdir(parents=True, exist_ok=True)
    for f in seed.glob("*.yaml"):
        shutil.copy(f, out / f.name)
    with open(out / "pods.yaml", "w") as f:
        for ns in range((n + PER_NAMESPACE - 1) // PER_NAMESPACE):
            f.write(f"---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: app-{ns}}}\n")
        for i in range(n):
            ns, app = i // PER_NAMESPACE, (i % PER_NAMESPACE) // 10
            ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
            ann = (
                'annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9102"}, '
                if i % 2 == 0
                else ""
            )
            f.write(
                f"---\napiVersion: v1\nkind: Pod\n"
                f"metadata: {{name: app-{app}-{i}, namespace: app-{ns}, {ann}"
                f"labels: {{app: app-{app}, tier: t{app % 2}}}}}\n"
                f"spec: {{containers: [{{name: app, image: app:1, "
                f"ports: [{{containerPort: 9102, name: metrics}}]}}]}}\n"
                f'status: {{phase: Running, podIP: {ip}, conditions: [{{type: Ready, status: "True"}}]}}\n'
            )
    print(f"{out}: {n} pods", file=sys.stderr)


if __name__ == "__main__":
    main()
