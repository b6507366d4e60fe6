#include "tdx_cmd.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>

#include "mosaik/tdx/collateral.h"
#include "mosaik/tdx/mock.h"
#include "mosaik/tdx/rfc3339.h"
#include "mosaik/tdx/verify.h"
#include "proto/hex.h"
#include "tdx_options.h"

namespace zipnet::apps {

namespace tdx = mosaik::tdx;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRejected = 1;
constexpr int kExitUsage = 2;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string data{std::istreambuf_iterator<char>(f), {}};
  if (f.bad()) return std::nullopt;
  return data;
}

/// The verifier policy from ZIPNET_TDX_ROOT_CA / _TCB_POLICY / _CLOCK_SKEW through the nodes'
/// own loader (apps/tdx_options.h, load_tdx_policy), so `zipnet tdx verify` judges a quote under
/// exactly the policy a node with the same environment applies. Error: `<VAR>: <detail>`.
std::optional<std::string> policy_from_env(const EnvLookup& env, tdx::Policy& policy) {
  auto e = load_tdx_policy([&](const std::string& k) { return env(k.c_str()); }, policy);
  if (!e) return std::nullopt;
  return e->var + ": " + e->detail;
}

void print_measurements(const tdx::Verdict& v, std::ostream& out) {
  using zipnet::proto::to_hex;
  out << "mr_td=" << to_hex(v.body.mr_td) << '\n';
  for (std::size_t i = 0; i < 4; ++i) out << "rtmr" << i << '=' << to_hex(v.body.rtmr[i]) << '\n';
  out << "report_data=" << to_hex(v.body.report_data) << '\n';
  out << "tee_tcb_svn=" << to_hex(v.body.tee_tcb_svn) << '\n';
  out << "trailing_bytes=" << v.trailing_bytes << '\n';
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

int print_rejected(std::string_view reason, const std::string& detail, std::ostream& out) {
  out << "verdict=rejected reason=" << reason << " detail=" << one_line(detail) << '\n';
  return kExitRejected;
}

}  // namespace

int run_tdx_verify(const TdxVerifyOptions& opts, const EnvLookup& env, std::ostream& out,
                   std::ostream& err) {
  tdx::Policy policy;
  if (auto e = policy_from_env(env, policy)) {
    err << "configuration error: " << *e << '\n';
    return kExitUsage;
  }
  if (opts.quote_file.empty()) {
    err << "usage error: tdx verify needs a quote file (zipnet tdx verify <quote-file>)\n";
    return kExitUsage;
  }
  std::int64_t now = 0;
  if (!opts.at.empty()) {
    auto t = tdx::parse_rfc3339(opts.at);
    if (!t) {
      err << "usage error: --at '" << opts.at << "' is not an RFC 3339 instant "
          << "(e.g. 2025-07-01T00:00:00Z)\n";
      return kExitUsage;
    }
    now = *t;
  } else {
    now = std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  }
  auto quote = read_file(opts.quote_file);
  if (!quote) {
    err << "usage error: cannot read quote file '" << opts.quote_file << "'\n";
    return kExitUsage;
  }
  zipnet::proto::ByteSpan bytes = zipnet::proto::as_bytes(*quote);

  if (opts.parse_only) {
    auto v = tdx::parse_only(bytes);
    if (!v.parsed) return print_rejected(v.reason, v.detail, out);
    print_measurements(v, out);
    out << "tcb_status=unchecked\n";
    out << "verdict=parsed\n";
    return kExitOk;
  }

  std::optional<tdx::Collateral> collateral;
  std::optional<std::string> collateral_error;
  if (!opts.collateral.empty()) {
    auto c = tdx::load_collateral(opts.collateral);
    if (!c && c.error().kind == tdx::CollateralError::Kind::Io) {
      err << "usage error: --collateral: " << c.error().detail << '\n';
      return kExitUsage;
    }
    if (c)
      collateral = std::move(*c);
    else
      collateral_error = c.error().detail;
  }

  if (collateral_error) {
    // Unusable collateral: still report the quote (or why it does not parse).
    auto v = tdx::parse_only(bytes);
    if (!v.parsed) return print_rejected(v.reason, v.detail, out);
    print_measurements(v, out);
    out << "tcb_status=unchecked\n";
    out << "collateral_signatures=unchecked\n";
    return print_rejected(tdx::reason::kBadCollateral, *collateral_error, out);
  }

  auto v = tdx::verify(bytes, collateral ? &*collateral : nullptr, policy, now);
  if (!v.parsed) return print_rejected(v.reason, v.detail, out);
  print_measurements(v, out);
  out << "tcb_status=" << v.tcb_status_name() << '\n';
  if (v.collateral_signatures != tdx::CollateralSignatures::Absent)
    out << "collateral_signatures=" << tdx::to_string(v.collateral_signatures) << '\n';
  if (!v.verified) return print_rejected(v.reason, v.detail, out);
  out << "verdict=verified\n";
  return kExitOk;
}

