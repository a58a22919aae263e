#pragma once
// One writer per project: a process that opens a project for writing holds an exclusive flock()
// on "<project>-lock" beside it. The kernel drops the lock when the process exits or is killed,
// so a crash never leaves a stale lock behind. The lock file records who holds it (pid, program,
// start time) so a second process can say who to close.
//
// Thread-safety: a ProjectLock is owned by one thread; the lock is per open file description, so
// two ProjectLocks in one process on the same project also exclude each other.

#include "core/base/Error.h"

#include <memory>
#include <string>

namespace labelprop {

class ProjectLock final {
public:
    // Takes the lock without waiting. When another process holds it, the error says which
    // ("P.labelprop is open in another program (pid 1234, labelprop since 2026-11-26 10:42:07)").
    // `holder` describes this process for others, e.g. "labelprop-cli project label".
    [[nodiscard]] static Expected<std::unique_ptr<ProjectLock>> acquire(const std::string& projectPath,
                                                                        const std::string& holder);
    ~ProjectLock();
    ProjectLock(const ProjectLock&) = delete;
    ProjectLock& operator=(const ProjectLock&) = delete;

    // "<project>-lock".
    [[nodiscard]] static std::string lockPathFor(const std::string& projectPath);

private:
    explicit ProjectLock(int fd);
    int m_fd = -1;
};

} // namespace labelprop
