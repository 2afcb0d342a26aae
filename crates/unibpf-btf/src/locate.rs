//! Where BTF comes from, in order: the file the user names, the running
//! kernel, the module's bundle, the cache, a download.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::{bundled_btf, bundled_btf_by_release};
use crate::cache::{Cache, CacheEntry};
use crate::fetch::fetch;
use crate::kernel::KernelId;
use crate::settings::Settings;
use crate::verify::check_format;

/// One place BTF can come from, in lookup order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `--btf FILE` / `UNIBPF_BTF`.
    UserFile,
    /// `/sys/kernel/btf/vmlinux`.
    Kernel,
    /// The module's `unibpf.btf` section.
    Bundle,
    Cache,
    Download,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::UserFile,
        Step::Kernel,
        Step::Bundle,
        Step::Cache,
        Step::Download,
    ];
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::UserFile => "--btf",
            Step::Kernel => "kernel",
            Step::Bundle => "bundle",
            Step::Cache => "cache",
            Step::Download => "download",
        })
    }
}

/// What one step found.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub step: Step,
    pub found: bool,
    /// The file or URL looked at, when there is one.
    pub place: Option<String>,
    /// What was found, or why nothing was.
    pub detail: String,
}

impl Attempt {
    fn new(step: Step, found: bool, place: Option<String>, detail: impl Into<String>) -> Self {
        Self {
            step,
            found,
            place,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Some(p) => write!(f, "{}: {p}: {}", self.step, self.detail),
            None => write!(f, "{}: {}", self.step, self.detail),
        }
    }
}

/// BTF found: a file libbpf can read.
#[derive(Debug)]
pub struct Located {
    step: Step,
    path: PathBuf,
    /// A bundled BTF is written here; removed when this is dropped.
    _temp: Option<tempfile::TempPath>,
}

impl Located {
    pub fn step(&self) -> Step {
        self.step
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What to pass as libbpf's `btf_custom_path`: None for the kernel's own
    /// BTF, which libbpf finds itself.
    pub fn custom_path(&self) -> Option<&Path> {
        (self.step != Step::Kernel).then_some(self.path.as_path())
    }
}

/// No BTF anywhere: every place tried, and why each had none.
#[derive(Debug, Clone, Serialize)]
pub struct NotFound {
    pub kernel: Option<KernelId>,
    pub tried: Vec<Attempt>,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kernel {
            Some(k) => write!(f, "no BTF for kernel {k}: ")?,
            None => write!(f, "no BTF for this kernel: ")?,
        }
        for a in &self.tried {
            write!(f, "{a}; ")?;
        }
        write!(
            f,
            "get one with `unibpf btf fetch` (where a mirror is reachable), or give --btf FILE"
        )
    }
}

impl std::error::Error for NotFound {}

/// Finds BTF for `kernel` (None: this host's kernel has no BTFHub name, so
/// only the first two steps can answer). `wasm` is the module, for its
/// bundle. Each step tried is described to `explain`, one line each.
pub fn locate(
    settings: &Settings,
    kernel: Option<&KernelId>,
    wasm: Option<&[u8]>,
    explain: &mut dyn FnMut(&str),
) -> Result<Located, NotFound> {
    let mut lookup = Lookup {
        tried: Vec::new(),
        explain,
    };
    lookup.run(settings, kernel, wasm).ok_or_else(|| NotFound {
        kernel: kernel.cloned(),
        tried: lookup.tried,
    })
}

struct Lookup<'e> {
    tried: Vec<Attempt>,
    explain: &'e mut dyn FnMut(&str),
}

