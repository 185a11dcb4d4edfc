//! Cross-cutting HTTP behaviour wrapped around every route.

pub mod deadline;
pub mod problem;
pub mod request_context;
pub mod security_headers;
