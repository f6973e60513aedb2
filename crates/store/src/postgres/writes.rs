//! PostgreSQL: writing the queue, shared by several nodes. States move only as
//! [`crate::state::next`] says (the SQL is generated from it, as SQLite's is).
//!
//! Claiming: a node locks the messages it will deliver (`FOR NO KEY UPDATE SKIP LOCKED`, so
//! nodes never wait for each other and never take the same message), then, in a statement
//! that sees every claim committed before it got those locks, marks their due recipients
//! active under its name with a lease (`claimed_by`, `lease_until`). A recipient whose lease
//! ran out (its node died) is due again: it is taken over as crash recovery would give it
//! back ([`Move::Recover`]) and claimed ([`Move::Claim`]). A message is delivered by one
//! node at a time: one with a recipient under a live lease is not claimed.
//!
//! Leases go by the database's clock alone ([`DB_NOW`]), never by the `now` a node passes:
//! that `now` says what is due (the queue's clock, which tests move), the database says
//! whose claim is live. A delivering node renews its claims while it works
//! ([`QueueWrites::renew_claims`]), so the lease need only outlast a few missed renewals.
//!
//! Outcomes never move a recipient backwards: final states never move, and a deferral from
//! a node whose claim was taken over leaves the new claim alone.
//!
//! Every transaction that changes recipients of one message (a cancel, an administrator's
//! hold, release or retry, a renewal) locks its message row first, in the claim's order, so
//! that a claim and such a change never deadlock nor see each other half done.

use async_trait::async_trait;
use sqlx::postgres::Postgres;
use sqlx::{QueryBuilder, Row};

use super::PgStore;
use super::queue::APPROVAL_SELECT;
use crate::approval::{Approval, Decided};
use crate::error::StoreError;
use crate::model::{Attempt, NewMessage, NoticeKind, RecipientState, RecipientUpdate};
use crate::objects::ObjectKind;
use crate::queue_sql::{
    ATTEMPT_COLUMNS, FINAL, FINISHED, MESSAGE_COLUMNS, OUTCOME_COLUMNS, RECIPIENT_COLUMNS, bind_attempt, bind_message,
    bind_outcome, bind_recipient, column_count, move_sql, outcome_sql,
};
use crate::rows;
use crate::sqlite_cancel_link::ByLink;
use crate::state::Move;
use crate::store::{Claim, QueueWrites};

/// PostgreSQL's bound parameters per statement.
const MAX_PARAMETERS: usize = 65535;
/// Rows per multi-row statement, within [`MAX_PARAMETERS`]: computed from each row's columns
/// (an attempt row binds its position too; the outcomes' UPDATE binds the node once more).
const MESSAGE_ROWS_PER_INSERT: usize = MAX_PARAMETERS / column_count(MESSAGE_COLUMNS);
const RECIPIENT_ROWS_PER_INSERT: usize = MAX_PARAMETERS / column_count(RECIPIENT_COLUMNS);
const ATTEMPT_ROWS_PER_INSERT: usize = MAX_PARAMETERS / (column_count(ATTEMPT_COLUMNS) + 1);
const UPDATE_ROWS_PER_STATEMENT: usize = (MAX_PARAMETERS - 1) / column_count(OUTCOME_COLUMNS);

/// The database's clock in Unix seconds (with their fraction), read once per statement:
/// `statement_timestamp()` is stable within a statement, so every row of one statement is
/// judged at the same instant, and it is the database server's clock, the one every node
/// shares. Leases are stamped and judged by it alone: a node whose own clock runs ahead does
/// not take over live claims, one whose clock runs behind does not keep dead ones.
const DB_NOW: &str = "EXTRACT(EPOCH FROM statement_timestamp())";

/// The end of a lease of `lease` (an SQL expression, seconds) from now by [`DB_NOW`], rounded
/// up to a whole second: a claim lasts at least its lease.
fn lease_end(lease: &str) -> String {
    format!("(CEIL({DB_NOW})::bigint + {lease})")
}

