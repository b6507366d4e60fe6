// MetricsServer (/metrics, /healthz; operations.md §6) and ticket validators on streams
// (substrate.md §6, §9): a producer requiring a ticket class refuses a consumer without it with
// NotAllowed and counts mosaik_tickets_rejected_total; a consumer holding the ticket is served.
#include <httplib.h>

#include "helpers.h"
#include "mosaik/base/metrics_internal.h"

using namespace mosaik;
using namespace mosaik::test;

TEST(MosaikMetricsServer, ServesMetricsAndHealth) {
  auto m = std::make_shared<Metrics>();
  m->impl().counter("mosaik_test_things_total", {{"network", "abc"}}).Increment(3);
  std::atomic<bool> ready{false};
  auto s = MetricsServer::start("127.0.0.1:0", m, [&] {
    return ready ? std::pair<int, std::string>{200, "ok"} : std::pair<int, std::string>{503, "not ready"};
  });
  ASSERT_TRUE(s) << s.error().to_string();
  auto addr = (*s)->bound_address();
  auto port = std::stoi(addr.substr(addr.rfind(':') + 1));
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("mosaik_test_things_total{network=\"abc\"} 3"), std::string::npos) << r->body;
  auto h = cli.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  EXPECT_EQ(h->body, "not ready");
  ready = true;
  h = cli.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "ok");
  EXPECT_EQ(cli.Get("/nope")->status, 404);
  // Without a health callback: 200 ok.
  auto s2 = MetricsServer::start("127.0.0.1:0", m);
  ASSERT_TRUE(s2);
  auto a2 = (*s2)->bound_address();
  httplib::Client cli2("127.0.0.1", std::stoi(a2.substr(a2.rfind(':') + 1)));
  EXPECT_EQ(cli2.Get("/healthz")->status, 200);
  EXPECT_FALSE(MetricsServer::start("not-an-address", m));
}

namespace {
const TicketClass kClass = UniqueId::from("test.ticket.class");

class AcceptAll : public TicketValidator {
 public:
  TicketClass cls() const override { return kClass; }
  UniqueId signature() const override { return UniqueId::from("accept-all"); }
  tl::expected<Expiration, InvalidTicket> validate(std::span<const std::uint8_t>, const PeerEntry&,
                                                   SysTime) const override {
    return Expiration{};
  }
};
}  // namespace

TEST(MosaikStreamsTickets, ProducerRefusesConsumerWithoutTicket) {
  const StreamId stream = UniqueId::from("test.ticketed");
  auto boot = start(loopback_config());
  auto mk = [&] {
    auto c = loopback_config();
    c.discovery.bootstrap = {boot_of(*boot)};
    return start(c);
  };
  auto p = mk(), without = mk(), with = mk();
  ASSERT_TRUE(p && without && with);
  with->discovery().update_local([](PeerEntry& e) {
    zipnet::proto::Ticket t{kClass, {1, 2, 3}};
    e.tickets[t.id()] = t;
  });
  auto tx = p->streams().producer<Item>(stream).require_ticket(std::make_shared<AcceptAll>()).build();
  auto r_without = without->streams().consumer<Item>(stream).build();
  // The refused consumer gives up (NotAllowed is not retried) and the producer counts it.
  auto rejected = [&] {
    return p->metrics()
        .value("mosaik_tickets_rejected_total",
               {{"network", p->network_id().short_hex()}, {"class", kClass.short_hex()}, {"reason", "missing"}})
        .value_or(0);
  };
  Watch<int> tick;
  for (int i = 0; i < 500 && (rejected() < 1 || r_without.raw().state_of(p->id()) != ChannelState::Terminated); ++i)
    tick.wait_for([](int) { return false; }, 10ms);  // poll: no event exposes these
  EXPECT_GE(rejected(), 1);
  EXPECT_EQ(r_without.raw().state_of(p->id()), ChannelState::Terminated);
  EXPECT_EQ(tx.raw().consumers().get(), 0u);
  // The ticket holder is served.
  auto r_with = with->streams().consumer<Item>(stream).build();
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 1; }, 10s));
  ASSERT_TRUE(tx.send(Item{7, {}}, 5s));
  auto got = r_with.recv(5s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second.seq, 7u);
  EXPECT_FALSE(r_without.raw().try_recv());
}
