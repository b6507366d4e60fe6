#include "mosaik/discovery/messages.h"

namespace mosaik::discovery {

using zipnet::proto::Reader;
using zipnet::proto::Writer;

namespace {
void put_entry(Writer& w, const SignedPeerEntry& e) { w.bytes(zipnet::proto::encode(e)); }

void get_entries(Reader& r, std::uint32_t n, DecodedEntries& out) {
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    auto blob = r.bytes("Sync.entry", kMaxEntryBytes);
    if (!r.ok()) return;
    auto e = SignedPeerEntry::decode(blob);
    if (e) out.ok.push_back(std::move(*e));
    else ++out.bad_signature;
  }
}
}  // namespace

Bytes SyncMsg::encode() const {
  Bytes out;
  Writer w(out);
  w.boolean(want_reply);
  w.u32(static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) put_entry(w, e);
  return out;
}

zipnet::proto::DecodeResult<std::pair<bool, DecodedEntries>> SyncMsg::decode(ByteSpan in) {
  Reader r(in);
  std::pair<bool, DecodedEntries> out;
  out.first = r.boolean("Sync.want_reply");
  auto n = r.count("Sync.entries", kMaxSyncEntries, 4);
  get_entries(r, n, out.second);
  return r.finish(std::move(out), "Sync");
}

Bytes AnnounceMsg::encode(const SignedPeerEntry& e) {
  Bytes out;
  Writer w(out);
  put_entry(w, e);
  return out;
}

zipnet::proto::DecodeResult<DecodedEntries> AnnounceMsg::decode(ByteSpan in) {
  Reader r(in);
  DecodedEntries out;
  get_entries(r, 1, out);
  return r.finish(std::move(out), "Announce");
}

Bytes DepartMsg::signing_message() const {
  Bytes m;
  zipnet::proto::append(m, zipnet::proto::as_bytes(kSigContext));
  zipnet::proto::append(m, peer_id.span());
  zipnet::proto::append(m, zipnet::proto::le64(static_cast<std::uint64_t>(start_ms)));
  zipnet::proto::append(m, zipnet::proto::le64(static_cast<std::uint64_t>(update_ms)));
  zipnet::proto::append(m, zipnet::proto::le64(static_cast<std::uint64_t>(ts_ms)));
  return m;
}

bool DepartMsg::verify() const {
  return zipnet::proto::ed25519_verify(peer_id, signing_message(), signature);
}

Bytes DepartMsg::encode() const {
  Bytes out;
  Writer w(out);
  w.id(peer_id);
  w.i64(start_ms);
  w.i64(update_ms);
  w.i64(ts_ms);
  w.fixed(signature);
  return out;
}

zipnet::proto::DecodeResult<DepartMsg> DepartMsg::decode(ByteSpan in) {
  Reader r(in);
  DepartMsg d;
  d.peer_id = r.id("Depart.peer_id");
  d.start_ms = r.i64("Depart.start_ms");
  d.update_ms = r.i64("Depart.update_ms");
  d.ts_ms = r.i64("Depart.ts_ms");
  d.signature = r.array<64>("Depart.signature");
  return r.finish(std::move(d), "Depart");
}

Bytes PingMsg::encode() const {
  Bytes out;
  Writer w(out);
  w.u64(nonce);
  w.i64(sent_ms);
  return out;
}

zipnet::proto::DecodeResult<PingMsg> PingMsg::decode(ByteSpan in) {
  Reader r(in);
  PingMsg p;
  p.nonce = r.u64("Ping.nonce");
  p.sent_ms = r.i64("Ping.sent_ms");
  return r.finish(std::move(p), "Ping");
}

Bytes PongMsg::encode() const {
  Bytes out;
  Writer w(out);
  w.u64(nonce);
  w.i64(wall_ms);
  w.bytes(entry);
  return out;
}

zipnet::proto::DecodeResult<PongMsg> PongMsg::decode(ByteSpan in) {
  Reader r(in);
  PongMsg p;
  p.nonce = r.u64("Pong.nonce");
  p.wall_ms = r.i64("Pong.wall_ms");
  auto e = r.bytes("Pong.entry", kMaxEntryBytes);
  p.entry.assign(e.begin(), e.end());
  return r.finish(std::move(p), "Pong");
}

}  // namespace mosaik::discovery
