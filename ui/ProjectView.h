#pragma once
// ProjectView: the labeling grid with its bar of orders and filters. It shows the session's items
// in the order and filter asked for; the order is computed on a worker from a copy of the columns
// and swapped in keeping the current item and the selection, so tiles never jump under the pointer
// while a person labels: labels and propagation update the tiles in place, and the order changes
// only when the person asks (refreshOrder(), a new sort or filter).
//
// Thread-safety: GUI thread only.

#include "core/project/ItemView.h"
#include "ui/ProjectGridModel.h"

#include <QTimer>
#include <QWidget>

#include <cstdint>
#include <vector>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListView;

namespace labelprop::ui {

class ProjectSession;
class ThumbnailCache;
class TileDelegate;

// What reopening a project brings back.
struct ViewState {
    ItemQuery query;
    int thumbnailSize = 96;                 // pixels (square)
    int currentItem = -1;                   // item index
    std::vector<std::int32_t> selectedItems; // item indices
    int topItem = -1;                        // the item in the top-left visible tile
};

class ProjectView final : public QWidget {
    Q_OBJECT
public:
    ProjectView(ProjectSession* session, ThumbnailCache* cache, QWidget* parent = nullptr);

    // After the session opened: shows the items with `state` (order, filter, current, selection, scroll).
    void start(const ViewState& state);
    [[nodiscard]] ViewState state() const;

    [[nodiscard]] QListView* grid() const { return m_grid; }
    [[nodiscard]] ProjectGridModel& model() { return m_model; }
    [[nodiscard]] const ItemQuery& query() const { return m_query; }
    void setQuery(const ItemQuery& query);
    // Recomputes the order with the current values (a key); keeps the current item in view.
    void refreshOrder();
    // The classes changed: the class filter's choices follow.
    void classesChanged();

    [[nodiscard]] int currentItem() const;
    // Selected item indices, in grid order; the current item when nothing is selected.
    [[nodiscard]] std::vector<std::int32_t> selectedItems() const;
    // Moves the current item one tile on (after labeling one item), selecting it alone.
    void advance();
    // Thumbnail size steps (Ctrl +/-): 48, 64, 96, 128, 192, 256 pixels.
    void zoom(int steps);
    [[nodiscard]] int thumbnailSize() const;

    // Whether every visible tile has its thumbnail (or its error), and no order is being computed.
    [[nodiscard]] bool visibleThumbnailsLoaded() const;
    [[nodiscard]] bool orderPending() const { return m_orderPending; }
    // The line shown over an empty grid (no item passes the filter), or empty while items show.
    [[nodiscard]] QString emptyMessage() const;

signals:
    void stateChanged();            // order, filter, current item, selection, scroll or zoom
    void orderApplied();            // a new order is shown
    void visibleThumbnailsReady();  // after a change, every visible tile has its thumbnail
    void currentItemChanged(int item);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void buildBar();
    void updateEmptyMessage();
    void queryFromBar();
    void showQueryInBar(const ItemQuery& query); // the bar's widgets only; no new order
    void computeOrder(int keepItem, std::vector<std::int32_t> keepSelection, int topItem);
    void updateVisible();
    void restoreSelection(int current, const std::vector<std::int32_t>& selected, int topItem);
    [[nodiscard]] int topVisibleItem() const;

    ProjectSession* m_session;
    ThumbnailCache* m_cache;
    ProjectGridModel m_model;
    TileDelegate* m_delegate = nullptr;
    QListView* m_grid = nullptr;
    QComboBox* m_sort = nullptr;
    QComboBox* m_filter = nullptr;
    QComboBox* m_class = nullptr;
    QDoubleSpinBox* m_minConfidence = nullptr;
    QDoubleSpinBox* m_maxConfidence = nullptr;
    QLineEdit* m_search = nullptr;
    QLabel* m_empty = nullptr; // over the grid's viewport when nothing passes the filter
    ItemQuery m_query;
    bool m_updatingBar = false;
    bool m_orderPending = false;
    std::uint64_t m_orderRequest = 0;
    bool m_waitingForVisible = false;
    QTimer m_visibleTimer;  // debounces scrolls before asking for thumbnails
    QTimer m_searchTimer;   // debounces typing in the search field
};

} // namespace labelprop::ui
