// The controller's artifact bytes, content-addressed so identical files are
// kept once:
//
//   ROOT/sha256/ab/abcdef…   one read-only file per distinct content
//   ROOT/incoming/OWNER/…    one controller's uploads in progress (cleared
//                            when it starts; two controllers may share ROOT)
//
// A Writer hashes as it writes (SHA-256, which names the content, and the
// XXH3-128 transfer checksum, common/transfer_checksum.h), so an upload of
// any size costs one chunk of memory, and only a file whose size and
// checksum match what the sender claims becomes visible.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/crypto.h"
#include "common/transfer_checksum.h"
#include "controller/artifacts/hashing_thread.h"

namespace gantry {

class BlobStore {
 public:
  // `owner` names this controller's uploads in progress (its id), so that
  // controllers sharing ROOT never clear each other's. At most
  // `max_hashing_threads` uploads at once hash on a thread of their own (0:
  // one per core); the others hash inline, so a hundred concurrent big
  // uploads do not start a hundred threads.
  explicit BlobStore(std::string root, const std::string& owner = "local",
                     int max_hashing_threads = 0);
  ~BlobStore();
  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;

  // Creates the directories, removes the uploads this owner's crash left
  // behind, and those of other owners (or of versions before owners) that
  // are a day old and whose owner holds no lock on them: a controller that
  // no longer runs. Holds such a lock (flock) on its own until destroyed.
  absl::Status Init();

  class Writer {
   public:
    ~Writer();  // removes the incoming file unless committed
    // Hashes and writes `data`; starts writing every few MiB back to disk
    // meanwhile, so Commit's sync is short.
    absl::Status Append(std::string_view data);
    // The same for a chunk the writer may keep: a big upload's SHA-256 is
    // computed on a thread of its own (hashing_thread.h) meanwhile.
    absl::Status Append(std::shared_ptr<const std::string> chunk);
    int64_t size() const { return static_cast<int64_t>(checksum_.bytes()); }
    // Whether the SHA-256 is computed on a thread of its own.
    bool hashes_on_own_thread() const { return hashing_ != nullptr; }
    // Checks the content against the sender's claim, makes it durable and
    // moves it into place (or drops it when that content is stored already).
    // Returns the digest. DATA_LOSS on a mismatch. Verify, then Place.
    absl::StatusOr<std::string> Commit(const std::string& claimed_sha256, int64_t claimed_size);
    // The first half of Commit: the checks, against whichever of the
    // SHA-256 and the XXH3-128 the sender claims (at least one). Returns the
    // SHA-256. The file stays open and unsynced.
    absl::StatusOr<std::string> Verify(const std::string& claimed_sha256,
                                       const std::string& claimed_xxh128, int64_t claimed_size);
    // The XXH3-128 of the content, once Verify succeeded.
    const std::string& xxh128() const { return xxh128_; }
    // The second half, after Verify: fdatasync and rename into place. With
    // `sync_dir` false the caller fsyncs the returned directory itself (once
    // for many files). Returns that directory.
    absl::StatusOr<std::string> Place(bool sync_dir = true);

   private:
    friend class BlobStore;
    Writer(const BlobStore* store, std::string path, int fd)
        : store_(store), path_(std::move(path)), fd_(fd) {}
    const BlobStore* store_;
    std::string path_;
    int fd_;
    absl::Status Write(std::string_view data);
    // Joins the hashing thread, if any, and gives its slot back.
    std::string FinishHashing();

    Sha256Hasher hasher_;
    std::unique_ptr<HashingThread> hashing_;  // instead of hasher_, for big files
    TransferChecksum checksum_;               // of every byte written
    int64_t written_back_ = 0;  // bytes whose writeback was started
    std::string digest_;        // set by Verify
    std::string xxh128_;        // set by Verify
    bool committed_ = false;
  };

  // `expected_size`: what the sender announced; a big file is hashed on a
  // thread of its own.
  absl::StatusOr<std::unique_ptr<Writer>> Create(int64_t expected_size = 0) const;
  std::string PathOf(const std::string& sha256) const;
  // fsync of a directory Place(false) returned: its renames survive a crash.
  static void SyncDir(const std::string& dir);

  // Held by an upload from before its file moves into place until the row
  // naming it is committed (or the upload failed): retention never deletes
  // a pinned digest's file. Pinning waits while retention is deciding about
  // that digest, so the two never interleave.
  class Pin {
   public:
    Pin(Pin&& other) noexcept : store_(other.store_), sha256_(std::move(other.sha256_)) {
      other.store_ = nullptr;
    }
    Pin& operator=(Pin&&) = delete;
    ~Pin();

   private:
    friend class BlobStore;
    Pin(BlobStore* store, std::string sha256) : store_(store), sha256_(std::move(sha256)) {}
    BlobStore* store_;
    std::string sha256_;
  };
  Pin PinDigest(const std::string& sha256);

  // Which of some digests artifact rows still name (asked of the database).
  using ReferencedFn =
      std::function<absl::StatusOr<std::set<std::string>>(const std::vector<std::string>&)>;
  struct Removed {
    int64_t files = 0;
    int64_t bytes = 0;
  };
  // Deletes the files of those of `digests` no upload has pinned and
  // `referenced` does not name. `referenced` runs without the lock while
  // those digests are held against new pins, so an upload of the same
  // content either is seen by it or starts after the file is gone.
  absl::StatusOr<Removed> RemoveUnreferenced(const std::vector<std::string>& digests,
                                             const ReferencedFn& referenced);

  // Up to `limit` stored digests greater than `after`, in order, of files
  // last changed before `older_than`: retention's sweep for blobs no row
  // names (an upload that stopped between moving its file into place and
  // committing its row, a crash in between) walks the store with it.
  std::vector<std::string> ListDigests(const std::string& after, size_t limit,
                                       absl::Time older_than) const;

 private:
  void Unpin(const std::string& sha256);
  bool TakeHashingSlot() const;
  // Makes this owner's incoming directory and locks it.
  absl::Status LockIncoming() const;

  std::string root_;
  std::string incoming_;  // ROOT/incoming/OWNER
  mutable absl::Mutex incoming_mu_;
  mutable int incoming_lock_fd_ ABSL_GUARDED_BY(incoming_mu_) = -1;  // flock held
  const int max_hashing_threads_;
  mutable std::atomic<int> hashing_threads_{0};
  absl::Mutex mu_;
  std::map<std::string, int> pinned_ ABSL_GUARDED_BY(mu_);  // digest -> uploads
  std::set<std::string> deciding_ ABSL_GUARDED_BY(mu_);     // held by retention
};

}  // namespace gantry
