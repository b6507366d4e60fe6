#include "tdx_options.h"

#include <fstream>
#include <iterator>

#include "mosaik/tdx/collateral.h"
#include "mosaik/tdx/pck.h"
#include "proto/hex.h"

namespace zipnet::apps {

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string data{std::istreambuf_iterator<char>(f), {}};
  if (f.bad()) return std::nullopt;
  return data;
}

}  // namespace

void add_tdx_options(ConfigLoader& l) {
  l.add({"ZIPNET_TDX", "tdx", "off | on (configfs-tsm quotes; require tickets per policy) | mock (tests)", false,
         false, false});
  l.add({"ZIPNET_TDX_MRTD", "tdx-mrtd", "allowed committee MR_TD values (96 hex, comma list)", false, false, false});
  l.add({"ZIPNET_TDX_RTMR", "tdx-rtmr", "optional RTMR pins i=<96 hex>, comma list", false, false, false});
  l.add({"ZIPNET_TDX_CLIENT_MRTD", "tdx-client-mrtd", "allowed client MR_TD values (default ZIPNET_TDX_MRTD)", false,
         false, false});
  l.add({"ZIPNET_TDX_QUOTE_TTL", "tdx-quote-ttl", "expiration put into this node's own TDX ticket (default 24h)",
         false, false, false});
  l.add({"ZIPNET_TDX_ROOT_CA", "tdx-root-ca", "PEM root for PCK chains (default: the built-in Intel SGX Root CA)",
         false, false, false});
  l.add({"ZIPNET_TDX_COLLATERAL", "tdx-collateral", "Intel PCS collateral: directory or PCCS JSON bundle", false,
         false, false});
  l.add({"ZIPNET_TDX_TCB_POLICY", "tdx-tcb-policy", "accepted TCB statuses (default UpToDate,SWHardeningNeeded)",
         false, false, false});
  l.add({"ZIPNET_TDX_CLOCK_SKEW", "tdx-clock-skew", "allowance added to expirations (default 0s)", false, false,
         false});
  l.add({"ZIPNET_TDX_MOCK_KEY", "tdx-mock-key", "mock mode: PEM with the mock PCK leaf key and its chain", false,
         false, false});
  l.add({"ZIPNET_TDX_MOCK_MRTD", "tdx-mock-mrtd", "mock mode: MR_TD this node's quotes report (96 hex)", false,
         false, false});
}

std::optional<ConfigError> load_tdx_policy(const std::function<std::optional<std::string>(const std::string&)>& get,
                                           mosaik::tdx::Policy& policy) {
  if (auto path = get("ZIPNET_TDX_ROOT_CA")) {
    auto pem = read_file(*path);
    if (!pem) return ConfigError{"ZIPNET_TDX_ROOT_CA", "cannot read '" + *path + "'"};
    if (!mosaik::tdx::is_certificate_pem(*pem))
      return ConfigError{"ZIPNET_TDX_ROOT_CA", "'" + *path + "' holds no valid PEM certificate"};
    policy.root_ca_pem = std::move(*pem);
  }
  if (auto v = get("ZIPNET_TDX_TCB_POLICY")) {
    auto statuses = mosaik::tdx::parse_tcb_policy(*v);
    if (!statuses) return ConfigError{"ZIPNET_TDX_TCB_POLICY", statuses.error()};
    policy.accepted_tcb = std::move(*statuses);
  }
  if (auto v = get("ZIPNET_TDX_CLOCK_SKEW")) {
    auto d = parse_duration(*v);
    if (!d) return ConfigError{"ZIPNET_TDX_CLOCK_SKEW", d.error()};
    policy.clock_skew_seconds = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
  }
  return std::nullopt;
}

