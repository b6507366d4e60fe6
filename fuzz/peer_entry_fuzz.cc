// Fuzz target: SignedPeerEntry::decode (substrate.md §5.1; signature verified against peer_id)
// and, on the same bytes minus the signature, PeerEntry::decode. Successes re-encode to the
// input; sets and tickets are strictly ascending, ticket ids match class.derive(data).
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = SignedPeerEntry::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) require(r->verify());
  if (size >= 64) {
    auto e = PeerEntry::decode(ByteSpan(data, size - 64));
    check_canonical(e, data, size - 64);
    if (e) {
      for (const auto& [id, t] : e->tickets) require(t.id() == id);
      require(e->protocol.size() <= PeerEntry::kMaxProtocol);
    }
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  push(out, sample_signed_entry(0));
  push(out, sample_signed_entry(1));
}
