#include "core/LabelPropagation.h"

#include "core/Parallel.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace labelprop {
namespace {

// One row of S X with the class count known at compile time, so the inner loop is unrolled
// into registers; C = 0 is the generic fallback.
template <int C>
void multiplyRows(const SparseGraph& s, const float* x, int classes, float* y, int64_t r0, int64_t r1)
{
    const int c = C > 0 ? C : classes;
    for (int64_t i = r0; i < r1; ++i) {
        float acc[C > 0 ? C : 1];
        float* out = y + i * c;
        float* sum = C > 0 ? acc : out;
        std::fill(sum, sum + c, 0.0f);
        for (int64_t p = s.rowStart[size_t(i)]; p < s.rowStart[size_t(i + 1)]; ++p) {
            const float w = s.weights[size_t(p)];
            const float* xr = x + int64_t(s.columns[size_t(p)]) * c;
            for (int q = 0; q < c; ++q)
                sum[q] += w * xr[q];
        }
        if (C > 0)
            std::copy(acc, acc + c, out);
    }
}

using RowKernel = void (*)(const SparseGraph&, const float*, int, float*, int64_t, int64_t);

template <int... Cs>
RowKernel pickKernel(int classes, std::integer_sequence<int, Cs...>)
{
    RowKernel kernel = &multiplyRows<0>;
    ((classes == Cs + 1 ? (kernel = &multiplyRows<Cs + 1>, 0) : 0), ...);
    return kernel;
}

} // namespace

Expected<ClampMode> parseClampMode(std::string_view text)
{
    if (text == "hard")
        return ClampMode{ClampMode::Kind::Hard, 0.0f};
    if (text == "none")
        return ClampMode{ClampMode::Kind::None, 0.0f};
    if (text.starts_with("soft:")) {
        const std::string_view number = text.substr(5);
        float alpha = 0.0f;
        const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), alpha);
        if (ec == std::errc() && end == number.data() + number.size() && alpha > 0.0f && alpha < 1.0f)
            return ClampMode{ClampMode::Kind::Soft, alpha};
    }
    return fail("--clamp: '" + std::string(text) + "' is not a clamp mode; use hard, none or soft:ALPHA with 0 < ALPHA < 1 (e.g. soft:0.99)");
}

void multiplyGraph(const SparseGraph& s, std::span<const float> x, int classes, std::span<float> y, int threads)
{
    const RowKernel kernel = pickKernel(classes, std::make_integer_sequence<int, 16>{});
    // Rows cost in proportion to their entries, so split by rows in small equal chunks.
    parallelFor(0, s.n, threads, [&](int64_t r0, int64_t r1) { kernel(s, x.data(), classes, y.data(), r0, r1); });
}

void summariseScores(PropagationResult& r)
{
    const int c = r.classes;
    r.probabilities.assign(size_t(r.n * c), 0.0f);
    r.predicted.assign(size_t(r.n), -1);
    r.confidence.assign(size_t(r.n), 0.0f);
    r.margin.assign(size_t(r.n), 0.0f);
    for (int64_t i = 0; i < r.n; ++i) {
        const float* y = r.scores.data() + i * c;
        double total = 0.0;
        for (int q = 0; q < c; ++q)
            total += std::max(0.0f, y[q]);
        if (!(total > 0.0))
            continue;
        float* p = r.probabilities.data() + i * c;
        int best = 0;
        float first = -1.0f, second = 0.0f;
        for (int q = 0; q < c; ++q) {
            p[q] = float(std::max(0.0f, y[q]) / total);
            if (p[q] > first) {
                second = first;
                first = p[q];
                best = q;
            } else if (p[q] > second) {
                second = p[q];
            }
        }
        r.predicted[size_t(i)] = best;
        r.confidence[size_t(i)] = first;
        r.margin[size_t(i)] = first - std::max(0.0f, second);
    }
}

Expected<PropagationResult> propagateLabels(const SparseGraph& s, std::span<const int32_t> seeds, int classes,
                                            const PropagationOptions& options, std::span<const float> warmStart)
{
    const int64_t n = s.n;
    if (int64_t(seeds.size()) != n)
        return fail("propagation: " + std::to_string(seeds.size()) + " seed entries for a graph of "
                    + std::to_string(n) + " items");
    if (classes < 1)
        return fail("propagation: at least one class is needed");
    if (options.iterations < 0)
        return fail("--iterations must be 0 or more (got " + std::to_string(options.iterations) + ")");
    if (!warmStart.empty() && int64_t(warmStart.size()) != n * classes)
        return fail("propagation: the warm-start state has " + std::to_string(warmStart.size())
                    + " values, expected n x classes = " + std::to_string(n * classes));
    for (int64_t i = 0; i < n; ++i)
        if (seeds[size_t(i)] < -1 || seeds[size_t(i)] >= classes)
            return fail("propagation: item " + std::to_string(i) + " has class " + std::to_string(seeds[size_t(i)])
                        + " outside [0, " + std::to_string(classes) + ")");

    const size_t cells = size_t(n * classes);
    std::vector<float> y0(cells, 0.0f);
    for (int64_t i = 0; i < n; ++i)
        if (seeds[size_t(i)] >= 0)
            y0[size_t(i * classes + seeds[size_t(i)])] = 1.0f;
    std::vector<float> y = warmStart.empty() ? y0 : std::vector<float>(warmStart.begin(), warmStart.end());
    std::vector<float> next(cells);

    const auto resetSeededRows = [&](std::vector<float>& target) {
        for (int64_t i = 0; i < n; ++i)
            if (seeds[size_t(i)] >= 0)
                std::copy_n(y0.begin() + i * classes, classes, target.begin() + i * classes);
    };
    if (!warmStart.empty() && options.clamp.kind != ClampMode::Kind::None)
        resetSeededRows(y);

    for (int step = 1; step <= options.iterations; ++step) {
        if (options.cancel && options.cancel->load())
            return fail("propagation: cancelled");
        multiplyGraph(s, y, classes, next, options.threads);
        switch (options.clamp.kind) {
        case ClampMode::Kind::Hard:
            resetSeededRows(next);
            break;
        case ClampMode::Kind::Soft: {
            const float a = options.clamp.alpha;
            for (size_t q = 0; q < cells; ++q)
                next[q] = a * next[q] + (1.0f - a) * y0[q];
            break;
        }
        case ClampMode::Kind::None:
            break;
        }
        y.swap(next);
        if (options.onStep)
            options.onStep(step, y);
    }

    PropagationResult result;
    result.n = n;
    result.classes = classes;
    result.scores = std::move(y);
    summariseScores(result);
    return result;
}

} // namespace labelprop
