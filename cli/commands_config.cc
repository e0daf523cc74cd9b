// gantry config check|apply|show.
#include <google/protobuf/struct.pb.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/command.h"
#include "cli/flag_checks.h"
#include "cli/format.h"
#include "common/config/limits.h"
#include "common/config/parser.h"
#include "common/config/utf8.h"
#include "common/status_macros.h"
#include "gantry/v1/operator.grpc.pb.h"

namespace gantry::cli {
namespace {

namespace fs = std::filesystem;
namespace v1 = gantry::v1;

bool IsYamlName(const std::string& name) {
  return absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml");
}

// The file's first `max_bytes` bytes: past the size limit the rest does not
// matter, and a huge file (or /dev/zero) must not be read into memory.
absl::StatusOr<std::string> ReadAtMost(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string message = absl::StrCat(path, ": ", std::strerror(errno));
    if (errno == ENOENT) return absl::NotFoundError(message);
    return absl::FailedPreconditionError(message);
  }
  std::string content;
  char buffer[64 << 10];
  while (content.size() < max_bytes && in) {
    in.read(buffer,
            static_cast<std::streamsize>(std::min(sizeof buffer, max_bytes - content.size())));
    content.append(buffer, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return content;
}

// Expands each argument: a file stands for itself, a directory for the
// *.yaml and *.yml files directly in it (sorted). Paths are kept as written
// so error messages and stored revisions name what the user typed.
absl::StatusOr<std::vector<config::ConfigFile>> ReadConfigFiles(
    const std::vector<std::string>& args) {
  std::vector<std::string> paths;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(arg, ec)) {
        std::string name = entry.path().filename().string();
        if (entry.is_regular_file(ec) && IsYamlName(name)) {
          found.push_back((fs::path(arg) / name).string());
        }
      }
      if (ec) {
        return absl::FailedPreconditionError(
            absl::StrCat(arg, ": ", ec.message()));
      }
      if (found.empty()) {
        return absl::NotFoundError(
            absl::StrCat(arg, ": no .yaml or .yml files in this directory"));
      }
      std::sort(found.begin(), found.end());
      paths.insert(paths.end(), found.begin(), found.end());
    } else {
      paths.push_back(arg);
    }
  }
  std::vector<config::ConfigFile> files;
  const size_t limit = config::Limits().max_total_bytes;
  size_t total = 0;
  for (const std::string& path : paths) {
    if (std::any_of(files.begin(), files.end(),
                    [&](const auto& f) { return f.path == path; })) {
      continue;  // named twice
    }
    ASSIGN_OR_RETURN(std::string content, ReadAtMost(path, limit - total + 1));
    total += content.size();
    if (total > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":1:1: the config files come to more than ", limit,
                       " bytes with this one; the limit on a configuration (all files together) "
                       "is ",
                       limit >> 20, " MiB"));
    }
    files.push_back({path, std::move(content)});
  }
  return files;
}

