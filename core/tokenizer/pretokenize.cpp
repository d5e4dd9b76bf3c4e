// Each pre-tokenizer is a list of stages. A stage refines every chunk the previous stage
// produced (the first stage sees the whole text), as llama.cpp applies a model's split
// regexes one after another. Two kinds of stage exist:
//  - scanners, which cut a chunk into consecutive tokens (GPT-2, Llama 3, Qwen2 rules);
//  - searches, which find the leftmost match of a pattern again and again, keeping the text
//    between matches as chunks too (one chunk per gap), like a regex iterator.
// Every match function below is the hand-coded form of the regex in its comment, with
// ECMAScript semantics: alternatives tried in order, greedy quantifiers that back off.
#include "pretokenize.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace graft::tokenizer {

using unicode::CharBits;
using unicode::DecodedText;
using unicode::kOutside;

namespace {

constexpr uint32_t kNoChar = 0xFFFFFFFF;

// One chunk of the decoded text; positions past `end` read as "no character".
struct Chunk {
    const uint32_t *cps;
    const CharBits *bits;
    size_t begin;
    size_t end;
    uint32_t cp(size_t i) const { return i < end ? cps[i] : kNoChar; }
    CharBits at(size_t i) const { return i < end ? bits[i] : kOutside; }
};

using Stage = void (*)(const Chunk &, std::vector<WordSpan> &);

bool is_space(CharBits b) {
    return b != kOutside && unicode::is_space(b);
}
bool is_newline(uint32_t cp) {
    return cp == '\r' || cp == '\n';
}
uint32_t ascii_lower(uint32_t cp) {
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

// Length of the run of positions from `pos` that satisfy `pred`.
template <typename Pred> size_t run_length(const Chunk &c, size_t pos, Pred pred) {
    size_t p = pos;
    while (p < c.end && pred(p)) {
        ++p;
    }
    return p - pos;
}

// 's 't 're 've 'm 'll 'd at `pos`: the length matched, or 0.
size_t contraction(const Chunk &c, size_t pos, bool fold_case) {
    if (c.cp(pos) != '\'' || pos + 1 >= c.end) {
        return 0;
    }
    auto fold = [&](uint32_t cp) { return fold_case ? ascii_lower(cp) : cp; };
    const uint32_t a = fold(c.cp(pos + 1));
    if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        return 2;
    }
    if (pos + 2 >= c.end) {
        return 0;
    }
    const uint32_t b = fold(c.cp(pos + 2));
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        return 3;
    }
    return 0;
}

// White space at `pos` as "\s+(?!\S)|\s+": a run followed by a non-space gives back its last
// space (which then starts the next word), unless the run is a single space.
size_t space_run_length(const Chunk &c, size_t pos) {
    const size_t n = run_length(c, pos, [&](size_t p) { return is_space(c.bits[p]); });
    if (n > 1 && pos + n < c.end) {
        return n - 1;
    }
    return n;
}

