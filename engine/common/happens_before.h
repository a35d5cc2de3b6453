#ifndef LLMSERVE_ENGINE_COMMON_HAPPENS_BEFORE_H_
#define LLMSERVE_ENGINE_COMMON_HAPPENS_BEFORE_H_

#include "absl/base/config.h"

#ifdef ABSL_HAVE_THREAD_SANITIZER
#include <sanitizer/tsan_interface.h>
#endif

namespace llmserve {

// Happens-before edges that ThreadSanitizer cannot see because the ordering
// is done inside an uninstrumented library. gRPC (Debian's build) documents
// that a reactor's reactions run after the method handler returned it and
// after the Start* / Finish call they answer, but orders them in its own
// code on its own threads; a reactor marks each hand-over with
// HappensBefore(this) and each reaction's start with HappensAfter(this).
// Both are no-ops unless built with -fsanitize=thread (make test-tsan).

/// What the calling thread did so far happens before the work that follows
/// a later HappensAfter(tag) on any thread. `tag`: any address, used as a name.
inline void HappensBefore(const void* tag) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  __tsan_release(const_cast<void*>(tag));
#else
  (void)tag;
#endif
}

/// The calling thread sees everything that happened before every earlier
/// HappensBefore(tag).
inline void HappensAfter(const void* tag) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  __tsan_acquire(const_cast<void*>(tag));
#else
  (void)tag;
#endif
}

}  // namespace llmserve

#endif  // LLMSERVE_ENGINE_COMMON_HAPPENS_BEFORE_H_
