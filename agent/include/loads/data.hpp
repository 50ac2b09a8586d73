// Test data: the rows of a data file given with --data NAME=FILE, as a test
// reads them (part of the test-case API; <loads/loads.hpp> includes it).
//
//   const DataSet& products = data("products");        // every row, read-only
//   DataRow p = products.row(hit_index() % products.size());
//   std::string sku = p["sku"];
//   DataRow me = user_row("users");                    // this user's own row
//
// A data set is parsed once per run and process and shared by every user
// (k6's SharedArray): rows are never copied per user. Fields are text; a
// JSON lines file's non-string values are their JSON text ("42", "true",
// "{\"a\":1}"), null is "".
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loads {

// Thrown by user_row() under --data-exhausted stop when the data set has no
// row for this user: the engine then stops the user (no more hits), counts
// it in the summary's "Out of data" line and goes on with the others.
struct DataExhausted : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class DataSet;

// One row of a data set: a view, valid as long as the run.
class DataRow {
public:
    DataRow(const DataSet& set, std::size_t index) : set_(&set), index_(index) {}

    // The row's 0-based index in its data set (the file's order).
    std::size_t index() const { return index_; }
    // The number of fields (= columns).
    std::size_t size() const;
    // The field of column `column`; throws std::out_of_range naming the
    // columns there are when there is no such column.
    const std::string& operator[](std::string_view column) const { return get(column); }
    const std::string& get(std::string_view column) const;
    // The field at position i (0-based).
    const std::string& at(std::size_t i) const;
    bool has(std::string_view column) const;
    const DataSet& set() const { return *set_; }

private:
    const DataSet* set_;
    std::size_t index_;
};

class DataSet {
public:
    DataSet() = default;
    // Rows are `cells` read row by row, columns.size() fields each.
    DataSet(std::string name, std::vector<std::string> columns, std::vector<std::string> cells)
        : name_(std::move(name)), columns_(std::move(columns)), cells_(std::move(cells)) {}

    // The NAME of --data NAME=FILE.
    const std::string& name() const { return name_; }
    // The header row (CSV) or the first object's keys (JSON lines).
    const std::vector<std::string>& columns() const { return columns_; }
    // The number of rows (the header not included).
    std::size_t size() const { return columns_.empty() ? 0 : cells_.size() / columns_.size(); }
    bool empty() const { return size() == 0; }
    // Row i; throws std::out_of_range for i >= size() (use row(i % size())
    // to cycle through the rows).
    DataRow row(std::size_t i) const {
        if (i >= size())
            throw std::out_of_range("data set \"" + name_ + "\": no row " + std::to_string(i) + " (it has " +
                                    std::to_string(size()) + ")");
        return DataRow(*this, i);
    }
    DataRow operator[](std::size_t i) const { return row(i); }
    // The position of a column, if there is one of that name.
    std::optional<std::size_t> column(std::string_view name) const {
        for (std::size_t i = 0; i < columns_.size(); ++i)
            if (columns_[i] == name) return i;
        return std::nullopt;
    }
    // Field `col` of row `row`, unchecked.
    const std::string& cell(std::size_t row, std::size_t col) const { return cells_[row * columns_.size() + col]; }

private:
    std::string name_;
    std::vector<std::string> columns_;
    std::vector<std::string> cells_;
};

inline std::size_t DataRow::size() const { return set_->columns().size(); }

inline const std::string& DataRow::get(std::string_view column) const {
    auto c = set_->column(column);
    if (!c) {
        std::string known;
        for (const auto& k : set_->columns()) known += (known.empty() ? "" : ", ") + k;
        throw std::out_of_range("data set \"" + set_->name() + "\" has no column \"" + std::string(column) +
                                "\" (its columns: " + known + ")");
    }
    return set_->cell(index_, *c);
}

inline const std::string& DataRow::at(std::size_t i) const {
    if (i >= size())
        throw std::out_of_range("data set \"" + set_->name() + "\": no field " + std::to_string(i) + " (" +
                                std::to_string(size()) + " columns)");
    return set_->cell(index_, i);
}

inline bool DataRow::has(std::string_view column) const { return set_->column(column).has_value(); }

}  // namespace loads
