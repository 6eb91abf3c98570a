//! `moreml dataset images`: an image folder plus a label CSV as a plaintext tensor file.
//!
//! Wired by the lead as a `dataset` subcommand; the reader is `moreml_datasets::images`.

use crate::commands::common::{with_dtype, Dtype};
use crate::commands::owner::dataset::role_header;
use anyhow::{Context, Result};
use clap::Args;
use moreml_cipher::format::{self, PlainFile};
use moreml_cipher::prelude::*;
use moreml_datasets::images::{load_image_folder, ImageFolder, ImageFolderOptions};
use std::path::PathBuf;

/// `moreml dataset images`.
#[derive(Args, Debug)]
pub struct DatasetImagesArgs {
    /// Folder with the PNG/JPEG frames (every image in it must have a CSV row).
    #[arg(long)]
    pub dir: PathBuf,
    /// CSV with a header naming `file` (relative to --dir) and `label`; other columns ignored.
    #[arg(long)]
    pub labels: PathBuf,
    /// Side of the square images written (centre crop, then Lanczos3 resize).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Output tensor file (tensors `images` [n, size*size] and one-hot `labels` [n, classes]).
    #[arg(long)]
    pub out: PathBuf,
    /// Scalar type.
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
}

/// Runs `moreml dataset images`.
pub fn dataset_images(a: &DatasetImagesArgs) -> Result<()> {
    let set = load_image_folder(&a.dir, &a.labels, &ImageFolderOptions::new(a.size))
        .with_context(|| format!("cannot load the image folder {}", a.dir.display()))?;
    with_dtype!(a.dtype, write_set(&set, a))?;
    eprintln!(
        "wrote {} images ({}x{}, {} classes: {}) to {}",
        set.len(),
        set.size,
        set.size,
        set.class_names.len(),
        set.class_names.join(", "),
        a.out.display()
    );
    Ok(())
}

fn write_set<T: Float>(set: &ImageFolder, a: &DatasetImagesArgs) -> Result<()> {
    let (n, k) = (set.len(), set.class_names.len());
    // Values are in [0, 1], so the conversion cannot fail; NaN would surface it if it did.
    let cast = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
    let mut extra = role_header("images", "labels", "classification");
    extra.insert("moreml.classes".to_string(), serde_json::to_string(&set.class_names)?);
    extra.insert("moreml.content".to_string(), format!("image-folder {}x{}", set.size, set.size));
    let file = PlainFile {
        tensors: vec![
            ("images".to_string(), PlainTensor::from_vec(&[n, set.size * set.size], cast(set.images.clone()))?),
            ("labels".to_string(), PlainTensor::from_vec(&[n, k], cast(set.one_hot()))?),
        ],
        extra,
    };
    format::write_plain(&a.out, &file)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_images_labels_roles_and_classes() {
        let dir = tempfile::tempdir().unwrap();
        for (name, level) in [("a.png", 0u8), ("b.png", 255), ("c.png", 128)] {
            image_png(&dir.path().join(name), level);
        }
        std::fs::write(dir.path().join("l.csv"), "file,label\na.png,rca\nb.png,lca\nc.png,rca\n").unwrap();
        let args = DatasetImagesArgs {
            dir: dir.path().to_path_buf(),
            labels: dir.path().join("l.csv"),
            size: 4,
            out: dir.path().join("set.safetensors"),
            dtype: Dtype::F32,
        };
        dataset_images(&args).unwrap();
        let file = format::read_plain::<f32>(&args.out).unwrap();
        assert_eq!(file.extra["moreml.classes"], r#"["lca","rca"]"#);
        assert_eq!(file.extra["moreml.roles"], r#"{"images":"input","labels":"target"}"#);
        let labels = &file.tensors.iter().find(|(n, _)| n == "labels").unwrap().1;
        assert_eq!(labels.shape(), [3, 2]);
        assert_eq!(labels.values(), [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        let images = &file.tensors.iter().find(|(n, _)| n == "images").unwrap().1;
        assert_eq!(images.shape(), [3, 16]);
        assert!(images.values()[16..32].iter().all(|&v| (v - 1.0).abs() < 1e-6), "{:?}", images.values());
        assert!(images.values()[..16].iter().all(|&v| v.abs() < 1e-6));
    }

    /// A 6x6 PNG of one gray level, written with the generator's own encoder.
    fn image_png(path: &std::path::Path, level: u8) {
        let px = vec![f32::from(level) / 255.0; 36];
        std::fs::write(path, moreml_angio::encode_png(&px, 6, 6).unwrap()).unwrap();
    }
}
