//! The authorization matrix (issue 13), on both databases: every operation of the API document
//! × every kind of caller — anonymous or with a forged token, admin, clerks of two units and of
//! a child unit, a unit head, a drafter (owner), a reviewer on a route (participant), officials,
//! an archivist, a deputy in force and two who are not (not begun, expired) — × documents at
//! every confidentiality level, their own unit's and another's, and guessed ids.
//!
//! `table.rs` classifies each operation (`Rule`) and names what it is called on; the test
//! fails when the document has an operation the table does not list (a new endpoint cannot be
//! forgotten) or the table one the document does not have. `world.rs` seeds the office over
//! HTTP, once per backend. Each call must answer as its rule says: 401 without a valid token,
//! 403 to a caller who sees the resource but may not do this, 404 (`not_found`) for what the
//! caller may not see — exactly as for a guessed id, so existence does not leak — and anything
//! but 401/403/404 to an allowed caller (a 4xx about the body or the state counts as "allowed
//! past authorization"). Never a 5xx. The forged token sends a broken JSON body where the
//! operation takes one: 401 still comes first. Denied calls are made before allowed ones on each
//! target, so what an allowed call changes cannot hide a denial.
//!
//! The model (who sees which document, who holds which task) is written out in `DOCS` and
//! `holders`, not derived from the server: see docs/DOCUMENTS.md, "The authorization matrix".

mod table;
mod world;

use crate::common::{Backend, TestServer};
use reqwest::blocking::{multipart, Client};
use serde_json::Value;
use std::collections::BTreeSet;
use world::World;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Actor {
    /// No `Authorization` header.
    Anonymous,
    /// A bearer token the server never issued.
    Forged,
    Admin,
    /// Clerk (văn thư) of unit A.
    ClerkA,
    /// Clerk of A1, a unit below A: a clerk sees their own unit's documents, not a parent's.
    ClerkA1,
    /// Official of A and its head (lãnh đạo): assigns incoming papers, sees A's reports.
    HeadA,
    /// Official of A who drafted the outgoing documents (their owner).
    DrafterA,
    /// Official of A with a review task on both drafts' routes (a participant).
    ReviewerA,
    /// Official of A with no part in anything, but the lead of one assigned paper.
    OfficialA,
    /// Archive staff (lưu trữ) of A.
    ArchivistA,
    ClerkB,
    /// Official of B, granted one top-secret document of A.
    OfficialB,
    /// Official of B, the reviewer's deputy now (KT.).
    DeputyNow,
    /// Official of B, the reviewer's deputy from the day after tomorrow.
    DeputyLater,
    /// Official of B, the reviewer's deputy for a period that has ended.
    DeputyPast,
}

use Actor::*;

/// Every caller, in the order calls are made (denied calls first, see `run_op`).
pub const ACTORS: [Actor; 15] = [
    Anonymous,
    Forged,
    Admin,
    ClerkA,
    ClerkA1,
    HeadA,
    DrafterA,
    ReviewerA,
    OfficialA,
    ArchivistA,
    ClerkB,
    OfficialB,
    DeputyNow,
    DeputyLater,
    DeputyPast,
];

/// The units: A, A1 below it, and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unit {
    A,
    A1,
    B,
}

/// A seeded person: who, username, unit, role.
pub type Person = (Actor, &'static str, Unit, &'static str);

/// The people (everyone but the admin).
pub static PEOPLE: [Person; 12] = [
    (ClerkA, "mx.clerk.a", Unit::A, "clerk"),
    (ClerkA1, "mx.clerk.a1", Unit::A1, "clerk"),
    (HeadA, "mx.head.a", Unit::A, "official"),
    (DrafterA, "mx.drafter.a", Unit::A, "official"),
    (ReviewerA, "mx.reviewer.a", Unit::A, "official"),
    (OfficialA, "mx.official.a", Unit::A, "official"),
    (ArchivistA, "mx.archivist.a", Unit::A, "archivist"),
    (ClerkB, "mx.clerk.b", Unit::B, "clerk"),
    (OfficialB, "mx.official.b", Unit::B, "official"),
    (DeputyNow, "mx.deputy.now", Unit::B, "official"),
    (DeputyLater, "mx.deputy.later", Unit::B, "official"),
    (DeputyPast, "mx.deputy.past", Unit::B, "official"),
];

