#pragma once
// runThen(): the one way ui/ starts background work. A task gets everything it needs by value and
// returns its result by value; the result comes back to a QObject's thread through
// QFuture::then(context, ...).
//
// The continuation is attached before the task is started, so it always arrives through the
// context's event loop: never inside the runThen() call (as it could when attaching to a future
// that has already finished), and never after the context is destroyed.
//
// Thread-safety: call from the context's thread. `task` runs on a pool thread and must not touch
// GUI-owned objects; `done` runs on the context's thread.

#include <QFuture>
#include <QObject>
#include <QPromise>
#include <QThreadPool>

#include <memory>
#include <type_traits>
#include <utility>

namespace labelprop::ui {

template <class Task, class Done>
void runThen(QThreadPool& pool, QObject* context, Task task, Done done)
{
    using Result = std::invoke_result_t<Task&>;
    // Shared so the pool's copyable std::function can hold it; a task dropped from the pool's queue
    // destroys the promise, which cancels the future, so `done` does not run.
    auto promise = std::make_shared<QPromise<Result>>();
    promise->future().then(context, std::move(done));
    pool.start([promise, task = std::move(task)]() mutable {
        promise->start();
        promise->addResult(task());
        promise->finish();
    });
}

} // namespace labelprop::ui
