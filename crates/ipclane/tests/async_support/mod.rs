//! What the async suites share: their runtime, a bound on each test, and the competing
//! branch of their cancel-safety tests.

use std::time::Duration;

use ipclane_testkit::WAIT_LIMIT;

/// A multi-threaded runtime of two workers (the machine's CPUs), with timers and I/O.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on a fresh runtime, failing (not hanging) past the wait limit.
pub(crate) fn run<F: Future<Output = ()>>(f: F) {
    runtime().block_on(async {
        tokio::time::timeout(WAIT_LIMIT, f)
            .await
            .expect("the test outlived the wait limit");
    });
}

/// The competing branch of a cancel-safety test, varied by `n`: a few polls most of the
/// time, now and then a zero or a 1 ms sleep on tokio's timer.
pub(crate) async fn timer(n: u64) {
    match ipclane_testkit::rng::mix(n) % 16 {
        0 => tokio::time::sleep(Duration::ZERO).await,
        1 if n % 64 == 1 => tokio::time::sleep(Duration::from_millis(1)).await,
        k => {
            for _ in 0..k % 4 {
                tokio::task::yield_now().await;
            }
        }
    }
}
