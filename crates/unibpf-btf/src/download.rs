//! One HTTP(S) GET from a BTFHub-archive mirror, bounded in time and size,
//! with a progress bar on stderr.

use std::io::{IsTerminal, Read};
use std::time::{Duration, Instant};

/// How a download may go.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// For connecting and for each read: a server silent this long has stalled.
    pub timeout: Duration,
    /// For the whole download: a server trickling bytes ends too.
    pub deadline: Duration,
    /// The most bytes taken from the server.
    pub max_bytes: u64,
    /// A progress bar on stderr (drawn only when stderr is a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{url}: not a URL the BTF mirror can be reached at ({source}); check --btf-mirror")]
    BadUrl {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot set up the HTTP client ({why}); for HTTPS it needs the system's CA certificates (or SSL_CERT_FILE / SSL_CERT_DIR)")]
    Client {
        why: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: 404 Not Found: the mirror has no BTF for this kernel (BTFHub covers kernels released without BTF); check the name with `unibpf btf status`, or give --btf FILE")]
    NotOnMirror { url: String },
    #[error("{url}: the mirror answered {status}; try again later or use another --btf-mirror")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("{url}: cannot reach the BTF mirror ({why}); check --btf-mirror and the network, or give --btf FILE")]
    Unreachable {
        url: String,
        why: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: the BTF mirror did not answer within {}; try again later or give --btf FILE", humantime::format_duration(*after))]
    Timeout {
        url: String,
        after: Duration,
        #[source]
        source: Option<reqwest::Error>,
    },
    #[error("{url}: the download broke off ({why}); try again")]
    Broken {
        url: String,
        why: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{url}: the mirror sends more than {limit} bytes, which no BTF archive needs; refused"
    )]
    TooLarge { url: String, limit: u64 },
}

/// Fetches `url` whole, in memory (at most `max_bytes`).
pub fn download(url: &str, opts: &DownloadOptions) -> Result<Vec<u8>, DownloadError> {
    let started = Instant::now();
    let client = client(opts)?;
    let request = client
        .get(url)
        .build()
        .map_err(|source| DownloadError::BadUrl {
            url: url.to_string(),
            source,
        })?;
    tracing::info!(url, "downloading BTF");
    let mut response = client
        .execute(request)
        .map_err(|e| classify(url, opts.timeout, e))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(DownloadError::NotOnMirror {
            url: url.to_string(),
        });
    }
    if !status.is_success() {
        return Err(DownloadError::Status {
            url: url.to_string(),
            status,
        });
    }
    let too_large = || DownloadError::TooLarge {
        url: url.to_string(),
        limit: opts.max_bytes,
    };
    let length = response.content_length();
    if length.is_some_and(|n| n > opts.max_bytes) {
        return Err(too_large());
    }
    let bar = progress_bar(url, length, opts.progress);
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if started.elapsed() > opts.deadline {
            return Err(DownloadError::Timeout {
                url: url.to_string(),
                after: opts.deadline,
                source: None,
            });
        }
        let n = match response.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(broken(url, opts, e)),
        };
        if body.len() as u64 + n as u64 > opts.max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    tracing::info!(url, bytes = body.len(), "downloaded");
    Ok(body)
}

/// A blocking reqwest client builder that can speak TLS. The workspace's
/// reqwest has no crypto provider of its own (`rustls-no-provider`): a
/// client built without one panics on its first request, so every client
/// in the workspace starts here.
pub fn http_client_builder() -> reqwest::blocking::ClientBuilder {
    install_crypto_provider();
    reqwest::blocking::Client::builder()
}

fn client(opts: &DownloadOptions) -> Result<reqwest::blocking::Client, DownloadError> {
    http_client_builder()
        .connect_timeout(opts.timeout)
        // The blocking client applies this to each wait: connect, headers, every read.
        .timeout(opts.timeout)
        .user_agent(concat!("unibpf/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| DownloadError::Client {
            why: innermost(&source),
            source,
        })
}

/// rustls needs one crypto provider for the process; ring builds with a C
/// compiler alone (no cmake), which keeps the arm64 cross-build simple.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn progress_bar(url: &str, length: Option<u64>, show: bool) -> indicatif::ProgressBar {
    let target = if show && std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let bar = indicatif::ProgressBar::with_draw_target(length, target);
    let style = match length {
        Some(_) => "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        None => "{msg} {spinner} {bytes} {bytes_per_sec}",
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(style)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let file = url.rsplit('/').next().unwrap_or(url);
    bar.set_message(format!("unibpf: downloading {file}"));
    bar
}

fn classify(url: &str, timeout: Duration, e: reqwest::Error) -> DownloadError {
    let url = url.to_string();
    if e.is_timeout() {
        DownloadError::Timeout {
            url,
            after: timeout,
            source: Some(e),
        }
    } else {
        DownloadError::Unreachable {
            why: innermost(&e),
            url,
            source: e,
        }
    }
}

fn broken(url: &str, opts: &DownloadOptions, e: std::io::Error) -> DownloadError {
    // A read that timed out comes back as an io::Error wrapping reqwest's.
    let timed_out = e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout);
    if timed_out {
        return DownloadError::Timeout {
            url: url.to_string(),
            after: opts.timeout,
            source: None,
        };
    }
    DownloadError::Broken {
        url: url.to_string(),
        why: innermost(&e),
        source: e,
    }
}

/// The deepest cause's text ("Connection refused (os error 111)"), which is
/// what says what happened; the layers above it repeat the URL.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
