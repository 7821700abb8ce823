//! `scrapepath check -f -`: manifests as CI pipelines produce them, piped from the real tools the harness
//! builds from Go modules — `helm template` (helm v3, `tests/harness/helm.sh`) and `kubectl kustomize`
//! (kubectl of k8s.io/kubernetes, `tests/harness/ensure.sh`) — on the chart and the kustomization of
//! `tests/fixtures/pipelines/` (see its README for what each renders and why).
//!
//! Each test runs a real pipe (the tool's stdout is the binary's stdin) and asserts the verdict (from
//! `-o json`, the contract) and the exit code; bad input on stdin exits 2 naming `<stdin>` and the
//! document, and a chart that renders nothing exits 2 "no objects".

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/pipelines")
}

/// Runs a harness script and returns the value of its `KEY=` line.
fn harness_bin(script: &str, key: &str) -> PathBuf {
    let script = repo().join("tests/harness").join(script);
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed: the pipeline tests build their tools from Go modules and need Go and the Go module \
         proxy:\n{stderr}",
        script.display()
    );
    let prefix = format!("{key}=");
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| {
            panic!(
                "{} printed no {key}=:\n{stdout}\n{stderr}",
                script.display()
            )
        });
    PathBuf::from(path)
}

/// `helm`, built once by tests/harness/helm.sh.
fn helm() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| harness_bin("helm.sh", "HELM_BIN"))
}

