// SHA-256 (OpenSSL), as lower-case hex: how a test library and a data file
// are named on the wire (proto::Library::sha256, proto::DataFile::sha256) and
// in an agent's cache. The runner hashes what it sends, the agent what it
// receives or finds in its cache; both use these.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace loads {

// Lower-case hex SHA-256 of bytes (64 characters). Throws std::runtime_error
// if OpenSSL fails.
std::string sha256_hex(std::string_view bytes);

// Whether text is a SHA-256 as sha256_hex writes it: 64 lower-case hex digits.
bool is_sha256_hex(std::string_view text);

// The same hash over bytes given in pieces (a file read block by block).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    // False once OpenSSL failed; update and hex then do nothing.
    bool ok() const { return ok_; }
    void update(std::string_view bytes);
    // The hex of all the bytes given, or "" if OpenSSL failed. Call once.
    std::string hex();

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
    bool ok_ = false;
};

}  // namespace loads
