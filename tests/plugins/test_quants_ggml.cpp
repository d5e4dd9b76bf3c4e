// graft/quants.h against ggml itself: the same random blocks dequantised by both, and the
// reference quantisers producing the same bytes. Needs third_party/llama (headers at
// build time, libggml-base.so at run time); skips without it.
#include "amx_cpu_harness.h"

#include <graft/quants.h>

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <string>

#ifdef GRAFT_HAVE_GGML_HEADERS
#include <ggml.h>
#endif

namespace graft::test {
namespace {

#ifdef GRAFT_HAVE_GGML_HEADERS
using TraitsFn = const ggml_type_traits *(*)(ggml_type);

TraitsFn ggml_traits(std::string &why_not) {
    const std::string lib = std::string(GRAFT_LLAMA_DIR) + "/lib/libggml-base.so";
    void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        why_not = "llama.cpp's libggml-base.so is not available (" + lib +
                  "); run scripts/fetch-llama.sh";
        return nullptr;
    }
    auto fn = reinterpret_cast<TraitsFn>(dlsym(h, "ggml_get_type_traits"));
    if (!fn)
        why_not = "libggml-base.so lacks ggml_get_type_traits";
    return fn;
}

TEST(QuantsVsGgml, DequantizeAgrees) {
    std::string why_not;
    const TraitsFn traits = ggml_traits(why_not);
    if (!traits)
        GTEST_SKIP() << why_not;
    const graft_dtype dtypes[] = {GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q4_0,
                                  GRAFT_DTYPE_Q4_1, GRAFT_DTYPE_Q5_0, GRAFT_DTYPE_Q5_1,
                                  GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q2_K, GRAFT_DTYPE_Q3_K,
                                  GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q5_K, GRAFT_DTYPE_Q6_K};
    for (graft_dtype d : dtypes) {
        SCOPED_TRACE(sdk::dtype_name(d));
        const ggml_type_traits *t = traits(static_cast<ggml_type>(d)); // GGUF ids are ggml's
        ASSERT_NE(t, nullptr);
        ASSERT_NE(t->to_float, nullptr);
        ASSERT_EQ(static_cast<uint64_t>(t->type_size), sdk::dtype_info(d).block_bytes);
        ASSERT_EQ(t->blck_size, sdk::dtype_info(d).block_size);
        Rng rng(41);
        const int64_t n = 1024;
        Tensor w = random_weights(d, n, 4, rng);
        for (int64_t r = 0; r < 4; ++r) {
            const std::vector<float> ours = dequantized_row(w, r);
            std::vector<float> theirs(static_cast<size_t>(n));
            t->to_float(w.bytes() + r * w.view().nb[1], theirs.data(), n);
            for (int64_t i = 0; i < n; ++i) {
                const float a = ours[static_cast<size_t>(i)], b = theirs[static_cast<size_t>(i)];
                // Equal up to one rounding (ggml may be built with FMA contraction).
                ASSERT_NEAR(a, b, 2e-7f * std::fabs(b) + 1e-30f) << "row " << r << " element " << i;
            }
        }
    }
}

// ggml-base exports its reference quantisers (Q8_K's is not in the type traits).
TEST(QuantsVsGgml, QuantizeAgrees) {
    std::string why_not;
    if (!ggml_traits(why_not))
        GTEST_SKIP() << why_not;
    using QuantizeFn = void (*)(const float *, void *, int64_t);
    void *h = dlopen((std::string(GRAFT_LLAMA_DIR) + "/lib/libggml-base.so").c_str(),
                     RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr);
    Rng rng(42);
    Tensor x(GRAFT_DTYPE_F32, {1024});
    fill_uniform(x, rng, 4.0f);
    for (int i = 256; i < 288; ++i)
        x.f32()[i] = 0.0f; // a zero block
    const std::pair<graft_dtype, const char *> quantizers[] = {
        {GRAFT_DTYPE_Q8_0, "quantize_row_q8_0_ref"},
        {GRAFT_DTYPE_Q4_0, "quantize_row_q4_0_ref"},
        {GRAFT_DTYPE_Q8_K, "quantize_row_q8_K_ref"}};
    for (const auto &[d, symbol] : quantizers) {
        SCOPED_TRACE(sdk::dtype_name(d));
        const auto theirs_fn = reinterpret_cast<QuantizeFn>(dlsym(h, symbol));
        if (!theirs_fn)
            GTEST_SKIP() << "libggml-base.so does not export " << symbol;
        const size_t bytes = sdk::row_bytes(d, 1024);
        std::vector<uint8_t> ours(bytes), theirs(bytes);
        if (d == GRAFT_DTYPE_Q8_0)
            quants::quantize_row_q8_0(x.f32(), reinterpret_cast<quants::BlockQ8_0 *>(ours.data()),
                                      1024);
        else if (d == GRAFT_DTYPE_Q4_0)
            quants::quantize_row_q4_0(x.f32(), reinterpret_cast<quants::BlockQ4_0 *>(ours.data()),
                                      1024);
        else
            quants::quantize_row_q8_k(x.f32(), reinterpret_cast<quants::BlockQ8_K *>(ours.data()),
                                      1024);
        theirs_fn(x.f32(), theirs.data(), 1024);
        EXPECT_EQ(ours, theirs);
    }
}
#else
TEST(QuantsVsGgml, DequantizeAgrees) {
    GTEST_SKIP()
        << "llama.cpp's ggml headers were not found at configure time; run scripts/fetch-llama.sh";
}
#endif

} // namespace
} // namespace graft::test
