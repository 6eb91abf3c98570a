//! The MNIST data set: canonical files and checksums, loading, and tensor helpers.

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use num_traits::Float;

use crate::error::GET_DATA_HINT;
use crate::idx::{decompress_if_gzip, is_gzip, parse_idx, read_file};
use crate::DatasetError;

/// Environment variable naming the MNIST directory when no flag is given.
pub const MNIST_DIR_ENV: &str = "MOREML_MNIST_DIR";
/// Image height of MNIST.
pub const MNIST_ROWS: usize = 28;
/// Image width of MNIST.
pub const MNIST_COLS: usize = 28;
/// Number of classes (digits 0..=9).
pub const MNIST_CLASSES: usize = 10;

/// One of the four canonical MNIST files and its checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnistFile {
    /// Name of the uncompressed file, e.g. `train-images-idx3-ubyte`; on disk and on
    /// the mirrors the compressed one has `.gz` appended.
    pub name: &'static str,
    /// MD5 of the `.gz` file as served by the usual mirrors.
    pub gz_md5: &'static str,
    /// MD5 of the uncompressed content. Recompressed `.gz` files (different bytes,
    /// same content) are accepted by this one.
    pub raw_md5: &'static str,
}

impl MnistFile {
    /// File name of the compressed file (`name` + `.gz`).
    pub fn gz_name(&self) -> String {
        format!("{}.gz", self.name)
    }
}

/// Training images (60000 x 28 x 28).
pub const TRAIN_IMAGES: MnistFile = MnistFile {
    name: "train-images-idx3-ubyte",
    gz_md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    raw_md5: "6bbc9ace898e44ae57da46a324031adb",
};
/// Training labels (60000).
pub const TRAIN_LABELS: MnistFile = MnistFile {
    name: "train-labels-idx1-ubyte",
    gz_md5: "d53e105ee54ea40749a09fcbcd1e9432",
    raw_md5: "a25bea736e30d166cdddb491f175f624",
};
/// Test images (10000 x 28 x 28).
pub const TEST_IMAGES: MnistFile = MnistFile {
    name: "t10k-images-idx3-ubyte",
    gz_md5: "9fb629c4189551a2d022fa330f9573f3",
    raw_md5: "2646ac647ad5339dbf082846283269ea",
};
/// Test labels (10000).
pub const TEST_LABELS: MnistFile = MnistFile {
    name: "t10k-labels-idx1-ubyte",
    gz_md5: "ec29112dd5afa0611ce80d1b7f02629c",
    raw_md5: "27ae3e4e09519cfbb04c329615203637",
};
/// The four canonical files, in the order train images, train labels, test images, test labels.
pub const MNIST_FILES: [MnistFile; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

/// Lower-case hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the MD5 of a file's (decompressed) content against the canonical raw MD5.
fn check_content_md5(file: &MnistFile, path: &Path, content_md5: &str) -> Result<(), DatasetError> {
    if content_md5 == file.raw_md5 {
        return Ok(());
    }
    Err(DatasetError::ChecksumMismatch {
        path: path.to_path_buf(),
        expected: format!("{} (of the uncompressed content)", file.raw_md5),
        actual: content_md5.to_string(),
    })
}

/// Verifies one MNIST file on disk (raw or gzip) against the canonical checksums.
///
/// Used by [`crate::fetch_mnist`] to skip files already present, and usable to check a
/// directory without loading it.
pub fn verify_mnist_file(file: &MnistFile, path: &Path) -> Result<(), DatasetError> {
    let bytes = read_file(path)?;
    if is_gzip(&bytes) && md5_hex(&bytes) == file.gz_md5 {
        return Ok(());
    }
    let content = decompress_if_gzip(bytes, path)?;
    check_content_md5(file, path, &md5_hex(&content))
}

/// How [`Mnist::load_with`] treats the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Check the canonical MD5s (default `true`). Turn off for custom IDX data in the
    /// MNIST layout (same file names, 28x28 images, labels 0..=9).
    pub verify_md5: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { verify_md5: true }
    }
}

