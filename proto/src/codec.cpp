// The msgpack codec of docs/protocol.md. Every map is written and read by
// walking its field list (fields.hpp): maps with string keys (readable from
// any language) on the way out; on the way in every type and range is
// checked, and anything unexpected is a ProtoError, never a crash.
#include "loads/proto/messages.hpp"

#include "fields.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace loads::proto {

namespace {

using namespace codec;

// ------------------------------------------------------------ writing

struct Writer {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk{buf};

    void map(std::size_t n) { pk.pack_map(static_cast<std::uint32_t>(n)); }
    void array(std::size_t n) { pk.pack_array(static_cast<std::uint32_t>(n)); }
    void str(std::string_view s) {
        pk.pack_str(static_cast<std::uint32_t>(s.size()));
        pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    }
    void bin(std::string_view s) {
        pk.pack_bin(static_cast<std::uint32_t>(s.size()));
        pk.pack_bin_body(s.data(), static_cast<std::uint32_t>(s.size()));
    }
    void u64(std::uint64_t v) { pk.pack_uint64(v); }
    void i64(std::int64_t v) { pk.pack_int64(v); }
    void f64(double v) { pk.pack_double(v); }
    void boolean(bool b) { b ? pk.pack_true() : pk.pack_false(); }
    void nil() { pk.pack_nil(); }
    std::string bytes() const { return std::string(buf.data(), buf.size()); }
};

// ------------------------------------------------------------ reading

[[noreturn]] void bad(const std::string& what) { throw ProtoError(ErrorKind::malformed, what); }

class Value {
public:
    Value(const msgpack::object& o, std::string path) : o_(o), path_(std::move(path)) {}

    const std::string& path() const { return path_; }
    bool is_nil() const { return o_.type == msgpack::type::NIL; }

    std::uint64_t u64() const {
        if (o_.type != msgpack::type::POSITIVE_INTEGER) bad(path_ + ": expected a non-negative integer");
        return o_.via.u64;
    }
    std::uint32_t u32() const {
        auto v = u64();
        if (v > UINT32_MAX) bad(path_ + ": value out of range");
        return static_cast<std::uint32_t>(v);
    }
    std::int64_t i64() const {
        if (o_.type == msgpack::type::NEGATIVE_INTEGER) return o_.via.i64;
        if (o_.type == msgpack::type::POSITIVE_INTEGER && o_.via.u64 <= INT64_MAX)
            return static_cast<std::int64_t>(o_.via.u64);
        bad(path_ + ": expected an integer");
    }
    double f64() const {
        double d = 0;
        if (o_.type == msgpack::type::FLOAT32 || o_.type == msgpack::type::FLOAT64) d = o_.via.f64;
        else if (o_.type == msgpack::type::POSITIVE_INTEGER) d = static_cast<double>(o_.via.u64);
        else if (o_.type == msgpack::type::NEGATIVE_INTEGER) d = static_cast<double>(o_.via.i64);
        else bad(path_ + ": expected a number");
        if (!std::isfinite(d)) bad(path_ + ": not a finite number");
        return d;
    }
    Duration dur() const {
        auto v = i64();
        if (v < 0) bad(path_ + ": negative duration");
        if (Duration(v) > kMaxWireDuration) bad(path_ + ": above 366 days");
        return Duration(v);
    }
    bool boolean() const {
        if (o_.type != msgpack::type::BOOLEAN) bad(path_ + ": expected a boolean");
        return o_.via.boolean;
    }
    std::string str() const {
        if (o_.type != msgpack::type::STR) bad(path_ + ": expected a string");
        return std::string(o_.via.str.ptr, o_.via.str.size);
    }
    // Bytes: bin, or str from writers that cannot make bin.
    std::string bytes() const {
        if (o_.type == msgpack::type::BIN) return std::string(o_.via.bin.ptr, o_.via.bin.size);
        if (o_.type == msgpack::type::STR) return std::string(o_.via.str.ptr, o_.via.str.size);
        bad(path_ + ": expected bytes");
    }
    std::size_t size() const { return array().size; }
    Value operator[](std::size_t i) const {
        const auto& a = array();
        if (i >= a.size) bad(path_ + ": array too short");
        return Value(a.ptr[i], path_ + "[" + std::to_string(i) + "]");
    }
    const msgpack::object_array& array() const {
        if (o_.type != msgpack::type::ARRAY) bad(path_ + ": expected an array");
        return o_.via.array;
    }
    const msgpack::object_map& map() const {
        if (o_.type != msgpack::type::MAP) bad(path_ + ": expected a map");
        return o_.via.map;
    }
    // Map access by string key.
    std::optional<Value> find(std::string_view key) const {
        const auto& m = map();
        for (std::uint32_t i = 0; i < m.size; ++i) {
            const auto& k = m.ptr[i].key;
            if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key)
                return Value(m.ptr[i].val, path_ + "." + std::string(key));
        }
        return std::nullopt;
    }
    Value operator()(std::string_view key) const {
        auto v = find(key);
        if (!v) bad(path_ + ": missing field '" + std::string(key) + "'");
        return *v;
    }
    // Iterates a map with string keys.
    template <class F>
    void each(F&& f) const {
        const auto& m = map();
        for (std::uint32_t i = 0; i < m.size; ++i) {
            Value k(m.ptr[i].key, path_ + ".<key>");
            f(k, Value(m.ptr[i].val, path_ + "[" + std::to_string(i) + "]"));
        }
    }

private:
    const msgpack::object& o_;
    std::string path_;
};

