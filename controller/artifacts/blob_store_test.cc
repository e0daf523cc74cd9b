#include "controller/artifacts/blob_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/files.h"
#include "common/transfer_checksum.h"

namespace gantry {
namespace {

class ArtifactBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/blob_store_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    store_ = std::make_unique<BlobStore>(root_);
    ASSERT_TRUE(store_->Init().ok());
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  bool IncomingEmpty() const {
    return std::filesystem::is_empty(std::filesystem::path(root_) / "incoming" / "local");
  }

  // Appends `content` in pieces of `piece` bytes and commits it.
  absl::StatusOr<std::string> Store(const std::string& content, size_t piece,
                                    const std::string& claimed_sha256, int64_t claimed_size) {
    auto writer = store_->Create();
    if (!writer.ok()) return writer.status();
    for (size_t off = 0; off < content.size(); off += piece) {
      if (auto st = (*writer)->Append(std::string_view(content).substr(off, piece)); !st.ok()) {
        return st;
      }
    }
    return (*writer)->Commit(claimed_sha256, claimed_size);
  }

  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

// A file larger than the writeback interval, appended in uneven pieces,
// lands whole under its digest and leaves nothing in incoming/.
TEST_F(ArtifactBlobStoreTest, LargeFileStoredUnderItsDigest) {
  std::string content(21 * 1024 * 1024 + 123, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 + i / 7);
  const std::string sha = Sha256Hex(content);
  auto digest = Store(content, 1000003, sha, static_cast<int64_t>(content.size()));
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, sha);
  auto stored = ReadFile(store_->PathOf(sha));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored == content);
  EXPECT_TRUE(IncomingEmpty());
}

// A file announced big is hashed on its own thread from shared chunks, and
// a sender that claims only the XXH3-128 gets the same SHA-256 name.
TEST_F(ArtifactBlobStoreTest, BigFileCheckedByXxh128IsNamedBySha256) {
  std::string content(17 * 1024 * 1024 + 5, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31 + i / 11);
  auto writer = store_->Create(static_cast<int64_t>(content.size()));
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (size_t off = 0; off < content.size(); off += 131072) {
    auto chunk = std::make_shared<const std::string>(content.substr(off, 131072));
    ASSERT_TRUE((*writer)->Append(std::move(chunk)).ok());
  }
  const std::string xxh = TransferChecksumHex(content);
  auto digest = (*writer)->Verify("", xxh, static_cast<int64_t>(content.size()));
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, Sha256Hex(content));
  EXPECT_EQ((*writer)->xxh128(), xxh);
  ASSERT_TRUE((*writer)->Place().ok());
  auto stored = ReadFile(store_->PathOf(*digest));
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(*stored == content);
}

// Big uploads beyond the store's hashing threads hash inline, with the
// same result, and a finished upload's thread is free for the next one.
TEST_F(ArtifactBlobStoreTest, HashingThreadsAreBounded) {
  BlobStore store(root_, "local", 2);
  const int64_t big = 64 << 20;
  auto first = store.Create(big);
  auto second = store.Create(big);
  auto third = store.Create(big);
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  EXPECT_TRUE((*first)->hashes_on_own_thread());
  EXPECT_TRUE((*second)->hashes_on_own_thread());
  EXPECT_FALSE((*third)->hashes_on_own_thread());
  EXPECT_FALSE(store.Create(1 << 20).value()->hashes_on_own_thread());  // small: never

  const std::string content(9 << 20, 'x');
  for (auto* writer : {&*first, &*third}) {
    ASSERT_TRUE((*writer)->Append(std::make_shared<const std::string>(content)).ok());
    auto digest =
        (*writer)->Verify("", TransferChecksumHex(content), static_cast<int64_t>(content.size()));
    ASSERT_TRUE(digest.ok()) << digest.status();
    EXPECT_EQ(*digest, Sha256Hex(content));
  }
  // The first upload's verification ended its thread.
  auto fourth = store.Create(big);
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE((*fourth)->hashes_on_own_thread());
  // An abandoned upload gives its thread back too.
  second->reset();
  EXPECT_TRUE(store.Create(big).value()->hashes_on_own_thread());
}

