// An oversized frame on a real link (substrate.md §4 "Framing"): the receiver closes only that
// connection with Close{400 ProtocolViolation}; its other links and its catalog are untouched.
// Uses the internal Core (Asio) to send a raw frame header no public API can produce.
#define ASIO_STANDALONE
#define ASIO_NO_DEPRECATED
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // g++ 12 false positive (coroutines)

#include "helpers.h"
#include "mosaik/network/core.h"
#include "mosaik/transport/tls.h"

using namespace mosaik;
using namespace mosaik::test;

TEST(MosaikTransport, OversizedFrameClosesOnlyThatConnection) {
  auto a = start(loopback_config());
  ASSERT_TRUE(a);
  auto mk = [&] {
    auto c = loopback_config();
    c.discovery.bootstrap = {boot_of(*a)};
    return start(c);
  };
  auto b = mk(), c = mk();
  ASSERT_TRUE(b && c);
  for (auto* n : {&a, &b, &c})
    ASSERT_TRUE((*n)->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s == 3; }, 10s));
  Watch<int> tick;
  auto await_neighbors = [&](Network& n, std::size_t want) {
    for (int i = 0; i < 500 && n.discovery().neighbors() != want; ++i) tick.wait_for([](int) { return false; }, 10ms);
    return n.discovery().neighbors() == want;
  };
  const std::size_t before = a->discovery().neighbors();
  ASSERT_GE(before, 2u);

  // b opens one more discovery link to a and sends a header announcing a 32 MiB frame.
  auto core = b->core_internal();
  auto ep = detail::parse_endpoint(a->advertised().front());
  ASSERT_TRUE(ep);
  auto dialed = asio::co_spawn(core->io, core->dial(*ep, a->id(), transport::kAlpnDiscovery, {}), asio::use_future).get();
  ASSERT_TRUE(dialed) << dialed.error().to_string();
  auto link = *dialed;
  ASSERT_TRUE(await_neighbors(*a, before + 1));
  core->run_sync([&] {
    link->send(std::make_shared<const transport::Bytes>(transport::Bytes{0x00, 0x00, 0x00, 0x02, 0x01}));
  });
  // a answers on that link with Close{400} (after any frames it had queued).
  std::optional<Error> closed;
  for (int i = 0; i < 20 && !closed; ++i) {
    auto f = asio::co_spawn(core->io, link->read_frame(), asio::use_future).get();
    if (!f) closed = f.error();
  }
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->is_close(CloseCode::ProtocolViolation)) << closed->to_string();
  core->run_sync([&] { link.reset(); });

  // Only that connection went away: a keeps its other links and its catalog, and still gossips.
  EXPECT_TRUE(await_neighbors(*a, before));
  EXPECT_EQ(a->discovery().catalog_size(), 3u);
  auto d = mk();
  ASSERT_TRUE(d);
  for (auto* n : {&a, &b, &c, &d})
    EXPECT_TRUE((*n)->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s == 4; }, 10s));
}
