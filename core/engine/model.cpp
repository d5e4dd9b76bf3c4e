#include <graft/engine/model.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace graft::engine {

namespace {

// Reads the pages of a weight so that loading shows real progress and the first tokens do
// not stall on page faults.
void touch_pages(std::span<const std::byte> bytes) {
    volatile unsigned char sink = 0;
    const auto *p = reinterpret_cast<const unsigned char *>(bytes.data());
    for (size_t off = 0; off < bytes.size(); off += 4096)
        sink = static_cast<unsigned char>(sink + p[off]);
    (void)sink;
}

} // namespace

std::vector<Param> op_params(const models::HParams &hp, const models::Module &m) {
    std::vector<Param> p;
    if (m.op == "rmsnorm") {
        p.push_back(Param::real("eps", hp.rms_eps));
    } else if (m.op == "rope") {
        p.push_back(Param::integer("n_rot", hp.n_rot));
        p.push_back(Param::real("freq_base", hp.rope_freq_base));
        p.push_back(Param::real("freq_scale", hp.rope_freq_scale));
        p.push_back(Param::integer("mode", hp.rope_mode));
        p.push_back(Param::integer("n_ctx_orig", hp.n_ctx_orig));
        for (Param &y : rope_yarn_params(hp))
            p.push_back(std::move(y));
    } else if (m.op == "attention") {
        p.push_back(Param::integer("n_head", hp.n_head));
        p.push_back(Param::integer("n_head_kv", hp.n_head_kv));
        p.push_back(Param::integer("head_dim", hp.head_dim));
        p.push_back(Param::real("scale", 1.0 / std::sqrt(static_cast<double>(hp.head_dim))));
    } else if (m.op == "router") {
        p = router_params(hp);
    } else if (m.op == "attention_mla") {
        p = mla_attention_params(hp);
    }
    return p;
}

