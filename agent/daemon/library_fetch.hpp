// Pulling a test library from the broker in slices (docs/protocol.md 5.1):
// a few FETCHes outstanding, each CHUNK written where it belongs in a file
// beside the cache entry, then the whole checked (size, SHA-256) and renamed
// to <cache>/<sha256>.so. No socket here: the agent sends what requests()
// says and hands over what comes back.
#pragma once

#include "loads/proto/messages.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loads::agent {

class LibraryFetch {
public:
    static constexpr std::uint64_t kChunk = 1u << 20;  // bytes per FETCH
    static constexpr std::size_t kWindow = 4;          // FETCHes outstanding

    // Starts an empty <dir>/<sha256>.so.part<pid>. Throws std::runtime_error
    // (a bad hash, a file that cannot be made).
    LibraryFetch(const std::string& dir, proto::Library lib);
    ~LibraryFetch();  // removes the partial file unless finish() moved it
    LibraryFetch(const LibraryFetch&) = delete;
    LibraryFetch& operator=(const LibraryFetch&) = delete;

    const proto::Library& library() const { return lib_; }
    std::uint64_t received() const { return received_; }
    // The FETCHes to send now to keep kWindow outstanding.
    std::vector<proto::Fetch> requests();
    // "" when the chunk was taken; else why it is refused: another library,
    // an offset not asked for (outside the library, or twice), a length
    // other than asked.
    std::string on_chunk(const proto::Chunk& c);
    bool complete() const { return received_ == lib_.size && outstanding_.empty(); }
    // Checks the file's size and SHA-256 and renames it into place; returns
    // its path. Throws std::runtime_error saying what did not match.
    std::string finish();

private:
    proto::Library lib_;
    std::string path_, part_;
    int fd_ = -1;
    std::uint64_t next_ = 0, received_ = 0;
    std::map<std::uint64_t, std::uint64_t> outstanding_;  // offset -> length
};

// Lower-case hex SHA-256 of a file's bytes, read in blocks; "" if unreadable.
std::string sha256_file(const std::string& path);

}  // namespace loads::agent
