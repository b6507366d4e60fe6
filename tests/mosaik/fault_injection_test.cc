// The substrate's fault-injection hooks (operations.md §3.5) and the MetricsServer routes they
// are served on (§6): Network::set_blocked_peers cuts open links to a blocked peer, refuses its
// dials both ways (pinned, unpinned, inbound) and reconnects after the heal;
// Network::set_clock_offset re-stamps the local entry so that a node whose clock went back
// (even by more than it has been running) publishes an entry its peers accept at once
// (substrate.md §5.1); MetricsServer serves /status from a provider and POST routes with their
// query parameters. Every wait is a condition with a deadline.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

using namespace mosaik;
using namespace mosaik::test;

namespace {

/// Polls `pred` every 10 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Watch<int> tick;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    tick.wait_for([](int) { return false; }, 10ms);
  }
}

/// Two loopback nodes, `b` bootstrapped from `a`, with their discovery link up.
struct Pair {
  std::shared_ptr<Network> a, b;
  Pair() {
    a = start(loopback_config());
    auto cb = loopback_config();
    if (a) cb.discovery.bootstrap = {boot_of(*a)};
    b = start(cb);
  }
  bool linked() const { return a->discovery().neighbors() == 1 && b->discovery().neighbors() == 1; }
  bool unlinked() const { return a->discovery().neighbors() == 0 && b->discovery().neighbors() == 0; }
};

