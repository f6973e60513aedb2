//! The queue façade used by the SMTP server: bodies into the spool, envelopes into the store,
//! with group commit — one directory fsync and one transaction for every message waiting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::bodies::Bodies;
use crate::control::QueueControl;
use crate::error::StoreError;
use crate::hand_off::{self, HandOff, Handed};
use crate::model::{NewMessage, NoticeKind, RecipientUpdate};
use crate::queue_id::QueueId;
use crate::recovery::{self, RecoveryReport};
use crate::spool::{FinishedBody, Spool, TempBody};
use crate::store::{Backend, Claim, Stores};

/// Delivery outcomes waiting for the outcome writer.
struct Outcomes {
    updates: Vec<RecipientUpdate>,
    now: i64,
    done: oneshot::Sender<Result<Vec<String>, StoreError>>,
}

struct Pending {
    body: FinishedBody,
    /// The body's bytes when they are committed with the message's rows ([`Bodies::prepare`]).
    with_rows: Option<Vec<u8>>,
    message: NewMessage,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The spool and queue store of a running server. Holds the data directory's lock.
#[derive(Clone)]
pub struct Queue {
    spool: Spool,
    store: Arc<dyn Backend>,
    stores: Stores,
    control: QueueControl,
    commits: mpsc::Sender<Pending>,
    new_mail: Arc<tokio::sync::Notify>,
    /// Bodies of finished messages, removed once "done" is durable.
    removals: Arc<std::sync::Mutex<Vec<String>>>,
    outcomes: mpsc::Sender<Outcomes>,
    /// The time receiving, the delivery scan and the approvals' timeouts go by.
    clock: crate::Clock,
    /// Messages handed to delivery as they are committed.
    hand_off: HandOff,
    _lock: Arc<std::fs::File>,
    /// On PostgreSQL, the session holding this node's name while it serves.
    _node_name: Option<Arc<crate::postgres::NodeNameLock>>,
}

/// The data directory's lock, held while it lives: one sekisho process at a time.
#[derive(Debug)]
pub struct DataDirLock(std::fs::File);

/// Takes the lock of `data_dir` (which must exist), as `serve` does; fails with
/// [`StoreError::Locked`] while a server runs on it. For offline work such as rewrapping keys.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock, StoreError> {
    let lock_path = data_dir.join("lock");
    let lock = crate::private::open_or_create(&lock_path).map_err(|e| StoreError::io("open", &lock_path, e))?;
    if lock.try_lock().is_err() {
        return Err(StoreError::Locked(data_dir.to_path_buf()));
    }
    Ok(DataDirLock(lock))
}

impl Queue {
    /// Opens the data directory, takes its lock, recovers from any crash, and starts the
    /// committer. `group_commit_max` bounds the messages per transaction.
    pub async fn open(data_dir: &Path, group_commit_max: usize) -> Result<(Queue, RecoveryReport), StoreError> {
        Self::open_with(data_dir, group_commit_max, false).await
    }

    /// Like `open`; with `group_sync`, each batch is made durable by one syncfs(2) of the
    /// spool's file system instead of an fsync per message (`[store] group_sync`).
    pub async fn open_with(
        data_dir: &Path,
        group_commit_max: usize,
        group_sync: bool,
    ) -> Result<(Queue, RecoveryReport), StoreError> {
        Self::open_on(data_dir, &crate::Database::Sqlite, group_commit_max, group_sync).await
    }

