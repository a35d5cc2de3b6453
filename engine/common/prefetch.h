#ifndef LLMSERVE_ENGINE_COMMON_PREFETCH_H_
#define LLMSERVE_ENGINE_COMMON_PREFETCH_H_

namespace llmserve {

// Software prefetch hints for the kernels that stream weights or the KV cache
// ahead of their arithmetic (blocked / plain GEMV, the AVX2 bf16 matmul, paged
// attention). They are asm statements rather than _mm_prefetch /
// __builtin_prefetch: GCC 12's interprocedural mod-ref analysis, after
// unrelated edits to the blocked GEMV, judged the loads that only computed a
// prefetch address dead, const-propagated the kernels' prefetch argument as
// empty and emitted no prefetch at all (found in the sixth session on #10 with
// objdump; -fno-ipa-modref brought them back). An asm volatile statement is
// opaque to it. A prefetch never faults, so an address past the end of the
// data is harmless.

/// Prefetches the 64-byte line at `p` into L1 (prefetcht0).
inline void PrefetchL1(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 (%0)" : : "r"(p));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

/// Prefetches the 64-byte line at `p` into L2 (prefetcht1): for streams
/// consumed a little later, without filling the L1 miss buffers.
inline void PrefetchL2(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht1 (%0)" : : "r"(p));
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_PREFETCH_H_
