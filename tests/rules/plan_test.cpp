// Matching semantics of the planner: first rule wins, class and dtype filters,
// recursive: false, inheritance, default kernels, prefill overrides, kwargs, totals,
// warnings and the runnable check.
#include "../models/synth_fixture.h"
#include "fake_registry.h"

#include <graft/rules/plan.h>
#include <graft/rules/rules.h>
#include <graft/util/error.h>

#include <gtest/gtest.h>

namespace graft::rules {
namespace {

class Planning : public ::testing::Test {
  protected:
    const models::Model &tree(const std::string &family, graft_dtype dtype = GRAFT_DTYPE_F16) {
        auto path = test::write_tiny(family, dir_.path(), dtype);
        files_.push_back(gguf::File::open(path));
        trees_.push_back(std::make_unique<models::Model>(models::build_model(*files_.back())));
        return *trees_.back();
    }
    // The tiny model of `family` with its matrices retyped (holes), e.g. as Q4_0.
    const models::Model &retyped(const std::string &family, graft_dtype dtype) {
        const auto src = test::write_tiny(family, dir_.path());
        test::Rewrite r;
        r.retype = test::matrices_as(dtype);
        const auto dst = dir_ / (family + "-retyped.gguf");
        test::rewrite(src, dst, r);
        files_.push_back(gguf::File::open(dst));
        trees_.push_back(std::make_unique<models::Model>(models::build_model(*files_.back())));
        return *trees_.back();
    }
    Plan plan(const models::Model &t, const std::string &yaml, const host::Registry &reg) {
        rules_.push_back(parse_rules(yaml, "rules.yaml"));
        return make_plan(t, rules_.back(), reg);
    }
    static const Placement &at(const Plan &p, const std::string &name) {
        const Placement *pl = p.find(name);
        if (!pl)
            throw std::runtime_error("no placement for " + name);
        return *pl;
    }
    test::TempDir dir_;
    std::vector<std::unique_ptr<gguf::File>> files_;
    std::vector<std::unique_ptr<models::Model>> trees_;
    std::vector<RuleSet> rules_;
    host::Registry cpu_ = test::cpu_machine();
    host::Registry gpu_ = test::gpu_machine();
};

TEST_F(Planning, WithoutRulesEverythingRunsOnCpuWithDefaultKernels) {
    const models::Model &t = tree("llama");
    const Plan p = plan(t, "", cpu_);
    size_t n_modules = 0;
    t.root->visit([&](const models::Module &) { ++n_modules; });
    ASSERT_EQ(p.placements.size(), n_modules);
    for (const Placement &pl : p.placements) {
        SCOPED_TRACE(pl.module->name);
        EXPECT_EQ(pl.rule, -1);
        EXPECT_EQ(pl.decode.device, "cpu");
        EXPECT_TRUE(pl.decode.device_present);
        EXPECT_FALSE(pl.prefill);
        if (pl.module->op.empty()) {
            EXPECT_EQ(pl.decode.kernel, "");
        } else {
            ASSERT_TRUE(pl.decode.resolved());
            EXPECT_EQ(pl.decode.kernel_record->op, pl.module->op);
            EXPECT_EQ(pl.decode.plugin->name, "cpuk");
        }
    }
    EXPECT_EQ(at(p, "model.layers.0.self_attn.q_proj").decode.kernel, "cpuk/linear");
    EXPECT_EQ(at(p, "model.embed_tokens").decode.kernel, "cpuk/embedding");
    EXPECT_EQ(at(p, "model.layers.1").decode.kernel, "cpuk/add");
    EXPECT_EQ(at(p, "model.layers.1.self_attn.rotary_emb").decode.kernel, "cpuk/rope");
    EXPECT_TRUE(p.warnings.empty());
    EXPECT_NO_THROW(check_runnable(p, cpu_));
}

TEST_F(Planning, DefaultKernelTakesTheWeightDtype) {
    const models::Model &t = tree("llama", GRAFT_DTYPE_BF16);
    const Plan p = plan(t, "", cpu_);
    // cpuk/linear takes F32 and F16 only: the first kernel that takes BF16 is linear_ref.
    EXPECT_EQ(at(p, "model.layers.0.mlp.up_proj").decode.kernel, "cpuk/linear_ref");
    EXPECT_EQ(at(p, "model.norm").decode.kernel, "cpuk/rmsnorm");
}

TEST_F(Planning, DefaultKernelFollowsRegistryOrder) {
    const models::Model &t = tree("llama");
    const auto a_first =
        host::Registry::from_records({test::cpu_plugin("aaa"), test::cpu_plugin("bbb")});
    const auto b_first =
        host::Registry::from_records({test::cpu_plugin("bbb"), test::cpu_plugin("aaa")});
    EXPECT_EQ(at(plan(t, "", a_first), "lm_head").decode.kernel, "aaa/linear");
    EXPECT_EQ(at(plan(t, "", b_first), "lm_head").decode.kernel, "bbb/linear");
}

TEST_F(Planning, FirstRuleInFileOrderWins) {
    const models::Model &t = tree("llama");
    const Plan p = plan(t, R"(
- match: {name: "q_proj$"}
  replace: {kernel: cpuk/linear_ref}
- match: {class: Linear}
  replace: {kernel: cpuk/linear}
)",
                        cpu_);
    EXPECT_EQ(at(p, "model.layers.0.self_attn.q_proj").decode.kernel, "cpuk/linear_ref");
    EXPECT_EQ(at(p, "model.layers.0.self_attn.q_proj").rule, 0);
    EXPECT_EQ(at(p, "model.layers.0.self_attn.k_proj").decode.kernel, "cpuk/linear");
    EXPECT_EQ(at(p, "model.layers.0.self_attn.k_proj").rule, 1);
    EXPECT_EQ(p.rule_matches, (std::vector<int>{2, 2 * 6 + 1}));
}

TEST_F(Planning, ClassFilterAndNameMustBothHold) {
    const models::Model &t = tree("qwen3");
    const Plan p = plan(t, R"(
- match: {name: "\\.self_attn", class: Linear}
  replace: {kernel: cpuk/linear_ref}
)",
                        cpu_);
    EXPECT_EQ(p.rule_matches[0], 2 * 4); // q, k, v, o of two layers
    EXPECT_EQ(at(p, "model.layers.1.self_attn.o_proj").rule, 0);
    EXPECT_EQ(at(p, "model.layers.1.self_attn").rule, -1);
    EXPECT_EQ(at(p, "model.layers.1.self_attn.q_norm").rule, -1);
    EXPECT_EQ(at(p, "model.layers.1.mlp.up_proj").decode.kernel, "cpuk/linear");
}

