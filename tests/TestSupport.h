#pragma once
// Helpers shared by the Qt Test executables: run the CLI, make temporary files.

#include <QDir>
#include <QByteArrayList>
#include <QFile>
#include <QList>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <string>

namespace labelprop::test {

struct CliRun {
    int exitCode = -1;
    QString out;
    QString err;
};

// Runs labelprop-cli with `args` in `workingDirectory` (empty: the test's own); waits up to `timeoutMs`.
inline CliRun runCli(const QStringList& args, int timeoutMs = 600000, const QString& workingDirectory = {})
{
    QProcess p;
    if (!workingDirectory.isEmpty())
        p.setWorkingDirectory(workingDirectory);
    p.start(QStringLiteral(LABELPROP_CLI), args);
    CliRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("timed out");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2; // -2: crashed
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

inline void writeFile(const QString& path, const QByteArray& bytes)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    f.write(bytes);
}

inline QByteArray readFile(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

// Rows of a simple CSV written by the CLI (no quoted commas), header included, blank lines skipped.
inline QList<QByteArrayList> readCsv(const QString& path)
{
    QList<QByteArrayList> rows;
    for (const QByteArray& line : readFile(path).split('\n'))
        if (!line.isEmpty())
            rows.push_back(line.split(','));
    return rows;
}

} // namespace labelprop::test
