//! One line per message on stderr: `unibpf: error: ...`.
//!
//! Messages carry text from guests (names, targets, and libbpf's view of the
//! guest's ELF), so every control character is escaped here: whatever a
//! guest passes, it cannot end our line and start one of its own.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;
pub use unibpf::one_line;

struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let target = event.metadata().target();
        if target.starts_with("unibpf") {
            write!(w, "unibpf: {level}: ")?;
        } else {
            write!(w, "unibpf: {level}: [{target}] ")?;
        }
        let mut message = String::new();
        ctx.field_format()
            .format_fields(Writer::new(&mut message), event)?;
        writeln!(w, "{}", one_line(&message))
    }
}

pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug,libbpf=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("UNIBPF_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Plain)
        .init();
}
