#include "mosaik/tdx/pck.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "mosaik/tdx/ossl.h"

namespace mosaik::tdx {

namespace {

// 1.2.840.113741.1.13.1
constexpr std::uint8_t kSgxOid[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};
constexpr std::size_t kSgxOidLen = sizeof kSgxOid;

struct Tlv {
  std::uint8_t tag = 0;
  ByteSpan value;
};

// Reads one DER TLV at the front of `in` and advances it. Definite lengths only (≤ 4 bytes).
bool next_tlv(ByteSpan& in, Tlv& out) {
  if (in.size() < 2) return false;
  out.tag = in[0];
  std::size_t len = in[1];
  std::size_t hdr = 2;
  if (len & 0x80) {
    std::size_t n = len & 0x7f;
    if (n == 0 || n > 4 || in.size() < 2 + n) return false;
    len = 0;
    for (std::size_t i = 0; i < n; ++i) len = (len << 8) | in[2 + i];
    hdr += n;
  }
  if (in.size() - hdr < len) return false;
  out.value = in.subspan(hdr, len);
  in = in.subspan(hdr + len);
  return true;
}

bool oid_is(ByteSpan oid, std::initializer_list<std::uint8_t> suffix) {
  if (oid.size() != kSgxOidLen + suffix.size()) return false;
  if (!std::equal(kSgxOid, kSgxOid + kSgxOidLen, oid.begin())) return false;
  return std::equal(suffix.begin(), suffix.end(), oid.begin() + kSgxOidLen);
}

// Non-negative DER INTEGER up to `max`.
bool small_uint(const Tlv& t, std::uint32_t max, std::uint32_t& out) {
  if (t.tag != 0x02 || t.value.empty() || t.value.size() > 3 || (t.value[0] & 0x80)) return false;
  std::uint32_t v = 0;
  for (auto b : t.value) v = (v << 8) | b;
  if (v > max) return false;
  out = v;
  return true;
}

}  // namespace

tl::expected<PckExtension, std::string> parse_sgx_extension(ByteSpan der) {
  using E = tl::unexpected<std::string>;
  Tlv outer;
  if (!next_tlv(der, outer) || outer.tag != 0x30 || !der.empty())
    return E("SGX extension is not a DER SEQUENCE");
  PckExtension ext;
  bool have_fmspc = false, have_pceid = false, have_tcb = false;
  ByteSpan items = outer.value;
  while (!items.empty()) {
    Tlv item, oid, value;
    if (!next_tlv(items, item) || item.tag != 0x30) return E("malformed SGX extension entry");
    ByteSpan body = item.value;
    if (!next_tlv(body, oid) || oid.tag != 0x06 || !next_tlv(body, value) || !body.empty())
      return E("malformed SGX extension entry");
    if (oid_is(oid.value, {0x03})) {  // PCE-ID
      if (value.tag != 0x04 || value.value.size() != 2) return E("malformed PCE-ID");
      ext.pce_id.assign(value.value.begin(), value.value.end());
      have_pceid = true;
    } else if (oid_is(oid.value, {0x04})) {  // FMSPC
      if (value.tag != 0x04 || value.value.size() != 6) return E("malformed FMSPC");
      ext.fmspc.assign(value.value.begin(), value.value.end());
      have_fmspc = true;
    } else if (oid_is(oid.value, {0x02})) {  // TCB
      if (value.tag != 0x30) return E("malformed TCB entry");
      ByteSpan comps = value.value;
      unsigned seen = 0;  // bit i: component i+1 (bit 16: PCESVN)
      while (!comps.empty()) {
        Tlv c, coid, cval;
        if (!next_tlv(comps, c) || c.tag != 0x30) return E("malformed TCB component");
        ByteSpan cb = c.value;
        if (!next_tlv(cb, coid) || coid.tag != 0x06 || !next_tlv(cb, cval) || !cb.empty())
          return E("malformed TCB component");
        for (std::uint8_t i = 1; i <= 17; ++i) {
          if (!oid_is(coid.value, {0x02, i})) continue;
          std::uint32_t v = 0;
          if (!small_uint(cval, i == 17 ? 65535 : 255, v)) return E("malformed TCB component SVN");
          if (i == 17)
            ext.pcesvn = static_cast<std::uint16_t>(v);
          else
            ext.tcb_components[i - 1] = static_cast<std::uint8_t>(v);
          seen |= 1u << (i - 1);
        }
      }
      if (seen != 0x1ffff) return E("TCB entry lacks a component SVN or PCESVN");
      have_tcb = true;
    }
  }
  if (!have_fmspc || !have_pceid || !have_tcb) return E("SGX extension lacks FMSPC, PCE-ID or TCB");
  return ext;
}

tl::expected<PckExtension, std::string> pck_extension_of(ByteSpan cert_der) {
  auto cert = ossl::cert_from_der(cert_der);
  if (!cert) return tl::unexpected(std::string("PCK leaf does not decode"));
  ASN1_OBJECT* obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
  int idx = obj ? X509_get_ext_by_OBJ(cert.get(), obj, -1) : -1;
  ASN1_OBJECT_free(obj);
  if (idx < 0) return tl::unexpected(std::string("PCK leaf has no SGX extension"));
  X509_EXTENSION* ext = X509_get_ext(cert.get(), idx);
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  return parse_sgx_extension(
      ByteSpan(ASN1_STRING_get0_data(data), static_cast<std::size_t>(ASN1_STRING_length(data))));
}

}  // namespace mosaik::tdx
