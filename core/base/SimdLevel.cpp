#include "core/base/SimdLevel.h"

#include <cpuid.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

namespace labelprop {
namespace {

constexpr std::array kAllLevels = {SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512};

std::string levelList(std::span<const SimdLevel> levels)
{
    std::string out;
    for (const SimdLevel level : levels)
        out += (out.empty() ? "" : ", ") + std::string(simdLevelName(level));
    return out;
}

} // namespace

std::string_view simdLevelName(SimdLevel level)
{
    switch (level) {
    case SimdLevel::Avx512:
        return "avx512";
    case SimdLevel::Avx2:
        return "avx2";
    case SimdLevel::Baseline:
        break;
    }
    return "baseline";
}

const std::vector<SimdLevel>& cpuSimdLevels()
{
    // __builtin_cpu_supports checks CPUID and that the OS saves the wide registers (XCR0).
    static const std::vector<SimdLevel> levels = [] {
        std::vector<SimdLevel> out{SimdLevel::Baseline};
        if (__builtin_cpu_supports("avx2"))
            out.push_back(SimdLevel::Avx2);
        if (__builtin_cpu_supports("avx512f"))
            out.push_back(SimdLevel::Avx512);
        return out;
    }();
    return levels;
}

std::string cpuModelName()
{
    // CPUID leaves 0x80000002..4 hold the 48-byte brand string, NUL-padded.
    std::array<unsigned, 12> words{};
    for (unsigned leaf = 0; leaf < 3; ++leaf)
        if (!__get_cpuid(0x80000002u + leaf, &words[leaf * 4], &words[leaf * 4 + 1], &words[leaf * 4 + 2],
                         &words[leaf * 4 + 3]))
            return "unknown CPU";
    char brand[sizeof(words) + 1] = {};
    std::memcpy(brand, words.data(), sizeof(words));
    std::string name(brand);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    return name.empty() ? "unknown CPU" : name;
}

Expected<SimdLevel> parseSimdLevel(std::string_view text, std::span<const SimdLevel> available, std::string_view what)
{
    const auto named = std::find_if(kAllLevels.begin(), kAllLevels.end(),
                                    [&](SimdLevel level) { return simdLevelName(level) == text; });
    if (named == kAllLevels.end())
        return fail(std::string(what) + "=" + std::string(text) + ": not a SIMD level; use one of "
                    + levelList(kAllLevels));
    if (std::find(available.begin(), available.end(), *named) == available.end())
        return fail(std::string(what) + "=" + std::string(text) + ": this CPU (" + cpuModelName() + ") cannot run "
                    + std::string(text) + " code; it runs " + levelList(available));
    return *named;
}

Expected<SimdLevel> simdLevelFromSetting(const char* setting, std::span<const SimdLevel> available)
{
    if (setting == nullptr || *setting == '\0')
        return available.empty() ? SimdLevel::Baseline : available.back();
    auto level = parseSimdLevel(setting, available, "LABELPROP_SIMD");
    if (!level)
        return fail(level.error().message + "; unset LABELPROP_SIMD to run the level measured fastest");
    return level;
}

Expected<std::optional<SimdLevel>> forcedSimdLevel(std::optional<SimdLevel> requested)
{
    if (requested)
        return parseSimdLevel(simdLevelName(*requested), cpuSimdLevels());
    // Read once: the level must not change under a running program.
    static const Expected<std::optional<SimdLevel>> setting = []() -> Expected<std::optional<SimdLevel>> {
        const char* value = std::getenv("LABELPROP_SIMD");
        if (value == nullptr || *value == '\0')
            return std::nullopt;
        return simdLevelFromSetting(value, cpuSimdLevels());
    }();
    return setting;
}

} // namespace labelprop
