//! The matrix as a picture: an SVG heat-map of [`Results`], one column per
//! host, columns grouped by architecture under a header, each host labelled
//! by its kernel (the name without the architecture), wrapped at `-` and
//! widening the columns when a part is still too long, so labels never run
//! into each other however many hosts there are.

use std::fmt::Write;

use crate::report::{Results, Status};

const FONT: f64 = 12.0;
const LINE_H: usize = 14;
const CELL_H: usize = 28;
const MIN_CELL_W: usize = 92;
/// Space kept free on each side of a label inside its column.
const LABEL_PAD: usize = 4;
/// Space between architecture groups.
const GROUP_GAP: usize = 10;
const NATIVE_W: usize = 32;
const MARGIN: usize = 10;
/// Baseline of the architecture headers.
const ARCH_Y: usize = 44;

/// Estimated advance of `s` in a 12 px sans-serif font (DejaVu Sans
/// widths, rounded up): enough to lay labels out without a font engine.
pub(crate) fn text_width(s: &str) -> f64 {
    let em: f64 = s
        .chars()
        .map(|c| match c {
            '.' | ',' | ':' | ';' | '\'' | '|' | '!' | 'i' | 'l' | 'j' => 0.32,
            '-' | '(' | ')' | '[' | ']' | 'f' | 'r' | 't' | ' ' | '/' => 0.42,
            'm' | 'w' | 'M' | 'W' => 0.98,
            'A'..='Z' | '_' => 0.78,
            _ => 0.66,
        })
        .sum();
    em * FONT
}

/// How far glyphs reach above and below the baseline, in em (DejaVu Sans:
/// ascenders 0.76, descenders 0.24).
#[cfg(test)]
const ASCENT: f64 = 0.8;
#[cfg(test)]
const DESCENT: f64 = 0.25;

/// A text's box: left, top, right, bottom.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TextBox {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

#[cfg(test)]
impl TextBox {
    /// The box of `text` drawn centred on `cx` with its baseline at `y`.
    fn centred(text: &str, cx: usize, y: usize) -> Self {
        let w = text_width(text);
        TextBox {
            x0: cx as f64 - w / 2.0,
            x1: cx as f64 + w / 2.0,
            y0: y as f64 - ASCENT * FONT,
            y1: y as f64 + DESCENT * FONT,
        }
    }

    fn left(text: &str, x: usize, y: usize) -> Self {
        TextBox {
            x0: x as f64,
            x1: x as f64 + text_width(text),
            y0: y as f64 - ASCENT * FONT,
            y1: y as f64 + DESCENT * FONT,
        }
    }

    pub fn overlaps(&self, o: &TextBox) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// A host's label: the host name without its `-ARCH` suffix.
fn kernel_label(name: &str, arch: &str) -> String {
    name.strip_suffix(&format!("-{arch}"))
        .filter(|s| !s.is_empty())
        .unwrap_or(name)
        .to_string()
}

/// `label` in lines no wider than `width`, broken after a `-`.
fn wrap(label: &str, width: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for part in label.split_inclusive('-') {
        if !cur.is_empty() && text_width(&format!("{cur}{part}")) > width {
            lines.push(std::mem::take(&mut cur));
        }
        cur.push_str(part);
    }
    lines.push(cur);
    lines
}

/// Architectures in order of first appearance, each with its hosts' indices.
fn groups(r: &Results) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, h) in r.hosts.iter().enumerate() {
        match out.iter_mut().find(|(a, _)| *a == h.arch) {
            Some((_, v)) => v.push(i),
            None => out.push((h.arch.clone(), vec![i])),
        }
    }
    out
}

/// Where everything goes.
pub(crate) struct Layout {
    pub width: usize,
    pub height: usize,
    /// Top edge of the first row.
    pub top: usize,
    pub cell_w: usize,
    /// (host index, column's left edge), in drawing order.
    pub columns: Vec<(usize, usize)>,
    /// (architecture, first column's left edge, last column's right edge).
    pub arch_spans: Vec<(String, usize, usize)>,
    /// Each host's label lines, by host index.
    pub labels: Vec<Vec<String>>,
    pub legend: &'static str,
    /// A second legend line for a wine column: what ran there.
    pub wine_note: Option<String>,
}