TEST_F(Planning, UnmatchedModulesInheritTheNearestMatchedAncestorsDevice) {
    const models::Model &t = tree("llama");
    const Plan p = plan(t, R"(
- match: {name: "^model\\.layers\\.1$"}
  replace: {device: "cuda:0"}
)",
                        gpu_);
    const Placement &layer = at(p, "model.layers.1");
    EXPECT_EQ(layer.rule, 0);
    EXPECT_EQ(layer.decode.device, "cuda:0");
    EXPECT_EQ(layer.decode.kernel, "gpuk/add");
    for (const char *name : {"model.layers.1.self_attn", "model.layers.1.self_attn.v_proj",
                             "model.layers.1.mlp.down_proj", "model.layers.1.input_layernorm"}) {
        SCOPED_TRACE(name);
        EXPECT_EQ(at(p, name).rule, -1);
        EXPECT_EQ(at(p, name).decode.device, "cuda:0");
        EXPECT_EQ(at(p, name).decode.plugin->name, "gpuk");
    }
    EXPECT_EQ(at(p, "model.layers.1.mlp.down_proj").decode.kernel, "gpuk/linear");
    EXPECT_EQ(at(p, "model.layers.0.mlp.down_proj").decode.device, "cpu");
    EXPECT_EQ(at(p, "lm_head").decode.device, "cpu");
}

TEST_F(Planning, RecursiveFalseKeepsLaterRulesFromTheChildren) {
    const models::Model &t = tree("llama");
    const std::string rules = R"(
- match: {name: "^model\\.layers\\.1$"}
  replace: {device: "cuda:0"}
  recursive: RECURSIVE
- match: {class: Linear}
  replace: {kernel: cpuk/linear_ref, device: cpu}
)";
    auto with = [&](const char *value) {
        std::string y = rules;
        y.replace(y.find("RECURSIVE"), 9, value);
        return plan(t, y, gpu_);
    };
    const Plan frozen = with("false");
    EXPECT_EQ(at(frozen, "model.layers.1.self_attn.q_proj").rule, -1);
    EXPECT_EQ(at(frozen, "model.layers.1.self_attn.q_proj").decode.device, "cuda:0");
    EXPECT_EQ(at(frozen, "model.layers.1.self_attn.q_proj").decode.kernel, "gpuk/linear");
    EXPECT_EQ(at(frozen, "model.layers.0.self_attn.q_proj").rule, 1);
    EXPECT_EQ(at(frozen, "model.layers.0.self_attn.q_proj").decode.kernel, "cpuk/linear_ref");
    EXPECT_EQ(frozen.rule_matches, (std::vector<int>{1, 7 + 1}));

    const Plan open = with("true");
    EXPECT_EQ(at(open, "model.layers.1.self_attn.q_proj").rule, 1);
    EXPECT_EQ(at(open, "model.layers.1.self_attn.q_proj").decode.device, "cpu");
    EXPECT_EQ(open.rule_matches, (std::vector<int>{1, 2 * 7 + 1}));
}

