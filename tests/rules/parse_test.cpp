// Rules files: what parses, and every kind of error with its file:line:column.
#include "../models/synth_fixture.h"
#include "fake_registry.h"

#include <graft/rules/plan.h>
#include <graft/rules/rules.h>
#include <graft/util/error.h>

#include <gtest/gtest.h>

namespace graft::rules {
namespace {

std::string parse_error(const std::string &yaml) {
    try {
        parse_rules(yaml, "rules.yaml");
    } catch (const Error &e) {
        return e.what();
    }
    return "(no error)";
}

// Asserts the error starts with "rules.yaml:LINE:COL: " and mentions `words`.
void expect_error(const std::string &error, int line, int column, const std::string &words) {
    const std::string where =
        "rules.yaml:" + std::to_string(line) + ":" + std::to_string(column) + ": ";
    EXPECT_EQ(error.rfind(where, 0), 0u) << "want " << where << " in: " << error;
    EXPECT_NE(error.find(words), std::string::npos) << "want '" << words << "' in: " << error;
}

TEST(RulesParse, FullRule) {
    const RuleSet set = parse_rules(R"(# experts on the CPU, prefill on the GPU
- match:
    name: "^model\\.layers\\.[0-9]+\\.mlp\\.experts$"
    class: Experts
    dtype: [Q4_K, q4_0]
  replace:
    kernel: cpuk/moe
    device: cpu
    prefill: {kernel: gpuk/moe, device: "cuda:0"}
    kwargs: {threads: 16, scale: 0.5, mode: fast, quoted: "12", on: true}
  recursive: false
- match: {class: Linear}
  replace: {device: "cuda:0"}
)",
                                    "rules.yaml");
    ASSERT_EQ(set.rules.size(), 2u);
    const Rule &r = set.rules[0];
    EXPECT_EQ(r.index, 0);
    EXPECT_EQ(r.pos.line, 2);
    EXPECT_EQ(*r.name, "^model\\.layers\\.[0-9]+\\.mlp\\.experts$");
    EXPECT_TRUE(std::regex_search("model.layers.12.mlp.experts", r.name_re));
    EXPECT_FALSE(std::regex_search("model.layers.12.mlp.experts.x", r.name_re));
    EXPECT_EQ(*r.cls, "Experts");
    EXPECT_EQ(r.dtypes, (std::vector<graft_dtype>{GRAFT_DTYPE_Q4_K, GRAFT_DTYPE_Q4_0}));
    EXPECT_EQ(r.decode.kernel, "cpuk/moe");
    EXPECT_EQ(r.decode.device, "cpu");
    EXPECT_EQ(r.decode.kernel_pos.line, 7);
    EXPECT_EQ(r.decode.kernel_pos.column, 13);
    ASSERT_TRUE(r.prefill);
    EXPECT_EQ(r.prefill->kernel, "gpuk/moe");
    EXPECT_EQ(r.prefill->device, "cuda:0");
    EXPECT_FALSE(r.recursive);
    ASSERT_EQ(r.kwargs.size(), 5u);
    EXPECT_EQ(r.kwargs[0].key, "threads");
    EXPECT_EQ(r.kwargs[0].type, GRAFT_PARAM_INT);
    EXPECT_EQ(r.kwargs[0].i, 16);
    EXPECT_EQ(r.kwargs[1].type, GRAFT_PARAM_FLOAT);
    EXPECT_DOUBLE_EQ(r.kwargs[1].f, 0.5);
    EXPECT_EQ(r.kwargs[2].type, GRAFT_PARAM_STRING);
    EXPECT_EQ(r.kwargs[2].s, "fast");
    EXPECT_EQ(r.kwargs[3].type, GRAFT_PARAM_STRING); // quoted stays text
    EXPECT_EQ(r.kwargs[3].s, "12");
    EXPECT_EQ(r.kwargs[4].type, GRAFT_PARAM_INT);
    EXPECT_EQ(r.kwargs[4].i, 1);

