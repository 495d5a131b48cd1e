//! The checks that need every signature of the file: what changed after each one (and whether
//! a certification allows it), the PAdES level, and the final status.

use super::signature::Checked;
use super::{
    changes, structure, ChangeLevel, Context, Coverage, PadesLevel, SignatureKind, SignatureReport,
    SignatureStatus,
};
use std::collections::HashMap;

/// Checks that need all signatures: what changed after each one, the PAdES level, the
/// final status.
pub(super) fn finish(ctx: &Context<'_>, all: &mut [Checked]) {
    let mut cache: HashMap<usize, changes::Changes> = HashMap::new();
    let last_end = ctx.ends.last().map(|e| e.eol).unwrap_or(0);
    let junk_after_eof = ctx.data[last_end.min(ctx.data.len())..]
        .iter()
        .any(|b| !(b.is_ascii_whitespace() || *b == 0));
    let doc_ts_ends: Vec<usize> = all
        .iter()
        .filter(|c| c.report.kind == SignatureKind::DocumentTimestamp && c.report.intact)
        .filter_map(|c| c.end)
        .collect();
    let regular_ends: Vec<usize> = all
        .iter()
        .filter(|c| c.report.kind == SignatureKind::Signature)
        .filter_map(|c| c.end)
        .collect();
    let dss_present = ctx
        .dss
        .is_some_and(|d| !d.certs.is_empty() || !d.ocsps.is_empty() || !d.crls.is_empty());
    for c in all.iter_mut() {
        let Some(end) = c.end else { continue };
        let r = &mut c.report;
        let mut fields_added = false;
        if r.coverage == Coverage::EarlierRevision {
            let found = cache
                .entry(end)
                .or_insert_with(|| changes_after(ctx, end, junk_after_eof))
                .clone();
            r.changes_after = found.level;
            r.change_details = found.details;
            fields_added = found.fields_added;
        }
        if r.kind == SignatureKind::Signature {
            let later = Evidence {
                sig_timestamp_ok: c.sig_timestamp_ok,
                doc_timestamp: doc_ts_ends.iter().any(|e| *e > end),
                validation_data: dss_present && c.validation_data,
            };
            r.pades_level = Some(pades_level(r, c.baseline_attrs, &later));
        }
        let later_signature = regular_ends.iter().any(|e| *e > end);
        let docmdp_broken = docmdp_broken(r, later_signature, fields_added);
        if r.status == SignatureStatus::Valid {
            final_status(r, docmdp_broken);
        }
    }
}

/// What a signature's PAdES level depends on beyond its own attributes.
struct Evidence {
    /// Its signature timestamp holds.
    sig_timestamp_ok: bool,
    /// An intact document timestamp covers it.
    doc_timestamp: bool,
    /// The file has a DSS, and the embedded data validates the signer's and its timestamp's
    /// chains without fetching anything.
    validation_data: bool,
}

fn pades_level(r: &SignatureReport, baseline_attrs: bool, e: &Evidence) -> PadesLevel {
    if !name_is(r.sub_filter.as_deref(), "ETSI.CAdES.detached") {
        PadesLevel::NotPades
    } else if !baseline_attrs {
        PadesLevel::NotBaseline
    } else if !(e.sig_timestamp_ok || e.doc_timestamp) {
        PadesLevel::BB
    } else if !e.validation_data {
        PadesLevel::BT
    } else if !e.doc_timestamp {
        PadesLevel::BLT
    } else {
        PadesLevel::BLTA
    }
}

/// Whether what follows breaks the signature's certification, if it is one; says why.
fn docmdp_broken(r: &mut SignatureReport, later_signature: bool, fields_added: bool) -> bool {
    // Certified with P=1: only DSS data and document timestamps may follow. Under any
    // certification no new form fields may be created but invisible signature fields, as in
    // pyHanko (a visible signature fills an existing empty field).
    match r.certification {
        Some(1) if later_signature => {
            r.problems
                .push("certified with no changes allowed (DocMDP P=1), yet signed again".into());
            true
        }
        // ISO 32000 lets P=3 add annotations; creating visible form fields after certifying
        // is still refused by validators (pyHanko), so it is refused here too.
        Some(p) if fields_added => {
            r.problems.push(format!(
                "certified with DocMDP P={p}, yet a new visible signature field or another \
                 form field was created after it"
            ));
            true
        }
        _ => false,
    }
}

/// Refines a valid signature's status with what followed it and its timestamp's checks.
fn final_status(r: &mut SignatureReport, docmdp_broken: bool) {
    // A token that does not hold is a broken timestamp; one by an unknown TSA only
    // makes the signature untrusted.
    let ts_broken = r.kind == SignatureKind::Signature
        && r.timestamp
            .as_ref()
            .is_some_and(|t| !(t.imprint_ok && t.signature_ok));
    let ts_untrusted = r.timestamp.as_ref().is_some_and(|t| !t.trusted);
    if r.changes_after == ChangeLevel::Other || docmdp_broken {
        r.status = SignatureStatus::ModifiedAfterSigning;
        r.problems
            .push("the document was changed after this signature".into());
    } else if ts_broken {
        r.status = SignatureStatus::TimestampInvalid;
    } else if !r.trusted || ts_untrusted {
        r.status = SignatureStatus::Untrusted;
    }
}

fn name_is(v: Option<&str>, expected: &str) -> bool {
    v == Some(expected)
}

/// Compares the revision ending at `end` with the whole file.
fn changes_after(ctx: &Context<'_>, end: usize, junk: bool) -> changes::Changes {
    let mut found = match structure::load(&ctx.data[..end]) {
        Ok(old) => changes::compare(&old, ctx.doc),
        Err(e) => changes::Changes {
            level: ChangeLevel::Other,
            details: vec![format!("the signed revision cannot be read: {e}")],
            fields_added: false,
        },
    };
    if junk {
        found.level = ChangeLevel::Other;
        found
            .details
            .push("data that is not a PDF revision follows the last %%EOF".into());
    }
    found
}
