// Case grids per op for `graft plugins check` (see plugin_check_cases.h). Shapes follow
// the op conventions of graft/plugin.h; every grid has one row, many rows and sizes that
// are not powers of two. Seeds are fixed: a check is repeatable.
#include "plugin_check_cases.h"

#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <algorithm>
#include <map>
#include <numeric>

namespace graft::cli::check {
namespace {

const std::vector<std::string> kOps = {"embedding", "rmsnorm",     "rope",   "linear", "attention",
                                       "router",    "moe_experts", "swiglu", "add"};

graft_dtype dtype_named(const std::string &name) {
    for (uint32_t id = 0; id < GRAFT_DTYPE_COUNT; ++id)
        if (sdk::dtype_known(id) && name == sdk::dtype_info(id).name)
            return static_cast<graft_dtype>(id);
    throw Error("unknown dtype " + name);
}

// Row sizes that suit a dtype: a multiple of its block size, small and larger.
int64_t row_size(graft_dtype dtype, int which) {
    const int64_t block = sdk::dtype_info(dtype).block_size;
    if (block >= 256)
        return which == 0 ? 256 : 512;
    if (block >= 32)
        return which == 0 ? 64 : 160; // 160: five blocks, not a power of two
    return which == 0 ? 64 : 100;
}

std::string shape_text(std::initializer_list<std::pair<const char *, int64_t>> parts) {
    std::string text = "(";
    for (const auto &[name, value] : parts)
        text += (text.size() > 1 ? ", " : "") + std::string(name) + " " + std::to_string(value);
    return text + ")";
}

HostTensor f32(std::vector<int64_t> ne, std::mt19937_64 &rng, float sigma = 1.0f) {
    HostTensor t(GRAFT_DTYPE_F32, std::move(ne));
    fill_normal(t, rng, sigma);
    return t;
}

Case base(const std::string &op, const std::string &variety, const std::string &shape, bool perf) {
    Case c;
    c.label = op + " " + variety + " " + shape;
    c.variety = variety;
    c.tolerance = tolerance_of(variety);
    c.perf = perf;
    return c;
}

// ---------------------------------------------------------------- per op

Case linear_case(graft_dtype dt, int64_t n_in, int64_t n_out, int64_t t, bool bias, bool perf,
                 std::mt19937_64 &rng) {
    Case c = base("linear", sdk::dtype_name(dt),
                  shape_text({{"n_in", n_in}, {"n_out", n_out}, {"T", t}}) + (bias ? " +bias" : ""),
                  perf);
    c.weights.push_back(random_weight(dt, {n_in, n_out}, rng));
    if (bias)
        c.weights.push_back(f32({n_out}, rng));
    c.inputs.push_back(f32({n_in, t}, rng));
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{n_out, t});
    return c;
}

Case embedding_case(graft_dtype dt, int64_t n_embd, int64_t n_vocab, int64_t t, bool perf,
                    std::mt19937_64 &rng) {
    Case c = base("embedding", sdk::dtype_name(dt),
                  shape_text({{"n_embd", n_embd}, {"n_vocab", n_vocab}, {"T", t}}), perf);
    c.weights.push_back(random_weight(dt, {n_embd, n_vocab}, rng));
    HostTensor ids(GRAFT_DTYPE_I32, {t});
    fill_ints(ids, rng, 0, static_cast<int32_t>(n_vocab - 1));
    ids.i32()[0] = static_cast<int32_t>(n_vocab - 1); // the last row, too
    c.inputs.push_back(std::move(ids));
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{n_embd, t});
    return c;
}

Case rmsnorm_case(int64_t n, int64_t rows, double eps, bool perf, std::mt19937_64 &rng) {
    Case c = base("rmsnorm", "F32", shape_text({{"n", n}, {"rows", rows}}), perf);
    c.weights.push_back(f32({n}, rng));
    c.config_params.push_back(sdk::make_float_param("eps", eps));
    c.inputs.push_back(f32({n, rows}, rng, 2.0f));
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{n, rows});
    return c;
}

