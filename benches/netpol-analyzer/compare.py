#!/usr/bin/env python3
"""scrapepath `check` beside np-guard netpol-analyzer on kube-burner's network-policy-perf shapes.

The question both tools answer: for every pod of the workload and its metrics port, may the Prometheus pod
in `monitoring` open a TCP connection to it under the cluster's Kubernetes NetworkPolicies?
scrapepath answers it as the `network.verdict` of each target of a PodMonitor (`check -o json`);
netpol-analyzer (`k8snetpolicy list -o json`) lists the connections it allows, here focused on the
Prometheus workload's egress (its cheapest mode: only the pairs with Prometheus are evaluated;
`--unfocused` lists every pair instead, as `list` does by default). The script

1. builds the peer at its pinned release from the Go module proxy into the scrapepath cache (once);
2. builds `scrapepath` in release mode (`cargo build --release`);
3. writes each shape as manifests: the cluster (Namespaces, Pods, NetworkPolicies: what both tools read)
   and the Prometheus side (a Prometheus and a PodMonitor over every namespace: what only scrapepath reads);
4. runs both tools on the same manifests under `/usr/bin/time -v` (wall time, peak RSS);
5. compares the verdicts for every (pod, metrics port): any disagreement, and any pod one tool does not
   report, fails the script (exit 1) and prints the cases;
6. prints the table: pods, policies, each tool's seconds and MB, the ratios.

The shapes follow kube-burner-ocp's `network-policy` workload (cmd/config/network-policy: pod.yml,
ingress-np.yml, the deny-all policy of the pods job): namespaces `network-policy-perf-<i>` of pods
`test-pod-<r>` labelled `num=<r>`, a deny-all ingress policy, and ingress policies that select `local_pods`
pods by `num In [...]` and admit `peer_pods` pods (`num In [...]`) of `peer_namespaces` namespaces
(`kubernetes.io/metadata.name In [...]`) on `single_ports` ports from 8080 and `port_ranges` ranges from 5000,
plus `cidr_rules` ipBlock rules with `except_rules` exceptions. Two departures, both so that the answer is
not the same for every pod: the selected local pods rotate with the policy and the namespace (upstream,
every policy selects pods 1..local_pods), and the pods carry a metrics port (9090, named `metrics`) that
one policy in ten opens to the Prometheus pod — by the port's name or by a port range — and others nearly
do (`monitoring` among the peer namespaces of a pod selector Prometheus does not match, the wrong port, a
range beside it, a port name the pods lack, another pod of `monitoring`). Kubernetes NetworkPolicy only:
netpol-analyzer does not read Cilium's policies.

Usage (from anywhere; Python 3.9+, standard library only; Go, cargo and /usr/bin/time on PATH):

    python3 benches/netpol-analyzer/compare.py            # quick: 5, 25, 50 namespaces (200-2,000 pods)
    python3 benches/netpol-analyzer/compare.py --full     # 5 ... 500 namespaces (up to 20,000 pods)
    python3 benches/netpol-analyzer/compare.py --namespaces 10,100 --shapes dense --timeout 300

Environment: SCRAPEPATH_NETPOL_ANALYZER_BIN=<path> uses a prebuilt k8snetpolicy instead of building one;
SCRAPEPATH_NETPOL_ANALYZER_CACHE overrides the cache directory.
"""

import argparse
import fcntl
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The pinned peer. The Go module proxy serves v1.4.4 (its .info, .mod and .zip), but its version list
# (`.../@v/list`) is refused (403), so `go install ...@v1.4.4` fails while loading deprecations and `go list
# -m -versions` names no release: the build uses a copy of the module with its own go.mod and go.sum.
NPA_MODULE = "github.com/np-guard/netpol-analyzer"
NPA_VERSION = "v1.4.4"
NPA_PACKAGE = "./cmd/netpolicy"

