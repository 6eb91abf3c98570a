//! Quick throughput probe: `cargo run -p moreml-wbc --release --example throughput -- N [extrapolate 0/1]`.
fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(2000);
    let ex = std::env::args().nth(2).map(|s| s != "0").unwrap_or(true);
    let space = moreml_wbc::ParamSpace::default();
    let pts = space.sample(n, 1, moreml_wbc::Sampler::Lhs).unwrap();
    let settings = moreml_wbc::Settings { accelerate: ex, ..Default::default() };
    let _ = moreml_wbc::warm_start(&pts[0]);
    let t = std::time::Instant::now();
    let b = moreml_wbc::simulate_batch(&pts, &space.names(), &settings, &|_| {}).unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!("{} ok, {} failed, {:.0} sims/s, mean beats {:.1}", b.rows(), b.failures.len(), n as f64 / dt, b.beats as f64 / b.rows() as f64);
    for f in b.failures.iter().take(5) { println!("{:?}", f); }
}
