// graft bench: prefill and decode speed measured the way llama-bench measures them, decode's
// achieved weight bandwidth set against the machine's measured read bandwidth, and a
// per-op profile. `graft bench --memory` measures that bandwidth. See docs/performance.md.
#include "commands.h"
#include "loading.h"

#include <graft/engine/open.h>
#include <graft/gguf/gguf.h>
#include <graft/models/module.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <boost/json.hpp>

#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

namespace graft::cli {

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct BenchOptions {
    std::string model, rules;
    int n_prompt = 512, n_gen = 128, threads = 0, reps = 5, warmup = 1;
    bool json = false, profile = false, memory = false;
    int64_t memory_mib = 1024;
    std::string kernel_op; // --kernel: time this op's implementations
    std::string impls;     // --impl A,B
};

// ------------------------------------------------------------------ statistics

struct Summary {
    std::vector<double> runs;
    double mean = 0, sd = 0; // sd of the sample (n - 1), 0 for a single run
};

Summary summarize(std::vector<double> runs) {
    Summary s;
    s.runs = std::move(runs);
    if (s.runs.empty())
        return s;
    double sum = 0;
    for (double v : s.runs)
        sum += v;
    s.mean = sum / static_cast<double>(s.runs.size());
    if (s.runs.size() > 1) {
        double sq = 0;
        for (double v : s.runs)
            sq += (v - s.mean) * (v - s.mean);
        s.sd = std::sqrt(sq / static_cast<double>(s.runs.size() - 1));
    }
    return s;
}

double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

json::array to_array(const std::vector<double> &v) {
    json::array a;
    for (double x : v)
        a.emplace_back(x);
    return a;
}

// ------------------------------------------------------------------ the machine

// Cores this process may run on, one per physical core (what the CPU plugin uses by default).
int physical_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::set<std::pair<int, int>> cores;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        std::ifstream pkg(base + "physical_package_id"), core(base + "core_id");
        int p = -1, c = -1;
        if (!(pkg >> p) || !(core >> c))
            return std::max(1, CPU_COUNT(&set));
        cores.insert({p, c});
    }
    return std::max(1, static_cast<int>(cores.size()));
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos && colon + 2 <= line.size())
                return line.substr(colon + 2);
        }
    }
    return "unknown CPU";
}

// CPU time of this process so far (all threads, user and system).
double process_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval &t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// Of `threads` cores for `wall` seconds, the share this process was given: well below 1
// means other work took the cores and the figures measured the machine's load.
double share_of_cores(double cpu_seconds, double wall, int threads) {
    return wall > 0 ? cpu_seconds / (wall * threads) : 0;
}

void warn_if_starved(double share, int threads) {
    if (share < 0.8)
        std::printf("note:    the runs got %.0f%% of %d cores' time; the machine is busy, so these "
                    "figures are low\n",
                    share * 100, threads);
}

std::string today() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

// ------------------------------------------------------------------ memory bandwidth

// Streaming reads of [p, p + n), n a multiple of 128, summed so that nothing is optimised
// away. Four independent 256-bit accumulators, as the CPU kernels read weights.
#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t read_stream_avx2(const std::byte *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + i + 96)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

uint64_t read_stream_plain(const std::byte *p, size_t n) {
    uint64_t a[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i += 32) {
        for (int k = 0; k < 4; ++k) {
            uint64_t v;
            std::memcpy(&v, p + i + 8 * static_cast<size_t>(k), sizeof v);
            a[k] += v;
        }
    }
    return a[0] + a[1] + a[2] + a[3];
}

uint64_t read_stream(const std::byte *p, size_t n) {
#if defined(__x86_64__)
    static const bool avx2 = __builtin_cpu_supports("avx2");
    if (avx2)
        return read_stream_avx2(p, n);
#endif
    return read_stream_plain(p, n);
}

volatile uint64_t read_sink = 0;

struct BandwidthRun {
    std::vector<double> gbps; // per repetition
    double median_gbps = 0;
    uint64_t bytes = 0;
    double cpu_share = 0; // see share_of_cores()
};

