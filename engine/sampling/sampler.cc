#include "engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace llmserve {

SamplingRng::SamplingRng(const SamplingParams& params)
    : engine_(params.seed.has_value() ? *params.seed : std::random_device{}()) {}

double SamplingRng::Uniform() {
  return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0);
}

namespace {

// 4 floats as one value (GCC/Clang vector extension: element-wise operators,
// compiled to the baseline SSE2 / NEON instructions, no ISA-specific path).
typedef float Float4 __attribute__((vector_size(16)));
typedef int32_t Int4 __attribute__((vector_size(16)));

inline Float4 Load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// exp(x) for x ≤ 0 (softmax terms after subtracting the maximum), 4 lanes:
// Cephes' expf (range reduction by ln 2, degree-6 polynomial, ~1 ulp), 0 for
// x < -87 (below that exp(x) < 1.7e-38, a denormal whose draw probability is
// nil) and for -inf or NaN. exp(0) is exactly 1.
inline Float4 ExpNonPositive4(Float4 x) {
  const Float4 lo = Float4{} - 87.0f;
  const Int4 in_range = x >= lo;  // false for NaN and -inf
  x = in_range ? x : lo;
  const Float4 y = x * 1.44269504088896341f - 0.5f;  // n = round(x / ln 2), x ≤ 0
  const Int4 n = __builtin_convertvector(y, Int4);     // toward zero: ceil(y)
  const Float4 nf = __builtin_convertvector(n, Float4);
  const Float4 r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
  Float4 p = Float4{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const Int4 scale_bits = (n + 127) << 23;
  Float4 scale;
  std::memcpy(&scale, &scale_bits, sizeof(scale));
  const Float4 e = p * scale;
  return in_range ? e : Float4{};
}

inline double Sum4(Float4 v) { return (static_cast<double>(v[0]) + v[1]) + (static_cast<double>(v[2]) + v[3]); }

}  // namespace

int32_t ArgMax(absl::Span<const float> values) {
  // The sequential definition (best = 0; best = i whenever values[i] >
  // values[best]) runs one dependent load-compare per element (~27 µs for
  // GPT-2's 50,257 logits, sampling_bench BM_ArgMax, Zen 4); here two
  // vectorized passes (~3 µs): the maximum over 8 × 4 lanes (x > m ? x : m,
  // so a NaN is never taken), then the first index holding it (== treats -0
  // and +0 alike, as > did). A NaN at index 0 is the answer (nothing
  // compares greater); elsewhere NaNs are skipped.
  constexpr int64_t kBlock = 32;
  const int64_t n = static_cast<int64_t>(values.size());
  const float* v = values.data();
  if (n == 0 || std::isnan(v[0])) return 0;
  Float4 m[8];
  for (Float4& x : m) x = Float4{} + v[0];
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    for (int j = 0; j < 8; ++j) {
      const Float4 x = Load4(v + i + 4 * j);
      m[j] = x > m[j] ? x : m[j];
    }
  }
  float max = v[0];
  for (const Float4& x : m) {
    for (int l = 0; l < 4; ++l) max = x[l] > max ? x[l] : max;
  }
  for (; i < n; ++i) max = v[i] > max ? v[i] : max;
  for (i = 0; i + kBlock <= n; i += kBlock) {
    Int4 hit = Int4{};
    for (int j = 0; j < 8; ++j) hit |= Load4(v + i + 4 * j) == max;
    if ((hit[0] | hit[1] | hit[2] | hit[3]) != 0) break;
  }
  for (; i < n; ++i) {
    if (v[i] == max) return static_cast<int32_t>(i);
  }
  return 0;  // not reached: max is one of the values
}

