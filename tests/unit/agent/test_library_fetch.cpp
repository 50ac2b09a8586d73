// Pulling a library in slices: chunks outside what was asked, of the wrong
// size or of another library are refused; a result of the wrong size or
// hash is refused at the end; a right one lands as <dir>/<sha256>.so.
#include "library_fetch.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace loads;
using loads::agent::LibraryFetch;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
    auto d = fs::temp_directory_path() / ("loads-fetch-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::string sha_of(const std::string& bytes) {
    const auto d = fresh_dir("sha");
    std::ofstream(d / "f", std::ios::binary) << bytes;
    auto h = agent::sha256_file((d / "f").string());
    fs::remove_all(d);
    return h;
}

// Answers every request from `bytes`, as the broker would.
std::string serve_all(LibraryFetch& f, const std::string& bytes) {
    for (auto reqs = f.requests(); !reqs.empty(); reqs = f.requests())
        for (const auto& r : reqs) {
            auto e = f.on_chunk(proto::Chunk{r.sha256, r.offset, bytes.substr(r.offset, r.length)});
            if (!e.empty()) return e;
        }
    return {};
}

}  // namespace

TEST_CASE("a library fetched in slices lands whole, checked") {
    const auto dir = fresh_dir("ok");
    std::string bytes(LibraryFetch::kChunk * 5 + 123, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
    LibraryFetch f(dir.string(), proto::Library{"l.so", sha_of(bytes), "", bytes.size()});
    auto first = f.requests();
    REQUIRE(first.size() == LibraryFetch::kWindow);  // a few outstanding, not all at once
    CHECK(first[1].offset == LibraryFetch::kChunk);
    CHECK(f.requests().empty());  // the window is full
    for (const auto& r : first) REQUIRE(f.on_chunk({r.sha256, r.offset, bytes.substr(r.offset, r.length)}).empty());
    REQUIRE(serve_all(f, bytes).empty());
    REQUIRE(f.complete());
    const auto path = f.finish();
    CHECK(path == (dir / (sha_of(bytes) + ".so")).string());
    std::ifstream in(path, std::ios::binary);
    std::stringstream got;
    got << in.rdbuf();
    CHECK(got.str() == bytes);
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // no partial file left
    fs::remove_all(dir);
}

TEST_CASE("chunks not asked for, of the wrong size or of another library are refused") {
    const auto dir = fresh_dir("bad");
    const std::string bytes(3 * LibraryFetch::kChunk, 'x');
    LibraryFetch f(dir.string(), proto::Library{"l.so", sha_of(bytes), "", bytes.size()});
    auto reqs = f.requests();
    REQUIRE(reqs.size() == 3);
    // Outside the library, or not an offset asked for.
    CHECK(f.on_chunk({reqs[0].sha256, bytes.size(), "x"}).find("not asked for") != std::string::npos);
    CHECK(f.on_chunk({reqs[0].sha256, 5, "x"}).find("not asked for") != std::string::npos);
    // Fewer bytes than asked.
    CHECK(f.on_chunk({reqs[0].sha256, 0, "short"}).find("asked for 1048576") != std::string::npos);
    // Another library.
    CHECK(f.on_chunk({std::string(64, 'f'), 0, bytes.substr(0, LibraryFetch::kChunk)}).find("another library") !=
          std::string::npos);
    // Twice the same slice: the second is not asked for any more.
    REQUIRE(f.on_chunk({reqs[0].sha256, 0, bytes.substr(0, LibraryFetch::kChunk)}).empty());
    CHECK(f.on_chunk({reqs[0].sha256, 0, bytes.substr(0, LibraryFetch::kChunk)}).find("not asked for") !=
          std::string::npos);
    CHECK_FALSE(f.complete());
    fs::remove_all(dir);
}

TEST_CASE("a result of the wrong hash is refused and leaves nothing behind") {
    const auto dir = fresh_dir("hash");
    const std::string bytes(LibraryFetch::kChunk + 10, 'a');
    std::string other = bytes;
    other[7] = 'b';
    {
        LibraryFetch f(dir.string(), proto::Library{"l.so", sha_of(bytes), "", bytes.size()});
        REQUIRE(serve_all(f, other).empty());
        REQUIRE(f.complete());
        try {
            f.finish();
            FAIL("a wrong hash was taken");
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()).find("hash to") != std::string::npos);
        }
    }
    CHECK(fs::is_empty(dir));
    // A wrong size never completes; an empty library or a bad hash is refused at once.
    CHECK_THROWS(LibraryFetch(dir.string(), proto::Library{"l.so", sha_of(bytes), "", 0}));
    CHECK_THROWS(LibraryFetch(dir.string(), proto::Library{"l.so", "not-hex", "", 10}));
    fs::remove_all(dir);
}
