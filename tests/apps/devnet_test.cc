// `zipnet devnet` (make demo): both the child-process mode and --in-process finalize rounds
// with every client's message decoded, stop by themselves after --rounds, exit 0 and remove
// their temporary state.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "apps/subprocess.h"

namespace zipnet::apps {
namespace {

void expect_rounds(const std::vector<std::string>& args) {
  auto r = zipnet_test::run_zipnet(args, {}, {}, std::chrono::seconds(90));
  ASSERT_TRUE(r.rc) << "devnet did not stop by itself\n" << r.out << r.err;
  EXPECT_EQ(*r.rc, 0) << r.out << r.err;
  std::smatch m;
  EXPECT_TRUE(std::regex_search(r.out, m, std::regex("round +[0-9]+ finalized  participants=2 servers=3 messages=")))
      << r.out;
  EXPECT_NE(r.out.find("hello from client-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hello from client-2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 rounds finalized; stopping"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("temporary state removed"), std::string::npos) << r.out;
  std::smatch d;
  ASSERT_TRUE(std::regex_search(r.out, d, std::regex("dir=([^ ]+) \\(temporary\\)")));
  EXPECT_FALSE(std::filesystem::exists(d[1].str())) << d[1];
}

TEST(ZipnetDevnet, ChildProcessesFinalizeRoundsAndCleanUp) {
  expect_rounds({"devnet", "--servers", "3", "--clients", "2", "--rounds", "3"});
}

TEST(ZipnetDevnet, InProcessFinalizesRoundsAndCleansUp) {
  expect_rounds({"devnet", "--in-process", "--servers", "3", "--clients", "2", "--rounds", "3"});
}

}  // namespace
}  // namespace zipnet::apps
