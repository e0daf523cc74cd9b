#include "agent/artifact_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/internal/resize_uninitialized.h"
#include "absl/strings/str_cat.h"
#include "agent/artifact_fetch_writer.h"
#include "agent/artifact_fs.h"
#include "agent/transfer_queue.h"
#include "common/artifact_path.h"
#include "common/crypto.h"
#include "common/grpc_status.h"
#include "common/transfer_checksum.h"

namespace gantry::agent {
namespace {

// Bytes queued between the reading and the sending thread (and between the
// receiving and the writing one): enough to keep both busy, small enough
// for flat memory.
constexpr size_t kQueueBytes = 4 << 20;

// Calls end at the job's deadline at the latest, a little after the runner
// interrupts them there, so the runner's reason is the one reported.
constexpr absl::Duration kDeadlineSlack = absl::Seconds(2);

// Arms the interrupter with the call's TryCancel for the scope's lifetime.
class ArmedCall {
 public:
  ArmedCall(TransferInterrupter* interrupter, grpc::ClientContext* context)
      : interrupter_(interrupter) {
    if (interrupter_ != nullptr) {
      interrupter_->Arm([context] { context->TryCancel(); });
    }
  }
  ~ArmedCall() {
    if (interrupter_ != nullptr) interrupter_->Disarm();
  }

 private:
  TransferInterrupter* const interrupter_;
};

bool Interrupted(const TransferContext& context) {
  return context.interrupter != nullptr && context.interrupter->interrupted();
}

void SetDeadline(const TransferContext& context, grpc::ClientContext& call) {
  if (context.deadline != absl::InfiniteFuture()) {
    call.set_deadline(absl::ToChronoTime(context.deadline + kDeadlineSlack));
  }
}

void Progress(const TransferContext& context) {
  if (context.on_progress) context.on_progress();
}

// "NOT_FOUND: no artifact out/app.tar" from a failed call.
std::string Describe(const grpc::Status& status) { return FromGrpcStatus(status).ToString(); }

// Closes a file descriptor when the scope ends.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// What was read of one file, by the reading thread.
struct SentFile {
  int64_t bytes = 0;
  // Hex XXH3-128 (xxh128 uploads) or SHA-256 of the bytes sent.
  std::string digest;
};

// The trailer's claim for a file, and the stored file's value of the same
// kind, as the Assign said (UploadedArtifactFile has both fields).
void FillClaim(const TransferDigest& kind, const std::string& hex,
               gantry::v1::ArtifactUploadTrailer* trailer) {
  if (kind.xxh128()) {
    trailer->set_xxh128(hex);
  } else {
    trailer->set_sha256(hex);
  }
}
const std::string& StoredDigest(const TransferDigest& kind,
                                const gantry::v1::UploadedArtifactFile& f) {
  return kind.xxh128() ? f.xxh128() : f.sha256();
}

// The reading side of one upload stream: the messages of `items` in order
// into `queue`, each file read in kArtifactChunkBytes pieces and checksummed.
// Stops at the first local failure (*error) or when the queue is aborted.
class BatchReader {
 public:
  BatchReader(const std::vector<ArtifactItem>& items, gantry::v1::AgentAuth auth, bool xxh128,
              TransferQueue<gantry::v1::UploadArtifactRequest>& queue)
      : items_(items),
        auth_(std::move(auth)),
        xxh128_(xxh128),
        queue_(queue),
        sent_(items.size()) {}

  void Run() {
    for (size_t i = 0; i < items_.size(); ++i) {
      if (!SendFile(i)) {
        queue_.Abort();
        return;
      }
    }
    queue_.Close();
  }

  const std::string& error() const { return error_; }
  size_t failed_index() const { return failed_index_; }
  const std::vector<SentFile>& sent() const { return sent_; }

 private:
  bool Fail(size_t i, std::string why) {
    error_ = std::move(why);
    failed_index_ = i;
    return false;
  }

