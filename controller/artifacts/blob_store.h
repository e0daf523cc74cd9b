// The controller's artifact bytes, content-addressed so identical files are
// kept once:
//
//   ROOT/sha256/ab/abcdef…   one read-only file per distinct content
//   ROOT/incoming/…          uploads in progress (cleared at start-up)
//
// A Writer hashes as it writes, so an upload of any size costs one chunk of
// memory, and only a file whose digest and size match what the sender
// claims becomes visible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto.h"

namespace gantry {

class BlobStore {
 public:
  explicit BlobStore(std::string root) : root_(std::move(root)) {}

  // Creates the directories and removes uploads a crash left behind.
  absl::Status Init();

  class Writer {
   public:
    ~Writer();  // removes the incoming file unless committed
    // Hashes and writes `data`; starts writing every few MiB back to disk
    // meanwhile, so Commit's sync is short.
    absl::Status Append(std::string_view data);
    int64_t size() const { return static_cast<int64_t>(hasher_.bytes()); }
    // Checks the content against the sender's claim, makes it durable and
    // moves it into place (or drops it when that content is stored already).
    // Returns the digest. DATA_LOSS on a mismatch.
    absl::StatusOr<std::string> Commit(const std::string& claimed_sha256, int64_t claimed_size);

   private:
    friend class BlobStore;
    Writer(const BlobStore* store, std::string path, int fd)
        : store_(store), path_(std::move(path)), fd_(fd) {}
    const BlobStore* store_;
    std::string path_;
    int fd_;
    Sha256Hasher hasher_;
    int64_t written_back_ = 0;  // bytes whose writeback was started
    bool committed_ = false;
  };

  absl::StatusOr<std::unique_ptr<Writer>> Create() const;
  std::string PathOf(const std::string& sha256) const;

 private:
  std::string root_;
};

}  // namespace gantry
