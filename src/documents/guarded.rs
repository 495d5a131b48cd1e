//! Running a parse of an untrusted PDF where it cannot hurt the server: on its own thread (with
//! the stack it needs), inside `catch_unwind`, given up after a deadline, and only while fewer
//! than a fixed number of such threads are alive. Shared by the check on upload (`inspect.rs`)
//! and signature verification (`verification.rs`), each with its own counter and limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One place among at most `limit` counted by `counter`, held for as long as the value lives
/// (a panicking thread gives it back too).
pub(crate) struct Slot(&'static AtomicUsize);

impl Slot {
    /// A place, or `None` when `limit` are taken.
    pub(crate) fn take(counter: &'static AtomicUsize, limit: usize) -> Option<Slot> {
        if counter.fetch_add(1, Ordering::SeqCst) >= limit {
            counter.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(counter))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The limits of one kind of guarded work.
pub(crate) struct Guard {
    /// Threads of this kind alive now, counting those abandoned after their deadline (they run
    /// on until they finish): bounds the CPU and memory hostile files can tie up.
    pub counter: &'static AtomicUsize,
    /// Most threads of this kind alive at once.
    pub limit: usize,
    /// Thread name (seen in debuggers and panics).
    pub name: &'static str,
    /// Stack of the thread.
    pub stack_bytes: usize,
}

/// Why guarded work gave no result.
#[derive(Debug)]
pub(crate) enum Failure {
    /// `limit` threads of this kind are alive: nothing was started.
    Busy,
    /// The thread could not be started (logged).
    Spawn,
    /// The work panicked.
    Panicked,
    /// The deadline passed; the thread is abandoned (it keeps its slot until it ends).
    TimedOut,
}

impl Guard {
    /// A place for one thread of this kind, or `None` (logged) when `limit` are alive. Taken
    /// before costly preparation (reading a file) so a busy server refuses early.
    pub(crate) fn slot(&self) -> Option<Slot> {
        let slot = Slot::take(self.counter, self.limit);
        if slot.is_none() {
            tracing::warn!(
                limit = self.limit,
                kind = self.name,
                "refused: too many PDF threads running"
            );
        }
        slot
    }
}

/// Runs `work` on its own thread under `guard`, waiting at most `timeout`. Blocking: call it
/// off the async executor.
pub(crate) fn run<T, F>(guard: &Guard, timeout: Duration, work: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let slot = guard.slot().ok_or(Failure::Busy)?;
    run_in(slot, guard, timeout, work)
}

/// Like [`run`], in a place taken already with [`Guard::slot`]; the thread keeps it.
pub(crate) fn run_in<T, F>(
    slot: Slot,
    guard: &Guard,
    timeout: Duration,
    work: F,
) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name(guard.name.into())
        .stack_size(guard.stack_bytes)
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            // The place is given back before the result is handed over, so a caller that runs
            // one check after another never finds its own previous thread still counted.
            drop(slot);
            // The receiver may have given up already; nothing to do then.
            let _ = tx.send(outcome);
        })
        .map_err(|e| {
            tracing::error!(error = %e, kind = guard.name, "cannot start a PDF thread");
            Failure::Spawn
        })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_panic)) => {
            tracing::warn!(kind = guard.name, "the PDF reader panicked");
            Err(Failure::Panicked)
        }
        Err(_) => Err(Failure::TimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_and_come_back_even_after_a_panic() {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let a = Slot::take(&COUNTER, 2).unwrap();
        let held = std::thread::spawn(|| {
            let _b = Slot::take(&COUNTER, 2).unwrap();
            panic!("a check thread dying");
        });
        assert!(held.join().is_err());
        let b = Slot::take(&COUNTER, 2).expect("the panicked thread gave its slot back");
        assert!(
            Slot::take(&COUNTER, 2).is_none(),
            "a third check is refused"
        );
        drop(a);
        assert!(Slot::take(&COUNTER, 2).is_some());
        drop(b);
        assert_eq!(COUNTER.load(Ordering::SeqCst), 0);
    }

    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static GUARD: Guard = Guard {
        counter: &RUNNING,
        limit: 1,
        name: "guarded-test",
        stack_bytes: 1024 * 1024,
    };

    #[test]
    fn run_gives_the_value_refuses_over_the_limit_and_survives_panics_and_deadlines() {
        // One test for all cases: they share the counter.
        assert_eq!(run(&GUARD, Duration::from_secs(5), || 42).unwrap(), 42);
        assert!(matches!(
            run(&GUARD, Duration::from_secs(5), || -> u8 { panic!("boom") }),
            Err(Failure::Panicked)
        ));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let slow = run(&GUARD, Duration::from_millis(50), move || {
            let _ = wait.recv();
        });
        assert!(matches!(slow, Err(Failure::TimedOut)));
        // The abandoned thread still holds the only place.
        assert!(matches!(
            run(&GUARD, Duration::from_secs(5), || 1),
            Err(Failure::Busy)
        ));
        drop(release);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while RUNNING.load(Ordering::SeqCst) != 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(run(&GUARD, Duration::from_secs(5), || 7).unwrap(), 7);
    }
}