/// MNIST in memory: pixels as bytes (0..=255), labels as digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// Training images, `n_train * rows * cols` bytes, image after image, row-major.
    pub train_images: Vec<u8>,
    /// Training labels, one digit 0..=9 per image.
    pub train_labels: Vec<u8>,
    /// Test images, same layout as `train_images`.
    pub test_images: Vec<u8>,
    /// Test labels.
    pub test_labels: Vec<u8>,
    /// Image height (28).
    pub rows: usize,
    /// Image width (28).
    pub cols: usize,
}

/// Finds `dir/NAME.gz`, else `dir/NAME`; the error names both and how to get them.
pub fn locate_mnist_file(dir: &Path, file: &MnistFile) -> Result<PathBuf, DatasetError> {
    let gz = dir.join(file.gz_name());
    let raw = dir.join(file.name);
    if gz.is_file() {
        Ok(gz)
    } else if raw.is_file() {
        Ok(raw)
    } else {
        Err(DatasetError::NotFound { path: gz, hint: format!("(nor {} found); {GET_DATA_HINT}", file.name) })
    }
}

/// Picks the MNIST directory: the `--data-dir` flag if given, else `$MOREML_MNIST_DIR`.
///
/// Does not check that the directory exists: [`Mnist::load`] reports that with the path.
pub fn resolve_mnist_dir(flag: Option<&Path>) -> Result<PathBuf, DatasetError> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    match std::env::var_os(MNIST_DIR_ENV) {
        Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
        _ => Err(DatasetError::NoDataDir {
            hint: format!(
                "pass --data-dir DIR or set {MNIST_DIR_ENV}=DIR; to get the files run `moreml fetch mnist --dir DIR`"
            ),
        }),
    }
}

struct Split {
    images: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
}

/// Reads one file: returns its content (decompressed) after MD5 check (if asked) and IDX parse.
fn load_file(
    path: PathBuf,
    file: &MnistFile,
    ndims: usize,
    opts: &LoadOptions,
) -> Result<(PathBuf, crate::IdxArray), DatasetError> {
    let bytes = read_file(&path)?;
    let gz_ok = opts.verify_md5 && is_gzip(&bytes) && md5_hex(&bytes) == file.gz_md5;
    let content = decompress_if_gzip(bytes, &path)?;
    let content_md5 = (opts.verify_md5 && !gz_ok).then(|| md5_hex(&content));
    // Parse first: a truncated or foreign file gets the more specific error.
    let arr = parse_idx(content, &path)?;
    if arr.dims.len() != ndims {
        return Err(DatasetError::BadMagic {
            path,
            found: 0x0800 | arr.dims.len() as u32,
            expected: format!("0x0000080{ndims} (IDX{ndims} of unsigned bytes)"),
        });
    }
    if let Some(md5) = content_md5 {
        check_content_md5(file, &path, &md5)?;
    }
    Ok((path, arr))
}

fn load_split(
    (images, ipath): (&MnistFile, PathBuf),
    (labels, lpath): (&MnistFile, PathBuf),
    opts: &LoadOptions,
) -> Result<Split, DatasetError> {
    let (ipath, img) = load_file(ipath, images, 3, opts)?;
    let (lpath, lab) = load_file(lpath, labels, 1, opts)?;
    let (rows, cols) = (img.dims[1], img.dims[2]);
    if (rows, cols) != (MNIST_ROWS, MNIST_COLS) {
        return Err(DatasetError::BadImageSize {
            path: ipath,
            rows,
            cols,
            expected_rows: MNIST_ROWS,
            expected_cols: MNIST_COLS,
        });
    }
    if img.dims[0] != lab.dims[0] {
        return Err(DatasetError::CountMismatch {
            images_path: ipath,
            labels_path: lpath,
            images: img.dims[0],
            labels: lab.dims[0],
        });
    }
    if let Some((index, &value)) = lab.data.iter().enumerate().find(|(_, &l)| l as usize >= MNIST_CLASSES) {
        return Err(DatasetError::BadLabel { path: lpath, index, value, classes: MNIST_CLASSES });
    }
    Ok(Split { images: img.data, labels: lab.data, rows, cols })
}

