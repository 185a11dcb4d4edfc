//! Micro-benchmarks of per-request work that the load benchmark cannot isolate: the
//! access-token check and the Task JSON. `cargo bench -p taskforge`; figures are for
//! comparing two builds on one machine, not targets.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use taskforge_api::dto::task::TaskResponse;
use taskforge_domain::auth::{Claims, TokenKind, TokenService};
use taskforge_domain::task::{Description, Priority, Task, TaskStatus, Title};
use taskforge_infra::JwtTokenService;
use uuid::Uuid;

const SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret";

fn access_token(service: &JwtTokenService) -> String {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: Uuid::now_v7(),
        sid: Uuid::now_v7(),
        jti: Uuid::now_v7(),
        kind: TokenKind::Access,
        iat: now,
        exp: now + 1800,
    };
    service.issue(&claims).expect("a token")
}

fn token_check(c: &mut Criterion) {
    let service = JwtTokenService::new(SECRET, "HS256").expect("a token service");
    let token = access_token(&service);
    // A token the service has not seen: signature, header and claims checked.
    c.bench_function("verify access token, first sight (HS256)", |b| {
        b.iter_batched(
            || JwtTokenService::new(SECRET, "HS256").expect("a token service"),
            |fresh| fresh.verify(black_box(&token), TokenKind::Access),
            BatchSize::SmallInput,
        );
    });
    // The same token again, as every request of one client after its first.
    service
        .verify(&token, TokenKind::Access)
        .expect("the token verifies");
    c.bench_function("verify access token, seen before", |b| {
        b.iter(|| service.verify(black_box(&token), TokenKind::Access));
    });
}

fn task(n: u32) -> Task {
    let at = Utc
        .with_ymd_and_hms(2026, 12, 5, 12, 0, 0)
        .single()
        .expect("a valid instant");
    Task {
        id: Uuid::now_v7(),
        owner_id: Uuid::now_v7(),
        title: Title::parse(&format!("Write the quarterly report, part {n}")).expect("a title"),
        description: Some(
            Description::parse("Gather the figures from finance and draft the summary.")
                .expect("a description"),
        ),
        status: TaskStatus::InProgress,
        priority: Priority::High,
        due_date: Some(at),
        completed_at: None,
        created_at: at,
        updated_at: at,
        version: 3,
    }
}

fn task_json(c: &mut Criterion) {
    let one = task(1);
    c.bench_function("Task JSON, one task", |b| {
        b.iter(|| serde_json::to_vec(&TaskResponse::from(black_box(one.clone()))));
    });
    let page: Vec<Task> = (0..20).map(task).collect();
    c.bench_function("Task JSON, page of 20", |b| {
        b.iter(|| {
            let items: Vec<TaskResponse> = black_box(page.clone())
                .into_iter()
                .map(TaskResponse::from)
                .collect();
            serde_json::to_vec(&items)
        });
    });
}

criterion_group!(hot_paths, token_check, task_json);
criterion_main!(hot_paths);