const LEGEND_NATIVE: &str = "Each cell: native libbpf build (left) / unibpf (right). O passed (green), X failed (red; hover for the reason), - not run";
const LEGEND_UNIBPF: &str =
    "Each cell: the module under unibpf. O passed (green), X failed (red; hover for the reason), - not run";

impl Layout {
    pub fn of(r: &Results) -> Self {
        let names: Vec<String> = r
            .hosts
            .iter()
            .map(|h| kernel_label(&h.name, &h.arch))
            .collect();
        // Columns widen for a label part that cannot be wrapped any further.
        let widest_part = names
            .iter()
            .flat_map(|n| n.split_inclusive('-'))
            .map(text_width)
            .fold(0.0, f64::max);
        let cell_w = MIN_CELL_W.max(widest_part.ceil() as usize + 2 * LABEL_PAD);
        let labels: Vec<Vec<String>> = names
            .iter()
            .map(|n| wrap(n, (cell_w - 2 * LABEL_PAD) as f64))
            .collect();
        let label_lines = labels.iter().map(Vec::len).max().unwrap_or(1);
        let widest_program = r.programs.iter().map(|p| text_width(p)).fold(0.0, f64::max);
        let left = 110.max(MARGIN + widest_program.ceil() as usize + MARGIN);
        let top = ARCH_Y + 6 + LINE_H * label_lines + 8;
        let mut columns = Vec::new();
        let mut arch_spans = Vec::new();
        let mut x = left;
        for (arch, hosts) in groups(r) {
            let start = x;
            for h in hosts {
                columns.push((h, x));
                x += cell_w;
            }
            arch_spans.push((arch, start, x));
            x += GROUP_GAP;
        }
        let legend = if r.has_native() {
            LEGEND_NATIVE
        } else {
            LEGEND_UNIBPF
        };
        let wine: Vec<&str> = r
            .hosts
            .iter()
            .filter(|h| h.wine)
            .map(|h| h.name.as_str())
            .collect();
        let wine_note = (!wine.is_empty()).then(|| {
            format!(
                "{}: unibpf.exe under wine against our recording stand-in of ebpfapi.dll, not a real eBPF for Windows",
                wine.join(", ")
            )
        });
        let grid_right = x.saturating_sub(GROUP_GAP).max(left + MIN_CELL_W);
        let widest_legend = wine_note
            .as_deref()
            .map_or(0.0, text_width)
            .max(text_width(legend));
        let width = (grid_right + MARGIN).max(MARGIN + widest_legend.ceil() as usize + MARGIN);
        let height = top
            + CELL_H * r.programs.len().max(1)
            + 40
            + if wine_note.is_some() { LINE_H } else { 0 };
        Layout {
            width,
            height,
            top,
            cell_w,
            columns,
            arch_spans,
            labels,
            legend,
            wine_note,
        }
    }

    /// Baseline of a label's `n`th line.
    fn label_y(&self, n: usize) -> usize {
        ARCH_Y + 6 + LINE_H * (n + 1)
    }

    #[cfg(test)]
    /// Boxes of every header text: architectures, then each label line
    /// (with its column's left edge), for checking that none overlap.
    pub fn header_boxes(&self) -> (Vec<TextBox>, Vec<(usize, TextBox)>) {
        let arch = self
            .arch_spans
            .iter()
            .map(|(a, x0, x1)| TextBox::centred(a, (x0 + x1) / 2, ARCH_Y))
            .collect();
        let mut labels = Vec::new();
        for &(h, x) in &self.columns {
            for (n, line) in self.labels[h].iter().enumerate() {
                let b = TextBox::centred(line, x + self.cell_w / 2, self.label_y(n));
                labels.push((x, b));
            }
        }
        (arch, labels)
    }
}

