#pragma once
// Atomic file replacement: bytes go to "<path>.tmp", are flushed to disk, and the temporary file
// is renamed over <path>. A reader never sees a half-written file, and a failed write (missing
// folder, no permission, disk full) leaves any previous <path> untouched.
//
// Thread-safety: an AtomicFileWriter is used by one thread at a time; distinct writers (to
// distinct paths) may run concurrently. writeFileAtomically() is reentrant.

#include "core/base/Error.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace labelprop {

// Streams a large file (e.g. an embedding matrix) without building it in memory first.
//   AtomicFileWriter w(path);
//   if (auto r = w.write(a, n); !r) return r;   // ... more writes
//   return w.commit();
// The destructor removes the temporary file unless commit() succeeded.
class AtomicFileWriter final {
public:
    explicit AtomicFileWriter(std::string path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    // Appends `size` bytes. The first call creates "<path>.tmp". Errors name the file and the
    // system's reason (errno text), e.g. "out.npy.tmp: cannot write (No space left on device); ...".
    [[nodiscard]] Expected<void> write(const void* data, std::size_t size);
    // Flushes to disk, closes and renames the temporary file over the target path.
    [[nodiscard]] Expected<void> commit();

    [[nodiscard]] const std::string& path() const { return m_path; }

private:
    [[nodiscard]] Expected<void> open();
    void discard();

    std::string m_path;
    std::string m_tmpPath;
    int m_fd = -1;
    bool m_committed = false;
};

// Writes `bytes` to `path` atomically (see above). Used for result.csv, stats.json and the like.
// The error names the path and the errno text.
[[nodiscard]] Expected<void> writeFileAtomically(const std::string& path, std::string_view bytes);

} // namespace labelprop