std::unique_ptr<Model> Model::load(std::shared_ptr<const gguf::File> file,
                                   std::shared_ptr<const models::Model> tree, const BindFn &bind,
                                   const host::Registry &registry, const LoadOptions &options) {
    std::unique_ptr<Model> m(new Model());
    m->file_ = std::move(file);
    m->tree_ = std::move(tree);
    const models::HParams &hp = m->tree_->hparams;
    m->n_vocab_ = hp.n_vocab;
    m->n_ctx_ = options.n_ctx > 0
                    ? options.n_ctx
                    : std::min<int64_t>(hp.n_ctx_train > 0 ? hp.n_ctx_train : 4096, 4096);
    m->n_slots_ = std::max(1, options.n_slots);
    m->n_batch_ = std::max<int64_t>(1, options.n_batch);
    m->kv_dtype_ = options.kv_dtype;
    if (m->kv_dtype_ != GRAFT_DTYPE_F16 && m->kv_dtype_ != GRAFT_DTYPE_F32)
        throw Error("the KV cache holds F16 or F32");

    // Bind every module that computes something.
    struct Todo {
        const models::Module *module;
        ModuleBinding binding;
    };
    std::vector<Todo> todo;
    m->tree_->root->visit([&](const models::Module &mod) {
        if (!mod.op.empty())
            todo.push_back({&mod, bind(mod)});
    });

    // Devices by name, and the plugin that owns each one's memory.
    auto ensure_device = [&](const Binding &b) {
        if (m->devices_.count(b.device))
            return;
        const host::PluginRecord *owner = b.plugin;
        uint32_t index = b.device_index;
        for (const auto &rec : registry.plugins()) {
            if (rec.status != host::PluginStatus::Loaded || !rec.api || !rec.api->memory)
                continue;
            auto it = std::find_if(rec.devices.begin(), rec.devices.end(),
                                   [&](const host::DeviceRecord &d) { return d.name == b.device; });
            if (it != rec.devices.end()) {
                owner = &rec;
                index = it->index;
                break;
            }
        }
        m->devices_[b.device] = std::make_unique<Device>(b.device, owner, index);
    };
    std::set<const host::PluginRecord *> plugins;
    uint64_t total = 0;
    for (const Todo &t : todo) {
        ensure_device(t.binding.decode);
        plugins.insert(t.binding.decode.plugin);
        total += t.module->own_bytes();
        if (t.binding.prefill) {
            ensure_device(*t.binding.prefill);
            plugins.insert(t.binding.prefill->plugin);
            total += t.module->own_bytes();
        }
    }
    if (options.threads > 0) {
        for (const host::PluginRecord *rec : plugins) {
            if (!rec || !rec->api || !rec->api->configure)
                continue;
            graft_param threads = sdk::make_int_param("threads", options.threads);
            if (rec->api->configure(&threads, 1) != GRAFT_OK)
                throw Error("plugin " + rec->name + " refused threads=" +
                            std::to_string(options.threads) + ": " + rec->api->last_error());
        }
    }

    uint64_t done = 0;
    KernelInstance::WeightFn on_weight = [&](const gguf::TensorInfo &info,
                                             std::span<const std::byte> bytes) {
        if (options.prefetch)
            touch_pages(bytes);
        done += info.n_bytes;
        if (options.progress)
            options.progress(done, total);
    };
    for (const Todo &t : todo) {
        Kernels k;
        Device &dev = *m->devices_.at(t.binding.decode.device);
        k.decode = std::make_unique<KernelInstance>(t.binding.decode, dev, *t.module, *m->file_,
                                                    op_params(hp, *t.module), on_weight);
        m->device_bytes_[dev.name()] += k.decode->weight_bytes();
        if (t.binding.prefill) {
            if ((t.module->op == "attention" || t.module->op == "attention_mla") &&
                t.binding.prefill->device != dev.name())
                throw Error("module " + t.module->name +
                            ": attention keeps its KV cache on one device; its prefill rule "
                            "may change the kernel but not the device");
            Device &pdev = *m->devices_.at(t.binding.prefill->device);
            k.prefill =
                std::make_unique<KernelInstance>(*t.binding.prefill, pdev, *t.module, *m->file_,
                                                 op_params(hp, *t.module), on_weight);
            m->device_bytes_[pdev.name()] += k.prefill->weight_bytes();
        }
        if (t.module->op == "attention") {
            Cache c;
            c.device = &dev;
            c.head_dim_k = hp.head_dim;
            c.head_dim_v = hp.head_dim_v > 0 ? hp.head_dim_v : hp.head_dim;
            c.n_head_kv = hp.n_head_kv;
            const uint64_t elt = sdk::dtype_info(m->kv_dtype_).block_bytes;
            for (int s = 0; s < m->n_slots_; ++s) {
                c.k.push_back(dev.alloc(elt * c.head_dim_k * c.n_head_kv * m->n_ctx_));
                c.v.push_back(dev.alloc(elt * c.head_dim_v * c.n_head_kv * m->n_ctx_));
            }
            m->caches_[t.module->name] = std::move(c);
        }
        if (t.module->op == "attention_mla") { // the latent rows, shared by all heads
            Cache c;
            c.device = &dev;
            c.head_dim_k = hp.kv_lora_rank + hp.qk_rope_dim;
            c.head_dim_v = 0;
            c.n_head_kv = 1;
            const uint64_t elt = sdk::dtype_info(m->kv_dtype_).block_bytes;
            for (int s = 0; s < m->n_slots_; ++s) {
                c.k.push_back(dev.alloc(elt * c.head_dim_k * m->n_ctx_));
                c.v.push_back(dev.alloc(0));
            }
            m->caches_[t.module->name] = std::move(c);
        }
        if (options.profile) {
            k.decode->enable_stats(true);
            if (k.prefill)
                k.prefill->enable_stats(true);
        }
        m->kernels_[t.module->name] = std::move(k);
    }
    if (options.progress)
        options.progress(total, total);

    const std::string &arch = hp.arch;
    if (hp.family == "mixtral" || hp.family == "qwen2moe" || hp.family == "qwen3moe")
        m->forward_ = make_moe_forward(*m); // before llama: mixtral is arch llama
    else if (hp.family == "deepseek2")
        m->forward_ = make_deepseek2_forward(*m);
    else if (arch == "llama" || arch == "qwen2" || arch == "qwen3")
        m->forward_ = make_dense_forward(*m);
    else
        throw Error("graft cannot run " + arch + " models yet");
    return m;
}

Model::~Model() {
    forward_.reset();
    kernels_.clear();
    arenas_.clear();
    for (auto &[name, c] : caches_) {
        for (void *p : c.k)
            c.device->free(p);
        for (void *p : c.v)
            c.device->free(p);
    }
}

Model::Kernels *Model::kernels(const std::string &module_name) {
    auto it = kernels_.find(module_name);
    return it == kernels_.end() ? nullptr : &it->second;
}

Model::Kernels &Model::require(const std::string &module_name) {
    Kernels *k = kernels(module_name);
    if (!k)
        throw Error("the model has no module " + module_name);
    return *k;
}

std::vector<KernelProfile> Model::profile() const {
    std::vector<KernelProfile> out;
    auto add = [&out](const KernelInstance &k, bool prefill_only) {
        KernelProfile p;
        p.module = k.module_name();
        p.op = k.op();
        p.kernel = k.binding().full_name();
        p.device = k.device().name();
        p.prefill_only = prefill_only;
        p.weight_bytes = k.weight_bytes();
        if (const KernelStats *s = k.stats()) {
            p.calls = s->calls;
            p.seconds = s->seconds;
        }
        out.push_back(std::move(p));
    };
    for (const auto &[name, k] : kernels_) {
        add(*k.decode, false);
        if (k.prefill)
            add(*k.prefill, true);
    }
    return out;
}

