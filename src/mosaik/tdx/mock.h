// Mock TDX quotes (substrate.md §9.1 "Mock mode", operations.md §3.5 ZIPNET_TDX_MOCK_KEY): a test
// PCK hierarchy (test root -> PCK CA -> PCK leaf, P-256) and a quote synthesiser that produces
// real Quote v4 bytes — fresh attestation key, QE report binding it, signed by the mock leaf key.
// The unchanged verifier accepts them only when the policy pins the test root; with the built-in
// Intel root they are rejected `untrusted_chain`, whatever they claim. Used by mock-mode nodes,
// fault-injection scenarios and the verifier's unit tests (every rejection reason on hand-made
// quotes, e.g. debug TDs and revoked leaves).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "proto/bytes.h"

namespace mosaik::tdx {

using zipnet::proto::ByteArray;
using zipnet::proto::Bytes;

struct MockQuoteParams {
  ByteArray<48> mr_td{};
  std::array<ByteArray<48>, 4> rtmr{};
  ByteArray<64> report_data{};
  ByteArray<16> tee_tcb_svn{};
  bool debug = false;  // sets TDATTRIBUTES bit 0
};

struct MockCrls {
  Bytes pck_crl;      // DER, issued by the mock PCK CA
  Bytes root_ca_crl;  // DER, issued by the test root
};

class MockPck {
 public:
  /// A fresh hierarchy whose certificates are valid in [not_before, not_after] (Unix seconds).
  static MockPck generate(std::int64_t not_before, std::int64_t not_after);
  /// Loads a ZIPNET_TDX_MOCK_KEY file: one private key block and the certificates leaf,
  /// intermediate, root (in that order).
  static tl::expected<MockPck, std::string> from_pem(std::string_view pem);

  /// Private key + chain: the content of a ZIPNET_TDX_MOCK_KEY file.
  std::string to_pem() const;
  /// leaf, intermediate, root (what goes into the quote's certification data).
  std::string chain_pem() const;
  /// The test root alone (for ZIPNET_TDX_ROOT_CA / Policy::root_ca_pem).
  std::string root_pem() const;
  /// Synthesises a quote. Empty when signing fails (out of memory).
  Bytes quote(const MockQuoteParams& params) const;
  /// CRLs for this hierarchy valid in [this_update, next_update]; `revoke_leaf` lists the leaf
  /// in the PCK CRL. Only available for generated hierarchies (they hold the CA keys).
  tl::expected<MockCrls, std::string> crls(std::int64_t this_update, std::int64_t next_update,
                                           bool revoke_leaf) const;

  struct State;

 private:
  explicit MockPck(std::shared_ptr<const State> s) : s_(std::move(s)) {}
  std::shared_ptr<const State> s_;
};

}  // namespace mosaik::tdx