    /// Like `open_with`, with the queue's state in `database`. On PostgreSQL each body is also
    /// stored in the database before its message is committed, and other nodes may serve from
    /// the same database, each with a data directory of its own.
    pub async fn open_on(
        data_dir: &Path,
        database: &crate::Database,
        group_commit_max: usize,
        group_sync: bool,
    ) -> Result<(Queue, RecoveryReport), StoreError> {
        crate::private::create_dir_all(data_dir).map_err(|e| StoreError::io("create", data_dir, e))?;
        match crate::private::secure_data_dir(data_dir) {
            Ok(None) => {}
            Ok(Some(t)) => tracing::warn!(
                data_dir = %data_dir.display(),
                was = format_args!("{:04o}", t.was),
                entries = t.entries,
                "the data directory was open to other users: group and other permissions removed from it and \
                 everything in it (now 0700, files 0600)"
            ),
            // Not fatal: the server can run, but the operator must fix it.
            Err(e) => tracing::warn!(
                data_dir = %data_dir.display(),
                error = %e,
                "the data directory is open to other users and could not be tightened: chmod -R go= it"
            ),
        }
        let lock = lock_data_dir(data_dir)?;
        let spool = Spool::open_with(data_dir, group_sync)?;
        // One serving node per name on a database: its recovery releases that name's claims.
        let node_name = match database {
            crate::Database::Postgres { url, node, .. } => {
                Some(Arc::new(crate::postgres::hold_node_name(url, node).await?))
            }
            crate::Database::Sqlite => None,
        };
        let opened = database.open(data_dir).await?;
        // Nothing of this node's is fetching yet: a partial fetch left is from before a stop.
        for dir in [data_dir.join("files"), data_dir.join("spool/msg")] {
            crate::objects::remove_partial_fetches(&dir, None);
        }
        let store = opened.backend.clone();
        let control = QueueControl::of(&opened, data_dir);
        let report = recovery::recover(&spool, store.as_ref(), &control.bodies).await?;
        let (tx, rx) = mpsc::channel(group_commit_max.max(1) * 4);
        let new_mail = Arc::new(tokio::sync::Notify::new());
        let removals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let clock = crate::Clock::default();
        let hand_off = HandOff::default();
        let committer = Committer {
            spool: spool.clone(),
            bodies: control.bodies.clone(),
            store: store.clone(),
            new_mail: new_mail.clone(),
            removals: removals.clone(),
            clock: clock.clone(),
            hand_off: hand_off.clone(),
        };
        tokio::spawn(committer.run(rx, group_commit_max.max(1)));
        let (outcomes, outcome_rx) = mpsc::channel(1024);
        tokio::spawn(outcome_loop(store.clone(), outcome_rx));
        let stores = Stores::of(&opened);
        let queue = Queue {
            spool,
            store,
            stores,
            control,
            commits: tx,
            new_mail,
            removals,
            outcomes,
            clock,
            hand_off,
            _lock: Arc::new(lock.0),
            _node_name: node_name,
        };
        Ok((queue, report))
    }

