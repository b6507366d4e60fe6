// BLAKE3 known answers (protocol.md §16.1): the whole official test_vectors.json of the BLAKE3
// repository (hash, keyed_hash, derive_key, each at its full extended output length) through
// zipnet::proto's BLAKE3 surface, plus H("abc").
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "proto/blake3.h"
#include "proto/hex.h"

namespace zipnet::proto {
namespace {

nlohmann::json load_vectors() {
  const std::string path = std::string(ZIPNET_TESTDATA_DIR) + "/blake3/test_vectors.json";
  std::ifstream f(path);
  if (!f) ADD_FAILURE() << "cannot open " << path;
  return nlohmann::json::parse(f);
}

Bytes input_of_len(std::size_t n) {
  Bytes in(n);
  for (std::size_t i = 0; i < n; ++i) in[i] = static_cast<std::uint8_t>(i % 251);
  return in;
}

std::string finalize_hex(const Blake3Hasher& h, std::size_t out_len) {
  Bytes out(out_len);
  h.finalize(MutByteSpan(out));
  return to_hex(out);
}

TEST(Blake3, Abc) {
  EXPECT_EQ(to_hex(blake3(as_bytes("abc"))),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
  EXPECT_EQ(to_hex(Blake3Hasher().update(as_bytes("a")).update(as_bytes("bc")).finalize()),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
}

TEST(Blake3, OfficialVectorsTableOfSpec) {
  // The rows quoted in §16.1, independent of the JSON file.
  struct Row {
    std::size_t n;
    const char* hash;
    const char* keyed;
  };
  const Row rows[] = {
      {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
       "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"},
      {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
       "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b"},
      {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
       "75c46f6f3d9eb4f55ecaaee480db732e6c2105546f1e675003687c31719c7ba4"},
      {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
       "357dc55de0c7e382c900fd6e320acc04146be01db6a8ce7210b7189bd664ea69"},
      {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085",
       "1c35d1a5811083fd7119f5d5d1ba027b4d01c0c6c49fb6ff2cf75393ea5db4a7"},
  };
  ByteArray<32> key{};
  const std::string_view k = "whats the Elvish word for friend";
  ASSERT_EQ(k.size(), 32u);
  std::copy(k.begin(), k.end(), key.begin());
  for (const auto& row : rows) {
    Bytes in = input_of_len(row.n);
    EXPECT_EQ(to_hex(blake3(in)), row.hash) << "n=" << row.n;
    EXPECT_EQ(to_hex(blake3_keyed(key, in)), row.keyed) << "n=" << row.n;
  }
}

TEST(Blake3, WholeOfficialTestVectorsFile) {
  auto j = load_vectors();
  const std::string key_str = j.at("key");
  const std::string context = j.at("context_string");
  ASSERT_EQ(key_str.size(), 32u);
  ASSERT_EQ(key_str, "whats the Elvish word for friend");
  ASSERT_EQ(context, "BLAKE3 2019-12-27 16:29:52 test vectors context");
  ByteArray<32> key{};
  std::copy(key_str.begin(), key_str.end(), key.begin());

  std::size_t cases = 0;
  for (const auto& c : j.at("cases")) {
    const std::size_t n = c.at("input_len");
    const std::string want_hash = c.at("hash");
    const std::string want_keyed = c.at("keyed_hash");
    const std::string want_derive = c.at("derive_key");
    Bytes in = input_of_len(n);
    SCOPED_TRACE("input_len=" + std::to_string(n));

    // Extended outputs: the whole hex length of the file (131 bytes), via the XOF path.
    EXPECT_EQ(finalize_hex(Blake3Hasher().update(in), want_hash.size() / 2), want_hash);
    EXPECT_EQ(finalize_hex(Blake3Hasher(key).update(in), want_keyed.size() / 2), want_keyed);
    EXPECT_EQ(finalize_hex(Blake3Hasher::derive_key(context).update(in), want_derive.size() / 2),
              want_derive);

    // The 32-byte one-shot functions are the first 32 bytes of the extended output.
    EXPECT_EQ(to_hex(blake3(in)), want_hash.substr(0, 64));
    EXPECT_EQ(to_hex(blake3_keyed(key, in)), want_keyed.substr(0, 64));
    EXPECT_EQ(to_hex(blake3_derive_key(context, in)), want_derive.substr(0, 64));
    EXPECT_EQ(to_hex(Blake3Hasher().update(in).finalize()), want_hash.substr(0, 64));

    // Incremental feeding in uneven pieces (crossing chunk and block boundaries) is identical.
    Blake3Hasher inc;
    std::size_t off = 0, step = 1;
    while (off < n) {
      std::size_t len = std::min(step, n - off);
      inc.update(ByteSpan(in).subspan(off, len));
      off += len;
      step = step * 3 + 7;
    }
    EXPECT_EQ(finalize_hex(inc, want_hash.size() / 2), want_hash);

    // A copied hasher finalises to the same value and finalize() does not consume the state.
    Blake3Hasher copy(inc);
    EXPECT_EQ(finalize_hex(copy, 32), want_hash.substr(0, 64));
    EXPECT_EQ(finalize_hex(inc, 32), want_hash.substr(0, 64));
    ++cases;
  }
  EXPECT_EQ(cases, 35u);
}

}  // namespace
}  // namespace zipnet::proto
