// graft ab: the same prompts through two plans of one model. Where do the kernels of plan B
// diverge from plan A's (per module, on a traced forward pass), how far apart are the
// logits over the generated positions, and how fast is each (interleaved runs).
#include "commands.h"
#include "loading.h"

#include <graft/engine/generate.h>
#include <graft/engine/open.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>

namespace graft::cli {

namespace {

namespace json = boost::json;

struct AbOptions {
    ModelOptions model; // --threads, --ctx, --kv-type, --no-prefetch (--rules is unused)
    std::string rules_a, rules_b;
    std::vector<std::string> prompts;
    int32_t tokens = 32;
    int runs = 3;
    bool json = false;
    bool all_modules = false;
};

const std::vector<std::string> kDefaultPrompts = {
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):",
};

// Every kernel output of one traced forward pass, by module: the values of each call, one
// after the other, as float.
struct Trace {
    std::map<std::string, std::vector<float>> outputs;
    std::map<std::string, int> calls;
    std::vector<std::string> order; // modules in the order they first ran
};

float element(const std::byte *p, graft_dtype dtype) {
    uint16_t h;
    switch (dtype) {
    case GRAFT_DTYPE_F32: {
        float f;
        std::memcpy(&f, p, sizeof f);
        return f;
    }
    case GRAFT_DTYPE_F16:
        std::memcpy(&h, p, sizeof h);
        return sdk::fp16_to_fp32(h);
    case GRAFT_DTYPE_BF16:
        std::memcpy(&h, p, sizeof h);
        return sdk::bf16_to_fp32(h);
    default:
        return 0;
    }
}

// Appends a tensor's elements (any strides, host or device memory) to `out`; tensors of
// other dtypes than F32, F16 and BF16 (token ids, quantized) are left out.
void append_tensor(const engine::KernelInstance &k, const graft_tensor &t,
                   std::vector<float> &out) {
    if (t.dtype != GRAFT_DTYPE_F32 && t.dtype != GRAFT_DTYPE_F16 && t.dtype != GRAFT_DTYPE_BF16)
        return;
    const uint64_t elt = sdk::dtype_info(t.dtype).block_bytes;
    uint64_t extent = elt;
    for (uint32_t d = 0; d < GRAFT_MAX_DIMS; ++d)
        if (t.ne[d] > 0)
            extent += static_cast<uint64_t>(t.ne[d] - 1) * static_cast<uint64_t>(t.nb[d]);
    const std::byte *base = static_cast<const std::byte *>(t.data);
    std::vector<std::byte> staging;
    if (!k.device().host_memory()) {
        staging.resize(extent);
        k.device().copy_to_host(staging.data(), t.data, extent);
        base = staging.data();
    }
    for (int64_t i3 = 0; i3 < t.ne[3]; ++i3)
        for (int64_t i2 = 0; i2 < t.ne[2]; ++i2)
            for (int64_t i1 = 0; i1 < t.ne[1]; ++i1) {
                const std::byte *row = base + i3 * t.nb[3] + i2 * t.nb[2] + i1 * t.nb[1];
                for (int64_t i0 = 0; i0 < t.ne[0]; ++i0)
                    out.push_back(element(row + i0 * t.nb[0], t.dtype));
            }
}

// One side of the comparison: the model opened with its rules.
struct Side {
    std::string label; // "A", "B"
    std::string rules;
    std::unique_ptr<engine::OpenedModel> opened;
    engine::Model &model() { return *opened->model; }
    // The kernel that runs a module in the prefill phase ("" for containers).
    std::string kernel(const std::string &module) const {
        const rules::Placement *p = opened->plan.find(module);
        if (!p)
            return "";
        const rules::Binding &b = p->prefill ? *p->prefill : p->decode;
        return b.resolved() ? b.kernel + (b.device == "cpu" ? "" : "@" + b.device) : "";
    }
};

// Runs `tokens` through the model with every kernel output recorded, and returns the
// logits of every position.
std::vector<float> traced_pass(Side &side, std::span<const int32_t> tokens, Trace &trace) {
    side.model().set_observer(
        [&trace](const engine::KernelInstance &k, std::span<const graft_tensor> outs) {
            const std::string &name = k.module_name();
            auto [it, fresh] = trace.outputs.try_emplace(name);
            if (fresh)
                trace.order.push_back(name);
            ++trace.calls[name];
            for (const graft_tensor &t : outs)
                append_tensor(k, t, it->second);
        });
    std::vector<float> logits;
    try {
        logits = engine::prefill(side.model(), 0, 0, tokens, true);
    } catch (...) {
        side.model().set_observer({});
        throw;
    }
    side.model().set_observer({});
    return logits;
}

struct ModuleDivergence {
    std::string name, kernel_a, kernel_b;
    int calls = 0;
    bool comparable = true;          // the same number of values on both sides
    double max_abs = 0, rel_err = 0; // worst over the prompts
};

struct Divergence {
    double max_abs = 0, rel_err = 0;
};

// max |a - b| and ||a - b|| / ||a|| (0 when both are zero).
Divergence compare(std::span<const float> a, std::span<const float> b) {
    Divergence d;
    double diff2 = 0, ref2 = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = a[i], y = b[i];
        d.max_abs = std::max(d.max_abs, std::abs(x - y));
        diff2 += (x - y) * (x - y);
        ref2 += x * x;
    }
    d.rel_err = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? INFINITY : 0);
    if (std::isnan(diff2))
        d.max_abs = d.rel_err = NAN;
    return d;
}

