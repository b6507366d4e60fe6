#include "keygen_cmd.h"

#include <cstdio>
#include <string>

#include "proto/ed25519.h"
#include "proto/hex.h"
#include "proto/secret.h"

namespace zipnet::apps {

std::unique_ptr<KeygenCommand> add_keygen_command(CLI::App& app) {
  auto c = std::make_unique<KeygenCommand>();
  c->cmd = app.add_subcommand(
      "keygen",
      "print a fresh 64-hex secret and its PeerId: two lines `secret=<64 hex>` and `peer_id=<64 hex>` on stdout. "
      "Use the secret as ZIPNET_SECRET (the node then has that PeerId) or as ZIPNET_COMMITTEE_SECRET; "
      "store it in a 0600 file and pass it with ZIPNET_SECRET_FILE / ZIPNET_COMMITTEE_SECRET_FILE");
  return c;
}

std::optional<int> run_keygen_command(const KeygenCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  auto seed = proto::Secret32::random();
  proto::SigningKey key(seed);  // the PeerId a node with ZIPNET_SECRET=<hex> gets (UniqueId rule: 64 hex decode)
  std::string hex = proto::to_hex(seed.span());
  std::string out;
  out.reserve(160);  // no reallocation: no unwiped copy of the secret is left behind
  out += "secret=";
  out += hex;
  out += "\npeer_id=";
  out += key.peer_id().hex();
  out += "\n";
  proto::secure_wipe(hex.data(), hex.size());
  bool ok = std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0;
  proto::secure_wipe(out.data(), out.size());
  if (!ok) {
    std::fputs("keygen: cannot write to stdout\n", stderr);
    return 1;
  }
  return 0;
}

}  // namespace zipnet::apps
