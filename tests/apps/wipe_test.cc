// `zipnet wipe --data-dir <d>` as a real process (operations.md §1, §4, §10.5): key files are
// overwritten with zeros before they are unlinked (seen through a hard link to the same inode),
// raft/, archives and the lineage file are deleted, node.json and unrelated files stay; a
// directory that is missing or has no node.json is refused with exit 2 and left untouched.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "subprocess.h"

using namespace zipnet_test;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "zipnet-wipe-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << data;
}

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

}  // namespace

TEST(ZipnetWipe, OverwritesKeysAndRemovesRaftState) {
  TempDir t;
  auto d = t.path / "server";
  write(d / "node.json", R"({"peer_id":"00","instance":"x","role":"server"})");
  write(d / "node.key", std::string(32, '\x11'));
  write(d / "server-dh.key", std::string(40, '\x22'));
  write(d / "client-dh.key", std::string(32, '\x33'));
  write(d / "client-seal.state", std::string(24, '\x44'));
  write(d / "server-dh.key.tmp", std::string(40, '\x55'));
  write(d / "raft" / "metadata1", "m");
  write(d / "raft" / "0000000000000001-0000000000000009", "segment");
  write(d / "raft.rival-0011223344-1700000000" / "metadata1", "old");
  write(d / "raft.signature-5566778899-1700000001" / "snapshot", "old");
  write(d / "lineage", "0011223344556677");
  write(d / "notes.txt", "operator notes");
  // Hard links keep the inodes reachable after unlink: their content shows the overwrite.
  fs::create_hard_link(d / "server-dh.key", t.path / "dh.link");
  fs::create_hard_link(d / "node.key", t.path / "node.link");

  auto dry = run_zipnet({"wipe", "--data-dir", d.string(), "--dry-run"}, {});
  ASSERT_EQ(dry.rc, 0) << dry.out << dry.err;
  EXPECT_NE(dry.out.find("would wipe " + (d / "server-dh.key").string() + " (40 bytes)"), std::string::npos) << dry.out;
  EXPECT_TRUE(fs::exists(d / "server-dh.key"));
  EXPECT_TRUE(fs::exists(d / "raft"));
  EXPECT_EQ(read(t.path / "dh.link"), std::string(40, '\x22'));

  auto r = run_zipnet({"wipe", "--data-dir", d.string()}, {"ZIPNET_DATA_DIR=/nonexistent"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  for (const char* f : {"node.key", "server-dh.key", "client-dh.key", "client-seal.state", "server-dh.key.tmp"}) {
    EXPECT_FALSE(fs::exists(d / f)) << f;
    EXPECT_NE(r.out.find("wiped " + (d / f).string() + " ("), std::string::npos) << f << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("wiped " + (d / "server-dh.key").string() +
                       " (40 bytes overwritten with zeros, fsynced, unlinked)\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(read(t.path / "dh.link"), std::string(40, '\0'));
  EXPECT_EQ(read(t.path / "node.link"), std::string(32, '\0'));
  for (const char* dir : {"raft", "raft.rival-0011223344-1700000000", "raft.signature-5566778899-1700000001"}) {
    EXPECT_FALSE(fs::exists(d / dir)) << dir;
    EXPECT_NE(r.out.find("removed " + (d / dir).string() + "/ ("), std::string::npos) << dir << "\n" << r.out;
  }
  EXPECT_FALSE(fs::exists(d / "lineage"));
  EXPECT_TRUE(fs::exists(d / "node.json"));
  EXPECT_EQ(read(d / "notes.txt"), "operator notes");
  EXPECT_NE(r.out.find("wipe complete: " + d.string() + ": 5 key files wiped, 4 Raft items removed; node.json kept\n"),
            std::string::npos)
      << r.out;

  // A second wipe finds nothing left and still succeeds.
  auto again = run_zipnet({"wipe", "--data-dir", d.string()}, {});
  ASSERT_EQ(again.rc, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("0 key files wiped, 0 Raft items removed"), std::string::npos) << again.out;
}

TEST(ZipnetWipe, RefusesWhatIsNotAZipnetDataDir) {
  TempDir t;
  write(t.path / "home" / "node.key", "not ours to touch");
  write(t.path / "home" / "raft" / "x", "x");
  auto r = run_zipnet({"wipe", "--data-dir", (t.path / "home").string()}, {});
  ASSERT_EQ(r.rc, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("ERROR zipnet_node::roles::common: configuration error: --data-dir: " + (t.path / "home").string() +
                       " does not look like a zipnet data dir (no node.json); refusing to wipe"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read(t.path / "home" / "node.key"), "not ours to touch");
  EXPECT_TRUE(fs::exists(t.path / "home" / "raft" / "x"));

  auto missing = run_zipnet({"wipe", "--data-dir", (t.path / "nope").string()}, {});
  ASSERT_EQ(missing.rc, 2) << missing.out << missing.err;
  EXPECT_NE(missing.err.find("configuration error: --data-dir: " + (t.path / "nope").string() + ": no such directory"),
            std::string::npos)
      << missing.err;

  write(t.path / "file", "x");
  auto file = run_zipnet({"wipe", "--data-dir", (t.path / "file").string()}, {});
  EXPECT_EQ(file.rc, 2) << file.out << file.err;

  auto no_flag = run_zipnet({"wipe"}, {"ZIPNET_DATA_DIR=" + (t.path / "home").string()});
  EXPECT_NE(no_flag.rc, 0);  // --data-dir is required; ZIPNET_DATA_DIR is never read
  EXPECT_EQ(read(t.path / "home" / "node.key"), "not ours to touch");
}
