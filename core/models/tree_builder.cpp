// Shape-checked module construction.
#include "tree_builder.h"

#include <graft/util/error.h>

namespace graft::models {

namespace {

std::string shape_text(const std::vector<int64_t> &shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

} // namespace

const gguf::TensorInfo *TreeBuilder::tensor(const std::string &name,
                                            const std::vector<int64_t> &shape,
                                            bool required) const {
    const gguf::TensorInfo *t = file_.tensor(name);
    if (!t) {
        if (!required)
            return nullptr;
        throw Error(file_.name() + ": missing tensor " + name + " (expected shape " +
                    shape_text(shape) + " for " + hp_.family + ")");
    }
    bool same = true;
    for (size_t i = 0; i < 4; ++i) {
        const int64_t want = i < shape.size() ? shape[i] : 1;
        if (t->ne[i] != want)
            same = false;
    }
    if (!same)
        throw Error(file_.name() + ": tensor " + name + " has shape " + shape_string(*t) +
                    ", expected " + shape_text(shape) + " (from the " + hp_.arch + ".* metadata)");
    return t;
}

Module *TreeBuilder::weighted(Module &parent, std::string name, std::string cls, std::string op,
                              const std::vector<WeightSpec> &weights) const {
    // Check every tensor before adding the module, so a failure leaves no half module.
    std::vector<Weight> found;
    for (const WeightSpec &w : weights)
        if (const gguf::TensorInfo *t = tensor(w.tensor, w.shape, w.required))
            found.push_back({w.role, t});
    Module *m = parent.add_child(std::move(name), std::move(cls), std::move(op));
    m->weights = std::move(found);
    return m;
}

Module *TreeBuilder::linear(Module &parent, std::string name, const std::string &base, int64_t n_in,
                            int64_t n_out) const {
    return weighted(parent, std::move(name), "Linear", "linear",
                    {{"weight", base + ".weight", {n_in, n_out}, true},
                     {"bias", base + ".bias", {n_out}, false}});
}

Module *TreeBuilder::rmsnorm(Module &parent, std::string name, const std::string &tensor_name,
                             int64_t n) const {
    return weighted(parent, std::move(name), "RMSNorm", "rmsnorm",
                    {{"weight", tensor_name, {n}, true}});
}

Module *TreeBuilder::rotary(Module &parent) const {
    return weighted(parent, "rotary_emb", "RotaryEmbedding", "rope",
                    {{"freq_factors", "rope_freqs.weight", {hp_.n_rot / 2}, false}});
}

} // namespace graft::models
