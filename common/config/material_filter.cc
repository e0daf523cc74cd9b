#include "common/config/material_filter.h"

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gantry::config {
namespace {

// One segment against one segment pattern with `*` and `?`.
bool SegmentMatches(absl::string_view pat, absl::string_view s) {
  size_t p = 0, i = 0, star = absl::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == s[i])) {
      ++p;
      ++i;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool SegmentsMatch(const std::vector<absl::string_view>& pat, size_t pi,
                   const std::vector<absl::string_view>& path, size_t si) {
  if (pi == pat.size()) return si == path.size();
  if (pat[pi] == "**") {
    for (size_t k = si; k <= path.size(); ++k) {
      if (SegmentsMatch(pat, pi + 1, path, k)) return true;
    }
    return false;
  }
  if (si == path.size()) return false;
  return SegmentMatches(pat[pi], path[si]) && SegmentsMatch(pat, pi + 1, path, si + 1);
}

}  // namespace

bool PathMatchesPattern(absl::string_view pattern, absl::string_view path) {
  absl::ConsumePrefix(&pattern, "./");
  absl::ConsumePrefix(&pattern, "/");
  while (absl::ConsumeSuffix(&pattern, "/")) {
  }
  if (pattern.empty()) return false;
  std::vector<absl::string_view> pat = absl::StrSplit(pattern, '/', absl::SkipEmpty());
  std::vector<absl::string_view> segs = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (SegmentsMatch(pat, 0, segs, 0)) return true;
  // A directory matches what is below it.
  pat.push_back("**");
  return SegmentsMatch(pat, 0, segs, 0);
}

bool FilesTrigger(const Material& material, const std::vector<std::string>& files) {
  if (files.empty()) return true;
  auto matches_any = [](const std::vector<std::string>& patterns, const std::string& file) {
    for (const auto& p : patterns) {
      if (PathMatchesPattern(p, file)) return true;
    }
    return false;
  };
  if (!material.includes.empty()) {
    for (const auto& f : files) {
      if (matches_any(material.includes, f)) return true;
    }
    return false;
  }
  if (!material.ignore.empty()) {
    for (const auto& f : files) {
      if (!matches_any(material.ignore, f)) return true;
    }
    return false;
  }
  return true;
}

}  // namespace gantry::config
