// Data files (--data): CSV by RFC 4180 and JSON lines, every kind of bad file
// refused with a sentence that names the line.
#include "data_file.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using namespace loads;

namespace {

std::vector<std::string> row_of(const DataSet& d, std::size_t i) {
    std::vector<std::string> out;
    for (std::size_t c = 0; c < d.columns().size(); ++c) out.push_back(d.row(i).at(c));
    return out;
}

std::string error_of(Parsed<DataSet> p) {
    REQUIRE_FALSE(p);
    return p.error;
}

struct TempDir {
    std::filesystem::path dir;
    TempDir() {
        char tmpl[] = "/tmp/loads-data-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        auto p = dir / name;
        std::ofstream(p, std::ios::binary) << text;
        return p.string();
    }
};

}  // namespace

TEST_CASE("csv: header, rows, RFC 4180 quoting") {
    auto p = parse_csv("users", "user,password,note\r\n"
                                "alice,pw1,plain\r\n"
                                "bob,\"p,w\",\"says \"\"hi\"\"\"\r\n"
                                "carol,pw3,\"two\nlines\"\r\n"
                                "dave,,\"\"\n");
    REQUIRE(p);
    const DataSet& d = p.value;
    CHECK(d.name() == "users");
    CHECK(d.columns() == std::vector<std::string>{"user", "password", "note"});
    REQUIRE(d.size() == 4);
    CHECK(row_of(d, 0) == std::vector<std::string>{"alice", "pw1", "plain"});
    CHECK(row_of(d, 1) == std::vector<std::string>{"bob", "p,w", "says \"hi\""});
    CHECK(row_of(d, 2) == std::vector<std::string>{"carol", "pw3", "two\nlines"});
    CHECK(row_of(d, 3) == std::vector<std::string>{"dave", "", ""});
    CHECK(d.row(1)["password"] == "p,w");
    CHECK(d.row(2).index() == 2);
}

TEST_CASE("csv: BOM, LF endings, blank lines, no final newline, trailing empty field") {
    auto p = parse_csv("s", "\xEF\xBB\xBF" "a,b\n\n1,2\n\n3,\n");
    REQUIRE(p);
    CHECK(p.value.columns() == std::vector<std::string>{"a", "b"});
    REQUIRE(p.value.size() == 2);
    CHECK(row_of(p.value, 1) == std::vector<std::string>{"3", ""});
    auto q = parse_csv("s", "a\nx");
    REQUIRE(q);
    CHECK(q.value.size() == 1);
    CHECK(q.value.row(0)["a"] == "x");
}

TEST_CASE("csv: bad files name the line") {
    CHECK(error_of(parse_csv("s", "a,b\n1,2\n3\n")).find("line 3: 1 field, the header has 2") != std::string::npos);
    CHECK(error_of(parse_csv("s", "a,b\n1,2,3\n")).find("line 2: 3 fields") != std::string::npos);
    CHECK(error_of(parse_csv("s", "a,b\n\"1,2\n")).find("line 2: a quoted field is never closed") != std::string::npos);
    CHECK(error_of(parse_csv("s", "a,b\n\"1\"x,2\n")).find("line 2: text after the closing quote") != std::string::npos);
    CHECK(error_of(parse_csv("s", "a,b\n1\"2,3\n")).find("line 2: a quote inside unquoted field 1") != std::string::npos);
    CHECK(error_of(parse_csv("s", "a,a\n1,2\n")).find("column \"a\" appears twice") != std::string::npos);
    CHECK(error_of(parse_csv("s", "a,,c\n1,2,3\n")).find("column 2 has no name") != std::string::npos);
    CHECK(error_of(parse_csv("s", "a,b\n")).find("no rows") != std::string::npos);
    CHECK(error_of(parse_csv("s", "")).find("empty") != std::string::npos);
    CHECK(error_of(parse_csv("s", "\n\n")).find("empty") != std::string::npos);
    // A line count that follows quoted line breaks.
    CHECK(error_of(parse_csv("s", "a,b\n\"x\ny\",1\n1\n")).find("line 4:") != std::string::npos);
}