// ------------------------------------------------------------ checks
// What a struct's fields must hold together, once they are read (v is its
// map). Most have nothing to check.

template <class T>
void check(const Value&, T&) {}

void check(const Value& v, AgentInfo& a) {
    if (a.id.empty() || a.id.size() > 255) bad(v.path() + ".id: must be 1 to 255 bytes");
}

void check(const Value& v, Library& l) {
    if (!v.find("size")) {
        l.size = l.bytes.size();
        return;
    }
    if (!l.bytes.empty() && l.size != l.bytes.size())
        bad(v.path() + ".size: " + std::to_string(l.size) + " but " + std::to_string(l.bytes.size()) + " bytes");
    if (l.size > kMaxLibrarySize) bad(v.path() + ".size: above " + std::to_string(kMaxLibrarySize));
}

void check(const Value& v, DataFile& d) {
    if (d.name.empty() || d.name.size() > 64) bad(v.path() + ".name: must be 1 to 64 bytes");
}

void check(const Value& v, Plan& p) {
    if (p.cycles.empty()) bad(v.path() + ".cycles: a plan needs at least one cycle");
    for (std::size_t i = 0; i < p.cycles.size(); ++i) {
        const Cycle& c = p.cycles[i];
        const std::string at = v.path() + ".cycles[" + std::to_string(i) + "]";
        if (p.open()) {
            if (!c.duration || *c.duration <= Duration::zero()) bad(at + ": an open cycle needs a duration");
            if (!(c.rate > 0) || c.rate > 1e8) bad(at + ": rate out of range (0, 1e8]");
        } else if (c.users == 0 || c.users > 1'000'000) {
            bad(at + ": users out of range");
        }
    }
    if (p.arrival_window > std::chrono::milliseconds(100)) bad(v.path() + ".arrival_window_ns: above 100 ms");
    if (p.open() && p.max_users == 0) bad(v.path() + ".max_users: at least 1 in the open model");
    if (p.sleep.max < p.sleep.min) bad(v.path() + ": sleep max below min");
}

void check(const Value& v, ClientOptions& c) {
    if (c.streams < 1 || c.streams > 1000) bad(v.path() + ".streams: 1 to 1000");
}

void check(const Value& v, RunSpec& s) {
    if (s.interval < std::chrono::milliseconds(10)) bad(v.path() + ".interval_ns: below 10 ms");
    if (s.interval > kMaxInterval) bad(v.path() + ".interval_ns: above 1 hour");
    if (s.agent_count == 0 || s.agent_index >= s.agent_count)
        bad(v.path() + ": agent_index must be below agent_count (at least 1)");
    if (s.plan.open() && s.plan.max_users < s.agent_count) bad(v.path() + ".plan.max_users: below agent_count");
}