// Each of `threads` threads writes its own slice of a `bytes` buffer (so its pages are
// real and local), then all read their slices at once, `reps` times after one unmeasured
// pass. A repetition's time runs from the release of all threads to the last one's end.
BandwidthRun measure_read_bandwidth(int threads, uint64_t bytes, int reps) {
    const uint64_t slice = bytes / static_cast<uint64_t>(threads) / 4096 * 4096;
    if (slice == 0)
        throw Error("--memory-size is too small for " + std::to_string(threads) + " threads");
    const uint64_t total = slice * static_cast<uint64_t>(threads);
    void *mem = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        throw Error("cannot map " + std::to_string(total >> 20) +
                    " MiB for the bandwidth test; use a smaller --memory-size");
    auto *base = static_cast<std::byte *>(mem);
    std::barrier sync(threads);
    std::atomic<uint64_t> sink{0};
    std::vector<double> seconds;
    auto work = [&](int t) {
        std::byte *mine = base + slice * static_cast<uint64_t>(t);
        std::memset(mine, 0x5a + t, slice); // first touch: no shared zero page
        for (int r = 0; r <= reps; ++r) {
            sync.arrive_and_wait();
            const auto start = Clock::now();
            sink.fetch_add(read_stream(mine, slice), std::memory_order_relaxed);
            sync.arrive_and_wait();
            if (t == 0 && r > 0)
                seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
        }
    };
    const double cpu_start = process_cpu_seconds();
    const auto wall_start = Clock::now();
    {
        std::vector<std::jthread> pool;
        for (int t = 1; t < threads; ++t)
            pool.emplace_back(work, t);
        work(0);
    }
    const double measured_wall = std::chrono::duration<double>(Clock::now() - wall_start).count();
    const double cpu_seconds = process_cpu_seconds() - cpu_start;
    munmap(mem, total);
    BandwidthRun run;
    run.bytes = total;
    run.cpu_share = share_of_cores(cpu_seconds, measured_wall, threads);
    for (double s : seconds)
        run.gbps.push_back(static_cast<double>(total) / s / 1e9);
    run.median_gbps = median(run.gbps);
    read_sink = sink.load(); // the sums are observed, so the reads cannot be dropped
    return run;
}

// ~/.cache/graft/bandwidth.json (or $XDG_CACHE_HOME/graft/...): the measured figure per
// thread count, for this CPU.
std::filesystem::path bandwidth_cache_path() {
    if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
        return std::filesystem::path(x) / "graft" / "bandwidth.json";
    if (const char *h = std::getenv("HOME"); h && *h)
        return std::filesystem::path(h) / ".cache" / "graft" / "bandwidth.json";
    return {};
}

json::object read_bandwidth_cache() {
    const auto path = bandwidth_cache_path();
    std::ifstream in(path);
    if (path.empty() || !in)
        return {};
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object() || !v.as_object().contains("by_threads"))
        return {};
    json::object o = v.as_object();
    if (!o["by_threads"].is_object())
        return {};
    return o;
}

struct MeasuredBandwidth {
    double gbps = 0;
    int threads = 0;
};

// The cached figure for `threads`, else the highest one cached for this CPU.
std::optional<MeasuredBandwidth> cached_bandwidth(int threads) {
    json::object cache = read_bandwidth_cache();
    if (cache.empty())
        return std::nullopt;
    const json::value *cpu = cache.if_contains("cpu");
    if (!cpu || !cpu->is_string() || cpu->as_string() != cpu_model_name())
        return std::nullopt;
    std::optional<MeasuredBandwidth> best;
    for (const auto &[key, entry] : cache["by_threads"].as_object()) {
        const json::value *g = entry.is_object() ? entry.as_object().if_contains("gbps") : nullptr;
        if (!g || !g->is_number())
            continue;
        const double gbps = g->to_number<double>();
        const int t = std::atoi(std::string(key).c_str());
        if (!(gbps > 0) || t <= 0)
            continue;
        if (t == threads)
            return MeasuredBandwidth{gbps, t};
        if (!best || gbps > best->gbps)
            best = MeasuredBandwidth{gbps, t};
    }
    return best;
}

// Stores the figure; returns where, or an empty path when it could not be written.
std::filesystem::path save_bandwidth(int threads, const BandwidthRun &run) {
    const auto path = bandwidth_cache_path();
    if (path.empty())
        return {};
    json::object cache = read_bandwidth_cache();
    const std::string cpu = cpu_model_name();
    const json::value *old_cpu = cache.if_contains("cpu");
    if (!old_cpu || !old_cpu->is_string() || old_cpu->as_string() != cpu)
        cache = json::object{{"by_threads", json::object{}}};
    cache["cpu"] = cpu;
    cache["by_threads"].as_object()[std::to_string(threads)] =
        json::object{{"gbps", run.median_gbps}, {"bytes", run.bytes}, {"date", today()}};
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    const auto tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << json::serialize(cache) << "\n";
        if (!out)
            return {};
    }
    std::filesystem::rename(tmp, path, ec);
    return ec ? std::filesystem::path() : path;
}

