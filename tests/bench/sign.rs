//! Signing speed: 1 MB and 50 MB PAdES B-B with RSA-2048, against hashing the 50 MB file once, and
//! pyHanko signing the same 1 MB file in process, measured in the same run.
//!
//! `cargo bench --bench sign` (pyHanko from `$DOCFLOW_VENV` or `.venv`, which `cargo test` makes).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[path = "../fixtures/pdfgen.rs"]
mod pdfgen;

use criterion::{criterion_group, BatchSize, Criterion};
use docflow::signing::{sign_bytes, sign_pdf, sign_pdf_in_place, sign_vec, SignOptions, Signer};
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder};

struct Fixture {
    dir: tempfile::TempDir,
    key: PathBuf,
    cert: PathBuf,
    signer: Signer,
}

/// A self-signed RSA-2048 signer.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pkey = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "Bench Signer").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&pkey).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&pkey, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let key = dir.path().join("key.pem");
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&key, pkey.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    let signer = Signer::from_pem_files(&key, &cert_path, None, None).unwrap();
    Fixture {
        dir,
        key,
        cert: cert_path,
        signer,
    }
}

fn hash_file(path: &Path) -> [u8; 32] {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = openssl::sha::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return h.finish();
        }
        h.update(&buf[..n]);
    }
}

fn benches(c: &mut Criterion) {
    let fx = fixture();
    let opts = SignOptions::default();
    let one = fx.dir.path().join("1mb.pdf");
    let fifty = fx.dir.path().join("50mb.pdf");
    pdfgen::sized(&one, 1);
    pdfgen::sized(&fifty, 50);
    let out = fx.dir.path().join("out.pdf");
    let one_bytes = std::fs::read(&one).unwrap();

    let mut g = c.benchmark_group("1MB");
    g.bench_function("docflow sign_pdf (file to file, B-B RSA-2048)", |b| {
        b.iter(|| sign_pdf(&one, &out, &fx.signer, &opts).unwrap())
    });
    g.bench_function("docflow sign_bytes (in memory)", |b| {
        b.iter(|| sign_bytes(&one_bytes, &fx.signer, &opts).unwrap())
    });
    g.bench_function("sha256 of the file (floor)", |b| b.iter(|| hash_file(&one)));
    g.finish();

    let mut g = c.benchmark_group("50MB");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("docflow sign_pdf (file to file)", |b| {
        b.iter(|| sign_pdf(&fifty, &out, &fx.signer, &opts).unwrap())
    });
    // Deleting the previous 50 MB output is not part of signing: done outside the timing.
    g.bench_function("docflow sign_pdf (file to file, fresh output path)", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(&out);
            },
            |_| sign_pdf(&fifty, &out, &fx.signer, &opts).unwrap(),
            BatchSize::PerIteration,
        )
    });
    let fifty_len_u64 = std::fs::metadata(&fifty).unwrap().len();
    g.bench_function(
        "docflow sign_pdf_in_place (update appended to the file)",
        |b| {
            b.iter_batched(
                || {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&fifty)
                        .unwrap();
                    f.set_len(fifty_len_u64).unwrap();
                },
                |_| sign_pdf_in_place(&fifty, &fx.signer, &opts).unwrap(),
                BatchSize::PerIteration,
            )
        },
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifty)
        .unwrap()
        .set_len(fifty_len_u64)
        .unwrap();
    let mut fifty_bytes = std::fs::read(&fifty).unwrap();
    let fifty_len = fifty_bytes.len();
    g.bench_function("docflow sign_vec (in memory, update appended)", |b| {
        b.iter(|| {
            fifty_bytes.truncate(fifty_len);
            sign_vec(&mut fifty_bytes, &fx.signer, &opts).unwrap()
        })
    });
    drop(fifty_bytes);
    g.bench_function("sha256 of the file once", |b| b.iter(|| hash_file(&fifty)));
    g.finish();

    pyhanko_side_by_side(&fx, &one);
}

const PYHANKO_BENCH: &str = r#"
import io, statistics, sys, time
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
key, cert, pdf, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
signer = signers.SimpleSigner.load(key, cert)
data = open(pdf, "rb").read()
meta = signers.PdfSignatureMetadata(field_name="Sig", subfilter=SigSeedSubFilter.PADES)
times = []
for _ in range(runs):
    t = time.perf_counter()
    out = io.BytesIO()
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), meta, signer=signer, output=out)
    times.append(time.perf_counter() - t)
print(f"{statistics.median(times) * 1000:.1f}")
"#;

/// pyHanko in process on the same 1 MB file, printed beside criterion's figures.
fn pyhanko_side_by_side(fx: &Fixture, pdf: &Path) {
    let venv = std::env::var_os("DOCFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    let python = venv.join("bin/python");
    let out = Command::new(&python)
        .arg("-c")
        .arg(PYHANKO_BENCH)
        .arg(&fx.key)
        .arg(&fx.cert)
        .arg(pdf)
        .arg("20")
        .output();
    match out {
        Ok(o) if o.status.success() => println!(
            "1MB/pyHanko in-process sign_pdf (B-B RSA-2048), median of 20: {} ms",
            String::from_utf8_lossy(&o.stdout).trim()
        ),
        Ok(o) => panic!(
            "pyHanko benchmark failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("pyHanko benchmark needs {}: {e}", python.display()),
    }
}

criterion_group!(sign, benches);

fn main() {
    sign();
    Criterion::default().configure_from_args().final_summary();
}
