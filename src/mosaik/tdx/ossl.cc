#include "mosaik/tdx/ossl.h"

#include <openssl/pem.h>

#include <cstring>
#include <ctime>

#include "mosaik/tdx/rfc3339.h"

namespace mosaik::tdx::ossl {

using zipnet::proto::Bytes;
using zipnet::proto::ByteSpan;

std::optional<std::int64_t> asn1_unix(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return days_from_civil(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1),
                         static_cast<unsigned>(tm.tm_mday)) *
             86400 +
         tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

std::string drain_errors() {
  std::string last;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    const char* r = ERR_reason_error_string(e);
    last = r ? r : "openssl error";
  }
  return last;
}

X509Ptr cert_from_der(ByteSpan der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) {
    drain_errors();
    return nullptr;
  }
  return cert;
}

Bytes cert_to_der(const X509* cert) {
  int n = i2d_X509(cert, nullptr);
  if (n <= 0) return {};
  Bytes out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  if (i2d_X509(cert, &p) != n) return {};
  return out;
}

std::vector<X509Ptr> certs_from_pem(std::string_view pem, bool& ok) {
  ok = true;
  std::vector<X509Ptr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    ok = false;
    return out;
  }
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      unsigned long e = ERR_peek_last_error();
      if (!(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) ok = false;
      drain_errors();
      break;
    }
    bool is_cert = std::strcmp(name, "CERTIFICATE") == 0;
    if (is_cert) {
      auto cert = cert_from_der(ByteSpan(data, static_cast<std::size_t>(len)));
      if (cert)
        out.push_back(std::move(cert));
      else
        ok = false;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (!ok) break;
  }
  return out;
}

CrlPtr crl_from_der_or_pem(ByteSpan bytes) {
  static constexpr std::string_view kPem = "-----BEGIN";
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  CrlPtr crl;
  if (text.find(kPem) != std::string_view::npos) {
    BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    if (bio) crl.reset(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  } else {
    const unsigned char* p = bytes.data();
    crl.reset(d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size())));
    if (crl && p != bytes.data() + bytes.size()) crl.reset();
  }
  drain_errors();
  return crl;
}

}  // namespace mosaik::tdx::ossl
