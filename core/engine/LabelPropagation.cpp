#include "core/engine/LabelPropagation.h"

#include "core/base/Parallel.h"
#include "core/engine/SimdDispatch.h"
#include "core/engine/SimdVector.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <string>

namespace labelprop {
namespace {

// Rows of Y are stored with a padded stride (8 floats for up to 8 classes, else a multiple of 16)
// so each neighbour's row is a few whole vector loads; the padding columns stay zero because
// S 0 = 0. A row of the product is accumulated 8 or 16 columns at a time (a chunk) in
// registers of the level's width (see SimdVector.h): a 16-column chunk is one zmm under AVX-512,
// two ymm under AVX2, four xmm on the baseline; an 8-column chunk one ymm, or two xmm. Explicit vector types keep the kernel a plain broadcast-multiply-add at any -O
// level (-O3 auto-vectorised a scalar version across neighbours instead and ran 4x slower).
struct RowProduct {
    const int64_t* rowStart; // CSR of M
    const int32_t* columns;
    const float* weights;
    const float* x; // n x stride
    float* y;       // n x stride
    int64_t stride; // 8, or a multiple of 16
};

// y rows [r0, r1) = M x, Chunk columns at a time in Chunk / W registers of W floats. Stride is
// the row stride when it is known at compile time (one chunk per row: 8 or 16), else 0.
template <int W, int Chunk, int Stride>
[[gnu::always_inline]] inline void multiplyRowChunks(const RowProduct& m, int64_t r0, int64_t r1)
{
    const int64_t* __restrict rowStart = m.rowStart;
    const int32_t* __restrict columns = m.columns;
    const float* __restrict weights = m.weights;
    const float* __restrict x = m.x;
    float* __restrict y = m.y;
    const int64_t stride = Stride ? Stride : m.stride;
    for (int64_t i = r0; i < r1; ++i) {
        for (int64_t chunk = 0; chunk < stride; chunk += Chunk) {
            simd::Lanes<W, Chunk> acc = {};
            for (int64_t p = rowStart[i]; p < rowStart[i + 1]; ++p)
                simd::addScaled(acc, weights[p], x + int64_t(columns[p]) * stride + chunk);
            simd::store(y + i * stride + chunk, acc);
        }
    }
}

// The kernel at register width W: 8-float rows need no more than 8 lanes. The common strides
// get their own copy: a constant stride turns the row address into a shift.
template <int W>
[[gnu::always_inline]] inline void multiplyRowsAt(const RowProduct& m, int64_t r0, int64_t r1)
{
    if (m.stride == 8)
        multiplyRowChunks<(W < 8 ? W : 8), 8, 8>(m, r0, r1);
    else if (m.stride == 16)
        multiplyRowChunks<W, 16, 16>(m, r0, r1);
    else
        multiplyRowChunks<W, 16, 0>(m, r0, r1);
}

__attribute__((target("avx512f"))) void multiplyRowsAvx512(const RowProduct& m, int64_t r0, int64_t r1)
{
    multiplyRowsAt<16>(m, r0, r1);
}

__attribute__((target("avx2"))) void multiplyRowsAvx2(const RowProduct& m, int64_t r0, int64_t r1)
{
    multiplyRowsAt<8>(m, r0, r1);
}

void multiplyRowsBaseline(const RowProduct& m, int64_t r0, int64_t r1)
{
    multiplyRowsAt<4>(m, r0, r1);
}

constexpr SimdKernel<void (*)(const RowProduct&, int64_t, int64_t)> kMultiplyRows{
    multiplyRowsBaseline, multiplyRowsAvx2, multiplyRowsAvx512};

int paddedStride(int classes)
{
    return classes <= 8 ? 8 : (classes + 15) / 16 * 16;
}

// y = M x for rows [0, n) of a CSR matrix; x and y are n x stride.
void multiplyPadded(const CsrMatrix& m, int64_t n, const float* x, int stride, float* y, int threads, SimdLevel level)
{
    const RowProduct product{m.rowStart.data(), m.columns.data(), m.weights.data(), x, y, stride};
    const auto kernel = kMultiplyRows[level];
    parallelFor(0, n, threads, [&](int64_t r0, int64_t r1) { kernel(product, r0, r1); });
}

// Where propagation runs: the graph's local layout when it has one (rows renumbered for cache
// locality), else item order; label rows padded to the kernel's stride. Converts label
// matrices in and out of it.
class ExecutionLayout {
public:
    ExecutionLayout(const SparseGraph& s, int classes)
        : m_s(s), m_classes(classes), m_stride(paddedStride(classes)), m_local(s.hasLocalLayout())
    {
    }

