//! Image folders: a directory of PNG/JPEG frames plus a label CSV, as tensors.
//!
//! The CSV has a header naming at least the columns `file` (a path relative to the folder) and
//! `label` (a class name); other columns are ignored. Every image is decoded (RGB converted to
//! gray), centre-cropped to a square, resized to `size` x `size` with a Lanczos3 filter and
//! clamped to [0, 1]. Class names are sorted, and each label becomes a one-hot row. Every image
//! file in the folder must have a row and every row a readable image, so that a typo never
//! silently drops data; errors ([`ImagesError`]) name the file or the CSV row.
//!
//! ```
//! use moreml_datasets::images::{load_image_folder, ImageFolderOptions};
//!
//! let dir = tempfile::tempdir()?;
//! for (name, level) in [("a.png", 0u8), ("b.png", 255)] {
//!     image::GrayImage::from_pixel(8, 8, image::Luma([level])).save(dir.path().join(name))?;
//! }
//! std::fs::write(dir.path().join("labels.csv"), "file,label\na.png,dark\nb.png,bright\n")?;
//! let set = load_image_folder(dir.path(), &dir.path().join("labels.csv"), &ImageFolderOptions::new(4))?;
//! assert_eq!(set.class_names, ["bright", "dark"]);
//! assert_eq!(set.labels, [1, 0]);
//! assert_eq!(set.one_hot(), [0.0, 1.0, 1.0, 0.0]);
//! // Lanczos resampling of a constant image is exact up to f32 rounding.
//! assert!(set.images[..16].iter().all(|&v| v.abs() < 1e-6) && set.images[16..].iter().all(|&v| (v - 1.0).abs() < 1e-6));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use image::imageops::{resize, FilterType};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Everything that can be wrong with an image folder or its label CSV.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    /// The requested side is zero or absurdly large.
    #[error("image size {0} is not supported: choose a side between 1 and 4096 pixels")]
    BadSize(usize),
    /// The folder cannot be listed.
    #[error("cannot list image folder {}: {source}; check the --dir path", dir.display())]
    ReadDir {
        /// The folder.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CSV cannot be opened or parsed.
    #[error("cannot read label file {}: {source}; it must be a CSV with a header row", path.display())]
    Csv {
        /// The CSV.
        path: PathBuf,
        /// Why.
        source: csv::Error,
    },
    /// A required column is missing from the header.
    #[error("label file {} has no `{column}` column: the header must name `file` and `label`", path.display())]
    MissingColumn {
        /// The CSV.
        path: PathBuf,
        /// `file` or `label`.
        column: &'static str,
    },
    /// The CSV has a header but no rows.
    #[error("label file {} has no data rows: add one `file,label` row per image", path.display())]
    NoRows {
        /// The CSV.
        path: PathBuf,
    },
    /// A row has an empty `file` cell.
    #[error("line {line} of {} has no file name: fill the `file` cell or delete the row", path.display())]
    RowWithoutFile {
        /// The CSV.
        path: PathBuf,
        /// 1-based line number (the header is line 1).
        line: u64,
    },
    /// A row has an empty `label` cell.
    #[error("line {line} of {} ({file}) has an empty label: give every image a class name", path.display())]
    EmptyLabel {
        /// The CSV.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The row's file.
        file: String,
    },
    /// A label is not one of the caller's classes.
    #[error("line {line} of {} ({file}) has label `{label}`, which is not one of the classes {known:?}", path.display())]
    UnknownLabel {
        /// The CSV.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The row's file.
        file: String,
        /// The unexpected label.
        label: String,
        /// The accepted classes.
        known: Vec<String>,
    },
    /// Two rows name the same file.
    #[error("lines {first} and {line} of {} both name {file}: keep one row per image", path.display())]
    DuplicateRow {
        /// The CSV.
        path: PathBuf,
        /// The earlier line.
        first: u64,
        /// The later line.
        line: u64,
        /// The file.
        file: String,
    },
    /// An image named by a row cannot be read or decoded.
    #[error("cannot read image {} (line {line} of the label file): {source}; it must be an existing PNG or JPEG", path.display())]
    Unreadable {
        /// The image.
        path: PathBuf,
        /// 1-based CSV line naming it.
        line: u64,
        /// Why.
        source: image::ImageError,
    },
    /// An image file in the folder has no row in the CSV.
    #[error("image {} has no row in {}: add a `file,label` row for it or move it out of the folder", path.display(), csv.display())]
    ImageWithoutRow {
        /// The image.
        path: PathBuf,
        /// The CSV.
        csv: PathBuf,
    },
}