// Softmax of one row of logits, in double.
std::vector<double> softmax(std::span<const float> row) {
    std::vector<double> p(row.size());
    const double top = *std::max_element(row.begin(), row.end());
    double sum = 0;
    for (size_t i = 0; i < row.size(); ++i)
        sum += p[i] = std::exp(static_cast<double>(row[i]) - top);
    for (double &v : p)
        v /= sum;
    return p;
}

struct LogitStats {
    int64_t positions = 0, top1_agree = 0;
    double rel_err_sum = 0, rel_err_max = 0, kl_sum = 0, kl_max = 0;
    void add(std::span<const float> a, std::span<const float> b) {
        ++positions;
        const Divergence d = compare(a, b);
        rel_err_sum += d.rel_err;
        rel_err_max = std::max(rel_err_max, d.rel_err);
        top1_agree += std::max_element(a.begin(), a.end()) - a.begin() ==
                      std::max_element(b.begin(), b.end()) - b.begin();
        const std::vector<double> p = softmax(a), q = softmax(b);
        double kl = 0;
        for (size_t i = 0; i < p.size(); ++i)
            if (p[i] > 0)
                kl += p[i] * (std::log(p[i]) - std::log(std::max(q[i], 1e-300)));
        kl = std::max(kl, 0.0);
        kl_sum += kl;
        kl_max = std::max(kl_max, kl);
    }
};

struct Speed {
    std::vector<double> prefill_tps, decode_tps; // one per run
};

double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

engine::GenerateParams greedy(int32_t tokens) {
    engine::GenerateParams p;
    p.sampling.temperature = 0;
    p.max_tokens = tokens;
    p.ignore_eos = true;
    return p;
}

// Every prompt through one side; the tok/s of the whole run.
void timed_run(Side &side, const std::vector<std::vector<int32_t>> &prompts, int32_t tokens,
               Speed &speed) {
    int64_t n_prompt = 0, n_decoded = 0;
    double prefill_s = 0, decode_s = 0;
    for (const auto &prompt : prompts) {
        const engine::GenerateResult r = engine::generate(side.model(), *side.opened->tokenizer,
                                                          prompt, greedy(tokens), nullptr);
        n_prompt += r.n_prompt;
        n_decoded += r.n_decoded;
        prefill_s += r.prefill_seconds;
        decode_s += r.decode_seconds;
    }
    speed.prefill_tps.push_back(prefill_s > 0 ? static_cast<double>(n_prompt) / prefill_s : 0);
    speed.decode_tps.push_back(decode_s > 0 ? static_cast<double>(n_decoded) / decode_s : 0);
}

struct Report {
    std::string model;
    std::vector<ModuleDivergence> modules;
    std::vector<std::pair<std::string, int>> kernel_changes; // "a -> b", modules
    LogitStats logits;
    Speed a, b;
    size_t n_prompts = 0;
};

std::string sci(double v) {
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return "inf";
    if (v == 0)
        return "0";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2e", v);
    return buf;
}

std::string fixed(double v, int digits = 1) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

json::value number_or_null(double v) {
    return std::isfinite(v) ? json::value(v) : json::value(nullptr);
}

json::object speed_json(const Speed &s) {
    json::array pre, dec;
    for (double v : s.prefill_tps)
        pre.push_back(v);
    for (double v : s.decode_tps)
        dec.push_back(v);
    return {{"prefill_tps", median(s.prefill_tps)},
            {"decode_tps", median(s.decode_tps)},
            {"prefill_runs", std::move(pre)},
            {"decode_runs", std::move(dec)}};
}

double ratio(double b, double a) {
    return a > 0 ? b / a : 0;
}