void memory_command(const BenchOptions &o, int reps) {
    const int threads = o.threads > 0 ? o.threads : physical_cores();
    const BandwidthRun run =
        measure_read_bandwidth(threads, static_cast<uint64_t>(o.memory_mib) << 20, reps);
    const auto saved = save_bandwidth(threads, run);
    if (o.json) {
        json::object out{{"gbps", run.median_gbps},     {"runs", to_array(run.gbps)},
                         {"threads", threads},          {"bytes", run.bytes},
                         {"cpu", cpu_model_name()},     {"cpu_share", run.cpu_share},
                         {"cache_file", saved.string()}};
        std::cout << json::serialize(out) << "\n";
        return;
    }
    std::printf("memory read bandwidth: %.2f GB/s (median of %d; %d threads reading %.0f MiB)\n",
                run.median_gbps, reps, threads, static_cast<double>(run.bytes) / (1 << 20));
    warn_if_starved(run.cpu_share, threads);
    if (!saved.empty())
        std::printf("saved to %s for `graft bench`\n", saved.c_str());
    else
        std::fprintf(stderr, "warning: could not save the figure (no writable cache dir)\n");
}

// ------------------------------------------------------------------ model benchmark

// Kernel time summed over the timed runs of one phase, by op, kernel and device.
struct PhaseProfile {
    double wall_seconds = 0; // of the timed runs
    int64_t steps = 0;       // decode: tokens; prefill: runs
    struct Totals {
        uint64_t calls = 0;
        double seconds = 0;
        double weight_bytes_read = 0; // weight bytes x calls
    };
    std::map<std::tuple<std::string, std::string, std::string>, Totals> ops;

    void collect(engine::Model &model, double wall, int64_t n_steps) {
        wall_seconds += wall;
        steps += n_steps;
        for (const engine::KernelProfile &k : model.profile()) {
            if (k.calls == 0)
                continue;
            Totals &t = ops[{k.op, k.kernel, k.device}];
            t.calls += k.calls;
            t.seconds += k.seconds;
            t.weight_bytes_read +=
                static_cast<double>(k.weight_bytes) * static_cast<double>(k.calls);
        }
        model.reset_profile();
    }
};

// Bytes of weights one decode step reads: every weight of the decode kernels, except that
// the embedding reads one row and routed experts only the experts a token uses.
uint64_t decode_weight_bytes(const engine::Model &model) {
    const models::HParams &hp = model.hparams();
    double bytes = 0;
    for (const engine::KernelProfile &k : model.profile()) {
        if (k.prefill_only)
            continue;
        double b = static_cast<double>(k.weight_bytes);
        if (k.op == "embedding" && hp.n_vocab > 0)
            b /= static_cast<double>(hp.n_vocab);
        else if (k.op == "moe_experts" && hp.n_expert > 0 && hp.n_expert_used > 0)
            b *= static_cast<double>(hp.n_expert_used) / static_cast<double>(hp.n_expert);
        bytes += b;
    }
    return static_cast<uint64_t>(bytes);
}

