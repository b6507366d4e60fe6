// Shared helpers of the TDX tests: read the external test data in place (ZIPNET_TESTDATA_DIR,
// never copied into the tree), the instants at which the two real quotes' collateral is valid,
// and a scoped temporary directory for edited collateral copies.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "mosaik/tdx/rfc3339.h"
#include "proto/bytes.h"

namespace mosaik::tdx::test {

inline std::filesystem::path tdx_dir() {
  return std::filesystem::path(ZIPNET_TESTDATA_DIR) / "tdx";
}
inline std::filesystem::path spr_quote_path() {
  return tdx_dir() / "tdx_prod_quote_SPR_E4.dat";
}
inline std::filesystem::path bundle_quote_path() {
  return tdx_dir() / "pccs-bundle" / "tdx_quote";
}
inline std::filesystem::path bundle_collateral_path() {
  return tdx_dir() / "pccs-bundle" / "tdx_quote_collateral.json";
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot read " << p;
  return {std::istreambuf_iterator<char>(f), {}};
}
inline zipnet::proto::Bytes read_bytes(const std::filesystem::path& p) {
  std::string s = read_text(p);
  return {s.begin(), s.end()};
}
inline void write_text(const std::filesystem::path& p, std::string_view s) {
  std::ofstream f(p, std::ios::binary);
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
}

inline std::int64_t at(const char* rfc3339) {
  auto t = parse_rfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(0);
}
/// Inside every validity window of the SPR sample (testdata README).
inline std::int64_t spr_now() {
  return at("2023-06-20T00:00:00Z");
}
/// Inside every validity window of the PCCS bundle.
inline std::int64_t bundle_now() {
  return at("2025-07-01T00:00:00Z");
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "zipnet-tdx-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mosaik::tdx::test
