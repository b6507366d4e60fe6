// The Intel SGX PCK certificate extension (OID 1.2.840.113741.1.13.1) of the PCK leaf: FMSPC,
// PCE-ID, the 16 CPU TCB component SVNs and PCESVN — the platform identity and TCB that checks
// 6.2 and 6.4 match against TCB info. A small bounded DER walker: the extension is a flat
// SEQUENCE of (OID, value) pairs, simpler to read directly than through OpenSSL ASN.1 templates.
#pragma once

#include <string>
#include <tl/expected.hpp>

#include "proto/bytes.h"

namespace mosaik::tdx {

using zipnet::proto::ByteArray;
using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;

struct PckExtension {
  Bytes fmspc;   // 6 bytes
  Bytes pce_id;  // 2 bytes
  ByteArray<16> tcb_components{};
  std::uint16_t pcesvn = 0;
};

/// Parses the extension value (the DER inside the extension's OCTET STRING).
tl::expected<PckExtension, std::string> parse_sgx_extension(ByteSpan der);
/// Finds and parses the extension of a DER certificate.
tl::expected<PckExtension, std::string> pck_extension_of(ByteSpan cert_der);

}  // namespace mosaik::tdx