/// The table as a picture: green passed, red failed, grey not run; with a
/// native half on the left of each cell when the results have one.
pub fn render(r: &Results) -> String {
    let l = Layout::of(r);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" font-family="sans-serif" font-size="12">"#,
        l.width, l.height
    );
    let _ = writeln!(
        o,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{MARGIN}" y="20" font-size="14">unibpf {} compatibility matrix, {}</text>"#,
        escape(&r.unibpf_version),
        escape(&r.date)
    );
    header(&mut o, r, &l);
    for (j, p) in r.programs.iter().enumerate() {
        let y = l.top + j * CELL_H;
        let _ = writeln!(
            o,
            r#"<text x="{MARGIN}" y="{}">{}</text>"#,
            y + CELL_H / 2 + 4,
            escape(p)
        );
        for &(i, x) in &l.columns {
            cell(&mut o, r, &r.hosts[i].name, p, x, y, l.cell_w);
        }
    }
    let below = if l.wine_note.is_some() { LINE_H } else { 0 };
    let _ = writeln!(
        o,
        r##"<text x="{MARGIN}" y="{}" fill="#555">{}</text>"##,
        l.height - 14 - below,
        l.legend
    );
    if let Some(note) = &l.wine_note {
        let _ = writeln!(
            o,
            r##"<text x="{MARGIN}" y="{}" fill="#555">{}</text>"##,
            l.height - 14,
            escape(note)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// Architecture headers with a rule under each group, then kernel labels.
fn header(o: &mut String, r: &Results, l: &Layout) {
    for (arch, x0, x1) in &l.arch_spans {
        let _ = writeln!(
            o,
            r##"<text x="{}" y="{ARCH_Y}" text-anchor="middle" font-weight="bold">{}</text><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#555"/>"##,
            (x0 + x1) / 2,
            escape(arch),
            x0 + 2,
            ARCH_Y + 5,
            x1 - 4,
            ARCH_Y + 5
        );
    }
    for &(h, x) in &l.columns {
        let _ = write!(
            o,
            r#"<text text-anchor="middle"><title>{}</title>"#,
            escape(&r.hosts[h].name)
        );
        for (n, line) in l.labels[h].iter().enumerate() {
            let _ = write!(
                o,
                r#"<tspan x="{}" y="{}">{}</tspan>"#,
                x + l.cell_w / 2,
                l.label_y(n),
                escape(line)
            );
        }
        o.push_str("</text>\n");
    }
}

/// One (host, program) cell: a native half on the left when the results
/// have native runs, the unibpf result in the rest.
fn cell(o: &mut String, r: &Results, host: &str, p: &str, x: usize, y: usize, cell_w: usize) {
    let cell = r.cell(host, p);
    let unibpf = cell.map(|c| (c.status, c.reason.as_str()));
    let mut parts = vec![("unibpf", unibpf, x, cell_w)];
    if r.has_native() {
        let native = cell
            .and_then(|c| c.native.as_ref())
            .map(|n| (n.status, n.reason.as_str()));
        parts = vec![
            ("native", native, x, NATIVE_W),
            ("unibpf", unibpf, x + NATIVE_W, cell_w - NATIVE_W),
        ];
    }
    for (runner, result, rx, w) in parts {
        let (fill, mark, title) = match result {
            Some((Status::Pass, _)) => ("#4caf50", "O", "passed".to_string()),
            Some((Status::Fail, reason)) => ("#e53935", "X", reason.to_string()),
            None => ("#bdbdbd", "-", "not run".to_string()),
        };
        let _ = writeln!(
            o,
            r#"<rect x="{rx}" y="{y}" width="{}" height="{}" fill="{fill}" stroke="white"><title>{} on {} ({runner}): {}</title></rect><text x="{}" y="{}" text-anchor="middle" fill="white">{mark}</text>"#,
            w - 2,
            CELL_H - 2,
            escape(p),
            escape(host),
            escape(&title),
            rx + w / 2,
            y + CELL_H / 2 + 4
        );
    }
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Cell, HostRun};

    fn results(hosts: &[(&str, &str)], native: bool) -> Results {
        let programs = vec!["bootstrap".to_string(), "tcpconnlat".to_string()];
        let cells = hosts
            .iter()
            .flat_map(|(h, _)| {
                programs.iter().map(move |p| Cell {
                    host: h.to_string(),
                    program: p.clone(),
                    status: Status::Pass,
                    reason: String::new(),
                    decisions: vec![],
                    time_ms: None,
                    native: native.then(|| crate::report::Outcome {
                        status: Status::Pass,
                        reason: String::new(),
                        time_ms: None,
                    }),
                })
            })
            .collect();
        Results {
            unibpf_version: "0.1.0".into(),
            date: "2026-11-25".into(),
            hosts: hosts
                .iter()
                .map(|(n, a)| HostRun {
                    name: n.to_string(),
                    arch: a.to_string(),
                    release: String::new(),
                    kernel_package: String::new(),
                    kernel_sha256: String::new(),
                    error: None,
                    boot_ms: None,
                    date: None,
                    wine: false,
                })
                .collect(),
            programs,
            cells,
        }
    }

    /// Today's hosts plus the riscv64 and no-kprobes ones being added.
    const GROWN: &[(&str, &str)] = &[
        ("5.10-x86_64", "x86_64"),
        ("6.1-x86_64", "x86_64"),
        ("6.12-x86_64", "x86_64"),
        ("7.x-x86_64", "x86_64"),
        ("5.10-arm64", "arm64"),
        ("6.1-arm64", "arm64"),
        ("6.12-arm64", "arm64"),
        ("7.x-arm64", "arm64"),
        ("6.12-riscv64", "riscv64"),
        ("7.x-riscv64", "riscv64"),
        ("6.1-nobtf-x86_64", "x86_64"),
        ("6.1-nobtf-arm64", "arm64"),
        ("6.1-nokprobes-x86_64", "x86_64"),
        ("local", "x86_64"),
    ];

    /// A label part too long to wrap widens every column.
    const LONG: &[(&str, &str)] = &[
        ("6.12-x86_64", "x86_64"),
        ("a-kernel-label-with-averyveryverylongpart-x86_64", "x86_64"),
        ("6.12-arm64", "arm64"),
    ];

    #[test]
    fn header_texts_never_overlap_and_labels_stay_in_their_columns() {
        for hosts in [GROWN, &GROWN[..3], &GROWN[12..], LONG] {
            let l = Layout::of(&results(hosts, true));
            let (arch, labels) = l.header_boxes();
            let all: Vec<TextBox> = arch
                .iter()
                .copied()
                .chain(labels.iter().map(|(_, b)| *b))
                .collect();
            for (i, a) in all.iter().enumerate() {
                for b in &all[i + 1..] {
                    assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
                }
            }
            for (x, b) in &labels {
                assert!(b.x0 >= *x as f64 && b.x1 <= (x + l.cell_w) as f64, "{b:?}");
                assert!(b.y1 < l.top as f64, "{b:?} runs into the grid");
            }
            for ((a, x0, x1), b) in l.arch_spans.iter().zip(&arch) {
                assert!(b.x0 >= *x0 as f64 - GROUP_GAP as f64 / 2.0, "{a}");
                assert!(b.x1 <= *x1 as f64 + GROUP_GAP as f64 / 2.0, "{a}");
            }
            let legend = TextBox::left(l.legend, MARGIN, l.height - 14);
            assert!(legend.x1 <= l.width as f64);
        }
    }

    #[test]
    fn columns_are_grouped_by_arch_and_labelled_by_kernel() {
        let l = Layout::of(&results(GROWN, true));
        let order: Vec<usize> = l.columns.iter().map(|(h, _)| *h).collect();
        assert_eq!(order, [0, 1, 2, 3, 10, 12, 13, 4, 5, 6, 7, 11, 8, 9]);
        let archs: Vec<&str> = l.arch_spans.iter().map(|(a, ..)| a.as_str()).collect();
        assert_eq!(archs, ["x86_64", "arm64", "riscv64"]);
        let nokprobes = GROWN
            .iter()
            .position(|h| h.0.contains("nokprobes"))
            .unwrap();
        assert_eq!(l.labels[nokprobes], ["6.1-", "nokprobes"]);
        let local = GROWN.iter().position(|h| h.0 == "local").unwrap();
        assert_eq!(l.labels[local], ["local"]);
        assert_eq!(kernel_label("6.1-nobtf-arm64", "arm64"), "6.1-nobtf");
    }

    #[test]
    fn without_native_runs_each_cell_is_one_rect() {
        let hosts = &GROWN[..2];
        let svg = render(&results(hosts, false));
        // One background rect, then one per cell.
        assert_eq!(svg.matches("<rect").count(), 1 + 2 * 2);
        assert!(svg.contains(LEGEND_UNIBPF));
        let svg = render(&results(hosts, true));
        assert_eq!(svg.matches("<rect").count(), 1 + 2 * 2 * 2);
    }
}
