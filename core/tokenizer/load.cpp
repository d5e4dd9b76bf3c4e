// Loading a vocabulary from tokenizer.ggml.* metadata. The defaults, the special tokens
// recognised by their text and the end-of-generation set follow llama.cpp's vocabulary
// loader, so that a GGUF file tokenizes and stops the same way in both.
#include "impl.h"

#include <graft/gguf/gguf.h>
#include <graft/util/error.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>

namespace graft::tokenizer {

namespace {

// Per pre-tokenizer name: the split rules and the flags llama.cpp sets with them.
struct PreConfig {
    const char *name;
    PreTokenizer kind;
    bool clean_spaces;
    bool ignore_merges;
    bool add_bos;
    bool no_default_bos;
};

constexpr PreConfig kPreConfigs[] = {
    {"default", PreTokenizer::default_bpe, true, false, false, false},
    {"llama3", PreTokenizer::llama3, true, true, true, false},
    {"llama-v3", PreTokenizer::llama3, true, true, true, false},
    {"llama-bpe", PreTokenizer::llama3, true, true, true, false},
    {"falcon3", PreTokenizer::llama3, true, true, true, false},
    {"falcon-h1", PreTokenizer::llama3, true, true, true, false},
    {"pixtral", PreTokenizer::llama3, true, true, true, false},
    {"midm-2.0", PreTokenizer::llama3, true, true, true, false},
    {"lfm2", PreTokenizer::llama3, true, true, true, false},
    {"dbrx", PreTokenizer::llama3, true, false, false, false},
    {"smaug-bpe", PreTokenizer::llama3, true, false, false, false},
    {"glm4", PreTokenizer::llama3, true, false, false, true},
    {"chatglm-bpe", PreTokenizer::llama3, true, false, false, true},
    {"deepseek-llm", PreTokenizer::deepseek_llm, false, false, false, false},
    {"deepseek-coder", PreTokenizer::deepseek_coder, false, false, false, false},
    {"deepseek-v3", PreTokenizer::deepseek_v3, false, false, false, false},
    {"hunyuan-dense", PreTokenizer::deepseek_v3, false, false, false, false},
    {"hy_v4", PreTokenizer::deepseek_v3, false, false, false, false},
    {"joyai-llm", PreTokenizer::deepseek_v3, false, false, false, false},
    {"falcon", PreTokenizer::falcon, true, false, false, false},
    {"gpt-2", PreTokenizer::gpt2, true, false, false, false},
    {"phi-2", PreTokenizer::gpt2, true, false, false, false},
    {"mpt", PreTokenizer::gpt2, true, false, false, false},
    {"olmo", PreTokenizer::gpt2, true, false, false, false},
    {"jais", PreTokenizer::gpt2, true, false, false, false},
    {"exaone4", PreTokenizer::gpt2, true, false, false, false},
    {"gigachat", PreTokenizer::gpt2, true, false, false, false},
    {"a.x-4.0", PreTokenizer::gpt2, true, false, false, false},
    {"mellum", PreTokenizer::gpt2, true, false, false, false},
    {"trillion", PreTokenizer::gpt2, false, false, false, false},
    {"granite-docling", PreTokenizer::gpt2, false, false, false, false},
    {"starcoder", PreTokenizer::starcoder, true, false, false, false},
    {"refact", PreTokenizer::starcoder, true, false, false, false},
    {"codeshell", PreTokenizer::starcoder, true, false, false, false},
    {"exaone", PreTokenizer::starcoder, true, false, false, false},
    {"minerva-7b", PreTokenizer::starcoder, true, false, false, false},
    {"mellum2", PreTokenizer::starcoder, true, false, false, false},
    {"command-r", PreTokenizer::starcoder, false, false, false, false},
    {"smollm", PreTokenizer::starcoder, false, false, false, false},
    {"qwen2", PreTokenizer::qwen2, false, false, false, false},
    {"deepseek-r1-qwen", PreTokenizer::qwen2, false, false, false, false},
    {"kormo", PreTokenizer::qwen2, false, false, false, false},
    {"f2llmv2", PreTokenizer::qwen2, false, false, false, false},
    {"hunyuan", PreTokenizer::qwen2, false, false, false, false},
    {"solar-open", PreTokenizer::qwen2, false, false, false, false},
    {"grok-2", PreTokenizer::qwen2, false, false, false, false},
    {"megrez", PreTokenizer::qwen2, true, false, false, false},
    {"stablelm2", PreTokenizer::qwen2, true, false, false, false},
    {"qwen35", PreTokenizer::qwen35, false, false, false, false},
};

// Token texts that name special tokens when the metadata does not (first present wins).
// clang-format off
constexpr const char *kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr const char *kEomTexts[] = {"<|eom_id|>"};
constexpr const char *kFimPreTexts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
    "<|code_prefix|>", "<|prefix|>"};
constexpr const char *kFimSufTexts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
    "<|code_suffix|>", "<|suffix|>"};
