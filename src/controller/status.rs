//! From an engine verdict to the ScrapeIntent status, and the comparison that decides whether to write it.
//! Pure: the clock comes in as an argument. A condition keeps its `lastTransitionTime` unless its status
//! flips, and a status that differs only in those times is not written.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{
    BlockedBy, ManagedRef, Mode, ResolvedScraper, ScrapeIntent, ScrapeIntentStatus, TargetCounts,
};
use crate::conditions as cond;
use crate::engine::SubjectReport;

/// Kubernetes caps a condition message at 32 KiB.
const MAX_MESSAGE: usize = 32 * 1024;

fn clip(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_string();
    }
    let mut end = MAX_MESSAGE - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// The status the intent should have after this evaluation.
pub fn desired_status(
    si: &ScrapeIntent,
    report: &SubjectReport,
    mode: Mode,
    managed: Vec<ManagedRef>,
    now: &Time,
) -> ScrapeIntentStatus {
    let current = si.status.as_ref();
    let generation = si.metadata.generation;
    let conditions = report
        .conditions
        .iter()
        .map(|c| {
            let previous = current.and_then(|s| s.conditions.iter().find(|p| p.type_ == c.type_));
            let last_transition_time = match previous {
                Some(p) if p.status == c.status => p.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: clip(&c.message),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect();
    let total = report.targets.len() as u32;
    let reachable = report.reachable_targets() as u32;
    ScrapeIntentStatus {
        observed_generation: generation,
        mode: Some(mode.clone()),
        scraper: report.scrapers.first().map(|s| ResolvedScraper {
            // A scraper that is not a prometheus-operator object is kind Pods (DESIGN.md §3); its
            // name is the workload its pods belong to.
            kind: match s.kind.as_str() {
                "Prometheus" | "PrometheusAgent" => s.kind.clone(),
                _ => "Pods".into(),
            },
            namespace: s.namespace.clone(),
            name: s.name.clone(),
        }),
        targets: Some(TargetCounts {
            total,
            reachable,
            summary: format!("{reachable}/{total}"),
        }),
        blocked_by: report
            .blocked_by
            .iter()
            .map(|(r, why)| BlockedBy {
                kind: r.kind.to_string(),
                namespace: (!r.namespace.is_empty()).then(|| r.namespace.clone()),
                name: r.name.clone(),
                reason: clip(why),
            })
            .collect(),
        managed,
        remediation: if mode == Mode::Report {
            report.remediation.clone()
        } else {
            Vec::new()
        },
        conditions,
    }
}

/// Whether writing `desired` would change anything but timestamps.
pub fn status_changed(current: Option<&ScrapeIntentStatus>, desired: &ScrapeIntentStatus) -> bool {
    let Some(current) = current else {
        return true;
    };
    let strip = |s: &ScrapeIntentStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(Default::default());
        }
        s.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        s
    };
    strip(current) != strip(desired)
}

/// A change worth an Event: the `Ready` condition's status or reason moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub ready: bool,
    pub reason: String,
    pub message: String,
}

