// Ticket expiry on streams (substrate.md §6 "Ticket expiry", §9): the earliest expiration of the
// remote's validated tickets schedules a disconnect (NotAllowed, "… expired …") on the side that
// validates; re-subscribing with the same expired ticket is refused
// (mosaik_tickets_rejected_total{reason="expired"}); a fresh ticket is admitted; a ticket renewed
// before it expires moves the disconnect (validators re-run on every PeerEntry update).
//
// Announces are slowed to 60 s here so that no periodic re-validation can stand in for the
// expiry timer: every catalog change in these tests is an explicit update_local().
#include "helpers.h"

using namespace mosaik;
using namespace mosaik::test;

namespace {
const StreamId kStream = UniqueId::from("test.ticket.expiry");
const TicketClass kClass = UniqueId::from("test.ticket.expiring");

/// Ticket data = LE64 Unix ms of its expiry.
class ExpiringValidator : public TicketValidator {
 public:
  TicketClass cls() const override { return kClass; }
  UniqueId signature() const override { return UniqueId::from("expiring"); }
  tl::expected<Expiration, InvalidTicket> validate(std::span<const std::uint8_t> data,
                                                   const PeerEntry&, SysTime) const override {
    if (data.size() != 8)
      return tl::unexpected(InvalidTicket{"bad_ticket", "ticket is not 8 bytes"});
    std::uint64_t ms = 0;
    for (int i = 7; i >= 0; --i) ms = (ms << 8) | data[static_cast<std::size_t>(i)];
    return Expiration{from_unix_ms(static_cast<std::int64_t>(ms))};
  }
};

Ticket ticket_until(SysTime at) {
  auto ms = static_cast<std::uint64_t>(to_unix_ms(at));
  Ticket t{kClass, {}};
  for (int i = 0; i < 8; ++i) t.data.push_back(static_cast<std::uint8_t>(ms >> (8 * i)));
  return t;
}

/// Replaces the node's tickets of kClass by one expiring at `at`.
void hold_ticket(Network& n, SysTime at) {
  n.discovery().update_local([t = ticket_until(at)](PeerEntry& e) {
    std::erase_if(e.tickets, [](const auto& kv) { return kv.second.cls == kClass; });
    e.tickets[t.id()] = t;
  });
}

/// A new version of the node's entry (what the periodic announce does): peers re-run reconcile.
void bump(Network& n) {
  n.discovery().update_local([](PeerEntry&) {});
}

NetworkConfig slow_announce(NetworkConfig c) {
  c.discovery.announce_interval = std::chrono::seconds(60);
  return c;
}

struct Mesh {
  std::shared_ptr<Network> boot = start(slow_announce(loopback_config()));
  std::shared_ptr<Network> add() {
    auto c = slow_announce(loopback_config());
    c.discovery.bootstrap = {boot_of(*boot)};
    return start(c);
  }
};

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  Watch<int> tick;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!f()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    tick.wait_for([](int) { return false; }, 10ms);
  }
  return true;
}

/// `of`'s entry as `in` currently knows it holds a ticket expiring at `at`.
bool knows_ticket(Network& in, const PeerId& of, SysTime at) {
  auto id = ticket_until(at).id();
  for (const auto& e : in.discovery().catalog())
    if (e.entry.peer_id == of && e.entry.tickets.count(id)) return true;
  return false;
}

double rejected(Network& n, const std::string& reason) {
  return n.metrics()
      .value("mosaik_tickets_rejected_total", {{"network", n.network_id().short_hex()},
                                               {"class", kClass.short_hex()},
                                               {"reason", reason}})
      .value_or(0);
}

bool all_know_each_other(const std::vector<std::shared_ptr<Network>>& ns) {
  for (auto& n : ns)
    if (!n->discovery().catalog_size_watch().wait_for([&](std::size_t k) { return k >= ns.size(); },
                                                      10s))
      return false;
  return true;
}

SysTime now() {
  return std::chrono::system_clock::now();
}
constexpr auto kLife = std::chrono::milliseconds(2000);
}  // namespace

