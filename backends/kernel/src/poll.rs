//! Event pollers: libbpf's ring buffer or perf buffer consumer for one map, chosen
//! by the map's real type after load.
//!
//! libbpf hands each record to a callback while it walks the buffer. We only copy
//! the record into a batch there; the guest is called after libbpf returns, so
//! wasm never runs inside libbpf.
//!
//! Waiting is one epoll_wait on the consumer's own epoll set, into which the
//! instance's wake fd is added once: a poll(2) over the epoll fd and the wake
//! fd would hook and unhook two wait queues on every wake-up, which at a few
//! hundred thousand events a second is a measurable share of the consumer's
//! CPU time.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::{MapCore, MapType, PerfBuffer, PerfBufferBuilder, RingBuffer, RingBufferBuilder};
use nix::libc;
use unibpf_backend::{BackendError, Errno, EventBatch, Result};

/// Pages per CPU for perf buffers (upstream's default).
const PERF_BUFFER_PAGES: usize = 64;

enum Consumer {
    Ring(RingBuffer<'static>),
    Perf(PerfBuffer<'static>),
}

/// epoll data of the wake fd; libbpf's own entries carry ring indexes or
/// buffer pointers, never this.
const WAKE_TOKEN: u64 = u64::MAX;

pub(crate) struct Poller {
    consumer: Consumer,
    pending: Rc<RefCell<EventBatch>>,
    /// The wake fd already in the epoll set.
    wake_added: Option<RawFd>,
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
                        // A full batch stops libbpf's walk; the records after
                        // this one stay in the ring for the next poll.
                        if sink.borrow_mut().push(data) {
                            0
                        } else {
                            -libc::ENOBUFS
                        }
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
                    // libbpf walks every perf buffer to its end, so the
                    // batch may pass its budget here; the buffers are ours
                    // and bounded (PERF_BUFFER_PAGES per CPU).
                    .sample_cb(move |_cpu: i32, data: &[u8]| {
                        sink.borrow_mut().push(data);
                    })
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
        Ok(Self {
            consumer,
            pending,
            wake_added: None,
        })
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
        match res {
            // The batch filled up (see the ring buffer callback).
            Err(e) if crate::diagnose::errno_of(&e) == Errno::ENOBUFS => Ok(()),
            other => other.map_err(|e| to_error(&e, "consuming events")),
        }
    }

    /// Waits for records (or `wake`), then moves every available record into `out`.
    pub(crate) fn poll(
        &mut self,
        timeout: Option<Duration>,
        wake: BorrowedFd<'_>,
        out: &mut EventBatch,
    ) -> Result<()> {
        let budget = out.budget();
        out.reset(budget);
        self.pending.borrow_mut().reset(budget);

        let epoll_fd = self.epoll_fd();
        if self.wake_added != Some(wake.as_raw_fd()) {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: WAKE_TOKEN,
            };
            // SAFETY: both fds are open (the epoll fd belongs to the consumer,
            // which outlives this call); ev is a valid epoll_event.
            let r = unsafe {
                libc::epoll_ctl(epoll_fd, libc::EPOLL_CTL_ADD, wake.as_raw_fd(), &mut ev)
            };
            if r < 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EEXIST) {
                    return Err(BackendError::new(
                        Errno(err.raw_os_error().unwrap_or(libc::EINVAL)),
                        format!("adding the wake fd to the event poller: {err}"),
                    ));
                }
            }
            self.wake_added = Some(wake.as_raw_fd());
        }
        let timeout_ms = match timeout {
            None => -1,
            Some(d) => i32::try_from(d.as_millis()).unwrap_or(i32::MAX),
        };
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
        // SAFETY: events is a writable array of the length given.
        let n = unsafe {
            libc::epoll_wait(
                epoll_fd,
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            let errno = err.raw_os_error().unwrap_or(libc::EINVAL);
            if errno == libc::EINTR {
                return Err(BackendError::new(Errno::EINTR, "interrupted"));
            }
            return Err(BackendError::new(
                Errno(errno),
                format!("waiting for events: {err}"),
            ));
        }
        let ready = &events[..n as usize];
        let woken = ready.iter().any(|e| e.u64 == WAKE_TOKEN);
        let data = ready.iter().any(|e| e.u64 != WAKE_TOKEN);
        // On a stop request, records already there are still handed over
        // (consuming never blocks); -EINTR comes once there are none.
        if woken || data {
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
