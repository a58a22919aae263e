// `labelprop [--source SOURCE] [--screenshot FILE.png] [RESULTS]`: the desktop result viewer.
// Only wiring: the window does the work.

#include "ui/ResultViewerWindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include <cstdio>

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("labelprop"));
    QApplication::setApplicationDisplayName(QStringLiteral("Labelprop"));
    QApplication::setApplicationVersion(QStringLiteral(LABELPROP_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Shows a propagation or audit result as a thumbnail grid. RESULTS is a folder holding items.csv and "
        "result.csv or issues.csv (both: the one written last), or a result table beside an items.csv."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption source(QStringLiteral("source"),
                                    QStringLiteral("The image source the items came from (what embed read)."),
                                    QStringLiteral("SOURCE"));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                        QStringLiteral("Save the window to FILE.png once the visible thumbnails "
                                                       "have loaded, then quit."),
                                        QStringLiteral("FILE.png"));
    parser.addOption(source);
    parser.addOption(screenshot);
    parser.addPositionalArgument(QStringLiteral("RESULTS"), QStringLiteral("The folder or result table to open."),
                                 QStringLiteral("[RESULTS]"));
    parser.process(app);
    if (parser.positionalArguments().size() > 1) {
        std::fprintf(stderr, "labelprop: give one RESULTS folder or file, not %lld\n",
                     (long long)parser.positionalArguments().size());
        return 2;
    }

    labelprop::ui::ResultViewerWindow window;
    window.resize(1100, 760);
    if (parser.isSet(screenshot)) {
        const QString file = parser.value(screenshot);
        if (parser.positionalArguments().isEmpty()) {
            std::fprintf(stderr, "labelprop: --screenshot needs RESULTS to show\n");
            return 2;
        }
        using Window = labelprop::ui::ResultViewerWindow;
        QObject::connect(&window, &Window::errorOccurred, &app, [] { QApplication::exit(1); });
        QObject::connect(&window, &Window::visibleThumbnailsReady, &app, [&window, file] {
            if (!window.grab().save(file)) {
                std::fprintf(stderr, "labelprop: cannot write %s\n", qUtf8Printable(file));
                QApplication::exit(1);
                return;
            }
            std::printf("wrote %s\n", qUtf8Printable(file));
            QApplication::quit();
        });
    }
    window.show();
    if (parser.isSet(source))
        window.openSource(parser.value(source));
    if (!parser.positionalArguments().isEmpty())
        window.openResults(parser.positionalArguments().constFirst());
    return QApplication::exec();
}
