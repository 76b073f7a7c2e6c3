#include "runtime/token_bucket.hpp"

#include <algorithm>

namespace dmoe {

bool token_bucket::take(double n, double rate, double burst, double now) {
  if (rate <= 0)
    return true;
  auto size = std::max(burst, 1.0);
  if (tokens < 0) {
    tokens = size;
    updated = now;
  }
  tokens = std::min(size, tokens + std::max(0.0, now - updated) * rate);
  updated = now;
  if (tokens < n)
    return false;
  tokens -= n;
  return true;
}

bool token_bucket::full(double rate, double burst, double now) const {
  if (rate <= 0 || tokens < 0)
    return true;
  return tokens + std::max(0.0, now - updated) * rate >= std::max(burst, 1.0);
}

}  // namespace dmoe