std::string report_json(const Report &r, const AbOptions &o) {
    json::array modules;
    for (const ModuleDivergence &m : r.modules)
        modules.push_back(json::object{{"name", m.name},
                                       {"kernel_a", m.kernel_a},
                                       {"kernel_b", m.kernel_b},
                                       {"calls", m.calls},
                                       {"comparable", m.comparable},
                                       {"max_abs", number_or_null(m.max_abs)},
                                       {"rel_err", number_or_null(m.rel_err)}});
    json::array changes;
    for (const auto &[what, n] : r.kernel_changes)
        changes.push_back(json::object{{"change", what}, {"modules", n}});
    const LogitStats &l = r.logits;
    const double n = static_cast<double>(std::max<int64_t>(l.positions, 1));
    json::object doc{
        {"model", r.model},
        {"a", json::object{{"rules", o.rules_a}}},
        {"b", json::object{{"rules", o.rules_b}}},
        {"prompts", r.n_prompts},
        {"tokens", o.tokens},
        {"kernel_changes", std::move(changes)},
        {"modules", std::move(modules)},
        {"logits", json::object{{"positions", l.positions},
                                {"rel_err_mean", number_or_null(l.rel_err_sum / n)},
                                {"rel_err_max", number_or_null(l.rel_err_max)},
                                {"top1_agreement", static_cast<double>(l.top1_agree) / n},
                                {"top1_agree", l.top1_agree},
                                {"kl_mean", number_or_null(l.kl_sum / n)},
                                {"kl_max", number_or_null(l.kl_max)}}},
        {"speed",
         json::object{
             {"runs", o.runs},
             {"a", speed_json(r.a)},
             {"b", speed_json(r.b)},
             {"ratio",
              json::object{{"prefill", ratio(median(r.b.prefill_tps), median(r.a.prefill_tps))},
                           {"decode", ratio(median(r.b.decode_tps), median(r.a.decode_tps))}}}}}};
    return json::serialize(doc) + "\n";
}

std::string pad(std::string s, size_t width, bool right = false) {
    if (s.size() >= width)
        return s;
    const std::string fill(width - s.size(), ' ');
    return right ? fill + s : s + fill;
}

std::string report_text(const Report &r, const AbOptions &o) {
    std::string out = "model  " + r.model + "\nA      " + o.rules_a + "\nB      " + o.rules_b +
                      "\n       " + std::to_string(r.n_prompts) + " prompts, " +
                      std::to_string(o.tokens) + " generated tokens each\n\n";
    if (r.kernel_changes.empty()) {
        out += "kernels: the two plans bind every module alike\n\n";
    } else {
        out += "kernels that differ (A -> B):\n";
        for (const auto &[what, n] : r.kernel_changes)
            out +=
                "  " + what + "  (" + std::to_string(n) + (n == 1 ? " module)\n" : " modules)\n");
        out += "\n";
    }
    // The modules: all with --all, else the largest divergences, kept in forward order.
    std::vector<size_t> shown(r.modules.size());
    std::iota(shown.begin(), shown.end(), 0);
    constexpr size_t kShown = 12;
    if (!o.all_modules && shown.size() > kShown) {
        std::stable_sort(shown.begin(), shown.end(), [&](size_t x, size_t y) {
            const double ex = std::isnan(r.modules[x].rel_err) ? INFINITY : r.modules[x].rel_err;
            const double ey = std::isnan(r.modules[y].rel_err) ? INFINITY : r.modules[y].rel_err;
            return ex > ey;
        });
        shown.resize(kShown);
        std::sort(shown.begin(), shown.end());
    }
    size_t w_name = 6, w_kernel = 6;
    for (size_t i : shown) {
        w_name = std::max(w_name, r.modules[i].name.size());
        const ModuleDivergence &m = r.modules[i];
        w_kernel = std::max(
            w_kernel,
            (m.kernel_a == m.kernel_b ? m.kernel_a : m.kernel_a + " -> " + m.kernel_b).size());
    }
    out += "module divergence (traced forward pass over prompt and generated tokens; worst "
           "over the prompts):\n";
    out += "  " + pad("module", w_name) + "  " + pad("kernel", w_kernel) + "  " +
           pad("max abs", 9, true) + "  " + pad("rel err", 9, true) + "\n";
    for (size_t i : shown) {
        const ModuleDivergence &m = r.modules[i];
        const std::string kernel =
            m.kernel_a == m.kernel_b ? m.kernel_a : m.kernel_a + " -> " + m.kernel_b;
        out += "  " + pad(m.name, w_name) + "  " + pad(kernel, w_kernel) + "  " +
               pad(m.comparable ? sci(m.max_abs) : "-", 9, true) + "  " +
               pad(m.comparable ? sci(m.rel_err) : "differs", 9, true) + "\n";
    }
    if (shown.size() < r.modules.size())
        out += "  (" + std::to_string(r.modules.size() - shown.size()) +
               " modules with smaller divergence not shown; --all lists them)\n";

    const LogitStats &l = r.logits;
    const double n = static_cast<double>(std::max<int64_t>(l.positions, 1));
    out += "\nlogits over the " + std::to_string(l.positions) +
           " generated positions (A's greedy tokens fed to both):\n";
    out += "  final-logit rel err  mean " + sci(l.rel_err_sum / n) + "  max " + sci(l.rel_err_max) +
           "\n";
    out += "  top-1 agreement      " + std::to_string(l.top1_agree) + "/" +
           std::to_string(l.positions) + " (" +
           fixed(100.0 * static_cast<double>(l.top1_agree) / n) + "%)\n";
    out += "  KL(A || B)           mean " + sci(l.kl_sum / n) + "  max " + sci(l.kl_max) + "\n";

    out += "\nspeed (median of " + std::to_string(o.runs) + " interleaved runs, tok/s):\n";
    const double pa = median(r.a.prefill_tps), pb = median(r.b.prefill_tps);
    const double da = median(r.a.decode_tps), db = median(r.b.decode_tps);
    out += "           " + pad("A", 10, true) + "  " + pad("B", 10, true) + "    B/A\n";
    out += "  prefill  " + pad(fixed(pa), 10, true) + "  " + pad(fixed(pb), 10, true) + "  " +
           pad(fixed(ratio(pb, pa), 2), 5, true) + "x\n";
    out += "  decode   " + pad(fixed(da), 10, true) + "  " + pad(fixed(db), 10, true) + "  " +
           pad(fixed(ratio(db, da), 2), 5, true) + "x\n";
    return out;
}

