//! Signing a PDF: prepare the update, hash the two byte ranges in one streaming pass, sign the
//! signed attributes' digest, and patch the CMS into the reserved /Contents.

use std::fs::{self, File};
use std::io::{Read, Write};

use std::path::{Path, PathBuf};

use openssl::sha::Sha256;

use super::appearance;
use super::cms::{self, SignedAttrs};
use super::keys::Signer;
use super::options::SignOptions;
use super::pdf::source::{FileSource, MemSource, Source};
use super::prepare::{prepare, AppearanceBuilder, Prepared};
use super::tsa;
use super::SigningError;

/// What was signed.
#[derive(Debug, Clone)]
pub struct SignReport {
    /// Fully qualified name of the signature field.
    pub field: String,
    /// The /ByteRange.
    pub byte_range: [u64; 4],
    /// Size of the CMS SignedData in bytes.
    pub cms_len: usize,
    /// The TSA's time when a timestamp was embedded (B-T).
    pub timestamp: Option<String>,
    /// Whether this is a certification signature.
    pub certified: bool,
    /// Length of the signed file.
    pub output_len: u64,
}

/// Bytes reserved for the CMS: certificates, signature, attributes, and room for a timestamp token.
fn contents_reserve(signer: &Signer, opts: &SignOptions) -> Result<usize, SigningError> {
    let mut n = 2048 + signer.key().algorithm().max_signature_len();
    for c in std::iter::once(signer.certificate()).chain(signer.chain()) {
        n += c
            .to_der()
            .map_err(|e| SigningError::Key(e.to_string()))?
            .len();
    }
    if opts.tsa.is_some() {
        n += 16 * 1024;
    }
    Ok(n.div_ceil(1024) * 1024)
}

/// Signs `input` into `output` (which may be the same path); the output appears only when complete.
pub fn sign_pdf(
    input: &Path,
    output: &Path,
    signer: &Signer,
    opts: &SignOptions,
) -> Result<SignReport, SigningError> {
    let file = File::open(input).map_err(|e| {
        SigningError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", input.display()),
        ))
    })?;
    let src = FileSource::new(file)?;
    let mut prepared = prepare(
        &src,
        opts,
        contents_reserve(signer, opts)?,
        appearance::build,
    )?;
    let orig_len = src.len();
    let byte_range = prepared.patch_byte_range(orig_len)?;

    let tmp = temp_path(output);
    let result = (|| {
        let mut out = File::create(&tmp)?;
        let hasher = copy_and_hash(src.file(), orig_len, &mut out)?;
        let (cms_len, timestamp) = finish(&mut prepared, hasher, signer, opts)?;
        out.write_all(&prepared.update)?;
        out.flush()?;
        drop(out);
        fs::rename(&tmp, output)?;
        Ok::<_, SigningError>((cms_len, timestamp))
    })();
    let (cms_len, timestamp) = result.inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })?;
    Ok(SignReport {
        field: prepared.field,
        byte_range,
        cms_len,
        timestamp,
        certified: prepared.certify,
        output_len: orig_len + prepared.update.len() as u64,
    })
}

/// Signs the file at `path` by appending the update to it: the original bytes stay in place, are
/// read once (for the hash) and are not copied, so a large file costs about one hash. The caller
/// must have exclusive access to the file. If writing the update fails, the file is truncated back
/// to its original length.
pub fn sign_pdf_in_place(
    path: &Path,
    signer: &Signer,
    opts: &SignOptions,
) -> Result<SignReport, SigningError> {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| {
            SigningError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            ))
        })?;
    let src = FileSource::new(file.try_clone()?)?;
    let mut prepared = prepare(
        &src,
        opts,
        contents_reserve(signer, opts)?,
        appearance::build,
    )?;
    let orig_len = src.len();
    let byte_range = prepared.patch_byte_range(orig_len)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < orig_len {
        let want = usize::try_from((orig_len - at).min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..want], at)?;
        hasher.update(&buf[..want]);
        at += want as u64;
    }
    let (cms_len, timestamp) = finish(&mut prepared, hasher, signer, opts)?;
    if let Err(e) = file.write_all_at(&prepared.update, orig_len) {
        let _ = file.set_len(orig_len);
        return Err(e.into());
    }
    Ok(SignReport {
        field: prepared.field,
        byte_range,
        cms_len,
        timestamp,
        certified: prepared.certify,
        output_len: orig_len + prepared.update.len() as u64,
    })
}

