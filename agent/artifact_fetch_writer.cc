#include "agent/artifact_fetch_writer.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/artifact_fs.h"
#include "common/artifact_path.h"

namespace gantry::agent {

FetchWriter::FetchWriter(std::string root, std::string dest,
                         std::string locator)
    : root_(std::move(root)),
      dest_(std::move(dest)),
      locator_(std::move(locator)) {}

FetchWriter::~FetchWriter() { Abandon(); }

void FetchWriter::Abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!tmp_path_.empty()) {
    ::unlink(tmp_path_.c_str());
    tmp_path_.clear();
  }
}

absl::Status FetchWriter::BeginFile(const gantry::v1::ArtifactFile& file) {
  if (absl::Status s = FinishCurrent(); !s.ok()) return s;
  auto path = CleanArtifactPath(file.path());
  if (!path.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("refusing file '", file.path(), "' fetched from ",
                     locator_, ": ", path.status().message()));
  }
  if (file.size() < 0) {
    return absl::DataLossError(absl::StrCat("file ", *path, " fetched from ",
                                            locator_, " has a negative size"));
  }
  std::string full = JoinArtifactPath(dest_, *path);
  size_t slash = full.rfind('/');
  std::string parent_rel =
      slash == std::string::npos ? "" : full.substr(0, slash);
  std::string name = slash == std::string::npos ? full : full.substr(slash + 1);
  auto parent = MakeDirsInside(root_, parent_rel);
  if (!parent.ok()) {
    return absl::Status(
        parent.status().code(),
        absl::StrCat("cannot write ", *path, " fetched from ", locator_, ": ",
                     parent.status().message()));
  }
  std::string tmpl = absl::StrCat(*parent, "/.", name, ".gantry-fetch-XXXXXX");
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", *path, " fetched from ", locator_, ": ",
                     std::strerror(errno)));
  }
  fd_ = fd;
  tmp_path_ = tmpl;
  final_path_ = absl::StrCat(*parent, "/", name);
  header_ = file;
  header_.set_path(*path);
  digest_ = TransferDigest(!file.xxh128().empty());
  return absl::OkStatus();
}

absl::Status FetchWriter::Append(std::string_view data) {
  if (fd_ < 0) {
    return absl::DataLossError(absl::StrCat(
        "data without a file header in the stream from ", locator_));
  }
  if (static_cast<int64_t>(digest_.bytes() + data.size()) > header_.size()) {
    return absl::DataLossError(absl::StrCat(
        "size mismatch for ", header_.path(), " fetched from ", locator_,
        ": expected ", header_.size(), " bytes, got more"));
  }
  digest_.Update(data);
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write ", header_.path(), " fetched from ",
                       locator_, ": ", std::strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status FetchWriter::Finish() { return FinishCurrent(); }

absl::Status FetchWriter::FinishCurrent() {
  if (fd_ < 0) return absl::OkStatus();
  const std::string& path = header_.path();
  const int64_t got_size = static_cast<int64_t>(digest_.bytes());
  std::string got = digest_.FinishHex();
  if (got_size != header_.size()) {
    Abandon();
    return absl::DataLossError(
        absl::StrCat("size mismatch for ", path, " fetched from ", locator_,
                     ": expected ", header_.size(), " bytes, got ", got_size));
  }
  std::string expected =
      absl::AsciiStrToLower(digest_.xxh128() ? header_.xxh128() : header_.sha256());
  if (got != expected) {
    Abandon();
    return absl::DataLossError(absl::StrCat(
        "checksum mismatch for ", path, " fetched from ", locator_, ": expected ",
        digest_.xxh128() ? "xxh128 " : "", expected.empty() ? "(none)" : expected, ", got ", got));
  }
  ::fchmod(fd_, header_.executable() ? 0755 : 0644);
  int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0 || ::rename(tmp_path_.c_str(), final_path_.c_str()) != 0) {
    std::string why = std::strerror(errno);
    Abandon();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path, " fetched from ", locator_, ": ",
                     final_path_, ": ", why));
  }
  tmp_path_.clear();
  ++files_;
  bytes_ += got_size;
  return absl::OkStatus();
}

}  // namespace gantry::agent
