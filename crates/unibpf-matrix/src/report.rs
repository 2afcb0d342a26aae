//! Matrix results: the JSON record, a Markdown table in the paper's style,
//! and an SVG heat-map of the same table.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
}

/// One (host, program) result: the .wasm under unibpf (the top-level
/// fields) and, beside it, the native libbpf build of the same control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub host: String,
    pub program: String,
    pub status: Status,
    /// Why it failed, one line; empty when it passed.
    pub reason: String,
    /// The selector's decisions (`--explain` lines), when the module got that far.
    pub decisions: Vec<String>,
    pub time_ms: Option<u64>,
    /// The native build's result; None when there is no native build.
    #[serde(default)]
    pub native: Option<Outcome>,
}

/// How one run of a program went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub reason: String,
    pub time_ms: Option<u64>,
}

/// A host as run: its kernel and where that came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRun {
    pub name: String,
    pub arch: String,
    pub release: String,
    pub kernel_package: String,
    pub kernel_sha256: String,
    /// Whole-host failure (download, boot), when no case ran.
    pub error: Option<String>,
    pub boot_ms: Option<u64>,
    /// UTC date this host ran, `YYYY-MM-DD`: a merged table
    /// ([`Results::merge_into`]) holds hosts of more than one run. None in
    /// results from before it was recorded.
    #[serde(default)]
    pub date: Option<String>,
    /// unibpf.exe under wine against the recording stand-in of eBPF for
    /// Windows' ebpfapi.dll (matrix/hosts.toml's `kind = "wine"`), not a
    /// real eBPF for Windows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wine: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub unibpf_version: String,
    /// UTC date of the run, `YYYY-MM-DD`.
    pub date: String,
    pub hosts: Vec<HostRun>,
    pub programs: Vec<String>,
    pub cells: Vec<Cell>,
}

