//! Long-term validation speed: B-LT extension of a 1 MB B-T-signed file (the DSS with OCSP and
//! CRL answers fetched from certomancer on loopback) beside B-T signing of the same file (with
//! the same TSA), measured in the same run. The goal: the extension takes at most 3× the B-T
//! signing.
//!
//! `cargo bench --bench ltv` (certomancer from the tests' venv, `$DOCFLOW_VENV` or `.venv`).

#[allow(unused_macros)]
#[path = "../common/mod.rs"]
mod common;
#[path = "../fixtures/pdfgen.rs"]
mod pdfgen;

use common::certomancer::Certomancer;
use criterion::{criterion_group, Criterion};
use docflow::signing::ltv::{extend_vec, ExtendOptions, Level};
use docflow::signing::{sign_vec, SignOptions, Signer, TsaConfig};
use std::time::{Duration, Instant};

fn signer(cm: &Certomancer) -> Signer {
    let dir = cm.dir.path();
    let chain = dir.join("chain.pem");
    let mut pem = std::fs::read(dir.join("pki-out/interm.cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("pki-out/root.cert.pem")).unwrap());
    std::fs::write(&chain, pem).unwrap();
    Signer::from_pem_files(
        &dir.join("keys/signer.key.pem"),
        &dir.join("pki-out/signer.cert.pem"),
        Some(chain.as_path()),
        None,
    )
    .unwrap()
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn benches(c: &mut Criterion) {
    let cm = Certomancer::start();
    let signer = signer(&cm);
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("1mb.pdf");
    pdfgen::sized(&one, 1);
    let input = std::fs::read(&one).unwrap();
    let opts = SignOptions {
        tsa: Some(TsaConfig::new(cm.tsa_url())),
        ..Default::default()
    };
    let mut bt = input.clone();
    sign_vec(&mut bt, &signer, &opts).unwrap();
    let lt = ExtendOptions::new(Level::BLT, None);

    let mut g = c.benchmark_group("1MB");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    g.bench_function("B-T sign (sign_vec, RSA-2048, TSA on loopback)", |b| {
        b.iter(|| {
            let mut doc = input.clone();
            sign_vec(&mut doc, &signer, &opts).unwrap()
        })
    });
    g.bench_function("B-LT extension of the B-T file (extend_vec)", |b| {
        b.iter(|| {
            let mut doc = bt.clone();
            extend_vec(&mut doc, &lt).unwrap()
        })
    });
    g.finish();

    // Side by side, alternating, so both see the same machine load: the ratio of the goal.
    let (mut t_sign, mut t_extend) = (Vec::new(), Vec::new());
    for _ in 0..40 {
        let mut doc = input.clone();
        let t = Instant::now();
        sign_vec(&mut doc, &signer, &opts).unwrap();
        t_sign.push(t.elapsed());
        let mut doc = bt.clone();
        let t = Instant::now();
        extend_vec(&mut doc, &lt).unwrap();
        t_extend.push(t.elapsed());
    }
    let (s, e) = (median(t_sign), median(t_extend));
    println!(
        "1MB side by side, median of 40 alternating runs: B-T sign {s:.1} ms, B-LT extension \
         {e:.1} ms, ratio {:.2} (goal <= 3)",
        e / s
    );
}

criterion_group!(ltv, benches);

fn main() {
    ltv();
    Criterion::default().configure_from_args().final_summary();
}
