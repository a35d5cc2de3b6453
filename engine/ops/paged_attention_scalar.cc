// Portable inner kernels of PagedAttention (see paged_attention_kernels.h):
// plain C++ for CPUs without AVX2/FMA. Four partial sums in the dot product
// give the out-of-order core some independent work; everything else is a
// straightforward loop the compiler may vectorize (element-wise, so the
// result does not depend on how it does).

#include <cmath>
#include <limits>

#include "engine/common/dtype.h"
#include "engine/ops/paged_attention_kernels.h"

namespace llmserve::paged_attention_internal {
namespace {

inline float ToF32(float x) { return x; }
inline float ToF32(uint16_t x) { return BFloat16ToFloat(x); }

template <typename T>
float ScalarScores(const float* q, const T* const* keys, int n, int head_dim, float scale,
                   float* scores) {
  float max = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < n; ++j) {
    const T* k = keys[j];
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int d = 0;
    for (; d + 4 <= head_dim; d += 4) {
      s0 += q[d] * ToF32(k[d]);
      s1 += q[d + 1] * ToF32(k[d + 1]);
      s2 += q[d + 2] * ToF32(k[d + 2]);
      s3 += q[d + 3] * ToF32(k[d + 3]);
    }
    for (; d < head_dim; ++d) s0 += q[d] * ToF32(k[d]);
    const float s = ((s0 + s1) + (s2 + s3)) * scale;
    scores[j] = s;
    max = s > max ? s : max;
  }
  return max;
}

float ScalarExpSum(float* scores, int n, float max) {
  float sum = 0;
  for (int j = 0; j < n; ++j) {
    const float p = std::exp(scores[j] - max);
    scores[j] = p;
    sum += p;
  }
  return sum;
}

template <typename T>
void ScalarAccumulate(int rows, float* const* acc, const float* const* p,
                      const T* const* values, int j_begin, int j_end, int head_dim) {
  for (int r = 0; r < rows; ++r) {
    float* a = acc[r];
    for (int j = j_begin; j < j_end; ++j) {
      const float w = p[r][j];
      const T* v = values[j];
      for (int d = 0; d < head_dim; ++d) a[d] += w * ToF32(v[d]);
    }
  }
}

}  // namespace

const Kernels kScalarKernels = {&ScalarScores<float>, &ScalarExpSum, &ScalarAccumulate<float>,
                                &ScalarScores<uint16_t>, &ScalarAccumulate<uint16_t>};

}  // namespace llmserve::paged_attention_internal
