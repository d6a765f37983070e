//! The global allocator, and giving memory back after an edge evicts sessions.
//!
//! mimalloc keeps freed memory in the pages of the thread that allocated
//! it until that thread collects them, which a runtime thread does only
//! every few thousand allocations; an edge that has evicted its idle
//! sessions is quiet, so their memory stayed resident (docs/BENCHMARKS.md,
//! issue 21). Each runtime thread, going idle after the edge has dropped
//! sessions from memory (`edge::sessions_released`), collects its pages
//! once: mimalloc returns the empty ones to the system.

use std::cell::Cell;

/// mimalloc instead of the system allocator: under load, glibc's `malloc`
/// and `free` took about a tenth of an edge's and a worker's CPU (perf, in
/// the cluster benchmark of loadtest/bench), spent on the many short-lived
/// buffers of HTTP, gRPC and JSON.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

thread_local! {
    /// The `edge::sessions_released` this thread last collected after.
    static COLLECTED: Cell<u64> = const { Cell::new(0) };
}

/// For the runtime's `on_thread_park`: collects this thread's free pages
/// once after sessions were released; otherwise one atomic load.
pub fn on_park() {
    let released = edge::sessions_released();
    if COLLECTED.replace(released) != released {
        collect();
    }
}

#[allow(unsafe_code)]
fn collect() {
    // SAFETY: `mi_collect` takes no pointers and may be called on any
    // thread; it frees this thread's empty pages and purges the arenas.
    unsafe { mi_collect(true) }
}

// mimalloc's C API (mimalloc.h), linked into the binary by
// `libmimalloc-sys`, which the `mimalloc` crate builds.
#[allow(unsafe_code)]
unsafe extern "C" {
    fn mi_collect(force: bool);
}
