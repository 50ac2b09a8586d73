#include "loads/allow.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace loads {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (!out.empty() && out.back() == '.') out.pop_back();
    return out;
}

bool parse_uint(std::string_view s, unsigned long max, unsigned long& out) {
    if (s.empty() || s.size() > 10) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && out <= max;
}

// "8080" or "8000-8999".
std::string parse_ports(std::string_view s, AllowEntry& e) {
    auto dash = s.find('-');
    unsigned long lo = 0, hi = 0;
    if (dash == std::string_view::npos) {
        if (!parse_uint(s, 65535, lo) || lo == 0) return "bad port '" + std::string(s) + "' (expected 1-65535)";
        hi = lo;
    } else {
        if (!parse_uint(s.substr(0, dash), 65535, lo) || lo == 0 || !parse_uint(s.substr(dash + 1), 65535, hi) ||
            hi == 0)
            return "bad port range '" + std::string(s) + "' (expected LOW-HIGH, each 1-65535)";
        if (lo > hi) return "bad port range '" + std::string(s) + "' (LOW is above HIGH)";
    }
    e.port_low = static_cast<std::uint16_t>(lo);
    e.port_high = static_cast<std::uint16_t>(hi);
    return {};
}

bool valid_name(std::string_view n) {
    if (n.empty() || n.size() > 253) return false;
    bool all_numeric = true;
    for (char c : n) {
        const auto u = static_cast<unsigned char>(c);
        if (!(std::isalnum(u) || c == '-' || c == '.' || c == '_')) return false;
        if (!(std::isdigit(u) || c == '.')) all_numeric = false;
    }
    if (n.front() == '.' || n.front() == '-' || n.find("..") != std::string_view::npos) return false;
    return !all_numeric;  // "10.0.0" is a mistyped address, not a name
}

// The host part: "*", an address, a CIDR block or a name.
std::string parse_host(std::string_view h, AllowEntry& e) {
    if (h == "*") {
        e.kind = AllowEntry::Kind::any;
        return {};
    }
    if (auto slash = h.find('/'); slash != std::string_view::npos) {
        e.kind = AllowEntry::Kind::net;
        if (!IpAddress::parse(h.substr(0, slash), e.net))
            return "'" + std::string(h.substr(0, slash)) + "' is not an IP address (a CIDR block is ADDRESS/BITS)";
        unsigned long bits = 0;
        const unsigned max = e.net.v6 ? 128 : 32;
        if (!parse_uint(h.substr(slash + 1), max, bits))
            return "bad prefix length '" + std::string(h.substr(slash + 1)) + "' (expected 0-" +
                   std::to_string(max) + ")";
        e.prefix = static_cast<unsigned>(bits);
        // Host bits are ignored (10.0.0.5/24 is 10.0.0.0/24).
        for (unsigned i = 0; i < 16; ++i) {
            const unsigned keep = e.prefix > i * 8 ? std::min(8u, e.prefix - i * 8) : 0;
            e.net.bytes[i] &= static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
        }
        if (!e.net.v6) return {};
        // An IPv4-mapped block is the IPv4 block it maps.
        IpAddress u = e.net.unmapped();
        if (!u.v6 && e.prefix >= 96) {
            e.net = u;
            e.prefix -= 96;
        }
        return {};
    }
    if (IpAddress::parse(h, e.net)) {
        e.kind = AllowEntry::Kind::net;
        e.net = e.net.unmapped();
        e.prefix = e.net.v6 ? 128 : 32;
        return {};
    }
    if (!valid_name(h))
        return "'" + std::string(h) + "' is neither an IP address, a CIDR block nor a host name";
    e.kind = AllowEntry::Kind::name;
    e.name = lower(h);
    return {};
}

bool in_net(const AllowEntry& e, const IpAddress& a) {
    if (a.v6 != e.net.v6) return false;
    unsigned bits = e.prefix;
    for (unsigned i = 0; i < 16 && bits > 0; ++i) {
        const unsigned n = std::min(8u, bits);
        const auto mask = static_cast<std::uint8_t>(0xff << (8 - n));
        if ((a.bytes[i] & mask) != (e.net.bytes[i] & mask)) return false;
        bits -= n;
    }
    return true;
}

}  // namespace

