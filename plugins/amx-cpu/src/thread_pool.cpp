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
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (std::thread &w : workers_)
        w.join();
}

void ThreadPool::work(int thread) {
    const int64_t n = job_.n, grain = job_.grain;
    for (;;) {
        const int64_t begin = job_.next.fetch_add(grain, std::memory_order_relaxed);
        if (begin >= n)
            break;
        job_.fn(job_.ctx, begin, begin + grain < n ? begin + grain : n, thread);
    }
}

void ThreadPool::run(int64_t n, int64_t grain, ChunkFn fn, void *ctx) {
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    // Nested or single-threaded: run inline.
    if (t_inside_job || workers_.empty() || n <= grain) {
        for (int64_t b = 0; b < n; b += grain)
            fn(ctx, b, b + grain < n ? b + grain : n, 0);
        return;
    }
    std::lock_guard lock(submit_);
    job_.fn = fn;
    job_.ctx = ctx;
    job_.n = n;
    job_.grain = grain;
    job_.next.store(0, std::memory_order_relaxed);
    busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();

    t_inside_job = true;
    work(0);
    t_inside_job = false;
    // The workers are already spinning or awake; wait for the last one to leave the job
    // so that job_ can be reused.
    while (busy_.load(std::memory_order_acquire) != 0)
        _mm_pause();
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
        work(thread);
        busy_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

} // namespace graft::amx_cpu
