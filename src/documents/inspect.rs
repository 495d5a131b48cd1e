//! The check every uploaded PDF gets on arrival: is it a PDF, can it be opened without a
//! password, does it have pages, and can it take a signature as it is.
//!
//! Hostile input is expected (deeply nested arrays, loops, decompression bombs, files of millions
//! of tiny objects), so the check runs on its own thread with a large stack, inside
//! `catch_unwind`, with a deadline, and in bounded memory:
//! - first the signing engine's own reader, on demand from the staged file: only the trailer,
//!   catalog, page tree and certification are read, each object within the lexer's value budget
//!   and the reader's decode caps. An intact file never goes further.
//! - only a file that reader cannot read as written (damaged, repaired, encrypted) is handed to
//!   lopdf, which parses every object eagerly (about 58 times the file for one made of small
//!   tokens). It is first priced by [`cost::estimate`] in one bounded pass; a file whose parse
//!   would exceed [`LENIENT_BUDGET`] is refused (`pdf_too_complex`) without being parsed.
//!
//! A check that misses the deadline is abandoned (the thread finishes or dies on its own; its
//! result is dropped) and the file is refused as unreadable.

use super::guarded::{self, Failure, Guard};
use crate::error::ErrorCode;
use crate::signing::normalise;
use crate::signing::pdf::cost;
use crate::signing::pdf::document;
use crate::signing::pdf::reader::Reader;
use crate::signing::pdf::source::{FileSource, MemSource, Source};
use crate::signing::SigningError;
use lopdf::xref::XrefRecovery;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

/// Stack of the parsing thread: lopdf's parser recurses once per nesting level, and a file
/// of 20,000 nested `[` must not overflow it.
const PARSE_STACK_BYTES: usize = 256 * 1024 * 1024;
/// Largest size one stream may decompress to while loading.
const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;
/// Deepest page tree accepted.
const MAX_TREE_DEPTH: usize = 64;
/// Most pages counted.
const MAX_PAGES: u32 = 100_000;
/// Most check threads alive at once, counting those abandoned after their deadline (they run
/// on until they finish): bounds the CPU and memory hostile uploads can tie up.
const MAX_CHECK_THREADS: usize = 8;
/// Check threads alive now.
static CHECK_THREADS: AtomicUsize = AtomicUsize::new(0);
/// How far into the file the `%PDF-` header may start (ISO 32000 readers allow leading junk).
const HEADER_WINDOW: usize = 1024;
/// Most memory the lenient (eager) parse of a damaged or encrypted file may be expected to take,
/// by [`cost::estimate`]; the file itself is read into memory for it and counts.
pub const LENIENT_BUDGET: u64 = 128 << 20;

/// What the check learnt about an acceptable PDF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PdfFacts {
    /// Header version, e.g. `1.7`.
    pub pdf_version: String,
    /// Pages found by walking the page tree.
    pub page_count: u32,
    /// Whether a signature can be added as the file is.
    pub signable: bool,
    /// Why not, in words a clerk understands.
    pub signable_reason: Option<String>,
    /// Why the file is rewritten clean before its first signature (a hybrid cross-reference,
    /// a structure that had to be repaired); `None` when it is signed as it is. Only an
    /// unsigned file is ever rewritten: see `signing::normalise`.
    pub normalise_reason: Option<String>,
}

/// Why a file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfRejection {
    /// Not a PDF at all.
    #[error("{0}")]
    NotPdf(String),
    /// Needs a password to open (or an encryption we cannot open).
    #[error("{0}")]
    Encrypted(String),
    /// Too damaged to read, or took too long to read.
    #[error("{0}")]
    Unreadable(String),
    /// Would take more memory to read than a check may use (millions of tiny objects).
    #[error("{0}")]
    TooComplex(String),
    /// Not checked: too many checks are running (the file may be fine; try again).
    #[error("{0}")]
    Busy(String),
}

impl PdfRejection {
    /// The stable code clients see.
    pub fn code(&self) -> ErrorCode {
        match self {
            PdfRejection::NotPdf(_) => ErrorCode::PdfNotPdf,
            PdfRejection::Encrypted(_) => ErrorCode::PdfEncrypted,
            PdfRejection::Unreadable(_) => ErrorCode::PdfUnreadable,
            PdfRejection::TooComplex(_) => ErrorCode::PdfTooComplex,
            PdfRejection::Busy(_) => ErrorCode::PdfCheckBusy,
        }
    }
}

