// The committee server role over real Networks on loopback (protocol.md §8, §9.5, §9.6): three
// servers form one committee, publish their bundles, and — with the test standing in for the
// aggregator and one client — register the client, open a round, accept the aggregate, submit
// partials and finalize a record that decodes to the client's message. Also the ingress rules:
// an aggregate for another round or with too few participants never reaches the log.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/client.h"
#include "core/reader.h"
#include "mosaik/collections/collections.h"
#include "mosaik/helpers.h"
#include "node/committee_machine.h"
#include "node/server/server.h"

namespace zipnet::node::server {
namespace {

using namespace std::chrono_literals;
namespace p = zipnet::proto;

mosaik::groups::ConsensusConfig fast_consensus() {
  mosaik::groups::ConsensusConfig c;
  c.election_timeout = 600ms;
  c.election_jitter = 200ms;
  c.raft_heartbeat = 100ms;
  c.bootstrap_delay = 1000ms;
  c.bond_heartbeat = 200ms;
  c.bond_heartbeat_jitter = 50ms;
  c.join_retry = 500ms;
  c.bond_redial_max = 500ms;
  return c;
}

std::filesystem::path temp_root(const std::string& name) {
  std::random_device rd;
  auto d = std::filesystem::temp_directory_path() /
           ("zipnet-roles-" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(d);
  return d;
}

template <class F>
bool eventually(F f, std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);  // polling a condition, bounded by the deadline
  }
  return f();
}

struct Committee {
  std::string instance = "roles.test";
  p::InstanceIds ids = p::InstanceIds::from_name(instance);
  std::filesystem::path root = temp_root("server");
  std::vector<std::shared_ptr<mosaik::Network>> nets;
  std::vector<std::unique_ptr<CommitteeServer>> servers;
  std::shared_ptr<mosaik::Metrics> metrics = std::make_shared<mosaik::Metrics>();

  ServerConfig config(std::uint32_t min_participants = 1) {
    ServerConfig c;
    c.instance = instance;
    c.secret_digest = p::committee_secret_digest("roles test secret");
    c.knobs.min_participants = min_participants;
    c.knobs.round_period_ms = 500;
    c.knobs.round_deadline_ms = 4000;
    c.consensus = fast_consensus();
    c.driver_tick = 50ms;
    c.retry_interval = 300ms;
    c.publish_interval = 500ms;
    return c;
  }

  void start(unsigned n, std::uint32_t min_participants = 1) {
    for (unsigned i = 0; i < n; ++i) {
      auto nc = mosaik::test::loopback_config(p::default_universe());
      if (i > 0) nc.discovery.bootstrap = {mosaik::test::boot_of(*nets[0])};
      nc.metrics = metrics;
      nets.push_back(mosaik::test::start(nc));
      auto c = config(min_participants);
      c.data_dir = root / ("s" + std::to_string(i));
      auto s = CommitteeServer::start(nets.back(), c, metrics);
      ASSERT_TRUE(s) << s.error().to_string();
      servers.push_back(std::move(*s));
    }
  }

  ~Committee() {
    for (auto& s : servers) s->stop();
    for (auto& n : nets) n->shutdown();
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }

