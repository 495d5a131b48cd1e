//! Every operation of the API document, its class and what the matrix calls it on. A new
//! endpoint fails the matrix until it is added here (see `every_operation_answers_…`).
//!
//! Bodies are valid enough to pass the checks made before authorization (`ApiJson` reads the
//! body before the handler runs); what an allowed caller's call changes is kept harmless
//! (same names, a comment on a task, a register that exists) or left to the end of the table
//! (returns, grants, deletions, the recall, logout), and on each target the denied calls are
//! made first.

use super::world::{World, PW};
use super::{Actor, Body, Doc, Matrix, Op, Rule, Sub, Target, Task, Unit};
use serde_json::json;
use Target::Guessed;

fn op(method: &'static str, path: &'static str, rule: Rule, targets: Vec<Target>) -> Op {
    Op {
        method,
        path,
        rule,
        targets,
        query: "",
        body: |_, _, _| Body::Empty,
        before: None,
    }
}

impl Op {
    fn body(mut self, body: fn(&World, Actor, Target) -> Body) -> Op {
        self.body = body;
        self
    }
    fn query(mut self, query: &'static str) -> Op {
        self.query = query;
        self
    }
    fn before(mut self, before: fn(&Matrix, Target)) -> Op {
        self.before = Some(before);
        self
    }
}

const ALL_DOCS: [Doc; 9] = [
    Doc::Incoming,
    Doc::Assigned,
    Doc::Confidential,
    Doc::Secret,
    Doc::TopSecret,
    Doc::Draft,
    Doc::DraftConfidential,
    Doc::Archived,
    Doc::Foreign,
];

/// Every document, and a guessed id.
fn docs() -> Vec<Target> {
    ALL_DOCS
        .iter()
        .map(|&d| Target::Doc(d))
        .chain([Guessed])
        .collect()
}

fn these(d: &[Doc]) -> Vec<Target> {
    d.iter().map(|&d| Target::Doc(d)).chain([Guessed]).collect()
}

fn none() -> Vec<Target> {
    vec![Target::None]
}

fn tasks() -> Vec<Target> {
    vec![
        Target::Task(Task::Draft),
        Target::Task(Task::DraftConfidential),
        Target::Task(Task::Assigned),
        Guessed,
    ]
}

fn json(v: serde_json::Value) -> Body {
    Body::Json(v)
}

/// A PDF as the `file` part.
fn pdf_part(w: &World) -> Body {
    Body::Form(vec![(
        "file",
        Some("van-ban.pdf"),
        "application/pdf",
        w.pdf.clone(),
    )])
}

/// The document of a target (for bodies naming its unit's register).
fn unit_of(t: Target) -> Unit {
    match t {
        Target::Doc(d) => super::spec(d).unit,
        _ => Unit::A,
    }
}

/// Puts back the grant that `DELETE …/grants/{user_id}` withdraws (409 when it is there).
fn regrant(m: &Matrix, t: Target) {
    if let Target::Doc(d) = t {
        let r = m.call(
            Actor::Admin,
            "POST",
            &format!("/api/v1/documents/{}/grants", m.world.docs[&d]),
            json(json!({"user_id": m.world.grantee})),
        );
        assert!(matches!(r.status, 201 | 409), "re-grant: {}", r.text);
    }
}

