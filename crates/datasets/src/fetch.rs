//! Downloading MNIST from its public mirrors (feature `fetch`, on by default).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

use crate::mnist::{hex, verify_mnist_file, MnistFile, MNIST_FILES};
use crate::DatasetError;

/// The mirrors tried in order; each serves the four `.gz` files under this prefix.
pub const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// Connection (and DNS) timeout: offline machines should fail within seconds, not minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Downloads the four MNIST `.gz` files into `dir` (created if needed) from [`MNIST_MIRRORS`].
///
/// Files already present with a correct checksum are skipped; each download is
/// MD5-verified and written atomically (temp file in `dir`, then rename), so an
/// interrupted fetch never leaves a half file under the real name. `progress` shows
/// a byte progress bar on stderr.
pub fn fetch_mnist(dir: &Path, progress: bool) -> Result<(), DatasetError> {
    fetch_mnist_from(dir, &MNIST_MIRRORS, progress)
}

/// [`fetch_mnist`] with explicit mirror URL prefixes (tried in order), e.g. a local mirror.
pub fn fetch_mnist_from(dir: &Path, mirrors: &[&str], progress: bool) -> Result<(), DatasetError> {
    std::fs::create_dir_all(dir).map_err(|e| DatasetError::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .user_agent(concat!("moreml-datasets/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    for file in &MNIST_FILES {
        let target = dir.join(file.gz_name());
        let raw = dir.join(file.name);
        let present = if target.exists() {
            Some(&target)
        } else if raw.exists() {
            Some(&raw)
        } else {
            None
        };
        if let Some(p) = present {
            if verify_mnist_file(file, p).is_ok() {
                if progress {
                    eprintln!("{}: already present, checksum OK", p.display());
                }
                continue;
            }
            if progress {
                eprintln!("{}: checksum mismatch, downloading again", p.display());
            }
        }
        let mut attempts = Vec::new();
        let mut ok = false;
        for mirror in mirrors {
            let url = format!("{}/{}", mirror.trim_end_matches('/'), file.gz_name());
            match download(&agent, &url, dir, file, progress)? {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(why) => attempts.push(format!("{url}: {why}")),
            }
        }
        if !ok {
            return Err(DatasetError::Download { file: file.gz_name(), dir: dir.to_path_buf(), attempts });
        }
    }
    Ok(())
}

/// One download attempt. Outer error: local failure (stop); inner: this mirror failed (try next).
fn download(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    file: &MnistFile,
    progress: bool,
) -> Result<Result<(), String>, DatasetError> {
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let len = resp.body().content_length();
    let pb = if progress { ProgressBar::new(len.unwrap_or(0)) } else { ProgressBar::hidden() };
    if progress {
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        pb.set_style(style);
        pb.set_message(file.gz_name());
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file.gz_name()))
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| DatasetError::io(dir, e))?;
    let mut reader = resp.into_body().into_reader();
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(format!("download interrupted: {e}"))),
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(|e| DatasetError::io(tmp.path(), e))?;
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    tmp.as_file().sync_all().map_err(|e| DatasetError::io(tmp.path(), e))?;
    let md5 = hex(&hasher.finalize());
    // A mirror that recompressed the files still passes if the content is canonical.
    if md5 != file.gz_md5 && verify_mnist_file(file, tmp.path()).is_err() {
        return Ok(Err(format!("MD5 mismatch: got {md5}, expected {}", file.gz_md5)));
    }
    let target = dir.join(file.gz_name());
    tmp.persist(&target).map_err(|e| DatasetError::io(&target, e.error))?;
    if progress {
        eprintln!("{}: downloaded, checksum OK", target.display());
    }
    Ok(Ok(()))
}
