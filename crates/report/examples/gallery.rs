//! Writes one figure of each kind into a directory (default `target/report-gallery`)
//! so they can be looked at: `cargo run -p moreml-report --example gallery -- DIR`.

use moreml_report::*;

fn main() -> Result<(), ReportError> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "target/report-gallery".into());
    std::fs::create_dir_all(&dir).expect("create output dir");
    let dir = std::path::Path::new(&dir);

    // Training curves: plaintext vs encrypted, loss and accuracy.
    let epochs: Vec<f64> = (1..=10).map(f64::from).collect();
    let loss = |s: f64| epochs.iter().map(|e| 2.3 * (-0.45 * e * s).exp() + 0.08).collect::<Vec<_>>();
    let acc = |s: f64| epochs.iter().map(|e| 0.98 - 0.85 * (-0.6 * e * s).exp()).collect::<Vec<_>>();
    let mut enc_loss = loss(0.95);
    enc_loss[6] = f64::NAN;
    let p = [
        Panel::new(
            CurveSpec::new("Training loss", "epoch", "cross-entropy"),
            vec![
                Series::new("plaintext", epochs.clone(), loss(1.0)),
                Series::new("MORE-encrypted", epochs.clone(), enc_loss),
            ],
        ),
        Panel::new(
            CurveSpec::new("Test accuracy", "epoch", "accuracy").with_y_range(0.0, 1.0),
            vec![
                Series::new("plaintext", epochs.clone(), acc(1.0)),
                Series::new("MORE-encrypted", epochs.clone(), acc(0.95)),
            ],
        ),
    ];
    println!("{:?}", panels(dir.join("panels.png"), "MNIST MLP: plaintext vs MORE-encrypted training", &p)?);
    let steps: Vec<f64> = (0..500).map(|i| i as f64 * 10.0).collect();
    let noisy: Vec<f64> = steps.iter().map(|s| 2.0 * (-s / 1500.0).exp() + 0.1 * ((s * 0.37).sin()).abs()).collect();
    println!(
        "{:?}",
        training_curves(
            dir.join("curve.png"),
            &CurveSpec::new("Loss per step", "step", "loss"),
            &[Series::new("encrypted run, batch 64, lr 0.05 (a long legend entry)", steps.clone(), noisy)],
        )?
    );

    // Confusion matrix.
    let names: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let counts: Vec<Vec<u64>> = (0..10)
        .map(|i| {
            (0..10)
                .map(|j| if i == j { 950 + (i as u64 * 7) % 40 } else { ((i * 3 + j * 7) % 11) as u64 / 3 })
                .collect()
        })
        .collect();
    println!("{:?}", confusion_matrix(dir.join("confusion.png"), "MNIST test set (encrypted model)", &counts, &names)?);
    let long: Vec<String> =
        ["cardiomegaly", "effusion", "no finding", "pneumonia"].iter().map(|s| s.to_string()).collect();
    let c4 = vec![vec![120, 10, 5, 0], vec![8, 300, 40, 2], vec![3, 22, 1500, 11], vec![0, 4, 9, 77]];
    println!("{:?}", confusion_matrix(dir.join("confusion4.png"), "Chest X-ray", &c4, &long)?);

    // Image grid: digits and "what the server sees".
    let digit = |k: usize| {
        let mut px = vec![0.0; 28 * 28];
        for t in 0..200 {
            let a = t as f64 / 200.0 * std::f64::consts::TAU;
            let (x, y) = (14.0 + (6.0 + k as f64) * a.cos(), 14.0 + 9.0 * a.sin());
            px[(y as usize).min(27) * 28 + (x as usize).min(27)] = 1.0;
        }
        GrayImage::new(28, 28, px).with_range(0.0, 1.0).with_caption(format!("label {k}"))
    };
    let cipher = |k: usize| {
        let px = (0..28 * 28).map(|i| (((i * 2654435761usize + k * 97) % 65521) as f64) - 32760.0).collect();
        GrayImage::new(28, 28, px).with_caption(format!("plane {k}"))
    };
    let mut nan_img = cipher(9);
    nan_img.pixels[100..140].iter_mut().for_each(|v| *v = f64::NAN);
    let rows = [
        ImageRow::new("Hospital: plaintext digits", (0..5).map(digit).collect()),
        ImageRow::new(
            "What the server sees (ciphertext plane 0 of each image)",
            (0..4).map(cipher).chain([nan_img]).collect(),
        ),
        ImageRow::new("Bigger 56x56", vec![GrayImage::new(56, 56, (0..56 * 56).map(|i| (i % 56) as f64).collect())]),
    ];
    println!("{:?}", image_grid(dir.join("images.png"), "MNIST digits and their MORE ciphertexts", &rows)?);

    // Scatter: decrypted vs plaintext outputs.
    let xs: Vec<f64> = (0..400).map(|i| ((i * 37) % 200) as f64 / 20.0 - 5.0).collect();
    let ys: Vec<f64> = xs.iter().enumerate().map(|(i, x)| x + 1e-3 * ((i as f64).sin())).collect();
    let zs: Vec<f64> = xs.iter().enumerate().map(|(i, x)| 0.8 * x + 0.5 * ((i as f64 * 1.3).cos())).collect();
    println!(
        "{:?}",
        scatter(
            dir.join("scatter.png"),
            &CurveSpec::new("Encrypted vs plaintext logits", "plaintext logit", "decrypted logit"),
            &[Series::new("decrypted", xs.clone(), ys), Series::new("surrogate", xs, zs)],
        )?
    );
    Ok(())
}
