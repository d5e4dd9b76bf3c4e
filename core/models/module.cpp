// Module tree basics: children, byte counts, look-ups.
#include <graft/models/module.h>

#include <set>

namespace graft::models {

Module *Module::add_child(std::string child_name, std::string child_cls, std::string child_op) {
    auto child = std::make_unique<Module>();
    child->name = name.empty() ? std::move(child_name) : name + "." + child_name;
    child->cls = std::move(child_cls);
    child->op = std::move(child_op);
    child->parent = this;
    children.push_back(std::move(child));
    return children.back().get();
}

uint64_t Module::own_bytes() const {
    uint64_t bytes = 0;
    for (const Weight &w : weights)
        bytes += w.tensor->n_bytes;
    return bytes;
}

uint64_t Module::total_bytes() const {
    std::set<const gguf::TensorInfo *> seen;
    uint64_t bytes = 0;
    visit([&](const Module &m) {
        for (const Weight &w : m.weights)
            if (seen.insert(w.tensor).second)
                bytes += w.tensor->n_bytes;
    });
    return bytes;
}

const Weight *Module::weight(std::string_view role) const {
    for (const Weight &w : weights)
        if (w.role == role)
            return &w;
    return nullptr;
}

const Module *Module::child(std::string_view child_name) const {
    for (const auto &c : children) {
        std::string_view n = c->name;
        if (!name.empty()) {
            if (n.size() <= name.size() + 1)
                continue;
            n.remove_prefix(name.size() + 1);
        }
        if (n == child_name)
            return c.get();
    }
    return nullptr;
}

const Module *Model::find(std::string_view name) const {
    const Module *m = root.get();
    if (!m || name.empty())
        return m;
    // Walk component by component; a layer index is one component ("layers.12").
    while (m && !name.empty()) {
        const size_t dot = name.find('.');
        const std::string_view part = name.substr(0, dot);
        m = m->child(part);
        name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    }
    return m;
}

uint64_t Model::weight_bytes() const {
    return root ? root->total_bytes() : 0;
}

const std::vector<std::string> &supported_architectures() {
    static const std::vector<std::string> archs = {"llama",    "mixtral",  "qwen2",    "qwen3",
                                                   "qwen2moe", "qwen3moe", "deepseek2"};
    return archs;
}

const std::vector<std::string> &supported_families() {
    static const std::vector<std::string> families = {"llama",    "qwen2",    "qwen3",    "mixtral",
                                                      "qwen2moe", "qwen3moe", "deepseek2"};
    return families;
}

std::string shape_string(const gguf::TensorInfo &tensor) {
    std::string s = "[";
    const uint32_t n = tensor.n_dims == 0 ? 1 : tensor.n_dims;
    for (uint32_t i = 0; i < n && i < 4; ++i) {
        if (i)
            s += ", ";
        s += std::to_string(tensor.ne[i]);
    }
    return s + "]";
}

} // namespace graft::models
