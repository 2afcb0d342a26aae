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

    pub fn description(self) -> String {
        std::io::Error::from_raw_os_error(self.0).to_string()
    }
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