  double metric(const std::string& name, std::map<std::string, std::string> labels = {}) {
    labels["instance"] = instance;
    return metrics->value(name, labels).value_or(-1);
  }
};

TEST(ServerRole, ThreeServersFinalizeARoundWithOneClient) {
  Committee c;
  c.start(3);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  // All three publish their bundles; the follower-visible ServerRegistry reaches 3.
  mosaik::collections::FollowOptions fo;
  fo.instance = c.instance;
  fo.evaluate_interval = 300ms;
  auto reader_cfg = mosaik::test::loopback_config(p::default_universe());
  reader_cfg.discovery.bootstrap = {mosaik::test::boot_of(*c.nets[0])};
  auto client = mosaik::test::start(reader_cfg);
  auto f = client->collections().follow({c.ids.server_reg, c.ids.client_reg, c.ids.live, c.ids.broadcasts}, fo);
  ASSERT_TRUE(eventually([&] { return f.online() && f.map_size(c.ids.server_reg) == 3; }, 20s))
      << "server registry " << f.map_size(c.ids.server_reg);

  // The client: a bundle ticket in its signed PeerEntry, relayed on REGISTER by the test.
  auto keys = core::client::ClientKeys::generate(c.ids);
  p::ClientBundle bundle{c.ids.instance, keys.client_id, keys.dh_pub};
  client->discovery().update_local([&](p::PeerEntry& e) {
    e.add_ticket(p::Ticket{p::bundle_ticket_class(), p::encode(bundle)});
  });
  auto reg = client->streams().producer<p::RegistrationMsg>(c.ids.register_stream).online_when_min_consumers(3).build();
  ASSERT_TRUE(reg.raw().consumers().wait_for([](std::size_t n) { return n >= 3; }, 15s));
  ASSERT_TRUE(reg.send(p::RegistrationMsg{p::RegisterMsg{client->discovery().local_entry()}}, 5s));
  ASSERT_TRUE(eventually([&] { return f.map_size(c.ids.client_reg) == 1; }, 10s));

  // A round opens with our client in the roster.
  std::optional<p::LiveRound> hdr;
  ASSERT_TRUE(eventually(
      [&] {
        auto cell = f.cell_get(c.ids.live);
        if (!cell) return false;
        auto h = p::LiveRound::decode(*cell);
        if (!h || h->roster_len != 1) return false;
        hdr = *h;
        return true;
      },
      10s));
  // Seal one message and forward it as a one-participant aggregate.
  std::vector<p::Secret32> secrets = *core::client::shared_secrets(keys, hdr->servers);
  core::client::SealRequest req;
  req.ids = &c.ids;
  req.params = hdr->params;
  req.round = hdr->round;
  req.client_id = keys.client_id;
  req.server_secrets = secrets;
  std::string text = "hello committee";
  p::Bytes msg(text.begin(), text.end());
  req.message = p::ByteSpan(msg);
  p::PadCipher cipher;
  auto env = core::client::seal(req, cipher);
  ASSERT_TRUE(env);
  p::AggregateEnvelope agg;
  agg.round = hdr->round;
  agg.roster_digest = hdr->roster_digest;
  agg.participants = p::ParticipantSet::canonical(1, {0});
  agg.payload = env->payload;
  auto out = client->streams().producer<p::AggregateEnvelope>(c.ids.aggregate).build();
  ASSERT_TRUE(out.raw().consumers().wait_for([](std::size_t n) { return n >= 3; }, 15s));
  ASSERT_TRUE(out.send(agg, 5s));

  // Every server submits its partial; the record decodes to the message.
  ASSERT_TRUE(eventually([&] { return f.vec_bounds(c.ids.broadcasts).second >= 1; }, 15s));
  auto [first, next] = f.vec_bounds(c.ids.broadcasts);
  bool found = false;
  for (const auto& raw : f.vec_range(c.ids.broadcasts, first, next)) {
    auto rec = p::BroadcastRecord::decode(raw);
    ASSERT_TRUE(rec);
    if (rec->round != hdr->round) continue;
    std::vector<core::reader::Message> msgs;
    core::reader::decode(*rec, c.ids.k_tag, msgs);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].payload, msg);
    EXPECT_EQ(rec->participants, 1u);
    EXPECT_EQ(rec->servers.size(), 3u);
    found = true;
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(eventually([&] { return c.metric("zipnet_partials_submitted_total") >= 3; }, 5s));
  // One per server (the three share this test's registry).
  EXPECT_TRUE(eventually([&] { return c.metric("zipnet_rounds_finalized_total") >= 3; }, 5s));
  // The servers agree on version and digest once they have applied the same entries.
  EXPECT_TRUE(eventually(
      [&] {
        auto a = c.servers[0]->state_digest(), b = c.servers[1]->state_digest(), d = c.servers[2]->state_digest();
        return a == b && b == d;
      },
      10s));
}

TEST(ServerRole, LeaderWaitsForMinParticipants) {
  Committee c;
  c.start(1, 2);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  // One server, no clients: the leader reports min_participants as the blocking reason.
  EXPECT_TRUE(eventually([&] { return c.metric("zipnet_round_open_blocked", {{"reason", "min_participants"}}) == 1; }, 15s));
  EXPECT_EQ(c.metric("zipnet_rounds_opened_total"), 0);
  EXPECT_EQ(c.metric("zipnet_min_participants"), 2);
}

TEST(ServerRole, SignatureChangeArchivesTheOldRaftState) {
  Committee c;
  c.start(1, 1);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  auto dir = c.root / "s0";
  ASSERT_TRUE(eventually([&] { return c.servers[0]->group()->state().get().has_leader; }, 15s));
  auto first_group = c.servers[0]->group_id();
  c.servers[0]->stop();
  c.servers.clear();
  // Same data dir, another signature knob: a different GROUP_ID, the old state archived.
  auto cfg = c.config(3);
  cfg.data_dir = dir;
  auto s = CommitteeServer::start(c.nets[0], cfg, c.metrics);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_NE((*s)->group_id(), first_group);
  bool archived = false;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    archived |= e.path().filename().string().rfind("raft.signature-" + first_group.short_hex() + "-", 0) == 0;
  EXPECT_TRUE(archived) << "no raft.signature-* directory in " << dir;
  std::ifstream f(dir / "node.json");
  std::string text{std::istreambuf_iterator<char>(f), {}};
  EXPECT_NE(text.find((*s)->group_id().hex()), std::string::npos) << text;
  c.servers.push_back(std::move(*s));
}

}  // namespace
}  // namespace zipnet::node::server
