// `zipnet keygen` and `zipnet ids` as real processes (operations.md §1): the keygen output
// format and that its secret yields its PeerId through ZIPNET_SECRET's UniqueId rule; ids prints
// the protocol.md §16.2 vectors, GROUP_ID for a given secret and knobs (env, _FILE, stdin), the
// normalised committee pin, and refuses secrets given as flag values. The knob parser shared
// with `zipnet server` (apps/knobs.h) in-process.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "knobs.h"
#include "mosaik/network/config.h"
#include "node/server/server.h"
#include "proto/ed25519.h"
#include "proto/hex.h"
#include "proto/ids.h"
#include "subprocess.h"

using namespace zipnet_test;
namespace p = zipnet::proto;

TEST(ZipnetKeygen, PrintsSecretAndItsPeerId) {
  std::regex fmt(R"(^secret=([0-9a-f]{64})\npeer_id=([0-9a-f]{64})\n$)");
  std::set<std::string> secrets;
  for (int i = 0; i < 2; ++i) {
    auto r = run_zipnet({"keygen"}, {});
    ASSERT_EQ(r.rc, 0) << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(r.out, m, fmt)) << r.out;
    EXPECT_EQ(r.err, "");
    // The node derives its seed from ZIPNET_SECRET (64 hex decode as-is) and its PeerId from it.
    auto seed = mosaik::secret_from_string(m[1].str());
    EXPECT_EQ(p::to_hex(seed.span()), m[1].str());
    EXPECT_EQ(p::SigningKey(seed).peer_id().hex(), m[2].str());
    secrets.insert(m[1].str());
  }
  EXPECT_EQ(secrets.size(), 2u);  // fresh every time
}

namespace {

std::map<std::string, std::string> expected_ids(const std::string& name) {
  auto ids = p::InstanceIds::from_name(name);
  return {{"UNIVERSE", p::default_universe().hex()},
          {"INSTANCE", ids.instance.hex()},
          {"COMMITTEE", ids.committee.hex()},
          {"SUBMIT", ids.submit.hex()},
          {"REGISTER", ids.register_stream.hex()},
          {"AGGREGATE", ids.aggregate.hex()},
          {"BROADCASTS", ids.broadcasts.hex()},
          {"LIVE", ids.live.hex()},
          {"CLIENT_REG", ids.client_reg.hex()},
          {"SERVER_REG", ids.server_reg.hex()},
          {"K_CLIENT_ID", ids.k_client_id.hex()},
          {"K_SLOT", ids.k_slot.hex()},
          {"K_TAG", ids.k_tag.hex()},
          {"ROLE_SERVER", ids.role_server.hex()},
          {"ROLE_AGGREGATOR", ids.role_aggregator.hex()},
          {"ROLE_CLIENT", ids.role_client.hex()},
          {"BUNDLE_TICKET_CLASS", p::bundle_ticket_class().hex()},
          {"TDX_TICKET_CLASS", p::tdx_ticket_class().hex()},
          {"SIGNATURE", p::committee_signature(p::CommitteeKnobs{}).hex()}};
}

}  // namespace

