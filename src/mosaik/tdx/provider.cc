#include "mosaik/tdx/provider.h"

#include <fstream>
#include <iterator>
#include <random>

#include "mosaik/tdx/ticket.h"
#include "proto/hex.h"

namespace mosaik::tdx {

namespace fs = std::filesystem;

bool configfs_tsm_available(const fs::path& root) {
  std::error_code ec;
  return fs::is_directory(root, ec);
}

namespace {

std::optional<std::string> read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

tl::expected<zipnet::proto::Bytes, std::string> configfs_tsm_quote(const ByteArray<64>& report_data,
                                                                   const fs::path& root) {
  if (!configfs_tsm_available(root))
    return tl::unexpected("configfs-tsm not available (" + root.string() +
                          " missing: not a TDX guest, or the kernel lacks TSM reports)");
  std::random_device rd;
  auto entry = root / ("zipnet-" + std::to_string(rd()) + std::to_string(rd()));
  std::error_code ec;
  if (!fs::create_directory(entry, ec))
    return tl::unexpected("cannot create " + entry.string() + ": " + (ec ? ec.message() : "exists"));
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code e;
      fs::remove(p, e);  // rmdir: configfs removes the attribute files with it
    }
  } cleanup{entry};
  auto gen_before = read_all(entry / "generation");
  {
    std::ofstream in(entry / "inblob", std::ios::binary);
    if (!in) return tl::unexpected("cannot open " + (entry / "inblob").string());
    in.write(reinterpret_cast<const char*>(report_data.data()), static_cast<std::streamsize>(report_data.size()));
    if (!in.flush()) return tl::unexpected("cannot write " + (entry / "inblob").string());
  }
  auto quote = read_all(entry / "outblob");
  if (!quote || quote->empty()) return tl::unexpected("empty quote from " + (entry / "outblob").string());
  if (auto provider = read_all(entry / "provider"); provider && trim(*provider) != "tdx_guest")
    return tl::unexpected("configfs-tsm provider is '" + trim(*provider) + "', not tdx_guest");
  if (auto gen_after = read_all(entry / "generation"); gen_before && gen_after) {
    // inblob bumps generation by one; more means another writer raced us on this entry.
    long b = std::strtol(gen_before->c_str(), nullptr, 10), a = std::strtol(gen_after->c_str(), nullptr, 10);
    if (a != b + 1) return tl::unexpected(std::string("configfs-tsm report entry changed concurrently (generation)"));
  }
  return zipnet::proto::Bytes(quote->begin(), quote->end());
}

tl::expected<OwnTicket, std::string> issue_own_ticket(const OwnTicketRequest& req) {
  OwnTicket out;
  out.extra.peer_id = req.peer_id;
  out.extra.network_id = req.network_id;
  out.extra.started_at = req.started_at;
  out.extra.quoted_at = req.now;
  out.extra.expiration = req.now + req.ttl.count();
  auto rd = report_data_for(out.extra);
  zipnet::proto::Bytes quote;
  if (req.mock) {
    auto params = req.mock_measurements;
    params.report_data = rd;
    quote = req.mock->quote(params);
    if (quote.empty()) return tl::unexpected(std::string("mock quote signing failed"));
  } else {
    auto q = configfs_tsm_quote(rd, req.tsm_root);
    if (!q) return tl::unexpected(q.error());
    quote = std::move(*q);
  }
  auto t = make_ticket(quote, out.extra);
  if (!t) return tl::unexpected(t.error());
  out.ticket = std::move(*t);
  return out;
}

}  // namespace mosaik::tdx
