// `mosaik/collections/1` message codec.
#include "mosaik/collections/messages.h"

#include <algorithm>

namespace mosaik::collections::wire {

using zipnet::proto::Reader;
using zipnet::proto::Writer;

namespace {
constexpr std::size_t kMaxStores = 1024;
constexpr std::size_t kMaxBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxOps = 1 << 22;

void put_lineage(Writer& w, const Lineage& l) { w.fixed(ByteSpan(l.data(), l.size())); }
Lineage get_lineage(Reader& r, const char* f) { return r.array<16>(f); }

template <class F>
Bytes build(F&& f) {
  Bytes out;
  Writer w(out);
  f(w);
  return out;
}
Bytes to_bytes(ByteSpan s) { return Bytes(s.begin(), s.end()); }
bool valid_kind(std::uint8_t k) { return k >= 1 && k <= 3; }
bool valid_op(std::uint8_t o) { return o >= 1 && o <= 6; }
}  // namespace

Bytes encode(const Follow& m) {
  return build([&](Writer& w) {
    w.u32(static_cast<std::uint32_t>(m.stores.size()));
    for (auto& s : m.stores) w.id(s);
    w.boolean(m.from_version.has_value());
    if (m.from_version) w.u64(*m.from_version);
    w.boolean(m.lineage.has_value());
    if (m.lineage) put_lineage(w, *m.lineage);
    w.boolean(m.vec_tail);
  });
}
DecodeResult<Follow> decode_follow(ByteSpan in) {
  Reader r(in);
  Follow m;
  auto n = r.count("Follow.stores", kMaxStores, 32);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) m.stores.push_back(r.id("Follow.stores"));
  if (r.boolean("Follow.from_version")) m.from_version = r.u64("Follow.from_version");
  if (r.boolean("Follow.lineage")) m.lineage = get_lineage(r, "Follow.lineage");
  m.vec_tail = r.boolean("Follow.vec_tail");
  if (r.ok() && !std::is_sorted(m.stores.begin(), m.stores.end())) r.fail("Follow.stores not ascending");
  return r.finish(std::move(m), "Follow");
}

Bytes encode(const SnapshotBegin& m) {
  return build([&](Writer& w) {
    put_lineage(w, m.lineage);
    w.u64(m.version);
    w.u32(static_cast<std::uint32_t>(m.stores.size()));
    for (auto& s : m.stores) {
      w.id(s.store);
      w.u8(static_cast<std::uint8_t>(s.kind));
      w.u64(s.base);
      w.u64(s.count);
    }
  });
}
DecodeResult<SnapshotBegin> decode_snapshot_begin(ByteSpan in) {
  Reader r(in);
  SnapshotBegin m;
  m.lineage = get_lineage(r, "SnapshotBegin.lineage");
  m.version = r.u64("SnapshotBegin.version");
  auto n = r.count("SnapshotBegin.stores", kMaxStores, 49);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    StoreMeta s;
    s.store = r.id("SnapshotBegin.store");
    auto k = r.u8("SnapshotBegin.kind");
    if (r.ok() && !valid_kind(k)) r.fail("unknown store kind");
    s.kind = static_cast<Kind>(k);
    s.base = r.u64("SnapshotBegin.base");
    s.count = r.u64("SnapshotBegin.count");
    m.stores.push_back(s);
  }
  return r.finish(std::move(m), "SnapshotBegin");
}

Bytes encode(const SnapshotItems& m) {
  return build([&](Writer& w) {
    w.id(m.store);
    w.u32(static_cast<std::uint32_t>(m.items.size()));
    for (auto& i : m.items) w.bytes(i);
  });
}
DecodeResult<SnapshotItems> decode_snapshot_items(ByteSpan in) {
  Reader r(in);
  SnapshotItems m;
  m.store = r.id("SnapshotItems.store");
  auto n = r.count("SnapshotItems.items", kMaxBytes, 4);
  m.items.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) m.items.push_back(to_bytes(r.bytes("SnapshotItems.item", kMaxBytes)));
  return r.finish(std::move(m), "SnapshotItems");
}

Bytes encode(const Resume& m) {
  return build([&](Writer& w) {
    put_lineage(w, m.lineage);
    w.u64(m.version);
  });
}
DecodeResult<Resume> decode_resume(ByteSpan in) {
  Reader r(in);
  Resume m;
  m.lineage = get_lineage(r, "Resume.lineage");
  m.version = r.u64("Resume.version");
  return r.finish(std::move(m), "Resume");
}

