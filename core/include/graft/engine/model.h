// A loaded model: every module bound to a kernel instance on its device, KV caches per
// sequence slot, and the family's forward pass.
#pragma once

#include <graft/engine/runtime.h>

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace graft::engine {

struct LoadOptions {
    int threads = 0;       // 0: each plugin's default
    int64_t n_ctx = 0;     // tokens per sequence; 0: min(trained context, 4096)
    int n_slots = 1;       // sequences resident at once (one KV cache each)
    int64_t n_batch = 512; // most tokens in one forward pass
    graft_dtype kv_dtype = GRAFT_DTYPE_F16;
    // Read every weight page at load: an honest progress bar and no page faults in the
    // first tokens. Off for models larger than RAM, which then page from the file.
    bool prefetch = true;
    ProgressFn progress; // (optional)
    // Time every kernel call (Model::profile). Off: one branch per call, nothing else.
    bool profile = false;
};

// One kernel instance's share of the work since the last Model::reset_profile().
struct KernelProfile {
    std::string module, op, kernel, device; // kernel: "plugin/impl"
    bool prefill_only = false; // the module's prefill override; otherwise it serves both phases
    uint64_t weight_bytes = 0; // of the module's weights as loaded
    uint64_t calls = 0;        // 0 unless LoadOptions::profile
    double seconds = 0;
};

enum class Phase { Prefill, Decode };

// One sequence's part of a forward pass.
struct BatchItem {
    int slot = 0;       // its KV cache
    int64_t n_past = 0; // tokens already in that cache; this pass appends after them
    std::span<const int32_t> tokens;
    bool all_logits = false; // logits of every token, not only the last
    bool logits = true;      // false: no logits at all (a prefill chunk mid-prompt)
};

class Forward; // a family's forward pass (model_*.cpp)

class Model {
  public:
    using BindFn = std::function<ModuleBinding(const models::Module &)>;
    // Binds every module that has an op through `bind`, prepares weights, allocates KV
    // caches. Throws graft::Error on anything that keeps the model from running.
    static std::unique_ptr<Model> load(std::shared_ptr<const gguf::File> file,
                                       std::shared_ptr<const models::Model> tree,
                                       const BindFn &bind, const host::Registry &registry,
                                       const LoadOptions &options);
    ~Model();

    const models::HParams &hparams() const { return tree_->hparams; }
    const models::Model &tree() const { return *tree_; }
    const gguf::File &file() const { return *file_; }
    int64_t n_ctx() const { return n_ctx_; }
    int n_slots() const { return n_slots_; }
    int64_t n_batch() const { return n_batch_; }
    int64_t n_vocab() const { return n_vocab_; }
    // Weight bytes per device as loaded.
    const std::map<std::string, uint64_t> &bytes_per_device() const { return device_bytes_; }

    // Runs the items' tokens through the model, appending them to their slots' caches.
    // Returns the logits, item by item: one row (the last token), one row per token with
    // all_logits, none when !logits; n_vocab floats a row. Valid until the next call.
    std::span<const float> forward(std::span<const BatchItem> items, Phase phase);
    // Every kernel instance with its weight bytes, and its calls and time when the model was
    // loaded with LoadOptions::profile; sorted by module name.
    std::vector<KernelProfile> profile() const;
    void reset_profile();
    // Tracing: `observer` sees the outputs of every kernel call from now on (a traced
    // forward pass in `graft ab`); an empty function turns it off, leaving the calls as
    // cheap as without it.
    void set_observer(KernelObserver observer);

    // Copies the first n cached tokens of slot src into slot dst (prompt reuse).
    void copy_slot(int src, int dst, int64_t n);
    // Copies the first n cached tokens of `other`'s slot into the same slot here (a server
    // switching plans). Throws graft::Error unless both caches have the same attention
    // modules, shapes and element type.
    void copy_slot_from(Model &other, int slot, int64_t n);

    // For the forward passes.
    struct Kernels {
        std::unique_ptr<KernelInstance> decode, prefill;
        KernelInstance &get(Phase p) { return p == Phase::Prefill && prefill ? *prefill : *decode; }
    };
    Kernels *kernels(const std::string &module_name); // nullptr when the module is absent
    Kernels &require(const std::string &module_name);
    Device &device(const std::string &name);
    Arena &arena(Device &device);
    struct Cache {
        Device *device;
        // per slot: (head_dim, n_head_kv, n_ctx); for attention_mla k holds the latent rows
        // (kv_lora_rank + rope dims, 1, n_ctx) and v is empty (head_dim_v = 0)
        std::vector<void *> k, v;
        int64_t head_dim_k, head_dim_v, n_head_kv;
    };
    Cache &cache(const std::string &attention_module);
    graft_dtype kv_dtype() const { return kv_dtype_; }

  private:
    Model() = default;
    std::shared_ptr<const gguf::File> file_;
    std::shared_ptr<const models::Model> tree_;
    int64_t n_ctx_ = 0, n_batch_ = 0, n_vocab_ = 0;
    int n_slots_ = 1;
    graft_dtype kv_dtype_ = GRAFT_DTYPE_F16;
    std::map<std::string, std::unique_ptr<Device>> devices_;
    std::map<Device *, std::unique_ptr<Arena>> arenas_;
    std::map<std::string, Kernels> kernels_;
    std::map<std::string, Cache> caches_;
    std::map<std::string, uint64_t> device_bytes_;
    KernelObserver observer_; // the instances point to it
    std::vector<float> logits_;
    std::unique_ptr<Forward> forward_;
    friend class Forward;
};

// A family's forward pass. One per family, straight-line, in model_<family>.cpp.
class Forward {
  public:
    virtual ~Forward() = default;
    // Writes the logits rows (see Model::forward) into `logits`.
    virtual void run(std::span<const BatchItem> items, Phase phase, std::vector<float> &logits) = 0;
};

// The op attributes a family passes to each module's kernel at create().
std::vector<Param> op_params(const models::HParams &hp, const models::Module &module);

std::unique_ptr<Forward> make_dense_forward(Model &model); // llama, qwen2, qwen3
std::unique_ptr<Forward> make_moe_forward(Model &model); // mixtral, qwen2moe, qwen3moe
// The router's op attributes (top_k, gating, norm_topk, scale, n_group, topk_group).
std::vector<Param> router_params(const models::HParams &hp);
std::unique_ptr<Forward> make_deepseek2_forward(Model &model); // MLA, experts
// The rope op's YaRN attributes (ext_factor, attn_factor, beta_fast, beta_slow) as
// llama.cpp derives them; empty when the model does not use YaRN.
std::vector<Param> rope_yarn_params(const models::HParams &hp);
// attention_mla's attributes: n_head, kv_lora_rank, rope_dim and the scale with YaRN's mscale.
std::vector<Param> mla_attention_params(const models::HParams &hp);

} // namespace graft::engine
