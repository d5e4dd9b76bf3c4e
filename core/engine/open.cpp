#include <graft/engine/open.h>
#include <graft/util/error.h>

namespace graft::engine {

namespace {

Binding convert(const rules::Binding &b, const std::vector<rules::Kwarg> &kwargs) {
    Binding r;
    r.plugin = b.plugin;
    r.kernel = b.kernel_record;
    r.device = b.device;
    r.device_index = b.device_index;
    for (const rules::Kwarg &k : kwargs) {
        Param p;
        p.key = k.key;
        p.type = k.type;
        p.i = k.i;
        p.f = k.f;
        p.s = k.s;
        r.kwargs.push_back(std::move(p));
    }
    return r;
}

} // namespace

ModuleBinding binding_from_plan(const rules::Placement &placement) {
    ModuleBinding mb;
    mb.decode = convert(placement.decode, placement.kwargs);
    if (placement.prefill)
        mb.prefill = convert(*placement.prefill, placement.kwargs);
    return mb;
}

std::unique_ptr<OpenedModel> open_model(const OpenOptions &options,
                                        const host::Registry &registry) {
    auto out = std::make_unique<OpenedModel>();
    out->name = options.model.stem().string();
    std::shared_ptr<gguf::File> file = gguf::File::open(options.model);
    out->file = file;
    out->tree = std::make_shared<models::Model>(models::build_model(*file));
    out->tokenizer = tokenizer::Tokenizer::from_gguf(*file);
    std::filesystem::path rules_path = options.rules;
    if (rules_path.empty()) {
        std::filesystem::path exe = options.executable;
        if (exe.empty())
            exe = std::filesystem::read_symlink("/proc/self/exe");
        rules_path = rules::default_rules_path(out->tree->hparams.family, exe);
    }
    out->rules = rules::load_rules(rules_path);
    out->plan = rules::make_plan(*out->tree, out->rules, registry);
    rules::check_runnable(out->plan, registry);
    const rules::Plan &plan = out->plan;
    auto bind = [&](const models::Module &m) {
        const rules::Placement *p = plan.find(m.name);
        if (!p || !p->decode.resolved())
            throw Error("no kernel can run module " + m.name);
        return binding_from_plan(*p);
    };
    out->model = Model::load(out->file, out->tree, bind, registry, options.load);
    return out;
}

} // namespace graft::engine