double time_prefill(engine::Model &model, std::span<const int32_t> tokens) {
    engine::BatchItem item;
    item.tokens = tokens;
    const auto start = Clock::now();
    model.forward({&item, 1}, engine::Phase::Prefill);
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double time_decode(engine::Model &model, std::span<const int32_t> tokens) {
    engine::BatchItem item;
    const auto start = Clock::now();
    for (size_t i = 0; i < tokens.size(); ++i) {
        item.n_past = static_cast<int64_t>(i);
        item.tokens = tokens.subspan(i, 1);
        model.forward({&item, 1}, engine::Phase::Decode);
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int32_t> random_tokens(int64_t n_vocab, int n, std::mt19937 &rng) {
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int32_t &id : t)
        id = pick(rng);
    return t;
}

json::object profile_json(const PhaseProfile &p) {
    const double steps = static_cast<double>(std::max<int64_t>(p.steps, 1));
    const double step_s = p.wall_seconds / steps;
    json::array ops;
    double in_kernels = 0;
    for (const auto &[key, t] : p.ops) {
        const auto &[op, kernel, device] = key;
        json::object row{{"op", op},
                         {"kernel", kernel},
                         {"device", device},
                         {"calls_per_step", static_cast<double>(t.calls) / steps},
                         {"ms_per_step", t.seconds / steps * 1e3},
                         {"pct_of_step", step_s > 0 ? t.seconds / steps / step_s * 100 : 0.0}};
        row["gbps"] = op == "linear" && t.seconds > 0
                          ? json::value(t.weight_bytes_read / t.seconds / 1e9)
                          : json::value(nullptr);
        ops.push_back(std::move(row));
        in_kernels += t.seconds;
    }
    const double outside = std::max(0.0, p.wall_seconds - in_kernels) / steps;
    return json::object{{"steps", p.steps},
                        {"step_ms", step_s * 1e3},
                        {"outside_kernels_ms", outside * 1e3},
                        {"ops", std::move(ops)}};
}

void print_profile(const char *title, const char *step_name, const PhaseProfile &p) {
    if (p.steps == 0)
        return;
    const json::object j = profile_json(p);
    std::printf("\n%s profile, per %s (%.3f ms):\n", title, step_name,
                j.at("step_ms").to_number<double>());
    std::printf("  %-12s %-26s %-8s %9s %10s %8s %8s\n", "op", "kernel", "device", "calls", "ms",
                "% step", "GB/s");
    for (const json::value &v : j.at("ops").as_array()) {
        const json::object &r = v.as_object();
        char gbps[32] = "-";
        if (!r.at("gbps").is_null())
            std::snprintf(gbps, sizeof gbps, "%.2f", r.at("gbps").to_number<double>());
        std::printf("  %-12s %-26s %-8s %9.1f %10.3f %7.1f%% %8s\n", r.at("op").as_string().c_str(),
                    r.at("kernel").as_string().c_str(), r.at("device").as_string().c_str(),
                    r.at("calls_per_step").to_number<double>(),
                    r.at("ms_per_step").to_number<double>(),
                    r.at("pct_of_step").to_number<double>(), gbps);
    }
    const double outside = j.at("outside_kernels_ms").to_number<double>();
    const double step = j.at("step_ms").to_number<double>();
    std::printf("  %-48s %9s %10.3f %7.1f%%\n", "(outside kernels: engine, copies)", "", outside,
                step > 0 ? outside / step * 100 : 0.0);
}

std::string human_bytes(double b) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f %s", b, units[u]);
    return buf;
}

void model_command(const GlobalOptions &global, const BenchOptions &o) {
    if (o.n_prompt == 0 && o.n_gen == 0)
        throw Error("nothing to measure: -p and -n are both 0");
    const int threads = o.threads > 0 ? o.threads : physical_cores();
    auto registry =
        std::make_unique<host::Registry>(host::Registry::discover(plugin_search_path(global)));
    engine::OpenOptions open;
    open.model = o.model.empty() ? demo_model_path() : std::filesystem::path(o.model);
    if (!std::filesystem::exists(open.model))
        throw Error("no model given and the demo model is missing (" + open.model.string() +
                    "); name a GGUF file");
    open.rules = o.rules;
    open.load.threads = threads;
    // Every run starts from an empty cache: the context holds the longest one.
    open.load.n_ctx = (std::max({o.n_prompt, o.n_gen, 1}) + 255) / 256 * 256;
    open.load.n_batch = std::max(o.n_prompt, 1); // the prompt is one forward pass
    open.load.profile = o.profile;
    const auto load_start = Clock::now();
    auto opened = engine::open_model(open, *registry);
    const double load_seconds = std::chrono::duration<double>(Clock::now() - load_start).count();
    engine::Model &model = *opened->model;

    std::mt19937 rng(1234);
    // Warm-up: first touches of the weights, the thread pools, the scratch arenas.
    for (int w = 0; w < o.warmup; ++w) {
        if (o.n_prompt > 0)
            time_prefill(model, random_tokens(model.n_vocab(), o.n_prompt, rng));
        if (o.n_gen > 0)
            time_decode(model, random_tokens(model.n_vocab(), std::min(o.n_gen, 4), rng));
    }
    model.reset_profile();
    std::vector<double> pp, tg;
    PhaseProfile pp_profile, tg_profile;
    const double cpu_start = process_cpu_seconds();
    const auto wall_start = Clock::now();
    for (int r = 0; r < o.reps; ++r) {
        if (o.n_prompt > 0) {
            const auto tokens = random_tokens(model.n_vocab(), o.n_prompt, rng);
            const double s = time_prefill(model, tokens);
            pp.push_back(o.n_prompt / s);
            pp_profile.collect(model, s, 1);
        }
        if (o.n_gen > 0) {
            const auto tokens = random_tokens(model.n_vocab(), o.n_gen, rng);
            const double s = time_decode(model, tokens);
            tg.push_back(o.n_gen / s);
            tg_profile.collect(model, s, o.n_gen);
        }
    }
    const double share =
        share_of_cores(process_cpu_seconds() - cpu_start,
                       std::chrono::duration<double>(Clock::now() - wall_start).count(), threads);
    const Summary pps = summarize(pp), tgs = summarize(tg);

    // What the model is: parameters, bytes and the mix of weight types.
    const gguf::File &file = *opened->file;
    double n_params = 0, tensor_bytes = 0;
    std::map<std::string, double> by_type;
    for (const gguf::TensorInfo &t : file.tensors()) {
        n_params += static_cast<double>(t.n_elements());
        tensor_bytes += static_cast<double>(t.n_bytes);
        by_type[sdk::dtype_name(t.dtype)] += static_cast<double>(t.n_bytes);
    }
    uint64_t loaded_bytes = 0;
    for (const auto &[dev, b] : model.bytes_per_device())
        loaded_bytes += b;
    const uint64_t step_bytes = decode_weight_bytes(model);
    const double tg_gbps = static_cast<double>(step_bytes) * tgs.mean / 1e9;
    const std::optional<MeasuredBandwidth> peak = cached_bandwidth(threads);
    const std::string rules_name = o.rules.empty() ? "default" : o.rules;

    if (o.json) {
        json::object types;
        for (const auto &[name, b] : by_type)
            types[name] = b;
        auto or_null = [](bool has, double v) {
            return has ? json::value(v) : json::value(nullptr);
        };
        json::object out{
            {"engine", "graft"},
            {"version", GRAFT_VERSION},
            {"model", open.model.string()},
            {"name", opened->name},
            {"arch", model.hparams().arch},
            {"n_params", n_params},
            {"n_layer", model.hparams().n_layer},
            {"n_embd", model.hparams().n_embd},
            {"n_vocab", model.n_vocab()},
            {"model_size", tensor_bytes},
            {"weight_types", std::move(types)},
            {"weight_bytes", loaded_bytes},
            {"decode_weight_bytes", step_bytes},
            {"rules", rules_name},
            {"threads", threads},
            {"n_prompt", o.n_prompt},
            {"n_gen", o.n_gen},
            {"reps", o.reps},
            {"warmup", o.warmup},
            {"load_seconds", load_seconds},
            {"cpu_share", share},
            {"pp_tps", or_null(!pp.empty(), pps.mean)},
            {"pp_sd", or_null(!pp.empty(), pps.sd)},
            {"pp_runs", to_array(pps.runs)},
            {"tg_tps", or_null(!tg.empty(), tgs.mean)},
            {"tg_sd", or_null(!tg.empty(), tgs.sd)},
            {"tg_runs", to_array(tgs.runs)},
            {"tg_gbps", or_null(!tg.empty(), tg_gbps)},
            {"measured_gbps", or_null(peak.has_value(), peak ? peak->gbps : 0)},
            {"measured_threads", peak ? json::value(peak->threads) : json::value(nullptr)},
            {"tg_pct_of_measured",
             or_null(peak.has_value() && !tg.empty(), peak ? tg_gbps / peak->gbps * 100 : 0)}};
        if (o.profile)
            out["profile"] = json::object{{"prefill", profile_json(pp_profile)},
                                          {"decode", profile_json(tg_profile)}};
        std::cout << json::serialize(out) << "\n";
        return;
    }

    std::string mix;
    for (const auto &[name, b] : by_type) {
        const double pct = tensor_bytes > 0 ? b / tensor_bytes * 100 : 0;
        if (pct < 1)
            continue;
        char buf[48];
        std::snprintf(buf, sizeof buf, "%s%s %.0f%%", mix.empty() ? "" : ", ", name.c_str(), pct);
        mix += buf;
    }
    std::printf("model:   %s (%s, %.2f B parameters, %s: %s)\n", opened->name.c_str(),
                model.hparams().arch.c_str(), n_params / 1e9, human_bytes(tensor_bytes).c_str(),
                mix.c_str());
    std::printf(
        "setup:   %d threads, rules %s, %d repetitions after %d warm-up, loaded in %.1f s\n",
        threads, rules_name.c_str(), o.reps, o.warmup, load_seconds);
    warn_if_starved(share, threads);
    std::printf("\n| %-8s | %20s |\n| %s | %s |\n", "test", "t/s", "--------",
                "--------------------");
    if (!pp.empty())
        std::printf("| pp%-6d | %11.2f ± %6.2f |\n", o.n_prompt, pps.mean, pps.sd);
    if (!tg.empty())
        std::printf("| tg%-6d | %11.2f ± %6.2f |\n", o.n_gen, tgs.mean, tgs.sd);
    if (!tg.empty()) {
        std::printf("\ndecode reads %s of weights per token: %.2f GB/s",
                    human_bytes(step_bytes).c_str(), tg_gbps);
        if (peak)
            std::printf(", %.0f%% of the %.2f GB/s measured with %d threads\n",
                        tg_gbps / peak->gbps * 100, peak->gbps, peak->threads);
        else
            std::printf(" (run `graft bench --memory` to compare with the machine's bandwidth)\n");
    }
    if (o.profile) {
        print_profile("decode", "token", tg_profile);
        print_profile("prefill", "prompt", pp_profile);
        std::printf("\n(profiling times every kernel call; the t/s above include that cost)\n");
    }
}

// ------------------------------------------------------------------ one op, two kernels

// `graft bench --kernel linear --impl A,B MODEL`: the op's distinct weight shapes in the
// model, each run through every named implementation on the same weights (the model's own
// bytes) and the same random activations, for one token (decode) and -p tokens (prefill).
// The first implementation is the baseline: the others' results are compared with its
// output and their speed given as a ratio to it.
const host::KernelRecord &find_impl(const host::Registry &registry, const std::string &op,
                                    const std::string &name) {
    std::string known;
    for (const host::PluginRecord &p : registry.plugins()) {
        if (p.status != host::PluginStatus::Loaded)
            continue;
        for (const host::KernelRecord &k : p.kernels) {
            if (k.op != op)
                continue;
            if (name == k.impl || name == k.full_name())
                return k;
            known += (known.empty() ? "" : ", ") + k.full_name();
        }
    }
    throw Error("no loaded kernel \"" + name + "\" for op " + op +
                "; known: " + (known.empty() ? "none" : known));
}

// A CPU kernel instance over one weight tensor of the file.
class KernelUnderTest {
  public:
    KernelUnderTest(const host::Registry &registry, const host::KernelRecord &k,
                    const gguf::File &file, const gguf::TensorInfo &info)
        : api_(k.api) {
        const host::PluginRecord *plugin = registry.plugin(k.plugin);
        if (!plugin || !api_ || !k.runs_on(GRAFT_DEVICE_CPU))
            throw Error(k.full_name() + " is not a loaded CPU kernel: --kernel times CPU kernels");
        for (const host::DeviceRecord &d : plugin->devices)
            if (d.kind == GRAFT_DEVICE_CPU)
                device_ = d.index;
        auto fail = [&](const char *what) {
            return Error(k.full_name() + ": " + what + " " + info.name +
                         " failed: " + (plugin->api ? plugin->api->last_error() : ""));
        };
        graft_tensor src{};
        src.data = const_cast<std::byte *>(file.tensor_data(info).data()); // read-only
        src.dtype = info.dtype;
        src.n_dims = info.n_dims;
        for (int d = 0; d < GRAFT_MAX_DIMS; ++d)
            src.ne[d] = info.ne[static_cast<size_t>(d)];
        sdk::set_contiguous_strides(src);
        src.device = device_;
        graft_tensor w = src;
        if (api_->prepare_weights) {
            if (api_->prepare_weights(device_, 0, &src, &prepared_) != GRAFT_OK)
                throw fail("preparing");
            has_prepared_ = true;
            w = prepared_.tensor;
        }
        graft_kernel_config config = sdk::versioned<graft_kernel_config>();
        config.device = device_;
        config.weights = &w;
        config.n_weights = 1;
        if (api_->create(&config, &state_) != GRAFT_OK) {
            const Error error = fail("creating it over");
            if (has_prepared_ && api_->release_weights)
                api_->release_weights(device_, &prepared_);
            throw error;
        }
        plugin_ = plugin->api;
    }
    ~KernelUnderTest() {
        if (state_)
            api_->destroy(state_);
        if (has_prepared_ && api_->release_weights)
            api_->release_weights(device_, &prepared_);
    }
    KernelUnderTest(const KernelUnderTest &) = delete;
    KernelUnderTest &operator=(const KernelUnderTest &) = delete;

    // y (n_out, T) = op(x (n_in, T)); seconds taken.
    double run(std::vector<float> &x, int64_t n_in, std::vector<float> &y, int64_t n_out,
               int64_t tokens) {
        graft_tensor in{}, out{};
        in.data = x.data();
        in.dtype = out.dtype = GRAFT_DTYPE_F32;
        in.n_dims = out.n_dims = 2;
        in.ne[0] = n_in;
        out.ne[0] = n_out;
        in.ne[1] = out.ne[1] = tokens;
        in.ne[2] = in.ne[3] = out.ne[2] = out.ne[3] = 1;
        out.data = y.data();
        sdk::set_contiguous_strides(in);
        sdk::set_contiguous_strides(out);
        in.device = out.device = device_;
        graft_kernel_call call = sdk::versioned<graft_kernel_call>();
        call.inputs = &in;
        call.n_inputs = 1;
        call.outputs = &out;
        call.n_outputs = 1;
        const auto start = Clock::now();
        if (api_->run(state_, &call) != GRAFT_OK)
            throw Error(std::string(api_->impl) + " failed: " + plugin_->last_error());
        return std::chrono::duration<double>(Clock::now() - start).count();
    }

  private:
    const graft_kernel *api_;
    const graft_plugin *plugin_ = nullptr;
    uint32_t device_ = 0;
    graft_prepared_weight prepared_{};
    bool has_prepared_ = false;
    void *state_ = nullptr;
};

void kernel_command(const GlobalOptions &global, const BenchOptions &o) {
    if (o.kernel_op != "linear" && o.kernel_op != "router")
        throw Error("--kernel times ops of one weight matrix and one F32 input (linear, "
                    "router), not " +
                    o.kernel_op);
    std::vector<std::string> names;
    for (size_t start = 0; start <= o.impls.size();) {
        const size_t comma = std::min(o.impls.find(',', start), o.impls.size());
        if (comma > start)
            names.push_back(o.impls.substr(start, comma - start));
        start = comma + 1;
    }
    if (names.empty())
        throw Error("--kernel needs --impl A[,B...]: the implementations to compare");
    if (o.model.empty())
        throw Error("--kernel needs a model: its weights and shapes are the ones timed");
    const auto file = gguf::File::open(o.model);
    const models::Model tree = models::build_model(*file);
    // Distinct (dtype, shape) of the op's weight matrix, with how often the model has it.
    std::map<std::tuple<int, int64_t, int64_t>, std::pair<const gguf::TensorInfo *, int>> shapes;
    tree.root->visit([&](const models::Module &m) {
        if (m.op != o.kernel_op || m.weights.empty())
            return;
        const gguf::TensorInfo *t = m.weights[0].tensor;
        auto &slot = shapes[{static_cast<int>(t->dtype), t->ne[0], t->ne[1]}];
        if (!slot.first)
            slot.first = t;
        ++slot.second;
    });
    if (shapes.empty())
        throw Error("the model has no module running " + o.kernel_op);
    const int threads = o.threads > 0 ? o.threads : physical_cores();
    auto registry =
        std::make_unique<host::Registry>(host::Registry::discover(plugin_search_path(global)));
    std::vector<const host::KernelRecord *> impls;
    for (const std::string &name : names) {
        impls.push_back(&find_impl(*registry, o.kernel_op, name));
        const host::PluginRecord *p = registry->plugin(impls.back()->plugin);
        graft_param param = sdk::make_int_param("threads", threads);
        if (p && p->api && p->api->configure && p->api->configure(&param, 1) != GRAFT_OK)
            throw Error("plugin " + p->name + " refused threads=" + std::to_string(threads));
    }
    std::vector<int64_t> token_counts;
    if (o.n_gen > 0)
        token_counts.push_back(1);
    if (o.n_prompt > 1)
        token_counts.push_back(o.n_prompt);
    json::array rows;
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    if (!o.json)
        std::printf("%s on %d threads, median of %d runs; ratio: the first implementation's time "
                    "over this one's; diff: max |y - y_first| / max |y_first|\n\n| %-8s | %-15s "
                    "| %5s | %6s | %-28s | %10s | %8s | %6s | %9s |\n|%s|\n",
                    o.kernel_op.c_str(), threads, o.reps, "dtype", "shape", "count", "tokens",
                    "kernel", "ms", "GB/s", "ratio", "diff",
                    "----------|-----------------|-------|--------|------------------------------|"
                    "------------|----------|--------|-----------");
    for (const auto &[key, entry] : shapes) {
        const auto &[info, count] = entry;
        const int64_t n_in = info->ne[0], n_out = info->ne[1];
        std::vector<std::unique_ptr<KernelUnderTest>> kernels;
        for (const host::KernelRecord *k : impls)
            kernels.push_back(std::make_unique<KernelUnderTest>(*registry, *k, *file, *info));
        for (int64_t tokens : token_counts) {
            std::vector<float> x(static_cast<size_t>(n_in * tokens));
            for (float &v : x)
                v = normal(rng);
            std::vector<float> first, y(static_cast<size_t>(n_out * tokens));
            double first_ms = 0;
            for (size_t i = 0; i < kernels.size(); ++i) {
                kernels[i]->run(x, n_in, y, n_out, tokens); // warm-up, and the result
                std::vector<double> ms;
                for (int r = 0; r < o.reps; ++r)
                    ms.push_back(kernels[i]->run(x, n_in, y, n_out, tokens) * 1e3);
                const double med = median(ms);
                double diff = 0, scale = 0;
                if (i == 0) {
                    first = y;
                    first_ms = med;
                } else {
                    for (size_t j = 0; j < y.size(); ++j) {
                        diff = std::max(diff, static_cast<double>(std::fabs(y[j] - first[j])));
                        scale = std::max(scale, static_cast<double>(std::fabs(first[j])));
                    }
                    diff = scale > 0 ? diff / scale : diff;
                }
                const double gbps = static_cast<double>(info->n_bytes) / (med * 1e-3) / 1e9;
                const std::string shape = std::to_string(n_in) + "x" + std::to_string(n_out);
                rows.push_back(
                    json::object{{"dtype", sdk::dtype_name(info->dtype)},
                                 {"n_in", n_in},
                                 {"n_out", n_out},
                                 {"count", count},
                                 {"tokens", tokens},
                                 {"kernel", impls[i]->full_name()},
                                 {"ms", med},
                                 {"ms_runs", to_array(ms)},
                                 {"gbps", gbps},
                                 {"ratio", first_ms / med},
                                 {"diff", i == 0 ? json::value(nullptr) : json::value(diff)}});
                if (!o.json)
                    std::printf(
                        "| %-8s | %-15s | %5d | %6lld | %-28s | %10.3f | %8.2f | %6.2f | "
                        "%9s |\n",
                        sdk::dtype_name(info->dtype), shape.c_str(), count,
                        static_cast<long long>(tokens), impls[i]->full_name().c_str(), med, gbps,
                        first_ms / med,
                        i == 0
                            ? "-"
                            : (std::ostringstream() << std::setprecision(2) << diff).str().c_str());
            }
        }
    }
    if (o.json)
        std::cout << json::serialize(json::object{{"op", o.kernel_op},
                                                  {"threads", threads},
                                                  {"reps", o.reps},
                                                  {"model", o.model},
                                                  {"rows", std::move(rows)}})
                  << "\n";
}

} // namespace

