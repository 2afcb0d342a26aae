//! What one module may use: the single place every resource cap is defined.
//!
//! Modules are untrusted. Each cap is a field of [`Limits`] with a default meant
//! for an untrusted module, set through `unibpf::Config` or `unibpf run --limit
//! NAME=VALUE`, and named by a [`Limit`] when it is hit, so the user's one-line
//! error says which cap and how to raise it. What the guest sees when it hits
//! one is documented per limit: a failed grow, a negative errno, or a trap.

use std::fmt;
use std::str::FromStr;

/// One resource cap, for messages and the `--limit` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Bytes of linear memory (the guest's `memory.grow` fails beyond it).
    Memory,
    /// Elements of any one table (`table.grow` fails beyond it).
    TableElements,
    /// Modules running at once in one runtime (spawning another fails).
    Modules,
    /// BPF objects a module holds open at once (`-EMFILE` to the guest).
    Objects,
    /// Bytes of one BPF object (`0` from `wasm_load_bpf_object`).
    ObjectSize,
    /// Maps a module holds handles to (`-EMFILE`).
    Maps,
    /// Programs a module holds attached (`-EMFILE`).
    Links,
    /// Host calls that call back into the guest, nested (`-ELOOP`).
    CallDepth,
    /// Bytes of events collected by one `wasm_bpf_buffer_poll` (the rest
    /// stay in the kernel's buffer for the next poll).
    EventBatch,
    /// Wasm fuel a module's start function may use (a trap beyond it).
    StartFuel,
    /// Wasm fuel between two checks for pause and stop requests.
    FuelSlice,
}

impl Limit {
    pub const ALL: [Limit; 11] = [
        Limit::Memory,
        Limit::TableElements,
        Limit::Modules,
        Limit::Objects,
        Limit::ObjectSize,
        Limit::Maps,
        Limit::Links,
        Limit::CallDepth,
        Limit::EventBatch,
        Limit::StartFuel,
        Limit::FuelSlice,
    ];

    /// The name `--limit NAME=VALUE` takes.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Memory => "memory",
            Limit::TableElements => "table-elements",
            Limit::Modules => "modules",
            Limit::Objects => "objects",
            Limit::ObjectSize => "object-size",
            Limit::Maps => "maps",
            Limit::Links => "links",
            Limit::CallDepth => "call-depth",
            Limit::EventBatch => "event-batch",
            Limit::StartFuel => "start-fuel",
            Limit::FuelSlice => "fuel-slice",
        }
    }

    /// What it caps, in words.
    pub fn what(self) -> &'static str {
        match self {
            Limit::Memory => "bytes of linear memory",
            Limit::TableElements => "elements per table",
            Limit::Modules => "modules running at once",
            Limit::Objects => "BPF objects open at once",
            Limit::ObjectSize => "bytes per BPF object",
            Limit::Maps => "map handles",
            Limit::Links => "attached programs",
            Limit::CallDepth => "nested callbacks",
            Limit::EventBatch => "bytes of events per poll",
            Limit::StartFuel => "fuel for the start function",
            Limit::FuelSlice => "fuel between pause/stop checks",
        }
    }

    /// Sizes in bytes are written with binary units.
    fn is_bytes(self) -> bool {
        matches!(self, Limit::Memory | Limit::ObjectSize | Limit::EventBatch)
    }

    /// `value` written the way a user would write it back (`256MiB`).
    pub fn format(self, value: u64) -> String {
        if self.is_bytes() {
            format_bytes(value)
        } else {
            value.to_string()
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Limit {
    type Err = LimitParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Limit::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| LimitParseError::UnknownName {
                name: s.to_string(),
            })
    }
}

/// Resource caps for one module (and, for [`Limit::Modules`], one runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory: u64,
    pub table_elements: u64,
    pub modules: u64,
    pub objects: u64,
    pub object_size: u64,
    pub maps: u64,
    pub links: u64,
    pub call_depth: u64,
    pub event_batch: u64,
    pub start_fuel: u64,
    pub fuel_slice: u64,
}

/// Largest call depth accepted: each level of nesting keeps native frames
/// on the module thread's stack, which [`Limits::thread_stack`] sizes.
pub const MAX_CALL_DEPTH: u64 = 64;

impl Default for Limits {
    /// Caps for an untrusted module: room for any real control plane, not for
    /// a module trying to exhaust the host.
    fn default() -> Self {
        Self {
            memory: 256 << 20,
            table_elements: 65_536,
            modules: 64,
            objects: 64,
            object_size: 64 << 20,
            maps: 1024,
            links: 1024,
            call_depth: 8,
            event_batch: 16 << 20,
            start_fuel: 400_000_000,
            fuel_slice: 4_000_000,
        }
    }
}

impl Limits {
    pub fn get(&self, limit: Limit) -> u64 {
        match limit {
            Limit::Memory => self.memory,
            Limit::TableElements => self.table_elements,
            Limit::Modules => self.modules,
            Limit::Objects => self.objects,
            Limit::ObjectSize => self.object_size,
            Limit::Maps => self.maps,
            Limit::Links => self.links,
            Limit::CallDepth => self.call_depth,
            Limit::EventBatch => self.event_batch,
            Limit::StartFuel => self.start_fuel,
            Limit::FuelSlice => self.fuel_slice,
        }
    }

