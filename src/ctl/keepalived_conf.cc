#include "ctl/keepalived_conf.h"

#include <glob.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <system_error>

#include <fmt/format.h>

namespace anylb::ctl::keepalived {

std::string ConfTree::where(const SourceRef& s) const {
  const std::string& f = s.file < files.size() ? files[s.file] : std::string("?");
  if (s.endLine > s.line) return fmt::format("{}:{}-{}", f, s.line, s.endLine);
  return fmt::format("{}:{}", f, s.line);
}

namespace {

std::string dirOf(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string realPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> r(realpath(path.c_str(), nullptr), &std::free);
  return r ? std::string(r.get()) : std::string();
}

class Parser {
 public:
  explicit Parser(const ParseLimits& limits) : limits_(limits) {}

  ParseResult run(std::string_view text, const std::string& name, bool fromFile) {
    if (fromFile) {
      std::string content;
      if (!readFile(name, content, name)) return fail();
      const auto real = realPath(name);
      if (!real.empty()) active_.push_back(real);
      parseBuffer(content, name, 0);
    } else {
      if (text.size() > limits_.maxFileBytes) {
        error_ = fmt::format("{}: {} bytes: larger than the limit of {} bytes", name, text.size(),
                             limits_.maxFileBytes);
        return fail();
      }
      totalBytes_ = text.size();
      parseBuffer(text, name, 0);
    }
    if (!error_.empty()) return fail();
    ParseResult r;
    r.tree = std::move(tree_);
    return r;
  }

 private:
  ParseResult fail() {
    ParseResult r;
    r.error = error_;
    return r;
  }

