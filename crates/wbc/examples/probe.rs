//! Prints the outputs of one patient (`cargo run -p moreml-wbc --example probe -- '{"r_sys":1.2}'`).
fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "{}".into());
    let p = moreml_wbc::Params::from_json(&arg).expect("params");
    let t = std::time::Instant::now();
    let cold = moreml_wbc::warm_start(&moreml_wbc::Params::default());
    let s = moreml_wbc::simulate_from(&p, &Default::default(), &cold, false).expect("simulate");
    println!("{:#?}\nbeats {} drift {:e} grad {} {:?}", s.outputs, s.beats, s.volume_drift, s.peak_lv_aortic_gradient_mmhg, t.elapsed());
}
