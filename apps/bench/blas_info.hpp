// Which BLAS LibTorch really calls at run time, and how fast its matrix multiply is. Benchmarks
// print this first: a reference BLAS instead of OpenBLAS/MKL changes every compute figure.
#pragma once

#include <string>

namespace dmoe::bench {

/// The BLAS libraries mapped into this process after a small torch::mm (paths from
/// /proc/self/maps, "-> target" where a symlink resolves elsewhere), joined by ", ", then the
/// library's own build description in brackets when it exports one (openblas_get_config,
/// mkl_get_version_string). "none found" when no BLAS library is mapped.
std::string blas_in_use();

/// GFLOPS of torch::mm on two n x n float32 matrices (median of a few runs, after a warm-up).
double mm_gflops(int n);

}  // namespace dmoe::bench
