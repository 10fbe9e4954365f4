// keepalived.conf syntax (keepalived.conf(5)) read into a tree of statements, for the importer
// (ctl/keepalived_import.h). Only the syntax: what the keys mean is the importer's business.
//
// A statement is the words of one line up to `{`, `}` or the line's end; `{` opens a block
// whose statements are its children, `}` closes it (either may also stand on a line of its
// own). `!` and `#` start a comment outside double quotes; "..." is one word (backslash escapes
// `"` and `\`); a trailing `\` joins the next line. `include PATTERN` (glob, relative to the
// including file's folder) splices the matching files in place, at any depth. A line starting
// `@ID` applies only when ID is the config id (keepalived -i; anylbctl's --node-name, else the
// short host name), `@^ID` only when it is not; both stay in the tree with their condition so
// the importer can report them.
//
// Hostile input (unbalanced braces, include loops, huge files, NUL bytes) gives an error
// "FILE:LINE: message" and no tree, never a crash. Runs on the caller's thread; no globals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anylb::ctl::keepalived {

// Where a statement came from: an index into ConfTree::files and 1-based line numbers.
struct SourceRef {
  uint32_t file = 0;
  uint32_t line = 0;
  uint32_t endLine = 0;  // the line of a block's `}`; == line for a plain statement
};

struct ConfNode {
  std::string key;                // the first word
  std::vector<std::string> args;  // the other words before `{` or the line's end
  bool block = false;             // followed by { ... }
  std::vector<ConfNode> children;
  SourceRef src;
  std::string condition;  // "@ID" / "@^ID" prefix of the line as written; empty: none
  bool conditionMet = true;
};

struct ConfTree {
  std::vector<std::string> files;  // [0] is the top file, then included files, as named
  // Top-level statements, those excluded by their @ID too (conditionMet false: the importer
  // reports and skips them).
  std::vector<ConfNode> nodes;
  // Include patterns that matched no file (keepalived warns and goes on).
  std::vector<SourceRef> emptyIncludes;
  std::vector<std::string> emptyIncludePatterns;
  [[nodiscard]] std::string where(const SourceRef& s) const;  // "FILE:LINE" or "FILE:L1-L2"
};

struct ParseLimits {
  size_t maxFileBytes = size_t{4} << 20;    // one file
  size_t maxTotalBytes = size_t{16} << 20;  // all files together
  size_t maxFiles = 256;
  size_t maxStatements = 200000;
  int maxIncludeDepth = 8;  // keepalived itself nests a handful of levels at most
  int maxBlockDepth = 32;
  size_t maxWordBytes = 4096;
  bool allowInclude = true;
  // When not empty, an included file must resolve (realpath) inside this folder.
  std::string includeRoot;
  std::string configId;  // for @ID lines
};

struct ParseResult {
  std::optional<ConfTree> tree;
  std::string error;  // "FILE:LINE: message" (or "FILE: message"); set when tree is empty
};

ParseResult parseFile(const std::string& path, const ParseLimits& limits);
// `name` stands for the file in messages and is the base of relative includes.
ParseResult parseText(std::string_view text, const std::string& name, const ParseLimits& limits);

}  // namespace anylb::ctl::keepalived
