//! Guest-supplied names in log lines.

use std::fmt;

/// A guest-supplied name for a log line: as it is when it is plain text,
/// quoted with its control characters escaped when not, so that it cannot
/// end the line and fake one of ours.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && !self.0.chars().any(char::is_control) {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_plain_and_others_are_quoted() {
        assert_eq!(Escaped("handle_exec").to_string(), "handle_exec");
        assert_eq!(Escaped("a\nb").to_string(), "\"a\\nb\"");
        assert_eq!(Escaped("").to_string(), "\"\"");
    }
}
