// Writes the files of one DownloadArtifact stream below a destination in the
// job's working directory, so that a file appears under its name only once
// its size and SHA-256 match what the controller announced. Knows nothing
// about gRPC: feed it headers and data in stream order.
//
// Each file is written to a temporary file (".NAME.gantry-fetch-XXXXXX") in
// its final directory and renamed into place when it verifies (by its
// XXH3-128 when the header carries one, else its SHA-256); on any error
// the temporary file is removed, so no partial file is ever left under the
// real name. Files that verified before an error stay.
//
// Header paths are cleaned (common/artifact_path.h): "..", absolute paths and
// NUL are refused even though the controller sent them, and no directory is
// created or written through a symbolic link that leads out of the root.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/transfer_checksum.h"
#include "gantry/v1/types.pb.h"

namespace gantry::agent {

class FetchWriter {
 public:
  // `root`: real path of the job's working directory. `dest`: cleaned
  // destination relative to it ("" = root). `locator` names the source in
  // messages ("upstream/12/build/1/compile").
  FetchWriter(std::string root, std::string dest, std::string locator);
  // Removes an unfinished temporary file.
  ~FetchWriter();

  FetchWriter(const FetchWriter&) = delete;
  FetchWriter& operator=(const FetchWriter&) = delete;

  // Verifies and renames the previous file, then starts `file`.
  absl::Status BeginFile(const gantry::v1::ArtifactFile& file);
  // Data of the current file.
  absl::Status Append(std::string_view data);
  // Verifies and renames the last file. Errors as for BeginFile:
  //   checksum mismatch for PATH fetched from LOCATOR: expected X, got Y
  //   size mismatch for PATH fetched from LOCATOR: expected N bytes, got M
  absl::Status Finish();
  // Drops the current file without verifying it.
  void Abandon();

  int files() const { return files_; }
  int64_t bytes() const { return bytes_; }

 private:
  absl::Status FinishCurrent();

  const std::string root_;
  const std::string dest_;
  const std::string locator_;

  // The file being written, if any.
  int fd_ = -1;
  std::string tmp_path_;
  std::string final_path_;
  gantry::v1::ArtifactFile header_;
  TransferDigest digest_{false};  // by the XXH3-128 when header_ carries one

  int files_ = 0;
  int64_t bytes_ = 0;
};

}  // namespace gantry::agent