    /// Sets one cap, checking the values that would break the runtime itself
    /// (a zero fuel slice never makes progress; a call depth beyond
    /// [`MAX_CALL_DEPTH`] would need an unbounded native stack).
    pub fn set(&mut self, limit: Limit, value: u64) -> Result<(), LimitParseError> {
        let bad = |why: &str| {
            Err(LimitParseError::OutOfRange {
                limit,
                value,
                why: why.to_string(),
            })
        };
        match limit {
            Limit::FuelSlice if value == 0 => return bad("it must be at least 1"),
            Limit::CallDepth if value > MAX_CALL_DEPTH => {
                return bad(&format!("the largest is {MAX_CALL_DEPTH}"))
            }
            Limit::Memory if value > 4 << 30 => return bad("wasm32 memory cannot exceed 4GiB"),
            _ => {}
        }
        let field = match limit {
            Limit::Memory => &mut self.memory,
            Limit::TableElements => &mut self.table_elements,
            Limit::Modules => &mut self.modules,
            Limit::Objects => &mut self.objects,
            Limit::ObjectSize => &mut self.object_size,
            Limit::Maps => &mut self.maps,
            Limit::Links => &mut self.links,
            Limit::CallDepth => &mut self.call_depth,
            Limit::EventBatch => &mut self.event_batch,
            Limit::StartFuel => &mut self.start_fuel,
            Limit::FuelSlice => &mut self.fuel_slice,
        };
        *field = value;
        Ok(())
    }

    /// Applies one `NAME=VALUE` setting (`memory=512MiB`, `call-depth=4`).
    pub fn apply(&mut self, setting: &str) -> Result<(), LimitParseError> {
        let (name, value) = setting
            .split_once('=')
            .ok_or_else(|| LimitParseError::NotAssignment(setting.to_string()))?;
        let limit: Limit = name.trim().parse()?;
        let value = parse_value(limit, value.trim())?;
        self.set(limit, value)
    }

    /// Native stack for a module's thread. Every nested host→guest call keeps
    /// the interpreter's native frames and the host call's own: 64 levels of
    /// polls nested in callbacks fit in 300 KB (measured, dev profile), so 64
    /// KiB a level leaves a wide margin for backends' own frames (libbpf's
    /// consumers) on top of a base for the outermost call.
    pub fn thread_stack(&self) -> usize {
        const BASE: usize = 16 << 20;
        const PER_LEVEL: usize = 64 << 10;
        let depth = self.call_depth.min(MAX_CALL_DEPTH) as usize;
        BASE + depth * PER_LEVEL
    }
}

/// A module asked for more than a cap allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} needs {}, above the {} limit of {} (raise it with --limit {}=...)", .limit.format(*.requested), .limit, .limit.format(*.allowed), .limit)]
pub struct LimitExceeded {
    pub limit: Limit,
    /// What was being asked for, in words ("the module's linear memory").
    pub what: String,
    pub requested: u64,
    pub allowed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitParseError {
    #[error("unknown limit {name:?}; known: {}", Limit::ALL.map(Limit::name).join(", "))]
    UnknownName { name: String },
    #[error("{0:?}: expected NAME=VALUE, e.g. memory=512MiB")]
    NotAssignment(String),
    #[error("limit {limit}: {value:?} is not a number{}", if .limit.is_bytes() { " of bytes (e.g. 65536, 64KiB, 512MiB, 1GiB)" } else { "" })]
    BadValue { limit: Limit, value: String },
    #[error("limit {limit}: {} is out of range: {why}", .limit.format(*.value))]
    OutOfRange {
        limit: Limit,
        value: u64,
        why: String,
    },
}

fn parse_value(limit: Limit, text: &str) -> Result<u64, LimitParseError> {
    let bad = || LimitParseError::BadValue {
        limit,
        value: text.to_string(),
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim() {
        "" => 1,
        _ if !limit.is_bytes() => return Err(bad()),
        "B" => 1,
        "K" | "KiB" | "k" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).ok_or_else(bad)
}

fn format_bytes(value: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if value >= 1 << shift && value % (1 << shift) == 0 {
            return format!("{}{unit}", value >> shift);
        }
    }
    format!("{value}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_with_units_and_names() {
        let mut l = Limits::default();
        l.apply("memory=512MiB").unwrap();
        assert_eq!(l.memory, 512 << 20);
        l.apply("call-depth=3").unwrap();
        assert_eq!(l.call_depth, 3);
        l.apply("event-batch=64K").unwrap();
        assert_eq!(l.event_batch, 64 << 10);
        l.apply("maps=1_000").unwrap();
        assert_eq!(l.maps, 1000);
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let mut l = Limits::default();
        let err = l.apply("memroy=1").unwrap_err().to_string();
        assert!(
            err.starts_with("unknown limit \"memroy\"; known: memory,"),
            "{err}"
        );
        assert!(matches!(
            l.apply("objects=5MiB"),
            Err(LimitParseError::BadValue { .. })
        ));
        assert!(matches!(
            l.apply("memory=99999999999GiB"),
            Err(LimitParseError::BadValue { .. })
        ));
        assert!(matches!(
            l.apply("memory"),
            Err(LimitParseError::NotAssignment(_))
        ));
        assert!(matches!(
            l.apply("fuel-slice=0"),
            Err(LimitParseError::OutOfRange { .. })
        ));
        assert!(matches!(
            l.apply("call-depth=1000"),
            Err(LimitParseError::OutOfRange { .. })
        ));
        assert_eq!(l, Limits::default(), "a refused setting changes nothing");
    }

    #[test]
    fn exceeded_limits_name_the_flag() {
        let e = LimitExceeded {
            limit: Limit::Memory,
            what: "the module's linear memory".into(),
            requested: 4 << 30,
            allowed: 256 << 20,
        };
        assert_eq!(
            e.to_string(),
            "the module's linear memory needs 4GiB, above the memory limit of 256MiB (raise it with --limit memory=...)"
        );
    }

    #[test]
    fn the_stack_grows_with_the_call_depth() {
        let mut l = Limits::default();
        let base = l.thread_stack();
        l.set(Limit::CallDepth, MAX_CALL_DEPTH).unwrap();
        assert!(l.thread_stack() > base);
    }
}
