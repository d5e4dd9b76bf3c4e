// The Unicode table and the pre-tokenizers, against splits worked out by hand from each
// model's split regexes (ECMAScript semantics: leftmost match, alternatives in order).
#include "pretokenize.h"
#include "unicode.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace graft::tokenizer {
namespace {

using unicode::CharClass;

std::vector<std::string> split(PreTokenizer kind, const std::string &text) {
    const unicode::DecodedText decoded = unicode::decode_lenient(text);
    std::vector<std::string> words;
    size_t expected_begin = 0;
    for (const WordSpan &w : pre_tokenize(kind, decoded)) {
        EXPECT_EQ(w.begin, expected_begin) << "words must tile the text";
        EXPECT_LT(w.begin, w.end) << "no empty words";
        expected_begin = w.end;
        std::string word;
        for (size_t i = w.begin; i < w.end; ++i) {
            unicode::append_utf8(word, decoded.cps[i]);
        }
        words.push_back(word);
    }
    EXPECT_EQ(expected_begin, decoded.cps.size());
    return words;
}

using Words = std::vector<std::string>;

CharClass class_of(uint32_t cp) {
    return static_cast<CharClass>(unicode::char_bits(cp) & 7);
}

TEST(UnicodeTable, GeneralCategories) {
    EXPECT_EQ(class_of('A'), CharClass::letter);
    EXPECT_EQ(class_of('z'), CharClass::letter);
    EXPECT_EQ(class_of('7'), CharClass::number);
    EXPECT_EQ(class_of('!'), CharClass::punctuation);
    EXPECT_EQ(class_of('$'), CharClass::symbol);
    EXPECT_EQ(class_of('`'), CharClass::symbol);
    EXPECT_EQ(class_of(0x00), CharClass::control);
    EXPECT_EQ(class_of(0x7F), CharClass::control);
    EXPECT_EQ(class_of(0x00B5), CharClass::letter);      // micro sign
    EXPECT_EQ(class_of(0x00BD), CharClass::number);      // one half
    EXPECT_EQ(class_of(0x0301), CharClass::mark);        // combining acute
    EXPECT_EQ(class_of(0x0378), CharClass::undefined);   // unassigned
    EXPECT_EQ(class_of(0x0663), CharClass::number);      // Arabic-Indic three
    EXPECT_EQ(class_of(0x05D0), CharClass::letter);      // Hebrew alef
    EXPECT_EQ(class_of(0x2028), CharClass::separator);   // line separator
    EXPECT_EQ(class_of(0x3002), CharClass::punctuation); // ideographic full stop
    EXPECT_EQ(class_of(0x4E2D), CharClass::letter);      // 中
    EXPECT_EQ(class_of(0xAC00), CharClass::letter);      // 가
    EXPECT_EQ(class_of(0xD800), CharClass::control);     // surrogate
    EXPECT_EQ(class_of(0xE000), CharClass::control);     // private use
    EXPECT_EQ(class_of(0xFFFD), CharClass::symbol);
    EXPECT_EQ(class_of(0x1F600), CharClass::symbol); // 😀
    EXPECT_EQ(class_of(0x1D400), CharClass::letter); // mathematical bold A
    EXPECT_EQ(class_of(0x2EBF0), CharClass::letter); // CJK extension I (Unicode 15.1)
    EXPECT_EQ(class_of(0x31350), CharClass::letter); // CJK extension H (15.0)
    EXPECT_EQ(class_of(0x10FFFF), CharClass::undefined);
    EXPECT_EQ(class_of(0x110000), CharClass::undefined);
}

TEST(UnicodeTable, WhiteSpace) {
    for (uint32_t cp : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u,
                        0x200Au, 0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
        EXPECT_TRUE(unicode::is_space(unicode::char_bits(cp))) << std::hex << cp;
    }
    for (uint32_t cp : {0x1Cu, 0x1Fu, 0x41u, 0x180Eu, 0x200Bu, 0xFEFFu}) {
        EXPECT_FALSE(unicode::is_space(unicode::char_bits(cp))) << std::hex << cp;
    }
}

TEST(Utf8, LenientDecodingReplacesBadBytesOneByOne) {
    const auto d = unicode::decode_lenient("a\xff\xe2\x82"
                                           "b\xc3\xa9\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80");
    const std::vector<uint32_t> expected = {'a',    0xFFFD, 0xFFFD, 0xFFFD, 'b', 0xE9,
                                            0x0,    // overlong NUL decodes as NUL
                                            0xD800, // surrogate kept as a code point
                                            0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}; // past U+10FFFF
    EXPECT_EQ(d.cps, expected);
    std::string again;
    for (uint32_t cp : d.cps) {
        unicode::append_utf8(again, cp);
    }
    const std::string fffd = "\xef\xbf\xbd";
    EXPECT_EQ(again, "a" + fffd + fffd + fffd + "b\xc3\xa9" + std::string(1, '\0') +
                         "\xed\xa0\x80" + fffd + fffd + fffd + fffd);
}

TEST(Utf8, StrictLength) {
    EXPECT_EQ(unicode::strict_utf8_length("a", 0), 1);
    EXPECT_EQ(unicode::strict_utf8_length("\xc3\xa9", 0), 2);
    EXPECT_EQ(unicode::strict_utf8_length("\xe2\x82\xac", 0), 3);
    EXPECT_EQ(unicode::strict_utf8_length("\xf0\x9f\x98\x80", 0), 4);
    EXPECT_EQ(unicode::strict_utf8_length("\xf0\x9f\x98", 0), -1); // cut short
    EXPECT_EQ(unicode::strict_utf8_length("\xe2", 0), -1);
    EXPECT_EQ(unicode::strict_utf8_length("\x80", 0), 0);
    EXPECT_EQ(unicode::strict_utf8_length("\xc0\x80", 0), 0);     // overlong
    EXPECT_EQ(unicode::strict_utf8_length("\xe0\x80\xaf", 0), 0); // overlong
    EXPECT_EQ(unicode::strict_utf8_length("\xed\xa0\x80", 0), 0); // surrogate
    EXPECT_EQ(unicode::strict_utf8_length("\xf4\x90\x80\x80", 0), 0);
    EXPECT_EQ(unicode::strict_utf8_length("\xe2\x82"
                                          "A",
                                          0),
              0);
}

TEST(ByteSymbols, Gpt2Mapping) {
    EXPECT_EQ(unicode::byte_to_symbol('A'), "A");
    EXPECT_EQ(unicode::byte_to_symbol(' '), "\xc4\xa0");  // Ġ = U+0120
    EXPECT_EQ(unicode::byte_to_symbol('\n'), "\xc4\x8a"); // Ċ = U+010A
    EXPECT_EQ(unicode::byte_to_symbol(0x00), "\xc4\x80"); // U+0100
    EXPECT_EQ(unicode::byte_to_symbol(0xAD), "\xc5\x83"); // U+0143, the last
    EXPECT_EQ(unicode::byte_to_symbol(0xE9), "\xc3\xa9"); // é is printable
    for (int b = 0; b < 256; ++b) {
        const auto cps =
            unicode::decode_lenient(unicode::byte_to_symbol(static_cast<uint8_t>(b))).cps;
        ASSERT_EQ(cps.size(), 1u);
        EXPECT_EQ(unicode::symbol_to_byte(cps[0]), b);
    }
    EXPECT_EQ(unicode::symbol_to_byte(0x20), -1);
    EXPECT_EQ(unicode::symbol_to_byte(0x4E2D), -1);
}

TEST(PreTokenize, Gpt2) {
    EXPECT_EQ(split(PreTokenizer::gpt2, "Hello world's 123  test\n"),
              (Words{"Hello", " world", "'s", " 123", " ", " test", "\n"}));
    // Contractions are case-sensitive in GPT-2.
    EXPECT_EQ(split(PreTokenizer::gpt2, "I'M ok"), (Words{"I", "'", "M", " ok"}));
    EXPECT_EQ(split(PreTokenizer::gpt2, "a!!  \t b"), (Words{"a", "!!", "  \t", " b"}));
    EXPECT_EQ(split(PreTokenizer::gpt2, "   "), (Words{"   "}));
}

TEST(PreTokenize, Llama3) {
    EXPECT_EQ(split(PreTokenizer::llama3, "Hello WORLD'S 12345 x\r\n\n  y"),
              (Words{"Hello", " WORLD", "'S", " ", "123", "45", " x", "\r\n\n", " ", " y"}));
    EXPECT_EQ(split(PreTokenizer::llama3, "(foo) ...\n\nbar"),
              (Words{"(foo", ")", " ...\n\n", "bar"}));
    EXPECT_EQ(split(PreTokenizer::llama3, "\xe4\xbd\xa0\xe5\xa5\xbd 1234567"),
              (Words{"\xe4\xbd\xa0\xe5\xa5\xbd", " ", "123", "456", "7"}));
}

TEST(PreTokenize, Qwen2SingleDigitsAndQwen35Marks) {
    EXPECT_EQ(split(PreTokenizer::qwen2, "abc 1234"), (Words{"abc", " ", "1", "2", "3", "4"}));
    EXPECT_EQ(split(PreTokenizer::qwen2, "e\xcc\x81x 1"), (Words{"e", "\xcc\x81x", " ", "1"}));
    EXPECT_EQ(split(PreTokenizer::qwen35, "e\xcc\x81x 1"), (Words{"e\xcc\x81x", " ", "1"}));
}

TEST(PreTokenize, DeepseekLlm) {
    // " Ωmega" is one letter run, but the punctuation pattern's range ":-~" takes in the
    // ASCII letters too, so it then cuts "mega" out of it (as llama.cpp does).
    EXPECT_EQ(
        split(PreTokenizer::deepseek_llm, "Hello \xe4\xb8\x96\xe7\x95\x8c\n123 \xce\xa9mega!!"),
        (Words{"Hello", " ", "\xe4\xb8\x96\xe7\x95\x8c", "\n", "123", " \xce\xa9", "mega", "!!"}));
    // Trailing white space of a chunk is a word of its own.
    EXPECT_EQ(split(PreTokenizer::deepseek_llm, "a\t\t"), (Words{"a", "\t\t"}));
    // U+3000 is white space: it can lead a punctuation run (\s?) but is none of the
    // punctuation marks or CJK characters itself, though their ranges include it.
    EXPECT_EQ(split(PreTokenizer::deepseek_llm, "\xe3\x80\x80\xe3\x80\x80\xe3\x80\x82"),
              (Words{"\xe3\x80\x80", "\xe3\x80\x80", "\xe3\x80\x82"}));
}

TEST(PreTokenize, DeepseekCoder) {
    EXPECT_EQ(split(PreTokenizer::deepseek_coder, "foo.bar(1, 2)\n"),
              (Words{"foo", ".", "bar", "(", "1", ",", " ", "2", ")", "\n"}));
}

TEST(PreTokenize, DeepseekV3) {
    EXPECT_EQ(
        split(PreTokenizer::deepseek_v3,
              "Hello, world! 12345 \xe4\xb8\xad\xe6\x96\x87\xe3\x82\xab\xe3\x82\xbf "
              "\xed\x95\x9c\xea\xb5\xad"),
        (Words{"Hello", ",", " world", "!", " ", "123", "45", " ",
               "\xe4\xb8\xad\xe6\x96\x87\xe3\x82\xab\xe3\x82\xbf", " \xed\x95\x9c\xea\xb5\xad"}));
    // An ASCII punctuation mark joins the ASCII letters after it.
    EXPECT_EQ(split(PreTokenizer::deepseek_v3, "a.b_cd x\n\n y"),
              (Words{"a", ".b", "_cd", " x", "\n\n", " y"}));
}

TEST(PreTokenize, DefaultStarcoderFalcon) {
    EXPECT_EQ(split(PreTokenizer::default_bpe, "a+=b... 12345"),
              (Words{"a", "+=", "b", "...", " ", "123", "45"}));
    EXPECT_EQ(split(PreTokenizer::starcoder, "x 42"), (Words{"x", " ", "4", "2"}));
    EXPECT_EQ(split(PreTokenizer::falcon, "a`b 1234"), (Words{"a", "`", "b", " ", "123", "4"}));
}

TEST(PreTokenize, InvalidUtf8BecomesReplacementCharacters) {
    EXPECT_EQ(split(PreTokenizer::gpt2, "a\xff"
                                        "b"),
              (Words{"a", "\xef\xbf\xbd", "b"}));
    EXPECT_EQ(split(PreTokenizer::llama3, "\x80\x80"), (Words{"\xef\xbf\xbd\xef\xbf\xbd"}));
}

TEST(PreTokenize, LongRunsAreSplitInOnePass) {
    // Long runs of the same class stay single words (and take linear time).
    const std::string spaces(200000, ' ');
    for (PreTokenizer kind :
         {PreTokenizer::gpt2, PreTokenizer::llama3, PreTokenizer::deepseek_llm,
          PreTokenizer::deepseek_coder, PreTokenizer::deepseek_v3, PreTokenizer::default_bpe}) {
        const Words words = split(kind, spaces + "x");
        ASSERT_GE(words.size(), 2u);
        EXPECT_EQ(words.back().back(), 'x');
    }
    const Words digits = split(PreTokenizer::llama3, std::string(30000, '7'));
    EXPECT_EQ(digits.size(), 10000u);
}

} // namespace
} // namespace graft::tokenizer
