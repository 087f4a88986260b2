// AdamW (decoupled weight decay, bias-corrected moments) as one in-place pass
// over a parameter tensor and its two moment buffers (jepa/train.h).
#include <algorithm>
#include <cmath>

#include "jepa/thread_pool.h"
#include "jepa/train.h"

namespace jepa {

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWParams& hp,
                ThreadPool* pool) {
  if (hp.step < 1) throw TrainArgError("adamwStep: step must be >= 1 (the 1-based number of this update)");
  if (!(hp.lr >= 0) || !(hp.beta1 >= 0 && hp.beta1 < 1) || !(hp.beta2 >= 0 && hp.beta2 < 1) || !(hp.eps > 0))
    throw TrainArgError("adamwStep: need lr >= 0, 0 <= beta1, beta2 < 1 and eps > 0");
  const double bc1 = 1.0 - std::pow(static_cast<double>(hp.beta1), hp.step);
  const double bc2 = 1.0 - std::pow(static_cast<double>(hp.beta2), hp.step);
  const float step_size = static_cast<float>(hp.lr / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const float decay = 1.0f - hp.lr * hp.weight_decay;
  const float b1 = hp.beta1, b2 = hp.beta2, eps = hp.eps;
  constexpr int64_t kChunk = 1 << 15;
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  auto body = [&](int64_t t, int) {
    const int64_t i1 = std::min(n, (t + 1) * kChunk);
    for (int64_t i = t * kChunk; i < i1; ++i) {
      const float g = grad[i];
      const float mi = b1 * m[i] + (1.0f - b1) * g;
      const float vi = b2 * v[i] + (1.0f - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      param[i] = param[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
  };
  if (pool && pool->size() > 1 && tasks > 1) pool->parallel_for(tasks, body);
  else
    for (int64_t t = 0; t < tasks; ++t) body(t, 0);
}

}  // namespace jepa
