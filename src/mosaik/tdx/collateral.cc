#include "mosaik/tdx/collateral.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <system_error>

#include "mosaik/tdx/ossl.h"
#include "mosaik/tdx/rfc3339.h"
#include "proto/hex.h"

namespace mosaik::tdx {

namespace fs = std::filesystem;
using json = nlohmann::json;
using zipnet::proto::ByteSpan;
using zipnet::proto::from_hex;

namespace {

constexpr std::array<std::string_view, 8> kStatusNames = {"UpToDate",
                                                          "SWHardeningNeeded",
                                                          "ConfigurationNeeded",
                                                          "ConfigurationAndSWHardeningNeeded",
                                                          "OutOfDate",
                                                          "OutOfDateConfigurationNeeded",
                                                          "Revoked",
                                                          "NotSupported"};

constexpr std::size_t kMaxCollateralFile = 4 * 1024 * 1024;

// ---- raw JSON scanning (no allocation, no recursion) ----

std::size_t skip_ws(std::string_view t, std::size_t p) {
  while (p < t.size() && (t[p] == ' ' || t[p] == '\t' || t[p] == '\n' || t[p] == '\r')) ++p;
  return p;
}

// p at the opening quote; returns the index after the closing quote or npos.
std::size_t skip_string(std::string_view t, std::size_t p) {
  if (p >= t.size() || t[p] != '"') return std::string_view::npos;
  for (++p; p < t.size(); ++p) {
    if (t[p] == '\\') {
      ++p;
    } else if (t[p] == '"') {
      return p + 1;
    }
  }
  return std::string_view::npos;
}

// p at the first character of a value; returns the index after it or npos.
std::size_t skip_value(std::string_view t, std::size_t p) {
  if (p >= t.size()) return std::string_view::npos;
  if (t[p] == '"') return skip_string(t, p);
  if (t[p] == '{' || t[p] == '[') {
    std::size_t depth = 0;
    while (p < t.size()) {
      char c = t[p];
      if (c == '"') {
        p = skip_string(t, p);
        if (p == std::string_view::npos) return p;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return std::string_view::npos;
  }
  std::size_t start = p;
  while (p < t.size() && t[p] != ',' && t[p] != '}' && t[p] != ']' && t[p] != ' ' && t[p] != '\t' &&
         t[p] != '\n' && t[p] != '\r')
    ++p;
  return p == start ? std::string_view::npos : p;
}

// ---- typed field access ----

struct FieldError {
  std::string what;
};

const json& field(const json& obj, const char* name) {
  if (!obj.is_object() || !obj.contains(name)) throw FieldError{std::string("missing ") + name};
  return obj.at(name);
}

std::string str_field(const json& obj, const char* name) {
  const json& v = field(obj, name);
  if (!v.is_string()) throw FieldError{std::string(name) + " is not a string"};
  return v.get<std::string>();
}

std::int64_t int_field(const json& obj, const char* name, std::int64_t lo, std::int64_t hi) {
  const json& v = field(obj, name);
  if (!v.is_number_integer()) throw FieldError{std::string(name) + " is not an integer"};
  std::int64_t x = v.get<std::int64_t>();
  if (x < lo || x > hi) throw FieldError{std::string(name) + " out of range"};
  return x;
}

std::int64_t date_field(const json& obj, const char* name) {
  auto t = parse_rfc3339(str_field(obj, name));
  if (!t) throw FieldError{std::string(name) + " is not an RFC 3339 date"};
  return *t;
}

Bytes hex_field(const json& obj, const char* name, std::size_t n) {
  auto b = from_hex(str_field(obj, name));
  if (!b || b->size() != n)
    throw FieldError{std::string(name) + " is not " + std::to_string(n) + " hex bytes"};
  return *b;
}

template <std::size_t N>
ByteArray<N> hex_array(const json& obj, const char* name) {
  Bytes b = hex_field(obj, name, N);
  ByteArray<N> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

TcbStatus status_field(const json& obj) {
  std::string s = str_field(obj, "tcbStatus");
  auto st = tcb_status_from_string(s);
  if (!st) throw FieldError{"unknown tcbStatus " + s};
  return *st;
}

const json& array_field(const json& obj, const char* name) {
  const json& v = field(obj, name);
  if (!v.is_array()) throw FieldError{std::string(name) + " is not an array"};
  return v;
}

ByteArray<16> components(const json& tcb, const char* name) {
  const json& arr = array_field(tcb, name);
  if (arr.size() != 16) throw FieldError{std::string(name) + " does not hold 16 entries"};
  ByteArray<16> out{};
  for (std::size_t i = 0; i < 16; ++i)
    out[i] = static_cast<std::uint8_t>(int_field(arr[i], "svn", 0, 255));
  return out;
}

std::vector<IsvTcbLevel> isv_levels(const json& obj) {
  std::vector<IsvTcbLevel> out;
  for (const json& lvl : array_field(obj, "tcbLevels")) {
    IsvTcbLevel l;
    l.isvsvn = static_cast<std::uint16_t>(int_field(field(lvl, "tcb"), "isvsvn", 0, 65535));
    l.status = status_field(lvl);
    out.push_back(l);
  }
  return out;
}

TdxModuleIdentity module_identity(const json& obj, bool with_levels) {
  TdxModuleIdentity m;
  if (with_levels) m.id = str_field(obj, "id");
  m.mrsigner = hex_array<48>(obj, "mrsigner");
  m.attributes = hex_array<8>(obj, "attributes");
  m.attributes_mask = hex_array<8>(obj, "attributesMask");
  if (with_levels) m.tcb_levels = isv_levels(obj);
  return m;
}

std::optional<json> parse_json(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

tl::expected<TcbInfo, std::string> tcb_info_from_body(std::string_view raw) {
  auto j = parse_json(raw);
  if (!j || !j->is_object()) return tl::unexpected(std::string("TCB info is not a JSON object"));
  TcbInfo t;
  t.raw.assign(raw);
  try {
    t.id = str_field(*j, "id");
    t.version = static_cast<int>(int_field(*j, "version", 0, 1'000'000));
    t.issue_date = date_field(*j, "issueDate");
    t.next_update = date_field(*j, "nextUpdate");
    t.fmspc = hex_field(*j, "fmspc", 6);
    t.pce_id = hex_field(*j, "pceId", 2);
    if (j->contains("tdxModule")) t.tdx_module = module_identity(j->at("tdxModule"), false);
    if (j->contains("tdxModuleIdentities"))
      for (const json& m : array_field(*j, "tdxModuleIdentities"))
        t.tdx_module_identities.push_back(module_identity(m, true));
    for (const json& lvl : array_field(*j, "tcbLevels")) {
      const json& tcb = field(lvl, "tcb");
      TdxTcbLevel l;
      l.sgx_components = components(tcb, "sgxtcbcomponents");
      l.pcesvn = static_cast<std::uint16_t>(int_field(tcb, "pcesvn", 0, 65535));
      if (t.id == "TDX" || tcb.contains("tdxtcbcomponents"))
        l.tdx_components = components(tcb, "tdxtcbcomponents");
      l.status = status_field(lvl);
      t.tcb_levels.push_back(l);
    }
  } catch (const FieldError& e) {
    return tl::unexpected("TCB info: " + e.what);
  }
  return t;
}

tl::expected<QeIdentity, std::string> qe_identity_from_body(std::string_view raw) {
  auto j = parse_json(raw);
  if (!j || !j->is_object()) return tl::unexpected(std::string("QE identity is not a JSON object"));
  QeIdentity q;
  q.raw.assign(raw);
  try {
    q.id = str_field(*j, "id");
    q.version = static_cast<int>(int_field(*j, "version", 0, 1'000'000));
    q.issue_date = date_field(*j, "issueDate");
    q.next_update = date_field(*j, "nextUpdate");
    q.miscselect = hex_array<4>(*j, "miscselect");
    q.miscselect_mask = hex_array<4>(*j, "miscselectMask");
    q.attributes = hex_array<16>(*j, "attributes");
    q.attributes_mask = hex_array<16>(*j, "attributesMask");
    q.mrsigner = hex_array<32>(*j, "mrsigner");
    q.isvprodid = static_cast<std::uint16_t>(int_field(*j, "isvprodid", 0, 65535));
    q.tcb_levels = isv_levels(*j);
  } catch (const FieldError& e) {
    return tl::unexpected("QE identity: " + e.what);
  }
  return q;
}

std::optional<ByteArray<64>> signature_hex(std::string_view hex) {
  auto b = from_hex(hex);
  if (!b || b->size() != 64) return std::nullopt;
  ByteArray<64> a{};
  std::copy(b->begin(), b->end(), a.begin());
  return a;
}

// A PCS response `{"<member>":{…},"signature":"<hex>"}`: raw member text and signature.
tl::expected<std::pair<std::string_view, ByteArray<64>>, std::string> pcs_response(
    std::string_view text, std::string_view member) {
  auto j = parse_json(text);
  if (!j || !j->is_object())
    return tl::unexpected(std::string(member) + " response is not a JSON object");
  auto raw = raw_json_member(text, member);
  if (!raw) return tl::unexpected(std::string(member) + " response has no " + std::string(member));
  if (!j->contains("signature") || !j->at("signature").is_string())
    return tl::unexpected(std::string(member) + " response has no signature");
  auto sig = signature_hex(j->at("signature").get<std::string>());
  if (!sig) return tl::unexpected(std::string(member) + " signature is not 64 hex bytes");
  return std::make_pair(*raw, *sig);
}

CollateralError content(std::string d) {
  return {CollateralError::Kind::Content, std::move(d)};
}
CollateralError io(std::string d) {
  return {CollateralError::Kind::Io, std::move(d)};
}

tl::expected<std::string, CollateralError> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return tl::unexpected(io("cannot read " + p.string()));
  std::string data;
  char buf[65536];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(f.gcount()));
    if (data.size() > kMaxCollateralFile)
      return tl::unexpected(content(p.string() + " is larger than 4 MiB"));
  }
  return data;
}

// CRL bytes (DER or PEM) -> canonical DER, validated.
tl::expected<Bytes, CollateralError> crl_der(ByteSpan bytes, const char* what) {
  auto crl = ossl::crl_from_der_or_pem(bytes);
  if (!crl) return tl::unexpected(content(std::string(what) + " does not decode"));
  int n = i2d_X509_CRL(crl.get(), nullptr);
  if (n <= 0) return tl::unexpected(content(std::string(what) + " does not encode"));
  Bytes out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  i2d_X509_CRL(crl.get(), &p);
  return out;
}

bool chain_decodes(const std::string& pem) {
  bool ok = true;
  auto certs = ossl::certs_from_pem(pem, ok);
  return ok && !certs.empty();
}

}  // namespace

std::string_view to_string(TcbStatus s) {
  return kStatusNames[static_cast<std::size_t>(s)];
}

std::optional<TcbStatus> tcb_status_from_string(std::string_view s) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i)
    if (kStatusNames[i] == s) return static_cast<TcbStatus>(i);
  return std::nullopt;
}