void Model::reset_profile() {
    for (auto &[name, k] : kernels_) {
        k.decode->reset_stats();
        if (k.prefill)
            k.prefill->reset_stats();
    }
}

Device &Model::device(const std::string &name) {
    return *devices_.at(name);
}

Arena &Model::arena(Device &dev) {
    auto &a = arenas_[&dev];
    if (!a)
        a = std::make_unique<Arena>(dev);
    return *a;
}

Model::Cache &Model::cache(const std::string &attention_module) {
    return caches_.at(attention_module);
}

std::span<const float> Model::forward(std::span<const BatchItem> items, Phase phase) {
    int64_t n_tokens = 0;
    for (const BatchItem &it : items) {
        if (it.slot < 0 || it.slot >= n_slots_)
            throw Error("slot " + std::to_string(it.slot) + " out of range");
        if (it.tokens.empty())
            throw Error("a batch item has no tokens");
        if (it.n_past < 0 || it.n_past + static_cast<int64_t>(it.tokens.size()) > n_ctx_)
            throw Error("the sequence would exceed the context of " + std::to_string(n_ctx_) +
                        " tokens");
        for (int32_t id : it.tokens)
            if (id < 0 || id >= n_vocab_)
                throw Error("token id " + std::to_string(id) + " is outside the vocabulary (" +
                            std::to_string(n_vocab_) + ")");
        n_tokens += static_cast<int64_t>(it.tokens.size());
    }
    if (n_tokens > n_batch_)
        throw Error("a forward pass takes at most " + std::to_string(n_batch_) + " tokens");
    for (auto &[dev, arena] : arenas_)
        arena->reset();
    forward_->run(items, phase, logits_);
    return logits_;
}

void Model::copy_slot(int src, int dst, int64_t n) {
    if (src == dst || n <= 0)
        return;
    const uint64_t elt = sdk::dtype_info(kv_dtype_).block_bytes;
    std::vector<std::byte> staging;
    for (auto &[name, c] : caches_) {
        for (int kv = 0; kv < 2; ++kv) {
            const int64_t hd = kv == 0 ? c.head_dim_k : c.head_dim_v;
            const uint64_t bytes = elt * hd * c.n_head_kv * n;
            auto &vec = kv == 0 ? c.k : c.v;
            if (c.device->host_memory()) {
                std::memcpy(vec[dst], vec[src], bytes);
            } else {
                staging.resize(bytes);
                c.device->copy_to_host(staging.data(), vec[src], bytes);
                c.device->copy_to_device(vec[dst], staging.data(), bytes);
            }
        }
    }
}

void Model::set_observer(KernelObserver observer) {
    observer_ = std::move(observer);
    const KernelObserver *p = observer_ ? &observer_ : nullptr;
    for (auto &[name, k] : kernels_) {
        k.decode->set_observer(p);
        if (k.prefill)
            k.prefill->set_observer(p);
    }
}

void Model::copy_slot_from(Model &other, int slot, int64_t n) {
    if (slot < 0 || slot >= n_slots_ || slot >= other.n_slots_ || n <= 0 || n > n_ctx_ ||
        n > other.n_ctx_)
        throw Error("cannot copy " + std::to_string(n) + " cached tokens of slot " +
                    std::to_string(slot));
    if (other.kv_dtype_ != kv_dtype_ || other.caches_.size() != caches_.size())
        throw Error("the KV caches of the two models differ");
    const uint64_t elt = sdk::dtype_info(kv_dtype_).block_bytes;
    std::vector<std::byte> staging;
    for (auto &[name, to] : caches_) {
        auto it = other.caches_.find(name);
        if (it == other.caches_.end() || it->second.head_dim_k != to.head_dim_k ||
            it->second.head_dim_v != to.head_dim_v || it->second.n_head_kv != to.n_head_kv)
            throw Error("the KV caches of the two models differ at " + name);
        Cache &from = it->second;
        const auto s = static_cast<size_t>(slot);
        for (int kv = 0; kv < 2; ++kv) {
            const int64_t hd = kv == 0 ? to.head_dim_k : to.head_dim_v;
            const uint64_t bytes = elt * static_cast<uint64_t>(hd * to.n_head_kv * n);
            void *dst = (kv == 0 ? to.k : to.v)[s];
            const void *src = (kv == 0 ? from.k : from.v)[s];
            if (from.device->host_memory() && to.device->host_memory()) {
                std::memcpy(dst, src, bytes);
                continue;
            }
            staging.resize(bytes);
            if (from.device->host_memory())
                std::memcpy(staging.data(), src, bytes);
            else
                from.device->copy_to_host(staging.data(), src, bytes);
            if (to.device->host_memory())
                std::memcpy(dst, staging.data(), bytes);
            else
                to.device->copy_to_device(dst, staging.data(), bytes);
        }
    }
}

} // namespace graft::engine
