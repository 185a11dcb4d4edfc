//! The contract on a cluster: three instances of the real binary behind HAProxy
//! (`deploy/cluster/run.sh`), one PostgreSQL, one Redis — and the facts only a cluster
//! can break: consecutive requests on different instances, revocation seen everywhere
//! within a second, limits (requests and event streams) that hold across instances (and per instance while Redis is
//! away, never a 5xx), refresh-token reuse and idempotency replays across instances,
//! live events from a write on another instance, and an instance SIGKILLed under load.
//!
//! Needs `TEST_DATABASE_URL` (skipped without it: CI checks the `cluster` marker), and
//! `haproxy`, `redis-server` and `curl` (a failure when missing, unless
//! `TASKFORGE_SKIP_CLUSTER` is set).

mod harness;
mod scenarios;

use harness::Cluster;

/// Records the cluster test's run for CI.
fn record_run() {
    if let Ok(path) = std::env::var("TASKFORGE_PG_MARKER") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "cluster");
        }
    }
}

/// One cluster for every scenario (starting one takes seconds); the scenarios run in
/// order, the destructive ones (Redis stopped, an instance killed) last.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_behind_a_balancer_keeps_the_contract() {
    let Some(url) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("cluster test skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let missing = harness::missing_tools();
    if !missing.is_empty() {
        if std::env::var_os("TASKFORGE_SKIP_CLUSTER").is_some() {
            eprintln!("cluster test skipped: {missing:?} not installed");
            return;
        }
        panic!(
            "the cluster test needs {missing:?} (apt-get install haproxy redis-server curl), or set TASKFORGE_SKIP_CLUSTER"
        );
    }
    let mut cluster = Cluster::start(&url).await;
    scenarios::core_flows_through_the_balancer(&cluster).await;
    scenarios::logout_and_password_change_reach_every_instance_within_a_second(&cluster).await;
    scenarios::six_logins_spread_over_every_instance_make_a_429(&cluster).await;
    scenarios::refresh_token_reuse_on_another_instance_revokes_the_family(&cluster).await;
    scenarios::an_idempotency_key_repeat_on_another_instance_is_replayed(&cluster).await;
    scenarios::a_subscriber_hears_a_write_made_on_another_instance(&cluster).await;
    scenarios::six_event_streams_spread_over_every_instance_make_a_429(&cluster).await;
    scenarios::without_redis_limits_hold_per_instance_and_come_back_shared(&mut cluster).await;
    scenarios::a_sigkilled_instance_costs_only_its_requests_in_flight(&cluster).await;
    record_run();
}
