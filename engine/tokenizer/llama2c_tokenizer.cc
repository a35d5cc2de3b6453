#include "engine/tokenizer/llama2c_tokenizer.h"

#include <cmath>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "engine/common/mapped_file.h"
#include "engine/tokenizer/bpe_merge.h"
#include "engine/tokenizer/byte_piece.h"
#include "engine/tokenizer/utf8.h"

namespace llmserve {
namespace {

// run.c starts its search for the best merge at this score.
constexpr float kMinMergeScore = -1e10f;

// The first int32 of llm.c's tokenizer files (a different format).
constexpr int32_t kLlmcMagic = 20240328;

template <typename T>
T ReadLittleEndian(const char* p) {
  static_assert(sizeof(T) == 4);
  uint32_t u = static_cast<uint8_t>(p[0]) | static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 8 |
               static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 16 |
               static_cast<uint32_t>(static_cast<uint8_t>(p[3])) << 24;
  T value;
  std::memcpy(&value, &u, sizeof(value));
  return value;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Llama2cTokenizer::Load(const std::string& path,
                                                                         int32_t vocab_size) {
  absl::StatusOr<std::shared_ptr<const MappedFile>> file = MappedFile::Open(path);
  if (!file.ok()) return file.status();
  const std::string_view bytes(reinterpret_cast<const char*>((*file)->data()), (*file)->size());
  return FromBytes(bytes, vocab_size, path);
}

absl::StatusOr<std::unique_ptr<Llama2cTokenizer>> Llama2cTokenizer::FromBytes(
    std::string_view bytes, int32_t vocab_size, std::string_view name_view) {
  const std::string name(name_view);
  if (vocab_size != -1 && vocab_size < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": vocab_size must be -1 (read to the end) or >= 3 (<unk>, BOS, EOS), got ",
        vocab_size));
  }
  if (bytes.size() < 4) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": truncated: ", bytes.size(),
                                                   " bytes, need a 4-byte max_token_length"));
  }
  auto tok = std::unique_ptr<Llama2cTokenizer>(new Llama2cTokenizer());
  tok->max_token_length_ = ReadLittleEndian<int32_t>(bytes.data());
  if (tok->max_token_length_ == kLlmcMagic) {
    return absl::InvalidArgumentError(
        absl::StrCat(name,
                     ": this is an llm.c tokenizer (magic 20240328), not a llama2.c tokenizer.bin; "
                     "load GPT-2's encoder.json + vocab.bpe instead"));
  }
  if (tok->max_token_length_ <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": max_token_length is ", tok->max_token_length_, ", must be positive"));
  }
  std::size_t offset = 4;
  for (int32_t i = 0; vocab_size < 0 ? offset < bytes.size() : i < vocab_size; ++i) {
    if (bytes.size() - offset < 8) {
      if (offset == bytes.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": file ends after ", i, " tokens, but vocab_size is ", vocab_size));
      }
      return absl::InvalidArgumentError(absl::StrCat(name, ": truncated header of token ", i,
                                                     " at offset ", offset, " (file is ",
                                                     bytes.size(), " bytes)"));
    }
    const float score = ReadLittleEndian<float>(bytes.data() + offset);
    const int32_t length = ReadLittleEndian<int32_t>(bytes.data() + offset + 4);
    offset += 8;
    if (std::isnan(score)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": token ", i, " has a NaN score"));
    }
    if (length < 0 || length > tok->max_token_length_) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": token ", i, " at offset ", offset - 8, " has length ", length,
                       ", outside 0..", tok->max_token_length_, " (max_token_length)"));
    }
    if (static_cast<std::size_t>(length) > bytes.size() - offset) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": truncated: token ", i, " needs ", length, " bytes at offset ",
                       offset, " but the file has ", bytes.size() - offset, " left"));
    }
    tok->pieces_.emplace_back(bytes.substr(offset, length));
    tok->scores_.push_back(score);
    offset += length;
  }
  if (offset != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", bytes.size() - offset,
                                                   " bytes left after vocab_size=", vocab_size,
                                                   " tokens (wrong vocab_size or tokenizer?)"));
  }
  const auto n = static_cast<int32_t>(tok->pieces_.size());
  if (n < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": has ", n, " tokens, need at least 3 (<unk>, BOS, EOS)"));
  }
  tok->byte_values_.resize(n, -1);
  tok->ids_.reserve(n);
  for (int32_t id = 0; id < n; ++id) {
    const int byte = ParseBytePiece(tok->pieces_[id]);
    tok->byte_values_[id] = static_cast<int16_t>(byte);
    if (id > kEosId && byte < 0) tok->ids_.emplace(tok->pieces_[id], id);  // first id wins
  }
  return tok;
}

absl::StatusOr<std::vector<int32_t>> Llama2cTokenizer::Encode(std::string_view text,
                                                              bool add_bos) const {
  std::vector<int32_t> symbols;
  symbols.reserve(text.size() + 1);
  const auto vocab = static_cast<int32_t>(pieces_.size());
  // The unit's piece if `lookup` and the vocabulary has it, else its bytes.
  auto push_unit = [&](std::string_view unit, bool lookup) -> absl::Status {
    if (lookup) {
      if (auto it = ids_.find(absl::string_view(unit.data(), unit.size())); it != ids_.end()) {
        symbols.push_back(it->second);
        return absl::OkStatus();
      }
    }
    for (char c : unit) {
      const int32_t id = static_cast<uint8_t>(c) + kByteOffset;
      if (id >= vocab) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "llama2.c tokenizer: byte 0x%02X needs byte-fallback token %d but the vocabulary "
            "has %d tokens",
            static_cast<uint8_t>(c), id, vocab));
      }
      symbols.push_back(id);
    }
    return absl::OkStatus();
  };
  if (!text.empty()) {
    if (absl::Status s = push_unit(" ", true); !s.ok()) return s;  // dummy prefix
  }
  for (std::string_view rest = text; !rest.empty();) {
    const Utf8Unit u = DecodeUtf8(rest);
    // A character is looked up; the bytes of ill-formed UTF-8 fall back one by one.
    const bool valid = u.kind == Utf8Unit::kValid;
    if (absl::Status s = push_unit(rest.substr(0, u.length), valid); !s.ok()) return s;
    rest.remove_prefix(u.length);
  }

  std::string pair;
  ApplyBpeMerges(
      [&](int32_t left, int32_t right) -> std::optional<BpeMerge> {
        pair.assign(pieces_[left]);
        pair.append(pieces_[right]);
        auto it = ids_.find(pair);
        if (it == ids_.end() || !(scores_[it->second] > kMinMergeScore)) return std::nullopt;
        return BpeMerge{it->second, scores_[it->second]};
      },
      &symbols);

  if (!add_bos) return symbols;
  std::vector<int32_t> out;
  out.reserve(symbols.size() + 1);
  out.push_back(kBosId);
  out.insert(out.end(), symbols.begin(), symbols.end());
  return out;
}

std::string Llama2cTokenizer::TokenBytes(int32_t prev_id, int32_t id) const {
  if (id < 0 || id >= vocab_size() || id == kBosId || id == kEosId) return "";
  if (byte_values_[id] >= 0) return std::string(1, static_cast<char>(byte_values_[id]));
  std::string_view p = pieces_[id];
  if (prev_id == kBosId && !p.empty() && p[0] == ' ') p.remove_prefix(1);
  return std::string(p);
}

std::string_view Llama2cTokenizer::piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[id];
}

float Llama2cTokenizer::score(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return 0.0f;
  return scores_[id];
}

}  // namespace llmserve
