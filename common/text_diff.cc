#include "common/text_diff.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gantry {
namespace {

enum class Op { kKeep, kDel, kAdd };
struct Line {
  Op op;
  std::string text;
};

std::vector<std::string> Lines(const std::string& s) {
  if (s.empty()) return {};
  std::vector<std::string> out = absl::StrSplit(s, '\n');
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

// Longest-common-subsequence edit script (deletions before additions, as
// diff prints them); config files are small, and past
// a size where the table would be large we fall back to replace-all.
std::vector<Line> EditScript(const std::vector<std::string>& a,
                             const std::vector<std::string>& b) {
  std::vector<Line> out;
  size_t n = a.size(), m = b.size();
  if (n * m > 16'000'000) {
    for (const auto& l : a) out.push_back({Op::kDel, l});
    for (const auto& l : b) out.push_back({Op::kAdd, l});
    return out;
  }
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1
                               : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out.push_back({Op::kKeep, a[i]});
      ++i, ++j;
    } else if (j < m && (i == n || lcs[i][j + 1] > lcs[i + 1][j])) {
      out.push_back({Op::kAdd, b[j++]});
    } else {
      out.push_back({Op::kDel, a[i++]});
    }
  }
  return out;
}

}  // namespace

std::string UnifiedDiff(const std::string& name, const std::string& before,
                        const std::string& after) {
  if (before == after) return "";
  std::vector<Line> script = EditScript(Lines(before), Lines(after));
  constexpr int kContext = 2;
  std::string out = absl::StrCat("--- a/", name, "\n+++ b/", name, "\n");
  // Mark which lines to print: changes plus context around them.
  std::vector<bool> show(script.size(), false);
  for (size_t k = 0; k < script.size(); ++k) {
    if (script[k].op == Op::kKeep) continue;
    size_t lo = k >= kContext ? k - kContext : 0;
    size_t hi = std::min(script.size() - 1, k + kContext);
    for (size_t x = lo; x <= hi; ++x) show[x] = true;
  }
  int old_line = 1, new_line = 1;
  size_t k = 0;
  while (k < script.size()) {
    if (!show[k]) {
      if (script[k].op != Op::kAdd) ++old_line;
      if (script[k].op != Op::kDel) ++new_line;
      ++k;
      continue;
    }
    size_t end = k;
    int old_count = 0, new_count = 0;
    while (end < script.size() && show[end]) {
      if (script[end].op != Op::kAdd) ++old_count;
      if (script[end].op != Op::kDel) ++new_count;
      ++end;
    }
    absl::StrAppend(&out, "@@ -", old_line, ",", old_count, " +", new_line, ",",
                    new_count, " @@\n");
    for (; k < end; ++k) {
      const char* prefix = script[k].op == Op::kKeep ? " "
                           : script[k].op == Op::kDel ? "-"
                                                      : "+";
      absl::StrAppend(&out, prefix, script[k].text, "\n");
    }
    old_line += old_count;
    new_line += new_count;
  }
  return out;
}

}  // namespace gantry
