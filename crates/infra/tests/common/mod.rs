//! What the integration test files of this crate share.

/// Records a PostgreSQL run for CI: appends `infra` to the file named by
/// `TASKFORGE_PG_MARKER`, when set. CI fails if no PostgreSQL test ran.
pub fn record_postgres_run() {
    if let Ok(path) = std::env::var("TASKFORGE_PG_MARKER") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "infra");
        }
    }
}
