// `labelprop [PATH] [--screenshot FILE.png [--screenshot-after SECONDS]] [--shortcuts]`: the labeling app.
//   no PATH            the start page (recent projects, new project, the demo);
//   PATH.labelprop     opens the project;
//   a folder, a CSV or IDX files: starts a new project for them (PATH.labelprop beside it, or opens
//                      that project when it exists);
//   --source SOURCE RESULTS: the read-only result viewer of `labelprop-cli` results (as before).
// Only wiring: the windows do the work.

#include "ui/MainWindow.h"
#include "ui/ResultViewerWindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QPixmap>
#include <QScreen>
#include <QTimer>

#include <cstdio>

namespace {

// Saves `window` to `file` and quits (exit status 1 when it cannot be written).
void saveAndQuit(QWidget& window, const QString& file)
{
    // With a dialog open (File > Export, say) the screen under the window is saved, dialog and
    // all, where the platform can read the screen (X11); otherwise the window alone.
    QPixmap shot;
    if (QApplication::activeModalWidget() && window.screen()) {
        const QRect frame = window.frameGeometry();
        shot = window.screen()->grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height());
    }
    if (shot.isNull())
        shot = window.grab();
    if (!shot.save(file)) {
        std::fprintf(stderr, "labelprop: cannot write %s\n", qUtf8Printable(file));
        QApplication::exit(1);
        return;
    }
    std::printf("wrote %s\n", qUtf8Printable(file));
    QApplication::quit();
}

bool isResultFolder(const QString& path)
{
    const QFileInfo info(path);
    return info.isDir() && QFileInfo::exists(path + QStringLiteral("/items.csv"))
           && (QFileInfo::exists(path + QStringLiteral("/result.csv")) || QFileInfo::exists(path + QStringLiteral("/issues.csv")));
}

int runViewer(const QString& source, const QString& results, const QString& screenshot)
{
    labelprop::ui::ResultViewerWindow window;
    window.resize(1100, 760);
    using Window = labelprop::ui::ResultViewerWindow;
    if (!screenshot.isEmpty()) {
        QObject::connect(&window, &Window::errorOccurred, qApp, [] { QApplication::exit(1); });
        QObject::connect(&window, &Window::visibleThumbnailsReady, qApp, [&window, screenshot] { saveAndQuit(window, screenshot); });
    }
    window.show();
    if (!source.isEmpty())
        window.openSource(source);
    window.openResults(results);
    return QApplication::exec();
}

} // namespace

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("labelprop"));
    QApplication::setApplicationName(QStringLiteral("labelprop"));
    QApplication::setApplicationDisplayName(QStringLiteral("Labelprop"));
    QApplication::setApplicationVersion(QStringLiteral(LABELPROP_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Label image collections: every label spreads to similar images, likely wrong labels are flagged. PATH is a "
        "project file, or a folder, CSV or IDX files to start a project for."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                        QStringLiteral("Save the window to FILE.png once the visible thumbnails have "
                                                       "loaded (or the start page is shown), then quit."),
                                        QStringLiteral("FILE.png"));
    const QCommandLineOption shortcuts(QStringLiteral("shortcuts"), QStringLiteral("Show the keyboard shortcut sheet (F1)."));
    const QCommandLineOption source(QStringLiteral("source"),
                                    QStringLiteral("Result viewer: the image source the results' items came from."),
                                    QStringLiteral("SOURCE"));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size, e.g. 1366x768."),
                                  QStringLiteral("WxH"), QStringLiteral("1366x768"));
    const QCommandLineOption screenshotAfter(QStringLiteral("screenshot-after"),
                                             QStringLiteral("With --screenshot: save the window after SECONDS instead "
                                                            "(e.g. to show an import or encoding in progress)."),
                                             QStringLiteral("SECONDS"));
    parser.addOptions({screenshot, screenshotAfter, shortcuts, source, size});
    parser.addPositionalArgument(QStringLiteral("PATH"), QStringLiteral("A project, or images to start one for."),
                                 QStringLiteral("[PATH]"));
    parser.process(app);
    const QStringList args = parser.positionalArguments();
    if (args.size() > 1) {
        std::fprintf(stderr, "labelprop: give one PATH, not %lld\n", (long long)args.size());
        return 2;
    }
    const QString path = args.value(0);
    const QString shot = parser.value(screenshot);
    if (parser.isSet(source) || (!path.isEmpty() && isResultFolder(path))) {
        if (path.isEmpty()) {
            std::fprintf(stderr, "labelprop: --source needs RESULTS to show\n");
            return 2;
        }
        return runViewer(parser.value(source), path, shot);
    }

    labelprop::ui::MainWindow window;
    const QStringList wh = parser.value(size).split(QLatin1Char('x'));
    window.resize(wh.value(0).toInt() > 0 ? wh.value(0).toInt() : 1366, wh.value(1).toInt() > 0 ? wh.value(1).toInt() : 768);
    using Window = labelprop::ui::MainWindow;
    if (!shot.isEmpty()) {
        QObject::connect(&window, &Window::errorShown, qApp, [&window, shot](const QString& message) {
            std::fprintf(stderr, "labelprop: %s\n", qUtf8Printable(message));
            saveAndQuit(window, shot); // the error as the window shows it
            QApplication::exit(1);
        });
        if (parser.isSet(screenshotAfter))
            QTimer::singleShot(int(parser.value(screenshotAfter).toDouble() * 1000), &window,
                               [&window, shot] { saveAndQuit(window, shot); });
        else if (path.isEmpty())
            QTimer::singleShot(300, &window, [&window, shot] { saveAndQuit(window, shot); });
        else
            QObject::connect(&window, &Window::visibleThumbnailsReady, qApp, [&window, shot] {
                // One more turn of the event loop so the last thumbnails are painted.
                QTimer::singleShot(50, &window, [&window, shot] { saveAndQuit(window, shot); });
            });
    }
    if (parser.isSet(shortcuts)) {
        QObject::connect(&window, &Window::projectOpened, &window, &Window::showShortcuts);
        if (path.isEmpty())
            QTimer::singleShot(0, &window, &Window::showShortcuts);
    }
    window.show();
    if (path.endsWith(QStringLiteral(".labelprop")))
        window.openProject(path);
    else if (!path.isEmpty())
        window.newProject(path);
    return QApplication::exec();
}
