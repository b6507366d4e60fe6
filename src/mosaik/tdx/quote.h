// Bounded parser for Intel TDX Quote v4 (substrate.md §9.1 "Quote v4 layout"): header, the
// 584-byte TD quote body, the ECDSA signature data, the QE report certification data (type 6)
// and its nested PCK certificate chain (type 5, PEM, exactly three certificates). The parser is
// check 1 of the verifier and the fuzz target's entry point: it reads only inside its input,
// rejects every inconsistent length with a readable detail, and copies out what the later checks
// need so the result does not borrow the input.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "proto/bytes.h"

namespace mosaik::tdx {

using zipnet::proto::ByteArray;
using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;

inline constexpr std::size_t kMaxQuoteSize = 16 * 1024;
inline constexpr std::size_t kHeaderSize = 48;
inline constexpr std::size_t kBodySize = 584;
inline constexpr std::size_t kSignedSize = kHeaderSize + kBodySize;  // 632: the quote signature
inline constexpr std::size_t kQeReportSize = 384;
inline constexpr std::uint16_t kQuoteVersion = 4;
inline constexpr std::uint16_t kAttKeyEcdsaP256 = 2;
inline constexpr std::uint32_t kTeeTypeTdx = 0x81;
inline constexpr std::uint16_t kCertDataQeReport = 6;
inline constexpr std::uint16_t kCertDataPckChain = 5;

/// The TD quote body (bytes 48..632) — the fields the verifier and the ticket validator use.
struct TdBody {
  ByteArray<16> tee_tcb_svn{};
  ByteArray<48> mr_seam{};
  ByteArray<48> mr_signer_seam{};
  ByteArray<8> seam_attributes{};
  ByteArray<8> td_attributes{};
  ByteArray<8> xfam{};
  ByteArray<48> mr_td{};
  ByteArray<48> mr_config_id{};
  ByteArray<48> mr_owner{};
  ByteArray<48> mr_owner_config{};
  std::array<ByteArray<48>, 4> rtmr{};
  ByteArray<64> report_data{};

  /// TDATTRIBUTES bit 0 (DEBUG).
  bool debug() const { return (td_attributes[0] & 0x01) != 0; }
};

/// The QE's SGX report body (384 bytes) with the fields checks 3, 4 and 6.3 need.
struct QeReport {
  ByteArray<384> raw{};
  ByteArray<4> miscselect{};      // +16 (bytes as in memory)
  ByteArray<16> attributes{};     // +48
  ByteArray<32> mr_signer{};      // +128
  std::uint16_t isv_prod_id = 0;  // +256, LE
  std::uint16_t isv_svn = 0;      // +258, LE
  ByteArray<64> report_data{};    // +320
};

struct Quote {
  // Header (bytes 0..48).
  std::uint16_t version = 0;
  std::uint16_t att_key_type = 0;
  std::uint32_t tee_type = 0;
  std::uint16_t qe_svn = 0;
  std::uint16_t pce_svn = 0;
  ByteArray<16> qe_vendor_id{};
  ByteArray<20> user_data{};

  TdBody body;
  ByteArray<kSignedSize> signed_bytes{};  // bytes 0..632, covered by `signature`

  ByteArray<64> signature{};        // r ‖ s
  ByteArray<64> attestation_key{};  // x ‖ y
  QeReport qe_report;
  ByteArray<64> qe_report_signature{};  // r ‖ s, by the PCK leaf key
  Bytes qe_auth_data;
  std::string pck_chain_pem;           // the type-5 payload as delivered
  std::array<Bytes, 3> pck_chain_der;  // leaf, intermediate, root (DER)

  std::size_t size = 0;            // 636 + sig_len: the bytes that belong to the quote
  std::size_t trailing_bytes = 0;  // ignored bytes after them
};

struct ParseError {
  std::string detail;
};

/// Check 1 (`bad_quote`). Never reads outside `in`.
tl::expected<Quote, ParseError> parse_quote(ByteSpan in);

}  // namespace mosaik::tdx
