#include "run_state.hpp"

#include "data_file.hpp"

namespace loads {

Parsed<std::shared_ptr<RunState>> prepare_run(const RunSpec& spec) {
    auto state = std::make_shared<RunState>();
    state->spec = spec;
    auto fail = [](std::string why) { return Parsed<std::shared_ptr<RunState>>{nullptr, std::move(why)}; };

    if (!spec.server_url.empty()) {
        auto base = parse_url(spec.server_url);
        if (!base) return fail("--server-url: " + base.error);
        state->base_url = std::move(base.value);
    }
    if (spec.plan.cycles.empty()) return fail("the plan has no cycles");
    if (auto err = check_data_names(spec.data); !err.empty()) return fail(err);
    for (const auto& source : spec.data) {
        auto set = load_data_file(source);
        if (!set) return fail(set.error);
        state->data.push_back(std::move(set.value));
    }

    const TestSpec& t = spec.test;
    if (t.kind == TestSpec::Kind::library) {
        auto lib = TestLibrary::open(t.library_path);
        if (!lib) return fail(lib.error);
        auto tasks = resolve_tasks(t.test_name, *lib.value);
        if (!tasks) return fail(tasks.error);
        state->library = std::move(lib.value);
        state->tasks = std::move(tasks.value);
        return {std::move(state), {}};
    }

    auto url = parse_url(t.url);
    if (!url) return fail(url.error);
    state->target = std::move(url.value);
    const Url& u = state->target;
    if (u.scheme == "http" || u.scheme == "https") {
        for (auto& [k, v] : t.headers)
            if (k.empty() || k.find_first_of(":\r\n") != std::string::npos ||
                v.find_first_of("\r\n") != std::string::npos)
                return fail("--header: bad header \"" + k + "\"");
        if (t.method.empty() || t.method.find_first_of(" \r\n") != std::string::npos)
            return fail("--method: bad method \"" + t.method + "\"");
        Headers& h = state->headers;
        bool ua = false, accept = false;
        for (auto& [k, v] : t.headers) {
            std::string lower = k;
            for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            ua |= lower == "user-agent";
            accept |= lower == "accept";
            h.emplace_back(k, v);
        }
        if (!ua) h.emplace_back("User-Agent", "loads/0.1");
        if (!accept) h.emplace_back("Accept", "*/*");
        state->get_headers = h;
        if (!t.body.empty() || t.method == "POST" || t.method == "PUT" || t.method == "PATCH")
            h.emplace_back("Content-Length", std::to_string(t.body.size()));
        state->label = t.method + " " + std::string(u.path());
    } else if (u.scheme == "ws" || u.scheme == "wss") {
        state->label = "ws " + std::string(u.path());
    } else {
        state->label = "tcp " + u.host + ":" + std::to_string(u.port);
    }
    return {std::move(state), {}};
}

}  // namespace loads