/// `kubectl`, built once by tests/harness/ensure.sh (with the test API server, from k8s.io/kubernetes).
fn kubectl() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| harness_bin("ensure.sh", "KUBECTL_BIN"))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `TOOL ARGS... | scrapepath check CHECK_ARGS...`, a real pipe; the tool must succeed.
fn pipe(tool: &Path, args: &[&str], check_args: &[&str]) -> Run {
    let mut producer = Command::new(tool)
        .args(args)
        .current_dir(fixtures())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.display()));
    let out = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .arg("check")
        .args(check_args)
        .current_dir(fixtures())
        .stdin(Stdio::from(producer.stdout.take().unwrap()))
        .output()
        .expect("run scrapepath");
    let produced = producer.wait_with_output().unwrap();
    assert!(
        produced.status.success(),
        "{} {args:?} failed: {}",
        tool.display(),
        String::from_utf8_lossy(&produced.stderr)
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `scrapepath check CHECK_ARGS...` with `input` on stdin.
fn check_stdin(input: &str, check_args: &[&str]) -> Run {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scrapepath"))
        .arg("check")
        .args(check_args)
        .current_dir(fixtures())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run scrapepath");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// What a test expects of one subject: whether it is Ready, and the reason of each layer that fails
/// (in layer order). Kept as data so the expectations are easy to update when the analysis changes
/// (e.g. once the fixtures' Pods become Deployments).
struct Verdict {
    subject: &'static str,
    ready: bool,
    failing: &'static [(&'static str, &'static str)],
    targets: usize,
}

fn assert_verdicts(run: &Run, want_code: i32, want: &[Verdict]) {
    assert_eq!(
        run.code, want_code,
        "exit code; stderr:\n{}\nstdout:\n{}",
        run.stderr, run.stdout
    );
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("-o json: {e}:\n{}", run.stdout));
    let subjects = report["subjects"].as_array().unwrap();
    let names: Vec<String> = subjects
        .iter()
        .map(|s| format!("{} {}/{}", s["kind"], s["namespace"], s["name"]).replace('"', ""))
        .collect();
    assert_eq!(
        names,
        want.iter().map(|v| v.subject).collect::<Vec<_>>(),
        "subjects"
    );
    for (s, v) in subjects.iter().zip(want) {
        assert_eq!(s["ready"], v.ready, "{}: ready", v.subject);
        let failing: Vec<(String, String)> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "False" && c["type"] != "Ready")
            .map(|c| {
                (
                    c["type"].as_str().unwrap().to_string(),
                    c["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want_failing: Vec<(String, String)> = v
            .failing
            .iter()
            .map(|(t, r)| (t.to_string(), r.to_string()))
            .collect();
        assert_eq!(failing, want_failing, "{}: failing layers", v.subject);
        assert_eq!(
            s["targets"].as_array().unwrap().len(),
            v.targets,
            "{}: targets",
            v.subject
        );
    }
}

/// The policies that decide the network verdict of a subject's denied targets.
fn denied_by(run: &Run) -> Vec<String> {
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut out: Vec<String> = report["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["targets"].as_array().unwrap())
        .filter(|t| t["network"]["verdict"] == "Denied")
        .flat_map(|t| t["network"]["decidedBy"].as_array().unwrap())
        .map(|r| format!("{} {}/{}", r["kind"], r["namespace"], r["name"]).replace('"', ""))
        .collect();
    out.dedup();
    out
}

// ---- helm template | scrapepath check -f - ----

#[test]
fn helm_template_of_the_chart_is_ready() {
    let run = pipe(
        helm(),
        &["template", "shop", "chart", "--namespace", "shop"],
        &["-f", "-", "-o", "json"],
    );
    assert_verdicts(
        &run,
        0,
        &[Verdict {
            subject: "PodMonitor shop/orders",
            ready: true,
            failing: &[],
            targets: 2,
        }],
    );
}

#[test]
fn helm_template_without_the_prometheus_rule_is_blocked_by_the_charts_policy() {
    let args = [
        "template",
        "shop",
        "chart",
        "--namespace",
        "shop",
        "--set",
        "networkPolicy.allowPrometheus=false",
    ];
    let run = pipe(helm(), &args, &["-f", "-", "-o", "json"]);
    assert_verdicts(
        &run,
        1,
        &[Verdict {
            subject: "PodMonitor shop/orders",
            ready: false,
            failing: &[("NetworkReachable", "BlockedByPolicy")],
            targets: 2,
        }],
    );
    assert_eq!(
        denied_by(&run),
        ["CiliumNetworkPolicy shop/orders-isolation"]
    );
    // The text report leads with the cause and names the rule.
    let text = pipe(helm(), &args, &["-f", "-"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout
            .contains("CiliumNetworkPolicy shop/orders-isolation spec.ingress[0]"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_chart_that_renders_nothing_is_bad_input() {
    let run = pipe(
        helm(),
        &[
            "template",
            "shop",
            "chart",
            "--namespace",
            "shop",
            "--set",
            "enabled=false",
        ],
        &["-f", "-"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("no objects in <stdin>"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_rendered_object_the_api_server_would_refuse_names_stdin_document_and_field() {
    // A port name where a number belongs: helm renders it, the API server (and `check`) refuse it.
    let run = pipe(
        helm(),
        &[
            "template",
            "shop",
            "chart",
            "--namespace",
            "shop",
            "--set",
            "metricsPort=metrics",
        ],
        &["-f", "-"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("scrapepath: <stdin>: document ")
                && l.contains("Deployment shop/orders: spec.template.spec.containers[0].ports[1].containerPort")),
        "{}",
        run.stderr
    );
}

// ---- kubectl kustomize | scrapepath check -f - ----

#[test]
fn kustomize_base_lacks_the_label_its_prometheus_selects_on() {
    let run = pipe(
        kubectl(),
        &["kustomize", "kustomize/base"],
        &["-f", "-", "-o", "json"],
    );
    assert_verdicts(
        &run,
        1,
        &[Verdict {
            subject: "PodMonitor payments/ledger",
            ready: false,
            failing: &[("MonitorSelected", "LabelsMismatch")],
            targets: 2,
        }],
    );
}

#[test]
fn kustomize_prod_overlay_adds_the_label_and_an_isolation_that_admits_prometheus() {
    let run = pipe(
        kubectl(),
        &["kustomize", "kustomize/overlays/prod"],
        &["-f", "-", "-o", "json"],
    );
    assert_verdicts(
        &run,
        0,
        &[Verdict {
            subject: "PodMonitor payments/ledger",
            ready: true,
            failing: &[],
            targets: 2,
        }],
    );
}

#[test]
fn stdin_and_files_together_make_one_input() {
    // The file's policy blocks what stdin's PodMonitor scrapes: the verdict needs both inputs.
    let run = pipe(
        kubectl(),
        &["kustomize", "kustomize/base"],
        &["-f", "lockdown.yaml", "-f", "-", "-o", "json"],
    );
    assert_verdicts(
        &run,
        1,
        &[Verdict {
            subject: "PodMonitor payments/ledger",
            ready: false,
            failing: &[
                ("MonitorSelected", "LabelsMismatch"),
                ("NetworkReachable", "BlockedByPolicy"),
            ],
            targets: 2,
        }],
    );
    assert_eq!(
        denied_by(&run),
        ["CiliumNetworkPolicy payments/payments-lockdown"]
    );
}

// ---- bad input on stdin ----

#[test]
fn malformed_yaml_on_stdin_names_stdin_and_the_document() {
    let run = check_stdin(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: [unclosed\n",
        &["-f", "lockdown.yaml", "-f", "-"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("scrapepath: <stdin>: document 2: invalid YAML"),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_stdin_is_no_objects() {
    let run = check_stdin("", &["-f", "-"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no objects in <stdin>"),
        "{}",
        run.stderr
    );
}

#[test]
fn stdin_can_be_given_once() {
    let run = check_stdin("", &["-f", "-", "-f", "-"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("standard input can be read only once"),
        "{}",
        run.stderr
    );
}