// One custom metric of a stats map, as docs/protocol.md says.
void check(const Value& v, MetricStats& m) {
    if (m.count == 0) bad(v.path() + ": count is 0 (a metric is sent once it has a value)");
    if (m.nonzero > m.count) bad(v.path() + ": nonzero > count");
    if (m.min > m.max) bad(v.path() + ": min > max");
    if (m.kind != MetricKind::trend && m.values) bad(v.path() + ".values: only a trend has values");
    if (m.kind == MetricKind::trend && !m.values) bad(v.path() + ".values: a trend has values");
    if (m.values && m.values->count() != m.count) bad(v.path() + ".values: count differs from the metric's");
}

void check(const Value& v, RunState& s) {
    if (s.run.empty() || s.run.size() > 255) bad(v.path() + ".run: must be 1 to 255 bytes");
    if (s.spec.agent_count > 100'000) bad(v.path() + ".spec: agent_index must be below agent_count (1 to 100000)");
}

void check(const Value& v, Result& r) {
    if (r.first_seq > r.seq) bad(v.path() + ".first_seq: above seq");
}

void check(const Value& v, Fetch& f) {
    if (f.length == 0 || f.length > kMaxChunk)
        bad(v.path() + ".length: " + std::to_string(f.length) + " is not 1 to " + std::to_string(kMaxChunk));
    if (f.offset > kMaxLibrarySize) bad(v.path() + ".offset: above " + std::to_string(kMaxLibrarySize));
}

void check(const Value& v, Chunk& c) {
    if (c.data.size() > kMaxChunk) bad(v.path() + ".data: above " + std::to_string(kMaxChunk) + " bytes");
}

void check(const Value& v, Submit& s) {
    if (s.agents == 0 || s.agents > 100'000) bad(v.path() + ".agents: out of range");
}

void check(const Value& v, SnapshotAgent& a) {
    if (a.id.empty() || a.id.size() > 255) bad(v.path() + ".id: must be 1 to 255 bytes");
    if (a.state.size() > 255) bad(v.path() + ".state: above 255 bytes");
}

// ------------------------------------------------------------ values
// put writes a value, take reads one: by its type (Plain), or by the codec
// its field names (fields.hpp).

template <class T>
constexpr bool is_pair = false;
template <class A, class B>
constexpr bool is_pair<std::pair<A, B>> = true;

template <class T>
void put(Writer& w, const T& x, Plain = {});
template <class T>
void take(const Value& v, T& x, Plain = {});
template <class T, class F>
void put_map(Writer& w, const T& x, F list);
template <class T, class F>
void take_map(const Value& v, T& x, F list);

void put(Writer& w, const std::string& s, Bin) { w.bin(s); }
void take(const Value& v, std::string& s, Bin) { s = v.bytes(); }

template <class E, std::size_t N>
void put(Writer& w, const E& x, const Names<E, N>& n) {
    auto it = std::find_if(n.names.begin(), n.names.end(), [&](const auto& e) { return e.first == x; });
    w.str(it != n.names.end() ? it->second : n.names[0].second);
}
template <class E, std::size_t N>
void take(const Value& v, E& x, const Names<E, N>& n) {
    const std::string s = v.str();
    std::string all;  // "\"url\" or \"library\""
    for (std::size_t i = 0; i < N; ++i) {
        if (n.names[i].second == s) return void(x = n.names[i].first);
        all += (i == 0 ? "\"" : i + 1 < N ? ", \"" : " or \"") + std::string(n.names[i].second) + "\"";
    }
    bad(v.path() + ": expected " + all);
}

void put(Writer& w, std::uint64_t size, SizeOf s) { w.u64(s.bytes.empty() ? size : s.bytes.size()); }
void take(const Value& v, std::uint64_t& size, SizeOf) { size = v.u64(); }

template <class T>
void put(Writer& w, const std::vector<T>& x, AtMost) {
    put(w, x);
}
template <class T>
void take(const Value& v, std::vector<T>& x, AtMost most) {
    if (v.size() > most.n) bad(v.path() + ": more than " + std::to_string(most.n) + " " + std::string(most.what));
    take(v, x);
}

template <class T, class F>
void put(Writer& w, const std::vector<T>& x, const Each<F>& each) {
    w.array(x.size());
    for (const auto& e : x) put_map(w, e, each.list);
}
template <class T, class F>
void take(const Value& v, std::vector<T>& x, const Each<F>& each) {
    for (std::size_t i = 0; i < v.size(); ++i) take_map(v[i], x.emplace_back(), each.list);
}

void put(Writer& w, const Params& params, ParamMap) {
    w.map(params.size());
    for (const auto& [k, v] : params) {
        w.str(k);
        w.str(v);
    }
}
void take(const Value& v, Params& params, ParamMap) {
    if (v.map().size > kMaxParams) bad(v.path() + ": more than " + std::to_string(kMaxParams) + " params");
    v.each([&](const Value& k, const Value& val) {
        auto key = k.str();
        if (auto why = check_param_key(key); !why.empty()) bad(v.path() + ": \"" + key.substr(0, 64) + "\": " + why);
        auto text = val.str();
        if (text.size() > kMaxParamValue)
            bad(v.path() + "." + key + ": value above " + std::to_string(kMaxParamValue) + " bytes");
        if (!params.emplace(std::move(key), std::move(text)).second) bad(v.path() + ": key given twice");
    });
}

// A histogram: {buckets: [index, count, ...] of its non-empty buckets, min, max, sum, clamped}.
void put_histogram(Writer& w, const Histogram& h) {
    auto sparse = h.to_sparse();
    w.map(5);
    w.str("buckets");
    w.array(sparse.size() * 2);
    for (auto [i, c] : sparse) {
        w.u64(i);
        w.u64(c);
    }
    for (auto [key, n] : {std::pair{"min", h.min()}, {"max", h.max()}, {"sum", h.sum()}, {"clamped", h.clamped()}}) {
        w.str(key);
        w.u64(n);
    }
}
void take_histogram(const Value& v, Histogram& h) {
    Value b = v("buckets");
    const auto n = b.size();
    if (n % 2 != 0) bad(b.path() + ": odd length");
    std::vector<std::pair<std::uint32_t, std::uint64_t>> sparse;
    sparse.reserve(n / 2);
    for (std::size_t i = 0; i < n; i += 2) sparse.emplace_back(b[i].u32(), b[i + 1].u64());
    if (!h.from_sparse(sparse, v("min").u64(), v("max").u64(), v("sum").u64(), v("clamped").u64()))
        bad(v.path() + ": inconsistent histogram");
}

// A plan's cycle: [users, hits, duration_ns or nil, rate].
void put_cycle(Writer& w, const Cycle& c) {
    w.array(4);
    w.u64(c.users);
    w.u64(c.hits);
    put(w, c.duration);
    w.f64(c.rate);
}
void take_cycle(const Value& v, Cycle& c) {
    c.users = v[0].u32();
    c.hits = v[1].u64();
    if (!v[2].is_nil()) c.duration = v[2].dur();
    c.rate = v[3].f64();
}

// Stats' maps. Rows with nothing counted are not written; a reader adds up
// rows given twice, and refuses more rows than an agent keeps (it folds past
// its caps) plus the fold's "(other)" (docs/protocol.md, Stats).

void put(Writer& w, const std::array<std::uint64_t, kErrorKindCount>& kinds, ErrorKinds) {
    w.map(kinds.size() - std::count(kinds.begin(), kinds.end(), 0));
    for (std::size_t i = 0; i < kinds.size(); ++i)
        if (kinds[i]) {
            w.str(to_string(static_cast<loads::ErrorKind>(i)));
            w.u64(kinds[i]);
        }
}
void take(const Value& v, std::array<std::uint64_t, kErrorKindCount>& kinds, ErrorKinds) {
    v.each([&](const Value& k, const Value& n) {
        // A newer peer's unknown kind still counts, as "other".
        auto kind = error_kind_from_string(k.str()).value_or(loads::ErrorKind::other);
        kinds[static_cast<std::size_t>(kind)] += n.u64();
    });
}

void put(Writer& w, const std::array<std::uint64_t, Stats::kStatusCodes>& codes, StatusCodes) {
    w.map(codes.size() - std::count(codes.begin(), codes.end(), 0));
    for (std::size_t i = 0; i < codes.size(); ++i)
        if (codes[i]) {
            w.u64(i);
            w.u64(codes[i]);
        }
}
void take(const Value& v, std::array<std::uint64_t, Stats::kStatusCodes>& codes, StatusCodes) {
    v.each([&](const Value& k, const Value& n) {
        auto code = k.u64();
        codes[code < Stats::kStatusCodes ? code : 0] += n.u64();
    });
}

using MessageMap = decltype(Stats::messages);
void put(Writer& w, const MessageMap& messages, MessageCounts) {
    w.map(messages.size());
    for (const auto& [m, n] : messages) {
        w.str(m);
        w.u64(n);
    }
}
void take(const Value& v, MessageMap& messages, MessageCounts) {
    if (v.map().size > Stats::kMaxMessages + 1)
        bad(v.path() + ": more than " + std::to_string(Stats::kMaxMessages) + " messages and (other)");
    v.each([&](const Value& k, const Value& n) {
        auto text = k.str();
        auto count = n.u64();
        auto it = messages.find(text);
        if (it != messages.end()) it->second += count;
        else if (messages.size() < Stats::kMaxMessages) messages.emplace(std::move(text), count);
        else messages["(other)"] += count;
    });
}

// Rows of a name each, those `used` written, as maps of their fields.
template <class Rows, class Used>
void put_rows(Writer& w, const Rows& rows, Used used) {
    w.map(std::count_if(rows.begin(), rows.end(), [&](const auto& r) { return used(r.second); }));
    for (const auto& [name, row] : rows)
        if (used(row)) {
            w.str(name);
            put(w, row);
        }
}
// Reads at most `most` rows, each handed to add(name, row, where).
template <class Row, class Add>
void take_rows(const Value& v, std::size_t most, const std::string& too_many, Add add) {
    if (v.map().size > most) bad(v.path() + ": " + too_many);
    v.each([&](const Value& k, const Value& where) {
        Row row;
        take(where, row);
        add(k.str(), row, where);
    });
}

void put(Writer& w, const decltype(Stats::labels)& labels, LabelRows) {
    put_rows(w, labels, [](const LabelStats& r) { return r.count != 0 || r.errors != 0; });
}
void take(const Value& v, decltype(Stats::labels)& labels, LabelRows) {
    take_rows<LabelStats>(v, Stats::kMaxLabels + 1,
                          "more than " + std::to_string(Stats::kMaxLabels) + " labels and (other)",
                          // As sent: the broker checks names' bytes (4.7), label() would cut them.
                          [&](const std::string& name, const LabelStats& row, const Value&) { labels[name].merge(row); });
}

void put(Writer& w, const Stats& s, TaskRows) {
    put_rows(w, s.tasks, [](const TaskStats& r) { return r.count != 0; });
}
void take(const Value& v, Stats& s, TaskRows) {
    take_rows<TaskStats>(v, Stats::kMaxTasks + 1, "more than 100 tasks",
                         [&](const std::string& name, const TaskStats& row, const Value&) { s.task(name).merge(row); });
}

void put(Writer& w, const Stats& s, MetricRows) {
    put_rows(w, s.metrics, [](const MetricStats& m) { return m.count != 0; });
}
void take(const Value& v, Stats& s, MetricRows) {
    take_rows<MetricStats>(v, Stats::kMaxMetrics + kMetricKindCount,
                           "more than " + std::to_string(Stats::kMaxMetrics) + " metrics",
                           [&](const std::string& name, const MetricStats& row, const Value& where) {
                               if (name.empty() || name.size() > Stats::kMaxMetricName)
                                   bad(where.path() + ": a metric name is 1 to " +
                                       std::to_string(Stats::kMaxMetricName) + " bytes");
                               MetricStats* mine = s.metric(name, row.kind);
                               if (!mine) bad(where.path() + ": name given twice with different kinds");
                               mine->merge(row);
                           });
}

// ------------------------------------------------------------ maps

// Counts the fields a map will write: its size.
struct Count : Visitor<Count> {
    std::size_t n = 0;
    template <class T, class C>
    void field(std::string_view, const T& x, C, Presence p) {
        if constexpr (is_optional<std::remove_cvref_t<T>>) {
            if (p == if_any && !x) return;
        }
        ++n;
    }
};

struct Write : Visitor<Write> {
    explicit Write(Writer& writer) : w(writer) {}
    Writer& w;
    template <class T, class C>
    void field(std::string_view key, const T& x, C codec, Presence p) {
        if constexpr (is_optional<std::remove_cvref_t<T>>) {
            if (p == if_any) {
                if (!x) return;
                w.str(key);
                return put(w, *x, codec);
            }
        }
        w.str(key);
        put(w, x, codec);
    }
};

struct Read : Visitor<Read> {
    explicit Read(const Value& map) : v(map) {}
    const Value& v;
    template <class T, class C>
    void field(std::string_view key, T& x, C codec, Presence p) {
        auto f = v.find(key);
        if (!f) {
            if (p == Presence::required) bad(v.path() + ": missing field '" + std::string(key) + "'");
            return;
        }
        if (p == Presence::later_or_nil && f->is_nil()) return;
        if constexpr (is_optional<T>) {
            if (p == if_any) return take(*f, x.emplace(), codec);
        }
        take(*f, x, codec);
    }
};

constexpr auto kFields = [](auto& v, auto& m) { fields(v, m); };

template <class T, class F>
void put_map(Writer& w, const T& x, F list) {
    Count count;
    list(count, x);
    w.map(count.n);
    Write write(w);
    list(write, x);
}

template <class T, class F>
void take_map(const Value& v, T& x, F list) {
    v.map();  // a map, even with no field to read
    Read read(v);
    list(read, x);
    check(v, x);
}

template <class T>
void put(Writer& w, const T& x, Plain) {
    if constexpr (std::is_same_v<T, std::string>) w.str(x);
    else if constexpr (std::is_same_v<T, bool>) w.boolean(x);
    else if constexpr (std::is_same_v<T, double>) w.f64(x);
    else if constexpr (std::is_same_v<T, Duration>) w.i64(x.count());
    else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) w.i64(x);
    else if constexpr (std::is_integral_v<T>) w.u64(x);
    else if constexpr (is_optional<T>) x ? put(w, *x) : w.nil();
    else if constexpr (is_vector<T>) {
        w.array(x.size());
        for (const auto& e : x) put(w, e);
    } else if constexpr (is_pair<T>) {
        w.array(2);
        put(w, x.first);
        put(w, x.second);
    } else if constexpr (std::is_same_v<T, Histogram>) put_histogram(w, x);
    else if constexpr (std::is_same_v<T, Cycle>) put_cycle(w, x);
    else {
        static_assert(Listed<T>, "a type the codec does not know: give it fields() in fields.hpp");
        put_map(w, x, kFields);
    }
}

template <class T>
void take(const Value& v, T& x, Plain) {
    if constexpr (std::is_same_v<T, std::string>) x = v.str();
    else if constexpr (std::is_same_v<T, bool>) x = v.boolean();
    else if constexpr (std::is_same_v<T, double>) x = v.f64();
    else if constexpr (std::is_same_v<T, Duration>) x = v.dur();
    else if constexpr (std::is_same_v<T, std::int64_t>) x = v.i64();
    else if constexpr (std::is_same_v<T, std::uint64_t>) x = v.u64();
    else if constexpr (std::is_same_v<T, std::uint32_t>) x = v.u32();
    else if constexpr (is_optional<T>) {
        if (v.is_nil()) x.reset();
        else take(v, x.emplace());
    } else if constexpr (is_vector<T>) {
        for (std::size_t i = 0; i < v.size(); ++i) take(v[i], x.emplace_back());
    } else if constexpr (is_pair<T>) {
        take(v[0], x.first);
        take(v[1], x.second);
    } else if constexpr (std::is_same_v<T, Histogram>) take_histogram(v, x);
    else if constexpr (std::is_same_v<T, Cycle>) take_cycle(v, x);
    else {
        static_assert(Listed<T>, "a type the codec does not know: give it fields() in fields.hpp");
        take_map(v, x, kFields);
    }
}

// ------------------------------------------------------------ messages

// The command of each of Message's alternatives, in their order.
constexpr std::array<std::string_view, std::variant_size_v<Message>> kCommands{
    "REGISTER", "HEARTBEAT", "READY",     "REJECTED", "RESULT",       "FINISHED", "WELCOME", "PREPARE",
    "START",    "STOP",      "ERROR",     "STATUS",   "STATUS",       "SUBMIT",   "SUBMITTED",
    "ATTACH",   "RUN_FINISHED", "SNAPSHOT", "EVENT",  "CLUSTER",      "ACK",      "FETCH",   "CHUNK"};

template <class M>
Message read_as(const Value& body) {
    M m;
    take_map(body, m, kFields);
    return m;
}

Message read_published(std::string_view kind, const Value& v) {
    if (kind == "snapshot") return read_as<Snapshot>(v);
    if (kind == "event") return read_as<RunEvent>(v);
    if (kind == "cluster") return read_as<ClusterEvent>(v);
    throw ProtoError(ErrorKind::unknown_command, "unknown topic kind '" + std::string(kind.substr(0, 64)) + "'");
}

Message read_body(std::string_view command, const Value& v) {
    // STATUS with only "v" is the request; with fields, the reply. CLUSTER
    // comes on PUB only.
    if (command == "STATUS") return v.find("agents") ? read_as<Status>(v) : StatusRequest{};
    std::optional<Message> m;
    if (command != "CLUSTER")  // read as the first alternative named `command`
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((m || kCommands[I] != command || (m = read_as<std::variant_alternative_t<I, Message>>(v), true)), ...);
        }(std::make_index_sequence<std::variant_size_v<Message>>());
    if (!m) throw ProtoError(ErrorKind::unknown_command, "unknown command '" + std::string(command.substr(0, 64)) + "'");
    return std::move(*m);
}

