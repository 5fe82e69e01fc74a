//! Work spread over all cores: the thread count (read once; the standard library re-reads the
//! cgroup files on every call) and an order-preserving parallel map with a shared work queue.

use std::sync::{Mutex, OnceLock, PoisonError};

/// The number of threads worth running (cores available to this process), read once.
#[must_use]
pub fn available_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// `work` applied to every item, results in input order. Scoped threads (at most `threads`,
/// the calling thread included) take blocks of `block` items from a shared queue until it is
/// empty, so a slow thread does not hold the others back; fewer than two blocks run on the
/// calling thread alone.
pub fn map<T, R, F>(items: &[T], block: usize, threads: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let block = block.max(1);
    let threads = threads.min(items.len() / block);
    if threads <= 1 {
        return items.iter().map(work).collect();
    }
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    let queue = Mutex::new(items.chunks(block).zip(results.chunks_mut(block)));
    let run = || loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
        let Some((part, out)) = next else {
            break;
        };
        for (item, slot) in part.iter().zip(out) {
            *slot = Some(work(item));
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(run);
        }
        run();
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| unreachable!("every block was taken")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_with_any_thread_count() {
        let items: Vec<u64> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            for block in [1, 7, 64, 2000] {
                let out = map(&items, block, threads, |x| x * 3);
                assert_eq!(out, items.iter().map(|x| x * 3).collect::<Vec<_>>());
            }
        }
        assert!(map(&[] as &[u64], 4, 4, |x| *x).is_empty());
        assert!(available_threads() >= 1);
    }
}
