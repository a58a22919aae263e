#pragma once
// SplitMix64: a tiny, portable generator, so the PCA's sample and its random range finder are
// identical across standard libraries (std::mt19937 would be too, but its distributions are not).
// Internal to core/encoders.
//
// Thread-safety: none; one generator per thread.

#include <cmath>
#include <cstdint>
#include <numbers>

namespace labelprop {

class SplitMix64 {
public:
    explicit SplitMix64(std::uint64_t seed)
        : m_state(seed)
    {
    }
    std::uint64_t next()
    {
        std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // Uniform in [0, bound), bound > 0 (modulo with rejection, so no bias).
    std::uint64_t below(std::uint64_t bound)
    {
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
        for (;;) {
            const std::uint64_t r = next();
            if (r < limit)
                return r % bound;
        }
    }
    // Uniform in [0, 1), 53 bits.
    double uniform01() { return double(next() >> 11) * 0x1.0p-53; }
    // Standard normal (Box-Muller).
    double normal()
    {
        const double u1 = 1.0 - uniform01(); // (0, 1]
        const double u2 = uniform01();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }

private:
    std::uint64_t m_state;
};

} // namespace labelprop
