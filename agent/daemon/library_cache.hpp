// Test libraries and data files shipped by the broker, kept on disk by their
// SHA-256 so an agent host needs no copy of its own and writes each version once.
#pragma once

#include "loads/proto/messages.hpp"

#include <string>

namespace loads::agent {

class LibraryCache {
public:
    explicit LibraryCache(std::string dir) : dir_(std::move(dir)) {}
    const std::string& dir() const { return dir_; }

    // Creates the directory (mode 0700) if it is not there, then checks it is
    // the agent's own: a directory, not a symbolic link, owned by this
    // process's user, writable by nobody else. "" when it is; otherwise why
    // not ("cache directory D: group and others can write it (mode 0777)").
    std::string prepare_dir() const;
    // Removes a stored file (a library that failed its check).
    void remove(const std::string& path) const;

    // Writes the library as <dir>/<sha256>.so (unless that file is already
    // there with the same bytes) and returns its path. Throws
    // std::runtime_error with a message for the broker when the bytes do not
    // match their hash or the file cannot be written.
    std::string store(const proto::Library& lib);
    // The path of <dir>/<sha256>.so when it is there with the library's size
    // and hash (so no transfer is needed), else "".
    std::string find(const proto::Library& lib) const;
    // The same for a data file: <dir>/<sha256>.<ext>, ext from its file name
    // (csv, jsonl or ndjson; anything else is refused).
    std::string store(const proto::DataFile& data);

private:
    // Checks the hash and writes `bytes` as <dir>/<sha256><suffix>.
    std::string store_bytes(const std::string& what, const std::string& sha256, const std::string& bytes,
                            const std::string& suffix, bool executable);

    std::string dir_;
};

// The default cache: $XDG_CACHE_HOME/loads, else $HOME/.cache/loads, else
// /tmp/loads-agent-cache-UID (created 0700; prepare_dir refuses one someone
// else made there).
std::string default_cache_dir();

}  // namespace loads::agent
