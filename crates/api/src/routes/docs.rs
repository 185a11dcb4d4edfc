//! The OpenAPI document and its two viewers, Swagger UI (`/docs`) and ReDoc (`/redoc`),
//! served from the binary so they work with no internet. Both pages load
//! `/openapi.json` at run time. Their Content-Security-Policy is relaxed only as far as
//! each page needs: same-origin scripts, styles and fetches; ReDoc also needs inline
//! styles (it injects them) and a blob: worker for search.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::Config;

use crate::error::{ApiError, ErrorCode};

/// The CSP of the Swagger UI page.
/// Swagger UI injects one fixed inline style; only its hash is allowed.
pub const SWAGGER_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; img-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// The CSP of the ReDoc page.
pub const REDOC_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

static REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

const REDOC_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>Taskforge API — ReDoc</title>
    <meta name="viewport" content="width=device-width, initial-scale=1">
  </head>
  <body>
    <redoc spec-url="/openapi.json"></redoc>
    <script type="module" src="/redoc/redoc.standalone.js"></script>
  </body>
</html>
"#;

/// The serialised document, built once.
pub struct OpenApiJson(pub String);

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "docs", responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

fn swagger_config() -> Arc<Config<'static>> {
    Arc::new(Config::new(["/openapi.json"]).persist_authorization(false))
}

/// Serves one file of the Swagger UI distribution, with asset links made absolute so
/// that `/docs` and `/docs/` both work without a redirect.
fn swagger_file(file: &str) -> Result<HttpResponse, ApiError> {
    let served = utoipa_swagger_ui::serve(file, swagger_config())
        .map_err(|err| ApiError::internal(err.to_string()))?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such documentation file"))?;
    let body = if file == "index.html" {
        String::from_utf8_lossy(&served.bytes)
            .replace("href=\"./", "href=\"/docs/")
            .replace("href=\"index.css", "href=\"/docs/index.css")
            .replace("src=\"./", "src=\"/docs/")
            .into_bytes()
    } else {
        served.bytes.to_vec()
    };
    Ok(HttpResponse::Ok()
        .content_type(served.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, SWAGGER_CSP))
        .body(body))
}

/// `GET /docs`: Swagger UI.
#[utoipa::path(get, path = "/docs", tag = "docs", responses((status = 200, description = "Swagger UI", content_type = "text/html")))]
pub async fn swagger_ui() -> Result<HttpResponse, ApiError> {
    swagger_file("index.html")
}

/// `GET /docs/{file}`: Swagger UI's assets.
pub async fn swagger_asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    swagger_file(&file)
}

/// `GET /redoc`: ReDoc.
#[utoipa::path(get, path = "/redoc", tag = "docs", responses((status = 200, description = "ReDoc", content_type = "text/html")))]
pub async fn redoc() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, REDOC_CSP))
        .body(REDOC_HTML)
}

/// `GET /redoc/redoc.standalone.js`: ReDoc's bundle (MIT, see `assets/redoc`).
pub async fn redoc_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(REDOC_JS)
}

/// Registers the document and both viewers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let json = serde_json::to_string(&crate::openapi::document()).unwrap_or_default();
    cfg.app_data(web::Data::new(OpenApiJson(json)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(web::resource("/docs").route(web::get().to(swagger_ui)))
        .service(web::resource("/docs/{file:.*}").route(web::get().to(swagger_asset)))
        .service(web::resource("/redoc").route(web::get().to(redoc)))
        .service(web::resource("/redoc/redoc.standalone.js").route(web::get().to(redoc_js)));
}
