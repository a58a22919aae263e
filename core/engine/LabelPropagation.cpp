#include "core/engine/LabelPropagation.h"

#include "core/base/Parallel.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

namespace labelprop {
namespace {

// Rows of Y are stored with a padded stride (8 or 16 floats for up to 16 classes) so each
// neighbour's row is one or two aligned vector loads; the padding columns stay zero because
// S 0 = 0. target_clones compiles each kernel for AVX-512, AVX2 and the baseline and picks one
// at load time, so a portable build still runs the wide kernel on a machine that has it.
// One padded label row as a GCC vector: AVX-512 holds it in one register, AVX2 in two, SSE in
// four. Explicit vector types keep the kernel a plain broadcast-multiply-add at any -O level
// (-O3 auto-vectorised the scalar version across neighbours instead and ran 4x slower).
// (Plain typedefs: GCC drops vector_size on a dependent alias template.)
typedef float LabelRow8 __attribute__((vector_size(8 * sizeof(float))));
typedef float LabelRow16 __attribute__((vector_size(16 * sizeof(float))));
template <int Stride>
struct LabelRowOf;
template <>
struct LabelRowOf<8> {
    using Type = LabelRow8;
};
template <>
struct LabelRowOf<16> {
    using Type = LabelRow16;
};

template <int Stride>
__attribute__((always_inline)) inline void multiplyRowsFixed(const int64_t* __restrict rowStart,
                                                             const int32_t* __restrict columns,
                                                             const float* __restrict weights,
                                                             const float* __restrict x, float* __restrict y,
                                                             int64_t r0, int64_t r1)
{
    using Row = typename LabelRowOf<Stride>::Type;
    static_assert(sizeof(Row) == Stride * sizeof(float));
    for (int64_t i = r0; i < r1; ++i) {
        Row acc = {};
        for (int64_t p = rowStart[i]; p < rowStart[i + 1]; ++p) {
            Row neighbour;
            std::memcpy(&neighbour, x + int64_t(columns[p]) * Stride, sizeof(Row));
            acc += weights[p] * neighbour;
        }
        std::memcpy(y + i * Stride, &acc, sizeof(Row));
    }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void multiplyRows8(
    const int64_t* rowStart, const int32_t* columns, const float* weights, const float* x, float* y, int64_t r0,
    int64_t r1)
{
    multiplyRowsFixed<8>(rowStart, columns, weights, x, y, r0, r1);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void multiplyRows16(
    const int64_t* rowStart, const int32_t* columns, const float* weights, const float* x, float* y, int64_t r0,
    int64_t r1)
{
    multiplyRowsFixed<16>(rowStart, columns, weights, x, y, r0, r1);
}

void multiplyRowsAny(const int64_t* __restrict rowStart, const int32_t* __restrict columns,
                     const float* __restrict weights, const float* __restrict x, float* __restrict y, int stride,
                     int64_t r0, int64_t r1)
{
    for (int64_t i = r0; i < r1; ++i) {
        float* __restrict row = y + i * stride;
        std::fill(row, row + stride, 0.0f);
        for (int64_t p = rowStart[i]; p < rowStart[i + 1]; ++p) {
            const float w = weights[p];
            const float* __restrict xr = x + int64_t(columns[p]) * stride;
            for (int q = 0; q < stride; ++q)
                row[q] += w * xr[q];
        }
    }
}

int paddedStride(int classes)
{
    return classes <= 8 ? 8 : classes <= 16 ? 16 : classes;
}

// y = M x for rows [0, n) of a CSR matrix; x and y are n x stride.
void multiplyPadded(const CsrMatrix& m, int64_t n, const float* x, int stride, float* y, int threads)
{
    parallelFor(0, n, threads, [&](int64_t r0, int64_t r1) {
        if (stride == 8)
            multiplyRows8(m.rowStart.data(), m.columns.data(), m.weights.data(), x, y, r0, r1);
        else if (stride == 16)
            multiplyRows16(m.rowStart.data(), m.columns.data(), m.weights.data(), x, y, r0, r1);
        else
            multiplyRowsAny(m.rowStart.data(), m.columns.data(), m.weights.data(), x, y, stride, r0, r1);
    });
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
    void multiply(const std::vector<float>& x, std::vector<float>& y, int threads) const
    {
        multiplyPadded(m_local ? m_s.local : static_cast<const CsrMatrix&>(m_s), m_s.n, x.data(), m_stride, y.data(),
                       threads);
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
    layout.multiply(in, out, threads);
    layout.fromLayout(out, y);
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
        layout.multiply(y, next, options.threads);
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
