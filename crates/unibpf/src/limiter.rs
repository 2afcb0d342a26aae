//! The wasm side of [`Limits`]: linear memory and table sizes, enforced by
//! wasmi on every allocation and grow.
//!
//! A denied grow is what the guest sees (`memory.grow` returns -1, as the
//! spec allows); the denial is kept so that a failed instantiation can say
//! which limit the module's declared sizes went over.

use unibpf_hostcall::{Limit, LimitExceeded, Limits};

/// Tables a module may define: C, Rust and Go modules have one; the
/// reference-types proposal allows a few more.
const MAX_TABLES: usize = 8;

pub(crate) struct GuestLimiter {
    limits: Limits,
    /// The first denial: the one that failed instantiation, if any.
    denied: Option<LimitExceeded>,
    /// Whether a denial during the run was logged already.
    reported: bool,
}

impl GuestLimiter {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            denied: None,
            reported: false,
        }
    }

    /// Why instantiation failed, when it was a limit.
    pub(crate) fn take_denial(&mut self) -> Option<LimitExceeded> {
        self.denied.take()
    }

    fn allow(&mut self, limit: Limit, what: &str, desired: usize) -> bool {
        let allowed = self.limits.get(limit);
        let requested = desired as u64;
        if requested <= allowed {
            return true;
        }
        let exceeded = LimitExceeded {
            limit,
            what: what.to_string(),
            requested,
            allowed,
        };
        if !self.reported {
            // Once per module: a guest retrying its grow must not flood the log.
            self.reported = true;
            tracing::warn!("{exceeded}; the grow fails");
        }
        self.denied.get_or_insert(exceeded);
        false
    }
}

impl GuestLimiter {
    /// A grow to `desired`: within the module's own maximum and our limit.
    fn growing(
        &mut self,
        limit: Limit,
        what: &str,
        desired: usize,
        maximum: Option<usize>,
    ) -> bool {
        maximum.is_none_or(|max| desired <= max) && self.allow(limit, what, desired)
    }
}

impl wasmi::ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(self.growing(
            Limit::Memory,
            "the module's linear memory",
            desired,
            maximum,
        ))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(self.growing(
            Limit::TableElements,
            "a table of the module",
            desired,
            maximum,
        ))
    }

    fn instances(&self) -> usize {
        // One store runs one module.
        1
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmi::ResourceLimiter;

    #[test]
    fn grows_past_a_limit_are_denied_and_the_first_denial_kept() {
        let mut l = GuestLimiter::new(Limits::default());
        let mem = Limits::default().memory as usize;
        assert!(l.memory_growing(0, mem, None).unwrap());
        assert!(!l.memory_growing(0, mem + 65536, None).unwrap());
        assert!(!l.table_growing(0, usize::MAX, None).unwrap());
        let denial = l.take_denial().expect("a denial");
        assert_eq!(denial.limit, Limit::Memory);
        // The module's own maximum is enforced too, without blaming a limit.
        let mut l = GuestLimiter::new(Limits::default());
        assert!(!l.memory_growing(0, 2 * 65536, Some(65536)).unwrap());
        assert!(l.take_denial().is_none());
    }
}