impl Actor {
    fn person(self) -> Option<&'static Person> {
        PEOPLE.iter().find(|p| p.0 == self)
    }
    fn unit(self) -> Option<Unit> {
        self.person().map(|p| p.2)
    }
    fn role(self) -> Option<&'static str> {
        match self {
            Admin => Some("admin"),
            _ => self.person().map(|p| p.3),
        }
    }
    fn is_clerk_of(self, u: Unit) -> bool {
        self.role() == Some("clerk") && self.unit() == Some(u)
    }
    fn signed_in(self) -> bool {
        !matches!(self, Anonymous | Forged)
    }
}

/// The documents of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Doc {
    /// Incoming, thường, received by A's clerk.
    Incoming,
    /// Incoming, thường, granted to A's head, who assigned it with A's official as the lead.
    Assigned,
    /// Incoming, mật.
    Confidential,
    /// Incoming, tối mật.
    Secret,
    /// Incoming, tuyệt mật, granted to B's official.
    TopSecret,
    /// Outgoing draft of A's drafter, thường, on a route with the reviewer's open task.
    Draft,
    /// Outgoing draft of A's drafter, mật, on a route with the reviewer's open task.
    DraftConfidential,
    /// Incoming, thường, archived.
    Archived,
    /// Incoming, thường, of unit B: a foreign id to everyone in A.
    Foreign,
}

/// What a document is and who sees it (the expected model, see `access.rs`).
pub struct DocSpec {
    pub doc: Doc,
    pub unit: Unit,
    pub creator: Actor,
    pub kind: &'static str,
    pub confidentiality: &'static str,
    pub seers: &'static [Actor],
}

pub static DOCS: [DocSpec; 9] = [
    DocSpec {
        doc: Doc::Incoming,
        unit: Unit::A,
        creator: ClerkA,
        kind: "incoming",
        confidentiality: "normal",
        seers: &[ClerkA],
    },
    DocSpec {
        doc: Doc::Assigned,
        unit: Unit::A,
        creator: ClerkA,
        kind: "incoming",
        confidentiality: "normal",
        seers: &[ClerkA, HeadA, OfficialA],
    },
    DocSpec {
        doc: Doc::Confidential,
        unit: Unit::A,
        creator: ClerkA,
        kind: "incoming",
        confidentiality: "confidential",
        seers: &[ClerkA],
    },
    DocSpec {
        doc: Doc::Secret,
        unit: Unit::A,
        creator: ClerkA,
        kind: "incoming",
        confidentiality: "secret",
        seers: &[ClerkA],
    },
    DocSpec {
        doc: Doc::TopSecret,
        unit: Unit::A,
        creator: ClerkA,
        kind: "incoming",
        confidentiality: "top_secret",
        seers: &[ClerkA, OfficialB],
    },
    DocSpec {
        doc: Doc::Draft,
        unit: Unit::A,
        creator: DrafterA,
        kind: "outgoing",
        confidentiality: "normal",
        seers: &[ClerkA, DrafterA, ReviewerA, DeputyNow],
    },
    DocSpec {
        doc: Doc::DraftConfidential,
        unit: Unit::A,
        creator: DrafterA,
        kind: "outgoing",
        confidentiality: "confidential",
        seers: &[DrafterA, ReviewerA, DeputyNow],
    },
    DocSpec {
        doc: Doc::Archived,
        unit: Unit::A,
        creator: ClerkA,
        kind: "incoming",
        confidentiality: "normal",
        seers: &[ClerkA, ArchivistA],
    },
    DocSpec {
        doc: Doc::Foreign,
        unit: Unit::B,
        creator: ClerkB,
        kind: "incoming",
        confidentiality: "normal",
        seers: &[ClerkB],
    },
];

pub fn spec(d: Doc) -> &'static DocSpec {
    DOCS.iter()
        .find(|s| s.doc == d)
        .expect("every Doc is in DOCS")
}

fn sees(a: Actor, d: Doc) -> bool {
    spec(d).seers.contains(&a)
}

