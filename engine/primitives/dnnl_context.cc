#include "engine/primitives/dnnl_context.h"

#include <cstdio>

#include "engine/common/cpu_isa.h"

namespace llmserve {
namespace {

// Caps oneDNN's JIT at the process's active CPU-ISA level when
// LLMSERVE_CPU_ISA lowered it, so oneDNN and the own kernels run the same
// level. Must run before oneDNN creates its first primitive.
void LimitDnnlIsa() {
  const CpuIsa active = ActiveCpuIsa();
  if (active >= DetectedCpuIsa()) return;
  dnnl::cpu_isa max = dnnl::cpu_isa::all;
  switch (active) {
    case CpuIsa::kScalar:
      max = dnnl::cpu_isa::sse41;  // oneDNN's lowest JIT level
      break;
    case CpuIsa::kAvx2:
      max = dnnl::cpu_isa::avx2;
      break;
    case CpuIsa::kAvx512:
      max = dnnl::cpu_isa::avx512_core_bf16;  // everything below AMX
      break;
    case CpuIsa::kAmx:
      return;
  }
  try {
    dnnl::set_max_cpu_isa(max);
  } catch (const dnnl::error& e) {
    std::fprintf(stderr, "llmserve: cannot limit oneDNN's ISA: %s\n", e.what());
  }
}

}  // namespace

dnnl::engine& DnnlEngine() {
  static dnnl::engine* engine = [] {
    LimitDnnlIsa();
    return new dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return *engine;
}

dnnl::stream& DnnlStream() {
  thread_local dnnl::stream stream(DnnlEngine());
  return stream;
}

}  // namespace llmserve
