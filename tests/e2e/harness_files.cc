#include "tests/e2e/harness_files.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace gantry::e2e {

namespace fs = std::filesystem;

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  std::string tmpl = absl::StrCat("/tmp/", prefix, "-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, ": ", strerror(errno)));
  }
  ::chmod(tmpl.c_str(), 0755);
  return tmpl;
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) std::cerr << "e2e: cannot remove " << path << ": " << ec.message() << "\n";
}

std::string TailLines(const std::string& text, size_t lines) {
  std::string t(absl::StripTrailingAsciiWhitespace(text));
  size_t pos = t.size();
  for (size_t i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = t.rfind('\n', pos - 1);
  }
  if (pos != std::string::npos && pos < t.size()) return t.substr(pos + 1);
  return t;
}

std::string ReadOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> s = ReadFile(path);
  return s.ok() ? *s : "";
}

}  // namespace gantry::e2e
