// graft-bench-linear: times amx-cpu's "linear" kernel per ISA variant, weight dtype and the
// matrix shapes of a 1B model, for decode (one token, GEMV) and prefill (many tokens,
// GEMM). Each case is first checked against "linear_ref" on a slice of rows; a case that
// disagrees is reported and not timed. Prints the median and spread of the repetitions as
// GB/s of weights streamed and GFLOP/s, next to this machine's measured read bandwidth and
// to llama.cpp's ggml running the same product on the same bytes (see ggml_peer.h), with
// the largest difference between the two results.
//
//   graft-bench-linear [--plugin FILE]... [--dtype Q4_0,Q4_K,...] [--shape 2048x8192,...]
//                      [--tokens 64] [--reps 15] [--threads N] [--decode-only|--prefill-only]
#include "ggml_peer.h"

#include <graft/plugin.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::vector<std::string> plugins;
    std::vector<graft_dtype> dtypes = {GRAFT_DTYPE_F32,  GRAFT_DTYPE_F16,  GRAFT_DTYPE_BF16,
                                       GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K,
                                       GRAFT_DTYPE_Q5_K, GRAFT_DTYPE_Q6_K};
    // (n_in, n_out) of Llama 3.2 1B: q/o projections, gate/up, down, lm_head.
    std::vector<std::pair<int64_t, int64_t>> shapes = {
        {2048, 2048}, {2048, 8192}, {8192, 2048}, {2048, 128256}};
    int64_t tokens = 64;
    int reps = 15;
    int threads = 0;
    bool decode = true, prefill = true;
};

std::vector<std::string> split(const std::string &s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty())
            out.push_back(item);
    return out;
}

graft_dtype dtype_by_name(const std::string &name) {
    for (uint32_t i = 0; i < GRAFT_DTYPE_COUNT; ++i)
        if (graft::sdk::dtype_known(i) && name == graft::sdk::dtype_info(i).name)
            return static_cast<graft_dtype>(i);
    std::fprintf(stderr, "unknown dtype %s\n", name.c_str());
    std::exit(2);
}

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--plugin") {
            o.plugins.push_back(value());
        } else if (a == "--dtype") {
            o.dtypes.clear();
            for (const std::string &d : split(value()))
                o.dtypes.push_back(dtype_by_name(d));
        } else if (a == "--shape") {
            o.shapes.clear();
            for (const std::string &s : split(value())) {
                const auto x = s.find('x');
                o.shapes.push_back({std::stoll(s.substr(0, x)), std::stoll(s.substr(x + 1))});
            }
        } else if (a == "--tokens") {
            o.tokens = std::stoll(value());
        } else if (a == "--reps") {
            o.reps = std::max(3, std::stoi(value()));
        } else if (a == "--threads") {
            o.threads = std::stoi(value());
        } else if (a == "--decode-only") {
            o.prefill = false;
        } else if (a == "--prefill-only") {
            o.decode = false;
        } else {
            std::fprintf(
                stderr,
                "usage: %s [--plugin FILE]... [--dtype D,..] [--shape NxM,..] [--tokens T] "
                "[--reps R] [--threads N] [--decode-only|--prefill-only]\n",
                argv[0]);
            std::exit(2);
        }
    }
    if (o.plugins.empty())
        for (const char *v : {"avx2", "avx512", "amx"})
            o.plugins.push_back(std::string(GRAFT_BUILD_PLUGIN_DIR) + "/graft-amx-cpu-" + v +
                                ".so");
    return o;
}

// ------------------------------------------------------------------ data

struct Buffer {
    struct Free {
        void operator()(uint8_t *p) const { std::free(p); }
    };
    std::unique_ptr<uint8_t, Free> data;
    size_t size = 0;
    explicit Buffer(size_t n)
        : data(static_cast<uint8_t *>(std::aligned_alloc(64, (n + 127) / 64 * 64))), size(n) {}
};

