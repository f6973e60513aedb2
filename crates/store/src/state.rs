//! Every way a recipient's state can move, in one pure table. The stores only persist what
//! [`next`] says; they hold no rule of their own (their SQL is generated from this table).
//!
//! ```text
//!            claim               delivered / bounced
//!   queued ─────────▶ active ───────────────────────▶ delivered / bounced (final)
//!     ▲  ▲             │ deferred, crash recovery
//!     │  └─────────────┘
//!     │ release     hold (queued or active)
//!   held ◀──────────────
//!
//!   queued / held ──cancel──▶ cancelled (final: never delivered)
//! ```
//! A recipient held while its delivery was under way stays held when that attempt is
//! deferred; when the attempt delivered or bounced it, that is what happened and is recorded —
//! also when it was held and released again before the attempt ended (it is then queued).

use serde::Serialize;

use crate::model::{AttemptOutcome, RecipientState};

/// Something that moves a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Move {
    /// A delivery worker takes a due recipient.
    Claim,
    /// A delivery attempt ended (or was put off, as deferred).
    Outcome(AttemptOutcome),
    /// Start after a crash: claims of the dead process are given back.
    Recover,
    /// The administrator holds the recipient (`queue hold`).
    Hold,
    /// The administrator releases a held recipient (`queue release`).
    Release,
    /// The administrator asks for an attempt now (`queue retry`, `queue flush`).
    Retry,
    /// The sender or an administrator cancels a message not yet under delivery (`hold
    /// cancel`, the console's "cancel").
    Cancel,
}

/// Every state, for the tables generated from [`next`].
pub const ALL_STATES: [RecipientState; 6] = [
    RecipientState::Queued,
    RecipientState::Active,
    RecipientState::Held,
    RecipientState::Delivered,
    RecipientState::Bounced,
    RecipientState::Cancelled,
];

/// The state a recipient in `current` moves to, or `None` when the move does not apply to it
/// (it is left exactly as it is).
pub fn next(current: RecipientState, m: Move) -> Option<RecipientState> {
    use RecipientState::*;
    match (current, m) {
        (Delivered | Bounced | Cancelled, _) => None,
        (Queued | Held, Move::Cancel) => Some(Cancelled),
        (Queued, Move::Claim) => Some(Active),
        (Active, Move::Recover) => Some(Queued),
        (Queued | Active, Move::Hold) => Some(Held),
        (Held, Move::Release) => Some(Queued),
        (Queued, Move::Retry) => Some(Queued),
        (Active | Held | Queued, Move::Outcome(AttemptOutcome::Delivered)) => Some(Delivered),
        (Active | Held | Queued, Move::Outcome(AttemptOutcome::Bounced)) => Some(Bounced),
        (Active | Queued, Move::Outcome(AttemptOutcome::Deferred)) => Some(Queued),
        (Held, Move::Outcome(AttemptOutcome::Deferred)) => Some(Held),
        _ => None,
    }
}

/// The pairs (from, to) of a move, over every state it applies to.
pub fn moves(m: Move) -> Vec<(RecipientState, RecipientState)> {
    ALL_STATES.iter().filter_map(|&from| next(from, m).map(|to| (from, to))).collect()
}

/// True when a recipient in this state will not move again.
pub fn is_final(state: RecipientState) -> bool {
    matches!(state, RecipientState::Delivered | RecipientState::Bounced | RecipientState::Cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptOutcome as O;
    use RecipientState::*;

    #[test]
    fn every_state_and_move_has_the_answer_an_administrator_expects() {
        let moves = [
            Move::Claim,
            Move::Outcome(O::Delivered),
            Move::Outcome(O::Bounced),
            Move::Outcome(O::Deferred),
            Move::Recover,
            Move::Hold,
            Move::Release,
            Move::Retry,
            Move::Cancel,
        ];
        // Rows: the state before; columns: the moves above. `-` = left as it is.
        #[rustfmt::skip]
        let table: [(RecipientState, [Option<RecipientState>; 9]); 6] = [
            (Queued,    [Some(Active), Some(Delivered), Some(Bounced), Some(Queued), None,         Some(Held), None,         Some(Queued), Some(Cancelled)]),
            (Active,    [None,         Some(Delivered), Some(Bounced), Some(Queued), Some(Queued), Some(Held), None,         None,         None]),
            (Held,      [None,         Some(Delivered), Some(Bounced), Some(Held),   None,         None,       Some(Queued), None,         Some(Cancelled)]),
            (Delivered, [None,         None,            None,          None,         None,         None,       None,         None,         None]),
            (Bounced,   [None,         None,            None,          None,         None,         None,       None,         None,         None]),
            (Cancelled, [None,         None,            None,          None,         None,         None,       None,         None,         None]),
        ];
        for (from, row) in table {
            for (m, want) in moves.iter().zip(row) {
                assert_eq!(next(from, *m), want, "{from:?} + {m:?}");
            }
        }
    }

    #[test]
    fn a_hold_during_delivery_survives_a_deferral_but_not_a_delivery() {
        let held = next(Active, Move::Hold).unwrap();
        assert_eq!(next(held, Move::Outcome(O::Deferred)), Some(Held));
        assert_eq!(next(held, Move::Outcome(O::Delivered)), Some(Delivered));
        assert_eq!(next(held, Move::Claim), None, "a held recipient is never claimed");
    }

    #[test]
    fn an_attempt_ending_after_a_hold_and_release_is_recorded() {
        let released = next(next(Active, Move::Hold).unwrap(), Move::Release).unwrap();
        assert_eq!(released, Queued);
        assert_eq!(next(released, Move::Outcome(O::Delivered)), Some(Delivered), "never delivered twice");
        assert_eq!(next(released, Move::Outcome(O::Bounced)), Some(Bounced));
    }

    #[test]
    fn a_cancelled_recipient_is_never_claimed_and_one_under_delivery_cannot_be_cancelled() {
        assert_eq!(next(Cancelled, Move::Claim), None);
        assert_eq!(next(Cancelled, Move::Release), None, "a release after a cancel changes nothing");
        assert_eq!(next(Active, Move::Cancel), None, "once claimed, a cancel is too late");
        assert!(is_final(Cancelled));
    }

    #[test]
    fn final_states_never_move() {
        for from in ALL_STATES.into_iter().filter(|s| is_final(*s)) {
            assert!(moves(Move::Release).iter().chain(&moves(Move::Retry)).all(|(f, _)| *f != from));
            assert!(moves(Move::Outcome(O::Deferred)).iter().all(|(f, _)| *f != from));
        }
        assert_eq!(moves(Move::Hold), vec![(Queued, Held), (Active, Held)]);
    }
}
