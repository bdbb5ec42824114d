//! The bounded blocking pool SAML verification runs on: XML signature checks are
//! CPU-bound native code (libxml2, xmlsec), so at most `permits` run at once, off the
//! async workers, and a panic in there becomes this request's error instead of a dead
//! worker or a poisoned server.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why a job on the pool produced no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolError {
    /// The pool is shut down (the semaphore was closed).
    Closed,
    /// The job panicked; the panic was caught and its permit given back.
    Panicked,
}

#[derive(Debug, Clone)]
pub struct VerificationPool {
    permits: Arc<Semaphore>,
}

impl VerificationPool {
    pub fn new(permits: usize) -> Self {
        VerificationPool {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// Permits free right now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `job` on the blocking pool once a permit is free.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PoolError::Closed)?;
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            catch_unwind(AssertUnwindSafe(job))
        })
        .await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) | Err(_) => Err(PoolError::Panicked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_gives_its_permit_back() {
        let pool = VerificationPool::new(1);
        let r: Result<(), _> = pool.run(|| panic!("inside xmlsec")).await;
        assert_eq!(r, Err(PoolError::Panicked));
        assert_eq!(pool.available(), 1, "the permit is released");
        // The pool still works afterwards.
        assert_eq!(pool.run(|| 41 + 1).await, Ok(42));
    }

    #[tokio::test]
    async fn at_most_the_permitted_jobs_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pool = VerificationPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            })
        });
        for j in jobs.collect::<Vec<_>>() {
            assert_eq!(j.await.expect("joined"), Ok(()));
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
    }
}
