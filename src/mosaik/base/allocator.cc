#include "mosaik/base/allocator.h"

#include <malloc.h>

namespace mosaik {

bool tune_process_allocator() {
  // Function-local static: thread-safe, runs once.
  static const bool ok = mallopt(M_TRIM_THRESHOLD, static_cast<int>(kAllocatorTrimThreshold)) == 1;
  return ok;
}

}  // namespace mosaik
