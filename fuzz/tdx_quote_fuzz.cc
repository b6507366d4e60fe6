// Fuzz target for the TDX Quote v4 parser (substrate.md §9.1 check 1) and the verifier without
// collateral: arbitrary bytes must be rejected with a reason, never read out of bounds or crash.
// Seeds: the two real quotes of ../shared/testdata/tdx (when present), so mutations reach the
// signature, certification-data and PEM paths.
#include <fstream>
#include <iterator>

#include "fuzz_seeds.h"
#include "mosaik/tdx/quote.h"
#include "mosaik/tdx/verify.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mosaik::tdx::ByteSpan in(data, size);
  auto q = mosaik::tdx::parse_quote(in);
  if (q && q->size + q->trailing_bytes != size) __builtin_trap();
  static const mosaik::tdx::Policy policy;
  auto v = mosaik::tdx::verify(in, nullptr, policy, 1'751'328'000);  // 2025-07-01T00:00:00Z
  if (v.parsed != q.has_value()) __builtin_trap();
  if (!v.verified && v.reason.empty()) __builtin_trap();
  return 0;
}

void zipnet_fuzz_seeds(std::vector<std::vector<std::uint8_t>>& out) {
#ifdef ZIPNET_TESTDATA_DIR
  for (const char* name : {"/tdx/tdx_prod_quote_SPR_E4.dat", "/tdx/pccs-bundle/tdx_quote"}) {
    std::ifstream f(std::string(ZIPNET_TESTDATA_DIR) + name, std::ios::binary);
    if (!f) continue;
    out.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
#else
  (void)out;
#endif
}
