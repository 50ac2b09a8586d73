// What an agent agrees to connect to: loads-agent --allow SPEC (issue 16).
//
// An entry is one of
//   *                     every host and port (the explicit opt-out)
//   10.0.0.5              one IPv4 or IPv6 address (::1)
//   10.0.0.0/24           a CIDR block (::1/128, fd00::/8)
//   shop.example          a host name, as written in the URL or test
// each optionally followed by :PORT or :LOW-HIGH (IPv6 in brackets:
// [::1]:8080, [fd00::/8]:80-89). Without a port, every port is allowed.
//
// The rule for names: a name entry allows connections made *by that name*
// (case-insensitive) to whatever it resolves to at connect time; addresses
// and CIDR blocks allow connections to those addresses whatever name led
// there. An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is checked as the
// IPv4 address it maps. An empty list allows everything (no check: the
// engine's default, as in local runs); loads-agent's default is
// loopback_only().
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loads {

// An IP address as 16 bytes (IPv4 in the first 4).
struct IpAddress {
    std::array<std::uint8_t, 16> bytes{};
    bool v6 = false;

    // Parses "10.0.0.1" or "::1" (no brackets, no scope); false on anything else.
    static bool parse(std::string_view text, IpAddress& out);
    // ::ffff:a.b.c.d becomes a.b.c.d.
    IpAddress unmapped() const;
};

struct AllowEntry {
    enum class Kind { any, net, name };
    Kind kind = Kind::any;
    IpAddress net;              // Kind::net
    unsigned prefix = 0;        // Kind::net: bits that must match
    std::string name;           // Kind::name, lower case, no trailing dot
    std::uint16_t port_low = 1, port_high = 65535;
    std::string text;           // as given, for messages

    bool port_ok(std::uint16_t port) const { return port >= port_low && port <= port_high; }
};

class AllowList {
public:
    // 127.0.0.0/8 and ::1, every port.
    static AllowList loopback_only();

    // Adds one --allow value: entries separated by commas. Returns an error
    // sentence naming the bad entry, or "" (then every entry was added).
    std::string add(std::string_view specs);

    bool empty() const { return entries_.empty(); }
    // True when an entry is "*" with every port: nothing is ever refused.
    bool allows_everything() const;
    const std::vector<AllowEntry>& entries() const { return entries_; }

    // Whether a connection to `host` (as written: a name or an address
    // literal) may go to `address`:`port`. An empty list allows everything.
    bool allows(std::string_view host, const IpAddress& address, std::uint16_t port) const;
    // Whether `host`:`port` is allowed by name alone (a name entry or "*").
    bool allows_name(std::string_view host, std::uint16_t port) const;

    // "127.0.0.0/8, ::1" — the entries as given, for messages.
    std::string describe() const;

private:
    std::vector<AllowEntry> entries_;
};

// Parses one entry (no commas). Returns an error sentence or "".
std::string parse_allow_entry(std::string_view spec, AllowEntry& out);

}  // namespace loads
