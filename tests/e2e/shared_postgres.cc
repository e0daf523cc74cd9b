// The process-wide PostgreSQL of the e2e suites (SharedPostgres) and the
// janitor for those of test processes that died.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "tests/e2e/harness.h"
#include "tests/e2e/harness_files.h"

namespace gantry::e2e {
namespace {

namespace fs = std::filesystem;

// The process-wide PostgreSQL and the directory it lives in.
class SharedPg {
 public:
  ~SharedPg() {
    if (pg_ != nullptr) {
      absl::Status s = pg_->Stop();
      if (!s.ok()) std::cerr << "e2e: stopping PostgreSQL: " << s << "\n";
      pg_.reset();
    }
    if (!dir_.empty()) {
      if (::testing::UnitTest::GetInstance()->failed_test_count() > 0) {
        std::cerr << "e2e: kept the PostgreSQL cluster of the failed run in " << dir_ << "\n";
      } else {
        RemoveTree(dir_);
      }
    }
    if (owner_lock_ >= 0) ::close(owner_lock_);
  }

  absl::StatusOr<EmbeddedPostgres*> Get() {
    absl::MutexLock lock(&mu_);
    if (pg_ != nullptr) return pg_.get();
    if (!status_.ok()) return status_;
    status_ = StartLocked();
    if (!status_.ok()) return status_;
    return pg_.get();
  }

 private:
  absl::Status StartLocked() {
    StopOrphanedPostgres("/tmp");
    ASSIGN_OR_RETURN(dir_, MakeTempDir("gantry-e2e-pg"));
    // Held until this process ends: while it is locked, no janitor touches
    // the directory.
    const std::string owner = dir_ + "/owner.pid";
    owner_lock_ = ::open(owner.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (owner_lock_ < 0 || ::flock(owner_lock_, LOCK_EX) != 0) {
      return absl::InternalError(absl::StrCat("e2e: cannot lock ", owner, ": ", strerror(errno)));
    }
    std::string pid = absl::StrCat(::getpid(), "\n");
    if (::write(owner_lock_, pid.data(), pid.size()) < 0) {
      return absl::InternalError(absl::StrCat("e2e: cannot write ", owner, ": ", strerror(errno)));
    }
    absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> pg =
        EmbeddedPostgres::Start(SharedPostgresOptions(dir_));
    if (!pg.ok()) {
      return absl::Status(pg.status().code(), absl::StrCat("e2e: starting the shared PostgreSQL: ",
                                                           pg.status().message()));
    }
    pg_ = std::move(*pg);
    return absl::OkStatus();
  }

  absl::Mutex mu_;
  std::string dir_;
  int owner_lock_ = -1;  // flock'ed dir_/owner.pid
  std::unique_ptr<EmbeddedPostgres> pg_;
  absl::Status status_;
};

}  // namespace

EmbeddedPostgresOptions SharedPostgresOptions(const std::string& dir) {
  EmbeddedPostgresOptions options;
  options.data_dir = dir;
  options.durable = false;
  options.database = "postgres";
  // A cache shared by every e2e process of this user: initdb once, then
  // copy (seconds → well under one).
  options.template_dir = absl::StrCat("/tmp/gantry-e2e-pg-template-", ::geteuid());
  return options;
}

void StopOrphanedPostgres(const std::string& parent) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, "gantry-e2e-pg-") ||
        absl::StartsWith(name, "gantry-e2e-pg-template")) {
      continue;
    }
    const std::string dir = entry.path().string();
    const std::string owner = dir + "/owner.pid";
    // The owner holds this lock while it lives, and so does a janitor while
    // it cleans: getting it means nobody else cares for the directory.
    int lock = ::open(owner.c_str(), O_RDWR | O_CLOEXEC);
    if (lock < 0) continue;
    if (::flock(lock, LOCK_EX | LOCK_NB) == 0 && FileExists(dir + "/pg/postmaster.pid")) {
      std::cerr << "e2e: stopping the PostgreSQL left by dead test process "
                << absl::StripAsciiWhitespace(ReadOrEmpty(owner)) << " in " << dir << "\n";
      absl::StatusOr<std::unique_ptr<EmbeddedPostgres>> orphan =
          EmbeddedPostgres::Start(SharedPostgresOptions(dir));
      if (orphan.ok() && (*orphan)->Stop().ok()) {
        RemoveTree(dir);
      } else {
        std::cerr << "e2e: could not stop it: "
                  << (orphan.ok() ? "pg_ctl stop failed" : orphan.status().ToString()) << "\n";
      }
    }
    ::close(lock);  // a kept directory of a failed run stays as it is
  }
}

absl::StatusOr<EmbeddedPostgres*> SharedPostgres() {
  // Destroyed at exit, after the last test (and before gtest's UnitTest).
  static SharedPg* shared = [] {
    // Constructed first so that they are destroyed after `instance`.
    ::testing::UnitTest::GetInstance();
    spdlog::default_logger();
    static SharedPg instance;
    return &instance;
  }();
  return shared->Get();
}

absl::Status StopSharedPostgres() {
  ASSIGN_OR_RETURN(EmbeddedPostgres * pg, SharedPostgres());
  return pg->Stop();
}

absl::Status StartSharedPostgres() {
  ASSIGN_OR_RETURN(EmbeddedPostgres * pg, SharedPostgres());
  return pg->Restart();
}

}  // namespace gantry::e2e
