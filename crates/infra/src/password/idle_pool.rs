//! Threads that run jobs only on CPU time nothing else wants (Linux's `SCHED_IDLE`),
//! fed and answered without any lock that a request's thread could wait on.
//!
//! A thread at idle priority loses its core the moment another thread wakes there, and
//! under a load that keeps every core busy it may wait a long time for it. Whatever
//! lock it held then stays held that long. Both ends of a usual pool have such a lock:
//! rayon's workers sleep on a mutex and condvar that the thread queueing a job takes,
//! and waking a task of an HTTP worker from another thread pushes it onto that worker's
//! queue under a mutex. Either would stall an HTTP worker, and every request on it,
//! behind a starved hashing thread. So jobs go in through a lock-free queue and a futex
//! wake-up (`Thread::unpark`), and answers come out through another to a relay thread
//! at normal priority, which is the one that wakes the waiting request.
//!
//! Idle priority has a price: while other work keeps every core busy, a job may wait
//! without end, queued or half-run on a starved thread. So a third thread, the rescuer,
//! at normal priority, watches the jobs: when the oldest unfinished one has waited
//! longer than `rescue_after`, the rescuer runs that job itself — a job half-run on a
//! starved worker runs again, and whichever run finishes first answers. Whether the
//! workers get no CPU at all or only now and then does not matter: under a steady mix of
//! requests they may finish a job every second or so, too slowly for logins arriving
//! about as often (seen in the soak: a rule that rescued only workers making no
//! progress at all never fired, and every login waited out the queue's deadline). So
//! a login waits about `rescue_after` plus one hash at normal priority however busy the
//! machine is. The price is bounded: one thread, so at most one core hashes at normal
//! priority (during a login flood, reads beside it kept their p99 within 1.75× of
//! their p99 alone; bench/README.md). And the pool is bounded: at most `capacity` jobs
//! unfinished, more are refused.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;
use thread_priority::ThreadPriority;

/// What a finished job leaves for the relay thread to run: handing over its answer.
pub(super) type Delivery = Box<dyn FnOnce() + Send>;

/// A job's work. It may run twice (on a starved worker and on the rescuer); `done` is
/// shared by both runs, and only the run that sets it first may deliver. `None`: there
/// is nothing to deliver (the caller gave up, or the other run answered).
pub(super) type Work = Arc<dyn Fn(&AtomicBool) -> Option<Delivery> + Send + Sync>;

/// The pool is full: `capacity` jobs are unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Full;

/// One submitted job.
struct Entry {
    /// Taken (dropped) once the job is done, so nothing it holds (a password) outlives
    /// it; each run holds its own `Arc` while it runs.
    work: Mutex<Option<Work>>,
    done: AtomicBool,
    queued_at: Instant,
}

impl Entry {
    fn work(&self) -> Option<Work> {
        self.work
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs the job once (unless it is done), delivers its answer if this run is the
    /// one that finished it, and reports whether it did.
    fn run(&self, shared: &Shared, relay: &Thread) -> bool {
        let Some(work) = self.work() else {
            return false;
        };
        match catch_unwind(AssertUnwindSafe(|| work(&self.done))) {
            Ok(Some(delivery)) => {
                shared.deliveries.push(delivery);
                relay.unpark();
            }
            Ok(None) => {}
            // The job's reply channel was dropped with it: its caller gets an error.
            Err(_) => {
                self.done.store(true, Ordering::Release);
                tracing::error!("a password hashing job panicked");
            }
        }
        if self.done.load(Ordering::Acquire)
            && self
                .work
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .is_some()
        {
            shared.pending.fetch_sub(1, Ordering::AcqRel);
        }
        true
    }
}

/// `threads` threads at idle priority, a relay and a rescuer; they stop when this is
/// dropped.
pub(super) struct IdlePool {
    shared: Arc<Shared>,
    workers: Vec<Thread>,
    relay: Thread,
    rescuer: Thread,
}

struct Shared {
    /// Jobs for the workers, in the order submitted.
    jobs: SegQueue<Arc<Entry>>,
    /// The same jobs, for the rescuer to watch.
    submitted: SegQueue<Arc<Entry>>,
    deliveries: SegQueue<Delivery>,
    /// Jobs submitted and not yet done.
    pending: AtomicUsize,
    capacity: usize,
    rescue_after: Duration,
    stopping: AtomicBool,
}

impl IdlePool {
    /// Starts the threads, named `{name}-0..`, `{name}-relay` and `{name}-rescue`.
    ///
    /// # Errors
    /// A message when the OS refuses a thread.
    pub(super) fn new(
        name: &str,
        threads: usize,
        capacity: usize,
        rescue_after: Duration,
    ) -> Result<Self, String> {
        Self::build(name, threads, capacity, rescue_after, true)
    }

