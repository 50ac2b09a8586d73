// The HTML report: one self-contained page (inline data, script, styles and
// uPlot; it opens offline) made from a JSON report (docs/report.md), so
// `--report` after a run and `loads-runner report run.json` give the same page.
// With a base report it is a differential report (web/report/report.js).
#pragma once

#include <boost/json/object.hpp>

#include <stdexcept>
#include <string>

namespace loads::runner {

// A JSON report that cannot be read or is not one: the message says which
// file and why. `loads-runner report` exits 2 on it.
struct ReportInputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct HtmlOptions {
    double noise_pct = 5;        // a difference below this share of the base is noise
    std::string run_label;       // shown as where the figures come from ("run.json")
    std::string base_label;
};

// Parses `text` as a loads JSON report and checks the keys the page reads.
// `what` names the input in messages (a file name).
boost::json::object parse_report_json(const std::string& text, const std::string& what);
// Reads and parses the file at `path`.
boost::json::object read_report_json(const std::string& path);

// The page. `base` (may be null): a report to compare `run` with.
std::string to_html(const boost::json::object& run, const boost::json::object* base, const HtmlOptions& options);

// `loads-runner report RUN.json -o report.html [--compare BASE.json] [--noise 5]`;
// argv[0] is "report". Returns the exit code: 0, 1 (output not written), 2 (usage, bad input).
int report_command(int argc, char** argv);

}  // namespace loads::runner
