//! The CI gate (`scrapepath check --baseline`) end to end, on fixtures copied from
//! `deploy/examples/blog-system` and edited: a breaking change fails naming the policy and rule, its fix
//! passes and is reported fixed, an unrelated change passes; bad baselines exit 2. And the examples under
//! `examples/ci/`: the GitHub Actions workflow by running its steps' `run:` commands in a temporary git
//! repository (as the runner would, without the runner), the pre-commit hook by committing in one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_scrapepath"))
}

/// A fresh temporary directory (removed on drop).
struct Temp(PathBuf);

impl Temp {
    fn new(tag: &str) -> Temp {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "scrapepath-gate-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Temp(dir)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The seed 000 manifests: `blog-system` (broken) or `blog-system/fixed`, top-level files only.
fn seed(fixed: bool) -> BTreeMap<String, String> {
    example("blog-system", fixed)
}

/// An example's manifests (or its `fixed/` ones), top-level files only.
fn example(name: &str, fixed: bool) -> BTreeMap<String, String> {
    let dir = root().join("deploy/examples").join(name);
    let dir = if fixed { dir.join("fixed") } else { dir };
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// The fixed seed with was-isolation's metrics rule put back to `fromEndpoints: [{}]` (the regression).
fn regressed() -> BTreeMap<String, String> {
    let mut files = seed(true);
    let policies = files.get_mut("policies.yaml").unwrap();
    let fixed_rule = "  - fromEntities:\n    - cluster  # 클러스터 내부 모든 namespace 허용\n";
    assert!(
        policies.contains(fixed_rule),
        "the fixed rule is in the example"
    );
    *policies = policies.replacen(fixed_rule, "  - fromEndpoints:\n    - {}\n", 1);
    files
}

/// The fixed seed with a change that touches no scrape: a label on a Namespace.
fn unrelated() -> BTreeMap<String, String> {
    let mut files = seed(true);
    let ns = files.get_mut("namespaces.yaml").unwrap();
    let at = "    kubernetes.io/metadata.name: istio-system\n";
    assert!(ns.contains(at));
    *ns = ns.replacen(at, &format!("{at}    team: platform\n"), 1);
    files
}

fn write(dir: &Path, files: &BTreeMap<String, String>) {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::remove_file(p).unwrap();
        }
    }
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `scrapepath check -f head --baseline base ARGS`, from `cwd`.
fn gate(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    text(
        &Command::new(bin())
            .arg("check")
            .args(args)
            .current_dir(cwd)
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap(),
    )
}

/// base/ and head/ under a temporary directory.
fn revisions(base: &BTreeMap<String, String>, head: &BTreeMap<String, String>) -> Temp {
    let t = Temp::new("rev");
    write(&t.0.join("base"), base);
    write(&t.0.join("head"), head);
    t
}

#[test]
fn gate_breaking_change_fails_naming_the_policy_and_rule() {
    let t = revisions(&seed(true), &regressed());
    let (code, out, err) = gate(&t.0, &["-f", "head", "--baseline", "base"]);
    assert_eq!(code, 1, "breakage exits 1\n{out}\n{err}");
    assert!(out.contains("BROKEN by this change"), "{out}");
    assert!(
        out.contains(
            "blame: CiliumNetworkPolicy blog-system/was-isolation spec.ingress[2] (head/policies.yaml:35) [modified by this change]"
        ),
        "the policy, rule, file and line to blame\n{out}"
    );
    assert!(
        out.contains("2 targets of Deployment blog-system/was port 15090 (http-envoy-prom)"),
        "two replicas are one line with a count\n{out}"
    );
    assert!(out.contains("2 scrapeable -> 2 network Denied"), "{out}");
    // web is untouched: neither broken nor listed.
    assert!(!out.contains("blog-system/web "), "{out}");
    assert!(
        out.contains("gate: FAIL: 1 broken, 0 fixed, 0 pre-existing; 1 object(s) changed"),
        "{out}"
    );

    // The JSON contract, extended by `gate`.
    let (code, out, _) = gate(&t.0, &["-f", "head", "--baseline", "base", "-o", "json"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["subjects"][0]["name"], "istio-proxies",
        "the §7 report is still there"
    );
    let broken = &v["gate"]["broken"][0];
    assert_eq!(broken["what"], "TargetBlocked");
    assert_eq!(broken["layer"], "NetworkReachable");
    assert_eq!(broken["target"]["workload"]["name"], "was");
    assert_eq!(broken["target"]["count"], 2);
    assert_eq!(broken["blame"][0]["name"], "was-isolation");
    assert_eq!(broken["blame"][0]["rule"], "spec.ingress[2]");
    assert_eq!(broken["blame"][0]["change"], "modified");
    assert_eq!(broken["blame"][0]["file"], "head/policies.yaml");
    assert_eq!(broken["blame"][0]["line"], 35);
    assert_eq!(v["gate"]["fixed"], Value::Array(vec![]));
    assert_eq!(v["gate"]["changedObjects"][0]["name"], "was-isolation");

    // GitHub annotations at the rule, and JUnit.
    let junit = t.0.join("junit.xml");
    let (code, out, _) = gate(
        &t.0,
        &[
            "-f",
            "head",
            "--baseline",
            "base",
            "-o",
            "github",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let error = out.lines().find(|l| l.starts_with("::error ")).expect(&out);
    assert!(
        error.starts_with("::error file=head/policies.yaml,line=35,title=scrapepath%3A PodMonitor monitoring/istio-proxies%3A 2 targets of Deployment blog-system/was"),
        "{error}"
    );
    assert!(
        error.contains(
            "spec.ingress[2]: fromEndpoints [{}] admits only pods of namespace blog-system"
        ),
        "{error}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("::")).count(),
        1,
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuite name="scrapepath check --baseline" tests="1" failures="1""#),
        "{xml}"
    );
    assert!(xml.contains(r#"<testcase classname="PodMonitor" name="monitoring/istio-proxies" file="head/policies.yaml" line="35">"#), "{xml}");
    assert!(xml.contains(r#"<failure type="NetworkReachable""#), "{xml}");
}

#[test]
fn gate_removing_the_scrapers_role_binding_fails_on_discovery() {
    // Seed 005: the Role and RoleBinding that let the scraper discover shop are deleted.
    let t = revisions(
        &example("seed-005-scraper-rbac", true),
        &example("seed-005-scraper-rbac", false),
    );
    let (code, out, err) = gate(&t.0, &["-f", "head", "--baseline", "base"]);
    assert_eq!(code, 1, "breakage exits 1\n{out}\n{err}");
    assert!(
        out.contains("ServiceMonitor shop/api: DiscoveryPermitted: True (Permitted) -> False (DiscoveryForbidden)"),
        "{out}"
    );
    assert!(
        out.contains("blame: RoleBinding shop/prometheus-k8s-discovery [removed by this change]"),
        "{out}"
    );
    assert!(out.contains("gate: FAIL: 2 broken"), "{out}");
}

#[test]
fn gate_fix_passes_and_is_reported_fixed() {
    let t = revisions(&seed(false), &seed(true));
    let (code, out, err) = gate(&t.0, &["-f", "head", "--baseline", "base"]);
    assert_eq!(code, 0, "a fix passes\n{out}\n{err}");
    assert!(out.contains("FIXED by this change"), "{out}");
    assert!(!out.contains("BROKEN"), "{out}");
    for fixed in [
        "2 targets of Deployment blog-system/was port 15090 (http-envoy-prom) /stats/prometheus <- monitoring/kube-prometheus-stack-prometheus: 2 network Denied -> 2 scrapeable",
        "2 targets of Deployment blog-system/web port 15090 (http-envoy-prom) /stats/prometheus <- monitoring/kube-prometheus-stack-prometheus: 2 network Denied -> 2 scrapeable",
        "MonitorSelected: False (LabelsMismatch) -> True (Selected)",
    ] {
        assert!(out.contains(fixed), "{fixed}\n{out}");
    }
    let (code, out, _) = gate(&t.0, &["-f", "head", "--baseline", "base", "-o", "github"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("::notice ")).count(),
        3,
        "{out}"
    );
    assert!(!out.contains("::error"), "{out}");
}

#[test]
fn gate_unrelated_change_passes_and_preexisting_failures_do_not_fail() {
    // On the fixed seed: nothing to report.
    let t = revisions(&seed(true), &unrelated());
    let (code, out, err) = gate(&t.0, &["-f", "head", "--baseline", "base"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("gate: PASS: 0 broken, 0 fixed, 0 pre-existing; 1 object(s) changed"),
        "{out}"
    );

    // On the broken seed: the failures are pre-existing, listed, and pass.
    let mut head = seed(false);
    let ns = head.get_mut("namespaces.yaml").unwrap();
    *ns = ns.replacen(
        "    kubernetes.io/metadata.name: istio-system\n",
        "    kubernetes.io/metadata.name: istio-system\n    team: platform\n",
        1,
    );
    let t = revisions(&seed(false), &head);
    let (code, out, err) = gate(&t.0, &["-f", "head", "--baseline", "base"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("PRE-EXISTING"), "{out}");
    assert!(
        out.contains("gate: PASS: 0 broken, 0 fixed, 3 pre-existing"),
        "{out}"
    );
    // Without the gate, the same head fails.
    let (code, _, _) = gate(&t.0, &["-f", "head"]);
    assert_eq!(code, 1);
}

#[test]
fn gate_bad_input_exits_2_naming_file_document_and_field() {
    let t = revisions(&seed(true), &seed(true));
    let (code, _, err) = gate(&t.0, &["-f", "head", "--baseline", "nowhere"]);
    assert_eq!(code, 2);
    assert!(err.contains("--baseline nowhere"), "{err}");

    // A baseline the API server would refuse: file, document and field.
    let mut bad = seed(true);
    let ns = bad.get_mut("namespaces.yaml").unwrap();
    *ns = ns.replacen("name: istio-system\n", "name: Istio_System\n", 1);
    write(&t.0.join("base"), &bad);
    let (code, out, err) = gate(&t.0, &["-f", "head", "--baseline", "base"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("scrapepath: baseline: base/namespaces.yaml: document 3")
            && err.contains("metadata.name"),
        "{err}"
    );

    // A baseline that holds no object (the change adds the first manifests): everything is new.
    std::fs::create_dir_all(t.0.join("empty")).unwrap();
    let (code, out, err) = gate(&t.0, &["-f", "head", "--baseline", "empty"]);
    assert_eq!(
        code, 0,
        "the fixed seed brings nothing broken\n{out}\n{err}"
    );
    assert!(err.contains("the baseline holds no object"), "{err}");

    // `-o github` is the gate's; --junit too.
    let (code, _, err) = gate(&t.0, &["-f", "head", "-o", "github"]);
    assert_eq!(code, 2);
    assert!(err.contains("needs --baseline"), "{err}");
    let (code, _, _) = gate(&t.0, &["-f", "head", "--junit", "x.xml"]);
    assert_eq!(code, 2);
}

// ---------------------------------------------------------------------------------------------------------
// examples/ci in temporary git repositories.

fn git(repo: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn init_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
}

/// PATH with the built scrapepath first.
fn path_with_bin() -> String {
    let dir = bin().parent().unwrap().to_path_buf();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs the workflow's steps in a repository whose HEAD is the pull request and whose `main` is its base,
/// as the runner would: the job's and the step's `env:` (the expressions given their values), `bash -e
/// -o pipefail`, in the workspace. `uses:` steps are what the runner provides (the checkout is the
/// repository itself) and are skipped. Returns each step's name and output, stopping at the first failure.
fn run_workflow(repo: &Path, runner_temp: &Path, base_sha: &str) -> Vec<(String, i32, String)> {
    let yaml = std::fs::read_to_string(root().join("examples/ci/scrapepath-gate.yml")).unwrap();
    let wf: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let job = &wf["jobs"]["gate"];
    let expressions: BTreeMap<&str, String> = [
        ("github.event.pull_request.base.sha", base_sha.to_string()),
        ("runner.temp", runner_temp.display().to_string()),
    ]
    .into_iter()
    .collect();
    let eval = |v: &serde_yaml_ng::Value| -> String {
        let s = match v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            other => serde_yaml_ng::to_string(other).unwrap().trim().to_string(),
        };
        let mut out = s.clone();
        while let Some(start) = out.find("${{") {
            let end = out[start..].find("}}").expect("closed expression") + start;
            let expr = out[start + 3..end].trim();
            let value = expressions
                .get(expr)
                .unwrap_or_else(|| panic!("the test knows no value for ${{{{ {expr} }}}}"));
            out.replace_range(start..end + 2, value);
        }
        out
    };
    let env_of = |v: &serde_yaml_ng::Value| -> Vec<(String, String)> {
        v.as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().unwrap().to_string(), eval(v)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let job_env = env_of(&job["env"]);
    let summary = runner_temp.join("step-summary.md");
    let mut results = Vec::new();
    for step in job["steps"].as_sequence().unwrap() {
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        assert!(
            !script.contains("${{"),
            "expressions go through env:, never into run: (script injection)\n{script}"
        );
        let mut cmd = Command::new("bash");
        cmd.args([
            "--noprofile",
            "--norc",
            "-e",
            "-o",
            "pipefail",
            "-c",
            script,
        ])
        .current_dir(repo)
        .env("PATH", path_with_bin())
        .env("GITHUB_WORKSPACE", repo)
        .env("GITHUB_ACTIONS", "true")
        .env("RUNNER_TEMP", runner_temp)
        .env("GITHUB_STEP_SUMMARY", &summary);
        for (k, v) in job_env.iter().chain(&env_of(&step["env"])) {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        let (code, out, err) = text(&o);
        let name = step["name"].as_str().unwrap_or("?").to_string();
        results.push((name, code, format!("{out}{err}")));
        if code != 0 {
            break;
        }
    }
    results
}

/// A repository with the fixed seed on `main` under `deploy/`, and a branch `pr` with `head` committed.
fn pr_repo(base: &BTreeMap<String, String>, head: &BTreeMap<String, String>) -> (Temp, String) {
    let t = Temp::new("wf");
    let repo = t.0.join("repo");
    init_repo(&repo);
    std::fs::write(repo.join("README.md"), "gitops\n").unwrap();
    write(&repo.join("deploy"), base);
    git(&repo, &["add", "README.md", "deploy"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let base_sha = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "-b", "pr"]);
    write(&repo.join("deploy"), head);
    git(&repo, &["add", "deploy"]);
    git(&repo, &["commit", "-q", "-m", "change"]);
    std::fs::create_dir_all(t.0.join("runner-temp")).unwrap();
    (t, base_sha)
}

#[test]
fn gate_github_workflow_steps_run_in_a_repository() {
    // The regression: the Gate step fails, with an annotation at the rule.
    let (t, base) = pr_repo(&seed(true), &regressed());
    let steps = run_workflow(&t.0.join("repo"), &t.0.join("runner-temp"), &base);
    let names: Vec<&str> = steps.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        ["Install scrapepath", "Check out the base revision", "Gate"],
        "{steps:#?}"
    );
    let (_, code, out) = &steps[2];
    assert_eq!(*code, 1, "{out}");
    assert!(
        out.contains("::error file=deploy/policies.yaml,line=35,title=scrapepath%3A PodMonitor monitoring/istio-proxies"),
        "a repository-relative annotation at the rule\n{out}"
    );
    assert!(
        out.contains("CiliumNetworkPolicy blog-system/was-isolation spec.ingress[2]"),
        "{out}"
    );
    let summary = std::fs::read_to_string(t.0.join("runner-temp/step-summary.md")).unwrap();
    assert!(
        summary.contains("### scrapepath gate: **FAIL**"),
        "{summary}"
    );
    assert!(t.0.join("runner-temp/scrapepath-gate.xml").is_file());

    // The fix passes.
    let (t, base) = pr_repo(&seed(false), &seed(true));
    let steps = run_workflow(&t.0.join("repo"), &t.0.join("runner-temp"), &base);
    assert_eq!(steps.len(), 3);
    assert!(steps.iter().all(|s| s.1 == 0), "{steps:#?}");
    assert!(
        steps[2].2.contains("::notice file=deploy/policies.yaml"),
        "{}",
        steps[2].2
    );

    // An unrelated change passes.
    let (t, base) = pr_repo(&seed(true), &unrelated());
    let steps = run_workflow(&t.0.join("repo"), &t.0.join("runner-temp"), &base);
    assert!(steps.iter().all(|s| s.1 == 0), "{steps:#?}");
    assert!(
        steps[2].2.contains("gate: PASS: 0 broken"),
        "{}",
        steps[2].2
    );

    // The first manifests: the base has no deploy/ at all.
    let t = Temp::new("wf-first");
    let repo = t.0.join("repo");
    init_repo(&repo);
    std::fs::write(repo.join("README.md"), "gitops\n").unwrap();
    git(&repo, &["add", "README.md"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let base = git(&repo, &["rev-parse", "HEAD"]);
    write(&repo.join("deploy"), &seed(true));
    git(&repo, &["add", "deploy"]);
    git(&repo, &["commit", "-q", "-m", "first manifests"]);
    std::fs::create_dir_all(t.0.join("runner-temp")).unwrap();
    let steps = run_workflow(&repo, &t.0.join("runner-temp"), &base);
    assert!(steps.iter().all(|s| s.1 == 0), "{steps:#?}");
}

fn hook(repo: &Path) -> (i32, String, String) {
    text(
        &Command::new(root().join("examples/ci/pre-commit"))
            .current_dir(repo)
            .env("PATH", path_with_bin())
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap(),
    )
}

#[test]
fn gate_pre_commit_hook_gates_the_staged_manifests() {
    let t = Temp::new("hook");
    let repo = t.0.join("repo");
    init_repo(&repo);
    write(&repo.join("deploy"), &seed(true));
    git(&repo, &["add", "deploy"]);
    git(&repo, &["commit", "-q", "-m", "base"]);

    // Nothing staged: nothing to gate.
    assert_eq!(hook(&repo).0, 0);

    // A breaking change staged: refused, naming the policy and rule at the repository's path.
    write(&repo.join("deploy"), &regressed());
    git(&repo, &["add", "deploy"]);
    let (code, out, err) = hook(&repo);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("blame: CiliumNetworkPolicy blog-system/was-isolation spec.ingress[2] (deploy/policies.yaml:35) [modified by this change]"),
        "{out}"
    );
    assert!(err.contains("the staged manifests break scraping"), "{err}");

    // Installed as the repository's hook, it stops `git commit`.
    let hooks = repo.join(".git/hooks");
    std::fs::copy(
        root().join("examples/ci/pre-commit"),
        hooks.join("pre-commit"),
    )
    .unwrap();
    let o = Command::new("git")
        .args(["commit", "-q", "-m", "break"])
        .current_dir(&repo)
        .env("PATH", path_with_bin())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A non-breaking change staged, the breaking one left in the working tree only: what is committed
    // is gated, and passes.
    git(&repo, &["reset", "-q"]);
    write(&repo.join("deploy"), &unrelated());
    git(&repo, &["add", "deploy"]);
    write(&repo.join("deploy"), &regressed());
    let (code, out, err) = hook(&repo);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("gate: PASS: 0 broken"), "{out}");
    let o = Command::new("git")
        .args(["commit", "-q", "-m", "label"])
        .current_dir(&repo)
        .env("PATH", path_with_bin())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The pre-commit framework's hook definition runs this script.
    let hooks: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("examples/ci/.pre-commit-hooks.yaml")).unwrap(),
    )
    .unwrap();
    let h = &hooks[0];
    assert_eq!(h["id"], "scrapepath-gate");
    assert_eq!(h["pass_filenames"], false);
    let entry = root().join(h["entry"].as_str().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&entry).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{} is executable", entry.display());
    }
}
