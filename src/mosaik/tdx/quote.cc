#include "mosaik/tdx/quote.h"

#include <algorithm>

#include "mosaik/tdx/ossl.h"
#include "proto/codec.h"

namespace mosaik::tdx {

namespace {

using zipnet::proto::get_le16;
using zipnet::proto::Reader;

template <std::size_t N>
void copy_into(ByteArray<N>& dst, ByteSpan src) {
  if (src.size() == N) std::copy(src.begin(), src.end(), dst.begin());
}

tl::unexpected<ParseError> fail(std::string detail) {
  return tl::unexpected(ParseError{std::move(detail)});
}

void parse_body(ByteSpan b, TdBody& body) {
  auto at = [&](std::size_t off, std::size_t n) { return b.subspan(off - kHeaderSize, n); };
  copy_into(body.tee_tcb_svn, at(48, 16));
  copy_into(body.mr_seam, at(64, 48));
  copy_into(body.mr_signer_seam, at(112, 48));
  copy_into(body.seam_attributes, at(160, 8));
  copy_into(body.td_attributes, at(168, 8));
  copy_into(body.xfam, at(176, 8));
  copy_into(body.mr_td, at(184, 48));
  copy_into(body.mr_config_id, at(232, 48));
  copy_into(body.mr_owner, at(280, 48));
  copy_into(body.mr_owner_config, at(328, 48));
  for (std::size_t i = 0; i < 4; ++i) copy_into(body.rtmr[i], at(376 + 48 * i, 48));
  copy_into(body.report_data, at(568, 64));
}

void parse_qe_report(ByteSpan r, QeReport& qe) {
  copy_into(qe.raw, r);
  copy_into(qe.miscselect, r.subspan(16, 4));
  copy_into(qe.attributes, r.subspan(48, 16));
  copy_into(qe.mr_signer, r.subspan(128, 32));
  qe.isv_prod_id = get_le16(r.data() + 256);
  qe.isv_svn = get_le16(r.data() + 258);
  copy_into(qe.report_data, r.subspan(320, 64));
}

}  // namespace

tl::expected<Quote, ParseError> parse_quote(ByteSpan in) {
  if (in.size() > kMaxQuoteSize)
    return fail("quote is " + std::to_string(in.size()) + " bytes, more than 16 KiB");
  Quote q;
  Reader r(in);
  q.version = r.u16("header.version");
  q.att_key_type = r.u16("header.attestation_key_type");
  q.tee_type = r.u32("header.tee_type");
  q.qe_svn = r.u16("header.qe_svn");
  q.pce_svn = r.u16("header.pce_svn");
  copy_into(q.qe_vendor_id, r.fixed("header.qe_vendor_id", 16));
  copy_into(q.user_data, r.fixed("header.user_data", 20));
  if (!r.ok()) return fail(r.error());
  if (q.version != kQuoteVersion)
    return fail("unsupported quote version " + std::to_string(q.version) + " (want 4)");
  if (q.att_key_type != kAttKeyEcdsaP256)
    return fail("unsupported attestation key type " + std::to_string(q.att_key_type) +
                " (want 2, ECDSA-256 P-256)");
  if (q.tee_type != kTeeTypeTdx)
    return fail("unsupported TEE type " + std::to_string(q.tee_type) + " (want 0x81, TDX)");

  ByteSpan body = r.fixed("td_quote_body", kBodySize);
  std::uint32_t sig_len = r.u32("signature_data_length");
  if (!r.ok()) return fail(r.error());
  parse_body(body, q.body);
  copy_into(q.signed_bytes, in.first(kSignedSize));
  if (sig_len > r.remaining())
    return fail("signature data length " + std::to_string(sig_len) + " exceeds the " +
                std::to_string(r.remaining()) + " bytes after the body");
  q.size = r.position() + sig_len;
  q.trailing_bytes = in.size() - q.size;

  Reader s(in.subspan(r.position(), sig_len));
  copy_into(q.signature, s.fixed("quote_signature", 64));
  copy_into(q.attestation_key, s.fixed("attestation_key", 64));
  std::uint16_t cert_type = s.u16("certification_data.type");
  std::uint32_t cert_size = s.u32("certification_data.size");
  if (!s.ok()) return fail(s.error());
  if (cert_type != kCertDataQeReport)
    return fail("certification data type " + std::to_string(cert_type) +
                " (want 6, QE report certification data)");
  if (cert_size != s.remaining())
    return fail("certification data size " + std::to_string(cert_size) + " does not match the " +
                std::to_string(s.remaining()) + " bytes left in the signature data");

  ByteSpan qe = s.fixed("qe_report", kQeReportSize);
  copy_into(q.qe_report_signature, s.fixed("qe_report_signature", 64));
  std::uint16_t auth_len = s.u16("qe_auth_data.length");
  ByteSpan auth = s.fixed("qe_auth_data", auth_len);
  std::uint16_t inner_type = s.u16("pck_certification_data.type");
  std::uint32_t inner_size = s.u32("pck_certification_data.size");
  if (!s.ok()) return fail(s.error());
  parse_qe_report(qe, q.qe_report);
  q.qe_auth_data.assign(auth.begin(), auth.end());
  if (inner_type != kCertDataPckChain)
    return fail("nested certification data type " + std::to_string(inner_type) +
                " (want 5, PCK certificate chain)");
  if (inner_size != s.remaining())
    return fail("PCK chain size " + std::to_string(inner_size) + " does not match the " +
                std::to_string(s.remaining()) + " bytes left in the certification data");
  ByteSpan pem = s.fixed("pck_chain", inner_size);
  if (!s.ok()) return fail(s.error());
  q.pck_chain_pem.assign(reinterpret_cast<const char*>(pem.data()), pem.size());

  bool pem_ok = true;
  auto certs = ossl::certs_from_pem(q.pck_chain_pem, pem_ok);
  if (!pem_ok) return fail("PCK chain PEM does not decode");
  if (certs.size() != 3)
    return fail("PCK chain holds " + std::to_string(certs.size()) + " certificates (want 3)");
  for (std::size_t i = 0; i < 3; ++i) {
    q.pck_chain_der[i] = ossl::cert_to_der(certs[i].get());
    if (q.pck_chain_der[i].empty()) return fail("PCK chain certificate does not re-encode");
  }
  return q;
}

}  // namespace mosaik::tdx