// Walks a body without building it: counts the values its arrays and maps
// declare and their nesting, so a body that would make the unpacker allocate
// far more than its size (a header claiming 2^24 elements, 96 MiB of nested
// nils) is refused before anything is allocated.
struct ValueCounter : msgpack::null_visitor {
    explicit ValueCounter(std::size_t body_size) : size(body_size) {}
    bool add(std::size_t n) {
        declared += n;
        if (declared > size) {
            // Every value takes a byte at least: the body cannot be whole.
            kind = ErrorKind::truncated;
            what = "declares " + std::to_string(declared) + " values in " + std::to_string(size) + " bytes";
            return false;
        }
        if (declared > kMaxBodyValues)
            return (what = "declares more than " + std::to_string(kMaxBodyValues) + " values", false);
        return true;
    }
    bool enter() {
        if (++depth > kMaxBodyDepth) return (what = "nested deeper than " + std::to_string(kMaxBodyDepth), false);
        return true;
    }
    bool start_array(std::uint32_t n) { return enter() && add(n); }
    bool end_array() { return --depth, true; }
    bool start_map(std::uint32_t n) { return enter() && add(std::size_t(n) * 2); }
    bool end_map() { return --depth, true; }
    std::size_t size, declared = 0, depth = 0;
    ErrorKind kind = ErrorKind::oversized;
    std::string what;  // set when a bound was passed
};