// \s*[\r\n]+ at `pos`: the white space up to and including its last line break, or 0.
size_t spaces_through_last_newline(const Chunk &c, size_t pos) {
    size_t after_newline = pos;
    for (size_t p = pos; p < c.end && is_space(c.bits[p]); ++p) {
        if (is_newline(c.cps[p])) {
            after_newline = p + 1;
        }
    }
    return after_newline - pos;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t gpt2_step(const Chunk &c, size_t pos) {
    if (size_t n = contraction(c, pos, false)) {
        return n;
    }
    const bool lead_space = c.cp(pos) == ' ';
    const CharBits first = c.at(pos + (lead_space ? 1 : 0));
    const size_t body = pos + (lead_space ? 1 : 0);
    auto other = [](CharBits b) {
        return b != kOutside && !unicode::is_space(b) && !unicode::is_letter(b) &&
               !unicode::is_number(b);
    };
    if (unicode::is_letter(first)) {
        return body - pos +
               run_length(c, body, [&](size_t p) { return unicode::is_letter(c.bits[p]); });
    }
    if (unicode::is_number(first)) {
        return body - pos +
               run_length(c, body, [&](size_t p) { return unicode::is_number(c.bits[p]); });
    }
    if (other(first)) {
        return body - pos + run_length(c, body, [&](size_t p) { return other(c.bits[p]); });
    }
    const size_t n = space_run_length(c, pos);
    return n > 0 ? n : 1;
}

// Llama 3 (kMaxDigits 3), Qwen2 (1), Qwen3.5 (1, kMarks: \p{M} joins \p{L}):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
template <size_t kMaxDigits, bool kMarks> size_t word_step(const Chunk &c, size_t pos) {
    if (size_t n = contraction(c, pos, true)) {
        return n;
    }
    auto letter = [](CharBits b) {
        return unicode::is_letter(b) || (kMarks && unicode::is_mark(b));
    };
    const uint32_t cp = c.cp(pos);
    const CharBits bits = c.at(pos);
    if (!is_newline(cp) && !unicode::is_number(bits) && (letter(bits) || letter(c.at(pos + 1)))) {
        return 1 + run_length(c, pos + 1, [&](size_t p) { return letter(c.bits[p]); });
    }
    if (unicode::is_number(bits)) {
        const size_t n =
            run_length(c, pos, [&](size_t p) { return unicode::is_number(c.bits[p]); });
        return std::min(n, kMaxDigits);
    }
    auto other = [&](CharBits b) {
        return b != kOutside && !unicode::is_space(b) && !letter(b) && !unicode::is_number(b);
    };
    const size_t body = pos + (cp == ' ' ? 1 : 0);
    if (other(c.at(body))) {
        size_t p = body + run_length(c, body, [&](size_t q) { return other(c.bits[q]); });
        p += run_length(c, p, [&](size_t q) { return is_newline(c.cps[q]); });
        return p - pos;
    }
    // \s*[\r\n]+: whitespace up to and including its last line break.
    if (size_t n = spaces_through_last_newline(c, pos)) {
        return n;
    }
    const size_t spaces = space_run_length(c, pos);
    return spaces > 0 ? spaces : 1;
}

template <size_t (*Step)(const Chunk &, size_t)>
void scan(const Chunk &c, std::vector<WordSpan> &out) {
    for (size_t pos = c.begin; pos < c.end;) {
        const size_t len = Step(c, pos);
        out.push_back({pos, pos + len});
        pos += len;
    }
}

// Leftmost-match search: Match returns the length of the match at a position, 0 for none.
template <size_t (*Match)(const Chunk &, size_t)>
void search(const Chunk &c, std::vector<WordSpan> &out) {
    size_t gap = c.begin;
    for (size_t pos = c.begin; pos < c.end;) {
        const size_t len = Match(c, pos);
        if (len == 0) {
            ++pos;
            continue;
        }
        if (gap < pos) {
            out.push_back({gap, pos});
        }
        out.push_back({pos, pos + len});
        pos += len;
        gap = pos;
    }
    if (gap < c.end) {
        out.push_back({gap, c.end});
    }
}

// --- character sets ------------------------------------------------------------------

struct Range {
    uint32_t first;
    uint32_t last;
};

template <size_t N> bool in_ranges(const Range (&ranges)[N], uint32_t cp) {
    const auto *it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                                      [](uint32_t v, const Range &r) { return v < r.first; });
    return it != std::begin(ranges) && cp <= (it - 1)->last;
}

// Sets written as explicit code point ranges never hold non-ASCII white space: llama.cpp
// matches them with such space replaced by a vertical tab.
template <size_t N> bool in_set(const Range (&ranges)[N], const Chunk &c, size_t pos) {
    if (pos >= c.end) {
        return false;
    }
    const uint32_t cp = c.cps[pos];
    return !(cp >= 0x80 && unicode::is_space(c.bits[pos])) && in_ranges(ranges, cp);
}

// DeepSeek LLM's letters: the cased letters of Latin, Greek, Cyrillic, Armenian, Georgian,
// Cherokee, Glagolitic, Coptic, Deseret, Osage, Old Hungarian, Warang Citi, Adlam...
constexpr Range kDeepseekLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},
    {0xD8, 0xF6},       {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},
    {0x295, 0x2AF},     {0x370, 0x373},     {0x376, 0x377},     {0x37B, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},     {0x38C, 0x38C},
    {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},
    {0xA680, 0xA69B},   {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
// [!-/:-~！-／：-～‘-‟　-。]
constexpr Range kDeepseekPunct[] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0x2018, 0x201F},
                                    {0x3000, 0x3002}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}};
// [一-龥ࠀ-一가-퟿]
constexpr Range kDeepseekCjk[] = {{0x800, 0x9FA5}, {0xAC00, 0xD7FF}};
// [一-龥぀-ゟ゠-ヿ]
constexpr Range kDeepseekV3CjkKana[] = {{0x3040, 0x30FF}, {0x4E00, 0x9FA5}};

