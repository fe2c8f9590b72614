//! A run's batch writes in flight: each runs in its own task while the next batch is
//! looked up and planned; acknowledgements go out in order as writes commit.

use super::failure::{RunFailure, internal};
use super::plan::add_counts;
use adc_shared::protocol::RunCounts;
use foldhash::HashSet;
use std::collections::VecDeque;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A batch write in flight, and what it may change: a later batch that touches one of
/// these keys waits for it before looking anything up.
struct Writing {
    seq: u64,
    task: JoinHandle<Result<(), sqlx::Error>>,
    /// What the write adds to the run's counts when it commits.
    counts: RunCounts,
    external_ids: HashSet<String>,
    username_keys: HashSet<String>,
}

pub(super) struct Pipeline {
    run_id: Uuid,
    /// Oldest first.
    writing: VecDeque<Writing>,
    /// A failed write fails every later step, even if whoever saw it first was
    /// cancelled before recording the failure.
    error: Option<RunFailure>,
    /// The counts of the writes known to have committed (and of the read itself).
    applied: RunCounts,
}

impl Pipeline {
    pub(super) fn new(run_id: Uuid) -> Pipeline {
        Pipeline {
            run_id,
            writing: VecDeque::new(),
            error: None,
            applied: RunCounts::default(),
        }
    }

    pub(super) fn busy(&self) -> bool {
        !self.writing.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.writing.len()
    }

    /// Whether a write in flight may create, rename or take over a user with one of
    /// these external IDs or username keys: such a batch must wait for it, to see the
    /// user as it will be (directories with duplicate IDs or names).
    pub(super) fn touches(&self, ids: &[String], keys: &[String]) -> bool {
        self.writing.iter().any(|w| {
            ids.iter().any(|i| w.external_ids.contains(i))
                || keys.iter().any(|k| w.username_keys.contains(k))
        })
    }

    pub(super) fn push(
        &mut self,
        seq: u64,
        task: JoinHandle<Result<(), sqlx::Error>>,
        counts: RunCounts,
        external_ids: HashSet<String>,
        username_keys: HashSet<String>,
    ) {
        self.writing.push_back(Writing {
            seq,
            task,
            counts,
            external_ids,
            username_keys,
        });
    }

    /// Waits for the oldest write; its batch's sequence number, to acknowledge. Safe to
    /// cancel: the write goes on and is waited for again.
    pub(super) async fn written(&mut self) -> Result<Option<u64>, RunFailure> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let Some(w) = self.writing.front_mut() else {
            return Ok(None);
        };
        let result = (&mut w.task).await;
        let (seq, counts) = (w.seq, w.counts);
        self.writing.pop_front();
        let error = match result {
            Ok(Ok(())) => {
                add_counts(&mut self.applied, &counts);
                return Ok(Some(seq));
            }
            Ok(Err(e)) => internal(e),
            Err(e) => {
                tracing::error!(run_id = %self.run_id, error = %e, "a batch write did not finish");
                RunFailure::Storage
            }
        };
        self.error = Some(error.clone());
        Err(error)
    }

    /// Waits for every write; their batches' sequence numbers.
    pub(super) async fn flush(&mut self) -> Result<Vec<u64>, RunFailure> {
        let mut acked = Vec::new();
        while let Some(seq) = self.written().await? {
            acked.push(seq);
        }
        Ok(acked)
    }

    /// Lets every write in flight end, and counts those that committed (each is
    /// idempotent, so keeping them is right). Not aborted outright: a database
    /// connection cancelled in the middle of a COPY can go back to the pool inside its
    /// transaction, where the next statement of another request would be lost. A write
    /// still going after `limit` (the database away) is aborted all the same.
    pub(super) async fn settle(&mut self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        for mut w in self.writing.drain(..) {
            match tokio::time::timeout_at(deadline, &mut w.task).await {
                Ok(Ok(Ok(()))) => add_counts(&mut self.applied, &w.counts),
                Ok(_) => {}
                Err(_) => w.task.abort(),
            }
        }
    }

    /// Counts applied outside the pipeline (the read, the deletions).
    pub(super) fn applied(&mut self, counts: &RunCounts) {
        add_counts(&mut self.applied, counts);
    }

    pub(super) fn applied_so_far(&self) -> RunCounts {
        self.applied
    }
}
