// Loading a model from the CLI: the demo model when none is named, a progress bar while
// weights load, and the options every model-running command shares.
#pragma once

#include "commands.h"

#include <graft/engine/open.h>
#include <graft/host/registry.h>

#include <memory>
#include <string>

namespace graft::cli {

struct ModelOptions {
    std::string model;       // path; empty: the demo model
    std::string rules;       // empty: the family's default rules
    int threads = 0;         // 0: the plugin's default (physical cores)
    int64_t ctx = 0;         // 0: min(trained, 4096)
    std::string kv_type = "f16";
    bool no_prefetch = false;
};

// Adds --rules, --threads, --ctx, --kv-type, --no-prefetch (MODEL is the command's own).
void add_model_options(CLI::App &cmd, ModelOptions &options);

// The demo model shipped with graft: <exe>/../share/graft/models/graft-demo.gguf.
std::filesystem::path demo_model_path();

struct Loaded {
    std::unique_ptr<host::Registry> registry;
    std::unique_ptr<engine::OpenedModel> model;
};

// Discovers plugins, opens and loads the model, drawing a progress bar on stderr.
Loaded load_model(const GlobalOptions &global, const ModelOptions &options, int n_slots = 1);

// Parses "1,2,3" into token ids; throws graft::Error on anything else.
std::vector<int32_t> parse_token_list(const std::string &text);

} // namespace graft::cli
