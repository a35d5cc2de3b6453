#include "engine/common/cpu_isa.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace llmserve {
namespace {

// XCR0 bits (Intel SDM vol. 1, 13.3): the OS saves these register states.
constexpr unsigned long long kXcr0Avx = 0x6;        // SSE + AVX (YMM)
constexpr unsigned long long kXcr0Avx512 = 0xe0;    // opmask + ZMM_Hi256 + Hi16_ZMM
constexpr unsigned long long kXcr0Amx = 0x60000;    // XTILECFG + XTILEDATA

unsigned long long Xgetbv() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

struct Features {
  bool avx2 = false, fma = false, avx512 = false, avx512_bf16 = false, amx = false;
};

Features Probe() {
  Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  if (!osxsave) return f;
  const unsigned long long xcr0 = Xgetbv();
  if ((xcr0 & kXcr0Avx) != kXcr0Avx) return f;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2 = (b >> 5) & 1;
  const bool avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
  const bool amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
  f.avx512 = avx512f && avx512bw && avx512vl && (xcr0 & kXcr0Avx512) == kXcr0Avx512;
  unsigned a1 = 0, b1, c1, d1;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512_bf16 = f.avx512 && ((a1 >> 5) & 1);
  if (amx_bf16 && amx_tile && f.avx512) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    // Linux ≥ 5.16 enables AMX tile data per process on request.
    constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata);
#endif
    f.amx = (Xgetbv() & kXcr0Amx) == kXcr0Amx;
  }
  return f;
}

const Features& Cpu() {
  static const Features f = Probe();
  return f;
}

CpuIsa Detect() {
  const Features& f = Cpu();
  if (f.amx) return CpuIsa::kAmx;
  if (f.avx512 && f.avx2 && f.fma) return CpuIsa::kAvx512;
  if (f.avx2 && f.fma) return CpuIsa::kAvx2;
  return CpuIsa::kScalar;
}

CpuIsa Choose() {
  const CpuIsa detected = DetectedCpuIsa();
  const char* env = std::getenv("LLMSERVE_CPU_ISA");
  if (env == nullptr || *env == '\0') return detected;
  const std::optional<CpuIsa> wanted = ParseCpuIsa(env);
  if (!wanted) {
    std::fprintf(stderr, "llmserve: ignoring LLMSERVE_CPU_ISA=%s (expected amx|avx512|avx2|scalar)\n",
                 env);
    return detected;
  }
  if (*wanted > detected) {
    std::fprintf(stderr, "llmserve: ignoring LLMSERVE_CPU_ISA=%s: this CPU supports up to %s\n",
                 env, CpuIsaName(detected));
    return detected;
  }
  return *wanted;
}

}  // namespace

const char* CpuIsaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return "scalar";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAmx:
      return "amx";
  }
  return "unknown";
}

std::optional<CpuIsa> ParseCpuIsa(std::string_view name) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAmx}) {
    if (name == CpuIsaName(isa)) return isa;
  }
  return std::nullopt;
}

CpuIsa DetectedCpuIsa() {
  static const CpuIsa isa = Detect();
  return isa;
}

CpuIsa ActiveCpuIsa() {
  static const CpuIsa isa = Choose();
  return isa;
}

bool CpuHasAvx512Bf16() { return CpuIsaAtLeast(CpuIsa::kAvx512) && Cpu().avx512_bf16; }

const char* CpuIsaDescription() {
  static const std::string text = std::string(CpuIsaName(ActiveCpuIsa())) +
                                  (CpuHasAvx512Bf16() ? "+avx512_bf16" : "") + " (detected " +
                                  CpuIsaName(DetectedCpuIsa()) + ")";
  return text.c_str();
}

}  // namespace llmserve
