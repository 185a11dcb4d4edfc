//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations
//! and the DTOs' schemas. Two modifiers keep it complete without repeating anything:
//! one adds the errors every operation of a kind can give (problem+json), the other
//! derives the user-scoped, alias and deprecated compatibility paths from the routes
//! they mirror, exactly as the router serves them from the same handlers.

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Deprecated, OpenApi as OpenApiDoc, Ref, Required};
use utoipa::{Modify, OpenApi};

use crate::error::ProblemBody;
use crate::middleware::problem::PROBLEM_JSON;
use crate::routes::{auth, changes, docs, events, health, metrics, tasks, users};

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Taskforge",
        description = "Task management REST API: users and roles, JWT sessions with refresh-token rotation, \
            tasks with filters, paging and optimistic concurrency (ETag / If-Match). Every error is \
            RFC 9457 `application/problem+json`.",
        license(name = "MIT")
    ),
    paths(
        health::live, health::live_probe, health::ready, metrics::metrics,
        docs::openapi_json, docs::swagger_ui, docs::redoc,
        auth::register, auth::login, auth::refresh, auth::logout,
        auth::sessions::list_sessions, auth::sessions::delete_session,
        auth::reset::request_password_reset, auth::reset::confirm_password_reset,
        users::get_me, users::update_me, users::delete_me, users::list_users, users::create_user,
        users::get_user, users::update_user, users::delete_user,
        tasks::list_tasks, tasks::create_task, tasks::get_task, tasks::replace_task, tasks::patch_task,
        tasks::delete_task, tasks::toggle_task,
        changes::task_changes, changes::task_history, events::task_events,
    ),
    components(schemas(ProblemBody)),
    modifiers(&SecuritySchemes, &OptionalBodies, &IdempotentWrites, &DerivedPaths, &ErrorResponses),
    tags(
        (name = "auth", description = "Register, log in (JSON or OAuth2 form; failed logins are throttled per account), refresh, log out, list and end your sessions, reset a password by mail"),
        (name = "users", description = "The caller's account; user administration (admins)"),
        (name = "tasks", description = "Tasks, also under /api/v1/users/{user_id}/tasks"),
        (name = "health", description = "Liveness and readiness"),
        (name = "docs", description = "This document and its viewers"),
    )
)]
pub struct ApiDoc;

/// The document as served at `/openapi.json`.
pub fn document() -> OpenApiDoc {
    ApiDoc::openapi()
}

/// Request bodies a client may leave out (utoipa marks a body optional only as
/// `oneOf [null, …]`, and `null` is not a body the server takes).
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let logout = doc
            .paths
            .paths
            .get_mut("/api/v1/auth/logout")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        if let Some(body) = logout {
            // Without `all=true` the refresh token is required, which the server says
            // with a 422 naming `refresh_token`.
            body.required = Some(Required::False);
        }
    }
}

/// `Idempotency-Key` on every task write (before the derived paths copy them): the
/// header, the replay marker on success, and what a reused or busy key gets.
struct IdempotentWrites;

impl Modify for IdempotentWrites {
    fn modify(&self, doc: &mut OpenApiDoc) {
        for path in [
            "/api/v1/tasks",
            "/api/v1/tasks/{id}",
            "/api/v1/tasks/{id}/complete",
        ] {
            let Some(item) = doc.paths.paths.get_mut(path) else {
                continue;
            };
            let writes = [
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for op in writes.into_iter().flatten() {
                let key: Parameter = ParameterBuilder::new()
                    .name(crate::extract::idempotency::HEADER)
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "1–255 visible ASCII characters, yours for 24 hours. A repeat with the \
                         same key, method, path and body gets the first answer again \
                         (`Idempotent-Replayed: true`) and writes nothing; only 2xx answers \
                         are kept, so a failed request leaves its key unused.",
                    ))
                    .schema(Some(
                        utoipa::openapi::schema::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::String)
                            .min_length(Some(1))
                            .max_length(Some(255))
                            .pattern(Some("^[\\x21-\\x7E]+$")),
                    ))
                    .build();
                op.parameters.get_or_insert_with(Vec::new).push(key);
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (true, utoipa::openapi::RefOr::T(response)) =
                        (status.starts_with('2'), response)
                    {
                        response.headers.insert(
                            "Idempotent-Replayed".to_owned(),
                            utoipa::openapi::HeaderBuilder::new()
                                .schema(
                                    utoipa::openapi::schema::ObjectBuilder::new()
                                        .schema_type(utoipa::openapi::schema::Type::Boolean),
                                )
                                .description(Some(
                                    "`true` when this is the stored answer to an earlier \
                                     request with the same `Idempotency-Key`",
                                ))
                                .build(),
                        );
                    }
                }
                for (status, description) in [
                    (
                        "409",
                        "A request with this `Idempotency-Key` is still running; retry later",
                    ),
                    (
                        "422",
                        "Invalid field, or an `Idempotency-Key` that is malformed or was used for another method, path or body (`errors[].field` = `Idempotency-Key`)",
                    ),
                ] {
                    add_response(op, status, description);
                }
            }
        }
    }
}

