// Data files (--data NAME=FILE): read and parsed into a DataSet, with every
// problem a sentence naming the file, the line and what is wrong, so the
// runner can refuse a bad file before anything runs (exit 2) and an agent
// can reject the run.
//
//   .csv           a header row, then one row per record (RFC 4180: fields
//                  separated by commas, records by CRLF or LF; a field with a
//                  comma, quote or line break is quoted, and a quote inside
//                  it doubled). Every record has as many fields as the header.
//   .jsonl .ndjson one JSON object per line; the first line's keys are the
//                  columns, and every line has exactly those keys.
// Blank lines are skipped. A data set needs at least one row.
#pragma once

#include "loads/data.hpp"
#include "loads/engine.hpp"

#include <string>
#include <string_view>

namespace loads {

inline constexpr std::size_t kMaxDataFileBytes = 64u << 20;  // one file
inline constexpr std::size_t kMaxDataSets = 32;              // --data per run
inline constexpr std::size_t kMaxDataColumns = 1000;

enum class DataFormat { csv, jsonl };

// The format a file name says (by its extension), or an error.
Parsed<DataFormat> data_format_of(std::string_view path);

// A valid data set name: 1 to 64 of letters, digits, '_', '-', '.'.
bool valid_data_name(std::string_view name);

// Parses the text of a data file. Errors name the line ("line 4: ...").
Parsed<DataSet> parse_csv(std::string name, std::string_view text);
Parsed<DataSet> parse_jsonl(std::string name, std::string_view text);

// Reads and parses one --data file (size limit, format by extension).
// Errors read "--data NAME=PATH: why".
Parsed<DataSet> load_data_file(const DataSource& source);

// Checks a run's data sources: their number and names (valid, distinct).
// Returns the first error, or "".
std::string check_data_names(const std::vector<DataSource>& sources);
// The same, and every file loads.
std::string check_data_sources(const std::vector<DataSource>& sources);

}  // namespace loads
