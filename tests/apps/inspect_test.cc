// `zipnet inspect` and `zipnet ids` against a real one-server committee (operations.md §1,
// protocol.md §10): the server's bundle in ServerRegistry (JSON and text), the unpinned WARN,
// --expect-servers, the empty LiveRound, offline explanations (exit 1), --follow until SIGTERM,
// the pin and GROUP_ID read by `zipnet ids`, and — with an aggregator and a talking client — a
// finalized round decoded from Broadcasts.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "mosaik/network/config.h"
#include "proto/ed25519.h"
#include "subprocess.h"

using namespace zipnet_test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kServerSeed = std::string(63, '4') + "1";
const std::string kCommitteeSecret = std::string(63, '9') + "e";

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> v;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    auto line = out.substr(pos, nl - pos);
    if (!line.empty()) v.push_back(json::parse(line));  // throws on anything but JSON
    pos = nl + 1;
  }
  return v;
}

}  // namespace

class ZipnetInspect : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string t = (fs::temp_directory_path() / "zipnet-inspect-XXXXXX").string();
    ASSERT_TRUE(::mkdtemp(t.data()));
    dir_ = new fs::path(t);
    instance_ = new std::string("inspect-test-" + std::to_string(::getpid()));
    peer_ = new std::string(zipnet::proto::SigningKey(mosaik::secret_from_string(kServerSeed)).peer_id().hex());
    int port = free_port();
    boot_ = new std::string(*peer_ + "@127.0.0.1:" + std::to_string(port));
    server_ = new Proc({"server"}, {"ZIPNET_INSTANCE=" + *instance_, "ZIPNET_SECRET=" + kServerSeed,
                                    "ZIPNET_COMMITTEE_SECRET=" + kCommitteeSecret,
                                    "ZIPNET_LISTEN=127.0.0.1:" + std::to_string(port), "ZIPNET_MDNS=false",
                                    "ZIPNET_BOOTSTRAP_DELAY=1s", "ZIPNET_ROUND_PERIOD=1s", "ZIPNET_ROUND_DEADLINE=5s",
                                    "ZIPNET_DATA_DIR=" + (*dir_ / "server").string()});
    auto pin = server_->wait_line(std::regex("committee pin: ZIPNET_COMMITTEE=([0-9a-f]{64})$"), 60s);
    ASSERT_TRUE(pin) << server_->output();
    ASSERT_EQ((*pin)[1].str(), *peer_);
  }
  static void TearDownTestSuite() {
    for (auto** p : {&client_, &aggregator_, &server_}) {
      if (!*p) continue;
      (*p)->signal(SIGTERM);
      (*p)->wait_exit(10s);
      delete *p;
      *p = nullptr;
    }
    std::error_code ec;
    if (dir_) fs::remove_all(*dir_, ec);
    delete dir_;
    delete instance_;
    delete peer_;
    delete boot_;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "server did not start";
  }

  /// The environment of a follower of the test instance.
  static std::vector<std::string> env(std::vector<std::string> extra = {}) {
    std::vector<std::string> e = {"ZIPNET_INSTANCE=" + *instance_, "ZIPNET_BOOTSTRAP=" + *boot_, "ZIPNET_MDNS=false",
                                  "ZIPNET_LISTEN=127.0.0.1:0"};
    e.insert(e.end(), extra.begin(), extra.end());
    return e;
  }

  static inline fs::path* dir_ = nullptr;
  static inline std::string* instance_ = nullptr;
  static inline std::string* peer_ = nullptr;
  static inline std::string* boot_ = nullptr;
  static inline Proc* server_ = nullptr;
  static inline Proc* aggregator_ = nullptr;
  static inline Proc* client_ = nullptr;
};