/// Bearer JWT, and the OAuth2 password flow Swagger UI's "Authorize" uses.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/api/v1/auth/login",
                Scopes::new(),
            ))])),
        );
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Copies `from` to `to`, renaming operation ids with `suffix`, optionally deprecated
/// and with a leading `user_id` path parameter.
fn derive_path(
    doc: &mut OpenApiDoc,
    from: &str,
    to: &str,
    suffix: &str,
    deprecated: bool,
    user_scoped: bool,
) {
    let Some(mut item) = doc.paths.paths.get(from).cloned() else {
        return;
    };
    for op in operations_mut(&mut item) {
        op.operation_id = op.operation_id.take().map(|id| format!("{id}{suffix}"));
        if deprecated {
            op.deprecated = Some(Deprecated::True);
        }
        if user_scoped {
            let user_id: Parameter = ParameterBuilder::new()
                .name("user_id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The owner: the caller, or any user for an admin"))
                .schema(Some(
                    utoipa::openapi::schema::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String)
                        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Uuid,
                        ))),
                ))
                .build();
            op.parameters
                .get_or_insert_with(Vec::new)
                .insert(0, user_id);
            op.responses.responses.insert(
                "403".into(),
                ResponseBuilder::new()
                    .description("`user_id` is not the caller and the caller is not an admin")
                    .build()
                    .into(),
            );
        }
    }
    doc.paths.paths.insert(to.to_owned(), item);
}

/// The alias, user-scoped and compatibility paths, served by the same handlers.
struct DerivedPaths;

impl Modify for DerivedPaths {
    fn modify(&self, doc: &mut OpenApiDoc) {
        derive_path(
            doc,
            "/api/v1/auth/register",
            "/api/v1/auth/signup",
            "_signup",
            false,
            false,
        );
        derive_path(
            doc,
            "/api/v1/auth/register",
            "/auth/register",
            "_compat",
            true,
            false,
        );
        derive_path(
            doc,
            "/api/v1/auth/register",
            "/api/auth/signup",
            "_compat_signup",
            true,
            false,
        );
        derive_path(
            doc,
            "/api/v1/auth/login",
            "/auth/login",
            "_compat",
            true,
            false,
        );
        derive_path(
            doc,
            "/api/v1/auth/login",
            "/api/auth/login",
            "_compat_api",
            true,
            false,
        );
        for tail in ["", "/{id}", "/{id}/complete"] {
            let from = format!("/api/v1/tasks{tail}");
            derive_path(
                doc,
                &from,
                &format!("/api/v1/users/{{user_id}}/tasks{tail}"),
                "_for_user",
                false,
                true,
            );
            derive_path(
                doc,
                &from,
                &format!("/api/{{user_id}}/tasks{tail}"),
                "_compat",
                true,
                true,
            );
        }
    }
}

/// Adds the problem+json errors an operation can give by its shape, and gives every
/// error response the shared `Problem` body.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let problem = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        for item in doc.paths.paths.values_mut() {
            for op in operations_mut(item) {
                let params = op.parameters.as_deref().unwrap_or_default();
                let has = |location: ParameterIn| params.iter().any(|p| p.parameter_in == location);
                let mut implied = vec![("500", "Internal error (no details are disclosed)")];
                if op.request_body.is_some() {
                    implied.extend([
                        ("400", "Malformed or empty JSON body"),
                        ("413", "Body larger than MAX_BODY_BYTES"),
                        ("415", "Body not sent as application/json"),
                        ("422", "Invalid field; `errors[]` names each"),
                    ]);
                }
                if has(ParameterIn::Query) {
                    implied.push(("422", "Invalid query parameter; `errors[]` names each"));
                }
                if has(ParameterIn::Path) {
                    implied.push(("404", "Nothing exists at this path (ids are UUIDs)"));
                }
                let needs_token = op
                    .security
                    .as_ref()
                    .is_some_and(|reqs| !reqs.is_empty() && !reqs.iter().any(is_empty_requirement));
                if needs_token {
                    implied.push(("401", "Missing, invalid, expired or revoked access token"));
                }
                for (status, description) in implied {
                    add_response(op, status, description);
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    if let (true, utoipa::openapi::RefOr::T(response)) =
                        (status.as_str() >= "400", response)
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert(PROBLEM_JSON.to_owned(), problem.clone());
                    }
                }
            }
        }
    }
}

/// Documents `status` on `op` with `description`, unless the operation already does.
fn add_response(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .build()
                .into()
        });
}

/// `{}` in a security list: the operation also works without credentials.
fn is_empty_requirement(req: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(req).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
}