// Two controllers share one store (docs/operations.md): one starting does
// not clear the other's upload in progress, even when that one was idle for
// a day, only what a controller that no longer runs left a day ago; and a
// store whose directory went anyway (a filesystem without flock) still
// takes uploads.
TEST_F(ArtifactBlobStoreTest, ControllersSharingAStoreKeepEachOthersUploads) {
  namespace fs = std::filesystem;
  BlobStore a(root_, "ctl-a"), b(root_, "ctl-b");
  ASSERT_TRUE(a.Init().ok());
  auto upload = a.Create();
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append("in flight").ok());
  const fs::path incoming = fs::path(root_) / "incoming";
  const absl::Time two_days_ago = absl::Now() - absl::Hours(48);
  auto make_old = [&](const fs::path& path) {
    struct timespec times[2];
    times[0] = times[1] = absl::ToTimespec(two_days_ago);
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
  };
  ASSERT_TRUE(MakeDirs((incoming / "gone").string()).ok());
  ASSERT_TRUE(WriteFileAtomic((incoming / "gone" / "x").string(), "left", 0600).ok());
  make_old(incoming / "gone");
  ASSERT_TRUE(WriteFileAtomic((incoming / "legacy").string(), "old version", 0600).ok());
  make_old(incoming / "legacy");
  ASSERT_TRUE(MakeDirs((incoming / "recent").string()).ok());
  // ctl-a idle for two days: old, but its owner runs and holds its lock.
  make_old(incoming / "ctl-a");

  ASSERT_TRUE(b.Init().ok());
  EXPECT_TRUE(fs::exists(incoming / "ctl-a"));
  EXPECT_FALSE(fs::exists(incoming / "gone"));
  EXPECT_FALSE(fs::exists(incoming / "legacy"));
  EXPECT_TRUE(fs::exists(incoming / "recent"));
  EXPECT_TRUE(fs::exists(incoming / "ctl-b"));
  auto digest = (*upload)->Commit(Sha256Hex("in flight"), 9);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(ReadFile(a.PathOf(*digest)).value_or(""), "in flight");

  // ctl-a's directory removed as stale by another controller: recreated.
  fs::remove_all(incoming / "ctl-a");
  auto next = a.Create();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE((*next)->Append("again").ok());
  EXPECT_TRUE((*next)->Commit(Sha256Hex("again"), 5).ok());
}

TEST_F(ArtifactBlobStoreTest, WrongOrMissingXxh128IsRefused) {
  const std::string content = "some bytes";
  for (const std::string& claim : {TransferChecksumHex("other bytes"), std::string()}) {
    auto writer = store_->Create();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(content).ok());
    auto digest = (*writer)->Verify("", claim, static_cast<int64_t>(content.size()));
    ASSERT_FALSE(digest.ok());
    if (claim.empty()) {
      EXPECT_TRUE(absl::IsInvalidArgument(digest.status())) << digest.status();
    } else {
      EXPECT_TRUE(absl::IsDataLoss(digest.status())) << digest.status();
      EXPECT_NE(digest.status().message().find("xxh128"), std::string::npos);
    }
  }
  EXPECT_TRUE(IncomingEmpty());
}

// The sweep's listing: digest order, from a cursor, at most `limit`, only
// files older than the cutoff, nothing but 64-hex names.
TEST_F(ArtifactBlobStoreTest, ListDigestsWalksInOrderFromACursor) {
  std::vector<std::string> digests;
  for (int i = 0; i < 6; ++i) {
    std::string content = "blob " + std::to_string(i);
    auto d = Store(content, 3, Sha256Hex(content), static_cast<int64_t>(content.size()));
    ASSERT_TRUE(d.ok()) << d.status();
    digests.push_back(*d);
  }
  std::sort(digests.begin(), digests.end());
  // Not blobs: a stray file and a short name.
  ASSERT_TRUE(
      WriteFileAtomic(root_ + "/sha256/" + digests[0].substr(0, 2) + "/notes.txt", "x").ok());
  ASSERT_TRUE(WriteFileAtomic(root_ + "/sha256/" + digests[0].substr(0, 2) + "/abc", "x").ok());
  const absl::Time later = absl::Now() + absl::Minutes(1);
  EXPECT_EQ(store_->ListDigests("", 100, later), digests);
  EXPECT_EQ(store_->ListDigests("", 2, later),
            std::vector<std::string>(digests.begin(), digests.begin() + 2));
  EXPECT_EQ(store_->ListDigests(digests[1], 3, later),
            std::vector<std::string>(digests.begin() + 2, digests.begin() + 5));
  EXPECT_EQ(store_->ListDigests(digests[5], 3, later), std::vector<std::string>{});
  // Files changed after the cutoff are left out.
  EXPECT_EQ(store_->ListDigests("", 100, absl::Now() - absl::Minutes(1)),
            std::vector<std::string>{});
}

