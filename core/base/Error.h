#pragma once
// Expected failures (unreadable file, bad CSV line, wrong .npy shape) travel as values, not
// exceptions. The message always names the file, and the line or item where there is one, and
// what the user can do about it. Exceptions are reserved for broken invariants.

#include <exception>
#include <expected>
#include <string>

namespace labelprop {

struct Error {
    std::string message;
    // What to do about it with the command line ("run 'labelprop-cli project relink ...'"), kept
    // apart so the desktop app, which has its own buttons for it, does not tell people to type
    // commands. The CLI prints it after the message; may be empty.
    std::string cliAdvice;
};

template <class T>
using Expected = std::expected<T, Error>;

// Convenience: `return fail("labels.csv:3: unknown index 99 (there are 50 items)");`
[[nodiscard]] inline std::unexpected<Error> fail(std::string message)
{
    return std::unexpected<Error>(Error{std::move(message), {}});
}

// A failure whose remedy is a command: `message` stands alone (the app shows it), `cliAdvice`
// follows it in the CLI's error line.
[[nodiscard]] inline std::unexpected<Error> failWithCliAdvice(std::string message, std::string cliAdvice)
{
    return std::unexpected<Error>(Error{std::move(message), std::move(cliAdvice)});
}

// Runs `f`, which returns an Expected, and turns an exception it throws (SQLite, OpenCV, a failed
// allocation) into an error that starts with `where`: the task boundary of every worker thread,
// written once (STYLE.md: exceptions come back to the caller as an error result).
template <class F>
auto catchErrors(const std::string& where, F&& f) -> decltype(f())
{
    try {
        return f();
    } catch (const std::exception& e) {
        return fail(where + ": " + e.what());
    }
}

} // namespace labelprop

// Returns the error of an Expected<...> expression from the enclosing function.
#define LP_TRY(expr)                                                                                                   \
    do {                                                                                                               \
        if (auto lp_try_result = (expr); !lp_try_result)                                                               \
            return std::unexpected(lp_try_result.error());                                                             \
    } while (false)