/// A recipient (columns of `table`) a claim may take: queued and due at `$1`, or active
/// under a lease that ran out by the database's clock.
fn claimable(table: &str) -> String {
    let (_, from) = move_sql("state", Move::Claim);
    let active = RecipientState::Active.as_str();
    format!(
        "(({table}.state IN ({from}) AND {table}.next_attempt_at <= $1) \
         OR ({table}.state = '{active}' AND COALESCE({table}.lease_until, 0) <= {DB_NOW}))"
    )
}

/// No recipient of message `m.id` is under a live lease by the database's clock.
fn not_under_delivery(message: &str) -> String {
    let active = RecipientState::Active.as_str();
    format!(
        "NOT EXISTS (SELECT 1 FROM recipients a WHERE a.message_id = {message} AND a.state = '{active}' \
         AND COALESCE(a.lease_until, 0) > {DB_NOW})"
    )
}

/// How long, in seconds of the queue's clock, a message due is left to the node that accepted
/// it before any other node takes it. That node holds the body already and is woken by its own
/// commit; another node would fetch the body from the database and race it for the claim (with
/// three nodes, half the messages were delivered by a node that had to fetch them). A node that
/// is busy, stopped or dead leaves its messages to the others after this wait; claims whose
/// lease ran out are taken over at once, as before.
pub(crate) const HANDOFF: i64 = 2;

/// Locks up to `$2` messages with recipients claimable (due at `$1`) and none under delivery,
/// soonest due first, skipping those another node holds, and those accepted by another node
/// (`$4` is this node) less than `$5` seconds after they fell due ([`HANDOFF`]) unless a claim
/// of theirs lapsed. The candidates
/// are the first `$3` claimable recipients of each claimable state in due order: limited scans
/// of the `recipients_due` index (state, then due), never a pass over the whole backlog.
fn lock_messages_sql() -> String {
    let active = RecipientState::Active.as_str();
    let free = not_under_delivery("r.message_id");
    // Each scan with whether it finds claims whose lease ran out: those are taken over at
    // once, whichever node accepted the message.
    let mut scans: Vec<(String, bool)> = crate::state::moves(Move::Claim)
        .iter()
        .map(|(from, _)| (format!("r.state = '{}' AND r.next_attempt_at <= $1", from.as_str()), false))
        .collect();
    scans.push((format!("r.state = '{active}' AND COALESCE(r.lease_until, 0) <= {DB_NOW}"), true));
    let scans: Vec<String> = scans
        .iter()
        .map(|(due, lapsed)| {
            format!(
                "(SELECT r.message_id, r.next_attempt_at, {lapsed} AS lapsed FROM recipients r \
                 WHERE {due} AND {free} ORDER BY r.next_attempt_at LIMIT $3)"
            )
        })
        .collect();
    format!(
        "SELECT m.id FROM (SELECT c.message_id, MIN(c.next_attempt_at) AS due, bool_or(c.lapsed) AS lapsed \
         FROM ({union}) c GROUP BY c.message_id) d JOIN messages m ON m.id = d.message_id \
         WHERE d.lapsed OR m.received_by IS NULL OR m.received_by = $4 OR d.due <= $1 - $5 \
         ORDER BY d.due, m.id LIMIT $2 FOR NO KEY UPDATE OF m SKIP LOCKED",
        union = scans.join(" UNION ALL "),
    )
}

