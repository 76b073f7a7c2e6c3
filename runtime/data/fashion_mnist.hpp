// Fashion-MNIST (Zalando, 28x28 grey images of 10 clothing classes) read from its gzipped IDX
// files, as Debian's dataset-fashion-mnist installs them. No LibTorch: the trainer turns the
// plain vectors into tensors. Every header field and every label is checked; a missing,
// truncated or corrupt file gives an error naming the file and what is wrong.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace dmoe::data {

constexpr const char* default_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
constexpr int64_t fashion_mnist_classes = 10;
constexpr std::array<const char*, fashion_mnist_classes> fashion_mnist_class_names = {
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// Bounds that a sane IDX header never exceeds; they keep a corrupt header from asking for
// gigabytes before the data is read.
constexpr uint32_t max_idx_side = 4096;
constexpr uint64_t max_idx_pixels = uint64_t{1} << 31;

/// Images and their labels, row-major: image i is pixels[i*rows*cols, (i+1)*rows*cols).
struct image_set {
  size_t count = 0;
  size_t rows = 0;
  size_t cols = 0;
  std::vector<float> pixels;    // scaled to [0, 1]
  std::vector<int64_t> labels;  // in [0, classes)

  size_t image_size() const {
    return rows * cols;
  }
};

/// The IDX file names of a split ("train" or "test"), without the ".gz" suffix:
/// {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"}.
caf::expected<std::array<std::string, 2>> fashion_mnist_files(std::string_view split);

/// An error naming the first file of either split missing from `dir` (as NAME.gz or NAME, the
/// names load_fashion_mnist reads); none when all four are there. Reads no data.
caf::error check_fashion_mnist(const std::string& dir);

/// Loads split "train" (60000 images) or "test" (10000) from `dir`. Each file is read as
/// NAME.gz, or NAME when only the uncompressed file exists.
caf::expected<image_set> load_fashion_mnist(const std::string& dir, std::string_view split);

/// Loads an images file (IDX magic 0x803: count x rows x cols unsigned bytes) and a labels file
/// (magic 0x801: count unsigned bytes), gzipped or not, and checks they match and that every
/// label is below `classes`.
caf::expected<image_set> load_idx_pair(const std::string& images_path,
                                       const std::string& labels_path, int64_t classes);

}  // namespace dmoe::data
