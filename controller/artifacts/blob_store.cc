#include "controller/artifacts/blob_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace gantry {
namespace {

// Written data is handed to the disk every this many bytes, so the
// fdatasync in Commit finds little left to write instead of the whole file.
constexpr int64_t kWritebackBytes = 8 << 20;

// Files from this size on are hashed on a thread of their own: a thread
// costs more than hashing a small file inline.
constexpr int64_t kHashingThreadBytes = 8 << 20;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Another controller's upload in progress is never this old; what is, was
// left by a controller that stopped for good.
constexpr absl::Duration kStaleIncoming = absl::Hours(24);

// An owner's name as one path component.
std::string SafeName(const std::string& owner) {
  std::string name = owner.empty() ? "local" : owner;
  for (char& c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  }
  return name;
}

// The entries of `dir` (other owners' directories, files of versions before
// owners) last changed before `cutoff`, removed with what they hold. A
// running owner holds a lock on its directory (LockIncoming), so a directory
// is only removed when it is old and nobody holds it: an owner idle for a
// day keeps its directory.
void RemoveStaleIncoming(const std::string& dir, absl::Time cutoff) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    struct stat st;
    if (::lstat(entry.path().c_str(), &st) != 0 || absl::FromTimeT(st.st_mtime) >= cutoff) {
      continue;
    }
    int held = -1;
    if (S_ISDIR(st.st_mode)) {
      held = ::open(entry.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (held < 0) continue;
      if (::flock(held, LOCK_EX | LOCK_NB) != 0) {
        ::close(held);
        continue;  // its owner runs
      }
    }
    std::error_code remove_ec;
    std::filesystem::remove_all(entry.path(), remove_ec);
    if (held >= 0) ::close(held);
  }
}

}  // namespace

BlobStore::BlobStore(std::string root, const std::string& owner, int max_hashing_threads)
    : root_(std::move(root)),
      incoming_(absl::StrCat(root_, "/incoming/", SafeName(owner))),
      max_hashing_threads_(
          max_hashing_threads > 0
              ? max_hashing_threads
              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {}

BlobStore::~BlobStore() {
  absl::MutexLock lock(&incoming_mu_);
  if (incoming_lock_fd_ >= 0) ::close(incoming_lock_fd_);
}

absl::Status BlobStore::LockIncoming() const {
  if (auto st = MakeDirs(incoming_, 0700); !st.ok()) return st;
  int fd = ::open(incoming_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + incoming_);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    absl::Status st = Errno("lock " + incoming_);
    ::close(fd);
    return st;
  }
  absl::MutexLock lock(&incoming_mu_);
  if (incoming_lock_fd_ >= 0) ::close(incoming_lock_fd_);
  incoming_lock_fd_ = fd;
  return absl::OkStatus();
}

absl::Status BlobStore::Init() {
  std::error_code ec;
  std::filesystem::remove_all(incoming_, ec);
  RemoveStaleIncoming(root_ + "/incoming", absl::Now() - kStaleIncoming);
  // Artifacts are the controller's alone (docs/security.md): a store made
  // by an older controller is closed up here too.
  if (auto st = LockIncoming(); !st.ok()) return st;
  ::chmod((root_ + "/incoming").c_str(), 0700);
  if (auto st = MakeDirs(root_ + "/sha256", 0700); !st.ok()) return st;
  ::chmod(root_.c_str(), 0700);
  ::chmod((root_ + "/sha256").c_str(), 0700);
  return absl::OkStatus();
}

std::string BlobStore::PathOf(const std::string& sha256) const {
  return absl::StrCat(root_, "/sha256/", sha256.substr(0, 2), "/", sha256);
}

