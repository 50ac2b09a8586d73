// What an exception thrown by test code means for a hit: a failure (a check
// did not hold), an error of a kind (the engine's RequestError), or an error
// of kind `exception` (anything else, std::exception or not: `throw 42`,
// `throw "text"`), with a message naming what was thrown.
#pragma once

#include "loads/error_kind.hpp"

#include <string>

namespace loads {

struct HitOutcome {
    bool failure = false;                   // a loads::Failure; otherwise an error of `kind`
    ErrorKind kind = ErrorKind::exception;  // errors only
    std::string message;                    // "boom", "std::out_of_range: vector", "int 42"

    // "failure: <message>" or "<kind>: <message>", as the summary lists it.
    std::string note() const;
};

// Called inside a catch block: describes the exception being handled. Never
// throws (a type it cannot name is described by its mangled name).
HitOutcome describe_current_exception() noexcept;

}  // namespace loads