Case rope_case(int64_t head_dim, int64_t n_head, int64_t t, int64_t n_rot, int mode,
               double freq_scale, bool factors, bool perf, std::mt19937_64 &rng) {
    Case c = base("rope", "F32",
                  shape_text({{"head_dim", head_dim},
                              {"n_head", n_head},
                              {"T", t},
                              {"n_rot", n_rot},
                              {"mode", mode}}) +
                      (factors ? " +freq_factors" : ""),
                  perf);
    if (factors) {
        HostTensor f(GRAFT_DTYPE_F32, {n_rot / 2});
        std::uniform_real_distribution<float> dist(1.0f, 8.0f);
        for (int64_t i = 0; i < n_rot / 2; ++i)
            f.f32()[i] = dist(rng);
        c.weights.push_back(std::move(f));
    }
    c.config_params = {sdk::make_int_param("n_rot", n_rot), sdk::make_int_param("mode", mode),
                       sdk::make_float_param("freq_base", 10000.0),
                       sdk::make_float_param("freq_scale", freq_scale)};
    c.inputs.push_back(f32({head_dim, n_head, t}, rng));
    HostTensor pos(GRAFT_DTYPE_I32, {t});
    const int32_t start = std::uniform_int_distribution<int32_t>(0, 3000)(rng);
    for (int64_t i = 0; i < t; ++i)
        pos.i32()[i] = start + static_cast<int32_t>(i);
    c.inputs.push_back(std::move(pos));
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{head_dim, n_head, t});
    return c;
}

Case attention_case(graft_dtype cache, int64_t head_dim, int64_t n_head, int64_t n_head_kv,
                    int64_t t, int64_t n_past, int64_t n_ctx, bool perf, std::mt19937_64 &rng) {
    Case c = base("attention", std::string("cache ") + sdk::dtype_name(cache),
                  shape_text({{"head_dim", head_dim},
                              {"n_head", n_head},
                              {"n_head_kv", n_head_kv},
                              {"T", t},
                              {"n_past", n_past}}),
                  perf);
    c.config_params = {sdk::make_int_param("n_head", n_head),
                       sdk::make_int_param("n_head_kv", n_head_kv),
                       sdk::make_int_param("head_dim", head_dim),
                       sdk::make_float_param("scale", 1.0 / std::sqrt(double(head_dim)))};
    c.call_params = {sdk::make_int_param("n_past", n_past)};
    c.inputs.push_back(f32({head_dim, n_head, t}, rng));
    c.inputs.push_back(f32({head_dim, n_head_kv, t}, rng));
    c.inputs.push_back(f32({head_dim, n_head_kv, t}, rng));
    for (int i = 0; i < 2; ++i) {
        // Earlier positions hold random keys and values; the rest is zero until written.
        HostTensor f(GRAFT_DTYPE_F32, {head_dim, n_head_kv, n_ctx});
        std::normal_distribution<float> dist(0.0f, 1.0f);
        for (int64_t j = 0; j < head_dim * n_head_kv * n_past; ++j)
            f.f32()[j] = dist(rng);
        HostTensor cached(cache, {head_dim, n_head_kv, n_ctx});
        for (int64_t j = 0; j < f.elements(); ++j) {
            if (cache == GRAFT_DTYPE_F32) {
                cached.f32()[j] = f.f32()[j];
            } else {
                const uint16_t h = sdk::fp32_to_fp16(f.f32()[j]);
                std::memcpy(cached.bytes.data() + 2 * j, &h, 2);
            }
        }
        c.inputs.push_back(std::move(cached));
    }
    c.written_inputs = {3, 4};
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{head_dim, n_head, t});
    return c;
}

Case router_case(graft_dtype dt, int64_t n_embd, int64_t n_expert, int64_t top_k, int64_t t,
                 bool perf, std::mt19937_64 &rng) {
    Case c = base(
        "router", sdk::dtype_name(dt),
        shape_text({{"n_embd", n_embd}, {"n_expert", n_expert}, {"top_k", top_k}, {"T", t}}), perf);
    c.weights.push_back(random_weight(dt, {n_embd, n_expert}, rng));
    // Softmax gating without renormalisation: the weights of the chosen experts are their
    // probabilities among all experts, which the comparison uses to accept near ties.
    c.config_params = {sdk::make_int_param("top_k", top_k),
                       sdk::make_string_param("gating", "softmax"),
                       sdk::make_int_param("norm_topk", 0), sdk::make_float_param("scale", 1.0)};
    c.inputs.push_back(f32({n_embd, t}, rng, 0.2f));
    c.outputs.emplace_back(GRAFT_DTYPE_I32, std::vector<int64_t>{top_k, t});
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{top_k, t});
    c.top_k_outputs = true;
    return c;
}