    const Rule &l = set.rules[1];
    EXPECT_FALSE(l.name);
    EXPECT_EQ(*l.cls, "Linear");
    EXPECT_TRUE(l.decode.default_kernel());
    EXPECT_EQ(l.decode.device, "cuda:0");
    EXPECT_TRUE(l.recursive);
    EXPECT_EQ(l.describe(), "rule 1 (rules.yaml:12:3)");
}

TEST(RulesParse, EmptyFileHasNoRules) {
    EXPECT_TRUE(parse_rules("", "e.yaml").rules.empty());
    EXPECT_TRUE(parse_rules("# nothing here\n", "e.yaml").rules.empty());
}

TEST(RulesErrors, YamlSyntax) {
    expect_error(parse_error("- match: {name: [\n"), 2, 1, "end of sequence flow not found");
}

TEST(RulesErrors, NotAList) {
    expect_error(parse_error("match: {name: x}\n"), 1, 1, "a rules file is a list of rules");
}

TEST(RulesErrors, UnknownKeyInRule) {
    expect_error(parse_error("- match: {name: x}\n"
                             "  replace: {kernel: default}\n"
                             "  recursve: false\n"),
                 3, 3, "unknown key 'recursve' in a rule (expected match, replace, recursive)");
}

TEST(RulesErrors, UnknownKeyInMatch) {
    expect_error(parse_error("- match: {nmae: x}\n  replace: {device: cpu}\n"), 1, 11,
                 "unknown key 'nmae' in match");
}

TEST(RulesErrors, UnknownKeyInReplace) {
    expect_error(parse_error("- match: {name: x}\n"
                             "  replace:\n"
                             "    kernal: cpuk/linear\n"),
                 3, 5,
                 "unknown key 'kernal' in replace (expected kernel, device, prefill, kwargs)");
}

TEST(RulesErrors, UnknownKeyInPrefill) {
    expect_error(parse_error("- match: {name: x}\n"
                             "  replace: {prefill: {devices: cpu}}\n"),
                 2, 23, "unknown key 'devices' in prefill");
}

TEST(RulesErrors, BadRegex) {
    expect_error(parse_error("- match:\n    name: \"model.(layers\"\n  replace: {device: cpu}\n"),
                 2, 11, "bad regex \"model.(layers\"");
}

TEST(RulesErrors, MissingReplace) {
    expect_error(parse_error("- match: {name: x}\n- match: {name: y}\n  recursive: false\n"), 1, 3,
                 "rule 0 has no replace");
}

TEST(RulesErrors, MissingMatch) {
    expect_error(parse_error("- replace: {device: cpu}\n"), 1, 3, "rule 0 has no match");
}

TEST(RulesErrors, EmptyMatch) {
    expect_error(parse_error("- match: {}\n  replace: {device: cpu}\n"), 1, 10,
                 "match needs a name, a class or a dtype");
}

TEST(RulesErrors, KernelIsNotPluginSlashImpl) {
    expect_error(parse_error("- match: {name: x}\n  replace: {kernel: amx-cpu}\n"), 2, 21,
                 "is not \"plugin/impl\"");
}

TEST(RulesErrors, UnknownDtype) {
    expect_error(parse_error("- match: {dtype: [F16, Q9_Z]}\n  replace: {device: cpu}\n"), 1, 24,
                 "unknown dtype 'Q9_Z'");
}

TEST(RulesErrors, KwargMustBeScalar) {
    expect_error(parse_error("- match: {name: x}\n  replace: {kwargs: {threads: [1, 2]}}\n"), 2, 31,
                 "kwarg 'threads' must be a scalar");
}

TEST(RulesErrors, RecursiveMustBeBoolean) {
    expect_error(parse_error("- match: {name: x}\n  replace: {device: cpu}\n  recursive: maybe\n"),
                 3, 14, "recursive must be true or false");
}

// ---------------------------------------------------------------- against the registry

std::string check_error(const std::string &yaml, const host::Registry &registry) {
    try {
        check_rules(parse_rules(yaml, "rules.yaml"), registry);
    } catch (const Error &e) {
        return e.what();
    }
    return "(no error)";
}

TEST(RulesErrors, UnknownKernelListsTheKnownOnes) {
    const auto reg = test::cpu_machine();
    const std::string e =
        check_error("- match: {class: Linear}\n  replace: {kernel: cpuk/linear_fast}\n", reg);
    expect_error(e, 2, 21, "unknown kernel 'cpuk/linear_fast'");
    EXPECT_NE(e.find("cpuk/linear, cpuk/linear_ref"), std::string::npos) << e;
    EXPECT_NE(e.find("q4k/linear"), std::string::npos) << e;
}

TEST(RulesErrors, KernelOfARefusedPluginSaysWhy) {
    const auto reg = test::cpu_machine();
    const std::string e =
        check_error("- match: {class: Linear}\n  replace:\n    kernel: npuk/linear\n", reg);
    expect_error(e, 3, 13, "unknown kernel 'npuk/linear'; plugin npuk is refused");
    EXPECT_NE(e.find("init failed: no driver"), std::string::npos) << e;
}

TEST(RulesErrors, UnknownDeviceListsTheKnownOnes) {
    const auto reg = test::cpu_machine();
    expect_error(check_error("- match: {class: Linear}\n  replace: {device: rocm:0}\n", reg), 2, 21,
                 "unknown device 'rocm:0' (known: cpu, cuda:N)");
    expect_error(
        check_error("- match: {class: Linear}\n  replace: {prefill: {device: cuda}}\n", reg), 2, 31,
        "unknown device 'cuda'");
}

TEST(RulesErrors, AbsentDeviceOfADeclaredPrefixIsKnown) {
    const auto reg = test::cpu_machine();
    EXPECT_TRUE(device_known("cuda:0", reg));
    EXPECT_TRUE(device_known("cuda:7", reg));
    EXPECT_TRUE(device_known("cpu", reg));
    EXPECT_FALSE(device_known("cuda:x", reg));
    EXPECT_FALSE(device_known("npu:0", reg)); // its plugin is refused
    EXPECT_EQ(check_error("- match: {class: Linear}\n  replace: {device: \"cuda:1\"}\n", reg),
              "(no error)");
}

// Errors that depend on the module a rule matches come from make_plan, still pointing at
// the rule's kernel.
class PlanErrors : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto path = test::write_tiny("qwen3moe", dir_.path());
        file_ = gguf::File::open(path);
        tree_ = models::build_model(*file_);
    }
    std::string plan_error(const std::string &yaml, const host::Registry &registry) {
        try {
            make_plan(tree_, parse_rules(yaml, "rules.yaml"), registry);
        } catch (const Error &e) {
            return e.what();
        }
        return "(no error)";
    }
    test::TempDir dir_;
    std::unique_ptr<gguf::File> file_;
    models::Model tree_;
};

