#include "agent/artifact_client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/artifact_fetch_writer.h"
#include "agent/artifact_fs.h"
#include "common/artifact_path.h"
#include "common/crypto.h"
#include "common/grpc_status.h"

namespace gantry::agent {
namespace {

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

// "NOT_FOUND: no artifact out/app.tar" from a failed call.
std::string Describe(const grpc::Status& status) { return FromGrpcStatus(status).ToString(); }

// Closes a file descriptor when the scope ends.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// What streaming one file did: whether the stream still works, a local
// failure (reading, or the file changing size), and what was sent.
struct SentFile {
  bool stream_ok = false;
  std::string local_error;
  int64_t bytes = 0;
  std::string digest;  // hex SHA-256 of the bytes sent
};

// Writes `header`, the data of `fd` in chunks and, unless something failed,
// the trailer with the data's digest, then half-closes.
SentFile SendFile(grpc::ClientWriterInterface<gantry::v1::UploadArtifactRequest>& writer,
                  gantry::v1::UploadArtifactRequest header, int fd, int64_t size) {
  SentFile sent;
  Sha256Hasher hasher;
  gantry::v1::UploadArtifactRequest& message = header;
  sent.stream_ok = writer.Write(message);
  std::vector<char> buf(kArtifactChunkBytes);
  while (sent.stream_ok) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      sent.local_error = absl::StrCat("reading: ", std::strerror(errno));
      break;
    }
    if (n == 0) break;
    std::string_view chunk(buf.data(), static_cast<size_t>(n));
    hasher.Update(chunk);
    message.Clear();
    message.set_data(chunk.data(), chunk.size());
    sent.stream_ok = writer.Write(message);
  }
  sent.bytes = static_cast<int64_t>(hasher.bytes());
  sent.digest = hasher.FinishHex();
  if (sent.stream_ok && sent.local_error.empty() && sent.bytes != size) {
    // The controller would refuse it too (size differs from the header);
    // say why here.
    sent.local_error = absl::StrCat("the file changed while it was uploaded (", size,
                                    " bytes, then ", sent.bytes, ")");
  }
  if (sent.stream_ok && sent.local_error.empty()) {
    message.Clear();
    message.mutable_trailer()->set_sha256(sent.digest);
    sent.stream_ok = writer.Write(message) && writer.WritesDone();
  }
  return sent;
}

// Reads the files of a DownloadArtifact call into `writer`; the first
// failure cancels the call. *status is how the call ended.
absl::Status ReceiveFiles(gantry::v1::AgentService::StubInterface& stub,
                          const gantry::v1::DownloadArtifactRequest& request,
                          TransferInterrupter* interrupter, const std::string& locator,
                          FetchWriter& writer, grpc::Status* status) {
  grpc::ClientContext call;
  absl::Status failed;
  ArmedCall armed(interrupter, &call);
  auto reader = stub.DownloadArtifact(&call, request);
  gantry::v1::ArtifactStreamChunk chunk;
  while (reader->Read(&chunk)) {
    if (!failed.ok()) continue;  // draining after TryCancel
    switch (chunk.kind_case()) {
      case gantry::v1::ArtifactStreamChunk::kFile:
        failed = writer.BeginFile(chunk.file());
        break;
      case gantry::v1::ArtifactStreamChunk::kData:
        failed = writer.Append(chunk.data());
        break;
      default:
        failed = absl::DataLossError(absl::StrCat("empty message in the stream from ", locator));
    }
    if (!failed.ok()) call.TryCancel();
  }
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
    : stub_(std::move(stub)), agent_id_(std::move(agent_id)), token_(std::move(token)) {}

void ArtifactClient::FillAuth(gantry::v1::AgentAuth* auth, int64_t attempt_id) const {
  auth->set_agent_id(agent_id_);
  auth->set_token(token_);
  auth->set_attempt_id(attempt_id);
}

absl::StatusOr<UploadedArtifact> ArtifactClient::Upload(const ArtifactItem& item,
                                                        const TransferContext& context) {
  const std::string& path = item.artifact_path;
  auto failed = [&](absl::StatusCode code, const std::string& why) {
    return absl::Status(
        code, absl::StrCat("uploading ", item.local_path, " as ", path, " failed: ", why));
  };
  FdCloser file{::open(item.local_path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st;
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0) {
    return failed(absl::StatusCode::kFailedPrecondition, std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return failed(absl::StatusCode::kFailedPrecondition, "not a regular file");
  }

  grpc::ClientContext call;
  gantry::v1::UploadArtifactResponse response;
  ArmedCall armed(context.interrupter, &call);
  std::unique_ptr<grpc::ClientWriterInterface<gantry::v1::UploadArtifactRequest>> writer =
      stub_->UploadArtifact(&call, &response);

  gantry::v1::UploadArtifactRequest message;
  auto* header = message.mutable_header();
  FillAuth(header->mutable_auth(), context.attempt_id);
  header->set_path(path);
  header->set_size(st.st_size);
  header->set_kind(item.kind);
  header->set_executable((st.st_mode & S_IXUSR) != 0);

  SentFile sent = SendFile(*writer, std::move(message), file.fd, st.st_size);
  if (!sent.local_error.empty()) call.TryCancel();
  grpc::Status status = writer->Finish();
  if (!sent.local_error.empty()) {
    return failed(absl::StatusCode::kFailedPrecondition, sent.local_error);
  }
  if (Interrupted(context)) {
    return failed(absl::StatusCode::kCancelled, "interrupted");
  }
  if (!status.ok()) {
    return failed(FromGrpcStatus(status).code(), absl::StrCat("controller: ", Describe(status)));
  }
  if (response.sha256() != sent.digest || response.size() != sent.bytes) {
    return failed(
        absl::StatusCode::kDataLoss,
        absl::StrCat("the controller stored ", response.size(), " bytes with sha256 ",
                     response.sha256(), "; sent ", sent.bytes, " bytes with sha256 ", sent.digest));
  }
  return UploadedArtifact{response.path(), response.size(), response.sha256()};
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
  FetchWriter writer(*root, *dest, locator);
  grpc::Status status;
  absl::Status failed =
      ReceiveFiles(*stub_, request, context.interrupter, locator, writer, &status);
  if (!failed.ok()) return failed;
  if (Interrupted(context)) {
    return absl::CancelledError(
        absl::StrCat("fetching '", task.source(), "' from ", locator, " was interrupted"));
  }
  if (!status.ok()) {
    return absl::Status(FromGrpcStatus(status).code(),
                        absl::StrCat("fetching '", task.source(), "' from ", locator,
                                     " failed: ", Describe(status)));
  }
  if (absl::Status s = writer.Finish(); !s.ok()) return s;
  if (writer.files() == 0 && task.is_file()) {
    return absl::DataLossError(
        absl::StrCat("fetching '", task.source(), "' from ", locator, " returned no file"));
  }
  if (context.console) {
    context.console(absl::StrCat("[gantry] fetched '", task.source(), "' from ", locator, " into ",
                                 dest->empty() ? "." : *dest, ": ", writer.files(), " file(s), ",
                                 writer.bytes(), " bytes\n"));
  }
  return absl::OkStatus();
}

}  // namespace gantry::agent
