//! The matrix's office, seeded over HTTP once per backend (two direct database updates: the
//! API cannot archive a document yet, nor name a deputy for a period already over).

use super::{spec, Actor, Body, Doc, Matrix, Sub, Task, Unit, ACTORS, DOCS, PEOPLE};
use crate::common::{fixture, TestServer};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Password of every seeded person.
pub const PW: &str = "password-for-matrix-1";

/// Ids and tokens of what was seeded.
pub struct World {
    pub tokens: BTreeMap<Actor, String>,
    pub users: BTreeMap<Actor, String>,
    pub units: BTreeMap<Unit, String>,
    pub docs: BTreeMap<Doc, String>,
    /// One attachment of each of these documents.
    pub attachments: BTreeMap<Doc, String>,
    pub tasks: BTreeMap<Task, String>,
    /// The incoming register of A and of B.
    pub registers: BTreeMap<Unit, String>,
    pub template: String,
    pub notification: String,
    pub subs: BTreeMap<Sub, String>,
    /// The drafter's (remote) signing credential.
    pub credential: String,
    /// A user of B who is no actor: grants in the matrix name them.
    pub grantee: String,
    pub pdf: Vec<u8>,
    pub png: Vec<u8>,
}

fn ok(r: &crate::common::Resp, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "seeding, {what}: {}", r.text);
    r.json.clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// A small blue PNG on a transparent background.
pub fn png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 8, 4);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().expect("png header");
        w.write_image_data(&[0, 0, 200, 128].repeat(32))
            .expect("png data");
    }
    out
}

/// Seeds units, people, documents, routes, an assignment, grants, substitutions, a template,
/// a credential and a signature image.
pub fn seed(srv: &TestServer) -> World {
    let admin = srv.admin_token.clone();
    let a = srv.create_unit("MXA", "Phòng Hành chính", None);
    let a1 = srv.create_unit("MXA1", "Tổ Văn thư", Some(&a));
    let b = srv.create_unit("MXB", "Phòng Tài chính", None);
    let units = BTreeMap::from([(Unit::A, a.clone()), (Unit::A1, a1), (Unit::B, b.clone())]);
    let mut users = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    for (actor, username, unit, role) in PEOPLE {
        users.insert(
            actor,
            srv.create_user(username, PW, Some(&units[&unit]), &[role]),
        );
        tokens.insert(actor, srv.login(username, PW));
    }
    tokens.insert(Actor::Admin, admin.clone());
    users.insert(
        Actor::Admin,
        id(&ok(&srv.get("/api/v1/me", Some(&admin)), 200, "me")),
    );
    let grantee = srv.create_user("mx.grantee.b", PW, Some(&b), &["official"]);
    let r = srv.patch(
        &format!("/api/v1/units/{a}"),
        Some(&admin),
        &json!({"head_user_id": users[&Actor::HeadA]}),
    );
    ok(&r, 200, "unit head");
    let registers = BTreeMap::from([
        (
            Unit::A,
            srv.create_register(&tokens[&Actor::ClerkA], "incoming", "Sổ văn bản đến"),
        ),
        (
            Unit::B,
            srv.create_register(&tokens[&Actor::ClerkB], "incoming", "Sổ văn bản đến"),
        ),
    ]);

    let pdf = fixture("valid-minimal.pdf");
    let mut docs = BTreeMap::new();
    for s in &DOCS {
        let meta = if s.kind == "incoming" {
            json!({"kind": "incoming", "type_code": "CV", "issuer": "UBND tỉnh",
                   "subject": format!("Ma trận quyền: {:?}", s.doc),
                   "confidentiality": s.confidentiality})
        } else {
            json!({"kind": "outgoing", "type_code": "TTr", "recipients": ["UBND tỉnh"],
                   "subject": format!("Ma trận quyền: {:?}", s.doc),
                   "confidentiality": s.confidentiality})
        };
        let d = srv.create_document(&tokens[&s.creator], &meta, pdf.clone());
        docs.insert(s.doc, id(&d));
    }
    let mut attachments = BTreeMap::new();
    for d in [Doc::Incoming, Doc::DraftConfidential, Doc::Foreign] {
        let r = srv.upload(
            &format!("/api/v1/documents/{}/attachments", docs[&d]),
            Some(&tokens[&spec(d).creator]),
            None,
            Some(("phu-luc.pdf", "application/pdf", pdf.clone())),
        );
        attachments.insert(d, id(&ok(&r, 201, "attachment")));
    }
    let grant = |d: Doc, to: &str| {
        let r = srv.post(
            &format!("/api/v1/documents/{}/grants", docs[&d]),
            Some(&tokens[&Actor::ClerkA]),
            &json!({"user_id": to}),
        );
        ok(&r, 201, "grant");
    };
    grant(Doc::Assigned, &users[&Actor::HeadA]);
    grant(Doc::TopSecret, &users[&Actor::OfficialB]);

    let mut tasks = BTreeMap::new();
    let r = srv.post(
        &format!("/api/v1/documents/{}/assignment", docs[&Doc::Assigned]),
        Some(&tokens[&Actor::HeadA]),
        &json!({"lead_user_id": users[&Actor::OfficialA], "deadline": "2099-12-31"}),
    );
    tasks.insert(Task::Assigned, id(&ok(&r, 201, "assignment")["lead"]));
    let stages = json!([{"kind": "review", "policy": "all",
                         "assignees": [{"user": users[&Actor::ReviewerA]}]}]);
    for (d, t) in [
        (Doc::Draft, Task::Draft),
        (Doc::DraftConfidential, Task::DraftConfidential),
    ] {
        let r = srv.post(
            &format!("/api/v1/documents/{}/route", docs[&d]),
            Some(&tokens[&Actor::DrafterA]),
            &json!({"stages": stages}),
        );
        let route = ok(&r, 201, "route");
        tasks.insert(t, id(&route["stages"][0]["tasks"][0]));
    }

    // The reviewer's deputies: one now, one from the day after tomorrow, one whose period
    // is moved into the past below (the API refuses to create one that has ended).
    let at = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let substitute = |deputy: Actor, starts: i64, ends: i64| {
        let r = srv.post(
            "/api/v1/substitutions",
            Some(&tokens[&Actor::ReviewerA]),
            &json!({"deputy_id": users[&deputy], "capacity": "kt",
                    "starts_at": at(starts), "ends_at": at(ends)}),
        );
        id(&ok(&r, 201, "substitution"))
    };
    let subs = BTreeMap::from([
        (Sub::Now, substitute(Actor::DeputyNow, 0, 3)),
        (Sub::Later, substitute(Actor::DeputyLater, 2, 5)),
    ]);
    let past = substitute(Actor::DeputyPast, 0, 1);
    {
        use diesel::prelude::*;
        use docflow::db::schema::{documents, substitutions};
        let mut conn = srv.db.connect();
        let now = chrono::Utc::now().naive_utc();
        diesel::update(substitutions::table.find(&past))
            .set((
                substitutions::starts_at.eq(now - chrono::Duration::days(10)),
                substitutions::ends_at.eq(now - chrono::Duration::days(5)),
            ))
            .execute(&mut conn)
            .expect("move a substitution into the past");
        diesel::update(documents::table.find(&docs[&Doc::Archived]))
            .set(documents::status.eq("archived"))
            .execute(&mut conn)
            .expect("archive a document");
    }

    let r = srv.post(
        "/api/v1/route-templates",
        Some(&admin),
        &json!({"name": "Mẫu ma trận", "stages": stages}),
    );
    let template = id(&ok(&r, 201, "template"));
    let r = srv.get("/api/v1/notifications?limit=1", Some(&admin));
    let notification = id(&ok(&r, 200, "notifications")[0]);
    let r = srv.post(
        "/api/v1/me/signing-credentials",
        Some(&tokens[&Actor::DrafterA]),
        &json!({"kind": "csc", "label": "Ký số từ xa", "base_url": "https://csc.example.vn/csc/v1",
                "credential_id": "mx-drafter", "auth": "none"}),
    );
    let credential = id(&ok(&r, 201, "credential"));
    let png = png();
    let r = srv.send_raw(
        "PUT",
        "/api/v1/me/signature-image",
        Some(&tokens[&Actor::DrafterA]),
        "image/png",
        png.clone(),
    );
    ok(&r, 200, "signature image");

    World {
        tokens,
        users,
        units,
        docs,
        attachments,
        tasks,
        registers,
        template,
        notification,
        subs,
        credential,
        grantee,
        pdf,
        png,
    }
}

