// A plain-text table for `anylbctl status`: columns sized to their widest cell, two spaces
// between columns, numbers right-aligned, no trailing blanks. (The ipvsadm-compatible listings do
// not use it: they keep ipvsadm's fixed printf widths.)
#pragma once

#include <string>
#include <vector>

namespace anylb::ctl {

class TextTable {
 public:
  enum class Align { kLeft, kRight };
  struct Column {
    std::string title;
    Align align = Align::kLeft;
  };

  explicit TextTable(std::vector<Column> columns, std::string indent = "");

  // Missing cells are blank; extra cells are ignored.
  void addRow(std::vector<std::string> cells);
  [[nodiscard]] bool empty() const { return rows_.empty(); }
  // Header line and one line per row, each ending in '\n'.
  [[nodiscard]] std::string render() const;

 private:
  std::vector<Column> columns_;
  std::string indent_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace anylb::ctl
