#pragma once
// Our kernels run one sgemm per worker thread, so OpenBLAS must not start threads of its own
// inside them. While at least one ScopedSingleThreadedBlas lives (in any thread), OpenBLAS runs
// single-threaded; the last one to go restores the previous setting. Thread-safe and nestable.

namespace labelprop {

class ScopedSingleThreadedBlas final {
public:
    ScopedSingleThreadedBlas();
    ~ScopedSingleThreadedBlas();
    ScopedSingleThreadedBlas(const ScopedSingleThreadedBlas&) = delete;
    ScopedSingleThreadedBlas& operator=(const ScopedSingleThreadedBlas&) = delete;
};

} // namespace labelprop
