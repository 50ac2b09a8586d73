#include "library_fetch.hpp"

#include "loads/sha256.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace loads::agent {

std::string sha256_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    Sha256 hash;
    std::string block(1u << 20, '\0');
    while (hash.ok()) {
        const ssize_t n = ::read(fd, block.data(), block.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            return {};
        }
        if (n == 0) break;
        hash.update(std::string_view(block.data(), static_cast<std::size_t>(n)));
    }
    ::close(fd);
    return hash.hex();
}

LibraryFetch::LibraryFetch(const std::string& dir, proto::Library lib) : lib_(std::move(lib)) {
    if (!is_sha256_hex(lib_.sha256))
        throw std::runtime_error("library " + lib_.name + ": sha256 is not 64 lower-case hex digits");
    if (lib_.size == 0) throw std::runtime_error("library " + lib_.name + " is empty");
    path_ = dir + "/" + lib_.sha256 + ".so";
    part_ = path_ + ".part" + std::to_string(::getpid());
    fd_ = ::open(part_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) throw std::runtime_error("cannot write " + part_ + ": " + std::strerror(errno));
}

LibraryFetch::~LibraryFetch() {
    if (fd_ >= 0) ::close(fd_);
    if (!part_.empty()) ::unlink(part_.c_str());
}

std::vector<proto::Fetch> LibraryFetch::requests() {
    std::vector<proto::Fetch> out;
    while (outstanding_.size() < kWindow && next_ < lib_.size) {
        const std::uint64_t length = std::min(kChunk, lib_.size - next_);
        outstanding_[next_] = length;
        out.push_back(proto::Fetch{lib_.sha256, next_, length});
        next_ += length;
    }
    return out;
}

std::string LibraryFetch::on_chunk(const proto::Chunk& c) {
    if (c.sha256 != lib_.sha256) return "a CHUNK of another library (" + c.sha256.substr(0, 64) + ")";
    auto it = outstanding_.find(c.offset);
    if (it == outstanding_.end())
        return "a CHUNK at offset " + std::to_string(c.offset) + " of library " + lib_.name + " (" +
               std::to_string(lib_.size) + " bytes), which was not asked for";
    if (c.data.size() != it->second)
        return "a CHUNK of " + std::to_string(c.data.size()) + " bytes at offset " + std::to_string(c.offset) +
               ", asked for " + std::to_string(it->second);
    for (std::size_t done = 0; done < c.data.size();) {
        const ssize_t n = ::pwrite(fd_, c.data.data() + done, c.data.size() - done,
                                   static_cast<off_t>(c.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return "cannot write " + part_ + ": " + std::strerror(errno);
        done += static_cast<std::size_t>(n);
    }
    outstanding_.erase(it);
    received_ += c.data.size();
    return {};
}

std::string LibraryFetch::finish() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != lib_.size)
        throw std::runtime_error("library " + lib_.name + ": received " + std::to_string(st.st_size) +
                                 " bytes, expected " + std::to_string(lib_.size));
    ::close(fd_);
    fd_ = -1;
    const std::string actual = sha256_file(part_);
    if (actual != lib_.sha256)
        throw std::runtime_error("library " + lib_.name + ": bytes hash to " + actual + ", expected " + lib_.sha256);
    ::chmod(part_.c_str(), 0700);
    if (std::rename(part_.c_str(), path_.c_str()) != 0)
        throw std::runtime_error("cannot store " + path_ + ": " + std::strerror(errno));
    part_.clear();
    return path_;
}

}  // namespace loads::agent
