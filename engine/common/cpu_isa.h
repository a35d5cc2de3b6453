#ifndef LLMSERVE_ENGINE_COMMON_CPU_ISA_H_
#define LLMSERVE_ENGINE_COMMON_CPU_ISA_H_

#include <optional>
#include <string_view>

namespace llmserve {

/// The instruction-set levels llmserve's kernels are written for, ordered:
/// every level includes the ones below it.
///   kScalar  portable C++ (the compiler's baseline, x86-64 SSE2)
///   kAvx2    AVX2 + FMA
///   kAvx512  AVX-512 F/BW/VL (and AVX512_BF16 where the CPU has it, see CpuHasAvx512Bf16)
///   kAmx     AMX-TILE + AMX-BF16 (Sapphire Rapids and later), with the OS's permission
enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAmx = 3 };

/// "scalar" / "avx2" / "avx512" / "amx".
const char* CpuIsaName(CpuIsa isa);

/// Parses a CpuIsaName; nullopt for anything else.
std::optional<CpuIsa> ParseCpuIsa(std::string_view name);

/// The widest level this CPU and OS support (CPUID + XGETBV; for AMX the
/// Linux arch_prctl(ARCH_REQ_XCOMP_PERM) permission request). Decided once.
CpuIsa DetectedCpuIsa();

/// The level every kernel family uses: DetectedCpuIsa(), lowered by the
/// environment variable LLMSERVE_CPU_ISA=amx|avx512|avx2|scalar when it names
/// a narrower level (a wider or unknown value is ignored with a warning on
/// stderr: the override can only lower the ISA). Decided once per process, at
/// the first call.
CpuIsa ActiveCpuIsa();

/// True if the active level is at least `isa`.
inline bool CpuIsaAtLeast(CpuIsa isa) { return ActiveCpuIsa() >= isa; }

/// True if the active level is ≥ kAvx512 and the CPU has AVX512_BF16
/// (vcvtne2ps2bf16 / vdpbf16ps).
bool CpuHasAvx512Bf16();

/// One-line description for logs, e.g. "avx512+avx512_bf16 (detected avx512)".
const char* CpuIsaDescription();

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_CPU_ISA_H_
