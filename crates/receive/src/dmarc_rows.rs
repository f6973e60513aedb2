//! The DMARC aggregate reports' rows (`sekisho_auth::aggregate::row`), counted in memory as
//! inbound mail is authenticated and written to the store in batches: every minute, when
//! `MAX_ROWS` distinct rows are held, and when the server stops. Memory is bounded by the
//! number of distinct rows (day × policy domain × source address × disposition × results), not
//! by the number of messages; the day's report is built from the stored rows.

use std::sync::Arc;
use std::time::Duration;

use sekisho_store::{Counts, DmarcCount, DmarcRow, ReportStore};

/// Distinct rows held before they are written anyway (a flood of distinct sources).
const MAX_ROWS: usize = 10_000;

/// How often the rows are written.
const WRITE_EVERY: Duration = Duration::from_secs(60);

/// Rows not yet in the store.
pub(crate) struct DmarcRows {
    counts: Arc<Counts<DmarcRow, ()>>,
    store: Arc<dyn ReportStore>,
}

impl DmarcRows {
    pub(crate) fn new(store: Arc<dyn ReportStore>) -> DmarcRows {
        DmarcRows { counts: Arc::new(Counts::new(MAX_ROWS)), store }
    }

    /// Counts one message; a full table is written in the background.
    pub(crate) fn add(&self, row: DmarcRow) {
        if self.counts.add(row, || ()) {
            let (counts, store) = (self.counts.clone(), self.store.clone());
            tokio::spawn(async move { write(&counts, store.as_ref()).await });
        }
    }

    /// Writes the rows every minute until `shutdown`, then once more.
    pub(crate) async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(WRITE_EVERY) => write(&self.counts, self.store.as_ref()).await,
            }
        }
        write(&self.counts, self.store.as_ref()).await;
    }
}

/// Writes the rows counted so far; on failure they stay for the next time.
async fn write(counts: &Counts<DmarcRow, ()>, store: &dyn ReportStore) {
    let rows = counts.take();
    if rows.is_empty() {
        return;
    }
    let batch: Vec<DmarcCount> =
        rows.iter().map(|(row, count, ())| DmarcCount { row: row.clone(), count: *count }).collect();
    if let Err(e) = store.count_dmarc_rows(&batch).await {
        tracing::error!(error = %e, "cannot store the DMARC report rows; keeping them for the next try");
        counts.restore(rows);
    }
}
