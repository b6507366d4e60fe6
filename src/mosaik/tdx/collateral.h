// Intel PCS collateral for TDX verification (substrate.md §9.1 "Collateral"): TCB info, QE
// identity, PCK CRL and root CA CRL, plus the "Intel SGX TCB Signing" issuer chains when
// available. Loads either a PCCS JSON bundle file or a directory of PCS responses. The TCB-info
// and QE-identity JSON values are kept as the exact bytes delivered (raw substring / string
// content, never re-serialised) because Intel's signatures cover those bytes; their fields are
// parsed once at load time so verification does no JSON work.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "proto/bytes.h"

namespace mosaik::tdx {

using zipnet::proto::ByteArray;
using zipnet::proto::Bytes;

/// Intel TCB statuses, in increasing order of badness (substrate.md §9.1 check 6.6).
enum class TcbStatus : std::uint8_t {
  UpToDate,
  SWHardeningNeeded,
  ConfigurationNeeded,
  ConfigurationAndSWHardeningNeeded,
  OutOfDate,
  OutOfDateConfigurationNeeded,
  Revoked,
  NotSupported,
};
std::string_view to_string(TcbStatus s);
std::optional<TcbStatus> tcb_status_from_string(std::string_view s);

struct IsvTcbLevel {
  std::uint16_t isvsvn = 0;
  TcbStatus status = TcbStatus::NotSupported;
};

struct TdxTcbLevel {
  ByteArray<16> sgx_components{};
  std::uint16_t pcesvn = 0;
  ByteArray<16> tdx_components{};
  TcbStatus status = TcbStatus::NotSupported;
};

/// `tdxModule` (no levels) or one `tdxModuleIdentities` entry.
struct TdxModuleIdentity {
  std::string id;
  ByteArray<48> mrsigner{};
  ByteArray<8> attributes{};
  ByteArray<8> attributes_mask{};
  std::vector<IsvTcbLevel> tcb_levels;
};

struct TcbInfo {
  std::string raw;            // exact signed bytes of the `tcbInfo` value
  ByteArray<64> signature{};  // r ‖ s
  std::string id;
  int version = 0;
  std::int64_t issue_date = 0;
  std::int64_t next_update = 0;
  Bytes fmspc;   // 6 bytes
  Bytes pce_id;  // 2 bytes
  std::optional<TdxModuleIdentity> tdx_module;
  std::vector<TdxModuleIdentity> tdx_module_identities;
  std::vector<TdxTcbLevel> tcb_levels;
};

struct QeIdentity {
  std::string raw;            // exact signed bytes of the `enclaveIdentity` value
  ByteArray<64> signature{};  // r ‖ s
  std::string id;
  int version = 0;
  std::int64_t issue_date = 0;
  std::int64_t next_update = 0;
  ByteArray<4> miscselect{};
  ByteArray<4> miscselect_mask{};
  ByteArray<16> attributes{};
  ByteArray<16> attributes_mask{};
  ByteArray<32> mrsigner{};
  std::uint16_t isvprodid = 0;
  std::vector<IsvTcbLevel> tcb_levels;
};

struct Collateral {
  enum class Form { PccsBundle, PcsDirectory };
  Form form = Form::PcsDirectory;
  std::string source;  // the file or directory it was loaded from ("" when built in memory)
  Bytes pck_crl;       // DER (validated at load)
  Bytes root_ca_crl;   // DER (validated at load)
  std::string pck_crl_issuer_chain;  // PEM; bundle only, informational
  /// "Intel SGX TCB Signing" chains (PEM). Always present in a bundle; in a directory only when
  /// `tcb_signing_chain.pem` exists (then used for both). Absent ⇒ signatures unchecked.
  std::optional<std::string> tcb_info_issuer_chain;
  std::optional<std::string> qe_identity_issuer_chain;
  TcbInfo tcb_info;
  QeIdentity qe_identity;

  /// Earliest `nextUpdate` of TCB info and QE identity.
  std::int64_t next_update() const;
};

/// One dated item of a collateral and its `nextUpdate` (Unix seconds). Items are named as in
/// the WARN `TDX collateral outdated: <item> next_update=<ts>` (operations.md §5.3):
/// `tcb_info`, `qe_identity`, `pck_crl`, `root_ca_crl`.
struct CollateralDeadline {
  std::string_view item;
  std::int64_t next_update = 0;
};
/// Every item's `nextUpdate`, in the order above. A CRL without a nextUpdate is left out.
std::vector<CollateralDeadline> collateral_deadlines(const Collateral& c);
/// The earliest of collateral_deadlines(c): the refresh deadline of the whole collateral
/// (`mosaik_tdx_collateral_next_update_timestamp_seconds`, operations.md §7.5).
CollateralDeadline earliest_deadline(const Collateral& c);

struct CollateralError {
  enum class Kind { Io, Content };
  Kind kind = Kind::Content;
  std::string detail;
};
using CollateralResult = tl::expected<Collateral, CollateralError>;

/// A PCCS bundle file or a PCS response directory, decided by the path's type.
CollateralResult load_collateral(const std::filesystem::path& path);
/// A PCCS JSON bundle (substrate.md §9.1) given as text.
CollateralResult parse_pccs_bundle(std::string_view json);
/// A directory of PCS responses: tcb_info.json | sample_tcbInfo_response, qe_identity.json |
/// sample_qeIdentity_response, pck_crl.der | pckcrl, root_crl.der | rootcrl.der (DER or PEM),
/// optional tcb_signing_chain.pem.
CollateralResult load_pcs_directory(const std::filesystem::path& dir);
/// A PCS response body `{"tcbInfo":{…},"signature":"<hex>"}` (or `enclaveIdentity`).
tl::expected<TcbInfo, std::string> parse_tcb_info_response(std::string_view json);
tl::expected<QeIdentity, std::string> parse_qe_identity_response(std::string_view json);

/// The exact text of member `key` of the top-level JSON object `text` (no unescaping, no
/// re-serialisation); nullopt when `text` is not an object or has no such member.
std::optional<std::string_view> raw_json_member(std::string_view text, std::string_view key);

}  // namespace mosaik::tdx
