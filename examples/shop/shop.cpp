// A realistic test of the demo target's shop (examples/demo_target/shop.cpp),
// written as a new user would: each virtual user logs in with its own row of
// users.csv, browses three times as often as it buys (weighted tasks), fills
// a cart through the JSON API, checks out in a group, and counts what it put
// in carts with a custom counter that must equal the shop's own count.
//
//   build/examples/demo_target/loads-demo-target --http-port 8080 &
//   loads-runner build/examples/shop/libshop.so:Shop --server-url http://127.0.0.1:8080 \
//       --data users=examples/shop/users.csv --data-exhausted stop -u 10 -c 8
//
// Add --agents 3 --broker ... to run it on a cluster: every user still gets a
// row of its own (ids are unique over the run), so each shopper logs in once.
#include <loads/loads.hpp>

#include <string>

class Shop : public loads::TestCase {
public:
    // Once per virtual user: log in as this user's own shopper.
    void on_start() override {
        const loads::DataRow me = user_row("users");
        user_ = me["user"];
        auto r = session().post_json("/login", {{"user", user_}, {"password", me["password"]}});
        check_equal(r.status(), 200, "login of " + user_);
        check_equal(std::string(r.json().at("user").as_string()), user_, "logged-in user");
        check(!session().cookie("session").empty(), "the shop set a session cookie");
        logins_.add();
    }

    // Once per user that logged in (also after a failed hit).
    void on_stop() override {
        if (!session().cookie("session").empty()) session().post("/logout", "");
    }

    // Weight 3: the catalogue, then one product page picked from it.
    void browse() {
        const auto catalogue = session().get("/products").json();
        const auto& products = catalogue.as_array();
        check(!products.empty(), "the catalogue lists products");
        const auto& pick = products[hit_index() % products.size()].at("sku").as_string();
        auto r = session().get("/products/" + std::string(pick));
        check_equal(r.status(), 200, "product page");
        metric_trend("price").add(r.json().at("price").to_number<double>());
    }

    // Weight 1: three items into the cart, then the checkout, timed as one
    // step ("group checkout" in the per-name table).
    void buy() {
        const long qty = std::stol(param("qty", "2"));
        group("checkout", [&] {
            long added = 0;
            for (const char* sku : {"A1", "B2", "C3"}) {
                auto r = session().post_json("/cart", {{"sku", sku}, {"qty", qty}});
                check_equal(r.status(), 200, std::string("add ") + sku + " to the cart");
                added += qty;
                cart_items_.add(double(qty));
            }
            auto order = session().post("/checkout", "");
            check_equal(order.status(), 200, "checkout");
            check_equal(order.json().at("items").as_int64(), std::int64_t(added), "items in the order");
            orders_.add();
            metric_trend("order_total").add(order.json().at("total").to_number<double>());
        });
    }

private:
    std::string user_;
    loads::CounterMetric logins_ = metric_counter("logins");
    loads::CounterMetric cart_items_ = metric_counter("cart_items");
    loads::CounterMetric orders_ = metric_counter("orders");
};

LOADS_TASK(Shop, browse, 3)
LOADS_TASK(Shop, buy, 1)
