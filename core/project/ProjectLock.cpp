#include "core/project/ProjectLock.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace labelprop {

namespace {

std::string readHolder(int fd)
{
    char buffer[512];
    const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
    if (n <= 0)
        return "another program";
    std::string s(buffer, std::size_t(n));
    while (!s.empty() && (s.back() == '\n' || s.back() == '\0'))
        s.pop_back();
    return s.empty() ? std::string("another program") : s;
}

} // namespace

ProjectLock::ProjectLock(int fd)
    : m_fd(fd)
{
}

ProjectLock::~ProjectLock()
{
    if (m_fd >= 0) {
        // Clear the holder line first so nobody reads a stale description after we let go.
        if (::ftruncate(m_fd, 0) != 0) {
        }
        ::close(m_fd); // releases the flock
    }
}

std::string ProjectLock::lockPathFor(const std::string& projectPath)
{
    return projectPath + "-lock";
}

Expected<std::unique_ptr<ProjectLock>> ProjectLock::acquire(const std::string& projectPath, const std::string& holder)
{
    const std::string lockPath = lockPathFor(projectPath);
    const int fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(lockPath + ": cannot create the lock file (" + std::strerror(errno)
                    + "); the project's folder must be writable to change the project; read-only commands still work");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        std::string who = readHolder(fd);
        ::close(fd);
        if (err == EWOULDBLOCK)
            return fail(projectPath + ": the project is open in another program (" + who
                        + "); close it there first, or use a read-only command such as 'project status' or "
                          "'project export'");
        return fail(lockPath + ": cannot lock (" + std::strerror(err) + ")");
    }
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm local{};
    localtime_r(&now, &local);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
    const std::string line = "pid " + std::to_string(::getpid()) + ", " + holder + " since " + when + "\n";
    // Best effort: the description is for messages only; the flock is what excludes.
    if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, line.data(), line.size(), 0) < 0) {
    }
    return std::unique_ptr<ProjectLock>(new ProjectLock(fd));
}

} // namespace labelprop
