//! The SQLite store's one write connection, held behind a lock rather than in a pool.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every request to it is a round
//! trip between threads (a futex wake-up and a switch each way). A pool adds two per use: a
//! ping when the connection is taken and another when it is given back. The queue's writes
//! are the hot path of every message (commit, claim, outcome), so the writer is this one
//! connection under an async lock instead, and the queue's multi-statement writes go to it
//! in one request each ([`WriteConn::transaction`]).

use std::ops::{Deref, DerefMut};

use sqlx::sqlite::{SqliteArguments, SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::StoreError;

/// The write connection and what is known of its state.
pub(crate) struct Writer {
    state: Mutex<Option<State>>,
}

struct State {
    conn: SqliteConnection,
    /// The connection was last set to synchronous=NORMAL.
    relaxed: bool,
    /// A transaction was sent in one request and its answer not read (an error, or a caller
    /// that stopped waiting): it is rolled back before the connection is used again.
    open: bool,
}

/// The write connection, taken: nobody else writes until it is dropped.
pub(crate) struct WriteConn<'a> {
    guard: MutexGuard<'a, Option<State>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Opens the write connection with `options`.
    pub(crate) async fn open(options: &SqliteConnectOptions) -> Result<Writer, StoreError> {
        let conn = SqliteConnection::connect_with(options).await?;
        Ok(Writer { state: Mutex::new(Some(State { conn, relaxed: false, open: false })) })
    }

    /// Takes the connection (waiting for the current writer), first rolling back a transaction
    /// whose answer was never read. Fails once [`Writer::close`] closed it.
    pub(crate) async fn lock(&self) -> Result<WriteConn<'_>, StoreError> {
        let mut guard = self.state.lock().await;
        let state = guard.as_mut().ok_or(StoreError::Closed)?;
        if state.open {
            // No transaction may be open any more (it failed, or was committed after its caller
            // left): SQLite's "no transaction is active" is the expected answer then.
            let _ = sqlx::query("ROLLBACK").execute(&mut state.conn).await;
            state.open = false;
        }
        Ok(WriteConn { guard })
    }

    /// Closes the connection; later writes fail with [`StoreError::Closed`].
    pub(crate) async fn close(&self) {
        if let Some(state) = self.state.lock().await.take() {
            let _ = state.conn.close().await;
        }
    }
}

impl WriteConn<'_> {
    fn state(&mut self) -> &mut State {
        self.guard.as_mut().expect("taken only while open")
    }

    /// The statement (with its `;`) that sets the durability the next write needs, to run in
    /// the same request as that write; empty when the connection is known to be there already.
    ///
    /// `durable` (synchronous=FULL: fsync at commit) is for what was acknowledged to a client or
    /// typed by an administrator, and is always set. Otherwise NORMAL, for delivery progress
    /// (claims, outcomes, done), whose loss to a power cut means a message is delivered again,
    /// never lost, as with Postfix; the next FULL commit syncs the shared WAL. NORMAL is set
    /// only when the connection may be in FULL: a wrong guess can only make progress slower,
    /// never an acknowledged message less durable.
    pub(crate) fn durability(&mut self, durable: bool) -> &'static str {
        let state = self.state();
        if durable {
            state.relaxed = false;
            "PRAGMA synchronous = FULL; "
        } else if !state.relaxed {
            state.relaxed = true;
            "PRAGMA synchronous = NORMAL; "
        } else {
            ""
        }
    }

    /// Sets the durability `durable` asks for (see [`WriteConn::durability`]) now, in a request
    /// of its own when it changes: for writes made with sqlx's own transactions.
    pub(crate) async fn set_durability(&mut self, durable: bool) -> Result<(), StoreError> {
        let pragma = self.durability(durable);
        if !pragma.is_empty() {
            sqlx::query(pragma).execute(&mut self.state().conn).await?;
        }
        Ok(())
    }

    /// Runs `query` — statements from `BEGIN IMMEDIATE` to `COMMIT`, written by the caller —
    /// in one request to the connection's thread, and returns the rows they return. On an
    /// error the transaction is rolled back before this returns; when the caller stops waiting,
    /// before the connection's next use. Either way nothing of it stays half done.
    pub(crate) async fn transaction<'q>(
        &mut self,
        query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    ) -> Result<Vec<SqliteRow>, StoreError> {
        let state = self.state();
        state.open = true;
        match query.fetch_all(&mut state.conn).await {
            Ok(rows) => {
                state.open = false;
                Ok(rows)
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut state.conn).await;
                state.open = false;
                Err(e.into())
            }
        }
    }
}

impl Deref for WriteConn<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.guard.as_ref().expect("taken only while open").conn
    }
}

impl DerefMut for WriteConn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.state().conn
    }
}