/// Who may add versions and attachments (`Viewer::can_edit`): a draft's drafter and its unit's
/// clerks; a received or registered paper's unit clerks; nobody once archived.
fn can_edit(a: Actor, d: Doc) -> bool {
    let s = spec(d);
    match d {
        Doc::Archived => false,
        Doc::Draft | Doc::DraftConfidential => a == s.creator || a.is_clerk_of(s.unit),
        _ => a.is_clerk_of(s.unit),
    }
}

/// The open tasks of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    /// The reviewer's task on `Doc::Draft`.
    Draft,
    /// The reviewer's task on `Doc::DraftConfidential`.
    DraftConfidential,
    /// The lead's task on `Doc::Assigned`.
    Assigned,
}

/// Who may act on a task: its assignee, and a deputy whose substitution is in force.
fn holders(t: Task) -> &'static [Actor] {
    match t {
        Task::Draft | Task::DraftConfidential => &[ReviewerA, DeputyNow],
        Task::Assigned => &[OfficialA],
    }
}

/// The reviewer's substitutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sub {
    /// In force, deputy `DeputyNow`.
    Now,
    /// Not begun, deputy `DeputyLater`.
    Later,
}

/// What an operation is called on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// No id in the path.
    None,
    Doc(Doc),
    /// `{id}` is the first document, `{attachment_id}` an attachment of the second.
    Attachment(Doc, Doc),
    Task(Task),
    /// The incoming register of a unit (A or B).
    Register(Unit),
    Unit(Unit),
    User(Actor),
    /// The route template.
    Template,
    /// A notification in the outbox.
    Notification,
    Substitution(Sub),
    /// The drafter's signing credential.
    Credential,
    /// Random UUIDs for every id in the path.
    Guessed,
}

/// What a call must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Past authorization: anything but 401, 403, 404 and 5xx.
    Allowed,
    /// 403 `forbidden`: the caller sees the resource (or the operation is role-bound) but may
    /// not do this.
    Forbidden,
    /// 404 `not_found`, as for an id that does not exist.
    Hidden,
    /// 401 `unauthorized`.
    Unauthorized,
}

use Expect::*;

/// The classes of operations. `expect` is the whole access model of the API in one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No token needed.
    Public,
    /// Any signed-in user (ids that do not exist: 404).
    SignedIn,
    /// Admins only; others 403 whatever the id.
    Admin,
    /// Admins and clerks (of their own unit's registers); others 403.
    ClerkOrAdmin,
    /// Holders of the clerk role (registering incoming papers); others 403.
    Clerk,
    /// The user themself or an admin; others 404.
    SelfOrAdmin,
    /// The caller's own signature image: 404 when none is set (only the drafter has one).
    OwnImage,
    /// Admins and clerks of the register's unit; others 404.
    RegisterManager,
    /// Whoever sees the document; others 404.
    Sees,
    /// Whoever sees the document and may change it (`can_edit`); other seers 403; others 404.
    Edits,
    /// A clerk of the document's unit who sees it; other seers 403; others 404.
    UnitClerk,
    /// An admin (any document), or a clerk of the document's unit who sees it; other seers
    /// 403; others 404.
    GrantManager,
    /// The document's drafter (creator); other seers 403; others 404.
    Drafter,
    /// An official of the incoming paper's unit who sees it (its head included); other seers
    /// 403; others 404.
    Leader,
    /// The task's assignee or a deputy in force; others 404 (a task is not visible otherwise).
    TaskHolder,
    /// Admins, the unit's head and its clerks (unit A's report); others 403.
    UnitReport,
    /// The absent user or an admin; the deputy 403; others 404.
    SubstitutionUser,
    /// The credential's holder; others 404.
    CredentialOwner,
}

