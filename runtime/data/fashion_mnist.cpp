#include "runtime/data/fashion_mnist.hpp"

#include <algorithm>
#include <memory>
#include <tuple>

#include <sys/stat.h>
#include <zlib.h>

#include "messages/errors.hpp"

namespace dmoe::data {

namespace {

constexpr uint8_t idx_unsigned_byte = 0x08;
constexpr size_t idx_image_dims = 3;
constexpr size_t idx_label_dims = 1;
constexpr unsigned max_gzread_chunk = 1u << 30;  // gzread counts in int

bool exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

/// An open IDX file (gzipped or plain: zlib reads both) whose errors name the file.
class idx_reader {
public:
  explicit idx_reader(std::string path) : path_(std::move(path)) {
  }

  caf::error open() {
    if (!exists(path_))
      return make_error(errc::not_found, path_ + ": no such file");
    file_.reset(gzopen(path_.c_str(), "rb"));
    if (!file_)
      return make_error(errc::not_found, path_ + ": cannot open");
    return {};
  }

  /// Reads exactly `size` bytes of `what`; fewer is a truncated file.
  caf::error read(void* out, size_t size, const char* what) {
    auto* dst = static_cast<char*>(out);
    size_t done = 0;
    while (done < size) {
      auto chunk = static_cast<unsigned>(std::min<size_t>(size - done, max_gzread_chunk));
      int got = gzread(file_.get(), dst + done, chunk);
      if (got < 0)
        return corrupt();
      if (got == 0)
        return make_error(errc::malformed, path_ + " is truncated: " + std::to_string(done) +
                                             " of " + std::to_string(size) + " bytes of " +
                                             what);
      done += static_cast<size_t>(got);
    }
    return {};
  }

  /// Reads the header: magic 0x00 0x00 0x08 `dims`, then `dims` big-endian uint32 sizes.
  caf::expected<std::vector<uint32_t>> header(size_t dims) {
    uint8_t magic[4];
    if (auto err = read(magic, sizeof(magic), "the IDX magic number"))
      return err;
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != idx_unsigned_byte || magic[3] != dims)
      return make_error(errc::malformed,
                        path_ + ": bad IDX magic number, expected 0x0000080" +
                          std::to_string(dims) + " (unsigned bytes, " + std::to_string(dims) +
                          " dimensions)");
    std::vector<uint32_t> sizes(dims);
    for (auto& size : sizes) {
      uint8_t raw[4];
      if (auto err = read(raw, sizeof(raw), "the IDX dimensions"))
        return err;
      size = (uint32_t{raw[0]} << 24) | (uint32_t{raw[1]} << 16) | (uint32_t{raw[2]} << 8) | raw[3];
    }
    return sizes;
  }

  /// The file must end after the data; reading on also verifies the gzip checksum.
  caf::error expect_end() {
    char extra;
    int got = gzread(file_.get(), &extra, 1);
    if (got < 0)
      return corrupt();
    if (got > 0)
      return make_error(errc::malformed, path_ + ": unexpected bytes after the data");
    return {};
  }

  caf::error error(const std::string& what) const {
    return make_error(errc::malformed, path_ + ": " + what);
  }

private:
  caf::error corrupt() {
    int code = Z_OK;
    std::string message = gzerror(file_.get(), &code);
    if (message.rfind(path_ + ": ", 0) == 0)  // zlib prefixes its messages with the path
      message.erase(0, path_.size() + 2);
    return make_error(errc::malformed, path_ + ": corrupt gzip data (" + message + ")");
  }

  struct closer {
    void operator()(gzFile f) const {
      gzclose(f);
    }
  };

