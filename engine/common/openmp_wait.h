#ifndef LLMSERVE_ENGINE_COMMON_OPENMP_WAIT_H_
#define LLMSERVE_ENGINE_COMMON_OPENMP_WAIT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace llmserve {

// How the OpenMP threads of the kernels wait between parallel regions.
//
// Every kernel (oneDNN's matmuls, the own GEMV, attention, norms) runs in the
// GNU OpenMP (libgomp) team of the engine thread, one parallel region after
// another: ~100 regions in a decode step. Between two regions the worker
// threads spin for GOMP_SPINCOUNT iterations (libgomp's default 300,000, ~3
// ms), then sleep on a futex; waking a sleeping thread costs tens of
// microseconds, a visible share of a ~10 ms batch-1 step. libgomp reads
// GOMP_SPINCOUNT once, when it is loaded, so a program sets it by starting
// itself again (ReexecWithBoundedOpenMpWait). Measured on a 2-core Zen 4 VM,
// bf16 GPT-2 shape, batch 1, 300 steps: unbounded-but-throttled (today's
// default, see ReleaseOpenMpTeamIfWaitBounded) 29,868 context switches and a
// 11.9 ms step; GOMP_SPINCOUNT=2000 with one team 1,998 switches and 9.9 ms;
// and `ctest -j2` (two processes sharing 2 CPUs) no slower, where libgomp's
// default spin made it 4.8× slower. docs/benchmarks.md, "Threads".

/// The GOMP_SPINCOUNT llmserve's programs run with unless the environment
/// says otherwise: about 20 µs of spinning (libgomp documents ~100,000
/// iterations per ms, CPU-dependent), enough to bridge the gaps inside a
/// decode step but not an idle engine.
inline constexpr int64_t kDefaultOpenMpSpinCount = 2000;

/// The largest spin count still treated as bounded (≈ 1 ms): beyond it a
/// thread that spins takes a shared CPU from a co-located process for long.
inline constexpr int64_t kMaxBoundedOpenMpSpinCount = 100000;

/// Parses a GOMP_SPINCOUNT value as libgomp does (a decimal count, optionally
/// followed by k/M/G/T for ×1e3…×1e12, or "infinite"/"infinity"); nullopt if
/// it is malformed (libgomp then ignores it). "infinite" parses as INT64_MAX.
std::optional<int64_t> ParseGompSpinCount(std::string_view value);

/// True if, for these values of GOMP_SPINCOUNT and OMP_WAIT_POLICY (nullopt:
/// unset), libgomp's idle wait is bounded by kMaxBoundedOpenMpSpinCount:
/// OMP_WAIT_POLICY=passive (no spinning), or a well-formed GOMP_SPINCOUNT ≤
/// that bound. A pure function; OpenMpWaitIsBounded applies it to the
/// process's environment.
bool IsOpenMpWaitBounded(std::optional<std::string_view> gomp_spincount,
                         std::optional<std::string_view> omp_wait_policy);

/// IsOpenMpWaitBounded for this process's environment.
bool OpenMpWaitIsBounded();

/// For a program's main, before it starts any thread: if neither
/// GOMP_SPINCOUNT nor OMP_WAIT_POLICY is set, sets GOMP_SPINCOUNT to
/// kDefaultOpenMpSpinCount and executes /proc/self/exe again with the same
/// argv (the process keeps its pid, open files and signal mask). Returns OK
/// without doing anything if either variable is already set (the operator's
/// choice, or the second start). Returns the exec error if the re-execution
/// failed; the program can go on, with libgomp's default wait.
absl::Status ReexecWithBoundedOpenMpWait(char** argv);

/// Frees the calling thread's OpenMP team (omp_pause_resource_all) if the
/// wait is bounded (OpenMpWaitIsBounded) and returns whether it did.
///
/// libgomp keeps one team per thread that ever started a parallel region. A
/// thread that loads a model (weight packing) and then hands the model to the
/// engine thread leaves an idle team behind; with more OpenMP threads than
/// CPUs libgomp throttles every spin to ~100 iterations, so each parallel
/// region of a step ends in a futex sleep. With an unbounded spin that
/// throttling is what keeps co-located processes usable, so the team is kept;
/// with a bounded spin it is released and the engine's team spins as
/// configured. Must not be called inside a parallel region.
bool ReleaseOpenMpTeamIfWaitBounded();

/// One line for logs, e.g. "GOMP_SPINCOUNT=2000 (bounded: one team)" or
/// "libgomp default wait (unbounded: throttled)".
std::string OpenMpWaitDescription();

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_OPENMP_WAIT_H_
