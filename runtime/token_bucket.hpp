// A token bucket (pure logic, time passed in): `rate` tokens per second up to `burst` (at least
// 1). Rate and burst are passed at each call, so a bucket's owner may scale them (per-peer
// shares); a rate of 0 is no limit.
#pragma once

namespace dmoe {

struct token_bucket {
  double tokens = -1;  // < 0: not used yet (full)
  double updated = 0;

  /// Takes `n` tokens after refilling to `now`; false (nothing taken) when too few. Time going
  /// back refills nothing.
  bool take(double n, double rate, double burst, double now);

  /// Whether the bucket is full at `now` (a peer with only full buckets may be forgotten).
  bool full(double rate, double burst, double now) const;
};

}  // namespace dmoe