TEST_F(PlanErrors, KernelOfAnotherOp) {
    expect_error(plan_error("- match: {name: \"self_attn$\"}\n  replace: {kernel: cpuk/linear}\n",
                            test::cpu_machine()),
                 2, 21,
                 "kernel cpuk/linear runs op 'linear', but model.layers.0.self_attn (Attention) "
                 "runs op 'attention'");
}

TEST_F(PlanErrors, KernelThatDoesNotTakeTheDtype) {
    expect_error(plan_error("- match: {class: Linear}\n  replace: {kernel: q4k/linear, device: "
                            "\"cuda:0\"}\n",
                            test::cpu_machine()),
                 2, 21, "kernel q4k/linear does not take F16 weights (it takes Q4_0)");
}

TEST_F(PlanErrors, KernelOnTheWrongKindOfDevice) {
    expect_error(plan_error("- match: {class: Linear}\n  replace: {kernel: gpuk/linear}\n",
                            test::cpu_machine()),
                 2, 21, "kernel gpuk/linear does not run on cpu devices like cpu");
    expect_error(plan_error("- match: {class: Linear}\n"
                            "  replace: {kernel: cpuk/linear, device: \"cuda:0\"}\n",
                            test::cpu_machine()),
                 2, 21, "kernel cpuk/linear does not run on gpu devices like cuda:0");
}

TEST_F(PlanErrors, ExplicitKernelOnAContainer) {
    expect_error(plan_error("- match: {name: \"^model$\"}\n  replace: {kernel: cpuk/add}\n",
                            test::cpu_machine()),
                 2, 21, "model is a Model that runs no op");
}

TEST_F(PlanErrors, UnknownKernelAlsoStopsThePlan) {
    expect_error(plan_error("- match: {class: Linear}\n  replace: {kernel: cpuk/nope}\n",
                            test::cpu_machine()),
                 2, 21, "unknown kernel 'cpuk/nope'");
}

TEST(RulesFiles, UnreadableFileIsNamed) {
    try {
        load_rules("/nonexistent/rules.yaml");
        FAIL() << "no error";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/rules.yaml"), std::string::npos);
    }
}

TEST(RulesFiles, DefaultPathIsNextToTheExecutable) {
    EXPECT_EQ(default_rules_path("qwen3moe", "/opt/graft/bin/graft"),
              std::filesystem::path("/opt/graft/share/graft/rules/qwen3moe-cpu.yaml"));
}

} // namespace
} // namespace graft::rules
