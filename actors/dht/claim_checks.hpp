// Which claimed endpoints a DHT node may dial back (pure logic; time passed in).
//
// A request names its sender's endpoint, and the node learns a new sender only after a ping to
// that endpoint answers with the claimed id. Without bounds any peer could make the node dial
// whatever host:port it names, as fast as it sends requests: a port scan or a flood of
// connections done by the node on the peer's behalf, each dial holding a thread of its own
// while it connects. So checks are bounded:
//   - at most `max_at_once` are under way (each one dial, on a thread of its own);
//   - new checks start at most `per_second` on average, in bursts of at most `burst`;
//   - an endpoint where nobody answered is not dialed again for `retry_after` seconds (the
//     last `max_remembered` such endpoints are remembered). One where a node answered with
//     another id than claimed is: a stranger claiming an honest node's endpoint under a
//     made-up id must not keep that node from being learned.
// A claim that is not checked now is not lost: the sender is checked at a later request.
#pragma once

#include <cstddef>
#include <deque>
#include <set>
#include <string>
#include <unordered_map>

namespace dmoe::dht {

struct claim_check_limits {
  size_t max_at_once = 8;
  double per_second = 4;
  double burst = 32;
  double retry_after = 60;
  size_t max_remembered = 4096;
};

class claim_checks {
public:
  enum class verdict { start, under_way, too_many, too_fast, failed_lately };

  explicit claim_checks(claim_check_limits limits = {});

  /// Whether a check of `endpoint` may start at `now`; on `start` it counts as under way.
  verdict begin(const std::string& endpoint, double now);

  /// The check of `endpoint` ended; when nobody answered there it is not dialed again for
  /// retry_after.
  void end(const std::string& endpoint, bool answered, double now);

  size_t under_way() const {
    return under_way_.size();
  }

private:
  claim_check_limits limits_;
  std::set<std::string> under_way_;
  double tokens_;
  double refilled_at_ = 0;
  bool started_ = false;
  std::unordered_map<std::string, double> failed_at_;
  std::deque<std::string> failed_order_;  // oldest first, for forgetting
};

/// Why a check did not start, for logs.
const char* explain(claim_checks::verdict v);

}  // namespace dmoe::dht