constexpr const char *kFimMidTexts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
    "<|code_middle|>", "<|middle|>"};
constexpr const char *kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr const char *kFimRepTexts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr const char *kFimSepTexts[] = {"<|file_sep|>"};
// Tokens that end generation wherever they are in the vocabulary.
constexpr const char *kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
    "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~["};
// Rendered even when special tokens are not (gpt-oss's message framing).
constexpr const char *kAlwaysRendered[] = {
    "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};
// clang-format on

const gguf::Value &require_array(const gguf::File &file, const char *key) {
    const gguf::Value *v = file.find(key);
    if (v == nullptr) {
        throw Error(file.name() + ": " + key + " is missing; the tokenizer needs it");
    }
    if (!v->is_array()) {
        throw Error(file.name() + ": " + key + " must be an array, not " +
                    gguf::value_type_name(v->type));
    }
    return *v;
}

bool is_integer_type(gguf::ValueType t) {
    using T = gguf::ValueType;
    return t == T::UINT8 || t == T::INT8 || t == T::UINT16 || t == T::INT16 || t == T::UINT32 ||
           t == T::INT32 || t == T::UINT64 || t == T::INT64;
}

std::string hex_byte_token(int b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    return buf;
}

class Loader {
  public:
    Loader(const gguf::File &file, Tokenizer::Impl &v) : file_(file), v_(v) {}

    void run() {
        read_model();
        read_tokens();
        read_special_ids();
        detect_special_tokens();
        build_eog();
        finish();
    }

  private:
    const gguf::File &file_;
    Tokenizer::Impl &v_;
    int32_t fim_pre_ = -1, fim_suf_ = -1, fim_mid_ = -1;
    int32_t fim_pad_ = -1, fim_rep_ = -1, fim_sep_ = -1;
    int32_t sep_ = -1, mask_ = -1;

    void read_model() {
        v_.model_name = file_.get_string("tokenizer.ggml.model", "");
        v_.pre_name = file_.get_string("tokenizer.ggml.pre", "");
        if (v_.model_name.empty()) {
            throw Error(file_.name() + ": no tokenizer in this file (tokenizer.ggml.model is "
                                       "missing)");
        }
        if (v_.model_name == "llama") {
            v_.kind = VocabKind::spm;
            v_.bos = 1;
            v_.eos = 2;
            v_.unk = 0;
            v_.add_space_prefix = true;
            v_.add_bos = true;
        } else if (v_.model_name == "gpt2") {
            v_.kind = VocabKind::bpe;
            v_.bos = 11; // llama.cpp's defaults, replaced by the metadata's ids
            v_.eos = 11;
            v_.clean_spaces = true;
            read_merges();
            select_pre_tokenizer();
        } else {
            throw Error(file_.name() + ": tokenizer model '" + v_.model_name +
                        "' is not supported (graft reads 'llama' and 'gpt2')");
        }
        v_.add_space_prefix =
            file_.get_bool("tokenizer.ggml.add_space_prefix", v_.add_space_prefix);
        if (v_.pre_name.empty()) {
            v_.pre_name = "default";
        }
    }

    void select_pre_tokenizer() {
        const std::string name = v_.pre_name.empty() ? "default" : v_.pre_name;
        for (const PreConfig &c : kPreConfigs) {
            if (name == c.name) {
                v_.pre = c.kind;
                v_.clean_spaces = c.clean_spaces;
                v_.ignore_merges = c.ignore_merges;
                v_.add_bos = c.add_bos;
                if (c.no_default_bos) {
                    v_.bos = -1;
                }
                return;
            }
        }
        std::string known;
        for (const PreConfig &c : kPreConfigs) {
            known += known.empty() ? "" : ", ";
            known += c.name;
        }
        throw Error(file_.name() + ": pre-tokenizer '" + name +
                    "' is not supported; known: " + known);
    }

    void read_merges() {
        const gguf::Value &merges = require_array(file_, "tokenizer.ggml.merges");
        if (merges.array_type != gguf::ValueType::STRING) {
            throw Error(file_.name() + ": tokenizer.ggml.merges must hold strings");
        }
        size_t bytes = 0;
        for (const std::string &m : merges.strings) {
            bytes += m.size();
        }
        v_.merge_ranks.reserve(merges.strings.size(), bytes);
        std::string joined;
        for (size_t rank = 0; rank < merges.strings.size(); ++rank) {
            // "left right", cut at the first space after the first byte; a line without
            // one is no pair and never applies, as in llama.cpp.
            const std::string &m = merges.strings[rank];
            const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
            if (space == std::string::npos) {
                continue;
            }
            joined.assign(m, 0, space);
            joined.append(m, space + 1);
            v_.merge_ranks.insert(joined, static_cast<uint32_t>(space), static_cast<int32_t>(rank),
                                  false); // lowest rank wins
        }
    }

    void read_tokens() {
        const gguf::Value &list = require_array(file_, "tokenizer.ggml.tokens");
        if (list.array_type != gguf::ValueType::STRING) {
            throw Error(file_.name() + ": tokenizer.ggml.tokens must hold strings");
        }
        const size_t n = list.strings.size();
        if (n == 0 || n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
            throw Error(file_.name() + ": tokenizer.ggml.tokens has " + std::to_string(n) +
                        " tokens");
        }
        const gguf::Value *scores = file_.find("tokenizer.ggml.scores");
        if (scores != nullptr) {
            const bool ok = scores->is_array() && (scores->array_type == gguf::ValueType::FLOAT32 ||
                                                   scores->array_type == gguf::ValueType::INT32);
            if (!ok || scores->array_size() < n) {
                throw Error(file_.name() + ": tokenizer.ggml.scores must be an array of " +
                            std::to_string(n) + " float32 or int32 values");
            }
        }
        const gguf::Value *types = file_.find("tokenizer.ggml.token_type");
        if (types != nullptr) {
            if (!types->is_array() || types->array_type != gguf::ValueType::INT32 ||
                types->ints.size() < n) {
                throw Error(file_.name() + ": tokenizer.ggml.token_type must be an array of " +
                            std::to_string(n) + " int32 values");
            }
        }
        v_.tokens.resize(n);
        for (size_t i = 0; i < n; ++i) {
            TokenData &t = v_.tokens[i];
            t.text = list.strings[i];
            if (t.text.empty()) {
                t.text = "[EMPTY_" + std::to_string(i) + "]";
            }
            if (scores != nullptr) {
                t.score = scores->array_type == gguf::ValueType::FLOAT32
                              ? static_cast<float>(scores->floats[i])
                              : static_cast<float>(scores->ints[i]);
            }
            if (types != nullptr) {
                t.attr = attr_of_type(types->ints[i]);
            }
        }
        size_t bytes = 0;
        for (const TokenData &t : v_.tokens) {
            bytes += t.text.size();
        }
        v_.token_ids.reserve(n, bytes);
        for (size_t i = 0; i < n; ++i) {
            v_.token_ids.insert(v_.tokens[i].text, 0, static_cast<int32_t>(i), true); // last wins
        }
    }

    static uint16_t attr_of_type(int64_t type) {
        switch (type) {
        case 1:
            return kAttrNormal;
        case 2:
            return kAttrUnknown;
        case 3:
            return kAttrControl;
        case 4:
            return kAttrUserDefined;
        case 5:
            return kAttrUnused;
        case 6:
            return kAttrByte;
        default:
            return kAttrUndefined;
        }
    }

    void read_special_ids() {
        const int32_t n = v_.n_tokens();
        const std::pair<const char *, int32_t *> keys[] = {
            {"tokenizer.ggml.bos_token_id", &v_.bos},
            {"tokenizer.ggml.eos_token_id", &v_.eos},
            {"tokenizer.ggml.eot_token_id", &v_.eot},
            {"tokenizer.ggml.eom_token_id", &v_.eom},
            {"tokenizer.ggml.unknown_token_id", &v_.unk},
            {"tokenizer.ggml.seperator_token_id", &sep_},
            {"tokenizer.ggml.padding_token_id", &v_.pad},
            {"tokenizer.ggml.mask_token_id", &mask_},
            {"tokenizer.ggml.fim_pre_token_id", &fim_pre_},
            {"tokenizer.ggml.fim_suf_token_id", &fim_suf_},
            {"tokenizer.ggml.fim_mid_token_id", &fim_mid_},
            {"tokenizer.ggml.fim_pad_token_id", &fim_pad_},
            {"tokenizer.ggml.fim_rep_token_id", &fim_rep_},
            {"tokenizer.ggml.fim_sep_token_id", &fim_sep_},
            {"tokenizer.ggml.prefix_token_id", &fim_pre_}, // older names of the FIM ids
            {"tokenizer.ggml.suffix_token_id", &fim_suf_},
            {"tokenizer.ggml.middle_token_id", &fim_mid_},
        };
        for (const auto &[key, id] : keys) {
            if (*id >= n) {
                *id = -1; // a default that does not exist in this vocabulary
            }
            const gguf::Value *v = file_.find(key);
            if (v == nullptr) {
                continue;
            }
            if (v->is_array() || !is_integer_type(v->type)) {
                throw Error(file_.name() + ": " + key + " must be an integer");
            }
            const int64_t value = v->as_int();
            if (value >= 0 && value < n) {
                *id = static_cast<int32_t>(value); // out of range: the default stays
            }
        }
        v_.add_bos = file_.get_bool("tokenizer.ggml.add_bos_token", v_.add_bos);
        v_.add_eos = file_.get_bool("tokenizer.ggml.add_eos_token", v_.add_eos);
    }

    // Control-looking tokens that the metadata did not name are found by their text and
    // made control tokens (so that they are not rendered as text).
    template <size_t N> void detect(int32_t &id, const char *const (&texts)[N]) {
        if (id >= 0) {
            return;
        }
        for (const char *text : texts) {
            const int32_t found = v_.find(text);
            if (found >= 0) {
                id = found;
                v_.tokens[found].attr |= kAttrControl;
                return;
            }
        }
    }

    void detect_special_tokens() {
        detect(v_.eot, kEotTexts);
        detect(v_.eom, kEomTexts);
        detect(fim_pre_, kFimPreTexts);
        detect(fim_suf_, kFimSufTexts);
        detect(fim_mid_, kFimMidTexts);
        detect(fim_pad_, kFimPadTexts);
        detect(fim_rep_, kFimRepTexts);
        detect(fim_sep_, kFimSepTexts);
        // Reserved control tokens ("<unused12>") are marked unused.
        for (size_t i = 0; i < v_.tokens.size(); ++i) {
            TokenData &t = v_.tokens[i];
            if ((t.attr & kAttrControl) && t.text.find("unused") != std::string::npos &&
                v_.find(t.text) == static_cast<int32_t>(i)) {
                t.attr |= kAttrUnused;
            }
        }
    }

    void build_eog() {
        v_.eog.assign(v_.tokens.size(), 0);
        for (int32_t id : {fim_pad_, fim_rep_, fim_sep_}) {
            mark_eog(id);
        }
        for (const char *text : kEogTexts) {
            const int32_t id = v_.find(text);
            if (id >= 0) {
                mark_eog(id);
                v_.tokens[id].attr |= kAttrControl;
            }
        }
        for (const char *text : kAlwaysRendered) {
            const int32_t id = v_.find(text);
            if (id >= 0) {
                v_.tokens[id].attr = kAttrUserDefined;
            }
        }
        for (int32_t id : {v_.eos, v_.eot, v_.eom}) {
            mark_eog(id);
        }
        // Harmony-style vocabularies end a turn with <|return|>/<|call|>; their <|end|>
        // only closes a message, so it must not stop generation.
        const int32_t end = eog_with_text("<|end|>");
        const bool has_call = eog_with_text("<|call|>") >= 0 || eog_with_text("<|calls|>") >= 0;
        if (end >= 0 && has_call &&
            (eog_with_text("<|return|>") >= 0 || eog_with_text("<|flush|>") >= 0)) {
            v_.eog[end] = 0;
            v_.tokens[end].attr = kAttrUserDefined;
        }
        // Gemma 4 ends tool responses with <|tool_response>; its </s> is plain text.
        const int32_t s = eog_with_text("</s>");
        if (s >= 0 && eog_with_text("<|tool_response>") >= 0) {
            v_.eog[s] = 0;
            v_.tokens[s].attr = kAttrNormal;
        }
    }

    void mark_eog(int32_t id) {
        if (v_.valid(id)) {
            v_.eog[id] = 1;
        }
    }

    int32_t eog_with_text(const char *text) const {
        const int32_t id = v_.find(text);
        return id >= 0 && v_.eog[id] ? id : -1;
    }

    // Phi-3's special tokens swallow the white space after them (its tokenizer.json says
    // rstrip); llama.cpp recognises the model by its name.
    void strip_rules(const std::vector<int32_t> &special) {
        std::string name = file_.get_string("general.name", "");
        for (char &c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) {
            return;
        }
        for (int32_t id : special) {
            v_.tokens[id].attr |= kAttrRstrip;
        }
        auto set = [&](const char *text, bool on) {
            if (const int32_t id = v_.find(text); id >= 0) {
                v_.tokens[id].attr =
                    on ? (v_.tokens[id].attr | kAttrRstrip) : (v_.tokens[id].attr & ~kAttrRstrip);
            }
        };
        set("</s>", true);
        for (const char *text : {"<unk>", "<s>", "<|endoftext|>"}) {
            set(text, false);
        }
    }

    void finish() {
        std::vector<int32_t> special;
        for (size_t i = 0; i < v_.tokens.size(); ++i) {
            if (v_.tokens[i].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) {
                special.push_back(static_cast<int32_t>(i));
            }
        }
        std::stable_sort(special.begin(), special.end(), [&](int32_t a, int32_t b) {
            return v_.tokens[a].text.size() > v_.tokens[b].text.size();
        });
        strip_rules(special);
        v_.specials.build(v_.tokens, std::move(special));
        for (int b = 0; b < 256; ++b) {
            const std::string raw(1, static_cast<char>(b));
            int32_t byte_token = v_.find(hex_byte_token(b));
            v_.byte_tokens[b] = byte_token >= 0 ? byte_token : v_.find(raw);
            v_.single_bytes[b] = v_.find(raw);
        }
        v_.pieces.resize(v_.tokens.size());
        for (size_t i = 0; i < v_.tokens.size(); ++i) {
            v_.pieces[i] = v_.make_piece(static_cast<int32_t>(i));
        }
    }
};

} // namespace