TEST_F(ZipnetInspect, ServerRegistryShowsTheServersBundle) {
  auto r = run_zipnet({"inspect", "server-registry", "--json"}, env());
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const auto& b = lines[0];
  EXPECT_EQ(b["collection"], "server-registry");
  EXPECT_EQ(b["server_id"], *peer_);
  EXPECT_EQ(b["valid"], true);
  EXPECT_EQ(b["dh_pub"].get<std::string>().size(), 64u);
  EXPECT_GT(b["issued_at_ms"].get<std::int64_t>(), 1'600'000'000'000);
  EXPECT_GT(b["version"].get<std::uint64_t>(), 0u);
  EXPECT_NE(r.err.find("WARN zipnet_node::roles::common: committee not pinned: trusting any host of instance=" +
                       *instance_ + " (set ZIPNET_COMMITTEE)"),
            std::string::npos)
      << r.err;

  // Pinned, text, --expect-servers.
  auto t = run_zipnet({"inspect", "server-registry", "--expect-servers", "1"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  ASSERT_EQ(t.rc, 0) << t.out << t.err;
  EXPECT_EQ(t.err.find("committee not pinned"), std::string::npos) << t.err;
  EXPECT_TRUE(std::regex_search(t.out, std::regex("^# server-registry instance=" + *instance_ +
                                                  " version=\\d+ lineage=[0-9a-f]{32} host=" + *peer_ + " records=1\n")))
      << t.out;
  EXPECT_TRUE(std::regex_search(t.out, std::regex("\nserver " + *peer_ +
                                                  " dh_pub=[0-9a-f]{64} issued_at=\\d{4}-\\d\\d-\\d\\dT\\S+Z "
                                                  "issued_at_ms=\\d+ valid=yes\n$")))
      << t.out;

  auto bad = run_zipnet({"inspect", "server-registry", "--expect-servers", "3"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  EXPECT_EQ(bad.rc, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("expect-servers: ServerRegistry has 1 server(s), expected 3"), std::string::npos) << bad.err;
}

TEST_F(ZipnetInspect, EmptyCollectionsAndUsageErrors) {
  // No client yet: no round opened, no client registered, no broadcast.
  auto live = run_zipnet({"inspect", "live-round", "--json"}, env());
  ASSERT_EQ(live.rc, 0) << live.out << live.err;
  auto lines = json_lines(live.out);
  ASSERT_EQ(lines.size(), 1u) << live.out;
  EXPECT_TRUE(lines[0]["round"].is_null()) << live.out;
  auto clients = run_zipnet({"inspect", "client-registry", "--json"}, env());
  ASSERT_EQ(clients.rc, 0) << clients.err;
  EXPECT_EQ(clients.out, "");
  auto bc = run_zipnet({"inspect", "broadcasts"}, env());
  ASSERT_EQ(bc.rc, 0) << bc.err;
  EXPECT_TRUE(std::regex_match(bc.out, std::regex("# broadcasts instance=\\S+ version=\\d+ lineage=\\S+ host=\\S+ records=0\n")))
      << bc.out;

  for (const auto& args : std::vector<std::vector<std::string>>{{"inspect", "server-registry", "--since", "3"},
                                                                 {"inspect", "client-registry", "--expect-servers", "1"},
                                                                 {"inspect", "broadcasts", "--timeout", "soon"}}) {
    auto r = run_zipnet(args, env());
    EXPECT_EQ(r.rc, 2) << args[1] << " " << args[2] << "\n" << r.err;
    EXPECT_NE(r.err.find("configuration error: " + args[2] + ": "), std::string::npos) << r.err;
  }
  auto noinst = run_zipnet({"inspect", "broadcasts"}, {"ZIPNET_BOOTSTRAP=" + *boot_, "ZIPNET_MDNS=false"});
  EXPECT_EQ(noinst.rc, 2);
  EXPECT_NE(noinst.err.find("configuration error: ZIPNET_INSTANCE: "), std::string::npos) << noinst.err;
  auto what = run_zipnet({"inspect", "everything"}, env());
  EXPECT_NE(what.rc, 0);
}

TEST_F(ZipnetInspect, OfflineExitsOneAndSaysWhy) {
  auto typo = run_zipnet({"inspect", "server-registry", "--timeout", "3s"},
                         {"ZIPNET_INSTANCE=" + *instance_ + "-typo", "ZIPNET_BOOTSTRAP=" + *boot_, "ZIPNET_MDNS=false",
                          "ZIPNET_LISTEN=127.0.0.1:0"});
  EXPECT_EQ(typo.rc, 1) << typo.out << typo.err;
  EXPECT_EQ(typo.out, "");
  EXPECT_NE(typo.err.find("ServerRegistry of instance=" + *instance_ + "-typo did not come online within 3000ms: none of the"),
            std::string::npos)
      << typo.err;
  EXPECT_NE(typo.err.find("check ZIPNET_INSTANCE"), std::string::npos) << typo.err;

  auto other = run_zipnet({"inspect", "live-round", "--timeout", "3s"}, env({"ZIPNET_COMMITTEE=" + std::string(64, 'a')}));
  EXPECT_EQ(other.rc, 1) << other.out << other.err;
  EXPECT_NE(other.err.find("but none is in ZIPNET_COMMITTEE"), std::string::npos) << other.err;

  int dead = free_port();
  auto nobody = run_zipnet({"inspect", "broadcasts", "--timeout", "2s"},
                           {"ZIPNET_INSTANCE=" + *instance_, "ZIPNET_MDNS=false", "ZIPNET_LISTEN=127.0.0.1:0",
                            "ZIPNET_BOOTSTRAP=" + *peer_ + "@127.0.0.1:" + std::to_string(dead)});
  EXPECT_EQ(nobody.rc, 1) << nobody.out << nobody.err;
  EXPECT_NE(nobody.err.find("no bootstrap peer answered"), std::string::npos) << nobody.err;
}

TEST_F(ZipnetInspect, FollowPrintsUntilSigterm) {
  Proc f({"inspect", "server-registry", "--follow", "--json"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  ASSERT_TRUE(f.wait_line(std::regex("\"server_id\":\"" + *peer_ + "\""), 30s)) << f.output();
  f.signal(SIGTERM);
  auto rc = f.wait_exit(5s);
  ASSERT_TRUE(rc) << f.output();
  EXPECT_EQ(*rc, 0) << f.output();
}

TEST_F(ZipnetInspect, IdsReadsThePinAndMatchesTheServersGroupId) {
  // The server's knobs (1s / 5s) are part of GROUP_ID: without them ids computes another group.
  auto r = run_zipnet({"ids", "--committee-secret-stdin"},
                      env({"ZIPNET_ROUND_PERIOD=1s", "ZIPNET_ROUND_DEADLINE=5s"}), kCommitteeSecret + "\n");
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\ncommittee pin: ZIPNET_COMMITTEE=" + *peer_ + " source=server-registry\n"), std::string::npos)
      << r.out;
  auto group = server_->wait_line(std::regex("committee group=([0-9a-f]{64}) "), 1s);
  ASSERT_TRUE(group);
  EXPECT_EQ(kv_lines(r.out)["GROUP_ID"], (*group)[1].str()) << r.out;
  EXPECT_NE(r.err.find("compare it with the servers' own `committee pin:` lines"), std::string::npos) << r.err;
  auto defaults = run_zipnet({"ids", "--committee-secret-stdin"}, env(), kCommitteeSecret + "\n");
  ASSERT_EQ(defaults.rc, 0) << defaults.err;
  EXPECT_NE(kv_lines(defaults.out)["GROUP_ID"], (*group)[1].str());
}

TEST_F(ZipnetInspect, BroadcastsOfARealRound) {
  // Followers started before any round: they print the changes as they come.
  Proc follow({"inspect", "broadcasts", "--follow", "--json"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  Proc strict({"inspect", "live-round", "--follow", "--expect-servers", "2"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  ASSERT_TRUE(strict.wait_line(std::regex("^live-round: empty"), 30s)) << strict.output();
  aggregator_ = new Proc({"aggregator"}, env({"ZIPNET_COMMITTEE=" + *peer_, "ZIPNET_FOLD_DEADLINE=400ms",
                                             "ZIPNET_DATA_DIR=" + (*dir_ / "aggregator").string()}));
  client_ = new Proc({"client"}, env({"ZIPNET_COMMITTEE=" + *peer_, "ZIPNET_MESSAGE=hello inspect"}));
  auto fin = server_->wait_line(std::regex(R"(round finalized round=(\d+) participants=1 servers=1 messages=1)"), 90s);
  ASSERT_TRUE(fin) << server_->output() << aggregator_->output() << client_->output();
  auto round = std::stoull((*fin)[1].str());

  auto ins = follow.wait_line(std::regex(R"(^\{"collection":"broadcasts","version":\d+,"op":"insert",.*"text":"hello inspect")"), 30s);
  EXPECT_TRUE(ins) << follow.output();
  // --follow --expect-servers stops at the first live round with another server count.
  auto strict_rc = strict.wait_exit(30s);
  ASSERT_TRUE(strict_rc) << strict.output();
  EXPECT_EQ(*strict_rc, 1) << strict.output();
  EXPECT_TRUE(strict.wait_line(std::regex("^~ round=\\d+ .* servers=1 "), 1s)) << strict.output();
  EXPECT_TRUE(strict.wait_line(std::regex("expect-servers: live round \\d+ has 1 server\\(s\\), expected 2"), 1s))
      << strict.output();
  follow.signal(SIGINT);
  EXPECT_EQ(follow.wait_exit(10s), 0) << follow.output();

  auto r = run_zipnet({"inspect", "broadcasts", "--json", "--since", std::to_string(round), "--expect-servers", "1"},
                      env({"ZIPNET_COMMITTEE=" + *peer_}));
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  auto lines = json_lines(r.out);
  ASSERT_GE(lines.size(), 1u) << r.out;
  const auto& rec = lines[0];
  EXPECT_EQ(rec["round"], round);
  EXPECT_EQ(rec["servers"], json::array({*peer_}));
  EXPECT_EQ(rec["participants"], 1);
  ASSERT_EQ(rec["messages"].size(), 1u) << rec.dump();
  EXPECT_EQ(rec["messages"][0]["text"], "hello inspect");
  for (const auto& l : lines) EXPECT_GE(l["round"].get<std::uint64_t>(), round);

  auto text = run_zipnet({"inspect", "broadcasts", "--since", std::to_string(round)}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  ASSERT_EQ(text.rc, 0) << text.err;
  EXPECT_TRUE(std::regex_search(text.out, std::regex("\nround=" + std::to_string(round) +
                                                     " index=\\d+ opened_at=\\S+ finalized_version=\\d+ params=64x256/16 "
                                                     "participants=1 servers=1 messages=1 tag_failures=0 malformed=0\n"
                                                     "  slot \\d+: hello inspect\n")))
      << text.out;

  auto mismatch = run_zipnet({"inspect", "broadcasts", "--expect-servers", "2"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  EXPECT_EQ(mismatch.rc, 1) << mismatch.out << mismatch.err;
  EXPECT_NE(mismatch.err.find("has 1 server(s), expected 2"), std::string::npos) << mismatch.err;

  auto live = run_zipnet({"inspect", "live-round", "--json", "--expect-servers", "1"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  ASSERT_EQ(live.rc, 0) << live.out << live.err;
  auto h = json_lines(live.out);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_GE(h[0]["round"].get<std::uint64_t>(), round);
  EXPECT_EQ(h[0]["servers"][0]["server_id"], *peer_);

  auto clients = run_zipnet({"inspect", "client-registry", "--json"}, env({"ZIPNET_COMMITTEE=" + *peer_}));
  ASSERT_EQ(clients.rc, 0) << clients.err;
  auto c = json_lines(clients.out);
  ASSERT_EQ(c.size(), 1u) << clients.out;
  EXPECT_EQ(c[0]["client_id"].get<std::string>().size(), 64u);
  EXPECT_TRUE(c[0]["expires_at_ms"].is_null() || c[0]["expires_at_ms"].is_number());
}
