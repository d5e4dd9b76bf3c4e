// Text to tokens: special tokens are cut out first, then each stretch of plain text goes
// through SentencePiece merging or pre-tokenization and BPE merging. Both merge loops keep
// the symbols in a linked list and the candidate pairs in a priority queue, so a text of n
// characters costs O(n log n).
#include "impl.h"

#include <graft/util/error.h>

#include <algorithm>
#include <cstdint>
#include <queue>
#include <string>

namespace graft::tokenizer {

namespace {

// A stretch of the input: a special token (token >= 0) or raw text [begin, end).
struct Fragment {
    int32_t token;
    size_t begin;
    size_t end;
};

bool is_c_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

// Cuts the special tokens out of `text`, longest first; each one splits the raw text left
// by the ones before it, at every occurrence from left to right.
std::vector<Fragment> split_special(const Tokenizer::Impl &v, std::string_view text,
                                    bool parse_special) {
    std::vector<Fragment> fragments{{-1, 0, text.size()}};
    std::vector<Fragment> next;
    for (int32_t id : v.specials.occurring(text)) {
        const TokenData &t = v.tokens[id];
        if (!parse_special && (t.attr & (kAttrControl | kAttrUnknown))) {
            continue; // user-defined tokens are matched either way
        }
        next.clear();
        for (const Fragment &f : fragments) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            const std::string_view raw = text.substr(0, f.end);
            size_t pos = f.begin;
            for (size_t m = raw.find(t.text, pos); m != std::string_view::npos;
                 m = raw.find(t.text, pos)) {
                size_t left_end = m;
                while ((t.attr & kAttrLstrip) && left_end > pos && is_c_space(raw[left_end - 1])) {
                    --left_end;
                }
                if (left_end > pos) {
                    next.push_back({-1, pos, left_end});
                }
                next.push_back({id, m, m + t.text.size()});
                pos = m + t.text.size();
                while ((t.attr & kAttrRstrip) && pos < f.end && is_c_space(raw[pos])) {
                    ++pos;
                }
            }
            if (pos < f.end) {
                next.push_back({-1, pos, f.end});
            }
        }
        fragments.swap(next);
    }
    return fragments;
}

// A symbol of a word being merged: bytes [start, start + size) of the word, linked to its
// neighbours. A symbol merged into its left neighbour has size 0.
struct Symbol {
    int prev;
    int next;
    uint32_t start;
    uint32_t size;
};

std::vector<Symbol> split_characters(std::string_view text) {
    if (text.size() >= UINT32_MAX) {
        throw Error("cannot tokenize " + std::to_string(text.size()) +
                    " bytes at once (4 GiB at most)");
    }
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    size_t offset = 0;
    while (offset < text.size()) {
        const size_t len =
            std::min(unicode::utf8_sequence_length(static_cast<uint8_t>(text[offset])),
                     text.size() - offset);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, offset + len == text.size() ? -1 : index + 1,
                           static_cast<uint32_t>(offset), static_cast<uint32_t>(len)});
        offset += len;
    }
    return symbols;
}

// A pair of neighbouring symbols that may merge. `size` is their joined size when queued:
// if either symbol changed since, the sizes no longer add up and the pair is stale.
struct Candidate {
    int left;
    int right;
    float score;  // SentencePiece: higher merges first
    int32_t rank; // BPE: lower merges first
    uint32_t size;
};

