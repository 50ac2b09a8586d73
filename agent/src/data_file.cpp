#include "data_file.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <fstream>
#include <iterator>
#include <set>
#include <sys/stat.h>

namespace loads {

namespace {

using Result = Parsed<DataSet>;

Result fail(std::string why) { return Result{{}, std::move(why)}; }

std::string_view strip_bom(std::string_view text) {
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    return text;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    out += s.substr(0, 60);
    if (s.size() > 60) out += "...";
    return out + "\"";
}

// The header's names: none empty, none twice.
std::string check_columns(const std::vector<std::string>& columns, std::string_view where) {
    if (columns.size() > kMaxDataColumns)
        return std::string(where) + ": " + std::to_string(columns.size()) + " columns, at most " +
               std::to_string(kMaxDataColumns);
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (columns[i].empty()) return std::string(where) + ": column " + std::to_string(i + 1) + " has no name";
        if (!seen.insert(columns[i]).second)
            return std::string(where) + ": column " + quoted(columns[i]) + " appears twice";
    }
    return {};
}

// 12.5 as "12.5" (Boost.JSON would write "1.25E1").
std::string shortest(double d) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
}

}  // namespace

Parsed<DataFormat> data_format_of(std::string_view path) {
    auto dot = path.rfind('.');
    auto slash = path.rfind('/');
    std::string ext;
    if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash))
        for (char c : path.substr(dot + 1)) ext += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == "csv") return {DataFormat::csv, {}};
    if (ext == "jsonl" || ext == "ndjson") return {DataFormat::jsonl, {}};
    return {DataFormat::csv, "unknown format: name a data file .csv (a header row, then rows) or .jsonl "
                             "(one JSON object per line)"};
}

bool valid_data_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
}

