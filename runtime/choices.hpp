// Options that take one of a few named values are enums; each enum's names are listed once,
// in `choice_names<E>`, in the order of its values. Config files, the command line, `--help`
// and docs/config.md all read them from there.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "messages/limits.hpp"

namespace dmoe {

/// The experts' optimizer (server.optimizer).
enum class optimizer_kind { adam, sgd };
/// How float32 tensors cross the wire (server.compression, moe.compression): float16 halves
/// the bytes, ~3 decimal digits survive.
enum class compression_kind { none, float16 };
/// What a trainer's DMoE layers are (trainer.model): remote experts, or a local dense stand-in
/// with as many parameters as all the grid's experts (largeffn) or with the compute of the
/// k_best experts a sample uses (dense).
enum class model_kind { dmoe, largeffn, dense };
/// What a trainer trains (trainer.task).
enum class task_kind { fashion_mnist, language_model };
/// How a stale gradient's learning rate is set (trainer.stale-rate).
enum class stale_rate_kind { full, divided };
/// The trainer's learning-rate schedule (trainer.lr-schedule).
enum class lr_schedule_kind { cosine, constant };
/// What a language model's DMoE layers route (moe.routing): each token's feed-forward to ffn
/// experts, or each whole sequence to decoder-block experts (causal-transformer, the paper's).
enum class routing_kind { token, sequence };
/// How averaged vectors cross the wire (averaging.compression): float32 exact, float16 half,
/// int8 a quarter (one scale per 128 elements).
enum class vector_encoding_kind { none, float16, int8 };

template <class E>
struct choice_names;

template <>
struct choice_names<optimizer_kind> {
  static constexpr std::array<std::string_view, 2> names{"adam", "sgd"};
};
template <>
struct choice_names<vector_encoding_kind> {
  static constexpr std::array<std::string_view, 3> names{"none", "float16", "int8"};
};
template <>
struct choice_names<compression_kind> {
  static constexpr std::array<std::string_view, 2> names{"none", "float16"};
};
template <>
struct choice_names<model_kind> {
  static constexpr std::array<std::string_view, 3> names{"dmoe", "largeffn", "dense"};
};
template <>
struct choice_names<task_kind> {
  static constexpr std::array<std::string_view, 2> names{"fashion-mnist", "language-model"};
};
template <>
struct choice_names<stale_rate_kind> {
  static constexpr std::array<std::string_view, 2> names{"full", "divided"};
};
template <>
struct choice_names<lr_schedule_kind> {
  static constexpr std::array<std::string_view, 2> names{"cosine", "constant"};
};
template <>
struct choice_names<routing_kind> {
  static constexpr std::array<std::string_view, 2> names{"token", "sequence"};
};
template <>
struct choice_names<nan_policy> {  // messages/limits.hpp: allow = 0, reject = 1
  static constexpr std::array<std::string_view, 2> names{"allow", "reject"};
};

template <class E>
std::string_view name_of(E value) {
  return choice_names<E>::names[static_cast<size_t>(value)];
}

template <class E>
std::optional<E> parse_choice(std::string_view text) {
  const auto& names = choice_names<E>::names;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == text)
      return static_cast<E>(i);
  return std::nullopt;
}

/// "adam or sgd", "trace, debug or info": for error messages and docs.
template <class Names>
std::string list_names(const Names& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace dmoe