/// Sends `request` as is to 127.0.0.1:`port` and returns what arrives within `timeout`.
std::string raw_http(int port, const std::string& request, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    while (out.find("\r\n\r\n") == std::string::npos || out.find("x=") == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      auto n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

std::pair<std::int64_t, std::int64_t> version_of(const zipnet::proto::SignedPeerEntry& e) {
  return {e.entry.start_ms, e.entry.update_ms};
}

}  // namespace

TEST(MosaikFaultInjection, BlockCutsLinksRefusesDialsBothWaysAndHealReconnects) {
  Pair p;
  ASSERT_TRUE(p.a && p.b);
  ASSERT_TRUE(eventually([&] { return p.linked(); })) << "discovery link a<->b never came up";

  // b blocks a by an upper-case prefix of its PeerId: the open link is cut on both sides.
  std::string prefix = p.a->id().hex().substr(0, 12);
  std::string upper = prefix;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  ASSERT_TRUE(p.b->set_blocked_peers({upper}));
  EXPECT_EQ(p.b->blocked_peers(), std::vector<std::string>{prefix});
  EXPECT_TRUE(eventually([&] { return p.unlinked(); }))
      << "neighbors a=" << p.a->discovery().neighbors() << " b=" << p.b->discovery().neighbors();

  // Every dial between them is refused, whichever side dials and whether pinned or not.
  auto pinned = p.b->probe(p.a->advertised().front(), p.a->id());
  ASSERT_FALSE(pinned);
  EXPECT_EQ(pinned.error().kind, ErrorKind::Io);
  EXPECT_NE(pinned.error().detail.find("blocked (fault injection)"), std::string::npos) << pinned.error().to_string();
  EXPECT_FALSE(p.b->probe(p.a->advertised().front(), std::nullopt));
  EXPECT_FALSE(p.a->probe(p.b->advertised().front(), p.b->id())) << "b accepted an inbound link from a";
  // b's bootstrap loop keeps retrying a (100–500 ms backoff): the link stays down meanwhile.
  Watch<int> tick;
  auto until = std::chrono::steady_clock::now() + 1500ms;
  bool stayed_down = true;
  while (std::chrono::steady_clock::now() < until) {
    stayed_down = stayed_down && p.unlinked();
    tick.wait_for([](int) { return false; }, 50ms);
  }
  EXPECT_TRUE(stayed_down) << "a blocked peer got a discovery link back";

  // Other peers are not affected.
  auto c = start(loopback_config());
  ASSERT_TRUE(c);
  EXPECT_TRUE(p.b->probe(c->advertised().front(), c->id()));
  EXPECT_TRUE(c->probe(p.b->advertised().front(), p.b->id()));

  // A bad prefix is refused and leaves the list as it was.
  auto bad = p.b->set_blocked_peers({"abc", "not-hex"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::Config);
  EXPECT_EQ(p.b->blocked_peers(), std::vector<std::string>{prefix});

  // Heal: the bootstrap loop redials and the link comes back.
  ASSERT_TRUE(p.b->set_blocked_peers({}));
  EXPECT_TRUE(p.b->blocked_peers().empty());
  EXPECT_TRUE(eventually([&] { return p.linked(); })) << "no reconnect after heal";
  EXPECT_TRUE(p.a->probe(p.b->advertised().front(), p.b->id()));
}

TEST(MosaikFaultInjection, ClockAheadThenBackStillPublishesAnAcceptedEntry) {
  Pair p;
  ASSERT_TRUE(p.a && p.b);
  ASSERT_TRUE(eventually([&] { return p.b->discovery().get(p.a->id()).has_value(); }));
  auto before = version_of(*p.b->discovery().get(p.a->id()));

  // +60 s: a's re-stamped entry is from the future for b, which rejects it (clock_drift).
  p.a->set_clock_offset(60s);
  EXPECT_EQ(p.a->clock().offset(), 60s);
  auto drift = std::map<std::string, std::string>{{"network", p.b->network_id().short_hex()}, {"reason", "clock_drift"}};
  EXPECT_TRUE(eventually([&] { return p.b->metrics().value("mosaik_discovery_entries_rejected_total", drift).value_or(0) >= 1; }));
  EXPECT_GT(p.a->discovery().local_entry().entry.update_ms, p.b->clock().now_ms() + 50'000);

  // Back to 0: the version restarts at now and b accepts a's entry again at once.
  p.a->set_clock_offset(0ms);
  auto local = p.a->discovery().local_entry().entry;
  EXPECT_LE(std::llabs(local.update_ms - p.b->clock().now_ms()), 5'000);
  EXPECT_GT(std::pair(local.start_ms, local.update_ms), before);
  EXPECT_TRUE(eventually([&] {
    auto e = p.b->discovery().get(p.a->id());
    return e && version_of(*e) >= std::pair(local.start_ms, local.update_ms);
  })) << "b still holds a's pre-offset entry";
}

TEST(MosaikFaultInjection, ClockBackByMoreThanTheUptimeAndForwardAgainIsAccepted) {
  // a has run for far less than 60 s: the plain §5.1 reset (start_ms = now) would give it a
  // version older than the one b holds until that entry is purged (300 s).
  Pair p;
  ASSERT_TRUE(p.a && p.b);
  ASSERT_TRUE(eventually([&] { return p.b->discovery().get(p.a->id()).has_value(); }));
  auto before = version_of(*p.b->discovery().get(p.a->id()));
  p.a->set_clock_offset(-60s);
  auto back = p.a->discovery().local_entry().entry;
  EXPECT_GT(back.start_ms, before.first) << "the version went below what b holds";
  p.a->set_clock_offset(0ms);
  auto now_entry = p.a->discovery().local_entry().entry;
  EXPECT_LE(std::llabs(now_entry.update_ms - p.b->clock().now_ms()), 5'000);
  EXPECT_TRUE(eventually([&] {
    auto e = p.b->discovery().get(p.a->id());
    return e && version_of(*e) >= std::pair(now_entry.start_ms, now_entry.update_ms);
  })) << "b never accepted a's entry after the clock came back";
}

TEST(MosaikMetricsServer, ServesStatusAndPostRoutes) {
  auto m = std::make_shared<Metrics>();
  MetricsServer::Routes routes;
  std::atomic<int> calls{0};
  routes.status = [&] {
    ++calls;
    return std::string(R"({"role":"test","n":)") + std::to_string(calls.load()) + "}";
  };
  std::mutex mu;
  MetricsServer::Params seen;
  routes.post["/debug/echo"] = [&](const MetricsServer::Params& q) -> std::pair<int, std::string> {
    std::lock_guard lk(mu);
    seen = q;
    if (!q.count("x")) return {400, "missing x"};
    return {200, "x=" + q.at("x")};
  };
  auto s = MetricsServer::start("127.0.0.1:0", m, std::move(routes));
  ASSERT_TRUE(s) << s.error().to_string();
  auto addr = (*s)->bound_address();
  httplib::Client cli("127.0.0.1", std::stoi(addr.substr(addr.rfind(':') + 1)));
  auto st = cli.Get("/status");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 200);
  EXPECT_EQ(st->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(st->body, R"({"role":"test","n":1})");
  EXPECT_EQ(cli.Get("/healthz")->status, 200);  // no health callback: ok
  auto ok = cli.Post("/debug/echo?x=%2B60s&y=1");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "x=+60s");  // URL-decoded
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(seen.size(), 2u);
  }
  EXPECT_EQ(cli.Post("/debug/echo")->status, 400);
  EXPECT_EQ(cli.Get("/debug/echo")->status, 404);  // POST only
  {
    // `curl -X POST <url>`: no Content-Length and no body. Answered at once, not after
    // httplib's wait for the end of a body that never comes.
    auto reply = raw_http(std::stoi(addr.substr(addr.rfind(':') + 1)),
                          "POST /debug/echo?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n", 1s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
    EXPECT_NE(reply.find("x=1"), std::string::npos) << reply;
  }
  // Without a status provider there is no /status.
  auto s2 = MetricsServer::start("127.0.0.1:0", m);
  ASSERT_TRUE(s2);
  auto a2 = (*s2)->bound_address();
  httplib::Client cli2("127.0.0.1", std::stoi(a2.substr(a2.rfind(':') + 1)));
  EXPECT_EQ(cli2.Get("/status")->status, 404);
  EXPECT_EQ(cli2.Post("/debug/echo")->status, 404);
}