    /// As [`IdlePool::new`]; `idle: false` keeps the workers at normal priority (for
    /// tests of the queueing, which must not depend on the machine's load).
    fn build(
        name: &str,
        threads: usize,
        capacity: usize,
        rescue_after: Duration,
        idle: bool,
    ) -> Result<Self, String> {
        let shared = Arc::new(Shared {
            jobs: SegQueue::new(),
            submitted: SegQueue::new(),
            deliveries: SegQueue::new(),
            pending: AtomicUsize::new(0),
            capacity: capacity.max(1),
            rescue_after,
            stopping: AtomicBool::new(false),
        });
        let start = |name: String, body: Box<dyn FnOnce() + Send>| {
            thread::Builder::new()
                .name(name)
                .spawn(body)
                .map(|handle| handle.thread().clone())
                .map_err(|e| format!("could not start a hashing thread: {e}"))
        };
        let relay = start(format!("{name}-relay"), {
            let shared = Arc::clone(&shared);
            Box::new(move || relay(&shared))
        })?;
        let rescuer = start(format!("{name}-rescue"), {
            let shared = Arc::clone(&shared);
            let relay = relay.clone();
            Box::new(move || rescue(&shared, &relay))
        });
        let rescuer = match rescuer {
            Ok(rescuer) => rescuer,
            Err(err) => {
                shared.stopping.store(true, Ordering::Release);
                relay.unpark();
                return Err(err);
            }
        };
        // Built up in place: if the OS refuses a thread, dropping the pool stops the
        // threads already started.
        let mut pool = Self {
            shared,
            workers: Vec::with_capacity(threads),
            relay,
            rescuer,
        };
        for i in 0..threads.max(1) {
            let shared = Arc::clone(&pool.shared);
            let relay = pool.relay.clone();
            let worker = start(
                format!("{name}-{i}"),
                Box::new(move || work(&shared, &relay, idle)),
            )?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// Queues `work`; jobs start in the order queued.
    ///
    /// # Errors
    /// [`Full`] when `capacity` jobs are unfinished: nothing is queued.
    pub(super) fn submit(&self, work: Work) -> Result<(), Full> {
        let shared = &self.shared;
        let admitted =
            shared
                .pending
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pending| {
                    (pending < shared.capacity).then_some(pending + 1)
                });
        if admitted.is_err() {
            return Err(Full);
        }
        let entry = Arc::new(Entry {
            work: Mutex::new(Some(work)),
            done: AtomicBool::new(false),
            queued_at: Instant::now(),
        });
        shared.submitted.push(Arc::clone(&entry));
        shared.jobs.push(entry);
        // Unparking a thread that is not parked only sets its token (no system call),
        // so waking every worker costs little and never leaves a job waiting for a busy
        // one while another sleeps.
        for worker in &self.workers {
            worker.unpark();
        }
        self.rescuer.unpark();
        Ok(())
    }
}

impl Drop for IdlePool {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        for thread in self.workers.iter().chain([&self.relay, &self.rescuer]) {
            thread.unpark();
        }
    }
}

fn work(shared: &Shared, relay: &Thread, idle: bool) {
    // Best effort: where the OS refuses, jobs still run, at normal priority.
    if idle && let Err(err) = lower_own_priority() {
        tracing::warn!(?err, "could not lower the priority of a hashing thread");
    }
    loop {
        if let Some(entry) = shared.jobs.pop() {
            entry.run(shared, relay);
        } else if shared.stopping.load(Ordering::Acquire) {
            return;
        } else {
            // Returns at once if unparked since the queue was last found empty.
            thread::park();
        }
    }
}

fn relay(shared: &Shared) {
    loop {
        while let Some(delivery) = shared.deliveries.pop() {
            delivery();
        }
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        thread::park();
    }
}

/// How often the rescuer looks at the jobs while some are unfinished.
const RESCUE_CHECK: Duration = Duration::from_millis(50);

/// Watches the unfinished jobs and runs the oldest itself, at normal priority, once it
/// has waited `rescue_after`.
fn rescue(shared: &Shared, relay: &Thread) {
    let mut watched: VecDeque<Arc<Entry>> = VecDeque::new();
    loop {
        while let Some(entry) = shared.submitted.pop() {
            watched.push_back(entry);
        }
        watched.retain(|entry| !entry.done.load(Ordering::Acquire));
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let Some(oldest) = watched.front() else {
            thread::park();
            continue;
        };
        if oldest.queued_at.elapsed() >= shared.rescue_after {
            let entry = Arc::clone(oldest);
            tracing::debug!("rescuing a password hashing job from slow workers");
            entry.run(shared, relay);
        } else {
            thread::park_timeout(RESCUE_CHECK);
        }
    }
}

/// Linux's `SCHED_IDLE` for the calling thread: it runs on CPU time nothing else wants,
/// and a thread woken on its core takes the core at once. At nice 10 (before) a running
/// hash kept its core until the scheduler's next tick, 4 ms here, and reads during a
/// login flood waited that long at p99. The cost: while other work keeps every core
/// busy, jobs wait for a quiet moment. Lowering a thread's own priority needs no
/// privilege; other systems get their lowest normal priority.
fn lower_own_priority() -> Result<(), thread_priority::Error> {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        thread_priority::set_current_thread_priority(ThreadPriority::Min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const PATIENCE: Duration = Duration::from_secs(10);
    const NEVER: Duration = Duration::from_secs(3600);

    /// A job that computes `value()` and, if it is the run that finishes first, sends
    /// it with the name of the thread that delivered it.
    fn job(tx: mpsc::Sender<String>, value: impl Fn() -> String + Send + Sync + 'static) -> Work {
        let tx = Mutex::new(Some(tx));
        Arc::new(move |done: &AtomicBool| {
            let value = value();
            if done.swap(true, Ordering::AcqRel) {
                return None;
            }
            let tx = tx.lock().unwrap().take()?;
            Some(Box::new(move || {
                let on = thread::current().name().map(str::to_owned);
                tx.send(format!("{value} on {}", on.unwrap_or_default()))
                    .unwrap();
            }) as Delivery)
        })
    }

    fn ran_on() -> String {
        thread::current().name().unwrap_or_default().to_owned()
    }

    #[test]
    fn jobs_run_on_the_workers_and_answers_are_delivered_by_the_relay() {
        let pool = IdlePool::new("t", 2, 16, NEVER).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..4 {
            pool.submit(job(tx.clone(), move || format!("{i} ran on {}", ran_on())))
                .unwrap();
        }
        let mut answers: Vec<String> = (0..4).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
        answers.sort();
        for (i, answer) in answers.iter().enumerate() {
            assert!(answer.starts_with(&format!("{i} ran on t-")), "{answer}");
            assert!(!answer.contains("rescue"), "{answer}");
            assert!(answer.ends_with(" on t-relay"), "{answer}");
        }
    }

    #[test]
    fn a_panicking_job_leaves_the_pool_working_and_frees_its_place() {
        let pool = IdlePool::new("t", 1, 1, NEVER).unwrap();
        pool.submit(Arc::new(|_: &AtomicBool| panic!("a job that fails")))
            .unwrap();
        let (tx, rx) = mpsc::channel();
        // The pool holds one job: the panicked one gave its place back.
        let deadline = Instant::now() + PATIENCE;
        while pool.submit(job(tx.clone(), || "after".into())).is_err() {
            assert!(Instant::now() < deadline, "the place is never given back");
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "after on t-relay");
    }

    #[test]
    fn a_full_pool_refuses_jobs_until_one_is_done() {
        let pool = IdlePool::new("t", 1, 2, NEVER).unwrap();
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let (tx, rx) = mpsc::channel();
        pool.submit(job(tx.clone(), move || {
            gate.lock().unwrap().recv().unwrap();
            "first".into()
        }))
        .unwrap();
        pool.submit(job(tx.clone(), || "second".into())).unwrap();
        assert_eq!(pool.submit(job(tx.clone(), || "third".into())), Err(Full));
        release.send(()).unwrap();
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "first on t-relay");
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "second on t-relay");
        pool.submit(job(tx, || "third".into())).unwrap();
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "third on t-relay");
    }

    #[test]
    fn starved_workers_have_their_oldest_job_run_by_the_rescuer_and_answered_once() {
        // One worker, stuck on a job that never finishes by itself (as a worker at
        // idle priority is while other work keeps every core busy).
        let pool = IdlePool::build("t", 1, 8, Duration::from_millis(100), false).unwrap();
        let (release, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        pool.submit(job(tx.clone(), move || {
            if ran_on() != "t-rescue" {
                gate.lock().unwrap().recv().unwrap();
            }
            format!("stuck ran on {}", ran_on())
        }))
        .unwrap();
        pool.submit(job(tx, || format!("queued ran on {}", ran_on())))
            .unwrap();
        // Both are answered, by the rescuer, after about the rescue delay each.
        let first = rx.recv_timeout(PATIENCE).unwrap();
        let second = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(first, "stuck ran on t-rescue on t-relay");
        assert_eq!(second, "queued ran on t-rescue on t-relay");
        assert!(started.elapsed() >= Duration::from_millis(100));
        // The starved worker's own run of the first job finishes later: no second answer.
        release.send(()).unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }

    /// Submits `jobs` jobs to a one-worker pool rescuing after `rescue_after`, each
    /// taking `on_worker` on the worker and `on_rescuer` on the rescuer (which runs at
    /// normal priority while a worker may be starved); how many the rescuer answered,
    /// and how long all took.
    fn rescued_of(
        jobs: usize,
        on_worker: Duration,
        on_rescuer: Duration,
        rescue_after: Duration,
    ) -> (usize, Duration) {
        let pool = IdlePool::build("t", 1, 64, rescue_after, false).unwrap();
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        for i in 0..jobs {
            pool.submit(job(tx.clone(), move || {
                let on = ran_on();
                thread::sleep(if on == "t-rescue" {
                    on_rescuer
                } else {
                    on_worker
                });
                format!("{i} ran on {on}")
            }))
            .unwrap();
        }
        let answers: Vec<String> = (0..jobs)
            .map(|_| rx.recv_timeout(PATIENCE).unwrap())
            .collect();
        let elapsed = started.elapsed();
        // Each job answered once.
        let mut numbers: Vec<usize> = answers
            .iter()
            .map(|a| a.split(' ').next().unwrap().parse().unwrap())
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..jobs).collect::<Vec<_>>());
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "no second answer"
        );
        let rescued = answers
            .iter()
            .filter(|a| a.contains("ran on t-rescue"))
            .count();
        (rescued, elapsed)
    }

    #[test]
    fn jobs_that_wait_less_than_the_delay_are_left_to_the_workers() {
        // A short burst that one worker clears well within the rescue delay.
        let ms = Duration::from_millis;
        let (rescued, elapsed) = rescued_of(5, ms(10), ms(10), ms(2000));
        assert!(elapsed < ms(2000), "took {elapsed:?}");
        assert_eq!(rescued, 0);
    }

    #[test]
    fn workers_too_slow_for_their_queue_are_helped_though_they_progress() {
        // One worker finishing a job every 80 ms (slowed, as by starvation), never
        // without progress for the 100 ms rescue delay, and ten jobs queued: without
        // help the last would wait 800 ms. The rescuer runs one in 5 ms.
        let ms = Duration::from_millis;
        let (rescued, elapsed) = rescued_of(10, ms(80), ms(5), ms(100));
        assert!(rescued >= 1, "nothing rescued in {elapsed:?}");
    }

    #[test]
    fn dropping_the_pool_stops_its_threads() {
        let pool = IdlePool::new("t", 2, 4, NEVER).unwrap();
        let alive = Arc::downgrade(&pool.shared);
        drop(pool);
        // Each thread holds the shared state until it returns.
        let deadline = Instant::now() + PATIENCE;
        while alive.strong_count() > 0 {
            assert!(Instant::now() < deadline, "threads still running");
            thread::sleep(Duration::from_millis(5));
        }
    }
}
