//! `[portal] request_timeout` for a request's body: a body still arriving at the request's
//! deadline ends in an error (the handler refuses it), and the guard answers `408` instead.
//! And the other end: a response body that tells the connection's clock when it has been sent.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream, Bytes};
use tokio::time::{Instant, Sleep};
use tokio_stream::Stream;

use crate::listener::RequestClock;

/// Set once the body missed its deadline.
#[derive(Debug, Clone, Default)]
pub struct Missed(Arc<AtomicBool>);

impl Missed {
    /// Whether the body missed its deadline.
    pub fn missed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// `body`, failing if it is not all in by `deadline`; what tells whether it failed so.
pub fn timed(body: Body, deadline: Instant) -> (Body, Missed) {
    let missed = Missed::default();
    let stream = Timed {
        inner: body.into_data_stream(),
        sleep: Box::pin(tokio::time::sleep_until(deadline)),
        missed: missed.clone(),
        done: false,
    };
    (Body::from_stream(stream), missed)
}

struct Timed {
    inner: BodyDataStream,
    sleep: Pin<Box<Sleep>>,
    missed: Missed,
    done: bool,
}

impl Stream for Timed {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => Poll::Ready(Some(Ok(bytes))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.done = true;
                    self.missed.0.store(true, Ordering::SeqCst);
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body took too long");
                    Poll::Ready(Some(Err(e)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// A response body that marks its request done on the connection's clock once the server has
/// sent it (and drops it).
pub struct Sent {
    inner: Body,
    clock: Arc<RequestClock>,
}

impl Sent {
    /// `inner`, marking `clock` when sent.
    pub fn new(inner: Body, clock: Arc<RequestClock>) -> Sent {
        Sent { inner, clock }
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.clock.done();
    }
}

impl http_body::Body for Sent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