std::int64_t Collateral::next_update() const {
  return std::min(tcb_info.next_update, qe_identity.next_update);
}

std::vector<CollateralDeadline> collateral_deadlines(const Collateral& c) {
  std::vector<CollateralDeadline> out{{"tcb_info", c.tcb_info.next_update},
                                      {"qe_identity", c.qe_identity.next_update}};
  auto crl_next = [](const Bytes& der) -> std::optional<std::int64_t> {
    auto crl = ossl::crl_from_der_or_pem(der);
    if (!crl) return std::nullopt;
    return ossl::asn1_unix(X509_CRL_get0_nextUpdate(crl.get()));
  };
  if (auto t = crl_next(c.pck_crl)) out.push_back({"pck_crl", *t});
  if (auto t = crl_next(c.root_ca_crl)) out.push_back({"root_ca_crl", *t});
  return out;
}

CollateralDeadline earliest_deadline(const Collateral& c) {
  auto all = collateral_deadlines(c);
  return *std::min_element(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.next_update < b.next_update;
  });
}

std::optional<std::string_view> raw_json_member(std::string_view t, std::string_view key) {
  std::size_t p = skip_ws(t, 0);
  if (p >= t.size() || t[p] != '{') return std::nullopt;
  p = skip_ws(t, p + 1);
  std::optional<std::string_view> found;
  if (p < t.size() && t[p] == '}') return std::nullopt;
  while (p < t.size()) {
    std::size_t kend = skip_string(t, p);
    if (kend == std::string_view::npos) return std::nullopt;
    std::string_view k = t.substr(p + 1, kend - p - 2);
    p = skip_ws(t, kend);
    if (p >= t.size() || t[p] != ':') return std::nullopt;
    p = skip_ws(t, p + 1);
    std::size_t vend = skip_value(t, p);
    if (vend == std::string_view::npos) return std::nullopt;
    if (k == key) {
      if (found) return std::nullopt;  // duplicate member: ambiguous, refuse
      found = t.substr(p, vend - p);
    }
    p = skip_ws(t, vend);
    if (p >= t.size()) return std::nullopt;
    if (t[p] == '}') return found;
    if (t[p] != ',') return std::nullopt;
    p = skip_ws(t, p + 1);
  }
  return std::nullopt;
}