    [[nodiscard]] int stride() const { return m_stride; }
    [[nodiscard]] int64_t position(int64_t item) const { return m_local ? m_s.localPosition[size_t(item)] : item; }
    [[nodiscard]] int64_t item(int64_t position) const { return m_local ? m_s.localOrder[size_t(position)] : position; }

    // n x classes in item order -> n x stride in layout order.
    [[nodiscard]] std::vector<float> toLayout(std::span<const float> x) const
    {
        std::vector<float> out(size_t(m_s.n * m_stride), 0.0f);
        for (int64_t p = 0; p < m_s.n; ++p)
            std::copy_n(x.data() + item(p) * m_classes, m_classes, out.data() + p * m_stride);
        return out;
    }
    void fromLayout(const std::vector<float>& y, std::span<float> out) const
    {
        for (int64_t p = 0; p < m_s.n; ++p)
            std::copy_n(y.data() + p * m_stride, m_classes, out.data() + item(p) * m_classes);
    }
    void multiply(const std::vector<float>& x, std::vector<float>& y, int threads, SimdLevel level) const
    {
        multiplyPadded(m_local ? m_s.local : static_cast<const CsrMatrix&>(m_s), m_s.n, x.data(), m_stride, y.data(),
                       threads, level);
    }

private:
    const SparseGraph& m_s;
    int m_classes;
    int m_stride;
    bool m_local;
};

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
    const ExecutionLayout layout(s, classes);
    const auto in = layout.toLayout(x);
    std::vector<float> out(in.size());
    // No error path here: a LABELPROP_SIMD this CPU cannot run has already failed the propagation
    // that made x; the baseline runs anywhere.
    layout.multiply(in, out, threads, resolveSimdLevel({}).value_or(SimdLevel::Baseline));
    layout.fromLayout(out, y);
}

std::vector<double> timePropagationSteps(const SparseGraph& s, int classes, int steps, std::span<const SimdLevel> levels)
{
    const ExecutionLayout layout(s, classes);
    std::vector<float> x(size_t(s.n * layout.stride()), 0.0f), y(x.size(), 0.0f);
    for (int64_t p = 0; p < s.n; ++p)
        x[size_t(p * layout.stride() + p % classes)] = 1.0f;
    std::vector<double> seconds;
    for (const SimdLevel level : levels) {
        const auto start = std::chrono::steady_clock::now();
        for (int step = 0; step < steps; ++step) {
            layout.multiply(x, y, 1, level);
            x.swap(y);
        }
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return seconds;
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
    const auto level = resolveSimdLevel(options.simd);
    if (!level)
        return fail("propagation: " + level.error().message);

    // Work in the execution layout (see ExecutionLayout); onStep and the result see item order.
    const ExecutionLayout layout(s, classes);
    const int stride = layout.stride();
    const size_t cells = size_t(n * stride);
    std::vector<float> y0(cells, 0.0f);
    std::vector<int64_t> seeded; // layout positions of seeded items
    for (int64_t i = 0; i < n; ++i)
        if (seeds[size_t(i)] >= 0) {
            seeded.push_back(layout.position(i));
            y0[size_t(layout.position(i) * stride + seeds[size_t(i)])] = 1.0f;
        }
    std::vector<float> y = warmStart.empty() ? y0 : layout.toLayout(warmStart);
    std::vector<float> next(cells);
    std::vector<float> itemOrder(options.onStep ? size_t(n * classes) : 0);

    const auto resetSeededRows = [&](std::vector<float>& target) {
        for (int64_t p : seeded)
            std::copy_n(y0.begin() + p * stride, stride, target.begin() + p * stride);
    };
    if (!warmStart.empty() && options.clamp.kind != ClampMode::Kind::None)
        resetSeededRows(y);

    for (int step = 1; step <= options.iterations; ++step) {
        if (options.cancel && options.cancel->load())
            return fail("propagation: cancelled");
        layout.multiply(y, next, options.threads, *level);
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
        if (options.onStep) {
            layout.fromLayout(y, itemOrder);
            options.onStep(step, itemOrder);
        }
    }

    PropagationResult result;
    result.n = n;
    result.classes = classes;
    result.scores.resize(size_t(n * classes));
    layout.fromLayout(y, result.scores);
    summariseScores(result);
    return result;
}

} // namespace labelprop