/// The limits of upload checks (their own counter: verifications cannot starve uploads).
static CHECK_GUARD: Guard = Guard {
    counter: &CHECK_THREADS,
    limit: MAX_CHECK_THREADS,
    name: "pdf-inspect",
    stack_bytes: PARSE_STACK_BYTES,
};

/// Checks a PDF held in memory, guarded: own thread with a large stack, panics caught,
/// given up after `timeout`.
pub fn inspect_guarded(bytes: Vec<u8>, timeout: Duration) -> Result<PdfFacts, PdfRejection> {
    guard(timeout, move || inspect(&bytes))
}

/// Checks the PDF file at `path`, guarded as [`inspect_guarded`]; the file is read on demand,
/// never whole unless it must be repaired (and then only within [`LENIENT_BUDGET`]).
pub fn inspect_file_guarded(path: PathBuf, timeout: Duration) -> Result<PdfFacts, PdfRejection> {
    guard(timeout, move || {
        let src = std::fs::File::open(&path)
            .and_then(FileSource::new)
            .map_err(|e| PdfRejection::Unreadable(format!("the file cannot be read ({e})")))?;
        inspect_source(&src)
    })
}

fn guard(
    timeout: Duration,
    work: impl FnOnce() -> Result<PdfFacts, PdfRejection> + Send + 'static,
) -> Result<PdfFacts, PdfRejection> {
    match guarded::run(&CHECK_GUARD, timeout, work) {
        Ok(result) => result,
        Err(Failure::Busy) => Err(PdfRejection::Busy(
            "too many files are being checked right now; send the file again in a minute".into(),
        )),
        Err(Failure::Spawn) => Err(PdfRejection::Unreadable(
            "the file could not be checked right now; try again".into(),
        )),
        Err(Failure::Panicked) => Err(PdfRejection::Unreadable(
            "the PDF is too damaged to read".into(),
        )),
        Err(Failure::TimedOut) => Err(PdfRejection::Unreadable(format!(
            "the PDF could not be read within {} seconds; it is probably damaged",
            timeout.as_secs()
        ))),
    }
}

/// Checks a PDF held in memory. Unguarded: call [`inspect_guarded`] on untrusted input.
pub fn inspect(bytes: &[u8]) -> Result<PdfFacts, PdfRejection> {
    inspect_source(&MemSource(bytes))
}

/// Checks a PDF read through `src`. Unguarded: call [`inspect_file_guarded`] on untrusted input.
pub fn inspect_source(src: &dyn Source) -> Result<PdfFacts, PdfRejection> {
    let window = src
        .window(0, HEADER_WINDOW)
        .map_err(|e| PdfRejection::Unreadable(format!("the file cannot be read ({e})")))?;
    if !window.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfRejection::NotPdf(
            "the file is not a PDF (it does not start with %PDF-); scan or export it as PDF".into(),
        ));
    }
    let strict = strict_read(src);
    if let Strict::Readable {
        pages,
        no_changes,
        hybrid,
    } = strict
    {
        // A hybrid file can be signed as it is, but strict validators refuse its signatures:
        // unless it is signed already, its first signature goes on a clean rewrite.
        let normalise = hybrid && !no_changes && !normalise::has_signature(src).unwrap_or(true);
        return Ok(PdfFacts {
            pdf_version: header_version(&window),
            page_count: pages,
            signable: !no_changes,
            signable_reason: no_changes.then(|| CERTIFIED_NO_CHANGES.to_string()),
            normalise_reason: normalise
                .then(|| format!("{}{REWRITTEN}", normalise::Need::Hybrid.describe())),
        });
    }
    let estimate = cost::estimate(src)
        .map_err(|e| PdfRejection::Unreadable(format!("the file cannot be read ({e})")))?;
    let needed = estimate.bytes().saturating_add(src.len());
    if needed > LENIENT_BUDGET {
        let why = match &strict {
            Strict::Encrypted => "it is encrypted".to_string(),
            Strict::OpenFailed(w) | Strict::NoCatalog(w) | Strict::Damaged(w) => w.clone(),
            Strict::Readable { .. } => String::new(),
        };
        return Err(PdfRejection::TooComplex(format!(
            "the PDF cannot be read as written ({why}), and repairing it would take more memory \
             than a check may use (about {} MB, at most {} MB); ask the sender for an intact, \
             unprotected copy",
            needed >> 20,
            LENIENT_BUDGET >> 20
        )));
    }
    let mut bytes = vec![0u8; usize::try_from(src.len()).unwrap_or(0)];
    src.read_exact_at(0, &mut bytes)
        .map_err(|e| PdfRejection::Unreadable(format!("the file cannot be read ({e})")))?;
    inspect_lenient(&bytes, strict)
}

