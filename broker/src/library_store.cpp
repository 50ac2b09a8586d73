#include "library_store.hpp"

namespace loads::broker {

LibraryStore::Bytes LibraryStore::add(proto::Library& lib) {
    if (auto held = find(lib.sha256); held && held->size() == lib.bytes.size()) {
        lib.size = held->size();
        std::string().swap(lib.bytes);
        return held;
    }
    auto bytes = std::make_shared<const std::string>(std::move(lib.bytes));
    lib.bytes.clear();
    lib.size = bytes->size();
    libs_[lib.sha256] = bytes;
    return bytes;
}

LibraryStore::Bytes LibraryStore::find(const std::string& sha256) {
    auto it = libs_.find(sha256);
    if (it == libs_.end()) return nullptr;
    auto held = it->second.lock();
    if (!held) libs_.erase(it);
    return held;
}

std::string_view LibraryStore::slice(const std::string& sha256, std::uint64_t offset, std::uint64_t length,
                                     std::string& error) {
    last_ = find(sha256);
    if (!last_) {
        error = "no library with sha256 " + sha256.substr(0, 64) + " here (no run of yours needs it now)";
        return {};
    }
    if (length == 0 || offset >= last_->size()) {
        error = "bytes " + std::to_string(offset) + "+" + std::to_string(length) + " are outside the library (" +
                std::to_string(last_->size()) + " bytes)";
        return {};
    }
    return std::string_view(*last_).substr(offset, length);
}

std::size_t LibraryStore::size() {
    for (auto it = libs_.begin(); it != libs_.end();) it = it->second.expired() ? libs_.erase(it) : std::next(it);
    return libs_.size();
}

}  // namespace loads::broker
