#include "ui/ClassPalette.h"

#include <QHeaderView>
#include <QInputDialog>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace labelprop::ui {

ClassPalette::ClassPalette(QWidget* parent)
    : QWidget(parent)
{
    setObjectName(QStringLiteral("classPalette"));
    m_view = new QTableView(this);
    m_view->setObjectName(QStringLiteral("classList"));
    m_view->setModel(&m_model);
    m_view->setSelectionMode(QAbstractItemView::NoSelection);
    m_view->setFocusPolicy(Qt::NoFocus); // the grid keeps the keyboard
    m_view->verticalHeader()->hide();
    m_view->setShowGrid(false);
    m_view->horizontalHeader()->setSectionResizeMode(ClassListModel::NameColumn, QHeaderView::Stretch);
    for (int c : {int(ClassListModel::HotkeyColumn), int(ClassListModel::PeopleColumn), int(ClassListModel::PropagatedColumn)})
        m_view->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    m_view->setCursor(Qt::PointingHandCursor);
    connect(m_view, &QTableView::clicked, this, [this](const QModelIndex& index) { emit classClicked(index.row()); });

    auto* add = new QPushButton(tr("Add class…"), this);
    add->setObjectName(QStringLiteral("addClass"));
    add->setFocusPolicy(Qt::NoFocus);
    connect(add, &QPushButton::clicked, this, [this] {
        bool ok = false;
        const QString name = QInputDialog::getText(this, tr("Add a class"), tr("Name of the new class:"),
                                                   QLineEdit::Normal, {}, &ok).trimmed();
        if (ok && !name.isEmpty())
            emit addClassRequested(name);
    });
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_view, 1);
    layout->addWidget(add);
}

} // namespace labelprop::ui
