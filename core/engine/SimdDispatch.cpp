#include "core/engine/SimdDispatch.h"

#include "core/base/Stopwatch.h"
#include "core/engine/LabelPropagation.h"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace labelprop {
namespace {

constexpr int64_t kRows = 16384; // a power of two, as kWindow
constexpr int kNeighbours = 12;
constexpr int64_t kWindow = 1024; // neighbours lie within +-kWindow rows, as in a graph's local layout
constexpr int kClasses = 10;      // 16-float rows (Fashion-MNIST's c = 10): every level's widest registers in use
constexpr int kSteps = 2;
constexpr int kRounds = 5;

// A fixed graph: kNeighbours pseudo-random columns near each row (wrapping), ascending, equal
// weights; not symmetric or normalised, which the timing does not need.
SparseGraph calibrationGraph()
{
    SparseGraph s;
    s.n = kRows;
    s.rowStart.reserve(size_t(kRows + 1));
    s.columns.reserve(size_t(kRows * kNeighbours));
    s.rowStart.push_back(0);
    uint64_t state = 0x9e3779b97f4a7c15u;
    for (int64_t i = 0; i < kRows; ++i) {
        for (int e = 0; e < kNeighbours; ++e) {
            state = state * 6364136223846793005u + 1442695040888963407u; // an LCG: its high bits
            const auto offset = int64_t((state >> 40) & (2 * kWindow - 1)) - kWindow;
            s.columns.push_back(int32_t((i + offset + kRows) & (kRows - 1)));
        }
        std::sort(s.columns.end() - kNeighbours, s.columns.end());
        s.rowStart.push_back(int64_t(s.columns.size()));
    }
    s.weights.assign(s.columns.size(), 1.0f / kNeighbours);
    return s;
}

SimdCalibration measure()
{
    Stopwatch clock;
    SimdCalibration out;
    const auto& levels = cpuSimdLevels();
    for (const SimdLevel level : levels)
        out.timings.push_back({level, levels.size() < 2 ? 0.0 : std::numeric_limits<double>::infinity()});
    if (levels.size() < 2) { // nothing to choose
        out.fastest = levels.empty() ? SimdLevel::Baseline : levels.front();
        return out;
    }
    // One untimed call per level first (cold caches, the clock ramping up), then kRounds rounds
    // of every level, the order rotated each round.
    std::vector<size_t> order;
    for (int round = -1; round < kRounds; ++round)
        for (size_t a = 0; a < levels.size(); ++a)
            order.push_back((a + size_t(std::max(round, 0))) % levels.size());
    std::vector<SimdLevel> sequence;
    for (const size_t a : order)
        sequence.push_back(levels[a]);
    const auto seconds = timePropagationSteps(calibrationGraph(), kClasses, kSteps, sequence);
    for (size_t call = levels.size(); call < order.size(); ++call)
        out.timings[order[call]].seconds = std::min(out.timings[order[call]].seconds, seconds[call]);
    out.fastest = pickFastestSimdLevel(out.timings);
    out.seconds = clock.seconds();
    return out;
}

} // namespace

SimdLevel pickFastestSimdLevel(std::span<const SimdLevelTiming> timings, double margin)
{
    if (timings.empty())
        return SimdLevel::Baseline;
    double best = std::numeric_limits<double>::infinity();
    for (const auto& t : timings)
        best = std::min(best, t.seconds);
    std::optional<SimdLevel> pick;
    for (const auto& t : timings)
        if (t.seconds <= best * (1.0 + margin) && (!pick || t.level > *pick))
            pick = t.level;
    return pick.value_or(timings.front().level); // every time NaN
}

const SimdCalibration& simdCalibration()
{
    static const SimdCalibration calibration = measure();
    return calibration;
}

Expected<SimdLevel> resolveSimdLevel(std::optional<SimdLevel> requested)
{
    const auto forced = forcedSimdLevel(requested);
    if (!forced)
        return std::unexpected(forced.error());
    if (*forced)
        return **forced;
    return simdCalibration().fastest;
}

std::string describeProcessSimdLevel()
{
    const auto forced = forcedSimdLevel({});
    if (!forced)
        return "none (" + forced.error().message + ")";
    if (*forced)
        return std::string(simdLevelName(**forced)) + " (LABELPROP_SIMD)";
    const SimdCalibration& c = simdCalibration();
    if (c.timings.size() < 2)
        return std::string(simdLevelName(c.fastest)) + " (the only level this CPU runs)";
    std::string out = std::string(simdLevelName(c.fastest)) + " (measured:";
    char figure[64];
    for (size_t a = c.timings.size(); a-- > 0;) {
        std::snprintf(figure, sizeof figure, " %s %.3f ms%s", std::string(simdLevelName(c.timings[a].level)).c_str(),
                      c.timings[a].seconds * 1e3, a > 0 ? "," : "");
        out += figure;
    }
    std::snprintf(figure, sizeof figure, " per call, best of %d; %.0f ms in all)", kRounds, c.seconds * 1e3);
    return out + figure;
}

} // namespace labelprop
