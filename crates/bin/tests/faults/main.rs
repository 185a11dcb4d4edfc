//! Fault injection: the release contract on a bad day, proven against the real binary
//! and a PostgreSQL cluster each test starts for itself (`initdb` into a temporary
//! directory, a free port; the machine's PostgreSQL binaries), so that it can be
//! stopped, restarted, locked and cut off at will without touching any other database.
//!
//! Every test prints its figures (answers by status, latencies, times to recover) and
//! asserts the rules of the contract: 503 with `Retry-After` and never 500 while the
//! database is away, recovery within a second once it is back, one request's fault
//! never spreading to another's, no write applied twice or acknowledged and lost.
//!
//! The tests run one at a time (they load both cores). When the PostgreSQL binaries are
//! missing they fail, unless `TASKFORGE_SKIP_FAULTS` is set; each test that ran
//! appends `faults` to the file named by `TASKFORGE_PG_MARKER`, which CI checks.

mod cluster;
mod events;
mod hashing;
mod input;
mod load;
mod locks;
mod restart;
mod server;
mod shutdown;
mod terminate;

/// One fault test at a time: each loads the machine, and timings are part of the rules.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records a fault test run for CI.
fn record_run() {
    if let Ok(path) = std::env::var("TASKFORGE_PG_MARKER") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "faults");
        }
    }
}
