#pragma once
// The one error type of the model code (core/models): a message that names the file, the tensor
// or the option at fault and what to do about it. The encoders layer catches it and returns the
// engine's Expected<> error instead; nothing else in Labelprop throws.

#include <stdexcept>
#include <string>

namespace labelprop::models {

class ModelError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace labelprop::models
