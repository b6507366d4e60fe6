#include "wipe_cmd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "config.h"
#include "tool_common.h"

namespace zipnet::apps {

namespace fs = std::filesystem;

std::unique_ptr<WipeCommand> add_wipe_command(CLI::App& app) {
  auto c = std::make_unique<WipeCommand>();
  c->cmd = app.add_subcommand("wipe",
                              "securely delete the keys (overwrite with zeros, fsync, unlink) and the Raft state of a "
                              "decommissioned node's data dir; node.json is kept");
  c->cmd->add_option("--data-dir", c->data_dir, "the node's data dir (required; ZIPNET_DATA_DIR is not read)")->required();
  c->cmd->add_flag("--dry-run", c->dry_run, "only list what would be removed");
  return c;
}

namespace {

/// Secret-bearing files of a data dir (operations.md §4), plus the `.tmp` of an atomic write.
const char* const kKeyFiles[] = {"node.key", "server-dh.key", "client-dh.key", "client-seal.state"};

/// Overwrites a regular file with zeros, fsyncs and unlinks it; the error text otherwise.
std::optional<std::string> shred(const fs::path& p, std::uint64_t& bytes) {
  int fd = ::open(p.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::string(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return std::string(std::strerror(e));
  }
  std::vector<char> zeros(4096, 0);
  auto size = static_cast<std::uint64_t>(st.st_size);
  std::uint64_t done = 0;
  while (done < size) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), size - done));
    auto w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      ::close(fd);
      return std::string("overwrite failed: ") + std::strerror(e);
    }
    done += static_cast<std::uint64_t>(w);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    return std::string("fsync failed: ") + std::strerror(e);
  }
  ::close(fd);
  if (::unlink(p.c_str()) != 0) return std::string("unlink failed: ") + std::strerror(errno);
  bytes = size;
  return std::nullopt;
}

bool is_raft_archive(const std::string& name) {
  // raft.<why>-<short>-<unix> (operations.md §4): "raft." then at least one '-'.
  return name.rfind("raft.", 0) == 0 && name.size() > 5 && name.find('-', 5) != std::string::npos;
}

void fsync_dir(const fs::path& d) {
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::optional<int> run_wipe_command(const WipeCommand& cmd) {
  if (!cmd.cmd->parsed()) return std::nullopt;
  ToolOutput out;
  const fs::path dir = cmd.data_dir;
  auto refuse = [](const std::string& detail) {
    log_error(ConfigError{"--data-dir", detail}.line());
    return kExitConfig;
  };
  if (cmd.data_dir.empty()) return refuse("empty path");
  std::error_code ec;
  auto st = fs::status(dir, ec);  // a symlinked data dir is followed; its entries are not
  if (ec || !fs::exists(st)) return refuse(dir.string() + ": no such directory");
  if (!fs::is_directory(st)) return refuse(dir.string() + ": not a directory");
  if (!fs::is_regular_file(fs::symlink_status(dir / "node.json", ec)))
    return refuse(dir.string() + " does not look like a zipnet data dir (no node.json); refusing to wipe");

  int failures = 0;
  unsigned keys = 0, raft = 0;
  auto fail = [&](const fs::path& p, const std::string& why) {
    log_error("wipe: cannot remove " + p.string() + ": " + why);
    ++failures;
  };

  // 1. Key files: overwrite, fsync, unlink.
  for (const char* name : kKeyFiles) {
    for (const char* suffix : {"", ".tmp"}) {
      auto p = dir / (std::string(name) + suffix);
      auto s = fs::symlink_status(p, ec);
      if (ec || !fs::exists(s)) continue;
      if (!fs::is_regular_file(s)) {
        fail(p, "not a regular file (left in place; remove it by hand)");
        continue;
      }
      if (cmd.dry_run) {
        out.line("would wipe " + p.string() + " (" + std::to_string(fs::file_size(p, ec)) + " bytes)");
        ++keys;
        continue;
      }
      std::uint64_t bytes = 0;
      if (auto err = shred(p, bytes)) {
        fail(p, *err);
        continue;
      }
      ++keys;
      out.line("wiped " + p.string() + " (" + std::to_string(bytes) + " bytes overwritten with zeros, fsynced, unlinked)");
    }
  }

  // 2. Raft state: raft/, archives raft.<why>-<short>-<unix>/, the lineage file.
  std::vector<std::pair<fs::path, std::string>> doomed;
  if (fs::exists(fs::symlink_status(dir / "raft", ec))) doomed.emplace_back(dir / "raft", "Raft state");
  std::vector<fs::path> archives;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto name = it->path().filename().string();
    if (is_raft_archive(name) && it->is_directory(ec)) archives.push_back(it->path());
  }
  if (ec) fail(dir, "cannot list: " + ec.message());
  std::sort(archives.begin(), archives.end());
  for (auto& a : archives) doomed.emplace_back(a, "archived Raft state");
  if (fs::is_regular_file(fs::symlink_status(dir / "lineage", ec))) doomed.emplace_back(dir / "lineage", "Raft lineage");
  for (const auto& [p, what] : doomed) {
    bool is_dir = fs::is_directory(fs::symlink_status(p, ec));
    auto shown = p.string() + (is_dir ? "/" : "");
    if (cmd.dry_run) {
      out.line("would remove " + shown + " (" + what + ")");
      ++raft;
      continue;
    }
    std::error_code rec;
    fs::remove_all(p, rec);
    if (rec) {
      fail(p, rec.message());
      continue;
    }
    ++raft;
    out.line("removed " + shown + " (" + what + ")");
  }
  if (!cmd.dry_run) fsync_dir(dir);

  std::string summary = cmd.dry_run ? "wipe dry run: " : "wipe complete: ";
  summary += dir.string() + ": " + std::to_string(keys) + (cmd.dry_run ? " key files to wipe, " : " key files wiped, ") +
             std::to_string(raft) + (cmd.dry_run ? " Raft items to remove" : " Raft items removed") + "; node.json kept";
  if (failures) summary += "; " + std::to_string(failures) + " failed";
  out.line(summary);
  if (!cmd.dry_run && failures == 0)
    out.line("next: destroy backups and snapshots of this directory and rotate ZIPNET_SECRET out of this node's scope "
             "(operations.md §10.5)");
  return failures ? 1 : 0;
}

}  // namespace zipnet::apps