impl Rule {
    /// The class as docs/DOCUMENTS.md names it.
    pub fn class(self) -> &'static str {
        match self {
            Rule::Public => "public",
            Rule::SignedIn => "any signed-in user",
            Rule::Admin => "admin only",
            Rule::ClerkOrAdmin => "clerk or admin",
            Rule::Clerk => "clerk role",
            Rule::SelfOrAdmin => "the user or an admin",
            Rule::OwnImage => "the caller's own",
            Rule::RegisterManager => "clerk of the register's unit or admin",
            Rule::Sees => "whoever sees the document",
            Rule::Edits => "whoever may change the document",
            Rule::UnitClerk => "clerk of the document's unit",
            Rule::GrantManager => "clerk of the document's unit or admin",
            Rule::Drafter => "the document's drafter",
            Rule::Leader => "official of the paper's unit",
            Rule::TaskHolder => "task holder (assignee or deputy in force)",
            Rule::UnitReport => "head or clerk of the unit, or admin",
            Rule::SubstitutionUser => "the absent user or admin",
            Rule::CredentialOwner => "the credential's holder",
        }
    }

    /// What `a` must get calling an operation of this class on `t`.
    pub fn expect(self, a: Actor, t: Target) -> Expect {
        if !a.signed_in() {
            return if self == Rule::Public {
                Allowed
            } else {
                Unauthorized
            };
        }
        let allowed_or = |ok: bool, otherwise: Expect| if ok { Allowed } else { otherwise };
        // Seers of the document who may not do this get 403; others cannot tell it exists.
        let on_doc = |d: Doc, may: bool| {
            if !sees(a, d) {
                Hidden
            } else {
                allowed_or(may, Forbidden)
            }
        };
        match (self, t) {
            (Rule::Public, _) => Allowed,
            (Rule::Admin, _) if a != Admin => Forbidden,
            (Rule::ClerkOrAdmin, _) => {
                allowed_or(a == Admin || a.role() == Some("clerk"), Forbidden)
            }
            (Rule::Clerk, _) => allowed_or(a.role() == Some("clerk"), Forbidden),
            (Rule::UnitReport, _) => allowed_or(
                a == Admin || a == HeadA || a.is_clerk_of(Unit::A),
                Forbidden,
            ),
            (Rule::OwnImage, _) => allowed_or(a == DrafterA, Hidden),
            // A guessed id is nobody's: 404 to whoever passed the role checks above.
            (_, Target::Guessed) => Hidden,
            (Rule::SignedIn | Rule::Admin, _) => Allowed,
            (Rule::SelfOrAdmin, Target::User(u)) => allowed_or(a == Admin || a == u, Hidden),
            (Rule::RegisterManager, Target::Register(u)) => {
                allowed_or(a == Admin || a.is_clerk_of(u), Hidden)
            }
            (Rule::Sees, Target::Doc(d)) => on_doc(d, true),
            (Rule::Sees, Target::Attachment(d, of)) => {
                // Another document's attachment under this one is not there.
                if d == of {
                    on_doc(d, true)
                } else {
                    Hidden
                }
            }
            (Rule::Edits, Target::Doc(d)) => on_doc(d, can_edit(a, d)),
            (Rule::UnitClerk, Target::Doc(d)) => on_doc(d, a.is_clerk_of(spec(d).unit)),
            (Rule::GrantManager, Target::Doc(_)) if a == Admin => Allowed,
            (Rule::GrantManager, Target::Doc(d)) => on_doc(d, a.is_clerk_of(spec(d).unit)),
            (Rule::Drafter, Target::Doc(d)) => on_doc(d, a == spec(d).creator),
            (Rule::Leader, Target::Doc(d)) => on_doc(
                d,
                a.role() == Some("official") && a.unit() == Some(spec(d).unit),
            ),
            (Rule::TaskHolder, Target::Task(k)) => allowed_or(holders(k).contains(&a), Hidden),
            (Rule::SubstitutionUser, Target::Substitution(s)) => {
                let deputy = match s {
                    Sub::Now => DeputyNow,
                    Sub::Later => DeputyLater,
                };
                if a == Admin || a == ReviewerA {
                    Allowed
                } else if a == deputy {
                    Forbidden
                } else {
                    Hidden
                }
            }
            (Rule::CredentialOwner, Target::Credential) => allowed_or(a == DrafterA, Hidden),
            (rule, target) => panic!("the table calls a {rule:?} operation on {target:?}"),
        }
    }
}

