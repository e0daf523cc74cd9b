// The store's prepared statements against a real PostgreSQL: each one is
// valid SQL for the migrated schema, defining them costs nothing on a schema
// that does not exist yet, and a connection Db reopens gets them again.
#include "controller/store/statements.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <pqxx/pqxx>
#include <map>
#include <set>
#include <string>

#include "controller/embedded_pg/test_postgres.h"
#include "controller/store/db.h"
#include "controller/store/tx.h"

namespace gantry::store {
namespace {

const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-statements-test"));

std::string FreshDatabase() { return TestPostgres::FreshDatabase("stmt_"); }

// Names are unique: a duplicate would make libpqxx refuse the second definition.
TEST(StatementsTest, NamesAreUnique) {
  std::set<std::string> names;
  for (const Statement& s : AllStatements()) {
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
  }
}

// Db connects before it migrates, so defining the statements must not reach
// the server; after migrating, every statement prepares against the schema.
TEST(StatementsTest, EveryStatementPreparesAgainstTheMigratedSchema) {
  std::string url = FreshDatabase();
  auto db = Db::Connect(url, absl::Seconds(10));
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Migrate().ok());

  pqxx::connection conn(url);
  PrepareStatements(conn);
  for (const Statement& s : AllStatements()) {
    try {
      conn.prepare_now(s.name);
    } catch (const std::exception& e) {
      ADD_FAILURE() << s.name << ": " << e.what();
    }
  }
}

// A server that drops the session loses its prepared statements: the
// connection Db reopens must define them again.
TEST(StatementsTest, ReconnectPreparesAgain) {
  std::string url = FreshDatabase();
  auto connected = Db::Connect(url, absl::Seconds(10));
  ASSERT_TRUE(connected.ok()) << connected.status();
  Db& db = **connected;
  db.set_retry_deadline(absl::Seconds(20));
  ASSERT_TRUE(db.Migrate().ok());
  ASSERT_TRUE(db.Run("set", [](Tx& tx) {
                  tx.SetSetting("k", "v1");
                  return absl::OkStatus();
                }).ok());

  {
    pqxx::connection admin(url);
    pqxx::nontransaction work(admin);
    auto killed = work.exec(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    ASSERT_EQ(killed[0][0].as<int>(), 1);
  }

  std::optional<std::string> value;
  absl::Status st = db.Run("get", [&](Tx& tx) {
    tx.SetSetting("k", "v2");
    value = tx.GetSetting("k");
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(value, "v2");
}

// Contact times are written for a fleet at once and never move backwards.
TEST(StatementsTest, RecordAgentContactsKeepsTheNewest) {
  std::string url = FreshDatabase();
  auto connected = Db::Connect(url, absl::Seconds(10));
  ASSERT_TRUE(connected.ok()) << connected.status();
  Db& db = **connected;
  ASSERT_TRUE(db.Migrate().ok());
  std::vector<AgentRecord> agents;
  absl::Status st = db.Run("contacts", [&](Tx& tx) {
    for (const char* id : {"a1", "a2", "a3"}) {
      AgentRecord a;
      a.id = id;
      a.name = id;
      a.token_hash = "h";
      a.state = AgentConfigState::kEnabled;
      tx.InsertAgent(a);
    }
    tx.RecordAgentContacts({{"a1", 1700000000123}, {"a2", 1700000005000}});
    tx.RecordAgentContacts({{"a1", 1600000000000}});  // older: ignored
    agents = tx.Agents();
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  std::map<std::string, int64_t> by_id;
  for (const auto& a : agents) by_id[a.id] = a.last_contact;
  EXPECT_EQ(by_id["a1"], 1700000000123);
  EXPECT_EQ(by_id["a2"], 1700000005000);
  EXPECT_EQ(by_id["a3"], 0);
}

}  // namespace
}  // namespace gantry::store
