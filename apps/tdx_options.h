// The TDX environment of the roles (operations.md §3.1 ZIPNET_TDX*, §3.5 mock knobs) in one
// place: registration on a role's ConfigLoader, validation with one-line errors naming the
// variable, and the verifier Policy shared with `zipnet tdx verify`.
//
//   ZIPNET_TDX            off | on (configfs-tsm quotes) | mock (ZIPNET_TDX_MOCK_KEY; tests)
//   ZIPNET_TDX_MRTD       committee MR_TD pins (96 hex, comma list); required on servers when on
//   ZIPNET_TDX_RTMR       optional RTMR pins i=<96 hex>
//   ZIPNET_TDX_CLIENT_MRTD client MR_TD pins (default: ZIPNET_TDX_MRTD)
//   ZIPNET_TDX_QUOTE_TTL  expiration of this node's own ticket (default 24h)
//   ZIPNET_TDX_ROOT_CA, ZIPNET_TDX_TCB_POLICY, ZIPNET_TDX_CLOCK_SKEW, ZIPNET_TDX_COLLATERAL
//   ZIPNET_TDX_MOCK_KEY   PEM: mock PCK leaf key + chain (mock mode)
//   ZIPNET_TDX_MOCK_MRTD  MR_TD this node's mock quotes report
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "mosaik/network/network.h"
#include "mosaik/tdx/collateral_watch.h"
#include "mosaik/tdx/ticket.h"
#include "mosaik/tdx/verify.h"

namespace zipnet::apps {

struct TdxSettings {
  enum class Mode { Off, On, Mock };
  Mode mode = Mode::Off;
  mosaik::tdx::Policy policy;
  mosaik::tdx::Measurements committee;  // ZIPNET_TDX_MRTD + ZIPNET_TDX_RTMR
  mosaik::tdx::Measurements clients;    // ZIPNET_TDX_CLIENT_MRTD (+ the same RTMR pins)
  std::chrono::seconds quote_ttl{std::chrono::hours(24)};
  std::string collateral;     // path; "" = not configured
  /// The running node's collateral (RoleProcess starts it when `collateral` is set): validators
  /// made by make_tdx_validator share it and follow its re-reads (operations.md §10.14).
  std::shared_ptr<mosaik::tdx::CollateralWatch> collateral_watch;
  std::string mock_key_path;  // ZIPNET_TDX_MOCK_KEY ("" = unset)
  zipnet::proto::ByteArray<48> mock_mrtd{};
  bool enabled() const { return mode != Mode::Off; }
  static std::string_view mode_name(Mode m) { return m == Mode::On ? "on" : m == Mode::Mock ? "mock" : "off"; }
};

/// Registers every ZIPNET_TDX* variable (env + flag) on a role's loader.
void add_tdx_options(ConfigLoader& l);

/// Parses and validates them. `server`: ZIPNET_TDX_MRTD is required when TDX is not off.
Conf<TdxSettings> load_tdx(const ConfigLoader& l, bool server);

/// A TdxValidator for `pins` under the settings' policy. Collateral: the settings'
/// collateral_watch when set (the validator follows its re-reads), else loaded once when
/// ZIPNET_TDX_COLLATERAL is set (an unreadable or invalid file is a configuration error naming
/// the variable). With `net`, `expired` details carry `peer_clock_offset=<s>s` from discovery
/// (mosaik_discovery_peer_clock_offset_seconds of that peer; runbook T2).
Conf<std::shared_ptr<const mosaik::TicketValidator>> make_tdx_validator(const TdxSettings& s,
                                                                        const mosaik::tdx::Measurements& pins,
                                                                        const std::shared_ptr<mosaik::Network>& net);

/// ZIPNET_TDX_ROOT_CA / _TCB_POLICY / _CLOCK_SKEW into `policy` (also `zipnet tdx verify`).
std::optional<ConfigError> load_tdx_policy(const std::function<std::optional<std::string>(const std::string&)>& get,
                                           mosaik::tdx::Policy& policy);

}  // namespace zipnet::apps
