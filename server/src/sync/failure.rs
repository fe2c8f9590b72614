//! Why a run failed: the text of the run report's `error`, one variant per cause.

use super::run::BATCH_SIZE;

/// Why a run failed; its text is the run report's `error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunFailure {
    #[error("the server could not store the run's changes")]
    Storage,
    #[error("a batch arrived after the read was reported complete")]
    BatchAfterRead,
    #[error("a batch of {0} entries exceeds the limit of {BATCH_SIZE}")]
    BatchTooLarge(usize),
    #[error("the read was reported complete twice")]
    ReadCompleteTwice,
    #[error("deletions arrived before the read was reported complete; nothing is deleted")]
    DeletionsBeforeRead,
    #[error("more deletions than users in the manifest")]
    TooManyDeletions,
    #[error("more group deletions than groups in the manifest")]
    TooManyGroupDeletions,
    #[error("more member removals than memberships in the manifest")]
    TooManyRemovals,
    #[error(
        "group deletions or member removals arrived without a complete read of the groups; nothing is deleted"
    )]
    GroupsNotRead,
    #[error("a message of {0} memberships exceeds the limit of {limit}", limit = adc_shared::protocol::MAX_MEMBERSHIPS_PER_MESSAGE)]
    TooManyMemberships(usize),
    #[error("the agent asked for a delta read the server did not offer; nothing is applied")]
    DeltaNotOffered,
    #[error("the agent asked for the state of groups outside a delta read of groups")]
    GroupStateOutsideDelta,
    #[error("the run ended without a complete read; nothing is deleted")]
    EndedBeforeRead,
    #[error("the agent reported: {0}")]
    Agent(String),
    #[error("the agent sent nothing for this run for {0} s")]
    Stalled(u64),
    /// The agent's connection ended under the run; the session says why.
    #[error("{0}")]
    Disconnected(String),
}

/// A database error during a run: logged with its cause, reported without it.
pub(super) fn internal(e: sqlx::Error) -> RunFailure {
    tracing::error!(error = %e, "database error during a run");
    RunFailure::Storage
}
