#include "ctl/text_table.h"

#include <algorithm>
#include <utility>

namespace anylb::ctl {

TextTable::TextTable(std::vector<Column> columns, std::string indent)
    : columns_(std::move(columns)), indent_(std::move(indent)) {}

void TextTable::addRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string TextTable::render() const {
  std::vector<size_t> width(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    width[c] = columns_[c].title.size();
    for (const auto& r : rows_) width[c] = std::max(width[c], r[c].size());
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string s = indent_;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string pad(width[c] - cells[c].size(), ' ');
      if (c != 0) s += "  ";
      s += columns_[c].align == Align::kRight ? pad + cells[c] : cells[c] + pad;
    }
    s.erase(s.find_last_not_of(' ') + 1);
    return s + "\n";
  };
  std::vector<std::string> titles;
  titles.reserve(columns_.size());
  for (const auto& c : columns_) titles.push_back(c.title);
  std::string out = line(titles);
  for (const auto& r : rows_) out += line(r);
  return out;
}

}  // namespace anylb::ctl
