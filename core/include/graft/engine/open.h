// Opening a model end to end: the GGUF file, its module tree, tokenizer, rules and plan,
// and the loaded engine model. What the CLI and the server share.
#pragma once

#include <graft/engine/model.h>
#include <graft/rules/plan.h>
#include <graft/rules/rules.h>
#include <graft/tokenizer/tokenizer.h>

#include <filesystem>
#include <memory>
#include <string>

namespace graft::engine {

struct OpenOptions {
    std::filesystem::path model;
    std::filesystem::path rules;      // empty: the family's default CPU rules
    std::filesystem::path executable; // where default rules are looked up; empty: this process
    LoadOptions load;
};

struct OpenedModel {
    std::string name; // the file's stem
    std::shared_ptr<const gguf::File> file;
    std::shared_ptr<const models::Model> tree;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer;
    rules::RuleSet rules;
    rules::Plan plan;
    std::unique_ptr<Model> model;
};

// Opens, plans and loads. The registry must outlive the result. Throws graft::Error with a
// message naming what is wrong (file, rules, plan, missing device, kernel failure).
std::unique_ptr<OpenedModel> open_model(const OpenOptions &options, const host::Registry &registry);

// The plan's binding of a module as the engine takes it.
ModuleBinding binding_from_plan(const rules::Placement &placement);

} // namespace graft::engine
