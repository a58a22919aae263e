#pragma once
// Width-generic GCC vector types for the engine's kernels (see core/base/SimdLevel.h). A kernel
// is written once as an always-inline template over the vector width W (floats per register) and
// instantiated inside one small wrapper per level with that level's register width: W = 16 under
// target("avx512f") (one zmm), 8 under target("avx2") (one ymm), 4 for the baseline (one xmm). A
// vector as wide as the target's registers stays in a register; a wider one (16 floats under
// AVX2) is lowered by GCC into stack stores and reloads on every use. Only generic vector
// operations appear here, never intrinsics, so the templates inline into any target's wrapper.
//
// Everything here is always_inline: the body must be compiled in the wrapper's target, never on
// its own. Vectors travel by reference: passing or returning a 32- or 64-byte vector by value
// has a target-dependent ABI (GCC warns, -Wpsabi), even where the call is inlined away.

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace labelprop::simd {

template <int W>
struct VectorOf;
// (Plain typedefs in explicit specialisations: GCC drops vector_size on a dependent alias template.)
template <>
struct VectorOf<4> {
    typedef float Float __attribute__((vector_size(4 * sizeof(float))));
    typedef int32_t Int __attribute__((vector_size(4 * sizeof(int32_t))));
};
template <>
struct VectorOf<8> {
    typedef float Float __attribute__((vector_size(8 * sizeof(float))));
    typedef int32_t Int __attribute__((vector_size(8 * sizeof(int32_t))));
};
template <>
struct VectorOf<16> {
    typedef float Float __attribute__((vector_size(16 * sizeof(float))));
    typedef int32_t Int __attribute__((vector_size(16 * sizeof(int32_t))));
};
template <int W>
using Float = typename VectorOf<W>::Float;
template <int W>
using Int = typename VectorOf<W>::Int;

// v = the W floats at `p` (any alignment).
template <int W>
[[gnu::always_inline]] inline void load(Float<W>& v, const float* p)
{
    std::memcpy(&v, p, sizeof(v));
}

template <int W>
[[gnu::always_inline]] inline void store(float* p, const Float<W>& v)
{
    std::memcpy(p, &v, sizeof(v));
}

// L consecutive floats (a label row, or a chunk of one) as L / W vectors of W floats: one zmm, two
// ymm or four xmm for L = 16. GCC keeps such an aggregate in registers once the loops over its
// parts are unrolled, which the functions below do.
template <int W, int L>
struct Lanes {
    static_assert(L % W == 0);
    static constexpr int kParts = L / W;
    Float<W> part[kParts];
};

// v = the L floats at `p` (any alignment).
template <int W, int L>
[[gnu::always_inline]] inline void load(Lanes<W, L>& v, const float* p)
{
#pragma GCC unroll 4
    for (int q = 0; q < Lanes<W, L>::kParts; ++q)
        load<W>(v.part[q], p + q * W);
}

// The L floats at `p` = v.
template <int W, int L>
[[gnu::always_inline]] inline void store(float* p, const Lanes<W, L>& v)
{
#pragma GCC unroll 4
    for (int q = 0; q < Lanes<W, L>::kParts; ++q)
        store<W>(p + q * W, v.part[q]);
}

// acc += w x the L floats at `p`.
template <int W, int L>
[[gnu::always_inline]] inline void addScaled(Lanes<W, L>& acc, float w, const float* p)
{
#pragma GCC unroll 4
    for (int q = 0; q < Lanes<W, L>::kParts; ++q) {
        Float<W> v;
        load<W>(v, p + q * W);
        acc.part[q] += w * v;
    }
}

// The sum of the L lanes, in the same order at every W (so every level rounds alike): lane i
// plus lane i + L/2 down to 4 lanes, then (v0 + v1) + (v2 + v3).
template <int W, int L>
[[gnu::always_inline]] inline float laneSum(const Lanes<W, L>& v)
{
    if constexpr (Lanes<W, L>::kParts > 1) {
        constexpr int kHalf = Lanes<W, L>::kParts / 2;
        Lanes<W, L / 2> half;
#pragma GCC unroll 4
        for (int q = 0; q < kHalf; ++q)
            half.part[q] = v.part[q] + v.part[q + kHalf];
        return laneSum(half);
    } else if constexpr (W == 16) {
        Lanes<8, 8> half;
        half.part[0] = __builtin_shufflevector(v.part[0], v.part[0], 0, 1, 2, 3, 4, 5, 6, 7)
                       + __builtin_shufflevector(v.part[0], v.part[0], 8, 9, 10, 11, 12, 13, 14, 15);
        return laneSum(half);
    } else if constexpr (W == 8) {
        Lanes<4, 4> half;
        half.part[0] = __builtin_shufflevector(v.part[0], v.part[0], 0, 1, 2, 3)
                       + __builtin_shufflevector(v.part[0], v.part[0], 4, 5, 6, 7);
        return laneSum(half);
    } else {
        static_assert(W == 4);
        return (v.part[0][0] + v.part[0][1]) + (v.part[0][2] + v.part[0][3]);
    }
}

// True when any lane of a comparison result (0 or -1 per lane) is set: OR the halves together
// down to 4 lanes, then the lanes.
template <int W>
[[gnu::always_inline]] inline bool anyLane(const Int<W>& mask)
{
    if constexpr (W == 16) {
        const Int<8> half = __builtin_shufflevector(mask, mask, 0, 1, 2, 3, 4, 5, 6, 7)
                            | __builtin_shufflevector(mask, mask, 8, 9, 10, 11, 12, 13, 14, 15);
        return anyLane<8>(half);
    } else if constexpr (W == 8) {
        const Int<4> half = __builtin_shufflevector(mask, mask, 0, 1, 2, 3) | __builtin_shufflevector(mask, mask, 4, 5, 6, 7);
        return anyLane<4>(half);
    } else {
        static_assert(W == 4);
        return (mask[0] | mask[1] | mask[2] | mask[3]) != 0;
    }
}

// Whether any of the Block floats at `values` is >= its threshold: the one `threshold` for all
// (Threshold = float), or thresholds[u] for values[u] (Threshold = const float*). Block is a
// multiple of W.
template <int W, int Block, class Threshold>
[[gnu::always_inline]] inline bool anyAtLeast(const float* values, Threshold threshold)
{
    static_assert(Block % W == 0);
    Int<W> hit = {};
#pragma GCC unroll 16
    for (int q = 0; q < Block; q += W) {
        Float<W> v;
        load<W>(v, values + q);
        if constexpr (std::is_same_v<Threshold, float>) {
            hit |= v >= threshold;
        } else {
            Float<W> t;
            load<W>(t, threshold + q);
            hit |= v >= t;
        }
    }
    return anyLane<W>(hit);
}

} // namespace labelprop::simd