  // False when the stream must stop (a local error, or aborted).
  bool SendFile(size_t i) {
    const ArtifactItem& item = items_[i];
    FdCloser file{::open(item.local_path.c_str(), O_RDONLY | O_CLOEXEC)};
    struct stat st;
    if (file.fd < 0 || ::fstat(file.fd, &st) != 0) return Fail(i, std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return Fail(i, "not a regular file");
    ::posix_fadvise(file.fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    gantry::v1::UploadArtifactRequest message;
    auto* header = message.mutable_header();
    *header->mutable_auth() = auth_;
    header->set_path(item.artifact_path);
    header->set_size(st.st_size);
    header->set_kind(item.kind);
    header->set_executable((st.st_mode & S_IXUSR) != 0);
    if (!queue_.Push(std::move(message), 0)) return false;

    TransferDigest hasher(xxh128_);
    while (true) {
      gantry::v1::UploadArtifactRequest data;
      std::string* buf = data.mutable_data();
      // Reads straight into the message: no copy (nor zero fill) before
      // serialization.
      absl::strings_internal::STLStringResizeUninitialized(buf, kArtifactChunkBytes);
      size_t got = 0;
      while (got < buf->size()) {
        ssize_t n = ::read(file.fd, buf->data() + got, buf->size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Fail(i, absl::StrCat("reading: ", std::strerror(errno)));
        if (n == 0) break;
        got += static_cast<size_t>(n);
      }
      if (got == 0) break;
      buf->resize(got);
      hasher.Update(*buf);
      if (!queue_.Push(std::move(data), got)) return false;
      if (got < kArtifactChunkBytes) break;
    }
    SentFile& sent = sent_[i];
    sent.bytes = static_cast<int64_t>(hasher.bytes());
    sent.digest = hasher.FinishHex();
    if (sent.bytes != st.st_size) {
      // The controller would refuse it too (size differs from the
      // header); say why here.
      return Fail(i, absl::StrCat("the file changed while it was uploaded (", st.st_size,
                                  " bytes, then ", sent.bytes, ")"));
    }
    gantry::v1::UploadArtifactRequest trailer;
    FillClaim(hasher, sent.digest, trailer.mutable_trailer());
    return queue_.Push(std::move(trailer), 0);
  }

  const std::vector<ArtifactItem>& items_;
  const gantry::v1::AgentAuth auth_;
  const bool xxh128_;
  TransferQueue<gantry::v1::UploadArtifactRequest>& queue_;
  std::vector<SentFile> sent_;
  std::string error_;
  size_t failed_index_ = 0;
};

// The files of a DownloadArtifact call into `writer`: this thread receives,
// a second one checks and writes, through a queue of a few MiB, so that
// receiving overlaps writing. The first failure cancels the call. *status
// is how the call ended.
absl::Status ReceiveFiles(gantry::v1::AgentService::StubInterface& stub,
                          const gantry::v1::DownloadArtifactRequest& request,
                          const TransferContext& context, const std::string& locator,
                          FetchWriter& writer, grpc::Status* status) {
  grpc::ClientContext call;
  SetDeadline(context, call);
  ArmedCall armed(context.interrupter, &call);
  TransferQueue<gantry::v1::ArtifactStreamChunk> queue(kQueueBytes);
  absl::Status failed;  // the writing thread's until it is joined
  std::thread writing([&] {
    gantry::v1::ArtifactStreamChunk chunk;
    while (queue.Pop(&chunk)) {
      switch (chunk.kind_case()) {
        case gantry::v1::ArtifactStreamChunk::kFile:
          failed = writer.BeginFile(chunk.file());
          break;
        case gantry::v1::ArtifactStreamChunk::kData:
          failed = writer.Append(chunk.data());
          Progress(context);
          break;
        default:
          failed = absl::DataLossError(absl::StrCat("empty message in the stream from ", locator));
      }
      if (!failed.ok()) {
        queue.Abort();
        call.TryCancel();
        return;
      }
    }
  });
  auto reader = stub.DownloadArtifact(&call, request);
  gantry::v1::ArtifactStreamChunk chunk;
  // After an abort the reads only drain what TryCancel left in flight.
  while (reader->Read(&chunk)) {
    const size_t bytes = chunk.has_data() ? chunk.data().size() : 0;
    queue.Push(std::move(chunk), bytes);
    chunk.Clear();
  }
  queue.Close();
  writing.join();
  *status = reader->Finish();
  return failed;
}

}  // namespace

std::string ResolvedLocator(const gantry::v1::FetchTask& task) {
  return absl::StrCat(task.pipeline(), "/", task.pipeline_counter(), "/", task.stage(), "/",
                      task.stage_counter(), "/", task.job());
}

ArtifactClient::ArtifactClient(std::shared_ptr<gantry::v1::AgentService::StubInterface> stub,
                               std::string agent_id, std::string token)
    : ArtifactClient([stub] { return stub; }, std::move(agent_id), std::move(token)) {}

ArtifactClient::ArtifactClient(StubSource stubs, std::string agent_id, std::string token,
                               TransferRetryOptions retry)
    : stubs_(std::move(stubs)),
      agent_id_(std::move(agent_id)),
      token_(std::move(token)),
      retry_(retry) {}

void ArtifactClient::FillAuth(gantry::v1::AgentAuth* auth, int64_t attempt_id) const {
  auth->set_agent_id(agent_id_);
  auth->set_token(token_);
  auth->set_attempt_id(attempt_id);
}

absl::StatusOr<UploadedArtifact> ArtifactClient::Upload(const ArtifactItem& item,
                                                        const TransferContext& context) {
  auto all = UploadAll({item}, context);
  if (!all.ok()) return all.status();
  return all->front();
}

absl::StatusOr<std::vector<UploadedArtifact>> ArtifactClient::UploadAll(
    const std::vector<ArtifactItem>& items, const TransferContext& context) {
  std::vector<UploadedArtifact> out;
  size_t next = 0;
  while (next < items.size()) {
    // The next stream: small files together, a big one alone.
    std::vector<ArtifactItem> batch;
    int64_t bytes = 0;
    while (next < items.size() && batch.size() < kUploadBatchFiles && bytes < kUploadBatchBytes) {
      struct stat st;
      if (::stat(items[next].local_path.c_str(), &st) == 0) bytes += st.st_size;
      batch.push_back(items[next++]);
    }
    std::vector<UploadedArtifact> stored;
    absl::Status status =
        RetryTransfer(absl::StrCat("uploading ", batch.size(), " artifact file(s)"), context,
                      retry_, [&](int) -> absl::Status {
                        auto sent = SendBatch(batch, context);
                        if (!sent.ok()) return sent.status();
                        stored = std::move(*sent);
                        return absl::OkStatus();
                      });
    if (!status.ok()) return status;
    for (UploadedArtifact& u : stored) out.push_back(std::move(u));
  }
  return out;
}

absl::StatusOr<std::vector<UploadedArtifact>> ArtifactClient::SendBatch(
    const std::vector<ArtifactItem>& items, const TransferContext& context) {
  auto failed = [&](size_t i, absl::StatusCode code, const std::string& why) {
    std::string what = absl::StrCat(items[i].local_path, " as ", items[i].artifact_path);
    if (items.size() > 1 && i == 0) absl::StrAppend(&what, " and ", items.size() - 1, " more");
    return absl::Status(code, absl::StrCat("uploading ", what, " failed: ", why));
  };
  ++upload_calls_;
  std::shared_ptr<gantry::v1::AgentService::StubInterface> stub = stubs_();
  grpc::ClientContext call;
  SetDeadline(context, call);
  gantry::v1::UploadArtifactResponse response;
  ArmedCall armed(context.interrupter, &call);
  std::unique_ptr<grpc::ClientWriterInterface<gantry::v1::UploadArtifactRequest>> writer =
      stub->UploadArtifact(&call, &response);

  gantry::v1::AgentAuth auth;
  FillAuth(&auth, context.attempt_id);
  TransferQueue<gantry::v1::UploadArtifactRequest> queue(kQueueBytes);
  BatchReader reader(items, auth, context.xxh128_uploads, queue);
  std::thread reading([&] { reader.Run(); });
  bool stream_ok = true;
  gantry::v1::UploadArtifactRequest message;
  while (queue.Pop(&message)) {
    stream_ok = writer->Write(message);
    if (!stream_ok) break;
    if (message.has_data()) Progress(context);
  }
  queue.Abort();  // a reader blocked on a full queue stops
  reading.join();
  const bool local_failure = !reader.error().empty();
  if (local_failure) {
    call.TryCancel();
  } else if (stream_ok) {
    writer->WritesDone();
  }
  grpc::Status status = writer->Finish();
  if (local_failure) {
    return failed(reader.failed_index(), absl::StatusCode::kFailedPrecondition, reader.error());
  }
  if (Interrupted(context)) return failed(0, absl::StatusCode::kCancelled, "interrupted");
  if (!status.ok()) {
    return failed(0, FromGrpcStatus(status).code(), absl::StrCat("controller: ", Describe(status)));
  }
  // An older controller answers a one-file stream with its top fields only.
  if (response.files_size() == 0 && items.size() == 1) {
    auto* f = response.add_files();
    f->set_path(response.path());
    f->set_size(response.size());
    f->set_sha256(response.sha256());
  }
  if (response.files_size() != static_cast<int>(items.size())) {
    return failed(0, absl::StatusCode::kDataLoss,
                  absl::StrCat("the controller stored ", response.files_size(), " of ",
                               items.size(), " file(s)"));
  }
  std::vector<UploadedArtifact> out;
  const TransferDigest kind(context.xxh128_uploads);
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& f = response.files(static_cast<int>(i));
    const SentFile& sent = reader.sent()[i];
    if (StoredDigest(kind, f) != sent.digest || f.size() != sent.bytes) {
      return failed(i, absl::StatusCode::kDataLoss,
                    absl::StrCat("the controller stored ", f.size(), " bytes with ", kind.name(),
                                 " ", StoredDigest(kind, f), "; sent ", sent.bytes, " bytes with ",
                                 kind.name(), " ", sent.digest));
    }
    out.push_back(UploadedArtifact{f.path(), f.size(), f.sha256()});
  }
  return out;
}

absl::Status ArtifactClient::Fetch(const gantry::v1::FetchTask& task, int task_index,
                                   const TransferContext& context) {
  const std::string resolved = ResolvedLocator(task);
  const std::string locator = task.locator().empty() || task.locator() == resolved
                                  ? resolved
                                  : absl::StrCat(task.locator(), " (", resolved, ")");
  auto dest = CleanArtifactDir(task.destination());
  if (!dest.ok()) {
    return absl::PermissionDeniedError(absl::StrCat("fetch destination '", task.destination(),
                                                    "' is refused: ", dest.status().message()));
  }
  auto root = RealPath(context.job_dir);
  if (!root.ok()) return root.status();
  // Before anything is downloaded: the destination must stay inside.
  if (auto made = MakeDirsInside(*root, *dest); !made.ok()) {
    return absl::Status(
        made.status().code(),
        absl::StrCat("fetch destination '", task.destination(), "': ", made.status().message()));
  }

  gantry::v1::DownloadArtifactRequest request;
  FillAuth(request.mutable_auth(), context.attempt_id);
  request.set_task_index(task_index);
  int files = 0;
  int64_t bytes = 0;
  absl::Status status = RetryTransfer(
      absl::StrCat("fetching '", task.source(), "' from ", locator), context, retry_,
      [&](int) -> absl::Status {
        // Files that verified in a failed attempt stay; the next one
        // writes them again.
        FetchWriter writer(*root, *dest, locator);
        grpc::Status call_status;
        absl::Status failed =
            ReceiveFiles(*stubs_(), request, context, locator, writer, &call_status);
        if (!failed.ok()) return failed;
        if (Interrupted(context)) {
          return absl::CancelledError(
              absl::StrCat("fetching '", task.source(), "' from ", locator, " was interrupted"));
        }
        if (!call_status.ok()) {
          return absl::Status(FromGrpcStatus(call_status).code(),
                              absl::StrCat("fetching '", task.source(), "' from ", locator,
                                           " failed: ", Describe(call_status)));
        }
        if (absl::Status s = writer.Finish(); !s.ok()) return s;
        files = writer.files();
        bytes = writer.bytes();
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (files == 0 && task.is_file()) {
    return absl::DataLossError(
        absl::StrCat("fetching '", task.source(), "' from ", locator, " returned no file"));
  }
  if (context.console) {
    context.console(absl::StrCat("[gantry] fetched '", task.source(), "' from ", locator, " into ",
                                 dest->empty() ? "." : *dest, ": ", files, " file(s), ", bytes,
                                 " bytes\n"));
  }
  return absl::OkStatus();
}

}  // namespace gantry::agent
