// The download reactors of artifact_streams.h: an agent's fetch and the
// operator's `artifact get`.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>

#include "absl/strings/internal/resize_uninitialized.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "controller/artifacts/artifact_traffic.h"
#include "controller/rpc/artifact_streams.h"

namespace gantry::rpc {
namespace {

// Download message payload. 1 MiB messages made 1 GiB downloads slower on
// the artifacts bench (the receiver pays for a fresh buffer per message);
// 256 KiB ones were a little faster than 64 KiB (416-438 against 389-392
// MiB/s, two runs each at low load). The read-ahead below is what removes
// the wait for the disk.
constexpr size_t kDownloadChunkBytes = 256 << 10;

// Sends a list of stored files: for each a header, then its bytes. Two
// message slots: a pool task reads the next message from disk into one while
// gRPC sends the other. Finish waits for both to be idle.
class FileStreamReactor final : public grpc::ServerWriteReactor<v1::ArtifactStreamChunk> {
 public:
  using Resolve =
      std::function<absl::StatusOr<std::vector<FetchedFile>>(ArtifactService*, store::Db&)>;

  FileStreamReactor(ArtifactService* service, Resolve resolve)
      : service_(service), resolve_(std::move(resolve)) {
    filling_ = true;
    service_->pool().WithDb([this](store::Db& db) {
      auto files = resolve_(service_, db);
      if (!files.ok()) return Filled(files.status(), false);
      files_ = std::move(*files);
      Fill();
    });
  }

  ~FileStreamReactor() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void OnWriteDone(bool ok) override {
    Next next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok && error_.ok()) {
        error_ = grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled");
      }
      next = Decide();
    }
    Run(next);
  }

  void OnDone() override { delete this; }

 private:
  // What Decide() started; done by Run() outside the lock.
  struct Next {
    v1::ArtifactStreamChunk* write = nullptr;
    bool fill = false;
    bool finish = false;
    grpc::Status status;
  };

  // Under mu_: starts whatever may run now and marks it outstanding.
  Next Decide() {
    Next next;
    if (finished_) return next;
    if (!error_.ok()) {
      if (!writing_ && !filling_) {
        finished_ = true;
        next.finish = true;
        next.status = error_;
      }
      return next;
    }
    if (!writing_ && ready_ > 0) {
      writing_ = true;
      --ready_;
      next.write = &slots_[send_];
      send_ ^= 1;
    }
    const int free_slots = 2 - ready_ - (writing_ ? 1 : 0);
    if (!filling_ && !at_end_ && free_slots > 0) {
      filling_ = true;
      next.fill = true;
    }
    if (at_end_ && ready_ == 0 && !writing_ && !filling_) {
      finished_ = true;
      next.finish = true;
      next.status = grpc::Status::OK;
    }
    return next;
  }

  // Outside mu_; after Finish the reactor may be gone.
  void Run(const Next& next) {
    if (next.fill) service_->pool().Post([this] { Fill(); });
    if (next.write != nullptr) StartWrite(next.write);
    if (next.finish) Finish(next.status);
  }

  // Pool: puts the next header or chunk into the free slot, or notes the end.
  void Fill() {
    // The slot at fill_ is neither ready nor being sent: this task owns it.
    absl::StatusOr<bool> produced = Produce(slots_[fill_]);
    if (absl::IsDataLoss(produced.status())) {
      // Retention may have removed the files since they were listed: then
      // resolving again says so ("removed by retention at ..."), which is
      // the answer to give rather than a missing blob.
      service_->pool().WithDb([this, lost = produced.status()](store::Db& db) {
        absl::StatusOr<std::vector<FetchedFile>> again = resolve_(service_, db);
        Filled(again.ok() ? lost : again.status(), false);
      });
      return;
    }
    Filled(produced.status(), produced.ok() && !*produced);
  }

  // Pool: the next message into `chunk`; false at the end of the last file.
  absl::StatusOr<bool> Produce(v1::ArtifactStreamChunk& chunk) {
    if (fd_ >= 0 && remaining_ == 0) {
      ::close(fd_);
      fd_ = -1;
      ++index_;
    }
    if (fd_ < 0) {
      if (index_ >= files_.size()) return false;
      const FetchedFile& f = files_[index_];
      std::string path = service_->blobs().PathOf(f.artifact.sha256);
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) {
        return absl::DataLossError(
            absl::StrCat("artifact ", f.artifact.path, " is missing from the controller's store"));
      }
      remaining_ = f.artifact.size;
      chunk.Clear();
      auto* header = chunk.mutable_file();
      header->set_path(f.name);
      header->set_size(f.artifact.size);
      header->set_sha256(f.artifact.sha256);
      header->set_xxh128(f.artifact.xxh128);
      header->set_executable(f.artifact.executable);
      return true;
    }
    std::string* data = chunk.mutable_data();
    // The slot's buffer is reused; no zero fill before read() overwrites it.
    absl::strings_internal::STLStringResizeUninitialized(
        data, static_cast<size_t>(std::min<int64_t>(remaining_, kDownloadChunkBytes)));
    size_t got = 0;
    while (got < data->size()) {
      ssize_t n = ::read(fd_, data->data() + got, data->size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return absl::DataLossError(
            absl::StrCat("artifact ", files_[index_].artifact.path,
                         " is shorter in the controller's store than recorded"));
      }
      got += static_cast<size_t>(n);
    }
    remaining_ -= static_cast<int64_t>(got);
    GlobalArtifactTraffic().bytes_out.fetch_add(got, std::memory_order_relaxed);
    return true;
  }

  // Pool: hands the filled slot (or the end, or an error) to the sender.
  void Filled(const absl::Status& st, bool at_end) {
    Next next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      filling_ = false;
      if (!st.ok()) {
        if (error_.ok()) error_ = ToGrpcStatus(st);
      } else if (at_end) {
        at_end_ = true;
      } else {
        ++ready_;
        fill_ ^= 1;
      }
      next = Decide();
    }
    Run(next);
  }

  ArtifactService* const service_;
  const Resolve resolve_;
  // Used only by the one outstanding fill task.
  std::vector<FetchedFile> files_;
  size_t index_ = 0;
  int fd_ = -1;
  int64_t remaining_ = 0;
  int fill_ = 0;  // the slot the fill task writes next

  std::mutex mu_;
  v1::ArtifactStreamChunk slots_[2];
  int send_ = 0;   // the slot sent next
  int ready_ = 0;  // filled slots not yet sent
  bool writing_ = false;
  bool filling_ = false;
  bool at_end_ = false;
  bool finished_ = false;
  grpc::Status error_;
};

}  // namespace

grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* NewDownloadReactor(
    ArtifactService* service, const v1::DownloadArtifactRequest& request, AgentCheck check) {
  return new FileStreamReactor(
      service,
      [request, check = std::move(check)](
          ArtifactService* s, store::Db& db) -> decltype(s->FilesForFetch(db, request)) {
        if (check) {
          if (absl::Status st = check(request.auth().agent_id()); !st.ok()) return st;
        }
        return s->FilesForFetch(db, request);
      });
}

grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* NewGetArtifactReactor(
    ArtifactService* service, const v1::ArtifactRequest& request) {
  return new FileStreamReactor(service, [request](ArtifactService* s, store::Db& db) {
    return s->FilesForOperator(db, request);
  });
}

}  // namespace gantry::rpc
