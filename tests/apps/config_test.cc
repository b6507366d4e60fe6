// The role configuration loader (operations.md §2): value grammars, env-over-flag precedence,
// X_FILE variants and the error line naming the variable.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "config.h"

using namespace zipnet::apps;
using namespace std::chrono_literals;

namespace {
EnvFn fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct Parsed {
  CLI::App app{"t"};
  CLI::App* cmd = app.add_subcommand("bootstrap");
  ConfigLoader loader{*cmd};
  Parsed() { add_common_options(loader); }
  void parse(std::vector<std::string> args) {
    args.insert(args.begin(), "bootstrap");
    std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
    app.parse(args);
  }
};
}  // namespace

TEST(AppsConfig, Durations) {
  EXPECT_EQ(*parse_duration("250ms"), 250ms);
  EXPECT_EQ(*parse_duration("3s"), 3000ms);
  EXPECT_EQ(*parse_duration("3"), 3000ms);  // bare = seconds
  EXPECT_EQ(*parse_duration("2m"), 120000ms);
  EXPECT_EQ(*parse_duration("1h"), 3600000ms);
  for (const char* bad : {"", "s", "3x", "-1s", "1.5s", "3 s", "99999999999999999999"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(AppsConfig, SizesBooleansPeerLists) {
  EXPECT_EQ(*parse_size("512"), 512u);
  EXPECT_EQ(*parse_size("512B"), 512u);
  EXPECT_EQ(*parse_size("4KiB"), 4096u);
  EXPECT_EQ(*parse_size("3MiB"), 3u << 20);
  EXPECT_EQ(*parse_size("2GiB"), 2ull << 30);
  EXPECT_FALSE(parse_size("4KB"));
  EXPECT_FALSE(parse_size("MiB"));
  for (const char* t : {"1", "true", "TRUE", "on", "yes"}) EXPECT_TRUE(*parse_bool(t)) << t;
  for (const char* f : {"0", "false", "off", "no"}) EXPECT_FALSE(*parse_bool(f)) << f;
  EXPECT_FALSE(parse_bool("maybe"));
  std::string a(64, 'a'), b(64, 'b');
  auto l = parse_peer_list(a + "," + b);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->size(), 2u);
  EXPECT_FALSE(parse_peer_list(a + ",xyz"));
  EXPECT_FALSE(parse_peer_list(std::string(63, 'a')));
  EXPECT_TRUE(parse_peer_list("")->empty());
}

TEST(AppsConfig, EnvBeatsFlagWithWarning) {
  Parsed p;
  p.parse({"--listen", "127.0.0.1:1", "--mdns", "off"});
  ASSERT_FALSE(p.loader.resolve(fake_env({{"ZIPNET_LISTEN", "127.0.0.1:2"}})));
  EXPECT_EQ(*p.loader.raw("ZIPNET_LISTEN"), "127.0.0.1:2");
  EXPECT_EQ(*p.loader.raw("ZIPNET_MDNS"), "off");
  ASSERT_EQ(p.loader.warnings().size(), 1u);
  EXPECT_EQ(p.loader.warnings()[0], "flag --listen overridden by ZIPNET_LISTEN");
  auto c = load_common(p.loader);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->network.listen, std::vector<std::string>{"127.0.0.1:2"});
  EXPECT_FALSE(c->network.discovery.mdns);
}

TEST(AppsConfig, RepeatedBootstrapFlagAndForms) {
  Parsed p;
  std::string id(64, 'c');
  p.parse({"--bootstrap", id + "@127.0.0.1:7000", "--bootstrap", "10.0.0.1:7001," + id});
  ASSERT_FALSE(p.loader.resolve(fake_env({})));
  auto c = load_common(p.loader);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->network.discovery.bootstrap.size(), 3u);
  EXPECT_TRUE(c->network.discovery.bootstrap[0].peer);
  EXPECT_FALSE(c->network.discovery.bootstrap[1].peer);
  EXPECT_TRUE(c->network.discovery.bootstrap[2].host.empty());
}

TEST(AppsConfig, SecretFileAndConflicts) {
  std::string path = ::testing::TempDir() + "/zipnet_secret_test";
  {
    std::ofstream f(path);
    f << std::string(64, '1') << "\n  \n";
  }
  {
    Parsed p;
    p.parse({});
    ASSERT_FALSE(p.loader.resolve(fake_env({{"ZIPNET_SECRET_FILE", path}})));
    EXPECT_EQ(*p.loader.raw("ZIPNET_SECRET"), std::string(64, '1'));  // trailing whitespace trimmed
    EXPECT_TRUE(p.loader.warnings().empty());
  }
  {
    Parsed p;
    p.parse({});
    auto err = p.loader.resolve(fake_env({{"ZIPNET_SECRET_FILE", path}, {"ZIPNET_SECRET", "x"}}));
    ASSERT_TRUE(err);
    EXPECT_EQ(err->var, "ZIPNET_SECRET");
    EXPECT_EQ(err->line().rfind("configuration error: ZIPNET_SECRET: ", 0), 0u) << err->line();
  }
  {
    Parsed p;
    p.parse({"--secret", "hunter2"});
    ASSERT_FALSE(p.loader.resolve(fake_env({})));
    ASSERT_EQ(p.loader.warnings().size(), 1u);
    EXPECT_EQ(p.loader.warnings()[0], "secret passed on the command line (--secret); prefer ZIPNET_SECRET_FILE");
  }
  {
    Parsed p;
    p.parse({});
    auto err = p.loader.resolve(fake_env({{"ZIPNET_SECRET_FILE", path + ".missing"}}));
    ASSERT_TRUE(err);
    EXPECT_EQ(err->var, "ZIPNET_SECRET_FILE");
  }
  std::remove(path.c_str());
}

TEST(AppsConfig, BadValuesNameTheVariable) {
  struct Case {
    const char* var;
    const char* value;
  };
  for (auto c : {Case{"ZIPNET_LISTEN", "nowhere"}, Case{"ZIPNET_ADVERTISE", "0.0.0.0:7000"},
                 Case{"ZIPNET_BOOTSTRAP", "zz@127.0.0.1:1"}, Case{"ZIPNET_MDNS", "perhaps"},
                 Case{"ZIPNET_MDNS_PORT", "70000"}, Case{"ZIPNET_METRICS", "x"}}) {
    Parsed p;
    p.parse({});
    ASSERT_FALSE(p.loader.resolve(fake_env({{c.var, c.value}})));
    auto r = load_common(p.loader);
    ASSERT_FALSE(r) << c.var;
    EXPECT_EQ(r.error().var, c.var);
  }
  Parsed p;
  p.parse({});
  ASSERT_FALSE(p.loader.resolve(fake_env({})));
  EXPECT_EQ(p.loader.duration("ZIPNET_X", 5s).value(), 5000ms);
}