impl Mnist {
    /// Loads the four canonical files from `dir`, verifying their MD5s.
    ///
    /// Each file may be `NAME.gz` or raw `NAME` (content decides, not the name).
    pub fn load(dir: &Path) -> Result<Mnist, DatasetError> {
        Self::load_with(dir, &LoadOptions::default())
    }

    /// Loads with explicit [`LoadOptions`] (e.g. without MD5 checks for custom data).
    ///
    /// The train and test splits are decoded on two threads.
    pub fn load_with(dir: &Path, opts: &LoadOptions) -> Result<Mnist, DatasetError> {
        if !dir.is_dir() {
            return Err(DatasetError::NotFound {
                path: dir.to_path_buf(),
                hint: format!("the MNIST directory does not exist; {GET_DATA_HINT}"),
            });
        }
        // Report a missing file before spending time on the others.
        let locate = |f| locate_mnist_file(dir, f).map(|p| (f, p));
        let (tr_i, tr_l) = (locate(&TRAIN_IMAGES)?, locate(&TRAIN_LABELS)?);
        let (te_i, te_l) = (locate(&TEST_IMAGES)?, locate(&TEST_LABELS)?);
        let (train, test) = std::thread::scope(|s| {
            let test = s.spawn(|| load_split(te_i, te_l, opts));
            let train = load_split(tr_i, tr_l, opts);
            // A panic in the worker would be a bug of ours; surface it as one.
            let test = test.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (train, test)
        });
        let (train, test) = (train?, test?);
        debug_assert_eq!((train.rows, train.cols), (test.rows, test.cols));
        Ok(Mnist {
            train_images: train.images,
            train_labels: train.labels,
            test_images: test.images,
            test_labels: test.labels,
            rows: train.rows,
            cols: train.cols,
        })
    }

    /// Pixels per image (`rows * cols`, 784).
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of training images.
    pub fn n_train(&self) -> usize {
        self.train_labels.len()
    }

    /// Number of test images.
    pub fn n_test(&self) -> usize {
        self.test_labels.len()
    }

