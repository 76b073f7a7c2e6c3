#include "messages/parts.hpp"

#include <algorithm>
#include <string>

namespace dmoe {

std::vector<payload> split_payload(payload&& whole, uint64_t part_bytes) {
  std::vector<payload> parts;
  auto size = whole.bytes.size();
  if (part_bytes == 0 || size <= part_bytes) {
    parts.push_back(std::move(whole));
    return parts;
  }
  parts.reserve((size + part_bytes - 1) / part_bytes);
  for (size_t begin = 0; begin < size; begin += part_bytes) {
    auto end = std::min<size_t>(size, begin + part_bytes);
    parts.push_back(payload{std::vector<char>(whole.bytes.begin() + static_cast<std::ptrdiff_t>(begin),
                                              whole.bytes.begin() + static_cast<std::ptrdiff_t>(end))});
  }
  return parts;
}

caf::error part_buffer::add(const transfer_key& key, payload&& part, double now) {
  auto over = [&](const std::string& what) {
    drop(key);
    return make_error(errc::limit_exceeded, "dropped a transfer in parts: " + what);
  };
  auto i = pending_.find(key);
  if (i == pending_.end()) {
    if (pending_.size() >= limits_.max_transfers)
      return over("more than " + std::to_string(limits_.max_transfers) + " transfers under way");
    i = pending_.emplace(key, pending{}).first;
  }
  auto& p = i->second;
  auto size = part.bytes.size();
  if (p.bytes.size() + size > limits_.max_transfer_bytes)
    return over("it exceeds " + std::to_string(limits_.max_transfer_bytes) + " bytes");
  if (total_bytes_ + size > limits_.max_total_bytes)
    return over("transfers under way exceed " + std::to_string(limits_.max_total_bytes) + " bytes");
  if (auto n = node_bytes_.find(key.sender.node());
      n != node_bytes_.end() && n->second + size > limits_.max_node_bytes)
    return over("the sending node's transfers under way exceed "
                + std::to_string(limits_.max_node_bytes) + " bytes");
  p.bytes.insert(p.bytes.end(), part.bytes.begin(), part.bytes.end());
  p.last_seen = now;
  charge(key, size);
  return caf::none;
}

void part_buffer::charge(const transfer_key& key, uint64_t bytes) {
  total_bytes_ += bytes;
  node_bytes_[key.sender.node()] += bytes;
}

void part_buffer::refund(const transfer_key& key, uint64_t bytes) {
  total_bytes_ -= bytes;
  auto n = node_bytes_.find(key.sender.node());
  if (n == node_bytes_.end())
    return;
  n->second -= std::min(n->second, bytes);
  if (n->second == 0)
    node_bytes_.erase(n);
}

caf::expected<payload> part_buffer::finish(const transfer_key& key, uint64_t total_bytes,
                                           payload&& last) {
  if (total_bytes > limits_.max_transfer_bytes) {
    drop(key);
    return make_error(errc::limit_exceeded, "a payload of " + std::to_string(total_bytes)
                                              + " bytes in parts exceeds the limit of "
                                              + std::to_string(limits_.max_transfer_bytes));
  }
  std::vector<char> whole;
  if (auto i = pending_.find(key); i != pending_.end()) {
    whole = std::move(i->second.bytes);
    refund(key, whole.size());
    pending_.erase(i);
  } else {
    whole = std::move(last.bytes);
    last.bytes.clear();
  }
  whole.insert(whole.end(), last.bytes.begin(), last.bytes.end());
  if (whole.size() != total_bytes)
    return make_error(errc::malformed, "a payload in parts has " + std::to_string(whole.size())
                                         + " bytes, not the " + std::to_string(total_bytes)
                                         + " announced (a part was lost or refused)");
  return payload{std::move(whole)};
}

void part_buffer::drop(const transfer_key& key) {
  auto i = pending_.find(key);
  if (i == pending_.end())
    return;
  refund(key, i->second.bytes.size());
  pending_.erase(i);
}

size_t part_buffer::expire(double before) {
  size_t dropped = 0;
  for (auto i = pending_.begin(); i != pending_.end();) {
    if (i->second.last_seen < before) {
      refund(i->first, i->second.bytes.size());
      i = pending_.erase(i);
      ++dropped;
    } else {
      ++i;
    }
  }
  return dropped;
}

}  // namespace dmoe
