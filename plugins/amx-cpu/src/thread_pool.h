// The plugin's one thread pool: persistent workers that spin briefly after each job and
// then sleep on a futex, so that back-to-back ops of a decode step pay no wake-up, while
// an idle process does not burn its cores. A job ends when its tasks are done, not when
// every worker has looked at it: the calling thread takes whatever tasks the workers have
// not claimed yet.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace graft::amx_cpu {

class ThreadPool {
  public:
    // fn(ctx, begin, end, thread): one chunk of task indices, thread in [0, size()).
    using ChunkFn = void (*)(void *ctx, int64_t begin, int64_t end, int thread);

    // The plugin's pool, created on first use with configured_threads() threads.
    static ThreadPool &instance();
    // Sets the thread count (0: physical cores) and the spin time in microseconds (< 0:
    // 200); an existing pool of other settings is rebuilt once its running job is done.
    // Kernels must not be running on another thread while this is called.
    static void configure(int threads, int spin_us);
    // Physical cores unless configure() said otherwise.
    static int configured_threads();

    explicit ThreadPool(int threads, int spin_us);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Runs body(begin, end, thread) over [0, n) in chunks of `grain` task indices, spread
    // over the workers and the calling thread, and returns when all are done. Calls from
    // inside a job, or while another thread's job runs, wait their turn or (nested) run
    // inline on the calling thread.
    template <typename Body> void parallel_for(int64_t n, int64_t grain, Body &&body) {
        auto trampoline = [](void *ctx, int64_t b, int64_t e, int t) {
            (*static_cast<Body *>(ctx))(b, e, t);
        };
        run(n, grain, trampoline, &body);
    }

  private:
    // The current job. `next` packs the job's generation (top kGenBits bits) with the
    // next unclaimed task index, so that a claim (a compare-exchange on it) can only take
    // a task of the job its worker woke for; fn, ctx, n and grain are read after such a
    // claim, and stay fixed until every claimed task is done. Atomics (relaxed) because a
    // late worker may read them while the next job is being written; it then fails its
    // claim and drops what it read.
    static constexpr int kGenBits = 24;
    static constexpr uint64_t kIndexMask = (uint64_t{1} << (64 - kGenBits)) - 1;
    struct Job {
        std::atomic<ChunkFn> fn{nullptr};
        std::atomic<void *> ctx{nullptr};
        std::atomic<int64_t> n{0};
        std::atomic<int64_t> grain{1};
        std::atomic<uint64_t> next{kIndexMask}; // closed: no task to claim
        std::atomic<int64_t> done{0};           // tasks finished
    };

    void run(int64_t n, int64_t grain, ChunkFn fn, void *ctx);
    void work(int thread, uint32_t generation);
    void worker_loop(int thread);

    std::vector<std::thread> workers_;
    std::mutex submit_; // one job at a time
    Job job_;
    std::atomic<uint32_t> generation_{0}; // bumped per job; workers wait on it
    std::atomic<bool> stop_{false};
    int spin_us_;
};

} // namespace graft::amx_cpu
