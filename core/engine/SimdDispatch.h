#pragma once
// The SIMD level the engine's kernels run at when nothing forces one (core/base/SimdLevel.h says
// what the levels are and how LABELPROP_SIMD or a kernel's options force one).
//
// The widest level is not always the fastest: the propagation steps wait on memory more than on
// arithmetic (a neighbour's 16-float label row is one zmm, two ymm or four xmm), and how a CPU
// runs 512-bit code differs (split into 256-bit halves on some, lower clocks on others). So the
// first unforced call in a process measures instead of assuming: it times the propagation's row
// kernel (timePropagationSteps in LabelPropagation.h: 10 classes, 2 steps, one thread) at every
// level this CPU runs on a synthetic graph of 16,384 rows with 12 neighbours each (2 MiB of label
// rows: past L2, as a real graph's), levels interleaved and rotated over 5 rounds after one
// untimed call each, keeping the best time per level (a disturbance only ever adds time); see
// describeProcessSimdLevel() for what it took: about 25 ms on the calling thread on the
// development VM, a third of it the timed calls, the rest first touches of its 4 MiB. The widest
// level wins unless a narrower one is more than kSimdMargin faster, so levels that tie (AVX-512
// and AVX2 on AMD Zen 5) do not flip between runs. Every level computes bit-identical results,
// so the pick changes timings only.
//
// Thread-safety: every function may be called from any thread; concurrent first callers of an
// unforced level wait for the one measurement.

#include "core/base/Error.h"
#include "core/base/SimdLevel.h"

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace labelprop {

// A narrower level is picked only when it is more than this much faster than every wider one.
inline constexpr double kSimdMargin = 0.10;

struct SimdLevelTiming {
    SimdLevel level = SimdLevel::Baseline;
    double seconds = 0; // the best of the rounds: one timed call (two steps of the row kernel)
};

struct SimdCalibration {
    SimdLevel fastest = SimdLevel::Baseline; // the level unforced kernel calls run at
    std::vector<SimdLevelTiming> timings;    // one per level of cpuSimdLevels(), in its order
    double seconds = 0;                      // the whole measurement, wall clock
};

// The level to run given one timing per level: the widest level whose time is at most
// (1 + margin) x the fastest time. Baseline for no timings.
[[nodiscard]] SimdLevel pickFastestSimdLevel(std::span<const SimdLevelTiming> timings, double margin = kSimdMargin);

// The measurement above, taken at the first call in a process; later calls return the same.
// With one level (a CPU without AVX2) nothing is timed (its seconds are 0).
[[nodiscard]] const SimdCalibration& simdCalibration();

// The level a kernel call runs at: `requested` when set, else LABELPROP_SIMD when set, else
// simdCalibration().fastest. Fails as forcedSimdLevel() does (a level this CPU lacks, or a
// LABELPROP_SIMD that is not a level), with the reason.
[[nodiscard]] Expected<SimdLevel> resolveSimdLevel(std::optional<SimdLevel> requested);

// One line on how unforced calls get their level, for benchmark output, e.g.
// "avx512 (measured: avx512 0.95 ms, avx2 1.02 ms, baseline 1.38 ms per call)" or
// "avx2 (LABELPROP_SIMD)"; measures if nothing forces a level and that was not done yet.
[[nodiscard]] std::string describeProcessSimdLevel();

} // namespace labelprop
