#pragma once
// ThumbnailCache: decoded thumbnails of an ImageSource's items, made on worker threads and kept in
// a bounded least-recently-used cache (Gwenview's thumbnail view is the model: the view paints
// from the cache only; a missing thumbnail is a placeholder plus a queued request, the visible
// items go first, far items drop out of the queue and out of the cache).
//
// Thread-safety: a GUI-thread object; call every member from the thread it lives in. Workers on
// its own QThreadPool get the source (immutable, shared) and the item index by value and hand a
// QImage back by value; the QPixmap is made on this thread when the result arrives.

#include "core/base/ContentHash.h"
#include "core/sources/ImageSource.h"

#include <QCache>
#include <QImage>
#include <QList>
#include <QObject>
#include <QPixmap>
#include <QSize>
#include <QString>
#include <QThreadPool>
#include <QTimer>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_set>
#include <vector>

namespace cv {
class Mat;
}

namespace labelprop::ui {

// Scales an 8-bit gray or BGR image to fit `size` (aspect ratio kept; small images are enlarged
// smoothly) and converts it to a QImage that owns its pixels. An unsupported image gives a null
// QImage. Reentrant.
[[nodiscard]] QImage thumbnailImage(const cv::Mat& image, QSize size);

class ThumbnailCache final : public QObject {
    Q_OBJECT
public:
    // A cached result: the thumbnail, or the reason decoding failed (then `pixmap` is null).
    struct Entry {
        QPixmap pixmap;
        QString error;
    };

    // `capacity`: how many thumbnails are kept (least recently used go first). `threads`: decode
    // workers; 0 means QThread::idealThreadCount().
    explicit ThumbnailCache(QSize thumbnailSize = QSize(96, 96), int capacity = 1024, int threads = 0,
                            QObject* parent = nullptr);
    // Waits for running decodes (each is one image); queued ones are dropped.
    ~ThumbnailCache() override;

    // Replaces the source (nullptr: none) and forgets every thumbnail and request.
    void setSource(std::shared_ptr<const ImageSource> source);
    [[nodiscard]] const std::shared_ptr<const ImageSource>& source() const { return m_source; }
    [[nodiscard]] QSize thumbnailSize() const { return m_size; }
    [[nodiscard]] int capacity() const { return int(m_cache.maxCost()); }
    // Keeps thumbnails up to `bytes` of pixel data instead of a number of them (the labeling
    // window: large thumbnails take more room than small ones). Forgets what is cached.
    void setByteBudget(qint64 bytes);
    // New thumbnails of another size (Ctrl +/-): forgets what is cached, remakes the placeholders.
    void setThumbnailSize(QSize size);
    // Device pixels per logical pixel of the screen the thumbnails are shown on (2 on a HiDPI
    // screen or with QT_SCALE_FACTOR=2): thumbnails are made at thumbnailSize() x ratio device
    // pixels and carry the ratio, so they are sharp, not upscaled. Forgets what is cached.
    void setDevicePixelRatio(qreal ratio);
    [[nodiscard]] qreal devicePixelRatio() const { return m_ratio; }
    // The size thumbnails are decoded to, in device pixels.
    [[nodiscard]] QSize pixelSize() const;
    // Also keeps thumbnails on disk, under folder/<W>x<H>/<first 2 hex digits>/<content hash>.jpg,
    // so reopening a project of large photos does not decode them again. `hashes`: the content hash
    // of each item (index = item); an item with a zero hash is not kept. An empty folder turns it off.
    // Writes are atomic (a temporary file renamed); a file that cannot be read is decoded again.
    void setDiskCache(const QString& folder, std::shared_ptr<const std::vector<ContentHash>> hashes);

    // The cached entry of `item`, or nullptr. Marks it as recently used. O(1), no I/O.
    [[nodiscard]] const Entry* find(int item) const { return m_cache.object(item); }
    // Whether `item` is cached, without touching the LRU order.
    [[nodiscard]] bool contains(int item) const { return m_cache.contains(item); }
    // Shown while a thumbnail is on its way, and when decoding failed.
    [[nodiscard]] const QPixmap& placeholder() const { return m_placeholder; }
    [[nodiscard]] const QPixmap& brokenPlaceholder() const { return m_broken; }

    // Queues `item` behind earlier requests. No-op without a source, for an item out of range,
    // and for one cached, queued or being decoded. When the queue is full the oldest request goes.
    void request(int item);
    // Replaces the queue with `visible` (first, in order) then `prefetch`; every other queued
    // request is dropped (it scrolled away). Cached items are skipped.
    void prioritize(std::span<const int> visible, std::span<const int> prefetch = {});
    // Nothing queued and nothing being decoded.
    [[nodiscard]] bool isIdle() const { return m_queue.empty() && m_running.empty(); }
    [[nodiscard]] int queuedCount() const { return int(m_queue.size()); }

    static constexpr int kMaxQueued = 4096;  // requests beyond this push out the oldest
    static constexpr int kCoalesceMs = 30;   // thumbnailsReady fires at most this often

signals:
    // Items whose thumbnail (or error) arrived since the last emission; coalesced.
    void thumbnailsReady(const QList<int>& items);
    // Emitted after thumbnailsReady when the queue has run dry.
    void idle();

private:
    struct Decoded {
        int item = 0;
        std::uint64_t generation = 0;
        QImage image;
        QString error;
    };
    static Decoded decode(std::shared_ptr<const ImageSource> source, int item, QSize size, std::uint64_t generation,
                          const QString& diskPath);
    [[nodiscard]] QString diskPath(int item) const;

    void dispatch();
    void finished(Decoded decoded);
    void flushReady();
    void enqueue(int item);

    QSize m_size;
    qreal m_ratio = 1.0;
    std::shared_ptr<const ImageSource> m_source;
    std::uint64_t m_generation = 0;
    QCache<int, Entry> m_cache;
    QString m_diskFolder;
    std::shared_ptr<const std::vector<ContentHash>> m_hashes;
    bool m_costInKiB = false; // byte budget: an entry costs its pixels in KiB; else 1
    std::deque<int> m_queue;
    std::unordered_set<int> m_queued;
    std::unordered_set<int> m_running;
    int m_maxRunning = 1;
    QList<int> m_ready;
    QTimer m_dispatchTimer;
    QTimer m_readyTimer;
    QPixmap m_placeholder;
    QPixmap m_broken;
    QThreadPool m_pool; // last: destroyed (and waited for) first
};

} // namespace labelprop::ui
