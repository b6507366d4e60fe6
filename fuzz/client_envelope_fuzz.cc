// Fuzz target: ClientEnvelope::decode and the zero-copy ClientEnvelopeView::decode
// (protocol.md §7.2). Both agree; a success re-encodes to the input (B + 44 bytes); the B
// bound is enforced (a small max_payload rejects longer payloads).
#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteSpan in(data, size);
  auto owned = ClientEnvelope::decode(in);
  auto view = ClientEnvelopeView::decode(in);
  check_canonical(owned, data, size);
  require(owned.has_value() == view.has_value());
  if (owned) {
    require(view->round == owned->round && view->client_id == owned->client_id);
    require(view->payload.size() == owned->payload.size());
    require(view->payload.empty() || view->payload.data() == data + 44);
    require(size == owned->payload.size() + 44);
    auto bounded = ClientEnvelopeView::decode(in, 32);
    require(bounded.has_value() == (owned->payload.size() <= 32));
  } else {
    require(!view.error().message.empty());
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  for (std::size_t b : {0u, 16u, 64u}) push(out, ClientEnvelope{9, sid("client"), pattern(b)});
}
