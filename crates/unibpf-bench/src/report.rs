//! The results: one row per measurement, native beside unibpf, as a table
//! for people and as JSON for tools; then unibpf's kernel backend beside
//! its userspace backend, a section of its own (`backends` in the JSON), so
//! no column says "native" where it holds a unibpf number.

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

    /// Whether a row with this `ratio` and own `value` meets the target
    /// (None when there is none).
    fn judge(&self, ratio: Option<f64>, value: f64) -> Option<bool> {
        (!self.is_none()).then(|| {
            let ratio_ok = match (self.max_ratio, ratio) {
                (Some(max), Some(r)) => r <= max,
                (Some(_), None) => false,
                (None, _) => true,
            };
            ratio_ok && self.max_unibpf.is_none_or(|max| value <= max)
        })
    }

    /// "<= 0.30x met", or nothing without a target.
    fn verdict(&self, unit: Unit, met: Option<bool>) -> String {
        match met {
            None => String::new(),
            Some(ok) => format!(
                "{} {}",
                self.describe(unit),
                if ok { "met" } else { "MISSED" }
            ),
        }
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
        let met = target.judge(ratio, unibpf);
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

/// One measurement of the same .wasm under `unibpf run --backend kernel`
/// and `--backend userspace`.
#[derive(Debug, Clone, Serialize)]
pub struct BackendRow {
    pub measure: String,
    pub unit: Unit,
    pub kernel: f64,
    pub userspace: f64,
    /// userspace / kernel.
    pub ratio: Option<f64>,
    /// Its `max_unibpf` holds the userspace backend's own value.
    #[serde(skip_serializing_if = "Target::is_none")]
    pub target: Target,
    pub met: Option<bool>,
}

impl BackendRow {
    pub fn new(
        measure: impl Into<String>,
        unit: Unit,
        kernel: f64,
        userspace: f64,
        target: Target,
    ) -> Self {
        let ratio = (kernel > 0.0).then(|| userspace / kernel);
        Self {
            measure: measure.into(),
            unit,
            kernel,
            userspace,
            ratio,
            target,
            met: target.judge(ratio, userspace),
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
    /// unibpf's kernel backend beside its userspace backend.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<BackendRow>,
}

impl Report {
    /// The measures, in either section, whose target was missed.
    pub fn missed(&self) -> Vec<&str> {
        let rows = self
            .rows
            .iter()
            .filter(|r| r.met == Some(false))
            .map(|r| r.measure.as_str());
        let backends = self
            .backends
            .iter()
            .filter(|r| r.met == Some(false))
            .map(|r| r.measure.as_str());
        rows.chain(backends).collect()
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
        if !self.rows.is_empty() {
            self.native_table(&mut out);
        }
        if !self.backends.is_empty() {
            self.backend_table(&mut out);
        }
        out
    }

    fn native_table(&self, out: &mut String) {
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
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.measure,
                native,
                r.unit.render(r.unibpf),
                ratio(r.ratio),
                r.target.verdict(r.unit, r.met)
            );
        }
    }

    fn backend_table(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nunibpf on its two backends, the same .wasm (`--backend kernel` and `--backend userspace`):\n"
        );
        let _ = writeln!(
            out,
            "| measure | kernel backend | userspace backend | userspace/kernel | target |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|");
        for r in &self.backends {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.measure,
                r.unit.render(r.kernel),
                r.unit.render(r.userspace),
                ratio(r.ratio),
                r.target.verdict(r.unit, r.met)
            );
        }
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |v| format!("{v:.2}x"))
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
    fn backend_rows_have_their_own_columns() {
        let machine = Machine {
            os: "os".into(),
            kernel: "k".into(),
            arch: "a".into(),
            cpu: "c".into(),
            cpus: 1,
        };
        let report = Report {
            machine,
            scale: "smoke",
            rows: vec![Row::new("x", Unit::Ms, Some(1.0), 1.0, Target::NONE)],
            backends: vec![BackendRow::new(
                "map update",
                Unit::NsPerOp,
                1000.0,
                400.0,
                Target::ratio(0.3),
            )],
        };
        let table = report.table();
        assert!(table.contains("| kernel backend | userspace backend | userspace/kernel |"));
        assert!(table.contains("| map update | 1000 ns | 400 ns | 0.40x | <= 0.30x MISSED |"));
        assert_eq!(report.missed(), ["map update"]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["backends"][0]["kernel"], 1000.0);
        assert_eq!(json["rows"][0]["native"], 1.0);
    }

    #[test]
    fn event_rows_show_the_rate() {
        assert_eq!(Unit::NsPerEvent.render(250.0), "250 ns (4.00 M/s)");
        assert_eq!(Unit::Bytes.render(70_000.0), "70.0 KB");
        assert_eq!(Unit::Bytes.render(20e6), "20.0 MB");
    }
}
