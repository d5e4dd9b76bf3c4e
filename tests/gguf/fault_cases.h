// One malformed GGUF file per class of fault the reader must refuse: the classes of
// llama.cpp's tests/test-gguf.cpp and of the GGUF CVEs, plus graft's own limits.
#pragma once

#include "gguf_bytes.h"

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace graft::gguf::testing {

struct FaultCase {
    std::string name;               // a test name: letters and digits only
    std::vector<std::string> words; // each must appear in the FormatError's message
    // Whether llama.cpp's reader refuses the file as well (checked by the oracle test);
    // false for graft's own stricter rules.
    bool llama_refuses;
    std::function<GgufBytes()> build;
};

const std::vector<FaultCase> &fault_cases();
// The cases llama.cpp refuses as well.
std::vector<FaultCase> fault_cases_llama_refuses();

// For GoogleTest's listing of parameterised tests: the case's name, not its bytes.
inline void PrintTo(const FaultCase &fault, std::ostream *os) {
    *os << fault.name;
}

} // namespace graft::gguf::testing
