// A human-readable listing of a GGUF file.
#include "layout.h"

#include <graft/gguf/gguf.h>

namespace graft::gguf {

std::string describe(const File &file, size_t max_items) {
    std::string s =
        "GGUF v" + std::to_string(file.version()) + ", " + std::to_string(file.metadata().size()) +
        " keys, " + std::to_string(file.tensors().size()) + " tensors, alignment " +
        std::to_string(file.alignment()) + ", data at offset " +
        std::to_string(file.data_offset()) + " of " + std::to_string(file.file_size()) + " bytes\n";
    for (const KeyValue &kv : file.metadata()) {
        const Value &v = kv.value;
        const std::string type = v.is_array()
                                     ? std::string("array[") + value_type_name(v.array_type) + "]"
                                     : value_type_name(v.type);
        s += printable(kv.key, 200) + " " + type + " = " + v.to_string(max_items) + "\n";
    }
    for (const TensorInfo &t : file.tensors()) {
        s += printable(t.name) + " " + dtype_traits(t.dtype).name + " " +
             shape_string(std::span(t.ne.data(), t.n_dims)) + " offset " +
             std::to_string(t.offset) + " bytes " + std::to_string(t.n_bytes) + "\n";
    }
    return s;
}

} // namespace graft::gguf
