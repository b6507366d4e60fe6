// TDX-gated clients (protocol.md §9.6, §9.7; operations.md §4 ZIPNET_TDX_CLIENT_MRTD, §8
// Attestation): a committee and an aggregator in ZIPNET_TDX=mock mode admit only clients whose
// own mock quote reports a pinned client MR_TD. Real `zipnet` processes for the committee,
// the aggregator and the command-line clients; in-process SDK publishers for the error mapping.
//   * an attested client registers and its message is finalized;
//   * a client without a TDX ticket and one with another image are never registered: the
//     aggregator refuses their SUBMIT producers (`unauthorized: … class=tdx reason=missing` /
//     `reason=mrtd_mismatch`), the refused client logs `subscription refused by …`;
//   * the SDK: a mock publisher without a key ⇒ bind() fails with Attestation (`TDX quote
//     generation failed`); one with another image ⇒ submitter() fails with Attestation naming
//     the mismatch; one with the pinned image publishes.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "node/sdk/zipnet.h"
#include "ops/deployment.h"
#include "ops/sdk_host.h"

namespace zipnet::e2e {
namespace {

using namespace std::chrono_literals;
using ops::Deployment;
using ops::DeploymentOptions;
using ops::Env;
using ops::Millis;

const std::string kClientMrtd(96, 'c');
const std::string kServerMrtd(96, 'a');
const std::string kOtherMrtd(96, 'e');

using MockKeys = ops::MockTdxKeys;

Env tdx_env(const MockKeys& k, const std::string& own_mrtd) {
  return {{"ZIPNET_TDX", "mock"},
          {"ZIPNET_TDX_MOCK_KEY", k.key},
          {"ZIPNET_TDX_ROOT_CA", k.root},
          {"ZIPNET_TDX_MRTD", kServerMrtd},
          {"ZIPNET_TDX_CLIENT_MRTD", kClientMrtd},
          {"ZIPNET_TDX_MOCK_MRTD", own_mrtd}};
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::array<std::uint8_t, 48> mrtd_bytes(char c) {
  std::array<std::uint8_t, 48> a{};
  const std::uint8_t nibble = static_cast<std::uint8_t>(c >= 'a' ? c - 'a' + 10 : c - '0');
  a.fill(static_cast<std::uint8_t>(nibble << 4 | nibble));
  return a;
}

std::span<const std::byte> as_span(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(TdxClients, OnlyAttestedClientsRegisterAndTheSdkReportsAttestation) {
  DeploymentOptions o;
  o.name = "e2e-tdx-clients";
  o.instance = "tdx.clients.e2e";
  o.clients = 3;
  Deployment d(o);
  auto& h = d.h();
  auto keys = ops::make_mock_tdx_keys(h);
  ASSERT_TRUE(keys.error.empty()) << keys.error;
  auto srv = tdx_env(keys, kServerMrtd);
  d.start_servers({{1, srv}, {2, srv}, {3, srv}});
  d.start_aggregator(tdx_env(keys, kServerMrtd));
  d.start_clients({{1, tdx_env(keys, kClientMrtd)},              // attested, pinned image
                   {2, {}},                                      // no TDX ticket at all
                   {3, tdx_env(keys, kOtherMrtd)}});             // attested, another image
  const auto& inst = d.instance();

  // The attested client is registered and its message is finalized; the others never are.
  ASSERT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=1 servers=3 messages=1", Millis(90000)))
      << h.node("s1").logs().tail(30) << h.node("agg").logs().tail(30);
  EXPECT_TRUE(h.wait_for_log("agg", "unauthorized: peer=.* class=tdx reason=missing", Millis(10000)))
      << h.node("agg").logs().tail(30);
  EXPECT_TRUE(h.wait_for_log("agg", "unauthorized: peer=.* class=tdx reason=mrtd_mismatch expected=.*got=", Millis(10000)))
      << h.node("agg").logs().tail(30);
  EXPECT_TRUE(h.wait_for_log("c3", "subscription refused by .*unauthorized \\(tdx: mrtd_mismatch", Millis(10000)))
      << h.node("c3").logs().tail(20);
  EXPECT_GE(h.metric("agg", "mosaik_tickets_rejected_total", {{"class", "tdx"}, {"reason", "mrtd_mismatch"}}).value_or(0),
            1);
  EXPECT_EQ(h.metric("s1", "zipnet_client_registry_size", {{"instance", inst}}).value_or(-1), 1);
  EXPECT_EQ(h.count_lines("agg", "registering client bundle"), 1u) << h.node("agg").logs().tail(30);

  // The SDK: no key ⇒ Attestation at bind; another image ⇒ Attestation at submitter();
  // the pinned image ⇒ publishes.
  ops::AsioLoop loop;
  std::vector<mosaik::PeerId> pin;
  for (unsigned i = 1; i <= 3; ++i) pin.push_back(*mosaik::PeerId::parse_hex(d.server_ident(i).peer_hex));
  BindOptions base;
  base.committee = pin;
  base.connect_timeout = 20s;
  base.tdx.mode = TdxOptions::Mode::mock;
  {
    auto net = ops::sdk_network(d.bootstrap());
    ASSERT_TRUE(net);
    auto opts = base;  // mock without a key
    auto z = loop.run(Zipnet::bind(net, inst, opts));
    ASSERT_FALSE(z);
    EXPECT_EQ(z.error().kind, ErrorKind::Attestation) << z.error().to_string();
    EXPECT_NE(z.error().to_string().find("attestation: TDX quote generation failed"), std::string::npos)
        << z.error().to_string();
    net->shutdown();
  }
  {
    auto net = ops::sdk_network(d.bootstrap());
    ASSERT_TRUE(net);
    auto opts = base;
    opts.tdx.mock_key_pem = read_file(keys.key);
    opts.tdx.mock_mrtd = mrtd_bytes('e');
    auto z = loop.run(Zipnet::bind(net, inst, opts));
    ASSERT_TRUE(z) << z.error().to_string();
    auto s = loop.run(z->submitter());
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind, ErrorKind::Attestation) << s.error().to_string();
    EXPECT_NE(s.error().message.find("mrtd_mismatch"), std::string::npos) << s.error().to_string();
    net->shutdown();
  }
  {
    auto net = ops::sdk_network(d.bootstrap());
    ASSERT_TRUE(net);
    auto opts = base;
    opts.tdx.mock_key_pem = read_file(keys.key);
    opts.tdx.mock_mrtd = mrtd_bytes('c');
    auto z = loop.run(Zipnet::bind(net, inst, opts));
    ASSERT_TRUE(z) << z.error().to_string();
    auto mark = h.log_mark("s1");
    auto id = loop.run(z->publish(as_span("attested sdk message")));
    ASSERT_TRUE(id) << id.error().to_string();
    EXPECT_TRUE(h.wait_for_log("s1", "^round finalized round=[0-9]+ participants=2 servers=3 messages=2", Millis(60000),
                               mark))
        << h.node("s1").logs().tail(20);
    net->shutdown();
  }
}

}  // namespace
}  // namespace zipnet::e2e
