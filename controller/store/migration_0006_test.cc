// Migration 0006 (agent admission) on a database written by older
// controllers: duplicate agent names are renamed deterministically (the
// oldest keeps its name, a taken new name gets a counter), so the unique
// index can always be created; admitted agents keep what they had, pending
// ones keep nothing of their request.
#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>
#include <string>

#include "controller/embedded_pg/test_postgres.h"
#include "controller/store/migrations.h"

namespace gantry::store {
namespace {

const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-migration-0006-test"));

void MigrateBelow(pqxx::connection& conn, int version) {
  for (const Migration& m : AllMigrations()) {
    if (m.version >= version) break;
    pqxx::work work(conn);
    work.exec(m.sql);
    work.commit();
  }
}

const Migration& MigrationNumber(int version) {
  for (const Migration& m : AllMigrations()) {
    if (m.version == version) return m;
  }
  ADD_FAILURE() << "no migration " << version;
  return AllMigrations().front();
}

void AddAgent(pqxx::work& work, const std::string& id, const std::string& name,
              const std::string& state, int created_minute) {
  work.exec_params(
      "INSERT INTO agents (id, name, token_hash, state, resources, environments, created_at) "
      "VALUES ($1, $2, 'h', $3, 'linux', 'prod', "
      "timestamptz '2026-01-01 00:00:00+00' + $4 * interval '1 minute')",
      id, name, state, created_minute);
}

TEST(Migration0006Test, RenamesDuplicatesAndKeepsWhatAgentsHad) {
  pqxx::connection conn(TestPostgres::FreshDatabase("mig6_"));
  MigrateBelow(conn, 6);
  {
    pqxx::work work(conn);
    AddAgent(work, "cccccccc33", "build", "enabled", 3);
    AddAgent(work, "aaaaaaaa11", "build", "enabled", 1);
    AddAgent(work, "bbbbbbbb22", "build", "pending", 2);
    AddAgent(work, "dddddddd44", "build-bbbbbbbb", "disabled", 4);
    AddAgent(work, "eeeeeeee55", std::string(255, 'x'), "enabled", 5);
    AddAgent(work, "ffffffff66", std::string(255, 'x'), "enabled", 6);
    work.commit();
  }
  {
    pqxx::work work(conn);
    work.exec(MigrationNumber(6).sql);
    work.commit();
  }
  pqxx::work work(conn);
  std::map<std::string, std::string> names;
  for (const auto& r : work.exec("SELECT id, name FROM agents")) {
    names[r[0].as<std::string>()] = r[1].as<std::string>();
  }
  EXPECT_EQ(names["aaaaaaaa11"], "build");  // the oldest keeps it
  EXPECT_EQ(names["bbbbbbbb22"], "build-bbbbbbbb-2");
  EXPECT_EQ(names["cccccccc33"], "build-cccccccc");
  EXPECT_EQ(names["dddddddd44"], "build-bbbbbbbb");
  EXPECT_EQ(names["ffffffff66"], std::string(246, 'x') + "-ffffffff");
  EXPECT_EQ(names["ffffffff66"].size(), 255u);

  auto admitted = work.exec1(
      "SELECT resources, environments, requested_environments, allowed_environments, "
      "register_key, assigned_environments IS NULL FROM agents WHERE id = 'aaaaaaaa11'");
  EXPECT_EQ(admitted[0].as<std::string>(), "linux");
  EXPECT_EQ(admitted[1].as<std::string>(), "prod");
  EXPECT_EQ(admitted[2].as<std::string>(), "prod");
  EXPECT_EQ(admitted[3].as<std::string>(), "*");
  EXPECT_EQ(admitted[4].as<std::string>(), "bootstrap");
  EXPECT_TRUE(admitted[5].as<bool>());
  auto pending = work.exec1(
      "SELECT resources, environments, requested_environments, allowed_environments "
      "FROM agents WHERE id = 'bbbbbbbb22'");
  EXPECT_EQ(pending[0].as<std::string>(), "");
  EXPECT_EQ(pending[1].as<std::string>(), "");
  EXPECT_EQ(pending[2].as<std::string>(), "prod");
  EXPECT_EQ(pending[3].as<std::string>(), "");

  EXPECT_THROW(AddAgent(work, "gggggggg77", "build", "enabled", 7), pqxx::unique_violation);
}

}  // namespace
}  // namespace gantry::store