TEST_CASE("jsonl: one object per line, non-strings as JSON text") {
    auto p = parse_jsonl("items", "{\"sku\": \"A1\", \"price\": 12.5, \"tags\": [\"x\"], \"ok\": true, \"n\": null}\r\n"
                                  "\n"
                                  "{\"n\": 3, \"ok\": false, \"tags\": {}, \"price\": 7, \"sku\": \"B\\\"2\"}\n");
    REQUIRE(p);
    const DataSet& d = p.value;
    CHECK(d.columns() == std::vector<std::string>{"sku", "price", "tags", "ok", "n"});
    REQUIRE(d.size() == 2);
    CHECK(row_of(d, 0) == std::vector<std::string>{"A1", "12.5", "[\"x\"]", "true", ""});
    CHECK(d.row(1)["sku"] == "B\"2");
    CHECK(d.row(1)["price"] == "7");
    CHECK(d.row(1)["n"] == "3");
}

TEST_CASE("jsonl: bad files name the line") {
    CHECK(error_of(parse_jsonl("s", "{\"a\":1}\n{\"a\":\n")).find("line 2: not JSON") != std::string::npos);
    CHECK(error_of(parse_jsonl("s", "[1,2]\n")).find("line 1: expected a JSON object") != std::string::npos);
    CHECK(error_of(parse_jsonl("s", "{\"a\":1,\"b\":2}\n\n{\"a\":1}\n")).find("line 3: no key \"b\"") !=
          std::string::npos);
    CHECK(error_of(parse_jsonl("s", "{\"a\":1}\n{\"a\":1,\"c\":2}\n")).find("line 2: key \"c\" is not in line 1") !=
          std::string::npos);
    CHECK(error_of(parse_jsonl("s", "{}\n")).find("no keys") != std::string::npos);
    CHECK(error_of(parse_jsonl("s", "\n  \n")).find("empty") != std::string::npos);
}

TEST_CASE("rows and columns: out of range is a clear exception") {
    auto p = parse_csv("users", "user,password\nalice,pw\n");
    REQUIRE(p);
    const DataSet& d = p.value;
    CHECK_THROWS_WITH(d.row(1), Catch::Contains("data set \"users\": no row 1 (it has 1)"));
    CHECK_THROWS_WITH(d.row(0)["email"],
                      Catch::Contains("no column \"email\" (its columns: user, password)"));
    CHECK_THROWS_AS(d.row(0).at(2), std::out_of_range);
    CHECK(d.row(0).has("user"));
    CHECK_FALSE(d.row(0).has("email"));
}

TEST_CASE("data sources: names, formats, files") {
    TempDir t;
    const auto good = t.write("u.csv", "user\nalice\n");
    CHECK(check_data_sources({{"users", good}}).empty());
    CHECK(check_data_sources({{"users", t.write("i.jsonl", "{\"a\":1}\n")}}).empty());
    CHECK(check_data_sources({{"users", t.write("i.NDJSON", "{\"a\":1}\n")}}).empty());
    CHECK(check_data_sources({{"users", good}, {"users", good}}).find("\"users\" is given twice") != std::string::npos);
    CHECK(check_data_sources({{"bad name", good}}).find("a data set name is") != std::string::npos);
    CHECK(check_data_sources({{"", good}}).find("a data set name is") != std::string::npos);
    CHECK(check_data_sources({{std::string(65, 'x'), good}}).find("a data set name is") != std::string::npos);
    CHECK(check_data_sources({{"u", (t.dir / "missing.csv").string()}}) ==
          "--data u=" + (t.dir / "missing.csv").string() + ": no such file");
    CHECK(check_data_sources({{"u", t.write("u.txt", "a\n1\n")}}).find("unknown format") != std::string::npos);
    CHECK(check_data_sources({{"u", t.dir.string() + "/"}}).find("not a regular file") != std::string::npos);
    std::filesystem::create_directory(t.dir / "d.csv");
    CHECK(check_data_sources({{"u", (t.dir / "d.csv").string()}}).find("not a regular file") != std::string::npos);
    CHECK(check_data_sources({{"u", t.write("r.csv", "a,b\n1\n")}}).find("r.csv: line 2: 1 field") !=
          std::string::npos);
    std::vector<DataSource> many;
    for (int i = 0; i < 33; ++i) many.push_back({"s" + std::to_string(i), good});
    CHECK(check_data_sources(many).find("33 data sets, at most 32") != std::string::npos);
}

TEST_CASE("data sources: a file above the size limit is refused unread") {
    TempDir t;
    const auto path = (t.dir / "big.csv").string();
    {
        std::ofstream f(path, std::ios::binary);
        f << "a\n1\n";
    }
    std::filesystem::resize_file(path, kMaxDataFileBytes + 1);  // sparse: no 64 MiB written
    CHECK(check_data_sources({{"big", path}}).find("too large") != std::string::npos);
}
