//! Signing inside a route, over HTTP on both databases: a draft climbs review → the director
//! signs with a `server` credential → the clerk issues it with the number and the unit's seal;
//! pyHanko and docflow's own verify judge every signature of the issued file, `pdftotext`
//! shows the number, the date and the capacity line, page renders are kept for a look. The
//! refusals (wrong PIN, foreign task, bare approve, TSA outage) change nothing.

mod extras;
mod long_term;
mod normalise;
mod pin_and_capacity;

use crate::common::pyhanko;
use crate::common::testca::*;
use crate::common::{Backend, Resp, TestServer};
use crate::pdfgen;
use docflow::signing::verify::verify_pdf;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const PW: &str = "password-for-tests-1";
const PIN: &str = "246810";
const SEAL_PIN: &str = "135790";
const P12_PASSWORD: &str = "p12-password";

/// A department with its director, deputy, a reviewer, a drafter, a clerk and an outsider, a
/// CA the server trusts, and an outgoing register.
struct Office {
    srv: TestServer,
    ca: Ca,
    so: String,
    ids: HashMap<&'static str, String>,
    tokens: HashMap<&'static str, String>,
    register: String,
}

impl Office {
    fn id(&self, who: &str) -> &str {
        &self.ids[who]
    }
    fn tok(&self, who: &str) -> &str {
        &self.tokens[who]
    }
}

fn office(b: Backend, tune: impl FnOnce(&mut docflow::config::Config)) -> Office {
    let ca = ca("docflow Route Signing Test CA");
    let roots = ca.pem.display().to_string();
    let srv = TestServer::start_with(b, move |c| {
        c.trust_roots_path = roots;
        tune(c);
    });
    office_on(srv, ca)
}