/// How to load an image folder.
#[derive(Clone, Debug)]
pub struct ImageFolderOptions {
    /// Output side: every image becomes `size` x `size`.
    pub size: usize,
    /// Fixed class list in label order; `None` = the sorted distinct labels of the CSV.
    pub classes: Option<Vec<String>>,
}

impl ImageFolderOptions {
    /// Resize to `size` x `size`, classes from the CSV.
    pub fn new(size: usize) -> Self {
        ImageFolderOptions { size, classes: None }
    }
}

/// A loaded image folder (plain values; no dependency on the tensor crates).
#[derive(Clone, Debug)]
pub struct ImageFolder {
    /// `[n, size * size]` row-major gray values in [0, 1], in CSV row order.
    pub images: Vec<f64>,
    /// Class index per image.
    pub labels: Vec<usize>,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// The CSV `file` cell of each image.
    pub files: Vec<String>,
    /// Image side.
    pub size: usize,
}

impl ImageFolder {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images (never, for a folder that loaded).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `[n, classes]` one-hot labels.
    pub fn one_hot(&self) -> Vec<f64> {
        let k = self.class_names.len();
        let mut out = vec![0.0; self.labels.len() * k];
        for (i, &l) in self.labels.iter().enumerate() {
            out[i * k + l] = 1.0;
        }
        out
    }
}

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

struct Row {
    line: u64,
    file: String,
    label: String,
}

/// Loads the images of `dir` listed in `labels_csv` (see the module docs for the rules).
pub fn load_image_folder(dir: &Path, labels_csv: &Path, opts: &ImageFolderOptions) -> Result<ImageFolder, ImagesError> {
    if !(1..=4096).contains(&opts.size) {
        return Err(ImagesError::BadSize(opts.size));
    }
    let rows = read_rows(labels_csv)?;
    check_every_image_has_a_row(dir, labels_csv, &rows)?;
    let class_names = match &opts.classes {
        Some(c) => c.clone(),
        None => rows.iter().map(|r| r.label.clone()).collect::<BTreeSet<_>>().into_iter().collect(),
    };
    let index: HashMap<&str, usize> = class_names.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let labels = rows
        .iter()
        .map(|r| {
            index.get(r.label.as_str()).copied().ok_or_else(|| ImagesError::UnknownLabel {
                path: labels_csv.to_path_buf(),
                line: r.line,
                file: r.file.clone(),
                label: r.label.clone(),
                known: class_names.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let per = opts.size * opts.size;
    let mut images = vec![0.0f64; rows.len() * per];
    images.par_chunks_mut(per).zip(&rows).try_for_each(|(dst, row)| {
        let path = dir.join(&row.file);
        load_one(&path, opts.size, dst).map_err(|source| ImagesError::Unreadable { path, line: row.line, source })
    })?;
    Ok(ImageFolder { images, labels, class_names, files: rows.into_iter().map(|r| r.file).collect(), size: opts.size })
}

fn read_rows(path: &Path) -> Result<Vec<Row>, ImagesError> {
    let csv_err = |source| ImagesError::Csv { path: path.to_path_buf(), source };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(csv_err)?;
    let header = reader.headers().map_err(csv_err)?.clone();
    let column = |name: &'static str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or(ImagesError::MissingColumn { path: path.to_path_buf(), column: name })
    };
    let (fc, lc) = (column("file")?, column("label")?);
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |p| p.line());
        let file = record.get(fc).unwrap_or("").to_string();
        let label = record.get(lc).unwrap_or("").to_string();
        if file.is_empty() {
            return Err(ImagesError::RowWithoutFile { path: path.to_path_buf(), line });
        }
        if label.is_empty() {
            return Err(ImagesError::EmptyLabel { path: path.to_path_buf(), line, file });
        }
        if let Some(&first) = seen.get(&file) {
            return Err(ImagesError::DuplicateRow { path: path.to_path_buf(), first, line, file });
        }
        seen.insert(file.clone(), line);
        rows.push(Row { line, file, label });
    }
    if rows.is_empty() {
        return Err(ImagesError::NoRows { path: path.to_path_buf() });
    }
    Ok(rows)
}

/// Every PNG/JPEG directly inside `dir` must be named by some row.
fn check_every_image_has_a_row(dir: &Path, csv: &Path, rows: &[Row]) -> Result<(), ImagesError> {
    let listed: BTreeSet<PathBuf> = rows.iter().map(|r| dir.join(&r.file)).collect();
    let read_dir_err = |source| ImagesError::ReadDir { dir: dir.to_path_buf(), source };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_dir_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_dir_err)?;
    entries.sort();
    for path in entries {
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
        if is_image && path.is_file() && !listed.contains(&path) {
            return Err(ImagesError::ImageWithoutRow { path, csv: csv.to_path_buf() });
        }
    }
    Ok(())
}

