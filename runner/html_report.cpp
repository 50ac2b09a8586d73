#include "html_report.hpp"

#include "loads_web_assets.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

namespace loads::runner {
namespace json = boost::json;

namespace {

// JSON inside <script type="application/json">: '<' can only occur inside
// strings, where \u003c means the same, so no "</script>" can end the element.
std::string json_for_script(const json::value& v) {
    std::string s = json::serialize(v), out;
    out.reserve(s.size() + 16);
    for (char c : s) {
        if (c == '<') out += "\\u003c";
        else if (c == '>') out += "\\u003e";
        else if (c == '&') out += "\\u0026";
        else out += c;
    }
    return out;
}

std::string html_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '&': out += "&amp;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

// Script or styles inline: "</script" or "</style" would end the element early.
std::string inline_safe(std::string_view code, std::string_view tag) {
    std::string s(code), needle = "</" + std::string(tag);
    for (std::size_t at = 0; (at = s.find(needle, at)) != std::string::npos; at += 3) s.replace(at, 2, "<\\/");
    return s;
}

void require(const json::object& o, const char* key, json::kind k, const std::string& where, const std::string& what) {
    auto* v = o.if_contains(key);
    auto kind_ok = [&] {
        if (!v) return false;
        if (k == json::kind::double_) return v->is_number();
        if (k == json::kind::uint64) return v->is_uint64() || (v->is_int64() && v->get_int64() >= 0);
        return v->kind() == k;
    };
    if (!kind_ok())
        throw ReportInputError(what + " is not a loads JSON report: " + where + "." + key +
                               (v ? " has the wrong type" : " is missing") +
                               " (make one with --output json --output-file FILE)");
}

std::string now_local() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

}  // namespace

json::object parse_report_json(const std::string& text, const std::string& what) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) throw ReportInputError(what + " is not JSON: " + ec.message());
    if (!v.is_object()) throw ReportInputError(what + " is not a loads JSON report: not a JSON object");
    auto& o = v.as_object();
    require(o, "total", json::kind::object, "report", what);
    require(o, "cycles", json::kind::array, "report", what);
    require(o, "series", json::kind::array, "report", what);
    require(o, "plan", json::kind::object, "report", what);
    require(o, "duration_s", json::kind::double_, "report", what);
    const auto& total = o.at("total").as_object();
    for (const char* k : {"hits", "successes", "failures", "errors"}) require(total, k, json::kind::uint64, "total", what);
    for (const char* k : {"latency", "latency_from_schedule", "names", "errors_by_kind", "messages"})
        require(total, k, json::kind::object, "total", what);
    require(total.at("latency").as_object(), "buckets", json::kind::array, "total.latency", what);
    return std::move(o);
}

json::object read_report_json(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw ReportInputError("cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << f.rdbuf();
    if (ss.str().empty()) throw ReportInputError(path + " is empty, not a loads JSON report");
    return parse_report_json(ss.str(), path);
}

std::string to_html(const json::object& run, const json::object* base, const HtmlOptions& options) {
    std::string test = run.contains("test") && run.at("test").is_string() ? std::string(run.at("test").as_string()) : "";
    json::object meta{{"generator", "loads-runner " LOADS_VERSION},
                      {"generated", now_local()},
                      {"noise_pct", options.noise_pct},
                      {"run_label", options.run_label},
                      {"base_label", options.base_label}};
    std::string out;
    out.reserve(web::uplot_js.size() + 200000);
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"generator\" content=\"loads-runner " LOADS_VERSION "\">\n<title>";
    out += base ? "loads differential report: " : "loads report: ";
    out += html_escape(test);
    out += "</title>\n<style>\n";
    out += inline_safe(web::uplot_css, "style");
    out += "\n</style>\n<style>\n";
    out += inline_safe(web::report_css, "style");
    out += "\n</style>\n</head>\n<body>\n"
           "<noscript><p>This report draws its tables and charts with JavaScript; "
           "its figures are in the JSON below.</p></noscript>\n<main id=\"app\"></main>\n"
           "<script id=\"loads-meta\" type=\"application/json\">";
    out += json_for_script(meta);
    out += "</script>\n<script id=\"loads-run\" type=\"application/json\">";
    out += json_for_script(run);
    out += "</script>\n";
    if (base) {
        out += "<script id=\"loads-base\" type=\"application/json\">";
        out += json_for_script(*base);
        out += "</script>\n";
    }
    out += "<script>\n";
    out += inline_safe(web::uplot_js, "script");
    out += "\n</script>\n<script>\n";
    out += inline_safe(web::report_js, "script");
    out += "\n</script>\n</body>\n</html>\n";
    return out;
}

int report_command(int argc, char** argv) {
    CLI::App app{"loads-runner report: an HTML report from a saved JSON report "
                 "(loads-runner ... --output json --output-file run.json).\n\n"
                 "  loads-runner report run.json -o report.html\n"
                 "  loads-runner report run.json --compare base.json -o diff.html\n",
                 "loads-runner report"};
    std::string input, output, compare;
    double noise = 5;
    app.add_option("json", input, "The JSON report of the run")->required();
    app.add_option("-o,--output", output, "Where to write the HTML report")->required();
    app.add_option("--compare", compare,
                   "A base JSON report: a differential report, per name and per cycle");
    app.add_option("--noise", noise,
                   "Percent: changes smaller than this share of the base are noise (not marked)")
        ->check(CLI::Range(0.0, 1000.0));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e, std::cout, std::cerr);
        return rc == 0 ? 0 : 2;
    }
    std::string html;
    try {
        json::object run = read_report_json(input);
        HtmlOptions o;
        o.noise_pct = noise;
        o.run_label = input;
        if (compare.empty()) {
            html = to_html(run, nullptr, o);
        } else {
            json::object base = read_report_json(compare);
            o.base_label = compare;
            html = to_html(run, &base, o);
        }
    } catch (const ReportInputError& e) {
        std::cerr << "loads-runner report: " << e.what() << "\n";
        return 2;
    }
    std::ofstream f(output, std::ios::binary);
    f << html;
    f.close();
    if (!f) {
        std::cerr << "loads-runner report: cannot write " << output << "\n";
        return 1;
    }
    return 0;
}

}  // namespace loads::runner
