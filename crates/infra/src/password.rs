//! bcrypt password hashing, as the domain's [`PasswordHasher`] port.

use std::num::NonZero;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use taskforge_domain::DomainError;
use taskforge_domain::auth::PasswordHasher;
use taskforge_domain::user::{Password, PasswordHash};

use idle_pool::{Delivery, Full, IdlePool, Work};

mod idle_pool;

/// bcrypt only looks at the first 72 bytes of a password; longer ones are refused
/// rather than silently truncated.
const MAX_PASSWORD_BYTES: usize = 72;

/// bcrypt's cost range (the crate keeps its own bounds private).
const MIN_COST: u32 = 4;
const MAX_COST: u32 = 31;

/// What the dummy hash hashes. Any value works: its only job is to cost the same
/// time as a real check.
const DUMMY_PASSWORD: &str = "taskforge timing-equaliser";

/// The bounds of the hashing queue (`HASH_QUEUE_CAPACITY`, `HASH_QUEUE_TIMEOUT_MS`,
/// `HASH_RESCUE_AFTER_MS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimits {
    /// Hashes queued or running at most; beyond it a login answers 503 at once.
    pub capacity: usize,
    /// How long a caller waits for its hash, queue included; then 503.
    pub queue_timeout: Duration,
    /// How long the oldest job may wait for the idle-priority workers before it runs
    /// at normal priority (see the pool's documentation).
    pub rescue_after: Duration,
}

impl Default for HashingLimits {
    fn default() -> Self {
        Self {
            capacity: 64,
            queue_timeout: Duration::from_secs(10),
            rescue_after: Duration::from_secs(1),
        }
    }
}

/// bcrypt at a configured cost. Hashing and verifying run on a pool of their own, one
/// thread per core at the lowest CPU priority there is: at cost 12 one check takes a
/// few hundred milliseconds of CPU, which must never stall an async worker nor crowd
/// out the requests that are not logins. The queue is bounded in size and in time, and
/// a job the idle-priority threads cannot get to for want of CPU is run at normal
/// priority after [`HashingLimits::rescue_after`].
#[derive(Clone)]
pub struct BcryptHasher {
    cost: u32,
    limits: HashingLimits,
    /// A hash made at construction with the same cost, verified against when there is
    /// no account (or the password is too long), so every answer takes as long.
    dummy_hash: Arc<str>,
    pool: Arc<IdlePool>,
}

impl BcryptHasher {
    /// A hasher at `cost` (4–31; 12 in production, 4 in tests). Computes the dummy
    /// hash once, which takes one hash's time.
    ///
    /// # Errors
    /// A message when `cost` is outside bcrypt's range.
    pub fn new(cost: u32, limits: HashingLimits) -> Result<Self, String> {
        // One thread per core: more would only queue in the kernel instead of here.
        Self::with_threads(
            cost,
            limits,
            std::thread::available_parallelism().map_or(1, NonZero::get),
        )
    }

    fn with_threads(cost: u32, limits: HashingLimits, threads: usize) -> Result<Self, String> {
        if !(MIN_COST..=MAX_COST).contains(&cost) {
            return Err(format!(
                "bcrypt cost must be between {MIN_COST} and {MAX_COST}, got {cost}"
            ));
        }
        let dummy_hash = bcrypt::hash(DUMMY_PASSWORD, cost).map_err(|e| e.to_string())?;
        Ok(Self {
            cost,
            dummy_hash: dummy_hash.into(),
            limits,
            pool: Arc::new(IdlePool::new(
                "bcrypt",
                threads,
                limits.capacity,
                limits.rescue_after,
            )?),
        })
    }