/// What a normalise reason ends with.
const REWRITTEN: &str = "; it is rewritten clean before its first signature";
/// What a damage reason ends with when the file cannot be cured.
const ASK_SENDER: &str = "; ask the sender for an intact copy";

const CERTIFIED_NO_CHANGES: &str =
    "certified, no changes allowed: a new signature would break the certification";

/// The `d.d` of the `%PDF-d.d` header.
fn header_version(head: &[u8]) -> String {
    let at = head
        .windows(5)
        .position(|w| w == b"%PDF-")
        .map_or(head.len(), |i| i + 5);
    clean_version(&String::from_utf8_lossy(&head[at..head.len().min(at + 8)]))
}

/// Reads a file the strict reader could not (damaged, repaired or encrypted) with lopdf, which
/// repairs what qpdf and poppler repair. The caller priced the parse first.
fn inspect_lenient(bytes: &[u8], strict: Strict) -> Result<PdfFacts, PdfRejection> {
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_DECOMPRESSED_BYTES),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(doc) => doc,
        Err(e) => {
            if mentions_encryption(bytes) {
                return Err(encrypted_refusal());
            }
            return Err(PdfRejection::Unreadable(format!(
                "the PDF is too damaged to read ({e})"
            )));
        }
    };
    let encrypted = matches!(
        doc.trailer.get(b"Encrypt"),
        Ok(Object::Dictionary(_)) | Ok(Object::Reference(_))
    );
    if encrypted && doc.encryption_state.is_none() {
        return Err(encrypted_refusal());
    }
    // Opened with the empty user password: readable, but protected against changes.
    let encrypted = encrypted || doc.encryption_state.is_some();
    let page_count = count_pages(&doc)?;
    let version = doc.version.clone();
    if page_count == 0 {
        return Err(PdfRejection::Unreadable(
            "the PDF has no readable pages".into(),
        ));
    }
    // The signer's own reader is strict: it follows the file's cross-reference as written and
    // repairs nothing. lopdf is more forgiving: it reads past an object stream's declared count
    // and guesses a shifted startxref, where qpdf and poppler give up. A file is refused when the
    // strict reader cannot find its catalog or the root of its page tree where the file says they
    // are, unless lopdf rebuilt the whole cross-reference from the objects themselves (as the usual
    // repair tools do); lesser damage is accepted and recorded as a reason it cannot be signed.
    let rebuilt = matches!(doc.xref_recovery, Some(XrefRecovery::Reconstructed));
    let followed = doc.xref_recovery.is_none();
    let strict = match strict {
        _ if encrypted => Verdict::Readable,
        Strict::Encrypted | Strict::Readable { .. } => Verdict::Readable,
        Strict::OpenFailed(why) if followed => Verdict::Damaged(why),
        Strict::OpenFailed(why) | Strict::NoCatalog(why) => Verdict::Unreadable(why),
        Strict::Damaged(why) => Verdict::Damaged(why),
    };
    if let Verdict::Unreadable(why) = &strict {
        if !rebuilt {
            return Err(PdfRejection::Unreadable(format!(
                "the PDF is too damaged to read ({why})"
            )));
        }
    }
    let damaged_reason;
    let not_signable = if encrypted {
        Some("encrypted with an owner password: remove the protection before it can be signed")
    } else if certified_no_changes(&doc) {
        Some(CERTIFIED_NO_CHANGES)
    } else if matches!(strict, Verdict::Readable) {
        None
    } else if let (Verdict::Damaged(why), false) = (&strict, rebuilt) {
        damaged_reason = format!("damaged structure: {why}; ask the sender for an intact copy");
        Some(damaged_reason.as_str())
    } else {
        match doc.xref_recovery {
            Some(XrefRecovery::Reconstructed) => Some(
                "damaged structure: the cross-reference table had to be rebuilt; ask the sender for an intact copy",
            ),
            Some(XrefRecovery::OffsetCorrected) => Some(
                "damaged structure: the file points to the wrong place for its cross-reference table",
            ),
            Some(_) => Some("damaged structure: the file had to be repaired to be read"),
            None => None,
        }
    };
    // Damage alone (no encryption, no certification) is cured by the rewrite before the
    // first signature when the rewrite is one the signer's strict reader reads.
    let damaged_only = !encrypted && !certified_no_changes(&doc) && not_signable.is_some();
    drop(doc);
    if let (true, Some(why)) = (damaged_only, not_signable) {
        if normalises_clean(bytes) {
            return Ok(PdfFacts {
                pdf_version: clean_version(&version),
                page_count,
                signable: true,
                signable_reason: None,
                normalise_reason: Some(format!("{}{REWRITTEN}", why.trim_end_matches(ASK_SENDER))),
            });
        }
    }
    Ok(PdfFacts {
        pdf_version: clean_version(&version),
        page_count,
        signable: not_signable.is_none(),
        signable_reason: not_signable.map(str::to_string),
        normalise_reason: None,
    })
}