/// The document listing shows each caller exactly the seeded documents the model says they
/// see, and the inbox exactly the tasks they hold.
pub fn check_listings(m: &Matrix) {
    let w = &m.world;
    let ours: BTreeMap<String, Doc> = w.docs.iter().map(|(d, id)| (id.clone(), *d)).collect();
    let tasks: BTreeMap<String, Task> = w.tasks.iter().map(|(t, id)| (id.clone(), *t)).collect();
    for a in ACTORS.into_iter().filter(|a| a.signed_in()) {
        let r = m.call(a, "GET", "/api/v1/documents?limit=200", Body::Empty);
        assert_eq!(r.status, 200, "{a:?}'s list: {}", r.text);
        let listed: BTreeSet<Doc> = r.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|d| d["id"].as_str().and_then(|id| ours.get(id)))
            .copied()
            .collect();
        let want: BTreeSet<Doc> = DOCS
            .iter()
            .filter(|s| s.seers.contains(&a))
            .map(|s| s.doc)
            .collect();
        assert_eq!(listed, want, "the documents {a:?} lists");
        let r = m.call(a, "GET", "/api/v1/tasks", Body::Empty);
        assert_eq!(r.status, 200, "{a:?}'s inbox: {}", r.text);
        let held: BTreeSet<Task> = r
            .json
            .as_array()
            .expect("inbox")
            .iter()
            .filter_map(|i| i["task"]["id"].as_str().and_then(|id| tasks.get(id)))
            .copied()
            .collect();
        let want: BTreeSet<Task> = [Task::Draft, Task::DraftConfidential, Task::Assigned]
            .into_iter()
            .filter(|t| super::holders(*t).contains(&a))
            .collect();
        assert_eq!(held, want, "the tasks in {a:?}'s inbox");
    }
}
