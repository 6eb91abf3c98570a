//! Black-box helpers for CLI tests: a temporary [`Dir`] and a [`TestCommand`] that runs the
//! real `moreml` binary (`CARGO_BIN_EXE_moreml`) and dumps full context when an expectation
//! fails. Generic on purpose: any `tests/*.rs` can `mod common;` and use it.
#![allow(dead_code)] // each test binary uses a subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory, removed on drop.
pub struct Dir(tempfile::TempDir);

impl Dir {
    /// A fresh empty directory.
    pub fn new() -> Self {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        self.0.path()
    }
    /// `name` inside the directory, as a `String` (for command arguments).
    pub fn arg(&self, name: &str) -> String {
        self.path(name).to_str().expect("utf-8 temp path").to_string()
    }
}

/// One run of the `moreml` binary.
pub struct TestCommand {
    args: Vec<String>,
    cwd: Option<PathBuf>,
}

/// The outcome of a run, with lossy UTF-8 output.
pub struct Run {
    pub output: Output,
    pub stdout: String,
    pub stderr: String,
    pub cmdline: String,
}

impl TestCommand {
    /// `moreml <args...>`.
    pub fn new<S: AsRef<str>>(args: &[S]) -> Self {
        TestCommand { args: args.iter().map(|s| s.as_ref().to_string()).collect(), cwd: None }
    }
    /// Runs in `dir`.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }
    /// Runs to completion (two threads, no environment-dependent data paths).
    pub fn run(&self) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_moreml"));
        cmd.args(&self.args).env_remove("MOREML_MNIST_DIR").env("RUST_BACKTRACE", "0");
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        let output = cmd.output().expect("run moreml");
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            cmdline: format!("moreml {}", self.args.join(" ")),
            output,
        }
    }
    /// Runs and asserts exit status 0; returns the run.
    pub fn ok(&self) -> Run {
        let r = self.run();
        assert!(r.output.status.success(), "{} failed\n{}", r.cmdline, r.context());
        r
    }
    /// Runs and asserts a clean failure: non-zero exit, no panic, and stderr exactly one line
    /// `moreml: error: ...`. Returns that line.
    pub fn fails(&self) -> String {
        let r = self.run();
        assert!(!r.output.status.success(), "{} should have failed\n{}", r.cmdline, r.context());
        assert_eq!(r.output.status.code(), Some(1), "{}: exit status\n{}", r.cmdline, r.context());
        assert!(!r.stderr.contains("panicked"), "{} panicked\n{}", r.cmdline, r.context());
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("moreml: error: "),
            "{}: stderr must be one `moreml: error:` line\n{}",
            r.cmdline,
            r.context()
        );
        lines[0].to_string()
    }
    /// Like [`TestCommand::fails`], also asserting the message contains every phrase.
    pub fn fails_with(&self, phrases: &[&str]) -> String {
        let line = self.fails();
        for p in phrases {
            assert!(line.contains(p), "{}: expected {p:?} in\n  {line}", self.args.join(" "));
        }
        line
    }
}

impl Run {
    /// Everything about the run, for failure messages.
    pub fn context(&self) -> String {
        format!("status: {:?}\n--- stdout\n{}\n--- stderr\n{}", self.output.status, self.stdout, self.stderr)
    }
}

/// `moreml <args...>` as a [`TestCommand`].
pub fn moreml<S: AsRef<str>>(args: &[S]) -> TestCommand {
    TestCommand::new(args)
}