/// Claims up to `$3` claimable recipients of the locked messages `$2` for node `$4`, for a
/// lease of `$5` seconds by the database's clock. The outer UPDATE repeats the condition on
/// its own row: under READ COMMITTED, a row changed meanwhile (held, cancelled, delivered) is
/// rechecked against the outer WHERE only.
fn claim_sql() -> String {
    let (set, _) = move_sql("state", Move::Claim);
    format!(
        "UPDATE recipients SET state = {set}, claimed_by = $4, lease_until = {end} \
         WHERE {again} AND (message_id, idx) IN (SELECT r.message_id, r.idx FROM recipients r \
         WHERE r.message_id = ANY($2) AND {claimable} AND {free} \
         ORDER BY r.next_attempt_at, r.message_id, r.idx LIMIT $3) \
         RETURNING message_id, idx",
        end = lease_end("$5"),
        again = claimable("recipients"),
        claimable = claimable("r"),
        free = not_under_delivery("r.message_id"),
    )
}

/// Locks message `id`'s row for a change of its recipients (the claim's lock order).
async fn lock_message(tx: &mut sqlx::PgConnection, id: &str) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT id FROM messages WHERE id = $1 FOR NO KEY UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.is_some())
}

/// Within a transaction holding message `id`'s lock: cancels every recipient while all of them
/// are still queued or held, records `by` and `now`, finishes the message; false (nothing
/// written) when it was no longer cancellable.
async fn cancel_in(tx: &mut sqlx::PgConnection, id: &str, by: &str, now: i64) -> Result<bool, StoreError> {
    let (set, from) = move_sql("state", Move::Cancel);
    let moved = sqlx::query(&format!(
        "UPDATE recipients SET state = {set} WHERE message_id = $1 AND state IN ({from}) \
         AND NOT EXISTS (SELECT 1 FROM recipients a WHERE a.message_id = $1 AND a.state NOT IN ({from}))"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(false);
    }
    sqlx::query(
        r#"INSERT INTO cancellations (message_id, "by", "at") VALUES ($1, $2, $3)
           ON CONFLICT (message_id) DO UPDATE SET "by" = excluded."by", "at" = excluded."at""#,
    )
    .bind(id)
    .bind(by)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!("UPDATE messages SET done_at = $1 WHERE id = $2 AND {FINISHED}"))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// Finished messages done before `$1`.
const OLD_FINISHED: &str = "SELECT id FROM messages WHERE done_at IS NOT NULL AND done_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id \
         AND r.state NOT IN ('delivered','bounced','cancelled'))";

#[async_trait]
impl QueueWrites for PgStore {
    async fn cancel(&self, id: &str, by: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if !lock_message(&mut tx, id).await? || !cancel_in(&mut tx, id, by, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn decide_approval(&self, id: &str, d: &Decided) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_message(&mut tx, id).await?;
        let recorded = sqlx::query(
            r#"UPDATE approvals SET approved = $1, "by" = $2, "at" = $3, comment = $4
               WHERE message_id = $5 AND approved IS NULL"#,
        )
        .bind(d.approved)
        .bind(&d.by)
        .bind(d.at)
        .bind(&d.comment)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let acted = recorded == 1
            && if d.approved {
                let (set, from) = move_sql("state", Move::Release);
                sqlx::query(&format!(
                    "UPDATE recipients SET state = {set}, next_attempt_at = $1 WHERE message_id = $2 \
                     AND state IN ({from})"
                ))
                .bind(d.at)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            } else {
                cancel_in(&mut tx, id, &d.by, d.at).await?
            };
        if !acted {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn approvals_due(&self, now: i64) -> Result<Vec<Approval>, StoreError> {
        let rows = sqlx::query(&format!(
            "{APPROVAL_SELECT} WHERE a.approved IS NULL AND a.deadline <= $1 AND m.done_at IS NULL \
             ORDER BY a.deadline, m.id"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::approval).collect())
    }

    async fn put_cancel_link(&self, token_hash: &str, id: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO cancel_links (token_hash, message_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn cancel_by_link(&self, token_hash: &str, now: i64) -> Result<ByLink, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT c.message_id, c.expires_at, c.used_at, m.sender FROM cancel_links c \
             JOIN messages m ON m.id = c.message_id WHERE c.token_hash = $1 FOR UPDATE OF c",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(ByLink::Unknown) };
        let (id, sender): (String, String) = (row.get("message_id"), row.get("sender"));
        if row.get::<Option<i64>, _>("used_at").is_some() {
            return Ok(ByLink::Used);
        }
        if row.get::<i64, _>("expires_at") <= now {
            return Ok(ByLink::Unknown);
        }
        if !lock_message(&mut tx, &id).await? || !cancel_in(&mut tx, &id, &format!("link:{sender}"), now).await? {
            tx.rollback().await?;
            return Ok(ByLink::TooLate(id));
        }
        sqlx::query("UPDATE cancel_links SET used_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ByLink::Cancelled(id))
    }

    async fn insert_messages(&self, batch: &[NewMessage]) -> Result<(), StoreError> {
        self.insert_messages_with_bodies(batch, &[]).await
    }

    async fn insert_messages_with_bodies(
        &self,
        batch: &[NewMessage],
        bodies: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Each body as one part (`objects.rs`: bodies this small have no other), stored at the
        // database's clock (the column's default).
        for chunk in bodies.chunks(MAX_PARAMETERS / 3) {
            let mut q = QueryBuilder::<Postgres>::new("INSERT INTO objects (kind, id, part, data) ");
            q.push_values(chunk, |mut b, (id, bytes)| {
                b.push_bind(ObjectKind::Body.code()).push_bind(id).push("0").push_bind(bytes);
            });
            q.push(super::objects::REPLACING_PART);
            q.build().execute(&mut *tx).await?;
        }
        for chunk in batch.chunks(MESSAGE_ROWS_PER_INSERT) {
            let mut q =
                QueryBuilder::<Postgres>::new(format!("INSERT INTO messages ({MESSAGE_COLUMNS}, received_by) "));
            q.push_values(chunk, |mut b, m| {
                bind_message!(b, m);
                b.push_bind(&*self.node);
            });
            q.build().execute(&mut *tx).await?;
        }
        let rows: Vec<(&NewMessage, usize)> =
            batch.iter().flat_map(|m| (0..m.recipients.len()).map(move |idx| (m, idx))).collect();
        for chunk in rows.chunks(RECIPIENT_ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Postgres>::new(format!("INSERT INTO recipients ({RECIPIENT_COLUMNS}) "));
            q.push_values(chunk, |mut b, (m, idx)| bind_recipient!(b, m, *idx));
            q.build().execute(&mut *tx).await?;
        }
        for m in batch {
            if let Some(a) = m.info.rules.as_ref().and_then(|r| r.approval.as_ref()) {
                sqlx::query(
                    "INSERT INTO approvals (message_id, rule, approvers, deadline, release_on_timeout) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&m.info.id)
                .bind(&a.rule)
                .bind(serde_json::to_string(&a.approvers).unwrap_or_else(|_| "[]".into()))
                .bind(a.deadline)
                .bind(a.release_on_timeout)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Claim>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Candidates beyond `limit`: messages another node is locking are skipped, the next
        // ones taken.
        let window = (limit as i64).saturating_mul(4);
        let locked: Vec<String> = sqlx::query_scalar(&lock_messages_sql())
            .bind(now)
            .bind(limit as i64)
            .bind(window)
            .bind(&*self.node)
            .bind(HANDOFF)
            .fetch_all(&mut *tx)
            .await?;
        if locked.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        // A new statement, a new snapshot: every claim committed before these locks were
        // granted is seen here.
        let rows = sqlx::query(&claim_sql())
            .bind(now)
            .bind(&locked)
            .bind(limit as i64)
            .bind(&*self.node)
            .bind(self.lease)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| Claim { message_id: r.get("message_id"), idx: r.get("idx") }).collect())
    }

    async fn apply_move(&self, id: Option<&str>, m: Move, due: Option<i64>) -> Result<u64, StoreError> {
        let (set, from) = move_sql("state", m);
        // Crash recovery gives back this node's claims only: other nodes' claims are theirs
        // until their lease runs out.
        let recover = m == Move::Recover;
        let mine = |node: &str| if recover { format!("AND r.claimed_by = {node}") } else { String::new() };
        let mut tx = self.pool.begin().await?;
        // The claim's lock first, on every message the move changes: an administrator's hold
        // or release waits for a claim under way on another node (and a claim skips a message
        // while it is moved), so neither sees the other half done.
        let locked: Vec<String> = match id {
            Some(id) if lock_message(&mut tx, id).await? => vec![id.to_string()],
            Some(_) => Vec::new(),
            None => {
                let sql = format!(
                    "SELECT m.id FROM messages m WHERE EXISTS (SELECT 1 FROM recipients r \
                     WHERE r.message_id = m.id AND r.state IN ({from}) {}) ORDER BY m.id FOR NO KEY UPDATE OF m",
                    mine("$1")
                );
                let query = sqlx::query_scalar(&sql);
                let query = if recover { query.bind(&*self.node) } else { query };
                query.fetch_all(&mut *tx).await?
            }
        };
        if locked.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let sql = format!(
            "UPDATE recipients r SET state = {set}, next_attempt_at = COALESCE($1, next_attempt_at) \
             WHERE r.state IN ({from}) AND r.message_id = ANY($2) {}",
            mine("$3")
        );
        let query = sqlx::query(&sql).bind(due).bind(&locked);
        let query = if recover { query.bind(&*self.node) } else { query };
        let done = query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn renew_claims(&self, id: &str, idxs: &[i64]) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The claim's lock order: message, then its recipients.
        if !lock_message(&mut tx, id).await? {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let mut held: Vec<i64> = sqlx::query_scalar(&format!(
            "UPDATE recipients SET lease_until = {end} WHERE message_id = $1 AND idx = ANY($2) \
             AND state = '{active}' AND claimed_by = $3 RETURNING idx",
            end = lease_end("$4"),
            active = RecipientState::Active.as_str(),
        ))
        .bind(id)
        .bind(idxs)
        .bind(&*self.node)
        .bind(self.lease)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        held.sort_unstable();
        Ok(held)
    }

    fn claim_lease(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(self.lease as u64))
    }

    async fn record_outcomes(&self, updates: &[RecipientUpdate], now: i64) -> Result<Vec<String>, StoreError> {
        // Three statements, each atomic, in an order where a crash between them is harmless
        // (SQLite runs the same three in one transaction): the attempt history, every
        // recipient's state with its notice, then "done" for finished messages.
        let attempts: Vec<(&RecipientUpdate, &Attempt)> =
            updates.iter().filter_map(|u| u.attempt.as_ref().map(|a| (u, a))).collect();
        for chunk in attempts.chunks(ATTEMPT_ROWS_PER_INSERT) {
            // A message deleted during its delivery has no row to attach the attempt to: its
            // attempts are dropped, never the whole batch.
            let mut q = QueryBuilder::<Postgres>::new(format!(
                "INSERT INTO attempts ({ATTEMPT_COLUMNS}) SELECT {ATTEMPT_COLUMNS} FROM ("
            ));
            // In the batch's order: `seq` orders the history.
            q.push_values(chunk.iter().enumerate(), |mut b, (n, (u, a))| {
                b.push_bind(n as i64);
                bind_attempt!(b, u, a)
            });
            q.push(format!(
                ") AS v(n, {ATTEMPT_COLUMNS}) WHERE v.message_id IN (SELECT id FROM messages) ORDER BY v.n"
            ));
            q.build().execute(&self.pool).await?;
        }
        let active = RecipientState::Active.as_str();
        for chunk in updates.chunks(UPDATE_ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Postgres>::new("UPDATE recipients SET state = ");
            q.push(outcome_sql()).push(
                ", next_attempt_at = v.next_attempt_at, last_reply = v.last_reply, delay_warned = v.delay_warned, \
                 attempts = recipients.attempts + v.tried, notice = v.notice, notice_status = v.notice_status FROM (",
            );
            q.push_values(chunk, |mut b, u| bind_outcome!(b, u));
            q.push(format!(
                ") AS v({OUTCOME_COLUMNS}) WHERE recipients.message_id = v.message_id AND recipients.idx = v.idx \
                 AND recipients.state NOT IN ({FINAL}) \
                 AND (v.outcome <> 'deferred' OR (recipients.state = '{active}' \
                 AND recipients.claimed_by IS NOT DISTINCT FROM "
            ));
            q.push_bind(&*self.node).push("))");
            q.build().execute(&self.pool).await?;
        }
        let mut ids: Vec<&str> = updates.iter().map(|u| u.message_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut finished = Vec::new();
        for chunk in ids.chunks(UPDATE_ROWS_PER_STATEMENT) {
            let done: Vec<String> = sqlx::query_scalar(&format!(
                "UPDATE messages SET done_at = $1 WHERE id = ANY($2) AND {FINISHED} RETURNING id"
            ))
            .bind(now)
            .bind(chunk)
            .fetch_all(&self.pool)
            .await?;
            finished.extend(done);
        }
        finished.sort_unstable();
        Ok(finished)
    }

    async fn finish_if_done(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!("UPDATE messages SET done_at = $1 WHERE id = $2 AND {FINISHED}"))
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn finish_all_done(&self, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(&format!("UPDATE messages SET done_at = $1 WHERE {FINISHED} RETURNING id"))
            .bind(now)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn clear_notices(&self, id: &str, kind: NoticeKind, idxs: &[i64]) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recipients SET notice = NULL, notice_status = NULL \
             WHERE message_id = $1 AND notice = $2 AND idx = ANY($3)",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(idxs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn make_durable(&self) -> Result<(), StoreError> {
        // Every commit is durable already: the server's `synchronous_commit` stays on.
        Ok(())
    }

    async fn purge_finished(&self, before: i64) -> Result<(crate::PurgeCounts, Vec<String>), StoreError> {
        // The finished set is chosen once and locked: every statement deletes exactly it, and
        // the ids returned are the messages deleted.
        let mut tx = self.pool.begin().await?;
        let chosen: Vec<String> =
            sqlx::query_scalar(&format!("{OLD_FINISHED} FOR UPDATE")).bind(before).fetch_all(&mut *tx).await?;
        let mut delete = async |sql: &str| -> Result<u64, StoreError> {
            Ok(sqlx::query(sql).bind(&chosen).execute(&mut *tx).await?.rows_affected())
        };
        let attempts = delete("DELETE FROM attempts WHERE message_id = ANY($1)").await?;
        let recipients = delete("DELETE FROM recipients WHERE message_id = ANY($1)").await?;
        // The rest (cancellations, approvals, cancel links) goes with the message (cascades).
        let mut ids: Vec<String> = sqlx::query_scalar("DELETE FROM messages WHERE id = ANY($1) RETURNING id")
            .bind(&chosen)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        ids.sort_unstable();
        let counts = crate::PurgeCounts { attempts, recipients, messages: ids.len() as u64, ..Default::default() };
        Ok((counts, ids))
    }

    async fn delete_message(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM messages WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_held_message(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_message(&mut tx, id).await?;
        let done = sqlx::query(
            "DELETE FROM messages WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id AND r.state <> 'held')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::RecipientState::*;
    use crate::state::{Move, next};

    /// Taking over a claim whose lease ran out is what crash recovery and a new claim do.
    #[test]
    fn a_lapsed_claim_is_recovered_then_claimed() {
        assert_eq!(next(Active, Move::Recover).and_then(|s| next(s, Move::Claim)), Some(Active));
    }
}