// RFC 4180 with LF line ends accepted too, blank lines skipped, a lone CR
// kept as data. A record is collected field by field; `line` counts physical
// lines so errors point where an editor would.
Result parse_csv(std::string name, std::string_view text) {
    text = strip_bom(text);
    std::vector<std::string> columns, cells, record;
    std::size_t line = 1, record_line = 1;
    std::size_t i = 0;
    const std::size_t n = text.size();
    bool header_done = false;
    std::string field;

    auto end_record = [&]() -> std::string {
        if (!header_done) {
            columns = std::move(record);
            header_done = true;
            return check_columns(columns, "line " + std::to_string(record_line) + " (the header)");
        }
        if (record.size() != columns.size())
            return "line " + std::to_string(record_line) + ": " + std::to_string(record.size()) +
                   (record.size() == 1 ? " field" : " fields") + ", the header has " + std::to_string(columns.size()) +
                   " (a ragged row; quote a field that holds a comma)";
        for (auto& f : record) cells.push_back(std::move(f));
        return {};
    };

    while (i < n) {
        // At the start of a record: skip blank lines.
        if (text[i] == '\n' || (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
            i += text[i] == '\r' ? 2 : 1;
            ++line;
            continue;
        }
        record.clear();
        record_line = line;
        for (;;) {  // one field per turn
            field.clear();
            if (i < n && text[i] == '"') {
                const std::size_t opened = line;
                ++i;
                for (;;) {
                    if (i >= n)
                        return fail("line " + std::to_string(opened) + ": a quoted field is never closed");
                    char c = text[i];
                    if (c == '"') {
                        if (i + 1 < n && text[i + 1] == '"') {
                            field += '"';
                            i += 2;
                            continue;
                        }
                        ++i;
                        break;
                    }
                    if (c == '\n') ++line;
                    field += c;
                    ++i;
                }
                if (i < n && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n'))
                    return fail("line " + std::to_string(line) + ": text after the closing quote of field " +
                                std::to_string(record.size() + 1) + " (a quote inside a quoted field is doubled: \"\")");
            } else {
                while (i < n && text[i] != ',' && text[i] != '\n' &&
                       !(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
                    if (text[i] == '"')
                        return fail("line " + std::to_string(line) + ": a quote inside unquoted field " +
                                    std::to_string(record.size() + 1) +
                                    " (quote the whole field and double the quote: \"say \"\"hi\"\"\")");
                    field += text[i++];
                }
            }
            record.push_back(std::move(field));
            if (record.size() > kMaxDataColumns)
                return fail("line " + std::to_string(record_line) + ": more than " + std::to_string(kMaxDataColumns) +
                            " fields");
            if (i < n && text[i] == ',') {
                ++i;
                continue;
            }
            break;  // end of line or of text
        }
        if (i < n) {
            i += text[i] == '\r' ? 2 : 1;
            ++line;
        }
        if (auto err = end_record(); !err.empty()) return fail(err);
    }
    if (!header_done) return fail("empty: a CSV data file starts with a header row");
    if (cells.empty()) return fail("a header (" + std::to_string(columns.size()) + " columns) but no rows");
    return {DataSet(std::move(name), std::move(columns), std::move(cells)), {}};
}

Result parse_jsonl(std::string name, std::string_view text) {
    text = strip_bom(text);
    std::vector<std::string> columns, cells;
    std::size_t first_line = 0;
    std::size_t line = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto eol = text.find('\n', pos);
        std::string_view l = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        pos = eol == std::string_view::npos ? text.size() : eol + 1;
        ++line;
        if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        boost::system::error_code ec;
        boost::json::value v = boost::json::parse(l, ec);
        const std::string where = "line " + std::to_string(line);
        if (ec) return fail(where + ": not JSON (" + ec.message() + ")");
        if (!v.is_object()) return fail(where + ": expected a JSON object ({\"column\": value, ...}) per line");
        const auto& o = v.as_object();
        if (columns.empty()) {
            if (o.empty()) return fail(where + ": the first object has no keys (they are the columns)");
            for (const auto& kv : o) columns.emplace_back(kv.key());
            if (auto err = check_columns(columns, where); !err.empty()) return fail(err);
            first_line = line;
        } else {
            for (const auto& c : columns)
                if (!o.contains(c))
                    return fail(where + ": no key " + quoted(c) + " (line " + std::to_string(first_line) +
                                " has it; every line has the same keys)");
            if (o.size() != columns.size())
                for (const auto& kv : o)
                    if (std::find(columns.begin(), columns.end(), std::string_view(kv.key())) == columns.end())
                        return fail(where + ": key " + quoted(kv.key()) + " is not in line " +
                                    std::to_string(first_line) + " (every line has the same keys)");
        }
        for (const auto& c : columns) {
            const auto& f = o.at(c);
            if (f.is_string()) cells.emplace_back(f.as_string().c_str(), f.as_string().size());
            else if (f.is_null()) cells.emplace_back();
            else if (f.is_double()) cells.push_back(shortest(f.as_double()));
            else cells.push_back(boost::json::serialize(f));
        }
    }
    if (columns.empty()) return fail("empty: a JSON lines data file has one object per line");
    return {DataSet(std::move(name), std::move(columns), std::move(cells)), {}};
}

Parsed<DataSet> load_data_file(const DataSource& source) {
    const std::string what = "--data " + source.name + "=" + source.path + ": ";
    struct stat st {};
    if (::stat(source.path.c_str(), &st) != 0) return fail(what + "no such file");
    if (!S_ISREG(st.st_mode)) return fail(what + "not a regular file");
    auto format = data_format_of(source.path);
    if (!format) return fail(what + format.error);
    if (static_cast<std::uint64_t>(st.st_size) > kMaxDataFileBytes)
        return fail(what + "too large (" + std::to_string(st.st_size) + " bytes; at most " +
                    std::to_string(kMaxDataFileBytes >> 20) + " MiB a file)");
    std::ifstream in(source.path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) return fail(what + "cannot be read");
    auto parsed = format.value == DataFormat::csv ? parse_csv(source.name, text) : parse_jsonl(source.name, text);
    if (!parsed) return fail(what + parsed.error);
    return parsed;
}

std::string check_data_names(const std::vector<DataSource>& sources) {
    if (sources.size() > kMaxDataSets)
        return "--data: " + std::to_string(sources.size()) + " data sets, at most " + std::to_string(kMaxDataSets);
    std::set<std::string_view> names;
    for (const auto& s : sources) {
        if (!valid_data_name(s.name))
            return "--data " + quoted(s.name) + ": a data set name is 1 to 64 letters, digits, '_', '-' or '.'";
        if (!names.insert(s.name).second) return "--data: the name \"" + s.name + "\" is given twice";
    }
    return {};
}

std::string check_data_sources(const std::vector<DataSource>& sources) {
    if (auto err = check_data_names(sources); !err.empty()) return err;
    for (const auto& s : sources)
        if (auto parsed = load_data_file(s); !parsed) return parsed.error;
    return {};
}

}  // namespace loads
