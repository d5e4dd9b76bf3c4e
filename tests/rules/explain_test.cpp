// `graft rules explain`: text and JSON for all seven families with the shipped rules
// files, the hybrid files on a machine without a GPU, and no weight data read on a
// multi-GB file.
#include "../models/synth_fixture.h"
#include "fake_registry.h"

#include <graft/rules/explain.h>
#include <graft/rules/plan.h>
#include <graft/rules/rules.h>

#include <graft/plugin.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

namespace graft::rules {
namespace {

namespace json = boost::json;

const std::filesystem::path kRulesDir = std::filesystem::path(GRAFT_SOURCE_DIR) / "rules";

// A CPU plugin and, as gpu.md describes them, cuda and marlin plugins without a device.
host::Registry hybrid_machine() {
    using test::kernel;
    const std::vector<graft_dtype> cuda_linear = {
        GRAFT_DTYPE_F32, GRAFT_DTYPE_F16, GRAFT_DTYPE_BF16, GRAFT_DTYPE_Q8_0, GRAFT_DTYPE_Q4_0};
    auto cuda = test::plugin("cuda", "cuda", {},
                             {kernel("cuda", "add", "add", {}, test::kGpu),
                              kernel("cuda", "swiglu", "swiglu", {}, test::kGpu),
                              kernel("cuda", "rmsnorm", "rmsnorm", {GRAFT_DTYPE_F32}, test::kGpu),
                              kernel("cuda", "rope", "rope", {}, test::kGpu),
                              kernel("cuda", "embedding", "embedding", cuda_linear, test::kGpu),
                              kernel("cuda", "linear", "linear", cuda_linear, test::kGpu),
                              kernel("cuda", "attention", "attention", {}, test::kGpu)});
    auto marlin = test::plugin(
        "marlin", "cuda", {},
        {kernel("marlin", "linear", "linear", {GRAFT_DTYPE_Q4_0, GRAFT_DTYPE_Q4_K}, test::kGpu)});
    return host::Registry::from_records({test::cpu_plugin("amx-cpu"), cuda, marlin});
}

struct Case {
    std::unique_ptr<gguf::File> file;
    models::Model tree;
    RuleSet rules;
    Plan plan;
};

Case explain_case(const std::filesystem::path &model, const std::filesystem::path &rules,
                  const host::Registry &registry) {
    Case c;
    c.file = gguf::File::open(model);
    c.tree = models::build_model(*c.file);
    c.rules = load_rules(rules);
    c.plan = make_plan(c.tree, c.rules, registry);
    return c;
}

std::vector<std::string> lines(const std::string &text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        out.push_back(l);
    return out;
}

// The table row of a module: below the table's heading, the line that starts with its
// name and a space.
std::string row(const std::string &text, const std::string &name) {
    bool in_table = false;
    for (const std::string &l : lines(text)) {
        if (l.rfind("module ", 0) == 0)
            in_table = true;
        else if (in_table && l.rfind(name + " ", 0) == 0)
            return l;
    }
    return "";
}

// `words` appear in `line` in this order.
void expect_in_order(const std::string &line, const std::vector<std::string> &words) {
    size_t at = 0;
    for (const std::string &w : words) {
        const size_t found = line.find(w, at);
        ASSERT_NE(found, std::string::npos)
            << "'" << w << "' after column " << at << " in: " << line;
        at = found + w.size();
    }
}

class ExplainFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(ExplainFamily, ShippedCpuRulesTextAndJson) {
    const std::string family = GetParam();
    test::TempDir dir;
    const auto registry = test::shipped_cpu_machine();
    const Case c = explain_case(test::write_tiny(family, dir.path()),
                                kRulesDir / (family + "-cpu.yaml"), registry);
    EXPECT_TRUE(c.plan.warnings.empty()) << c.plan.warnings.front();
    for (int n : c.plan.rule_matches)
        EXPECT_GT(n, 0);
    EXPECT_NO_THROW(check_runnable(c.plan, registry));