Bytes encode(const VersionDeltas& m) {
  return build([&](Writer& w) {
    w.u64(m.version);
    w.u32(static_cast<std::uint32_t>(m.ops.size()));
    for (auto& d : m.ops) {
      w.id(d.store);
      w.u8(static_cast<std::uint8_t>(d.op));
      w.bytes(d.key);
      w.bytes(d.value);
    }
  });
}
DecodeResult<VersionDeltas> decode_deltas(ByteSpan in) {
  Reader r(in);
  VersionDeltas m;
  m.version = r.u64("Deltas.version");
  auto n = r.count("Deltas.ops", kMaxOps, 41);
  m.ops.reserve(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    Delta d;
    d.store = r.id("Deltas.store");
    auto op = r.u8("Deltas.op");
    if (r.ok() && !valid_op(op)) r.fail("unknown delta op");
    d.op = static_cast<Op>(op);
    d.key = to_bytes(r.bytes("Deltas.key", kMaxBytes));
    d.value = to_bytes(r.bytes("Deltas.value", kMaxBytes));
    m.ops.push_back(std::move(d));
  }
  return r.finish(std::move(m), "Deltas");
}

Bytes encode(const Heartbeat& m) {
  return build([&](Writer& w) { w.u64(m.version); });
}
DecodeResult<Heartbeat> decode_heartbeat(ByteSpan in) {
  Reader r(in);
  Heartbeat m;
  m.version = r.u64("Heartbeat.version");
  return r.finish(std::move(m), "Heartbeat");
}

Bytes encode(const Lookup& m) {
  return build([&](Writer& w) {
    w.u64(m.request_id);
    w.id(m.store);
    w.bytes(m.key);
  });
}
DecodeResult<Lookup> decode_lookup(ByteSpan in) {
  Reader r(in);
  Lookup m;
  m.request_id = r.u64("Lookup.request_id");
  m.store = r.id("Lookup.store");
  m.key = to_bytes(r.bytes("Lookup.key", kMaxBytes));
  return r.finish(std::move(m), "Lookup");
}

Bytes encode(const LookupResult& m) {
  return build([&](Writer& w) {
    w.u64(m.request_id);
    put_lineage(w, m.lineage);
    w.u64(m.version);
    w.boolean(m.value.has_value());
    if (m.value) w.bytes(*m.value);
  });
}
DecodeResult<LookupResult> decode_lookup_result(ByteSpan in) {
  Reader r(in);
  LookupResult m;
  m.request_id = r.u64("LookupResult.request_id");
  m.lineage = get_lineage(r, "LookupResult.lineage");
  m.version = r.u64("LookupResult.version");
  if (r.boolean("LookupResult.value")) m.value = to_bytes(r.bytes("LookupResult.value", kMaxBytes));
  return r.finish(std::move(m), "LookupResult");
}

Bytes encode(const Probe& m) {
  return build([&](Writer& w) { w.u64(m.request_id); });
}
DecodeResult<Probe> decode_probe(ByteSpan in) {
  Reader r(in);
  Probe m;
  m.request_id = r.u64("Probe.request_id");
  return r.finish(std::move(m), "Probe");
}

Bytes encode(const ProbeResult& m) {
  return build([&](Writer& w) {
    w.u64(m.request_id);
    put_lineage(w, m.lineage);
    w.u64(m.version);
    w.boolean(m.online);
  });
}
DecodeResult<ProbeResult> decode_probe_result(ByteSpan in) {
  Reader r(in);
  ProbeResult m;
  m.request_id = r.u64("ProbeResult.request_id");
  m.lineage = get_lineage(r, "ProbeResult.lineage");
  m.version = r.u64("ProbeResult.version");
  m.online = r.boolean("ProbeResult.online");
  return r.finish(std::move(m), "ProbeResult");
}

Bytes encode_channel(const std::vector<StoreId>& stores) {
  Bytes out;
  for (auto& s : stores) zipnet::proto::append(out, s.span());
  return out;
}
std::optional<std::vector<StoreId>> decode_channel(ByteSpan ch) {
  if (ch.size() % 32) return std::nullopt;
  std::vector<StoreId> out;
  for (std::size_t i = 0; i < ch.size(); i += 32) {
    auto id = StoreId::from_bytes(ch.subspan(i, 32));
    if (!id) return std::nullopt;
    if (!out.empty() && !(out.back() < *id)) return std::nullopt;
    out.push_back(*id);
  }
  return out;
}

}  // namespace mosaik::collections::wire