/// Whether an unsigned damaged file rewrites into one the signer's strict reader reads whole
/// (catalog, page tree, certification), as the server will rewrite it before signing.
fn normalises_clean(bytes: &[u8]) -> bool {
    match normalise::normalise(bytes) {
        Ok(out) => matches!(
            strict_read(&MemSource(&out.bytes)),
            Strict::Readable { hybrid: false, .. }
        ),
        Err(_) => false,
    }
}

/// Arguments of `docflow pdf check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The PDF to check.
    pub file: PathBuf,
    /// Seconds the check may take.
    #[arg(long, default_value_t = 20)]
    pub timeout: u64,
}

/// `docflow pdf check FILE`: the upload check, guarded as on the server. Prints the facts as
/// JSON and exits 0, or prints `error [code]: reason` and exits 1.
pub fn run_check(args: CheckArgs) -> std::process::ExitCode {
    match inspect_file_guarded(args.file, Duration::from_secs(args.timeout)) {
        Ok(facts) => match serde_json::to_string(&facts) {
            Ok(json) => {
                println!("{json}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Err(r) => {
            eprintln!("error [{}]: {r}", r.code());
            std::process::ExitCode::FAILURE
        }
    }
}

/// What the signer's strict reader makes of a file.
enum Strict {
    /// Catalog and whole page tree read as written: the signer can work on it.
    Readable {
        pages: u32,
        /// Certified with DocMDP P=1.
        no_changes: bool,
        /// A classic table with an `/XRefStm`.
        hybrid: bool,
    },
    /// The trailer names an encryption dictionary: only lopdf can tell whether it opens.
    Encrypted,
    /// The header or cross-reference cannot be read as written.
    OpenFailed(String),
    /// The catalog or the page tree root is not where the file says.
    NoCatalog(String),
    /// The pages can be found, but the structure breaks a rule the signer keeps.
    Damaged(String),
}

/// The strict reader's verdict once lopdf has said whether it repaired the file.
enum Verdict {
    Readable,
    Damaged(String),
    Unreadable(String),
}

/// Reads the catalog, the page tree and the certification with the signer's strict reader.
fn strict_read(src: &dyn Source) -> Strict {
    let mut reader = match Reader::open(src) {
        Ok(r) => r,
        // A header lopdf accepts; the strict one wants `%PDF-d.d` exactly.
        Err(SigningError::NotPdf(why)) => return Strict::Damaged(why),
        Err(e) => return Strict::OpenFailed(strict_reason(&e)),
    };
    if document::check_not_encrypted(&mut reader).is_err() {
        return Strict::Encrypted;
    }
    let catalog = match document::catalog(&mut reader) {
        Ok(c) => c,
        Err(e) => return Strict::NoCatalog(strict_reason(&e)),
    };
    match reader.get_key(&catalog, b"Pages") {
        Ok(Some(root)) if root.dict().is_some() => {}
        Ok(_) => return Strict::NoCatalog("the page tree root is missing".into()),
        Err(e) => return Strict::NoCatalog(strict_reason(&e)),
    }
    let pages = match document::page_count(&mut reader, &catalog) {
        Ok(n) if n as u64 <= u64::from(MAX_PAGES) => n as u32,
        Ok(_) => return Strict::Damaged("the page tree has too many pages".into()),
        Err(e) => return Strict::Damaged(strict_reason(&e)),
    };
    match document::docmdp_level(&mut reader, &catalog) {
        Ok(level) => Strict::Readable {
            pages,
            no_changes: level == Some(1),
            hybrid: reader.xref.hybrid,
        },
        Err(e) => Strict::Damaged(strict_reason(&e)),
    }
}

/// The strict reader's complaint, without its own prefix.
fn strict_reason(e: &SigningError) -> String {
    match e {
        SigningError::Damaged(m) | SigningError::NotPdf(m) | SigningError::Unsupported(m) => {
            m.clone()
        }
        other => other.to_string(),
    }
}

fn encrypted_refusal() -> PdfRejection {
    PdfRejection::Encrypted(
        "the PDF is protected by a password; ask the sender for an unprotected copy".into(),
    )
}

/// Whether the file's trailer names an encryption dictionary (looked for in the raw bytes
/// when the parser gave up).
fn mentions_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
        && !bytes
            .windows(10)
            .any(|w| w == b"/Encrypt[]" || w == b"/Encrypt [")
}

fn clean_version(v: &str) -> String {
    let v: String = v
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    if v.is_empty() {
        "unknown".into()
    } else {
        v
    }
}

fn deref<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    doc.dereference(obj).ok().map(|(_, o)| o)
}