// A digest that differs from the sender's is DATA_LOSS, and the received
// bytes are dropped rather than stored.
TEST_F(ArtifactBlobStoreTest, ChecksumMismatchIsDataLossAndStoresNothing) {
  const std::string content = "hello artifact";
  const std::string wrong = Sha256Hex("something else");
  auto digest = Store(content, 4, wrong, static_cast<int64_t>(content.size()));
  EXPECT_EQ(digest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(FileExists(store_->PathOf(Sha256Hex(content))));
  EXPECT_FALSE(FileExists(store_->PathOf(wrong)));
  EXPECT_TRUE(IncomingEmpty());
}

// Fewer bytes than the header claimed is DATA_LOSS too.
TEST_F(ArtifactBlobStoreTest, SizeMismatchIsDataLoss) {
  const std::string content = "short";
  auto digest = Store(content, 2, Sha256Hex(content), 6);
  EXPECT_EQ(digest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(IncomingEmpty());
}

// A writer dropped before Commit (a cancelled upload) removes its file.
TEST_F(ArtifactBlobStoreTest, AbandonedWriterRemovesIncomingFile) {
  {
    auto writer = store_->Create();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(std::string(9 << 20, 'x')).ok());
    EXPECT_FALSE(IncomingEmpty());
  }
  EXPECT_TRUE(IncomingEmpty());
}

// A verified upload replaces a stored blob that was damaged on disk.
TEST_F(ArtifactBlobStoreTest, VerifiedUploadReplacesDamagedBlob) {
  const std::string content = "the good bytes";
  const std::string sha = Sha256Hex(content);
  ASSERT_TRUE(Store(content, 5, sha, static_cast<int64_t>(content.size())).ok());
  std::filesystem::permissions(store_->PathOf(sha), std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  ASSERT_TRUE(WriteFileAtomic(store_->PathOf(sha), "the bad bytes!").ok());
  ASSERT_TRUE(Store(content, 5, sha, static_cast<int64_t>(content.size())).ok());
  auto stored = ReadFile(store_->PathOf(sha));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, content);
}

// Retention deletes only blobs nothing names: a digest the database still
// references stays, one an upload holds (pinned until its row commits)
// stays, and the rest go; the referenced check sees only unpinned digests.
TEST_F(ArtifactBlobStoreTest, RemoveUnreferencedSparesReferencedAndPinnedBlobs) {
  std::vector<std::string> digests;
  for (const std::string content : {"gone", "still named", "being uploaded"}) {
    const std::string sha = Sha256Hex(content);
    ASSERT_TRUE(Store(content, 4, sha, static_cast<int64_t>(content.size())).ok());
    digests.push_back(sha);
  }
  BlobStore::Pin pin = store_->PinDigest(digests[2]);
  std::vector<std::string> asked;
  auto removed = store_->RemoveUnreferenced(
      {digests[0], digests[1], digests[2], digests[0]},
      [&](const std::vector<std::string>& ds) -> absl::StatusOr<std::set<std::string>> {
        asked = ds;
        return std::set<std::string>{digests[1]};
      });
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->files, 1);
  EXPECT_EQ(removed->bytes, 4);
  EXPECT_EQ(asked.size(), 2u);  // each digest once, the pinned one not at all
  EXPECT_FALSE(std::filesystem::exists(store_->PathOf(digests[0])));
  EXPECT_TRUE(std::filesystem::exists(store_->PathOf(digests[1])));
  EXPECT_TRUE(std::filesystem::exists(store_->PathOf(digests[2])));
}

// When the database cannot say, nothing is deleted and the error comes back.
TEST_F(ArtifactBlobStoreTest, RemoveUnreferencedDeletesNothingOnError) {
  const std::string sha = Sha256Hex("kept");
  ASSERT_TRUE(Store("kept", 4, sha, 4).ok());
  auto removed = store_->RemoveUnreferenced(
      {sha}, [](const std::vector<std::string>&) -> absl::StatusOr<std::set<std::string>> {
        return absl::UnavailableError("database away");
      });
  EXPECT_TRUE(absl::IsUnavailable(removed.status())) << removed.status();
  EXPECT_TRUE(std::filesystem::exists(store_->PathOf(sha)));
  // The digest is free again: an upload can pin it.
  BlobStore::Pin pin = store_->PinDigest(sha);
}

}  // namespace
}  // namespace gantry
