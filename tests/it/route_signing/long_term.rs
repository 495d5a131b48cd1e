//! A route signing at B-LT (issue 12: "the server uses it"), on both databases, against
//! certomancer on loopback (OCSP, CRLs, TSA): with `signing_level = "b-lt"` the director's
//! `sign` and the clerk's `issue` each store a version whose signatures carry their validation
//! data; pyHanko, with fetching disabled and certomancer stopped, and docflow's verify both
//! find every signature B-LT. A credential whose certificate names no revocation source fails
//! the action with 503 `revocation_unavailable` and changes nothing. A B-LT level without
//! `tsa_url` is refused at start.

use super::*;
use crate::common::certomancer::Certomancer;

/// The office's trust roots (its own CA) with certomancer's root beside them.
fn roots_with(c: &mut docflow::config::Config, extra: &Path, dir: &Path) {
    let mut pem = std::fs::read(&c.trust_roots_path).unwrap();
    pem.extend_from_slice(&std::fs::read(extra).unwrap());
    let both = dir.join("roots.pem");
    std::fs::write(&both, pem).unwrap();
    c.trust_roots_path = both.display().to_string();
}

fn add_p12(o: &Office, who: &str, p12: Vec<u8>) -> String {
    let r = upload_p12(o, who, p12);
    assert_eq!(r.status, 201, "{}", r.text);
    r.json["id"].as_str().unwrap().to_string()
}

fn route_signs_and_issues_at_b_lt(b: Backend) {
    let cm = Certomancer::start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("certomancer-root.pem");
    std::fs::copy(cm.root(), &root).unwrap();
    let (tsa, root_file, tmp) = (cm.tsa_url(), root.clone(), dir.path().to_path_buf());
    let o = office(b, move |c| {
        c.tsa_url = tsa;
        c.signing_level = "b-lt".into();
        roots_with(c, &root_file, &tmp);
    });
    let director = add_p12(&o, "director", certomancer_p12(&cm, "signer"));
    seal_of(&o, certomancer_p12(&cm, "signer"));

    // A certificate that names no OCSP responder or CRL (the office CA's): its validation data
    // cannot be had, so the signature is not made at B-LT: 503, nothing stored, task open.
    let (no_sources, _) = credential(&o, "director", "Trần Văn Minh");
    let doc = reviewed_draft(&o, "Quyết định lưu trữ dài hạn", &["director"]);
    let t = task_id(&o, "director", &doc);
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": no_sources, "pin": PIN}),
        None,
    )
    .assert_problem(503, "revocation_unavailable");
    assert_eq!(versions(&o, &doc), 1);
    assert_eq!(task_id(&o, "director", &doc), t);

    // The certomancer signer: signed at B-LT in one new version.
    let r = act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": director, "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["signature"]["timestamp"].is_string(), "{}", r.text);
    assert_eq!(versions(&o, &doc), 2);
    let signed = dir.path().join(format!("b-lt-signed-{b:?}.pdf"));
    std::fs::write(&signed, latest_pdf(&o, &doc)).unwrap();

    // The clerk issues: the number's and the seal's signatures, with their data, one version.
    let t = task_id(&o, "clerk", &doc);
    let r = issue_task(&o, &t);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(versions(&o, &doc), 3);
    let issued = dir.path().join(format!("b-lt-issued-{b:?}.pdf"));
    std::fs::write(&issued, latest_pdf(&o, &doc)).unwrap();

    // Nothing answers from here on: the files must carry everything.
    drop(cm);
    crate::signing_ltv::assert_level(&signed, &root, "B-LT");
    crate::signing_ltv::assert_level(&issued, &root, "B-LT");
    let report = docflow::signing::verify::verify_pdf_file(
        &issued,
        &[openssl::x509::X509::from_pem(&std::fs::read(&root).unwrap()).unwrap()],
    )
    .unwrap();
    assert_eq!(report.signatures.len(), 3, "{report:#?}");
    assert!(
        report.dss.as_ref().is_some_and(|d| d.ocsps >= 1),
        "{report:#?}"
    );
}

/// `signing_level` is checked at start: an unknown level, or B-LT without a TSA, is refused
/// with the setting named.
#[test]
fn signing_level_is_checked_at_start() {
    for (level, tsa, says) in [
        ("b-lt", "", "DOCFLOW_TSA_URL"),
        ("b-lta", "", "DOCFLOW_TSA_URL"),
        ("ltv", "http://127.0.0.1:9/tsa", "b-b, b-t, b-lt or b-lta"),
    ] {
        let env = |k: &str| match k {
            "DOCFLOW_SIGNING_LEVEL" => Some(level.to_string()),
            "DOCFLOW_TSA_URL" => Some(tsa.to_string()),
            _ => None,
        };
        let e = docflow::config::Config::load_with(None, env).expect_err(level);
        let text = e.to_string();
        assert!(
            text.contains("DOCFLOW_SIGNING_LEVEL") && text.contains(says),
            "{level}: {text}"
        );
    }
    let env = |k: &str| match k {
        "DOCFLOW_SIGNING_LEVEL" => Some("B-LTA".to_string()),
        "DOCFLOW_TSA_URL" => Some("http://127.0.0.1:9/tsa".to_string()),
        _ => None,
    };
    let c = docflow::config::Config::load_with(None, env).expect("a valid level");
    assert_eq!(c.route_signing_level(), docflow::signing::ltv::Level::BLTA);
    let c = docflow::config::Config::load_with(None, |_| None).expect("defaults");
    assert_eq!(c.route_signing_level(), docflow::signing::ltv::Level::BB);
}

crate::both_backends!(route_signs_and_issues_at_b_lt);