TEST_F(Planning, PrefillOverrideAndItsInheritance) {
    const models::Model &t = tree("qwen3moe");
    const Plan p = plan(t, R"(
- match: {class: Experts}
  replace: {kernel: cpuk/moe, device: cpu, prefill: {device: "cuda:0"}}
- match: {name: "^model\\.layers\\.1\\.self_attn$"}
  replace: {device: cpu, prefill: {device: "cuda:0"}}
- match: {name: "^lm_head$"}
  replace: {kernel: cpuk/linear, prefill: {kernel: cpuk/linear_ref}}
)",
                        gpu_);
    const Placement &experts = at(p, "model.layers.0.mlp.experts");
    EXPECT_EQ(experts.decode.kernel, "cpuk/moe");
    ASSERT_TRUE(experts.prefill);
    EXPECT_EQ(experts.prefill->device, "cuda:0");
    EXPECT_EQ(experts.prefill->kernel, "gpuk/moe"); // the default on that device
    // Children of a matched module inherit its prefill device too.
    const Placement &q = at(p, "model.layers.1.self_attn.q_proj");
    EXPECT_EQ(q.decode.kernel, "cpuk/linear");
    ASSERT_TRUE(q.prefill);
    EXPECT_EQ(q.prefill->kernel, "gpuk/linear");
    EXPECT_FALSE(at(p, "model.layers.0.self_attn.q_proj").prefill);
    // A prefill override without a device keeps the decode device.
    const Placement &head = at(p, "lm_head");
    ASSERT_TRUE(head.prefill);
    EXPECT_EQ(head.prefill->device, "cpu");
    EXPECT_EQ(head.prefill->kernel, "cpuk/linear_ref");
    EXPECT_NO_THROW(check_runnable(p, gpu_));
}

TEST_F(Planning, KwargsStayWithTheMatchedModule) {
    const models::Model &t = tree("mixtral");
    const Plan p = plan(t, R"(
- match: {class: Experts}
  replace: {kwargs: {threads: 16, chunk: 0.25, mode: fast}}
- match: {name: "^model\\.layers\\.0$"}
  replace: {kwargs: {tag: layer}}
)",
                        cpu_);
    const Placement &e = at(p, "model.layers.1.mlp.experts");
    ASSERT_EQ(e.kwargs.size(), 3u);
    EXPECT_EQ(e.kwargs[0].key, "threads");
    EXPECT_EQ(e.kwargs[0].i, 16);
    EXPECT_DOUBLE_EQ(e.kwargs[1].f, 0.25);
    EXPECT_EQ(e.kwargs[2].s, "fast");
    EXPECT_EQ(at(p, "model.layers.0").kwargs.size(), 1u);
    EXPECT_TRUE(at(p, "model.layers.0.self_attn.q_proj").kwargs.empty());
    EXPECT_TRUE(at(p, "model.layers.1.mlp.gate").kwargs.empty());
}

TEST_F(Planning, DtypeFilter) {
    const std::string rules = R"(
- match: {class: Linear, dtype: Q4_0}
  replace: {kernel: q4k/linear, device: "cuda:0"}
)";
    const Plan f16 = plan(tree("qwen2moe"), rules, gpu_);
    EXPECT_EQ(f16.rule_matches[0], 0);
    ASSERT_EQ(f16.warnings.size(), 1u);
    EXPECT_EQ(f16.warnings[0], "rule 0 (rules.yaml:2:3) matched no module");

    const models::Model &q4 = retyped("qwen2moe", GRAFT_DTYPE_Q4_0);
    const Plan p = plan(q4, rules, gpu_);
    const Placement &q = at(p, "model.layers.0.self_attn.q_proj");
    EXPECT_EQ(q.decode.kernel, "q4k/linear");
    EXPECT_EQ(q.decode.device_index, 3u); // q4k's own number for cuda:0
    // The 1-D shared expert gate stays F32: the filter leaves it to the default.
    EXPECT_EQ(at(p, "model.layers.0.mlp.shared_expert_gate").rule, -1);
    EXPECT_EQ(at(p, "model.layers.0.mlp.shared_expert_gate").decode.kernel, "cpuk/linear");
}

