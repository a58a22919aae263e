#include "core/base/BlasThreads.h"

#include <cblas.h>

#include <mutex>

namespace labelprop {
namespace {
std::mutex gMutex;
int gUsers = 0;
int gPrevious = 1;
} // namespace

ScopedSingleThreadedBlas::ScopedSingleThreadedBlas()
{
    std::lock_guard lock(gMutex);
    if (gUsers++ == 0) {
        gPrevious = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
}

ScopedSingleThreadedBlas::~ScopedSingleThreadedBlas()
{
    std::lock_guard lock(gMutex);
    if (--gUsers == 0)
        openblas_set_num_threads(gPrevious);
}

ScopedBlasThreads::ScopedBlasThreads(int threads)
{
    std::lock_guard lock(gMutex);
    if (gUsers > 0)
        return;
    m_previous = openblas_get_num_threads();
    openblas_set_num_threads(threads);
    m_set = true;
}

ScopedBlasThreads::~ScopedBlasThreads()
{
    std::lock_guard lock(gMutex);
    if (m_set && gUsers == 0)
        openblas_set_num_threads(m_previous);
}

} // namespace labelprop