/// The operations, reads first, changes after, what ends something last.
pub fn operations() -> Vec<Op> {
    use Rule::*;
    let users = vec![Target::User(Actor::DrafterA), Guessed];
    let units = vec![Target::Unit(Unit::A), Target::Unit(Unit::B), Guessed];
    let registers = vec![
        Target::Register(Unit::A),
        Target::Register(Unit::B),
        Guessed,
    ];
    vec![
        // System and sign-in.
        op("GET", "/healthz", Public, none()),
        op("GET", "/readyz", Public, none()),
        op("POST", "/api/v1/auth/login", Public, none())
            .body(|_, _, _| json(json!({"username": "mx.drafter.a", "password": PW}))),
        op("GET", "/api/v1/me", SignedIn, none()),
        op("PUT", "/api/v1/me/password", SignedIn, none()).body(|_, _, _| json(json!({}))),
        // Accounts.
        op("GET", "/api/v1/units", SignedIn, none()),
        op("GET", "/api/v1/units/{id}", SignedIn, units.clone()),
        op("POST", "/api/v1/units", Admin, none())
            .body(|_, _, _| json(json!({"code": "MXZ", "name": "Phòng mới"}))),
        op("PATCH", "/api/v1/units/{id}", Admin, units)
            .body(|_, _, _| json(json!({"name": "Phòng Hành chính"}))),
        op("GET", "/api/v1/users", Admin, none()),
        op("POST", "/api/v1/users", Admin, none()).body(|_, _, _| {
            json(
                json!({"username": "mx.new", "password": PW, "full_name": "Trần Thị Mai",
                        "email": "mx.new@example.gov.vn", "roles": ["official"]}),
            )
        }),
        op("GET", "/api/v1/users/{id}", SelfOrAdmin, users.clone()),
        op("PATCH", "/api/v1/users/{id}", Admin, users.clone())
            .body(|_, _, _| json(json!({"full_name": "Nguyễn Văn Đức"}))),
        // Audit and notifications.
        op("GET", "/api/v1/audit/events", Admin, none()),
        op("GET", "/api/v1/audit/verify", Admin, none()),
        op("GET", "/api/v1/notifications", Admin, none()),
        op(
            "POST",
            "/api/v1/notifications/{id}/retry",
            Admin,
            vec![Target::Notification, Guessed],
        ),
        op("PUT", "/api/v1/notifications/clock", Admin, none())
            .body(|_, _, _| json(json!({"now": "2026-12-01T08:00:00Z"}))),
        op(
            "GET",
            "/api/v1/me/notification-preferences",
            SignedIn,
            none(),
        ),
        op(
            "PUT",
            "/api/v1/me/notification-preferences",
            SignedIn,
            none(),
        )
        .body(|_, _, _| json(json!({}))),
        // Credentials.
        op("GET", "/api/v1/me/signing-credentials", SignedIn, none()),
        op("POST", "/api/v1/me/signing-credentials", SignedIn, none())
            .body(|_, _, _| json(json!({"kind": "token", "label": "USB", "certificate": "AAAA"}))),
        // The world's credential is a remote one: its holder gets past authorization to 422
        // `credential_has_no_pin`; nobody else learns it exists.
        op(
            "PUT",
            "/api/v1/me/signing-credentials/{id}/pin",
            CredentialOwner,
            vec![Target::Credential, Guessed],
        )
        .body(|_, _, _| json(json!({"pin": "864213", "new_pin": "531246"}))),
        op("GET", "/api/v1/me/signature-image", OwnImage, none()),
        op("PUT", "/api/v1/me/signature-image", SignedIn, none())
            .body(|_, _, _| Body::Raw("image/png", b"\x89PNG\r\n\x1a\nnot really".to_vec())),
        // The unit is looked up before the PKCS#12 is read: a guessed unit is 404, unit A's
        // answer is about the file.
        op(
            "PUT",
            "/api/v1/units/{id}/seal",
            Admin,
            vec![Target::Unit(Unit::A), Guessed],
        )
        .body(|w, _, _| {
            Body::Form(vec![
                (
                    "metadata",
                    None,
                    "application/json",
                    br#"{"password": "x", "pin": "864213"}"#.to_vec(),
                ),
                (
                    "file",
                    Some("seal.p12"),
                    "application/x-pkcs12",
                    b"not p12".to_vec(),
                ),
                ("image", Some("seal.png"), "image/png", w.png.clone()),
            ])
        }),
        op(
            "POST",
            "/api/v1/users/{id}/signing-credentials",
            Admin,
            users,
        )
        .body(|_, _, _| json(json!({"pin": "864213"}))),
        // Documents: reading.
        op("GET", "/api/v1/document-types", SignedIn, none()),
        op("POST", "/api/v1/document-types", Admin, none())
            .body(|_, _, _| json(json!({"code": "MX", "name": "Ma trận"}))),
        op("GET", "/api/v1/documents", SignedIn, none()),
        op("GET", "/api/v1/documents/{id}", Sees, docs()),
        op("GET", "/api/v1/documents/{id}/file", Sees, docs()),
        op(
            "GET",
            "/api/v1/documents/{id}/versions/{number}/file",
            Sees,
            docs(),
        ),
        op("GET", "/api/v1/documents/{id}/signatures", Sees, docs()),
        op(
            "GET",
            "/api/v1/documents/{id}/versions/{number}/signatures",
            Sees,
            docs(),
        ),
        op(
            "GET",
            "/api/v1/documents/{id}/attachments/{attachment_id}/file",
            Sees,
            vec![
                Target::Attachment(Doc::Incoming, Doc::Incoming),
                Target::Attachment(Doc::DraftConfidential, Doc::DraftConfidential),
                Target::Attachment(Doc::Foreign, Doc::Foreign),
                // Another unit's attachment under one's own document.
                Target::Attachment(Doc::Incoming, Doc::Foreign),
                Guessed,
            ],
        ),
        op("GET", "/api/v1/documents/{id}/grants", GrantManager, docs()),
        op(
            "GET",
            "/api/v1/documents/{id}/route",
            Sees,
            these(&[Doc::Draft, Doc::DraftConfidential]),
        ),
        op(
            "GET",
            "/api/v1/documents/{id}/assignment",
            Sees,
            these(&[Doc::Assigned]),
        ),
        // Documents: changing.
        op("POST", "/api/v1/documents", Clerk, none()).body(|w, _, _| {
            let meta = json!({"kind": "incoming", "type_code": "CV", "subject": "Công văn mới",
                              "issuer": "Bộ Nội vụ"});
            Body::Form(vec![
                (
                    "metadata",
                    None,
                    "application/json",
                    meta.to_string().into_bytes(),
                ),
                (
                    "file",
                    Some("van-ban.pdf"),
                    "application/pdf",
                    w.pdf.clone(),
                ),
            ])
        }),
        op("POST", "/api/v1/documents/{id}/versions", Edits, docs()).body(|w, _, _| pdf_part(w)),
        op("POST", "/api/v1/documents/{id}/attachments", Edits, docs()).body(|w, _, _| pdf_part(w)),
        op(
            "POST",
            "/api/v1/documents/{id}/acknowledge",
            UnitClerk,
            docs(),
        ),
        op("POST", "/api/v1/documents/{id}/register", UnitClerk, docs())
            .body(|w, _, t| json(json!({"register_id": w.registers[&unit_of(t)]}))),
        op("POST", "/api/v1/documents/{id}/return", UnitClerk, docs())
            .body(|_, _, _| json(json!({"reason": "Gửi nhầm địa chỉ"}))),
        // Registers.
        op("GET", "/api/v1/registers", ClerkOrAdmin, none()),
        op("POST", "/api/v1/registers", ClerkOrAdmin, none())
            .body(|_, _, _| json(json!({"kind": "outgoing", "name": "Sổ văn bản đi"}))),
        op(
            "GET",
            "/api/v1/registers/{id}",
            RegisterManager,
            registers.clone(),
        ),
        op(
            "PATCH",
            "/api/v1/registers/{id}",
            RegisterManager,
            registers.clone(),
        )
        .body(|_, _, _| json(json!({"name": "Sổ văn bản đến"}))),
        op(
            "GET",
            "/api/v1/registers/{id}/report",
            RegisterManager,
            registers,
        )
        .query("?from=2026-01-01&to=2026-12-31"),
        // Workflow.
        op("GET", "/api/v1/tasks", SignedIn, none()),
        op("POST", "/api/v1/tasks/{id}/actions", TaskHolder, tasks())
            .body(|_, _, _| json(json!({"action": "comment", "comment": "Đã xem, đồng ý"}))),
        op(
            "POST",
            "/api/v1/tasks/{id}/sign/prepare",
            TaskHolder,
            tasks(),
        )
        .body(|_, _, _| json(json!({"credential_id": uuid::Uuid::new_v4().to_string()}))),
        op(
            "POST",
            "/api/v1/tasks/{id}/sign/complete",
            TaskHolder,
            tasks(),
        )
        .body(|_, _, _| {
            json(json!({"handle": uuid::Uuid::new_v4().to_string(), "signature": "AAAA"}))
        }),
        op(
            "POST",
            "/api/v1/documents/{id}/route",
            Drafter,
            these(&[Doc::Draft, Doc::DraftConfidential, Doc::Incoming]),
        )
        .body(|w, _, _| {
            json(json!({"stages": [{"kind": "review",
                                    "assignees": [{"user": w.users[&Actor::ReviewerA]}]}]}))
        }),
        // Already assigned: a leader's call ends in 409, nobody else's gets that far.
        op(
            "POST",
            "/api/v1/documents/{id}/assignment",
            Leader,
            these(&[Doc::Assigned, Doc::Incoming, Doc::TopSecret, Doc::Foreign]),
        )
        .body(|w, _, _| json(json!({"lead_user_id": w.users[&Actor::OfficialA]}))),
        op("GET", "/api/v1/route-templates", SignedIn, none()),
        op(
            "GET",
            "/api/v1/route-templates/{id}",
            SignedIn,
            vec![Target::Template, Guessed],
        ),
        op("POST", "/api/v1/route-templates", Admin, none()).body(|w, _, _| {
            json(json!({"name": "Mẫu mới", "stages": [{"kind": "review",
                        "assignees": [{"user": w.users[&Actor::ReviewerA]}]}]}))
        }),
        op(
            "PATCH",
            "/api/v1/route-templates/{id}",
            Admin,
            vec![Target::Template, Guessed],
        )
        .body(|_, _, _| json(json!({"name": "Mẫu ma trận"}))),
        op("GET", "/api/v1/substitutions", SignedIn, none()),
        // Each names a deputy for themself, in 2099: nothing in force changes.
        op("POST", "/api/v1/substitutions", SignedIn, none()).body(|w, _, _| {
            json(
                json!({"deputy_id": w.users[&Actor::OfficialB], "capacity": "tl",
                        "starts_at": "2099-01-01T00:00:00Z", "ends_at": "2099-02-01T00:00:00Z"}),
            )
        }),
        op("GET", "/api/v1/reports/lateness", UnitReport, none())
            .query("?unit={unit_a}&from=2026-01-01&to=2026-12-31"),
        op("GET", "/api/v1/reports/digital", UnitReport, none())
            .query("?unit={unit_a}&from=2026-01-01&to=2026-12-31"),
        // Grants: they change who sees what, so they come after everything that reads it.
        op(
            "POST",
            "/api/v1/documents/{id}/grants",
            GrantManager,
            docs(),
        )
        .body(|w, _, _| json(json!({"user_id": w.grantee}))),
        op(
            "DELETE",
            "/api/v1/documents/{id}/grants/{user_id}",
            GrantManager,
            docs(),
        )
        .before(regrant),
        // What ends something. The recall before the substitutions' end: until then the
        // deputy in force sees both drafts.
        op(
            "POST",
            "/api/v1/documents/{id}/route/recall",
            Drafter,
            these(&[Doc::Draft, Doc::DraftConfidential]),
        ),
        op(
            "DELETE",
            "/api/v1/me/signing-credentials/{id}",
            CredentialOwner,
            vec![Target::Credential, Guessed],
        ),
        op(
            "DELETE",
            "/api/v1/substitutions/{id}",
            SubstitutionUser,
            vec![
                Target::Substitution(Sub::Later),
                Target::Substitution(Sub::Now),
                Guessed,
            ],
        ),
        op("POST", "/api/v1/auth/logout", SignedIn, none()),
    ]
}