REPO = Path(__file__).resolve().parents[2]
MONITORING = "monitoring"
PROMETHEUS = "k8s"
PROMETHEUS_WORKLOAD = f"prometheus-{PROMETHEUS}"  # the StatefulSet prometheus-operator creates
PROMETHEUS_POD = f"{PROMETHEUS_WORKLOAD}-0"
PODMONITOR = "network-policy-perf"
METRICS_PORT = 9090
NS_PREFIX = "network-policy-perf-"

# kube-burner-ocp network-policy inputs per shape (its flags --pods-per-namespace, --netpol-per-namespace,
# --local-pods, --pod-selectors, --single-ports, --port-ranges, --remotes-namespaces, --remotes-pods, --cidrs).
SHAPES = {
    "sparse": dict(pods=40, netpols=5, local_pods=10, pod_selectors=1, single_ports=2, port_ranges=2,
                   peer_namespaces=5, peer_pods=5, cidr_rules=2, except_rules=1),
    "dense": dict(pods=40, netpols=50, local_pods=10, pod_selectors=1, single_ports=2, port_ranges=2,
                  peer_namespaces=5, peer_pods=5, cidr_rules=2, except_rules=1),
}
QUICK_NAMESPACES = [5, 25, 50]
FULL_NAMESPACES = [5, 25, 100, 250, 500]


def say(msg):
    print(f"compare.py: {msg}", file=sys.stderr, flush=True)


def die(msg):
    say(msg)
    sys.exit(2)


def run(cmd, **kw):
    """Runs a build step; its output goes to stderr; a failure ends the script naming the command."""
    try:
        subprocess.run(cmd, check=True, stdout=sys.stderr, **kw)
    except FileNotFoundError:
        die(f"{cmd[0]} is not on PATH (needed for: {' '.join(map(str, cmd))})")
    except subprocess.CalledProcessError as e:
        die(f"`{' '.join(map(str, cmd))}` failed with exit code {e.returncode} (see above)")


# ---------------------------------------------------------------------------------------------------------
# The peer and scrapepath


def go_env():
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false -mod=readonly", GOWORK="off")
    return env


