// A hash table from byte strings to ids, built once at load and then only read: keys live
// in one arena and the slots in one array (open addressing, linear probing), so building
// a table of a few hundred thousand merges makes no per-entry allocations and a lookup
// touches one or two cache lines.
#pragma once

#include <graft/util/error.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace graft::tokenizer {

class StringTable {
  public:
    // Sizes the table for `n` keys of `bytes` bytes in total; call before inserting.
    void reserve(size_t n, size_t bytes) {
        size_t capacity = 16;
        while (capacity < n * 2) {
            capacity *= 2;
        }
        slots_.assign(capacity, Slot{});
        arena_.reserve(bytes);
    }

    // Maps (key, tag) to value. An existing entry is replaced when `replace`, else kept.
    void insert(std::string_view key, uint32_t tag, int32_t value, bool replace) {
        if ((count_ + 1) * 2 > slots_.size()) {
            grow();
        }
        const uint64_t h = hash(key, tag);
        for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
            Slot &s = slots_[i];
            if (s.value < 0) {
                if (arena_.size() + key.size() > UINT32_MAX) {
                    throw Error("tokenizer vocabulary too large");
                }
                s = Slot{h, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()),
                         tag, value};
                arena_.append(key);
                ++count_;
                return;
            }
            if (matches(s, h, key, tag)) {
                if (replace) {
                    s.value = value;
                }
                return;
            }
        }
    }

    // The value of (key, tag), or -1.
    int32_t find(std::string_view key, uint32_t tag = 0) const {
        if (slots_.empty()) {
            return -1;
        }
        const uint64_t h = hash(key, tag);
        for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
            const Slot &s = slots_[i];
            if (s.value < 0) {
                return -1;
            }
            if (matches(s, h, key, tag)) {
                return s.value;
            }
        }
    }

  private:
    struct Slot {
        uint64_t hash = 0;
        uint32_t offset = 0;
        uint32_t size = 0;
        uint32_t tag = 0;
        int32_t value = -1; // -1: empty
    };

    static uint64_t hash(std::string_view key, uint32_t tag) {
        return std::hash<std::string_view>{}(key) ^ (uint64_t{tag} * 0x9E3779B97F4A7C15ull);
    }
    bool matches(const Slot &s, uint64_t h, std::string_view key, uint32_t tag) const {
        return s.hash == h && s.tag == tag && s.size == key.size() &&
               std::string_view(arena_).substr(s.offset, s.size) == key;
    }
    void grow() {
        std::vector<Slot> old;
        old.swap(slots_);
        slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
        for (const Slot &s : old) {
            if (s.value >= 0) {
                for (size_t i = s.hash & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
                    if (slots_[i].value < 0) {
                        slots_[i] = s;
                        break;
                    }
                }
            }
        }
    }

    std::string arena_;
    std::vector<Slot> slots_;
    size_t count_ = 0;
};

} // namespace graft::tokenizer
