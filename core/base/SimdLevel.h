#pragma once
// The SIMD levels the hot kernels (propagation steps, the incremental propagation's row updates
// and votes, the kNN tile scans) are compiled for. Every kernel is compiled once per level (GCC
// target attributes: AVX-512F, AVX2, and the x86-64 baseline, SSE2) so a portable build still
// runs the wide code, and each call picks one: the level its options name, else the process
// level, which is LABELPROP_SIMD when that is set (avx512, avx2 or baseline; read once, at first
// use) and otherwise the level measured fastest on this machine (core/engine/SimdDispatch.h: the
// widest level is not always the fastest). Forcing a level lets one machine time and test the
// code another CPU would run. The kernels use no FMA and sum lanes in one fixed order, so every
// level computes bit-identical results.
//
// Thread-safety: every function may be called from any thread.

#include "core/base/Error.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace labelprop {

enum class SimdLevel { Baseline, Avx2, Avx512 }; // ascending: each level's CPU runs the ones below

// "baseline", "avx2", "avx512": the names LABELPROP_SIMD and parseSimdLevel() take.
[[nodiscard]] std::string_view simdLevelName(SimdLevel level);

// The levels this CPU (and OS) can run, Baseline first, best last: Avx2 needs AVX2, Avx512 needs
// AVX-512F.
[[nodiscard]] const std::vector<SimdLevel>& cpuSimdLevels();

// The CPU's brand string from CPUID (e.g. "AMD EPYC 9B45"), or "unknown CPU".
[[nodiscard]] std::string cpuModelName();

// Parses a level name and checks that `available` holds it; the errors name the text, the CPU
// and the levels it can run. `what` names the setting in messages (e.g. "LABELPROP_SIMD").
[[nodiscard]] Expected<SimdLevel> parseSimdLevel(std::string_view text, std::span<const SimdLevel> available,
                                                 std::string_view what = "SIMD level");

// The process level from the value of LABELPROP_SIMD (`setting`; null or empty: unset, so the
// best level in `available`).
[[nodiscard]] Expected<SimdLevel> simdLevelFromSetting(const char* setting, std::span<const SimdLevel> available);

// The level a kernel call is forced to: `requested` when set (it must be one of
// cpuSimdLevels()), else LABELPROP_SIMD when set (read once); nullopt when neither forces one (the
// engine then runs the level measured fastest: resolveSimdLevel() in core/engine/SimdDispatch.h).
// Fails with the reason when the request or LABELPROP_SIMD names a level this CPU lacks, or
// LABELPROP_SIMD is not a level.
[[nodiscard]] Expected<std::optional<SimdLevel>> forcedSimdLevel(std::optional<SimdLevel> requested);

// One kernel entry per level, picked by `level` (the kernel files keep a table of these).
template <class Function>
struct SimdKernel {
    Function baseline;
    Function avx2;
    Function avx512;

    [[nodiscard]] Function operator[](SimdLevel level) const
    {
        return level == SimdLevel::Avx512 ? avx512 : level == SimdLevel::Avx2 ? avx2 : baseline;
    }
};

} // namespace labelprop
