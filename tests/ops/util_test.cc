#include "ops/util.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

namespace zipnet::ops {
namespace {

TEST(OpsUtil, FreePortsAreDistinctAndBindable) {
  std::set<uint16_t> seen;
  for (int i = 0; i < 20; ++i) {
    auto p = free_port();
    EXPECT_GT(p, 0);
    EXPECT_TRUE(seen.insert(p).second) << "port handed out twice: " << p;
  }
}

TEST(OpsUtil, TempDirIsRemovedUnlessKept) {
  std::filesystem::path p;
  {
    TempDir d("ops-util");
    p = d.path();
    auto sub = d.subdir("a/b");
    EXPECT_TRUE(std::filesystem::is_directory(sub));
  }
  if (keep_test_dirs()) {
    EXPECT_TRUE(std::filesystem::exists(p));
    std::filesystem::remove_all(p);
  } else {
    EXPECT_FALSE(std::filesystem::exists(p));
  }
}

TEST(OpsUtil, TimeoutsScaleWithTheFactor) {
  EXPECT_GT(time_factor(), 0);
  EXPECT_EQ(scaled(Millis(1000)).count(), static_cast<int64_t>(1000 * time_factor()));
}

TEST(OpsUtil, ResultLines) {
  std::ostringstream out;
  Results r(out);
  r.pass("S1");
  r.pass("B3", "fault injection: /debug/block");
  r.fail("S2a", "no leader within 5.5 s");
  r.skip("T1", "");
  EXPECT_EQ(r.summary(), "2 passed, 1 failed, 1 skipped");
  EXPECT_EQ(out.str(),
            "PASS S1\n"
            "PASS B3 (fault injection: /debug/block)\n"
            "FAIL S2a: no leader within 5.5 s\n"
            "SKIP T1: (no reason given)\n"
            "2 passed, 1 failed, 1 skipped\n");
  std::ostringstream out2;
  Results r2(out2);
  r2.pass("A");
  EXPECT_EQ(r2.summary(), "1 passed, 0 failed");
}

TEST(OpsUtil, RunCommandReportsExitCodeAndOutput) {
  std::string out;
  EXPECT_EQ(run_command({"sh", "-c", "echo hi; echo err >&2; exit 3"}, &out), 3);
  EXPECT_EQ(out, "hi\nerr\n");
  EXPECT_EQ(run_command({"/nonexistent/binary"}, &out), -1);
}

}  // namespace
}  // namespace zipnet::ops
