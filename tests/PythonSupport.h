#pragma once
// Runs short scripts with the system Python (which has numpy) as an oracle for the I/O and PCA
// tests. LABELPROP_TEST_PYTHON is /usr/bin/python3: the python3 first on PATH may lack numpy.

#include <QProcess>
#include <QString>
#include <QStringList>

namespace labelprop::test {

struct PythonRun {
    int exitCode = -1;
    QString out;
    QString err;
};

// Runs `script` (Python source) with `args` as sys.argv[1:]; waits up to `timeoutMs`.
inline PythonRun runPython(const QString& script, const QStringList& args = {}, int timeoutMs = 120000)
{
    QProcess p;
    p.start(QStringLiteral(LABELPROP_TEST_PYTHON), QStringList{QStringLiteral("-c"), script} + args);
    PythonRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = QStringLiteral("timed out");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

// Runs tests/data/`script` (a file) with `args`. By convention those scripts exit with 3 when the
// packages they need (python3-torch, ...) are missing: the test then skips.
inline PythonRun runDataScript(const QString& script, const QStringList& args, int timeoutMs = 300000)
{
    QProcess p;
    p.start(QStringLiteral(LABELPROP_TEST_PYTHON),
            QStringList{QStringLiteral(LABELPROP_SOURCE_DIR "/tests/data/") + script} + args);
    PythonRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.err = script + QStringLiteral(" timed out");
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

} // namespace labelprop::test

// Fails the current test with Python's stderr if the run did not exit with 0.
#define LABELPROP_VERIFY_PYTHON(run)                                                                                   \
    QVERIFY2((run).exitCode == 0, qPrintable(QStringLiteral("python failed (%1): %2").arg((run).exitCode).arg((run).err)))
