//! The OpenAPI document lists every route of the contract (`../shared/API.md`), and the
//! documentation pages are served from the binary under a tight Content-Security-Policy.

use serde_json::Value;
use taskforge_tests::{json_of, spawn_app};

/// Every (method, path) of the contract, compatibility routes included.
const CONTRACT: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/redoc"),
    ("get", "/metrics"),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/sessions"),
    ("delete", "/api/v1/auth/sessions/{id}"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("get", "/api/v1/users/me"),
    ("patch", "/api/v1/users/me"),
    ("delete", "/api/v1/users/me"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{user_id}"),
    ("patch", "/api/v1/users/{user_id}"),
    ("delete", "/api/v1/users/{user_id}"),
    ("post", "/api/v1/tasks"),
    ("get", "/api/v1/tasks"),
    ("get", "/api/v1/tasks/{id}"),
    ("put", "/api/v1/tasks/{id}"),
    ("patch", "/api/v1/tasks/{id}"),
    ("delete", "/api/v1/tasks/{id}"),
    ("patch", "/api/v1/tasks/{id}/complete"),
    ("get", "/api/v1/tasks/changes"),
    ("get", "/api/v1/tasks/{id}/history"),
    ("get", "/api/v1/tasks/events"),
    ("get", "/api/v1/users/{user_id}/tasks"),
    ("post", "/api/v1/users/{user_id}/tasks"),
    ("get", "/api/v1/users/{user_id}/tasks/{id}"),
    ("put", "/api/v1/users/{user_id}/tasks/{id}"),
    ("patch", "/api/v1/users/{user_id}/tasks/{id}"),
    ("delete", "/api/v1/users/{user_id}/tasks/{id}"),
    ("patch", "/api/v1/users/{user_id}/tasks/{id}/complete"),
];

/// The deprecated compatibility routes.
const COMPATIBILITY: &[(&str, &str)] = &[
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("post", "/api/auth/signup"),
    ("post", "/api/auth/login"),
    ("get", "/api/{user_id}/tasks"),
    ("post", "/api/{user_id}/tasks"),
    ("get", "/api/{user_id}/tasks/{id}"),
    ("put", "/api/{user_id}/tasks/{id}"),
    ("patch", "/api/{user_id}/tasks/{id}"),
    ("delete", "/api/{user_id}/tasks/{id}"),
    ("patch", "/api/{user_id}/tasks/{id}/complete"),
];

async fn document() -> Value {
    let app = spawn_app().await;
    let (status, doc) = json_of(app.get("/openapi.json").await).await;
    assert_eq!(status, 200);
    doc
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_contract_route() {
    let doc = document().await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for (method, path) in CONTRACT {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert_ne!(
            op["deprecated"],
            Value::Bool(true),
            "{method} {path} is not deprecated"
        );
    }
    for (method, path) in COMPATIBILITY {
        assert_eq!(
            doc["paths"][path][method]["deprecated"],
            Value::Bool(true),
            "{method} {path} is deprecated"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .map(|paths| {
            paths
                .values()
                .map(|item| item.as_object().map_or(0, |ops| ops.len()))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(
        documented,
        CONTRACT.len() + COMPATIBILITY.len(),
        "no undocumented extras, none missing"
    );
}

#[tokio::test]
async fn errors_share_the_problem_schema_and_auth_offers_bearer_and_the_password_flow() {
    let doc = document().await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        schemes["oauth2"]["flows"]["password"]["tokenUrl"],
        "/api/v1/auth/login"
    );
    let login = &doc["paths"]["/api/v1/auth/login"]["post"]["requestBody"]["content"];
    assert!(
        login["application/json"].is_object()
            && login["application/x-www-form-urlencoded"].is_object()
    );
    let problem = "#/components/schemas/Problem";
    let get_task = &doc["paths"]["/api/v1/tasks/{id}"]["get"]["responses"];
    for status in ["401", "404", "500"] {
        assert_eq!(
            get_task[status]["content"]["application/problem+json"]["schema"]["$ref"], problem,
            "{status}"
        );
    }
    let put_task = &doc["paths"]["/api/v1/tasks/{id}"]["put"]["responses"];
    for status in ["400", "403", "412", "413", "415", "422"] {
        assert!(put_task[status].is_object(), "PUT task documents {status}");
    }
    assert!(
        doc["paths"]["/api/v1/tasks/{id}"]["get"]["responses"]["200"]["headers"]["ETag"]
            .is_object()
    );
}

#[tokio::test]
async fn docs_pages_are_served_offline_under_a_relaxed_but_tight_policy() {
    let app = spawn_app().await;
    for (path, needle) in [
        ("/docs", "swagger-ui"),
        ("/docs/", "swagger-ui"),
        ("/redoc", "redoc.standalone.js"),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(
            !csp.contains('*') && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        let html = res.text().await.unwrap();
        assert!(html.contains(needle), "{path}");
        assert!(
            !html.contains("https://"),
            "{path} loads nothing from the internet"
        );
    }
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
        "/redoc/redoc.standalone.js",
    ] {
        assert_eq!(app.get(asset).await.status().as_u16(), 200, "{asset}");
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        init.contains("/openapi.json"),
        "Swagger UI loads the document at run time"
    );
    // Everything else keeps the strict API policy.
    let res = app.get("/openapi.json").await;
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
}

/// Every list operation, the page component it answers with, and that page's item.
const LISTS: &[(&str, &str, &str)] = &[
    ("/api/v1/tasks", "TaskPage", "Task"),
    ("/api/v1/users/{user_id}/tasks", "TaskPage", "Task"),
    ("/api/{user_id}/tasks", "TaskPage", "Task"),
    ("/api/v1/users", "UserPage", "User"),
];

/// Calls `visit` with the JSON pointer of every object in `value`, depth first.
fn walk_objects<'a>(
    value: &'a Value,
    pointer: &str,
    visit: &mut impl FnMut(&str, &'a serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(map) => {
            visit(pointer, map);
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                walk_objects(child, &format!("{pointer}/{key}"), visit);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_objects(child, &format!("{pointer}/{i}"), visit);
            }
        }
        _ => {}
    }
}

fn property_names(schema: &serde_json::Map<String, Value>) -> Option<Vec<&str>> {
    let mut names: Vec<&str> = schema
        .get("properties")?
        .as_object()?
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    Some(names)
}

#[tokio::test]
async fn lists_answer_named_pages_whose_items_refer_to_the_item_schema() {
    let doc = document().await;
    let schemas = &doc["components"]["schemas"];
    for (path, page, item) in LISTS {
        assert_eq!(
            doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"],
            format!("#/components/schemas/{page}").as_str(),
            "GET {path} answers a {page}"
        );
        let items = &schemas[page]["properties"]["items"];
        assert_eq!(items["type"], "array", "{page}.items");
        assert_eq!(
            items["items"]["$ref"],
            format!("#/components/schemas/{item}").as_str(),
            "{page}.items holds {item}s by reference"
        );
        assert_eq!(
            schemas[page]["required"],
            serde_json::json!([
                "items",
                "total",
                "total_exact",
                "limit",
                "offset",
                "next_cursor"
            ]),
            "{page}"
        );
    }
    let generic: Vec<&String> = schemas
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| name.contains('_') || name.starts_with("PageResponse"))
        .collect();
    assert!(generic.is_empty(), "no generic page schemas: {generic:?}");
}

#[tokio::test]
async fn every_reused_schema_is_a_reference_never_an_inline_copy() {
    let doc = document().await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut faults = Vec::new();
    for name in [
        "Task",
        "User",
        "Problem",
        "FieldError",
        "TokenPair",
        "TaskStatus",
        "Priority",
        "Role",
        "TaskPage",
        "UserPage",
        "TaskBody",
        "PatchTaskBody",
        "RegisterBody",
        "LoginBody",
        "LoginForm",
        "RefreshBody",
        "CreateUserBody",
        "UpdateMeBody",
        "UpdateUserBody",
    ] {
        if !schemas.contains_key(name) {
            faults.push(format!("{name} is not a named component"));
        }
    }
    let shapes: Vec<(&String, Vec<&str>)> = schemas
        .iter()
        .filter_map(|(name, s)| Some((name, property_names(s.as_object()?)?)))
        .collect();
    let enums: Vec<(&String, &Value)> = schemas
        .iter()
        .filter_map(|(name, s)| Some((name, s.get("enum")?)))
        .collect();
    // Anywhere but a component's own top level: no copy of a component's shape or enum,
    // and every `$ref` resolves.
    walk_objects(&doc, "", &mut |pointer, node| {
        let is_component = pointer
            .strip_prefix("/components/schemas/")
            .is_some_and(|name| !name.contains('/'));
        if is_component {
            return;
        }
        if let Some(target) = node.get("$ref") {
            let name = target
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"));
            if !name.is_some_and(|name| schemas.contains_key(name)) {
                faults.push(format!("{pointer}: dangling $ref {target}"));
            }
        }
        if let Some(names) = property_names(node) {
            if names.contains(&"owner_id") || names.contains(&"email") {
                faults.push(format!("{pointer}: an inline object with {names:?}"));
            }
            for (component, shape) in &shapes {
                if *shape == names {
                    faults.push(format!("{pointer}: an inline copy of {component}"));
                }
            }
        }
        if let Some(values) = node.get("enum") {
            for (component, own) in &enums {
                if *own == values {
                    faults.push(format!("{pointer}: an inline copy of the enum {component}"));
                }
            }
        }
    });
    // Every object body of an operation is a named component: a generator names an
    // inline body after its operation, one more type per operation for the same thing.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let request = op["requestBody"]["content"].as_object();
            let responses = op["responses"].as_object().into_iter().flat_map(|r| {
                r.iter()
                    .filter_map(|(status, res)| Some((status, res["content"].as_object()?)))
            });
            let bodies = request
                .map(|c| ("request".to_owned(), c))
                .into_iter()
                .chain(responses.map(|(status, c)| (status.clone(), c)));
            for (what, content) in bodies {
                for (media, body) in content {
                    let schema = &body["schema"];
                    if schema.get("properties").is_some() || schema["type"] == "object" {
                        faults.push(format!(
                            "{method} {path} {what} {media}: an inline object, not a $ref"
                        ));
                    }
                }
            }
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}
