//! The OpenAPI document is generated from the code and covers every route the app serves.

use crate::common::{Backend, TestServer};
use std::collections::BTreeSet;

/// (METHOD, path) of every handler declared with an actix route macro in src/.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Handlers under /api/v1 live in domain modules; only http/ serves from the root.
            let prefix = if path.to_string_lossy().contains("/src/http/") {
                ""
            } else {
                "/api/v1"
            };
            for line in text.lines().map(str::trim) {
                for method in ["get", "post", "put", "patch", "delete"] {
                    if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                        let route = rest.split('"').next().unwrap();
                        out.insert((method.to_uppercase(), format!("{prefix}{route}")));
                    }
                }
            }
        }
    }
    out
}

fn routes_in_document(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// Names of every `#/components/schemas/…` reference in the document.
fn collect_refs(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x.as_str()) {
                    ("$ref", Some(r)) => {
                        if let Some(name) = r.strip_prefix("#/components/schemas/") {
                            out.insert(name.to_string());
                        }
                    }
                    _ => collect_refs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn document_covers_every_route(b: Backend) {
    let srv = TestServer::start(b);
    let r = srv.get("/api/v1/openapi.json", None);
    assert_eq!(r.status, 200);
    assert!(
        r.json["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        r.json["openapi"]
    );
    let documented = routes_in_document(&r.json);
    let declared = routes_in_source();
    assert!(
        declared.len() >= 15,
        "found {} routes in src",
        declared.len()
    );
    assert_eq!(
        declared, documented,
        "routes in code vs. in the OpenAPI document"
    );

    // Every documented route is served (answers with something other than 'no such route').
    for (method, path) in &documented {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let resp = srv.send(method, &concrete, Some(&srv.admin_token), None);
        assert_ne!(
            resp.json["code"], "route_not_found",
            "{method} {path} is documented but not served"
        );
    }
    // Problem documents are a shared component.
    assert!(r.json["components"]["schemas"]["Problem"].is_object());
    // Every schema reference resolves (utoipa does not collect enums used only in query
    // parameters: `ReportFormat` was referenced and missing; schemathesis flagged it).
    let mut refs = BTreeSet::new();
    collect_refs(&r.json, &mut refs);
    assert!(
        refs.len() >= 10,
        "found only {} schema references",
        refs.len()
    );
    for name in &refs {
        assert!(
            r.json["components"]["schemas"][name].is_object(),
            "#/components/schemas/{name} is referenced but not defined"
        );
    }
    // Swagger UI is served from the same build, nothing fetched from the web.
    let ui = srv.get("/api/docs/", None);
    assert_eq!(ui.status, 200);
    assert!(
        ui.text.contains("swagger"),
        "{}",
        &ui.text[..ui.text.len().min(200)]
    );
    // It may not be framed, and runs only its own scripts: every script the page names is
    // served from /api/docs/ under the policy, and there is no inline script the policy
    // would block.
    let csp = ui.header("content-security-policy").to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(ui.header("x-content-type-options"), "nosniff");
    let mut scripts = 0;
    for piece in ui.text.split("<script").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        let src = tag
            .split("src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("an inline script the policy blocks: {piece}"));
        let js = srv.get(&format!("/api/docs/{}", src.trim_start_matches("./")), None);
        assert_eq!(js.status, 200, "{src}");
        assert!(
            js.content_type().contains("javascript"),
            "{src}: {}",
            js.content_type()
        );
        assert!(!js.bytes.is_empty(), "{src}");
        scripts += 1;
    }
    assert_eq!(scripts, 3, "{}", ui.text);
}

both_backends!(document_covers_every_route);
