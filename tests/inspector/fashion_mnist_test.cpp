// The Fashion-MNIST loader (data.fashion_mnist): the real data set when it is installed, and
// small IDX files written to a temporary directory, valid and broken in every way the loader
// checks (missing, bad magic, truncated, corrupt gzip, mismatched counts, labels out of range).
#define CAF_SUITE data.fashion_mnist
#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <zlib.h>

#include "messages/errors.hpp"
#include "runtime/data/fashion_mnist.hpp"

using namespace dmoe;
using namespace dmoe::data;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<uint8_t>;

void put_u32(bytes& out, uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(x >> shift));
}

bytes images_idx(uint32_t count, uint32_t rows, uint32_t cols, const bytes& pixels) {
  bytes out{0, 0, 0x08, 3};
  put_u32(out, count);
  put_u32(out, rows);
  put_u32(out, cols);
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

bytes labels_idx(uint32_t count, const bytes& labels) {
  bytes out{0, 0, 0x08, 1};
  put_u32(out, count);
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

struct fixture {
  fs::path dir;

  fixture() {
    char name[] = "/tmp/dmoe-data-test-XXXXXX";
    dir = mkdtemp(name);
  }

  ~fixture() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  std::string gz(const std::string& name, const bytes& content) {
    auto path = (dir / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    CAF_REQUIRE(f != nullptr);
    CAF_REQUIRE_EQUAL(gzwrite(f, content.data(), static_cast<unsigned>(content.size())),
                      static_cast<int>(content.size()));
    gzclose(f);
    return path;
  }

  std::string plain(const std::string& name, const bytes& content) {
    auto path = (dir / name).string();
    std::ofstream out{path, std::ios::binary};
    out.write(reinterpret_cast<const char*>(content.data()), content.size());
    return path;
  }

  bytes read_raw(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    return bytes{std::istreambuf_iterator<char>{in}, {}};
  }

  // A valid 3-image 2x2 test split under the real file names.
  void write_small_test_split() {
    gz("t10k-images-idx3-ubyte.gz", images_idx(3, 2, 2, {0, 255, 51, 102, 1, 2, 3, 4, 9, 8, 7, 6}));
    gz("t10k-labels-idx1-ubyte.gz", labels_idx(3, {9, 0, 4}));
  }

  // Expects an error of `code` whose message names `file` and contains `what`.
  void expect_error(const caf::expected<image_set>& got, errc code, const std::string& file,
                    const std::string& what) {
    CAF_REQUIRE(!got);
    auto text = describe(got.error());
    CAF_MESSAGE("error: " << text);
    CAF_CHECK_EQUAL(code_of(got.error()), code);
    CAF_CHECK(text.find(file) != std::string::npos);
    CAF_CHECK(text.find(what) != std::string::npos);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(fashion_mnist_tests, fixture)

CAF_TEST(the installed data set loads with the published sizes and balanced labels) {
  if (!fs::exists(fs::path{default_fashion_mnist_dir} / "train-images-idx3-ubyte.gz")) {
    CAF_MESSAGE("dataset-fashion-mnist is not installed; skipped");
    return;
  }
  for (auto [split, count] : {std::pair{"train", size_t{60000}}, std::pair{"test", size_t{10000}}}) {
    auto set = load_fashion_mnist(default_fashion_mnist_dir, split);
    if (!set)
    CAF_FAIL(describe(set.error()));
    CAF_CHECK_EQUAL(set->count, count);
    CAF_CHECK_EQUAL(set->rows, 28u);
    CAF_CHECK_EQUAL(set->cols, 28u);
    CAF_CHECK_EQUAL(set->pixels.size(), count * 28 * 28);
    CAF_REQUIRE_EQUAL(set->labels.size(), count);
    std::vector<size_t> per_class(fashion_mnist_classes, 0);
    size_t out_of_range = 0;
    for (auto label : set->labels) {
      if (label >= 0 && label < fashion_mnist_classes)
        ++per_class[label];
      else
        ++out_of_range;
    }
    CAF_CHECK_EQUAL(out_of_range, 0u);
    for (auto n : per_class)  // Fashion-MNIST has exactly count/10 images per class
      CAF_CHECK_EQUAL(n, count / 10);
    auto [lo, hi] = std::minmax_element(set->pixels.begin(), set->pixels.end());
    CAF_CHECK_EQUAL(*lo, 0.0f);
    CAF_CHECK_EQUAL(*hi, 1.0f);
  }
}

CAF_TEST(a small valid split gives exact pixels and labels) {
  write_small_test_split();
  auto set = load_fashion_mnist(dir.string(), "test");
  if (!set)
    CAF_FAIL(describe(set.error()));
  CAF_CHECK_EQUAL(set->count, 3u);
  CAF_CHECK_EQUAL(set->image_size(), 4u);
  CAF_CHECK_EQUAL(set->labels, (std::vector<int64_t>{9, 0, 4}));
  CAF_REQUIRE_EQUAL(set->pixels.size(), 12u);
  CAF_CHECK_EQUAL(set->pixels[0], 0.0f);
  CAF_CHECK_EQUAL(set->pixels[1], 1.0f);
  CAF_CHECK_EQUAL(set->pixels[2], 51.0f / 255.0f);
  CAF_CHECK_EQUAL(set->pixels[11], 6.0f / 255.0f);
}

CAF_TEST(uncompressed files are read when no gz file exists) {
  plain("t10k-images-idx3-ubyte", images_idx(1, 1, 2, {255, 0}));
  plain("t10k-labels-idx1-ubyte", labels_idx(1, {7}));
  auto set = load_fashion_mnist(dir.string(), "test");
  if (!set)
    CAF_FAIL(describe(set.error()));
  CAF_CHECK_EQUAL(set->labels, (std::vector<int64_t>{7}));
  CAF_CHECK_EQUAL(set->pixels, (std::vector<float>{1.0f, 0.0f}));
}

CAF_TEST(missing files and unknown splits are errors) {
  expect_error(load_fashion_mnist(dir.string(), "train"), errc::not_found,
               "train-images-idx3-ubyte.gz", "no such file");
  gz("t10k-images-idx3-ubyte.gz", images_idx(1, 1, 1, {3}));
  expect_error(load_fashion_mnist(dir.string(), "test"), errc::not_found,
               "t10k-labels-idx1-ubyte.gz", "no such file");
  auto bad_split = load_fashion_mnist(dir.string(), "validation");
  CAF_REQUIRE(!bad_split);
  CAF_CHECK_EQUAL(code_of(bad_split.error()), errc::invalid_argument);
}

CAF_TEST(the presence check names the first missing file and accepts plain files) {
  auto none = check_fashion_mnist(dir.string());
  CAF_CHECK_EQUAL(code_of(none), errc::not_found);
  CAF_CHECK_NOT_EQUAL(describe(none).find("train-images-idx3-ubyte.gz"), std::string::npos);
  gz("train-images-idx3-ubyte.gz", images_idx(1, 1, 1, {3}));
  plain("train-labels-idx1-ubyte", labels_idx(1, {7}));
  gz("t10k-images-idx3-ubyte.gz", images_idx(1, 1, 1, {3}));
  auto one_left = check_fashion_mnist(dir.string());
  CAF_CHECK_NOT_EQUAL(describe(one_left).find("t10k-labels-idx1-ubyte.gz"), std::string::npos);
  plain("t10k-labels-idx1-ubyte", labels_idx(1, {7}));
  CAF_CHECK_EQUAL(check_fashion_mnist(dir.string()), caf::none);
}

CAF_TEST(bad headers are errors) {
  auto labels = gz("labels.gz", labels_idx(1, {0}));
  auto swapped = gz("swapped.gz", labels_idx(1, {0}));  // a labels file given as images
  expect_error(load_idx_pair(swapped, labels, 10), errc::malformed, "swapped.gz", "magic");
  auto zero_rows = gz("zero.gz", images_idx(1, 0, 28, {}));
  expect_error(load_idx_pair(zero_rows, labels, 10), errc::malformed, "zero.gz", "implausible");
  // A header asking for 4e9 x 4096 x 4096 bytes is refused before anything is allocated.
  auto huge = gz("huge.gz", images_idx(4000000000u, 4096, 4096, {}));
  expect_error(load_idx_pair(huge, labels, 10), errc::malformed, "huge.gz", "exceed");
  auto text = gz("text.gz", bytes{'h', 'e', 'l', 'l', 'o'});
  expect_error(load_idx_pair(text, labels, 10), errc::malformed, "text.gz", "magic");
}

CAF_TEST(truncated and corrupt files are errors) {
  auto labels = gz("labels.gz", labels_idx(2, {0, 1}));
  auto short_data = gz("short.gz", images_idx(2, 2, 2, {1, 2, 3, 4, 5}));
  expect_error(load_idx_pair(short_data, labels, 10), errc::malformed, "short.gz", "truncated");
  auto short_header = gz("header.gz", bytes{0, 0, 8, 3, 0, 0});
  expect_error(load_idx_pair(short_header, labels, 10), errc::malformed, "header.gz",
               "truncated");
  auto empty = gz("empty.gz", bytes{});
  expect_error(load_idx_pair(empty, labels, 10), errc::malformed, "empty.gz", "truncated");
  auto long_data = gz("long.gz", images_idx(2, 1, 1, {1, 2, 3}));
  expect_error(load_idx_pair(long_data, labels, 10), errc::malformed, "long.gz", "after the data");
  // A gzip stream cut in half, and one with damaged compressed bytes.
  bytes pixels(2 * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<uint8_t>(i * 7);
  auto whole = read_raw(gz("whole.gz", images_idx(2, 28, 28, pixels)));
  CAF_REQUIRE(load_idx_pair((dir / "whole.gz").string(), labels, 10));
  auto cut = plain("cut.gz", bytes(whole.begin(), whole.begin() + whole.size() / 2));
  expect_error(load_idx_pair(cut, labels, 10), errc::malformed, "cut.gz", "");
  auto damaged_bytes = whole;
  for (size_t i = 20; i < damaged_bytes.size() - 10; i += 3)
    damaged_bytes[i] ^= 0x5a;
  auto damaged = plain("damaged.gz", damaged_bytes);
  expect_error(load_idx_pair(damaged, labels, 10), errc::malformed, "damaged.gz", "");
}

CAF_TEST(labels must match the images and the class count) {
  auto images = gz("images.gz", images_idx(2, 1, 1, {1, 2}));
  auto three = gz("three.gz", labels_idx(3, {0, 1, 2}));
  expect_error(load_idx_pair(images, three, 10), errc::malformed, "three.gz",
               "3 labels for 2 images");
  auto out_of_range = gz("range.gz", labels_idx(2, {3, 10}));
  expect_error(load_idx_pair(images, out_of_range, 10), errc::malformed, "range.gz",
               "label 10 of image 1");
  CAF_CHECK(load_idx_pair(images, out_of_range, 11));
}

CAF_TEST_FIXTURE_SCOPE_END()