impl Results {
    pub fn cell(&self, host: &str, program: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.host == host && c.program == program)
    }

    /// The Markdown table: one row per program, one column per host;
    /// `O` passed, `X` failed (reasons listed below the table).
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Compatibility matrix, unibpf {}, {} (`unibpf matrix`).\n",
            self.unibpf_version, self.date
        );
        o.push_str("| program |");
        for h in &self.hosts {
            let _ = write!(o, " {} |", h.name);
        }
        o.push_str("\n|---|");
        for _ in &self.hosts {
            o.push_str(":---:|");
        }
        o.push('\n');
        let with_native = self.has_native();
        let mut notes: Vec<String> = Vec::new();
        // Cells failing for the same reason share a note.
        let mut mark = |status: Option<(Status, &str)>| match status {
            Some((Status::Pass, _)) => "O".to_string(),
            Some((Status::Fail, reason)) => {
                let n = match notes.iter().position(|r| r == reason) {
                    Some(i) => i + 1,
                    None => {
                        notes.push(reason.to_string());
                        notes.len()
                    }
                };
                format!("X<sup>{n}</sup>")
            }
            None => "-".to_string(),
        };
        for p in &self.programs {
            let _ = write!(o, "| {p} |");
            for h in &self.hosts {
                let cell = self.cell(&h.name, p);
                let native = cell
                    .and_then(|c| c.native.as_ref())
                    .map(|n| (n.status, n.reason.as_str()));
                let native = with_native.then(|| mark(native));
                let unibpf = mark(cell.map(|c| (c.status, c.reason.as_str())));
                match native {
                    Some(native) => {
                        let _ = write!(o, " {native}/{unibpf} |");
                    }
                    None => {
                        let _ = write!(o, " {unibpf} |");
                    }
                }
            }
            o.push('\n');
        }
        o.push_str(if with_native {
            "\nEach cell is native/unibpf, as in the WASM-BPF paper's Table 1: the program's C control plane \
             built against libbpf and run natively, then the same program as one .wasm under `unibpf run`. \
             O: it ran and printed what its test expects. X: it did not (the numbered reason below). -: not run.\n"
        } else {
            "\nEach cell is the module under `unibpf run` on that host. O: it printed what `--expect` \
             asked for. X: it did not (the numbered reason below). -: not run.\n"
        });
        let wine: Vec<&str> = self
            .hosts
            .iter()
            .filter(|h| h.wine)
            .map(|h| h.name.as_str())
            .collect();
        if !wine.is_empty() {
            let _ = writeln!(
                o,
                "\n{}: the Windows column. unibpf.exe, cross-built, runs each .wasm under wine on this machine \
                 against our recording stand-in of eBPF for Windows' ebpfapi.dll (a test double, \
                 scripts/wine/ebpfapi/), not a real eBPF for Windows: nothing there was verified, loaded or \
                 attached by eBPF for Windows, and there is no native build. O: the .wasm carries a Windows \
                 variant, unibpf.exe swapped it in, the guest printed the ring buffer records the stand-in fed it, and the stand-in \
                 recorded the variant opened, loaded, attached and everything closed with no leak. \
                 X: the line unibpf.exe printed.",
                wine.join(", ")
            );
        }
        o.push_str("\nHosts: ");
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                if h.kernel_package.is_empty() {
                    format!("{} ({} {})", h.name, h.arch, h.release)
                } else {
                    format!("{} ({}, {})", h.name, h.kernel_package, h.arch)
                }
            })
            .collect();
        o.push_str(&hosts.join("; "));
        o.push('\n');
        if !notes.is_empty() {
            o.push('\n');
            for (i, n) in notes.iter().enumerate() {
                let _ = writeln!(o, "{}. {n}", i + 1);
            }
        }
        o
    }

    /// These results with the hosts of `earlier` that this run did not
    /// run: a partial run (some hosts) updating a full table. Hosts keep
    /// the order of `order` (matrix/hosts.toml), those not in it after;
    /// the programs are those of both runs, earlier ones first.
    pub fn merge_into(self, earlier: Results, order: &[String]) -> Results {
        let ran = |name: &str| self.hosts.iter().any(|h| h.name == name);
        let mut hosts: Vec<HostRun> = earlier
            .hosts
            .into_iter()
            .filter(|h| !ran(&h.name))
            .collect();
        let mut cells: Vec<Cell> = earlier
            .cells
            .into_iter()
            .filter(|c| !ran(&c.host))
            .collect();
        hosts.extend(self.hosts);
        cells.extend(self.cells);
        let rank = |name: &str| order.iter().position(|o| o == name).unwrap_or(order.len());
        hosts.sort_by_key(|h| rank(&h.name));
        let mut programs = earlier.programs;
        for p in self.programs {
            if !programs.contains(&p) {
                programs.push(p);
            }
        }
        Results {
            unibpf_version: self.unibpf_version,
            date: self.date,
            hosts,
            programs,
            cells,
        }
    }

    /// The same table as a picture (see [`crate::svg`]).
    pub fn svg(&self) -> String {
        crate::svg::render(self)
    }

    /// Whether any cell has a native run (`unibpf matrix --module` has none).
    pub fn has_native(&self) -> bool {
        self.cells.iter().any(|c| c.native.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Results {
        let host = |n: &str| HostRun {
            name: n.into(),
            arch: "x86_64".into(),
            release: "6.12.74".into(),
            kernel_package: format!("linux-image-{n}"),
            kernel_sha256: "ab".into(),
            error: None,
            boot_ms: Some(3000),
            date: Some("2026-11-25".into()),
            wine: false,
        };
        let cell = |h: &str, p: &str, ok: bool| Cell {
            host: h.into(),
            program: p.into(),
            status: if ok { Status::Pass } else { Status::Fail },
            reason: if ok {
                String::new()
            } else {
                "exit 1: no <ringbuf> & co".into()
            },
            decisions: vec![],
            time_ms: Some(10),
            native: Some(Outcome {
                status: Status::Fail,
                reason: "exit 1: native: libbpf cannot load the BPF object".into(),
                time_ms: Some(5),
            }),
        };
        Results {
            unibpf_version: "0.1.0".into(),
            date: "2026-11-25".into(),
            hosts: vec![host("5.10-x86_64"), host("6.12-x86_64")],
            programs: vec!["bootstrap".into(), "execve".into()],
            cells: vec![
                cell("5.10-x86_64", "bootstrap", true),
                cell("6.12-x86_64", "bootstrap", false),
                cell("5.10-x86_64", "execve", true),
            ],
        }
    }

    #[test]
    fn markdown_marks_cells_and_lists_reasons() {
        let md = sample().markdown();
        assert!(
            md.contains("| program | 5.10-x86_64 | 6.12-x86_64 |"),
            "{md}"
        );
        assert!(
            md.contains("| bootstrap | X<sup>1</sup>/O | X<sup>1</sup>/X<sup>2</sup> |"),
            "{md}"
        );
        assert!(md.contains("| execve | X<sup>1</sup>/O | -/- |"), "{md}");
        assert!(
            md.contains("1. exit 1: native: libbpf cannot load the BPF object\n2. exit 1: no <ringbuf> & co"),
            "{md}"
        );
        assert!(md.contains("unibpf 0.1.0, 2026-11-25"), "{md}");
    }

    #[test]
    fn markdown_without_native_runs_has_one_mark_per_cell() {
        let mut r = sample();
        for c in &mut r.cells {
            c.native = None;
        }
        let md = r.markdown();
        assert!(md.contains("| bootstrap | O | X<sup>1</sup> |"), "{md}");
        assert!(md.contains("| execve | O | - |"), "{md}");
        assert!(md.contains("the module under `unibpf run`"), "{md}");
        assert!(!md.contains("native/unibpf"), "{md}");
    }

    #[test]
    fn svg_has_one_rect_per_cell_and_escapes_text() {
        let svg = sample().svg();
        // Two halves (native, unibpf) per host and program.
        assert_eq!(svg.matches("<rect").count(), 1 + 8);
        assert!(svg.contains("bootstrap on 6.12-x86_64 (native): exit 1: native: libbpf"));
        assert!(svg.contains("#e53935") && svg.contains("#4caf50") && svg.contains("#bdbdbd"));
        assert!(svg.contains("no &lt;ringbuf&gt; &amp; co"));
        assert!(!svg.contains("<ringbuf>"));
    }

    #[test]
    fn a_partial_run_replaces_its_hosts_and_keeps_the_others() {
        let earlier = sample();
        let mut later = sample();
        later.date = "2026-11-29".into();
        // Ran 6.12-x86_64 again (now passing) and a new host.
        later.hosts.retain(|h| h.name == "6.12-x86_64");
        later.hosts[0].date = Some("2026-11-29".into());
        let mut nobody = later.hosts[0].clone();
        nobody.name = "local-nobody".into();
        later.hosts.push(nobody);
        later.cells = ["6.12-x86_64", "local-nobody"]
            .iter()
            .map(|h| Cell {
                host: h.to_string(),
                program: "bootstrap".into(),
                status: Status::Pass,
                reason: String::new(),
                decisions: vec![],
                time_ms: None,
                native: None,
            })
            .collect();
        later.programs = vec!["bootstrap".into()];
        let order: Vec<String> = ["local-nobody", "5.10-x86_64", "6.12-x86_64"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let merged = later.merge_into(earlier, &order);
        let names: Vec<&str> = merged.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["local-nobody", "5.10-x86_64", "6.12-x86_64"]);
        assert_eq!(merged.date, "2026-11-29");
        assert_eq!(merged.programs, ["bootstrap", "execve"]);
        // The earlier run's cells of a host run again are gone.
        assert_eq!(merged.cells.len(), 4);
        assert_eq!(
            merged.cell("6.12-x86_64", "bootstrap").map(|c| c.status),
            Some(Status::Pass)
        );
        assert!(merged.cell("6.12-x86_64", "execve").is_none());
        assert_eq!(
            merged.cell("5.10-x86_64", "execve").map(|c| c.status),
            Some(Status::Pass)
        );
        assert_eq!(merged.hosts[1].date.as_deref(), Some("2026-11-25"));
    }

    #[test]
    fn a_wine_column_says_it_ran_against_a_stand_in_not_ebpf_for_windows() {
        let mut r = sample();
        assert!(!r.markdown().contains("stand-in"));
        let text = serde_json::to_string(&r).expect("json");
        assert!(!text.contains("\"wine\""), "{text}");
        r.hosts[1].name = "windows-wine".into();
        r.hosts[1].wine = true;
        for c in r.cells.iter_mut().filter(|c| c.host == "6.12-x86_64") {
            c.host = "windows-wine".into();
            c.native = None;
        }
        let md = r.markdown();
        assert!(
            md.contains("windows-wine: the Windows column. unibpf.exe, cross-built, runs each .wasm under wine"),
            "{md}"
        );
        assert!(
            md.contains("against our recording stand-in of eBPF for Windows' ebpfapi.dll (a test double, scripts/wine/ebpfapi/), not a real eBPF for Windows"),
            "{md}"
        );
        // No native build there: its half of the cell is not run.
        assert!(
            md.contains("| bootstrap | X<sup>1</sup>/O | -/X<sup>2</sup> |"),
            "{md}"
        );
        let svg = r.svg();
        assert!(
            svg.contains("windows-wine: unibpf.exe under wine against our recording stand-in of ebpfapi.dll, not a real eBPF for Windows"),
            "{svg}"
        );
        assert!(!sample().svg().contains("stand-in"));
        let back: Results =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("parse");
        assert!(back.hosts[1].wine && !back.hosts[0].wine);
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let text = serde_json::to_string(&r).expect("json");
        assert!(text.contains(r#""status":"fail""#));
        let back: Results = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, r);
    }
}
