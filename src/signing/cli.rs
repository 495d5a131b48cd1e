//! `docflow pdf sign`: the command-line face of [`super::sign_pdf`].

use std::path::PathBuf;
use std::process::ExitCode;

use super::options::{SignOptions, Visible};
use super::tsa::TsaConfig;
use super::{sign_pdf, Signer, SigningError};

/// Arguments of `docflow pdf sign`.
#[derive(clap::Args, Debug, Clone)]
pub struct SignArgs {
    /// PDF to sign.
    pub input: PathBuf,
    /// Where to write the signed PDF (may equal INPUT).
    pub output: PathBuf,
    /// Private key, PEM (PKCS#8 or traditional; encrypted keys take the password from --pass-env).
    #[arg(long, requires = "cert", conflicts_with = "p12")]
    pub key: Option<PathBuf>,
    /// Signer certificate, PEM.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Further certificates to embed (intermediates), PEM.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// Key and certificates from a PKCS#12 file instead of --key/--cert.
    #[arg(long)]
    pub p12: Option<PathBuf>,
    /// Name of the environment variable holding the PKCS#12 or key password.
    #[arg(long)]
    pub pass_env: Option<String>,
    /// RFC 3161 timestamp authority URL (PAdES B-T); signing fails if it fails.
    #[arg(long)]
    pub tsa: Option<String>,
    /// Signature field: an existing empty one, or the name of a new one.
    #[arg(long)]
    pub field: Option<String>,
    /// Page of a visible signature, from 1 (needs --rect).
    #[arg(long, requires = "rect")]
    pub page: Option<u32>,
    /// Rectangle of a visible signature: x1,y1,x2,y2 in points.
    #[arg(long)]
    pub rect: Option<String>,
    /// Signer name.
    #[arg(long)]
    pub name: Option<String>,
    /// Signer position (shown in the stamp).
    #[arg(long)]
    pub position: Option<String>,
    /// Reason for signing.
    #[arg(long)]
    pub reason: Option<String>,
    /// Location or organisation.
    #[arg(long)]
    pub location: Option<String>,
    /// PNG image of the handwritten signature for the stamp.
    #[arg(long, requires = "rect")]
    pub image: Option<PathBuf>,
    /// Certify the document (DocMDP P=2); only as its first signature.
    #[arg(long)]
    pub certify: bool,
}

/// Runs the command; prints one line, and on failure `error [code]: message` on stderr.
pub fn run_sign(args: SignArgs) -> ExitCode {
    match sign(args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            ExitCode::from(1)
        }
    }
}

fn sign(a: SignArgs) -> Result<String, SigningError> {
    let password = match &a.pass_env {
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| SigningError::Key(format!("environment variable {var} is not set")))?,
        ),
        None => None,
    };
    let signer = match (&a.p12, &a.key, &a.cert) {
        (Some(p12), None, _) => Signer::from_pkcs12_file(p12, password.as_deref().unwrap_or(""))?,
        (None, Some(key), Some(cert)) => Signer::from_pem_files(
            key,
            cert,
            a.chain.as_deref(),
            password.as_deref().map(str::as_bytes),
        )?,
        _ => {
            return Err(SigningError::Options(
                "give --key and --cert, or --p12".into(),
            ))
        }
    };
    let visible = match &a.rect {
        Some(r) => {
            let nums: Vec<f64> = r
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| SigningError::Options(format!("bad --rect `{r}`")))?;
            let rect: [f64; 4] = nums
                .try_into()
                .map_err(|_| SigningError::Options("--rect needs x1,y1,x2,y2".into()))?;
            let image = match &a.image {
                Some(p) => Some(std::fs::read(p).map_err(|e| {
                    SigningError::Options(format!("cannot read {}: {e}", p.display()))
                })?),
                None => None,
            };
            Some(Visible {
                page: a.page.unwrap_or(1),
                rect,
                image,
                ..Visible::default()
            })
        }
        None => None,
    };
    let opts = SignOptions {
        field: a.field,
        visible,
        name: a.name,
        position: a.position,
        reason: a.reason,
        location: a.location,
        contact_info: None,
        certify: a.certify,
        tsa: a.tsa.map(TsaConfig::new),
        signing_time: None,
    };
    let r = sign_pdf(&a.input, &a.output, &signer, &opts)?;
    Ok(format!(
        "signed {} (field {}, {}{}, {} bytes)",
        a.output.display(),
        r.field,
        if r.timestamp.is_some() {
            "PAdES B-T"
        } else {
            "PAdES B-B"
        },
        if r.certified { ", certified" } else { "" },
        r.output_len
    ))
}