/// Decodes, converts to gray, centre-crops to a square, resizes and writes into `dst`.
fn load_one(path: &Path, size: usize, dst: &mut [f64]) -> Result<(), image::ImageError> {
    let img = image::ImageReader::open(path)?.with_guessed_format()?.decode()?;
    let (w, h) = (img.width(), img.height());
    let side = w.min(h);
    let gray = img.crop_imm((w - side) / 2, (h - side) / 2, side, side).to_luma32f();
    let small = resize(&gray, size as u32, size as u32, FilterType::Lanczos3);
    for (d, p) in dst.iter_mut().zip(small.pixels()) {
        *d = f64::from(p.0[0]).clamp(0.0, 1.0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    /// A folder with `images` (name, gray level) and a CSV with the given text.
    fn folder(images: &[(&str, u8)], csv: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for &(name, level) in images {
            GrayImage::from_pixel(12, 10, Luma([level])).save(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("labels.csv"), csv).unwrap();
        dir
    }

    fn load(dir: &tempfile::TempDir, size: usize) -> Result<ImageFolder, ImagesError> {
        load_image_folder(dir.path(), &dir.path().join("labels.csv"), &ImageFolderOptions::new(size))
    }

    #[test]
    fn loads_resizes_and_one_hot_encodes_with_sorted_classes() {
        let d = folder(
            &[("x.png", 51), ("y.png", 204), ("z.png", 0)],
            "file,label,extra\nx.png,rca,1\ny.png,lca,2\nz.png,rca,3\n",
        );
        let set = load(&d, 5).unwrap();
        assert_eq!(set.class_names, ["lca", "rca"]);
        assert_eq!(set.labels, [1, 0, 1]);
        assert_eq!(set.files, ["x.png", "y.png", "z.png"]);
        assert_eq!(set.images.len(), 3 * 25);
        assert!(set.images[..25].iter().all(|&v| (v - 0.2).abs() < 1e-6), "{:?}", &set.images[..25]);
        assert!(set.images[25..50].iter().all(|&v| (v - 0.8).abs() < 1e-6));
        assert_eq!(set.one_hot(), [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn rgb_jpeg_becomes_gray_and_non_square_is_centre_cropped() {
        let dir = tempfile::tempdir().unwrap();
        // Left third red, the rest white: the centre crop of a 30x10 image is all white.
        let img = RgbImage::from_fn(30, 10, |x, _| if x < 10 { Rgb([255, 0, 0]) } else { Rgb([255, 255, 255]) });
        img.save(dir.path().join("a.JPG")).unwrap();
        std::fs::write(dir.path().join("labels.csv"), "file,label\na.JPG,one\n").unwrap();
        let set = load(&dir, 4).unwrap();
        assert!(set.images.iter().all(|&v| v > 0.9), "{:?}", set.images);
    }

    #[test]
    fn lanczos_downsampling_keeps_a_gradient_ordered_and_in_range() {
        let dir = tempfile::tempdir().unwrap();
        GrayImage::from_fn(64, 64, |x, _| Luma([(x * 4) as u8])).save(dir.path().join("g.png")).unwrap();
        std::fs::write(dir.path().join("labels.csv"), "file,label\ng.png,a\n").unwrap();
        let set = load(&dir, 8).unwrap();
        let row = &set.images[3 * 8..4 * 8];
        assert!(row.windows(2).all(|w| w[1] > w[0]), "{row:?}");
        assert!(set.images.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn fixed_classes_reject_an_unknown_label() {
        let d = folder(&[("x.png", 0)], "file,label\nx.png,lcx\n");
        let opts = ImageFolderOptions { size: 4, classes: Some(vec!["lca".into(), "rca".into()]) };
        let err = load_image_folder(d.path(), &d.path().join("labels.csv"), &opts).unwrap_err();
        assert!(matches!(err, ImagesError::UnknownLabel { line: 2, ref label, .. } if label == "lcx"), "{err}");
        assert!(err.to_string().contains("x.png"), "{err}");
    }

    #[test]
    fn row_without_a_file_names_its_line() {
        let d = folder(&[("x.png", 0)], "file,label\nx.png,a\n,b\n");
        let err = load(&d, 4).unwrap_err();
        assert!(matches!(err, ImagesError::RowWithoutFile { line: 3, .. }), "{err}");
    }

    #[test]
    fn empty_label_names_the_file() {
        let d = folder(&[("x.png", 0)], "file,label\nx.png,  \n");
        let err = load(&d, 4).unwrap_err();
        assert!(matches!(err, ImagesError::EmptyLabel { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("x.png"));
    }

    #[test]
    fn image_without_a_row_is_an_error() {
        let d = folder(&[("x.png", 0), ("stray.png", 0)], "file,label\nx.png,a\n");
        let err = load(&d, 4).unwrap_err();
        assert!(matches!(err, ImagesError::ImageWithoutRow { ref path, .. } if path.ends_with("stray.png")), "{err}");
    }

    #[test]
    fn missing_image_is_unreadable_with_its_line() {
        let d = folder(&[("x.png", 0)], "file,label\nx.png,a\nghost.png,b\n");
        let err = load(&d, 4).unwrap_err();
        assert!(
            matches!(err, ImagesError::Unreadable { line: 3, ref path, .. } if path.ends_with("ghost.png")),
            "{err}"
        );
    }

    #[test]
    fn corrupt_image_is_unreadable() {
        let d = folder(&[], "file,label\nbad.png,a\n");
        std::fs::write(d.path().join("bad.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let err = load(&d, 4).unwrap_err();
        assert!(matches!(err, ImagesError::Unreadable { line: 2, .. }), "{err}");
    }

    #[test]
    fn header_without_label_column_is_an_error() {
        let d = folder(&[("x.png", 0)], "file,class\nx.png,a\n");
        let err = load(&d, 4).unwrap_err();
        assert!(matches!(err, ImagesError::MissingColumn { column: "label", .. }), "{err}");
    }

    #[test]
    fn duplicate_rows_are_an_error() {
        let d = folder(&[("x.png", 0)], "file,label\nx.png,a\nx.png,b\n");
        let err = load(&d, 4).unwrap_err();
        assert!(matches!(err, ImagesError::DuplicateRow { first: 2, line: 3, .. }), "{err}");
    }

    #[test]
    fn header_only_csv_has_no_rows() {
        let d = folder(&[], "file,label\n");
        assert!(matches!(load(&d, 4).unwrap_err(), ImagesError::NoRows { .. }));
    }

    #[test]
    fn missing_csv_and_zero_size_are_errors() {
        let d = folder(&[("x.png", 0)], "file,label\nx.png,a\n");
        let err = load_image_folder(d.path(), &d.path().join("nope.csv"), &ImageFolderOptions::new(4)).unwrap_err();
        assert!(matches!(err, ImagesError::Csv { .. }), "{err}");
        assert!(matches!(load(&d, 0).unwrap_err(), ImagesError::BadSize(0)));
    }
}
