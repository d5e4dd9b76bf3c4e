#include "impl.h"

#include <graft/util/error.h>

namespace graft::tokenizer {

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::File &file) {
    return std::unique_ptr<Tokenizer>(new Tokenizer(load_vocab(file)));
}

int32_t Tokenizer::n_vocab() const {
    return impl_->n_tokens();
}
int32_t Tokenizer::bos() const {
    return impl_->bos;
}
int32_t Tokenizer::eos() const {
    return impl_->eos;
}
int32_t Tokenizer::eot() const {
    return impl_->eot;
}
int32_t Tokenizer::eom() const {
    return impl_->eom;
}
int32_t Tokenizer::unk() const {
    return impl_->unk;
}
int32_t Tokenizer::pad() const {
    return impl_->pad;
}
bool Tokenizer::add_bos() const {
    return impl_->add_bos && impl_->bos >= 0;
}
bool Tokenizer::add_eos() const {
    return impl_->add_eos && impl_->eos >= 0;
}

bool Tokenizer::is_eog(int32_t id) const {
    return impl_->valid(id) && impl_->eog[id] != 0;
}

bool Tokenizer::is_control(int32_t id) const {
    return impl_->valid(id) && (impl_->tokens[id].attr & kAttrControl) != 0;
}

const std::string &Tokenizer::token_text(int32_t id) const {
    if (!impl_->valid(id)) {
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                    std::to_string(impl_->n_tokens() - 1) + ")");
    }
    return impl_->tokens[id].text;
}

int32_t Tokenizer::find_token(std::string_view text) const {
    return impl_->find(text);
}

std::string Tokenizer::model() const {
    return impl_->model_name;
}
std::string Tokenizer::pre() const {
    return impl_->pre_name;
}

} // namespace graft::tokenizer