uint64_t next(uint64_t &s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

float uniform(uint64_t &s) {
    return static_cast<float>(next(s) >> 40) / static_cast<float>(1u << 24) * 2.0f - 1.0f;
}

// Random quants with fp16 scales that keep values near [-1, 1] (the scale fields sit at
// the offsets of the GGUF block layouts).
void fill_weights(graft_dtype d, uint8_t *p, size_t n, uint64_t seed) {
    uint64_t s = seed | 1;
    if (d == GRAFT_DTYPE_F32) {
        for (size_t i = 0; i + 4 <= n; i += 4) {
            const float v = uniform(s);
            std::memcpy(p + i, &v, 4);
        }
        return;
    }
    if (d == GRAFT_DTYPE_F16 || d == GRAFT_DTYPE_BF16) {
        for (size_t i = 0; i + 2 <= n; i += 2) {
            const float v = uniform(s);
            const uint16_t h =
                d == GRAFT_DTYPE_F16 ? graft::sdk::fp32_to_fp16(v) : graft::sdk::fp32_to_bf16(v);
            std::memcpy(p + i, &h, 2);
        }
        return;
    }
    for (size_t i = 0; i + 8 <= n; i += 8) {
        const uint64_t v = next(s);
        std::memcpy(p + i, &v, 8);
    }
    const size_t bb = graft::sdk::dtype_info(d).block_bytes;
    size_t d_off = 0, dmin_off = SIZE_MAX;
    float d_val = 1.0f / 8;
    switch (d) {
    case GRAFT_DTYPE_Q8_0:
        d_val = 1.0f / 128;
        break;
    case GRAFT_DTYPE_Q4_K:
        d_val = 1.0f / 500;
        dmin_off = 2;
        break;
    case GRAFT_DTYPE_Q5_K:
        d_val = 1.0f / 1000;
        dmin_off = 2;
        break;
    case GRAFT_DTYPE_Q6_K:
        d_off = 208;
        d_val = 1.0f / 4096;
        break;
    case GRAFT_DTYPE_Q2_K:
        d_off = 80;
        dmin_off = 82;
        d_val = 1.0f / 45;
        break;
    case GRAFT_DTYPE_Q3_K:
        d_off = 108;
        d_val = 1.0f / 128;
        break;
    default:
        break;
    }
    for (size_t off = 0; off + bb <= n; off += bb) {
        const uint16_t h = graft::sdk::fp32_to_fp16(d_val * (0.5f + 0.5f * std::fabs(uniform(s))));
        std::memcpy(p + off + d_off, &h, 2);
        if (dmin_off != SIZE_MAX) {
            const uint16_t m = graft::sdk::fp32_to_fp16(1.0f / 63);
            std::memcpy(p + off + dmin_off, &m, 2);
        }
    }
}

graft_tensor tensor(graft_dtype d, void *data, int64_t ne0, int64_t ne1) {
    graft_tensor t{};
    t.data = data;
    t.dtype = d;
    t.n_dims = 2;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = t.ne[3] = 1;
    graft::sdk::set_contiguous_strides(t);
    return t;
}

// ------------------------------------------------------------------ running

struct Instance {
    const graft_kernel *k = nullptr;
    void *state = nullptr;
    ~Instance() {
        if (state)
            k->destroy(state);
    }
};

bool create(const graft_plugin *p, const char *impl, const graft_tensor &w, Instance &out) {
    for (uint32_t i = 0; i < p->n_kernels; ++i)
        if (std::strcmp(p->kernels[i].impl, impl) == 0)
            out.k = &p->kernels[i];
    if (!out.k)
        return false;
    graft_kernel_config c = graft::sdk::versioned<graft_kernel_config>();
    c.weights = &w;
    c.n_weights = 1;
    return out.k->create(&c, &out.state) == GRAFT_OK;
}

graft_status run(const Instance &k, graft_tensor x, graft_tensor y) {
    graft_kernel_call call = graft::sdk::versioned<graft_kernel_call>();
    call.inputs = &x;
    call.n_inputs = 1;
    call.outputs = &y;
    call.n_outputs = 1;
    return k.k->run(k.state, &call);
}

// Largest |fast - ref| relative to the largest |ref| on the first rows (the reference is
// slow: a slice keeps validation short).
double validate(const graft_plugin *p, graft_dtype d, const uint8_t *w, int64_t n_in, int64_t n_out,
                const float *x, int64_t tokens) {
    const int64_t rows = std::min<int64_t>(n_out, 64), T = std::min<int64_t>(tokens, 4);
    graft_tensor wt = tensor(d, const_cast<uint8_t *>(w), n_in, rows);
    Instance fast, ref;
    if (!create(p, "linear", wt, fast) || !create(p, "linear_ref", wt, ref))
        return INFINITY;
    std::vector<float> yf(static_cast<size_t>(rows * T)), yr(yf.size());
    graft_tensor xt = tensor(GRAFT_DTYPE_F32, const_cast<float *>(x), n_in, T);
    if (run(fast, xt, tensor(GRAFT_DTYPE_F32, yf.data(), rows, T)) != GRAFT_OK ||
        run(ref, xt, tensor(GRAFT_DTYPE_F32, yr.data(), rows, T)) != GRAFT_OK)
        return INFINITY;
    double max_ref = 0.0, max_diff = 0.0;
    for (size_t i = 0; i < yf.size(); ++i) {
        max_ref = std::max(max_ref, static_cast<double>(std::fabs(yr[i])));
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(yf[i] - yr[i])));
    }
    return max_ref > 0 ? max_diff / max_ref : max_diff;
}

