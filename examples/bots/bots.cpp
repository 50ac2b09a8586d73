// Game bots, as testtoolkit ran them: hundreds of users in one thread, each
// holding its own socket to the server, talking to each other.
//
//   loads-demo-target --http-port 8080 --no-tcp &
//   loads-runner ./libbots.so:Bots.test_play --server-url ws://127.0.0.1:8080 -u 300 -c 20
//
// Users pair up (0 with 1, 2 with 3, ...; run an even number of users). Each
// hit a bot sends a move on its own WebSocket and checks the echo, then
// leaves a note for its partner in the shared space and waits for the
// partner's note: waiting suspends only this bot, never the thread.
#include <loads/loads.hpp>

#include <string>

class Bots : public loads::TestCase {
public:
    void on_start() override { ws_ = create_ws(server_url() + "/ws"); }
    void on_stop() override {
        if (ws_) ws_->close();
    }

    void test_play() {
        const std::string me = std::to_string(user_id());
        const std::string partner = std::to_string(user_id() ^ 1u);
        const std::string move = "bot " + me + " move " + std::to_string(hit_index());

        timed("bot.move", [&] {
            ws_->send(move);
            check_equal(ws_->receive().data, move, "echoed move");
        });

        shared().push("to " + partner, "from " + me + " hit " + std::to_string(hit_index()));
        auto note = timed("bot.meet", [&] { return shared().pop("to " + me, loads::Seconds(10)); });
        check(note.has_value(), "partner " + partner + " answered within 10 s");
        check_equal(*note, "from " + partner + " hit " + std::to_string(hit_index()), "partner's note");
    }

private:
    std::unique_ptr<loads::WebSocket> ws_;
};

LOADS_TEST(Bots, test_play)
