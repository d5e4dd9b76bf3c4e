// `graft rules explain`: a placement plan for people (a table) and for programs (JSON).
#pragma once

#include <graft/models/module.h>
#include <graft/rules/plan.h>
#include <graft/rules/rules.h>

#include <cstdint>
#include <string>

namespace graft::rules {

// A row per module (name, class, shape, dtype, rule, kernel, device, bytes), totals per
// device and the warnings. `model_name` and the rule set's source head the text.
std::string explain_text(const models::Model &tree, const RuleSet &rules, const Plan &plan,
                         const std::string &model_name);

// The same as one JSON document:
// {"model": {...}, "rules": {...}, "modules": [...], "totals": [...], "warnings": [...]}.
std::string explain_json(const models::Model &tree, const RuleSet &rules, const Plan &plan,
                         const std::string &model_name);

// "1.5 GiB", "512 B": binary units, one decimal.
std::string human_bytes(uint64_t bytes);

} // namespace graft::rules