// The producer validates the consumer's ticket: cut at expiry, the expired ticket refused on the
// re-subscription, a fresh one admitted.
TEST(MosaikTicketExpiry, ProducerCutsConsumerAtExpiryRefusesItThenAdmitsAFreshTicket) {
  Mesh m;
  auto p = m.add(), c = m.add();
  ASSERT_TRUE(p && c && all_know_each_other({m.boot, p, c}));
  const auto expires = now() + kLife;
  hold_ticket(*c, expires);
  ASSERT_TRUE(eventually([&] { return knows_ticket(*p, c->id(), expires); }));
  auto tx = p->streams()
                .producer<Item>(kStream)
                .require_ticket(std::make_shared<ExpiringValidator>())
                .build();
  auto rx = c->streams().consumer<Item>(kStream).build();
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 1; }, kLife))
      << "not subscribed before the ticket expired";
  ASSERT_TRUE(tx.send(Item{1, {}}, 1s));
  auto got = rx.recv(1s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second.seq, 1u);

  // The disconnect comes from the expiry timer, not earlier and not from a re-validation.
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 0; }, kLife + 5s));
  EXPECT_GE(now(), expires - std::chrono::milliseconds(50));
  ASSERT_TRUE(rx.raw().producers().wait_for([](std::size_t n) { return n == 0; }, 5s));
  ASSERT_TRUE(eventually([&] { return rx.raw().state_of(p->id()) == ChannelState::Terminated; }));
  EXPECT_EQ(rejected(*p, "expired"), 0);  // nobody presented the expired ticket yet

  // A new version of the producer's entry re-arms the consumer, which dials again with the
  // same (expired) ticket: refused with reason "expired".
  bump(*p);
  ASSERT_TRUE(eventually([&] { return rejected(*p, "expired") >= 1; }));
  ASSERT_TRUE(eventually([&] { return rx.raw().state_of(p->id()) == ChannelState::Terminated; }));
  EXPECT_EQ(tx.raw().consumers().get(), 0u);

  // A fresh ticket is admitted (the consumer retries on the producer's next catalog change).
  const auto later = now() + std::chrono::minutes(10);
  hold_ticket(*c, later);
  ASSERT_TRUE(eventually([&] { return knows_ticket(*p, c->id(), later); }));
  bump(*p);
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 1; }, 10s));
  ASSERT_TRUE(tx.send(Item{2, {}}, 5s));
  got = rx.recv(5s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second.seq, 2u);
}

// A ticket renewed before it expires moves the disconnect: the link survives the old expiry.
TEST(MosaikTicketExpiry, RenewedTicketKeepsTheLink) {
  Mesh m;
  auto p = m.add(), c = m.add();
  ASSERT_TRUE(p && c && all_know_each_other({m.boot, p, c}));
  const auto expires = now() + kLife;
  hold_ticket(*c, expires);
  ASSERT_TRUE(eventually([&] { return knows_ticket(*p, c->id(), expires); }));
  auto tx = p->streams()
                .producer<Item>(kStream)
                .require_ticket(std::make_shared<ExpiringValidator>())
                .build();
  auto rx = c->streams().consumer<Item>(kStream).build();
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 1; }, kLife));
  const auto later = now() + std::chrono::minutes(10);
  hold_ticket(*c, later);
  ASSERT_TRUE(eventually([&] { return knows_ticket(*p, c->id(), later); }, kLife))
      << "renewal not seen before the old expiry";
  // Past the old expiry (plus a margin) the consumer is still subscribed.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(expires - now()) + 1s;
  EXPECT_FALSE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 0; }, left));
  ASSERT_TRUE(tx.send(Item{3, {}}, 5s));
  auto got = rx.recv(5s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second.seq, 3u);
  EXPECT_EQ(rejected(*p, "expired"), 0);
}

// The consumer validates the producer's ticket: it leaves at expiry, does not re-subscribe while
// the producer's ticket is expired (counted on the consumer), and comes back with a fresh one.
TEST(MosaikTicketExpiry, ConsumerLeavesAProducerWhoseTicketExpired) {
  Mesh m;
  auto p = m.add(), c = m.add();
  ASSERT_TRUE(p && c && all_know_each_other({m.boot, p, c}));
  const auto expires = now() + kLife;
  hold_ticket(*p, expires);
  ASSERT_TRUE(eventually([&] { return knows_ticket(*c, p->id(), expires); }));
  auto tx = p->streams().producer<Item>(kStream).build();
  auto rx = c->streams()
                .consumer<Item>(kStream)
                .require_ticket(std::make_shared<ExpiringValidator>())
                .build();
  ASSERT_TRUE(rx.raw().producers().wait_for([](std::size_t n) { return n == 1; }, kLife))
      << "not subscribed before the ticket expired";
  ASSERT_TRUE(tx.send(Item{1, {}}, 1s));
  ASSERT_TRUE(rx.recv(1s));

  ASSERT_TRUE(rx.raw().producers().wait_for([](std::size_t n) { return n == 0; }, kLife + 5s));
  EXPECT_GE(now(), expires - std::chrono::milliseconds(50));
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 0; }, 5s));
  // Not re-subscribed to the expired producer, even on a new version of its entry.
  bump(*p);
  ASSERT_TRUE(eventually([&] { return rejected(*c, "expired") >= 1; }));
  ASSERT_TRUE(eventually([&] { return rx.raw().state_of(p->id()) == ChannelState::Terminated; }));
  EXPECT_EQ(rx.raw().producers().get(), 0u);
  EXPECT_EQ(tx.raw().consumers().get(), 0u);

  hold_ticket(*p, now() + std::chrono::minutes(10));
  ASSERT_TRUE(rx.raw().producers().wait_for([](std::size_t n) { return n == 1; }, 10s));
  ASSERT_TRUE(tx.raw().consumers().wait_for([](std::size_t n) { return n == 1; }, 5s));
  ASSERT_TRUE(tx.send(Item{2, {}}, 5s));
  auto got = rx.recv(5s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->second.seq, 2u);
}