std::unique_ptr<TdxCommand> add_tdx_command(CLI::App& app) {
  auto cmd = std::make_unique<TdxCommand>();
  cmd->tdx = app.add_subcommand("tdx", "Intel TDX attestation tools");
  cmd->tdx->require_subcommand(1);
  cmd->verify = cmd->tdx->add_subcommand(
      "verify",
      "offline TDX quote check: measurements, TCB status and verdict (substrate.md §9.1)");
  auto& o = cmd->verify_opts;
  cmd->verify->add_option("quote-file", o.quote_file, "the quote (binary, Quote v4)");
  cmd->verify->add_option("--collateral", o.collateral,
                          "Intel PCS collateral: a PCCS JSON bundle or a PCS response directory");
  cmd->verify->add_option("--at", o.at, "verification instant, RFC 3339 (default: now)");
  cmd->verify->add_flag("--parse-only", o.parse_only, "stop after decoding the quote");
  cmd->mock_key = cmd->tdx->add_subcommand(
      "mock-key",
      "write a fresh mock PCK chain for ZIPNET_TDX=mock test deployments: <dir>/mock_pck.pem "
      "(ZIPNET_TDX_MOCK_KEY) and <dir>/mock_root.pem (ZIPNET_TDX_ROOT_CA). Never for production");
  cmd->mock_key->add_option("dir", cmd->mock_key_dir, "output directory (created)")->required();
  cmd->verify->footer(
      "Environment: ZIPNET_TDX_ROOT_CA (PEM root, default the built-in Intel SGX Root CA), "
      "ZIPNET_TDX_TCB_POLICY (default UpToDate,SWHardeningNeeded), ZIPNET_TDX_CLOCK_SKEW "
      "(default 0s).\nExit: 0 verified or parsed, 1 rejected, 2 usage error.");
  return cmd;
}

std::optional<int> run_tdx_command(const TdxCommand& cmd) {
  if (!cmd.tdx->parsed()) return std::nullopt;
  if (cmd.verify->parsed()) {
    auto env = [](const char* name) -> std::optional<std::string> {
      const char* v = std::getenv(name);
      if (!v) return std::nullopt;
      return std::string(v);
    };
    return run_tdx_verify(cmd.verify_opts, env, std::cout, std::cerr);
  }
  if (cmd.mock_key->parsed()) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(cmd.mock_key_dir, ec);
    // Valid from a day ago for ten years: test deployments, not a trust anchor.
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto pck = tdx::MockPck::generate(now - 86400, now + 10LL * 365 * 86400);
    auto write = [&](const fs::path& p, const std::string& data, fs::perms perms) {
      std::ofstream f(p, std::ios::binary | std::ios::trunc);
      f << data;
      f.close();
      fs::permissions(p, perms, ec);
      return static_cast<bool>(f);
    };
    auto key = fs::path(cmd.mock_key_dir) / "mock_pck.pem", root = fs::path(cmd.mock_key_dir) / "mock_root.pem";
    if (!write(key, pck.to_pem(), fs::perms::owner_read | fs::perms::owner_write) ||
        !write(root, pck.root_pem(), fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                         fs::perms::others_read)) {
      std::cerr << "error: cannot write into " << cmd.mock_key_dir << '\n';
      return 1;
    }
    std::cout << "ZIPNET_TDX_MOCK_KEY=" << key.string() << "\nZIPNET_TDX_ROOT_CA=" << root.string() << '\n';
    return kExitOk;
  }
  return kExitUsage;
}

}  // namespace zipnet::apps
