// The TDX ticket (substrate.md §9.1 "TDX tickets"): `TdxTicket = quote:bytes extra:TdxExtra` in
// the canonical codec, and the report-data binding that ties a quote to the ticket's claims
// (peer, network, times). The guest puts `report_data(extra)` into its quote; the validator
// recomputes it from `extra` (check 8, `bad_binding`), so a quote cannot be replayed under
// another identity or lifetime.
#pragma once

#include <cstdint>
#include <limits>

#include "proto/codec.h"
#include "proto/unique_id.h"

namespace mosaik::tdx {

using zipnet::proto::ByteArray;
using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;

/// `expiration` value meaning "never" (i64::MAX).
inline constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
/// A quote carried in a ticket is at most 16 KiB.
inline constexpr std::size_t kMaxTicketQuote = 16 * 1024;

struct TdxExtra {
  zipnet::proto::PeerId peer_id;
  zipnet::proto::NetworkId network_id;
  std::int64_t started_at = 0;  // Unix seconds
  std::int64_t quoted_at = 0;
  std::int64_t expiration = kNever;

  void encode(zipnet::proto::Writer& w) const;
  static TdxExtra decode(zipnet::proto::Reader& r);
  friend bool operator==(const TdxExtra&, const TdxExtra&) = default;
};

struct TdxTicket {
  Bytes quote;
  TdxExtra extra;

  void encode(zipnet::proto::Writer& w) const;
  static zipnet::proto::DecodeResult<TdxTicket> decode(ByteSpan data);
};

/// report_data[0..32] = UniqueId::from("mosaik.tdx.ticket.extra").derive(peer_id)
///   .derive(network_id).derive(LE64(started_at)).derive(LE64(quoted_at))
///   .derive(expiration == never ? 0^8 : LE64(expiration)); report_data[32..64] = 0.
ByteArray<64> report_data_for(const TdxExtra& extra);

}  // namespace mosaik::tdx
