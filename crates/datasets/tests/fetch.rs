//! `fetch_mnist`: offline error path, skip/verify logic, and downloads from a loopback
//! HTTP server (this machine reaches no real mirror; nothing here leaves 127.0.0.1).
#![cfg(feature = "fetch")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use moreml_datasets::*;

/// Nothing listens on port 1: connections are refused at once.
const DEAD: &str = "http://127.0.0.1:1/mnist/";

/// Serves `GET /NAME` with `body(NAME)` (404 on `None`) for at most `max_conns` connections.
fn serve(max_conns: usize, body: impl Fn(&str) -> Option<Vec<u8>> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_conns) {
            let Ok(mut s) = stream else { continue };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).ok();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let name = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            let resp = match body(&name) {
                Some(b) => {
                    let mut v = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len())
                        .into_bytes();
                    v.extend(b);
                    v
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            s.write_all(&resp).ok();
        }
    });
    url
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn offline_fails_fast_and_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnist");
    let t = Instant::now();
    let e = fetch_mnist_from(&target, &[DEAD, DEAD], false).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    let msg = e.to_string();
    assert!(matches!(&e, DatasetError::Download { attempts, .. } if attempts.len() == 2), "{msg}");
    assert!(msg.contains("could not reach any MNIST mirror") && msg.contains("by hand"), "{msg}");
    assert!(msg.contains(&target.display().to_string()), "{msg}");
    assert!(leftovers(&target).is_empty(), "{:?}", leftovers(&target));
}

#[test]
fn bad_checksum_from_mirror_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve(4, |_| Some(common::gzip(b"not mnist")));
    let e = fetch_mnist_from(dir.path(), &[&url], false).unwrap_err();
    assert!(e.to_string().contains("MD5 mismatch"), "{e}");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}

#[test]
fn corrupt_local_file_is_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(TRAIN_IMAGES.gz_name()), b"garbage").unwrap();
    let e = fetch_mnist_from(dir.path(), &[DEAD], false).unwrap_err();
    assert!(matches!(&e, DatasetError::Download { file, .. } if file == "train-images-idx3-ubyte.gz"), "{e}");
}

/// With the real files: present ones are skipped (no network needed), and a fetch from
/// a loopback mirror (after a dead one) downloads, verifies and writes all four.
#[test]
fn real_files_skip_and_download() {
    let Some(real) = common::real_mnist_dir() else {
        eprintln!("skipping real_files_skip_and_download: {MNIST_DIR_ENV} not set");
        return;
    };
    // Skip: everything present and correct => no request at all.
    let dir = tempfile::tempdir().unwrap();
    for f in &MNIST_FILES {
        std::fs::copy(real.join(f.gz_name()), dir.path().join(f.gz_name())).unwrap();
    }
    fetch_mnist_from(dir.path(), &[DEAD], false).unwrap();

    // Download from a loopback mirror into an empty (not yet existing) directory.
    let real2 = real.clone();
    let url = serve(8, move |name| std::fs::read(real2.join(name)).ok());
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("sub");
    fetch_mnist_from(&target, &[DEAD, &url], false).unwrap();
    let mut names = leftovers(&target);
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    for f in &MNIST_FILES {
        assert_eq!(std::fs::read(target.join(f.gz_name())).unwrap(), std::fs::read(real.join(f.gz_name())).unwrap());
    }
    assert_eq!(Mnist::load(&target).unwrap().n_test(), 10_000);
}

/// The real mirrors: on a machine without network this must fail within seconds.
/// Ignored by default so a normal test run never touches the internet.
#[test]
#[ignore]
fn default_mirrors() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let r = fetch_mnist(dir.path(), true);
    eprintln!("fetch_mnist after {:?}: {r:?}", t.elapsed());
    if let Err(e) = r {
        eprintln!("{e}");
    }
}
