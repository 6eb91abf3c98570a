//! Each figure kind is written into a tempdir and decoded back; bad input
//! must give a `ReportError` (never a panic) and leave no file behind.

use std::path::Path;

use moreml_report::*;

/// Decodes the PNG at `path` and returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).expect("png exists");
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("valid png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("valid png data");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    // Not blank: some pixels are not white.
    assert!(buf.iter().any(|&b| b < 200), "image is blank");
    (info.width, info.height)
}

fn only_png_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn spec() -> CurveSpec {
    CurveSpec::new("Loss", "epoch", "loss")
}

#[test]
fn training_curves_writes_png_of_panel_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("curves.png");
    let s = [
        Series::from_y("plaintext", vec![2.0, 1.0, 0.5, 0.4]),
        Series::new("encrypted", vec![1.0, 2.0, 3.0, 4.0], vec![2.1, f64::NAN, 0.6, 0.41]),
    ];
    let size = training_curves(&path, &spec(), &s).unwrap();
    assert_eq!(size, PANEL_SIZE);
    assert_eq!(png_size(&path), PANEL_SIZE);
    // Atomic write leaves no temporary file behind.
    assert_eq!(only_png_in(dir.path()), vec!["curves.png"]);
    // Overwriting an existing figure works.
    training_curves(&path, &spec(), &s[..1]).unwrap();
    assert_eq!(png_size(&path), PANEL_SIZE);
}

#[test]
fn panels_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panels.png");
    let p = [
        Panel::new(spec(), vec![Series::from_y("a", vec![1.0, 0.5])]),
        Panel::new(
            CurveSpec::new("Accuracy", "epoch", "acc").with_y_range(0.0, 1.0),
            vec![Series::from_y("a", vec![0.5, 0.9])],
        ),
        Panel::new(CurveSpec::default(), vec![Series::from_y("constant", vec![3.0])]),
    ];
    let size = panels(&path, "Overall", &p).unwrap();
    assert_eq!(size, (3 * PANEL_SIZE.0, PANEL_SIZE.1 + PANEL_TITLE_HEIGHT));
    assert_eq!(png_size(&path), size);
    let size = panels(&path, "", &p[..1]).unwrap();
    assert_eq!(png_size(&path), (PANEL_SIZE.0, PANEL_SIZE.1));
    assert_eq!(size, PANEL_SIZE);
}

#[test]
fn confusion_matrix_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cm.png");
    let counts = vec![vec![5, 1, 0], vec![0, 7, 2], vec![1, 0, 9]];
    let names: Vec<String> = ["cat", "dog", "a rather long class name"].map(String::from).to_vec();
    let size = confusion_matrix(&path, "Test", &counts, &names).unwrap();
    assert_eq!(png_size(&path), size);
    // Default names, all-zero matrix.
    let size = confusion_matrix(&path, "", &[vec![0, 0], vec![0, 0]], &[]).unwrap();
    assert_eq!(png_size(&path), size);
}

#[test]
fn image_grid_scales_images() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.png");
    let digit = GrayImage::new(28, 28, (0..784).map(|i| (i % 28) as f64 / 27.0).collect())
        .with_range(0.0, 1.0)
        .with_caption("label 3");
    let mut cipher = GrayImage::new(28, 28, (0..784).map(|i| (i * 7919 % 65521) as f64).collect());
    cipher.pixels[5] = f64::NAN;
    let constant = GrayImage::new(2, 3, vec![1.0; 6]);
    let rows = [
        ImageRow::new("plaintext", vec![digit.clone(), digit]),
        ImageRow::new("what the server sees", vec![cipher, constant]),
        ImageRow::new("empty row", vec![]),
    ];
    let (w, h) = image_grid(&path, "Digits", &rows).unwrap();
    assert_eq!(png_size(&path), (w, h));
    // Two 28x28 images at 4x plus caption column and margins.
    assert!(w >= 2 * 112 && h >= 2 * 112, "{w}x{h}");
}

#[test]
fn scatter_is_square_plot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scatter.png");
    let x: Vec<f64> = (0..100).map(|i| i as f64 / 10.0).collect();
    let y: Vec<f64> = x.iter().map(|v| v * 1.01).collect();
    let s = [Series::new("decrypted", x, y), Series::new("bad", vec![f64::NAN], vec![1.0])];
    assert_eq!(scatter(&path, &CurveSpec::new("t", "plain", "dec"), &s).unwrap(), SCATTER_SIZE);
    assert_eq!(png_size(&path), SCATTER_SIZE);
}