bool is_letter_at(const Chunk &c, size_t p) {
    return unicode::is_letter(c.at(p));
}
bool is_number_at(const Chunk &c, size_t p) {
    return unicode::is_number(c.at(p));
}
bool is_punct_at(const Chunk &c, size_t p) {
    return unicode::is_punct(c.at(p));
}
bool is_ascii_digit(uint32_t cp) {
    return cp >= '0' && cp <= '9';
}
bool is_ascii_letter(uint32_t cp) {
    return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
}
bool is_ascii_punct_or_symbol(uint32_t cp) {
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
}

// \s?X+ where X is tested by `in_x`.
template <typename InX> size_t optional_space_then_run(const Chunk &c, size_t pos, InX in_x) {
    if (is_space(c.at(pos)) && in_x(pos + 1)) {
        return 1 + run_length(c, pos + 1, in_x);
    }
    return run_length(c, pos, in_x);
}

// --- search patterns -----------------------------------------------------------------

// [\r\n]
size_t match_newline(const Chunk &c, size_t pos) {
    return is_newline(c.cps[pos]) ? 1 : 0;
}
// \p{N}
size_t match_number(const Chunk &c, size_t pos) {
    return is_number_at(c, pos) ? 1 : 0;
}
// \p{N}+
size_t match_numbers(const Chunk &c, size_t pos) {
    return run_length(c, pos, [&](size_t p) { return is_number_at(c, p); });
}
// \p{N}{1,3}
size_t match_numbers_upto3(const Chunk &c, size_t pos) {
    return std::min<size_t>(match_numbers(c, pos), 3);
}
// [0-9][0-9][0-9]
size_t match_digit_triple(const Chunk &c, size_t pos) {
    const bool ok =
        is_ascii_digit(c.cp(pos)) && is_ascii_digit(c.cp(pos + 1)) && is_ascii_digit(c.cp(pos + 2));
    return ok ? 3 : 0;
}
// [\p{P}\$\+<=>\^~\|]+ and, with the backquote, Falcon's [\p{P}\$\+<=>\^~\|`]+
template <bool kBackquote> size_t match_punct_run(const Chunk &c, size_t pos) {
    return run_length(c, pos, [&](size_t p) {
        const uint32_t cp = c.cps[p];
        return unicode::is_punct(c.bits[p]) || cp == '$' || cp == '+' || cp == '<' || cp == '=' ||
               cp == '>' || cp == '^' || cp == '~' || cp == '|' || (kBackquote && cp == '`');
    });
}
// \s?\p{L}+
size_t match_space_letters(const Chunk &c, size_t pos) {
    return optional_space_then_run(c, pos, [&](size_t p) { return is_letter_at(c, p); });
}
// \s?\p{P}+
size_t match_space_punct(const Chunk &c, size_t pos) {
    return optional_space_then_run(c, pos, [&](size_t p) { return is_punct_at(c, p); });
}
// DeepSeek LLM: \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ and \s?[!-/:-~！-／：-～‘-‟　-。]+
size_t match_deepseek_letters(const Chunk &c, size_t pos) {
    return optional_space_then_run(c, pos,
                                   [&](size_t p) { return in_set(kDeepseekLetters, c, p); });
}
size_t match_deepseek_punct(const Chunk &c, size_t pos) {
    return optional_space_then_run(c, pos, [&](size_t p) { return in_set(kDeepseekPunct, c, p); });
}
// [一-龥ࠀ-一가-퟿]+
size_t match_deepseek_cjk(const Chunk &c, size_t pos) {
    return run_length(c, pos, [&](size_t p) { return in_set(kDeepseekCjk, c, p); });
}
// [一-龥぀-ゟ゠-ヿ]+
size_t match_deepseek_v3_cjk(const Chunk &c, size_t pos) {
    return run_length(c, pos, [&](size_t p) { return in_set(kDeepseekV3CjkKana, c, p); });
}

