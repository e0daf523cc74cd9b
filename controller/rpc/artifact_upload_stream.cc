// AgentService.UploadArtifact's reactor (artifact_streams.h).
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

// Received upload data not yet on disk, at most about this much per stream:
// reading pauses above it, so a sender faster than the disk costs bounded
// memory, and below it receiving overlaps hashing and writing. 2 MiB was as
// fast as 8 MiB on the bench and kept the peak RSS lower: each received
// message is a fresh buffer, freed on another thread, and glibc keeps such
// freed buffers in per-thread arenas.
constexpr size_t kUploadQueueBytes = 2 << 20;

// Stored files of one stream are recorded in parts of this many, so a
// stream of very many files holds a bounded number of pins and rows.
constexpr size_t kRecordBatchFiles = 256;

// UploadArtifact: files, each a header, data chunks and a trailer. gRPC
// receives the next message while a single pool task hashes and writes the
// ones before it, in order. The first header is authorized against the
// database; later ones must carry the same AgentAuth. Each file is verified
// at its trailer; when the sender half-closes (or every kRecordBatchFiles)
// the files are synced and moved into place together and recorded in one
// transaction, so 2,000 small files are 8 calls and a few journal commits. At most two things
// are outstanding, each flagged under mu_: a read and one pool task
// (authorize, drain, store or record). Finish waits for both to end, so no
// callback outlives the reactor.
class UploadReactor final : public grpc::ServerReadReactor<v1::UploadArtifactRequest> {
 public:
  UploadReactor(ArtifactService* service, v1::UploadArtifactResponse* response, AgentCheck check)
      : service_(service), response_(response), check_(std::move(check)) {
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    Next next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (!ok) {
        // The sender half-closed: fine between files, not within one.
        if (header_seen_ || stored_count_ == 0) {
          SetError(absl::InvalidArgumentError("upload ended before its trailer"));
        } else {
          ended_ = true;
        }
      } else if (error_.ok()) {
        Receive();
      }
      next = Decide();
    }
    Run(std::move(next));
  }

  void OnCancel() override {
    Next next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      SetError(absl::CancelledError("upload cancelled"));
      next = Decide();
    }
    Run(std::move(next));
  }

  void OnDone() override { delete this; }

 private:
  enum class Work { kNone, kAuthorize, kOpen, kDrain, kStore, kRecord };

  // What Decide() started; done by Run() outside the lock.
  struct Next {
    Work work = Work::kNone;
    bool read = false;
    bool finish = false;
    grpc::Status status;
    std::unique_ptr<Upload> drop;  // a failed upload, removed before Finish
  };

  // Under mu_: files the message just read. header_seen_ .. stored: the
  // current file.
  void Receive() {
    switch (request_.kind_case()) {
      case v1::UploadArtifactRequest::kHeader:
        if (header_seen_) {
          return SetError(absl::InvalidArgumentError("upload header before the previous trailer"));
        }
        if (authorized_) {
          const v1::AgentAuth& a = request_.header().auth();
          if (a.agent_id() != auth_.agent_id() || a.token() != auth_.token() ||
              a.attempt_id() != auth_.attempt_id()) {
            return SetError(absl::InvalidArgumentError(
                "every file of an upload stream must name the same agent and attempt"));
          }
        }
        header_seen_ = true;
        header_ = std::move(*request_.mutable_header());
        return;
      case v1::UploadArtifactRequest::kData: {
        if (!upload_) {
          return SetError(absl::InvalidArgumentError("data before the upload header"));
        }
        const int64_t n = static_cast<int64_t>(request_.data().size());
        if (received_ + n > upload_->claimed_size) {
          return SetError(absl::InvalidArgumentError(
              absl::StrCat(upload_->record.path, ": more bytes than the header's size ",
                           upload_->claimed_size)));
        }
        received_ += n;
        queued_bytes_ += static_cast<size_t>(n);
        // Takes the buffer; the next read parses into a fresh one.
        queue_.push_back(std::move(*request_.mutable_data()));
        return;
      }
      case v1::UploadArtifactRequest::kTrailer:
        if (!upload_) {
          return SetError(absl::InvalidArgumentError("trailer before the upload header"));
        }
        trailer_seen_ = true;
        claim_ = std::move(*request_.mutable_trailer());
        return;
      default:
        return SetError(absl::InvalidArgumentError("empty upload message"));
    }
  }

  // Under mu_: keeps the first error; queued data is not written any more.
  void SetError(absl::Status status) {
    if (error_.ok()) error_ = std::move(status);
    queue_.clear();
  }

  // Under mu_: starts whatever may run now and marks it outstanding.
  Next Decide() {
    Next next;
    if (finished_) return next;
    if (!error_.ok()) {
      if (!reading_ && !pool_busy_) {
        finished_ = true;
        next.finish = true;
        next.status = ToGrpcStatus(error_);
        next.drop = std::move(upload_);
      }
      return next;
    }
    if (!pool_busy_) {
      if (header_seen_ && !upload_) {
        next.work = authorized_ ? Work::kOpen : Work::kAuthorize;
      } else if (!queue_.empty()) {
        next.work = Work::kDrain;
      } else if (trailer_seen_) {
        next.work = Work::kStore;
      } else if (!stored_.empty() && (ended_ || stored_.size() >= kRecordBatchFiles)) {
        next.work = Work::kRecord;
      }
      pool_busy_ = next.work != Work::kNone;
    }
    // Within a file: data once the sender is authorized, up to the trailer,
    // while the queue has room. Between files (none open): the next header
    // or the end.
    const bool want = upload_ ? !trailer_seen_ && queued_bytes_ < kUploadQueueBytes
                              : !header_seen_ && stored_.size() < kRecordBatchFiles;
    if (!reading_ && !ended_ && want) {
      reading_ = true;
      next.read = true;
    }
    if (ended_ && stored_.empty() && !pool_busy_ && !reading_) {
      finished_ = true;
      next.finish = true;
      next.status = grpc::Status::OK;
    }
    return next;
  }

  // Outside mu_. Touches the reactor only for what Decide() marked
  // outstanding, which keeps it alive; after Finish it may be gone.
  void Run(Next next) {
    switch (next.work) {
      case Work::kNone:
        break;
      case Work::kAuthorize:
        service_->pool().WithDb([this](store::Db& db) { Authorize(&db); });
        break;
      case Work::kOpen:
        service_->pool().Post([this] { Authorize(nullptr); });
        break;
      case Work::kDrain:
        service_->pool().Post([this] { Drain(); });
        break;
      case Work::kStore:
        service_->pool().Post([this] { Store(); });
        break;
      case Work::kRecord:
        service_->pool().WithDb([this](store::Db& db) { Record(db); });
        break;
    }
    if (next.read) StartRead(&request_);
    if (next.finish) {
      next.drop.reset();  // removes the partial file before the sender hears
      Finish(next.status);
    }
  }

  // Pool: checks the agent (first file only, with `db`) and opens the
  // incoming file.
  void Authorize(store::Db* db) {
    // header_ is written only while no file is open and no task runs.
    absl::StatusOr<std::unique_ptr<Upload>> started;
    if (db == nullptr) {
      started = service_->StartNextUpload(header_);
    } else {
      absl::Status allowed = check_ ? check_(header_.auth().agent_id()) : absl::OkStatus();
      started = allowed.ok() ? service_->StartUpload(*db, header_)
                             : absl::StatusOr<std::unique_ptr<Upload>>(allowed);
    }
    Next next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pool_busy_ = false;
      if (!started.ok()) {
        SetError(started.status());
      } else if (error_.ok()) {
        if (!authorized_) {
          authorized_ = true;
          auth_ = header_.auth();
        }
        upload_ = std::move(*started);
        received_ = 0;
      }
      next = Decide();
    }
    Run(std::move(next));
  }

  // Pool: hashes and writes queued chunks in order. Yields the thread after
  // a queue's worth, so a fast upload does not starve the pool's other work.
  void Drain() {
    size_t budget = kUploadQueueBytes;
    std::string chunk;
    size_t n_written = 0;  // the size of `chunk` before it went to the writer
    bool have = false;
    while (true) {
      Next next;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (have) queued_bytes_ -= n_written;
        have = error_.ok() && !queue_.empty() && budget > 0;
        if (have) {
          chunk = std::move(queue_.front());
          queue_.pop_front();
        } else {
          pool_busy_ = false;
        }
        // While this task holds pool_busy_, this can only resume reading.
        next = Decide();
      }
      if (!have) return Run(std::move(next));
      Run(std::move(next));
      n_written = chunk.size();
      // Only this task uses the writer, and upload_ stays set while it runs.
      // The writer may keep the chunk (hashing it on another thread).
      absl::Status st =
          upload_->writer->Append(std::make_shared<const std::string>(std::move(chunk)));
      GlobalArtifactTraffic().bytes_in.fetch_add(n_written, std::memory_order_relaxed);
      budget -= std::min(budget, n_written);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        SetError(std::move(st));
      }
    }
  }

  // Pool: verifies the current file; the next file may follow. It becomes
  // durable with the others in Record.
  void Store() {
    auto stored = service_->StoreUpload(*upload_, claim_);
    Next next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pool_busy_ = false;
      if (!stored.ok()) {
        SetError(stored.status());
      } else {
        auto* f = response_->add_files();
        f->set_path(stored->record.path);
        f->set_size(stored->record.size);
        f->set_sha256(stored->record.sha256);
        f->set_xxh128(stored->record.xxh128);
        response_->set_path(f->path());
        response_->set_size(f->size());
        response_->set_sha256(f->sha256());
        stored_.push_back(std::move(*stored));
        ++stored_count_;
        upload_.reset();
        header_seen_ = false;
        trailer_seen_ = false;
      }
      next = Decide();
    }
    Run(std::move(next));
  }

  // Pool: writes the rows of the stored files.
  void Record(store::Db& db) {
    std::vector<StoredUpload> files;
    {
      std::lock_guard<std::mutex> lock(mu_);
      files.swap(stored_);
    }
    absl::Status st = service_->RecordUploads(db, auth_.agent_id(), auth_.attempt_id(), files);
    files.clear();  // unpins: the rows name the blobs now (or the upload failed)
    Next next;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pool_busy_ = false;
      if (!st.ok()) SetError(std::move(st));
      next = Decide();
    }
    Run(std::move(next));
  }

  ArtifactService* const service_;
  v1::UploadArtifactResponse* const response_;
  const AgentCheck check_;
  // Parsed into by gRPC while reading_, read by Receive() after.
  v1::UploadArtifactRequest request_;

  std::mutex mu_;
  bool reading_ = false;    // a StartRead is outstanding
  bool pool_busy_ = false;  // a pool task is outstanding; it alone uses upload_'s writer
  bool finished_ = false;
  bool ended_ = false;  // the sender half-closed between files
  absl::Status error_;
  // The stream's sender, once its first header was authorized.
  bool authorized_ = false;
  v1::AgentAuth auth_;
  // The current file.
  bool header_seen_ = false;
  v1::ArtifactUploadHeader header_;
  std::unique_ptr<Upload> upload_;  // set once authorized
  int64_t received_ = 0;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;  // in queue_ plus the chunk being written
  bool trailer_seen_ = false;
  v1::ArtifactUploadTrailer claim_;
  // Durable files whose rows are not written yet.
  std::vector<StoredUpload> stored_;
  int64_t stored_count_ = 0;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadArtifactRequest>* NewUploadReactor(
    ArtifactService* service, v1::UploadArtifactResponse* response, AgentCheck check) {
  return new UploadReactor(service, response, std::move(check));
}

}  // namespace gantry::rpc