def ensure_netpol_analyzer():
    prebuilt = os.environ.get("SCRAPEPATH_NETPOL_ANALYZER_BIN")
    if prebuilt:
        if not os.access(prebuilt, os.X_OK):
            die(f"SCRAPEPATH_NETPOL_ANALYZER_BIN={prebuilt} is not an executable file")
        return Path(prebuilt)
    if shutil.which("go") is None:
        die(f"Go is missing: the peer is built from its module {NPA_MODULE}@{NPA_VERSION} and needs `go` on PATH")
    env = go_env()
    goversion = subprocess.run(["go", "env", "GOVERSION"], env=env, capture_output=True, text=True,
                               check=True).stdout.strip()
    cache = Path(os.environ.get("SCRAPEPATH_NETPOL_ANALYZER_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scrapepath" / "netpol-analyzer")
    binary = cache / f"{NPA_VERSION}-{goversion}" / "k8snetpolicy"
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time across processes
        if binary.exists():
            return binary
        start = time.monotonic()
        say(f"building netpol-analyzer {NPA_VERSION} with {goversion} into {binary.parent} "
            "(once; about 2-3 minutes on 2 cores)")
        # Fetch the module at its pinned version (.info/.mod/.zip only: no version list needed) ...
        out = subprocess.run(["go", "mod", "download", "-json", f"{NPA_MODULE}@{NPA_VERSION}"], env=env,
                             capture_output=True, text=True, cwd=cache)
        if out.returncode != 0:
            die(f"go mod download {NPA_MODULE}@{NPA_VERSION} failed (the Go module proxy is "
                f"{os.environ.get('GOPROXY', 'the default')}):\n{out.stdout}{out.stderr}")
        src = Path(json.loads(out.stdout)["Dir"])
        # ... and build its command from a writable copy of the module, with the module's own go.mod and
        # go.sum (the module cache is read-only and `go install pkg@version` wants the refused version list).
        tmp = Path(tempfile.mkdtemp(prefix=".build.", dir=cache))
        try:
            copy = tmp / "src"
            shutil.copytree(src, copy)
            for p in [copy, *copy.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
            run(["nice", "-n", "10", "go", "build", "-trimpath", "-ldflags", "-s -w",
                 "-o", str(tmp / "k8snetpolicy"), NPA_PACKAGE], cwd=copy, env=env)
            probe = subprocess.run([str(tmp / "k8snetpolicy"), "list", "--help"], capture_output=True)
            if probe.returncode != 0:
                die(f"the k8snetpolicy built in {tmp} does not run")
            shutil.rmtree(binary.parent, ignore_errors=True)
            binary.parent.mkdir(parents=True)
            (tmp / "k8snetpolicy").rename(binary)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        say(f"built in {time.monotonic() - start:.0f} s: {binary}")
    return binary


def ensure_scrapepath():
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO,
                          capture_output=True, text=True)
    if meta.returncode != 0:
        die(f"cargo metadata failed in {REPO}:\n{meta.stderr}")
    target = Path(json.loads(meta.stdout)["target_directory"])
    say("cargo build --release")
    run(["cargo", "build", "--release", "--bin", "scrapepath"], cwd=REPO)
    return target / "release" / "scrapepath"


# ---------------------------------------------------------------------------------------------------------
# The shapes


def ns_name(i):
    return f"{NS_PREFIX}{i}"


def flow(values):
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def pod_ip(n):
    return f"10.{128 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"


def cidr(idx):
    """kube-burner's GetSubnet16/GetSubnet24: subnets outside the pod network (10.128.0.0/14) and the
    Prometheus pod's address, so that no ipBlock rule admits a pod."""
    return f"{20 + (idx >> 8) % 200}.{idx & 255}.0.0/16", f"{20 + (idx >> 8) % 200}.{idx & 255}"


def namespace_doc(name):
    return (f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
            f"  labels: {{kubernetes.io/metadata.name: {name}}}\n")


def pod_doc(ns, r, ip):
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: test-pod-{r}
  namespace: {ns}
  labels: {{num: "{r}"}}
spec:
  containers:
  - name: webserver
    image: quay.io/cloud-bulldozer/sampleapp:latest
    ports:
    - {{containerPort: 8080, protocol: TCP}}
    - {{name: metrics, containerPort: {METRICS_PORT}, protocol: TCP}}
  - name: curlapp
    image: quay.io/cloud-bulldozer/netpolvalidator:latest
    ports:
    - {{containerPort: 9001, protocol: TCP}}
status:
  phase: Running
  podIP: {ip}
  podIPs: [{{ip: {ip}}}]
  conditions: [{{type: Ready, status: "True"}}]
"""


def monitoring_docs():
    """The scraper's namespace and pod, as prometheus-operator labels and owns it (both tools read these)."""
    return [namespace_doc(MONITORING), f"""apiVersion: v1
kind: Pod
metadata:
  name: {PROMETHEUS_POD}
  namespace: {MONITORING}
  labels:
    app.kubernetes.io/name: prometheus
    app.kubernetes.io/instance: {PROMETHEUS}
    app.kubernetes.io/managed-by: prometheus-operator
    operator.prometheus.io/name: {PROMETHEUS}
    operator.prometheus.io/shard: "0"
    prometheus: {PROMETHEUS}
    statefulset.kubernetes.io/pod-name: {PROMETHEUS_POD}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: StatefulSet, name: {PROMETHEUS_WORKLOAD}, uid: 9d3c0a4e-0000-4000-8000-000000000001, controller: true}}
spec:
  containers:
  - name: prometheus
    image: quay.io/prometheus/prometheus:v3.5.0
    ports:
    - {{name: web, containerPort: 9090, protocol: TCP}}
status:
  phase: Running
  podIP: 10.127.0.10
  podIPs: [{{ip: 10.127.0.10}}]
  conditions: [{{type: Ready, status: "True"}}]
"""]


def prometheus_docs():
    """What only scrapepath reads: the Prometheus and its PodMonitor over every namespace."""
    return [f"""apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: {PROMETHEUS}, namespace: {MONITORING}}}
spec:
  replicas: 1
  podMonitorSelector: {{}}
  podMonitorNamespaceSelector: {{}}
""", f"""apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {{name: {PODMONITOR}, namespace: {MONITORING}}}
spec:
  namespaceSelector: {{any: true}}
  selector: {{matchExpressions: [{{key: num, operator: Exists}}]}}
  podMetricsEndpoints: [{{port: metrics}}]
"""]


def deny_all_doc(ns):
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-all, namespace: {ns}}}
spec:
  podSelector: {{}}
  policyTypes: [Ingress]