tl::expected<TcbInfo, std::string> parse_tcb_info_response(std::string_view text) {
  auto r = pcs_response(text, "tcbInfo");
  if (!r) return tl::unexpected(r.error());
  auto t = tcb_info_from_body(r->first);
  if (t) t->signature = r->second;
  return t;
}

tl::expected<QeIdentity, std::string> parse_qe_identity_response(std::string_view text) {
  auto r = pcs_response(text, "enclaveIdentity");
  if (!r) return tl::unexpected(r.error());
  auto q = qe_identity_from_body(r->first);
  if (q) q->signature = r->second;
  return q;
}

CollateralResult parse_pccs_bundle(std::string_view text) {
  auto j = parse_json(text);
  if (!j || !j->is_object()) return tl::unexpected(content("PCCS bundle is not a JSON object"));
  Collateral c;
  c.form = Collateral::Form::PccsBundle;
  try {
    // The signed bodies: a JSON string holding the text (the PCCS form) or an inline object.
    auto body = [&](const char* name) -> std::string {
      const json& v = field(*j, name);
      if (v.is_string()) return v.get<std::string>();
      auto raw = raw_json_member(text, name);
      if (!v.is_object() || !raw) throw FieldError{std::string(name) + " is not a JSON body"};
      return std::string(*raw);
    };
    auto sig = [&](const char* name) {
      auto s = signature_hex(str_field(*j, name));
      if (!s) throw FieldError{std::string(name) + " is not 64 hex bytes"};
      return *s;
    };
    auto crl = [&](const char* name) {
      std::string v = str_field(*j, name);
      auto bytes = from_hex(v);
      auto der = bytes ? crl_der(*bytes, name) : crl_der(zipnet::proto::as_bytes(v), name);
      if (!der) throw FieldError{der.error().detail};
      return *der;
    };
    auto chain = [&](const char* name) {
      std::string pem = str_field(*j, name);
      if (!chain_decodes(pem)) throw FieldError{std::string(name) + " holds no valid certificate"};
      return pem;
    };
    c.pck_crl = crl("pck_crl");
    c.root_ca_crl = crl("root_ca_crl");
    c.pck_crl_issuer_chain = chain("pck_crl_issuer_chain");
    c.tcb_info_issuer_chain = chain("tcb_info_issuer_chain");
    c.qe_identity_issuer_chain = chain("qe_identity_issuer_chain");
    auto tcb = tcb_info_from_body(body("tcb_info"));
    if (!tcb) return tl::unexpected(content(tcb.error()));
    c.tcb_info = std::move(*tcb);
    c.tcb_info.signature = sig("tcb_info_signature");
    auto qe = qe_identity_from_body(body("qe_identity"));
    if (!qe) return tl::unexpected(content(qe.error()));
    c.qe_identity = std::move(*qe);
    c.qe_identity.signature = sig("qe_identity_signature");
  } catch (const FieldError& e) {
    return tl::unexpected(content("PCCS bundle: " + e.what));
  }
  return c;
}

