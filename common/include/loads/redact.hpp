// Redaction of run URLs for what anyone connected to the broker can read
// (STATUS answers, the PUB stream): a run's URL keeps its scheme, host, port
// and path, loses its user:password@ and the values of its query.
//
//   http://bob:pw@shop/cart?token=abc&x=1#frag -> http://shop/cart?token=REDACTED&x=REDACTED#REDACTED
//   http://shop/cart?abc                       -> http://shop/cart?REDACTED
#pragma once

#include <string>
#include <string_view>

namespace loads {

inline constexpr std::string_view kRedacted = "REDACTED";

// One URL (no surrounding text).
std::string redact_url(std::string_view url);

// Every URL in free text ("lib.so:A.b", "invalid URL \"http://x/?t=1\"",
// "http://x/?t=1"): each run of non-space, non-quote characters that starts
// with scheme:// is redacted with redact_url; the rest is kept as it is.
std::string redact_urls(std::string_view text);

}  // namespace loads
