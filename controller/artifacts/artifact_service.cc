#include "controller/artifacts/artifact_service.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/artifact_path.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "controller/artifacts/artifact_limits.h"
#include "controller/retention/removed_notice.h"

namespace gantry {

ArtifactService::ArtifactService(std::vector<std::unique_ptr<store::Db>> connections,
                                 ConfigCache* configs, BlobStore* blobs)
    : configs_(configs), blobs_(blobs), pool_(std::move(connections)) {}

ArtifactService::~ArtifactService() { Stop(); }

absl::StatusOr<store::JobRunRecord> ArtifactService::HeldAttempt(store::Tx& tx,
                                                                 const v1::AgentAuth& auth) {
  auto hash = tx.EnabledAgentTokenHash(auth.agent_id());
  if (!hash || !ConstantTimeEquals(Sha256Hex(auth.token()), *hash)) {
    return absl::UnauthenticatedError("unknown agent or wrong agent token");
  }
  auto job = tx.GetJobRun(auth.attempt_id(), false);
  if (!job || job->agent_id != auth.agent_id() || !IsHeld(job->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("attempt ", auth.attempt_id(), " is not running on this agent"));
  }
  return *job;
}

absl::StatusOr<std::unique_ptr<Upload>> ArtifactService::StartUpload(
    store::Db& db, const v1::ArtifactUploadHeader& header) {
  ASSIGN_OR_RETURN(std::unique_ptr<Upload> upload, StartNextUpload(header));
  RETURN_IF_ERROR(db.Run("AuthorizeUpload", [&](store::Tx& tx) -> absl::Status {
    return HeldAttempt(tx, header.auth()).status();
  }));
  return upload;
}

absl::StatusOr<std::unique_ptr<Upload>> ArtifactService::StartNextUpload(
    const v1::ArtifactUploadHeader& header) {
  auto path = CleanArtifactPath(header.path());
  if (!path.ok()) return path.status();
  RETURN_IF_ERROR(CheckStoredPathLength(*path));
  if (header.size() < 0) return absl::InvalidArgumentError("negative artifact size");
  if (!header.kind().empty() && header.kind() != "build" && header.kind() != "test") {
    return absl::InvalidArgumentError(
        absl::StrCat("artifact kind must be build or test, got '", header.kind(), "'"));
  }
  auto upload = std::make_unique<Upload>();
  upload->attempt_id = header.auth().attempt_id();
  upload->agent_id = header.auth().agent_id();
  upload->record.job_run_id = upload->attempt_id;
  upload->record.path = *path;
  upload->record.kind = header.kind().empty() ? "build" : header.kind();
  upload->record.executable = header.executable();
  upload->claimed_size = header.size();
  ASSIGN_OR_RETURN(upload->writer, blobs_->Create(header.size()));
  return upload;
}

absl::StatusOr<StoredUpload> ArtifactService::StoreUpload(Upload& upload,
                                                          const v1::ArtifactUploadTrailer& claim) {
  auto digest = upload.writer->Verify(claim.sha256(), claim.xxh128(), upload.claimed_size);
  if (!digest.ok()) {
    return absl::Status(digest.status().code(),
                        absl::StrCat(upload.record.path, ": ", digest.status().message()));
  }
  // Until the row is committed nothing names the file: retention must not
  // take it for a blob whose last reference went. Before the file moves
  // into place (RecordUploads), so retention never sees it unpinned.
  BlobStore::Pin pin = blobs_->PinDigest(*digest);
  upload.record.sha256 = *digest;
  upload.record.xxh128 = upload.writer->xxh128();
  upload.record.size = upload.claimed_size;
  return StoredUpload{upload.record, std::move(pin), std::move(upload.writer)};
}

absl::Status ArtifactService::RecordUploads(store::Db& db, const std::string& agent_id,
                                            int64_t attempt_id, std::vector<StoredUpload>& files) {
  if (files.empty()) return absl::OkStatus();
  std::set<std::string> dirs;
  for (StoredUpload& f : files) {
    if (!f.writer) continue;
    auto dir = f.writer->Place(/*sync_dir=*/false);
    if (!dir.ok()) {
      return absl::Status(dir.status().code(),
                          absl::StrCat(f.record.path, ": ", dir.status().message()));
    }
    dirs.insert(*dir);
    f.writer.reset();
  }
  for (const std::string& dir : dirs) BlobStore::SyncDir(dir);
  return db.Run("RecordArtifacts", [&](store::Tx& tx) -> absl::Status {
    for (const StoredUpload& f : files) {
      if (!tx.RecordArtifact(agent_id, f.record)) {
        return absl::FailedPreconditionError(
            absl::StrCat("attempt ", attempt_id, " is not running on this agent"));
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::UploadArtifactResponse> ArtifactService::FinishUpload(
    store::Db& db, Upload& upload, const std::string& sha256) {
  std::vector<StoredUpload> stored;
  {
    v1::ArtifactUploadTrailer claim;
    claim.set_sha256(sha256);
    ASSIGN_OR_RETURN(StoredUpload one, StoreUpload(upload, claim));
    stored.push_back(std::move(one));
  }
  RETURN_IF_ERROR(RecordUploads(db, upload.agent_id, upload.attempt_id, stored));
  v1::UploadArtifactResponse response;
  response.set_path(upload.record.path);
  response.set_size(upload.record.size);
  response.set_sha256(upload.record.sha256);
  return response;
}

absl::StatusOr<std::vector<FetchedFile>> ArtifactService::FilesForFetch(
    store::Db& db, const v1::DownloadArtifactRequest& request) {
  std::vector<FetchedFile> files;
  RETURN_IF_ERROR(db.Run("ResolveFetch", [&](store::Tx& tx) -> absl::Status {
    files.clear();
    ASSIGN_OR_RETURN(store::JobRunRecord job, HeldAttempt(tx, request.auth()));
    auto stage = tx.GetStageRun(job.stage_run_id);
    if (!stage) return absl::InternalError("stage run vanished");
    auto run = tx.GetPipelineRun(stage->run_id);
    if (!run) return absl::InternalError("pipeline run vanished");
    // The stage's own revision: a re-run --with-current-config runs today's.
    int64_t revision = stage->config_revision != 0 ? stage->config_revision : run->config_revision;
    ASSIGN_OR_RETURN(auto config, configs_->Get(tx, revision));
    const config::Pipeline* pipeline = config->FindPipeline(run->pipeline);
    const config::Job* job_cfg = nullptr;
    if (pipeline != nullptr && stage->stage_index < static_cast<int>(pipeline->stages.size())) {
      job_cfg = pipeline->stages[stage->stage_index].FindJob(job.config_job);
    }
    int index = request.task_index();
    if (job_cfg == nullptr || index < 0 || index >= static_cast<int>(job_cfg->tasks.size()) ||
        job_cfg->tasks[index].kind != config::Task::Kind::kFetch) {
      return absl::InvalidArgumentError(
          absl::StrCat("task ", index + 1, " of attempt ", job.id, " is not a fetch task"));
    }
    const config::FetchTask& fetch = job_cfg->tasks[index].fetch;
    ASSIGN_OR_RETURN(JobLookup from, ResolveFetch(tx, *run, fetch));
    RETURN_IF_ERROR(CheckFilesKept(tx, from, "artifacts"));
    ASSIGN_OR_RETURN(files, FilesToFetch(tx, from, fetch.source, fetch.is_file));
    return absl::OkStatus();
  }));
  return files;
}

absl::StatusOr<std::vector<FetchedFile>> ArtifactService::FilesForOperator(
    store::Db& db, const v1::ArtifactRequest& request) {
  std::vector<FetchedFile> files;
  std::string prefix;
  if (!request.path().empty()) {
    auto clean = CleanArtifactDir(request.path());
    if (!clean.ok()) return clean.status();
    prefix = *clean;
  }
  RETURN_IF_ERROR(db.Run("ListArtifacts", [&](store::Tx& tx) -> absl::Status {
    files.clear();
    ASSIGN_OR_RETURN(JobLookup found,
                     FindJob(tx, request.pipeline(), request.counter(), request.stage(),
                             request.stage_counter(), request.job()));
    RETURN_IF_ERROR(CheckFilesKept(tx, found, "artifacts"));
    for (auto& a : tx.Artifacts(found.job.OutputAttempt(), prefix)) {
      FetchedFile f;
      f.name = a.path;
      f.artifact = std::move(a);
      files.push_back(std::move(f));
    }
    if (files.empty() && !prefix.empty()) {
      return absl::NotFoundError(absl::StrCat("no artifact '", prefix, "' in ", found.Locator()));
    }
    return absl::OkStatus();
  }));
  return files;
}

}  // namespace gantry