fn dict<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Dictionary> {
    deref(doc, obj).and_then(|o| o.as_dict().ok())
}

/// Walks the page tree (direct or indirect kids), refusing loops (a node that is its own
/// ancestor), absurd depth and absurd size.
fn count_pages(doc: &Document) -> Result<u32, PdfRejection> {
    let catalog = doc
        .catalog()
        .map_err(|_| tree_unreadable("cannot be found (no document catalog)"))?;
    let root = catalog
        .get(b"Pages")
        .map_err(|_| tree_unreadable("is missing"))?;
    let mut pages = 0u32;
    let mut visits = 0u32;
    let mut path: Vec<ObjectId> = Vec::new();
    walk(doc, root, &mut path, &mut pages, &mut visits)?;
    Ok(pages)
}

fn tree_unreadable(why: &str) -> PdfRejection {
    PdfRejection::Unreadable(format!("the PDF's page tree {why}"))
}

fn walk(
    doc: &Document,
    node: &Object,
    path: &mut Vec<ObjectId>,
    pages: &mut u32,
    visits: &mut u32,
) -> Result<(), PdfRejection> {
    *visits += 1;
    if *visits > MAX_PAGES * 2 {
        return Err(tree_unreadable("has too many nodes"));
    }
    if path.len() > MAX_TREE_DEPTH {
        return Err(tree_unreadable("is nested too deeply"));
    }
    let id = match node {
        Object::Reference(id) => {
            if path.contains(id) {
                return Err(tree_unreadable("loops back on itself"));
            }
            Some(*id)
        }
        _ => None,
    };
    let Some(d) = dict(doc, node) else {
        // A kid that does not resolve is read as null (ISO 32000 7.3.10): no page.
        return Ok(());
    };
    let is_pages =
        d.get(b"Type").ok().and_then(|t| t.as_name().ok()) == Some(b"Pages") || d.has(b"Kids");
    if !is_pages {
        *pages += 1;
        if *pages > MAX_PAGES {
            return Err(tree_unreadable("has too many pages"));
        }
        return Ok(());
    }
    let kids = d
        .get(b"Kids")
        .ok()
        .and_then(|k| deref(doc, k))
        .and_then(|k| k.as_array().ok());
    if let Some(kids) = kids {
        if let Some(id) = id {
            path.push(id);
        }
        for kid in kids {
            walk(doc, kid, path, pages, visits)?;
        }
        if id.is_some() {
            path.pop();
        }
    }
    Ok(())
}

