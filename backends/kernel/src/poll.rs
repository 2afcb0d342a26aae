//! Event pollers: libbpf's ring buffer or perf buffer consumer for one map, chosen
//! by the map's real type after load.
//!
//! libbpf hands each record to a callback while it walks the buffer. We only copy
//! the record into a batch there; the guest is called after libbpf returns, so
//! wasm never runs inside libbpf.

use std::cell::RefCell;
use std::os::fd::{BorrowedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::{MapCore, MapType, PerfBuffer, PerfBufferBuilder, RingBuffer, RingBufferBuilder};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use unibpf_backend::{BackendError, Errno, EventBatch, Result};

/// Pages per CPU for perf buffers (upstream's default).
const PERF_BUFFER_PAGES: usize = 64;

enum Consumer {
    Ring(RingBuffer<'static>),
    Perf(PerfBuffer<'static>),
}

pub(crate) struct Poller {
    consumer: Consumer,
    pending: Rc<RefCell<EventBatch>>,
}

impl Poller {
    pub(crate) fn new<M: MapCore>(map: &M) -> Result<Self> {
        let pending = Rc::new(RefCell::new(EventBatch::new()));
        let consumer = match map.map_type() {
            MapType::RingBuf => {
                let sink = pending.clone();
                let mut builder = RingBufferBuilder::new();
                builder
                    .add(map, move |data: &[u8]| {
                        sink.borrow_mut().push(data);
                        0
                    })
                    .map_err(|e| to_error(&e, "creating the ring buffer consumer"))?;
                Consumer::Ring(
                    builder
                        .build()
                        .map_err(|e| to_error(&e, "creating the ring buffer consumer"))?,
                )
            }
            MapType::PerfEventArray => {
                let sink = pending.clone();
                let lost = pending.clone();
                let perf = PerfBufferBuilder::new(map)
                    .pages(PERF_BUFFER_PAGES)
                    .sample_cb(move |_cpu: i32, data: &[u8]| sink.borrow_mut().push(data))
                    .lost_cb(move |_cpu: i32, count: u64| lost.borrow_mut().add_lost(count))
                    .build()
                    .map_err(|e| to_error(&e, "creating the perf buffer consumer"))?;
                Consumer::Perf(perf)
            }
            other => {
                return Err(BackendError::new(
                    Errno::EINVAL,
                    format!("map is a {other:?}, not a ring buffer or perf event array"),
                ))
            }
        };
        Ok(Self { consumer, pending })
    }

    fn epoll_fd(&self) -> RawFd {
        match &self.consumer {
            Consumer::Ring(r) => r.epoll_fd(),
            Consumer::Perf(p) => p.epoll_fd(),
        }
    }

    fn consume(&self) -> Result<()> {
        let res = match &self.consumer {
            Consumer::Ring(r) => r.consume(),
            Consumer::Perf(p) => p.consume(),
        };
        res.map_err(|e| to_error(&e, "consuming events"))
    }

    /// Waits for records (or `wake`), then moves every available record into `out`.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        wake: BorrowedFd<'_>,
        out: &mut EventBatch,
    ) -> Result<()> {
        let limit = out.record_limit();
        out.reset(limit);
        self.pending.borrow_mut().reset(limit);

        // SAFETY: the epoll fd belongs to the consumer, which outlives this call.
        let events_fd = unsafe { BorrowedFd::borrow_raw(self.epoll_fd()) };
        let mut fds = [
            PollFd::new(events_fd, PollFlags::POLLIN),
            PollFd::new(wake, PollFlags::POLLIN),
        ];
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
        };
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {
                return Err(BackendError::new(Errno::EINTR, "interrupted"))
            }
            Err(e) => {
                return Err(BackendError::new(
                    Errno(e as i32),
                    format!("waiting for events: {e}"),
                ))
            }
        }
        // On a stop request, records already there are still handed over
        // (consuming never blocks); -EINTR comes once there are none.
        let woken = fds[1].any().unwrap_or(false);
        if woken || fds[0].any().unwrap_or(false) {
            self.consume()?;
        }
        out.take_from(&mut self.pending.borrow_mut());
        if woken && out.is_empty() {
            return Err(BackendError::new(Errno::EINTR, "stop requested"));
        }
        Ok(())
    }
}

fn to_error(e: &libbpf_rs::Error, doing: &str) -> BackendError {
    BackendError::new(crate::diagnose::errno_of(e), format!("{doing}: {e}"))
}