"""


def monitoring_rule(variant):
    """The extra rule of the policies that name the monitoring namespace, by `variant` (0..19; see the
    module docs): two admit the Prometheus pod on the metrics port, five nearly do."""
    mon = f"{{matchLabels: {{kubernetes.io/metadata.name: {MONITORING}}}}}"
    if variant == 1:  # admits Prometheus by its pod labels on the named port
        return (f"  - from:\n    - namespaceSelector: {mon}\n"
                f"      podSelector: {{matchLabels: {{app.kubernetes.io/name: prometheus}}}}\n"
                f"    ports: [{{protocol: TCP, port: metrics}}]\n")
    if variant == 3:  # admits every pod of monitoring on the wrong port
        return f"  - from:\n    - namespaceSelector: {mon}\n    ports: [{{protocol: TCP, port: 8080}}]\n"
    if variant == 11:  # admits every pod of monitoring on a port range that holds the metrics port
        return (f"  - from:\n    - namespaceSelector: {mon}\n"
                f"    ports: [{{protocol: TCP, port: 9000, endPort: 9100}}]\n")
    if variant == 5:  # a port range just above the metrics port
        return (f"  - from:\n    - namespaceSelector: {mon}\n"
                f"    ports: [{{protocol: TCP, port: {METRICS_PORT + 1}, endPort: 9100}}]\n")
    if variant == 13:  # a port name the pods do not define
        return f"  - from:\n    - namespaceSelector: {mon}\n    ports: [{{protocol: TCP, port: web}}]\n"
    if variant == 7:  # admits another pod of monitoring on the metrics port
        return (f"  - from:\n    - namespaceSelector: {mon}\n"
                f"      podSelector: {{matchLabels: {{app.kubernetes.io/name: alertmanager}}}}\n"
                f"    ports: [{{protocol: TCP, port: {METRICS_PORT}}}]\n")
    return ""


def ingress_doc(shape, namespaces, i, r):
    """kube-burner-ocp ingress-np.yml, replica r (1-based) of iteration i (see the module docs)."""
    s = shape
    start = ((r - 1) * s["local_pods"] + 3 * i) % s["pods"]
    local = [str((start + k) % s["pods"] + 1) for k in range(s["local_pods"])]
    peer_idx = (r * s["pod_selectors"] * s["peer_namespaces"] - 1) // namespaces * s["peer_pods"]
    peer_pods = []
    for k in range(s["peer_pods"]):
        n = k + 1 + peer_idx
        if n > s["pods"]:
            n = n % s["pods"] + 1
        peer_pods.append(str(n))
    ns_idx = (i * s["pod_selectors"] * s["netpols"] * s["peer_namespaces"]
              + (r - 1) * s["pod_selectors"] * s["peer_namespaces"] + 1)
    variant = (r + i) % 20
    ports = [f"{{protocol: TCP, port: {8080 + k}}}" for k in range(s["single_ports"])]
    ports += [f"{{protocol: TCP, port: {5000 + 10 * k}, endPort: {5005 + 10 * k}}}" for k in range(s["port_ranges"])]
    rules = []
    for ps in range(s["pod_selectors"]):
        first = ns_idx + ps * s["peer_namespaces"]
        peers = [ns_name((first + k) % namespaces) for k in range(s["peer_namespaces"])]
        rule_ports = list(ports)
        if variant == 9 and ps == 0:  # monitoring among the peer namespaces, but its pods lack `num`
            peers.append(MONITORING)
            rule_ports.append(f"{{protocol: TCP, port: {METRICS_PORT}}}")
        rules.append(f"""  - from:
    - namespaceSelector:
        matchExpressions: [{{key: kubernetes.io/metadata.name, operator: In, values: {flow(peers)}}}]
      podSelector:
        matchExpressions: [{{key: num, operator: In, values: {flow(peer_pods)}}}]
    ports: [{", ".join(rule_ports)}]
