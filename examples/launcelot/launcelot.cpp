// The FunkLoad chapter's benchmark (Foundations of Python Network
// Programming, ch. 7) as a loads test: each hit opens a TCP connection to the
// Launcelot question/answer server, asks ten questions and checks every
// answer, which ends with '.'.
//
//   loads-demo-target --tcp-port 1060 &
//   loads-runner ./liblauncelot.so:TestLauncelot.test_dialog
//       --server-url tcp://127.0.0.1:1060 --config launcelot.ini   (same line)
//
// launcelot.ini holds the seed's bench: cycles 1:2:3:5:7:10:13:16:20, each
// held 8 s, 0.1 s between user starts, 0.01 s between hits.
#include <loads/loads.hpp>

#include <array>
#include <string>
#include <utility>

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kQa{{
    {"What is your name?", "My name is Sir Launcelot of Camelot."},
    {"What is your quest?", "To seek the Holy Grail."},
    {"What is your favorite color?", "Blue."},
}};

}  // namespace

class TestLauncelot : public loads::TestCase {
public:
    void on_start() override {
        // --server-url tcp://HOST:PORT (the FunkLoad test read LAUNCELOT_SERVER).
        std::string_view url = server_url();
        if (url.starts_with("tcp://")) url.remove_prefix(6);
        auto colon = url.rfind(':');
        check(colon != std::string_view::npos, "--server-url must be tcp://HOST:PORT");
        host_ = std::string(url.substr(0, colon));
        port_ = static_cast<unsigned>(std::stoul(std::string(url.substr(colon + 1))));
    }

    void test_dialog() {
        auto sock = tcp_connect(host_, port_);
        for (std::size_t i = 0; i < 10; ++i) {
            const auto& [question, answer] = kQa[i % kQa.size()];
            timed("launcelot.question", [&] {
                sock->send(question);
                check_equal(sock->recv_until("."), std::string(answer), "answer");
            });
        }
        sock->close();
    }

private:
    std::string host_;
    unsigned port_ = 1060;
};

LOADS_TEST(TestLauncelot, test_dialog)
