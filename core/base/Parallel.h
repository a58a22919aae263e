#pragma once
// A minimal fork-join helper: splits [begin, end) into contiguous chunks, one per thread, and
// waits for all of them. Used by the engine's hot loops (kNN, propagation) where a chunk is a
// few milliseconds of work, so spawning a few threads per call is negligible.
// Thread-safety: `body` is called concurrently on disjoint ranges; it must not share mutable
// state across chunks without its own synchronisation.

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace labelprop {

// Resolves a requested thread count: 0 means "all hardware threads".
[[nodiscard]] inline int resolveThreadCount(int requested)
{
    if (requested > 0)
        return requested;
    return std::max(1u, std::thread::hardware_concurrency());
}

template <class Body>
void parallelFor(int64_t begin, int64_t end, int threads, Body&& body)
{
    const int64_t count = end - begin;
    if (count <= 0)
        return;
    const int64_t workers = std::min<int64_t>(resolveThreadCount(threads), count);
    if (workers <= 1) {
        body(begin, end);
        return;
    }
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(static_cast<size_t>(workers));
    pool.reserve(size_t(workers - 1));
    const auto chunk = [&](int64_t w) {
        const int64_t b = begin + count * w / workers;
        const int64_t e = begin + count * (w + 1) / workers;
        try {
            body(b, e);
        } catch (...) {
            errors[size_t(w)] = std::current_exception();
        }
    };
    for (int64_t w = 1; w < workers; ++w)
        pool.emplace_back(chunk, w);
    chunk(0);
    for (auto& t : pool)
        t.join();
    for (auto& e : errors)
        if (e)
            std::rethrow_exception(e);
}

} // namespace labelprop
