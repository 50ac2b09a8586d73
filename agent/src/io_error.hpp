// Turning I/O errors into the error kinds we count, in one place.
#pragma once

#include "loads/error_kind.hpp"

#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>

namespace loads {

struct RequestError;  // loads/loads.hpp

// Where the error happened: the same code means different things in a
// connect (refused: a connect error) and a read (eof: a reset).
enum class IoPhase { connect, tls_handshake, ws_handshake, write, read };

// `timed_out` is the watchdog's verdict for the operation that failed.
ErrorKind classify(const boost::system::error_code& ec, IoPhase phase, bool timed_out);

// A sentence for logs and RequestError: "connect to 127.0.0.1:1: Connection refused".
std::string describe(const boost::system::error_code& ec, IoPhase phase, bool timed_out);

// Both together: RequestError(classify(...), describe(...)), with " (where)"
// appended when `where` (an origin or URL) is not empty.
RequestError request_error(const boost::system::error_code& ec, IoPhase phase, bool timed_out,
                           std::string_view where = {});

}  // namespace loads
