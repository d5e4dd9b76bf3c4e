// Preference lists in rules (`kernel: [a, b]`, `device: [x, y]`): the first choice that is
// available here wins, explain says which and why the others were passed over, and a rule
// none of whose choices is available is an error naming each with its reason.
#include "../models/synth_fixture.h"
#include "fake_registry.h"

#include <graft/rules/explain.h>
#include <graft/rules/plan.h>
#include <graft/rules/rules.h>
#include <graft/util/error.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace graft::rules {
namespace {

namespace json = boost::json;

class Preferences : public ::testing::Test {
  protected:
    void SetUp() override {
        file_ = gguf::File::open(test::write_tiny("llama", dir_.path()));
        tree_ = models::build_model(*file_);
    }
    Plan plan(const std::string &yaml, const host::Registry &registry) {
        rules_ = parse_rules(yaml, "rules.yaml");
        return make_plan(tree_, rules_, registry);
    }
    std::string plan_error(const std::string &yaml, const host::Registry &registry) {
        try {
            plan(yaml, registry);
        } catch (const Error &e) {
            return e.what();
        }
        return "(no error)";
    }
    const Placement &at(const Plan &p, const std::string &name) {
        const Placement *pl = p.find(name);
        if (!pl)
            throw std::runtime_error("no placement for " + name);
        return *pl;
    }
    test::TempDir dir_;
    std::unique_ptr<gguf::File> file_;
    models::Model tree_;
    RuleSet rules_;
    host::Registry cpu_ = test::cpu_machine();
    host::Registry gpu_ = test::gpu_machine();
};

const char *kGpuThenCpu = R"(
- match: {class: Linear}
  replace:
    kernel: [gpuk/linear, cpuk/linear_ref]
    device: ["cuda:0", cpu]
)";

TEST(PreferenceParse, ListsKeepEveryChoiceInOrderWithPositions) {
    const RuleSet r = parse_rules(kGpuThenCpu, "rules.yaml");
    ASSERT_EQ(r.rules.size(), 1u);
    const Target &t = r.rules[0].decode;
    ASSERT_EQ(t.kernel_list.size(), 2u);
    EXPECT_EQ(t.kernel_list[0].name, "gpuk/linear");
    EXPECT_EQ(t.kernel_list[1].name, "cpuk/linear_ref");
    EXPECT_EQ(t.kernel_list[1].pos.line, 4);
    EXPECT_EQ(t.kernel, "gpuk/linear"); // the first choice, for readers of `kernel`
    ASSERT_EQ(t.device_list.size(), 2u);
    EXPECT_EQ(t.device_list[0].name, "cuda:0");
    EXPECT_EQ(t.device_list[1].name, "cpu");
    EXPECT_TRUE(t.has_preferences());
    EXPECT_FALSE(t.default_kernel());
}

TEST(PreferenceParse, BadListsAreErrorsAtTheirPlace) {
    auto error = [](const std::string &yaml) -> std::string {
        try {
            parse_rules(yaml, "rules.yaml");
        } catch (const Error &e) {
            return e.what();
        }
        return "(no error)";
    };
    EXPECT_NE(error("- match: {class: Linear}\n  replace: {kernel: []}\n").find("list is empty"),
              std::string::npos);
    const std::string twice =
        error("- match: {class: Linear}\n  replace: {kernel: [cpuk/linear, cpuk/linear]}\n");
    EXPECT_EQ(twice.rfind("rules.yaml:2:35: ", 0), 0u) << twice;
    EXPECT_NE(twice.find("listed twice"), std::string::npos) << twice;
    EXPECT_NE(error("- match: {class: Linear}\n  replace: {kernel: [linear]}\n")
                  .find("is not \"plugin/impl\""),
              std::string::npos);
    // A malformed device in a list is caught by check_rules, even if never reached.
    const RuleSet r =
        parse_rules("- match: {class: Linear}\n  replace: {device: [cpu, cuda0]}\n", "rules.yaml");
    try {
        check_rules(r, test::cpu_machine());
        FAIL() << "cuda0 is not a device name";
    } catch (const Error &e) {
        EXPECT_EQ(std::string(e.what()).rfind("rules.yaml:2:27: device 'cuda0'", 0), 0u)
            << e.what();
    }
}

TEST_F(Preferences, FirstAvailableWins) {
    // With the GPU here, the first pair of the lists.
    const Plan g = plan(kGpuThenCpu, gpu_);
    const Placement &gq = at(g, "model.layers.0.self_attn.q_proj");
    EXPECT_EQ(gq.decode.kernel, "gpuk/linear");
    EXPECT_EQ(gq.decode.device, "cuda:0");
    EXPECT_TRUE(gq.decode.passed_over.empty());
    EXPECT_TRUE(g.warnings.empty() || g.warnings[0].find("matched no module") == std::string::npos);

    // Without it, the CPU and the first kernel of the list that runs there.
    const Plan c = plan(kGpuThenCpu, cpu_);
    const Placement &cq = at(c, "model.layers.0.self_attn.q_proj");
    EXPECT_EQ(cq.decode.kernel, "cpuk/linear_ref");
    EXPECT_EQ(cq.decode.device, "cpu");
    EXPECT_TRUE(cq.decode.device_present);
    ASSERT_EQ(cq.decode.passed_over.size(), 2u);
    EXPECT_EQ(cq.decode.passed_over[0], "cuda:0: device not present here");
    EXPECT_EQ(cq.decode.passed_over[1], "gpuk/linear on cpu: does not run on cpu devices like cpu");
    EXPECT_NO_THROW(check_runnable(c, cpu_));
}