impl Lookup<'_> {
    fn note(&mut self, a: Attempt) {
        (self.explain)(&format!("BTF from {a}"));
        self.tried.push(a);
    }

    fn run(
        &mut self,
        settings: &Settings,
        kernel: Option<&KernelId>,
        wasm: Option<&[u8]>,
    ) -> Option<Located> {
        let (attempt, hit) = user_file(settings);
        self.note(attempt);
        if settings.user_file.is_some() {
            // Named but unusable ends the lookup: falling back would hide the mistake.
            return hit.map(|p| located(Step::UserFile, p, None));
        }
        let (attempt, hit) = kernel_btf(settings);
        self.note(attempt);
        if let Some(path) = hit {
            return Some(located(Step::Kernel, path, None));
        }
        let Some(kernel) = kernel else {
            return self.bundled_by_release(wasm);
        };
        if let Some(found) = self.bundled(kernel, wasm) {
            return Some(found);
        }
        let (attempt, cache) = cached(settings, kernel);
        let hit = attempt.found.then(|| attempt.place.clone()).flatten();
        self.note(attempt);
        if let Some(path) = hit {
            return Some(located(Step::Cache, PathBuf::from(path), None));
        }
        self.download(settings, cache, kernel)
    }

    fn bundled(&mut self, kernel: &KernelId, wasm: Option<&[u8]>) -> Option<Located> {
        let (attempt, hit) = bundle(kernel, wasm);
        self.note(attempt);
        self.bundled_to_file(&hit?)
    }

    /// The bundle step for a host without a BTFHub name (no
    /// `/etc/os-release`): the one entry with its architecture and release.
    /// The cache and the mirror are keyed by the full name: skipped.
    fn bundled_by_release(&mut self, wasm: Option<&[u8]>) -> Option<Located> {
        let no_name = "this host's kernel has no BTFHub name (see `unibpf btf status`)";
        let (attempt, hit) = match (wasm, KernelId::host_arch_release()) {
            (None, _) => (
                Attempt::new(Step::Bundle, false, None, "no module to look in"),
                None,
            ),
            (Some(_), Err(e)) => (Attempt::new(Step::Bundle, false, None, e.to_string()), None),
            (Some(wasm), Ok((arch, release))) => match bundled_btf_by_release(wasm, arch, &release)
            {
                Ok(Some((kernel, btf))) if check_format(&btf).is_ok() => {
                    let detail = format!(
                        "{no_name}; the module bundles {} bytes of BTF for {kernel}, the one entry for {arch}/{release}",
                        btf.len()
                    );
                    (Attempt::new(Step::Bundle, true, None, detail), Some(btf))
                }
                Ok(Some((kernel, _))) => {
                    let detail = format!("the module's BTF for {kernel} is damaged");
                    (Attempt::new(Step::Bundle, false, None, detail), None)
                }
                Ok(None) => {
                    let detail = format!(
                        "{no_name}, and the module bundles no single entry for {arch}/{release}"
                    );
                    (Attempt::new(Step::Bundle, false, None, detail), None)
                }
                Err(e) => (Attempt::new(Step::Bundle, false, None, e.to_string()), None),
            },
        };
        self.note(attempt);
        if let Some(btf) = hit {
            return self.bundled_to_file(&btf);
        }
        self.note(Attempt::new(
            Step::Cache,
            false,
            None,
            format!("skipped: {no_name}"),
        ));
        None
    }

    fn bundled_to_file(&mut self, btf: &[u8]) -> Option<Located> {
        match to_temp_file(btf) {
            Ok(temp) => Some(located(Step::Bundle, temp.to_path_buf(), Some(temp))),
            Err(e) => {
                let why = format!("cannot write it to a temporary file: {e}");
                self.note(Attempt::new(Step::Bundle, false, None, why));
                None
            }
        }
    }

    fn download(
        &mut self,
        settings: &Settings,
        cache: Option<Cache>,
        kernel: &KernelId,
    ) -> Option<Located> {
        let no = |detail: String| Attempt::new(Step::Download, false, None, detail);
        let attempt = match (settings.download, cache) {
            (false, _) => no("not allowed here".into()),
            (true, None) => no("skipped: no cache to download into".into()),
            (true, Some(cache)) => match fetch(settings, &cache, kernel) {
                Ok(f) => {
                    let detail = format!(
                        "fetched {} bytes, verified, cached at {}",
                        f.downloaded,
                        f.path.display()
                    );
                    self.note(Attempt::new(Step::Download, true, Some(f.url), detail));
                    return Some(located(Step::Download, f.path, None));
                }
                Err(e) => no(e.to_string()),
            },
        };
        self.note(attempt);
        None
    }
}

