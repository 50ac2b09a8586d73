#include "authenticator.hpp"

#include "loads/log.hpp"
#include "loads/proto/curve.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

namespace loads::broker {
namespace {

auto log() {
    static auto l = get_logger("auth");
    return l;
}

std::int64_t mtime_ns(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return -1;
    return std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string z85(const void* key32) {
    char out[41] = {};
    zmq_z85_encode(out, static_cast<const std::uint8_t*>(key32), 32);
    return out;
}

}  // namespace

Authenticator::Authenticator(zmq::context_t& ctx, AllowDirs dirs) : zap_(ctx, zmq::socket_type::rep) {
    zap_.set(zmq::sockopt::linger, 0);
    zap_.bind("inproc://zeromq.zap.01");
    auto add = [&](const char* socket, std::vector<std::string> ds) {
        Domain d;
        for (auto& x : ds)
            if (!x.empty()) d.dirs.push_back(x);
        d.count.socket = socket;
        domains_.emplace(socket, std::move(d));
    };
    add("frontend", {dirs.runners});
    add("backend", {dirs.agents});
    add("publisher", {dirs.subscribers, dirs.runners});
    for (auto& [name, d] : domains_) {
        for (const auto& dir : d.dirs)
            if (!std::filesystem::is_directory(dir))
                throw std::runtime_error("allowed keys of the " + name + ": " + dir + " is not a directory");
        load(d, true);
        if (d.keys.empty())
            log()->warn("no allowed keys for the {} yet: every peer will be refused there until .pub files are added "
                        "({})",
                        name, d.dirs.empty() ? std::string("no directory given") : d.dirs.front());
    }
}

void Authenticator::load(Domain& d, bool force) {
    bool changed = force;
    for (const auto& dir : d.dirs) changed |= mtime_ns(dir) != dir_mtime_[dir];
    if (!changed) return;
    std::map<std::string, std::string> keys;
    for (const auto& dir : d.dirs) {
        dir_mtime_[dir] = mtime_ns(dir);
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
            if (e.path().extension() != ".pub") continue;
            const std::string name = e.path().stem().string();
            try {
                if (auto why = proto::check_key_name(name); !why.empty()) throw std::runtime_error(why);
                keys.emplace(proto::read_public_key(e.path().string()), name);
            } catch (const std::exception& ex) {
                log()->warn("{}: skipped: {}", e.path().string(), ex.what());
            }
        }
        if (ec) log()->error("cannot read the allowed keys in {}: {}", dir, ec.message());
    }
    if (keys != d.keys) {
        std::string names;
        for (const auto& [k, n] : keys) names += (names.empty() ? "" : ", ") + n;
        log()->info("{}: {} allowed key{}{}{}", d.count.socket, keys.size(), keys.size() == 1 ? "" : "s",
                    keys.empty() ? "" : ": ", names);
        d.keys = std::move(keys);
    }
}

void Authenticator::reload(bool force) {
    for (auto& [name, d] : domains_) load(d, force);
}

bool Authenticator::handle() {
    std::vector<zmq::message_t> frames;
    for (;;) {
        zmq::message_t m;
        try {
            if (!zap_.recv(m, frames.empty() ? zmq::recv_flags::dontwait : zmq::recv_flags::none)) return false;
        } catch (const zmq::error_t&) {
            return false;
        }
        const bool more = m.more();
        frames.push_back(std::move(m));
        if (!more) break;
    }
    // version, request id, domain, address, routing id, mechanism, credentials...
    auto text = [&](std::size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
    std::string status = "400", why = "not allowed";
    std::string user;
    const std::string domain = text(2), address = text(3), mechanism = text(5);
    auto d = domains_.find(domain);
    if (frames.size() < 6 || text(0) != "1.0") {
        why = "malformed ZAP request";
    } else if (d == domains_.end()) {
        why = "unknown domain";
    } else if (mechanism != "CURVE" || frames.size() < 7 || frames[6].size() != 32) {
        why = "CURVE required";
    } else {
        const std::string key = z85(frames[6].data());
        if (auto k = d->second.keys.find(key); k != d->second.keys.end()) {
            status = "200";
            why = "OK";
            user = k->second;
            ++d->second.count.allowed;
        } else {
            ++d->second.count.refused;
            // Once per address and key: a peer retrying every second is one line.
            if (logged_.size() < 10000 && logged_.insert(domain + " " + address + " " + key).second)
                log()->warn("{}: refused a peer at {} with key {} (not among the allowed keys)", domain, address, key);
        }
    }
    const std::string reply[] = {"1.0", text(1), status, why, user, ""};
    for (std::size_t i = 0; i < 6; ++i)
        zap_.send(zmq::buffer(reply[i]), i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
    return true;
}

std::vector<proto::AuthCount> Authenticator::counts() const {
    std::vector<proto::AuthCount> out;
    for (const auto& [name, d] : domains_) {
        proto::AuthCount c = d.count;
        c.keys = static_cast<std::uint32_t>(d.keys.size());
        out.push_back(c);
    }
    return out;
}

}  // namespace loads::broker