    /// Runs `job` on the hashing pool and waits for it without blocking the caller.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the queue is full or the answer does not come
    /// within [`HashingLimits::queue_timeout`] (the job is then skipped if it has not
    /// started); [`DomainError::Unexpected`] when the job panicked.
    async fn run<T: Send + 'static>(
        &self,
        job: impl Fn() -> T + Send + Sync + 'static,
    ) -> Result<T, DomainError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let reply = Mutex::new(Some(reply));
        let work: Work = Arc::new(move |done: &AtomicBool| {
            // The receiver is gone when the request was dropped while the job queued
            // (its client went away, or its wait ran out). Nobody would get the answer:
            // under a login flood whose clients time out, this is most of the queue.
            let abandoned = reply
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .is_none_or(|reply| reply.is_closed());
            if abandoned {
                done.store(true, Ordering::Release);
                return None;
            }
            let value = job();
            // The job may run twice (see the pool); only the first to finish answers.
            if done.swap(true, Ordering::AcqRel) {
                return None;
            }
            let reply = reply
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()?;
            Some(Box::new(move || {
                let _ = reply.send(value);
            }) as Delivery)
        });
        self.pool.submit(work).map_err(|Full| {
            DomainError::Unavailable("too many password checks are waiting; retry".into())
        })?;
        match tokio::time::timeout(self.limits.queue_timeout, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(closed)) => Err(DomainError::unexpected(closed)),
            Err(_) => Err(DomainError::Unavailable(
                "password checks are taking too long; retry".into(),
            )),
        }
    }

    /// The configured cost.
    pub fn cost(&self) -> u32 {
        self.cost
    }
}