// Read bandwidth of this machine with `threads` threads over a buffer far larger than
// the caches: the roofline for decode.
double measure_read_gbs(int threads) {
    const size_t bytes = size_t{1} << 30;
    Buffer buf(bytes);
    std::memset(buf.data.get(), 1, bytes);
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) {
        std::atomic<uint64_t> sink{0};
        const auto t0 = Clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&, t] {
                const size_t chunk = bytes / static_cast<size_t>(threads);
                const auto *p = reinterpret_cast<const uint64_t *>(buf.data.get() +
                                                                   chunk * static_cast<size_t>(t));
                uint64_t a = 0, b = 0, c = 0, d = 0;
                for (size_t i = 0; i + 4 <= chunk / 8; i += 4) {
                    a += p[i];
                    b += p[i + 1];
                    c += p[i + 2];
                    d += p[i + 3];
                }
                sink += a + b + c + d;
            });
        for (auto &th : pool)
            th.join();
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, static_cast<double>(bytes) / s / 1e9);
    }
    return best;
}

struct Stats {
    double median, lo, hi; // seconds
};

Stats time_runs(const Instance &k, graft_tensor x, graft_tensor y, int reps) {
    std::vector<double> t;
    for (int i = 0; i < 2; ++i)
        run(k, x, y); // warm caches and the thread pool
    for (int i = 0; i < reps; ++i) {
        const auto t0 = Clock::now();
        run(k, x, y);
        t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t[t.size() / 10], t[t.size() - 1 - t.size() / 10]};
}

} // namespace

