// `graft rules explain MODEL [--rules FILE] [--json]`: where every module of a model would
// run, before anything is loaded. Reads the GGUF header only (no weight data), so it
// answers at once even for models far larger than memory.
#include "commands.h"

#include <graft/gguf/gguf.h>
#include <graft/host/registry.h>
#include <graft/models/module.h>
#include <graft/rules/explain.h>
#include <graft/rules/plan.h>
#include <graft/rules/rules.h>
#include <graft/util/error.h>

#include <iostream>
#include <memory>

namespace graft::cli {

namespace {

struct ExplainArgs {
    std::string model;
    std::string rules;
    bool json = false;
};

std::filesystem::path executable_path() {
    std::error_code ec;
    std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path("graft") : exe;
}

void explain(const GlobalOptions &options, const ExplainArgs &args) {
    const std::unique_ptr<gguf::File> file = gguf::File::open(args.model);
    const models::Model tree = models::build_model(*file);
    std::filesystem::path rules_path = args.rules;
    if (rules_path.empty()) {
        rules_path = rules::default_rules_path(tree.hparams.family, executable_path());
        if (!std::filesystem::exists(rules_path))
            throw Error("no default rules for " + tree.hparams.family + " at " +
                        rules_path.string() + "; give a rules file with --rules FILE");
    }
    const rules::RuleSet rule_set = rules::load_rules(rules_path);
    const host::Registry registry = host::Registry::discover(plugin_search_path(options));
    const rules::Plan plan = rules::make_plan(tree, rule_set, registry);
    if (args.json)
        std::cout << rules::explain_json(tree, rule_set, plan, args.model);
    else
        std::cout << rules::explain_text(tree, rule_set, plan, args.model);
}

} // namespace

void add_rules_command(CLI::App &app, GlobalOptions &options) {
    CLI::App *rules_cmd = app.add_subcommand("rules", "Rules that bind modules to kernels");
    rules_cmd->require_subcommand(1);
    CLI::App *explain_cmd = rules_cmd->add_subcommand(
        "explain",
        "Show where each module of a model runs: class, shape, dtype, the rule that placed it, "
        "kernel, device and bytes, with totals per device and warnings. Reads no weight data.");
    auto args = std::make_shared<ExplainArgs>();
    explain_cmd->add_option("model", args->model, "GGUF model file")
        ->required()
        ->type_name("MODEL");
    explain_cmd
        ->add_option("--rules", args->rules,
                     "Rules file (YAML); default: share/graft/rules/<family>-cpu.yaml next to "
                     "the graft executable")
        ->type_name("FILE");
    explain_cmd->add_flag("--json", args->json, "One JSON document instead of the table");
    explain_cmd->callback([&options, args] { explain(options, *args); });
}

} // namespace graft::cli
