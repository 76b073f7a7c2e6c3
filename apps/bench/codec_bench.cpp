// `dmoe-bench codec`: the tensor codec against memcpy of the same bytes, in the same run.
//
// A float32 tensor (default 256 x 1024, 1 MiB) is encoded into a payload and decoded back.
// Every figure is the median over --repeats runs of --iters operations each, after a warm-up,
// and is printed as a throughput ratio to memcpy of the tensor's bytes into a preallocated
// buffer (1.0 = as fast as one memcpy). The target for an encode + decode round trip is
// >= 0.5x memcpy, i.e. no more than about two copies' worth of work.
//
//   dmoe-bench codec [--rows 256] [--cols 1024] [--iters 200] [--repeats 7] [--mm-n 512]
#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include <fmt/core.h>
#include <torch/types.h>

#include "apps/bench/bench.hpp"
#include "apps/bench/blas_info.hpp"
#include "runtime/tensor_codec.hpp"

namespace dmoe::bench {

namespace {

constexpr double target_ratio = 0.5;
constexpr int warmup_iters = 10;

struct codec_options {
  int64_t rows = 256;
  int64_t cols = 1024;
  int iters = 200;
  int repeats = 7;
  int mm_n = 512;
};

using clock_type = std::chrono::steady_clock;

// One timed operation: runs once and returns the seconds that count (so setup such as copying a
// payload that the operation consumes stays outside the measurement).
using timed_op = std::function<double()>;

// Median over `repeats` of the mean seconds per operation.
double measure(const codec_options& opt, const timed_op& op) {
  for (int i = 0; i < warmup_iters; ++i)
    op();
  std::vector<double> per_op;
  for (int r = 0; r < opt.repeats; ++r) {
    double total = 0;
    for (int i = 0; i < opt.iters; ++i)
      total += op();
    per_op.push_back(total / opt.iters);
  }
  return median(std::move(per_op));
}

template <class F>
double time_of(F&& f) {
  auto start = clock_type::now();
  f();
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Keeps results observable so the compiler cannot drop the work.
volatile uint64_t sink = 0;

void require(bool ok, const char* what) {
  if (!ok) {
    fmt::print(stderr, "codec bench: {} failed\n", what);
    std::exit(1);
  }
}

void print_line(const char* name, double seconds, double memcpy_seconds, size_t nbytes,
                bool check_target) {
  auto ratio = memcpy_seconds / seconds;
  fmt::print("  {:<34} {:9.1f} us  {:7.2f} GB/s  {:5.2f}x memcpy{}\n", name, seconds * 1e6,
             static_cast<double>(nbytes) / seconds / 1e9, ratio,
             check_target ? (ratio >= target_ratio ? "  (meets target)" : "  (BELOW target)")
                          : "");
}

void run_codec_bench(const codec_options& opt) {
  torch::NoGradGuard no_grad;
  fmt::print("BLAS in use: {}\n", blas_in_use());
  fmt::print("torch::mm {}x{} float32: {:.1f} GFLOPS\n", opt.mm_n, opt.mm_n, mm_gflops(opt.mm_n));

  auto t = torch::randn({opt.rows, opt.cols});
  auto nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  const wire_limits limits;
  fmt::print("codec: {}x{} float32 ({:.2f} MiB), {} repeats x {} iters, medians\n", opt.rows,
             opt.cols, static_cast<double>(nbytes) / (1 << 20), opt.repeats, opt.iters);
  fmt::print("target: encode + decode round trip >= {:.1f}x memcpy\n", target_ratio);

  // Reference: memcpy of the tensor's bytes into a preallocated buffer.
  std::vector<char> dst(nbytes);
  const auto* src = static_cast<const char*>(t.data_ptr());
  auto memcpy_s = measure(opt, [&] {
    return time_of([&] {
      std::memcpy(dst.data(), src, nbytes);
      sink = sink + static_cast<uint8_t>(dst[nbytes / 2]);
    });
  });

  auto encoded = encode_tensor(t);
  {
    auto back = decode_tensor(encoded, limits);
    require(back && torch::equal(*back, t), "copying round trip");
    auto copy = encoded;
    auto aliased = decode_tensor(std::move(copy), limits);
    require(aliased && torch::equal(*aliased, t), "zero-copy round trip");
  }

  auto encode_s = measure(opt, [&] {
    return time_of([&] {
      auto p = encode_tensor(t);
      sink = sink + p.bytes.size();
    });
  });
  auto decode_copy_s = measure(opt, [&] {
    return time_of([&] {
      auto x = decode_tensor(encoded, limits);
      sink = sink + static_cast<uint64_t>(x->numel());
    });
  });
  auto decode_alias_s = measure(opt, [&] {
    auto copy = encoded;  // consumed by the decode; copied outside the measurement
    return time_of([&] {
      auto x = decode_tensor(std::move(copy), limits);
      sink = sink + static_cast<uint64_t>(x->numel());
    });
  });
  // The same with the NaN/inf scan switched off, to show what the scan costs.
  wire_limits no_scan;
  no_scan.nans = nan_policy::allow;
  auto decode_alias_noscan_s = measure(opt, [&] {
    auto copy = encoded;
    return time_of([&] {
      auto x = decode_tensor(std::move(copy), no_scan);
      sink = sink + static_cast<uint64_t>(x->numel());
    });
  });
  auto round_copy_s = measure(opt, [&] {
    return time_of([&] {
      auto x = decode_tensor(encode_tensor(t), limits);
      sink = sink + static_cast<uint64_t>(x->numel());
    });
  });
  auto round_alias_s = measure(opt, [&] {
    return time_of([&] {
      auto p = encode_tensor(t);
      auto x = decode_tensor(std::move(p), limits);
      sink = sink + static_cast<uint64_t>(x->numel());
    });
  });
  auto round_fp16_s = measure(opt, [&] {
    return time_of([&] {
      auto p = encode_tensor(t, wire::Compression::FLOAT16);
      auto x = decode_tensor(std::move(p), limits);
      sink = sink + static_cast<uint64_t>(x->numel());
    });
  });
  auto fp16_bytes = encode_tensor(t, wire::Compression::FLOAT16).bytes.size();

  print_line("memcpy (reference)", memcpy_s, memcpy_s, nbytes, false);
  print_line("encode", encode_s, memcpy_s, nbytes, false);
  print_line("decode, copying (const payload&)", decode_copy_s, memcpy_s, nbytes, false);
  print_line("decode, zero-copy (payload&&)", decode_alias_s, memcpy_s, nbytes, false);
  print_line("decode, zero-copy, nan-policy allow", decode_alias_noscan_s, memcpy_s, nbytes,
             false);
  print_line("encode + copying decode", round_copy_s, memcpy_s, nbytes, true);
  print_line("encode + zero-copy decode", round_alias_s, memcpy_s, nbytes, true);
  print_line("float16: encode + decode", round_fp16_s, memcpy_s, nbytes, false);
  fmt::print("  payload: {} bytes ({} with float16 compression)\n", encoded.bytes.size(),
             fp16_bytes);
}

}  // namespace

void add_codec_bench(CLI::App& app) {
  auto opt = std::make_shared<codec_options>();
  auto* cmd = app.add_subcommand("codec", "tensor encode/decode throughput against memcpy");
  cmd->add_option("--rows", opt->rows, "tensor rows")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--cols", opt->cols, "tensor columns")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--iters", opt->iters, "operations per repeat")->check(CLI::Range(1, 1000000));
  cmd->add_option("--repeats", opt->repeats, "repeats; the median is reported")
    ->check(CLI::Range(1, 1000));
  cmd->add_option("--mm-n", opt->mm_n, "matrix size of the torch::mm GFLOPS line")
    ->check(CLI::Range(16, 8192));
  cmd->callback([opt] { run_codec_bench(*opt); });
}

}  // namespace dmoe::bench
