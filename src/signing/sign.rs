//! Signing a PDF: prepare the update, hash the two byte ranges in one streaming pass, sign the
//! signed attributes' digest, and patch the CMS into the reserved /Contents.

use std::fs::{self, File};
use std::io::Write;

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

/// The signed attributes (DER, a SET OF: what a USB token signs, exactly as `openssl dgst
/// -sha256 -sign KEY` would) of the signature `opts` makes over `doc` for `signer`'s
/// certificate. With a fixed `signing_time` the update is deterministic: [`sign_vec`] over the
/// same `doc` and `opts` with an [`super::keys::ExternalSignature`] of those bytes makes that
/// very signature.
pub fn signed_attributes_for(
    doc: &[u8],
    signer: &Signer,
    opts: &SignOptions,
) -> Result<Vec<u8>, SigningError> {
    if opts.signing_time.is_none() {
        return Err(SigningError::Options(
            "a signature made elsewhere needs a fixed signing time".into(),
        ));
    }
    let mut prepared = prepare(
        &MemSource(doc),
        opts,
        contents_reserve(signer, opts)?,
        appearance::build,
    )?;
    prepared.patch_byte_range(doc.len() as u64)?;
    let mut hasher = Sha256::new();
    hasher.update(doc);
    hasher.update(&prepared.update[..prepared.contents_start]);
    hasher.update(&prepared.update[prepared.contents_end..]);
    let digest = hasher.finish();
    let cert_der = signer
        .certificate()
        .to_der()
        .map_err(|e| SigningError::Key(e.to_string()))?;
    Ok(SignedAttrs::new(&digest, &cert_der)?.der().to_vec())
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

/// Chunk of the pipelined copy.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the reading/hashing thread and the writing thread.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Copies the original file to the output while hashing it, reading it once: this thread reads a
/// chunk and hashes it while a second thread writes the same chunk out, so the wall time stays
/// close to hashing the file once. Buffers go round between the two threads (no allocation per
/// chunk).
fn copy_and_hash(input: &File, len: u64, out: &mut File) -> Result<Sha256, SigningError> {
    use std::os::unix::fs::FileExt;
    use std::sync::mpsc::sync_channel;
    if len <= SMALL_FILE {
        // One read, one hash, one write: a thread would cost more than it saves.
        let mut buf = vec![0u8; len as usize];
        input.read_exact_at(&mut buf, 0)?;
        let mut hasher = Sha256::new();
        hasher.update(&buf);
        out.write_all(&buf)?;
        return Ok(hasher);
    }
    let (to_writer, chunks) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let (give_back, returned) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 1);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for chunk in chunks {
                out.write_all(&chunk)?;
                // The reader may have stopped taking buffers back; then they are just dropped.
                let _ = give_back.try_send(chunk);
            }
            Ok(())
        });
        let mut hasher = Sha256::new();
        let mut allocated = 0usize;
        let mut at = 0u64;
        let mut read = Ok(());
        while at < len {
            let want = usize::try_from((len - at).min(CHUNK as u64)).unwrap_or(CHUNK);
            // A buffer back from the writer, or a new one while fewer than the ring exist.
            let mut buf = match returned.try_recv() {
                Ok(b) => b,
                Err(_) if allocated < CHUNKS_IN_FLIGHT + 1 => {
                    allocated += 1;
                    vec![0u8; CHUNK]
                }
                Err(_) => match returned.recv() {
                    Ok(b) => b,
                    // The writer stopped (a write failed): its error is reported below.
                    Err(_) => break,
                },
            };
            buf.resize(want, 0);
            if let Err(e) = input.read_exact_at(&mut buf, at) {
                read = Err(e);
                break;
            }
            hasher.update(&buf);
            at += want as u64;
            if to_writer.send(buf).is_err() {
                break;
            }
        }
        drop(to_writer);
        let written = writer
            .join()
            .map_err(|_| SigningError::Internal("the copy thread panicked".into()))?;
        written?;
        if let Err(e) = read {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                return Err(SigningError::Io(std::io::Error::new(
                    e.kind(),
                    "the input file shrank while it was being signed",
                )));
            }
            return Err(e.into());
        }
        if at != len {
            return Err(SigningError::Internal(
                "the copy stopped before the end of the file".into(),
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipelined copy (files above `SMALL_FILE`) writes every byte in order and hashes
    /// exactly what it wrote, including a last chunk shorter than the others.
    #[test]
    fn large_copy_is_exact_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let len = SMALL_FILE as usize + 5 * CHUNK + 12_345;
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let input_path = dir.path().join("in.bin");
        std::fs::write(&input_path, &data).unwrap();
        let input = File::open(&input_path).unwrap();
        let out_path = dir.path().join("out.bin");
        let mut out = File::create(&out_path).unwrap();
        let hasher = copy_and_hash(&input, len as u64, &mut out).unwrap();
        drop(out);
        assert_eq!(hasher.finish(), openssl::sha::sha256(&data));
        assert!(std::fs::read(&out_path).unwrap() == data, "copy differs");
    }

    #[test]
    fn a_file_shorter_than_announced_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let input_path = dir.path().join("in.bin");
        std::fs::write(&input_path, vec![7u8; SMALL_FILE as usize + CHUNK]).unwrap();
        let input = File::open(&input_path).unwrap();
        let mut out = File::create(dir.path().join("out.bin")).unwrap();
        match copy_and_hash(&input, SMALL_FILE + 3 * CHUNK as u64, &mut out) {
            Err(e) => assert!(e.to_string().contains("shrank"), "{e}"),
            Ok(_) => panic!("a short file was copied as if whole"),
        }
    }
}
