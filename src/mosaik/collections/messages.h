// Wire messages of `mosaik/collections/1` (substrate.md §8.2). Frame types 40..50; payloads in
// the canonical codec. Pure: encode to bytes, decode with bounded readers.
#pragma once

#include "mosaik/collections/types.h"
#include "proto/codec.h"

namespace mosaik::collections::wire {

enum class Type : std::uint8_t {
  Follow = 40,
  SnapshotBegin = 41,
  SnapshotItems = 42,
  SnapshotEnd = 43,
  Resume = 44,
  Deltas = 45,
  Heartbeat = 46,
  Lookup = 47,
  LookupResult = 48,
  Probe = 49,
  ProbeResult = 50,
};

struct Follow {
  std::vector<StoreId> stores;  // ascending
  std::optional<std::uint64_t> from_version;
  std::optional<Lineage> lineage;
  bool vec_tail = false;
};
struct StoreMeta {
  StoreId store;
  Kind kind = Kind::Map;
  std::uint64_t base = 0;
  std::uint64_t count = 0;
};
struct SnapshotBegin {
  Lineage lineage{};
  std::uint64_t version = 0;
  std::vector<StoreMeta> stores;
};
struct SnapshotItems {
  StoreId store;
  std::vector<Bytes> items;
};
struct Resume {
  Lineage lineage{};
  std::uint64_t version = 0;
};
struct Heartbeat {
  std::uint64_t version = 0;
};
struct Lookup {
  std::uint64_t request_id = 0;
  StoreId store;
  Bytes key;
};
struct LookupResult {
  std::uint64_t request_id = 0;
  Lineage lineage{};
  std::uint64_t version = 0;
  std::optional<Bytes> value;
};
struct Probe {
  std::uint64_t request_id = 0;
};
struct ProbeResult {
  std::uint64_t request_id = 0;
  Lineage lineage{};
  std::uint64_t version = 0;
  bool online = false;
};

Bytes encode(const Follow& m);
Bytes encode(const SnapshotBegin& m);
Bytes encode(const SnapshotItems& m);
Bytes encode(const Resume& m);
Bytes encode(const VersionDeltas& m);
Bytes encode(const Heartbeat& m);
Bytes encode(const Lookup& m);
Bytes encode(const LookupResult& m);
Bytes encode(const Probe& m);
Bytes encode(const ProbeResult& m);

using zipnet::proto::DecodeResult;
DecodeResult<Follow> decode_follow(ByteSpan in);
DecodeResult<SnapshotBegin> decode_snapshot_begin(ByteSpan in);
DecodeResult<SnapshotItems> decode_snapshot_items(ByteSpan in);
DecodeResult<Resume> decode_resume(ByteSpan in);
DecodeResult<VersionDeltas> decode_deltas(ByteSpan in);
DecodeResult<Heartbeat> decode_heartbeat(ByteSpan in);
DecodeResult<Lookup> decode_lookup(ByteSpan in);
DecodeResult<LookupResult> decode_lookup_result(ByteSpan in);
DecodeResult<Probe> decode_probe(ByteSpan in);
DecodeResult<ProbeResult> decode_probe_result(ByteSpan in);

/// Channel (Hello) of a follow connection: the ascending store ids concatenated.
Bytes encode_channel(const std::vector<StoreId>& stores);
std::optional<std::vector<StoreId>> decode_channel(ByteSpan ch);

}  // namespace mosaik::collections::wire
