// Helpers shared by the codec fuzz targets (fuzz/<name>_fuzz.cc): the canonical-codec check
// (a successful decode re-encodes to exactly the input, a failed one carries a message),
// small valid sample values for seeds, and LLVMFuzzerInitialize, which — under libFuzzer,
// when ZIPNET_FUZZ_SEED_DIR is set (fuzz/run_all.sh) — writes the target's seeds into that
// corpus directory before libFuzzer reads it. The standalone driver never calls it.
#pragma once

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "fuzz_seeds.h"
#include "proto/ids.h"
#include "proto/wire.h"

namespace zipnet::fuzz {

using namespace zipnet::proto;
using Seeds = std::vector<std::vector<std::uint8_t>>;

inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

inline bool same_bytes(const Bytes& b, const std::uint8_t* data, std::size_t size) {
  return b.size() == size && (size == 0 || std::memcmp(b.data(), data, size) == 0);
}

/// The canonical-codec contract for one decode result.
template <class Result>
void check_canonical(const Result& r, const std::uint8_t* data, std::size_t size) {
  if (!r) {
    require(!r.error().message.empty());
    return;
  }
  require(same_bytes(encode(*r), data, size));
}

// ---------------------------------------------------------------- sample values (seeds)
inline UniqueId sid(const std::string& s) { return UniqueId::from(s); }

inline Bytes pattern(std::size_t n, std::uint8_t start = 1) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(start + i * 7);
  return b;
}

inline const SigningKey& seed_key() {
  static const SigningKey k(Secret32(UniqueId::from("zipnet-fuzz-seed-key").bytes()));
  return k;
}

inline SignedPeerEntry sample_signed_entry(int variant) {
  PeerEntry e;
  e.protocol = variant == 0 ? "zipnet-cpp/1.0.0" : "zipnet-cpp/1.2.3-\xc3\xa9";
  e.network = default_universe();
  e.start_ms = 1700000000000;
  e.update_ms = 1700000000500 + variant;
  e.peer_id = seed_key().peer_id();
  SocketAddr v4;
  v4.ip[0] = 127, v4.ip[3] = 1, v4.port = 7000;
  e.addrs.push_back(v4);
  if (variant == 1) {
    SocketAddr v6;
    v6.family = 6;
    v6.ip[15] = 1;
    v6.port = 7001;
    e.addrs.push_back(v6);
    e.streams.insert(sid("SUBMIT"));
    e.groups.insert(sid("group"));
    e.stores.insert(sid("store-a"));
    e.stores.insert(sid("store-b"));
  }
  e.tags.insert(sid("role.client"));
  ClientBundle cb{sid("instance"), sid("client"), {}};
  e.add_ticket(Ticket{bundle_ticket_class(), encode(cb)});
  return SignedPeerEntry::sign(std::move(e), seed_key());
}

inline AggregateEnvelope sample_aggregate(std::uint32_t roster_len,
                                          std::vector<std::uint32_t> idx, std::size_t b) {
  return AggregateEnvelope{5, sid("roster"), ParticipantSet::canonical(roster_len, std::move(idx)),
                           pattern(b)};
}

inline PartialUnblind sample_partial(std::size_t b) {
  PartialUnblind p{5, sid("server"), pattern(b, 3), {}};
  p.signature.fill(0x5a);
  return p;
}

inline ServerBundle sample_server_bundle() {
  X25519Public dh{};
  dh.fill(9);
  return ServerBundle::sign(sid("instance"), seed_key(), dh, 1700000000000);
}

template <class T>
void push(Seeds& out, const T& value) {
  out.push_back(encode(value));
}

}  // namespace zipnet::fuzz

/// libFuzzer only: drop the seeds into $ZIPNET_FUZZ_SEED_DIR (a corpus dir on the command line).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("ZIPNET_FUZZ_SEED_DIR");
  if (!dir) return 0;  // every target defines zipnet_fuzz_seeds
  zipnet::fuzz::Seeds seeds;
  zipnet_fuzz_seeds(seeds);
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream f(std::string(dir) + "/seed-" + std::to_string(i), std::ios::binary);
    f.write(reinterpret_cast<const char*>(seeds[i].data()),
            static_cast<std::streamsize>(seeds[i].size()));
  }
  return 0;
}