/// The office's units, people and register on a running server that trusts `ca`.
fn office_on(srv: TestServer, ca: Ca) -> Office {
    let so = srv.create_unit("SLDTBXH", "Sở Lao động - Thương binh và Xã hội", None);
    let phong = srv.create_unit("PVL", "Phòng Việc làm", Some(&so));
    let x = srv.create_unit("X", "Sở khác", None);
    let people: [(&'static str, &str, &str, &String, &str); 6] = [
        ("director", "Trần Văn Minh", "Giám đốc", &so, "official"),
        ("deputy", "Lê Thị Hoa", "Phó Giám đốc", &so, "official"),
        ("head", "Phạm Văn Nam", "Trưởng phòng", &phong, "official"),
        ("drafter", "Đỗ Thu Trang", "Chuyên viên", &phong, "official"),
        ("clerk", "Vũ Thị Lan", "Văn thư", &so, "clerk"),
        ("outsider", "Ngô Văn Khác", "Chuyên viên", &x, "official"),
    ];
    let mut ids = HashMap::new();
    let mut tokens = HashMap::new();
    for (name, full_name, position, unit, role) in people {
        let r = srv.post(
            "/api/v1/users",
            Some(&srv.admin_token),
            &json!({"username": name, "password": PW, "full_name": full_name,
                    "position_title": position, "email": format!("{name}@example.gov.vn"),
                    "unit_id": unit, "roles": [role]}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        ids.insert(name, r.json["id"].as_str().unwrap().to_string());
        tokens.insert(name, srv.login(name, PW));
    }
    let r = srv.patch(
        &format!("/api/v1/units/{so}"),
        Some(&srv.admin_token),
        &json!({"head_user_id": ids["director"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let register = srv.create_register(&tokens["clerk"], "outgoing", "Sổ văn bản đi 2026");
    Office {
        srv,
        ca,
        so,
        ids,
        tokens,
        register,
    }
}

/// A PNG of `width` × `height` filled with one RGBA colour.
fn png(width: u32, height: u32, rgba: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let mut px = vec![0u8; (width * height * 4) as usize];
        for (i, p) in px.chunks_mut(4).enumerate() {
            // A ring, so the render shows where the image sits.
            let (x, y) = ((i as u32 % width) as f64, (i as u32 / width) as f64);
            let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
            let d = (((x - cx) / cx).powi(2) + ((y - cy) / cy).powi(2)).sqrt();
            if (0.7..1.0).contains(&d) {
                p.copy_from_slice(&rgba);
            }
        }
        w.write_image_data(&px).unwrap();
    }
    out
}

/// Gives `who` a `server` credential issued by the office's CA (and a blue signature image);
/// returns the credential id and the certificate.
fn credential(o: &Office, who: &str, cn: &'static str) -> (String, openssl::x509::X509) {
    let (key, cert) = identity(&o.ca, &CertSpec::leaf(cn));
    let r = o.srv.upload(
        "/api/v1/me/signing-credentials",
        Some(o.tok(who)),
        Some(
            &json!({"kind": "server", "label": "Chữ ký số", "pin": PIN, "password": P12_PASSWORD}),
        ),
        Some((
            "chu-ky.p12",
            "application/x-pkcs12",
            pkcs12_of(&key, &cert, &o.ca, P12_PASSWORD),
        )),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let image = o.srv.send_raw(
        "PUT",
        "/api/v1/me/signature-image",
        Some(o.tok(who)),
        "image/png",
        png(240, 100, [20, 40, 200, 255]),
    );
    assert_eq!(image.status, 200, "{}", image.text);
    (r.json["id"].as_str().unwrap().to_string(), cert)
}

/// The unit's seal: a PKCS#12 of the organisation and a red seal PNG.
fn seal(o: &Office) {
    let (key, cert) = identity(
        &o.ca,
        &CertSpec::leaf("Sở Lao động - Thương binh và Xã hội"),
    );
    seal_of(o, pkcs12_of(&key, &cert, &o.ca, P12_PASSWORD));
}

/// The unit's seal made of `p12` (protected by `P12_PASSWORD`) and a red seal PNG.
fn seal_of(o: &Office, p12: Vec<u8>) {
    use reqwest::blocking::multipart::{Form, Part};
    let form = Form::new()
        .part(
            "metadata",
            Part::text(json!({"password": P12_PASSWORD, "pin": SEAL_PIN}).to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part("file", Part::bytes(p12).file_name("seal.p12"))
        .part(
            "image",
            Part::bytes(png(160, 160, [220, 20, 20, 255]))
                .file_name("seal.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let r = reqwest::blocking::Client::new()
        .put(o.srv.url(&format!("/api/v1/units/{}/seal", o.so)))
        .bearer_auth(&o.srv.admin_token)
        .multipart(form)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}", r.text().unwrap());
}

fn draft(o: &Office, subject: &str) -> String {
    o.srv.create_document(
        o.tok("drafter"),
        &json!({"kind": "outgoing", "type_code": "QĐ", "subject": subject,
                "issuer": "Sở Lao động - Thương binh và Xã hội", "issue_place": "Hà Nội",
                "recipients": ["UBND tỉnh"]}),
        pdfgen::table(1),
    )["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// review (head) → sign (`signers`, policy `all`) → issue (clerks of the department).
fn start(o: &Office, doc: &str, signers: &[&str]) {
    let signers: Vec<Value> = signers.iter().map(|s| json!({"user": o.id(s)})).collect();
    let r = o.srv.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("drafter")),
        &json!({"stages": [
            {"kind": "review", "assignees": [{"user": o.id("head")}]},
            {"kind": "sign", "policy": "all", "assignees": signers},
            {"kind": "issue", "policy": "any", "assignees": [{"role": "clerk", "unit": o.so}]},
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

/// A draft of the drafter routed review (head, approved) → sign (`signers`) → issue.
fn reviewed_draft(o: &Office, subject: &str, signers: &[&str]) -> String {
    let doc = draft(o, subject);
    start(o, &doc, signers);
    let t = task_id(o, "head", &doc);
    let r = act(o, "head", &t, &json!({"action": "approve"}), None);
    assert_eq!(r.status, 200, "{}", r.text);
    doc
}

/// The director is away for three days: the deputy acts for him, KT.
fn deputy_signs_for_director(o: &Office) {
    let ends = (chrono::Utc::now() + chrono::Duration::days(3)).naive_utc();
    let r = o.srv.post(
        "/api/v1/substitutions",
        Some(o.tok("director")),
        &json!({"deputy_id": o.id("deputy"), "capacity": "kt",
                "ends_at": ends.format("%Y-%m-%dT%H:%M:%SZ").to_string()}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

fn task_id(o: &Office, who: &str, doc: &str) -> String {
    let r = o.srv.get("/api/v1/tasks", Some(o.tok(who)));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["task"]["document_id"] == doc)
        .unwrap_or_else(|| panic!("{who} has no open task on the document: {}", r.text))["task"]
        ["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn act(o: &Office, who: &str, task: &str, body: &Value, key: Option<&str>) -> Resp {
    let mut req = reqwest::blocking::Client::new()
        .post(o.srv.url(&format!("/api/v1/tasks/{task}/actions")))
        .bearer_auth(o.tok(who))
        .json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = Resp::read(req.send().expect("request"));
    o.srv.assert_action_route_is_stored(o.tok(who), &resp);
    resp
}

fn versions(o: &Office, doc: &str) -> usize {
    let r = o
        .srv
        .get(&format!("/api/v1/documents/{doc}"), Some(o.tok("drafter")));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["versions"].as_array().unwrap().len()
}

fn latest_pdf(o: &Office, doc: &str) -> Vec<u8> {
    let r = o.srv.get(
        &format!("/api/v1/documents/{doc}/file"),
        Some(o.tok("drafter")),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.bytes
}

/// Where this run keeps the signed files and renders (under the target folder).
fn keep_dir() -> PathBuf {
    let dir = crate::common::pyhanko_verify::target_dir().join("route-signing");
    std::fs::create_dir_all(&dir).unwrap();
    tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&dir)
        .unwrap()
        .keep()
}

fn pdftotext(pdf: &Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Renders the last page at 100 dpi next to the PDF (for a person to look at).
fn render(pdf: &Path) -> PathBuf {
    let prefix = pdf.with_extension("");
    let out = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "100", "-singlefile"])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .expect("pdftoppm (poppler-utils) is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = prefix.with_extension("png");
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    png
}

/// Both validators on a file: docflow's verify (every signature intact, valid, trusted) and
/// pyHanko (the same, with only signing changes after each earlier signature).
fn assert_valid(o: &Office, pdf: &[u8], path: &Path, signatures: usize) {
    let report = verify_pdf(pdf, std::slice::from_ref(&o.ca.cert)).expect("verify");
    assert_eq!(report.signatures.len(), signatures, "{report:#?}");
    assert!(report.all_valid, "{report:#?}");
    let text = pyhanko::validate_all(path, &[&o.ca.pem]);
    assert_eq!(
        text.matches("The signature is judged VALID").count(),
        signatures,
        "{text}"
    );
}

fn draft_is_signed_and_issued(b: Backend) {
    let o = office(b, |_| {});
    let (director_cred, director_cert) = credential(&o, "director", "Trần Văn Minh");
    seal(&o);
    let doc = draft(&o, "Quyết định về việc tổ chức tập huấn");
    start(&o, &doc, &["director"]);
    let t = task_id(&o, "head", &doc);
    let r = act(&o, "head", &t, &json!({"action": "approve"}), None);
    assert_eq!(r.status, 200, "{}", r.text);

    let t = task_id(&o, "director", &doc);
    // A bare approval does not sign: refused, nothing changes.
    act(&o, "director", &t, &json!({"action": "approve"}), None)
        .assert_problem(422, "signature_required");
    // Someone else's task is not found, and their PIN is not tried.
    act(
        &o,
        "outsider",
        &t,
        &json!({"action": "sign", "credential_id": director_cred, "pin": PIN}),
        None,
    )
    .assert_problem(404, "not_found");
    // A wrong PIN: refused and counted, nothing signed.
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": director_cred, "pin": "999999"}),
        None,
    )
    .assert_problem(403, "signing_pin_wrong");
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "pin": PIN}),
        None,
    )
    .assert_problem(422, "validation_failed");
    assert_eq!(versions(&o, &doc), 1);

    let sign = json!({"action": "sign", "credential_id": director_cred, "pin": PIN});
    let r = act(&o, "director", &t, &sign, Some("sign-once-1"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "approved", "{}", r.text);
    let s = &r.json["signature"];
    assert_eq!(s["version"], 2, "{}", r.text);
    let cert_sha =
        docflow::audit::service::hex(&openssl::sha::sha256(&director_cert.to_der().unwrap()));
    assert_eq!(s["certificate_sha256"], cert_sha.as_str());
    assert!(s["timestamp"].is_null(), "no TSA configured: B-B");
    // The retry with the same key answers the same, without signing twice.
    let again = act(&o, "director", &t, &sign, Some("sign-once-1"));
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["replayed"], true);
    assert_eq!(again.json["signature"]["sha256"], s["sha256"]);
    assert_eq!(versions(&o, &doc), 2);

    // The clerk issues: number, date and seal.
    let t = task_id(&o, "clerk", &doc);
    act(&o, "clerk", &t, &json!({"action": "approve"}), None)
        .assert_problem(422, "signature_required");
    act(
        &o,
        "clerk",
        &t,
        &json!({"action": "issue", "pin": SEAL_PIN}),
        None,
    )
    .assert_problem(422, "validation_failed");
    act(
        &o,
        "clerk",
        &t,
        &json!({"action": "issue", "register_id": o.register, "pin": "000000"}),
        None,
    )
    .assert_problem(403, "signing_pin_wrong");
    act(
        &o,
        "director",
        &t,
        &json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN}),
        None,
    )
    .assert_problem(404, "not_found");
    assert_eq!(versions(&o, &doc), 2);
    let r = act(
        &o,
        "clerk",
        &t,
        &json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["signature"]["version"], 3, "{}", r.text);
    assert_eq!(
        r.json["signature"]["number_symbol"], "01/QĐ-SLDTBXH",
        "{}",
        r.text
    );
    assert_eq!(r.json["route"]["status"], "completed", "{}", r.text);
    let d = o
        .srv
        .get(&format!("/api/v1/documents/{doc}"), Some(o.tok("drafter")));
    assert_eq!(d.json["status"], "issued", "{}", d.text);
    assert_eq!(
        d.json["registration"]["symbol"], "01/QĐ-SLDTBXH",
        "{}",
        d.text
    );
    assert!(d.json["issue_date"].as_str().is_some(), "{}", d.text);

    let pdf = latest_pdf(&o, &doc);
    let dir = keep_dir();
    let path = dir.join(format!("issued-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    // The director's, the number's and the seal's.
    assert_valid(&o, &pdf, &path, 3);
    let text = pdftotext(&path);
    let today = docflow::vntime::local_date(chrono::Utc::now().naive_utc());
    for needle in [
        "GIÁM ĐỐC".to_string(),
        "Trần Văn Minh".to_string(),
        "Số: 01/QĐ-SLDTBXH".to_string(),
        today.format("Hà Nội, ngày %d tháng %m năm %Y").to_string(),
    ] {
        assert!(
            text.contains(&needle),
            "{needle:?} not in the page text:\n{text}"
        );
    }
    let png = render(&path);
    eprintln!(
        "issued file {} and its render {}",
        path.display(),
        png.display()
    );

    // The audit chain names who signed with which certificate; the drafter hears of it.
    let events = o.srv.get(
        "/api/v1/audit/events?limit=500&object_type=task",
        Some(&o.srv.admin_token),
    );
    assert!(events.text.contains("task.signed"), "{}", events.text);
    assert!(events.text.contains("task.issued"), "{}", events.text);
    assert!(events.text.contains(&cert_sha), "{}", events.text);
    assert!(!events.text.contains(PIN) && !events.text.contains(SEAL_PIN));
}

fn deputy_signs_in_capacity_and_parallel_signers_chain(b: Backend) {
    let o = office(b, |_| {});
    let (director_cred, _) = credential(&o, "director", "Trần Văn Minh");
    let (deputy_cred, _) = credential(&o, "deputy", "Lê Thị Hoa");
    // The director and the head both sign one `all` stage, at the same moment.
    let doc = draft(&o, "Kế hoạch phối hợp");
    start(&o, &doc, &["director", "head"]);
    let (head_cred, _) = credential(&o, "head", "Phạm Văn Nam");
    let t = task_id(&o, "head", &doc);
    assert_eq!(
        act(&o, "head", &t, &json!({"action": "approve"}), None).status,
        200
    );
    let tasks = [task_id(&o, "director", &doc), task_id(&o, "head", &doc)];
    let creds = [director_cred.clone(), head_cred];
    let who = ["director", "head"];
    let answers = crate::common::race(2, |i| {
        act(
            &o,
            who[i],
            &tasks[i],
            &json!({"action": "sign", "credential_id": creds[i], "pin": PIN}),
            None,
        )
    });
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let mut made: Vec<i64> = answers
        .iter()
        .map(|r| r.json["signature"]["version"].as_i64().unwrap())
        .collect();
    made.sort();
    assert_eq!(made, vec![2, 3], "each signed over the other's version");
    let pdf = latest_pdf(&o, &doc);
    let dir = keep_dir();
    let path = dir.join(format!("parallel-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    assert_valid(&o, &pdf, &path, 2);

    // The director is away: the deputy signs KT. with her own credential.
    let doc = reviewed_draft(&o, "Công văn hướng dẫn", &["director"]);
    deputy_signs_for_director(&o);
    let t = task_id(&o, "director", &doc);
    // The director's credential is not the deputy's to use.
    act(
        &o,
        "deputy",
        &t,
        &json!({"action": "sign", "credential_id": director_cred, "pin": PIN}),
        None,
    )
    .assert_problem(404, "not_found");
    let r = act(
        &o,
        "deputy",
        &t,
        &json!({"action": "sign", "credential_id": deputy_cred, "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["capacity"], "kt", "{}", r.text);
    let pdf = latest_pdf(&o, &doc);
    let path = dir.join(format!("deputy-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    assert_valid(&o, &pdf, &path, 1);
    let text = pdftotext(&path);
    for needle in ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "Lê Thị Hoa"] {
        assert!(
            text.contains(needle),
            "{needle:?} not in the page text:\n{text}"
        );
    }
    let png = render(&path);
    eprintln!(
        "deputy's file {} and its render {}",
        path.display(),
        png.display()
    );
}

fn tsa_outage_changes_nothing(b: Backend) {
    // Nothing listens there: the TSA is down.
    let o = office(b, |c| c.tsa_url = "http://127.0.0.1:9/tsa".into());
    let (cred, _) = credential(&o, "director", "Trần Văn Minh");
    seal(&o);
    let doc = reviewed_draft(&o, "Thông báo lịch họp", &["director"]);
    let t = task_id(&o, "director", &doc);
    let r = act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": PIN}),
        Some("tsa-down-1"),
    );
    r.assert_problem(503, "tsa_unavailable");
    assert_eq!(versions(&o, &doc), 1);
    // The task is still open and the key can be retried later.
    assert_eq!(task_id(&o, "director", &doc), t);
    let route = o.srv.get(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("drafter")),
    );
    assert_eq!(route.json["current_stage"], 2, "{}", route.text);
}

/// A `token` credential of `who`: only the certificate goes to the server; the key stays here.
fn token_credential(o: &Office, who: &str, cn: &'static str) -> (String, PathBuf) {
    let (key, cert) = identity(&o.ca, &CertSpec::leaf(cn));
    let r = o.srv.post(
        "/api/v1/me/signing-credentials",
        Some(o.tok(who)),
        &json!({"kind": "token", "label": "USB token",
                "certificate": openssl::base64::encode_block(&cert.to_der().unwrap())}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let dir = keep_dir();
    let pem = dir.join(format!("{who}-token-key.pem"));
    std::fs::write(&pem, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (r.json["id"].as_str().unwrap().to_string(), pem)
}

/// The USB token's part, played by the openssl command: `openssl dgst -sha256 -sign KEY`
/// over the decoded `to_sign`; the signature in base64.
fn token_sign(key_pem: &Path, to_sign_b64: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("to-sign.der");
    std::fs::write(&input, openssl::base64::decode_block(to_sign_b64).unwrap()).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key_pem)
        .arg(&input)
        .output()
        .expect("the openssl command");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    openssl::base64::encode_block(&out.stdout)
}

fn prepare(o: &Office, who: &str, task: &str, credential: &str) -> Resp {
    o.srv.post(
        &format!("/api/v1/tasks/{task}/sign/prepare"),
        Some(o.tok(who)),
        &json!({"credential_id": credential}),
    )
}

fn complete(o: &Office, who: &str, task: &str, handle: &Value, signature: &str) -> Resp {
    o.srv.post(
        &format!("/api/v1/tasks/{task}/sign/complete"),
        Some(o.tok(who)),
        &json!({"handle": handle, "signature": signature}),
    )
}

fn token_signs_through_prepare_and_complete(b: Backend) {
    let o = office(b, |_| {});
    seal(&o);
    let (token, key) = token_credential(&o, "deputy", "Lê Thị Hoa");
    let (director_cred, _) = credential(&o, "director", "Trần Văn Minh");
    let doc = reviewed_draft(&o, "Quyết định ban hành quy chế", &["director"]);
    deputy_signs_for_director(&o);
    let t = task_id(&o, "director", &doc);
    // Not the outsider's task; a server credential does not prepare.
    prepare(&o, "outsider", &t, &token).assert_problem(404, "not_found");
    prepare(&o, "director", &t, &director_cred).assert_problem(422, "credential_not_usable");
    let p = prepare(&o, "deputy", &t, &token);
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.json["hash_algorithm"], "sha256");
    assert_eq!(p.json["version"], 1);
    let to_sign = p.json["to_sign"].as_str().unwrap().to_string();
    assert_eq!(
        openssl::base64::decode_block(&to_sign).unwrap()[0],
        0x31,
        "a DER SET OF"
    );
    // A signature by another key, and one that is not base64: refused, nothing changes.
    let stranger = o.ca.pem.parent().unwrap().join("stranger.pem");
    std::fs::write(&stranger, p256().private_key_to_pem_pkcs8().unwrap()).unwrap();
    complete(
        &o,
        "deputy",
        &t,
        &p.json["handle"],
        &token_sign(&stranger, &to_sign),
    )
    .assert_problem(422, "signature_invalid");
    complete(&o, "deputy", &t, &p.json["handle"], "%%% not base64")
        .assert_problem(422, "validation_failed");
    complete(
        &o,
        "outsider",
        &t,
        &p.json["handle"],
        &token_sign(&key, &to_sign),
    )
    .assert_problem(404, "not_found");
    assert_eq!(versions(&o, &doc), 1);
    // The token's signature of exactly those bytes completes it.
    let r = complete(
        &o,
        "deputy",
        &t,
        &p.json["handle"],
        &token_sign(&key, &to_sign),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "approved", "{}", r.text);
    assert_eq!(r.json["task"]["capacity"], "kt", "{}", r.text);
    assert_eq!(r.json["signature"]["version"], 2, "{}", r.text);
    // The handle is single use.
    let again = complete(
        &o,
        "deputy",
        &t,
        &p.json["handle"],
        &token_sign(&key, &to_sign),
    );
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(versions(&o, &doc), 2);

    let t = task_id(&o, "clerk", &doc);
    let r = act(
        &o,
        "clerk",
        &t,
        &json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let pdf = latest_pdf(&o, &doc);
    let path = keep_dir().join(format!("token-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    assert_valid(&o, &pdf, &path, 3);
    let text = pdftotext(&path);
    for needle in [
        "KT. GIÁM ĐỐC",
        "PHÓ GIÁM ĐỐC",
        "Lê Thị Hoa",
        "Số: 01/QĐ-SLDTBXH",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} not in the page text:\n{text}"
        );
    }
    render(&path);

    // Another signer of a parallel stage signs in between: prepare again.
    let doc = draft(&o, "Kế hoạch năm");
    start(&o, &doc, &["director", "head"]);
    let (head_token, head_key) = token_credential(&o, "head", "Phạm Văn Nam");
    let t = task_id(&o, "head", &doc);
    assert_eq!(
        act(&o, "head", &t, &json!({"action": "approve"}), None).status,
        200
    );
    let head_task = task_id(&o, "head", &doc);
    let p = prepare(&o, "head", &head_task, &head_token);
    assert_eq!(p.status, 200, "{}", p.text);
    let director_task = task_id(&o, "director", &doc);
    let r = act(
        &o,
        "deputy",
        &director_task,
        &json!({"action": "sign", "credential_id": director_cred, "pin": PIN}),
        None,
    );
    r.assert_problem(404, "not_found");
    let r = act(
        &o,
        "director",
        &director_task,
        &json!({"action": "sign", "credential_id": director_cred, "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let signed = token_sign(&head_key, p.json["to_sign"].as_str().unwrap());
    complete(&o, "head", &head_task, &p.json["handle"], &signed)
        .assert_problem(409, "version_changed");
    assert_eq!(versions(&o, &doc), 2);
    // An expired handle.
    let p = prepare(&o, "head", &head_task, &head_token);
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.json["version"], 2);
    expire_handles(&o);
    let signed = token_sign(&head_key, p.json["to_sign"].as_str().unwrap());
    complete(&o, "head", &head_task, &p.json["handle"], &signed)
        .assert_problem(422, "signing_handle_expired");
    let p = prepare(&o, "head", &head_task, &head_token);
    let signed = token_sign(&head_key, p.json["to_sign"].as_str().unwrap());
    let r = complete(&o, "head", &head_task, &p.json["handle"], &signed);
    assert_eq!(r.status, 200, "{}", r.text);
    let pdf = latest_pdf(&o, &doc);
    let path = keep_dir().join(format!("token-parallel-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    assert_valid(&o, &pdf, &path, 2);
}

/// Moves every prepared signature's end into the past, in the database itself.
fn expire_handles(o: &Office) {
    use diesel::prelude::*;
    let mut conn = o.srv.db.connect();
    let past = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let n = match &mut conn {
        docflow::db::DbConn::Pg(c) => {
            diesel::sql_query("UPDATE signing_handles SET expires_at = $1")
                .bind::<diesel::sql_types::Timestamp, _>(past)
                .execute(c)
        }
        docflow::db::DbConn::Sqlite(c) => {
            diesel::sql_query("UPDATE signing_handles SET expires_at = ?")
                .bind::<diesel::sql_types::Timestamp, _>(past)
                .execute(c)
        }
    }
    .unwrap();
    assert!(n >= 1);
    // A write of this process outside `db::write_tx`: the server serves nothing from memory
    // until its cache feed has seen it (src/cache).
    docflow::cache::committed();
}

/// A PKCS#12 of a certomancer entity with its chain (intermediate, root).
fn certomancer_p12(cm: &crate::common::certomancer::Certomancer, name: &str) -> Vec<u8> {
    let mut chain = openssl::stack::Stack::new().unwrap();
    chain.push(cm.cert("interm")).unwrap();
    chain.push(cm.cert("root")).unwrap();
    openssl::pkcs12::Pkcs12::builder()
        .name(name)
        .pkey(&cm.key(name))
        .cert(&cm.cert(name))
        .ca(chain)
        .build2(P12_PASSWORD)
        .unwrap()
        .to_der()
        .unwrap()
}

/// `who` uploads `p12` (protected by `P12_PASSWORD`) as a `server` credential with `PIN`.
fn upload_p12(o: &Office, who: &str, p12: Vec<u8>) -> Resp {
    o.srv.upload(
        "/api/v1/me/signing-credentials",
        Some(o.tok(who)),
        Some(
            &json!({"kind": "server", "label": "Chữ ký số", "pin": PIN, "password": P12_PASSWORD}),
        ),
        Some(("chu-ky.p12", "application/x-pkcs12", p12)),
    )
}

/// The clerk's `issue` of task `t` with the office's register and the seal's PIN.
fn issue_task(o: &Office, t: &str) -> Resp {
    act(
        o,
        "clerk",
        t,
        &json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN}),
        None,
    )
}

fn revoked_certificates_refuse(b: Backend) {
    // The PKI exists, its OCSP responder and CRLs do not answer yet.
    let mut cm = crate::common::certomancer::Certomancer::summon();
    let root = cm.root().display().to_string();
    let o = office(b, move |c| c.trust_roots_path = root);
    let add = |file: Vec<u8>| upload_p12(&o, "director", file);
    // Unreachable revocation sources do not block (logged): both are accepted now.
    let revoked = add(certomancer_p12(&cm, "revoked"));
    assert_eq!(revoked.status, 201, "{}", revoked.text);
    let good = add(certomancer_p12(&cm, "signer"));
    assert_eq!(good.status, 201, "{}", good.text);
    cm.animate();
    // Now the issuer's OCSP responder answers: the revoked certificate is refused at add…
    let r = add(certomancer_p12(&cm, "revoked"));
    r.assert_problem(422, "certificate_revoked");
    assert!(r.text.contains("2021"), "{}", r.text);
    // …and at use, with nothing signed; the good one signs.
    let doc = reviewed_draft(&o, "Thông báo kết quả", &["director"]);
    let t = task_id(&o, "director", &doc);
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": revoked.json["id"], "pin": PIN}),
        None,
    )
    .assert_problem(422, "certificate_revoked");
    assert_eq!(versions(&o, &doc), 1);
    let r = act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": good.json["id"], "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(versions(&o, &doc), 2);
}

fn csc_credential_signs_remotely(b: Backend) {
    let mut cm = crate::common::certomancer::Certomancer::start();
    let csc = cm.csc();
    let root = cm.root().display().to_string();
    let o = office(b, move |c| c.trust_roots_path = root);
    let r = o.srv.post(
        "/api/v1/me/signing-credentials",
        Some(o.tok("director")),
        &json!({"kind": "csc", "label": "Ký số từ xa", "base_url": csc,
                "credential_id": "testing-ca/signer", "api_version": "v1", "auth": "none"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let cred = r.json["id"].as_str().unwrap().to_string();
    let doc = reviewed_draft(&o, "Công văn ký số từ xa", &["director"]);
    let t = task_id(&o, "director", &doc);
    let r = act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json["signature"]["certificate_subject"]
            .as_str()
            .unwrap()
            .contains("Nguyen Van A"),
        "{}",
        r.text
    );
    let pdf = latest_pdf(&o, &doc);
    let path = keep_dir().join(format!("csc-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    let report = verify_pdf(&pdf, &[cm.cert("root")]).expect("verify");
    assert!(report.all_valid, "{report:#?}");
    let text = pyhanko::validate_all(&path, &[&cm.root()]);
    assert_eq!(
        text.matches("The signature is judged VALID").count(),
        1,
        "{text}"
    );

    // The service down: 503, nothing signed, the task still open.
    cm.stop_csc();
    let doc = reviewed_draft(&o, "Công văn thứ hai", &["director"]);
    let t = task_id(&o, "director", &doc);
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": PIN}),
        None,
    )
    .assert_problem(503, "signing_service_unavailable");
    assert_eq!(versions(&o, &doc), 1);
    assert_eq!(task_id(&o, "director", &doc), t);
}

/// An issue stage that names the document's own "Số, ký hiệu" box (`number_field`): the
/// number and date go into that empty signature field, in its rectangle; a document without
/// the field is refused (422 `signature_field_invalid`) with nothing numbered or stored.
fn issue_stamps_the_number_into_a_named_field(b: Backend) {
    let o = office(b, |_| {});
    let (director_cred, _) = credential(&o, "director", "Trần Văn Minh");
    seal(&o);
    let route = json!({"stages": [
        {"kind": "sign", "assignees": [{"user": o.id("director")}]},
        {"kind": "issue", "policy": "any", "assignees": [{"role": "clerk", "unit": o.so}],
         "signing": {"number_field": "SoKyHieu"}},
    ]});
    let issue = |pdf: Vec<u8>, subject: &str| -> (String, Resp) {
        let doc = o.srv.create_document(
            o.tok("drafter"),
            &json!({"kind": "outgoing", "type_code": "QĐ", "subject": subject,
                    "issuer": "Sở Lao động - Thương binh và Xã hội", "issue_place": "Hà Nội"}),
            pdf,
        )["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = o.srv.post(
            &format!("/api/v1/documents/{doc}/route"),
            Some(o.tok("drafter")),
            &route,
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let t = task_id(&o, "director", &doc);
        let r = act(
            &o,
            "director",
            &t,
            &json!({"action": "sign", "credential_id": director_cred, "pin": PIN}),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let t = task_id(&o, "clerk", &doc);
        let r = act(
            &o,
            "clerk",
            &t,
            &json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN}),
            None,
        );
        (doc, r)
    };
    // Without the field: refused, the number not taken, nothing stored.
    let (doc, r) = issue(pdfgen::table(1), "Quyết định không có ô số");
    r.assert_problem(422, "signature_field_invalid");
    assert_eq!(versions(&o, &doc), 2);
    task_id(&o, "clerk", &doc);

    let (doc, r) = issue(
        pdfgen::with_empty_field("SoKyHieu", [40.0, 700.0, 300.0, 745.0]),
        "Quyết định có ô số",
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["signature"]["number_symbol"], "01/QĐ-SLDTBXH",
        "{}",
        r.text
    );
    let pdf = latest_pdf(&o, &doc);
    let path = keep_dir().join(format!("number-field-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    assert_valid(&o, &pdf, &path, 3);
    let report = verify_pdf(&pdf, std::slice::from_ref(&o.ca.cert)).expect("verify");
    assert!(
        report.signatures.iter().any(|s| s.field == "SoKyHieu"),
        "{report:#?}"
    );
    let text = pdftotext(&path);
    assert!(text.contains("Số: 01/QĐ-SLDTBXH"), "{text}");
    render(&path);
}

/// The certificate is checked against the trust roots at each use, not only when it was added:
/// the office stops trusting the CA that issued the director's credential (a new root list,
/// the same data, the server restarted), and signing with it is refused, nothing signed.
fn trust_roots_are_checked_again_at_each_use(b: Backend) {
    let o = office(b, |_| {});
    let (cred, _) = credential(&o, "director", "Trần Văn Minh");
    let doc = reviewed_draft(&o, "Quyết định sau khi đổi gốc tin cậy", &["director"]);
    let t = task_id(&o, "director", &doc);
    let other = ca("docflow Another Root");
    let roots = other.pem.display().to_string();
    let data = o.srv.data_dir();
    let again = TestServer::start_on(o.srv.db.shared(), move |c| {
        c.trust_roots_path = roots;
        c.data_dir = data;
    });
    let token = again.login("director", PW);
    again
        .post(
            &format!("/api/v1/tasks/{t}/actions"),
            Some(&token),
            &json!({"action": "sign", "credential_id": cred, "pin": PIN}),
        )
        .assert_problem(422, "certificate_untrusted");
    let d = again.get(&format!("/api/v1/documents/{doc}"), Some(&token));
    assert_eq!(
        d.json["versions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        d.text
    );
    // Under the roots it was added with, the same credential signs.
    let r = act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Waits up to 30 s for `cond`.
fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    crate::common::wait_until(what, std::time::Duration::from_secs(30), cond)
}

/// The task's remote signature as the inbox shows it (`task.signing`).
fn inbox_signing(o: &Office, who: &str, doc: &str) -> Value {
    let r = o.srv.get("/api/v1/tasks", Some(o.tok(who)));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["task"]["document_id"] == doc)
        .map(|i| i["task"]["signing"].clone())
        .unwrap_or(Value::Null)
}

/// VNPT SmartCA: the holder confirms each signature on the phone. `sign` answers 202 pending
/// (asked again, the same pending one: nothing sent twice); the poller completes the task once
/// the holder confirmed, and the file is valid; a refusal and a confirmation that never comes
/// leave the task open with the reason, and signing again works.
fn smartca_signs_after_confirmation_on_the_phone(b: Backend) {
    use crate::common::fake_smartca::{FakeSmartCa, SP_ID, SP_PASSWORD};
    let o = office(b, |c| {
        c.smartca_sp_id = SP_ID.into();
        c.smartca_sp_password = SP_PASSWORD.into();
        c.remote_signing_poll_ms = 200;
    });
    let (key, cert) = identity(&o.ca, &CertSpec::leaf("Trần Văn Minh"));
    let fake = FakeSmartCa::start("001088000123", key, cert, o.ca.cert.clone());
    let r = o.srv.post(
        "/api/v1/me/signing-credentials",
        Some(o.tok("director")),
        &json!({"kind": "csc", "provider": "vnpt_smartca", "label": "VNPT SmartCA",
                "base_url": fake.base, "credential_id": "001088000123", "auth": "none"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let cred = r.json["id"].as_str().unwrap().to_string();
    // No PIN: the holder confirms in the SmartCA app.
    let sign = json!({"action": "sign", "credential_id": cred});

    let doc = reviewed_draft(&o, "Quyết định ký qua SmartCA", &["director"]);
    let t = task_id(&o, "director", &doc);
    let r = act(&o, "director", &t, &sign, Some("smartca-1"));
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json["signing"]["state"], "pending", "{}", r.text);
    let handle = r.json["signing"]["handle"].clone();
    let again = act(&o, "director", &t, &sign, Some("smartca-1"));
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.json["signing"]["handle"], handle);
    assert_eq!(fake.sign_requests(), 1, "asked twice for one signature");
    assert_eq!(inbox_signing(&o, "director", &doc)["state"], "pending");
    // The poller asks; nothing happens before the holder confirms.
    wait_until("the poller to ask twice", || fake.polls() >= 2);
    assert_eq!(versions(&o, &doc), 1);
    assert_eq!(task_id(&o, "director", &doc), t);
    fake.confirm();
    wait_until("the confirmed signature", || versions(&o, &doc) == 2);
    let pdf = latest_pdf(&o, &doc);
    let path = keep_dir().join(format!("smartca-{b:?}.pdf"));
    std::fs::write(&path, &pdf).unwrap();
    assert_valid(&o, &pdf, &path, 1);
    // The sign stage is done: the clerk has the issue task now.
    task_id(&o, "clerk", &doc);
    let route = o.srv.get(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("drafter")),
    );
    assert_eq!(route.status, 200, "{}", route.text);
    assert_eq!(
        route.json["stages"][1]["tasks"][0]["status"], "approved",
        "{}",
        route.text
    );

    // Refused on the phone: the task stays open with the reason; signing again works.
    // The same sign twice at the same moment (a double click): one request reaches the
    // provider, both answer the one pending signature.
    let doc = reviewed_draft(&o, "Công văn bị từ chối ký", &["director"]);
    let t = task_id(&o, "director", &doc);
    let asked = fake.sign_requests();
    let both = crate::common::race(2, |_| act(&o, "director", &t, &sign, None));
    for r in &both {
        assert_eq!(r.status, 202, "{}", r.text);
    }
    assert_eq!(
        both[0].json["signing"]["handle"],
        both[1].json["signing"]["handle"]
    );
    assert_eq!(fake.sign_requests(), asked + 1, "the phone asked twice");
    fake.refuse();
    wait_until("the refusal", || {
        inbox_signing(&o, "director", &doc)["state"] == "failed"
    });
    let failed = inbox_signing(&o, "director", &doc);
    assert!(
        failed["reason"].as_str().unwrap().contains("từ chối"),
        "{failed}"
    );
    assert_eq!(versions(&o, &doc), 1);
    let r = act(&o, "director", &t, &sign, None);
    assert_eq!(r.status, 202, "{}", r.text);
    assert_ne!(r.json["signing"]["handle"], failed["handle"]);
    fake.confirm();
    wait_until("the second attempt", || versions(&o, &doc) == 2);

    // Never confirmed: after the service's expiry the task is open again with the reason.
    fake.expire_after(1);
    let doc = reviewed_draft(&o, "Công văn không được xác nhận", &["director"]);
    let t = task_id(&o, "director", &doc);
    let r = act(&o, "director", &t, &sign, None);
    assert_eq!(r.status, 202, "{}", r.text);
    wait_until("the expiry", || {
        inbox_signing(&o, "director", &doc)["state"] == "failed"
    });
    let failed = inbox_signing(&o, "director", &doc);
    assert!(
        failed["reason"].as_str().unwrap().contains("in time"),
        "{failed}"
    );
    fake.confirm();
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(versions(&o, &doc), 1, "a late confirmation must not sign");
    assert_eq!(task_id(&o, "director", &doc), t);
}

/// The issue's journey in one go: two drafts climb review by two reviewers (`all`); the director
/// signs the first with a `server` credential, the deputy (KT.) the second with a USB token;
/// the clerk issues both: numbers 01 and 02 and the seal; every signature of both files is
/// valid in pyHanko and in docflow's verify.
fn the_journey(b: Backend) {
    let o = office(b, |_| {});
    seal(&o);
    let (director_cred, _) = credential(&o, "director", "Trần Văn Minh");
    let (token, key) = token_credential(&o, "deputy", "Lê Thị Hoa");
    let r = o.srv.post(
        "/api/v1/users",
        Some(&o.srv.admin_token),
        &json!({"username": "legal", "password": PW, "full_name": "Hoàng Văn Luật",
                "position_title": "Trưởng phòng Pháp chế", "email": "legal@example.gov.vn",
                "unit_id": o.so, "roles": ["official"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let legal_id = r.json["id"].as_str().unwrap().to_string();
    let legal_token = o.srv.login("legal", PW);
    let route = |doc: &str| {
        let r = o.srv.post(
            &format!("/api/v1/documents/{doc}/route"),
            Some(o.tok("drafter")),
            &json!({"stages": [
                {"kind": "review", "policy": "all",
                 "assignees": [{"user": o.id("head")}, {"user": legal_id}]},
                {"kind": "sign", "assignees": [{"user": o.id("director")}]},
                {"kind": "issue", "policy": "any", "assignees": [{"role": "clerk", "unit": o.so}]},
            ]}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    };
    let reviews = |doc: &str| {
        let t = task_id(&o, "head", doc);
        assert_eq!(
            act(&o, "head", &t, &json!({"action": "approve"}), None).status,
            200
        );
        let r = o.srv.get("/api/v1/tasks", Some(&legal_token));
        let t = r
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["task"]["document_id"] == doc)
            .unwrap()["task"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = reqwest::blocking::Client::new()
            .post(o.srv.url(&format!("/api/v1/tasks/{t}/actions")))
            .bearer_auth(&legal_token)
            .json(&json!({"action": "approve"}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    };
    let first = draft(&o, "Quyết định thành lập tổ công tác");
    let second = draft(&o, "Quyết định giao chỉ tiêu");
    route(&first);
    route(&second);
    reviews(&first);
    reviews(&second);
    // The director signs the first.
    let t = task_id(&o, "director", &first);
    let r = act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": director_cred, "pin": PIN}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // The deputy signs the second for the director (KT.), with her token.
    deputy_signs_for_director(&o);
    let t = task_id(&o, "director", &second);
    let p = prepare(&o, "deputy", &t, &token);
    assert_eq!(p.status, 200, "{}", p.text);
    let signature = token_sign(&key, p.json["to_sign"].as_str().unwrap());
    let r = complete(&o, "deputy", &t, &p.json["handle"], &signature);
    assert_eq!(r.status, 200, "{}", r.text);
    // The clerk issues both, in order: 01 and 02.
    let dir = keep_dir();
    for (doc, number, kt) in [(&first, "01", false), (&second, "02", true)] {
        let t = task_id(&o, "clerk", doc);
        let r = act(
            &o,
            "clerk",
            &t,
            &json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN}),
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let symbol = format!("{number}/QĐ-SLDTBXH");
        assert_eq!(
            r.json["signature"]["number_symbol"],
            symbol.as_str(),
            "{}",
            r.text
        );
        let pdf = latest_pdf(&o, doc);
        let path = dir.join(format!("journey-{number}-{b:?}.pdf"));
        std::fs::write(&path, &pdf).unwrap();
        assert_valid(&o, &pdf, &path, 3);
        let text = pdftotext(&path);
        assert!(text.contains(&format!("Số: {symbol}")), "{text}");
        assert!(text.contains(" tháng "), "{text}");
        assert_eq!(text.contains("KT. GIÁM ĐỐC"), kt, "{text}");
        render(&path);
    }
}

/// An office still signing and sealing on paper: `approve` closes its sign stage, `issue` without
/// a PIN numbers the document and issues it; the file is not touched.
fn paper_office_issues_with_a_number_only(b: Backend) {
    let o = office(b, |_| {});
    let doc = draft(&o, "Tờ trình bản giấy");
    let paper = json!({"requires_signature": false});
    let r = o.srv.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("drafter")),
        &json!({"stages": [
            {"kind": "sign", "assignees": [{"user": o.id("director")}], "signing": paper},
            {"kind": "issue", "policy": "any", "assignees": [{"role": "clerk", "unit": o.so}],
             "signing": paper},
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json["stages"][0]["signing"]["requires_signature"], false,
        "{}",
        r.text
    );
    let t = task_id(&o, "director", &doc);
    assert_eq!(
        act(&o, "director", &t, &json!({"action": "approve"}), None).status,
        200
    );
    let t = task_id(&o, "clerk", &doc);
    act(&o, "clerk", &t, &json!({"action": "issue"}), None)
        .assert_problem(422, "validation_failed");
    let r = act(
        &o,
        "clerk",
        &t,
        &json!({"action": "issue", "register_id": o.register}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["signature"].is_null(), "{}", r.text);
    let d = o
        .srv
        .get(&format!("/api/v1/documents/{doc}"), Some(o.tok("drafter")));
    assert_eq!(d.json["status"], "issued", "{}", d.text);
    assert_eq!(
        d.json["registration"]["symbol"], "01/QĐ-SLDTBXH",
        "{}",
        d.text
    );
    assert_eq!(versions(&o, &doc), 1);
    // A signing place on a review stage, or a rectangle off the page, is refused at start.
    let doc = draft(&o, "Tờ trình khác");
    for stages in [
        json!([{"kind": "review", "assignees": [{"user": o.id("head")}], "signing": paper}]),
        json!([{"kind": "sign", "assignees": [{"user": o.id("director")}],
                "signing": {"stamp": {"page": 1, "rect": [0, 0, 5, 5]}}}]),
        json!([{"kind": "sign", "assignees": [{"user": o.id("director")}],
                "signing": {"stamp": {"page": 1, "rect": [0, 0, 99999, 50]}}}]),
        json!([{"kind": "sign", "assignees": [{"user": o.id("director")}],
                "signing": {"number_place": {"page": 1, "rect": [40, 700, 300, 745]}}}]),
    ] {
        o.srv
            .post(
                &format!("/api/v1/documents/{doc}/route"),
                Some(o.tok("drafter")),
                &json!({"stages": stages}),
            )
            .assert_problem(422, "validation_failed");
    }
}

/// `GET /reports/digital`: one document issued with signatures throughout, one on paper, two
/// incoming (one electronic, one on paper): shares and counts for the issuing unit, CSV too,
/// and the lateness report's access rules.
fn digital_report_counts_what_was_signed(b: Backend) {
    let o = office(b, |_| {});
    seal(&o);
    let (cred, _) = credential(&o, "director", "Trần Văn Minh");
    let digital = reviewed_draft(&o, "Quyết định ký số", &["director"]);
    let t = task_id(&o, "director", &digital);
    let sign = json!({"action": "sign", "credential_id": cred, "pin": PIN});
    assert_eq!(act(&o, "director", &t, &sign, None).status, 200);
    let t = task_id(&o, "clerk", &digital);
    let issue = json!({"action": "issue", "register_id": o.register, "pin": SEAL_PIN});
    assert_eq!(act(&o, "clerk", &t, &issue, None).status, 200);

    let on_paper = draft(&o, "Quyết định ký giấy");
    let paper = json!({"requires_signature": false});
    let r = o.srv.post(
        &format!("/api/v1/documents/{on_paper}/route"),
        Some(o.tok("drafter")),
        &json!({"stages": [
            {"kind": "sign", "assignees": [{"user": o.id("director")}], "signing": paper},
            {"kind": "issue", "policy": "any", "assignees": [{"role": "clerk", "unit": o.so}],
             "signing": paper},
        ]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let t = task_id(&o, "director", &on_paper);
    assert_eq!(
        act(&o, "director", &t, &json!({"action": "approve"}), None).status,
        200
    );
    let t = task_id(&o, "clerk", &on_paper);
    let r = act(
        &o,
        "clerk",
        &t,
        &json!({"action": "issue", "register_id": o.register}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);

    for channel in ["national_platform", "paper"] {
        o.srv.create_document(
            o.tok("clerk"),
            &json!({"kind": "incoming", "type_code": "CV", "subject": format!("Công văn qua {channel}"),
                    "number_symbol": "5/UBND", "issue_date": "2026-11-20", "issuer": "UBND tỉnh",
                    "received_channel": channel}),
            pdfgen::table(1),
        );
    }
    let today = docflow::vntime::local_date(chrono::Utc::now().naive_utc());
    let path = format!(
        "/api/v1/reports/digital?unit={}&from={today}&to={today}",
        o.so
    );
    let r = o.srv.get(&path, Some(o.tok("clerk")));
    assert_eq!(r.status, 200, "{}", r.text);
    let line = r.json["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["unit_id"] == o.so.as_str())
        .unwrap_or_else(|| panic!("no line for the department: {}", r.text))
        .clone();
    assert_eq!(line["outgoing_issued"], 2, "{}", r.text);
    assert_eq!(line["issued_digitally"], 1, "{}", r.text);
    assert_eq!(line["digital_share"], 0.5, "{}", r.text);
    assert_eq!(line["incoming_received"], 2, "{}", r.text);
    assert_eq!(line["incoming_electronic"], 1, "{}", r.text);
    assert_eq!(line["incoming_paper"], 1, "{}", r.text);
    let csv = o
        .srv
        .get(&format!("{path}&format=csv"), Some(o.tok("clerk")));
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert!(
        csv.content_type().starts_with("text/csv"),
        "{}",
        csv.content_type()
    );
    assert!(
        csv.text
            .contains("SLDTBXH,Sở Lao động - Thương binh và Xã hội,2,1,0.5000,2,1,1,"),
        "{}",
        csv.text
    );
    // Same access as the lateness report; bad input is a 4xx.
    o.srv
        .get(&path, Some(o.tok("outsider")))
        .assert_problem(403, "forbidden");
    o.srv
        .get(&format!("{path}&format=xlsx"), Some(o.tok("clerk")))
        .assert_problem(422, "validation_failed");
    o.srv
        .get(
            &format!(
                "/api/v1/reports/digital?unit={}&from={today}&to=2000-01-01",
                o.so
            ),
            Some(o.tok("clerk")),
        )
        .assert_problem(422, "validation_failed");
}

/// What an attacker sends to the signing endpoints: control and bidi characters in every new
/// string, a cut-off body, an oversized PIN, absurd places, and identical requests at once —
/// each a clear 4xx (or one winner), never a 500, with nothing signed twice.
fn hostile_signing_inputs(b: Backend) {
    let o = office(b, |_| {});
    let (cred, _) = credential(&o, "director", "Trần Văn Minh");
    let (token, key) = token_credential(&o, "director", "Trần Văn Minh");
    let doc = reviewed_draft(&o, "Công văn thử tấn công", &["director"]);
    let t = task_id(&o, "director", &doc);
    for bad in ["24\u{0}6810", "2468\r\n10", "\u{202e}246810"] {
        for body in [
            json!({"action": "sign", "credential_id": cred, "pin": bad}),
            json!({"action": "sign", "credential_id": format!("{cred}{bad}"), "pin": PIN}),
            json!({"action": "issue", "register_id": format!("{}{bad}", o.register), "pin": PIN}),
        ] {
            let r = act(&o, "director", &t, &body, None);
            assert!(
                (400..500).contains(&r.status) && r.json["code"].is_string(),
                "{body}: {} {}",
                r.status,
                r.text
            );
        }
        let r = o.srv.post(
            &format!("/api/v1/tasks/{t}/sign/prepare"),
            Some(o.tok("director")),
            &json!({"credential_id": format!("{token}{bad}")}),
        );
        assert!((400..500).contains(&r.status), "{}", r.text);
        let r = complete(
            &o,
            "director",
            &t,
            &json!(format!("x{bad}")),
            &format!("AAAA{bad}"),
        );
        assert!((400..500).contains(&r.status), "{}", r.text);
    }
    // A body cut off in the middle, an oversized PIN, a place off every page.
    o.srv
        .send_raw(
            "POST",
            &format!("/api/v1/tasks/{t}/actions"),
            Some(o.tok("director")),
            "application/json",
            br#"{"action": "sign", "credential_id": "#.to_vec(),
        )
        .assert_problem(400, "malformed_json");
    act(
        &o,
        "director",
        &t,
        &json!({"action": "sign", "credential_id": cred, "pin": "9".repeat(10_000)}),
        None,
    )
    .assert_problem(422, "validation_failed");
    let r = o.srv.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("drafter")),
        &json!({"stages": [{"kind": "sign", "assignees": [{"user": o.id("director")}],
                "signing": {"stamp": {"page": 4_294_967_296u64, "rect": [1, 1, 100, 100]}}}]}),
    );
    assert_eq!(r.status / 100, 4, "{}", r.text);
    assert_eq!(versions(&o, &doc), 1);

    // The same sign request twice at once, with one Idempotency-Key: one signature, one replay.
    let sign = json!({"action": "sign", "credential_id": cred, "pin": PIN});
    let answers = crate::common::race(2, |_| act(&o, "director", &t, &sign, Some("same-key")));
    for r in &answers {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let replayed = answers
        .iter()
        .filter(|r| r.json["replayed"] == true)
        .count();
    assert_eq!(replayed, 1, "exactly one of the two is the replay");
    assert_eq!(versions(&o, &doc), 2);

    // The same token completion twice at once: one 200, one 409.
    let doc = reviewed_draft(&o, "Công văn thứ hai", &["director"]);
    let t = task_id(&o, "director", &doc);
    let p = prepare(&o, "director", &t, &token);
    assert_eq!(p.status, 200, "{}", p.text);
    let signature = token_sign(&key, p.json["to_sign"].as_str().unwrap());
    let answers = crate::common::race(2, |_| {
        complete(&o, "director", &t, &p.json["handle"], &signature)
    });
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        vec![200, 409],
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(versions(&o, &doc), 2);
}

both_backends!(
    hostile_signing_inputs,
    the_journey,
    digital_report_counts_what_was_signed,
    paper_office_issues_with_a_number_only,
    draft_is_signed_and_issued,
    csc_credential_signs_remotely,
    smartca_signs_after_confirmation_on_the_phone,
    issue_stamps_the_number_into_a_named_field,
    trust_roots_are_checked_again_at_each_use,
    revoked_certificates_refuse,
    token_signs_through_prepare_and_complete,
    deputy_signs_in_capacity_and_parallel_signers_chain,
    tsa_outage_changes_nothing,
);
