// llama.cpp as the performance peer of the linear benchmark: ggml's CPU backend of a
// matching ISA level (libggml-cpu-haswell/icelake/sapphirerapids.so from
// third_party/llama/lib, or GRAFT_LLAMA_LIB_DIR) runs the same mul_mat on the same weight
// bytes with a persistent thread pool, as llama.cpp does during generation. Optional:
// without llama.cpp the benchmark prints "-" in the peer columns.
#pragma once

#include <graft/plugin.h>

#include <memory>
#include <string>

namespace graft::bench {

class GgmlPeer {
  public:
    GgmlPeer();
    // Loads ggml for `variant` ("avx2", "avx512", "amx") with `threads` threads; false with
    // the reason when it cannot.
    bool load(const std::string &variant, int threads, std::string &why_not);
    ~GgmlPeer();

    // y (n_out, T) = W (n_in, n_out) x (n_in, T) through ggml_mul_mat. Returns the median
    // seconds of `reps` runs after two warm-ups; y holds the result. Negative when ggml
    // cannot run this dtype or shape.
    double time_mul_mat(graft_dtype dtype, const void *w, int64_t n_in, int64_t n_out,
                        const float *x, int64_t tokens, float *y, int reps);

  private:
    struct Api;
    std::unique_ptr<Api> api_;
    void *threadpool_ = nullptr;
    int threads_ = 1;
};

} // namespace graft::bench