#[test]
fn bad_input_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    let check = |r: Result<(u32, u32), ReportError>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.path(), path, "{what}");
        assert!(e.to_string().contains("bad.png"), "{what}: {e}");
        e
    };
    // Curves and scatter.
    type Plot = fn(&Path, &CurveSpec, &[Series]) -> Result<(u32, u32), ReportError>;
    let plots: [Plot; 2] = [|p, c, s| training_curves(p, c, s), |p, c, s| scatter(p, c, s)];
    for f in plots {
        let f = |p: &Path, c: &CurveSpec, s: &[Series]| f(p, c, s);
        let e = check(f(path.as_path(), &spec(), &[]), "no series");
        assert!(matches!(e, ReportError::NoData { .. }));
        let e = check(f(path.as_path(), &spec(), &[Series::new("e", vec![], vec![])]), "empty series");
        assert!(matches!(e, ReportError::NoData { .. }));
        let e = check(f(path.as_path(), &spec(), &[Series::new("m", vec![1.0, 2.0], vec![1.0])]), "mismatch");
        assert!(matches!(e, ReportError::LengthMismatch { x_len: 2, y_len: 1, .. }), "{e}");
        let nan = Series::new("n", vec![f64::NAN, 1.0], vec![1.0, f64::INFINITY]);
        let e = check(f(path.as_path(), &spec(), &[nan]), "all NaN");
        assert!(matches!(e, ReportError::NoData { .. }));
        let huge = Series::new("h", vec![0.0, 1.0], vec![-f64::MAX, f64::MAX]);
        let e = check(f(path.as_path(), &spec(), &[huge]), "range overflow");
        assert!(matches!(e, ReportError::InvalidInput { .. }), "{e}");
    }
    check(panels(&path, "t", &[]), "no panels");
    check(panels(&path, "t", &[Panel::new(spec(), vec![])]), "empty panel");

    // Confusion matrix.
    let e = check(confusion_matrix(&path, "t", &[], &[]), "empty matrix");
    assert!(matches!(e, ReportError::NoData { .. }));
    let e = check(confusion_matrix(&path, "t", &[vec![1, 2], vec![3]], &[]), "not square");
    assert!(matches!(e, ReportError::NotSquare { row: 1, len: 1, n: 2, .. }));
    let e = check(confusion_matrix(&path, "t", &[vec![1, 2, 3]], &[]), "not square 1x3");
    assert!(matches!(e, ReportError::NotSquare { .. }));
    let e = check(confusion_matrix(&path, "t", &[vec![1]], &["a".into(), "b".into()]), "names");
    assert!(matches!(e, ReportError::ClassNames { n: 1, names: 2, .. }));

    // Image grid.
    let e = check(image_grid(&path, "t", &[]), "no rows");
    assert!(matches!(e, ReportError::NoData { .. }));
    let row = |img: GrayImage| [ImageRow::new("r", vec![img])];
    let e = check(image_grid(&path, "t", &row(GrayImage::new(28, 28, vec![0.0; 783]))), "pixels");
    assert!(matches!(e, ReportError::PixelCount { expected: 784, actual: 783, .. }));
    let e = check(image_grid(&path, "t", &row(GrayImage::new(0, 5, vec![]))), "zero size");
    assert!(matches!(e, ReportError::InvalidInput { .. }));
    let img = GrayImage::new(1, 1, vec![0.0]).with_range(1.0, 1.0);
    let e = check(image_grid(&path, "t", &row(img)), "bad range");
    assert!(matches!(e, ReportError::InvalidInput { .. }));
    let img = GrayImage::new(usize::MAX, 2, vec![0.0]);
    let e = check(image_grid(&path, "t", &row(img)), "overflowing size");
    assert!(matches!(e, ReportError::PixelCount { .. }));

    assert!(only_png_in(dir.path()).is_empty(), "no file may be left behind");
}

#[test]
fn unwritable_path_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = [Series::from_y("a", vec![1.0, 2.0])];
    // Missing directory.
    let missing = dir.path().join("no/such/dir/fig.png");
    let e = training_curves(&missing, &spec(), &s).unwrap_err();
    assert!(matches!(e, ReportError::Io { .. }), "{e}");
    assert_eq!(e.path(), missing);
    // The target is an existing directory.
    let e = training_curves(dir.path(), &spec(), &s).unwrap_err();
    assert!(matches!(e, ReportError::Io { .. }), "{e}");
    // A regular file used as a directory.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let e =
        image_grid(file.join("x.png"), "", &[ImageRow::new("", vec![GrayImage::new(1, 1, vec![0.0])])]).unwrap_err();
    assert!(matches!(e, ReportError::Io { .. }), "{e}");
    assert!(e.to_string().contains("x.png"), "{e}");
}