int main(int argc, char **argv) {
    const Options o = parse(argc, argv);
    const int threads = o.threads > 0
                            ? o.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::printf("threads: %d (both graft and llama.cpp)\nmemory read bandwidth: %.1f GB/s\n",
                threads, measure_read_gbs(threads));
    std::printf("%-7s %-5s %-12s %4s %9s %8s %8s %7s %9s %7s %9s  %s\n", "variant", "dtype",
                "in x out", "T", "ms", "GB/s", "GFLOP/s", "spread%", "llama ms", "speedup",
                "vs llama", "check");
    for (const std::string &file : o.plugins) {
        if (!std::filesystem::exists(file))
            continue;
        void *h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
        auto score =
            h ? reinterpret_cast<graft_plugin_score_fn>(dlsym(h, GRAFT_PLUGIN_SCORE_SYMBOL))
              : nullptr;
        auto init = h ? reinterpret_cast<graft_plugin_init_fn>(dlsym(h, GRAFT_PLUGIN_INIT_SYMBOL))
                      : nullptr;
        const std::string variant = std::filesystem::path(file).stem().string();
        if (!score || !init || score() == 0) {
            std::printf("%s: cannot run on this machine, skipped\n", variant.c_str());
            continue;
        }
        const graft_plugin *p = nullptr;
        graft_host_api host = graft::sdk::versioned<graft_host_api>();
        const char *err = nullptr;
        if (init(&host, &p, &err) != GRAFT_OK) {
            std::printf("%s: init failed: %s\n", variant.c_str(), err ? err : "?");
            continue;
        }
        if (p->configure) {
            const graft_param tp = graft::sdk::make_int_param("threads", threads);
            p->configure(&tp, 1);
        }
        const std::string short_name = variant.substr(variant.rfind('-') + 1);
        graft::bench::GgmlPeer peer;
        std::string peer_why;
        if (!peer.load(short_name, threads, peer_why))
            std::printf("%s: no llama.cpp peer: %s\n", short_name.c_str(), peer_why.c_str());
        for (graft_dtype d : o.dtypes) {
            for (const auto &[n_in, n_out] : o.shapes) {
                const size_t wbytes = graft::sdk::row_bytes(d, n_in) * static_cast<size_t>(n_out);
                Buffer w(wbytes);
                fill_weights(d, w.data.get(), wbytes, static_cast<uint64_t>(n_in * 31 + n_out));
                const int64_t max_t = std::max<int64_t>(o.tokens, 4);
                std::vector<float> x(static_cast<size_t>(n_in * max_t)),
                    y(static_cast<size_t>(n_out * max_t));
                std::vector<float> y_peer(y.size());
                uint64_t s = 7;
                for (float &v : x)
                    v = uniform(s);
                const double err_rel = validate(p, d, w.data.get(), n_in, n_out, x.data(), max_t);
                const bool ok = err_rel < 0.03; // int8 activations: ~1% of the output scale
                graft_tensor wt = tensor(d, w.data.get(), n_in, n_out);
                Instance k;
                if (!create(p, "linear", wt, k))
                    continue;
                for (int64_t T : {int64_t{1}, o.tokens}) {
                    if ((T == 1 && !o.decode) || (T != 1 && !o.prefill))
                        continue;
                    char shape[32];
                    std::snprintf(shape, sizeof shape, "%lldx%lld", static_cast<long long>(n_in),
                                  static_cast<long long>(n_out));
                    if (!ok) {
                        std::printf("%-7s %-5s %-12s %4lld  FAILED validation (max error %.3g of "
                                    "the output scale)\n",
                                    short_name.c_str(), graft::sdk::dtype_name(d), shape,
                                    static_cast<long long>(T), err_rel);
                        continue;
                    }
                    const Stats st = time_runs(k, tensor(GRAFT_DTYPE_F32, x.data(), n_in, T),
                                               tensor(GRAFT_DTYPE_F32, y.data(), n_out, T), o.reps);
                    const double gbs = static_cast<double>(wbytes) / st.median / 1e9;
                    const double gflops =
                        2.0 * static_cast<double>(n_in * n_out * T) / st.median / 1e9;
                    const double peer_s = peer.time_mul_mat(d, w.data.get(), n_in, n_out, x.data(),
                                                            T, y_peer.data(), o.reps);
                    char peer_ms[16] = "-", speedup[16] = "-", agree[16] = "-";
                    if (peer_s > 0) {
                        // Largest difference to llama.cpp's result, relative to the output scale.
                        double scale = 0.0, diff = 0.0;
                        for (size_t i = 0; i < static_cast<size_t>(n_out * T); ++i) {
                            scale = std::max(scale, static_cast<double>(std::fabs(y_peer[i])));
                            diff = std::max(diff, static_cast<double>(std::fabs(y[i] - y_peer[i])));
                        }
                        std::snprintf(peer_ms, sizeof peer_ms, "%.3f", peer_s * 1e3);
                        std::snprintf(speedup, sizeof speedup, "%.2fx", peer_s / st.median);
                        std::snprintf(agree, sizeof agree, "%.1e", scale > 0 ? diff / scale : diff);
                    }
                    std::printf(
                        "%-7s %-5s %-12s %4lld %9.3f %8.2f %8.1f %7.1f %9s %7s %9s  ok (%.1e)\n",
                        short_name.c_str(), graft::sdk::dtype_name(d), shape,
                        static_cast<long long>(T), st.median * 1e3, gbs, gflops,
                        100.0 * (st.hi - st.lo) / st.median, peer_ms, speedup, agree, err_rel);
                    std::fflush(stdout);
                }
            }
        }
    }
    return 0;
}