    const std::string text = explain_text(c.tree, c.rules, c.plan, "tiny.gguf");
    EXPECT_EQ(text.rfind("model  tiny.gguf: " + family, 0), 0u) << text.substr(0, 200);
    EXPECT_NE(text.find((kRulesDir / (family + "-cpu.yaml")).string()), std::string::npos);
    for (const Placement &p : c.plan.placements) {
        const models::Module &m = *p.module;
        SCOPED_TRACE(m.name);
        const std::string r = row(text, m.name.empty() ? "(root)" : m.name);
        ASSERT_FALSE(r.empty());
        std::vector<std::string> cells = {m.cls};
        if (!m.weights.empty()) {
            cells.push_back(models::shape_string(*m.weights[0].tensor));
            cells.push_back(sdk::dtype_name(m.weights[0].tensor->dtype));
        }
        cells.push_back(p.rule < 0 ? "-" : std::to_string(p.rule));
        cells.push_back(m.op.empty() ? "-" : p.decode.kernel);
        cells.push_back("cpu");
        if (!m.weights.empty())
            cells.push_back(human_bytes(m.own_bytes()));
        expect_in_order(r, cells);
    }
    EXPECT_NE(text.find("weights per device:\n  cpu  " +
                        std::string(10 - human_bytes(c.tree.weight_bytes()).size(), ' ') +
                        human_bytes(c.tree.weight_bytes())),
              std::string::npos)
        << text;

