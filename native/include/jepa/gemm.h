// Linear-layer GEMM: C[M,N] = A[M,K] · B[N,K]^T + bias, with B prepacked into
// column panels for the micro-kernel the CPU supports (AVX-512, AVX2/FMA or
// portable), chosen once at run time. Optional fused activation and
// accumulate-into-C (residual connections).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace jepa {

class ThreadPool;

enum class Act : int { None = 0, Gelu = 1, Relu = 2, Tanh = 3, Silu = 4 };

// Instruction set the kernels run with.
enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2 };
Isa detected_isa();
// Active ISA (defaults to the detected one; tests may force a lower one).
Isa active_isa();
void force_isa(Isa isa);  // clamps to what the CPU supports
const char* isa_name(Isa isa);

// Aligned float buffer (64-byte alignment).
class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n) { resize(n); }
  void resize(size_t n);           // contents not preserved
  void ensure(size_t n) { if (n > size_) resize(n); }
  float* data() { return ptr_.get(); }
  const float* data() const { return ptr_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free { void operator()(float* p) const; };
  std::unique_ptr<float, Free> ptr_;
  size_t size_ = 0;
};

// Panel width (columns per packed panel) of the active kernel.
int gemm_nr();
// Floats needed to pack an N×K matrix for the active kernel.
size_t packed_size(int N, int K);
// Packs B given as row-major [N, K] (ldb >= K): the nn.Linear weight layout.
void pack_b_nk(const float* B, int N, int K, int ldb, float* out);
// Packs B given as row-major [K, N] (ldb >= N): used for P·V in attention.
void pack_b_kn(const float* B, int K, int N, int ldb, float* out);

// A Linear layer's weight prepacked at load, with its bias.
struct PackedLinear {
  int in = 0, out = 0;
  FloatBuffer packed;
  std::vector<float> bias;  // empty: no bias
  bool has_bias() const { return !bias.empty(); }
};
// W row-major [out, in]; bias may be null. scale (optional, [out]) multiplies
// rows of W and the bias (folds LayerScale gamma into the layer).
void pack_linear(PackedLinear& dst, const float* W, const float* bias, int out, int in,
                 const float* row_scale = nullptr);

// C = (accumulate ? C : 0) + A·Bp^T + bias, then act. pool == nullptr runs on
// the calling thread. Activation with accumulate applies to the sum.
void gemm(int M, int N, int K, const float* A, int lda, const float* Bp, const float* bias, float* C,
          int ldc, bool accumulate, Act act, ThreadPool* pool);

inline void linear(const PackedLinear& L, int M, const float* A, int lda, float* C, int ldc, bool accumulate,
                   Act act, ThreadPool* pool) {
  gemm(M, L.out, L.in, A, lda, L.packed.data(), L.has_bias() ? L.bias.data() : nullptr, C, ldc, accumulate,
       act, pool);
}

}  // namespace jepa

namespace jepa {

// ── Opt-in BF16 precision on AMX tiles ──────────────────────────────────────
// Weights and activations rounded to bfloat16 (8-bit mantissa), products
// summed in float32 by AMX tile dot products (tdpbf16ps): relative error
// around 1e-2. Used only when a model is created with precision 'bfloat16';
// float32 stays the default everywhere.
bool amx_bf16_supported();  // CPU has AMX-BF16 and the kernel granted tile state

struct PackedLinearAmx {
  int in = 0, out = 0, kblocks = 0, panel_pairs = 0;  // K in blocks of 32, N in pairs of 16-column panels
  std::vector<uint16_t> packed;  // [panel][kblock][16 k-pairs][16 columns][2]
  std::vector<float> bias;
};
// row_scale (optional, [out]) multiplies rows of W and the bias before rounding
// (LayerScale gamma folded in, as pack_linear does).
void pack_linear_amx(PackedLinearAmx& dst, const float* W, const float* bias, int out, int in,
                     const float* row_scale = nullptr);
// C = (accumulate ? C : 0) + bf16(A)·bf16(W)^T + bias, then act. pool == nullptr
// runs on the calling thread; with a pool, 32-row blocks × 32-column panel
// pairs are shared among its threads (each loads its own tile configuration).
void linear_amx(const PackedLinearAmx& L, int M, const float* A, int lda, float* C, int ldc, bool accumulate, Act act,
                ThreadPool* pool = nullptr);

}  // namespace jepa
