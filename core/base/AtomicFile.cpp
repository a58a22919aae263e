#include "core/base/AtomicFile.h"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

namespace labelprop {

namespace {

std::string errnoText(int err)
{
    return std::system_category().message(err);
}

} // namespace

AtomicFileWriter::AtomicFileWriter(std::string path)
    : m_path(std::move(path))
    , m_tmpPath(m_path + ".tmp")
{
}

AtomicFileWriter::~AtomicFileWriter()
{
    if (!m_committed)
        discard();
}

void AtomicFileWriter::discard()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
        ::unlink(m_tmpPath.c_str());
    }
}

Expected<void> AtomicFileWriter::open()
{
    if (m_fd >= 0)
        return {};
    if (m_committed)
        return fail(m_path + ": already written; create a new writer to write it again");
    m_fd = ::open(m_tmpPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m_fd < 0) {
        const int err = errno;
        return fail(m_tmpPath + ": cannot create the file (" + errnoText(err)
                    + "); check that the folder exists and is writable");
    }
    return {};
}

Expected<void> AtomicFileWriter::write(const void* data, std::size_t size)
{
    if (auto opened = open(); !opened)
        return opened;
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(m_fd, p, size);
        if (n < 0) {
            const int err = errno;
            if (err == EINTR)
                continue;
            discard();
            return fail(m_tmpPath + ": cannot write (" + errnoText(err)
                        + "); free some disk space or choose another folder");
        }
        p += n;
        size -= std::size_t(n);
    }
    return {};
}

Expected<void> AtomicFileWriter::commit()
{
    if (auto opened = open(); !opened) // an empty file is still a file
        return opened;
    if (::fsync(m_fd) != 0) {
        const int err = errno;
        // EINVAL/EROFS: the file system does not support fsync (e.g. some FUSE mounts); not fatal.
        if (err != EINVAL && err != EROFS) {
            discard();
            return fail(m_tmpPath + ": cannot flush to disk (" + errnoText(err)
                        + "); free some disk space or choose another folder");
        }
    }
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(m_tmpPath.c_str());
        return fail(m_tmpPath + ": cannot finish writing (" + errnoText(err)
                    + "); free some disk space or choose another folder");
    }
    if (std::rename(m_tmpPath.c_str(), m_path.c_str()) != 0) {
        const int err = errno;
        ::unlink(m_tmpPath.c_str());
        return fail(m_path + ": cannot replace the file with " + m_tmpPath + " (" + errnoText(err)
                    + "); check that the path is not a folder and the folder is writable");
    }
    m_committed = true;
    return {};
}

Expected<void> writeFileAtomically(const std::string& path, std::string_view bytes)
{
    AtomicFileWriter writer(path);
    if (auto r = writer.write(bytes.data(), bytes.size()); !r)
        return r;
    return writer.commit();
}

} // namespace labelprop
