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
  auto node = key.sender.node();
  auto size = part.bytes.size();
  auto i = pending_.find(key);
  if (i == pending_.end()) {
    if (pending_.size() >= limits_.max_transfers && !evict_for(node, false, 0))
      return over("more than " + std::to_string(limits_.max_transfers) + " transfers under way");
    i = pending_.emplace(key, pending{}).first;
    ++shares_[node].transfers;
  }
  if (i->second.bytes.size() + size > limits_.max_transfer_bytes)
    return over("it exceeds " + std::to_string(limits_.max_transfer_bytes) + " bytes");
  if (shares_[node].bytes + size > limits_.max_node_bytes)
    return over("the sending node's transfers under way exceed "
                + std::to_string(limits_.max_node_bytes) + " bytes");
  while (total_bytes_ + size > limits_.max_total_bytes)
    if (!evict_for(node, true, size))
      return over("transfers under way exceed " + std::to_string(limits_.max_total_bytes)
                  + " bytes");
  auto& p = i->second;
  p.bytes.insert(p.bytes.end(), part.bytes.begin(), part.bytes.end());
  p.last_seen = now;
  charge(key, size);
  return caf::none;
}

bool part_buffer::evict_for(const caf::node_id& newcomer, bool by_bytes, uint64_t extra) {
  auto held = [by_bytes](const node_share& s) { return by_bytes ? s.bytes : s.transfers; };
  auto found = shares_.find(newcomer);
  uint64_t mine = (found != shares_.end() ? held(found->second) : 0) + extra;
  const caf::node_id* victim = nullptr;
  uint64_t most = mine;
  for (auto& [node, share] : shares_)
    if (node != newcomer && held(share) > most) {
      most = held(share);
      victim = &node;
    }
  if (victim == nullptr)
    return false;
  auto stalest = pending_.end();
  for (auto j = pending_.begin(); j != pending_.end(); ++j)
    if (j->first.sender.node() == *victim
        && (stalest == pending_.end() || j->second.last_seen < stalest->second.last_seen))
      stalest = j;
  if (stalest == pending_.end())
    return false;
  erase(stalest);
  ++evicted_;
  return true;
}

void part_buffer::charge(const transfer_key& key, uint64_t bytes) {
  total_bytes_ += bytes;
  shares_[key.sender.node()].bytes += bytes;
}

void part_buffer::refund(const transfer_key& key, uint64_t bytes) {
  total_bytes_ -= bytes;
  auto n = shares_.find(key.sender.node());
  if (n != shares_.end())
    n->second.bytes -= std::min(n->second.bytes, bytes);
}

void part_buffer::erase(std::unordered_map<transfer_key, pending, transfer_key_hash>::iterator i) {
  refund(i->first, i->second.bytes.size());
  auto n = shares_.find(i->first.sender.node());
  if (n != shares_.end() && --n->second.transfers == 0)
    shares_.erase(n);
  pending_.erase(i);
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
    i->second.bytes.clear();
    refund(key, whole.size());
    erase(i);
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
  erase(i);
}

size_t part_buffer::expire(double before) {
  size_t dropped = 0;
  for (auto i = pending_.begin(); i != pending_.end();) {
    if (i->second.last_seen < before) {
      erase(i++);
      ++dropped;
    } else {
      ++i;
    }
  }
  return dropped;
}

}  // namespace dmoe
