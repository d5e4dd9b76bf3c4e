// Typed access to "<arch>.*" metadata keys with range checks (private to core/models).
#pragma once

#include <graft/gguf/gguf.h>
#include <graft/models/module.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace graft::models {

class MetaReader {
  public:
    MetaReader(const gguf::File &file, std::string arch);
    std::string key(std::string_view suffix) const; // "<arch>.<suffix>"
    // Scalars; an integer key may also be a per-layer array whose values are all equal.
    // Absent keys give nullopt; keys of the wrong kind throw graft::Error naming the key.
    std::optional<int64_t> get_int(std::string_view suffix) const;
    std::optional<double> get_float(std::string_view suffix) const;
    std::optional<std::string> get_string(std::string_view suffix) const;
    std::optional<bool> get_bool(std::string_view suffix) const;
    int64_t require_int(std::string_view suffix, int64_t lo, int64_t hi) const;
    int64_t int_or(std::string_view suffix, int64_t fallback, int64_t lo, int64_t hi) const;
    int64_t check_range(std::string_view suffix, int64_t v, int64_t lo, int64_t hi) const;

  private:
    const gguf::File &file_;
    std::string arch_;
};

} // namespace graft::models