pub fn ready_transition(
    current: Option<&ScrapeIntentStatus>,
    desired: &ScrapeIntentStatus,
) -> Option<Transition> {
    let find = |s: &ScrapeIntentStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == cond::READY)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let new = find(desired)?;
    let old = current.and_then(find);
    if old.as_ref().map(|(s, r, _)| (s, r)) == Some((&new.0, &new.1)) {
        return None;
    }
    Some(Transition {
        ready: new.0 == "True",
        reason: new.1,
        message: new.2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ConditionOut;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn report(conds: &[(&str, &str, &str)]) -> SubjectReport {
        SubjectReport {
            kind: "ScrapeIntent".into(),
            namespace: "ns".into(),
            name: "i".into(),
            ready: false,
            conditions: conds
                .iter()
                .map(|(t, s, r)| ConditionOut {
                    type_: t.to_string(),
                    status: s.to_string(),
                    reason: r.to_string(),
                    message: format!("{t} is {s}"),
                })
                .collect(),
            scrapers: vec![],
            targets: vec![],
            remediation: vec![],
            mode: Some(Mode::Report),
            blocked_by: vec![],
        }
    }

    fn intent_with(status: Option<ScrapeIntentStatus>) -> ScrapeIntent {
        let mut si: ScrapeIntent = serde_json::from_value(serde_json::json!({
            "apiVersion": "scrapepath.io/v1alpha1", "kind": "ScrapeIntent",
            "metadata": {"name": "i", "namespace": "ns", "generation": 3},
            "spec": {"selector": {"matchLabels": {"app": "a"}}, "endpoints": [{"port": "http"}]}
        }))
        .unwrap();
        si.status = status;
        si
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let t0 = time("2026-11-01T00:00:00Z");
        let t1 = time("2026-11-02T00:00:00Z");
        let first = desired_status(
            &intent_with(None),
            &report(&[("NetworkReachable", "False", "BlockedByPolicy")]),
            Mode::Report,
            vec![],
            &t0,
        );
        // Same status, new reason: the time stays; the reason moves.
        let second = desired_status(
            &intent_with(Some(first.clone())),
            &report(&[("NetworkReachable", "False", "DeniedByRule")]),
            Mode::Report,
            vec![],
            &t1,
        );
        assert_eq!(second.conditions[0].last_transition_time, t0);
        assert_eq!(second.conditions[0].reason, "DeniedByRule");
        assert!(status_changed(Some(&first), &second));
        // Status flips: the time moves.
        let third = desired_status(
            &intent_with(Some(second.clone())),
            &report(&[("NetworkReachable", "True", "Reachable")]),
            Mode::Report,
            vec![],
            &t1,
        );
        assert_eq!(third.conditions[0].last_transition_time, t1);
        assert_eq!(third.conditions[0].observed_generation, Some(3));
    }

    #[test]
    fn a_status_that_differs_only_in_timestamps_is_not_written() {
        let r = report(&[("Ready", "False", "BlockedByPolicy")]);
        let a = desired_status(
            &intent_with(None),
            &r,
            Mode::Report,
            vec![],
            &time("2026-11-01T00:00:00Z"),
        );
        let mut b = a.clone();
        b.conditions[0].last_transition_time = time("2026-11-05T00:00:00Z");
        assert!(!status_changed(Some(&a), &b));
        assert!(status_changed(None, &b));
    }

    #[test]
    fn ready_transitions_are_reported_once() {
        let t = time("2026-11-01T00:00:00Z");
        let not_ready = desired_status(
            &intent_with(None),
            &report(&[("Ready", "False", "BlockedByPolicy")]),
            Mode::Report,
            vec![],
            &t,
        );
        let tr = ready_transition(None, &not_ready).unwrap();
        assert!(!tr.ready);
        assert_eq!(tr.reason, "BlockedByPolicy");
        assert_eq!(ready_transition(Some(&not_ready), &not_ready), None);
        let ready = desired_status(
            &intent_with(None),
            &report(&[("Ready", "True", "Ready")]),
            Mode::Report,
            vec![],
            &t,
        );
        assert!(ready_transition(Some(&not_ready), &ready).unwrap().ready);
    }

    #[test]
    fn report_mode_lists_the_remediation_and_enforce_does_not() {
        let mut r = report(&[]);
        r.remediation = vec![serde_json::json!({"kind": "CiliumNetworkPolicy"})];
        let t = time("2026-11-01T00:00:00Z");
        let rep = desired_status(&intent_with(None), &r, Mode::Report, vec![], &t);
        assert_eq!(rep.remediation.len(), 1);
        let enf = desired_status(&intent_with(None), &r, Mode::Enforce, vec![], &t);
        assert!(enf.remediation.is_empty());
    }

    #[test]
    fn long_messages_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE);
        let c = clip(&long);
        assert!(c.len() <= MAX_MESSAGE);
        assert!(c.ends_with("..."));
    }
}
