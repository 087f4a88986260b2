// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11): a counter-based generator, so element e of iteration i of a
// plan is drawn from (counter = e, i; key = seed) with no state to carry.
// __host__ __device__ so the host-side known-answer test checks the exact
// code the sampling kernel runs.
#pragma once

#include <cstdint>

namespace jepa::cuda {

struct PhiloxWords {
  std::uint32_t x, y, z, w;
};

__host__ __device__ inline std::uint32_t mulhi32(std::uint32_t a, std::uint32_t b) {
#ifdef __CUDA_ARCH__
  return __umulhi(a, b);
#else
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(a) * b) >> 32);
#endif
}

__host__ __device__ inline PhiloxWords philox4x32_10(PhiloxWords c, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const std::uint32_t hi0 = mulhi32(M0, c.x), lo0 = M0 * c.x;
    const std::uint32_t hi1 = mulhi32(M1, c.z), lo1 = M1 * c.z;
    c = PhiloxWords{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
    k0 += W0;
    k1 += W1;
  }
  return c;
}

}  // namespace jepa::cuda
