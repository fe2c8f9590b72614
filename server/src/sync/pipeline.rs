//! A run's batch writes in flight: each runs in its own task while the next batch is
//! looked up and planned; acknowledgements go out in order as writes commit.

use super::failure::{RunFailure, internal};
use foldhash::HashSet;
use std::collections::VecDeque;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A batch write in flight, and what it may change: a later batch that touches one of
/// these keys waits for it before looking anything up.
struct Writing {
    seq: u64,
    task: JoinHandle<Result<(), sqlx::Error>>,
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
}

impl Pipeline {
    pub(super) fn new(run_id: Uuid) -> Pipeline {
        Pipeline {
            run_id,
            writing: VecDeque::new(),
            error: None,
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
        external_ids: HashSet<String>,
        username_keys: HashSet<String>,
    ) {
        self.writing.push_back(Writing {
            seq,
            task,
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
        let seq = w.seq;
        self.writing.pop_front();
        let error = match result {
            Ok(Ok(())) => return Ok(Some(seq)),
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

    /// Drops every write in flight: its transaction rolls back (had it committed, it
    /// would be kept: every write is idempotent).
    pub(super) fn abort(&mut self) {
        for w in self.writing.drain(..) {
            w.task.abort();
        }
    }
}
