// The controller's side of artifacts, below the gRPC adapters: who may
// upload what, where the bytes go, which files a fetch or an operator gets.
// Every method runs on a DbPool thread (SQL and file I/O), never on a gRPC
// thread; the adapters in controller/rpc/artifact_*_stream.cc drive them one
// chunk at a time, so memory stays flat whatever the file size.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/artifacts/blob_store.h"
#include "controller/artifacts/fetch_resolver.h"
#include "controller/config_cache.h"
#include "controller/db_pool.h"
#include "gantry/v1/agent.pb.h"
#include "gantry/v1/operator.pb.h"

namespace gantry {

// One file on its way in.
struct Upload {
  int64_t attempt_id = 0;
  std::string agent_id;
  store::ArtifactRecord record;  // path, kind, executable; size/digest at the end
  int64_t claimed_size = 0;
  std::unique_ptr<BlobStore::Writer> writer;
};

// One file received and verified, not yet in place nor recorded: the pin
// keeps retention off its blob until the row naming it is committed.
struct StoredUpload {
  store::ArtifactRecord record;
  BlobStore::Pin pin;
  std::unique_ptr<BlobStore::Writer> writer;  // verified; RecordUploads places it
};

class ArtifactService {
 public:
  ArtifactService(std::vector<std::unique_ptr<store::Db>> connections, ConfigCache* configs,
                  BlobStore* blobs);
  ~ArtifactService();

  DbPool& pool() { return pool_; }
  const BlobStore& blobs() const { return *blobs_; }

  // --- on pool threads
  // Checks the agent, that the attempt runs on it and the path is clean.
  absl::StatusOr<std::unique_ptr<Upload>> StartUpload(store::Db& db,
                                                      const v1::ArtifactUploadHeader& header);
  // The next file of a stream whose first header StartUpload authorized
  // (same agent and attempt, checked by the caller): the path checks and a
  // new blob writer, no SQL. RecordUploads checks the attempt again.
  absl::StatusOr<std::unique_ptr<Upload>> StartNextUpload(const v1::ArtifactUploadHeader& header);
  // Verifies the size and the claimed checksum(s); the blob stays in
  // incoming, unsynced.
  absl::StatusOr<StoredUpload> StoreUpload(Upload& upload, const v1::ArtifactUploadTrailer& claim);
  // Makes the files durable and moves them into place (their data synced
  // one after another, then each directory once: one journal commit pays
  // for many small files), then records them in one transaction.
  absl::Status RecordUploads(store::Db& db, const std::string& agent_id, int64_t attempt_id,
                             std::vector<StoredUpload>& files);
  // StoreUpload and RecordUploads of one file.
  absl::StatusOr<v1::UploadArtifactResponse> FinishUpload(store::Db& db, Upload& upload,
                                                          const std::string& sha256);
  // The files of the attempt's fetch task `task_index`, resolved through the
  // run's build cause.
  absl::StatusOr<std::vector<FetchedFile>> FilesForFetch(
      store::Db& db, const v1::DownloadArtifactRequest& request);
  // An operator's view: the stored files under request.path, named by their
  // full artifact path.
  absl::StatusOr<std::vector<FetchedFile>> FilesForOperator(store::Db& db,
                                                            const v1::ArtifactRequest& request);

  void Stop() { pool_.Stop(); }

 private:
  // The attempt, if `auth` proves the agent and the attempt runs on it.
  absl::StatusOr<store::JobRunRecord> HeldAttempt(store::Tx& tx, const v1::AgentAuth& auth);

  ConfigCache* configs_;
  BlobStore* blobs_;
  DbPool pool_;
};

}  // namespace gantry
