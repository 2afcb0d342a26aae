//! The results: one row per measurement, native beside unibpf, as a table
//! for people and as JSON for tools.

use std::fmt::Write as _;

use serde::Serialize;

/// What a row is held to.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Target {
    /// unibpf / native at most this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
    /// unibpf's own value at most this (in the row's unit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unibpf: Option<f64>,
}

impl Target {
    pub const NONE: Target = Target {
        max_ratio: None,
        max_unibpf: None,
    };

    pub fn ratio(max: f64) -> Self {
        Self {
            max_ratio: Some(max),
            max_unibpf: None,
        }
    }

    fn is_none(&self) -> bool {
        self.max_ratio.is_none() && self.max_unibpf.is_none()
    }

    fn describe(&self, unit: Unit) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.max_unibpf {
            parts.push(format!("<= {}", unit.render(v)));
        }
        if let Some(r) = self.max_ratio {
            parts.push(format!("<= {r:.2}x"));
        }
        parts.join(", ")
    }
}

/// The unit of a row's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    NsPerOp,
    /// Also shown as events per second.
    NsPerEvent,
    Ms,
    Bytes,
}

impl Unit {
    fn render(self, v: f64) -> String {
        match self {
            Unit::NsPerOp => format!("{v:.0} ns"),
            Unit::NsPerEvent => format!("{v:.0} ns ({})", per_second(v)),
            Unit::Ms => format!("{v:.1} ms"),
            Unit::Bytes => bytes(v),
        }
    }
}

fn per_second(ns: f64) -> String {
    if ns <= 0.0 || !ns.is_finite() {
        return "-".to_string();
    }
    let rate = 1e9 / ns;
    if rate >= 1e6 {
        format!("{:.2} M/s", rate / 1e6)
    } else {
        format!("{:.0} k/s", rate / 1e3)
    }
}

/// Decimal units, as the targets (72 KB, 20 MB) are stated.
fn bytes(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1} MB", v / 1e6)
    } else {
        format!("{:.1} KB", v / 1e3)
    }
}

/// One measurement, both sides.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub measure: String,
    pub unit: Unit,
    /// None where there is no native counterpart (the unibpf binary).
    pub native: Option<f64>,
    /// What the `native` column holds when it is not the native libbpf
    /// build: another unibpf configuration this row is compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<&'static str>,
    pub unibpf: f64,
    /// unibpf / native.
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Target::is_none")]
    pub target: Target,
    /// Whether the target was met (None when there is none).
    pub met: Option<bool>,
}

impl Row {
    pub fn new(
        measure: impl Into<String>,
        unit: Unit,
        native: Option<f64>,
        unibpf: f64,
        target: Target,
    ) -> Self {
        let ratio = native.filter(|n| *n > 0.0).map(|n| unibpf / n);
        let met = (!target.is_none()).then(|| {
            let ratio_ok = match (target.max_ratio, ratio) {
                (Some(max), Some(r)) => r <= max,
                (Some(_), None) => false,
                (None, _) => true,
            };
            ratio_ok && target.max_unibpf.is_none_or(|max| unibpf <= max)
        });
        Self {
            measure: measure.into(),
            unit,
            native,
            baseline: None,
            unibpf,
            ratio,
            target,
            met,
        }
    }
}

impl Row {
    /// A row comparing unibpf with itself in another configuration
    /// (`baseline`, e.g. BTF from sysfs), shown in the native column.
    pub fn versus(
        measure: impl Into<String>,
        unit: Unit,
        baseline: &'static str,
        baseline_value: f64,
        unibpf: f64,
        target: Target,
    ) -> Self {
        Self {
            baseline: Some(baseline),
            ..Self::new(measure, unit, Some(baseline_value), unibpf, target)
        }
    }
}

/// Where the numbers came from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpu: String,
    pub cpus: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    /// "full", or "smoke" (tiny counts: checks the harness, not the speed).
    pub scale: &'static str,
    pub rows: Vec<Row>,
}

impl Report {
    /// Rows with a target they missed.
    pub fn missed(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.met == Some(false)).collect()
    }

    /// The table, as Markdown (it reads fine as plain text too).
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "unibpf bench ({} run) on {}, kernel {} {}, {} ({} CPUs)\n",
            self.scale, m.os, m.kernel, m.arch, m.cpu, m.cpus
        );
        let _ = writeln!(
            out,
            "| measure | native | unibpf | unibpf/native | target |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|");
        for r in &self.rows {
            let native = match (r.native, r.baseline) {
                (Some(v), Some(label)) => format!("{} (unibpf, {label})", r.unit.render(v)),
                (Some(v), None) => r.unit.render(v),
                (None, _) => "-".to_string(),
            };
            let ratio = r.ratio.map_or("-".to_string(), |v| format!("{v:.2}x"));
            let target = match r.met {
                None => String::new(),
                Some(ok) => format!(
                    "{} {}",
                    r.target.describe(r.unit),
                    if ok { "met" } else { "MISSED" }
                ),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.measure,
                native,
                r.unit.render(r.unibpf),
                ratio,
                target
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_judge_ratio_and_absolute_value() {
        let r = Row::new(
            "x",
            Unit::Ms,
            Some(40.0),
            48.0,
            Target {
                max_ratio: Some(1.5),
                max_unibpf: Some(50.0),
            },
        );
        assert_eq!(r.met, Some(true));
        assert!((r.ratio.unwrap() - 1.2).abs() < 1e-9);
        let r = Row::new("x", Unit::Ms, Some(40.0), 61.0, Target::ratio(1.5));
        assert_eq!(r.met, Some(false));
        let r = Row::new("x", Unit::Bytes, None, 10.0, Target::NONE);
        assert_eq!((r.met, r.ratio), (None, None));
    }

    #[test]
    fn event_rows_show_the_rate() {
        assert_eq!(Unit::NsPerEvent.render(250.0), "250 ns (4.00 M/s)");
        assert_eq!(Unit::Bytes.render(70_000.0), "70.0 KB");
        assert_eq!(Unit::Bytes.render(20e6), "20.0 MB");
    }
}
