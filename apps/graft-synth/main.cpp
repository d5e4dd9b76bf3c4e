// graft-synth: write a random-weight GGUF model of any supported family.
//
//   graft-synth --family qwen3 --vocab ggml-vocab-qwen2.gguf -o tiny-qwen3.gguf
//   graft-synth --preset llama-1b --sparse -o llama-1b-sparse.gguf
#include <graft/models/module.h>
#include <graft/models/synth.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <CLI/CLI.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <iostream>

namespace {

std::string human(uint64_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

graft_dtype parse_dtype(const std::string &s) {
    if (s == "f32" || s == "F32")
        return GRAFT_DTYPE_F32;
    if (s == "f16" || s == "F16")
        return GRAFT_DTYPE_F16;
    if (s == "bf16" || s == "BF16")
        return GRAFT_DTYPE_BF16;
    throw graft::Error("--dtype is f32, f16 or bf16, not '" + s + "'");
}

// Bytes the file occupies on disk (less than its size when it has holes).
uint64_t allocated_bytes(const std::filesystem::path &path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return 0;
    return static_cast<uint64_t>(st.st_blocks) * 512u;
}

} // namespace

int main(int argc, char **argv) {
    std::string families;
    for (const auto &f : graft::models::supported_families())
        families += (families.empty() ? "" : ", ") + f;
    CLI::App app{"graft-synth: write a random-weight GGUF model of a family graft supports, for "
                 "tests and benchmarks.\nThe file carries the metadata llama.cpp needs to load it; "
                 "weights are seeded (same options, same bytes) "
                 "and scaled so activations stay sane (matrices ~ N(0, 0.02), norms ~ 1).\n\n"
                 "Families: " +
                 families + "\nPresets (--preset):\n" + graft::models::describe_synth_presets() +
                 "\nShape flags override the preset's values."};
    std::string preset = "tiny", family, out, vocab, dtype = "f16", name;
    uint64_t seed = 1;
    bool sparse = false;
    app.add_option("-o,--out", out, "Output GGUF file")->required()->type_name("FILE");
    app.add_option("--preset", preset, "Shape preset (default: tiny)")->type_name("NAME");
    app.add_option("--family", family, "Model family (default: the preset's; llama for tiny)")
        ->type_name("NAME");
    app.add_option("--vocab", vocab,
                   "GGUF to copy the tokenizer from (tokenizer.*, chat template); its token count "
                   "is n_vocab. Default: a built-in byte-level BPE vocabulary of --n-vocab tokens")
        ->type_name("FILE");
    app.add_option("--dtype", dtype, "Weights: f32, f16 (default) or bf16; 1-D tensors are F32")
        ->type_name("TYPE");
    app.add_option("--seed", seed, "Random seed (default: 1)");
    app.add_flag("--sparse", sparse,
                 "Write the matrices as holes (zeros): multi-GB files instantly, no disk used");
    app.add_option("--name", name, "general.name");

    graft::models::SynthShape o; // values of the shape flags, applied when given
    struct IntFlag {
        const char *flag, *help;
        int64_t graft::models::SynthShape::*field;
        CLI::Option *opt = nullptr;
    };
    std::vector<IntFlag> ints = {
        {"--n-vocab", "Vocabulary size when no --vocab is given",
         &graft::models::SynthShape::n_vocab},
        {"--n-embd", "Embedding width", &graft::models::SynthShape::n_embd},
        {"--n-layer", "Layers", &graft::models::SynthShape::n_layer},
        {"--n-head", "Attention heads", &graft::models::SynthShape::n_head},
        {"--n-head-kv", "KV heads", &graft::models::SynthShape::n_head_kv},
        {"--head-dim", "Head size (default n_embd / n_head)", &graft::models::SynthShape::head_dim},
        {"--n-ff", "Dense FFN size (mixtral: each expert's)", &graft::models::SynthShape::n_ff},
        {"--n-ctx", "Training context length", &graft::models::SynthShape::n_ctx},
        {"--n-expert", "Routed experts", &graft::models::SynthShape::n_expert},
        {"--n-expert-used", "Experts used per token", &graft::models::SynthShape::n_expert_used},
        {"--n-ff-exp", "FFN size of a routed expert", &graft::models::SynthShape::n_ff_exp},
        {"--n-expert-shared", "deepseek2: shared experts",
         &graft::models::SynthShape::n_expert_shared},
        {"--n-ff-shexp", "qwen2moe: FFN size of the shared expert",
         &graft::models::SynthShape::n_ff_shexp},
        {"--n-dense-lead", "deepseek2: leading dense layers",
         &graft::models::SynthShape::n_dense_lead},
        {"--q-lora-rank", "deepseek2: q compression rank (0: none)",
         &graft::models::SynthShape::q_lora_rank},
        {"--kv-lora-rank", "deepseek2: kv compression rank",
         &graft::models::SynthShape::kv_lora_rank},
    };
    for (IntFlag &f : ints)
        f.opt = app.add_option(f.flag, o.*f.field, f.help);
    bool tied = false, untied = false, bias = false, rope_freqs = false, mla_legacy = false;
    double rope_base = 0.0;
    auto *tied_opt = app.add_flag("--tied", tied, "Tie lm_head to the token embeddings");
    auto *untied_opt = app.add_flag("--untied", untied, "Give lm_head its own output.weight");
    auto *bias_opt = app.add_flag("--bias", bias, "q/k/v biases");
    auto *freqs_opt = app.add_flag("--rope-freqs", rope_freqs, "Llama 3 rope_freqs.weight");
    auto *legacy_opt =
        app.add_flag("--mla-legacy", mla_legacy, "deepseek2: one attn_kv_b, as older files have");
    auto *base_opt = app.add_option("--rope-base", rope_base, "rope.freq_base");
    tied_opt->excludes(untied_opt);

    CLI11_PARSE(app, argc, argv);
    try {
        graft::models::SynthOptions options;
        options.shape = graft::models::synth_preset(preset, family);
        for (const IntFlag &f : ints)
            if (f.opt->count())
                options.shape.*f.field = o.*f.field;
        if (tied_opt->count())
            options.shape.tied = true;
        if (untied_opt->count())
            options.shape.tied = false;
        if (bias_opt->count())
            options.shape.attn_bias = true;
        if (freqs_opt->count())
            options.shape.rope_freqs = true;
        if (legacy_opt->count())
            options.shape.mla_legacy = true;
        if (base_opt->count())
            options.shape.rope_freq_base = rope_base;
        options.vocab = vocab;
        options.dtype = parse_dtype(dtype);
        options.seed = seed;
        options.sparse = sparse;
        options.name = name;
        const graft::models::SynthReport r = graft::models::write_synthetic(options, out);
        const graft::models::SynthShape &s = options.shape;
        std::cout << "wrote " << r.path.string() << "\n"
                  << "  family  " << s.family << " (general.architecture " << r.arch << ")\n"
                  << "  shape   " << s.n_layer << " layers, " << s.n_embd << " wide, " << s.n_head
                  << " heads / ";
        if (s.family == "deepseek2")
            std::cout << "MLA (kv rank " << s.kv_lora_rank << ")";
        else
            std::cout << s.n_head_kv << " KV";
        std::cout << ", vocab " << r.n_vocab;
        if (s.n_expert > 0)
            std::cout << ", " << s.n_expert << " experts (" << s.n_expert_used << " used)";
        std::cout << "\n"
                  << "  weights " << graft::sdk::dtype_name(options.dtype) << ", " << r.n_params
                  << " parameters in " << r.n_tensors << " tensors, seed " << seed << "\n"
                  << "  file    " << human(r.file_size);
        if (sparse)
            std::cout << " (sparse: " << human(allocated_bytes(r.path)) << " on disk)";
        std::cout << "\n";
    } catch (const std::exception &e) {
        std::cerr << "graft-synth: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