TEST_F(Preferences, KernelListOnOneDeviceAndDefaultAsAChoice) {
    // A kernel of a plugin that is not loaded is passed over with the plugin's reason.
    const Plan p = plan(R"(
- match: {name: "^lm_head$"}
  replace: {kernel: [npuk/linear, q4k/linear, default]}
)",
                        cpu_);
    const Placement &head = at(p, "lm_head");
    EXPECT_EQ(head.decode.kernel, "cpuk/linear"); // the CPU's default for F16
    ASSERT_EQ(head.decode.passed_over.size(), 2u);
    EXPECT_EQ(head.decode.passed_over[0],
              "npuk/linear on cpu: plugin npuk is refused (init failed: no driver)");
    EXPECT_NE(head.decode.passed_over[1].find("q4k/linear on cpu:"), std::string::npos);
    // Modules the rule does not match are untouched.
    EXPECT_TRUE(at(p, "model.layers.0.self_attn.q_proj").decode.passed_over.empty());
}

TEST_F(Preferences, ChildrenInheritTheChosenDevice) {
    const std::string rules = R"(
- match: {name: "^model\\.layers\\.1$"}
  replace: {device: ["cuda:0", cpu]}
)";
    const Plan g = plan(rules, gpu_);
    EXPECT_EQ(at(g, "model.layers.1.self_attn.q_proj").decode.device, "cuda:0");
    EXPECT_EQ(at(g, "model.layers.1.self_attn.q_proj").decode.kernel, "gpuk/linear");
    const Plan c = plan(rules, cpu_);
    EXPECT_EQ(at(c, "model.layers.1").decode.device, "cpu");
    EXPECT_EQ(at(c, "model.layers.1.self_attn.q_proj").decode.device, "cpu");
    EXPECT_EQ(at(c, "model.layers.1.self_attn.q_proj").decode.kernel, "cpuk/linear");
    EXPECT_EQ(at(c, "model.layers.1").decode.passed_over,
              std::vector<std::string>{"cuda:0: device not present here"});
}

TEST_F(Preferences, NoneAvailableIsAClearError) {
    const std::string error = plan_error(R"(
- match: {class: Linear}
  replace:
    kernel: [gpuk/linear, npuk/linear]
    device: ["cuda:0"]
)",
                                         cpu_);
    EXPECT_EQ(error.rfind("rules.yaml:4:13: none of the choices of rule 0", 0), 0u) << error;
    EXPECT_NE(error.find("can run model.layers.0.self_attn.q_proj here"), std::string::npos)
        << error;
    EXPECT_NE(error.find("cuda:0: device not present here"), std::string::npos) << error;
    // On the GPU machine the refused plugin's kernel is never needed.
    EXPECT_EQ(plan_error(R"(
- match: {class: Linear}
  replace: {kernel: [gpuk/linear, npuk/linear], device: ["cuda:0"]}
)",
                         gpu_),
              "(no error)");
}

TEST_F(Preferences, ExplainSaysWhichAndWhy) {
    const Plan c = plan(kGpuThenCpu, cpu_);
    const std::string text = explain_text(tree_, rules_, c, "tiny.gguf");
    EXPECT_NE(text.find("preference lists:"), std::string::npos) << text;
    EXPECT_NE(text.find("rule 0, model.layers.0.self_attn.q_proj and "), std::string::npos) << text;
    EXPECT_NE(text.find(": cpuk/linear_ref on cpu; passed over cuda:0: device not present here; "
                        "gpuk/linear on cpu: does not run on cpu devices like cpu"),
              std::string::npos)
        << text;

    const json::value doc = json::parse(explain_json(tree_, rules_, c, "tiny.gguf"));
    bool seen = false;
    for (const auto &m : doc.at("modules").as_array()) {
        const json::array &passed = m.at("passed_over").as_array();
        if (m.at("name").as_string() == "model.layers.1.mlp.down_proj") {
            seen = true;
            EXPECT_EQ(m.at("kernel").as_string(), "cpuk/linear_ref");
            ASSERT_EQ(passed.size(), 2u);
            EXPECT_EQ(passed[0].as_string(), "cuda:0: device not present here");
        } else if (m.at("class").as_string() != "Linear") {
            EXPECT_TRUE(passed.empty()) << m.at("name").as_string();
        }
    }
    EXPECT_TRUE(seen);

    // Nothing passed over: no section.
    const Plan g = plan(kGpuThenCpu, gpu_);
    EXPECT_EQ(explain_text(tree_, rules_, g, "tiny.gguf").find("preference lists:"),
              std::string::npos);
}

TEST_F(Preferences, PrefillListsChooseOnTheirOwn) {
    const Plan p = plan(R"(
- match: {name: "^lm_head$"}
  replace:
    kernel: cpuk/linear
    prefill: {kernel: [gpuk/linear, cpuk/linear_ref], device: ["cuda:0", cpu]}
)",
                        cpu_);
    const Placement &head = at(p, "lm_head");
    EXPECT_EQ(head.decode.kernel, "cpuk/linear");
    EXPECT_TRUE(head.decode.passed_over.empty());
    ASSERT_TRUE(head.prefill);
    EXPECT_EQ(head.prefill->kernel, "cpuk/linear_ref");
    EXPECT_EQ(head.prefill->device, "cpu");
    EXPECT_EQ(head.prefill->passed_over.size(), 2u);
}

TEST_F(Preferences, KernelListOnAContainerIsAnError) {
    const std::string error = plan_error(R"(
- match: {name: "^model$"}
  replace: {kernel: [cpuk/add]}
)",
                                         cpu_);
    EXPECT_NE(error.find("model is a Model that runs no op"), std::string::npos) << error;
}

} // namespace
} // namespace graft::rules
