#pragma once
// Our kernels run one sgemm per worker thread, so OpenBLAS must not start threads of its own
// inside them. While at least one ScopedSingleThreadedBlas lives (in any thread), OpenBLAS runs
// single-threaded; the last one to go restores the previous setting. Thread-safe and nestable.
//
// A network (LibTorch, whose GEMMs Debian's build runs in this same OpenBLAS) wants the opposite:
// one big GEMM at a time, on every core. ScopedBlasThreads(n) sets n threads for its lifetime,
// unless a ScopedSingleThreadedBlas is alive (that one wins: its sgemms must stay single).

namespace labelprop {

class ScopedSingleThreadedBlas final {
public:
    ScopedSingleThreadedBlas();
    ~ScopedSingleThreadedBlas();
    ScopedSingleThreadedBlas(const ScopedSingleThreadedBlas&) = delete;
    ScopedSingleThreadedBlas& operator=(const ScopedSingleThreadedBlas&) = delete;
};

class ScopedBlasThreads final {
public:
    explicit ScopedBlasThreads(int threads);
    ~ScopedBlasThreads();
    ScopedBlasThreads(const ScopedBlasThreads&) = delete;
    ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

private:
    int m_previous = 1;
    bool m_set = false;
};

} // namespace labelprop
