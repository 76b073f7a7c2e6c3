// Which BLAS LibTorch really calls at run time, and how fast its matrix multiply is. Benchmarks
// print this first: a reference BLAS instead of OpenBLAS/MKL changes every compute figure.
#pragma once

#include <cstdint>
#include <string>

namespace dmoe::bench {

/// The BLAS libraries mapped into this process after a small torch::mm (paths from
/// /proc/self/maps, "-> target" where a symlink resolves elsewhere), joined by ", ", then the
/// library's own build description in brackets when it exports one (openblas_get_config,
/// mkl_get_version_string). "none found" when no BLAS library is mapped.
std::string blas_in_use();

/// GFLOPS of torch::mm on two n x n float32 matrices (median of a few runs, after a warm-up).
double mm_gflops(int n);

/// GFLOPS of torch::mm alone on the six products of an ffn expert's forward and backward at
/// `batch` rows (hidden -> 4 x hidden -> hidden: two forward, two input-gradient and two
/// weight-gradient products, the latter with the batch as their inner dimension).
double ffn_products_gflops(int64_t batch, int64_t hidden);

}  // namespace dmoe::bench