/// Whether a certification signature forbids every change (DocMDP with P = 1).
fn certified_no_changes(doc: &Document) -> bool {
    let Ok(catalog) = doc.catalog() else {
        return false;
    };
    let Some(sig) = catalog
        .get(b"Perms")
        .ok()
        .and_then(|p| dict(doc, p))
        .and_then(|p| p.get(b"DocMDP").ok())
        .and_then(|s| dict(doc, s))
    else {
        return false;
    };
    let Some(refs) = sig
        .get(b"Reference")
        .ok()
        .and_then(|r| deref(doc, r))
        .and_then(|r| r.as_array().ok())
    else {
        return false;
    };
    refs.iter().filter_map(|r| dict(doc, r)).any(|r| {
        let docmdp = r
            .get(b"TransformMethod")
            .ok()
            .and_then(|m| m.as_name().ok())
            == Some(b"DocMDP");
        let p = r
            .get(b"TransformParams")
            .ok()
            .and_then(|t| dict(doc, t))
            .and_then(|t| t.get(b"P").ok())
            .and_then(|p| deref(doc, p))
            .and_then(|p| p.as_i64().ok())
            // ISO 32000-1 12.8.2.2: P defaults to 2.
            .unwrap_or(2);
        docmdp && p == 1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &[u8] = include_bytes!("../../tests/fixtures/pdf/valid-minimal.pdf");

    #[test]
    fn minimal_pdf_is_accepted_and_signable() {
        let facts = inspect_guarded(MINIMAL.to_vec(), Duration::from_secs(10)).unwrap();
        assert_eq!(facts.page_count, 1);
        assert!(facts.signable, "{facts:?}");
        assert!(facts.pdf_version.starts_with("1."), "{facts:?}");
    }

    #[test]
    fn not_a_pdf_is_refused() {
        let e = inspect_guarded(b"oops\n".to_vec(), Duration::from_secs(10)).unwrap_err();
        assert_eq!(e.code(), "pdf_not_pdf");
        let e = inspect_guarded(b"%PDF-1.7\n".to_vec(), Duration::from_secs(10)).unwrap_err();
        assert_eq!(e.code(), "pdf_unreadable", "{e}");
    }

    #[test]
    fn files_only_a_lenient_reader_can_open_are_refused() {
        // qpdf and poppler cannot read either; lopdf reads past the object stream's count and
        // guesses the shifted startxref.
        for (name, bytes) in [
            (
                "objstm count too low",
                &include_bytes!("../../tests/fixtures/pdf/hopeless-objstm-count-too-low.pdf")[..],
            ),
            (
                "startxref off by one into an xref stream",
                &include_bytes!(
                    "../../tests/fixtures/pdf/hopeless-startxref-xref-stream-off-by-one.pdf"
                )[..],
            ),
        ] {
            let e = inspect_guarded(bytes.to_vec(), Duration::from_secs(10)).unwrap_err();
            assert_eq!(e.code(), "pdf_unreadable", "{name}: {e}");
        }
    }

    #[test]
    fn lesser_damage_is_signable_after_normalising_unless_signed() {
        let bytes = include_bytes!("../../tests/fixtures/pdf/malformed-page-tree-direct-kid.pdf");
        let facts = inspect_guarded(bytes.to_vec(), Duration::from_secs(10)).unwrap();
        assert!(facts.signable, "{facts:?}");
        assert_eq!(facts.signable_reason, None);
        let reason = facts.normalise_reason.unwrap_or_default();
        assert!(
            reason.starts_with("damaged structure: a page tree /Kids entry is not an indirect")
                && reason.ends_with(REWRITTEN),
            "{reason}"
        );
        assert!(facts.page_count >= 1);
        // With a signature somewhere in it, it is never rewritten: not signable.
        let mut signed = bytes.to_vec();
        let at = signed.windows(9).rposition(|w| w == b"startxref").unwrap();
        signed.splice(at..at, b"% /ByteRange [0 0 0 0]\n".iter().copied());
        let facts = inspect_guarded(signed, Duration::from_secs(10)).unwrap();
        assert!(!facts.signable, "{facts:?}");
        assert_eq!(facts.normalise_reason, None);
        let reason = facts.signable_reason.unwrap_or_default();
        assert!(reason.ends_with(ASK_SENDER), "{reason}");
    }

    #[test]
    fn hybrid_files_are_signable_and_rewritten_first() {
        let bytes = include_bytes!("../../tests/fixtures/pdf/valid-hybrid-xref-30-pages.pdf");
        let facts = inspect_guarded(bytes.to_vec(), Duration::from_secs(10)).unwrap();
        assert!(facts.signable, "{facts:?}");
        assert_eq!(facts.page_count, 30);
        assert!(
            facts
                .normalise_reason
                .as_deref()
                .is_some_and(|r| r.starts_with("hybrid cross-reference")),
            "{facts:?}"
        );
        let facts = inspect_guarded(MINIMAL.to_vec(), Duration::from_secs(10)).unwrap();
        assert_eq!(facts.normalise_reason, None);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut bytes = b"%PDF-1.4\ntrailer\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'[', 50_000));
        let e = inspect_guarded(bytes, Duration::from_secs(30)).unwrap_err();
        assert_eq!(e.code(), "pdf_unreadable", "{e}");
    }
}