bool IpAddress::parse(std::string_view text, IpAddress& out) {
    if (text.empty() || text.size() >= 64) return false;
    char buf[64];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = 0;
    IpAddress a;
    if (::inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
        a.v6 = false;
    } else if (::inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
        a.v6 = true;
    } else {
        return false;
    }
    out = a;
    return true;
}

IpAddress IpAddress::unmapped() const {
    if (!v6) return *this;
    for (int i = 0; i < 10; ++i)
        if (bytes[i] != 0) return *this;
    if (bytes[10] != 0xff || bytes[11] != 0xff) return *this;
    IpAddress a;
    a.v6 = false;
    std::copy(bytes.begin() + 12, bytes.end(), a.bytes.begin());
    return a;
}

std::string parse_allow_entry(std::string_view spec, AllowEntry& out) {
    AllowEntry e;
    e.text = std::string(spec);
    const std::string prefix = "--allow '" + e.text + "': ";
    if (spec.empty()) return "--allow: an empty entry (expected HOST, ADDRESS, CIDR or *, with :PORT or :LOW-HIGH)";
    std::string_view host = spec, ports;
    if (spec.front() == '[') {
        auto close = spec.find(']');
        if (close == std::string_view::npos) return prefix + "'[' without ']'";
        host = spec.substr(1, close - 1);
        std::string_view rest = spec.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || rest.size() == 1) return prefix + "expected :PORT after ']'";
            ports = rest.substr(1);
        }
        AllowEntry probe;
        if (!IpAddress::parse(host.substr(0, host.find('/')), probe.net) || !probe.net.v6)
            return prefix + "brackets hold an IPv6 address or block, not '" + std::string(host) + "'";
    } else {
        const auto colons = std::count(spec.begin(), spec.end(), ':');
        if (colons == 1) {
            auto c = spec.find(':');
            host = spec.substr(0, c);
            ports = spec.substr(c + 1);
            if (ports.empty()) return prefix + "expected a port after ':'";
        }
        // Two colons or more: a bare IPv6 address or block, every port.
    }
    if (host.empty()) return prefix + "no host before the port";
    if (auto err = parse_host(host, e); !err.empty()) return prefix + err;
    if (!ports.empty())
        if (auto err = parse_ports(ports, e); !err.empty()) return prefix + err;
    out = std::move(e);
    return {};
}

AllowList AllowList::loopback_only() {
    AllowList l;
    l.add("127.0.0.0/8,::1");
    return l;
}

std::string AllowList::add(std::string_view specs) {
    std::vector<AllowEntry> added;
    std::size_t start = 0;
    for (;;) {
        auto comma = specs.find(',', start);
        std::string_view one = specs.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                                    : comma - start);
        while (!one.empty() && std::isspace(static_cast<unsigned char>(one.front()))) one.remove_prefix(1);
        while (!one.empty() && std::isspace(static_cast<unsigned char>(one.back()))) one.remove_suffix(1);
        AllowEntry e;
        if (auto err = parse_allow_entry(one, e); !err.empty()) return err;
        added.push_back(std::move(e));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    for (auto& e : added) entries_.push_back(std::move(e));
    return {};
}

bool AllowList::allows_everything() const {
    return std::any_of(entries_.begin(), entries_.end(), [](const AllowEntry& e) {
        return e.kind == AllowEntry::Kind::any && e.port_low == 1 && e.port_high == 65535;
    });
}

bool AllowList::allows_name(std::string_view host, std::uint16_t port) const {
    if (entries_.empty()) return true;
    std::string h;
    bool have = false;
    for (const auto& e : entries_) {
        if (!e.port_ok(port)) continue;
        if (e.kind == AllowEntry::Kind::any) return true;
        if (e.kind != AllowEntry::Kind::name) continue;
        if (!have) {
            h = lower(host);
            have = true;
        }
        if (e.name == h) return true;
    }
    return false;
}

bool AllowList::allows(std::string_view host, const IpAddress& address, std::uint16_t port) const {
    if (entries_.empty()) return true;
    if (allows_name(host, port)) return true;
    const IpAddress a = address.unmapped();
    for (const auto& e : entries_)
        if (e.kind == AllowEntry::Kind::net && e.port_ok(port) && in_net(e, a)) return true;
    return false;
}

std::string AllowList::describe() const {
    std::string out;
    for (const auto& e : entries_) {
        if (!out.empty()) out += ", ";
        out += e.text;
    }
    return out;
}

}  // namespace loads
