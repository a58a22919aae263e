#pragma once
// Data rows per SIMD level (core/base/SimdLevel.h), so the oracle tests run every kernel level:
// rows are named "avx512: ...", "avx2: ...", "baseline: ..."; a test skips a level this CPU
// cannot run (QSKIP with cpuRuns()), which the test log shows.

#include "core/base/SimdLevel.h"

#include <QByteArray>
#include <QMetaType>

#include <algorithm>

Q_DECLARE_METATYPE(labelprop::SimdLevel)

namespace labelprop::test {

inline constexpr SimdLevel kSimdLevels[] = {SimdLevel::Avx512, SimdLevel::Avx2, SimdLevel::Baseline};

inline bool cpuRuns(SimdLevel level)
{
    const auto& levels = cpuSimdLevels();
    return std::find(levels.begin(), levels.end(), level) != levels.end();
}

// "avx2: <name>" for a data row of `level`.
inline QByteArray levelRowName(SimdLevel level, const char* name)
{
    const std::string_view prefix = simdLevelName(level);
    return QByteArray(prefix.data(), qsizetype(prefix.size())) + ": " + name;
}

} // namespace labelprop::test
