#pragma once
// Data rows per SIMD level (core/base/SimdLevel.h), so the oracle tests run every kernel level:
// rows are named "avx512: ...", "avx2: ...", "baseline: ...". Rows are made only for the levels
// this CPU runs (runnableSimdLevels(), which says once which levels it leaves out): a skipped row
// counts as a failure in ctest, and a level the CPU lacks is not something CI can install.

#include "core/base/SimdLevel.h"

#include <QByteArray>
#include <QMetaType>

#include <QtGlobal>

#include <algorithm>
#include <vector>

Q_DECLARE_METATYPE(labelprop::SimdLevel)

namespace labelprop::test {

inline constexpr SimdLevel kSimdLevels[] = {SimdLevel::Avx512, SimdLevel::Avx2, SimdLevel::Baseline};

inline bool cpuRuns(SimdLevel level)
{
    const auto& levels = cpuSimdLevels();
    return std::find(levels.begin(), levels.end(), level) != levels.end();
}

// The levels of kSimdLevels this CPU runs, best first; the first call logs the ones left out.
inline std::vector<SimdLevel> runnableSimdLevels()
{
    std::vector<SimdLevel> out;
    for (const auto level : kSimdLevels) {
        if (cpuRuns(level)) {
            out.push_back(level);
            continue;
        }
        static bool said = false;
        if (!said)
            qInfo("this CPU cannot run the %s kernels: their rows are not made here", simdLevelName(level).data());
        said = true;
    }
    return out;
}

// "avx2: <name>" for a data row of `level`.
inline QByteArray levelRowName(SimdLevel level, const char* name)
{
    const std::string_view prefix = simdLevelName(level);
    return QByteArray(prefix.data(), qsizetype(prefix.size())) + ": " + name;
}

} // namespace labelprop::test
