#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"

using namespace mosaik;
using namespace mosaik::test;

TEST(MosaikNetwork, WrongUniverseRefused) {
  auto a = start(loopback_config(UniqueId::from("universe-a")));
  auto bc = loopback_config(UniqueId::from("universe-b"));
  auto b = start(bc);
  ASSERT_TRUE(a && b);
  auto r = b->probe(a->advertised().front(), a->id());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::WrongUniverse);
  EXPECT_EQ(r.error().expected, a->network_id());
  EXPECT_EQ(r.error().actual, b->network_id());
  auto lbl = [](Network& n) {
    return std::map<std::string, std::string>{{"network", n.network_id().short_hex()}, {"reason", "wrong_network"}};
  };
  EXPECT_EQ(b->metrics().value("mosaik_network_handshake_failures_total", lbl(*b)).value_or(0), 1);
  // The acceptor counts it too (asynchronously: wait for it).
  Watch<int> dummy;
  for (int i = 0; i < 200 && a->metrics().value("mosaik_network_handshake_failures_total", lbl(*a)).value_or(0) < 1; ++i)
    dummy.wait_for([](int) { return false; }, std::chrono::milliseconds(10));
  EXPECT_EQ(a->metrics().value("mosaik_network_handshake_failures_total", lbl(*a)).value_or(0), 1);
}

TEST(MosaikNetwork, PinnedPeerMismatchAndSameUniverse) {
  auto a = start(loopback_config());
  auto b = start(loopback_config());
  ASSERT_TRUE(a && b);
  auto ok = b->probe(a->advertised().front(), a->id());
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(*ok, a->id());
  auto bad = b->probe(a->advertised().front(), UniqueId::from("someone else"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::UnknownPeer);
}

TEST(MosaikNetwork, GarbageOnTheListenerDoesNotHarm) {
  auto a = start(loopback_config());
  ASSERT_TRUE(a);
  // A plaintext client writing junk: the TLS handshake fails, the node keeps serving.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(a->advertised().front().substr(a->advertised().front().rfind(':') + 1))));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  const char junk[] = "\xff\xff\xff\xff garbage garbage";
  ASSERT_GT(::write(fd, junk, sizeof junk), 0);
  ::close(fd);
  auto b = start(loopback_config());
  EXPECT_TRUE(b->probe(a->advertised().front(), a->id()));
}
