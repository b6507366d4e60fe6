// mDNS packet codec and the responder/querier worker (substrate.md §5.5).
#include "mosaik/discovery/mdns.h"

#include <map>

#include "mosaik/discovery/worker.h"
#include "mosaik/transport/tls.h"

namespace mosaik::discovery::mdns {

namespace {

constexpr std::uint16_t kA = 1, kPtr = 12, kTxt = 16, kSrv = 33, kAny = 255;
constexpr std::uint32_t kTtl = 120;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Writer {
  std::vector<std::uint8_t> b;
  void u8(std::uint8_t v) { b.push_back(v); }
  void u16(std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void name(const std::string& n) {
    std::size_t pos = 0;
    while (pos < n.size()) {
      auto dot = n.find('.', pos);
      if (dot == std::string::npos) dot = n.size();
      u8(static_cast<std::uint8_t>(dot - pos));
      b.insert(b.end(), n.begin() + static_cast<std::ptrdiff_t>(pos), n.begin() + static_cast<std::ptrdiff_t>(dot));
      pos = dot + 1;
    }
    u8(0);
  }
  // Record header; returns the offset of rdlength to patch.
  std::size_t rr(const std::string& n, std::uint16_t type, bool flush) {
    name(n);
    u16(type);
    u16(flush ? 0x8001 : 0x0001);  // class IN (+ cache-flush for unique records)
    u32(kTtl);
    std::size_t at = b.size();
    u16(0);
    return at;
  }
  void patch(std::size_t at) {
    auto len = static_cast<std::uint16_t>(b.size() - at - 2);
    b[at] = static_cast<std::uint8_t>(len >> 8);
    b[at + 1] = static_cast<std::uint8_t>(len);
  }
};

struct Reader {
  const std::uint8_t* d;
  std::size_t n;
  std::size_t pos = 0;
  bool ok = true;
  std::uint16_t u16() {
    if (pos + 2 > n) return ok = false, 0;
    auto v = static_cast<std::uint16_t>((d[pos] << 8) | d[pos + 1]);
    pos += 2;
    return v;
  }
  std::uint32_t u32() {
    std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  // A (possibly compressed) name starting at `at`; advances pos when reading in place.
  std::string name_at(std::size_t at, std::size_t* end) {
    std::string out;
    std::size_t p = at;
    bool jumped = false;
    for (int hops = 0; hops < 64; ++hops) {
      if (p >= n) return ok = false, out;
      std::uint8_t len = d[p];
      if (len == 0) {
        if (!jumped) *end = p + 1;
        return lower(out);
      }
      if ((len & 0xc0) == 0xc0) {
        if (p + 1 >= n) return ok = false, out;
        if (!jumped) *end = p + 2;
        jumped = true;
        p = static_cast<std::size_t>(((len & 0x3f) << 8) | d[p + 1]);
        continue;
      }
      if (p + 1 + len > n) return ok = false, out;
      if (!out.empty()) out += '.';
      out.append(reinterpret_cast<const char*>(d + p + 1), len);
      p += 1 + len;
    }
    ok = false;
    return out;
  }
  std::string name() {
    std::size_t end = pos;
    auto s = name_at(pos, &end);
    pos = end;
    return s;
  }
};

std::string instance_of(const zipnet::proto::UniqueId& peer) { return peer.hex().substr(0, 16) + "." + kService; }
std::string host_of(const zipnet::proto::UniqueId& peer) { return peer.hex().substr(0, 16) + ".local"; }

}  // namespace

std::vector<std::uint8_t> encode_query() {
  Writer w;
  w.u16(0);  // id
  w.u16(0);  // flags: standard query
  w.u16(1);
  w.u16(0);
  w.u16(0);
  w.u16(0);
  w.name(kService);
  w.u16(kPtr);
  w.u16(1);
  return std::move(w.b);
}

std::vector<std::uint8_t> encode_response(const Announcement& a) {
  Writer w;
  w.u16(0);
  w.u16(0x8400);  // response, authoritative
  w.u16(0);
  w.u16(static_cast<std::uint16_t>(3 + a.addrs.size()));
  w.u16(0);
  w.u16(0);
  auto inst = instance_of(a.peer);
  auto host = host_of(a.peer);
  auto at = w.rr(kService, kPtr, false);
  w.name(inst);
  w.patch(at);
  at = w.rr(inst, kSrv, true);
  w.u16(0);
  w.u16(0);
  w.u16(a.port);
  w.name(host);
  w.patch(at);
  at = w.rr(inst, kTxt, true);
  for (const std::string& s : {std::string("v=1"), "id=" + a.peer.hex(), "net=" + a.network.hex()}) {
    w.u8(static_cast<std::uint8_t>(s.size()));
    w.b.insert(w.b.end(), s.begin(), s.end());
  }
  w.patch(at);
  for (const auto& ip : a.addrs) {
    at = w.rr(host, kA, true);
    w.b.insert(w.b.end(), ip.begin(), ip.end());
    w.patch(at);
  }
  return std::move(w.b);
}

std::optional<Parsed> parse(const std::uint8_t* data, std::size_t len) {
  Reader r{data, len};
  Parsed out;
  r.u16();
  auto flags = r.u16();
  auto qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
  if (!r.ok) return std::nullopt;
  out.is_response = (flags & 0x8000) != 0;
  for (int i = 0; i < qd; ++i) {
    auto n = r.name();
    auto type = r.u16();
    r.u16();
    if (!r.ok) return std::nullopt;
    if (n == kService && (type == kPtr || type == kAny)) out.asks_service = true;
  }
  struct Srv {
    std::uint16_t port;
    std::string target;
  };
  std::map<std::string, Srv> srv;
  std::map<std::string, std::map<std::string, std::string>> txt;
  std::map<std::string, std::vector<std::array<std::uint8_t, 4>>> a_recs;
  for (int i = 0; i < an + ns + ar; ++i) {
    auto n = r.name();
    auto type = r.u16();
    r.u16();
    r.u32();
    auto rdlen = r.u16();
    if (!r.ok || r.pos + rdlen > len) return std::nullopt;
    std::size_t rd = r.pos;
    if (type == kA && rdlen == 4) {
      std::array<std::uint8_t, 4> ip{};
      std::copy(data + rd, data + rd + 4, ip.begin());
      a_recs[n].push_back(ip);
    } else if (type == kSrv && rdlen >= 7) {
      Reader s{data, len, rd + 4};
      auto port = s.u16();
      auto target = s.name();
      if (s.ok) srv[n] = Srv{port, target};
    } else if (type == kTxt) {
      std::size_t p = rd;
      auto& kv = txt[n];
      while (p < rd + rdlen) {
        std::size_t l = data[p];
        if (p + 1 + l > rd + rdlen) break;
        std::string s(reinterpret_cast<const char*>(data + p + 1), l);
        auto eq = s.find('=');
        if (eq != std::string::npos) kv[lower(s.substr(0, eq))] = s.substr(eq + 1);
        p += 1 + l;
      }
    }
    r.pos = rd + rdlen;
  }
  for (const auto& [inst, kv] : txt) {
    auto v = kv.find("v"), id = kv.find("id"), net = kv.find("net");
    if (v == kv.end() || v->second != "1" || id == kv.end() || net == kv.end()) continue;
    auto s = srv.find(inst);
    if (s == srv.end()) continue;
    auto pid = zipnet::proto::UniqueId::parse_hex(id->second);
    auto nid = zipnet::proto::UniqueId::parse_hex(net->second);
    if (!pid || !nid) continue;
    Announcement a;
    a.peer = *pid;
    a.network = *nid;
    a.port = s->second.port;
    if (auto it = a_recs.find(s->second.target); it != a_recs.end()) a.addrs = it->second;
    if (a.addrs.empty() || a.port == 0) continue;
    out.announced.push_back(std::move(a));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The worker

using asio::ip::udp;

struct Worker : std::enable_shared_from_this<Worker> {
  explicit Worker(Discovery::Impl& d) : disc(d), core(d.core), sock(core.io), timer(core.io) {}
  Discovery::Impl& disc;
  detail::Core& core;
  udp::socket sock;
  asio::steady_timer timer;
  udp::endpoint group;
  std::vector<asio::ip::address_v4> ifaces;  // outbound interfaces
  std::array<std::uint8_t, 9000> buf{};
  udp::endpoint from;
  bool stopped = false;
  int startup_queries = 0;

  std::optional<std::string> open() {
    std::error_code ec;
    group = udp::endpoint(asio::ip::make_address_v4("224.0.0.251"), disc.cfg.mdns_port);
    sock.open(udp::v4(), ec);
    if (ec) return "open: " + ec.message();
    sock.set_option(udp::socket::reuse_address(true), ec);
    int one = 1;
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sock.bind(udp::endpoint(asio::ip::address_v4::any(), disc.cfg.mdns_port), ec);
    if (ec) return "bind :" + std::to_string(disc.cfg.mdns_port) + ": " + ec.message();
    sock.set_option(asio::ip::multicast::enable_loopback(true), ec);
    sock.set_option(asio::ip::multicast::hops(255), ec);
    // Membership on every IPv4 interface, loopback included (tests run on 127.0.0.1).
    std::vector<asio::ip::address_v4> all = {asio::ip::address_v4::loopback()};
    for (const auto& a : core.advertised)
      if (a.address().is_v4() && !a.address().is_loopback()) all.push_back(a.address().to_v4());
    for (const auto& a : all) {
      std::error_code jec;
      sock.set_option(asio::ip::multicast::join_group(group.address().to_v4(), a), jec);
      if (!jec) ifaces.push_back(a);
    }
    if (ifaces.empty()) return "cannot join 224.0.0.251 on any interface";
    return std::nullopt;
  }

  void send(const std::vector<std::uint8_t>& pkt) {
    for (const auto& a : ifaces) {
      std::error_code ec;
      sock.set_option(asio::ip::multicast::outbound_interface(a), ec);
      if (!ec) sock.send_to(asio::buffer(pkt), group, 0, ec);
    }
  }

  void announce() {
    Announcement a;
    a.peer = core.id;
    a.network = core.network;
    for (const auto& ep : core.advertised) {
      if (!ep.address().is_v4()) continue;
      if (!a.port) a.port = ep.port();
      a.addrs.push_back(ep.address().to_v4().to_bytes());
    }
    if (a.addrs.empty() || !a.port) return;
    send(encode_response(a));
  }

  void tick() {
    if (stopped) return;
    send(encode_query());
    if (startup_queries == 0) announce();
    std::chrono::milliseconds next;
    if (++startup_queries < 3) {
      next = std::chrono::milliseconds(1000);  // 3 queries at 1 s intervals at startup
    } else {
      announce();
      next = core.jitter(disc.cfg.announce_interval, disc.cfg.announce_jitter);
    }
    timer.expires_after(next);
    timer.async_wait([w = weak_from_this()](std::error_code ec) {
      if (auto s = w.lock(); s && !ec) s->tick();
    });
  }

  void receive() {
    sock.async_receive_from(asio::buffer(buf), from, [w = weak_from_this()](std::error_code ec, std::size_t n) {
      auto s = w.lock();
      if (!s || s->stopped || ec == asio::error::operation_aborted) return;
      if (!ec) s->handle(n);
      s->receive();
    });
  }

  void handle(std::size_t n) {
    auto p = parse(buf.data(), n);
    if (!p) return;
    if (!p->is_response) {
      if (p->asks_service) announce();
      return;
    }
    for (const auto& a : p->announced) {
      if (a.network != core.network || a.peer == core.id) continue;
      core.metrics->impl().counter("mosaik_discovery_mdns_responses_total", {{"network", core.net_label}}).Increment();
      bool known;
      {
        std::lock_guard lk(disc.mu);
        known = disc.catalog.find(a.peer) != nullptr;
      }
      if (known || disc.is_neighbor(a.peer) || disc.dialing.count(a.peer) || disc.stopped || core.stopping) continue;
      std::vector<detail::tcp::endpoint> eps;
      for (const auto& ip : a.addrs) eps.emplace_back(asio::ip::address_v4(ip), a.port);
      MLOG_DEBUG("mosaik::discovery", "mdns: found peer={}… at {}", a.peer.short_hex(), detail::to_string(eps.front()));
      asio::co_spawn(core.io, dial(a.peer, std::move(eps)), asio::detached);
    }
  }

  asio::awaitable<void> dial(PeerId peer, std::vector<detail::tcp::endpoint> eps) {
    auto self = shared_from_this();
    disc.dialing.insert(peer);
    std::shared_ptr<detail::Link> link;
    for (const auto& ep : eps) {
      auto l = co_await core.dial(ep, peer, transport::kAlpnDiscovery, {});
      if (l) {
        link = *l;
        break;
      }
    }
    disc.dialing.erase(peer);
    if (link && !disc.stopped) disc.run_link(link);  // the opener sends Sync first
  }

  void stop() {
    stopped = true;
    timer.cancel();
    std::error_code ec;
    sock.close(ec);
  }
};

std::shared_ptr<void> start(Discovery::Impl& d) {
  auto w = std::make_shared<Worker>(d);
  if (auto err = w->open()) {
    MLOG_WARN("mosaik::discovery", "mdns disabled: {}", *err);
    return nullptr;
  }
  w->receive();
  w->tick();
  return w;
}

void stop(const std::shared_ptr<void>& w) {
  if (w) static_cast<Worker*>(w.get())->stop();
}

}  // namespace mosaik::discovery::mdns
