// Fuzz target: LiveRound::decode (protocol.md §7.2). A successful decode re-encodes to exactly
// the input (canonical codec) and its servers are strictly ascending.
#include <algorithm>

#include "fuzz_common.h"

using namespace zipnet::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = LiveRound::decode(ByteSpan(data, size));
  check_canonical(r, data, size);
  if (r) {
    for (std::size_t i = 1; i < r->servers.size(); ++i)
      require(r->servers[i - 1].server_id < r->servers[i].server_id);
    require(size == 84 + 64 * r->servers.size());
  }
  return 0;
}

void zipnet_fuzz_seeds(Seeds& out) {
  LiveRound h;
  h.round = 7;
  h.opened_at_ms = 1700000000000;
  h.open_version = 42;
  h.roster_len = 3;
  h.roster_digest = sid("digest");
  push(out, h);
  for (int n : {1, 3}) {
    std::vector<ServerEntry> s;
    for (int i = 0; i < n; ++i) s.push_back({sid("server-" + std::to_string(i)), {}});
    std::sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.server_id < b.server_id; });
    h.servers = s;
    h.params.num_slots = 4;
    h.params.slot_bytes = 32;
    h.params.tag_len = 8;
    push(out, h);
  }
}
