//! `docflow pdf sign` and `docflow pdf extend`: the command-line faces of [`super::sign_pdf`]
//! and [`super::ltv`].

use std::path::PathBuf;
use std::process::ExitCode;

use super::ltv::{self, ExtendOptions, Level};
use super::normalise;
use super::options::{SignOptions, Visible};
use super::tsa::TsaConfig;
use super::{Signer, SigningError};

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
    /// RFC 3161 timestamp authority URL (PAdES B-T and up); signing fails if it fails.
    #[arg(long)]
    pub tsa: Option<String>,
    /// PAdES level: b-b, b-t, b-lt (with the validation data, fetched now), b-lta (and a
    /// document timestamp). Default: b-t with --tsa, else b-b.
    #[arg(long, value_parser = parse_level)]
    pub level: Option<Level>,
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
    /// Rewrite the file clean first (one cross-reference table, no dangling references, no
    /// earlier revisions); refused with `pdf_already_signed` when it has any signature.
    #[arg(long)]
    pub normalise: bool,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).ok_or_else(|| format!("`{s}` is not one of b-b, b-t, b-lt, b-lta"))
}

/// Arguments of `docflow pdf extend`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExtendArgs {
    /// Signed PDF to extend (ours or anyone's).
    pub input: PathBuf,
    /// b-lt (validation data of every signature and timestamp) or b-lta (and a document
    /// timestamp over it).
    #[arg(long, value_parser = parse_level)]
    pub level: Level,
    /// RFC 3161 timestamp authority URL for b-lta; default: the `tsa_url` setting.
    #[arg(long)]
    pub tsa: Option<String>,
    /// Where to write the extended PDF; default: INPUT itself.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Renew the archive timestamp: validation data of the last document timestamp, then a
    /// new document timestamp (needs b-lta).
    #[arg(long)]
    pub renew: bool,
}

/// Runs `docflow pdf extend`; `tsa_url` is the configured TSA (empty: none).
pub fn run_extend(args: ExtendArgs, tsa_url: &str) -> ExitCode {
    report(extend(args, tsa_url))
}

fn extend(a: ExtendArgs, tsa_url: &str) -> Result<String, SigningError> {
    let tsa = a
        .tsa
        .or_else(|| (!tsa_url.is_empty()).then(|| tsa_url.to_string()))
        .map(TsaConfig::new);
    let mut opts = ExtendOptions::new(a.level, tsa);
    opts.renew = a.renew;
    let output = a.output.unwrap_or_else(|| a.input.clone());
    let r = ltv::extend_pdf(&a.input, &output, &opts)?;
    Ok(format!(
        "extended {} to PAdES {} ({} signature(s) and timestamp(s) covered; DSS +{} certificates, \
         +{} OCSP responses, +{} CRLs{}; {} bytes)",
        output.display(),
        r.level.as_str(),
        r.covered.len(),
        r.added.certs,
        r.added.ocsps,
        r.added.crls,
        r.doc_timestamp
            .as_deref()
            .map(|t| format!("; document timestamp {t}"))
            .unwrap_or_default(),
        r.output_len
    ))
}

fn report(r: Result<String, SigningError>) -> ExitCode {
    match r {
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

/// Runs the command; prints one line, and on failure `error [code]: message` on stderr.
pub fn run_sign(args: SignArgs) -> ExitCode {
    report(sign(args))
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
    let level = match (a.level, &a.tsa) {
        (Some(l), _) => l,
        (None, Some(_)) => Level::BT,
        (None, None) => Level::BB,
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
    let (r, ext, normalised) = if a.normalise {
        let input = std::fs::read(&a.input).map_err(|e| {
            SigningError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", a.input.display()),
            ))
        })?;
        let mut doc = normalise::normalise(&input)?;
        drop(input);
        let (r, ext) = ltv::sign_vec_at_level(&mut doc.bytes, &signer, &opts, level)?;
        ltv::write_atomically(&a.output, &doc.bytes)?;
        (r, ext, Some(doc.objects))
    } else {
        let (r, ext) = ltv::sign_pdf_at_level(&a.input, &a.output, &signer, &opts, level)?;
        (r, ext, None)
    };
    Ok(format!(
        "signed {} (field {}, PAdES {}{}{}, {} bytes)",
        a.output.display(),
        r.field,
        level.as_str(),
        if r.certified { ", certified" } else { "" },
        normalised
            .map(|n| format!(", normalised first: {n} objects"))
            .unwrap_or_default(),
        ext.map_or(r.output_len, |e| e.output_len)
    ))
}
