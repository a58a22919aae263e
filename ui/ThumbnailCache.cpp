#include "ui/ThumbnailCache.h"

#include "ui/Tasks.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QPainter>
#include <QThread>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <exception>

namespace labelprop::ui {
namespace {

QPixmap makePlaceholder(QSize size, bool broken)
{
    QPixmap pixmap(size);
    pixmap.fill(Qt::transparent);
    QPainter p(&pixmap);
    p.setRenderHint(QPainter::Antialiasing);
    const QRectF box = QRectF(QPointF(0, 0), QSizeF(size)).adjusted(4, 4, -4, -4);
    p.setPen(QPen(QColor(0, 0, 0, 40), 1));
    p.setBrush(QColor(0, 0, 0, 18));
    p.drawRoundedRect(box, 6, 6);
    if (broken) {
        p.setPen(QPen(QColor(200, 40, 40, 160), 3));
        const QRectF cross = box.adjusted(box.width() / 3, box.height() / 3, -box.width() / 3, -box.height() / 3);
        p.drawLine(cross.topLeft(), cross.bottomRight());
        p.drawLine(cross.topRight(), cross.bottomLeft());
    }
    return pixmap;
}

} // namespace

QImage thumbnailImage(const cv::Mat& image, QSize size)
{
    if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3) || size.isEmpty())
        return {};
    const double scale = std::min(double(size.width()) / image.cols, double(size.height()) / image.rows);
    const int w = std::max(1, int(image.cols * scale + 0.5));
    const int h = std::max(1, int(image.rows * scale + 0.5));
    cv::Mat scaled;
    cv::resize(image, scaled, cv::Size(w, h), 0, 0, scale < 1.0 ? cv::INTER_AREA : cv::INTER_CUBIC);
    const auto format = scaled.channels() == 1 ? QImage::Format_Grayscale8 : QImage::Format_BGR888;
    // QImage wraps the Mat's buffer; copy() gives it its own pixels before the Mat goes away.
    return QImage(scaled.data, scaled.cols, scaled.rows, int(scaled.step), format).copy();
}

ThumbnailCache::ThumbnailCache(QSize thumbnailSize, int capacity, int threads, QObject* parent)
    : QObject(parent)
    , m_size(thumbnailSize)
    , m_cache(std::max(1, capacity))
    , m_placeholder(makePlaceholder(thumbnailSize, false))
    , m_broken(makePlaceholder(thumbnailSize, true))
{
    m_pool.setMaxThreadCount(threads > 0 ? threads : std::max(1, QThread::idealThreadCount()));
    // Enough in flight to keep every worker busy, few enough that a scroll re-prioritises quickly.
    m_maxRunning = 2 * m_pool.maxThreadCount();
    m_dispatchTimer.setSingleShot(true);
    m_dispatchTimer.setInterval(0);
    connect(&m_dispatchTimer, &QTimer::timeout, this, &ThumbnailCache::dispatch);
    m_readyTimer.setSingleShot(true);
    m_readyTimer.setInterval(kCoalesceMs);
    connect(&m_readyTimer, &QTimer::timeout, this, &ThumbnailCache::flushReady);
}

ThumbnailCache::~ThumbnailCache()
{
    m_pool.clear();
    m_pool.waitForDone();
}

void ThumbnailCache::setSource(std::shared_ptr<const ImageSource> source)
{
    m_source = std::move(source);
    ++m_generation; // results of decodes still running are dropped when they arrive
    m_cache.clear();
    m_queue.clear();
    m_queued.clear();
    m_running.clear();
    m_ready.clear();
    m_readyTimer.stop();
}

void ThumbnailCache::setByteBudget(qint64 bytes)
{
    m_costInKiB = true;
    m_cache.clear();
    m_cache.setMaxCost(qsizetype(std::max<qint64>(1, bytes / 1024)));
}

void ThumbnailCache::setThumbnailSize(QSize size)
{
    if (size == m_size)
        return;
    m_size = size;
    m_placeholder = makePlaceholder(size, false);
    m_broken = makePlaceholder(size, true);
    setSource(m_source); // same images, new size: forget the old thumbnails and requests
}

void ThumbnailCache::setDevicePixelRatio(qreal ratio)
{
    ratio = std::max<qreal>(1.0, ratio);
    if (ratio == m_ratio)
        return;
    m_ratio = ratio;
    setSource(m_source); // same images, sharper thumbnails
}

QSize ThumbnailCache::pixelSize() const
{
    return QSize(qRound(m_size.width() * m_ratio), qRound(m_size.height() * m_ratio));
}