absl::StatusOr<std::unique_ptr<BlobStore::Writer>> BlobStore::Create(int64_t expected_size) const {
  std::string path = absl::StrCat(incoming_, "/", RandomHex(12));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT) {
    // Removed by a controller sharing the store whose filesystem does not
    // carry our lock to it (RemoveStaleIncoming): made and locked again.
    if (auto st = LockIncoming(); !st.ok()) return st;
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (fd < 0) return Errno("create " + path);
  auto writer = std::unique_ptr<Writer>(new Writer(this, path, fd));
  if (expected_size >= kHashingThreadBytes && TakeHashingSlot()) {
    try {
      writer->hashing_ = std::make_unique<HashingThread>();
    } catch (const std::system_error&) {
      hashing_threads_.fetch_sub(1);  // no thread to be had: hashed inline
    }
  }
  return writer;
}

bool BlobStore::TakeHashingSlot() const {
  int active = hashing_threads_.load();
  while (active < max_hashing_threads_) {
    if (hashing_threads_.compare_exchange_weak(active, active + 1)) return true;
  }
  return false;
}

std::string BlobStore::Writer::FinishHashing() {
  if (!hashing_) return hasher_.FinishHex();
  std::string digest = hashing_->Finish();
  hashing_.reset();
  store_->hashing_threads_.fetch_sub(1);
  return digest;
}

BlobStore::Writer::~Writer() {
  if (hashing_) FinishHashing();
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
}

absl::Status BlobStore::Writer::Append(std::string_view data) {
  if (hashing_) return Append(std::make_shared<const std::string>(data));
  hasher_.Update(data);
  return Write(data);
}

absl::Status BlobStore::Writer::Append(std::shared_ptr<const std::string> chunk) {
  // `chunk` stays held here until written: the hashing thread drops its
  // reference whenever it is done.
  if (hashing_) {
    hashing_->Push(chunk);
  } else {
    hasher_.Update(*chunk);
  }
  return Write(*chunk);
}

