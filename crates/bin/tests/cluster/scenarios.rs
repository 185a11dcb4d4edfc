//! What the cluster must show, one function per fact.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Cluster, PASSWORD};

/// A client address of its own for every scenario (documentation range), so that no
/// scenario spends another's rate-limit budget.
fn fresh_ip() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("198.51.{}.{}", 100 + n / 250, n % 250 + 1)
}

/// A failed login for an identifier of its own: counted by the client's per-IP limit,
/// never by the per-account throttle (which would refuse a sixth guess at one account
/// whatever the IP limits do).
fn guess() -> serde_json::Value {
    json!({"email": fresh_email("guess"), "password": "wrong-password"})
}

fn fresh_email(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!(
        "{what}-{}@example.com",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `check` until it holds, at most `limit`: how long it took.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Register, log in, and a task's life, every request through the balancer (round
/// robin: consecutive requests land on different instances).
pub async fn core_flows_through_the_balancer(cluster: &Cluster) {
    let (ip, email) = (fresh_ip(), fresh_email("core"));
    let b = &cluster.balancer;
    cluster.register(&email, &ip).await;
    let token = cluster.login(b, &email, &ip).await["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let http = &cluster.http;
    let created = http
        .post(format!("{b}/api/v1/tasks"))
        .bearer_auth(&token)
        .json(&json!({"title": "across instances"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let task: Value = created.json().await.expect("a task");
    let id = task["id"].as_str().expect("an id");
    for _ in 0..3 {
        let got = http
            .get(format!("{b}/api/v1/tasks/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(got.status(), 200, "every instance reads the task");
    }
    let patched = http
        .patch(format!("{b}/api/v1/tasks/{id}"))
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "done"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    let stale = http
        .patch(format!("{b}/api/v1/tasks/{id}"))
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"title": "stale"}))
        .send()
        .await
        .expect("stale patch");
    assert_eq!(stale.status(), 412, "another instance sees the new version");
    let page: Value = http
        .get(format!("{b}/api/v1/tasks?status=done"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("a page");
    assert_eq!(page["items"][0]["id"], task["id"], "{page}");
    let deleted = http
        .delete(format!("{b}/api/v1/tasks/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    for _ in 0..3 {
        let gone = http
            .get(format!("{b}/api/v1/tasks/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(gone.status(), 404, "no instance still sees it");
    }
}

/// A logout on one instance, then a password change on another: the old access token
/// fails on every other instance within a second.
pub async fn logout_and_password_change_reach_every_instance_within_a_second(cluster: &Cluster) {
    let (ip, email) = (fresh_ip(), fresh_email("revoked"));
    cluster.register(&email, &ip).await;
    let [one, two, three] = [0, 1, 2].map(|i| cluster.instances[i].as_str());

    let tokens = cluster.login(one, &email, &ip).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    for base in [one, two, three] {
        assert_eq!(
            cluster.me(base, &access).await,
            200,
            "{base} accepts the token"
        );
    }
    let out = cluster
        .post(
            one,
            "/api/v1/auth/logout",
            &ip,
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(out.status(), 204);
    for base in [two, three] {
        let took = within(Duration::from_secs(1), "logout seen", || async {
            cluster.me(base, &access).await == 401
        })
        .await;
        eprintln!("logout on {one} seen by {base} after {took:?}");
    }

    let access = cluster.login(two, &email, &ip).await["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(cluster.me(one, &access).await, 200);
    let changed = cluster
        .http
        .patch(format!("{two}/api/v1/users/me"))
        .bearer_auth(&access)
        .json(&json!({"password": "cluster-password-2", "current_password": PASSWORD}))
        .send()
        .await
        .expect("password change");
    assert_eq!(changed.status(), 200);
    for base in [one, three] {
        let took = within(Duration::from_secs(1), "password change seen", || async {
            cluster.me(base, &access).await == 401
        })
        .await;
        eprintln!("password change on {two} seen by {base} after {took:?}");
    }
}

/// Six login attempts within a minute, two on each instance: the sixth is 429, with the
/// rate-limit headers on every answer.
pub async fn six_logins_spread_over_every_instance_make_a_429(cluster: &Cluster) {
    let ip = fresh_ip();
    for n in 0..6 {
        let base = &cluster.instances[n % 3];
        let res = cluster
            .post(base, "/api/v1/auth/login", &ip, &guess())
            .await;
        let headers = res.headers().clone();
        assert_eq!(
            headers
                .get("ratelimit-policy")
                .and_then(|v| v.to_str().ok()),
            Some("\"login\";q=5;w=60")
        );
        let state = headers
            .get("ratelimit")
            .and_then(|v| v.to_str().ok())
            .expect("a RateLimit header")
            .to_owned();
        if n < 5 {
            assert_eq!(res.status(), 401, "attempt {} on {base}", n + 1);
            assert!(
                state.starts_with(&format!("\"login\";r={};t=", 4 - n)),
                "{state}"
            );
        } else {
            assert_eq!(res.status(), 429, "the sixth attempt, on {base}");
            assert!(headers.contains_key("retry-after"));
            assert!(state.starts_with("\"login\";r=0;t="), "{state}");
        }
    }
    // Through the balancer too: the same client stays refused wherever it lands.
    for _ in 0..3 {
        let res = cluster
            .post(&cluster.balancer, "/api/v1/auth/login", &ip, &guess())
            .await;
        assert_eq!(res.status(), 429);
    }
    for base in &cluster.instances {
        assert_eq!(
            cluster.shared_gauge(base).await,
            "1",
            "{base} shares its counters"
        );
    }
}

/// A refresh on one instance, the spent token presented on another: 401, and the
/// whole login session is revoked everywhere.
pub async fn refresh_token_reuse_on_another_instance_revokes_the_family(cluster: &Cluster) {
    let (ip, email) = (fresh_ip(), fresh_email("reuse"));
    cluster.register(&email, &ip).await;
    let [one, two, three] = [0, 1, 2].map(|i| cluster.instances[i].as_str());
    let first = cluster.login(one, &email, &ip).await;
    let refreshed = cluster
        .post(
            one,
            "/api/v1/auth/refresh",
            &ip,
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let second: Value = refreshed.json().await.expect("tokens");
    let reuse = cluster
        .post(
            two,
            "/api/v1/auth/refresh",
            &ip,
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(
        reuse.status(),
        401,
        "the spent token is refused on another instance"
    );
    let after = cluster
        .post(
            three,
            "/api/v1/auth/refresh",
            &ip,
            &json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(after.status(), 401, "the family is revoked");
    let access = second["access_token"].as_str().expect("access");
    for base in [one, two, three] {
        assert_eq!(
            cluster.me(base, access).await,
            401,
            "{base}: the family's access token"
        );
    }
}

/// The same `Idempotency-Key` on another instance gets the stored answer, and one task.
pub async fn an_idempotency_key_repeat_on_another_instance_is_replayed(cluster: &Cluster) {
    let (ip, email) = (fresh_ip(), fresh_email("idem"));
    cluster.register(&email, &ip).await;
    let token = cluster.login(&cluster.balancer, &email, &ip).await["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let mut ids = Vec::new();
    for (n, base) in cluster.instances.iter().enumerate() {
        let res = cluster
            .http
            .post(format!("{base}/api/v1/tasks"))
            .bearer_auth(&token)
            .header("idempotency-key", "cluster-key-1")
            .json(&json!({"title": "once"}))
            .send()
            .await
            .expect("create");
        assert_eq!(res.status(), 201);
        let replayed = res.headers().get("idempotent-replayed").is_some();
        assert_eq!(replayed, n > 0, "replayed on {base}");
        let task: Value = res.json().await.expect("a task");
        ids.push(task["id"].clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let page: Value = cluster
        .http
        .get(format!("{}/api/v1/tasks", cluster.balancer))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("a page");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}

/// A subscriber on one instance receives the write made on another.
pub async fn a_subscriber_hears_a_write_made_on_another_instance(cluster: &Cluster) {
    let (ip, email) = (fresh_ip(), fresh_email("events"));
    cluster.register(&email, &ip).await;
    let token = cluster.login(&cluster.balancer, &email, &ip).await["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let mut stream = cluster
        .http
        .get(format!("{}/api/v1/tasks/events", cluster.instances[0]))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(stream.status(), 200);
    let created: Value = cluster
        .http
        .post(format!("{}/api/v1/tasks", cluster.instances[2]))
        .bearer_auth(&token)
        .json(&json!({"title": "heard elsewhere"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("a task");
    let id = created["id"].as_str().expect("an id").to_owned();
    let heard = tokio::time::timeout(Duration::from_secs(5), async {
        let mut text = String::new();
        while let Some(chunk) = stream.chunk().await.expect("the stream") {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: task.created") && text.contains(&id) {
                return text;
            }
        }
        panic!("the stream ended: {text}");
    })
    .await;
    assert!(heard.is_ok(), "the event arrives within 5 s");
}

/// A user's event streams count on every instance together: five spread over the
/// instances, a sixth on any of them is 429; one closed frees a place everywhere.
pub async fn six_event_streams_spread_over_every_instance_make_a_429(cluster: &Cluster) {
    let (ip, email) = (fresh_ip(), fresh_email("streams"));
    cluster.register(&email, &ip).await;
    let token = cluster.login(&cluster.balancer, &email, &ip).await["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let open = |n: usize| {
        let request = cluster
            .http
            .get(format!("{}/api/v1/tasks/events", cluster.instances[n % 3]))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(60));
        async move { request.send().await.expect("subscribe") }
    };
    let mut streams = Vec::new();
    for n in 0..5 {
        let stream = open(n).await;
        assert_eq!(
            stream.status(),
            200,
            "stream {} on instance {}",
            n + 1,
            n % 3
        );
        streams.push(stream);
    }
    for n in 0..3 {
        let refused = open(n).await;
        assert_eq!(refused.status(), 429, "a sixth stream on instance {n}");
        assert!(refused.headers().contains_key("retry-after"));
    }

    // The stream closed was on instance 0; the place it frees is taken on instance 2.
    drop(streams.remove(0));
    let started = Instant::now();
    loop {
        let stream = open(2).await;
        if stream.status() == 200 {
            streams.push(stream);
            break;
        }
        assert_eq!(stream.status(), 429);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a closed stream's place is free within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "a closed stream's place was free on another instance after {:?}",
        started.elapsed()
    );
    assert_eq!(open(1).await.status(), 429, "still five at most");
}

/// Redis stopped: limits hold per instance (the same client gets 5 a minute from each),
/// nothing answers 5xx, one warning per instance; Redis back: shared again.
pub async fn without_redis_limits_hold_per_instance_and_come_back_shared(cluster: &mut Cluster) {
    cluster.stop_redis().await;
    let ip = fresh_ip();
    // Two attempts on each instance (through the balancer, round robin): all counted
    // per instance, none refused.
    for n in 0..6 {
        let res = cluster
            .post(&cluster.balancer, "/api/v1/auth/login", &ip, &guess())
            .await;
        assert_eq!(res.status(), 401, "attempt {} without Redis", n + 1);
    }
    for base in &cluster.instances {
        assert_eq!(
            cluster.shared_gauge(base).await,
            "0",
            "{base} counts on its own"
        );
    }
    // Instance 1 alone still refuses a sixth attempt of its own.
    let one = cluster.instances[0].clone();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            cluster
                .post(&one, "/api/v1/auth/login", &ip, &guess())
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429],
        "instance 1 had 2 of its 5 already"
    );
    let warnings = cluster
        .log(1)
        .matches("shared counters unreachable")
        .count();
    assert_eq!(
        warnings,
        1,
        "one warning for the outage:\n{}",
        cluster.log(1)
    );

    cluster.restart_redis().await;
    // Each instance finds Redis again at its next limited request after a second's rest.
    for base in cluster.instances.clone() {
        let took = within(Duration::from_secs(10), "shared again", || {
            let base = base.clone();
            let cluster = &*cluster;
            async move {
                let probe = json!({"email": "nobody@example.com", "password": "wrong-password"});
                let res = cluster
                    .post(&base, "/api/v1/auth/login", &fresh_ip(), &probe)
                    .await;
                assert!(res.status().as_u16() < 500);
                cluster.shared_gauge(&base).await == "1"
            }
        })
        .await;
        eprintln!("{base} shares its counters again after {took:?}");
    }
    let ip = fresh_ip();
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for n in 0..6 {
            let base = &cluster.instances[n % 3];
            s.push(
                cluster
                    .post(base, "/api/v1/auth/login", &ip, &guess())
                    .await
                    .status()
                    .as_u16(),
            );
        }
        s
    };
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429], "shared again");
}

/// Writers keep creating tasks through the balancer while one instance is SIGKILLed:
/// 5xx only for requests that were in flight on it (at most one per writer), and every
/// acknowledged task is there afterwards.
pub async fn a_sigkilled_instance_costs_only_its_requests_in_flight(cluster: &Cluster) {
    const WRITERS: usize = 4;
    let (ip, email) = (fresh_ip(), fresh_email("killed"));
    cluster.register(&email, &ip).await;
    let token = cluster.login(&cluster.balancer, &email, &ip).await["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let stop_at = Instant::now() + Duration::from_secs(4);
    let mut writers = Vec::new();
    // A connection per request: a kept connection the balancer closed while idle would
    // fail a request that never reached an instance, which says nothing about the kill.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let url = Arc::new(format!("{}/api/v1/tasks", cluster.balancer));
    for w in 0..WRITERS {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut statuses = BTreeMap::<u16, usize>::new();
            let mut n = 0;
            while Instant::now() < stop_at {
                n += 1;
                let res = http
                    .post(url.as_str())
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("writer {w} task {n}")}))
                    .send()
                    .await;
                // 0: no HTTP answer at all (the connection closed mid-request).
                let status = res.as_ref().map_or(0, |r| r.status().as_u16());
                if let Err(e) = &res {
                    eprintln!("writer {w}: no answer: {e:?}");
                }
                *statuses.entry(status).or_default() += 1;
                if status == 201 {
                    let task: Value = res.expect("a response").json().await.expect("a task");
                    acknowledged.push(task["id"].as_str().expect("an id").to_owned());
                }
            }
            (acknowledged, statuses)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.kill_instance(2);
    let mut acknowledged = Vec::new();
    let mut statuses = BTreeMap::<u16, usize>::new();
    for writer in writers {
        let (ids, counts) = writer.await.expect("a writer");
        acknowledged.extend(ids);
        for (status, count) in counts {
            *statuses.entry(status).or_default() += count;
        }
    }
    eprintln!("writers across the kill: {statuses:?}");
    let failed: usize = statuses
        .iter()
        .filter(|(status, _)| **status != 201)
        .map(|(_, count)| count)
        .sum();
    assert!(
        statuses.keys().all(|s| *s == 201 || *s >= 500 || *s == 0),
        "only successes and lost in-flight requests: {statuses:?}"
    );
    // In flight on the killed instance: each writer's request it was serving, and one
    // more the balancer may have handed it while the process died (its kernel still
    // accepts connections on the listening socket for a moment, then resets them; the
    // balancer cannot resend a POST whose outcome it does not know).
    assert!(
        failed <= 2 * WRITERS,
        "at most the requests in flight on the killed instance: {statuses:?}"
    );
    assert!(
        statuses.get(&201).copied().unwrap_or(0) > WRITERS * 4,
        "writes went on: {statuses:?}"
    );
    for id in &acknowledged {
        let got = cluster
            .http
            .get(format!("{}/api/v1/tasks/{id}", cluster.balancer))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(got.status(), 200, "acknowledged task {id} is there");
    }
    // The balancer answers health checks from the two left.
    let ready = cluster
        .http
        .get(format!("{}/health/ready", cluster.balancer))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);
}