TEST_F(Planning, AbsentDeviceIsAWarningHereAndAnErrorToRun) {
    const models::Model &t = tree("qwen3moe");
    const Plan p = plan(t, R"(
- match: {name: "^model$"}
  replace: {device: "cuda:0"}
- match: {name: "^lm_head$"}
  replace: {device: "cuda:0"}
)",
                        cpu_);
    const Placement &q = at(p, "model.layers.0.self_attn.q_proj");
    EXPECT_EQ(q.decode.device, "cuda:0");
    EXPECT_FALSE(q.decode.device_present);
    EXPECT_EQ(q.decode.kernel, "gpuk/linear"); // the declared prefix still picks kernels
    bool absent = false, no_router = false;
    for (const std::string &w : p.warnings) {
        absent |= w.find("device cuda:0 is not present here") != std::string::npos;
        no_router |= w.find("no kernel runs op 'router' on cuda:0 with F16 weights: "
                            "model.layers.0.mlp.gate and 1 more") != std::string::npos;
    }
    EXPECT_TRUE(absent);
    EXPECT_TRUE(no_router);
    try {
        check_runnable(p, cpu_);
        FAIL() << "the plan should not run here";
    } catch (const Error &e) {
        EXPECT_STREQ(e.what(), "no device cuda:0 (devices here: cpu)");
    }
    // With the device present, the missing router kernel is what stops it.
    const Plan g = plan(t, R"(
- match: {name: "^model$"}
  replace: {device: "cuda:0"}
)",
                        gpu_);
    EXPECT_TRUE(at(g, "model.layers.0.self_attn.q_proj").decode.device_present);
    try {
        check_runnable(g, gpu_);
        FAIL() << "no router kernel on cuda:0";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("no kernel runs op 'router' on cuda:0"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(Planning, TotalsCountEachTensorOncePerDevice) {
    const models::Model &t = tree("qwen3"); // tied: lm_head reads token_embd.weight
    const Plan all_cpu = plan(t, "", cpu_);
    ASSERT_EQ(all_cpu.totals.size(), 1u);
    EXPECT_EQ(all_cpu.totals[0].device, "cpu");
    EXPECT_EQ(all_cpu.totals[0].bytes, t.weight_bytes());

    const Plan split = plan(t, R"(
- match: {name: "^lm_head$"}
  replace: {device: "cuda:0"}
)",
                            gpu_);
    ASSERT_EQ(split.totals.size(), 2u);
    const uint64_t embd = t.find("model.embed_tokens")->own_bytes();
    EXPECT_EQ(split.totals[0].device, "cpu");
    EXPECT_EQ(split.totals[0].bytes, t.weight_bytes());
    EXPECT_EQ(split.totals[1].device, "cuda:0");
    EXPECT_TRUE(split.totals[1].present);
    EXPECT_EQ(split.totals[1].bytes, embd);
}

TEST_F(Planning, SameInputsSamePlan) {
    const models::Model &t = tree("deepseek2");
    const std::string rules = R"(
- match: {class: Experts}
  replace: {device: cpu}
- match: {name: "^model$"}
  replace: {device: "cuda:0"}
)";
    const Plan a = plan(t, rules, gpu_);
    const Plan b = plan(t, rules, gpu_);
    ASSERT_EQ(a.placements.size(), b.placements.size());
    for (size_t i = 0; i < a.placements.size(); ++i) {
        EXPECT_EQ(a.placements[i].module, b.placements[i].module);
        EXPECT_EQ(a.placements[i].decode.kernel, b.placements[i].decode.kernel);
        EXPECT_EQ(a.placements[i].decode.device, b.placements[i].decode.device);
        EXPECT_EQ(a.placements[i].rule, b.placements[i].rule);
    }
    EXPECT_EQ(a.warnings, b.warnings);
    EXPECT_EQ(at(a, "model.layers.1.self_attn").decode.kernel, ""); // no MLA kernel on gpuk
    EXPECT_EQ(at(a, "model.layers.1.mlp.experts").decode.kernel, "cpuk/moe");
}

} // namespace
} // namespace graft::rules
