#include "ggml_peer.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#ifdef GRAFT_BENCH_HAVE_GGML
#include <dlfcn.h>
#include <ggml-cpu.h>
#include <ggml.h>
#endif

namespace graft::bench {

#ifdef GRAFT_BENCH_HAVE_GGML

// The ggml functions the benchmark calls, looked up at run time so that the benchmark
// builds and runs without llama.cpp.
struct GgmlPeer::Api {
    decltype(&ggml_init) init = nullptr;
    decltype(&ggml_free) free = nullptr;
    decltype(&ggml_new_tensor_2d) new_tensor_2d = nullptr;
    decltype(&ggml_mul_mat) mul_mat = nullptr;
    decltype(&ggml_new_graph) new_graph = nullptr;
    decltype(&ggml_build_forward_expand) build_forward_expand = nullptr;
    decltype(&ggml_tensor_overhead) tensor_overhead = nullptr;
    decltype(&ggml_graph_overhead) graph_overhead = nullptr;
    decltype(&ggml_threadpool_params_default) threadpool_params_default = nullptr;
    decltype(&ggml_cpu_init) cpu_init = nullptr;
    decltype(&ggml_threadpool_new) threadpool_new = nullptr;
    decltype(&ggml_threadpool_free) threadpool_free = nullptr;
    decltype(&ggml_threadpool_pause) threadpool_pause = nullptr;
    decltype(&ggml_threadpool_resume) threadpool_resume = nullptr;
    decltype(&ggml_graph_plan) graph_plan = nullptr;
    decltype(&ggml_graph_compute) graph_compute = nullptr;
};

namespace {

template <typename F> bool bind(void *lib, const char *name, F &fn) {
    fn = reinterpret_cast<F>(dlsym(lib, name));
    return fn != nullptr;
}

} // namespace

GgmlPeer::GgmlPeer() = default;

bool GgmlPeer::load(const std::string &variant, int threads, std::string &why_not) {
    const char *env = std::getenv("GRAFT_LLAMA_LIB_DIR");
    const std::string dir = env && *env ? env : std::string(GRAFT_LLAMA_DIR) + "/lib";
    const std::string cpu = variant == "avx2"     ? "haswell"
                            : variant == "avx512" ? "icelake"
                                                  : "sapphirerapids";
    void *base = dlopen((dir + "/libggml-base.so").c_str(), RTLD_NOW | RTLD_GLOBAL);
    void *backend =
        base ? dlopen((dir + "/libggml-cpu-" + cpu + ".so").c_str(), RTLD_NOW | RTLD_LOCAL)
             : nullptr;
    if (!backend) {
        why_not = "llama.cpp's ggml (" + cpu + ") not loadable from " + dir;
        return false;
    }
    auto a = std::make_unique<Api>();
    const bool ok = bind(base, "ggml_init", a->init) && bind(base, "ggml_free", a->free) &&
                    bind(base, "ggml_new_tensor_2d", a->new_tensor_2d) &&
                    bind(base, "ggml_mul_mat", a->mul_mat) &&
                    bind(base, "ggml_new_graph", a->new_graph) &&
                    bind(base, "ggml_build_forward_expand", a->build_forward_expand) &&
                    bind(base, "ggml_tensor_overhead", a->tensor_overhead) &&
                    bind(base, "ggml_graph_overhead", a->graph_overhead) &&
                    bind(base, "ggml_threadpool_params_default", a->threadpool_params_default) &&
                    bind(backend, "ggml_cpu_init", a->cpu_init) &&
                    bind(backend, "ggml_threadpool_new", a->threadpool_new) &&
                    bind(backend, "ggml_threadpool_free", a->threadpool_free) &&
                    bind(backend, "ggml_threadpool_pause", a->threadpool_pause) &&
                    bind(backend, "ggml_threadpool_resume", a->threadpool_resume) &&
                    bind(backend, "ggml_graph_plan", a->graph_plan) &&
                    bind(backend, "ggml_graph_compute", a->graph_compute);
    if (!ok) {
        why_not = "llama.cpp's ggml lacks a function the benchmark needs";
        return false;
    }
    a->cpu_init();
    ggml_threadpool_params params = a->threadpool_params_default(threads);
    threadpool_ = a->threadpool_new(&params);
    // ggml's workers poll for work long after a graph; paused, they sleep while graft's
    // kernels are timed.
    a->threadpool_pause(static_cast<ggml_threadpool *>(threadpool_));
    threads_ = threads;
    api_ = std::move(a);
    return true;
}

GgmlPeer::~GgmlPeer() {
    if (api_ && threadpool_)
        api_->threadpool_free(static_cast<ggml_threadpool *>(threadpool_));
}

double GgmlPeer::time_mul_mat(graft_dtype dtype, const void *w, int64_t n_in, int64_t n_out,
                              const float *x, int64_t tokens, float *y, int reps) {
    if (!api_)
        return -1.0;
    // Tensors point at the caller's memory (no_alloc), as llama.cpp's mmap'd weights do.
    ggml_init_params ip{};
    ip.mem_size = 8 * api_->tensor_overhead() + api_->graph_overhead() + 4096;
    ip.no_alloc = true;
    ggml_context *ctx = api_->init(ip);
    if (!ctx)
        return -1.0;
    ggml_tensor *wt = api_->new_tensor_2d(ctx, static_cast<ggml_type>(dtype), n_in, n_out);
    ggml_tensor *xt = api_->new_tensor_2d(ctx, GGML_TYPE_F32, n_in, tokens);
    ggml_tensor *yt = api_->mul_mat(ctx, wt, xt);
    wt->data = const_cast<void *>(w);
    xt->data = const_cast<float *>(x);
    yt->data = y;
    ggml_cgraph *gf = api_->new_graph(ctx);
    api_->build_forward_expand(gf, yt);
    ggml_cplan plan = api_->graph_plan(gf, threads_, static_cast<ggml_threadpool *>(threadpool_));
    std::vector<uint8_t> work(plan.work_size + 64);
    plan.work_data = work.data();
    std::vector<double> t;
    api_->threadpool_resume(static_cast<ggml_threadpool *>(threadpool_));
    for (int i = 0; i < reps + 2; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        if (api_->graph_compute(gf, &plan) != GGML_STATUS_SUCCESS) {
            api_->threadpool_pause(static_cast<ggml_threadpool *>(threadpool_));
            api_->free(ctx);
            return -1.0;
        }
        if (i >= 2)
            t.push_back(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    api_->threadpool_pause(static_cast<ggml_threadpool *>(threadpool_));
    api_->free(ctx);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

#else

struct GgmlPeer::Api {};

GgmlPeer::GgmlPeer() = default;

bool GgmlPeer::load(const std::string &, int, std::string &why_not) {
    why_not = "built without llama.cpp's ggml headers";
    return false;
}
GgmlPeer::~GgmlPeer() = default;
double GgmlPeer::time_mul_mat(graft_dtype, const void *, int64_t, int64_t, const float *, int64_t,
                              float *, int) {
    return -1.0;
}

#endif

} // namespace graft::bench