  std::string path_;
  std::unique_ptr<gzFile_s, closer> file_;
};

caf::error read_images(idx_reader& in, image_set& out) {
  auto dims = in.header(idx_image_dims);
  if (!dims)
    return dims.error();
  auto [count, rows, cols] = std::tuple{(*dims)[0], (*dims)[1], (*dims)[2]};
  if (count == 0 || rows == 0 || cols == 0 || rows > max_idx_side || cols > max_idx_side)
    return in.error("implausible image dimensions " + std::to_string(count) + "x" +
                    std::to_string(rows) + "x" + std::to_string(cols));
  uint64_t pixels = uint64_t{count} * rows * cols;
  if (pixels > max_idx_pixels)
    return in.error(std::to_string(pixels) + " pixels exceed the limit of " +
                    std::to_string(max_idx_pixels));
  std::vector<uint8_t> raw(pixels);
  if (auto err = in.read(raw.data(), raw.size(), "pixels"))
    return err;
  if (auto err = in.expect_end())
    return err;
  out.count = count;
  out.rows = rows;
  out.cols = cols;
  out.pixels.resize(raw.size());
  for (size_t i = 0; i < raw.size(); ++i)
    out.pixels[i] = static_cast<float>(raw[i]) * (1.0f / 255.0f);
  return {};
}

caf::error read_labels(idx_reader& in, int64_t classes, image_set& out) {
  auto dims = in.header(idx_label_dims);
  if (!dims)
    return dims.error();
  auto count = (*dims)[0];
  if (count != out.count)
    return in.error(std::to_string(count) + " labels for " + std::to_string(out.count) +
                    " images");
  std::vector<uint8_t> raw(count);
  if (auto err = in.read(raw.data(), raw.size(), "labels"))
    return err;
  if (auto err = in.expect_end())
    return err;
  out.labels.resize(count);
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] >= classes)
      return in.error("label " + std::to_string(raw[i]) + " of image " + std::to_string(i) +
                      " is not below " + std::to_string(classes));
    out.labels[i] = raw[i];
  }
  return {};
}

/// NAME.gz when it exists, else NAME (and when neither exists NAME.gz, for the error).
std::string pick_file(const std::string& dir, const std::string& name) {
  auto base = dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
  if (exists(base + ".gz") || !exists(base))
    return base + ".gz";
  return base;
}

}  // namespace

caf::expected<std::array<std::string, 2>> fashion_mnist_files(std::string_view split) {
  if (split == "train")
    return std::array<std::string, 2>{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"};
  if (split == "test")
    return std::array<std::string, 2>{"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  return make_error(errc::invalid_argument,
                    "unknown Fashion-MNIST split '" + std::string(split) +
                      "' (expected train or test)");
}

caf::error check_fashion_mnist(const std::string& dir) {
  for (auto split : {"train", "test"}) {
    auto files = fashion_mnist_files(split);
    for (const auto& name : *files)
      if (auto path = pick_file(dir, name); !exists(path))
        return make_error(errc::not_found,
                          "Fashion-MNIST not found: no " + path
                            + " (install Debian's dataset-fashion-mnist, or point the data "
                              "directory, trainer.data-dir, at these files)");
  }
  return caf::none;
}

caf::expected<image_set> load_fashion_mnist(const std::string& dir, std::string_view split) {
  auto files = fashion_mnist_files(split);
  if (!files)
    return files.error();
  return load_idx_pair(pick_file(dir, (*files)[0]), pick_file(dir, (*files)[1]),
                       fashion_mnist_classes);
}

caf::expected<image_set> load_idx_pair(const std::string& images_path,
                                       const std::string& labels_path, int64_t classes) {
  if (classes < 1 || classes > 256)
    return make_error(errc::invalid_argument,
                      "class count " + std::to_string(classes) + " is not in 1..256");
  image_set out;
  idx_reader images{images_path};
  if (auto err = images.open())
    return err;
  if (auto err = read_images(images, out))
    return err;
  idx_reader labels{labels_path};
  if (auto err = labels.open())
    return err;
  if (auto err = read_labels(labels, classes, out))
    return err;
  return out;
}

}  // namespace dmoe::data
