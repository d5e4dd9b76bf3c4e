#include "loading.h"

#include <graft/rules/explain.h>
#include <graft/util/error.h>

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <iostream>

namespace graft::cli {

void add_model_options(CLI::App &cmd, ModelOptions &o) {
    cmd.add_option("--rules", o.rules,
                   "Rules file binding modules to kernels and devices (default: the "
                   "model family's CPU rules)")
        ->type_name("FILE")
        ->check(CLI::ExistingFile);
    cmd.add_option("-t,--threads", o.threads, "CPU threads (default: physical cores)")
        ->check(CLI::Range(1, 1024));
    cmd.add_option("-c,--ctx", o.ctx, "Context length in tokens (default: min(trained, 4096))")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
    cmd.add_option("--kv-type", o.kv_type, "KV cache element type")
        ->check(CLI::IsMember({"f16", "f32"}))
        ->capture_default_str();
    cmd.add_flag("--no-prefetch", o.no_prefetch,
                 "Do not read the weights at load; pages come from the file on first use "
                 "(for models larger than memory)");
}

std::filesystem::path demo_model_path() {
    const auto exe = std::filesystem::read_symlink("/proc/self/exe");
    return exe.parent_path().parent_path() / "share" / "graft" / "models" / "graft-demo.gguf";
}

namespace {

// One line that redraws itself on a terminal; a few plain lines otherwise.
class ProgressBar {
  public:
    ProgressBar() : tty_(isatty(STDERR_FILENO) != 0) {}
    void operator()(uint64_t done, uint64_t total) {
        const int pct = total ? static_cast<int>(done * 100 / total) : 100;
        if (tty_) {
            const int width = 30, fill = pct * width / 100;
            std::fprintf(stderr, "\rloading [%.*s%*s] %3d%% %s / %s", fill,
                         "##############################", width - fill, "", pct,
                         rules::human_bytes(done).c_str(), rules::human_bytes(total).c_str());
            if (done >= total)
                std::fputc('\n', stderr);
        } else if (pct >= next_) {
            std::fprintf(stderr, "loading %3d%% %s / %s\n", pct, rules::human_bytes(done).c_str(),
                         rules::human_bytes(total).c_str());
            next_ = pct / 25 * 25 + 25;
        }
        std::fflush(stderr);
    }

  private:
    bool tty_;
    int next_ = 0;
};

} // namespace

Loaded load_model(const GlobalOptions &global, const ModelOptions &o, int n_slots) {
    Loaded out;
    out.registry =
        std::make_unique<host::Registry>(host::Registry::discover(plugin_search_path(global)));
    engine::OpenOptions open;
    open.model = o.model.empty() ? demo_model_path() : std::filesystem::path(o.model);
    if (o.model.empty() && !std::filesystem::exists(open.model))
        throw Error("no model given and the demo model is missing (" + open.model.string() +
                    "); name a GGUF file");
    open.rules = o.rules;
    open.load.threads = o.threads;
    open.load.n_ctx = o.ctx;
    open.load.n_slots = n_slots;
    open.load.kv_dtype = o.kv_type == "f32" ? GRAFT_DTYPE_F32 : GRAFT_DTYPE_F16;
    open.load.prefetch = !o.no_prefetch;
    ProgressBar bar;
    open.load.progress = [&bar](uint64_t done, uint64_t total) { bar(done, total); };
    out.model = engine::open_model(open, *out.registry);
    return out;
}

std::vector<int32_t> parse_token_list(const std::string &text) {
    std::vector<int32_t> ids;
    const char *p = text.data(), *end = text.data() + text.size();
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            ++p;
        if (p == end)
            break;
        int32_t v = 0;
        auto [next, ec] = std::from_chars(p, end, v);
        if (ec != std::errc() || (next < end && *next != ',' && *next != ' '))
            throw Error("bad token list \"" + text + "\": expected numbers separated by commas");
        ids.push_back(v);
        p = next;
    }
    if (ids.empty())
        throw Error("the token list is empty");
    return ids;
}

} // namespace graft::cli
