// The test libraries of the broker's runs, one copy of each (by SHA-256),
// shared by every run that needs it and freed with the last of them. Agents
// pull a library in slices (FETCH/CHUNK, docs/protocol.md 5.1).
#pragma once

#include "loads/proto/messages.hpp"

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace loads::broker {

class LibraryStore {
public:
    using Bytes = std::shared_ptr<const std::string>;

    // Keeps `lib`'s bytes (moved out of it; the copy already held if the same
    // library is here) and returns the handle a run holds while it needs them.
    Bytes add(proto::Library& lib);
    // Bytes [offset, offset + length) of the library with that hash, cut at
    // its end; or why not in `error` ("no library ... here", a range outside it).
    std::string_view slice(const std::string& sha256, std::uint64_t offset, std::uint64_t length,
                           std::string& error);
    // Libraries held now (some run still holds each).
    std::size_t size();

private:
    std::map<std::string, std::weak_ptr<const std::string>> libs_;
    Bytes find(const std::string& sha256);
    Bytes last_;  // the last found: a slice stays valid until the next call
};

}  // namespace loads::broker
