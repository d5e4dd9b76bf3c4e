#include "thread_pool.h"

#include "cpu_features.h"
#include "simd.h"

#include <chrono>
#include <memory>

namespace graft::amx_cpu {

namespace {

thread_local bool t_inside_job = false;

struct PoolSettings {
    std::mutex mutex;
    int threads = 0; // 0 = physical cores
    int spin_us = 200;
    std::unique_ptr<ThreadPool> pool;
};

PoolSettings &settings() {
    static PoolSettings s;
    return s;
}

} // namespace

int ThreadPool::configured_threads() {
    PoolSettings &s = settings();
    std::lock_guard lock(s.mutex);
    return s.threads > 0 ? s.threads : physical_cores();
}

void ThreadPool::configure(int threads, int spin_us) {
    PoolSettings &s = settings();
    std::unique_ptr<ThreadPool> old;
    {
        std::lock_guard lock(s.mutex);
        s.threads = threads > 0 ? threads : 0;    // 0: physical cores
        s.spin_us = spin_us >= 0 ? spin_us : 200; // about one decode op's gap
        const int want = s.threads > 0 ? s.threads : physical_cores();
        if (s.pool && (s.pool->size() != want || s.pool->spin_us_ != s.spin_us))
            old = std::move(s.pool); // the next instance() builds the new one
    }
    if (old) {
        // Let a job that is still running finish before the workers are joined.
        { std::lock_guard wait(old->submit_); }
        old.reset();
    }
}

ThreadPool &ThreadPool::instance() {
    PoolSettings &s = settings();
    std::lock_guard lock(s.mutex);
    if (!s.pool)
        s.pool =
            std::make_unique<ThreadPool>(s.threads > 0 ? s.threads : physical_cores(), s.spin_us);
    return *s.pool;
}

ThreadPool::ThreadPool(int threads, int spin_us) : spin_us_(spin_us) {
    const int n = threads > 0 ? threads : 1;
    workers_.reserve(static_cast<size_t>(n - 1));
    for (int t = 1; t < n; ++t)
        workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true, std::memory_order_release);
    generation_.store((generation_.load() + 1) & ((1u << kGenBits) - 1), std::memory_order_release);
    generation_.notify_all();
    for (std::thread &w : workers_)
        w.join();
}

// Claims and runs tasks of job `generation` until none is left. A worker that wakes late
// (the job already finished, or a newer one published) finds its generation gone from
// job_.next and returns without touching anything: the caller never waits for a worker
// that has not started, only for tasks that were claimed, which matters when the cores
// are shared with other processes and a worker may be descheduled for a whole time slice.
void ThreadPool::work(int thread, uint32_t generation) {
    const uint64_t tag = static_cast<uint64_t>(generation) << (64 - kGenBits);
    uint64_t cur = job_.next.load(std::memory_order_acquire);
    for (;;) {
        if ((cur & ~kIndexMask) != tag)
            return;
        const int64_t begin = static_cast<int64_t>(cur & kIndexMask);
        const int64_t n = job_.n.load(std::memory_order_relaxed);
        const int64_t grain = job_.grain.load(std::memory_order_relaxed);
        if (begin >= n)
            return;
        const int64_t end = begin + grain < n ? begin + grain : n;
        if (!job_.next.compare_exchange_weak(cur, tag | static_cast<uint64_t>(end),
                                             std::memory_order_acquire, std::memory_order_acquire))
            continue; // cur now holds the newer value
        // The claim succeeded: this job stays published until the claimed tasks are done.
        job_.fn.load(std::memory_order_relaxed)(job_.ctx.load(std::memory_order_relaxed), begin,
                                                end, thread);
        job_.done.fetch_add(end - begin, std::memory_order_release);
        cur = job_.next.load(std::memory_order_acquire);
    }
}

void ThreadPool::run(int64_t n, int64_t grain, ChunkFn fn, void *ctx) {
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    // Nested or single-threaded: run inline.
    if (t_inside_job || workers_.empty() || n <= grain || static_cast<uint64_t>(n) >= kIndexMask) {
        for (int64_t b = 0; b < n; b += grain)
            fn(ctx, b, b + grain < n ? b + grain : n, 0);
        return;
    }
    std::lock_guard lock(submit_);
    // The previous job is closed (job_.next holds kIndexMask, which no claim can match),
    // so a late worker cannot claim from it while its fields change.
    const uint32_t generation =
        (generation_.load(std::memory_order_relaxed) + 1) & ((1u << kGenBits) - 1);
    job_.fn.store(fn, std::memory_order_relaxed);
    job_.ctx.store(ctx, std::memory_order_relaxed);
    job_.n.store(n, std::memory_order_relaxed);
    job_.grain.store(grain, std::memory_order_relaxed);
    job_.done.store(0, std::memory_order_relaxed);
    job_.next.store(static_cast<uint64_t>(generation) << (64 - kGenBits),
                    std::memory_order_release);
    generation_.store(generation, std::memory_order_release);
    generation_.notify_all();

    t_inside_job = true;
    work(0, generation);
    t_inside_job = false;
    // Wait for tasks that other threads claimed and are still running. No yield: on a
    // loaded machine a yield hands the core to another process for a time slice.
    while (job_.done.load(std::memory_order_acquire) < n)
        _mm_pause();
    // Close the job: a worker waking now sees no task left under this generation.
    job_.next.store(kIndexMask, std::memory_order_release);
}

void ThreadPool::worker_loop(int thread) {
    t_inside_job = true;
    // Jobs are counted from the pool's construction: a worker that starts late must still
    // take part in a job published before it first looked.
    uint32_t seen = 0;
    for (;;) {
        // Spin a little: in decode the next op follows within microseconds.
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
        uint32_t now = generation_.load(std::memory_order_acquire);
        for (int i = 0; now == seen; ++i) {
            _mm_pause();
            if ((i & 255) == 255 && std::chrono::steady_clock::now() >= deadline) {
                generation_.wait(seen, std::memory_order_acquire);
            }
            now = generation_.load(std::memory_order_acquire);
        }
        seen = now;
        if (stop_.load(std::memory_order_acquire))
            return;
        work(thread, now);
    }
}

} // namespace graft::amx_cpu