    /// Whether a message could be accepted now: a file can be created, written and removed in
    /// the spool, and the store takes writes. The error names the part that failed.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let probe = self.spool.tmp_dir().join(".ready-probe");
        let written = tokio::task::spawn_blocking({
            let probe = probe.clone();
            move || {
                use std::io::Write;
                let mut f = crate::private::open_or_create(&probe)?;
                f.write_all(b"ready")?;
                std::fs::remove_file(&probe)
            }
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        written.map_err(|e| StoreError::io("write", &probe, e))?;
        self.store.check_writable().await
    }

    /// Starts writing the body of a new message.
    pub async fn create_body(&self, id: &QueueId) -> Result<TempBody, StoreError> {
        self.spool.create(id).await
    }

    /// Makes a finished body and its envelope durable. Returns only when both are on disk:
    /// then, and only then, the SMTP server may say 250. On PostgreSQL the body is stored in
    /// the database, where every node reaches it: in the message's own transaction when it is
    /// small (`Bodies::prepare`), else first; a failure there is an error as any other (the
    /// message is not committed).
    pub async fn commit(&self, body: FinishedBody, message: NewMessage) -> Result<(), StoreError> {
        let with_rows = match self.control.bodies.prepare(&body).await {
            Ok(with_rows) => with_rows,
            Err(e) => {
                tracing::error!(queue_id = %body.id, error = %e, "cannot store the body in the shared store");
                body.discard();
                return Err(e);
            }
        };
        let (done, wait) = oneshot::channel();
        if let Err(mpsc::error::SendError(p)) = self.commits.send(Pending { body, with_rows, message, done }).await {
            p.body.discard();
            return Err(StoreError::Closed);
        }
        wait.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Queues a message sekisho writes itself (a delivery status notification, a one-time
    /// code): from the null sender, to `to` alone, never notified about.
    pub async fn inject(&self, id: &QueueId, hostname: &str, to: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.inject_at(id, hostname, to, bytes, None).await
    }

    /// Like `inject`, with what sekisho asks of the transport for this message (a DSN about a
    /// REQUIRETLS message: `SenderTls::RequireTlsIfOffered`).
    pub async fn inject_asking(
        &self,
        id: &QueueId,
        hostname: &str,
        to: &str,
        bytes: &[u8],
        asked: Option<sekisho_policy::SenderTls>,
    ) -> Result<(), StoreError> {
        let mut body = self.create_body(id).await?;
        body.write(bytes).await?;
        let finished = body.finish().await?;
        let tls = crate::model::LocalTls { required: None, asked };
        let message = crate::model::local_message(id, hostname, to, bytes, finished.size(), None, tls);
        self.commit(finished, message).await
    }

    /// Like `inject`, first tried not before `not_before` (Unix seconds) when given.
    pub async fn inject_at(
        &self,
        id: &QueueId,
        hostname: &str,
        to: &str,
        bytes: &[u8],
        not_before: Option<i64>,
    ) -> Result<(), StoreError> {
        self.inject_requiring(id, hostname, to, bytes, not_before, None).await
    }

    /// Like `inject_at`, delivered only over sessions of at least `required_tls` (when given):
    /// below it the message waits and is retried, never sent weaker.
    pub async fn inject_requiring(
        &self,
        id: &QueueId,
        hostname: &str,
        to: &str,
        bytes: &[u8],
        not_before: Option<i64>,
        required_tls: Option<sekisho_policy::Assurance>,
    ) -> Result<(), StoreError> {
        let mut body = self.create_body(id).await?;
        body.write(bytes).await?;
        let finished = body.finish().await?;
        let tls = crate::model::LocalTls { required: required_tls, asked: None };
        let message = crate::model::local_message(id, hostname, to, bytes, finished.size(), not_before, tls);
        self.commit(finished, message).await
    }

    /// From now on, hands the messages due at once to the returned receiver as they are
    /// committed, already claimed (at most `capacity` waiting; beyond, they are queued for the
    /// scan). Only where a claim needs no lease (SQLite); elsewhere nothing is ever handed over.
    pub fn hand_off(&self, capacity: usize) -> tokio::sync::mpsc::Receiver<Handed> {
        self.hand_off.open(capacity)
    }

    /// Claims up to `limit` recipients due at `now` for delivery (queued → active), one
    /// message's recipients by one delivery at a time.
    pub async fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Claim>, StoreError> {
        self.store.claim_due(now, limit).await
    }

    /// Extends this node's claims on recipients `idxs` of message `id` while it delivers them;
    /// returns those still this node's (see [`crate::QueueWrites::renew_claims`]). A delivery
    /// calls it every third of [`Queue::claim_lease`].
    pub async fn renew_claims(&self, id: &str, idxs: &[i64]) -> Result<Vec<i64>, StoreError> {
        self.store.renew_claims(id, idxs).await
    }

    /// How long a claim lasts unless renewed: `Some` on PostgreSQL (`[store] lease`), where
    /// another node takes over a claim whose lease ran out; `None` on SQLite (one node).
    pub fn claim_lease(&self) -> Option<std::time::Duration> {
        self.store.claim_lease()
    }

    /// Forgets the pending notifications of one kind for these recipients, once queued.
    pub async fn clear_notices(&self, id: &str, kind: NoticeKind, idxs: &[i64]) -> Result<(), StoreError> {
        self.store.clear_notices(id, kind, idxs).await
    }

    /// Marks the message done when every recipient is delivered or bounced and no notice
    /// waits; true if it is.
    pub async fn finish_if_done(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        self.store.finish_if_done(id, now).await
    }

    /// Records delivery outcomes (the new states follow from `crate::state`). Outcomes from
    /// concurrent deliveries share one write (group commit); returns the IDs of the messages
    /// this call's updates finished.
    pub async fn record_outcomes(&self, updates: Vec<RecipientUpdate>, now: i64) -> Result<Vec<String>, StoreError> {
        let (done, wait) = oneshot::channel();
        if self.outcomes.send(Outcomes { updates, now, done }).await.is_err() {
            return Err(StoreError::Closed);
        }
        wait.await.unwrap_or(Err(StoreError::Closed))
    }

    /// The store's roles (reading the queue, TLS knowledge, accounts, links, sessions).
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The administrator's door: hold, release, retry, delete, purge.
    pub fn control(&self) -> &QueueControl {
        &self.control
    }

    /// The spool.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Where this node keeps the body of a committed message. On PostgreSQL this node may have
    /// no copy: readers go through [`Queue::local_body`].
    pub fn body_path(&self, id: &str) -> PathBuf {
        self.spool.body_path(id)
    }

    /// The local path of committed message `id`'s body, fetched from the shared store first
    /// when this node has no copy ([`QueueControl::local_body`]).
    pub async fn local_body(&self, id: &str) -> Result<PathBuf, StoreError> {
        self.control.local_body(id).await
    }

    /// The first `max` bytes of committed message `id`'s body ([`QueueControl::body_head`]).
    pub async fn body_head(&self, id: &str, max: usize) -> Result<Vec<u8>, StoreError> {
        self.control.body_head(id, max).await
    }

    /// Removes the body of a message that is done, once its "done" record is durable: right
    /// after the next durable commit, or at the latest in `remove_finished_bodies`. Until
    /// then a power cut finds the body where recovery expects it. On PostgreSQL the shared
    /// copy goes too.
    pub fn remove_body(&self, id: &str) {
        self.removals.lock().expect("removals lock").push(id.to_string());
    }

    /// Makes the store durable and removes the bodies of finished messages (when idle).
    pub async fn remove_finished_bodies(&self) {
        let pending = !self.removals.lock().expect("removals lock").is_empty();
        if !pending {
            return;
        }
        match self.store.make_durable().await {
            Ok(()) => {
                if let Some(removing) = remove_pending(&self.control.bodies, &self.removals) {
                    let _ = removing.await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot make the queue durable"),
        }
    }

    /// Completes when new messages were committed since the last call (for the deliverer).
    pub async fn new_mail(&self) {
        self.new_mail.notified().await;
    }

    /// Now, by the queue's clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The queue's clock; tests move it forward.
    pub fn clock(&self) -> &crate::Clock {
        &self.clock
    }

    /// Wakes whoever waits in `new_mail` (after queue commands such as flush).
    pub fn wake(&self) {
        self.new_mail.notify_one();
    }
}

/// The group committer: the part of the queue that commits received messages in batches.
struct Committer {
    spool: Spool,
    bodies: Bodies,
    store: Arc<dyn Backend>,
    new_mail: Arc<tokio::sync::Notify>,
    removals: Arc<std::sync::Mutex<Vec<String>>>,
    clock: crate::Clock,
    hand_off: HandOff,
}

impl Committer {
    async fn run(self, mut rx: mpsc::Receiver<Pending>, max: usize) {
        let mut batch = Vec::with_capacity(max);
        while rx.recv_many(&mut batch, max).await > 0 {
            // Bodies finished before this durable commit may go once it is done.
            let ready: Vec<String> = std::mem::take(&mut *self.removals.lock().expect("removals lock"));
            match self.commit_batch(std::mem::take(&mut batch)).await {
                Committed::Yes { left_to_scan } => {
                    remove_bodies(&self.bodies, ready);
                    // Messages handed over need no scan to be found.
                    if left_to_scan {
                        self.new_mail.notify_one();
                    }
                }
                Committed::No => self.removals.lock().expect("removals lock").extend(ready),
            }
        }
    }

    /// Commits a batch: says whether the database commit (FULL, so durable) happened.
    async fn commit_batch(&self, batch: Vec<Pending>) -> Committed {
        let published = {
            let spool = self.spool.clone();
            let bodies: Vec<FinishedBody> = batch
                .iter()
                .map(|p| FinishedBody {
                    id: p.body.id.clone(),
                    tmp_path: p.body.tmp_path.clone(),
                    size: p.body.size,
                    kept: None,
                })
                .collect();
            tokio::task::spawn_blocking(move || spool.publish(&bodies.iter().collect::<Vec<_>>()))
                .await
                .unwrap_or_else(|_| batch.iter().map(|_| Err(StoreError::Closed)).collect())
        };
        let mut ready = Vec::with_capacity(batch.len());
        for (p, moved) in batch.into_iter().zip(published) {
            match moved {
                Ok(()) => ready.push(p),
                Err(e) => {
                    p.body.discard();
                    let _ = p.done.send(Err(e));
                }
            }
        }
        if ready.is_empty() {
            return Committed::No;
        }
        let mut messages: Vec<NewMessage> = ready.iter().map(|p| p.message.clone()).collect();
        let bodies: Vec<(String, Vec<u8>)> = ready
            .iter_mut()
            .filter_map(|p| p.with_rows.take().map(|bytes| (p.body.id.as_str().to_string(), bytes)))
            .collect();
        // A claim that needs a lease (several nodes) is left to the scan.
        let reserved = match self.store.claim_lease() {
            None => self.hand_off.reserve(&mut messages, self.clock.now()),
            Some(_) => Vec::new(),
        };
        match self.store.insert_messages_with_bodies(&messages, &bodies).await {
            Ok(()) => {
                let left_to_scan = messages.iter().any(|m| !m.claimed);
                let kept: Vec<_> = ready.iter().map(|p| p.body.kept.clone()).collect();
                for p in ready {
                    let _ = p.done.send(Ok(()));
                }
                hand_off::deliver_now(&messages, kept, reserved);
                Committed::Yes { left_to_scan }
            }
            Err(e) => {
                tracing::error!(error = %e, messages = ready.len(), "queue commit failed");
                let full = e.is_storage_full();
                for p in ready {
                    self.spool.remove(p.body.id.as_str());
                    let err =
                        if full { StoreError::StorageFull(e.to_string()) } else { StoreError::Damaged(e.to_string()) };
                    let _ = p.done.send(Err(err));
                }
                Committed::No
            }
        }
    }
}

/// What became of a batch.
enum Committed {
    /// Durable; `left_to_scan` when some of its messages were not handed to delivery.
    Yes {
        left_to_scan: bool,
    },
    No,
}

async fn outcome_loop(store: Arc<dyn Backend>, mut rx: mpsc::Receiver<Outcomes>) {
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, 64).await > 0 {
        let now = batch.iter().map(|o| o.now).max().unwrap_or(0);
        let all: Vec<RecipientUpdate> = batch.iter().flat_map(|o| o.updates.iter().cloned()).collect();
        match store.record_outcomes(&all, now).await {
            Ok(finished) => {
                for o in batch.drain(..) {
                    let mine = finished.iter().filter(|id| o.updates.iter().any(|u| &u.message_id == *id)).cloned();
                    let _ = o.done.send(Ok(mine.collect()));
                }
            }
            Err(e) => {
                // One bad request must not take the others down: each is tried alone.
                tracing::warn!(error = %e, "outcome batch failed; writing each delivery's outcome alone");
                for o in batch.drain(..) {
                    let result = store.record_outcomes(&o.updates, o.now).await;
                    let _ = o.done.send(result);
                }
            }
        }
    }
}

fn remove_pending(bodies: &Bodies, removals: &std::sync::Mutex<Vec<String>>) -> Option<tokio::task::JoinHandle<u64>> {
    let ready: Vec<String> = std::mem::take(&mut *removals.lock().expect("removals lock"));
    remove_bodies(bodies, ready)
}

/// Removes the bodies of finished messages (this node's copies; on PostgreSQL the shared ones
/// too) on a task of their own, so the next commit does not wait for them.
fn remove_bodies(bodies: &Bodies, ids: Vec<String>) -> Option<tokio::task::JoinHandle<u64>> {
    if ids.is_empty() {
        return None;
    }
    let bodies = bodies.clone();
    Some(tokio::spawn(async move { bodies.remove(&ids).await }))
}