/// A multipart part: name, file name, media type, bytes.
pub type Part = (&'static str, Option<&'static str>, &'static str, Vec<u8>);

/// A request body.
pub enum Body {
    Empty,
    Json(Value),
    Form(Vec<Part>),
    /// Raw bytes with their media type.
    Raw(&'static str, Vec<u8>),
}

/// One operation of the API document and how the matrix calls it.
pub struct Op {
    pub method: &'static str,
    /// As in the document, e.g. `/api/v1/documents/{id}`.
    pub path: &'static str,
    pub rule: Rule,
    pub targets: Vec<Target>,
    /// Appended to the path (`{unit_a}` is unit A's id).
    pub query: &'static str,
    pub body: fn(&World, Actor, Target) -> Body,
    /// Run before each call: what the call needs to find (the grant a withdrawal removes).
    pub before: Option<fn(&Matrix, Target)>,
}

/// The server, the one HTTP client, and the seeded world.
pub struct Matrix {
    pub srv: TestServer,
    pub client: Client,
    pub world: World,
}

/// An answer: status, problem `code` (if any), text.
pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub text: String,
}

impl Matrix {
    /// Sends one request as `a` (no token for `Anonymous`, a made-up one for `Forged`).
    pub fn call(&self, a: Actor, method: &str, path: &str, body: Body) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.srv.url(path));
        match a {
            Anonymous => {}
            Forged => req = req.bearer_auth("bm90LWEtdG9rZW4tb2YtdGhpcy1zZXJ2ZXI"),
            _ => req = req.bearer_auth(&self.world.tokens[&a]),
        }
        req = match body {
            Body::Empty => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ct, bytes) => req.header("content-type", ct).body(bytes),
            Body::Form(parts) => {
                let mut form = multipart::Form::new();
                for (name, file_name, mime, bytes) in parts {
                    let mut part = multipart::Part::bytes(bytes).mime_str(mime).expect("mime");
                    if let Some(f) = file_name {
                        part = part.file_name(f);
                    }
                    form = form.part(name, part);
                }
                req.multipart(form)
            }
        };
        let r = req
            .send()
            .unwrap_or_else(|e| panic!("{path} as {a:?}: {e}"));
        let status = r.status().as_u16();
        let bytes = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Answer {
            status,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    /// The concrete path of `op` on `t`.
    fn path_of(&self, op: &Op, t: Target) -> String {
        let w = &self.world;
        let guess = || uuid::Uuid::new_v4().to_string();
        let (id, second) = match t {
            Target::None => (String::new(), None),
            Target::Doc(d) => (w.docs[&d].clone(), None),
            Target::Attachment(d, of) => (w.docs[&d].clone(), Some(w.attachments[&of].clone())),
            Target::Task(k) => (w.tasks[&k].clone(), None),
            Target::Register(u) => (w.registers[&u].clone(), None),
            Target::Unit(u) => (w.units[&u].clone(), None),
            Target::User(u) => (w.users[&u].clone(), None),
            Target::Template => (w.template.clone(), None),
            Target::Notification => (w.notification.clone(), None),
            Target::Substitution(s) => (w.subs[&s].clone(), None),
            Target::Credential => (w.credential.clone(), None),
            Target::Guessed => (guess(), Some(guess())),
        };
        let path = op
            .path
            .replace("{id}", &id)
            .replace("{number}", "1")
            .replace("{attachment_id}", &second.unwrap_or_else(guess))
            .replace("{user_id}", &w.grantee);
        assert!(
            !path.contains('{'),
            "{}: a path parameter the matrix does not fill",
            op.path
        );
        format!("{path}{}", op.query.replace("{unit_a}", &w.units[&Unit::A]))
    }

    /// Calls `op` on each of its targets as every actor; returns the calls made and every
    /// answer that is not what the rule says.
    fn run_op(&self, op: &Op, failures: &mut Vec<String>) -> usize {
        let mut calls = 0;
        for &t in &op.targets {
            let mut order: Vec<(Actor, Expect)> =
                ACTORS.iter().map(|&a| (a, op.rule.expect(a, t))).collect();
            // Denied calls change nothing; allowed ones may (a registration, a recall).
            order.sort_by_key(|(_, e)| *e == Allowed);
            for (a, want) in order {
                if let Some(before) = op.before {
                    before(self, t);
                }
                let path = self.path_of(op, t);
                let body = match ((op.body)(&self.world, a, t), a) {
                    // A forged token with a broken body: the missing sign-in is what is
                    // answered, not the body (the token's check is slower than the parse).
                    (Body::Json(_), Forged) => Body::Raw("application/json", b"{\"cut".to_vec()),
                    (body, _) => body,
                };
                let got = self.call(a, op.method, &path, body);
                calls += 1;
                if let Some(why) = mismatch(want, &got) {
                    failures.push(format!(
                        "{} {} on {t:?} as {a:?} ({}): {why}; got {} {}",
                        op.method,
                        op.path,
                        op.rule.class(),
                        got.status,
                        got.text.chars().take(300).collect::<String>()
                    ));
                }
            }
        }
        calls
    }
}

