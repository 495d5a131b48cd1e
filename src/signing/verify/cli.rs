//! `docflow pdf verify FILE [--trust ROOTS.pem] [--json]`.

use super::{load_trust_roots, verify_pdf_file, SignatureReport, VerifyReport};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `docflow pdf verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The PDF to verify.
    pub file: PathBuf,
    /// PEM file with the trusted root certificates (may hold several).
    #[arg(long, value_name = "ROOTS.pem")]
    pub trust: Option<PathBuf>,
    /// Print the full report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command. Exit 0 only when every signature is intact, valid and trusted;
/// 1 when some signature is not (or there is none); 2 when the file cannot be read.
pub fn run_verify(args: VerifyArgs) -> ExitCode {
    let trust = match &args.trust {
        Some(p) => match load_trust_roots(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error [{}]: {e}", e.code());
                return ExitCode::from(2);
            }
        },
        None => Vec::new(),
    };
    let report = match verify_pdf_file(&args.file, &trust) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            return ExitCode::from(2);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot print the report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", table(&report, args.trust.is_some()));
    }
    if report.all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}

fn serde_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn one(s: &SignatureReport, n: usize) -> String {
    let mut out = format!("#{n} {} ({})\n", s.field, serde_name(&s.kind));
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<18} {v}\n"));
    line("status", serde_name(&s.status).to_uppercase());
    if let Some(signer) = &s.signer {
        line(
            "signer",
            format!(
                "{} [{}]",
                signer.common_name.clone().unwrap_or_default(),
                signer.subject
            ),
        );
    }
    line(
        "claimed time",
        s.claimed_time.clone().unwrap_or_else(|| "-".into()),
    );
    if let Some(t) = &s.timestamp {
        line(
            "timestamp",
            format!(
                "{} (imprint {}, signature {}, TSA trusted {})",
                t.time.clone().unwrap_or_else(|| "?".into()),
                yes(t.imprint_ok),
                yes(t.signature_ok),
                yes(t.trusted)
            ),
        );
    }
    line(
        "integrity",
        format!(
            "byte range {}, digest {}, signature {}, signing cert {}",
            yes(s.integrity.byte_range_ok),
            yes(s.integrity.digest_ok),
            yes(s.integrity.signature_ok),
            serde_name(&s.integrity.signing_certificate)
        ),
    );
    line("trusted", yes(s.trusted).to_string());
    line(
        "revocation info",
        if s.revocation.present {
            format!(
                "present (DSS OCSP {}, CRL {}, VRI {}, adbe archival {}); signer: {}",
                s.revocation.dss_ocsps,
                s.revocation.dss_crls,
                yes(s.revocation.vri),
                yes(s.revocation.adbe_archival),
                serde_name(&s.revocation.signer)
            )
        } else {
            "none".into()
        },
    );
    let coverage = match s.signed_revision {
        Some(r) => format!("{} (revision {r})", serde_name(&s.coverage)),
        None => serde_name(&s.coverage),
    };
    line("coverage", coverage);
    line("changed after", serde_name(&s.changes_after));
    if let Some(l) = &s.pades_level {
        line("PAdES level", serde_name(l));
    }
    if s.kind == super::SignatureKind::Signature {
        line(
            "long-term data",
            if s.revocation.long_term {
                "complete (validates without fetching)".into()
            } else {
                "incomplete".to_string()
            },
        );
        for g in &s.revocation.long_term_gaps {
            line("long-term gap", g.clone());
        }
    }
    for p in s.problems.iter().chain(s.change_details.iter()) {
        line("problem", p.clone());
    }
    out
}

/// The human-readable report.
pub fn table(report: &VerifyReport, had_trust: bool) -> String {
    let mut out = format!(
        "{} bytes, {} revision(s), {} signature(s)\n",
        report.size,
        report.revisions,
        report.signatures.len()
    );
    if !had_trust {
        out.push_str("no --trust roots given: no signature can be trusted\n");
    }
    for (i, s) in report.signatures.iter().enumerate() {
        out.push_str(&one(s, i + 1));
    }
    out.push_str(if report.all_valid {
        "RESULT: all signatures valid\n"
    } else if report.signatures.is_empty() {
        "RESULT: no signatures\n"
    } else {
        "RESULT: NOT all signatures valid\n"
    });
    out
}