Conf<std::shared_ptr<const mosaik::TicketValidator>> make_tdx_validator(const TdxSettings& s,
                                                                        const mosaik::tdx::Measurements& pins,
                                                                        const std::shared_ptr<mosaik::Network>& net) {
  mosaik::tdx::TdxValidatorConfig c;
  c.policy = s.policy;
  c.pins = pins;
  if (net) {
    // Discovery's measurement of the peer's clock (remote minus local), read from its gauge:
    // only on a refusal for expiry, so the registry walk costs nothing in the common case.
    std::weak_ptr<mosaik::Network> weak = net;
    c.peer_clock_offset = [weak](const mosaik::PeerId& peer) -> std::optional<double> {
      auto n = weak.lock();
      if (!n) return std::nullopt;
      return n->metrics().value("mosaik_discovery_peer_clock_offset_seconds",
                                {{"network", n->network_id().short_hex()}, {"peer", peer.short_hex()}});
    };
  }
  if (s.collateral_watch) {
    auto v = std::make_shared<mosaik::tdx::TdxValidator>(std::move(c));
    s.collateral_watch->attach(v);
    return std::shared_ptr<const mosaik::TicketValidator>(std::move(v));
  }
  std::shared_ptr<const mosaik::tdx::Collateral> collateral;
  if (!s.collateral.empty()) {
    auto loaded = mosaik::tdx::load_collateral(s.collateral);
    if (!loaded) return tl::unexpected(ConfigError{"ZIPNET_TDX_COLLATERAL", s.collateral + ": " + loaded.error().detail});
    collateral = std::make_shared<const mosaik::tdx::Collateral>(std::move(*loaded));
  }
  return std::make_shared<const mosaik::tdx::TdxValidator>(std::move(c), std::move(collateral));
}

Conf<TdxSettings> load_tdx(const ConfigLoader& l, bool server) {
  TdxSettings s;
  auto mode = l.str("ZIPNET_TDX", "off");
  if (!mode) return tl::unexpected(mode.error());
  if (*mode == "off" || *mode == "false" || *mode == "0") s.mode = TdxSettings::Mode::Off;
  else if (*mode == "on" || *mode == "true" || *mode == "1") s.mode = TdxSettings::Mode::On;
  else if (*mode == "mock") s.mode = TdxSettings::Mode::Mock;
  else return tl::unexpected(ConfigError{"ZIPNET_TDX", "expected off, on or mock, got '" + *mode + "'"});
  if (auto e = load_tdx_policy([&](const std::string& k) { return l.raw(k); }, s.policy)) return tl::unexpected(*e);
  if (auto v = l.raw("ZIPNET_TDX_MRTD")) {
    auto list = mosaik::tdx::parse_mrtd_list(*v);
    if (!list) return tl::unexpected(ConfigError{"ZIPNET_TDX_MRTD", list.error()});
    s.committee.mr_td = std::move(*list);
  }
  if (auto v = l.raw("ZIPNET_TDX_RTMR")) {
    auto pins = mosaik::tdx::parse_rtmr_pins(*v);
    if (!pins) return tl::unexpected(ConfigError{"ZIPNET_TDX_RTMR", pins.error()});
    s.committee.rtmr = *pins;
  }
  s.clients = s.committee;
  if (auto v = l.raw("ZIPNET_TDX_CLIENT_MRTD")) {
    auto list = mosaik::tdx::parse_mrtd_list(*v);
    if (!list) return tl::unexpected(ConfigError{"ZIPNET_TDX_CLIENT_MRTD", list.error()});
    s.clients.mr_td = std::move(*list);
  }
  auto ttl = l.duration("ZIPNET_TDX_QUOTE_TTL", std::chrono::hours(24));
  if (!ttl) return tl::unexpected(ttl.error());
  if (*ttl < std::chrono::seconds(1))
    return tl::unexpected(ConfigError{"ZIPNET_TDX_QUOTE_TTL", "must be at least 1s"});
  s.quote_ttl = std::chrono::duration_cast<std::chrono::seconds>(*ttl);
  if (auto v = l.raw("ZIPNET_TDX_COLLATERAL")) {
    std::error_code ec;
    if (!std::filesystem::exists(*v, ec))
      return tl::unexpected(ConfigError{"ZIPNET_TDX_COLLATERAL", "'" + *v + "' does not exist"});
    s.collateral = *v;
  }
  if (auto v = l.raw("ZIPNET_TDX_MOCK_KEY")) s.mock_key_path = *v;  // read when the quote is made
  if (auto v = l.raw("ZIPNET_TDX_MOCK_MRTD")) {
    auto list = mosaik::tdx::parse_mrtd_list(*v);
    if (!list || list->size() != 1)
      return tl::unexpected(ConfigError{"ZIPNET_TDX_MOCK_MRTD", list ? "exactly one MR_TD (96 hex)" : list.error()});
    s.mock_mrtd = list->front();
  }
  if (server && s.enabled() && s.committee.mr_td.empty())
    return tl::unexpected(ConfigError{"ZIPNET_TDX_MRTD", "required on servers when ZIPNET_TDX is " +
                                                             std::string(TdxSettings::mode_name(s.mode))});
  return s;
}

}  // namespace zipnet::apps
