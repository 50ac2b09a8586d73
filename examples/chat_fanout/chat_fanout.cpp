// The distributed-chat throughput test: `s` WebSockets push `m` messages to
// one node of a chat service, one socket listens on each of the `n` nodes,
// and the hit waits until all m * (s + n) copies have arrived (every member
// of the room gets every message, on every node).
//
//   loads-demo-target --http-port 8081 --no-tcp &                 # node B
//   loads-demo-target --http-port 8080 --no-tcp --peer ws://127.0.0.1:8081 &   # node A
//   loads-runner ./libchat_fanout.so:ChatFanout.test_m1000
//       --server-url ws://127.0.0.1:8080,ws://127.0.0.1:8081   (same line)
//
// --server-url lists the nodes, the first one takes the pushes. Each message
// carries this user's and hit's tag, so concurrent users never count each
// other's traffic. The time to receive everything is recorded as
// "fanout.m=N"; the WebSocket counters give the message rate.
#include <loads/loads.hpp>

#include <string>
#include <vector>

class ChatFanout : public loads::TestCase {
public:
    static constexpr std::size_t kPushers = 3;  // s, as in the seed's sample run

    void on_start() override {
        std::string_view list = server_url();
        while (!list.empty()) {
            auto comma = list.find(',');
            nodes_.emplace_back(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        }
        check(!nodes_.empty(), "--server-url lists the chat nodes: ws://A,ws://B,...");
    }

    void fanout(std::size_t m) {
        std::vector<std::unique_ptr<loads::WebSocket>> pushers, listeners;
        for (std::size_t i = 0; i < kPushers; ++i) pushers.push_back(create_ws(nodes_[0] + "/room"));
        for (const auto& node : nodes_) listeners.push_back(create_ws(node + "/room"));
        // The room is joined once the handshake is done; relays between nodes
        // are up before the nodes print "ready".

        const std::string tag = "u" + std::to_string(user_id()) + "h" + std::to_string(hit_index()) + ":";
        const std::size_t expected = m * (pushers.size() + listeners.size());
        std::size_t received = 0;
        timed("fanout.m=" + std::to_string(m), [&] {
            for (std::size_t i = 0; i < m; ++i)
                pushers[i % pushers.size()]->send(tag + std::to_string(i));
            auto drain = [&](loads::WebSocket& ws) {
                std::size_t mine = 0;
                while (mine < m) {
                    auto msg = ws.receive();
                    if (msg.data.starts_with(tag)) ++mine;  // others' traffic is not ours to count
                }
                received += mine;
            };
            for (auto& ws : pushers) drain(*ws);
            for (auto& ws : listeners) drain(*ws);
        });
        check_equal(received, expected, "messages received");
        for (auto& ws : pushers) ws->close();
        for (auto& ws : listeners) ws->close();
    }

    void test_m10() { fanout(10); }
    void test_m100() { fanout(100); }
    void test_m1000() { fanout(1000); }
    void test_m2000() { fanout(2000); }
    void test_m4000() { fanout(4000); }
    void test_m8000() { fanout(8000); }

private:
    std::vector<std::string> nodes_;
};

LOADS_TEST(ChatFanout, test_m10)
LOADS_TEST(ChatFanout, test_m100)
LOADS_TEST(ChatFanout, test_m1000)
LOADS_TEST(ChatFanout, test_m2000)
LOADS_TEST(ChatFanout, test_m4000)
LOADS_TEST(ChatFanout, test_m8000)