void check_value_counts(std::string_view body) {
    ValueCounter counter(body.size());
    std::size_t offset = 0;
    try {
        msgpack::parse(body.data(), body.size(), offset, counter);
    } catch (const std::exception&) {
        // Not msgpack: the unpacker says precisely how.
    }
    if (!counter.what.empty()) throw ProtoError(counter.kind, "body " + counter.what);
}

// Unpacks one msgpack map, checks "v", hands it to `read`.
template <class F>
Message unpack_body(std::string_view body, F&& read) {
    if (body.empty()) throw ProtoError(ErrorKind::empty, "empty body");
    if (body.size() > kMaxBodySize) throw ProtoError(ErrorKind::oversized, "body of " + std::to_string(body.size()) + " bytes");
    check_value_counts(body);
    msgpack::object_handle oh;
    std::size_t offset = 0;
    try {
        // Limits keep a hostile peer from making us allocate without bound.
        msgpack::unpack_limit limit(1u << 24, 1u << 20, kMaxBodySize, kMaxBodySize, 1u << 16, 32);
        // Strings and bins point into `body` (alive while this decodes; the
        // message built from them copies what it keeps): a 100 MB library is
        // not copied twice.
        oh = msgpack::unpack(
            body.data(), body.size(), offset, [](msgpack::type::object_type, std::size_t, void*) { return true; },
            nullptr, limit);
    } catch (const msgpack::insufficient_bytes&) {
        throw ProtoError(ErrorKind::truncated, "body ends in the middle of a value");
    } catch (const msgpack::depth_size_overflow&) {
        throw ProtoError(ErrorKind::oversized, "body nested too deep");
    } catch (const msgpack::size_overflow& e) {
        throw ProtoError(ErrorKind::oversized, std::string("body exceeds a limit: ") + e.what());
    } catch (const std::exception& e) {
        throw ProtoError(ErrorKind::malformed, std::string("not msgpack: ") + e.what());
    }
    if (offset != body.size()) throw ProtoError(ErrorKind::malformed, "trailing bytes after the body");
    Value root(oh.get(), "body");
    if (oh.get().type != msgpack::type::MAP) throw ProtoError(ErrorKind::malformed, "body is not a map");
    auto v = root.find("v");
    if (!v || v->is_nil()) throw ProtoError(ErrorKind::wrong_version, "body has no protocol version \"v\"");
    std::uint64_t version = 0;
    try {
        version = v->u64();
    } catch (const ProtoError&) {
        throw ProtoError(ErrorKind::wrong_version, "protocol version \"v\" is not an integer");
    }
    if (version != kVersion)
        throw ProtoError(ErrorKind::wrong_version,
                         "protocol version " + std::to_string(version) + ", expected " + std::to_string(kVersion));
    try {
        return read(root);
    } catch (const ProtoError&) {
        throw;
    } catch (const std::exception& e) {
        throw ProtoError(ErrorKind::malformed, e.what());
    }
}

}  // namespace

