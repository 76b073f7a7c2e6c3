#include "runtime/experts/activation_store.hpp"

#include <cstring>
#include <functional>
#include <string_view>

namespace dmoe {

namespace {

constexpr size_t sampled_words = 256;

uint64_t mix(uint64_t seed, uint64_t value) {
  // boost::hash_combine's step, widened to 64 bits
  return seed ^ (value + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

size_t bytes_of(const std::vector<torch::Tensor>& tensors) {
  size_t out = 0;
  for (const auto& t : tensors)
    out += t.nbytes();
  return out;
}

bool same_tensors(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].scalar_type() != b[i].scalar_type() || a[i].sizes() != b[i].sizes()
        || !torch::equal(a[i], b[i]))
      return false;
  return true;
}

}  // namespace

activation_store::activation_store(size_t budget_bytes, clock::duration ttl)
  : budget_(budget_bytes), ttl_(ttl) {
}

uint64_t activation_store::fingerprint(const std::vector<torch::Tensor>& tensors) {
  uint64_t h = tensors.size();
  for (const auto& t : tensors) {
    h = mix(h, static_cast<uint64_t>(t.scalar_type()));
    for (auto d : t.sizes())
      h = mix(h, static_cast<uint64_t>(d));
    auto flat = t.contiguous();
    auto n = flat.nbytes();
    auto* bytes = static_cast<const char*>(flat.data_ptr());
    if (n <= sampled_words * sizeof(uint64_t)) {
      h = mix(h, std::hash<std::string_view>{}(std::string_view{bytes, n}));
      continue;
    }
    // evenly spaced words, the last one included
    auto stride = (n - sizeof(uint64_t)) / (sampled_words - 1);
    for (size_t i = 0; i < sampled_words; ++i) {
      uint64_t word = 0;
      std::memcpy(&word, bytes + i * stride, sizeof(word));
      h = mix(h, word);
    }
  }
  return h;
}

void activation_store::keep(std::vector<torch::Tensor> saved, std::vector<call> calls,
                            clock::time_point now) {
  drop_expired(now);
  auto tracked = std::make_shared<tracked_block>();
  tracked->bytes = bytes_of(saved);
  for (const auto& c : calls)
    tracked->bytes += bytes_of(c.inputs);
  if (tracked->bytes > budget_ || calls.empty())
    return;
  tracked->content.saved = std::move(saved);
  while (!entries_.empty() && bytes_ + tracked->bytes > budget_) {
    ++counters_.evicted;
    drop(entries_.begin());
  }
  bytes_ += tracked->bytes;
  int64_t offset = 0;
  for (auto& c : calls) {
    auto print = fingerprint(c.inputs);
    entries_.push_back(entry{print, std::move(c.inputs), tracked, offset, c.count, now});
    by_print_.emplace(print, std::prev(entries_.end()));
    ++tracked->live_entries;
    ++counters_.kept;
    offset += c.count;
  }
}

std::optional<activation_store::rows>
activation_store::take(const std::vector<torch::Tensor>& inputs, clock::time_point now) {
  drop_expired(now);
  auto print = fingerprint(inputs);
  auto [first, last] = by_print_.equal_range(print);
  for (auto i = first; i != last; ++i) {
    auto e = i->second;
    if (!same_tensors(e->inputs, inputs))
      continue;
    rows out{std::shared_ptr<const block>{e->from, &e->from->content}, e->offset, e->count};
    drop(e);
    ++counters_.used;
    return out;
  }
  ++counters_.missed;
  return std::nullopt;
}

void activation_store::clear() {
  while (!entries_.empty())
    drop(entries_.begin());
}

void activation_store::drop(entry_list::iterator e) {
  auto [first, last] = by_print_.equal_range(e->print);
  for (auto i = first; i != last; ++i)
    if (i->second == e) {
      by_print_.erase(i);
      break;
    }
  if (--e->from->live_entries == 0)
    bytes_ -= e->from->bytes;
  entries_.erase(e);
}

void activation_store::drop_expired(clock::time_point now) {
  while (!entries_.empty() && now - entries_.front().since >= ttl_) {
    ++counters_.expired;
    drop(entries_.begin());
  }
}

}  // namespace dmoe
