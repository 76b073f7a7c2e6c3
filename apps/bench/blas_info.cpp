#include "apps/bench/blas_info.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>
#include <vector>

#include <dlfcn.h>
#include <torch/types.h>

namespace dmoe::bench {

namespace {

// Library file names that identify a BLAS implementation.
constexpr std::string_view blas_markers[] = {"libopenblas", "libblas", "libmkl", "libblis",
                                             "libcblas", "libatlas", "libflexiblas"};

constexpr int mm_repeats = 5;

// OpenBLAS and MKL describe their build (version, kernel, threads) through these symbols.
std::string build_description() {
  using config_fn = const char* (*)();
  if (auto f = reinterpret_cast<config_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
    return f();
  using mkl_version_fn = void (*)(char*, int);
  if (auto f = reinterpret_cast<mkl_version_fn>(dlsym(RTLD_DEFAULT, "mkl_get_version_string"))) {
    char buf[256] = {};
    f(buf, sizeof(buf) - 1);
    return buf;
  }
  return {};
}

bool is_blas(std::string_view file) {
  return std::any_of(std::begin(blas_markers), std::end(blas_markers),
                     [&](std::string_view marker) { return file.find(marker) == 0; });
}

}  // namespace

std::string blas_in_use() {
  // Force LibTorch to load and call its BLAS before looking at the mappings.
  auto a = torch::ones({64, 64});
  auto c = torch::mm(a, a);
  (void) c.sum().item<float>();
  std::set<std::string> found;
  std::ifstream maps{"/proc/self/maps"};
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos)
      continue;
    std::filesystem::path path = line.substr(slash);
    if (!is_blas(path.filename().string()))
      continue;
    std::error_code ec;
    auto resolved = std::filesystem::canonical(path, ec);
    auto shown = path.string();
    if (!ec && resolved != path)
      shown += " -> " + resolved.string();
    found.insert(std::move(shown));
  }
  if (found.empty())
    return "none found";
  std::string out;
  for (const auto& entry : found)
    out += (out.empty() ? "" : ", ") + entry;
  if (auto description = build_description(); !description.empty())
    out += " [" + description + "]";
  return out;
}

double mm_gflops(int n) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::mm(a, b);  // warm-up
  std::vector<double> seconds;
  for (int i = 0; i < mm_repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    c = torch::mm(a, b);
    auto stop = std::chrono::steady_clock::now();
    seconds.push_back(std::chrono::duration<double>(stop - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  auto flops = 2.0 * n * n * static_cast<double>(n);
  return flops / seconds[seconds.size() / 2] / 1e9;
}

double ffn_products_gflops(int64_t batch, int64_t hidden) {
  torch::NoGradGuard no_grad;
  auto inner = 4 * hidden;
  auto x = torch::randn({batch, hidden});
  auto w1 = torch::randn({hidden, inner});
  auto w2 = torch::randn({inner, hidden});
  auto gy = torch::randn({batch, hidden});
  auto products = [&] {
    auto a = torch::mm(x, w1);             // forward
    auto y = torch::mm(a, w2);
    auto ga = torch::mm(gy, w2.t());       // backward: input gradients
    auto gx = torch::mm(ga, w1.t());
    auto gw2 = torch::mm(a.t(), gy);       // weight gradients (inner dimension: the batch)
    auto gw1 = torch::mm(x.t(), ga);
    return y.numel() + gx.numel() + gw1.numel() + gw2.numel();
  };
  products();  // warm-up
  std::vector<double> seconds;
  for (int i = 0; i < mm_repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    products();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  auto flops = 6 * 2.0 * static_cast<double>(batch) * hidden * inner;
  return flops / seconds[seconds.size() / 2] / 1e9;
}

}  // namespace dmoe::bench
