#include "user_io.hpp"

#include "loads/loads.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>

#include <netdb.h>
#include <sys/socket.h>

namespace loads {

asio::ssl::context& WorkerIo::tls() {
    if (!tls_) {
        tls_ = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        if (options_.insecure) {
            tls_->set_verify_mode(asio::ssl::verify_none);
        } else {
            tls_->set_default_verify_paths();
            tls_->set_verify_mode(asio::ssl::verify_peer);
        }
    }
    return *tls_;
}

void UserIo::throw_in_callback() {
    throw std::logic_error(
        "a WebSocket on_message callback cannot wait (request, sleep, receive, close, connect): "
        "it runs on the socket's reader; send() from it is queued");
}

namespace {

// getaddrinfo for a name; an empty list and rc set when it fails.
std::vector<asio::ip::address> lookup(const std::string& host, int& rc) {
    std::vector<asio::ip::address> out;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0) return out;
    for (auto* p = res; p; p = p->ai_next) {
        if (p->ai_family == AF_INET) {
            auto* sa = reinterpret_cast<sockaddr_in*>(p->ai_addr);
            out.emplace_back(asio::ip::address_v4(ntohl(sa->sin_addr.s_addr)));
        } else if (p->ai_family == AF_INET6) {
            auto* sa = reinterpret_cast<sockaddr_in6*>(p->ai_addr);
            asio::ip::address_v6::bytes_type b;
            std::copy(std::begin(sa->sin6_addr.s6_addr), std::end(sa->sin6_addr.s6_addr), b.begin());
            out.emplace_back(asio::ip::address_v6(b, sa->sin6_scope_id));
        }
    }
    ::freeaddrinfo(res);
    return out;
}

IpAddress to_ip(const asio::ip::address& a) {
    IpAddress ip;
    if (a.is_v4()) {
        auto b = a.to_v4().to_bytes();
        std::copy(b.begin(), b.end(), ip.bytes.begin());
    } else {
        auto b = a.to_v6().to_bytes();
        std::copy(b.begin(), b.end(), ip.bytes.begin());
        ip.v6 = true;
    }
    return ip;
}

}  // namespace

std::vector<IpAddress> resolve_addresses(const std::string& host) {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (!ec) return {to_ip(addr)};
    int rc = 0;
    std::vector<IpAddress> out;
    for (const auto& a : lookup(host, rc)) out.push_back(to_ip(a));
    return out;
}

const std::vector<asio::ip::tcp::endpoint>& WorkerIo::resolve(const std::string& host,
                                                              std::uint16_t port) {
    std::string key = host + ":" + std::to_string(port);
    auto it = hosts_.find(key);
    if (it == hosts_.end()) {
        std::vector<asio::ip::tcp::endpoint> eps;
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(host, ec);
        if (!ec) {
            eps.emplace_back(addr, port);
        } else {
            // A name: resolved once per worker and cached for the run. Blocking,
            // but once; Asio's async resolver would spin a thread anyway.
            int rc = 0;
            auto addrs = lookup(host, rc);
            if (rc != 0)
                throw RequestError(ErrorKind::connect, "cannot resolve \"" + host + "\": " + ::gai_strerror(rc));
            for (const auto& a : addrs) eps.emplace_back(a, port);
            if (eps.empty()) throw RequestError(ErrorKind::connect, "\"" + host + "\" has no address");
        }
        if (allow_) {
            // Only the allowed endpoints are kept: no packet leaves for the others.
            std::erase_if(eps, [&](const asio::ip::tcp::endpoint& ep) {
                return !allow_->allows(host, to_ip(ep.address()), port);
            });
        }
        it = hosts_.emplace(std::move(key), std::move(eps)).first;
    }
    if (it->second.empty())
        throw RequestError(ErrorKind::forbidden, (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                                                     std::to_string(port) + " is outside this agent's --allow (" +
                                                     allow_->describe() + ")");
    return it->second;
}

}  // namespace loads
