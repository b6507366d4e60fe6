#include "proto/peer_entry.h"

#include <cstring>

namespace zipnet::proto {

void SocketAddr::encode(Writer& w) const {
  w.u8(family);
  w.fixed(ByteSpan(ip.data(), family == 4 ? 4 : 16));
  w.u16(port);
}

void SocketAddr::decode_into(Reader& r, SocketAddr& out) {
  out.family = r.u8("SocketAddr.family");
  if (!r.ok()) return;
  if (out.family != 4 && out.family != 6) {
    r.fail("unknown SocketAddr.family tag " + std::to_string(out.family));
    return;
  }
  ByteSpan ip = r.fixed("SocketAddr.ip", out.family == 4 ? 4 : 16);
  out.ip = {};
  if (!ip.empty()) std::memcpy(out.ip.data(), ip.data(), ip.size());
  out.port = r.u16("SocketAddr.port");
}

std::string SocketAddr::to_string() const {
  if (family == 4)
    return std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." + std::to_string(ip[2]) +
           "." + std::to_string(ip[3]) + ":" + std::to_string(port);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "[";
  for (int i = 0; i < 16; i += 2) {
    if (i) s += ':';
    unsigned v = (ip[i] << 8) | ip[i + 1];
    bool started = false;
    for (int sh = 12; sh >= 0; sh -= 4) {
      unsigned d = (v >> sh) & 0xf;
      if (d || started || sh == 0) {
        s += kHex[d];
        started = true;
      }
    }
  }
  return s + "]:" + std::to_string(port);
}

static void encode_set(Writer& w, const std::set<UniqueId>& s) {
  w.u32(static_cast<std::uint32_t>(s.size()));
  for (const auto& id : s) w.id(id);
}

static void decode_set(Reader& r, const char* field, std::set<UniqueId>& out) {
  std::uint32_t n = r.count(field, PeerEntry::kMaxSetItems, 32);
  const UniqueId* prev = nullptr;
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    UniqueId id = r.id(field);
    if (!r.ok() || !check_ascending(r, field, prev, id)) return;
    prev = &*out.insert(out.end(), id);
  }
}

void PeerEntry::encode(Writer& w) const {
  w.string(protocol);
  w.id(network);
  w.i64(start_ms);
  w.i64(update_ms);
  w.id(peer_id);
  w.u32(static_cast<std::uint32_t>(addrs.size()));
  for (const auto& a : addrs) a.encode(w);
  encode_set(w, tags);
  encode_set(w, streams);
  encode_set(w, groups);
  encode_set(w, stores);
  w.u32(static_cast<std::uint32_t>(tickets.size()));
  for (const auto& [id, t] : tickets) {
    w.id(id);
    w.id(t.cls);
    w.bytes(t.data);
  }
}

void PeerEntry::decode_into(Reader& r, PeerEntry& e) {
  e.protocol = r.string("PeerEntry.protocol", kMaxProtocol);
  e.network = r.id("PeerEntry.network");
  e.start_ms = r.i64("PeerEntry.start_ms");
  e.update_ms = r.i64("PeerEntry.update_ms");
  e.peer_id = r.id("PeerEntry.peer_id");
  std::uint32_t n = r.count("PeerEntry.addrs", kMaxAddrs, 7);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    SocketAddr a;
    SocketAddr::decode_into(r, a);
    e.addrs.push_back(a);
  }
  decode_set(r, "PeerEntry.tags", e.tags);
  decode_set(r, "PeerEntry.streams", e.streams);
  decode_set(r, "PeerEntry.groups", e.groups);
  decode_set(r, "PeerEntry.stores", e.stores);
  std::uint32_t nt = r.count("PeerEntry.tickets", kMaxTickets, 68);
  const UniqueId* prev = nullptr;
  for (std::uint32_t i = 0; i < nt && r.ok(); ++i) {
    UniqueId id = r.id("PeerEntry.tickets");
    Ticket t;
    t.cls = r.id("Ticket.class");
    ByteSpan data = r.bytes("Ticket.data", kMaxTicketData);
    if (!r.ok() || !check_ascending(r, "PeerEntry.tickets", prev, id)) return;
    t.data.assign(data.begin(), data.end());
    if (t.id() != id) {
      r.fail("PeerEntry.tickets: ticket_id does not match class.derive(data)");
      return;
    }
    auto it = e.tickets.emplace_hint(e.tickets.end(), id, std::move(t));
    prev = &it->first;
  }
}

DecodeResult<PeerEntry> PeerEntry::decode(ByteSpan in) {
  Reader r(in);
  PeerEntry e;
  decode_into(r, e);
  return r.finish(std::move(e), "PeerEntry");
}

UniqueId PeerEntry::digest() const { return UniqueId::hash_of(proto::encode(*this)); }

static Bytes signing_message(const PeerEntry& e) {
  Bytes msg;
  append(msg, as_bytes(SignedPeerEntry::kSigContext));
  append(msg, e.digest().span());
  return msg;
}

SignedPeerEntry SignedPeerEntry::sign(PeerEntry entry, const SigningKey& key) {
  SignedPeerEntry s;
  s.signature = key.sign(signing_message(entry));
  s.entry = std::move(entry);
  return s;
}

bool SignedPeerEntry::verify() const {
  return ed25519_verify(entry.peer_id, signing_message(entry), signature);
}

void SignedPeerEntry::encode(Writer& w) const {
  entry.encode(w);
  w.fixed(signature);
}

void SignedPeerEntry::decode_into(Reader& r, SignedPeerEntry& out, bool verify) {
  PeerEntry::decode_into(r, out.entry);
  out.signature = r.array<64>("SignedPeerEntry.signature");
  if (verify && r.ok() && !out.verify()) r.fail("SignedPeerEntry: bad signature");
}

DecodeResult<SignedPeerEntry> SignedPeerEntry::decode(ByteSpan in) {
  Reader r(in);
  SignedPeerEntry s;
  decode_into(r, s);
  return r.finish(std::move(s), "SignedPeerEntry");
}

}  // namespace zipnet::proto
