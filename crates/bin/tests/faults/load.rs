//! Load while a fault happens: clients in loops, every answer recorded with when it
//! came, how long it took and what it was.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// What one request got.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What kind of request it was (`read`, `list`, `create`, ...).
    pub label: &'static str,
    /// When the answer (or the failure) came.
    pub at: Instant,
    pub latency: Duration,
    /// The status, when there was an answer.
    pub status: Option<u16>,
    /// Whether an answer carried `Retry-After`.
    pub retry_after: bool,
    /// The body of an answer, kept for inspection.
    pub body: String,
    /// Why there was no answer.
    pub failure: Option<Failure>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// The connection could not be made: nothing was sent.
    Connect,
    /// The request was sent (or may have been) and no answer came: reset, closed, or
    /// the client's own timeout.
    Lost,
}

impl Outcome {
    pub fn is(&self, status: u16) -> bool {
        self.status == Some(status)
    }

    pub fn is_5xx(&self) -> bool {
        self.status.is_some_and(|s| s >= 500)
    }

    pub fn is_2xx(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Sends `request` and records what came back.
pub async fn observe(label: &'static str, request: reqwest::RequestBuilder) -> Outcome {
    let started = Instant::now();
    let (status, retry_after, body, failure) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            match response.text().await {
                Ok(body) => (Some(status), retry_after, body, None),
                Err(_) => (None, false, String::new(), Some(Failure::Lost)),
            }
        }
        Err(err) if err.is_connect() => (None, false, String::new(), Some(Failure::Connect)),
        Err(_) => (None, false, String::new(), Some(Failure::Lost)),
    };
    Outcome {
        label,
        at: Instant::now(),
        latency: started.elapsed(),
        status,
        retry_after,
        body,
        failure,
    }
}

/// `clients` loops of `step(client, round)` until `until`; every outcome, in no order.
pub async fn hammer<F, Fut>(clients: usize, until: Instant, step: F) -> Vec<Outcome>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let mut running = tokio::task::JoinSet::new();
    for client in 0..clients {
        let step = step.clone();
        running.spawn(async move {
            let mut outcomes = Vec::new();
            let mut round = 0;
            while Instant::now() < until {
                let outcome = step(client, round).await;
                // A refused connection answers at once: do not spin on it.
                if outcome.failure == Some(Failure::Connect) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                outcomes.push(outcome);
                round += 1;
            }
            outcomes
        });
    }
    running.join_all().await.into_iter().flatten().collect()
}

/// Counts by what happened: `"200"`, `"503"`, `"connect"`, `"lost"`.
pub fn tally(outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for outcome in outcomes {
        let key = match (outcome.status, outcome.failure) {
            (Some(status), _) => status.to_string(),
            (None, Some(Failure::Connect)) => "connect".to_owned(),
            (None, _) => "lost".to_owned(),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// The `p`-th percentile (0–100) of the latencies.
pub fn percentile(outcomes: &[&Outcome], p: f64) -> Duration {
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort();
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (latencies.len() - 1) as f64).round() as usize;
    latencies[rank.min(latencies.len() - 1)]
}

/// Prints what happened, for the test's output.
pub fn report(title: &str, outcomes: &[Outcome]) {
    let all: Vec<&Outcome> = outcomes.iter().collect();
    println!(
        "{title}: {} requests {:?}; latency p50 {:?} p99 {:?} max {:?}",
        outcomes.len(),
        tally(outcomes),
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        percentile(&all, 100.0),
    );
}