/// Signs a PDF held in memory and returns the signed file.
pub fn sign_bytes(
    input: &[u8],
    signer: &Signer,
    opts: &SignOptions,
) -> Result<(Vec<u8>, SignReport), SigningError> {
    let mut doc = Vec::with_capacity(input.len() + 64 * 1024);
    doc.extend_from_slice(input);
    let report = sign_vec(&mut doc, signer, opts)?;
    Ok((doc, report))
}

/// Signs a PDF held in memory by appending the signed update to it: no copy of the document.
/// On error `doc` is left as it was.
pub fn sign_vec(
    doc: &mut Vec<u8>,
    signer: &Signer,
    opts: &SignOptions,
) -> Result<SignReport, SigningError> {
    sign_vec_with(doc, signer, opts, appearance::build)
}

/// As [`sign_vec`], with another builder for the visible stamp's objects.
pub fn sign_vec_with(
    doc: &mut Vec<u8>,
    signer: &Signer,
    opts: &SignOptions,
    build_appearance: AppearanceBuilder,
) -> Result<SignReport, SigningError> {
    let orig_len = doc.len() as u64;
    let mut prepared = prepare(
        &MemSource(doc),
        opts,
        contents_reserve(signer, opts)?,
        build_appearance,
    )?;
    let byte_range = prepared.patch_byte_range(orig_len)?;
    let mut hasher = Sha256::new();
    hasher.update(doc);
    let (cms_len, timestamp) = finish(&mut prepared, hasher, signer, opts)?;
    doc.extend_from_slice(&prepared.update);
    Ok(SignReport {
        field: prepared.field,
        byte_range,
        cms_len,
        timestamp,
        certified: prepared.certify,
        output_len: doc.len() as u64,
    })
}

/// Hashes the update outside /Contents, signs, timestamps, and patches /Contents.
fn finish(
    p: &mut Prepared,
    mut hasher: Sha256,
    signer: &Signer,
    opts: &SignOptions,
) -> Result<(usize, Option<String>), SigningError> {
    hasher.update(&p.update[..p.contents_start]);
    hasher.update(&p.update[p.contents_end..]);
    let digest = hasher.finish();
    let cert_der = signer
        .certificate()
        .to_der()
        .map_err(|e| SigningError::Key(e.to_string()))?;
    let attrs = SignedAttrs::new(&digest, &cert_der)?;
    let signature = signer.key().sign_digest(&attrs.digest())?;
    let ts = match &opts.tsa {
        Some(cfg) => Some(tsa::timestamp(cfg, &signature)?),
        None => None,
    };
    let der = cms::signed_data(
        signer,
        &attrs,
        &signature,
        ts.as_ref().map(|t| t.token.as_slice()),
    )?;
    p.patch_contents(&der)?;
    Ok((der.len(), ts.map(|t| t.time)))
}

/// Files up to this size are copied and hashed in one thread.
const SMALL_FILE: u64 = 4 << 20;

/// Copies the original file to the output while hashing it: the copy runs in a second thread
/// through `std::io::copy` (in-kernel `copy_file_range` between files, a reflink where the file
/// system has them), so the wall time stays close to hashing the file once.
fn copy_and_hash(input: &File, len: u64, out: &mut File) -> Result<Sha256, SigningError> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::FileExt;
    if len <= SMALL_FILE {
        // One read, one hash, one write: a thread would cost more than it saves.
        let mut buf = vec![0u8; len as usize];
        input.read_exact_at(&mut buf, 0)?;
        let mut hasher = Sha256::new();
        hasher.update(&buf);
        out.write_all(&buf)?;
        return Ok(hasher);
    }
    std::thread::scope(|scope| {
        let copier = scope.spawn(move || -> std::io::Result<u64> {
            let mut reader = input;
            reader.seek(SeekFrom::Start(0))?;
            std::io::copy(&mut reader.take(len), out)
        });
        // Positional reads: the copier owns the shared file offset.
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        let mut hashed = Ok(());
        while at < len {
            let want = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
            if let Err(e) = input.read_exact_at(&mut buf[..want], at) {
                hashed = Err(e);
                break;
            }
            hasher.update(&buf[..want]);
            at += want as u64;
        }
        let copied = copier
            .join()
            .map_err(|_| SigningError::Internal("the copy thread panicked".into()))??;
        hashed?;
        if copied != len {
            return Err(SigningError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the input file shrank while it was being signed",
            )));
        }
        Ok(hasher)
    })
}

fn temp_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out.pdf".into());
    output.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}
