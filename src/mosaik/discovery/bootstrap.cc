#include "mosaik/base/error.h"
#include "mosaik/discovery/config.h"

namespace mosaik::discovery {

std::string BootstrapPeer::to_string() const {
  std::string s;
  if (peer) s = peer->hex();
  if (!host.empty()) {
    if (peer) s += "@";
    s += (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  return s;
}

Result<BootstrapPeer> parse_bootstrap(std::string_view s) {
  BootstrapPeer b;
  std::string_view addr = s;
  if (auto at = s.find('@'); at != std::string_view::npos) {
    auto id = UniqueId::parse_hex(s.substr(0, at));
    if (!id) return make_error(ErrorKind::Config, "bad peer id in '" + std::string(s) + "' (expected 64 hex)");
    b.peer = *id;
    addr = s.substr(at + 1);
  } else if (s.size() == 64 && s.find(':') == std::string_view::npos) {
    auto id = UniqueId::parse_hex(s);
    if (!id) return make_error(ErrorKind::Config, "bad peer id '" + std::string(s) + "' (expected 64 hex)");
    b.peer = *id;
    return b;
  }
  auto colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == addr.size())
    return make_error(ErrorKind::Config, "expected <peer_id>@<host>:<port>, <host>:<port> or <peer_id>, got '" +
                                             std::string(s) + "'");
  std::string host(addr.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  for (char c : addr.substr(colon + 1)) {
    if (c < '0' || c > '9') return make_error(ErrorKind::Config, "bad port in '" + std::string(s) + "'");
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535) return make_error(ErrorKind::Config, "port out of range in '" + std::string(s) + "'");
  }
  if (port == 0) return make_error(ErrorKind::Config, "port 0 in '" + std::string(s) + "'");
  b.host = std::move(host);
  b.port = static_cast<std::uint16_t>(port);
  return b;
}

Result<std::vector<BootstrapPeer>> parse_bootstrap_list(std::string_view s) {
  std::vector<BootstrapPeer> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    auto comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    auto item = s.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      auto b = parse_bootstrap(item);
      if (!b) return tl::unexpected(b.error());
      out.push_back(*b);
    }
    pos = comma + 1;
  }
  return out;
}

}  // namespace mosaik::discovery
