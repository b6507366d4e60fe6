// ECDSA P-256 / SHA-256 signature checks used by the TDX verifier (quote signature, QE report
// signature, TCB-info / QE-identity signatures). Intel formats carry signatures as raw r ‖ s
// (64 bytes) and public keys as raw x ‖ y (64 bytes); OpenSSL wants DER signatures, so the raw
// forms are converted here, in one audited place that the Wycheproof vectors exercise.
#pragma once

#include <optional>

#include "proto/bytes.h"

namespace mosaik::tdx {

using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;

/// r ‖ s (64 bytes, big-endian halves) -> DER ECDSA-Sig-Value; nullopt when not 64 bytes.
std::optional<Bytes> ecdsa_raw_to_der(ByteSpan rs);

/// Verifies a DER signature over SHA-256(msg) with a P-256 public key given as x ‖ y (64 bytes)
/// or 0x04 ‖ x ‖ y (65 bytes). False on any malformed input (never throws).
bool p256_verify_der(ByteSpan pubkey, ByteSpan msg, ByteSpan der_sig);
/// Same with a raw r ‖ s signature.
bool p256_verify_raw(ByteSpan pubkey, ByteSpan msg, ByteSpan rs_sig);

}  // namespace mosaik::tdx
