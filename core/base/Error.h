#pragma once
// Expected failures (unreadable file, bad CSV line, wrong .npy shape) travel as values, not
// exceptions. The message always names the file, and the line or item where there is one, and
// what the user can do about it. Exceptions are reserved for broken invariants.

#include <expected>
#include <string>

namespace labelprop {

struct Error {
    std::string message;
};

template <class T>
using Expected = std::expected<T, Error>;

// Convenience: `return fail("labels.csv:3: unknown index 99 (there are 50 items)");`
[[nodiscard]] inline std::unexpected<Error> fail(std::string message)
{
    return std::unexpected<Error>(Error{std::move(message)});
}

} // namespace labelprop
