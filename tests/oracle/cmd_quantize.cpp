// The quantize subcommand: llama.cpp's own quantizer makes the quantized files graft's
// kernels are checked on, so the bits are exactly what users download.
#include "oracle.h"

#include <cstdio>
#include <utility>

namespace graft::oracle {
namespace {

// Explicit table: the types graft's conformance tests use, plus their close relatives.
const std::vector<std::pair<std::string, llama_ftype>> &quantize_types() {
    static const std::vector<std::pair<std::string, llama_ftype>> types = {
        {"F32", LLAMA_FTYPE_ALL_F32},          {"F16", LLAMA_FTYPE_MOSTLY_F16},
        {"BF16", LLAMA_FTYPE_MOSTLY_BF16},     {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
        {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
        {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},     {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
        {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},     {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
        {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M},
        {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M},
        {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
    };
    return types;
}

} // namespace

const std::vector<std::string> &quantize_type_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto &[name, ftype] : quantize_types()) {
            out.push_back(name);
        }
        return out;
    }();
    return names;
}

void run_quantize(const QuantizeArgs &args) {
    const llama_ftype *ftype = nullptr;
    for (const auto &[name, type] : quantize_types()) {
        if (name == args.type) {
            ftype = &type;
        }
    }
    if (ftype == nullptr) {
        std::string known;
        for (const std::string &name : quantize_type_names()) {
            known += (known.empty() ? "" : ", ") + name;
        }
        throw OracleError("unknown quantization type '" + args.type + "' (known: " + known + ")");
    }
    llama_model_quantize_params params = llama_model_quantize_default_params();
    params.ftype = *ftype;
    params.nthread = resolve_threads(args.threads);
    // --pure: every quantizable tensor gets the requested type (no mixture), so a kernel of
    // one type is exercised on every layer.
    params.pure = args.pure;
    if (llama_model_quantize(args.input.c_str(), args.output.c_str(), &params) != 0) {
        throw OracleError("llama.cpp could not quantize " + args.input + " to " + args.type +
                          " (its reason is printed above)");
    }
    std::printf("%s\n", args.output.c_str());
}

} // namespace graft::oracle
