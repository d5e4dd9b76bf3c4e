// `graft ab` on a tiny synthetic model: linear layers through amx-cpu's reference kernel
// (plan A) against its fast one (plan B). The report names the kernels that differ, finds
// no divergence before the first changed module and a small, computed one after it; the
// same plan on both sides diverges nowhere; a plan that cannot be built is a clear error.
#include <graft/testing/process.h>
#include <graft/testing/synth.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace graft::testing {
namespace {

namespace json = boost::json;

const std::filesystem::path kGraft = GRAFT_AB_GRAFT;

class Ab : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!is_executable(kGraft))
            GTEST_SKIP() << "the graft program is not built (" << kGraft << ")";
        SynthSpec spec;
        spec.vocab = ""; // graft-synth's own vocabulary: no llama.cpp needed
        spec.dtype = "F16";
        spec.seed = 5;
        if (auto why = synth_unavailable(spec))
            GTEST_SKIP() << *why;
        model_ = synth_model(spec);
        ref_ = write("ref.yaml",
                     "- match: {class: Linear}\n  replace: {kernel: amx-cpu/linear_ref}\n");
        fast_ =
            write("fast.yaml", "- match: {class: Linear}\n  replace: {kernel: amx-cpu/linear}\n");
    }
    std::filesystem::path write(const std::string &name, const std::string &text) {
        const auto path = dir_ / name;
        std::ofstream(path) << text;
        return path;
    }
    ProcessResult ab(const std::filesystem::path &a, const std::filesystem::path &b,
                     std::vector<std::string> extra = {"--json"}) {
        std::vector<std::string> args = {"ab",        model_.string(),
                                         "--a",       a.string(),
                                         "--b",       b.string(),
                                         "-p",        "hello world",
                                         "-p",        "one two three",
                                         "--tokens",  "6",
                                         "--runs",    "2",
                                         "--threads", "1",
                                         "--ctx",     "128"};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_process(kGraft, args, std::chrono::seconds(300));
    }
    static json::value parse(const ProcessResult &r) {
        EXPECT_TRUE(r.ok()) << r.describe();
        return json::parse(r.out);
    }
    TempDir dir_;
    std::filesystem::path model_, ref_, fast_;
};

const json::object &module(const json::value &doc, const std::string &name) {
    for (const json::value &m : doc.at("modules").as_array())
        if (m.at("name").as_string() == name)
            return m.as_object();
    throw std::runtime_error("no module " + name + " in the report");
}

