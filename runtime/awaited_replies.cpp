#include "runtime/awaited_replies.hpp"

#include <algorithm>

namespace dmoe {

awaited_replies::awaited_replies(size_t max_per_node, size_t max_nodes)
  : max_per_node_(std::max<size_t>(max_per_node, 1)), max_nodes_(std::max<size_t>(max_nodes, 1)) {
}

void awaited_replies::sent(const caf::node_id& to, caf::actor_id from, uint64_t request) {
  auto i = nodes_.find(to);
  if (i == nodes_.end()) {
    while (nodes_.size() >= max_nodes_ && !node_order_.empty()) {
      nodes_.erase(node_order_.front());
      node_order_.pop_front();
    }
    i = nodes_.emplace(to, per_node{}).first;
    node_order_.push_back(to);
  }
  auto& n = i->second;
  key k{from, request};
  if (!n.open.insert(k).second)
    return;
  n.order.push_back(k);
  while (n.open.size() > max_per_node_ && !n.order.empty()) {
    n.open.erase(n.order.front());
    n.order.pop_front();
  }
  if (n.order.size() > 2 * max_per_node_)  // drop the places of answered ones
    n.order.erase(std::remove_if(n.order.begin(), n.order.end(),
                                 [&n](const key& x) { return n.open.count(x) == 0; }),
                  n.order.end());
}

bool awaited_replies::answered(const caf::node_id& by, caf::actor_id to, uint64_t request) {
  auto i = nodes_.find(by);
  return i != nodes_.end() && i->second.open.erase(key{to, request}) > 0;
}

size_t awaited_replies::awaited(const caf::node_id& from) const {
  auto i = nodes_.find(from);
  return i == nodes_.end() ? 0 : i->second.open.size();
}

}  // namespace dmoe
