#include "shop.hpp"

#include <boost/json.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>

namespace demo {
namespace {

namespace json = boost::json;

struct Product {
    const char* sku;
    const char* name;
    std::int64_t cents;
};
constexpr std::array<Product, 5> kCatalogue{{
    {"A1", "Apples", 125},
    {"B2", "Bread", 250},
    {"C3", "Cheese", 775},
    {"D4", "Dates", 400},
    {"E5", "Eggs", 320},
}};
constexpr std::size_t kMaxSessions = 200'000;

const Product* find_product(std::string_view sku) {
    for (const auto& p : kCatalogue)
        if (sku == p.sku) return &p;
    return nullptr;
}

json::object product_json(const Product& p) {
    return json::object{{"sku", p.sku}, {"name", p.name}, {"price", double(p.cents) / 100.0}};
}

struct Session {
    std::string user;
    std::map<std::string, std::int64_t, std::less<>> cart;  // sku -> quantity
};

struct Shop {
    std::mutex mu;
    std::map<std::string, Session, std::less<>> sessions;  // by token
    std::map<std::string, std::uint64_t, std::less<>> logins;
    std::map<std::string, std::uint64_t, std::less<>> views;  // GET /products/SKU by SKU
    std::uint64_t next_token = 1, next_order = 1;
    std::uint64_t login_failures = 0, logouts = 0, product_views = 0, cart_adds = 0, cart_items = 0, orders = 0,
                  order_items = 0;
};
Shop g_shop;

ShopReply reply(unsigned status, const json::value& v) { return ShopReply{status, json::serialize(v) + "\n", {}}; }
ShopReply error(unsigned status, std::string_view why) { return reply(status, json::object{{"error", why}}); }

// The value of cookie `name` in a Cookie header.
std::string_view cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        auto semi = header.find(';');
        std::string_view kv = header.substr(0, semi);
        while (!kv.empty() && kv.front() == ' ') kv.remove_prefix(1);
        if (kv.size() > name.size() && kv.starts_with(name) && kv[name.size()] == '=') return kv.substr(name.size() + 1);
        if (semi == std::string_view::npos) break;
        header.remove_prefix(semi + 1);
    }
    return {};
}

// The request body as a JSON object, or why not.
std::optional<json::object> body_object(std::string_view body, std::string& why) {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec) {
        why = "body is not JSON: " + ec.message();
        return std::nullopt;
    }
    if (!v.is_object()) {
        why = "body is not a JSON object";
        return std::nullopt;
    }
    return std::move(v.as_object());
}

std::int64_t cart_cents(const Session& s) {
    std::int64_t total = 0;
    for (const auto& [sku, qty] : s.cart)
        if (auto* p = find_product(sku)) total += p->cents * qty;
    return total;
}
std::int64_t cart_count(const Session& s) {
    std::int64_t n = 0;
    for (const auto& [sku, qty] : s.cart) n += qty;
    return n;
}

}  // namespace

std::optional<ShopReply> shop_handle(std::string_view method, std::string_view path, std::string_view cookie_header,
                                     std::string_view body) {
    const bool get = method == "GET", post = method == "POST";
    Shop& shop = g_shop;
    std::string why;

    if (path == "/products" && get) {
        std::lock_guard lock(shop.mu);
        ++shop.product_views;
        json::array a;
        for (const auto& p : kCatalogue) a.push_back(product_json(p));
        return reply(200, a);
    }
    if (path.starts_with("/products/") && get) {
        const Product* p = find_product(path.substr(10));
        if (!p) return error(404, "no such product");
        std::lock_guard lock(shop.mu);
        ++shop.product_views;
        ++shop.views[p->sku];
        return reply(200, product_json(*p));
    }
    if (path == "/login" && post) {
        auto o = body_object(body, why);
        if (!o) return error(400, why);
        const auto* user = o->if_contains("user");
        const auto* password = o->if_contains("password");
        if (!user || !user->is_string() || !password || !password->is_string() || user->as_string().empty())
            return error(400, "expected {\"user\": string, \"password\": string}");
        const std::string u(user->as_string());
        std::lock_guard lock(shop.mu);
        if (std::string_view(password->as_string()) != "pw-" + u) {
            ++shop.login_failures;
            return error(401, "bad credentials");
        }
        if (shop.sessions.size() >= kMaxSessions) return error(503, "too many sessions");
        const std::string token = "s" + std::to_string(shop.next_token++);
        shop.sessions[token] = Session{u, {}};
        ++shop.logins[u];
        ShopReply r = reply(200, json::object{{"user", u}, {"token", token}});
        r.set_cookie = "session=" + token + "; Path=/";
        return r;
    }
    const bool session_path = path == "/logout" || path == "/cart" || path == "/checkout";
    if (!session_path || !post) return std::nullopt;

    std::lock_guard lock(shop.mu);
    auto it = shop.sessions.find(cookie_value(cookie_header, "session"));
    if (it == shop.sessions.end()) return error(401, "not logged in");
    Session& s = it->second;
    if (path == "/logout") {
        shop.sessions.erase(it);
        ++shop.logouts;
        return reply(200, json::object{{"ok", true}});
    }
    if (path == "/cart") {
        auto o = body_object(body, why);
        if (!o) return error(400, why);
        const auto* sku = o->if_contains("sku");
        const auto* qty = o->if_contains("qty");
        if (!sku || !sku->is_string() || !qty || !qty->is_int64() || qty->as_int64() < 1 || qty->as_int64() > 100)
            return error(400, "expected {\"sku\": string, \"qty\": 1..100}");
        if (!find_product(sku->as_string())) return error(404, "no such product");
        s.cart[std::string(sku->as_string())] += qty->as_int64();
        ++shop.cart_adds;
        shop.cart_items += static_cast<std::uint64_t>(qty->as_int64());
        return reply(200, json::object{{"items", cart_count(s)}, {"total", double(cart_cents(s)) / 100.0}});
    }
    // /checkout
    if (s.cart.empty()) return error(409, "the cart is empty");
    const auto items = cart_count(s);
    const auto cents = cart_cents(s);
    s.cart.clear();
    ++shop.orders;
    shop.order_items += static_cast<std::uint64_t>(items);
    return reply(200, json::object{{"order", shop.next_order++}, {"items", items}, {"total", double(cents) / 100.0}});
}

std::string shop_stats_json() {
    Shop& shop = g_shop;
    std::lock_guard lock(shop.mu);
    json::object logins;
    for (const auto& [u, n] : shop.logins) logins[u] = n;
    json::object views;
    for (const auto& [sku, n] : shop.views) views[sku] = n;
    json::object o{{"logins", std::move(logins)},       {"views", std::move(views)},       {"login_failures", shop.login_failures},
                   {"logouts", shop.logouts},             {"product_views", shop.product_views},
                   {"cart_adds", shop.cart_adds},         {"cart_items", shop.cart_items},
                   {"orders", shop.orders},               {"order_items", shop.order_items}};
    return json::serialize(o) + "\n";
}

void shop_reset() {
    Shop& shop = g_shop;
    std::lock_guard lock(shop.mu);
    shop.sessions.clear();
    shop.logins.clear();
    shop.views.clear();
    shop.login_failures = shop.logouts = shop.product_views = shop.cart_adds = shop.cart_items = shop.orders =
        shop.order_items = 0;
}

}  // namespace demo
