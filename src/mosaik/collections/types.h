// Collections vocabulary (substrate.md §8): store kinds, delta operations grouped per version,
// the group lineage and the close codes of `mosaik/collections/1`. Header-only, no Asio.
// The node layer converts its committee deltas (DeltaOp values are identical) into these.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mosaik/base/error.h"
#include "proto/bytes.h"

namespace mosaik::collections {

using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;
using StoreId = zipnet::proto::UniqueId;
/// The lineage of the hosting group (16 bytes, zipnet::proto::Lineage).
using Lineage = zipnet::proto::ByteArray<16>;

enum class Kind : std::uint8_t { Map = 1, Vec = 2, Cell = 3 };

/// Same numeric values as node::DeltaOp.
enum class Op : std::uint8_t {
  MapInsert = 1,
  MapRemove = 2,
  CellWrite = 3,
  CellClear = 4,
  VecPushBack = 5,
  VecPopFront = 6,
};

struct Delta {
  StoreId store;
  Op op = Op::MapInsert;
  Bytes key;    // Map: encoded key. Vec (set by the host): u64 LE absolute index. Else empty.
  Bytes value;  // Map insert / Cell write / Vec push: encoded value
};

/// All changes of one version, in order (wire message `Deltas{version, ops}`).
struct VersionDeltas {
  std::uint64_t version = 0;
  std::vector<Delta> ops;
};

/// Close codes of `mosaik/collections/1` (substrate.md §4).
inline constexpr std::uint16_t kStoreNotFound = 40404;
inline constexpr std::uint16_t kBehind = 40409;
inline constexpr std::uint16_t kNoCapacity = 40509;
inline CloseCode close_code(std::uint16_t c) { return static_cast<CloseCode>(c); }

inline constexpr std::size_t kRingVersions = 8192;
inline constexpr std::size_t kMaxItemsPerFrame = 4 * 1024 * 1024;  // bytes of items per frame

/// First 5 bytes in hex (10 chars), like UniqueId::short_hex.
std::string short_hex(const Lineage& l);
std::string hex(const Lineage& l);

}  // namespace mosaik::collections
