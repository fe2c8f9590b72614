//! The summary table `adc imp` prints.

use adc_shared::protocol::RunSummary;
use std::fmt::Write;

pub fn table(r: &RunSummary) -> String {
    let c = &r.counts;
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
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<18} {v:>10}");
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "{:<18} {e}", "reason");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up_every_count() {
        let mut r = RunSummary {
            status: "succeeded".into(),
            ..Default::default()
        };
        r.counts.created = 12345;
        let t = table(&r);
        assert!(t.contains("created                 12345\n"), "{t}");
        assert_eq!(t.lines().count(), 11);
    }
}