fn located(step: Step, path: PathBuf, temp: Option<tempfile::TempPath>) -> Located {
    Located {
        step,
        path,
        _temp: temp,
    }
}

fn to_temp_file(btf: &[u8]) -> std::io::Result<tempfile::TempPath> {
    let mut f = tempfile::Builder::new()
        .prefix("unibpf-bundled-")
        .suffix(".btf")
        .tempfile()?;
    f.write_all(btf)?;
    f.flush()?;
    Ok(f.into_temp_path())
}

pub(crate) fn user_file(settings: &Settings) -> (Attempt, Option<PathBuf>) {
    let Some(path) = &settings.user_file else {
        return (
            Attempt::new(
                Step::UserFile,
                false,
                None,
                "not given (--btf FILE or UNIBPF_BTF)",
            ),
            None,
        );
    };
    let place = Some(path.display().to_string());
    // libbpf reads raw BTF and ELF files with .BTF alike; it judges the contents.
    match std::fs::File::open(path).and_then(|f| f.metadata()) {
        Ok(m) if m.is_file() => (
            Attempt::new(Step::UserFile, true, place, "given; used as it is"),
            Some(path.clone()),
        ),
        Ok(_) => (
            Attempt::new(Step::UserFile, false, place, "given, but not a file"),
            None,
        ),
        Err(e) => (
            Attempt::new(
                Step::UserFile,
                false,
                place,
                format!("given, but cannot be read: {e}"),
            ),
            None,
        ),
    }
}

pub(crate) fn kernel_btf(settings: &Settings) -> (Attempt, Option<PathBuf>) {
    let path = &settings.kernel_btf;
    let place = Some(path.display().to_string());
    match std::fs::metadata(path) {
        Ok(_) => (
            Attempt::new(Step::Kernel, true, place, "present; libbpf reads it itself"),
            Some(path.clone()),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            Attempt::new(
                Step::Kernel,
                false,
                place,
                "absent (a kernel built without CONFIG_DEBUG_INFO_BTF)",
            ),
            None,
        ),
        Err(e) => (
            Attempt::new(Step::Kernel, false, place, format!("unreadable: {e}")),
            None,
        ),
    }
}

pub(crate) fn bundle(kernel: &KernelId, wasm: Option<&[u8]>) -> (Attempt, Option<Vec<u8>>) {
    let no = |detail: String| (Attempt::new(Step::Bundle, false, None, detail), None);
    let Some(wasm) = wasm else {
        return no("no module to look in".into());
    };
    match bundled_btf(wasm, kernel) {
        Ok(Some(btf)) => match check_format(&btf) {
            Ok(()) => {
                let detail = format!("the module bundles {} bytes of BTF for {kernel}", btf.len());
                (Attempt::new(Step::Bundle, true, None, detail), Some(btf))
            }
            Err(e) => no(format!("the module's BTF for {kernel} is damaged: {e}")),
        },
        Ok(None) => match crate::bundle::list(wasm) {
            Ok(all) if all.is_empty() => no("the module bundles no BTF".into()),
            Ok(all) => no(format!(
                "the module bundles BTF for {} kernels, not {kernel}",
                all.len()
            )),
            Err(e) => no(e.to_string()),
        },
        Err(e) => no(e.to_string()),
    }
}

/// The cache's answer, and the cache itself when it has a directory.
pub(crate) fn cached(settings: &Settings, kernel: &KernelId) -> (Attempt, Option<Cache>) {
    let cache = match Cache::open(settings.cache_dir.as_deref()) {
        Ok(c) => c,
        Err(e) => return (Attempt::new(Step::Cache, false, None, e.to_string()), None),
    };
    let attempt = match cache.get(kernel) {
        CacheEntry::Found(p) => {
            Attempt::new(Step::Cache, true, Some(p.display().to_string()), "cached")
        }
        CacheEntry::Absent(p) => Attempt::new(
            Step::Cache,
            false,
            Some(p.display().to_string()),
            "not there",
        ),
        CacheEntry::Unusable { path, why } => Attempt::new(
            Step::Cache,
            false,
            Some(path.display().to_string()),
            format!("unusable ({why}); a fetch replaces it"),
        ),
    };
    (attempt, Some(cache))
}