    /// The first `n_train` training and first `n_test` test items (clamped to what
    /// there is), for quick experiments on encrypted data where every item costs.
    pub fn subset(&self, n_train: usize, n_test: usize) -> Mnist {
        let (a, b) = (n_train.min(self.n_train()), n_test.min(self.n_test()));
        let px = self.image_len();
        Mnist {
            train_images: self.train_images[..a * px].to_vec(),
            train_labels: self.train_labels[..a].to_vec(),
            test_images: self.test_images[..b * px].to_vec(),
            test_labels: self.test_labels[..b].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Training images scaled to `[0, 1]` (pixel / 255), as `f32` or `f64`.
    pub fn train_images_normalized<T: Float>(&self) -> Vec<T> {
        normalize_pixels(&self.train_images)
    }

    /// Test images scaled to `[0, 1]` (pixel / 255).
    pub fn test_images_normalized<T: Float>(&self) -> Vec<T> {
        normalize_pixels(&self.test_images)
    }

    /// Training labels one-hot encoded, `n_train * 10`, row-major.
    pub fn train_one_hot<T: Float>(&self) -> Vec<T> {
        one_hot(&self.train_labels, MNIST_CLASSES)
    }

    /// Test labels one-hot encoded, `n_test * 10`.
    pub fn test_one_hot<T: Float>(&self) -> Vec<T> {
        one_hot(&self.test_labels, MNIST_CLASSES)
    }
}

/// Scales bytes to `[0, 1]` (`p / 255`, computed in `T`), e.g. `normalize_pixels::<f32>`.
pub fn normalize_pixels<T: Float>(pixels: &[u8]) -> Vec<T> {
    // 256-entry table: exact per-type division once, then a lookup per pixel.
    let denom = T::from(255u8).unwrap_or_else(T::one);
    let lut: Vec<T> = (0..=255u8).map(|p| T::from(p).unwrap_or_else(T::zero) / denom).collect();
    pixels.iter().map(|&p| lut[p as usize]).collect()
}

/// One-hot encodes `labels` into `labels.len() * classes` values, row-major.
///
/// A label `>= classes` yields an all-zero row (loaded MNIST labels are checked to be `< 10`).
pub fn one_hot<T: Float>(labels: &[u8], classes: usize) -> Vec<T> {
    let mut out = vec![T::zero(); labels.len() * classes];
    for (row, &l) in out.chunks_exact_mut(classes.max(1)).zip(labels) {
        if let Some(x) = row.get_mut(l as usize) {
            *x = T::one();
        }
    }
    out
}

/// Seven-segment masks of the digits 0-9 (segments a b c d e f g).
const SEGMENTS: [u8; 10] = [0x3F, 0x06, 0x5B, 0x4F, 0x66, 0x6D, 0x7D, 0x07, 0x7F, 0x6F];

impl Mnist {
    /// A built-in, labelled, MNIST-shaped data set that needs no download: seven-segment digits
    /// 0-9 drawn as thick strokes with random size, position, slant and stroke width, on the
    /// 1/255 grid with mostly-zero background like MNIST. Deterministic for a seed.
    ///
    /// For demos and tests only; the paper's experiment uses the real MNIST files.
    ///
    /// ```
    /// let d = moreml_datasets::Mnist::synthetic(100, 20, 7);
    /// assert_eq!((d.n_train(), d.n_test()), (100, 20));
    /// assert!(d.train_labels.iter().all(|&l| l < 10));
    /// ```
    pub fn synthetic(n_train: usize, n_test: usize, seed: u64) -> Mnist {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut uniform = move || {
            // xorshift64*: plenty for drawing shapes.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut make = |n: usize| {
            let mut images = vec![0u8; n * MNIST_ROWS * MNIST_COLS];
            let mut labels = vec![0u8; n];
            for (i, img) in images.chunks_exact_mut(MNIST_ROWS * MNIST_COLS).enumerate() {
                let digit = (uniform() * 10.0) as usize % 10;
                labels[i] = digit as u8;
                let (w, h) = (8.0 + 5.0 * uniform(), 14.0 + 6.0 * uniform());
                let (x0, y0) = (14.0 - w / 2.0 + 4.0 * (uniform() - 0.5), 14.0 - h / 2.0 + 4.0 * (uniform() - 0.5));
                let slant = 0.35 * (uniform() - 0.5);
                let thick = 1.2 + 1.6 * uniform();
                // Segment end points in a unit box (x right, y down), then placed.
                let ends: [((f64, f64), (f64, f64)); 7] = [
                    ((0.0, 0.0), (1.0, 0.0)),
                    ((1.0, 0.0), (1.0, 0.5)),
                    ((1.0, 0.5), (1.0, 1.0)),
                    ((0.0, 1.0), (1.0, 1.0)),
                    ((0.0, 0.5), (0.0, 1.0)),
                    ((0.0, 0.0), (0.0, 0.5)),
                    ((0.0, 0.5), (1.0, 0.5)),
                ];
                let place = |(u, v): (f64, f64)| (x0 + u * w + slant * (0.5 - v) * h, y0 + v * h);
                for (s, &(p, q)) in ends.iter().enumerate() {
                    if SEGMENTS[digit] & (1 << s) == 0 {
                        continue;
                    }
                    let (a, b) = (place(p), place(q));
                    for (k, px) in img.iter_mut().enumerate() {
                        let (x, y) = ((k % MNIST_COLS) as f64, (k / MNIST_COLS) as f64);
                        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
                        let t = (((x - a.0) * dx + (y - a.1) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
                        let d = ((x - a.0 - t * dx).powi(2) + (y - a.1 - t * dy).powi(2)).sqrt();
                        let v = (1.0 - (d - thick / 2.0)).clamp(0.0, 1.0);
                        *px = (*px).max((v * 255.0).round() as u8);
                    }
                }
            }
            (images, labels)
        };
        let (train_images, train_labels) = make(n_train);
        let (test_images, test_labels) = make(n_test);
        Mnist { train_images, train_labels, test_images, test_labels, rows: MNIST_ROWS, cols: MNIST_COLS }
    }
}