// DeepSeek V3: [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|
// [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t match_deepseek_v3_words(const Chunk &c, size_t pos) {
    const uint32_t cp = c.cps[pos];
    const CharBits bits = c.bits[pos];
    if (is_ascii_punct_or_symbol(cp) && is_ascii_letter(c.cp(pos + 1))) {
        return 1 + run_length(c, pos + 1, [&](size_t p) { return is_ascii_letter(c.cps[p]); });
    }
    auto letter_or_mark = [&](size_t p) {
        return unicode::is_letter(c.at(p)) || unicode::is_mark(c.at(p));
    };
    auto punct_or_symbol = [&](size_t p) {
        return unicode::is_punct(c.at(p)) || unicode::is_symbol(c.at(p));
    };
    const bool may_lead = !is_newline(cp) && !unicode::is_letter(bits) && !punct_or_symbol(pos);
    if (may_lead && letter_or_mark(pos + 1)) {
        return 1 + run_length(c, pos + 1, letter_or_mark);
    }
    if (letter_or_mark(pos)) {
        return run_length(c, pos, letter_or_mark);
    }
    const size_t body = pos + ((cp == ' ' && punct_or_symbol(pos + 1)) ? 1 : 0);
    if (punct_or_symbol(body)) {
        const size_t p = body + run_length(c, body, punct_or_symbol);
        return p - pos + run_length(c, p, [&](size_t q) { return is_newline(c.cps[q]); });
    }
    if (size_t n = spaces_through_last_newline(c, pos)) {
        return n;
    }
    return space_run_length(c, pos);
}

// \s+$ : the white space that ends the chunk, if any.
void split_trailing_space(const Chunk &c, std::vector<WordSpan> &out) {
    size_t start = c.end;
    while (start > c.begin && is_space(c.bits[start - 1])) {
        --start;
    }
    if (start > c.begin) {
        out.push_back({c.begin, start});
    }
    if (start < c.end) {
        out.push_back({start, c.end});
    }
}

struct Pipeline {
    const Stage *stages;
    size_t n;
};

template <size_t N> Pipeline pipeline(const Stage (&stages)[N]) {
    return {stages, N};
}

Pipeline pipeline_of(PreTokenizer kind) {
    static constexpr Stage kDefault[] = {search<match_punct_run<false>>, scan<gpt2_step>,
                                         search<match_numbers>, search<match_digit_triple>};
    static constexpr Stage kGpt2[] = {scan<gpt2_step>};
    static constexpr Stage kLlama3[] = {scan<word_step<3, false>>};
    static constexpr Stage kQwen2[] = {scan<word_step<1, false>>};
    static constexpr Stage kQwen35[] = {scan<word_step<1, true>>};
    static constexpr Stage kStarcoder[] = {search<match_number>, scan<gpt2_step>};
    static constexpr Stage kFalcon[] = {search<match_punct_run<true>>, scan<gpt2_step>,
                                        search<match_digit_triple>};
    static constexpr Stage kDeepseekLlm[] = {
        search<match_newline>, search<match_deepseek_letters>, search<match_deepseek_punct>,
        split_trailing_space,  search<match_deepseek_cjk>,     search<match_numbers>};
    static constexpr Stage kDeepseekCoder[] = {search<match_newline>, search<match_space_letters>,
                                               search<match_space_punct>,
                                               search<match_deepseek_cjk>, search<match_number>};
    static constexpr Stage kDeepseekV3[] = {search<match_numbers_upto3>,
                                            search<match_deepseek_v3_cjk>,
                                            search<match_deepseek_v3_words>};
    switch (kind) {
    case PreTokenizer::default_bpe:
        return pipeline(kDefault);
    case PreTokenizer::gpt2:
        return pipeline(kGpt2);
    case PreTokenizer::llama3:
        return pipeline(kLlama3);
    case PreTokenizer::qwen2:
        return pipeline(kQwen2);
    case PreTokenizer::qwen35:
        return pipeline(kQwen35);
    case PreTokenizer::starcoder:
        return pipeline(kStarcoder);
    case PreTokenizer::falcon:
        return pipeline(kFalcon);
    case PreTokenizer::deepseek_llm:
        return pipeline(kDeepseekLlm);
    case PreTokenizer::deepseek_coder:
        return pipeline(kDeepseekCoder);
    case PreTokenizer::deepseek_v3:
        return pipeline(kDeepseekV3);
    }
    return pipeline(kGpt2);
}

} // namespace

std::vector<WordSpan> pre_tokenize(PreTokenizer kind, const DecodedText &text) {
    std::vector<WordSpan> chunks;
    if (text.cps.empty()) {
        return chunks;
    }
    chunks.push_back({0, text.cps.size()});
    std::vector<WordSpan> next;
    const Pipeline p = pipeline_of(kind);
    for (size_t s = 0; s < p.n; ++s) {
        next.clear();
        next.reserve(chunks.size() * 2);
        for (const WordSpan &w : chunks) {
            p.stages[s](Chunk{text.cps.data(), text.bits.data(), w.begin, w.end}, next);
        }
        chunks.swap(next);
    }
    return chunks;
}

} // namespace graft::tokenizer
