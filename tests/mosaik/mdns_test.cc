// mDNS (substrate.md §5.5): the packet codec, and several Networks on one host finding each
// other through 224.0.0.251 on a private port with no bootstrap peers.
#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "mosaik/discovery/mdns.h"

using namespace mosaik;
using namespace mosaik::test;
namespace mdns = mosaik::discovery::mdns;

namespace {

int free_udp_port() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Sends one datagram to 224.0.0.251:port over loopback and waits for it; the reason if not.
std::optional<std::string> loopback_multicast_unavailable(int port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return "socket() failed";
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  std::optional<std::string> why;
  ip_mreq m{};
  m.imr_multiaddr.s_addr = inet_addr("224.0.0.251");
  m.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
  in_addr lo{};
  lo.s_addr = htonl(INADDR_LOOPBACK);
  unsigned char loop = 1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) why = "bind failed";
  else if (::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0)
    why = std::string("IP_ADD_MEMBERSHIP on 127.0.0.1 failed: ") + std::strerror(errno);
  else if (::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo) != 0 ||
           ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0)
    why = "IP_MULTICAST_IF/LOOP failed";
  if (!why) {
    sockaddr_in g = a;
    g.sin_addr.s_addr = inet_addr("224.0.0.251");
    if (::sendto(fd, "probe", 5, 0, reinterpret_cast<sockaddr*>(&g), sizeof g) != 5) {
      why = std::string("sendto 224.0.0.251 failed: ") + std::strerror(errno);
    } else {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 1000) != 1) why = "own multicast datagram not looped back within 1 s";
    }
  }
  ::close(fd);
  return why;
}

}  // namespace

TEST(MosaikMdns, CodecRoundTrip) {
  mdns::Announcement a;
  a.peer = UniqueId::from("peer");
  a.network = UniqueId::from("net");
  a.port = 7000;
  a.addrs = {{127, 0, 0, 1}, {10, 1, 2, 3}};
  auto pkt = mdns::encode_response(a);
  auto p = mdns::parse(pkt.data(), pkt.size());
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->is_response);
  ASSERT_EQ(p->announced.size(), 1u);
  EXPECT_EQ(p->announced[0].peer, a.peer);
  EXPECT_EQ(p->announced[0].network, a.network);
  EXPECT_EQ(p->announced[0].port, 7000);
  EXPECT_EQ(p->announced[0].addrs, a.addrs);
  auto q = mdns::encode_query();
  auto pq = mdns::parse(q.data(), q.size());
  ASSERT_TRUE(pq);
  EXPECT_FALSE(pq->is_response);
  EXPECT_TRUE(pq->asks_service);
  // Truncations never crash and never yield a half announcement.
  for (std::size_t n = 0; n < pkt.size(); ++n) {
    auto t = mdns::parse(pkt.data(), n);
    if (t) {
      EXPECT_TRUE(t->announced.empty());
    }
  }
}

TEST(MosaikMdns, NetworksOnOneHostFindEachOther) {
  int port = free_udp_port();
  if (auto why = loopback_multicast_unavailable(port))
    GTEST_SKIP() << "mDNS test skipped: multicast on loopback is not available in this sandbox (" << *why << ")";
  std::vector<std::shared_ptr<Network>> nodes;
  for (int i = 0; i < 3; ++i) {
    auto c = loopback_config();
    c.discovery.mdns = true;
    c.discovery.mdns_port = static_cast<std::uint16_t>(port);
    nodes.push_back(start(c));
    ASSERT_TRUE(nodes.back());
  }
  // A node of another universe on the same port is ignored.
  auto other_cfg = loopback_config(UniqueId::from("mosaik.other"));
  other_cfg.discovery.mdns = true;
  other_cfg.discovery.mdns_port = static_cast<std::uint16_t>(port);
  auto other = start(other_cfg);
  for (auto& n : nodes) {
    EXPECT_TRUE(n->discovery().catalog_size_watch().wait_for([](std::size_t s) { return s == 3; }, 8s))
        << n->discovery().catalog_size();
    EXPECT_GE(n->metrics().value("mosaik_discovery_mdns_responses_total").value_or(0), 1);
  }
  EXPECT_EQ(other->discovery().catalog_size(), 1u);
}