CollateralResult load_pcs_directory(const fs::path& dir) {
  auto pick = [&](std::initializer_list<const char*> names) -> std::optional<fs::path> {
    for (const char* n : names) {
      std::error_code ec;
      if (fs::is_regular_file(dir / n, ec)) return dir / n;
    }
    return std::nullopt;
  };
  auto tcb_path = pick({"tcb_info.json", "sample_tcbInfo_response"});
  auto qe_path = pick({"qe_identity.json", "sample_qeIdentity_response"});
  auto pck_path = pick({"pck_crl.der", "pck_crl.pem", "pckcrl"});
  auto root_path = pick({"root_crl.der", "root_crl.pem", "rootcrl.der"});
  auto chain_path = pick({"tcb_signing_chain.pem"});
  if (!tcb_path) return tl::unexpected(content("no TCB info (tcb_info.json) in " + dir.string()));
  if (!qe_path)
    return tl::unexpected(content("no QE identity (qe_identity.json) in " + dir.string()));
  if (!pck_path) return tl::unexpected(content("no PCK CRL (pck_crl.der) in " + dir.string()));
  if (!root_path)
    return tl::unexpected(content("no root CA CRL (root_crl.der) in " + dir.string()));

  Collateral c;
  c.form = Collateral::Form::PcsDirectory;
  auto tcb_text = read_file(*tcb_path);
  if (!tcb_text) return tl::unexpected(tcb_text.error());
  auto tcb = parse_tcb_info_response(*tcb_text);
  if (!tcb) return tl::unexpected(content(tcb_path->filename().string() + ": " + tcb.error()));
  c.tcb_info = std::move(*tcb);
  auto qe_text = read_file(*qe_path);
  if (!qe_text) return tl::unexpected(qe_text.error());
  auto qe = parse_qe_identity_response(*qe_text);
  if (!qe) return tl::unexpected(content(qe_path->filename().string() + ": " + qe.error()));
  c.qe_identity = std::move(*qe);
  for (auto [path, out, what] : {std::tuple{*pck_path, &c.pck_crl, "PCK CRL"},
                                 std::tuple{*root_path, &c.root_ca_crl, "root CA CRL"}}) {
    auto bytes = read_file(path);
    if (!bytes) return tl::unexpected(bytes.error());
    auto der = crl_der(zipnet::proto::as_bytes(*bytes), what);
    if (!der) return tl::unexpected(der.error());
    *out = std::move(*der);
  }
  if (chain_path) {
    auto pem = read_file(*chain_path);
    if (!pem) return tl::unexpected(pem.error());
    if (!chain_decodes(*pem))
      return tl::unexpected(content("tcb_signing_chain.pem holds no valid certificate"));
    c.tcb_info_issuer_chain = *pem;
    c.qe_identity_issuer_chain = *pem;
  }
  return c;
}

CollateralResult load_collateral(const fs::path& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return tl::unexpected(io("collateral not found: " + path.string()));
  CollateralResult r;
  if (fs::is_directory(st)) {
    r = load_pcs_directory(path);
  } else {
    auto text = read_file(path);
    if (!text) return tl::unexpected(text.error());
    r = parse_pccs_bundle(*text);
  }
  if (r) r->source = path.string();
  return r;
}

}  // namespace mosaik::tdx