    const json::value doc = json::parse(explain_json(c.tree, c.rules, c.plan, "tiny.gguf"));
    const json::array &modules = doc.at("modules").as_array();
    ASSERT_EQ(modules.size(), c.plan.placements.size());
    for (size_t i = 0; i < modules.size(); ++i) {
        const Placement &p = c.plan.placements[i];
        const json::object &o = modules[i].as_object();
        EXPECT_EQ(o.at("name").as_string(), p.module->name);
        EXPECT_EQ(o.at("class").as_string(), p.module->cls);
        EXPECT_EQ(o.at("op").as_string(), p.module->op);
        EXPECT_EQ(o.at("device").as_string(), "cpu");
        EXPECT_EQ(o.at("rule").as_int64(), p.rule);
        EXPECT_EQ(o.at("bytes").to_number<uint64_t>(), p.module->own_bytes());
        EXPECT_EQ(o.at("weights").as_array().size(), p.module->weights.size());
        if (p.module->op.empty())
            EXPECT_TRUE(o.at("kernel").is_null());
        else
            EXPECT_EQ(o.at("kernel").as_string(), p.decode.kernel);
    }
    const json::array &totals = doc.at("totals").as_array();
    ASSERT_EQ(totals.size(), 1u);
    EXPECT_EQ(totals[0].at("bytes").to_number<uint64_t>(), c.tree.weight_bytes());
    EXPECT_EQ(doc.at("model").at("family").as_string(), family);
    EXPECT_TRUE(doc.at("warnings").as_array().empty());
}

INSTANTIATE_TEST_SUITE_P(AllFamilies, ExplainFamily,
                         ::testing::Values("llama", "qwen2", "qwen3", "mixtral", "qwen2moe",
                                           "qwen3moe", "deepseek2"));

class ExplainHybrid : public ::testing::TestWithParam<std::string> {};

TEST_P(ExplainHybrid, ExpertsOnCpuRestOnTheAbsentGpu) {
    const std::string family = GetParam();
    test::TempDir dir;
    const auto registry = hybrid_machine();
    const auto rules = kRulesDir / (family + "-hybrid.yaml");

    // Float weights: the marlin rule has nothing to do.
    const Case f16 = explain_case(test::write_tiny(family, dir.path()), rules, registry);
    const Placement *experts = f16.plan.find("model.layers.1.mlp.experts");
    ASSERT_NE(experts, nullptr);
    EXPECT_EQ(experts->decode.device, "cpu");
    EXPECT_EQ(experts->decode.kernel, "amx-cpu/moe");
    EXPECT_EQ(f16.plan.find("model.layers.1.mlp.gate")->decode.device, "cpu");
    EXPECT_EQ(f16.plan.find("model.embed_tokens")->decode.device, "cpu");
    const Placement *o_proj = f16.plan.find("model.layers.1.self_attn.o_proj");
    EXPECT_EQ(o_proj->decode.device, "cuda:0");
    EXPECT_FALSE(o_proj->decode.device_present);
    EXPECT_EQ(o_proj->decode.kernel, "cuda/linear");
    EXPECT_EQ(f16.plan.find("lm_head")->decode.device, "cuda:0");
    const std::string text = explain_text(f16.tree, f16.rules, f16.plan, "m.gguf");
    EXPECT_NE(text.find("rule 2 (" + rules.string() + ":"), std::string::npos) << text;
    EXPECT_NE(text.find("matched no module"), std::string::npos);
    EXPECT_NE(text.find("device cuda:0 is not present here"), std::string::npos);
    EXPECT_NE(text.find("(not present here)"), std::string::npos);
    EXPECT_THROW(check_runnable(f16.plan, registry), Error);

    // 4-bit weights: linear layers go through marlin.
    test::Rewrite rw;
    rw.retype = test::matrices_as(GRAFT_DTYPE_Q4_0);
    test::rewrite(dir / (family + ".gguf"), dir / "q4.gguf", rw);
    const Case q4 = explain_case(dir / "q4.gguf", rules, registry);
    EXPECT_EQ(q4.plan.find("model.layers.1.self_attn.o_proj")->decode.kernel, "marlin/linear");
    EXPECT_EQ(q4.plan.find("lm_head")->decode.kernel, "marlin/linear");
    EXPECT_EQ(q4.plan.find("model.layers.1.mlp.experts")->decode.kernel, "amx-cpu/moe");
    EXPECT_GT(q4.plan.rule_matches[2], 0);
    ASSERT_EQ(q4.plan.totals.size(), 2u);
    EXPECT_EQ(q4.plan.totals[0].device, "cpu");
    EXPECT_EQ(q4.plan.totals[1].device, "cuda:0");
    EXPECT_FALSE(q4.plan.totals[1].present);
    EXPECT_EQ(q4.plan.totals[0].bytes + q4.plan.totals[1].bytes, q4.tree.weight_bytes());
    if (family == "deepseek2") {
        bool mla = false;
        for (const auto &w : q4.plan.warnings)
            mla |= w.find("no kernel runs op 'attention_mla' on cuda:0") != std::string::npos;
        EXPECT_TRUE(mla);
    }
}

INSTANTIATE_TEST_SUITE_P(MoeFamilies, ExplainHybrid,
                         ::testing::Values("mixtral", "qwen2moe", "qwen3moe", "deepseek2"));

TEST(Explain, JsonOfOneModule) {
    test::TempDir dir;
    const auto registry = test::gpu_machine();
    auto file = gguf::File::open(test::write_tiny("qwen2", dir.path()));
    const models::Model tree = models::build_model(*file);
    const RuleSet rules = parse_rules(R"(
- match: {name: "^model\\.layers\\.0\\.self_attn\\.q_proj$"}
  replace:
    kernel: cpuk/linear_ref
    prefill: {device: "cuda:0"}
    kwargs: {threads: 4, tag: q}
)",
                                      "r.yaml");
    const Plan plan = make_plan(tree, rules, registry);
    const json::value doc = json::parse(explain_json(tree, rules, plan, "q.gguf"));
    const json::object *q = nullptr;
    for (const auto &m : doc.at("modules").as_array())
        if (m.at("name").as_string() == "model.layers.0.self_attn.q_proj")
            q = &m.as_object();
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->at("class").as_string(), "Linear");
    EXPECT_EQ(q->at("kernel").as_string(), "cpuk/linear_ref");
    EXPECT_EQ(q->at("rule").as_int64(), 0);
    EXPECT_EQ(q->at("dtype").as_string(), "F16");
    EXPECT_EQ(q->at("shape").as_array(), (json::array{256, 256}));
    EXPECT_EQ(q->at("bytes").to_number<uint64_t>(), 256u * 256u * 2u + 256u * 4u);
    const json::array &w = q->at("weights").as_array();
    ASSERT_EQ(w.size(), 2u);
    EXPECT_EQ(w[1].at("role").as_string(), "bias");
    EXPECT_EQ(w[1].at("tensor").as_string(), "blk.0.attn_q.bias");
    EXPECT_EQ(q->at("prefill").at("device").as_string(), "cuda:0");
    EXPECT_EQ(q->at("prefill").at("kernel").as_string(), "gpuk/linear");
    EXPECT_EQ(q->at("kwargs").at("threads").as_int64(), 4);
    EXPECT_EQ(q->at("kwargs").at("tag").as_string(), "q");
    EXPECT_EQ(doc.at("rules").at("matches").as_array(), (json::array{1}));
}

TEST(Explain, HumanBytes) {
    EXPECT_EQ(human_bytes(0), "0 B");
    EXPECT_EQ(human_bytes(1023), "1023 B");
    EXPECT_EQ(human_bytes(1536), "1.5 KiB");
    EXPECT_EQ(human_bytes(uint64_t{3} << 30), "3.0 GiB");
}

// ---------------------------------------------------------------- no weight data read

