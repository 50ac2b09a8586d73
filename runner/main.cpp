// loads-runner: parses the command line, runs the load locally or on a
// cluster, prints the report and leaves with an exit code CI can trust:
// 0 every hit succeeded (or every --threshold passed), 1 failures or errors
// (or a run that cannot be judged), 2 usage error, 3 a threshold failed.
#include "cluster_run.hpp"
#include "html_report.hpp"
#include "interrupts.hpp"
#include "local_run.hpp"
#include "options.hpp"
#include "report.hpp"

#include "loads/log.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <string_view>

using namespace loads;
using namespace loads::runner;

int main(int argc, char** argv) {
    // `loads-runner report run.json -o report.html`: no run, a page from a
    // saved JSON report (a TEST is a URL or a .so, never "report").
    if (argc > 1 && std::string_view(argv[1]) == "report") return report_command(argc - 1, argv + 1);
    auto parsed = parse(argc, argv);
    if (!parsed.options) return parsed.exit_code;
    Options& o = *parsed.options;
    setup_logging(o.log_level);

    if (o.list_tests) {
        auto tests = Engine::list_tests(o.spec.test.library_path);
        if (!tests) {
            std::cerr << "loads-runner: " << tests.error << "\n";
            return 2;
        }
        for (auto& t : tests.value) std::cout << t << "\n";
        return 0;
    }
    if (o.ping_broker || o.check_cluster) return cluster_status(o);

    // A broken test (bad URL, missing library, unknown test) is a usage
    // error, found before any thread starts.
    if (auto err = Engine::check(o.spec.test); !err.empty()) {
        std::cerr << "loads-runner: " << err << "\n";
        return 2;
    }
    // Weighted tasks: their think times replace --sleep, which the open
    // model has no use for.
    std::vector<TaskInfo> tasks;
    if (o.spec.test.kind == TestSpec::Kind::library) {
        auto t = Engine::tasks(o.spec.test);
        if (t) tasks = std::move(t.value);
        for (const auto& task : tasks)
            if (task.think && o.spec.plan.open()) {
                std::cerr << "loads-runner: task \"" << task.name
                          << "\": a think time (@...) goes with the closed model (-u), as --sleep does; "
                             "with --rate the schedule sets the pace\n";
                return 2;
            }
    }
    // So is a bad data file: missing, unparsable, ragged, too large.
    if (auto err = Engine::check_data(o.spec.data); !err.empty()) {
        std::cerr << "loads-runner: " << err << "\n";
        return 2;
    }
    // URL mode knows its request names in advance: a threshold naming
    // another one could never be measured.
    if (o.spec.test.kind == TestSpec::Kind::url) {
        auto names = Engine::request_names(o.spec.test);
        for (const auto& t : o.thresholds) {
            if (!t.name || std::find(names.begin(), names.end(), *t.name) != names.end()) continue;
            std::string known;
            for (auto& n : names) known += (known.empty() ? "\"" : ", \"") + n + "\"";
            std::cerr << "loads-runner: --threshold \"" << t.expression << "\": no request of this run is named \""
                      << *t.name << "\" (this URL's requests are named " << known << ")\n";
            return 2;
        }
    }
    if (o.abort_on_fail &&
        std::none_of(o.thresholds.begin(), o.thresholds.end(), [](const Threshold& t) { return can_fail_early(t); }))
        std::cerr << "loads-runner: note: --abort-on-fail: none of these thresholds can fail before the end "
                     "(only counts, max and min latencies can); they are judged when the run is over\n";

    Interrupts interrupts;
    Report report;
    try {
        report = o.agents ? run_cluster(o, interrupts) : run_local(o, interrupts);
    } catch (const UsageError& e) {
        std::cerr << "loads-runner: " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "loads-runner: " << e.what() << "\n";
        return 1;
    }
    report.test = argc > 1 ? o.test_argument : "";
    report.spec = o.spec;
    report.threads = o.threads;
    report.agents = o.agents;
    report.thresholds = o.thresholds;
    report.tasks = std::move(tasks);

    bool json = o.output == OutputFormat::json;
    if (!o.output_file.empty()) {
        std::ofstream f(o.output_file);
        if (json) f << to_json(report);
        else print_summary(f, report);
        if (!f) {
            std::cerr << "loads-runner: cannot write " << o.output_file << "\n";
            return 1;
        }
        if (json) print_summary(std::cout, report);
    } else if (json) {
        std::cout << to_json(report);
    } else {
        print_summary(std::cout, report);
    }
    if (!o.report_file.empty()) {
        // The page is made from the JSON report itself, as `loads-runner report` does.
        HtmlOptions ho;
        ho.run_label = "this run";
        std::ofstream f(o.report_file, std::ios::binary);
        f << to_html(parse_report_json(to_json(report), "the report"), nullptr, ho);
        f.close();
        if (!f) {
            std::cerr << "loads-runner: cannot write " << o.report_file << "\n";
            return 1;
        }
    }
    return exit_code(report);
}