void SpecialTokenIndex::build(const std::vector<TokenData> &tokens,
                              std::vector<int32_t> ids_in_order) {
    order_ = std::move(ids_in_order);
    children_.clear();
    ends_here_.assign(1, {});
    for (size_t rank = 0; rank < order_.size(); ++rank) {
        uint64_t node = 0;
        for (unsigned char c : tokens[order_[rank]].text) {
            const uint64_t key = (node << 8) | c;
            auto it = children_.find(key);
            if (it == children_.end()) {
                it = children_.emplace(key, static_cast<int32_t>(ends_here_.size())).first;
                ends_here_.emplace_back();
            }
            node = static_cast<uint64_t>(it->second);
        }
        ends_here_[node].push_back(static_cast<int32_t>(rank));
    }
}

std::vector<int32_t> SpecialTokenIndex::occurring(std::string_view text) const {
    std::vector<int32_t> result;
    if (order_.empty()) {
        return result;
    }
    std::vector<uint8_t> seen(order_.size(), 0);
    for (size_t i = 0; i < text.size(); ++i) {
        uint64_t node = 0;
        for (size_t j = i; j < text.size(); ++j) {
            auto it = children_.find((node << 8) | static_cast<unsigned char>(text[j]));
            if (it == children_.end()) {
                break;
            }
            node = static_cast<uint64_t>(it->second);
            for (int32_t rank : ends_here_[node]) {
                seen[rank] = 1;
            }
        }
    }
    for (size_t rank = 0; rank < order_.size(); ++rank) {
        if (seen[rank]) {
            result.push_back(order_[rank]);
        }
    }
    return result;
}

std::unique_ptr<Tokenizer::Impl> load_vocab(const gguf::File &file) {
    auto impl = std::make_unique<Tokenizer::Impl>();
    Loader(file, *impl).run();
    return impl;
}

} // namespace graft::tokenizer