void ThumbnailCache::enqueue(int item)
{
    if (!m_source || item < 0 || size_t(item) >= m_source->size() || m_cache.contains(item) || m_queued.contains(item)
        || m_running.contains(item))
        return;
    m_queue.push_back(item);
    m_queued.insert(item);
    if (m_queue.size() > size_t(kMaxQueued)) {
        m_queued.erase(m_queue.front());
        m_queue.pop_front();
    }
}

void ThumbnailCache::request(int item)
{
    enqueue(item);
    if (!m_queue.empty() && !m_dispatchTimer.isActive())
        m_dispatchTimer.start();
}

void ThumbnailCache::prioritize(std::span<const int> visible, std::span<const int> prefetch)
{
    m_queue.clear();
    m_queued.clear();
    for (int item : visible)
        enqueue(item);
    for (int item : prefetch)
        enqueue(item);
    if (!m_queue.empty())
        dispatch();
}

void ThumbnailCache::setDiskCache(const QString& folder, std::shared_ptr<const std::vector<ContentHash>> hashes)
{
    m_diskFolder = folder;
    m_hashes = std::move(hashes);
}

QString ThumbnailCache::diskPath(int item) const
{
    if (m_diskFolder.isEmpty() || !m_hashes || item < 0 || std::size_t(item) >= m_hashes->size()
        || (*m_hashes)[std::size_t(item)].isZero())
        return {};
    const QString hex = QString::fromStdString((*m_hashes)[std::size_t(item)].hex());
    return QStringLiteral("%1/%2x%3/%4/%5.jpg").arg(m_diskFolder).arg(pixelSize().width()).arg(pixelSize().height()).arg(hex.left(2), hex);
}

ThumbnailCache::Decoded ThumbnailCache::decode(std::shared_ptr<const ImageSource> source, int item, QSize size,
                                               std::uint64_t generation, const QString& diskPath)
{
    Decoded out{item, generation, {}, {}};
    if (!diskPath.isEmpty()) {
        QImage kept(diskPath);
        if (!kept.isNull() && kept.width() <= size.width() && kept.height() <= size.height()) {
            out.image = std::move(kept);
            return out;
        }
    }
    try {
        auto image = source->decodeForSize(size_t(item), std::max(size.width(), size.height()));
        if (!image) {
            out.error = QString::fromStdString(image.error().message);
            return out;
        }
        out.image = thumbnailImage(*image, size);
        if (out.image.isNull())
            out.error = QStringLiteral("item %1: cannot make a thumbnail of this image").arg(item);
        else if (!diskPath.isEmpty()) {
            // Written aside and renamed: a reader never sees half a file. Failing costs a decode later.
            QDir().mkpath(QFileInfo(diskPath).path());
            const QString tmp = diskPath + QStringLiteral(".tmp%1").arg(quintptr(QThread::currentThreadId()));
            if (out.image.save(tmp, "JPG", 90))
                QFile::rename(tmp, diskPath) || QFile::remove(tmp);
        }
    } catch (const std::exception& e) { // cv::Exception, std::bad_alloc: the task boundary
        out.error = QStringLiteral("item %1: %2").arg(item).arg(QString::fromUtf8(e.what()));
    }
    return out;
}

void ThumbnailCache::dispatch()
{
    while (!m_queue.empty() && int(m_running.size()) < m_maxRunning) {
        const int item = m_queue.front();
        m_queue.pop_front();
        m_queued.erase(item);
        m_running.insert(item);
        // Everything the worker needs goes by value; the result comes back to this thread.
        runThen(
            m_pool, this,
            [source = m_source, item, size = pixelSize(), generation = m_generation, path = diskPath(item)] {
                return decode(source, item, size, generation, path);
            },
            [this](Decoded decoded) { finished(std::move(decoded)); });
    }
}

void ThumbnailCache::finished(Decoded decoded)
{
    if (decoded.generation != m_generation)
        return; // from a previous source
    m_running.erase(decoded.item);
    auto entry = std::make_unique<Entry>();
    entry->error = std::move(decoded.error);
    if (!decoded.image.isNull()) {
        entry->pixmap = QPixmap::fromImage(std::move(decoded.image));
        entry->pixmap.setDevicePixelRatio(m_ratio);
    }
    const qsizetype cost = m_costInKiB ? std::max<qsizetype>(1, entry->pixmap.width() * entry->pixmap.height() * 4 / 1024) : 1;
    m_cache.insert(decoded.item, entry.release(), cost); // the cache owns it; evicts the least recently used
    m_ready.append(decoded.item);
    if (!m_readyTimer.isActive())
        m_readyTimer.start();
    dispatch();
}

void ThumbnailCache::flushReady()
{
    if (!m_ready.isEmpty()) {
        const QList<int> ready = std::exchange(m_ready, {});
        emit thumbnailsReady(ready);
    }
    if (isIdle())
        emit idle();
}

} // namespace labelprop::ui
