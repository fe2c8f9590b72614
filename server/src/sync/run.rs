//! Starting a run (architecture §5.3 steps 1-2): its effective settings, its record, and
//! the message that starts it on the agent. `active.rs` carries it from there.

use crate::db::runs::{self, Run};
use crate::db::syncs::ReadState;
use crate::db::{Db, now, syncs};
use crate::vocabulary::{ReadKind, RunPhase, RunStatus, Trigger};
use adc_shared::protocol::{DELTA_VERSION, RunCounts, ServerMessage, StartRun, Watermark};
use adc_shared::{Effective, EffectiveSettings, Settings, Source};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// Users per batch and batches in flight the server asks of the agent.
pub const BATCH_SIZE: u32 = 500;
pub const WINDOW: u32 = 4;
/// Manifest entries per chunk.
pub const MANIFEST_CHUNK: i64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("another run of this synchronization is active")]
    Active(Option<Uuid>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct NewRun<'a> {
    pub sync: &'a syncs::Sync,
    pub connection_id: Uuid,
    pub agent_settings: Settings,
    pub trigger: Trigger,
    pub triggered_by: String,
    pub dry_run: bool,
    pub full: bool,
}

/// The settings a run applies: server over agent over default, and a dry run when
/// asked for one.
pub fn effective(server: &Settings, agent: &Settings, dry_run: bool) -> EffectiveSettings {
    let mut e = Settings::effective(server, agent);
    if dry_run {
        e.dry_run = Effective::new(true, Source::Server);
    }
    e
}

/// Records a running run; refused when another is active (architecture §5.3 step 1).
pub async fn start(db: &Db, n: NewRun<'_>) -> Result<Run, StartError> {
    let settings = effective(&n.sync.settings.0, &n.agent_settings, n.dry_run);
    let run = Run {
        id: Uuid::new_v4(),
        tenant_id: n.sync.tenant_id,
        synchronization_id: n.sync.id,
        status: RunStatus::Running,
        trigger_source: n.trigger,
        triggered_by: n.triggered_by,
        dry_run: settings.dry_run.value,
        full_resync: n.full,
        settings: Json(settings),
        connection_id: Some(n.connection_id),
        read_complete: false,
        counts: Json(RunCounts::default()),
        error: None,
        held_reason: None,
        phase: Some(RunPhase::Waiting),
        read_so_far: None,
        expected: None,
        decision: None,
        read_kind: None,
        read_reason: None,
        started_at: now(),
        finished_at: None,
    };
    match runs::insert(db, &run).await {
        Ok(()) => Ok(run),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(StartError::Active(
            runs::active_for_sync(db, n.sync.id).await.ok().flatten(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// What the server offers a run to read from: a watermark to continue from, or a full
/// read and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOffer {
    Delta(Watermark),
    Full(String),
}

impl ReadOffer {
    pub fn kind(&self) -> ReadKind {
        match self {
            ReadOffer::Delta(_) => ReadKind::Delta,
            ReadOffer::Full(_) => ReadKind::Full,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            ReadOffer::Delta(_) => None,
            ReadOffer::Full(r) => Some(r),
        }
    }
}

/// Whether run `run` may read only what changed (issue 17): a full read when one was
/// asked for, the agent predates delta reads, the synchronization has no watermark,
/// or its full reads are due (`full_read_hours` since the last; 0: always). Deletions
/// a delta read cannot prove wait for the full read, so it must come.
pub fn offer(
    run: &Run,
    full_read_hours: i32,
    state: ReadState,
    agent_protocol: u32,
    now: OffsetDateTime,
) -> ReadOffer {
    if run.full_resync {
        return ReadOffer::Full("a full re-sync was asked for".into());
    }
    if agent_protocol < DELTA_VERSION {
        return ReadOffer::Full(format!(
            "the agent speaks protocol {agent_protocol}; delta reads need {DELTA_VERSION} (upgrade the agent)"
        ));
    }
    if full_read_hours <= 0 {
        return ReadOffer::Full(
            "the synchronization reads in full every run (full_read_hours is 0)".into(),
        );
    }
    let (Some(token), Some(fingerprint)) = (state.watermark, state.watermark_fingerprint) else {
        return ReadOffer::Full(
            "no watermark to continue from: the first read, or the directory offered no delta reads last time".into(),
        );
    };
    let Some(last) = state.full_read_at else {
        return ReadOffer::Full("no full read has succeeded yet".into());
    };
    let since = now - last;
    if since >= time::Duration::hours(i64::from(full_read_hours)) {
        return ReadOffer::Full(format!(
            "the scheduled full read is due: the last was {} h ago (every {full_read_hours} h)",
            since.whole_hours()
        ));
    }
    ReadOffer::Delta(Watermark { token, fingerprint })
}

pub fn start_message(run: &Run, offer: &ReadOffer) -> ServerMessage {
    ServerMessage::StartRun(StartRun {
        run_id: run.id,
        full: run.full_resync,
        settings: run.settings.0,
        window: WINDOW,
        batch_size: BATCH_SIZE,
        watermark: match offer {
            ReadOffer::Delta(w) => Some(w.clone()),
            ReadOffer::Full(_) => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn run(full: bool) -> Run {
        Run {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            synchronization_id: Uuid::nil(),
            status: RunStatus::Running,
            trigger_source: Trigger::Api,
            triggered_by: "test".into(),
            dry_run: false,
            full_resync: full,
            settings: Json(EffectiveSettings::default()),
            connection_id: None,
            read_complete: false,
            counts: Json(RunCounts::default()),
            error: None,
            held_reason: None,
            phase: None,
            read_so_far: None,
            expected: None,
            decision: None,
            read_kind: None,
            read_reason: None,
            started_at: datetime!(2026-12-04 10:00 UTC),
            finished_at: None,
        }
    }

    fn state(full_read_at: Option<OffsetDateTime>) -> ReadState {
        ReadState {
            watermark: Some("rfc4533:Y29va2ll".into()),
            watermark_fingerprint: Some("f".into()),
            full_read_at,
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-12-04 10:00 UTC);

    fn reason(o: ReadOffer) -> String {
        match o {
            ReadOffer::Full(r) => r,
            ReadOffer::Delta(w) => panic!("a delta read from {w:?}"),
        }
    }

    #[test]
    fn a_run_continues_from_the_watermark_until_the_full_read_is_due() {
        let recent = Some(datetime!(2026-12-04 09:00 UTC));
        assert_eq!(
            offer(&run(false), 24, state(recent), DELTA_VERSION, NOW),
            ReadOffer::Delta(Watermark {
                token: "rfc4533:Y29va2ll".into(),
                fingerprint: "f".into()
            })
        );
        let old = Some(datetime!(2026-12-03 09:30 UTC));
        assert_eq!(
            reason(offer(&run(false), 24, state(old), DELTA_VERSION, NOW)),
            "the scheduled full read is due: the last was 24 h ago (every 24 h)"
        );
    }

    #[test]
    fn a_full_read_says_why() {
        let recent = Some(datetime!(2026-12-04 09:00 UTC));
        let cases = [
            (offer(&run(true), 24, state(recent), 4, NOW), "asked for"),
            (
                offer(&run(false), 24, state(recent), 3, NOW),
                "upgrade the agent",
            ),
            (offer(&run(false), 0, state(recent), 4, NOW), "every run"),
            (
                offer(&run(false), 24, ReadState::default(), 4, NOW),
                "no watermark",
            ),
            (offer(&run(false), 24, state(None), 4, NOW), "no full read"),
        ];
        for (o, why) in cases {
            let r = reason(o);
            assert!(r.contains(why), "{r}");
        }
    }
}
