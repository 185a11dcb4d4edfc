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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, Thread};

use crossbeam_queue::SegQueue;
use thread_priority::ThreadPriority;

/// What a finished job leaves for the relay thread to run: handing over its answer.
pub(super) type Delivery = Box<dyn FnOnce() + Send>;
/// A job; `None` when there is nothing to deliver.
pub(super) type Job = Box<dyn FnOnce() -> Option<Delivery> + Send>;

/// `threads` threads at idle priority and one relay; they stop when this is dropped.
pub(super) struct IdlePool {
    shared: Arc<Shared>,
    workers: Vec<Thread>,
    relay: Thread,
}

struct Shared {
    jobs: SegQueue<Job>,
    deliveries: SegQueue<Delivery>,
    stopping: AtomicBool,
}

impl IdlePool {
    /// Starts the threads, named `{name}-0..` and `{name}-relay`.
    ///
    /// # Errors
    /// A message when the OS refuses a thread.
    pub(super) fn new(name: &str, threads: usize) -> Result<Self, String> {
        let shared = Arc::new(Shared {
            jobs: SegQueue::new(),
            deliveries: SegQueue::new(),
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
        // Built up in place: if the OS refuses a thread, dropping the pool stops the
        // threads already started.
        let mut pool = Self {
            shared,
            workers: Vec::with_capacity(threads),
            relay,
        };
        for i in 0..threads.max(1) {
            let shared = Arc::clone(&pool.shared);
            let relay = pool.relay.clone();
            let worker = start(
                format!("{name}-{i}"),
                Box::new(move || work(&shared, &relay)),
            )?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// Queues `job`; jobs start in the order queued.
    pub(super) fn spawn(&self, job: Job) {
        self.shared.jobs.push(job);
        // Unparking a thread that is not parked only sets its token (no system call),
        // so waking every worker costs little and never leaves a job waiting for a busy
        // one while another sleeps.
        for worker in &self.workers {
            worker.unpark();
        }
    }
}

impl Drop for IdlePool {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        for thread in self.workers.iter().chain([&self.relay]) {
            thread.unpark();
        }
    }
}

fn work(shared: &Shared, relay: &Thread) {
    // Best effort: where the OS refuses, jobs still run, at normal priority.
    if let Err(err) = lower_own_priority() {
        tracing::warn!(?err, "could not lower the priority of a hashing thread");
    }
    loop {
        if let Some(job) = shared.jobs.pop() {
            match catch_unwind(AssertUnwindSafe(job)) {
                Ok(Some(delivery)) => {
                    shared.deliveries.push(delivery);
                    relay.unpark();
                }
                Ok(None) => {}
                // The job's reply channel was dropped with it: its caller gets an error.
                Err(_) => tracing::error!("a password hashing job panicked"),
            }
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
    use std::time::Duration;

    const PATIENCE: Duration = Duration::from_secs(10);

    fn deliver(tx: mpsc::Sender<String>, value: String) -> Option<Delivery> {
        Some(Box::new(move || {
            let on = thread::current().name().map(str::to_owned);
            tx.send(format!("{value} on {}", on.unwrap_or_default()))
                .unwrap();
        }))
    }

    #[test]
    fn jobs_run_on_the_workers_and_answers_are_delivered_by_the_relay() {
        let pool = IdlePool::new("t", 2).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..4 {
            let tx = tx.clone();
            pool.spawn(Box::new(move || {
                let ran_on = thread::current().name().map(str::to_owned);
                deliver(tx, format!("{i} ran on {}", ran_on.unwrap_or_default()))
            }));
        }
        let mut answers: Vec<String> = (0..4).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
        answers.sort();
        for (i, answer) in answers.iter().enumerate() {
            assert!(answer.starts_with(&format!("{i} ran on t-")), "{answer}");
            assert!(answer.ends_with(" on t-relay"), "{answer}");
        }
    }

    #[test]
    fn a_panicking_job_leaves_the_pool_working() {
        let pool = IdlePool::new("t", 1).unwrap();
        pool.spawn(Box::new(|| panic!("a job that fails")));
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(move || deliver(tx, "after".into())));
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "after on t-relay");
    }

    #[test]
    fn a_job_with_nothing_to_deliver_delivers_nothing() {
        let pool = IdlePool::new("t", 1).unwrap();
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(|| None));
        pool.spawn(Box::new(move || deliver(tx, "second".into())));
        // One worker runs jobs in order: the first was done before the second's answer.
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "second on t-relay");
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }

    #[test]
    fn dropping_the_pool_stops_its_threads() {
        let pool = IdlePool::new("t", 2).unwrap();
        let alive = Arc::downgrade(&pool.shared);
        drop(pool);
        // Each thread holds the shared state until it returns.
        let deadline = std::time::Instant::now() + PATIENCE;
        while alive.strong_count() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "threads still running"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}