void add_bench_command(CLI::App &app, GlobalOptions &global) {
    auto o = std::make_shared<BenchOptions>();
    CLI::App *cmd = app.add_subcommand(
        "bench", "Measure prefill and decode speed (llama-bench style), decode's memory "
                 "bandwidth, and with --memory the machine's read bandwidth");
    cmd->add_option("model", o->model, "GGUF model file (default: the built-in demo model)")
        ->check(CLI::ExistingFile);
    cmd->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens, prefilled in one pass (0: skip)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 16));
    cmd->add_option("-n,--n-gen", o->n_gen, "Tokens decoded one at a time (0: skip)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1 << 16));
    cmd->add_option("-t,--threads", o->threads, "CPU threads (default: physical cores)")
        ->check(CLI::Range(1, 1024));
    auto *reps =
        cmd->add_option("-r,--repetitions", o->reps, "Repetitions (default 5; 10 with --memory)")
            ->check(CLI::Range(1, 1000));
    cmd->add_option("--warmup", o->warmup, "Unmeasured runs first")
        ->capture_default_str()
        ->check(CLI::Range(0, 100));
    cmd->add_option("--rules", o->rules, "Rules file (default: the model family's CPU rules)")
        ->type_name("FILE")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--json", o->json, "Print one JSON object instead of a table");
    cmd->add_flag("--profile", o->profile,
                  "Time every kernel call and print a per-op table for decode and prefill");
    cmd->add_flag("--memory", o->memory,
                  "Measure the machine's memory read bandwidth instead (cached in "
                  "~/.cache/graft/bandwidth.json for the '% of measured' figure)");
    cmd->add_option("--memory-size", o->memory_mib, "Buffer for --memory, in MiB")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    cmd->add_option("--kernel", o->kernel_op,
                    "Time one op (linear, router) of the model's shapes through the --impl "
                    "kernels, for one token (unless -n 0) and -p tokens")
        ->type_name("OP");
    cmd->add_option("--impl", o->impls,
                    "With --kernel: implementations to compare, first is the baseline "
                    "(impl or plugin/impl, e.g. linear_ref,linear)")
        ->type_name("A,B");
    cmd->callback([&global, o, reps] {
        if (o->memory) {
            if (!o->model.empty())
                throw Error("--memory measures the machine, not a model: drop the model or "
                            "--memory");
            memory_command(*o, reps->count() ? o->reps : 10);
        } else if (!o->kernel_op.empty()) {
            kernel_command(global, *o);
        } else {
            model_command(global, *o);
        }
    });
}

} // namespace graft::cli