struct SpmOrder {
    bool operator()(const Candidate &a, const Candidate &b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};
struct BpeOrder {
    bool operator()(const Candidate &a, const Candidate &b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

template <typename Order, typename Score>
void merge_symbols(std::vector<Symbol> &symbols, Score score_pair) {
    std::priority_queue<Candidate, std::vector<Candidate>, Order> queue;
    auto consider = [&](int left, int right) {
        if (left < 0 || right < 0) {
            return;
        }
        Candidate c{left, right, 0.0f, 0, symbols[left].size + symbols[right].size};
        if (score_pair(symbols[left], symbols[right], c)) {
            queue.push(c);
        }
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) {
        consider(i - 1, i);
    }
    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol &left = symbols[c.left];
        Symbol &right = symbols[c.right];
        if (left.size == 0 || right.size == 0 || left.size + right.size != c.size) {
            continue;
        }
        left.size += right.size;
        right.size = 0;
        left.next = right.next;
        if (right.next >= 0) {
            symbols[right.next].prev = c.left;
        }
        consider(left.prev, c.left);
        consider(c.left, left.next);
    }
}

} // namespace

void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<int32_t> &out) const {
    std::vector<Symbol> symbols = split_characters(text);
    if (symbols.empty()) {
        return;
    }
    merge_symbols<SpmOrder>(symbols, [&](const Symbol &l, const Symbol &r, Candidate &c) {
        const int32_t id = find(text.substr(l.start, l.size + r.size));
        if (id < 0) {
            return false;
        }
        c.score = tokens[id].score;
        return true;
    });
    for (int i = 0; i != -1; i = symbols[i].next) {
        const std::string_view piece = text.substr(symbols[i].start, symbols[i].size);
        const int32_t id = find(piece);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (unsigned char b : piece) { // byte fallback
            const int32_t byte_id = byte_tokens[b] >= 0 ? byte_tokens[b] : unk;
            if (byte_id >= 0) {
                out.push_back(byte_id);
            }
        }
    }
}

void Tokenizer::Impl::encode_bpe(std::string_view text, std::vector<int32_t> &out) const {
    const unicode::DecodedText decoded = unicode::decode_lenient(text);
    std::string word;
    std::string utf8;
    for (const WordSpan &span : pre_tokenize(pre, decoded)) {
        // The word's UTF-8 bytes, each shown as its byte-level symbol.
        word.clear();
        for (size_t k = span.begin; k < span.end; ++k) {
            utf8.clear();
            unicode::append_utf8(utf8, decoded.cps[k]);
            for (unsigned char b : utf8) {
                word += unicode::byte_to_symbol(b);
            }
        }
        if (ignore_merges) {
            if (const int32_t id = find(word); id >= 0) {
                out.push_back(id);
                continue;
            }
        }
        std::vector<Symbol> symbols = split_characters(word);
        const std::string_view w(word);
        merge_symbols<BpeOrder>(symbols, [&](const Symbol &l, const Symbol &r, Candidate &c) {
            c.rank = merge_rank(w.substr(l.start, l.size + r.size), l.size);
            return c.rank >= 0;
        });
        for (int i = 0; i != -1 && !symbols.empty(); i = symbols[i].next) {
            const std::string_view piece = w.substr(symbols[i].start, symbols[i].size);
            const int32_t id = find(piece);
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            // Not in the vocabulary: tokens of its single bytes, where there are any.
            for (unsigned char b : piece) {
                if (single_bytes[b] >= 0) {
                    out.push_back(single_bytes[b]);
                }
            }
        }
    }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
    const Impl &v = *impl_;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    const bool with_bos = add_special && v.add_bos && v.bos >= 0;
    const bool with_eos = add_special && v.add_eos && v.eos >= 0;
    if (with_bos) {
        out.push_back(v.bos);
    }
    const std::vector<Fragment> fragments =
        text.empty() ? std::vector<Fragment>{} : split_special(v, text, parse_special);
    // SentencePiece puts a space before the first stretch of text and before any that
    // follows a special token.
    bool after_special = true;
    std::string escaped;
    for (const Fragment &f : fragments) {
        if (f.token >= 0) {
            out.push_back(f.token);
            after_special = true;
            continue;
        }
        const std::string_view raw = text.substr(f.begin, f.end - f.begin);
        if (v.kind == VocabKind::bpe) {
            v.encode_bpe(raw, out);
            continue;
        }
        escaped.clear();
        if (v.add_space_prefix && after_special) {
            escaped += "\xE2\x96\x81";
        }
        for (char c : raw) {
            if (c == ' ') {
                escaped += "\xE2\x96\x81"; // U+2581
            } else {
                escaped += c;
            }
        }
        v.encode_spm(escaped, out);
        after_special = false;
    }
    if (with_eos) {
        out.push_back(v.eos);
    }
    return out;
}

} // namespace graft::tokenizer