""")
    for k in range(s["cidr_rules"]):
        block, prefix = cidr(r * s["cidr_rules"] + 1 + k)
        excepts = [f"{prefix}.{j}.0/24" for j in range(s["except_rules"])]
        ex = f", except: {flow(excepts)}" if excepts else ""
        rules.append(f"  - from:\n    - ipBlock: {{cidr: {block}{ex}}}\n"
                     f"    ports: [{', '.join(f'{{protocol: TCP, port: {1001 + j}}}' for j in range(s['single_ports']))}]\n")
    rules.append(monitoring_rule(variant))
    return f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: ingress-{i}-{r}, namespace: {ns_name(i)}}}
spec:
  podSelector:
    matchExpressions: [{{key: num, operator: In, values: {flow(local)}}}]
  policyTypes: [Ingress]
  ingress:
{"".join(rules)}"""


def write_shape(shape, namespaces, root):
    """Writes root/cluster (both tools) and root/prometheus (scrapepath only); returns (pods, policies)."""
    cluster, prom = root / "cluster", root / "prometheus"
    cluster.mkdir(parents=True)
    prom.mkdir()
    (cluster / "monitoring.yaml").write_text("---\n".join(monitoring_docs()))
    (prom / "prometheus.yaml").write_text("---\n".join(prometheus_docs()))
    n = 0
    for i in range(namespaces):
        ns = ns_name(i)
        docs = [namespace_doc(ns)]
        for r in range(1, shape["pods"] + 1):
            n += 1
            docs.append(pod_doc(ns, r, pod_ip(n)))
        docs.append(deny_all_doc(ns))
        docs += [ingress_doc(shape, namespaces, i, r) for r in range(1, shape["netpols"] + 1)]
        (cluster / f"{ns}.yaml").write_text("---\n".join(docs))
    return n, namespaces * (shape["netpols"] + 1)


# ---------------------------------------------------------------------------------------------------------
# Running and comparing


def measured(cmd, timeout, stdout_path):
    """Runs cmd under /usr/bin/time -v: (wall seconds, peak RSS MB, exit code), or None on timeout."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf, open(stdout_path, "w") as out, \
            tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", tf.name, *cmd], stdout=out, stderr=err,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        wall = time.monotonic() - start
        report = tf.read()
        err.seek(0)
        stderr = err.read()
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if rss is None:
        die(f"/usr/bin/time -v printed no peak RSS for {cmd[0]}:\n{report}\n{stderr[-2000:]}")
    return wall, int(rss.group(1)) / 1024, code, stderr


def scrapepath_verdicts(path):
    """{(namespace, pod, port): allowed} of the PodMonitor's targets from `check -o json`."""
    doc = json.loads(Path(path).read_text())
    subjects = [s for s in doc["subjects"]
                if (s["kind"], s["namespace"], s["name"]) == ("PodMonitor", MONITORING, PODMONITOR)]
    if len(subjects) != 1:
        die(f"{path}: check reports {len(subjects)} subjects PodMonitor {MONITORING}/{PODMONITOR}, not one")
    out = {}
    for t in subjects[0]["targets"]:
        if t["scraper"] != f"{MONITORING}/{PROMETHEUS}":
            die(f"{path}: target {t['pod']}:{t['port']} has scraper {t['scraper']}, not {MONITORING}/{PROMETHEUS}")
        ns, pod = t["pod"].split("/", 1)
        out[(ns, pod, t["port"])] = t["network"]["verdict"] == "Allowed"
    return out