// Pages of [begin, end) of the file that are in the page cache.
size_t resident_pages(int fd, uint64_t file_size, uint64_t begin, uint64_t end) {
    void *map = ::mmap(nullptr, file_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return SIZE_MAX;
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> vec((file_size + page - 1) / page);
    size_t n = 0;
    if (::mincore(map, file_size, vec.data()) == 0)
        for (size_t i = begin / page; i < vec.size() && i * page < end; ++i)
            n += vec[i] & 1u;
    else
        n = SIZE_MAX;
    ::munmap(map, file_size);
    return n;
}

TEST(Explain, MultiGigabyteFileReadsNoWeightData) {
    test::TempDir dir;
    models::SynthOptions o;
    o.shape = models::synth_preset("qwen3-30b-a3b-8l", "");
    o.sparse = true;
    const auto path = dir / "big.gguf";
    models::write_synthetic(o, path);
    const uint64_t size = std::filesystem::file_size(path);
    ASSERT_GT(size, uint64_t{8} << 30);

    const int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ::fsync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    // Header reads may pull in the pages right after the header (read-ahead): look past
    // a generous window after the start of the data.
    uint64_t data_start = 0;
    {
        const auto f = gguf::File::open(path);
        data_start = f->data_offset();
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const uint64_t window_end = data_start + (uint64_t{64} << 20);
    if (resident_pages(fd, size, window_end, size) != 0)
        GTEST_SKIP() << "cannot evict the file's pages here, so cannot tell reads apart";

    const auto registry = test::cpu_machine();
    const Case c = explain_case(path, kRulesDir / "qwen3moe-cpu.yaml", registry);
    EXPECT_FALSE(explain_text(c.tree, c.rules, c.plan, path.string()).empty());
    EXPECT_FALSE(explain_json(c.tree, c.rules, c.plan, path.string()).empty());
    EXPECT_EQ(resident_pages(fd, size, window_end, size), 0u);

    // The measurement notices a read: touch one expert tensor deep in the file.
    const gguf::TensorInfo *t = c.file->tensor("blk.7.ffn_down_exps.weight");
    ASSERT_NE(t, nullptr);
    ASSERT_GT(data_start + t->offset, window_end);
    volatile std::byte sink = c.file->tensor_data(*t)[0];
    (void)sink;
    EXPECT_GT(resident_pages(fd, size, window_end, size), 0u);
    ::close(fd);
}

// ---------------------------------------------------------------- the command

std::string run(const std::string &command, int *status) {
    std::string out;
    FILE *p = ::popen(command.c_str(), "r");
    if (!p)
        return out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
        out.append(buf, n);
    *status = ::pclose(p);
    return out;
}

TEST(ExplainCommand, DefaultRulesJsonAndHybridText) {
    const std::filesystem::path graft = std::filesystem::path(GRAFT_BINARY_DIR) / "bin/graft";
    if (!std::filesystem::exists(graft))
        GTEST_SKIP() << "the graft program is not built (" << graft << ")";
    test::TempDir dir;
    const auto model = test::write_tiny("qwen3moe", dir.path());
    int status = -1;
    const std::string out =
        run(graft.string() + " rules explain " + model.string() + " --json 2>/dev/null", &status);
    ASSERT_EQ(status, 0) << out;
    const json::value doc = json::parse(out);
    EXPECT_EQ(doc.at("model").at("family").as_string(), "qwen3moe");
    EXPECT_NE(std::string(doc.at("rules").at("file").as_string()).find("qwen3moe-cpu.yaml"),
              std::string::npos);
    size_t n_modules = 0;
    auto f = gguf::File::open(model);
    models::build_model(*f).root->visit([&](const models::Module &) { ++n_modules; });
    EXPECT_EQ(doc.at("modules").as_array().size(), n_modules);

    const std::string text = run(graft.string() + " rules explain " + model.string() + " --rules " +
                                     (kRulesDir / "qwen3moe-hybrid.yaml").string() + " 2>&1",
                                 &status);
    // Without a marlin plugin built here the hybrid file names an unknown kernel; with it,
    // the GPU placements show as not present (unless this machine has one).
    if (status == 0)
        EXPECT_NE(text.find("model.layers.1.mlp.experts"), std::string::npos) << text;
    else
        EXPECT_NE(text.find("unknown kernel 'marlin/linear'"), std::string::npos) << text;

    const std::string bad =
        run(graft.string() + " rules explain " + model.string() + " --rules /nonexistent.yaml 2>&1",
            &status);
    EXPECT_NE(status, 0);
    EXPECT_NE(bad.find("cannot read rules file /nonexistent.yaml"), std::string::npos) << bad;
}

} // namespace
} // namespace graft::rules
