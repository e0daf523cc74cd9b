// The leader lease on a real PostgreSQL: one leader at a time, takeover
// after expiry, the old leader's sessions ended and its writes fenced. The
// write fence is process-wide, so each test plays both controllers by
// setting the fence to what the controller in question would hold.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controller/embedded_pg/test_postgres.h"
#include "controller/leader/leader_lease.h"
#include "controller/store/tx.h"
#include "controller/store/write_fence.h"

namespace gantry {
namespace {

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new TestPostgres("gantry-lease-test"));

class LeaderLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = TestPostgres::FreshDatabase("lease_");
    auto db = store::Db::Connect(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Migrate().ok());
  }
  void TearDown() override {
    store::WriteFence::SetStandby();
    store::Db::SetApplicationName("");
  }

  std::unique_ptr<LeaderLease> Lease(const std::string& id, absl::Duration timeout) {
    auto db = store::Db::Connect(url_);
    EXPECT_TRUE(db.ok()) << db.status();
    LeaseOptions options;
    options.controller_id = id;
    options.address = absl::StrCat(id, ":8150");
    options.timeout = timeout;
    return std::make_unique<LeaderLease>(std::move(*db), options);
  }

  absl::Status Write(store::Db& db, const std::string& value) {
    return db.Run("Write", [&](store::Tx& tx) {
      tx.SetSetting("lease_test", value);
      return absl::OkStatus();
    });
  }

  std::string url_;
};

TEST_F(LeaderLeaseTest, OneLeadsTheOtherTakesOverOnceTheLeaseRunsOut) {
  auto a = Lease("aaaa", absl::Seconds(1));
  ASSERT_EQ(a->TryAcquire().value_or(false), true);
  EXPECT_TRUE(a->leader());
  EXPECT_EQ(a->Info().epoch(), 1);

  // A's writer connection, named as A's sessions are.
  store::Db::SetApplicationName(LeaderLease::ApplicationName(absl::StrCat("aaaa/", getpid())));
  auto writer = store::Db::Connect(url_);
  ASSERT_TRUE(writer.ok());
  store::Db::SetApplicationName("");
  (*writer)->set_retry_deadline(absl::Seconds(5));
  ASSERT_TRUE(Write(**writer, "a1").ok());

  auto b = Lease("bbbb", absl::Seconds(1));
  ASSERT_EQ(b->TryAcquire().value_or(true), false) << "A's lease has not run out";
  EXPECT_FALSE(b->leader());
  EXPECT_EQ(b->Info().leader_address(), "aaaa:8150");
  EXPECT_EQ(b->NotLeader().message(), "not the leader (leader at aaaa:8150)");

  // A stops renewing (as if stopped); B takes over once the lease ran out.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool took = false;
  while (!took && std::chrono::steady_clock::now() < deadline) {
    auto r = b->TryAcquire();
    ASSERT_TRUE(r.ok()) << r.status();
    took = *r;
    if (!took) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(took);
  EXPECT_EQ(b->Info().epoch(), 2);

  // A resumes: its session was ended by the takeover, and on a new one the
  // epoch check refuses the write before anything is written.
  store::WriteFence::SetLeader(1);
  absl::Status st = Write(**writer, "a2");
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_NE(st.message().find("another controller took the leader lease (epoch 2"),
            std::string::npos)
      << st;

  // B writes under its own epoch; nothing of A's second write is there.
  store::WriteFence::SetLeader(2);
  auto b_writer = store::Db::Connect(url_);
  ASSERT_TRUE(b_writer.ok());
  std::optional<std::string> value;
  ASSERT_TRUE((*b_writer)
                  ->Run("Read",
                        [&](store::Tx& tx) {
                          value = tx.GetSetting("lease_test");
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_EQ(value, "a1");
  EXPECT_TRUE(Write(**b_writer, "b1").ok());
}

TEST_F(LeaderLeaseTest, AStandbyWritesNothing) {
  auto a = Lease("aaaa", absl::Seconds(10));
  ASSERT_EQ(a->TryAcquire().value_or(false), true);
  auto b = Lease("bbbb", absl::Seconds(10));
  ASSERT_EQ(b->TryAcquire().value_or(true), false);
  auto writer = store::Db::Connect(url_);
  ASSERT_TRUE(writer.ok());
  absl::Status st = Write(**writer, "x");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("read-only transaction"), std::string::npos) << st;
}

TEST_F(LeaderLeaseTest, TheSameDataDirTakesBackAtOnceAndAReleaseHandsOver) {
  auto a = Lease("aaaa", absl::Seconds(30));
  ASSERT_EQ(a->TryAcquire().value_or(false), true);
  // A restart of the same data dir (its lock proves the old process gone)
  // does not wait out the lease.
  auto again = Lease("aaaa", absl::Seconds(30));
  ASSERT_EQ(again->TryAcquire().value_or(false), true);
  EXPECT_EQ(again->Info().epoch(), 2);
  // A clean stop releases: another controller takes over without waiting.
  again->Stop();
  auto b = Lease("bbbb", absl::Seconds(30));
  ASSERT_EQ(b->TryAcquire().value_or(false), true);
  EXPECT_EQ(b->Info().epoch(), 3);
}

}  // namespace
}  // namespace gantry