void ab_command(const GlobalOptions &global, AbOptions &o) {
    if (o.tokens < 1)
        throw Error("--tokens must be at least 1");
    if (o.prompts.empty())
        o.prompts = kDefaultPrompts;
    auto registry =
        std::make_unique<host::Registry>(host::Registry::discover(plugin_search_path(global)));
    engine::OpenOptions open;
    open.model = o.model.model.empty() ? demo_model_path() : std::filesystem::path(o.model.model);
    if (o.model.model.empty() && !std::filesystem::exists(open.model))
        throw Error("no model given and the demo model is missing (" + open.model.string() +
                    "); name a GGUF file");
    open.load.threads = o.model.threads;
    open.load.n_ctx = o.model.ctx;
    open.load.kv_dtype = o.model.kv_type == "f32" ? GRAFT_DTYPE_F32 : GRAFT_DTYPE_F16;
    open.load.prefetch = !o.model.no_prefetch;
    Side a{"A", o.rules_a, nullptr}, b{"B", o.rules_b, nullptr};
    for (Side *side : {&a, &b}) {
        open.rules = side->rules;
        try {
            side->opened = engine::open_model(open, *registry);
        } catch (const Error &e) {
            throw Error("plan " + side->label + " (" + side->rules + "): " + e.what());
        }
    }
    Report report;
    report.model = open.model.filename().string();
    report.n_prompts = o.prompts.size();

    // Which kernels the plans swap, by pair.
    std::map<std::string, int> changes;
    for (const rules::Placement &pa : a.opened->plan.placements) {
        if (pa.module->op.empty())
            continue;
        const std::string ka = a.kernel(pa.module->name), kb = b.kernel(pa.module->name);
        if (ka != kb)
            ++changes[ka + " -> " + kb];
    }
    report.kernel_changes.assign(changes.begin(), changes.end());

    const tokenizer::Tokenizer &tok = *a.opened->tokenizer;
    std::vector<std::vector<int32_t>> prompts;
    for (const std::string &text : o.prompts) {
        std::vector<int32_t> ids = tok.encode(text, true, true);
        if (ids.empty())
            throw Error("the prompt \"" + text + "\" encodes to no tokens");
        if (static_cast<int64_t>(ids.size()) + o.tokens > a.model().n_ctx())
            throw Error("a prompt of " + std::to_string(ids.size()) + " tokens and " +
                        std::to_string(o.tokens) + " generated do not fit the context of " +
                        std::to_string(a.model().n_ctx()) + " (use --ctx)");
        prompts.push_back(std::move(ids));
    }

    std::map<std::string, size_t> module_row;
    const auto n_vocab = static_cast<size_t>(a.model().n_vocab());
    for (const auto &prompt : prompts) {
        // A's greedy continuation, then both sides over prompt + continuation.
        const engine::GenerateResult gen =
            engine::generate(a.model(), tok, prompt, greedy(o.tokens), nullptr);
        std::vector<int32_t> seq = prompt;
        seq.insert(seq.end(), gen.tokens.begin(), gen.tokens.end());
        if (!gen.tokens.empty())
            seq.pop_back(); // the last token's own logits are not needed
        Trace ta, tb;
        const std::vector<float> la = traced_pass(a, seq, ta);
        const std::vector<float> lb = traced_pass(b, seq, tb);
        for (size_t pos = prompt.size() - 1; pos < seq.size(); ++pos)
            report.logits.add({la.data() + pos * n_vocab, n_vocab},
                              {lb.data() + pos * n_vocab, n_vocab});
        for (const std::string &name : ta.order) {
            auto [it, fresh] = module_row.try_emplace(name, report.modules.size());
            if (fresh) {
                ModuleDivergence m;
                m.name = name;
                m.kernel_a = a.kernel(name);
                m.kernel_b = b.kernel(name);
                m.calls = ta.calls[name];
                report.modules.push_back(m);
            }
            ModuleDivergence &m = report.modules[it->second];
            const auto other = tb.outputs.find(name);
            if (other == tb.outputs.end() || other->second.size() != ta.outputs[name].size()) {
                m.comparable = false;
                continue;
            }
            const Divergence d = compare(ta.outputs[name], other->second);
            m.max_abs = std::isnan(d.max_abs) || std::isnan(m.max_abs)
                            ? NAN
                            : std::max(m.max_abs, d.max_abs);
            m.rel_err = std::isnan(d.rel_err) || std::isnan(m.rel_err)
                            ? NAN
                            : std::max(m.rel_err, d.rel_err);
        }
    }

    // Speed: one warm-up each, then runs alternating which side goes first, so that drift
    // (clocks, caches, other load) falls on both alike.
    Speed warm;
    timed_run(a, {prompts.front()}, o.tokens, warm);
    timed_run(b, {prompts.front()}, o.tokens, warm);
    for (int run = 0; run < o.runs; ++run) {
        if (run % 2 == 0) {
            timed_run(a, prompts, o.tokens, report.a);
            timed_run(b, prompts, o.tokens, report.b);
        } else {
            timed_run(b, prompts, o.tokens, report.b);
            timed_run(a, prompts, o.tokens, report.a);
        }
    }
    const std::string text = o.json ? report_json(report, o) : report_text(report, o);
    std::fwrite(text.data(), 1, text.size(), stdout);
}

} // namespace

