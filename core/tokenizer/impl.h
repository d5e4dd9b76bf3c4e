// The state behind graft::tokenizer::Tokenizer, shared by loading, encoding and decoding.
#pragma once

#include "pretokenize.h"
#include "string_table.h"

#include <graft/tokenizer/tokenizer.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace graft::tokenizer {

// Token attributes, from tokenizer.ggml.token_type and the adjustments made at load time.
enum TokenAttr : uint16_t {
    kAttrUndefined = 1 << 0,
    kAttrUnknown = 1 << 1,
    kAttrUnused = 1 << 2,
    kAttrNormal = 1 << 3,
    kAttrControl = 1 << 4,
    kAttrUserDefined = 1 << 5,
    kAttrByte = 1 << 6,
    kAttrLstrip = 1 << 7, // white space before it in the text is dropped
    kAttrRstrip = 1 << 8, // white space after it in the text is dropped
};

struct TokenData {
    std::string text;
    float score = 0.0f;
    uint16_t attr = kAttrNormal;
};

// Special tokens (control, user-defined, unknown) found in raw text. A trie over their
// bytes tells which of them occur at all, so that splitting the text around them only
// visits those (vocabularies carry up to thousands of special tokens).
class SpecialTokenIndex {
  public:
    void build(const std::vector<TokenData> &tokens, std::vector<int32_t> ids_in_order);
    // Special token ids in splitting order (longer text first), restricted to those that
    // occur in `text`.
    std::vector<int32_t> occurring(std::string_view text) const;
    bool empty() const { return order_.empty(); }

  private:
    std::vector<int32_t> order_;                     // all, in splitting order
    std::vector<int32_t> rank_;                      // id -> index in order_, -1 if absent
    std::unordered_map<uint64_t, int32_t> children_; // (node << 8 | byte) -> node
    std::vector<std::vector<int32_t>> ends_here_;    // node -> ids whose text ends there
};

enum class VocabKind { spm, bpe };

struct Tokenizer::Impl {
    VocabKind kind = VocabKind::spm;
    std::string model_name;
    std::string pre_name;
    PreTokenizer pre = PreTokenizer::default_bpe;

    std::vector<TokenData> tokens;
    StringTable token_ids; // text -> id
    // BPE merges: the pair's joined bytes, tagged with the size of its left part -> rank.
    // The two symbols are adjacent in the word, so no string is built to look one up.
    StringTable merge_ranks;

    int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
    bool add_bos = false;
    bool add_eos = false;
    bool add_space_prefix = false; // SentencePiece: " " before the text, dropped on decode
    bool clean_spaces = false;     // decode: " ," -> "," and the like
    bool ignore_merges = false;    // BPE: a word that is a token is taken whole

    std::vector<uint8_t> eog; // id -> 1 when end of generation
    SpecialTokenIndex specials;
    std::array<int32_t, 256> byte_tokens{};  // SentencePiece byte fallback (<0xNN>)
    std::array<int32_t, 256> single_bytes{}; // BPE: token whose text is that one byte
    std::vector<std::string> pieces;         // token_to_piece(id, render_special=true)

    int32_t find(std::string_view text) const { return token_ids.find(text); }
    int32_t merge_rank(std::string_view joined, size_t left_size) const {
        return merge_ranks.find(joined, static_cast<uint32_t>(left_size));
    }
    int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
    bool valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < tokens.size(); }

    // encode.cpp
    void encode_spm(std::string_view text, std::vector<int32_t> &out) const;
    void encode_bpe(std::string_view text, std::vector<int32_t> &out) const;
    // decode.cpp
    std::string make_piece(int32_t id) const;
};

// Reads the vocabulary from the GGUF metadata (load.cpp).
std::unique_ptr<Tokenizer::Impl> load_vocab(const gguf::File &file);

} // namespace graft::tokenizer
