#include "controller/rpc/artifact_streams.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace gantry::rpc {
namespace {

constexpr size_t kChunkBytes = 64 * 1024;

class UploadReactor final : public grpc::ServerReadReactor<v1::UploadArtifactRequest> {
 public:
  UploadReactor(ArtifactService* service, v1::UploadArtifactResponse* response)
      : service_(service), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "upload ended before its trailer"));
      return;
    }
    switch (request_.kind_case()) {
      case v1::UploadArtifactRequest::kHeader:
        if (upload_) return Fail(absl::InvalidArgumentError("second upload header"));
        service_->pool().WithDb([this](store::Db& db) {
          auto started = service_->StartUpload(db, request_.header());
          if (!started.ok()) return Fail(started.status());
          upload_ = std::move(*started);
          StartRead(&request_);
        });
        return;
      case v1::UploadArtifactRequest::kData:
        if (!upload_) return Fail(absl::InvalidArgumentError("data before the upload header"));
        service_->pool().Post([this] {
          if (upload_->writer->size() + static_cast<int64_t>(request_.data().size()) >
              upload_->claimed_size) {
            return Fail(absl::InvalidArgumentError(
                absl::StrCat(upload_->record.path, ": more bytes than the header's size ",
                             upload_->claimed_size)));
          }
          if (auto st = upload_->writer->Append(request_.data()); !st.ok()) return Fail(st);
          StartRead(&request_);
        });
        return;
      case v1::UploadArtifactRequest::kTrailer:
        if (!upload_) return Fail(absl::InvalidArgumentError("trailer before the upload header"));
        service_->pool().WithDb([this](store::Db& db) {
          auto done = service_->FinishUpload(db, *upload_, request_.trailer().sha256());
          if (!done.ok()) return Fail(done.status());
          *response_ = std::move(*done);
          upload_.reset();
          Finish(grpc::Status::OK);
        });
        return;
      default:
        return Fail(absl::InvalidArgumentError("empty upload message"));
    }
  }

  void OnDone() override { delete this; }

 private:
  void Fail(const absl::Status& status) {
    upload_.reset();  // removes the partial file
    Finish(ToGrpcStatus(status));
  }

  ArtifactService* service_;
  v1::UploadArtifactResponse* response_;
  v1::UploadArtifactRequest request_;
  std::unique_ptr<Upload> upload_;
};

// Sends a list of stored files: for each a header, then its bytes.
class FileStreamReactor final : public grpc::ServerWriteReactor<v1::ArtifactStreamChunk> {
 public:
  using Resolve =
      std::function<absl::StatusOr<std::vector<FetchedFile>>(ArtifactService*, store::Db&)>;

  FileStreamReactor(ArtifactService* service, Resolve resolve) : service_(service) {
    service_->pool().WithDb([this, resolve = std::move(resolve)](store::Db& db) {
      auto files = resolve(service_, db);
      if (!files.ok()) return Fail(files.status());
      files_ = std::move(*files);
      Next();
    });
  }

  ~FileStreamReactor() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled"));
      return;
    }
    service_->pool().Post([this] { Next(); });
  }

  void OnDone() override { delete this; }

 private:
  // On a pool thread: the next header or chunk, or the end.
  void Next() {
    if (fd_ < 0) {
      if (index_ >= files_.size()) {
        Finish(grpc::Status::OK);
        return;
      }
      const FetchedFile& f = files_[index_];
      std::string path = service_->blobs().PathOf(f.artifact.sha256);
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) {
        return Fail(absl::DataLossError(absl::StrCat(
            "artifact ", f.artifact.path, " is missing from the controller's store")));
      }
      remaining_ = f.artifact.size;
      chunk_.Clear();
      auto* header = chunk_.mutable_file();
      header->set_path(f.name);
      header->set_size(f.artifact.size);
      header->set_sha256(f.artifact.sha256);
      header->set_executable(f.artifact.executable);
      StartWrite(&chunk_);
      return;
    }
    if (remaining_ == 0) {
      ::close(fd_);
      fd_ = -1;
      ++index_;
      return Next();
    }
    std::string* data = chunk_.mutable_data();
    data->resize(static_cast<size_t>(std::min<int64_t>(remaining_, kChunkBytes)));
    ssize_t n;
    do {
      n = ::read(fd_, data->data(), data->size());
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      return Fail(absl::DataLossError(
          absl::StrCat("artifact ", files_[index_].artifact.path,
                       " is shorter in the controller's store than recorded")));
    }
    data->resize(static_cast<size_t>(n));
    remaining_ -= n;
    StartWrite(&chunk_);
  }

  void Fail(const absl::Status& status) { Finish(ToGrpcStatus(status)); }

  ArtifactService* service_;
  std::vector<FetchedFile> files_;
  size_t index_ = 0;
  int fd_ = -1;
  int64_t remaining_ = 0;
  v1::ArtifactStreamChunk chunk_;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadArtifactRequest>* NewUploadReactor(
    ArtifactService* service, v1::UploadArtifactResponse* response) {
  return new UploadReactor(service, response);
}

grpc::ServerWriteReactor<v1::ArtifactStreamChunk>* NewDownloadReactor(
    ArtifactService* service, const v1::DownloadArtifactRequest& request) {
  return new FileStreamReactor(service, [request](ArtifactService* s, store::Db& db) {
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