TEST_F(Ab, ReferenceAgainstFastLinear) {
    const json::value doc = parse(ab(ref_, fast_));
    // The kernels that differ: every Linear, and nothing else.
    const json::array &changes = doc.at("kernel_changes").as_array();
    ASSERT_EQ(changes.size(), 1u) << json::serialize(changes);
    EXPECT_EQ(changes[0].at("change").as_string(), "amx-cpu/linear_ref -> amx-cpu/linear");
    int64_t linear_modules = 0, differing = 0;
    double worst = 0;
    for (const json::value &m : doc.at("modules").as_array()) {
        const std::string name(m.at("name").as_string());
        SCOPED_TRACE(name);
        EXPECT_TRUE(m.at("comparable").as_bool());
        EXPECT_GE(m.at("calls").as_int64(), 1);
        const double rel = m.at("rel_err").to_number<double>();
        const double max_abs = m.at("max_abs").to_number<double>();
        EXPECT_TRUE(std::isfinite(rel) && rel >= 0);
        EXPECT_TRUE(std::isfinite(max_abs) && max_abs >= 0);
        EXPECT_EQ(rel == 0, max_abs == 0);
        if (m.at("kernel_a").as_string() != m.at("kernel_b").as_string()) {
            ++differing;
            EXPECT_EQ(m.at("kernel_a").as_string(), "amx-cpu/linear_ref");
            EXPECT_EQ(m.at("kernel_b").as_string(), "amx-cpu/linear");
        }
        linear_modules += name.ends_with("_proj") || name == "lm_head";
        worst = std::max(worst, rel);
    }
    EXPECT_EQ(differing, linear_modules);
    EXPECT_EQ(changes[0].at("modules").as_int64(), linear_modules);
    // Before the first linear layer both plans run the same kernels on the same input.
    EXPECT_EQ(module(doc, "model.embed_tokens").at("rel_err").to_number<double>(), 0);
    EXPECT_EQ(module(doc, "model.layers.0.input_layernorm").at("rel_err").to_number<double>(), 0);
    // After it, the two kernels' rounding shows, and stays small.
    EXPECT_GT(worst, 0) << "no divergence at all: the comparison is not computed";
    EXPECT_LT(module(doc, "lm_head").at("rel_err").to_number<double>(), 0.05);

    const json::object &logits = doc.at("logits").as_object();
    EXPECT_EQ(logits.at("positions").as_int64(), 2 * 6);
    const double agreement = logits.at("top1_agreement").to_number<double>();
    EXPECT_GE(agreement, 0.5);
    EXPECT_LE(agreement, 1.0);
    EXPECT_GT(logits.at("rel_err_max").to_number<double>(), 0);
    EXPECT_LT(logits.at("rel_err_mean").to_number<double>(), 0.05);
    EXPECT_GE(logits.at("kl_mean").to_number<double>(), 0);
    EXPECT_LE(logits.at("kl_mean").to_number<double>(), logits.at("kl_max").to_number<double>());

    const json::object &speed = doc.at("speed").as_object();
    EXPECT_EQ(speed.at("runs").as_int64(), 2);
    for (const char *side : {"a", "b"}) {
        SCOPED_TRACE(side);
        EXPECT_GT(speed.at(side).at("prefill_tps").to_number<double>(), 0);
        EXPECT_GT(speed.at(side).at("decode_tps").to_number<double>(), 0);
        EXPECT_EQ(speed.at(side).at("decode_runs").as_array().size(), 2u);
    }
    const double ratio = speed.at("ratio").at("decode").to_number<double>();
    EXPECT_NEAR(ratio,
                speed.at("b").at("decode_tps").to_number<double>() /
                    speed.at("a").at("decode_tps").to_number<double>(),
                1e-9 * ratio);
}

TEST_F(Ab, IdenticalPlansDivergeNowhere) {
    const json::value doc = parse(ab(fast_, fast_));
    EXPECT_TRUE(doc.at("kernel_changes").as_array().empty());
    ASSERT_FALSE(doc.at("modules").as_array().empty());
    for (const json::value &m : doc.at("modules").as_array()) {
        SCOPED_TRACE(m.at("name").as_string());
        EXPECT_EQ(m.at("max_abs").to_number<double>(), 0);
        EXPECT_EQ(m.at("rel_err").to_number<double>(), 0);
    }
    const json::object &logits = doc.at("logits").as_object();
    EXPECT_EQ(logits.at("rel_err_max").to_number<double>(), 0);
    EXPECT_EQ(logits.at("top1_agreement").to_number<double>(), 1.0);
    EXPECT_EQ(logits.at("kl_max").to_number<double>(), 0);
}

TEST_F(Ab, TextReportReadsAtAGlance) {
    const ProcessResult r = ab(ref_, fast_, {});
    ASSERT_TRUE(r.ok()) << r.describe();
    for (const char *words :
         {"kernels that differ (A -> B):", "amx-cpu/linear_ref -> amx-cpu/linear",
          "module divergence", "top-1 agreement", "KL(A || B)", "prefill", "decode", "B/A"})
        EXPECT_NE(r.out.find(words), std::string::npos) << words << " in:\n" << r.out;
}

TEST_F(Ab, APlanThatCannotBeBuiltIsNamed) {
    const auto bad =
        write("bad.yaml", "- match: {class: Linear}\n  replace: {kernel: amx-cpu/nope}\n");
    const ProcessResult r = ab(ref_, bad);
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_NE(r.err.find("plan B (" + bad.string() + ")"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("unknown kernel 'amx-cpu/nope'"), std::string::npos) << r.err;
}

} // namespace
} // namespace graft::testing
