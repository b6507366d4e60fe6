// Process allocator tuning for programs that run a mosaik Network (the `zipnet` binary, the
// benchmarks; SDK integrators may call it too).
//
// Why: streams move many 16-176 KiB buffers between threads. With glibc's default 128 KiB
// trim threshold, the heap top is returned to the kernel and re-faulted over and over; on the
// 2-vCPU CI VM that cost a quarter of the stream throughput (`make bench-net`,
// stream_tls_ratio 0.68 -> 0.87, BENCHMARKS.md). Keeping up to 64 MiB of freed heap mapped
// trades a bounded amount of resident memory for that.
#pragma once

#include <cstddef>

namespace mosaik {

// Bytes of freed heap glibc keeps mapped instead of trimming (M_TRIM_THRESHOLD).
inline constexpr std::size_t kAllocatorTrimThreshold = 64u << 20;

// Applies the tuning once per process; later calls do nothing. Returns false when the C
// library refused it (not glibc, or mallopt failed); the process runs untuned then.
bool tune_process_allocator();

}  // namespace mosaik
