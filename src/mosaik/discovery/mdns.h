// In-house mDNS (substrate.md §5.5; RFC 6762/6763 subset, IPv4): service `_mosaik._tcp.local`,
// instance `<peer 16 hex>._mosaik._tcp.local`, SRV -> `<peer 16 hex>.local:<port>`, TXT `v=1`,
// `id=<peer 64 hex>`, `net=<network 64 hex>`, A = advertised IPv4 addresses. The packet codec is
// pure (tested directly); the responder runs on the network thread (internal, Asio).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/unique_id.h"

namespace mosaik::discovery::mdns {

inline constexpr const char* kService = "_mosaik._tcp.local";

struct Announcement {
  zipnet::proto::UniqueId peer;
  zipnet::proto::UniqueId network;
  std::uint16_t port = 0;
  std::vector<std::array<std::uint8_t, 4>> addrs;  // IPv4
};

/// A PTR query for the service.
std::vector<std::uint8_t> encode_query();
/// A response: PTR + SRV + TXT + A records for `a`.
std::vector<std::uint8_t> encode_response(const Announcement& a);

struct Parsed {
  bool is_response = false;
  bool asks_service = false;           // a query with a PTR/ANY question for kService
  std::vector<Announcement> announced;  // complete instances (TXT v=1 + SRV + ≥1 A)
};
/// Tolerant parser (name compression, unknown records skipped); nullopt on a malformed packet.
std::optional<Parsed> parse(const std::uint8_t* data, std::size_t len);

}  // namespace mosaik::discovery::mdns
