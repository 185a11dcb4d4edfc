//! What the integration test files of this crate share.

/// Records that a test ran on `backend`, for CI: appends the name to the file named by
/// `TASKFORGE_PG_MARKER`, when set. CI fails if a backend recorded nothing.
pub fn record_run(backend: &str) {
    if let Ok(path) = std::env::var("TASKFORGE_PG_MARKER") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{backend}");
        }
    }
}
