// For test binaries that need a real PostgreSQL: one non-durable cluster for
// the whole binary (a gtest global environment), a fresh database per test.
// Test-only: include from *_test.cc files that link GoogleTest.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <string>

#include "controller/embedded_pg/embedded_postgres.h"

namespace gantry {

class TestPostgres : public ::testing::Environment {
 public:
  // `name` labels the cluster's temporary directory.
  explicit TestPostgres(std::string name) : name_(std::move(name)) {}

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           (name_ + "-" + std::to_string(getpid()));
    EmbeddedPostgresOptions opts;
    opts.data_dir = dir_.string();
    opts.durable = false;
    opts.template_dir = "/tmp/gantry-pg-templates";
    auto pg = EmbeddedPostgres::Start(opts);
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
    current() = pg_.get();
  }
  void TearDown() override {
    current() = nullptr;
    pg_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // The running cluster (set between SetUp and TearDown).
  static EmbeddedPostgres*& current() {
    static EmbeddedPostgres* pg = nullptr;
    return pg;
  }

  // A fresh, empty database `prefix` + the running test's name (lower case);
  // its connection string.
  static std::string FreshDatabase(const std::string& prefix) {
    std::string name =
        prefix + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_TRUE(current()->DropDatabase(name).ok());
    EXPECT_TRUE(current()->CreateDatabase(name).ok());
    return current()->ConnectionString(name);
  }

 private:
  std::string name_;
  std::filesystem::path dir_;
  std::unique_ptr<EmbeddedPostgres> pg_;
};

}  // namespace gantry