std::string_view to_string(ErrorKind k) {
    switch (k) {
        case ErrorKind::empty: return "empty";
        case ErrorKind::truncated: return "truncated";
        case ErrorKind::malformed: return "malformed";
        case ErrorKind::unknown_command: return "unknown-command";
        case ErrorKind::wrong_version: return "wrong-version";
        case ErrorKind::oversized: return "oversized";
    }
    return "malformed";
}

std::string_view command_of(const Message& m) { return kCommands[m.index()]; }

Frames encode(const Message& m) {
    Writer w;
    std::visit(
        [&](const auto& msg) {
            Count count;
            fields(count, msg);
            w.map(count.n + 1);
            w.str("v");  // every body starts with "v"
            w.u64(kVersion);
            Write write(w);
            fields(write, msg);
        },
        m);
    return Frames{std::string(command_of(m)), w.bytes()};
}

Message decode(std::string_view command, std::string_view body) {
    if (command.empty()) throw ProtoError(ErrorKind::empty, "empty command");
    return unpack_body(body, [&](const Value& v) { return read_body(command, v); });
}

std::string topic_of(const Message& m) {
    if (auto* s = std::get_if<Snapshot>(&m)) return "run." + s->run + ".snapshot";
    if (auto* e = std::get_if<RunEvent>(&m)) return "run." + e->run + ".event";
    if (std::holds_alternative<ClusterEvent>(m)) return "cluster";
    return "other";
}

Message decode_published(std::string_view topic, std::string_view body) {
    std::string_view kind;
    if (topic == "cluster") kind = "cluster";
    else if (topic.starts_with("run.") && topic.ends_with(".snapshot")) kind = "snapshot";
    else if (topic.starts_with("run.") && topic.ends_with(".event")) kind = "event";
    else throw ProtoError(ErrorKind::unknown_command, "unknown topic '" + std::string(topic.substr(0, 64)) + "'");
    return unpack_body(body, [&](const Value& v) { return read_published(kind, v); });
}

std::string encode_stats(const Stats& s) {
    Writer w;
    put(w, s);
    return w.bytes();
}

Stats decode_stats(std::string_view body) {
    check_value_counts(body);
    msgpack::object_handle oh;
    try {
        oh = msgpack::unpack(body.data(), body.size());
    } catch (const msgpack::insufficient_bytes&) {
        throw ProtoError(ErrorKind::truncated, "stats end in the middle of a value");
    } catch (const std::exception& e) {
        throw ProtoError(ErrorKind::malformed, e.what());
    }
    Stats s;
    take(Value(oh.get(), "stats"), s);
    return s;
}

}  // namespace loads::proto
