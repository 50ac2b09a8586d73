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

const std::vector<asio::ip::tcp::endpoint>& WorkerIo::resolve(const std::string& host,
                                                              std::uint16_t port) {
    std::string key = host + ":" + std::to_string(port);
    if (auto it = hosts_.find(key); it != hosts_.end()) return it->second;
    std::vector<asio::ip::tcp::endpoint> eps;
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (!ec) {
        eps.emplace_back(addr, port);
    } else {
        // A name: resolved once per worker and cached for the run. Blocking,
        // but once; Asio's async resolver would spin a thread anyway.
        addrinfo hints{};
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_family = AF_UNSPEC;
        addrinfo* res = nullptr;
        int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
        if (rc != 0)
            throw RequestError(ErrorKind::connect, "cannot resolve \"" + host + "\": " + ::gai_strerror(rc));
        for (auto* p = res; p; p = p->ai_next) {
            if (p->ai_family == AF_INET) {
                auto* sa = reinterpret_cast<sockaddr_in*>(p->ai_addr);
                eps.emplace_back(asio::ip::address_v4(ntohl(sa->sin_addr.s_addr)), port);
            } else if (p->ai_family == AF_INET6) {
                auto* sa = reinterpret_cast<sockaddr_in6*>(p->ai_addr);
                asio::ip::address_v6::bytes_type b;
                std::copy(std::begin(sa->sin6_addr.s6_addr), std::end(sa->sin6_addr.s6_addr), b.begin());
                eps.emplace_back(asio::ip::address_v6(b, sa->sin6_scope_id), port);
            }
        }
        ::freeaddrinfo(res);
        if (eps.empty()) throw RequestError(ErrorKind::connect, "\"" + host + "\" has no address");
    }
    return hosts_.emplace(std::move(key), std::move(eps)).first->second;
}

}  // namespace loads
