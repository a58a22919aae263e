#pragma once
// The encoders' worker loop: batches of items on a few threads, with progress reported and
// cancellation checked on the calling thread. Internal to core/encoders.
//
// Thread-safety: runBatches() calls `body` on its workers concurrently, each call on a disjoint
// range, and `progress` only on the calling thread; it returns after every worker has joined.

#include "core/encoders/Encoder.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace labelprop {

// Items per batch: a worker takes the next batch when it finishes one (dynamic scheduling).
inline constexpr std::size_t kEncodeBatch = 256;

// Runs body(begin, end) over [0, count) in batches on `threads` workers (dynamic scheduling),
// reporting progress(progressBase + items done, progressTotal) from the calling thread. Returns false if cancelled; rethrows the first
// exception a worker threw.
template <class Body>
[[nodiscard]] bool runBatches(std::size_t count, int threads, const ProgressCallback& progress,
                              std::size_t progressBase, std::size_t progressTotal, Body body)
{
    if (count == 0)
        return true;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> done{0};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable wake;
    std::exception_ptr error;
    const auto worker = [&] {
        for (;;) {
            if (stop.load())
                return;
            const std::size_t b = next.fetch_add(kEncodeBatch);
            if (b >= count)
                return;
            const std::size_t e = std::min(count, b + kEncodeBatch);
            try {
                body(b, e);
            } catch (...) {
                std::lock_guard lock(mutex);
                if (!error)
                    error = std::current_exception();
                stop = true;
            }
            {
                std::lock_guard lock(mutex); // pairs with the waiting thread's predicate check
                done += e - b;
            }
            wake.notify_one();
        }
    };
    const int workers = int(std::min<std::size_t>(std::size_t(threads), (count + kEncodeBatch - 1) / kEncodeBatch));
    std::vector<std::jthread> pool;
    pool.reserve(std::size_t(workers));
    for (int t = 0; t < workers; ++t)
        pool.emplace_back(worker);
    bool cancelled = false;
    {
        // Report at the start (so a callback that cancels at once always can), then at most every
        // 100 ms, then once at the end.
        std::unique_lock lock(mutex);
        auto lastReport = std::chrono::steady_clock::now() - std::chrono::seconds(1);
        for (;;) {
            const bool finished = done.load() >= count || stop.load();
            const auto now = std::chrono::steady_clock::now();
            if (progress && (finished || now - lastReport >= std::chrono::milliseconds(100))) {
                const std::size_t d = done.load();
                lastReport = now;
                lock.unlock();
                const bool keepGoing = progress(progressBase + d, progressTotal);
                lock.lock();
                if (!keepGoing) {
                    cancelled = true;
                    stop = true;
                    break;
                }
            }
            if (finished)
                break;
            wake.wait_for(lock, std::chrono::milliseconds(100));
        }
    }
    pool.clear(); // joins
    if (error)
        std::rethrow_exception(error);
    return !cancelled;
}

} // namespace labelprop
