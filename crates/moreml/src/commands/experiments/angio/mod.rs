//! `moreml angio`: synthetic X-ray coronary angiograms (generator in `moreml-angio`).
//!
//! `generate` writes PNG frames, `labels.csv` and one contact sheet per class; `bench` measures
//! in-memory generation speed; `experiment` trains the view classifier on plaintext and on
//! ciphertexts side by side ([`experiment`]). The folder layout (`images/` + `labels.csv` with `file,label`)
//! is the one `moreml_datasets::images` reads, so the same pipeline runs on real frames.

use crate::commands::common::progress;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use moreml_angio::{contact_sheet, encode_png, Generator, SampleMeta, Task};
use moreml_cipher::format::write_atomic;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub mod experiment;

/// `moreml angio`.
#[derive(Args, Debug)]
pub struct AngioArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AngioCommand,
}

/// `moreml angio` subcommands.
#[derive(Subcommand, Debug)]
pub enum AngioCommand {
    /// Render N images per class as PNGs, with labels.csv and a contact sheet per class.
    Generate(GenerateArgs),
    /// Measure in-memory generation speed (images per second, no disk I/O).
    Bench(BenchArgs),
    /// Train the view (or artery) classifier on plaintext and on ciphertexts side by side.
    Experiment(experiment::ExperimentArgs),
}

/// Options shared by `generate` and `bench`.
#[derive(Args, Debug)]
pub struct SetArgs {
    /// Images per class (classes are exactly balanced).
    #[arg(long)]
    pub n: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Master seed: the same seed gives byte-identical images.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Labels: six standard views, or LCA versus RCA.
    #[arg(long, value_enum, default_value_t = TaskArg::View)]
    pub task: TaskArg,
}

/// `moreml angio generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Set size, seed and task.
    #[command(flatten)]
    pub set: SetArgs,
    /// Output directory (created): images/, labels.csv, contact_<class>.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Images per class on each contact sheet.
    #[arg(long, default_value_t = 36)]
    pub sheet: usize,
}

/// `moreml angio bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Set size, seed and task.
    #[command(flatten)]
    pub set: SetArgs,
}

/// The `--task` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TaskArg {
    /// Six classes: LCA RAO-caudal, LCA RAO-cranial, LCA LAO-cranial, LCA LAO-caudal, RCA LAO, RCA RAO.
    View,
    /// Two classes: LCA, RCA.
    Artery,
}

impl SetArgs {
    fn generator(&self) -> Result<Generator> {
        let task = match self.task {
            TaskArg::View => Task::View,
            TaskArg::Artery => Task::Artery,
        };
        Ok(Generator::new(self.n, self.size, self.seed, task)?)
    }
}

/// Runs `moreml angio ...`.
pub fn angio(a: &AngioArgs) -> Result<()> {
    match &a.command {
        AngioCommand::Generate(g) => generate(g),
        AngioCommand::Bench(b) => bench(b),
        AngioCommand::Experiment(e) => experiment::experiment(e),
    }
}

/// Name of image `k` inside `images/`.
fn image_name(k: usize) -> String {
    format!("angio_{k:06}.png")
}

fn generate(a: &GenerateArgs) -> Result<()> {
    let g = a.set.generator()?;
    let images = a.out.join("images");
    std::fs::create_dir_all(&images).with_context(|| format!("cannot create {}", images.display()))?;
    let classes = g.task.class_names();
    let keep = a.sheet.min(g.n_per_class) * classes.len();
    let bar = progress(g.len() as u64, "rendering");
    let start = Instant::now();
    let results: Vec<(SampleMeta, Option<Vec<f32>>)> = (0..g.len())
        .into_par_iter()
        .map(|k| -> Result<_> {
            let s = g.render(k);
            let path = images.join(image_name(k));
            let png = encode_png(&s.pixels, g.size, g.size)?;
            std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
            bar.inc(1);
            Ok((s.meta, (k < keep).then_some(s.pixels)))
        })
        .collect::<Result<_>>()?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();

    // labels.csv last and atomically: a run cut short never leaves rows naming missing images.
    let mut csv =
        String::from("file,label,view,artery,primary_deg,secondary_deg,sid_mm,sod_mm,fill,contrast,vessels\n");
    for (k, (m, _)) in results.iter().enumerate() {
        let label = &classes[g.label(k)];
        let (v, arm) = (m.view, m.arm);
        let _ = writeln!(
            csv,
            "{},{label},{},{},{:.2},{:.2},{:.1},{:.1},{:.3},{:.3},{}",
            image_name(k),
            v.name(),
            v.artery().name(),
            arm.primary_deg,
            arm.secondary_deg,
            arm.sid_mm,
            arm.sod_mm,
            m.fill,
            m.contrast,
            m.vessels
        );
    }
    write_atomic(&a.out.join("labels.csv"), csv.as_bytes(), None)?;
    for (c, name) in classes.iter().enumerate() {
        let imgs: Vec<&[f32]> = results
            .iter()
            .enumerate()
            .filter(|(k, _)| g.label(*k) == c)
            .filter_map(|(_, (_, p))| p.as_deref())
            .collect();
        if !imgs.is_empty() {
            write_sheet(&a.out.join(format!("contact_{name}.png")), &imgs, g.size)?;
        }
    }
    eprintln!(
        "wrote {} images ({} per class, {}x{}) to {} in {secs:.2} s ({:.0} images/s including PNG writing)",
        g.len(),
        g.n_per_class,
        g.size,
        g.size,
        a.out.display(),
        g.len() as f64 / secs
    );
    Ok(())
}

fn write_sheet(path: &Path, imgs: &[&[f32]], size: usize) -> Result<()> {
    let cols = (imgs.len() as f64).sqrt().ceil() as usize;
    let (sheet, w, h) = contact_sheet(imgs, size, cols, 2);
    write_atomic(path, &encode_png(&sheet, w, h)?, None)?;
    Ok(())
}

fn bench(a: &BenchArgs) -> Result<()> {
    let g = a.set.generator()?;
    g.render(0); // warm up the thread pool's first thread and page in the code
    let start = Instant::now();
    let data = g.generate();
    let secs = start.elapsed().as_secs_f64();
    let mean = data.images.iter().map(|&v| v as f64).sum::<f64>() / data.images.len() as f64;
    println!(
        "generated {} images of {}x{} in {secs:.3} s: {:.0} images/s on {} threads (mean pixel {mean:.3})",
        g.len(),
        g.size,
        g.size,
        g.len() as f64 / secs,
        rayon::current_num_threads()
    );
    Ok(())
}
