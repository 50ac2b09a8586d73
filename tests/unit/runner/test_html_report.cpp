// The HTML report's page around the data: what the JSON may hold never ends
// a <script> early, and what is not a loads JSON report is refused with a
// message naming the input.
#include "html_report.hpp"
#include "report.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

using namespace loads;
using namespace loads::runner;

namespace {

std::size_t count(const std::string& s, const std::string& what) {
    std::size_t n = 0;
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

std::string message_of(const std::string& text) {
    try {
        parse_report_json(text, "in.json");
    } catch (const ReportInputError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("the page carries the JSON report and the assets inline, and no data can close a script") {
    Report r;
    r.test = "http://127.0.0.1:1/</script><script>alert(1)</script>";
    auto run = parse_report_json(to_json(r), "the report");
    HtmlOptions o;
    std::string html = to_html(run, nullptr, o);
    // meta, run, uPlot, report.js: four scripts, each closed once.
    CHECK(count(html, "<script") == 4);
    CHECK(count(html, "</script>") == 4);
    CHECK(html.find("alert(1)</script>") == std::string::npos);
    CHECK(html.find("\\u003c/script\\u003e\\u003cscript\\u003ealert(1)") != std::string::npos);
    CHECK(html.find("&lt;/script&gt;") != std::string::npos);  // the title
    CHECK(html.find("id=\"loads-base\"") == std::string::npos);
    CHECK(html.find("uPlot") != std::string::npos);

    std::string diff = to_html(run, &run, o);
    CHECK(count(diff, "</script>") == 5);
    CHECK(diff.find("id=\"loads-base\"") != std::string::npos);
}

TEST_CASE("a file that is not a loads JSON report is refused with a clear message") {
    CHECK(message_of("garbage{") .find("in.json is not JSON") == 0);
    CHECK(message_of("[1]").find("in.json is not a loads JSON report: not a JSON object") == 0);
    CHECK(message_of("{}").find("report.total is missing") != std::string::npos);
    Report r;
    auto good = boost::json::parse(to_json(r)).as_object();
    CHECK(message_of(boost::json::serialize(good)).empty());
    good["total"].as_object()["hits"] = -1;
    CHECK(message_of(boost::json::serialize(good)).find("total.hits has the wrong type") != std::string::npos);
    CHECK_THROWS_AS(read_report_json("/nonexistent/run.json"), ReportInputError);
}
