#include "library_cache.hpp"

#include "library_fetch.hpp"

#include "loads/sha256.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace loads::agent {

namespace fs = std::filesystem;

std::string default_cache_dir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/loads";
    if (const char* home = std::getenv("HOME"); home && *home && std::string_view(home) != "/")
        return std::string(home) + "/.cache/loads";
    return "/tmp/loads-agent-cache-" + std::to_string(::getuid());
}

namespace {
bool file_has(const fs::path& p, const std::string& sha) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return sha256_hex(bytes) == sha;
}
}  // namespace

std::string LibraryCache::prepare_dir() const {
    const std::string head = "cache directory " + dir_ + ": ";
    struct stat st {};
    if (::lstat(dir_.c_str(), &st) != 0) {
        if (errno != ENOENT) return head + std::strerror(errno);
        // Its parents as usual; the directory itself for this user only.
        std::error_code ec;
        const fs::path parent = fs::path(dir_).parent_path();
        if (!parent.empty()) fs::create_directories(parent, ec);
        if (ec) return head + "cannot create its parent: " + ec.message();
        if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return head + "cannot create it: " + std::strerror(errno);
        if (::lstat(dir_.c_str(), &st) != 0) return head + std::strerror(errno);
    }
    if (S_ISLNK(st.st_mode)) return head + "it is a symbolic link; give the agent a directory of its own";
    if (!S_ISDIR(st.st_mode)) return head + "it is not a directory";
    if (st.st_uid != ::geteuid())
        return head + "it is owned by uid " + std::to_string(st.st_uid) + ", not by this agent's user (uid " +
               std::to_string(::geteuid()) + ")";
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return head + "group or others can write it (mode " + mode +
               "): anyone could swap the libraries the agent loads; chmod 700 it or choose another --cache-dir";
    }
    return {};
}

void LibraryCache::remove(const std::string& path) const {
    std::error_code ec;
    fs::remove(path, ec);
}

std::string LibraryCache::store(const proto::Library& lib) {
    return store_bytes("library " + lib.name, lib.sha256, lib.bytes, ".so", true);
}

std::string LibraryCache::find(const proto::Library& lib) const {
    if (!is_sha256_hex(lib.sha256)) return {};
    const fs::path path = fs::path(dir_) / (lib.sha256 + ".so");
    std::error_code ec;
    if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) != lib.size || ec) return {};
    return sha256_file(path.string()) == lib.sha256 ? path.string() : std::string();
}

std::string LibraryCache::store(const proto::DataFile& data) {
    const std::string what = "data file " + data.name + " (" + data.file + ")";
    auto dot = data.file.rfind('.');
    std::string ext = dot == std::string::npos ? "" : data.file.substr(dot + 1);
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext != "csv" && ext != "jsonl" && ext != "ndjson")
        throw std::runtime_error(what + ": not a .csv, .jsonl or .ndjson file");
    return store_bytes(what, data.sha256, data.bytes, "." + ext, false);
}

std::string LibraryCache::store_bytes(const std::string& what, const std::string& sha256, const std::string& bytes,
                                      const std::string& suffix, bool executable) {
    if (!is_sha256_hex(sha256))
        throw std::runtime_error(what + ": sha256 is not 64 lower-case hex digits");
    const std::string actual = sha256_hex(bytes);
    if (actual != sha256) throw std::runtime_error(what + ": bytes hash to " + actual + ", expected " + sha256);

    if (auto why = prepare_dir(); !why.empty()) throw std::runtime_error(why);
    std::error_code ec;
    const fs::path path = fs::path(dir_) / (sha256 + suffix);
    if (fs::exists(path) && file_has(path, sha256)) return path.string();

    // Write beside it and rename: a file is never seen half written, and
    // a file another agent wrote concurrently has the same bytes.
    const fs::path tmp = fs::path(dir_) / (sha256 + suffix + ".tmp" + std::to_string(::getpid()));
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
    }
    auto perms = fs::perms::owner_read | fs::perms::owner_write;
    if (executable) perms |= fs::perms::owner_exec;
    fs::permissions(tmp, perms, ec);
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw std::runtime_error("cannot store " + path.string());
    }
    return path.string();
}

}  // namespace loads::agent
