use std::fmt;

/// A positive errno value (`EPERM` = 1, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const ESRCH: Errno = Errno(3);
    pub const EINTR: Errno = Errno(4);
    pub const EIO: Errno = Errno(5);
    pub const EBADF: Errno = Errno(9);
    pub const ENOMEM: Errno = Errno(12);
    pub const EFAULT: Errno = Errno(14);
    pub const EEXIST: Errno = Errno(17);
    pub const ENODEV: Errno = Errno(19);
    pub const EINVAL: Errno = Errno(22);
    pub const E2BIG: Errno = Errno(7);
    pub const ENFILE: Errno = Errno(23);
    pub const EMFILE: Errno = Errno(24);
    pub const ENOSPC: Errno = Errno(28);
    pub const ELOOP: Errno = Errno(40);
    pub const ENOBUFS: Errno = Errno(105);
    pub const ENOSYS: Errno = Errno(38);
    pub const EOPNOTSUPP: Errno = Errno(95);

    /// The value a guest sees: `-errno`.
    pub fn negated(self) -> i32 {
        -self.0.abs()
    }

    /// What the number means on Linux, which numbers every errno here (on
    /// Windows the OS's own numbers are Win32 error codes, so its texts
    /// would describe something else).
    pub fn description(self) -> String {
        #[cfg(target_os = "linux")]
        return std::io::Error::from_raw_os_error(self.0).to_string();
        #[cfg(not(target_os = "linux"))]
        return linux_strerror(self.0).map_or_else(|| format!("errno {}", self.0), str::to_string);
    }
}

/// glibc's text for the Linux errnos eBPF and WASI calls return.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn linux_strerror(errno: i32) -> Option<&'static str> {
    Some(match errno {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        3 => "No such process",
        4 => "Interrupted system call",
        5 => "Input/output error",
        7 => "Argument list too long",
        9 => "Bad file descriptor",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        13 => "Permission denied",
        14 => "Bad address",
        16 => "Device or resource busy",
        17 => "File exists",
        19 => "No such device",
        20 => "Not a directory",
        21 => "Is a directory",
        22 => "Invalid argument",
        23 => "Too many open files in system",
        24 => "Too many open files",
        28 => "No space left on device",
        34 => "Numerical result out of range",
        35 => "Resource deadlock avoided",
        36 => "File name too long",
        37 => "No locks available",
        38 => "Function not implemented",
        39 => "Directory not empty",
        40 => "Too many levels of symbolic links",
        61 => "No data available",
        62 => "Timer expired",
        75 => "Value too large for defined data type",
        84 => "Invalid or incomplete multibyte or wide character",
        90 => "Message too long",
        95 => "Operation not supported",
        98 => "Address already in use",
        99 => "Cannot assign requested address",
        105 => "No buffer space available",
        110 => "Connection timed out",
        114 => "Operation already in progress",
        125 => "Operation canceled",
        _ => return None,
    })
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // "permission denied" rather than "Permission denied (os error 1)".
        let text = self.description();
        let text = text.split(" (os error").next().unwrap_or(&text);
        let mut chars = text.chars();
        match chars.next() {
            Some(c) => write!(f, "{}{}", c.to_lowercase(), chars.as_str()),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// `text` with its control characters escaped (`\n` as `\\n`): one line,
/// whatever guest-supplied names it carries.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A backend failure: the errno the guest will see, and a one-line message for
/// the user that names the cause. Messages carry names from the guest's
/// object and calls; control characters in them are escaped when the error
/// is made, so a message is always one line whoever logs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    errno: Errno,
    message: String,
}

impl BackendError {
    pub fn new(errno: Errno, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match one_line(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        Self { errno, message }
    }

    pub fn errno(&self) -> Errno {
        self.errno
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with what was being done: `"{ctx}: {message}"`.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{}: {}", one_line(&ctx.to_string()), self.message);
        self
    }
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The table other systems use says what glibc says.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_errno_texts_for_other_systems_are_linuxs() {
        for errno in 1..200 {
            if let Some(text) = linux_strerror(errno) {
                let linux = std::io::Error::from_raw_os_error(errno).to_string();
                assert_eq!(linux, format!("{text} (os error {errno})"));
            }
        }
    }

    #[test]
    fn messages_are_one_line_whatever_they_carry() {
        let e = BackendError::new(Errno::EINVAL, "program a\nunibpf: error: forged: x")
            .context("loading\r");
        assert_eq!(
            e.message(),
            "loading\\r: program a\\nunibpf: error: forged: x"
        );
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(one_line("\u{1b}[2K"), "\\u{1b}[2K");
    }
}