def tcp_port_allowed(conn, port):
    """Whether netpol-analyzer's connection string (`All Connections`, `TCP 80,9000-9100,UDP 53`,
    `No Connections`) holds TCP `port`."""
    if conn == "All Connections":
        return True
    if conn == "No Connections":
        return False
    allowed, proto = False, None
    for item in conn.replace(";", ",").split(","):
        item = item.strip()
        m = re.fullmatch(r"(?:(TCP|UDP|SCTP) )?(\d+)(?:-(\d+))?", item)
        if m is None:
            m2 = re.fullmatch(r"(TCP|UDP|SCTP)", item)  # the whole protocol
            if m2 is None:
                die(f"netpol-analyzer connection {conn!r}: cannot read {item!r}")
            proto = m2.group(1)
            allowed |= proto == "TCP"
            continue
        proto = m.group(1) or proto
        lo = int(m.group(2))
        hi = int(m.group(3) or lo)
        allowed |= proto == "TCP" and lo <= port <= hi
    return allowed


def netpol_analyzer_verdicts(path, pods):
    """{(namespace, pod, port): allowed} of the Prometheus pod's connections to every generated pod."""
    text = Path(path).read_text().strip()
    conns = json.loads(text) if text else []
    src_names = {f"{MONITORING}/{PROMETHEUS_WORKLOAD}[StatefulSet]", f"{MONITORING}/{PROMETHEUS_POD}[Pod]"}
    allowed = {}
    for c in conns:
        if c["src"] not in src_names:
            continue
        m = re.fullmatch(r"([^/]+)/(.+)\[Pod\]", c["dst"])
        if m is None:
            continue
        allowed[(m.group(1), m.group(2))] = c["conn"]
    return {(ns, pod, METRICS_PORT): tcp_port_allowed(allowed.get((ns, pod), "No Connections"), METRICS_PORT)
            for ns, pod in pods}


def compare(sp, npa, pods):
    expected = {(ns, pod, METRICS_PORT) for ns, pod in pods}
    problems = []
    missing = sorted(expected - sp.keys())
    extra = sorted(sp.keys() - expected)
    problems += [f"scrapepath reports no target for {ns}/{pod}:{port}" for ns, pod, port in missing[:20]]
    problems += [f"scrapepath reports a target nobody generated: {ns}/{pod}:{port}" for ns, pod, port in extra[:20]]
    mismatches = sorted(k for k in expected & sp.keys() if sp[k] != npa[k])
    for ns, pod, port in mismatches[:50]:
        problems.append(f"{ns}/{pod}:{port}: scrapepath {'Allowed' if sp[(ns, pod, port)] else 'Denied'}, "
                        f"netpol-analyzer {'allowed' if npa[(ns, pod, port)] else 'not allowed'}")
    total = len(missing) + len(extra) + len(mismatches)
    if total > len(problems):
        problems.append(f"... {total - len(problems)} more")
    return problems, sum(1 for k in expected if npa[k])


