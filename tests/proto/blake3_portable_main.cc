// protocol.md §16.1: the official BLAKE3 vectors against the portable-only build
// (BLAKE3_NO_SSE2/SSE41/AVX2/AVX512), checking hash, keyed_hash and derive_key.
#include <blake3.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

static std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

int main() {
  std::ifstream f(std::string(ZIPNET_TESTDATA_DIR) + "/blake3/test_vectors.json");
  if (!f) {
    std::fprintf(stderr, "cannot open blake3/test_vectors.json under %s\n", ZIPNET_TESTDATA_DIR);
    return 1;
  }
  auto j = nlohmann::json::parse(f);
  std::string key = j["key"], ctx = j["context_string"];
  int failures = 0, cases = 0;
  for (auto& c : j["cases"]) {
    size_t n = c["input_len"];
    std::vector<unsigned char> in(n);
    for (size_t i = 0; i < n; ++i) in[i] = static_cast<unsigned char>(i % 251);
    std::string want_h = c["hash"], want_k = c["keyed_hash"], want_d = c["derive_key"];
    std::vector<unsigned char> out(want_h.size() / 2);
    blake3_hasher h;
    blake3_hasher_init(&h);
    blake3_hasher_update(&h, in.data(), n);
    blake3_hasher_finalize(&h, out.data(), out.size());
    failures += hex(out.data(), out.size()) != want_h;
    blake3_hasher_init_keyed(&h, reinterpret_cast<const unsigned char*>(key.data()));
    blake3_hasher_update(&h, in.data(), n);
    blake3_hasher_finalize(&h, out.data(), out.size());
    failures += hex(out.data(), out.size()) != want_k;
    blake3_hasher_init_derive_key(&h, ctx.c_str());
    blake3_hasher_update(&h, in.data(), n);
    blake3_hasher_finalize(&h, out.data(), out.size());
    failures += hex(out.data(), out.size()) != want_d;
    ++cases;
  }
  std::printf("blake3 portable: %d cases, %d failures\n", cases, failures);
  return failures == 0 && cases > 0 ? 0 : 1;
}
