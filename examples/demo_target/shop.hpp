// The demo target's little shop: a JSON API with logins, a catalogue, carts
// and orders, and counters of everything it did, so a test's figures (hits,
// rows of test data used, custom metrics) can be compared with the server's.
//
//   POST /login       {"user": U, "password": P} -> 200 {"user", "token"} and
//                     Set-Cookie: session=TOKEN, when P is "pw-" + U;
//                     401 {"error"} otherwise (counted as a login failure)
//   POST /logout      ends the session of the cookie
//   GET  /products    [{"sku", "name", "price"}, ...] (a product view)
//   GET  /products/SKU  one of them, or 404
//   POST /cart        {"sku": S, "qty": N} (1..100) with a session ->
//                     200 {"items": in this cart, "total": its price}
//   POST /checkout    with a session and a non-empty cart -> 200 {"order", "items", "total"}
//   GET  /stats/shop  {"logins": {user: count}, "views": {sku: count of
//                     GET /products/SKU}, "login_failures", "logouts",
//                     "product_views", "cart_adds", "cart_items", "orders",
//                     "order_items"}
// No session (or an unknown one) is 401; a bad body is 400 with the reason.
// Thread-safe: one mutex, the shop is not what is being measured.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace demo {

struct ShopReply {
    unsigned status = 200;
    std::string body;        // JSON
    std::string set_cookie;  // "" for none
};

// The reply for a shop request, or nullopt when `path` is not the shop's.
std::optional<ShopReply> shop_handle(std::string_view method, std::string_view path, std::string_view cookie_header,
                                     std::string_view body);

// GET /stats/shop and its reset (with POST /stats/reset).
std::string shop_stats_json();
void shop_reset();

}  // namespace demo