def machine():
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, AttributeError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help=f"namespaces {FULL_NAMESPACES} instead of {QUICK_NAMESPACES}")
    ap.add_argument("--namespaces", help="comma-separated namespace counts (overrides --full)")
    ap.add_argument("--shapes", default="sparse,dense", help="comma-separated, of: " + ", ".join(SHAPES))
    ap.add_argument("--timeout", type=float, default=900, help="seconds each tool run may take (default 900)")
    ap.add_argument("--unfocused", action="store_true",
                    help="netpol-analyzer lists every pair (its default) instead of the Prometheus workload's egress")
    ap.add_argument("--keep", metavar="DIR", help="write the manifests and outputs under DIR and keep them")
    args = ap.parse_args()

    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    for s in shapes:
        if s not in SHAPES:
            die(f"--shapes: unknown shape {s!r} (known: {', '.join(SHAPES)})")
    try:
        sizes = ([int(x) for x in args.namespaces.split(",")] if args.namespaces
                 else FULL_NAMESPACES if args.full else QUICK_NAMESPACES)
    except ValueError:
        die(f"--namespaces {args.namespaces!r}: expected comma-separated whole numbers")
    if any(n < 1 for n in sizes):
        die(f"--namespaces {args.namespaces!r}: every count must be at least 1")
    if not os.access("/usr/bin/time", os.X_OK):
        die("/usr/bin/time is missing (Debian: apt-get install time): it measures each tool's peak RSS")

    npa_bin = ensure_netpol_analyzer()
    sp_bin = ensure_scrapepath()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="scrapepath-npa-"))
    root.mkdir(parents=True, exist_ok=True)

    mode = "every pair" if args.unfocused else f"--focusworkload {MONITORING}/{PROMETHEUS_WORKLOAD} --focus-direction egress"
    print(f"netpol-analyzer {NPA_VERSION} ({npa_bin}; {mode}) vs scrapepath check ({sp_bin})")
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| shape | namespaces | pods | policies | allowed | scrapepath s | scrapepath MB "
          "| netpol-analyzer s | netpol-analyzer MB | time ratio | memory ratio | verdicts |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    failed = []
    try:
        for shape in shapes:
            for n in sizes:
                d = root / f"{shape}-{n}"
                if d.exists():
                    shutil.rmtree(d)
                pods, policies = write_shape(SHAPES[shape], n, d)
                names = [(ns_name(i), f"test-pod-{r}") for i in range(n) for r in range(1, SHAPES[shape]["pods"] + 1)]
                sp = measured([str(sp_bin), "check", "-f", str(d / "cluster"), str(d / "prometheus"), "-o", "json"],
                              args.timeout, d / "scrapepath.json")
                if sp is None:
                    die(f"{shape} at {n} namespaces: scrapepath check timed out after {args.timeout:g} s")
                if sp[2] not in (0, 1):
                    die(f"{shape} at {n} namespaces: scrapepath check exited {sp[2]}:\n{sp[3][-3000:]}")
                focus = [] if args.unfocused else ["--focusworkload", f"{MONITORING}/{PROMETHEUS_WORKLOAD}",
                                                   "--focus-direction", "egress"]
                npa = measured([str(npa_bin), "list", "--dirpath", str(d / "cluster"), "-o", "json", "-q", *focus],
                               args.timeout, d / "netpol-analyzer.json")
                row = f"| {shape} | {n} | {pods} | {policies} "
                sp_cols = f"| {sp[0]:.2f} | {sp[1]:.0f} "
                if npa is None:
                    print(f"{row}| {sp_cols}| timed out after {args.timeout:g} s | | | | not compared |", flush=True)
                    continue
                if npa[2] != 0:
                    die(f"{shape} at {n} namespaces: netpol-analyzer exited {npa[2]}:\n{npa[3][-3000:]}")
                problems, allowed = compare(scrapepath_verdicts(d / "scrapepath.json"),
                                            netpol_analyzer_verdicts(d / "netpol-analyzer.json", names), names)
                verdict = "agree" if not problems else f"{len(problems)} DISAGREE"
                print(f"{row}| {allowed} {sp_cols}| {npa[0]:.2f} | {npa[1]:.0f} | {npa[0] / sp[0]:.1f}x "
                      f"| {npa[1] / sp[1]:.1f}x | {verdict} |", flush=True)
                if problems:
                    failed.append((shape, n, problems, d))
                elif not args.keep:
                    shutil.rmtree(d)
    finally:
        if not args.keep and not failed:
            shutil.rmtree(root, ignore_errors=True)
    print("\nallowed: pods whose metrics port both tools find open to the Prometheus pod (the rest are denied); "
          "ratios are netpol-analyzer / scrapepath")
    for shape, n, problems, d in failed:
        print(f"\n{shape} at {n} namespaces: the tools disagree (manifests and outputs kept in {d}):")
        for p in problems:
            print(f"  {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
