// Writes the seed corpus of the GGUF fuzzer into a directory: each vocabulary GGUF given
// on the command line shrunk to a few KB (arrays cut to 16 elements, strings to 256
// bytes, three small tensors added), files with every value type and several dtypes, and
// every malformed file of the fault tests.
#include "fault_cases.h"
#include "samples.h"

#include <graft/gguf/gguf.h>

#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace {

using namespace graft::gguf;

constexpr size_t kMaxSeedBytes = 4096; // keep in step with -max_len of the fuzz test
constexpr size_t kMaxItems = 16;
constexpr size_t kMaxString = 256;

Value shrunk(Value v) {
    if (v.type == ValueType::STRING && v.as_string().size() > kMaxString)
        v.scalar = v.as_string().substr(0, kMaxString);
    if (v.strings.size() > kMaxItems)
        v.strings.resize(kMaxItems);
    for (std::string &s : v.strings)
        if (s.size() > kMaxString)
            s.resize(kMaxString);
    if (v.ints.size() > kMaxItems)
        v.ints.resize(kMaxItems);
    if (v.floats.size() > kMaxItems)
        v.floats.resize(kMaxItems);
    return v;
}

void add_small_tensors(Writer &w) {
    w.add_tensor("token_embd.weight", GRAFT_DTYPE_F32, {4, 2},
                 graft::gguf::testing::random_bytes(32, 1));
    w.add_tensor("blk.0.attn_q.weight", GRAFT_DTYPE_Q4_0, {32},
                 graft::gguf::testing::random_bytes(18, 2));
    w.add_tensor_zero("output.weight", GRAFT_DTYPE_Q8_0, {32, 2});
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: gguf_make_seeds OUT_DIR [VOCAB.gguf...]\n";
        return 2;
    }
    try {
        const std::filesystem::path out = argv[1];
        std::filesystem::create_directories(out);
        for (int i = 2; i < argc; ++i) {
            const std::filesystem::path vocab = argv[i];
            const auto f = File::open(vocab);
            Writer w;
            for (const KeyValue &kv : f->metadata())
                if (kv.key != "general.alignment")
                    w.set_value(kv.key, shrunk(kv.value));
            add_small_tensors(w);
            w.write(out / ("vocab-" + vocab.stem().string() + ".gguf"));
        }
        Writer values = graft::gguf::testing::writer_with_every_value_type();
        values.write(out / "every-value-type.gguf");
        for (uint32_t alignment : {1u, 64u}) {
            Writer w;
            w.set_string("general.architecture", "llama");
            graft::gguf::testing::add_sample_tensors(w);
            w.write(out / ("dtypes-align" + std::to_string(alignment) + ".gguf"), alignment);
        }
        for (const auto &fault : graft::gguf::testing::fault_cases()) {
            const auto bytes = fault.build();
            if (bytes.size() > kMaxSeedBytes)
                continue;
            std::ofstream(out / ("fault-" + fault.name + ".gguf"), std::ios::binary)
                .write(reinterpret_cast<const char *>(bytes.bytes.data()),
                       static_cast<std::streamsize>(bytes.size()));
        }
    } catch (const std::exception &e) {
        std::cerr << "gguf_make_seeds: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
