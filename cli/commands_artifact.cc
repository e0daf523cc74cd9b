// gantry artifact list|get.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/format.h"
#include "common/artifact_path.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/locator.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace v1 = gantry::v1;

struct ArtifactFlags {
  std::string locator;
  std::string path;
  std::string dir = ".";
};

absl::StatusOr<v1::ArtifactRequest> RequestFor(const ArtifactFlags& flags) {
  ASSIGN_OR_RETURN(Locator loc, ParseLocator(flags.locator, LocatorKind::kJob));
  v1::ArtifactRequest request;
  request.set_pipeline(loc.pipeline);
  request.set_counter(loc.counter);
  request.set_stage(loc.stage);
  request.set_stage_counter(loc.stage_counter);
  request.set_job(loc.job);
  RETURN_IF_ERROR(RequireUtf8(flags.path, "artifact path"));
  request.set_path(flags.path);
  return request;
}

absl::StatusOr<int> List(CommandContext& ctx, const ArtifactFlags& flags) {
  ASSIGN_OR_RETURN(v1::ArtifactRequest request, RequestFor(flags));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ListArtifactsResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(conn->stub().ListArtifacts(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  if (response.files().empty()) {
    ctx.out() << "no artifacts\n";
    return kExitOk;
  }
  Table table({"PATH", "SIZE", "SHA256"});
  for (const v1::ArtifactFile& f : response.files()) {
    table.AddRow({f.path(), absl::StrCat(f.size()), f.sha256()});
  }
  table.Print(ctx.out());
  return kExitOk;
}

// One file being received: written to a temp name next to its target,
// renamed into place once its size and digest check out.
class IncomingFile {
 public:
  static absl::StatusOr<std::unique_ptr<IncomingFile>> Open(const std::string& dir,
                                                            const v1::ArtifactFile& header) {
    ASSIGN_OR_RETURN(std::string name, CleanArtifactPath(header.path()));
    auto f = std::unique_ptr<IncomingFile>(new IncomingFile);
    f->header_ = header;
    f->target_ = absl::StrCat(dir, "/", name);
    std::string parent = f->target_.substr(0, f->target_.rfind('/'));
    RETURN_IF_ERROR(MakeDirs(parent));
    f->temp_ = absl::StrCat(parent, "/.gantry-", RandomHex(6), ".part");
    f->fd_ = ::open(f->temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                    header.executable() ? 0755 : 0644);
    if (f->fd_ < 0) {
      return absl::InternalError(absl::StrCat("create ", f->temp_, ": ", std::strerror(errno)));
    }
    return f;
  }

  ~IncomingFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!done_) ::unlink(temp_.c_str());
  }

  absl::Status Write(const std::string& data) {
    hasher_.Update(data);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::InternalError(absl::StrCat("write ", temp_, ": ", std::strerror(errno)));
      off += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Finish() {
    int64_t size = static_cast<int64_t>(hasher_.bytes());
    std::string digest = hasher_.FinishHex();
    if (size != header_.size() || digest != header_.sha256()) {
      return absl::DataLossError(absl::StrCat("checksum mismatch for ", header_.path(),
                                              ": expected sha256 ", header_.sha256(), " (",
                                              header_.size(), " bytes), got ", digest, " (",
                                              size, " bytes)"));
    }
    ::close(fd_);
    fd_ = -1;
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("rename ", target_, ": ", std::strerror(errno)));
    }
    done_ = true;
    return absl::OkStatus();
  }

  const std::string& target() const { return target_; }
  const v1::ArtifactFile& header() const { return header_; }
  int64_t size() const { return header_.size(); }

 private:
  IncomingFile() = default;
  v1::ArtifactFile header_;
  std::string target_, temp_;
  int fd_ = -1;
  Sha256Hasher hasher_;
  bool done_ = false;
};

absl::StatusOr<int> Get(CommandContext& ctx, const ArtifactFlags& flags) {
  ASSIGN_OR_RETURN(v1::ArtifactRequest request, RequestFor(flags));
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  // No deadline: a large artifact takes as long as it takes.
  auto context = conn->NewStreamContext();
  auto reader = conn->stub().GetArtifact(context.get(), request);
  v1::ArtifactStreamChunk chunk;
  std::unique_ptr<IncomingFile> file;
  v1::ListArtifactsResponse written;  // what -o json reports
  auto finish_file = [&]() -> absl::Status {
    if (!file) return absl::OkStatus();
    RETURN_IF_ERROR(file->Finish());
    if (!ctx.json()) ctx.out() << file->target() << " (" << file->size() << " bytes)\n";
    *written.add_files() = file->header();
    file.reset();
    return absl::OkStatus();
  };
  while (reader->Read(&chunk)) {
    if (chunk.has_file()) {
      RETURN_IF_ERROR(finish_file());
      ASSIGN_OR_RETURN(file, IncomingFile::Open(flags.dir, chunk.file()));
    } else if (file) {
      RETURN_IF_ERROR(file->Write(chunk.data()));
    }
  }
  RETURN_IF_ERROR(conn->Check(reader->Finish()));
  RETURN_IF_ERROR(finish_file());
  if (ctx.json()) RETURN_IF_ERROR(ctx.PrintJson(written));
  return kExitOk;
}

}  // namespace

void AddArtifactCommands(CLI::App& app, Action* action) {
  CLI::App* artifact = app.add_subcommand("artifact", "List and download a job's artifacts");
  artifact->require_subcommand(1);
  auto flags = std::make_shared<ArtifactFlags>();
  const char* job_help = "PIPELINE/COUNTER/STAGE[/ATTEMPT]/JOB (default attempt: the newest)";

  CLI::App* list = artifact->add_subcommand("list", "List a job's artifact files");
  list->add_option("JOB", flags->locator, job_help)->required();
  list->add_option("PATH", flags->path, "Only this file or directory");
  list->callback([action, flags] {
    *action = [flags](CommandContext& ctx) { return List(ctx, *flags); };
  });

  CLI::App* get = artifact->add_subcommand(
      "get", "Download a job's artifacts, checking each file's SHA-256");
  get->add_option("JOB", flags->locator, job_help)->required();
  get->add_option("PATH", flags->path, "A file or directory (default: all)");
  get->add_option("-d,--dir", flags->dir, "Directory to write into (default: .)");
  get->callback([action, flags] {
    *action = [flags](CommandContext& ctx) { return Get(ctx, *flags); };
  });
}

}  // namespace gantry::cli