void add_ab_command(CLI::App &app, GlobalOptions &global) {
    auto o = std::make_shared<AbOptions>();
    CLI::App *cmd = app.add_subcommand(
        "ab", "Compare two plans of one model: per-module divergence, logits (relative error, "
              "top-1 agreement, KL) and tok/s");
    cmd->add_option("model", o->model.model, "GGUF model file (default: the built-in demo model)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--a", o->rules_a, "Rules file of plan A (the reference)")
        ->required()
        ->type_name("RULES")
        ->check(CLI::ExistingFile);
    cmd->add_option("--b", o->rules_b, "Rules file of plan B (compared with A)")
        ->required()
        ->type_name("RULES")
        ->check(CLI::ExistingFile);
    cmd->add_option("-p,--prompt", o->prompts, "Prompt (repeatable; default: three built-in ones)");
    cmd->add_option("--tokens", o->tokens, "Tokens generated per prompt")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--runs", o->runs, "Timed runs of each plan, interleaved")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    cmd->add_flag("--json", o->json, "One JSON document instead of the tables (for CI)");
    cmd->add_flag("--all", o->all_modules, "List every module, not only the most divergent");
    cmd->add_option("-t,--threads", o->model.threads, "CPU threads (default: physical cores)")
        ->check(CLI::Range(1, 1024));
    cmd->add_option("-c,--ctx", o->model.ctx,
                    "Context length in tokens (default: min(trained, 4096))")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
    cmd->add_option("--kv-type", o->model.kv_type, "KV cache element type")
        ->check(CLI::IsMember({"f16", "f32"}))
        ->capture_default_str();
    cmd->add_flag("--no-prefetch", o->model.no_prefetch, "Do not read the weights at load");
    cmd->callback([&global, o] { ab_command(global, *o); });
}

} // namespace graft::cli
