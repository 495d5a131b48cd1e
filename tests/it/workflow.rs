//! Approval routes, tasks, substitution, incoming assignment and the lateness report, over
//! HTTP on both databases.

use crate::common::{fixture, Backend, Resp, TestServer};
use serde_json::{json, Value};
use std::collections::HashMap;

const PW: &str = "password-for-tests-1";

/// A department (SO) with three divisions and an outside unit, their heads and staff.
struct Office {
    units: HashMap<&'static str, String>,
    ids: HashMap<&'static str, String>,
    tokens: HashMap<&'static str, String>,
}

impl Office {
    fn id(&self, who: &str) -> &str {
        &self.ids[who]
    }
    fn tok(&self, who: &str) -> &str {
        &self.tokens[who]
    }
    fn unit(&self, code: &str) -> &str {
        &self.units[code]
    }
}

fn office(srv: &TestServer) -> Office {
    let so = srv.create_unit("SO", "Sở Lao động", None);
    let phong = srv.create_unit("PHONG", "Phòng Việc làm", Some(&so));
    let pc = srv.create_unit("PC", "Phòng Pháp chế", Some(&so));
    let khtc = srv.create_unit("KHTC", "Phòng Kế hoạch - Tài chính", Some(&so));
    let x = srv.create_unit("X", "Sở khác", None);
    let units: HashMap<&'static str, String> = [
        ("SO", so.clone()),
        ("PHONG", phong.clone()),
        ("PC", pc.clone()),
        ("KHTC", khtc.clone()),
        ("X", x.clone()),
    ]
    .into_iter()
    .collect();
    let people: [(&'static str, &String, &[&str]); 10] = [
        ("director", &so, &["official"]),
        ("deputy", &so, &["official"]),
        ("clerk", &so, &["clerk"]),
        ("head", &phong, &["official"]),
        ("drafter", &phong, &["official"]),
        ("staff", &phong, &["official"]),
        ("staff2", &phong, &["official"]),
        ("legal", &pc, &["official"]),
        ("finance", &khtc, &["official"]),
        ("outsider", &x, &["official"]),
    ];
    let mut ids = HashMap::new();
    let mut tokens = HashMap::new();
    for (name, unit, roles) in people {
        ids.insert(name, srv.create_user(name, PW, Some(unit), roles));
        tokens.insert(name, srv.login(name, PW));
    }
    for (unit, head) in [
        ("SO", "director"),
        ("PHONG", "head"),
        ("PC", "legal"),
        ("KHTC", "finance"),
    ] {
        let r = srv.patch(
            &format!("/api/v1/units/{}", units[unit]),
            Some(&srv.admin_token),
            &json!({"head_user_id": ids[head]}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["head_user_id"], ids[head].as_str());
    }
    let r = srv.patch(
        &format!("/api/v1/units/{}", units["X"]),
        Some(&srv.admin_token),
        &json!({"head_user_id": uuid::Uuid::new_v4().to_string()}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "head_user_id");
    Office { units, ids, tokens }
}

fn draft(srv: &TestServer, o: &Office, urgency: &str) -> String {
    srv.create_document(
        o.tok("drafter"),
        &json!({"kind": "outgoing", "type_code": "TTr", "subject": "Tờ trình xin kinh phí tập huấn",
                "recipients": ["UBND tỉnh"], "urgency": urgency}),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A stage of these users; `sign` and `issue` stages here are approved without a digital
/// signature (`requires_signature: false`): signing in a route is tested in `route_signing`.
fn user_stage(kind: &str, policy: &str, users: &[&str], o: &Office) -> Value {
    let mut stage = json!({"kind": kind, "policy": policy,
           "assignees": users.iter().map(|u| json!({"user": o.id(u)})).collect::<Vec<_>>()});
    if kind == "sign" || kind == "issue" {
        stage["signing"] = json!({"requires_signature": false});
    }
    stage
}

fn start(srv: &TestServer, o: &Office, doc: &str, stages: Value) -> Resp {
    let r = srv.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("drafter")),
        &json!({"stages": stages}),
    );
    if r.status == 201 {
        srv.assert_route_is_stored(o.tok("drafter"), &r.json);
    }
    r
}

/// The open task of `who` on `doc`, from their inbox.
fn task_of(srv: &TestServer, token: &str, doc: &str) -> Option<Value> {
    let r = srv.get("/api/v1/tasks", Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["task"]["document_id"] == doc)
        .cloned()
}

fn task_id(srv: &TestServer, o: &Office, who: &str, doc: &str) -> String {
    task_of(srv, o.tok(who), doc).unwrap_or_else(|| panic!("{who} has no task on the document"))
        ["task"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn act_with_key(
    srv: &TestServer,
    token: &str,
    task: &str,
    body: &Value,
    key: Option<&str>,
) -> Resp {
    let client = reqwest::blocking::Client::new();
    let mut req = client
        .post(srv.url(&format!("/api/v1/tasks/{task}/actions")))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap_or_default();
    let resp = Resp {
        status,
        headers,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        bytes: text.clone().into_bytes(),
        text,
    };
    srv.assert_action_route_is_stored(token, &resp);
    resp
}

fn act(srv: &TestServer, o: &Office, who: &str, doc: &str, body: Value) -> Resp {
    let t = task_id(srv, o, who, doc);
    act_with_key(srv, o.tok(who), &t, &body, None)
}

fn route(srv: &TestServer, token: &str, doc: &str) -> Value {
    let r = srv.get(&format!("/api/v1/documents/{doc}/route"), Some(token));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

fn audit(srv: &TestServer, action: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let r = srv.get(
            &format!("/api/v1/audit/events?after={after}&limit=500"),
            Some(&srv.admin_token),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json.as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["seq"].as_i64().unwrap();
        out.extend(page.into_iter().filter(|e| e["action"] == action));
    }
    out
}

fn sees(srv: &TestServer, token: &str, doc: &str) -> bool {
    let r = srv.get(&format!("/api/v1/documents/{doc}"), Some(token));
    assert!(r.status == 200 || r.status == 404, "{}", r.text);
    r.status == 200
}

fn chain(o: &Office) -> Value {
    json!([
        user_stage("review", "all", &["head"], o),
        user_stage("review", "all", &["legal", "finance"], o),
        user_stage("sign", "any", &["director"], o),
        {"kind": "issue", "policy": "any", "assignees": [{"role": "clerk", "unit": o.unit("SO")}],
         "signing": {"requires_signature": false}},
    ])
}

fn draft_climbs_the_chain(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    let doc = draft(&srv, &o, "urgent");
    assert!(!sees(&srv, o.tok("legal"), &doc), "not routed yet");

    // Only the drafter starts the route.
    let r = srv.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("outsider")),
        &json!({"stages": chain(&o)}),
    );
    r.assert_problem(404, "not_found");
    let r = start(&srv, &o, &doc, chain(&o));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["current_stage"], 1);
    assert_eq!(r.json["stages"].as_array().unwrap().len(), 4);
    // A second route while one is active is refused.
    start(&srv, &o, &doc, chain(&o)).assert_problem(409, "route_active");

    // The head reviews first; legal does not see the draft yet.
    let item = task_of(&srv, o.tok("head"), &doc).expect("head's task");
    assert_eq!(item["held_as"], "assignee");
    assert_eq!(item["task"]["stage_kind"], "review");
    assert!(
        item["task"]["deadline"].is_string(),
        "a deadline by urgency"
    );
    assert_eq!(item["task"]["overdue"], false);
    assert!(sees(&srv, o.tok("head"), &doc));
    assert!(!sees(&srv, o.tok("legal"), &doc));
    assert!(task_of(&srv, o.tok("legal"), &doc).is_none());

    let r = act(&srv, &o, "head", &doc, json!({"action": "approve"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "approved");
    assert_eq!(r.json["route"]["current_stage"], 2);

    // Two parallel reviewers, both needed.
    assert!(sees(&srv, o.tok("legal"), &doc));
    let r = act(
        &srv,
        &o,
        "legal",
        &doc,
        json!({"action": "approve", "comment": "Đúng thẩm quyền"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["route"]["current_stage"], 2,
        "finance has not reviewed"
    );
    assert!(task_of(&srv, o.tok("director"), &doc).is_none());
    let r = act(&srv, &o, "finance", &doc, json!({"action": "approve"}));
    assert_eq!(r.json["route"]["current_stage"], 3);

    // The signer, then the clerk.
    let r = act(&srv, &o, "director", &doc, json!({"action": "approve"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["route"]["current_stage"], 4);
    let clerk_task = task_id(&srv, &o, "clerk", &doc);
    let r = act_with_key(
        srv_ref(&srv),
        o.tok("clerk"),
        &clerk_task,
        &json!({"action": "approve"}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["route"]["status"], "completed");
    assert!(r.json["route"]["finished_at"].is_string());

    // The whole history is there, and nobody has work left on it.
    let rt = route(&srv, o.tok("drafter"), &doc);
    let statuses: Vec<(i64, String, String)> = rt["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["tasks"].as_array().unwrap().iter().map(move |t| {
                (
                    s["position"].as_i64().unwrap(),
                    t["assignee"]["id"].as_str().unwrap().to_string(),
                    t["status"].as_str().unwrap().to_string(),
                )
            })
        })
        .collect();
    assert_eq!(statuses.len(), 5, "{statuses:?}");
    assert!(statuses.iter().all(|s| s.2 == "approved"));
    for who in ["head", "legal", "finance", "director", "clerk"] {
        assert!(task_of(&srv, o.tok(who), &doc).is_none(), "{who}");
    }
    // A finished route accepts no action.
    let r = act_with_key(
        &srv,
        o.tok("clerk"),
        &clerk_task,
        &json!({"action": "comment", "comment": "muộn"}),
        None,
    );
    r.assert_problem(409, "task_closed");
    assert_eq!(r.json["current"]["status"], "completed");
    start(&srv, &o, &doc, chain(&o)).assert_problem(409, "route_completed");
    assert_eq!(audit(&srv, "task.approved").len(), 5);
    assert_eq!(audit(&srv, "route.started").len(), 1);
    assert!(
        audit(&srv, "route.viewed").is_empty(),
        "reading an ordinary document's route is not written to the audit chain"
    );
}

fn srv_ref(s: &TestServer) -> &TestServer {
    s
}

fn return_and_reject(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    let doc = draft(&srv, &o, "normal");
    assert_eq!(start(&srv, &o, &doc, chain(&o)).status, 201);
    act(&srv, &o, "head", &doc, json!({"action": "approve"}));

    // A return needs a comment and an earlier stage.
    act(
        &srv,
        &o,
        "legal",
        &doc,
        json!({"action": "return", "to_stage": 1}),
    )
    .assert_problem(422, "validation_failed");
    let r = act(
        &srv,
        &o,
        "legal",
        &doc,
        json!({"action": "return", "to_stage": 2, "comment": "x"}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "to_stage");
    let r = act(
        &srv,
        &o,
        "legal",
        &doc,
        json!({"action": "return", "to_stage": 1, "comment": "Bổ sung căn cứ pháp lý"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "returned");
    assert_eq!(r.json["task"]["result"], "Bổ sung căn cứ pháp lý");
    assert_eq!(r.json["route"]["current_stage"], 1);
    assert_eq!(r.json["route"]["stages"][0]["round"], 2);
    // Finance's task of that round is no longer open; the head reviews again.
    assert!(task_of(&srv, o.tok("finance"), &doc).is_none());
    assert!(task_of(&srv, o.tok("head"), &doc).is_some());

    // Back to the drafter: the route ends, a new one can start after the revision.
    let r = act(
        &srv,
        &o,
        "head",
        &doc,
        json!({"action": "return", "comment": "Viết lại mục 3"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["route"]["status"], "returned");
    assert_eq!(audit(&srv, "task.returned").len(), 2);

    let r = start(&srv, &o, &doc, chain(&o));
    assert_eq!(r.status, 201, "{}", r.text);
    act(&srv, &o, "head", &doc, json!({"action": "reject"}))
        .assert_problem(422, "validation_failed");
    let head_task = task_id(&srv, &o, "head", &doc);
    let r = act_with_key(
        &srv,
        o.tok("head"),
        &head_task,
        &json!({"action": "reject", "comment": "Không thuộc thẩm quyền"}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["route"]["status"], "rejected");
    let r = act_with_key(
        &srv,
        o.tok("head"),
        &head_task,
        &json!({"action": "approve"}),
        None,
    );
    r.assert_problem(409, "task_closed");
    assert_eq!(r.json["current"]["status"], "rejected");
    // Someone else's task is not found, as if it did not exist.
    let r = act_with_key(
        &srv,
        o.tok("legal"),
        &head_task,
        &json!({"action": "approve"}),
        None,
    );
    r.assert_problem(404, "not_found");
}

fn delegate_and_substitution(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    let doc = draft(&srv, &o, "very_urgent");
    assert_eq!(start(&srv, &o, &doc, chain(&o)).status, 201);

    // The head delegates to someone of their division, not outside it.
    let r = act(
        &srv,
        &o,
        "head",
        &doc,
        json!({"action": "delegate", "to_user_id": o.id("legal")}),
    );
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.json["field"], "to_user_id");
    let r = act(
        &srv,
        &o,
        "head",
        &doc,
        json!({"action": "delegate", "to_user_id": o.id("staff")}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "delegated");
    let staff_item = task_of(&srv, o.tok("staff"), &doc).expect("staff holds it now");
    assert_eq!(
        staff_item["task"]["delegated_from"], r.json["task"]["id"],
        "the new task records where it came from"
    );
    assert_eq!(staff_item["task"]["deadline"], r.json["task"]["deadline"]);
    assert!(task_of(&srv, o.tok("head"), &doc).is_none());
    act(&srv, &o, "staff", &doc, json!({"action": "approve"}));
    act(&srv, &o, "legal", &doc, json!({"action": "approve"}));
    act(&srv, &o, "finance", &doc, json!({"action": "approve"}));

    // The director is away: the deputy signs KT.
    assert!(!sees(&srv, o.tok("deputy"), &doc));
    // An RFC 3339 date-time with an offset (`format: date-time`) is read as UTC.
    let ends = (chrono::Utc::now() + chrono::Duration::days(3)).naive_utc();
    let ends_local = (ends + chrono::Duration::hours(7)).format("%Y-%m-%dT%H:%M:%S+07:00");
    let r = srv.post(
        "/api/v1/substitutions",
        Some(o.tok("director")),
        &json!({"deputy_id": o.id("deputy"), "capacity": "kt",
                "ends_at": ends_local.to_string()}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json["ends_at"],
        ends.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "{}",
        r.text
    );
    assert_eq!(r.json["capacity_label"], "KT.");
    assert_eq!(r.json["active"], true);
    let sub = r.json["id"].as_str().unwrap().to_string();
    let listed = srv.get("/api/v1/substitutions", Some(o.tok("deputy")));
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json.as_array().unwrap().len(), 1);
    assert_eq!(listed.json[0]["user"]["id"], o.id("director"));
    assert_eq!(listed.json[0]["deputy"]["id"], o.id("deputy"));
    let others = srv.get("/api/v1/substitutions", Some(o.tok("outsider")));
    assert_eq!(others.json, json!([]));
    // A period that ends before it starts is refused.
    srv.post(
        "/api/v1/substitutions",
        Some(o.tok("director")),
        &json!({"deputy_id": o.id("deputy"), "capacity": "tl",
                "starts_at": "2099-02-01T07:00:00+07:00", "ends_at": "2099-01-01T00:00:00Z"}),
    )
    .assert_problem(422, "validation_failed");
    // Nobody names a deputy for someone else (but admins).
    srv.post(
        "/api/v1/substitutions",
        Some(o.tok("deputy")),
        &json!({"user_id": o.id("director"), "deputy_id": o.id("deputy"), "capacity": "kt",
                "ends_at": "2099-01-01T00:00:00"}),
    )
    .assert_problem(403, "forbidden");

    let item = task_of(&srv, o.tok("deputy"), &doc).expect("the deputy sees the director's task");
    assert_eq!(item["held_as"], "deputy");
    assert_eq!(item["capacity"], "kt");
    assert_eq!(item["on_behalf_of"]["id"], o.id("director"));
    assert!(sees(&srv, o.tok("deputy"), &doc));
    let t = item["task"]["id"].as_str().unwrap();
    let r = act_with_key(
        &srv,
        o.tok("deputy"),
        t,
        &json!({"action": "approve"}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["assignee"]["id"], o.id("director"));
    assert_eq!(r.json["task"]["acting_user"]["id"], o.id("deputy"));
    assert_eq!(r.json["task"]["capacity"], "kt");
    assert_eq!(r.json["task"]["capacity_label"], "KT.");
    let ev = audit(&srv, "task.approved");
    let signed = ev.iter().find(|e| e["object_id"] == t).expect("event");
    assert_eq!(signed["actor_id"], o.id("deputy"));
    assert_eq!(signed["on_behalf_of"], o.id("director"));

    // Revoked: the deputy no longer holds anything.
    let r = srv.send(
        "DELETE",
        &format!("/api/v1/substitutions/{sub}"),
        Some(o.tok("director")),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["active"], false);
    let doc2 = draft(&srv, &o, "normal");
    assert_eq!(
        start(
            &srv,
            &o,
            &doc2,
            json!([user_stage("sign", "any", &["director"], &o)])
        )
        .status,
        201
    );
    assert!(task_of(&srv, o.tok("deputy"), &doc2).is_none());
    assert!(task_of(&srv, o.tok("director"), &doc2).is_some());
}

fn recall_opinion_and_insert(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    let doc = draft(&srv, &o, "normal");
    let recall = |token: &str| {
        srv.post(
            &format!("/api/v1/documents/{doc}/route/recall"),
            Some(token),
            &json!({}),
        )
    };
    assert_eq!(start(&srv, &o, &doc, chain(&o)).status, 201);
    // The head asks legal's opinion and inserts the staff member as an extra reviewer.
    let r = act(
        &srv,
        &o,
        "head",
        &doc,
        json!({"action": "request_opinion", "to_user_id": o.id("legal")}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let opinion = task_of(&srv, o.tok("legal"), &doc).expect("opinion task");
    assert_eq!(opinion["task"]["role"], "opinion");
    let r = act(&srv, &o, "legal", &doc, json!({"action": "approve"}));
    r.assert_problem(422, "action_not_allowed");
    let r = act(
        &srv,
        &o,
        "legal",
        &doc,
        json!({"action": "comment", "comment": "Đồng ý về pháp lý"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "answered");
    let r = act(
        &srv,
        &o,
        "head",
        &doc,
        json!({"action": "insert_reviewer", "to_user_id": o.id("staff")}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["route"]["stages"].as_array().unwrap().len(), 5);
    assert_eq!(r.json["route"]["stages"][1]["tasks"], json!([]));
    // Nobody has decided at the active stage: the drafter may still recall.
    recall(o.tok("head")).assert_problem(403, "forbidden");
    act(&srv, &o, "head", &doc, json!({"action": "approve"}));
    assert!(
        task_of(&srv, o.tok("staff"), &doc).is_some(),
        "the inserted reviewer is next"
    );
    act(&srv, &o, "staff", &doc, json!({"action": "approve"}));
    act(&srv, &o, "legal", &doc, json!({"action": "approve"}));
    // Legal decided at the active stage: too late.
    let r = recall(o.tok("drafter"));
    r.assert_problem(409, "recall_refused");
    assert_eq!(r.json["current"]["current_stage"], 3);

    let doc2 = draft(&srv, &o, "normal");
    assert_eq!(start(&srv, &o, &doc2, chain(&o)).status, 201);
    let r = srv.post(
        &format!("/api/v1/documents/{doc2}/route/recall"),
        Some(o.tok("drafter")),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "recalled");
    srv.assert_route_is_stored(o.tok("drafter"), &r.json);
    assert!(task_of(&srv, o.tok("head"), &doc2).is_none());
    assert_eq!(audit(&srv, "route.recalled").len(), 1);
}

fn incoming_lead_assignment(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    let doc = srv.create_document(
        o.tok("clerk"),
        &json!({"kind": "incoming", "type_code": "CV", "subject": "Công văn đề nghị báo cáo",
                "number_symbol": "45/UBND-VX", "issue_date": "2026-11-20", "issuer": "UBND tỉnh",
                "urgency": "urgent"}),
        fixture("valid-minimal.pdf"),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/documents/{doc}/assignment");
    // The leader cannot see the paper until the clerk submits it (a grant).
    srv.post(
        &path,
        Some(o.tok("director")),
        &json!({"lead_unit_id": o.unit("PHONG")}),
    )
    .assert_problem(404, "not_found");
    let r = srv.post(
        &format!("/api/v1/documents/{doc}/grants"),
        Some(o.tok("clerk")),
        &json!({"user_id": o.id("director")}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    // One task, one lead: both or neither is refused.
    srv.post(
        &path,
        Some(o.tok("director")),
        &json!({"lead_unit_id": o.unit("PHONG"), "lead_user_id": o.id("staff")}),
    )
    .assert_problem(422, "validation_failed");
    srv.post(&path, Some(o.tok("director")), &json!({}))
        .assert_problem(422, "validation_failed");
    // A unit without a head cannot lead.
    let r = srv.post(
        &path,
        Some(o.tok("director")),
        &json!({"lead_unit_id": o.unit("X")}),
    );
    r.assert_problem(422, "validation_failed");
    // The clerk is not the leader.
    srv.post(
        &path,
        Some(o.tok("clerk")),
        &json!({"lead_unit_id": o.unit("PHONG")}),
    )
    .assert_problem(403, "forbidden");
    assert!(!sees(&srv, o.tok("head"), &doc));
    let r = srv.post(
        &path,
        Some(o.tok("director")),
        &json!({"lead_unit_id": o.unit("PHONG"), "cooperating_unit_ids": [o.unit("PC")],
                "inform_unit_ids": [o.unit("KHTC")], "deadline": "2099-12-31",
                "note": "Phòng Việc làm chủ trì, tham mưu báo cáo"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["lead"]["assignee"]["id"], o.id("head"));
    assert_eq!(r.json["lead"]["unit_id"], o.unit("PHONG"));
    assert_eq!(r.json["lead"]["role"], "lead");
    assert_eq!(r.json["cooperating"][0]["assignee"]["id"], o.id("legal"));
    assert_eq!(r.json["informed"][0]["status"], "informed");
    // 2099-12-31 ends at midnight Vietnam time.
    assert_eq!(r.json["lead"]["deadline"], "2099-12-31T17:00:00Z");
    // A second lead is refused.
    srv.post(
        &path,
        Some(o.tok("director")),
        &json!({"lead_user_id": o.id("staff")}),
    )
    .assert_problem(409, "lead_already_assigned");
    for who in ["head", "legal", "finance"] {
        assert!(sees(&srv, o.tok(who), &doc), "{who}");
    }
    assert!(!sees(&srv, o.tok("staff"), &doc));
    assert!(
        task_of(&srv, o.tok("finance"), &doc).is_none(),
        "for information only"
    );
    // Listing shows it to the lead too.
    let r = srv.get("/api/v1/documents", Some(o.tok("head")));
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == doc.as_str()),
        "{}",
        r.text
    );

    // The lead reports completion with a result note.
    act(&srv, &o, "head", &doc, json!({"action": "complete"}))
        .assert_problem(422, "validation_failed");
    act(&srv, &o, "head", &doc, json!({"action": "approve"}))
        .assert_problem(422, "action_not_allowed");
    let t = task_id(&srv, &o, "head", &doc);
    let r = act_with_key(
        &srv,
        o.tok("head"),
        &t,
        &json!({"action": "complete", "comment": "Đã gửi báo cáo số 12/BC-SLĐ"}),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["task"]["status"], "completed");
    let a = srv.get(&path, Some(o.tok("director")));
    assert_eq!(a.json["lead"]["result"], "Đã gửi báo cáo số 12/BC-SLĐ");
    assert!(a.json["lead"]["acted_at"].is_string());
    let r = act_with_key(
        &srv,
        o.tok("head"),
        &t,
        &json!({"action": "complete", "comment": "lần nữa"}),
        None,
    );
    r.assert_problem(409, "task_closed");
    assert_eq!(audit(&srv, "document.assigned").len(), 1);
}

fn any_of_race(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    for round in 0..3 {
        let doc = draft(&srv, &o, "normal");
        let stages = json!([
            user_stage("review", "any", &["legal", "finance"], &o),
            user_stage("sign", "any", &["director"], &o),
        ]);
        assert_eq!(start(&srv, &o, &doc, stages).status, 201);
        let a = task_id(&srv, &o, "legal", &doc);
        let f = task_id(&srv, &o, "finance", &doc);
        let barrier = std::sync::Barrier::new(2);
        let (ra, rf) = std::thread::scope(|s| {
            let ha = s.spawn(|| {
                barrier.wait();
                act_with_key(
                    &srv,
                    o.tok("legal"),
                    &a,
                    &json!({"action": "approve"}),
                    None,
                )
            });
            let hf = s.spawn(|| {
                barrier.wait();
                act_with_key(
                    &srv,
                    o.tok("finance"),
                    &f,
                    &json!({"action": "approve"}),
                    None,
                )
            });
            (ha.join().unwrap(), hf.join().unwrap())
        });
        let mut statuses = [ra.status, rf.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round}: {} / {}",
            ra.text,
            rf.text
        );
        let loser = if ra.status == 409 { &ra } else { &rf };
        loser.assert_problem(409, "task_closed");
        assert_eq!(loser.json["current"]["current_stage"], 2, "{}", loser.text);
        let rt = route(&srv, o.tok("drafter"), &doc);
        let first = rt["stages"][0]["tasks"].as_array().unwrap();
        assert_eq!(
            first.iter().filter(|t| t["status"] == "approved").count(),
            1
        );
        assert_eq!(
            first.iter().filter(|t| t["status"] == "cancelled").count(),
            1
        );
        assert_eq!(rt["version"], 2, "one transition");
    }
    assert_eq!(audit(&srv, "task.approved").len(), 3);
}

fn idempotent_retry(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    let doc = draft(&srv, &o, "normal");
    let stages = json!([
        user_stage("review", "all", &["head", "staff"], &o),
        user_stage("sign", "any", &["director"], &o),
    ]);
    assert_eq!(start(&srv, &o, &doc, stages).status, 201);
    let t = task_id(&srv, &o, "head", &doc);
    let body = json!({"action": "approve", "comment": "Đồng ý"});
    let first = act_with_key(&srv, o.tok("head"), &t, &body, Some("phone-7f3a"));
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["replayed"], false);
    let again = act_with_key(&srv, o.tok("head"), &t, &body, Some("phone-7f3a"));
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["replayed"], true);
    assert_eq!(again.json["task"], first.json["task"]);
    assert_eq!(
        again.json["route"]["version"],
        first.json["route"]["version"]
    );
    assert_eq!(audit(&srv, "task.approved").len(), 1, "one transition");
    assert_eq!(route(&srv, o.tok("drafter"), &doc)["version"], 2);
    // The same key for another request is refused; a bad key is refused.
    act_with_key(
        &srv,
        o.tok("head"),
        &t,
        &json!({"action": "comment", "comment": "khác"}),
        Some("phone-7f3a"),
    )
    .assert_problem(422, "idempotency_key_reused");
    act_with_key(&srv, o.tok("head"), &t, &body, Some("two words"))
        .assert_problem(400, "invalid_idempotency_key");
    // Without a key the second approve is a conflict, not a second approval.
    act_with_key(&srv, o.tok("head"), &t, &body, None).assert_problem(409, "task_closed");
    // Keys are per user: the staff member may use the same string.
    let s = task_id(&srv, &o, "staff", &doc);
    let r = act_with_key(&srv, o.tok("staff"), &s, &body, Some("phone-7f3a"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["replayed"], false);
    assert_eq!(r.json["route"]["current_stage"], 2);

    // A phone sending the same request twice at once: one transition, both get the answer.
    let doc2 = draft(&srv, &o, "normal");
    let stages = json!([
        user_stage("review", "all", &["head"], &o),
        user_stage("sign", "any", &["director"], &o),
    ]);
    assert_eq!(start(&srv, &o, &doc2, stages).status, 201);
    let t2 = task_id(&srv, &o, "head", &doc2);
    let barrier = std::sync::Barrier::new(2);
    let (x, y) = std::thread::scope(|s| {
        let send = || {
            barrier.wait();
            act_with_key(&srv, o.tok("head"), &t2, &body, Some("double-tap"))
        };
        let hx = s.spawn(send);
        let hy = s.spawn(send);
        (hx.join().unwrap(), hy.join().unwrap())
    });
    assert_eq!((x.status, y.status), (200, 200), "{} / {}", x.text, y.text);
    let mut replayed = [
        x.json["replayed"].as_bool().unwrap(),
        y.json["replayed"].as_bool().unwrap(),
    ];
    replayed.sort();
    assert_eq!(replayed, [false, true]);
    assert_eq!(x.json["task"], y.json["task"]);
    assert_eq!(route(&srv, o.tok("drafter"), &doc2)["version"], 2);
    assert_eq!(audit(&srv, "task.approved").len(), 3);
}

/// The deadline the calendar should give: `days` working days after `from` (0: `from` itself
/// or the next working day), skipping weekends and `off`; end of that day in Vietnam, as UTC.
fn expected_deadline(from: chrono::NaiveDate, days: u32, off: &[chrono::NaiveDate]) -> String {
    use chrono::Datelike;
    let works = |d: chrono::NaiveDate| {
        !matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) && !off.contains(&d)
    };
    let mut d = from;
    if days == 0 {
        while !works(d) {
            d = d.succ_opt().unwrap();
        }
    } else {
        let mut left = days;
        while left > 0 {
            d = d.succ_opt().unwrap();
            if works(d) {
                left -= 1;
            }
        }
    }
    (d.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap() - chrono::Duration::hours(7))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn deadlines_and_the_inbox_order(b: Backend) {
    // The seeded calendar: the next three days are off (besides weekends).
    let today = (chrono::Utc::now() + chrono::Duration::hours(7)).date_naive();
    let off: Vec<chrono::NaiveDate> = (1..=3).map(|i| today + chrono::Duration::days(i)).collect();
    let list = off
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let srv = TestServer::start_with(b, move |c| {
        c.calendar_builtin_holidays = false;
        c.calendar_extra_holidays = list;
    });
    let o = office(&srv);
    let mut docs = HashMap::new();
    for urgency in ["normal", "urgent", "flash"] {
        let doc = draft(&srv, &o, urgency);
        assert_eq!(
            start(
                &srv,
                &o,
                &doc,
                json!([user_stage("review", "all", &["head"], &o)])
            )
            .status,
            201
        );
        docs.insert(urgency, doc);
    }
    let r = srv.get("/api/v1/tasks", Some(o.tok("head")));
    let inbox = r.json.as_array().unwrap();
    let order: Vec<&str> = inbox
        .iter()
        .map(|i| i["task"]["urgency"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        vec!["flash", "urgent", "normal"],
        "most urgent first"
    );
    // A route deadline caps its stages: one working day for a normal draft.
    let capped = draft(&srv, &o, "normal");
    let r = srv.post(
        &format!("/api/v1/documents/{capped}/route"),
        Some(o.tok("drafter")),
        &json!({"stages": [user_stage("review", "all", &["staff"], &o)], "deadline_days": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["deadline"], expected_deadline(today, 1, &off));
    assert_eq!(r.json["overdue"], false);
    assert_eq!(
        r.json["stages"][0]["tasks"][0]["deadline"],
        expected_deadline(today, 1, &off)
    );
    for (urgency, days) in [("flash", 0), ("urgent", 2), ("normal", 5)] {
        let item = inbox
            .iter()
            .find(|i| i["task"]["document_id"] == docs[urgency].as_str())
            .unwrap();
        assert_eq!(
            item["task"]["deadline"],
            expected_deadline(today, days, &off),
            "{urgency}: {days} working days skipping {off:?}"
        );
        assert_eq!(item["task"]["overdue"], false);
    }
    // A deadline in the past is flagged.
    {
        use diesel::prelude::*;
        use docflow::db::schema::workflow_tasks as t;
        let id = inbox[2]["task"]["id"].as_str().unwrap().to_string();
        let past = chrono::NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(17, 0, 0)
            .unwrap();
        let mut conn = srv.db.connect();
        diesel::update(t::table.find(id))
            .set(t::deadline.eq(Some(past)))
            .execute(&mut conn)
            .unwrap();
        // A write of this process outside `db::write_tx`: the server (in this process)
        // serves nothing from memory until its cache feed has seen it (src/cache).
        docflow::cache::committed();
    }
    let r = srv.get("/api/v1/tasks", Some(o.tok("head")));
    let items = r.json.as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .filter(|i| i["task"]["overdue"] == true)
            .count(),
        1
    );
}

/// Moves a task's times into the past, under the API (the report is about history).
fn set_times(srv: &TestServer, task: &str, assigned: &str, deadline: &str, acted: &str) {
    use diesel::prelude::*;
    use docflow::db::schema::workflow_tasks as t;
    let p = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    let mut conn = srv.db.connect();
    let n = diesel::update(t::table.find(task))
        .set((
            t::assigned_at.eq(p(assigned)),
            t::deadline.eq(Some(p(deadline))),
            t::acted_at.eq(Some(p(acted))),
        ))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(n, 1);
    // Outside `db::write_tx`: see the deadline test above.
    docflow::cache::committed();
}

fn lateness_across_a_holiday(b: Backend) {
    // The seeded calendar: weekends plus 30/4 and 1/5 only, from the settings.
    let srv = TestServer::start_with(b, |c| {
        c.calendar_builtin_holidays = false;
        c.calendar_extra_holidays = "2026-04-30, 2026-05-01".into();
    });
    let o = office(&srv);
    let doc = draft(&srv, &o, "normal");
    let stages = json!([
        user_stage("review", "all", &["head"], &o),
        user_stage("review", "all", &["staff"], &o),
        user_stage("review", "all", &["staff2"], &o),
        user_stage("review", "all", &["legal"], &o),
    ]);
    assert_eq!(start(&srv, &o, &doc, stages).status, 201);
    let mut ids = HashMap::new();
    for who in ["head", "staff", "staff2", "legal"] {
        let t = task_id(&srv, &o, who, &doc);
        assert_eq!(
            act(&srv, &o, who, &doc, json!({"action": "approve"})).status,
            200
        );
        ids.insert(who, t);
    }
    // Given Tuesday 28/4 09:00 (Hà Nội) with two working days: due at the end of Monday 4/5
    // (29/4, then the holidays and the weekend, then 4/5).
    set_times(
        &srv,
        &ids["head"],
        "2026-04-28 02:00",
        "2026-05-04 17:00",
        "2026-05-04 08:00",
    );
    set_times(
        &srv,
        &ids["staff"],
        "2026-04-28 02:00",
        "2026-05-04 17:00",
        "2026-05-05 03:00",
    );
    // Hỏa tốc on 29/4: due the same day, handled the same day.
    set_times(
        &srv,
        &ids["staff2"],
        "2026-04-29 02:00",
        "2026-04-29 17:00",
        "2026-04-29 09:00",
    );
    // Outside the period.
    set_times(
        &srv,
        &ids["legal"],
        "2026-05-18 02:00",
        "2026-05-19 17:00",
        "2026-05-25 02:00",
    );

    let q = format!(
        "/api/v1/reports/lateness?unit={}&from=2026-04-27&to=2026-05-08",
        o.unit("PHONG")
    );
    let r = srv.get(&q, Some(o.tok("head")));
    assert_eq!(r.status, 200, "{}", r.text);
    let line = &r.json["units"][0];
    assert_eq!(line["unit_code"], "PHONG");
    assert_eq!(line["handled"], 3);
    assert_eq!(line["handled_late"], 1);
    assert!((line["late_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    // 2, 3 and 0 working days (counting the holidays it would be 4, 5 and 0).
    assert_eq!(line["median_handling_days"], 2.0);

    // The legal division's task is outside the period; an admin sees every unit.
    let r = srv.get(
        "/api/v1/reports/lateness?from=2026-05-01&to=2026-05-31",
        Some(&srv.admin_token),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let units: Vec<&str> = r.json["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["unit_code"].as_str().unwrap())
        .collect();
    assert_eq!(units, vec!["PC", "PHONG"]);
    // Others' units are not theirs to read; bad periods are refused.
    srv.get(&q, Some(o.tok("legal")))
        .assert_problem(403, "forbidden");
    srv.get(
        "/api/v1/reports/lateness?from=2026-05-01&to=2026-05-31",
        Some(o.tok("head")),
    )
    .assert_problem(422, "validation_failed");
    srv.get(
        &format!(
            "/api/v1/reports/lateness?unit={}&from=2026-05-08&to=2026-05-01",
            o.unit("PHONG")
        ),
        Some(o.tok("head")),
    )
    .assert_problem(422, "validation_failed");
    srv.get("/api/v1/reports/lateness?from=8/5", Some(o.tok("head")))
        .assert_problem(400, "invalid_query");
}

fn templates_and_bad_input(b: Backend) {
    let srv = TestServer::start(b);
    let o = office(&srv);
    let body = json!({"name": "Tờ trình của Phòng Việc làm", "type_code": "TTr", "unit_id": o.unit("PHONG"),
    "stages": [
        {"kind": "review", "assignees": [{"head_of": o.unit("PHONG")}]},
        {"kind": "review", "policy": "quorum", "quorum": 1, "assignees": [{"head_of": o.unit("PC")}, {"head_of": o.unit("KHTC")}]},
        {"kind": "sign", "assignees": [{"head_of": o.unit("SO")}], "signing": {"requires_signature": false}},
        {"kind": "inform", "assignees": [{"role": "clerk", "unit": o.unit("SO")}]}
    ]});
    srv.post("/api/v1/route-templates", Some(o.tok("head")), &body)
        .assert_problem(403, "forbidden");
    let r = srv.post("/api/v1/route-templates", Some(&srv.admin_token), &body);
    assert_eq!(r.status, 201, "{}", r.text);
    let tpl = r.json["id"].as_str().unwrap().to_string();
    let mut bad = body.clone();
    bad["stages"][1]["quorum"] = json!(3);
    srv.post("/api/v1/route-templates", Some(&srv.admin_token), &bad)
        .assert_problem(422, "validation_failed");
    let mut bad = body.clone();
    bad["stages"][0]["assignees"][0] = json!({"user": o.id("head"), "head_of": o.unit("PC")});
    srv.post("/api/v1/route-templates", Some(&srv.admin_token), &bad)
        .assert_problem(422, "validation_failed");
    let mut bad = body.clone();
    bad["stages"][0]["kind"] = json!("approve");
    srv.post("/api/v1/route-templates", Some(&srv.admin_token), &bad)
        .assert_problem(400, "invalid_field");

    let doc = draft(&srv, &o, "flash");
    let r = srv.post(
        &format!("/api/v1/documents/{doc}/route"),
        Some(o.tok("drafter")),
        &json!({"template_id": tpl}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["template_id"], tpl.as_str());
    assert_eq!(
        r.json["stages"][0]["tasks"][0]["assignee"]["id"],
        o.id("head")
    );
    // Hỏa tốc: due by the end of a working day no later than the next one.
    let item = task_of(&srv, o.tok("head"), &doc).unwrap();
    assert_eq!(item["task"]["urgency"], "flash");
    act(&srv, &o, "head", &doc, json!({"action": "approve"}));
    act(&srv, &o, "finance", &doc, json!({"action": "approve"}));
    assert!(
        task_of(&srv, o.tok("legal"), &doc).is_none(),
        "quorum of one met"
    );
    let r = act(&srv, &o, "director", &doc, json!({"action": "approve"}));
    assert_eq!(
        r.json["route"]["status"], "completed",
        "the inform stage does not block"
    );
    assert!(sees(&srv, o.tok("clerk"), &doc));

    // Retired templates are not used; ad hoc routes are checked.
    let r = srv.patch(
        &format!("/api/v1/route-templates/{tpl}"),
        Some(&srv.admin_token),
        &json!({"active": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let doc2 = draft(&srv, &o, "normal");
    let path = format!("/api/v1/documents/{doc2}/route");
    srv.post(&path, Some(o.tok("drafter")), &json!({"template_id": tpl}))
        .assert_problem(422, "validation_failed");
    srv.post(&path, Some(o.tok("drafter")), &json!({"stages": []}))
        .assert_problem(422, "validation_failed");
    srv.post(&path, Some(o.tok("drafter")), &json!({}))
        .assert_problem(422, "validation_failed");
    srv.post(
        &path,
        Some(o.tok("drafter")),
        &json!({"stages": [{"kind": "review", "assignees": [{"user": "nobody"}]}]}),
    )
    .assert_problem(422, "validation_failed");
    srv.post(&path, Some(o.tok("drafter")), &json!({"stages": [{"kind": "review", "policy": "quorum", "assignees": [{"user": o.id("head")}]}]}))
        .assert_problem(422, "validation_failed");
    srv.post(
        &path,
        Some(o.tok("drafter")),
        &json!({"stages": [{"kind": "review", "assignees": [{"head_of": o.unit("X")}]}]}),
    )
    .assert_problem(422, "validation_failed");
    // Nothing was half-written: the draft has no route.
    srv.get(&path, Some(o.tok("drafter")))
        .assert_problem(404, "not_found");
    // Unknown task ids and non-ids are 404.
    act_with_key(
        &srv,
        o.tok("head"),
        "not-a-task",
        &json!({"action": "approve"}),
        None,
    )
    .assert_problem(404, "not_found");
    act_with_key(
        &srv,
        o.tok("head"),
        &uuid::Uuid::new_v4().to_string(),
        &json!({"action": "approve"}),
        None,
    )
    .assert_problem(404, "not_found");
    act_with_key(
        &srv,
        o.tok("head"),
        &uuid::Uuid::new_v4().to_string(),
        &json!({"action": "sign_it"}),
        None,
    )
    .assert_problem(400, "invalid_field");
    act_with_key(
        &srv,
        o.tok("head"),
        &uuid::Uuid::new_v4().to_string(),
        &json!({"action": "sign", "credential_id": uuid::Uuid::new_v4().to_string(), "pin": "123456"}),
        None,
    )
    .assert_problem(404, "not_found");
}

both_backends!(
    draft_climbs_the_chain,
    return_and_reject,
    delegate_and_substitution,
    recall_opinion_and_insert,
    incoming_lead_assignment,
    any_of_race,
    idempotent_retry,
    lateness_across_a_holiday,
    deadlines_and_the_inbox_order,
    templates_and_bad_input,
);