Case moe_case(graft_dtype dt, int64_t n_embd, int64_t n_ff, int64_t n_expert, int64_t k, int64_t t,
              bool perf, std::mt19937_64 &rng) {
    Case c =
        base("moe_experts", sdk::dtype_name(dt),
             shape_text(
                 {{"n_embd", n_embd}, {"n_ff", n_ff}, {"n_expert", n_expert}, {"k", k}, {"T", t}}),
             perf);
    c.weights.push_back(random_weight(dt, {n_embd, n_ff, n_expert}, rng));
    c.weights.push_back(random_weight(dt, {n_embd, n_ff, n_expert}, rng));
    c.weights.push_back(random_weight(dt, {n_ff, n_embd, n_expert}, rng));
    c.inputs.push_back(f32({n_embd, t}, rng, 0.5f));
    // k distinct experts per token, with positive weights.
    HostTensor ids(GRAFT_DTYPE_I32, {k, t});
    HostTensor w(GRAFT_DTYPE_F32, {k, t});
    std::vector<int32_t> experts(static_cast<size_t>(n_expert));
    std::iota(experts.begin(), experts.end(), 0);
    std::uniform_real_distribution<float> share(0.1f, 1.0f);
    for (int64_t tok = 0; tok < t; ++tok) {
        std::shuffle(experts.begin(), experts.end(), rng);
        for (int64_t j = 0; j < k; ++j) {
            ids.i32()[tok * k + j] = experts[static_cast<size_t>(j)];
            w.f32()[tok * k + j] = share(rng);
        }
    }
    c.inputs.push_back(std::move(ids));
    c.inputs.push_back(std::move(w));
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{n_embd, t});
    return c;
}

Case binary_case(const std::string &op, int64_t n, int64_t rows, bool perf, std::mt19937_64 &rng) {
    Case c = base(op, "F32", shape_text({{"n", n}, {"rows", rows}}), perf);
    c.inputs.push_back(f32({n, rows}, rng, 3.0f));
    c.inputs.push_back(f32({n, rows}, rng, 3.0f));
    c.outputs.emplace_back(GRAFT_DTYPE_F32, std::vector<int64_t>{n, rows});
    return c;
}

} // namespace

