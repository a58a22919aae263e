#pragma once
// ResultViewerWindow: the read-only result viewer. A thumbnail grid of one propagation or audit
// result, in a chosen order, optionally only the flagged items; a status bar with the counts.
// It only wires things together: ResultSnapshot (core) holds the data, ItemGridModel presents it,
// ThumbnailCache decodes images, ThumbnailDelegate paints a cell.
//
// Thread-safety: GUI thread only. Loading a result folder and opening an image source run on the
// global thread pool; a newer request supersedes a stale one.

#include "core/sources/ImageSource.h"
#include "ui/ItemGridModel.h"
#include "ui/ThumbnailCache.h"

#include <QMainWindow>
#include <QTimer>

#include <cstdint>
#include <memory>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QListView;

namespace labelprop::ui {

class ResultViewerWindow final : public QMainWindow {
    Q_OBJECT
public:
    explicit ResultViewerWindow(QWidget* parent = nullptr);
    ~ResultViewerWindow() override;

    // Loads a folder holding items.csv and result.csv or issues.csv (both: the newer), or a result
    // table beside an items.csv (see loadResultFolder()). Asynchronous: resultsLoaded() or
    // errorOccurred() follows.
    void openResults(const QString& path);
    // Opens the image source the items came from (what `labelprop-cli embed` read). Asynchronous:
    // sourceOpened() or errorOccurred() follows. Thumbnails show once its items match items.csv.
    void openSource(const QString& path);

    [[nodiscard]] ItemGridModel& model() { return m_model; }
    [[nodiscard]] ThumbnailCache& thumbnails() { return m_cache; }

signals:
    void resultsLoaded();
    void sourceOpened();
    // Every cell in the viewport has its final picture (thumbnail, broken-image mark, or the
    // placeholder when there is no usable source). Emitted once per change of the visible range.
    void visibleThumbnailsReady();
    // Also shown in a message box, or written to stderr on the offscreen platform.
    void errorOccurred(const QString& message);

private:
    void buildUi();
    void chooseResults();
    void chooseSource();
    void applyOrder();
    void updateCounts();
    void useSourceIfItFits();
    void updateVisibleRange();
    void checkVisibleReady();
    void reportError(const QString& message);
    bool eventFilter(QObject* watched, QEvent* event) override;

    ThumbnailCache m_cache; // declared before the model, which refers to it
    ItemGridModel m_model;
    QListView* m_view = nullptr;
    QComboBox* m_order = nullptr;
    QCheckBox* m_flaggedOnly = nullptr;
    QLabel* m_counts = nullptr;
    QLabel* m_sourceLabel = nullptr;
    QTimer m_visibleTimer; // debounces scrolling and resizing
    std::shared_ptr<const ImageSource> m_source; // opened; used once it matches the items
    QString m_sourcePath;
    std::uint64_t m_resultsRequest = 0;
    std::uint64_t m_sourceRequest = 0;
    bool m_resultsPending = false;
    bool m_sourcePending = false;
    bool m_waitingVisible = false;
    std::vector<int> m_visibleItems;
};

} // namespace labelprop::ui