absl::Status BlobStore::Writer::Write(std::string_view data) {
  checksum_.Update(data);
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write " + path_);
    data.remove_prefix(static_cast<size_t>(n));
  }
  const int64_t written = size();
  if (written - written_back_ >= kWritebackBytes) {
    // Starts writeback without waiting for it. Only a head start: an I/O
    // error here is reported again by the fdatasync in Commit.
    ::sync_file_range(fd_, written_back_, written - written_back_, SYNC_FILE_RANGE_WRITE);
    written_back_ = written;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BlobStore::Writer::Commit(const std::string& claimed_sha256,
                                                      int64_t claimed_size) {
  auto digest = Verify(claimed_sha256, "", claimed_size);
  if (!digest.ok()) return digest.status();
  if (auto placed = Place(); !placed.ok()) return placed.status();
  return digest;
}

absl::StatusOr<std::string> BlobStore::Writer::Verify(const std::string& claimed_sha256,
                                                      const std::string& claimed_xxh128,
                                                      int64_t claimed_size) {
  int64_t got_size = size();
  std::string digest = FinishHashing();
  std::string xxh128 = checksum_.FinishHex();
  if (got_size != claimed_size) {
    return absl::DataLossError(
        absl::StrCat("received ", got_size, " bytes, the sender said ", claimed_size));
  }
  if (claimed_sha256.empty() && claimed_xxh128.empty()) {
    return absl::InvalidArgumentError("the upload's trailer carries no checksum");
  }
  if (!claimed_sha256.empty() && digest != claimed_sha256) {
    return absl::DataLossError(absl::StrCat("checksum mismatch: received sha256 ", digest,
                                            ", the sender computed ", claimed_sha256));
  }
  if (!claimed_xxh128.empty() && xxh128 != claimed_xxh128) {
    return absl::DataLossError(absl::StrCat("checksum mismatch: received xxh128 ", xxh128,
                                            ", the sender computed ", claimed_xxh128));
  }
  digest_ = digest;
  xxh128_ = xxh128;
  return digest;
}

absl::StatusOr<std::string> BlobStore::Writer::Place(bool sync_dir) {
  std::string final_path = store_->PathOf(digest_);
  // Identical content lands on the same path, so it is still kept once; the
  // verified copy always replaces what is there, which heals a stored blob
  // that was damaged on disk instead of serving it forever. Durable before
  // the rename, so the name never points at unsynced bytes.
  if (::fdatasync(fd_) != 0) return Errno("fsync " + path_);
  ::close(fd_);
  fd_ = -1;
  std::string dir = final_path.substr(0, final_path.rfind('/'));
  if (auto st = MakeDirs(dir, 0700); !st.ok()) return st;
  if (::rename(path_.c_str(), final_path.c_str()) != 0) return Errno("rename " + final_path);
  committed_ = true;
  // The rename itself must survive a crash too.
  if (sync_dir) SyncDir(dir);
  return dir;
}

void BlobStore::SyncDir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace {

bool IsHexName(const std::string& name, size_t length) {
  return name.size() == length && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The names of a directory's entries that pass `keep`, sorted.
std::vector<std::string> SortedNames(const std::string& dir,
                                     const std::function<bool(const std::string&)>& keep) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (keep(name)) names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::vector<std::string> BlobStore::ListDigests(const std::string& after, size_t limit,
                                                absl::Time older_than) const {
  std::vector<std::string> out;
  const std::string top = root_ + "/sha256";
  const std::string after_prefix = after.substr(0, 2);
  for (const std::string& prefix : SortedNames(
           top, [&](const std::string& n) { return IsHexName(n, 2) && n >= after_prefix; })) {
    const std::string dir = top + "/" + prefix;
    for (const std::string& digest :
         SortedNames(dir, [&](const std::string& n) { return IsHexName(n, 64) && n > after; })) {
      struct stat st;
      if (::stat((dir + "/" + digest).c_str(), &st) != 0 ||
          absl::FromTimeT(st.st_mtime) >= older_than) {
        continue;
      }
      out.push_back(digest);
      if (out.size() >= limit) return out;
    }
  }
  return out;
}

BlobStore::Pin BlobStore::PinDigest(const std::string& sha256) {
  absl::MutexLock lock(&mu_);
  struct Wait {
    const std::set<std::string>* deciding;
    const std::string* digest;
  } wait{&deciding_, &sha256};
  mu_.Await(absl::Condition(
      +[](Wait* w) { return w->deciding->count(*w->digest) == 0; }, &wait));
  ++pinned_[sha256];
  return Pin(this, sha256);
}

BlobStore::Pin::~Pin() {
  if (store_ != nullptr) store_->Unpin(sha256_);
}

void BlobStore::Unpin(const std::string& sha256) {
  absl::MutexLock lock(&mu_);
  auto it = pinned_.find(sha256);
  if (it != pinned_.end() && --it->second == 0) pinned_.erase(it);
}

absl::StatusOr<BlobStore::Removed> BlobStore::RemoveUnreferenced(
    const std::vector<std::string>& digests, const ReferencedFn& referenced) {
  std::vector<std::string> held;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& d : std::set<std::string>(digests.begin(), digests.end())) {
      if (pinned_.count(d) > 0 || deciding_.count(d) > 0) continue;
      deciding_.insert(d);
      held.push_back(d);
    }
  }
  Removed removed;
  absl::StatusOr<std::set<std::string>> in_use =
      held.empty() ? std::set<std::string>() : referenced(held);
  if (in_use.ok()) {
    for (const std::string& d : held) {
      if (in_use->count(d) > 0) continue;
      std::string path = PathOf(d);
      struct stat st;
      int64_t size = ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
      if (::unlink(path.c_str()) == 0) {
        ++removed.files;
        removed.bytes += size;
      }
    }
  }
  absl::MutexLock lock(&mu_);
  for (const std::string& d : held) deciding_.erase(d);
  if (!in_use.ok()) return in_use.status();
  return removed;
}

}  // namespace gantry