impl std::fmt::Debug for BcryptHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BcryptHasher")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, DomainError> {
        let secret = password.expose().to_owned();
        if secret.len() > MAX_PASSWORD_BYTES {
            // `Password::parse` already refuses these; never hash a truncated secret.
            return Err(DomainError::invalid("password", "must be 8 to 72 bytes"));
        }
        let cost = self.cost;
        let hash = self
            .run(move || bcrypt::hash(&secret, cost))
            .await?
            .map_err(DomainError::unexpected)?;
        Ok(PasswordHash::new(hash))
    }

    async fn verify<'a>(
        &self,
        password: &str,
        hash: Option<&'a PasswordHash>,
    ) -> Result<bool, DomainError> {
        let too_long = password.len() > MAX_PASSWORD_BYTES;
        // Without an account, check against the dummy; a too-long password is checked
        // against the real hash (same cost as a wrong password for that account) and
        // its answer thrown away, since bcrypt would compare only its first 72 bytes.
        let (target, counts): (Arc<str>, bool) = match hash {
            Some(hash) => (Arc::from(hash.as_str()), !too_long),
            None => (Arc::clone(&self.dummy_hash), false),
        };
        let secret = password.to_owned();
        let matched = self
            .run(move || bcrypt::verify(&secret, &target))
            .await?
            .map_err(DomainError::unexpected)?;
        Ok(counts && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> BcryptHasher {
        BcryptHasher::new(4, HashingLimits::default()).expect("cost 4 is valid")
    }

    fn password(raw: &str) -> Password {
        Password::parse(raw).expect("valid password")
    }

    #[tokio::test]
    async fn a_hashed_password_verifies() {
        let hasher = hasher();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hash.as_str().starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_wrong_password_does_not_verify() {
        let hasher = hasher();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(!hasher.verify("correct horsf", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn no_hash_never_verifies_even_the_dummy_password() {
        let hasher = hasher();
        assert!(!hasher.verify("wrong password", None).await.unwrap());
        assert!(!hasher.verify(DUMMY_PASSWORD, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_password_of_exactly_72_bytes_verifies() {
        let hasher = hasher();
        let raw = "a".repeat(72);
        let hash = hasher.hash(&password(&raw)).await.unwrap();
        assert!(hasher.verify(&raw, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_password_longer_than_72_bytes_never_verifies_even_with_the_right_prefix() {
        let hasher = hasher();
        let raw = "a".repeat(72);
        let hash = hasher.hash(&password(&raw)).await.unwrap();
        // bcrypt alone would accept this: it ignores everything after byte 72.
        assert!(bcrypt::verify(format!("{raw}b"), hash.as_str()).unwrap());
        assert!(
            !hasher
                .verify(&format!("{raw}b"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(&format!("{raw}b"), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_stored_hash_is_unexpected() {
        let hasher = hasher();
        let err = hasher
            .verify(
                "correct horse",
                Some(&PasswordHash::new("not a bcrypt hash")),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Unexpected(_)), "{err:?}");
    }

    #[test]
    fn a_cost_outside_bcrypts_range_is_refused() {
        assert!(BcryptHasher::new(3, HashingLimits::default()).is_err());
        assert!(BcryptHasher::new(32, HashingLimits::default()).is_err());
    }

    /// The scheduling policy of the calling thread (field 41 of `/proc/thread-self/stat`;
    /// the command name, field 2, is parenthesised and may hold spaces).
    #[cfg(target_os = "linux")]
    fn own_policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(38).unwrap().parse().unwrap()
    }

    /// Linux's numbers for the policies (`include/uapi/linux/sched.h`).
    #[cfg(target_os = "linux")]
    const SCHED_OTHER: u32 = 0;
    #[cfg(target_os = "linux")]
    const SCHED_IDLE: u32 = 5;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_idle_priority_while_the_caller_keeps_its_own() {
        let hasher = hasher();
        assert_eq!(own_policy(), SCHED_OTHER);
        let (hashing, name) = hasher
            .run(|| {
                (
                    own_policy(),
                    std::thread::current().name().map(str::to_owned),
                )
            })
            .await
            .unwrap();
        assert_eq!(hashing, SCHED_IDLE);
        assert!(name.unwrap().starts_with("bcrypt-"));
        assert_eq!(
            own_policy(),
            SCHED_OTHER,
            "the caller's priority is untouched"
        );
    }

    #[tokio::test]
    async fn a_job_whose_caller_gave_up_while_it_queued_is_not_run() {
        use futures_util::FutureExt;
        use std::sync::atomic::{AtomicBool, Ordering};

        let hasher = BcryptHasher::with_threads(4, patient(), 1).unwrap();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        // Holds the only hashing thread until released; polled once to queue it.
        let mut busy = Box::pin(hasher.run(move || gate.lock().unwrap().recv().is_ok()));
        assert!((&mut busy).now_or_never().is_none());
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        // Queued behind it, then given up (polled once, dropped).
        let given_up = hasher.run(move || flag.store(true, Ordering::SeqCst));
        assert!(given_up.now_or_never().is_none());
        release.send(()).unwrap();
        assert!(busy.await.unwrap());
        // One thread runs jobs in the order queued: once a later job is done, the
        // given-up one has had its turn.
        hasher.run(|| ()).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst));
    }

    /// Limits that never rescue and wait long, for tests that hold the only thread.
    fn patient() -> HashingLimits {
        HashingLimits {
            capacity: 8,
            queue_timeout: Duration::from_secs(30),
            rescue_after: Duration::from_secs(3600),
        }
    }

    #[tokio::test]
    async fn a_full_queue_and_a_wait_past_its_deadline_are_unavailable() {
        let limits = HashingLimits {
            capacity: 2,
            queue_timeout: Duration::from_millis(200),
            ..patient()
        };
        let hasher = BcryptHasher::with_threads(4, limits, 1).unwrap();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let first = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                hasher
                    .run(move || gate.lock().unwrap().recv().is_ok())
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.run(|| ()).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Two jobs unfinished: a third is refused at once.
        let refused = hasher.run(|| ()).await.unwrap_err();
        assert!(
            matches!(refused, DomainError::Unavailable(_)),
            "{refused:?}"
        );
        // The first never answers in time, nor the second queued behind it.
        let first = first.await.unwrap().map(|_| ()).unwrap_err();
        let second = second.await.unwrap().unwrap_err();
        for err in [first, second] {
            assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
        }
        release.send(()).unwrap();
        // Once the stuck job ends (and the given-up one is skipped), there is room.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match hasher.run(|| 7).await {
                Ok(seven) => break assert_eq!(seven, 7),
                Err(_) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => panic!("no room after the queue drained: {err:?}"),
            }
        }
    }

    #[test]
    fn debug_does_not_print_the_dummy_hash() {
        let hasher = hasher();
        assert!(!format!("{hasher:?}").contains(&*hasher.dummy_hash));
    }
}
