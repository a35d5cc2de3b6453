#ifndef LLMSERVE_ENGINE_PRIMITIVES_DNNL_CONTEXT_H_
#define LLMSERVE_ENGINE_PRIMITIVES_DNNL_CONTEXT_H_

#include <dnnl.hpp>

namespace llmserve {

/// The process-wide oneDNN CPU engine. Its creation caps oneDNN's ISA at the
/// active CPU-ISA level (engine/common/cpu_isa.h) when LLMSERVE_CPU_ISA lowered it.
dnnl::engine& DnnlEngine();

/// A oneDNN stream for the calling thread (streams are not shared across threads).
dnnl::stream& DnnlStream();

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_PRIMITIVES_DNNL_CONTEXT_H_
