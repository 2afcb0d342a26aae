use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, OwnedHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateEventW, ResetEvent, SetEvent, WaitForMultipleObjects, INFINITE,
};

/// What a waiter borrows to wait on: an event object's handle (eBPF for
/// Windows signals ring buffers through such handles too).
pub type Wake<'a> = BorrowedHandle<'a>;

/// A manual-reset event object: signaled from [`Event::signal`] to
/// [`Event::clear`].
#[derive(Debug)]
pub struct Event(OwnedHandle);

impl Event {
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: no security attributes and no name are valid arguments;
        // manual reset, initially unsignaled.
        let raw = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        if raw.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: CreateEventW returned a new handle that nothing else owns.
        Ok(Event(unsafe { OwnedHandle::from_raw_handle(raw) }))
    }

    pub fn signal(&self) {
        // SAFETY: the handle is an event object this value owns.
        unsafe { SetEvent(self.0.as_raw_handle()) };
    }

    pub fn clear(&self) {
        // SAFETY: as in signal.
        unsafe { ResetEvent(self.0.as_raw_handle()) };
    }

    pub fn wake(&self) -> Wake<'_> {
        self.0.as_handle()
    }
}

/// Waits until one of `handles` is signaled or `timeout` passes (forever
/// when None); true if one is. A timeout is rounded up to whole
/// milliseconds, as on Unix.
pub fn wait_readable(handles: &[Wake<'_>], timeout: Option<Duration>) -> bool {
    let ms = timeout.map_or(INFINITE, |d| {
        d.as_micros().div_ceil(1000).min(u128::from(INFINITE - 1)) as u32
    });
    let raw: Vec<_> = handles.iter().map(|h| h.as_raw_handle()).collect();
    if raw.is_empty() {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
        return false;
    }
    // SAFETY: every handle is borrowed for the call and valid; the count is
    // the slice's (at most MAXIMUM_WAIT_OBJECTS is the caller's to keep:
    // a poller waits on a handful).
    let r = unsafe { WaitForMultipleObjects(raw.len() as u32, raw.as_ptr(), 0, ms) };
    r != WAIT_TIMEOUT && r < WAIT_OBJECT_0 + raw.len() as u32
}
