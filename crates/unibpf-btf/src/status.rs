//! `unibpf btf status`: what each step of the lookup would find here, without
//! downloading anything.

use std::fmt;

use serde::Serialize;

use crate::kernel::KernelId;
use crate::locate::{bundle, cached, kernel_btf, user_file, Attempt, Step};
use crate::settings::Settings;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// This host's kernel as BTFHub names it, when it can be named.
    pub kernel: Option<KernelId>,
    /// Why it cannot be, otherwise.
    pub kernel_error: Option<String>,
    /// Every step, in lookup order.
    pub steps: Vec<Attempt>,
    /// Where the lookup would take BTF from (download: if the mirror has it).
    pub source: Option<Step>,
}

/// Every step's answer for `kernel` (or why it has no name) and `wasm`.
pub fn status(
    settings: &Settings,
    kernel: Result<&KernelId, String>,
    wasm: Option<&[u8]>,
) -> Status {
    let mut steps = vec![user_file(settings).0, kernel_btf(settings).0];
    match &kernel {
        Ok(k) => {
            steps.push(bundle(k, wasm).0);
            let (attempt, cache) = cached(settings, k);
            steps.push(attempt);
            let download = match (settings.download, cache) {
                (false, _) => Attempt {
                    step: Step::Download,
                    found: false,
                    place: None,
                    detail: "not allowed".into(),
                },
                (true, cache) => Attempt {
                    step: Step::Download,
                    found: false,
                    place: Some(k.archive_url(&settings.mirror)),
                    detail: match cache {
                        Some(c) => format!(
                            "not tried; `unibpf btf fetch` would get it into {}",
                            c.dir().display()
                        ),
                        None => "not possible: no cache directory".into(),
                    },
                },
            };
            steps.push(download);
        }
        Err(why) => {
            for step in [Step::Bundle, Step::Cache, Step::Download] {
                steps.push(Attempt {
                    step,
                    found: false,
                    place: None,
                    detail: format!("skipped: {why}"),
                });
            }
        }
    }
    // A named file that cannot be read ends the lookup: nothing after it counts.
    let source = if settings.user_file.is_some() {
        steps[0].found.then_some(Step::UserFile)
    } else {
        steps.iter().find(|a| a.found).map(|a| a.step).or_else(|| {
            let possible = steps
                .iter()
                .any(|a| a.step == Step::Download && a.place.is_some());
            possible.then_some(Step::Download)
        })
    };
    Status {
        kernel: kernel.as_ref().ok().map(|k| (*k).clone()),
        kernel_error: kernel.err(),
        steps,
        source,
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kernel, &self.kernel_error) {
            (Some(k), _) => writeln!(f, "kernel    {k}")?,
            (None, Some(e)) => writeln!(f, "kernel    unknown: {e}")?,
            (None, None) => writeln!(f, "kernel    unknown")?,
        }
        for a in &self.steps {
            let mark = if a.found { "yes" } else { "no " };
            let place = a
                .place
                .as_deref()
                .map(|p| format!("{p}: "))
                .unwrap_or_default();
            writeln!(f, "{:<9} {mark} {place}{}", a.step.to_string(), a.detail)?;
        }
        match self.source {
            Some(Step::Download) => writeln!(f, "BTF would be downloaded (if the mirror has it)"),
            Some(step) => writeln!(f, "BTF comes from: {step}"),
            None => writeln!(
                f,
                "no BTF: run `unibpf btf fetch` where a mirror is reachable, or give --btf FILE"
            ),
        }
    }
}