/// Why `got` is not what `want` asks for, if it is not.
fn mismatch(want: Expect, got: &Answer) -> Option<String> {
    let code = got.json["code"].as_str().unwrap_or("");
    if got.status >= 500 {
        return Some("a server error".into());
    }
    let problem = |status: u16, wanted: &str| {
        (got.status != status || code != wanted).then(|| format!("wanted {status} {wanted}"))
    };
    match want {
        Allowed => matches!(got.status, 401 | 403 | 404)
            .then(|| "wanted past authorization (not 401/403/404)".to_string()),
        Forbidden => problem(403, "forbidden"),
        Hidden => problem(404, "not_found"),
        Unauthorized => problem(401, "unauthorized"),
    }
}

/// Operations as (METHOD, path).
type Operations = BTreeSet<(String, String)>;

/// Every operation in the served API document, and those it declares without security
/// (public).
fn documented(m: &Matrix) -> (Operations, Operations) {
    let r = m.call(Anonymous, "GET", "/api/v1/openapi.json", Body::Empty);
    assert_eq!(r.status, 200, "{}", r.text);
    let mut all = BTreeSet::new();
    let mut public = BTreeSet::new();
    for (path, item) in r.json["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let key = (method.to_uppercase(), path.clone());
            if op["security"].as_array().is_none_or(|s| s.is_empty()) {
                public.insert(key.clone());
            }
            all.insert(key);
        }
    }
    (all, public)
}

fn every_operation_answers_as_its_class_says(b: Backend) {
    let started = std::time::Instant::now();
    let srv = TestServer::start(b);
    let client = Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client");
    let world = world::seed(&srv);
    let m = Matrix { srv, client, world };
    let ops = table::operations();

    // The table and the document list the same operations, each once.
    let (doc_ops, doc_public) = documented(&m);
    let mut listed = BTreeSet::new();
    for op in &ops {
        let key = (op.method.to_string(), op.path.to_string());
        assert!(listed.insert(key.clone()), "{key:?} is twice in the table");
        assert_eq!(
            op.rule == Rule::Public,
            doc_public.contains(&key),
            "{key:?}: the table's class ({}) and the document's security disagree",
            op.rule.class()
        );
        assert!(
            op.targets
                .iter()
                .any(|&t| ACTORS.iter().any(|&a| op.rule.expect(a, t) == Allowed)),
            "{key:?}: nobody is allowed on any target, so the call is never shown to work"
        );
    }
    let missing: Vec<_> = doc_ops.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "operations in the API document that the authorization matrix does not classify \
         (add them to tests/it/authz_matrix/table.rs): {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&doc_ops).collect();
    assert!(
        stale.is_empty(),
        "operations in the table but not in the API document: {stale:?}"
    );
    assert!(
        doc_ops.len() >= 60,
        "only {} operations documented",
        doc_ops.len()
    );

    // Listings and the inbox show exactly what the model says, no more.
    world::check_listings(&m);

    let mut failures = Vec::new();
    let mut calls = 0;
    for op in &ops {
        calls += m.run_op(op, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls did not answer as their class says:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Logout (the table's last operation) ended every session it was called with.
    let r = m.call(DrafterA, "GET", "/api/v1/me", Body::Empty);
    assert_eq!(r.status, 401, "a token after logout: {}", r.text);
    eprintln!(
        "authorization matrix ({b:?}): {} operations, {calls} calls, {:.1} s",
        ops.len(),
        started.elapsed().as_secs_f64()
    );
}

both_backends!(every_operation_answers_as_its_class_says);
