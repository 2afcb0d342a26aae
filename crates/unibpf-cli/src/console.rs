//! Ctrl-C on Windows: a console control handler that asks the guest to
//! stop the way SIGINT and SIGTERM do on Unix (a graceful stop, then a
//! kill after the grace period; a second Ctrl-C kills at once).

use std::sync::mpsc::Sender;
use std::sync::{Mutex, OnceLock};

/// The console events that ask unibpf to stop. Logoff and shutdown go to
/// services only, so a console program does not see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    CtrlC,
    CtrlBreak,
    /// The console window is closing: Windows ends the process once the
    /// handler returns (or after about 5 seconds), so the handler waits
    /// there for the guest to stop.
    Close,
}

/// The event a console control code means (`CTRL_*_EVENT` of wincon.h),
/// or None for the ones left to the next handler.
pub fn stop_of(ctrl_type: u32) -> Option<Stop> {
    match ctrl_type {
        0 => Some(Stop::CtrlC),
        1 => Some(Stop::CtrlBreak),
        2 => Some(Stop::Close),
        _ => None,
    }
}

/// Where the handler sends; set once, by [`forward_ctrl`].
static STOPS: OnceLock<Mutex<Sender<()>>> = OnceLock::new();

/// Asks to stop for `stop`: Ok(true) if it was sent. Sending fails once
/// the watcher has gone (the module ended), and the event is then left
/// to the default handler, which ends the process.
fn send(stop: Stop) -> bool {
    let Some(tx) = STOPS.get() else {
        return false;
    };
    let sent = tx
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(())
        .is_ok();
    tracing::debug!("console {stop:?}: stop requested: {sent}");
    sent
}

/// Installs the handler; each Ctrl-C, Ctrl-Break or console close then
/// sends on `tx`.
#[cfg(windows)]
pub fn forward_ctrl(tx: Sender<()>) -> std::io::Result<()> {
    use windows_sys::core::BOOL;
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;

    /// Runs on a thread Windows creates for each event.
    unsafe extern "system" fn handler(ctrl_type: u32) -> BOOL {
        let Some(stop) = stop_of(ctrl_type) else {
            return 0;
        };
        if !send(stop) {
            return 0;
        }
        if stop == Stop::Close {
            // Returning lets Windows end the process now: wait here while
            // the guest stops (the process exits from the main thread
            // when it has, ending this wait).
            std::thread::sleep(std::time::Duration::from_secs(4));
        }
        1
    }

    if STOPS.set(Mutex::new(tx)).is_err() {
        // Installed already: the first sender stays.
        return Ok(());
    }
    // SAFETY: `handler` is a plain function for the program's whole life,
    // with the signature PHANDLER_ROUTINE requires; it touches only the
    // static it reads through a OnceLock and a Mutex, so running on the
    // thread Windows starts for each event is sound.
    let ok = unsafe { SetConsoleCtrlHandler(Some(handler), 1) };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// For tests on any OS: sends as the handler would for `ctrl_type`.
#[cfg(test)]
fn handle_for_test(ctrl_type: u32) -> bool {
    stop_of(ctrl_type).is_some_and(send)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_codes_map_to_stops() {
        assert_eq!(stop_of(0), Some(Stop::CtrlC));
        assert_eq!(stop_of(1), Some(Stop::CtrlBreak));
        assert_eq!(stop_of(2), Some(Stop::Close));
        // CTRL_LOGOFF_EVENT and CTRL_SHUTDOWN_EVENT: not a console's.
        assert_eq!(stop_of(5), None);
        assert_eq!(stop_of(6), None);
    }

    /// Each Ctrl-C sends one stop on the channel (the watcher counts them:
    /// the first asks gracefully, the second kills); other codes send none.
    #[test]
    fn each_ctrl_c_sends_one_stop() {
        let (tx, rx) = std::sync::mpsc::channel();
        assert!(STOPS.set(Mutex::new(tx)).is_ok());
        assert!(handle_for_test(0));
        assert!(handle_for_test(1));
        assert!(!handle_for_test(6));
        assert_eq!(rx.try_iter().count(), 2);
        drop(rx);
        assert!(
            !handle_for_test(0),
            "the watcher has gone: left to the default handler"
        );
    }
}
