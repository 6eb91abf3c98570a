//! Writes one contact-sheet PNG per view: `cargo run -p moreml-angio --release --example contact_sheets -- OUT_DIR [SIZE] [N]`.
use moreml_angio::{contact_sheet, encode_png, Generator, Task};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).map(String::as_str).unwrap_or("angio-sheets"));
    let size: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(16);
    std::fs::create_dir_all(&out)?;
    let g = Generator::new(n, size, 1, Task::View)?;
    let t = std::time::Instant::now();
    let data = g.generate();
    eprintln!("{} images in {:.3} s", data.labels.len(), t.elapsed().as_secs_f64());
    let per = size * size;
    for (c, name) in data.class_names.iter().enumerate() {
        let imgs: Vec<&[f32]> = (0..data.labels.len())
            .filter(|&k| data.labels[k] == c)
            .map(|k| &data.images[k * per..(k + 1) * per])
            .collect();
        let cols = (imgs.len() as f64).sqrt().ceil() as usize;
        let (sheet, w, h) = contact_sheet(&imgs, size, cols, 2);
        std::fs::write(out.join(format!("{name}.png")), encode_png(&sheet, w, h)?)?;
    }
    Ok(())
}