int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    SamplingRng& rng, std::vector<std::pair<float, int32_t>>& scratch) {
  const int32_t vocab = static_cast<int32_t>(logits.size());
  if (params.temperature == 0.0f || vocab == 1) return ArgMax(logits);
  const int32_t best = ArgMax(logits);
  // Every token banned (-inf): nothing to sample; validation prevents this,
  // and argmax keeps the result defined.
  if (!(logits[best] > -std::numeric_limits<float>::infinity())) return best;

  const float raw_max = logits[best];
  if (params.min_p <= 0.0f && (params.top_k <= 0 || params.top_k >= vocab) && params.top_p >= 1.0f) {
    // Plain temperature sampling (a server's default request): one
    // vectorized exp per token (ExpNonPositive4), then the inverse-CDF draw
    // over the ids in order, skipping whole 64-token blocks by their sums
    // (the same double values that made the total). 413 → 80–92 µs per
    // sequence per step on 50,257 tokens against the general path below
    // (two scalar exps per token and (value, id) pairs; sampling_bench
    // BM_SampleTemperature, Zen 4; docs/benchmarks.md, issue #21).
    constexpr int32_t kBlock = 64;  // tokens per partial sum
    const int32_t padded = (vocab + kBlock - 1) / kBlock * kBlock;
    thread_local std::vector<float> probs;
    thread_local std::vector<double> block_sums;
    probs.resize(static_cast<std::size_t>(padded));
    block_sums.resize(static_cast<std::size_t>(padded / kBlock));
    float* p = probs.data();
    // Every entry below is written once; the padding after the last 4-token
    // group is 0 (it enters the last block's sum).
    std::fill(p + (vocab + 3) / 4 * 4, p + padded, 0.0f);
    // (logit - max) / T ≤ 0 stays finite or -inf however small T is; where
    // 1/T overflows, divide instead.
    const float t = params.temperature;
    const float inv_t = 1.0f / t;
    const bool multiply = std::isfinite(inv_t);
    const int32_t full = vocab / 4 * 4;
    for (int32_t i = 0; i < full; i += 4) {
      const Float4 d = Load4(logits.data() + i) - raw_max;
      const Float4 e = ExpNonPositive4(multiply ? d * inv_t : d / t);
      std::memcpy(p + i, &e, sizeof(e));
    }
    if (full < vocab) {
      Float4 d = Float4{} - std::numeric_limits<float>::infinity();
      for (int32_t i = full; i < vocab; ++i) d[i - full] = logits[i] - raw_max;
      const Float4 e = ExpNonPositive4(multiply ? d * inv_t : d / t);
      std::memcpy(p + full, &e, sizeof(e));
    }
    double total = 0.0;
    for (std::size_t b = 0; b < block_sums.size(); ++b) {
      Float4 acc{};
      for (int32_t i = 0; i < kBlock; i += 4) acc += Load4(p + b * kBlock + i);
      block_sums[b] = Sum4(acc);
      total += block_sums[b];
    }
    const double target = rng.Uniform() * total;
    double cumulative = 0.0;
    for (std::size_t b = 0; b < block_sums.size(); ++b) {
      if (target < cumulative + block_sums[b] || b + 1 == block_sums.size()) {
        // The draw falls in this block: the token within it.
        int32_t last = -1;
        double c = cumulative;
        for (int32_t i = static_cast<int32_t>(b) * kBlock; i < static_cast<int32_t>(b + 1) * kBlock; ++i) {
          if (p[i] == 0.0f) continue;
          last = i;
          c += p[i];
          if (target < c) return i;
        }
        if (last >= 0) return last;  // rounding within the block
      }
      cumulative += block_sums[b];
    }
    return best;  // rounding past the end: the most likely token
  }

  // Candidates as (scaled logit, id), most likely first; ties by lower id.
  auto more_likely = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  scratch.resize(static_cast<std::size_t>(vocab));
  // (logit - max) / T ≤ 0 stays finite or -inf however small T is (1/T could
  // overflow and turn the softmax into NaN).
  for (int32_t i = 0; i < vocab; ++i) scratch[i] = {(logits[i] - raw_max) / params.temperature, i};
  std::size_t n = scratch.size();
  if (params.min_p > 0.0f) {
    // Min-p: p_v / p_max = exp(scaled_v - scaled_max) = exp(scaled_v) here
    // (scaled_max = 0); keep the tokens where it is >= min_p (the most likely
    // always stays). Stable: the kept ids stay in ascending order.
    auto kept = std::stable_partition(scratch.begin(), scratch.end(), [&](const auto& c) {
      return std::exp(c.first) >= params.min_p;
    });
    n = static_cast<std::size_t>(kept - scratch.begin());
  }
  const bool restrict_k = params.top_k > 0 && static_cast<std::size_t>(params.top_k) < n;
  const bool restrict_p = params.top_p < 1.0f;
  if (restrict_k) {
    std::partial_sort(scratch.begin(), scratch.begin() + params.top_k, scratch.begin() + n,
                      more_likely);
    n = static_cast<std::size_t>(params.top_k);
  }
  // The softmax denominator over the n candidates (before any top-p cut).
  float max_logit = scratch[0].first;
  for (std::size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, scratch[i].first);
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) total += std::exp(scratch[i].first - max_logit);
  if (restrict_p && !restrict_k) {
    // Order only as many candidates as the nucleus can need: grow k until the
    // k most likely hold top_p of the mass (usually a few hundred of a large
    // vocabulary instead of a full sort).
    std::size_t k = std::min<std::size_t>(n, 256);
    while (true) {
      std::partial_sort(scratch.begin(), scratch.begin() + k, scratch.begin() + n, more_likely);
      double mass = 0.0;
      for (std::size_t i = 0; i < k; ++i) mass += std::exp(scratch[i].first - max_logit) / total;
      if (mass >= params.top_p || k == n) break;
      k = std::min(n, k * 8);
    }
    n = k;
  }
  // Probabilities (unnormalized) of the first n candidates.
  for (std::size_t i = 0; i < n; ++i) scratch[i].first = std::exp(scratch[i].first - max_logit);
  if (restrict_p) {
    // Sorted: keep the smallest prefix whose mass reaches top_p (at least one).
    double mass = 0.0;
    std::size_t keep = 0;
    while (keep < n) {
      mass += scratch[keep].first / total;
      ++keep;
      if (mass >= params.top_p) break;
    }
    n = keep;
    total = 0.0;
    for (std::size_t i = 0; i < n; ++i) total += scratch[i].first;
  }
  const double target = rng.Uniform() * total;
  double cumulative = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    cumulative += scratch[i].first;
    if (target < cumulative) return scratch[i].second;
  }
  return scratch[n - 1].second;  // rounding: the last candidate
}

}  // namespace llmserve