TEST(ZipnetIds, PrintsTheDerivedIdsOfTheVectors) {
  auto r = run_zipnet({"ids", "--instance", "acme.mainnet"}, {});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto kv = kv_lines(r.out);
  EXPECT_EQ(kv, expected_ids("acme.mainnet")) << r.out;
  // protocol.md §16.2 (instance acme.mainnet, defaults 64/256/16, MIN 1, 3000 ms, 15000 ms).
  EXPECT_EQ(kv["UNIVERSE"], "b82b6f3b4a1e53d2d56523f5a7b1974e3842ac37a068cc302286065a8853cf43");
  EXPECT_EQ(kv["INSTANCE"], "36fc7d339baf49a931c570921183bc7fd52dbf33b3d54e20014a745a9d86d859");
  EXPECT_EQ(kv["COMMITTEE"], "320d78041bab76efcdba9a8ff7aa95265ebaed8df72a0e93a45aad28052fec44");
  EXPECT_EQ(kv["SERVER_REG"], "85786281000735d3c940c1f85e6ca61861ee60a405273e72b394e20403231d9b");
  EXPECT_EQ(kv["ROLE_CLIENT"], "4a88d802196741e19539bb30bcf563d9fc38c93e509d578d7f006a1a7a5d41f3");
  EXPECT_EQ(kv["SIGNATURE"], "1f45fbfae646fbc4c17deedbd0ce351eb51a61d6a19f3fc117d56cfefacbec5c");
  EXPECT_EQ(kv.count("GROUP_ID"), 0u);  // no secret, no GROUP_ID
  EXPECT_NE(r.out.find("signature knobs: params=64x256/16 min_participants=1 round_period=3s round_deadline=15s\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("committee pin:"), std::string::npos);  // neither ZIPNET_COMMITTEE nor a bootstrap
  // ZIPNET_INSTANCE works as well, and ZIPNET_UNIVERSE changes UNIVERSE only.
  auto e = run_zipnet({"ids"}, {"ZIPNET_INSTANCE=acme.mainnet", "ZIPNET_UNIVERSE=other.universe"});
  ASSERT_EQ(e.rc, 0) << e.err;
  auto kv2 = kv_lines(e.out);
  EXPECT_EQ(kv2["UNIVERSE"], p::UniqueId::from("other.universe").hex());
  kv2.erase("UNIVERSE");
  kv.erase("UNIVERSE");
  EXPECT_EQ(kv2, kv);
}

TEST(ZipnetIds, GroupIdFromEnvFileOrStdinWithKnobs) {
  // The §16.2 vector: secret "your-committee-secret" (not 64 hex: WARN), default knobs.
  auto r = run_zipnet({"ids", "--instance", "acme.mainnet"}, {"ZIPNET_COMMITTEE_SECRET=your-committee-secret"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(kv_lines(r.out)["GROUP_ID"], "23e07d3eeb6320054d4d5642098478047cda8a5de59c73815034cac0a37b49be");
  EXPECT_NE(r.err.find("WARN zipnet_node::roles::common: committee secret is not 64 hex"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("your-committee-secret"), std::string::npos);
  EXPECT_EQ(r.err.find("your-committee-secret"), std::string::npos);

  // Non-default knobs and a 64-hex secret: env, _FILE and stdin agree with committee_group_id.
  const std::string secret(64, 'a');
  std::vector<std::string> knobs = {"ZIPNET_MIN_PARTICIPANTS=3", "ZIPNET_ROUND_PERIOD=1500ms",
                                    "ZIPNET_ROUND_DEADLINE=1m", "ZIPNET_NUM_SLOTS=32",
                                    "ZIPNET_SLOT_BYTES=512", "ZIPNET_TAG_LEN=24"};
  p::CommitteeKnobs k;
  k.min_participants = 3;
  k.round_period_ms = 1500;
  k.round_deadline_ms = 60000;
  k.params.num_slots = 32;
  k.params.slot_bytes = 512;
  k.params.tag_len = 24;
  auto ids = p::InstanceIds::from_name("grp.test");
  auto want = p::committee_group_id(ids, p::committee_secret_digest(secret), p::committee_signature(k)).hex();
  zipnet::node::server::ServerConfig sc;
  sc.instance = "grp.test";
  sc.secret_digest = p::committee_secret_digest(secret);
  sc.knobs = k;
  EXPECT_EQ(zipnet::node::server::server_group_id(sc).hex(), want);

  auto env = knobs;
  env.push_back("ZIPNET_COMMITTEE_SECRET=" + secret);
  auto a = run_zipnet({"ids", "--instance", "grp.test"}, env);
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(kv_lines(a.out)["GROUP_ID"], want);
  EXPECT_EQ(kv_lines(a.out)["SIGNATURE"], p::committee_signature(k).hex());
  EXPECT_NE(a.out.find("signature knobs: params=32x512/24 min_participants=3 round_period=1500ms round_deadline=60s"),
            std::string::npos)
      << a.out;
  EXPECT_EQ(a.err.find("not 64 hex"), std::string::npos) << a.err;

  auto file = std::filesystem::temp_directory_path() / ("zipnet-ids-secret-" + std::to_string(::getpid()));
  {
    std::ofstream f(file);
    f << secret << "\n";
  }
  env = knobs;
  env.push_back("ZIPNET_COMMITTEE_SECRET_FILE=" + file.string());
  auto b = run_zipnet({"ids", "--instance", "grp.test"}, env);
  std::filesystem::remove(file);
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(kv_lines(b.out)["GROUP_ID"], want);

  auto c = run_zipnet({"ids", "--instance", "grp.test", "--committee-secret-stdin"}, knobs, secret + "\r\n");
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_EQ(kv_lines(c.out)["GROUP_ID"], want);
  EXPECT_EQ(a.out, c.out);
}

TEST(ZipnetIds, CommitteePinIsValidatedAndSortedAscending) {
  std::string lo(64, '1'), mid(64, '5'), hi(64, 'c');
  auto r = run_zipnet({"ids", "--instance", "pin.test"}, {"ZIPNET_COMMITTEE=" + hi + "," + lo + "," + mid + "," + lo});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\ncommittee pin: ZIPNET_COMMITTEE=" + lo + "," + mid + "," + hi + "\n"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("source="), std::string::npos);
}

TEST(ZipnetIds, ConfigurationErrorsExit2WithOneLine) {
  struct Case {
    std::vector<std::string> args, env;
    std::string input, var;
  };
  std::vector<Case> cases = {
      {{"ids"}, {}, "", "ZIPNET_INSTANCE"},
      {{"ids", "--instance", "x", "--committee-secret", "abc"}, {}, "", "ZIPNET_COMMITTEE_SECRET"},
      {{"ids", "--instance", "x", "--committee-secret-stdin"}, {"ZIPNET_COMMITTEE_SECRET=abc"}, "abc\n",
       "ZIPNET_COMMITTEE_SECRET"},
      {{"ids", "--instance", "x", "--committee-secret-stdin"}, {}, "", "ZIPNET_COMMITTEE_SECRET"},
      {{"ids", "--instance", "x"}, {"ZIPNET_TAG_LEN=7"}, "", "ZIPNET_TAG_LEN"},
      {{"ids", "--instance", "x"}, {"ZIPNET_ROUND_PERIOD=50ms"}, "", "ZIPNET_ROUND_PERIOD"},
      {{"ids", "--instance", "x"}, {"ZIPNET_ROUND_DEADLINE=1s"}, "", "ZIPNET_ROUND_DEADLINE"},
      {{"ids", "--instance", "x"}, {"ZIPNET_COMMITTEE=nothex"}, "", "ZIPNET_COMMITTEE"},
      {{"ids", "--instance", "x"}, {"ZIPNET_BOOTSTRAP=bad@@"}, "", "ZIPNET_BOOTSTRAP"},
  };
  for (const auto& c : cases) {
    auto r = run_zipnet(c.args, c.env, c.input);
    ASSERT_EQ(r.rc, 2) << c.var << "\n" << r.out << r.err;
    std::regex line("^\\S+ ERROR zipnet_node::roles::common: configuration error: " + c.var + ": \\S[^\n]*\n$");
    EXPECT_TRUE(std::regex_search(r.err, line)) << c.var << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.var;  // nothing printed before the configuration is valid
    EXPECT_EQ(r.err.find("abc"), std::string::npos) << "the secret leaked: " << r.err;
  }
}

// The knob parser `zipnet server` and `zipnet ids` share (operations.md §3.2).
TEST(CommitteeKnobs, DefaultsBoundsAndErrorsNameTheVariable) {
  auto parse = [](std::map<std::string, std::string> vars) {
    CLI::App app{"t"};
    auto* cmd = app.add_subcommand("server");
    zipnet::apps::ConfigLoader l(*cmd);
    zipnet::apps::add_committee_knob_options(l);
    app.parse(std::vector<std::string>{"server"});
    auto env = [vars](const char* n) -> std::optional<std::string> {
      auto it = vars.find(n);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
    EXPECT_FALSE(l.resolve(env));
    return zipnet::apps::load_committee_knobs(l);
  };
  auto d = parse({});
  ASSERT_TRUE(d);
  EXPECT_EQ(p::committee_signature(*d), p::committee_signature(p::CommitteeKnobs{}));
  EXPECT_EQ(zipnet::apps::describe_knobs(*d), "params=64x256/16 min_participants=1 round_period=3s round_deadline=15s");
  auto ok = parse({{"ZIPNET_TAG_LEN", "8"}, {"ZIPNET_SLOT_BYTES", "11"}, {"ZIPNET_NUM_SLOTS", "65536"},
                   {"ZIPNET_ROUND_PERIOD", "100ms"}, {"ZIPNET_ROUND_DEADLINE", "100ms"}});
  ASSERT_TRUE(ok) << ok.error().line();
  EXPECT_EQ(ok->params.slot_bytes, 11u);
  EXPECT_EQ(ok->round_deadline_ms, 100u);
  struct Bad {
    std::map<std::string, std::string> vars;
    std::string var;
  };
  for (const auto& b : std::vector<Bad>{{{{"ZIPNET_MIN_PARTICIPANTS", "0"}}, "ZIPNET_MIN_PARTICIPANTS"},
                                        {{{"ZIPNET_MIN_PARTICIPANTS", "65537"}}, "ZIPNET_MIN_PARTICIPANTS"},
                                        {{{"ZIPNET_NUM_SLOTS", "x"}}, "ZIPNET_NUM_SLOTS"},
                                        {{{"ZIPNET_TAG_LEN", "33"}}, "ZIPNET_TAG_LEN"},
                                        {{{"ZIPNET_TAG_LEN", "8"}, {"ZIPNET_SLOT_BYTES", "10"}}, "ZIPNET_SLOT_BYTES"},
                                        {{{"ZIPNET_NUM_SLOTS", "65536"}, {"ZIPNET_SLOT_BYTES", "256"}}, "ZIPNET_NUM_SLOTS"},
                                        {{{"ZIPNET_ROUND_PERIOD", "99ms"}}, "ZIPNET_ROUND_PERIOD"},
                                        {{{"ZIPNET_ROUND_DEADLINE", "2s"}}, "ZIPNET_ROUND_DEADLINE"}}) {
    auto r = parse(b.vars);
    ASSERT_FALSE(r) << b.var;
    EXPECT_EQ(r.error().var, b.var);
  }
}

// `zipnet server` parses the same knobs through the same function: a bad value exits 2 with the
// same line before anything starts.
TEST(CommitteeKnobs, ServerRefusesBadKnobsLikeIds) {
  for (const char* bad : {"ZIPNET_TAG_LEN=7", "ZIPNET_ROUND_DEADLINE=1s"}) {
    std::vector<std::string> env = {"ZIPNET_INSTANCE=knobs.test", "ZIPNET_COMMITTEE_SECRET=" + std::string(64, 'b'),
                                    "ZIPNET_MDNS=false", "ZIPNET_LISTEN=127.0.0.1:0", bad};
    auto dir = std::filesystem::temp_directory_path() / ("zipnet-knobs-" + std::to_string(::getpid()));
    env.push_back("ZIPNET_DATA_DIR=" + dir.string());
    auto server = run_zipnet({"server"}, env, {}, 30s);
    auto ids = run_zipnet({"ids"}, env, {}, 30s);
    std::filesystem::remove_all(dir);
    ASSERT_EQ(server.rc, 2) << server.out << server.err;
    ASSERT_EQ(ids.rc, 2) << ids.out << ids.err;
    auto var = std::string(bad).substr(0, std::string(bad).find('='));
    auto line = [&](const std::string& s) {
      auto at = s.find("configuration error: " + var + ": ");
      return at == std::string::npos ? std::string() : s.substr(at, s.find('\n', at) - at);
    };
    EXPECT_NE(line(server.out + server.err), "") << server.out << server.err;
    EXPECT_EQ(line(server.out + server.err), line(ids.err));
  }
}