std::string Plural(size_t n, const std::string& one, const std::string& many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

absl::StatusOr<int> Check(CommandContext& ctx,
                          const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(std::vector<config::ConfigFile> files,
                   ReadConfigFiles(args));
  config::ParseResult result = config::ParseConfig(files);
  if (!result.ok()) {
    // ErrorText(): every error, one per line, sorted by file and position.
    for (absl::string_view line :
         absl::StrSplit(result.ErrorText(), '\n', absl::SkipWhitespace())) {
      ctx.err() << line << "\n";
    }
    ctx.err().flush();
  }
  if (ctx.json()) {
    google::protobuf::Struct doc;
    auto& fields = *doc.mutable_fields();
    fields["ok"].set_bool_value(result.ok());
    fields["files"].set_number_value(static_cast<double>(files.size()));
    fields["pipelines"].set_number_value(
        static_cast<double>(result.config.pipelines.size()));
    fields["environments"].set_number_value(
        static_cast<double>(result.config.environments.size()));
    fields["more_errors"].set_number_value(static_cast<double>(result.more_errors));
    auto* errors = fields["errors"].mutable_list_value();
    for (const config::ConfigError& error : result.errors) {
      auto& e = *errors->add_values()->mutable_struct_value()->mutable_fields();
      e["file"].set_string_value(error.location.file.str());
      e["line"].set_number_value(error.location.line);
      e["column"].set_number_value(error.location.column);
      e["message"].set_string_value(error.message);
    }
    RETURN_IF_ERROR(ctx.PrintJson(doc));
  } else if (result.ok()) {
    ctx.out() << Plural(files.size(), "file", "files") << " OK ("
              << Plural(result.config.pipelines.size(), "pipeline", "pipelines")
              << ", "
              << Plural(result.config.environments.size(), "environment",
                        "environments")
              << ")\n";
  }
  return result.ok() ? kExitOk : kExitFailure;
}

// What cannot be sent: protobuf strings must be UTF-8. Reported here, in the
// checker's format, since the controller would never see the files.
std::vector<std::string> UnsendableErrors(const std::vector<config::ConfigFile>& files) {
  std::vector<std::string> errors;
  for (const config::ConfigFile& file : files) {
    if (config::FindInvalidUtf8(file.path)) {
      errors.push_back(absl::StrCat(config::ToValidUtf8(file.path),
                                    ": the file name is not UTF-8; rename the file"));
    } else if (auto bad = config::FindInvalidUtf8(file.content)) {
      errors.push_back(absl::StrCat(file.path, ":", bad->line, ":", bad->column, ": ", bad->message,
                                    "; config files must be UTF-8"));
    }
  }
  return errors;
}

// After the controller refused the config: its errors, from a check_only
// call (an error status carries no response body). An older controller
// sends them in the status message instead.
int PrintRefusal(CommandContext& ctx, Connection* conn, v1::ApplyConfigRequest& request,
                 const absl::Status& refusal) {
  request.set_check_only(true);
  v1::ApplyConfigResponse check;
  auto context = conn->NewContext();
  absl::Status status = conn->Check(conn->stub().ApplyConfig(context.get(), request, &check));
  if (status.ok() && check.errors_size() > 0) {
    for (const v1::ConfigError& e : check.errors()) {
      ctx.err() << e.file() << ":" << e.line() << ":" << e.column() << ": " << e.message() << "\n";
    }
    if (check.more_errors() > 0) {
      ctx.err() << config::MoreErrorsText(static_cast<size_t>(check.more_errors())) << "\n";
    }
  } else {
    for (absl::string_view line : absl::StrSplit(refusal.message(), '\n', absl::SkipWhitespace())) {
      ctx.err() << absl::StripTrailingAsciiWhitespace(line) << "\n";
    }
  }
  ctx.err().flush();
  return kExitFailure;
}

absl::StatusOr<int> Apply(CommandContext& ctx,
                          const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(std::vector<config::ConfigFile> files,
                   ReadConfigFiles(args));
  if (std::vector<std::string> errors = UnsendableErrors(files); !errors.empty()) {
    for (const std::string& e : errors) ctx.err() << e << "\n";
    ctx.err().flush();
    return kExitFailure;
  }
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ApplyConfigRequest request;
  for (config::ConfigFile& file : files) {
    v1::ConfigFile* f = request.add_files();
    f->set_path(std::move(file.path));
    f->set_content(std::move(file.content));
  }
  files.clear();
  v1::ApplyConfigResponse response;
  auto context = conn->NewContext();
  absl::Status status =
      conn->Check(conn->stub().ApplyConfig(context.get(), request, &response));
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    return PrintRefusal(ctx, conn, request, status);
  }
  RETURN_IF_ERROR(status);
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  if (response.unchanged()) {
    ctx.out() << "config unchanged (revision " << response.revision()
              << " is current)\n";
    return kExitOk;
  }
  ctx.out() << "config revision " << response.revision() << " applied\n";
  if (!response.diff().empty()) {
    ctx.out() << response.diff();
    if (response.diff().back() != '\n') ctx.out() << "\n";
  }
  return kExitOk;
}