bool op_known(const std::string &op) {
    return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

std::vector<std::string> varieties(const std::string &op, const std::vector<graft_dtype> &kernel,
                                   const std::vector<graft_dtype> &reference) {
    if (op == "attention")
        return {"cache F32", "cache F16"};
    if (op == "swiglu" || op == "add" || op == "rmsnorm" || op == "rope")
        return {"F32"};
    std::vector<std::string> out;
    for (graft_dtype dtype : kernel)
        if (can_make_weight(dtype) &&
            std::find(reference.begin(), reference.end(), dtype) != reference.end())
            out.push_back(sdk::dtype_name(dtype));
    return out;
}

std::vector<Case> make_cases(const std::string &op, const std::string &variety, bool perf) {
    // One seed per (op, variety): repeatable, and different data for different kernels.
    std::mt19937_64 rng(std::hash<std::string>{}(op + "/" + variety) & 0xffffffffu);
    std::vector<Case> cases;
    if (op == "linear") {
        const graft_dtype dt = dtype_named(variety);
        const int64_t a = row_size(dt, 0), b = row_size(dt, 1);
        cases.push_back(linear_case(dt, a, 16, 1, false, false, rng));
        cases.push_back(linear_case(dt, b, 67, 7, true, false, rng));
        cases.push_back(linear_case(dt, a, 33, 33, false, false, rng));
        if (perf)
            cases.push_back(linear_case(dt, 2048, 1024, 8, false, true, rng));
    } else if (op == "embedding") {
        const graft_dtype dt = dtype_named(variety);
        cases.push_back(embedding_case(dt, row_size(dt, 0), 67, 1, false, rng));
        cases.push_back(embedding_case(dt, row_size(dt, 1), 100, 9, false, rng));
        if (perf)
            cases.push_back(embedding_case(dt, 4096, 256, 64, true, rng));
    } else if (op == "rmsnorm") {
        cases.push_back(rmsnorm_case(64, 1, 1e-5, false, rng));
        cases.push_back(rmsnorm_case(100, 5, 1e-6, false, rng));
        cases.push_back(rmsnorm_case(37, 33, 1e-5, false, rng));
        if (perf)
            cases.push_back(rmsnorm_case(4096, 64, 1e-5, true, rng));
    } else if (op == "rope") {
        cases.push_back(rope_case(64, 4, 1, 64, 0, 1.0, false, false, rng));
        cases.push_back(rope_case(128, 3, 7, 64, 2, 1.0, true, false, rng));
        cases.push_back(rope_case(80, 2, 5, 80, 2, 0.5, false, false, rng));
        cases.push_back(rope_case(96, 5, 33, 32, 0, 1.0, false, false, rng));
        if (perf)
            cases.push_back(rope_case(128, 32, 64, 128, 2, 1.0, false, true, rng));
    } else if (op == "attention") {
        const graft_dtype cache = variety == "cache F16" ? GRAFT_DTYPE_F16 : GRAFT_DTYPE_F32;
        cases.push_back(attention_case(cache, 64, 4, 2, 1, 17, 32, false, rng));
        cases.push_back(attention_case(cache, 64, 4, 4, 9, 0, 16, false, rng));
        cases.push_back(attention_case(cache, 80, 6, 2, 5, 11, 24, false, rng));
        if (perf)
            cases.push_back(attention_case(cache, 128, 32, 8, 1, 511, 512, true, rng));
    } else if (op == "router") {
        const graft_dtype dt = dtype_named(variety);
        const int64_t n = row_size(dt, 1);
        cases.push_back(router_case(dt, n, 8, 2, 1, false, rng));
        cases.push_back(router_case(dt, n, 16, 4, 7, false, rng));
        cases.push_back(router_case(dt, n, 6, 1, 3, false, rng));
        if (perf)
            cases.push_back(router_case(dt, 2048, 64, 8, 16, true, rng));
    } else if (op == "moe_experts") {
        const graft_dtype dt = dtype_named(variety);
        const int64_t a = row_size(dt, 0), b = row_size(dt, 1);
        cases.push_back(moe_case(dt, a, b, 4, 2, 1, false, rng));
        cases.push_back(moe_case(dt, b, a, 6, 3, 5, false, rng));
        if (perf)
            cases.push_back(moe_case(dt, 1024, 512, 8, 2, 16, true, rng));
    } else if (op == "swiglu" || op == "add") {
        cases.push_back(binary_case(op, 37, 1, false, rng));
        cases.push_back(binary_case(op, 64, 9, false, rng));
        cases.push_back(binary_case(op, 100, 33, false, rng));
        if (perf)
            cases.push_back(binary_case(op, 11008, 32, true, rng));
    }
    return cases;
}

double tolerance_of(const std::string &variety) {
    // Kernels may reorder sums, use fused multiply-adds and fast exp (F32: 1e-3), or
    // round activations to the weights' precision before the dot products, as llama.cpp
    // does: to F16/BF16 for half-float weights, to 8-bit blocks (Q8_0/Q8_K) for quantised
    // ones, which costs about 1% of the output's RMS.
    static const std::map<std::string, double> table = {
        {"F32", 1e-3},  {"cache F32", 1e-3}, {"cache F16", 1e-2}, {"F16", 1e-2},
        {"BF16", 3e-2}, {"Q8_0", 3e-2},      {"Q8_K", 3e-2},
    };
    if (auto it = table.find(variety); it != table.end())
        return it->second;
    return 5e-2; // 2- to 6-bit quantised weights
}

} // namespace graft::cli::check