  bool readFile(const std::string& path, std::string& out, const std::string& shownAs) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      error_ = fmt::format("{}: cannot read: {}", shownAs,
                           std::error_code(errno, std::generic_category()).message());
      return false;
    }
    if (!S_ISREG(st.st_mode)) {
      error_ = fmt::format("{}: not a regular file", shownAs);
      return false;
    }
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      error_ = fmt::format("{}: cannot read: {}", shownAs,
                           std::error_code(errno, std::generic_category()).message());
      return false;
    }
    // Read at most one byte past the limit: a file that grows while read is still bounded.
    out.resize(limits_.maxFileBytes + 1);
    f.read(out.data(), static_cast<std::streamsize>(out.size()));
    out.resize(static_cast<size_t>(f.gcount()));
    if (out.size() > limits_.maxFileBytes) {
      error_ = fmt::format("{}: larger than the limit of {} bytes", shownAs, limits_.maxFileBytes);
      return false;
    }
    totalBytes_ += out.size();
    if (totalBytes_ > limits_.maxTotalBytes) {
      error_ = fmt::format("{}: the included files total more than {} bytes", shownAs,
                           limits_.maxTotalBytes);
      return false;
    }
    return true;
  }

  void setError(uint32_t file, uint32_t line, const std::string& msg) {
    if (!error_.empty()) return;
    error_ = fmt::format("{}:{}: {}", tree_.files[file], line, msg);
  }

  // The children list that new statements go to.
  std::vector<ConfNode>& current() {
    return stack_.empty() ? tree_.nodes : stack_.back()->children;
  }

  // One file's text; `depth` is its include depth. Blocks must close in the file that opens them.
  void parseBuffer(std::string_view text, const std::string& name, int depth) {
    if (tree_.files.size() >= limits_.maxFiles) {
      error_ = fmt::format("{}: more than {} files included", name, limits_.maxFiles);
      return;
    }
    const auto file = static_cast<uint32_t>(tree_.files.size());
    tree_.files.push_back(name);
    const size_t baseDepth = stack_.size();
    bool lastWasOpenable = false;  // the previous statement may take a `{` on the next line
    uint32_t lineNo = 0;
    size_t pos = 0;
    while (pos < text.size() && error_.empty()) {
      // One logical line: physical lines joined where one ends in a backslash.
      std::string line;
      const uint32_t firstLine = lineNo + 1;
      bool more = true;
      while (more) {
        if (pos >= text.size()) break;
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        std::string_view phys = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++lineNo;
        if (!phys.empty() && phys.back() == '\r') phys.remove_suffix(1);
        if (phys.find('\0') != std::string_view::npos) {
          setError(file, lineNo, "binary data (a NUL byte): not a keepalived.conf");
          return;
        }
        if (!phys.empty() && phys.back() == '\\' && pos < text.size()) {
          phys.remove_suffix(1);
          line.append(phys);
          line.push_back(' ');
        } else {
          line.append(phys);
          more = false;
        }
      }
      parseLine(line, file, firstLine, depth, baseDepth, lastWasOpenable);
    }
    if (!error_.empty()) return;
    if (stack_.size() > baseDepth) {
      const auto& open = stack_.back()->src;
      setError(file, lineNo,
               fmt::format("unterminated block: '{}' opened at line {} has no '}}'",
                           stack_.back()->key, open.line));
    }
  }

  void parseLine(const std::string& line, uint32_t file, uint32_t lineNo, int depth,
                 size_t baseDepth, bool& lastWasOpenable) {
    size_t i = 0;
    auto skipSpace = [&] {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\v' ||
                                 line[i] == '\f' || line[i] == '\r')) {
        ++i;
      }
    };
    skipSpace();
    std::string condition;
    bool conditionMet = true;
    if (i < line.size() && line[i] == '@') {
      const size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
      condition = line.substr(start, i - start);
      const bool negate = condition.size() > 1 && condition[1] == '^';
      const std::string id = condition.substr(negate ? 2 : 1);
      conditionMet = (id == limits_.configId) != negate;
      skipSpace();
    }
    std::vector<std::string> words;
    auto flush = [&]() {
      if (words.empty()) return;
      ConfNode n;
      n.key = std::move(words[0]);
      n.args.assign(std::make_move_iterator(words.begin() + 1),
                    std::make_move_iterator(words.end()));
      words.clear();
      n.src = SourceRef{file, lineNo, lineNo};
      n.condition = condition;
      n.conditionMet = conditionMet;
      addStatement(std::move(n), depth);
      lastWasOpenable = true;
    };
    while (i < line.size() && error_.empty()) {
      skipSpace();
      if (i >= line.size()) break;
      const char c = line[i];
      if (c == '!' || c == '#') break;  // a comment to the line's end
      if (c == '{') {
        ++i;
        if (!words.empty()) {
          flush();
        } else if (!lastWasOpenable) {
          setError(file, lineNo, "'{' without a statement before it");
          return;
        }
        openLast(file, lineNo);
        lastWasOpenable = false;
        continue;
      }
      if (c == '}') {
        ++i;
        flush();
        if (stack_.size() <= baseDepth) {
          setError(file, lineNo, "'}' without an open block");
          return;
        }
        stack_.back()->src.endLine = lineNo;
        stack_.pop_back();
        lastWasOpenable = false;
        continue;
      }
      std::string word;
      while (i < line.size()) {
        const char d = line[i];
        if (d == ' ' || d == '\t' || d == '{' || d == '}' || d == '\v' || d == '\f' || d == '\r') {
          break;
        }
        if (d == '"') {
          ++i;
          bool closed = false;
          while (i < line.size()) {
            if (line[i] == '\\' && i + 1 < line.size() &&
                (line[i + 1] == '"' || line[i + 1] == '\\')) {
              word.push_back(line[i + 1]);
              i += 2;
              continue;
            }
            if (line[i] == '"') {
              closed = true;
              ++i;
              break;
            }
            word.push_back(line[i++]);
          }
          if (!closed) {
            setError(file, lineNo, "unterminated quoted string");
            return;
          }
          continue;
        }
        word.push_back(d);
        ++i;
      }
      if (word.size() > limits_.maxWordBytes) {
        setError(file, lineNo, fmt::format("a word of more than {} bytes", limits_.maxWordBytes));
        return;
      }
      words.push_back(std::move(word));
    }
    flush();
  }

  void addStatement(ConfNode n, int depth) {
    if (++statements_ > limits_.maxStatements) {
      setError(n.src.file, n.src.line,
               fmt::format("more than {} statements", limits_.maxStatements));
      return;
    }
    // A statement excluded by its @ID stays in the tree (the importer reports it), but an
    // excluded include is not followed.
    if (n.key == "include" && n.conditionMet) {
      include(n, depth);
      lastIncluded_ = true;
      return;
    }
    lastIncluded_ = false;
    current().push_back(std::move(n));
  }

  // A `{` opens the block of the statement just added.
  void openLast(uint32_t file, uint32_t lineNo) {
    if (static_cast<int>(stack_.size()) >= limits_.maxBlockDepth) {
      setError(file, lineNo, fmt::format("blocks nested more than {} deep", limits_.maxBlockDepth));
      return;
    }
    if (lastIncluded_) {
      setError(file, lineNo, "'include' does not take a block");
      return;
    }
    auto& list = current();
    if (list.empty()) {
      setError(file, lineNo, "'{' without a statement before it");
      return;
    }
    // Never a block already: a `}` makes the next `{` need a statement of its own.
    ConfNode* target = &list.back();
    target->block = true;
    stack_.push_back(target);
  }

  void include(const ConfNode& n, int depth) {
    if (!limits_.allowInclude) {
      setError(n.src.file, n.src.line, "include is not allowed here");
      return;
    }
    if (n.args.size() != 1) {
      setError(n.src.file, n.src.line, "include takes one file name or pattern");
      return;
    }
    if (depth + 1 > limits_.maxIncludeDepth) {
      setError(n.src.file, n.src.line,
               fmt::format("includes nested more than {} deep", limits_.maxIncludeDepth));
      return;
    }
    std::string pattern = n.args[0];
    if (pattern.empty() || pattern[0] != '/') {
      pattern = dirOf(tree_.files[n.src.file]) + "/" + pattern;
    }
    glob_t g{};
    // glob(3) is MT-unsafe only through the locale and environment it reads; the parser runs
    // on anylbctl's one thread.
    const int rc = glob(pattern.c_str(), 0, nullptr, &g);  // NOLINT(concurrency-mt-unsafe)
    std::unique_ptr<glob_t, decltype(&globfree)> guard(&g, &globfree);
    if (rc == GLOB_NOMATCH) {
      tree_.emptyIncludes.push_back(n.src);
      tree_.emptyIncludePatterns.push_back(n.args[0]);
      return;
    }
    if (rc != 0) {
      setError(n.src.file, n.src.line, fmt::format("include {}: cannot list the files", n.args[0]));
      return;
    }
    for (size_t k = 0; k < g.gl_pathc && error_.empty(); ++k) {
      const std::string path = g.gl_pathv[k];
      const std::string real = realPath(path);
      if (real.empty()) {
        setError(n.src.file, n.src.line, fmt::format("include {}: cannot resolve", path));
        return;
      }
      if (!limits_.includeRoot.empty()) {
        const std::string root = realPath(limits_.includeRoot);
        if (root.empty() || real.rfind(root + "/", 0) != 0) {
          setError(n.src.file, n.src.line,
                   fmt::format("include {}: outside {}", path, limits_.includeRoot));
          return;
        }
      }
      for (const auto& a : active_) {
        if (a == real) {
          setError(n.src.file, n.src.line, fmt::format("include loop: {} includes itself", path));
          return;
        }
      }
      std::string content;
      if (!readFile(path, content, path)) {
        error_ = fmt::format("{}:{}: include {}", tree_.files[n.src.file], n.src.line, error_);
        return;
      }
      active_.push_back(real);
      parseBuffer(content, path, depth + 1);
      active_.pop_back();
    }
  }

  const ParseLimits& limits_;
  ConfTree tree_;
  std::vector<ConfNode*> stack_;     // open blocks, innermost last
  std::vector<std::string> active_;  // real paths of the files being read (include loops)
  std::string error_;
  size_t totalBytes_ = 0;
  size_t statements_ = 0;
  bool lastIncluded_ = false;
};

}  // namespace

ParseResult parseFile(const std::string& path, const ParseLimits& limits) {
  Parser p(limits);
  return p.run({}, path, true);
}

ParseResult parseText(std::string_view text, const std::string& name, const ParseLimits& limits) {
  Parser p(limits);
  return p.run(text, name, false);
}

}  // namespace anylb::ctl::keepalived