absl::StatusOr<int> Show(CommandContext& ctx, int64_t revision) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ShowConfigRequest request;
  request.set_revision(revision);
  v1::ShowConfigResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(
      conn->Check(conn->stub().ShowConfig(context.get(), request, &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  ctx.out() << "config revision " << response.revision();
  if (!response.author().empty()) ctx.out() << " by " << response.author();
  if (IsSet(response.created_at())) {
    ctx.out() << " at "
              << FormatTimestamp(response.created_at(), ctx.time_zone());
  }
  ctx.out() << "\n";
  if (!response.config_repo().empty()) {
    ctx.out() << "from config repo " << response.config_repo() << " at commit "
              << response.config_repo_commit() << "\n";
  }
  for (const v1::ConfigFile& file : response.files()) {
    ctx.out() << "\n==> " << file.path() << " <==\n" << file.content();
    if (!file.content().empty() && file.content().back() != '\n') {
      ctx.out() << "\n";
    }
  }
  return kExitOk;
}

// `config repo status`: one block per repo.
absl::StatusOr<int> RepoStatus(CommandContext& ctx) {
  ASSIGN_OR_RETURN(Connection * conn, ctx.connection());
  v1::ConfigRepoStatusResponse response;
  auto context = conn->NewContext();
  RETURN_IF_ERROR(conn->Check(
      conn->stub().ConfigRepoStatus(context.get(), v1::ConfigRepoStatusRequest(), &response)));
  if (ctx.json()) {
    RETURN_IF_ERROR(ctx.PrintJson(response));
    return kExitOk;
  }
  if (response.repos().empty()) {
    ctx.out() << "no config repos in the config in force\n";
    return kExitOk;
  }
  auto commit = [](const std::string& sha) { return sha.empty() ? std::string("-") : sha; };
  for (const v1::ConfigRepoState& r : response.repos()) {
    ctx.out() << r.id() << "  " << r.url() << "  branch " << r.branch() << "  pattern "
              << r.pattern() << "\n";
    ctx.out() << "  last seen: " << commit(r.last_seen_commit())
              << (r.errors().empty() ? "" : "  (refused)") << "\n";
    ctx.out() << "  last good: " << commit(r.last_good_commit()) << "\n";
    if (IsSet(r.checked_at())) {
      ctx.out() << "  checked:   " << FormatTimestamp(r.checked_at(), ctx.time_zone()) << "\n";
    }
    if (!r.fetch_error().empty()) ctx.out() << "  fetch failed: " << r.fetch_error() << "\n";
    ctx.out() << "  pipelines: "
              << (r.pipelines().empty() ? std::string("-") : absl::StrJoin(r.pipelines(), ", "))
              << "\n";
    if (!r.errors().empty()) {
      ctx.out() << "  errors of " << r.last_seen_commit().substr(0, 12)
                << " (the last good config stays in force):\n";
      for (const std::string& e : r.errors()) ctx.out() << "    " << e << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

void AddConfigCommands(CLI::App& app, Action* action) {
  CLI::App* config =
      app.add_subcommand("config", "Check, apply and show config");
  config->require_subcommand(1);

  auto check_files = std::make_shared<std::vector<std::string>>();
  CLI::App* check = config->add_subcommand(
      "check", "Validate config files offline (no controller needed)");
  check
      ->add_option("-f,--file", *check_files,
                   "YAML files, or directories of *.yaml/*.yml files")
      ->required();
  check->callback([action, check_files] {
    *action = [check_files](CommandContext& ctx) {
      return Check(ctx, *check_files);
    };
  });

  auto apply_files = std::make_shared<std::vector<std::string>>();
  CLI::App* apply = config->add_subcommand(
      "apply", "Store the files as a new config revision");
  apply
      ->add_option("-f,--file", *apply_files,
                   "YAML files, or directories of *.yaml/*.yml files")
      ->required();
  apply->callback([action, apply_files] {
    *action = [apply_files](CommandContext& ctx) {
      return Apply(ctx, *apply_files);
    };
  });

  auto revision = std::make_shared<int64_t>(0);
  CLI::App* show = config->add_subcommand(
      "show", "Print a config revision's files (default: the current one)");
  show->add_option("--revision", *revision, "Revision number")->check(AtLeastOne());
  show->callback([action, revision] {
    *action = [revision](CommandContext& ctx) { return Show(ctx, *revision); };
  });

  CLI::App* repo = config->add_subcommand("repo", "Config repositories (docs/config-repos.md)");
  repo->require_subcommand(1);
  CLI::App* repo_status = repo->add_subcommand(
      "status", "Each config repo: URL, branch, last seen and last good commit, errors");
  repo_status->callback(
      [action] { *action = [](CommandContext& ctx) { return RepoStatus(ctx); }; });
}

}  // namespace gantry::cli
