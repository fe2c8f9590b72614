//! The summary table `adc imp` prints.

use crate::run::Finished;
use std::fmt::Write;

pub fn table(f: &Finished) -> String {
    let (r, c) = (&f.report, &f.report.counts);
    let mode = match f.dry_run {
        Some(true) => "dry run: nothing applied",
        Some(false) => "applied",
        None => "not started",
    };
    let duration = f
        .duration
        .map(|d| format!("{:.1} s", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into());
    let mut out = String::new();
    for (k, v) in [
        ("run", f.run_id.to_string()),
        ("mode", mode.to_owned()),
        ("duration", duration),
    ] {
        let _ = writeln!(out, "{k:<18} {v}");
    }
    let rows = [
        ("status", r.status.clone()),
        ("read", c.read.to_string()),
        ("created", c.created.to_string()),
        ("updated", c.updated.to_string()),
        ("deleted", c.deleted.to_string()),
        ("disabled", c.disabled.to_string()),
        ("unchanged", c.unchanged.to_string()),
        ("skipped by policy", c.skipped.to_string()),
        ("conflicts", c.conflicts.to_string()),
        ("errors", c.errors.to_string()),
        ("held deletions", c.held.to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<18} {v:>10}");
    }
    // Groups, when the run read any (adc.yaml has a `groups` section).
    let groups = [
        ("groups read", c.groups_read),
        ("groups created", c.groups_created),
        ("groups updated", c.groups_updated),
        ("groups deleted", c.groups_deleted),
        ("groups disabled", c.groups_disabled),
        ("groups unchanged", c.groups_unchanged),
        ("members added", c.members_added),
        ("members removed", c.members_removed),
        ("members unresolved", c.members_unresolved),
    ];
    if groups.iter().any(|(_, v)| *v > 0) {
        for (k, v) in groups {
            let _ = writeln!(out, "{k:<18} {v:>10}");
        }
    }
    let read = match (r.read_kind.as_deref(), r.read_reason.as_deref()) {
        (Some("delta"), None) => Some("only what changed since the last run".to_owned()),
        (Some("delta"), Some(why)) => Some(format!("only what changed since the last run; {why}")),
        (Some(_), None) => Some("every entry".to_owned()),
        (Some(_), Some(why)) => Some(format!("every entry: {why}")),
        (None, _) => None,
    };
    if let Some(read) = read {
        let _ = writeln!(out, "{:<18} {read}", "directory read");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "{:<18} {e}", "reason");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use adc_shared::protocol::RunSummary;

    #[test]
    fn the_table_says_which_run_whether_it_applied_and_lines_up_every_count() {
        let mut report = RunSummary {
            status: "succeeded".into(),
            ..Default::default()
        };
        report.counts.created = 12345;
        let f = Finished {
            run_id: uuid::Uuid::nil(),
            dry_run: Some(true),
            duration: Some(std::time::Duration::from_millis(1540)),
            report,
        };
        let t = table(&f);
        assert!(
            t.starts_with("run                00000000-0000-0000-0000-000000000000\n"),
            "{t}"
        );
        assert!(
            t.contains("mode               dry run: nothing applied\n"),
            "{t}"
        );
        assert!(t.contains("duration           1.5 s\n"), "{t}");
        assert!(t.contains("created                 12345\n"), "{t}");
        assert_eq!(t.lines().count(), 14, "no group rows without groups");
    }

    #[test]
    fn a_run_with_groups_lists_their_counts_too() {
        let mut report = RunSummary {
            status: "succeeded".into(),
            ..Default::default()
        };
        report.counts.groups_read = 3;
        report.counts.members_unresolved = 2;
        let f = Finished {
            run_id: uuid::Uuid::nil(),
            dry_run: Some(false),
            duration: None,
            report,
        };
        let t = table(&f);
        assert!(t.contains("groups read                 3\n"), "{t}");
        assert!(t.contains("members unresolved          2\n"), "{t}");
        assert_eq!(t.lines().count(), 23);
    }

    #[test]
    fn the_table_says_how_the_directory_was_read_and_why() {
        let read = |kind: &str, why: Option<&str>| {
            let f = Finished {
                run_id: uuid::Uuid::nil(),
                dry_run: Some(false),
                duration: None,
                report: RunSummary {
                    status: "succeeded".into(),
                    read_kind: Some(kind.into()),
                    read_reason: why.map(str::to_owned),
                    ..Default::default()
                },
            };
            table(&f)
        };
        assert!(
            read("delta", None)
                .contains("directory read     only what changed since the last run\n")
        );
        let full = read("full", Some("the scheduled full read is due"));
        assert!(
            full.contains("directory read     every entry: the scheduled full read is due\n"),
            "{full}"
        );
    }
}
