#pragma once
// The labeling app's test fixtures, shared by the window tests (tst_app, tst_keyboard,
// tst_first_hour): a small unlabeled image folder made into a project, the store read back from
// the project file, and waits on the window's asynchronous work (QSignalSpy / qWaitFor, never sleeps).

#include "ProjectTestSupport.h"
#include "TestSupport.h"

#include "core/project/ProjectCreate.h"
#include "core/project/ProjectStore.h"
#include "ui/MainWindow.h"
#include "ui/ProjectView.h"

#include <QApplication>
#include <QGuiApplication>
#include <QListView>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

namespace labelprop::test {

using namespace labelprop::ui;
namespace fs = std::filesystem;

inline constexpr int kWaitMs = 20000;
inline const std::vector<std::string> kClasses = {"cat", "dog", "fox"};

// An unlabeled folder of 3 x 12 images (class structure in the pixels) plus one corrupt file.
struct Fixture {
    QTemporaryDir dir;
    std::string root;
    QString project;

    explicit Fixture(bool withClasses = true)
    {
        root = (fs::path(dir.path().toStdString()) / "images").string();
        const auto paths = writeImageFolder(root, kClasses, 12);
        // Flatten into one folder (unlabeled): "cat/img_0.png" -> "cat_img_0.png".
        for (const auto& p : paths) {
            auto flat = p;
            std::replace(flat.begin(), flat.end(), '/', '_');
            fs::rename(fs::path(root) / p, fs::path(root) / flat);
        }
        for (const auto& c : kClasses)
            fs::remove(fs::path(root) / c);
        writeFile(QString::fromStdString(root + "/zz_broken.png"), "\x89PNG but not really");
        project = dir.filePath(QStringLiteral("p.labelprop"));
        ProjectCreateRequest request;
        request.project = project.toStdString();
        request.source = root;
        request.encoder = "pca:8";
        auto created = createProjectFromSource(request);
        if (!created)
            qFatal("create: %s", created.error().message.c_str());
        auto& store = *created->store;
        auto s = *store.settings();
        s.k = 5;
        if (!store.saveSettings(s))
            qFatal("settings");
        if (withClasses)
            for (const auto& c : kClasses)
                if (!store.ensureClass(c))
                    qFatal("class");
    }
};

inline std::unique_ptr<ProjectStore> readStore(const QString& path)
{
    auto store = ProjectStore::open(path.toStdString(), ProjectStore::Access::ReadOnly);
    if (!store)
        qFatal("open: %s", store.error().message.c_str());
    return std::move(*store);
}

// item index -> (class, source) as saved in the project file.
inline std::map<int, std::pair<int, LabelSource>> savedLabels(const QString& path)
{
    std::map<int, std::pair<int, LabelSource>> out;
    const auto store = readStore(path);
    const auto labels = store->currentLabels();
    if (!labels)
        qFatal("labels: %s", labels.error().message.c_str());
    for (const auto& l : *labels)
        out[int(l.itemId - 1)] = {l.classId, l.source};
    return out;
}

inline bool waitOpened(MainWindow& w);

// Shows a window over the fixture's project and waits until it is open with its order computed.
inline bool openOn(MainWindow& w, const Fixture& f, QSize size = QSize(1000, 700))
{
    w.resize(size);
    w.show();
    // Keys reach a widget only in the active window; on X11 (Xvfb, no window manager) a shown
    // window is not active until asked.
    w.activateWindow();
    if (!QTest::qWaitForWindowActive(&w))
        qWarning("the window never became active on %s", qPrintable(QGuiApplication::platformName()));
    w.openProject(f.project);
    if (!waitOpened(w))
        return false;
    w.projectView()->grid()->setFocus();
    return true;
}

inline bool waitOpened(MainWindow& w)
{
    QSignalSpy opened(&w, &MainWindow::projectOpened);
    const bool ok = opened.wait(kWaitMs) && QTest::qWaitFor([&] { return !w.projectView()->orderPending(); }, kWaitMs);
    if (!ok)
        qWarning("the project did not open; the window's last error: %s", qPrintable(w.lastError()));
    return ok;
}

// Waits until the engine has applied everything and the store has committed it (a store round
// trip: the undo-state signal follows every commit).
inline bool settle(MainWindow& w)
{
    return QTest::qWaitFor([&] { return w.session().engineIdle(); }, kWaitMs);
}

// Opens the fixture's project and labels the current item with the first class (key 1), so every
// item has a propagated class; waits until the engine has caught up.
inline bool openWithOneLabel(MainWindow& w, const Fixture& f)
{
    if (!openOn(w, f))
        return false;
    QTest::keyClick(w.projectView()->grid(), Qt::Key_1);
    return QTest::qWaitFor([&] { return w.session().engineIdle() && w.session().undoDepth() == 1; }, kWaitMs);
}

inline QWidget* gridViewport(MainWindow& w)
{
    return w.projectView()->grid()->viewport();
}

inline void pressOnGrid(MainWindow& w, Qt::Key key, Qt::KeyboardModifiers mods = Qt::NoModifier)
{
    QTest::keyClick(w.projectView()->grid(), key, mods);
}

inline int currentItem(MainWindow& w)
{
    return w.projectView()->currentItem();
}


} // namespace labelprop::test
