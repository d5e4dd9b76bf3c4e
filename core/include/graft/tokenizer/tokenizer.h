// Tokenizers built from a GGUF file's tokenizer.ggml.* metadata: SentencePiece-style
// ("llama": scores, byte fallback, U+2581 for spaces) and byte-level BPE ("gpt2": merges,
// a model-specific pre-tokenizer). Token ids match llama.cpp's for the same file.
//
// A Tokenizer is immutable after loading; every const member may be called from several
// threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace graft::gguf {
class File;
}

namespace graft::tokenizer {

class Tokenizer {
  public:
    // Reads the vocabulary, scores, token types, merges and special token ids. Throws
    // graft::Error when the file has no tokenizer, an unsupported tokenizer model or
    // pre-tokenizer, or malformed tokenizer metadata. The File may be closed afterwards.
    static std::unique_ptr<Tokenizer> from_gguf(const gguf::File &file);
    ~Tokenizer();
    Tokenizer(const Tokenizer &) = delete;
    Tokenizer &operator=(const Tokenizer &) = delete;

    int32_t n_vocab() const;

    // Text to token ids. add_special: BOS/EOS as the vocabulary asks
    // (tokenizer.ggml.add_bos_token / add_eos_token, else the model type's default).
    // parse_special: the text of control tokens in `text` becomes those tokens; user-defined
    // tokens are always matched, as in llama.cpp. Any bytes are accepted (invalid UTF-8 is
    // tokenized the way llama.cpp does it); graft::Error only for 4 GiB of text or more.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

    // The bytes of one token: spaces restored (SentencePiece), byte tokens as their byte,
    // byte-level symbols mapped back. Control and unknown tokens give "" unless
    // render_special. A piece may be part of a UTF-8 character. Throws graft::Error for an
    // id outside [0, n_vocab).
    std::string token_to_piece(int32_t id, bool render_special) const;

    // The text of a token sequence, as llama.cpp's llama_detokenize (remove_special off):
    // pieces joined, the leading space of the first piece dropped where the vocabulary
    // prepends one (SentencePiece), and for the tokenizers that ask for it the spaces
    // before punctuation and contractions cleaned up (" ," -> ","). Not guaranteed to be
    // valid UTF-8; use StreamDecoder for text shown to people. Throws for a bad id.
    std::string decode(std::span<const int32_t> ids, bool render_special) const;

    // Special token ids, -1 when the vocabulary has none.
    int32_t bos() const;
    int32_t eos() const;
    int32_t eot() const; // end of turn (<|eot_id|>, <|im_end|>, ...)
    int32_t eom() const; // end of message (<|eom_id|>)
    int32_t unk() const;
    int32_t pad() const;
    bool add_bos() const; // whether encode(add_special) prepends bos
    bool add_eos() const; // whether encode(add_special) appends eos

    // End of generation: eos, eot, eom and every token llama.cpp treats as such
    // (<|im_end|>, <|eot_id|>, <|end_of_text|>, <|endoftext|>, ...). False out of range.
    bool is_eog(int32_t id) const;
    // Control token (<s>, <|im_start|>, ...). False out of range.
    bool is_control(int32_t id) const;
    // The vocabulary's text of a token (byte-level symbols, U+2581 and <0xNN> as stored).
    // Throws graft::Error for an id outside [0, n_vocab).
    const std::string &token_text(int32_t id) const;
    // The id of the token whose text is exactly `text`, or -1.
    int32_t find_token(std::string_view text) const;

    std::string model() const; // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
    std::string pre() const;   // pre-tokenizer name ("llama-bpe", "qwen2", ...; "default")

    struct Impl;

  private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Turns generated tokens into text a piece at a time, never cutting a UTF-8 character:
// bytes of an incomplete character are held back until the rest arrives.
class StreamDecoder {
  public:
    // The tokenizer must outlive the decoder.
    explicit StreamDecoder(const Tokenizer &tokenizer, bool render_special);

    // The text that became complete with this token: always valid UTF-8. Bytes that can
    // never form a character are emitted as U+FFFD. Throws graft::Error for a bad id.
    std::string push(int32_t id);
    // Whatever is held back, an incomplete character becoming U+FFFD; resets the decoder.
    std::string flush();

  private:
    const Tokenizer *tokenizer_;
    bool render_special_;
    std::string pending_;
};

} // namespace graft::tokenizer
