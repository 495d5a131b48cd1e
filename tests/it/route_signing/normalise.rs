//! A clean first signature in the route (issue 12, part 3), on both databases: a hybrid draft
//! and a damaged one are accepted as "signable after normalising"; the director's `sign` (a
//! `server` credential) and a USB token's prepare → complete sign each over a clean rewrite,
//! which strict pyHanko validates; the text is the draft's; the issue step's later signatures over
//! the signed file are incremental updates (a signed file is never rewritten).

use super::*;
use crate::common::fixture;

fn draft_of(o: &Office, subject: &str, pdf: Vec<u8>) -> Value {
    o.srv.create_document(
        o.tok("drafter"),
        &json!({"kind": "outgoing", "type_code": "QĐ", "subject": subject,
                "issuer": "Sở Lao động - Thương binh và Xã hội", "issue_place": "Hà Nội",
                "recipients": ["UBND tỉnh"]}),
        pdf,
    )
}

fn routed(o: &Office, doc: &str) {
    start(o, doc, &["director"]);
    let t = task_id(o, "head", doc);
    let r = act(o, "head", &t, &json!({"action": "approve"}), None);
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Strict pyHanko (its CLI default, which refuses every signature of a hybrid file) and
/// docflow's own verify judge every signature valid.
fn assert_strictly_valid(o: &Office, pdf: &[u8], path: &Path, signatures: usize) {
    std::fs::write(path, pdf).unwrap();
    let report = verify_pdf(pdf, std::slice::from_ref(&o.ca.cert)).expect("verify");
    assert_eq!(report.signatures.len(), signatures, "{report:#?}");
    assert!(report.all_valid, "{report:#?}");
    pyhanko::validate_with(path, &[&o.ca.pem], true);
    assert!(
        !pdf.windows(8).any(|w| w == b"/XRefStm"),
        "a hybrid xref left"
    );
}

fn hybrid_and_damaged_drafts_are_signed_over_a_clean_rewrite(b: Backend) {
    let o = office(b, |_| {});
    let (director_cred, _) = credential(&o, "director", "Trần Văn Minh");
    let (token, key) = token_credential(&o, "director", "Trần Văn Minh");
    seal(&o);
    let dir = keep_dir();
    for (name, pdf, by_token) in [
        ("hybrid", fixture("valid-hybrid-xref-30-pages.pdf"), false),
        (
            "direct-kid",
            fixture("malformed-page-tree-direct-kid.pdf"),
            false,
        ),
        ("hybrid-token", pdfgen::hybrid(), true),
    ] {
        let created = draft_of(&o, &format!("Quyết định {name}"), pdf.clone());
        let v = &created["versions"][0];
        assert_eq!(v["signable"], true, "{name}: {created:#}");
        assert_eq!(v["needs_normalising"], true, "{name}: {created:#}");
        assert!(v["normalise_reason"].is_string(), "{name}: {created:#}");
        assert!(v["signable_reason"].is_null(), "{name}: {created:#}");
        let doc = created["id"].as_str().unwrap().to_string();
        routed(&o, &doc);
        let t = task_id(&o, "director", &doc);
        let r = if by_token {
            let p = prepare(&o, "director", &t, &token);
            assert_eq!(p.status, 200, "{name}: {}", p.text);
            let sig = token_sign(&key, p.json["to_sign"].as_str().unwrap());
            complete(&o, "director", &t, &p.json["handle"], &sig)
        } else {
            let sign = json!({"action": "sign", "credential_id": director_cred, "pin": PIN});
            act(&o, "director", &t, &sign, None)
        };
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        assert_eq!(r.json["signature"]["version"], 2, "{name}: {}", r.text);
        let signed = latest_pdf(&o, &doc);
        assert!(!signed.starts_with(&pdf), "{name}: not rewritten");
        let before = dir.join(format!("{name}-draft.pdf"));
        let after = dir.join(format!("{name}-signed.pdf"));
        std::fs::write(&before, &pdf).unwrap();
        assert_strictly_valid(&o, &signed, &after, 1);
        // Every line of the draft's text is still there (the stamp adds its own lines).
        let (tb, ta) = (pdftotext(&before), pdftotext(&after));
        let lost: Vec<&str> = tb
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !ta.contains(l))
            .collect();
        assert!(lost.is_empty(), "{name}: lost {lost:?}\n{ta}");
        // The pyHanko-made direct-kid file has no text; the hybrid ones have.
        assert!(
            name == "direct-kid" || !tb.trim().is_empty(),
            "{name}: no text"
        );
        let r = o
            .srv
            .get(&format!("/api/v1/documents/{doc}"), Some(o.tok("drafter")));
        let v2 = &r.json["versions"][1];
        assert_eq!(v2["needs_normalising"], false, "{name}: {}", r.text);
        assert!(v2["normalise_reason"].is_null(), "{name}: {}", r.text);
        // The clerk issues it with the seal: an incremental update over the signed file.
        let t = task_id(&o, "clerk", &doc);
        let r = issue_task(&o, &t);
        assert_eq!(r.status, 200, "{name}: {}", r.text);
        let issued = latest_pdf(&o, &doc);
        assert!(
            issued.starts_with(&signed),
            "{name}: the signed file was rewritten"
        );
        // The director's, the number's and the seal's.
        assert_strictly_valid(&o, &issued, &dir.join(format!("{name}-issued.pdf")), 3);
    }
}

both_backends!(hybrid_and_damaged_drafts_are_signed_over_a_clean_rewrite);
